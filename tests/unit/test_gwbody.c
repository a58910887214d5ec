/* The gateway's PUT body: the text format byte for byte as render.c writes
 * it (the agent's own families merged in by name in the default group), the
 * protobuf format for a group holding native histograms (each delimited
 * MetricFamily decoded with the generated code: exact fields), bodies read
 * in pieces, and the failures: a family over the cap, a failing source. */
#include "testutil.h"

#include <math.h>

#include "dbuf.h"
#include "gwbody.h"
#include "pbdelim.h"
#include "pbexpo.h"
#include "render.h"
#include "selfm.h"

/* A source over arrays: sample i is x[i] of family f[i]. */
typedef struct asrc {
	const spool_family *const *f;
	const spool_sample *const *x;
	size_t n, i;
	size_t fail_at;      /* fails when asked for this sample; 0 never */
} asrc;

static int
asrc_next(void *arg, const spool_family **f, const spool_sample **x,
    int *fresh)
{
	asrc *a = arg;

	if (a->fail_at != 0 && a->i + 1 == a->fail_at)
		return -1;
	if (a->i == a->n) {
		*f = NULL;
		*x = NULL;
		*fresh = 0;
		return 0;
	}
	*f = a->f[a->i];
	*x = a->x[a->i];
	*fresh = a->i == 0 || a->f[a->i - 1] != a->f[a->i];
	a->i++;
	return 0;
}

/* Reads the whole body, piece bytes at a time; sets *len. NULL when the
 * body stopped (read returned -1). */
static char *
read_all(gwbody *b, size_t piece, size_t *len)
{
	dbuf out;
	char *buf = malloc(piece);

	assert_non_null(buf);
	dbuf_init(&out, 64u * 1024u * 1024u);
	for (int i = 0; i < 10000000; i++) {
		size_t n = gwbody_read(buf, piece, b);
		if (n == (size_t)-1) {
			free(buf);
			dbuf_free(&out);
			return NULL;
		}
		if (n == 0)
			break;
		assert_true(n <= piece);
		assert_int_equal(dbuf_add(&out, buf, n), DBUF_OK);
	}
	free(buf);
	assert_int_equal(gwbody_sent(b), out.len);
	if (out.p == NULL)
		assert_int_equal(dbuf_add(&out, "", 0), DBUF_OK);
	return dbuf_take(&out, len);
}

/* --- the families of the tests ------------------------------------------ */

static const spool_family f_req = { "app_requests_total", "counter", 1,
	"Requests served \\\\ by path." };
static const spool_family f_temp = { "app_temp", "gauge", 1, NULL };
static const spool_family f_lat = { "app_latency_seconds", "histogram", 1,
	"Latency." };
static const spool_family f_mine = { "collector_agent_up", "gauge", 1,
	"Written by a user." };
static const spool_family f_zz = { "zz_last", "untyped", 0, NULL };

static const spool_sample s_req1 = { "app_requests_total",
	"path=\"/a\"", 7, NULL };
static const spool_sample s_req2 = { "app_requests_total",
	"path=\"/b\\\"q\"", 1e21, NULL };
static const spool_sample s_temp = { "app_temp", "", -0.5, NULL };
static const spool_sample s_mine = { "collector_agent_up", "", 5, NULL };
static const spool_sample s_zz = { "zz_last", "k=\"v\"", 3, NULL };

/* A native-only histogram: buckets -2, -1, 2 and 10 (positive), 0
 * (negative), one in the zero bucket. */
static const nhist_bucket nb_pos[] = { { -2, 3 }, { -1, 1 }, { 2, 4 },
	{ 10, 1 } };
static const nhist_bucket nb_neg[] = { { 0, 2 } };
static const spool_nhist nh = { 3, SPOOL_NHIST_ZERO_THRESHOLD, 1, 12, 160,
	nb_pos, 4, nb_neg, 1 };
static const uint64_t native_counts[] = { 12 };
static const spool_hist h_native = { 0, NULL, native_counts, 7.25, &nh };
static const spool_sample s_native = { "app_latency_seconds",
	"route=\"/n\"", NAN, &h_native };
