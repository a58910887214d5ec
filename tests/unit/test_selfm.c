/* selfm: the family list (sorted, prefixed), selfm_owns, what selfm_count
 * records (bucket boundaries follow Prometheus' le, which is <=), and the
 * exact text selfm_render writes for every family. */
#include "testutil.h"

#include <math.h>

#include <curl/curl.h>
#include <microhttpd.h>

#include "selfm.h"
#include "dbufcheck.h"

#define NFAM 19

/* The index of the family called SELFM_PREFIX suffix; fails without one. */
static size_t
fam(const char *suffix)
{
	char name[128];

	snprintf(name, sizeof(name), "%s%s", SELFM_PREFIX, suffix);
	for (size_t i = 0; i < selfm_count_families(); i++)
		if (strcmp(selfm_family_name(i), name) == 0)
			return i;
	fail_msg("no family %s", name);
	return 0;
}

static void
render_is(const selfm *m, const char *suffix, const char *extra,
    const char *want)
{
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(selfm_render(&b, m, fam(suffix), extra), DBUF_OK);
	assert_buf(&b, want);
	dbuf_free(&b);
}

/* A selfm with a distinct figure in every field. */
static selfm
known(void)
{
	selfm m;

	memset(&m, 0, sizeof(m));
	m.pushes[SELFM_SUCCESS] = 5;
	m.pushes[SELFM_RETRY] = 2;
	m.pushes[SELFM_REJECTED] = 1;
	m.deletes = 3;
	m.last_success = 1700000000.5;
	/* Observations in the first bucket, le=0.5, le=1 and +Inf. */
	m.dur_counts[0] = 1;
	m.dur_counts[6] = 1;
	m.dur_counts[7] = 1;
	m.dur_counts[SELFM_NDUR] = 1;
	m.dur_sum = 41.25;
	m.st.pending_rows = 7;
	m.st.groups = 4;
	m.st.series = 120;
	m.st.dirty_groups = 2;
	m.st.parked_groups = 1;
	m.st.delete_pending = 6;
	m.st.rejected_rows = 8;
	m.st.rejected_total = 9;
	m.st.oldest_pending_age = 12.25;
	m.st.bytes = 65536;
	m.st.schema_version = 1;
	m.limit[SPOOL_LIMIT_GROUPS] = 1000;
	m.limit[SPOOL_LIMIT_SERIES_PER_GROUP] = 0;
	m.limit[SPOOL_LIMIT_SERIES] = 100000;
	m.use.used[SPOOL_LIMIT_GROUPS] = 4;
	m.use.used[SPOOL_LIMIT_SERIES_PER_GROUP] = 90;
	m.use.used[SPOOL_LIMIT_SERIES] = 120;
	m.use.refused[SPOOL_LIMIT_GROUPS] = 11;
	m.use.refused[SPOOL_LIMIT_SERIES_PER_GROUP] = 12;
	m.use.refused[SPOOL_LIMIT_SERIES] = 13;
	m.use.largest_group = 3;
	return m;
}

static void
test_names_sorted(void **state)
{
	const char *prev = NULL;

	(void)state;
	assert_int_equal(selfm_count_families(), NFAM);
	for (size_t i = 0; i < selfm_count_families(); i++) {
		const char *n = selfm_family_name(i);

		assert_non_null(n);
		assert_int_equal(strncmp(n, SELFM_PREFIX,
		    strlen(SELFM_PREFIX)), 0);
		assert_true(strlen(n) > strlen(SELFM_PREFIX));
		assert_true(selfm_owns(n));
		if (prev != NULL && strcmp(prev, n) >= 0)
			fail_msg("%s comes after %s", n, prev);
		prev = n;
	}
	assert_null(selfm_family_name(NFAM));
	assert_null(selfm_family_name((size_t)-1));
	assert_string_equal(selfm_family_name(0),
	    "collector_agent_build_info");
	assert_string_equal(selfm_family_name(NFAM - 1), "collector_agent_up");
}

