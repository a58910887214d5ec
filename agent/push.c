/*
 * push — the Pushgateway sink. See push.h.
 *
 * One easy handle per gateway, so that libcurl keeps the connection open
 * between requests. Options that hold for every request are set once in
 * push_new(); each request sets its method, body and header list, and puts
 * them back afterwards so that the caller's body is never referenced again.
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
#include "gz.h"
#include "log.h"
#include "push.h"

#ifndef SPOOL_VERSION
#define SPOOL_VERSION "0.1.0"
#endif

#define USER_AGENT "collector-agent/" SPOOL_VERSION
#define CONTENT_TYPE "Content-Type: text/plain; version=0.0.4; charset=utf-8"
/* Exactly this spelling: the Pushgateway compares it case-sensitively. */
#define CONTENT_ENCODING "Content-Encoding: gzip"

/* Enough for any message a gateway or proxy sends; the rest is dropped. */
#define RESP_CAP 4096
#define RETRY_AFTER_CAP 128
/* A group path longer than this is surely a mistake (values are < 64 KiB). */
#define PATH_CAP (1024u * 1024u)

#define CONNECT_TIMEOUT_MAX 10.0
/* A transfer slower than 1 byte/s for this long (or the timeout) is dead. */
#define LOW_SPEED_TIME_MAX 30.0

static const char *const rw_headers[] = {
	"Content-Encoding: snappy",
	"Content-Type: application/x-protobuf",
	"X-Prometheus-Remote-Write-Version: 0.1.0",
	"Expect:",
};

/* Whether PUT bodies go gzip-compressed. */
typedef enum gz_mode {
	GZM_OFF = 0,   /* configured off */
	GZM_ON,
	GZM_PROBE,     /* a gzip body was not understood: the next PUT goes
	                * plain, and its answer decides */
	GZM_REFUSED    /* the gateway takes no gzip (said once) */
} gz_mode;

struct push {
	CURL *curl;
	char *url;                   /* base URL, no trailing slash */
	struct curl_slist *hdr_put;  /* extra headers, Expect:, Content-Type */
	struct curl_slist *hdr_gz;   /* hdr_put and Content-Encoding: gzip */
	gz_mode gzm;
	gz_t *gz;                    /* made at the first gzip body */
	char head[PUSH_GZIP_MIN + 1]; /* a body's start, read to decide */
	struct curl_slist *hdr_del;  /* extra headers */
	struct curl_slist *hdr_rw;   /* extra headers and remote write's */
	char errbuf[CURL_ERROR_SIZE];
	char resp[RESP_CAP];         /* the start of the response body */
	size_t resp_len;
	char retry_after[RETRY_AFTER_CAP];
	double timeout;              /* configured total, seconds */
	double conn;                 /* configured connect, seconds */
	int cert_hint;               /* https without a client certificate */
	/* What the answer must never carry into a log or the spool, should
	 * a server or proxy quote the request back: the password, the token
	 * and the Basic credentials as sent. Wiped when freed. */
	char *secrets[3];
};

