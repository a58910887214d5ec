/* pull: the exact text GET /metrics serves from a spool (families merged
 * across groups, the job and grouping labels, overrides, duplicates, type
 * clashes, the agent's own families, escapes, the cap), and the spool's
 * all-groups cursor it reads with; pull_walk's results. */
#include "spoolfx.h"

#include <math.h>
#include <sqlite3.h>

#include "pull.h"
#include "selfm.h"
#include "dbufcheck.h"
#include "pbdelim.h"


/* Folds everything with the given defaults (NULL: the library's). */
static void
fold_with(spool_t *s, const char *job, const char *grouping)
{
	spool_fold_options o;
	spool_fold_result r;

	memset(&o, 0, sizeof(o));
	o.default_job = job;
	o.default_grouping = grouping;
	for (int i = 0; i < 100; i++) {
		if (spool_fold(s, &o, &r) != SPOOL_OK)
			fail_msg("fold: %s", spool_errmsg(s));
		assert_int_equal(r.rejected, 0);
		if (r.rows == 0)
			return;
	}
	fail_msg("the inbox did not empty");
}

static void
fold(spool_t *s)
{
	fold_with(s, NULL, NULL);
}

/* pull_render into a fresh buffer; checks it succeeded and the text. */
static void
pull_is(spool_t *s, const selfm *m, pull_result *res, const char *want)
{
	char err[256] = "";
	dbuf b;

	dbuf_init(&b, 1 << 20);
	if (pull_render(s, m, &b, res, err, sizeof(err)) != 0)
		fail_msg("pull_render: %s", err);
	assert_buf(&b, want);
	dbuf_free(&b);
}

/* The agent's own families as selfm_render writes them, in a string the
 * caller frees. */
static char *
self_text(const selfm *m)
{
	dbuf b;
	char *t;

	dbuf_init(&b, 1 << 20);
	for (size_t i = 0; i < selfm_count_families(); i++)
		assert_int_equal(selfm_render(&b, m, i, NULL), DBUF_OK);
	t = strndup(b.p, b.len);
	assert_non_null(t);
	dbuf_free(&b);
	return t;
}