static void
test_owns(void **state)
{
	(void)state;
	assert_int_equal(selfm_owns("collector_agent_up"), 1);
	assert_int_equal(selfm_owns("collector_agent_pushes_total"), 1);
	assert_int_equal(selfm_owns("collector_agent_"), 1);
	assert_int_equal(selfm_owns("collector_agent"), 0);
	assert_int_equal(selfm_owns("collector_agentup"), 0);
	assert_int_equal(selfm_owns("Collector_agent_up"), 0);
	assert_int_equal(selfm_owns("x_collector_agent_up"), 0);
	assert_int_equal(selfm_owns("up"), 0);
	assert_int_equal(selfm_owns(""), 0);
}

/* A duration equal to a bound counts in that bucket; just above it, in
 * the next; above the last finite bound, in +Inf. */
static void
test_count_buckets(void **state)
{
	static const double bounds[SELFM_NDUR] = { .005, .01, .025, .05, .1,
	    .25, .5, 1, 2.5, 5, 10, 30 };
	selfm m;

	(void)state;
	for (size_t i = 0; i < SELFM_NDUR; i++) {
		double above = nextafter(bounds[i], INFINITY);

		memset(&m, 0, sizeof(m));
		selfm_count(&m, SELFM_SUCCESS, bounds[i], 1);
		for (size_t k = 0; k <= SELFM_NDUR; k++)
			if (m.dur_counts[k] != (k == i))
				fail_msg("%g: bucket %zu holds %llu", bounds[i],
				    k, (unsigned long long)m.dur_counts[k]);
		assert_true(m.dur_sum == bounds[i]);
		memset(&m, 0, sizeof(m));
		selfm_count(&m, SELFM_SUCCESS, above, 1);
		for (size_t k = 0; k <= SELFM_NDUR; k++)
			if (m.dur_counts[k] != (k == i + 1))
				fail_msg("%.17g: bucket %zu holds %llu", above,
				    k, (unsigned long long)m.dur_counts[k]);
	}
	memset(&m, 0, sizeof(m));
	selfm_count(&m, SELFM_RETRY, 0, 1);
	selfm_count(&m, SELFM_RETRY, 1e9, 1);
	selfm_count(&m, SELFM_RETRY, 0.75, 1);
	assert_int_equal(m.dur_counts[0], 1);
	assert_int_equal(m.dur_counts[7], 1);
	assert_int_equal(m.dur_counts[SELFM_NDUR], 1);
	assert_true(m.dur_sum == 0 + 1e9 + 0.75);
}

static void
test_count_results(void **state)
{
	selfm m;

	(void)state;
	memset(&m, 0, sizeof(m));
	selfm_count(&m, SELFM_RETRY, 0.5, 100);
	selfm_count(&m, SELFM_REJECTED, 0.5, 110);
	assert_true(m.last_success == 0);
	selfm_count(&m, SELFM_SUCCESS, 0.25, 120.5);
	assert_true(m.last_success == 120.5);
	selfm_count(&m, SELFM_RETRY, 0.5, 130);
	selfm_count(&m, SELFM_REJECTED, 0.5, 140);
	assert_true(m.last_success == 120.5);
	selfm_count(&m, SELFM_SUCCESS, 0.25, 150);
	assert_true(m.last_success == 150);
	assert_true(m.pushes[SELFM_SUCCESS] == 2);
	assert_true(m.pushes[SELFM_RETRY] == 2);
	assert_true(m.pushes[SELFM_REJECTED] == 2);
	assert_true(m.deletes == 0);
	assert_true(m.dur_sum == 2.5);
	assert_int_equal(m.dur_counts[5], 2);  /* le=0.25 */
	assert_int_equal(m.dur_counts[6], 4);  /* le=0.5 */
}

