/* serve: the pull-mode listener over real HTTP on 127.0.0.1 (libcurl as
 * the client): /metrics plain and gzip, rendering shared within a second,
 * errors and limits, the health and readiness endpoints, methods, and the
 * listen addresses it takes or refuses. */
#include "testutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>

#include <curl/curl.h>
#include <zlib.h>

#include "log.h"
#include "pbexpo.h"
#include "serve.h"

#define CT "text/plain; version=0.0.4; charset=utf-8"
#define TEXT "# HELP m A gauge.\n# TYPE m gauge\nm{a=\"1\"} 1\n" \
    "m{a=\"2\"} 2\nm{a=\"3\"} 3\nm{a=\"4\"} 4\nm{a=\"5\"} 5\n"

/*
 * The server's clock. serve.c reads CLOCK_MONOTONIC through
 * clock_gettime(); defining it here (the program's definition comes before
 * libc's) lets a test stop time on every thread but the test's own, so
 * that "two scrapes less than a second apart" holds whatever the machine's
 * load, and a second can pass without sleeping. The test's thread (libcurl
 * and its timeouts) always sees the real clock.
 */
static pthread_t main_thread;
static atomic_int frozen;
static atomic_int main_too;   /* the test's thread too, for a moment */
static _Atomic long long frozen_ns;

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	if (id == CLOCK_MONOTONIC && atomic_load(&frozen) &&
	    (atomic_load(&main_too) ||
	    !pthread_equal(pthread_self(), main_thread))) {
		long long ns = atomic_load(&frozen_ns);

		ts->tv_sec = (time_t)(ns / 1000000000);
		ts->tv_nsec = (long)(ns % 1000000000);
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

static long long
real_ns(void)
{
	struct timespec ts;

	assert_int_equal(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts), 0);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Stops the server's clock at the real time plus ahead_ns. */
static void
freeze(long long ahead_ns)
{
	atomic_store(&frozen_ns, real_ns() + ahead_ns);
	atomic_store(&frozen, 1);
}

static void
advance(long long ns)
{
	atomic_fetch_add(&frozen_ns, ns);
}

/* serve_beat() at the stopped clock's time exactly. */
static void
beat_frozen(serve_t *s)
{
	assert_true(atomic_load(&frozen));
	atomic_store(&main_too, 1);
	serve_beat(s);
	atomic_store(&main_too, 0);
}

/* --- the callback -------------------------------------------------------- */

enum mode { M_TEXT, M_COUNT, M_FAIL, M_BIG, M_EMPTY };

struct fx {
	serve_t *s;
	unsigned port;
	atomic_int calls;
	atomic_int mode;
	atomic_int pb_calls;   /* renderings in protobuf */
};

/* The protobuf rendering: bytes that are not text, and which call. */
static int
metrics_pb_cb(void *arg, dbuf *out, char *err, size_t errlen)
{
	struct fx *f = arg;
	int n = atomic_fetch_add(&f->pb_calls, 1) + 1;
	char b[64];

	(void)err;
	(void)errlen;
	memset(b, 0, sizeof(b));
	snprintf(b + 1, sizeof(b) - 1, "pb %d", n);
	return dbuf_add(out, b, sizeof(b)) == DBUF_OK ? 0 : -1;
}

static int
metrics_cb(void *arg, dbuf *out, char *err, size_t errlen)
{
	struct fx *f = arg;
	int n = atomic_fetch_add(&f->calls, 1) + 1;
	char line[64];
	char big[100];

	switch ((enum mode)atomic_load(&f->mode)) {
	case M_TEXT:
		return dbuf_add(out, TEXT, strlen(TEXT)) == DBUF_OK ? 0 : -1;
	case M_COUNT:
		snprintf(line, sizeof(line), "renders %d\n", n);
		return dbuf_add(out, line, strlen(line)) == DBUF_OK ? 0 : -1;
	case M_FAIL:
		snprintf(err, errlen, "the spool is locked");
		return -1;
	case M_BIG:
		/* Over the cap: the error is in the buffer, err left empty. */
		memset(big, 'x', sizeof(big));
		if (dbuf_add(out, big, sizeof(big)) != DBUF_OK)
			return -1;
		return 0;
	case M_EMPTY:
		return 0;
	}
	return -1;
}

static serve_options
opts(struct fx *f, const char *listen)
{
	serve_options o;

	memset(&o, 0, sizeof(o));
	o.listen = listen;
	o.metrics = metrics_cb;
	o.arg = f;
	return o;
}

static void
start(struct fx *f, const serve_options *o)
{
	char err[512] = "";

	if (serve_start(o, &f->s, err, sizeof(err)) != SERVE_OK)
		fail_msg("serve_start: %s", err);
	assert_non_null(f->s);
	f->port = serve_port(f->s);
	assert_true(f->port != 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	serve_options o;

	assert_non_null(f);
	atomic_init(&f->calls, 0);
	atomic_init(&f->mode, M_TEXT);
	atomic_init(&f->pb_calls, 0);
	o = opts(f, "127.0.0.1:0");
	start(f, &o);
	*state = f;
	return 0;
}

/* Also for tests that started their own server (or none). */
static int
setup_none(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	atomic_init(&f->calls, 0);
	atomic_init(&f->mode, M_TEXT);
	atomic_init(&f->pb_calls, 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	serve_stop(f->s);
	/* The server's thread is gone: the clock may run again. */
	atomic_store(&frozen, 0);
	free(f);
	return 0;
}

/* --- the client -------------------------------------------------------- */

typedef struct resp {
	long code;
	char *body;
	size_t len;
	char hdr[8192];
	size_t hlen;
} resp;

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	resp *r = arg;
	size_t k = size * n;
	char *nb;

	if (r->len + k > (1u << 20))
		return 0;
	if ((nb = realloc(r->body, r->len + k + 1)) == NULL)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, k);
	r->len += k;
	r->body[r->len] = '\0';
	return k;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	resp *r = arg;
	size_t k = size * n;

	if (r->hlen + k + 1 > sizeof(r->hdr))
		return 0;
	memcpy(r->hdr + r->hlen, p, k);
	r->hlen += k;
	r->hdr[r->hlen] = '\0';
	return k;
}

static void
resp_free(resp *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/*
 * One request on a new connection. method: "GET", "HEAD", "POST" or any
 * other verb; extra: one header line or NULL; decode: what libcurl offers
 * in Accept-Encoding and then decodes (NULL: neither).
 */
static void
request(unsigned port, const char *method, const char *path,
    const char *extra, const char *decode, resp *r)
{
	char url[128], ebuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	CURLcode rc;

	memset(r, 0, sizeof(*r));
	assert_non_null(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "a=1");
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (extra != NULL) {
		h = curl_slist_append(h, extra);
		assert_non_null(h);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	}
	if (decode != NULL)
		curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, decode);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (rc != CURLE_OK)
		fail_msg("%s %s: %s", method, url, ebuf[0] ? ebuf :
		    curl_easy_strerror(rc));
	if (r->body == NULL) {
		r->body = calloc(1, 1);
		assert_non_null(r->body);
	}
}

static void
get(unsigned port, const char *path, resp *r)
{
	request(port, "GET", path, NULL, NULL, r);
}

/* The value of the response's header name (case-insensitive) into out;
 * returns 0 when there is none. */
static int
header(const resp *r, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = r->hdr;

	for (int i = 0; i < 100 && p != NULL && *p; i++) {
		const char *eol = strstr(p, "\r\n");
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);

		if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			const char *v = p + nl + 1;
			size_t vl = ll - nl - 1;
			while (vl > 0 && *v == ' ') {
				v++;
				vl--;
			}
			snprintf(out, cap, "%.*s", (int)vl, v);
			return 1;
		}
		p = eol ? eol + 2 : NULL;
	}
	return 0;
}

