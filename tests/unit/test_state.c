/* Reading the group state and recording pushes, parks and deletes
 * (spool/state.c): family order and contiguity, snapshot versions, and the
 * races the agent relies on (a fold during a push, rows after a delete). */
#include "spoolfx.h"

#include <math.h>
#include <sqlite3.h>


static void
fold(spool_t *s)
{
	spool_fold_result r;

	if (spool_fold(s, NULL, &r) != SPOOL_OK)
		fail_msg("fold: %s", spool_errmsg(s));
}

/* Groups, as "id job grouping version pushed delete series park". */
typedef struct glist {
	spool_group g[8];
	char text[8][256];
	int n;
} glist;

static int
collect(const spool_group *g, void *arg)
{
	glist *l = arg;

	if (l->n == 8)
		return 1;
	l->g[l->n] = *g;
	snprintf(l->text[l->n], sizeof(l->text[0]), "%s|%s v%lld p%lld d%d "
	    "s%d %s", g->job, g->grouping, (long long)g->version,
	    (long long)g->pushed_version, g->delete_pending, g->has_series,
	    g->park_reason ? g->park_reason : "-");
	l->n++;
	return 0;
}

static glist
groups(spool_t *s)
{
	glist l;

	memset(&l, 0, sizeof(l));
	assert_int_equal(spool_groups_each(s, collect, &l), SPOOL_OK);
	return l;
}

/* What a read produced, one line per callback. */
typedef struct trace {
	char buf[4096];
	size_t len;
	int stop_after;
	int calls;
} trace;

static void
tr_add(trace *t, const char *s)
{
	size_t n = strlen(s);

	assert_true(t->len + n + 1 < sizeof(t->buf));
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len++] = '\n';
	t->buf[t->len] = '\0';
}

static int
on_fam(const spool_family *f, void *arg)
{
	trace *t = arg;
	char line[256];

	snprintf(line, sizeof(line), "F %s %s%s%s", f->name, f->type,
	    f->help ? " help=" : "", f->help ? f->help : "");
	tr_add(t, line);
	return t->stop_after && ++t->calls >= t->stop_after;
}

static int
on_sample(const spool_family *f, const spool_sample *x, void *arg)
{
	trace *t = arg;
	char line[512];

	if (x->hist) {
		int n = snprintf(line, sizeof(line), "H %s/%s {%s} n=%zu",
		    f->name, x->name, x->labels, x->hist->n);
		for (size_t i = 0; i <= x->hist->n; i++)
			n += snprintf(line + n, sizeof(line) - (size_t)n, " %llu",
			    (unsigned long long)x->hist->counts[i]);
		snprintf(line + n, sizeof(line) - (size_t)n, " sum=%g",
		    x->hist->sum);
	} else
		snprintf(line, sizeof(line), "S %s/%s {%s} %g", f->name,
		    x->name, x->labels, x->value);
	tr_add(t, line);
	return t->stop_after && ++t->calls >= t->stop_after;
}

static const spool_reader reader = { on_fam, on_sample };

/* A read of a group: what the reader saw, the snapshot's version, and
 * whether the reader stopped it. */
typedef struct readout {
	trace t;
	int64_t v;
	int stopped;
} readout;

/* Folds, then reads the first group into r (r->t.stop_after as set);
 * returns the groups. */
static glist
fold_read(spool_t *s, readout *r)
{
	glist l;

	fold(s);
	l = groups(s);
	assert_true(l.n >= 1);
	assert_int_equal(spool_group_read(s, l.g[0].id, &reader, &r->t, &r->v,
	    &r->stopped), SPOOL_OK);
	return l;
}

