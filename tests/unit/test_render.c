/* render: exact texts for families, samples and histograms, the buffer's
 * cap, a parse(render(s)) == s round trip, and promtool's verdict. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <sys/wait.h>

#include "expo.h"
#include "render.h"
#include "dbufcheck.h"

static void
family_is(const spool_family *f, const char *want)
{
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(render_family(&b, f), DBUF_OK);
	assert_buf(&b, want);
	dbuf_free(&b);
}

static void
sample_is(const char *name, const char *labels, double v, const char *extra,
    const char *want)
{
	spool_sample x = { name, labels, v, NULL };
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(render_sample(&b, &x, extra), DBUF_OK);
	assert_buf(&b, want);
	dbuf_free(&b);
}

static void
test_family(void **state)
{
	(void)state;
	spool_family f = { "http_requests_total", "counter", 1,
	    "Requests served." };

	family_is(&f, "# HELP http_requests_total Requests served.\n"
	    "# TYPE http_requests_total counter\n");
	f.help = NULL;
	family_is(&f, "# TYPE http_requests_total counter\n");
	/* HELP arrives escaped and is written as given. */
	f.help = "a \\\\ backslash\\nand a newline";
	family_is(&f, "# HELP http_requests_total a \\\\ backslash\\nand a "
	    "newline\n# TYPE http_requests_total counter\n");
	f.help = "";
	family_is(&f, "# HELP http_requests_total \n"
	    "# TYPE http_requests_total counter\n");
}

static void
test_family_untyped(void **state)
{
	(void)state;
	spool_family f = { "m", "untyped", 0, NULL };

	/* Never named by a TYPE line: no lines at all. */
	family_is(&f, "");
	f.help = "text";
	family_is(&f, "# HELP m text\n");
	/* A TYPE line said untyped: say it again. */
	f.typed = 1;
	family_is(&f, "# HELP m text\n# TYPE m untyped\n");
	/* A type the fold gave it (observe makes histograms). */
	f.typed = 0;
	f.type = "histogram";
	f.help = NULL;
	family_is(&f, "# TYPE m histogram\n");
	f.type = "gauge";
	family_is(&f, "# TYPE m gauge\n");
}

static void
test_samples(void **state)
{
	(void)state;
	sample_is("m", "", 3, NULL, "m 3\n");
	sample_is("m", "", 3, "", "m 3\n");
	sample_is("m", NULL, 3, NULL, "m 3\n");
	sample_is("m", "a=\"1\",b=\"2\"", 3, NULL, "m{a=\"1\",b=\"2\"} 3\n");
	/* Label values arrive escaped and are copied as they are. */
	sample_is("m", "a=\"x\\\\y\\\"z\\n\",b=\"\u00e9\"", 1, NULL,
	    "m{a=\"x\\\\y\\\"z\\n\",b=\"\u00e9\"} 1\n");
	sample_is("ns:m_total", "a=\"\"", 1, NULL, "ns:m_total{a=\"\"} 1\n");
	/* Extra labels go first. */
	sample_is("m", "a=\"1\"", 2, "job=\"j\",instance=\"\"",
	    "m{job=\"j\",instance=\"\",a=\"1\"} 2\n");
	sample_is("m", "", 2, "job=\"j\"", "m{job=\"j\"} 2\n");
}

static void
test_values(void **state)
{
	(void)state;
	sample_is("m", "", 3, NULL, "m 3\n");
	sample_is("m", "", 0, NULL, "m 0\n");
	sample_is("m", "", -0.0, NULL, "m -0\n");
	sample_is("m", "", -42, NULL, "m -42\n");
	sample_is("m", "", 0.1, NULL, "m 0.1\n");
	sample_is("m", "", 1e-7, NULL, "m 1e-07\n");
	sample_is("m", "", 2.5, NULL, "m 2.5\n");
	sample_is("m", "", 1.0 / 3, NULL, "m 0.3333333333333333\n");
	sample_is("m", "", 1e15, NULL, "m 1e+15\n");
	sample_is("m", "", 999999999999999, NULL, "m 999999999999999\n");
	sample_is("m", "", -999999999999999, NULL, "m -999999999999999\n");
	sample_is("m", "", 1.5e-300, NULL, "m 1.5e-300\n");
	sample_is("m", "", NAN, NULL, "m NaN\n");
	sample_is("m", "", INFINITY, NULL, "m +Inf\n");
	sample_is("m", "", -INFINITY, NULL, "m -Inf\n");
}

