/* Opening the spool: creation, modes, schema version, migration from v0,
 * files that are not spools, locks; puts, batches, stats and rejects. */
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "spool-test.h"

static void
sql(const char *path, const char *q)
{
	sqlite3 *db;
	char *err = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, q, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", q, err);
	sqlite3_close(db);
}

static long long
sql_int(const char *path, const char *q)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	long long v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* The whole file, for checking that a refused file was not touched. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* One text value from a query on its own connection; caller frees. */
static char *
sql_text(const char *path, const char *q)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char *v = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		v = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_non_null(v);
	return v;
}

/* Asserts that the file at p is byte for byte what it was (before, n) and
 * that nothing was created beside it. */
static void
assert_untouched(const char *p, const char *before, size_t n)
{
	char side[600], *after;
	size_t n2;

	after = slurp(p, &n2);
	assert_int_equal(n, n2);
	assert_memory_equal(before, after, n);
	free(after);
	snprintf(side, sizeof(side), "%s-wal", p);
	assert_int_not_equal(access(side, F_OK), 0);
	snprintf(side, sizeof(side), "%s-journal", p);
	assert_int_not_equal(access(side, F_OK), 0);
}

/* Opening p must be refused with want, the message holding each of the
 * words (NULL ends them), and leave the file byte for byte as it was, with
 * nothing created beside it. */
static void
refused_untouched(const char *p, spool_err want, ...)
{
	char err[512], *before;
	const char *w;
	spool_t *s;
	size_t n;
	va_list ap;

	before = slurp(p, &n);
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), want);
	va_start(ap, want);
	while ((w = va_arg(ap, const char *)) != NULL)
		if (strstr(err, w) == NULL)
			fail_msg("%s: no '%s' in: %s", p, w, err);
	va_end(ap);
	assert_untouched(p, before, n);
	free(before);
}

/* Folds n times, whether or not rows are left: a row that the fold never
 * removes is counted once more by each. */
static void
fold_times(spool_t *s, int n)
{
	spool_fold_result r;

	for (int i = 0; i < n; i++)
		if (spool_fold(s, NULL, &r) != SPOOL_OK)
			fail_msg("fold %d: %s", i, spool_errmsg(s));
}

/* The value of a series that must exist. */
static double
value(spool_t *s, const char *job, const char *grouping, const char *name)
{
	double v = -12345;
	int found = 0;

	assert_int_equal(spool_series_value(s, job, grouping, name, "", &v,
	    &found), SPOOL_OK);
	if (!found)
		fail_msg("no series %s in %s/%s", name, job, grouping);
	return v;
}

static int64_t
pending(spool_t *s)
{
	spool_stats st;

	assert_int_equal(spool_get_stats(s, &st), SPOOL_OK);
	return st.pending_rows;
}

/* Opens the v0 file p made by a writer with create, or fails the test. */
static spool_t *
adopt(const char *p, const char *create)
{
	char err[512];
	spool_t *s;

	sql(p, create);
	assert_int_equal(sql_int(p, "PRAGMA user_version"), 0);
	if (spool_open(p, NULL, &s, err, sizeof(err)) != SPOOL_OK)
		fail_msg("open %s: %s", p, err);
	assert_int_equal(sql_int(p, "PRAGMA user_version"), 1);
	return s;
}

static void
test_create(void **state)
{
	char *p = tu_path(tu_dir, "new.db"), err[512], wal[600];
	spool_t *s;
	struct stat st;
	mode_t old = umask(0);

	(void)state;
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	umask(old);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_SET, "x 1", 3),
	    SPOOL_OK);
	/* SQLite gives the WAL the database file's mode. */
	snprintf(wal, sizeof(wal), "%s-wal", p);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	spool_close(s);
	assert_int_equal(sql_int(p, "PRAGMA user_version"), 1);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 1);
	assert_int_equal(sql_int(p, "SELECT journal_mode = 'wal' FROM "
	    "pragma_journal_mode"), 1);
	/* Opening again is a no-op on the schema. */
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	spool_close(s);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 1);
	free(p);
}

static void
test_umask_respected(void **state)
{
	char *p = tu_path(tu_dir, "umask.db"), err[512];
	spool_t *s;
	struct stat st;
	mode_t old = umask(027);

	(void)state;
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	umask(old);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	spool_close(s);
	free(p);
}

static void
test_cannot_create(void **state)
{
	char *p = tu_path(tu_dir, "no/such/dir/spool.db"), err[512];
	spool_t *s = (spool_t *)1;

	(void)state;
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)),
	    SPOOL_ECREATE);
	assert_null(s);
	assert_non_null(strstr(err, "cannot create spool"));
	assert_non_null(strstr(err, "No such file or directory"));
	free(p);
	assert_int_equal(spool_open(tu_dir, NULL, &s, err, sizeof(err)),
	    SPOOL_ECREATE);
	assert_non_null(strstr(err, "is a directory"));
	assert_int_equal(spool_open("", NULL, &s, err, sizeof(err)),
	    SPOOL_EINVAL);
}

static void
test_not_sqlite_untouched(void **state)
{
	char *p = tu_path(tu_dir, "text.db");
	const char text[] = "this is not a database, it is a text file that "
	    "somebody pointed the spool at by mistake\n";

	(void)state;
	write_file(p, text, sizeof(text) - 1);
	refused_untouched(p, SPOOL_ENOTSPOOL, "is not a SQLite database",
	    "left untouched", (char *)NULL);
	free(p);
}

