/* expo — see expo.h. Follows the text format as the Pushgateway's parser
 * (prometheus/common expfmt) reads it, but stricter where a line is surely a
 * mistake or would reach the gateway altered: a TYPE without a type,
 * timestamps, NUL bytes, carriage returns; docs/spool.md lists them all. */
#define _GNU_SOURCE
#include "expo.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest value token: "%f" of DBL_MAX is 316 bytes; exact decimals of
 * doubles run to about 770 significant digits. */
#define VALUE_MAX 4096
#define VALUE_MAX_TEXT "4096"

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_name_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int
is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static int
is_metric_start(char c)
{
	return is_name_start(c) || c == ':';
}

static int
is_metric_char(char c)
{
	return is_name_char(c) || c == ':';
}

int
expo_valid_metric_name(const char *s, size_t len)
{
	if (len == 0 || len > EXPO_MAX_NAME || !is_metric_start(s[0]))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!is_metric_char(s[i]))
			return 0;
	return 1;
}

int
expo_valid_label_name(const char *s, size_t len)
{
	if (len == 0 || len > EXPO_MAX_NAME || !is_name_start(s[0]))
		return 0;
	for (size_t i = 1; i < len; i++)
		if (!is_name_char(s[i]))
			return 0;
	return 1;
}

int
expo_valid_utf8(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned int cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else
			return 0;
		if (i + n >= len)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		/* Overlong forms, surrogates and code points past U+10FFFF. */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void
c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static int
ieq(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	if (len != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return 0;
	}
	return 1;
}

int
expo_parse_value(const char *s, size_t len, double *out)
{
	size_t i = 0;
	int neg = 0, digits = 0;
	char buf[VALUE_MAX + 1];
	char *end;

	if (len == 0 || len > VALUE_MAX)
		return -1;
	if (ieq(s, len, "nan")) {
		*out = NAN;
		return 0;
	}
	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		i = 1;
	}
	if (ieq(s + i, len - i, "inf") || ieq(s + i, len - i, "infinity")) {
		*out = neg ? -INFINITY : INFINITY;
		return 0;
	}

	/* Fast path: short integers are exact in a double. */
	if (len - i <= 15) {
		long long v = 0;
		size_t k;
		for (k = i; k < len && s[k] >= '0' && s[k] <= '9'; k++)
			v = v * 10 + (s[k] - '0');
		if (k == len && k > i) {
			*out = neg ? -(double)v : (double)v;
			/* Keep the sign of -0. */
			if (neg && v == 0)
				*out = -0.0;
			return 0;
		}
	}

	/* Decimal syntax check, so that strtod cannot accept hex or other
	 * forms the Pushgateway would refuse. */
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (i < len && s[i] == '.') {
		i++;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	}
	if (digits == 0)
		return -1;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		int edigits = 0;
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			edigits++;
		if (edigits == 0)
			return -1;
	}
	if (i != len)
		return -1;

	memcpy(buf, s, len);
	buf[len] = '\0';
	pthread_once(&c_locale_once, c_locale_init);
	if (c_locale == (locale_t)0)
		*out = strtod(buf, &end);
	else
		*out = strtod_l(buf, &end, c_locale);
	if (end != buf + len)
		return -1;
	/* Overflow gives ±HUGE_VAL, which is ±Inf: what Go's ParseFloat would
	 * refuse. Refuse it too rather than store an infinity nobody wrote. */
	if (isinf(*out))
		return -1;
	return 0;
}

/* Checks a quoted string body from s[*pos] (just after the opening quote)
 * up to the closing quote; leaves *pos after the closing quote. */
