/* pbexpo: bodies decoded back with protobuf-c's generated unpack and
 * checked field by field (values, labels and escapes, the grouping of a
 * histogram's and a summary's lines, observed classic and native
 * histograms), the caps, the errors, Accept negotiation, and protoc's own
 * decoding of one message. */
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <sys/wait.h>

#include "metrics.pb-c.h"
#include "pbexpo.h"

typedef Io__Prometheus__Client__MetricFamily mfam;
typedef Io__Prometheus__Client__Metric pmet;

#define MAX_FAMS 16

/* The body's delimited messages, unpacked. */
typedef struct decoded {
	mfam *f[MAX_FAMS];
	size_t n;
} decoded;

static void
decode(const dbuf *b, decoded *d)
{
	size_t at = 0;

	d->n = 0;
	while (at < b->len) {
		uint64_t len = 0;
		int shift = 0;
		uint8_t c;

		assert_true(d->n < MAX_FAMS);
		do {
			assert_true(at < b->len && shift < 64);
			c = (uint8_t)b->p[at++];
			len |= (uint64_t)(c & 0x7f) << shift;
			shift += 7;
		} while (c & 0x80);
		assert_true(len <= b->len - at);
		d->f[d->n] = io__prometheus__client__metric_family__unpack(NULL,
		    (size_t)len, (const uint8_t *)b->p + at);
		assert_non_null(d->f[d->n]);
		d->n++;
		at += (size_t)len;
	}
}

static void
decoded_free(decoded *d)
{
	for (size_t i = 0; i < d->n; i++)
		io__prometheus__client__metric_family__free_unpacked(d->f[i],
		    NULL);
	d->n = 0;
}

static void
labels_are(const pmet *m, const char *const *want, size_t n)
{
	assert_int_equal(m->n_label, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(m->label[i]->name, want[2 * i]);
		assert_string_equal(m->label[i]->value, want[2 * i + 1]);
	}
}

static pbexpo *
enc(size_t cap)
{
	pbexpo *e = NULL;

	assert_int_equal(pbexpo_new(cap, &e), PBEXPO_OK);
	assert_non_null(e);
	return e;
}

static void
add(pbexpo *e, const char *name, const char *labels, double v,
    const char *extra)
{
	spool_sample x = { name, labels, v, NULL };

	assert_int_equal(pbexpo_sample(e, &x, extra), PBEXPO_OK);
}

static void
test_values(void **state)
{
	(void)state;
	spool_family c = { "reqs_total", "counter", 1,
	    "a \\\\ backslash\\nand \"quotes\"" };
	spool_family g = { "temp", "gauge", 1, NULL };
	spool_family u = { "plain", "untyped", 0, "" };
	pbexpo *e = enc(1 << 20);
	decoded d;
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(pbexpo_family(e, &c, &b), PBEXPO_OK);
	add(e, "reqs_total", "a=\"x\\\"y\",b=\"1\\n2\\\\\"", 7, NULL);
	add(e, "reqs_total", "", 1e300, "instance=\"i\",job=\"j\"");
	add(e, "reqs_total", "z=\"\"", -0.5, "job=\"j\"");
	assert_int_equal(pbexpo_family(e, &g, &b), PBEXPO_OK);
	add(e, "temp", "", NAN, "");
	add(e, "temp", "room=\"k\xc3\xbc\"", -INFINITY, NULL);
	assert_int_equal(pbexpo_family(e, &u, &b), PBEXPO_OK);
	add(e, "plain", "", 3, NULL);
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);
	/* Ending twice writes nothing more. */
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);

	decode(&b, &d);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.f[0]->name, "reqs_total");
	assert_string_equal(d.f[0]->help, "a \\ backslash\nand \"quotes\"");
	assert_true(d.f[0]->has_type);
	assert_int_equal(d.f[0]->type,
	    IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER);
	assert_int_equal(d.f[0]->n_metric, 3);
	{
		static const char *const l0[] = { "a", "x\"y", "b", "1\n2\\" };
		static const char *const l1[] = { "instance", "i", "job", "j" };
		static const char *const l2[] = { "job", "j", "z", "" };

		labels_are(d.f[0]->metric[0], l0, 2);
		labels_are(d.f[0]->metric[1], l1, 2);
		labels_are(d.f[0]->metric[2], l2, 2);
	}
	for (size_t i = 0; i < 3; i++) {
		const pmet *m = d.f[0]->metric[i];

		assert_non_null(m->counter);
		assert_null(m->gauge);
		assert_null(m->untyped);
		assert_null(m->histogram);
		assert_null(m->summary);
		assert_true(m->counter->has_value);
		assert_false(m->has_timestamp_ms);
	}
	assert_true(d.f[0]->metric[0]->counter->value == 7);
	assert_true(d.f[0]->metric[1]->counter->value == 1e300);
	assert_true(d.f[0]->metric[2]->counter->value == -0.5);

	assert_string_equal(d.f[1]->name, "temp");
	assert_null(d.f[1]->help);
	assert_int_equal(d.f[1]->type,
	    IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE);
	assert_int_equal(d.f[1]->n_metric, 2);
	assert_int_equal(d.f[1]->metric[0]->n_label, 0);
	assert_true(isnan(d.f[1]->metric[0]->gauge->value));
	{
		static const char *const l[] = { "room", "k\xc3\xbc" };

		labels_are(d.f[1]->metric[1], l, 1);
	}
	assert_true(d.f[1]->metric[1]->gauge->value == -INFINITY);

	assert_string_equal(d.f[2]->name, "plain");
	assert_string_equal(d.f[2]->help, "");
	assert_int_equal(d.f[2]->type,
	    IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED);
	assert_int_equal(d.f[2]->n_metric, 1);
	assert_true(d.f[2]->metric[0]->untyped->value == 3);

	decoded_free(&d);
	dbuf_free(&b);
	pbexpo_free(e);
}

