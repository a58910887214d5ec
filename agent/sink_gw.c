/*
 * sink_gw — the Pushgateway sink: PUT of changed groups, DELETE of deleted
 * and expired ones, the agent's own metrics in its default group, retry
 * with backoff while the gateway is unreachable. See sink.h.
 *
 * Which groups to push comes from the spool: a group is pushed while its
 * version is above the version the gateway confirmed (pushed_version), and
 * the version recorded after a push is the one the rendered snapshot held,
 * so a fold that lands during a push leaves the group dirty and it goes
 * again. What only matters while the agent runs (backoff, which version a
 * group was refused at) lives here, in memory.
 *
 * Every PUT and DELETE costs the gateway in proportion to all it holds, so
 * a request goes only when it carries something new: a changed group, a
 * due delete, or the agent's own metrics when something an alert looks at
 * moved (selfm_sig) and otherwise once a heartbeat. An idle round reads no
 * counts from the spool: those are read for a push of the agent's own
 * metrics only.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"
#include "gwbody.h"
#include "spool-agent.h"
#include "log.h"
#include "push.h"
#include "render.h"
#include "selfm.h"
#include "sink.h"

/* --once gives up on rounds past this many, whatever the deadline says:
 * a bound on a loop that each round's progress ends much sooner. */
#define ONCE_MAX_ROUNDS 100000

/* What the agent remembers of a refused group while it runs. */
typedef struct park {
	int64_t id;
	int64_t version;   /* the version the gateway refused */
	double retry_at;   /* monotonic; retried then even if unchanged */
	int config;        /* held for a 401, 403 or 404: the settings'
	                    * fault, forgotten when they change */
} park;

typedef struct gw {
	sink_env *env;
	push_t *p;
	backoff bo;               /* transport failures */
	double retry_at;          /* monotonic; 0: now */
	double next_round;        /* monotonic: the next daemon round */
	int resync;               /* push every group at the next chance */
	int64_t resync_from;      /* ... from this group id on (cut short) */
	park *parks;
	size_t nparks, capparks;
	gwbody *body;             /* the PUT body, made as it is sent */
	log_limit record_lim;     /* pushes that could not be recorded */
	double round_start;       /* monotonic: when this round was due */
	double hb_next;           /* monotonic: the agent's own metrics are
	                           * due at the round that starts then */
	selfm_sig self_sig;       /* what their last push carried */
	const char *self_reset;   /* non-NULL: self_sig is void (why: the
	                           * start, a reload...); the next round pushes
	                           * them */
	int daemon;               /* in a daemon's round: the probe and the
	                           * heartbeat between groups */
	int once;                 /* in --once: its rules for the default
	                           * group */
	int once_self_done;       /* --once: own metrics delivered */
	int probe_unreachable;    /* the last start-time question failed */
	char last_failure[512];   /* the last transport failure's reason */
	double probe_next;        /* monotonic: ask the gateway's start time */
	int probe_off;            /* the gateway cannot tell its start time */
	char *gw_known;           /* its identity (URL, start time) as last
	                           * seen; NULL before the first answer */
	int gw_unrecorded;        /* ... not yet recorded in the spool */
	log_limit gw_record_lim;  /* failures to record it */
	log_limit config_lim;     /* 401, 403, 404: said once a minute */
	int config_failed;        /* --once: such an answer came */
	int config_held;          /* such an answer came since the last
	                           * delivered request */
	int delivered_any;        /* a request was delivered since start */
	int round_delivered;      /* ... in the current round */
	long probe_config;        /* --once: the start-time question met a
	                           * 401/403 (its code); 0: it did not */
	double down_since;        /* monotonic: the first transport failure
	                           * of the current run of them; 0: none */
	unsigned down_failures;   /* requests failed in that run */
	double once_deadline;     /* --once: when it gives up; 0: daemon */
} gw;

/* Outcome of one round's network work. */
typedef struct step {
	int transport_failed;     /* the gateway could not be reached */
	int refused;              /* some group was refused this round */
	int pending;              /* something is left to deliver */
	int spool_failed;
	int yielded;              /* ended for the loop (a signal, another
	                           * sink's turn) */
	unsigned requests;        /* requests begun */
} step;

/* How one request went, for the round: go on, or stop at a gateway that
 * cannot be reached. */
typedef enum gw_next {
	GW_NEXT = 0,
	GW_UNREACHABLE,
	GW_HELD           /* the settings are wrong for every group: the
	                   * round ends, the sink waits (config_refused) */
} gw_next;

/* What became of one PUT (do_push). */
typedef enum gw_sent {
	SENT_NOT = 0,
	SENT_DELIVERED,
	SENT_REFUSED,
	SENT_RETRY
} gw_sent;

/* --- parks --------------------------------------------------------------- */

static park *
park_find(gw *g, int64_t id)
{
	for (size_t i = 0; i < g->nparks; i++)
		if (g->parks[i].id == id)
			return &g->parks[i];
	return NULL;
}

static void
park_drop(gw *g, int64_t id)
{
	park *p = park_find(g, id);

	if (p != NULL)
		*p = g->parks[--g->nparks];
}

