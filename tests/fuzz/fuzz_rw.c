/* libFuzzer target: the remote-write encoder (agent/rw.c) with arbitrary
 * names, group labels and series labels. Whatever it accepts must decode
 * (snappy, then the WriteRequest protobuf) to one series whose labels are
 * sorted, unique and non-empty, carry __name__ and every non-empty group
 * label with its value unescaped; the series' key (rw_seen) must encode
 * to the same bytes (staleness markers name exactly the series sent); and
 * a second note in one round must be a duplicate. The input's raw bytes,
 * loaded as a kept key (a damaged spool), must either make a marker or be
 * refused and counted as forgotten, for the next save to remove. The
 * raw bytes as a native histogram's buckets must be refused exactly when
 * they are not in ascending order, and otherwise decode (spans, deltas:
 * nhist_decode) to the same buckets, count, schema and zero bucket. */
#include <math.h>
#include <snappy-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "nhist.h"
#include "remote.pb-c.h"
#include "rw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The exposition escapes undone, as a receiver must see the value. */
static char *
unescape(const char *p, size_t n)
{
	char *o = malloc(n + 1), *w = o;

	if (o == NULL)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\' && i + 1 < n) {
			i++;
			*w++ = p[i] == 'n' ? '\n' : p[i];
		} else
			*w++ = p[i];
	}
	*w = '\0';
	return o;
}

static Prometheus__WriteRequest *
decode(rw_batch *b, char **raw, size_t *rawlen)
{
	const char *z;
	size_t zl, rl;
	Prometheus__WriteRequest *wr;

	if (rw_batch_encode(b, &z, &zl) != RW_OK)
		abort();
	if (snappy_uncompressed_length(z, zl, &rl) != SNAPPY_OK)
		abort();
	if ((*raw = malloc(rl + 1)) == NULL)
		abort();
	if (snappy_uncompress(z, zl, *raw, &rl) != SNAPPY_OK)
		abort();
	*rawlen = rl;
	wr = prometheus__write_request__unpack(NULL, rl, (uint8_t *)*raw);
	if (wr == NULL)
		abort();
	return wr;
}

static const char *
find_label(const Prometheus__TimeSeries *ts, const char *name)
{
	for (size_t i = 0; i < ts->n_labels; i++)
		if (strcmp(ts->labels[i]->name, name) == 0)
			return ts->labels[i]->value;
	return NULL;
}

/* The series' key, captured for the second batch. */
static int
grab(void *arg, const rw_key *k)
{
	rw_key *out = arg;

	if ((out->p = malloc(k->len)) == NULL)
		abort();
	memcpy((char *)(uintptr_t)out->p, k->p, k->len);
	out->len = k->len;
	return 0;
}

/* A marker for a loaded key; a key rw_seen_load() took must make one. */
static int
mark(void *arg, const rw_key *k)
{
	if (rw_batch_add_key(arg, k, rw_stale_nan(), 1) != RW_OK)
		abort();
	return 0;
}

static void
load_raw(const uint8_t *data, size_t size)
{
	rw_seen *l = rw_seen_new();
	rw_batch *lb = rw_batch_new(1);
	rw_key k = { (const char *)data, size };
	rw_err e;

	if (l == NULL || lb == NULL)
		abort();
	e = rw_seen_load(l, &k);
	if (e == RW_OK) {
		rw_seen_round(l);
		rw_seen_walked(l);
		if (rw_seen_count(l) != 1 || rw_seen_forgotten(l) != 0 ||
		    rw_seen_unsaved(l) != 0 ||
		    rw_seen_each_gone(l, mark, lb) != 0 ||
		    rw_batch_count(lb) != 1)
			abort();
	} else if (e != RW_EINVAL || rw_seen_count(l) != 0 ||
	    rw_seen_forgotten(l) != (size > 0 ? 1u : 0u))
		abort();
	rw_seen_free(l);
	rw_batch_free(lb);
}