static int
scan_quoted(const char *s, size_t len, size_t *pos, expo_str *out,
    const char **why)
{
	size_t i = *pos, start = *pos;

	for (;;) {
		if (i >= len) {
			*why = "unterminated label value (missing closing quote)";
			return -1;
		}
		if (s[i] == '"')
			break;
		if (s[i] == '\\') {
			if (i + 1 >= len) {
				*why = "unterminated label value (missing closing quote)";
				return -1;
			}
			if (s[i + 1] != '\\' && s[i + 1] != '"' && s[i + 1] != 'n') {
				*why = "invalid escape sequence in label value "
				    "(only \\\\, \\\" and \\n are allowed)";
				return -1;
			}
			i += 2;
			continue;
		}
		i++;
	}
	out->p = s + start;
	out->len = i - start;
	if (!expo_valid_utf8(out->p, out->len)) {
		*why = "label value is not valid UTF-8";
		return -1;
	}
	*pos = i + 1;
	return 0;
}

static void
skip_blanks(const char *s, size_t len, size_t *i)
{
	while (*i < len && is_blank(s[*i]))
		(*i)++;
}

/* Parses label pairs from s[*pos]. With close == '}', stops after the
 * closing brace; with close == 0, runs to the end of s. */
static int
parse_labels(const char *s, size_t len, size_t *pos, char close,
    expo_label *labels, size_t max, size_t *nlabels, const char **why)
{
	size_t i = *pos, n = 0;

	for (;;) {
		size_t start;
		expo_str name, value;

		skip_blanks(s, len, &i);
		if (close && i < len && s[i] == close) {
			i++;
			break;
		}
		if (i >= len) {
			if (close) {
				*why = "unterminated label set (missing '}')";
				return -1;
			}
			break;
		}
		start = i;
		while (i < len && is_name_char(s[i]))
			i++;
		name.p = s + start;
		name.len = i - start;
		if (name.len == 0 || !is_name_start(name.p[0])) {
			*why = "invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)";
			return -1;
		}
		if (name.len > EXPO_MAX_NAME) {
			*why = "label name too long (limit 1024 bytes)";
			return -1;
		}
		if (name.len >= 2 && name.p[0] == '_' && name.p[1] == '_') {
			*why = "label names starting with __ are reserved";
			return -1;
		}
		skip_blanks(s, len, &i);
		if (i >= len || s[i] != '=') {
			*why = "expected '=' after label name";
			return -1;
		}
		i++;
		skip_blanks(s, len, &i);
		if (i >= len || s[i] != '"') {
			*why = "expected '\"' to open label value";
			return -1;
		}
		i++;
		if (scan_quoted(s, len, &i, &value, why) != 0)
			return -1;
		for (size_t k = 0; k < n; k++) {
			if (labels[k].name.len == name.len &&
			    memcmp(labels[k].name.p, name.p, name.len) == 0) {
				*why = "duplicate label name";
				return -1;
			}
		}
		if (n == max) {
			*why = "too many labels (limit 64)";
			return -1;
		}
		labels[n].name = name;
		labels[n].value = value;
		n++;
		skip_blanks(s, len, &i);
		if (i < len && s[i] == ',') {
			i++;
			continue;
		}
		if (close && i < len && s[i] == close) {
			i++;
			break;
		}
		if (i >= len && !close)
			break;
		*why = close ? "expected ',' or '}' after label value"
		             : "expected ',' after label value";
		return -1;
	}
	*pos = i;
	*nlabels = n;
	return 0;
}

int
expo_parse_labels(const char *s, size_t len, expo_label *labels, size_t max,
    size_t *nlabels, const char **why)
{
	size_t pos = 0;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n' || s[i] == '\r' || s[i] == '\0') {
			*why = "newline, carriage return or NUL in label set";
			return -1;
		}
	}
	return parse_labels(s, len, &pos, 0, labels, max, nlabels, why);
}

