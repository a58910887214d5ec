/* rw: what a receiver decodes from rw_batch_encode() — snappy, then the
 * WriteRequest protobuf — label by label and bit by bit. */
#include "testutil.h"

#include <math.h>
#include <snappy-c.h>

#include "remote.pb-c.h"
#include "rw.h"

/* Decodes what the batch encodes; caller frees with
 * prometheus__write_request__free_unpacked(). */
static Prometheus__WriteRequest *
decode(rw_batch *b)
{
	const char *z;
	size_t zl, rl;
	char *raw;
	Prometheus__WriteRequest *wr;

	assert_int_equal(rw_batch_encode(b, &z, &zl), RW_OK);
	assert_int_equal(snappy_uncompressed_length(z, zl, &rl), SNAPPY_OK);
	raw = malloc(rl + 1);
	assert_non_null(raw);
	assert_int_equal(snappy_uncompress(z, zl, raw, &rl), SNAPPY_OK);
	wr = prometheus__write_request__unpack(NULL, rl, (uint8_t *)raw);
	free(raw);
	assert_non_null(wr);
	return wr;
}

/* The labels of series i as `name=value;...` (values raw). */
static char *
labels_of(const Prometheus__WriteRequest *wr, size_t i)
{
	char *s = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&s, &n);

	assert_non_null(f);
	for (size_t k = 0; k < wr->timeseries[i]->n_labels; k++)
		fprintf(f, "%s%s=%s", k ? ";" : "",
		    wr->timeseries[i]->labels[k]->name,
		    wr->timeseries[i]->labels[k]->value);
	fclose(f);
	return s;
}

static void
labels_are(const Prometheus__WriteRequest *wr, size_t i, const char *want)
{
	char *got = labels_of(wr, i);

	assert_string_equal(got, want);
	free(got);
}

static void
test_labels(void **state)
{
	rw_batch *b = rw_batch_new(10);
	Prometheus__WriteRequest *wr;

	(void)state;
	assert_non_null(b);
	/* Sorted in byte order; the group's instance wins; escapes undone;
	 * an empty value is no label. */
	assert_int_equal(rw_batch_add(b, "req_total",
	    "job=\"api\",instance=\"h1\"",
	    "path=\"/a \\\"q\\\" \\\\ b\",instance=\"other\",code=\"200\","
	    "empty=\"\",multi=\"x\\ny\"", 5, 1700000000123), RW_OK);
	assert_int_equal(rw_batch_add(b, "up", NULL, NULL, 1, 7), RW_OK);
	assert_int_equal(rw_batch_add(b, "Z", "", "A=\"1\"", -1.5, 8), RW_OK);
	assert_int_equal(rw_batch_count(b), 3);
	wr = decode(b);
	assert_int_equal(wr->n_timeseries, 3);
	labels_are(wr, 0, "__name__=req_total;code=200;instance=h1;job=api;"
	    "multi=x\ny;path=/a \"q\" \\ b");
	labels_are(wr, 1, "__name__=up");
	/* Byte order: upper case sorts before "__name__". */
	labels_are(wr, 2, "A=1;__name__=Z");
	assert_int_equal(wr->timeseries[0]->n_samples, 1);
	assert_true(wr->timeseries[0]->samples[0]->value == 5);
	assert_int_equal(wr->timeseries[0]->samples[0]->timestamp,
	    1700000000123);
	assert_true(wr->timeseries[2]->samples[0]->value == -1.5);
	prometheus__write_request__free_unpacked(wr, NULL);
	rw_batch_free(b);
}

static void
test_values(void **state)
{
	const double v[] = { 0, -0.0, 1e300, 5e-324, INFINITY, -INFINITY };
	rw_batch *b = rw_batch_new(16);
	Prometheus__WriteRequest *wr;
	uint64_t bits, want;
	double stale = rw_stale_nan();

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		assert_int_equal(rw_batch_add(b, "m", NULL, NULL, v[i], 1),
		    RW_OK);
	assert_int_equal(rw_batch_add(b, "m", NULL, NULL, stale, 2), RW_OK);
	wr = decode(b);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		double got = wr->timeseries[i]->samples[0]->value;
		/* proto3 leaves out a field equal to its default, 0, and
		 * -0.0 == 0: it arrives as 0, which no metric can tell. */
		double w = v[i] == 0 ? 0 : v[i];
		memcpy(&bits, &got, 8);
		memcpy(&want, &w, 8);
		assert_int_equal(bits, want);
	}
	/* The staleness marker keeps its payload on the wire. */
	memcpy(&bits, &wr->timeseries[6]->samples[0]->value, 8);
	assert_int_equal(bits, 0x7ff0000000000002ULL);
	prometheus__write_request__free_unpacked(wr, NULL);
	rw_batch_free(b);
}