static void
test_families_contiguous(void **state)
{
	struct fx *f = *state;
	readout r = { .t.len = 0 };
	glist l;

	/* x is a histogram; x_c is a gauge that sorts between x_bucket and
	 * x_count: it must not split family x. */
	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE x histogram\n"
	    "# HELP x Latency.\n"
	    "x_bucket{le=\"1\"} 2\nx_bucket{le=\"+Inf\"} 3\nx_sum 4.5\n"
	    "x_count 3\n# TYPE x_c gauge\nx_c 7\n");
	put(f->s, "j", "", SPOOL_OP_SET, "b{k=\"2\"} 2\nb{k=\"1\"} 1\na 0.5\n");
	l = fold_read(f->s, &r);
	assert_int_equal(l.n, 1);
	assert_int_equal(r.stopped, 0);
	assert_int_equal(r.v, l.g[0].version);
	assert_string_equal(r.t.buf,
	    "F a untyped\n"
	    "S a/a {} 0.5\n"
	    "F b untyped\n"
	    "S b/b {k=\"1\"} 1\n"
	    "S b/b {k=\"2\"} 2\n"
	    "F x histogram help=Latency.\n"
	    "S x/x_bucket {le=\"1\"} 2\n"
	    "S x/x_bucket {le=\"+Inf\"} 3\n"
	    "S x/x_count {} 3\n"
	    "S x/x_sum {} 4.5\n"
	    "F x_c gauge\n"
	    "S x_c/x_c {} 7\n");
}

/* Buckets written by hand come out per series, le ascending as numbers
 * (their label text sorts le="+Inf" before le="1" and "10" before "2"). */
static void
test_bucket_order(void **state)
{
	struct fx *f = *state;
	readout r = { .t.len = 0 };

	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE h histogram\n"
	    "h_bucket{a=\"2\",le=\"+Inf\"} 1\n"
	    "h_bucket{a=\"1\",le=\"+Inf\"} 9\n"
	    "h_bucket{a=\"1\",le=\"10\"} 8\n"
	    "h_bucket{a=\"1\",le=\"2\"} 7\n"
	    "h_bucket{a=\"1\",le=\"0.5\",z=\"q\"} 1\n"
	    "h_count{a=\"1\"} 9\n");
	fold_read(f->s, &r);
	assert_int_equal(r.stopped, 0);
	assert_string_equal(r.t.buf, "F h histogram\n"
	    "S h/h_bucket {a=\"1\",le=\"2\"} 7\n"
	    "S h/h_bucket {a=\"1\",le=\"10\"} 8\n"
	    "S h/h_bucket {a=\"1\",le=\"+Inf\"} 9\n"
	    "S h/h_bucket {a=\"1\",le=\"0.5\",z=\"q\"} 1\n"
	    "S h/h_bucket {a=\"2\",le=\"+Inf\"} 1\n"
	    "S h/h_count {a=\"1\"} 9\n");
}

/* The cursor yields what spool_group_read() does, one sample at a time,
 * marking each family's first sample; NULL at the end, and again after. */
static void
test_cursor(void **state)
{
	struct fx *f = *state;
	const spool_family *fam;
	const spool_sample *x;
	spool_cursor *c;
	char got[512] = "";
	size_t o = 0;
	int64_t v;
	int fresh;
	glist l;

	put(f->s, "j", "", SPOOL_OP_SET, "b 2\na{k=\"1\"} 1\na{k=\"2\"} 3\n");
	fold(f->s);
	l = groups(f->s);
	assert_int_equal(spool_cursor_open(f->s, l.g[0].id, &c, &v), SPOOL_OK);
	assert_int_equal(v, 1);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(spool_cursor_next(c, &fam, &x, &fresh),
		    SPOOL_OK);
		if (x == NULL)
			break;
		o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s{%s}=%g;",
		    fresh ? "+" : "", x->name, x->labels, x->value);
		assert_string_equal(fam->name, x->name);
	}
	assert_string_equal(got, "+a{k=\"1\"}=1;a{k=\"2\"}=3;+b{}=2;");
	assert_int_equal(spool_cursor_next(c, &fam, &x, &fresh), SPOOL_OK);
	assert_null(x);
	spool_cursor_close(c);
	spool_cursor_close(NULL);
	/* The read transaction is over: writes go on. */
	put(f->s, "j", "", SPOOL_OP_SET, "b 5\n");
	fold(f->s);
}

static void
test_observed_histogram(void **state)
{
	struct fx *f = *state;
	readout r = { .t.len = 0 };

	put(f->s, "j", "a=\"1\"", SPOOL_OP_OBSERVE, "lat 0.3\nlat 7\nlat 20\n");
	fold_read(f->s, &r);
	assert_int_equal(r.stopped, 0);
	assert_string_equal(r.t.buf, "F lat histogram\n"
	    "H lat/lat {} n=11 0 0 0 0 0 0 1 0 0 0 1 1 sum=27.3\n");
}

