/*
 * sink_pull — the pull-mode sink: the /metrics listener (serve.c) and what
 * its thread reads. It has no rounds: the server thread renders each
 * scrape from a spool handle of its own, with a copy of the agent's
 * counters that the loop hands over at each beat, under a mutex. See
 * sink.h.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "spool-agent.h"
#include "log.h"
#include "pull.h"
#include "selfm.h"
#include "serve.h"
#include "sink.h"

/* /-/healthy's stall limit: a request takes at most its timeout, and the
 * loop beats between requests, so a loop silent for much longer than the
 * longest request of any sink (with room for a fold and a slow disk) is
 * stuck. */
static double
stall_s(const cfg *c)
{
	double t = c->gw.timeout;

	if (c->rw.url != NULL && c->rw.url[0] != '\0' && c->rw.timeout > t)
		t = c->rw.timeout;
	return 30 + 2 * t;
}

/*
 * What the server thread shares with the loop: a copy of the agent's
 * counters (under mu) and the thread's own spool handle, opened at the
 * first scrape (a handle is for one thread).
 */
typedef struct pullctx {
	pthread_mutex_t mu;
	selfm m;
	char *path;
	spool_t *s;
	size_t last_clash;  /* series left out by the previous scrape */
} pullctx;

typedef struct pulls {
	sink_env *env;
	serve_t *srv;             /* NULL until started, or when stopped */
	char *listen;             /* the address srv serves */
	int ready;                /* what /-/ready says */
	pullctx pc;
} pulls;

/* Renders /metrics as text, or as protobuf with pb; runs on the server's
 * thread. */
static int
render_as(void *arg, int pb, dbuf *out, char *err, size_t errlen)
{
	pullctx *pc = arg;
	pull_result res;
	selfm m;
	spool_err e;

	pthread_mutex_lock(&pc->mu);
	m = pc->m;
	pthread_mutex_unlock(&pc->mu);
	if (pc->s == NULL) {
		e = spool_open(pc->path, NULL, &pc->s, err, errlen);
		if (e == SPOOL_OK &&
		    spool_set_cache(pc->s, SINK_CACHE_PAGES) != SPOOL_OK)
			log_debug("cannot shrink the page cache", NULL);
		if (e != SPOOL_OK)
			return -1;
	}
	/* The spool's figures as of this scrape. */
	if (spool_get_stats(pc->s, &m.st) != SPOOL_OK)
		log_debug("cannot read spool stats", "reason=%s",
		    log_q(spool_errmsg(pc->s)));
	if ((pb ? pull_render_pb : pull_render)(pc->s, &m, out, &res, err,
	    errlen) != 0)
		return -1;
	/* Said when it starts, not at every scrape. */
	if (res.type_clash > 0 && pc->last_clash == 0)
		log_warnx("series left out of /metrics: their family "
		    "clashes with an earlier one", "series=%zu first=%s",
		    res.type_clash, log_q(res.clash));
	pc->last_clash = res.type_clash;
	if (res.duplicate > 0)
		log_debug("duplicate series left out of /metrics", "series=%zu",
		    res.duplicate);
	return 0;
}

static int
render_pull(void *arg, dbuf *out, char *err, size_t errlen)
{
	return render_as(arg, 0, out, err, errlen);
}

static int
render_pull_pb(void *arg, dbuf *out, char *err, size_t errlen)
{
	return render_as(arg, 1, out, err, errlen);
}

/* The loop is alive: tell /-/healthy, and hand the counters to the
 * server thread. */
static void
pulls_beat(void *self)
{
	pulls *p = self;

	if (p->srv == NULL)
		return;
	serve_beat(p->srv);
	pthread_mutex_lock(&p->pc.mu);
	p->pc.m = *p->env->m;
	pthread_mutex_unlock(&p->pc.mu);
}

/* Starts a listener on want; 0, or an exit status after logging why. */
static int
serve_open(pulls *p, const cfg *c, const char *want, serve_t **out)
{
	serve_options o = { 0 };
	char err[512];
	serve_err e;

	o.listen = want;
	o.stall = stall_s(c);
	o.metrics = render_pull;
	o.metrics_pb = render_pull_pb;
	o.arg = &p->pc;
	if ((e = serve_start(&o, out, err, sizeof(err))) == SERVE_OK) {
		log_info("serving /metrics", "listen=%s port=%u", log_q(want),
		    serve_port(*out));
		return 0;
	}
	log_errorx("cannot serve /metrics", "listen=%s reason=%s",
	    log_q(want), log_q(err));
	switch (e) {
	case SERVE_EINUSE:
		return EX_TEMPFAIL;
	case SERVE_EADDR:
	case SERVE_ELISTEN:
		return EX_CONFIG;
	case SERVE_OK:
	case SERVE_ESTART:
	case SERVE_ENOMEM:
		break;
	}
	return EX_OSERR;
}

