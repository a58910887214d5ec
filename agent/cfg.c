/*
 * cfg — the agent's settings; the contract is in cfg.h.
 *
 * Every setting of the file is one row of rows[]: its path, its type, its
 * range, its default and the field of struct cfg it fills. The file is walked
 * setting by setting and each one is looked up in the table, so that a key
 * the table does not know is an error instead of a default in disguise. The
 * environment, the env file and the command line reach a few of the same
 * rows through ovrs[] and go through the same checks; cfg_load() applies the
 * layers in one place, lowest first.
 *
 * Out of memory: whatever runs out notes it in the error buffer and carries
 * on to its cleanup; the public calls then return CFG_ENOMEM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "cfg.h"
#include "spool-agent.h"
#include "dbuf.h"
#include "expo.h"
#include "http.h"
#include "log.h"

/* Caps: a file of garbage must not make anything grow unbounded. The job
 * and the buckets of a histogram take the spool's own (SPOOL_MAX_JOB,
 * SPOOL_MAX_BUCKETS). */
#define STR_MAX      4096          /* one string setting */
#define SECRET_MAX   65536         /* a password or token file */
#define ENVFILE_MAX  (1024 * 1024) /* an env file */
#define ERRORS_MAX   65536         /* all messages together */
#define HEADERS_MAX  64
#define HIST_MAX     1024
#define LOC_MAX      1024          /* "file:line: " */

const char *
cfg_strerror(cfg_err e)
{
	switch (e) {
	case CFG_OK:
		return "success";
	case CFG_EINVAL:
		return "invalid configuration";
	case CFG_ENOENT:
		return "configuration file missing or unreadable";
	case CFG_ENOMEM:
		return "out of memory";
	}
	return "unknown error";
}

/* --- messages ------------------------------------------------------------ */

/* The messages so far, each ending in a newline. */
typedef struct ebuf {
	dbuf b;         /* capped a little above ERRORS_MAX: see eb_add() */
	int full;       /* past ERRORS_MAX: the rest are dropped */
	int oom;        /* anything in the load ran out of memory */
} ebuf;

static const char eb_more[] = "(more errors not shown)\n";

/* An empty list, after the messages in *prev (taken over; NULL: none). */
static void
eb_init(ebuf *e, char **prev)
{
	size_t n = prev != NULL && *prev != NULL ? strlen(*prev) : 0;

	dbuf_init(&e->b, n + ERRORS_MAX + sizeof(eb_more));
	e->full = 0;
	e->oom = 0;
	if (n > 0 && dbuf_add(&e->b, *prev, n) != DBUF_OK)
		e->oom = 1;
	if (prev != NULL) {
		free(*prev);
		*prev = NULL;
	}
}

/* The messages as one string (caller frees), NULL when there are none;
 * e is left empty. */
static char *
eb_take(ebuf *e)
{
	char *s = NULL;

	if (e->b.len > 0 && (s = dbuf_take(&e->b, NULL)) == NULL)
		e->oom = 1;
	dbuf_free(&e->b);
	return s;
}