static void
test_full_and_reset(void **state)
{
	rw_batch *b = rw_batch_new(2);
	Prometheus__WriteRequest *wr;

	(void)state;
	assert_int_equal(rw_batch_add(b, "a", NULL, NULL, 1, 1), RW_OK);
	assert_int_equal(rw_batch_add(b, "b", NULL, NULL, 2, 1), RW_OK);
	assert_int_equal(rw_batch_add(b, "c", NULL, NULL, 3, 1), RW_EFULL);
	assert_int_equal(rw_batch_add(b, "d", NULL, "bad", 3, 1), RW_EFULL);
	rw_batch_reset(b);
	assert_int_equal(rw_batch_count(b), 0);
	assert_int_equal(rw_batch_add(b, "d", NULL, "x=", 3, 1), RW_EINVAL);
	assert_int_equal(rw_batch_count(b), 0);
	assert_int_equal(rw_batch_add(b, "e", "job=\"j\"", NULL, 4, 9), RW_OK);
	wr = decode(b);
	assert_int_equal(wr->n_timeseries, 1);
	labels_are(wr, 0, "__name__=e;job=j");
	prometheus__write_request__free_unpacked(wr, NULL);
	/* An empty batch encodes to an empty request. */
	rw_batch_reset(b);
	wr = decode(b);
	assert_int_equal(wr->n_timeseries, 0);
	prometheus__write_request__free_unpacked(wr, NULL);
	rw_batch_free(b);
	rw_batch_free(NULL);
	assert_string_equal(rw_strerror(RW_EFULL), "the batch is full");
}

/* Many samples: the arena and arrays grow and are reused. */
static void
test_many(void **state)
{
	rw_batch *b = rw_batch_new(5000);
	Prometheus__WriteRequest *wr;
	char lab[64];

	(void)state;
	for (int round = 0; round < 2; round++) {
		rw_batch_reset(b);
		for (int i = 0; i < 5000; i++) {
			snprintf(lab, sizeof(lab), "i=\"%d\"", i);
			assert_int_equal(rw_batch_add(b, "many",
			    "job=\"j\",instance=\"h\"", lab, i, 1000 + i),
			    RW_OK);
		}
		wr = decode(b);
		assert_int_equal(wr->n_timeseries, 5000);
		labels_are(wr, 4321, "__name__=many;i=4321;instance=h;job=j");
		assert_true(wr->timeseries[4321]->samples[0]->value == 4321);
		assert_int_equal(wr->timeseries[4999]->samples[0]->timestamp,
		    5999);
		prometheus__write_request__free_unpacked(wr, NULL);
	}
	rw_batch_free(b);
}

/* Collects the gone series' labels as `name=value;...`, one per line. */
static int
collect_gone(void *arg, const rw_key *k)
{
	rw_batch *b = arg;

	assert_int_equal(rw_batch_add_key(b, k, rw_stale_nan(), 99), RW_OK);
	return 0;
}

/* add + note, as the agent's sink does; returns dup. */
static int
add_noted(rw_batch *b, rw_seen *s, const char *name, const char *group,
    const char *labels, double v)
{
	int dup;

	assert_int_equal(rw_batch_add(b, name, group, labels, v, 10), RW_OK);
	assert_int_equal(rw_seen_note(s, b, &dup), RW_OK);
	if (dup)
		rw_batch_drop_last(b);
	return dup;
}

