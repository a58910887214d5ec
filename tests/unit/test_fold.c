/* The fold: set, add, observe, rejects, deletes, and that an aborted batch
 * leaves nothing half-counted. */
#include "foldfx.h"

#include <math.h>
#include <sqlite3.h>

static spool_fold_result
fold_all(spool_t *s, const spool_fold_options *o)
{
	spool_fold_result r, total;

	memset(&total, 0, sizeof(total));
	for (int i = 0; i < 10000; i++) {
		spool_err e = spool_fold(s, o, &r);
		if (e != SPOOL_OK)
			fail_msg("fold: %s", spool_errmsg(s));
		if (r.rows == 0)
			break;
		total.rows += r.rows;
		total.lines += r.lines;
		total.rejected += r.rejected;
		total.groups += r.groups;
		total.deletes += r.deletes;
	}
	return total;
}

static void
test_set_and_add(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;

	put(f->s, "j", "", SPOOL_OP_SET, "g{a=\"1\"} 5\ng{a=\"2\"} 7\n");
	put(f->s, "j", "", SPOOL_OP_SET, "g{a=\"1\"} 6");
	put(f->s, "j", "", SPOOL_OP_ADD, "c_total 2\nc_total 3\n");
	r = fold_all(f->s, NULL);
	assert_int_equal(r.rows, 3);
	assert_int_equal(r.lines, 5);
	assert_int_equal(r.rejected, 0);
	assert_true(value(f->s, "j", "", "g", "a=\"1\"") == 6);
	assert_true(value(f->s, "j", "", "g", "a=\"2\"") == 7);
	assert_true(value(f->s, "j", "", "c_total", "") == 5);

	/* Across batches and folds the add keeps counting. */
	put(f->s, "j", "", SPOOL_OP_ADD, "c_total 0.5");
	r = fold_all(f->s, NULL);
	assert_int_equal(r.rows, 1);
	assert_true(value(f->s, "j", "", "c_total", "") == 5.5);
	/* set after add replaces. */
	put(f->s, "j", "", SPOOL_OP_SET, "c_total 1");
	fold_all(f->s, NULL);
	assert_true(value(f->s, "j", "", "c_total", "") == 1);
}

static void
test_labels_canonical(void **state)
{
	struct fx *f = *state;

	/* The same series written with labels in another order and spacing. */
	put(f->s, "j", "b=\"2\", a=\"1\",", SPOOL_OP_ADD,
	    "m{y=\"b\",x=\"a\"} 1");
	put(f->s, "j", "a=\"1\",b=\"2\"", SPOOL_OP_ADD,
	    "m{ x = \"a\" , y=\"b\" , } 2");
	fold_all(f->s, NULL);
	assert_true(value(f->s, "j", "a=\"1\",b=\"2\"", "m",
	    "x=\"a\",y=\"b\"") == 3);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM groups"), 1);
}

static void
test_special_values(void **state)
{
	struct fx *f = *state;
	double v;

	put(f->s, "j", "", SPOOL_OP_SET, "n NaN\np +Inf\nm -Inf\nz -0\n"
	    "e 1.5e-300\n");
	fold_all(f->s, NULL);
	v = value(f->s, "j", "", "n", "");
	assert_true(isnan(v));
	assert_true(value(f->s, "j", "", "p", "") == INFINITY);
	assert_true(value(f->s, "j", "", "m", "") == -INFINITY);
	assert_true(value(f->s, "j", "", "e", "") == 1.5e-300);
	/* Adding to a NaN stays NaN; to +Inf stays +Inf. */
	put(f->s, "j", "", SPOOL_OP_ADD, "p 1");
	fold_all(f->s, NULL);
	assert_true(value(f->s, "j", "", "p", "") == INFINITY);
}

static void
test_defaults(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;

	memset(&o, 0, sizeof(o));
	o.default_job = "collector_api";
	o.default_grouping = "instance=\"0.0.0.0:5000\"";
	put(f->s, NULL, NULL, SPOOL_OP_SET, "up 1");
	sql_insert(f->s, NULL, NULL, NULL, "up2 1");
	sql_insert(f->s, "other", "", NULL, "up3 1");
	fold_all(f->s, &o);
	assert_true(value(f->s, "collector_api", "instance=\"0.0.0.0:5000\"",
	    "up", "") == 1);
	/* A NULL op is set. */
	assert_true(value(f->s, "collector_api", "instance=\"0.0.0.0:5000\"",
	    "up2", "") == 1);
	assert_true(value(f->s, "other", "", "up3", "") == 1);
}

static void
test_observe_default_buckets(void **state)
{
	struct fx *f = *state;
	char *h;

	put(f->s, "j", "", SPOOL_OP_OBSERVE,
	    "lat{path=\"/a\"} 0.3\nlat{path=\"/a\"} 0.005\nlat{path=\"/a\"} 7\n"
	    "lat{path=\"/a\"} 100\n");
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "lat{path=\"/a\"} 1");
	fold_all(f->s, NULL);
	h = query_text(f->s, "SELECT hist FROM series WHERE name='lat' AND "
	    "labels='path=\"/a\"'");
	/* Buckets are upper-inclusive: 0.005 falls in le=0.005, 1 in le=1. */
	assert_string_equal(h, "b=0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,"
	    "10;c=1,0,0,0,0,0,1,1,0,0,1,1;s=108.305");
	free(h);
	h = query_text(f->s, "SELECT type FROM families WHERE name='lat'");
	assert_string_equal(h, "histogram");
	free(h);
}

