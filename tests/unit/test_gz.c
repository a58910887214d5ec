/* The streaming gzip compressor: what it produces inflates (zlib) to
 * exactly the input, for empty, tiny, exactly-64-KiB and multi-MB inputs
 * pulled in odd chunk sizes from a source and read out in odd sizes; its
 * memory does not grow with the input; errors and reuse. */
#include "testutil.h"

#include <zlib.h>

#include "gz.h"

/* A source over a buffer that gives odd-sized pieces and checks that it is
 * never asked for more than GZ_IN_CAP. */
typedef struct src {
	const char *p;
	size_t len, off;
	size_t calls;
	size_t max_cap;      /* the largest cap asked for */
	long fail_after;     /* abort after this many bytes; -1 never */
} src;

static const size_t pieces[] = { 1, 7, 4093, 3, 16384, 65536, 511, 2 };

static size_t
src_read(char *buf, size_t cap, void *arg)
{
	src *s = arg;
	size_t n = pieces[s->calls++ % (sizeof(pieces) / sizeof(pieces[0]))];

	if (cap > s->max_cap)
		s->max_cap = cap;
	if (s->fail_after >= 0 && s->off >= (size_t)s->fail_after)
		return (size_t)-1;
	if (n > cap)
		n = cap;
	if (n > s->len - s->off)
		n = s->len - s->off;
	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return n;
}

/* Metric-like text with some variety, so that deflate has work to do. */
static char *
make_input(size_t len)
{
	char *p = malloc(len + 1);
	size_t o = 0;
	unsigned long x = 88172645463325252ul;

	assert_non_null(p);
	while (o < len) {
		char line[160];
		int n;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		n = snprintf(line, sizeof(line), "api_requests_total{code=\"%lu"
		    "\",path=\"/api/v1/items/%lu\",v=\"caf\xc3\xa9 \\\"q\\\"\"} "
		    "%lu\n", 200 + x % 5, x % 100000, x % 1000003);
		if ((size_t)n > len - o)
			n = (int)(len - o);
		memcpy(p + o, line, (size_t)n);
		o += (size_t)n;
	}
	p[len] = '\0';
	return p;
}

/*
 * Compresses src through z, reading out in sizes that cycle through outs,
 * inflates the result and compares it with want. head bytes go first.
 * Returns the compressed size.
 */
static size_t
roundtrip(gz_t *z, const char *want, size_t len, size_t headlen,
    const size_t *outs, size_t nouts)
{
	src s = { want, len, headlen, 0, 0, -1 };
	size_t cap = len + len / 2 + 2 * 65536, total = 0, n, k = 0;
	unsigned char *gzbuf = malloc(cap), *back = malloc(len + 1);
	uint64_t cin, cout;
	z_stream zs;
	int rc, short_read = 0;

	assert_non_null(gzbuf);
	assert_non_null(back);
	assert_int_equal(gz_start(z, want, headlen, src_read, &s), GZ_OK);
	for (;;) {
		size_t want_n = outs[k++ % nouts];

		assert_true(total + want_n <= cap);
		assert_int_equal(gz_read(z, (char *)gzbuf + total, want_n, &n),
		    GZ_OK);
		if (n == 0)
			break;
		/* At least GZ_OUT_MIN (or what was asked for), except for
		 * the stream's last bytes; never more than asked for. */
		assert_false(short_read);
		assert_true(n <= want_n);
		short_read = n < (want_n < GZ_OUT_MIN ? want_n : GZ_OUT_MIN);
		total += n;
	}
	/* And it stays at the end. */
	assert_int_equal(gz_read(z, (char *)gzbuf, 16, &n), GZ_OK);
	assert_int_equal(n, 0);
	assert_true(s.max_cap <= GZ_IN_CAP);
	gz_counts(z, &cin, &cout);
	assert_int_equal(cin, len);
	assert_int_equal(cout, total);

	assert_true(total >= 18);  /* a gzip header and trailer at least */
	assert_int_equal(gzbuf[0], 0x1f);
	assert_int_equal(gzbuf[1], 0x8b);
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = gzbuf;
	zs.avail_in = (uInt)total;
	zs.next_out = back;
	zs.avail_out = (uInt)len + 1;
	rc = inflate(&zs, Z_FINISH);
	assert_int_equal(rc, Z_STREAM_END);
	/* One gzip member, nothing after it. */
	assert_int_equal(zs.avail_in, 0);
	assert_int_equal(zs.total_out, len);
	assert_memory_equal(back, want, len);
	inflateEnd(&zs);
	free(gzbuf);
	free(back);
	return total;
}

static const size_t outs_odd[] = { 1, 7, 5000, 65536, 13 };
static const size_t outs_big[] = { 65536 };

static void
test_sizes(void **state)
{
	static const size_t lens[] = { 0, 1, 4, 1024, 65535, 65536, 65537,
	    2u * 1024 * 1024 + 17 };
	gz_t *z = NULL;

	(void)state;
	assert_int_equal(gz_new(-1, &z), GZ_OK);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char *in = make_input(lens[i]);

		/* One gz_t for every stream: gz_start() resets it. Read out
		 * in odd sizes, and (but for the largest, to keep the test
		 * quick under valgrind) in curl's. */
		(void)roundtrip(z, in, lens[i], 0, outs_odd, 5);
		if (lens[i] < 1024 * 1024)
			(void)roundtrip(z, in, lens[i], 0, outs_big, 1);
		free(in);
	}
	gz_free(z);
}

