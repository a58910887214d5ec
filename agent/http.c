/*
 * http — the agent's HTTP client. See http.h.
 *
 * One easy handle per server, so that libcurl keeps the connection open
 * between requests. Options that hold for every request are set once in
 * http_new(); each request sets its URL, method, body and header list, and
 * puts them back afterwards so that the caller's body is never referenced
 * again.
 */
#define _DEFAULT_SOURCE /* explicit_bzero(), strncasecmp() */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "backoff.h"
#include "expo.h"
#include "http.h"

#ifndef SPOOL_VERSION
#define SPOOL_VERSION "0.1.0"
#endif

#define USER_AGENT "collector-agent/" SPOOL_VERSION

/* Enough for any message a server or proxy sends; the rest is dropped. */
#define RESP_CAP 4096
#define RETRY_AFTER_CAP 128

#define CONNECT_TIMEOUT_MAX 10.0
/* A transfer slower than 1 byte/s for this long (or the timeout) is dead. */
#define LOW_SPEED_TIME_MAX 30.0

/* The password, the token, and the Basic credentials as sent. */
#define NSECRETS 3

struct http {
	CURL *curl;
	char *url;                   /* base URL, no trailing slash */
	struct curl_slist *hdr;      /* the configured extra headers */
	char errbuf[CURL_ERROR_SIZE];
	char resp[RESP_CAP];         /* the start of the response body */
	size_t resp_len;
	char retry_after[RETRY_AFTER_CAP];
	double timeout;              /* configured total, seconds */
	double conn;                 /* configured connect, seconds */
	int cert_hint;               /* https without a client certificate */
	/* What the answer must never carry into a log or the spool, should
	 * a server or proxy quote the request back. Wiped when freed. */
	char *secrets[NSECRETS];
};

const char *
http_strerror(http_err e)
{
	switch (e) {
	case HTTP_OK:
		return "success";
	case HTTP_EINVAL:
		return "invalid argument";
	case HTTP_ENOMEM:
		return "out of memory";
	case HTTP_ECURL:
		return "libcurl could not be set up";
	}
	return "unknown error";
}

static void
seterr(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *errbuf, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errbuf == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errlen, fmt, ap);
	va_end(ap);
}

/* --- checks ------------------------------------------------------------ */

int
http_has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

int
http_parse_port(const char *p, size_t n)
{
	long v = 0;

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v <= 65535 ? (int)v : -1;
}

/* What curl makes of a URL that passed the checks above: it must see the
 * same scheme and a host, or requests would go elsewhere than checked. */
static const char *
curl_check_url(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL;
	const char *why = NULL;

	if (u == NULL)
		return "cannot be checked (out of memory)";
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0')
		why = "cannot be parsed";
	curl_free(host);
	curl_url_cleanup(u);
	return why;
}

const char *
http_check_url(const char *u, size_t *keep, int *quotable)
{
	const char *p, *auth_end, *host_end, *port = NULL;
	const char *a = strstr(u, "://");
	size_t n = strlen(u), k;

	if (quotable != NULL)
		*quotable = 1;
	/* Credentials first, whatever else is wrong: a message that quotes
	 * the URL must not quote a password. */
	a = a != NULL ? a + 3 : u;
	if (memchr(a, '@', strcspn(a, "/?#")) != NULL) {
		if (quotable != NULL)
			*quotable = 0;
		return "must not carry credentials (use username and "
		    "password_file)";
	}
	if (n >= 7 && strncasecmp(u, "http://", 7) == 0)
		p = u + 7;
	else if (n >= 8 && strncasecmp(u, "https://", 8) == 0)
		p = u + 8;
	else
		return "must start with http:// or https://";
	for (k = 0; k < n; k++)
		if ((unsigned char)u[k] <= ' ' || u[k] == 0x7f)
			return "must not contain blanks or control characters";
	/* The sinks append their paths to it. */
	if (strpbrk(u, "?#") != NULL)
		return "must not have a query or fragment";
	auth_end = p + strcspn(p, "/");
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(auth_end - p));

		if (rb == NULL || rb == p + 1 ||
		    (rb + 1 < auth_end && rb[1] != ':'))
			return "has a bad IPv6 address";
		host_end = rb + 1;
		if (host_end < auth_end)
			port = host_end + 1;
	} else {
		const char *colon = memchr(p, ':', (size_t)(auth_end - p));

		host_end = colon ? colon : auth_end;
		if (colon != NULL)
			port = colon + 1;
	}
	if (host_end == p)
		return "has no host";
	if (port != NULL &&
	    http_parse_port(port, (size_t)(auth_end - port)) <= 0)
		return "has a bad port";
	if ((a = curl_check_url(u)) != NULL)
		return a;
	k = n;
	while (k > (size_t)(auth_end - u) && u[k - 1] == '/')
		k--;
	if (keep != NULL)
		*keep = k;
	return NULL;
}