static void
test_observe_configured_buckets(void **state)
{
	struct fx *f = *state;
	static const double b[] = { 0.1, 1, 10 };
	spool_buckets hb = { .name = "api_request_duration_seconds", .bounds = b,
	    .n = 3 };
	spool_fold_options o;
	char *h;

	memset(&o, 0, sizeof(o));
	o.buckets = &hb;
	o.nbuckets = 1;
	put(f->s, "j", "", SPOOL_OP_OBSERVE,
	    "api_request_duration_seconds 0.05\n"
	    "api_request_duration_seconds 0.5\n"
	    "api_request_duration_seconds 50\n");
	fold_all(f->s, &o);
	h = query_text(f->s, "SELECT hist FROM series WHERE "
	    "name='api_request_duration_seconds'");
	assert_string_equal(h, "b=0.1,1,10;c=1,1,0,1;s=50.55");
	free(h);
	/* A series keeps the buckets it started with when the configuration
	 * changes, so its counts stay cumulative and consistent. */
	fold_all(f->s, NULL);
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "api_request_duration_seconds 2");
	fold_all(f->s, NULL);
	h = query_text(f->s, "SELECT hist FROM series WHERE "
	    "name='api_request_duration_seconds'");
	assert_string_equal(h, "b=0.1,1,10;c=1,1,1,1;s=52.55");
	free(h);
}

static void
test_rejects(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;
	char *why;

	sql_insert(f->s, "j", "", "set", "ok 1");
	sql_insert(f->s, "j", "", "set", "bad 1 1700000000");
	sql_insert(f->s, "j", "", "sett", "x 1");
	sql_insert(f->s, "j", "job=\"x\"", "set", "x 1");
	sql_insert(f->s, "", "", "set", "x 1");
	sql_insert(f->s, "j", "", "set", "# TYPE ok counter\nok 2");
	sql_insert(f->s, "j", "", "set", "# TYPE ok gauge\nok 3");
	sql_insert(f->s, "j", "", "add", "# TYPE cnt counter\ncnt -1");
	sql_insert(f->s, "j", "", "set", "");
	sql_insert(f->s, "j", "", "add", "ok 10\nbroken{ 1");
	sql_insert(f->s, "j", "", "observe", "# TYPE g gauge\ng 1");
	sql_insert(f->s, "j", "", "set", "after 1");
	r = fold_all(f->s, NULL);
	assert_int_equal(r.rows, 12);
	assert_int_equal(r.rejected, 9);
	/* Rows around the bad ones were folded; the half-bad add row
	 * added nothing. */
	assert_true(value(f->s, "j", "", "ok", "") == 2);
	assert_true(value(f->s, "j", "", "after", "") == 1);
	assert_false(exists(f->s, "j", "", "cnt", ""));

	why = query_text(f->s, "SELECT group_concat(reason, '|') FROM "
	    "(SELECT reason FROM rejected ORDER BY id)");
	assert_string_equal(why,
	    "line 1: timestamps are not allowed (the Pushgateway rejects them)|"
	    "unknown op 'sett' (set, add, observe, delete or replace)|"
	    "grouping: grouping must not contain a job label (the job has its "
	    "own column and flag)|"
	    "job: job must not be empty|"
	    "line 1: TYPE conflict: ok is a counter in this group, this row "
	    "says gauge (delete the group first to change a type)|"
	    "line 2: counter cnt cannot decrease (op add with a negative "
	    "value)|"
	    "no metric lines (the body is empty or only comments)|"
	    "line 2: invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)|"
	    "line 1: op observe feeds histograms; this TYPE line names another "
	    "type");
	free(why);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM rejected"), 9);
	assert_int_equal(query_int(f->s, "SELECT value FROM meta WHERE "
	    "key='rejected_total'"), 9);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM inbox"), 0);
}

static void
test_observe_needs_histogram(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;
	char *why;

	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE temp gauge\ntemp 20");
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "temp 21");
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "lat 1");
	put(f->s, "j", "", SPOOL_OP_SET, "lat 5");
	r = fold_all(f->s, NULL);
	assert_int_equal(r.rejected, 2);
	why = query_text(f->s, "SELECT group_concat(reason, '|') FROM "
	    "(SELECT reason FROM rejected ORDER BY id)");
	assert_string_equal(why, "line 1: op observe needs a histogram: temp "
	    "is a gauge in this group|line 1: histogram lat has no sample of "
	    "its bare name: write lat_bucket, _sum and _count, or use op "
	    "observe");
	free(why);
}

/*
 * What the Pushgateway would refuse (le or quantile not a number) or store
 * garbled (negative, NaN, infinite counts; buckets and quantiles it drops)
 * is refused at the fold with a reason, also when the family's type comes
 * from the group's state, which put cannot see: these rows pass put.
 */
