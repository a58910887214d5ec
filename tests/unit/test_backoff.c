/* Backoff: the exact schedule for a seed, the bounds of every draw, the
 * doubling ceiling, reset, Retry-After and how it is honoured. */
#include "testutil.h"

#include <math.h>

#include "backoff.h"

/* The generator as backoff.h promises it (xorshift64*), written again here
 * so that the schedule is checked against the formula, not against itself. */
static uint64_t
ref_next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545F4914F6CDD1DULL;
}

static double
ref_delay(uint64_t *x, double min, double max, unsigned n)
{
	double c = min * pow(2, n);
	double u;

	if (c > max)
		c = max;
	u = (double)(ref_next(x) >> 11) / 9007199254740992.0; /* 2^53 */
	return min + u * (c - min);
}

static void
test_schedule_exact(void **state)
{
	backoff b;
	uint64_t x = 42;

	(void)state;
	backoff_init(&b, 0.5, 30, 42);
	for (unsigned n = 0; n < 20; n++) {
		double want = ref_delay(&x, 0.5, 30, n);

		assert_int_equal(b.n, n);
		assert_true(backoff_next(&b) == want);
	}
	/* A different seed gives a different schedule. */
	{
		backoff a, c;
		int same = 0;

		backoff_init(&a, 1, 60, 1);
		backoff_init(&c, 1, 60, 2);
		for (int i = 0; i < 10; i++)
			same += backoff_next(&a) == backoff_next(&c);
		assert_true(same < 10);
	}
}

static void
test_seed_zero(void **state)
{
	backoff a, c;

	(void)state;
	backoff_init(&a, 1, 60, 0);
	backoff_init(&c, 1, 60, 0);
	assert_true(a.rng != 0);
	/* Still a working generator, and the same for the same seed. */
	for (int i = 0; i < 10; i++) {
		double d = backoff_next(&a);

		assert_true(d == backoff_next(&c));
		assert_true(d >= 1 && d <= 60);
	}
	assert_true(a.rng != 0);
}

static void
test_bounds(void **state)
{
	backoff b;
	double lo = INFINITY, hi = 0, sum0 = 0;
	int n0 = 0;

	(void)state;
	backoff_init(&b, 1, 60, 12345);
	for (int i = 0; i < 10000; i++) {
		double c = backoff_ceiling(&b);
		double d = backoff_next(&b);

		assert_true(d >= 1);
		assert_true(d <= c);
		assert_true(c <= 60);
		if (c == 60) {
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
			sum0 += d;
			n0++;
		}
		/* Restart now and then so that small ceilings are drawn too. */
		if (i % 50 == 49)
			backoff_reset(&b);
	}
	/* Full jitter: the draws at the top spread over the whole range. */
	assert_true(n0 > 1000);
	assert_true(lo < 5);
	assert_true(hi > 55);
	assert_true(fabs(sum0 / n0 - 30.5) < 2);
}

static void
test_ceiling_doubles(void **state)
{
	backoff b;
	const double want[] = { 0.25, 0.5, 1, 2, 4, 8, 10, 10, 10 };

	(void)state;
	backoff_init(&b, 0.25, 10, 7);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_true(backoff_ceiling(&b) == want[i]);
		(void)backoff_next(&b);
	}
	/* The first delay is exactly min: its ceiling is min. */
	backoff_reset(&b);
	assert_int_equal(b.n, 0);
	assert_true(backoff_next(&b) == 0.25);
	/* Many failures: the ceiling stays at max, nothing overflows. */
	for (int i = 0; i < 5000; i++) {
		double d = backoff_next(&b);

		assert_true(d >= 0.25 && d <= 10);
	}
	assert_true(backoff_ceiling(&b) == 10);
	backoff_reset(&b);
	assert_true(backoff_ceiling(&b) == 0.25);
}

static void
test_min_equals_max(void **state)
{
	backoff b;

	(void)state;
	backoff_init(&b, 5, 5, 3);
	for (int i = 0; i < 20; i++)
		assert_true(backoff_next(&b) == 5);
	/* Nonsense is made safe rather than a busy loop. */
	backoff_init(&b, 0, -1, 3);
	assert_true(backoff_next(&b) > 0);
	backoff_init(&b, NAN, NAN, 3);
	assert_true(backoff_next(&b) > 0);
	backoff_init(&b, 2, 1, 3);
	assert_true(backoff_ceiling(&b) == 2);
	assert_true(backoff_next(&b) == 2);
}

