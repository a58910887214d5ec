/* The log module (agent/log.c): levels by name, logfmt quoting, and the
 * limit on lines that a lasting failure would repeat. */
#include "testutil.h"

#include "log.h"

static void
test_levels(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("debug"), LOG_LDEBUG);
	assert_int_equal(log_level_parse("warning"), LOG_LWARN);
	assert_int_equal(log_level_parse("loud"), -1);
	assert_int_equal(log_level_parse(NULL), -1);
	assert_string_equal(log_level_name(LOG_LERROR), "error");
}

static void
test_quote(void **state)
{
	(void)state;
	assert_string_equal(log_q("plain"), "plain");
	assert_string_equal(log_q(""), "\"\"");
	assert_string_equal(log_q("a b"), "\"a b\"");
	assert_string_equal(log_q("k=\"v\""), "\"k=\\\"v\\\"\"");
	assert_string_equal(log_q(NULL), "");
}

/* One line a period; the lines held back are counted and reported with
 * the next one; a clear starts afresh and says whether there was one. */
static void
test_limit(void **state)
{
	log_limit l = { 0, 0 };
	unsigned held = 99;

	(void)state;
	assert_int_equal(log_limit_clear(&l), 0);
	assert_int_equal(log_limit_pass(&l, 0, 60, &held), 1);
	assert_int_equal(held, 0);
	assert_int_equal(log_limit_pass(&l, 1, 60, &held), 0);
	assert_int_equal(log_limit_pass(&l, 59, 60, &held), 0);
	assert_int_equal(log_limit_pass(&l, 60.5, 60, &held), 1);
	assert_int_equal(held, 2);
	assert_int_equal(log_limit_pass(&l, 61, 60, &held), 0);
	assert_int_equal(log_limit_clear(&l), 1);
	assert_int_equal(log_limit_clear(&l), 0);
	assert_int_equal(log_limit_pass(&l, 62, 60, &held), 1);
	assert_int_equal(held, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
