/*
 * cfg_int.h — what agent/cfg.c, cfg_file.c, cfg_env.c and cfg_print.c share;
 * not a public header (the contract of the module is cfg.h, and nothing
 * outside agent/cfg*.c includes this one). Who does what:
 *   cfg.c        the tables, the message buffer, store(), the load itself
 *   cfg_file.c   the libconfig file (settings, headers, histograms, secrets)
 *   cfg_env.c    the env-file parser and the environment
 *   cfg_print.c  cfg_print() and cfg_warn()
 * Out of memory anywhere sets ld.e.oom and carries on to the cleanup.
 */
#ifndef CFG_INT_H
#define CFG_INT_H

#include <stddef.h>

#include "cfg.h"
#include "dbuf.h"

/* Caps: a file of garbage must not make anything grow unbounded. The job
 * and the buckets of a histogram take the spool's own (SPOOL_MAX_JOB,
 * SPOOL_MAX_BUCKETS); the caps of one file only are in that file. */
#define STR_MAX      4096          /* one string setting */
#define LOC_MAX      1024          /* "file:line: " */

/* --- messages ------------------------------------------------------------ */

/* The messages so far, each ending in a newline. */
typedef struct ebuf {
	dbuf b;         /* capped a little above ERRORS_MAX: see cfg_eb_add() */
	int full;       /* past ERRORS_MAX: the rest are dropped */
	int oom;        /* anything in the load ran out of memory */
} ebuf;

/* An empty list, after the messages in *prev (taken over and freed, *prev
 * set to NULL; prev NULL: none). */
void cfg_eb_init(ebuf *e, char **prev);
/* The messages as one string (caller frees), NULL when there are none;
 * e is left empty. */
char *cfg_eb_take(ebuf *e);
/* Adds one message (the newline is added); past the cap, one line says
 * that more were dropped. */
