/* The HTTP client both sinks use: the URL and header checks, http_new's
 * checks, the requests it sends and how it reads answers (classification,
 * Retry-After, the first line, secrets redacted), against a scripted HTTP
 * server in a thread; and remote write's POST (rw_post) on top of it. */
#include "fakehttp.h"

#include <math.h>
#include <signal.h>
#include <strings.h>

#include <curl/curl.h>

#include "http.h"
#include "rw.h"

/* A client for the scripted server on port, base URL /pgw. */
static http_t *
http_to(int port, http_conf *h)
{
	char url[64], err[256];
	http_conf d;
	http_t *p = NULL;

	if (http_new(fake_conf(port, h, &d, url), &p, err, sizeof(err)) !=
	    HTTP_OK)
		fail_msg("http_new: %s", err);
	return p;
}

static http_err
put(http_t *p, const char *path, const char *body, size_t len,
    http_status *st)
{
	http_request rq = { .method = "PUT", .path = path, .body = body,
	    .len = len };

	return http_request_do(p, &rq, st);
}

static http_err
del(http_t *p, const char *path, http_status *st)
{
	http_request rq = { .method = "DELETE", .path = path };

	return http_request_do(p, &rq, st);
}

/* --- the checks ------------------------------------------------------------ */

static void
test_check_url(void **state)
{
	static const struct {
		const char *url, *why;
		size_t keep;
		int quotable;
	} cases[] = {
		{ "http://h", NULL, 8, 1 },
		{ "HTTPS://gw.example:8443/pushgateway//", NULL, 35, 1 },
		{ "http://[::1]:9091/", NULL, 17, 1 },
		{ "http://127.0.0.1:9091", NULL, 21, 1 },
		{ "ftp://h", "must start with http:// or https://", 0, 1 },
		{ "127.0.0.1:9091", "must start with http:// or https://", 0, 1 },
		{ "", "must start with http:// or https://", 0, 1 },
		{ "http://", "has no host", 0, 1 },
		{ "http:///path", "has no host", 0, 1 },
		{ "http://:9091", "has no host", 0, 1 },
		{ "http://h x", "must not contain blanks or control "
		  "characters", 0, 1 },
		{ "http://h/\na", "must not contain blanks or control "
		  "characters", 0, 1 },
		{ "http://h/?a=b", "must not have a query or fragment", 0, 1 },
		{ "http://h/#top", "must not have a query or fragment", 0, 1 },
		{ "http://h:0", "has a bad port", 0, 1 },
		{ "http://h:65536", "has a bad port", 0, 1 },
		{ "http://h:x", "has a bad port", 0, 1 },
		{ "http://[::1", "has a bad IPv6 address", 0, 1 },
		{ "http://user:pw@h", "must not carry credentials (use username "
		  "and password_file)", 0, 0 },
		/* Whatever else is wrong, credentials are said first: the
		 * other messages quote the URL. */
		{ "ftp://user:pw@h x", "must not carry credentials (use "
		  "username and password_file)", 0, 0 },
		/* Past the hand checks; curl parses what it will send. */
		{ "http://[zz]/", "cannot be parsed", 0, 1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t keep = 12345;
		int quotable = -1;
		const char *why = http_check_url(cases[i].url, &keep,
		    &quotable);

		if (cases[i].why == NULL) {
			if (why != NULL)
				fail_msg("'%s': %s", cases[i].url, why);
			assert_int_equal(keep, cases[i].keep);
		} else {
			if (why == NULL)
				fail_msg("'%s' accepted", cases[i].url);
			assert_string_equal(why, cases[i].why);
		}
		assert_int_equal(quotable, cases[i].quotable);
	}
	/* Both out-parameters are optional. */
	assert_null(http_check_url("http://h/", NULL, NULL));
	assert_non_null(http_check_url("http://u:p@h/", NULL, NULL));
}

static void
test_check_header(void **state)
{
	static const struct {
		const char *h, *why;
	} cases[] = {
		{ "X-Team: payments", NULL },
		{ "X-Scope-OrgID:tenant-1", NULL },
		{ "A!#$%&'*+-.^_`|~9: v", NULL },
		/* A tab is a blank in a value. */
		{ "X-A: a\tb", NULL },
		{ "no colon here", "expected 'Name: value'" },
		{ ": empty name", "expected 'Name: value'" },
		{ "Bad Name: 1", "bad header name 'Bad Name'" },
		{ "X\x01Y: 1", "bad header name 'X?Y'" },
		{ "X-Empty:", "expected 'Name: value' (the value is empty)" },
		{ "X-Empty: \t ", "expected 'Name: value' (the value is "
		  "empty)" },
		{ "X-Key: secret\r\nX-Evil: 1", "the value must not contain "
		  "line breaks or control characters" },
		{ "X-Key: a\x7f", "the value must not contain line breaks or "
		  "control characters" },
	};
	char why[128], longname[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		if (cases[i].why == NULL) {
			if (http_check_header(cases[i].h, why, sizeof(why)) != 0)
				fail_msg("'%s': %s", cases[i].h, why);
		} else {
			assert_int_equal(http_check_header(cases[i].h, why,
			    sizeof(why)), -1);
			assert_string_equal(why, cases[i].why);
			/* The value is never quoted back. */
			assert_null(strstr(why, "secret"));
		}
	}
	/* A long bad name is shown short. */
	memset(longname, 'n', sizeof(longname));
	longname[100] = ' ';
	memcpy(longname + 150, ": v", 4);
	assert_int_equal(http_check_header(longname, why, sizeof(why)), -1);
	assert_int_equal(strlen(why), strlen("bad header name ''") + 64);

	assert_int_equal(http_has_ctl("abc", 3), 0);
	assert_int_equal(http_has_ctl("a\tc", 3), 1);
	assert_int_equal(http_has_ctl("a\x7f", 2), 1);
	/* Only the n bytes given. */
	assert_int_equal(http_has_ctl("ab\n", 2), 0);
}

static void
test_classify(void **state)
{
	static const struct {
		long code;
		http_outcome o;
	} cases[] = {
		{ 200, HTTP_DELIVERED }, { 202, HTTP_DELIVERED },
		{ 204, HTTP_DELIVERED }, { 299, HTTP_DELIVERED },
		{ 500, HTTP_RETRY }, { 503, HTTP_RETRY }, { 599, HTTP_RETRY },
		{ 429, HTTP_RETRY }, { 408, HTTP_RETRY },
		{ 400, HTTP_REFUSED }, { 401, HTTP_REFUSED },
		{ 404, HTTP_REFUSED }, { 413, HTTP_REFUSED },
		{ 415, HTTP_REFUSED }, { 301, HTTP_REFUSED },
		{ 100, HTTP_REFUSED }, { 0, HTTP_REFUSED },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (http_classify(cases[i].code) != cases[i].o)
			fail_msg("HTTP %ld: outcome %d", cases[i].code,
			    (int)http_classify(cases[i].code));
	for (int e = HTTP_OK; e <= HTTP_ECURL; e++)
		assert_true(strlen(http_strerror((http_err)e)) > 0);
}

/* --- http_new ------------------------------------------------------------ */

static void
test_new_bad(void **state)
{
	static const char *const urls[] = {
		"", "ftp://h/", "file:///etc/passwd", "127.0.0.1:9091",
		"http://", "http://h/?a=1", "http://h/#x", "http://h/ a",
		"http://h/\na", "gopher://h", "not a url",
	};
	char err[256], *hdr[2];
	http_conf h;
	http_t *p = (http_t *)1;

	(void)state;
	assert_int_equal(http_new(NULL, &p, err, sizeof(err)), HTTP_EINVAL);
	assert_null(p);
	assert_true(strlen(err) > 0);
	h = http_for("http://127.0.0.1:9");
	assert_int_equal(http_new(&h, NULL, err, sizeof(err)), HTTP_EINVAL);
	h.url = NULL;
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	assert_null(p);
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		h = http_for(urls[i]);
		p = (http_t *)1;
		err[0] = '\0';
		if (http_new(&h, &p, err, sizeof(err)) != HTTP_EINVAL)
			fail_msg("url '%s' accepted", urls[i]);
		assert_null(p);
		assert_true(strlen(err) > 0);
	}

	/* Timeouts: positive, finite, at most a day. */
	h = http_for("http://127.0.0.1:9");
	h.timeout = 0;
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	h.timeout = -1;
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	h.timeout = NAN;
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	h.timeout = 1e9;
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);

	/* Both kinds of credentials: ambiguous, refused. */
	h = http_for("http://127.0.0.1:9");
	h.username = (char *)(uintptr_t)"u";
	h.password = (char *)(uintptr_t)"pw-secret";
	h.bearer_token = (char *)(uintptr_t)"tok-secret";
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	assert_null(strstr(err, "secret"));
	/* A line break in a secret would inject headers; not quoted back. */
	h.username = NULL;
	h.password = NULL;
	h.bearer_token = (char *)(uintptr_t)"tok-secret\r\nX-Evil: 1";
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	assert_null(strstr(err, "secret"));
	h.bearer_token = NULL;
	h.username = (char *)(uintptr_t)"u";
	h.password = (char *)(uintptr_t)"pw-secret\n";
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	assert_null(strstr(err, "secret"));

	/* Headers: "Name: value", one line. */
	h = http_for("http://127.0.0.1:9");
	hdr[0] = (char *)(uintptr_t)"X-Ok: 1";
	h.headers = hdr;
	h.n_headers = 2;
	hdr[1] = (char *)(uintptr_t)"no colon here";
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	assert_non_null(strstr(err, "header 2"));
	hdr[1] = (char *)(uintptr_t)": empty name";
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	hdr[1] = (char *)(uintptr_t)"X-Key: secret\r\nX-Evil: 1";
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	assert_null(strstr(err, "secret"));
	hdr[1] = (char *)(uintptr_t)"Bad Name: 1";
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	hdr[1] = NULL;
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_EINVAL);
	/* A NULL errbuf is fine. */
	assert_int_equal(http_new(&h, &p, NULL, 0), HTTP_EINVAL);
}

