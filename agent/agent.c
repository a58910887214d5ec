/*
 * agent — the loop. See agent.h; the sinks it drives are described in
 * sink.h.
 *
 * The loop owns what is the agent's own: the settings applied, the spool
 * handle and the fold of its inbox, the group list and counters the sinks
 * share, the schedule (which sink is due, when to wake), the signals, the
 * lock on the spool, --once's order and exit statuses, and the last push
 * at a stop. Everything that belongs to one place the state goes to lives
 * in that sink's file.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "agent.h"
#include "agent_test.h"
#include "clock.h"
#include "spool-agent.h"
#include "expo.h"
#include "groups.h"
#include "limit.h"
#include "log.h"
#include "notify.h"
#include "selfm.h"
#include "sig.h"
#include "sink.h"

/* Fold batches per step, so a flood of rows cannot starve the sinks. */
#define MAX_FOLDS_PER_STEP 200
/* --once drains the inbox in at most this many steps (each about a
 * second) before it sends: a bound should writers never stop. */
#define ONCE_MAX_FOLD_STEPS 1000
/* The deadline for the last push after SIGTERM. */
#define LAST_PUSH_SECONDS 5.0
/* The loop folds at least this often, during long rounds too. */
#define FOLD_PERIOD_S 1.0
/* --once waiting for another --once's lock looks again this often. */
#define CLAIM_RETRY_S 0.1

/* The sinks, in the order the daemon runs those due at once. A new sink
 * is a file of its own that defines sink_<name>_ops (sink.h), and its
 * name here. */
#define SINKS(X) X(gw) X(rw) X(pull)

#define SINK_DECLARE(n) extern const sink_ops sink_##n##_ops;
#define SINK_ENTRY(n) &sink_##n##_ops,
SINKS(SINK_DECLARE)
static const sink_ops *const default_sinks[] = { SINKS(SINK_ENTRY) };

struct agent {
	cfg *c;
	spool_t *s;
	spool_buckets *buckets;
	selfm m;                  /* the agent's own counters */
	groups gl;                /* the groups, as a sink last listed them */
	sink_env env;             /* what the sinks share (points into a) */
	const sink_ops *const *ops;
	void **sinks;             /* one per ops; NULL: not asked for */
	size_t nsinks;
	int looping;              /* in the daemon's loop: signals are taken
	                           * and folds done between requests */
	int ready;                /* the first fold is done */
	double next_fold;         /* monotonic: the loop's next fold */
	double next_tick;         /* monotonic: the next checkpoint (and, with
	                           * no sink for deletes, local drops) */
	log_limit fold_lim;       /* fold failures */
	log_limit ckpt_lim;       /* checkpoints that failed */
	log_limit reject_lim;     /* "rows rejected" lines */
	size_t rejected_unsaid;   /* rows rejected since the last such line */
	limit_watch lw;           /* reads and warnings of the limits */
};

/* `instance="<value>"` with the exposition escapes. */
static char *
make_default_grouping(const char *instance)
{
	char *g = malloc(expo_pair_len("instance", instance) + 1);

	if (g != NULL)
		expo_write_pair(g, "instance", instance);
	return g;
}

/* Does some sink carry deletes and expiries to its target? */
static int
has_deleter(const agent_t *a)
{
	for (size_t i = 0; i < a->nsinks; i++)
		if (a->sinks[i] != NULL && a->ops[i]->carries_deletes)
			return 1;
	return 0;
}

/*
 * Sets up what depends on the settings: the default grouping, the
 * histogram buckets, and the sinks: those c asks for that do not exist are
 * made, the others prepare the new settings, and those c no longer asks
 * for are freed. Only when every sink could is anything applied (the
 * prepared settings committed): on failure nothing of a is changed and the
 * status is returned; c is the caller's then.
 */
