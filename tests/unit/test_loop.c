/* The agent's loop (agent/agent.c) with fake sinks (agent/sink.h) on a
 * fake clock (agent/clock.h): when sinks are called, that a sink in
 * backoff waits, that a long round gives way to a sink that is due, that
 * --once keeps to its deadline and says how it went in its exit status,
 * and that a SIGTERM gives each sink its last round. Every time asserted
 * is a fake one: the loop never waits for real. */
#include "testutil.h"

#include <signal.h>
#include <sysexits.h>

#include "agent.h"
#include "agent_test.h"
#include "cfg.h"
#include "clock.h"
#include "sig.h"
#include "sink.h"

#define T0 1000.0           /* the fake monotonic clock at the start */
#define WALL0 1.8e9         /* the fake wall clock at T0 */
#define MAXCALLS 64

/* --- the fake clock ------------------------------------------------------- */

static double now_s;

static double
fake_mono(void *arg)
{
	(void)arg;
	return now_s;
}

static double
fake_wall(void *arg)
{
	(void)arg;
	return WALL0 + (now_s - T0);
}

static void
fake_sleep(void *arg, double d)
{
	(void)arg;
	now_s += d;
}

/* The loop's wait: the time passes at once; signals raised meanwhile are
 * taken as sig_wait() would. */
static void
fake_wait(void *arg, double d)
{
	(void)arg;
	if (d > 0)
		now_s += d;
	sig_poll();
}

static const clock_src fake_clock = { fake_mono, fake_wall, fake_sleep,
	fake_wait, NULL };

/* --- the fake sink ------------------------------------------------------- */

typedef struct fake {
	/* What the test sets. */
	double first;        /* due at T0 + first */
	double interval;     /* rounds that far apart (from their starts) */
	unsigned requests;   /* requests in a whole round */
	double req_s;        /* fake seconds one request takes */
	int unreachable;     /* every round fails: due again after retry */
	double retry;
	unsigned stop_after; /* raise SIGTERM once this many requests went
	                      * (0: never) */
	int deletes;         /* carries_deletes, for --once's order */
	sink_result once_res;/* what --once reports */
	double once_retry;   /* --once retries this often until the deadline
	                      * (0: one try) */
	unsigned hup_after;  /* raise SIGHUP once this many requests went */
	int prepare_rc;      /* what prepare() answers */

	/* What the fake records. */
	sink_env *env;
	double next;
	unsigned done;       /* requests of the current round that went */
	unsigned total;      /* requests in all */
	unsigned rounds;
	double round_at[MAXCALLS];
	unsigned yields, stops;
	unsigned lasts;
	double last_at, last_deadline;
	unsigned onces;
	double once_deadline, once_end;
	unsigned once_tries;
	int once_seq;        /* the order --once called the sinks in */
	unsigned prepares, commits, discards;
	int token;           /* what prepare() hands over as pending */
	int freed;
} fake;

static fake fakes[2];
static int once_seq;

static int
fake_new_i(int i, sink_env *env, void **out)
{
	fake *f = &fakes[i];

	f->env = env;
	f->next = T0 + f->first;
	*out = f;
	return 0;
}

static int
fake_new_a(sink_env *env, const cfg *c, void **out)
{
	(void)c;
	return fake_new_i(0, env, out);
}

static int
fake_new_b(sink_env *env, const cfg *c, void **out)
{
	(void)c;
	return fake_new_i(1, env, out);
}

static double
fake_due(const void *self)
{
	return ((const fake *)self)->next;
}

/* A round of requests, each asking the loop between them as the gateway
 * sink does; one cut short goes on where it stopped. */
static void
fake_round(void *self, double deadline)
{
	fake *f = self;
	double start = now_s;
	unsigned in_round = 0;

	(void)deadline;
	assert_true(f->rounds < MAXCALLS);
	f->round_at[f->rounds++] = now_s;
	while (f->done < f->requests) {
		unsigned may = SINK_MAY_SIGNALS | SINK_MAY_FOLD;
		sink_go go;
		if (in_round > 0)
			may |= SINK_MAY_YIELD;
		go = f->env->between(f->env, f, may);
		if (go != SINK_GO) {
			if (go == SINK_YIELD)
				f->yields++;
			else
				f->stops++;
			f->next = now_s;
			return;
		}
		now_s += f->req_s;
		f->done++;
		f->total++;
		in_round++;
		if (f->stop_after > 0 && f->total == f->stop_after)
			raise(SIGTERM);
		if (f->hup_after > 0 && f->total == f->hup_after)
			raise(SIGHUP);
	}
	f->done = 0;
	f->next = start + (f->unreachable ? f->retry : f->interval);
}

