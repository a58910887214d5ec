/* libFuzzer target: the protobuf exposition encoder (agent/pbexpo.h).
 * The input builds families of every type: values with labels whose
 * values hold the characters that need escapes, HELP texts, summaries and
 * histograms written as text lines (label sets interleaved in the
 * cursor's order, bounds and totals missing at random), and observed
 * histograms, classic and native, with random bucket sets. The body is
 * decoded with protobuf-c's generated unpack and must give back, field by
 * field, what was encoded; native buckets through nhist_decode. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.pb-c.h"
#include "pbexpo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef Io__Prometheus__Client__MetricFamily mfam;
typedef Io__Prometheus__Client__Metric pmet;
typedef Io__Prometheus__Client__Histogram phist;

#define MAXF 6        /* families */
#define MAXS 12       /* samples or label sets per family */
#define MAXB 48       /* native buckets per side */
#define MAXC 6        /* classic bounds */
#define VLEN 8        /* a label value's characters */

typedef struct in {
	const uint8_t *p;
	size_t n;
} in;

static unsigned
byte(in *r)
{
	if (r->n == 0)
		return 0;
	r->n--;
	return *r->p++;
}

static double
dbl(in *r)
{
	uint64_t b = 0;
	double v;

	for (int i = 0; i < 8; i++)
		b = b << 8 | byte(r);
	memcpy(&v, &b, 8);
	return v;
}

static int
same(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static const char *const alpha[] = {
	"a", "\\", "\"", "\n", "\xc3\xbc", " ", "=", ",", "}", "0"
};

/* A random string of the alphabet, raw, and its text-format escape. */
static void
rand_text(in *r, char *raw, char *esc, int quote)
{
	size_t n = byte(r) % (VLEN + 1), a = 0, b = 0;

	for (size_t i = 0; i < n; i++) {
		const char *c = alpha[byte(r) % 10];

		if (!quote && c[0] == '"')
			c = "q";
		a += (size_t)snprintf(raw + a, 32, "%s", c);
		if (c[0] == '\\')
			b += (size_t)snprintf(esc + b, 32, "\\\\");
		else if (c[0] == '"')
			b += (size_t)snprintf(esc + b, 32, "\\\"");
		else if (c[0] == '\n')
			b += (size_t)snprintf(esc + b, 32, "\\n");
		else
			b += (size_t)snprintf(esc + b, 32, "%s", c);
	}
	raw[a] = esc[b] = '\0';
}

/* One family's expectation. */
typedef struct lab {
	char name[4];
	char raw[VLEN * 2 + 1];
	char esc[VLEN * 2 * 2 + 1];
} lab;

typedef struct tset {              /* a text-written histogram or summary */
	int nb;                    /* bounds or quantiles */
	int idx[MAXC];             /* into the pool */
	double val[MAXC];
	int has_count, has_sum;
	double count, sum;
	int first;                 /* order of its first line */
} tset;

typedef struct obs {
	double bounds[MAXC];
	uint64_t counts[MAXC + 1];
	size_t n;
	double sum;
	int native;
	nhist_bucket pos[MAXB], neg[MAXB];
	spool_nhist nh;
	spool_hist h;
} obs;

typedef struct fam {
	char name[8];
	int type;                  /* 0 counter 1 gauge 2 untyped 3 summary
	                            * 4 histogram (text) 5 histogram (observed) */
	int has_help;
	char help_raw[VLEN * 2 + 1], help_esc[VLEN * 4 + 1];
	int ns;
	lab l[MAXS][2];            /* [0]: "a" (sorts before le/quantile) */
	char labels[MAXS][VLEN * 8 + 32];
	double v[MAXS];
	tset t[MAXS];
	obs o[MAXS];
} fam;

static fam F[MAXF];

static const char *const bpool[] = { "+Inf", "-1", "0.5", "1", "1e-3",
	"10", "2.5" };
static const double bval[] = { INFINITY, -1, 0.5, 1, 1e-3, 10, 2.5 };

/* One text line of a text-written set, for sorting in cursor order. */
typedef struct line {
	char name[16];
	char labels[VLEN * 8 + 64];
	int set;
	int kind;                  /* 0 bound, 1 count, 2 sum */
	int b;
	double v;
} line;

static line L[MAXS * (MAXC + 2)];

static int
by_line(const void *a, const void *b)
{
	const line *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->labels, y->labels);
}

static void
check_labels(const pmet *m, const fam *f, int s, int extra)
{
	size_t k = 0;

	if (m->n_label != (size_t)(extra + 2))
		abort();
	if (extra && (strcmp(m->label[k]->name, "job") != 0 ||
	    strcmp(m->label[k]->value, "j\"") != 0))
		abort();
	k += (size_t)extra;
	for (int i = 0; i < 2; i++, k++)
		if (strcmp(m->label[k]->name, f->l[s][i].name) != 0 ||
		    strcmp(m->label[k]->value, f->l[s][i].raw) != 0)
			abort();
}

