/*
 * push — the Pushgateway sink: its paths, PUT with a streamed gzip body
 * (and the plain fallback), DELETE, and the gateway's start time; over the
 * HTTP client of http.h, which does the transport (keep-alive, timeouts,
 * auth, TLS, extra headers, classification, messages without secrets). It
 * knows nothing about SQL: it takes a group's job, canonical grouping and
 * rendered body.
 */
#ifndef PUSH_H
#define PUSH_H

#include <stddef.h>

#include "http.h"

/* Bodies up to this size go plain: with the request's headers they fit
 * one TCP segment (MSS 1448 on Ethernet) either way. */
#define PUSH_GZIP_MIN 1024u
/* zlib's default: 14x smaller on a 100,000-series body (7.8 MB) for 60 ms
 * of CPU; level 1 is 12x for 20 ms, 9 is 14.5x for 180 ms (docs/agent.md,
 * "Compression"). */
#define PUSH_GZIP_LEVEL 6

typedef enum push_err {
	PUSH_OK = 0,
	PUSH_EINVAL,   /* a bad URL, job or grouping */
	PUSH_ENOMEM,
	PUSH_ECURL     /* libcurl could not be set up */
} push_err;

const char *push_strerror(push_err e);

typedef struct push push_t;

/*
 * Makes a sink for the gateway described by http (url, timeout, auth, TLS,
 * headers); http is copied where needed, so it may be freed afterwards.
 * On failure *out is NULL and errbuf says why.
 */
push_err push_new(const http_conf *http, push_t **out, char *errbuf,
    size_t errlen) __attribute__((warn_unused_result));

/* NULL is a no-op. */
void push_free(push_t *p);

/*
 * Writes the group's path, "/metrics/job/<job>[/<label>/<value>]...", into
 * a new string (caller frees). A job or value that is empty, contains '/',
 * holds any byte outside [A-Za-z0-9._~-], or is "." or ".." (dot segments,
 * which curl and the gateway would resolve) is written as NAME@base64/
 * <URL-safe base64 without padding>, an empty one as "=". grouping is
 * canonical (`k="v",...`, escaped); its values are unescaped first.
 */
push_err push_group_path(const char *job, const char *grouping, char **out)
    __attribute__((warn_unused_result));

/* http_limit() on the gateway's client: caps the next requests' timeouts
 * at seconds; seconds <= 0 restores the configured ones. */
void push_limit(push_t *p, double seconds);

/* PUT body (len bytes, text format 0.0.4) as the whole group, plain
 * whatever http->gzip says (the agent streams its bodies; this is for
 * bodies already in memory). */
push_err push_put(push_t *p, const char *job, const char *grouping,
    const char *body, size_t len, http_status *st)
    __attribute__((warn_unused_result));

/*
 * The body's source for push_put_stream(): writes up to cap bytes into buf
 * and returns how many, 0 at the end, or (size_t)-1 to abort the request
 * (it then ends as HTTP_RETRY; the source knows why): the same contract
 * as http_source.
 */
typedef size_t (*push_source)(char *buf, size_t cap, void *arg);

/*
 * PUT the whole group with a body pulled from src as the request goes
 * (chunked), so that a large group never sits whole in memory.
 *
 * With http->gzip set, a body longer than PUSH_GZIP_MIN bytes goes
 * compressed as it is pulled (Content-Encoding: gzip, level
 * PUSH_GZIP_LEVEL; memory stays bounded, see gz.h); a shorter one, which
 * would gain no packet, goes plain with a Content-Length. To know which,
 * src is read for up to PUSH_GZIP_MIN + 1 bytes before the request starts;
 * a source that aborts then ends as HTTP_RETRY with no request sent.
 *
 * Gateways before Pushgateway 1.5.0 do not know Content-Encoding and parse
 * the gzip bytes as text. A gzip body refused with 415, or with 400 and a
 * parse error, sets st->plain_next: the caller should send the same group
 * again at once (a new source from the start), and that request goes
 * plain. If it is delivered, this handle sends every later body plain and
 * logs one warning naming the gateway's URL; if it is refused too, the
 * refusal was the data's, and gzip stays on. A new handle (a reload) tries
 * gzip again, as does push_gzip_again() (a restarted gateway).
 */
push_err push_put_stream(push_t *p, const char *job, const char *grouping,
    push_source src, void *arg, http_status *st)
    __attribute__((warn_unused_result));

/*
 * push_put_stream() for a body in another format than the text format:
 * content_type is its media type (the protobuf one of pbexpo.h), NULL for
 * the text format. Everything else is the same, gzip and its fallback
 * included: a gateway that parses gzip bytes as protobuf answers 400 with
 * the decoder's error ("unexpected EOF", "proto: ..."), which counts as
 * not understood for such a body.
 */
push_err push_put_stream_as(push_t *p, const char *job,
    const char *grouping, const char *content_type, push_source src,
    void *arg, http_status *st) __attribute__((warn_unused_result));

/*
 * Forgets that the gateway takes no gzip, for a gateway that restarted
 * (perhaps upgraded): the next body goes gzip again, and if it is still
 * refused the fallback and its warning happen again. A no-op when gzip is
 * off or was never refused.
 */
void push_gzip_again(push_t *p);

/* DELETE the group from the gateway (202 counts as delivered). */
push_err push_delete(push_t *p, const char *job, const char *grouping,
    http_status *st) __attribute__((warn_unused_result));

/*
 * GET <url>/api/v1/status, which costs the gateway nothing in proportion to
 * what it stores, and copies its start time ("start_time", an opaque
 * string) into out (cap bytes, NUL-terminated; "" when the answer has none
 * or it does not fit). A different value than before means the gateway was
 * restarted, and may have lost every group. st says how the request went.
 */
push_err push_gateway_started(push_t *p, char *out, size_t cap,
    http_status *st) __attribute__((warn_unused_result));

#endif