static void
bucket_is(const Io__Prometheus__Client__Histogram *h, size_t i, double ub,
    uint64_t cum)
{
	assert_true(i < h->n_bucket);
	assert_true(h->bucket[i]->has_upper_bound);
	assert_true(h->bucket[i]->upper_bound == ub);
	assert_true(h->bucket[i]->has_cumulative_count);
	assert_int_equal(h->bucket[i]->cumulative_count, cum);
}

/* The lines in the cursor's order (by name, then labels as text), three
 * label sets interleaved, one missing its _sum, one both _sum and _count,
 * and le sorting before and after another label. */
static void
test_text_histogram(void **state)
{
	(void)state;
	spool_family f = { "h", "histogram", 1, "lat" };
	pbexpo *e = enc(1 << 20);
	const Io__Prometheus__Client__Histogram *h;
	decoded d;
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(pbexpo_family(e, &f, &b), PBEXPO_OK);
	add(e, "h_bucket", "a=\"1\",le=\"+Inf\"", 5, NULL);
	add(e, "h_bucket", "a=\"1\",le=\"0.5\"", 2, NULL);
	add(e, "h_bucket", "a=\"1\",le=\"10\"", 4, NULL);
	add(e, "h_bucket", "a=\"1\",le=\"2\"", 3, NULL);
	add(e, "h_bucket", "a=\"2\",le=\"+Inf\"", 1, NULL);
	add(e, "h_bucket", "a=\"2\",le=\"1\"", 1, NULL);
	add(e, "h_bucket", "le=\"1\",z=\"q\"", 3, "job=\"j\"");
	add(e, "h_count", "a=\"1\"", 5, NULL);
	add(e, "h_count", "a=\"2\"", 1, NULL);
	add(e, "h_sum", "a=\"1\"", 7.5, NULL);
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);

	decode(&b, &d);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.f[0]->name, "h");
	assert_int_equal(d.f[0]->type,
	    IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM);
	assert_int_equal(d.f[0]->n_metric, 3);
	{
		static const char *const l0[] = { "a", "1" };
		static const char *const l1[] = { "a", "2" };
		static const char *const l2[] = { "job", "j", "z", "q" };

		labels_are(d.f[0]->metric[0], l0, 1);
		labels_are(d.f[0]->metric[1], l1, 1);
		labels_are(d.f[0]->metric[2], l2, 2);
	}
	h = d.f[0]->metric[0]->histogram;
	assert_non_null(h);
	assert_int_equal(h->n_bucket, 4);
	bucket_is(h, 0, 0.5, 2);
	bucket_is(h, 1, 2, 3);
	bucket_is(h, 2, 10, 4);
	bucket_is(h, 3, INFINITY, 5);
	assert_true(h->has_sample_count);
	assert_int_equal(h->sample_count, 5);
	assert_true(h->has_sample_sum);
	assert_true(h->sample_sum == 7.5);
	assert_false(h->has_schema);
	assert_int_equal(h->n_positive_span, 0);

	h = d.f[0]->metric[1]->histogram;
	assert_int_equal(h->n_bucket, 2);
	bucket_is(h, 0, 1, 1);
	bucket_is(h, 1, INFINITY, 1);
	assert_true(h->has_sample_count);
	assert_int_equal(h->sample_count, 1);
	/* No _sum line: no sample_sum, as the Pushgateway's parser. */
	assert_false(h->has_sample_sum);

	h = d.f[0]->metric[2]->histogram;
	assert_int_equal(h->n_bucket, 1);
	bucket_is(h, 0, 1, 3);
	assert_false(h->has_sample_count);
	assert_false(h->has_sample_sum);

	decoded_free(&d);
	dbuf_free(&b);
	pbexpo_free(e);
}