static void
test_truncated(void **state)
{
	char *p = tu_path(tu_dir, "trunc.db"), err[512], *before, *after;
	spool_t *s;
	size_t n1, n2;
	spool_err e;

	(void)state;
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	for (int i = 0; i < 200; i++)
		assert_int_equal(spool_put(s, "j", "", SPOOL_OP_SET,
		    "a_long_metric_name_to_fill_pages{label=\"value\"} 1", 49),
		    SPOOL_OK);
	spool_close(s);
	sql(p, "PRAGMA wal_checkpoint(TRUNCATE)");
	/* Keep the header, lose the rest: SQLite sees a damaged file. */
	assert_int_equal(truncate(p, 100), 0);
	before = slurp(p, &n1);
	e = spool_open(p, NULL, &s, err, sizeof(err));
	if (e == SPOOL_OK) {
		e = spool_put(s, "j", "", SPOOL_OP_SET, "x 1", 3);
		snprintf(err, sizeof(err), "%s", spool_errmsg(s));
		spool_close(s);
	}
	assert_true(e == SPOOL_ECORRUPT || e == SPOOL_ENOTSPOOL);
	assert_non_null(strstr(err, p));
	after = slurp(p, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);
	free(before);
	free(after);
	free(p);
}

static void
test_newer_schema(void **state)
{
	char *p = tu_path(tu_dir, "newer.db");

	(void)state;
	sql(p, "CREATE TABLE inbox(job, grouping, op, body); "
	    "PRAGMA user_version=99");
	refused_untouched(p, SPOOL_ENEWER, "schema version 99", "upgrade",
	    (char *)NULL);
	assert_int_equal(sql_int(p, "PRAGMA user_version"), 99);
	assert_int_equal(sql_int(p, "SELECT journal_mode = 'delete' FROM "
	    "pragma_journal_mode"), 1);
	free(p);
}

static void
test_foreign_database(void **state)
{
	char *p = tu_path(tu_dir, "app.db");

	(void)state;
	sql(p, "CREATE TABLE users(id, name); INSERT INTO users VALUES (1, 'a')");
	refused_untouched(p, SPOOL_ENOTSPOOL, "not a collector spool",
	    (char *)NULL);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM sqlite_master"), 1);
	assert_int_equal(sql_int(p, "SELECT journal_mode = 'delete' FROM "
	    "pragma_journal_mode"), 1);
	free(p);
}

/* Version 0: a writer created the inbox itself, before any agent ran. */
static void
test_migrate_v0(void **state)
{
	char *p = tu_path(tu_dir, "v0.db"), err[512];
	spool_t *s;
	spool_fold_result r;
	spool_stats st;
	double v;
	int found;

	(void)state;
	sql(p, "CREATE TABLE inbox(job TEXT, grouping TEXT, op TEXT, body TEXT);"
	    "INSERT INTO inbox VALUES ('j', '', 'add', 'c 2');"
	    "INSERT INTO inbox VALUES ('j', '', 'add', 'c 3');"
	    "INSERT INTO inbox VALUES ('j', '', 'set', 'g 7')");
	assert_int_equal(sql_int(p, "PRAGMA user_version"), 0);
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(sql_int(p, "PRAGMA user_version"), 1);
	assert_int_equal(spool_get_stats(s, &st), SPOOL_OK);
	assert_int_equal(st.pending_rows, 3);
	/* New rows still get their time from the column default. */
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_ADD, "c 5", 3),
	    SPOOL_OK);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox WHERE "
	    "received_ms > 1700000000000"), 1);
	assert_int_equal(spool_fold(s, NULL, &r), SPOOL_OK);
	assert_int_equal(r.rows, 4);
	assert_int_equal(spool_series_value(s, "j", "", "c", "", &v, &found),
	    SPOOL_OK);
	assert_true(found && v == 10);
	assert_int_equal(spool_series_value(s, "j", "", "g", "", &v, &found),
	    SPOOL_OK);
	assert_true(found && v == 7);
	spool_close(s);
	free(p);
}

static void
test_migrate_v0_empty_file(void **state)
{
	char *p = tu_path(tu_dir, "empty.db"), err[512];
	spool_t *s;

	(void)state;
	write_file(p, "", 0);
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	spool_close(s);
	assert_int_equal(sql_int(p, "PRAGMA user_version"), 1);
	free(p);
}

static void
test_v0_inbox_missing_column(void **state)
{
	char *p = tu_path(tu_dir, "v0bad.db");

	(void)state;
	sql(p, "CREATE TABLE inbox(job TEXT, body TEXT)");
	/* Refused before anything is written: not even the WAL switch. */
	refused_untouched(p, SPOOL_ENOTSPOOL, "without a 'grouping' column",
	    (char *)NULL);
	free(p);
}

/*
 * A writer's own inbox, in the shapes docs/spool.md allows, must be adopted
 * so that each row counts exactly once however many times the fold runs.
 * With an id that is not the rowid, the fold used to leave the row in the
 * inbox and count it again in every batch.
 */
static void
test_adopt_null_id(void **state)
{
	char *p = tu_path(tu_dir, "nullid.db");
	spool_t *s;

	(void)state;
	s = adopt(p, "CREATE TABLE inbox(id INTEGER, job, grouping, op, body,"
	    " received_ms); INSERT INTO inbox VALUES (NULL, 'j6', 'g=\"1\"', "
	    "'add', 'c6_total 1', 0)");
	fold_times(s, 5);
	assert_true(value(s, "j6", "g=\"1\"", "c6_total") == 1);
	assert_int_equal(pending(s), 0);
	/* The stable INSERT and the library still write to it. */
	sql(p, "INSERT INTO inbox(job, grouping, op, body) VALUES ('j6', "
	    "'g=\"1\"', 'add', 'c6_total 1')");
	assert_int_equal(spool_put(s, "j6", "g=\"1\"", SPOOL_OP_ADD,
	    "c6_total 1", 10), SPOOL_OK);
	fold_times(s, 5);
	assert_true(value(s, "j6", "g=\"1\"", "c6_total") == 3);
	assert_int_equal(pending(s), 0);
	spool_close(s);
	free(p);
}

