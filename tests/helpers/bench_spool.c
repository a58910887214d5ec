/*
 * Benchmark of the spool's write and fold paths, for `make bench`
 * (tests/bench/run prints these next to a reference run).
 *
 *   bench_spool api DIR [FIGURE]
 *       the C API figures (or only FIGURE, e.g. for perf), each on a
 *       fresh spool file in DIR:
 *       single-row puts (synchronous NORMAL, then FULL), batched puts (many
 *       lines per body; many one-line bodies per batch) and the fold of a
 *       pre-filled inbox of `add` rows (fold_adds_1line: 1,000,000 rows of
 *       one line; fold_adds_100line: 10,000 rows of 100 lines; both over
 *       1,000 series, folded with the agent's options).
 *   bench_spool proc NAME N CMD [ARG...]
 *       runs CMD N times, one after another, and reports the wall time per
 *       process: the per-process cost of a writer such as `collector-spool
 *       put` or `python3 -c '...'`.
 *   bench_spool rotate N NAME CMD [ARG...] [-- NAME CMD [ARG...]]...
 *       the same for several commands, run in turn (one of each, N times
 *       over), so that a machine busy with something else slows them all
 *       alike and their ratio holds; one line per NAME.
 *   bench_spool hold SPOOL SECONDS
 *       keeps SPOOL open, as a running agent does, for the per-process
 *       figures "while the agent runs".
 *
 * Each figure is one line, `bench NAME key=value ...`. Every loop stops at
 * a count or a time budget, whichever comes first, so a slow machine gives
 * smaller samples rather than a longer run; BENCH_QUICK=1 in the environment
 * cuts the budgets of the put figures to a tenth (make bench BENCH_QUICK=1,
 * the smoke run). Nothing here asserts a speed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "spool-test.h"

extern char **environ;

/* Series shape shared with tests/bench/reference.py: 10 groups, 100
 * series each, so that the fold touches a realistic, bounded state. */
#define GROUPS 10
#define SERIES 100

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, spool_t *s)
{
	fprintf(stderr, "bench_spool: %s: %s\n", what,
	    s ? spool_errmsg(s) : "failed");
	exit(74);
}

/* A fresh spool file DIR/NAME.db (any old one removed first). */
static spool_t *
fresh(const char *dir, const char *name, int full)
{
	char path[4096], err[1024], side[4200];
	spool_options o = { full, 0 };
	spool_t *s;
	static const char *const sfx[] = { "", "-wal", "-shm" };

	if ((size_t)snprintf(path, sizeof(path), "%s/%s.db", dir, name) >=
	    sizeof(path)) {
		fprintf(stderr, "bench_spool: directory name too long\n");
		exit(64);
	}
	for (size_t i = 0; i < 3; i++) {
		snprintf(side, sizeof(side), "%s%s", path, sfx[i]);
		if (unlink(side) != 0 && errno != ENOENT) {
			perror(side);
			exit(74);
		}
	}
	if (spool_open(path, &o, &s, err, sizeof(err)) != SPOOL_OK) {
		fprintf(stderr, "bench_spool: %s\n", err);
		exit(74);
	}
	return s;
}

/* Closes s and removes its files: the figures together write some
 * hundred megabytes, which need not all sit in $TMPDIR at once. */
static void
discard(spool_t *s)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char path[4200];
	char *base = strdup(spool_path(s));

	spool_close(s);
	if (base == NULL)
		return;
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", base, sfx[i]);
		if (unlink(path) != 0 && errno != ENOENT)
			perror(path);
	}
	free(base);
}

/* The grouping of group g, made once: formatting it per put would put
 * the bench's own snprintf into the figures. */
static const char *
grouping(int g)
{
	static char buf[GROUPS][32];
	static int made;

	if (!made) {
		for (int i = 0; i < GROUPS; i++)
			snprintf(buf[i], sizeof(buf[i]),
			    "instance=\"host%d:9100\"", i);
		made = 1;
	}
	return buf[g];
}

