/*
 * sink_rw — the remote-write sink: every interval the whole state as it
 * is (the series /metrics shows, the agent's own metrics), each round with
 * a timestamp of its own; native histograms as protobuf histograms (left
 * out for a receiver that has them disabled); staleness markers for the
 * series that went away; the set of series sent kept in the spool across
 * restarts; a backoff of its own, so that one failing sink never holds
 * back the other. See sink.h.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"
#include "spool-agent.h"
#include "expo.h"
#include "log.h"
#include "pull.h"
#include "http.h"
#include "render.h"
#include "rw.h"
#include "selfm.h"
#include "sink.h"

/* A step back of the wall clock up to this many milliseconds (or two
 * intervals, if more) is bridged by keeping timestamps rising; past it
 * they restart from the clock. */
#define TS_SLACK_MIN_MS 60000
/* Series with too many labels for common receivers: said at most this
 * often (seconds), as the condition lasts as long as the writer does. */
#define MANY_LABELS_SAY_S 600.0
/* Prometheus' answer (a 500) to a request with a histogram when it runs
 * without --enable-feature=native-histograms (storage.
 * ErrNativeHistogramsDisabled): the whole request is rolled back. */
#define NATIVE_DISABLED "native histograms are disabled"

/* How a round, or the sending of one batch, went. */
typedef enum rws_outcome {
	RWS_SENT = 0,        /* sent, or dropped by a refusing receiver */
	RWS_UNREACHABLE,     /* the receiver could not be reached (or a
	                      * stop cut the round): retried after the
	                      * backoff */
	RWS_SPOOL_FAILED     /* the spool could not be read */
} rws_outcome;

/* rw_mark()'s answer to rw_seen_each_gone(). */
typedef enum rws_mark {
	MARK_NEXT = 0,       /* the marker is in the batch */
	MARK_UNREACHABLE,    /* sending a full batch failed: stop */
	MARK_LEFT_OUT        /* one marker did not fit (memory): the rest
	                      * are not forgotten, they go next round */
} rws_mark;

typedef struct rws {
	sink_env *env;
	http_t *p;
	rw_batch *batch;
	rw_seen *seen;            /* series sent, for staleness markers */
	int loaded;               /* seen holds the set the spool kept for
	                           * this receiver */
	int keep_failed;          /* the last round could not load or save
	                           * that set */
	int64_t ts;               /* the last round's timestamp (ms) */
	int failed;               /* this round: a request failed; the rest
	                           * of the walk only notes the series */
	int incomplete;           /* this round: some live series was not
	                           * noted (out of memory): no markers */
	size_t many_labels;       /* this round: series with too many labels */
	double many_said;         /* monotonic: when that was last logged */
	backoff bo;               /* transport failures */
	double next;              /* monotonic: the next round */
	log_limit keep_lim;       /* loads and saves of the series sent */
	int once;                 /* in --once: no lines of the daemon's */
	double once_deadline;     /* --once: when it gives up */
	int delivered_any;        /* a request was delivered since start */
	double down_since;        /* monotonic: the first failure of the
	                           * current run of them; 0: none */
	unsigned down_failures;   /* requests failed in that run */
	int no_hist;              /* the receiver has native histograms
	                           * disabled: none sent until a reload or
	                           * a restart */
	size_t hist_dropped;      /* histograms it refused so, since start */
} rws;

/* A native histogram left out: the receiver takes none (no_hist). */
static void
hist_left_out(rws *w)
{
	w->env->m->rw_dropped += 1;
	w->hist_dropped++;
}

/* A remote-write request of n samples. */
static void
count_request(rws *w, const http_status *st, size_t n)
{
	selfm *m = w->env->m;
	selfm_result r = selfm_result_of(st->outcome);

	m->rw_requests[r]++;
	if (r == SELFM_SUCCESS)
		m->rw_sent += (double)n;
	else if (r == SELFM_REJECTED)
		m->rw_dropped += (double)n;
}

