/*
 * limit — watching the limits on what writers may create in the spool
 * (settings limits.*, enforced by the fold): now and then it reads what
 * they count, hands that to the agent's own metrics, and logs when a count
 * nears its limit or rows were refused, without saying it every second.
 */
#ifndef LIMIT_H
#define LIMIT_H

#include "cfg.h"
#include "spool-agent.h"
#include "selfm.h"

/* The usage read counts every series (5 ms at 100,000, 60 ms at a
 * million; docs/agent.md): not on every fold. */
#define LIMIT_CHECK_SECONDS 10.0
/* A warning when a count reaches this share of its limit; again while it
 * stays there once per LIMIT_REPEAT_SECONDS as long as rows are folded
 * (an idle agent reads no usage, so says nothing new), and at once after
 * it fell below LIMIT_CLEAR and came back. */
#define LIMIT_NEAR SELFM_LIMIT_NEAR
#define LIMIT_CLEAR 0.8
#define LIMIT_REPEAT_SECONDS 3600.0
/* Rows refused by a limit are logged at most this often, with how many. */
#define LIMIT_REFUSED_SECONDS 60.0

typedef struct limit_watch {
	double next;                          /* monotonic: the next read */
	double near_at[SPOOL_NLIMITS];        /* the last "near" warning; 0 none */
	double refused_at[SPOOL_NLIMITS];     /* the last "refused" warning */
	int64_t refused_seen[SPOOL_NLIMITS];  /* refusals already logged */
	int started;                          /* refused_seen is set */
} limit_watch;

/*
 * When a read is due (now, monotonic, is past w->next; a zeroed w is due
 * at once): reads the usage of s, puts it and c's limits into m, and logs
 * what needs saying. Refusals from before the first read are not logged
 * (the fold logged them). A failed read is logged at debug level and
 * leaves m as it was. Returns 1 when it read the usage; 0 when no read
 * was due or the read failed (try again later). The caller calls it only when the usage may have changed
 * (rows were folded, groups dropped, the settings reloaded): an idle agent
 * reads nothing.
 */
int limit_check(limit_watch *w, spool_t *s, const cfg *c, selfm *m,
    double now);

#endif