static void
test_seen(void **state)
{
	rw_batch *b = rw_batch_new(100), *m = rw_batch_new(100);
	rw_seen *s = rw_seen_new();
	Prometheus__WriteRequest *wr;
	uint64_t bits;

	(void)state;
	assert_non_null(b);
	assert_non_null(m);
	assert_non_null(s);
	/* Round 1: three series; one given twice (an empty label is no
	 * label), which goes once. */
	rw_seen_round(s);
	assert_int_equal(add_noted(b, s, "a", "job=\"j\"", "x=\"1\"", 1), 0);
	assert_int_equal(add_noted(b, s, "b", "job=\"j\"", NULL, 2), 0);
	assert_int_equal(add_noted(b, s, "c", "job=\"k\",instance=\"i\"",
	    "le=\"0.5\"", 3), 0);
	assert_int_equal(add_noted(b, s, "b", "job=\"j\"", "e=\"\"", 9), 1);
	assert_int_equal(rw_batch_count(b), 3);
	assert_int_equal(rw_seen_count(s), 3);
	wr = decode(b);
	assert_int_equal(wr->n_timeseries, 3);
	assert_true(wr->timeseries[1]->samples[0]->value == 2);
	prometheus__write_request__free_unpacked(wr, NULL);
	/* Nothing is gone before a whole walk. */
	assert_int_equal(rw_seen_each_gone(s, collect_gone, m), 0);
	assert_int_equal(rw_batch_count(m), 0);
	rw_seen_walked(s);
	assert_int_equal(rw_seen_each_gone(s, collect_gone, m), 0);
	assert_int_equal(rw_batch_count(m), 0);
	/* Round 2: b and c went away; the same b again in round 3 is not a
	 * duplicate of round 2's. */
	rw_batch_reset(b);
	rw_seen_round(s);
	assert_int_equal(add_noted(b, s, "a", "job=\"j\"", "x=\"1\"", 5), 0);
	/* A walk cut short (not walked) leaves round 1's view: none gone. */
	assert_int_equal(rw_seen_each_gone(s, collect_gone, m), 0);
	assert_int_equal(rw_batch_count(m), 0);
	rw_seen_walked(s);
	assert_int_equal(rw_seen_each_gone(s, collect_gone, m), 0);
	assert_int_equal(rw_batch_count(m), 2);
	wr = decode(m);
	assert_int_equal(wr->n_timeseries, 2);
	/* hmap order: sort the two by name. */
	{
		char *l0 = labels_of(wr, 0), *l1 = labels_of(wr, 1);
		int swap = strcmp(l0, l1) > 0;
		assert_string_equal(swap ? l1 : l0, "__name__=b;job=j");
		assert_string_equal(swap ? l0 : l1,
		    "__name__=c;instance=i;job=k;le=0.5");
		free(l0);
		free(l1);
	}
	for (size_t i = 0; i < 2; i++) {
		memcpy(&bits, &wr->timeseries[i]->samples[0]->value, 8);
		assert_true(bits == 0x7ff0000000000002ULL);
		assert_int_equal(wr->timeseries[i]->samples[0]->timestamp, 99);
	}
	prometheus__write_request__free_unpacked(wr, NULL);
	/* Not forgotten until the markers are delivered. */
	assert_int_equal(rw_seen_count(s), 3);
	assert_int_equal(rw_seen_forget_gone(s), RW_OK);
	assert_int_equal(rw_seen_count(s), 1);
	rw_batch_reset(m);
	assert_int_equal(rw_seen_each_gone(s, collect_gone, m), 0);
	assert_int_equal(rw_batch_count(m), 0);
	/* Round 3: b is back. */
	rw_seen_round(s);
	assert_int_equal(add_noted(b, s, "b", "job=\"j\"", NULL, 2), 0);
	assert_int_equal(add_noted(b, s, "a", "job=\"j\"", "x=\"1\"", 5), 0);
	assert_int_equal(rw_seen_count(s), 2);
	rw_seen_walked(s);
	assert_int_equal(rw_seen_each_gone(s, collect_gone, m), 0);
	assert_int_equal(rw_batch_count(m), 0);
	rw_seen_clear(s);
	assert_int_equal(rw_seen_count(s), 0);
	rw_seen_free(s);
	rw_batch_free(b);
	rw_batch_free(m);
}

/* A set kept outside rw_seen, as the spool keeps it: owned copies. */
typedef struct store {
	char *k[16];
	size_t len[16];
	int n;
} store;

static int
store_add(void *arg, const rw_key *k)
{
	store *st = arg;

	for (int i = 0; i < st->n; i++)
		if (st->len[i] == k->len && memcmp(st->k[i], k->p, k->len) == 0)
			return 0;
	assert_true(st->n < 16);
	st->k[st->n] = malloc(k->len);
	assert_non_null(st->k[st->n]);
	memcpy(st->k[st->n], k->p, k->len);
	st->len[st->n++] = k->len;
	return 0;
}

static int
store_del(void *arg, const rw_key *k)
{
	store *st = arg;

	for (int i = 0; i < st->n; i++) {
		if (st->len[i] != k->len || memcmp(st->k[i], k->p, k->len) != 0)
			continue;
		free(st->k[i]);
		st->k[i] = st->k[st->n - 1];
		st->len[i] = st->len[st->n - 1];
		st->n--;
		return 0;
	}
	return 0;
}

/* A key as `name=value;...`, appended to a line of keys. */
typedef struct keys {
	char *k[16];
	int n;
} keys;

