/*
 * agent — fold, push, delete, expire, retry. See agent.h.
 *
 * Which groups to push comes from the spool: a group is pushed while its
 * version is above the version the gateway confirmed (pushed_version), and
 * the version recorded after a push is the one the rendered snapshot held,
 * so a fold that lands during a push leaves the group dirty and it goes
 * again. What only matters while the agent runs (backoff, which version a
 * group was refused at) lives in memory.
 *
 * Every PUT and DELETE costs the gateway in proportion to all it holds, so
 * a request goes only when it carries something new: a changed group, a
 * due delete, or the agent's own metrics when something an alert looks at
 * moved (selfm_sig) and otherwise once a heartbeat. An idle round reads no
 * counts from the spool either: those are read for a push of the agent's
 * own metrics, and the limits' usage after rows were folded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include "agent.h"
#include "backoff.h"
#include "spool-agent.h"
#include "expo.h"
#include "limit.h"
#include "log.h"
#include "notify.h"
#include "pull.h"
#include "push.h"
#include "render.h"
#include "rw.h"
#include "selfm.h"
#include "serve.h"
#include "sig.h"
#include "ttl.h"

/* Bodies are rendered a chunk at a time; the cap only bounds one sample
 * that would not fit (lines are at most 64 KiB, histograms 256 buckets). */
#define CHUNK (64u * 1024u)
#define MAX_CHUNK (16u * 1024u * 1024u)
/* Fold batches per step, so a flood of rows cannot starve the pushes. */
#define MAX_FOLDS_PER_STEP 200
/* The deadline for the last push after SIGTERM. */
#define LAST_PUSH_SECONDS 5.0
/* A lasting failure is logged at most once in this many seconds. */
#define LOG_REPEAT_S 60.0
/* The loop folds at least this often, during long rounds too. */
#define FOLD_PERIOD_S 1.0
/* --once waiting for another --once's lock looks again this often. */
#define CLAIM_RETRY_S 0.1
/* One group as listed at the start of a step (strings owned). */
typedef struct group {
	int64_t id;
	char *job;
	char *grouping;
	int64_t version;
	int64_t pushed_version;
	int64_t last_row_ms;
	int delete_pending;
	int parked;        /* the spool holds a park reason */
	int has_series;
} group;

/* What the agent remembers of a refused group while it runs. */
typedef struct park {
	int64_t id;
	int64_t version;   /* the version the gateway refused */
	double retry_at;   /* monotonic; retried then even if unchanged */
} park;

/*
 * What the pull-mode server thread shares with the loop: a copy of the
 * agent's counters (under mu) and the thread's own spool handle, opened at
 * the first scrape (a handle is for one thread).
 */
typedef struct pullctx {
	pthread_mutex_t mu;
	selfm m;
	char *path;
	spool_t *s;
	size_t last_clash;  /* series left out by the previous scrape */
} pullctx;

struct agent {
	cfg *c;
	spool_t *s;
	push_t *p;                /* NULL when pushing is disabled */
	char *default_grouping;   /* instance="..." (canonical) */
	spool_buckets *buckets;
	backoff gw;               /* transport failures */
	double gw_retry_at;       /* monotonic; 0: now */
	int resync;               /* push every group at the next chance */
	int64_t resync_from;      /* ... from this group id on (cut short) */
	park *parks;
	size_t nparks, capparks;
	group *groups;
	size_t ngroups, capgroups;
	int list_oom;             /* listing the groups ran out of memory */
	dbuf body;
	selfm m;
	http_t *rwp;              /* remote write; NULL when off */
	rw_batch *batch;
	rw_seen *seen;            /* series sent, for staleness markers */
	int rw_loaded;            /* seen holds the set the spool kept for
	                           * this receiver */
	int rw_keep_failed;       /* the last round could not load or save
	                           * that set */
	int64_t rw_ts;            /* the last round's timestamp (ms) */
	int rw_failed;            /* this round: a request failed; the rest
	                           * of the walk only notes the series */
	int rw_incomplete;        /* this round: some live series was not
	                           * noted (out of memory): no markers */
	int gw_yield;             /* gateway rounds give way to remote write */
	int looping;              /* in the daemon's loop: signals are taken
	                           * between requests */
	size_t rw_many_labels;    /* this round: series with too many labels */
	double rw_many_said;      /* monotonic: when that was last logged */
	backoff rwb;              /* remote write's transport failures */
	double rw_next;           /* monotonic: the next round */
	log_limit fold_lim;       /* fold failures */
	log_limit record_lim;     /* pushes that could not be recorded */
	log_limit ckpt_lim;       /* checkpoints that failed */
	log_limit reject_lim;     /* "rows rejected" lines */
	size_t rejected_unsaid;   /* rows rejected since the last such line */
	log_limit rw_keep_lim;    /* loads and saves of the series sent */
	limit_watch lw;           /* reads and warnings of the limits */
	ttl_t *ages;              /* how long each group went without a row */
	double next_fold;         /* monotonic: the loop's next fold */
	double round_start;       /* monotonic: when this round was due */
	double hb_next;           /* monotonic: the agent's own metrics are
	                           * due at the round that starts then */
	selfm_sig self_sig;       /* what their last push carried */
	const char *self_reset;   /* non-NULL: self_sig is void (why: the
	                           * start, a reload...); the next round pushes
	                           * them */
	int once;                 /* agent_once(): its rules for the default
	                           * group */
	int once_self_done;       /* --once: own metrics delivered */
	double rows_rejected;     /* rows the fold refused, this run */
	double behind_since;      /* monotonic: since when the fold has not
	                           * emptied the inbox; 0: it has */
	int probe_unreachable;    /* the last start-time question failed */
	char last_failure[512];   /* the last transport failure's reason */
	int usage_stale;          /* the limits' usage may have changed since
	                           * it was read (rows folded, groups dropped,
	                           * a reload) */
	double probe_next;        /* monotonic: ask the gateway's start time */
	int probe_off;            /* the gateway cannot tell its start time */
	char *gw_known;           /* its identity (URL, start time) as last
	                           * seen; NULL before the first answer */
	int gw_unrecorded;        /* ... not yet recorded in the spool */
	log_limit gw_record_lim;  /* failures to record it */
	serve_t *srv;             /* pull mode; NULL when off */
	char *srv_listen;         /* the address srv serves */
	pullctx pc;
};

/* Outcome of one step's network work. */
typedef struct step {
	int transport_failed;     /* the gateway could not be reached */
	int refused;              /* some group was refused this step */
	int pending;              /* something is left to deliver */
	int spool_failed;
	int yielded;              /* stopped for the other sink's turn */
	unsigned requests;        /* requests begun */
} step;

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* `instance="<value>"` with the exposition escapes. */
static char *
make_default_grouping(const char *instance)
{
	char *g = malloc(expo_pair_len("instance", instance) + 1);

	if (g != NULL)
		expo_write_pair(g, "instance", instance);
	return g;
}

static void
free_groups(agent_t *a)
{
	for (size_t i = 0; i < a->ngroups; i++) {
		free(a->groups[i].job);
		free(a->groups[i].grouping);
	}
	a->ngroups = 0;
}

/* Sets up what depends on the settings: the sink, the default grouping,
 * the histogram buckets. On failure nothing of a is changed. */
static int
apply_cfg(agent_t *a, cfg *c)
{
	push_t *p = NULL;
	http_t *rwp = NULL;
	rw_batch *batch = NULL;
	char *dg = NULL, err[512];
	spool_buckets *b = NULL;

	if ((dg = make_default_grouping(c->instance)) == NULL)
		goto nomem;
	if (c->n_histograms > 0) {
		b = calloc(c->n_histograms, sizeof(*b));
		if (b == NULL)
			goto nomem;
		for (size_t i = 0; i < c->n_histograms; i++) {
			b[i].name = c->histograms[i].name;
			b[i].bounds = c->histograms[i].bounds;
			b[i].n = c->histograms[i].n;
		}
	}
	if (c->enabled && push_new(&c->gw, &p, err, sizeof(err)) != PUSH_OK) {
		log_errorx("cannot set up the gateway client", "url=%s reason=%s",
		    log_q(c->gw.url), log_q(err));
		free(dg);
		free(b);
		return EX_CONFIG;
	}
	if (c->rw.url != NULL && c->rw.url[0] != '\0' &&
	    (http_new(&c->rw, &rwp, err, sizeof(err)) != HTTP_OK ||
	    (batch = rw_batch_new((size_t)c->rw_max_samples_per_send)) ==
	    NULL)) {
		log_errorx("cannot set up the remote write client", "url=%s "
		    "reason=%s", log_q(c->rw.url), batch == NULL && rwp ?
		    "out of memory" : log_q(err));
		push_free(p);
		http_free(rwp);
		free(dg);
		free(b);
		return EX_CONFIG;
	}
	if (a->c != NULL && strcmp(a->c->spool_path, c->spool_path) != 0) {
		char *keep = strdup(a->c->spool_path);
		log_warnx("the spool path changes only with a restart; the "
		    "agent keeps the open one", "spool=%s ignored=%s",
		    log_q(a->c->spool_path), log_q(c->spool_path));
		if (keep != NULL) {
			free(c->spool_path);
			c->spool_path = keep;
		}
	}
	/* Another receiver never saw the series: no markers for it. What
	 * the spool kept for the new one is loaded at its first round. */
	if (a->seen != NULL && (rwp == NULL || a->c == NULL ||
	    a->c->rw.url == NULL || strcmp(a->c->rw.url, c->rw.url) != 0)) {
		rw_seen_clear(a->seen);
		a->rw_loaded = 0;
	}
	push_free(a->p);
	http_free(a->rwp);
	rw_batch_free(a->batch);
	a->rwp = rwp;
	a->batch = batch;
	free(a->default_grouping);
	free(a->buckets);
	if (a->c != NULL && a->c != c)
		cfg_free(a->c);
	a->c = c;
	a->p = p;
	a->default_grouping = dg;
	a->buckets = b;
	backoff_init(&a->gw, c->retry_min, c->retry_max,
	    (uint64_t)getpid() ^ (uint64_t)(wall() * 1e6));
	a->gw_retry_at = 0;
	backoff_init(&a->rwb, c->retry_min, c->retry_max,
	    (uint64_t)getpid() ^ (uint64_t)(wall() * 1e6) ^ 0x5bd1e995u);
	a->rw_next = 0;
	/* Another gateway, or one that can now tell its start time. */
	a->probe_off = 0;
	a->probe_next = 0;
	log_setlevel(c->log_level);
	return 0;
nomem:
	free(dg);
	free(b);
	log_errorx("out of memory", NULL);
	return EX_OSERR;
}