static void
test_family_checks(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;
	char *why;

	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE h histogram\n"
	    "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\n"
	    "h_count 2\n# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\n"
	    "s_count 3\n");
	put(f->s, "j", "", SPOOL_OP_SET, "h_bucket{le=\"0x1p-3\"} 1");
	put(f->s, "j", "", SPOOL_OP_SET, "h_count -2693");
	put(f->s, "j", "", SPOOL_OP_ADD, "h_bucket{le=\"1\"} -1");
	put(f->s, "j", "", SPOOL_OP_SET, "h_sum 1\nh_bucket{le=\"NaN\"} 1");
	put(f->s, "j", "", SPOOL_OP_SET, "h_bucket 4");
	put(f->s, "j", "", SPOOL_OP_SET, "s{quantile=\"bla\"} 1");
	put(f->s, "j", "", SPOOL_OP_SET, "s_count +Inf");
	put(f->s, "j", "", SPOOL_OP_SET, "s 4");
	/* Written with SQL, a row with its own TYPE line gets the reason put
	 * would have given. */
	sql_insert(f->s, "j", "", "set", "# TYPE q summary\n"
	    "q{quantile=\"NaN\"} 1");
	/* Fine: fractional counts (newer gateways keep them as floats),
	 * adds that count up, sums of any sign, le on an untyped family. */
	put(f->s, "j", "", SPOOL_OP_SET, "h_count 2.5\nh_sum -7");
	put(f->s, "j", "", SPOOL_OP_ADD, "h_bucket{le=\"1\"} 1\nh_count 1");
	put(f->s, "j", "", SPOOL_OP_SET, "s_sum -1\ns{quantile=\"+Inf\"} 9");
	put(f->s, "j", "", SPOOL_OP_SET, "x_bucket{le=\"bla\"} -1");
	r = fold_all(f->s, NULL);
	assert_int_equal(r.rows, 14);
	assert_int_equal(r.rejected, 9);
	why = query_text(f->s, "SELECT group_concat(reason, '|') FROM "
	    "(SELECT reason FROM rejected ORDER BY id)");
	assert_string_equal(why,
	    "line 1: histogram h: le must be a number such as 0.25, 1e3 or "
	    "+Inf (not NaN, hex or text)|"
	    "line 1: histogram h: bucket and count values must be 0 or more, "
	    "finite and below 2^64 (the Pushgateway stores them as unsigned "
	    "integers)|"
	    "line 1: histogram h: bucket and count values must be 0 or more, "
	    "finite and below 2^64 (the Pushgateway stores them as unsigned "
	    "integers)|"
	    "line 2: histogram h: le must be a number such as 0.25, 1e3 or "
	    "+Inf (not NaN, hex or text)|"
	    "line 1: histogram h: a bucket needs an le label (the Pushgateway "
	    "drops a bucket without one)|"
	    "line 1: summary s: quantile must be a number such as 0.5 or 0.99 "
	    "(not NaN, hex or text)|"
	    "line 1: summary s: bucket and count values must be 0 or more, "
	    "finite and below 2^64 (the Pushgateway stores them as unsigned "
	    "integers)|"
	    "line 1: summary s: a sample of the bare name needs a quantile "
	    "label (the Pushgateway drops it); write the totals as _sum and "
	    "_count|"
	    "line 2: summary q: quantile must be a number such as 0.5 or 0.99 "
	    "(not NaN, hex or text)");
	free(why);
	/* The refused rows changed nothing; the others applied. */
	assert_true(value(f->s, "j", "", "h_count", "") == 3.5);
	assert_true(value(f->s, "j", "", "h_sum", "") == -7);
	assert_true(value(f->s, "j", "", "h_bucket", "le=\"1\"") == 2);
	assert_true(value(f->s, "j", "", "s_count", "") == 3);
	assert_true(value(f->s, "j", "", "s", "quantile=\"+Inf\"") == 9);
	assert_true(value(f->s, "j", "", "x_bucket", "le=\"bla\"") == -1);
	assert_false(exists(f->s, "j", "", "h_bucket", "le=\"NaN\""));
	assert_false(exists(f->s, "j", "", "h_bucket", ""));
	assert_false(exists(f->s, "j", "", "s", ""));
}

static void
test_family_resolution(void **state)
{
	struct fx *f = *state;
	char *fams;

	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE h histogram\n"
	    "# HELP h Latency.\\nSecond line.\n"
	    "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"
	    "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n"
	    "other_sum 4\n");
	/* A later row without TYPE lines still resolves to the families. */
	put(f->s, "j", "", SPOOL_OP_ADD, "h_count 1\ns_bucket 1\n");
	fold_all(f->s, NULL);
	fams = query_text(f->s, "SELECT group_concat(name || ':' || type || ':'"
	    " || typed || ':' || coalesce(help, '-'), ' ') FROM (SELECT * FROM "
	    "families ORDER BY name)");
	assert_string_equal(fams, "h:histogram:1:Latency.\\nSecond line. "
	    "other_sum:untyped:0:- s:summary:1:- s_bucket:untyped:0:-");
	free(fams);
	assert_true(value(f->s, "j", "", "h_count", "") == 3);
	assert_true(value(f->s, "j", "", "h_bucket", "le=\"+Inf\"") == 2);
}

/* The reasons of the rejected rows, oldest first, joined by '|'. */
static char *
reasons(spool_t *s)
{
	return query_text(s, "SELECT group_concat(reason, '|') FROM (SELECT "
	    "reason FROM rejected ORDER BY id)");
}

/* A histogram or summary NAME writes NAME_bucket, NAME_sum, NAME_count:
 * a family of its own under one of those names beside it is refused, with
 * both names, whichever comes first; what is not such a clash goes
 * through. */