static park *
park_set(gw *g, int64_t id, int64_t version, double retry_at)
{
	park *p = park_find(g, id);

	if (p == NULL) {
		if (g->nparks == g->capparks) {
			size_t cap = g->capparks ? g->capparks * 2 : 8;
			park *n = realloc(g->parks, cap * sizeof(*n));
			if (n == NULL)
				return NULL; /* retried at once next round:
				              * harmless */
			g->parks = n;
			g->capparks = cap;
		}
		p = &g->parks[g->nparks++];
	}
	p->id = id;
	p->version = version;
	p->retry_at = retry_at;
	p->config = 0;
	return p;
}

/* Forgets parks of groups that are gone. */
static void
park_prune(gw *g)
{
	const groups *gl = g->env->gl;

	for (size_t i = 0; i < g->nparks;) {
		int found = 0;
		for (size_t k = 0; k < gl->n && !found; k++)
			found = gl->v[k].id == g->parks[i].id;
		if (found)
			i++;
		else
			g->parks[i] = g->parks[--g->nparks];
	}
}

/* --- the body ---------------------------------------------------------- */

/* The group's cursor as gwbody's source; the spool's reason kept at a
 * failure. */
typedef struct csrc {
	spool_t *s;
	spool_cursor *cur;
	char why[512];
} csrc;

static int
cursor_next(void *arg, const spool_family **f, const spool_sample **x,
    int *fresh)
{
	csrc *c = arg;

	if (spool_cursor_next(c->cur, f, x, fresh) == SPOOL_OK)
		return 0;
	snprintf(c->why, sizeof(c->why), "%s", spool_errmsg(c->s));
	return -1;
}

/* --- requests ------------------------------------------------------------ */

/* Counts a request and tells the loop it is alive. */
static void
count_request(gw *g, const http_status *st)
{
	selfm_count(g->env->m, selfm_result_of(st->outcome), st->seconds,
	    clock_wall());
	(void)g->env->between(g->env, g, SINK_MAY_BEAT);
}

/* A transport failure: wait before the next request, and push every group
 * when the gateway is back (it may have restarted without its data). The
 * wait is the backoff's, or the server's Retry-After, never longer than
 * retry_max: one proxy's word does not silence the agent (and its
 * heartbeat) past what the operator set. */
static void
transport_failed(gw *g, const group *x, const http_status *st,
    const char *what)
{
	double d = backoff_after(&g->bo, st->retry_after);
	double now = clock_mono();

	g->retry_at = now + d;
	g->resync = 1;
	g->resync_from = 0;
	if (g->down_since <= 0)
		g->down_since = now;
	g->down_failures++;
	snprintf(g->last_failure, sizeof(g->last_failure), "%s", st->message);
	/* --once gives up rather than wait past its deadline: it promises no
	 * retry it will not make. */
	if (g->once_deadline > 0 && g->retry_at >= g->once_deadline) {
		log_warnx("gateway unreachable; no time left for a retry "
		    "within once_timeout, giving up", "op=%s job=%s "
		    "grouping=%s code=%ld reason=%s once_timeout=%g", what,
		    log_q(x->job), log_q(x->grouping), st->http_code,
		    log_q(st->message), g->env->c->once_timeout);
		return;
	}
	log_warnx("gateway unreachable; will retry", "op=%s job=%s "
	    "grouping=%s code=%ld reason=%s retry_in=%.3f", what, log_q(x->job),
	    log_q(x->grouping), st->http_code, log_q(st->message), d);
}

/*
 * A request the gateway took. The daemon says so at the first one after
 * start, and when the gateway answers again after transport failures, so
 * that an info-level log shows pushes work without a line per push.
 */
static void
delivered(gw *g)
{
	const char *url = g->env->c->gw.url;

	backoff_reset(&g->bo);
	if (g->down_since > 0 && g->daemon)
		log_info("the gateway answers again", "url=%s down_seconds=%.1f "
		    "failed_requests=%u", log_q(url), clock_mono() -
		    g->down_since, g->down_failures);
	g->down_since = 0;
	g->down_failures = 0;
	if (g->config_held && g->daemon)
		log_info("the gateway accepts the agent's requests again",
		    "url=%s", log_q(url));
	g->config_held = 0;
	g->round_delivered = 1;
	if (!g->delivered_any && g->daemon)
		log_info("first push delivered; pushes work", "url=%s",
		    log_q(url));
	g->delivered_any = 1;
}

/* When a held group is tried again, for a log line: retry_max seconds on
 * in the daemon; --once promises only the next run. */
static const char *
retry_kv(const gw *g, char *buf, size_t n)
{
	if (g->once)
		return "retry=next_run";
	snprintf(buf, n, "retry_in=%.0f", g->env->c->retry_max);
	return buf;
}

/* The answers that say the agent's settings, not the data, are wrong:
 * every group would get the same one. */
static int
config_code(long code)
{
	return code == 401 || code == 403 || code == 404;
}

/* 1 when url ends in "/metrics": the agent adds that itself. */
static int
ends_in_metrics(const char *url)
{
	size_t n = strlen(url);

	return n >= 8 && strcmp(url + n - 8, "/metrics") == 0;
}

