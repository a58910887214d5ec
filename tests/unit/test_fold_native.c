/* The fold of observe into native histograms (and both forms): buckets as
 * client_golang's observe puts them, read back through the cursor; the
 * stored text; settings that change under an existing series; a failed
 * batch; hand-edited state; spool_cursor_native(). */
#include "foldfx.h"

#include <float.h>
#include <math.h>
#include <sqlite3.h>

#include "nhist.h"

#define MAXB SPOOL_NHIST_MAX_BUCKETS

/* What the cursor gave for one series, copied out of its borrowed memory. */
struct got {
	int found;
	double value;
	int has_hist, has_native;
	size_t n;
	double bounds[32];
	uint64_t counts[33];
	double sum;
	spool_nhist nh;
	nhist_bucket pos[MAXB], neg[MAXB];
};

static void
sql_exec(spool_t *s, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(spool_path(s), &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int64_t
group_id(spool_t *s, const char *job)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT id FROM groups WHERE job = '%s'",
	    job);
	return query_int(s, sql);
}

/* Reads job's group through a cursor and copies out NAME{labels}. Returns
 * the cursor's error, SPOOL_OK when the whole group read. */
static spool_err
read_series(spool_t *s, const char *job, const char *name,
    const char *labels, struct got *g, int *native)
{
	spool_cursor *c;
	const spool_family *f;
	const spool_sample *x;
	int64_t version;
	int nf;
	spool_err e;

	memset(g, 0, sizeof(*g));
	assert_int_equal(spool_cursor_open(s, group_id(s, job), &c, &version),
	    SPOOL_OK);
	if (native != NULL)
		*native = spool_cursor_native(c);
	for (int i = 0; i < 100000; i++) {
		if ((e = spool_cursor_next(c, &f, &x, &nf)) != SPOOL_OK ||
		    x == NULL)
			break;
		if (strcmp(x->name, name) != 0 || strcmp(x->labels, labels))
			continue;
		g->found = 1;
		g->value = x->value;
		if (x->hist == NULL)
			continue;
		g->has_hist = 1;
		assert_true(x->hist->n < TU_N(g->bounds));
		g->n = x->hist->n;
		memcpy(g->bounds, x->hist->bounds, g->n * sizeof(double));
		memcpy(g->counts, x->hist->counts, (g->n + 1) *
		    sizeof(uint64_t));
		g->sum = x->hist->sum;
		if (x->hist->native != NULL) {
			const spool_nhist *nh = x->hist->native;
			g->has_native = 1;
			g->nh = *nh;
			assert_true(nh->npos <= MAXB && nh->nneg <= MAXB);
			memcpy(g->pos, nh->pos, nh->npos * sizeof(*g->pos));
			memcpy(g->neg, nh->neg, nh->nneg * sizeof(*g->neg));
			g->nh.pos = g->pos;
			g->nh.neg = g->neg;
		}
	}
	spool_cursor_close(c);
	return e;
}

static void
must_read(spool_t *s, const char *job, const char *name, struct got *g)
{
	if (read_series(s, job, name, "", g, NULL) != SPOOL_OK)
		fail_msg("cursor: %s", spool_errmsg(s));
	if (!g->found || !g->has_hist)
		fail_msg("no histogram %s in %s", name, job);
}

static void
fold_all(spool_t *s, const spool_fold_options *o)
{
	spool_fold_result r;

	for (int i = 0; i < 1000; i++) {
		if (spool_fold(s, o, &r) != SPOOL_OK)
			fail_msg("fold: %s", spool_errmsg(s));
		if (r.rows == 0)
			return;
	}
	fail_msg("the inbox does not drain");
}

static spool_buckets
native(const char *name, int schema, double zt, size_t cap)
{
	spool_buckets b;

	memset(&b, 0, sizeof(b));
	b.name = name;
	b.form = SPOOL_HIST_NATIVE;
	b.schema = schema;
	b.zero_threshold = zt;
	b.max_buckets = cap;
	return b;
}

static spool_fold_options
with(const spool_buckets *b)
{
	spool_fold_options o;

	memset(&o, 0, sizeof(o));
	o.buckets = b;
	o.nbuckets = 1;
	return o;
}