static int
tchar(char ch)
{
	/* RFC 9110 tchar. */
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || (ch != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

int
http_check_header(const char *h, char *why, size_t wn)
{
	const char *colon = strchr(h, ':'), *v;
	char name[65];
	size_t i, nl;

	if (colon == NULL || colon == h) {
		snprintf(why, wn, "expected 'Name: value'");
		return -1;
	}
	nl = (size_t)(colon - h);
	for (i = 0; i < nl; i++)
		if (!tchar(h[i])) {
			/* Shown short, on one line. */
			if (nl > sizeof(name) - 1)
				nl = sizeof(name) - 1;
			for (size_t j = 0; j < nl; j++)
				name[j] = http_has_ctl(h + j, 1) ? '?' : h[j];
			name[nl] = '\0';
			snprintf(why, wn, "bad header name '%s'", name);
			return -1;
		}
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (*v == '\0') {
		snprintf(why, wn, "expected 'Name: value' (the value is "
		    "empty)");
		return -1;
	}
	for (; *v != '\0'; v++)
		if (*v != '\t' && http_has_ctl(v, 1)) {
			snprintf(why, wn, "the value must not contain line "
			    "breaks or control characters");
			return -1;
		}
	return 0;
}

/* --- classification and messages ---------------------------------------- */

http_outcome
http_classify(long code)
{
	if (code >= 200 && code <= 299)
		return HTTP_DELIVERED;
	if (code >= 500 || code == 429 || code == 408)
		return HTTP_RETRY;
	return HTTP_REFUSED;
}

void
http_status_init(http_status *st)
{
	st->outcome = HTTP_RETRY;
	st->http_code = 0;
	st->retry_after = -1;
	st->seconds = 0;
	st->message[0] = '\0';
	st->gzip = 0;
	st->plain_next = 0;
}

static int
utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/*
 * The message: the first line of the answer, trimmed, with control
 * characters dropped and invalid UTF-8 shown as '?', cut at a character
 * boundary. It goes into logs and a self-metric's label, which must be
 * UTF-8.
 */
static void
first_line(char *dst, size_t cap, const char *src, size_t len)
{
	size_t o = 0, end = 0, i = 0;

	while (end < len && src[end] != '\n' && src[end] != '\r')
		end++;
	while (i < end && (src[i] == ' ' || src[i] == '\t'))
		i++;
	while (i < end) {
		unsigned char c = (unsigned char)src[i];
		int n = utf8_len(c);

		if (n == 0 || i + (size_t)n > end ||
		    !expo_valid_utf8(src + i, (size_t)n)) {
			if (o + 1 >= cap)
				break;
			dst[o++] = '?';
			i++;
			continue;
		}
		if (n == 1 && (c < 0x20 || c == 0x7f)) {
			/* A tab reads as a blank; others go. */
			if (c == '\t' && o + 1 < cap)
				dst[o++] = ' ';
			i++;
			continue;
		}
		if (o + (size_t)n >= cap)
			break;
		memcpy(dst + o, src + i, (size_t)n);
		o += (size_t)n;
		i += (size_t)n;
	}
	while (o > 0 && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}

/* Replaces every occurrence of the secrets in msg (NUL-terminated, in a
 * buffer of cap bytes) with "<redacted>". */
static void
redact(const http_t *h, char *msg, size_t cap)
{
	static const char mark[] = "<redacted>";

	for (size_t k = 0; k < NSECRETS; k++) {
		const char *sec = h->secrets[k];
		size_t sl = sec != NULL ? strlen(sec) : 0;
		char *hit;

		/* Very short secrets would redact ordinary words; they
		 * are refused elsewhere as weak, not hidden here. */
		if (sl < 4)
			continue;
		while ((hit = strstr(msg, sec)) != NULL) {
			size_t tail = strlen(hit + sl);
			size_t ml = sizeof(mark) - 1;
			if ((size_t)(hit - msg) + ml + tail + 1 > cap)
				tail = cap - 1 - (size_t)(hit - msg) - ml;
			memmove(hit + ml, hit + sl, tail);
			memcpy(hit, mark, ml);
			hit[ml + tail] = '\0';
		}
	}
}

/* --- base64 ------------------------------------------------------------ */

dbuf_err
http_base64(dbuf *b, const void *src, size_t n, int urlsafe)
{
	static const char std[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char url[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *abc = urlsafe ? url : std;
	const unsigned char *s = src;
	char q[4];
	size_t i;

	if (n == 0)
		return urlsafe ? dbuf_add(b, "=", 1) : b->err;
	for (i = 0; i + 3 <= n; i += 3) {
		unsigned long v = (unsigned long)s[i] << 16 |
		    (unsigned long)s[i + 1] << 8 | s[i + 2];

		q[0] = abc[v >> 18 & 63];
		q[1] = abc[v >> 12 & 63];
		q[2] = abc[v >> 6 & 63];
		q[3] = abc[v & 63];
		dbuf_add(b, q, 4);
	}
	if (n - i == 1) {
		unsigned long v = (unsigned long)s[i] << 16;

		q[0] = abc[v >> 18 & 63];
		q[1] = abc[v >> 12 & 63];
		q[2] = q[3] = '=';
		dbuf_add(b, q, urlsafe ? 2 : 4);
	} else if (n - i == 2) {
		unsigned long v = (unsigned long)s[i] << 16 |
		    (unsigned long)s[i + 1] << 8;

		q[0] = abc[v >> 18 & 63];
		q[1] = abc[v >> 12 & 63];
		q[2] = abc[v >> 6 & 63];
		q[3] = '=';
		dbuf_add(b, q, urlsafe ? 3 : 4);
	}
	return b->err;
}

/* --- the client -------------------------------------------------------- */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	http_t *h = arg;
	size_t n = size * nmemb;
	size_t room = sizeof(h->resp) - 1 - h->resp_len;
	size_t take = n < room ? n : room;

	/* Only the start of an answer is kept; the rest is read and dropped
	 * so that the connection stays usable. */
	memcpy(h->resp + h->resp_len, data, take);
	h->resp_len += take;
	h->resp[h->resp_len] = '\0';
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "Retry-After:";
	http_t *h = arg;
	size_t n = size * nmemb;
	size_t nl = sizeof(name) - 1;

	/* Headers of an interim answer (100 Continue) are not the answer's. */
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
		h->retry_after[0] = '\0';
	else if (n > nl && strncasecmp(data, name, nl) == 0) {
		size_t vlen = n - nl;

		if (vlen >= sizeof(h->retry_after))
			vlen = sizeof(h->retry_after) - 1;
		memcpy(h->retry_after, data + nl, vlen);
		h->retry_after[vlen] = '\0';
	}
	return n;
}

/* Sets an option and counts a failure; options are checked all at once. */
#define SETOPT(h, opt, val) \
	((curl_easy_setopt((h)->curl, (opt), (val)) == CURLE_OK) ? 0 : 1)

/* Extra headers may carry API keys; their copies are wiped, not just freed. */
static void
free_headers(struct curl_slist *l)
{
	for (struct curl_slist *h = l; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(l);
}

/* Checks what http_new() takes; 0, or -1 with err set. */
static int
check_conf(const http_conf *conf, const char **user, const char **bearer,
    char *err, size_t errlen)
{
	const char *why;
	char hwhy[128];

	if (conf == NULL || conf->url == NULL || *conf->url == '\0') {
		seterr(err, errlen, "no URL");
		return -1;
	}
	if ((why = http_check_url(conf->url, NULL, NULL)) != NULL) {
		seterr(err, errlen, "the URL %s", why);
		return -1;
	}
	/* CURLOPT_TIMEOUT_MS takes a long; a day is more than any request. */
	if (!(conf->timeout > 0) || conf->timeout > 86400) {
		seterr(err, errlen, "timeout must be between 0 and 86400 "
		    "seconds");
		return -1;
	}
	/* An empty setting ("" in the file) means none, like NULL. */
	*user = conf->username != NULL && *conf->username != '\0' ?
	    conf->username : NULL;
	*bearer = conf->bearer_token != NULL && *conf->bearer_token != '\0' ?
	    conf->bearer_token : NULL;
	if (*user != NULL && *bearer != NULL) {
		seterr(err, errlen, "basic auth and a bearer token cannot "
		    "both be set");
		return -1;
	}
	/* Secrets go into request headers: a line break would add headers.
	 * The message does not quote them. */
	if (*user != NULL && (http_has_ctl(*user, strlen(*user)) ||
	    (conf->password != NULL && http_has_ctl(conf->password,
	    strlen(conf->password))))) {
		seterr(err, errlen, "the basic auth user name or password "
		    "contains control characters");
		return -1;
	}
	if (*bearer != NULL && http_has_ctl(*bearer, strlen(*bearer))) {
		seterr(err, errlen, "the bearer token contains control "
		    "characters");
		return -1;
	}
	for (size_t i = 0; i < conf->n_headers; i++) {
		if (conf->headers == NULL || conf->headers[i] == NULL ||
		    http_check_header(conf->headers[i], hwhy,
		    sizeof(hwhy)) != 0) {
			/* Only the position: a header may carry an API key. */
			seterr(err, errlen, "header %zu is not \"Name: "
			    "value\" on one line", i + 1);
			return -1;
		}
	}
	return 0;
}

/* Keeps what answers must not quote back: the password and the Basic
 * credentials as sent ("user:password" in base64), or the token. */
static http_err
keep_secrets(http_t *h, const char *user, const char *password,
    const char *bearer)
{
	if (user != NULL && password != NULL) {
		dbuf up, b64;
		http_err r = HTTP_OK;

		dbuf_init(&up, (size_t)-1);
		dbuf_init(&b64, (size_t)-1);
		dbuf_adds(&up, user);
		dbuf_add(&up, ":", 1);
		dbuf_adds(&up, password);
		if (up.err == DBUF_OK)
			http_base64(&b64, up.p, up.len, 0);
		if ((h->secrets[0] = strdup(password)) == NULL ||
		    (h->secrets[1] = dbuf_take(&b64, NULL)) == NULL)
			r = HTTP_ENOMEM;
		if (up.p != NULL)
			explicit_bzero(up.p, up.len);
		dbuf_free(&up);
		dbuf_free(&b64);
		if (r != HTTP_OK)
			return r;
	}
	if (bearer != NULL && (h->secrets[2] = strdup(bearer)) == NULL)
		return HTTP_ENOMEM;
	return HTTP_OK;
}

http_err
http_new(const http_conf *conf, http_t **out, char *err, size_t errlen)
{
	http_t *h = NULL;
	struct curl_slist *l;
	double conn;
	long low;
	int bad = 0;
	size_t len;
	const char *user = NULL, *bearer = NULL;
	http_err r = HTTP_OK;

	if (out == NULL)
		return HTTP_EINVAL;
	*out = NULL;
	seterr(err, errlen, "%s", "");
	if (check_conf(conf, &user, &bearer, err, errlen) != 0)
		return HTTP_EINVAL;

	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->url = strdup(conf->url)) == NULL) {
		r = HTTP_ENOMEM;
		goto out;
	}
	len = strlen(h->url);
	while (len > 0 && h->url[len - 1] == '/')
		h->url[--len] = '\0';

	/* curl_slist_append() copies; the list is ours until http_free(). */
	for (size_t i = 0; i < conf->n_headers; i++) {
		if ((l = curl_slist_append(h->hdr, conf->headers[i])) ==
		    NULL) {
			r = HTTP_ENOMEM;
			goto out;
		}
		h->hdr = l;
	}

	if ((h->curl = curl_easy_init()) == NULL) {
		seterr(err, errlen, "curl_easy_init failed");
		r = HTTP_ECURL;
		goto out;
	}
	conn = conf->timeout < CONNECT_TIMEOUT_MAX ? conf->timeout :
	    CONNECT_TIMEOUT_MAX;
	low = (long)ceil(conf->timeout < LOW_SPEED_TIME_MAX ? conf->timeout :
	    LOW_SPEED_TIME_MAX);

	h->timeout = conf->timeout;
	h->conn = conn;
	/* Signals would disturb the daemon's own handlers and timers. */
	bad += SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	bad += SETOPT(h, CURLOPT_ERRORBUFFER, h->errbuf);
	bad += SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(conn * 1000));
	bad += SETOPT(h, CURLOPT_TIMEOUT_MS,
	    (long)ceil(conf->timeout * 1000));
	bad += SETOPT(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	bad += SETOPT(h, CURLOPT_LOW_SPEED_TIME, low);
	bad += SETOPT(h, CURLOPT_USERAGENT, USER_AGENT);
	/* Idle connections between intervals survive NAT and firewalls. */
	bad += SETOPT(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/*
	 * A redirect is not followed: a PUT must not be replayed somewhere
	 * else, with the credentials. A 3xx is refused, and says so.
	 */
	bad += SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	bad += SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	bad += SETOPT(h, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	bad += SETOPT(h, CURLOPT_WRITEFUNCTION, on_body);
	bad += SETOPT(h, CURLOPT_WRITEDATA, h);
	bad += SETOPT(h, CURLOPT_HEADERFUNCTION, on_header);
	bad += SETOPT(h, CURLOPT_HEADERDATA, h);
	if (bad != 0) {
		seterr(err, errlen, "libcurl refused %d options", bad);
		r = HTTP_ECURL;
		goto out;
	}

	/* libcurl copies string options, so conf may be freed after this. */
	if ((r = keep_secrets(h, user, conf->password, bearer)) != HTTP_OK)
		goto out;
	if (user != NULL) {
		bad += SETOPT(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		bad += SETOPT(h, CURLOPT_USERNAME, user);
		bad += SETOPT(h, CURLOPT_PASSWORD,
		    conf->password != NULL ? conf->password : "");
	} else if (bearer != NULL) {
		/* With one scheme only, curl sends it with the first request. */
		bad += SETOPT(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		bad += SETOPT(h, CURLOPT_XOAUTH2_BEARER, bearer);
	}
	if (bad != 0) {
		seterr(err, errlen, "libcurl refused the credentials");
		r = HTTP_ECURL;
		goto out;
	}
	if (conf->ca_file != NULL && *conf->ca_file != '\0')
		bad += SETOPT(h, CURLOPT_CAINFO, conf->ca_file);
	if (conf->cert_file != NULL && *conf->cert_file != '\0')
		bad += SETOPT(h, CURLOPT_SSLCERT, conf->cert_file);
	if (conf->key_file != NULL && *conf->key_file != '\0')
		bad += SETOPT(h, CURLOPT_SSLKEY, conf->key_file);
	/* A server that wants a client certificate closes the connection
	 * with an alert that curl reports as a send or receive failure. */
	h->cert_hint = strncasecmp(conf->url, "https://", 8) == 0 &&
	    (conf->cert_file == NULL || *conf->cert_file == '\0');
	if (conf->insecure_skip_verify) {
		bad += SETOPT(h, CURLOPT_SSL_VERIFYPEER, 0L);
		bad += SETOPT(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (bad != 0) {
		/* This libcurl has no TLS, or not these settings. */
		seterr(err, errlen, "libcurl refused the TLS settings");
		r = HTTP_ECURL;
		goto out;
	}
out:
	if (r == HTTP_ENOMEM)
		seterr(err, errlen, "out of memory");
	if (r != HTTP_OK) {
		http_free(h);
		return r;
	}
	*out = h;
	return HTTP_OK;
}

void
http_free(http_t *h)
{
	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	free_headers(h->hdr);
	free(h->url);
	for (size_t k = 0; k < NSECRETS; k++) {
		if (h->secrets[k] != NULL)
			explicit_bzero(h->secrets[k], strlen(h->secrets[k]));
		free(h->secrets[k]);
	}
	free(h);
}

const char *
http_url(const http_t *h)
{
	return h->url;
}

const char *
http_answer(const http_t *h, size_t *len)
{
	if (len != NULL)
		*len = h->resp_len;
	return h->resp;
}

void
http_limit(http_t *h, double seconds)
{
	double t = h->timeout, c = h->conn;

	/* Never below 1 ms: curl takes 0 as "no timeout". */
	if (seconds > 0 && seconds < t)
		t = seconds < 0.001 ? 0.001 : seconds;
	if (c > t)
		c = t;
	(void)curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS,
	    (long)ceil(t * 1000));
	(void)curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)ceil(c * 1000));
}

static double
now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Puts the per-request options back (a plain GET without a body), so that
 * the caller's body is never referenced after its call returns and the
 * next request starts from the same state whatever its method.
 * POSTFIELDS comes first: setting it switches the method to POST, which
 * HTTPGET then undoes.
 */
static void
reset_request(http_t *h)
{
	(void)curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, (char *)NULL);
	(void)curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)-1);
	(void)curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
	(void)curl_easy_setopt(h->curl, CURLOPT_READFUNCTION,
	    (curl_read_callback)NULL);
	(void)curl_easy_setopt(h->curl, CURLOPT_READDATA, (void *)NULL);
	(void)curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, (char *)NULL);
	(void)curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER,
	    (struct curl_slist *)NULL);
}

/* Runs the request that was set up and fills st. */
static void
perform(http_t *h, const http_request *rq, http_status *st)
{
	CURLcode rc;
	curl_off_t us = 0;
	long code = 0;

	h->errbuf[0] = '\0';
	h->resp_len = 0;
	h->resp[0] = '\0';
	h->retry_after[0] = '\0';

	rc = curl_easy_perform(h->curl);
	if (curl_easy_getinfo(h->curl, CURLINFO_TOTAL_TIME_T, &us) ==
	    CURLE_OK)
		st->seconds = (double)us / 1e6;
	if (curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code) ==
	    CURLE_OK)
		st->http_code = code;
	if (h->retry_after[0] != '\0')
		st->retry_after = backoff_parse_retry_after(h->retry_after,
		    now_real());

	if (rc != CURLE_OK) {
		/*
		 * No answer, or not all of it: the transport failed. curl's
		 * detail can be cryptic on its own ("getpeername() failed"
		 * after a TLS alert), so its summary goes first unless the
		 * detail already says it.
		 */
		const char *sum = curl_easy_strerror(rc);

		st->outcome = HTTP_RETRY;
		if (h->errbuf[0] == '\0' || strstr(h->errbuf, sum) != NULL)
			snprintf(st->message, sizeof(st->message), "%s",
			    h->errbuf[0] != '\0' ? h->errbuf : sum);
		else
			snprintf(st->message, sizeof(st->message), "%s: %s",
			    sum, h->errbuf);
		if (h->cert_hint && (rc == CURLE_SEND_ERROR ||
		    rc == CURLE_RECV_ERROR || rc == CURLE_SSL_CONNECT_ERROR)) {
			size_t n = strlen(st->message);
			snprintf(st->message + n, sizeof(st->message) - n,
			    " (if the server requires a client certificate, "
			    "set cert_file and key_file)");
		}
	} else {
		st->outcome = rq->classify != NULL ? rq->classify(code) :
		    http_classify(code);
		if (code >= 300 && code <= 399) {
			/* Go's redirects carry an HTML body; the point is
			 * that the URL is wrong. */
			snprintf(st->message, sizeof(st->message),
			    "HTTP %ld: redirect not followed (check the "
			    "URL)", code);
		} else if (st->outcome != HTTP_DELIVERED) {
			first_line(st->message, sizeof(st->message), h->resp,
			    h->resp_len);
			if (st->message[0] == '\0')
				snprintf(st->message, sizeof(st->message),
				    "HTTP %ld", code);
		}
	}
	redact(h, st->message, sizeof(st->message));
}

