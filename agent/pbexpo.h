/*
 * pbexpo — the Prometheus protobuf exposition format: a stream of
 * length-delimited io.prometheus.client.MetricFamily messages
 * (agent/metrics.proto), content type PBEXPO_CONTENT_TYPE. It is what a
 * Pushgateway takes in a PUT and what a scraper that asks for it reads from
 * /metrics, and the only exposition format that carries native histograms.
 * It knows nothing about HTTP or SQL.
 *
 * The input is render.h's: families in order, each family's samples
 * contiguous (the spool reader's order), label sets canonical and HELP
 * escaped as the text format writes them (they are unescaped here). What
 * the text format spreads over several lines becomes one Metric, as the
 * Pushgateway's own text parser makes it: a histogram's NAME_bucket{le=},
 * NAME_sum and NAME_count lines with the same other labels, a summary's
 * NAME{quantile=}, NAME_sum and NAME_count. An observed histogram
 * (x->hist) is one Metric: its classic buckets (cumulative, finite bounds;
 * the count stands for +Inf) and, when x->hist->native is set, its native
 * fields (schema, zero threshold and count, spans and deltas by nhist.h).
 *
 * Since a delimited message starts with its length, and a family's lines
 * need not come grouped by label set, one family is held in memory until it
 * ends (at most family_cap encoded bytes), then appended to out whole. out
 * is never left holding part of a family.
 */
#ifndef PBEXPO_H
#define PBEXPO_H

#include <stddef.h>

#include "dbuf.h"
#include "spool-agent.h"

#define PBEXPO_CONTENT_TYPE "application/vnd.google.protobuf; " \
	"proto=io.prometheus.client.MetricFamily; encoding=delimited"

typedef enum pbexpo_err {
	PBEXPO_OK = 0,
	PBEXPO_ENOMEM,
	PBEXPO_ETOOBIG,   /* one family over family_cap, or out's cap */
	PBEXPO_EINVAL     /* a label set or HELP that does not parse, a sample
	                   * before any family, a family type render.h does
	                   * not know, an observed histogram (x->hist) in a
	                   * family not typed histogram */
} pbexpo_err;

const char *pbexpo_strerror(pbexpo_err e);

/* One encoder; reusable for any number of bodies. Owned by the caller;
 * pbexpo_free(NULL) is a no-op. Not thread-safe: one per thread. */
typedef struct pbexpo pbexpo;

pbexpo_err pbexpo_new(size_t family_cap, pbexpo **out)
    __attribute__((warn_unused_result));
void pbexpo_free(pbexpo *e);

/*
 * Starts family f (copied: f is borrowed for the call only). A family
 * begun before is ended first and appended to out, as pbexpo_end().
 */
pbexpo_err pbexpo_family(pbexpo *e, const spool_family *f, dbuf *out);

/*
 * Adds one sample of the current family. extra is a canonical label list
 * to put first (the job and grouping labels in pull mode), or NULL/"".
 * Borrowed for the call only.
 */
pbexpo_err pbexpo_sample(pbexpo *e, const spool_sample *x,
    const char *extra);

/*
 * Ends the current family (if any): appends it to out as one delimited
 * MetricFamily. A family with no metric is written with none. After an
 * error the encoder holds no family; the caller drops the body.
 */
pbexpo_err pbexpo_end(pbexpo *e, dbuf *out);

/*
 * Does an Accept header ask for this format before the text format, by
 * the HTTP rules (q values, most specific type), as Prometheus' own
 * negotiation does? NULL or "" is no.
 */
int pbexpo_accepted(const char *accept);

#endif
