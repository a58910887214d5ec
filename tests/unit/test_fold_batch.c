/* The fold's batch: many rows on the same series in one call, a delete
 * between them, limits crossed in the middle, the caps that end a batch,
 * and rows longer than what pass 1 keeps for pass 2. */
#include "foldfx.h"

/* A body of n lines NAME{i="PREFIXk"} 1, k from 0; caller frees. */
static char *
lines(size_t n, const char *name, const char *prefix)
{
	size_t cap = n * (strlen(name) + strlen(prefix) + 32) + 1, o = 0;
	char *b = malloc(cap);

	assert_non_null(b);
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(b + o, cap - o, "%s{i=\"%s%zu\"} 1\n", name,
		    prefix, i);
		assert_true(w > 0 && (size_t)w < cap - o);
		o += (size_t)w;
	}
	return b;
}

/* Many rows on the same series in one call apply in their order: adds
 * add up (within a row too), a set in between replaces, observations
 * accumulate; label order does not make another series. */
static void
test_mixed_ops_one_batch(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;
	char *h;

	put(f->s, "j", "", SPOOL_OP_ADD, "c{a=\"1\",b=\"2\"} 2");
	put(f->s, "j", "", SPOOL_OP_ADD, "c{b=\"2\",a=\"1\"} 3\n"
	    "c{a=\"1\",b=\"2\"} 1\n");
	put(f->s, "j", "", SPOOL_OP_SET, "c{a=\"1\",b=\"2\"} 10\n"
	    "x{l=\"a#b\"} 1\n");
	put(f->s, "j", "", SPOOL_OP_ADD, "c{a=\"1\",b=\"2\"} 1\nx{l=\"a#b\"} 2");
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "h 0.1\nh 2\n");
	put(f->s, "j", "", SPOOL_OP_SET, "g 1\n");
	put(f->s, "j", "", SPOOL_OP_OBSERVE, "h 0.1\n");
	put(f->s, "j", "", SPOOL_OP_ADD, "g 1\n");
	put(f->s, "j", "", SPOOL_OP_SET, "g 7\n");
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 9);
	assert_int_equal(r.lines, 13);
	assert_int_equal(r.rejected, 0);
	assert_int_equal(r.groups, 1);
	assert_true(value(f->s, "j", "", "c", "a=\"1\",b=\"2\"") == 11);
	assert_true(value(f->s, "j", "", "x", "l=\"a#b\"") == 3);
	assert_true(value(f->s, "j", "", "g", "") == 7);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM series"), 4);
	h = query_text(f->s, "SELECT hist FROM series WHERE name = 'h'");
	assert_string_equal(h, "b=0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10;"
	    "c=0,0,0,0,2,0,0,0,1,0,0,0;s=2.2");
	free(h);
	/* One batch: the group's version rose once. */
	assert_int_equal(query_int(f->s, "SELECT version FROM groups"), 1);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM inbox"), 0);
}

/* A delete request in the middle of a batch drops what came before it,
 * state and cache alike (a series made in the same batch too), and the
 * rows after it start the group afresh. */
