/*
 * libcollector-spool — write and read the collector-agent spool.
 *
 * The spool is a SQLite file (WAL mode) that producers write metric rows into
 * and the agent folds into per-group state. Producers need only spool_open(),
 * spool_put() and spool_close(); the batch calls make many puts one
 * transaction. The fold and the state are the agent's.
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

typedef enum spool_op {
	SPOOL_OP_SET = 0,  /* each sample sets its series */
	SPOOL_OP_ADD,      /* each sample is added to its series */
	SPOOL_OP_OBSERVE,  /* each sample is one histogram observation */
	SPOOL_OP_DELETE    /* drop the group (body empty); the agent DELETEs it */
} spool_op;

/* "set", "add", "observe", "delete". */
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

/* Sets the handle's page cache to kib KiB (SQLite's default is 2 MiB).
 * A reader of big groups keeps its memory flat with a small one. (A
 * function, not an option field, so that spool_options keeps its size.) */
SPOOL_API spool_err spool_set_cache(spool_t *s, int kib) SPOOL_WUR;

/*
 * Closes the handle, rolling back an open batch. NULL is a no-op. The
 * WAL and its index (the -wal and -shm files) stay for the next writer:
 * no checkpoint, so no fsync; a handle that finds itself the spool's only
 * user and the WAL over 256 KiB moves the WAL into the database and
 * truncates it. The agent's handle (spool_claim()) checkpoints and removes
 * them when it closes last, as SQLite does; so does any handle when the
 * files lack the spool's group or mode, or when a process that has
 * another file open at the path holds them (docs/spool.md, "What a
 * writer's close does").
 */
SPOOL_API void spool_close(spool_t *s);

/* The message for the last failure on s; borrowed until the next call on s. */
SPOOL_API const char *spool_errmsg(const spool_t *s);

/*
 * Is the file at the handle's path still the one it opened? *moved is 1
 * after the file was deleted, renamed or replaced (a long-running reader
 * would otherwise go on with the unlinked file, unseen by writers); then
 * spool_errmsg() says so and what to do.
 */
SPOOL_API spool_err spool_moved(spool_t *s, int *moved) SPOOL_WUR;

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
 * check the group's value first; `set` and `delete` rows are safe to write
 * again. Every other error means that nothing was written.
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

/* Histogram buckets for `observe` on one metric family. */
typedef struct spool_buckets {
	const char *name;      /* family name */
	const double *bounds;  /* strictly increasing, finite; +Inf implied */
	size_t n;
} spool_buckets;

/* The most finite bounds one family may have (spool_fold refuses more). */
#define SPOOL_MAX_BUCKETS 256

/*
 * The limits on what rows may create (spool_fold_options), named as the
 * agent's settings (limits.max_groups, ...) and the label of its metrics.
 */
typedef enum spool_limit {
	SPOOL_LIMIT_GROUPS = 0,        /* groups in the spool */
	SPOOL_LIMIT_SERIES_PER_GROUP,  /* series in one group */
	SPOOL_LIMIT_SERIES             /* series in all groups */
} spool_limit;
#define SPOOL_NLIMITS 3

/* "max_groups", "max_series_per_group", "max_series"; NULL past the end. */
SPOOL_API const char *spool_limit_name(spool_limit l);

/*
 * The batch of spool_fold(). With max_rows 0 a batch takes up to
 * SPOOL_FOLD_ROWS rows. Whatever max_rows, it also ends after the row
 * that takes it to SPOOL_FOLD_LINES sample lines, to SPOOL_FOLD_BYTES
 * bytes of job, grouping and body, or to SPOOL_FOLD_ENTRIES groups,
 * families and series held in memory; so one call stays short (about a
 * tenth of a second on two shared cores) and its memory bounded (a few
 * MiB), however the rows are shaped. A row is never split: one of up to
 * the 16 MiB a body may have is a batch of its own (0.3 s).
 */