/*
 * Inboxes of other shapes, each with a few rows: what the fold must make of
 * them (c_total and g in job "j", the default grouping; g < 0: no such
 * series), however many times it runs; then a row by the stable INSERT
 * counts once more.
 */
static const struct adopt_case {
	const char *file, *why, *create;
	double c_total, g;
} adopt_cases[] = {
	{"textid.db", "an id that is text",
	    "CREATE TABLE inbox(id TEXT PRIMARY KEY, job, grouping, op, body, "
	    "received_ms);"
	    "INSERT INTO inbox VALUES ('b', 'j', '', 'add', 'c_total 1', 0);"
	    "INSERT INTO inbox VALUES ('a', 'j', '', 'add', 'c_total 2', 0)",
	    3, -1},
	/* The fold used to fail on every batch. */
	{"noid.db", "no id column at all",
	    "CREATE TABLE inbox(job, grouping, op, body, received_ms);"
	    "INSERT INTO inbox VALUES ('j', '', 'add', 'c_total 1', 0);"
	    "INSERT INTO inbox VALUES ('j', '', 'set', 'g 4', 0)",
	    1, 4},
	/* The same table to SQL, and to the writers' INSERT. */
	{"case.db", "the table's name in other letters",
	    "CREATE TABLE Inbox(Job, Grouping, Op, Body);"
	    "INSERT INTO Inbox VALUES ('j', '', 'add', 'c_total 1')",
	    1, -1},
	/* No insertion order but its key: rows go in id order. It refused
	 * the stable INSERT (its key cannot be NULL); ours takes it. */
	{"norowid.db", "a WITHOUT ROWID table",
	    "CREATE TABLE inbox(id INTEGER PRIMARY KEY, job, grouping,"
	    " op, body) WITHOUT ROWID;"
	    "INSERT INTO inbox VALUES (2, 'j', '', 'set', 'g 2');"
	    "INSERT INTO inbox VALUES (1, 'j', '', 'set', 'g 1');"
	    "INSERT INTO inbox VALUES (3, 'j', '', 'add', 'c_total 1')",
	    1, 2},
};

static void
assert_adopted(spool_t *s, const struct adopt_case *c, double c_total)
{
	double v = -12345;
	int found = 0;

	if (value(s, "j", "", "c_total") != c_total)
		fail_msg("%s: c_total %g, want %g", c->why,
		    value(s, "j", "", "c_total"), c_total);
	assert_int_equal(spool_series_value(s, "j", "", "g", "", &v, &found),
	    SPOOL_OK);
	if (c->g >= 0 ? !found || v != c->g : found)
		fail_msg("%s: g %s %g, want %g", c->why, found ? "" : "absent",
		    v, c->g);
	if (pending(s) != 0)
		fail_msg("%s: %lld rows left", c->why, (long long)pending(s));
}

static void
test_adopt_shapes(void **state)
{
	(void)state;
	for (size_t i = 0; i < TU_N(adopt_cases); i++) {
		const struct adopt_case *c = &adopt_cases[i];
		char *p = tu_path(tu_dir, c->file);
		spool_t *s = adopt(p, c->create);

		fold_times(s, 5);
		assert_adopted(s, c, c->c_total);
		sql(p, "INSERT INTO inbox(job, grouping, op, body) VALUES "
		    "('j', '', 'add', 'c_total 1')");
		fold_times(s, 3);
		assert_adopted(s, c, c->c_total + 1);
		spool_close(s);
		free(p);
	}
}

/* Repeated and NULL ids, columns of the writer's own (one NOT NULL, which
 * would refuse the stable INSERT), rows kept in the order they were
 * inserted, not in id order. */
static void
test_adopt_duplicate_ids_extra_columns(void **state)
{
	char *p = tu_path(tu_dir, "dupid.db"), *ids;
	spool_t *s;

	(void)state;
	s = adopt(p, "CREATE TABLE inbox(id INTEGER, job, grouping, op, body, "
	    "note TEXT NOT NULL);"
	    "INSERT INTO inbox VALUES (7, 'j', '', 'add', 'c_total 1', 'x');"
	    "INSERT INTO inbox VALUES (7, 'j', '', 'add', 'c_total 1', 'y');"
	    "INSERT INTO inbox VALUES (NULL, 'j', '', 'add', 'c_total 1', 'z');"
	    "INSERT INTO inbox VALUES (9, 'j', '', 'set', 'g 1', 'a');"
	    "INSERT INTO inbox VALUES (3, 'j', '', 'set', 'g 2', 'b')");
	ids = sql_text(p, "SELECT group_concat(id) || ':' || group_concat(body,"
	    " '|') FROM (SELECT id, body FROM inbox ORDER BY id)");
	assert_string_equal(ids, "1,2,3,4,5:c_total 1|c_total 1|c_total 1|"
	    "g 1|g 2");
	free(ids);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM "
	    "pragma_table_info('inbox') WHERE name = 'note'"), 0);
	fold_times(s, 5);
	assert_true(value(s, "j", "", "c_total") == 3);
	assert_true(value(s, "j", "", "g") == 2);
	assert_int_equal(pending(s), 0);
	sql(p, "INSERT INTO inbox(job, grouping, op, body) VALUES ('j', '', "
	    "'add', 'c_total 1')");
	fold_times(s, 3);
	assert_true(value(s, "j", "", "c_total") == 4);
	spool_close(s);
	free(p);
}