static void eb_add(ebuf *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
eb_add(ebuf *e, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->full || e->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One line says that messages were dropped, so that a file of
	 * garbage gives a bounded answer that still says so. */
	if (e->b.len + (size_t)n + 1 + sizeof(eb_more) > ERRORS_MAX) {
		e->full = 1;
		if (dbuf_adds(&e->b, eb_more) == DBUF_ENOMEM)
			e->oom = 1;
		return;
	}
	va_start(ap, fmt);
	dbuf_vaddf(&e->b, fmt, ap);
	va_end(ap);
	if (dbuf_add(&e->b, "\n", 1) == DBUF_ENOMEM)
		e->oom = 1;
}

/* s as it may appear in a message: at most 64 bytes (cut at a character
 * boundary), control characters as '?', so that a message stays one short
 * line whatever the user wrote. */
static const char *
shown(const char *s, char *buf, size_t n)
{
	size_t i, len = strlen(s), cut = len;

	if (cut > 64) {
		cut = 64;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	if (cut + 4 > n)
		cut = n > 4 ? n - 4 : 0;
	for (i = 0; i < cut; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ?
		    '?' : s[i];
	if (cut < len && i + 3 < n) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

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

#define HTTP_ROWS(sec, f)                                                   \
	{ .path = sec ".username", .type = T_STR, .flags = F_OPT,           \
	  .off = offsetof(cfg, f.username) },                               \
	{ .path = sec ".password_file", .type = T_PATH,                      \
	  .flags = F_OPT | F_EMPTY, .off = offsetof(cfg, f.password_file),  \
	  .secret = "password", .off_secret = offsetof(cfg, f.password) },  \
	{ .path = sec ".bearer_token_file", .type = T_PATH, .flags = F_OPT,  \
	  .off = offsetof(cfg, f.bearer_token_file),                        \
	  .secret = "bearer token",                                         \
	  .off_secret = offsetof(cfg, f.bearer_token) },                    \
	{ .path = sec ".ca_file", .type = T_PATH, .flags = F_OPT,            \
	  .off = offsetof(cfg, f.ca_file) },                                \
	{ .path = sec ".cert_file", .type = T_PATH, .flags = F_OPT,          \
	  .off = offsetof(cfg, f.cert_file) },                              \
	{ .path = sec ".key_file", .type = T_PATH, .flags = F_OPT,           \
	  .off = offsetof(cfg, f.key_file) },                               \
	{ .path = sec ".insecure_skip_verify", .type = T_BOOL,               \
	  .off = offsetof(cfg, f.insecure_skip_verify) },                   \
	{ .path = sec ".headers", .type = T_HEADERS,                         \
	  .off = offsetof(cfg, f.headers), .off_n = offsetof(cfg, f.n_headers) }

/* Rows of one section stay together: cfg_print() writes them in this order,
 * one libconfig group per section. */
static const row rows[] = {
	{ .path = "spool.path", .type = T_STR, .dstr = SPOOL_DEFAULT_PATH,
	  .off = offsetof(cfg, spool_path) },
	{ .path = "spool.synchronous", .type = T_SYNC,
	  .off = offsetof(cfg, spool_sync_full) },

	/* The defaults are sized from measurements (docs/agent.md, "Limits",
	 * tests/bench/limits): far above a normal host, below what makes a
	 * Pushgateway slow for everyone. */
	{ .path = "limits.max_groups", .type = T_INT, .flags = F_ZERO,
	  .min = 1, .max = 100000000, .dnum = 1000,
	  .off = offsetof(cfg, max_groups) },
	{ .path = "limits.max_series_per_group", .type = T_INT, .flags = F_ZERO,
	  .min = 1, .max = 100000000, .dnum = 20000,
	  .off = offsetof(cfg, max_series_per_group) },
	{ .path = "limits.max_series", .type = T_INT, .flags = F_ZERO,
	  .min = 1, .max = 100000000, .dnum = 100000,
	  .off = offsetof(cfg, max_series) },

	{ .path = "pushgateway.url", .type = T_URL,
	  .dstr = "http://127.0.0.1:9091", .off = offsetof(cfg, gw.url) },
	{ .path = "pushgateway.enabled", .type = T_BOOL, .dnum = 1,
	  .off = offsetof(cfg, enabled) },
	{ .path = "pushgateway.interval", .type = T_NUM, .min = 1,
	  .max = 86400, .dnum = 60, .off = offsetof(cfg, interval) },
	/* 0: the default, which depends on the interval (heartbeat_settle();
	 * docs/agent.md, "Heartbeat"). The most is ten maximal intervals. */
	{ .path = "pushgateway.heartbeat", .type = T_NUM, .flags = F_ZERO,
	  .min = 1, .max = 864000, .dnum = 0,
	  .off = offsetof(cfg, heartbeat) },
	{ .path = "pushgateway.job", .type = T_JOB, .dstr = "collector_agent",
	  .off = offsetof(cfg, job) },
	/* No default here: finish() falls back to the host name. */
	{ .path = "pushgateway.instance", .type = T_INSTANCE,
	  .off = offsetof(cfg, instance) },
	{ .path = "pushgateway.timeout", .type = T_NUM, .min = 0.1,
	  .max = 600, .dnum = 10, .off = offsetof(cfg, gw.timeout) },
	{ .path = "pushgateway.retry_min", .type = T_NUM, .min = 0.01,
	  .max = 3600, .dnum = 1, .off = offsetof(cfg, retry_min) },
	/* The floor against retry_min is checked in file_checks(). */
	{ .path = "pushgateway.retry_max", .type = T_NUM, .min = 0.01,
	  .max = 86400, .dnum = 60, .off = offsetof(cfg, retry_max) },
	{ .path = "pushgateway.group_ttl", .type = T_NUM, .flags = F_ZERO,
	  .min = 1, .max = 31536000, .dnum = 0,
	  .off = offsetof(cfg, group_ttl) },
	{ .path = "pushgateway.once_timeout", .type = T_NUM, .min = 1,
	  .max = 86400, .dnum = 30, .off = offsetof(cfg, once_timeout) },
	/* Remote write has no such row: its bodies are snappy already. */
	{ .path = "pushgateway.gzip", .type = T_BOOL, .dnum = 1,
	  .off = offsetof(cfg, gw.gzip) },
	{ .path = "pushgateway.once_self_metrics", .type = T_BOOL, .dnum = 0,
	  .off = offsetof(cfg, once_self_metrics) },
	HTTP_ROWS("pushgateway", gw),

	{ .path = "remote_write.url", .type = T_URL, .flags = F_OPT,
	  .off = offsetof(cfg, rw.url) },
	{ .path = "remote_write.timeout", .type = T_NUM, .min = 0.1,
	  .max = 600, .dnum = 30, .off = offsetof(cfg, rw.timeout) },
	{ .path = "remote_write.max_samples_per_send", .type = T_INT,
	  .min = 1, .max = 1000000, .dnum = 2000,
	  .off = offsetof(cfg, rw_max_samples_per_send) },
	HTTP_ROWS("remote_write", rw),

	{ .path = "listen", .type = T_LISTEN, .flags = F_OPT,
	  .off = offsetof(cfg, listen) },
	{ .path = "histograms", .type = T_HIST,
	  .off = offsetof(cfg, histograms),
	  .off_n = offsetof(cfg, n_histograms) },
	{ .path = "log.level", .type = T_LEVEL, .dnum = LOG_LINFO,
	  .off = offsetof(cfg, log_level) },
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* Field access by offset; the typedefs keep "const" on the right level. */
typedef char *str_t;
typedef const char *cstr_t;
typedef char **strv_t;
typedef cfg_histogram *hist_t;
#define FIELD(c, off, type) ((type *)(void *)((char *)(c) + (off)))
#define CFIELD(c, off, type) \
	((const type *)(const void *)((const char *)(c) + (off)))

static int
row_find(const char *path)
{
	for (size_t i = 0; i < NROWS; i++)
		if (strcmp(rows[i].path, path) == 0)
			return (int)i;
	return -1;
}

/* A section is a path that some row's path continues with a '.'. */
static int
is_section(const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < NROWS; i++)
		if (strncmp(rows[i].path, path, n) == 0 &&
		    rows[i].path[n] == '.')
			return 1;
	return 0;
}

/* --- the load in progress ---------------------------------------------------- */

typedef struct ld {
	cfg *c;
	ebuf e;
	int enoent;              /* a file named by -c or --env-file is missing */
	const char *name;        /* the config file, for messages */
	unsigned line[NROWS];    /* the file set the row at this line; 0: not */
	const char *file[NROWS]; /* in this file; libconfig's, valid until
	                          * config_destroy() */
	char *origin[NROWS];     /* where the value in force came from, as
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

static void
loc_of(const ld *l, const config_setting_t *s, char *buf, size_t n)
{
	const char *f = config_setting_source_file(s);

	snprintf(buf, n, "%s:%u: ", f ? f : l->name,
	    (unsigned)config_setting_source_line(s));
}

static void
row_loc(const ld *l, size_t ri, char *buf, size_t n)
{
	snprintf(buf, n, "%s:%u: ", l->file[ri] ? l->file[ri] : l->name,
	    l->line[ri]);
}

static int
blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Decimal numbers only, whole text: strtod alone would also take leading
 * blanks, hex, "inf" and "nan". */
static int
parse_double(const char *s, double *out)
{
	char *end;
	double d;

	if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
		return -1;
	errno = 0;
	d = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}

static int
parse_long(const char *s, long *out)
{
	char *end;
	long v;

	if (*s == '\0' || strspn(s, "0123456789+-") != strlen(s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE)
		return -1;
	*out = v;
	return 0;
}

/* The spellings an operator uses in environment files. */
static int
parse_bool(const char *s)
{
	if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
	    strcasecmp(s, "yes") == 0)
		return 1;
	if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
	    strcasecmp(s, "no") == 0)
		return 0;
	return -1;
}

/* A base URL, as http_check_url() takes it; *keep is the length without
 * trailing slashes, which the sinks add themselves. */
static int
url_check(const char *u, size_t *keep, char *why, size_t wn)
{
	const char *reason;
	char sb[80];
	int quotable;

	if ((reason = http_check_url(u, keep, &quotable)) == NULL)
		return 0;
	/* A URL with credentials is not quoted: it holds a password. */
	if (!quotable)
		snprintf(why, wn, "bad URL: %s", reason);
	else
		snprintf(why, wn, "bad URL '%s': %s", shown(u, sb, sizeof(sb)),
		    reason);
	return -1;
}

/* ADDR:PORT, where ADDR may be empty (every address) or [IPv6]. */
static int
listen_check(const char *s, size_t n, char *why, size_t wn)
{
	const char *colon = strrchr(s, ':');
	size_t hl;
	char sb[80];

	if (colon == NULL || memchr(s, ' ', n) != NULL)
		goto bad;
	hl = (size_t)(colon - s);
	if (hl > 0 && s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			goto bad;
	} else if (memchr(s, ':', hl) != NULL)
		goto bad;
	if (http_parse_port(colon + 1, n - hl - 1) < 0) {
		snprintf(why, wn, "bad port in '%s'", shown(s, sb, sizeof(sb)));
		return -1;
	}
	return 0;
bad:
	snprintf(why, wn, "must be ADDR:PORT (or \"\" to disable): '%s'",
	    shown(s, sb, sizeof(sb)));
	return -1;
}

/* The checks of a string-valued row; *keep is the length to store. */
static int
str_check(const row *r, const char *s, size_t *keep, char *why, size_t wn)
{
	size_t n = strlen(s);

	*keep = n;
	if (n == 0) {
		if (r->flags & F_OPT)
			return 0;
		snprintf(why, wn, "must not be empty");
		return -1;
	}
	if (n > STR_MAX) {
		snprintf(why, wn, "too long (limit %d bytes)", STR_MAX);
		return -1;
	}
	if (r->type == T_URL)
		return url_check(s, keep, why, wn);
	if (http_has_ctl(s, n)) {
		snprintf(why, wn, "must not contain control characters");
		return -1;
	}
	switch (r->type) {
	case T_JOB:
		if (n > SPOOL_MAX_JOB) {
			snprintf(why, wn, "too long (limit %d bytes)",
			    SPOOL_MAX_JOB);
			return -1;
		}
		/* A job, like a label value, is UTF-8. */
		/* FALLTHROUGH */
	case T_INSTANCE:
		if (!expo_valid_utf8(s, n)) {
			snprintf(why, wn, "not valid UTF-8");
			return -1;
		}
		return 0;
	case T_LISTEN:
		return listen_check(s, n, why, wn);
	case T_NUM:
	case T_INT:
	case T_BOOL:
	case T_STR:
	case T_PATH:
	case T_URL:
	case T_SYNC:
	case T_LEVEL:
	case T_HEADERS:
	case T_HIST:
		break;
	}
	return 0;
}

static void
free_str(char **p)
{
	free(*p);
	*p = NULL;
}

/* Row ri's value now comes from name at loc. */
static void
set_origin(ld *l, size_t ri, const char *loc, const char *name)
{
	size_t n = strlen(loc) + strlen(name) + 1;
	char *o = malloc(n);

	if (o == NULL) {
		l->e.oom = 1;
		return;
	}
	snprintf(o, n, "%s%s", loc, name);
	free(l->origin[ri]);
	l->origin[ri] = o;
}

/* Checks v against row r and stores it, or adds "<loc><name>: reason". */
static void
store(ld *l, const row *r, const cval *v, const char *loc, const char *name)
{
	char why[256], sb[80];
	size_t keep;
	char *copy;
	int lv;

	why[0] = '\0';
	switch (r->type) {
	case T_NUM:
	case T_INT:
		if (!((r->flags & F_ZERO) && v->num == 0) &&
		    !(v->num >= r->min && v->num <= r->max)) {
			snprintf(why, sizeof(why), "must be %sbetween %.15g and "
			    "%.15g", (r->flags & F_ZERO) ? "0 or " : "",
			    r->min, r->max);
			break;
		}
		if (r->type == T_INT)
			*FIELD(l->c, r->off, long) = (long)v->num;
		else
			*FIELD(l->c, r->off, double) = v->num;
		break;
	case T_BOOL:
		*FIELD(l->c, r->off, int) = v->b;
		break;
	case T_SYNC:
		if (strcmp(v->s, "normal") == 0)
			*FIELD(l->c, r->off, int) = 0;
		else if (strcmp(v->s, "full") == 0)
			*FIELD(l->c, r->off, int) = 1;
		else
			snprintf(why, sizeof(why), "must be \"normal\" or "
			    "\"full\": '%s'", shown(v->s, sb, sizeof(sb)));
		break;
	case T_LEVEL:
		if ((lv = log_level_parse(v->s)) < 0)
			snprintf(why, sizeof(why), "must be debug, info, warn "
			    "or error: '%s'", shown(v->s, sb, sizeof(sb)));
		else
			*FIELD(l->c, r->off, int) = lv;
		break;
	case T_STR:
	case T_PATH:
	case T_URL:
	case T_JOB:
	case T_INSTANCE:
	case T_LISTEN:
		if (str_check(r, v->s, &keep, why, sizeof(why)) != 0)
			break;
		copy = NULL;
		if (keep > 0 || !(r->flags & F_OPT)) {
			if ((copy = strndup(v->s, keep)) == NULL) {
				l->e.oom = 1;
				break;
			}
		}
		free_str(FIELD(l->c, r->off, str_t));
		*FIELD(l->c, r->off, str_t) = copy;
		break;
	case T_HEADERS:
	case T_HIST:
		/* Only the file can give these; set_headers(), set_hist(). */
		snprintf(why, sizeof(why), "can only be set in the file");
		break;
	}
	if (why[0] != '\0') {
		eb_add(&l->e, "%s%s: %s", loc, name, why);
		return;
	}
	set_origin(l, (size_t)(r - rows), loc, name);
}

/* Command line, environment and env-file values: text, parsed per type. */
static void
store_text(ld *l, const row *r, const char *text, const char *loc,
    const char *name)
{
	cval v = { 0, 0, text };
	char sb[80];
	long lv;

	switch (r->type) {
	case T_NUM:
		if (parse_double(text, &v.num) != 0) {
			eb_add(&l->e, "%s%s: not a number: '%s'", loc, name,
			    shown(text, sb, sizeof(sb)));
			return;
		}
		break;
	case T_INT:
		if (parse_long(text, &lv) != 0) {
			eb_add(&l->e, "%s%s: not an integer: '%s'", loc, name,
			    shown(text, sb, sizeof(sb)));
			return;
		}
		v.num = (double)lv;
		break;
	case T_BOOL:
		if ((v.b = parse_bool(text)) < 0) {
			eb_add(&l->e, "%s%s: expected true or false: '%s'", loc,
			    name, shown(text, sb, sizeof(sb)));
			return;
		}
		break;
	case T_STR:
	case T_PATH:
	case T_URL:
	case T_JOB:
	case T_INSTANCE:
	case T_LISTEN:
	case T_SYNC:
	case T_LEVEL:
	case T_HEADERS:
	case T_HIST:
		break;
	}
	store(l, r, &v, loc, name);
}

/* --- the file ---------------------------------------------------------------- */

/* A header as http_check_header() takes it, and no longer than any string
 * setting. The value is never quoted back: it may be a credential. */
static int
header_check(const char *h, char *why, size_t wn)
{
	if (strlen(h) > STR_MAX) {
		snprintf(why, wn, "too long (limit %d bytes)", STR_MAX);
		return -1;
	}
	return http_check_header(h, why, wn);
}

static void
free_headers(char **h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(h[i]);
	free(h);
}

/*
 * The start of a list setting: a list (or, with arrays, also [ ]), at most
 * max long. Returns a zeroed array of its *n elements of size elem (room
 * for one when empty), or NULL after saying why (or flagging OOM).
 */
static void *
list_start(ld *l, const row *r, const config_setting_t *s, int arrays,
    const char *expected, size_t max, const char *what, size_t elem,
    size_t *n)
{
	char loc[LOC_MAX];
	int t = config_setting_type(s);
	void *a;

	loc_of(l, s, loc, sizeof(loc));
	if (t != CONFIG_TYPE_LIST && !(arrays && t == CONFIG_TYPE_ARRAY)) {
		eb_add(&l->e, "%s%s: expected %s", loc, r->path, expected);
		return NULL;
	}
	*n = (size_t)config_setting_length(s);
	if (*n > max) {
		eb_add(&l->e, "%s%s: too many %s (limit %zu)", loc, r->path,
		    what, max);
		return NULL;
	}
	if ((a = calloc(*n ? *n : 1, elem)) == NULL)
		l->e.oom = 1;
	return a;
}

static void
set_headers(ld *l, const row *r, const config_setting_t *s)
{
	char loc[LOC_MAX], why[256];
	char **h;
	size_t n, i;
	int bad = 0;

	if ((h = list_start(l, r, s, 1, "a list of strings, [ \"Name: "
	    "value\", ... ]", HEADERS_MAX, "headers", sizeof(*h), &n)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s,
		    (unsigned)i);
		const char *str;

		loc_of(l, e, loc, sizeof(loc));
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			eb_add(&l->e, "%s%s[%zu]: expected a string", loc,
			    r->path, i);
			bad = 1;
			continue;
		}
		str = config_setting_get_string(e);
		if (header_check(str, why, sizeof(why)) != 0) {
			eb_add(&l->e, "%s%s[%zu]: %s", loc, r->path, i, why);
			bad = 1;
		} else if ((h[i] = strdup(str)) == NULL)
			l->e.oom = 1;
	}
	if (bad || l->e.oom) {
		free_headers(h, n);
		return;
	}
	free_headers(*FIELD(l->c, r->off, strv_t),
	    *FIELD(l->c, r->off_n, size_t));
	*FIELD(l->c, r->off, strv_t) = h;
	*FIELD(l->c, r->off_n, size_t) = n;
}

static void
free_hists(cfg_histogram *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].bounds);
	}
	free(h);
}