static void
check_native(const phist *h, const spool_nhist *nh)
{
	static nhist_span sp[MAXB];
	static nhist_bucket back[3 * MAXB];
	size_t nb;

	if (!h->has_schema || h->schema != nh->schema ||
	    !h->has_zero_threshold ||
	    !same(h->zero_threshold, nh->zero_threshold) ||
	    !h->has_zero_count || h->zero_count != nh->zero_count)
		abort();
	for (int side = 0; side < 2; side++) {
		size_t ns = side ? h->n_negative_span : h->n_positive_span;
		Io__Prometheus__Client__BucketSpan **s = side ?
		    h->negative_span : h->positive_span;
		const int64_t *d = side ? h->negative_delta : h->positive_delta;
		size_t nd = side ? h->n_negative_delta : h->n_positive_delta;
		const nhist_bucket *want = side ? nh->neg : nh->pos;
		size_t nwant = side ? nh->nneg : nh->npos;

		if (ns > MAXB)
			abort();
		for (size_t i = 0; i < ns; i++) {
			sp[i].offset = s[i]->offset;
			sp[i].length = s[i]->length;
		}
		if (nhist_decode(sp, ns, d, nd, back, 3 * MAXB, &nb) !=
		    NHIST_OK || nb != nwant)
			abort();
		for (size_t i = 0; i < nb; i++)
			if (back[i].index != want[i].index ||
			    back[i].count != want[i].count)
				abort();
	}
	if (nh->npos == 0 && nh->nneg == 0 && nh->zero_threshold == 0 &&
	    nh->zero_count == 0) {
		if (h->n_positive_span != 1 || h->positive_span[0]->offset ||
		    h->positive_span[0]->length)
			abort();
	} else if (nh->npos == 0 && h->n_positive_span != 0)
		abort();
}

/* A sorted set of distinct indices with counts >= 1. */
static size_t
rand_set(in *r, nhist_bucket *b)
{
	size_t n = byte(r) % (MAXB + 1);
	int32_t at = (int32_t)(int8_t)byte(r) * 4;

	for (size_t i = 0; i < n; i++) {
		at += 1 + (int32_t)(byte(r) % 6);
		b[i].index = at;
		b[i].count = 1 + (int64_t)(byte(r) % 200);
	}
	return n;
}

static void
build(in *r, fam *f, int k)
{
	snprintf(f->name, sizeof(f->name), "f%d", k);
	f->type = (int)(byte(r) % 6);
	f->has_help = byte(r) & 1;
	rand_text(r, f->help_raw, f->help_esc, 0);
	f->ns = 1 + (int)(byte(r) % MAXS);
	for (int s = 0; s < f->ns; s++) {
		lab *l = f->l[s];

		snprintf(l[0].name, sizeof(l[0].name), "a");
		snprintf(l[1].name, sizeof(l[1].name), "z");
		rand_text(r, l[0].raw, l[0].esc, 1);
		/* z's value makes the set's labels unique. */
		snprintf(l[1].raw, sizeof(l[1].raw), "%d", s);
		snprintf(l[1].esc, sizeof(l[1].esc), "%d", s);
		snprintf(f->labels[s], sizeof(f->labels[s]),
		    "a=\"%s\",z=\"%s\"", l[0].esc, l[1].esc);
		f->v[s] = dbl(r);
		if (f->type == 3 || f->type == 4) {
			tset *t = &f->t[s];
			unsigned mask = byte(r);

			t->nb = 0;
			for (int i = 0; i < 7 && t->nb < MAXC; i++)
				if (mask & (1u << i)) {
					t->idx[t->nb] = i;
					t->val[t->nb++] =
					    (double)(byte(r) % 100);
				}
			t->has_count = byte(r) & 1;
			t->has_sum = byte(r) & 1;
			if (t->nb == 0 && !t->has_sum)
				t->has_count = 1;
			t->count = (double)(byte(r) % 100);
			t->sum = dbl(r);
		} else if (f->type == 5) {
			obs *o = &f->o[s];
			double b = -50;

			o->n = byte(r) % (MAXC + 1);
			for (size_t i = 0; i < o->n; i++) {
				b += 1 + byte(r);
				o->bounds[i] = b / 4;
			}
			for (size_t i = 0; i <= o->n; i++)
				o->counts[i] = byte(r) % 50;
			o->sum = dbl(r);
			o->native = byte(r) & 1;
			memset(&o->nh, 0, sizeof(o->nh));
			if (o->native) {
				static const double zt[] = { 0, 1e-3,
				    SPOOL_NHIST_ZERO_THRESHOLD };

				o->nh.schema = NHIST_SCHEMA_MIN +
				    (int)(byte(r) % 13);
				o->nh.zero_threshold = zt[byte(r) % 3];
				o->nh.zero_count = byte(r) % 3;
				o->nh.npos = rand_set(r, o->pos);
				o->nh.nneg = rand_set(r, o->neg);
				o->nh.pos = o->pos;
				o->nh.neg = o->neg;
				o->nh.max_buckets = 160;
			}
			o->h.n = o->n;
			o->h.bounds = o->bounds;
			o->h.counts = o->counts;
			o->h.sum = o->sum;
			o->h.native = o->native ? &o->nh : NULL;
		}
	}
}

