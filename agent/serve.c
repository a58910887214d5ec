/* serve — the pull-mode HTTP listener. See serve.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "clock.h"
#include "log.h"
#include "pbexpo.h"
#include "serve.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* Scrapes closer together than this share one rendering (and a failed
 * rendering is not tried again sooner). */
#define REUSE_SECONDS 1.0
/* While too many renderings are still being sent, scrapes share the
 * newest for this long at most; then they get 503 until readers finish. */
#define STALE_SECONDS 5.0

/* The formats /metrics serves: the text format, and the protobuf one for
 * a scraper that asks for it (when the callback for it is set). */
enum { FMT_TEXT = 0, FMT_PB, NFORMATS };

/* One format's newest rendering. */
typedef struct rendering {
	size_t last_len;            /* its size, to allocate the next */
	struct MHD_Response *plain, *gz;
	const char *body;           /* plain's bytes, valid while plain is */
	size_t body_len;
	double made;                /* monotonic */
	double failed_at;           /* the last failed rendering; 0 none */
	char failed[512];           /* and why */
} rendering;

enum { FRESH_OK = 0, FRESH_FAILED = -1, FRESH_FAILED_BEFORE = -2,
	FRESH_BUSY = -3 };

struct serve {
	struct MHD_Daemon *d;
	serve_options o;
	char *listen;
	unsigned port;
	/* Shared with the agent's thread. */
	pthread_mutex_t mu;
	double beat;                /* monotonic */
	int ready;
	/* The newest rendering of each format: the server thread's, under
	 * cache_mu, which the loop only tries (serve_beat drops a stale
	 * one). */
	pthread_mutex_t cache_mu;
	rendering r[NFORMATS];
	atomic_int live;            /* rendered bodies not yet freed */
	struct MHD_Response *r404, *r405, *rok, *rnotready;
};

const char *
serve_strerror(serve_err e)
{
	switch (e) {
	case SERVE_OK:
		return "no error";
	case SERVE_EADDR:
		return "bad listen address";
	case SERVE_EINUSE:
		return "address already in use";
	case SERVE_ELISTEN:
		return "cannot listen";
	case SERVE_ESTART:
		return "cannot start the HTTP server";
	case SERVE_ENOMEM:
		return "out of memory";
	}
	return "unknown error";
}

/* --- the listening socket ------------------------------------------------ */

/* Splits ADDR:PORT, [IPv6]:PORT or :PORT; host "" means every address. */
static int
split_addr(const char *a, char *host, size_t hl, char *port, size_t pl)
{
	const char *colon;
	size_t n;

	if (a[0] == '[') {
		const char *end = strchr(a, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		n = (size_t)(end - a - 1);
		colon = end + 1;
		a++;
	} else {
		if ((colon = strrchr(a, ':')) == NULL)
			return -1;
		n = (size_t)(colon - a);
	}
	if (n >= hl || strlen(colon + 1) >= pl || colon[1] == '\0')
		return -1;
	memcpy(host, a, n);
	host[n] = '\0';
	snprintf(port, pl, "%s", colon + 1);
	return 0;
}

static serve_err
bind_one(const struct addrinfo *ai, int *fd, int *err)
{
	int one = 1, zero = 0;
	int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
	    ai->ai_protocol);

	if (s < 0) {
		*err = errno;
		return SERVE_ELISTEN;
	}
	/* A restarted agent must not wait for old connections' TIME_WAIT. */
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::] also takes IPv4, so ":PORT" means every address. */
	if (ai->ai_family == AF_INET6)
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(s, ai->ai_addr, ai->ai_addrlen) != 0 || listen(s, 64) != 0) {
		*err = errno;
		close(s);
		return *err == EADDRINUSE ? SERVE_EINUSE : SERVE_ELISTEN;
	}
	*fd = s;
	return SERVE_OK;
}