static void
test_new_good(void **state)
{
	char err[256];
	http_conf h = http_for_all("https://gw.example:8443/pushgateway//");
	http_t *p = NULL;
	http_status st;

	(void)state;
	assert_int_equal(http_new(&h, &p, err, sizeof(err)), HTTP_OK);
	assert_non_null(p);
	assert_string_equal(err, "");
	assert_string_equal(http_url(p), "https://gw.example:8443/pushgateway");
	/* Bad requests are refused before anything is sent. */
	assert_int_equal(put(p, "/x", NULL, 3, &st), HTTP_EINVAL);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_string_equal(st.message, "invalid argument");
	assert_int_equal(put(NULL, "/x", "", 0, &st), HTTP_EINVAL);
	assert_int_equal(put(p, "/x", "", 0, NULL), HTTP_EINVAL);
	assert_int_equal(http_request_do(p, NULL, &st), HTTP_EINVAL);
	http_free(p);
	http_free(NULL);
}

/* --- requests and answers ---------------------------------------------------- */

/* Each method, with the configured headers, the request's after them, and
 * nothing of one request left for the next. */
static void
test_requests(void **state)
{
	static const char *const resp[] = { R200, R202, R200, R200 };
	static const char *const mine[] = { "Content-Type: text/x-mine" };
	char v[256], *hdr[1] = { (char *)(uintptr_t)"X-Team: payments" };
	http_conf h = http_for(NULL);
	http_request rq = { .method = "POST", .path = "/in", .body = "abc",
	    .len = 3, .headers = mine, .n_headers = 1 };
	http_status st;
	http_t *p;
	fake f;

	(void)state;
	h.headers = hdr;
	h.n_headers = 1;
	fake_start(&f, 4, resp);
	p = http_to(f.port, &h);
	assert_int_equal(http_request_do(p, &rq, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_DELIVERED);
	assert_int_equal(st.http_code, 200);
	assert_string_equal(st.message, "");
	assert_true(st.retry_after == -1);
	assert_int_equal(del(p, "/d", &st), HTTP_OK);
	assert_int_equal(st.http_code, 202);
	rq.method = NULL;
	rq.path = NULL;
	rq.body = NULL;
	rq.len = 0;
	rq.headers = NULL;
	rq.n_headers = 0;
	assert_int_equal(http_request_do(p, &rq, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_DELIVERED);
	/* The start of the answer's body is there to read. */
	assert_string_equal(http_answer(p, NULL), "");
	assert_int_equal(put(p, "/e", NULL, 0, &st), HTTP_OK);
	http_free(p);
	fake_join(&f);
	assert_int_equal(f.conns, 1);

	assert_true(starts(f.req[0], "POST /pgw/in HTTP/1.1\r\n"));
	assert_string_equal(req_header(&f, 0, "X-Team", v, sizeof(v)),
	    "X-Team: payments");
	assert_string_equal(req_header(&f, 0, "Content-Type", v, sizeof(v)),
	    "Content-Type: text/x-mine");
	assert_string_equal(req_header(&f, 0, "User-Agent", v, sizeof(v)),
	    "User-Agent: collector-agent/" SPOOL_VERSION);
	assert_null(req_header(&f, 0, "Expect", v, sizeof(v)));
	body_is(&f, 0, "abc", 3);

	assert_true(starts(f.req[1], "DELETE /pgw/d HTTP/1.1\r\n"));
	assert_null(req_header(&f, 1, "Content-Type", v, sizeof(v)));
	assert_null(req_header(&f, 1, "Content-Length", v, sizeof(v)));
	assert_int_equal(f.reqlen[1], f.head[1]);
	assert_non_null(req_header(&f, 1, "X-Team", v, sizeof(v)));

	/* No method, no path: a GET of the base URL. */
	assert_true(starts(f.req[2], "GET /pgw HTTP/1.1\r\n"));
	assert_int_equal(f.reqlen[2], f.head[2]);

	/* An empty body is a valid PUT (and is not read from stdin). */
	assert_true(starts(f.req[3], "PUT /pgw/e HTTP/1.1\r\n"));
	assert_string_equal(req_header(&f, 3, "Content-Length", v, sizeof(v)),
	    "Content-Length: 0");
	fake_free(&f);
}

/* A source over a string, in pieces of at most 7 bytes. */
typedef struct ssrc {
	const char *p;
	size_t left;
	int fail;     /* abort instead of ending */
} ssrc;

static size_t
ssrc_read(char *buf, size_t cap, void *arg)
{
	ssrc *s = arg;
	size_t n = s->left < 7 ? s->left : 7;

	if (n == 0 && s->fail)
		return (size_t)-1;
	if (n > cap)
		n = cap;
	memcpy(buf, s->p, n);
	s->p += n;
	s->left -= n;
	return n;
}

static void
test_stream(void **state)
{
	static const char *const resp[] = { R200, NULL };
	const char text[] = "# TYPE m gauge\nm 1\nm{a=\"b\"} 2\n";
	ssrc s = { text, sizeof(text) - 1, 0 };
	http_request rq = { .method = "PUT", .path = "/s", .src = ssrc_read,
	    .arg = &s };
	http_status st;
	http_t *p;
	fake f;

	(void)state;
	fake_start(&f, 1, resp);
	p = http_to(f.port, NULL);
	assert_int_equal(http_request_do(p, &rq, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_DELIVERED);
	http_free(p);
	fake_join(&f);
	assert_true(starts(f.req[0], "PUT /pgw/s HTTP/1.1\r\n"));
	assert_true(f.chunked[0]);
	body_is(&f, 0, text, sizeof(text) - 1);
	fake_free(&f);

	/* A source that aborts ends the request as a retry. */
	s.p = text;
	s.left = sizeof(text) - 1;
	s.fail = 1;
	fake_start(&f, 1, resp + 1);
	p = http_to(f.port, NULL);
	assert_int_equal(http_request_do(p, &rq, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_int_equal(st.http_code, 0);
	assert_true(strlen(st.message) > 0);
	http_free(p);
	fake_join(&f);
	fake_free(&f);
}

/* The caller's classification replaces the usual one. */
static http_outcome
all_refused(long code)
{
	(void)code;
	return HTTP_REFUSED;
}

static void
test_own_classify(void **state)
{
	static const char *const resp[] = {
		"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\n"
		"down",
	};
	http_request rq = { .method = "GET", .classify = all_refused };
	http_status st;
	http_t *p;
	fake f;

	(void)state;
	fake_start(&f, 1, resp);
	p = http_to(f.port, NULL);
	assert_int_equal(http_request_do(p, &rq, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_REFUSED);
	assert_int_equal(st.http_code, 503);
	assert_string_equal(st.message, "down");
	http_free(p);
	fake_join(&f);
	fake_free(&f);
}

static void
test_bearer(void **state)
{
	static const char *const resp[] = { R200 };
	fake f;
	http_t *p;
	http_status st;
	char v[256];
	http_conf h = http_for(NULL);

	(void)state;
	h.bearer_token = (char *)(uintptr_t)"tok123";
	fake_start(&f, 1, resp);
	p = http_to(f.port, &h);
	assert_int_equal(del(p, "/metrics/job/j", &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_DELIVERED);
	http_free(p);
	fake_join(&f);
	assert_true(starts(f.req[0], "DELETE /pgw/metrics/job/j "));
	/* Sent with the first request, without a 401 round first. */
	assert_string_equal(req_header(&f, 0, "Authorization", v, sizeof(v)),
	    "Authorization: Bearer tok123");
	fake_free(&f);
}

/*
 * A body over 1 MiB: curl would ask "Expect: 100-continue" and wait up to
 * a second for an answer that this server, like the Pushgateway, never
 * sends. So: no Expect header, and the whole body on one request.
 */
static void
test_large_body(void **state)
{
	static const char *const resp[] = { R200 };
	size_t n = 3u * 1024 * 1024;
	char *body = malloc(n), v[256];
	fake f;
	http_t *p;
	http_status st;

	(void)state;
	assert_non_null(body);
	for (size_t i = 0; i < n; i++)
		body[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
	fake_start(&f, 1, resp);
	p = http_to(f.port, NULL);
	assert_int_equal(put(p, "/metrics/job/big", body, n, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_DELIVERED);
	http_free(p);
	fake_join(&f);
	assert_int_equal(f.conns, 1);
	assert_null(req_header(&f, 0, "Expect", v, sizeof(v)));
	assert_false(f.chunked[0]);
	snprintf(body, 64, "Content-Length: %zu", n);
	assert_string_equal(req_header(&f, 0, "Content-Length", v, sizeof(v)),
	    body);
	for (size_t i = 0; i < n; i++)
		body[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
	body_is(&f, 0, body, n);
	fake_free(&f);
	free(body);
}

/* 600 two-byte characters, then more lines; over the 4 KiB body cap. */
static char big_answer[8192];

static void
test_answers(void **state)
{
	const char *resp[] = {
		"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 17\r\n"
		"Content-Length: 5\r\n\r\nbusy\n",
		NULL, /* 429 with an HTTP-date, filled in below */
		"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 400 Bad Request\r\nContent-Length: 32\r\n\r\n"
		"  bad\tthing\x01 here \xff caf\xc3\xa9\r\nnext\n",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\n"
		"Content-Length: 0\r\n\r\n",
		big_answer,
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
		"HTTP/1.1 401 Unauthorized\r\nContent-Length: 13\r\n\r\n"
		"unauthorized\n",
	};
	char date[64], r429[256];
	time_t t = time(NULL) + 100;
	struct tm tm;
	fake f;
	http_t *p;
	http_status st;
	http_conf h = http_for(NULL);
	size_t o;

	(void)state;
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT",
	    gmtime_r(&t, &tm));
	snprintf(r429, sizeof(r429), "HTTP/1.1 429 Too Many Requests\r\n"
	    "retry-after: %s\r\nContent-Length: 0\r\n\r\n", date);
	resp[1] = r429;
	o = (size_t)snprintf(big_answer, sizeof(big_answer),
	    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6000\r\n"
	    "\r\n");
	for (int i = 0; i < 600; i++) {
		big_answer[o++] = '\xc3';
		big_answer[o++] = '\xa9';
	}
	memset(big_answer + o, 'x', 4800);
	big_answer[o + 1000] = '\n';
	big_answer[o + 4800] = '\0';

	h.username = (char *)(uintptr_t)"u";
	h.password = (char *)(uintptr_t)"pw-do-not-print";
	fake_start(&f, 9, resp);
	p = http_to(f.port, &h);

	assert_int_equal(put(p, "/metrics/job/j", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_int_equal(st.http_code, 503);
	assert_true(st.retry_after == 17);
	assert_string_equal(st.message, "busy");

	assert_int_equal(put(p, "/metrics/job/j", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_int_equal(st.http_code, 429);
	assert_true(st.retry_after > 95 && st.retry_after <= 100);
	assert_string_equal(st.message, "HTTP 429");

	assert_int_equal(del(p, "/metrics/job/j", &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_int_equal(st.http_code, 408);
	/* Retry-After belongs to one answer only. */
	assert_true(st.retry_after == -1);

	/* Blanks trimmed, tab a blank, control characters gone, a bad byte
	 * shown as '?', UTF-8 kept, only the first line. */
	assert_int_equal(put(p, "/metrics/job/j", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_REFUSED);
	assert_int_equal(st.http_code, 400);
	assert_string_equal(st.message, "bad thing here ? caf\xc3\xa9");

	assert_int_equal(put(p, "/metrics/job/j", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_REFUSED);
	assert_int_equal(st.http_code, 404);
	assert_string_equal(st.message, "HTTP 404");

	/* Not followed: the next request is the next one, not /elsewhere. */
	assert_int_equal(put(p, "/metrics/job/j", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_REFUSED);
	assert_int_equal(st.http_code, 301);
	assert_non_null(strstr(st.message, "redirect"));

	/* A long answer: the message is cut at a character boundary. */
	assert_int_equal(put(p, "/metrics/job/j2", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_int_equal(st.http_code, 500);
	assert_int_equal(strlen(st.message), 510);
	for (size_t i = 0; i < 510; i += 2)
		assert_memory_equal(st.message + i, "\xc3\xa9", 2);

	/* A 2xx with a body still counts as delivered, message empty. */
	assert_int_equal(put(p, "/metrics/job/j", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_DELIVERED);
	assert_string_equal(st.message, "");

	assert_int_equal(put(p, "/metrics/job/j", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_REFUSED);
	assert_int_equal(st.http_code, 401);
	assert_string_equal(st.message, "unauthorized");

	http_free(p);
	fake_join(&f);
	assert_true(starts(f.req[6], "PUT /pgw/metrics/job/j2 "));
	/* Every answer had a length: one connection throughout. */
	assert_int_equal(f.conns, 1);
	fake_free(&f);
}

/*
 * A server that accepts but never answers: the timeout ends the wait. What
 * is checked is that the request went out whole and that curl gave up on
 * the timeout, not before it (less what curl's own clock rounds), and not
 * how long that took on this machine.
 */
static void
test_timeout(void **state)
{
	static const char *const resp[] = { NULL };
	fake f;
	http_t *p;
	http_status st;
	http_conf h = http_for(NULL);

	(void)state;
	h.timeout = 0.3;
	fake_start(&f, 1, resp);
	p = http_to(f.port, &h);
	assert_int_equal(put(p, "/metrics/job/j", "m 1\n", 4, &st), HTTP_OK);
	http_free(p);
	fake_join(&f);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_int_equal(st.http_code, 0);
	assert_true(st.retry_after == -1);
	assert_true(st.seconds >= 0.25);
	assert_non_null(strcasestr(st.message, "timed out"));
	/* The server had the whole request: it was the answer that never
	 * came. */
	assert_non_null(f.req[0]);
	assert_true(starts(f.req[0], "PUT /pgw/metrics/job/j HTTP/1.1\r\n"));
	body_is(&f, 0, "m 1\n", 4);
	fake_free(&f);
}

/* Nothing listens: a transport failure, retried, on either method. */
static void
test_refused_connection(void **state)
{
	http_t *p;
	http_status st;

	(void)state;
	p = http_to(free_port(), NULL);
	assert_int_equal(put(p, "/metrics/job/j", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_int_equal(st.http_code, 0);
	assert_true(st.retry_after == -1);
	assert_non_null(strcasestr(st.message, "connect"));
	/* And again, on the same handle, with DELETE. */
	assert_int_equal(del(p, "/metrics/job/j", &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_int_equal(st.http_code, 0);
	http_free(p);
}

/*
 * A server or proxy that quotes the request back: the password, the Basic
 * credentials as sent and the token never reach the message.
 */
static void
test_redaction(void **state)
{
	static const char *const basic[] = {
		"HTTP/1.1 401 Unauthorized\r\nContent-Length: 61\r\n\r\n"
		"bad Basic dTpwdy1kby1ub3QtcHJpbnQ= for pw-do-not-print, sorry",
		"HTTP/1.1 400 Bad Request\r\nContent-Length: 7\r\n\r\n"
		"pw here",
	};
	static const char *const bearer[] = {
		"HTTP/1.1 403 Forbidden\r\nContent-Length: 38\r\n\r\n"
		"token tok-0123456789 is tok-0123456789",
	};
	http_conf h = http_for(NULL);
	http_status st;
	http_t *p;
	fake f;

	(void)state;
	h.username = (char *)(uintptr_t)"u";
	h.password = (char *)(uintptr_t)"pw-do-not-print";
	fake_start(&f, 2, basic);
	p = http_to(f.port, &h);
	assert_int_equal(put(p, "/x", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_REFUSED);
	assert_int_equal(st.http_code, 401);
	assert_string_equal(st.message,
	    "bad Basic <redacted> for <redacted>, sorry");
	/* A secret shorter than 4 bytes would hide ordinary words: "pw" is
	 * not one here, and stays. */
	assert_int_equal(put(p, "/x", "m 1\n", 4, &st), HTTP_OK);
	assert_string_equal(st.message, "pw here");
	http_free(p);
	fake_join(&f);
	fake_free(&f);

	h = http_for(NULL);
	h.bearer_token = (char *)(uintptr_t)"tok-0123456789";
	fake_start(&f, 1, bearer);
	p = http_to(f.port, &h);
	assert_int_equal(put(p, "/x", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.http_code, 403);
	assert_string_equal(st.message, "token <redacted> is <redacted>");
	http_free(p);
	fake_join(&f);
	fake_free(&f);
}

/*
 * http_limit() caps the configured timeout for the next requests, and 0
 * puts it back: against a server that never answers, the capped request
 * ends on the cap, well before the configured 30 s.
 */
static void
test_limit(void **state)
{
	static const char *const resp[] = { NULL };
	http_conf h = http_for(NULL);
	http_status st;
	http_t *p;
	fake f;

	(void)state;
	h.timeout = 30;
	fake_start(&f, 1, resp);
	p = http_to(f.port, &h);
	http_limit(p, 0.3);
	assert_int_equal(put(p, "/x", "m 1\n", 4, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_non_null(strcasestr(st.message, "timed out"));
	assert_true(st.seconds >= 0.25 && st.seconds < 30);
	/* A cap above the configured timeout changes nothing; neither does
	 * restoring it. */
	http_limit(p, 100);
	http_limit(p, 0);
	http_free(p);
	fake_join(&f);
	fake_free(&f);
}

/* --- remote write's POST -------------------------------------------------- */

static void
test_rw_post(void **state)
{
	static const char *const resp[] = {
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 400 Bad Request\r\nContent-Length: 24\r\n\r\n"
		"out of order sample\nmore",
		"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\n"
		"Content-Length: 0\r\n\r\n",
		"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n",
	};
	char v[256], *hdr[1] = { (char *)(uintptr_t)"X-Scope-OrgID: t1" };
	const char body[] = "\x0a\x01\x00\xff snappy bytes";
	http_conf h = http_for(NULL);
	http_status st;
	http_t *p;
	fake f;

	(void)state;
	h.headers = hdr;
	h.n_headers = 1;
	fake_start(&f, 4, resp);
	p = http_to(f.port, &h);
	assert_int_equal(rw_post(p, body, sizeof(body) - 1, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_DELIVERED);
	assert_int_equal(st.http_code, 204);
	/* Other 4xx: refused; its samples are dropped by the caller. */
	assert_int_equal(rw_post(p, body, sizeof(body) - 1, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_REFUSED);
	assert_string_equal(st.message, "out of order sample");
	assert_int_equal(rw_post(p, body, sizeof(body) - 1, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_true(st.retry_after == 3);
	assert_int_equal(rw_post(p, body, sizeof(body) - 1, &st), HTTP_OK);
	assert_int_equal(st.outcome, HTTP_RETRY);
	assert_int_equal(rw_post(p, NULL, 0, &st), HTTP_EINVAL);
	http_free(p);
	fake_join(&f);

	/* The URL is the endpoint itself; remote write's headers follow the
	 * configured ones. */
	assert_true(starts(f.req[0], "POST /pgw HTTP/1.1\r\n"));
	assert_string_equal(req_header(&f, 0, "Content-Encoding", v,
	    sizeof(v)), "Content-Encoding: snappy");
	assert_string_equal(req_header(&f, 0, "Content-Type", v, sizeof(v)),
	    "Content-Type: application/x-protobuf");
	assert_string_equal(req_header(&f, 0,
	    "X-Prometheus-Remote-Write-Version", v, sizeof(v)),
	    "X-Prometheus-Remote-Write-Version: 0.1.0");
	assert_string_equal(req_header(&f, 0, "X-Scope-OrgID", v, sizeof(v)),
	    "X-Scope-OrgID: t1");
	assert_null(req_header(&f, 0, "Expect", v, sizeof(v)));
	body_is(&f, 0, body, sizeof(body) - 1);
	assert_int_equal(f.conns, 1);
	fake_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_url),
		cmocka_unit_test(test_check_header),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_new_bad),
		cmocka_unit_test(test_new_good),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_own_classify),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_large_body),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_refused_connection),
		cmocka_unit_test(test_rw_post),
	};
	int rc;

	/* Requests go to 127.0.0.1 directly, whatever the environment. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	/* A write to a connection the peer closed must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	rc = cmocka_run_group_tests_name("http", tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