static int
key_text(void *arg, const rw_key *k)
{
	keys *ks = arg;
	char *t = malloc(k->len + 1);
	int pair = 0;

	assert_non_null(t);
	assert_true(ks->n < 16);
	for (size_t i = 0; i < k->len; i++)
		t[i] = k->p[i] != '\0' ? k->p[i] : (pair++ % 2 ? ';' : '=');
	/* A key ends with the NUL of its last value. */
	t[k->len > 0 && k->p[k->len - 1] == '\0' ? k->len - 1 : k->len] =
	    '\0';
	ks->k[ks->n++] = t;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What each(s, ...) gives, sorted, joined by spaces (static buffer). */
static const char *
listed(const rw_seen *s, int (*each)(const rw_seen *, int (*)(void *,
    const rw_key *), void *))
{
	static char out[1024];
	keys ks = { { NULL }, 0 };
	size_t o = 0;

	out[0] = '\0';
	assert_int_equal(each(s, key_text, &ks), 0);
	qsort(ks.k, (size_t)ks.n, sizeof(ks.k[0]), cmp_str);
	for (int i = 0; i < ks.n; i++) {
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s",
		    i ? " " : "", ks.k[i]);
		free(ks.k[i]);
	}
	return out;
}

/* The agent's save: removals, then additions, then rw_seen_saved(). */
static void
save(rw_seen *s, store *st)
{
	assert_int_equal(rw_seen_each_forgotten(s, store_del, st), 0);
	assert_int_equal(rw_seen_each_unsaved(s, store_add, st), 0);
	rw_seen_saved(s);
	assert_int_equal(rw_seen_unsaved(s), 0);
	assert_int_equal(rw_seen_forgotten(s), 0);
}

/* What needs saving: nothing in the steady state; the series noted since
 * the last save; the saved ones forgotten (only after their markers);
 * and a set loaded in a new process finds what went away meanwhile. */
