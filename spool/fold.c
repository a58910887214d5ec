/*
 * fold — moves inbox rows into the per-group state. See spool_fold() in
 * collector-spool.h.
 *
 * One batch is one transaction: it reads rows in id order, applies them to
 * in-memory caches of the touched families and series (loaded from the state
 * tables on first touch), writes the changed entries back, deletes exactly
 * the rows it read from the inbox (checked by their number), and commits. A
 * crash before the commit leaves the rows in the inbox and the state as it
 * was; after it, both have moved. So every row counts exactly once.
 *
 * A series touched by many rows of a batch is read once and written once,
 * so the bigger the batch the cheaper a row; the caps of SPOOL_FOLD_ROWS
 * keep its time and memory bounded all the same.
 *
 * Each row is checked whole before any of it is applied (pass 1), then
 * applied (pass 2): a row that fails anywhere goes to `rejected` untouched.
 */
#define _GNU_SOURCE
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "expo.h"
#include "hmap.h"
#include "nhist.h"
#include "spool_int.h"

#define MAX_BUCKETS SPOOL_MAX_BUCKETS

/*
 * An observed histogram in the batch's cache. Classic: counts per bound.
 * Native: client_golang's sparse buckets, one sorted array per sign
 * (b[0] v > zt, b[1] v < -zt), found by binary search; an observation
 * nearly always hits a bucket that exists, so inserts are rare. Both: the
 * two side by side, fed by the same observations.
 */
typedef struct hist {
	spool_hist_form form;
	size_t n;          /* finite bounds; counts has n + 1 entries */
	double *bounds;
	uint64_t *counts;  /* per bucket, not cumulative; last is +Inf */
	double sum;
	/* native and both */
	int schema;
	double zt;
	size_t cap;
	uint64_t zc, count;
	nhist_bucket *b[2];
	size_t nb[2], room[2];
} hist;

typedef struct fam {
	expo_type type;
	int typed;   /* a TYPE line set it (not merely seen untyped) */
	char *help;  /* escaped; NULL for none */
	int dirty;
} fam;

typedef struct ser {
	double value;
	hist *h;
	int dirty;
} ser;

/* A series known not to be in the state (see rowsmp). */
static ser ser_absent;
/* The samples of a row that check_row() passes to apply_row(). */
#define FOLD_ROWSMP 1024
/* A batch reads and removes its rows in chunks of these many rows or
 * bytes (see spool_fold()). */
#define FOLD_CHUNK_ROWS 512
#define FOLD_CHUNK_BYTES (64u * 1024u)
/* A native histogram may hold thousands of buckets where a classic one
 * holds at most SPOOL_MAX_BUCKETS + 1 counts: the batch counts every this
 * many native buckets it holds as one more cached entry, so that
 * SPOOL_FOLD_ENTRIES bounds its memory (a few MiB) whatever the cap. */
#define FOLD_BUCKETS_PER_ENTRY 64

typedef struct grp {
	int64_t id;
	int64_t last_row_ms;
	int touched;
	int64_t nseries;  /* its series, written or not; -1: not counted yet */
	int64_t unwritten; /* series the batch made that are not written */
} grp;

/*
 * A sample as check_row() found it, so that apply_row() need not parse,
 * resolve and look it up again (the three were most of a line's cost):
 * the family it resolved to (famlen bytes of its name; x NULL when not
 * cached yet), its series (ser_absent: not in the state, so the line is
 * parsed again for its labels when it is made) and its value. The
 * pointers are the row's (into its body) or the batch's caches, which do
 * not drop entries while a row is folded.
 */
typedef struct rowsmp {
	ser *sr;
	fam *x;
	const char *line;
	size_t llen;
	expo_str name;
	size_t famlen;
	double value;
} rowsmp;

/* What one row declares, gathered in pass 1. */
typedef struct rowfam {
	int has_type;
	expo_type type;
	int observed;  /* op observe feeds it: it becomes a histogram */
} rowfam;

typedef struct fold {
	spool_t *s;
	const spool_fold_options *o;
	const char *default_job;
	const char *default_grouping; /* canonical */
	hmap *groups;  /* "job\0grouping" -> grp */
	hmap *rawgroups; /* job and grouping as a row wrote them -> grp */
	hmap *fams;    /* gid(8) name -> fam */
	hmap *series;  /* gid(8) name \0 labels -> ser */
	hmap *rowmeta; /* name -> rowfam, for the row being checked */
	hmap *rownew;  /* keys of the series the checked row would create */
	/* The checked row's first samples, in order; smp_all: all of them
	 * (else apply_row() goes on from smp_end, a position in the body). */
	rowsmp *smp;
	size_t nsmp, smp_end;
	spool_hist_buf *hb; /* scratch for stored histograms; NULL till one */
	int smp_all;
	/* What the limits count, kept up to date as the batch creates groups
	 * and series; -1 until first needed (see count_*()). unwritten: the
	 * series the batch made that are still only in the cache. */
	int64_t ngroups, nseries, unwritten;
	size_t nbuckets; /* native buckets loaded or made (see cached()) */
	size_t refused[SPOOL_NLIMITS]; /* rows this batch refused, by limit */
	expo_line *line;
	char *key;     /* scratch for building keys: keyb's bytes */
	dbuf keyb;
	char *rkey;    /* scratch for keys of rawgroups: rkeyb's bytes */
	dbuf rkeyb;
	char *canon;   /* scratch for canonical groupings */
	char reason[512];
	sqlite3_stmt *st_gsel, *st_gins, *st_gupd, *st_fsel, *st_fput,
	    *st_ssel, *st_sput, *st_rej, *st_idel, *st_iclr, *st_gcnt, *st_scnt,
	    *st_sgcnt, *st_sdrop, *st_fdrop, *st_gdrop, *st_gkeep, *st_rows,
	    *st_next;
	/* The inbox ids read: the last, and the first of the chunk. */
	int64_t last_id, chunk_first;
	spool_fold_result *res;
} fold;

static void
hist_free(hist *h)
{
	if (h == NULL)
		return;
	free(h->bounds);
	free(h->counts);
	free(h->b[0]);
	free(h->b[1]);
	free(h);
}

static void
fam_free(void *p)
{
	fam *f = p;

	if (f == NULL)
		return;
	free(f->help);
	free(f);
}

static void
ser_free(void *p)
{
	ser *x = p;

	if (x == NULL)
		return;
	hist_free(x->h);
	free(x);
}

/* A histogram for a new series, as its family's entry says (NULL: classic
 * with the default bounds). */
static hist *
hist_new(const spool_buckets *sb)
{
	const double *bounds = spool_default_bounds;
	size_t n = spool_default_nbounds;
	hist *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	if (sb != NULL) {
		h->form = sb->form;
		if (sb->form == SPOOL_HIST_NATIVE)
			n = 0;
		else if (sb->form == SPOOL_HIST_CLASSIC || sb->n > 0) {
			bounds = sb->bounds;
			n = sb->n;
		}
		h->schema = sb->schema;
		h->zt = sb->zero_threshold;
		h->cap = sb->max_buckets;
	}
	h->n = n;
	h->bounds = malloc((n ? n : 1) * sizeof(double));
	h->counts = calloc(n + 1, sizeof(uint64_t));
	if (h->bounds == NULL || h->counts == NULL) {
		hist_free(h);
		return NULL;
	}
	if (n > 0)
		memcpy(h->bounds, bounds, n * sizeof(double));
	return h;
}