/* A small deterministic generator, so a failure can be replayed. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static double
rnd_double(uint64_t *s)
{
	uint64_t bits;
	double v;

	switch (rnd(s) % 6) {
	case 0:  /* any bit pattern: subnormals, NaNs, infinities */
		bits = rnd(s);
		memcpy(&v, &bits, sizeof(v));
		return v;
	case 1:  /* whole numbers around the integer fast path's limit */
		v = (double)(int64_t)(rnd(s) % 4000000000000000ULL) -
		    2000000000000000.0;
		return v;
	case 2:
		return (double)(int64_t)(rnd(s) % 2001) - 1000;
	case 3:
		return (double)(rnd(s) % 1000000) / 1000;
	case 4:
		return ldexp((double)(rnd(s) >> 11), (int)(rnd(s) % 200) - 100);
	default:
		return -(double)(rnd(s) % 100) / 7;
	}
}

/*
 * render has its own formatter for whole numbers; it must write what
 * expo_format_value writes, byte for byte, around every edge.
 */
static void
test_values_match_expo(void **state)
{
	(void)state;
	static const double edge[] = { 0, -0.0, 1, -1, 9, 10, 99, 100, 101,
	    1e14, 999999999999999, 1e15, 1e15 + 1, -1e15, -999999999999999,
	    9007199254740992.0, 9007199254740993.0, 1e16, 1e20, 1e300,
	    9.2233720368547758e18, -9.2233720368547758e18, 1.8446744073709552e19,
	    0.5, -0.5, 4503599627370495.5, 5e-324, DBL_MIN, DBL_MAX, -DBL_MAX,
	    NAN, INFINITY, -INFINITY };
	char want[EXPO_VALUE_BUF + 8], wv[EXPO_VALUE_BUF];
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	dbuf b;

	dbuf_init(&b, 1 << 20);
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]) + 200000; i++) {
		double v = i < sizeof(edge) / sizeof(edge[0]) ? edge[i] :
		    rnd_double(&seed);
		spool_sample x = { "m", "", v, NULL };
		size_t n = expo_format_value(v, wv);

		assert_true(n < EXPO_VALUE_BUF);
		want[0] = 'm';
		want[1] = ' ';
		memcpy(want + 2, wv, n);
		want[n + 2] = '\n';
		want[n + 3] = '\0';
		dbuf_reset(&b);
		assert_int_equal(render_sample(&b, &x, NULL), DBUF_OK);
		assert_buf(&b, want);
	}
	dbuf_free(&b);
}

static const double hb[] = { 0.005, 0.5, 1, 10 };
static const uint64_t hc[] = { 1, 0, 2, 3, 4 };