/* Observations of h, one sample line each, in one row. */
static void
observe(spool_t *s, const char *job, const char *name, const double *v,
    size_t n)
{
	char *body = malloc(n * 64 + 1), num[40];
	size_t o = 0;

	assert_non_null(body);
	for (size_t i = 0; i < n; i++) {
		if (isnan(v[i]))
			snprintf(num, sizeof(num), "NaN");
		else if (isinf(v[i]))
			snprintf(num, sizeof(num), "%sInf", v[i] > 0 ? "+" :
			    "-");
		else
			snprintf(num, sizeof(num), "%.17g", v[i]);
		o += (size_t)snprintf(body + o, n * 64 + 1 - o, "%s %s\n",
		    name, num);
	}
	put(s, job, "", SPOOL_OP_OBSERVE, body);
	free(body);
}

/* The expected buckets of values at schema, by nhist_index (positive
 * side when sign > 0, else the negative one), zero threshold zt. */
static size_t
expect_buckets(const double *v, size_t n, int schema, double zt, int sign,
    nhist_bucket *out)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		int32_t idx;
		size_t k;
		if (isnan(v[i]) || !(sign > 0 ? v[i] > zt : v[i] < -zt))
			continue;
		assert_int_equal(nhist_index(v[i], schema, &idx), NHIST_OK);
		for (k = 0; k < m && out[k].index < idx; k++)
			;
		if (k < m && out[k].index == idx) {
			out[k].count++;
			continue;
		}
		memmove(&out[k + 1], &out[k], (m - k) * sizeof(*out));
		out[k].index = idx;
		out[k].count = 1;
		m++;
	}
	return m;
}

static void
same_buckets(const nhist_bucket *got, size_t ngot, const nhist_bucket *want,
    size_t nwant)
{
	assert_int_equal(ngot, nwant);
	for (size_t i = 0; i < nwant; i++) {
		assert_int_equal(got[i].index, want[i].index);
		assert_int_equal(got[i].count, want[i].count);
	}
}

static void
test_stored_form(void **state)
{
	struct fx *f = *state;
	spool_buckets b = native("h", 0, 0, 160);
	spool_fold_options o = with(&b);
	static const double v[] = { 1, 2, 3, -0.25, 0 };
	struct got g;
	char *h;

	observe(f->s, "j", "h", v, TU_N(v));
	fold_all(f->s, &o);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h'");
	/* Schema 0: bucket i is (2^(i-1), 2^i]. */
	assert_string_equal(h, "n=0;z=0;zc=1;k=160;p=0:1,1:1,2:1;m=-2:1;t=5;"
	    "s=5.75");
	free(h);
	must_read(f->s, "j", "h", &g);
	assert_true(isnan(g.value));
	/* Native only: no finite bound, the count under +Inf. */
	assert_int_equal(g.n, 0);
	assert_int_equal(g.counts[0], 5);
	assert_true(g.sum == 5.75);
	assert_true(g.has_native);
	assert_int_equal(g.nh.schema, 0);
	assert_true(g.nh.zero_threshold == 0);
	assert_int_equal(g.nh.zero_count, 1);
	assert_int_equal(g.nh.count, 5);
	assert_int_equal(g.nh.max_buckets, 160);
	assert_int_equal(g.nh.npos, 3);
	assert_int_equal(g.nh.nneg, 1);
	assert_int_equal(g.neg[0].index, -2);
	/* The family is a histogram, as for the classic form. */
	h = query_text(f->s, "SELECT type FROM families WHERE name = 'h'");
	assert_string_equal(h, "histogram");
	free(h);
	/* Another fold adds to what was stored. */
	observe(f->s, "j", "h", v, 1);
	fold_all(f->s, &o);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h'");
	assert_string_equal(h, "n=0;z=0;zc=1;k=160;p=0:2,1:1,2:1;m=-2:1;t=6;"
	    "s=6.75");
	free(h);
}

/* Values on bucket bounds, just above and just below them, at every
 * other schema, against nhist_index. */