static void
header_is(const resp *r, const char *name, const char *want)
{
	char v[512];

	if (!header(r, name, v, sizeof(v)))
		fail_msg("no %s header in:\n%s", name, r->hdr);
	assert_string_equal(v, want);
}

static void
no_header(const resp *r, const char *name)
{
	char v[512];

	if (header(r, name, v, sizeof(v)))
		fail_msg("unexpected %s: %s", name, v);
}

/* Inflates a gzip body into a new string the caller frees. */
static char *
gunzip(const char *p, size_t len, size_t *outlen)
{
	size_t cap = 1 << 16;
	char *out = malloc(cap);
	z_stream z;
	int rc;

	assert_non_null(out);
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)(cap - 1);
	rc = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(out);
		fail_msg("not a whole gzip stream (inflate: %d)", rc);
	}
	*outlen = z.total_out;
	out[*outlen] = '\0';
	return out;
}

/* --- /metrics -------------------------------------------------------- */

static void
test_metrics_plain(void **state)
{
	struct fx *f = *state;
	resp r;

	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.body, TEXT);
	assert_int_equal(r.len, strlen(TEXT));
	header_is(&r, "Content-Type", CT);
	header_is(&r, "Vary", "Accept-Encoding");
	header_is(&r, "Cache-Control", "no-store");
	no_header(&r, "Content-Encoding");
	resp_free(&r);
	assert_true(atomic_load(&f->calls) >= 1);
}