#define SPOOL_FOLD_ROWS 50000
#define SPOOL_FOLD_LINES 50000
#define SPOOL_FOLD_BYTES (4u * 1024u * 1024u)
#define SPOOL_FOLD_ENTRIES 8192

typedef struct spool_fold_options {
	const char *default_job;      /* rows with NULL job; NULL: "collector_agent" */
	const char *default_grouping; /* rows with NULL grouping; NULL: "" */
	const spool_buckets *buckets; /* may be NULL; others get the defaults */
	size_t nbuckets;
	size_t max_rows;              /* rows per transaction at most;
	                               * 0: SPOOL_FOLD_ROWS, the fastest */
	/* For tests only: fail after applying this many rows of the batch,
	 * before committing. 0 disables. */
	size_t test_fail_after_rows;
	/* Limits; 0: none. A row that would take a count past one goes to
	 * the rejected list, its reason naming the agent's setting
	 * (limits.max_groups, ...) and the fix. What is folded already
	 * stays, and a row that only changes existing series is never
	 * refused by them. A delete request for a group the spool does not
	 * hold starts one, and counts as one. An observed histogram is one
	 * series. */
	size_t max_groups;            /* groups */
	size_t max_series_per_group;  /* series in one group */
	size_t max_series;            /* series in all groups */
} spool_fold_options;

typedef struct spool_fold_result {
	size_t rows;      /* rows taken from the inbox */
	size_t lines;     /* sample lines applied */
	size_t rejected;  /* rows moved to the rejected list */
	size_t groups;    /* groups changed */
	size_t deletes;   /* delete requests taken */
} spool_fold_result;

/*
 * Folds one batch of inbox rows into the group state in one transaction
 * that also removes them from the inbox, so that each row counts exactly
 * once whatever happens. res->rows == 0 means the inbox was empty. A
 * batch holds what it folds in memory and writes each touched series once,
 * at its end (a delete request writes what came before it first); see
 * SPOOL_FOLD_ROWS for its size.
 * A row that does not parse goes to the rejected list with its reason and
 * does not stop the others.
 */
SPOOL_API spool_err spool_fold(spool_t *s, const spool_fold_options *opts,
    spool_fold_result *res) SPOOL_WUR;

/* What the limits count now, and the rows each refused. */
typedef struct spool_usage {
	/* By spool_limit: the groups, the series of the largest group,
	 * the series of all groups. */
	int64_t used[SPOOL_NLIMITS];
	int64_t refused[SPOOL_NLIMITS];  /* rows ever refused by each */
	int64_t largest_group;           /* its id; 0 when no group has series */
} spool_usage;

/* Reads the usage in one read transaction; it counts every series, so
 * call it now and then, not per row. */
SPOOL_API spool_err spool_get_usage(spool_t *s, spool_usage *out) SPOOL_WUR;

/* The value of one series of a group, for tests and tools. grouping is the
 * canonical form (sorted `k="v"` pairs); labels likewise. Sets *found to 0
 * when there is no such series. NaN when the series holds NaN. */
SPOOL_API spool_err spool_series_value(spool_t *s, const char *job,
    const char *grouping, const char *name, const char *labels,
    double *value, int *found) SPOOL_WUR;

/*
 * Reading the group state (the agent's side). A group is pushed while
 * version > pushed_version; the agent records what it delivered with the
 * calls below, so a fold that lands during a push is never lost.
 */
typedef struct spool_group {
	int64_t id;
	const char *job;
	const char *grouping;      /* canonical: sorted `k="v"` pairs */
	int64_t version;           /* grows with each fold that touches it */
	int64_t pushed_version;    /* the version the gateway has */
	int64_t last_row_ms;       /* newest row folded into it; 0 unknown */
	int delete_pending;        /* a delete request awaits the gateway */
	const char *park_reason;   /* the gateway's refusal, NULL if none */
	int has_series;            /* the state holds at least one series */
} spool_group;

/* Calls fn for every group, ordered by id; strings borrowed until fn
 * returns. fn returns 0 to go on, non-zero to stop. */