static void
test_boundaries(void **state)
{
	struct fx *f = *state;
	static const int schemas[] = { -4, -2, -1, 0, 1, 2, 3, 5, 8 };
	static const int32_t idx[] = { -1000, -7, -1, 0, 1, 2, 9, 64, 1000 };
	double v[3 * TU_N(idx) * 2];
	nhist_bucket want[MAXB];
	struct got g;

	for (size_t si = 0; si < TU_N(schemas); si++) {
		int sc = schemas[si];
		char job[32];
		spool_buckets b = native("h", sc, 0, SPOOL_NHIST_MAX_BUCKETS);
		spool_fold_options o = with(&b);
		size_t n = 0, nw;

		for (size_t i = 0; i < TU_N(idx); i++) {
			double u = nhist_upper(idx[i], sc);
			if (u == 0 || isinf(u))
				continue;
			v[n++] = u;
			v[n++] = nextafter(u, INFINITY);
			v[n++] = nextafter(u, 0);
			v[n++] = -u;
			v[n++] = -nextafter(u, INFINITY);
		}
		snprintf(job, sizeof(job), "s%d", sc);
		observe(f->s, job, "h", v, n);
		fold_all(f->s, &o);
		must_read(f->s, job, "h", &g);
		assert_int_equal(g.nh.schema, sc);
		assert_int_equal(g.nh.count, n);
		assert_int_equal(g.counts[0], n);
		nw = expect_buckets(v, n, sc, 0, 1, want);
		same_buckets(g.pos, g.nh.npos, want, nw);
		nw = expect_buckets(v, n, sc, 0, -1, want);
		same_buckets(g.neg, g.nh.nneg, want, nw);
		/* A bound belongs to its own bucket: base^i is in bucket i. */
		for (size_t k = 0; k < g.nh.npos; k++)
			assert_true(g.pos[k].count >= 1);
	}
	{
		/* Spot checks written out: 1 is in bucket 0 at every schema,
		 * 2 in bucket 2^s at schema s > 0. */
		int32_t i;
		assert_int_equal(nhist_index(1, 3, &i), NHIST_OK);
		assert_int_equal(i, 0);
		assert_int_equal(nhist_index(2, 3, &i), NHIST_OK);
		assert_int_equal(i, 8);
	}
}

static void
test_zero_inf(void **state)
{
	struct fx *f = *state;
	spool_buckets b = native("h", 3, 0.5, 160);
	spool_fold_options o = with(&b);
	static const double v[] = { 0, -0.0, 0.5, -0.5, 0.25, 0.6, -0.7,
	    INFINITY, -INFINITY, DBL_MAX, 1e-300 };
	int32_t i06, i07, iinf, imax;
	struct got g;

	observe(f->s, "j", "h", v, TU_N(v));
	fold_all(f->s, &o);
	must_read(f->s, "j", "h", &g);
	/* |v| <= 0.5: the zero bucket. (NaN never gets here: a row that
	 * observes NaN is refused.) */
	assert_int_equal(g.nh.zero_count, 6);
	assert_int_equal(g.nh.count, 11);
	assert_int_equal(g.counts[0], 11);
	assert_true(isnan(g.sum)); /* +Inf + -Inf */
	assert_true(g.nh.zero_threshold == 0.5);
	assert_int_equal(nhist_index(0.6, 3, &i06), NHIST_OK);
	assert_int_equal(nhist_index(0.7, 3, &i07), NHIST_OK);
	assert_int_equal(nhist_index(INFINITY, 3, &iinf), NHIST_OK);
	assert_int_equal(nhist_index(DBL_MAX, 3, &imax), NHIST_OK);
	/* +Inf is one bucket past DBL_MAX's. */
	assert_int_equal(iinf, imax + 1);
	assert_int_equal(g.nh.npos, 3);
	assert_int_equal(g.pos[0].index, i06);
	assert_int_equal(g.pos[1].index, imax);
	assert_int_equal(g.pos[2].index, iinf);
	assert_int_equal(g.nh.nneg, 2);
	assert_int_equal(g.neg[0].index, i07);
	assert_int_equal(g.neg[1].index, iinf);
	for (size_t k = 0; k < 3; k++)
		assert_int_equal(g.pos[k].count, 1);
}