static void
test_honour(void **state)
{
	(void)state;
	/* No Retry-After: the delay. */
	assert_true(backoff_honour(3, -1, 60) == 3);
	/* A longer Retry-After wins; a shorter one does not. */
	assert_true(backoff_honour(3, 10, 60) == 10);
	assert_true(backoff_honour(3, 1, 60) == 3);
	assert_true(backoff_honour(3, 0, 60) == 3);
	/* Never above the limit, whichever is larger. */
	assert_true(backoff_honour(3, 3600, 60) == 60);
	assert_true(backoff_honour(90, -1, 60) == 60);
	assert_true(backoff_honour(3, NAN, 60) == 3);
}

static void
test_retry_after_seconds(void **state)
{
	(void)state;
	assert_true(backoff_parse_retry_after("120", 1e9) == 120);
	assert_true(backoff_parse_retry_after("0", 1e9) == 0);
	assert_true(backoff_parse_retry_after(" 7 ", 1e9) == 7);
	assert_true(backoff_parse_retry_after("007", 1e9) == 7);
	assert_true(backoff_parse_retry_after("86400", 0) == 86400);
	assert_true(backoff_parse_retry_after("-1", 1e9) == -1);
	assert_true(backoff_parse_retry_after("abc", 1e9) == -1);
	assert_true(backoff_parse_retry_after("1.5", 1e9) == -1);
	assert_true(backoff_parse_retry_after("12abc", 1e9) == -1);
	assert_true(backoff_parse_retry_after("+5", 1e9) == -1);
	assert_true(backoff_parse_retry_after("", 1e9) == -1);
	assert_true(backoff_parse_retry_after("   ", 1e9) == -1);
	assert_true(backoff_parse_retry_after(NULL, 1e9) == -1);
}

static void
test_retry_after_date(void **state)
{
	/* Wed, 21 Oct 2015 07:28:00 GMT */
	const double t = 1445412480;

	(void)state;
	assert_true(backoff_parse_retry_after(
	    "Wed, 21 Oct 2015 07:28:00 GMT", t - 90) == 90);
	assert_true(backoff_parse_retry_after(
	    "Wed, 21 Oct 2015 07:28:00 GMT", t - 0.5) == 0.5);
	/* A date in the past: retry now. */
	assert_true(backoff_parse_retry_after(
	    "Wed, 21 Oct 2015 07:28:00 GMT", t + 100) == 0);
	/* The two obsolete forms recipients must still read. */
	assert_true(backoff_parse_retry_after(
	    "Wednesday, 21-Oct-15 07:28:00 GMT", t - 30) == 30);
	assert_true(backoff_parse_retry_after(
	    "Wed Oct 21 07:28:00 2015", t - 30) == 30);
	assert_true(backoff_parse_retry_after(
	    "Sun Nov  6 08:49:37 1994", 784111777 - 1) == 1);
	/* The RFC's own example, and one after 2026. */
	assert_true(backoff_parse_retry_after(
	    "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 3600) == 3600);
	assert_true(backoff_parse_retry_after(
	    "Fri, 01 Jan 2027 00:00:00 GMT", 1798761600 - 86400) == 86400);
	/* Malformed dates. */
	assert_true(backoff_parse_retry_after(
	    "Wed, 21 Oct 2015 07:28:00", t) == -1);
	assert_true(backoff_parse_retry_after(
	    "Wed, 21 Foo 2015 07:28:00 GMT", t) == -1);
	assert_true(backoff_parse_retry_after(
	    "Wed, 21 Oct 2015 25:28:00 GMT", t) == -1);
	assert_true(backoff_parse_retry_after(
	    "Wed, 32 Oct 2015 07:28:00 GMT", t) == -1);
	assert_true(backoff_parse_retry_after(
	    "Xyz, 21 Oct 2015 07:28:00 GMT", t) == -1);
	assert_true(backoff_parse_retry_after(
	    "Wed, 21 Oct 2015 07:28:00 GMT trailing", t) == -1);
	assert_true(backoff_parse_retry_after("Wed,", t) == -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule_exact),
		cmocka_unit_test(test_seed_zero),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_ceiling_doubles),
		cmocka_unit_test(test_min_equals_max),
		cmocka_unit_test(test_honour),
		cmocka_unit_test(test_retry_after_seconds),
		cmocka_unit_test(test_retry_after_date),
	};

	return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
