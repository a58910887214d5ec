/*
 * expo — the Prometheus text exposition format (version 0.0.4), one line at a
 * time.
 *
 * The parser never allocates and never copies: every string it returns points
 * into the caller's line and stays valid while that line does. Label values and
 * HELP text are returned in their *escaped* form, which is canonical (a value
 * has exactly one escaped spelling, because `\`, `"` and newline must be
 * escaped and nothing else may be), so they can be stored and rendered again
 * without unescaping.
 *
 * Refused, each with its own reason: bad metric or label names, label names
 * starting with `__`, duplicate label names, bad escapes, invalid UTF-8 in
 * label values or HELP text, unparsable values, timestamps (the Pushgateway
 * rejects them), carriage returns, trailing garbage, lines over the limits
 * below. A bare "# HELP" or "# TYPE" is a comment, as the Pushgateway reads
 * it. What depends on a sample's family (le, quantile, counts) is checked
 * by expo_check_member() once the caller knows the family.
 *
 * Shared by the library and the agent; not installed; not exported from the
 * installed libraries.
 */
#ifndef EXPO_H
#define EXPO_H

#include <stddef.h>

/* Limits, in bytes unless stated. Documented in docs/spool.md. */
#define EXPO_MAX_LINE      65536   /* one line, without its newline */
#define EXPO_MAX_NAME      1024    /* a metric or label name */
#define EXPO_MAX_LABELS    64      /* label pairs on one sample */
#define EXPO_MAX_BODY      (16u * 1024u * 1024u) /* one row's body */

typedef enum expo_kind {
	EXPO_BLANK = 0, /* empty or only blanks */
	EXPO_COMMENT,   /* "# ..." that is not HELP or TYPE */
	EXPO_HELP,
	EXPO_TYPE,
	EXPO_SAMPLE
} expo_kind;

typedef enum expo_type {
	EXPO_UNTYPED = 0,
	EXPO_COUNTER,
	EXPO_GAUGE,
	EXPO_HISTOGRAM,
	EXPO_SUMMARY
} expo_type;

/* A string that points into the parsed line; not NUL-terminated. */
typedef struct expo_str {
	const char *p;
	size_t len;
} expo_str;

typedef struct expo_label {
	expo_str name;
	expo_str value; /* escaped form, without the quotes */
} expo_label;

typedef struct expo_line {
	expo_kind kind;
	expo_str name;        /* HELP, TYPE, SAMPLE: the metric name */
	expo_str help;        /* HELP: escaped text, may be empty */
	expo_type type;       /* TYPE */
	size_t nlabels;       /* SAMPLE */
	expo_label labels[EXPO_MAX_LABELS];
	double value;         /* SAMPLE */
} expo_line;

/*
 * Parses one line (without its trailing newline) into *out.
 * Returns 0, or -1 with a static, human-readable reason in *why
 * ("timestamps are not allowed (the Pushgateway rejects them)", ...).
 * *out borrows from line until the line is freed or changed.
 */
int expo_parse_line(const char *line, size_t len, expo_line *out,
    const char **why) __attribute__((warn_unused_result));

/*
 * Parses a comma-separated list of label pairs, `k="v",k2="v2"`, as used in
 * a sample's braces (without the braces) and in the spool's `grouping`
 * column. Blanks around tokens and one trailing comma are allowed; an empty
 * string gives zero labels. Same name and value rules as sample labels.
 * Returns 0 or -1 with a static reason in *why.
 */
int expo_parse_labels(const char *s, size_t len, expo_label *labels,
    size_t max, size_t *nlabels, const char **why)
    __attribute__((warn_unused_result));

/* Parses a sample value: decimal floats with optional exponent, NaN, +Inf,
 * -Inf, Inf (case-insensitive). Returns 0 or -1. */
int expo_parse_value(const char *s, size_t len, double *out)
    __attribute__((warn_unused_result));

/*
 * Checks a sample of a histogram or summary family whose name is the first
 * famlen bytes of l->name (so the rest is "", "_bucket", "_sum" or
 * "_count"), as the Pushgateway would take it: le (histogram) or quantile
 * (summary) must be a number and not NaN; a histogram's _bucket needs le;
 * a summary's bare-name sample needs quantile; _bucket and _count values
 * must be in [0, 2^64). Returns NULL when the sample is fine, or a static
 * reason. Other types always pass.
 */
const char *expo_check_member(const expo_line *l, expo_type type,
    size_t famlen);

/* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*. Label names: [a-zA-Z_][a-zA-Z0-9_]*. */
int expo_valid_metric_name(const char *s, size_t len);
int expo_valid_label_name(const char *s, size_t len);

/* Checks that s is well-formed UTF-8 (no overlongs, no surrogates). */
int expo_valid_utf8(const char *s, size_t len);

/*
 * Writes v into buf (at least EXPO_VALUE_BUF bytes) as the shortest text that
 * parses back to the same double: "3", "0.1", "1e-07", "NaN", "+Inf",
 * "-Inf". Returns the length written, without the NUL.
 */
#define EXPO_VALUE_BUF 32
size_t expo_format_value(double v, char *buf);

/* "counter", "gauge", ...; never NULL. */
const char *expo_type_name(expo_type t);

/* The type named by s ("counter", ...), or -1 if s names none. */
int expo_type_parse(const char *s, size_t len);

/* Sorts labels by name (insertion sort: label sets are small). */
void expo_sort_labels(expo_label *labels, size_t n);

/*
 * Steps through a body line by line: sets *line and *llen to the next line
 * (without its newline) starting at *pos, advances *pos past it. Returns 0 at
 * the end of the body. A final line without a newline counts.
 */
int expo_next_line(const char *body, size_t len, size_t *pos,
    const char **line, size_t *llen);

/*
 * Writes labels as `k="v",k2="v2"` (values as given, already escaped) into
 * out, which must hold expo_labels_len(labels, n) bytes; no NUL is added.
 * Returns the length written. Sort first for the canonical form.
 */
size_t expo_join_labels(char *out, const expo_label *labels, size_t n);

/*
 * Writes `name="value"` with the value escaped (`\\`, `\"`, `\n`) into
 * out, which must hold expo_pair_len(name, value) bytes plus a NUL.
 * Returns the length written, without the NUL.
 */
size_t expo_write_pair(char *out, const char *name, const char *value);
size_t expo_pair_len(const char *name, const char *value);
size_t expo_labels_len(const expo_label *labels, size_t n);

/* Equality of an expo_str with a C string. */
int expo_str_eq(expo_str s, const char *c);

#endif