/* A body of n sample lines, series i, i+1, ... (mod SERIES); caller
 * frees. The line is the shape of a typical request counter. */
static char *
body(int first, int n, size_t *len)
{
	size_t cap = (size_t)n * 80 + 1, k = 0;
	char *b = malloc(cap);

	if (b == NULL) {
		perror("bench_spool");
		exit(71);
	}
	for (int i = 0; i < n; i++) {
		int x = (first + i) % SERIES;
		int w = snprintf(b + k, cap - k, "bench_requests_total{code=\"%d\","
		    "path=\"/api/v1/items/%d\"} 1\n", x % 5 == 0 ? 500 : 200, x);
		if (w < 0 || (size_t)w >= cap - k) {
			fprintf(stderr, "bench_spool: body buffer\n");
			exit(70);
		}
		k += (size_t)w;
	}
	*len = k;
	return b;
}

/* `bench NAME UNIT_per_s=X UNIT=N [rows=N] seconds=S`; rows only when
 * the unit is lines. */
static void
report(const char *name, const char *unit, size_t count, size_t rows,
    double secs)
{
	printf("bench %s %s_per_s=%.0f %s=%zu", name, unit,
	    secs > 0 ? (double)count / secs : 0.0, unit, count);
	if (strcmp(unit, "rows") != 0)
		printf(" rows=%zu", rows);
	printf(" seconds=%.2f\n", secs);
	fflush(stdout);
}

/* One row per put, one line per row, each its own transaction. */
static void
bench_single(const char *dir, int full, size_t max_rows, double budget)
{
	spool_t *s = fresh(dir, full ? "single_full" : "single", full);
	size_t rows = 0, len;
	char *b[SERIES];
	double t0, t;

	for (int i = 0; i < SERIES; i++)
		b[i] = body(i, 1, &len);
	t0 = now();
	do {
		/* Check the clock every 64 rows, not every row. */
		for (int k = 0; k < 64 && rows < max_rows; k++, rows++) {
			const char *x = b[rows % SERIES];
			if (spool_put(s, "bench", grouping((int)(rows % GROUPS)),
			    SPOOL_OP_ADD, x, strlen(x)) != SPOOL_OK)
				die("put", s);
		}
		t = now() - t0;
	} while (rows < max_rows && t < budget);
	report(full ? "api_single_put_full" : "api_single_put", "rows", rows,
	    rows, t);
	for (int i = 0; i < SERIES; i++)
		free(b[i]);
	discard(s);
}

/*
 * Batches of `per_batch` puts of `lines`-line bodies. Returns the spool
 * open, so that the fold can use what it wrote.
 */
static spool_t *
bench_batch(const char *dir, const char *name, int lines, size_t per_batch,
    size_t max_lines, double budget, int print)
{
	spool_t *s = fresh(dir, name, 0);
	size_t rows = 0, total = 0, len[SERIES];
	char *b[SERIES];
	double t0, t;

	for (int i = 0; i < SERIES; i++)
		b[i] = body(i, lines, &len[i]);
	t0 = now();
	do {
		if (spool_batch_begin(s) != SPOOL_OK)
			die("batch begin", s);
		for (size_t k = 0; k < per_batch && total < max_lines; k++) {
			if (spool_put(s, "bench", grouping((int)(rows % GROUPS)),
			    SPOOL_OP_ADD, b[rows % SERIES], len[rows % SERIES]) !=
			    SPOOL_OK)
				die("put", s);
			rows++;
			total += (size_t)lines;
		}
		if (spool_batch_commit(s) != SPOOL_OK)
			die("batch commit", s);
		t = now() - t0;
	} while (total < max_lines && t < budget);
	if (print)
		report(name, "lines", total, rows, t);
	for (int i = 0; i < SERIES; i++)
		free(b[i]);
	return s;
}