/*
 * 401, 403 or 404 for x: the configuration is at fault (the URL, the
 * credentials), not the group. The group is held in memory only, like a
 * park (tried again when it changes or after retry_max), but not recorded
 * in the spool as refused nor counted in collector_agent_parked_groups:
 * nothing is wrong with its data. The line names the URL requested and the
 * settings to check, never a secret; said once a minute at most.
 *
 * When nothing was delivered in this round yet, the settings are most
 * likely wrong for every group: the round ends and the whole sink waits
 * retry_max (or a reload), so that a wrong password costs one request per
 * retry_max, not one per changed group per round (GW_HELD). After a
 * delivery in the same round the refusal is this group's own (a proxy
 * that refuses some jobs): the other groups go on (GW_NEXT).
 */
static gw_next
config_refused(gw *g, group *x, int64_t version, const http_status *st,
    const char *what)
{
	sink_env *env = g->env;
	const http_conf *h = &env->c->gw;
	char *path = NULL, *url = NULL, rk[64];
	unsigned held;
	size_t n;
	park *p = park_set(g, x->id, version, clock_mono() +
	    env->c->retry_max);

	gw_next next = g->round_delivered ? GW_NEXT : GW_HELD;

	if (p != NULL)
		p->config = 1;
	g->config_failed = 1;
	if (next == GW_HELD) {
		g->config_held = 1;
		g->retry_at = clock_mono() + env->c->retry_max;
	}
	if (!log_limit_pass(&g->config_lim, clock_mono(), LOG_REPEAT_S, &held))
		return next;
	/* The URL requested, as curl was given it. */
	if (push_group_path(x->job, x->grouping, &path) == PUSH_OK &&
	    (url = malloc(n = strlen(h->url) + strlen(path) + 1)) != NULL)
		snprintf(url, n, "%s%s", h->url, path);
	if (st->http_code == 404)
		log_errorx("the gateway has no such path (HTTP 404); check "
		    "pushgateway.url", "op=%s url=%s code=404 reason=%s "
		    "hint=%s %s failures_since_last_report=%u", what,
		    log_q(url ? url : h->url), log_q(st->message),
		    log_q(ends_in_metrics(h->url) ? "pushgateway.url ends in "
		    "/metrics; set it to the gateway's base URL "
		    "(http://HOST:9091), the agent adds /metrics/job/..." :
		    "pushgateway.url is the gateway's base URL "
		    "(http://HOST:9091, or the prefix a proxy serves it under)"),
		    retry_kv(g, rk, sizeof(rk)), held);
	else
		log_errorx(h->bearer_token_file != NULL ? "authentication "
		    "failed at the gateway; check "
		    "pushgateway.bearer_token_file" : "authentication failed "
		    "at the gateway; check pushgateway.username and "
		    "pushgateway.password_file", "op=%s url=%s code=%ld "
		    "reason=%s hint=%s %s "
		    "failures_since_last_report=%u", what,
		    log_q(url ? url : h->url), st->http_code, log_q(st->message),
		    log_q(h->bearer_token_file != NULL ? "the token in "
		    "pushgateway.bearer_token_file was refused" :
		    h->username != NULL ? "the gateway refused "
		    "pushgateway.username with the password in "
		    "pushgateway.password_file" : "the gateway asks for "
		    "credentials; set pushgateway.username and "
		    "pushgateway.password_file"), retry_kv(g, rk, sizeof(rk)),
		    held);
	free(path);
	free(url);
	return next;
}

/* DELETE one group; on success drop its state (unless rows came since). */
static gw_next
do_delete(gw *g, group *x, const char *why, step *out)
{
	sink_env *env = g->env;
	http_status st;
	char rk[64];
	push_err pe;
	spool_err e;
	int dropped;

	pe = push_delete(g->p, x->job, x->grouping, &st);
	if (pe != PUSH_OK) {
		log_errorx("cannot delete group", "job=%s grouping=%s reason=%s",
		    log_q(x->job), log_q(x->grouping), push_strerror(pe));
		out->refused = 1;
		return GW_NEXT;
	}
	count_request(g, &st);
	switch (st.outcome) {
	case HTTP_DELIVERED:
		delivered(g);
		e = spool_group_deleted(env->s, x->id, x->version, &dropped);
		if (e != SPOOL_OK) {
			log_errorx("cannot record a delete", "reason=%s",
			    log_q(spool_errmsg(env->s)));
			out->spool_failed = 1;
			return GW_NEXT;
		}
		env->m->deletes++;
		env->usage_stale = 1;
		park_drop(g, x->id);
		log_info("deleted group", "job=%s grouping=%s why=%s "
		    "code=%ld", log_q(x->job), log_q(x->grouping), why,
		    st.http_code);
		/* The agent's own metrics went with it. */
		if (groups_is_default(env->gl, x))
			g->self_reset = "default_group_deleted";
		if (!dropped) {
			/* Rows came since: push the whole group anew. */
			x->delete_pending = 0;
			x->pushed_version = 0;
		} else
			x->id = 0;
		return GW_NEXT;
	case HTTP_RETRY:
		transport_failed(g, x, &st, "delete");
		out->transport_failed = 1;
		out->pending = 1;
		return GW_UNREACHABLE;
	case HTTP_REFUSED:
		if (config_code(st.http_code)) {
			return config_refused(g, x, x->version, &st,
			    "delete");
		}
		/* Parked like a refused push: tried again when the group
		 * changes or after retry_max, not hammered. */
		park_set(g, x->id, x->version, clock_mono() +
		    env->c->retry_max);
		log_warnx("gateway refused a delete; will retry", "job=%s "
		    "grouping=%s code=%ld reason=%s %s",
		    log_q(x->job), log_q(x->grouping), st.http_code,
		    log_q(st.message), retry_kv(g, rk, sizeof(rk)));
		out->refused = 1;
		return GW_NEXT;
	}
	return GW_NEXT;
}