/* A set with no label but le; a bare name in a histogram family (an empty
 * Metric, as the parser makes one); le="1" and le="1.0" both kept, in
 * their order; extra labels telling two groups' sets apart (pull mode). */
static void
test_text_edges(void **state)
{
	(void)state;
	spool_family f = { "h", "histogram", 1, NULL };
	pbexpo *e = enc(1 << 20);
	const Io__Prometheus__Client__Histogram *h;
	decoded d;
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(pbexpo_family(e, &f, &b), PBEXPO_OK);
	add(e, "h", "x=\"1\"", 9, NULL);
	add(e, "h_bucket", "le=\"1\"", 1, NULL);
	add(e, "h_bucket", "le=\"1.0\"", 2, NULL);
	add(e, "h_bucket", "le=\"0.1\"", 0, NULL);
	add(e, "h_count", "", 3, NULL);
	/* The next group's lines: the same labels, other extra labels. */
	add(e, "h_bucket", "le=\"1\"", 4, "job=\"b\"");
	add(e, "h_sum", "", 0.5, "job=\"b\"");
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);

	decode(&b, &d);
	assert_int_equal(d.f[0]->n_metric, 3);
	{
		static const char *const l0[] = { "x", "1" };
		static const char *const l2[] = { "job", "b" };

		labels_are(d.f[0]->metric[0], l0, 1);
		labels_are(d.f[0]->metric[1], NULL, 0);
		labels_are(d.f[0]->metric[2], l2, 1);
	}
	h = d.f[0]->metric[0]->histogram;
	assert_non_null(h);
	assert_int_equal(h->n_bucket, 0);
	assert_false(h->has_sample_count);
	assert_false(h->has_sample_sum);
	h = d.f[0]->metric[1]->histogram;
	assert_int_equal(h->n_bucket, 3);
	bucket_is(h, 0, 0.1, 0);
	bucket_is(h, 1, 1, 1);
	bucket_is(h, 2, 1, 2);
	assert_int_equal(h->sample_count, 3);
	h = d.f[0]->metric[2]->histogram;
	assert_int_equal(h->n_bucket, 1);
	bucket_is(h, 0, 1, 4);
	assert_false(h->has_sample_count);
	assert_true(h->sample_sum == 0.5);
	decoded_free(&d);
	dbuf_free(&b);
	pbexpo_free(e);
}

static void
quantile_is(const Io__Prometheus__Client__Summary *s, size_t i, double q,
    double v)
{
	assert_true(i < s->n_quantile);
	assert_true(s->quantile[i]->quantile == q);
	assert_true(s->quantile[i]->value == v);
}

