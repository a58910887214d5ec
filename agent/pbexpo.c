/* pbexpo — the protobuf exposition format. See pbexpo.h.
 *
 * A family is gathered as plain structs (one per Metric, each owning its
 * strings and arrays), then, at its end, linked into protobuf-c's messages
 * and packed once: protobuf-c wants arrays of pointers, which would dangle
 * while the arrays still grow. */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include "pbexpo.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "hmap.h"
#include "metrics.pb-c.h"

typedef Io__Prometheus__Client__LabelPair pb_label;
typedef Io__Prometheus__Client__Bucket pb_bucket;
typedef Io__Prometheus__Client__Quantile pb_quantile;
typedef Io__Prometheus__Client__BucketSpan pb_span;
typedef Io__Prometheus__Client__Metric pb_metric;

/* How a family's samples become Metrics. */
enum fkind {
	FK_VALUE = 0,   /* counter, gauge, untyped: one sample, one Metric */
	FK_SUMMARY,     /* grouped by labels minus quantile */
	FK_HISTOGRAM    /* grouped by labels minus le; observed ones alone */
};

typedef struct pmetric {
	pb_label *lab;
	size_t nlab;
	pb_metric msg;
	Io__Prometheus__Client__Gauge g;
	Io__Prometheus__Client__Counter c;
	Io__Prometheus__Client__Untyped u;
	Io__Prometheus__Client__Summary s;
	Io__Prometheus__Client__Histogram h;
	pb_quantile *q;
	size_t nq, capq;
	pb_bucket *b;
	size_t nb, capb;
	pb_span *span;     /* positive spans, then negative */
	size_t npspan, nnspan;
	int64_t *delta;    /* positive deltas, then negative */
	size_t npdelta, nndelta;
} pmetric;

struct pbexpo {
	size_t family_cap;
	int active;
	char *name;
	char *help;                /* unescaped; NULL for none */
	Io__Prometheus__Client__MetricType type;
	enum fkind kind;
	pmetric *m;
	size_t nm, capm;
	hmap *groups;              /* key: labels minus le/quantile; value:
	                            * index + 1 into m */
	size_t held;               /* a lower bound of the encoded size */
	dbuf key;                  /* scratch */
	expo_label lab[2 * EXPO_MAX_LABELS];
	nhist_span *ns;            /* scratch for nhist_encode */
	size_t capns;
};

const char *
pbexpo_strerror(pbexpo_err e)
{
	switch (e) {
	case PBEXPO_OK:
		return "ok";
	case PBEXPO_ENOMEM:
		return "out of memory encoding protobuf";
	case PBEXPO_ETOOBIG:
		return "protobuf body over its size limit";
	case PBEXPO_EINVAL:
		return "a label set or HELP text that does not parse";
	}
	return "unknown pbexpo error";
}

pbexpo_err
pbexpo_new(size_t family_cap, pbexpo **out)
{
	pbexpo *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return PBEXPO_ENOMEM;
	if ((e->groups = hmap_new()) == NULL) {
		free(e);
		return PBEXPO_ENOMEM;
	}
	e->family_cap = family_cap;
	/* A key is at most a line's labels. */
	dbuf_init(&e->key, 2 * EXPO_MAX_LINE + 16);
	*out = e;
	return PBEXPO_OK;
}

static void
metric_free(pmetric *m)
{
	for (size_t i = 0; i < m->nlab; i++) {
		free(m->lab[i].name);
		free(m->lab[i].value);
	}
	free(m->lab);
	free(m->q);
	free(m->b);
	free(m->span);
	free(m->delta);
}

/* Drops the current family, keeping the allocations that are reused. */
static void
family_drop(pbexpo *e)
{
	for (size_t i = 0; i < e->nm; i++)
		metric_free(&e->m[i]);
	e->nm = 0;
	free(e->name);
	free(e->help);
	e->name = e->help = NULL;
	hmap_clear(e->groups, NULL);
	e->held = 0;
	e->active = 0;
}

void
pbexpo_free(pbexpo *e)
{
	if (e == NULL)
		return;
	family_drop(e);
	free(e->m);
	hmap_free(e->groups, NULL);
	dbuf_free(&e->key);
	free(e->ns);
	free(e);
}

