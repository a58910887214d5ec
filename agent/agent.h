/*
 * agent — the loop: fold the inbox into the group state, push changed
 * groups to the Pushgateway, carry out deletes and expiries, retry with
 * backoff while the gateway is unreachable. Data flows one way: spool →
 * fold → state → render → push; this module is the only one that knows
 * both the spool and the sink.
 *
 * Single-threaded. Signals: agent_run() installs handlers for SIGTERM,
 * SIGINT (finish the step, one last push, return 0) and SIGHUP (reload).
 */
#ifndef AGENT_H
#define AGENT_H

#include "cfg.h"

typedef struct agent agent_t;

/*
 * Opens the spool and the gateway sink for the settings c; takes ownership
 * of c (freed by agent_free(), also on failure). Returns 0 and sets *out,
 * or an exit status (sysexits.h) after logging why.
 */
int agent_new(cfg *c, agent_t **out) __attribute__((warn_unused_result));

/* NULL is a no-op. */
void agent_free(agent_t *a);

/*
 * --once: fold everything, push every changed group, carry out due deletes
 * and expiries, retrying transport failures until once_timeout. Returns the
 * exit status: 0 all delivered; 65 the gateway refused some group (kept,
 * parked); 75 the gateway could not be reached in time (everything kept);
 * 74 a spool failure.
 */
int agent_once(agent_t *a);

/*
 * Runs until SIGTERM/SIGINT. reload (may be NULL) builds new settings on
 * SIGHUP; it returns NULL when they are invalid (after logging why), and
 * the old ones stay. Returns the exit status.
 */
int agent_run(agent_t *a, cfg *(*reload)(void *arg), void *arg);

#endif
