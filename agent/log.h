/*
 * log — one logfmt line per event on standard error:
 *
 *   ts=2026-11-25T05:00:00.123Z level=info msg="pushed group" job=api code=200
 *
 * Any thread may log: a line is written with one call, and log_q()'s
 * buffers are per thread. Only the main thread sets the level.
 * The level is checked before anything is formatted. Callers pass the
 * key=value part as a printf format; values that may hold blanks, quotes or
 * anything a user wrote go through log_q(), which quotes and escapes them.
 * Never pass a secret.
 */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>

enum log_level { LOG_LDEBUG = 0, LOG_LINFO, LOG_LWARN, LOG_LERROR };

/* Sets the lowest level printed (LOG_LINFO at start). */
void log_init(int level);
void log_setlevel(int level);
int log_getlevel(void);

/* "debug", "info", "warn", "error" → the level; -1 for anything else. */
int log_level_parse(const char *name);
/* The name of a level; never NULL. */
const char *log_level_name(int level);

/*
 * Returns s quoted for logfmt when it needs it (blanks, quotes, '=', control
 * characters, empty), else s itself. The result is borrowed from a ring of
 * 8 per-thread buffers: valid until the 8th call after this one; long values are
 * cut to 512 bytes with "...". NULL gives "".
 */
const char *log_q(const char *s);

/* Each prints ts, level and msg, then the formatted key=value pairs (kvfmt
 * may be NULL). log_warn and log_error append err="<strerror(errno)>". */
void log_debug(const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_info(const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_warn(const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_warnx(const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_errorx(const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * A line that a lasting failure would repeat every second (a full disk, a
 * spool that cannot be written) goes at most once a period. Before logging
 * it, ask log_limit_pass(): 1 when it may go now, with *held set to the
 * lines held back since the last one (say it in the line); 0 when it is
 * held back and counted. log_limit_clear() when the failure is over.
 * Zeroed memory is a valid log_limit. Main thread only.
 */
/* The period of such lines everywhere in the agent. */
#define LOG_REPEAT_S 60.0

typedef struct log_limit {
	double at;        /* monotonic seconds of the last line; 0 none */
	unsigned held;
} log_limit;

int log_limit_pass(log_limit *l, double now, double period, unsigned *held);
/* Was a line given since the last clear? Clears. */
int log_limit_clear(log_limit *l);

/* Logs at level error and exits with status. */
void fatalx(int status, const char *msg, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#endif