static void
test_name_collisions(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;
	char *why, *fams;

	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE h histogram\n"
	    "h_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n");
	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE g_sum gauge\ng_sum 1\n");
	put(f->s, "j", "", SPOOL_OP_SET, "o_count 1\n");
	r = fold_all(f->s, NULL);
	assert_int_equal(r.rejected, 0);
	/* Refused: */
	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE h_count gauge\n"
	    "h_count{a=\"1\"} 5\n");
	put(f->s, "j", "", SPOOL_OP_SET, "# HELP h_bucket Not h's.\n"
	    "h_bucket{le=\"1\"} 1\n");
	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE n histogram\n"
	    "n_bucket{le=\"+Inf\"} 1\n# TYPE n_sum counter\nn_sum 1\n");
	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE g summary\n"
	    "g{quantile=\"0.5\"} 1\n");
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "o 0.5\n");
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "p 1\np_count 2\n");
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "h_sum 1\n");
	/* Not clashes: a summary has no _bucket samples, a counter or gauge
	 * no _count, and another group is another group. */
	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE s summary\ns_sum 1\n"
	    "# TYPE s_bucket gauge\ns_bucket 2\n");
	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE c counter\nc 1\n"
	    "# TYPE c_count gauge\nc_count 2\n");
	put(f->s, "k", "", SPOOL_OP_SET, "# TYPE h_count gauge\nh_count 5\n");
	/* A sample of h's own name without a TYPE still files under h. */
	put(f->s, "j", "", SPOOL_OP_ADD, "h_count 1\n");
	r = fold_all(f->s, NULL);
	assert_int_equal(r.rows, 11);
	assert_int_equal(r.rejected, 7);
	why = reasons(f->s);
	assert_string_equal(why,
	    "line 1: h_count collides with histogram h, whose h_count samples "
	    "it would hide (the gateway refuses the group): rename one of "
	    "them|"
	    "line 1: h_bucket collides with histogram h, whose h_bucket "
	    "samples it would hide (the gateway refuses the group): rename "
	    "one of them|"
	    "line 3: n_sum collides with histogram n, whose n_sum samples it "
	    "would hide (the gateway refuses the group): rename one of them|"
	    "line 1: summary g collides with g_sum, a family of its own in "
	    "this group, whose samples it would own (the gateway refuses the "
	    "group): rename one of them, or delete the group first|"
	    "line 1: histogram o collides with o_count, a family of its own "
	    "in this group, whose samples it would own (the gateway refuses "
	    "the group): rename one of them, or delete the group first|"
	    "line 2: p_count collides with histogram p, whose p_count samples "
	    "it would hide (the gateway refuses the group): rename one of "
	    "them|"
	    "line 1: h_sum collides with histogram h, whose h_sum samples it "
	    "would hide (the gateway refuses the group): rename one of them");
	free(why);
	/* Nothing of the refused rows, everything of the others. */
	fams = query_text(f->s, "SELECT group_concat(g.job || '/' || name || "
	    "':' || type, ' ') FROM (SELECT * FROM families ORDER BY "
	    "group_id, name) JOIN groups g ON g.id = group_id");
	assert_string_equal(fams, "j/c:counter j/c_count:gauge j/g_sum:gauge "
	    "j/h:histogram j/o_count:untyped j/s:summary j/s_bucket:gauge "
	    "k/h_count:gauge");
	free(fams);
	assert_true(value(f->s, "j", "", "h_count", "") == 3);
	assert_false(exists(f->s, "j", "", "h_count", "a=\"1\""));
	assert_false(exists(f->s, "j", "", "h_bucket", "le=\"1\""));
	assert_true(value(f->s, "k", "", "h_count", "") == 5);
}

/* The rejected rows as spool_rejected_each() hands them over. */
#define MAX_REJ 8
struct rejs {
	size_t n;
	char *reason[MAX_REJ], *body[MAX_REJ], *job[MAX_REJ];
	size_t body_len[MAX_REJ], job_len[MAX_REJ];
	int64_t size[MAX_REJ];
	uint64_t hash[MAX_REJ];
	int cut[MAX_REJ];
};

static int
collect_rej(const spool_rejected *r, void *arg)
{
	struct rejs *c = arg;

	if (c->n == MAX_REJ)
		return 1;
	c->reason[c->n] = strdup(r->reason);
	c->body[c->n] = r->body ? strndup(r->body, r->body_len) : NULL;
	c->job[c->n] = r->job ? strndup(r->job, r->job_len) : NULL;
	c->body_len[c->n] = r->body_len;
	c->job_len[c->n] = r->job_len;
	c->size[c->n] = r->body_size;
	c->hash[c->n] = r->body_hash;
	c->cut[c->n] = r->body_cut;
	c->n++;
	return 0;
}

static void
free_rejs(struct rejs *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->reason[i]);
		free(c->body[i]);
		free(c->job[i]);
	}
}

/* A refused body keeps its first 4096 bytes (never half a character), its
 * size and its FNV-1a hash; small ones stay whole; an over-long job is
 * cut to 8192 bytes. */
