/*
 * nhist — the bucket arithmetic of Prometheus' native (sparse exponential)
 * histograms, matching client_golang's prometheus/histogram.go exactly:
 * the key of an observation (math.Frexp and the nativeHistogramBounds
 * table for schema > 0, the binary exponent for schema <= 0), the merge of
 * bucket pairs when the schema is lowered by one (doubleBucketWidth), and
 * the spans + deltas form of the protobuf (makeBuckets).
 *
 * At schema s (NHIST_SCHEMA_MIN…NHIST_SCHEMA_MAX) the base is 2^(2^-s) and
 * bucket i holds (base^(i-1), base^i]: base^i itself belongs to bucket i.
 * Values with |v| <= the zero threshold go to the zero bucket; that test
 * is the caller's (the threshold is configuration), nhist_index() is only
 * asked about the others. Negative values use |v| (their own bucket set).
 *
 * Pure arithmetic: no allocation, no global state, thread-safe. Every
 * output array is the caller's, with its capacity passed in.
 *
 * Part of the library (the fold uses it); not installed.
 */
#ifndef NHIST_H
#define NHIST_H

#include <stddef.h>
#include <stdint.h>

#define NHIST_SCHEMA_MIN (-4)
#define NHIST_SCHEMA_MAX 8

typedef enum nhist_err {
	NHIST_OK = 0,
	NHIST_ESCHEMA,   /* schema outside NHIST_SCHEMA_MIN…NHIST_SCHEMA_MAX */
	NHIST_ENAN,      /* NaN has no bucket (client_golang counts it only
	                  * in the count and the sum) */
	NHIST_EZERO,     /* 0 has no bucket: it is always in the zero bucket */
	NHIST_EINVAL,    /* input not sorted, negative count, lengths that do
	                  * not add up */
	NHIST_ERANGE,    /* an index that does not fit in int32 */
	NHIST_ENOSPACE   /* an output array too small */
} nhist_err;

const char *nhist_strerror(nhist_err e);

/* One sparse bucket: its index and its count (never negative). */
typedef struct nhist_bucket {
	int32_t index;
	int64_t count;
} nhist_bucket;

/* One span of the protobuf: offset from the end of the previous span (from
 * index 0 for the first), then length consecutive buckets. */
typedef struct nhist_span {
	int32_t offset;
	uint32_t length;
} nhist_span;

/*
 * The bucket index of v at schema, as client_golang's observe computes it.
 * v may be negative (|v| is used) and any finite non-zero double, DBL_MAX
 * and subnormals included. ±Inf, as in client_golang, goes to the bucket
 * after the one of ±DBL_MAX (whose upper bound is +Inf). NaN gives
 * NHIST_ENAN and 0 gives NHIST_EZERO; *out is then untouched.
 */
nhist_err nhist_index(double v, int schema, int32_t *out);

/*
 * The upper bound base^i of bucket i at schema, exactly as the index uses
 * it: *frac in [0.5, 1) and *exp such that the bound is frac * 2^exp (no
 * rounding, even where ldexp would round into the subnormals or overflow).
 * The lower bound is that of i - 1.
 */
nhist_err nhist_bound(int32_t i, int schema, double *frac, int64_t *exp);

/* The same bound as a double: ldexp of the above, so +Inf above DBL_MAX
 * and rounded (or 0) below the smallest subnormal. NaN for a bad schema. */
double nhist_upper(int32_t i, int schema);

/*
 * The index after lowering the schema by one, which merges buckets 2j-1
 * and 2j into j: ceil(i / 2), client_golang's "if key > 0 { key++ };
 * key /= 2". Never overflows.
 */
int32_t nhist_reduce(int32_t i);

/*
 * Lowers a bucket set's schema by one in place: b[0..n) sorted by strictly
 * ascending index; merged counts are added. Returns the new length (the
 * set stays sorted). Counts are conserved; the caller keeps their sum
 * within int64.
 */
size_t nhist_reduce_set(nhist_bucket *b, size_t n);

/*
 * The cap: while more than cap buckets are in b (positive and negative
 * sets together: client_golang counts both) and *schema > NHIST_SCHEMA_MIN,
 * lowers the schema by one in both sets. *npos, *nneg and *schema are
 * updated. Returns the number of reductions made. client_golang does one
 * reduction per observation that passes the cap, after trying a reset and
 * a wider zero bucket; repeated, that converges to this.
 * A cap of 0 means no cap (as nativeHistogramMaxBuckets).
 */
int nhist_fit(nhist_bucket *pos, size_t *npos, nhist_bucket *neg,
    size_t *nneg, int *schema, size_t cap);

/*
 * Spans and deltas, as makeBuckets: b[0..n) sorted by strictly ascending
 * index. A gap of 1 or 2 empty buckets is written as explicit zero-count
 * buckets inside the span; a longer gap starts a new span. Each delta is
 * the count minus the previous bucket's (the first's minus 0).
 * Room needed: n spans and 3n deltas always suffice. n == 0 gives none.
 * NHIST_EINVAL if not sorted or a count is negative, NHIST_ENOSPACE if
 * an array is too small (the outputs are then unspecified).
 */
nhist_err nhist_encode(const nhist_bucket *b, size_t n, nhist_span *spans,
    size_t spans_cap, size_t *nspans, int64_t *deltas, size_t deltas_cap,
    size_t *ndeltas);

/*
 * Back from spans and deltas: the buckets with a non-zero count, in order
 * (the explicit zeros that encode writes in small gaps are dropped, so a
 * set without zero counts comes back as it was). Room needed: at most
 * ndeltas buckets. NHIST_EINVAL if the span lengths do not add up to
 * ndeltas or a count comes out negative or overflows, NHIST_ERANGE if an
 * index leaves int32, NHIST_ENOSPACE if out is too small.
 */
nhist_err nhist_decode(const nhist_span *spans, size_t nspans,
    const int64_t *deltas, size_t ndeltas, nhist_bucket *out,
    size_t out_cap, size_t *nout);

#endif