static void
test_render_pushes(void **state)
{
	selfm m = known();

	(void)state;
	render_is(&m, "pushes_total", NULL,
	    "# HELP collector_agent_pushes_total Requests to the gateway by "
	    "result.\n"
	    "# TYPE collector_agent_pushes_total counter\n"
	    "collector_agent_pushes_total{result=\"rejected\"} 1\n"
	    "collector_agent_pushes_total{result=\"retry\"} 2\n"
	    "collector_agent_pushes_total{result=\"success\"} 5\n");
	/* Extra labels go first. */
	render_is(&m, "pushes_total", "instance=\"h\",job=\"a\"",
	    "# HELP collector_agent_pushes_total Requests to the gateway by "
	    "result.\n"
	    "# TYPE collector_agent_pushes_total counter\n"
	    "collector_agent_pushes_total{instance=\"h\",job=\"a\","
	    "result=\"rejected\"} 1\n"
	    "collector_agent_pushes_total{instance=\"h\",job=\"a\","
	    "result=\"retry\"} 2\n"
	    "collector_agent_pushes_total{instance=\"h\",job=\"a\","
	    "result=\"success\"} 5\n");
}

static void
test_render_histogram(void **state)
{
	selfm m = known();
	const char *p = "collector_agent_push_duration_seconds";
	char want[4096];

	(void)state;
	snprintf(want, sizeof(want),
	    "# HELP %1$s Duration of requests to the gateway.\n"
	    "# TYPE %1$s histogram\n"
	    "%1$s_bucket{le=\"0.005\"} 1\n"
	    "%1$s_bucket{le=\"0.01\"} 1\n"
	    "%1$s_bucket{le=\"0.025\"} 1\n"
	    "%1$s_bucket{le=\"0.05\"} 1\n"
	    "%1$s_bucket{le=\"0.1\"} 1\n"
	    "%1$s_bucket{le=\"0.25\"} 1\n"
	    "%1$s_bucket{le=\"0.5\"} 2\n"
	    "%1$s_bucket{le=\"1\"} 3\n"
	    "%1$s_bucket{le=\"2.5\"} 3\n"
	    "%1$s_bucket{le=\"5\"} 3\n"
	    "%1$s_bucket{le=\"10\"} 3\n"
	    "%1$s_bucket{le=\"30\"} 3\n"
	    "%1$s_bucket{le=\"+Inf\"} 4\n"
	    "%1$s_sum 41.25\n"
	    "%1$s_count 4\n", p);
	render_is(&m, "push_duration_seconds", NULL, want);
	snprintf(want, sizeof(want),
	    "# HELP %1$s Duration of requests to the gateway.\n"
	    "# TYPE %1$s histogram\n"
	    "%1$s_bucket{job=\"j\",le=\"0.005\"} 1\n"
	    "%1$s_bucket{job=\"j\",le=\"0.01\"} 1\n"
	    "%1$s_bucket{job=\"j\",le=\"0.025\"} 1\n"
	    "%1$s_bucket{job=\"j\",le=\"0.05\"} 1\n"
	    "%1$s_bucket{job=\"j\",le=\"0.1\"} 1\n"
	    "%1$s_bucket{job=\"j\",le=\"0.25\"} 1\n"
	    "%1$s_bucket{job=\"j\",le=\"0.5\"} 2\n"
	    "%1$s_bucket{job=\"j\",le=\"1\"} 3\n"
	    "%1$s_bucket{job=\"j\",le=\"2.5\"} 3\n"
	    "%1$s_bucket{job=\"j\",le=\"5\"} 3\n"
	    "%1$s_bucket{job=\"j\",le=\"10\"} 3\n"
	    "%1$s_bucket{job=\"j\",le=\"30\"} 3\n"
	    "%1$s_bucket{job=\"j\",le=\"+Inf\"} 4\n"
	    "%1$s_sum{job=\"j\"} 41.25\n"
	    "%1$s_count{job=\"j\"} 4\n", p);
	render_is(&m, "push_duration_seconds", "job=\"j\"", want);
	/* A fresh selfm: every bucket 0. */
	memset(&m, 0, sizeof(m));
	snprintf(want, sizeof(want),
	    "# HELP %1$s Duration of requests to the gateway.\n"
	    "# TYPE %1$s histogram\n"
	    "%1$s_bucket{le=\"0.005\"} 0\n"
	    "%1$s_bucket{le=\"0.01\"} 0\n"
	    "%1$s_bucket{le=\"0.025\"} 0\n"
	    "%1$s_bucket{le=\"0.05\"} 0\n"
	    "%1$s_bucket{le=\"0.1\"} 0\n"
	    "%1$s_bucket{le=\"0.25\"} 0\n"
	    "%1$s_bucket{le=\"0.5\"} 0\n"
	    "%1$s_bucket{le=\"1\"} 0\n"
	    "%1$s_bucket{le=\"2.5\"} 0\n"
	    "%1$s_bucket{le=\"5\"} 0\n"
	    "%1$s_bucket{le=\"10\"} 0\n"
	    "%1$s_bucket{le=\"30\"} 0\n"
	    "%1$s_bucket{le=\"+Inf\"} 0\n"
	    "%1$s_sum 0\n"
	    "%1$s_count 0\n", p);
	render_is(&m, "push_duration_seconds", "", want);
}