static void
test_summary(void **state)
{
	(void)state;
	spool_family f = { "s", "summary", 1, NULL };
	pbexpo *e = enc(1 << 20);
	const Io__Prometheus__Client__Summary *s;
	decoded d;
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(pbexpo_family(e, &f, &b), PBEXPO_OK);
	add(e, "s", "a=\"1\",quantile=\"0.5\"", 1, NULL);
	add(e, "s", "a=\"1\",quantile=\"0.99\"", 3, NULL);
	add(e, "s", "a=\"1\",quantile=\"0.9\"", 2, NULL);
	add(e, "s", "a=\"2\",quantile=\"0.5\"", 9, NULL);
	add(e, "s", "quantile=\"1\",x=\"y\\\\\"", 4, NULL);
	add(e, "s_count", "a=\"1\"", 10, NULL);
	add(e, "s_count", "a=\"2\"", 1, NULL);
	add(e, "s_sum", "a=\"1\"", 20, NULL);
	add(e, "s_sum", "a=\"2\"", 9, NULL);
	add(e, "s_sum", "x=\"y\\\\\"", -1, NULL);
	/* pbexpo_family of the next family ends this one. */
	assert_int_equal(pbexpo_family(e, &f, &b), PBEXPO_OK);
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);

	decode(&b, &d);
	assert_int_equal(d.n, 2);
	assert_int_equal(d.f[0]->type,
	    IO__PROMETHEUS__CLIENT__METRIC_TYPE__SUMMARY);
	assert_int_equal(d.f[0]->n_metric, 3);
	s = d.f[0]->metric[0]->summary;
	assert_non_null(s);
	assert_int_equal(s->n_quantile, 3);
	quantile_is(s, 0, 0.5, 1);
	quantile_is(s, 1, 0.9, 2);
	quantile_is(s, 2, 0.99, 3);
	assert_true(s->has_sample_count);
	assert_int_equal(s->sample_count, 10);
	assert_true(s->sample_sum == 20);
	s = d.f[0]->metric[1]->summary;
	assert_int_equal(s->n_quantile, 1);
	quantile_is(s, 0, 0.5, 9);
	assert_int_equal(s->sample_count, 1);
	assert_true(s->sample_sum == 9);
	s = d.f[0]->metric[2]->summary;
	{
		static const char *const l[] = { "x", "y\\" };

		labels_are(d.f[0]->metric[2], l, 1);
	}
	assert_int_equal(s->n_quantile, 1);
	quantile_is(s, 0, 1, 4);
	assert_false(s->has_sample_count);
	assert_true(s->has_sample_sum);
	assert_true(s->sample_sum == -1);
	/* The family begun again and ended with no sample. */
	assert_string_equal(d.f[1]->name, "s");
	assert_int_equal(d.f[1]->n_metric, 0);

	decoded_free(&d);
	dbuf_free(&b);
	pbexpo_free(e);
}

static void
test_observed_classic(void **state)
{
	(void)state;
	static const double bounds[] = { 0.1, 1, 10 };
	static const uint64_t counts[] = { 1, 2, 0, 3 };
	spool_hist h = { 3, bounds, counts, 12.5, NULL };
	spool_sample x = { "lat", "path=\"/\"", NAN, &h };
	spool_family f = { "lat", "histogram", 1, NULL };
	const Io__Prometheus__Client__Histogram *ph;
	pbexpo *e = enc(1 << 20);
	decoded d;
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(pbexpo_family(e, &f, &b), PBEXPO_OK);
	assert_int_equal(pbexpo_sample(e, &x, "job=\"j\""), PBEXPO_OK);
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);
	decode(&b, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.f[0]->n_metric, 1);
	{
		static const char *const l[] = { "job", "j", "path", "/" };

		labels_are(d.f[0]->metric[0], l, 2);
	}
	ph = d.f[0]->metric[0]->histogram;
	assert_non_null(ph);
	/* Finite bounds only: the count stands for +Inf. */
	assert_int_equal(ph->n_bucket, 3);
	bucket_is(ph, 0, 0.1, 1);
	bucket_is(ph, 1, 1, 3);
	bucket_is(ph, 2, 10, 3);
	assert_true(ph->has_sample_count);
	assert_int_equal(ph->sample_count, 6);
	assert_true(ph->sample_sum == 12.5);
	assert_false(ph->has_schema);
	assert_false(ph->has_zero_threshold);
	assert_false(ph->has_zero_count);
	assert_int_equal(ph->n_positive_span, 0);
	assert_int_equal(ph->n_negative_span, 0);
	decoded_free(&d);
	dbuf_free(&b);
	pbexpo_free(e);
}

static void
span_is(Io__Prometheus__Client__BucketSpan *const *s, size_t i, int32_t off,
    uint32_t len)
{
	assert_int_equal(s[i]->offset, off);
	assert_int_equal(s[i]->length, len);
}