/*
 * Unescapes the text format's escapes: \\ and \n, and \" when quote is set
 * (label values; HELP has no quotes to escape). Any other escape, or a
 * trailing backslash, is -1. Returns a new NUL-terminated string in *out.
 */
static int
unescape(const char *s, size_t len, int quote, char **out)
{
	char *r = malloc(len + 1), *w = r;

	if (r == NULL)
		return -2;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\\') {
			*w++ = s[i];
			continue;
		}
		if (++i == len)
			goto bad;
		if (s[i] == '\\')
			*w++ = '\\';
		else if (s[i] == 'n')
			*w++ = '\n';
		else if (s[i] == '"' && quote)
			*w++ = '"';
		else
			goto bad;
	}
	*w = '\0';
	*out = r;
	return 0;
bad:
	free(r);
	return -1;
}

static pbexpo_err
from_dbuf(dbuf_err d)
{
	return d == DBUF_ETOOBIG ? PBEXPO_ETOOBIG : PBEXPO_ENOMEM;
}

/* The length of v as a varint. */
static size_t
varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* A stable merge sort of buckets by upper bound: a family's le labels
 * come sorted as text ("+Inf" first, "10" before "2"). */
static void
sort_buckets(pb_bucket *a, pb_bucket *tmp, size_t n)
{
	size_t h = n / 2, i = 0, j = h, k = 0;

	if (n < 2)
		return;
	sort_buckets(a, tmp, h);
	sort_buckets(a + h, tmp, n - h);
	while (i < h && j < n) {
		if (a[j].upper_bound < a[i].upper_bound)
			tmp[k++] = a[j++];
		else
			tmp[k++] = a[i++];
	}
	while (i < h)
		tmp[k++] = a[i++];
	while (j < n)
		tmp[k++] = a[j++];
	memcpy(a, tmp, n * sizeof(*a));
}

static void
sort_quantiles(pb_quantile *a, pb_quantile *tmp, size_t n)
{
	size_t h = n / 2, i = 0, j = h, k = 0;

	if (n < 2)
		return;
	sort_quantiles(a, tmp, h);
	sort_quantiles(a + h, tmp, n - h);
	while (i < h && j < n) {
		if (a[j].quantile < a[i].quantile)
			tmp[k++] = a[j++];
		else
			tmp[k++] = a[i++];
	}
	while (i < h)
		tmp[k++] = a[i++];
	while (j < n)
		tmp[k++] = a[j++];
	memcpy(a, tmp, n * sizeof(*a));
}

/* A text value as the Pushgateway's parser stores a count: uint64 (the
 * fold keeps them in [0, 2^64); anything else is clamped). */
static uint64_t
to_u64(double v)
{
	if (!(v > 0))
		return 0;
	if (v >= 0x1p64)
		return UINT64_MAX;
	return (uint64_t)v;
}

pbexpo_err
pbexpo_family(pbexpo *e, const spool_family *f, dbuf *out)
{
	pbexpo_err r;
	int t;

	if (e->active && (r = pbexpo_end(e, out)) != PBEXPO_OK)
		return r;
	t = expo_type_parse(f->type, strlen(f->type));
	if (t < 0)
		return PBEXPO_EINVAL;
	switch ((expo_type)t) {
	case EXPO_COUNTER:
		e->type = IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER;
		e->kind = FK_VALUE;
		break;
	case EXPO_GAUGE:
		e->type = IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE;
		e->kind = FK_VALUE;
		break;
	case EXPO_HISTOGRAM:
		e->type = IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM;
		e->kind = FK_HISTOGRAM;
		break;
	case EXPO_SUMMARY:
		e->type = IO__PROMETHEUS__CLIENT__METRIC_TYPE__SUMMARY;
		e->kind = FK_SUMMARY;
		break;
	case EXPO_UNTYPED:
		e->type = IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED;
		e->kind = FK_VALUE;
		break;
	}
	if ((e->name = strdup(f->name)) == NULL)
		return PBEXPO_ENOMEM;
	if (f->help != NULL) {
		int u = unescape(f->help, strlen(f->help), 0, &e->help);

		if (u != 0) {
			free(e->name);
			e->name = NULL;
			return u == -2 ? PBEXPO_ENOMEM : PBEXPO_EINVAL;
		}
	}
	e->held = strlen(e->name) + (e->help ? strlen(e->help) : 0) + 2;
	e->active = 1;
	return PBEXPO_OK;
}