static void
test_cap_lowers_schema(void **state)
{
	struct fx *f = *state;
	spool_buckets b = native("h", 3, 0, 4);
	spool_fold_options o = with(&b);
	static const double v[] = { 1, 2, 4, 8 }, more[] = { 16 };
	struct got g;
	char *h;

	observe(f->s, "j", "h", v, TU_N(v));
	fold_all(f->s, &o);
	must_read(f->s, "j", "h", &g);
	/* Four buckets: at the cap, not past it. */
	assert_int_equal(g.nh.schema, 3);
	assert_int_equal(g.nh.npos, 4);
	/* The fifth bucket takes the schema down until five powers of two
	 * fit in four buckets: at schema -1, (1/4,1] (1,4] (4,16]. */
	observe(f->s, "j", "h", more, 1);
	fold_all(f->s, &o);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h'");
	assert_string_equal(h, "n=-1;z=0;zc=0;k=4;p=0:1,1:2,2:2;m=;t=5;s=31");
	free(h);
	must_read(f->s, "j", "h", &g);
	assert_int_equal(g.nh.schema, -1);
	assert_int_equal(g.nh.max_buckets, 4);
	assert_int_equal(g.nh.npos, 3);
	assert_int_equal(g.pos[0].index, 0);
	assert_int_equal(g.pos[0].count, 1);
	assert_int_equal(g.pos[1].index, 1);
	assert_int_equal(g.pos[1].count, 2);
	assert_int_equal(g.pos[2].index, 2);
	assert_int_equal(g.pos[2].count, 2);
	/* Negative buckets count toward the cap too. */
	{
		spool_buckets c = native("k", 0, 0, 2);
		spool_fold_options oc = with(&c);
		static const double w[] = { 1, -1, 4 };
		observe(f->s, "j", "k", w, TU_N(w));
		fold_all(f->s, &oc);
		h = query_text(f->s, "SELECT hist FROM series WHERE name='k'");
		/* 1, 4 at schema 0: 0, 2; -1: 0. Three: schema -1 gives
		 * 0, 1 and 0. Still three: -2 gives 0, 1 and 0 ... down to
		 * -4, where the cap may be passed. */
		assert_string_equal(h, "n=-4;z=0;zc=0;k=2;p=0:1,1:1;m=0:1;"
		    "t=3;s=4");
		free(h);
	}
}

static void
test_both(void **state)
{
	struct fx *f = *state;
	static const double bounds[] = { 1, 10 };
	spool_buckets b = native("h", 2, 0, 160);
	spool_fold_options o;
	static const double v[] = { 0.5, 5, 50, 0, 10, -3 };
	struct got g;
	uint64_t total = 0;
	char *h;

	b.form = SPOOL_HIST_BOTH;
	b.bounds = bounds;
	b.n = 2;
	o = with(&b);
	observe(f->s, "j", "h", v, TU_N(v));
	fold_all(f->s, &o);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h'");
	assert_string_equal(h, "n=2;z=0;zc=1;k=160;p=-4:1,10:1,14:1,23:1;"
	    "m=7:1;t=6;b=1,10;c=3,2,1;s=62.5");
	free(h);
	must_read(f->s, "j", "h", &g);
	assert_true(g.has_native);
	assert_int_equal(g.n, 2);
	assert_true(g.bounds[0] == 1 && g.bounds[1] == 10);
	/* Both count every observation. */
	assert_int_equal(g.counts[0], 3);
	assert_int_equal(g.counts[1], 2);
	assert_int_equal(g.counts[2], 1);
	for (size_t i = 0; i <= g.n; i++)
		total += g.counts[i];
	assert_int_equal(total, g.nh.count);
	assert_int_equal(g.nh.count, 6);
	assert_int_equal(g.nh.zero_count, 1);
	assert_int_equal(g.nh.npos, 4);
	assert_int_equal(g.nh.nneg, 1);

	/* n == 0 in a both entry means the default bounds. */
	{
		spool_buckets d = native("d", 3, 0, 160);
		spool_fold_options od;
		static const double w[] = { 0.3 };
		d.form = SPOOL_HIST_BOTH;
		od = with(&d);
		observe(f->s, "j", "d", w, 1);
		fold_all(f->s, &od);
		h = query_text(f->s, "SELECT hist FROM series WHERE name='d'");
		assert_string_equal(h, "n=3;z=0;zc=0;k=160;p=-13:1;m=;t=1;"
		    "b=0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10;"
		    "c=0,0,0,0,0,0,1,0,0,0,0,0;s=0.3");
		free(h);
	}
}

