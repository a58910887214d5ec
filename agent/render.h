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

#include "spool-agent.h"

typedef enum render_err {
	RENDER_OK = 0,
	RENDER_ENOMEM,
	RENDER_ETOOBIG   /* the buffer's cap was reached */
} render_err;

const char *render_strerror(render_err e);

/* A growable byte buffer with a cap (curl's dynbuf). After an error the
 * buffer keeps what it had and refuses further writes until reset. */
typedef struct rbuf {
	char *p;
	size_t len;
	size_t cap;     /* allocated */
	size_t max;     /* the cap: len never exceeds it */
	render_err err; /* sticky */
} rbuf;

/* An empty buffer that will grow to at most max bytes. */
void rbuf_init(rbuf *b, size_t max);
/* Empties the buffer (keeps the allocation) and clears the error. */
void rbuf_reset(rbuf *b);
/* Frees the memory; the buffer may be initialised again. */
void rbuf_free(rbuf *b);
render_err rbuf_add(rbuf *b, const char *s, size_t len);
/* A hint: makes room for n more bytes in one allocation (at most up to the
 * cap). Out of memory is not an error here; the writes that follow grow
 * the buffer as usual. */
render_err rbuf_reserve(rbuf *b, size_t n);

/*
 * Writes the family's "# HELP" (when help is not NULL) and "# TYPE" (when
 * typed, or the type is not untyped) lines.
 */
render_err render_family(rbuf *b, const spool_family *f);

/*
 * Writes one sample. extra is a canonical label list to put first (the job
 * and grouping labels in pull mode), or NULL/"". An observed histogram
 * (x->hist) becomes its _bucket, _sum and _count lines.
 */
render_err render_sample(rbuf *b, const spool_sample *x, const char *extra);

#endif