/*
 * An inbox of `rows` add rows of `lines` lines each, for the fold figures,
 * written in transactions of `per_tx` rows (not timed). Every one of the
 * GROUPS * SERIES series gets the same share: a one-line row k adds 1 to
 * series k % SERIES of group (k / SERIES) % GROUPS; a row of SERIES lines
 * adds 1 to every series of group k % GROUPS.
 */
static spool_t *
fold_inbox(const char *dir, const char *name, int lines, size_t rows,
    size_t per_tx)
{
	spool_t *s = fresh(dir, name, 0);
	size_t len[SERIES];
	char *b[SERIES];

	for (int i = 0; i < SERIES; i++)
		b[i] = body(i, lines, &len[i]);
	for (size_t k = 0; k < rows;) {
		if (spool_batch_begin(s) != SPOOL_OK)
			die("batch begin", s);
		for (size_t n = 0; n < per_tx && k < rows; n++, k++) {
			int g = lines == 1 ? (int)(k / SERIES % GROUPS) :
			    (int)(k % GROUPS);
			if (spool_put(s, "bench", grouping(g), SPOOL_OP_ADD,
			    b[k % SERIES], len[k % SERIES]) != SPOOL_OK)
				die("put", s);
		}
		if (spool_batch_commit(s) != SPOOL_OK)
			die("batch commit", s);
	}
	for (int i = 0; i < SERIES; i++)
		free(b[i]);
	return s;
}

/*
 * The fold options of an agent run with the default configuration: its
 * job, its limits, and max_rows 0 (the library's batch), read from the
 * agent's own defaults so that the figure follows them.
 */
static void
agent_options(spool_fold_options *o, cfg **c)
{
	char *errs = NULL;

	if (cfg_load_string("", "defaults", c, &errs) != CFG_OK) {
		fprintf(stderr, "bench_spool: defaults: %s\n", errs ? errs : "?");
		exit(70);
	}
	memset(o, 0, sizeof(*o));
	o->default_job = (*c)->job;
	o->max_rows = 0;
	o->max_groups = (size_t)(*c)->max_groups;
	o->max_series_per_group = (size_t)(*c)->max_series_per_group;
	o->max_series = (size_t)(*c)->max_series;
}

/*
 * Folds the whole inbox of s as the agent does, call after call, and
 * checks the result: every series counted `each` (a fold that loses or
 * repeats rows must not print a speed).
 */
static void
bench_fold(spool_t *s, const char *name, const char *alias, size_t each,
    double budget)
{
	spool_fold_options o;
	spool_fold_result r;
	size_t rows = 0, lines = 0, calls = 0;
	double t0, t, v = 0;
	int found = 0;
	cfg *c;

	agent_options(&o, &c);
	/* Start from a checkpointed file, as an agent that has been idle,
	 * with the agent's page cache (agent.c: 512 KiB). */
	if (spool_checkpoint(s) != SPOOL_OK || spool_set_cache(s, 512) !=
	    SPOOL_OK)
		die("checkpoint", s);
	t0 = now();
	for (int i = 0; i < 10000000; i++) {
		if (spool_fold(s, &o, &r) != SPOOL_OK)
			die("fold", s);
		rows += r.rows;
		lines += r.lines;
		if (r.rejected)
			die("fold rejected rows", NULL);
		if (r.rows == 0 || now() - t0 > budget)
			break;
		calls++;
	}
	t = now() - t0;
	printf("bench %s lines_per_s=%.0f lines=%zu rows=%zu series=%d "
	    "seconds=%.2f batches=%zu\n", name, t > 0 ? (double)lines / t : 0.0,
	    lines, rows, GROUPS * SERIES, t, calls);
	/* The name tests/bench/run has known the figure by. */
	report(alias, "lines", lines, rows, t);
	if (r.rows == 0) {
		if (spool_series_value(s, "bench", "instance=\"host7:9100\"",
		    "bench_requests_total", "code=\"200\",path=\"/api/v1/"
		    "items/77\"", &v, &found) != SPOOL_OK)
			die("series value", s);
		if (!found || v != (double)each) {
			fprintf(stderr, "bench_spool: %s: a series holds %g, "
			    "not %zu\n", name, v, each);
			exit(70);
		}
	}
	cfg_free(c);
}

