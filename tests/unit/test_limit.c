/* limit: what limit_check() puts into the agent's metrics, and when it
 * warns: at 90 % of a limit, not again within the hour unless the count
 * fell below 80 % in between; refused rows at most once a minute, with how
 * many; the largest group named for the per-group limit. */
#include "spoolfx.h"

#include <fcntl.h>

#include "limit.h"
#include "log.h"

/* The log lines limit_check() writes, without their ts=... part, joined
 * by '|'; "" for none. */
static char *
checked(limit_watch *w, spool_t *s, const cfg *c, selfm *m, double now)
{
	char *buf, *out;
	size_t n, o = 0;

	tu_stderr_begin();
	limit_check(w, s, c, m, now);
	buf = tu_stderr_end();
	n = strlen(buf);
	out = calloc(1, n + 1);
	assert_non_null(out);
	for (char *line = buf, *nl; *line != '\0'; line = nl + 1) {
		const char *lv;

		if ((nl = strchr(line, '\n')) == NULL)
			break;
		*nl = '\0';
		lv = strstr(line, "level=");
		o += (size_t)snprintf(out + o, n + 1 - o, "%s%s", o ? "|" : "",
		    lv ? lv : line);
	}
	free(buf);
	return out;
}

static void
logs_is(limit_watch *w, spool_t *s, const cfg *c, selfm *m, double now,
    const char *want)
{
	char *got = checked(w, s, c, m, now);

	assert_string_equal(got, want);
	free(got);
}

static void
fold_with(spool_t *s, const cfg *c)
{
	spool_fold_options o;
	spool_fold_result r;

	memset(&o, 0, sizeof(o));
	o.max_groups = (size_t)c->max_groups;
	o.max_series_per_group = (size_t)c->max_series_per_group;
	o.max_series = (size_t)c->max_series;
	do
		if (spool_fold(s, &o, &r) != SPOOL_OK)
			fail_msg("fold: %s", spool_errmsg(s));
	while (r.rows > 0);
}

/* What limit_check() says about limits.max_groups = 10. */
#define NEAR_GROUPS(used) "level=warn msg=\"near a limit; past it, rows " \
	"that start new groups are refused\" limit=limits.max_groups " \
	"used=" #used " max=10 hint=\"raise limits.max_groups, or delete " \
	"groups no longer needed (collector-spool delete)\""
#define REFUSED_GROUPS(rows) "level=warn msg=\"rows refused by a limit\" " \
	"limit=limits.max_groups rows=" #rows " max=10 " \
	"hint=\"collector-spool rejected\""

static void
test_groups(void **state)
{
	struct fx *f = *state;
	limit_watch w = { 0 };
	selfm m = { 0 };
	cfg c = { 0 };
	char job[16];

	c.max_groups = 10;
	log_init(LOG_LINFO);
	for (int i = 0; i < 8; i++) {
		snprintf(job, sizeof(job), "j%d", i);
		put(f->s, job, "", SPOOL_OP_SET, "x 1");
	}
	fold_with(f->s, &c);
	/* 8 of 10: below 90 %, nothing said; the metrics have it. */
	logs_is(&w, f->s, &c, &m, 100, "");
	assert_int_equal(m.limit[SPOOL_LIMIT_GROUPS], 10);
	assert_int_equal(m.limit[SPOOL_LIMIT_SERIES], 0);
	assert_int_equal(m.use.used[SPOOL_LIMIT_GROUPS], 8);
	assert_int_equal(m.use.used[SPOOL_LIMIT_SERIES], 8);
	put(f->s, "j8", "", SPOOL_OP_SET, "x 1");
	fold_with(f->s, &c);
	/* Not due yet: nothing read. */
	logs_is(&w, f->s, &c, &m, 105, "");
	assert_int_equal(m.use.used[SPOOL_LIMIT_GROUPS], 8);
	logs_is(&w, f->s, &c, &m, 110, NEAR_GROUPS(9));
	/* Still there: not again within the hour. */
	logs_is(&w, f->s, &c, &m, 120, "");
	logs_is(&w, f->s, &c, &m, 110 + 3599, "");
	logs_is(&w, f->s, &c, &m, 110 + 3610, NEAR_GROUPS(9));
	/* Two rows refused: said once, with the count; the third within the
	 * minute waits, and is said after it. */
	put(f->s, "j9", "", SPOOL_OP_SET, "x 1");
	put(f->s, "j10", "", SPOOL_OP_SET, "x 1");
	put(f->s, "j11", "", SPOOL_OP_SET, "x 1");
	fold_with(f->s, &c);
	logs_is(&w, f->s, &c, &m, 4000, REFUSED_GROUPS(2));
	assert_int_equal(m.use.refused[SPOOL_LIMIT_GROUPS], 2);
	put(f->s, "j12", "", SPOOL_OP_SET, "x 1");
	fold_with(f->s, &c);
	logs_is(&w, f->s, &c, &m, 4030, "");
	assert_int_equal(m.use.refused[SPOOL_LIMIT_GROUPS], 3);
	logs_is(&w, f->s, &c, &m, 4060, REFUSED_GROUPS(1));
	/* Below 80 % it is re-armed: back at 90 %, said at once. */
	c.max_groups = 20;
	logs_is(&w, f->s, &c, &m, 4100, "");
	c.max_groups = 10;
	logs_is(&w, f->s, &c, &m, 4110, NEAR_GROUPS(10));
	/* 0 is no limit: nothing to say. */
	c.max_groups = 0;
	logs_is(&w, f->s, &c, &m, 9000, "");
	assert_int_equal(m.limit[SPOOL_LIMIT_GROUPS], 0);
}

