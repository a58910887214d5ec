/* selfm — the agent's own metrics. See selfm.h. */
#include <curl/curl.h>
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "expo.h"
#include "selfm.h"

static const double dur_bounds[SELFM_NDUR] = { .005, .01, .025, .05, .1,
	.25, .5, 1, 2.5, 5, 10, 30 };

/* What each family reports. */
typedef enum kind {
	K_BUILD, K_DELETES, K_DIRTY, K_GROUPS, K_LAST_SUCCESS, K_LIMIT,
	K_LIMIT_REFUSALS, K_LIMIT_USAGE, K_PARKED,
	K_DURATION, K_PUSHES, K_REJECTED, K_RW_REQUESTS, K_RW_SAMPLES,
	K_SERIES, K_BYTES, K_OLDEST,
	K_PENDING, K_UP
} kind;

typedef struct family {
	const char *name;
	const char *type;
	const char *help;
	kind k;
} family;

/* Sorted by name (a test checks), so they merge into sorted families. */
static const family fams[] = {
	{ SELFM_PREFIX "build_info", "gauge",
	    "The agent's version and the libraries it runs with.", K_BUILD },
	{ SELFM_PREFIX "deletes_total", "counter",
	    "Groups deleted from the gateway (expired or requested).",
	    K_DELETES },
	{ SELFM_PREFIX "dirty_groups", "gauge",
	    "Groups changed since their last successful push.", K_DIRTY },
	{ SELFM_PREFIX "groups", "gauge", "Groups in the spool.", K_GROUPS },
	{ SELFM_PREFIX "last_push_success_timestamp_seconds", "gauge",
	    "When a push last succeeded, in seconds since the epoch.",
	    K_LAST_SUCCESS },
	{ SELFM_PREFIX "limit", "gauge",
	    "The limits on what writers may create in the spool (settings "
	    "limits.*); 0 is no limit.", K_LIMIT },
	{ SELFM_PREFIX "limit_refusals_total", "counter",
	    "Spool rows refused because they would pass a limit.",
	    K_LIMIT_REFUSALS },
	{ SELFM_PREFIX "limit_usage", "gauge",
	    "What each limit counts now: groups, the series of the largest "
	    "group, the series of all groups.", K_LIMIT_USAGE },
	{ SELFM_PREFIX "parked_groups", "gauge",
	    "Groups the gateway refused, kept and retried later.", K_PARKED },
	{ SELFM_PREFIX "push_duration_seconds", "histogram",
	    "Duration of requests to the gateway.", K_DURATION },
	{ SELFM_PREFIX "pushes_total", "counter",
	    "Requests to the gateway by result.", K_PUSHES },
	{ SELFM_PREFIX "rejected_rows_total", "counter",
	    "Spool rows the fold refused: bad text, a type clash, a "
	    "negative add (see collector-spool rejected).",
	    K_REJECTED },
	{ SELFM_PREFIX "remote_write_requests_total", "counter",
	    "Requests to the remote-write receiver by result.",
	    K_RW_REQUESTS },
	{ SELFM_PREFIX "remote_write_samples_total", "counter",
	    "Samples sent to the remote-write receiver, or dropped with a "
	    "request it refused.", K_RW_SAMPLES },
	{ SELFM_PREFIX "series", "gauge", "Series in the spool.", K_SERIES },
	{ SELFM_PREFIX "spool_bytes", "gauge",
	    "Size of the spool file and its WAL.", K_BYTES },
	{ SELFM_PREFIX "spool_oldest_pending_age_seconds", "gauge",
	    "Age of the oldest row not yet folded; 0 when there is none.",
	    K_OLDEST },
	{ SELFM_PREFIX "spool_pending_rows", "gauge",
	    "Rows written to the spool and not yet folded.", K_PENDING },
	{ SELFM_PREFIX "up", "gauge", "1 while the agent runs.", K_UP },
};
#define NFAMS (sizeof(fams) / sizeof(fams[0]))

void
selfm_count(selfm *m, selfm_result r, double seconds, double now)
{
	size_t i = 0;

	while (i < SELFM_NDUR && seconds > dur_bounds[i])
		i++;
	m->dur_counts[i]++;
	m->dur_sum += seconds;
	m->pushes[r]++;
	if (r == SELFM_SUCCESS)
		m->last_success = now;
}

