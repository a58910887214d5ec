/* The exposition parser (expo.h), the grouping parser and expo_format_value,
 * as tables: each row a line and what must come of it. Every input is copied
 * into a buffer of exactly its length, without a NUL, so that ASan catches a
 * parser that reads past the length it was given. */
#include "testutil.h"

#include <float.h>
#include <math.h>

#include "collector-spool.h"
#include "expo.h"
#include "spool_int.h"

#define MAXLAB 3

/* One line and its expected outcome. For refused lines only `why` (a
 * substring of the reason) counts. For accepted lines: the kind, the name,
 * the labels in the order written (values in their escaped form), the value
 * (bit for bit; any NaN matches NaN), the HELP text, the TYPE. */
struct row {
	const char *line;
	size_t len;          /* 0: strlen(line) */
	int ok;
	expo_kind kind;
	const char *name;
	size_t nlabels;
	const char *lab[MAXLAB][2];
	double value;
	const char *help;
	expo_type type;
	const char *why;
};

#define S(l, n, v) \
	{ .line = l, .ok = 1, .kind = EXPO_SAMPLE, .name = n, .value = v }
#define S1(l, n, k1, v1, v) \
	{ .line = l, .ok = 1, .kind = EXPO_SAMPLE, .name = n, .nlabels = 1, \
	  .lab = { { k1, v1 } }, .value = v }
#define S2(l, n, k1, v1, k2, v2, v) \
	{ .line = l, .ok = 1, .kind = EXPO_SAMPLE, .name = n, .nlabels = 2, \
	  .lab = { { k1, v1 }, { k2, v2 } }, .value = v }
#define HELP(l, n, h) \
	{ .line = l, .ok = 1, .kind = EXPO_HELP, .name = n, .help = h }
#define TYPE(l, n, t) \
	{ .line = l, .ok = 1, .kind = EXPO_TYPE, .name = n, .type = t }
#define KIND(l, k) { .line = l, .ok = 1, .kind = k }
#define BAD(l, w) { .line = l, .why = w }
#define BADN(l, n, w) { .line = l, .len = n, .why = w }

/* Reasons, as substrings, so that a reworded tail does not break the
 * table but a wrong reason does. */
#define R_TS     "timestamps are not allowed"
#define R_VAL    "invalid value"
#define R_ESC    "invalid escape sequence in label value"
#define R_HESC   "invalid escape sequence in HELP text"
#define R_UTF8   "label value is not valid UTF-8"
#define R_HUTF8  "HELP text is not valid UTF-8"
#define R_UNTERM "unterminated label value"
#define R_LNAME  "invalid label name"
#define R_MNAME  "invalid metric name"
#define R_MCHAR  "invalid character in metric name"
#define R_AFTER  "unexpected text after the value"
#define R_CR     "carriage return"
#define R_RES    "label names starting with __ are reserved"
#define R_DUP    "duplicate label name"

