/*
 * rw — Prometheus remote write 1.0 encoding: samples in, a snappy
 * block-compressed WriteRequest protobuf out (protobuf-c, libsnappy), and
 * the POST that sends it (rw_post, over http.h). It knows nothing about
 * SQL: a sink adds samples as the spool reader hands them over, then sends
 * what rw_batch_encode() gives.
 *
 * Each sample is one TimeSeries with one Sample, each native histogram
 * one TimeSeries with one Histogram (integer counts, spans and deltas as
 * nhist_encode() makes them, reset hint UNKNOWN). Its labels are __name__,
 * the group's labels (job and grouping; they replace a series label of the
 * same name, as in pull mode) and the series' own, unescaped from the
 * exposition form, sorted by name in byte order as the spec requires.
 */
#ifndef RW_H
#define RW_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "spool-agent.h"

typedef enum rw_err {
	RW_OK = 0,
	RW_ENOMEM,
	RW_EINVAL,     /* labels that do not parse, or empty; a histogram
	                * whose buckets do not encode */
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

/* Entries in the batch: float samples and histograms. */
size_t rw_batch_count(const rw_batch *b);

/* The native histograms among them. */
size_t rw_batch_histograms(const rw_batch *b);

/* How many labels (__name__ included) the last sample added carries; 0
 * when the batch is empty. */
size_t rw_batch_last_labels(const rw_batch *b);

/* Labels past this many are dropped silently by VictoriaMetrics
 * (-maxLabelsPerTimeseries) and refused by Mimir
 * (max_label_names_per_series): their defaults. */
#define RW_RECEIVER_MAX_LABELS 30

/*
 * Adds one sample. name is the sample's metric name (NAME_bucket, ...);
 * group and labels are canonical exposition label lists (`k="v",...`,
 * escaped; "" or NULL for none): the group's labels win over the series'.
 * A value of NaN is sent as is (use rw_stale_nan() for a staleness marker).
 * After RW_ENOMEM the batch keeps what it holds but takes no more samples
 * (nor keys) until rw_batch_reset(): its string arena's error is sticky.
 */
rw_err rw_batch_add(rw_batch *b, const char *name, const char *group,
    const char *labels, double value, int64_t ts_ms);

/*
 * The spans and deltas one batch holds at most, all its histograms
 * together, so that a request stays a few hundred KiB however many
 * buckets its histograms have (a float sample is about 100 bytes, a
 * bucket 2 to 10): a histogram that would pass it makes the batch full,
 * as max_samples does. One histogram alone always fits: spool_nhist's
 * cap (SPOOL_NHIST_MAX_BUCKETS) is far below it.
 */
#define RW_BATCH_BUCKETS 65536

/*
 * Adds one native histogram: h's count, zero bucket, schema and buckets,
 * and sum (spool_hist's), labelled as rw_batch_add() does (name is the
 * family's NAME). It counts as one entry against max_samples, and its
 * buckets against RW_BATCH_BUCKETS: RW_EFULL when either is reached.
 * RW_EINVAL when the labels do not parse, the schema is out of range, or
 * the buckets are not sorted (nhist_encode). h is copied.
 */
rw_err rw_batch_add_hist(rw_batch *b, const char *name, const char *group,
    const char *labels, const spool_nhist *h, double sum, int64_t ts_ms);

/*
 * Takes every histogram out of the batch, keeping its float samples in
 * their order: the same request again for a receiver that refused
 * histograms. Returns how many it took. Only rw_batch_encode(),
 * rw_batch_count() and rw_batch_reset() may follow, not rw_seen_note().
 */
size_t rw_batch_strip_histograms(rw_batch *b);

/* Prometheus' staleness marker: a NaN with the payload 0x7ff0000000000002. */
double rw_stale_nan(void);

/* Takes the last sample or histogram added back out of the batch (no-op
 * when empty). */
void rw_batch_drop_last(rw_batch *b);

/*
 * A series' identity: its final labels as the receiver gets them, sorted,
 * as `name\0value\0...` (len bytes). Borrowed from whoever gave it.
 */
typedef struct rw_key {
	const char *p;
	size_t len;
} rw_key;

/* Adds one sample of the series k (as rw_batch_add, without parsing). */
rw_err rw_batch_add_key(rw_batch *b, const rw_key *k, double value,
    int64_t ts_ms);

/*
 * rw_seen — the series a sink has sent, so that those that go away (their
 * group expired or was deleted) get a staleness marker, as Prometheus
 * gives a series that leaves a scrape.
 *
 * Each round begins with rw_seen_round(); every sample added to the batch
 * is noted with rw_seen_note(); a round that noted every live series (its
 * walk of the spool reached the end, whether or not its requests got
 * through) says so with rw_seen_walked(). Series the last such walk did
 * not note are "gone": the sink sends a marker for each
 * (rw_seen_each_gone) and, once those are delivered, forgets them
 * (rw_seen_forget_gone). Until then they stay gone, so a marker is never
 * lost to a failure; it may be sent twice, which receivers take.
 *
 * The set outlives the process when the sink keeps it elsewhere (the
 * spool): rw_seen_load() at start, then, after a round, a save of what
 * changed, which in the steady state is nothing: the series noted since
 * the last save (rw_seen_each_unsaved) and those forgotten since
 * (rw_seen_each_forgotten, only ever after their markers went); once the
 * save went through, rw_seen_saved().
 */
typedef struct rw_seen rw_seen;

/* NULL out of memory. Caller frees with rw_seen_free(). */
rw_seen *rw_seen_new(void);
void rw_seen_free(rw_seen *s);

/* Forgets everything (another receiver: it never saw these series). */
void rw_seen_clear(rw_seen *s);

/* How many series it remembers. */
size_t rw_seen_count(const rw_seen *s);

void rw_seen_round(rw_seen *s);
void rw_seen_walked(rw_seen *s);

/*
 * Notes the series of the last sample added to b (a histogram's series
 * too: its marker is a float staleness NaN on NAME, which Prometheus'
 * TSDB stores as a stale histogram). *dup is 1 when this
 * round noted it already: two samples of one series at one timestamp,
 * which Prometheus refuses with the whole request; the caller takes the
 * second back out (rw_batch_drop_last).
 */
rw_err rw_seen_note(rw_seen *s, const rw_batch *b, int *dup);

/* Calls fn on each gone series; stops early and returns fn's value when
 * it is not 0. k is borrowed for the call. */
int rw_seen_each_gone(const rw_seen *s, int (*fn)(void *arg,
    const rw_key *k), void *arg);

/* Forgets the gone series (their markers were delivered). */
rw_err rw_seen_forget_gone(rw_seen *s);

/*
 * Adds a series kept from an earlier run (k is copied), as saved, and as
 * if the last whole walk noted it: the next whole walk that does not note
 * it finds it gone. Usually into a new or cleared set; into one in use (a
 * load retried after a failure) it merges: a series already there is left
 * as it is, one forgotten since the last save is not added (its marker
 * went). A k that is not a series' key is RW_EINVAL, and counts as
 * forgotten, so that the next save removes it.
 */
rw_err rw_seen_load(rw_seen *s, const rw_key *k);

/* How many series were noted and not saved since the last save. */
size_t rw_seen_unsaved(const rw_seen *s);

/* How many saved series were forgotten since the last save. */
size_t rw_seen_forgotten(const rw_seen *s);

/* Call fn on each of those; as rw_seen_each_gone(). Nothing in s may
 * change until the save is done (rw_seen_saved) or abandoned. */
int rw_seen_each_unsaved(const rw_seen *s, int (*fn)(void *arg,
    const rw_key *k), void *arg);
int rw_seen_each_forgotten(const rw_seen *s, int (*fn)(void *arg,
    const rw_key *k), void *arg);

/* The save of those went through: all count as saved, none forgotten. */
void rw_seen_saved(rw_seen *s);

/*
 * Serializes the batch and compresses it. *out (len *outlen) is borrowed
 * from the batch until its next change.
 */
rw_err rw_batch_encode(rw_batch *b, const char **out, size_t *outlen);

/*
 * POSTs one encoded request (len bytes, as rw_batch_encode() gives) to the
 * receiver h was made for (its URL is the write endpoint itself), with the
 * headers remote write 1.0 asks for after the configured ones. 2xx is
 * delivered; 5xx, 429 and 408 are retried; any other answer is refused,
 * and the protocol says to drop its samples. Returns http.h's error when
 * the request could not be made (st says why); otherwise st says what
 * the receiver answered.
 */
http_err rw_post(http_t *h, const void *body, size_t len, http_status *st)
    __attribute__((warn_unused_result));

#endif