static void
test_histogram(void **state)
{
	(void)state;
	spool_hist h = { 4, hb, hc, 27.25, NULL };
	spool_sample x = { "lat_seconds", "", NAN, &h };
	dbuf b;

	dbuf_init(&b, 1 << 20);
	assert_int_equal(render_sample(&b, &x, NULL), DBUF_OK);
	assert_buf(&b,
	    "lat_seconds_bucket{le=\"0.005\"} 1\n"
	    "lat_seconds_bucket{le=\"0.5\"} 1\n"
	    "lat_seconds_bucket{le=\"1\"} 3\n"
	    "lat_seconds_bucket{le=\"10\"} 6\n"
	    "lat_seconds_bucket{le=\"+Inf\"} 10\n"
	    "lat_seconds_sum 27.25\n"
	    "lat_seconds_count 10\n");

	dbuf_reset(&b);
	x.labels = "path=\"/a\\\"b\"";
	assert_int_equal(render_sample(&b, &x, NULL), DBUF_OK);
	assert_buf(&b,
	    "lat_seconds_bucket{path=\"/a\\\"b\",le=\"0.005\"} 1\n"
	    "lat_seconds_bucket{path=\"/a\\\"b\",le=\"0.5\"} 1\n"
	    "lat_seconds_bucket{path=\"/a\\\"b\",le=\"1\"} 3\n"
	    "lat_seconds_bucket{path=\"/a\\\"b\",le=\"10\"} 6\n"
	    "lat_seconds_bucket{path=\"/a\\\"b\",le=\"+Inf\"} 10\n"
	    "lat_seconds_sum{path=\"/a\\\"b\"} 27.25\n"
	    "lat_seconds_count{path=\"/a\\\"b\"} 10\n");

	dbuf_reset(&b);
	assert_int_equal(render_sample(&b, &x, "job=\"j\""), DBUF_OK);
	assert_buf(&b,
	    "lat_seconds_bucket{job=\"j\",path=\"/a\\\"b\",le=\"0.005\"} 1\n"
	    "lat_seconds_bucket{job=\"j\",path=\"/a\\\"b\",le=\"0.5\"} 1\n"
	    "lat_seconds_bucket{job=\"j\",path=\"/a\\\"b\",le=\"1\"} 3\n"
	    "lat_seconds_bucket{job=\"j\",path=\"/a\\\"b\",le=\"10\"} 6\n"
	    "lat_seconds_bucket{job=\"j\",path=\"/a\\\"b\",le=\"+Inf\"} 10\n"
	    "lat_seconds_sum{job=\"j\",path=\"/a\\\"b\"} 27.25\n"
	    "lat_seconds_count{job=\"j\",path=\"/a\\\"b\"} 10\n");

	dbuf_reset(&b);
	x.labels = "";
	assert_int_equal(render_sample(&b, &x, "job=\"j\""), DBUF_OK);
	assert_buf(&b,
	    "lat_seconds_bucket{job=\"j\",le=\"0.005\"} 1\n"
	    "lat_seconds_bucket{job=\"j\",le=\"0.5\"} 1\n"
	    "lat_seconds_bucket{job=\"j\",le=\"1\"} 3\n"
	    "lat_seconds_bucket{job=\"j\",le=\"10\"} 6\n"
	    "lat_seconds_bucket{job=\"j\",le=\"+Inf\"} 10\n"
	    "lat_seconds_sum{job=\"j\"} 27.25\n"
	    "lat_seconds_count{job=\"j\"} 10\n");
	dbuf_free(&b);
}

static void
test_histogram_edges(void **state)
{
	(void)state;
	static const double bounds[] = { -1, 1e-7, 2.5e15 };
	static const uint64_t big[] = { UINT64_MAX / 2, UINT64_MAX / 2, 1, 0 };
	static const uint64_t none[] = { 0 };
	spool_hist h = { 3, bounds, big, NAN, NULL };
	spool_sample x = { "h", "", NAN, &h };
	dbuf b;

	/* Counts are integers beyond 2^53 and printed exactly; bounds and
	 * the sum are values like any other. */
	dbuf_init(&b, 1 << 20);
	assert_int_equal(render_sample(&b, &x, NULL), DBUF_OK);
	assert_buf(&b,
	    "h_bucket{le=\"-1\"} 9223372036854775807\n"
	    "h_bucket{le=\"1e-07\"} 18446744073709551614\n"
	    "h_bucket{le=\"2.5e+15\"} 18446744073709551615\n"
	    "h_bucket{le=\"+Inf\"} 18446744073709551615\n"
	    "h_sum NaN\n"
	    "h_count 18446744073709551615\n");

	/* No finite bounds: the +Inf bucket alone. */
	dbuf_reset(&b);
	h.n = 0;
	h.counts = none;
	h.sum = -0.0;
	assert_int_equal(render_sample(&b, &x, NULL), DBUF_OK);
	assert_buf(&b, "h_bucket{le=\"+Inf\"} 0\nh_sum -0\nh_count 0\n");
	dbuf_free(&b);
}