static int
set_buckets(ld *l, const config_setting_t *s, size_t idx, cfg_histogram *h)
{
	char loc[LOC_MAX];
	size_t n, i;
	int t = config_setting_type(s);
	const char *why = NULL;

	loc_of(l, s, loc, sizeof(loc));
	n = (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) ?
	    (size_t)config_setting_length(s) : 0;
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		why = "expected a list of numbers, [ 0.1, 0.5, 1.0 ]";
	else if (n < 1 || n > SPOOL_MAX_BUCKETS) {
		eb_add(&l->e, "%shistograms[%zu].buckets: must hold 1 to %d "
		    "bounds", loc, idx, SPOOL_MAX_BUCKETS);
		return -1;
	}
	if (why != NULL) {
		eb_add(&l->e, "%shistograms[%zu].buckets: %s", loc, idx, why);
		return -1;
	}
	if ((h->bounds = calloc(n, sizeof(double))) == NULL) {
		l->e.oom = 1;
		return -1;
	}
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s,
		    (unsigned)i);
		int et = config_setting_type(e);

		if (et == CONFIG_TYPE_INT || et == CONFIG_TYPE_INT64)
			h->bounds[i] = (double)config_setting_get_int64(e);
		else if (et == CONFIG_TYPE_FLOAT)
			h->bounds[i] = config_setting_get_float(e);
		else {
			why = "expected a list of numbers, [ 0.1, 0.5, 1.0 ]";
			break;
		}
		if (!isfinite(h->bounds[i])) {
			why = "bounds must be finite (+Inf is implied)";
			break;
		}
		if (i > 0 && !(h->bounds[i] > h->bounds[i - 1])) {
			why = "bounds must be strictly increasing";
			break;
		}
	}
	if (why != NULL) {
		eb_add(&l->e, "%shistograms[%zu].buckets: %s", loc, idx, why);
		return -1;
	}
	h->n = n;
	return 0;
}