static int
apply_cfg(agent_t *a, cfg *c)
{
	char *dg = NULL;
	spool_buckets *b = NULL;
	void **fresh = NULL, **pending = NULL;
	unsigned char *state = NULL;   /* 1 prepared, 2 unwanted */
	size_t i, k;
	int rc = 0;

	if ((dg = make_default_grouping(c->instance)) == NULL)
		goto nomem;
	if (c->n_histograms > 0) {
		b = calloc(c->n_histograms, sizeof(*b));
		if (b == NULL)
			goto nomem;
		for (i = 0; i < c->n_histograms; i++) {
			const cfg_histogram *h = &c->histograms[i];

			b[i].name = h->name;
			/* Native: none; both: n 0 is the default bounds. */
			b[i].bounds = h->bounds;
			b[i].n = h->n;
			b[i].form = h->form == CFG_HIST_NATIVE ?
			    SPOOL_HIST_NATIVE : h->form == CFG_HIST_BOTH ?
			    SPOOL_HIST_BOTH : SPOOL_HIST_CLASSIC;
			b[i].schema = h->schema;
			b[i].zero_threshold = h->zero_threshold;
			b[i].max_buckets = h->max_buckets;
		}
	}
	if ((fresh = calloc(a->nsinks, sizeof(*fresh))) == NULL ||
	    (pending = calloc(a->nsinks, sizeof(*pending))) == NULL ||
	    (state = calloc(a->nsinks, 1)) == NULL)
		goto nomem;
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
	for (i = 0; i < a->nsinks && rc == 0; i++)
		if (a->sinks[i] == NULL)
			rc = a->ops[i]->new(&a->env, c, &fresh[i]);
	for (i = 0; i < a->nsinks && rc == 0; i++) {
		if (a->sinks[i] == NULL)
			continue;
		rc = a->ops[i]->prepare(a->sinks[i], c, &pending[i]);
		if (rc == SINK_UNWANTED) {
			state[i] = 2;
			rc = 0;
		} else if (rc == 0)
			state[i] = 1;
	}
	if (rc != 0) {
		for (k = 0; k < a->nsinks; k++) {
			if (pending[k] != NULL && a->ops[k]->discard != NULL)
				a->ops[k]->discard(pending[k]);
			if (fresh[k] != NULL)
				a->ops[k]->free(fresh[k]);
		}
		free(fresh);
		free(pending);
		free(state);
		free(dg);
		free(b);
		return rc;
	}
	/* While env->c is still the settings before: a sink compares. */
	for (i = 0; i < a->nsinks; i++)
		if (state[i] == 1)
			a->ops[i]->commit(a->sinks[i], c, pending[i]);
	free(a->env.default_grouping);
	free(a->buckets);
	if (a->c != NULL && a->c != c)
		cfg_free(a->c);
	a->c = c;
	a->env.c = c;
	a->env.default_grouping = dg;
	a->buckets = b;
	groups_set(&a->gl, c->job, dg, c->group_ttl);
	for (i = 0; i < a->nsinks; i++) {
		if (state[i] == 2) {
			a->ops[i]->free(a->sinks[i]);
			a->sinks[i] = NULL;
		}
		if (fresh[i] == NULL)
			continue;
		a->sinks[i] = fresh[i];
		/* Asked for by a reload: started as at the start (a listener
		 * that cannot bind is logged, and tried at the next reload). */
		if (a->looping && a->ops[i]->start != NULL)
			(void)a->ops[i]->start(fresh[i]);
		if (a->looping && a->ops[i]->ready != NULL)
			a->ops[i]->ready(fresh[i], a->ready);
	}
	free(fresh);
	free(pending);
	free(state);
	log_setlevel(c->log_level);
	return 0;
nomem:
	free(fresh);
	free(pending);
	free(state);
	free(dg);
	free(b);
	log_errorx("out of memory", NULL);
	return EX_OSERR;
}

/* --- liveness and the sinks' calls between requests ---------------------- */

/* The loop is alive: tell systemd's watchdog, and each sink that wants to
 * know (the /metrics listener's /-/healthy and counters). */
static void
alive(agent_t *a)
{
	notify_alive();
	for (size_t i = 0; i < a->nsinks; i++)
		if (a->sinks[i] != NULL && a->ops[i]->beat != NULL)
			a->ops[i]->beat(a->sinks[i]);
}