/* What render_hist_each hands out, kept, and the text it makes: each
 * line as render writes it, from the callback's parts alone. */
typedef struct hist_seen {
	const spool_sample *x;
	const char *extra;
	dbuf text;
	char suffix[8][8], le[8][32];
	double value[8];
	int has_le[8];
	size_t n, stop;
} hist_seen;

static int
hist_cb(const render_hist_line *l, void *arg)
{
	hist_seen *s = arg;
	const char *labels = s->x->labels;
	int first = 1;

	assert_int_equal(strlen(l->suffix), l->slen);
	assert_int_equal(strlen(l->text), l->tlen);
	if (s->n < 8) {
		snprintf(s->suffix[s->n], sizeof(s->suffix[0]), "%s",
		    l->suffix);
		s->has_le[s->n] = l->le != NULL;
		if (l->le != NULL) {
			assert_int_equal(strlen(l->le), l->lelen);
			snprintf(s->le[s->n], sizeof(s->le[0]), "%s", l->le);
		}
		s->value[s->n] = l->value;
	}
	dbuf_addf(&s->text, "%s%s", s->x->name, l->suffix);
	if ((s->extra && *s->extra) || *labels || l->le)
		dbuf_adds(&s->text, "{");
	if (s->extra && *s->extra) {
		dbuf_adds(&s->text, s->extra);
		first = 0;
	}
	if (*labels) {
		dbuf_addf(&s->text, "%s%s", first ? "" : ",", labels);
		first = 0;
	}
	if (l->le)
		dbuf_addf(&s->text, "%sle=\"%s\"", first ? "" : ",", l->le);
	if ((s->extra && *s->extra) || *labels || l->le)
		dbuf_adds(&s->text, "}");
	dbuf_addf(&s->text, " %s\n", l->text);
	return ++s->n == s->stop ? 7 : 0;
}

/* render_sample's text is the lines render_hist_each gives, in its order:
 * for several histograms, with and without own labels and extra labels. */
static void
test_hist_each(void **state)
{
	static const double bounds[] = { -1, 1e-7, 2.5e15 };
	static const uint64_t big[] = { UINT64_MAX / 2, UINT64_MAX / 2, 1, 0 };
	static const uint64_t none[] = { 7 };
	static const char *const labels[] = { "", "path=\"/a\\\"b\"" };
	static const char *const extras[] = { NULL, "", "job=\"j\",g=\"1\"" };
	spool_hist hs[] = { { 4, hb, hc, 27.25, NULL }, { 3, bounds, big, NAN, NULL },
	    { 0, bounds, none, -0.0, NULL } };
	spool_sample x = { "lat_seconds", "", NAN, NULL };
	hist_seen s;
	dbuf b;

	(void)state;
	dbuf_init(&b, 1 << 20);
	for (size_t h = 0; h < 3; h++)
		for (size_t l = 0; l < 2; l++)
			for (size_t e = 0; e < 3; e++) {
				memset(&s, 0, sizeof(s));
				x.hist = &hs[h];
				x.labels = labels[l];
				s.x = &x;
				s.extra = extras[e];
				dbuf_init(&s.text, 1 << 20);
				dbuf_reset(&b);
				assert_int_equal(render_sample(&b, &x,
				    extras[e]), DBUF_OK);
				assert_int_equal(render_hist_each(&x, hist_cb,
				    &s), 0);
				assert_int_equal(s.text.err, DBUF_OK);
				assert_int_equal(s.n, hs[h].n + 3);
				assert_int_equal(b.len, s.text.len);
				assert_memory_equal(b.p, s.text.p, b.len);
				dbuf_free(&s.text);
			}
	dbuf_free(&b);

	/* The sequence itself: buckets in order with their cumulative
	 * counts, +Inf last with the total, then _sum, then _count. */
	memset(&s, 0, sizeof(s));
	x.hist = &hs[0];
	x.labels = "";
	s.x = &x;
	dbuf_init(&s.text, 1 << 20);
	assert_int_equal(render_hist_each(&x, hist_cb, &s), 0);
	assert_int_equal(s.n, 7);
	{
		static const char *const les[] = { "0.005", "0.5", "1", "10",
		    "+Inf" };
		static const double cum[] = { 1, 1, 3, 6, 10 };

		for (size_t i = 0; i < 5; i++) {
			assert_string_equal(s.suffix[i], "_bucket");
			assert_true(s.has_le[i]);
			assert_string_equal(s.le[i], les[i]);
			assert_true(s.value[i] == cum[i]);
		}
	}
	assert_string_equal(s.suffix[5], "_sum");
	assert_false(s.has_le[5]);
	assert_true(s.value[5] == 27.25);
	assert_string_equal(s.suffix[6], "_count");
	assert_false(s.has_le[6]);
	assert_true(s.value[6] == 10);
	dbuf_free(&s.text);

	/* A callback's non-zero stops the walk and is returned. */
	memset(&s, 0, sizeof(s));
	s.x = &x;
	s.stop = 3;
	dbuf_init(&s.text, 1 << 20);
	assert_int_equal(render_hist_each(&x, hist_cb, &s), 7);
	assert_int_equal(s.n, 3);
	dbuf_free(&s.text);
}

