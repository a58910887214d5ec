/*
 * sig — see sig.h.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "sig.h"

static volatile sig_atomic_t stop, hup;
static sigset_t handled, opened;

/* The handler, and sig_poll() for signals taken without it. */
static void
note(int s)
{
	if (s == SIGHUP)
		hup = 1;
	else if (s == SIGTERM || s == SIGINT)
		stop = 1;
}

void
sig_init(void)
{
	struct sigaction sa;

	sigemptyset(&handled);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGHUP);
	/* Blocked before the handlers go in: from here on a signal waits. */
	sigprocmask(SIG_BLOCK, &handled, &opened);
	sigdelset(&opened, SIGTERM);
	sigdelset(&opened, SIGINT);
	sigdelset(&opened, SIGHUP);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = note;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

void
sig_default(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigprocmask(SIG_SETMASK, &opened, NULL);
}

void
sig_poll(void)
{
	static const struct timespec zero = { 0, 0 };
	int s;

	/* Bounded: there are three signals, each pending at most once. */
	for (int i = 0; i < 3; i++) {
		s = sigtimedwait(&handled, NULL, &zero);
		if (s < 0)
			break;
		note(s);
	}
}

void
sig_wait(double seconds)
{
	struct timespec ts;

	/* No time left to wait: the signals are taken all the same, or a
	 * loop that always has work would never see them. */
	if (seconds <= 0 || stop || hup) {
		sig_poll();
		return;
	}
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	/* The signals open only inside this one call, so none can slip in
	 * between the check above and the sleep. */
	(void)ppoll(NULL, 0, &ts, &opened);
}

int
sig_stop_requested(void)
{
	return stop != 0;
}

int
sig_take_reload(void)
{
	int r = hup != 0;

	hup = 0;
	return r;
}

int
sig_pending(void)
{
	return stop != 0 || hup != 0;
}

void
sig_forget(void)
{
	stop = 0;
	hup = 0;
}
