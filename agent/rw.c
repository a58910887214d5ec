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
} ent;

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
	dbuf_reset(&b->arena);
}

size_t
rw_batch_count(const rw_batch *b)
{
	return b->n;
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

rw_err
rw_batch_add(rw_batch *b, const char *name, const char *group,
    const char *labels, double value, int64_t ts_ms)
{
	expo_label sl[EXPO_MAX_LABELS];
	const expo_label *gl;
	tlab t[2 * EXPO_MAX_LABELS + 1];
	size_t ng, ns = 0, nt = 0, alen = b->arena.len, nlabs = b->nlabs;
	const char *why;
	ent *e;

	if (b->n == b->max)
		return RW_EFULL;
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
	e = &b->ents[b->n++];
	e->lab0 = nlabs;
	e->nlab = b->nlabs - nlabs;
	e->value = value;
	e->ts = ts_ms;
	return RW_OK;
}

void
rw_batch_drop_last(rw_batch *b)
{
	const ent *e;

	if (b->n == 0)
		return;
	e = &b->ents[--b->n];
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
	for (size_t i = 0; i < b->n; i++) {
		const ent *e = &b->ents[i];
		prometheus__sample__init(&b->ps[i]);
		b->ps[i].value = e->value;
		b->ps[i].timestamp = e->ts;
		b->psp[i] = &b->ps[i];
		prometheus__time_series__init(&b->ts[i]);
		b->ts[i].n_labels = e->nlab;
		b->ts[i].labels = b->plp + e->lab0;
		b->ts[i].n_samples = 1;
		b->ts[i].samples = &b->psp[i];
		b->tsp[i] = &b->ts[i];
	}
	prometheus__write_request__init(&wr);
	wr.n_timeseries = b->n;
	wr.timeseries = b->tsp;
	/* An upper bound instead of get_packed_size(), which would walk the
	 * whole request once more: every string is in the arena (with a NUL
	 * to spare); a label adds at most 18 bytes of tags and lengths, a
	 * series with its one sample at most 32. */
	len = b->arena.len + 18 * b->nlabs + 32 * b->n + 16;
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