static void
test_stop_and_missing(void **state)
{
	struct fx *f = *state;
	readout r = { .t.stop_after = 2 };

	put(f->s, "j", "", SPOOL_OP_SET, "a 1\nb 2\nc 3\n");
	fold_read(f->s, &r);
	assert_int_equal(r.stopped, 1);
	assert_string_equal(r.t.buf, "F a untyped\nS a/a {} 1\n");
	memset(&r, 0, sizeof(r));
	assert_int_equal(spool_group_read(f->s, 999, &reader, &r.t, &r.v,
	    &r.stopped), SPOOL_OK);
	assert_int_equal(r.v, 0);
	assert_int_equal(r.t.len, 0);
}

/* The push protocol: a fold during a push leaves the group dirty. */
static void
test_pushed_and_park(void **state)
{
	struct fx *f = *state;
	readout r = { .t.len = 0 };
	glist l;

	put(f->s, "j", "i=\"1\"", SPOOL_OP_ADD, "c_total 1\n");
	l = fold_read(f->s, &r);
	assert_string_equal(l.text[0], "j|i=\"1\" v1 p0 d0 s1 -");
	/* Another fold lands while the push is on the wire. */
	put(f->s, "j", "i=\"1\"", SPOOL_OP_ADD, "c_total 1\n");
	fold(f->s);
	assert_int_equal(spool_group_pushed(f->s, l.g[0].id, r.v), SPOOL_OK);
	l = groups(f->s);
	assert_string_equal(l.text[0], "j|i=\"1\" v2 p1 d0 s1 -");
	assert_int_equal(spool_group_park(f->s, l.g[0].id, "HTTP 400: bad"),
	    SPOOL_OK);
	l = groups(f->s);
	assert_string_equal(l.text[0], "j|i=\"1\" v2 p1 d0 s1 HTTP 400: bad");
	{
		spool_stats st;
		assert_int_equal(spool_get_stats(f->s, &st), SPOOL_OK);
		assert_int_equal(st.parked_groups, 1);
		assert_int_equal(st.dirty_groups, 1);
	}
	/* pushed_version never falls, and a push clears the park. */
	assert_int_equal(spool_group_pushed(f->s, l.g[0].id, 2), SPOOL_OK);
	assert_int_equal(spool_group_pushed(f->s, l.g[0].id, 1), SPOOL_OK);
	l = groups(f->s);
	assert_string_equal(l.text[0], "j|i=\"1\" v2 p2 d0 s1 -");
}

static void
test_deleted(void **state)
{
	struct fx *f = *state;
	glist l;
	int dropped;

	/* Expiry with no row since the decision: the group goes. */
	put(f->s, "old", "", SPOOL_OP_SET, "g 1\n");
	put(f->s, "busy", "", SPOOL_OP_SET, "g 1\n");
	fold(f->s);
	l = groups(f->s);
	assert_int_equal(l.n, 2);
	assert_int_equal(spool_group_deleted(f->s, l.g[0].id, l.g[0].version,
	    &dropped), SPOOL_OK);
	assert_int_equal(dropped, 1);
	/* A row came after the decision: the state stays, to be pushed
	 * whole again. */
	put(f->s, "busy", "", SPOOL_OP_SET, "h 2\n");
	fold(f->s);
	assert_int_equal(spool_group_deleted(f->s, l.g[1].id, l.g[1].version,
	    &dropped), SPOOL_OK);
	assert_int_equal(dropped, 0);
	l = groups(f->s);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.text[0], "busy| v2 p0 d0 s1 -");

	/* A delete request: the fold drops the state at once and marks
	 * the group; the agent's confirmed DELETE removes the row. */
	assert_int_equal(spool_request_delete(f->s, "busy", ""), SPOOL_OK);
	fold(f->s);
	l = groups(f->s);
	assert_string_equal(l.text[0], "busy| v3 p0 d1 s0 -");
	assert_int_equal(spool_group_deleted(f->s, l.g[0].id, l.g[0].version,
	    &dropped), SPOOL_OK);
	assert_int_equal(dropped, 1);
	l = groups(f->s);
	assert_int_equal(l.n, 0);

	/* A delete request and new rows folded before the agent listed the
	 * group: the DELETE clears the old data, the new rows stay. */
	put(f->s, "re", "", SPOOL_OP_ADD, "n_total 5\n");
	fold(f->s);
	assert_int_equal(spool_request_delete(f->s, "re", ""), SPOOL_OK);
	put(f->s, "re", "", SPOOL_OP_ADD, "n_total 1\n");
	fold(f->s);
	l = groups(f->s);
	assert_string_equal(l.text[0], "re| v2 p0 d1 s1 -");
	assert_int_equal(spool_group_deleted(f->s, l.g[0].id, l.g[0].version,
	    &dropped), SPOOL_OK);
	assert_int_equal(dropped, 0);
	l = groups(f->s);
	assert_string_equal(l.text[0], "re| v2 p0 d0 s1 -");
	assert_int_equal(spool_checkpoint(f->s), SPOOL_OK);
}

