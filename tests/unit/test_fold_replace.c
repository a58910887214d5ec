/* The replace op: its body becomes the group's whole state, in the order
 * of the rows around it (within a batch and across batches), with what a
 * delete request, a refusal, histograms and the limits make of it. */
#include "foldfx.h"

/* A query on the state of group job/grouping (both plain SQL text, no
 * quote in them): WHAT selects one text per row of TABLE (f: families,
 * s: series), ORDER its order; the rows joined by '|', "" for none.
 * Caller frees. */
static char *
group_rows(spool_t *s, const char *job, const char *grouping,
    const char *table, const char *what, const char *order)
{
	char sql[1024];
	char *t;

	snprintf(sql, sizeof(sql), "SELECT group_concat(x, '|') FROM (SELECT "
	    "%s AS x FROM %s JOIN groups g ON g.id = group_id WHERE g.job = "
	    "'%s' AND g.grouping = '%s' ORDER BY %s)", what, table, job,
	    grouping, order);
	t = query_text(s, sql);
	return t != NULL ? t : strdup("");
}

/* The group's families, "name:type:typed:help" ('-' for no HELP). */
static char *
fams(spool_t *s, const char *job, const char *grouping)
{
	return group_rows(s, job, grouping, "families", "name || ':' || type "
	    "|| ':' || typed || ':' || ifnull(help, '-')", "name");
}

/* The group's series, "name{labels}=value" or "name{labels}=hist". */
static char *
sers(spool_t *s, const char *job, const char *grouping)
{
	return group_rows(s, job, grouping, "series", "name || '{' || labels "
	    "|| '}=' || ifnull(hist, printf('%g', value))", "name, labels");
}

/* Asserts the group's families and series, as fams() and sers() give
 * them. */
#define assert_state(s, job, grouping, want_fams, want_sers)                 \
	do {                                                                 \
		char *fa_ = fams((s), (job), (grouping));                    \
		char *se_ = sers((s), (job), (grouping));                    \
		assert_string_equal(fa_, (want_fams));                       \
		assert_string_equal(se_, (want_sers));                       \
		free(fa_);                                                   \
		free(se_);                                                   \
	} while (0)

static long long
group_col(spool_t *s, const char *job, const char *grouping, const char *col)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "SELECT %s FROM groups WHERE job = '%s' "
	    "AND grouping = '%s'", col, job, grouping);
	return query_int(s, sql);
}

/* The op's name both ways, and what a put checks of a replace body: read
 * as a set body, but it may be empty. */
