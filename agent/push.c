/*
 * push — the Pushgateway sink. See push.h.
 *
 * The transport is http.c's: one client per gateway, which keeps the
 * connection open between requests. What is the gateway's is here: the
 * group's path, the PUT's content type and encoding, the gzip fallback for
 * gateways that cannot read it, DELETE and the status probe.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "expo.h"
#include "gz.h"
#include "log.h"
#include "push.h"

#define CONTENT_TYPE "Content-Type: text/plain; version=0.0.4; charset=utf-8"
/* Room for "Content-Type: " and another format's media type. */
#define CT_MAX 256
/* Exactly this spelling: the Pushgateway compares it case-sensitively. */
#define CONTENT_ENCODING "Content-Encoding: gzip"

/* A group path longer than this is surely a mistake (values are < 64 KiB). */
#define PATH_CAP (1024u * 1024u)

static const char *const hdr_plain[] = { CONTENT_TYPE };
static const char *const hdr_gzip[] = { CONTENT_TYPE, CONTENT_ENCODING };

/* Whether PUT bodies go gzip-compressed. */
typedef enum gz_mode {
	GZM_OFF = 0,   /* configured off */
	GZM_ON,
	GZM_PROBE,     /* a gzip body was not understood: the next PUT goes
	                * plain, and its answer decides */
	GZM_REFUSED    /* the gateway takes no gzip (said once) */
} gz_mode;

struct push {
	http_t *http;
	gz_mode gzm;
	gz_t *gz;                    /* made at the first gzip body */
	char head[PUSH_GZIP_MIN + 1]; /* a body's start, read to decide */
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

static push_err
from_http(http_err e)
{
	switch (e) {
	case HTTP_OK:
		return PUSH_OK;
	case HTTP_EINVAL:
		return PUSH_EINVAL;
	case HTTP_ENOMEM:
		return PUSH_ENOMEM;
	case HTTP_ECURL:
		return PUSH_ECURL;
	}
	return PUSH_ECURL;
}

/* --- group paths ------------------------------------------------------- */

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

/* Appends "/name/value" or "/name@base64/<value in URL-safe base64>". */
static void
add_segment(dbuf *b, const char *name, size_t nlen, const char *v, size_t n)
{
	dbuf_add(b, "/", 1);
	dbuf_add(b, name, nlen);
	if (plain_ok(v, n)) {
		dbuf_add(b, "/", 1);
		dbuf_add(b, v, n);
	} else {
		dbuf_adds(b, "@base64/");
		http_base64(b, v, n, 1);
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
	dbuf b;
	push_err r = PUSH_OK;

	if (out == NULL)
		return PUSH_EINVAL;
	*out = NULL;
	if (job == NULL)
		return PUSH_EINVAL;
	if (grouping != NULL && expo_parse_labels(grouping, strlen(grouping),
	    labels, EXPO_MAX_LABELS, &n, &why) != 0)
		return PUSH_EINVAL;

	dbuf_init(&b, PATH_CAP);
	dbuf_adds(&b, "/metrics");
	add_segment(&b, "job", 3, job, strlen(job));
	for (size_t i = 0; i < n; i++) {
		size_t vlen;

		/* Unescaping never lengthens a value. */
		free(tmp);
		if ((tmp = malloc(labels[i].value.len + 1)) == NULL) {
			r = PUSH_ENOMEM;
			goto out;
		}
		vlen = unescape(labels[i].value.p, labels[i].value.len, tmp);
		add_segment(&b, labels[i].name.p, labels[i].name.len, tmp,
		    vlen);
	}
	if (b.err == DBUF_ENOMEM)
		r = PUSH_ENOMEM;
	else if (b.err == DBUF_ETOOBIG)
		r = PUSH_EINVAL;
	else if ((*out = dbuf_take(&b, NULL)) == NULL)
		r = PUSH_ENOMEM;
out:
	free(tmp);
	dbuf_free(&b);
	return r;
}

/* --- the sink ----------------------------------------------------------- */

push_err
push_new(const http_conf *http, push_t **out, char *errbuf, size_t errlen)
{
	push_t *p;
	http_err e;

	if (out == NULL)
		return PUSH_EINVAL;
	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "out of memory");
		return PUSH_ENOMEM;
	}
	if ((e = http_new(http, &p->http, errbuf, errlen)) != HTTP_OK) {
		free(p);
		return from_http(e);
	}
	p->gzm = http->gzip ? GZM_ON : GZM_OFF;
	*out = p;
	return PUSH_OK;
}