int
agent_new(cfg *c, agent_t **out)
{
	spool_options so = { 0, 0 };
	char err[1024];
	agent_t *a;
	spool_err e;
	int rc;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		cfg_free(c);
		log_errorx("out of memory", NULL);
		return EX_OSERR;
	}
	so.synchronous_full = c->spool_sync_full;
	e = spool_open(c->spool_path, &so, &a->s, err, sizeof(err));
	/* The agent reads big groups once per push, in order: a small cache
	 * keeps its memory flat without costing reads. */
	if (e == SPOOL_OK && (e = spool_set_cache(a->s, 512)) != SPOOL_OK)
		snprintf(err, sizeof(err), "%s", spool_errmsg(a->s));
	if (e != SPOOL_OK) {
		log_errorx("cannot open the spool", "path=%s reason=%s",
		    log_q(c->spool_path), log_q(err));
		spool_close(a->s);
		cfg_free(c);
		free(a);
		/* A bad spool path is a configuration error here. */
		return e == SPOOL_EINVAL ? EX_CONFIG : spool_exit_status(e);
	}
	if ((rc = apply_cfg(a, c)) != 0) {
		cfg_free(c);
		a->c = NULL;
		agent_free(a);
		return rc;
	}
	dbuf_init(&a->body, MAX_CHUNK);
	pthread_mutex_init(&a->pc.mu, NULL);
	if ((a->pc.path = strdup(a->c->spool_path)) == NULL ||
	    (a->seen = rw_seen_new()) == NULL ||
	    (a->ages = ttl_new()) == NULL) {
		agent_free(a);
		log_errorx("out of memory", NULL);
		return EX_OSERR;
	}
	*out = a;
	return 0;
}

void
agent_free(agent_t *a)
{
	if (a == NULL)
		return;
	serve_stop(a->srv);
	free(a->srv_listen);
	spool_close(a->pc.s);
	free(a->pc.path);
	pthread_mutex_destroy(&a->pc.mu);
	free_groups(a);
	free(a->groups);
	free(a->parks);
	push_free(a->p);
	http_free(a->rwp);
	rw_batch_free(a->batch);
	rw_seen_free(a->seen);
	ttl_free(a->ages);
	free(a->gw_known);
	spool_close(a->s);
	free(a->default_grouping);
	free(a->buckets);
	dbuf_free(&a->body);
	cfg_free(a->c);
	free(a);
}

/* --- fold ------------------------------------------------------------ */

/* Folds until the inbox is empty or the step's share is used up. */
static spool_err
fold_all(agent_t *a, int *more)
{
	/* A step folds for about this long at most, so that a backlog
	 * holds up the pushes and the signals no more than before. */
	const double step_seconds = 1.0;
	spool_fold_options o = { 0 };
	spool_fold_result r;
	spool_err e;
	unsigned held;
	double t0 = mono();

	o.default_job = a->c->job;
	o.default_grouping = a->default_grouping;
	o.buckets = a->buckets;
	o.nbuckets = a->c->n_histograms;
	o.max_rows = 0; /* the library's batch, the one it measures */
	o.max_groups = (size_t)a->c->max_groups;
	o.max_series_per_group = (size_t)a->c->max_series_per_group;
	o.max_series = (size_t)a->c->max_series;
	*more = 0;
	for (int i = 0; i < MAX_FOLDS_PER_STEP; i++) {
		if ((e = spool_fold(a->s, &o, &r)) != SPOOL_OK) {
			/* A full disk fails every second: say it once a
			 * minute, with how many times it failed since. */
			if (log_limit_pass(&a->fold_lim, mono(), LOG_REPEAT_S,
			    &held))
				log_errorx("cannot fold the inbox", "reason=%s "
				    "failures_since_last_report=%u",
				    log_q(spool_errmsg(a->s)), held);
			if (a->behind_since == 0)
				a->behind_since = mono();
			return e;
		}
		if (log_limit_clear(&a->fold_lim))
			log_info("folding works again", NULL);
		a->rows_rejected += (double)r.rejected;
		/* A writer stuck at a limit is refused every second: the
		 * first refusal is said at once, the rest once a minute with
		 * how many. */
		a->rejected_unsaid += r.rejected;
		if (a->rejected_unsaid > 0 && log_limit_pass(&a->reject_lim,
		    mono(), LOG_REPEAT_S, &held)) {
			log_warnx("rows rejected", "rows=%zu hint=%s",
			    a->rejected_unsaid, log_q("collector-spool rejected"));
			a->rejected_unsaid = 0;
		}
		if (r.rows > 0) {
			a->usage_stale = 1;
			log_debug("folded", "rows=%zu lines=%zu groups=%zu",
			    r.rows, r.lines, r.groups);
		}
		if (r.rows == 0) {
			/* The inbox is folded: the limits' usage as of now,
			 * if rows may have changed it (it counts every
			 * series: an idle agent does not read it). */
			a->behind_since = 0;
			if (a->usage_stale &&
			    limit_check(&a->lw, a->s, a->c, &a->m, mono()))
				a->usage_stale = 0;
			return SPOOL_OK;
		}
		/* Between two batches (each is short) a SIGTERM or SIGHUP
		 * is taken at once, and the step gives way after a while:
		 * a backlog goes on at the next one. The first batch is
		 * folded even with a signal pending, as for the last push. */
		sig_poll();
		if (sig_pending() || mono() - t0 >= step_seconds)
			break;
	}
	*more = 1;
	if (a->behind_since == 0)
		a->behind_since = mono();
	return SPOOL_OK;
}

/* --- groups ------------------------------------------------------------ */

static int
collect_group(const spool_group *g, void *arg)
{
	agent_t *a = arg;
	group *x;

	if (a->ngroups == a->capgroups) {
		size_t cap = a->capgroups ? a->capgroups * 2 : 16;
		group *n = realloc(a->groups, cap * sizeof(*n));
		if (n == NULL) {
			a->list_oom = 1;
			return 1;
		}
		a->groups = n;
		a->capgroups = cap;
	}
	x = &a->groups[a->ngroups];
	x->job = strdup(g->job);
	x->grouping = strdup(g->grouping);
	if (x->job == NULL || x->grouping == NULL) {
		free(x->job);
		free(x->grouping);
		a->list_oom = 1;
		return 1;
	}
	x->id = g->id;
	x->version = g->version;
	x->pushed_version = g->pushed_version;
	x->last_row_ms = g->last_row_ms;
	x->delete_pending = g->delete_pending;
	x->parked = g->park_reason != NULL;
	x->has_series = g->has_series;
	a->ngroups++;
	return 0;
}

static spool_err
list_groups(agent_t *a)
{
	spool_err e;

	free_groups(a);
	a->list_oom = 0;
	e = spool_groups_each(a->s, collect_group, a);
	if (e == SPOOL_OK && a->list_oom)
		e = SPOOL_ENOMEM;
	if (e != SPOOL_OK) {
		log_errorx("cannot read the groups", "reason=%s",
		    e == SPOOL_ENOMEM ? "out of memory" :
		    log_q(spool_errmsg(a->s)));
		return e;
	}
	/* The groups come in id order, as the ages want them. */
	ttl_begin(a->ages, mono(), wall());
	for (size_t i = 0; i < a->ngroups; i++)
		if (ttl_note(a->ages, a->groups[i].id, a->groups[i].version,
		    a->groups[i].last_row_ms) != 0)
			log_debug("out of memory: group ages kept from the last "
			    "listing", NULL);
	ttl_end(a->ages);
	return SPOOL_OK;
}

static park *
park_find(agent_t *a, int64_t id)
{
	for (size_t i = 0; i < a->nparks; i++)
		if (a->parks[i].id == id)
			return &a->parks[i];
	return NULL;
}

static void
park_drop(agent_t *a, int64_t id)
{
	park *p = park_find(a, id);

	if (p != NULL)
		*p = a->parks[--a->nparks];
}

static void
park_set(agent_t *a, int64_t id, int64_t version, double retry_at)
{
	park *p = park_find(a, id);

	if (p == NULL) {
		if (a->nparks == a->capparks) {
			size_t cap = a->capparks ? a->capparks * 2 : 8;
			park *n = realloc(a->parks, cap * sizeof(*n));
			if (n == NULL)
				return; /* retried at once next step: harmless */
			a->parks = n;
			a->capparks = cap;
		}
		p = &a->parks[a->nparks++];
	}
	p->id = id;
	p->version = version;
	p->retry_at = retry_at;
}

/* Forgets parks of groups that are gone. */
static void
park_prune(agent_t *a)
{
	for (size_t i = 0; i < a->nparks;) {
		int found = 0;
		for (size_t k = 0; k < a->ngroups && !found; k++)
			found = a->groups[k].id == a->parks[i].id;
		if (found)
			i++;
		else
			a->parks[i] = a->parks[--a->nparks];
	}
}

static int
is_default(const agent_t *a, const group *g)
{
	return strcmp(g->job, a->c->job) == 0 &&
	    strcmp(g->grouping, a->default_grouping) == 0;
}

/* --- rendering ---------------------------------------------------------- */

/*
 * A group's body is rendered while it is sent: curl pulls bytes from
 * body_source(), which renders the next samples from the spool cursor into
 * a->body, a chunk at a time. So a group of any size needs one chunk of
 * memory, and the body is the snapshot the cursor's read transaction holds.
 */