static void
test_buf(void **state)
{
	(void)state;
	char chunk[1000];
	dbuf b;

	/* Many small writes: the content survives every growth, and the
	 * allocation never passes the cap. */
	dbuf_init(&b, 1000000);
	for (int i = 0; i < 1000; i++) {
		memset(chunk, 'a' + i % 26, (size_t)(i % 997) + 1);
		size_t before = b.len;
		assert_int_equal(dbuf_add(&b, chunk, (size_t)(i % 997) + 1),
		    DBUF_OK);
		assert_int_equal(b.p[before], 'a' + i % 26);
	}
	assert_true(b.cap <= b.max);
	assert_true(b.len <= b.cap);
	size_t pos = 0;
	for (int i = 0; i < 1000; i++) {
		for (size_t j = 0; j < (size_t)(i % 997) + 1; j++)
			if (b.p[pos + j] != 'a' + i % 26)
				fail_msg("byte %zu of chunk %d", j, i);
		pos += (size_t)(i % 997) + 1;
	}
	assert_int_equal(pos, b.len);
	assert_int_equal(dbuf_add(&b, "", 0), DBUF_OK);
	dbuf_free(&b);
	dbuf_free(&b);
	dbuf_free(NULL);

	/* Filled exactly to the cap. */
	dbuf_init(&b, 10);
	assert_int_equal(dbuf_add(&b, "0123456789", 10), DBUF_OK);
	assert_int_equal(b.len, 10);
	assert_true(b.cap <= 10);
	assert_int_equal(dbuf_add(&b, "x", 1), DBUF_ETOOBIG);
	assert_int_equal(dbuf_add(&b, "", 0), DBUF_ETOOBIG);
	assert_int_equal(b.len, 10);
	dbuf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(dbuf_add(&b, "abc", 3), DBUF_OK);
	assert_buf(&b, "abc");
	dbuf_free(&b);

	assert_string_equal(render_strerror(DBUF_OK), "ok");
	assert_non_null(render_strerror(DBUF_ENOMEM));
	assert_non_null(render_strerror(DBUF_ETOOBIG));
	assert_string_not_equal(render_strerror(DBUF_ENOMEM),
	    render_strerror(DBUF_ETOOBIG));
}

