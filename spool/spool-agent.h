/*
 * The spool library's calls for the agent: the fold, the group state and
 * its cursors, what the agent records of its deliveries (pushed, parked,
 * deleted, the gateway's identity, the remote-write sets), its claim on the
 * spool and the idle checkpoint. collector-spool (its read-only open, its
 * `show` and `rejected --clear`), the tests and the benchmarks use them too.
 *
 * Not installed, and not exported from the installed libraries: the
 * declarations carry no SPOOL_API, so -fvisibility=hidden keeps them out
 * of libcollector-spool.so's dynamic symbols, and the installed .a is one
 * object whose hidden symbols are made local (see the Makefile). The agent
 * and collector-spool link the library's objects statically from the
 * build tree, so nothing outside the repository can come to depend on
 * these calls, and they change with the agent. The writers' API, which
 * every call here builds on, is collector-spool.h.
 */
#ifndef SPOOL_AGENT_H
#define SPOOL_AGENT_H

#include "collector-spool.h"
#include "nhist.h"

/*
 * Opens an existing spool for reading only, for a user who may read it but
 * not write it (monitoring): it never creates, migrates or writes anything,
 * neither the file nor its -wal and -shm. opts may be NULL (only its busy
 * timeout is used). A call that writes (spool_put(), ...) then fails.
 *
 * SQLite needs, for a WAL-mode file opened read-only, a -shm index it may
 * read, or one it may create. Creating one here would leave files of this
 * user's owner beside the spool, which could lock the agent out; so:
 *   - with a -wal beside the file, both the -wal and the -shm must exist and
 *     be readable (they do while the agent runs, and after any put); the
 *     -shm is opened read-only (SQLite's readonly_shm) and nothing is
 *     created;
 *   - with no -wal, everything is in the file: it is read as an immutable
 *     file (no locks, no WAL), a snapshot of the moment. A -wal that a
 *     writer makes while this opens is looked for again once the header is
 *     read: then the spool is opened the -wal's way instead (SPOOL_EBUSY,
 *     "run it again", when writers come and go through three tries). One
 *     made later, during the caller's reads, could see the file
 *     checkpointed under them: spool_moved() then sets *moved, with a
 *     message to run it again, so a reader calls it after its reads.
 * The -wal and -shm are looked for beside the file a symbolic link points
 * to, where SQLite keeps them; messages name the path as given.
 * Errors: a missing file or one that is not a spool yet (an empty file, a
 * writer's own inbox: SPOOL_ENOTSPOOL, since only a writer can make it
 * one); a file, -wal or -shm this user cannot read, or a -wal without its
 * -shm (SPOOL_ECREATE); errbuf says which file and what to do.
 */
spool_err spool_open_readonly(const char *path, const spool_options *opts,
    spool_t **out, char *errbuf, size_t errlen) SPOOL_WUR;

/*
 * Removes the rejected rows whose id is below before (all of them when
 * before is 0 or less), in one write transaction; *removed says how many.
 * rejected_total (rows ever rejected) is not changed.
 */
spool_err spool_rejected_clear(spool_t *s, int64_t before,
    int64_t *removed) SPOOL_WUR;

/* Sets the handle's page cache to kib KiB (SQLite's default is 2 MiB).
 * A reader of big groups keeps its memory flat with a small one. (A
 * function, not an option field, so that spool_options keeps its size.) */
spool_err spool_set_cache(spool_t *s, int kib) SPOOL_WUR;

/*
 * Is the file at the handle's path still the one it opened? *moved is 1
 * after the file was deleted, renamed or replaced (a long-running reader
 * would otherwise go on with the unlinked file, unseen by writers), or
 * when a -wal appeared beside one spool_open_readonly() read as immutable;
 * then spool_errmsg() says so and what to do.
 */
spool_err spool_moved(spool_t *s, int *moved) SPOOL_WUR;