/* Both forms: classic bounds 1 and 5 as well. */
static const double both_bounds[] = { 1, 5 };
static const uint64_t both_counts[] = { 4, 6, 2 };
static const spool_hist h_both = { 2, both_bounds, both_counts, 7.25, &nh };
static const spool_sample s_both = { "app_latency_seconds",
	"route=\"/x\"", NAN, &h_both };

/* The text render.c writes for these samples, with the agent's families
 * of m put before the first family sorting after them. */
static char *
text_of(const spool_family *const *f, const spool_sample *const *x,
    size_t n, const selfm *m, size_t *len)
{
	dbuf b;
	size_t self = 0;

	dbuf_init(&b, 1u << 24);
	for (size_t i = 0; i <= n; i++) {
		int fresh = i < n && (i == 0 || f[i - 1] != f[i]);
		if (i < n && !fresh) {
			render_sample(&b, x[i], NULL);
			continue;
		}
		while (m != NULL && selfm_family_name(self) != NULL &&
		    (i == n || strcmp(selfm_family_name(self), f[i]->name) < 0))
			selfm_render(&b, m, self++, NULL);
		if (i == n)
			break;
		render_family(&b, f[i]);
		render_sample(&b, x[i], NULL);
	}
	assert_int_equal(b.err, DBUF_OK);
	return dbuf_take(&b, len);
}

/* --- protobuf decoding --------------------------------------------------- */