static void
test_rejected_bounded(void **state)
{
	struct fx *f = *state;
	struct rejs c;
	char *big, *job, *stored;
	size_t o = 0;

	/* "x 1 2\n#" then é (2 bytes) 3000 times: byte 4096 is the middle
	 * of an é. */
	big = malloc(6007 + 1);
	assert_non_null(big);
	memcpy(big, "x 1 2\n#", 7);
	for (o = 7; o < 6007; o += 2)
		memcpy(big + o, "\xc3\xa9", 2);
	big[o] = '\0';
	job = malloc(SPOOL_REJECTED_FIELD_KEEP + 2);
	assert_non_null(job);
	memset(job, 'j', SPOOL_REJECTED_FIELD_KEEP + 1);
	job[SPOOL_REJECTED_FIELD_KEEP + 1] = '\0';
	sql_insert(f->s, "j", "", "set", big);
	sql_insert(f->s, "j", "", "set", "x 1 2\n");
	sql_insert(f->s, job, "", "set", "x 1\n");
	fold_all(f->s, NULL);

	/* What is stored: the cut body, the size and hash in the reason. */
	assert_int_equal(query_int(f->s, "SELECT length(CAST(body AS BLOB)) "
	    "FROM rejected WHERE id = 1"), 4095);
	stored = query_text(f->s, "SELECT reason FROM rejected WHERE id = 1");
	assert_string_equal(stored, "line 1: timestamps are not allowed (the "
	    "Pushgateway rejects them) [body cut: 6007 bytes, FNV-1a 64 "
	    "acc4a7e29ddbb151; the first 4095 kept]");
	free(stored);

	memset(&c, 0, sizeof(c));
	assert_int_equal(spool_rejected_each(f->s, collect_rej, &c), SPOOL_OK);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.reason[0], "line 1: timestamps are not allowed "
	    "(the Pushgateway rejects them)");
	assert_int_equal(c.body_len[0], 4095);
	assert_memory_equal(c.body[0], big, 4095);
	assert_int_equal(c.size[0], 6007);
	assert_true(c.hash[0] == 0xacc4a7e29ddbb151ULL);
	assert_int_equal(c.cut[0], 1);
	assert_string_equal(c.body[1], "x 1 2\n");
	assert_int_equal(c.size[1], 6);
	assert_true(c.hash[1] == 0x223ff4f650c6c6e8ULL);
	assert_int_equal(c.cut[1], 0);
	assert_string_equal(c.reason[2], "job: job too long (limit 1024 "
	    "bytes)");
	assert_int_equal(c.job_len[2], SPOOL_REJECTED_FIELD_KEEP);
	assert_int_equal(c.cut[2], 0);
	free_rejs(&c);
	free(big);
	free(job);
}