static int
parse_meta(const char *s, size_t len, size_t i, expo_line *out,
    const char **why)
{
	size_t start;
	int is_help;

	/* i is just past '#'. */
	skip_blanks(s, len, &i);
	start = i;
	while (i < len && !is_blank(s[i]))
		i++;
	if (i - start == 4 && memcmp(s + start, "HELP", 4) == 0)
		is_help = 1;
	else if (i - start == 4 && memcmp(s + start, "TYPE", 4) == 0)
		is_help = 0;
	else {
		out->kind = EXPO_COMMENT;
		return 0;
	}
	skip_blanks(s, len, &i);
	/* A bare "# HELP" or "# TYPE" names nothing: a comment, as the
	 * Pushgateway reads it. */
	if (i == len) {
		out->kind = EXPO_COMMENT;
		return 0;
	}
	start = i;
	while (i < len && is_metric_char(s[i]))
		i++;
	out->name.p = s + start;
	out->name.len = i - start;
	if (out->name.len == 0 || !is_metric_start(out->name.p[0]) ||
	    (i < len && !is_blank(s[i]))) {
		*why = is_help ? "invalid metric name in HELP line"
		               : "invalid metric name in TYPE line";
		return -1;
	}
	if (out->name.len > EXPO_MAX_NAME) {
		*why = "metric name too long (limit 1024 bytes)";
		return -1;
	}
	if (is_help) {
		/* All blanks before the text separate it from the name, as
		 * the Pushgateway (and client_python) read it: "# HELP  m  x"
		 * is "x". Blanks after the text are kept, as it keeps them. */
		skip_blanks(s, len, &i);
		out->kind = EXPO_HELP;
		out->help.p = s + i;
		out->help.len = len - i;
		for (size_t k = i; k < len; k++) {
			if (s[k] != '\\')
				continue;
			if (k + 1 >= len || (s[k + 1] != '\\' && s[k + 1] != 'n')) {
				*why = "invalid escape sequence in HELP text "
				    "(only \\\\ and \\n are allowed)";
				return -1;
			}
			k++;
		}
		if (!expo_valid_utf8(out->help.p, out->help.len)) {
			*why = "HELP text is not valid UTF-8";
			return -1;
		}
		return 0;
	}
	skip_blanks(s, len, &i);
	start = i;
	while (i < len && !is_blank(s[i]))
		i++;
	if (i == start) {
		*why = "TYPE line without a type (counter, gauge, histogram, "
		    "summary or untyped)";
		return -1;
	}
	{
		int t = expo_type_parse(s + start, i - start);
		if (t < 0) {
			*why = "unknown type in TYPE line (counter, gauge, "
			    "histogram, summary or untyped)";
			return -1;
		}
		out->type = (expo_type)t;
	}
	skip_blanks(s, len, &i);
	if (i != len) {
		*why = "unexpected text after the type in TYPE line";
		return -1;
	}
	out->kind = EXPO_TYPE;
	return 0;
}

