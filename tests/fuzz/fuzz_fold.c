/* libFuzzer target: the fold, over rows of every op on two groups, folded
 * in batches of a size the input picks. Beyond "no crash", what a replace
 * promises: a last row that is a replace is taken or refused as it is on
 * a spool that never saw the rows before it (it is checked against an
 * empty group), and when taken it leaves its group exactly the state it
 * leaves on that fresh spool, the other group untouched, the group's
 * version one higher and no delete request pending.
 *
 * Input layout (a byte past the end reads as 0): the batch size (1 + byte
 * % 8), then rows of
 *   op     byte % 5: set, add, observe, delete, replace
 *   group  byte % 2: job "a" or "b", grouping ""
 *   len    1 byte, then len bytes of body (as the row's whole body)
 * Rows that spool_put() refuses are skipped; at most MAX_ROWS are read.
 * The histogram setting of every one-letter family (classic, native or
 * both, its schema, zero threshold and cap) comes from a hash of the whole
 * input, so the layout stays as it was. Every native part read back must
 * be one the fold can make: buckets in ascending index with counts above
 * 0, within the cap unless at the lowest schema, no more in them than the
 * count, and classic counts (both) adding up to that count.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool-test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROWS 12

typedef struct src {
	const uint8_t *p;
	size_t n;
} src;

static uint8_t
get_u8(src *s)
{
	uint8_t b;

	if (s->n == 0)
		return 0;
	b = *s->p++;
	s->n--;
	return b;
}

/* A growing string, aborting when memory runs out (a fuzzer's limit). */
typedef struct str {
	char *p;
	size_t len, cap;
} str;