/* A series keeps what it was made with; a new one takes the setting. */
static void
test_setting_change(void **state)
{
	struct fx *f = *state;
	spool_buckets b = native("h", 3, 0, 160);
	spool_fold_options o = with(&b), o2;
	spool_buckets b2 = native("h", 0, 1, 10);
	static const double v[] = { 2 };
	char *h;

	observe(f->s, "j", "h", v, 1);
	fold_all(f->s, &o);
	/* Classic now (no entry), then another native setting. */
	observe(f->s, "j", "h", v, 1);
	fold_all(f->s, NULL);
	o2 = with(&b2);
	observe(f->s, "j", "h", v, 1);
	fold_all(f->s, &o2);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h'");
	assert_string_equal(h, "n=3;z=0;zc=0;k=160;p=8:3;m=;t=3;s=6");
	free(h);
	/* And a classic series stays classic under a native setting. */
	observe(f->s, "c", "h", v, 1);
	fold_all(f->s, NULL);
	observe(f->s, "c", "h", v, 1);
	fold_all(f->s, &o);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h' AND "
	    "group_id = (SELECT id FROM groups WHERE job = 'c')");
	assert_string_equal(h, "b=0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,"
	    "5,10;c=0,0,0,0,0,0,0,0,2,0,0,0;s=4");
	free(h);
	/* A new series of the same family, under the new setting. */
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "h{x=\"1\"} 2");
	fold_all(f->s, &o2);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h' AND "
	    "labels = 'x=\"1\"'");
	assert_string_equal(h, "n=0;z=1;zc=0;k=10;p=1:1;m=;t=1;s=2");
	free(h);
}

static void
test_replace_delete_new_form(void **state)
{
	struct fx *f = *state;
	spool_buckets b = native("h", 3, 0, 160);
	spool_fold_options o = with(&b);
	static const double v[] = { 2 };
	char *h;

	observe(f->s, "j", "h", v, 1);
	fold_all(f->s, &o);
	/* A replace without h drops it; the next observe starts anew under
	 * the setting of its fold. */
	put(f->s, "j", "", SPOOL_OP_REPLACE, "other 1\n");
	fold_all(f->s, &o);
	assert_false(exists(f->s, "j", "", "h", ""));
	observe(f->s, "j", "h", v, 1);
	fold_all(f->s, NULL);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h'");
	assert_string_equal(h, "b=0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,"
	    "5,10;c=0,0,0,0,0,0,0,0,1,0,0,0;s=2");
	free(h);
	/* A delete request, then native again. */
	assert_int_equal(spool_request_delete(f->s, "j", ""), SPOOL_OK);
	observe(f->s, "j", "h", v, 1);
	fold_all(f->s, &o);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h'");
	assert_string_equal(h, "n=3;z=0;zc=0;k=160;p=8:1;m=;t=1;s=2");
	free(h);
}

static void
test_failed_fold_rolls_back(void **state)
{
	struct fx *f = *state;
	spool_buckets b = native("h", 3, 0, 2);
	spool_fold_options o = with(&b);
	spool_fold_result r;
	static const double v[] = { 1 }, w[] = { 1, 2, 4, 8, -1 };
	char *h;

	observe(f->s, "j", "h", v, 1);
	fold_all(f->s, &o);
	for (int i = 0; i < 10; i++)
		observe(f->s, "j", "h", w, TU_N(w));
	spool_test_fail_fold_after(f->s, 7);
	assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_EIO);
	assert_int_equal(r.rows, 0);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h'");
	assert_string_equal(h, "n=3;z=0;zc=0;k=2;p=0:1;m=;t=1;s=1");
	free(h);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM inbox"), 10);
	fold_all(f->s, &o);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h'");
	/* 1, 2, 4, 8 and -1 never fit two buckets ((0,1], (1,...] and
	 * -(0,1] at any schema), so down to -4, where the cap may pass. */
	assert_string_equal(h, "n=-4;z=0;zc=0;k=2;p=0:11,1:30;m=0:10;t=51;"
	    "s=141");
	free(h);
}