/* The gateway's identity: the first changes nothing; a new one makes
 * every group count as never pushed; the same one again changes nothing. */
static void
test_gateway_seen(void **state)
{
	struct fx *f = *state;
	glist l;
	int changed = -1;

	put(f->s, "a", "", SPOOL_OP_SET, "g 1\n");
	put(f->s, "b", "", SPOOL_OP_SET, "g 2\n");
	fold(f->s);
	l = groups(f->s);
	assert_int_equal(spool_group_pushed(f->s, l.g[0].id, 1), SPOOL_OK);
	assert_int_equal(spool_group_pushed(f->s, l.g[1].id, 1), SPOOL_OK);
	assert_int_equal(spool_gateway_seen(f->s, "http://gw 2026-01-01", &changed),
	    SPOOL_OK);
	assert_int_equal(changed, 0);
	l = groups(f->s);
	assert_string_equal(l.text[0], "a| v1 p1 d0 s1 -");
	assert_int_equal(spool_gateway_seen(f->s, "http://gw 2026-01-01", &changed),
	    SPOOL_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(spool_gateway_seen(f->s, "http://gw 2026-01-02", &changed),
	    SPOOL_OK);
	assert_int_equal(changed, 1);
	l = groups(f->s);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.text[0], "a| v1 p0 d0 s1 -");
	assert_string_equal(l.text[1], "b| v1 p0 d0 s1 -");
	/* Recorded in the spool: another handle sees the same identity. */
	{
		spool_t *t;
		char err[256];
		assert_int_equal(spool_open(f->path, NULL, &t, err, sizeof(err)),
		    SPOOL_OK);
		assert_int_equal(spool_gateway_seen(t, "http://gw 2026-01-02",
		    &changed), SPOOL_OK);
		assert_int_equal(changed, 0);
		spool_close(t);
	}
}

/* One claim per spool file: a second handle, in this process or another,
 * is refused until the first is closed. */
static void
test_claim(void **state)
{
	struct fx *f = *state;
	spool_t *t;
	char err[256];
	long holder = -1;

	assert_int_equal(spool_claim(f->s, &holder), SPOOL_OK);
	assert_int_equal(holder, 0);
	/* Claiming again through the same handle is a no-op. */
	assert_int_equal(spool_claim(f->s, &holder), SPOOL_OK);
	assert_int_equal(spool_open(f->path, NULL, &t, err, sizeof(err)),
	    SPOOL_OK);
	assert_int_equal(spool_claim(t, &holder), SPOOL_EBUSY);
	assert_int_equal(holder, (long)getpid());
	assert_non_null(strstr(spool_errmsg(t), "another collector-agent"));
	/* Writers are not held off by the claim. */
	put(t, "w", "", SPOOL_OP_ADD, "n_total 1\n");
	spool_close(f->s);
	f->s = NULL;
	assert_int_equal(spool_claim(t, &holder), SPOOL_OK);
	/* The spool's own locks still work after the claim's descriptor is
	 * in place: a fold through the claiming handle. */
	fold(t);
	spool_close(t);
	assert_int_equal(spool_open(f->path, NULL, &f->s, err, sizeof(err)),
	    SPOOL_OK);
}

/* The keys of a receiver's set, each as hex, sorted, joined by spaces:
 * exact bytes, NULs included. */