/*
 * A receiver that has native histograms disabled refused the request (a
 * 500 that would otherwise be retried for ever): says so once, with the
 * fix, counts the request as refused and its histograms as dropped, and
 * takes them out of the batch, to be sent again at once without them.
 * Histograms are then left out for this receiver until a reload or a
 * restart, which is when its settings may have changed. Returns 1 when
 * it did that.
 */
static int
hist_refused(rws *w, const http_status *st)
{
	size_t n;

	if (st->outcome != HTTP_RETRY || st->http_code != 500 ||
	    rw_batch_histograms(w->batch) == 0 ||
	    strstr(st->message, NATIVE_DISABLED) == NULL)
		return 0;
	n = rw_batch_strip_histograms(w->batch);
	log_errorx("the remote write receiver has native histograms disabled; "
	    "they are left out for it until a reload or a restart, the other "
	    "samples go; start Prometheus with "
	    "--enable-feature=native-histograms, or set the histogram's format "
	    "to classic or both", "url=%s histograms=%zu code=%ld reason=%s",
	    log_q(w->env->c->rw.url), n, st->http_code, log_q(st->message));
	w->env->m->rw_requests[SELFM_REJECTED]++;
	w->env->m->rw_dropped += (double)n;
	w->hist_dropped += n;
	w->no_hist = 1;
	return 1;
}

/* Sends the batch: RWS_SENT when sent or dropped (a 4xx: remote write
 * drops it), RWS_UNREACHABLE when the receiver is unreachable (the round
 * is retried after the backoff) or a signal ends the round. */
static rws_outcome
rw_flush(rws *w)
{
	sink_env *env = w->env;
	const char *body;
	size_t len;
	http_status st;
	rw_err e;

	if (rw_batch_count(w->batch) == 0)
		return RWS_SENT;
	/* A stop or a reload ends the round's sending here, as one between
	 * a gateway round's requests does; the walk then only notes the
	 * series (no backoff: the loop takes the signal next). The walk
	 * holds a read transaction: no fold in between. */
	if (env->between(env, w, SINK_MAY_SIGNALS) != SINK_GO) {
		rw_batch_reset(w->batch);
		return RWS_UNREACHABLE;
	}
	if ((e = rw_batch_encode(w->batch, &body, &len)) != RW_OK) {
		log_errorx("cannot encode a remote write request", "reason=%s",
		    rw_strerror(e));
		rw_batch_reset(w->batch);
		return RWS_SENT;
	}
	if (rw_post(w->p, body, len, &st) != HTTP_OK)
		st.outcome = HTTP_RETRY;
	if (hist_refused(w, &st)) {
		/* The request is counted (refused); what is left goes as a
		 * request of its own, between two as any other. */
		if (rw_batch_count(w->batch) == 0)
			return RWS_SENT;
		if (env->between(env, w, SINK_MAY_SIGNALS) != SINK_GO) {
			rw_batch_reset(w->batch);
			return RWS_UNREACHABLE;
		}
		if ((e = rw_batch_encode(w->batch, &body, &len)) != RW_OK) {
			log_errorx("cannot encode a remote write request",
			    "reason=%s", rw_strerror(e));
			rw_batch_reset(w->batch);
			return RWS_SENT;
		}
		if (rw_post(w->p, body, len, &st) != HTTP_OK)
			st.outcome = HTTP_RETRY;
	}
	count_request(w, &st, rw_batch_count(w->batch));
	(void)env->between(env, w, SINK_MAY_BEAT);
	switch (st.outcome) {
	case HTTP_DELIVERED:
		/* The backoff is reset by a whole round, not by one request:
		 * a receiver that takes the first requests of each round and
		 * refuses the rest is not to be retried at retry_min. */
		log_debug("remote write sent", "samples=%zu bytes=%zu code=%ld "
		    "seconds=%.3f", rw_batch_count(w->batch), len,
		    st.http_code, st.seconds);
		/* The daemon says so at the first request after start and
		 * when the receiver answers again after failures: an info
		 * log shows that sending works without a line per request. */
		if (w->down_since > 0 && !w->once)
			log_info("the remote write receiver answers again",
			    "url=%s down_seconds=%.1f failed_requests=%u",
			    log_q(env->c->rw.url), clock_mono() -
			    w->down_since, w->down_failures);
		if (!w->delivered_any && !w->once)
			log_info("first remote write request delivered; sending "
			    "works", "url=%s", log_q(env->c->rw.url));
		w->down_since = 0;
		w->down_failures = 0;
		w->delivered_any = 1;
		break;
	case HTTP_REFUSED:
		log_warnx("remote write receiver refused a request; its "
		    "samples are dropped, as the protocol says", "samples=%zu "
		    "code=%ld reason=%s", rw_batch_count(w->batch),
		    st.http_code, log_q(st.message));
		break;
	case HTTP_RETRY: {
		double d = backoff_after(&w->bo, st.retry_after);
		w->next = clock_mono() + d;
		if (w->down_since <= 0)
			w->down_since = clock_mono();
		w->down_failures++;
		/* --once promises no retry past its deadline. */
		if (w->once && w->next >= w->once_deadline) {
			log_warnx("remote write receiver unreachable; no time "
			    "left for a retry within once_timeout, giving up",
			    "code=%ld reason=%s once_timeout=%g",
			    st.http_code, log_q(st.message),
			    env->c->once_timeout);
			rw_batch_reset(w->batch);
			return RWS_UNREACHABLE;
		}
		log_warnx("remote write receiver unreachable; will retry",
		    "code=%ld reason=%s retry_in=%.3f", st.http_code,
		    log_q(st.message), d);
		rw_batch_reset(w->batch);
		return RWS_UNREACHABLE;
	}
	}
	rw_batch_reset(w->batch);
	return RWS_SENT;
}