/* Grows an array of elements of size sz to hold one more. */
static int
grow(void *pp, size_t *cap, size_t n, size_t sz)
{
	void **p = pp;
	size_t nc;
	void *np;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 8;
	if (nc > SIZE_MAX / sz)
		return -1;
	if ((np = realloc(*p, nc * sz)) == NULL)
		return -1;
	*p = np;
	*cap = nc;
	return 0;
}

/* A new Metric with labels lab[0..n) minus the one at skip (SIZE_MAX:
 * none), values unescaped. */
static pbexpo_err
metric_new(pbexpo *e, const expo_label *lab, size_t n, size_t skip,
    pmetric **out)
{
	pmetric *m;
	size_t k = 0;

	if (grow(&e->m, &e->capm, e->nm, sizeof(*e->m)) != 0)
		return PBEXPO_ENOMEM;
	m = &e->m[e->nm];
	memset(m, 0, sizeof(*m));
	if (n > 0 && (m->lab = calloc(n, sizeof(*m->lab))) == NULL)
		return PBEXPO_ENOMEM;
	e->nm++;
	for (size_t i = 0; i < n; i++) {
		pb_label *l;
		int u;

		if (i == skip)
			continue;
		l = &m->lab[k];
		*l = (pb_label)IO__PROMETHEUS__CLIENT__LABEL_PAIR__INIT;
		if ((l->name = malloc(lab[i].name.len + 1)) == NULL)
			return PBEXPO_ENOMEM;
		memcpy(l->name, lab[i].name.p, lab[i].name.len);
		l->name[lab[i].name.len] = '\0';
		m->nlab = ++k;
		u = unescape(lab[i].value.p, lab[i].value.len, 1, &l->value);
		if (u != 0)
			return u == -2 ? PBEXPO_ENOMEM : PBEXPO_EINVAL;
		e->held += lab[i].name.len + strlen(l->value) + 4;
	}
	e->held += 2;
	*out = m;
	return PBEXPO_OK;
}

/* The native part of an observed histogram: spans and deltas of one
 * bucket set, appended to m's arrays. */
static pbexpo_err
add_native_set(pbexpo *e, pmetric *m, const nhist_bucket *b, size_t n,
    size_t *nspan, size_t *ndelta)
{
	size_t ns, nd, have_s = m->npspan + m->nnspan,
	    have_d = m->npdelta + m->nndelta;
	pb_span *sp;
	int64_t *dp;

	*nspan = *ndelta = 0;
	if (n == 0)
		return PBEXPO_OK;
	if (n > SIZE_MAX / (3 * sizeof(int64_t)))
		return PBEXPO_ENOMEM;
	if (n > e->capns) {
		nhist_span *p = realloc(e->ns, n * sizeof(*p));

		if (p == NULL)
			return PBEXPO_ENOMEM;
		e->ns = p;
		e->capns = n;
	}
	if ((sp = realloc(m->span, (have_s + n) * sizeof(*sp))) == NULL)
		return PBEXPO_ENOMEM;
	m->span = sp;
	if ((dp = realloc(m->delta, (have_d + 3 * n) * sizeof(*dp))) == NULL)
		return PBEXPO_ENOMEM;
	m->delta = dp;
	if (nhist_encode(b, n, e->ns, n, &ns, dp + have_d, 3 * n, &nd)
	    != NHIST_OK)
		return PBEXPO_EINVAL;
	for (size_t i = 0; i < ns; i++) {
		sp[have_s + i] = (pb_span)IO__PROMETHEUS__CLIENT__BUCKET_SPAN__INIT;
		sp[have_s + i].has_offset = 1;
		sp[have_s + i].offset = e->ns[i].offset;
		sp[have_s + i].has_length = 1;
		sp[have_s + i].length = e->ns[i].length;
	}
	*nspan = ns;
	*ndelta = nd;
	e->held += 4 * ns + nd;
	return PBEXPO_OK;
}