typedef struct rctx {
	agent_t *a;
	spool_cursor *cur;  /* NULL: the group has no state yet */
	int own;            /* the default group: collector_agent_* names
	                     * are the agent's, whoever wrote them */
	int with_self;
	size_t next_self;   /* self families already written */
	int skip;           /* the current user family is skipped */
	int ended;          /* everything is rendered */
	size_t off;         /* bytes of a->body already handed to curl */
	size_t sent;        /* bytes handed to curl in all */
	const char *why;    /* why the source stopped early */
	int spool_failed;
} rctx;

/* Writes the self families that sort before name (all when NULL). */
static int
self_before(rctx *r, const char *name)
{
	const char *n;

	while (r->with_self &&
	    (n = selfm_family_name(r->next_self)) != NULL &&
	    (name == NULL || strcmp(n, name) < 0)) {
		if (selfm_render(&r->a->body, &r->a->m, r->next_self++,
		    NULL) != DBUF_OK)
			return 1;
	}
	return 0;
}

/* Renders into a->body until it holds a chunk or the group ends. */
static int
fill(rctx *r)
{
	agent_t *a = r->a;
	const spool_family *f;
	const spool_sample *x;
	int fresh;

	dbuf_reset(&a->body);
	r->off = 0;
	while (a->body.len < CHUNK && !r->ended && a->body.err == DBUF_OK) {
		if (r->cur != NULL) {
			if (spool_cursor_next(r->cur, &f, &x, &fresh) !=
			    SPOOL_OK) {
				r->why = spool_errmsg(a->s);
				r->spool_failed = 1;
				return -1;
			}
			if (x != NULL) {
				if (fresh) {
					/* The agent's own names are its own
					 * in the group they ride in. */
					r->skip = r->own &&
					    selfm_owns(f->name);
					if (!r->skip && (self_before(r,
					    f->name) || render_family(
					    &a->body, f) != DBUF_OK))
						break;
				}
				if (!r->skip)
					render_sample(&a->body, x, NULL);
				continue;
			}
		}
		if (self_before(r, NULL))
			break;
		r->ended = 1;
	}
	if (a->body.err != DBUF_OK) {
		r->why = render_strerror(a->body.err);
		return -1;
	}
	return 0;
}

static size_t
body_source(char *buf, size_t cap, void *arg)
{
	rctx *r = arg;
	agent_t *a = r->a;
	size_t n;

	if (r->off == a->body.len) {
		if (r->ended)
			return 0;
		if (fill(r) != 0)
			return (size_t)-1;
	}
	n = a->body.len - r->off;
	if (n > cap)
		n = cap;
	memcpy(buf, a->body.p + r->off, n);
	r->off += n;
	r->sent += n;
	return n;
}

/* --- the network side ------------------------------------------------ */

/* --- pull mode and liveness ---------------------------------------------- */

/* The loop is alive: tell systemd's watchdog and /-/healthy, and hand the
 * counters to the server thread. */
static void
alive(agent_t *a)
{
	notify_alive();
	if (a->srv == NULL)
		return;
	serve_beat(a->srv);
	pthread_mutex_lock(&a->pc.mu);
	a->pc.m = a->m;
	pthread_mutex_unlock(&a->pc.mu);
}

/* Renders /metrics; runs on the server's thread. */
static int
render_pull(void *arg, dbuf *out, char *err, size_t errlen)
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
		if (e == SPOOL_OK && spool_set_cache(pc->s, 512) != SPOOL_OK)
			log_debug("cannot shrink the page cache", NULL);
		if (e != SPOOL_OK)
			return -1;
	}
	/* The spool's figures as of this scrape. */
	if (spool_get_stats(pc->s, &m.st) != SPOOL_OK)
		log_debug("cannot read spool stats", "reason=%s",
		    log_q(spool_errmsg(pc->s)));
	if (pull_render(pc->s, &m, out, &res, err, errlen) != 0)
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

