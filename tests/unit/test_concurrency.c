/* Many writer processes and a folder at once; a folder killed at random
 * moments. Either way every `add` counts exactly once. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>

#include "spool-test.h"

#define WRITERS 8
#define ADDS 1000

/* A writer using the library: one row per add, each its own transaction. */
static int
writer_api(const char *path, int id)
{
	/* The test is about counting, not waiting: on a loaded machine eight
	 * writers and a folder can keep one writer off the lock for longer
	 * than the default 5 s, as the SQL writers' 10 s allow for too. */
	spool_options o = { 0, 30000 };
	spool_t *s;
	char err[512], grouping[64];

	if (spool_open(path, &o, &s, err, sizeof(err)) != SPOOL_OK) {
		fprintf(stderr, "writer %d: %s\n", id, err);
		return 1;
	}
	snprintf(grouping, sizeof(grouping), "writer=\"%d\"", id % 2);
	for (int i = 0; i < ADDS; i++) {
		if (spool_put(s, "conc", grouping, SPOOL_OP_ADD,
		    "adds_total 1\n", 13) != SPOOL_OK) {
			fprintf(stderr, "writer %d: %s\n", id, spool_errmsg(s));
			spool_close(s);
			return 1;
		}
	}
	spool_close(s);
	return 0;
}

/* A writer in "another language": plain SQL on its own connection. */
static int
writer_sql(const char *path, int id)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char grouping[64];

	if (sqlite3_open(path, &db) != SQLITE_OK)
		return 1;
	sqlite3_busy_timeout(db, 30000);
	if (sqlite3_prepare_v2(db, "INSERT INTO inbox(job, grouping, op, body) "
	    "VALUES (?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return 1;
	snprintf(grouping, sizeof(grouping), "writer=\"%d\"", id % 2);
	for (int i = 0; i < ADDS; i++) {
		sqlite3_bind_text(st, 1, "conc", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, grouping, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, "add", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, "adds_total 1\n", -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			fprintf(stderr, "sql writer %d: %s\n", id,
			    sqlite3_errmsg(db));
			return 1;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
}

static double
total(spool_t *s)
{
	double sum = 0, v;
	int found;

	for (int g = 0; g < 2; g++) {
		char grouping[64];
		snprintf(grouping, sizeof(grouping), "writer=\"%d\"", g);
		assert_int_equal(spool_series_value(s, "conc", grouping,
		    "adds_total", "", &v, &found), SPOOL_OK);
		if (found)
			sum += v;
	}
	return sum;
}

static void
test_writers_and_folder(void **state)
{
	char *p = tu_path(tu_dir, "conc.db"), err[512];
	pid_t pids[WRITERS];
	spool_t *s;
	spool_fold_result r;
	int alive = WRITERS, folds = 0, failed = 0;

	(void)state;
	/* Create the spool first so the writers race on rows, not on
	 * creating the schema (which is tested by opening concurrently
	 * below). As the writers: correctness, not waiting (under valgrind on
	 * a loaded machine a writer's commit can take seconds). */
	spool_options o = { 0, 30000 };
	assert_int_equal(spool_open(p, &o, &s, err, sizeof(err)), SPOOL_OK);
	for (int i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(i % 2 ? writer_sql(p, i) : writer_api(p, i));
	}
	/* Fold while they write; bounded by count, and by the writers. */
	for (int round = 0; round < 120000 && alive > 0; round++) {
		struct timespec ts = { 0, 500000 };
		assert_int_equal(spool_fold(s, NULL, &r), SPOOL_OK);
		folds += r.rows > 0;
		nanosleep(&ts, NULL);
		for (int i = 0; i < WRITERS; i++) {
			int st;
			if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) ==
			    pids[i]) {
				failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
				pids[i] = 0;
				alive--;
			}
		}
	}
	assert_int_equal(alive, 0);
	assert_int_equal(failed, 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(spool_fold(s, NULL, &r), SPOOL_OK);
		if (r.rows == 0)
			break;
	}
	assert_true(total(s) == WRITERS * ADDS);
	print_message("# %d folds ran while the writers wrote\n", folds);
	spool_close(s);
	free(p);
}

/* Processes that all open a fresh spool at once: one creates the schema,
 * the others see it. */
static void
test_concurrent_create(void **state)
{
	char *p = tu_path(tu_dir, "create.db");
	pid_t pids[WRITERS];
	int failed = 0;

	(void)state;
	for (int i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			/* As the writers below: correctness, not waiting. */
			spool_options o = { 0, 30000 };
			spool_t *s;
			char err[512];
			if (spool_open(p, &o, &s, err, sizeof(err))) {
				fprintf(stderr, "open: %s\n", err);
				_exit(1);
			}
			if (spool_put(s, "j", "", SPOOL_OP_ADD, "c 1", 3))
				_exit(2);
			spool_close(s);
			_exit(0);
		}
	}
	for (int i = 0; i < WRITERS; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	assert_int_equal(failed, 0);
	{
		spool_t *s;
		char err[512];
		spool_stats st;
		assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)),
		    SPOOL_OK);
		assert_int_equal(spool_get_stats(s, &st), SPOOL_OK);
		assert_int_equal(st.pending_rows, WRITERS);
		spool_close(s);
	}
	free(p);
}