static void
test_replace_op_name(void **state)
{
	spool_op op = SPOOL_OP_SET;
	const char *t;
	char err[256];

	(void)state;
	assert_string_equal(spool_op_name(SPOOL_OP_REPLACE), "replace");
	assert_int_equal(spool_op_parse("replace", &op), SPOOL_OK);
	assert_int_equal(op, SPOOL_OP_REPLACE);
	assert_int_equal(spool_op_parse("Replace", &op), SPOOL_EPARSE);
	assert_int_equal(spool_validate_body(SPOOL_OP_REPLACE, "", 0, err,
	    sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_validate_body(SPOOL_OP_REPLACE, "# hi\n\n", 6,
	    err, sizeof(err)), SPOOL_OK);
	assert_int_equal(spool_validate_body(SPOOL_OP_SET, "", 0, err,
	    sizeof(err)), SPOOL_EPARSE);
	assert_int_equal(spool_validate_body(SPOOL_OP_REPLACE, "a 1 17", 6, err,
	    sizeof(err)), SPOOL_EPARSE);
	assert_string_equal(err, "line 1: timestamps are not allowed (the "
	    "Pushgateway rejects them)");
	/* A histogram's samples, checked as a set's are. */
	t = "# TYPE h histogram\nh_bucket 1\n";
	assert_int_equal(spool_validate_body(SPOOL_OP_REPLACE, t, strlen(t),
	    err, sizeof(err)), SPOOL_EPARSE);
	assert_string_equal(err, "line 2: histogram h: a bucket needs an le "
	    "label (the Pushgateway drops a bucket without one)");
}

/* Across batches: series and families the body does not name go, HELP and
 * TYPE with them; the group's version moves and no delete is asked. */
static void
test_replace_across_batches(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;

	put(f->s, "j", "i=\"1\"", SPOOL_OP_SET, "# HELP a the a\n# TYPE a gauge"
	    "\na 1\n# HELP b the b\n# TYPE b counter\nb{x=\"1\"} 2\n"
	    "b{x=\"2\"} 3\n");
	put(f->s, "j", "i=\"1\"", SPOOL_OP_OBSERVE, "h 0.2\n");
	put(f->s, "j", "", SPOOL_OP_SET, "other 1\n");
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 3);
	assert_int_equal(group_col(f->s, "j", "i=\"1\"", "version"), 1);
	assert_int_equal(spool_group_pushed(f->s, 1, 1), SPOOL_OK);

	put(f->s, "j", "i=\"1\"", SPOOL_OP_REPLACE, "# TYPE a gauge\na 5\n");
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 1);
	assert_int_equal(r.lines, 1);
	assert_int_equal(r.groups, 1);
	assert_int_equal(r.deletes, 0);
	assert_int_equal(r.rejected, 0);
	assert_state(f->s, "j", "i=\"1\"", "a:gauge:1:-", "a{}=5");
	assert_int_equal(group_col(f->s, "j", "i=\"1\"", "version"), 2);
	assert_int_equal(group_col(f->s, "j", "i=\"1\"", "pushed_version"), 1);
	assert_int_equal(group_col(f->s, "j", "i=\"1\"", "delete_pending"), 0);
	/* The other group is as it was. */
	assert_state(f->s, "j", "", "other:untyped:0:-", "other{}=1");
	assert_int_equal(group_col(f->s, "j", "", "version"), 1);

	/* The observed histogram went with the rest: observing it again
	 * starts it afresh. */
	put(f->s, "j", "i=\"1\"", SPOOL_OP_OBSERVE, "h 0.2\n");
	(void)fold_once(f->s, NULL);
	assert_state(f->s, "j", "i=\"1\"", "a:gauge:1:-|h:histogram:1:-",
	    "a{}=5|h{}=b=0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10;"
	    "c=0,0,0,0,0,1,0,0,0,0,0,0;s=0.2");
}

/* Within one batch the rows apply in order: a replace drops what came
 * before it for its group (set, add and observe alike, made in the batch
 * or not), and the rows after it build on it. Other groups' rows on both
 * sides count. */
static void
test_replace_mid_batch(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;

	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE old counter\nold 1\n");
	(void)fold_once(f->s, NULL);

	put(f->s, "j", "", SPOOL_OP_SET, "a 1\n");
	put(f->s, "j", "", SPOOL_OP_ADD, "a 2\nold 1\n");
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "h 0.5\n");
	put(f->s, "k", "", SPOOL_OP_ADD, "o 1\n");
	put(f->s, "j", "", SPOOL_OP_REPLACE, "# HELP c the c\nc 3\na 10\n");
	put(f->s, "j", "", SPOOL_OP_ADD, "c 1\n");
	put(f->s, "k", "", SPOOL_OP_ADD, "o 1\n");
	/* A group the batch makes, then replaces. */
	put(f->s, "n", "", SPOOL_OP_SET, "x 1\ny 1\n");
	put(f->s, "n", "", SPOOL_OP_REPLACE, "y 2\n");
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 9);
	assert_int_equal(r.rejected, 0);
	assert_int_equal(r.deletes, 0);
	assert_int_equal(r.groups, 3);
	assert_int_equal(r.lines, 12);
	assert_state(f->s, "j", "", "a:untyped:0:-|c:untyped:0:the c",
	    "a{}=10|c{}=4");
	assert_state(f->s, "k", "", "o:untyped:0:-", "o{}=2");
	assert_state(f->s, "n", "", "y:untyped:0:-", "y{}=2");
	/* One batch: each version rose once. */
	assert_int_equal(group_col(f->s, "j", "", "version"), 2);
	assert_int_equal(group_col(f->s, "n", "", "version"), 1);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM series"), 4);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM inbox"), 0);

	/* Two replaces in a row: the last one is the state. */
	put(f->s, "j", "", SPOOL_OP_REPLACE, "p 1\n");
	put(f->s, "j", "", SPOOL_OP_REPLACE, "q 2\n");
	(void)fold_once(f->s, NULL);
	assert_state(f->s, "j", "", "q:untyped:0:-", "q{}=2");
}