static void
test_metrics_gzip(void **state)
{
	struct fx *f = *state;
	size_t n;
	char *plain;
	resp r;

	/* libcurl offers gzip and decodes it. */
	request(f->port, "GET", "/metrics", NULL, "gzip", &r);
	assert_int_equal(r.code, 200);
	header_is(&r, "Content-Encoding", "gzip");
	header_is(&r, "Content-Type", CT);
	header_is(&r, "Vary", "Accept-Encoding");
	assert_string_equal(r.body, TEXT);
	resp_free(&r);
	/* The same asked by hand: the bytes are a gzip stream of the text. */
	request(f->port, "GET", "/metrics", "Accept-Encoding: gzip", NULL, &r);
	assert_int_equal(r.code, 200);
	header_is(&r, "Content-Encoding", "gzip");
	assert_true(r.len >= 18);
	assert_int_equal((unsigned char)r.body[0], 0x1f);
	assert_int_equal((unsigned char)r.body[1], 0x8b);
	plain = gunzip(r.body, r.len, &n);
	assert_int_equal(n, strlen(TEXT));
	assert_string_equal(plain, TEXT);
	free(plain);
	resp_free(&r);
}

/* Accept-Encoding values: which ones get gzip. */
static void
test_accept_encoding(void **state)
{
	static const struct {
		const char *h;
		int gz;
	} cases[] = {
		{ "Accept-Encoding: gzip;q=0", 0 },
		{ "Accept-Encoding: gzip; q=0.000", 0 },
		{ "Accept-Encoding: gzip;Q=0", 0 },
		{ "Accept-Encoding: identity", 0 },
		{ "Accept-Encoding: deflate, br", 0 },
		{ "Accept-Encoding: x-gzip", 0 },
		{ "Accept-Encoding: gzipx", 0 },
		{ "Accept-Encoding: *;q=0", 0 },
		{ "Accept-Encoding: GZIP", 1 },
		{ "Accept-Encoding: deflate, gzip;q=0.5", 1 },
		{ "Accept-Encoding: gzip ;level=1; q=1", 1 },
		{ "Accept-Encoding: identity, *", 1 },
		{ "Accept-Encoding: br;q=0, gzip", 1 },
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		resp r;
		char v[64];

		request(f->port, "GET", "/metrics", cases[i].h, NULL, &r);
		assert_int_equal(r.code, 200);
		if (header(&r, "Content-Encoding", v, sizeof(v)) != cases[i].gz)
			fail_msg("%s: Content-Encoding %s", cases[i].h,
			    cases[i].gz ? "missing" : "sent");
		if (!cases[i].gz)
			assert_string_equal(r.body, TEXT);
		else {
			size_t n;
			char *p = gunzip(r.body, r.len, &n);
			assert_string_equal(p, TEXT);
			free(p);
		}
		resp_free(&r);
	}
}