int
expo_parse_line(const char *s, size_t len, expo_line *out, const char **why)
{
	size_t i = 0, start;

	out->kind = EXPO_BLANK;
	out->name.p = NULL;
	out->name.len = 0;
	out->help.p = NULL;
	out->help.len = 0;
	out->nlabels = 0;
	out->type = EXPO_UNTYPED;
	out->value = 0;

	if (len > EXPO_MAX_LINE) {
		*why = "line too long (limit 65536 bytes)";
		return -1;
	}
	if (memchr(s, '\r', len) != NULL) {
		*why = "carriage return in line (use LF line ends, not CRLF)";
		return -1;
	}
	if (memchr(s, '\0', len) != NULL) {
		*why = "NUL byte in line";
		return -1;
	}
	skip_blanks(s, len, &i);
	if (i == len)
		return 0;
	if (s[i] == '#')
		return parse_meta(s, len, i + 1, out, why);

	start = i;
	while (i < len && is_metric_char(s[i]))
		i++;
	out->name.p = s + start;
	out->name.len = i - start;
	if (out->name.len == 0 || !is_metric_start(out->name.p[0])) {
		*why = "invalid metric name (must match [a-zA-Z_:][a-zA-Z0-9_:]*)";
		return -1;
	}
	if (out->name.len > EXPO_MAX_NAME) {
		*why = "metric name too long (limit 1024 bytes)";
		return -1;
	}
	if (i < len && !is_blank(s[i]) && s[i] != '{') {
		*why = "invalid character in metric name";
		return -1;
	}
	skip_blanks(s, len, &i);
	if (i < len && s[i] == '{') {
		i++;
		/* The value may follow the '}' without a blank: the
		 * Pushgateway and Prometheus both read m{a="b"}1. */
		if (parse_labels(s, len, &i, '}', out->labels, EXPO_MAX_LABELS,
		    &out->nlabels, why) != 0)
			return -1;
		skip_blanks(s, len, &i);
	}
	start = i;
	while (i < len && !is_blank(s[i]))
		i++;
	if (i == start) {
		*why = "missing value";
		return -1;
	}
	if (i - start > VALUE_MAX) {
		*why = "value too long (limit " VALUE_MAX_TEXT " bytes)";
		return -1;
	}
	if (expo_parse_value(s + start, i - start, &out->value) != 0) {
		*why = "invalid value (expected a float such as 1, -2.5, 1e3, "
		    "NaN, +Inf or -Inf)";
		return -1;
	}
	skip_blanks(s, len, &i);
	if (i != len) {
		start = i;
		while (i < len && (s[i] == '-' || (s[i] >= '0' && s[i] <= '9')))
			i++;
		skip_blanks(s, len, &i);
		if (i == len && i > start)
			*why = "timestamps are not allowed (the Pushgateway rejects them)";
		else
			*why = "unexpected text after the value";
		return -1;
	}
	out->kind = EXPO_SAMPLE;
	return 0;
}

/*
 * What the Pushgateway makes of a sample once it knows the family: it reads
 * le (histograms) and quantile (summaries) as floats and refuses the whole
 * push when one is not; it drops a bucket without le, a bucket or quantile
 * whose bound is NaN, and a summary's bare-name sample without quantile;
 * it converts bucket and count values to unsigned 64-bit integers, so a
 * negative, NaN, infinite or too large count is stored as a wrapped number.
 */
const char *
expo_check_member(const expo_line *l, expo_type type, size_t famlen)
{
	expo_str suffix;
	const char *key;
	int has_key = 0, is_bucket, is_count;

	if (type == EXPO_HISTOGRAM)
		key = "le";
	else if (type == EXPO_SUMMARY)
		key = "quantile";
	else
		return NULL;
	if (famlen > l->name.len)
		return NULL;
	suffix.p = l->name.p + famlen;
	suffix.len = l->name.len - famlen;
	is_bucket = type == EXPO_HISTOGRAM && expo_str_eq(suffix, "_bucket");
	is_count = expo_str_eq(suffix, "_count");
	for (size_t i = 0; i < l->nlabels; i++) {
		double v;

		if (!expo_str_eq(l->labels[i].name, key))
			continue;
		has_key = 1;
		if (expo_parse_value(l->labels[i].value.p,
		    l->labels[i].value.len, &v) != 0 || isnan(v))
			return type == EXPO_HISTOGRAM ?
			    "le must be a number such as 0.25, 1e3 or +Inf "
			    "(not NaN, hex or text)" :
			    "quantile must be a number such as 0.5 or 0.99 "
			    "(not NaN, hex or text)";
	}
	if (is_bucket && !has_key)
		return "a bucket needs an le label (the Pushgateway drops a "
		    "bucket without one)";
	if (type == EXPO_SUMMARY && suffix.len == 0 && !has_key)
		return "a sample of the bare name needs a quantile label (the "
		    "Pushgateway drops it); write the totals as _sum and "
		    "_count";
	/* 0x1p64: the first value that does not fit in 64 bits. The test
	 * is false for NaN. */
	if ((is_bucket || is_count) && !(l->value >= 0 && l->value < 0x1p64))
		return "bucket and count values must be 0 or more, finite and "
		    "below 2^64 (the Pushgateway stores them as unsigned "
		    "integers)";
	return NULL;
}