static void
test_delete_mid_batch(void **state)
{
	struct fx *f = *state;
	spool_fold_result r;

	put(f->s, "j", "i=\"1\",k=\"2\"", SPOOL_OP_SET, "# TYPE x gauge\nx 1\n"
	    "y 2\n");
	put(f->s, "j", "", SPOOL_OP_SET, "o 1\n");
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 2);

	put(f->s, "j", "i=\"1\",k=\"2\"", SPOOL_OP_ADD, "x 5\n");
	put(f->s, "j", "k=\"2\",i=\"1\"", SPOOL_OP_SET, "z 1\n");
	put(f->s, "j", "", SPOOL_OP_ADD, "o 1\n");
	assert_int_equal(spool_request_delete(f->s, "j", "i=\"1\",k=\"2\""),
	    SPOOL_OK);
	put(f->s, "j", "k=\"2\",i=\"1\"", SPOOL_OP_ADD, "x 2\n");
	put(f->s, "j", "i=\"1\",k=\"2\"", SPOOL_OP_SET, "w 1\n");
	put(f->s, "j", "", SPOOL_OP_ADD, "o 1\n");
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 7);
	assert_int_equal(r.deletes, 1);
	assert_int_equal(r.rejected, 0);
	assert_true(value(f->s, "j", "i=\"1\",k=\"2\"", "x", "") == 2);
	assert_true(value(f->s, "j", "i=\"1\",k=\"2\"", "w", "") == 1);
	assert_false(exists(f->s, "j", "i=\"1\",k=\"2\"", "y", ""));
	assert_false(exists(f->s, "j", "i=\"1\",k=\"2\"", "z", ""));
	/* The other group's rows on both sides of the delete both count. */
	assert_true(value(f->s, "j", "", "o", "") == 3);
	/* The TYPE went with the state: x is a new, untyped family. */
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM families f "
	    "JOIN groups g ON g.id = f.group_id WHERE g.grouping != '' AND "
	    "f.typed = 1"), 0);
	assert_int_equal(query_int(f->s, "SELECT delete_pending FROM groups "
	    "WHERE grouping != ''"), 1);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM groups"), 2);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM series"), 3);
}

/* Limits crossed in the middle of a batch: the counts include what the
 * batch made before (still in its cache, not yet written), and rows
 * that only change series go through. */
static void
test_limits_mid_batch(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;
	char *why;

	memset(&o, 0, sizeof(o));
	o.max_series_per_group = 3;
	o.max_series = 5;
	put(f->s, "g", "", SPOOL_OP_SET, "a 1\n");
	r = fold_once(f->s, &o);
	assert_int_equal(r.rows, 1);

	put(f->s, "g", "", SPOOL_OP_ADD, "a 1\n");
	put(f->s, "g", "", SPOOL_OP_SET, "b 1\nc 1\n");
	put(f->s, "g", "", SPOOL_OP_SET, "d 1\n");
	put(f->s, "g", "", SPOOL_OP_ADD, "a 1\nb 1\n");
	put(f->s, "h", "", SPOOL_OP_SET, "p 1\nq 1\n");
	put(f->s, "k", "", SPOOL_OP_SET, "r 1\n");
	put(f->s, "h", "", SPOOL_OP_SET, "p 2\n");
	put(f->s, "h", "", SPOOL_OP_SET, "s 1\n");
	r = fold_once(f->s, &o);
	assert_int_equal(r.rows, 8);
	assert_int_equal(r.rejected, 3);
	assert_true(value(f->s, "g", "", "a", "") == 3);
	assert_true(value(f->s, "g", "", "b", "") == 2);
	assert_true(value(f->s, "g", "", "c", "") == 1);
	assert_false(exists(f->s, "g", "", "d", ""));
	assert_true(value(f->s, "h", "", "p", "") == 2);
	assert_true(value(f->s, "h", "", "q", "") == 1);
	assert_false(exists(f->s, "h", "", "s", ""));
	assert_false(exists(f->s, "k", "", "r", ""));
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM groups"), 2);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM series"), 5);
	why = query_text(f->s, "SELECT group_concat(reason, '|') FROM (SELECT "
	    "reason FROM rejected ORDER BY id)");
	assert_string_equal(why, "limits.max_series_per_group: this row would "
	    "add 1 series to a group of 3 (limit 3); raise "
	    "limits.max_series_per_group in the agent's configuration, or "
	    "delete the group to start it afresh (collector-spool delete)|"
	    "limits.max_series: this row would add 1 series to the 5 the spool "
	    "holds (limit 5); raise limits.max_series in the agent's "
	    "configuration, or delete groups no longer needed (collector-spool "
	    "delete)|"
	    "limits.max_series: this row would add 1 series to the 5 the spool "
	    "holds (limit 5); raise limits.max_series in the agent's "
	    "configuration, or delete groups no longer needed (collector-spool "
	    "delete)");
	free(why);
	assert_int_equal(query_int(f->s, "SELECT value FROM meta WHERE "
	    "key='refused_max_series'"), 2);
	assert_int_equal(query_int(f->s, "SELECT value FROM meta WHERE "
	    "key='refused_max_series_per_group'"), 1);
}

