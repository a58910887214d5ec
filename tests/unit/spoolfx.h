/* A fresh spool per test, for the cmocka tests of the spool library:
 * setup() opens one in a private directory, teardown() removes it. */
#ifndef SPOOLFX_H
#define SPOOLFX_H

#include "testutil.h"

#include "spool-test.h"

struct fx {
	char *dir;
	char *path;
	spool_t *s;
};

static inline int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[512];

	assert_non_null(f);
	f->dir = tu_mkdtemp();
	assert_non_null(f->dir);
	f->path = tu_path(f->dir, "spool.db");
	assert_int_equal(spool_open(f->path, NULL, &f->s, err, sizeof(err)),
	    SPOOL_OK);
	*state = f;
	return 0;
}

static inline int
teardown(void **state)
{
	struct fx *f = *state;

	spool_close(f->s);
	free(f->path);
	tu_rmdir(f->dir);
	free(f);
	return 0;
}

/* spool_put() that fails the test with the library's words. */
static inline void
put(spool_t *s, const char *job, const char *grouping, spool_op op,
    const char *body)
{
	if (spool_put(s, job, grouping, op, body, strlen(body)) != SPOOL_OK)
		fail_msg("put: %s", spool_errmsg(s));
}

#endif
