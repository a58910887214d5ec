/*
 * backoff — exponential backoff with full jitter, from a seeded source so
 * that tests can check the schedule exactly.
 *
 * The n-th delay (n from 0) is uniform in [min, min(max, min * 2^n)]: the
 * ceiling doubles from min up to max, and each wait is drawn below it
 * ("full jitter", with min as a floor so that a retry never comes at once).
 */
#ifndef BACKOFF_H
#define BACKOFF_H

#include <stdint.h>

typedef struct backoff {
	double min;      /* seconds, > 0 */
	double max;      /* seconds, >= min */
	unsigned n;      /* failures since the last reset */
	uint64_t rng;    /* xorshift state; never 0 */
} backoff;

/* Sets up b; seed 0 is replaced by a fixed non-zero value. */
void backoff_init(backoff *b, double min, double max, uint64_t seed);

/* The next delay in seconds; counts one more failure. */
double backoff_next(backoff *b);

/* The ceiling the next delay would be drawn under (for logs and tests). */
double backoff_ceiling(const backoff *b);

/* After a success: the next delay starts from min again. */
void backoff_reset(backoff *b);

/*
 * A delay that honours a server's Retry-After: the larger of delay and
 * retry_after (retry_after < 0: none given), but never more than limit.
 */
double backoff_honour(double delay, double retry_after, double limit);

/*
 * The wait after a transport failure, as every sink takes it: the next
 * delay, or the server's Retry-After (< 0: none) when that is longer, but
 * never more than b's max, so that one proxy's word does not silence a
 * sink past what the operator set. Counts one more failure.
 */
double backoff_after(backoff *b, double retry_after);

/* A seed that differs between processes, runs and salts (one per sink),
 * so that agents that failed together do not retry together. */
uint64_t backoff_seed(uint64_t salt);

/*
 * Parses an HTTP Retry-After value: delta-seconds ("120") or an HTTP-date
 * ("Wed, 21 Oct 2015 07:28:00 GMT") taken relative to now (seconds since
 * the epoch). Returns seconds >= 0, or -1 when value is NULL or unparsable.
 */
double backoff_parse_retry_after(const char *value, double now);

#endif