/* Remembers the series just added, for its staleness marker; takes it
 * back out when the round gave it already (labels that differ only by an
 * empty value are one series to a receiver). */
static void
rw_note(rws *w, const char *name)
{
	int dup;

	if (rw_seen_note(w->seen, w->batch, &dup) != RW_OK) {
		/* Not noted, it could go twice this round: left out, and no
		 * markers this round (it would look gone). */
		rw_batch_drop_last(w->batch);
		w->incomplete = 1;
		log_debug("out of memory: series left out of this round",
		    "name=%s", log_q(name));
	} else if (dup) {
		rw_batch_drop_last(w->batch);
		log_debug("series left out of remote write: sent already this "
		    "round", "name=%s", log_q(name));
	}
}

/* One sample or histogram (nh), for rw_add(). */
static rw_err
rw_put(rws *w, const char *name, const char *glab, const char *labels,
    double v, const spool_nhist *nh, int64_t ts)
{
	if (nh != NULL)
		return rw_batch_add_hist(w->batch, name, glab, labels, nh, v,
		    ts);
	return rw_batch_add(w->batch, name, glab, labels, v, ts);
}

/* Adds one sample, or the native histogram nh (non-NULL; v its sum),
 * sending the batch first when it is full. Always 0 (the walk goes on:
 * after a failure it only notes the series). */
static int
rw_add(rws *w, const char *name, const char *glab, const char *labels,
    double v, const spool_nhist *nh, int64_t ts)
{
	rw_err e = rw_put(w, name, glab, labels, v, nh, ts);

	if (e == RW_EFULL && !w->failed && rw_flush(w) != RWS_SENT)
		w->failed = 1;
	/* Sending the batch may have told that the receiver takes no
	 * histograms. */
	if (e == RW_EFULL && nh != NULL && w->no_hist) {
		hist_left_out(w);
		return 0;
	}
	if (e == RW_EFULL)
		e = rw_put(w, name, glab, labels, v, nh, ts);
	if (e != RW_OK) {
		if (e == RW_ENOMEM)
			w->incomplete = 1;
		log_debug("sample left out of remote write", "name=%s "
		    "reason=%s", log_q(name), rw_strerror(e));
		return 0;
	}
	if (rw_batch_last_labels(w->batch) > RW_RECEIVER_MAX_LABELS)
		w->many_labels++;
	rw_note(w, name);
	/* After a failed request the walk goes on only to learn which
	 * series are live, so that markers are right next time. */
	if (w->failed)
		rw_batch_reset(w->batch);
	return 0;
}

