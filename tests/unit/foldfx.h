/* Helpers of the fold's unit tests (test_fold.c, test_fold_batch.c): rows
 * written with plain SQL, as a writer in another language would, and the
 * state read back. */
#ifndef FOLDFX_H
#define FOLDFX_H

#include "spoolfx.h"

#include <sqlite3.h>

/* Inserts a row with plain SQL; a NULL job or grouping stays NULL. */
static inline void
sql_insert(spool_t *s, const char *job, const char *grouping, const char *op,
    const char *body)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open(spool_path(s), &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO inbox(job, "
	    "grouping, op, body) VALUES (?, ?, ?, ?)", -1, &st, NULL),
	    SQLITE_OK);
	if (job)
		sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
	if (grouping)
		sqlite3_bind_text(st, 2, grouping, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, op, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, body, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* One value from a query on a separate connection; caller frees. */
static inline char *
query_text(spool_t *s, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *out = NULL;

	assert_int_equal(sqlite3_open(spool_path(s), &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static inline long long
query_int(spool_t *s, const char *sql)
{
	char *t = query_text(s, sql);
	long long v = t ? strtoll(t, NULL, 10) : -1;

	free(t);
	return v;
}

static inline double
value(spool_t *s, const char *job, const char *grouping, const char *name,
    const char *labels)
{
	double v = -12345;
	int found = 0;

	assert_int_equal(spool_series_value(s, job, grouping, name, labels, &v,
	    &found), SPOOL_OK);
	if (!found)
		fail_msg("no series %s{%s} in %s/%s", name, labels, job, grouping);
	return v;
}

static inline int
exists(spool_t *s, const char *job, const char *grouping, const char *name,
    const char *labels)
{
	double v;
	int found = 0;

	assert_int_equal(spool_series_value(s, job, grouping, name, labels, &v,
	    &found), SPOOL_OK);
	return found;
}

/* One spool_fold() call that must succeed. */
static inline spool_fold_result
fold_once(spool_t *s, const spool_fold_options *o)
{
	spool_fold_result r;

	if (spool_fold(s, o, &r) != SPOOL_OK)
		fail_msg("fold: %s", spool_errmsg(s));
	return r;
}

#endif
