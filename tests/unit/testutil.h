/* Shared by the unit tests: cmocka's includes in the order it needs, and a
 * private temporary directory per test program. */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* The number of elements of an array (not a pointer). */
#define TU_N(a) (sizeof(a) / sizeof((a)[0]))

/* A fresh directory under $TMPDIR (or /tmp), removed by tu_rmdir(). */
static inline char *
tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *p = NULL;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&p, "%s/cs-test-XXXXXX", base) < 0)
		return NULL;
	if (mkdtemp(p) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

/* "dir/name" in a new string the caller frees. */
static inline char *
tu_path(const char *dir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

static inline void
tu_rmdir(char *dir)
{
	char *cmd = NULL;

	if (dir == NULL)
		return;
	if (asprintf(&cmd, "rm -rf '%s'", dir) >= 0) {
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	free(cmd);
	free(dir);
}

/* What the code under test writes to standard error, for tests of its log
 * lines: tu_stderr_begin() sends fd 2 to a temporary file, tu_stderr_end()
 * puts it back and returns what was written (caller frees). Not nested. */
static FILE *tu_err_file;
static int tu_err_saved = -1;

static inline void
tu_stderr_begin(void)
{
	tu_err_file = tmpfile();
	assert_non_null(tu_err_file);
	fflush(stderr);
	tu_err_saved = dup(STDERR_FILENO);
	assert_true(tu_err_saved >= 0);
	assert_true(dup2(fileno(tu_err_file), STDERR_FILENO) >= 0);
}

static inline char *
tu_stderr_end(void)
{
	long n;
	char *out;

	fflush(stderr);
	assert_true(dup2(tu_err_saved, STDERR_FILENO) >= 0);
	close(tu_err_saved);
	tu_err_saved = -1;
	n = (long)lseek(fileno(tu_err_file), 0, SEEK_END);
	assert_true(n >= 0);
	out = malloc((size_t)n + 1);
	assert_non_null(out);
	assert_int_equal(pread(fileno(tu_err_file), out, (size_t)n, 0), n);
	out[n] = '\0';
	fclose(tu_err_file);
	tu_err_file = NULL;
	return out;
}

/* A check that needs a tool this machine lacks (why: what is missing and
 * its Debian package). Outside 'make check' it says "# SKIP why" and the
 * test passes without the check; under 'make check' (TESTS_NO_SKIP=1),
 * whose deps install every tool, it fails the test, so that a missing
 * package cannot pass as a check that ran. Not cmocka's skip(): libcmocka
 * 1.1.5 prints that in TAP as "not ok N # SKIP", a failure to prove.
 * Free what the test holds before calling it. */
static inline int
tu_skips_fail(void)
{
	const char *v = getenv("TESTS_NO_SKIP");

	return v != NULL && strcmp(v, "1") == 0;
}

static inline void
tu_skip(const char *why)
{
	if (tu_skips_fail())
		fail_msg("%s; 'make check' runs every check: run 'make deps'",
		    why);
	print_message("# SKIP %s\n", why);
}

/* One private directory for a whole test program, made and removed by
 * cmocka's group fixtures:
 *   cmocka_run_group_tests(tests, tu_dir_setup, tu_dir_teardown);
 * the tests make their files in tu_dir. */
static char *tu_dir;

static inline int
tu_dir_setup(void **state)
{
	(void)state;
	tu_dir = tu_mkdtemp();
	return tu_dir == NULL;
}

static inline int
tu_dir_teardown(void **state)
{
	(void)state;
	tu_rmdir(tu_dir);
	tu_dir = NULL;
	return 0;
}

#endif