/* RFC 9110 12.5.3: "*" matches only the codings not listed, so
 * "gzip;q=0, *" refuses gzip. */
static void
test_accept_encoding_star_after_refusal(void **state)
{
	struct fx *f = *state;
	resp r;

	request(f->port, "GET", "/metrics", "Accept-Encoding: gzip;q=0, *",
	    NULL, &r);
	assert_int_equal(r.code, 200);
	no_header(&r, "Content-Encoding");
	assert_string_equal(r.body, TEXT);
	resp_free(&r);
}

/* Scrapes less than a second apart share one rendering; at a second
 * they do not. The server's clock is stopped, so this does not depend on
 * how fast the machine is. */
static void
test_metrics_reuse(void **state)
{
	struct fx *f = *state;
	resp r;

	atomic_store(&f->mode, M_COUNT);
	freeze(0);
	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.body, "renders 1\n");
	resp_free(&r);
	get(f->port, "/metrics", &r);
	assert_string_equal(r.body, "renders 1\n");
	resp_free(&r);
	assert_int_equal(atomic_load(&f->calls), 1);
	/* The gzip form of the same rendering, and HEAD, render nothing. */
	request(f->port, "GET", "/metrics", NULL, "gzip", &r);
	header_is(&r, "Content-Encoding", "gzip");
	assert_string_equal(r.body, "renders 1\n");
	resp_free(&r);
	request(f->port, "HEAD", "/metrics", NULL, NULL, &r);
	assert_int_equal(r.code, 200);
	resp_free(&r);
	advance(999999999);
	get(f->port, "/metrics", &r);
	assert_string_equal(r.body, "renders 1\n");
	resp_free(&r);
	assert_int_equal(atomic_load(&f->calls), 1);
	/* A second after the rendering began: a new one, and a new gzip. */
	advance(1);
	get(f->port, "/metrics", &r);
	assert_string_equal(r.body, "renders 2\n");
	resp_free(&r);
	request(f->port, "GET", "/metrics", NULL, "gzip", &r);
	header_is(&r, "Content-Encoding", "gzip");
	assert_string_equal(r.body, "renders 2\n");
	resp_free(&r);
	assert_int_equal(atomic_load(&f->calls), 2);
	/* A failure inside the second is not seen: the last text serves. */
	atomic_store(&f->mode, M_FAIL);
	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.body, "renders 2\n");
	resp_free(&r);
	assert_int_equal(atomic_load(&f->calls), 2);
	/* After it, the failure is served, and held for a second: a client
	 * cannot make the agent render a failing state in a loop. */
	advance(1000000000);
	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 500);
	resp_free(&r);
	atomic_store(&f->mode, M_COUNT);
	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 500);
	resp_free(&r);
	assert_int_equal(atomic_load(&f->calls), 3);
	advance(1000000000);
	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.body, "renders 4\n");
	resp_free(&r);
}

static void
test_metrics_fail(void **state)
{
	struct fx *f = *state;
	resp r;

	atomic_store(&f->mode, M_FAIL);
	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 500);
	assert_string_equal(r.body, "cannot render metrics: the spool is "
	    "locked\n");
	header_is(&r, "Content-Type", "text/plain; charset=utf-8");
	resp_free(&r);
	/* gzip asked: the error all the same, not compressed. */
	request(f->port, "GET", "/metrics", "Accept-Encoding: gzip", NULL, &r);
	assert_int_equal(r.code, 500);
	no_header(&r, "Content-Encoding");
	assert_string_equal(r.body, "cannot render metrics: the spool is "
	    "locked\n");
	resp_free(&r);
}