/* One { name = ...; buckets = [...]; } into *h; 0, or -1 after a message. */
static int
set_hist_one(ld *l, const config_setting_t *g, size_t idx, cfg_histogram *h)
{
	char loc[LOC_MAX], sb[80];
	int bad = 0, have_name = 0, have_buckets = 0;

	loc_of(l, g, loc, sizeof(loc));
	if (!config_setting_is_group(g)) {
		eb_add(&l->e, "%shistograms[%zu]: expected a group { name = "
		    "...; buckets = [ ... ]; }", loc, idx);
		return -1;
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g,
		    (unsigned)i);
		const char *key = config_setting_name(m), *name;
		char mloc[LOC_MAX];

		loc_of(l, m, mloc, sizeof(mloc));
		if (strcmp(key, "name") == 0) {
			have_name = 1;
			if (config_setting_type(m) != CONFIG_TYPE_STRING) {
				eb_add(&l->e, "%shistograms[%zu].name: "
				    "expected a string", mloc, idx);
				bad = 1;
				continue;
			}
			name = config_setting_get_string(m);
			if (strlen(name) > EXPO_MAX_NAME ||
			    !expo_valid_metric_name(name, strlen(name))) {
				eb_add(&l->e, "%shistograms[%zu].name: not a "
				    "valid metric name: '%s'", mloc, idx,
				    shown(name, sb, sizeof(sb)));
				bad = 1;
			} else if ((h->name = strdup(name)) == NULL) {
				l->e.oom = 1;
				bad = 1;
			}
		} else if (strcmp(key, "buckets") == 0) {
			have_buckets = 1;
			if (set_buckets(l, m, idx, h) != 0)
				bad = 1;
		} else {
			eb_add(&l->e, "%sunknown setting 'histograms[%zu].%s'",
			    mloc, idx, key);
			bad = 1;
		}
	}
	if (!have_name) {
		eb_add(&l->e, "%shistograms[%zu]: name is missing", loc, idx);
		bad = 1;
	}
	if (!have_buckets) {
		eb_add(&l->e, "%shistograms[%zu]: buckets is missing", loc,
		    idx);
		bad = 1;
	}
	return bad ? -1 : 0;
}

static void
set_hist(ld *l, const row *r, const config_setting_t *s)
{
	char loc[LOC_MAX];
	cfg_histogram *h;
	size_t n, i, j;
	int bad = 0;

	if ((h = list_start(l, r, s, 0, "a list of groups, ( { name = ...; "
	    "buckets = [ ... ]; } )", HIST_MAX, "histograms", sizeof(*h),
	    &n)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s,
		    (unsigned)i);

		if (set_hist_one(l, g, i, &h[i]) != 0) {
			bad = 1;
			continue;
		}
		for (j = 0; j < i; j++)
			if (h[j].name != NULL &&
			    strcmp(h[j].name, h[i].name) == 0) {
				char sb[80];

				loc_of(l, g, loc, sizeof(loc));
				eb_add(&l->e, "%shistograms[%zu].name: "
				    "duplicate histogram '%s'", loc, i,
				    shown(h[i].name, sb, sizeof(sb)));
				bad = 1;
				break;
			}
	}
	if (bad || l->e.oom) {
		free_hists(h, n);
		return;
	}
	free_hists(*FIELD(l->c, r->off, hist_t),
	    *FIELD(l->c, r->off_n, size_t));
	*FIELD(l->c, r->off, hist_t) = h;
	*FIELD(l->c, r->off_n, size_t) = n;
}

static void
set_from_file(ld *l, size_t ri, const config_setting_t *s)
{
	const row *r = &rows[ri];
	char loc[LOC_MAX];
	const char *why = NULL;
	cval v = { 0, 0, NULL };
	int t = config_setting_type(s);

	l->line[ri] = (unsigned)config_setting_source_line(s);
	l->file[ri] = config_setting_source_file(s);
	loc_of(l, s, loc, sizeof(loc));
	switch (r->type) {
	case T_HEADERS:
		set_headers(l, r, s);
		return;
	case T_HIST:
		set_hist(l, r, s);
		return;
	case T_NUM:
		if (t == CONFIG_TYPE_FLOAT)
			v.num = config_setting_get_float(s);
		else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			v.num = (double)config_setting_get_int64(s);
		else
			why = "expected a number";
		break;
	case T_INT:
		if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			v.num = (double)config_setting_get_int64(s);
		else
			why = "expected an integer";
		break;
	case T_BOOL:
		if (t == CONFIG_TYPE_BOOL)
			v.b = config_setting_get_bool(s) != 0;
		else
			why = "expected true or false";
		break;
	case T_STR:
	case T_PATH:
	case T_URL:
	case T_JOB:
	case T_INSTANCE:
	case T_LISTEN:
	case T_SYNC:
	case T_LEVEL:
		if (t == CONFIG_TYPE_STRING)
			v.s = config_setting_get_string(s);
		else
			why = "expected a string";
		break;
	}
	if (why != NULL)
		eb_add(&l->e, "%s%s: %s", loc, r->path, why);
	else
		store(l, r, &v, loc, r->path);
}

/* Every setting in group g, whose path is prefix (NULL at the root). */
static void
walk(ld *l, const config_setting_t *g, const char *prefix)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g,
		    (unsigned)i);
		const char *name = config_setting_name(s);
		char path[128], loc[LOC_MAX];
		int n, ri;

		if (name == NULL)
			continue;
		n = prefix ? snprintf(path, sizeof(path), "%s.%s", prefix, name)
		    : snprintf(path, sizeof(path), "%s", name);
		/* A name too long for the buffer is no row's name. */
		ri = (n < 0 || (size_t)n >= sizeof(path)) ? -1 : row_find(path);
		if (ri >= 0) {
			set_from_file(l, (size_t)ri, s);
			continue;
		}
		loc_of(l, s, loc, sizeof(loc));
		if (n > 0 && (size_t)n < sizeof(path) && is_section(path)) {
			if (config_setting_is_group(s))
				walk(l, s, path);
			else
				eb_add(&l->e, "%s%s: expected a group { ... }",
				    loc, path);
			continue;
		}
		eb_add(&l->e, "%sunknown setting '%s%s%s'", loc,
		    prefix ? prefix : "", prefix ? "." : "", name);
	}
}

/*
 * Reads a whole file of at most cap bytes into *buf (NUL added; caller
 * frees). regular: refuse anything but a regular file, without blocking on
 * a FIFO (secrets). Returns 0 or an errno value; EFBIG when over cap.
 */
static int
slurp(const char *path, size_t cap, int regular, char **buf, size_t *len)
{
	struct stat st;
	char *b = NULL, *nb;
	size_t n = 0, bcap = 0;
	ssize_t got;
	int fd, err = 0;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    (regular ? O_NONBLOCK : 0));
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) != 0) {
		err = errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err = EISDIR;
		goto out;
	}
	if (regular && !S_ISREG(st.st_mode)) {
		err = EINVAL;
		goto out;
	}
	for (;;) {
		if (n == bcap) {
			size_t ncap = bcap ? bcap * 2 : 4096;

			if (ncap > cap + 1)
				ncap = cap + 1;
			if (ncap <= n) {
				err = EFBIG;
				goto out;
			}
			/* Not realloc: the old copy may hold a secret and is
			 * wiped before it is freed. */
			if ((nb = malloc(ncap + 1)) == NULL) {
				err = ENOMEM;
				goto out;
			}
			if (b != NULL) {
				memcpy(nb, b, n);
				explicit_bzero(b, n);
				free(b);
			}
			b = nb;
			bcap = ncap;
		}
		got = read(fd, b + n, bcap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = errno;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > cap) {
			err = EFBIG;
			goto out;
		}
	}
	if (b == NULL && (b = malloc(1)) == NULL) {
		err = ENOMEM;
		goto out;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
out:
	if (b != NULL) {
		explicit_bzero(b, n);
		free(b);
	}
	close(fd);
	return err;
}

