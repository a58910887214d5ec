/*
 * backoff — exponential backoff with full jitter. See backoff.h.
 *
 * The source is xorshift64* (Vigna): small, fast, seedable and good enough
 * for spreading retries; nothing here needs a cryptographic generator.
 */
#define _DEFAULT_SOURCE /* timegm() */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "clock.h"

/* Any non-zero constant will do; this one is the golden ratio's bits. */
#define DEFAULT_SEED 0x9E3779B97F4A7C15ULL

/*
 * The ceiling stops doubling long before n could overflow: min * 2^1100
 * exceeds any double, so counting further changes nothing.
 */
#define MAX_N 1100u

static uint64_t
next_u64(backoff *b)
{
	uint64_t x = b->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	b->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* The top 53 bits make a double in [0, 1) with every value equally likely. */
static double
next_unit(backoff *b)
{
	return (double)(next_u64(b) >> 11) * 0x1.0p-53;
}

void
backoff_init(backoff *b, double min, double max, uint64_t seed)
{
	/*
	 * The header asks for min > 0 and max >= min; cfg checks both. Bad
	 * values are still made safe here, because a zero or NaN delay would
	 * turn the retry loop into a busy loop against the gateway.
	 */
	if (!(min > 0) || !isfinite(min))
		min = 1;
	if (!(max >= min) || !isfinite(max))
		max = min;
	b->min = min;
	b->max = max;
	b->n = 0;
	b->rng = seed != 0 ? seed : DEFAULT_SEED;
}

double
backoff_ceiling(const backoff *b)
{
	double c = ldexp(b->min, (int)b->n);

	return c < b->max ? c : b->max;
}

double
backoff_next(backoff *b)
{
	double c = backoff_ceiling(b);
	double d = b->min + next_unit(b) * (c - b->min);

	if (b->n < MAX_N)
		b->n++;
	/* Rounding could in theory land a hair above the ceiling. */
	return d < c ? d : c;
}

void
backoff_reset(backoff *b)
{
	b->n = 0;
}

double
backoff_honour(double delay, double retry_after, double limit)
{
	double d = delay;

	if (retry_after >= 0 && retry_after > d)
		d = retry_after;
	if (d > limit)
		d = limit;
	return d;
}

/* --- Retry-After ---------------------------------------------------------- */

static const char *const wkday[] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"
};
static const char *const weekday[] = {
	"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
	"Sunday"
};
static const char *const month[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
	"Nov", "Dec"
};

/* Matches one of names at *s (exactly, case as RFC 9110 writes it). */
static int
match_name(const char **s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++) {
		size_t len = strlen(names[i]);

		if (strncmp(*s, names[i], len) == 0) {
			*s += len;
			return i;
		}
	}
	return -1;
}

static int
match_char(const char **s, char c)
{
	if (**s != c)
		return 0;
	(*s)++;
	return 1;
}

/* Exactly ndigits digits (a leading blank allowed when blank is set). */
static int
match_num(const char **s, int ndigits, int blank, int *out)
{
	const char *p = *s;
	int v = 0;

	if (blank && *p == ' ') {
		p++;
		ndigits--;
	}
	for (int i = 0; i < ndigits; i++, p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (*p - '0');
	}
	*out = v;
	*s = p;
	return 1;
}

/* "HH:MM:SS" */
static int
match_time(const char **s, struct tm *tm)
{
	return match_num(s, 2, 0, &tm->tm_hour) && match_char(s, ':') &&
	    match_num(s, 2, 0, &tm->tm_min) && match_char(s, ':') &&
	    match_num(s, 2, 0, &tm->tm_sec);
}

static int
match_month(const char **s, struct tm *tm)
{
	tm->tm_mon = match_name(s, month, 12);
	return tm->tm_mon >= 0;
}

/*
 * The three forms RFC 9110 §5.6.7 makes recipients accept, parsed by hand
 * rather than with strptime() because %a and %b follow the process's
 * locale, and HTTP dates are always English:
 *   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
 *   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT"
 *   asctime      "Sun Nov  6 08:49:37 1994"
 * Returns 0 and sets *t, or -1.
 */
static int
parse_http_date(const char *s, time_t *t)
{
	const char *p = s;
	struct tm tm;
	int ok;

	memset(&tm, 0, sizeof(tm));
	if (match_name(&p, weekday, 7) >= 0) {
		/* RFC 850: two-digit year, read as RFC 9110 says for such. */
		ok = match_char(&p, ',') && match_char(&p, ' ') &&
		    match_num(&p, 2, 0, &tm.tm_mday) && match_char(&p, '-') &&
		    match_month(&p, &tm) && match_char(&p, '-') &&
		    match_num(&p, 2, 0, &tm.tm_year) && match_char(&p, ' ') &&
		    match_time(&p, &tm) && strcmp(p, " GMT") == 0;
		if (ok && tm.tm_year < 70)
			tm.tm_year += 100;
	} else if (match_name(&p, wkday, 7) >= 0) {
		if (match_char(&p, ',')) {
			ok = match_char(&p, ' ') &&
			    match_num(&p, 2, 0, &tm.tm_mday) &&
			    match_char(&p, ' ') && match_month(&p, &tm) &&
			    match_char(&p, ' ') &&
			    match_num(&p, 4, 0, &tm.tm_year) &&
			    match_char(&p, ' ') && match_time(&p, &tm) &&
			    strcmp(p, " GMT") == 0;
		} else {
			ok = match_char(&p, ' ') && match_month(&p, &tm) &&
			    match_char(&p, ' ') &&
			    match_num(&p, 2, 1, &tm.tm_mday) &&
			    match_char(&p, ' ') && match_time(&p, &tm) &&
			    match_char(&p, ' ') &&
			    match_num(&p, 4, 0, &tm.tm_year) && *p == '\0';
		}
		if (ok)
			tm.tm_year -= 1900;
	} else
		return -1;
	if (!ok || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	*t = timegm(&tm);
	return *t == (time_t)-1 ? -1 : 0;
}

double
backoff_parse_retry_after(const char *value, double now)
{
	char buf[64];
	size_t len;
	const char *p;
	double v = 0;
	time_t t;

	if (value == NULL)
		return -1;
	/* Optional whitespace around a header value is not part of it. */
	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t' ||
	    value[len - 1] == '\r' || value[len - 1] == '\n'))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, value, len);
	buf[len] = '\0';

	if (buf[0] >= '0' && buf[0] <= '9') {
		/* delta-seconds = 1*DIGIT; no sign, no fraction. */
		for (p = buf; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v = v * 10 + (*p - '0');
		}
		return v;
	}
	if (parse_http_date(buf, &t) != 0)
		return -1;
	v = (double)t - now;
	return v > 0 ? v : 0;
}

double
backoff_after(backoff *b, double retry_after)
{
	return backoff_honour(backoff_next(b), retry_after, b->max);
}

uint64_t
backoff_seed(uint64_t salt)
{
	return (uint64_t)getpid() ^ (uint64_t)(clock_wall() * 1e6) ^ salt;
}