/*
 * A child holds the write lock of a fresh file, not yet a spool (so in
 * SQLite's rollback mode), as another process creating the spool does;
 * it lets go at a byte written to release[1], or when that is closed.
 * Returns the child's pid once the lock is held.
 */
static pid_t
hold_fresh(const char *p, int release[2])
{
	int held[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(held), 0);
	assert_int_equal(pipe(release), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		sqlite3 *db;
		close(held[0]);
		close(release[1]);
		if (sqlite3_open(p, &db) != SQLITE_OK ||
		    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
		    SQLITE_OK)
			_exit(1);
		if (write(held[1], "h", 1) != 1)
			_exit(2);
		if (read(release[0], &c, 1) < 0)
			_exit(3);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		sqlite3_close(db);
		_exit(0);
	}
	close(held[1]);
	close(release[0]);
	assert_int_equal(read(held[0], &c, 1), 1);
	close(held[0]);
	return pid;
}

/* The child that hold_fresh() started lets go (at the end of its pipe,
 * if nothing was written to it before) and exits 0. */
static void
let_go(pid_t pid, int release[2])
{
	int st;

	close(release[1]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/*
 * Making a new spool while another process holds its write lock: the
 * switch to WAL mode, which SQLite makes by upgrading a read transaction
 * and so without calling the busy handler, waits like every other step,
 * rather than failing at once. Here the lock goes after a few
 * milliseconds, from a second child that tells the holder to let go.
 */
static void
test_create_waits_for_lock(void **state)
{
	char p[4096], err[512];
	spool_options o = { 0, 30000 };
	int release[2], fd;
	pid_t holder, waker;
	spool_t *s;
	spool_stats st;

	(void)state;
	/* On the stack: the forked children _exit() without freeing what
	 * the parent allocated, which valgrind would call their leak. */
	snprintf(p, sizeof(p), "%s/wait.db", tu_dir);
	fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	holder = hold_fresh(p, release);
	waker = fork();
	assert_true(waker >= 0);
	if (waker == 0) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		_exit(write(release[1], "r", 1) == 1 ? 0 : 1);
	}
	assert_int_equal(spool_open(p, &o, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_put(s, "j", "", SPOOL_OP_ADD, "c 1", 3),
	    SPOOL_OK);
	assert_int_equal(spool_get_stats(s, &st), SPOOL_OK);
	assert_int_equal(st.pending_rows, 1);
	spool_close(s);
	{
		int ws;
		assert_int_equal(waitpid(waker, &ws, 0), waker);
		assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	}
	let_go(holder, release);
}

/* The same lock held for longer than the busy timeout: the open fails
 * with the lock's error, which says what it waited for. */
static void
test_create_lock_timeout(void **state)
{
	char p[4096], err[512];
	spool_options o = { 0, 100 };
	int release[2], fd;
	pid_t holder;
	spool_t *s = NULL;

	(void)state;
	/* On the stack: the forked children _exit() without freeing what
	 * the parent allocated, which valgrind would call their leak. */
	snprintf(p, sizeof(p), "%s/timeout.db", tu_dir);
	fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	holder = hold_fresh(p, release);
	assert_int_equal(spool_open(p, &o, &s, err, sizeof(err)), SPOOL_EBUSY);
	assert_null(s);
	assert_non_null(strstr(err, "is locked by another process (waited "
	    "100 ms while switching the spool to WAL mode)"));
	let_go(holder, release);
	/* Once the lock is gone the spool is made. */
	assert_int_equal(spool_open(p, &o, &s, err, sizeof(err)), SPOOL_OK);
	spool_close(s);
}

/* A folder process killed with SIGKILL at random moments, again and
 * again: a batch either happened whole or not at all. */
static void
test_folder_killed(void **state)
{
	char *p = tu_path(tu_dir, "kill.db"), err[512];
	spool_t *s;
	spool_fold_result r;
	unsigned int seed = (unsigned int)time(NULL);
	int kills = 0;
	const int rows = 60000;

	(void)state;
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_batch_begin(s), SPOOL_OK);
	for (int i = 0; i < rows; i++)
		assert_int_equal(spool_put(s, "conc", "writer=\"0\"",
		    SPOOL_OP_ADD, "adds_total 1\nother_total 2\n", 27),
		    SPOOL_OK);
	assert_int_equal(spool_batch_commit(s), SPOOL_OK);
	spool_close(s);
	print_message("# kill seed %u\n", seed);
	srand(seed);
	for (int k = 0; k < 20; k++) {
		pid_t pid = fork();
		struct timespec ts;
		int st;

		assert_true(pid >= 0);
		if (pid == 0) {
			spool_fold_options o;
			memset(&o, 0, sizeof(o));
			o.max_rows = 100;
			if (spool_open(p, NULL, &s, err, sizeof(err)))
				_exit(1);
			for (int i = 0; i < 100000; i++) {
				if (spool_fold(s, &o, &r) || r.rows == 0)
					break;
			}
			_exit(0);
		}
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(rand() % 4000) * 1000L;
		nanosleep(&ts, NULL);
		if (kill(pid, SIGKILL) == 0)
			kills++;
		assert_int_equal(waitpid(pid, &st, 0), pid);
	}
	assert_int_equal(spool_open(p, NULL, &s, err, sizeof(err)), SPOOL_OK);
	{
		spool_stats st;
		assert_int_equal(spool_get_stats(s, &st), SPOOL_OK);
		print_message("# %lld of %d rows still pending after the kills\n",
		    (long long)st.pending_rows, rows);
	}
	for (int i = 0; i < 1000; i++) {
		assert_int_equal(spool_fold(s, NULL, &r), SPOOL_OK);
		if (r.rows == 0)
			break;
	}
	print_message("# %d SIGKILLs sent to a folding process\n", kills);
	assert_true(total(s) == rows);
	{
		double v;
		int found;
		assert_int_equal(spool_series_value(s, "conc", "writer=\"0\"",
		    "other_total", "", &v, &found), SPOOL_OK);
		assert_true(found && v == 2.0 * rows);
	}
	spool_close(s);
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writers_and_folder),
		cmocka_unit_test(test_concurrent_create),
		cmocka_unit_test(test_create_waits_for_lock),
		cmocka_unit_test(test_create_lock_timeout),
		cmocka_unit_test(test_folder_killed),
	};

	return cmocka_run_group_tests_name("concurrency", tests, tu_dir_setup,
	    tu_dir_teardown);
}