/* The content of a *_file row into its secret field. Messages name the file,
 * never what is in it. */
static void
read_secret(ld *l, size_t ri)
{
	const row *r = &rows[ri];
	const char *path = *CFIELD(l->c, r->off, str_t);
	char loc[LOC_MAX], sb[80], **dst = FIELD(l->c, r->off_secret, str_t);
	char *buf;
	size_t len;
	const char *why = NULL;
	int err;

	if (*dst != NULL) {
		explicit_bzero(*dst, strlen(*dst));
		free_str(dst);
	}
	if (path == NULL)
		return;
	row_loc(l, ri, loc, sizeof(loc));
	shown(path, sb, sizeof(sb));
	err = slurp(path, SECRET_MAX, 1, &buf, &len);
	if (err == ENOMEM) {
		l->e.oom = 1;
		return;
	}
	if (err == EFBIG) {
		eb_add(&l->e, "%s%s: '%s' is larger than %d bytes", loc,
		    r->path, sb, SECRET_MAX);
		return;
	}
	if (err == EINVAL) {
		eb_add(&l->e, "%s%s: cannot read '%s' (not a regular file)",
		    loc, r->path, sb);
		return;
	}
	if (err != 0) {
		eb_add(&l->e, "%s%s: cannot read '%s' (%s)", loc, r->path, sb,
		    strerror(err));
		return;
	}
	/* Editors and "echo secret > file" add one newline; it is not part
	 * of the secret. */
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (memchr(buf, '\0', len) != NULL)
		why = "holds a NUL byte";
	else if (http_has_ctl(buf, len))
		why = "holds a line break or control character (only one "
		    "trailing newline is allowed)";
	else if (len == 0 && !(r->flags & F_EMPTY))
		why = "is empty";
	if (why != NULL) {
		eb_add(&l->e, "%s%s: '%s' %s", loc, r->path, sb, why);
		explicit_bzero(buf, len);
		free(buf);
		return;
	}
	*dst = buf;
}

/* Checks of one destination that need several of its settings. */
static void
dest_checks(ld *l, const char *sec, const http_conf *h)
{
	char p[64], loc[LOC_MAX];
	int ru, rp, rb, rk;

	snprintf(p, sizeof(p), "%s.username", sec);
	ru = row_find(p);
	snprintf(p, sizeof(p), "%s.password_file", sec);
	rp = row_find(p);
	snprintf(p, sizeof(p), "%s.bearer_token_file", sec);
	rb = row_find(p);
	snprintf(p, sizeof(p), "%s.key_file", sec);
	rk = row_find(p);
	if (ru < 0 || rp < 0 || rb < 0 || rk < 0)
		return;
	if (h->username != NULL && h->password_file == NULL) {
		row_loc(l, (size_t)ru, loc, sizeof(loc));
		eb_add(&l->e, "%s%s.username: needs %s.password_file (basic "
		    "auth reads the password from a file)", loc, sec, sec);
	}
	if (h->password_file != NULL && h->username == NULL) {
		row_loc(l, (size_t)rp, loc, sizeof(loc));
		eb_add(&l->e, "%s%s.password_file: needs %s.username", loc,
		    sec, sec);
	}
	if (h->username != NULL && h->bearer_token_file != NULL) {
		row_loc(l, (size_t)rb, loc, sizeof(loc));
		eb_add(&l->e, "%s%s.bearer_token_file: cannot be used "
		    "together with basic auth (%s.username)", loc, sec, sec);
	}
	if (h->key_file != NULL && h->cert_file == NULL) {
		row_loc(l, (size_t)rk, loc, sizeof(loc));
		eb_add(&l->e, "%s%s.key_file: needs %s.cert_file", loc, sec,
		    sec);
	}
}

/*
 * Checks that need the whole file: pairs of settings, and the files that
 * settings name (secrets are read now, so that -t finds a missing one).
 * Runs while libconfig's memory, which l->file[] points into, is alive.
 */
static void
file_checks(ld *l)
{
	int rmin = row_find("pushgateway.retry_min");
	int rmax = row_find("pushgateway.retry_max");
	char loc[LOC_MAX], sb[80];

	if (rmin >= 0 && rmax >= 0 &&
	    (l->line[rmin] != 0 || l->line[rmax] != 0) &&
	    l->c->retry_max < l->c->retry_min) {
		row_loc(l, (size_t)(l->line[rmax] ? rmax : rmin), loc,
		    sizeof(loc));
		eb_add(&l->e, "%spushgateway.retry_max (%.15g) must not be "
		    "less than pushgateway.retry_min (%.15g)", loc,
		    l->c->retry_max, l->c->retry_min);
	}
	dest_checks(l, "pushgateway", &l->c->gw);
	dest_checks(l, "remote_write", &l->c->rw);
	for (size_t i = 0; i < NROWS; i++) {
		const row *r = &rows[i];
		const char *path;

		if (r->type != T_PATH)
			continue;
		if (r->secret != NULL) {
			read_secret(l, i);
			continue;
		}
		/* Certificates are read by libcurl at the first push; a
		 * missing one is better found by -t. */
		path = *CFIELD(l->c, r->off, str_t);
		if (path != NULL && access(path, R_OK) != 0) {
			int err = errno;

			row_loc(l, i, loc, sizeof(loc));
			eb_add(&l->e, "%s%s: cannot read '%s' (%s)", loc,
			    r->path, shown(path, sb, sizeof(sb)),
			    strerror(err));
		}
	}
}

/* Applies a parsed file (walk and whole-file checks). */
static void
apply_config(ld *l, const config_t *cf)
{
	walk(l, config_root_setting(cf), NULL);
	file_checks(l);
}

static void
parse_error(ld *l, const config_t *cf)
{
	const char *f = config_error_file(cf);

	eb_add(&l->e, "%s:%d: %s", f ? f : l->name, config_error_line(cf),
	    config_error_text(cf) ? config_error_text(cf) : "parse error");
}

/*
 * The config file: a missing default file is no error (every setting is
 * optional); a missing file named by -c is CFG_ENOENT, and so is one that
 * exists but cannot be read.
 */
static void
read_config_file(ld *l, const char *path, int required)
{
	config_t cf;
	struct stat st;
	char *dir = NULL, *slash;
	FILE *f;
	int err = 0;

	l->name = path;
	if ((f = fopen(path, "r")) == NULL)
		err = errno;
	else {
		if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
			err = EISDIR;
		fclose(f);
	}
	if (err == ENOENT && !required)
		return;
	if (err != 0) {
		eb_add(&l->e, "%s: cannot read the configuration file (%s)",
		    path, strerror(err));
		l->enoent = 1;
		return;
	}
	if ((l->c->config_file = strdup(path)) == NULL ||
	    (dir = strdup(path)) == NULL) {
		l->e.oom = 1;
		goto out;
	}
	config_init(&cf);
	/* @include "x" means x next to this file, not in the working
	 * directory. */
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		slash[slash == dir ? 1 : 0] = '\0';
		config_set_include_dir(&cf, dir);
	}
	if (!config_read_file(&cf, path)) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO) {
			eb_add(&l->e, "%s: cannot read the configuration file "
			    "(%s)", path, config_error_text(&cf));
			l->enoent = 1;
		} else
			parse_error(l, &cf);
	} else
		apply_config(l, &cf);
	config_destroy(&cf);
out:
	free(dir);
}

/* --- the env file -------------------------------------------------------------- */

typedef int (*env_fn)(const char *key, const char *value, unsigned line,
    void *arg);