const char *
push_strerror(push_err e)
{
	switch (e) {
	case PUSH_OK:
		return "success";
	case PUSH_EINVAL:
		return "invalid argument";
	case PUSH_ENOMEM:
		return "out of memory";
	case PUSH_ECURL:
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

/* --- group paths ------------------------------------------------------- */

/* A growable string with a cap, for building paths. */
typedef struct sbuf {
	char *p;
	size_t len, cap;
	int nomem, toobig;
} sbuf;

static void
sb_add(sbuf *b, const char *s, size_t n)
{
	if (b->nomem || b->toobig)
		return;
	if (n > PATH_CAP - b->len) {
		b->toobig = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->nomem = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_str(sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static int
unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '~' ||
	    c == '-';
}

/*
 * A value may go into the path as it is when every byte is unreserved in a
 * URL (RFC 3986), so nothing needs percent-encoding, and when it is not a
 * dot segment: curl removes "." and ".." from paths and the gateway
 * redirects them (301), so those are base64 like the rest.
 */
static int
plain_ok(const char *v, size_t n)
{
	if (n == 0 || (n == 1 && v[0] == '.') ||
	    (n == 2 && v[0] == '.' && v[1] == '.'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!unreserved((unsigned char)v[i]))
			return 0;
	return 1;
}

/* URL-safe base64 (RFC 4648 §5) without padding; "" becomes "=". */
static void
sb_base64url(sbuf *b, const unsigned char *s, size_t n)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char q[4];
	size_t i;

	if (n == 0) {
		sb_add(b, "=", 1);
		return;
	}
	for (i = 0; i + 3 <= n; i += 3) {
		unsigned long v = (unsigned long)s[i] << 16 |
		    (unsigned long)s[i + 1] << 8 | s[i + 2];

		q[0] = abc[v >> 18 & 63];
		q[1] = abc[v >> 12 & 63];
		q[2] = abc[v >> 6 & 63];
		q[3] = abc[v & 63];
		sb_add(b, q, 4);
	}
	if (n - i == 1) {
		unsigned long v = (unsigned long)s[i] << 16;

		q[0] = abc[v >> 18 & 63];
		q[1] = abc[v >> 12 & 63];
		sb_add(b, q, 2);
	} else if (n - i == 2) {
		unsigned long v = (unsigned long)s[i] << 16 |
		    (unsigned long)s[i + 1] << 8;

		q[0] = abc[v >> 18 & 63];
		q[1] = abc[v >> 12 & 63];
		q[2] = abc[v >> 6 & 63];
		sb_add(b, q, 3);
	}
}

/* Standard base64 with padding, as "Basic" credentials are sent: the
 * URL-safe form with its two letters swapped back. NULL out of memory. */
static char *
base64_std(const char *s, size_t n)
{
	sbuf b = { 0 };

	sb_base64url(&b, (const unsigned char *)s, n);
	while (b.len % 4 != 0)
		sb_add(&b, "=", 1);
	if (b.nomem || b.toobig) {
		free(b.p);
		return NULL;
	}
	for (size_t i = 0; i < b.len; i++)
		b.p[i] = b.p[i] == '-' ? '+' : b.p[i] == '_' ? '/' : b.p[i];
	return b.p;
}

/* Replaces every occurrence of the secrets in msg (NUL-terminated, in a
 * buffer of cap bytes) with "<redacted>". */
static void
redact(const push_t *p, char *msg, size_t cap)
{
	static const char mark[] = "<redacted>";

	for (size_t k = 0; k < 3; k++) {
		const char *sec = p->secrets[k];
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

/* Appends "/name/value" or "/name@base64/<value in base64>". */
static void
sb_segment(sbuf *b, const char *name, size_t nlen, const char *v, size_t n)
{
	sb_add(b, "/", 1);
	sb_add(b, name, nlen);
	if (plain_ok(v, n)) {
		sb_add(b, "/", 1);
		sb_add(b, v, n);
	} else {
		sb_str(b, "@base64/");
		sb_base64url(b, (const unsigned char *)v, n);
	}
}

/*
 * Undoes the exposition format's escapes (\\, \", \n) into out, which holds
 * at least n bytes. Returns the length. The canonical grouping has no other
 * escapes (expo refuses them); anything else is kept as written.
 */
static size_t
unescape(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' && i + 1 < n) {
			switch (s[i + 1]) {
			case '\\':
				out[o++] = '\\';
				i++;
				continue;
			case '"':
				out[o++] = '"';
				i++;
				continue;
			case 'n':
				out[o++] = '\n';
				i++;
				continue;
			default:
				break;
			}
		}
		out[o++] = s[i];
	}
	return o;
}

push_err
push_group_path(const char *job, const char *grouping, char **out)
{
	expo_label labels[EXPO_MAX_LABELS];
	size_t n = 0;
	const char *why;
	char *tmp = NULL;
	sbuf b = { NULL, 0, 0, 0, 0 };
	push_err r = PUSH_OK;

	if (out == NULL)
		return PUSH_EINVAL;
	*out = NULL;
	if (job == NULL)
		return PUSH_EINVAL;
	if (grouping != NULL && expo_parse_labels(grouping, strlen(grouping),
	    labels, EXPO_MAX_LABELS, &n, &why) != 0)
		return PUSH_EINVAL;

	sb_str(&b, "/metrics");
	sb_segment(&b, "job", 3, job, strlen(job));
	for (size_t i = 0; i < n; i++) {
		size_t vlen;

		/* Unescaping never lengthens a value. */
		free(tmp);
		if ((tmp = malloc(labels[i].value.len + 1)) == NULL) {
			r = PUSH_ENOMEM;
			goto out;
		}
		vlen = unescape(labels[i].value.p, labels[i].value.len, tmp);
		sb_segment(&b, labels[i].name.p, labels[i].name.len, tmp, vlen);
	}
	if (b.nomem)
		r = PUSH_ENOMEM;
	else if (b.toobig)
		r = PUSH_EINVAL;
out:
	free(tmp);
	if (r == PUSH_OK)
		*out = b.p;
	else
		free(b.p);
	return r;
}

/* --- the sink ----------------------------------------------------------- */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	push_t *p = arg;
	size_t n = size * nmemb;
	size_t room = sizeof(p->resp) - 1 - p->resp_len;
	size_t take = n < room ? n : room;

	/* Only the start of an answer is kept; the rest is read and dropped
	 * so that the connection stays usable. */
	memcpy(p->resp + p->resp_len, data, take);
	p->resp_len += take;
	p->resp[p->resp_len] = '\0';
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	static const char name[] = "Retry-After:";
	push_t *p = arg;
	size_t n = size * nmemb;
	size_t nl = sizeof(name) - 1;

	/* Headers of an interim answer (100 Continue) are not the answer's. */
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
		p->retry_after[0] = '\0';
	else if (n > nl && strncasecmp(data, name, nl) == 0) {
		size_t vlen = n - nl;

		if (vlen >= sizeof(p->retry_after))
			vlen = sizeof(p->retry_after) - 1;
		memcpy(p->retry_after, data + nl, vlen);
		p->retry_after[vlen] = '\0';
	}
	return n;
}

static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* "Name: value" with a token for a name and no line breaks anywhere. */
static int
valid_header(const char *h)
{
	const char *c = strchr(h, ':');

	if (c == NULL || c == h || has_ctl(h))
		return 0;
	for (const char *s = h; s < c; s++)
		if (!unreserved((unsigned char)*s) && strchr("!#$%&'*+^`|",
		    *s) == NULL)
			return 0;
	return 1;
}

/*
 * Checks the base URL: http or https, a host, no query or fragment (the
 * group path goes after it), no blanks. Returns NULL or a reason.
 */
static const char *
check_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *query = NULL, *frag = NULL;
	const char *why = NULL;

	if (u == NULL)
		return "out of memory";
	if (has_ctl(url) || strchr(url, ' ') != NULL)
		why = "the URL contains blanks or control characters";
	else if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		why = "the URL cannot be parsed";
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		why = "the URL must start with http:// or https://";
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    *host == '\0')
		why = "the URL has no host";
	else if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK)
		why = "the URL must not have a query or fragment";
	curl_free(scheme);
	curl_free(host);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	return why;
}

