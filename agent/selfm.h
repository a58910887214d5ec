/*
 * selfm — the agent's own metrics (collector_agent_*): the counters the loop
 * keeps and their rendering. The loop owns one selfm and updates it; pull
 * mode serves a copy (a selfm is plain data: copy it with =).
 *
 * The families come out sorted by name, so that a caller can merge them
 * into a group's sorted families (push mode) or append them (pull mode).
 */
#ifndef SELFM_H
#define SELFM_H

#include <stddef.h>
#include <stdint.h>

#include "spool-agent.h"
#include "http.h"
#include "render.h"

#define SELFM_PREFIX "collector_agent_"
#define SELFM_NDUR 12   /* finite push_duration_seconds buckets */

typedef enum selfm_result {
	SELFM_SUCCESS = 0,  /* the gateway took the request */
	SELFM_RETRY,        /* transport failure, 5xx or 429: retried */
	SELFM_REJECTED      /* any other 4xx: parked */
} selfm_result;

/* How a request that ended with outcome o is counted. */
selfm_result selfm_result_of(http_outcome o);

typedef struct selfm {
	double pushes[3];          /* by selfm_result */
	double rw_requests[3];     /* remote write requests, by selfm_result */
	double rw_sent, rw_dropped; /* remote write samples */
	double deletes;            /* groups deleted from the gateway */
	double last_success;       /* unix seconds; 0 never */
	uint64_t dur_counts[SELFM_NDUR + 1];
	double dur_sum;
	spool_stats st;            /* the spool's figures at the last step */
	/* The limits (limits.*; 0: none) and what they count, by
	 * spool_limit, as of the last read (limit_check()). */
	int64_t limit[SPOOL_NLIMITS];
	spool_usage use;
} selfm;

/*
 * News: what the alert rules (contrib/prometheus/alerts.yml) look at,
 * reduced to values that move only when something happened. The agent
 * keeps the signature of its last push of its own metrics; one that
 * differs sends them at once, otherwise they go once a heartbeat. Plain
 * data; the agent fills the fields it alone knows (parked, rows_rejected,
 * backlog), selfm_sig_fill() the rest.
 */
#define SELFM_LIMIT_NEAR 0.9    /* CollectorAgentNearLimit */
#define SELFM_BACKLOG_S 300.0   /* CollectorAgentSpoolBacklogGrowing */
#define SELFM_STUCK_S 1800.0    /* CollectorAgentSpoolBacklogStuck */

typedef struct selfm_sig {
	int64_t parked;            /* groups the gateway refused, kept */
	double pushes_retry;       /* gateway requests retried */
	double rows_rejected;      /* rows the fold refused */
	double rw_retry;           /* remote write requests retried */
	double rw_dropped;         /* remote write samples dropped */
	int limit_state[SPOOL_NLIMITS]; /* selfm_limit_state() */
	int backlog;               /* 0; 1 the inbox not emptied for
	                            * SELFM_BACKLOG_S; 2 for SELFM_STUCK_S */
} selfm_sig;

/* 0 below SELFM_LIMIT_NEAR of limit l (or no limit), 1 from there (where
 * the alert CollectorAgentNearLimit and the agent's warning start), 2 at
 * the limit. */
int selfm_limit_state(const selfm *m, spool_limit l);

/* Sets the fields of s that come from m: the counters and limit states. */
void selfm_sig_fill(selfm_sig *s, const selfm *m);

/* The first field in which a and b differ, by name ("parked_groups",
 * "max_series", ...), for the log; NULL when they are the same. */
const char *selfm_sig_diff(const selfm_sig *a, const selfm_sig *b);

/* Counts one request to the gateway: its result and how long it took;
 * now is the wall clock (unix seconds), for last_success. */
void selfm_count(selfm *m, selfm_result r, double seconds, double now);

/* How many families there are; the name of family i (sorted). */
size_t selfm_count_families(void);
const char *selfm_family_name(size_t i);

/* Sets *f to family i's name, type and HELP (static strings; HELP as the
 * text format writes it), for sinks that write another format (the
 * protobuf exposition). 0, or -1 past the end. */
int selfm_family(size_t i, spool_family *f);

/* Does name belong to the agent (carries SELFM_PREFIX)? */
int selfm_owns(const char *name);

/*
 * Hands each sample of family i of m to fn (x and extra borrowed for the
 * call), for sinks that do not want text (remote write). Returns 0, or
 * fn's value when it was not 0 (which stops it).
 */
int selfm_each(const selfm *m, size_t i, const char *extra,
    int (*fn)(void *arg, const spool_sample *x, const char *extra),
    void *arg);

/*
 * Writes family i of m (HELP, TYPE, samples) into b. extra is a canonical
 * label list put first on every sample (NULL or "" for none).
 */
dbuf_err selfm_render(dbuf *b, const selfm *m, size_t i,
    const char *extra);

#endif