static void
test_render_cap(void **state)
{
	(void)state;
	spool_family f = { "m", "gauge", 1, "help" };
	spool_sample x = { "m", "a=\"1\"", 12345, NULL };
	spool_hist h = { 4, hb, hc, 1, NULL };
	spool_sample hx = { "h", "", NAN, &h };
	size_t max = 100, last = 0;
	dbuf_err e = DBUF_OK;
	dbuf b;

	/* Lines are written whole or not at all: past the cap, the buffer
	 * holds the lines that fit and len never passes max. */
	dbuf_init(&b, max);
	assert_int_equal(render_family(&b, &f), DBUF_OK);
	for (int i = 0; i < 100 && e == DBUF_OK; i++) {
		last = b.len;
		e = render_sample(&b, &x, NULL);
		assert_true(b.len <= max);
	}
	assert_int_equal(e, DBUF_ETOOBIG);
	assert_int_equal(b.err, DBUF_ETOOBIG);
	assert_int_equal(b.len, last);
	assert_int_equal(b.p[b.len - 1], '\n');
	assert_true(b.len + strlen("m{a=\"1\"} 12345\n") > max);

	/* Sticky: even what would fit is refused. */
	assert_int_equal(dbuf_add(&b, "x", 1), DBUF_ETOOBIG);
	assert_int_equal(render_family(&b, &f), DBUF_ETOOBIG);
	x.name = "n";
	x.labels = "";
	assert_int_equal(render_sample(&b, &x, NULL), DBUF_ETOOBIG);
	assert_int_equal(b.len, last);

	/* Reset clears it. */
	dbuf_reset(&b);
	assert_int_equal(render_sample(&b, &x, NULL), DBUF_OK);
	assert_buf(&b, "n 12345\n");

	/* A histogram that does not fit whole leaves nothing of itself. */
	dbuf_reset(&b);
	assert_int_equal(render_sample(&b, &x, NULL), DBUF_OK);
	assert_int_equal(render_sample(&b, &hx, NULL), DBUF_ETOOBIG);
	assert_buf(&b, "n 12345\n");
	assert_true(b.cap <= max);
	dbuf_free(&b);

	/* A line exactly as long as the cap fits. */
	dbuf_init(&b, strlen("n 12345\n"));
	assert_int_equal(render_sample(&b, &x, NULL), DBUF_OK);
	assert_int_equal(b.len, b.max);
	dbuf_free(&b);

	/* Cap 0: nothing fits, and nothing is allocated. */
	dbuf_init(&b, 0);
	assert_int_equal(render_sample(&b, &x, NULL), DBUF_ETOOBIG);
	assert_int_equal(b.len, 0);
	assert_null(b.p);
	dbuf_free(&b);
}

/* A random escaped label value: plain text, escapes and UTF-8. */
static size_t
rnd_value(uint64_t *s, char *out)
{
	static const char *const bits[] = { "a", "Z", "0", " ", "/", "\\\\",
	    "\\\"", "\\n", "\u00e9", "\u4e2d", "\U0001F600", "{", "}", ",", "=",
	    "#", "'" };
	size_t n = 0, k = rnd(s) % 12;

	for (size_t i = 0; i < k; i++) {
		const char *p = bits[rnd(s) % (sizeof(bits) / sizeof(bits[0]))];
		size_t l = strlen(p);
		memcpy(out + n, p, l);
		n += l;
	}
	return n;
}

/* A random canonical label set: sorted, distinct names, escaped values. */
static void
rnd_labels(uint64_t *s, char *out, size_t outlen)
{
	/* Not job or instance: those are the extra labels' names. */
	static const char *const names[] = { "a", "b_", "code", "method",
	    "path", "Z9", "_x" };
	char val[EXPO_MAX_LABELS][256];
	expo_label l[EXPO_MAX_LABELS];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (rnd(s) % 3 != 0)
			continue;
		l[n].name.p = names[i];
		l[n].name.len = strlen(names[i]);
		l[n].value.p = val[n];
		l[n].value.len = rnd_value(s, val[n]);
		n++;
	}
	expo_sort_labels(l, n);
	assert_true(expo_labels_len(l, n) < outlen);
	out[expo_join_labels(out, l, n)] = '\0';
}