/*
 * Makes the listener match the settings c. At start, a failure is the
 * returned exit status. On a reload a working listener is replaced only
 * by one that works: the new address is bound first (or, when it is taken
 * and has the old one's port, after stopping the old one, which comes back
 * if the new one still fails). cfg has checked that both have a ':'.
 */
static int
serve_apply(pulls *p, const cfg *c)
{
	const char *want = c->listen != NULL ? c->listen : "";
	char *keep;
	serve_t *n = NULL;
	int rc;

	if (p->srv != NULL && strcmp(p->listen, want) == 0) {
		serve_set_stall(p->srv, stall_s(c));
		return 0;
	}
	if (want[0] == '\0') {
		serve_stop(p->srv);
		p->srv = NULL;
		free(p->listen);
		p->listen = NULL;
		return 0;
	}
	if ((keep = strdup(want)) == NULL) {
		log_errorx("out of memory", NULL);
		return EX_OSERR;
	}
	rc = serve_open(p, c, want, &n);
	/* Taken, perhaps by the old listener itself (same port, another
	 * address): only then is the old one stopped to make way. */
	if (rc == EX_TEMPFAIL && p->srv != NULL &&
	    strcmp(strrchr(want, ':'), strrchr(p->listen, ':')) == 0) {
		serve_stop(p->srv);
		p->srv = NULL;
		if ((rc = serve_open(p, c, want, &n)) != 0)
			(void)serve_open(p, c, p->listen, &p->srv);
	}
	if (rc != 0) {
		free(keep);
		if (p->srv != NULL)
			log_warnx("the listener stays where it was", "listen=%s",
			    log_q(p->listen));
		return rc;
	}
	serve_stop(p->srv);
	free(p->listen);
	p->srv = n;
	p->listen = keep;
	pulls_beat(p);
	return 0;
}

static int
wanted(const cfg *c)
{
	return c->listen != NULL && c->listen[0] != '\0';
}

static void
pulls_free(void *self)
{
	pulls *p = self;

	if (p == NULL)
		return;
	serve_stop(p->srv);
	free(p->listen);
	spool_close(p->pc.s);
	free(p->pc.path);
	pthread_mutex_destroy(&p->pc.mu);
	free(p);
}

/* Listens only once the daemon starts: --once serves nothing. */
static int
pulls_new(sink_env *env, const cfg *c, void **out)
{
	pulls *p;

	*out = NULL;
	if (!wanted(c))
		return 0;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_errorx("out of memory", NULL);
		return EX_OSERR;
	}
	p->env = env;
	pthread_mutex_init(&p->pc.mu, NULL);
	if ((p->pc.path = strdup(c->spool_path)) == NULL) {
		pulls_free(p);
		log_errorx("out of memory", NULL);
		return EX_OSERR;
	}
	*out = p;
	return 0;
}

static int
pulls_start(void *self)
{
	pulls *p = self;

	return serve_apply(p, p->env->c);
}

static double
pulls_due(const void *self)
{
	(void)self;
	return INFINITY;
}

static void
pulls_round(void *self, double deadline)
{
	(void)self;
	(void)deadline;
}

/* A listener that cannot move stays where it was (logged): a reload never
 * fails for it, and it moves only once every sink took the settings. */
static int
pulls_prepare(void *self, const cfg *c, void **pending)
{
	(void)self;
	*pending = NULL;
	return wanted(c) ? 0 : SINK_UNWANTED;
}

static void
pulls_commit(void *self, const cfg *c, void *pending)
{
	pulls *p = self;

	(void)pending;
	(void)serve_apply(p, c);
	serve_set_ready(p->srv, p->ready);
}

static void
pulls_once(void *self, double deadline, sink_result *res)
{
	(void)self;
	(void)deadline;
	(void)res;
}

static void
pulls_last(void *self, double deadline)
{
	pulls *p = self;

	(void)deadline;
	serve_stop(p->srv);
	p->srv = NULL;
}

static void
pulls_ready(void *self, int ready)
{
	pulls *p = self;

	p->ready = ready;
	serve_set_ready(p->srv, ready);
}

const sink_ops sink_pull_ops = {
	.name = "pull",
	.carries_deletes = 0,
	.new = pulls_new,
	.start = pulls_start,
	.due = pulls_due,
	.round = pulls_round,
	.prepare = pulls_prepare,
	.commit = pulls_commit,
	.discard = NULL,
	.once = pulls_once,
	.last = pulls_last,
	.beat = pulls_beat,
	.ready = pulls_ready,
	.free = pulls_free,
};