static void
test_render_build_info(void **state)
{
	selfm m = known();
	char want[2048];

	(void)state;
	/* The library versions are what this process links with; none
	 * holds a quote or a backslash to escape. */
	snprintf(want, sizeof(want),
	    "# HELP collector_agent_build_info The agent's version and the "
	    "libraries it runs with.\n"
	    "# TYPE collector_agent_build_info gauge\n"
	    "collector_agent_build_info{curl_version=\"%s\","
	    "microhttpd_version=\"%s\",sqlite_version=\"%s\","
	    "version=\"%s\"} 1\n",
	    curl_version_info(CURLVERSION_NOW)->version, MHD_get_version(),
	    spool_sqlite_version(), SPOOL_VERSION);
	render_is(&m, "build_info", NULL, want);
	assert_non_null(strstr(want, "version=\"0.1.0\""));
	snprintf(want, sizeof(want),
	    "# HELP collector_agent_build_info The agent's version and the "
	    "libraries it runs with.\n"
	    "# TYPE collector_agent_build_info gauge\n"
	    "collector_agent_build_info{instance=\"i\",curl_version=\"%s\","
	    "microhttpd_version=\"%s\",sqlite_version=\"%s\","
	    "version=\"%s\"} 1\n",
	    curl_version_info(CURLVERSION_NOW)->version, MHD_get_version(),
	    spool_sqlite_version(), SPOOL_VERSION);
	render_is(&m, "build_info", "instance=\"i\"", want);
}