/* The state read as a sink reads it: for the has_series of the group
 * list. */
static int
find_group(const spool_group *g, void *arg)
{
	spool_group *want = arg;

	if (strcmp(g->job, want->job) != 0 ||
	    strcmp(g->grouping, want->grouping) != 0)
		return 0;
	want->id = g->id;
	want->version = g->version;
	want->pushed_version = g->pushed_version;
	want->delete_pending = g->delete_pending;
	want->has_series = g->has_series;
	return 1;
}

static spool_group
listed(spool_t *s, const char *job, const char *grouping)
{
	spool_group g;

	memset(&g, 0, sizeof(g));
	g.job = job;
	g.grouping = grouping;
	assert_int_equal(spool_groups_each(s, find_group, &g), SPOOL_OK);
	if (g.id == 0)
		fail_msg("no group %s/%s", job, grouping);
	return g;
}

/* An empty replace (an empty body, only comments, or NULL from SQL)
 * empties the group and keeps it: no series, no families, a new version
 * to push. On a group the spool does not hold, it makes one, empty. */
static void
test_replace_empty(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;
	spool_group g;

	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE a gauge\na 1\nb 2\n");
	put(f->s, "k", "", SPOOL_OP_SET, "c 1\n");
	(void)fold_once(f->s, NULL);
	assert_int_equal(spool_group_pushed(f->s, listed(f->s, "j", "").id, 1),
	    SPOOL_OK);

	put(f->s, "j", "", SPOOL_OP_REPLACE, "");
	put(f->s, "k", "", SPOOL_OP_REPLACE, "# nothing here\n\n");
	sql_insert(f->s, "fresh", "", "replace", NULL);
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 3);
	assert_int_equal(r.rejected, 0);
	assert_int_equal(r.lines, 0);
	assert_int_equal(r.groups, 3);
	assert_int_equal(r.deletes, 0);
	assert_state(f->s, "j", "", "", "");
	assert_state(f->s, "k", "", "", "");
	assert_state(f->s, "fresh", "", "", "");
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM groups"), 3);
	g = listed(f->s, "j", "");
	assert_int_equal(g.version, 2);
	assert_int_equal(g.pushed_version, 1);
	assert_int_equal(g.has_series, 0);
	assert_int_equal(g.delete_pending, 0);
	g = listed(f->s, "fresh", "");
	assert_int_equal(g.version, 1);
	assert_int_equal(g.has_series, 0);
	/* The empty group can be filled again. */
	put(f->s, "j", "", SPOOL_OP_ADD, "a 2\n");
	(void)fold_once(f->s, NULL);
	assert_state(f->s, "j", "", "a:untyped:0:-", "a{}=2");
}

/* A replace after a delete request drops the request: its PUT replaces
 * the gateway's whole group, as the DELETE would have. So an empty one
 * keeps the group, and one folded while the agent's DELETE was on its way
 * is pushed whole afterwards. */
static void
test_replace_pending_delete(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;
	spool_group g;
	int dropped = -1;

	put(f->s, "j", "", SPOOL_OP_SET, "a 1\n");
	put(f->s, "e", "", SPOOL_OP_SET, "a 1\n");
	put(f->s, "m", "", SPOOL_OP_SET, "a 1\n");
	(void)fold_once(f->s, NULL);
	assert_int_equal(spool_request_delete(f->s, "j", ""), SPOOL_OK);
	assert_int_equal(spool_request_delete(f->s, "e", ""), SPOOL_OK);
	r = fold_once(f->s, NULL);
	assert_int_equal(r.deletes, 2);
	assert_int_equal(group_col(f->s, "j", "", "delete_pending"), 1);

	/* Across batches. */
	put(f->s, "j", "", SPOOL_OP_REPLACE, "b 2\n");
	put(f->s, "e", "", SPOOL_OP_REPLACE, "");
	/* In one batch: delete, then replace. */
	assert_int_equal(spool_request_delete(f->s, "m", ""), SPOOL_OK);
	put(f->s, "m", "", SPOOL_OP_REPLACE, "");
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 4);
	assert_int_equal(r.deletes, 1);
	assert_int_equal(r.rejected, 0);
	assert_state(f->s, "j", "", "b:untyped:0:-", "b{}=2");
	assert_state(f->s, "e", "", "", "");
	assert_state(f->s, "m", "", "", "");
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM groups WHERE "
	    "delete_pending"), 0);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM groups"), 3);

	/* The agent listed e with its request at version 2, sent the
	 * DELETE, and the replace was folded meanwhile: the group stays,
	 * to be pushed whole. */
	g = listed(f->s, "e", "");
	assert_int_equal(g.version, 3);
	assert_int_equal(spool_group_deleted(f->s, g.id, 2, &dropped),
	    SPOOL_OK);
	assert_int_equal(dropped, 0);
	g = listed(f->s, "e", "");
	assert_int_equal(g.pushed_version, 0);
	assert_int_equal(g.version, 3);
}