void cfg_eb_add(ebuf *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s as it may appear in a message, in buf of n bytes (returned): at most
 * 64 bytes of it, control characters as '?'. */
const char *cfg_shown(const char *s, char *buf, size_t n);

/* --- the table ------------------------------------------------------------- */

enum vtype {
	T_NUM,       /* double; ints and floats in the file */
	T_INT,       /* long */
	T_BOOL,      /* int 0/1 */
	T_STR,       /* char *, no control characters */
	T_PATH,      /* char *, a file read or checked at load */
	T_URL,       /* char *, http(s), trailing '/' dropped */
	T_JOB,       /* char *, the default job */
	T_INSTANCE,  /* char *, the default instance label */
	T_LISTEN,    /* char *, ADDR:PORT */
	T_SYNC,      /* int: "normal" 0, "full" 1 */
	T_LEVEL,     /* int: log.h level */
	T_HEADERS,   /* char ** and a count */
	T_HIST       /* cfg_histogram * and a count */
};

#define F_OPT   0x1  /* "" means none and is stored as NULL */
#define F_ZERO  0x2  /* 0 is allowed besides [min, max]: 0 disables */
#define F_EMPTY 0x4  /* the secret file may be empty (a password may) */

typedef struct row {
	const char *path;    /* "section.key" or "key" */
	enum vtype type;
	int flags;
	double min, max;     /* T_NUM, T_INT */
	double dnum;         /* default of numbers, booleans, enums */
	const char *dstr;    /* default of strings; NULL for none */
	size_t off;          /* the field in struct cfg */
	size_t off_n;        /* T_HEADERS, T_HIST: the count field */
	const char *secret;  /* *_file of a secret: its name in cfg_print */
	size_t off_secret;   /* and the field its content goes to */
} row;

/* The rows of rows[] in cfg.c (it checks the count at compile time): the
 * arrays of ld below need it as a constant. */
#define CFG_NROWS 40

/* rows[] in cfg.c, every setting of the file, in cfg_print()'s order. */
extern const row *const cfg_rows;

/* The index in cfg_rows of path ("section.key" or "key"), or -1. */
int cfg_row_find(const char *path);

/*
 * The name of names[0..n) that name (len bytes) was likely meant to be: one
 * equal but for case, or at most CFG_NEAR_EDITS single-character edits
 * away (insertions, deletions, substitutions), and no more than one per
 * three characters of name's last '.'-separated part (so "foo" is not
 * taken for "job"); the nearest, the first of equals. NULL when none is
 * that near, or name is one of them.
 */
#define CFG_NEAR_EDITS 2
const char *cfg_near_name(const char *name, size_t len,
    const char *const *names, size_t n);

/* The setting path (cfg_rows, or a section of them) nearest to path as
 * cfg_near_name() says, copied into buf (cap bytes) and returned; NULL
 * when none is near. */
const char *cfg_near_setting(const char *path, char *buf, size_t cap);

/* Field access by offset; the typedefs keep "const" on the right level. */
typedef char *str_t;
typedef const char *cstr_t;
typedef char **strv_t;
typedef cfg_histogram *hist_t;
#define FIELD(c, off, type) ((type *)(void *)((char *)(c) + (off)))
#define CFIELD(c, off, type) \
	((const type *)(const void *)((const char *)(c) + (off)))

/* --- the load in progress ---------------------------------------------------- */

typedef struct ld {
	cfg *c;
	ebuf e;
	ebuf w;                  /* warnings: c->warnings when the load
	                          * succeeds */
	int enoent;              /* a file named by -c or --env-file is missing */
	const char *name;        /* the config file, for messages */
	unsigned line[CFG_NROWS];    /* the file set the row at this line;
	                              * 0: not */
	const char *file[CFG_NROWS]; /* in this file; libconfig's, valid until
	                              * config_destroy() */
	char *origin[CFG_NROWS]; /* where the value in force came from, as
	                          * messages begin ("FILE:LINE: key", "env
	                          * NAME", "--flag"); NULL: the default. For
	                          * checks across layers (heartbeat_settle) */
} ld;

/* One value on its way into a row, from the file or from text. */
typedef struct cval {
	double num;
	int b;
	const char *s;
} cval;

/* Checks v against row r and stores it in l->c (its origin becomes
 * loc + name), or adds "<loc><name>: reason". v->s is borrowed. */
void cfg_store(ld *l, const row *r, const cval *v, const char *loc,
    const char *name);

/* Frees *p and sets it to NULL. */
void cfg_free_str(char **p);
/* Free n headers and their array, n histograms and theirs (NULL and 0:
 * nothing). cfg_file.c builds them; cfg_free() frees them too. */
void cfg_free_headers(char **h, size_t n);
void cfg_free_hists(cfg_histogram *h, size_t n);

/* A blank inside a line, as the env file and @include detection see it. */
static inline int
cfg_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* --- the config file (cfg_file.c) ------------------------------------------ */

/*
 * The config file at path into l: a missing file is no error unless
 * required (every setting is optional); a missing or unreadable file named
 * by -c sets l->enoent. Sets l->name and l->c->config_file.
 */
void cfg_read_file(ld *l, const char *path, int required);

/*
 * libconfig text into l, as the file would be, l->name naming it. Returns
 * -1, after the message, when the text is refused unparsed (@include);
 * 0 otherwise, errors or not.
 */
int cfg_read_string(ld *l, const char *text);

/*
 * Reads a whole file of at most cap bytes into *buf (NUL added; caller
 * frees, wiping it when it may hold a secret). regular: refuse anything but
 * a regular file, without blocking on a FIFO (secrets). Returns 0 or an
 * errno value; EFBIG when over cap.
 */
int cfg_slurp(const char *path, size_t cap, int regular, char **buf,
    size_t *len);

/* --- the environment (cfg_env.c) ----------------------------------------- */

/* The names of env_names[] in cfg.c (it checks the count at compile time),
 * indexed by its E_ enum: the variables docs/agent.md lists. */
#define CFG_ENV_N 9
extern const char *const *const cfg_env_names;

/* Per name, the value that wins between the env file and the environment.
 * Zeroed to start; freed with cfg_envset_free(). */
typedef struct envset {
	char *v[CFG_ENV_N];        /* NULL: not given */
	unsigned line[CFG_ENV_N];  /* its env-file line; 0: the environment */
	const char *file;          /* the env file */
} envset;

/* The env file at path into es (its names of cfg_env_names only); bad lines
 * are messages; missing or unreadable sets l->enoent. Sets
 * l->c->env_file. */
void cfg_read_env_file(ld *l, envset *es, const char *path);
/* envp (NULL-terminated "KEY=VALUE", may be NULL) into es, over what the
 * env file gave. */
void cfg_read_environ(ld *l, envset *es, char *const *envp);
/* Frees what es holds (not es). */
void cfg_envset_free(envset *es);

#endif