static spool_err fold_all(agent_t *a, int *more);

/*
 * env->between(): a sink between two requests. Outside the daemon's loop
 * only the beat. In it: a pending SIGTERM or SIGHUP ends the round (the
 * loop takes it next), the inbox is folded once a second so writers' rows
 * keep moving, and a round gives way when another sink is due.
 */
static sink_go
loop_between(sink_env *env, const void *self, unsigned may)
{
	agent_t *a = env->loop;
	int more;

	if (may & SINK_MAY_BEAT)
		alive(a);
	if (!a->looping)
		return SINK_GO;
	if (may & SINK_MAY_SIGNALS) {
		sig_poll();
		if (sig_pending())
			return SINK_STOP;
	}
	if ((may & SINK_MAY_FOLD) && clock_mono() >= a->next_fold) {
		(void)fold_all(a, &more);
		a->next_fold = clock_mono() + FOLD_PERIOD_S;
		alive(a);
	}
	if (may & SINK_MAY_YIELD) {
		double now = clock_mono();
		for (size_t i = 0; i < a->nsinks; i++)
			if (a->sinks[i] != NULL && a->sinks[i] != self &&
			    now >= a->ops[i]->due(a->sinks[i]))
				return SINK_YIELD;
	}
	return SINK_GO;
}

int
agent_new_with(cfg *c, const sink_ops *const *sinks, size_t n,
    agent_t **out)
{
	spool_options so = { 0, 0 };
	char err[1024];
	agent_t *a;
	spool_err e;
	int rc;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->sinks = calloc(n ? n : 1, sizeof(*a->sinks))) == NULL ||
	    groups_init(&a->gl) != 0) {
		if (a != NULL) {
			groups_fini(&a->gl);
			free(a->sinks);
		}
		free(a);
		cfg_free(c);
		log_errorx("out of memory", NULL);
		return EX_OSERR;
	}
	a->ops = sinks;
	a->nsinks = n;
	so.synchronous_full = c->spool_sync_full;
	e = spool_open(c->spool_path, &so, &a->s, err, sizeof(err));
	if (e == SPOOL_OK &&
	    (e = spool_set_cache(a->s, SINK_CACHE_PAGES)) != SPOOL_OK)
		snprintf(err, sizeof(err), "%s", spool_errmsg(a->s));
	if (e != SPOOL_OK) {
		log_errorx("cannot open the spool", "path=%s reason=%s",
		    log_q(c->spool_path), log_q(err));
		cfg_free(c);
		agent_free(a);
		/* A bad spool path is a configuration error here. */
		return e == SPOOL_EINVAL ? EX_CONFIG : spool_exit_status(e);
	}
	a->env.s = a->s;
	a->env.m = &a->m;
	a->env.gl = &a->gl;
	a->env.between = loop_between;
	a->env.loop = a;
	if ((rc = apply_cfg(a, c)) != 0) {
		cfg_free(c);
		agent_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

int
agent_new(cfg *c, agent_t **out)
{
	return agent_new_with(c, default_sinks,
	    sizeof(default_sinks) / sizeof(default_sinks[0]), out);
}

void
agent_free(agent_t *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nsinks; i++)
		if (a->sinks[i] != NULL)
			a->ops[i]->free(a->sinks[i]);
	free(a->sinks);
	groups_fini(&a->gl);
	spool_close(a->s);
	free(a->env.default_grouping);
	free(a->buckets);
	cfg_free(a->c);
	free(a);
}

/* --- fold ------------------------------------------------------------ */