void
push_free(push_t *p)
{
	if (p == NULL)
		return;
	http_free(p->http);
	gz_free(p->gz);
	free(p);
}

void
push_limit(push_t *p, double seconds)
{
	http_limit(p->http, seconds);
}

/*
 * The group's path into *path (caller frees). A group without a path can
 * never be delivered: refused, and st says so.
 */
static push_err
group_path(const char *job, const char *grouping, char **path,
    http_status *st)
{
	push_err r;

	if ((r = push_group_path(job, grouping, path)) != PUSH_OK) {
		if (r == PUSH_EINVAL)
			st->outcome = HTTP_REFUSED;
		snprintf(st->message, sizeof(st->message), "%s",
		    r == PUSH_EINVAL ? "invalid job or grouping" :
		    push_strerror(r));
	}
	return r;
}

/* Sends rq to path (freed here). */
static push_err
send_to(push_t *p, char *path, http_request *rq, http_status *st)
{
	push_err r;

	rq->path = path;
	r = from_http(http_request_do(p->http, rq, st));
	free(path);
	/* The URL that redirects is the gateway's, as configured. */
	if (r == PUSH_OK && st->outcome == HTTP_REFUSED &&
	    st->http_code >= 300 && st->http_code <= 399)
		snprintf(st->message, sizeof(st->message), "HTTP %ld: "
		    "redirect not followed (check the gateway URL)",
		    st->http_code);
	return r;
}

/* Checks the arguments every request takes; fills st when they are bad. */
static int
bad_args(const push_t *p, http_status *st)
{
	if (st == NULL)
		return 1;
	http_status_init(st);
	if (p == NULL) {
		snprintf(st->message, sizeof(st->message), "invalid argument");
		return 1;
	}
	return 0;
}