static const char *const tname[] = { "counter", "gauge", "untyped",
	"summary", "histogram", "histogram" };
static const int ptype[] = {
	IO__PROMETHEUS__CLIENT__METRIC_TYPE__COUNTER,
	IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE,
	IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED,
	IO__PROMETHEUS__CLIENT__METRIC_TYPE__SUMMARY,
	IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM,
	IO__PROMETHEUS__CLIENT__METRIC_TYPE__HISTOGRAM,
};

/* The lines of a text-written family, in the cursor's order. */
static size_t
text_lines(fam *f)
{
	const char *key = f->type == 3 ? "quantile" : "le";
	size_t n = 0;

	for (int s = 0; s < f->ns; s++) {
		tset *t = &f->t[s];
		lab *l = f->l[s];

		for (int i = 0; i < t->nb; i++, n++) {
			snprintf(L[n].name, sizeof(L[n].name), "%s%s",
			    f->name, f->type == 3 ? "" : "_bucket");
			/* le and quantile sort between a and z. */
			snprintf(L[n].labels, sizeof(L[n].labels),
			    "a=\"%s\",%s=\"%s\",z=\"%s\"", l[0].esc, key,
			    f->type == 3 && bpool[t->idx[i]][0] == '+' ?
			    "0.75" : bpool[t->idx[i]], l[1].esc);
			L[n].set = s;
			L[n].kind = 0;
			L[n].b = i;
			L[n].v = t->val[i];
		}
		if (t->has_count) {
			snprintf(L[n].name, sizeof(L[n].name), "%s_count",
			    f->name);
			snprintf(L[n].labels, sizeof(L[n].labels), "%s",
			    f->labels[s]);
			L[n].set = s;
			L[n].kind = 1;
			L[n++].v = t->count;
		}
		if (t->has_sum) {
			snprintf(L[n].name, sizeof(L[n].name), "%s_sum",
			    f->name);
			snprintf(L[n].labels, sizeof(L[n].labels), "%s",
			    f->labels[s]);
			L[n].set = s;
			L[n].kind = 2;
			L[n++].v = t->sum;
		}
	}
	qsort(L, n, sizeof(*L), by_line);
	return n;
}

/* The bound of bound i of set t, as the encoder reads it. */
static double
tbound(const fam *f, const tset *t, int i)
{
	if (f->type == 3 && bpool[t->idx[i]][0] == '+')
		return 0.75;
	return bval[t->idx[i]];
}