static serve_err
open_listener(const char *addr, int *fd, unsigned *port, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], portb[16];
	serve_err e = SERVE_ELISTEN;
	int rc, sys = 0;

	if (split_addr(addr, host, sizeof(host), portb, sizeof(portb)) != 0) {
		snprintf(err, errlen, "listen address '%s' must be ADDR:PORT, "
		    "[IPv6]:PORT or :PORT", addr);
		return SERVE_EADDR;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = host[0] == '\0' ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, portb, &hints, &res);
	if (rc != 0 && host[0] == '\0') {
		/* No IPv6 here (some containers): every IPv4 address. */
		hints.ai_family = AF_INET;
		rc = getaddrinfo(NULL, portb, &hints, &res);
	}
	if (rc != 0) {
		snprintf(err, errlen, "listen address '%s': %s", addr,
		    gai_strerror(rc));
		return SERVE_EADDR;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if ((e = bind_one(ai, fd, &sys)) == SERVE_OK)
			break;
	if (e != SERVE_OK && host[0] == '\0' && sys == EAFNOSUPPORT) {
		freeaddrinfo(res);
		hints.ai_family = AF_INET;
		if (getaddrinfo(NULL, portb, &hints, &res) != 0)
			res = NULL;
		for (ai = res; ai != NULL; ai = ai->ai_next)
			if ((e = bind_one(ai, fd, &sys)) == SERVE_OK)
				break;
	}
	if (res != NULL)
		freeaddrinfo(res);
	if (e == SERVE_EINUSE) {
		snprintf(err, errlen, "cannot listen on %s: %s (another process "
		    "holds the port: stop it, or choose another address with "
		    "--listen or the listen setting)", addr, strerror(sys));
		return e;
	}
	if (e != SERVE_OK) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr,
		    strerror(sys));
		return e;
	}
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		*port = 0;
		if (getsockname(*fd, (struct sockaddr *)&ss, &sl) == 0)
			*port = ntohs(ss.ss_family == AF_INET6 ?
			    ((struct sockaddr_in6 *)&ss)->sin6_port :
			    ((struct sockaddr_in *)&ss)->sin_port);
	}
	return SERVE_OK;
}

/* --- responses --------------------------------------------------------- */

/* A rendered body and who counts it. */
typedef struct owned {
	serve_t *s;
	void *buf;
} owned;

static void
body_free(void *cls)
{
	owned *o = cls;

	atomic_fetch_sub(&o->s->live, 1);
	free(o->buf);
	free(o);
}

/* A response that takes ownership of buf (len bytes), also on failure. */
static struct MHD_Response *
body_response(serve_t *s, void *buf, size_t len, int gzip, int fmt)
{
	struct MHD_Response *r;
	owned *o = malloc(sizeof(*o));

	if (o == NULL) {
		free(buf);
		return NULL;
	}
	o->s = s;
	o->buf = buf;
	r = MHD_create_response_from_buffer_with_free_callback_cls(len, buf,
	    body_free, o);
	if (r == NULL) {
		free(buf);
		free(o);
		return NULL;
	}
	atomic_fetch_add(&s->live, 1);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    fmt == FMT_PB ? PBEXPO_CONTENT_TYPE : CONTENT_TYPE);
	/* With two formats, either body depends on Accept too. */
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY,
	    s->o.metrics_pb != NULL ? "Accept, Accept-Encoding" :
	    "Accept-Encoding");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (gzip)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING,
		    "gzip");
	return r;
}

static struct MHD_Response *
text_response(const char *text, int copy)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text),
	    (void *)(uintptr_t)text, copy ? MHD_RESPMEM_MUST_COPY :
	    MHD_RESPMEM_PERSISTENT);

	if (r != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
		    "text/plain; charset=utf-8");
	return r;
}

static enum MHD_Result
queue_text(struct MHD_Connection *c, unsigned code, const char *text)
{
	struct MHD_Response *r = text_response(text, 1);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	rc = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return rc;
}

/* 503 with Retry-After: Prometheus tries again at its next scrape. */
static enum MHD_Result
queue_busy(struct MHD_Connection *c, const char *text)
{
	struct MHD_Response *r = text_response(text, 1);
	enum MHD_Result rc;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	rc = MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, r);
	MHD_destroy_response(r);
	return rc;
}

