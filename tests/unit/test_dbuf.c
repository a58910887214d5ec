/* dbuf: the cap (content and allocation), the sticky error and what clears
 * it, growth that keeps what was written, reset keeping the allocation,
 * the reserve hint, in-place writes, undo, formatted text and take. */
#include "testutil.h"

#include "dbuf.h"

static void
is(const dbuf *b, const char *want)
{
	size_t n = strlen(want);

	if (b->len != n || (n > 0 && memcmp(b->p, want, n) != 0))
		fail_msg("buffer:\n%.*s\nwanted:\n%s", (int)b->len,
		    b->p ? b->p : "", want);
}

static void
test_empty(void **state)
{
	dbuf b;

	(void)state;
	dbuf_init(&b, 100);
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.err, DBUF_OK);
	assert_int_equal(dbuf_add(&b, "", 0), DBUF_OK);
	assert_int_equal(b.len, 0);
	dbuf_free(&b);
	dbuf_free(&b);      /* twice is fine */
	dbuf_free(NULL);
}

static void
test_cap(void **state)
{
	dbuf b;

	(void)state;
	dbuf_init(&b, 10);
	assert_int_equal(dbuf_add(&b, "0123456", 7), DBUF_OK);
	/* Over the cap: nothing of it goes in. */
	assert_int_equal(dbuf_add(&b, "abcd", 4), DBUF_ETOOBIG);
	is(&b, "0123456");
	/* The allocation stays within the cap too. */
	assert_true(b.cap <= 10);
	dbuf_free(&b);

	/* Exactly the cap fits. */
	dbuf_init(&b, 10);
	assert_int_equal(dbuf_add(&b, "0123456789", 10), DBUF_OK);
	assert_int_equal(b.cap, 10);
	assert_int_equal(dbuf_add(&b, "x", 1), DBUF_ETOOBIG);
	is(&b, "0123456789");
	dbuf_free(&b);

	/* A cap of 0 takes nothing but the empty write. */
	dbuf_init(&b, 0);
	assert_int_equal(dbuf_add(&b, "", 0), DBUF_OK);
	assert_int_equal(dbuf_add(&b, "x", 1), DBUF_ETOOBIG);
	assert_null(dbuf_room(&b, 1));
	dbuf_free(&b);
}

static void
test_sticky(void **state)
{
	dbuf b;

	(void)state;
	dbuf_init(&b, 8);
	assert_int_equal(dbuf_adds(&b, "abc"), DBUF_OK);
	assert_int_equal(dbuf_adds(&b, "defghi"), DBUF_ETOOBIG);
	/* A write that would fit is refused after the error... */
	assert_int_equal(dbuf_adds(&b, "d"), DBUF_ETOOBIG);
	assert_int_equal(dbuf_addf(&b, "%d", 1), DBUF_ETOOBIG);
	assert_null(dbuf_room(&b, 1));
	assert_int_equal(dbuf_reserve(&b, 1), DBUF_ETOOBIG);
	assert_null(dbuf_take(&b, NULL));
	assert_int_equal(b.err, DBUF_ETOOBIG);
	is(&b, "abc");
	/* ...and so is undo's clearing of it: setlen keeps the error. */
	dbuf_setlen(&b, 1);
	is(&b, "a");
	assert_int_equal(dbuf_adds(&b, "b"), DBUF_ETOOBIG);
	/* reset clears it and empties the buffer, keeping the memory. */
	{
		char *p = b.p;
		size_t cap = b.cap;

		dbuf_reset(&b);
		assert_int_equal(b.err, DBUF_OK);
		assert_int_equal(b.len, 0);
		assert_ptr_equal(b.p, p);
		assert_int_equal(b.cap, cap);
	}
	assert_int_equal(dbuf_adds(&b, "12345678"), DBUF_OK);
	is(&b, "12345678");
	/* free clears it too. */
	assert_int_equal(dbuf_adds(&b, "9"), DBUF_ETOOBIG);
	dbuf_free(&b);
	assert_int_equal(b.err, DBUF_OK);
	assert_int_equal(dbuf_adds(&b, "again"), DBUF_OK);
	is(&b, "again");
	dbuf_free(&b);

	assert_string_equal(dbuf_strerror(DBUF_OK), "ok");
	assert_string_equal(dbuf_strerror(DBUF_ENOMEM), "out of memory");
	assert_string_equal(dbuf_strerror(DBUF_ETOOBIG),
	    "over its size limit");
}