static void
test_unreadable(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"n=9;z=0;zc=0;k=160;p=;m=;t=0;s=0",
		"n=-5;z=0;zc=0;k=160;p=;m=;t=0;s=0",
		"n=3;z=-1;zc=0;k=160;p=;m=;t=0;s=0",
		"n=3;z=NaN;zc=0;k=160;p=;m=;t=0;s=0",
		"n=3;z=+Inf;zc=0;k=160;p=;m=;t=0;s=0",
		"n=3;z=0;zc=0;k=0;p=;m=;t=0;s=0",
		"n=3;z=0;zc=0;k=4097;p=;m=;t=0;s=0",
		"n=3;z=0;zc=-1;k=160;p=;m=;t=0;s=0",
		"n=3;z=0;zc=0;k=160;p=2:1,1:1;m=;t=2;s=0",
		"n=3;z=0;zc=0;k=160;p=1:1,1:1;m=;t=2;s=0",
		"n=3;z=0;zc=0;k=160;p=1:0;m=;t=0;s=0",
		"n=3;z=0;zc=0;k=160;p=1:1;m=;t=0;s=0",
		"n=3;z=0;zc=0;k=160;p=1:1,;m=;t=1;s=0",
		"n=3;z=0;zc=0;k=160;p=99999999:1;m=;t=1;s=0",
		"n=3;z=0;zc=0;k=1;p=1:1,2:1;m=;t=2;s=0",
		"n=3;z=0;zc=0;k=160;p=1:99999999999999999999;m=;t=1;s=0",
		"n=3;z=0;zc=0;k=160;p=1:9223372036854775807;"
		    "m=1:9223372036854775807;t=9223372036854775807;s=0",
		"n=3;z=0;zc=0;k=160;p=;m=;t=0;s=0x",
		"n=3;z=0;zc=0;k=160;p=;m=;t=0",
		"n=3;z=0;zc=0;k=160;p=;m=;t=0;b=1;c=1,1;s=0",
		"n=3;z=0;zc=0;k=160;p=;m=;t=2;b=1;c=1;s=0",
		"n=3;z=0;zc=0;k=160;p=+1:1;m=;t=1;s=0",
		"n=3;z=0;zc=0;k=160;m=;p=;t=0;s=0",
		"n=3",
		"n=",
		/* observations in no bucket, yet the sum is a number (only
		 * NaN, which makes the sum NaN, goes in no bucket) */
		"n=3;z=0;zc=0;k=160;p=1:1;m=;t=2;s=0",
		"n=3;z=0;zc=0;k=160;p=;m=;t=1;b=1;c=1,0;s=0",
		/* classic bounds the fold would not take */
		"b=2,1;c=1,0,0;s=0",
		"b=1,1;c=1,0,0;s=0",
		"b=NaN;c=0,0;s=0",
		"n=3;z=0;zc=0;k=160;p=;m=;t=0;b=+Inf;c=0,0;s=0",
	};
	struct got g;
	char sql[512];

	/* What the lowest schema holds may pass the cap: readable. */
	sql_exec(f->s, "INSERT INTO groups(job, grouping) VALUES ('j', '');"
	    "INSERT INTO families(group_id, name, type, typed) VALUES (1, 'h',"
	    " 'histogram', 1)");
	sql_exec(f->s, "INSERT INTO series(group_id, name, labels, hist) "
	    "VALUES (1, 'h', '', 'n=-4;z=0;zc=0;k=1;p=-67:1,65:2;m=-1:1;t=5;"
	    "s=NaN')");
	must_read(f->s, "j", "h", &g);
	assert_int_equal(g.nh.npos, 2);
	assert_int_equal(g.pos[1].index, 65);
	assert_int_equal(g.counts[0], 5);
	for (size_t i = 0; i < TU_N(bad); i++) {
		spool_fold_result r;
		snprintf(sql, sizeof(sql), "UPDATE series SET hist = '%s'",
		    bad[i]);
		sql_exec(f->s, sql);
		if (read_series(f->s, "j", "h", "", &g, NULL) != SPOOL_ECORRUPT)
			fail_msg("read %s", bad[i]);
		assert_non_null(strstr(spool_errmsg(f->s), "unreadable "
		    "histogram state for h"));
		put(f->s, "j", "", SPOOL_OP_OBSERVE, "h 1");
		if (spool_fold(f->s, NULL, &r) != SPOOL_ECORRUPT)
			fail_msg("fold over %s", bad[i]);
		assert_non_null(strstr(spool_errmsg(f->s), "unreadable "
		    "histogram state for h"));
		sql_exec(f->s, "DELETE FROM inbox");
	}
}