static void
test_observed_native(void **state)
{
	(void)state;
	/* Gaps: one empty bucket (0), two (2, 3), five (5…9). */
	static const nhist_bucket pos[] = {
		{ -2, 1 }, { -1, 2 }, { 1, 3 }, { 4, 4 }, { 10, 5 }
	};
	static const nhist_bucket neg[] = { { 3, 7 } };
	static const int64_t pdelta[] = { 1, 1, -2, 3, -3, 0, 4, 1 };
	static const double bounds[] = { 1 };
	uint64_t counts[] = { 24 };
	uint64_t both[] = { 10, 14 };
	spool_nhist nh = { 3, SPOOL_NHIST_ZERO_THRESHOLD, 2, 24, 160,
	    pos, TU_N(pos), neg, TU_N(neg) };
	spool_hist h = { 0, NULL, counts, 33.25, &nh };
	spool_hist h2 = { 1, bounds, both, 33.25, &nh };
	spool_sample x = { "n", "", NAN, &h };
	spool_sample x2 = { "n", "k=\"v\"", NAN, &h2 };
	spool_family f = { "n", "histogram", 1, NULL };
	const Io__Prometheus__Client__Histogram *ph;
	pbexpo *e = enc(1 << 20);
	nhist_span sp[8];
	nhist_bucket back[16];
	size_t nback;
	decoded d;
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(pbexpo_family(e, &f, &b), PBEXPO_OK);
	assert_int_equal(pbexpo_sample(e, &x, NULL), PBEXPO_OK);
	assert_int_equal(pbexpo_sample(e, &x2, NULL), PBEXPO_OK);
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);
	decode(&b, &d);
	assert_int_equal(d.f[0]->n_metric, 2);
	ph = d.f[0]->metric[0]->histogram;
	assert_int_equal(ph->n_bucket, 0);
	assert_int_equal(ph->sample_count, 24);
	assert_true(ph->sample_sum == 33.25);
	assert_true(ph->has_schema);
	assert_int_equal(ph->schema, 3);
	assert_true(ph->has_zero_threshold);
	assert_true(ph->zero_threshold == SPOOL_NHIST_ZERO_THRESHOLD);
	assert_true(ph->has_zero_count);
	assert_int_equal(ph->zero_count, 2);
	assert_int_equal(ph->n_positive_span, 2);
	span_is(ph->positive_span, 0, -2, 7);
	span_is(ph->positive_span, 1, 5, 1);
	assert_int_equal(ph->n_positive_delta, TU_N(pdelta));
	for (size_t i = 0; i < TU_N(pdelta); i++)
		assert_int_equal(ph->positive_delta[i], pdelta[i]);
	assert_int_equal(ph->n_negative_span, 1);
	span_is(ph->negative_span, 0, 3, 1);
	assert_int_equal(ph->n_negative_delta, 1);
	assert_int_equal(ph->negative_delta[0], 7);
	assert_int_equal(ph->n_positive_count, 0);
	assert_int_equal(ph->n_negative_count, 0);
	/* nhist_decode gives the set back. */
	for (size_t i = 0; i < ph->n_positive_span; i++) {
		sp[i].offset = ph->positive_span[i]->offset;
		sp[i].length = ph->positive_span[i]->length;
	}
	assert_int_equal(nhist_decode(sp, ph->n_positive_span,
	    ph->positive_delta, ph->n_positive_delta, back, TU_N(back),
	    &nback), NHIST_OK);
	assert_int_equal(nback, TU_N(pos));
	for (size_t i = 0; i < nback; i++) {
		assert_int_equal(back[i].index, pos[i].index);
		assert_int_equal(back[i].count, pos[i].count);
	}
	/* Both forms: the classic bucket and the native fields. */
	ph = d.f[0]->metric[1]->histogram;
	assert_int_equal(ph->n_bucket, 1);
	bucket_is(ph, 0, 1, 10);
	assert_int_equal(ph->sample_count, 24);
	assert_int_equal(ph->schema, 3);
	assert_int_equal(ph->n_positive_span, 2);
	assert_int_equal(ph->n_negative_span, 1);
	decoded_free(&d);
	dbuf_free(&b);
	pbexpo_free(e);
}

