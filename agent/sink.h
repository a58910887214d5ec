/*
 * sink — what the agent's loop (agent.c) drives: one sink per place the
 * state goes to. Each sink lives in a file of its own that owns all of its
 * state (sink_gw.c the Pushgateway, sink_rw.c remote write, sink_pull.c the
 * /metrics listener) and is known to the loop only by its sink_ops table,
 * sink_<name>_ops, named in agent.c's list of sinks (SINKS): a new sink is
 * a new file and its name there.
 *
 * The loop calls a sink's ops from its own thread only. It owns what the
 * sinks share (sink_env): the spool handle, the settings, the agent's
 * counters and the list of groups; a sink reads them through the env it
 * was given, and calls back into the loop between two of its requests
 * through env->between(), never by reading the loop's flags.
 */
#ifndef SINK_H
#define SINK_H

#include <stddef.h>

#include "cfg.h"
#include "spool-agent.h"
#include "groups.h"
#include "selfm.h"

/* The page cache of the agent's spool handles, in pages: the agent reads
 * big groups once per push or scrape, in order, so a small cache keeps its
 * memory flat without costing reads. */
#define SINK_CACHE_PAGES 512

/* What the loop may do when a sink calls env->between() (a mask). */
enum {
	SINK_MAY_BEAT = 1,     /* the liveness beat (systemd, /-/healthy) */
	SINK_MAY_SIGNALS = 2,  /* take signals: a stop or a reload ends the
	                        * round */
	SINK_MAY_FOLD = 4,     /* fold the inbox when a fold is due (never
	                        * while the sink holds a spool cursor) */
	SINK_MAY_YIELD = 8     /* end the round when another sink is due */
};

/* The loop's answer to env->between(). */
typedef enum sink_go {
	SINK_GO = 0,      /* go on with the next request */
	SINK_STOP,        /* a stop or a reload is pending: end the round */
	SINK_YIELD        /* another sink is due: end the round, the loop
	                   * comes back to this one right after */
} sink_go;

/* prepare()'s answer when the new settings no longer ask for the sink. */
#define SINK_UNWANTED (-1)

typedef struct sink_env sink_env;

/* What the sinks share, owned and kept current by the loop. */
struct sink_env {
	spool_t *s;                    /* the loop's spool handle */
	const cfg *c;                  /* the settings applied */
	char *default_grouping;        /* instance="..." (canonical) */
	selfm *m;                      /* the agent's own counters */
	groups *gl;                    /* the groups as last listed */
	double rows_rejected;          /* rows the fold refused, this run */
	double behind_since;           /* monotonic: since when the fold has
	                                * not emptied the inbox; 0: it has */
	int usage_stale;               /* set when the limits' usage may have
	                                * changed (a group dropped) */
	/*
	 * Between two requests of a round: the loop does what may allows
	 * (SINK_MAY_*) and is due, and says whether to go on. self is the
	 * sink calling (it is not given way to). Outside the daemon's loop
	 * (--once, the last push at a stop) only the beat is done.
	 */
	sink_go (*between)(sink_env *env, const void *self, unsigned may);
	void *loop;                    /* the loop's, for between() */
};

/* sink_result.refused's bits: --once ends 65 for data, 78 for settings. */
#define SINK_REFUSED_DATA   1
#define SINK_REFUSED_CONFIG 2

/* How one sink's --once pass went (sink_ops.once). */
typedef struct sink_result {
	int spool_failed;  /* the spool failed: --once ends with 74 now */
	int refused;       /* SINK_REFUSED_DATA: the target refused some
	                    * data; | SINK_REFUSED_CONFIG: it refused the
	                    * agent's settings (a wrong URL, credentials) */
	int late;          /* the target was not reached before the deadline */
	int keep_failed;   /* the sink's own record in the spool was not saved */
	/* Said instead of "done; all delivered" when the run ends with 0
	 * (NULL: nothing): a warning about target (a URL). */
	const char *done_warn;
	const char *done_target;
} sink_result;

/*
 * A sink. self is the sink's own state, made by new() and freed by free().
 * Times are monotonic seconds (clock_mono()); a deadline of 0 is none.
 * start, beat and ready may be NULL.
 */
typedef struct sink_ops {
	const char *name;
	/* The sink carries deletes and expiries to its target; without one
	 * the loop takes them in the spool alone. */
	int carries_deletes;
	/* Sets up the sink for c (env->c is still the old settings during a
	 * reload). Returns 0 with *out NULL when c does not ask for it, 0
	 * with *out set, or an exit status after logging why. */
	int (*new)(sink_env *env, const cfg *c, void **out);
	/* The daemon starts (not --once): 0 or an exit status. */
	int (*start)(void *self);
	/* When the next round is due; INFINITY: never. */
	double (*due)(const void *self);
	/* One round of the daemon, due now. */
	void (*round)(void *self, double deadline);
	/*
	 * New settings c (SIGHUP), in two steps so that a reload is all or
	 * nothing. prepare() makes what may fail (a client) into *pending
	 * and changes nothing of the sink: 0; SINK_UNWANTED when c does not
	 * ask for the sink (the loop frees it); or an exit status after
	 * logging why. When every sink prepared, the loop calls commit()
	 * with *pending, which cannot fail (env->c is still the settings
	 * before); otherwise discard() (may be NULL when *pending is always
	 * NULL).
	 */
	int (*prepare)(void *self, const cfg *c, void **pending);
	void (*commit)(void *self, const cfg *c, void *pending);
	void (*discard)(void *pending);
	/* --once: everything there is to deliver, until deadline. */
	void (*once)(void *self, double deadline, sink_result *r);
	/* The daemon stops: a last round before deadline, or with deadline
	 * 0 only what must be saved (the loop failed, nothing is sent). */
	void (*last)(void *self, double deadline);
	/* The loop is alive. */
	void (*beat)(void *self);
	/* The agent is ready (the spool open and folded) or not. */
	void (*ready)(void *self, int ready);
	void (*free)(void *self);
} sink_ops;

#endif