static int
fake_prepare(void *self, const cfg *c, void **pending)
{
	fake *f = self;

	(void)c;
	f->prepares++;
	*pending = f->prepare_rc == 0 ? &f->token : NULL;
	return f->prepare_rc;
}

static void
fake_commit(void *self, const cfg *c, void *pending)
{
	fake *f = self;

	(void)c;
	assert_ptr_equal(pending, &f->token);
	f->commits++;
}

static void
fake_discard(void *pending)
{
	fake *f = pending == &fakes[0].token ? &fakes[0] : &fakes[1];

	assert_ptr_equal(pending, &f->token);
	f->discards++;
}

static void
fake_once(void *self, double deadline, sink_result *r)
{
	fake *f = self;

	f->onces++;
	f->once_seq = ++once_seq;
	f->once_deadline = deadline;
	f->once_tries = 1;
	while (f->once_retry > 0 && now_s + f->once_retry < deadline) {
		clock_sleep_until(now_s + f->once_retry);
		f->once_tries++;
	}
	f->once_end = now_s;
	*r = f->once_res;
}

static void
fake_last(void *self, double deadline)
{
	fake *f = self;

	f->lasts++;
	f->last_at = now_s;
	f->last_deadline = deadline;
}

static void
fake_free(void *self)
{
	((fake *)self)->freed = 1;
}

static const sink_ops fake_a = {
	.name = "a", .carries_deletes = 0, .new = fake_new_a, .start = NULL,
	.due = fake_due, .round = fake_round, .prepare = fake_prepare, .commit = fake_commit,
	.discard = fake_discard,
	.once = fake_once, .last = fake_last, .beat = NULL, .ready = NULL,
	.free = fake_free,
};

static const sink_ops fake_b = {
	.name = "b", .carries_deletes = 0, .new = fake_new_b, .start = NULL,
	.due = fake_due, .round = fake_round, .prepare = fake_prepare, .commit = fake_commit,
	.discard = fake_discard,
	.once = fake_once, .last = fake_last, .beat = NULL, .ready = NULL,
	.free = fake_free,
};

/* The same as b, for --once's order: it carries deletes. */
static const sink_ops fake_b_deletes = {
	.name = "b", .carries_deletes = 1, .new = fake_new_b, .start = NULL,
	.due = fake_due, .round = fake_round, .prepare = fake_prepare, .commit = fake_commit,
	.discard = fake_discard,
	.once = fake_once, .last = fake_last, .beat = NULL, .ready = NULL,
	.free = fake_free,
};

/* --- set-up -------------------------------------------------------------- */

static char *dir;

static int
setup(void **state)
{
	(void)state;
	memset(fakes, 0, sizeof(fakes));
	once_seq = 0;
	now_s = T0;
	clock_set(&fake_clock);
	sig_forget();
	return (dir = tu_mkdtemp()) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	/* Nothing raised may outlive the test. */
	sig_poll();
	sig_forget();
	clock_set(NULL);
	tu_rmdir(dir);
	dir = NULL;
	return 0;
}

/* The tests' settings: a fresh spool, pushing off. */
static cfg *
test_cfg(void *arg)
{
	char text[1024], *path = tu_path(dir, "spool.db"), *errs = NULL;
	cfg *c = NULL;

	(void)arg;
	assert_non_null(path);
	snprintf(text, sizeof(text), "spool: { path = \"%s\"; };\n"
	    "pushgateway: { enabled = false; interval = 10; "
	    "once_timeout = 30; };\n"
	    "log: { level = \"error\"; };\n", path);
	free(path);
	if (cfg_load_string(text, "t.conf", &c, &errs) != CFG_OK)
		fail_msg("config: %s", errs ? errs : "?");
	return c;
}

/* An agent with the sinks given, on test_cfg(). */
static agent_t *
agent_with(const sink_ops *const *sinks, size_t n)
{
	cfg *c = test_cfg(NULL);
	agent_t *a = NULL;

	assert_int_equal(agent_new_with(c, sinks, n, &a), 0);
	assert_non_null(a);
	return a;
}

/* --- the daemon ---------------------------------------------------------- */

/* Rounds come an interval apart, each when it is due (not at the next
 * fold, which comes every second), until the stop. */
static void
test_rounds_an_interval_apart(void **state)
{
	static const sink_ops *const sinks[] = { &fake_a };
	fake *f = &fakes[0];
	agent_t *a;

	(void)state;
	f->interval = 2.5;
	f->requests = 1;
	f->req_s = 0;
	f->stop_after = 4;
	a = agent_with(sinks, 1);
	assert_int_equal(agent_run(a, NULL, NULL), EX_OK);
	assert_int_equal(f->rounds, 4);
	assert_true(f->round_at[0] == T0);
	assert_true(f->round_at[1] == T0 + 2.5);
	assert_true(f->round_at[2] == T0 + 5.0);
	assert_true(f->round_at[3] == T0 + 7.5);
	agent_free(a);
	assert_true(f->freed);
}

