/* rw — remote write encoding. See rw.h. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "expo.h"
#include "hmap.h"
#include "nhist.h"
#include "remote.pb-c.h"
#include "rw.h"

/* A label as offsets into the batch's string arena. */
typedef struct lab {
	size_t name, value;
} lab;

typedef struct ent {
	size_t lab0, nlab;
	double value;
	int64_t ts;
	size_t hist;          /* 1 + its index in hents; 0: a float sample */
} ent;

/* A native histogram: its spans and deltas as offsets into the batch's
 * arrays, negative ones first. */
typedef struct hent {
	uint64_t count, zero_count;
	double sum, zero_threshold;
	int32_t schema;
	int64_t ts;
	size_t span0, nspan[2];     /* [0] negative, [1] positive */
	size_t delta0, ndelta[2];
} hent;

struct rw_batch {
	size_t max, n;
	ent *ents;
	lab *labs;
	size_t nlabs, caplabs;
	/* NUL-terminated names and raw values. No cap: max_samples bounds
	 * it. After out of memory it takes nothing until the reset. */
	dbuf arena;
	/* What encode builds; kept for the next batch. */
	Prometheus__TimeSeries *ts, **tsp;
	Prometheus__Label *pl, **plp;
	Prometheus__Sample *ps, **psp;
	size_t capts, cappl;
	/* Native histograms, in the order of their entries. */
	hent *hents;
	size_t nhents, caphents;
	nhist_span *spans;
	size_t nspans, capspans;
	int64_t *deltas;
	size_t ndeltas, capdeltas;
	Prometheus__Histogram *ph, **php;
	size_t capph;
	Prometheus__BucketSpan *pbs, **pbsp;
	size_t cappbs;
	dbuf pb;                   /* the packed protobuf */
	/* The last group's labels, parsed: samples come group by group. */
	char *gcopy;
	expo_label gl[EXPO_MAX_LABELS];
	size_t ng;
	dbuf z;                    /* pb, compressed */
};

const char *
rw_strerror(rw_err e)
{
	switch (e) {
	case RW_OK:
		return "no error";
	case RW_ENOMEM:
		return "out of memory";
	case RW_EINVAL:
		return "labels that do not parse";
	case RW_EFULL:
		return "the batch is full";
	case RW_ECOMPRESS:
		return "snappy could not compress the request";
	}
	return "unknown error";
}

rw_batch *
rw_batch_new(size_t max_samples)
{
	rw_batch *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->max = max_samples > 0 ? max_samples : 1;
	if ((b->ents = calloc(b->max, sizeof(*b->ents))) == NULL) {
		free(b);
		return NULL;
	}
	dbuf_init(&b->arena, SIZE_MAX);
	dbuf_init(&b->pb, SIZE_MAX);
	dbuf_init(&b->z, SIZE_MAX);
	return b;
}

void
rw_batch_free(rw_batch *b)
{
	if (b == NULL)
		return;
	free(b->ents);
	free(b->labs);
	dbuf_free(&b->arena);
	free(b->ts);
	free(b->tsp);
	free(b->pl);
	free(b->plp);
	free(b->ps);
	free(b->psp);
	free(b->hents);
	free(b->spans);
	free(b->deltas);
	free(b->ph);
	free(b->php);
	free(b->pbs);
	free(b->pbsp);
	dbuf_free(&b->pb);
	dbuf_free(&b->z);
	free(b->gcopy);
	free(b);
}

void
rw_batch_reset(rw_batch *b)
{
	b->n = 0;
	b->nlabs = 0;
	b->nhents = 0;
	b->nspans = 0;
	b->ndeltas = 0;
	dbuf_reset(&b->arena);
}

size_t
rw_batch_count(const rw_batch *b)
{
	return b->n;
}

size_t
rw_batch_histograms(const rw_batch *b)
{
	return b->nhents;
}