static int
valid_env_name(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/*
 * One line of an env file, without its newline, into key and val (each big
 * enough for the line). *has says whether the line held a pair. Returns 0,
 * or -1 with the reason in why.
 *
 * The format is the common ground of docker's --env-file, python-dotenv and
 * the shell: blanks around the name and around an unquoted value are
 * dropped; " #" starts a comment after an unquoted value; a double-quoted
 * value takes \" \\ \n and keeps any other backslash as written (as the
 * shell does); a single-quoted value is literal; no ${VAR} expansion, and a
 * quoted value ends on its line.
 */
static int
env_line(const char *s, size_t n, char *key, char *val, int *has,
    char *why, size_t wn)
{
	size_t i = 0, k0, k1, o = 0;
	char sb[80];

	*has = 0;
	if (memchr(s, '\0', n) != NULL) {
		snprintf(why, wn, "contains a NUL byte");
		return -1;
	}
	while (i < n && blank(s[i]))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	if (n - i > 6 && memcmp(s + i, "export", 6) == 0 && blank(s[i + 6]))
		for (i += 6; i < n && blank(s[i]); i++)
			;
	k0 = i;
	while (i < n && s[i] != '=')
		i++;
	if (i == n) {
		snprintf(why, wn, "expected KEY=VALUE");
		return -1;
	}
	for (k1 = i; k1 > k0 && blank(s[k1 - 1]); k1--)
		;
	memcpy(key, s + k0, k1 - k0);
	key[k1 - k0] = '\0';
	if (!valid_env_name(key, k1 - k0)) {
		snprintf(why, wn, "bad variable name '%s'",
		    shown(key, sb, sizeof(sb)));
		return -1;
	}
	for (i++; i < n && blank(s[i]); i++)
		;
	if (i < n && (s[i] == '"' || s[i] == '\'')) {
		char q = s[i++];

		for (;;) {
			if (i == n) {
				snprintf(why, wn, "unterminated %s quote",
				    q == '"' ? "double" : "single");
				return -1;
			}
			if (s[i] == q) {
				i++;
				break;
			}
			if (q == '"' && s[i] == '\\' && i + 1 < n &&
			    (s[i + 1] == '"' || s[i + 1] == '\\' ||
			    s[i + 1] == 'n')) {
				val[o++] = s[i + 1] == 'n' ? '\n' : s[i + 1];
				i += 2;
				continue;
			}
			val[o++] = s[i++];
		}
		while (i < n && blank(s[i]))
			i++;
		if (i < n && s[i] != '#') {
			snprintf(why, wn, "unexpected text after the closing "
			    "quote");
			return -1;
		}
	} else {
		size_t v0 = i, v1;

		while (i < n && !(s[i] == '#' && blank(s[i - 1])))
			i++;
		for (v1 = i; v1 > v0 && blank(s[v1 - 1]); v1--)
			;
		memcpy(val, s + v0, v1 - v0);
		o = v1 - v0;
	}
	val[o] = '\0';
	*has = 1;
	return 0;
}

/* fn's nonzero answer stops the parse; CFG_ENOMEM is passed on as is, any
 * other as CFG_EINVAL. */
static cfg_err
env_parse(const char *text, size_t len, const char *name, env_fn fn,
    void *arg, ebuf *e)
{
	char *key = NULL, *val = NULL, why[160];
	size_t pos = 0;
	unsigned lineno = 0;
	int bad = 0, has, r;
	cfg_err rc = CFG_OK;

	if (text == NULL)
		len = 0;
	if ((key = malloc(len + 1)) == NULL || (val = malloc(len + 1)) == NULL) {
		rc = CFG_ENOMEM;
		goto out;
	}
	/* A byte-order mark from a Windows editor is not part of a name. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *ln = text + pos, *nl;
		size_t n;

		nl = memchr(ln, '\n', len - pos);
		n = nl ? (size_t)(nl - ln) : len - pos;
		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n > 0 && ln[n - 1] == '\r')
			n--;
		if (env_line(ln, n, key, val, &has, why, sizeof(why)) != 0) {
			eb_add(e, "%s:%u: %s", name, lineno, why);
			bad = 1;
			continue;
		}
		if (has && fn != NULL && (r = fn(key, val, lineno, arg)) != 0) {
			rc = r == CFG_ENOMEM ? CFG_ENOMEM : CFG_EINVAL;
			goto out;
		}
	}
	if (e->oom)
		rc = CFG_ENOMEM;
	else if (bad)
		rc = CFG_EINVAL;
out:
	if (val != NULL) {
		/* The env file is often .secrets/.env. */
		explicit_bzero(val, len + 1);
		free(val);
	}
	free(key);
	return rc;
}

typedef struct env_adapter {
	int (*fn)(const char *key, const char *value, void *arg);
	void *arg;
} env_adapter;

static int
env_adapt(const char *key, const char *value, unsigned line, void *arg)
{
	env_adapter *a = arg;

	(void)line;
	return a->fn(key, value, a->arg);
}

cfg_err
cfg_parse_env(const char *text, size_t len, const char *name,
    int (*fn)(const char *key, const char *value, void *arg), void *arg,
    char **errors)
{
	ebuf e;
	env_adapter a = { fn, arg };
	cfg_err rc;
	char *s;

	eb_init(&e, errors);
	rc = env_parse(text, len, name ? name : "env", fn ? env_adapt : NULL,
	    &a, &e);
	s = eb_take(&e);
	if (e.oom)
		rc = CFG_ENOMEM;
	if (errors != NULL)
		*errors = s;
	else
		free(s);
	return rc;
}

/* --- environment, env file and command line ------------------------------------ */

enum {
	E_URL, E_ENABLED, E_INTERVAL, E_HEARTBEAT, E_JOB, E_SPOOL, E_HOST,
	E_PORT, E_GZIP, E_N
};

/* The environment names docs/agent.md lists; the env file is read for these only. */
static const char *const env_names[E_N] = {
	"PROMETHEUS_PUSHGATEWAY_URL",
	"PROMETHEUS_PUSHGATEWAY_ENABLED",
	"PROMETHEUS_PUSHGATEWAY_INTERVAL",
	"PROMETHEUS_PUSHGATEWAY_HEARTBEAT",
	"PROMETHEUS_JOB_NAME",
	"COLLECTOR_SPOOL",
	"API_HOST",
	"API_PORT",
	"PROMETHEUS_PUSHGATEWAY_GZIP",
};

/* Per name, the value that wins between the env file and the environment. */
typedef struct envset {
	char *v[E_N];        /* NULL: not given */
	unsigned line[E_N];  /* its env-file line; 0: the environment */
	const char *file;    /* the env file */
} envset;

/*
 * An empty value counts as not given: docker compose passes ${VAR} of an
 * unset variable as empty, and an empty URL, interval or job would be an
 * error rather than what the operator meant.
 */
static int
env_take(envset *es, const char *key, size_t klen, const char *value,
    unsigned line)
{
	for (int i = 0; i < E_N; i++) {
		if (strlen(env_names[i]) != klen ||
		    memcmp(env_names[i], key, klen) != 0)
			continue;
		if (*value == '\0')
			return 0;
		free(es->v[i]);
		if ((es->v[i] = strdup(value)) == NULL)
			return CFG_ENOMEM;
		es->line[i] = line;
		return 0;
	}
	return 0;
}

static int
env_file_take(const char *key, const char *value, unsigned line, void *arg)
{
	return env_take(arg, key, strlen(key), value, line);
}

static void
read_env_file(ld *l, envset *es, const char *path)
{
	char *buf = NULL;
	size_t len;
	int err;

	es->file = path;
	err = slurp(path, ENVFILE_MAX, 0, &buf, &len);
	if (err == ENOMEM) {
		l->e.oom = 1;
		return;
	}
	if (err == EFBIG) {
		eb_add(&l->e, "%s: too large for an env file (limit %d bytes)",
		    path, ENVFILE_MAX);
		return;
	}
	if (err != 0) {
		eb_add(&l->e, "%s: cannot read the env file (%s)", path,
		    strerror(err));
		l->enoent = 1;
		return;
	}
	if (env_parse(buf, len, path, env_file_take, es, &l->e) == CFG_ENOMEM)
		l->e.oom = 1;
	explicit_bzero(buf, len);
	free(buf);
	if ((l->c->env_file = strdup(path)) == NULL)
		l->e.oom = 1;
}

static void
read_environ(ld *l, envset *es, char *const *envp)
{
	for (; envp != NULL && *envp != NULL; envp++) {
		const char *eq = strchr(*envp, '=');

		if (eq != NULL && env_take(es, *envp, (size_t)(eq - *envp),
		    eq + 1, 0) != 0)
			l->e.oom = 1;
	}
}

static void
envset_free(envset *es)
{
	for (int i = 0; i < E_N; i++)
		free(es->v[i]);
}