/* An observed histogram: one Metric of its own. */
static pbexpo_err
add_observed(pbexpo *e, pmetric *m, const spool_hist *h)
{
	const spool_nhist *nh = h->native;
	uint64_t cum = 0;
	pbexpo_err r;

	m->h = (Io__Prometheus__Client__Histogram)
	    IO__PROMETHEUS__CLIENT__HISTOGRAM__INIT;
	if (h->n > 0) {
		if ((m->b = calloc(h->n, sizeof(*m->b))) == NULL)
			return PBEXPO_ENOMEM;
		m->capb = h->n;
	}
	for (size_t i = 0; i < h->n; i++) {
		pb_bucket *b = &m->b[m->nb++];

		cum += h->counts[i];
		*b = (pb_bucket)IO__PROMETHEUS__CLIENT__BUCKET__INIT;
		b->has_cumulative_count = 1;
		b->cumulative_count = cum;
		b->has_upper_bound = 1;
		b->upper_bound = h->bounds[i];
	}
	cum += h->counts[h->n];
	m->h.has_sample_count = 1;
	m->h.sample_count = cum;
	m->h.has_sample_sum = 1;
	m->h.sample_sum = h->sum;
	e->held += 11 + 13 * h->n;
	if (nh == NULL)
		return PBEXPO_OK;
	m->h.has_schema = 1;
	m->h.schema = nh->schema;
	m->h.has_zero_threshold = 1;
	m->h.zero_threshold = nh->zero_threshold;
	m->h.has_zero_count = 1;
	m->h.zero_count = nh->zero_count;
	if ((r = add_native_set(e, m, nh->pos, nh->npos, &m->npspan,
	    &m->npdelta)) != PBEXPO_OK)
		return r;
	if ((r = add_native_set(e, m, nh->neg, nh->nneg, &m->nnspan,
	    &m->nndelta)) != PBEXPO_OK)
		return r;
	/* As client_golang: a native histogram with nothing in it and a zero
	 * threshold of 0 would read as a classic one without a span. */
	if (m->npspan == 0 && m->nnspan == 0 && nh->zero_threshold == 0 &&
	    nh->zero_count == 0) {
		pb_span *sp = malloc(sizeof(*sp));

		if (sp == NULL)
			return PBEXPO_ENOMEM;
		free(m->span);
		m->span = sp;
		*sp = (pb_span)IO__PROMETHEUS__CLIENT__BUCKET_SPAN__INIT;
		sp->has_offset = 1;
		sp->offset = 0;
		sp->has_length = 1;
		sp->length = 0;
		m->npspan = 1;
	}
	return PBEXPO_OK;
}

/* The suffix of a sample's name after the family's: "", "_sum", ... */
static const char *
suffix_of(const pbexpo *e, const char *name)
{
	size_t n = strlen(e->name);

	return strncmp(name, e->name, n) == 0 ? name + n : "";
}