/* received_ms is kept when it is a time in ms up to now, else 0. */
static void
test_adopt_received_ms(void **state)
{
	char *p = tu_path(tu_dir, "received.db"), *got;
	spool_t *s;

	(void)state;
	s = adopt(p, "CREATE TABLE inbox(job, grouping, op, body, received_ms);"
	    "INSERT INTO inbox VALUES ('j', '', 'add', 'c 1', 1732500000000);"
	    "INSERT INTO inbox VALUES ('j', '', 'add', 'c 1', 'soon');"
	    "INSERT INTO inbox VALUES ('j', '', 'add', 'c 1', 1732500000);"
	    "INSERT INTO inbox VALUES ('j', '', 'add', 'c 1', 99999999999999);"
	    "INSERT INTO inbox VALUES ('j', '', 'add', 'c 1', NULL);"
	    "INSERT INTO inbox VALUES ('j', '', 'add', 'c 1', 1732500000000.5);"
	    "INSERT INTO inbox VALUES ('j', '', 'add', 'c 1', -5)");
	got = sql_text(p, "SELECT group_concat(received_ms) FROM (SELECT "
	    "received_ms FROM inbox ORDER BY id)");
	assert_string_equal(got, "1732500000000,0,0,0,0,0,0");
	free(got);
	fold_times(s, 3);
	assert_true(value(s, "j", "", "c") == 7);
	assert_int_equal(sql_int(p, "SELECT last_row_ms FROM groups"),
	    1732500000000LL);
	spool_close(s);
	free(p);
}

/* An inbox that is a view: INSERTs go wherever its triggers send them, so
 * there is nothing to fold; refused, and the file left as it was. */
static void
test_v0_inbox_view(void **state)
{
	char *p = tu_path(tu_dir, "view.db");

	(void)state;
	sql(p, "CREATE VIEW inbox AS SELECT 'j' AS job, '' AS grouping, "
	    "'add' AS op, 'c 1' AS body");
	refused_untouched(p, SPOOL_ENOTSPOOL,
	    "has an inbox that is a view, not a table", "left untouched", p,
	    (char *)NULL);
	free(p);
}

/* A symbolic link at the spool path is followed only to a spool: making
 * one through it would write whatever file the link names. */
static void
test_symlink(void **state)
{
	char *link = tu_path(tu_dir, "link.db");
	char *target = tu_path(tu_dir, "t.db");
	char err[512];
	spool_t *s;

	(void)state;
	write_file(target, "", 0);
	assert_int_equal(symlink("t.db", link), 0);
	assert_int_equal(spool_open(link, NULL, &s, err, sizeof(err)),
	    SPOOL_ENOTSPOOL);
	assert_non_null(strstr(err, "is a symbolic link to t.db, which is "
	    "not a collector spool yet; both were left untouched"));
	assert_untouched(target, "", 0);

	assert_int_equal(unlink(target), 0);
	assert_int_equal(spool_open(link, NULL, &s, err, sizeof(err)),
	    SPOOL_ENOTSPOOL);
	assert_non_null(strstr(err, "which does not exist; nothing was "
	    "created"));
	assert_int_not_equal(access(target, F_OK), 0);

	/* Once the target is a spool, the link leads to it. */
	assert_int_equal(spool_open(target, NULL, &s, err, sizeof(err)),
	    SPOOL_OK);
	spool_close(s);
	assert_int_equal(spool_open(link, NULL, &s, err, sizeof(err)),
	    SPOOL_OK);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_SET, "x 1", 3),
	    SPOOL_OK);
	spool_close(s);
	assert_int_equal(sql_int(target, "SELECT count(*) FROM inbox"), 1);
	free(target);
	free(link);
}

static void
test_locked(void **state)
{
	char *p = tu_path(tu_dir, "locked.db"), err[512];
	spool_options o = { 0, 100 };
	spool_t *s;
	sqlite3 *db;

	(void)state;
	assert_int_equal(spool_open(p, &o, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_SET, "x 1", 3),
	    SPOOL_EBUSY);
	assert_non_null(strstr(spool_errmsg(s), "is locked by another process"));
	assert_non_null(strstr(spool_errmsg(s), "waited 100 ms"));
	assert_int_equal(spool_batch_begin(s), SPOOL_EBUSY);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	/* Once the lock is gone the same handle works. */
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_SET, "x 1", 3),
	    SPOOL_OK);
	spool_close(s);
	free(p);
}

static void
test_put_refuses(void **state)
{
	char *p = tu_path(tu_dir, "put.db"), err[512];
	spool_t *s;

	(void)state;
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_SET, "ok 1\nx 1 2\n",
	    11), SPOOL_EPARSE);
	assert_string_equal(spool_errmsg(s), "line 2: timestamps are not "
	    "allowed (the Pushgateway rejects them)");
	assert_int_equal(spool_put(s, "", "", SPOOL_OP_SET, "x 1", 3),
	    SPOOL_EPARSE);
	assert_string_equal(spool_errmsg(s), "job: job must not be empty");
	assert_int_equal(spool_put(s, "j", "a=1", SPOOL_OP_SET, "x 1", 3),
	    SPOOL_EPARSE);
	assert_string_equal(spool_errmsg(s), "grouping: expected '\"' to open "
	    "label value");
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_DELETE, "x 1", 3),
	    SPOOL_EPARSE);
	spool_close(s);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 0);
	free(p);
}