/* The native fields of the histogram above. */
static void
native_is(const Io__Prometheus__Client__Histogram *h)
{
	static const int64_t pdelta[] = { 3, -2, -1, 0, 4, -3 };

	assert_true(h->has_sample_count);
	assert_int_equal(h->sample_count, 12);
	assert_true(h->sample_sum == 7.25);
	assert_true(h->has_schema);
	assert_int_equal(h->schema, 3);
	assert_true(h->zero_threshold == SPOOL_NHIST_ZERO_THRESHOLD);
	assert_int_equal(h->zero_count, 1);
	/* -2..2 in one span (a gap of two is written as zeros), then 10. */
	assert_int_equal(h->n_positive_span, 2);
	assert_int_equal(h->positive_span[0]->offset, -2);
	assert_int_equal(h->positive_span[0]->length, 5);
	assert_int_equal(h->positive_span[1]->offset, 7);
	assert_int_equal(h->positive_span[1]->length, 1);
	assert_int_equal(h->n_positive_delta, 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(h->positive_delta[i], pdelta[i]);
	assert_int_equal(h->n_negative_span, 1);
	assert_int_equal(h->negative_span[0]->offset, 0);
	assert_int_equal(h->negative_span[0]->length, 1);
	assert_int_equal(h->n_negative_delta, 1);
	assert_int_equal(h->negative_delta[0], 2);
}

/* --- tests ---------------------------------------------------------------- */

static void
test_text_byte_for_byte(void **state)
{
	const spool_family *f[] = { &f_lat, &f_req, &f_req, &f_temp };
	const spool_sample *x[] = { &s_both, &s_req1, &s_req2, &s_temp };
	static const size_t pieces[] = { 1, 7, 1024, 1u << 20 };
	static const char head[] = "# HELP app_latency_seconds Latency.\n"
	    "# TYPE app_latency_seconds histogram\n"
	    "app_latency_seconds_bucket{route=\"/x\",le=\"1\"} 4\n";
	gwbody *b;
	char *want, *got;
	size_t wlen, glen;

	(void)state;
	assert_int_equal(gwbody_new(&b), GWBODY_OK);
	want = text_of(f, x, 4, NULL, &wlen);
	/* A literal check of the start: the format itself. */
	assert_true(strncmp(want, head, strlen(head)) == 0);
	for (size_t k = 0; k < 4; k++) {
		asrc a = { f, x, 4, 0, 0 };
		gwbody_start(b, GWBODY_TEXT, asrc_next, &a, 0, NULL);
		got = read_all(b, pieces[k], &glen);
		assert_non_null(got);
		assert_int_equal(glen, wlen);
		assert_memory_equal(got, want, wlen);
		assert_int_equal(gwbody_error(b), GWBODY_OK);
		assert_null(gwbody_why(b));
		free(got);
	}
	/* An empty group (no source): an empty body. */
	gwbody_start(b, GWBODY_TEXT, NULL, NULL, 0, NULL);
	got = read_all(b, 100, &glen);
	assert_int_equal(glen, 0);
	free(got);
	assert_string_equal(gwbody_content_type(GWBODY_TEXT),
	    "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(gwbody_content_type(GWBODY_PROTOBUF),
	    PBEXPO_CONTENT_TYPE);
	free(want);
	gwbody_free(b);
}

/* The default group: the agent's families by name among the group's,
 * a user's collector_agent_* family left out, in either format. */
static void
test_default_group(void **state)
{
	const spool_family *f[] = { &f_req, &f_mine, &f_zz };
	const spool_sample *x[] = { &s_req1, &s_mine, &s_zz };
	const spool_family *fw[] = { &f_req, &f_zz };
	const spool_sample *xw[] = { &s_req1, &s_zz };
	selfm m;
	gwbody *b;
	char *want, *got;
	size_t wlen, glen, nself = selfm_count_families();
	msgs d = { .n = 0 };

	(void)state;
	memset(&m, 0, sizeof(m));
	m.pushes[SELFM_SUCCESS] = 41;
	m.pushes[SELFM_RETRY] = 2;
	m.dur_counts[0] = 3;
	m.dur_counts[SELFM_NDUR] = 1;
	m.dur_sum = 12.5;
	assert_int_equal(gwbody_new(&b), GWBODY_OK);

	want = text_of(fw, xw, 2, &m, &wlen);
	{
		asrc a = { f, x, 3, 0, 0 };
		gwbody_start(b, GWBODY_TEXT, asrc_next, &a, 1, &m);
		got = read_all(b, 333, &glen);
	}
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	assert_null(strstr(got, "Written by a user"));
	free(got);
	free(want);

	{
		asrc a = { f, x, 3, 0, 0 };
		gwbody_start(b, GWBODY_PROTOBUF, asrc_next, &a, 1, &m);
		got = read_all(b, 333, &glen);
	}
	assert_non_null(got);
	decode(got, glen, &d);
	assert_int_equal(d.n, nself + 2);
	assert_string_equal(d.m[0]->name, "app_requests_total");
	for (size_t i = 0; i < nself; i++) {
		const mfam *mf = d.m[1 + i];
		assert_string_equal(mf->name, selfm_family_name(i));
		assert_true(mf->has_type);
		if (strcmp(mf->name, SELFM_PREFIX "up") == 0) {
			assert_int_equal(mf->type,
			    IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE);
			assert_string_equal(mf->help, "1 while the agent runs.");
			assert_int_equal(mf->n_metric, 1);
			assert_true(mf->metric[0]->gauge->value == 1);
		}
		if (strcmp(mf->name, SELFM_PREFIX "pushes_total") == 0) {
			assert_int_equal(mf->type,
			    IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER);
			assert_int_equal(mf->n_metric, 3);
			label_is(mf->metric[0], 0, "result", "rejected");
			label_is(mf->metric[1], 0, "result", "retry");
			label_is(mf->metric[2], 0, "result", "success");
			assert_true(mf->metric[0]->counter->value == 0);
			assert_true(mf->metric[1]->counter->value == 2);
			assert_true(mf->metric[2]->counter->value == 41);
		}
		if (strcmp(mf->name, SELFM_PREFIX "push_duration_seconds") ==
		    0) {
			const Io__Prometheus__Client__Histogram *h;
			assert_int_equal(mf->type,
			    IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM);
			assert_int_equal(mf->n_metric, 1);
			h = mf->metric[0]->histogram;
			assert_int_equal(h->sample_count, 4);
			assert_true(h->sample_sum == 12.5);
			assert_int_equal(h->n_bucket, SELFM_NDUR);
			assert_true(h->bucket[0]->upper_bound == 0.005);
			assert_int_equal(h->bucket[0]->cumulative_count, 3);
			assert_int_equal(h->bucket[SELFM_NDUR - 1]->
			    cumulative_count, 3);
			assert_false(h->has_schema);
		}
	}
	assert_string_equal(d.m[nself + 1]->name, "zz_last");
	assert_int_equal(d.m[nself + 1]->type,
	    IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED);
	msgs_free(&d);
	free(got);
	gwbody_free(b);
}

/* A group with native histograms: delimited MetricFamily messages, each
 * field as the spool holds it. */
static void
test_protobuf_native(void **state)
{
	const spool_family *f[] = { &f_lat, &f_lat, &f_req, &f_req,
		&f_temp };
	const spool_sample *x[] = { &s_native, &s_both, &s_req1, &s_req2,
		&s_temp };
	static const size_t pieces[] = { 1, 5, 4096 };
	gwbody *b;
	char *got;
	size_t glen;
	msgs d = { .n = 0 };

	(void)state;
	assert_int_equal(gwbody_new(&b), GWBODY_OK);
	for (size_t k = 0; k < 3; k++) {
		const Io__Prometheus__Client__Histogram *h;
		asrc a = { f, x, 5, 0, 0 };
		gwbody_start(b, GWBODY_PROTOBUF, asrc_next, &a, 0, NULL);
		got = read_all(b, pieces[k], &glen);
		assert_non_null(got);
		decode(got, glen, &d);
		assert_int_equal(d.n, 3);

		assert_string_equal(d.m[0]->name, "app_latency_seconds");
		assert_string_equal(d.m[0]->help, "Latency.");
		assert_int_equal(d.m[0]->type,
		    IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM);
		assert_int_equal(d.m[0]->n_metric, 2);
		label_is(d.m[0]->metric[0], 0, "route", "/n");
		assert_int_equal(d.m[0]->metric[0]->n_label, 1);
		h = d.m[0]->metric[0]->histogram;
		native_is(h);
		assert_int_equal(h->n_bucket, 0);
		label_is(d.m[0]->metric[1], 0, "route", "/x");
		h = d.m[0]->metric[1]->histogram;
		native_is(h);
		assert_int_equal(h->n_bucket, 2);
		assert_true(h->bucket[0]->upper_bound == 1);
		assert_int_equal(h->bucket[0]->cumulative_count, 4);
		assert_true(h->bucket[1]->upper_bound == 5);
		assert_int_equal(h->bucket[1]->cumulative_count, 10);

		assert_string_equal(d.m[1]->name, "app_requests_total");
		/* HELP unescaped: the text's "\\\\" is one backslash. */
		assert_string_equal(d.m[1]->help,
		    "Requests served \\ by path.");
		assert_int_equal(d.m[1]->type,
		    IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER);
		assert_int_equal(d.m[1]->n_metric, 2);
		label_is(d.m[1]->metric[0], 0, "path", "/a");
		assert_true(d.m[1]->metric[0]->counter->value == 7);
		label_is(d.m[1]->metric[1], 0, "path", "/b\"q");
		assert_true(d.m[1]->metric[1]->counter->value == 1e21);

		assert_string_equal(d.m[2]->name, "app_temp");
		assert_null(d.m[2]->help);
		assert_int_equal(d.m[2]->type,
		    IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE);
		assert_int_equal(d.m[2]->n_metric, 1);
		assert_int_equal(d.m[2]->metric[0]->n_label, 0);
		assert_true(d.m[2]->metric[0]->gauge->value == -0.5);
		msgs_free(&d);
		free(got);
	}
	gwbody_free(b);
}

/* The same group as text: le="+Inf", _sum and _count for native-only. */
static void
test_text_native_only(void **state)
{
	const spool_family *f[] = { &f_lat };
	const spool_sample *x[] = { &s_native };
	asrc a = { f, x, 1, 0, 0 };
	gwbody *b;
	char *got;
	size_t glen;

	(void)state;
	assert_int_equal(gwbody_new(&b), GWBODY_OK);
	gwbody_start(b, GWBODY_TEXT, asrc_next, &a, 0, NULL);
	got = read_all(b, 100, &glen);
	assert_string_equal(got, "# HELP app_latency_seconds Latency.\n"
	    "# TYPE app_latency_seconds histogram\n"
	    "app_latency_seconds_bucket{route=\"/n\",le=\"+Inf\"} 12\n"
	    "app_latency_seconds_sum{route=\"/n\"} 7.25\n"
	    "app_latency_seconds_count{route=\"/n\"} 12\n");
	free(got);
	gwbody_free(b);
}

/* A source of n samples of one family, made as they are asked for. */
typedef struct gsrc {
	size_t n, i;
	char labels[300];
	spool_sample x;
} gsrc;

static const spool_family f_big = { "big_family", "gauge", 1, NULL };

static int
gsrc_next(void *arg, const spool_family **f, const spool_sample **x,
    int *fresh)
{
	gsrc *g = arg;

	if (g->i == g->n) {
		*f = NULL;
		*x = NULL;
		return 0;
	}
	snprintf(g->labels, sizeof(g->labels), "id=\"%0200zu\"", g->i);
	g->x.name = "big_family";
	g->x.labels = g->labels;
	g->x.value = (double)g->i;
	g->x.hist = NULL;
	*f = &f_big;
	*x = &g->x;
	*fresh = g->i++ == 0;
	return 0;
}

/* One family over GWBODY_MAX encoded: the body stops, the reason names
 * the family and the fix; the next body starts clean. */
static void
test_family_over_cap(void **state)
{
	gsrc g = { 0 };
	gwbody *b;
	char *got;
	size_t glen;

	(void)state;
	assert_int_equal(gwbody_new(&b), GWBODY_OK);
	/* About 230 bytes a metric: 100,000 are over 16 MiB. */
	g.n = 100000;
	gwbody_start(b, GWBODY_PROTOBUF, gsrc_next, &g, 0, NULL);
	assert_null(read_all(b, 65536, &glen));
	assert_int_equal(gwbody_error(b), GWBODY_ETOOBIG);
	assert_string_equal(gwbody_why(b), "family big_family is over 16 MiB "
	    "encoded (the gateway takes a group in one body, and each "
	    "protobuf family whole): put fewer series in one family");
	assert_true(gwbody_sent(b) == 0);

	/* Under the cap it goes, in one message. */
	memset(&g, 0, sizeof(g));
	g.n = 50000;
	gwbody_start(b, GWBODY_PROTOBUF, gsrc_next, &g, 0, NULL);
	got = read_all(b, 65536, &glen);
	assert_non_null(got);
	assert_true(glen > 10000000);
	assert_null(gwbody_why(b));
	free(got);
	gwbody_free(b);
}

/* A failing source stops the body: GWBODY_ESOURCE, no reason of its own
 * (the source's owner has it). A body given up half way leaves nothing to
 * the next one. */
static void
test_source_fails(void **state)
{
	const spool_family *f[] = { &f_req, &f_req, &f_temp };
	const spool_sample *x[] = { &s_req1, &s_req2, &s_temp };
	asrc a = { f, x, 3, 0, 2 };
	gwbody *b;
	char *got, buf[16];
	size_t glen;
	msgs d = { .n = 0 };

	(void)state;
	assert_int_equal(gwbody_new(&b), GWBODY_OK);
	gwbody_start(b, GWBODY_PROTOBUF, asrc_next, &a, 0, NULL);
	assert_int_equal(gwbody_read(buf, sizeof(buf), b), (size_t)-1);
	assert_int_equal(gwbody_error(b), GWBODY_ESOURCE);
	assert_null(gwbody_why(b));
	/* Again: still stopped. */
	assert_int_equal(gwbody_read(buf, sizeof(buf), b), (size_t)-1);

	/* Half way through a family, then a new body. */
	{
		gsrc g = { 0 };
		g.n = 1000;
		gwbody_start(b, GWBODY_PROTOBUF, gsrc_next, &g, 0, NULL);
		assert_int_equal(gwbody_read(buf, sizeof(buf), b),
		    sizeof(buf));
	}
	a.i = 0;
	a.fail_at = 0;
	gwbody_start(b, GWBODY_PROTOBUF, asrc_next, &a, 0, NULL);
	got = read_all(b, 4096, &glen);
	assert_non_null(got);
	decode(got, glen, &d);
	assert_int_equal(d.n, 2);
	assert_string_equal(d.m[0]->name, "app_requests_total");
	assert_string_equal(d.m[1]->name, "app_temp");
	msgs_free(&d);
	free(got);
	gwbody_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_byte_for_byte),
		cmocka_unit_test(test_default_group),
		cmocka_unit_test(test_protobuf_native),
		cmocka_unit_test(test_text_native_only),
		cmocka_unit_test(test_family_over_cap),
		cmocka_unit_test(test_source_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