SPOOL_API spool_err spool_groups_each(spool_t *s,
    int (*fn)(const spool_group *g, void *arg), void *arg) SPOOL_WUR;

/* An observed histogram: counts per bucket (not cumulative), the last one
 * for +Inf. */
typedef struct spool_hist {
	size_t n;                 /* finite bounds; counts has n + 1 */
	const double *bounds;
	const uint64_t *counts;
	double sum;
} spool_hist;

typedef struct spool_family {
	const char *name;
	const char *type;   /* "counter", "gauge", "histogram", "summary", "untyped" */
	int typed;          /* a TYPE line named it */
	const char *help;   /* escaped HELP text, NULL for none */
} spool_family;

typedef struct spool_sample {
	const char *name;        /* as written: NAME, NAME_bucket, NAME_sum... */
	const char *labels;      /* canonical, escaped; "" for none */
	double value;            /* NaN when hist is set */
	const spool_hist *hist;  /* observed histogram, else NULL */
} spool_sample;

typedef struct spool_reader {
	/* Called once per family, before its samples; families in name
	 * order, each family's samples contiguous, ordered by name then
	 * labels. Return 0 to go on. All pointers borrowed until return. */
	int (*family)(const spool_family *f, void *arg);
	int (*sample)(const spool_family *f, const spool_sample *x, void *arg);
} spool_reader;

/*
 * Reads one group's whole state in one read transaction (a consistent
 * snapshot) and sets *version to the version that snapshot holds, which is
 * what spool_group_pushed() takes after a successful push. A callback that
 * returns non-zero stops the read; the call then returns SPOOL_OK with
 * *stopped set to 1. A group that does not exist reads as empty with
 * *version 0.
 */
SPOOL_API spool_err spool_group_read(spool_t *s, int64_t group_id,
    const spool_reader *r, void *arg, int64_t *version, int *stopped)
    SPOOL_WUR;

/*
 * The same read, pulled one sample at a time (for a sink that streams).
 * spool_cursor_open() starts a read transaction on the group and sets
 * *version; until spool_cursor_close() no other call may use s.
 * spool_cursor_next() sets *x to the next sample and *f to its family
 * (both borrowed until the next call), *new_family to 1 on a family's first
 * sample; at the end it returns SPOOL_OK with *x NULL. close(NULL) is a
 * no-op.
 */
typedef struct spool_cursor spool_cursor;
SPOOL_API spool_err spool_cursor_open(spool_t *s, int64_t group_id,
    spool_cursor **out, int64_t *version) SPOOL_WUR;
SPOOL_API spool_err spool_cursor_next(spool_cursor *c,
    const spool_family **f, const spool_sample **x, int *new_family)
    SPOOL_WUR;
SPOOL_API void spool_cursor_close(spool_cursor *c);

/*
 * A cursor over every group at once (pull mode): families come in name
 * order, each family's groups in id order, so one family's samples are
 * contiguous across groups; *new_family is 1 only on the first sample of a
 * name. *f is the current group's family row (its type and HELP may differ
 * from another group's). spool_cursor_group() names the group of the
 * sample last returned: *job and *grouping (canonical) are borrowed until
 * the next spool_cursor_next(); on a one-group cursor they are NULL.
 */
SPOOL_API spool_err spool_cursor_open_all(spool_t *s, spool_cursor **out)
    SPOOL_WUR;
SPOOL_API void spool_cursor_group(const spool_cursor *c, int64_t *id,
    const char **job, const char **grouping);

/* Records that the gateway holds the group at version: pushed_version
 * rises to it (never falls) and the park reason is cleared. */
SPOOL_API spool_err spool_group_pushed(spool_t *s, int64_t group_id,
    int64_t version) SPOOL_WUR;

/* Records the gateway's refusal (reason NULL clears it). */
SPOOL_API spool_err spool_group_park(spool_t *s, int64_t group_id,
    const char *reason) SPOOL_WUR;