static const struct row rows[] = {
	/* Names and blanks. */
	S("m 1", "m", 1),
	S("metric_name_total 42", "metric_name_total", 42),
	S(":colon:name 1", ":colon:name", 1),
	S("a:b_c:d9 0.5", "a:b_c:d9", 0.5),
	S("_x 1", "_x", 1),
	S("X 1", "X", 1),
	S("  m 1", "m", 1),
	S("m 1   ", "m", 1),
	S("m\t1", "m", 1),
	S("\tm \t 1\t", "m", 1),
	S1("m {a=\"b\"} 1", "m", "a", "b", 1),

	/* Label sets. */
	S("m{} 1", "m", 1),
	S1("m{a=\"b\"} 1", "m", "a", "b", 1),
	S1("m{a=\"b\",} 1", "m", "a", "b", 1),
	S2("m{ a = \"b\" , c=\"d\" , } 2", "m", "a", "b", "c", "d", 2),
	S2("m{b=\"2\",a=\"1\"} 3", "m", "b", "2", "a", "1", 3),
	S1("m{a=\"\"} 1", "m", "a", "", 1),
	S1("m{_a=\"x\"} 1", "m", "_a", "x", 1),
	S2("m{a_=\"x\",B9=\"y\"} 1", "m", "a_", "x", "B9", "y", 1),
	S1("m{a=\"{}=,# \"} 1", "m", "a", "{}=,# ", 1),
	S1("m{a=\"tab\there\"} 1", "m", "a", "tab\there", 1),

	/* The three escapes, kept in their escaped form. */
	S1("m{a=\"x\\\\y\"} 1", "m", "a", "x\\\\y", 1),
	S1("m{a=\"say \\\"hi\\\"\"} 1", "m", "a", "say \\\"hi\\\"", 1),
	S1("m{a=\"l1\\nl2\"} 1", "m", "a", "l1\\nl2", 1),
	S1("m{a=\"\\\\n\"} 1", "m", "a", "\\\\n", 1),
	BAD("m{a=\"\\t\"} 1", R_ESC),
	BAD("m{a=\"\\x41\"} 1", R_ESC),
	BAD("m{a=\"\\u00e9\"} 1", R_ESC),
	BAD("m{a=\"\\ \"} 1", R_ESC),
	BAD("m{a=\"\\\"} 1", R_UNTERM),
	BAD("m{a=\"x} 1", R_UNTERM),
	BAD("m{a=\"x\\", R_UNTERM),

	/* UTF-8 in label values. */
	S1("m{a=\"h\xc3\xa9llo\"} 1", "m", "a", "h\xc3\xa9llo", 1),
	S1("m{a=\"\xe6\x97\xa5\xe6\x9c\xac\"} 1", "m", "a",
	    "\xe6\x97\xa5\xe6\x9c\xac", 1),
	S1("m{a=\"\xf0\x9f\x98\x80\"} 1", "m", "a", "\xf0\x9f\x98\x80", 1),
	S1("m{a=\"\xf4\x8f\xbf\xbf\"} 1", "m", "a", "\xf4\x8f\xbf\xbf", 1),
	S1("m{a=\"\xed\x9f\xbf\"} 1", "m", "a", "\xed\x9f\xbf", 1),
	S1("m{a=\"\xee\x80\x80\"} 1", "m", "a", "\xee\x80\x80", 1),
	S1("m{a=\"\xef\xbf\xbe\"} 1", "m", "a", "\xef\xbf\xbe", 1),
	S1("m{a=\"\xc2\x80\"} 1", "m", "a", "\xc2\x80", 1),
	BAD("m{a=\"\xff\"} 1", R_UTF8),
	BAD("m{a=\"\xc3\"} 1", R_UTF8),
	BAD("m{a=\"\xe6\x97\"} 1", R_UTF8),
	BAD("m{a=\"\xf0\x9f\x98\"} 1", R_UTF8),
	BAD("m{a=\"\x80\"} 1", R_UTF8),
	BAD("m{a=\"\xc0\xaf\"} 1", R_UTF8),
	BAD("m{a=\"\xc1\xbf\"} 1", R_UTF8),
	BAD("m{a=\"\xe0\x80\xaf\"} 1", R_UTF8),
	BAD("m{a=\"\xf0\x80\x80\xaf\"} 1", R_UTF8),
	BAD("m{a=\"\xed\xa0\x80\"} 1", R_UTF8),
	BAD("m{a=\"\xed\xbf\xbf\"} 1", R_UTF8),
	BAD("m{a=\"\xf4\x90\x80\x80\"} 1", R_UTF8),
	BAD("m{a=\"\xf8\x88\x80\x80\x80\"} 1", R_UTF8),
	BAD("m{a=\"\xfe\xff\"} 1", R_UTF8),

	/* Values. */
	S("m 0", "m", 0),
	S("m -0", "m", -0.0),
	S("m +0", "m", 0),
	S("m 3", "m", 3),
	S("m -17", "m", -17),
	S("m +5", "m", 5),
	S("m 007", "m", 7),
	S("m 0.1", "m", 0.1),
	S("m -2.5", "m", -2.5),
	S("m .5", "m", 0.5),
	S("m 5.", "m", 5),
	S("m -.5e1", "m", -5),
	S("m 1e3", "m", 1e3),
	S("m 1E-3", "m", 1E-3),
	S("m -2.5e+10", "m", -2.5e+10),
	S("m 1e0", "m", 1),
	S("m 123456789012345", "m", 123456789012345.0),
	S("m 1234567890123456789", "m", 1234567890123456789.0),
	/* 2^53 + 1 rounds to even. */
	S("m 9007199254740993", "m", 9007199254740992.0),
	S("m 1e308", "m", 1e308),
	S("m 1.7976931348623157e308", "m", DBL_MAX),
	S("m 2.2250738585072014e-308", "m", DBL_MIN),
	S("m 5e-324", "m", 5e-324),
	/* Underflow gives 0, as Go's ParseFloat does (the gateway's). */
	S("m 1e-999", "m", 0),
	S("m NaN", "m", NAN),
	S("m nan", "m", NAN),
	S("m NAN", "m", NAN),
	S("m nAn", "m", NAN),
	S("m +Inf", "m", INFINITY),
	S("m -Inf", "m", -INFINITY),
	S("m Inf", "m", INFINITY),
	S("m inf", "m", INFINITY),
	S("m +INF", "m", INFINITY),
	S("m -inf", "m", -INFINITY),
	S("m Infinity", "m", INFINITY),
	S("m -infinity", "m", -INFINITY),
	S("m +INFINITY", "m", INFINITY),
	/* Overflow is refused, not stored as an infinity nobody wrote (Go's
	 * ParseFloat reports ErrRange). */
	BAD("m 1e999", R_VAL),
	BAD("m -1e999", R_VAL),
	BAD("m 1.7976931348623159e308", R_VAL),
	/* Hex floats: strtod would take them, the gateway does not. */
	BAD("m 0x1p3", R_VAL),
	BAD("m 0X1P-2", R_VAL),
	BAD("m 0x10", R_VAL),
	BAD("m 1p3", R_VAL),
	BAD("m 1_000", R_VAL),
	BAD("m 1,5", R_VAL),
	BAD("m 1e", R_VAL),
	BAD("m 1e+", R_VAL),
	BAD("m e3", R_VAL),
	BAD("m .", R_VAL),
	BAD("m -", R_VAL),
	BAD("m +", R_VAL),
	BAD("m +NaN", R_VAL),
	BAD("m -nan", R_VAL),
	BAD("m Infinit", R_VAL),
	BAD("m infinityy", R_VAL),
	BAD("m 1.2.3", R_VAL),
	BAD("m --1", R_VAL),
	BAD("m 1f", R_VAL),
	BAD("m 1e3.5", R_VAL),
	BAD("m true", R_VAL),
	BAD("m", "missing value"),
	BAD("m{a=\"b\"}", "missing value"),
	BAD("m{a=\"b\"}  ", "missing value"),

	/* Timestamps and trailing garbage. */
	BAD("m 1 1700000000000", R_TS),
	BAD("m{a=\"b\"} 1 1700000000000", R_TS),
	BAD("m NaN -5", R_TS),
	BAD("m 1\t1700000000000\t", R_TS),
	BAD("m 1 x", R_AFTER),
	BAD("m 1 1.5", R_AFTER),
	BAD("m 1 2 3", R_AFTER),
	BAD("m 1 # comment", R_AFTER),

	/* Metric and label names. */
	BAD("1m 1", R_MNAME),
	BAD("{a=\"b\"} 1", R_MNAME),
	BAD("m-x 1", R_MCHAR),
	BAD("m.x 1", R_MCHAR),
	BAD("m\xc3\xa9 1", R_MCHAR),
	BAD("m{1a=\"b\"} 1", R_LNAME),
	BAD("m{=\"b\"} 1", R_LNAME),
	BAD("m{,} 1", R_LNAME),
	BAD("m{a=\"b\",,} 1", R_LNAME),
	BAD("m{a:b=\"c\"} 1", "expected '=' after label name"),
	BAD("m{a-b=\"c\"} 1", "expected '=' after label name"),
	BAD("m{a} 1", "expected '=' after label name"),
	BAD("m{a=b} 1", "expected '\"' to open label value"),
	BAD("m{a=\"b\" c=\"d\"} 1", "expected ',' or '}'"),
	BAD("m{a=\"b\"", "expected ',' or '}'"),
	BAD("m{", "unterminated label set"),
	BAD("m{a=\"b\",", "unterminated label set"),
	/* The value may follow the '}' at once, as the Pushgateway and
	 * Prometheus read it. */
	S1("m{a=\"b\"}1", "m", "a", "b", 1),
	S1("m{a=\"b\"}-Inf", "m", "a", "b", -INFINITY),
	S("m{}2", "m", 2),
	S1("m{ a = \"b\" , }\t3", "m", "a", "b", 3),
	BAD("m{a=\"b\"}} 1", R_VAL),
	BAD("m{a=\"b\"}x 1", R_VAL),
	BAD("m{a=\"b\"}", "missing value"),
	BAD("m{__name__=\"x\"} 1", R_RES),
	BAD("m{__a=\"x\"} 1", R_RES),
	BAD("m{a=\"x\",a=\"y\"} 1", R_DUP),
	BAD("m{a=\"x\",b=\"y\",a=\"x\"} 1", R_DUP),

	/* HELP. */
	HELP("# HELP m Some help.", "m", "Some help."),
	HELP("# HELP m", "m", ""),
	HELP("# HELP m ", "m", ""),
	HELP("# HELP m back\\\\slash and\\nnewline", "m",
	    "back\\\\slash and\\nnewline"),
	HELP("# HELP m quotes \"need\" no escape", "m",
	    "quotes \"need\" no escape"),
	HELP("# HELP m h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80", "m",
	    "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80"),
	HELP("#HELP m x", "m", "x"),
	HELP("  # HELP m x", "m", "x"),
	HELP("# HELP m\tx", "m", "x"),
	/* Every blank between the name and the text goes, as the Pushgateway
	 * reads it; blanks after the text stay, as it keeps them. */
	HELP("# HELP m   x", "m", "x"),
	HELP("# HELP  m \t x  y ", "m", "x  y "),
	HELP("# HELP m \t ", "m", ""),
	HELP("# HELP a:b x", "a:b", "x"),
	BAD("# HELP m \xff", R_HUTF8),
	BAD("# HELP m \xed\xa0\x80", R_HUTF8),
	BAD("# HELP m \xc1\xbf", R_HUTF8),
	BAD("# HELP m \xe2\x9c", R_HUTF8),
	BAD("# HELP m tab\\t", R_HESC),
	BAD("# HELP m quote\\\"", R_HESC),
	BAD("# HELP m trailing\\", R_HESC),
	BAD("# HELP #", "invalid metric name in HELP line"),
	BAD("# HELP 1m x", "invalid metric name in HELP line"),
	BAD("# HELP m{a=\"b\"} x", "invalid metric name in HELP line"),

	/* TYPE, all five and their spellings. */
	TYPE("# TYPE m counter", "m", EXPO_COUNTER),
	TYPE("# TYPE m gauge", "m", EXPO_GAUGE),
	TYPE("# TYPE m histogram", "m", EXPO_HISTOGRAM),
	TYPE("# TYPE m summary", "m", EXPO_SUMMARY),
	TYPE("# TYPE m untyped", "m", EXPO_UNTYPED),
	/* Case-insensitive, as Prometheus (it upper-cases the word). */
	TYPE("# TYPE m COUNTER", "m", EXPO_COUNTER),
	TYPE("# TYPE m Gauge", "m", EXPO_GAUGE),
	TYPE("#TYPE  m \t gauge  ", "m", EXPO_GAUGE),
	TYPE("# TYPE a:b_total counter", "a:b_total", EXPO_COUNTER),
	BAD("# TYPE m", "TYPE line without a type"),
	BAD("# TYPE m  ", "TYPE line without a type"),
	BAD("# TYPE m counters", "unknown type in TYPE line"),
	BAD("# TYPE m gauge_histogram", "unknown type in TYPE line"),
	BAD("# TYPE m info", "unknown type in TYPE line"),
	BAD("# TYPE m counter extra", "unexpected text after the type"),
	BAD("# TYPE m{a=\"b\"} counter", "invalid metric name in TYPE line"),
	BAD("# TYPE #", "invalid metric name in TYPE line"),

	/* Comments and blanks. */
	KIND("# just a comment", EXPO_COMMENT),
	KIND("#", EXPO_COMMENT),
	KIND("#   ", EXPO_COMMENT),
	KIND("# help m lower-case is a comment", EXPO_COMMENT),
	KIND("# TYPEX m counter", EXPO_COMMENT),
	/* HELP or TYPE naming nothing: a comment to the Pushgateway. */
	KIND("# HELP", EXPO_COMMENT),
	KIND("# HELP \t ", EXPO_COMMENT),
	KIND("#TYPE", EXPO_COMMENT),
	KIND("# TYPE  ", EXPO_COMMENT),
	KIND("  # EOF", EXPO_COMMENT),
	/* Comments are dropped, never rendered: their bytes are not checked. */
	KIND("# \xff\xfe", EXPO_COMMENT),
	KIND("", EXPO_BLANK),
	KIND("   ", EXPO_BLANK),
	KIND("\t \t", EXPO_BLANK),

	/* Carriage returns anywhere, and NUL bytes. */
	BAD("m 1\r", R_CR),
	BAD("\r", R_CR),
	BAD("# HELP m x\r", R_CR),
	BAD("# comment\r", R_CR),
	BAD("m{a=\"x\ry\"} 1", R_CR),
	BADN("m 1\0", 4, "NUL byte"),
	BADN("m{a=\"x\0y\"} 1", 12, "NUL byte"),
	BADN("\0", 1, "NUL byte"),
};