/* The per-group limit names the largest group; refusals from before the
 * first read are the fold's to log, not repeated here. */
static void
test_largest_group(void **state)
{
	struct fx *f = *state;
	limit_watch w = { 0 };
	selfm m = { 0 };
	cfg c = { 0 };

	c.max_series_per_group = 3;
	c.max_series = 100;
	put(f->s, "a", "", SPOOL_OP_SET, "x 1");
	put(f->s, "b", "instance=\"h 1\"", SPOOL_OP_SET, "x 1\ny 1\nz 1");
	put(f->s, "b", "instance=\"h 1\"", SPOOL_OP_SET, "w 1");
	fold_with(f->s, &c);
	logs_is(&w, f->s, &c, &m, 1, "level=warn msg=\"near a limit; past it, "
	    "rows that add series are refused\" "
	    "limit=limits.max_series_per_group used=3 max=3 job=b "
	    "grouping=\"instance=\\\"h 1\\\"\" hint=\"raise "
	    "limits.max_series_per_group, or delete that group, or fix the "
	    "writer that makes new series (collector-spool delete)\"");
	assert_int_equal(m.use.refused[SPOOL_LIMIT_SERIES_PER_GROUP], 1);
	assert_int_equal(m.use.used[SPOOL_LIMIT_SERIES], 4);
	assert_int_equal(m.use.largest_group, 2);
}

/* It says whether it read: once due, then not until LIMIT_CHECK_SECONDS
 * later, so the agent knows when the usage it holds is current. */
static void
test_read_when_due(void **state)
{
	struct fx *f = *state;
	limit_watch w = { 0 };
	selfm m = { 0 };
	cfg c = { 0 };

	c.max_series = 4;
	put(f->s, "j", "", SPOOL_OP_SET, "x 1");
	fold_with(f->s, &c);
	assert_int_equal(limit_check(&w, f->s, &c, &m, 100), 1);
	assert_int_equal(m.use.used[SPOOL_LIMIT_SERIES], 1);
	assert_int_equal(m.limit[SPOOL_LIMIT_SERIES], 4);
	assert_int_equal(limit_check(&w, f->s, &c, &m, 100 +
	    LIMIT_CHECK_SECONDS - 1), 0);
	assert_int_equal(limit_check(&w, f->s, &c, &m, 100 +
	    LIMIT_CHECK_SECONDS), 1);
	/* A zeroed next (a reload) is due at once. */
	w.next = 0;
	assert_int_equal(limit_check(&w, f->s, &c, &m, 111), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_largest_group, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_when_due, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("limit", tests, NULL, NULL);
}