/* A reason that only looks like a cut one is taken as it is. */
static void
test_rejected_reason_as_written(void **state)
{
	struct fx *f = *state;
	struct rejs c;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(spool_path(f->s), &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO rejected(rejected_ms, "
	    "body, reason) VALUES (1, 'ab', 'r [body cut: 9 bytes, FNV-1a 64 "
	    "xyz; the first 2 kept]'), (2, NULL, 'r')", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	memset(&c, 0, sizeof(c));
	assert_int_equal(spool_rejected_each(f->s, collect_rej, &c), SPOOL_OK);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.reason[0], "r [body cut: 9 bytes, FNV-1a 64 xyz; "
	    "the first 2 kept]");
	assert_int_equal(c.size[0], 2);
	assert_int_equal(c.cut[0], 0);
	assert_null(c.body[1]);
	assert_int_equal(c.size[1], 0);
	assert_true(c.hash[1] == 0);
	free_rejs(&c);
}

/* limits.max_groups: the group that would pass it is refused, with the
 * setting and the fix; groups within it, and rows of existing groups, go
 * through, in one batch and across batches; a delete request for a group
 * the spool does not hold counts as a new group. */
static void
test_limit_groups(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;
	char *why;

	memset(&o, 0, sizeof(o));
	o.max_groups = 2;
	put(f->s, "a", "", SPOOL_OP_SET, "x 1");
	put(f->s, "b", "", SPOOL_OP_SET, "x 2");
	put(f->s, "c", "", SPOOL_OP_SET, "x 3");
	put(f->s, "a", "", SPOOL_OP_ADD, "x 10\ny 1");
	r = fold_all(f->s, &o);
	assert_int_equal(r.rows, 4);
	assert_int_equal(r.rejected, 1);
	assert_true(value(f->s, "a", "", "x", "") == 11);
	assert_true(value(f->s, "a", "", "y", "") == 1);
	assert_true(value(f->s, "b", "", "x", "") == 2);
	assert_false(exists(f->s, "c", "", "x", ""));
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM groups"), 2);

	/* A later batch counts from the state. */
	assert_int_equal(spool_request_delete(f->s, "d", ""), SPOOL_OK);
	assert_int_equal(spool_request_delete(f->s, "b", ""), SPOOL_OK);
	put(f->s, "b", "", SPOOL_OP_SET, "x 4");
	r = fold_all(f->s, &o);
	assert_int_equal(r.rows, 3);
	assert_int_equal(r.rejected, 1);
	assert_int_equal(r.deletes, 1);
	assert_true(value(f->s, "b", "", "x", "") == 4);
	why = reasons(f->s);
	assert_string_equal(why, "limits.max_groups: the spool holds 2 groups, "
	    "the most it may (limit 2), and this row would start another; "
	    "raise limits.max_groups in the agent's configuration, or delete "
	    "groups no longer needed (collector-spool delete)|"
	    "limits.max_groups: the spool holds 2 groups, the most it may "
	    "(limit 2), and this row would start another; raise "
	    "limits.max_groups in the agent's configuration, or delete groups "
	    "no longer needed (collector-spool delete)");
	free(why);
	assert_int_equal(query_int(f->s, "SELECT value FROM meta WHERE "
	    "key='refused_max_groups'"), 2);
	assert_int_equal(query_int(f->s, "SELECT value FROM meta WHERE "
	    "key='rejected_total'"), 2);
	/* Without the limit (0), the same row goes through. */
	o.max_groups = 0;
	put(f->s, "c", "", SPOOL_OP_SET, "x 3");
	r = fold_all(f->s, &o);
	assert_int_equal(r.rejected, 0);
	assert_true(value(f->s, "c", "", "x", "") == 3);
}

/* limits.max_series_per_group: up to the limit goes through, one past it
 * is refused whole; rows that only change existing series always go
 * through; a series named twice in a row counts once, an observed
 * histogram is one series; a delete starts the count afresh. */
static void
test_limit_series_per_group(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;
	char *why;

	memset(&o, 0, sizeof(o));
	o.max_series_per_group = 3;
	put(f->s, "g", "", SPOOL_OP_SET, "a 1\nb 1");
	put(f->s, "g", "", SPOOL_OP_SET, "a 2\nc{l=\"1\"} 1");
	put(f->s, "g", "", SPOOL_OP_SET, "d 1\na 9");
	put(f->s, "g", "", SPOOL_OP_SET, "a 5\nb 5\nc{l=\"1\"} 5");
	put(f->s, "h", "", SPOOL_OP_SET, "w 1\nx 1\ny 1\nz 1");
	put(f->s, "h", "", SPOOL_OP_SET, "q 1\nq 2\nr{a=\"1\",b=\"2\"} 1\n"
	    "r{b=\"2\",a=\"1\"} 3");
	put(f->s, "k", "", SPOOL_OP_OBSERVE, "lat 0.1\nlat 0.2\nlat{a=\"1\"} 1");
	r = fold_all(f->s, &o);
	assert_int_equal(r.rows, 7);
	assert_int_equal(r.rejected, 2);
	assert_true(value(f->s, "g", "", "a", "") == 5);
	assert_true(value(f->s, "g", "", "b", "") == 5);
	assert_true(value(f->s, "g", "", "c", "l=\"1\"") == 5);
	assert_false(exists(f->s, "g", "", "d", ""));
	assert_true(value(f->s, "h", "", "q", "") == 2);
	assert_true(value(f->s, "h", "", "r", "a=\"1\",b=\"2\"") == 3);
	assert_false(exists(f->s, "h", "", "w", ""));
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM series WHERE "
	    "name='lat'"), 2);
	why = reasons(f->s);
	assert_string_equal(why, "limits.max_series_per_group: this row would "
	    "add 1 series to a group of 3 (limit 3); raise "
	    "limits.max_series_per_group in the agent's configuration, or "
	    "delete the group to start it afresh (collector-spool delete)|"
	    "limits.max_series_per_group: this row would add 4 series to a "
	    "group of 0 (limit 3); raise limits.max_series_per_group in the "
	    "agent's configuration, or delete the group to start it afresh "
	    "(collector-spool delete)");
	free(why);

	/* Next batch: counted from the state; after a delete in the same
	 * batch the group starts from 0. */
	put(f->s, "g", "", SPOOL_OP_SET, "e 1");
	assert_int_equal(spool_request_delete(f->s, "g", ""), SPOOL_OK);
	put(f->s, "g", "", SPOOL_OP_SET, "e 1\nf 1\ng 1");
	put(f->s, "g", "", SPOOL_OP_SET, "h 1");
	r = fold_all(f->s, &o);
	assert_int_equal(r.rows, 4);
	assert_int_equal(r.rejected, 2);
	assert_false(exists(f->s, "g", "", "a", ""));
	assert_true(value(f->s, "g", "", "e", "") == 1);
	assert_true(value(f->s, "g", "", "g", "") == 1);
	assert_false(exists(f->s, "g", "", "h", ""));
	assert_int_equal(query_int(f->s, "SELECT value FROM meta WHERE "
	    "key='refused_max_series_per_group'"), 4);
}

/* limits.max_series, over all groups; a limit lowered below what the
 * state holds keeps it all and lets existing series change. */
