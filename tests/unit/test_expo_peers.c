/*
 * The peer cases (expo_peers.h): inputs from the test suites of the
 * Pushgateway's parser, Prometheus' and client_python's, and for each the
 * verdict of put and of the fold, exactly, reason and all.
 *
 * Each body goes through spool_validate_body() (what put runs) and, written
 * with plain SQL into its own group, through the fold; both must give the
 * table's verdict. The table itself is checked too: a row whose verdict
 * parts from the gateway's, or where the gateway alters the data, must say
 * why.
 */
#include "spoolfx.h"

#include <sqlite3.h>

#include "expo_peers.h"

#define NPEERS (sizeof(peers) / sizeof(peers[0]))

static int
gw_accepts(const struct peer *p)
{
	return p->gw != GW_REFUSES;
}

/* A readable form of a body for failure messages: escapes what is not
 * printable ASCII. Returns a static buffer. */
static const char *
show(const char *s, size_t len)
{
	static char out[512];
	size_t o = 0;

	for (size_t i = 0; i < len && o + 5 < sizeof(out); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x",
			    c);
		} else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static void
test_table_is_consistent(void **state)
{
	size_t failed = 0, differ = 0, alters = 0;

	(void)state;
	for (size_t i = 0; i < NPEERS; i++) {
		const struct peer *p = &peers[i];
		int parts = (p->here == NULL) != gw_accepts(p);

		differ += (size_t)parts;
		alters += p->gw == GW_ALTERS;
		if ((parts || p->gw == GW_ALTERS) != (p->note != NULL)) {
			print_error("peer %zu (%s): %s\n", i, p->src, p->note ?
			    "a note, but we agree with the gateway" :
			    "we part from the gateway without a note");
			failed++;
		}
		if ((p->gw == GW_ALTERS) != (p->series != NULL &&
		    p->labels != NULL && p->shows != NULL)) {
			print_error("peer %zu (%s): the gateway alters the data "
			    "exactly when series, labels and shows say how\n", i,
			    p->src);
			failed++;
		}
		for (size_t k = 0; k < i; k++) {
			if (peers[k].len == p->len &&
			    memcmp(peers[k].body, p->body, p->len) == 0) {
				print_error("peer %zu (%s): the same body as "
				    "peer %zu\n", i, p->src, k);
				failed++;
			}
		}
	}
	print_message("%zu peer cases; %zu where we part from the gateway, "
	    "%zu it would alter\n", NPEERS, differ, alters);
	if (failed)
		fail_msg("%zu table rows are inconsistent", failed);
}

/* put's verdict. Each body is copied into a buffer of exactly its length,
 * without a NUL, so that ASan catches a read past the length given. */
static void
test_put(void **state)
{
	char err[1024];
	size_t failed = 0, taken = 0;

	(void)state;
	for (size_t i = 0; i < NPEERS; i++) {
		const struct peer *p = &peers[i];
		char *body = malloc(p->len ? p->len : 1);
		spool_err e;

		assert_non_null(body);
		memcpy(body, p->body, p->len);
		err[0] = '\0';
		e = spool_validate_body(SPOOL_OP_SET, body, p->len, err,
		    sizeof(err));
		free(body);
		if (p->here == NULL && e != SPOOL_OK) {
			print_error("peer %zu (%s) [%s]: refused with '%s', "
			    "expected it taken\n", i, p->src,
			    show(p->body, p->len), err);
			failed++;
		} else if (p->here != NULL && (e != SPOOL_EPARSE ||
		    strcmp(err, p->here) != 0)) {
			print_error("peer %zu (%s) [%s]: %s '%s', expected "
			    "refused with '%s'\n", i, p->src,
			    show(p->body, p->len), e == SPOOL_OK ? "taken" :
			    "refused with", err, p->here);
			failed++;
		}
		taken += e == SPOOL_OK;
	}
	print_message("put: %zu taken, %zu refused\n", taken, NPEERS - taken);
	if (failed)
		fail_msg("%zu of %zu peer cases failed at put", failed, NPEERS);
}

/* The fold's verdict, for rows written with SQL, each in its own group. */
static void
test_fold(void **state)
{
	struct fx *f = *state;
	spool_fold_result r, total;
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t failed = 0;
	char job[32];

	assert_int_equal(sqlite3_open(spool_path(f->s), &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO inbox(job, "
	    "grouping, op, body) VALUES (?, '', 'set', ?)", -1, &st, NULL),
	    SQLITE_OK);
	for (size_t i = 0; i < NPEERS; i++) {
		snprintf(job, sizeof(job), "peer%zu", i);
		sqlite3_bind_text(st, 1, job, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, peers[i].body, (int)peers[i].len,
		    SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);

	memset(&total, 0, sizeof(total));
	do {
		assert_int_equal(spool_fold(f->s, NULL, &r), SPOOL_OK);
		total.rows += r.rows;
		total.rejected += r.rejected;
	} while (r.rows > 0);
	assert_int_equal(total.rows, NPEERS);

	assert_int_equal(sqlite3_prepare_v2(db, "SELECT (SELECT reason FROM "
	    "rejected WHERE job = ?1), (SELECT count(*) FROM groups WHERE "
	    "job = ?1)", -1, &st, NULL), SQLITE_OK);
	for (size_t i = 0; i < NPEERS; i++) {
		const struct peer *p = &peers[i];
		const char *why;
		int groups;

		snprintf(job, sizeof(job), "peer%zu", i);
		sqlite3_bind_text(st, 1, job, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		why = (const char *)sqlite3_column_text(st, 0);
		groups = sqlite3_column_int(st, 1);
		if (p->here == NULL && (why != NULL || groups != 1)) {
			print_error("peer %zu (%s): fold rejected it: '%s'\n", i,
			    p->src, why ? why : "(no reason, no group)");
			failed++;
		} else if (p->here != NULL && (why == NULL ||
		    strcmp(why, p->here) != 0 || groups != 0)) {
			print_error("peer %zu (%s): fold gave '%s', expected "
			    "'%s'\n", i, p->src, why ? why : "(taken)", p->here);
			failed++;
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (failed)
		fail_msg("%zu of %zu peer cases failed at the fold", failed,
		    NPEERS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_is_consistent),
		cmocka_unit_test(test_put),
		cmocka_unit_test_setup_teardown(test_fold, setup, teardown),
	};

	return cmocka_run_group_tests_name("expo_peers", tests, NULL, NULL);
}