static void
test_batch(void **state)
{
	char *p = tu_path(tu_dir, "batch.db"), err[512];
	spool_t *s;

	(void)state;
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_batch_begin(s), SPOOL_OK);
	assert_int_equal(spool_batch_begin(s), SPOOL_EINVAL);
	for (int i = 0; i < 100; i++)
		assert_int_equal(spool_put(s, "j", "", SPOOL_OP_ADD, "c 1", 3),
		    SPOOL_OK);
	/* A bad put inside the batch leaves the batch open. */
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_ADD, "c", 1),
	    SPOOL_EPARSE);
	/* Uncommitted rows are invisible to others. */
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 0);
	spool_batch_rollback(s);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 0);
	assert_int_equal(spool_batch_commit(s), SPOOL_EINVAL);
	assert_int_equal(spool_batch_begin(s), SPOOL_OK);
	for (int i = 0; i < 100; i++)
		assert_int_equal(spool_put(s, "j", "", SPOOL_OP_ADD, "c 1", 3),
		    SPOOL_OK);
	assert_int_equal(spool_batch_commit(s), SPOOL_OK);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 100);
	/* close() rolls back an open batch. */
	assert_int_equal(spool_batch_begin(s), SPOOL_OK);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_ADD, "c 1", 3),
	    SPOOL_OK);
	spool_close(s);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 100);
	free(p);
}

static int
count_rejected(const spool_rejected *r, void *arg)
{
	int *n = arg;

	if (*n == 0) {
		assert_string_equal(r->job, "j");
		assert_null(r->grouping);
		assert_string_equal(r->op, "set");
		assert_string_equal(r->body, "x 1 2");
		assert_string_equal(r->reason, "line 1: timestamps are not "
		    "allowed (the Pushgateway rejects them)");
		assert_true(r->received_ms > 1700000000000LL);
		assert_true(r->rejected_ms >= r->received_ms);
	}
	(*n)++;
	return 0;
}

/*
 * A VFS around the default one that fails like a disk on demand: while
 * fail_sync is set, xSync of any file returns SQLITE_IOERR_FSYNC (as an
 * fsync that returns EIO does); while fail_read is set, xRead returns
 * SQLITE_IOERR_READ and xFetch maps nothing, so that reads go to xRead;
 * while fail_write is set, xWrite writes nothing and returns SQLITE_FULL,
 * as a write of the os layer that came up short on a full disk does.
 * Registered as the default, so spool_open() uses it.
 */
static int fail_sync, fail_read, fail_write;
/* What the files went through since shim_register(): syncs of any file,
 * files deleted. */
static int n_sync, n_delete;
static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;

typedef struct shim_file {
	sqlite3_file base;
	sqlite3_file *real; /* the default VFS's file, right after this */
} shim_file;

#define REAL(f) (((shim_file *)(f))->real)

static int
shim_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int
shim_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	if (fail_read)
		return SQLITE_IOERR_READ;
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int
shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	if (fail_write)
		return SQLITE_FULL;
	return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int
shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
shim_sync(sqlite3_file *f, int flags)
{
	n_sync++;
	if (fail_sync)
		return SQLITE_IOERR_FSYNC;
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
shim_lock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int
shim_unlock(sqlite3_file *f, int lock)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int
shim_check_lock(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
shim_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
shim_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
shim_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
shim_shm_map(sqlite3_file *f, int pg, int pgsz, int extend,
    void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, pgsz, extend, pp);
}

static int
shim_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void
shim_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
shim_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int
shim_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	if (fail_read) {
		*pp = NULL;
		return SQLITE_OK;
	}
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int
shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_io = {
	3, shim_close, shim_read, shim_write, shim_truncate, shim_sync,
	shim_file_size, shim_lock, shim_unlock, shim_check_lock, shim_fcntl,
	shim_sector, shim_devchar, shim_shm_map, shim_shm_lock,
	shim_shm_barrier, shim_shm_unmap, shim_fetch, shim_unfetch
};

static int
shim_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f,
    int flags, int *out)
{
	shim_file *sf = (shim_file *)f;
	int rc;

	(void)vfs;
	sf->real = (sqlite3_file *)(sf + 1);
	sf->real->pMethods = NULL;
	rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out);
	/* SQLite calls xClose whenever pMethods is set, even after a
	 * failed open. */
	if (sf->real->pMethods != NULL)
		assert_true(sf->real->pMethods->iVersion >= 3);
	sf->base.pMethods = sf->real->pMethods ? &shim_io : NULL;
	return rc;
}

static int
shim_delete(sqlite3_vfs *vfs, const char *name, int dirsync)
{
	(void)vfs;
	n_delete++;
	return real_vfs->xDelete(real_vfs, name, dirsync);
}

/* Every other method is the default VFS's own, which does not use the
 * sqlite3_vfs it is given beyond xOpen and xDelete. */
static void
shim_register(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	assert_non_null(real_vfs);
	shim_vfs = *real_vfs;
	shim_vfs.zName = "failshim";
	shim_vfs.szOsFile = (int)sizeof(shim_file) + real_vfs->szOsFile;
	shim_vfs.xOpen = shim_open;
	shim_vfs.xDelete = shim_delete;
	assert_int_equal(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);
	fail_sync = fail_read = fail_write = 0;
	n_sync = n_delete = 0;
}

/* A teardown, so that a failed test does not leave the shim in place. */
static int
shim_unregister(void **state)
{
	(void)state;
	fail_sync = fail_read = fail_write = 0;
	if (real_vfs != NULL)
		sqlite3_vfs_unregister(&shim_vfs);
	real_vfs = NULL;
	return 0;
}

/* Copies a file, as a crash would leave it on disk (fsync aside). */
static void
copy_file(const char *from, const char *to)
{
	size_t n;
	char *data = slurp(from, &n);

	write_file(to, data, n);
	free(data);
}