/* The q value of one coding's parameters (";q=0.5"): 1 when absent. */
static double
qvalue(const char *p, const char *end)
{
	double q = 1;

	while (p != NULL && p < end) {
		while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
			p++;
		if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
			q = strtod(p + 2, NULL);
		p = memchr(p, ';', (size_t)(end - p));
	}
	return q;
}

int
serve_accepts_gzip(const char *v)
{
	double gzip = -1, star = -1;

	while (v != NULL && *v) {
		const char *end = strchr(v, ','), *semi, *stop;
		size_t n = end ? (size_t)(end - v) : strlen(v), k;

		while (n > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			n--;
		}
		stop = v + n;
		semi = memchr(v, ';', n);
		k = semi ? (size_t)(semi - v) : n;
		while (k > 0 && (v[k - 1] == ' ' || v[k - 1] == '\t'))
			k--;
		if (k == 4 && strncasecmp(v, "gzip", 4) == 0)
			gzip = qvalue(semi, stop);
		else if (k == 1 && v[0] == '*')
			star = qvalue(semi, stop);
		v = end ? end + 1 : NULL;
	}
	return gzip >= 0 ? gzip > 0 : star > 0;
}

/* Compresses the plain body into a gzip response; NULL on failure. */
static struct MHD_Response *
make_gzip(serve_t *s, const char *p, size_t len, int fmt)
{
	z_stream z;
	unsigned char *gz;
	uLong bound;

	memset(&z, 0, sizeof(z));
	/* Fastest level: exposition text compresses well anyway, and the
	 * agent's CPU belongs to the host it runs on. */
	if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	bound = deflateBound(&z, (uLong)len);
	if ((gz = malloc(bound)) == NULL) {
		deflateEnd(&z);
		return NULL;
	}
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)len;
	z.next_out = gz;
	z.avail_out = (uInt)bound;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(gz);
		return NULL;
	}
	len = z.total_out;
	deflateEnd(&z);
	{
		/* deflateBound is generous: give the rest back. */
		unsigned char *fit = realloc(gz, len > 0 ? len : 1);
		if (fit != NULL)
			gz = fit;
	}
	return body_response(s, gz, len, 1, fmt);
}

static void
drop_rendering(rendering *g)
{
	if (g->plain != NULL)
		MHD_destroy_response(g->plain);
	if (g->gz != NULL)
		MHD_destroy_response(g->gz);
	g->plain = g->gz = NULL;
	g->body = NULL;
	g->body_len = 0;
}

/*
 * Renders anew unless the newest rendering is recent. Returns FRESH_OK, or
 * with a reason in err: FRESH_FAILED (just now), FRESH_FAILED_BEFORE (the
 * last try, less than REUSE_SECONDS ago, failed: not tried again, so that
 * a client cannot make the agent render a failing state in a loop), or
 * FRESH_BUSY (too many renderings are being sent and the newest is stale).
 */
