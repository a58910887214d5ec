/*
 * clock — see clock.h.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <time.h>

#include "clock.h"
#include "sig.h"

static double
real_mono(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
real_wall(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
real_sleep(void *arg, double d)
{
	struct timespec ts;

	(void)arg;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static void
real_wait(void *arg, double seconds)
{
	(void)arg;
	sig_wait(seconds);
}

static const clock_src real = { real_mono, real_wall, real_sleep, real_wait,
	NULL };
static clock_src now_src = { real_mono, real_wall, real_sleep, real_wait,
	NULL };

void
clock_set(const clock_src *src)
{
	now_src = src != NULL ? *src : real;
}

double
clock_mono(void)
{
	return now_src.mono(now_src.arg);
}

double
clock_wall(void)
{
	return now_src.wall(now_src.arg);
}

void
clock_sleep_until(double t)
{
	double d = t - clock_mono();

	if (d > 0)
		now_src.sleep(now_src.arg, d);
}

void
clock_wait(double seconds)
{
	now_src.wait(now_src.arg, seconds);
}
