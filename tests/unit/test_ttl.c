/* Group ages (agent/ttl.c): wall time at the first listing only, the
 * monotonic clock after it, so that a step of either wall clock — the
 * agent's or a writer's — neither expires a group early nor keeps it. */
#include "testutil.h"

#include "ttl.h"

#define DAY 86400.0
#define WALL 1.8e9            /* the agent's wall clock at mono 100 */
#define MS(w) ((int64_t)((w) * 1000.0))

static void
list1(ttl_t *t, double mono, double wall, int64_t id, int64_t version,
    int64_t last_ms)
{
	ttl_begin(t, mono, wall);
	assert_int_equal(ttl_note(t, id, version, last_ms), 0);
	ttl_end(t);
}

/* At the first listing the wall clock is all there is (across a restart). */
static void
test_first_listing_uses_wall(void **state)
{
	ttl_t *t = ttl_new();

	(void)state;
	assert_non_null(t);
	ttl_begin(t, 100, WALL);
	assert_int_equal(ttl_note(t, 1, 1, MS(WALL - 250)), 0);
	assert_int_equal(ttl_note(t, 2, 1, MS(WALL + 30)), 0); /* clock behind */
	assert_int_equal(ttl_note(t, 3, 1, 0), 0);
	ttl_end(t);
	assert_true(ttl_age(t, 1, 100) == 250);
	assert_true(ttl_age(t, 1, 160) == 310);
	assert_true(ttl_age(t, 2, 100) == 0);
	assert_true(ttl_age(t, 3, 100) == 0);
	assert_true(ttl_age(t, 4, 100) == -1);
	ttl_free(t);
}

/* After the first listing the monotonic clock counts: the agent's wall
 * clock jumping a day either way moves nothing. */
static void
test_agent_clock_steps(void **state)
{
	ttl_t *t = ttl_new();

	(void)state;
	list1(t, 100, WALL, 1, 1, MS(WALL - 10));
	/* +1 day on the wall clock, 5 s later on the monotonic one. */
	list1(t, 105, WALL + DAY + 5, 1, 1, MS(WALL - 10));
	assert_true(ttl_age(t, 1, 105) == 15);
	/* -1 day. */
	list1(t, 110, WALL - DAY + 10, 1, 1, MS(WALL - 10));
	assert_true(ttl_age(t, 1, 110) == 20);
	ttl_free(t);
}

/* A row that came during the run is at most as old as the time since the
 * listing before: a writer (or agent) clock a day off is bounded by that. */
static void
test_new_rows_bounded(void **state)
{
	ttl_t *t = ttl_new();

	(void)state;
	list1(t, 100, WALL, 1, 1, MS(WALL - 10));
	/* The agent's clock is a day ahead of the writer's: the new row
	 * looks a day old, but came within the last 2 s. */
	list1(t, 102, WALL + DAY + 2, 1, 2, MS(WALL + 1));
	assert_true(ttl_age(t, 1, 102) == 2);
	assert_true(ttl_age(t, 1, 400) == 300);
	/* A day behind: it looks from the future; its age starts at 0. */
	list1(t, 500, WALL - DAY, 1, 3, MS(WALL + 2));
	assert_true(ttl_age(t, 1, 500) == 0);
	assert_true(ttl_age(t, 1, 506) == 6);
	/* Clocks that agree: the wall age, within the bound. */
	list1(t, 600, WALL, 1, 4, MS(WALL - 0.5));
	assert_true(ttl_age(t, 1, 600) == 0.5);
	ttl_free(t);
}

/* A group that appears after the first listing is new in this run. */
static void
test_new_group_bounded(void **state)
{
	ttl_t *t = ttl_new();

	(void)state;
	list1(t, 100, WALL, 1, 1, MS(WALL - 10));
	ttl_begin(t, 101, WALL + DAY);
	assert_int_equal(ttl_note(t, 1, 1, MS(WALL - 10)), 0);
	assert_int_equal(ttl_note(t, 7, 1, MS(WALL)), 0);
	ttl_end(t);
	assert_true(ttl_age(t, 1, 101) == 11);
	assert_true(ttl_age(t, 7, 101) == 1);
	ttl_free(t);
}

/* A row stamped ahead (a clock stepped back since, or a writer's own
 * received_ms) keeps last_row_ms where it is, since the fold never lowers
 * it: the rows after it change only the version, and each restarts the
 * age. By last_row_ms alone the group would expire while written. */
static void
test_rows_behind_last_row(void **state)
{
	ttl_t *t = ttl_new();

	(void)state;
	list1(t, 100, WALL, 1, 5, MS(WALL + 3600));
	assert_true(ttl_age(t, 1, 100) == 0);
	list1(t, 104, WALL + 4, 1, 6, MS(WALL + 3600));
	assert_true(ttl_age(t, 1, 104) == 0);
	list1(t, 108, WALL + 8, 1, 7, MS(WALL + 3600));
	assert_true(ttl_age(t, 1, 109) == 1);
	/* No row since: it ages. */
	list1(t, 112, WALL + 12, 1, 7, MS(WALL + 3600));
	assert_true(ttl_age(t, 1, 112) == 4);
	/* A row stamped long ago (a writer's own received_ms) after a
	 * listing 4 s back: at most 4 s old. */
	list1(t, 116, WALL + 16, 1, 8, MS(WALL - DAY));
	assert_true(ttl_age(t, 1, 116) == 4);
	ttl_free(t);
}

/* Groups not listed are forgotten; ids may skip. */
static void
test_forget_and_merge(void **state)
{
	ttl_t *t = ttl_new();

	(void)state;
	ttl_begin(t, 100, WALL);
	for (int64_t id = 1; id <= 200; id++)
		assert_int_equal(ttl_note(t, id, 1, MS(WALL - (double)id)), 0);
	ttl_end(t);
	ttl_begin(t, 110, WALL + 10);
	for (int64_t id = 2; id <= 200; id += 2)
		assert_int_equal(ttl_note(t, id, 1, MS(WALL - (double)id)), 0);
	assert_int_equal(ttl_note(t, 500, 1, MS(WALL + 10)), 0);
	ttl_end(t);
	assert_true(ttl_age(t, 1, 110) == -1);
	assert_true(ttl_age(t, 2, 110) == 12);
	assert_true(ttl_age(t, 200, 110) == 210);
	assert_true(ttl_age(t, 199, 110) == -1);
	assert_true(ttl_age(t, 500, 110) == 0);
	ttl_free(NULL);
	ttl_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_listing_uses_wall),
		cmocka_unit_test(test_agent_clock_steps),
		cmocka_unit_test(test_new_rows_bounded),
		cmocka_unit_test(test_new_group_bounded),
		cmocka_unit_test(test_rows_behind_last_row),
		cmocka_unit_test(test_forget_and_merge),
	};

	return cmocka_run_group_tests_name("ttl", tests, NULL, NULL);
}