static int
refresh(serve_t *s, int fmt, char *err, size_t errlen)
{
	double now = clock_mono();
	rendering *g = &s->r[fmt];
	struct MHD_Response *r;
	int (*render)(void *, dbuf *, char *, size_t) = fmt == FMT_PB ?
	    s->o.metrics_pb : s->o.metrics;
	dbuf b;

	if (g->plain != NULL && now - g->made < REUSE_SECONDS)
		return FRESH_OK;
	if (g->failed_at > 0 && now - g->failed_at < REUSE_SECONDS) {
		snprintf(err, errlen, "%s", g->failed);
		return FRESH_FAILED_BEFORE;
	}
	if (atomic_load(&s->live) >= SERVE_MAX_LIVE) {
		if (g->plain != NULL && now - g->made < STALE_SECONDS)
			return FRESH_OK;
		snprintf(err, errlen, "too many scrapes are still being sent; "
		    "try again shortly");
		return FRESH_BUSY;
	}
	dbuf_init(&b, s->o.max_body);
	if (g->last_len > 0)
		(void)dbuf_reserve(&b, g->last_len + g->last_len / 8);
	err[0] = '\0';
	if (render(s->o.arg, &b, err, errlen) != 0 || b.err != DBUF_OK) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s", render_strerror(b.err));
		dbuf_free(&b);
		goto failed;
	}
	if (b.p == NULL && (b.p = malloc(1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto failed;
	}
	/* The response takes the buffer. */
	if ((r = body_response(s, b.p, b.len, 0, fmt)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto failed;
	}
	drop_rendering(g);
	g->plain = r;
	g->body = b.p;
	g->body_len = b.len;
	g->last_len = b.len;
	g->made = now;
	g->failed_at = 0;
	return FRESH_OK;
failed:
	g->failed_at = now;
	snprintf(g->failed, sizeof(g->failed), "%s", err);
	return FRESH_FAILED;
}

static enum MHD_Result
metrics(serve_t *s, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	enum MHD_Result rc;
	char err[512] = "";
	rendering *g;
	int fr, fmt = FMT_TEXT;

	if (s->o.metrics_pb != NULL && pbexpo_accepted(
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ACCEPT)))
		fmt = FMT_PB;
	g = &s->r[fmt];
	pthread_mutex_lock(&s->cache_mu);
	if ((fr = refresh(s, fmt, err, sizeof(err))) != FRESH_OK) {
		char msg[600];
		pthread_mutex_unlock(&s->cache_mu);
		if (fr == FRESH_BUSY) {
			snprintf(msg, sizeof(msg), "%s\n", err);
			return queue_busy(c, msg);
		}
		if (fr == FRESH_FAILED)
			log_warnx("cannot serve /metrics", "reason=%s",
			    log_q(err));
		snprintf(msg, sizeof(msg), "cannot render metrics: %s\n", err);
		return queue_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
	}
	r = g->plain;
	if (serve_accepts_gzip(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ACCEPT_ENCODING))) {
		if (g->gz == NULL)
			g->gz = make_gzip(s, g->body, g->body_len, fmt);
		if (g->gz != NULL)
			r = g->gz;
	}
	/* Queued under the lock, so the loop cannot drop r before MHD has
	 * taken its own reference. */
	rc = MHD_queue_response(c, MHD_HTTP_OK, r);
	pthread_mutex_unlock(&s->cache_mu);
	return rc;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_len, void **req)
{
	serve_t *s = cls;
	double beat, stall;
	int ready;

	(void)version;
	(void)upload;
	/* The first call only sees the headers; answering then would make
	 * MHD close the connection. A body, which nothing here takes, is
	 * read and dropped (the idle timeout bounds a slow one). */
	if (*req == NULL) {
		*req = s;
		return MHD_YES;
	}
	if (*upload_len != 0) {
		*upload_len = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    s->r405);
	if (strcmp(url, "/metrics") == 0)
		return metrics(s, c);
	pthread_mutex_lock(&s->mu);
	beat = s->beat;
	ready = s->ready;
	stall = s->o.stall;
	pthread_mutex_unlock(&s->mu);
	if (strcmp(url, "/-/healthy") == 0) {
		double idle = clock_mono() - beat;
		char msg[128];
		if (idle <= stall)
			return MHD_queue_response(c, MHD_HTTP_OK, s->rok);
		snprintf(msg, sizeof(msg), "unhealthy: the agent's loop has "
		    "not run for %.0f seconds\n", idle);
		return queue_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, msg);
	}
	if (strcmp(url, "/-/ready") == 0)
		return MHD_queue_response(c, ready ? MHD_HTTP_OK :
		    MHD_HTTP_SERVICE_UNAVAILABLE, ready ? s->rok :
		    s->rnotready);
	return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, s->r404);
}

/* libmicrohttpd's own complaints (a client that went away, ...). */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	log_debug("http server", "reason=%s", log_q(msg));
}