pbexpo_err
pbexpo_sample(pbexpo *e, const spool_sample *x, const char *extra)
{
	const char *why, *labels = x->labels ? x->labels : "";
	size_t next = 0, nl = 0, skip = SIZE_MAX;
	const char *keyname;
	pmetric *m;
	pbexpo_err r;

	if (!e->active)
		return PBEXPO_EINVAL;
	if (extra != NULL && *extra != '\0' &&
	    expo_parse_labels(extra, strlen(extra), e->lab, EXPO_MAX_LABELS,
	    &next, &why) != 0) {
		r = PBEXPO_EINVAL;
		goto fail;
	}
	if (expo_parse_labels(labels, strlen(labels), e->lab + next,
	    EXPO_MAX_LABELS, &nl, &why) != 0) {
		r = PBEXPO_EINVAL;
		goto fail;
	}
	nl += next;
	/* The fold feeds observations only to histogram families; anything
	 * else is refused rather than guessed at. */
	if (x->hist != NULL &&
	    e->type != IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM) {
		r = PBEXPO_EINVAL;
		goto fail;
	}
	if (e->kind == FK_VALUE || x->hist != NULL) {
		if ((r = metric_new(e, e->lab, nl, SIZE_MAX, &m)) != PBEXPO_OK)
			goto fail;
		switch (e->type) {
		case IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER:
			m->c = (Io__Prometheus__Client__Counter)
			    IO__PROMETHEUS__CLIENT__COUNTER__INIT;
			m->c.has_value = 1;
			m->c.value = x->value;
			m->msg.counter = &m->c;
			break;
		case IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE:
			m->g = (Io__Prometheus__Client__Gauge)
			    IO__PROMETHEUS__CLIENT__GAUGE__INIT;
			m->g.has_value = 1;
			m->g.value = x->value;
			m->msg.gauge = &m->g;
			break;
		case IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM:
			if (x->hist == NULL) {
				r = PBEXPO_EINVAL;
				goto fail;
			}
			if ((r = add_observed(e, m, x->hist)) != PBEXPO_OK)
				goto fail;
			m->msg.histogram = &m->h;
			break;
		case IO__PROMETHEUS__CLIENT__METRIC_TYPE__SUMMARY:
		case IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE_HISTOGRAM:
		case _IO__PROMETHEUS__CLIENT__METRIC_TYPE_IS_INT_SIZE:
			/* Not reached: these kinds are grouped below. */
			r = PBEXPO_EINVAL;
			goto fail;
		case IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED:
			m->u = (Io__Prometheus__Client__Untyped)
			    IO__PROMETHEUS__CLIENT__UNTYPED__INIT;
			m->u.has_value = 1;
			m->u.value = x->value;
			m->msg.untyped = &m->u;
			break;
		}
		e->held += m->msg.histogram ? 2 : 11;
		goto check;
	}

	/* A histogram's or summary's line: its Metric is the one of the same
	 * labels without le (quantile), as the Pushgateway's parser groups
	 * them; the label, wherever it sorts, is not one of the Metric's. */
	keyname = e->kind == FK_HISTOGRAM ? "le" : "quantile";
	dbuf_reset(&e->key);
	for (size_t i = 0; i < nl; i++) {
		if (i >= next && expo_str_eq(e->lab[i].name, keyname)) {
			skip = i;
			continue;
		}
		dbuf_add(&e->key, e->lab[i].name.p, e->lab[i].name.len);
		dbuf_add(&e->key, "=\"", 2);
		dbuf_add(&e->key, e->lab[i].value.p, e->lab[i].value.len);
		dbuf_add(&e->key, "\",", 2);
	}
	if (e->key.err != DBUF_OK) {
		r = from_dbuf(e->key.err);
		goto fail;
	}
	{
		int created;
		void **slot = hmap_put(e->groups, e->key.p ? e->key.p : "",
		    e->key.len, &created);

		if (slot == NULL) {
			r = PBEXPO_ENOMEM;
			goto fail;
		}
		if (created) {
			if ((r = metric_new(e, e->lab, nl, skip, &m)) !=
			    PBEXPO_OK)
				goto fail;
			*slot = (void *)(uintptr_t)e->nm;
			if (e->kind == FK_HISTOGRAM) {
				m->h = (Io__Prometheus__Client__Histogram)
				    IO__PROMETHEUS__CLIENT__HISTOGRAM__INIT;
				m->msg.histogram = &m->h;
			} else {
				m->s = (Io__Prometheus__Client__Summary)
				    IO__PROMETHEUS__CLIENT__SUMMARY__INIT;
				m->msg.summary = &m->s;
			}
		} else
			m = &e->m[(uintptr_t)*slot - 1];
	}
	{
		const char *suf = suffix_of(e, x->name);
		double bound = NAN;

		if (skip != SIZE_MAX && expo_parse_value(e->lab[skip].value.p,
		    e->lab[skip].value.len, &bound) != 0)
			bound = NAN;
		/* The parser's order: _count, then _sum, then a bound. */
		if (strcmp(suf, "_count") == 0) {
			if (e->kind == FK_HISTOGRAM) {
				m->h.has_sample_count = 1;
				m->h.sample_count = to_u64(x->value);
			} else {
				m->s.has_sample_count = 1;
				m->s.sample_count = to_u64(x->value);
			}
			e->held += 2;
		} else if (strcmp(suf, "_sum") == 0) {
			if (e->kind == FK_HISTOGRAM) {
				m->h.has_sample_sum = 1;
				m->h.sample_sum = x->value;
			} else {
				m->s.has_sample_sum = 1;
				m->s.sample_sum = x->value;
			}
			e->held += 9;
		} else if (!isnan(bound) && e->kind == FK_HISTOGRAM) {
			pb_bucket *b;

			if (grow(&m->b, &m->capb, m->nb, sizeof(*m->b)) != 0) {
				r = PBEXPO_ENOMEM;
				goto fail;
			}
			b = &m->b[m->nb++];
			*b = (pb_bucket)IO__PROMETHEUS__CLIENT__BUCKET__INIT;
			b->has_cumulative_count = 1;
			b->cumulative_count = to_u64(x->value);
			b->has_upper_bound = 1;
			b->upper_bound = bound;
			e->held += 11;
		} else if (!isnan(bound)) {
			pb_quantile *q;

			if (grow(&m->q, &m->capq, m->nq, sizeof(*m->q)) != 0) {
				r = PBEXPO_ENOMEM;
				goto fail;
			}
			q = &m->q[m->nq++];
			*q = (pb_quantile)IO__PROMETHEUS__CLIENT__QUANTILE__INIT;
			q->has_quantile = 1;
			q->quantile = bound;
			q->has_value = 1;
			q->value = x->value;
			e->held += 18;
		}
	}
check:
	if (e->held > e->family_cap) {
		r = PBEXPO_ETOOBIG;
		goto fail;
	}
	return PBEXPO_OK;
fail:
	family_drop(e);
	return r;
}