/* A native count stops at INT64_MAX (its buckets are int64): the state
 * stays readable and later folds go on. */
static void
test_count_saturates(void **state)
{
	struct fx *f = *state;
	spool_buckets b = native("h", 3, 0, 160);
	spool_fold_options o = with(&b);
	struct got g;

	sql_exec(f->s, "INSERT INTO groups(job, grouping) VALUES ('j', '');"
	    "INSERT INTO families(group_id, name, type, typed) VALUES (1, 'h',"
	    " 'histogram', 1);"
	    "INSERT INTO series(group_id, name, labels, hist) VALUES (1, 'h',"
	    " '', 'n=3;z=0;zc=0;k=160;p=1:9223372036854775806;m=;"
	    "t=9223372036854775806;s=1')");
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "h 1.05\nh 1.05\nh 0");
	fold_all(f->s, &o);
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "h 1.05");
	fold_all(f->s, &o);
	must_read(f->s, "j", "h", &g);
	assert_true(g.nh.count == (uint64_t)INT64_MAX);
	assert_int_equal(g.nh.npos, 1);
	assert_true(g.pos[0].count == INT64_MAX);
	assert_int_equal(g.nh.zero_count, 0);
	assert_true(g.sum == 1 + 1.05);
}

/* A batch counts the native buckets it holds against its cached entries
 * (one per 64), so that series of thousands of buckets end it early and
 * its memory stays bounded: 130 rows, each one observation into its own
 * series of 4096 buckets. After k rows the batch holds its group (in two
 * maps), the family, k series and 64 k entries' worth of buckets:
 * 3 + 65 k reaches SPOOL_FOLD_ENTRIES (8192) at k = 126. */
static void
test_batch_counts_buckets(void **state)
{
	struct fx *f = *state;
	spool_buckets b = native("h", 8, 0, SPOOL_NHIST_MAX_BUCKETS);
	spool_fold_options o = with(&b);
	spool_fold_result r;
	size_t cap = 64 * 1024, n;
	char *sql = malloc(cap);
	char line[64];
	struct got g;

	assert_non_null(sql);
	sql_exec(f->s, "INSERT INTO groups(job, grouping) VALUES ('j', '');"
	    "INSERT INTO families(group_id, name, type, typed) VALUES (1, 'h',"
	    " 'histogram', 1)");
	for (int i = 0; i < 130; i++) {
		n = (size_t)snprintf(sql, cap, "INSERT INTO series(group_id, "
		    "name, labels, hist) VALUES (1, 'h', 'i=\"%d\"', "
		    "'n=8;z=0;zc=0;k=4096;p=", i);
		for (int k = 1; k <= 4096; k++)
			n += (size_t)snprintf(sql + n, cap - n, "%s%d:1",
			    k > 1 ? "," : "", k);
		snprintf(sql + n, cap - n, ";m=;t=4096;s=4096')");
		assert_true(n + 64 < cap);
		sql_exec(f->s, sql);
		snprintf(line, sizeof(line), "h{i=\"%d\"} 1.0001", i);
		put(f->s, "j", "", SPOOL_OP_OBSERVE, line);
	}
	free(sql);
	assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_OK);
	assert_int_equal(r.rows, 126);
	assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_OK);
	assert_int_equal(r.rows, 4);
	/* Each row counted once, into the bucket that holds 1.0001. */
	if (read_series(f->s, "j", "h", "i=\"129\"", &g, NULL) != SPOOL_OK)
		fail_msg("cursor: %s", spool_errmsg(f->s));
	assert_int_equal(g.nh.count, 4097);
	assert_int_equal(g.nh.npos, 4096);
	assert_int_equal(g.pos[0].index, 1);
	assert_int_equal(g.pos[0].count, 2);
}