/* rw_hist's state for render_hist_each(). */
typedef struct rw_hist_ctx {
	rws *w;
	const spool_sample *x;
	const char *glab;
	int64_t ts;
	char *lab;      /* a bucket's labels: x->labels, then le="..." */
	size_t ll;      /* strlen(x->labels) */
} rw_hist_ctx;

static int
rw_hist_line(const render_hist_line *l, void *arg)
{
	rw_hist_ctx *h = arg;
	char name[EXPO_MAX_NAME + 16];
	const char *labels = h->x->labels;

	snprintf(name, sizeof(name), "%s%s", h->x->name, l->suffix);
	if (l->le != NULL) {
		snprintf(h->lab, h->ll + EXPO_VALUE_BUF + 8, "%s%sle=\"%s\"",
		    h->x->labels, h->ll ? "," : "", l->le);
		labels = h->lab;
	}
	return rw_add(h->w, name, h->glab, labels, l->value, NULL, h->ts);
}

/* An observed histogram as its cumulative _bucket samples, _sum, _count:
 * the series the text format shows (render_hist_each), one sample each. */
static int
rw_hist(rws *w, const spool_sample *x, const char *glab, int64_t ts)
{
	rw_hist_ctx h = { w, x, glab, ts, NULL, strlen(x->labels) };
	int rc;

	if ((h.lab = malloc(h.ll + EXPO_VALUE_BUF + 8)) == NULL) {
		w->incomplete = 1;
		return 0;
	}
	rc = render_hist_each(x, rw_hist_line, &h);
	free(h.lab);
	return rc;
}

typedef struct rwctx {
	rws *w;
	int64_t ts;        /* the round's samples */
	int64_t mark_ts;   /* its markers */
	double now_wall;
	size_t marks;
} rwctx;

/* Groups past group_ttl are not sent, even while the gateway (down, or
 * refusing the DELETE) still has them: their series go stale. (The list
 * was read at the start of this round, in id order.) */
static int
rw_keep(void *arg, int64_t gid)
{
	rwctx *r = arg;
	const groups *gl = r->w->env->gl;
	const group *x = groups_find(gl, gid);

	return x == NULL || !groups_aged(gl, x, clock_mono());
}

/* A staleness marker for a series that went away. */
static int
rw_mark(void *arg, const rw_key *k)
{
	rwctx *r = arg;
	rw_err e = rw_batch_add_key(r->w->batch, k, rw_stale_nan(),
	    r->mark_ts);

	if (e == RW_EFULL) {
		if (rw_flush(r->w) != RWS_SENT)
			return MARK_UNREACHABLE;
		e = rw_batch_add_key(r->w->batch, k, rw_stale_nan(),
		    r->mark_ts);
	}
	if (e != RW_OK) {
		/* Kept: it goes again with the next markers. */
		log_debug("staleness marker left out", "reason=%s",
		    rw_strerror(e));
		return MARK_LEFT_OUT;
	}
	r->marks++;
	return MARK_NEXT;
}

/*
 * Markers for the series the last whole walk did not see, in requests of
 * their own (a refused request of live samples does not take them along),
 * at mark_ts. The series are forgotten only once all their markers went.
 */