/* The settings that the command line and the environment can give. */
typedef struct ovr {
	const char *path;   /* the row */
	int env;            /* env_names index; -1 none */
	const char *flag;   /* NULL: none */
	size_t argoff;      /* the flag's field in cfg_args */
} ovr;

static const ovr ovrs[] = {
	{ "spool.path", E_SPOOL, "--spool", offsetof(cfg_args, spool) },
	{ "pushgateway.url", E_URL, "--gateway",
	  offsetof(cfg_args, gateway) },
	{ "pushgateway.enabled", E_ENABLED, NULL, 0 },
	{ "pushgateway.gzip", E_GZIP, NULL, 0 },
	{ "pushgateway.interval", E_INTERVAL, "--interval",
	  offsetof(cfg_args, interval) },
	{ "pushgateway.heartbeat", E_HEARTBEAT, "--heartbeat",
	  offsetof(cfg_args, heartbeat) },
	{ "pushgateway.job", E_JOB, "--job", offsetof(cfg_args, job) },
	/* E_HOST stands for API_HOST and API_PORT together. */
	{ "pushgateway.instance", E_HOST, "--instance",
	  offsetof(cfg_args, instance) },
	{ "remote_write.url", -1, "--remote-write",
	  offsetof(cfg_args, remote_write) },
	{ "listen", -1, "--listen", offsetof(cfg_args, listen) },
	{ "log.level", -1, "--log-level", offsetof(cfg_args, log_level) },
};

/*
 * The three upper layers (docs/agent.md, Settings) for each setting they can give: the flag
 * if given, else the environment's value, else the env file's (envset
 * already holds the winner of those two). Lower layers were applied before.
 *
 * The instance from the environment: API_HOST:API_PORT as the seed
 * application builds it; API_HOST alone is the host alone; API_PORT alone
 * is ignored, as a port names no instance without its host (the file's
 * instance or the host name then apply).
 */
static void
apply_overrides(ld *l, const envset *es, const cfg_args *args)
{
	for (size_t i = 0; i < sizeof(ovrs) / sizeof(ovrs[0]); i++) {
		const ovr *o = &ovrs[i];
		int ri = row_find(o->path), ei = o->env;
		const char *text = NULL, *name = NULL, *loc = "";
		char locbuf[LOC_MAX], *inst = NULL;

		if (ri < 0)
			continue;
		if (o->flag != NULL)
			text = *CFIELD(args, o->argoff, cstr_t);
		if (text != NULL)
			name = o->flag;
		else if (ei >= 0 && es->v[ei] != NULL) {
			text = es->v[ei];
			name = env_names[ei];
			if (ei == E_HOST && es->v[E_PORT] != NULL) {
				size_t n = strlen(es->v[E_HOST]) +
				    strlen(es->v[E_PORT]) + 2;

				if ((inst = malloc(n)) == NULL) {
					l->e.oom = 1;
					return;
				}
				snprintf(inst, n, "%s:%s", es->v[E_HOST],
				    es->v[E_PORT]);
				text = inst;
			}
			if (es->line[ei] == 0)
				loc = "env ";
			else {
				snprintf(locbuf, sizeof(locbuf), "%s:%u: ",
				    es->file, es->line[ei]);
				loc = locbuf;
			}
		}
		if (text != NULL)
			store_text(l, &rows[ri], text, loc, name);
		free(inst);
	}
}

/* --- load ------------------------------------------------------------------------ */

static int
ld_init(ld *l)
{
	cfg *c;

	memset(l, 0, sizeof(*l));
	eb_init(&l->e, NULL);
	if ((c = l->c = calloc(1, sizeof(*c))) == NULL) {
		l->e.oom = 1;
		return -1;
	}
	for (size_t i = 0; i < NROWS; i++) {
		const row *r = &rows[i];

		switch (r->type) {
		case T_NUM:
			*FIELD(c, r->off, double) = r->dnum;
			break;
		case T_INT:
			*FIELD(c, r->off, long) = (long)r->dnum;
			break;
		case T_BOOL:
		case T_SYNC:
		case T_LEVEL:
			*FIELD(c, r->off, int) = (int)r->dnum;
			break;
		case T_STR:
		case T_PATH:
		case T_URL:
		case T_JOB:
		case T_INSTANCE:
		case T_LISTEN:
			if (r->dstr != NULL && (*FIELD(c, r->off, str_t) =
			    strdup(r->dstr)) == NULL) {
				l->e.oom = 1;
				return -1;
			}
			break;
		case T_HEADERS:
		case T_HIST:
			break;
		}
	}
	return 0;
}

/*
 * The heartbeat against the interval, once every layer is applied (either
 * may come from any). Unset, it is CFG_HEARTBEAT_INTERVALS intervals and at
 * least CFG_HEARTBEAT_MIN seconds; set, anything from the interval up (a
 * test, or a gateway that few agents share, may want it short). Below the
 * interval it could not be kept (rounds are an interval apart), so it is
 * refused rather than quietly raised.
 */
static void
heartbeat_settle(ld *l)
{
	int ri = row_find("pushgateway.heartbeat");
	cfg *c = l->c;

	if (c->heartbeat == 0) {
		c->heartbeat = CFG_HEARTBEAT_INTERVALS * c->interval;
		if (c->heartbeat < CFG_HEARTBEAT_MIN)
			c->heartbeat = CFG_HEARTBEAT_MIN;
		return;
	}
	if (c->heartbeat < c->interval)
		eb_add(&l->e, "%s: %.15g is less than pushgateway.interval "
		    "(%.15g); set pushgateway.heartbeat to at least the "
		    "interval, or leave it out for the default (%d times the "
		    "interval, at least %d seconds)", ri >= 0 &&
		    l->origin[ri] != NULL ? l->origin[ri] :
		    "pushgateway.heartbeat", c->heartbeat, c->interval,
		    CFG_HEARTBEAT_INTERVALS, CFG_HEARTBEAT_MIN);
}

/* What no layer gave and cannot be a constant. */
static void
finish(ld *l)
{
	char host[256];

	if (l->c->instance != NULL)
		return;
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if ((l->c->instance = strdup(host)) == NULL)
		l->e.oom = 1;
}

static cfg_err
ld_result(ld *l, cfg **out, char **errors)
{
	char *msgs = eb_take(&l->e);
	cfg_err rc = CFG_OK;

	if (l->e.oom)
		rc = CFG_ENOMEM;
	else if (l->enoent)
		rc = CFG_ENOENT;
	else if (msgs != NULL)
		rc = CFG_EINVAL;
	for (size_t i = 0; i < NROWS; i++)
		free(l->origin[i]);
	if (rc == CFG_OK) {
		*out = l->c;
		return rc;
	}
	cfg_free(l->c);
	if (rc == CFG_ENOMEM || errors == NULL)
		free(msgs);
	else
		*errors = msgs;
	return rc;
}

cfg_err
cfg_load(const cfg_args *args, char *const *envp, const char *default_file,
    cfg **out, char **errors)
{
	static const cfg_args none;
	envset es;
	ld l;
	cfg_err rc;

	*out = NULL;
	if (errors != NULL)
		*errors = NULL;
	if (args == NULL)
		args = &none;
	memset(&es, 0, sizeof(es));
	/* docs/agent.md's precedence, lowest layer first, each later one overwriting: defaults,
	 * the config file, then per setting the env file, the environment
	 * and the command line (apply_overrides). */
	if (ld_init(&l) != 0)
		goto out;
	if (args->config_file != NULL)
		read_config_file(&l, args->config_file, 1);
	else
		read_config_file(&l, default_file ? default_file :
		    CFG_DEFAULT_FILE, 0);
	if (args->env_file != NULL)
		read_env_file(&l, &es, args->env_file);
	read_environ(&l, &es, envp);
	apply_overrides(&l, &es, args);
	heartbeat_settle(&l);
	finish(&l);
out:
	rc = ld_result(&l, out, errors);
	envset_free(&es);
	return rc;
}

/* The line of an @include directive in text, or 0. */
static unsigned
include_line(const char *text)
{
	unsigned line = 1;

	for (const char *p = text; *p != '\0'; line++) {
		while (blank(*p))
			p++;
		if (strncasecmp(p, "@include", 8) == 0)
			return line;
		if ((p = strchr(p, '\n')) == NULL)
			break;
		p++;
	}
	return 0;
}