static void
test_seen_saved(void **state)
{
	rw_batch *b = rw_batch_new(100), *m = rw_batch_new(100);
	rw_seen *s = rw_seen_new(), *s2 = rw_seen_new();
	store st = { { NULL }, { 0 }, 0 };
	static const char bad[] = "not\0a key";
	rw_key k = { bad, sizeof(bad) - 1 };

	(void)state;
	assert_non_null(b);
	assert_non_null(m);
	assert_non_null(s);
	assert_non_null(s2);
	rw_seen_round(s);
	add_noted(b, s, "a", "job=\"j\"", NULL, 1);
	add_noted(b, s, "b", "job=\"j\"", NULL, 1);
	add_noted(b, s, "c", "job=\"j\"", "x=\"1\"", 1);
	add_noted(b, s, "c", "job=\"j\"", "x=\"1\"", 1);
	rw_seen_walked(s);
	assert_int_equal(rw_seen_unsaved(s), 3);
	assert_int_equal(rw_seen_forgotten(s), 0);
	assert_string_equal(listed(s, rw_seen_each_unsaved),
	    "__name__=a;job=j __name__=b;job=j __name__=c;job=j;x=1");
	save(s, &st);
	assert_int_equal(st.n, 3);
	/* The same series again: nothing to save. */
	rw_batch_reset(b);
	rw_seen_round(s);
	add_noted(b, s, "c", "job=\"j\"", "x=\"1\"", 2);
	add_noted(b, s, "b", "job=\"j\"", NULL, 2);
	add_noted(b, s, "a", "job=\"j\"", NULL, 2);
	rw_seen_walked(s);
	assert_int_equal(rw_seen_unsaved(s), 0);
	assert_int_equal(rw_seen_forgotten(s), 0);
	assert_string_equal(listed(s, rw_seen_each_unsaved), "");
	/* c went away: forgotten only once its marker went. */
	rw_batch_reset(b);
	rw_seen_round(s);
	add_noted(b, s, "a", "job=\"j\"", NULL, 3);
	add_noted(b, s, "b", "job=\"j\"", NULL, 3);
	rw_seen_walked(s);
	assert_int_equal(rw_seen_forgotten(s), 0);
	assert_int_equal(rw_seen_forget_gone(s), RW_OK);
	assert_string_equal(listed(s, rw_seen_each_forgotten),
	    "__name__=c;job=j;x=1");
	assert_int_equal(rw_seen_unsaved(s), 0);
	save(s, &st);
	assert_int_equal(st.n, 2);
	/* b goes, and comes back before the save; d is new; an unsaved
	 * series that goes is not a removal. */
	rw_batch_reset(b);
	rw_seen_round(s);
	add_noted(b, s, "a", "job=\"j\"", NULL, 4);
	add_noted(b, s, "e", "job=\"j\"", NULL, 4);
	rw_seen_walked(s);
	assert_int_equal(rw_seen_forget_gone(s), RW_OK);
	assert_string_equal(listed(s, rw_seen_each_forgotten),
	    "__name__=b;job=j");
	rw_batch_reset(b);
	rw_seen_round(s);
	add_noted(b, s, "a", "job=\"j\"", NULL, 5);
	add_noted(b, s, "b", "job=\"j\"", NULL, 5);
	add_noted(b, s, "d", "job=\"j\"", NULL, 5);
	rw_seen_walked(s);
	assert_int_equal(rw_seen_forget_gone(s), RW_OK);
	assert_string_equal(listed(s, rw_seen_each_unsaved),
	    "__name__=b;job=j __name__=d;job=j");
	assert_string_equal(listed(s, rw_seen_each_forgotten),
	    "__name__=b;job=j");
	save(s, &st);
	assert_int_equal(st.n, 3);
	/* A new process loads the kept set; a and b were deleted while it
	 * was stopped. */
	for (int i = 0; i < st.n; i++) {
		rw_key lk = { st.k[i], st.len[i] };
		assert_int_equal(rw_seen_load(s2, &lk), RW_OK);
	}
	assert_int_equal(rw_seen_load(s2, &k), RW_EINVAL);
	assert_int_equal(rw_seen_count(s2), 3);
	assert_int_equal(rw_seen_unsaved(s2), 0);
	assert_int_equal(rw_seen_forgotten(s2), 1);
	assert_string_equal(listed(s2, rw_seen_each_forgotten), "not=a key");
	/* Before a whole walk nothing is gone. */
	assert_int_equal(rw_seen_each_gone(s2, collect_gone, m), 0);
	assert_int_equal(rw_batch_count(m), 0);
	rw_batch_reset(b);
	rw_seen_round(s2);
	assert_int_equal(add_noted(b, s2, "d", "job=\"j\"", NULL, 6), 0);
	assert_int_equal(rw_seen_unsaved(s2), 0);
	rw_seen_walked(s2);
	assert_string_equal(listed(s2, rw_seen_each_gone),
	    "__name__=a;job=j __name__=b;job=j");
	assert_int_equal(rw_seen_each_gone(s2, collect_gone, m), 0);
	assert_int_equal(rw_batch_count(m), 2);
	assert_int_equal(rw_seen_forget_gone(s2), RW_OK);
	assert_int_equal(rw_seen_count(s2), 1);
	assert_string_equal(listed(s2, rw_seen_each_forgotten),
	    "__name__=a;job=j __name__=b;job=j not=a key");
	/* Loaded again before the save that removes it: not added, its
	 * marker went. */
	{
		static const char ka[] = "__name__\0a\0job\0j\0";
		rw_key lk = { ka, sizeof(ka) - 1 };
		assert_int_equal(rw_seen_load(s2, &lk), RW_OK);
		assert_int_equal(rw_seen_count(s2), 1);
	}
	save(s2, &st);
	assert_int_equal(st.n, 1);
	/* A load retried into a set in use merges: a series noted already
	 * stays unsaved; a new one is not gone before the next whole walk. */
	{
		static const char kd[] = "__name__\0d\0job\0j\0";
		static const char kq[] = "__name__\0q\0job\0j\0";
		rw_key ld = { kd, sizeof(kd) - 1 }, lq = { kq, sizeof(kq) - 1 };
		rw_batch_reset(b);
		rw_seen_round(s2);
		add_noted(b, s2, "f", "job=\"j\"", NULL, 8);
		add_noted(b, s2, "d", "job=\"j\"", NULL, 8);
		rw_seen_walked(s2);
		assert_int_equal(rw_seen_load(s2, &ld), RW_OK);
		assert_int_equal(rw_seen_load(s2, &lq), RW_OK);
		assert_string_equal(listed(s2, rw_seen_each_unsaved),
		    "__name__=f;job=j");
		assert_string_equal(listed(s2, rw_seen_each_gone), "");
		rw_seen_round(s2);
		add_noted(b, s2, "f", "job=\"j\"", NULL, 9);
		add_noted(b, s2, "d", "job=\"j\"", NULL, 9);
		rw_seen_walked(s2);
		assert_string_equal(listed(s2, rw_seen_each_gone),
		    "__name__=q;job=j");
	}
	rw_seen_clear(s2);
	assert_int_equal(rw_seen_count(s2), 0);
	assert_int_equal(rw_seen_unsaved(s2), 0);
	assert_int_equal(rw_seen_forgotten(s2), 0);
	for (int i = 0; i < st.n; i++)
		free(st.k[i]);
	rw_seen_free(s);
	rw_seen_free(s2);
	rw_batch_free(b);
	rw_batch_free(m);
}

