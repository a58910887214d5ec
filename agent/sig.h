/*
 * sig — the agent's signals, handled from the first line of main() on.
 *
 * SIGTERM and SIGINT ask the agent to stop, SIGHUP to reload. sig_init()
 * installs their handlers and blocks them in the calling thread (threads
 * started later inherit the mask), so a signal that comes at any moment
 * after that is kept pending, never lost and never fatal. The loop takes
 * them in two ways: sig_wait() opens them during its one wait, and
 * sig_poll() takes pending ones between two requests of a long round.
 * SIGPIPE is ignored (a peer that closes a socket is an error return).
 *
 * Main thread only.
 */
#ifndef SIG_H
#define SIG_H

/* Installs the handlers and blocks the three signals. Call first. */
void sig_init(void);

/* Back to the default dispositions, the pending signals delivered: for
 * --once, which a batch job's supervisor stops as any short command. */
void sig_default(void);

/* Takes the signals pending now, without waiting. */
void sig_poll(void);

/* Waits for seconds or a signal, whichever comes first; returns at once
 * when a request is already noted. */
void sig_wait(double seconds);

/* Has SIGTERM or SIGINT come? */
int sig_stop_requested(void);

/* Has SIGHUP come since the last call? Clears the request. */
int sig_take_reload(void);

/* Is a reload or a stop waiting to be handled? (Nothing is cleared.) */
int sig_pending(void);

/* Forgets the stop and reload noted: for tests that run the loop more
 * than once in one process. */
void sig_forget(void);

#endif