/*
 * PUT one group, with the agent's own metrics when with_self. *sent (may
 * be NULL) says what became of it.
 */
static gw_next
do_push(gw *g, group *x, int with_self, step *out, gw_sent *sent)
{
	sink_env *env = g->env;
	csrc src;
	gwbody_format fmt;
	gw_sent dummy;
	http_status st;
	int64_t version = 0;
	push_err pe;
	spool_err se;
	char reason[600], rk[64];
	int plain_again = 1;

	if (sent == NULL)
		sent = &dummy;
again:
	*sent = SENT_NOT;
	memset(&src, 0, sizeof(src));
	src.s = env->s;
	if (x->id != 0 &&
	    (se = spool_cursor_open(env->s, x->id, &src.cur, &version)) !=
	    SPOOL_OK) {
		log_errorx("cannot read a group", "job=%s grouping=%s "
		    "reason=%s", log_q(x->job), log_q(x->grouping),
		    log_q(spool_errmsg(env->s)));
		out->spool_failed = 1;
		return GW_NEXT;
	}
	/* Native histograms travel only in the protobuf format; any other
	 * group goes as text, which every gateway reads. */
	fmt = src.cur != NULL && spool_cursor_native(src.cur) ?
	    GWBODY_PROTOBUF : GWBODY_TEXT;
	gwbody_start(g->body, fmt, src.cur != NULL ? cursor_next : NULL, &src,
	    groups_is_default(env->gl, x), with_self ? env->m : NULL);
	pe = push_put_stream_as(g->p, x->job, x->grouping,
	    fmt == GWBODY_TEXT ? NULL : gwbody_content_type(fmt), gwbody_read,
	    g->body, &st);
	spool_cursor_close(src.cur);
	if (gwbody_error(g->body) == GWBODY_ESOURCE) {
		log_errorx("cannot read a group", "job=%s grouping=%s "
		    "reason=%s", log_q(x->job), log_q(x->grouping),
		    log_q(src.why));
		out->spool_failed = 1;
		return GW_NEXT;
	}
	if (gwbody_why(g->body) != NULL || pe != PUSH_OK) {
		snprintf(reason, sizeof(reason), "%s",
		    gwbody_why(g->body) != NULL ? gwbody_why(g->body) :
		    push_strerror(pe));
		goto refused_locally;
	}
	count_request(g, &st);
	/* The gateway could not read the gzip body: the same group goes
	 * again now, plain, from a new cursor (push.h). */
	if (st.plain_next && plain_again-- > 0)
		goto again;
	switch (st.outcome) {
	case HTTP_DELIVERED:
		*sent = SENT_DELIVERED;
		delivered(g);
		park_drop(g, x->id);
		if (x->id != 0 && spool_group_pushed(env->s, x->id, version) !=
		    SPOOL_OK) {
			/* The group goes again next round (harmless); a disk
			 * that stays full must not fill the log too. */
			unsigned held;
			if (log_limit_pass(&g->record_lim, clock_mono(),
			    LOG_REPEAT_S, &held))
				log_errorx("cannot record a push; the group "
				    "will be pushed again", "reason=%s "
				    "failures_since_last_report=%u",
				    log_q(spool_errmsg(env->s)), held);
			out->spool_failed = 1;
		} else if (x->id != 0) {
			log_limit_clear(&g->record_lim);
			/* As the spool now says: the rest of the round
			 * does not push it again. */
			if (version > x->pushed_version)
				x->pushed_version = version;
		}
		log_debug("pushed group", "job=%s grouping=%s format=%s "
		    "bytes=%zu code=%ld seconds=%.3f", log_q(x->job),
		    log_q(x->grouping), fmt == GWBODY_TEXT ? "text" :
		    "protobuf", gwbody_sent(g->body), st.http_code,
		    st.seconds);
		if (x->parked)
			log_info("gateway accepted a parked group", "job=%s "
			    "grouping=%s", log_q(x->job), log_q(x->grouping));
		x->parked = 0;
		return GW_NEXT;
	case HTTP_RETRY:
		*sent = SENT_RETRY;
		transport_failed(g, x, &st, "push");
		out->transport_failed = 1;
		out->pending = 1;
		return GW_UNREACHABLE;
	case HTTP_REFUSED:
		if (config_code(st.http_code)) {
			*sent = SENT_REFUSED;
			return config_refused(g, x, x->id ? (version ?
			    version : x->version) : 0, &st, "push");
		}
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
	park_set(g, x->id, x->id ? (version ? version : x->version) : 0,
	    clock_mono() + env->c->retry_max);
	log_warnx("gateway refused group; parked, data kept", "job=%s "
	    "grouping=%s reason=%s %s", log_q(x->job),
	    log_q(x->grouping), log_q(reason), retry_kv(g, rk, sizeof(rk)));
	if (x->id != 0 && spool_group_park(env->s, x->id, reason) != SPOOL_OK)
		out->spool_failed = 1;
	else if (x->id != 0)
		x->parked = 1;
	return GW_NEXT;
}

/* --- what a round sends -------------------------------------------------- */

/* Was x refused, and has it neither changed nor waited long enough? */
static int
parked_now(gw *g, const group *x, double now)
{
	park *p = park_find(g, x->id);

	return p != NULL && p->version >= x->version && now < p->retry_at;
}

/* Should x be pushed now? */
static int
want_push(gw *g, const group *x, double now, int force)
{
	if (x->id == 0 || x->delete_pending)
		return 0;
	if (x->version <= x->pushed_version && !force)
		return 0;
	if (!x->has_series && x->version <= x->pushed_version)
		return 0;
	return !parked_now(g, x, now);
}

static int
expired(gw *g, const group *x, double now)
{
	return groups_aged(g->env->gl, x, now) && !parked_now(g, x, now);
}

/* Should x's delete request go now? */
static int
want_delete(gw *g, const group *x, double now)
{
	return x->id != 0 && x->delete_pending && !parked_now(g, x, now);
}

/*
 * Before a request: is there time left? Caps the request at the deadline.
 * Between two requests the loop does its duties (sink.h): in the daemon a
 * long round (hundreds of groups, a slow gateway) holds nothing up:
 *  - a pending SIGTERM or SIGHUP ends the round at once; the loop then
 *    stops (with its last push) or reloads, and a cut round goes on later
 *    where it stopped, since pushed groups are no longer dirty;
 *  - the inbox is folded once a second, so writers' rows keep moving;
 *  - after one request at least, the round gives way when another sink's
 *    turn has come (they share the loop).
 */
static int
time_left(gw *g, double deadline, step *out)
{
	unsigned may = SINK_MAY_SIGNALS | SINK_MAY_FOLD;
	double left;

	if (out->requests > 0)
		may |= SINK_MAY_YIELD;
	if (g->env->between(g->env, g, may) != SINK_GO) {
		out->yielded = 1;
		out->pending = 1;
		return 0;
	}
	out->requests++;
	if (deadline <= 0)
		return 1;
	left = deadline - clock_mono();
	if (left <= 0) {
		out->pending = 1;
		return 0;
	}
	push_limit(g->p, left);
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
probe_gateway(gw *g)
{
	sink_env *env = g->env;
	char started[128], *id;
	http_status st;
	push_err pe;
	int changed = 0;
	size_t n;

	if (g->probe_off)
		return;
	g->probe_unreachable = 0;
	if ((pe = push_gateway_started(g->p, started, sizeof(started), &st)) !=
	    PUSH_OK || st.outcome == HTTP_RETRY) {
		/* The pushes will meet the same failure. */
		g->probe_unreachable = 1;
		snprintf(g->last_failure, sizeof(g->last_failure), "%s",
		    pe != PUSH_OK ? push_strerror(pe) : st.message);
		return;
	}
	(void)env->between(env, g, SINK_MAY_BEAT);
	/* Wrong credentials, or a URL ending in /metrics: the pushes meet
	 * the same answer and say what to fix; the gateway may well tell its
	 * start time once the settings are right. Once a push went through,
	 * such an answer is a proxy that allows only pushes: asked no more
	 * (below), so that no round sends a request that cannot work. */
	if (st.outcome == HTTP_REFUSED && !g->delivered_any &&
	    (st.http_code == 401 || st.http_code == 403 ||
	    (st.http_code == 404 && ends_in_metrics(env->c->gw.url)))) {
		g->probe_config = st.http_code;
		return;
	}
	if (st.outcome == HTTP_REFUSED || started[0] == '\0') {
		/* A daemon says it once; --once would say it every run, so
		 * there it is information. */
		void (*say)(const char *, const char *, ...) =
		    g->daemon ? log_warnx : log_info;
		g->probe_off = 1;
		say("the gateway does not tell its start time: a restart of it "
		    "goes unnoticed, and groups it loses come back only when "
		    "they change", "url=%s code=%ld reason=%s",
		    log_q(env->c->gw.url), st.http_code, log_q(st.outcome ==
		    HTTP_REFUSED ? st.message : "no start_time in "
		    "/api/v1/status"));
		return;
	}
	n = strlen(env->c->gw.url) + strlen(started) + 2;
	if ((id = malloc(n)) == NULL)
		return;
	snprintf(id, n, "%s %s", env->c->gw.url, started);
	/* The same gateway as last time costs no write to the spool. */
	if (g->gw_known != NULL && !g->gw_unrecorded &&
	    strcmp(g->gw_known, id) == 0) {
		free(id);
		return;
	}
	if (spool_gateway_seen(env->s, id, &changed) == SPOOL_OK) {
		g->gw_unrecorded = 0;
		(void)log_limit_clear(&g->gw_record_lim);
	} else {
		/* The spool cannot say (busy, full): what this run knows
		 * decides, and the record is tried again next round. */
		unsigned held;
		changed = g->gw_known != NULL && strcmp(g->gw_known, id) != 0;
		g->gw_unrecorded = 1;
		if (log_limit_pass(&g->gw_record_lim, clock_mono(),
		    LOG_REPEAT_S, &held))
			log_warnx("cannot record the gateway's start time; "
			    "tried again next round", "reason=%s "
			    "failures_since_last_report=%u",
			    log_q(spool_errmsg(env->s)), held);
	}
	free(g->gw_known);
	g->gw_known = id;
	if (changed) {
		log_info("the gateway is new or was restarted; pushing every "
		    "group again", "url=%s started=%s", log_q(env->c->gw.url),
		    log_q(started));
		g->resync = 1;
		g->resync_from = 0;
		/* Perhaps upgraded: one that took no gzip may now. */
		push_gzip_again(g->p);
	}
}

/* The inputs of the alerts as of now (selfm_sig): the counters, and what
 * only the loop knows. Reads nothing from the spool. */
static void
self_sig(gw *g, selfm_sig *s)
{
	const sink_env *env = g->env;
	const groups *gl = env->gl;

	memset(s, 0, sizeof(*s));
	selfm_sig_fill(s, env->m);
	for (size_t i = 0; i < gl->n; i++)
		if (gl->v[i].id != 0 && gl->v[i].parked)
			s->parked++;
	s->rows_rejected = env->rows_rejected;
	if (env->behind_since > 0) {
		double d = clock_mono() - env->behind_since;
		s->backlog = d >= SELFM_STUCK_S ? 2 : d >= SELFM_BACKLOG_S;
	}
}

/*
 * Why the daemon's default group goes at the end of this round, or NULL:
 * its own rows changed (or a resync), something an alert looks at moved
 * since the agent's metrics last went, or the heartbeat is due.
 */
static const char *
self_due(gw *g, const group *dg, double now, int force)
{
	selfm_sig sig;
	const char *why;

	if (want_push(g, dg, now, force))
		return "changed";
	if (force)
		return "resync";
	if (g->self_reset != NULL)
		return g->self_reset;
	self_sig(g, &sig);
	if ((why = selfm_sig_diff(&g->self_sig, &sig)) != NULL)
		return why;
	return g->round_start >= g->hb_next ? "heartbeat" : NULL;
}

/*
 * The default group; with the agent's own metrics when with_self, as of
 * now: the spool's counts are read for this push only. Once the gateway
 * answered, the heartbeat starts again and the signature is kept: the one
 * the body carried, or after a refusal the one after it, so that a refusal
 * (which moves the parked count) does not make news of itself.
 */
static gw_next
push_default(gw *g, group *dg, int with_self, double deadline, step *out)
{
	sink_env *env = g->env;
	selfm_sig sig;
	double base;
	gw_sent sent;
	gw_next rc;

	if (!time_left(g, deadline, out))
		return GW_UNREACHABLE;
	if (with_self) {
		self_sig(g, &sig);
		if (spool_get_stats(env->s, &env->m->st) != SPOOL_OK)
			log_warnx("cannot read spool stats", "reason=%s",
			    log_q(spool_errmsg(env->s)));
	}
	rc = do_push(g, dg, with_self, out, &sent);
	if (!with_self || (sent != SENT_DELIVERED && sent != SENT_REFUSED))
		return rc;
	if (sent == SENT_REFUSED)
		self_sig(g, &sig);
	g->self_sig = sig;
	g->self_reset = NULL;
	g->once_self_done = 1;
	/* Counted from the round's start, so that it comes back at the same
	 * round, unless the push went late in a long round. */
	base = clock_mono() - g->round_start > env->c->interval ?
	    clock_mono() : g->round_start;
	g->hb_next = base + env->c->heartbeat;
	return rc;
}

/* Would this round send the gateway anything (as of now)? */
static int
round_sends(gw *g, const group *dg, double now, int force)
{
	const groups *gl = g->env->gl;

	for (size_t i = 0; i < gl->n; i++) {
		const group *x = &gl->v[i];
		if (x->id == 0)
			continue;
		if (want_delete(g, x, now) ||
		    (!x->delete_pending && expired(g, x, now)) ||
		    (x != dg && want_push(g, x, now, force)))
			return 1;
	}
	return self_due(g, dg, now, force) != NULL;
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
network_round(gw *g, double deadline, step *out)
{
	sink_env *env = g->env;
	groups *gl = env->gl;
	double now = clock_mono();
	const char *why;
	int force;
	group dflt = { 0 };
	group *dg = NULL;

	g->round_delivered = 0;
	push_limit(g->p, 0);
	for (size_t i = 0; i < gl->n && dg == NULL; i++)
		if (gl->v[i].id != 0 && groups_is_default(gl, &gl->v[i]))
			dg = &gl->v[i];
	if (dg == NULL) {
		dflt.job = env->c->job;
		dflt.grouping = env->default_grouping;
		dg = &dflt;
	}
	/* The gateway's start time is asked in a round that sends something,
	 * before it does, at most once an interval (counted from when rounds
	 * are due): an idle agent asks once a heartbeat, so a restart of the
	 * gateway is repaired within one. */
	if (g->daemon && g->round_start >= g->probe_next &&
	    round_sends(g, dg, now, g->resync)) {
		probe_gateway(g);
		g->probe_next = g->round_start + env->c->interval;
	}
	force = g->resync;
	for (size_t i = 0; i < gl->n; i++) {
		group *x = &gl->v[i];
		if (!want_delete(g, x, now))
			continue;
		if (!time_left(g, deadline, out))
			return;
		if (do_delete(g, x, "requested", out) != GW_NEXT)
			return;
	}
	for (size_t i = 0; i < gl->n; i++) {
		group *x = &gl->v[i];
		if (x->id == 0 || x->delete_pending || !expired(g, x, now))
			continue;
		if (!time_left(g, deadline, out))
			return;
		if (do_delete(g, x, "expired", out) != GW_NEXT)
			return;
	}
	for (size_t i = 0; i < gl->n; i++) {
		group *x = &gl->v[i];
		if (x == dg || !want_push(g, x, now, force))
			continue;
		/* A resync cut short goes on where it stopped: groups pushed
		 * since it began and unchanged since are not sent again. */
		if (force && x->id < g->resync_from &&
		    x->version <= x->pushed_version)
			continue;
		/* Only in a round that outlasts an interval: otherwise the
		 * end of the round sends it (a resync does anyway). */
		if (g->daemon && !force && clock_mono() >= g->hb_next &&
		    clock_mono() - g->round_start >= env->c->interval) {
			log_debug("pushing the agent's own metrics",
			    "why=heartbeat");
			if (push_default(g, dg, 1, deadline, out) != GW_NEXT)
				return;
		}
		if (!time_left(g, deadline, out))
			return;
		if (do_push(g, x, 0, out, NULL) != GW_NEXT)
			return;
		if (force)
			g->resync_from = x->id + 1;
	}
	if (g->once) {
		int self = env->c->once_self_metrics;
		if (((self && !g->once_self_done) ||
		    want_push(g, dg, now, force)) &&
		    push_default(g, dg, self, deadline, out) != GW_NEXT)
			return;
	} else if ((why = self_due(g, dg, now, force)) != NULL) {
		log_debug("pushing the agent's own metrics", "why=%s", why);
		if (push_default(g, dg, 1, deadline, out) != GW_NEXT)
			return;
	}
	g->resync = 0;
	g->resync_from = 0;
}

/* --- the sink ------------------------------------------------------------ */

/* A gateway client for c into *out; 0, or EX_CONFIG after logging why. */
static int
gw_client(const cfg *c, push_t **out)
{
	char err[512];

	if (push_new(&c->gw, out, err, sizeof(err)) != PUSH_OK) {
		log_errorx("cannot set up the gateway client", "url=%s reason=%s",
		    log_q(c->gw.url), log_q(err));
		return EX_CONFIG;
	}
	return 0;
}

/* Takes client p for c, with a backoff that starts again. */
static void
gw_adopt(gw *g, const cfg *c, push_t *p)
{
	push_free(g->p);
	g->p = p;
	backoff_init(&g->bo, c->retry_min, c->retry_max,
	    backoff_seed(0));
	g->retry_at = 0;
	/* Another gateway, or one that can now tell its start time. */
	g->probe_off = 0;
	g->probe_next = 0;
}

static void
gw_free(void *self)
{
	gw *g = self;

	if (g == NULL)
		return;
	push_free(g->p);
	free(g->parks);
	free(g->gw_known);
	gwbody_free(g->body);
	free(g);
}

static int
gw_new(sink_env *env, const cfg *c, void **out)
{
	push_t *p = NULL;
	gw *g;
	int rc;

	*out = NULL;
	if (!c->enabled)
		return 0;
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		log_errorx("out of memory", NULL);
		return EX_OSERR;
	}
	g->env = env;
	if (gwbody_new(&g->body) != GWBODY_OK) {
		gw_free(g);
		log_errorx("out of memory", NULL);
		return EX_OSERR;
	}
	if ((rc = gw_client(c, &p)) != 0) {
		gw_free(g);
		return rc;
	}
	gw_adopt(g, c, p);
	*out = g;
	return 0;
}

/* The daemon starts: the first round pushes the agent's own metrics (the
 * gateway has not heard of this run) and asks the gateway's start time. */
static int
gw_start(void *self)
{
	gw *g = self;
	double now = clock_mono();

	g->self_reset = "start";
	g->hb_next = now + g->env->c->heartbeat;
	g->probe_next = now;
	return 0;
}

static double
gw_due(const void *self)
{
	const gw *g = self;

	return g->next_round > g->retry_at ? g->next_round : g->retry_at;
}

/* Rounds are due an interval apart: the heartbeat counts from when they
 * were due. One cut short for the loop comes back at once; one that met a
 * transport failure comes back after the backoff (retry_at). */
static void
gw_round(void *self, double deadline)
{
	gw *g = self;
	double now = clock_mono();
	step out = { 0 };

	g->round_start = now;
	if (groups_list(g->env->gl, g->env->s) == SPOOL_OK) {
		park_prune(g);
		g->daemon = 1;
		network_round(g, deadline, &out);
		g->daemon = 0;
	}
	if (out.yielded)
		g->next_round = now;
	else if (!out.transport_failed)
		g->next_round = now + g->env->c->interval;
}

static int
gw_prepare(void *self, const cfg *c, void **pending)
{
	push_t *p = NULL;
	int rc;

	(void)self;
	*pending = NULL;
	if (!c->enabled)
		return SINK_UNWANTED;
	if ((rc = gw_client(c, &p)) != 0)
		return rc;
	*pending = p;
	return 0;
}

static void
gw_commit(void *self, const cfg *c, void *pending)
{
	gw *g = self;

	gw_adopt(g, c, pending);
	/* Limits, job, instance may be new: the next round says so. */
	g->self_reset = "reload";
	/* Groups held for the old settings' 401, 403 or 404 go at once with
	 * the new ones. */
	for (size_t i = 0; i < g->nparks;)
		if (g->parks[i].config)
			g->parks[i] = g->parks[--g->nparks];
		else
			i++;
}

static void
gw_discard(void *pending)
{
	push_free(pending);
}

/*
 * --once: a gateway restarted since the last run lost the groups that run
 * delivered: they all go again. Then rounds until everything went or is
 * parked; a transport failure waits out the backoff, within the deadline.
 */
static void
gw_once(void *self, double deadline, sink_result *res)
{
	gw *g = self;
	sink_env *env = g->env;
	int refused = 0;

	g->once = 1;
	g->once_deadline = deadline;
	push_limit(g->p, deadline - clock_mono());
	probe_gateway(g);
	if (groups_list(env->gl, env->s) != SPOOL_OK) {
		res->spool_failed = 1;
		return;
	}
	for (int round = 0; round < ONCE_MAX_ROUNDS; round++) {
		step out = { 0 };

		park_prune(g);
		g->round_start = clock_mono();
		network_round(g, deadline, &out);
		refused |= out.refused;
		if (out.spool_failed) {
			res->spool_failed = 1;
			return;
		}
		if (!out.transport_failed && !out.pending)
			break;
		if (g->retry_at >= deadline || clock_mono() >= deadline)
			goto timeout;
		clock_sleep_until(g->retry_at);
		if (groups_list(env->gl, env->s) != SPOOL_OK) {
			res->spool_failed = 1;
			return;
		}
	}
	/* Nothing went, and the start-time question was refused for its
	 * credentials: the settings are wrong even if no push said so. */
	if (g->probe_config != 0 && !g->delivered_any)
		g->config_failed = 1;
	res->refused |= refused;
	if (g->config_failed)
		res->refused |= SINK_REFUSED_CONFIG;
	if (g->config_failed) {
		log_errorx("done; the gateway refused the agent's requests "
		    "(HTTP 401, 403 or 404): the configuration is at fault, the "
		    "data is kept", "url=%s hint=%s", log_q(env->c->gw.url),
		    log_q("collector-agent -t; docs/agent.md, When the gateway "
		    "fails"));
		return;
	}
	if (refused) {
		log_warnx("done; the gateway refused some data (kept, parked)",
		    "hint=%s", log_q("collector-spool stats"));
		return;
	}
	/* Nothing to deliver is not a failure, but a gateway that did not
	 * answer is worth a word: the next run with data will wait for it. */
	if (g->probe_unreachable && env->m->pushes[SELFM_SUCCESS] == 0) {
		res->done_warn = "done; nothing to deliver, and the gateway did "
		    "not answer";
		res->done_target = env->c->gw.url;
	}
	return;
timeout:
	/* The reason too: the time may have run out before a push could
	 * say it (a slow TLS handshake for the start-time question). */
	log_errorx("gateway not reachable in time; everything is kept for "
	    "the next run", "url=%s once_timeout=%g reason=%s",
	    log_q(env->c->gw.url), env->c->once_timeout,
	    log_q(g->last_failure[0] ? g->last_failure : "no answer"));
	res->refused |= refused | (g->config_failed ? SINK_REFUSED_CONFIG : 0);
	res->late = 1;
}

/* The last push at a stop, within deadline, whatever the backoff says. */
static void
gw_last(void *self, double deadline)
{
	gw *g = self;
	step out = { 0 };

	if (deadline <= 0 || groups_list(g->env->gl, g->env->s) != SPOOL_OK)
		return;
	g->retry_at = 0;
	g->round_start = clock_mono();
	network_round(g, deadline, &out);
	if (out.transport_failed || out.pending)
		log_warnx("stopping with data not yet delivered; it is kept in "
		    "the spool", NULL);
}

const sink_ops sink_gw_ops = {
	.name = "pushgateway",
	.carries_deletes = 1,
	.new = gw_new,
	.start = gw_start,
	.due = gw_due,
	.round = gw_round,
	.prepare = gw_prepare,
	.commit = gw_commit,
	.discard = gw_discard,
	.once = gw_once,
	.last = gw_last,
	.beat = NULL,
	.ready = NULL,
	.free = gw_free,
};