static void
test_add_key_and_drop(void **state)
{
	rw_batch *b = rw_batch_new(2);
	static const char key[] = "__name__\0up\0job\0x\0";
	rw_key k = { key, sizeof(key) - 1 }, bad = { key, 3 };
	Prometheus__WriteRequest *wr;

	(void)state;
	assert_non_null(b);
	assert_int_equal(rw_batch_add_key(b, &bad, 1, 1), RW_EINVAL);
	assert_int_equal(rw_batch_add_key(b, &k, 7, 1), RW_OK);
	assert_int_equal(rw_batch_add(b, "z", NULL, "q=\"1\"", 8, 2), RW_OK);
	assert_int_equal(rw_batch_add_key(b, &k, 7, 1), RW_EFULL);
	rw_batch_drop_last(b);
	assert_int_equal(rw_batch_count(b), 1);
	assert_int_equal(rw_batch_add(b, "w", NULL, NULL, 9, 3), RW_OK);
	wr = decode(b);
	assert_int_equal(wr->n_timeseries, 2);
	labels_are(wr, 0, "__name__=up;job=x");
	labels_are(wr, 1, "__name__=w");
	assert_true(wr->timeseries[1]->samples[0]->value == 9);
	prometheus__write_request__free_unpacked(wr, NULL);
	rw_batch_reset(b);
	rw_batch_drop_last(b);
	assert_int_equal(rw_batch_count(b), 0);
	rw_batch_free(b);
}

/* A native histogram at schema 3: positive buckets -1, 0, 3 (after two
 * empty ones: written as zeros in the span), 10 (a span of its own); one
 * negative bucket; two in the zero bucket. */
static const nhist_bucket hpos[] = { { -1, 1 }, { 0, 2 }, { 3, 1 },
    { 10, 3 } };
static const nhist_bucket hneg[] = { { 2, 1 } };
static const spool_nhist hist1 = { 3, 2.938735877055719e-39, 2, 10, 160,
    hpos, 4, hneg, 1 };

static void
span_is(const Prometheus__BucketSpan *sp, int32_t offset, uint32_t length)
{
	assert_int_equal(sp->offset, offset);
	assert_int_equal(sp->length, length);
}

static void
test_hist(void **state)
{
	rw_batch *b = rw_batch_new(10);
	Prometheus__WriteRequest *wr;
	const Prometheus__Histogram *h;
	static const int64_t pd[] = { 1, 1, -2, 0, 1, 2 };
	/* positive_deltas (field 12), packed: zigzag 2 2 3 0 2 4. */
	static const char packed[] = "\x62\x06\x02\x02\x03\x00\x02\x04";
	const char *z;
	size_t zl, rl;
	char *raw;

	(void)state;
	assert_non_null(b);
	assert_int_equal(rw_batch_add(b, "up", "job=\"x\"", NULL, 1, 5), RW_OK);
	assert_int_equal(rw_batch_add_hist(b, "job_seconds",
	    "job=\"x\",instance=\"i\"", "path=\"/a\",instance=\"no\"", &hist1,
	    12.5, 1700000000123), RW_OK);
	assert_int_equal(rw_batch_add(b, "z", NULL, NULL, 2, 6), RW_OK);
	assert_int_equal(rw_batch_count(b), 3);
	assert_int_equal(rw_batch_histograms(b), 1);

	assert_int_equal(rw_batch_encode(b, &z, &zl), RW_OK);
	assert_int_equal(snappy_uncompressed_length(z, zl, &rl), SNAPPY_OK);
	raw = malloc(rl);
	assert_non_null(raw);
	assert_int_equal(snappy_uncompress(z, zl, raw, &rl), SNAPPY_OK);
	assert_non_null(memmem(raw, rl, packed, sizeof(packed) - 1));
	wr = prometheus__write_request__unpack(NULL, rl, (uint8_t *)raw);
	free(raw);
	assert_non_null(wr);
	assert_int_equal(wr->n_timeseries, 3);
	labels_are(wr, 0, "__name__=up;job=x");
	assert_int_equal(wr->timeseries[0]->n_histograms, 0);
	labels_are(wr, 1, "__name__=job_seconds;instance=i;job=x;path=/a");
	assert_int_equal(wr->timeseries[1]->n_samples, 0);
	assert_int_equal(wr->timeseries[1]->n_histograms, 1);
	h = wr->timeseries[1]->histograms[0];
	assert_int_equal(h->count_case, PROMETHEUS__HISTOGRAM__COUNT_COUNT_INT);
	assert_int_equal(h->count_int, 10);
	assert_true(h->sum == 12.5);
	assert_int_equal(h->schema, 3);
	assert_true(h->zero_threshold == 2.938735877055719e-39);
	assert_int_equal(h->zero_count_case,
	    PROMETHEUS__HISTOGRAM__ZERO_COUNT_ZERO_COUNT_INT);
	assert_int_equal(h->zero_count_int, 2);
	assert_int_equal(h->n_positive_spans, 2);
	span_is(h->positive_spans[0], -1, 5);
	span_is(h->positive_spans[1], 6, 1);
	assert_int_equal(h->n_positive_deltas, 6);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(h->positive_deltas[i], pd[i]);
	assert_int_equal(h->n_negative_spans, 1);
	span_is(h->negative_spans[0], 2, 1);
	assert_int_equal(h->n_negative_deltas, 1);
	assert_int_equal(h->negative_deltas[0], 1);
	assert_int_equal(h->n_positive_counts, 0);
	assert_int_equal(h->n_negative_counts, 0);
	assert_int_equal(h->reset_hint,
	    PROMETHEUS__HISTOGRAM__RESET_HINT__UNKNOWN);
	assert_int_equal(h->timestamp, 1700000000123);
	labels_are(wr, 2, "__name__=z");
	assert_true(wr->timeseries[2]->samples[0]->value == 2);
	assert_int_equal(wr->timeseries[2]->samples[0]->timestamp, 6);
	prometheus__write_request__free_unpacked(wr, NULL);
	rw_batch_free(b);
}