/* Every one-sample family: HELP, TYPE and the value from its field. */
static void
test_render_gauges(void **state)
{
	selfm m = known();

	(void)state;
	render_is(&m, "deletes_total", NULL,
	    "# HELP collector_agent_deletes_total Groups deleted from the "
	    "gateway (expired or requested).\n"
	    "# TYPE collector_agent_deletes_total counter\n"
	    "collector_agent_deletes_total 3\n");
	render_is(&m, "dirty_groups", NULL,
	    "# HELP collector_agent_dirty_groups Groups changed since their "
	    "last successful push.\n"
	    "# TYPE collector_agent_dirty_groups gauge\n"
	    "collector_agent_dirty_groups 2\n");
	render_is(&m, "groups", NULL,
	    "# HELP collector_agent_groups Groups in the spool.\n"
	    "# TYPE collector_agent_groups gauge\n"
	    "collector_agent_groups 4\n");
	render_is(&m, "last_push_success_timestamp_seconds", NULL,
	    "# HELP collector_agent_last_push_success_timestamp_seconds When "
	    "a push last succeeded, in seconds since the epoch.\n"
	    "# TYPE collector_agent_last_push_success_timestamp_seconds "
	    "gauge\n"
	    "collector_agent_last_push_success_timestamp_seconds "
	    "1700000000.5\n");
	render_is(&m, "parked_groups", NULL,
	    "# HELP collector_agent_parked_groups Groups the gateway refused, "
	    "kept and retried later.\n"
	    "# TYPE collector_agent_parked_groups gauge\n"
	    "collector_agent_parked_groups 1\n");
	render_is(&m, "rejected_rows_total", NULL,
	    "# HELP collector_agent_rejected_rows_total Spool rows the fold "
	    "refused: bad text, a type clash, a negative add (see "
	    "collector-spool rejected).\n"
	    "# TYPE collector_agent_rejected_rows_total counter\n"
	    "collector_agent_rejected_rows_total 9\n");
	render_is(&m, "series", NULL,
	    "# HELP collector_agent_series Series in the spool.\n"
	    "# TYPE collector_agent_series gauge\n"
	    "collector_agent_series 120\n");
	render_is(&m, "spool_bytes", NULL,
	    "# HELP collector_agent_spool_bytes Size of the spool file and its "
	    "WAL.\n"
	    "# TYPE collector_agent_spool_bytes gauge\n"
	    "collector_agent_spool_bytes 65536\n");
	render_is(&m, "spool_oldest_pending_age_seconds", NULL,
	    "# HELP collector_agent_spool_oldest_pending_age_seconds Age of the "
	    "oldest row not yet folded; 0 when there is none.\n"
	    "# TYPE collector_agent_spool_oldest_pending_age_seconds gauge\n"
	    "collector_agent_spool_oldest_pending_age_seconds 12.25\n");
	render_is(&m, "spool_pending_rows", NULL,
	    "# HELP collector_agent_spool_pending_rows Rows written to the "
	    "spool and not yet folded.\n"
	    "# TYPE collector_agent_spool_pending_rows gauge\n"
	    "collector_agent_spool_pending_rows 7\n");
	render_is(&m, "up", NULL,
	    "# HELP collector_agent_up 1 while the agent runs.\n"
	    "# TYPE collector_agent_up gauge\n"
	    "collector_agent_up 1\n");
	render_is(&m, "up", "job=\"x\"",
	    "# HELP collector_agent_up 1 while the agent runs.\n"
	    "# TYPE collector_agent_up gauge\n"
	    "collector_agent_up{job=\"x\"} 1\n");
	render_is(&m, "groups", "job=\"x\",zone=\"a\\\"b\"",
	    "# HELP collector_agent_groups Groups in the spool.\n"
	    "# TYPE collector_agent_groups gauge\n"
	    "collector_agent_groups{job=\"x\",zone=\"a\\\"b\"} 4\n");
	/* The spool says -1 for an empty inbox; the metric says 0. */
	m.st.oldest_pending_age = -1;
	render_is(&m, "spool_oldest_pending_age_seconds", NULL,
	    "# HELP collector_agent_spool_oldest_pending_age_seconds Age of the "
	    "oldest row not yet folded; 0 when there is none.\n"
	    "# TYPE collector_agent_spool_oldest_pending_age_seconds gauge\n"
	    "collector_agent_spool_oldest_pending_age_seconds 0\n");
	m.last_success = 0;
	render_is(&m, "last_push_success_timestamp_seconds", NULL,
	    "# HELP collector_agent_last_push_success_timestamp_seconds When "
	    "a push last succeeded, in seconds since the epoch.\n"
	    "# TYPE collector_agent_last_push_success_timestamp_seconds "
	    "gauge\n"
	    "collector_agent_last_push_success_timestamp_seconds 0\n");
}

/* The limits: one sample each, labelled with the setting's name (0 is no
 * limit), sorted by label value, extra labels first. */
static void
test_render_limits(void **state)
{
	selfm m = known();

	(void)state;
	render_is(&m, "limit", NULL,
	    "# HELP collector_agent_limit The limits on what writers may create "
	    "in the spool (settings limits.*); 0 is no limit.\n"
	    "# TYPE collector_agent_limit gauge\n"
	    "collector_agent_limit{limit=\"max_groups\"} 1000\n"
	    "collector_agent_limit{limit=\"max_series\"} 100000\n"
	    "collector_agent_limit{limit=\"max_series_per_group\"} 0\n");
	render_is(&m, "limit_usage", "job=\"a\"",
	    "# HELP collector_agent_limit_usage What each limit counts now: "
	    "groups, the series of the largest group, the series of all "
	    "groups.\n"
	    "# TYPE collector_agent_limit_usage gauge\n"
	    "collector_agent_limit_usage{job=\"a\",limit=\"max_groups\"} 4\n"
	    "collector_agent_limit_usage{job=\"a\",limit=\"max_series\"} 120\n"
	    "collector_agent_limit_usage{job=\"a\","
	    "limit=\"max_series_per_group\"} 90\n");
	render_is(&m, "limit_refusals_total", NULL,
	    "# HELP collector_agent_limit_refusals_total Spool rows refused "
	    "because they would pass a limit.\n"
	    "# TYPE collector_agent_limit_refusals_total counter\n"
	    "collector_agent_limit_refusals_total{limit=\"max_groups\"} 11\n"
	    "collector_agent_limit_refusals_total{limit=\"max_series\"} 13\n"
	    "collector_agent_limit_refusals_total"
	    "{limit=\"max_series_per_group\"} 12\n");
}