/* A native histogram with no observation: a span {0, 0} when the zero
 * threshold is 0, so that it does not read as a classic one; none when
 * the threshold or the zero count already tell. */
static void
test_native_empty(void **state)
{
	(void)state;
	uint64_t counts[] = { 0 }, counts1[] = { 1 };
	spool_nhist nz = { 0, 0, 0, 0, 160, NULL, 0, NULL, 0 };
	spool_nhist nt = { -4, 1e-3, 0, 0, 160, NULL, 0, NULL, 0 };
	spool_nhist nc = { 8, 0, 1, 1, 160, NULL, 0, NULL, 0 };
	spool_hist h[] = {
		{ 0, NULL, counts, 0, &nz },
		{ 0, NULL, counts, 0, &nt },
		{ 0, NULL, counts1, 0, &nc },
	};
	spool_family f = { "n", "histogram", 1, NULL };
	pbexpo *e = enc(1 << 20);
	const Io__Prometheus__Client__Histogram *ph;
	decoded d;
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(pbexpo_family(e, &f, &b), PBEXPO_OK);
	for (size_t i = 0; i < TU_N(h); i++) {
		spool_sample x = { "n", "", NAN, &h[i] };

		assert_int_equal(pbexpo_sample(e, &x, NULL), PBEXPO_OK);
	}
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);
	decode(&b, &d);
	assert_int_equal(d.f[0]->n_metric, 3);
	ph = d.f[0]->metric[0]->histogram;
	assert_true(ph->has_schema);
	assert_int_equal(ph->schema, 0);
	assert_true(ph->has_zero_threshold);
	assert_true(ph->zero_threshold == 0);
	assert_int_equal(ph->n_positive_span, 1);
	span_is(ph->positive_span, 0, 0, 0);
	assert_int_equal(ph->n_positive_delta, 0);
	assert_int_equal(ph->n_negative_span, 0);
	ph = d.f[0]->metric[1]->histogram;
	assert_int_equal(ph->schema, -4);
	assert_int_equal(ph->n_positive_span, 0);
	ph = d.f[0]->metric[2]->histogram;
	assert_int_equal(ph->schema, 8);
	assert_int_equal(ph->zero_count, 1);
	assert_int_equal(ph->n_positive_span, 0);
	assert_int_equal(ph->sample_count, 1);
	decoded_free(&d);
	dbuf_free(&b);
	pbexpo_free(e);
}

/* A family over family_cap, or over out's cap, leaves out as it was. */
static void
test_caps(void **state)
{
	(void)state;
	spool_family g = { "g", "gauge", 1, NULL };
	spool_family big = { "big", "gauge", 1, NULL };
	pbexpo *e = enc(200);
	size_t before, i;
	pbexpo_err r = PBEXPO_OK;
	char *copy;
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(pbexpo_family(e, &g, &b), PBEXPO_OK);
	add(e, "g", "a=\"1\"", 1, NULL);
	assert_int_equal(pbexpo_family(e, &big, &b), PBEXPO_OK);
	before = b.len;
	assert_true(before > 0);
	copy = malloc(before);
	assert_non_null(copy);
	memcpy(copy, b.p, before);
	for (i = 0; i < 100 && r == PBEXPO_OK; i++) {
		spool_sample x = { "big", "k=\"vvvvvvvvvv\"", (double)i,
		    NULL };

		r = pbexpo_sample(e, &x, NULL);
	}
	assert_int_equal(r, PBEXPO_ETOOBIG);
	assert_true(i > 5 && i < 100);
	/* The family is gone: the next end writes nothing. */
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);
	assert_int_equal(b.len, before);
	assert_memory_equal(b.p, copy, before);
	/* A family that fits family_cap but not out. */
	dbuf_free(&b);
	dbuf_init(&b, 10);
	assert_int_equal(pbexpo_family(e, &g, &b), PBEXPO_OK);
	add(e, "g", "a=\"1\"", 1, NULL);
	add(e, "g", "a=\"2\"", 1, NULL);
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_ETOOBIG);
	assert_int_equal(b.len, 0);
	free(copy);
	dbuf_free(&b);
	pbexpo_free(e);

	/* family_cap is the encoded size of the family: exactly that fits,
	 * a byte less does not. */
	for (int less = 0; less <= 1; less++) {
		size_t size;

		dbuf_init(&b, 1 << 20);
		e = enc(1 << 20);
		assert_int_equal(pbexpo_family(e, &g, &b), PBEXPO_OK);
		add(e, "g", "a=\"1\",b=\"x\"", 1, NULL);
		add(e, "g", "a=\"2\"", 2, "job=\"j\"");
		assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);
		size = b.len - 1;
		assert_true(size < 128);
		pbexpo_free(e);
		dbuf_reset(&b);
		e = enc(size - (size_t)less);
		assert_int_equal(pbexpo_family(e, &g, &b), PBEXPO_OK);
		add(e, "g", "a=\"1\",b=\"x\"", 1, NULL);
		add(e, "g", "a=\"2\"", 2, "job=\"j\"");
		assert_int_equal(pbexpo_end(e, &b),
		    less ? PBEXPO_ETOOBIG : PBEXPO_OK);
		assert_int_equal(b.len, less ? 0 : size + 1);
		pbexpo_free(e);
		dbuf_free(&b);
	}
}