/*
 * The fold of observe rows into ONE histogram: obs observations in rows of
 * 100 lines, log-uniform over 1e-3..1e3 (about 160 buckets at schema 3,
 * the default cap: the schema may come down once), of the native form or,
 * for comparison, the classic one with the default bounds. The inbox is
 * filled first, outside the timing; the count read back must be obs.
 */
static void
bench_observe(const char *dir, const char *name, spool_hist_form form,
    size_t obs)
{
	enum { PER_ROW = 100 };
	spool_buckets hb;
	spool_fold_options o;
	spool_fold_result r;
	spool_t *s = fresh(dir, name, 0);
	char body[PER_ROW * 48];
	uint64_t x = 88172645463325252ull;
	size_t lines = 0, rows = 0, n = 0;
	double t0, t;

	for (size_t k = 0; k < obs;) {
		if (spool_batch_begin(s) != SPOOL_OK)
			die("batch begin", s);
		for (int b = 0; b < 1000 && k < obs; b++) {
			size_t len = 0;
			for (int i = 0; i < PER_ROW && k < obs; i++, k++) {
				/* xorshift64: the same values every run */
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				len += (size_t)snprintf(body + len,
				    sizeof(body) - len, "bench_latency_seconds "
				    "%.6g\n", pow(10, (double)(x >> 11) /
				    9007199254740992.0 * 6 - 3));
			}
			if (spool_put(s, "bench", "", SPOOL_OP_OBSERVE, body,
			    len) != SPOOL_OK)
				die("put", s);
		}
		if (spool_batch_commit(s) != SPOOL_OK)
			die("batch commit", s);
	}
	memset(&hb, 0, sizeof(hb));
	hb.name = "bench_latency_seconds";
	hb.form = form;
	hb.schema = SPOOL_NHIST_SCHEMA;
	hb.zero_threshold = SPOOL_NHIST_ZERO_THRESHOLD;
	hb.max_buckets = SPOOL_NHIST_MAX_BUCKETS_DEFAULT;
	memset(&o, 0, sizeof(o));
	o.buckets = &hb;
	o.nbuckets = 1;
	if (spool_checkpoint(s) != SPOOL_OK || spool_set_cache(s, 512) !=
	    SPOOL_OK)
		die("checkpoint", s);
	t0 = now();
	for (int i = 0; i < 1000000; i++) {
		if (spool_fold(s, &o, &r) != SPOOL_OK)
			die("fold", s);
		if (r.rejected)
			die("fold rejected rows", NULL);
		if (r.rows == 0)
			break;
		rows += r.rows;
		lines += r.lines;
	}
	t = now() - t0;
	{
		spool_cursor *c;
		const spool_family *f;
		const spool_sample *smp;
		int64_t version;
		int nf;
		if (spool_cursor_open(s, 1, &c, &version) != SPOOL_OK)
			die("cursor", s);
		while (spool_cursor_next(c, &f, &smp, &nf) == SPOOL_OK &&
		    smp != NULL)
			if (smp->hist != NULL)
				for (size_t i = 0; i <= smp->hist->n; i++)
					n += smp->hist->counts[i];
		spool_cursor_close(c);
	}
	if (n != obs) {
		fprintf(stderr, "bench_spool: %s: the histogram counted %zu, "
		    "not %zu\n", name, n, obs);
		exit(70);
	}
	report(name, "lines", lines, rows, t);
	discard(s);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One command of the per-process figures, and its wall times. */
typedef struct proc_cmd {
	const char *name;
	char **argv;
	double *ms;
	double sum;
	long done;
} proc_cmd;

/*
 * Runs c once and records its wall time. The child's standard output goes
 * to /dev/null (the sqlite3 shell may print), its standard error stays, so
 * that a failing command says why. Returns 0, or an exit status.
 */
static int
spawn_once(proc_cmd *c, posix_spawn_file_actions_t *fa)
{
	double a = now();
	pid_t pid;
	int st, e;

	e = posix_spawnp(&pid, c->argv[0], fa, NULL, c->argv, environ);
	if (e != 0) {
		fprintf(stderr, "bench_spool: %s: %s\n", c->argv[0], strerror(e));
		return 69;
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			perror("bench_spool: waitpid");
			return 71;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_spool: %s: run %ld failed (status %d)\n",
		    c->name, c->done + 1, st);
		return 70;
	}
	c->ms[c->done] = (now() - a) * 1e3;
	c->sum += c->ms[c->done++];
	return 0;
}

