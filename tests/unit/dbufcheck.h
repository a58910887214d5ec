/* For the tests of what the agent renders: compare a whole dbuf (not
 * NUL-terminated) with the text wanted, showing both on a mismatch.
 * Include after testutil.h. */
#ifndef DBUFCHECK_H
#define DBUFCHECK_H

#include "render.h"

static inline void
assert_buf(const dbuf *b, const char *want)
{
	size_t n = strlen(want);

	if (b->len != n || (n > 0 && memcmp(b->p, want, n) != 0))
		fail_msg("rendered:\n%.*s\nwanted:\n%s", (int)b->len,
		    b->p ? b->p : "", want);
}

#endif