typedef struct reader {
	http_source src;
	void *arg;
} reader;

static size_t
on_read(char *buf, size_t size, size_t nitems, void *userp)
{
	reader *rd = userp;
	size_t n = rd->src(buf, size * nitems, rd->arg);

	return n == (size_t)-1 ? CURL_READFUNC_ABORT : n;
}

/* The request's header list: the configured ones, then "Expect:" (curl
 * would ask "Expect: 100-continue" before a large body and wait up to a
 * second for the answer; servers read the body anyway), then the
 * request's. NULL out of memory. */
static struct curl_slist *
request_headers(const http_t *h, const http_request *rq)
{
	struct curl_slist *l = NULL, *n;

	for (const struct curl_slist *c = h->hdr; c != NULL; c = c->next) {
		if ((n = curl_slist_append(l, c->data)) == NULL)
			goto nomem;
		l = n;
	}
	if ((n = curl_slist_append(l, "Expect:")) == NULL)
		goto nomem;
	l = n;
	for (size_t i = 0; i < rq->n_headers; i++) {
		if ((n = curl_slist_append(l, rq->headers[i])) == NULL)
			goto nomem;
		l = n;
	}
	return l;
nomem:
	free_headers(l);
	return NULL;
}

http_err
http_request_do(http_t *h, const http_request *rq, http_status *st)
{
	const char *method;
	struct curl_slist *hdr = NULL;
	char *url = NULL;
	size_t ul, pl;
	reader rd;
	int bad = 0;

	if (st == NULL)
		return HTTP_EINVAL;
	http_status_init(st);
	if (h == NULL || rq == NULL || (rq->body == NULL && rq->len > 0) ||
	    (rq->n_headers > 0 && rq->headers == NULL)) {
		snprintf(st->message, sizeof(st->message), "invalid argument");
		return HTTP_EINVAL;
	}
	method = rq->method != NULL ? rq->method : "GET";
	ul = strlen(h->url);
	pl = rq->path != NULL ? strlen(rq->path) : 0;
	if ((url = malloc(ul + pl + 1)) == NULL ||
	    (hdr = request_headers(h, rq)) == NULL) {
		free(url);
		snprintf(st->message, sizeof(st->message), "out of memory");
		return HTTP_ENOMEM;
	}
	memcpy(url, h->url, ul);
	if (pl > 0)
		memcpy(url + ul, rq->path, pl);
	url[ul + pl] = '\0';

	bad += SETOPT(h, CURLOPT_URL, url);
	if (rq->src != NULL) {
		/* A POST of unknown size is sent chunked; the method is the
		 * request's. */
		rd.src = rq->src;
		rd.arg = rq->arg;
		bad += SETOPT(h, CURLOPT_POST, 1L);
		bad += SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
		bad += SETOPT(h, CURLOPT_READFUNCTION, on_read);
		bad += SETOPT(h, CURLOPT_READDATA, &rd);
	} else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
		/* Sent from the caller's memory. Never NULL: with a NULL
		 * body curl would read the request body from standard
		 * input. */
		bad += SETOPT(h, CURLOPT_POSTFIELDS, rq->body != NULL ?
		    (const char *)rq->body : "");
		bad += SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)rq->len);
	} else
		bad += SETOPT(h, CURLOPT_HTTPGET, 1L);
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		bad += SETOPT(h, CURLOPT_CUSTOMREQUEST, method);
	bad += SETOPT(h, CURLOPT_HTTPHEADER, hdr);
	if (bad != 0)
		snprintf(st->message, sizeof(st->message), "%s",
		    "libcurl refused the request options");
	else
		perform(h, rq, st);
	reset_request(h);
	free_headers(hdr);
	free(url);
	return bad != 0 ? HTTP_ECURL : HTTP_OK;
}