size_t
selfm_count_families(void)
{
	return NFAMS;
}

const char *
selfm_family_name(size_t i)
{
	return i < NFAMS ? fams[i].name : NULL;
}

int
selfm_family(size_t i, spool_family *f)
{
	if (i >= NFAMS)
		return -1;
	f->name = fams[i].name;
	f->type = fams[i].type;
	f->typed = 1;
	f->help = fams[i].help;
	return 0;
}

int
selfm_owns(const char *name)
{
	return strncmp(name, SELFM_PREFIX, sizeof(SELFM_PREFIX) - 1) == 0;
}

/* Versions come from libraries: escaped like any label value. */
static void
build_labels(char *out, size_t cap)
{
	const char *const v[4][2] = {
		{ "curl_version", curl_version_info(CURLVERSION_NOW)->version },
		{ "microhttpd_version", MHD_get_version() },
		{ "sqlite_version", spool_sqlite_version() },
		{ "version", spool_version() },
	};
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < 4; i++) {
		if (o + expo_pair_len(v[i][0], v[i][1]) + 2 > cap)
			break;
		if (i > 0)
			out[o++] = ',';
		o += expo_write_pair(out + o, v[i][0], v[i][1]);
	}
}

static double
value(const selfm *m, kind k)
{
	switch (k) {
	case K_DELETES:
		return m->deletes;
	case K_DIRTY:
		return (double)m->st.dirty_groups;
	case K_GROUPS:
		return (double)m->st.groups;
	case K_LAST_SUCCESS:
		return m->last_success;
	case K_PARKED:
		return (double)m->st.parked_groups;
	case K_REJECTED:
		return (double)m->st.rejected_total;
	case K_SERIES:
		return (double)m->st.series;
	case K_BYTES:
		return (double)m->st.bytes;
	case K_OLDEST:
		return m->st.oldest_pending_age > 0 ?
		    m->st.oldest_pending_age : 0;
	case K_PENDING:
		return (double)m->st.pending_rows;
	case K_BUILD:
	case K_UP:
	case K_DURATION:
	case K_LIMIT:
	case K_LIMIT_REFUSALS:
	case K_LIMIT_USAGE:
	case K_PUSHES:
	case K_RW_REQUESTS:
	case K_RW_SAMPLES:
		break;
	}
	return 1;
}

/* The limits in the order of their label values, as the gateway would
 * show them. */
static const spool_limit limit_order[SPOOL_NLIMITS] = { SPOOL_LIMIT_GROUPS,
	SPOOL_LIMIT_SERIES, SPOOL_LIMIT_SERIES_PER_GROUP };

/* One sample per limit, labelled limit="max_..."; what k reports. */
static int
each_limit(const selfm *m, kind k, spool_sample *x, const char *extra,
    int (*fn)(void *arg, const spool_sample *x, const char *extra),
    void *arg)
{
	char lab[64];
	int rc;

	for (size_t i = 0; i < SPOOL_NLIMITS; i++) {
		spool_limit l = limit_order[i];
		snprintf(lab, sizeof(lab), "limit=\"%s\"", spool_limit_name(l));
		x->labels = lab;
		x->value = (double)(k == K_LIMIT ? m->limit[l] :
		    k == K_LIMIT_USAGE ? m->use.used[l] : m->use.refused[l]);
		if ((rc = fn(arg, x, extra)) != 0)
			return rc;
	}
	return 0;
}