static void
hist_observe(hist *h, double v)
{
	size_t lo = 0, hi = h->n;

	/* First bound >= v: Prometheus buckets are upper-inclusive. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (h->bounds[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	h->counts[lo]++;
	h->sum += v;
}

/* The position of index i in b[0..n): where it is, or where it goes. */
static size_t
nh_find(const nhist_bucket *b, size_t n, int32_t i)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b[mid].index < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The native part of one observation, as client_golang's observe: NaN
 * counts in the count (and the caller's sum) only, |v| <= the zero
 * threshold in the zero bucket, others in their sign's bucket; a new
 * bucket past the cap lowers the schema. -1 only when out of memory, with
 * nothing changed.
 */
static int
nh_observe(hist *h, double v)
{
	int side;
	int32_t idx;
	size_t at;
	nhist_bucket *b;

	if (isnan(v)) {
		h->count++;
		return 0;
	}
	if (v > h->zt)
		side = 0;
	else if (v < -h->zt)
		side = 1;
	else {
		h->zc++;
		h->count++;
		return 0;
	}
	/* v is neither NaN nor 0 here, and the schema was checked. */
	(void)nhist_index(v, h->schema, &idx);
	b = h->b[side];
	at = nh_find(b, h->nb[side], idx);
	if (at < h->nb[side] && b[at].index == idx) {
		b[at].count++;
		h->count++;
		return 0;
	}
	if (h->nb[side] == h->room[side]) {
		size_t room = h->room[side] ? h->room[side] * 2 : 16;
		if ((b = realloc(b, room * sizeof(*b))) == NULL)
			return -1;
		h->b[side] = b;
		h->room[side] = room;
	}
	memmove(&b[at + 1], &b[at], (h->nb[side] - at) * sizeof(*b));
	b[at].index = idx;
	b[at].count = 1;
	h->nb[side]++;
	h->count++;
	if (h->nb[0] + h->nb[1] > h->cap)
		nhist_fit(h->b[0], &h->nb[0], h->b[1], &h->nb[1], &h->schema,
		    h->cap);
	return 0;
}

/*
 * One observation, in every form the histogram keeps. -1: out of memory,
 * and the batch fails (it rolls back whole); else the number of native
 * buckets it made (0 or 1), which the batch counts against its memory.
 * A native count stops at INT64_MAX (nhist_bucket's counts are int64):
 * past it the observation is not counted at all, in either form, so the
 * state stays one the fold reads back.
 */
static int
hist_add(hist *h, double v)
{
	int made = 0;

	if (h->form != SPOOL_HIST_CLASSIC) {
		size_t before = h->nb[0] + h->nb[1];

		if (h->count >= (uint64_t)INT64_MAX)
			return 0;
		if (nh_observe(h, v) != 0)
			return -1;
		made = h->nb[0] + h->nb[1] > before;
	}
	if (h->form == SPOOL_HIST_NATIVE)
		h->sum += v;
	else
		hist_observe(h, v);
	return made;
}

static size_t
put_buckets(char *out, size_t cap, const char *key, const nhist_bucket *b,
    size_t n)
{
	size_t o = (size_t)snprintf(out, cap, "%s", key);

	for (size_t i = 0; i < n && o < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%ld:%lld",
		    i ? "," : "", (long)b[i].index, (long long)b[i].count);
	return o;
}

/*
 * The stored form (spool_hist_parse() reads it back; docs/spool.md):
 * classic "b=<bounds>;c=<counts>;s=<sum>", bounds and counts comma-separated,
 * counts per bucket (the last one is +Inf's own); native
 * "n=<schema>;z=<zero threshold>;zc=<zero count>;k=<cap>;p=<index>:<count>,
 * ...;m=...;t=<count>;s=<sum>"; both the native head up to t= followed by
 * the classic form. Numbers as the exposition format writes them, so the
 * sqlite3 shell shows them as they are.
 */
static char *
hist_encode(const hist *h)
{
	size_t cap = 96 + (h->n + 1) * (EXPO_VALUE_BUF + 24) +
	    (h->nb[0] + h->nb[1]) * 34 + 2 * EXPO_VALUE_BUF, o = 0;
	char *out = malloc(cap), num[EXPO_VALUE_BUF];

	if (out == NULL)
		return NULL;
	if (h->form != SPOOL_HIST_CLASSIC) {
		expo_format_value(h->zt, num);
		o += (size_t)snprintf(out + o, cap - o, "n=%d;z=%s;zc=%llu;"
		    "k=%zu;", h->schema, num, (unsigned long long)h->zc,
		    h->cap);
		o += put_buckets(out + o, cap - o, "p=", h->b[0], h->nb[0]);
		o += put_buckets(out + o, cap - o, ";m=", h->b[1], h->nb[1]);
		o += (size_t)snprintf(out + o, cap - o, ";t=%llu;",
		    (unsigned long long)h->count);
	}
	if (h->form != SPOOL_HIST_NATIVE) {
		o += (size_t)snprintf(out + o, cap - o, "b=");
		for (size_t i = 0; i < h->n; i++) {
			size_t n = expo_format_value(h->bounds[i], num);
			if (i)
				out[o++] = ',';
			memcpy(out + o, num, n);
			o += n;
		}
		o += (size_t)snprintf(out + o, cap - o, ";c=");
		for (size_t i = 0; i <= h->n; i++)
			o += (size_t)snprintf(out + o, cap - o, "%s%llu",
			    i ? "," : "", (unsigned long long)h->counts[i]);
		out[o++] = ';';
	}
	expo_format_value(h->sum, num);
	snprintf(out + o, cap - o, "s=%s", num);
	return out;
}

static int
parse_list(const char **p, char stop, double *vals, size_t max, size_t *n)
{
	*n = 0;
	while (**p && **p != stop) {
		const char *start = *p;
		while (**p && **p != ',' && **p != stop)
			(*p)++;
		if (*n == max || expo_parse_value(start, (size_t)(*p - start),
		    &vals[*n]) != 0)
			return -1;
		(*n)++;
		if (**p == ',')
			(*p)++;
	}
	return 0;
}

/* A decimal integer in [lo, hi]: an optional '-', then 1 to 19 digits. */
static int
parse_int(const char **p, int64_t lo, int64_t hi, int64_t *out)
{
	const char *s = *p;
	int neg = *s == '-';
	uint64_t v = 0;
	size_t nd = 0;

	s += neg;
	while (*s >= '0' && *s <= '9' && nd < 19) {
		v = v * 10 + (uint64_t)(*s++ - '0');
		nd++;
	}
	if (nd == 0 || (*s >= '0' && *s <= '9') || v > (uint64_t)INT64_MAX)
		return -1;
	*out = neg ? -(int64_t)v : (int64_t)v;
	if (*out < lo || *out > hi)
		return -1;
	*p = s;
	return 0;
}

/* A count: 0 to INT64_MAX (nhist_bucket's counts are int64). */
static int
parse_count(const char **p, uint64_t *out)
{
	int64_t v;

	if (parse_int(p, 0, INT64_MAX, &v) != 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static int
expect(const char **p, const char *s)
{
	size_t n = strlen(s);

	if (strncmp(*p, s, n) != 0)
		return -1;
	*p += n;
	return 0;
}

/* "<index>:<count>,..." up to ';': indices strictly ascending and in the
 * range of the schema, counts above 0. */
static int
parse_buckets(const char **p, int schema, nhist_bucket *b, size_t *n,
    uint64_t *total)
{
	int32_t lo, hi;
	int64_t i, c;

	(void)nhist_index(DBL_TRUE_MIN, schema, &lo);
	(void)nhist_index(INFINITY, schema, &hi);
	*n = 0;
	while (**p && **p != ';') {
		if (*n == SPOOL_NHIST_MAX_BUCKETS || (*n > 0 && expect(p, ",")) ||
		    parse_int(p, lo, hi, &i) != 0 || expect(p, ":") ||
		    parse_int(p, 1, INT64_MAX, &c) != 0 ||
		    (*n > 0 && i <= b[*n - 1].index) ||
		    *total > UINT64_MAX - (uint64_t)c)
			return -1;
		b[*n].index = (int32_t)i;
		b[*n].count = c;
		*total += (uint64_t)c;
		(*n)++;
	}
	return 0;
}

/* The native head "n=..;z=..;zc=..;k=..;p=..;m=..;t=.." */
static int
parse_native(const char **p, spool_hist_buf *out)
{
	spool_nhist *nh = &out->nh;
	const char *e;
	uint64_t seen;
	int64_t v;

	memset(nh, 0, sizeof(*nh));
	nh->pos = out->pos;
	nh->neg = out->neg;
	if (expect(p, "n=") || parse_int(p, NHIST_SCHEMA_MIN, NHIST_SCHEMA_MAX,
	    &v) || expect(p, ";z="))
		return -1;
	nh->schema = (int)v;
	for (e = *p; *e && *e != ';'; e++)
		;
	if (expo_parse_value(*p, (size_t)(e - *p), &nh->zero_threshold) != 0 ||
	    !isfinite(nh->zero_threshold) || nh->zero_threshold < 0)
		return -1;
	*p = e;
	if (expect(p, ";zc=") || parse_count(p, &nh->zero_count) ||
	    expect(p, ";k=") || parse_int(p, 1, SPOOL_NHIST_MAX_BUCKETS, &v))
		return -1;
	nh->max_buckets = (size_t)v;
	seen = nh->zero_count;
	if (expect(p, ";p=") || parse_buckets(p, nh->schema, out->pos,
	    &nh->npos, &seen) || expect(p, ";m=") || parse_buckets(p,
	    nh->schema, out->neg, &nh->nneg, &seen) || expect(p, ";t=") ||
	    parse_count(p, &nh->count))
		return -1;
	/* The fold keeps to the cap down to the lowest schema, and what is
	 * in no bucket is NaN, so the buckets never hold more than count.
	 * (Whether they hold all of it depends on the sum: see
	 * spool_hist_parse().) */
	if ((nh->npos + nh->nneg > nh->max_buckets &&
	    nh->schema > NHIST_SCHEMA_MIN) || seen > nh->count)
		return -1;
	out->nh_seen = seen;
	return 0;
}

/* Every observation but NaN is in a bucket, and NaN makes the sum NaN:
 * with a number for a sum, the buckets hold the whole count. */
static int
nh_whole(const spool_hist_buf *out)
{
	return out->nh_seen != out->nh.count && !isnan(out->sum) ? -1 : 0;
}

int
spool_hist_parse(const char *t, spool_hist_buf *out)
{
	double c[SPOOL_MAX_BUCKETS + 1];
	size_t nb, nc;
	uint64_t total = 0;

	out->form = SPOOL_HIST_CLASSIC;
	out->n = 0;
	if (strncmp(t, SPOOL_HIST_NATIVE_PREFIX,
	    sizeof(SPOOL_HIST_NATIVE_PREFIX) - 1) == 0) {
		if (parse_native(&t, out) != 0)
			return -1;
		if (strncmp(t, ";s=", 3) == 0) {
			out->form = SPOOL_HIST_NATIVE;
			out->counts[0] = out->nh.count;
			if (expo_parse_value(t + 3, strlen(t + 3),
			    &out->sum) != 0)
				return -1;
			return nh_whole(out);
		}
		if (expect(&t, ";"))
			return -1;
		out->form = SPOOL_HIST_BOTH;
	}
	if (strncmp(t, "b=", 2) != 0)
		return -1;
	t += 2;
	if (parse_list(&t, ';', out->bounds, SPOOL_MAX_BUCKETS, &nb) != 0 ||
	    strncmp(t, ";c=", 3) != 0)
		return -1;
	t += 3;
	if (parse_list(&t, ';', c, SPOOL_MAX_BUCKETS + 1, &nc) != 0 ||
	    nc != nb + 1 || strncmp(t, ";s=", 3) != 0)
		return -1;
	t += 3;
	if (expo_parse_value(t, strlen(t), &out->sum) != 0)
		return -1;
	/* Counts the fold wrote are whole and in range; anything else was
	 * written by hand, and converting it would be undefined. */
	for (size_t i = 0; i < nc; i++) {
		if (!(c[i] >= 0 && c[i] < 18446744073709551616.0))
			return -1;
		out->counts[i] = (uint64_t)c[i];
		if (total > UINT64_MAX - out->counts[i])
			return -1;
		total += out->counts[i];
	}
	/* Both forms saw the same observations. */
	if (out->form == SPOOL_HIST_BOTH && (total != out->nh.count ||
	    nh_whole(out) != 0))
		return -1;
	/* Bounds as the fold takes them (hand-made ones would sort
	 * observations into the wrong buckets). */
	for (size_t i = 0; i < nb; i++)
		if (!isfinite(out->bounds[i]) ||
		    (i > 0 && !(out->bounds[i] > out->bounds[i - 1])))
			return -1;
	out->n = nb;
	return 0;
}

/* The stored form t into *out, through the scratch b. 0, -1 when t is
 * unreadable, -2 when out of memory. */
static int
hist_decode(const char *t, spool_hist_buf *b, hist **out)
{
	spool_buckets sb;
	hist *h;

	if (spool_hist_parse(t, b) != 0)
		return -1;
	memset(&sb, 0, sizeof(sb));
	sb.form = b->form;
	sb.bounds = b->bounds;
	sb.n = b->n;
	sb.schema = b->nh.schema;
	sb.zero_threshold = b->nh.zero_threshold;
	sb.max_buckets = b->nh.max_buckets;
	/* A both form with no finite bound must stay as it was, not take
	 * the defaults that n == 0 means in a setting. */
	if ((h = hist_new(&sb)) == NULL)
		return -2;
	if (b->form == SPOOL_HIST_BOTH && b->n == 0)
		h->n = 0;
	memcpy(h->counts, b->counts, (h->n + 1) * sizeof(uint64_t));
	h->sum = b->sum;
	if (b->form != SPOOL_HIST_CLASSIC) {
		h->zc = b->nh.zero_count;
		h->count = b->nh.count;
		for (int s = 0; s < 2; s++) {
			size_t n = s ? b->nh.nneg : b->nh.npos;
			if (n == 0)
				continue;
			if ((h->b[s] = malloc(n * sizeof(nhist_bucket))) ==
			    NULL) {
				hist_free(h);
				return -2;
			}
			memcpy(h->b[s], s ? b->neg : b->pos,
			    n * sizeof(nhist_bucket));
			h->nb[s] = h->room[s] = n;
		}
	}
	*out = h;
	return 0;
}

static spool_err
prep(fold *f, sqlite3_stmt **st, const char *sql)
{
	int rc;

	if (*st)
		return SPOOL_OK;
	rc = sqlite3_prepare_v3(f->s->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    st, NULL);
	return rc == SQLITE_OK ? SPOOL_OK :
	    spool_sqlerr(f->s, rc, "preparing the fold");
}

static spool_err
prepare_all(fold *f)
{
	spool_err e;

	if ((e = prep(f, &f->st_gsel, "SELECT id FROM groups WHERE job = ? "
	    "AND grouping = ?")) ||
	    (e = prep(f, &f->st_gins, "INSERT INTO groups(job, grouping) "
	    "VALUES (?, ?)")) ||
	    (e = prep(f, &f->st_gupd, "UPDATE groups SET version = version + 1,"
	    " last_row_ms = max(last_row_ms, ?) WHERE id = ?")) ||
	    (e = prep(f, &f->st_fsel, "SELECT type, typed, help FROM families "
	    "WHERE group_id = ? AND name = ?")) ||
	    (e = prep(f, &f->st_fput, "INSERT INTO families(group_id, name, "
	    "type, typed, help) VALUES (?, ?, ?, ?, ?) ON CONFLICT(group_id, "
	    "name) DO UPDATE SET type = excluded.type, typed = excluded.typed,"
	    " help = excluded.help")) ||
	    (e = prep(f, &f->st_ssel, "SELECT value, hist FROM series WHERE "
	    "group_id = ? AND name = ? AND labels = ?")) ||
	    (e = prep(f, &f->st_sput, "INSERT INTO series(group_id, name, "
	    "labels, value, hist) VALUES (?, ?, ?, ?, ?) ON CONFLICT(group_id,"
	    " name, labels) DO UPDATE SET value = excluded.value, hist = "
	    "excluded.hist")) ||
	    (e = prep(f, &f->st_rej, "INSERT INTO rejected(received_ms, "
	    "rejected_ms, job, grouping, op, body, reason) VALUES (?, "
	    "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), "
	    "?, ?, ?, ?, ?)")) ||
	    (e = prep(f, &f->st_idel, "DELETE FROM inbox WHERE id BETWEEN ? "
	    "AND ?")) ||
	    (e = prep(f, &f->st_rows, "SELECT id, job, grouping, op, body, "
	    "received_ms FROM inbox ORDER BY id LIMIT ?1")) ||
	    (e = prep(f, &f->st_next, "SELECT id, job, grouping, op, body, "
	    "received_ms FROM inbox WHERE id > ?2 ORDER BY id LIMIT ?1")))
		return e;
	return SPOOL_OK;
}

static void
finalize_all(fold *f)
{
	sqlite3_stmt **all[] = { &f->st_gsel, &f->st_gins, &f->st_gupd,
	    &f->st_fsel, &f->st_fput, &f->st_ssel, &f->st_sput, &f->st_rej,
	    &f->st_idel, &f->st_iclr, &f->st_gcnt, &f->st_scnt, &f->st_sgcnt,
	    &f->st_sdrop, &f->st_fdrop, &f->st_gdrop, &f->st_gkeep, &f->st_rows,
	    &f->st_next };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
}

/* Step a statement that returns no rows, then reset it. */
static spool_err
run(fold *f, sqlite3_stmt *st, const char *doing)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? SPOOL_OK : spool_sqlerr(f->s, rc, doing);
}

/*
 * Room for need bytes at *p, the start of b. Keys are built from their
 * first byte, so b's length stays 0 and only its room matters. The fold
 * starts zeroed: a buffer not allocated yet is given its (absent) cap here.
 */
static spool_err
buf_reserve(fold *f, dbuf *b, char **p, size_t need)
{
	if (b->p == NULL)
		dbuf_init(b, SIZE_MAX);
	if (dbuf_room(b, need) == NULL) {
		/* Not sticky here: a later, shorter key may still fit. */
		dbuf_reset(b);
		return spool_seterr(f->s, SPOOL_ENOMEM, "out of memory folding");
	}
	*p = b->p;
	return SPOOL_OK;
}

static spool_err
key_reserve(fold *f, size_t need)
{
	return buf_reserve(f, &f->keyb, &f->key, need);
}

/* Looks a group up (loading it from the table); with create, inserts it.
 * *g is NULL when absent and not created. */
static spool_err
group_get(fold *f, const char *job, const char *grouping, int create,
    grp **g)
{
	size_t jl = strlen(job), gl = strlen(grouping), kl = jl + 1 + gl;
	void **slot;
	int created, rc;
	spool_err e;

	*g = NULL;
	if ((e = key_reserve(f, kl)))
		return e;
	memcpy(f->key, job, jl + 1);
	memcpy(f->key + jl + 1, grouping, gl);
	if ((slot = hmap_get(f->groups, f->key, kl)) != NULL) {
		*g = *slot;
		return SPOOL_OK;
	}
	sqlite3_bind_text(f->st_gsel, 1, job, (int)jl, SQLITE_STATIC);
	sqlite3_bind_text(f->st_gsel, 2, grouping, (int)gl, SQLITE_STATIC);
	rc = sqlite3_step(f->st_gsel);
	int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(f->st_gsel, 0) : 0;
	sqlite3_reset(f->st_gsel);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return spool_sqlerr(f->s, rc, "looking up a group");
	if (id == 0) {
		if (!create)
			return SPOOL_OK;
		sqlite3_bind_text(f->st_gins, 1, job, (int)jl, SQLITE_STATIC);
		sqlite3_bind_text(f->st_gins, 2, grouping, (int)gl,
		    SQLITE_STATIC);
		if ((e = run(f, f->st_gins, "creating a group")))
			return e;
		id = sqlite3_last_insert_rowid(f->s->db);
	}
	if ((slot = hmap_put(f->groups, f->key, kl, &created)) == NULL ||
	    (*slot = calloc(1, sizeof(grp))) == NULL)
		return spool_seterr(f->s, SPOOL_ENOMEM, "out of memory folding");
	*g = *slot;
	(*g)->id = id;
	(*g)->nseries = rc == SQLITE_ROW ? -1 : 0;
	if (rc != SQLITE_ROW && f->ngroups >= 0)
		f->ngroups++;
	return SPOOL_OK;
}

static size_t
fam_key(fold *f, int64_t gid, const char *name, size_t nlen)
{
	memcpy(f->key, &gid, sizeof(gid));
	memcpy(f->key + sizeof(gid), name, nlen);
	return sizeof(gid) + nlen;
}

/* The cached family, loaded from the table on first use. With create, an
 * absent family is made (untyped, dirty). *out NULL when absent. */
static spool_err
fam_get(fold *f, int64_t gid, const char *name, size_t nlen, int create,
    fam **out)
{
	void **slot;
	size_t kl;
	int created, rc;
	spool_err e;
	fam *x = NULL;

	*out = NULL;
	if (gid == 0)
		return SPOOL_OK; /* a group not yet created has no families */
	if ((e = key_reserve(f, sizeof(gid) + nlen)))
		return e;
	kl = fam_key(f, gid, name, nlen);
	if ((slot = hmap_get(f->fams, f->key, kl)) != NULL && *slot != NULL) {
		*out = *slot;
		return SPOOL_OK;
	}
	if (slot != NULL && !create)
		return SPOOL_OK; /* known absent */
	if ((slot = hmap_put(f->fams, f->key, kl, &created)) == NULL)
		return spool_seterr(f->s, SPOOL_ENOMEM, "out of memory folding");
	if (created) {
		sqlite3_bind_int64(f->st_fsel, 1, gid);
		sqlite3_bind_text(f->st_fsel, 2, name, (int)nlen, SQLITE_STATIC);
		rc = sqlite3_step(f->st_fsel);
		if (rc == SQLITE_ROW) {
			const char *t = (const char *)sqlite3_column_text(
			    f->st_fsel, 0);
			const char *h = (const char *)sqlite3_column_text(
			    f->st_fsel, 2);
			int type = t ? expo_type_parse(t, strlen(t)) : 0;
			if ((x = calloc(1, sizeof(*x))) == NULL ||
			    (h && (x->help = strdup(h)) == NULL)) {
				free(x);
				sqlite3_reset(f->st_fsel);
				return spool_seterr(f->s, SPOOL_ENOMEM,
				    "out of memory folding");
			}
			x->type = type < 0 ? EXPO_UNTYPED : (expo_type)type;
			x->typed = sqlite3_column_int(f->st_fsel, 1);
			*slot = x;
			rc = SQLITE_DONE;
		}
		sqlite3_reset(f->st_fsel);
		sqlite3_clear_bindings(f->st_fsel);
		if (rc != SQLITE_DONE)
			return spool_sqlerr(f->s, rc, "reading a family");
	}
	if (*slot == NULL && create) {
		if ((x = calloc(1, sizeof(*x))) == NULL)
			return spool_seterr(f->s, SPOOL_ENOMEM,
			    "out of memory folding");
		x->dirty = 1;
		*slot = x;
	}
	*out = *slot;
	return SPOOL_OK;
}

/*
 * The cached series for gid + the line's name and labels (canonicalised),
 * loaded from the table on first use (absent: the table is known not to
 * have it, and is not asked); with create, one the table does not have is
 * made (value 0) and *created set. Without create, *out is NULL for such a
 * series and nothing is cached: the row check asks about every new series
 * of rows it may refuse, and those must not pile up in memory (a row
 * refused by a limit can name a million). Its key stays in f->key (*klen
 * bytes) until the next key is built.
 */
static spool_err
ser_get(fold *f, int64_t gid, expo_line *l, int create, int absent,
    ser **out, int *created, size_t *klen)
{
	size_t kl, nl;
	void **slot;
	int fresh, rc, r;
	spool_err e;
	ser *x = NULL;

	*out = NULL;
	*created = 0;
	if ((e = key_reserve(f, sizeof(gid) + l->name.len + 1 +
	    expo_labels_len(l->labels, l->nlabels))))
		return e;
	kl = fam_key(f, gid, l->name.p, l->name.len);
	f->key[kl++] = '\0';
	expo_sort_labels(l->labels, l->nlabels);
	nl = expo_join_labels(f->key + kl, l->labels, l->nlabels);
	*klen = kl + nl;
	if ((slot = hmap_get(f->series, f->key, kl + nl)) != NULL) {
		*out = *slot;
		return SPOOL_OK;
	}
	if (absent)
		rc = SQLITE_DONE;
	else {
		sqlite3_bind_int64(f->st_ssel, 1, gid);
		sqlite3_bind_text(f->st_ssel, 2, l->name.p, (int)l->name.len,
		    SQLITE_STATIC);
		sqlite3_bind_text(f->st_ssel, 3, f->key + kl, (int)nl,
		    SQLITE_STATIC);
		rc = sqlite3_step(f->st_ssel);
	}
	if (rc == SQLITE_ROW || (rc == SQLITE_DONE && create)) {
		if ((x = calloc(1, sizeof(*x))) == NULL)
			e = spool_seterr(f->s, SPOOL_ENOMEM, "out of memory "
			    "folding");
		*created = rc == SQLITE_DONE;
	}
	if (x != NULL && rc == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(f->st_ssel, 1);
		x->value = sqlite3_column_type(f->st_ssel, 0) == SQLITE_NULL ?
		    (double)NAN : sqlite3_column_double(f->st_ssel, 0);
		if (h != NULL && f->hb == NULL &&
		    (f->hb = malloc(sizeof(*f->hb))) == NULL)
			e = spool_seterr(f->s, SPOOL_ENOMEM, "out of memory "
			    "folding");
		else if (h != NULL && (r = hist_decode(h, f->hb, &x->h)) < 0)
			e = r == -2 ? spool_seterr(f->s, SPOOL_ENOMEM, "out of "
			    "memory folding") : spool_seterr(f->s, SPOOL_ECORRUPT, "spool %s: "
			    "unreadable histogram state for %.*s: the series "
			    "table was edited by hand; delete that row",
			    f->s->path, (int)l->name.len, l->name.p);
		else if (x->h != NULL)
			f->nbuckets += x->h->nb[0] + x->h->nb[1];
	}
	sqlite3_reset(f->st_ssel);
	sqlite3_clear_bindings(f->st_ssel);
	if (e == SPOOL_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		e = spool_sqlerr(f->s, rc, "reading a series");
	/* The key is still in f->key: the statement only borrowed it. */
	if (e == SPOOL_OK && x != NULL &&
	    (slot = hmap_put(f->series, f->key, kl + nl, &fresh)) == NULL)
		e = spool_seterr(f->s, SPOOL_ENOMEM, "out of memory folding");
	if (e != SPOOL_OK) {
		ser_free(x);
		*created = 0;
		return e;
	}
	if (x != NULL)
		*slot = x;
	*out = x;
	return SPOOL_OK;
}

/* Type of a family as this row will leave it: its own TYPE line first,
 * then the group's state. *known is 0 when neither knows the family. */
static spool_err
eff_type(fold *f, int64_t gid, const char *name, size_t nlen,
    expo_type *type, int *known, fam **xo)
{
	void **slot = hmap_get(f->rowmeta, name, nlen);
	fam *x = NULL;
	spool_err e;

	*xo = NULL;
	if (slot != NULL && ((rowfam *)*slot)->has_type) {
		*type = ((rowfam *)*slot)->type;
		*known = 1;
		return SPOOL_OK;
	}
	if ((e = fam_get(f, gid, name, nlen, 0, &x)))
		return e;
	*known = x != NULL;
	*type = x ? x->type : EXPO_UNTYPED;
	*xo = x;
	return SPOOL_OK;
}

static int
has_suffix(expo_str n, const char *suf, size_t *base)
{
	size_t sl = strlen(suf);

	if (n.len <= sl || memcmp(n.p + n.len - sl, suf, sl) != 0)
		return 0;
	*base = n.len - sl;
	return 1;
}

/* The sample names of a histogram NAME: NAME_bucket, NAME_sum, NAME_count;
 * a summary's are the last two (SUMMARY_FIRST_SUF on). */
static const char *const sufs[] = { "_bucket", "_sum", "_count" };
#define NSUFS (sizeof(sufs) / sizeof(sufs[0]))
#define SUMMARY_FIRST_SUF 1

/*
 * The family a sample belongs to: its own name if that is a known family;
 * else NAME_bucket of histogram NAME, NAME_sum/NAME_count of a histogram or
 * summary NAME; else a new family of its own name. observe always feeds the
 * family of its own name. *xo is the cached family of the first famlen
 * bytes of the name when this found it, else NULL (the caller looks it
 * up, or makes it).
 */
static spool_err
resolve(fold *f, int64_t gid, expo_str name, spool_op op, size_t *famlen,
    expo_type *type, fam **xo)
{
	int known;
	size_t base;
	spool_err e;
	fam *x;

	*famlen = name.len;
	if ((e = eff_type(f, gid, name.p, name.len, type, &known, xo)))
		return e;
	if (known || op == SPOOL_OP_OBSERVE)
		return SPOOL_OK;
	for (size_t i = 0; i < NSUFS; i++) {
		expo_type t;
		if (!has_suffix(name, sufs[i], &base))
			continue;
		if ((e = eff_type(f, gid, name.p, base, &t, &known, &x)))
			return e;
		if (known && (t == EXPO_HISTOGRAM ||
		    (t == EXPO_SUMMARY && i >= SUMMARY_FIRST_SUF))) {
			*famlen = base;
			*type = t;
			*xo = x;
			return SPOOL_OK;
		}
	}
	*type = EXPO_UNTYPED;
	*xo = NULL;
	return SPOOL_OK;
}

static const char *
why_fmt(fold *f, size_t lineno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *
why_fmt(fold *f, size_t lineno, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(f->reason, sizeof(f->reason), "line %zu: ", lineno);

	va_start(ap, fmt);
	vsnprintf(f->reason + n, sizeof(f->reason) - (size_t)n, fmt, ap);
	va_end(ap);
	return f->reason;
}

/* The type this row gives a name: its TYPE line, or histogram when op
 * observe feeds it. 0 when the row gives it none. */
static int
row_type(fold *f, const char *name, size_t nlen, expo_type *t)
{
	void **slot = hmap_get(f->rowmeta, name, nlen);
	const rowfam *r = slot ? *slot : NULL;

	if (r != NULL && r->has_type) {
		*t = r->type;
		return 1;
	}
	if (r != NULL && r->observed) {
		*t = EXPO_HISTOGRAM;
		return 1;
	}
	return 0;
}

/*
 * Sample-name collisions: a histogram NAME writes NAME_bucket, NAME_sum and
 * NAME_count (a summary the last two), so a family of its own under one of
 * those names makes the gateway refuse the whole group ("second TYPE line",
 * "collides with previously collected metric"). Only what the row changes is
 * checked, so that a group folded before this check does not lock up.
 *
 * Would a histogram or summary own the samples of the family `name` is about
 * to become? Sets *why when it would.
 */
static spool_err
check_owned(fold *f, int64_t gid, size_t lineno, const char *name,
    size_t nlen, const char **why)
{
	expo_str n = { name, nlen };
	size_t base;
	spool_err e;
	fam *x;

	for (size_t i = 0; i < NSUFS; i++) {
		expo_type t;
		if (!has_suffix(n, sufs[i], &base))
			continue;
		if (!row_type(f, name, base, &t)) {
			if ((e = fam_get(f, gid, name, base, 0, &x)))
				return e;
			if (x == NULL)
				continue;
			t = x->type;
		}
		if (t == EXPO_HISTOGRAM ||
		    (t == EXPO_SUMMARY && i >= SUMMARY_FIRST_SUF)) {
			*why = why_fmt(f, lineno, "%.*s collides with %s %.*s, "
			    "whose %.*s samples it would hide (the gateway "
			    "refuses the group): rename one of them",
			    (int)nlen, name, expo_type_name(t), (int)base, name,
			    (int)nlen, name);
			return SPOOL_OK;
		}
	}
	return SPOOL_OK;
}

/* The other way round: would the histogram or summary `name` is becoming
 * own the samples of a family of its own in the group? */
static spool_err
check_owns(fold *f, int64_t gid, size_t lineno, const char *name,
    size_t nlen, expo_type t, const char **why)
{
	char member[EXPO_MAX_NAME + sizeof("_bucket")];
	size_t first = t == EXPO_SUMMARY ? SUMMARY_FIRST_SUF : 0;
	spool_err e;
	fam *x;

	if ((t != EXPO_HISTOGRAM && t != EXPO_SUMMARY) || nlen > EXPO_MAX_NAME)
		return SPOOL_OK;
	for (size_t i = first; i < NSUFS; i++) {
		size_t sl = strlen(sufs[i]);
		memcpy(member, name, nlen);
		memcpy(member + nlen, sufs[i], sl);
		if ((e = fam_get(f, gid, member, nlen + sl, 0, &x)))
			return e;
		if (x == NULL)
			continue;
		*why = why_fmt(f, lineno, "%s %.*s collides with %.*s, a family "
		    "of its own in this group, whose samples it would own (the "
		    "gateway refuses the group): rename one of them, or delete "
		    "the group first", expo_type_name(t), (int)nlen, name,
		    (int)(nlen + sl), member);
		return SPOOL_OK;
	}
	return SPOOL_OK;
}

/* Checks a TYPE or HELP line, or a sample of op observe, that makes `name`
 * a family of its own, of type t (known) from this row. */
static spool_err
check_collision(fold *f, int64_t gid, size_t lineno, const char *name,
    size_t nlen, int known, expo_type t, const char **why)
{
	spool_err e;
	fam *x;

	if ((e = fam_get(f, gid, name, nlen, 0, &x)))
		return e;
	if (x == NULL && (e = check_owned(f, gid, lineno, name, nlen, why)))
		return e;
	if (*why != NULL || !known || (x != NULL && x->type == t))
		return SPOOL_OK;
	return check_owns(f, gid, lineno, name, nlen, t, why);
}

/* Does a series limit apply? Then pass 1 counts the series a row would
 * create. */
static int
limits_series(const fold *f)
{
	return f->o != NULL && (f->o->max_series_per_group > 0 ||
	    f->o->max_series > 0);
}

/*
 * Looks up the series of the sample of l: *out is the cached series, or
 * ser_absent when the state does not have it. When a series limit
 * applies, counts the sample in *nnew when the row would create its
 * series: the group (gid 0: one not yet created) does not have it, and
 * the row has not named it before.
 */
static spool_err
note_series(fold *f, int64_t gid, expo_line *l, size_t *nnew, ser **out)
{
	size_t kl;
	void **slot;
	int created;
	spool_err e;
	ser *x = NULL;

	if (gid != 0 && (e = ser_get(f, gid, l, 0, 0, &x, &created, &kl)))
		return e;
	*out = x != NULL ? x : &ser_absent;
	if (x != NULL || !limits_series(f))
		return SPOOL_OK;
	if (gid == 0) {
		if ((e = key_reserve(f, sizeof(gid) + l->name.len + 1 +
		    expo_labels_len(l->labels, l->nlabels))))
			return e;
		kl = fam_key(f, gid, l->name.p, l->name.len);
		f->key[kl++] = '\0';
		expo_sort_labels(l->labels, l->nlabels);
		kl += expo_join_labels(f->key + kl, l->labels, l->nlabels);
	}
	if ((slot = hmap_put(f->rownew, f->key, kl, &created)) == NULL)
		return spool_seterr(f->s, SPOOL_ENOMEM, "out of memory folding");
	if (created)
		(*nnew)++;
	return SPOOL_OK;
}

/* Pass 1: checks a row against itself and the group's state. Returns
 * SPOOL_OK with *why NULL when the row may be applied, or with *why set to
 * the reason for refusing it. Other errors are the database's. When a
 * series limit applies, *nnew is the number of series the row would
 * create. */
static spool_err
check_row(fold *f, int64_t gid, spool_op op, const char *body, size_t len,
    const char **why, size_t *nnew)
{
	expo_line *l = f->line;
	const char *line;
	size_t pos = 0, llen, lineno = 0;
	spool_err e;
	int meta;

	*why = NULL;
	*nnew = 0;
	f->nsmp = 0;
	f->smp_end = 0;
	f->smp_all = 1;
	hmap_clear(f->rowmeta, free);
	hmap_clear(f->rownew, NULL);
	if (spool_validate_body(op, body, len, f->reason, sizeof(f->reason))) {
		*why = f->reason;
		return SPOOL_OK;
	}
	if (op == SPOOL_OP_DELETE)
		return SPOOL_OK;
	/* A replace's body is read as a set's; fold_row() passes gid 0 for
	 * it, as the state it replaces does not count. */
	if (op == SPOOL_OP_REPLACE)
		op = SPOOL_OP_SET;
	/* TYPE lines first: they hold for the whole row. So do the names op
	 * observe feeds, which become histograms. A body without a '#' has
	 * no TYPE line, and most rows are such: one pass less. */
	meta = op == SPOOL_OP_OBSERVE || memchr(body, '#', len) != NULL;
	while (meta && expo_next_line(body, len, &pos, &line, &llen)) {
		void **slot;
		int created, known;
		expo_type st;

		lineno++;
		if (expo_parse_line(line, llen, l, why) != 0 ||
		    (l->kind != EXPO_TYPE && (l->kind != EXPO_SAMPLE ||
		    op != SPOOL_OP_OBSERVE)))
			continue;
		if ((slot = hmap_put(f->rowmeta, l->name.p, l->name.len,
		    &created)) == NULL || (*slot == NULL &&
		    (*slot = calloc(1, sizeof(rowfam))) == NULL))
			return spool_seterr(f->s, SPOOL_ENOMEM,
			    "out of memory folding");
		if (l->kind == EXPO_SAMPLE) {
			((rowfam *)*slot)->observed = 1;
			continue;
		}
		((rowfam *)*slot)->has_type = 1;
		((rowfam *)*slot)->type = l->type;
		fam *x;
		if ((e = fam_get(f, gid, l->name.p, l->name.len, 0, &x)))
			return e;
		known = x != NULL && x->typed;
		st = x ? x->type : EXPO_UNTYPED;
		if (known && st != l->type) {
			*why = why_fmt(f, lineno, "TYPE conflict: %.*s is a %s "
			    "in this group, this row says %s (delete the "
			    "group first to change a type)", (int)l->name.len,
			    l->name.p, expo_type_name(st),
			    expo_type_name(l->type));
			return SPOOL_OK;
		}
	}
	pos = 0;
	lineno = 0;
	*why = NULL;
	while (expo_next_line(body, len, &pos, &line, &llen)) {
		const char *member;
		size_t famlen;
		expo_type t;
		fam *x;
		ser *sr;

		lineno++;
		if (expo_parse_line(line, llen, l, why) != 0)
			return SPOOL_OK; /* cannot happen: validated above */
		if (l->kind == EXPO_TYPE || l->kind == EXPO_HELP) {
			if ((e = check_collision(f, gid, lineno, l->name.p,
			    l->name.len, l->kind == EXPO_TYPE, l->type, why)) ||
			    *why != NULL)
				return e;
			continue;
		}
		if (l->kind != EXPO_SAMPLE)
			continue;
		if ((e = resolve(f, gid, l->name, op, &famlen, &t, &x)))
			return e;
		if (op == SPOOL_OP_OBSERVE && t != EXPO_HISTOGRAM &&
		    t != EXPO_UNTYPED) {
			*why = why_fmt(f, lineno, "op observe needs a histogram: "
			    "%.*s is a %s in this group", (int)l->name.len,
			    l->name.p, expo_type_name(t));
			return SPOOL_OK;
		}
		if (op != SPOOL_OP_OBSERVE && t == EXPO_HISTOGRAM &&
		    famlen == l->name.len) {
			*why = why_fmt(f, lineno, "histogram %.*s has no sample "
			    "of its bare name: write %.*s_bucket, _sum and "
			    "_count, or use op observe", (int)famlen, l->name.p,
			    (int)famlen, l->name.p);
			return SPOOL_OK;
		}
		if (op == SPOOL_OP_ADD && t == EXPO_COUNTER && l->value < 0) {
			*why = why_fmt(f, lineno, "counter %.*s cannot decrease "
			    "(op add with a negative value)", (int)famlen,
			    l->name.p);
			return SPOOL_OK;
		}
		/* What the gateway would refuse or garble of a histogram or
		 * summary, typed by this row or by the group's state. An
		 * observation is a value, not a count: observe is exempt. */
		if (op != SPOOL_OP_OBSERVE && (member = expo_check_member(l, t,
		    famlen)) != NULL) {
			*why = why_fmt(f, lineno, "%s %.*s: %s",
			    expo_type_name(t), (int)famlen, l->name.p, member);
			return SPOOL_OK;
		}
		if (op == SPOOL_OP_OBSERVE && ((e = check_collision(f, gid,
		    lineno, l->name.p, l->name.len, 1, EXPO_HISTOGRAM, why)) ||
		    *why != NULL))
			return e;
		if ((e = note_series(f, gid, l, nnew, &sr)))
			return e;
		if (f->nsmp < FOLD_ROWSMP && f->smp_all) {
			rowsmp *m = &f->smp[f->nsmp++];
			m->sr = sr;
			m->x = x;
			m->line = line;
			m->llen = llen;
			m->name = l->name;
			m->famlen = famlen;
			m->value = l->value;
			f->smp_end = pos;
		} else
			f->smp_all = 0;
	}
	return SPOOL_OK;
}

static const spool_buckets *
buckets_for(const spool_fold_options *o, expo_str name)
{
	for (size_t i = 0; o && i < o->nbuckets; i++)
		if (expo_str_eq(name, o->buckets[i].name))
			return &o->buckets[i];
	return NULL;
}

/* Applies one sample of a checked row (m, as check_row() left it); the
 * line is in f->line already when parsed. */
static spool_err
apply_sample(fold *f, grp *g, spool_op op, const rowsmp *m, int parsed)
{
	expo_line *l = f->line;
	const char *why;
	size_t klen;
	int created = 0, made;
	spool_err e;
	fam *x = m->x;
	ser *sr = m->sr;

	if (x == NULL && (e = fam_get(f, g->id, m->name.p, m->famlen, 1, &x)))
		return e;
	if (op == SPOOL_OP_OBSERVE && (x->type != EXPO_HISTOGRAM ||
	    !x->typed)) {
		x->type = EXPO_HISTOGRAM;
		x->typed = 1;
		x->dirty = 1;
	}
	if (sr == NULL || sr == &ser_absent) {
		/* The key needs the line's labels. It parsed in pass 1. */
		if (!parsed && expo_parse_line(m->line, m->llen, l, &why) != 0)
			return spool_seterr(f->s, SPOOL_EIO, "a line checked "
			    "before does not parse: %s", why);
		if ((e = ser_get(f, g->id, l, 1, sr == &ser_absent, &sr,
		    &created, &klen)))
			return e;
	}
	/* Keep the counts of the limits as they are in the state. */
	if (created) {
		g->unwritten++;
		f->unwritten++;
		if (g->nseries >= 0)
			g->nseries++;
		if (f->nseries >= 0)
			f->nseries++;
	}
	switch (op) {
	case SPOOL_OP_SET:
		sr->value = m->value;
		break;
	case SPOOL_OP_ADD:
		sr->value += m->value;
		break;
	case SPOOL_OP_OBSERVE:
		if (sr->h == NULL) {
			const spool_buckets *b = buckets_for(f->o, m->name);
			if ((sr->h = hist_new(b)) == NULL)
				return spool_seterr(f->s, SPOOL_ENOMEM,
				    "out of memory folding");
		}
		if ((made = hist_add(sr->h, m->value)) < 0)
			return spool_seterr(f->s, SPOOL_ENOMEM,
			    "out of memory folding");
		f->nbuckets += (size_t)made;
		sr->value = NAN;
		break;
	case SPOOL_OP_DELETE:
	case SPOOL_OP_REPLACE: /* applied as SPOOL_OP_SET */
		break;
	}
	sr->dirty = 1;
	f->res->lines++;
	return SPOOL_OK;
}

/*
 * Pass 2: applies a checked row: its TYPE and HELP lines first, so that
 * its samples resolve as check_row() found them; then the samples
 * check_row() kept, then (a row of more than FOLD_ROWSMP samples) the rest,
 * parsed and resolved again.
 */
static spool_err
apply_row(fold *f, grp *g, spool_op op, const char *body, size_t len)
{
	expo_line *l = f->line;
	const char *line, *why;
	size_t pos = 0, llen;
	spool_err e;
	fam *x = NULL;
	/* Meta lines start with '#'. */
	int meta = memchr(body, '#', len) != NULL;

	while (meta && expo_next_line(body, len, &pos, &line, &llen)) {
		if (expo_parse_line(line, llen, l, &why) != 0)
			continue;
		if (l->kind != EXPO_TYPE && l->kind != EXPO_HELP)
			continue;
		if ((e = fam_get(f, g->id, l->name.p, l->name.len, 1, &x)))
			return e;
		if (l->kind == EXPO_TYPE) {
			if (x->type != l->type || !x->typed)
				x->dirty = 1;
			x->type = l->type;
			x->typed = 1;
		} else {
			char *h = strndup(l->help.p, l->help.len);
			if (h == NULL)
				return spool_seterr(f->s, SPOOL_ENOMEM,
				    "out of memory folding");
			if (x->help == NULL || strcmp(x->help, h) != 0)
				x->dirty = 1;
			free(x->help);
			x->help = h;
		}
	}
	for (size_t i = 0; i < f->nsmp; i++)
		if ((e = apply_sample(f, g, op, &f->smp[i], 0)))
			return e;
	if (f->smp_all)
		return SPOOL_OK;
	pos = f->smp_end;
	while (expo_next_line(body, len, &pos, &line, &llen)) {
		rowsmp m;
		expo_type t;

		if (expo_parse_line(line, llen, l, &why) != 0 ||
		    l->kind != EXPO_SAMPLE)
			continue;
		if ((e = resolve(f, g->id, l->name, op, &m.famlen, &t, &m.x)))
			return e;
		m.sr = NULL;
		m.name = l->name;
		m.value = l->value;
		if ((e = apply_sample(f, g, op, &m, 1)))
			return e;
	}
	return SPOOL_OK;
}

static int
flush_fam(const void *key, size_t klen, void *val, void *arg)
{
	fold *f = arg;
	fam *x = val;
	int64_t gid;

	if (x == NULL || !x->dirty)
		return 0;
	memcpy(&gid, key, sizeof(gid));
	sqlite3_bind_int64(f->st_fput, 1, gid);
	sqlite3_bind_text(f->st_fput, 2, (const char *)key + sizeof(gid),
	    (int)(klen - sizeof(gid)), SQLITE_STATIC);
	sqlite3_bind_text(f->st_fput, 3, expo_type_name(x->type), -1,
	    SQLITE_STATIC);
	sqlite3_bind_int(f->st_fput, 4, x->typed);
	sqlite3_bind_text(f->st_fput, 5, x->help, -1, SQLITE_STATIC);
	if (run(f, f->st_fput, "writing a family"))
		return 1;
	x->dirty = 0;
	return 0;
}

static int
flush_ser(const void *key, size_t klen, void *val, void *arg)
{
	fold *f = arg;
	ser *x = val;
	const char *k = key, *name, *labels;
	size_t nlen;
	char *h = NULL;
	int64_t gid;
	int r = 0;

	if (x == NULL || !x->dirty)
		return 0;
	memcpy(&gid, key, sizeof(gid));
	name = k + sizeof(gid);
	nlen = strnlen(name, klen - sizeof(gid));
	labels = name + nlen + 1;
	if (x->h != NULL && (h = hist_encode(x->h)) == NULL) {
		spool_seterr(f->s, SPOOL_ENOMEM, "out of memory folding");
		return 1;
	}
	sqlite3_bind_int64(f->st_sput, 1, gid);
	sqlite3_bind_text(f->st_sput, 2, name, (int)nlen, SQLITE_STATIC);
	sqlite3_bind_text(f->st_sput, 3, labels,
	    (int)(klen - sizeof(gid) - nlen - 1), SQLITE_STATIC);
	if (isnan(x->value))
		sqlite3_bind_null(f->st_sput, 4);
	else
		sqlite3_bind_double(f->st_sput, 4, x->value);
	sqlite3_bind_text(f->st_sput, 5, h, -1, SQLITE_STATIC);
	if (run(f, f->st_sput, "writing a series"))
		r = 1;
	else
		x->dirty = 0;
	free(h);
	return r;
}

static int
flush_grp(const void *key, size_t klen, void *val, void *arg)
{
	fold *f = arg;
	grp *g = val;

	(void)key;
	(void)klen;
	if (!g->touched)
		return 0;
	sqlite3_bind_int64(f->st_gupd, 1, g->last_row_ms);
	sqlite3_bind_int64(f->st_gupd, 2, g->id);
	if (run(f, f->st_gupd, "updating a group"))
		return 1;
	g->touched = 0;
	f->res->groups++;
	return 0;
}

static int
written_grp(const void *key, size_t klen, void *val, void *arg)
{
	(void)key;
	(void)klen;
	(void)arg;
	((grp *)val)->unwritten = 0;
	return 0;
}

/* A series to write, for the sort in flush(). */
typedef struct dirty {
	const void *key;
	size_t klen;
	ser *x;
} dirty;

typedef struct dirties {
	dirty *v;
	size_t n;
} dirties;

static int
collect_dirty(const void *key, size_t klen, void *val, void *arg)
{
	dirties *d = arg;
	ser *x = val;

	if (x != NULL && x->dirty)
		d->v[d->n++] = (dirty){ key, klen, x };
	return 0;
}

/* The order of the series table's key: group id, name, labels. */
static int
dirty_cmp(const void *pa, const void *pb)
{
	const dirty *a = pa, *b = pb;
	int64_t ga, gb;
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c;

	memcpy(&ga, a->key, sizeof(ga));
	memcpy(&gb, b->key, sizeof(gb));
	if (ga != gb)
		return ga < gb ? -1 : 1;
	/* "name\0labels": a name that is a prefix of another sorts first,
	 * as SQLite compares the name column. */
	c = memcmp((const char *)a->key + sizeof(ga),
	    (const char *)b->key + sizeof(gb), n - sizeof(ga));
	if (c != 0)
		return c;
	return (a->klen > b->klen) - (a->klen < b->klen);
}

/*
 * Writes the dirty series in the table's key order: a batch can touch
 * more series than the page cache holds pages of them (the agent's holds
 * about 6,000 series), and in the hash map's order every write would read
 * a page back that an earlier one had pushed out. Without memory for the
 * sort, in the map's order.
 */
static int
flush_series(fold *f)
{
	dirties d = { malloc(hmap_count(f->series) * sizeof(dirty) + 1), 0 };
	int r = 0;

	if (d.v == NULL)
		return hmap_each(f->series, flush_ser, f);
	(void)hmap_each(f->series, collect_dirty, &d);
	qsort(d.v, d.n, sizeof(dirty), dirty_cmp);
	for (size_t i = 0; i < d.n && r == 0; i++)
		r = flush_ser(d.v[i].key, d.v[i].klen, d.v[i].x, f);
	free(d.v);
	return r;
}

/* Writes the dirty cache entries to the state tables. */
static spool_err
flush(fold *f)
{
	if (hmap_each(f->fams, flush_fam, f) || flush_series(f))
		return spool_sqlerr(f->s, sqlite3_errcode(f->s->db),
		    "writing the group state");
	if (f->unwritten > 0) {
		(void)hmap_each(f->groups, written_grp, NULL);
		f->unwritten = 0;
	}
	return SPOOL_OK;
}

/*
 * A delete request or a replace: the group's state goes now, in order with
 * the rows around it. A delete request marks the group (the gateway's
 * copy goes when the agent's DELETE succeeds); a replace drops a pending
 * request instead, since the PUT of what it leaves replaces the
 * gateway's whole group as the DELETE would have. So a replace is never
 * a DELETE then a PUT, and an empty one leaves the group in place, empty
 * (spool_group_deleted() would drop a group whose request finds it so).
 */
static spool_err
drop_state(fold *f, grp *g, int replace)
{
	sqlite3_stmt **drop[] = { &f->st_sdrop, &f->st_fdrop,
	    replace ? &f->st_gkeep : &f->st_gdrop };
	const char *const sql[] = {
		"DELETE FROM series WHERE group_id = ?",
		"DELETE FROM families WHERE group_id = ?",
		replace ? "UPDATE groups SET delete_pending = 0 WHERE id = ?" :
		"UPDATE groups SET delete_pending = 1, park_reason = NULL "
		"WHERE id = ?"
	};
	spool_err e;

	if ((e = flush(f)))
		return e;
	hmap_clear(f->fams, fam_free);
	hmap_clear(f->series, ser_free);
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
		if ((e = prep(f, drop[i], sql[i])))
			return e;
		sqlite3_bind_int64(*drop[i], 1, g->id);
		if ((e = run(f, *drop[i], "deleting a group's state")))
			return e;
	}
	/* The series went; the group stays (its DELETE is pending, or the
	 * replace's body fills it). */
	if (f->nseries >= 0 && g->nseries >= 0)
		f->nseries -= g->nseries;
	else
		f->nseries = -1;
	g->nseries = 0;
	if (!replace)
		f->res->deletes++;
	return SPOOL_OK;
}

/* --- limits ------------------------------------------------------------ */

/* One count from the state; gid 0 binds nothing. */
static spool_err
count_query(fold *f, sqlite3_stmt **st, const char *sql, int64_t gid,
    int64_t *out)
{
	spool_err e;
	int rc;

	if ((e = prep(f, st, sql)))
		return e;
	if (gid != 0)
		sqlite3_bind_int64(*st, 1, gid);
	rc = sqlite3_step(*st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(*st, 0);
	sqlite3_reset(*st);
	sqlite3_clear_bindings(*st);
	return rc == SQLITE_ROW ? SPOOL_OK :
	    spool_sqlerr(f->s, rc, "counting for the limits");
}

/*
 * The counts, read from the state once per batch, when a row first needs
 * them, and kept up to date from then on (group_get(), apply_row(),
 * drop_state()). Series the batch made and holds in its cache are added
 * to what the table counts (writing them out first would write them twice
 * in a batch).
 */
static spool_err
count_groups(fold *f)
{
	if (f->ngroups >= 0)
		return SPOOL_OK;
	return count_query(f, &f->st_gcnt, "SELECT count(*) FROM groups", 0,
	    &f->ngroups);
}

static spool_err
count_series(fold *f)
{
	spool_err e;

	if (f->nseries >= 0)
		return SPOOL_OK;
	if ((e = count_query(f, &f->st_scnt, "SELECT count(*) FROM series", 0,
	    &f->nseries)))
		return e;
	f->nseries += f->unwritten;
	return SPOOL_OK;
}

static spool_err
count_group_series(fold *f, grp *g)
{
	spool_err e;

	if (g->nseries >= 0)
		return SPOOL_OK;
	if ((e = count_query(f, &f->st_sgcnt, "SELECT count(*) FROM series "
	    "WHERE group_id = ?", g->id, &g->nseries)))
		return e;
	g->nseries += g->unwritten;
	return SPOOL_OK;
}

/*
 * The series limits for a replace of the existing group g by a body of
 * nnew series, all of them counted (check_row() looked at no group): the
 * group is left with nnew series, so it grows by nnew less those it has.
 * Like a row that only changes existing series, one that does not grow
 * the group is never refused, even by a limit lowered since.
 */
static spool_err
check_limits_replace(fold *f, grp *g, size_t nnew, const char **why)
{
	const spool_fold_options *o = f->o;
	int64_t grow;
	spool_err e;

	if (nnew == 0)
		return SPOOL_OK;
	if ((e = count_group_series(f, g)))
		return e;
	grow = (int64_t)nnew - g->nseries;
	if (grow <= 0)
		return SPOOL_OK;
	if (o->max_series_per_group > 0 &&
	    (int64_t)nnew > (int64_t)o->max_series_per_group) {
		snprintf(f->reason, sizeof(f->reason),
		    "limits.max_series_per_group: this replace would leave "
		    "%zu series in a group that may have %zu (it has %lld); "
		    "raise limits.max_series_per_group in the agent's "
		    "configuration, or split the series among groups", nnew,
		    o->max_series_per_group, (long long)g->nseries);
		f->refused[SPOOL_LIMIT_SERIES_PER_GROUP]++;
		*why = f->reason;
		return SPOOL_OK;
	}
	if (o->max_series > 0) {
		if ((e = count_series(f)))
			return e;
		if (f->nseries + grow > (int64_t)o->max_series) {
			snprintf(f->reason, sizeof(f->reason), "limits.max_series:"
			    " this replace would add %lld series to the %lld the "
			    "spool holds (limit %zu); raise limits.max_series in "
			    "the agent's configuration, or delete groups no "
			    "longer needed (collector-spool delete)",
			    (long long)grow, (long long)f->nseries,
			    o->max_series);
			f->refused[SPOOL_LIMIT_SERIES]++;
			*why = f->reason;
			return SPOOL_OK;
		}
	}
	return SPOOL_OK;
}

/*
 * Would the row take a count past its limit? g is NULL for a group the row
 * would create; nnew the series it would create (for a replace, all those
 * of its body). Sets *why (naming the setting and the fix) and counts the
 * refusal.
 */
static spool_err
check_limits(fold *f, grp *g, size_t nnew, int replace, const char **why)
{
	const spool_fold_options *o = f->o;
	spool_err e;
	int64_t have;

	*why = NULL;
	if (o == NULL)
		return SPOOL_OK;
	if (replace && g != NULL)
		return check_limits_replace(f, g, nnew, why);
	if (g == NULL && o->max_groups > 0) {
		if ((e = count_groups(f)))
			return e;
		if (f->ngroups >= (int64_t)o->max_groups) {
			snprintf(f->reason, sizeof(f->reason), "limits.max_groups:"
			    " the spool holds %lld groups, the most it may "
			    "(limit %zu), and this row would start another; "
			    "raise limits.max_groups in the agent's "
			    "configuration, or delete groups no longer needed "
			    "(collector-spool delete)", (long long)f->ngroups,
			    o->max_groups);
			f->refused[SPOOL_LIMIT_GROUPS]++;
			*why = f->reason;
			return SPOOL_OK;
		}
	}
	if (nnew == 0)
		return SPOOL_OK;
	if (o->max_series_per_group > 0) {
		if (g != NULL && (e = count_group_series(f, g)))
			return e;
		have = g != NULL ? g->nseries : 0;
		if (have + (int64_t)nnew > (int64_t)o->max_series_per_group) {
			snprintf(f->reason, sizeof(f->reason),
			    "limits.max_series_per_group: this row would add "
			    "%zu series to a group of %lld (limit %zu); raise "
			    "limits.max_series_per_group in the agent's "
			    "configuration, or delete the group to start it "
			    "afresh (collector-spool delete)", nnew,
			    (long long)have, o->max_series_per_group);
			f->refused[SPOOL_LIMIT_SERIES_PER_GROUP]++;
			*why = f->reason;
			return SPOOL_OK;
		}
	}
	if (o->max_series > 0) {
		if ((e = count_series(f)))
			return e;
		if (f->nseries + (int64_t)nnew > (int64_t)o->max_series) {
			snprintf(f->reason, sizeof(f->reason), "limits.max_series:"
			    " this row would add %zu series to the %lld the "
			    "spool holds (limit %zu); raise limits.max_series "
			    "in the agent's configuration, or delete groups no "
			    "longer needed (collector-spool delete)", nnew,
			    (long long)f->nseries, o->max_series);
			f->refused[SPOOL_LIMIT_SERIES]++;
			*why = f->reason;
			return SPOOL_OK;
		}
	}
	return SPOOL_OK;
}

/* Adds the batch's refusals to the counters in meta (refused_<limit>),
 * which live as long as the spool, as rejected_total does. */
static spool_err
save_refusals(fold *f)
{
	char sql[256];
	spool_err e;

	for (int i = 0; i < SPOOL_NLIMITS; i++) {
		if (f->refused[i] == 0)
			continue;
		snprintf(sql, sizeof(sql), "INSERT INTO meta(key, value) VALUES "
		    "('refused_%s', %zu) ON CONFLICT(key) DO UPDATE SET value ="
		    " value + excluded.value", spool_limit_name((spool_limit)i),
		    f->refused[i]);
		if ((e = spool_exec(f->s, sql, "counting refused rows")))
			return e;
	}
	return SPOOL_OK;
}

/* FNV-1a's 64-bit offset basis and prime. */
#define FNV64_BASIS 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL
/* A UTF-8 character has at most this many continuation bytes. */
#define UTF8_MAX_CONT 3

uint64_t
spool_fnv1a64(const void *p, size_t n)
{
	const unsigned char *b = p;
	uint64_t h = FNV64_BASIS;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= FNV64_PRIME;
	}
	return h;
}

size_t
spool_cut_len(const char *s, size_t len, size_t keep)
{
	size_t cut = keep;

	if (len <= keep)
		return len;
	/* Back off continuation bytes (10xxxxxx), so that the cut ends
	 * before a whole character; at most UTF8_MAX_CONT, for bytes that
	 * are not UTF-8 at all. */
	for (size_t i = 0; i < UTF8_MAX_CONT && cut > 0 &&
	    ((unsigned char)s[cut] & 0xc0) == 0x80; i++)
		cut--;
	return cut;
}

/*
 * Moves a row to the rejected list. The writer reads it there, but a body
 * of any size must not stay whole in the spool: one over
 * SPOOL_REJECTED_BODY_KEEP keeps its first bytes, and its size and hash go
 * at the end of the reason (SPOOL_CUT_FMT), so the writer can still tell
 * which body it was. Job, grouping and op are cut likewise, silently: a
 * value that long was refused for its length.
 */
static spool_err
reject(fold *f, sqlite3_stmt *row, const char *why)
{
	char cutwhy[sizeof(f->reason) + 128];

	for (int i = 0; i < 4; i++) {
		int col = i + 1;
		const char *t;
		size_t n, keep = col == 4 ? SPOOL_REJECTED_BODY_KEEP :
		    SPOOL_REJECTED_FIELD_KEEP;

		if (sqlite3_column_type(row, col) == SQLITE_NULL) {
			sqlite3_bind_null(f->st_rej, i + 2);
			continue;
		}
		t = (const char *)sqlite3_column_text(row, col);
		n = (size_t)sqlite3_column_bytes(row, col);
		sqlite3_bind_text(f->st_rej, i + 2, t,
		    (int)spool_cut_len(t, n, keep), SQLITE_STATIC);
		if (col == 4 && n > keep) {
			snprintf(cutwhy, sizeof(cutwhy), "%s" SPOOL_CUT_FMT, why,
			    (long long)n, (unsigned long long)spool_fnv1a64(t,
			    n), spool_cut_len(t, n, keep));
			why = cutwhy;
		}
	}
	sqlite3_bind_int64(f->st_rej, 1, sqlite3_column_int64(row, 5));
	sqlite3_bind_text(f->st_rej, 6, why, -1, SQLITE_STATIC);
	f->res->rejected++;
	return run(f, f->st_rej, "recording a rejected row");
}

/*
 * Builds in f->rkey the key of rawgroups for a job and grouping as a row
 * wrote them: which group they name is settled once a batch, not once a
 * row (checking and canonicalising a grouping costs more than the rest of
 * a one-line row). The job's length comes first, so that no two pairs
 * share a key, and a mark tells a NULL grouping (the default) from "".
 */
static spool_err
raw_key(fold *f, const char *job, size_t jlen, const char *grouping,
    size_t glen, size_t *klen)
{
	size_t gl = grouping != NULL ? glen : 0;
	size_t kl = 1 + sizeof(jlen) + jlen + gl;
	spool_err e;

	if ((e = buf_reserve(f, &f->rkeyb, &f->rkey, kl)))
		return e;
	f->rkey[0] = grouping == NULL ? 'd' : 'g';
	memcpy(f->rkey + 1, &jlen, sizeof(jlen));
	memcpy(f->rkey + 1 + sizeof(jlen), job, jlen);
	if (gl > 0)
		memcpy(f->rkey + 1 + sizeof(jlen) + jlen, grouping, gl);
	*klen = kl;
	return SPOOL_OK;
}

/* One inbox row: resolve its group, check it, apply it or reject it.
 * *size is its job, grouping and body bytes, for SPOOL_FOLD_BYTES. */
static spool_err
fold_row(fold *f, sqlite3_stmt *row, size_t *size)
{
	/* Lengths from SQLite, not strlen(): an SQL writer can store a NUL,
	 * and a string cut at it would be a silently different group. */
	const char *job = (const char *)sqlite3_column_text(row, 1);
	size_t jlen = (size_t)sqlite3_column_bytes(row, 1);
	const char *grouping = (const char *)sqlite3_column_text(row, 2);
	size_t glen = (size_t)sqlite3_column_bytes(row, 2);
	const char *opname = (const char *)sqlite3_column_text(row, 3);
	size_t olen = (size_t)sqlite3_column_bytes(row, 3);
	const char *body = (const char *)sqlite3_column_text(row, 4);
	size_t blen = (size_t)sqlite3_column_bytes(row, 4);
	int64_t received = sqlite3_column_int64(row, 5);
	const char *why = NULL;
	size_t nnew = 0, rkl;
	spool_op op = SPOOL_OP_SET;
	grp *g = NULL;
	void **slot;
	int known, created;
	spool_err e;

	*size = jlen + glen + blen;
	if (job == NULL) {
		job = f->default_job;
		jlen = strlen(job);
	}
	if (opname != NULL && strlen(opname) != olen)
		return reject(f, row, "unknown op: it holds a NUL byte (set, "
		    "add, observe, delete or replace)");
	if (opname != NULL && spool_op_parse(opname, &op) != SPOOL_OK) {
		snprintf(f->reason, sizeof(f->reason), "unknown op '%.40s' "
		    "(set, add, observe, delete or replace)", opname);
		return reject(f, row, f->reason);
	}
	if (body == NULL) {
		body = "";
		blen = 0;
	}
	if ((e = raw_key(f, job, jlen, grouping, glen, &rkl)))
		return e;
	slot = hmap_get(f->rawgroups, f->rkey, rkl);
	known = slot != NULL;
	if (known)
		g = *slot;
	else if ((why = spool_check_job(job, jlen))) {
		snprintf(f->reason, sizeof(f->reason), "job: %s", why);
		return reject(f, row, f->reason);
	} else if (grouping == NULL)
		grouping = f->default_grouping;
	else {
		if ((why = spool_canon_grouping(grouping, glen, f->canon,
		    8192 + 1))) {
			snprintf(f->reason, sizeof(f->reason), "grouping: %s",
			    why);
			return reject(f, row, f->reason);
		}
		grouping = f->canon;
	}
	if (!known && (e = group_get(f, job, grouping, 0, &g)))
		return e;
	/* A replace is checked as if the group were empty, as it will be. */
	if ((e = check_row(f, g && op != SPOOL_OP_REPLACE ? g->id : 0, op,
	    body, blen, &why, &nnew)))
		return e;
	if (why == NULL && (e = check_limits(f, g, nnew,
	    op == SPOOL_OP_REPLACE, &why)))
		return e;
	if (why != NULL)
		return reject(f, row, why);
	if (g == NULL && (e = group_get(f, job, grouping, 1, &g)))
		return e;
	/* The group exists now (a refused row's may not): remembered. */
	if (!known) {
		if ((slot = hmap_put(f->rawgroups, f->rkey, rkl, &created)) ==
		    NULL)
			return spool_seterr(f->s, SPOOL_ENOMEM,
			    "out of memory folding");
		*slot = g;
	}
	/* check_row() left no pointer into the caches for a replace (it
	 * looked at no group), so drop_state() may empty them. */
	e = SPOOL_OK;
	if (op == SPOOL_OP_DELETE || op == SPOOL_OP_REPLACE)
		e = drop_state(f, g, op == SPOOL_OP_REPLACE);
	if (e == SPOOL_OK && op != SPOOL_OP_DELETE)
		e = apply_row(f, g, op == SPOOL_OP_REPLACE ? SPOOL_OP_SET : op,
		    body, blen);
	if (e)
		return e;
	g->touched = 1;
	if (received > g->last_row_ms)
		g->last_row_ms = received;
	return SPOOL_OK;
}

/* The inbox is not the one we made if a row's id is not an integer, or
 * deleting it by id does not remove exactly that row. */
static spool_err
foreign_inbox(fold *f, const char *what)
{
	return spool_seterr(f->s, SPOOL_ENOTSPOOL, "spool %s: %s: its inbox "
	    "is not the table the agent made (the id must be INTEGER PRIMARY "
	    "KEY), so a row could be counted twice; nothing was folded: stop "
	    "the writers, keep a copy of the spool, and move the rows into an "
	    "inbox as docs/spool.md (\"The tables\") shows", f->s->path,
	    what);
}

/* Remembers the id of a row the batch read. Ids come in order; each must
 * be an integer greater than the one before (the rowid is), or a row
 * could not be told from another when it is deleted. */
static spool_err
keep_id(fold *f, sqlite3_stmt *row)
{
	char what[96];
	int64_t id;

	if (sqlite3_column_type(row, 0) != SQLITE_INTEGER)
		return foreign_inbox(f, "a row whose id is NULL or not an "
		    "integer");
	id = sqlite3_column_int64(row, 0);
	if (f->res->rows > 0 && id <= f->last_id) {
		snprintf(what, sizeof(what), "inbox id %lld is used by more "
		    "than one row", (long long)id);
		return foreign_inbox(f, what);
	}
	f->last_id = id;
	return SPOOL_OK;
}

/*
 * Deletes exactly the n rows the chunk read, and fails the batch unless it
 * did: a row left behind would be folded again by the next batch, and an
 * `add` counted twice. The chunk read the lowest ids in order (above
 * those of the batch's chunks before it), each once, under the write
 * lock, so the rows from its first id to its last are those it read, and
 * their number is the proof. When it read to the inbox's end (all), the
 * inbox is emptied at once instead: SQLite drops its pages rather than
 * deleting row by row; the number is checked all the same.
 */
static spool_err
remove_rows(fold *f, size_t n, int all)
{
	char what[128];
	spool_err e;

	if (all) {
		if ((e = prep(f, &f->st_iclr, "DELETE FROM inbox")) ||
		    (e = run(f, f->st_iclr, "removing folded rows")))
			return e;
	} else {
		sqlite3_bind_int64(f->st_idel, 1, f->chunk_first);
		sqlite3_bind_int64(f->st_idel, 2, f->last_id);
		if ((e = run(f, f->st_idel, "removing folded rows")))
			return e;
	}
	if ((size_t)sqlite3_changes(f->s->db) != n) {
		snprintf(what, sizeof(what), "removing ids %lld to %lld took "
		    "%d rows, not the %zu read", (long long)f->chunk_first,
		    (long long)f->last_id, sqlite3_changes(f->s->db), n);
		return foreign_inbox(f, what);
	}
	return SPOOL_OK;
}

/* Entries the batch holds in memory, for SPOOL_FOLD_ENTRIES. */
static size_t
cached(const fold *f)
{
	return hmap_count(f->groups) + hmap_count(f->rawgroups) +
	    hmap_count(f->fams) + hmap_count(f->series) +
	    f->nbuckets / FOLD_BUCKETS_PER_ENTRY;
}

static void
fold_free(fold *f)
{
	finalize_all(f);
	hmap_free(f->groups, free);
	hmap_free(f->rawgroups, NULL);
	hmap_free(f->fams, fam_free);
	hmap_free(f->series, ser_free);
	hmap_free(f->rowmeta, free);
	hmap_free(f->rownew, NULL);
	free(f->line);
	dbuf_free(&f->keyb);
	dbuf_free(&f->rkeyb);
	free(f->smp);
	free(f->hb);
	free(f->canon);
}

spool_err
spool_fold(spool_t *s, const spool_fold_options *o, spool_fold_result *res)
{
	fold f;
	size_t max_rows = o && o->max_rows ? o->max_rows : SPOOL_FOLD_ROWS;
	size_t bytes = 0;
	char dgroup[8192 + 1];
	const char *why;
	spool_err e = SPOOL_OK;
	sqlite3_stmt *q = NULL;
	int rc, began = 0, stop = 0;

	memset(res, 0, sizeof(*res));
	memset(&f, 0, sizeof(f));
	s->errmsg[0] = '\0';
	if (s->in_batch)
		return spool_seterr(s, SPOOL_EINVAL, "cannot fold inside a batch");
	f.s = s;
	f.o = o;
	f.res = res;
	f.default_job = o && o->default_job ? o->default_job : "collector_agent";
	if ((why = spool_check_job(f.default_job, strlen(f.default_job))))
		return spool_seterr(s, SPOOL_EINVAL, "default job: %s", why);
	if ((why = spool_canon_grouping(o && o->default_grouping ?
	    o->default_grouping : "", o && o->default_grouping ?
	    strlen(o->default_grouping) : 0, dgroup, sizeof(dgroup))))
		return spool_seterr(s, SPOOL_EINVAL, "default grouping: %s", why);
	f.default_grouping = dgroup;
	for (size_t i = 0; o && i < o->nbuckets; i++) {
		const spool_buckets *b = &o->buckets[i];
		if (b->n > MAX_BUCKETS)
			return spool_seterr(s, SPOOL_EINVAL, "histogram %s: "
			    "too many buckets (limit %d)", b->name, MAX_BUCKETS);
		for (size_t k = 0; k < b->n; k++)
			if (!isfinite(b->bounds[k]) ||
			    (k > 0 && b->bounds[k] <= b->bounds[k - 1]))
				return spool_seterr(s, SPOOL_EINVAL, "histogram "
				    "%s: bucket bounds must be finite and "
				    "strictly increasing", b->name);
		if (b->form != SPOOL_HIST_CLASSIC &&
		    b->form != SPOOL_HIST_NATIVE && b->form != SPOOL_HIST_BOTH)
			return spool_seterr(s, SPOOL_EINVAL, "histogram %s: "
			    "unknown form %d", b->name, (int)b->form);
		if (b->form == SPOOL_HIST_CLASSIC)
			continue;
		if (b->schema < NHIST_SCHEMA_MIN || b->schema > NHIST_SCHEMA_MAX)
			return spool_seterr(s, SPOOL_EINVAL, "histogram %s: "
			    "native schema %d is outside %d..%d", b->name,
			    b->schema, NHIST_SCHEMA_MIN, NHIST_SCHEMA_MAX);
		if (!isfinite(b->zero_threshold) || b->zero_threshold < 0)
			return spool_seterr(s, SPOOL_EINVAL, "histogram %s: "
			    "the native zero threshold must be finite and not "
			    "negative", b->name);
		if (b->max_buckets < 1 ||
		    b->max_buckets > SPOOL_NHIST_MAX_BUCKETS)
			return spool_seterr(s, SPOOL_EINVAL, "histogram %s: "
			    "native max buckets %zu is outside 1..%d", b->name,
			    b->max_buckets, SPOOL_NHIST_MAX_BUCKETS);
	}

	f.groups = hmap_new();
	f.rawgroups = hmap_new();
	f.fams = hmap_new();
	f.series = hmap_new();
	f.rowmeta = hmap_new();
	f.rownew = hmap_new();
	f.ngroups = f.nseries = -1;
	f.line = malloc(sizeof(*f.line));
	f.smp = malloc(FOLD_ROWSMP * sizeof(*f.smp));
	f.canon = malloc(8192 + 1);
	if (!f.groups || !f.rawgroups || !f.fams || !f.series || !f.rowmeta ||
	    !f.rownew || !f.line || !f.canon || !f.smp) {
		e = spool_seterr(s, SPOOL_ENOMEM, "out of memory folding");
		goto out;
	}
	if ((e = spool_exec(s, "BEGIN IMMEDIATE", "starting a fold")))
		goto out;
	began = 1;
	if ((e = prepare_all(&f)))
		goto out;
	/*
	 * Rows are read and removed a chunk at a time, so that the inbox
	 * pages a chunk read are still in the page cache when its rows are
	 * deleted: the agent's cache (512 KiB) holds a chunk, not a batch,
	 * whose pages would be read twice.
	 */
	while (!stop) {
		size_t want = max_rows - res->rows, n = 0, cbytes = 0;
		int drained;

		q = res->rows == 0 ? f.st_rows : f.st_next;
		if (want > FOLD_CHUNK_ROWS)
			want = FOLD_CHUNK_ROWS;
		sqlite3_bind_int64(q, 1, (sqlite3_int64)want);
		if (res->rows > 0)
			sqlite3_bind_int64(q, 2, f.last_id);
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			size_t size;

			if ((e = keep_id(&f, q)))
				goto out;
			if (n++ == 0)
				f.chunk_first = f.last_id;
			res->rows++;
			if ((e = fold_row(&f, q, &size)))
				goto out;
			if (s->test_fail_after_rows &&
			    res->rows >= s->test_fail_after_rows) {
				/* Write what was applied so far, then fail:
				 * the rollback must undo it all. */
				s->test_fail_after_rows = 0;
				if ((e = flush(&f)) == SPOOL_OK)
					e = spool_seterr(s, SPOOL_EIO, "fold "
					    "stopped by a test hook");
				goto out;
			}
			/* The caps of SPOOL_FOLD_ROWS, between rows: the row
			 * read is folded whole, whatever its size. */
			bytes += size;
			cbytes += size;
			if (res->lines >= SPOOL_FOLD_LINES ||
			    bytes >= SPOOL_FOLD_BYTES ||
			    cached(&f) >= SPOOL_FOLD_ENTRIES) {
				stop = 1;
				break;
			}
			if (cbytes >= FOLD_CHUNK_BYTES)
				break;
		}
		sqlite3_reset(q);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			e = spool_sqlerr(s, rc, "reading the inbox");
			goto out;
		}
		/* The rows ran out before the chunk was full: the inbox's
		 * end was read. */
		drained = rc == SQLITE_DONE && n < want;
		if (n > 0 && (e = remove_rows(&f, n, drained)))
			goto out;
		if (drained || res->rows >= max_rows)
			stop = 1;
	}
	if (res->rows == 0)
		goto out;
	if ((e = flush(&f)))
		goto out;
	if (hmap_each(f.groups, flush_grp, &f)) {
		e = spool_sqlerr(s, sqlite3_errcode(s->db), "updating groups");
		goto out;
	}
	if ((e = save_refusals(&f)))
		goto out;
	{
		char sql[512];
		if (res->rejected > 0) {
			snprintf(sql, sizeof(sql), "INSERT INTO meta(key, value)"
			    " VALUES ('rejected_total', %zu) ON CONFLICT(key) DO"
			    " UPDATE SET value = value + excluded.value; DELETE "
			    "FROM rejected WHERE id <= (SELECT max(id) FROM "
			    "rejected) - %d", res->rejected,
			    SPOOL_REJECTED_KEEP);
			if ((e = spool_exec(s, sql, "counting rejected rows")))
				goto out;
		}
	}
	e = spool_exec(s, "COMMIT", "committing a fold");
	if (e == SPOOL_OK)
		began = 0;
out:
	if (q != NULL)
		sqlite3_reset(q);
	if (began)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	/* Nothing of a failed batch is kept; the caller may retry. */
	if (e != SPOOL_OK)
		memset(res, 0, sizeof(*res));
	fold_free(&f);
	return e;
}