/* Starts a listener on want; 0, or an exit status after logging why. */
static int
serve_open(agent_t *a, const char *want, serve_t **out)
{
	serve_options o = { 0 };
	char err[512];
	serve_err e;

	o.listen = want;
	/* A request takes at most timeout, and the loop beats between
	 * requests: a loop silent for much longer is stuck. */
	o.stall = 30 + 2 * a->c->gw.timeout;
	o.metrics = render_pull;
	o.arg = &a->pc;
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
 * Makes the listener match the settings. At start, a failure is the
 * returned exit status. On a reload a working listener is replaced only
 * by one that works: the new address is bound first (or, when it is taken
 * and has the old one's port, after stopping the old one, which comes back
 * if the new one still fails). cfg has checked that both have a ':'.
 */
static int
serve_apply(agent_t *a)
{
	const char *want = a->c->listen != NULL ? a->c->listen : "";
	char *keep;
	serve_t *n = NULL;
	int rc;

	if (a->srv != NULL && strcmp(a->srv_listen, want) == 0) {
		serve_set_stall(a->srv, 30 + 2 * a->c->gw.timeout);
		return 0;
	}
	if (want[0] == '\0') {
		serve_stop(a->srv);
		a->srv = NULL;
		free(a->srv_listen);
		a->srv_listen = NULL;
		return 0;
	}
	if ((keep = strdup(want)) == NULL) {
		log_errorx("out of memory", NULL);
		return EX_OSERR;
	}
	rc = serve_open(a, want, &n);
	/* Taken, perhaps by the old listener itself (same port, another
	 * address): only then is the old one stopped to make way. */
	if (rc == EX_TEMPFAIL && a->srv != NULL &&
	    strcmp(strrchr(want, ':'), strrchr(a->srv_listen, ':')) == 0) {
		serve_stop(a->srv);
		a->srv = NULL;
		if ((rc = serve_open(a, want, &n)) != 0)
			(void)serve_open(a, a->srv_listen, &a->srv);
	}
	if (rc != 0) {
		free(keep);
		if (a->srv != NULL)
			log_warnx("the listener stays where it was", "listen=%s",
			    log_q(a->srv_listen));
		return rc;
	}
	serve_stop(a->srv);
	free(a->srv_listen);
	a->srv = n;
	a->srv_listen = keep;
	alive(a);
	return 0;
}

static selfm_result
result_of(push_outcome o)
{
	switch (o) {
	case PUSH_DELIVERED:
		break;
	case PUSH_RETRY:
		return SELFM_RETRY;
	case PUSH_REFUSED:
		return SELFM_REJECTED;
	}
	return SELFM_SUCCESS;
}

static void
count_request(agent_t *a, const push_status *st)
{
	selfm_count(&a->m, result_of(st->outcome), st->seconds, wall());
	alive(a);
}

/* A remote-write request of n samples. */
static void
count_request_rw(agent_t *a, const push_status *st, size_t n)
{
	selfm_result r = result_of(st->outcome);

	a->m.rw_requests[r]++;
	if (r == SELFM_SUCCESS)
		a->m.rw_sent += (double)n;
	else if (r == SELFM_REJECTED)
		a->m.rw_dropped += (double)n;
}

/* The next wait of a sink's backoff, or the server's Retry-After, never
 * longer than retry_max: one proxy's word does not silence the agent (and
 * its heartbeat) past what the operator set. */
static double
retry_delay(agent_t *a, backoff *b, const push_status *st)
{
	return backoff_honour(backoff_next(b), st->retry_after,
	    a->c->retry_max);
}

/* A transport failure: wait before the next request, and push every group
 * when the gateway is back (it may have restarted without its data). */
static void
transport_failed(agent_t *a, const group *g, const push_status *st,
    const char *what)
{
	double d = retry_delay(a, &a->gw, st);

	a->gw_retry_at = mono() + d;
	a->resync = 1;
	a->resync_from = 0;
	snprintf(a->last_failure, sizeof(a->last_failure), "%s", st->message);
	log_warnx("gateway unreachable; will retry", "op=%s job=%s "
	    "grouping=%s code=%ld reason=%s retry_in=%.3f", what, log_q(g->job),
	    log_q(g->grouping), st->http_code, log_q(st->message), d);
}

/* DELETE one group; on success drop its state (unless rows came since).
 * Returns 0 to go on, 1 when the gateway is unreachable. */
static int
do_delete(agent_t *a, group *g, const char *why, step *out)
{
	push_status st;
	push_err pe;
	spool_err e;
	int dropped;

	pe = push_delete(a->p, g->job, g->grouping, &st);
	if (pe != PUSH_OK) {
		log_errorx("cannot delete group", "job=%s grouping=%s reason=%s",
		    log_q(g->job), log_q(g->grouping), push_strerror(pe));
		out->refused = 1;
		return 0;
	}
	count_request(a, &st);
	switch (st.outcome) {
	case PUSH_DELIVERED:
		backoff_reset(&a->gw);
		e = spool_group_deleted(a->s, g->id, g->version, &dropped);
		if (e != SPOOL_OK) {
			log_errorx("cannot record a delete", "reason=%s",
			    log_q(spool_errmsg(a->s)));
			out->spool_failed = 1;
			return 0;
		}
		a->m.deletes++;
		a->usage_stale = 1;
		park_drop(a, g->id);
		log_info("deleted group", "job=%s grouping=%s why=%s "
		    "code=%ld", log_q(g->job), log_q(g->grouping), why,
		    st.http_code);
		/* The agent's own metrics went with it. */
		if (is_default(a, g))
			a->self_reset = "default_group_deleted";
		if (!dropped) {
			/* Rows came since: push the whole group anew. */
			g->delete_pending = 0;
			g->pushed_version = 0;
		} else
			g->id = 0;
		return 0;
	case PUSH_RETRY:
		transport_failed(a, g, &st, "delete");
		out->transport_failed = 1;
		out->pending = 1;
		return 1;
	case PUSH_REFUSED:
		/* Parked like a refused push: tried again when the group
		 * changes or after retry_max, not hammered. */
		park_set(a, g->id, g->version, mono() + a->c->retry_max);
		log_warnx("gateway refused a delete; will retry", "job=%s "
		    "grouping=%s code=%ld reason=%s retry_in=%.0f",
		    log_q(g->job), log_q(g->grouping), st.http_code,
		    log_q(st.message), a->c->retry_max);
		out->refused = 1;
		return 0;
	}
	return 0;
}

/* What became of one PUT (do_push). */
enum { SENT_NOT = 0, SENT_DELIVERED, SENT_REFUSED, SENT_RETRY };

/*
 * PUT one group, with the agent's own metrics when with_self. *sent (may
 * be NULL) says what became of it. Returns 0 to go on, 1 when the gateway
 * is unreachable.
 */
static int
do_push(agent_t *a, group *g, int with_self, step *out, int *sent)
{
	rctx r;
	int dummy;
	push_status st;
	int64_t version = 0;
	push_err pe;
	spool_err se;
	char reason[600];
	int plain_again = 1;

	if (sent == NULL)
		sent = &dummy;
again:
	*sent = SENT_NOT;
	memset(&r, 0, sizeof(r));
	r.a = a;
	r.own = is_default(a, g);
	r.with_self = with_self;
	dbuf_reset(&a->body);
	if (g->id != 0 &&
	    (se = spool_cursor_open(a->s, g->id, &r.cur, &version)) !=
	    SPOOL_OK) {
		log_errorx("cannot read a group", "job=%s grouping=%s "
		    "reason=%s", log_q(g->job), log_q(g->grouping),
		    log_q(spool_errmsg(a->s)));
		out->spool_failed = 1;
		return 0;
	}
	pe = push_put_stream(a->p, g->job, g->grouping, body_source, &r, &st);
	spool_cursor_close(r.cur);
	if (r.spool_failed) {
		log_errorx("cannot read a group", "job=%s grouping=%s "
		    "reason=%s", log_q(g->job), log_q(g->grouping),
		    log_q(r.why));
		out->spool_failed = 1;
		return 0;
	}
	if (r.why != NULL || pe != PUSH_OK) {
		snprintf(reason, sizeof(reason), "%s", r.why != NULL ? r.why :
		    push_strerror(pe));
		goto refused_locally;
	}
	count_request(a, &st);
	/* The gateway could not read the gzip body: the same group goes
	 * again now, plain, from a new cursor (push.h). */
	if (st.plain_next && plain_again-- > 0)
		goto again;
	switch (st.outcome) {
	case PUSH_DELIVERED:
		*sent = SENT_DELIVERED;
		backoff_reset(&a->gw);
		park_drop(a, g->id);
		if (g->id != 0 && spool_group_pushed(a->s, g->id, version) !=
		    SPOOL_OK) {
			/* The group goes again next round (harmless); a disk
			 * that stays full must not fill the log too. */
			unsigned held;
			if (log_limit_pass(&a->record_lim, mono(), LOG_REPEAT_S,
			    &held))
				log_errorx("cannot record a push; the group "
				    "will be pushed again", "reason=%s "
				    "failures_since_last_report=%u",
				    log_q(spool_errmsg(a->s)), held);
			out->spool_failed = 1;
		} else if (g->id != 0) {
			log_limit_clear(&a->record_lim);
			/* As the spool now says: the rest of the round
			 * does not push it again. */
			if (version > g->pushed_version)
				g->pushed_version = version;
		}
		log_debug("pushed group", "job=%s grouping=%s bytes=%zu "
		    "code=%ld seconds=%.3f", log_q(g->job), log_q(g->grouping),
		    r.sent, st.http_code, st.seconds);
		if (g->parked)
			log_info("gateway accepted a parked group", "job=%s "
			    "grouping=%s", log_q(g->job), log_q(g->grouping));
		g->parked = 0;
		return 0;
	case PUSH_RETRY:
		*sent = SENT_RETRY;
		transport_failed(a, g, &st, "push");
		out->transport_failed = 1;
		out->pending = 1;
		return 1;
	case PUSH_REFUSED:
		/* The message may carry the status already ("HTTP 301:
		 * redirect not followed", or "HTTP 404" for an empty body). */
		if (strncmp(st.message, "HTTP ", 5) == 0)
			snprintf(reason, sizeof(reason), "%s", st.message);
		else
			snprintf(reason, sizeof(reason), "HTTP %ld: %s",
			    st.http_code, st.message);
		break;
	}
refused_locally:
	*sent = SENT_REFUSED;
	out->refused = 1;
	park_set(a, g->id, g->id ? (version ? version : g->version) : 0,
	    mono() + a->c->retry_max);
	log_warnx("gateway refused group; parked, data kept", "job=%s "
	    "grouping=%s reason=%s retry_in=%.0f", log_q(g->job),
	    log_q(g->grouping), log_q(reason), a->c->retry_max);
	if (g->id != 0 && spool_group_park(a->s, g->id, reason) != SPOOL_OK)
		out->spool_failed = 1;
	else if (g->id != 0)
		g->parked = 1;
	return 0;
}

/* Was g refused, and has it neither changed nor waited long enough? */
static int
parked_now(agent_t *a, const group *g, double now)
{
	park *p = park_find(a, g->id);

	return p != NULL && p->version >= g->version && now < p->retry_at;
}

/* Should g be pushed now? */
static int
want_push(agent_t *a, const group *g, double now, int force)
{
	if (g->id == 0 || g->delete_pending)
		return 0;
	if (g->version <= g->pushed_version && !force)
		return 0;
	if (!g->has_series && g->version <= g->pushed_version)
		return 0;
	return !parked_now(a, g, now);
}

/* Has g received no row for group_ttl, as of now (monotonic)? Ages are
 * kept by ttl.c, so a step of the wall clock does not move them. (The
 * default group never ages.) */
static int
aged(const agent_t *a, const group *g, double now)
{
	return a->c->group_ttl > 0 && g->last_row_ms > 0 && !is_default(a, g) &&
	    ttl_age(a->ages, g->id, now) > a->c->group_ttl;
}

static int
expired(agent_t *a, const group *g, double now)
{
	return aged(a, g, now) && !parked_now(a, g, now);
}

/* Should g's delete request go now? */
static int
want_delete(agent_t *a, const group *g, double now)
{
	return g->id != 0 && g->delete_pending && !parked_now(a, g, now);
}

/*
 * Before a request: is there time left? Caps the request at the deadline.
 * In the daemon (gw_yield) a round is also where the loop's other duties
 * are done between two requests, so that a long round (hundreds of
 * groups, a slow gateway) holds nothing up:
 *  - a pending SIGTERM or SIGHUP ends the round at once; the loop then
 *    stops (with its last push) or reloads, and a cut round goes on later
 *    where it stopped, since pushed groups are no longer dirty;
 *  - the inbox is folded once a second, so writers' rows keep moving;
 *  - after one request at least, the round gives way when the
 *    remote-write sink's turn has come (the two share the loop).
 */
static int
time_left(agent_t *a, double deadline, step *out)
{
	double left;

	if (a->gw_yield) {
		int more;
		sig_poll();
		if (sig_pending()) {
			out->yielded = 1;
			out->pending = 1;
			return 0;
		}
		if (mono() >= a->next_fold) {
			(void)fold_all(a, &more);
			a->next_fold = mono() + FOLD_PERIOD_S;
			alive(a);
		}
		if (a->rwp != NULL && out->requests > 0 &&
		    mono() >= a->rw_next) {
			out->yielded = 1;
			out->pending = 1;
			return 0;
		}
	}
	out->requests++;
	if (deadline <= 0)
		return 1;
	left = deadline - mono();
	if (left <= 0) {
		out->pending = 1;
		return 0;
	}
	push_limit(a->p, left);
	return 1;
}

/*
 * Asks the gateway when it started (a cheap GET that does not grow with
 * what it stores). A new start time, or another gateway, means it may have
 * lost every group: the spool then counts them all as never pushed, and
 * this round pushes them all. A gateway that cannot tell (an old version,
 * a proxy that allows only pushes) is asked no more until a reload, and
 * the log says what that costs.
 */
static void
probe_gateway(agent_t *a)
{
	char started[128], *id;
	push_status st;
	push_err pe;
	int changed = 0;
	size_t n;

	if (a->p == NULL || a->probe_off)
		return;
	a->probe_unreachable = 0;
	if ((pe = push_gateway_started(a->p, started, sizeof(started), &st)) !=
	    PUSH_OK || st.outcome == PUSH_RETRY) {
		/* The pushes will meet the same failure. */
		a->probe_unreachable = 1;
		snprintf(a->last_failure, sizeof(a->last_failure), "%s",
		    pe != PUSH_OK ? push_strerror(pe) : st.message);
		return;
	}
	alive(a);
	if (st.outcome == PUSH_REFUSED || started[0] == '\0') {
		/* A daemon says it once; --once would say it every run, so
		 * there it is information. */
		void (*say)(const char *, const char *, ...) =
		    a->gw_yield ? log_warnx : log_info;
		a->probe_off = 1;
		say("the gateway does not tell its start time: a restart of it "
		    "goes unnoticed, and groups it loses come back only when "
		    "they change", "url=%s code=%ld reason=%s",
		    log_q(a->c->gw.url), st.http_code, log_q(st.outcome ==
		    PUSH_REFUSED ? st.message : "no start_time in "
		    "/api/v1/status"));
		return;
	}
	n = strlen(a->c->gw.url) + strlen(started) + 2;
	if ((id = malloc(n)) == NULL)
		return;
	snprintf(id, n, "%s %s", a->c->gw.url, started);
	/* The same gateway as last time costs no write to the spool. */
	if (a->gw_known != NULL && !a->gw_unrecorded &&
	    strcmp(a->gw_known, id) == 0) {
		free(id);
		return;
	}
	if (spool_gateway_seen(a->s, id, &changed) == SPOOL_OK) {
		a->gw_unrecorded = 0;
		(void)log_limit_clear(&a->gw_record_lim);
	} else {
		/* The spool cannot say (busy, full): what this run knows
		 * decides, and the record is tried again next round. */
		unsigned held;
		changed = a->gw_known != NULL && strcmp(a->gw_known, id) != 0;
		a->gw_unrecorded = 1;
		if (log_limit_pass(&a->gw_record_lim, mono(), LOG_REPEAT_S,
		    &held))
			log_warnx("cannot record the gateway's start time; "
			    "tried again next round", "reason=%s "
			    "failures_since_last_report=%u",
			    log_q(spool_errmsg(a->s)), held);
	}
	free(a->gw_known);
	a->gw_known = id;
	if (changed) {
		log_info("the gateway is new or was restarted; pushing every "
		    "group again", "url=%s started=%s", log_q(a->c->gw.url),
		    log_q(started));
		a->resync = 1;
		a->resync_from = 0;
		/* Perhaps upgraded: one that took no gzip may now. */
		push_gzip_again(a->p);
	}
}

/* The inputs of the alerts as of now (selfm_sig): the counters, and what
 * only the loop knows. Reads nothing from the spool. */
static void
self_sig(agent_t *a, selfm_sig *s)
{
	memset(s, 0, sizeof(*s));
	selfm_sig_fill(s, &a->m);
	for (size_t i = 0; i < a->ngroups; i++)
		if (a->groups[i].id != 0 && a->groups[i].parked)
			s->parked++;
	s->rows_rejected = a->rows_rejected;
	if (a->behind_since > 0) {
		double d = mono() - a->behind_since;
		s->backlog = d >= SELFM_STUCK_S ? 2 : d >= SELFM_BACKLOG_S;
	}
}

/*
 * Why the daemon's default group goes at the end of this round, or NULL:
 * its own rows changed (or a resync), something an alert looks at moved
 * since the agent's metrics last went, or the heartbeat is due.
 */
static const char *
self_due(agent_t *a, const group *dg, double now, int force)
{
	selfm_sig sig;
	const char *why;

	if (want_push(a, dg, now, force))
		return "changed";
	if (force)
		return "resync";
	if (a->self_reset != NULL)
		return a->self_reset;
	self_sig(a, &sig);
	if ((why = selfm_sig_diff(&a->self_sig, &sig)) != NULL)
		return why;
	return a->round_start >= a->hb_next ? "heartbeat" : NULL;
}

/*
 * The default group; with the agent's own metrics when with_self, as of
 * now: the spool's counts are read for this push only. Once the gateway
 * answered, the heartbeat starts again and the signature is kept: the one
 * the body carried, or after a refusal the one after it, so that a refusal
 * (which moves the parked count) does not make news of itself.
 */
static int
push_default(agent_t *a, group *dg, int with_self, double deadline,
    step *out)
{
	selfm_sig sig;
	double base;
	int rc, sent;

	if (!time_left(a, deadline, out))
		return 1;
	if (with_self) {
		self_sig(a, &sig);
		if (spool_get_stats(a->s, &a->m.st) != SPOOL_OK)
			log_warnx("cannot read spool stats", "reason=%s",
			    log_q(spool_errmsg(a->s)));
	}
	rc = do_push(a, dg, with_self, out, &sent);
	if (!with_self || (sent != SENT_DELIVERED && sent != SENT_REFUSED))
		return rc;
	if (sent == SENT_REFUSED)
		self_sig(a, &sig);
	a->self_sig = sig;
	a->self_reset = NULL;
	a->once_self_done = 1;
	/* Counted from the round's start, so that it comes back at the same
	 * round, unless the push went late in a long round. */
	base = mono() - a->round_start > a->c->interval ? mono() :
	    a->round_start;
	a->hb_next = base + a->c->heartbeat;
	return rc;
}

/*
 * Without a gateway there is nobody to send DELETE to: requested deletes
 * and expiries take effect in the spool alone, so /metrics and remote
 * write stop showing the group (remote write then marks its series stale).
 */
static void
drop_locally(agent_t *a, step *out)
{
	double now = mono();
	int dropped;

	for (size_t i = 0; i < a->ngroups; i++) {
		group *g = &a->groups[i];
		const char *why = g->delete_pending ? "requested" : "expired";
		if (g->id == 0 || (!g->delete_pending && !aged(a, g, now)))
			continue;
		if (spool_group_deleted(a->s, g->id, g->version, &dropped) !=
		    SPOOL_OK) {
			log_errorx("cannot record a delete", "reason=%s",
			    log_q(spool_errmsg(a->s)));
			out->spool_failed = 1;
			return;
		}
		if (!dropped)
			continue;
		a->m.deletes++;
		a->usage_stale = 1;
		log_info("dropped group", "job=%s grouping=%s why=%s",
		    log_q(g->job), log_q(g->grouping), why);
		g->id = 0;
	}
}

/* Would this round send the gateway anything (as of now)? */
static int
round_sends(agent_t *a, const group *dg, double now, int force)
{
	for (size_t i = 0; i < a->ngroups; i++) {
		const group *g = &a->groups[i];
		if (g->id == 0)
			continue;
		if (want_delete(a, g, now) ||
		    (!g->delete_pending && expired(a, g, now)) ||
		    (g != dg && want_push(a, g, now, force)))
			return 1;
	}
	return self_due(a, dg, now, force) != NULL;
}

/*
 * One round of network work: deletes first (so a group deleted and written
 * again reaches the gateway in that order), then expiries, then pushes of
 * changed groups, then the default group. The daemon sends that with the
 * agent's own metrics when self_due() says so; in a round that lasts longer
 * than an interval a due heartbeat also goes in between. --once sends it
 * only when its rows changed, and adds the agent's metrics only when
 * once_self_metrics asks. Stops at the first transport failure; deadline
 * (monotonic, 0 none) and time_left() stop it between requests.
 */
static void
network_round(agent_t *a, double deadline, step *out)
{
	double now = mono();
	const char *why;
	int force;
	group dflt = { 0 };
	group *dg = NULL;

	if (a->p == NULL) {
		drop_locally(a, out);
		return;
	}
	push_limit(a->p, 0);
	for (size_t i = 0; i < a->ngroups && dg == NULL; i++)
		if (a->groups[i].id != 0 && is_default(a, &a->groups[i]))
			dg = &a->groups[i];
	if (dg == NULL) {
		dflt.job = a->c->job;
		dflt.grouping = a->default_grouping;
		dg = &dflt;
	}
	/* The gateway's start time is asked in a round that sends something,
	 * before it does, at most once an interval (counted from when rounds
	 * are due): an idle agent asks once a heartbeat, so a restart of the
	 * gateway is repaired within one. */
	if (a->gw_yield && a->round_start >= a->probe_next &&
	    round_sends(a, dg, now, a->resync)) {
		probe_gateway(a);
		a->probe_next = a->round_start + a->c->interval;
	}
	force = a->resync;
	for (size_t i = 0; i < a->ngroups; i++) {
		group *g = &a->groups[i];
		if (!want_delete(a, g, now))
			continue;
		if (!time_left(a, deadline, out))
			return;
		if (do_delete(a, g, "requested", out))
			return;
	}
	for (size_t i = 0; i < a->ngroups; i++) {
		group *g = &a->groups[i];
		if (g->id == 0 || g->delete_pending || !expired(a, g, now))
			continue;
		if (!time_left(a, deadline, out))
			return;
		if (do_delete(a, g, "expired", out))
			return;
	}
	for (size_t i = 0; i < a->ngroups; i++) {
		group *g = &a->groups[i];
		if (g == dg || !want_push(a, g, now, force))
			continue;
		/* A resync cut short goes on where it stopped: groups pushed
		 * since it began and unchanged since are not sent again. */
		if (force && g->id < a->resync_from &&
		    g->version <= g->pushed_version)
			continue;
		/* Only in a round that outlasts an interval: otherwise the
		 * end of the round sends it (a resync does anyway). */
		if (a->gw_yield && !force && mono() >= a->hb_next &&
		    mono() - a->round_start >= a->c->interval) {
			log_debug("pushing the agent's own metrics",
			    "why=heartbeat");
			if (push_default(a, dg, 1, deadline, out))
				return;
		}
		if (!time_left(a, deadline, out))
			return;
		if (do_push(a, g, 0, out, NULL))
			return;
		if (force)
			a->resync_from = g->id + 1;
	}
	if (a->once) {
		int self = a->c->once_self_metrics;
		if (((self && !a->once_self_done) ||
		    want_push(a, dg, now, force)) &&
		    push_default(a, dg, self, deadline, out))
			return;
	} else if ((why = self_due(a, dg, now, force)) != NULL) {
		log_debug("pushing the agent's own metrics", "why=%s", why);
		if (push_default(a, dg, 1, deadline, out))
			return;
	}
	a->resync = 0;
	a->resync_from = 0;
}

/* --- remote write -------------------------------------------------------- */

/* Sends the batch; 0 sent or dropped (a 4xx: remote write drops it), 1
 * the receiver is unreachable (the round is retried after the backoff). */
static int
rw_flush(agent_t *a)
{
	const char *body;
	size_t len;
	push_status st;
	rw_err e;

	if (rw_batch_count(a->batch) == 0)
		return 0;
	/* A stop or a reload ends the round's sending here, as one between
	 * a gateway round's requests does; the walk then only notes the
	 * series (no backoff: the loop takes the signal next). */
	if (a->looping) {
		sig_poll();
		if (sig_pending()) {
			rw_batch_reset(a->batch);
			return 1;
		}
	}
	if ((e = rw_batch_encode(a->batch, &body, &len)) != RW_OK) {
		log_errorx("cannot encode a remote write request", "reason=%s",
		    rw_strerror(e));
		rw_batch_reset(a->batch);
		return 0;
	}
	if (rw_post(a->rwp, body, len, &st) != HTTP_OK)
		st.outcome = PUSH_RETRY;
	count_request_rw(a, &st, rw_batch_count(a->batch));
	alive(a);
	switch (st.outcome) {
	case PUSH_DELIVERED:
		/* The backoff is reset by a whole round, not by one request:
		 * a receiver that takes the first requests of each round and
		 * refuses the rest is not to be retried at retry_min. */
		log_debug("remote write sent", "samples=%zu bytes=%zu code=%ld "
		    "seconds=%.3f", rw_batch_count(a->batch), len,
		    st.http_code, st.seconds);
		break;
	case PUSH_REFUSED:
		log_warnx("remote write receiver refused a request; its "
		    "samples are dropped, as the protocol says", "samples=%zu "
		    "code=%ld reason=%s", rw_batch_count(a->batch),
		    st.http_code, log_q(st.message));
		break;
	case PUSH_RETRY: {
		double d = retry_delay(a, &a->rwb, &st);
		a->rw_next = mono() + d;
		log_warnx("remote write receiver unreachable; will retry",
		    "code=%ld reason=%s retry_in=%.3f", st.http_code,
		    log_q(st.message), d);
		rw_batch_reset(a->batch);
		return 1;
	}
	}
	rw_batch_reset(a->batch);
	return 0;
}

/* Remembers the series just added, for its staleness marker; takes it
 * back out when the round gave it already (labels that differ only by an
 * empty value are one series to a receiver). */
static void
rw_note(agent_t *a, const char *name)
{
	int dup;

	if (rw_seen_note(a->seen, a->batch, &dup) != RW_OK) {
		/* Not noted, it could go twice this round: left out, and no
		 * markers this round (it would look gone). */
		rw_batch_drop_last(a->batch);
		a->rw_incomplete = 1;
		log_debug("out of memory: series left out of this round",
		    "name=%s", log_q(name));
	} else if (dup) {
		rw_batch_drop_last(a->batch);
		log_debug("series left out of remote write: sent already this "
		    "round", "name=%s", log_q(name));
	}
}

/* Adds one sample, sending the batch first when it is full. */
static int
rw_add(agent_t *a, const char *name, const char *glab, const char *labels,
    double v, int64_t ts)
{
	rw_err e = rw_batch_add(a->batch, name, glab, labels, v, ts);

	if (e == RW_EFULL && !a->rw_failed && rw_flush(a) != 0)
		a->rw_failed = 1;
	if (e == RW_EFULL)
		e = rw_batch_add(a->batch, name, glab, labels, v, ts);
	if (e != RW_OK) {
		if (e == RW_ENOMEM)
			a->rw_incomplete = 1;
		log_debug("sample left out of remote write", "name=%s "
		    "reason=%s", log_q(name), rw_strerror(e));
		return 0;
	}
	if (rw_batch_last_labels(a->batch) > RW_RECEIVER_MAX_LABELS)
		a->rw_many_labels++;
	rw_note(a, name);
	/* After a failed request the walk goes on only to learn which
	 * series are live, so that markers are right next time. */
	if (a->rw_failed)
		rw_batch_reset(a->batch);
	return 0;
}

/* An observed histogram as its cumulative _bucket samples, _sum, _count. */
static int
rw_hist(agent_t *a, const spool_sample *x, const char *glab, int64_t ts)
{
	const spool_hist *h = x->hist;
	char name[EXPO_MAX_NAME + 16], le[EXPO_VALUE_BUF], *lab;
	size_t ll = strlen(x->labels);
	uint64_t cum = 0;
	int rc = 0;

	if ((lab = malloc(ll + EXPO_VALUE_BUF + 8)) == NULL) {
		a->rw_incomplete = 1;
		return 0;
	}
	snprintf(name, sizeof(name), "%s_bucket", x->name);
	for (size_t i = 0; i <= h->n && rc == 0; i++) {
		cum += h->counts[i];
		if (i < h->n)
			le[expo_format_value(h->bounds[i], le)] = '\0';
		else
			snprintf(le, sizeof(le), "+Inf");
		snprintf(lab, ll + EXPO_VALUE_BUF + 8, "%s%sle=\"%s\"",
		    x->labels, ll ? "," : "", le);
		rc = rw_add(a, name, glab, lab, (double)cum, ts);
	}
	snprintf(name, sizeof(name), "%s_sum", x->name);
	if (rc == 0)
		rc = rw_add(a, name, glab, x->labels, h->sum, ts);
	snprintf(name, sizeof(name), "%s_count", x->name);
	if (rc == 0)
		rc = rw_add(a, name, glab, x->labels, (double)cum, ts);
	free(lab);
	return rc;
}

typedef struct rwctx {
	agent_t *a;
	int64_t ts;        /* the round's samples */
	int64_t mark_ts;   /* its markers */
	double now_wall;
	size_t marks;
} rwctx;

/* Groups past group_ttl are not sent, even while the gateway (down, or
 * refusing the DELETE) still has them: their series go stale. */
static int
rw_keep(void *arg, int64_t gid)
{
	rwctx *r = arg;
	agent_t *a = r->a;
	size_t lo = 0, hi = a->ngroups;

	/* a->groups is in id order. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->groups[mid].id < gid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < a->ngroups && a->groups[lo].id == gid)
		return !aged(a, &a->groups[lo], mono());
	return 1;
}

/* A staleness marker for a series that went away. */
static int
rw_mark(void *arg, const rw_key *k)
{
	rwctx *r = arg;
	rw_err e = rw_batch_add_key(r->a->batch, k, rw_stale_nan(),
	    r->mark_ts);

	if (e == RW_EFULL) {
		if (rw_flush(r->a) != 0)
			return 1;
		e = rw_batch_add_key(r->a->batch, k, rw_stale_nan(),
		    r->mark_ts);
	}
	if (e != RW_OK) {
		/* Kept: it goes again with the next markers. */
		log_debug("staleness marker left out", "reason=%s",
		    rw_strerror(e));
		return 2;
	}
	r->marks++;
	return 0;
}

/*
 * Markers for the series the last whole walk did not see, in requests of
 * their own (a refused request of live samples does not take them along),
 * at mark_ts. Returns 1 when the receiver could not be reached; the
 * series are forgotten only once all their markers went.
 */
static int
rw_markers(agent_t *a, rwctx *r, int64_t mark_ts)
{
	int rc;

	r->mark_ts = mark_ts;
	r->marks = 0;
	rw_batch_reset(a->batch);
	rc = rw_seen_each_gone(a->seen, rw_mark, r);
	if (rc != 1 && rw_flush(a) != 0)
		rc = 1;
	if (rc == 1)
		return 1;
	if (r->marks > 0)
		log_info("remote write: staleness markers sent", "series=%zu",
		    r->marks);
	if (rc == 0 && rw_seen_forget_gone(a->seen) != RW_OK)
		log_debug("out of memory: markers go again next round", NULL);
	return 0;
}

static int
rw_sample(void *arg, const spool_sample *x, const char *extra)
{
	rwctx *r = arg;

	if (x->hist != NULL)
		return rw_hist(r->a, x, extra, r->ts);
	return rw_add(r->a, x->name, extra, x->labels, x->value, r->ts);
}

/* The agent's own metrics, labelled as its default group (job and
 * instance), as push mode puts them on the gateway. */
static int
rw_self(agent_t *a, rwctx *r)
{
	size_t dl = strlen(a->default_grouping), o;
	char *extra = malloc(expo_pair_len("job", a->c->job) + dl + 2);
	int rc = 0;

	if (extra == NULL) {
		a->rw_incomplete = 1;
		return 0;
	}
	o = expo_write_pair(extra, "job", a->c->job);
	extra[o++] = ',';
	memcpy(extra + o, a->default_grouping, dl + 1);
	if (spool_get_stats(a->s, &a->m.st) != SPOOL_OK)
		log_debug("cannot read spool stats", "reason=%s",
		    log_q(spool_errmsg(a->s)));
	for (size_t i = 0; rc == 0 && i < selfm_count_families(); i++)
		rc = selfm_each(&a->m, i, extra, rw_sample, r);
	free(extra);
	return rc;
}

/*
 * One remote-write round, with the round's timestamp, in batches of
 * max_samples_per_send:
 *  1. markers still owed for series an earlier round found gone (their
 *     requests failed), a millisecond before the round's samples, so that
 *     a series back since is not given two values at one timestamp;
 *  2. the agent's own metrics (small, and first: a receiver that takes
 *     only part of each round still gets them);
 *  3. every live series of every group as /metrics shows them (pull_walk:
 *     no duplicate series, which Prometheus answers with a 400 that drops
 *     the whole request); after a failed request the walk goes on only to
 *     note which series are live;
 *  4. markers for the series this walk did not see.
 * A receiver that cannot be reached ends the round and the retry sends the
 * whole state again, so nothing of the last state goes missing. Returns 0,
 * 1 when the receiver could not be reached, 2 when the spool could not be
 * read.
 */
static int
rw_send(agent_t *a)
{
	static const pull_sink sink = { NULL, rw_sample, rw_keep };
	rwctx r = { a, 0, 0, wall(), 0 };
	pull_result res;
	char err[512];
	double start = mono();
	int64_t now_ms = (int64_t)(r.now_wall * 1000.0), slack;
	int rc;

	/* Every round (retries too) has a timestamp of its own, at least
	 * 2 ms after the last (room for owed markers), so a receiver never
	 * gets two values at one timestamp or an older one after a newer
	 * (Prometheus refuses the whole request for either). A small step
	 * back of the clock is bridged; a big one restarts from the clock,
	 * or every series would stay in the future until a restart. */
	slack = (int64_t)(a->c->interval * 2000.0);
	if (slack < 60000)
		slack = 60000;
	r.ts = now_ms;
	if (r.ts < a->rw_ts + 2) {
		r.ts = a->rw_ts + 2;
		if (a->rw_ts - now_ms > slack) {
			log_errorx("the clock went back; remote write timestamps "
			    "start again from it (receivers may refuse them as "
			    "out of order)", "behind_ms=%lld",
			    (long long)(a->rw_ts - now_ms));
			r.ts = now_ms;
		}
	}
	a->rw_ts = r.ts;
	a->rw_failed = 0;
	a->rw_incomplete = 0;
	a->rw_many_labels = 0;
	rw_seen_round(a->seen);
	if (list_groups(a) != SPOOL_OK) {
		a->rw_next = mono() + a->c->interval;
		return 2;
	}
	if (rw_markers(a, &r, r.ts - 1) != 0)
		return 1;
	rw_batch_reset(a->batch);
	(void)rw_self(a, &r);
	rc = pull_walk(a->s, &sink, &r, &res, err, sizeof(err));
	if (rc == PULL_ESPOOL || rc == PULL_ENOMEM) {
		/* What was sent is current; the rest goes next round. No
		 * markers: a series not read is not gone. */
		log_errorx("cannot read the groups for remote write",
		    "reason=%s", log_q(err));
		rw_batch_reset(a->batch);
		a->rw_next = mono() + a->c->interval;
		return 2;
	}
	if (!a->rw_incomplete)
		rw_seen_walked(a->seen);
	/* Sent as they are (the gateway takes up to 64), but common
	 * receivers cut or refuse them: say so, every 10 minutes. */
	if (a->rw_many_labels > 0 && (a->rw_many_said == 0 ||
	    mono() - a->rw_many_said >= 600)) {
		log_warnx("series with more labels than remote-write receivers "
		    "take by default (VictoriaMetrics drops the rest silently, "
		    "Mimir refuses the series)", "series=%zu max_labels=%d",
		    a->rw_many_labels, RW_RECEIVER_MAX_LABELS);
		a->rw_many_said = mono();
	}
	if (!a->rw_failed && rw_flush(a) != 0)
		a->rw_failed = 1;
	if (a->rw_failed)
		return 1;
	if (rw_markers(a, &r, r.ts) != 0)
		return 1;
	backoff_reset(&a->rwb);
	/* Rounds keep to the interval from their starts, so that their
	 * timestamps do not drift by each round's duration; a round longer
	 * than the interval is followed at once, never by a burst. */
	a->rw_next = start + a->c->interval;
	if (a->rw_next < mono())
		a->rw_next = mono();
	return 0;
}

/* Loading and saving the set of series sent (spool_rw_sent_*). */
typedef struct keyvec {
	rw_seen *seen;
	spool_rw_key *k;
	size_t n, cap;
	size_t bad;        /* kept keys that are not keys */
	int oom;
} keyvec;

static int
load_key(const void *key, size_t len, void *arg)
{
	keyvec *v = arg;
	rw_key k = { key, len };
	rw_err e = rw_seen_load(v->seen, &k);

	if (e == RW_EINVAL)
		v->bad++;
	else if (e != RW_OK) {
		v->oom = 1;
		return 1;
	}
	return 0;
}

/*
 * The series an earlier run sent to this receiver, so that the first
 * whole walk finds those that went away while no agent ran. A failure
 * does not hold back the samples: the round goes on without them, and the
 * next round loads again (rw_seen_load merges). Returns 0 or -1.
 */
static int
rw_load(agent_t *a)
{
	keyvec v = { a->seen, NULL, 0, 0, 0, 0 };
	spool_err e = spool_rw_sent_each(a->s, a->c->rw.url, load_key, &v);
	unsigned held;

	if (e == SPOOL_OK && !v.oom) {
		a->rw_loaded = 1;
		if (v.bad > 0)
			log_warnx("the spool's set of series remote write sent "
			    "held keys that are not series (edited by hand?); "
			    "they are removed at the next save", "keys=%zu",
			    v.bad);
		log_debug("remote write: series sent earlier loaded",
		    "series=%zu", rw_seen_count(a->seen));
		return 0;
	}
	if (log_limit_pass(&a->rw_keep_lim, mono(), LOG_REPEAT_S, &held))
		log_errorx("cannot load the series remote write sent earlier; "
		    "those gone since get no staleness marker until it works; "
		    "tried again next round", "reason=%s "
		    "failures_since_last_report=%u", v.oom ? "out of memory" :
		    log_q(spool_errmsg(a->s)), held);
	return -1;
}

static int
key_out(void *arg, const rw_key *k)
{
	keyvec *v = arg;

	if (v->n == v->cap)
		return 1;
	v->k[v->n].p = k->p;
	v->k[v->n].len = k->len;
	v->n++;
	return 0;
}

/*
 * Saves what changed in the set of series sent since the last save: the
 * series noted since, and those forgotten since (only ever after their
 * markers were delivered, so a marker owed is never lost to a save).
 * The steady state has nothing to save and writes nothing. A failure is
 * retried next round; meanwhile the set in memory is the one used.
 * Returns 0 or -1.
 */
static int
rw_save(agent_t *a)
{
	size_t nadd = rw_seen_unsaved(a->seen);
	keyvec v = { a->seen, NULL, 0, 0, 0, 0 };
	spool_err e = SPOOL_ENOMEM;
	unsigned held;

	v.cap = nadd + rw_seen_forgotten(a->seen);
	if (v.cap == 0)
		return 0;
	if ((v.k = malloc(v.cap * sizeof(*v.k))) != NULL &&
	    rw_seen_each_unsaved(a->seen, key_out, &v) == 0 && v.n == nadd &&
	    rw_seen_each_forgotten(a->seen, key_out, &v) == 0 &&
	    v.n == v.cap)
		e = spool_rw_sent_save(a->s, a->c->rw.url, v.k, nadd,
		    v.k + nadd, v.cap - nadd);
	else
		v.oom = 1;
	free(v.k);
	if (e == SPOOL_OK) {
		rw_seen_saved(a->seen);
		if (log_limit_clear(&a->rw_keep_lim))
			log_info("saving the series remote write sent works "
			    "again", NULL);
		log_debug("remote write: series sent saved", "added=%zu "
		    "removed=%zu", nadd, v.cap - nadd);
		return 0;
	}
	if (log_limit_pass(&a->rw_keep_lim, mono(), LOG_REPEAT_S, &held))
		log_errorx("cannot save the series remote write sent; after a "
		    "restart, groups deleted meanwhile may get no staleness "
		    "marker; tried again next round", "reason=%s "
		    "failures_since_last_report=%u", v.oom ? "out of memory" :
		    log_q(spool_errmsg(a->s)), held);
	return -1;
}

/* A round (rw_send) between a load of the set of series sent, the first
 * time for this receiver, and a save of what it changed. Returns as
 * rw_send. */
static int
rw_round(agent_t *a)
{
	int failed = 0, rc;

	if (!a->rw_loaded && rw_load(a) != 0)
		failed = 1;
	rc = rw_send(a);
	if (rw_save(a) != 0)
		failed = 1;
	a->rw_keep_failed = failed;
	return rc;
}

/* --- --once ------------------------------------------------------------- */

static void
sleep_until(double t)
{
	double d = t - mono();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* Is process pid a collector-agent --once? (Its command line says.) */
static int
is_once(long pid)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The arguments, each ending in a NUL. */
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
		if (strcmp(buf + i, "--once") == 0)
			return 1;
	return 0;
}

/*
 * One agent per spool: two would push the same groups in turn, and the
 * slower one's older state could be the last the gateway keeps. The lock
 * is the kernel's, so a killed agent leaves none behind. A daemon, or
 * --once beside a daemon, is refused at once; --once beside another
 * --once (a timer and a batch job that overlap) waits for it, until
 * once_deadline (monotonic). Returns 0, or the exit status after saying
 * why.
 */
static int
claim(agent_t *a, double once_deadline)
{
	long holder = 0;
	spool_err e;

	/* No holder named: it ended between the two looks, or /proc/locks
	 * cannot say; look again. */
	while ((e = spool_claim(a->s, &holder)) == SPOOL_EBUSY &&
	    once_deadline > 0 && (holder == 0 || is_once(holder)) &&
	    mono() < once_deadline)
		sleep_until(mono() + CLAIM_RETRY_S);
	if (e == SPOOL_OK)
		return 0;
	if (e != SPOOL_EBUSY) {
		log_errorx("cannot lock the spool", "reason=%s",
		    log_q(spool_errmsg(a->s)));
		return spool_exit_status(e);
	}
	if (once_deadline > 0 && (holder == 0 || is_once(holder)))
		log_errorx("another collector-agent --once held the spool past "
		    "once_timeout; the rows it did not fold go with the next "
		    "run", "spool=%s pid=%ld once_timeout=%g",
		    log_q(a->c->spool_path), holder, a->c->once_timeout);
	else if (once_deadline > 0)
		log_errorx("a running collector-agent owns the spool and "
		    "delivers its rows; --once did nothing", "spool=%s pid=%ld",
		    log_q(a->c->spool_path), holder);
	else
		log_errorx("the spool is in use by another collector-agent; "
		    "stop it first, or give each agent a spool of its own",
		    "spool=%s pid=%ld", log_q(a->c->spool_path), holder);
	return EX_UNAVAILABLE;
}


int
agent_once(agent_t *a)
{
	double deadline = mono() + a->c->once_timeout;
	int refused = 0, more = 1, rw_failed = 0;
	int rc;

	if ((rc = claim(a, deadline)) != 0)
		return rc;
	a->once = 1;
	/* The limits' usage is read after rows were folded, and for the
	 * agent's own metrics when they go. */
	a->usage_stale = a->c->once_self_metrics;
	/* Drain the inbox first: a batch job's rows all go in this run. */
	for (int i = 0; i < 1000 && more; i++)
		if (fold_all(a, &more) != SPOOL_OK)
			return EX_IOERR;
	/* Remote write first: it sends the state as it is, and does not
	 * wait for the gateway. Each request is capped at the time left. */
	double rw_rejected = a->m.rw_requests[SELFM_REJECTED];
	int rwrc;
	while (a->rwp != NULL && (http_limit(a->rwp, deadline - mono()),
	    (rwrc = rw_round(a)) != 0)) {
		if (rwrc == 2)
			return EX_IOERR;
		if (a->rw_next >= deadline || mono() >= deadline) {
			log_errorx("remote write receiver not reachable in time; "
			    "the state is kept for the next run", "url=%s",
			    log_q(a->c->rw.url));
			rw_failed = 1;
			break;
		}
		sleep_until(a->rw_next);
	}
	/* The set of series sent is not in the spool: the next run may miss
	 * or repeat markers. Said (rw_save), and the status says the spool
	 * failed, once the gateway had its turn. */
	int keep_failed = a->rwp != NULL && a->rw_keep_failed;
	if (a->m.rw_requests[SELFM_REJECTED] > rw_rejected) {
		/* Dropped, not kept: remote write has no parking. */
		log_warnx("the remote write receiver refused some samples; they "
		    "are dropped, as the protocol says", NULL);
		refused = 1;
	}
	if (a->p == NULL) {
		step out = { 0 };
		if (list_groups(a) != SPOOL_OK)
			return EX_IOERR;
		drop_locally(a, &out);
		if (out.spool_failed)
			return EX_IOERR;
		log_info("pushing is disabled; folded only", NULL);
		return refused ? EX_DATAERR : keep_failed ? EX_IOERR :
		    rw_failed ? EX_TEMPFAIL : EX_OK;
	}
	/* A gateway restarted since the last run lost the groups that run
	 * delivered: they all go again. */
	push_limit(a->p, deadline - mono());
	probe_gateway(a);
	/* Rounds until everything went or is parked; a transport failure
	 * waits out the backoff, within the deadline. */
	if (list_groups(a) != SPOOL_OK)
		return EX_IOERR;
	for (int round = 0; round < 100000; round++) {
		step out = { 0 };

		park_prune(a);
		a->round_start = mono();
		network_round(a, deadline, &out);
		refused |= out.refused;
		if (out.spool_failed)
			return EX_IOERR;
		if (!out.transport_failed && !out.pending)
			break;
		if (a->gw_retry_at >= deadline || mono() >= deadline)
			goto timeout;
		sleep_until(a->gw_retry_at);
		if (list_groups(a) != SPOOL_OK)
			return EX_IOERR;
	}
	if (refused) {
		log_warnx("done; the gateway refused some data (kept, parked)",
		    "hint=%s", log_q("collector-spool stats"));
		return EX_DATAERR;
	}
	if (keep_failed)
		return EX_IOERR;
	if (rw_failed)
		return EX_TEMPFAIL;
	/* Nothing to deliver is not a failure, but a gateway that did not
	 * answer is worth a word: the next run with data will wait for it. */
	if (a->probe_unreachable && a->m.pushes[SELFM_SUCCESS] == 0) {
		log_warnx("done; nothing to deliver, and the gateway did not "
		    "answer", "url=%s", log_q(a->c->gw.url));
		return EX_OK;
	}
	log_info("done; all delivered", NULL);
	return EX_OK;
timeout:
	/* The reason too: the time may have run out before a push could
	 * say it (a slow TLS handshake for the start-time question). */
	log_errorx("gateway not reachable in time; everything is kept for "
	    "the next run", "url=%s once_timeout=%g reason=%s",
	    log_q(a->c->gw.url), a->c->once_timeout,
	    log_q(a->last_failure[0] ? a->last_failure : "no answer"));
	return refused ? EX_DATAERR : EX_TEMPFAIL;
}

/* --- the daemon --------------------------------------------------------- */

static void
last_push(agent_t *a)
{
	double deadline = mono() + LAST_PUSH_SECONDS;
	step out = { 0 };
	int more;

	if (fold_all(a, &more) != SPOOL_OK || a->p == NULL)
		return;
	if (list_groups(a) != SPOOL_OK)
		return;
	a->gw_retry_at = 0;
	a->round_start = mono();
	network_round(a, deadline, &out);
	if (out.transport_failed || out.pending)
		log_warnx("stopping with data not yet delivered; it is kept in "
		    "the spool", NULL);
}

int
agent_run(agent_t *a, cfg *(*reload)(void *), void *arg)
{
	double next_push, now;
	int status = EX_OK, ready = 0, moved = 0;

	if ((status = claim(a, 0)) != 0)
		return status;
	log_info("started", "spool=%s gateway=%s push=%s interval=%g job=%s "
	    "instance=%s", log_q(a->c->spool_path), log_q(a->c->gw.url),
	    a->p ? "on" : "off", a->c->interval, log_q(a->c->job),
	    log_q(a->c->instance));
	notify_init();
	/* The signals are blocked since main() began (sig.c): the server
	 * thread inherits the mask, so they reach this thread's wait. */
	if ((status = serve_apply(a)) != 0)
		return status;
	now = mono();
	next_push = now;
	a->next_fold = now;
	/* The first round pushes the agent's own metrics: the gateway has
	 * not heard of this run (nor the limits been read). */
	a->self_reset = "start";
	a->hb_next = now + a->c->heartbeat;
	a->usage_stale = 1;
	a->probe_next = now;
	a->looping = 1;
	for (;;) {
		int more = 0;

		/* Also when every wait is cut short by work to do. */
		sig_poll();
		if (sig_stop_requested())
			break;

		if (sig_take_reload()) {
			cfg *n;
			notify_send("RELOADING=1");
			if (reload != NULL && (n = reload(arg)) != NULL) {
				if (apply_cfg(a, n) == 0) {
					log_info("configuration reloaded", NULL);
					/* Limits, job, instance may be new:
					 * the next round says so. */
					a->self_reset = "reload";
					a->usage_stale = 1;
					a->lw.next = 0;
					if (limit_check(&a->lw, a->s, a->c, &a->m,
					    mono()))
						a->usage_stale = 0;
					/* A listener that cannot move stays
					 * where it was (logged). */
					(void)serve_apply(a);
					serve_set_ready(a->srv, ready);
				} else {
					cfg_free(n);
					log_warnx("reload failed; the old "
					    "configuration stays", NULL);
				}
			} else if (reload != NULL)
				log_warnx("new configuration is invalid; the "
				    "old one stays", NULL);
			/* Before the first fold, READY=1 is still to
			 * come. */
			if (ready)
				notify_send("READY=1");
		}
		now = mono();
		if (now >= a->next_fold) {
			spool_err e = fold_all(a, &more);
			if (e == SPOOL_ECORRUPT || e == SPOOL_ENOTSPOOL ||
			    e == SPOOL_ENEWER) {
				status = EX_IOERR;
				break;
			}
			/* Fold at least once a second so the inbox stays
			 * small, without waking more often when idle. */
			a->next_fold = now + (a->c->interval < FOLD_PERIOD_S ?
			    a->c->interval : FOLD_PERIOD_S);
			if (!ready && e == SPOOL_OK) {
				ready = 1;
				serve_set_ready(a->srv, 1);
				notify_send("READY=1");
			}
			/* Writers open the path; if it is another file now,
			 * their rows would never be seen by this process. */
			if (spool_moved(a->s, &moved) == SPOOL_OK && moved) {
				log_errorx("the spool file was deleted or "
				    "replaced; stopping so that a restart opens "
				    "the new one", "spool=%s",
				    log_q(a->c->spool_path));
				status = EX_IOERR;
				break;
			}
		}
		alive(a);
		now = mono();
		if (now >= next_push && now >= a->gw_retry_at) {
			step out = { 0 };
			/* Rounds are due an interval apart: the heartbeat
			 * counts from when they were due. */
			a->round_start = now;
			if (list_groups(a) == SPOOL_OK) {
				park_prune(a);
				a->gw_yield = 1;
				network_round(a, 0, &out);
				a->gw_yield = 0;
			}
			/* Cut short for remote write: back right after it. */
			if (out.yielded)
				next_push = now;
			else if (!out.transport_failed)
				next_push = now + a->c->interval;
			/* Once an interval, so the WAL does not grow while
			 * writers keep a reader busy. A reader that holds on
			 * is routine (debug); anything else, such as a full
			 * disk, is said once in a while. */
			spool_err ce = spool_checkpoint(a->s);
			if (ce == SPOOL_OK)
				(void)log_limit_clear(&a->ckpt_lim);
			else if (ce == SPOOL_EBUSY)
				log_debug("checkpoint skipped", "reason=%s",
				    log_q(spool_errmsg(a->s)));
			else {
				unsigned held;
				if (log_limit_pass(&a->ckpt_lim, mono(),
				    LOG_REPEAT_S, &held))
					log_warnx("cannot checkpoint the spool; "
					    "its WAL file grows until this "
					    "works", "reason=%s "
					    "failures_since_last_report=%u",
					    log_q(spool_errmsg(a->s)), held);
			}
		}
		/* The remote-write sink runs on its own schedule and backoff:
		 * one failing sink never holds back the other. */
		if (a->rwp != NULL && mono() >= a->rw_next && !sig_pending())
			(void)rw_round(a);
		if (more)
			continue;
		{
			double t = a->next_fold;
			double np = next_push > a->gw_retry_at ? next_push :
			    a->gw_retry_at;
			double wd = notify_watchdog_interval();
			if (np < t)
				t = np;
			if (a->rwp != NULL && a->rw_next < t)
				t = a->rw_next;
			/* systemd's watchdog may want pings more often. */
			if (wd > 0 && mono() + wd < t)
				t = mono() + wd;
			sig_wait(t - mono());
		}
	}
	a->looping = 0;
	notify_send("STOPPING=1");
	serve_set_ready(a->srv, 0);
	/* After a move the old file's state is still the newest the agent
	 * has delivered nothing of: push it once more. */
	if (status == EX_OK || moved) {
		log_info("stopping; last push", NULL);
		last_push(a);
	}
	/* What the last round could not save (markers are not sent at a
	 * stop: the data is still there for the next start). */
	if (a->rwp != NULL && a->rw_keep_failed)
		(void)rw_save(a);
	serve_stop(a->srv);
	a->srv = NULL;
	log_info("stopped", NULL);
	return status;
}