/*
 * Runs the ncmd commands in turn, n rounds, and prints the wall time per
 * process of each. A slow or hanging-prone command must not hold the
 * bench for minutes: no new round starts after 30 s.
 */
static int
bench_rotate(proc_cmd *cmds, size_t ncmd, long n)
{
	posix_spawn_file_actions_t fa;
	double t0 = now(), t1;
	int rc = 0;

	if (posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
	    O_WRONLY, 0) != 0)
		return 71;
	for (size_t i = 0; i < ncmd; i++) {
		cmds[i].sum = 0;
		cmds[i].done = 0;
		if ((cmds[i].ms = calloc((size_t)n, sizeof(double))) == NULL)
			rc = 71;
	}
	for (long r = 0; rc == 0 && r < n && now() - t0 < 30; r++)
		for (size_t i = 0; rc == 0 && i < ncmd; i++)
			rc = spawn_once(&cmds[i], &fa);
	t1 = now();
	posix_spawn_file_actions_destroy(&fa);
	for (size_t i = 0; i < ncmd; i++) {
		proc_cmd *c = &cmds[i];
		if (rc == 0 && c->done > 0) {
			qsort(c->ms, (size_t)c->done, sizeof(double), cmp_double);
			printf("bench %s mean_ms=%.2f median_ms=%.2f p90_ms=%.2f "
			    "runs=%ld seconds=%.2f\n", c->name,
			    c->sum / (double)c->done, c->ms[c->done / 2],
			    c->ms[(size_t)((double)c->done * 0.9)], c->done,
			    t1 - t0);
		}
		free(c->ms);
	}
	fflush(stdout);
	return rc;
}

/*
 * Keeps the spool open, as a running agent does, for at most secs seconds
 * or until the parent goes away. While another connection is open, a
 * writer's close does not checkpoint and delete the WAL, which is the
 * common case in production and much cheaper than the last close.
 */
static int
hold(const char *path, long secs)
{
	spool_stats st;
	spool_t *s;
	char err[1024];
	pid_t parent = getppid();
	double t0 = now();

	if (spool_open(path, NULL, &s, err, sizeof(err)) != SPOOL_OK) {
		fprintf(stderr, "bench_spool: %s\n", err);
		return 74;
	}
	/* A read maps the WAL index, which is what marks us as a user. */
	if (spool_get_stats(s, &st) != SPOOL_OK)
		die("stats", s);
	while (now() - t0 < (double)secs && getppid() == parent) {
		struct timespec ts = { 0, 50000000 };
		nanosleep(&ts, NULL);
	}
	spool_close(s);
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: bench_spool api DIR [FIGURE]\n"
	    "       bench_spool proc NAME N CMD [ARG...]\n"
	    "       bench_spool rotate N NAME CMD [ARG...] [-- NAME CMD "
	    "[ARG...]]...\n"
	    "       bench_spool hold SPOOL SECONDS\n");
	return 64;
}

/* rotate's arguments, NAME CMD [ARG...] groups split at "--" (which the
 * commands' own arguments must not be), into cmds; argv is changed in
 * place. Returns the number of commands, 0 on a malformed list. */