/* The bytes a batch reads end it after the row that reaches
 * SPOOL_FOLD_BYTES; the row is folded whole. */
static void
test_cut_by_bytes(void **state)
{
	struct fx *f = *state;
	/* A sample and comment lines: 24 lines of 60,000 bytes a row. */
	const size_t nlines = 24, llen = 60000;
	size_t len = 4 + nlines * (llen + 1);
	char *b = malloc(len + 1);
	spool_fold_result r;

	assert_non_null(b);
	memcpy(b, "c 1\n", 4);
	for (size_t i = 0; i < nlines; i++) {
		char *ln = b + 4 + i * (llen + 1);
		ln[0] = '#';
		memset(ln + 1, 'x', llen - 1);
		ln[llen] = '\n';
	}
	b[len] = '\0';
	/* Three of them pass SPOOL_FOLD_BYTES, two do not. */
	assert_true(3 * len >= SPOOL_FOLD_BYTES && 2 * len < SPOOL_FOLD_BYTES);
	assert_int_equal(spool_batch_begin(f->s), SPOOL_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(spool_put(f->s, "j", "", SPOOL_OP_ADD, b, len),
		    SPOOL_OK);
	put(f->s, "j", "", SPOOL_OP_ADD, "c 1\n");
	assert_int_equal(spool_batch_commit(f->s), SPOOL_OK);
	free(b);
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 3);
	assert_int_equal(r.lines, 3);
	assert_true(value(f->s, "j", "", "c", "") == 3);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM inbox"), 1);
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 1);
	assert_true(value(f->s, "j", "", "c", "") == 4);
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 0);
}

/* SPOOL_FOLD_LINES sample lines end a batch; the default batch takes more
 * than the 1,000 rows it used to. */
static void
test_cut_by_lines(void **state)
{
	struct fx *f = *state;
	const size_t per_row = 100, rows = SPOOL_FOLD_LINES / 100 + 1;
	char *b = lines(per_row, "l", "");
	spool_fold_result r;

	assert_int_equal(spool_batch_begin(f->s), SPOOL_OK);
	for (size_t i = 0; i < rows; i++)
		put(f->s, "j", "", SPOOL_OP_ADD, b);
	for (size_t i = 0; i < 1500; i++)
		put(f->s, "k", "", SPOOL_OP_ADD, "m 1");
	assert_int_equal(spool_batch_commit(f->s), SPOOL_OK);
	free(b);
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, rows - 1);
	assert_int_equal(r.lines, SPOOL_FOLD_LINES);
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 1 + 1500);
	assert_int_equal(r.lines, per_row + 1500);
	assert_true(value(f->s, "j", "", "l", "i=\"0\"") == (double)rows);
	assert_true(value(f->s, "j", "", "l", "i=\"99\"") == (double)rows);
	assert_true(value(f->s, "k", "", "m", "") == 1500);
}

/* The groups, families and series a batch holds end it after the row that
 * takes them to SPOOL_FOLD_ENTRIES. */
static void
test_cut_by_entries(void **state)
{
	struct fx *f = *state;
	const size_t per_row = SPOOL_FOLD_ENTRIES / 4;
	spool_fold_result r;

	assert_int_equal(spool_batch_begin(f->s), SPOOL_OK);
	for (size_t i = 0; i < 5; i++) {
		char prefix[32], *b;
		snprintf(prefix, sizeof(prefix), "%zu_", i);
		b = lines(per_row, "s", prefix);
		put(f->s, "j", "", SPOOL_OP_SET, b);
		free(b);
	}
	assert_int_equal(spool_batch_commit(f->s), SPOOL_OK);
	/* A group, its key as written, the family s, and a quarter of the
	 * cap in series a row: the fourth row passes it by 3. */
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 4);
	assert_int_equal(r.lines, 4 * per_row);
	r = fold_once(f->s, NULL);
	assert_int_equal(r.rows, 1);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM series"),
	    5 * per_row);
	assert_true(value(f->s, "j", "", "s", "i=\"4_0\"") == 1);
}