static void
test_limit_series(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;
	char *why;

	memset(&o, 0, sizeof(o));
	o.max_series = 4;
	o.max_series_per_group = 3;
	put(f->s, "g1", "", SPOOL_OP_SET, "a 1\nb 1");
	put(f->s, "g2", "", SPOOL_OP_SET, "c 1\nd 1");
	put(f->s, "g3", "", SPOOL_OP_SET, "e 1");
	put(f->s, "g1", "", SPOOL_OP_SET, "a 2\nx 1\ny 1");
	put(f->s, "g1", "", SPOOL_OP_SET, "a 3");
	r = fold_all(f->s, &o);
	assert_int_equal(r.rejected, 2);
	assert_true(value(f->s, "g1", "", "a", "") == 3);
	assert_true(value(f->s, "g2", "", "d", "") == 1);
	assert_false(exists(f->s, "g3", "", "e", ""));
	/* The group with a row refused was still created? No: nothing of a
	 * refused row is kept. */
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM groups"), 2);
	why = reasons(f->s);
	assert_string_equal(why, "limits.max_series: this row would add 1 "
	    "series to the 4 the spool holds (limit 4); raise "
	    "limits.max_series in the agent's configuration, or delete groups "
	    "no longer needed (collector-spool delete)|"
	    "limits.max_series_per_group: this row would add 2 series to a "
	    "group of 2 (limit 3); raise limits.max_series_per_group in the "
	    "agent's configuration, or delete the group to start it afresh "
	    "(collector-spool delete)");
	free(why);

	/* A delete frees room in the same batch. */
	assert_int_equal(spool_request_delete(f->s, "g2", ""), SPOOL_OK);
	put(f->s, "g3", "", SPOOL_OP_SET, "e 1\nf 1");
	put(f->s, "g3", "", SPOOL_OP_SET, "z 1");
	r = fold_all(f->s, &o);
	assert_int_equal(r.rejected, 1);
	assert_true(value(f->s, "g3", "", "f", "") == 1);
	assert_false(exists(f->s, "g3", "", "z", ""));

	/* Lowered to 1: nothing goes, updates still do, new series not. */
	o.max_series = 1;
	put(f->s, "g1", "", SPOOL_OP_ADD, "a 1\nb 1");
	put(f->s, "g3", "", SPOOL_OP_SET, "n 1");
	r = fold_all(f->s, &o);
	assert_int_equal(r.rejected, 1);
	assert_true(value(f->s, "g1", "", "a", "") == 4);
	assert_true(value(f->s, "g1", "", "b", "") == 2);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM series"), 4);
	assert_int_equal(query_int(f->s, "SELECT value FROM meta WHERE "
	    "key='refused_max_series'"), 3);
	assert_int_equal(query_int(f->s, "SELECT value FROM meta WHERE "
	    "key='refused_max_series_per_group'"), 1);
}

static void
test_versions_and_last_row(void **state)
{
	struct fx *f = *state;

	put(f->s, "a", "", SPOOL_OP_SET, "x 1");
	put(f->s, "a", "", SPOOL_OP_SET, "x 2");
	put(f->s, "b", "", SPOOL_OP_SET, "x 1");
	fold_all(f->s, NULL);
	/* One batch bumps a group's version once. */
	assert_int_equal(query_int(f->s, "SELECT version FROM groups WHERE "
	    "job='a'"), 1);
	put(f->s, "a", "", SPOOL_OP_SET, "x 3");
	fold_all(f->s, NULL);
	assert_int_equal(query_int(f->s, "SELECT version FROM groups WHERE "
	    "job='a'"), 2);
	assert_int_equal(query_int(f->s, "SELECT version FROM groups WHERE "
	    "job='b'"), 1);
	assert_int_equal(query_int(f->s, "SELECT last_row_ms > 1700000000000 "
	    "FROM groups WHERE job='a'"), 1);
}

static void
test_delete(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;

	put(f->s, "j", "i=\"1\"", SPOOL_OP_SET, "# TYPE x gauge\nx 1\ny 2");
	put(f->s, "j", "i=\"2\"", SPOOL_OP_SET, "x 1");
	assert_int_equal(spool_request_delete(f->s, "j", "i=\"1\""), SPOOL_OK);
	put(f->s, "j", "i=\"1\"", SPOOL_OP_ADD, "z 5");
	r = fold_all(f->s, NULL);
	assert_int_equal(r.deletes, 1);
	/* Before the delete: gone. After it: a new group state. */
	assert_false(exists(f->s, "j", "i=\"1\"", "x", ""));
	assert_false(exists(f->s, "j", "i=\"1\"", "y", ""));
	assert_true(value(f->s, "j", "i=\"1\"", "z", "") == 5);
	assert_true(value(f->s, "j", "i=\"2\"", "x", "") == 1);
	assert_int_equal(query_int(f->s, "SELECT delete_pending FROM groups "
	    "WHERE grouping='i=\"1\"'"), 1);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM families WHERE "
	    "name='x' AND group_id=(SELECT id FROM groups WHERE "
	    "grouping='i=\"1\"')"), 0);
	/* A delete of a group the spool never saw still reaches the
	 * gateway: it may hold the group from before. */
	assert_int_equal(spool_request_delete(f->s, "old", ""), SPOOL_OK);
	fold_all(f->s, NULL);
	assert_int_equal(query_int(f->s, "SELECT delete_pending FROM groups "
	    "WHERE job='old'"), 1);
}

static void
test_abort_leaves_nothing(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;

	put(f->s, "j", "", SPOOL_OP_ADD, "c 1");
	fold_all(f->s, NULL);
	for (int i = 0; i < 10; i++)
		put(f->s, "j", "", SPOOL_OP_ADD, "c 1\nd 1");
	sql_insert(f->s, "j", "", "set", "bad 1 2");
	memset(&o, 0, sizeof(o));
	spool_test_fail_fold_after(f->s, 7);
	assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_EIO);
	assert_int_equal(r.rows, 0);
	/* Nothing of the failed batch: state, inbox and rejects as before. */
	assert_true(value(f->s, "j", "", "c", "") == 1);
	assert_false(exists(f->s, "j", "", "d", ""));
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM inbox"), 11);
	assert_int_equal(query_int(f->s, "SELECT version FROM groups"), 1);
	r = fold_all(f->s, NULL);
	assert_int_equal(r.rows, 11);
	assert_int_equal(r.rejected, 1);
	assert_true(value(f->s, "j", "", "c", "") == 11);
	assert_true(value(f->s, "j", "", "d", "") == 10);
}