/* A rendering over max_body: 500 and the cap's words. */
static void
test_metrics_too_big(void **state)
{
	struct fx *f = *state;
	serve_options o = opts(f, "127.0.0.1:0");
	resp r;

	o.max_body = 16;
	start(f, &o);
	freeze(0);
	atomic_store(&f->mode, M_BIG);
	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 500);
	assert_string_equal(r.body, "cannot render metrics: rendered body "
	    "over its size limit\n");
	resp_free(&r);
	/* What fits is served (once the failure's second is over). */
	atomic_store(&f->mode, M_COUNT);
	advance(1000000000);
	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.body, "renders 2\n");
	resp_free(&r);
}

/* What Prometheus 2.42 sends with native histograms on, and without. */
#define ACCEPT_NATIVE "Accept: application/vnd.google.protobuf;" \
	"proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.8," \
	"application/openmetrics-text;version=1.0.0;q=0.7," \
	"text/plain;version=0.0.4;q=0.6,*/*;q=0.5"
#define ACCEPT_DEFAULT "Accept: application/openmetrics-text;" \
	"version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75," \
	"text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

/* The protobuf body as metrics_pb_cb wrote it for call n. */
static void
pb_body_is(const resp *r, int n)
{
	char want[64];

	memset(want, 0, sizeof(want));
	snprintf(want + 1, sizeof(want) - 1, "pb %d", n);
	assert_int_equal(r->len, sizeof(want));
	assert_memory_equal(r->body, want, sizeof(want));
}

/* With a protobuf renderer: Accept decides, each format has its own
 * rendering (shared within a second), gzip as for text, and both say
 * that they vary by Accept. */
static void
test_metrics_protobuf(void **state)
{
	struct fx *f = *state;
	serve_options o = opts(f, "127.0.0.1:0");
	resp r;

	o.metrics_pb = metrics_pb_cb;
	start(f, &o);
	freeze(0);
	request(f->port, "GET", "/metrics", ACCEPT_NATIVE, NULL, &r);
	assert_int_equal(r.code, 200);
	header_is(&r, "Content-Type", PBEXPO_CONTENT_TYPE);
	header_is(&r, "Vary", "Accept, Accept-Encoding");
	no_header(&r, "Content-Encoding");
	pb_body_is(&r, 1);
	resp_free(&r);

	request(f->port, "GET", "/metrics", ACCEPT_DEFAULT, NULL, &r);
	assert_int_equal(r.code, 200);
	header_is(&r, "Content-Type", CT);
	header_is(&r, "Vary", "Accept, Accept-Encoding");
	assert_string_equal(r.body, TEXT);
	resp_free(&r);
	get(f->port, "/metrics", &r);
	header_is(&r, "Content-Type", CT);
	assert_string_equal(r.body, TEXT);
	resp_free(&r);

	/* Within the second: both shared, gzip made from the rendering. */
	request(f->port, "GET", "/metrics", ACCEPT_NATIVE, NULL, &r);
	pb_body_is(&r, 1);
	resp_free(&r);
	request(f->port, "GET", "/metrics", ACCEPT_NATIVE, "gzip", &r);
	header_is(&r, "Content-Encoding", "gzip");
	header_is(&r, "Content-Type", PBEXPO_CONTENT_TYPE);
	pb_body_is(&r, 1);
	resp_free(&r);
	assert_int_equal(atomic_load(&f->pb_calls), 1);
	assert_int_equal(atomic_load(&f->calls), 1);

	/* A second on: each format renders anew when asked. */
	advance(1000000000);
	request(f->port, "GET", "/metrics", ACCEPT_NATIVE, NULL, &r);
	pb_body_is(&r, 2);
	resp_free(&r);
	assert_int_equal(atomic_load(&f->calls), 1);
	get(f->port, "/metrics", &r);
	assert_string_equal(r.body, TEXT);
	resp_free(&r);
	assert_int_equal(atomic_load(&f->calls), 2);
	assert_int_equal(atomic_load(&f->pb_calls), 2);
}