/* Folds until the inbox is empty or the step's share is used up. */
static spool_err
fold_all(agent_t *a, int *more)
{
	/* A step folds for about this long at most, so that a backlog
	 * holds up the sinks and the signals no more than before. */
	const double step_seconds = 1.0;
	sink_env *env = &a->env;
	spool_fold_options o = { 0 };
	spool_fold_result r;
	spool_err e;
	unsigned held;
	double t0 = clock_mono();

	o.default_job = a->c->job;
	o.default_grouping = env->default_grouping;
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
			if (log_limit_pass(&a->fold_lim, clock_mono(),
			    LOG_REPEAT_S, &held))
				log_errorx("cannot fold the inbox", "reason=%s "
				    "failures_since_last_report=%u",
				    log_q(spool_errmsg(a->s)), held);
			if (env->behind_since == 0)
				env->behind_since = clock_mono();
			return e;
		}
		if (log_limit_clear(&a->fold_lim))
			log_info("folding works again", NULL);
		env->rows_rejected += (double)r.rejected;
		/* A writer stuck at a limit is refused every second: the
		 * first refusal is said at once, the rest once a minute with
		 * how many. */
		a->rejected_unsaid += r.rejected;
		if (a->rejected_unsaid > 0 && log_limit_pass(&a->reject_lim,
		    clock_mono(), LOG_REPEAT_S, &held)) {
			log_warnx("rows rejected", "rows=%zu hint=%s",
			    a->rejected_unsaid, log_q("collector-spool rejected"));
			a->rejected_unsaid = 0;
		}
		if (r.rows > 0) {
			env->usage_stale = 1;
			log_debug("folded", "rows=%zu lines=%zu groups=%zu",
			    r.rows, r.lines, r.groups);
		}
		if (r.rows == 0) {
			/* The inbox is folded: the limits' usage as of now,
			 * if rows may have changed it (it counts every
			 * series: an idle agent does not read it). */
			env->behind_since = 0;
			if (env->usage_stale && limit_check(&a->lw, a->s, a->c,
			    &a->m, clock_mono()))
				env->usage_stale = 0;
			return SPOOL_OK;
		}
		/* Between two batches (each is short) a SIGTERM or SIGHUP
		 * is taken at once, and the step gives way after a while:
		 * a backlog goes on at the next one. The first batch is
		 * folded even with a signal pending, as for the last push. */
		sig_poll();
		if (sig_pending() || clock_mono() - t0 >= step_seconds)
			break;
	}
	*more = 1;
	if (env->behind_since == 0)
		env->behind_since = clock_mono();
	return SPOOL_OK;
}

/*
 * Without a sink that carries deletes (no gateway) there is nobody to send
 * DELETE to: requested deletes and expiries take effect in the spool
 * alone, so /metrics and remote write stop showing the group (remote write
 * then marks its series stale). It is the loop's, not a sink's: it is what
 * happens when no sink is there to do it. Returns 0, or -1 when the spool
 * failed (logged).
 */
static int
drop_locally(agent_t *a)
{
	groups *gl = &a->gl;
	double now = clock_mono();
	int dropped;

	if (groups_list(gl, a->s) != SPOOL_OK)
		return -1;
	for (size_t i = 0; i < gl->n; i++) {
		group *g = &gl->v[i];
		const char *why = g->delete_pending ? "requested" : "expired";
		if (g->id == 0 || (!g->delete_pending &&
		    !groups_aged(gl, g, now)))
			continue;
		if (spool_group_deleted(a->s, g->id, g->version, &dropped) !=
		    SPOOL_OK) {
			log_errorx("cannot record a delete", "reason=%s",
			    log_q(spool_errmsg(a->s)));
			return -1;
		}
		if (!dropped)
			continue;
		a->m.deletes++;
		a->env.usage_stale = 1;
		log_info("dropped group", "job=%s grouping=%s why=%s",
		    log_q(g->job), log_q(g->grouping), why);
		g->id = 0;
	}
	return 0;
}

/* Once an interval, so the WAL does not grow while writers keep a reader
 * busy. A reader that holds on is routine (debug); anything else, such as
 * a full disk, is said once in a while. */
static void
checkpoint(agent_t *a)
{
	spool_err ce = spool_checkpoint(a->s);
	unsigned held;

	if (ce == SPOOL_OK)
		(void)log_limit_clear(&a->ckpt_lim);
	else if (ce == SPOOL_EBUSY)
		log_debug("checkpoint skipped", "reason=%s",
		    log_q(spool_errmsg(a->s)));
	else if (log_limit_pass(&a->ckpt_lim, clock_mono(), LOG_REPEAT_S,
	    &held))
		log_warnx("cannot checkpoint the spool; its WAL file grows "
		    "until this works", "reason=%s "
		    "failures_since_last_report=%u",
		    log_q(spool_errmsg(a->s)), held);
}