/* Sets an option and counts a failure; options are checked all at once. */
#define SETOPT(p, opt, val) \
	((curl_easy_setopt((p)->curl, (opt), (val)) == CURLE_OK) ? 0 : 1)

push_err
push_new(const cfg_http *http, push_t **out, char *errbuf, size_t errlen)
{
	push_t *p = NULL;
	struct curl_slist *l;
	double conn;
	long low;
	int bad = 0;
	size_t len;
	const char *why, *user, *bearer;
	push_err r = PUSH_OK;

	if (out == NULL)
		return PUSH_EINVAL;
	*out = NULL;
	seterr(errbuf, errlen, "%s", "");
	if (http == NULL || http->url == NULL || *http->url == '\0') {
		seterr(errbuf, errlen, "no gateway URL");
		return PUSH_EINVAL;
	}
	if ((why = check_url(http->url)) != NULL) {
		seterr(errbuf, errlen, "gateway URL: %s", why);
		return PUSH_EINVAL;
	}
	/* CURLOPT_TIMEOUT_MS takes a long; a day is more than any push. */
	if (!(http->timeout > 0) || http->timeout > 86400) {
		seterr(errbuf, errlen, "timeout must be between 0 and 86400 "
		    "seconds");
		return PUSH_EINVAL;
	}
	/* An empty setting ("" in the file) means none, like NULL. */
	user = http->username != NULL && *http->username != '\0' ?
	    http->username : NULL;
	bearer = http->bearer_token != NULL && *http->bearer_token != '\0' ?
	    http->bearer_token : NULL;
	if (user != NULL && bearer != NULL) {
		seterr(errbuf, errlen, "basic auth and a bearer token cannot "
		    "both be set");
		return PUSH_EINVAL;
	}
	/* Secrets go into request headers: a line break would add headers.
	 * The message does not quote them. */
	if ((user != NULL && has_ctl(user)) ||
	    (user != NULL && http->password != NULL &&
	    has_ctl(http->password))) {
		seterr(errbuf, errlen, "the basic auth user name or password "
		    "contains control characters");
		return PUSH_EINVAL;
	}
	if (bearer != NULL && has_ctl(bearer)) {
		seterr(errbuf, errlen, "the bearer token contains control "
		    "characters");
		return PUSH_EINVAL;
	}
	for (size_t i = 0; i < http->n_headers; i++) {
		if (http->headers == NULL || http->headers[i] == NULL ||
		    !valid_header(http->headers[i])) {
			/* Only the position: a header may carry an API key. */
			seterr(errbuf, errlen, "header %zu is not \"Name: "
			    "value\" on one line", i + 1);
			return PUSH_EINVAL;
		}
	}

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		r = PUSH_ENOMEM;
		goto out;
	}
	if ((p->url = strdup(http->url)) == NULL) {
		r = PUSH_ENOMEM;
		goto out;
	}
	len = strlen(p->url);
	while (len > 0 && p->url[len - 1] == '/')
		p->url[--len] = '\0';

	/* curl_slist_append() copies; the lists are ours until push_free(). */
	for (size_t i = 0; i < http->n_headers; i++) {
		if ((l = curl_slist_append(p->hdr_put, http->headers[i])) ==
		    NULL) {
			r = PUSH_ENOMEM;
			goto out;
		}
		p->hdr_put = l;
		if ((l = curl_slist_append(p->hdr_del, http->headers[i])) ==
		    NULL) {
			r = PUSH_ENOMEM;
			goto out;
		}
		p->hdr_del = l;
		if ((l = curl_slist_append(p->hdr_rw, http->headers[i])) ==
		    NULL) {
			r = PUSH_ENOMEM;
			goto out;
		}
		p->hdr_rw = l;
	}
	/* The headers the remote-write 1.0 specification asks for. */
	for (size_t i = 0; i < sizeof(rw_headers) / sizeof(rw_headers[0]);
	    i++) {
		if ((l = curl_slist_append(p->hdr_rw, rw_headers[i])) == NULL) {
			r = PUSH_ENOMEM;
			goto out;
		}
		p->hdr_rw = l;
	}
	/*
	 * curl asks "Expect: 100-continue" before a large body and waits up to
	 * a second for the answer; the gateway reads the body anyway.
	 */
	if ((l = curl_slist_append(p->hdr_put, "Expect:")) == NULL) {
		r = PUSH_ENOMEM;
		goto out;
	}
	p->hdr_put = l;
	if ((l = curl_slist_append(p->hdr_put, CONTENT_TYPE)) == NULL) {
		r = PUSH_ENOMEM;
		goto out;
	}
	p->hdr_put = l;
	for (struct curl_slist *h = p->hdr_put; http->gzip && h != NULL;
	    h = h->next) {
		if ((l = curl_slist_append(p->hdr_gz, h->data)) == NULL) {
			r = PUSH_ENOMEM;
			goto out;
		}
		p->hdr_gz = l;
	}
	if (http->gzip) {
		if ((l = curl_slist_append(p->hdr_gz, CONTENT_ENCODING)) ==
		    NULL) {
			r = PUSH_ENOMEM;
			goto out;
		}
		p->hdr_gz = l;
		p->gzm = GZM_ON;
	}

	if ((p->curl = curl_easy_init()) == NULL) {
		seterr(errbuf, errlen, "curl_easy_init failed");
		r = PUSH_ECURL;
		goto out;
	}
	conn = http->timeout < CONNECT_TIMEOUT_MAX ? http->timeout :
	    CONNECT_TIMEOUT_MAX;
	low = (long)ceil(http->timeout < LOW_SPEED_TIME_MAX ? http->timeout :
	    LOW_SPEED_TIME_MAX);

	p->timeout = http->timeout;
	p->conn = conn;
	/* Signals would disturb the daemon's own handlers and timers. */
	bad += SETOPT(p, CURLOPT_NOSIGNAL, 1L);
	bad += SETOPT(p, CURLOPT_ERRORBUFFER, p->errbuf);
	bad += SETOPT(p, CURLOPT_CONNECTTIMEOUT_MS, (long)ceil(conn * 1000));
	bad += SETOPT(p, CURLOPT_TIMEOUT_MS,
	    (long)ceil(http->timeout * 1000));
	bad += SETOPT(p, CURLOPT_LOW_SPEED_LIMIT, 1L);
	bad += SETOPT(p, CURLOPT_LOW_SPEED_TIME, low);
	bad += SETOPT(p, CURLOPT_USERAGENT, USER_AGENT);
	/* Idle connections between intervals survive NAT and firewalls. */
	bad += SETOPT(p, CURLOPT_TCP_KEEPALIVE, 1L);
	/*
	 * A redirect is not followed: a PUT must not be replayed somewhere
	 * else, with the credentials. A 3xx is refused, and says so.
	 */
	bad += SETOPT(p, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	bad += SETOPT(p, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	bad += SETOPT(p, CURLOPT_PROTOCOLS,
	    (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	bad += SETOPT(p, CURLOPT_WRITEFUNCTION, on_body);
	bad += SETOPT(p, CURLOPT_WRITEDATA, p);
	bad += SETOPT(p, CURLOPT_HEADERFUNCTION, on_header);
	bad += SETOPT(p, CURLOPT_HEADERDATA, p);
	if (bad != 0) {
		seterr(errbuf, errlen, "libcurl refused %d options", bad);
		r = PUSH_ECURL;
		goto out;
	}

	/* libcurl copies string options, so cfg may be freed after this. */
	if (user != NULL && http->password != NULL) {
		size_t ul = strlen(user), pl = strlen(http->password);
		char *up = malloc(ul + pl + 2);
		if (up == NULL) {
			r = PUSH_ENOMEM;
			goto out;
		}
		memcpy(up, user, ul);
		up[ul] = ':';
		memcpy(up + ul + 1, http->password, pl + 1);
		p->secrets[0] = strdup(http->password);
		p->secrets[1] = base64_std(up, ul + pl + 1);
		explicit_bzero(up, ul + pl + 1);
		free(up);
		if (p->secrets[0] == NULL || p->secrets[1] == NULL) {
			r = PUSH_ENOMEM;
			goto out;
		}
	}
	if (bearer != NULL && (p->secrets[2] = strdup(bearer)) == NULL) {
		r = PUSH_ENOMEM;
		goto out;
	}
	if (user != NULL) {
		bad += SETOPT(p, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		bad += SETOPT(p, CURLOPT_USERNAME, user);
		bad += SETOPT(p, CURLOPT_PASSWORD,
		    http->password != NULL ? http->password : "");
	} else if (bearer != NULL) {
		/* With one scheme only, curl sends it with the first request. */
		bad += SETOPT(p, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		bad += SETOPT(p, CURLOPT_XOAUTH2_BEARER, bearer);
	}
	if (bad != 0) {
		seterr(errbuf, errlen, "libcurl refused the credentials");
		r = PUSH_ECURL;
		goto out;
	}
	if (http->ca_file != NULL && *http->ca_file != '\0')
		bad += SETOPT(p, CURLOPT_CAINFO, http->ca_file);
	if (http->cert_file != NULL && *http->cert_file != '\0')
		bad += SETOPT(p, CURLOPT_SSLCERT, http->cert_file);
	if (http->key_file != NULL && *http->key_file != '\0')
		bad += SETOPT(p, CURLOPT_SSLKEY, http->key_file);
	/* A server that wants a client certificate closes the connection
	 * with an alert that curl reports as a send or receive failure. */
	p->cert_hint = strncasecmp(http->url, "https://", 8) == 0 &&
	    (http->cert_file == NULL || *http->cert_file == '\0');
	if (http->insecure_skip_verify) {
		bad += SETOPT(p, CURLOPT_SSL_VERIFYPEER, 0L);
		bad += SETOPT(p, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (bad != 0) {
		/* This libcurl has no TLS, or not these settings. */
		seterr(errbuf, errlen, "libcurl refused the TLS settings");
		r = PUSH_ECURL;
		goto out;
	}
out:
	if (r == PUSH_ENOMEM)
		seterr(errbuf, errlen, "out of memory");
	if (r != PUSH_OK) {
		push_free(p);
		return r;
	}
	*out = p;
	return PUSH_OK;
}

/* Extra headers may carry API keys; their copies are wiped, not just freed. */
static void
free_headers(struct curl_slist *l)
{
	for (struct curl_slist *h = l; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(l);
}

void
push_free(push_t *p)
{
	if (p == NULL)
		return;
	if (p->curl != NULL)
		curl_easy_cleanup(p->curl);
	free_headers(p->hdr_put);
	free_headers(p->hdr_gz);
	gz_free(p->gz);
	free_headers(p->hdr_del);
	free_headers(p->hdr_rw);
	free(p->url);
	for (size_t k = 0; k < 3; k++) {
		if (p->secrets[k] != NULL)
			explicit_bzero(p->secrets[k], strlen(p->secrets[k]));
		free(p->secrets[k]);
	}
	free(p);
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

static void
status_init(push_status *st)
{
	st->outcome = PUSH_RETRY;
	st->http_code = 0;
	st->retry_after = -1;
	st->seconds = 0;
	st->message[0] = '\0';
	st->gzip = 0;
	st->plain_next = 0;
}

static double
now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Which answers are worth retrying: the gateway or something in front of
 * it is down or busy (5xx), asks us to slow down (429), or timed out
 * waiting for us (408). Everything else is about the request, and sending
 * it again would get the same answer.
 */
static push_outcome
classify(long code)
{
	if (code >= 200 && code <= 299)
		return PUSH_DELIVERED;
	if (code >= 500 || code == 429 || code == 408)
		return PUSH_RETRY;
	return PUSH_REFUSED;
}

/*
 * Puts the per-request options back (a plain GET without a body), so that
 * the caller's body is never referenced after its call returns and the
 * next request starts from the same state whatever its method.
 * POSTFIELDS comes first: setting it switches the method to POST, which
 * HTTPGET then undoes.
 */
static void
reset_request(push_t *p)
{
	(void)curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, (char *)NULL);
	(void)curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)-1);
	(void)curl_easy_setopt(p->curl, CURLOPT_HTTPGET, 1L);
	(void)curl_easy_setopt(p->curl, CURLOPT_READFUNCTION,
	    (curl_read_callback)NULL);
	(void)curl_easy_setopt(p->curl, CURLOPT_READDATA, (void *)NULL);
	(void)curl_easy_setopt(p->curl, CURLOPT_CUSTOMREQUEST, (char *)NULL);
	(void)curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER,
	    (struct curl_slist *)NULL);
}

/* Runs the request that the caller set up, fills st, and resets the
 * per-request options so that the handle is ready for either method. */
static push_err
perform(push_t *p, push_status *st)
{
	CURLcode rc;
	curl_off_t us = 0;
	long code = 0;

	p->errbuf[0] = '\0';
	p->resp_len = 0;
	p->resp[0] = '\0';
	p->retry_after[0] = '\0';

	rc = curl_easy_perform(p->curl);
	if (curl_easy_getinfo(p->curl, CURLINFO_TOTAL_TIME_T, &us) ==
	    CURLE_OK)
		st->seconds = (double)us / 1e6;
	if (curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code) ==
	    CURLE_OK)
		st->http_code = code;
	if (p->retry_after[0] != '\0')
		st->retry_after = backoff_parse_retry_after(p->retry_after,
		    now_real());

	if (rc != CURLE_OK) {
		/*
		 * No answer, or not all of it: the transport failed. curl's
		 * detail can be cryptic on its own ("getpeername() failed"
		 * after a TLS alert), so its summary goes first unless the
		 * detail already says it.
		 */
		const char *sum = curl_easy_strerror(rc);

		st->outcome = PUSH_RETRY;
		if (p->errbuf[0] == '\0' || strstr(p->errbuf, sum) != NULL)
			snprintf(st->message, sizeof(st->message), "%s",
			    p->errbuf[0] != '\0' ? p->errbuf : sum);
		else
			snprintf(st->message, sizeof(st->message), "%s: %s",
			    sum, p->errbuf);
		if (p->cert_hint && (rc == CURLE_SEND_ERROR ||
		    rc == CURLE_RECV_ERROR || rc == CURLE_SSL_CONNECT_ERROR)) {
			size_t n = strlen(st->message);
			snprintf(st->message + n, sizeof(st->message) - n,
			    " (if the server requires a client certificate, "
			    "set cert_file and key_file)");
		}
	} else {
		st->outcome = classify(code);
		if (code >= 300 && code <= 399) {
			/* Go's redirects carry an HTML body; the point is
			 * that the URL is wrong. */
			snprintf(st->message, sizeof(st->message),
			    "HTTP %ld: redirect not followed (check the "
			    "gateway URL)", code);
		} else if (st->outcome != PUSH_DELIVERED) {
			first_line(st->message, sizeof(st->message), p->resp,
			    p->resp_len);
			if (st->message[0] == '\0')
				snprintf(st->message, sizeof(st->message),
				    "HTTP %ld", code);
		}
	}

	redact(p, st->message, sizeof(st->message));
	reset_request(p);
	return PUSH_OK;
}

/* Sets the URL for the group; on failure st says why. */
static push_err
set_url(push_t *p, const char *job, const char *grouping, push_status *st)
{
	char *path = NULL, *url = NULL;
	size_t ul, pl;
	push_err r;
	CURLcode rc;

	if ((r = push_group_path(job, grouping, &path)) != PUSH_OK) {
		/* A group without a path can never be delivered. */
		if (r == PUSH_EINVAL)
			st->outcome = PUSH_REFUSED;
		snprintf(st->message, sizeof(st->message), "%s",
		    r == PUSH_EINVAL ? "invalid job or grouping" :
		    push_strerror(r));
		return r;
	}
	ul = strlen(p->url);
	pl = strlen(path);
	if ((url = malloc(ul + pl + 1)) == NULL) {
		free(path);
		snprintf(st->message, sizeof(st->message), "out of memory");
		return PUSH_ENOMEM;
	}
	memcpy(url, p->url, ul);
	memcpy(url + ul, path, pl + 1);
	rc = curl_easy_setopt(p->curl, CURLOPT_URL, url);
	free(url);
	free(path);
	if (rc != CURLE_OK) {
		snprintf(st->message, sizeof(st->message), "%s",
		    curl_easy_strerror(rc));
		return rc == CURLE_OUT_OF_MEMORY ? PUSH_ENOMEM : PUSH_EINVAL;
	}
	return PUSH_OK;
}

/* Runs the request whose options were just set, unless setting any of
 * them failed (bad > 0). */
static push_err
start(push_t *p, int bad, push_status *st)
{
	if (bad != 0) {
		snprintf(st->message, sizeof(st->message), "%s",
		    "libcurl refused the request options");
		reset_request(p);
		return PUSH_ECURL;
	}
	return perform(p, st);
}

void
push_limit(push_t *p, double seconds)
{
	double t = p->timeout, c = p->conn;

	/* Never below 1 ms: curl takes 0 as "no timeout". */
	if (seconds > 0 && seconds < t)
		t = seconds < 0.001 ? 0.001 : seconds;
	if (c > t)
		c = t;
	(void)curl_easy_setopt(p->curl, CURLOPT_TIMEOUT_MS,
	    (long)ceil(t * 1000));
	(void)curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)ceil(c * 1000));
}

push_err
push_put(push_t *p, const char *job, const char *grouping, const char *body,
    size_t len, push_status *st)
{
	push_err r;
	int bad = 0;

	if (st == NULL)
		return PUSH_EINVAL;
	status_init(st);
	if (p == NULL || (body == NULL && len > 0)) {
		snprintf(st->message, sizeof(st->message), "invalid argument");
		return PUSH_EINVAL;
	}
	if ((r = set_url(p, job, grouping, st)) != PUSH_OK)
		return r;
	/*
	 * The body is sent from the caller's memory. Never NULL: with a NULL
	 * body curl would read the request body from standard input.
	 */
	bad += SETOPT(p, CURLOPT_POSTFIELDS, body != NULL ? body : "");
	bad += SETOPT(p, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	bad += SETOPT(p, CURLOPT_CUSTOMREQUEST, "PUT");
	bad += SETOPT(p, CURLOPT_HTTPHEADER, p->hdr_put);
	return start(p, bad, st);
}

typedef struct stream {
	push_source src;
	void *arg;
	gz_t *gz;        /* NULL: the body goes plain */
	gz_err gzerr;    /* why gz_read failed */
	const char *pre; /* plain: bytes read from src already, sent first */
	size_t prelen;
} stream;

static size_t
on_read(char *buf, size_t size, size_t nitems, void *userp)
{
	stream *sr = userp;
	size_t n;

	if (sr->gz != NULL) {
		if ((sr->gzerr = gz_read(sr->gz, buf, size * nitems, &n)) !=
		    GZ_OK)
			return CURL_READFUNC_ABORT;
		return n;
	}
	if (sr->prelen > 0) {
		n = sr->prelen < size * nitems ? sr->prelen : size * nitems;
		memcpy(buf, sr->pre, n);
		sr->pre += n;
		sr->prelen -= n;
		return n;
	}
	n = sr->src(buf, size * nitems, sr->arg);
	return n == (size_t)-1 ? CURL_READFUNC_ABORT : n;
}

/*
 * Does this refusal of a gzip body say that the gateway read the gzip
 * bytes as text? A Pushgateway before 1.5.0 answers 400 "text format
 * parsing error in line 1: invalid metric name" (a gzip stream starts with
 * the byte 0x1f); a proxy or server that knows it does not take the
 * encoding answers 415. A 400 for anything else (a type clash with another
 * group, a reserved label) is about the data, and is not retried.
 */
static int
gzip_not_understood(const push_status *st)
{
	if (st->http_code == 415)
		return 1;
	return st->http_code == 400 &&
	    strstr(st->message, "parsing error") != NULL;
}

/* Reads the start of the body into p->head: up to PUSH_GZIP_MIN + 1 bytes,
 * enough to know whether it is longer than PUSH_GZIP_MIN. Sets *ended when
 * the source ended within it. -1 when the source aborted. */
static int
read_head(push_t *p, push_source src, void *arg, size_t *len, int *ended)
{
	size_t n;

	*len = 0;
	*ended = 0;
	while (*len < sizeof(p->head)) {
		n = src(p->head + *len, sizeof(p->head) - *len, arg);
		if (n == (size_t)-1)
			return -1;
		if (n == 0) {
			*ended = 1;
			break;
		}
		*len += n;
	}
	return 0;
}

/* After a PUT in GZM_PROBE: a delivered plain body settles that the
 * gateway takes no gzip; a refused one was refused for its data. */
static void
probe_settle(push_t *p, const push_status *st)
{
	if (st->outcome == PUSH_DELIVERED) {
		p->gzm = GZM_REFUSED;
		/* The URL holds no credentials: cfg refuses those. */
		log_warnx("the gateway does not take gzip bodies (Pushgateway "
		    "< 1.5.0); sending plain bodies; upgrade the gateway or set "
		    "pushgateway.gzip = false", "url=%s", log_q(p->url));
	} else if (st->outcome == PUSH_REFUSED)
		p->gzm = GZM_ON;
}

void
push_gzip_again(push_t *p)
{
	if (p != NULL && (p->gzm == GZM_REFUSED || p->gzm == GZM_PROBE))
		p->gzm = GZM_ON;
}

push_err
push_put_stream(push_t *p, const char *job, const char *grouping,
    push_source src, void *arg, push_status *st)
{
	stream sr = { src, arg, NULL, GZ_OK, NULL, 0 };
	size_t hlen = 0;
	int ended = 0, probe;
	push_err r;
	gz_err ge = GZ_OK;
	int bad = 0;

	if (st == NULL)
		return PUSH_EINVAL;
	status_init(st);
	if (p == NULL || src == NULL) {
		snprintf(st->message, sizeof(st->message), "invalid argument");
		return PUSH_EINVAL;
	}
	if ((r = set_url(p, job, grouping, st)) != PUSH_OK)
		return r;
	probe = p->gzm == GZM_PROBE;
	if (p->gzm == GZM_ON) {
		if (read_head(p, src, arg, &hlen, &ended) != 0) {
			snprintf(st->message, sizeof(st->message), "%s",
			    gz_strerror(GZ_ESOURCE));
			return PUSH_OK;
		}
		if (ended && hlen <= PUSH_GZIP_MIN) {
			/* Small: as push_put() sends it. */
			bad += SETOPT(p, CURLOPT_POSTFIELDS, p->head);
			bad += SETOPT(p, CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)hlen);
			bad += SETOPT(p, CURLOPT_CUSTOMREQUEST, "PUT");
			bad += SETOPT(p, CURLOPT_HTTPHEADER, p->hdr_put);
			return start(p, bad, st);
		}
		/* Made once per handle: zlib's state is its largest part.
		 * If compressing cannot start (no memory for it), this body
		 * goes plain: the data is not at fault. */
		if ((p->gz != NULL || (ge = gz_new(PUSH_GZIP_LEVEL, &p->gz)) ==
		    GZ_OK) &&
		    (ge = gz_start(p->gz, p->head, hlen, src, arg)) == GZ_OK) {
			sr.gz = p->gz;
			st->gzip = 1;
		} else {
			log_debug("sending a body plain", "reason=%s",
			    log_q(gz_strerror(ge)));
			sr.pre = p->head;
			sr.prelen = hlen;
		}
	}
	/* A POST of unknown size is sent chunked; the method is PUT. */
	bad += SETOPT(p, CURLOPT_POST, 1L);
	bad += SETOPT(p, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
	bad += SETOPT(p, CURLOPT_READFUNCTION, on_read);
	bad += SETOPT(p, CURLOPT_READDATA, &sr);
	bad += SETOPT(p, CURLOPT_CUSTOMREQUEST, "PUT");
	bad += SETOPT(p, CURLOPT_HTTPHEADER, sr.gz != NULL ? p->hdr_gz :
	    p->hdr_put);
	if ((r = start(p, bad, st)) != PUSH_OK)
		return r;
	if (sr.gzerr != GZ_OK && sr.gzerr != GZ_ESOURCE)
		/* The source is fine; compressing failed. */
		snprintf(st->message, sizeof(st->message), "gzip: %s",
		    gz_strerror(sr.gzerr));
	if (st->gzip && st->outcome == PUSH_REFUSED &&
	    gzip_not_understood(st)) {
		p->gzm = GZM_PROBE;
		st->plain_next = 1;
	} else if (probe)
		probe_settle(p, st);
	return PUSH_OK;
}

push_err
push_delete(push_t *p, const char *job, const char *grouping,
    push_status *st)
{
	push_err r;
	int bad = 0;

	if (st == NULL)
		return PUSH_EINVAL;
	status_init(st);
	if (p == NULL) {
		snprintf(st->message, sizeof(st->message), "invalid argument");
		return PUSH_EINVAL;
	}
	if ((r = set_url(p, job, grouping, st)) != PUSH_OK)
		return r;
	bad += SETOPT(p, CURLOPT_HTTPGET, 1L);
	bad += SETOPT(p, CURLOPT_CUSTOMREQUEST, "DELETE");
	bad += SETOPT(p, CURLOPT_HTTPHEADER, p->hdr_del);
	return start(p, bad, st);
}

push_err
push_gateway_started(push_t *p, char *out, size_t cap, push_status *st)
{
	static const char key[] = "\"start_time\":\"";
	static const char path[] = "/api/v1/status";
	const char *v, *end;
	char *url;
	size_t ul;
	push_err r;
	int bad = 0;

	if (st == NULL || out == NULL || cap == 0)
		return PUSH_EINVAL;
	status_init(st);
	out[0] = '\0';
	if (p == NULL) {
		snprintf(st->message, sizeof(st->message), "invalid argument");
		return PUSH_EINVAL;
	}
	ul = strlen(p->url);
	if ((url = malloc(ul + sizeof(path))) == NULL) {
		snprintf(st->message, sizeof(st->message), "out of memory");
		return PUSH_ENOMEM;
	}
	memcpy(url, p->url, ul);
	memcpy(url + ul, path, sizeof(path));
	bad += SETOPT(p, CURLOPT_URL, url);
	bad += SETOPT(p, CURLOPT_HTTPGET, 1L);
	bad += SETOPT(p, CURLOPT_HTTPHEADER, p->hdr_del);
	r = start(p, bad, st);
	free(url);
	if (r != PUSH_OK || st->outcome != PUSH_DELIVERED)
		return r;
	/* The value is compared, never interpreted: any change of it is a
	 * new process at the gateway's address. */
	if ((v = strstr(p->resp, key)) != NULL) {
		v += sizeof(key) - 1;
		if ((end = strchr(v, '"')) != NULL && (size_t)(end - v) < cap) {
			memcpy(out, v, (size_t)(end - v));
			out[end - v] = '\0';
		}
	}
	return PUSH_OK;
}

push_err
push_post_rw(push_t *p, const void *body, size_t len, push_status *st)
{
	int bad = 0;

	if (st == NULL)
		return PUSH_EINVAL;
	status_init(st);
	if (p == NULL || body == NULL) {
		snprintf(st->message, sizeof(st->message), "invalid argument");
		return PUSH_EINVAL;
	}
	/* The receiver's URL is the endpoint itself (/api/v1/write). */
	bad += SETOPT(p, CURLOPT_URL, p->url);
	bad += SETOPT(p, CURLOPT_POSTFIELDS, (const char *)body);
	bad += SETOPT(p, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	bad += SETOPT(p, CURLOPT_HTTPHEADER, p->hdr_rw);
	return start(p, bad, st);
}