static void
test_growth(void **state)
{
	char want[100000];
	size_t n = 0, grows = 0, cap = 0;
	dbuf b;

	(void)state;
	dbuf_init(&b, sizeof(want));
	/* Writes of every size from 1 up: the content survives each move,
	 * and the allocation doubles (a few growths, not one per write). */
	for (size_t k = 1; n + k <= sizeof(want); k++) {
		char chunk[1000];

		for (size_t i = 0; i < k % sizeof(chunk); i++)
			chunk[i] = (char)('a' + (n + i) % 26);
		memcpy(want + n, chunk, k % sizeof(chunk));
		assert_int_equal(dbuf_add(&b, chunk, k % sizeof(chunk)),
		    DBUF_OK);
		n += k % sizeof(chunk);
		assert_int_equal(b.len, n);
		assert_true(b.cap >= b.len && b.cap <= b.max);
		if (b.cap != cap) {
			grows++;
			cap = b.cap;
		}
	}
	assert_memory_equal(b.p, want, n);
	assert_true(grows <= 6);     /* 4096 doubling up to 100000 */
	dbuf_free(&b);
}

static void
test_reserve(void **state)
{
	dbuf b;

	(void)state;
	dbuf_init(&b, 1000);
	/* One allocation of the size asked for... */
	assert_int_equal(dbuf_reserve(&b, 300), DBUF_OK);
	assert_int_equal(b.cap, 300);
	assert_int_equal(b.len, 0);
	/* ...none when there is room already... */
	assert_int_equal(dbuf_adds(&b, "x"), DBUF_OK);
	assert_int_equal(dbuf_reserve(&b, 200), DBUF_OK);
	assert_int_equal(b.cap, 300);
	/* ...and never past the cap, which is not an error here. */
	assert_int_equal(dbuf_reserve(&b, 5000), DBUF_OK);
	assert_int_equal(b.cap, 1000);
	assert_int_equal(b.err, DBUF_OK);
	is(&b, "x");
	dbuf_free(&b);
}

static void
test_room(void **state)
{
	size_t mark;
	char *o;
	dbuf b;

	(void)state;
	dbuf_init(&b, 16);
	assert_non_null(o = dbuf_room(&b, 5));
	memcpy(o, "ab", 2);
	dbuf_commit(&b, 2);
	is(&b, "ab");
	mark = b.len;
	assert_int_equal(dbuf_adds(&b, "cdef"), DBUF_OK);
	dbuf_setlen(&b, mark);
	is(&b, "ab");
	dbuf_setlen(&b, 10);      /* never lengthens */
	is(&b, "ab");
	assert_null(dbuf_room(&b, 15));
	assert_int_equal(b.err, DBUF_ETOOBIG);
	dbuf_free(&b);
}

static void
test_addf(void **state)
{
	char big[1000];
	dbuf b;

	(void)state;
	dbuf_init(&b, 2000);
	assert_int_equal(dbuf_addf(&b, "%s=%d;", "a", 42), DBUF_OK);
	is(&b, "a=42;");
	/* Longer than the formatting scratch on the stack. */
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(dbuf_addf(&b, "[%s]", big), DBUF_OK);
	assert_int_equal(b.len, 5 + 1001);
	assert_int_equal(b.p[5], '[');
	assert_int_equal(b.p[b.len - 1], ']');
	dbuf_free(&b);

	/* Its NUL does not count: text exactly up to the cap fits. */
	dbuf_init(&b, 4);
	assert_int_equal(dbuf_addf(&b, "%04d", 7), DBUF_OK);
	is(&b, "0007");
	assert_int_equal(dbuf_addf(&b, "%d", 1), DBUF_ETOOBIG);
	dbuf_free(&b);
}

static void
test_take(void **state)
{
	size_t n = 99;
	char *s;
	dbuf b;

	(void)state;
	/* Nothing written: an empty string. */
	dbuf_init(&b, 10);
	assert_non_null(s = dbuf_take(&b, &n));
	assert_string_equal(s, "");
	assert_int_equal(n, 0);
	free(s);

	/* Full to the cap: the NUL still fits. */
	assert_int_equal(dbuf_adds(&b, "0123456789"), DBUF_OK);
	assert_non_null(s = dbuf_take(&b, &n));
	assert_string_equal(s, "0123456789");
	assert_int_equal(n, 10);
	free(s);
	/* The buffer is empty and usable, with the same cap. */
	assert_null(b.p);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.max, 10);
	assert_int_equal(dbuf_adds(&b, "abc"), DBUF_OK);
	assert_non_null(s = dbuf_take(&b, NULL));
	assert_string_equal(s, "abc");
	free(s);
	dbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_sticky),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_room),
		cmocka_unit_test(test_addf),
		cmocka_unit_test(test_take),
	};

	return cmocka_run_group_tests_name("dbuf", tests, NULL, NULL);
}