static void
test_batches(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;
	int batches = 0;

	assert_int_equal(spool_batch_begin(f->s), SPOOL_OK);
	for (int i = 0; i < 2500; i++)
		put(f->s, "j", "", SPOOL_OP_ADD, "c 1");
	assert_int_equal(spool_batch_commit(f->s), SPOOL_OK);
	memset(&o, 0, sizeof(o));
	o.max_rows = 1000;
	for (;;) {
		assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_OK);
		if (r.rows == 0)
			break;
		batches++;
		assert_true(r.rows <= 1000);
	}
	assert_int_equal(batches, 3);
	assert_true(value(f->s, "j", "", "c", "") == 2500);
}

/* Many small folds and then folds of an empty inbox: each add counted once,
 * whether a library put or a plain-SQL insert wrote it. */
static void
test_folds_never_count_twice(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;

	for (int i = 0; i < 3; i++) {
		put(f->s, "j", "", SPOOL_OP_ADD, "c_total 1");
		sql_insert(f->s, "j", "", "add", "c_total 1");
	}
	memset(&o, 0, sizeof(o));
	o.max_rows = 2;
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_OK);
		assert_int_equal(r.rows, 2);
		assert_true(value(f->s, "j", "", "c_total", "") == 2 * i);
	}
	for (int i = 0; i < 5; i++) {
		assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_OK);
		assert_int_equal(r.rows, 0);
	}
	assert_true(value(f->s, "j", "", "c_total", "") == 6);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM inbox"), 0);
}

/* Replaces the spool's inbox with a table of a writer's own. */
static void
replace_inbox(spool_t *s, const char *sql)
{
	sqlite3 *db;
	char *err = NULL;

	assert_int_equal(sqlite3_open(spool_path(s), &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
}

/* An inbox replaced after the agent made it, so that its ids are not the
 * rowid: the fold refuses it rather than count a row again, and keeps the
 * rows. */
static void
test_foreign_inbox_refused(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;

	replace_inbox(f->s, "DROP TABLE inbox; CREATE TABLE inbox(id INTEGER,"
	    " job, grouping, op, body, received_ms);"
	    "INSERT INTO inbox VALUES (NULL, 'j', '', 'add', 'c_total 1', 0)");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(spool_fold(f->s, NULL, &r), SPOOL_ENOTSPOOL);
		assert_int_equal(r.rows, 0);
		assert_non_null(strstr(spool_errmsg(f->s), "a row whose id is "
		    "NULL or not an integer"));
		assert_non_null(strstr(spool_errmsg(f->s), "INTEGER PRIMARY "
		    "KEY"));
	}
	assert_false(exists(f->s, "j", "", "c_total", ""));
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM inbox"), 1);

	/* Repeated ids: deleting by id would take both rows, whichever was
	 * read. */
	replace_inbox(f->s, "DELETE FROM inbox;"
	    "INSERT INTO inbox VALUES (4, 'j', '', 'add', 'c_total 1', 0);"
	    "INSERT INTO inbox VALUES (4, 'j', '', 'add', 'c_total 1', 0)");
	for (int i = 0; i < 3; i++) {
		assert_int_equal(spool_fold(f->s, NULL, &r), SPOOL_ENOTSPOOL);
		assert_non_null(strstr(spool_errmsg(f->s), "inbox id 4 is used "
		    "by more than one row"));
	}
	/* The same when the batch ends between the two: the count of rows
	 * deleted tells. */
	memset(&o, 0, sizeof(o));
	o.max_rows = 1;
	assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_ENOTSPOOL);
	assert_non_null(strstr(spool_errmsg(f->s), "removing ids 4 to 4 took "
	    "2 rows, not the 1 read"));
	assert_false(exists(f->s, "j", "", "c_total", ""));
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM inbox"), 2);
}

static void
test_bad_options(void **state)
{
	struct fx *f = *state;
	static const double b[] = { 1, 0.5 };
	spool_buckets hb = { .name = "h", .bounds = b, .n = 2 };
	spool_fold_options o;
	spool_fold_result r;

	memset(&o, 0, sizeof(o));
	o.buckets = &hb;
	o.nbuckets = 1;
	assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_EINVAL);
	assert_string_equal(spool_errmsg(f->s), "histogram h: bucket bounds "
	    "must be finite and strictly increasing");
	memset(&o, 0, sizeof(o));
	o.default_grouping = "bad";
	assert_int_equal(spool_fold(f->s, &o, &r), SPOOL_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_and_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels_canonical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_observe_default_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_observe_configured_buckets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_observe_needs_histogram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_family_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_family_resolution, setup, teardown),
		cmocka_unit_test_setup_teardown(test_name_collisions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected_reason_as_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_series_per_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_series, setup, teardown),
		cmocka_unit_test_setup_teardown(test_versions_and_last_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folds_never_count_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_inbox_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
	};

	return cmocka_run_group_tests_name("fold", tests, NULL, NULL);
}
