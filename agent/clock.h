/*
 * clock — the agent's one monotonic clock, one wall clock, and the two
 * ways its loop lets time pass (a plain sleep, and the wait that signals
 * cut short), all in one place so that a test can put a fake clock in
 * their stead and run the loop without waiting (clock_set()).
 *
 * Every module of the agent reads time here; none calls clock_gettime()
 * itself. The clocks may be read from any thread (the pull-mode server's
 * included); clock_set() is for tests, before any thread starts.
 */
#ifndef CLOCK_H
#define CLOCK_H

/* A source of time (clock_set()). Every member is required. */
typedef struct clock_src {
	double (*mono)(void *arg);   /* seconds, monotonic */
	double (*wall)(void *arg);   /* seconds since the epoch */
	/* Lets seconds pass (> 0). */
	void (*sleep)(void *arg, double seconds);
	/* Lets up to seconds pass, less when a signal comes (sig_wait()). */
	void (*wait)(void *arg, double seconds);
	void *arg;
} clock_src;

/* Uses src from now on (copied); NULL goes back to the real clocks. */
void clock_set(const clock_src *src);

/* Seconds on the monotonic clock (CLOCK_MONOTONIC). */
double clock_mono(void);

/* Seconds since the epoch (CLOCK_REALTIME). */
double clock_wall(void);

/* Sleeps until the monotonic clock reads t; returns at once if it has. */
void clock_sleep_until(double t);

/* Waits up to seconds for a signal (sig_wait()): the loop's one wait. */
void clock_wait(double seconds);

#endif
