/*
 * pull — every group's series as one view, as a Prometheus scraping a
 * Pushgateway with honor_labels would see them: what GET /metrics serves
 * (as text, with the agent's own metrics after it) and what remote write
 * sends.
 *
 * - One family's series are contiguous across groups (the spool's
 *   all-groups cursor, one read transaction: a consistent snapshot).
 * - Each series carries `job` and its group's grouping labels; a grouping
 *   label replaces a series label of the same name, as the Pushgateway
 *   does; a series that then equals one already given is left out.
 * - A family whose type differs between groups keeps the type of the group
 *   read first (lowest id); the other groups' series are left out.
 * - A family named like a sample of an earlier histogram or summary
 *   (NAME_bucket, NAME_count, NAME_sum) is left out: parsers would file it
 *   under that family, and the Pushgateway refuses it too.
 * - Families named collector_agent_* are the agent's own: never taken from
 *   the spool.
 * It knows nothing about HTTP.
 */
#ifndef PULL_H
#define PULL_H

#include <stddef.h>
#include <stdint.h>

#include "spool-agent.h"
#include "render.h"
#include "selfm.h"

typedef struct pull_result {
	size_t series;       /* series given to the sink */
	size_t type_clash;   /* series left out: their type differs, or
	                      * their name is a histogram's or summary's */
	size_t duplicate;    /* series left out: duplicates */
	char clash[256];     /* the first type clash, for the log; "" none */
} pull_result;

/* Where the walk hands its series. Each returns 0 to go on; anything else
 * stops the walk. */
typedef struct pull_sink {
	/* Before a family's first series (may be NULL). */
	int (*family)(void *arg, const spool_family *f);
	/* One series: x->labels are its own (without those extra replaces);
	 * extra is `job="...",<grouping>`. All borrowed until return. */
	int (*sample)(void *arg, const spool_sample *x, const char *extra);
	/* Whether a group's series are wanted (NULL: all are). Asked once
	 * per run of a group's samples; a group left out still gives its
	 * family's type when it is read first. */
	int (*keep)(void *arg, int64_t group_id);
} pull_sink;

typedef enum pull_err {
	PULL_OK = 0,      /* walked to the end */
	PULL_ESTOPPED,    /* a sink callback returned non-zero */
	PULL_ESPOOL,      /* reading the spool failed */
	PULL_ENOMEM
} pull_err;

const char *pull_strerror(pull_err e);

/*
 * Walks the view into sink. PULL_ESTOPPED is the sink's own doing, not a
 * failure of the walk. On PULL_ESPOOL and PULL_ENOMEM err holds the reason
 * (the spool's message; "out of memory").
 */
pull_err pull_walk(spool_t *s, const pull_sink *sink, void *arg,
    pull_result *res, char *err, size_t errlen);

/*
 * Renders into out (emptied first). m may be NULL (no self metrics).
 * Returns 0, or -1 with a reason in err (a spool failure, or out's cap);
 * out then holds a partial text the caller must not serve.
 */
int pull_render(spool_t *s, const selfm *m, dbuf *out, pull_result *res,
    char *err, size_t errlen);

/*
 * pull_render() in the delimited protobuf format (pbexpo.h), which alone
 * carries native histograms: the same walk and the same agent's families
 * after it. One family is encoded whole before it goes into out, so it
 * too must fit in out's cap.
 */
int pull_render_pb(spool_t *s, const selfm *m, dbuf *out, pull_result *res,
    char *err, size_t errlen);

#endif