/* Exactly len bytes on the heap, no terminator. */
static char *
exact_copy(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

static int
str_is(expo_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static int
same_double(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Checks one row; returns 0 or prints why it failed and returns 1, so that
 * one run lists every failing row rather than the first. */
static int
check_row(const struct row *r, size_t idx)
{
	size_t len = r->len ? r->len : strlen(r->line);
	char *buf = exact_copy(r->line, len);
	expo_line *l = malloc(sizeof(*l));
	const char *why = NULL;
	int rc, bad = 0;

	assert_non_null(l);
	rc = expo_parse_line(buf, len, l, &why);
#define FAIL(...) do { \
		print_error("row %zu [%.*s]: ", idx, (int)(len > 60 ? 60 : len), \
		    r->line); \
		print_error(__VA_ARGS__); \
		print_error("\n"); \
		bad = 1; \
		goto out; \
	} while (0)
	if (r->ok && rc != 0)
		FAIL("refused (%s), expected accepted", why ? why : "(no reason)");
	if (!r->ok) {
		if (rc == 0)
			FAIL("accepted as kind %d, expected refused with '%s'",
			    (int)l->kind, r->why);
		if (why == NULL || strstr(why, r->why) == NULL)
			FAIL("reason '%s', expected it to contain '%s'",
			    why ? why : "(null)", r->why);
		goto out;
	}
	if (l->kind != r->kind)
		FAIL("kind %d, expected %d", (int)l->kind, (int)r->kind);
	if (r->name != NULL && !str_is(l->name, r->name))
		FAIL("name '%.*s', expected '%s'", (int)l->name.len, l->name.p,
		    r->name);
	switch (r->kind) {
	case EXPO_SAMPLE:
		if (l->nlabels != r->nlabels)
			FAIL("%zu labels, expected %zu", l->nlabels, r->nlabels);
		for (size_t i = 0; i < r->nlabels; i++) {
			if (!str_is(l->labels[i].name, r->lab[i][0]) ||
			    !str_is(l->labels[i].value, r->lab[i][1]))
				FAIL("label %zu is %.*s=\"%.*s\", expected "
				    "%s=\"%s\"", i, (int)l->labels[i].name.len,
				    l->labels[i].name.p,
				    (int)l->labels[i].value.len,
				    l->labels[i].value.p, r->lab[i][0],
				    r->lab[i][1]);
		}
		if (!same_double(l->value, r->value))
			FAIL("value %.17g, expected %.17g", l->value, r->value);
		break;
	case EXPO_HELP:
		if (!str_is(l->help, r->help))
			FAIL("help '%.*s', expected '%s'", (int)l->help.len,
			    l->help.p, r->help);
		break;
	case EXPO_TYPE:
		if (l->type != r->type)
			FAIL("type %s, expected %s", expo_type_name(l->type),
			    expo_type_name(r->type));
		break;
	case EXPO_BLANK:
	case EXPO_COMMENT:
		break;
	}
#undef FAIL
out:
	free(l);
	free(buf);
	return bad;
}

static void
test_lines(void **state)
{
	size_t n = sizeof(rows) / sizeof(rows[0]), failed = 0, ok = 0;

	(void)state;
	for (size_t i = 0; i < n; i++) {
		failed += (size_t)check_row(&rows[i], i);
		ok += rows[i].ok ? 1u : 0u;
	}
	print_message("%zu lines: %zu accepted, %zu refused\n", n, ok, n - ok);
	if (failed)
		fail_msg("%zu of %zu rows failed", failed, n);
}

/* ---- expo_check_member: a sample once its family is known --------------- */

#define M_LE    "le must be a number"
#define M_Q     "quantile must be a number"
#define M_NOLE  "a bucket needs an le label"
#define M_BARE  "a sample of the bare name needs a quantile label"
#define M_COUNT "bucket and count values must be 0 or more"

static void
test_members(void **state)
{
	static const struct {
		const char *line;
		expo_type type;
		const char *family; /* a prefix of the sample's name */
		const char *why;    /* NULL: fine; else the reason's start */
	} m[] = {
		{ "h_bucket{le=\"0.25\"} 3", EXPO_HISTOGRAM, "h", NULL },
		{ "h_bucket{a=\"x\",le=\"+Inf\"} 0", EXPO_HISTOGRAM, "h", NULL },
		{ "h_bucket{le=\"-Inf\"} 0", EXPO_HISTOGRAM, "h", NULL },
		{ "h_bucket{le=\"1e3\"} 2.5", EXPO_HISTOGRAM, "h", NULL },
		{ "h_bucket{le=\".5\"} -0", EXPO_HISTOGRAM, "h", NULL },
		{ "h_bucket{le=\"1\"} 18446744073709549568", EXPO_HISTOGRAM,
		    "h", NULL },
		{ "h_bucket{le=\"1\"} 18446744073709551616", EXPO_HISTOGRAM,
		    "h", M_COUNT },
		{ "h_bucket{le=\"bla\"} 1", EXPO_HISTOGRAM, "h", M_LE },
		{ "h_bucket{le=\"0x1p-3\"} 1", EXPO_HISTOGRAM, "h", M_LE },
		{ "h_bucket{le=\"1_000\"} 1", EXPO_HISTOGRAM, "h", M_LE },
		{ "h_bucket{le=\"\"} 1", EXPO_HISTOGRAM, "h", M_LE },
		{ "h_bucket{le=\" 1\"} 1", EXPO_HISTOGRAM, "h", M_LE },
		{ "h_bucket{le=\"NaN\"} 1", EXPO_HISTOGRAM, "h", M_LE },
		{ "h_bucket{le=\"1e999\"} 1", EXPO_HISTOGRAM, "h", M_LE },
		{ "h_bucket{a=\"1\"} 1", EXPO_HISTOGRAM, "h", M_NOLE },
		{ "h_bucket{le=\"1\"} -1", EXPO_HISTOGRAM, "h", M_COUNT },
		{ "h_bucket{le=\"1\"} -0.5", EXPO_HISTOGRAM, "h", M_COUNT },
		{ "h_bucket{le=\"1\"} NaN", EXPO_HISTOGRAM, "h", M_COUNT },
		{ "h_bucket{le=\"1\"} +Inf", EXPO_HISTOGRAM, "h", M_COUNT },
		{ "h_count -2693", EXPO_HISTOGRAM, "h", M_COUNT },
		{ "h_count 2693.5", EXPO_HISTOGRAM, "h", NULL },
		{ "h_sum -5", EXPO_HISTOGRAM, "h", NULL },
		{ "h_sum NaN", EXPO_HISTOGRAM, "h", NULL },
		/* le is read on every sample of a histogram, as the gateway
		 * reads it. */
		{ "h_sum{le=\"x\"} 1", EXPO_HISTOGRAM, "h", M_LE },
		{ "s{quantile=\"0.5\"} -3", EXPO_SUMMARY, "s", NULL },
		{ "s{quantile=\"-12.34\"} NaN", EXPO_SUMMARY, "s", NULL },
		{ "s{quantile=\".3\"} 1", EXPO_SUMMARY, "s", NULL },
		{ "s{quantile=\"bla\"} 1", EXPO_SUMMARY, "s", M_Q },
		{ "s{quantile=\"0x1p-3\"} 1", EXPO_SUMMARY, "s", M_Q },
		{ "s{quantile=\"nan\"} 1", EXPO_SUMMARY, "s", M_Q },
		{ "s 1", EXPO_SUMMARY, "s", M_BARE },
		{ "s_count -1", EXPO_SUMMARY, "s", M_COUNT },
		{ "s_count 1", EXPO_SUMMARY, "s", NULL },
		{ "s_sum -1", EXPO_SUMMARY, "s", NULL },
		{ "s_sum{quantile=\"x\"} 1", EXPO_SUMMARY, "s", M_Q },
		/* le means nothing to a summary, nor quantile to a histogram,
		 * nor either to other types. */
		{ "s{quantile=\"1\",le=\"x\"} 1", EXPO_SUMMARY, "s", NULL },
		{ "h_bucket{le=\"1\",quantile=\"x\"} 1", EXPO_HISTOGRAM, "h",
		    NULL },
		{ "c_bucket{le=\"x\"} -1", EXPO_COUNTER, "c_bucket", NULL },
		{ "g{quantile=\"x\"} -1", EXPO_GAUGE, "g", NULL },
		{ "u_count -1", EXPO_UNTYPED, "u", NULL },
	};
	size_t failed = 0;
	expo_line *l = malloc(sizeof(*l));

	(void)state;
	assert_non_null(l);
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		const char *why;

		if (expo_parse_line(m[i].line, strlen(m[i].line), l, &why) != 0)
			fail_msg("member %zu [%s]: %s", i, m[i].line, why);
		why = expo_check_member(l, m[i].type, strlen(m[i].family));
		if ((why == NULL) != (m[i].why == NULL) || (why != NULL &&
		    strncmp(why, m[i].why, strlen(m[i].why)) != 0)) {
			print_error("member %zu [%s]: %s, expected %s\n", i,
			    m[i].line, why ? why : "fine",
			    m[i].why ? m[i].why : "fine");
			failed++;
		}
	}
	free(l);
	if (failed)
		fail_msg("%zu member rows failed", failed);
}

/* ---- limits: generated lines at and just over each limit ---------------- */

enum gen {
	G_METRIC_NAME,  /* "aaa...a 1" with a name of n bytes */
	G_LABEL_NAME,   /* "m{aaa...a=\"v\"} 1" */
	G_HELP_NAME,    /* "# HELP aaa...a x" */
	G_TYPE_NAME,    /* "# TYPE aaa...a gauge" */
	G_SAMPLE_LINE,  /* "m{a=\"xxx...\"} 1", n bytes in all */
	G_HELP_LINE,    /* "# HELP m xxx...", n bytes in all */
	G_LABELS,       /* n labels l0="v",l1="v",... */
	G_LONG_VALUE    /* "m 1.000...0", a value of n bytes */
};

struct limit {
	enum gen gen;
	size_t n;
	int ok;
	const char *why;
};

static const struct limit limits[] = {
	{ G_METRIC_NAME, EXPO_MAX_NAME, 1, NULL },
	{ G_METRIC_NAME, EXPO_MAX_NAME + 1, 0, "metric name too long" },
	{ G_LABEL_NAME, EXPO_MAX_NAME, 1, NULL },
	{ G_LABEL_NAME, EXPO_MAX_NAME + 1, 0, "label name too long" },
	{ G_HELP_NAME, EXPO_MAX_NAME, 1, NULL },
	{ G_HELP_NAME, EXPO_MAX_NAME + 1, 0, "metric name too long" },
	{ G_TYPE_NAME, EXPO_MAX_NAME, 1, NULL },
	{ G_TYPE_NAME, EXPO_MAX_NAME + 1, 0, "metric name too long" },
	{ G_SAMPLE_LINE, EXPO_MAX_LINE, 1, NULL },
	{ G_SAMPLE_LINE, EXPO_MAX_LINE + 1, 0, "line too long" },
	{ G_HELP_LINE, EXPO_MAX_LINE, 1, NULL },
	{ G_HELP_LINE, EXPO_MAX_LINE + 1, 0, "line too long" },
	{ G_LABELS, 1, 1, NULL },
	{ G_LABELS, EXPO_MAX_LABELS, 1, NULL },
	{ G_LABELS, EXPO_MAX_LABELS + 1, 0, "too many labels" },
	/* Values up to 128 bytes; see test_long_values for longer ones. */
	{ G_LONG_VALUE, 128, 1, NULL },
};

/* Writes the generated line into a new buffer of exactly its length. */
static char *
gen_line(enum gen g, size_t n, size_t *len)
{
	size_t cap = n + 64 + (size_t)EXPO_MAX_LABELS * 16, k = 0;
	char *p = malloc(cap), *out;

	assert_non_null(p);
	switch (g) {
	case G_METRIC_NAME:
		memset(p, 'a', n);
		k = n;
		memcpy(p + k, " 1", 2);
		k += 2;
		break;
	case G_LABEL_NAME:
		memcpy(p, "m{", 2);
		k = 2;
		memset(p + k, 'a', n);
		k += n;
		memcpy(p + k, "=\"v\"} 1", 7);
		k += 7;
		break;
	case G_HELP_NAME:
	case G_TYPE_NAME:
		memcpy(p, g == G_HELP_NAME ? "# HELP " : "# TYPE ", 7);
		k = 7;
		memset(p + k, 'a', n);
		k += n;
		memcpy(p + k, g == G_HELP_NAME ? " x" : " gauge",
		    g == G_HELP_NAME ? 2 : 6);
		k += g == G_HELP_NAME ? 2 : 6;
		break;
	case G_SAMPLE_LINE:
		/* m{a="<fill>"} 1 is 9 bytes plus the fill. */
		memcpy(p, "m{a=\"", 5);
		memset(p + 5, 'x', n - 9);
		memcpy(p + 5 + (n - 9), "\"} 1", 4);
		k = n;
		break;
	case G_HELP_LINE:
		memcpy(p, "# HELP m ", 9);
		memset(p + 9, 'x', n - 9);
		k = n;
		break;
	case G_LABELS:
		p[k++] = 'm';
		p[k++] = '{';
		for (size_t i = 0; i < n; i++) {
			int w = snprintf(p + k, cap - k, "%sl%zu=\"v\"",
			    i ? "," : "", i);
			assert_true(w > 0 && (size_t)w < cap - k);
			k += (size_t)w;
		}
		memcpy(p + k, "} 1", 3);
		k += 3;
		break;
	case G_LONG_VALUE:
		memcpy(p, "m 1.", 4);
		memset(p + 4, '0', n - 2);
		k = n + 2;
		break;
	}
	assert_true(k <= cap);
	out = exact_copy(p, k);
	free(p);
	*len = k;
	return out;
}

static void
test_limits(void **state)
{
	expo_line *l = malloc(sizeof(*l));
	size_t failed = 0;

	(void)state;
	assert_non_null(l);
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		const struct limit *t = &limits[i];
		size_t len;
		char *line = gen_line(t->gen, t->n, &len);
		const char *why = NULL;
		int rc = expo_parse_line(line, len, l, &why);

		if (t->gen == G_SAMPLE_LINE || t->gen == G_HELP_LINE)
			assert_int_equal(len, t->n);
		if (t->ok && rc != 0) {
			print_error("limit %zu (gen %d, n %zu): refused: %s\n",
			    i, (int)t->gen, t->n, why);
			failed++;
		} else if (!t->ok && (rc == 0 || strstr(why, t->why) == NULL)) {
			print_error("limit %zu (gen %d, n %zu): %s, expected "
			    "'%s'\n", i, (int)t->gen, t->n, rc ? why :
			    "accepted", t->why);
			failed++;
		} else if (t->ok) {
			switch (t->gen) {
			case G_METRIC_NAME:
			case G_HELP_NAME:
			case G_TYPE_NAME:
				assert_int_equal(l->name.len, t->n);
				break;
			case G_LABEL_NAME:
				assert_int_equal(l->labels[0].name.len, t->n);
				break;
			case G_SAMPLE_LINE:
				assert_int_equal(l->labels[0].value.len,
				    t->n - 9);
				break;
			case G_HELP_LINE:
				assert_int_equal(l->help.len, t->n - 9);
				break;
			case G_LABELS:
				assert_int_equal(l->nlabels, t->n);
				assert_true(str_is(l->labels[t->n - 1].value,
				    "v"));
				break;
			case G_LONG_VALUE:
				assert_true(l->value == 1.0);
				break;
			}
		}
		free(line);
	}
	free(l);
	if (failed)
		fail_msg("%zu limit rows failed", failed);
}