static void
test_tiny_exact(void **state)
{
	gz_t *z = NULL;

	(void)state;
	assert_int_equal(gz_new(6, &z), GZ_OK);
	(void)roundtrip(z, "m 1\n", 4, 0, outs_odd, 5);
	(void)roundtrip(z, "", 0, 0, outs_odd, 5);
	gz_free(z);
}

static void
test_head(void **state)
{
	gz_t *z = NULL;
	char *in = make_input(200000);

	(void)state;
	assert_int_equal(gz_new(6, &z), GZ_OK);
	/* The caller read the first 1025 bytes itself. */
	(void)roundtrip(z, in, 200000, 1025, outs_odd, 5);
	/* All of a small body in head; the source ends at once. */
	(void)roundtrip(z, in, 900, 900, outs_odd, 5);
	/* head as big as allowed, then more. */
	(void)roundtrip(z, in, 200000, GZ_IN_CAP, outs_big, 1);
	assert_int_equal(gz_start(z, in, GZ_IN_CAP + 1, src_read, NULL),
	    GZ_EINVAL);
	free(in);
	gz_free(z);
}

/* Memory stays what it was after the first stream, whatever the size. */
static void
test_bounded(void **state)
{
	size_t len = 4u * 1024 * 1024;
	char *in = make_input(len);
	gz_t *z = NULL;
	size_t m0, m1, m4, out;

	(void)state;
	assert_int_equal(gz_new(-1, &z), GZ_OK);
	m0 = gz_memory(z);
	(void)roundtrip(z, in, 256 * 1024, 0, outs_big, 1);
	m1 = gz_memory(z);
	out = roundtrip(z, in, len, 0, outs_big, 1);
	m4 = gz_memory(z);
	assert_int_equal(m0, m1);
	assert_int_equal(m1, m4);
	/* zlib's 256 KiB of state, the input buffer, the struct. */
	assert_true(m4 < 300u * 1024);
	assert_true(m4 > 256u * 1024);
	/* The input compresses, or the test would show nothing. */
	assert_true(out < len / 3);
	free(in);
	gz_free(z);
}

static void
test_levels(void **state)
{
	size_t len = 256 * 1024, s1, s9;
	char *in = make_input(len);
	gz_t *z1 = NULL, *z9 = NULL;

	(void)state;
	assert_int_equal(gz_new(1, &z1), GZ_OK);
	assert_int_equal(gz_new(9, &z9), GZ_OK);
	s1 = roundtrip(z1, in, len, 0, outs_big, 1);
	s9 = roundtrip(z9, in, len, 0, outs_big, 1);
	assert_true(s9 < s1);
	gz_free(z1);
	gz_free(z9);
	free(in);
}

static void
test_errors(void **state)
{
	char *in = make_input(100000), buf[64];
	src s = { in, 100000, 0, 0, 0, 30000 };
	gz_t *z = NULL;
	size_t n = 5;
	gz_err e;

	(void)state;
	assert_int_equal(gz_new(0, &z), GZ_EINVAL);
	assert_null(z);
	assert_int_equal(gz_new(10, &z), GZ_EINVAL);
	assert_int_equal(gz_new(-2, &z), GZ_EINVAL);
	assert_int_equal(gz_new(6, NULL), GZ_EINVAL);
	assert_int_equal(gz_new(6, &z), GZ_OK);
	/* Before a stream starts, nothing is read. */
	assert_int_equal(gz_read(z, buf, sizeof(buf), &n), GZ_EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(gz_start(z, NULL, 1, src_read, &s), GZ_EINVAL);
	assert_int_equal(gz_start(z, NULL, 0, NULL, &s), GZ_EINVAL);
	assert_int_equal(gz_start(z, NULL, 0, src_read, &s), GZ_OK);
	assert_int_equal(gz_read(z, buf, 0, &n), GZ_EINVAL);
	assert_int_equal(gz_read(z, NULL, 1, &n), GZ_EINVAL);
	/* The source aborts part way: the stream is dead... */
	while ((e = gz_read(z, buf, sizeof(buf), &n)) == GZ_OK)
		assert_true(n > 0);
	assert_int_equal(e, GZ_ESOURCE);
	assert_int_equal(n, 0);
	assert_int_equal(gz_read(z, buf, sizeof(buf), &n), GZ_EZLIB);
	/* ...until the next one, which is whole. */
	(void)roundtrip(z, in, 100000, 0, outs_odd, 5);
	assert_string_equal(gz_strerror(GZ_ESOURCE),
	    "the body's source failed");
	assert_string_equal(gz_strerror((gz_err)99), "unknown error");
	assert_int_equal(gz_memory(NULL), 0);
	gz_free(z);
	gz_free(NULL);
	free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_tiny_exact),
		cmocka_unit_test(test_head),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