/* An idle loop sleeps until the next due time: a sink due at T0 + 0.25
 * and then every 0.5 s is called at exactly those times. */
static void
test_idle_wakes_when_due(void **state)
{
	static const sink_ops *const sinks[] = { &fake_a };
	fake *f = &fakes[0];
	agent_t *a;

	(void)state;
	f->first = 0.25;
	f->interval = 0.5;
	f->requests = 1;
	f->stop_after = 3;
	a = agent_with(sinks, 1);
	assert_int_equal(agent_run(a, NULL, NULL), EX_OK);
	assert_int_equal(f->rounds, 3);
	assert_true(f->round_at[0] == T0 + 0.25);
	assert_true(f->round_at[1] == T0 + 0.75);
	assert_true(f->round_at[2] == T0 + 1.25);
	agent_free(a);
}

/* A sink whose target is unreachable says when it wants to retry (its
 * due time): the loop does not call it before, though it wakes every
 * second to fold, and another sink goes on at its own pace. */
static void
test_backoff_is_kept(void **state)
{
	static const sink_ops *const sinks[] = { &fake_a, &fake_b };
	fake *down = &fakes[0], *up = &fakes[1];
	agent_t *a;

	(void)state;
	down->unreachable = 1;
	down->retry = 4;
	down->requests = 1;
	up->interval = 1;
	up->requests = 1;
	up->stop_after = 10;
	a = agent_with(sinks, 2);
	assert_int_equal(agent_run(a, NULL, NULL), EX_OK);
	/* up: T0 .. T0 + 9; down: T0, T0 + 4, T0 + 8 only. */
	assert_int_equal(up->rounds, 10);
	assert_true(up->round_at[9] == T0 + 9);
	assert_int_equal(down->rounds, 3);
	assert_true(down->round_at[0] == T0);
	assert_true(down->round_at[1] == T0 + 4);
	assert_true(down->round_at[2] == T0 + 8);
	agent_free(a);
}

/*
 * A long round gives way when another sink is due, after one request at
 * least, and goes on where it stopped right after that sink's round:
 * long (10 requests of 1 s) starts at T0; short is due at T0 + 3.5 and
 * then every 3 s.
 */
static void
test_long_round_yields(void **state)
{
	static const sink_ops *const sinks[] = { &fake_a, &fake_b };
	fake *lng = &fakes[0], *shrt = &fakes[1];
	agent_t *a;

	(void)state;
	lng->interval = 100;
	lng->requests = 10;
	lng->req_s = 1;
	lng->stop_after = 10;
	shrt->first = 3.5;
	shrt->interval = 3;
	shrt->requests = 1;
	a = agent_with(sinks, 2);
	assert_int_equal(agent_run(a, NULL, NULL), EX_OK);
	assert_int_equal(lng->total, 10);
	assert_int_equal(lng->yields, 2);
	assert_int_equal(lng->rounds, 3);
	assert_true(lng->round_at[0] == T0);
	assert_true(lng->round_at[1] == T0 + 4);
	assert_true(lng->round_at[2] == T0 + 7);
	/* short ran in the gaps, on time to the request. */
	assert_int_equal(shrt->rounds, 3);
	assert_true(shrt->round_at[0] == T0 + 4);
	assert_true(shrt->round_at[1] == T0 + 7);
	assert_true(shrt->round_at[2] == T0 + 10);
	agent_free(a);
}

/*
 * SIGTERM in the middle of a round: the round ends at its next request,
 * no sink gets another round, and each gets its last one at once, with
 * the deadline 5 s on.
 */
static void
test_sigterm_last_round(void **state)
{
	static const sink_ops *const sinks[] = { &fake_a, &fake_b };
	fake *f = &fakes[0], *g = &fakes[1];
	agent_t *a;

	(void)state;
	f->interval = 10;
	f->requests = 5;
	f->req_s = 1;
	f->stop_after = 2;     /* raised after the second request */
	g->first = 20;
	g->interval = 10;
	g->requests = 1;
	a = agent_with(sinks, 2);
	assert_int_equal(agent_run(a, NULL, NULL), EX_OK);
	assert_int_equal(f->total, 2);
	assert_int_equal(f->stops, 1);
	assert_int_equal(f->rounds, 1);
	assert_int_equal(g->rounds, 0);
	assert_int_equal(f->lasts, 1);
	assert_int_equal(g->lasts, 1);
	assert_true(f->last_at == T0 + 2);
	assert_true(f->last_deadline == T0 + 2 + 5);
	assert_true(g->last_deadline == T0 + 2 + 5);
	agent_free(a);
}

/* --- --once -------------------------------------------------------------- */