/*
 * Long decimal values are decimal floats too: C's "%f" of a large double
 * is that long (printf("%f", 1e200) is 207 bytes, of DBL_MAX 316), and Go's
 * ParseFloat (the gateway's) takes them. The parser once refused values
 * over 128 bytes.
 */
static void
test_long_values(void **state)
{
	static const double vals[] = { 1e200, DBL_MAX, -DBL_MAX, 1e-150 };
	expo_line *l = malloc(sizeof(*l));
	size_t failed = 0;

	(void)state;
	assert_non_null(l);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		char text[1200], *line;
		const char *why = NULL;
		/* %f for the big ones; for 1e-150, enough fraction digits to
		 * hold it exactly enough to round back. */
		int n = vals[i] < 1 && vals[i] > -1 ?
		    snprintf(text, sizeof(text), "m %.170f", vals[i]) :
		    snprintf(text, sizeof(text), "m %f", vals[i]);

		assert_true(n > 130 && (size_t)n < sizeof(text));
		line = exact_copy(text, (size_t)n);
		if (expo_parse_line(line, (size_t)n, l, &why) != 0) {
			print_error("value of %d bytes (%.3g) refused: %s\n",
			    n - 2, vals[i], why);
			failed++;
		} else if (l->value != strtod(text + 2, NULL)) {
			print_error("value of %d bytes parsed as %.17g\n",
			    n - 2, l->value);
			failed++;
		}
		free(line);
	}
	free(l);
	if (failed)
		fail_msg("%zu long decimal values refused", failed);
}