/*
 * A commit whose fsync fails: the row may already be in the WAL, so the
 * put's outcome is unknown, and the error must say so rather than look
 * like "nothing was written" (a writer that retries an add after that
 * counts it twice).
 */
static void
test_put_commit_fails(void **state)
{
	char *p = tu_path(tu_dir, "fsync.db"), *c = tu_path(tu_dir, "crash.db");
	char err[512], wal[600], cwal[600];
	spool_options o = { 1, 0 };
	spool_t *s;
	spool_err e;

	(void)state;
	shim_register();
	assert_int_equal(spool_open(p, &o, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_ADD, "c_total 1", 9),
	    SPOOL_OK);
	fail_sync = 1;
	e = spool_put(s, "j", "", SPOOL_OP_ADD, "c_total 1", 9);
	fail_sync = 0;
	assert_int_equal(e, SPOOL_EUNKNOWN);
	assert_int_equal(spool_exit_status(e), 71);
	assert_string_equal(spool_strerror(e), "outcome unknown: the write may "
	    "or may not have been committed");
	assert_non_null(strstr(spool_errmsg(s), p));
	assert_non_null(strstr(spool_errmsg(s), "outcome unknown"));
	assert_non_null(strstr(spool_errmsg(s), "add or observe row again "
	    "could count it twice"));
	assert_non_null(strstr(spool_errmsg(s), "set and delete rows are safe"));

	/* Why "unknown": the failed commit is whole in the WAL. The files as
	 * a crash now would leave them, opened anew (SQLite recovers the
	 * WAL), hold the row. */
	snprintf(wal, sizeof(wal), "%s-wal", p);
	snprintf(cwal, sizeof(cwal), "%s-wal", c);
	copy_file(p, c);
	copy_file(wal, cwal);
	assert_int_equal(sql_int(c, "SELECT count(*) FROM inbox"), 2);

	/* The same for a batch's commit; the batch is over afterwards. */
	assert_int_equal(spool_batch_begin(s), SPOOL_OK);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_ADD, "c_total 1", 9),
	    SPOOL_OK);
	fail_sync = 1;
	e = spool_batch_commit(s);
	fail_sync = 0;
	assert_int_equal(e, SPOOL_EUNKNOWN);
	assert_non_null(strstr(spool_errmsg(s), "outcome unknown"));
	assert_int_equal(spool_batch_begin(s), SPOOL_OK);
	spool_batch_rollback(s);

	/* With the disk well again, the handle goes on writing. */
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_SET, "g 1", 3),
	    SPOOL_OK);
	spool_close(s);
	free(c);
	free(p);
}

/* An I/O error before the commit still means nothing was written: the
 * old error (74), not "unknown"; so does a full disk at the commit. */
static void
test_put_fails_before_commit(void **state)
{
	char *p = tu_path(tu_dir, "eread.db"), err[512];
	spool_options o = { 1, 0 };
	spool_t *s;
	spool_err e;

	(void)state;
	shim_register();
	assert_int_equal(spool_open(p, &o, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_ADD, "c_total 1", 9),
	    SPOOL_OK);
	/* Another process writes, so this handle must read the file again
	 * for its next transaction; that read fails. */
	sql(p, "INSERT INTO inbox(job, grouping, op, body) VALUES ('j', '', "
	    "'add', 'c_total 1')");
	fail_read = 1;
	e = spool_put(s, "j", "", SPOOL_OP_ADD, "c_total 1", 9);
	fail_read = 0;
	assert_int_equal(e, SPOOL_EIO);
	assert_int_equal(spool_exit_status(e), 74);
	assert_non_null(strstr(spool_errmsg(s), "disk I/O error"));
	assert_null(strstr(spool_errmsg(s), "unknown"));
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 2);

	/* A full disk at the commit: the WAL write came up short, so the
	 * commit's last frame is not whole and nothing counts. */
	fail_write = 1;
	e = spool_put(s, "j", "", SPOOL_OP_ADD, "c_total 1", 9);
	fail_write = 0;
	assert_int_equal(e, SPOOL_EFULL);
	assert_non_null(strstr(spool_errmsg(s), "file system is full while "
	    "committing a row; nothing was written"));
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 2);

	/* In a batch: the write of another process again makes the put
	 * read; its I/O error rolls the whole batch back, and the commit
	 * then says that nothing was written, not "unknown". */
	sql(p, "INSERT INTO inbox(job, grouping, op, body) VALUES ('j', '', "
	    "'add', 'c_total 1')");
	assert_int_equal(spool_batch_begin(s), SPOOL_OK);
	fail_read = 1;
	e = spool_put(s, "j", "", SPOOL_OP_ADD, "c_total 1", 9);
	fail_read = 0;
	assert_int_equal(e, SPOOL_EIO);
	assert_int_equal(spool_batch_commit(s), SPOOL_EIO);
	assert_non_null(strstr(spool_errmsg(s), "nothing was written"));
	assert_int_equal(spool_batch_begin(s), SPOOL_OK);
	spool_batch_rollback(s);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 3);
	spool_close(s);
	free(p);
}

/* The size of path's -wal file; -1 when there is none. */
static long long
wal_size(const char *path)
{
	char wal[600];
	struct stat st;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	return stat(wal, &st) == 0 ? (long long)st.st_size : -1;
}

/* One writer's whole life: open, one put, close. */
static void
put_once(const char *p, const spool_options *o)
{
	char err[512];
	spool_t *s;

	assert_int_equal(spool_open(p, o, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_ADD,
	    "a_counter_with_a_longer_name_total{path=\"/api/v1/items\"} 1\n",
	    58), SPOOL_OK);
	spool_close(s);
}