/* --- --once ------------------------------------------------------------- */

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
	    clock_mono() < once_deadline)
		clock_sleep_until(clock_mono() + CLAIM_RETRY_S);
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



/*
 * --once: fold everything, then each sink's pass: first those that carry
 * no deletes (remote write sends the state as it is, and waits for no
 * gateway), then those that do (the gateway, whose rounds may wait out a
 * backoff until the deadline). Each request is capped at the time left.
 */
int
agent_once(agent_t *a)
{
	double deadline = clock_mono() + a->c->once_timeout;
	sink_result all = { 0 };
	int more = 1, said = 0;
	int rc;

	if ((rc = claim(a, deadline)) != 0)
		return rc;
	/* The limits' usage is read after rows were folded, and for the
	 * agent's own metrics when they go. */
	a->env.usage_stale = a->c->once_self_metrics;
	/* Drain the inbox first: a batch job's rows all go in this run. */
	for (int i = 0; i < ONCE_MAX_FOLD_STEPS && more; i++)
		if (fold_all(a, &more) != SPOOL_OK)
			return EX_IOERR;
	for (int deletes = 0; deletes <= 1; deletes++)
		for (size_t i = 0; i < a->nsinks; i++) {
			sink_result r = { 0 };
			if (a->sinks[i] == NULL ||
			    a->ops[i]->carries_deletes != deletes)
				continue;
			a->ops[i]->once(a->sinks[i], deadline, &r);
			if (r.spool_failed)
				return EX_IOERR;
			all.refused |= r.refused;
			all.late |= r.late;
			all.keep_failed |= r.keep_failed;
			if (r.done_warn != NULL) {
				all.done_warn = r.done_warn;
				all.done_target = r.done_target;
			}
		}
	if (!has_deleter(a)) {
		if (drop_locally(a) != 0)
			return EX_IOERR;
		log_info("pushing is disabled; folded only", NULL);
		said = 1;
	}
	/* Settings the target refused first, then refused data: both need a
	 * person. Then a spool that could not keep a sink's record, then a
	 * target not reached in time. */
	if (all.refused & SINK_REFUSED_CONFIG)
		return EX_CONFIG;
	if (all.refused)
		return EX_DATAERR;
	if (all.keep_failed)
		return EX_IOERR;
	if (all.late)
		return EX_TEMPFAIL;
	/* A word about a target that did not answer, only when the run is
	 * otherwise done: the next run with data will wait for it. */
	if (all.done_warn != NULL)
		log_warnx(all.done_warn, "url=%s", log_q(all.done_target));
	else if (!said)
		log_info("done; all delivered", NULL);
	return EX_OK;
}

/* --- the daemon --------------------------------------------------------- */


/* The start line: where the rows go. A gateway is named only when pushing
 * is on; remote write and the listener when they are set. */
static void
started(const agent_t *a)
{
	const cfg *c = a->c;
	char gw[600] = "", rw[600] = "", ls[300] = "";

	if (has_deleter(a))
		snprintf(gw, sizeof(gw), " gateway=%s push=on",
		    log_q(c->gw.url));
	else
		snprintf(gw, sizeof(gw), " push=off");
	if (c->rw.url != NULL && *c->rw.url != '\0')
		snprintf(rw, sizeof(rw), " remote_write=%s", log_q(c->rw.url));
	if (c->listen != NULL && *c->listen != '\0')
		snprintf(ls, sizeof(ls), " listen=%s", log_q(c->listen));
	log_info("started", "spool=%s%s%s%s interval=%g job=%s instance=%s",
	    log_q(c->spool_path), gw, rw, ls, c->interval, log_q(c->job),
	    log_q(c->instance));
}
/* SIGHUP: new settings, or the old ones stay. */
static void
reload_now(agent_t *a, cfg *(*reload)(void *), void *arg)
{
	cfg *n;

	notify_send("RELOADING=1");
	if (reload != NULL && (n = reload(arg)) != NULL) {
		if (apply_cfg(a, n) == 0) {
			log_info("configuration reloaded", NULL);
			/* The limits may be new. */
			a->env.usage_stale = 1;
			a->lw.next = 0;
			if (limit_check(&a->lw, a->s, a->c, &a->m, clock_mono()))
				a->env.usage_stale = 0;
		} else {
			cfg_free(n);
			log_warnx("reload failed; the old configuration stays",
			    NULL);
		}
	} else if (reload != NULL)
		log_warnx("new configuration is invalid; the old one stays",
		    NULL);
	/* Before the first fold, READY=1 is still to come. */
	if (a->ready)
		notify_send("READY=1");
}

