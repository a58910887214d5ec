/*
 * libcollector-spool — write metric rows into the collector-agent spool.
 *
 * The spool is a SQLite file (WAL mode) that producers write metric rows into
 * and the agent folds into per-group state. Producers need only spool_open(),
 * spool_put() and spool_close(); the batch calls make many puts one
 * transaction; stats and the rejected list say what became of the rows.
 *
 * This header is the library's whole interface, and the installed library
 * exports nothing else. The fold and the group state are the agent's: it
 * reaches them through a header of the source tree (spool/spool-agent.h)
 * and links the library statically, so they may change with the agent.
 *
 * Every call returns a spool_err; results go through out-parameters. After a
 * failure, spool_errmsg() says what went wrong in words for the user (the
 * path, the offending line, the fix). A handle is for one thread at a time and
 * must not be used across fork().
 */
#ifndef COLLECTOR_SPOOL_H
#define COLLECTOR_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SPOOL_API __attribute__((visibility("default")))
#define SPOOL_WUR __attribute__((warn_unused_result))
#else
#define SPOOL_API
#define SPOOL_WUR
#endif

#define SPOOL_SCHEMA_VERSION 1
#define SPOOL_DEFAULT_PATH "/var/lib/collector-agent/spool.db"
#define SPOOL_DEFAULT_BUSY_TIMEOUT_MS 5000

/* Errors; add-only, values are stable. */
typedef enum spool_err {
	SPOOL_OK = 0,
	SPOOL_EINVAL,    /* a bad argument */
	SPOOL_ENOMEM,    /* out of memory */
	SPOOL_EPARSE,    /* a body, job, grouping or op that does not parse */
	SPOOL_ETOOBIG,   /* over a documented limit */
	SPOOL_ECREATE,   /* the spool cannot be created or opened for writing */
	SPOOL_ENOTSPOOL, /* not a SQLite database, or not a collector spool */
	SPOOL_ECORRUPT,  /* SQLite reports the file damaged */
	SPOOL_ENEWER,    /* written by a newer program (schema version) */
	SPOOL_EBUSY,     /* locked by another process past the busy timeout */
	SPOOL_EFULL,     /* the disk or file system is full */
	SPOOL_EIO,       /* any other I/O or SQLite failure */
	SPOOL_EUNKNOWN   /* a commit failed after its rows may have reached
	                  * the disk: they may or may not be in the spool */
} spool_err;

/* A short fixed description of e; never NULL. */
SPOOL_API const char *spool_strerror(spool_err e);

/* The exit status (sysexits.h) that the project's programs give for e, as
 * docs/spool.md lists them: 0, 64 (EINVAL), 65 (bad data), 71 (EUNKNOWN:
 * check before writing again), 73 (cannot create), 75 (locked: retry
 * later), 74 (anything else: nothing was written). */
SPOOL_API int spool_exit_status(spool_err e);

/* Ops; add-only, values are stable. */
typedef enum spool_op {
	SPOOL_OP_SET = 0,  /* each sample sets its series */
	SPOOL_OP_ADD,      /* each sample is added to its series */
	SPOOL_OP_OBSERVE,  /* each sample is one histogram observation */
	SPOOL_OP_DELETE,   /* drop the group (body empty); the agent DELETEs it */
	SPOOL_OP_REPLACE   /* the body, read as a set body, becomes the
	                    * group's whole state: series and families it does
	                    * not name are dropped (an empty body leaves the
	                    * group with none); the agent PUTs it, with no
	                    * DELETE, and a pending delete request is dropped */
} spool_op;

/* "set", "add", "observe", "delete", "replace". */
SPOOL_API const char *spool_op_name(spool_op op);
/* Parses an op name; returns SPOOL_OK or SPOOL_EPARSE. */
SPOOL_API spool_err spool_op_parse(const char *name, spool_op *out) SPOOL_WUR;

typedef struct spool spool_t;

typedef struct spool_options {
	int synchronous_full; /* 1: fsync every commit (survives power loss) */
	int busy_timeout_ms;  /* wait this long for a lock; 0: the default */
} spool_options;

/*
 * Opens the spool at path, creating the file (mode 0660 less the umask) and
 * its tables if needed, migrating an older schema in place. opts may be NULL.
 * On success *out is a handle the caller frees with spool_close(). On failure
 * *out is NULL and, if errbuf is not NULL, errbuf holds the reason.
 */
SPOOL_API spool_err spool_open(const char *path, const spool_options *opts,
    spool_t **out, char *errbuf, size_t errlen) SPOOL_WUR;

/*
 * Closes the handle, rolling back an open batch. NULL is a no-op. The
 * WAL and its index (the -wal and -shm files) stay for the next writer:
 * no checkpoint, so no fsync; a handle that finds itself the spool's only
 * user and the WAL over 256 KiB moves the WAL into the database and
 * truncates it. The agent's handle (it claims the spool) checkpoints and
 * removes them when it closes last, as SQLite does; so does any handle
 * when the files lack the spool's group or mode, or when a process that
 * has another file open at the path holds them (docs/spool.md, "What a
 * writer's close does").
 */
SPOOL_API void spool_close(spool_t *s);

/* The message for the last failure on s; borrowed until the next call on s. */
SPOOL_API const char *spool_errmsg(const spool_t *s);

