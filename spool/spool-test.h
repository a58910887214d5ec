/*
 * Test hooks of the spool library, for the unit tests and the benchmarks:
 * read-backs of the state that the agent itself never needs, and a fault
 * to inject into the fold. Not installed, not exported from the installed
 * libraries (no SPOOL_API: see spool-agent.h).
 */
#ifndef SPOOL_TEST_H
#define SPOOL_TEST_H

#include "spool-agent.h"

/* The value of one series of a group, for tests and benchmarks. grouping
 * is the canonical form (sorted `k="v"` pairs); labels likewise. Sets
 * *found to 0 when there is no such series. NaN when the series holds
 * NaN. */
spool_err spool_series_value(spool_t *s, const char *job,
    const char *grouping, const char *name, const char *labels,
    double *value, int *found) SPOOL_WUR;

/* The callbacks of spool_group_read(). */
typedef struct spool_reader {
	/* Called once per family, before its samples; families in name
	 * order, each family's samples contiguous, ordered by name then
	 * labels. Return 0 to go on. All pointers borrowed until return. */
	int (*family)(const spool_family *f, void *arg);
	int (*sample)(const spool_family *f, const spool_sample *x, void *arg);
} spool_reader;

/*
 * Reads one group's whole state through callbacks, as spool_cursor_open()
 * and spool_cursor_next() do (the same snapshot, order and *version). A
 * callback that returns non-zero stops the read; the call then returns
 * SPOOL_OK with *stopped set to 1.
 */
spool_err spool_group_read(spool_t *s, int64_t group_id,
    const spool_reader *r, void *arg, int64_t *version, int *stopped)
    SPOOL_WUR;

/*
 * Makes the next spool_fold() on s that applies n rows fail there: it
 * writes what it applied, then returns SPOOL_EIO before committing, so a
 * test can see that the rollback undoes it all. It fires once; n 0
 * disarms it. A hook on the handle, not an option of spool_fold(), so
 * that no caller of the fold can set it by mistake.
 */
void spool_test_fail_fold_after(spool_t *s, size_t n);

#endif