/* A replace with a line refused is refused whole, as any row: the state
 * stays as it was. What the state would have refused of a set (a TYPE
 * conflict, a collision with a family of the group) is not in the way of
 * a replace, which drops that state; what the body itself holds is. */
static void
test_replace_refused(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;
	char *why;

	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE a counter\na 1\nh_count 4\n");
	(void)fold_once(f->s, NULL);

	/* spool_put() refuses it; a writer in SQL can write it. */
	sql_insert(f->s, "j", "", "replace", "a 2\nbroken{ 1\n");
	sql_insert(f->s, "j", "", "replace", "# TYPE x gauge\n# TYPE x gauge\n"
	    "x 1\n");
	sql_insert(f->s, "j", "", "replace", "# TYPE h histogram\n"
	    "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n# TYPE h_count "
	    "gauge\n");
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 3);
	assert_int_equal(r.rejected, 3);
	assert_state(f->s, "j", "", "a:counter:1:-|h_count:untyped:0:-",
	    "a{}=1|h_count{}=4");
	assert_int_equal(group_col(f->s, "j", "", "version"), 1);
	why = query_text(f->s, "SELECT group_concat(reason, '|') FROM (SELECT "
	    "reason FROM rejected ORDER BY id)");
	assert_string_equal(why, "line 2: invalid label name (must match "
	    "[a-zA-Z_][a-zA-Z0-9_]*)|line 2: second TYPE line for this metric|"
	    "line 5: h_count collides with histogram h, whose h_count samples "
	    "it would hide (the gateway refuses the group): rename one of "
	    "them");
	free(why);

	/* A set could not change a's type nor make h a histogram beside
	 * the family h_count; a replace can. */
	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE a gauge\na 2\n");
	put(f->s, "j", "", SPOOL_OP_REPLACE, "# TYPE a gauge\na 2\n"
	    "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1.5\n"
	    "h_count 3\n");
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 2);
	assert_int_equal(r.rejected, 1);
	assert_state(f->s, "j", "", "a:gauge:1:-|h:histogram:1:-",
	    "a{}=2|h_bucket{le=\"+Inf\"}=3|h_count{}=3|h_sum{}=1.5");
}

/* A replace body is read as a set body: histogram samples written out
 * (NAME_bucket, _sum, _count) under a TYPE line make a histogram family
 * of set values, not an observed state; without the TYPE line they are
 * untyped families of their own names, as in a set. */
static void
test_replace_histograms(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;

	put(f->s, "j", "", SPOOL_OP_OBSERVE, "lat 0.3\nlat 7\n");
	(void)fold_once(f->s, NULL);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM series WHERE "
	    "hist IS NOT NULL"), 1);

	put(f->s, "j", "", SPOOL_OP_REPLACE, "# HELP lat Latency.\n"
	    "# TYPE lat histogram\nlat_bucket{le=\"0.5\"} 1\n"
	    "lat_bucket{le=\"+Inf\"} 2\nlat_sum 7.3\nlat_count 2\n");
	put(f->s, "k", "", SPOOL_OP_REPLACE, "lat_bucket{le=\"1\"} 1\n");
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rejected, 0);
	assert_int_equal(r.lines, 5);
	assert_state(f->s, "j", "", "lat:histogram:1:Latency.",
	    "lat_bucket{le=\"+Inf\"}=2|lat_bucket{le=\"0.5\"}=1|"
	    "lat_count{}=2|lat_sum{}=7.3");
	assert_state(f->s, "k", "", "lat_bucket:untyped:0:-",
	    "lat_bucket{le=\"1\"}=1");
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM series WHERE "
	    "hist IS NOT NULL"), 0);
}