serve_err
serve_start(const serve_options *o, serve_t **out, char *err, size_t errlen)
{
	serve_t *s;
	serve_err e;
	int fd = -1;

	*out = NULL;
	err[0] = '\0';
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return SERVE_ENOMEM;
	}
	s->o = *o;
	if (s->o.max_connections == 0)
		s->o.max_connections = 64;
	if (s->o.timeout == 0)
		s->o.timeout = 10;
	if (s->o.max_body == 0)
		s->o.max_body = 256u * 1024u * 1024u;
	if (s->o.stall <= 0)
		s->o.stall = 60;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->cache_mu, NULL);
	atomic_init(&s->live, 0);
	s->beat = clock_mono();
	s->listen = strdup(o->listen);
	s->r404 = text_response("not found: try /metrics, /-/healthy or "
	    "/-/ready\n", 0);
	s->r405 = text_response("method not allowed: GET or HEAD\n", 0);
	s->rok = text_response("OK\n", 0);
	s->rnotready = text_response("not ready: the spool is not open or "
	    "the first fold is not done\n", 0);
	if (s->listen == NULL || s->r404 == NULL || s->r405 == NULL ||
	    s->rok == NULL || s->rnotready == NULL) {
		snprintf(err, errlen, "out of memory");
		e = SERVE_ENOMEM;
		goto fail;
	}
	MHD_add_response_header(s->r405, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if ((e = open_listener(o->listen, &fd, &s->port, err, errlen)) !=
	    SERVE_OK)
		goto fail;
	/* The logger first, so that MHD's own messages about the options
	 * that follow go through it. */
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, s,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_CONNECTION_LIMIT, s->o.max_connections,
	    /* One client address may not take more than its share. */
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, SERVE_PER_ADDRESS,
	    MHD_OPTION_CONNECTION_TIMEOUT, s->o.timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
	    MHD_OPTION_END);
	if (s->d == NULL) {
		close(fd);
		snprintf(err, errlen, "cannot start the HTTP server on %s",
		    o->listen);
		e = SERVE_ESTART;
		goto fail;
	}
	*out = s;
	return SERVE_OK;
fail:
	serve_stop(s);
	return e;
}

void
serve_stop(serve_t *s)
{
	if (s == NULL)
		return;
	if (s->d != NULL)
		MHD_stop_daemon(s->d);
	for (int i = 0; i < NFORMATS; i++)
		drop_rendering(&s->r[i]);
	if (s->r404)
		MHD_destroy_response(s->r404);
	if (s->r405)
		MHD_destroy_response(s->r405);
	if (s->rok)
		MHD_destroy_response(s->rok);
	if (s->rnotready)
		MHD_destroy_response(s->rnotready);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->cache_mu);
	free(s->listen);
	free(s);
}

unsigned
serve_port(const serve_t *s)
{
	return s->port;
}

void
serve_beat(serve_t *s)
{
	if (s == NULL)
		return;
	double now = clock_mono();

	pthread_mutex_lock(&s->mu);
	s->beat = now;
	pthread_mutex_unlock(&s->mu);
	/* A rendering nobody can reuse any more need not stay in memory
	 * until the next scrape. Never waits: a scrape holds the lock while
	 * it renders. */
	if (pthread_mutex_trylock(&s->cache_mu) == 0) {
		for (int i = 0; i < NFORMATS; i++) {
			rendering *g = &s->r[i];
			double age = now - g->made;
			if (g->plain != NULL && ((age >= REUSE_SECONDS &&
			    atomic_load(&s->live) < SERVE_MAX_LIVE) ||
			    age >= STALE_SECONDS))
				drop_rendering(g);
		}
		pthread_mutex_unlock(&s->cache_mu);
	}
}

void
serve_set_ready(serve_t *s, int ready)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->ready = ready;
	pthread_mutex_unlock(&s->mu);
}

void
serve_set_stall(serve_t *s, double stall)
{
	if (s == NULL || stall <= 0)
		return;
	pthread_mutex_lock(&s->mu);
	s->o.stall = stall;
	pthread_mutex_unlock(&s->mu);
}