/* The same request without its histograms (a receiver that has them
 * disabled); a histogram taken back; one that does not encode. */
static void
test_hist_strip_and_drop(void **state)
{
	rw_batch *b = rw_batch_new(4);
	static const nhist_bucket unsorted[] = { { 3, 1 }, { 1, 1 } };
	spool_nhist bad = hist1;
	Prometheus__WriteRequest *wr;

	(void)state;
	assert_non_null(b);
	assert_int_equal(rw_batch_strip_histograms(b), 0);
	assert_int_equal(rw_batch_add(b, "a", NULL, NULL, 1, 5), RW_OK);
	assert_int_equal(rw_batch_add_hist(b, "h", NULL, NULL, &hist1, 1, 5),
	    RW_OK);
	assert_int_equal(rw_batch_add(b, "b", NULL, NULL, 2, 5), RW_OK);
	assert_int_equal(rw_batch_add_hist(b, "g", NULL, NULL, &hist1, 1, 5),
	    RW_OK);
	assert_int_equal(rw_batch_add_hist(b, "k", NULL, NULL, &hist1, 1, 5),
	    RW_EFULL);
	assert_int_equal(rw_batch_strip_histograms(b), 2);
	assert_int_equal(rw_batch_count(b), 2);
	assert_int_equal(rw_batch_histograms(b), 0);
	wr = decode(b);
	assert_int_equal(wr->n_timeseries, 2);
	labels_are(wr, 0, "__name__=a");
	labels_are(wr, 1, "__name__=b");
	assert_int_equal(wr->timeseries[1]->n_histograms, 0);
	assert_true(wr->timeseries[1]->samples[0]->value == 2);
	prometheus__write_request__free_unpacked(wr, NULL);

	rw_batch_reset(b);
	assert_int_equal(rw_batch_add_hist(b, "h", NULL, NULL, &hist1, 1, 5),
	    RW_OK);
	rw_batch_drop_last(b);
	assert_int_equal(rw_batch_count(b), 0);
	assert_int_equal(rw_batch_histograms(b), 0);
	bad.pos = unsorted;
	bad.npos = 2;
	assert_int_equal(rw_batch_add_hist(b, "h", NULL, NULL, &bad, 1, 5),
	    RW_EINVAL);
	bad = hist1;
	bad.schema = 9;
	assert_int_equal(rw_batch_add_hist(b, "h", NULL, NULL, &bad, 1, 5),
	    RW_EINVAL);
	assert_int_equal(rw_batch_add_hist(b, "h", NULL, "bad", &hist1, 1, 5),
	    RW_EINVAL);
	assert_int_equal(rw_batch_count(b), 0);
	assert_int_equal(rw_batch_add_hist(b, "h", "job=\"j\"", NULL, &hist1,
	    4, 7), RW_OK);
	/* Only the zero bucket: no spans, no deltas. */
	bad = hist1;
	bad.npos = bad.nneg = 0;
	bad.pos = bad.neg = NULL;
	bad.count = 2;
	assert_int_equal(rw_batch_add_hist(b, "z", NULL, NULL, &bad, 0, 7),
	    RW_OK);
	wr = decode(b);
	assert_int_equal(wr->n_timeseries, 2);
	assert_int_equal(wr->timeseries[1]->histograms[0]->count_int, 2);
	assert_int_equal(wr->timeseries[1]->histograms[0]->zero_count_int, 2);
	assert_int_equal(wr->timeseries[1]->histograms[0]->n_positive_spans,
	    0);
	assert_int_equal(wr->timeseries[1]->histograms[0]->n_negative_deltas,
	    0);
	labels_are(wr, 0, "__name__=h;job=j");
	assert_int_equal(wr->timeseries[0]->histograms[0]->n_positive_deltas,
	    6);
	assert_true(wr->timeseries[0]->histograms[0]->sum == 4);
	prometheus__write_request__free_unpacked(wr, NULL);
	rw_batch_free(b);
}