/* The limits: a replace leaves the group exactly its body's series, so a
 * body of more than max_series_per_group is refused, as a set that grew
 * the group so far would be; one that shrinks the group frees its series
 * for other rows of the same batch; one that does not grow the group is
 * never refused, even past a limit lowered since. */
static void
test_replace_limits(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;
	char *why;

	memset(&o, 0, sizeof(o));
	put(f->s, "g", "", SPOOL_OP_SET, "a 1\nb 1\nc 1\n");
	put(f->s, "h", "", SPOOL_OP_SET, "p 1\n");
	(void)fold_once(f->s, &o);

	o.max_series_per_group = 3;
	o.max_series = 5;
	o.max_groups = 3;
	put(f->s, "g", "", SPOOL_OP_REPLACE, "a 1\nb 1\nc 1\nd 1\n");
	put(f->s, "g", "", SPOOL_OP_REPLACE, "x 1\nx 2\ny 1\n");
	/* The freed series: h may grow to 3 (5 in all). */
	put(f->s, "h", "", SPOOL_OP_SET, "q 1\nr 1\n");
	put(f->s, "k", "", SPOOL_OP_SET, "t 1\n");
	/* Growing g again past max_series: refused. */
	put(f->s, "g", "", SPOOL_OP_REPLACE, "x 1\ny 1\nz 1\n");
	/* Another two series in place of g's: no growth. */
	put(f->s, "g", "", SPOOL_OP_REPLACE, "u 1\nv 1\n");
	r = fold_once(f->s, &o);
	assert_int_equal(r.rows, 6);
	assert_int_equal(r.rejected, 3);
	assert_state(f->s, "g", "", "u:untyped:0:-|v:untyped:0:-",
	    "u{}=1|v{}=1");
	assert_state(f->s, "h", "", "p:untyped:0:-|q:untyped:0:-|"
	    "r:untyped:0:-", "p{}=1|q{}=1|r{}=1");
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM series"), 5);
	why = query_text(f->s, "SELECT group_concat(reason, '|') FROM (SELECT "
	    "reason FROM rejected ORDER BY id)");
	assert_string_equal(why, "limits.max_series_per_group: this replace "
	    "would leave 4 series in a group that may have 3 (it has 3); raise "
	    "limits.max_series_per_group in the agent's configuration, or "
	    "split the series among groups|"
	    "limits.max_series: this row would add 1 series to the 5 the spool "
	    "holds (limit 5); raise limits.max_series in the agent's "
	    "configuration, or delete groups no longer needed (collector-spool "
	    "delete)|"
	    "limits.max_series: this replace would add 1 series to the 5 the "
	    "spool holds (limit 5); raise limits.max_series in the agent's "
	    "configuration, or delete groups no longer needed (collector-spool "
	    "delete)");
	free(why);
	assert_int_equal(query_int(f->s, "SELECT value FROM meta WHERE "
	    "key='refused_max_series'"), 2);
	assert_int_equal(query_int(f->s, "SELECT value FROM meta WHERE "
	    "key='refused_max_series_per_group'"), 1);

	/* Limits lowered below what the groups hold: a replace that does
	 * not grow its group goes through, one that does is refused. */
	o.max_series_per_group = 1;
	o.max_series = 2;
	put(f->s, "h", "", SPOOL_OP_REPLACE, "p 2\nq 2\nr 2\n");
	put(f->s, "g", "", SPOOL_OP_REPLACE, "u 3\n");
	put(f->s, "g", "", SPOOL_OP_REPLACE, "u 4\nw 4\n");
	/* A new group counts against max_groups as a set does (g, h and
	 * k's refused row made none: 2 groups, so 1 more). */
	put(f->s, "n1", "", SPOOL_OP_REPLACE, "");
	put(f->s, "n2", "", SPOOL_OP_REPLACE, "");
	r = fold_once(f->s, &o);
	assert_int_equal(r.rows, 5);
	assert_int_equal(r.rejected, 2);
	assert_state(f->s, "h", "", "p:untyped:0:-|q:untyped:0:-|"
	    "r:untyped:0:-", "p{}=2|q{}=2|r{}=2");
	assert_state(f->s, "g", "", "u:untyped:0:-", "u{}=3");
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM groups"), 3);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM groups WHERE "
	    "job = 'n1'"), 1);
	why = query_text(f->s, "SELECT group_concat(substr(reason, 1, 40), "
	    "'|') FROM (SELECT reason FROM rejected WHERE id > 3 ORDER BY "
	    "id)");
	assert_string_equal(why, "limits.max_series_per_group: this replac|"
	    "limits.max_groups: the spool holds 3 gro");
	free(why);
}

