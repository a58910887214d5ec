/* Opening the spool: creation, modes, schema version, migration from v0,
 * files that are not spools, locks; puts, batches, stats and rejects. */
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "collector-spool.h"

static char *dir;

static int
setup(void **state)
{
	(void)state;
	dir = tu_mkdtemp();
	return dir == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	tu_rmdir(dir);
	dir = NULL;
	return 0;
}

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

static void
test_create(void **state)
{
	char *p = tu_path(dir, "new.db"), err[512], wal[600];
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
	char *p = tu_path(dir, "umask.db"), err[512];
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
	char *p = tu_path(dir, "no/such/dir/spool.db"), err[512];
	spool_t *s = (spool_t *)1;

	(void)state;
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)),
	    SPOOL_ECREATE);
	assert_null(s);
	assert_non_null(strstr(err, "cannot create spool"));
	assert_non_null(strstr(err, "No such file or directory"));
	free(p);
	assert_int_equal(spool_open(dir, NULL, &s, err, sizeof(err)),
	    SPOOL_ECREATE);
	assert_non_null(strstr(err, "is a directory"));
	assert_int_equal(spool_open("", NULL, &s, err, sizeof(err)),
	    SPOOL_EINVAL);
}

static void
test_not_sqlite_untouched(void **state)
{
	char *p = tu_path(dir, "text.db"), err[512], *before, *after;
	const char text[] = "this is not a database, it is a text file that "
	    "somebody pointed the spool at by mistake\n";
	spool_t *s;
	size_t n1, n2;
	char wal[600];

	(void)state;
	write_file(p, text, sizeof(text) - 1);
	before = slurp(p, &n1);
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)),
	    SPOOL_ENOTSPOOL);
	assert_non_null(strstr(err, "is not a SQLite database"));
	assert_non_null(strstr(err, "left untouched"));
	after = slurp(p, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(before, after, n1);
	snprintf(wal, sizeof(wal), "%s-wal", p);
	assert_int_not_equal(access(wal, F_OK), 0);
	free(before);
	free(after);
	free(p);
}

static void
test_truncated(void **state)
{
	char *p = tu_path(dir, "trunc.db"), err[512], *before, *after;
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
	char *p = tu_path(dir, "newer.db"), err[512];
	spool_t *s;

	(void)state;
	sql(p, "CREATE TABLE inbox(job, grouping, op, body); "
	    "PRAGMA user_version=99");
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)),
	    SPOOL_ENEWER);
	assert_non_null(strstr(err, "schema version 99"));
	assert_non_null(strstr(err, "upgrade"));
	assert_int_equal(sql_int(p, "PRAGMA user_version"), 99);
	assert_int_equal(sql_int(p, "SELECT journal_mode = 'delete' FROM "
	    "pragma_journal_mode"), 1);
	free(p);
}

static void
test_foreign_database(void **state)
{
	char *p = tu_path(dir, "app.db"), err[512];
	spool_t *s;

	(void)state;
	sql(p, "CREATE TABLE users(id, name); INSERT INTO users VALUES (1, 'a')");
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)),
	    SPOOL_ENOTSPOOL);
	assert_non_null(strstr(err, "not a collector spool"));
	assert_int_equal(sql_int(p, "SELECT count(*) FROM sqlite_master"), 1);
	assert_int_equal(sql_int(p, "SELECT journal_mode = 'delete' FROM "
	    "pragma_journal_mode"), 1);
	free(p);
}

/* Version 0: a writer created the inbox itself, before any agent ran. */
static void
test_migrate_v0(void **state)
{
	char *p = tu_path(dir, "v0.db"), err[512];
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
	char *p = tu_path(dir, "empty.db"), err[512];
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
	char *p = tu_path(dir, "v0bad.db"), err[512];
	spool_t *s;

	(void)state;
	sql(p, "CREATE TABLE inbox(job TEXT, body TEXT)");
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)),
	    SPOOL_ENOTSPOOL);
	assert_non_null(strstr(err, "without a 'grouping' column"));
	free(p);
}

static void
test_locked(void **state)
{
	char *p = tu_path(dir, "locked.db"), err[512];
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
	char *p = tu_path(dir, "put.db"), err[512];
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
	char *p = tu_path(dir, "batch.db"), err[512];
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

static void
test_stats_and_rejected(void **state)
{
	char *p = tu_path(dir, "stats.db"), err[512];
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
	for (int e = SPOOL_OK; e <= SPOOL_EIO; e++)
		assert_true(strlen(spool_strerror((spool_err)e)) > 0);
	assert_int_equal(spool_op_parse("observe", &op), SPOOL_OK);
	assert_int_equal(op, SPOOL_OP_OBSERVE);
	assert_int_equal(spool_op_parse("SET", &op), SPOOL_EPARSE);
	assert_string_equal(spool_op_name(SPOOL_OP_DELETE), "delete");
	assert_string_equal(spool_version(), "0.1.0");
	/* SPEC §7's statuses, shared by collector-spool and the agent. */
	assert_int_equal(spool_exit_status(SPOOL_OK), 0);
	assert_int_equal(spool_exit_status(SPOOL_EINVAL), 64);
	assert_int_equal(spool_exit_status(SPOOL_EPARSE), 65);
	assert_int_equal(spool_exit_status(SPOOL_ETOOBIG), 65);
	assert_int_equal(spool_exit_status(SPOOL_ECREATE), 73);
	assert_int_equal(spool_exit_status(SPOOL_ECORRUPT), 74);
	assert_int_equal(spool_exit_status(SPOOL_EFULL), 74);
	assert_int_equal(spool_exit_status(SPOOL_EBUSY), 75);
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
		cmocka_unit_test(test_locked),
		cmocka_unit_test(test_put_refuses),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_stats_and_rejected),
		cmocka_unit_test(test_strerror_and_ops),
	};

	return cmocka_run_group_tests_name("spool", tests, setup, teardown);
}