/*
 * A writer that is the spool's only user leaves the WAL and its index in
 * place: no checkpoint at its close, so no fsync at all with
 * synchronous=NORMAL, and no file deleted (which the next writer would
 * create again). With FULL, the one fsync is the commit's own. The rows
 * are in the WAL, which the next open reads. The agent's handle (it
 * claims the spool) still checkpoints and removes the WAL as the last
 * user.
 */
static void
test_writer_close_keeps_wal(void **state)
{
	char *p = tu_path(tu_dir, "keepwal.db"), err[512], shm[600];
	spool_options full = { 1, 0 };
	spool_t *s;
	long holder;

	(void)state;
	shim_register();
	put_once(p, NULL);
	assert_true(wal_size(p) > 0);
	n_sync = n_delete = 0;
	put_once(p, NULL);
	assert_int_equal(n_sync, 0);
	assert_int_equal(n_delete, 0);
	put_once(p, &full);
	assert_int_equal(n_sync, 1);
	assert_int_equal(n_delete, 0);
	assert_true(wal_size(p) > 0);
	/* A reader that is not ours (the sqlite3 shell's library) closes as
	 * the last user: SQLite's own checkpoint moves the rows in. */
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 3);
	assert_int_equal(wal_size(p), -1);

	/* Side files that another user of the spool might not open (not the
	 * database's mode or group) are not left behind: the last user's
	 * close checkpoints and removes them, as SQLite's does. */
	put_once(p, NULL);
	assert_true(wal_size(p) > 0);
	assert_int_equal(chmod(p, 0600), 0);
	put_once(p, NULL);
	assert_int_equal(wal_size(p), -1);
	snprintf(shm, sizeof(shm), "%s-shm", p);
	assert_int_not_equal(access(shm, F_OK), 0);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 5);

	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_claim(s, &holder), SPOOL_OK);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_SET, "g 1", 3),
	    SPOOL_OK);
	assert_true(wal_size(p) > 0);
	spool_close(s);
	assert_int_equal(wal_size(p), -1);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 6);
	free(p);
}

/*
 * Many writers, one after another, none overlapping and no agent: the WAL
 * stays bounded. SQLite's automatic checkpoint alone would not keep it so
 * (the index rebuilt by each open forgets what was checkpointed), so a
 * writer that closes as the only user trims a WAL past 256 KiB
 * (WAL_TRIM_BYTES in spool.c). While another process has the spool open,
 * writers leave the WAL to it; the first writer alone afterwards trims.
 */
static void
test_wal_bounded_without_agent(void **state)
{
	char *p = tu_path(tu_dir, "bounded.db");
	long long size, max = 0;
	int trims = 0, go[2], ready[2];
	char c;
	pid_t pid;

	(void)state;
	for (int i = 0; i < 300; i++) {
		put_once(p, NULL);
		size = wal_size(p);
		assert_true(size >= 0 && size <= 256 * 1024);
		if (size < max)
			trims++;
		max = size > max ? size : max;
	}
	assert_true(trims >= 2);

	/* Another process holds the spool open, as the agent does. */
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sqlite3 *db;
		int ok;

		close(go[1]);
		close(ready[0]);
		ok = sqlite3_open(p, &db) == SQLITE_OK && sqlite3_exec(db,
		    "SELECT count(*) FROM inbox", NULL, NULL, NULL) == SQLITE_OK;
		if (write(ready[1], ok ? "y" : "n", 1) != 1 ||
		    read(go[0], &c, 1) < 0)
			ok = 0;
		sqlite3_close(db);
		_exit(ok ? 0 : 1);
	}
	close(go[0]);
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	for (int i = 0; i < 100; i++)
		put_once(p, NULL);
	assert_true(wal_size(p) > 256 * 1024);
	/* It dies without a close of its own (an agent that was killed). */
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	close(go[1]);
	close(ready[0]);
	assert_true(wal_size(p) > 256 * 1024);
	put_once(p, NULL);
	assert_int_equal(wal_size(p), 0);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox"), 401);
	free(p);
}

/*
 * A spool replaced under a running agent (which docs/operations.md says
 * not to do): the WAL at the path then holds what writers put into the
 * new file. The agent's checkpoint, on its handle of the old file, must
 * not copy those rows into the old file and empty the WAL.
 */