/* A body of more samples than pass 1 keeps for pass 2 (1,024): the rest
 * is resolved again after the state was dropped, against what the body
 * made of it, as pass 1 found it. */
static void
test_replace_long_row(void **state)
{
	struct fx *f = *state;
	const size_t n = 1500;
	size_t cap = n * 40 + 256, o = 0;
	char *b = malloc(cap), *t;
	spool_fold_result r;

	assert_non_null(b);
	put(f->s, "j", "", SPOOL_OP_SET, "# TYPE s gauge\ns 1\n# TYPE h_count "
	    "gauge\nh_count 9\n");
	(void)fold_once(f->s, NULL);

	o += (size_t)snprintf(b + o, cap - o, "# TYPE h histogram\n");
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(b + o, cap - o, "r{i=\"%zu\"} %zu\n", i,
		    i);
	snprintf(b + o, cap - o, "h_bucket{le=\"+Inf\"} 2\nh_sum 3\n"
	    "h_count 2\n");
	put(f->s, "j", "", SPOOL_OP_REPLACE, b);
	free(b);
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rejected, 0);
	assert_int_equal(r.lines, n + 3);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM series"),
	    (long long)n + 3);
	assert_true(value(f->s, "j", "", "r", "i=\"1499\"") == 1499);
	assert_false(exists(f->s, "j", "", "s", ""));
	assert_true(value(f->s, "j", "", "h_count", "") == 2);
	t = fams(f->s, "j", "");
	assert_string_equal(t, "h:histogram:1:-|r:untyped:0:-");
	free(t);
}

/* A replace written with plain SQL, as a writer in another language
 * would; a misspelt op is refused with the list of ops. */
static void
test_replace_sql(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;
	char *why;

	sql_insert(f->s, "j", NULL, "set", "a 1\nb 1\n");
	sql_insert(f->s, "j", NULL, "replace", "b 2\n");
	sql_insert(f->s, "j", NULL, "REPLACE", "c 2\n");
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 3);
	assert_int_equal(r.rejected, 1);
	assert_state(f->s, "j", "", "b:untyped:0:-", "b{}=2");
	why = query_text(f->s, "SELECT reason FROM rejected");
	assert_string_equal(why, "unknown op 'REPLACE' (set, add, observe, "
	    "delete or replace)");
	free(why);
}

/* A batch that fails after a replace is rolled back whole: the state it
 * dropped is back. */
static void
test_replace_rollback(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;

	put(f->s, "j", "", SPOOL_OP_SET, "a 1\nb 1\n");
	(void)fold_once(f->s, NULL);
	put(f->s, "j", "", SPOOL_OP_REPLACE, "c 1\n");
	put(f->s, "j", "", SPOOL_OP_SET, "d 1\n");
	spool_test_fail_fold_after(f->s, 2);
	assert_int_equal(spool_fold(f->s, NULL, &r), SPOOL_EIO);
	assert_state(f->s, "j", "", "a:untyped:0:-|b:untyped:0:-",
	    "a{}=1|b{}=1");
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM inbox"), 2);
	(void)fold_once(f->s, NULL);
	assert_state(f->s, "j", "", "c:untyped:0:-|d:untyped:0:-",
	    "c{}=1|d{}=1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace_op_name),
		cmocka_unit_test_setup_teardown(test_replace_across_batches,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_mid_batch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replace_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replace_pending_delete,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replace_histograms, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replace_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replace_long_row, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replace_sql, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_replace_rollback, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("fold_replace", tests, NULL, NULL);
}