/* All families in turn make one text whose family lines come in the
 * listed order; an index past the end writes nothing. */
static void
test_render_all_and_past_end(void **state)
{
	selfm m = known();
	size_t types = 0, helps = 0, at = 0;
	dbuf b;

	(void)state;
	dbuf_init(&b, 1 << 20);
	for (size_t i = 0; i < selfm_count_families(); i++)
		assert_int_equal(selfm_render(&b, &m, i, NULL), DBUF_OK);
	/* NUL-terminated for strstr, the NUL not counted. */
	assert_int_equal(dbuf_add(&b, "", 1), DBUF_OK);
	b.len--;
	for (size_t i = 0; i < selfm_count_families(); i++) {
		char line[160];
		const char *hit;

		snprintf(line, sizeof(line), "# TYPE %s ",
		    selfm_family_name(i));
		hit = strstr(b.p + at, line);
		if (hit == NULL)
			fail_msg("%s missing or out of order", line);
		at = (size_t)(hit - b.p);
	}
	for (size_t i = 0; i < b.len; i++) {
		if (b.p[i] != '#' || (i > 0 && b.p[i - 1] != '\n'))
			continue;
		if (strncmp(b.p + i, "# TYPE ", 7) == 0)
			types++;
		else if (strncmp(b.p + i, "# HELP ", 7) == 0)
			helps++;
	}
	assert_int_equal(types, NFAM);
	assert_int_equal(helps, NFAM);
	{
		size_t len = b.len;

		assert_int_equal(selfm_render(&b, &m, NFAM, NULL), DBUF_OK);
		assert_int_equal(selfm_render(&b, &m, NFAM + 5, "job=\"j\""),
		    DBUF_OK);
		assert_int_equal(b.len, len);
	}
	dbuf_free(&b);
}

/* A cap too small for the family: the error, and only whole lines. */
static void
test_render_cap(void **state)
{
	selfm m = known();
	dbuf b;

	(void)state;
	dbuf_init(&b, 100);
	assert_int_equal(selfm_render(&b, &m, fam("pushes_total"), NULL),
	    DBUF_ETOOBIG);
	assert_int_equal(b.err, DBUF_ETOOBIG);
	assert_buf(&b, "# HELP collector_agent_pushes_total Requests to the "
	    "gateway by result.\n");
	dbuf_free(&b);
}

/* A limit's state: none below 90 %, near from 90 %, reached at the limit;
 * a limit of 0 is none. */
static void
test_limit_state(void **state)
{
	selfm m;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.limit[SPOOL_LIMIT_SERIES] = 1000;
	m.use.used[SPOOL_LIMIT_SERIES] = 899;
	assert_int_equal(selfm_limit_state(&m, SPOOL_LIMIT_SERIES), 0);
	m.use.used[SPOOL_LIMIT_SERIES] = 900;
	assert_int_equal(selfm_limit_state(&m, SPOOL_LIMIT_SERIES), 1);
	m.use.used[SPOOL_LIMIT_SERIES] = 999;
	assert_int_equal(selfm_limit_state(&m, SPOOL_LIMIT_SERIES), 1);
	m.use.used[SPOOL_LIMIT_SERIES] = 1000;
	assert_int_equal(selfm_limit_state(&m, SPOOL_LIMIT_SERIES), 2);
	m.use.used[SPOOL_LIMIT_SERIES] = 5000;
	assert_int_equal(selfm_limit_state(&m, SPOOL_LIMIT_SERIES), 2);
	m.use.used[SPOOL_LIMIT_GROUPS] = 5000;
	assert_int_equal(selfm_limit_state(&m, SPOOL_LIMIT_GROUPS), 0);
}