/* ---- the grouping parser ------------------------------------------------ */

struct grow {
	const char *in;
	const char *out; /* canonical form, or NULL when refused */
	const char *why;
};

static const struct grow grows[] = {
	{ "", "", NULL },
	{ "   ", "", NULL },
	{ "a=\"1\"", "a=\"1\"", NULL },
	{ "a=\"1\",", "a=\"1\"", NULL },
	{ "b=\"2\",a=\"1\"", "a=\"1\",b=\"2\"", NULL },
	{ " b = \"2\" , a = \"1\" , ", "a=\"1\",b=\"2\"", NULL },
	{ "\tb=\"2\",\ta=\"1\"\t", "a=\"1\",b=\"2\"", NULL },
	{ "z=\"1\",y=\"2\",x=\"3\",w=\"4\"",
	    "w=\"4\",x=\"3\",y=\"2\",z=\"1\"", NULL },
	/* Byte order: upper case, then '_', then lower case. */
	{ "a=\"2\",_c=\"3\",B=\"1\"", "B=\"1\",_c=\"3\",a=\"2\"", NULL },
	{ "ab=\"1\",a=\"2\"", "a=\"2\",ab=\"1\"", NULL },
	{ "instance=\"0.0.0.0:5000\"", "instance=\"0.0.0.0:5000\"", NULL },
	{ "path=\"/a/b\",empty=\"\"", "empty=\"\",path=\"/a/b\"", NULL },
	{ "a=\"x\\\\y\\\"z\\nw\"", "a=\"x\\\\y\\\"z\\nw\"", NULL },
	{ "a=\"\xe6\x97\xa5\xe6\x9c\xac\"", "a=\"\xe6\x97\xa5\xe6\x9c\xac\"",
	    NULL },
	{ "a=\"{}=, \"", "a=\"{}=, \"", NULL },
	/* Only the label named exactly `job` is the job's. */
	{ "Job=\"x\",job_name=\"y\"", "Job=\"x\",job_name=\"y\"", NULL },
	{ "job=\"x\"", NULL, "must not contain a job label" },
	{ "a=\"1\", job=\"x\"", NULL, "must not contain a job label" },
	{ "a=\"1\",a=\"2\"", NULL, "duplicate label name" },
	{ "a=\"\\t\"", NULL, "invalid escape sequence" },
	{ "a=\"\\x41\"", NULL, "invalid escape sequence" },
	{ "a=\"\xff\"", NULL, "not valid UTF-8" },
	{ "a=\"\xed\xa0\x80\"", NULL, "not valid UTF-8" },
	{ "a=\"x", NULL, "unterminated label value" },
	{ "a=1", NULL, "expected '\"'" },
	{ "a", NULL, "expected '='" },
	{ "{a=\"1\"}", NULL, "invalid label name" },
	{ "a=\"1\",,", NULL, "invalid label name" },
	{ ",", NULL, "invalid label name" },
	{ "1a=\"x\"", NULL, "invalid label name" },
	{ "a=\"1\" b=\"2\"", NULL, "expected ','" },
	{ "__a=\"1\"", NULL, "reserved" },
	{ "a=\"x\ny\"", NULL, "newline" },
	{ "a=\"x\ry\"", NULL, "carriage return" },
};