static void
test_cursor_native(void **state)
{
	struct fx *f = *state;
	spool_buckets b = native("h", 3, 0, 160);
	spool_fold_options o = with(&b);
	spool_cursor *c;
	int64_t version;
	struct got g;
	int nat = -1;

	put(f->s, "classic", "", SPOOL_OP_OBSERVE, "h 1");
	put(f->s, "plain", "", SPOOL_OP_SET, "g 1");
	fold_all(f->s, NULL);
	put(f->s, "native", "", SPOOL_OP_OBSERVE, "h{a=\"1\"} 1");
	put(f->s, "native", "", SPOOL_OP_SET, "g 1");
	fold_all(f->s, &o);
	b.form = SPOOL_HIST_BOTH;
	put(f->s, "both", "", SPOOL_OP_OBSERVE, "h 1");
	fold_all(f->s, &o);
	assert_int_equal(read_series(f->s, "classic", "h", "", &g, &nat),
	    SPOOL_OK);
	assert_int_equal(nat, 0);
	assert_false(g.has_native);
	assert_int_equal(read_series(f->s, "plain", "g", "", &g, &nat),
	    SPOOL_OK);
	assert_int_equal(nat, 0);
	assert_int_equal(read_series(f->s, "native", "g", "", &g, &nat),
	    SPOOL_OK);
	assert_int_equal(nat, 1);
	assert_int_equal(read_series(f->s, "both", "h", "", &g, &nat),
	    SPOOL_OK);
	assert_int_equal(nat, 1);
	assert_true(g.has_native);
	/* A group that does not exist, and the all-groups cursor. */
	assert_int_equal(spool_cursor_open(f->s, 999, &c, &version), SPOOL_OK);
	assert_int_equal(spool_cursor_native(c), 0);
	spool_cursor_close(c);
	assert_int_equal(spool_cursor_open_all(f->s, &c), SPOOL_OK);
	assert_int_equal(spool_cursor_native(c), 0);
	spool_cursor_close(c);
	/* A replace that drops the native series: the next snapshot has
	 * none. */
	put(f->s, "native", "", SPOOL_OP_REPLACE, "g 2\n");
	fold_all(f->s, &o);
	assert_int_equal(read_series(f->s, "native", "g", "", &g, &nat),
	    SPOOL_OK);
	assert_int_equal(nat, 0);
}

static void
test_bad_options(void **state)
{
	struct fx *f = *state;
	spool_buckets b;
	spool_fold_options o;
	spool_fold_result r;
	static const struct {
		int schema;
		double zt;
		size_t cap;
		const char *msg;
	} bad[] = {
		{ 9, 0, 10, "histogram h: native schema 9 is outside -4..8" },
		{ -5, 0, 10, "histogram h: native schema -5 is outside -4..8" },
		{ 3, -1, 10, "histogram h: the native zero threshold must be "
		    "finite and not negative" },
		{ 3, NAN, 10, "histogram h: the native zero threshold must be "
		    "finite and not negative" },
		{ 3, INFINITY, 10, "histogram h: the native zero threshold "
		    "must be finite and not negative" },
		{ 3, 0, 0, "histogram h: native max buckets 0 is outside "
		    "1..4096" },
		{ 3, 0, 4097, "histogram h: native max buckets 4097 is outside "
		    "1..4096" },
	};

	put(f->s, "j", "", SPOOL_OP_OBSERVE, "h 1");
	for (size_t i = 0; i < TU_N(bad); i++) {
		for (int form = SPOOL_HIST_NATIVE; form <= SPOOL_HIST_BOTH;
		    form++) {
			b = native("h", bad[i].schema, bad[i].zt, bad[i].cap);
			b.form = (spool_hist_form)form;
			o = with(&b);
			assert_int_equal(spool_fold(f->s, &o, &r),
			    SPOOL_EINVAL);
			assert_string_equal(spool_errmsg(f->s), bad[i].msg);
		}
	}
	/* A classic entry does not look at the native fields. */
	b = native("h", 99, -1, 0);
	b.form = SPOOL_HIST_CLASSIC;
	o = with(&b);
	assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_OK);
	assert_int_equal(r.rows, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stored_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_inf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cap_lowers_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_both, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setting_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_delete_new_form, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_fold_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count_saturates, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch_counts_buckets, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cursor_native, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