/* The signature takes what the alerts look at from the counters, and a
 * difference in any field is named; what alerts do not look at (successful
 * or refused requests, durations, sizes) is not news. */
static void
test_signature(void **state)
{
	selfm m = known();
	selfm_sig a, b;

	(void)state;
	memset(&a, 0, sizeof(a));
	selfm_sig_fill(&a, &m);
	assert_true(a.pushes_retry == m.pushes[SELFM_RETRY]);
	assert_true(a.rw_retry == m.rw_requests[SELFM_RETRY]);
	assert_true(a.rw_dropped == m.rw_dropped);
	b = a;
	assert_null(selfm_sig_diff(&a, &b));
	/* Not news. */
	selfm_count(&m, SELFM_SUCCESS, 0.1, 2e9);
	selfm_count(&m, SELFM_REJECTED, 0.1, 2e9);
	m.rw_requests[SELFM_SUCCESS]++;
	m.rw_requests[SELFM_REJECTED]++;
	m.rw_sent += 100;
	m.st.series += 7;
	m.st.pending_rows += 7;
	m.deletes++;
	selfm_sig_fill(&b, &m);
	assert_null(selfm_sig_diff(&a, &b));
	/* News, one field at a time. */
	selfm_count(&m, SELFM_RETRY, 0.1, 2e9);
	selfm_sig_fill(&b, &m);
	assert_string_equal(selfm_sig_diff(&a, &b), "pushes_retry");
	m.pushes[SELFM_RETRY]--;
	m.rw_requests[SELFM_RETRY]++;
	selfm_sig_fill(&b, &m);
	assert_string_equal(selfm_sig_diff(&a, &b), "remote_write_retry");
	m.rw_requests[SELFM_RETRY]--;
	m.rw_dropped += 3;
	selfm_sig_fill(&b, &m);
	assert_string_equal(selfm_sig_diff(&a, &b), "remote_write_dropped");
	m.rw_dropped -= 3;
	m.limit[SPOOL_LIMIT_GROUPS] = 10;
	m.use.used[SPOOL_LIMIT_GROUPS] = 9;
	selfm_sig_fill(&b, &m);
	assert_string_equal(selfm_sig_diff(&a, &b), "max_groups");
	m.use.used[SPOOL_LIMIT_GROUPS] = 1;
	selfm_sig_fill(&b, &m);
	assert_null(selfm_sig_diff(&a, &b));
	/* The fields the agent fills. */
	b.parked = a.parked + 1;
	assert_string_equal(selfm_sig_diff(&a, &b), "parked_groups");
	b = a;
	b.rows_rejected += 1;
	assert_string_equal(selfm_sig_diff(&a, &b), "rejected_rows");
	b = a;
	b.backlog = 1;
	assert_string_equal(selfm_sig_diff(&a, &b), "backlog");
	/* The first difference is named. */
	b.parked = a.parked + 2;
	assert_string_equal(selfm_sig_diff(&a, &b), "parked_groups");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_sorted),
		cmocka_unit_test(test_owns),
		cmocka_unit_test(test_count_buckets),
		cmocka_unit_test(test_count_results),
		cmocka_unit_test(test_render_pushes),
		cmocka_unit_test(test_render_histogram),
		cmocka_unit_test(test_render_build_info),
		cmocka_unit_test(test_render_gauges),
		cmocka_unit_test(test_render_limits),
		cmocka_unit_test(test_render_all_and_past_end),
		cmocka_unit_test(test_render_cap),
		cmocka_unit_test(test_limit_state),
		cmocka_unit_test(test_signature),
	};

	return cmocka_run_group_tests_name("selfm", tests, NULL, NULL);
}