/* Without one, a scraper asking for protobuf gets text, as before. */
static void
test_metrics_protobuf_off(void **state)
{
	struct fx *f = *state;
	resp r;

	request(f->port, "GET", "/metrics", ACCEPT_NATIVE, NULL, &r);
	assert_int_equal(r.code, 200);
	header_is(&r, "Content-Type", CT);
	header_is(&r, "Vary", "Accept-Encoding");
	assert_string_equal(r.body, TEXT);
	resp_free(&r);
}

/* An empty rendering: 200 with no body, also gzip-compressed. */
static void
test_metrics_empty(void **state)
{
	struct fx *f = *state;
	size_t n;
	char *p;
	resp r;

	atomic_store(&f->mode, M_EMPTY);
	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.len, 0);
	header_is(&r, "Content-Type", CT);
	resp_free(&r);
	request(f->port, "GET", "/metrics", "Accept-Encoding: gzip", NULL, &r);
	assert_int_equal(r.code, 200);
	header_is(&r, "Content-Encoding", "gzip");
	p = gunzip(r.body, r.len, &n);
	assert_int_equal(n, 0);
	free(p);
	resp_free(&r);
}

/* --- methods and paths ------------------------------------------------ */

static void
test_head(void **state)
{
	struct fx *f = *state;
	char v[64];
	resp r;

	request(f->port, "HEAD", "/metrics", NULL, NULL, &r);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.len, 0);
	header_is(&r, "Content-Type", CT);
	assert_true(header(&r, "Content-Length", v, sizeof(v)));
	assert_int_equal(strtol(v, NULL, 10), (long)strlen(TEXT));
	resp_free(&r);
	request(f->port, "HEAD", "/-/healthy", NULL, NULL, &r);
	assert_int_equal(r.code, 200);
	assert_int_equal(r.len, 0);
	resp_free(&r);
}

static void
test_methods(void **state)
{
	static const char *const methods[] = { "POST", "PUT", "DELETE",
	    "OPTIONS" };
	static const char *const paths[] = { "/metrics", "/-/healthy",
	    "/nope" };
	struct fx *f = *state;

	for (size_t i = 0; i < 4; i++)
		for (size_t k = 0; k < 3; k++) {
			resp r;

			request(f->port, methods[i], paths[k], NULL, NULL, &r);
			if (r.code != 405)
				fail_msg("%s %s: %ld", methods[i], paths[k],
				    r.code);
			header_is(&r, "Allow", "GET, HEAD");
			assert_string_equal(r.body, "method not allowed: GET "
			    "or HEAD\n");
			resp_free(&r);
		}
	/* No method rendered anything. */
	assert_int_equal(atomic_load(&f->calls), 0);
}

static void
test_not_found(void **state)
{
	static const char *const paths[] = { "/nope", "/", "/metrics/",
	    "/Metrics", "/-/healthy/x", "/-/ready/" };
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		resp r;

		get(f->port, paths[i], &r);
		if (r.code != 404)
			fail_msg("%s: %ld", paths[i], r.code);
		assert_string_equal(r.body, "not found: try /metrics, "
		    "/-/healthy or /-/ready\n");
		resp_free(&r);
	}
	assert_int_equal(atomic_load(&f->calls), 0);
	{
		/* A query string is not part of the path. */
		resp r;
		get(f->port, "/metrics?x=1", &r);
		assert_int_equal(r.code, 200);
		assert_string_equal(r.body, TEXT);
		resp_free(&r);
	}
}

/* --- health and readiness --------------------------------------------- */

