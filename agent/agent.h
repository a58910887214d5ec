/*
 * agent — the loop: fold the inbox into the group state, and drive the
 * sinks (sink.h) that take the state somewhere: the Pushgateway
 * (sink_gw.c), a remote-write receiver (sink_rw.c), the /metrics listener
 * (sink_pull.c). Data flows one way: spool → fold → state → render →
 * sinks; the loop owns the spool handle and the fold, each sink its own
 * target, schedule and backoff.
 *
 * Threads: agent_new(), agent_once(), agent_run() and agent_free() are for
 * one thread, the loop's; with a listen address the /metrics server runs
 * on a thread of its own (serve.c), which renders from its own spool
 * handle and reads the agent's counters through a copy the loop hands it
 * under a mutex (sink_pull.c). Signals: agent_run() takes SIGTERM, SIGINT
 * (finish the step, one last push, return 0) and SIGHUP (reload), which
 * main() blocked with sig_init() before any thread started.
 */
#ifndef AGENT_H
#define AGENT_H

#include "cfg.h"

typedef struct agent agent_t;

/*
 * Opens the spool and sets up the sinks the settings c ask for (no
 * listener yet: agent_run() opens it); takes ownership
 * of c (freed by agent_free(), also on failure). Returns 0 and sets *out,
 * or an exit status (sysexits.h) after logging why.
 */
int agent_new(cfg *c, agent_t **out) __attribute__((warn_unused_result));

/* NULL is a no-op. */
void agent_free(agent_t *a);

/*
 * --once: fold everything, then each sink's pass (remote write first, then
 * the gateway: every changed group, due deletes and expiries, retrying
 * transport failures until once_timeout). Returns the exit status: 0 all
 * delivered; 65 a target refused some data (the gateway's is kept and
 * parked, remote write's dropped); 74 a spool failure, or the spool could
 * not keep a sink's record (remote write's series sent); 75 a target
 * could not be reached in time (everything kept).
 */
int agent_once(agent_t *a);

/*
 * Runs until SIGTERM/SIGINT. reload (may be NULL) builds new settings on
 * SIGHUP; it returns NULL when they are invalid (after logging why), and
 * the old ones stay. Returns the exit status.
 */
int agent_run(agent_t *a, cfg *(*reload)(void *arg), void *arg);

#endif