static rws_outcome
rw_markers(rws *w, rwctx *r, int64_t mark_ts)
{
	int rc;

	r->mark_ts = mark_ts;
	r->marks = 0;
	rw_batch_reset(w->batch);
	rc = rw_seen_each_gone(w->seen, rw_mark, r);
	if (rc != MARK_UNREACHABLE && rw_flush(w) != RWS_SENT)
		rc = MARK_UNREACHABLE;
	if (rc == MARK_UNREACHABLE)
		return RWS_UNREACHABLE;
	if (r->marks > 0)
		log_info("remote write: staleness markers sent", "series=%zu",
		    r->marks);
	if (rc == MARK_NEXT && rw_seen_forget_gone(w->seen) != RW_OK)
		log_debug("out of memory: markers go again next round", NULL);
	return RWS_SENT;
}

static int
rw_sample(void *arg, const spool_sample *x, const char *extra)
{
	rwctx *r = arg;

	const spool_hist *h = x->hist;

	if (h == NULL)
		return rw_add(r->w, x->name, extra, x->labels, x->value, NULL,
		    r->ts);
	/* A native histogram goes as one, on NAME; a native-only one (no
	 * classic buckets) as nothing else, as Prometheus stores it from a
	 * scrape; one with both forms with its classic series too. */
	if (h->native != NULL && r->w->no_hist)
		hist_left_out(r->w);
	else if (h->native != NULL)
		(void)rw_add(r->w, x->name, extra, x->labels, h->sum, h->native,
		    r->ts);
	if (h->native != NULL && h->n == 0)
		return 0;
	return rw_hist(r->w, x, extra, r->ts);
}

/* The agent's own metrics, labelled as its default group (job and
 * instance), as push mode puts them on the gateway. */