/*
 * After the gateway confirmed a DELETE of the group, decided when the group
 * was at version seen. For a delete request (delete_pending), the fold
 * already dropped the state, so the group goes if no series came after the
 * request; for an expiry, it goes with its state if no row came since
 * (version == seen). Otherwise the state stays, the request is cleared and
 * the group counts as never pushed, so the next push sends it whole.
 * *dropped says which.
 */
SPOOL_API spool_err spool_group_deleted(spool_t *s, int64_t group_id,
    int64_t seen, int *dropped) SPOOL_WUR;

/*
 * Claims the spool for this process's agent: an exclusive flock(2) on the
 * spool file, held until spool_close() and dropped by the kernel when the
 * process ends, however it ends (SIGKILL leaves no stale lock). It does not
 * touch SQLite's own locks, so writers and readers go on as before. The
 * handle's close, when it is the spool's last user, then checkpoints the
 * WAL and removes it (see spool_close()). When
 * another process holds it: SPOOL_EBUSY, spool_errmsg() names it, and
 * *holder is its PID when /proc/locks tells (else 0).
 */
SPOOL_API spool_err spool_claim(spool_t *s, long *holder) SPOOL_WUR;

/*
 * Records the identity of the gateway the agent pushes to: any text that
 * changes when the gateway is restarted or replaced (its URL and start
 * time). When it differs from the identity recorded before, the gateway
 * may hold none of the groups: every group counts as never pushed, so that
 * all go again, and *changed is 1. The first identity a spool records
 * changes nothing. One transaction.
 */
SPOOL_API spool_err spool_gateway_seen(spool_t *s, const char *identity,
    int *changed) SPOOL_WUR;

/*
 * The set of series the agent's remote-write sink sent to one receiver, so
 * that a series gone while the agent was stopped, or between two --once
 * runs, still gets its staleness marker. A key is a series' identity as
 * the agent builds it (opaque bytes here). The set belongs to one receiver
 * (any text naming it, such as its URL): for another receiver it reads as
 * empty, and the first save for that receiver replaces it. The table is
 * created by the first save; a spool without it reads as empty.
 */
typedef struct spool_rw_key {
	const void *p;   /* borrowed from the caller */
	size_t len;      /* at least 1 */
} spool_rw_key;

/* Calls fn for every key of receiver's set, in no particular order, inside
 * one read transaction; the key is borrowed until fn returns. fn returns 0
 * to go on, non-zero to stop (the call then returns SPOOL_OK). */
SPOOL_API spool_err spool_rw_sent_each(spool_t *s, const char *receiver,
    int (*fn)(const void *key, size_t len, void *arg), void *arg) SPOOL_WUR;

/*
 * Changes receiver's set in one transaction: removes the ndel keys of del,
 * then adds the nadd keys of add (a key in both ends up in the set; a key
 * already there or not there is no error). The arrays and keys stay the
 * caller's. When the set belonged to another receiver, it is emptied
 * first. A key of length 0 or a NULL argument (arrays may be NULL when
 * their count is 0) is SPOOL_EINVAL, and nothing is changed.
 */
SPOOL_API spool_err spool_rw_sent_save(spool_t *s, const char *receiver,
    const spool_rw_key *add, size_t nadd, const spool_rw_key *del,
    size_t ndel) SPOOL_WUR;

/* Moves the WAL into the database file and truncates it; for idle times.
 * It waits at most 100 ms for other connections' read transactions (and
 * holds off writers that long); when they have not finished, the WAL is
 * left as it is, and the next call tries again. When the file was deleted
 * or replaced (spool_moved()) it does nothing: the WAL at the path then
 * holds what writers put into the new file. */
SPOOL_API spool_err spool_checkpoint(spool_t *s) SPOOL_WUR;

/* The library's version, "MAJOR.MINOR.PATCH". */
SPOOL_API const char *spool_version(void);
/* The version of the SQLite library in use, "3.40.1". */
SPOOL_API const char *spool_sqlite_version(void);

#ifdef __cplusplus
}
#endif
#endif