size_t
expo_format_value(double v, char *buf)
{
	int n;

	if (isnan(v))
		return (size_t)snprintf(buf, EXPO_VALUE_BUF, "NaN");
	if (isinf(v))
		return (size_t)snprintf(buf, EXPO_VALUE_BUF, v > 0 ? "+Inf" : "-Inf");
	/* Integers are the common case and print exactly with %.0f. */
	if (fabs(v) < 1e15 && v == (double)(long long)v) {
		n = snprintf(buf, EXPO_VALUE_BUF, "%lld", (long long)v);
		if (v == 0 && signbit(v))
			n = snprintf(buf, EXPO_VALUE_BUF, "-0");
		return (size_t)n;
	}
	/* %g follows LC_NUMERIC; a host program may have set a locale whose
	 * decimal point is a comma. */
	pthread_once(&c_locale_once, c_locale_init);
	locale_t old = c_locale ? uselocale(c_locale) : (locale_t)0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, EXPO_VALUE_BUF, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	if (c_locale)
		uselocale(old);
	return (size_t)n;
}

int
expo_type_parse(const char *s, size_t len)
{
	static const expo_type all[] = { EXPO_UNTYPED, EXPO_COUNTER,
	    EXPO_GAUGE, EXPO_HISTOGRAM, EXPO_SUMMARY };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (ieq(s, len, expo_type_name(all[i])))
			return (int)all[i];
	return -1;
}

const char *
expo_type_name(expo_type t)
{
	switch (t) {
	case EXPO_UNTYPED:
		return "untyped";
	case EXPO_COUNTER:
		return "counter";
	case EXPO_GAUGE:
		return "gauge";
	case EXPO_HISTOGRAM:
		return "histogram";
	case EXPO_SUMMARY:
		return "summary";
	}
	return "untyped";
}

static int
str_cmp(expo_str a, expo_str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = memcmp(a.p, b.p, n);

	if (c != 0)
		return c;
	return (a.len > b.len) - (a.len < b.len);
}

void
expo_sort_labels(expo_label *labels, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		expo_label x = labels[i];
		size_t j = i;
		while (j > 0 && str_cmp(labels[j - 1].name, x.name) > 0) {
			labels[j] = labels[j - 1];
			j--;
		}
		labels[j] = x;
	}
}

int
expo_str_eq(expo_str s, const char *c)
{
	size_t n = strlen(c);

	return s.len == n && memcmp(s.p, c, n) == 0;
}

int
expo_next_line(const char *body, size_t len, size_t *pos, const char **line,
    size_t *llen)
{
	const char *nl;

	if (*pos >= len)
		return 0;
	*line = body + *pos;
	nl = memchr(*line, '\n', len - *pos);
	if (nl == NULL) {
		*llen = len - *pos;
		*pos = len;
	} else {
		*llen = (size_t)(nl - *line);
		*pos += *llen + 1;
	}
	return 1;
}

size_t
expo_labels_len(const expo_label *labels, size_t n)
{
	size_t len = n ? n - 1 : 0; /* commas */

	for (size_t i = 0; i < n; i++)
		len += labels[i].name.len + labels[i].value.len + 3;
	return len;
}

size_t
expo_join_labels(char *out, const expo_label *labels, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (i)
			out[k++] = ',';
		memcpy(out + k, labels[i].name.p, labels[i].name.len);
		k += labels[i].name.len;
		out[k++] = '=';
		out[k++] = '"';
		memcpy(out + k, labels[i].value.p, labels[i].value.len);
		k += labels[i].value.len;
		out[k++] = '"';
	}
	return k;
}

size_t
expo_pair_len(const char *name, const char *value)
{
	return strlen(name) + 3 + 2 * strlen(value);
}

size_t
expo_write_pair(char *out, const char *name, const char *value)
{
	size_t o = strlen(name);

	memcpy(out, name, o);
	out[o++] = '=';
	out[o++] = '"';
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			out[o++] = '\\';
		if (*value == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
			continue;
		}
		out[o++] = *value;
	}
	out[o++] = '"';
	out[o] = '\0';
	return o;
}
