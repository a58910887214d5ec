/*
 * Internals shared by the spool library's modules (spool.c, fold.c,
 * state.c). Not installed; hidden, so not exported from the installed
 * libraries. The library implements all three of its headers: the
 * writers' API (collector-spool.h), the agent's (spool-agent.h) and the
 * test hooks (spool-test.h).
 */
#ifndef SPOOL_INT_H
#define SPOOL_INT_H

#include <sqlite3.h>

#include "spool-test.h"

#define SPOOL_ERRMSG 1024
#define SPOOL_REJECTED_KEEP 10000 /* newest rejected rows kept */

/*
 * A refused body cut to SPOOL_REJECTED_BODY_KEEP bytes keeps its size and
 * hash at the end of its reason, in this form (written by fold.c, read
 * back by spool_rejected_each()); the rejected table needs no new column,
 * so the schema and older readers stay as they are:
 *   <reason> [body cut: <size> bytes, FNV-1a 64 <16 hex digits>; the first <kept> kept]
 */
#define SPOOL_CUT_MARK " [body cut: "
#define SPOOL_CUT_FMT SPOOL_CUT_MARK "%lld bytes, FNV-1a 64 %016llx; the first %zu kept]"

/* 64-bit FNV-1a of n bytes, the hash the rejected list gives a body. */
uint64_t spool_fnv1a64(const void *p, size_t n);

/* How many of the first keep bytes of s (len bytes) to keep so that no
 * UTF-8 character is split: len when len <= keep. */
size_t spool_cut_len(const char *s, size_t len, size_t keep);

struct spool {
	sqlite3 *db;
	char *path;
	int busy_ms;
	int in_batch;
	sqlite3_stmt *st_put;
	sqlite3_stmt *st_begin, *st_commit; /* prepared once: see tx_step() */
	int agent_fd;    /* holds spool_claim()'s lock, plus one; 0: none */
	int keep_wal;    /* close leaves the WAL: see keep_wal() in spool.c */
	size_t test_fail_after_rows; /* spool_test_fail_fold_after(); 0: off */
	char errmsg[SPOOL_ERRMSG];
};

/* Sets s->errmsg from a format; returns e, so callers can
 * `return spool_seterr(s, SPOOL_EPARSE, "...")`. */
spool_err spool_seterr(spool_t *s, spool_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Maps a SQLite result code to a spool_err and writes a message naming the
 * spool path, SQLite's own words, what was being done, and the fix. */
spool_err spool_sqlerr(spool_t *s, int rc, const char *doing);

/* Runs SQL that returns no rows. */
spool_err spool_exec(spool_t *s, const char *sql, const char *doing);

/* Validates a job name (non-empty, UTF-8, no control characters, bounded).
 * Returns NULL or a static reason. */
const char *spool_check_job(const char *job, size_t len);

/*
 * Parses a grouping string and writes its canonical form (labels sorted by
 * name, `k="v"` joined by commas) into out (cap bytes). Returns NULL or a
 * static reason.
 */
const char *spool_canon_grouping(const char *g, size_t len, char *out,
    size_t cap);

/* A decoded histogram state. Native buckets take up to 128 KiB: on the
 * heap (in a cursor, or the fold's scratch), not on a small stack. */
typedef struct spool_hist_buf {
	spool_hist_form form;
	size_t n;            /* classic bounds; 0 for native only */
	double bounds[SPOOL_MAX_BUCKETS];
	uint64_t counts[SPOOL_MAX_BUCKETS + 1]; /* native only: [0] = count */
	double sum;
	/* native and both; nh.pos and nh.neg point into pos and neg */
	spool_nhist nh;
	uint64_t nh_seen;    /* zero count plus the buckets' counts */
	nhist_bucket pos[SPOOL_NHIST_MAX_BUCKETS];
	nhist_bucket neg[SPOOL_NHIST_MAX_BUCKETS];
} spool_hist_buf;

/*
 * Parses a stored histogram (see fold.c, docs/spool.md):
 *   classic  "b=<bounds>;c=<counts>;s=<sum>"
 *   native   "n=<schema>;z=<zero threshold>;zc=<zero count>;k=<cap>;
 *             p=<index>:<count>,...;m=<index>:<count>,...;t=<count>;s=<sum>"
 *   both     the native head up to t=, then ";b=...;c=...;s=<sum>"
 * Strictly: whatever the fold could not have written is -1. Sets
 * out->nh.pos/neg to out's own arrays, so out must not be copied.
 * Returns 0, or -1 when the text is not one of these.
 */
int spool_hist_parse(const char *t, spool_hist_buf *out);

/* The text a native or both form starts with (the cursor asks for it). */
#define SPOOL_HIST_NATIVE_PREFIX "n="

/* Default histogram bounds (Prometheus' DefBuckets). */
extern const double spool_default_bounds[];
extern const size_t spool_default_nbounds;

#endif