static int
rw_self(rws *w, rwctx *r)
{
	sink_env *env = w->env;
	size_t dl = strlen(env->default_grouping), o;
	char *extra = malloc(expo_pair_len("job", env->c->job) + dl + 2);
	int rc = 0;

	if (extra == NULL) {
		w->incomplete = 1;
		return 0;
	}
	o = expo_write_pair(extra, "job", env->c->job);
	extra[o++] = ',';
	memcpy(extra + o, env->default_grouping, dl + 1);
	if (spool_get_stats(env->s, &env->m->st) != SPOOL_OK)
		log_debug("cannot read spool stats", "reason=%s",
		    log_q(spool_errmsg(env->s)));
	for (size_t i = 0; rc == 0 && i < selfm_count_families(); i++)
		rc = selfm_each(env->m, i, extra, rw_sample, r);
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
 * whole state again, so nothing of the last state goes missing.
 */
static rws_outcome
rw_send(rws *w)
{
	static const pull_sink sink = { NULL, rw_sample, rw_keep };
	sink_env *env = w->env;
	rwctx r = { w, 0, 0, clock_wall(), 0 };
	pull_result res;
	char err[512];
	double start = clock_mono();
	int64_t now_ms = (int64_t)(r.now_wall * 1000.0), slack;
	pull_err rc;

	/* Every round (retries too) has a timestamp of its own, at least
	 * 2 ms after the last (room for owed markers), so a receiver never
	 * gets two values at one timestamp or an older one after a newer
	 * (Prometheus refuses the whole request for either). A small step
	 * back of the clock is bridged; a big one restarts from the clock,
	 * or every series would stay in the future until a restart. */
	slack = (int64_t)(env->c->interval * 2000.0);
	if (slack < TS_SLACK_MIN_MS)
		slack = TS_SLACK_MIN_MS;
	r.ts = now_ms;
	if (r.ts < w->ts + 2) {
		r.ts = w->ts + 2;
		if (w->ts - now_ms > slack) {
			log_errorx("the clock went back; remote write timestamps "
			    "start again from it (receivers may refuse them as "
			    "out of order)", "behind_ms=%lld",
			    (long long)(w->ts - now_ms));
			r.ts = now_ms;
		}
	}
	w->ts = r.ts;
	w->failed = 0;
	w->incomplete = 0;
	w->many_labels = 0;
	rw_seen_round(w->seen);
	if (groups_list(env->gl, env->s) != SPOOL_OK) {
		w->next = clock_mono() + env->c->interval;
		return RWS_SPOOL_FAILED;
	}
	if (rw_markers(w, &r, r.ts - 1) != RWS_SENT)
		return RWS_UNREACHABLE;
	rw_batch_reset(w->batch);
	(void)rw_self(w, &r);
	rc = pull_walk(env->s, &sink, &r, &res, err, sizeof(err));
	if (rc == PULL_ESPOOL || rc == PULL_ENOMEM) {
		/* What was sent is current; the rest goes next round. No
		 * markers: a series not read is not gone. */
		log_errorx("cannot read the groups for remote write",
		    "reason=%s", log_q(err));
		rw_batch_reset(w->batch);
		w->next = clock_mono() + env->c->interval;
		return RWS_SPOOL_FAILED;
	}
	if (!w->incomplete)
		rw_seen_walked(w->seen);
	/* Sent as they are (the gateway takes up to 64), but common
	 * receivers cut or refuse them: say so, now and then. */
	if (w->many_labels > 0 && (w->many_said == 0 ||
	    clock_mono() - w->many_said >= MANY_LABELS_SAY_S)) {
		log_warnx("series with more labels than remote-write receivers "
		    "take by default (VictoriaMetrics drops the rest silently, "
		    "Mimir refuses the series)", "series=%zu max_labels=%d",
		    w->many_labels, RW_RECEIVER_MAX_LABELS);
		w->many_said = clock_mono();
	}
	if (!w->failed && rw_flush(w) != RWS_SENT)
		w->failed = 1;
	if (w->failed)
		return RWS_UNREACHABLE;
	if (rw_markers(w, &r, r.ts) != RWS_SENT)
		return RWS_UNREACHABLE;
	backoff_reset(&w->bo);
	/* Rounds keep to the interval from their starts, so that their
	 * timestamps do not drift by each round's duration; a round longer
	 * than the interval is followed at once, never by a burst. */
	w->next = start + env->c->interval;
	if (w->next < clock_mono())
		w->next = clock_mono();
	return RWS_SENT;
}

/* --- the set of series sent, kept in the spool --------------------------- */

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
rw_load(rws *w)
{
	sink_env *env = w->env;
	keyvec v = { w->seen, NULL, 0, 0, 0, 0 };
	spool_err e = spool_rw_sent_each(env->s, env->c->rw.url, load_key, &v);
	unsigned held;

	if (e == SPOOL_OK && !v.oom) {
		w->loaded = 1;
		if (v.bad > 0)
			log_warnx("the spool's set of series remote write sent "
			    "held keys that are not series (edited by hand?); "
			    "they are removed at the next save", "keys=%zu",
			    v.bad);
		log_debug("remote write: series sent earlier loaded",
		    "series=%zu", rw_seen_count(w->seen));
		return 0;
	}
	if (log_limit_pass(&w->keep_lim, clock_mono(), LOG_REPEAT_S, &held))
		log_errorx("cannot load the series remote write sent earlier; "
		    "those gone since get no staleness marker until it works; "
		    "tried again next round", "reason=%s "
		    "failures_since_last_report=%u", v.oom ? "out of memory" :
		    log_q(spool_errmsg(env->s)), held);
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
rw_save(rws *w)
{
	sink_env *env = w->env;
	size_t nadd = rw_seen_unsaved(w->seen);
	keyvec v = { w->seen, NULL, 0, 0, 0, 0 };
	spool_err e = SPOOL_ENOMEM;
	unsigned held;

	v.cap = nadd + rw_seen_forgotten(w->seen);
	if (v.cap == 0)
		return 0;
	if ((v.k = malloc(v.cap * sizeof(*v.k))) != NULL &&
	    rw_seen_each_unsaved(w->seen, key_out, &v) == 0 && v.n == nadd &&
	    rw_seen_each_forgotten(w->seen, key_out, &v) == 0 &&
	    v.n == v.cap)
		e = spool_rw_sent_save(env->s, env->c->rw.url, v.k, nadd,
		    v.k + nadd, v.cap - nadd);
	else
		v.oom = 1;
	free(v.k);
	if (e == SPOOL_OK) {
		rw_seen_saved(w->seen);
		if (log_limit_clear(&w->keep_lim))
			log_info("saving the series remote write sent works "
			    "again", NULL);
		log_debug("remote write: series sent saved", "added=%zu "
		    "removed=%zu", nadd, v.cap - nadd);
		return 0;
	}
	if (log_limit_pass(&w->keep_lim, clock_mono(), LOG_REPEAT_S, &held))
		log_errorx("cannot save the series remote write sent; after a "
		    "restart, groups deleted meanwhile may get no staleness "
		    "marker; tried again next round", "reason=%s "
		    "failures_since_last_report=%u", v.oom ? "out of memory" :
		    log_q(spool_errmsg(env->s)), held);
	return -1;
}

/* A round (rw_send) between a load of the set of series sent, the first
 * time for this receiver, and a save of what it changed. */
static rws_outcome
rw_round(rws *w)
{
	int failed = 0;
	rws_outcome rc;

	if (!w->loaded && rw_load(w) != 0)
		failed = 1;
	rc = rw_send(w);
	if (rw_save(w) != 0)
		failed = 1;
	w->keep_failed = failed;
	return rc;
}

/* --- the sink ------------------------------------------------------------ */

static int
wanted(const cfg *c)
{
	return c->rw.url != NULL && c->rw.url[0] != '\0';
}

/* What a client for one receiver is made of (prepared on a reload). */
typedef struct rw_client {
	http_t *p;
	rw_batch *batch;
} rw_client;

static void
rw_client_free(rw_client *k)
{
	if (k == NULL)
		return;
	http_free(k->p);
	rw_batch_free(k->batch);
	free(k);
}

/* A client and a batch for c into *out; 0, or EX_CONFIG after logging
 * why. */
static int
rw_client_new(const cfg *c, rw_client **out)
{
	rw_client *k = calloc(1, sizeof(*k));
	char err[512] = "out of memory";

	*out = NULL;
	if (k == NULL || http_new(&c->rw, &k->p, err, sizeof(err)) != HTTP_OK ||
	    (k->batch = rw_batch_new((size_t)c->rw_max_samples_per_send)) ==
	    NULL) {
		log_errorx("cannot set up the remote write client", "url=%s "
		    "reason=%s", log_q(c->rw.url), k != NULL && k->p != NULL ?
		    "out of memory" : log_q(err));
		rw_client_free(k);
		return EX_CONFIG;
	}
	*out = k;
	return 0;
}

/* Takes client k for c (and frees k's shell), with a backoff that starts
 * again and a round due now. */
static void
rw_adopt(rws *w, const cfg *c, rw_client *k)
{
	http_free(w->p);
	rw_batch_free(w->batch);
	w->p = k->p;
	w->batch = k->batch;
	free(k);
	backoff_init(&w->bo, c->retry_min, c->retry_max,
	    backoff_seed(0x5bd1e995u));
	w->next = 0;
}

static void
rws_free(void *self)
{
	rws *w = self;

	if (w == NULL)
		return;
	http_free(w->p);
	rw_batch_free(w->batch);
	rw_seen_free(w->seen);
	free(w);
}

static int
rws_new(sink_env *env, const cfg *c, void **out)
{
	rw_client *k = NULL;
	rws *w;
	int rc;

	*out = NULL;
	if (!wanted(c))
		return 0;
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->seen = rw_seen_new()) == NULL) {
		free(w);
		log_errorx("out of memory", NULL);
		return EX_OSERR;
	}
	w->env = env;
	if ((rc = rw_client_new(c, &k)) != 0) {
		rws_free(w);
		return rc;
	}
	rw_adopt(w, c, k);
	*out = w;
	return 0;
}