/* RW_BATCH_BUCKETS: histograms of 4096 adjacent buckets (a span and 4096
 * deltas each) fill a batch at 12, whatever max_samples. */
static void
test_hist_bucket_cap(void **state)
{
	rw_batch *b = rw_batch_new(1000);
	nhist_bucket *bk = calloc(4096, sizeof(*bk));
	spool_nhist h = hist1;
	size_t n = 0;
	rw_err e;

	(void)state;
	assert_non_null(b);
	assert_non_null(bk);
	for (int32_t i = 0; i < 4096; i++)
		bk[i] = (nhist_bucket){ i, 1 };
	h.pos = bk;
	h.npos = 4096;
	h.nneg = 0;
	while (n < 100 && (e = rw_batch_add_hist(b, "h", NULL, NULL, &h, 1,
	    (int64_t)n)) == RW_OK)
		n++;
	assert_int_equal(e, RW_EFULL);
	assert_int_equal(n, 12);
	assert_int_equal(rw_batch_add(b, "f", NULL, NULL, 1, 1), RW_OK);
	rw_batch_reset(b);
	assert_int_equal(rw_batch_add_hist(b, "h", NULL, NULL, &h, 1, 1),
	    RW_OK);
	free(bk);
	rw_batch_free(b);
}

static int
grab_key(void *arg, const rw_key *k)
{
	char **out = arg;

	*out = malloc(k->len);
	assert_non_null(*out);
	memcpy(*out, k->p, k->len);
	return (int)k->len;
}

/* A histogram's series is noted like a sample's: its marker, a float
 * staleness NaN, goes on NAME with its labels. */
static void
test_hist_marker(void **state)
{
	rw_batch *b = rw_batch_new(4);
	rw_seen *s = rw_seen_new();
	static const char want[] = "__name__\0job_seconds\0job\0x\0";
	char *key = NULL;
	int dup, len;

	(void)state;
	assert_non_null(b);
	assert_non_null(s);
	rw_seen_round(s);
	assert_int_equal(rw_batch_add_hist(b, "job_seconds", "job=\"x\"", NULL,
	    &hist1, 1, 5), RW_OK);
	assert_int_equal(rw_seen_note(s, b, &dup), RW_OK);
	assert_int_equal(dup, 0);
	assert_int_equal(rw_batch_add_hist(b, "job_seconds", "job=\"x\"", NULL,
	    &hist1, 1, 5), RW_OK);
	assert_int_equal(rw_seen_note(s, b, &dup), RW_OK);
	assert_int_equal(dup, 1);
	rw_seen_walked(s);
	rw_seen_round(s);
	rw_seen_walked(s);
	len = rw_seen_each_gone(s, grab_key, &key);
	assert_int_equal(len, sizeof(want) - 1);
	assert_memory_equal(key, want, sizeof(want) - 1);
	free(key);
	rw_seen_free(s);
	rw_batch_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_full_and_reset),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_seen),
		cmocka_unit_test(test_seen_saved),
		cmocka_unit_test(test_add_key_and_drop),
		cmocka_unit_test(test_hist),
		cmocka_unit_test(test_hist_strip_and_drop),
		cmocka_unit_test(test_hist_bucket_cap),
		cmocka_unit_test(test_hist_marker),
	};

	return cmocka_run_group_tests_name("rw", tests, NULL, NULL);
}
