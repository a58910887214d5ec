/* log — logfmt lines on standard error. See log.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define QBUF 544
#define QMAX 512

/* Set at start and on reload by the main thread; read by any. */
static _Atomic int cur_level = LOG_LINFO;

void
log_init(int level)
{
	log_setlevel(level);
}

void
log_setlevel(int level)
{
	if (level >= LOG_LDEBUG && level <= LOG_LERROR)
		cur_level = level;
}

int
log_getlevel(void)
{
	return cur_level;
}

int
log_level_parse(const char *name)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };

	if (name == NULL)
		return -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	if (strcmp(name, "warning") == 0)
		return LOG_LWARN;
	return -1;
}

const char *
log_level_name(int level)
{
	switch (level) {
	case LOG_LDEBUG:
		return "debug";
	case LOG_LINFO:
		return "info";
	case LOG_LWARN:
		return "warn";
	case LOG_LERROR:
		return "error";
	default:
		return "info";
	}
}

static int
needs_quotes(const char *s)
{
	if (*s == '\0')
		return 1;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' ||
		    *s == '\\' || *s == 0x7f)
			return 1;
	return 0;
}

const char *
log_q(const char *s)
{
	/* Per thread: the pull-mode server logs from its own thread. */
	static _Thread_local char ring[8][QBUF];
	static _Thread_local unsigned next;
	char *b;
	size_t o = 0;

	if (s == NULL)
		return "";
	if (!needs_quotes(s) && strlen(s) <= QMAX)
		return s;
	b = ring[next++ % 8];
	b[o++] = '"';
	for (; *s && o < QMAX; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			b[o++] = '\\';
			b[o++] = (char)c;
		} else if (c == '\n') {
			b[o++] = '\\';
			b[o++] = 'n';
		} else if (c == '\t') {
			b[o++] = '\\';
			b[o++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(b + o, QBUF - o, "\\x%02x", c);
		} else {
			b[o++] = (char)c;
		}
	}
	if (*s) {
		memcpy(b + o, "...", 3);
		o += 3;
	}
	b[o++] = '"';
	b[o] = '\0';
	return b;
}

static void vlog(int, const char *, const char *, const char *, va_list)
    __attribute__((format(printf, 4, 0)));

static void
vlog(int level, const char *msg, const char *err, const char *kvfmt,
    va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per part, but stderr is unbuffered: build the line
	 * first so that concurrent writers do not interleave within it. */
	char line[4096];
	int n = snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s msg=%s",
	    when, ts.tv_nsec / 1000000, log_level_name(level), log_q(msg));
	if (n < 0)
		return;
	if (kvfmt != NULL && *kvfmt && (size_t)n < sizeof(line) - 1) {
		line[n++] = ' ';
		int k = vsnprintf(line + n, sizeof(line) - (size_t)n, kvfmt, ap);
		if (k > 0)
			n += k;
	}
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	if (err != NULL)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " err=%s",
		    log_q(err));
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	fprintf(stderr, "%.*s\n", n, line);
}

#define LOGFN(fname, level, witherr)					\
void									\
fname(const char *msg, const char *kvfmt, ...)				\
{									\
	va_list ap;							\
	const char *e = NULL;						\
									\
	if ((level) < cur_level)					\
		return;							\
	if (witherr)							\
		e = strerror(errno);					\
	va_start(ap, kvfmt);						\
	vlog((level), msg, e, kvfmt, ap);				\
	va_end(ap);							\
}

LOGFN(log_debug, LOG_LDEBUG, 0)
LOGFN(log_info, LOG_LINFO, 0)
LOGFN(log_warn, LOG_LWARN, 1)
LOGFN(log_warnx, LOG_LWARN, 0)
LOGFN(log_errorx, LOG_LERROR, 0)

void
fatalx(int status, const char *msg, const char *kvfmt, ...)
{
	va_list ap;

	va_start(ap, kvfmt);
	vlog(LOG_LERROR, msg, NULL, kvfmt, ap);
	va_end(ap);
	exit(status);
}

int
log_limit_pass(log_limit *l, double now, double period, unsigned *held)
{
	if (l->at != 0 && now - l->at < period) {
		l->held++;
		return 0;
	}
	*held = l->held;
	l->held = 0;
	/* 0 means "never": a clock at 0 must still count as a line given. */
	l->at = now > 0 ? now : 1e-9;
	return 1;
}

int
log_limit_clear(log_limit *l)
{
	int was = l->at != 0;

	l->at = 0;
	l->held = 0;
	return was;
}
