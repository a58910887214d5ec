/*
 * gwbody — the body of one PUT to the Pushgateway, made while it is sent:
 * curl pulls bytes through gwbody_read(), which renders the next samples
 * of a group from its source into a buffer, a chunk at a time, so a group
 * of any size needs one chunk of memory. For the default group the
 * agent's own families (selfm.h) are merged in by name, and the group's
 * own families of those names are left out.
 *
 * Two formats: the text format (render.h), and for a group that holds
 * native histograms, which only it carries, the delimited protobuf format
 * (pbexpo.h). A protobuf family is written only when it ends, so one
 * family must fit in GWBODY_MAX: a larger one stops the body, and
 * gwbody_why() names the family and the fix.
 *
 * It knows nothing about SQL or HTTP: the source is a function with
 * spool_cursor_next()'s contract (the agent hands it the group's cursor).
 * Not thread-safe; one per sink.
 */
#ifndef GWBODY_H
#define GWBODY_H

#include <stddef.h>

#include "spool-agent.h"
#include "selfm.h"

/* A chunk: what one fill renders before handing bytes out. */
#define GWBODY_CHUNK (64u * 1024u)
/* The most one sample (text) or one encoded family (protobuf) may take. */
#define GWBODY_MAX (16u * 1024u * 1024u)

typedef enum gwbody_format {
	GWBODY_TEXT = 0,
	GWBODY_PROTOBUF
} gwbody_format;

typedef enum gwbody_err {
	GWBODY_OK = 0,
	GWBODY_ENOMEM,
	GWBODY_ETOOBIG,   /* a sample or a family over GWBODY_MAX */
	GWBODY_EINVAL,    /* the encoder refused a label set or HELP */
	GWBODY_ESOURCE    /* the source failed */
} gwbody_err;

const char *gwbody_strerror(gwbody_err e);

/* The Content-Type of a format's body, without the header name. */
const char *gwbody_content_type(gwbody_format f);

/*
 * The source: sets *f, *x and *fresh as spool_cursor_next() does (*x NULL
 * at the end, all borrowed until the next call); returns 0, or -1 when it
 * failed (the caller knows why).
 */
typedef int (*gwbody_next)(void *arg, const spool_family **f,
    const spool_sample **x, int *fresh);

typedef struct gwbody gwbody;

gwbody_err gwbody_new(gwbody **out) __attribute__((warn_unused_result));
/* NULL is a no-op. */
void gwbody_free(gwbody *b);

/*
 * Starts a body: the samples of next (NULL: an empty group), in format
 * fmt; with own, families named collector_agent_* from the source are
 * left out (the default group: those names are the agent's); with m not
 * NULL, m's families are merged in by name. m and arg are borrowed until
 * the body ends. Forgets any body not read to its end.
 */
void gwbody_start(gwbody *b, gwbody_format fmt, gwbody_next next,
    void *arg, int own, const selfm *m);

/*
 * push_source's contract: up to cap bytes of the body into buf; 0 at the
 * end; (size_t)-1 when the body cannot be made (gwbody_error() says why).
 */
size_t gwbody_read(char *buf, size_t cap, void *arg);

/* Why the body stopped (GWBODY_OK: it did not). */
gwbody_err gwbody_error(const gwbody *b);

/* The reason worded for the log and the park, naming the sample or family
 * and the fix; NULL when it did not stop, and for GWBODY_ESOURCE (the
 * source's owner knows why). Valid until the next gwbody_start(). */
const char *gwbody_why(const gwbody *b);

/* Bytes handed out since gwbody_start(). */
size_t gwbody_sent(const gwbody *b);

#endif