static void
str_add(str *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *q = realloc(b->p, cap);
		if (q == NULL)
			abort();
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
str_cstr(str *b, const char *t)
{
	str_add(b, t ? t : "(null)", t ? strlen(t) + 1 : 7);
}

static int
dump_family(const spool_family *f, void *arg)
{
	str *b = arg;

	str_add(b, "F", 1);
	str_cstr(b, f->name);
	str_cstr(b, f->type);
	str_add(b, &f->typed, sizeof(f->typed));
	str_cstr(b, f->help);
	return 0;
}

static int
dump_sample(const spool_family *f, const spool_sample *x, void *arg)
{
	str *b = arg;

	(void)f;
	str_add(b, "S", 1);
	str_cstr(b, x->name);
	str_cstr(b, x->labels);
	if (x->hist == NULL) {
		str_add(b, &x->value, sizeof(x->value));
		return 0;
	}
	str_add(b, &x->hist->n, sizeof(x->hist->n));
	str_add(b, x->hist->bounds, x->hist->n * sizeof(double));
	str_add(b, x->hist->counts, (x->hist->n + 1) * sizeof(uint64_t));
	str_add(b, &x->hist->sum, sizeof(x->hist->sum));
	if (x->hist->native != NULL) {
		const spool_nhist *nh = x->hist->native;
		uint64_t total = 0, in = nh->zero_count;
		for (size_t i = 0; i <= x->hist->n; i++)
			total += x->hist->counts[i];
		if (total != nh->count || nh->schema < NHIST_SCHEMA_MIN ||
		    nh->schema > NHIST_SCHEMA_MAX ||
		    (nh->npos + nh->nneg > nh->max_buckets &&
		    nh->schema > NHIST_SCHEMA_MIN))
			abort();
		for (int side = 0; side < 2; side++) {
			const nhist_bucket *k = side ? nh->neg : nh->pos;
			size_t n = side ? nh->nneg : nh->npos;
			for (size_t i = 0; i < n; i++) {
				if (k[i].count <= 0 || (i > 0 &&
				    k[i].index <= k[i - 1].index))
					abort();
				in += (uint64_t)k[i].count;
				str_add(b, &k[i].index, sizeof(k[i].index));
				str_add(b, &k[i].count, sizeof(k[i].count));
			}
			str_add(b, &n, sizeof(n));
		}
		if (in > nh->count)
			abort();
		/* Field by field: the struct's padding is not state. */
		str_add(b, &nh->schema, sizeof(nh->schema));
		str_add(b, &nh->zero_threshold, sizeof(nh->zero_threshold));
		str_add(b, &nh->zero_count, sizeof(nh->zero_count));
		str_add(b, &nh->count, sizeof(nh->count));
		str_add(b, &nh->max_buckets, sizeof(nh->max_buckets));
	}
	return 0;
}

/* The histogram setting of this input (see the top). */
static spool_buckets settings[26];
static char setting_names[26][2];

static void
choose_settings(const uint8_t *data, size_t size)
{
	static const double zts[] = { 0, 0.5, 1e-300, 2.938735877055719e-39 };
	static const size_t caps[] = { 1, 2, 3, 8, 160 };
	uint64_t h = 14695981039346656037ull;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ull;
	for (int i = 0; i < 26; i++) {
		setting_names[i][0] = (char)('a' + i);
		memset(&settings[i], 0, sizeof(settings[i]));
		settings[i].name = setting_names[i];
		settings[i].form = (spool_hist_form)(h % 3);
		settings[i].schema = NHIST_SCHEMA_MIN + (int)((h >> 4) % 13);
		settings[i].zero_threshold = zts[(h >> 8) % 4];
		settings[i].max_buckets = caps[(h >> 12) % 5];
	}
}

typedef struct found {
	const char *job;
	spool_group g;
} found;

static int
find_group(const spool_group *g, void *arg)
{
	found *w = arg;

	if (strcmp(g->job, w->job) != 0 || g->grouping[0] != '\0')
		return 0;
	w->g = *g;
	w->g.job = w->g.grouping = w->g.park_reason = NULL;
	return 1;
}

/* The group of job: its id (0 when absent) and, into *b, its state. */
static spool_group
group_state(spool_t *s, const char *job, str *b)
{
	static const spool_reader reader = { dump_family, dump_sample };
	found w;
	int64_t version;
	int stopped;

	memset(&w, 0, sizeof(w));
	w.job = job;
	b->len = 0;
	str_add(b, "", 0);
	if (spool_groups_each(s, find_group, &w) != SPOOL_OK)
		abort();
	if (w.g.id != 0 && spool_group_read(s, w.g.id, &reader, b, &version,
	    &stopped) != SPOOL_OK)
		abort();
	return w.g;
}

static void
fold_all(spool_t *s, size_t max_rows, spool_fold_result *total)
{
	spool_fold_options o;
	spool_fold_result r;

	memset(&o, 0, sizeof(o));
	memset(total, 0, sizeof(*total));
	o.max_rows = max_rows;
	o.buckets = settings;
	o.nbuckets = 26;
	for (int i = 0; i < 100; i++) {
		if (spool_fold(s, &o, &r) != SPOOL_OK)
			abort();
		if (r.rows == 0)
			return;
		total->rows += r.rows;
		total->rejected += r.rejected;
	}
	abort(); /* the inbox never emptied */
}

static spool_t *
fresh(const char *path)
{
	char err[512];
	spool_t *s;
	char *p;

	unlink(path);
	if (asprintf(&p, "%s-wal", path) >= 0) {
		unlink(p);
		free(p);
	}
	if (asprintf(&p, "%s-shm", path) >= 0) {
		unlink(p);
		free(p);
	}
	if (spool_open(path, NULL, &s, err, sizeof(err)) != SPOOL_OK)
		abort();
	return s;
}

static char *dir;

/* Removes the spools and their directory when the fuzzer exits. */
static void
remove_dir(void)
{
	static const char *const names[] = { "a.db", "a.db-wal", "a.db-shm",
	    "b.db", "b.db-wal", "b.db-shm" };
	char path[4096];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* The path of a spool file in a directory of this process's own (in
 * memory when /dev/shm is there: a row costs no disk write). */
static const char *
spool_file(const char *name)
{
	static char path[2][4096];
	static int k;
	const char *base = getenv("TMPDIR");

	if (dir == NULL) {
		if (asprintf(&dir, "%s/fuzz-fold-XXXXXX", access("/dev/shm",
		    W_OK) == 0 ? "/dev/shm" : base && *base ? base : "/tmp") < 0 ||
		    mkdtemp(dir) == NULL)
			abort();
		atexit(remove_dir);
	}
	k ^= 1;
	snprintf(path[k], sizeof(path[k]), "%s/%s", dir, name);
	return path[k];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const spool_op ops[] = { SPOOL_OP_SET, SPOOL_OP_ADD,
	    SPOOL_OP_OBSERVE, SPOOL_OP_DELETE, SPOOL_OP_REPLACE };
	static const char *const jobs[] = { "a", "b" };
	src in = { data, size };
	size_t max_rows = 1 + get_u8(&in) % 8, nrows = 0;
	spool_fold_result r, rb;
	spool_t *s, *t;
	/* The states: the last row's group after it, and alone on a fresh
	 * spool; the other group before and after it; scratch. */
	str after = { 0 }, alone = { 0 }, other0 = { 0 }, other1 = { 0 },
	    scratch = { 0 };
	spool_group g0, g1, gb, o0, o1;
	/* The last row put: its op, group and body. */
	spool_op last_op = SPOOL_OP_SET;
	const char *last_job = NULL;
	const uint8_t *last_body = NULL;
	size_t last_len = 0;

	choose_settings(data, size);
	s = fresh(spool_file("a.db"));
	while (in.n > 0 && nrows < MAX_ROWS) {
		spool_op op = ops[get_u8(&in) % 5];
		const char *job = jobs[get_u8(&in) % 2];
		size_t len = get_u8(&in);
		const uint8_t *body = in.p;

		if (len > in.n)
			len = in.n;
		in.p += len;
		in.n -= len;
		/* The last row is folded on its own, below. */
		if (last_job != NULL && spool_put(s, last_job, "", last_op,
		    (const char *)last_body, last_len) == SPOOL_OK)
			nrows++;
		last_op = op;
		last_job = job;
		last_body = body;
		last_len = len;
	}
	fold_all(s, max_rows, &r);
	if (last_job == NULL || spool_put(s, last_job, "", last_op,
	    (const char *)last_body, last_len) != SPOOL_OK ||
	    last_op != SPOOL_OP_REPLACE) {
		fold_all(s, max_rows, &r);
		spool_close(s);
		return 0;
	}
	g0 = group_state(s, last_job, &scratch);
	o0 = group_state(s, last_job == jobs[0] ? jobs[1] : jobs[0], &other0);
	fold_all(s, max_rows, &r);
	if (r.rows != 1)
		abort();
	g1 = group_state(s, last_job, &after);
	o1 = group_state(s, last_job == jobs[0] ? jobs[1] : jobs[0], &other1);

	/* The same row on a spool that never saw the others. */
	t = fresh(spool_file("b.db"));
	if (spool_put(t, last_job, "", last_op, (const char *)last_body,
	    last_len) != SPOOL_OK)
		abort();
	fold_all(t, 1, &rb);
	gb = group_state(t, last_job, &alone);
	spool_close(t);

	if (r.rejected != rb.rejected)
		abort(); /* taken here and refused there, or the other way */
	if (r.rejected == 0) {
		if (g1.id == 0 || after.len != alone.len ||
		    memcmp(after.p, alone.p, after.len) != 0)
			abort(); /* not the body's state alone */
		if (g1.version != g0.version + 1 || g1.delete_pending ||
		    g1.has_series != gb.has_series)
			abort();
		if (o1.id != o0.id || o1.version != o0.version ||
		    other0.len != other1.len || memcmp(other0.p, other1.p,
		    other0.len) != 0)
			abort(); /* the other group changed */
	}
	spool_close(s);
	free(after.p);
	free(alone.p);
	free(other0.p);
	free(other1.p);
	free(scratch.p);
	return 0;
}