/* Links the family's Metrics into protobuf-c's messages, packs them and
 * appends the result, delimited, to out. */
static pbexpo_err
family_write(pbexpo *e, dbuf *out)
{
	Io__Prometheus__Client__MetricFamily mf =
	    IO__PROMETHEUS__CLIENT__METRIC_FAMILY__INIT;
	size_t nptr = e->nm, maxsort = 0, at = 0, size, vl;
	void **ptr, *tmp = NULL;
	pbexpo_err r = PBEXPO_OK;
	uint8_t *p;

	for (size_t i = 0; i < e->nm; i++) {
		const pmetric *m = &e->m[i];

		nptr += m->nlab + m->nq + m->nb + m->npspan + m->nnspan;
		if (m->nb > maxsort)
			maxsort = m->nb;
		if (m->nq > maxsort)
			maxsort = m->nq;
	}
	if ((ptr = calloc(nptr ? nptr : 1, sizeof(*ptr))) == NULL)
		return PBEXPO_ENOMEM;
	if (maxsort > 0 && (tmp = malloc(maxsort * (sizeof(pb_bucket) >
	    sizeof(pb_quantile) ? sizeof(pb_bucket) : sizeof(pb_quantile))))
	    == NULL) {
		free(ptr);
		return PBEXPO_ENOMEM;
	}
	mf.name = e->name;
	mf.help = e->help;
	mf.has_type = 1;
	mf.type = e->type;
	mf.n_metric = e->nm;
	mf.metric = (pb_metric **)(ptr + at);
	at += e->nm;
	for (size_t i = 0; i < e->nm; i++) {
		pmetric *m = &e->m[i];
		pb_metric *g = &m->msg;
		pb_label **lp = (pb_label **)(ptr + at);

		/* The sub-message pointers were set when the Metric was made;
		 * only the arrays are linked here. */
		{
			Io__Prometheus__Client__Gauge *gg = g->gauge;
			Io__Prometheus__Client__Counter *cc = g->counter;
			Io__Prometheus__Client__Summary *ss = g->summary;
			Io__Prometheus__Client__Untyped *uu = g->untyped;
			Io__Prometheus__Client__Histogram *hh = g->histogram;

			*g = (pb_metric)IO__PROMETHEUS__CLIENT__METRIC__INIT;
			/* The struct moved with the array since they were set. */
			g->gauge = gg ? &m->g : NULL;
			g->counter = cc ? &m->c : NULL;
			g->summary = ss ? &m->s : NULL;
			g->untyped = uu ? &m->u : NULL;
			g->histogram = hh ? &m->h : NULL;
		}
		mf.metric[i] = g;
		for (size_t k = 0; k < m->nlab; k++)
			lp[k] = &m->lab[k];
		g->n_label = m->nlab;
		g->label = m->nlab ? lp : NULL;
		at += m->nlab;
		if (g->summary != NULL) {
			pb_quantile **qp = (pb_quantile **)(ptr + at);

			sort_quantiles(m->q, tmp, m->nq);
			for (size_t k = 0; k < m->nq; k++)
				qp[k] = &m->q[k];
			m->s.n_quantile = m->nq;
			m->s.quantile = m->nq ? qp : NULL;
			at += m->nq;
		}
		if (g->histogram != NULL) {
			pb_bucket **bp = (pb_bucket **)(ptr + at);
			pb_span **sp;

			sort_buckets(m->b, tmp, m->nb);
			for (size_t k = 0; k < m->nb; k++)
				bp[k] = &m->b[k];
			m->h.n_bucket = m->nb;
			m->h.bucket = m->nb ? bp : NULL;
			at += m->nb;
			sp = (pb_span **)(ptr + at);
			for (size_t k = 0; k < m->npspan + m->nnspan; k++)
				sp[k] = &m->span[k];
			at += m->npspan + m->nnspan;
			m->h.n_positive_span = m->npspan;
			m->h.positive_span = m->npspan ? sp : NULL;
			m->h.n_negative_span = m->nnspan;
			m->h.negative_span = m->nnspan ? sp + m->npspan : NULL;
			m->h.n_positive_delta = m->npdelta;
			m->h.positive_delta = m->npdelta ? m->delta : NULL;
			m->h.n_negative_delta = m->nndelta;
			m->h.negative_delta = m->nndelta ?
			    m->delta + m->npdelta : NULL;
		}
	}
	size = protobuf_c_message_get_packed_size(&mf.base);
	vl = varint_len(size);
	if (size > e->family_cap) {
		r = PBEXPO_ETOOBIG;
		goto out;
	}
	if ((p = (uint8_t *)dbuf_room(out, vl + size)) == NULL) {
		r = from_dbuf(out->err);
		goto out;
	}
	{
		uint64_t v = size;
		size_t i = 0;

		while (v >= 0x80) {
			p[i++] = (uint8_t)(v | 0x80);
			v >>= 7;
		}
		p[i] = (uint8_t)v;
	}
	protobuf_c_message_pack(&mf.base, p + vl);
	dbuf_commit(out, vl + size);
out:
	free(tmp);
	free(ptr);
	return r;
}