int
selfm_each(const selfm *m, size_t i, const char *extra,
    int (*fn)(void *arg, const spool_sample *x, const char *extra),
    void *arg)
{
	/* Sorted by label value, as the gateway would show them. */
	static const char *const res[] = { "result=\"rejected\"",
	    "result=\"retry\"", "result=\"success\"" };
	static const selfm_result order[] = { SELFM_REJECTED, SELFM_RETRY,
	    SELFM_SUCCESS };
	const family *sf;
	spool_sample x;
	spool_hist h;
	char bl[512];
	int rc;

	if (i >= NFAMS)
		return 0;
	sf = &fams[i];
	x.name = sf->name;
	x.labels = "";
	x.hist = NULL;
	switch (sf->k) {
	case K_DURATION:
		h.n = SELFM_NDUR;
		h.bounds = dur_bounds;
		h.counts = m->dur_counts;
		h.sum = m->dur_sum;
		h.native = NULL;
		x.hist = &h;
		x.value = NAN;
		return fn(arg, &x, extra);
	case K_PUSHES:
	case K_RW_REQUESTS:
		for (size_t k = 0; k < 3; k++) {
			x.labels = res[k];
			x.value = sf->k == K_PUSHES ? m->pushes[order[k]] :
			    m->rw_requests[order[k]];
			if ((rc = fn(arg, &x, extra)) != 0)
				return rc;
		}
		return 0;
	case K_RW_SAMPLES:
		x.labels = "result=\"dropped\"";
		x.value = m->rw_dropped;
		if ((rc = fn(arg, &x, extra)) != 0)
			return rc;
		x.labels = "result=\"sent\"";
		x.value = m->rw_sent;
		return fn(arg, &x, extra);
	case K_BUILD:
		build_labels(bl, sizeof(bl));
		x.labels = bl;
		x.value = 1;
		return fn(arg, &x, extra);
	case K_LIMIT:
	case K_LIMIT_REFUSALS:
	case K_LIMIT_USAGE:
		return each_limit(m, sf->k, &x, extra, fn, arg);
	case K_DELETES:
	case K_DIRTY:
	case K_GROUPS:
	case K_LAST_SUCCESS:
	case K_PARKED:
	case K_REJECTED:
	case K_SERIES:
	case K_BYTES:
	case K_OLDEST:
	case K_PENDING:
	case K_UP:
		break;
	}
	x.value = value(m, sf->k);
	return fn(arg, &x, extra);
}

typedef struct render_ctx {
	dbuf *b;
	dbuf_err e;
} render_ctx;

static int
render_one(void *arg, const spool_sample *x, const char *extra)
{
	render_ctx *r = arg;

	r->e = render_sample(r->b, x, extra);
	return r->e != DBUF_OK;
}

dbuf_err
selfm_render(dbuf *b, const selfm *m, size_t i, const char *extra)
{
	render_ctx r = { b, DBUF_OK };
	spool_family f;
	dbuf_err e;

	if (selfm_family(i, &f) != 0)
		return DBUF_OK;
	if ((e = render_family(b, &f)) != DBUF_OK)
		return e;
	(void)selfm_each(m, i, extra, render_one, &r);
	return r.e;
}

int
selfm_limit_state(const selfm *m, spool_limit l)
{
	double max = (double)m->limit[l], used = (double)m->use.used[l];

	if (max <= 0)
		return 0;
	return used >= max ? 2 : used >= SELFM_LIMIT_NEAR * max ? 1 : 0;
}

void
selfm_sig_fill(selfm_sig *s, const selfm *m)
{
	s->pushes_retry = m->pushes[SELFM_RETRY];
	s->rw_retry = m->rw_requests[SELFM_RETRY];
	s->rw_dropped = m->rw_dropped;
	for (int i = 0; i < SPOOL_NLIMITS; i++)
		s->limit_state[i] = selfm_limit_state(m, (spool_limit)i);
}

const char *
selfm_sig_diff(const selfm_sig *a, const selfm_sig *b)
{
	if (a->parked != b->parked)
		return "parked_groups";
	if (a->pushes_retry != b->pushes_retry)
		return "pushes_retry";
	if (a->rows_rejected != b->rows_rejected)
		return "rejected_rows";
	if (a->rw_retry != b->rw_retry)
		return "remote_write_retry";
	if (a->rw_dropped != b->rw_dropped)
		return "remote_write_dropped";
	for (int i = 0; i < SPOOL_NLIMITS; i++)
		if (a->limit_state[i] != b->limit_state[i])
			return spool_limit_name((spool_limit)i);
	if (a->backlog != b->backlog)
		return "backlog";
	return NULL;
}

selfm_result
selfm_result_of(http_outcome o)
{
	switch (o) {
	case HTTP_DELIVERED:
		break;
	case HTTP_RETRY:
		return SELFM_RETRY;
	case HTTP_REFUSED:
		return SELFM_REJECTED;
	}
	return SELFM_SUCCESS;
}