static size_t
split_cmds(int argc, char **argv, proc_cmd *cmds, size_t cap)
{
	size_t n = 0;
	int start = 0;

	for (int i = 0; i <= argc; i++) {
		if (i < argc && strcmp(argv[i], "--") != 0)
			continue;
		if (i - start < 2 || n == cap)
			return 0;
		cmds[n].name = argv[start];
		cmds[n].argv = argv + start + 1;
		argv[i] = NULL; /* argv[argc] is NULL already */
		n++;
		start = i + 1;
	}
	return n;
}

/* Whether figure name was asked for: all when only is NULL. */
static int
want(const char *only, const char *name)
{
	return only == NULL || strcmp(only, name) == 0;
}

int
main(int argc, char **argv)
{
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "api") == 0) {
		const char *dir = argv[2], *only = argc == 4 ? argv[3] : NULL;
		const char *q = getenv("BENCH_QUICK");
		double quick = q != NULL && *q != '\0' && strcmp(q, "0") != 0 ?
		    0.1 : 1.0;
		spool_t *s;

		if (want(only, "api_single_put"))
			bench_single(dir, 0, 200000, 3.0 * quick);
		if (want(only, "api_single_put_full"))
			bench_single(dir, 1, 20000, 1.5 * quick);
		/* 100 lines a body, 100 bodies a batch. */
		if (want(only, "api_batch_multiline")) {
			s = bench_batch(dir, "api_batch_multiline", 100, 100,
			    1000000, 3.0 * quick, 1);
			discard(s);
		}
		/* One line a body, 10,000 bodies a batch. */
		if (want(only, "api_batch_bodies")) {
			s = bench_batch(dir, "api_batch_bodies", 1, 10000,
			    1000000, 3.0 * quick, 1);
			discard(s);
		}
		/* The fold of 1,000,000 one-line rows, then of 10,000 rows
		 * of 100 lines, over 1,000 series; the inbox is filled
		 * first, outside the timing. */
		if (want(only, "fold_adds_1line")) {
			s = fold_inbox(dir, "fold_adds_1line", 1, 1000000, 10000);
			bench_fold(s, "fold_adds_1line", "fold_single", 1000,
			    60.0);
			discard(s);
		}
		if (want(only, "fold_adds_100line")) {
			s = fold_inbox(dir, "fold_adds_100line", SERIES, 10000,
			    1000);
			bench_fold(s, "fold_adds_100line", "fold_multiline", 1000,
			    60.0);
			discard(s);
		}
		/* 1,000,000 observations of one histogram (100,000 in the
		 * quick run), native and classic. */
		if (want(only, "fold_observe_native"))
			bench_observe(dir, "fold_observe_native",
			    SPOOL_HIST_NATIVE, (size_t)(1000000 * quick));
		if (want(only, "fold_observe_classic"))
			bench_observe(dir, "fold_observe_classic",
			    SPOOL_HIST_CLASSIC, (size_t)(1000000 * quick));
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "hold") == 0) {
		char *end;
		long secs = strtol(argv[3], &end, 10);

		if (*end != '\0' || secs < 1 || secs > 600)
			return usage();
		return hold(argv[2], secs);
	}
	if (argc >= 5 && strcmp(argv[1], "proc") == 0) {
		char *end;
		long n = strtol(argv[3], &end, 10);
		proc_cmd c = { argv[2], argv + 4, NULL, 0, 0 };

		if (*end != '\0' || n < 1 || n > 100000)
			return usage();
		return bench_rotate(&c, 1, n);
	}
	if (argc >= 5 && strcmp(argv[1], "rotate") == 0) {
		proc_cmd cmds[16];
		char *end;
		long n = strtol(argv[2], &end, 10);
		size_t ncmd;

		if (*end != '\0' || n < 1 || n > 100000 ||
		    (ncmd = split_cmds(argc - 3, argv + 3, cmds, 16)) == 0)
			return usage();
		return bench_rotate(cmds, ncmd, n);
	}
	return usage();
}