/*
 * How `observe` rows of one family fold:
 *   classic — counts per configured bound (bounds/n; today's form);
 *   native  — Prometheus' native (sparse exponential) buckets only, at
 *             schema, with a zero bucket of |v| <= zero_threshold, and at
 *             most max_buckets buckets (positive and negative together):
 *             past it the schema is lowered by one, merging bucket pairs,
 *             as client_golang does (nhist_fit());
 *   both    — one series holding both forms (bounds/n for the classic
 *             part: n == 0 means the default bounds).
 * A series keeps the form, bounds, schema, zero threshold and cap it was
 * made with until it is deleted or replaced: a changed setting applies to
 * series made after it.
 */
typedef enum spool_hist_form {
	SPOOL_HIST_CLASSIC = 0,
	SPOOL_HIST_NATIVE,
	SPOOL_HIST_BOTH
} spool_hist_form;

/* Defaults of the native form: client_golang's bucket factor 1.1 (schema
 * 3, a relative error of at most 2^(1/8) - 1 = 9.05%), its default zero
 * threshold 2^-128, and the cap it suggests. */
#define SPOOL_NHIST_SCHEMA 3
#define SPOOL_NHIST_ZERO_THRESHOLD 2.938735877055719e-39
#define SPOOL_NHIST_MAX_BUCKETS_DEFAULT 160
/* The largest cap one family may set (spool_fold refuses more). */
#define SPOOL_NHIST_MAX_BUCKETS 4096

