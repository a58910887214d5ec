/* libFuzzer target: the native-histogram arithmetic (spool/nhist.h).
 * The input is a schema byte, then doubles (8 bytes each). For each value
 * at that schema: its bucket holds it (lower < |v| <= upper, compared
 * exactly as fraction and binary exponent with the bounds nhist computes),
 * lowering the schema is the index at the schema below, and reduction is
 * monotone. The indexes, with counts from the value bits, form a bucket
 * set whose spans and deltas decode back to it. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nhist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXV 512

static nhist_bucket set[MAXV], back[3 * MAXV];
static nhist_span spans[MAXV];
static int64_t deltas[3 * MAXV];
static int32_t keys[MAXV];

/* a * 2^ae <=> b * 2^be, both fractions in [0.5, 1) */
static int
cmp(double a, int64_t ae, double b, int64_t be)
{
	if (ae != be)
		return ae < be ? -1 : 1;
	return a < b ? -1 : a > b;
}

static int
by_index(const void *a, const void *b)
{
	const nhist_bucket *x = a, *y = b;

	return (x->index > y->index) - (x->index < y->index);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int schema, e;
	size_t n = 0, m, ns, nd, nb;

	if (size < 1)
		return 0;
	schema = NHIST_SCHEMA_MIN + data[0] % (NHIST_SCHEMA_MAX -
	    NHIST_SCHEMA_MIN + 1);
	data++;
	size--;
	for (size_t off = 0; off + 8 <= size && n < MAXV; off += 8) {
		double v, lf, uf, f;
		int64_t le, ue;
		int32_t i, j;
		uint64_t bits;
		nhist_err err;

		memcpy(&bits, data + off, 8);
		memcpy(&v, &bits, 8);
		err = nhist_index(v, schema, &i);
		if (isnan(v) || v == 0) {
			if (err != (isnan(v) ? NHIST_ENAN : NHIST_EZERO))
				abort();
			continue;
		}
		if (err != NHIST_OK)
			abort();
		if (isinf(v)) {
			if (nhist_index(DBL_MAX, schema, &j) != NHIST_OK ||
			    i != j + 1)
				abort();
		} else {
			f = frexp(fabs(v), &e);
			if (nhist_bound(i, schema, &uf, &ue) != NHIST_OK ||
			    nhist_bound(i - 1, schema, &lf, &le) != NHIST_OK)
				abort();
			if (!(cmp(lf, le, f, e) < 0 && cmp(f, e, uf, ue) <= 0))
				abort();
		}
		if (schema > NHIST_SCHEMA_MIN) {
			if (nhist_index(v, schema - 1, &j) != NHIST_OK ||
			    nhist_reduce(i) != j)
				abort();
		}
		keys[n] = i;
		set[n].index = i;
		set[n].count = (int64_t)(bits >> 40) + 1;
		n++;
	}
	/* monotone: a <= b gives reduce(a) <= reduce(b), also at the ends */
	for (size_t k = 0; k + 1 < n; k++) {
		int32_t a = keys[k], b = keys[k + 1];
		if (a > b) {
			int32_t t = a;
			a = b;
			b = t;
		}
		if (nhist_reduce(a) > nhist_reduce(b) ||
		    nhist_reduce(a) > nhist_reduce(a + (a < INT32_MAX)))
			abort();
	}
	/* a sorted set without repeats: equal keys summed */
	qsort(set, n, sizeof(*set), by_index);
	m = 0;
	for (size_t k = 0; k < n; k++) {
		if (m > 0 && set[m - 1].index == set[k].index)
			set[m - 1].count += set[k].count;
		else
			set[m++] = set[k];
	}
	if (nhist_encode(set, m, spans, MAXV, &ns, deltas, 3 * MAXV, &nd) !=
	    NHIST_OK)
		abort();
	if (nhist_decode(spans, ns, deltas, nd, back, 3 * MAXV, &nb) !=
	    NHIST_OK || nb != m)
		abort();
	for (size_t k = 0; k < m; k++)
		if (back[k].index != set[k].index ||
		    back[k].count != set[k].count)
			abort();
	/* a reduced set stays sorted, conserves counts, and still encodes */
	{
		int64_t before = 0, after = 0;
		for (size_t k = 0; k < m; k++)
			before += set[k].count;
		m = nhist_reduce_set(set, m);
		for (size_t k = 0; k < m; k++) {
			after += set[k].count;
			if (k > 0 && set[k - 1].index >= set[k].index)
				abort();
		}
		if (before != after)
			abort();
		if (nhist_encode(set, m, spans, MAXV, &ns, deltas, 3 * MAXV,
		    &nd) != NHIST_OK)
			abort();
	}
	return 0;
}