size_t
rw_batch_last_labels(const rw_batch *b)
{
	return b->n > 0 ? b->ents[b->n - 1].nlab : 0;
}

double
rw_stale_nan(void)
{
	uint64_t bits = 0x7ff0000000000002ULL;
	double d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

/* Grows an array of *cap elements of size sz to hold at least want,
 * doubling, so that appending one at a time stays cheap. */
static int
grow(void **p, size_t *cap, size_t want, size_t sz)
{
	size_t n = *cap ? *cap : 64;
	void *np;

	if (want <= *cap)
		return 0;
	while (n < want)
		n *= 2;
	if ((np = realloc(*p, n * sz)) == NULL)
		return -1;
	*p = np;
	*cap = n;
	return 0;
}


/* Appends s (len bytes), unescaped when esc, and a NUL; returns its
 * offset, or (size_t)-1 out of memory. */
static size_t
arena_add(rw_batch *b, const char *s, size_t len, int esc)
{
	size_t off = b->arena.len;
	char *o, *start;

	if ((o = start = dbuf_room(&b->arena, len + 1)) == NULL)
		return (size_t)-1;
	for (size_t i = 0; i < len; i++) {
		if (esc && s[i] == '\\' && i + 1 < len) {
			i++;
			*o++ = s[i] == 'n' ? '\n' : s[i];
		} else
			*o++ = s[i];
	}
	*o++ = '\0';
	dbuf_commit(&b->arena, (size_t)(o - start));
	return off;
}

/* Room for n more labels. */
static int
labs_room(rw_batch *b, size_t n)
{
	return grow((void **)&b->labs, &b->caplabs, b->nlabs + n, sizeof(lab));
}

/* One label of a sample being added, before it is copied. */
typedef struct tlab {
	const char *name, *value;
	size_t nlen, vlen;
	int esc;
} tlab;

static int
tlab_cmp(const tlab *a, const tlab *b)
{
	size_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
	int c = memcmp(a->name, b->name, n);

	return c != 0 ? c : (a->nlen > b->nlen) - (a->nlen < b->nlen);
}

/* The labels of a new entry into labs and the arena (from *lab0 on). */
static rw_err
add_labels(rw_batch *b, const char *name, const char *group,
    const char *labels, size_t *lab0)
{
	expo_label sl[EXPO_MAX_LABELS];
	const expo_label *gl;
	tlab t[2 * EXPO_MAX_LABELS + 1];
	size_t ng, ns = 0, nt = 0, alen = b->arena.len, nlabs = b->nlabs;
	const char *why;

	/* A bad name would be stored as it is, or make a receiver answer
	 * 500, which would be retried for ever. */
	if (name == NULL || !expo_valid_metric_name(name, strlen(name)))
		return RW_EINVAL;
	if (group == NULL)
		group = "";
	if (b->gcopy == NULL || strcmp(b->gcopy, group) != 0) {
		char *c = strdup(group);
		if (c == NULL)
			return RW_ENOMEM;
		free(b->gcopy);
		b->gcopy = c;
		b->ng = 0;
		if (*c != '\0' && expo_parse_labels(c, strlen(c), b->gl,
		    EXPO_MAX_LABELS, &b->ng, &why) != 0) {
			free(b->gcopy);
			b->gcopy = NULL;
			return RW_EINVAL;
		}
	}
	gl = b->gl;
	ng = b->ng;
	if (labels != NULL && *labels != '\0' && expo_parse_labels(labels,
	    strlen(labels), sl, EXPO_MAX_LABELS, &ns, &why) != 0)
		return RW_EINVAL;
	t[nt++] = (tlab){ "__name__", name, 8, strlen(name), 0 };
	for (size_t i = 0; i < ng; i++)
		t[nt++] = (tlab){ gl[i].name.p, gl[i].value.p, gl[i].name.len,
		    gl[i].value.len, 1 };
	for (size_t i = 0; i < ns; i++) {
		int clash = 0;
		for (size_t k = 0; k < ng && !clash; k++)
			clash = gl[k].name.len == sl[i].name.len &&
			    memcmp(gl[k].name.p, sl[i].name.p,
			    sl[i].name.len) == 0;
		if (!clash)
			t[nt++] = (tlab){ sl[i].name.p, sl[i].value.p,
			    sl[i].name.len, sl[i].value.len, 1 };
	}
	/* Insertion sort: a sample has a few dozen labels at most. */
	for (size_t i = 1; i < nt; i++) {
		tlab x = t[i];
		size_t k = i;
		while (k > 0 && tlab_cmp(&t[k - 1], &x) > 0) {
			t[k] = t[k - 1];
			k--;
		}
		t[k] = x;
	}
	if (labs_room(b, nt) != 0)
		return RW_ENOMEM;
	for (size_t i = 0; i < nt; i++) {
		lab *l = &b->labs[b->nlabs];
		/* The spec forbids empty values: such a label is absent. */
		if (t[i].vlen == 0)
			continue;
		l->name = arena_add(b, t[i].name, t[i].nlen, 0);
		l->value = arena_add(b, t[i].value, t[i].vlen, t[i].esc);
		if (l->name == (size_t)-1 || l->value == (size_t)-1) {
			dbuf_setlen(&b->arena, alen);
			b->nlabs = nlabs;
			return RW_ENOMEM;
		}
		b->nlabs++;
	}
	*lab0 = nlabs;
	return RW_OK;
}

rw_err
rw_batch_add(rw_batch *b, const char *name, const char *group,
    const char *labels, double value, int64_t ts_ms)
{
	size_t lab0;
	rw_err err;
	ent *e;

	if (b->n == b->max)
		return RW_EFULL;
	if ((err = add_labels(b, name, group, labels, &lab0)) != RW_OK)
		return err;
	e = &b->ents[b->n++];
	e->lab0 = lab0;
	e->nlab = b->nlabs - lab0;
	e->value = value;
	e->ts = ts_ms;
	e->hist = 0;
	return RW_OK;
}

/* One side's buckets as spans and deltas, after those the batch holds
 * (room for them made by the caller). */
static rw_err
encode_side(rw_batch *b, const nhist_bucket *bk, size_t n, size_t *nspan,
    size_t *ndelta)
{
	size_t ns, nd;

	*nspan = 0;
	*ndelta = 0;
	/* The arrays may not exist yet: nothing to point into. */
	if (n == 0)
		return RW_OK;
	if (bk == NULL)
		return RW_EINVAL;
	if (nhist_encode(bk, n, b->spans + b->nspans, b->capspans - b->nspans,
	    &ns, b->deltas + b->ndeltas, b->capdeltas - b->ndeltas, &nd) !=
	    NHIST_OK)
		return RW_EINVAL;
	*nspan = ns;
	*ndelta = nd;
	b->nspans += ns;
	b->ndeltas += nd;
	return RW_OK;
}

rw_err
rw_batch_add_hist(rw_batch *b, const char *name, const char *group,
    const char *labels, const spool_nhist *h, double sum, int64_t ts_ms)
{
	size_t nb, lab0, spans = b->nspans, deltas = b->ndeltas;
	hent *x;
	rw_err err;
	ent *e;

	if (b->n == b->max)
		return RW_EFULL;
	if (h == NULL || h->schema < NHIST_SCHEMA_MIN ||
	    h->schema > NHIST_SCHEMA_MAX || h->npos > RW_BATCH_BUCKETS ||
	    h->nneg > RW_BATCH_BUCKETS)
		return RW_EINVAL;
	/* nhist_encode's room: a span per bucket, and a delta per bucket
	 * and per empty bucket (at most two) before it. */
	nb = 4 * (h->npos + h->nneg);
	if (b->nhents > 0 && b->nspans + b->ndeltas + nb > RW_BATCH_BUCKETS)
		return RW_EFULL;
	if (grow((void **)&b->hents, &b->caphents, b->nhents + 1,
	    sizeof(*b->hents)) != 0 ||
	    grow((void **)&b->spans, &b->capspans, b->nspans + h->npos +
	    h->nneg, sizeof(*b->spans)) != 0 ||
	    grow((void **)&b->deltas, &b->capdeltas, b->ndeltas + 3 *
	    (h->npos + h->nneg), sizeof(*b->deltas)) != 0)
		return RW_ENOMEM;
	x = &b->hents[b->nhents];
	x->count = h->count;
	x->zero_count = h->zero_count;
	x->sum = sum;
	x->zero_threshold = h->zero_threshold;
	x->schema = h->schema;
	x->ts = ts_ms;
	x->span0 = spans;
	x->delta0 = deltas;
	if ((err = encode_side(b, h->neg, h->nneg, &x->nspan[0],
	    &x->ndelta[0])) != RW_OK ||
	    (err = encode_side(b, h->pos, h->npos, &x->nspan[1],
	    &x->ndelta[1])) != RW_OK ||
	    (err = add_labels(b, name, group, labels, &lab0)) != RW_OK) {
		b->nspans = spans;
		b->ndeltas = deltas;
		return err;
	}
	b->nhents++;
	e = &b->ents[b->n++];
	e->lab0 = lab0;
	e->nlab = b->nlabs - lab0;
	e->value = sum;
	e->ts = ts_ms;
	e->hist = b->nhents;
	return RW_OK;
}

size_t
rw_batch_strip_histograms(rw_batch *b)
{
	size_t k = 0, n = b->n;

	if (b->nhents == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (b->ents[i].hist == 0)
			b->ents[k++] = b->ents[i];
	b->n = k;
	b->nhents = 0;
	b->nspans = 0;
	b->ndeltas = 0;
	return n - k;
}

void
rw_batch_drop_last(rw_batch *b)
{
	const ent *e;

	if (b->n == 0)
		return;
	e = &b->ents[--b->n];
	if (e->hist != 0) {
		b->nhents--;
		b->nspans = b->hents[b->nhents].span0;
		b->ndeltas = b->hents[b->nhents].delta0;
	}
	b->nlabs = e->lab0;
	dbuf_setlen(&b->arena, b->labs[e->lab0].name);
}

/* The labels in a key: pairs of NUL-terminated strings. 0 when it is not
 * a key (a set kept elsewhere may come back damaged). */
static size_t
key_labels(const rw_key *k)
{
	size_t n = 0;

	if (k->p == NULL || k->len == 0 || k->p[k->len - 1] != '\0')
		return 0;
	for (size_t i = 0; i < k->len; i++)
		n += k->p[i] == '\0';
	return n % 2 == 0 ? n / 2 : 0;
}

rw_err
rw_batch_add_key(rw_batch *b, const rw_key *k, double value, int64_t ts_ms)
{
	size_t alen = b->arena.len, nlabs = b->nlabs, n = 0, off;
	char *o;
	ent *e;

	if (b->n == b->max)
		return RW_EFULL;
	if ((n = key_labels(k)) == 0)
		return RW_EINVAL;
	if (labs_room(b, n) != 0 ||
	    (o = dbuf_room(&b->arena, k->len)) == NULL)
		return RW_ENOMEM;
	memcpy(o, k->p, k->len);
	dbuf_commit(&b->arena, k->len);
	for (off = 0; off < k->len;) {
		lab *l = &b->labs[b->nlabs++];
		l->name = alen + off;
		off += strlen(k->p + off) + 1;
		l->value = alen + off;
		off += strlen(k->p + off) + 1;
	}
	e = &b->ents[b->n++];
	e->lab0 = nlabs;
	e->nlab = b->nlabs - nlabs;
	e->value = value;
	e->ts = ts_ms;
	e->hist = 0;
	return RW_OK;
}

/* --- rw_seen ------------------------------------------------------------ */

/*
 * A map from a series' key to the round that last noted it, shifted left
 * one bit, and SAVED in that bit once a save holds it (as the value
 * pointer). Steady state costs one lookup per sample and no allocation;
 * the map is rebuilt only when series went away.
 */
#define SAVED ((uintptr_t)1)
#define ROUND(v) ((uintptr_t)(v) >> 1)

struct rw_seen {
	hmap *m;
	hmap *forgot;       /* saved keys forgotten since the last save */
	uintptr_t round;
	uintptr_t walked;   /* the last round that noted every live series */
	size_t noted;       /* distinct series noted this round */
	size_t gone;        /* gone as of that walk; an upper bound later
	                     * (a gone series may come back), exact when 0,
	                     * which spares the scans in the steady state */
	size_t unsaved;     /* entries without SAVED */
};

rw_seen *
rw_seen_new(void)
{
	rw_seen *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if ((s->m = hmap_new()) == NULL || (s->forgot = hmap_new()) == NULL) {
		hmap_free(s->m, NULL);
		free(s);
		return NULL;
	}
	s->round = 1;
	return s;
}

void
rw_seen_free(rw_seen *s)
{
	if (s == NULL)
		return;
	hmap_free(s->m, NULL);
	hmap_free(s->forgot, NULL);
	free(s);
}

void
rw_seen_clear(rw_seen *s)
{
	hmap_clear(s->m, NULL);
	hmap_clear(s->forgot, NULL);
	s->walked = 0;
	s->noted = 0;
	s->gone = 0;
	s->unsaved = 0;
}

size_t
rw_seen_count(const rw_seen *s)
{
	return hmap_count(s->m);
}

void
rw_seen_round(rw_seen *s)
{
	s->round++;
	s->noted = 0;
}

void
rw_seen_walked(rw_seen *s)
{
	s->walked = s->round;
	s->gone = hmap_count(s->m) - s->noted;
}

rw_err
rw_seen_note(rw_seen *s, const rw_batch *b, int *dup)
{
	const ent *e;
	const char *key;
	size_t off, klen;
	uintptr_t old;
	int created;
	void **v;

	*dup = 0;
	if (b->n == 0)
		return RW_EINVAL;
	e = &b->ents[b->n - 1];
	off = b->labs[e->lab0].name;
	key = b->arena.p + off;
	klen = b->arena.len - off;
	if ((v = hmap_put(s->m, key, klen, &created)) == NULL)
		return RW_ENOMEM;
	old = (uintptr_t)*v;
	*dup = !created && ROUND(old) == s->round;
	if (!*dup)
		s->noted++;
	if (created)
		s->unsaved++;
	/* Back after it was forgotten, before the save that removes it:
	 * saved again after the removal. Only between a forget and the next
	 * save (rarely more than an instant) does this cost a lookup. */
	else if ((old & SAVED) && hmap_count(s->forgot) > 0 &&
	    hmap_get(s->forgot, key, klen) != NULL) {
		old &= ~SAVED;
		s->unsaved++;
	}
	*v = (void *)(s->round << 1 | (old & SAVED));
	return RW_OK;
}

rw_err
rw_seen_load(rw_seen *s, const rw_key *k)
{
	int created;
	void **v;

	/* Not a key: forgotten, so that the next save removes it. */
	if (key_labels(k) == 0) {
		if (k->p == NULL || k->len == 0)
			return RW_EINVAL;
		if (hmap_put(s->forgot, k->p, k->len, &created) == NULL)
			return RW_ENOMEM;
		return RW_EINVAL;
	}
	/* Its marker went already. */
	if (hmap_count(s->forgot) > 0 && hmap_get(s->forgot, k->p, k->len) !=
	    NULL)
		return RW_OK;
	if ((v = hmap_put(s->m, k->p, k->len, &created)) == NULL)
		return RW_ENOMEM;
	/* As if the last whole walk noted it: gone after the next whole
	 * walk that does not. */
	if (created)
		*v = (void *)(s->walked << 1 | SAVED);
	return RW_OK;
}

typedef struct gone_ctx {
	const rw_seen *s;
	int (*fn)(void *, const rw_key *);
	void *arg;
	hmap *keep;
	int oom;
} gone_ctx;

static int
each_gone(const void *key, size_t klen, void *val, void *arg)
{
	gone_ctx *g = arg;
	rw_key k = { key, klen };

	if (ROUND(val) >= g->s->walked)
		return 0;
	return g->fn(g->arg, &k);
}

int
rw_seen_each_gone(const rw_seen *s, int (*fn)(void *, const rw_key *),
    void *arg)
{
	gone_ctx g = { s, fn, arg, NULL, 0 };

	if (s->walked == 0 || s->gone == 0)
		return 0;
	return hmap_each(s->m, each_gone, &g);
}

static int
keep_live(const void *key, size_t klen, void *val, void *arg)
{
	gone_ctx *g = arg;
	int created;
	void **v;

	if (ROUND(val) < g->s->walked) {
		/* The save removes it from the spool. */
		if (((uintptr_t)val & SAVED) &&
		    hmap_put(g->s->forgot, key, klen, &created) == NULL) {
			g->oom = 1;
			return 1;
		}
		return 0;
	}
	if ((v = hmap_put(g->keep, key, klen, &created)) == NULL) {
		g->oom = 1;
		return 1;
	}
	*v = val;
	return 0;
}

static int
count_unsaved(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	*(size_t *)arg += !((uintptr_t)val & SAVED);
	return 0;
}

rw_err
rw_seen_forget_gone(rw_seen *s)
{
	gone_ctx g = { s, NULL, NULL, NULL, 0 };

	/* hmap has no removal: the live series move to a new map, which
	 * happens only in a round where some went away. A failure leaves
	 * some keys in forgot too early, which is harmless: a series that
	 * comes back is saved again (rw_seen_note). */
	if (s->walked == 0 || s->gone == 0)
		return RW_OK;
	if ((g.keep = hmap_new()) == NULL)
		return RW_ENOMEM;
	(void)hmap_each(s->m, keep_live, &g);
	if (g.oom) {
		hmap_free(g.keep, NULL);
		return RW_ENOMEM;
	}
	hmap_free(s->m, NULL);
	s->m = g.keep;
	s->gone = 0;
	s->unsaved = 0;
	(void)hmap_each(s->m, count_unsaved, &s->unsaved);
	return RW_OK;
}

size_t
rw_seen_unsaved(const rw_seen *s)
{
	return s->unsaved;
}

size_t
rw_seen_forgotten(const rw_seen *s)
{
	return hmap_count(s->forgot);
}

typedef struct key_ctx {
	int (*fn)(void *, const rw_key *);
	void *arg;
	hmap *m;
} key_ctx;

static int
each_unsaved(const void *key, size_t klen, void *val, void *arg)
{
	key_ctx *c = arg;
	rw_key k = { key, klen };

	return ((uintptr_t)val & SAVED) ? 0 : c->fn(c->arg, &k);
}

int
rw_seen_each_unsaved(const rw_seen *s, int (*fn)(void *, const rw_key *),
    void *arg)
{
	key_ctx c = { fn, arg, NULL };

	if (s->unsaved == 0)
		return 0;
	return hmap_each(s->m, each_unsaved, &c);
}

static int
each_key(const void *key, size_t klen, void *val, void *arg)
{
	key_ctx *c = arg;
	rw_key k = { key, klen };

	(void)val;
	return c->fn(c->arg, &k);
}

int
rw_seen_each_forgotten(const rw_seen *s, int (*fn)(void *, const rw_key *),
    void *arg)
{
	key_ctx c = { fn, arg, NULL };

	return hmap_each(s->forgot, each_key, &c);
}

static int
mark_saved(const void *key, size_t klen, void *val, void *arg)
{
	key_ctx *c = arg;

	/* Only the value changes: the map's layout stays as hmap_each
	 * walks it. */
	if (!((uintptr_t)val & SAVED))
		*hmap_get(c->m, key, klen) = (void *)((uintptr_t)val | SAVED);
	return 0;
}

void
rw_seen_saved(rw_seen *s)
{
	key_ctx c = { NULL, NULL, s->m };

	if (s->unsaved > 0)
		(void)hmap_each(s->m, mark_saved, &c);
	s->unsaved = 0;
	hmap_clear(s->forgot, NULL);
}

/* The histograms' messages, for the time series to point at. 0 or -1 out
 * of memory. */
static int
encode_hists(rw_batch *b)
{
	size_t c1 = b->capph, c2 = b->capph, c3 = b->cappbs, c4 = b->cappbs;

	if (b->nhents == 0)
		return 0;
	if (grow((void **)&b->ph, &c1, b->nhents, sizeof(*b->ph)) != 0 ||
	    grow((void **)&b->php, &c2, b->nhents, sizeof(*b->php)) != 0)
		return -1;
	b->capph = c1;
	if (grow((void **)&b->pbs, &c3, b->nspans, sizeof(*b->pbs)) != 0 ||
	    grow((void **)&b->pbsp, &c4, b->nspans, sizeof(*b->pbsp)) != 0)
		return -1;
	b->cappbs = c3;
	for (size_t i = 0; i < b->nspans; i++) {
		prometheus__bucket_span__init(&b->pbs[i]);
		b->pbs[i].offset = b->spans[i].offset;
		b->pbs[i].length = b->spans[i].length;
		b->pbsp[i] = &b->pbs[i];
	}
	for (size_t i = 0; i < b->nhents; i++) {
		const hent *x = &b->hents[i];
		Prometheus__Histogram *h = &b->ph[i];
		prometheus__histogram__init(h);
		h->count_case = PROMETHEUS__HISTOGRAM__COUNT_COUNT_INT;
		h->count_int = x->count;
		h->sum = x->sum;
		h->schema = x->schema;
		h->zero_threshold = x->zero_threshold;
		h->zero_count_case =
		    PROMETHEUS__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_INT;
		h->zero_count_int = x->zero_count;
		/* A side without buckets points nowhere: the arrays may
		 * not exist. */
		if (x->nspan[0] > 0) {
			h->n_negative_spans = x->nspan[0];
			h->negative_spans = b->pbsp + x->span0;
			h->n_negative_deltas = x->ndelta[0];
			h->negative_deltas = b->deltas + x->delta0;
		}
		if (x->nspan[1] > 0) {
			h->n_positive_spans = x->nspan[1];
			h->positive_spans = b->pbsp + x->span0 + x->nspan[0];
			h->n_positive_deltas = x->ndelta[1];
			h->positive_deltas = b->deltas + x->delta0 +
			    x->ndelta[0];
		}
		/* The receiver tests for a counter reset itself. */
		h->reset_hint = PROMETHEUS__HISTOGRAM__RESET_HINT__UNKNOWN;
		h->timestamp = x->ts;
		b->php[i] = h;
	}
	return 0;
}

rw_err
rw_batch_encode(rw_batch *b, const char **out, size_t *outlen)
{
	Prometheus__WriteRequest wr;
	size_t len, zlen, capts = b->capts, cappl = b->cappl;
	uint8_t *pb;
	char *z;
	size_t c1 = capts, c2 = capts, c3 = capts, c4 = cappl;

	if (grow((void **)&b->ts, &c1, b->n, sizeof(*b->ts)) != 0 ||
	    grow((void **)&b->tsp, &c2, b->n, sizeof(*b->tsp)) != 0 ||
	    grow((void **)&b->ps, &c3, b->n, sizeof(*b->ps)) != 0 ||
	    grow((void **)&b->psp, &capts, b->n, sizeof(*b->psp)) != 0 ||
	    grow((void **)&b->pl, &c4, b->nlabs, sizeof(*b->pl)) != 0 ||
	    grow((void **)&b->plp, &cappl, b->nlabs, sizeof(*b->plp)) != 0)
		return RW_ENOMEM;
	/* Every array has grown to the same sizes, or the call failed. */
	b->capts = capts;
	b->cappl = cappl;
	for (size_t i = 0; i < b->nlabs; i++) {
		prometheus__label__init(&b->pl[i]);
		b->pl[i].name = b->arena.p + b->labs[i].name;
		b->pl[i].value = b->arena.p + b->labs[i].value;
		b->plp[i] = &b->pl[i];
	}
	if (encode_hists(b) != 0)
		return RW_ENOMEM;
	for (size_t i = 0; i < b->n; i++) {
		const ent *e = &b->ents[i];
		prometheus__time_series__init(&b->ts[i]);
		b->ts[i].n_labels = e->nlab;
		b->ts[i].labels = b->plp + e->lab0;
		b->tsp[i] = &b->ts[i];
		if (e->hist != 0) {
			b->ts[i].n_histograms = 1;
			b->ts[i].histograms = &b->php[e->hist - 1];
			continue;
		}
		prometheus__sample__init(&b->ps[i]);
		b->ps[i].value = e->value;
		b->ps[i].timestamp = e->ts;
		b->psp[i] = &b->ps[i];
		b->ts[i].n_samples = 1;
		b->ts[i].samples = &b->psp[i];
	}
	prometheus__write_request__init(&wr);
	wr.n_timeseries = b->n;
	wr.timeseries = b->tsp;
	/* An upper bound instead of get_packed_size(), which would walk the
	 * whole request once more: every string is in the arena (with a NUL
	 * to spare); a label adds at most 18 bytes of tags and lengths, a
	 * series with its one sample at most 32, a histogram's fixed fields
	 * at most 96, a span 16, a delta 10. */
	len = b->arena.len + 18 * b->nlabs + 32 * b->n + 16 +
	    96 * b->nhents + 16 * b->nspans + 10 * b->ndeltas;
	dbuf_reset(&b->pb);
	dbuf_reset(&b->z);
	if ((pb = (uint8_t *)dbuf_room(&b->pb, len)) == NULL)
		return RW_ENOMEM;
	len = prometheus__write_request__pack(&wr, pb);
	zlen = snappy_max_compressed_length(len);
	if ((z = dbuf_room(&b->z, zlen)) == NULL)
		return RW_ENOMEM;
	if (snappy_compress((const char *)pb, len, z, &zlen) != SNAPPY_OK)
		return RW_ECOMPRESS;
	*out = z;
	*outlen = zlen;
	return RW_OK;
}

http_err
rw_post(http_t *h, const void *body, size_t len, http_status *st)
{
	static const char *const hdr[] = {
		"Content-Encoding: snappy",
		"Content-Type: application/x-protobuf",
		"X-Prometheus-Remote-Write-Version: 0.1.0",
	};
	/* The specification's classification is http_classify()'s: retry
	 * on 5xx and 429, never on other 4xx; 408 (a proxy timed out
	 * waiting for the body) is about the connection, so retried too. */
	http_request rq = { .method = "POST", .body = body, .len = len,
	    .headers = hdr, .n_headers = sizeof(hdr) / sizeof(hdr[0]) };

	if (body == NULL) {
		if (st != NULL) {
			http_status_init(st);
			snprintf(st->message, sizeof(st->message),
			    "invalid argument");
		}
		return HTTP_EINVAL;
	}
	return http_request_do(h, &rq, st);
}