static int
same_double(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/*
 * parse(render(s)) == s: every line read back with the project's parser
 * gives the same name, the extra labels followed by the same label text,
 * and the same double, bit for bit (NaN is NaN: its payload is not kept).
 */
static void
test_round_trip(void **state)
{
	(void)state;
	static const char *const names[] = { "m", "api_requests_total",
	    "ns:sub:m", "_u", "A1" };
	enum { N = 20000 };
	static const char extra[] = "job=\"j\\\\1\",instance=\"\"";
	char (*labels)[1024] = calloc(N, sizeof(*labels));
	char *extras = calloc(N, 1);
	double *vals = calloc(N, sizeof(*vals));
	const char **nm = calloc(N, sizeof(*nm));
	expo_line *l = calloc(1, sizeof(*l));
	uint64_t seed = 0x2545f4914f6cdd1dULL;
	const char *line, *why;
	size_t pos = 0, llen, i = 0;
	dbuf b;

	assert_non_null(labels);
	assert_non_null(extras);
	assert_non_null(vals);
	assert_non_null(nm);
	assert_non_null(l);
	dbuf_init(&b, 64u << 20);
	for (i = 0; i < N; i++) {
		spool_sample x;

		nm[i] = names[rnd(&seed) % (sizeof(names) / sizeof(names[0]))];
		rnd_labels(&seed, labels[i], sizeof(labels[i]));
		extras[i] = rnd(&seed) % 4 == 0;
		vals[i] = rnd_double(&seed);
		x.name = nm[i];
		x.labels = labels[i];
		x.value = vals[i];
		x.hist = NULL;
		assert_int_equal(render_sample(&b, &x, extras[i] ? extra :
		    NULL), DBUF_OK);
	}
	for (i = 0; expo_next_line(b.p, b.len, &pos, &line, &llen); i++) {
		char got[2048];
		size_t glen;

		assert_true(i < N);
		if (expo_parse_line(line, llen, l, &why) != 0)
			fail_msg("line %zu: %s: %.*s", i + 1, why, (int)llen,
			    line);
		assert_int_equal(l->kind, EXPO_SAMPLE);
		assert_true(expo_str_eq(l->name, nm[i]));
		glen = expo_join_labels(got, l->labels, l->nlabels);
		got[glen] = '\0';
		if (extras[i]) {
			size_t el = strlen(extra);
			assert_memory_equal(got, extra, el);
			if (labels[i][0] != '\0') {
				assert_int_equal(got[el], ',');
				assert_string_equal(got + el + 1, labels[i]);
			} else
				assert_int_equal(glen, el);
		} else
			assert_string_equal(got, labels[i]);
		if (!same_double(l->value, vals[i]))
			fail_msg("line %zu: %.17g came back as %.17g", i + 1,
			    vals[i], l->value);
	}
	assert_int_equal(i, N);
	dbuf_free(&b);
	free(l);
	free(nm);
	free(vals);
	free(extras);
	free(labels);
}

/*
 * Runs `promtool check metrics` (from $PATH) on body, given on its standard
 * input, and returns its exit status: 127 when it cannot be run, -1 if it
 * did not exit. Its output goes to a file, not to ours, which carries TAP;
 * it is copied into *out (caller frees).
 */
static int
promtool_check(const char *body, size_t len, char **out)
{
	char *dir = tu_mkdtemp(), *log;
	int in[2], st = 0, fd;
	pid_t pid;
	FILE *fp;

	assert_non_null(dir);
	log = tu_path(dir, "promtool.out");
	assert_non_null(log);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pipe(in), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(in[0]);
		close(in[1]);
		close(fd);
		execlp("promtool", "promtool", "check", "metrics", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(fd);
	/* promtool may stop reading early; a closed pipe must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(in[1], body + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(in[1]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*out = NULL;
	if ((fp = fopen(log, "r")) != NULL) {
		size_t cap = 65536, n;
		*out = calloc(1, cap);
		if (*out != NULL) {
			n = fread(*out, 1, cap - 1, fp);
			(*out)[n] = '\0';
		}
		fclose(fp);
	}
	free(log);
	tu_rmdir(dir);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A body of several families as the agent writes them. */
static void
render_body(dbuf *b)
{
	static const spool_family fams[] = {
		{ "api_requests_total", "counter", 1,
		    "Requests by code.\\nSecond line \\\\ backslash." },
		{ "lat_seconds", "histogram", 1, "Latency." },
		{ "queue_depth", "gauge", 1, NULL },
		{ "temperature_celsius", "gauge", 0, "No TYPE line was given." },
		{ "untyped_thing", "untyped", 0, NULL },
	};
	static const double bounds[] = { 0.005, 0.01, 0.1, 1, 10 };
	static const uint64_t c1[] = { 0, 1, 5, 2, 0, 1 };
	static const uint64_t c2[] = { 3, 0, 0, 0, 0, 0 };
	spool_hist h1 = { 5, bounds, c1, 14.25, NULL },
	    h2 = { 5, bounds, c2, 0.003, NULL };
	const char *extra = "job=\"promtool\",instance=\"\"";
	const spool_sample s0[] = {
		{ "api_requests_total", "code=\"200\",path=\"/a\\\"b\\\\c\\nd\"",
		    12345, NULL },
		{ "api_requests_total", "code=\"500\",path=\"/\u00e9\"", 0.5,
		    NULL },
	};
	const spool_sample s1[] = {
		{ "lat_seconds", "path=\"/a\"", NAN, &h1 },
		{ "lat_seconds", "path=\"/b\"", NAN, &h2 },
	};
	const spool_sample s2[] = { { "queue_depth", "", -0.0, NULL } };
	const spool_sample s3[] = {
		{ "temperature_celsius", "room=\"a\"", NAN, NULL },
		{ "temperature_celsius", "room=\"b\"", INFINITY, NULL },
		{ "temperature_celsius", "room=\"c\"", -INFINITY, NULL },
		{ "temperature_celsius", "room=\"d\"", 1e-7, NULL },
	};
	const spool_sample s4[] = { { "untyped_thing", "", 1e300, NULL } };
	const spool_sample *ss[] = { s0, s1, s2, s3, s4 };
	const size_t ns[] = { 2, 2, 1, 4, 1 };

	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(render_family(b, &fams[i]), DBUF_OK);
		for (size_t j = 0; j < ns[i]; j++)
			assert_int_equal(render_sample(b, &ss[i][j],
			    i % 2 ? extra : NULL), DBUF_OK);
	}
}

static void
test_promtool(void **state)
{
	(void)state;
	const char *bad = "m{a=\"\\q\"} 1\n";
	char *out = NULL;
	int st;
	dbuf b;

	dbuf_init(&b, 1 << 20);
	render_body(&b);
	st = promtool_check(b.p, b.len, &out);
	if (st == 127) {
		free(out);
		dbuf_free(&b);
		tu_skip("promtool cannot be run (Debian package prometheus)");
		return;
	}
	/* 3 is lint only (naming advice about users' metrics). */
	if (st != 0 && st != 3)
		fail_msg("promtool exit %d:\n%s\nbody:\n%.*s", st,
		    out ? out : "", (int)b.len, b.p);
	free(out);

	/* The check can fail: a bad escape is refused. */
	st = promtool_check(bad, strlen(bad), &out);
	if (st != 1)
		fail_msg("promtool exit %d for %s:\n%s", st, bad,
		    out ? out : "");
	free(out);
	dbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family),
		cmocka_unit_test(test_family_untyped),
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_values_match_expo),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_histogram_edges),
		cmocka_unit_test(test_hist_each),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_render_cap),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_promtool),
	};

	return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
