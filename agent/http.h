/*
 * http — the HTTP client of the agent's sinks (the Pushgateway, remote
 * write), over libcurl. It knows the transport and nothing of what is sent:
 * the sinks give it a method, a path, a body and their own headers, and say
 * how answers are classified.
 *
 * One http_t holds one reused curl easy handle (keep-alive) for one server.
 * curl_global_init() is the caller's (once, at start). Requests carry
 * connect and total timeouts, CURLOPT_NOSIGNAL, low-speed limits, basic auth
 * or a bearer token, TLS settings and the configured extra headers.
 * Redirects are not followed. Secrets never reach a log or an error
 * message: an answer that quotes them back has them replaced.
 *
 * The URL and header checks here are the only ones: cfg reports them
 * against the setting that gave the value, http_new() refuses what they
 * refuse.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#include "dbuf.h"

/* Settings of one HTTP destination (the Pushgateway, remote write). */
typedef struct http_conf {
	char *url;                 /* http:// or https://, may carry a path */
	double timeout;            /* seconds, total per request */
	char *username;            /* basic auth, NULL for none */
	char *password;            /* read from password_file; secret */
	char *password_file;
	char *bearer_token;        /* read from bearer_token_file; secret */
	char *bearer_token_file;
	char *ca_file, *cert_file, *key_file; /* NULL for none */
	int insecure_skip_verify;
	char **headers;            /* "Name: value" each; n_headers of them */
	size_t n_headers;
	int gzip;                  /* gzip PUT bodies (the gateway's only;
	                            * default 1 there, 0 for remote write) */
} http_conf;

typedef enum http_err {
	HTTP_OK = 0,
	HTTP_EINVAL,   /* a bad URL, setting or argument */
	HTTP_ENOMEM,
	HTTP_ECURL     /* libcurl could not be set up */
} http_err;

const char *http_strerror(http_err e);

/* What became of one request. */
typedef enum http_outcome {
	HTTP_DELIVERED = 0, /* accepted (2xx) */
	HTTP_RETRY,         /* connection error, timeout, or an answer that
	                     * says "later" (5xx, 429, 408): try again later */
	HTTP_REFUSED        /* any other answer (4xx, 3xx): the data or the
	                     * request is at fault */
} http_outcome;

typedef struct http_status {
	http_outcome outcome;
	long http_code;        /* 0 when no answer came */
	double retry_after;    /* seconds from Retry-After; -1 when absent */
	double seconds;        /* how long the request took */
	char message[512];     /* the server's answer (first line, trimmed,
	                          valid UTF-8, secrets redacted) or curl's
	                          error; "" on success */
	int gzip;              /* push.c: the body went gzip-compressed */
	int plain_next;        /* push.c: refused because the gateway could
	                          not read gzip; see push_put_stream() */
} http_status;

/* Sets st to "nothing happened yet": HTTP_RETRY, no code, no message. */
void http_status_init(http_status *st);

/*
 * The usual classification: 2xx delivered; 5xx, 429 (slow down) and 408
 * (the server timed out waiting for us) retried; anything else refused,
 * since sending it again would get the same answer.
 */
http_outcome http_classify(long code);

/*
 * Checks a base URL: http:// or https://, a host (a name, an address or
 * [IPv6]), an optional port, an optional path prefix; no blanks, control
 * characters, query, fragment or user:password (credentials come from
 * their settings, so that they are never in a URL that gets logged), and
 * libcurl must parse it. Returns NULL when it is fine, else a reason
 * ("has no host", ...), static, which never quotes the URL. *quotable
 * (when quotable is not NULL) is 0 when the URL must not be quoted in a
 * message either (it carries credentials), else 1. *keep (when keep is not
 * NULL) is the URL's length without its trailing slashes.
 */
const char *http_check_url(const char *url, size_t *keep, int *quotable);

/*
 * Checks an extra header: "Name: value" with a token for a name (RFC 9110
 * tchar) and a non-empty value that cannot split the request (no CR, LF or
 * other control characters; tabs are blanks). Returns 0, or -1 with the
 * reason in why (wn bytes). The reason may quote the name, never the
 * value: it may be a credential.
 */
int http_check_header(const char *h, char *why, size_t wn);

/* A TCP port in decimal (the n bytes at p, digits only): its value,
 * 0 to 65535, or -1. */
int http_parse_port(const char *p, size_t n);

/* 1 when any of the n bytes of s is a control character (below 0x20, or
 * DEL), else 0. */
int http_has_ctl(const char *s, size_t n);

/*
 * Appends base64 of the n bytes at src to b: URL-safe (RFC 4648 §5)
 * without padding, "" as "=" (the Pushgateway's path segments), or
 * standard with padding (Basic credentials). Returns b's error.
 */
dbuf_err http_base64(dbuf *b, const void *src, size_t n, int urlsafe);

typedef struct http http_t;

/*
 * Makes a client for the server conf describes (url, timeout, auth, TLS,
 * headers); conf is copied where needed, so it may be freed afterwards.
 * On failure *out is NULL and err (errlen bytes; may be NULL) says why,
 * without quoting a secret.
 */
http_err http_new(const http_conf *conf, http_t **out, char *err,
    size_t errlen) __attribute__((warn_unused_result));

/* NULL is a no-op. Copies of secrets and headers are wiped. */
void http_free(http_t *h);

/* The base URL, without trailing slashes; borrowed from h. */
const char *http_url(const http_t *h);

/*
 * Caps the next requests' timeouts at seconds (connect and total), so that
 * a caller with a deadline (--once, the last push at SIGTERM) is not held
 * past it by one slow request; seconds <= 0 restores the configured ones.
 */
void http_limit(http_t *h, double seconds);

/*
 * A streamed body's source: writes up to cap bytes into buf and returns
 * how many, 0 at the end, or (size_t)-1 to abort the request (it then ends
 * as HTTP_RETRY; the source knows why).
 */
typedef size_t (*http_source)(char *buf, size_t cap, void *arg);

/* One request. Fields left 0 or NULL take the defaults noted. */
typedef struct http_request {
	const char *method;     /* "GET" (NULL), "PUT", "POST", "DELETE" */
	const char *path;       /* appended to the base URL; NULL: none */
	/* A body from memory (len bytes, sent with a Content-Length)... */
	const void *body;
	size_t len;
	/* ... or, with src set, pulled from src as the request goes
	 * (chunked), so that it never sits whole in memory. */
	http_source src;
	void *arg;
	/* Headers of this request, after the configured ones. */
	const char *const *headers;
	size_t n_headers;
	/* How answers are classified; NULL: http_classify(). */
	http_outcome (*classify)(long code);
} http_request;

/*
 * Sends the request and fills st (always initialised). A request that
 * could not be made (bad arguments, no memory, libcurl refused an option)
 * returns that error with st->message saying why and st->outcome
 * HTTP_RETRY; anything the server or the network did is HTTP_OK and st
 * says what. The body and headers are never referenced after the call.
 */
http_err http_request_do(http_t *h, const http_request *rq, http_status *st)
    __attribute__((warn_unused_result));

/*
 * The start of the last answer's body (at most a few KiB, NUL-terminated;
 * *len when len is not NULL), for callers that read a small answer;
 * borrowed until the next request.
 */
const char *http_answer(const http_t *h, size_t *len);

#endif