static void
test_checkpoint_after_replace(void **state)
{
	char *p = tu_path(tu_dir, "replaced.db");
	char *q = tu_path(tu_dir, "fresh.db");
	char err[512], c;
	int go[2], done[2];
	spool_t *s;
	pid_t pid;

	(void)state;
	put_once(p, NULL);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(done), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The agent: its handle stays on the old file. */
		int ok = spool_open(p, NULL, &s, err, sizeof(err)) == SPOOL_OK &&
		    spool_put(s, "j", "", SPOOL_OP_SET, "g 1", 3) == SPOOL_OK;
		close(go[1]);
		close(done[0]);
		if (write(done[1], ok ? "y" : "n", 1) != 1 ||
		    read(go[0], &c, 1) != 1 || spool_checkpoint(s) != SPOOL_OK)
			ok = 0;
		if (write(done[1], ok ? "y" : "n", 1) != 1)
			ok = 0;
		/* It stops as a killed agent would: no close of its own.
		 * (Valgrind still checks a process that kills itself: the
		 * paths are freed so that it has nothing to report.) */
		(void)ok;
		free(p);
		free(q);
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	close(go[0]);
	close(done[1]);
	assert_int_equal(read(done[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	/* A fresh spool, whole in its file, moved over the path; a writer
	 * puts a row into it. */
	assert_int_equal(spool_open(q, NULL, &s, err, sizeof(err)), SPOOL_OK);
	spool_close(s);
	sql(q, "PRAGMA wal_checkpoint(TRUNCATE)");
	assert_int_equal(rename(q, p), 0);
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_SET, "new 1", 5),
	    SPOOL_OK);
	assert_int_equal(write(go[1], "c", 1), 1);
	assert_int_equal(read(done[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	spool_close(s);
	close(go[1]);
	close(done[0]);
	assert_int_equal(sql_int(p, "SELECT count(*) FROM inbox WHERE body = "
	    "'new 1'"), 1);
	free(p);
	free(q);
}

static void
test_stats_and_rejected(void **state)
{
	char *p = tu_path(tu_dir, "stats.db"), err[512];
	spool_t *s;
	spool_stats st;
	spool_fold_result r;
	int n = 0;

	(void)state;
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_get_stats(s, &st), SPOOL_OK);
	assert_int_equal(st.pending_rows, 0);
	assert_true(st.oldest_pending_age == -1);
	assert_int_equal(st.schema_version, 1);
	assert_true(st.bytes > 0);
	sql(p, "INSERT INTO inbox(job, op, body) VALUES ('j', 'set', 'x 1 2')");
	assert_int_equal(spool_put(s, "j", "a=\"1\"", SPOOL_OP_SET,
	    "x 1\ny{b=\"2\"} 2", 14), SPOOL_OK);
	assert_int_equal(spool_put(s, "k", "", SPOOL_OP_SET, "x 1", 3),
	    SPOOL_OK);
	assert_int_equal(spool_get_stats(s, &st), SPOOL_OK);
	assert_int_equal(st.pending_rows, 3);
	assert_true(st.oldest_pending_age >= 0 && st.oldest_pending_age < 60);
	assert_int_equal(spool_fold(s, NULL, &r), SPOOL_OK);
	assert_int_equal(spool_get_stats(s, &st), SPOOL_OK);
	assert_int_equal(st.pending_rows, 0);
	assert_int_equal(st.groups, 2);
	assert_int_equal(st.series, 3);
	assert_int_equal(st.dirty_groups, 2);
	assert_int_equal(st.parked_groups, 0);
	assert_int_equal(st.rejected_rows, 1);
	assert_int_equal(st.rejected_total, 1);
	assert_int_equal(spool_rejected_each(s, count_rejected, &n), SPOOL_OK);
	assert_int_equal(n, 1);
	spool_close(s);
	free(p);
}

static void
test_strerror_and_ops(void **state)
{
	spool_op op;

	(void)state;
	for (int e = SPOOL_OK; e <= SPOOL_EUNKNOWN; e++)
		assert_true(strlen(spool_strerror((spool_err)e)) > 0);
	assert_int_equal(spool_op_parse("observe", &op), SPOOL_OK);
	assert_int_equal(op, SPOOL_OP_OBSERVE);
	assert_int_equal(spool_op_parse("SET", &op), SPOOL_EPARSE);
	assert_string_equal(spool_op_name(SPOOL_OP_DELETE), "delete");
	assert_string_equal(spool_version(), "0.1.0");
	/* The statuses of docs/spool.md, shared by collector-spool and the
	 * agent. */
	assert_int_equal(spool_exit_status(SPOOL_OK), 0);
	assert_int_equal(spool_exit_status(SPOOL_EINVAL), 64);
	assert_int_equal(spool_exit_status(SPOOL_EPARSE), 65);
	assert_int_equal(spool_exit_status(SPOOL_ETOOBIG), 65);
	assert_int_equal(spool_exit_status(SPOOL_ECREATE), 73);
	assert_int_equal(spool_exit_status(SPOOL_ECORRUPT), 74);
	assert_int_equal(spool_exit_status(SPOOL_EFULL), 74);
	assert_int_equal(spool_exit_status(SPOOL_EBUSY), 75);
	assert_int_equal(spool_exit_status(SPOOL_EIO), 74);
	assert_int_equal(spool_exit_status(SPOOL_EUNKNOWN), 71);
	spool_close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_umask_respected),
		cmocka_unit_test(test_cannot_create),
		cmocka_unit_test(test_not_sqlite_untouched),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_newer_schema),
		cmocka_unit_test(test_foreign_database),
		cmocka_unit_test(test_migrate_v0),
		cmocka_unit_test(test_migrate_v0_empty_file),
		cmocka_unit_test(test_v0_inbox_missing_column),
		cmocka_unit_test(test_adopt_null_id),
		cmocka_unit_test(test_adopt_shapes),
		cmocka_unit_test(test_adopt_duplicate_ids_extra_columns),
		cmocka_unit_test(test_adopt_received_ms),
		cmocka_unit_test(test_v0_inbox_view),
		cmocka_unit_test(test_symlink),
		cmocka_unit_test(test_locked),
		cmocka_unit_test(test_put_refuses),
		cmocka_unit_test(test_batch),
		cmocka_unit_test_teardown(test_put_commit_fails,
		    shim_unregister),
		cmocka_unit_test_teardown(test_put_fails_before_commit,
		    shim_unregister),
		cmocka_unit_test_teardown(test_writer_close_keeps_wal,
		    shim_unregister),
		cmocka_unit_test(test_wal_bounded_without_agent),
		cmocka_unit_test(test_checkpoint_after_replace),
		cmocka_unit_test(test_stats_and_rejected),
		cmocka_unit_test(test_strerror_and_ops),
	};

	return cmocka_run_group_tests_name("spool", tests, tu_dir_setup,
	    tu_dir_teardown);
}