static size_t
count_of(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Two groups sharing a family: one HELP/TYPE (the first group's), the
 * series contiguous, groups in id order (not job order). */
static void
test_shared_family(void **state)
{
	struct fx *f = *state;
	pull_result res;

	put(f->s, "zeta", "", SPOOL_OP_SET, "# HELP m First help.\n"
	    "# TYPE m gauge\nm{k=\"z\"} 1\nz 5\n");
	put(f->s, "alpha", "instance=\"i\"", SPOOL_OP_SET,
	    "# HELP m Other help.\n# TYPE m gauge\nm{k=\"a\"} 2\n"
	    "m{k=\"b\"} 3\nc_total 4\n");
	fold(f->s);
	pull_is(f->s, NULL, &res,
	    "c_total{job=\"alpha\",instance=\"i\"} 4\n"
	    "# HELP m First help.\n"
	    "# TYPE m gauge\n"
	    "m{job=\"zeta\",k=\"z\"} 1\n"
	    "m{job=\"alpha\",instance=\"i\",k=\"a\"} 2\n"
	    "m{job=\"alpha\",instance=\"i\",k=\"b\"} 3\n"
	    "z{job=\"zeta\"} 5\n");
	assert_int_equal(res.series, 5);
	assert_int_equal(res.type_clash, 0);
	assert_int_equal(res.duplicate, 0);
	assert_string_equal(res.clash, "");
}

/* job first, then the grouping labels (canonical: sorted), then the
 * series' own; the fold's default job and grouping alike. */
static void
test_label_order(void **state)
{
	struct fx *f = *state;
	pull_result res;

	put(f->s, "j", "zone=\"z\",instance=\"i\"", SPOOL_OP_SET,
	    "m{b=\"2\",a=\"1\"} 7\n");
	put(f->s, NULL, NULL, SPOOL_OP_SET, "n{a=\"1\"} 8\n");
	fold_with(f->s, "dj", "host=\"h\"");
	pull_is(f->s, NULL, &res,
	    "m{job=\"j\",instance=\"i\",zone=\"z\",a=\"1\",b=\"2\"} 7\n"
	    "n{job=\"dj\",host=\"h\",a=\"1\"} 8\n");
	assert_int_equal(res.series, 2);
}

/* A series label named like a grouping label, or job, gives way to the
 * group's. */
static void
test_override(void **state)
{
	struct fx *f = *state;
	pull_result res;

	put(f->s, "j", "instance=\"g\"", SPOOL_OP_SET,
	    "m{instance=\"s\",x=\"1\"} 1\n"
	    "n{job=\"other\",y=\"2\"} 2\n"
	    "o{a=\"1\",instance=\"s\",job=\"other\",z=\"3\"} 3\n"
	    "p{instancex=\"1\",xinstance=\"2\"} 4\n");
	put(f->s, "k", "", SPOOL_OP_SET, "n{job=\"other\"} 5\n"
	    "n{instance=\"kept\"} 6\n");
	fold(f->s);
	pull_is(f->s, NULL, &res,
	    "m{job=\"j\",instance=\"g\",x=\"1\"} 1\n"
	    "n{job=\"j\",instance=\"g\",y=\"2\"} 2\n"
	    "n{job=\"k\",instance=\"kept\"} 6\n"
	    "n{job=\"k\"} 5\n"
	    "o{job=\"j\",instance=\"g\",a=\"1\",z=\"3\"} 3\n"
	    "p{job=\"j\",instance=\"g\",instancex=\"1\",xinstance=\"2\"} 4\n");
	assert_int_equal(res.series, 6);
	assert_int_equal(res.duplicate, 0);
}

/* Two series equal once the group's labels replaced theirs: the first
 * (in label order) is kept. */
static void
test_duplicate(void **state)
{
	struct fx *f = *state;
	pull_result res;

	put(f->s, "j", "instance=\"g\"", SPOOL_OP_SET,
	    "m{instance=\"a\"} 1\nm{instance=\"b\"} 2\nm{x=\"1\"} 3\n");
	fold(f->s);
	pull_is(f->s, NULL, &res,
	    "m{job=\"j\",instance=\"g\"} 1\n"
	    "m{job=\"j\",instance=\"g\",x=\"1\"} 3\n");
	assert_int_equal(res.series, 2);
	assert_int_equal(res.duplicate, 1);
	assert_int_equal(res.type_clash, 0);
}

/* The same through the job label: m{} and m{job="x"} in job j. */
static void
test_duplicate_job(void **state)
{
	struct fx *f = *state;
	pull_result res;

	put(f->s, "j", "", SPOOL_OP_SET, "m{job=\"x\"} 2\nm 1\n");
	fold(f->s);
	pull_is(f->s, NULL, &res, "m{job=\"j\"} 1\n");
	assert_int_equal(res.series, 1);
	assert_int_equal(res.duplicate, 1);
}

/*
 * The same series from two groups: {job="j"} holding m{instance="x"} and
 * {job="j",instance="x"} holding m both come out as m{job="j",instance="x"}
 * (a real Pushgateway would refuse the second push); one is kept.
 */
static void
test_duplicate_across_groups(void **state)
{
	struct fx *f = *state;
	pull_result res;

	put(f->s, "j", "", SPOOL_OP_SET, "m{instance=\"x\"} 1\n");
	put(f->s, "j", "instance=\"x\"", SPOOL_OP_SET, "m 2\n");
	fold(f->s);
	pull_is(f->s, NULL, &res, "m{job=\"j\",instance=\"x\"} 1\n");
	assert_int_equal(res.series, 1);
	assert_int_equal(res.duplicate, 1);
}

/* A family whose type differs in a later group: that group's series are
 * left out, counted, and the first clash described. */
static void
test_type_clash(void **state)
{
	struct fx *f = *state;
	pull_result res;

	put(f->s, "a", "", SPOOL_OP_SET, "# TYPE m counter\nm 1\n");
	put(f->s, "b", "instance=\"2\"", SPOOL_OP_SET, "# TYPE m gauge\n"
	    "m{k=\"1\"} 2\nm{k=\"2\"} 3\n");
	put(f->s, "c", "", SPOOL_OP_SET, "# TYPE m counter\nm 4\n");
	put(f->s, "d", "", SPOOL_OP_SET, "m 5\nn 6\n");
	fold(f->s);
	pull_is(f->s, NULL, &res,
	    "# TYPE m counter\n"
	    "m{job=\"a\"} 1\n"
	    "m{job=\"c\"} 4\n"
	    "n{job=\"d\"} 6\n");
	assert_int_equal(res.series, 3);
	assert_int_equal(res.type_clash, 3);
	assert_int_equal(res.duplicate, 0);
	assert_string_equal(res.clash, "family m is a counter in an earlier "
	    "group and a gauge in job=b {instance=\"2\"}");
}

/* The agent's own families in the spool are not served from it; the
 * selfm given is, once, at the end. */
static void
test_self_metrics(void **state)
{
	struct fx *f = *state;
	pull_result res;
	selfm m;
	char *self, *want;

	memset(&m, 0, sizeof(m));
	m.pushes[SELFM_SUCCESS] = 3;
	m.st.groups = 2;
	put(f->s, "j", "", SPOOL_OP_SET, "a 1\ncollector_agent_up 0\n"
	    "# TYPE collector_agent_pushes_total counter\n"
	    "collector_agent_pushes_total{result=\"success\"} 99\n"
	    "collector_agent_made_up 5\nd 2\n");
	fold(f->s);
	pull_is(f->s, NULL, &res, "a{job=\"j\"} 1\nd{job=\"j\"} 2\n");
	assert_int_equal(res.series, 2);
	self = self_text(&m);
	assert_true(asprintf(&want, "a{job=\"j\"} 1\nd{job=\"j\"} 2\n%s",
	    self) > 0);
	pull_is(f->s, &m, &res, want);
	assert_int_equal(res.series, 2);
	assert_int_equal(count_of(want, "\ncollector_agent_up "), 1);
	assert_int_equal(count_of(want, "# TYPE collector_agent_up "), 1);
	assert_int_equal(count_of(want, "collector_agent_made_up"), 0);
	assert_int_equal(count_of(want,
	    "collector_agent_pushes_total{result=\"success\"} 3\n"), 1);
	assert_int_equal(count_of(want, " 99\n"), 0);
	free(want);
	free(self);
}

/* Label values arrive escaped and stay so; the job, which is free text,
 * is escaped into its label. */
static void
test_escapes(void **state)
{
	struct fx *f = *state;
	pull_result res;

	put(f->s, "we\"ird\\job", "path=\"C:\\\\x\"", SPOOL_OP_SET,
	    "# HELP m A \\\\ and \\n.\nm{v=\"a\\\\b\\\"c\\nd\"} 1\n");
	put(f->s, "plain", "", SPOOL_OP_SET, "m 2\n");
	fold(f->s);
	pull_is(f->s, NULL, &res,
	    "# HELP m A \\\\ and \\n.\n"
	    "m{job=\"we\\\"ird\\\\job\",path=\"C:\\\\x\","
	    "v=\"a\\\\b\\\"c\\nd\"} 1\n"
	    "m{job=\"plain\"} 2\n");
	assert_int_equal(res.series, 2);
}

/* An observed histogram in two groups: each group's buckets, sum and
 * count, one TYPE line. */
static void
test_observed_histogram(void **state)
{
	struct fx *f = *state;
	static const char *const le[] = { "0.005", "0.01", "0.025", "0.05",
	    "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf" };
	/* Cumulative counts: 0.25 in le=0.25 (le is <=); 7 in le=10; 20
	 * in +Inf. */
	static const int ca[] = { 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1 };
	static const int cb[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2 };
	pull_result res;
	char want[8192];
	size_t o = 0;

	put(f->s, "a", "", SPOOL_OP_OBSERVE, "lat 0.25\n");
	put(f->s, "b", "instance=\"x\"", SPOOL_OP_OBSERVE, "lat 7\nlat 20\n");
	fold(f->s);
	o += (size_t)snprintf(want + o, sizeof(want) - o,
	    "# TYPE lat histogram\n");
	for (size_t i = 0; i < 12; i++)
		o += (size_t)snprintf(want + o, sizeof(want) - o,
		    "lat_bucket{job=\"a\",le=\"%s\"} %d\n", le[i], ca[i]);
	o += (size_t)snprintf(want + o, sizeof(want) - o,
	    "lat_sum{job=\"a\"} 0.25\nlat_count{job=\"a\"} 1\n");
	for (size_t i = 0; i < 12; i++)
		o += (size_t)snprintf(want + o, sizeof(want) - o,
		    "lat_bucket{job=\"b\",instance=\"x\",le=\"%s\"} %d\n",
		    le[i], cb[i]);
	o += (size_t)snprintf(want + o, sizeof(want) - o,
	    "lat_sum{job=\"b\",instance=\"x\"} 27\n"
	    "lat_count{job=\"b\",instance=\"x\"} 2\n");
	assert_true(o < sizeof(want));
	pull_is(f->s, NULL, &res, want);
	assert_int_equal(res.series, 2);
}

static void
test_empty(void **state)
{
	struct fx *f = *state;
	pull_result res;
	selfm m;
	char *self;

	memset(&m, 0, sizeof(m));
	m.deletes = 4;
	pull_is(f->s, NULL, &res, "");
	assert_int_equal(res.series, 0);
	self = self_text(&m);
	pull_is(f->s, &m, &res, self);
	assert_int_equal(res.series, 0);
	assert_int_equal(res.type_clash, 0);
	assert_int_equal(res.duplicate, 0);
	free(self);
}

/* A cap too small: -1, the limit named; the spool stays usable. */
static void
test_cap(void **state)
{
	struct fx *f = *state;
	pull_result res;
	char err[256] = "";
	selfm m;
	dbuf b;

	memset(&m, 0, sizeof(m));
	put(f->s, "j", "", SPOOL_OP_SET, "# HELP m A help text that is long "
	    "enough.\nm{a=\"1\"} 1\nm{a=\"2\"} 2\n");
	fold(f->s);
	dbuf_init(&b, 64);
	assert_int_equal(pull_render(f->s, NULL, &b, &res, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "rendered body over its size limit (the "
	    "limit is 64 bytes)");
	assert_true(b.len <= 64);
	/* Only the self metrics overflow. */
	memset(err, 0, sizeof(err));
	dbuf_free(&b);
	dbuf_init(&b, 200);
	assert_int_equal(pull_render(f->s, &m, &b, &res, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "rendered body over its size limit (the "
	    "limit is 200 bytes)");
	dbuf_free(&b);
	/* The read transaction ended: writes and folds go on. */
	put(f->s, "j", "", SPOOL_OP_SET, "m{a=\"1\"} 5\n");
	fold(f->s);
	pull_is(f->s, NULL, &res, "# HELP m A help text that is long enough.\n"
	    "m{job=\"j\",a=\"1\"} 5\nm{job=\"j\",a=\"2\"} 2\n");
}

/* A buffer used before is emptied first. */
static void
test_reuses_buffer(void **state)
{
	struct fx *f = *state;
	pull_result res;
	char err[256];
	dbuf b;

	put(f->s, "j", "", SPOOL_OP_SET, "m 1\n");
	fold(f->s);
	dbuf_init(&b, 1 << 20);
	assert_int_equal(dbuf_add(&b, "junk\n", 5), DBUF_OK);
	assert_int_equal(pull_render(f->s, NULL, &b, &res, err, sizeof(err)),
	    0);
	assert_buf(&b, "m{job=\"j\"} 1\n");
	assert_int_equal(pull_render(f->s, NULL, &b, &res, err, sizeof(err)),
	    0);
	assert_buf(&b, "m{job=\"j\"} 1\n");
	dbuf_free(&b);
}

/* A sink that counts, and stops the walk at its stop-th series (0:
 * never). */
typedef struct counter {
	size_t families, samples, stop;
} counter;

static int
count_family(void *arg, const spool_family *f)
{
	(void)f;
	((counter *)arg)->families++;
	return 0;
}

static int
count_sample(void *arg, const spool_sample *x, const char *extra)
{
	counter *c = arg;

	(void)x;
	(void)extra;
	return ++c->samples == c->stop;
}

/* pull_walk's results: the end, a sink that stops it, a spool that fails;
 * and their names. */
static void
test_walk_results(void **state)
{
	static const pull_sink sink = { count_family, count_sample, NULL };
	struct fx *f = *state;
	counter c = { 0, 0, 0 };
	pull_result res;
	char err[256] = "";
	sqlite3 *db;

	put(f->s, "j", "", SPOOL_OP_SET, "a 1\nb 2\nc 3\n");
	fold(f->s);
	assert_int_equal(pull_walk(f->s, &sink, &c, &res, err, sizeof(err)),
	    PULL_OK);
	assert_int_equal(c.families, 3);
	assert_int_equal(c.samples, 3);
	assert_int_equal(res.series, 3);
	assert_string_equal(err, "");

	/* Stopped at the second series: the sink's doing, err untouched. */
	memset(&c, 0, sizeof(c));
	c.stop = 2;
	assert_int_equal(pull_walk(f->s, &sink, &c, &res, err, sizeof(err)),
	    PULL_ESTOPPED);
	assert_int_equal(c.samples, 2);
	assert_int_equal(res.series, 1);
	assert_string_equal(err, "");

	/* The spool fails under it (its table gone): err says why. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE series", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	memset(&c, 0, sizeof(c));
	assert_int_equal(pull_walk(f->s, &sink, &c, &res, err, sizeof(err)),
	    PULL_ESPOOL);
	assert_int_equal(c.samples, 0);
	assert_true(strstr(err, "series") != NULL);

	assert_string_equal(pull_strerror(PULL_OK), "ok");
	assert_string_equal(pull_strerror(PULL_ESTOPPED),
	    "stopped by its sink");
	assert_string_equal(pull_strerror(PULL_ESPOOL),
	    "cannot read the spool");
	assert_string_equal(pull_strerror(PULL_ENOMEM), "out of memory");
}

/* --- the all-groups cursor --------------------------------------------- */

/* The id of the group of job (its grouping ignored); fails without one. */
typedef struct idq {
	const char *job;
	int64_t id;
} idq;

static int
find_id(const spool_group *g, void *arg)
{
	idq *q = arg;

	if (strcmp(g->job, q->job) != 0)
		return 0;
	q->id = g->id;
	return 1;
}

static int64_t
group_id(spool_t *s, const char *job)
{
	idq q = { job, -1 };

	assert_int_equal(spool_groups_each(s, find_id, &q), SPOOL_OK);
	if (q.id < 0)
		fail_msg("no group of job %s", job);
	return q.id;
}

static void
test_cursor_all(void **state)
{
	struct fx *f = *state;
	const spool_family *fam;
	const spool_sample *x;
	spool_cursor *c;
	char got[2048] = "";
	size_t o = 0;
	int fresh, i;

	put(f->s, "a", "", SPOOL_OP_SET, "# HELP m From a.\n# TYPE m gauge\n"
	    "m{k=\"1\"} 1\nm{k=\"2\"} 2\nz 3\n");
	put(f->s, "b", "i=\"2\"", SPOOL_OP_SET, "# HELP m From b.\n"
	    "# TYPE m counter\nm 4\nc 5\n");
	fold(f->s);
	assert_int_equal(spool_cursor_open_all(f->s, &c), SPOOL_OK);
	for (i = 0; i < 20; i++) {
		const char *job, *grouping;
		int64_t id;

		assert_int_equal(spool_cursor_next(c, &fam, &x, &fresh),
		    SPOOL_OK);
		if (x == NULL)
			break;
		spool_cursor_group(c, &id, &job, &grouping);
		assert_non_null(job);
		assert_non_null(grouping);
		assert_int_equal(id, group_id(f->s, job));
		o += (size_t)snprintf(got + o, sizeof(got) - o,
		    "%s%s{%s}=%g %s[%s] %s/%s\n", fresh ? "+" : " ", x->name,
		    x->labels, x->value, job, grouping, fam->type,
		    fam->help ? fam->help : "-");
	}
	assert_true(i < 20);
	assert_string_equal(got,
	    "+c{}=5 b[i=\"2\"] untyped/-\n"
	    "+m{k=\"1\"}=1 a[] gauge/From a.\n"
	    " m{k=\"2\"}=2 a[] gauge/From a.\n"
	    " m{}=4 b[i=\"2\"] counter/From b.\n"
	    "+z{}=3 a[] untyped/-\n");
	/* At the end, and again after. */
	assert_int_equal(spool_cursor_next(c, &fam, &x, &fresh), SPOOL_OK);
	assert_null(x);
	assert_int_equal(fresh, 0);
	spool_cursor_close(c);
	/* The read is over: writes go on. */
	put(f->s, "a", "", SPOOL_OP_SET, "z 6\n");
	fold(f->s);
}

static void
test_cursor_all_empty(void **state)
{
	struct fx *f = *state;
	const spool_family *fam;
	const spool_sample *x;
	spool_cursor *c;
	int fresh;

	assert_int_equal(spool_cursor_open_all(f->s, &c), SPOOL_OK);
	assert_int_equal(spool_cursor_next(c, &fam, &x, &fresh), SPOOL_OK);
	assert_null(x);
	assert_null(fam);
	spool_cursor_close(c);
}

/* A one-group cursor names no job or grouping. */
static void
test_cursor_one_group(void **state)
{
	struct fx *f = *state;
	const spool_family *fam;
	const spool_sample *x;
	const char *job = "unset", *grouping = "unset";
	spool_cursor *c;
	int64_t v, id = -1;
	int fresh;

	put(f->s, "a", "", SPOOL_OP_SET, "m 1\n");
	put(f->s, "b", "i=\"2\"", SPOOL_OP_SET, "m 2\n");
	fold(f->s);
	assert_int_equal(spool_cursor_open(f->s, 2, &c, &v), SPOOL_OK);
	assert_int_equal(v, 1);
	assert_int_equal(spool_cursor_next(c, &fam, &x, &fresh), SPOOL_OK);
	assert_non_null(x);
	assert_int_equal(fresh, 1);
	assert_true(x->value == 2);
	spool_cursor_group(c, &id, &job, &grouping);
	assert_int_equal(id, 2);
	assert_null(job);
	assert_null(grouping);
	assert_int_equal(spool_cursor_next(c, &fam, &x, &fresh), SPOOL_OK);
	assert_null(x);
	spool_cursor_close(c);
}

/*
 * A family named like an earlier histogram's or summary's samples would be
 * filed under that family by a parser ("second TYPE line"): left out.
 */
static void
test_sample_name_clash(void **state)
{
	struct fx *f = *state;
	pull_result res;

	put(f->s, "a", "", SPOOL_OP_OBSERVE, "x 0.3\n");
	put(f->s, "b", "", SPOOL_OP_SET, "# TYPE x_count gauge\nx_count 7\n");
	put(f->s, "c", "", SPOOL_OP_SET, "# TYPE s summary\ns_sum 1\n"
	    "s_count 2\n");
	put(f->s, "d", "", SPOOL_OP_SET, "# TYPE s_sum counter\ns_sum 5\n"
	    "# TYPE s_total counter\ns_total 6\n");
	fold(f->s);
	pull_is(f->s, NULL, &res,
	    "# TYPE s summary\n"
	    "s_count{job=\"c\"} 2\n"
	    "s_sum{job=\"c\"} 1\n"
	    "# TYPE s_total counter\n"
	    "s_total{job=\"d\"} 6\n"
	    "# TYPE x histogram\n"
	    "x_bucket{job=\"a\",le=\"0.005\"} 0\n"
	    "x_bucket{job=\"a\",le=\"0.01\"} 0\n"
	    "x_bucket{job=\"a\",le=\"0.025\"} 0\n"
	    "x_bucket{job=\"a\",le=\"0.05\"} 0\n"
	    "x_bucket{job=\"a\",le=\"0.1\"} 0\n"
	    "x_bucket{job=\"a\",le=\"0.25\"} 0\n"
	    "x_bucket{job=\"a\",le=\"0.5\"} 1\n"
	    "x_bucket{job=\"a\",le=\"1\"} 1\n"
	    "x_bucket{job=\"a\",le=\"2.5\"} 1\n"
	    "x_bucket{job=\"a\",le=\"5\"} 1\n"
	    "x_bucket{job=\"a\",le=\"10\"} 1\n"
	    "x_bucket{job=\"a\",le=\"+Inf\"} 1\n"
	    "x_sum{job=\"a\"} 0.3\n"
	    "x_count{job=\"a\"} 1\n");
	assert_int_equal(res.type_clash, 2);
	assert_string_equal(res.clash, "family s_sum is a sample name of an "
	    "earlier histogram or summary (job=d {})");
}

/* The protobuf view: the same walk as the text (one HELP and type per
 * family, the first group's; job and grouping labels; a summary's lines
 * one Metric), the agent's families after it, and the cap naming the
 * family. */
static void
test_protobuf(void **state)
{
	struct fx *f = *state;
	pull_result res;
	char err[256] = "";
	selfm m;
	dbuf b;
	msgs d = { .n = 0 };
	size_t nself = selfm_count_families();
	const mfam *mf;

	memset(&m, 0, sizeof(m));
	m.pushes[SELFM_SUCCESS] = 3;
	put(f->s, "zeta", "", SPOOL_OP_SET, "# HELP m First help.\n"
	    "# TYPE m gauge\nm{k=\"z\"} 1\n# TYPE s summary\n"
	    "s{quantile=\"0.5\"} 1\ns_sum 3\ns_count 4\n");
	put(f->s, "alpha", "instance=\"i\"", SPOOL_OP_SET,
	    "# HELP m Other help.\n# TYPE m gauge\nm{k=\"a\"} 2\n"
	    "m{k=\"b\",instance=\"own\"} 3\nc_total 4\n"
	    "collector_agent_up 0\n");
	fold(f->s);
	dbuf_init(&b, 1 << 20);
	if (pull_render_pb(f->s, &m, &b, &res, err, sizeof(err)) != 0)
		fail_msg("pull_render_pb: %s", err);
	assert_int_equal(res.series, 7);
	decode(b.p, b.len, &d);
	assert_int_equal(d.n, 3 + nself);

	mf = d.m[0];
	assert_string_equal(mf->name, "c_total");
	assert_int_equal(mf->type, IO__PROMETHEUS__CLIENT__METRIC_TYPE__UNTYPED);
	assert_int_equal(mf->n_metric, 1);
	assert_int_equal(mf->metric[0]->n_label, 2);
	label_is(mf->metric[0], 0, "job", "alpha");
	label_is(mf->metric[0], 1, "instance", "i");
	assert_true(mf->metric[0]->untyped->value == 4);

	mf = d.m[1];
	assert_string_equal(mf->name, "m");
	assert_string_equal(mf->help, "First help.");
	assert_int_equal(mf->type, IO__PROMETHEUS__CLIENT__METRIC_TYPE__GAUGE);
	assert_int_equal(mf->n_metric, 3);
	assert_int_equal(mf->metric[0]->n_label, 2);
	label_is(mf->metric[0], 0, "job", "zeta");
	label_is(mf->metric[0], 1, "k", "z");
	assert_true(mf->metric[0]->gauge->value == 1);
	/* The spool's order (labels as stored: instance="own" first); the
	 * grouping's instance replaces the series' own. */
	assert_int_equal(mf->metric[1]->n_label, 3);
	label_is(mf->metric[1], 0, "job", "alpha");
	label_is(mf->metric[1], 1, "instance", "i");
	label_is(mf->metric[1], 2, "k", "b");
	assert_true(mf->metric[1]->gauge->value == 3);
	assert_int_equal(mf->metric[2]->n_label, 3);
	label_is(mf->metric[2], 1, "instance", "i");
	label_is(mf->metric[2], 2, "k", "a");
	assert_true(mf->metric[2]->gauge->value == 2);

	mf = d.m[2];
	assert_string_equal(mf->name, "s");
	assert_int_equal(mf->type, IO__PROMETHEUS__CLIENT__METRIC_TYPE__SUMMARY);
	assert_int_equal(mf->n_metric, 1);
	assert_int_equal(mf->metric[0]->n_label, 1);
	label_is(mf->metric[0], 0, "job", "zeta");
	assert_int_equal(mf->metric[0]->summary->sample_count, 4);
	assert_true(mf->metric[0]->summary->sample_sum == 3);
	assert_int_equal(mf->metric[0]->summary->n_quantile, 1);
	assert_true(mf->metric[0]->summary->quantile[0]->quantile == 0.5);
	assert_true(mf->metric[0]->summary->quantile[0]->value == 1);

	/* The agent's own, after; none taken from the spool. */
	for (size_t i = 0; i < nself; i++) {
		mf = d.m[3 + i];
		assert_string_equal(mf->name, selfm_family_name(i));
		if (strcmp(mf->name, SELFM_PREFIX "up") == 0) {
			assert_int_equal(mf->n_metric, 1);
			assert_int_equal(mf->metric[0]->n_label, 0);
			assert_true(mf->metric[0]->gauge->value == 1);
		}
		if (strcmp(mf->name, SELFM_PREFIX "pushes_total") == 0)
			assert_true(mf->metric[2]->counter->value == 3);
	}
	msgs_free(&d);
	dbuf_free(&b);

	/* Over the cap: the family it was in. */
	dbuf_init(&b, 64);
	assert_int_equal(pull_render_pb(f->s, NULL, &b, &res, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "rendered body over its size limit (the "
	    "limit is 64 bytes; family m)");
	dbuf_free(&b);
	/* The read transaction ended: writes and folds go on. */
	put(f->s, "zeta", "", SPOOL_OP_SET, "m{k=\"z\"} 5\n");
	fold(f->s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_shared_family),
		T(test_label_order),
		T(test_override),
		T(test_duplicate),
		T(test_duplicate_job),
		T(test_duplicate_across_groups),
		T(test_type_clash),
		T(test_sample_name_clash),
		T(test_self_metrics),
		T(test_escapes),
		T(test_observed_histogram),
		T(test_empty),
		T(test_cap),
		T(test_protobuf),
		T(test_reuses_buffer),
		T(test_walk_results),
		T(test_cursor_all),
		T(test_cursor_all_empty),
		T(test_cursor_one_group),
	};

	return cmocka_run_group_tests_name("pull", tests, NULL, NULL);
}