static void
test_errors(void **state)
{
	(void)state;
	spool_family f = { "g", "gauge", 1, NULL };
	spool_family badhelp = { "g", "gauge", 1, "tab\\t" };
	spool_family quote = { "g", "gauge", 1, "\\\"" };
	spool_family badtype = { "g", "nonsense", 1, NULL };
	spool_sample ok = { "g", "", 1, NULL };
	spool_sample bad = { "g", "a=1", 1, NULL };
	pbexpo *e = enc(1 << 20);
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(pbexpo_sample(e, &ok, NULL), PBEXPO_EINVAL);
	assert_int_equal(pbexpo_family(e, &badhelp, &b), PBEXPO_EINVAL);
	/* HELP escapes no quote. */
	assert_int_equal(pbexpo_family(e, &quote, &b), PBEXPO_EINVAL);
	assert_int_equal(pbexpo_family(e, &badtype, &b), PBEXPO_EINVAL);
	assert_int_equal(pbexpo_sample(e, &ok, NULL), PBEXPO_EINVAL);
	assert_int_equal(pbexpo_family(e, &f, &b), PBEXPO_OK);
	assert_int_equal(pbexpo_sample(e, &bad, NULL), PBEXPO_EINVAL);
	/* After an error no family is held. */
	assert_int_equal(pbexpo_sample(e, &ok, NULL), PBEXPO_EINVAL);
	assert_int_equal(pbexpo_family(e, &f, &b), PBEXPO_OK);
	assert_int_equal(pbexpo_sample(e, &ok, "x"), PBEXPO_EINVAL);
	/* An observed histogram outside a histogram family. */
	{
		uint64_t c[] = { 1 };
		spool_hist h = { 0, NULL, c, 1, NULL };
		spool_sample x = { "g", "", NAN, &h };

		assert_int_equal(pbexpo_family(e, &f, &b), PBEXPO_OK);
		assert_int_equal(pbexpo_sample(e, &x, NULL), PBEXPO_EINVAL);
	}
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);
	assert_int_equal(b.len, 0);
	assert_string_equal(pbexpo_strerror(PBEXPO_ETOOBIG),
	    "protobuf body over its size limit");
	pbexpo_free(e);
	pbexpo_free(NULL);
	dbuf_free(&b);
}

#define PROTO "application/vnd.google.protobuf;" \
	"proto=io.prometheus.client.MetricFamily;encoding=delimited"