static const char *
canon(const char *in, size_t len, char *out, size_t cap)
{
	char *buf = exact_copy(in, len);
	const char *why = spool_canon_grouping(buf, len, out, cap);

	free(buf);
	return why;
}

static void
test_grouping(void **state)
{
	char out[8192 + 1];
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(grows) / sizeof(grows[0]); i++) {
		const struct grow *g = &grows[i];
		const char *why = canon(g->in, strlen(g->in), out, sizeof(out));

		if (g->out != NULL && why != NULL) {
			print_error("grouping %zu [%s]: refused: %s\n", i, g->in,
			    why);
			failed++;
		} else if (g->out != NULL && strcmp(out, g->out) != 0) {
			print_error("grouping %zu [%s]: gave [%s], expected "
			    "[%s]\n", i, g->in, out, g->out);
			failed++;
		} else if (g->out != NULL) {
			/* The canonical form is canonical: it maps to itself. */
			char again[8192 + 1];
			assert_null(canon(out, strlen(out), again,
			    sizeof(again)));
			assert_string_equal(again, out);
		} else if (why == NULL || strstr(why, g->why) == NULL) {
			print_error("grouping %zu [%s]: %s, expected '%s'\n", i,
			    g->in, why ? why : "accepted", g->why);
			failed++;
		}
	}
	if (failed)
		fail_msg("%zu grouping rows failed", failed);
}