static void
test_ready(void **state)
{
	struct fx *f = *state;
	resp r;

	get(f->port, "/-/ready", &r);
	assert_int_equal(r.code, 503);
	assert_string_equal(r.body, "not ready: the spool is not open or the "
	    "first fold is not done\n");
	resp_free(&r);
	serve_set_ready(f->s, 1);
	get(f->port, "/-/ready", &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.body, "OK\n");
	resp_free(&r);
	serve_set_ready(f->s, 0);
	get(f->port, "/-/ready", &r);
	assert_int_equal(r.code, 503);
	resp_free(&r);
	serve_set_ready(f->s, 7);
	get(f->port, "/-/ready", &r);
	assert_int_equal(r.code, 200);
	resp_free(&r);
	/* Readiness is not health, nor the reverse. */
	serve_set_ready(f->s, 0);
	get(f->port, "/-/healthy", &r);
	assert_int_equal(r.code, 200);
	resp_free(&r);
}

/* Health on the server's stopped clock: the beat and the requests at
 * known times. */
static void
test_healthy(void **state)
{
	struct fx *f = *state;
	resp r;

	freeze(0);
	beat_frozen(f->s);
	get(f->port, "/-/healthy", &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.body, "OK\n");
	header_is(&r, "Content-Type", "text/plain; charset=utf-8");
	resp_free(&r);
	/* 59 s after the beat, within the default 60: healthy; 61: not. */
	advance(59LL * 1000000000);
	get(f->port, "/-/healthy", &r);
	assert_int_equal(r.code, 200);
	resp_free(&r);
	advance(2LL * 1000000000);
	get(f->port, "/-/healthy", &r);
	assert_int_equal(r.code, 503);
	assert_string_equal(r.body, "unhealthy: the agent's loop has not run "
	    "for 61 seconds\n");
	resp_free(&r);
	/* An hour without a beat. */
	advance(3539LL * 1000000000);
	get(f->port, "/-/healthy", &r);
	assert_int_equal(r.code, 503);
	assert_string_equal(r.body, "unhealthy: the agent's loop has not run "
	    "for 3600 seconds\n");
	resp_free(&r);
	/* A beat makes it healthy again. */
	beat_frozen(f->s);
	get(f->port, "/-/healthy", &r);
	assert_int_equal(r.code, 200);
	resp_free(&r);
	/* /-/ready and /metrics do not care. */
	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 200);
	resp_free(&r);
}

/* A stall limit smaller than any time that can pass between the beat and
 * the request: always unhealthy. */
static void
test_healthy_tiny_stall(void **state)
{
	struct fx *f = *state;
	serve_options o = opts(f, "127.0.0.1:0");
	resp r;

	o.stall = 1e-9;
	start(f, &o);
	/* On the real clock. */
	serve_beat(f->s);
	get(f->port, "/-/healthy", &r);
	assert_int_equal(r.code, 503);
	assert_int_equal(strncmp(r.body, "unhealthy: the agent's loop has not "
	    "run for ", 44), 0);
	resp_free(&r);
	/* On the stopped clock, a second after the beat. */
	freeze(0);
	beat_frozen(f->s);
	advance(1000000000);
	get(f->port, "/-/healthy", &r);
	assert_int_equal(r.code, 503);
	assert_string_equal(r.body, "unhealthy: the agent's loop has not run "
	    "for 1 seconds\n");
	resp_free(&r);
}

/* --- addresses --------------------------------------------------------- */

static void
test_port_in_use(void **state)
{
	struct fx *f = *state;
	static char dummy;
	serve_options o;
	serve_t *s2 = (serve_t *)(void *)&dummy;
	char addr[64], err[512] = "", want[512];

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", f->port);
	o = opts(f, addr);
	assert_int_equal(serve_start(&o, &s2, err, sizeof(err)), SERVE_EINUSE);
	assert_null(s2);
	snprintf(want, sizeof(want), "cannot listen on %s: Address already in "
	    "use (another process holds the port: stop it, or choose another "
	    "address with --listen or the listen setting)", addr);
	assert_string_equal(err, want);
	assert_non_null(strstr(err, "already in use"));
	/* The first server is unharmed. */
	{
		resp r;
		get(f->port, "/-/healthy", &r);
		assert_int_equal(r.code, 200);
		resp_free(&r);
	}
}