static double
rws_due(const void *self)
{
	return ((const rws *)self)->next;
}

/* The daemon's round; a failed one is retried at w->next. */
static void
rws_round(void *self, double deadline)
{
	rws *w = self;

	if (deadline > 0)
		http_limit(w->p, deadline - clock_mono());
	(void)rw_round(w);
}

static int
rws_prepare(void *self, const cfg *c, void **pending)
{
	rw_client *k = NULL;
	int rc;

	(void)self;
	*pending = NULL;
	if (!wanted(c))
		return SINK_UNWANTED;
	if ((rc = rw_client_new(c, &k)) != 0)
		return rc;
	*pending = k;
	return 0;
}

static void
rws_commit(void *self, const cfg *c, void *pending)
{
	rws *w = self;

	rw_adopt(w, c, pending);
	/* Its settings may have changed (or it is another one): histograms
	 * are tried again. */
	w->no_hist = 0;
	/* Another receiver never saw the series: no markers for it. What
	 * the spool kept for the new one is loaded at its first round. */
	if (strcmp(w->env->c->rw.url, c->rw.url) != 0) {
		rw_seen_clear(w->seen);
		w->loaded = 0;
	}
}

static void
rws_discard(void *pending)
{
	rw_client_free(pending);
}

/*
 * --once: the state as it is, before the gateway's turn (it does not wait
 * for the gateway); each request capped at the time left, rounds retried
 * after the backoff until the deadline.
 */