/* The path the handle was opened with; borrowed until spool_close(). */
SPOOL_API const char *spool_path(const spool_t *s);

/*
 * Validates body (len bytes of exposition text) and inserts it as one row.
 * job NULL: the agent's configured job. grouping NULL: the agent's default
 * grouping; "" the job alone; else `k="v",...`. On SPOOL_EPARSE nothing is
 * written and spool_errmsg() reads "line N: reason" (or "job: ...",
 * "grouping: ..."). Inside a batch the row commits with the batch.
 *
 * Outside a batch the row is its own transaction. SPOOL_EUNKNOWN means that
 * its commit failed (an fsync or a write of the WAL) when the row may
 * already be on disk: it may be in the spool now or appear after a crash,
 * or never. Writing an `add` or `observe` row again could count it twice:
 * check the group's value first; `set`, `replace` and `delete` rows are
 * safe to write again. Every other error means that nothing was written.
 */
SPOOL_API spool_err spool_put(spool_t *s, const char *job,
    const char *grouping, spool_op op, const char *body, size_t len) SPOOL_WUR;

/* The longest job name spool_put() takes, in bytes. */
#define SPOOL_MAX_JOB 1024

/* Asks the agent to delete a group from the gateway and drop its state. */
SPOOL_API spool_err spool_request_delete(spool_t *s, const char *job,
    const char *grouping) SPOOL_WUR;

/* A batch: puts between begin and commit are one transaction. rollback
 * discards them. A failed put leaves the batch open for the caller to
 * roll back or go on. commit returns SPOOL_EUNKNOWN as spool_put() does,
 * for all the batch's rows; after any other failure of commit nothing of
 * the batch was written (SPOOL_EBUSY leaves it open, to retry or roll
 * back). */
SPOOL_API spool_err spool_batch_begin(spool_t *s) SPOOL_WUR;
SPOOL_API spool_err spool_batch_commit(spool_t *s) SPOOL_WUR;
SPOOL_API void spool_batch_rollback(spool_t *s);

/*
 * Checks a body without writing it. On SPOOL_EPARSE or SPOOL_ETOOBIG, if
 * errbuf is not NULL, it holds "line N: reason".
 */
SPOOL_API spool_err spool_validate_body(spool_op op, const char *body,
    size_t len, char *errbuf, size_t errlen) SPOOL_WUR;

/* Checks a job name and a grouping string as spool_put() does. */
SPOOL_API spool_err spool_validate_group(const char *job,
    const char *grouping, char *errbuf, size_t errlen) SPOOL_WUR;

typedef struct spool_stats {
	int64_t pending_rows;     /* rows in the inbox, not yet folded */
	int64_t groups;
	int64_t series;
	int64_t dirty_groups;     /* changed since their last successful push */
	int64_t parked_groups;    /* refused by the gateway, waiting */
	int64_t delete_pending;   /* waiting for the gateway's DELETE */
	int64_t rejected_rows;    /* rows in the rejected list now */
	int64_t rejected_total;   /* rows ever rejected */
	double oldest_pending_age; /* seconds; -1 when the inbox is empty */
	int64_t bytes;            /* the database file plus its WAL */
	int schema_version;
} spool_stats;

SPOOL_API spool_err spool_get_stats(spool_t *s, spool_stats *out) SPOOL_WUR;

/* A refused row's body is kept up to this many bytes (cut at a character
 * boundary), with its full size and hash; job, grouping and op up to
 * SPOOL_REJECTED_FIELD_KEEP (the longest valid grouping). So a refused
 * 100 MB body does not stay in the spool. */
#define SPOOL_REJECTED_BODY_KEEP 4096
#define SPOOL_REJECTED_FIELD_KEEP 8192

typedef struct spool_rejected {
	int64_t id;
	int64_t received_ms;  /* when the writer inserted it, ms since epoch */
	int64_t rejected_ms;  /* when the fold refused it */
	const char *job;      /* NULL when the row had none */
	const char *grouping; /* NULL when the row had none */
	const char *op;       /* as written; NULL when the row had none */
	const char *body;     /* as written; NULL when the row had none */
	const char *reason;
	/* The lengths in bytes of job, grouping, op and body: an SQL writer
	 * may have stored a NUL, which ends the C strings above early. */
	size_t job_len, grouping_len, op_len, body_len;
	/* The body as the writer wrote it: its size in bytes and its 64-bit
	 * FNV-1a hash (both 0 when it had none). body_cut is 1 when body
	 * holds only its first bytes (up to SPOOL_REJECTED_BODY_KEEP). */
	int64_t body_size;
	uint64_t body_hash;
	int body_cut;
} spool_rejected;

/* Calls fn for each rejected row, oldest first; the strings are borrowed
 * until fn returns. fn returns 0 to go on, non-zero to stop. */
SPOOL_API spool_err spool_rejected_each(spool_t *s,
    int (*fn)(const spool_rejected *r, void *arg), void *arg) SPOOL_WUR;

/* The library's version, "MAJOR.MINOR.PATCH". */
SPOOL_API const char *spool_version(void);
/* The version of the SQLite library in use, "3.40.1". */
SPOOL_API const char *spool_sqlite_version(void);

#ifdef __cplusplus
}
#endif
#endif