pbexpo_err
pbexpo_end(pbexpo *e, dbuf *out)
{
	pbexpo_err r;

	if (!e->active)
		return PBEXPO_OK;
	r = family_write(e, out);
	family_drop(e);
	return r;
}

/* --- Accept ---------------------------------------------------------------- */

/* One media range of an Accept header, as goautoneg parses it. */
typedef struct accept_clause {
	const char *type, *sub;
	size_t tlen, slen;
	double q;
	int proto;     /* the protobuf type with proto= and encoding=delimited */
	int text;      /* text/plain, version 0.0.4 or none */
} accept_clause;

#define ACCEPT_MAX_CLAUSES 64

static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

static int
tok_eq(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	if (len != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char a = s[i], b = lit[i];

		if (a >= 'A' && a <= 'Z')
			a = (char)(a - 'A' + 'a');
		if (b >= 'A' && b <= 'Z')
			b = (char)(b - 'A' + 'a');
		if (a != b)
			return 0;
	}
	return 1;
}

/* Parses one clause s[0..len); 0 when it is a media range. */
static int
parse_clause(const char *s, size_t len, accept_clause *c)
{
	const char *end = s + len, *semi = memchr(s, ';', len), *slash, *p;
	size_t mlen = semi ? (size_t)(semi - s) : len;
	int has_proto = 0, delimited = 0, version_ok = 1;

	memset(c, 0, sizeof(*c));
	c->q = 1.0;
	trim(&s, &mlen);
	slash = memchr(s, '/', mlen);
	if (slash == NULL) {
		if (!(mlen == 1 && s[0] == '*'))
			return -1;
		c->type = c->sub = "*";
		c->tlen = c->slen = 1;
	} else {
		c->type = s;
		c->tlen = (size_t)(slash - s);
		c->sub = slash + 1;
		c->slen = mlen - c->tlen - 1;
		if (memchr(c->sub, '/', c->slen) != NULL)
			return -1;
		trim(&c->type, &c->tlen);
		trim(&c->sub, &c->slen);
	}
	for (p = semi ? semi + 1 : end; p < end;) {
		const char *next = memchr(p, ';', (size_t)(end - p));
		size_t l = (size_t)((next ? next : end) - p), nlen, vlen;
		const char *eq = memchr(p, '=', l), *n = p, *v;

		if (eq != NULL) {
			nlen = (size_t)(eq - p);
			v = eq + 1;
			vlen = l - nlen - 1;
			trim(&n, &nlen);
			trim(&v, &vlen);
			if (tok_eq(n, nlen, "q")) {
				char buf[32], *e;

				c->q = 0;
				if (vlen < sizeof(buf)) {
					memcpy(buf, v, vlen);
					buf[vlen] = '\0';
					c->q = strtod(buf, &e);
					if (e == buf || *e != '\0' ||
					    !(c->q >= 0))
						c->q = 0;
				}
			} else if (tok_eq(n, nlen, "proto"))
				has_proto = vlen == 33 && memcmp(v,
				    "io.prometheus.client.MetricFamily", 33)
				    == 0;
			else if (tok_eq(n, nlen, "encoding"))
				delimited = tok_eq(v, vlen, "delimited");
			else if (tok_eq(n, nlen, "version"))
				version_ok = vlen == 0 || (vlen == 5 &&
				    memcmp(v, "0.0.4", 5) == 0);
		}
		p = next ? next + 1 : end;
	}
	c->proto = tok_eq(c->type, c->tlen, "application") &&
	    tok_eq(c->sub, c->slen, "vnd.google.protobuf") && has_proto &&
	    delimited;
	c->text = tok_eq(c->type, c->tlen, "text") &&
	    tok_eq(c->sub, c->slen, "plain") && version_ok;
	return 0;
}