static void
test_accepted(void **state)
{
	(void)state;
	/* Prometheus 2.42 with native histograms enabled, then without. */
	assert_true(pbexpo_accepted(PROTO ";q=0.7,text/plain;version=0.0.4;"
	    "q=0.3,*/*;q=0.2"));
	assert_false(pbexpo_accepted("application/openmetrics-text;"
	    "version=1.0.0,application/openmetrics-text;version=0.0.1;"
	    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
	assert_false(pbexpo_accepted(NULL));
	assert_false(pbexpo_accepted(""));
	assert_true(pbexpo_accepted(PROTO));
	assert_true(pbexpo_accepted(PBEXPO_CONTENT_TYPE));
	assert_true(pbexpo_accepted(" Application/Vnd.Google.Protobuf ; "
	    "proto=io.prometheus.client.MetricFamily ; encoding=delimited"));
	/* Text wins by q, or by coming first at an equal q. */
	assert_false(pbexpo_accepted("text/plain;q=0.9," PROTO ";q=0.8"));
	assert_true(pbexpo_accepted("text/plain;q=0.8," PROTO ";q=0.9"));
	assert_false(pbexpo_accepted("text/plain," PROTO));
	assert_true(pbexpo_accepted(PROTO ",text/plain"));
	/* A text/plain of another version is not the text format. */
	assert_true(pbexpo_accepted("text/plain;version=0.0.5," PROTO
	    ";q=0.1"));
	/* Other encodings, another message, no parameters. */
	assert_false(pbexpo_accepted("application/vnd.google.protobuf;"
	    "proto=io.prometheus.client.MetricFamily;encoding=text"));
	assert_false(pbexpo_accepted("application/vnd.google.protobuf;"
	    "proto=other.Message;encoding=delimited"));
	assert_false(pbexpo_accepted("application/vnd.google.protobuf"));
	assert_false(pbexpo_accepted("*/*"));
	assert_false(pbexpo_accepted("*/*;q=1," PROTO ";q=0"));
	assert_false(pbexpo_accepted(PROTO ";q=0"));
	assert_false(pbexpo_accepted(PROTO ";q=abc"));
	assert_false(pbexpo_accepted(",,;,/,a/b/c,=;"));
	assert_true(pbexpo_accepted("garbage, " PROTO ";q=0.5"));
}

/* protoc's own reading of one message (no delimiter), with agent/
 * metrics.proto: skipped when protoc or the file is not there. */
static void
test_protoc(void **state)
{
	(void)state;
	spool_family f = { "c_total", "counter", 1, "he\\nlp" };
	char *dir, *in, *outp, *cmd = NULL, got[512];
	pbexpo *e = enc(1 << 20);
	size_t n, skip = 1;
	FILE *fp;
	dbuf b;

	if (access("agent/metrics.proto", R_OK) != 0 ||
	    system("command -v protoc >/dev/null 2>&1") != 0) {
		pbexpo_free(e);
		tu_skip("protoc or agent/metrics.proto not found (Debian "
		    "package protobuf-compiler; run from the top directory)");
		return;
	}
	dbuf_init(&b, 1 << 20);
	assert_int_equal(pbexpo_family(e, &f, &b), PBEXPO_OK);
	add(e, "c_total", "a=\"b\"", 2, NULL);
	assert_int_equal(pbexpo_end(e, &b), PBEXPO_OK);
	assert_true(b.len > 1 && (uint8_t)b.p[0] < 0x80);
	dir = tu_mkdtemp();
	assert_non_null(dir);
	in = tu_path(dir, "msg");
	outp = tu_path(dir, "text");
	fp = fopen(in, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(b.p + skip, 1, b.len - skip, fp), b.len - skip);
	assert_int_equal(fclose(fp), 0);
	assert_true(asprintf(&cmd, "protoc --proto_path=agent --decode "
	    "io.prometheus.client.MetricFamily agent/metrics.proto <%s >%s",
	    in, outp) > 0);
	assert_int_equal(system(cmd), 0);
	fp = fopen(outp, "r");
	assert_non_null(fp);
	n = fread(got, 1, sizeof(got) - 1, fp);
	got[n] = '\0';
	fclose(fp);
	assert_string_equal(got,
	    "name: \"c_total\"\n"
	    "help: \"he\\nlp\"\n"
	    "type: COUNTER\n"
	    "metric {\n"
	    "  label {\n"
	    "    name: \"a\"\n"
	    "    value: \"b\"\n"
	    "  }\n"
	    "  counter {\n"
	    "    value: 2\n"
	    "  }\n"
	    "}\n");
	unlink(in);
	unlink(outp);
	rmdir(dir);
	free(cmd);
	free(in);
	free(outp);
	free(dir);
	dbuf_free(&b);
	pbexpo_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_text_histogram),
		cmocka_unit_test(test_text_edges),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_observed_classic),
		cmocka_unit_test(test_observed_native),
		cmocka_unit_test(test_native_empty),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_accepted),
		cmocka_unit_test(test_protoc),
	};

	return cmocka_run_group_tests_name("pbexpo", tests, NULL, NULL);
}