static void
test_bad_addresses(void **state)
{
	static const char *const bad[] = { "nocolon", "[::1", "1.2.3.4:",
	    "[::1]8080", "[::1]:", ":", "" };
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		serve_options o = opts(f, bad[i]);
		serve_t *s = (serve_t *)(void *)&o;
		char err[512] = "", want[512];
		serve_err e = serve_start(&o, &s, err, sizeof(err));

		if (e != SERVE_EADDR)
			fail_msg("'%s': %s (%s)", bad[i], serve_strerror(e),
			    err);
		assert_null(s);
		snprintf(want, sizeof(want), "listen address '%s' must be "
		    "ADDR:PORT, [IPv6]:PORT or :PORT", bad[i]);
		assert_string_equal(err, want);
	}
	/* A port that is not a number (numeric host: no name lookup). */
	{
		serve_options o = opts(f, "127.0.0.1:http");
		serve_t *s = (serve_t *)(void *)&o;
		char err[512] = "";

		assert_int_equal(serve_start(&o, &s, err, sizeof(err)),
		    SERVE_EADDR);
		assert_null(s);
		assert_int_equal(strncmp(err, "listen address "
		    "'127.0.0.1:http': ", 33), 0);
	}
}

/* ":0" is every address; it answers on 127.0.0.1. */
static void
test_every_address(void **state)
{
	struct fx *f = *state;
	serve_options o = opts(f, ":0");
	resp r;

	start(f, &o);
	get(f->port, "/-/healthy", &r);
	assert_int_equal(r.code, 200);
	resp_free(&r);
	get(f->port, "/metrics", &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.body, TEXT);
	resp_free(&r);
}

static void
test_null_and_strerror(void **state)
{
	static const serve_err all[] = { SERVE_OK, SERVE_EADDR, SERVE_EINUSE,
	    SERVE_ELISTEN, SERVE_ESTART, SERVE_ENOMEM };

	(void)state;
	serve_stop(NULL);
	serve_beat(NULL);
	serve_set_ready(NULL, 1);
	for (size_t i = 0; i < 6; i++) {
		assert_non_null(serve_strerror(all[i]));
		assert_string_not_equal(serve_strerror(all[i]),
		    "unknown error");
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(serve_strerror(all[i]),
			    serve_strerror(all[k]));
	}
	assert_string_equal(serve_strerror(SERVE_EINUSE),
	    "address already in use");
}

/* Stopping with a scrape's connection still open (kept alive). */
static void
test_stop_with_connection(void **state)
{
	struct fx *f = *state;
	char url[128];
	resp r;
	CURL *c = curl_easy_init();

	assert_non_null(c);
	memset(&r, 0, sizeof(r));
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/metrics", f->port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	assert_string_equal(r.body, TEXT);
	serve_stop(f->s);
	f->s = NULL;
	curl_easy_cleanup(c);
	resp_free(&r);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TN(fn) cmocka_unit_test_setup_teardown(fn, setup_none, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_metrics_plain),
		T(test_metrics_gzip),
		T(test_accept_encoding),
		T(test_accept_encoding_star_after_refusal),
		T(test_metrics_reuse),
		T(test_metrics_fail),
		TN(test_metrics_too_big),
		TN(test_metrics_protobuf),
		T(test_metrics_protobuf_off),
		T(test_metrics_empty),
		T(test_head),
		T(test_methods),
		T(test_not_found),
		T(test_ready),
		T(test_healthy),
		TN(test_healthy_tiny_stall),
		T(test_port_in_use),
		TN(test_bad_addresses),
		TN(test_every_address),
		TN(test_null_and_strerror),
		T(test_stop_with_connection),
	};
	int rc;

	main_thread = pthread_self();
	/* The server's warnings (a failed rendering) are expected here. */
	log_init(LOG_LERROR);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	rc = cmocka_run_group_tests_name("serve", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