/* goautoneg's order: a higher q first, then a specific type before a
 * wildcard. */
static int
clause_less(const accept_clause *a, const accept_clause *b)
{
	if (a->q > b->q)
		return 1;
	if (!tok_eq(a->type, a->tlen, "*") && tok_eq(b->type, b->tlen, "*"))
		return 1;
	if (!tok_eq(a->sub, a->slen, "*") && tok_eq(b->sub, b->slen, "*"))
		return 1;
	return 0;
}

int
pbexpo_accepted(const char *accept)
{
	accept_clause c[ACCEPT_MAX_CLAUSES], t;
	size_t n = 0, len;
	const char *s = accept;

	if (accept == NULL || *accept == '\0')
		return 0;
	len = strlen(accept);
	while (n < ACCEPT_MAX_CLAUSES) {
		const char *comma = memchr(s, ',', len - (size_t)(s - accept));
		size_t cl = comma ? (size_t)(comma - s) :
		    len - (size_t)(s - accept);

		if (parse_clause(s, cl, &c[n]) == 0)
			n++;
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	/* Go's sort of a short slice: an insertion sort, stable, so equal
	 * clauses keep the header's order. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && clause_less(&c[j], &c[j - 1]); j--) {
			t = c[j];
			c[j] = c[j - 1];
			c[j - 1] = t;
		}
	/* The first clause that names either format decides, as
	 * expfmt.Negotiate; a q of 0 (unlike there) excludes by HTTP's rule. */
	for (size_t i = 0; i < n; i++) {
		if (c[i].q <= 0)
			continue;
		if (c[i].proto)
			return 1;
		if (c[i].text)
			return 0;
	}
	return 0;
}