/* n labels "l0=\"v\",..." written in reverse order, in a new string. */
static char *
many_labels(size_t n)
{
	size_t cap = n * 16 + 1, k = 0;
	char *p = malloc(cap);

	assert_non_null(p);
	p[0] = '\0';
	for (size_t i = n; i-- > 0;) {
		int w = snprintf(p + k, cap - k, "%sl%03zu=\"v\"", k ? "," : "",
		    i);
		assert_true(w > 0 && (size_t)w < cap - k);
		k += (size_t)w;
	}
	return p;
}

static void
test_grouping_limits(void **state)
{
	char out[8192 + 1], *g, *big;
	const char *why;

	(void)state;
	/* 64 labels sort into order; 65 are too many. */
	g = many_labels(EXPO_MAX_LABELS);
	assert_null(canon(g, strlen(g), out, sizeof(out)));
	assert_true(strncmp(out, "l000=\"v\",l001=\"v\",", 18) == 0);
	assert_non_null(strstr(out, ",l063=\"v\""));
	free(g);
	g = many_labels(EXPO_MAX_LABELS + 1);
	why = canon(g, strlen(g), out, sizeof(out));
	assert_non_null(why);
	assert_non_null(strstr(why, "too many labels"));
	free(g);

	/* 8192 bytes in: fine; 8193: too long. a="xxx...x" is 4 + fill. */
	big = malloc(8193 + 1);
	assert_non_null(big);
	memcpy(big, "a=\"", 3);
	memset(big + 3, 'x', 8192 - 4);
	big[8192 - 1] = '"';
	assert_null(canon(big, 8192, out, sizeof(out)));
	assert_int_equal(strlen(out), 8192);
	memcpy(big, "a=\"", 3);
	memset(big + 3, 'x', 8193 - 4);
	big[8193 - 1] = '"';
	why = canon(big, 8193, out, sizeof(out));
	assert_non_null(why);
	assert_non_null(strstr(why, "grouping too long"));

	/* An output buffer too small is refused, not overrun. */
	why = canon("a=\"1\",b=\"2\"", 11, out, 11);
	assert_non_null(why);
	assert_non_null(strstr(why, "too long"));
	assert_null(canon("a=\"1\",b=\"2\"", 11, out, 12));
	assert_string_equal(out, "a=\"1\",b=\"2\"");
	free(big);
}

struct vrow {
	const char *job;
	const char *grouping;
	const char *why; /* NULL: valid; else a substring of errbuf */
};

static void
test_validate_group(void **state)
{
	static const struct vrow v[] = {
		{ NULL, NULL, NULL },
		{ "j", "", NULL },
		{ "backup", "host=\"db1\"", NULL },
		{ "a/b", "path=\"/x\"", NULL },
		{ "\xe6\x97\xa5\xe6\x9c\xac", NULL, NULL },
		{ "job with blanks", NULL, NULL },
		{ "", NULL, "job: job must not be empty" },
		{ "a\nb", NULL, "job: job must not contain control" },
		{ "a\tb", NULL, "job: job must not contain control" },
		{ "a\x7f", NULL, "job: job must not contain control" },
		{ "\xff", NULL, "job: job is not valid UTF-8" },
		{ "\xc0\xaf", NULL, "job: job is not valid UTF-8" },
		{ "j", "job=\"x\"", "grouping: grouping must not contain a "
		    "job label" },
		{ "j", "a=1", "grouping: expected '\"'" },
		{ NULL, "a=\"\\t\"", "grouping: invalid escape" },
		{ "", "job=\"x\"", "job: " },
	};
	char err[256], *job;
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		spool_err e;

		err[0] = '\0';
		e = spool_validate_group(v[i].job, v[i].grouping, err,
		    sizeof(err));
		if (v[i].why == NULL && e != SPOOL_OK) {
			print_error("validate %zu: %s\n", i, err);
			failed++;
		} else if (v[i].why != NULL && (e != SPOOL_EPARSE ||
		    strstr(err, v[i].why) != err)) {
			print_error("validate %zu: %d [%s], expected [%s...]\n",
			    i, (int)e, err, v[i].why);
			failed++;
		}
		/* errbuf is optional. */
		assert_int_equal(spool_validate_group(v[i].job,
		    v[i].grouping, NULL, 0), e);
	}
	if (failed)
		fail_msg("%zu validate rows failed", failed);

	/* Job length: 1024 bytes, then one over. */
	job = malloc(SPOOL_MAX_JOB + 2);
	assert_non_null(job);
	memset(job, 'j', SPOOL_MAX_JOB + 1);
	job[SPOOL_MAX_JOB] = '\0';
	assert_int_equal(spool_validate_group(job, NULL, err, sizeof(err)),
	    SPOOL_OK);
	job[SPOOL_MAX_JOB] = 'j';
	job[SPOOL_MAX_JOB + 1] = '\0';
	assert_int_equal(spool_validate_group(job, NULL, err, sizeof(err)),
	    SPOOL_EPARSE);
	assert_non_null(strstr(err, "job too long"));
	free(job);
}

/* ---- expo_format_value --------------------------------------------------- */