/* Buckets from data[1..], 3 bytes each: an index step (signed: a step of
 * 0 or less leaves the set unsorted) and a count; the first half
 * positive, the rest negative. The schema from data[0]. */
#define HB 64

/* One side as the receiver decodes it, against what went in. */
static void
side_is(const nhist_bucket *in, size_t n, Prometheus__BucketSpan **ps,
    size_t nps, const int64_t *d, size_t nd)
{
	nhist_span sp[3 * HB];
	nhist_bucket out[3 * HB];
	size_t no, k = 0;

	if (nps > 3 * HB)
		abort();
	for (size_t i = 0; i < nps; i++) {
		sp[i].offset = ps[i]->offset;
		sp[i].length = ps[i]->length;
	}
	if (nhist_decode(sp, nps, d, nd, out, 3 * HB, &no) != NHIST_OK)
		abort();
	/* decode drops the zero counts, which encode keeps as given. */
	for (size_t i = 0; i < n; i++) {
		if (in[i].count == 0)
			continue;
		if (k == no || out[k].index != in[i].index ||
		    out[k].count != in[i].count)
			abort();
		k++;
	}
	if (k != no)
		abort();
}

static void
hist_raw(const uint8_t *data, size_t size)
{
	nhist_bucket bk[HB];
	spool_nhist h;
	size_t n = 0;
	int sorted = 1;
	int32_t idx = -40;
	uint64_t total = 0;
	rw_batch *b = rw_batch_new(2);
	Prometheus__WriteRequest *wr;
	const Prometheus__TimeSeries *ts;
	const Prometheus__Histogram *p;
	char *raw = NULL;
	size_t rl;
	rw_err e;

	if (b == NULL)
		abort();
	for (size_t i = 1; i + 3 <= size && n < HB; i += 3) {
		int step = (int8_t)data[i];
		idx += step;
		bk[n].index = idx;
		bk[n].count = data[i + 1] | (int64_t)data[i + 2] << 8;
		total += (uint64_t)bk[n].count;
		n++;
	}
	memset(&h, 0, sizeof(h));
	h.schema = size > 0 ? data[0] % 13 - 4 : 3;
	h.zero_threshold = 0.001;
	h.zero_count = 7;
	h.count = total + 7;
	h.npos = n / 2;
	h.pos = bk;
	h.nneg = n - n / 2;
	h.neg = bk + n / 2;
	for (size_t i = 1; i < n; i++)
		if (i != n / 2 && bk[i].index <= bk[i - 1].index)
			sorted = 0;
	if (rw_batch_add(b, "f", NULL, NULL, 2, 5) != RW_OK)
		abort();
	e = rw_batch_add_hist(b, "h", "job=\"j\"", NULL, &h, 9.5, 1234);
	if ((e == RW_OK) != sorted || (e != RW_OK && e != RW_EINVAL))
		abort();
	if (e == RW_OK) {
		wr = decode(b, &raw, &rl);
		if (wr->n_timeseries != 2)
			abort();
		ts = wr->timeseries[1];
		if (ts->n_samples != 0 || ts->n_histograms != 1)
			abort();
		p = ts->histograms[0];
		if (p->count_int != h.count || p->zero_count_int != 7 ||
		    p->schema != h.schema || p->sum != 9.5 ||
		    p->zero_threshold != 0.001 || p->timestamp != 1234)
			abort();
		side_is(h.pos, h.npos, p->positive_spans, p->n_positive_spans,
		    p->positive_deltas, p->n_positive_deltas);
		side_is(h.neg, h.nneg, p->negative_spans, p->n_negative_spans,
		    p->negative_deltas, p->n_negative_deltas);
		prometheus__write_request__free_unpacked(wr, NULL);
		free(raw);
		if (rw_batch_strip_histograms(b) != 1 || rw_batch_count(b) != 1)
			abort();
		wr = decode(b, &raw, &rl);
		if (wr->n_timeseries != 1 || wr->timeseries[0]->n_samples != 1)
			abort();
		prometheus__write_request__free_unpacked(wr, NULL);
		free(raw);
	} else if (rw_batch_count(b) != 1 || rw_batch_histograms(b) != 0)
		abort();
	rw_batch_free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *part[3] = { "", "", "" };
	rw_batch *b = rw_batch_new(4), *b2 = rw_batch_new(4);
	rw_seen *s = rw_seen_new();
	Prometheus__WriteRequest *wr;
	const Prometheus__TimeSeries *ts;
	expo_label gl[EXPO_MAX_LABELS];
	const char *why;
	char *raw = NULL, *raw2 = NULL;
	size_t ng = 0, rl, rl2;
	rw_key key = { NULL, 0 };
	int dup;

	if (in == NULL || b == NULL || b2 == NULL || s == NULL)
		abort();
	load_raw(data, size);
	hist_raw(data, size);
	memcpy(in, data, size);
	in[size] = '\0';
	/* name \n group \n labels; a NUL ends the input early, as it ends a
	 * C string the spool would hand over. */
	for (int i = 0, k = 0; i < 3; i++) {
		part[i] = in + k;
		char *nl = strchr(in + k, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		k = (int)(nl - in) + 1;
	}
	if (rw_batch_add(b, part[0], part[1], part[2], 1.5, 1234) != RW_OK)
		goto out;
	rw_seen_round(s);
	if (rw_seen_note(s, b, &dup) != RW_OK || dup)
		abort();
	if (rw_seen_note(s, b, &dup) != RW_OK || !dup)
		abort();
	wr = decode(b, &raw, &rl);
	if (wr->n_timeseries != 1)
		abort();
	ts = wr->timeseries[0];
	if (ts->n_samples != 1 || ts->samples[0]->value != 1.5 ||
	    ts->samples[0]->timestamp != 1234)
		abort();
	for (size_t i = 0; i < ts->n_labels; i++) {
		if (ts->labels[i]->name[0] == '\0' ||
		    ts->labels[i]->value[0] == '\0')
			abort();
		if (i > 0 && strcmp(ts->labels[i - 1]->name,
		    ts->labels[i]->name) >= 0)
			abort();
	}
	if (find_label(ts, "__name__") == NULL ||
	    strcmp(find_label(ts, "__name__"), part[0]) != 0)
		abort();
	/* The group's labels win over the series'. */
	if (*part[1] != '\0' && expo_parse_labels(part[1], strlen(part[1]), gl,
	    EXPO_MAX_LABELS, &ng, &why) == 0) {
		for (size_t i = 0; i < ng; i++) {
			char *n = unescape(gl[i].name.p, gl[i].name.len);
			char *v = unescape(gl[i].value.p, gl[i].value.len);
			const char *got = find_label(ts, n);
			if (*v != '\0' && (got == NULL || strcmp(got, v) != 0))
				abort();
			free(n);
			free(v);
		}
	}
	prometheus__write_request__free_unpacked(wr, NULL);
	/* The next round does not give it: its key makes the same series. */
	rw_seen_round(s);
	rw_seen_walked(s);
	if (rw_seen_each_gone(s, grab, &key) != 0 || key.p == NULL)
		abort();
	if (rw_batch_add_key(b2, &key, 1.5, 1234) != RW_OK)
		abort();
	wr = decode(b2, &raw2, &rl2);
	prometheus__write_request__free_unpacked(wr, NULL);
	if (rl != rl2 || memcmp(raw, raw2, rl) != 0)
		abort();
	if (rw_seen_forget_gone(s) != RW_OK || rw_seen_count(s) != 0)
		abort();
out:
	free((char *)(uintptr_t)key.p);
	free(raw);
	free(raw2);
	rw_seen_free(s);
	rw_batch_free(b);
	rw_batch_free(b2);
	free(in);
	return 0;
}
