/*
 * rw — Prometheus remote write 1.0 encoding: samples in, a snappy
 * block-compressed WriteRequest protobuf out (protobuf-c, libsnappy). It
 * knows nothing about HTTP or SQL: a sink adds samples as the spool reader
 * hands them over, then sends what rw_batch_encode() gives.
 *
 * Each sample is one TimeSeries with one Sample. Its labels are __name__,
 * the group's labels (job and grouping; they replace a series label of the
 * same name, as in pull mode) and the series' own, unescaped from the
 * exposition form, sorted by name in byte order as the spec requires.
 */
#ifndef RW_H
#define RW_H

#include <stddef.h>
#include <stdint.h>

typedef enum rw_err {
	RW_OK = 0,
	RW_ENOMEM,
	RW_EINVAL,     /* labels that do not parse, or empty */
	RW_EFULL,      /* the batch holds max_samples already */
	RW_ECOMPRESS   /* snappy refused */
} rw_err;

const char *rw_strerror(rw_err e);

typedef struct rw_batch rw_batch;

/* A batch of at most max_samples samples; NULL out of memory. Caller frees
 * with rw_batch_free(). */
rw_batch *rw_batch_new(size_t max_samples);
void rw_batch_free(rw_batch *b);

/* Empties the batch, keeping its memory for the next. */
void rw_batch_reset(rw_batch *b);

size_t rw_batch_count(const rw_batch *b);

/*
 * Adds one sample. name is the sample's metric name (NAME_bucket, ...);
 * group and labels are canonical exposition label lists (`k="v",...`,
 * escaped; "" or NULL for none): the group's labels win over the series'.
 * A value of NaN is sent as is (use rw_stale_nan() for a staleness marker).
 */
rw_err rw_batch_add(rw_batch *b, const char *name, const char *group,
    const char *labels, double value, int64_t ts_ms);

/* Prometheus' staleness marker: a NaN with the payload 0x7ff0000000000002. */
double rw_stale_nan(void);

/*
 * Serializes the batch and compresses it. *out (len *outlen) is borrowed
 * from the batch until its next change.
 */
rw_err rw_batch_encode(rw_batch *b, const char **out, size_t *outlen);

#endif