cfg_err
cfg_load_string(const char *text, const char *name, cfg **out, char **errors)
{
	config_t cf;
	unsigned il;
	ld l;

	*out = NULL;
	if (errors != NULL)
		*errors = NULL;
	if (text == NULL)
		text = "";
	if (name == NULL)
		name = "config";
	if (ld_init(&l) != 0)
		goto out;
	l.name = name;
	if ((l.c->config_file = strdup(name)) == NULL) {
		l.e.oom = 1;
		goto out;
	}
	/* Text has no directory to include from, and the fuzzer must not
	 * make libconfig open (or block on) files of its choosing. */
	if ((il = include_line(text)) != 0) {
		eb_add(&l.e, "%s:%u: @include is not allowed here", name, il);
		goto out;
	}
	config_init(&cf);
	if (!config_read_string(&cf, text))
		parse_error(&l, &cf);
	else
		apply_config(&l, &cf);
	config_destroy(&cf);
	heartbeat_settle(&l);
	finish(&l);
out:
	return ld_result(&l, out, errors);
}

/* --- print and free ---------------------------------------------------------------- */

/* A libconfig string literal. */
static void
put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\r')
			fputs("\\r", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Text inside a '#' comment: a line break would end the comment. */
static void
put_comment(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s, f);
}

/* A number that libconfig reads back as a float, to the same double. */
static void
put_num(FILE *f, double v)
{
	char buf[EXPO_VALUE_BUF];
	size_t n = expo_format_value(v, buf);

	fputs(buf, f);
	if (strcspn(buf, ".eEnN") == n)
		fputs(".0", f);
}

/* Header values under these names are credentials as often as not. */
static int
header_is_secret(const char *h)
{
	static const char *const words[] = { "auth", "token", "secret", "key",
	    "password", "cookie", "session" };
	size_t nl = strcspn(h, ":");

	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		size_t wl = strlen(words[w]);

		for (size_t i = 0; i + wl <= nl; i++)
			if (strncasecmp(h + i, words[w], wl) == 0)
				return 1;
	}
	return 0;
}

static void
put_value(FILE *f, const cfg *c, const row *r)
{
	switch (r->type) {
	case T_NUM:
		put_num(f, *CFIELD(c, r->off, double));
		break;
	case T_INT:
		fprintf(f, "%ld", *CFIELD(c, r->off, long));
		break;
	case T_BOOL:
		fputs(*CFIELD(c, r->off, int) ? "true" : "false", f);
		break;
	case T_SYNC:
		fputs(*CFIELD(c, r->off, int) ? "\"full\"" : "\"normal\"", f);
		break;
	case T_LEVEL:
		fprintf(f, "\"%s\"", log_level_name(*CFIELD(c, r->off, int)));
		break;
	case T_STR:
	case T_PATH:
	case T_URL:
	case T_JOB:
	case T_INSTANCE:
	case T_LISTEN:
		put_str(f, *CFIELD(c, r->off, str_t));
		break;
	case T_HEADERS: {
		char *const *h = *CFIELD(c, r->off, strv_t);
		size_t n = *CFIELD(c, r->off_n, size_t);

		fputc('[', f);
		for (size_t i = 0; i < n; i++) {
			fputs(i ? ", " : " ", f);
			if (header_is_secret(h[i])) {
				fprintf(f, "\"%.*s: <redacted>\"",
				    (int)strcspn(h[i], ":"), h[i]);
			} else
				put_str(f, h[i]);
		}
		fputs(n ? " ]" : "]", f);
		break;
	}
	case T_HIST: {
		const cfg_histogram *h = *CFIELD(c, r->off, hist_t);
		size_t n = *CFIELD(c, r->off_n, size_t);

		fputc('(', f);
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "%s\n  { name = ", i ? "," : "");
			put_str(f, h[i].name);
			fputs("; buckets = [ ", f);
			for (size_t j = 0; j < h[i].n; j++) {
				if (j)
					fputs(", ", f);
				put_num(f, h[i].bounds[j]);
			}
			fputs(" ]; }", f);
		}
		fputs(n ? "\n)" : ")", f);
		break;
	}
	}
}

void
cfg_print(const cfg *c, FILE *f)
{
	const char *sec = NULL;
	size_t secl = 0;

	fputs("# collector-agent: the effective configuration; secrets are "
	    "<redacted>\n# config file: ", f);
	put_comment(f, c->config_file ? c->config_file :
	    "none (built-in defaults)");
	fputs("\n# env file: ", f);
	put_comment(f, c->env_file ? c->env_file : "none");
	fputs("\n", f);
	for (size_t i = 0; i < NROWS; i++) {
		const row *r = &rows[i];
		const char *dot = strchr(r->path, '.');
		size_t pl = dot ? (size_t)(dot - r->path) : 0;

		if (sec != NULL && (pl != secl ||
		    strncmp(sec, r->path, pl) != 0)) {
			fputs("};\n", f);
			sec = NULL;
		}
		if (dot != NULL && sec == NULL) {
			fprintf(f, "%.*s: {\n", (int)pl, r->path);
			sec = r->path;
			secl = pl;
		}
		fprintf(f, "%s%s = ", dot ? "\t" : "", dot ? dot + 1 : r->path);
		put_value(f, c, r);
		fputc(';', f);
		if (r->secret != NULL && *CFIELD(c, r->off_secret, str_t))
			fprintf(f, "  # %s: <redacted>", r->secret);
		fputc('\n', f);
	}
	if (sec != NULL)
		fputs("};\n", f);
}

void
cfg_free(cfg *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < NROWS; i++) {
		const row *r = &rows[i];
		char **sp;

		switch (r->type) {
		case T_STR:
		case T_PATH:
		case T_URL:
		case T_JOB:
		case T_INSTANCE:
		case T_LISTEN:
			free_str(FIELD(c, r->off, str_t));
			if (r->secret != NULL &&
			    *(sp = FIELD(c, r->off_secret, str_t)) != NULL) {
				explicit_bzero(*sp, strlen(*sp));
				free_str(sp);
			}
			break;
		case T_HEADERS:
			free_headers(*FIELD(c, r->off, strv_t),
			    *FIELD(c, r->off_n, size_t));
			break;
		case T_HIST:
			free_hists(*FIELD(c, r->off, hist_t),
			    *FIELD(c, r->off_n, size_t));
			break;
		case T_NUM:
		case T_INT:
		case T_BOOL:
		case T_SYNC:
		case T_LEVEL:
			break;
		}
	}
	free(c->config_file);
	free(c->env_file);
	free(c);
}

/* A file holding a secret that other users may read. */
static void
warn_mode(const char *setting, const char *path)
{
	struct stat st;

	if (path == NULL || *path == '\0' || stat(path, &st) != 0)
		return;
	if (st.st_mode & (S_IROTH | S_IWOTH))
		log_warnx("a secret file is readable by other users; make it "
		    "0600 or 0640 (group of the agent's user)", "setting=%s "
		    "file=%s mode=%04o", setting, log_q(path),
		    (unsigned)(st.st_mode & 07777));
}

static void
warn_http(const char *sec, const http_conf *h)
{
	char p[64];

	if (h->url == NULL || *h->url == '\0')
		return;
	if (h->insecure_skip_verify) {
		snprintf(p, sizeof(p), "%s.insecure_skip_verify", sec);
		log_warnx("TLS CERTIFICATES ARE NOT VERIFIED: anyone between "
		    "the agent and the server can read and change what is "
		    "sent, credentials included; set ca_file instead",
		    "setting=%s url=%s", p, log_q(h->url));
	}
	snprintf(p, sizeof(p), "%s.password_file", sec);
	warn_mode(p, h->password_file);
	snprintf(p, sizeof(p), "%s.bearer_token_file", sec);
	warn_mode(p, h->bearer_token_file);
	snprintf(p, sizeof(p), "%s.key_file", sec);
	warn_mode(p, h->key_file);
}

void
cfg_warn(const cfg *c)
{
	if (c->enabled)
		warn_http("pushgateway", &c->gw);
	warn_http("remote_write", &c->rw);
}
