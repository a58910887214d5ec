/*
 * render — the Prometheus text exposition format (0.0.4), streamed into a
 * capped buffer. It knows nothing about HTTP or SQL: callers hand it
 * families and samples in order (the spool reader's order: families sorted
 * and contiguous) and it writes text that `promtool check metrics` and the
 * Pushgateway accept.
 *
 * Label sets and HELP text arrive already escaped (the spool keeps them
 * escaped and canonical), so they are copied as they are. Values are
 * written shortest-round-trip (expo_format_value). Observed histograms are
 * expanded to cumulative NAME_bucket lines ending in le="+Inf", then
 * NAME_sum and NAME_count.
 */
#ifndef RENDER_H
#define RENDER_H

#include <stddef.h>

#include "dbuf.h"
#include "spool-agent.h"

/*
 * render's only failures are its buffer's (dbuf.h): DBUF_ETOOBIG when the
 * cap is reached, DBUF_ENOMEM. Each call returns the buffer's sticky error,
 * so a caller may render a whole body and check b->err once. Every line is
 * written whole or not at all, so a buffer that hit its cap holds only
 * complete lines.
 */

/* The reason, worded for a rendered body ("rendered body over its size
 * limit"). */
const char *render_strerror(dbuf_err e);

/*
 * Writes the family's "# HELP" (when help is not NULL) and "# TYPE" (when
 * typed, or the type is not untyped) lines.
 */
dbuf_err render_family(dbuf *b, const spool_family *f);

/*
 * Writes one sample. extra is a canonical label list to put first (the job
 * and grouping labels in pull mode), or NULL/"". An observed histogram
 * (x->hist) becomes its _bucket, _sum and _count lines.
 */
dbuf_err render_sample(dbuf *b, const spool_sample *x, const char *extra);

/*
 * One series of an observed histogram's expansion, as render_sample()
 * writes it: NAME SUFFIX{labels[,le="LE"]} TEXT. All borrowed until the
 * callback returns; the strings are NUL-terminated.
 */
typedef struct render_hist_line {
	const char *suffix;   /* "_bucket", "_sum" or "_count" */
	size_t slen;
	const char *le;       /* _bucket: the bound ("+Inf" last); else NULL */
	size_t lelen;
	double value;         /* the cumulative count, the sum, the count */
	const char *text;     /* value as render writes it (a count in all
	                       * its digits, even past 2^53) */
	size_t tlen;
} render_hist_line;

/*
 * The expansion of x->hist (which must not be NULL) written once for every
 * sink: each cumulative bucket in bound order, then le="+Inf" with the
 * total, then _sum, then _count, each handed to fn. render_sample() writes
 * its text through it; remote write makes its samples from it. Stops at
 * the first non-zero return of fn and returns it; 0 when all were given.
 */
int render_hist_each(const spool_sample *x,
    int (*fn)(const render_hist_line *l, void *arg), void *arg);

#endif