/* A sink that cannot reach its target retries until once_timeout (30 s)
 * and no longer; the run ends with 75. */
static void
test_once_deadline(void **state)
{
	static const sink_ops *const sinks[] = { &fake_a };
	fake *f = &fakes[0];
	agent_t *a;

	(void)state;
	f->once_retry = 4;
	f->once_res.late = 1;
	a = agent_with(sinks, 1);
	assert_int_equal(agent_once(a), EX_TEMPFAIL);
	assert_int_equal(f->onces, 1);
	assert_true(f->once_deadline == T0 + 30);
	/* T0, +4, ... +28: the next try would pass the deadline. */
	assert_int_equal(f->once_tries, 8);
	assert_true(f->once_end == T0 + 28);
	assert_true(f->once_end < f->once_deadline);
	assert_int_equal(f->rounds, 0);
	assert_int_equal(f->lasts, 0);
	agent_free(a);
}

/* The statuses: refused 65 wins over a spool that could not keep a
 * sink's record (74), which wins over late (75); all well is 0. */
static void
test_once_status(void **state)
{
	static const sink_ops *const sinks[] = { &fake_a, &fake_b };
	static const struct {
		sink_result a, b;
		int want;
	} cases[] = {
		{ { 0, 0, 0, 0, NULL, NULL }, { 0, 0, 0, 0, NULL, NULL }, EX_OK },
		{ { 0, 0, 1, 0, NULL, NULL }, { 0, 0, 0, 0, NULL, NULL }, EX_TEMPFAIL },
		{ { 0, 0, 1, 0, NULL, NULL }, { 0, 0, 0, 1, NULL, NULL }, EX_IOERR },
		{ { 0, 1, 0, 0, NULL, NULL }, { 0, 0, 1, 1, NULL, NULL }, EX_DATAERR },
		{ { 0, 0, 0, 0, NULL, NULL }, { 1, 0, 0, 0, NULL, NULL }, EX_IOERR },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		agent_t *a;
		teardown(NULL);
		setup(NULL);
		fakes[0].once_res = cases[i].a;
		fakes[1].once_res = cases[i].b;
		a = agent_with(sinks, 2);
		assert_int_equal(agent_once(a), cases[i].want);
		agent_free(a);
	}
}

/* A spool failure ends --once at once: later sinks are not called. And
 * the sinks that carry deletes go after the others, whatever the table
 * order. */
static void
test_once_order(void **state)
{
	static const sink_ops *const order[] = { &fake_b_deletes, &fake_a };
	static const sink_ops *const sinks[] = { &fake_a, &fake_b };
	agent_t *a;

	(void)state;
	a = agent_with(order, 2);
	assert_int_equal(agent_once(a), EX_OK);
	assert_int_equal(fakes[0].once_seq, 1);
	assert_int_equal(fakes[1].once_seq, 2);
	agent_free(a);

	teardown(NULL);
	setup(NULL);
	fakes[0].once_res.spool_failed = 1;
	a = agent_with(sinks, 2);
	assert_int_equal(agent_once(a), EX_IOERR);
	assert_int_equal(fakes[0].onces, 1);
	assert_int_equal(fakes[1].onces, 0);
	agent_free(a);
}

/* A reload is all or nothing: when one sink cannot take the new settings,
 * none is changed (what the others prepared is discarded); when all can,
 * each commits once. */
static void
test_reload_all_or_nothing(void **state)
{
	static const sink_ops *const sinks[] = { &fake_a, &fake_b };
	agent_t *a;

	(void)state;
	for (int fail = 1; fail >= 0; fail--) {
		teardown(NULL);
		setup(NULL);
		fakes[0].interval = fakes[1].interval = 5;
		fakes[0].requests = fakes[1].requests = 1;
		fakes[0].hup_after = 1;
		fakes[0].stop_after = 2;
		fakes[1].prepare_rc = fail ? EX_CONFIG : 0;
		a = agent_with(sinks, 2);
		assert_int_equal(agent_run(a, test_cfg, NULL), EX_OK);
		assert_int_equal(fakes[0].prepares, 1);
		assert_int_equal(fakes[1].prepares, 1);
		assert_int_equal(fakes[0].commits, fail ? 0 : 1);
		assert_int_equal(fakes[1].commits, fail ? 0 : 1);
		assert_int_equal(fakes[0].discards, fail ? 1 : 0);
		assert_int_equal(fakes[1].discards, 0);
		agent_free(a);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rounds_an_interval_apart,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_wakes_when_due,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_backoff_is_kept, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_long_round_yields, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_last_round, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_once_deadline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_once_status, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reload_all_or_nothing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_once_order, setup,
		    teardown),
	};

	/* As main.c: the signals are blocked and taken by the loop. */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	sig_init();
	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