/* Formats v, checks the text's shape, parses it back; returns the text. */
static void
round_trip(double v, char *buf)
{
	double back = -12345;
	size_t n;
	expo_line *l;
	char line[EXPO_VALUE_BUF + 2];
	const char *why;

	memset(buf, 'Z', EXPO_VALUE_BUF);
	n = expo_format_value(v, buf);
	assert_true(n > 0 && n < EXPO_VALUE_BUF);
	assert_int_equal(strlen(buf), n);
	if (expo_parse_value(buf, n, &back) != 0)
		fail_msg("%.17g formatted as '%s', which does not parse", v, buf);
	if (!same_double(v, back))
		fail_msg("%.17g formatted as '%s', parsed back as %.17g", v, buf,
		    back);
	/* And as the value of a sample line, as a renderer would write it. */
	line[0] = 'm';
	line[1] = ' ';
	memcpy(line + 2, buf, n);
	l = malloc(sizeof(*l));
	assert_non_null(l);
	assert_int_equal(expo_parse_line(line, n + 2, l, &why), 0);
	assert_true(same_double(l->value, v));
	free(l);
}

static void
test_format_round_trip(void **state)
{
	static const double vals[] = { 0, -0.0, 0.1, 1e-7, 3, -3, 0.5, -2.5,
	    1e300, -1e300, 5e-324, -5e-324, DBL_MAX, -DBL_MAX, DBL_MIN,
	    DBL_EPSILON, 2.2250738585072009e-308, 1.0 / 3, 2.0 / 3,
	    3.141592653589793, 0.30000000000000004, 123456789012345678.0,
	    1e15, 999999999999999, 999999999999999.9, 9007199254740992.0,
	    9007199254740994.0, 1e21, 1e22, 1e23, 4.35, 100, 9.5e-7,
	    1.7976931348623155e308, 0.1 + 0.7, 1e-300, 4503599627370495.5,
	    -9.223372036854775807e18, 9.223372036854775807e18, NAN,
	    INFINITY, -INFINITY };
	char buf[EXPO_VALUE_BUF];
	uint64_t x = 0x9e3779b97f4a7c15u;

	(void)state;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		round_trip(vals[i], buf);
	/* Random bit patterns: every finite double and both infinities. A
	 * fixed seed keeps failures reproducible. */
	for (int i = 0; i < 20000; i++) {
		double v;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(&v, &x, sizeof(v));
		round_trip(v, buf);
	}
	/* Values near the integer fast path's edges. */
	for (double v = 1e15 - 3; v <= 1e15 + 3; v += 0.5)
		round_trip(v, buf);
	for (int i = -20; i <= 20; i++)
		round_trip(ldexp(1.0, 63) + i * 2048.0, buf);
}

static void
test_format_texts(void **state)
{
	static const struct {
		double v;
		const char *text;
	} t[] = {
		{ 3, "3" },
		{ -3, "-3" },
		{ 0, "0" },
		{ -0.0, "-0" },
		{ 0.1, "0.1" },
		{ -2.5, "-2.5" },
		{ 1e-7, "1e-07" },
		{ 1e300, "1e+300" },
		{ 1e15, "1e+15" },
		{ 999999999999999, "999999999999999" },
		{ 1.0 / 3, "0.3333333333333333" },
		{ 0.30000000000000004, "0.30000000000000004" },
		{ DBL_MAX, "1.7976931348623157e+308" },
		{ NAN, "NaN" },
		{ INFINITY, "+Inf" },
		{ -INFINITY, "-Inf" },
	};
	char buf[EXPO_VALUE_BUF];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t n = expo_format_value(t[i].v, buf);
		if (strcmp(buf, t[i].text) != 0)
			fail_msg("%.17g formatted as '%s', expected '%s'", t[i].v,
			    buf, t[i].text);
		assert_int_equal(n, strlen(t[i].text));
	}
	/* -NaN is NaN too. */
	expo_format_value(-(double)NAN, buf);
	assert_string_equal(buf, "NaN");
}

/* ---- small helpers the parser exposes ------------------------------------ */

static void
test_type_names(void **state)
{
	static const expo_type all[] = { EXPO_UNTYPED, EXPO_COUNTER,
	    EXPO_GAUGE, EXPO_HISTOGRAM, EXPO_SUMMARY };

	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *n = expo_type_name(all[i]);
		assert_int_equal(expo_type_parse(n, strlen(n)), (int)all[i]);
	}
	assert_int_equal(expo_type_parse("", 0), -1);
	assert_int_equal(expo_type_parse("count", 5), -1);
	assert_int_equal(expo_type_parse("counterx", 8), -1);
}

static void
test_next_line(void **state)
{
	static const char body[] = "a 1\n\n# HELP a x\nb 2";
	const char *line, *want[] = { "a 1", "", "# HELP a x", "b 2" };
	size_t pos = 0, llen, n = 0;

	(void)state;
	while (expo_next_line(body, sizeof(body) - 1, &pos, &line, &llen)) {
		assert_true(n < 4);
		assert_int_equal(llen, strlen(want[n]));
		assert_memory_equal(line, want[n], llen);
		n++;
	}
	assert_int_equal(n, 4);
	/* A final newline ends the last line; it does not start another. */
	pos = 0;
	n = 0;
	while (expo_next_line("a 1\n", 4, &pos, &line, &llen))
		n++;
	assert_int_equal(n, 1);
}

/* A pair written for a value the agent got from outside (job, instance,
 * library versions): escaped, and it parses back to the same text. */
static void
test_write_pair(void **state)
{
	const char *v = "a\"b\\c\nd/\xc3\xa7";
	char out[64];
	expo_label l[2];
	const char *why;
	size_t n, len;

	(void)state;
	assert_int_equal(expo_pair_len("job", v), 3 + 3 + 2 * strlen(v));
	len = expo_write_pair(out, "job", v);
	assert_string_equal(out, "job=\"a\\\"b\\\\c\\nd/\xc3\xa7\"");
	assert_int_equal(len, strlen(out));
	assert_int_equal(expo_parse_labels(out, len, l, 2, &n, &why), 0);
	assert_int_equal(n, 1);
	assert_int_equal(expo_write_pair(out, "e", ""), 4);
	assert_string_equal(out, "e=\"\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_long_values),
		cmocka_unit_test(test_grouping),
		cmocka_unit_test(test_grouping_limits),
		cmocka_unit_test(test_validate_group),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_format_texts),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_next_line),
		cmocka_unit_test(test_write_pair),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