static void
rws_once(void *self, double deadline, sink_result *res)
{
	rws *w = self;
	sink_env *env = w->env;
	double rejected = env->m->rw_requests[SELFM_REJECTED];
	rws_outcome rc;

	w->once = 1;
	w->once_deadline = deadline;
	while (http_limit(w->p, deadline - clock_mono()),
	    (rc = rw_round(w)) != RWS_SENT) {
		if (rc == RWS_SPOOL_FAILED) {
			res->spool_failed = 1;
			return;
		}
		if (w->next >= deadline || clock_mono() >= deadline) {
			log_errorx("remote write receiver not reachable in time; "
			    "the state is kept for the next run", "url=%s",
			    log_q(env->c->rw.url));
			res->late = 1;
			break;
		}
		clock_sleep_until(w->next);
	}
	/* The set of series sent is not in the spool: the next run may miss
	 * or repeat markers. Said (rw_save); the status says the spool
	 * failed. */
	res->keep_failed = w->keep_failed;
	if (env->m->rw_requests[SELFM_REJECTED] > rejected) {
		/* Dropped, not kept: remote write has no parking. */
		log_warnx("the remote write receiver refused some samples; they "
		    "are dropped, as the protocol says", NULL);
		res->refused = 1;
	}
	/* Counted as refused above; said again with the fix, so that it is
	 * among the run's last lines. */
	if (w->hist_dropped > 0)
		log_warnx("native histograms were not delivered: the remote "
		    "write receiver has them disabled; start Prometheus with "
		    "--enable-feature=native-histograms, or set the histogram's "
		    "format to classic or both", "url=%s histograms=%zu",
		    log_q(env->c->rw.url), w->hist_dropped);
}

/* No last round at a stop (markers are not sent: the data is still there
 * for the next start); only what the last round could not save. */
static void
rws_last(void *self, double deadline)
{
	rws *w = self;

	(void)deadline;
	if (w->keep_failed)
		(void)rw_save(w);
}

const sink_ops sink_rw_ops = {
	.name = "remote_write",
	.carries_deletes = 0,
	.new = rws_new,
	.start = NULL,
	.due = rws_due,
	.round = rws_round,
	.prepare = rws_prepare,
	.commit = rws_commit,
	.discard = rws_discard,
	.once = rws_once,
	.last = rws_last,
	.beat = NULL,
	.ready = NULL,
	.free = rws_free,
};