static void
check_text(const fam *f, const mfam *m, const int *order, int nsets)
{
	if (m->n_metric != (size_t)nsets)
		abort();
	for (int k = 0; k < nsets; k++) {
		const pmet *p = m->metric[k];
		const tset *t = &f->t[order[k]];
		double want[MAXC], wv[MAXC];
		int n = t->nb;

		check_labels(p, f, order[k], 0);
		/* The wanted bounds, sorted (insertion: they are few). */
		for (int i = 0; i < n; i++) {
			int j = i;

			while (j > 0 && want[j - 1] > tbound(f, t, i)) {
				want[j] = want[j - 1];
				wv[j] = wv[j - 1];
				j--;
			}
			want[j] = tbound(f, t, i);
			wv[j] = t->val[i];
		}
		if (f->type == 3) {
			const Io__Prometheus__Client__Summary *s = p->summary;

			if (s == NULL || p->histogram || s->n_quantile !=
			    (size_t)n)
				abort();
			for (int i = 0; i < n; i++)
				if (!same(s->quantile[i]->quantile, want[i]) ||
				    !same(s->quantile[i]->value, wv[i]))
					abort();
			if (s->has_sample_count != t->has_count ||
			    (t->has_count && s->sample_count !=
			    (uint64_t)t->count) ||
			    s->has_sample_sum != t->has_sum ||
			    (t->has_sum && !same(s->sample_sum, t->sum)))
				abort();
		} else {
			const phist *h = p->histogram;

			if (h == NULL || p->summary || h->n_bucket !=
			    (size_t)n || h->has_schema)
				abort();
			for (int i = 0; i < n; i++)
				if (!same(h->bucket[i]->upper_bound, want[i]) ||
				    h->bucket[i]->cumulative_count !=
				    (uint64_t)wv[i])
					abort();
			if (h->has_sample_count != t->has_count ||
			    (t->has_count && h->sample_count !=
			    (uint64_t)t->count) ||
			    h->has_sample_sum != t->has_sum ||
			    (t->has_sum && !same(h->sample_sum, t->sum)))
				abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	in r = { data, size };
	int nf = 1 + (int)(byte(&r) % MAXF), extra = byte(&r) & 1;
	int order[MAXF][MAXS], nsets[MAXF];
	pbexpo *e = NULL;
	size_t at = 0;
	dbuf b;

	for (int k = 0; k < nf; k++)
		build(&r, &F[k], k);
	if (pbexpo_new(1u << 24, &e) != PBEXPO_OK)
		abort();
	dbuf_init(&b, 1u << 26);
	for (int k = 0; k < nf; k++) {
		fam *f = &F[k];
		spool_family sf = { f->name, tname[f->type], 1,
		    f->has_help ? f->help_esc : NULL };

		if (pbexpo_family(e, &sf, &b) != PBEXPO_OK)
			abort();
		nsets[k] = 0;
		if (f->type == 3 || f->type == 4) {
			size_t n = text_lines(f);
			int seen[MAXS] = { 0 };

			for (size_t i = 0; i < n; i++) {
				spool_sample x = { L[i].name, L[i].labels,
				    L[i].v, NULL };

				if (pbexpo_sample(e, &x, NULL) != PBEXPO_OK)
					abort();
				if (!seen[L[i].set]) {
					seen[L[i].set] = 1;
					order[k][nsets[k]++] = L[i].set;
				}
			}
			continue;
		}
		for (int s = 0; s < f->ns; s++) {
			spool_sample x = { f->name, f->labels[s], f->v[s],
			    f->type == 5 ? &f->o[s].h : NULL };

			if (pbexpo_sample(e, &x, extra ? "job=\"j\\\"\"" :
			    NULL) != PBEXPO_OK)
				abort();
		}
	}
	if (pbexpo_end(e, &b) != PBEXPO_OK)
		abort();

	for (int k = 0; k < nf; k++) {
		const fam *f = &F[k];
		uint64_t len = 0;
		int shift = 0;
		uint8_t c;
		mfam *m;

		do {
			if (at >= b.len || shift > 63)
				abort();
			c = (uint8_t)b.p[at++];
			len |= (uint64_t)(c & 0x7f) << shift;
			shift += 7;
		} while (c & 0x80);
		if (len > b.len - at)
			abort();
		m = io__prometheus__client__metric_family__unpack(NULL,
		    (size_t)len, (const uint8_t *)b.p + at);
		if (m == NULL)
			abort();
		at += (size_t)len;
		if (strcmp(m->name, f->name) != 0 || !m->has_type ||
		    (int)m->type != ptype[f->type])
			abort();
		if (f->has_help ? (m->help == NULL ||
		    strcmp(m->help, f->help_raw) != 0) : m->help != NULL)
			abort();
		if (f->type == 3 || f->type == 4) {
			check_text(f, m, order[k], nsets[k]);
		} else {
			if (m->n_metric != (size_t)f->ns)
				abort();
			for (int s = 0; s < f->ns; s++) {
				const pmet *p = m->metric[s];

				check_labels(p, f, s, extra);
				if (f->type == 0 && (p->counter == NULL ||
				    !same(p->counter->value, f->v[s])))
					abort();
				if (f->type == 1 && (p->gauge == NULL ||
				    !same(p->gauge->value, f->v[s])))
					abort();
				if (f->type == 2 && (p->untyped == NULL ||
				    !same(p->untyped->value, f->v[s])))
					abort();
				if (f->type == 5) {
					const obs *o = &f->o[s];
					const phist *h = p->histogram;
					uint64_t cum = 0;

					if (h == NULL || h->n_bucket != o->n)
						abort();
					for (size_t i = 0; i < o->n; i++) {
						cum += o->counts[i];
						if (!same(h->bucket[i]->upper_bound,
						    o->bounds[i]) ||
						    h->bucket[i]->cumulative_count
						    != cum)
							abort();
					}
					cum += o->counts[o->n];
					if (h->sample_count != cum ||
					    !same(h->sample_sum, o->sum))
						abort();
					if (o->native)
						check_native(h, &o->nh);
					else if (h->has_schema ||
					    h->n_positive_span ||
					    h->n_negative_span)
						abort();
				}
			}
		}
		io__prometheus__client__metric_family__free_unpacked(m, NULL);
	}
	if (at != b.len)
		abort();
	dbuf_free(&b);
	pbexpo_free(e);
	return 0;
}