static void
set_ready(agent_t *a, int ready)
{
	a->ready = ready;
	for (size_t i = 0; i < a->nsinks; i++)
		if (a->sinks[i] != NULL && a->ops[i]->ready != NULL)
			a->ops[i]->ready(a->sinks[i], ready);
}

int
agent_run(agent_t *a, cfg *(*reload)(void *), void *arg)
{
	double now, deadline;
	int status = EX_OK, moved = 0, last;

	if ((status = claim(a, 0)) != 0)
		return status;
	started(a);
	notify_init();
	/* The signals are blocked since main() began (sig.c): the server
	 * thread inherits the mask, so they reach this thread's wait. */
	for (size_t i = 0; i < a->nsinks; i++)
		if (a->sinks[i] != NULL && a->ops[i]->start != NULL &&
		    (status = a->ops[i]->start(a->sinks[i])) != 0)
			return status;
	now = clock_mono();
	a->next_fold = now;
	a->next_tick = now;
	/* The limits have not been read in this run. */
	a->env.usage_stale = 1;
	a->looping = 1;
	for (;;) {
		int more = 0;

		/* Also when every wait is cut short by work to do. */
		sig_poll();
		if (sig_stop_requested())
			break;
		if (sig_take_reload())
			reload_now(a, reload, arg);
		now = clock_mono();
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
			if (!a->ready && e == SPOOL_OK) {
				set_ready(a, 1);
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
		/* Each sink on its own schedule and backoff: one failing
		 * sink never holds back another. A pending signal is taken
		 * first. */
		now = clock_mono();
		for (size_t i = 0; i < a->nsinks; i++)
			if (a->sinks[i] != NULL && !sig_pending() &&
			    clock_mono() >= a->ops[i]->due(a->sinks[i]))
				a->ops[i]->round(a->sinks[i], 0);
		if (now >= a->next_tick) {
			if (!has_deleter(a))
				(void)drop_locally(a);
			checkpoint(a);
			a->next_tick = now + a->c->interval;
		}
		if (more)
			continue;
		{
			double t = a->next_fold;
			double wd = notify_watchdog_interval();
			if (a->next_tick < t)
				t = a->next_tick;
			for (size_t i = 0; i < a->nsinks; i++)
				if (a->sinks[i] != NULL &&
				    a->ops[i]->due(a->sinks[i]) < t)
					t = a->ops[i]->due(a->sinks[i]);
			/* systemd's watchdog may want pings more often. */
			if (wd > 0 && clock_mono() + wd < t)
				t = clock_mono() + wd;
			clock_wait(t - clock_mono());
		}
	}
	a->looping = 0;
	notify_send("STOPPING=1");
	set_ready(a, 0);
	/* After a move the old file's state is still the newest the agent
	 * has delivered nothing of: push it once more. Each sink has its
	 * last round (or, after a failure, saves what it must). */
	deadline = clock_mono() + LAST_PUSH_SECONDS;
	last = status == EX_OK || moved;
	if (last) {
		int more;
		log_info("stopping; last push", NULL);
		if (fold_all(a, &more) != SPOOL_OK)
			last = 0;
	}
	for (size_t i = 0; i < a->nsinks; i++)
		if (a->sinks[i] != NULL)
			a->ops[i]->last(a->sinks[i], last ? deadline : 0);
	log_info("stopped", NULL);
	return status;
}