push_err
push_put(push_t *p, const char *job, const char *grouping, const char *body,
    size_t len, http_status *st)
{
	http_request rq = { .method = "PUT", .body = body, .len = len,
	    .headers = hdr_plain, .n_headers = 1 };
	char *path;
	push_err r;

	if (bad_args(p, st))
		return PUSH_EINVAL;
	if (body == NULL && len > 0) {
		snprintf(st->message, sizeof(st->message), "invalid argument");
		return PUSH_EINVAL;
	}
	if ((r = group_path(job, grouping, &path, st)) != PUSH_OK)
		return r;
	return send_to(p, path, &rq, st);
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
stream_read(char *buf, size_t cap, void *arg)
{
	stream *sr = arg;
	size_t n;

	if (sr->gz != NULL) {
		if ((sr->gzerr = gz_read(sr->gz, buf, cap, &n)) != GZ_OK)
			return (size_t)-1;
		return n;
	}
	if (sr->prelen > 0) {
		n = sr->prelen < cap ? sr->prelen : cap;
		memcpy(buf, sr->pre, n);
		sr->pre += n;
		sr->prelen -= n;
		return n;
	}
	return sr->src(buf, cap, sr->arg);
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
gzip_not_understood(const http_status *st, int text)
{
	if (st->http_code == 415)
		return 1;
	if (st->http_code != 400)
		return 0;
	if (text)
		return strstr(st->message, "parsing error") != NULL;
	/* The gateway's protobuf decoder reads 0x1f as a message length and
	 * fails inside what follows; its refusals of the data itself start
	 * "pushed metrics are invalid". */
	return strstr(st->message, "unexpected EOF") != NULL ||
	    strncmp(st->message, "proto:", 6) == 0;
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
probe_settle(push_t *p, const http_status *st)
{
	if (st->outcome == HTTP_DELIVERED) {
		p->gzm = GZM_REFUSED;
		/* The URL holds no credentials: http_check_url() refuses
		 * those. */
		log_warnx("the gateway does not take gzip bodies (Pushgateway "
		    "< 1.5.0); sending plain bodies; upgrade the gateway or set "
		    "pushgateway.gzip = false", "url=%s",
		    log_q(http_url(p->http)));
	} else if (st->outcome == HTTP_REFUSED)
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
    push_source src, void *arg, http_status *st)
{
	return push_put_stream_as(p, job, grouping, NULL, src, arg, st);
}

push_err
push_put_stream_as(push_t *p, const char *job, const char *grouping,
    const char *content_type, push_source src, void *arg, http_status *st)
{
	stream sr = { src, arg, NULL, GZ_OK, NULL, 0 };
	http_request rq = { .method = "PUT", .src = stream_read, .arg = &sr,
	    .headers = hdr_plain, .n_headers = 1 };
	char ct[CT_MAX];
	const char *hdr[2] = { ct, CONTENT_ENCODING };
	size_t hlen = 0;
	int ended = 0, probe;
	char *path;
	push_err r;
	gz_err ge = GZ_OK;

	if (bad_args(p, st))
		return PUSH_EINVAL;
	if (src == NULL || (content_type != NULL &&
	    (size_t)snprintf(ct, sizeof(ct), "Content-Type: %s",
	    content_type) >= sizeof(ct))) {
		snprintf(st->message, sizeof(st->message), "invalid argument");
		return PUSH_EINVAL;
	}
	if (content_type != NULL) {
		rq.headers = hdr;
		rq.n_headers = 1;
	}
	if ((r = group_path(job, grouping, &path, st)) != PUSH_OK)
		return r;
	probe = p->gzm == GZM_PROBE;
	if (p->gzm == GZM_ON) {
		if (read_head(p, src, arg, &hlen, &ended) != 0) {
			free(path);
			snprintf(st->message, sizeof(st->message), "%s",
			    gz_strerror(GZ_ESOURCE));
			return PUSH_OK;
		}
		if (ended && hlen <= PUSH_GZIP_MIN) {
			/* Small: as push_put() sends it. */
			rq.src = NULL;
			rq.arg = NULL;
			rq.body = p->head;
			rq.len = hlen;
			return send_to(p, path, &rq, st);
		}
		/* Made once per handle: zlib's state is its largest part.
		 * If compressing cannot start (no memory for it), this body
		 * goes plain: the data is not at fault. */
		if ((p->gz != NULL || (ge = gz_new(PUSH_GZIP_LEVEL, &p->gz)) ==
		    GZ_OK) &&
		    (ge = gz_start(p->gz, p->head, hlen, src, arg)) == GZ_OK) {
			sr.gz = p->gz;
			if (content_type == NULL)
				rq.headers = hdr_gzip;
			rq.n_headers = 2;
		} else {
			log_debug("sending a body plain", "reason=%s",
			    log_q(gz_strerror(ge)));
			sr.pre = p->head;
			sr.prelen = hlen;
		}
	}
	if ((r = send_to(p, path, &rq, st)) != PUSH_OK)
		return r;
	st->gzip = sr.gz != NULL;
	if (sr.gzerr != GZ_OK && sr.gzerr != GZ_ESOURCE)
		/* The source is fine; compressing failed. */
		snprintf(st->message, sizeof(st->message), "gzip: %s",
		    gz_strerror(sr.gzerr));
	if (st->gzip && st->outcome == HTTP_REFUSED &&
	    gzip_not_understood(st, content_type == NULL)) {
		p->gzm = GZM_PROBE;
		st->plain_next = 1;
	} else if (probe)
		probe_settle(p, st);
	return PUSH_OK;
}

push_err
push_delete(push_t *p, const char *job, const char *grouping,
    http_status *st)
{
	http_request rq = { .method = "DELETE" };
	char *path;
	push_err r;

	if (bad_args(p, st))
		return PUSH_EINVAL;
	if ((r = group_path(job, grouping, &path, st)) != PUSH_OK)
		return r;
	return send_to(p, path, &rq, st);
}

push_err
push_gateway_started(push_t *p, char *out, size_t cap, http_status *st)
{
	static const char key[] = "\"start_time\":\"";
	http_request rq = { .method = "GET", .path = "/api/v1/status" };
	const char *v, *end;
	push_err r;

	if (st == NULL || out == NULL || cap == 0)
		return PUSH_EINVAL;
	out[0] = '\0';
	if (bad_args(p, st))
		return PUSH_EINVAL;
	r = from_http(http_request_do(p->http, &rq, st));
	if (r != PUSH_OK || st->outcome != HTTP_DELIVERED)
		return r;
	/* The value is compared, never interpreted: any change of it is a
	 * new process at the gateway's address. */
	if ((v = strstr(http_answer(p->http, NULL), key)) != NULL) {
		v += sizeof(key) - 1;
		if ((end = strchr(v, '"')) != NULL && (size_t)(end - v) < cap) {
			memcpy(out, v, (size_t)(end - v));
			out[end - v] = '\0';
		}
	}
	return PUSH_OK;
}