typedef struct keyset {
	char text[4096];
	char *k[32];
	int n;
	int stop_after;
} keyset;

static int
key_in(const void *key, size_t len, void *arg)
{
	keyset *ks = arg;
	const unsigned char *p = key;
	char *h;

	assert_true(ks->n < 32);
	h = malloc(2 * len + 1);
	assert_non_null(h);
	for (size_t i = 0; i < len; i++)
		snprintf(h + 2 * i, 3, "%02x", p[i]);
	ks->k[ks->n++] = h;
	return ks->stop_after && ks->n >= ks->stop_after;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *
rw_sent(spool_t *s, const char *receiver, int stop_after)
{
	static keyset ks;
	size_t o = 0;

	memset(&ks, 0, sizeof(ks));
	ks.stop_after = stop_after;
	if (spool_rw_sent_each(s, receiver, key_in, &ks) != SPOOL_OK)
		fail_msg("rw_sent_each: %s", spool_errmsg(s));
	qsort(ks.k, (size_t)ks.n, sizeof(ks.k[0]), cmp_str);
	for (int i = 0; i < ks.n; i++) {
		o += (size_t)snprintf(ks.text + o, sizeof(ks.text) - o, "%s%s",
		    i ? " " : "", ks.k[i]);
		free(ks.k[i]);
	}
	return ks.text;
}

/* SQL's count of rows in the set and the spool's schema version. */
static void
raw_counts(const char *path, int64_t *rows, int64_t *version)
{
	sqlite3 *db;
	sqlite3_stmt *q;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM "
	    "sqlite_master WHERE name = 'rw_sent'), (SELECT user_version FROM "
	    "pragma_user_version)", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	*rows = sqlite3_column_int64(q, 0);
	*version = sqlite3_column_int64(q, 1);
	sqlite3_finalize(q);
	if (*rows > 0) {
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM "
		    "rw_sent", -1, &q, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		*rows = sqlite3_column_int64(q, 0);
		sqlite3_finalize(q);
	} else
		*rows = -1;
	sqlite3_close(db);
}

/* The set of series remote write sent: exact keys back through another
 * handle, another receiver reads empty, and removals. */
static void
test_rw_sent(void **state)
{
	struct fx *f = *state;
	static const char k1[] = "__name__\0up\0job\0a\0";
	static const char k2[] = "__name__\0up\0job\0b\0";
	static const char k3[] = "x";
	spool_rw_key add[3] = { { k1, sizeof(k1) - 1 }, { k2, sizeof(k2) - 1 },
	    { k3, 1 } }, bad = { k1, 0 };
	int64_t rows, version;
	spool_t *t;
	char err[256];

	/* Before the first save: no table, an empty set. */
	assert_string_equal(rw_sent(f->s, "http://a/w", 0), "");
	raw_counts(f->path, &rows, &version);
	assert_int_equal(rows, -1);
	assert_int_equal(spool_rw_sent_save(f->s, "http://a/w", add, 3, NULL,
	    0), SPOOL_OK);
	raw_counts(f->path, &rows, &version);
	assert_int_equal(rows, 3);
	assert_int_equal(version, 1);
	assert_int_equal(spool_open(f->path, NULL, &t, err, sizeof(err)),
	    SPOOL_OK);
	assert_string_equal(rw_sent(t, "http://a/w", 0),
	    "5f5f6e616d655f5f007570006a6f62006100 "
	    "5f5f6e616d655f5f007570006a6f62006200 78");
	/* fn stops the walk. */
	assert_int_equal(strlen(rw_sent(t, "http://a/w", 1)), 2 * 18);
	/* Another receiver never got them. */
	assert_string_equal(rw_sent(t, "http://b/w", 0), "");
	/* Removed; added again (no error); removed and added in one save
	 * stays. */
	assert_int_equal(spool_rw_sent_save(t, "http://a/w", &add[2], 1,
	    &add[0], 2), SPOOL_OK);
	assert_string_equal(rw_sent(f->s, "http://a/w", 0), "78");
	assert_int_equal(spool_rw_sent_save(t, "http://a/w", add, 1, &add[2],
	    1), SPOOL_OK);
	assert_string_equal(rw_sent(f->s, "http://a/w", 0),
	    "5f5f6e616d655f5f007570006a6f62006100");
	/* A bad key changes nothing. */
	assert_int_equal(spool_rw_sent_save(t, "http://a/w", &bad, 1, NULL, 0),
	    SPOOL_EINVAL);
	assert_int_equal(spool_rw_sent_save(t, "http://a/w", NULL, 1, NULL, 0),
	    SPOOL_EINVAL);
	assert_int_equal(spool_rw_sent_save(t, NULL, add, 1, NULL, 0),
	    SPOOL_EINVAL);
	assert_string_equal(rw_sent(f->s, "http://a/w", 0),
	    "5f5f6e616d655f5f007570006a6f62006100");
	/* The first save for another receiver replaces the set. */
	assert_int_equal(spool_rw_sent_save(t, "http://b/w", &add[1], 1, NULL,
	    0), SPOOL_OK);
	assert_string_equal(rw_sent(f->s, "http://a/w", 0), "");
	assert_string_equal(rw_sent(f->s, "http://b/w", 0),
	    "5f5f6e616d655f5f007570006a6f62006200");
	raw_counts(f->path, &rows, &version);
	assert_int_equal(rows, 1);
	assert_int_equal(version, 1);
	spool_close(t);
	/* The spool still opens (the extra table is no concern of open). */
	spool_close(f->s);
	assert_int_equal(spool_open(f->path, NULL, &f->s, err, sizeof(err)),
	    SPOOL_OK);
	assert_string_equal(rw_sent(f->s, "http://b/w", 0),
	    "5f5f6e616d655f5f007570006a6f62006200");
}

/* What the limits count: groups, the largest group's series (and which
 * group that is), all series, and the rows each limit ever refused. */
static void
test_usage(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;
	spool_usage u;

	assert_int_equal(spool_get_usage(f->s, &u), SPOOL_OK);
	for (int i = 0; i < SPOOL_NLIMITS; i++) {
		assert_int_equal(u.used[i], 0);
		assert_int_equal(u.refused[i], 0);
	}
	assert_int_equal(u.largest_group, 0);
	put(f->s, "a", "", SPOOL_OP_SET, "x 1\ny 1");
	put(f->s, "b", "", SPOOL_OP_SET, "x 1\ny 1\nz{l=\"1\"} 1");
	put(f->s, "c", "", SPOOL_OP_OBSERVE, "h 1\nh 2");
	assert_int_equal(spool_request_delete(f->s, "d", ""), SPOOL_OK);
	memset(&o, 0, sizeof(o));
	o.max_groups = 4;
	o.max_series = 6;
	o.max_series_per_group = 3;
	put(f->s, "e", "", SPOOL_OP_SET, "x 1");
	put(f->s, "b", "", SPOOL_OP_SET, "w 1");
	put(f->s, "a", "", SPOOL_OP_SET, "w 1");
	assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_OK);
	assert_int_equal(r.rejected, 3);
	assert_int_equal(spool_get_usage(f->s, &u), SPOOL_OK);
	assert_int_equal(u.used[SPOOL_LIMIT_GROUPS], 4);
	assert_int_equal(u.used[SPOOL_LIMIT_SERIES_PER_GROUP], 3);
	assert_int_equal(u.used[SPOOL_LIMIT_SERIES], 6);
	assert_int_equal(u.refused[SPOOL_LIMIT_GROUPS], 1);
	assert_int_equal(u.refused[SPOOL_LIMIT_SERIES_PER_GROUP], 1);
	assert_int_equal(u.refused[SPOOL_LIMIT_SERIES], 1);
	assert_int_equal(u.largest_group, 2);
	assert_string_equal(spool_limit_name(SPOOL_LIMIT_GROUPS), "max_groups");
	assert_string_equal(spool_limit_name(SPOOL_LIMIT_SERIES_PER_GROUP),
	    "max_series_per_group");
	assert_string_equal(spool_limit_name(SPOOL_LIMIT_SERIES), "max_series");
	assert_null(spool_limit_name((spool_limit)SPOOL_NLIMITS));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_families_contiguous,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bucket_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_observed_histogram, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stop_and_missing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pushed_and_park, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gateway_seen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw_sent, setup, teardown),
	};

	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
