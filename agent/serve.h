/*
 * serve — the pull-mode HTTP listener, on libmicrohttpd:
 *
 *   GET /metrics     the text a callback renders (text/plain; version=0.0.4),
 *                    or, when a second callback is given and the client's
 *                    Accept asks for it (pbexpo_accepted()), the delimited
 *                    protobuf format; gzip-compressed when the client
 *                    accepts gzip
 *   GET /-/healthy   200 while the agent's loop beats, 503 once it stalls
 *   GET /-/ready     200 once the agent says so (spool open, first fold)
 *
 * The server runs on its own thread; the agent's loop only sets a few
 * values under a mutex and never waits for a client. Limits: a connection
 * cap, SERVE_PER_ADDRESS connections per client address, an idle timeout,
 * MHD's per-connection memory limit for the request, and rendered bodies:
 * a new one is made only while fewer than SERVE_MAX_LIVE are being sent
 * (with the gzip twins of both formats, SERVE_MAX_LIVE + 2 at most); past
 * that, scrapes share the newest for up to 5 s, then get 503 with
 * Retry-After. Scrapes of one format less than a second apart share one
 * rendering (each format has its own); a failed rendering is not retried
 * for a second.
 *
 * It knows nothing about the spool: the callback renders.
 */
#ifndef SERVE_H
#define SERVE_H

#include <stddef.h>

#include "render.h"

#define SERVE_MAX_LIVE 4
#define SERVE_PER_ADDRESS 4

typedef enum serve_err {
	SERVE_OK = 0,
	SERVE_EADDR,     /* the address does not parse or resolve */
	SERVE_EINUSE,    /* the port is taken */
	SERVE_ELISTEN,   /* any other socket failure (permission, ...) */
	SERVE_ESTART,    /* libmicrohttpd would not start */
	SERVE_ENOMEM
} serve_err;

const char *serve_strerror(serve_err e);

typedef struct serve_options {
	const char *listen;        /* ADDR:PORT, [IPv6]:PORT or :PORT */
	unsigned max_connections;  /* 0: 64 */
	unsigned timeout;          /* idle seconds before a close; 0: 10 */
	size_t max_body;           /* cap of one rendering; 0: 256 MiB */
	double stall;              /* /-/healthy fails after this many
	                            * seconds without a beat; 0: 60 */
	/* Renders /metrics into out (empty, capped at max_body); returns 0,
	 * or -1 with a reason in err. Runs on the server's thread. */
	int (*metrics)(void *arg, dbuf *out, char *err, size_t errlen);
	/* The same in the protobuf format (pbexpo.h), for a scraper that
	 * asks for it; NULL: text only (and Vary names Accept-Encoding
	 * alone). Same arg. */
	int (*metrics_pb)(void *arg, dbuf *out, char *err, size_t errlen);
	void *arg;
} serve_options;

typedef struct serve serve_t;

/*
 * Binds the address and starts serving. On failure *out is NULL and err
 * holds a sentence naming the address and the cause. Caller frees with
 * serve_stop().
 */
serve_err serve_start(const serve_options *o, serve_t **out, char *err,
    size_t errlen) __attribute__((warn_unused_result));

/* Stops the listener, closes its connections, frees s. NULL is a no-op. */
void serve_stop(serve_t *s);

/* The bound port (useful after asking for port 0). */
unsigned serve_port(const serve_t *s);

/* The agent's loop is alive. NULL is a no-op (also below). */
void serve_beat(serve_t *s);

/*
 * Does an Accept-Encoding value take gzip? A "gzip" coding decides by its q
 * value; "*" counts only when gzip is not named (RFC 9110, 12.5.3). NULL
 * (no header) is no. (Public for the fuzzer: it parses client input.)
 */
int serve_accepts_gzip(const char *accept_encoding);

/* Changes the stall limit of /-/healthy (after a reload). */
void serve_set_stall(serve_t *s, double stall);

/* /-/ready answers 200 from now on (ready != 0) or 503. */
void serve_set_ready(serve_t *s, int ready);

#endif