/* A row with more samples than pass 1 keeps for pass 2 (1,024): the rest
 * is parsed and resolved again, with a TYPE line after the cut, a series
 * that only the rest names, and a limit that counts them all. */
static void
test_long_row(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;
	const char *late = "# TYPE c counter\nc{i=\"late\"} 7\n";
	size_t cap = 1500 * 16 + 64, n = 0;
	char *b = malloc(cap), *fams;

	/* 1,500 samples on 3 series (the label is the line number mod 3),
	 * then a TYPE line and a series of its own. */
	assert_non_null(b);
	for (size_t i = 0; i < 1500; i++)
		n += (size_t)snprintf(b + n, cap - n, "c{i=\"%zu\"} 1\n", i % 3);
	snprintf(b + n, cap - n, "%s", late);
	memset(&o, 0, sizeof(o));
	o.max_series_per_group = 4;
	put(f->s, "j", "", SPOOL_OP_ADD, b);
	put(f->s, "j", "", SPOOL_OP_ADD, b);
	/* A fifth series is refused, whichever part of the row names it. */
	snprintf(b + n, cap - n, "c{i=\"later\"} 1\n");
	put(f->s, "j", "", SPOOL_OP_ADD, b);
	free(b);
	r = fold_once(f->s, &o);
	assert_int_equal(r.rows, 3);
	assert_int_equal(r.rejected, 1);
	assert_int_equal(r.lines, 2 * 1501);
	assert_true(value(f->s, "j", "", "c", "i=\"0\"") == 1000);
	assert_true(value(f->s, "j", "", "c", "i=\"2\"") == 1000);
	assert_true(value(f->s, "j", "", "c", "i=\"late\"") == 14);
	assert_false(exists(f->s, "j", "", "c", "i=\"later\""));
	fams = query_text(f->s, "SELECT group_concat(name || ':' || type) "
	    "FROM families");
	assert_string_equal(fams, "c:counter");
	free(fams);
}

/* Rows that spell one group differently (label order, the default job or
 * grouping left NULL or written out) fold into it; a bad grouping is
 * refused each time it comes. */
static void
test_group_spellings(void **state)
{
	struct fx *f = *state;
	spool_fold_options o;
	spool_fold_result r;

	memset(&o, 0, sizeof(o));
	o.default_job = "dj";
	o.default_grouping = "b=\"2\",a=\"1\"";
	sql_insert(f->s, NULL, NULL, "add", "c 1");
	sql_insert(f->s, "dj", "a=\"1\",b=\"2\"", "add", "c 1");
	sql_insert(f->s, NULL, "b=\"2\",a=\"1\"", "add", "c 1");
	sql_insert(f->s, "dj", "b=\"2\", a=\"1\"", "add", "c 1");
	sql_insert(f->s, "dj", "a=1", "add", "c 1");
	sql_insert(f->s, "dj", "", "add", "c 1");
	sql_insert(f->s, "dj", "a=1", "add", "c 1");
	sql_insert(f->s, NULL, "", "add", "c 1");
	r = fold_once(f->s, &o);
	assert_int_equal(r.rows, 8);
	assert_int_equal(r.rejected, 2);
	assert_true(value(f->s, "dj", "a=\"1\",b=\"2\"", "c", "") == 4);
	assert_true(value(f->s, "dj", "", "c", "") == 2);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM groups"), 2);
	assert_int_equal(query_int(f->s, "SELECT count(*) FROM rejected WHERE "
	    "reason LIKE 'grouping: %'"), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mixed_ops_one_batch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete_mid_batch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_limits_mid_batch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cut_by_bytes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cut_by_lines, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cut_by_entries, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_row, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_spellings, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("fold_batch", tests, NULL, NULL);
}