/* Histogram settings for `observe` on one metric family. */
typedef struct spool_buckets {
	const char *name;      /* family name */
	const double *bounds;  /* classic and both: strictly increasing,
	                        * finite; +Inf implied */
	size_t n;
	spool_hist_form form;
	int schema;            /* native and both: NHIST_SCHEMA_MIN…MAX */
	double zero_threshold; /* native and both: >= 0, finite */
	size_t max_buckets;    /* native and both: 1…SPOOL_NHIST_MAX_BUCKETS */
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
const char *spool_limit_name(spool_limit l);

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
	/* Limits; 0: none. A row that would take a count past one goes to
	 * the rejected list, its reason naming the agent's setting
	 * (limits.max_groups, ...) and the fix. What is folded already
	 * stays, and a row that only changes existing series is never
	 * refused by them, nor a replace that leaves its group no more
	 * series than it had. A delete request for a group the spool does
	 * not hold starts one, and counts as one. An observed histogram is
	 * one series. */
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
 * at its end (a delete request or a replace writes what came before it
 * first); see SPOOL_FOLD_ROWS for its size.
 * A row that does not parse goes to the rejected list with its reason and
 * does not stop the others.
 */
spool_err spool_fold(spool_t *s, const spool_fold_options *opts,
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
spool_err spool_get_usage(spool_t *s, spool_usage *out) SPOOL_WUR;

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
spool_err spool_groups_each(spool_t *s,
    int (*fn)(const spool_group *g, void *arg), void *arg) SPOOL_WUR;

/*
 * The native part of an observed histogram: its buckets as indices at
 * schema (nhist.h), each with its own count (not cumulative), in
 * ascending index, none of them 0.
 */
typedef struct spool_nhist {
	int schema;
	double zero_threshold;
	uint64_t zero_count;        /* observations with |v| <= zero_threshold */
	uint64_t count;             /* all observations, NaN included */
	size_t max_buckets;         /* the cap it keeps to */
	const nhist_bucket *pos;    /* v > zero_threshold */
	size_t npos;
	const nhist_bucket *neg;    /* v < -zero_threshold, by |v| */
	size_t nneg;
} spool_nhist;

/*
 * An observed histogram: counts per bucket (not cumulative), the last one
 * for +Inf. A native-only histogram has n == 0 and counts[0] == its count:
 * the text format shows it as le="+Inf", _sum and _count, as the
 * Pushgateway and client_golang do.
 */
typedef struct spool_hist {
	size_t n;                 /* finite bounds; counts has n + 1 */
	const double *bounds;
	const uint64_t *counts;
	double sum;
	const spool_nhist *native; /* the native part; NULL for classic */
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

/*
 * Reads one group's whole state, one sample at a time (for a sink that
 * streams), in one read transaction: a consistent snapshot.
 * spool_cursor_open() starts it and sets *version to the version that
 * snapshot holds, which is what spool_group_pushed() takes after a
 * successful push; a group that does not exist reads as empty with
 * *version 0. Families come in name order, each family's samples
 * contiguous, ordered by name then labels. Until spool_cursor_close() no
 * other call may use s. spool_cursor_next() sets *x to the next sample and
 * *f to its family (both borrowed until the next call), *new_family to 1 on
 * a family's first sample; at the end it returns SPOOL_OK with *x NULL.
 * close(NULL) is a no-op.
 */
typedef struct spool_cursor spool_cursor;
spool_err spool_cursor_open(spool_t *s, int64_t group_id,
    spool_cursor **out, int64_t *version) SPOOL_WUR;
spool_err spool_cursor_next(spool_cursor *c,
    const spool_family **f, const spool_sample **x, int *new_family)
    SPOOL_WUR;
void spool_cursor_close(spool_cursor *c);

/* Whether the snapshot a one-group cursor reads holds a native histogram
 * (a sink that can then sends the protobuf format, the only one that
 * carries them). Known from spool_cursor_open(); 0 on an all-groups
 * cursor. */
int spool_cursor_native(const spool_cursor *c);

/*
 * A cursor over every group at once (pull mode): families come in name
 * order, each family's groups in id order, so one family's samples are
 * contiguous across groups; *new_family is 1 only on the first sample of a
 * name. *f is the current group's family row (its type and HELP may differ
 * from another group's). spool_cursor_group() names the group of the
 * sample last returned: *job and *grouping (canonical) are borrowed until
 * the next spool_cursor_next(); on a one-group cursor they are NULL.
 */
spool_err spool_cursor_open_all(spool_t *s, spool_cursor **out)
    SPOOL_WUR;
void spool_cursor_group(const spool_cursor *c, int64_t *id,
    const char **job, const char **grouping);

/* Records that the gateway holds the group at version: pushed_version
 * rises to it (never falls) and the park reason is cleared. */
spool_err spool_group_pushed(spool_t *s, int64_t group_id,
    int64_t version) SPOOL_WUR;

/* Records the gateway's refusal (reason NULL clears it). */
spool_err spool_group_park(spool_t *s, int64_t group_id,
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
spool_err spool_group_deleted(spool_t *s, int64_t group_id,
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
spool_err spool_claim(spool_t *s, long *holder) SPOOL_WUR;

/*
 * Records the identity of the gateway the agent pushes to: any text that
 * changes when the gateway is restarted or replaced (its URL and start
 * time). When it differs from the identity recorded before, the gateway
 * may hold none of the groups: every group counts as never pushed, so that
 * all go again, and *changed is 1. The first identity a spool records
 * changes nothing. One transaction.
 */
spool_err spool_gateway_seen(spool_t *s, const char *identity,
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
spool_err spool_rw_sent_each(spool_t *s, const char *receiver,
    int (*fn)(const void *key, size_t len, void *arg), void *arg) SPOOL_WUR;

/*
 * Changes receiver's set in one transaction: removes the ndel keys of del,
 * then adds the nadd keys of add (a key in both ends up in the set; a key
 * already there or not there is no error). The arrays and keys stay the
 * caller's. When the set belonged to another receiver, it is emptied
 * first. A key of length 0 or a NULL argument (arrays may be NULL when
 * their count is 0) is SPOOL_EINVAL, and nothing is changed.
 */
spool_err spool_rw_sent_save(spool_t *s, const char *receiver,
    const spool_rw_key *add, size_t nadd, const spool_rw_key *del,
    size_t ndel) SPOOL_WUR;

/* Moves the WAL into the database file and truncates it; for idle times.
 * It waits at most 100 ms for other connections' read transactions (and
 * holds off writers that long); when they have not finished, the WAL is
 * left as it is, and the next call tries again. When the file was deleted
 * or replaced (spool_moved()) it does nothing: the WAL at the path then
 * holds what writers put into the new file. */
spool_err spool_checkpoint(spool_t *s) SPOOL_WUR;

#endif
