/*
 * The peer cases: inputs from the test suites of the three other parsers of
 * the text format, and what this spool, and the Pushgateway, make of each.
 *
 *   common   prometheus/common expfmt/text_parse_test.go: the parser inside
 *            the Pushgateway (1.5.1 builds it from common 0.37)
 *   prom     prometheus/prometheus model/textparse/promparse_test.go, and
 *            the rules of its lexer, promlex.l: Prometheus' scrape parser
 *   python   client_python tests/test_parser.py
 *   own      cases of our own about a rule that differs from the gateway
 *
 * Inputs are written out again, not copied: a final newline is added where
 * the source leaves it out (the agent always sends one; one case keeps it
 * out to show the difference), long published inputs are also cut into
 * one case per point they make ("cut"), and a timestamp is left out where
 * the point is something else ("no timestamp").
 *
 * here:  NULL when put and the fold accept the body (op set, a fresh
 *        group); else the exact reason both give.
 * gw:    what Pushgateway 1.5.1 answers to a PUT of the body (checked by
 *        tests/integration/test_expo_peers_gateway.sh): it takes it, it
 *        refuses it (400), or it takes it but stores something else than
 *        was written; then series/labels/shows say what it shows for one
 *        series, as tests/integration/gwquery.py prints it.
 * note:  why our verdict differs from the gateway's; required exactly when
 *        it does (test_expo_peers.c checks).
 */
#ifndef EXPO_PEERS_H
#define EXPO_PEERS_H

#include <stddef.h>

enum peer_gw { GW_TAKES, GW_REFUSES, GW_ALTERS };

struct peer {
	const char *src;
	const char *body;
	size_t len;
	const char *here;
	enum peer_gw gw;
	const char *note;
	const char *series, *labels, *shows;
};

/* A body with its length: some hold NUL bytes. */
#define PB(s) s, sizeof(s) - 1
#define OK(src, body, gw, note) { src, PB(body), NULL, gw, note, 0, 0, 0 }
#define NO(src, body, why, gw, note) { src, PB(body), why, gw, note, 0, 0, 0 }
#define AT(n, r) "line " #n ": " r

/* The reasons, in full. */
#define R_TS     "timestamps are not allowed (the Pushgateway rejects them)"
#define R_AFTER  "unexpected text after the value"
#define R_VAL    "invalid value (expected a float such as 1, -2.5, 1e3, " \
                 "NaN, +Inf or -Inf)"
#define R_ESC    "invalid escape sequence in label value (only \\\\, \\\" " \
                 "and \\n are allowed)"
#define R_HESC   "invalid escape sequence in HELP text (only \\\\ and \\n " \
                 "are allowed)"
#define R_UTF8   "label value is not valid UTF-8"
#define R_UNTERM "unterminated label value (missing closing quote)"
#define R_LNAME  "invalid label name (must match [a-zA-Z_][a-zA-Z0-9_]*)"
#define R_MNAME  "invalid metric name (must match [a-zA-Z_:][a-zA-Z0-9_:]*)"
#define R_EQ     "expected '=' after label name"
#define R_QUOTE  "expected '\"' to open label value"
#define R_COMMA  "expected ',' or '}' after label value"
#define R_RES    "label names starting with __ are reserved"
#define R_DUP    "duplicate label name"
#define R_HELP2  "second HELP line for this metric"
#define R_TYPE2  "second TYPE line for this metric"
#define R_TYPES  "(counter, gauge, histogram, summary or untyped)"
#define R_UNKT   "unknown type in TYPE line " R_TYPES
#define R_NOTYPE "TYPE line without a type " R_TYPES
#define R_TNAME  "invalid metric name in TYPE line"
#define R_HNAME  "invalid metric name in HELP line"
#define R_NUL    "NUL byte in line"
#define R_CR     "carriage return in line (use LF line ends, not CRLF)"
#define R_NOVAL  "missing value"
#define R_EMPTY  "no metric lines (the body is empty or only comments)"
#define R_LE     "le must be a number such as 0.25, 1e3 or +Inf (not NaN, " \
                 "hex or text)"
#define R_Q      "quantile must be a number such as 0.5 or 0.99 (not NaN, " \
                 "hex or text)"
#define R_COUNT  "bucket and count values must be 0 or more, finite and " \
                 "below 2^64 (the Pushgateway stores them as unsigned " \
                 "integers)"

/* Notes, for the rules where we part from the gateway on purpose. */
#define N_EMPTY  "stricter: a row with no sample, HELP or TYPE is surely a " \
                 "mistake; the gateway would keep an empty group"
#define N_NUL    "stricter: no line in the spool holds a NUL byte; the " \
                 "gateway takes one in a label value or HELP text"
#define N_HELP2  "stricter: a second HELP line for a family in one row is " \
                 "refused even when the first has no text, which the " \
                 "gateway ignores"
#define N_NOTYPE "stricter: a TYPE line that names no type is surely a " \
                 "mistake (Prometheus and client_python refuse it too); " \
                 "the gateway ignores it"
#define N_NONL   "laxer: the last newline may be left out; the agent " \
                 "sends every line with its newline"
#define N_LATE   "laxer: a TYPE line holds for the whole row wherever it " \
                 "stands; the agent sends it before the samples"
#define N_TRAIL  "laxer: blanks at the end of a line are dropped; the " \
                 "agent sends the line without them"
#define N_FRAC   "1.5.1 truncates fractional counts, newer gateways keep " \
                 "them: taken"
#define N_WRAP   "stricter: the gateway stores counts as uint64, so a " \
                 "negative count comes back wrapped"

/* The histogram of common's scenario 4 and errors 43 to 46, with the
 * count and one bucket given. */
#define HIST(b120, count) \
	"\n# HELP request_duration_microseconds The response latency.\n" \
	"# TYPE request_duration_microseconds histogram\n" \
	"request_duration_microseconds_bucket{le=\"100\"} 123\n" \
	"request_duration_microseconds_bucket{le=\"120\"} " b120 "\n" \
	"request_duration_microseconds_bucket{le=\"144\"} 592\n" \
	"request_duration_microseconds_bucket{le=\"172.8\"} 1524\n" \
	"request_duration_microseconds_bucket{le=\"+Inf\"} 2693\n" \
	"request_duration_microseconds_sum 1.7560473e+06\n" \
	"request_duration_microseconds_count " count "\n"

/* client_python's test_label_escaping and test_help_escaping bodies. */
#define PY_LABEL(v) \
	"\n# TYPE a counter\n# HELP a help\na{foo=\"" v "\",bar=\"baz\"} 1\n"
#define PY_HELP(v) "\n# TYPE a counter\n# HELP a " v "\na{foo=\"bar\"} 1\n"

/* client_python's test_roundtrip, less its last family (quoted names). */
#define PY_ROUNDTRIP \
	"# HELP go_gc_duration_seconds A summary of the GC invocation " \
	"durations.\n" \
	"# TYPE go_gc_duration_seconds summary\n" \
	"go_gc_duration_seconds{quantile=\"0\"} 0.013300656000000001\n" \
	"go_gc_duration_seconds{quantile=\"0.25\"} 0.013638736\n" \
	"go_gc_duration_seconds{quantile=\"0.5\"} 0.013759906\n" \
	"go_gc_duration_seconds{quantile=\"0.75\"} 0.013962066\n" \
	"go_gc_duration_seconds{quantile=\"1\"} 0.021383540000000003\n" \
	"go_gc_duration_seconds_sum 56.12904785\n" \
	"go_gc_duration_seconds_count 7476.0\n" \
	"# HELP go_goroutines Number of goroutines that currently exist.\n" \
	"# TYPE go_goroutines gauge\n" \
	"go_goroutines 166.0\n" \
	"# HELP prometheus_local_storage_indexing_batch_duration_milliseconds " \
	"Quantiles for batch indexing duration in milliseconds.\n" \
	"# TYPE prometheus_local_storage_indexing_batch_duration_milliseconds " \
	"summary\n" \
	"prometheus_local_storage_indexing_batch_duration_milliseconds" \
	"{quantile=\"0.5\"} NaN\n" \
	"prometheus_local_storage_indexing_batch_duration_milliseconds" \
	"{quantile=\"0.9\"} NaN\n" \
	"prometheus_local_storage_indexing_batch_duration_milliseconds" \
	"{quantile=\"0.99\"} NaN\n" \
	"prometheus_local_storage_indexing_batch_duration_milliseconds_sum " \
	"871.5665949999999\n" \
	"prometheus_local_storage_indexing_batch_duration_milliseconds_count " \
	"229.0\n" \
	"# HELP process_cpu_seconds_total Total user and system CPU time " \
	"spent in seconds.\n" \
	"# TYPE process_cpu_seconds_total counter\n" \
	"process_cpu_seconds_total 29323.4\n" \
	"# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n" \
	"# TYPE process_virtual_memory_bytes gauge\n" \
	"process_virtual_memory_bytes 2.478268416e+09\n" \
	"# HELP prometheus_build_info A metric with a constant '1' value " \
	"labeled by version, revision, and branch from which Prometheus was " \
	"built.\n" \
	"# TYPE prometheus_build_info gauge\n" \
	"prometheus_build_info{branch=\"HEAD\",revision=\"ef176e5\"," \
	"version=\"0.16.0rc1\"} 1.0\n" \
	"# HELP prometheus_local_storage_chunk_ops_total The total number of " \
	"chunk operations by their type.\n" \
	"# TYPE prometheus_local_storage_chunk_ops_total counter\n" \
	"prometheus_local_storage_chunk_ops_total{type=\"clone\"} 28.0\n" \
	"prometheus_local_storage_chunk_ops_total{type=\"create\"} 997844.0\n" \
	"prometheus_local_storage_chunk_ops_total{type=\"drop\"} 1.345758e+06\n" \
	"prometheus_local_storage_chunk_ops_total{type=\"load\"} 1641.0\n" \
	"prometheus_local_storage_chunk_ops_total{type=\"persist\"} 981408.0\n" \
	"prometheus_local_storage_chunk_ops_total{type=\"pin\"} 32662.0\n" \
	"prometheus_local_storage_chunk_ops_total{type=\"transcode\"} " \
	"980180.0\n" \
	"prometheus_local_storage_chunk_ops_total{type=\"unpin\"} 32662.0\n"

/* promparse_test.go's TestPromParse input, with its two NUL additions. */
#define PROM_PARSE \
	"# HELP go_gc_duration_seconds A summary of the GC invocation " \
	"durations.\n" \
	"# \tTYPE go_gc_duration_seconds summary\n" \
	"go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05\n" \
	"go_gc_duration_seconds{quantile=\"0.25\",} 7.424100000000001e-05\n" \
	"go_gc_duration_seconds{quantile=\"0.5\",a=\"b\"} 8.3835e-05\n" \
	"go_gc_duration_seconds{quantile=\"0.8\", a=\"b\"} 8.3835e-05\n" \
	"go_gc_duration_seconds{ quantile=\"0.9\", a=\"b\"} 8.3835e-05\n" \
	"# HELP prometheus_http_request_duration_seconds Histogram of " \
	"latencies for HTTP requests.\n" \
	"# TYPE prometheus_http_request_duration_seconds histogram\n" \
	"prometheus_http_request_duration_seconds_bucket{handler=\"/\"," \
	"le=\"1\"} 423\n" \
	"prometheus_http_request_duration_seconds_bucket{handler=\"/\"," \
	"le=\"2\"} 1423\n" \
	"prometheus_http_request_duration_seconds_bucket{handler=\"/\"," \
	"le=\"+Inf\"} 1423\n" \
	"prometheus_http_request_duration_seconds_sum{handler=\"/\"} 2000\n" \
	"prometheus_http_request_duration_seconds_count{handler=\"/\"} 1423\n" \
	"# Hrandom comment starting with prefix of HELP\n" \
	"#\n" \
	"wind_speed{A=\"2\",c=\"3\"} 12345\n" \
	"# comment with escaped \\n newline\n" \
	"# comment with escaped \\ escape character\n" \
	"# HELP nohelp1\n" \
	"# HELP nohelp2 \n" \
	"go_gc_duration_seconds{ quantile=\"1.0\", a=\"b\" } 8.3835e-05\n" \
	"go_gc_duration_seconds { quantile=\"1.0\", a=\"b\" } 8.3835e-05\n" \
	"go_gc_duration_seconds { quantile= \"1.0\", a= \"b\", } 8.3835e-05\n" \
	"go_gc_duration_seconds { quantile = \"1.0\", a = \"b\" } 8.3835e-05\n" \
	"go_gc_duration_seconds { quantile = \"2.0\" a = \"b\" } 8.3835e-05\n" \
	"go_gc_duration_seconds_count 99\n" \
	"some:aggregate:rate5m{a_b=\"c\"}\t1\n" \
	"# HELP go_goroutines Number of goroutines that currently exist.\n" \
	"# TYPE go_goroutines gauge\n" \
	"go_goroutines 33  \t123123\n" \
	"# TYPE some_counter_total counter\n" \
	"# HELP some_counter_total Help after type.\n" \
	"some_counter_total 12\n" \
	"# HELP nohelp3\n" \
	"_metric_starting_with_underscore 1\n" \
	"testmetric{_label_starting_with_underscore=\"foo\"} 1\n" \
	"testmetric{label=\"\\\"bar\\\"\"} 1\n" \
	"testmetric{le=\"10\"} 1\n" \
	"# HELP type_and_unit_test1 Type specified in metadata overrides.\n" \
	"# TYPE type_and_unit_test1 gauge\n" \
	"type_and_unit_test1{__type__=\"counter\"} 123\n" \
	"# HELP type_and_unit_test2 Type specified in label.\n" \
	"type_and_unit_test2{__type__=\"counter\"} 123\n" \
	"# HELP metric foo\0bar\n" \
	"null_byte_metric{a=\"abc\0\"} 1\n"

#define GC_SUMMARY "# TYPE go_gc_duration_seconds summary\n"

static const struct peer peers[] = {
	/* ---- common: TestTextParse, inputs the gateway's parser takes -- */
	NO("common scenario 0: empty lines", "\n\n", R_EMPTY, GW_TAKES,
	    N_EMPTY),
	OK("common scenario 1, cut: minimal", "\nminimal_metric 1.234\n",
	    GW_TAKES, NULL),
	NO("common scenario 1, cut: a timestamp",
	    "another_metric -3e3 103948\n", AT(1, R_TS), GW_REFUSES, NULL),
	OK("common scenario 1, cut: empty braces", "no_labels{} 3\n", GW_TAKES,
	    NULL),
	OK("common scenario 1, cut: HELP of a metric without samples",
	    "# Even that:\n# HELP line for non-existing metric will be "
	    "ignored.\n", GW_TAKES, NULL),
	NO("common scenario 1", "\nminimal_metric 1.234\nanother_metric -3e3 "
	    "103948\n# Even that:\nno_labels{} 3\n# HELP line for non-existing "
	    "metric will be ignored.\n", AT(3, R_TS), GW_REFUSES, NULL),
	OK("common scenario 2, cut: comments, a NaN counter",
	    "\n# A normal comment.\n#\n# TYPE name counter\n"
	    "name{labelname=\"val1\",basename=\"basevalue\"} NaN\n", GW_TAKES,
	    NULL),
	OK("common scenario 2, cut, no timestamp: blank before the brace, "
	    "escapes", "# TYPE name counter\nname {labelname=\"val2\","
	    "basename=\"base\\\"v\\\\al\\nue\"} 0.23\n", GW_TAKES, NULL),
	OK("common scenario 2, cut: HELP escapes",
	    "# HELP name two-line\\n doc  str\\\\ing\n", GW_TAKES, NULL),
	OK("common scenario 2, cut: blanks around HELP and TYPE",
	    " # HELP  name2  \tdoc str\"ing 2\n  #    TYPE    name2 gauge\n",
	    GW_TAKES, NULL),
	OK("common scenario 2, cut, no timestamp: blanks in labels",
	    "# TYPE name2 gauge\nname2{labelname=\"val2\"\t,basename   =   "
	    "\"basevalue2\"\t\t} +Inf\n", GW_TAKES, NULL),
	OK("common scenario 2, cut: the value right after the brace",
	    "# TYPE name2 gauge\nname2{ labelname = \"val1\" , }-Inf\n",
	    GW_TAKES, NULL),
	NO("common scenario 2", "\n# A normal comment.\n#\n# TYPE name counter\n"
	    "name{labelname=\"val1\",basename=\"basevalue\"} NaN\n"
	    "name {labelname=\"val2\",basename=\"base\\\"v\\\\al\\nue\"} 0.23 "
	    "1234567890\n# HELP name two-line\\n doc  str\\\\ing\n\n"
	    " # HELP  name2  \tdoc str\"ing 2\n  #    TYPE    name2 gauge\n"
	    "name2{labelname=\"val2\"\t,basename   =   \"basevalue2\"\t\t} +Inf "
	    "54321\nname2{ labelname = \"val1\" , }-Inf\n", AT(6, R_TS),
	    GW_REFUSES, NULL),
	OK("common scenario 3, cut: a summary and a decoy _sum",
	    "# TYPE my_summary summary\n"
	    "my_summary{n1=\"val1\",quantile=\"0.5\"} 110\n"
	    "my_summary{n1=\"val1\",quantile=\"0.9\"} 140\n"
	    "my_summary_count{n1=\"val1\"} 42\n"
	    "my_summary_sum{n1=\"val1\"} 4711\nfake_sum{n1=\"val1\"} 2001\n",
	    GW_TAKES, NULL),
	NO("common scenario 3, cut: a negative timestamp", "decoy -1 -2\n",
	    AT(1, R_TS), GW_REFUSES, NULL),
	OK("common scenario 3, cut: quantile .3",
	    "# TYPE another_summary summary\n"
	    "another_summary_count{n2=\"val2\",n1=\"val1\"} 20\n"
	    "another_summary{n1=\"val1\",n2=\"val2\",quantile=\".3\"} -1.2\n",
	    GW_TAKES, NULL),
	OK("common scenario 3, cut, no timestamp: a leading zero",
	    "# TYPE my_summary summary\nmy_summary_sum{n1=\"val2\"} 08\n"
	    "my_summary{n1=\"val3\", quantile=\"0.2\"} 4711\n", GW_TAKES, NULL),
	OK("common scenario 3, cut: quantile -12.34, NaN, trailing comma",
	    "# TYPE my_summary summary\n  my_summary{n1=\"val1\",n2=\"val2\","
	    "quantile=\"-12.34\",} NaN\n", GW_TAKES, NULL),
	OK("common scenario 3, cut: bare HELP lines are comments",
	    "# TYPE my_summary summary\nmy_summary_count 1\n# some\n"
	    "# funny comments\n# HELP \n# HELP\n", GW_TAKES, NULL),
	NO("common scenario 3, cut: HELP without text, twice",
	    "# TYPE my_summary summary\nmy_summary_count 1\n"
	    "# HELP my_summary\n# HELP my_summary \n", AT(4, R_HELP2),
	    GW_TAKES, N_HELP2),
	NO("common scenario 3, its first lines", "\n# TYPE my_summary summary\n"
	    "my_summary{n1=\"val1\",quantile=\"0.5\"} 110\ndecoy -1 -2\n"
	    "my_summary{n1=\"val1\",quantile=\"0.9\"} 140 1\n"
	    "my_summary_count{n1=\"val1\"} 42\n", AT(4, R_TS), GW_REFUSES,
	    NULL),
	OK("common scenario 4: a histogram", HIST("412", "2693"), GW_TAKES,
	    NULL),
	NO("common scenario 5: quoted names", "\n# HELP "
	    "\"my.noncompliant.metric\" help text\n# TYPE "
	    "\"my.noncompliant.metric\" counter\n{\"my.noncompliant.metric\","
	    "\"label.name\"=\"value\"} 1\n", AT(2, R_HNAME), GW_REFUSES, NULL),
	NO("common scenario 7: quoted names, indented",
	    "\n\t\t\t\t# HELP \"name.with.dots\" boring help\n\t\t\t\t# TYPE "
	    "\"name.with.dots\" counter\n\t\t\t\t\n", AT(2, R_HNAME),
	    GW_REFUSES, NULL),
	NO("common scenario 8: quoted names and label names",
	    "# HELP \"gauge.name\" gauge\\ndoc\\nstr\\\"ing\n"
	    "# TYPE \"gauge.name\" gauge\n{\"gauge.name\",\"name.1\"=\"val with"
	    "\\nnew line\",\"name*2\"=\"val with \\\\backslash and "
	    "\\\"quotes\\\"\"} +Inf\n", AT(1, R_HNAME), GW_REFUSES, NULL),
	NO("common scenario 10, cut: the quoted name not first",
	    "{labelname=\"value\", \"my.noncompliant.metric\"} 1\n",
	    AT(1, R_MNAME), GW_REFUSES, NULL),
	NO("common scenario 11: only quoted names",
	    "\n{\"name.1\"} 1\n{\"name.2\"} 1\n{\"name.3\"} 1\n", AT(2, R_MNAME),
	    GW_REFUSES, NULL),
	{ "common scenario 12: fractional counts",
	    PB("\n# HELP request_duration_microseconds The response latency.\n"
	    "# TYPE request_duration_microseconds histogram\n"
	    "request_duration_microseconds_bucket{le=\"100\"} 123.5\n"
	    "request_duration_microseconds_bucket{le=\"120\"} 412.6\n"
	    "request_duration_microseconds_bucket{le=\"144\"} 592.7\n"
	    "request_duration_microseconds_bucket{le=\"172.8\"} 1524.8\n"
	    "request_duration_microseconds_bucket{le=\"+Inf\"} 2693.9\n"
	    "request_duration_microseconds_sum 1.7560473e+06\n"
	    "request_duration_microseconds_count 2693.9\n"), NULL, GW_ALTERS,
	    N_FRAC, "request_duration_microseconds_count", "", "2693" },
	{ "common scenario 14: one fractional bucket",
	    PB("\n# HELP request_duration_microseconds The response latency.\n"
	    "# TYPE request_duration_microseconds histogram\n"
	    "request_duration_microseconds_bucket{le=\"100\"} 123\n"
	    "request_duration_microseconds_bucket{le=\"120\"} 412\n"
	    "request_duration_microseconds_bucket{le=\"144\"} 592\n"
	    "request_duration_microseconds_bucket{le=\"172.8\"} 1524.8\n"
	    "request_duration_microseconds_bucket{le=\"+Inf\"} 2693\n"
	    "request_duration_microseconds_sum 1.7560473e+06\n"
	    "request_duration_microseconds_count 2693\n"), NULL, GW_ALTERS,
	    N_FRAC, "request_duration_microseconds_bucket", "le=\"172.8\"",
	    "1524" },
	NO("common scenario 15: gaugehistogram",
	    "\n# HELP request_duration_microseconds The response latency.\n"
	    "# TYPE request_duration_microseconds gaugehistogram\n"
	    "request_duration_microseconds_bucket{le=\"100\"} 123\n",
	    AT(3, R_UNKT), GW_REFUSES, NULL),
	NO("common scenario 16: gauge_histogram",
	    "\n# HELP request_duration_microseconds The response latency.\n"
	    "# TYPE request_duration_microseconds gauge_histogram\n"
	    "request_duration_microseconds_bucket{le=\"100\"} 123\n",
	    AT(3, R_UNKT), GW_TAKES, "stricter: the spool knows the five types "
	    "of the text format; 1.5.1 takes this OpenMetrics type, then files "
	    "the samples as untyped families of their own names"),

	/* ---- common: TestTextParseError, inputs it refuses -------------- */
	OK("common error 0: no newline at the end", "\nbla 3.14\nblubber 42",
	    GW_REFUSES, N_NONL),
	NO("common error 1: escape \\t", "metric{label=\"\\t\"} 3.14\n",
	    AT(1, R_ESC), GW_REFUSES, NULL),
	NO("common error 2: newline in a label value",
	    "\nmetric{label=\"new\nline\"} 3.14\n", AT(2, R_UNTERM), GW_REFUSES,
	    NULL),
	NO("common error 3: label name @", "metric{@=\"bla\"} 3.14\n",
	    AT(1, R_LNAME), GW_REFUSES, NULL),
	NO("common error 4: label __name__", "metric{__name__=\"bla\"} 3.14\n",
	    AT(1, R_RES), GW_REFUSES, NULL),
	NO("common error 5: label+=", "metric{label+=\"bla\"} 3.14\n",
	    AT(1, R_EQ), GW_REFUSES, NULL),
	NO("common error 6: unquoted value", "metric{label=bla} 3.14\n",
	    AT(1, R_QUOTE), GW_REFUSES, NULL),
	NO("common error 7: quantile bla",
	    "\n# TYPE metric summary\nmetric{quantile=\"bla\"} 3.14\n",
	    AT(3, "summary metric: " R_Q), GW_REFUSES, NULL),
	NO("common error 8: \"bla\"+", "metric{label=\"bla\"+} 3.14\n",
	    AT(1, R_COMMA), GW_REFUSES, NULL),
	NO("common error 9: timestamp 2.72", "metric{label=\"bla\"} 3.14 2.72\n",
	    AT(1, R_AFTER), GW_REFUSES, NULL),
	NO("common error 10: text after the timestamp",
	    "metric{label=\"bla\"} 3.14 2 3\n", AT(1, R_AFTER), GW_REFUSES,
	    NULL),
	NO("common error 11: value blubb", "metric{label=\"bla\"} blubb\n",
	    AT(1, R_VAL), GW_REFUSES, NULL),
	NO("common error 12: two HELP lines",
	    "\n# HELP metric one\n# HELP metric two\n", AT(3, R_HELP2),
	    GW_REFUSES, NULL),
	NO("common error 13: two TYPE lines",
	    "\n# TYPE metric counter\n# TYPE metric untyped\n", AT(3, R_TYPE2),
	    GW_REFUSES, NULL),
	OK("common error 14: TYPE after the sample",
	    "\nmetric 4.12\n# TYPE metric counter\n", GW_REFUSES, N_LATE),
	NO("common error 15: type bla", "\n# TYPE metric bla\n", AT(2, R_UNKT),
	    GW_REFUSES, NULL),
	NO("common error 16: TYPE met-ric", "\n# TYPE met-ric\n",
	    AT(2, R_TNAME), GW_REFUSES, NULL),
	NO("common error 17: name @invalidmetric",
	    "@invalidmetric{label=\"bla\"} 3.14 2\n", AT(1, R_MNAME),
	    GW_REFUSES, NULL),
	NO("common error 18: no name", "{label=\"bla\"} 3.14 2\n",
	    AT(1, R_MNAME), GW_REFUSES, NULL),
	NO("common error 19: le bla",
	    "\n# TYPE metric histogram\nmetric_bucket{le=\"bla\"} 3.14\n",
	    AT(3, "histogram metric: " R_LE), GW_REFUSES, NULL),
	NO("common error 20: invalid UTF-8", "metric{l=\"\xbd\"} 3.14\n",
	    AT(1, R_UTF8), GW_REFUSES, NULL),
	NO("common error 21: 1_2", "foo 1_2\n", AT(1, R_VAL), GW_REFUSES, NULL),
	NO("common error 22: 0x1p-3", "foo 0x1p-3\n", AT(1, R_VAL), GW_REFUSES,
	    NULL),
	NO("common error 23: 0x1P-3", "foo 0x1P-3\n", AT(1, R_VAL), GW_REFUSES,
	    NULL),
	NO("common error 24: 0B1", "foo 0B1\n", AT(1, R_VAL), GW_REFUSES, NULL),
	NO("common error 25: 0O1", "foo 0O1\n", AT(1, R_VAL), GW_REFUSES, NULL),
	NO("common error 26: 0X1", "foo 0X1\n", AT(1, R_VAL), GW_REFUSES, NULL),
	NO("common error 27: 0x1", "foo 0x1\n", AT(1, R_VAL), GW_REFUSES, NULL),
	NO("common error 28: 0b1", "foo 0b1\n", AT(1, R_VAL), GW_REFUSES, NULL),
	NO("common error 29: 0o1", "foo 0o1\n", AT(1, R_VAL), GW_REFUSES, NULL),
	NO("common error 32: le 0x1p-3",
	    "\n# TYPE metric histogram\nmetric_bucket{le=\"0x1p-3\"} 3.14\n",
	    AT(3, "histogram metric: " R_LE), GW_REFUSES, NULL),
	NO("common error 33: quantile 0x1p-3",
	    "\n# TYPE metric summary\nmetric{quantile=\"0x1p-3\"} 3.14\n",
	    AT(3, "summary metric: " R_Q), GW_REFUSES, NULL),
	NO("common error 34: a label twice",
	    "metric{label=\"bla\",label=\"bla\"} 3.14\n", AT(1, R_DUP),
	    GW_REFUSES, NULL),
	NO("common error 35: two quoted names",
	    "{\"one.name\",\"another.name\"} 3.14\n", AT(1, R_MNAME),
	    GW_REFUSES, NULL),
	NO("common error 36: escape in a quoted name",
	    "{\"a\\xc5z\",label=\"bla\"} 3.14\n", AT(1, R_MNAME), GW_REFUSES,
	    NULL),
	NO("common error 37: quoted name ends badly",
	    "{\"metric.name\".label=\"bla\"} 3.14\n", AT(1, R_MNAME),
	    GW_REFUSES, NULL),
	NO("common error 38: escape in a quoted TYPE name",
	    "\n# TYPE \"metric.name\\t\" counter\n{\"metric.name\\t\","
	    "label=\"bla\"} 3.14\n", AT(2, R_TNAME), GW_REFUSES, NULL),
	NO("common error 41: a dotted name",
	    "{\"metric.name\",foo=\"bla\"} 3.14\n", AT(1, R_MNAME), GW_REFUSES,
	    NULL),
	NO("common error 42: a dotted label name",
	    "metric_name{\"foo\"=\"bar\", \"dotted.label\"=\"bla\"} 3.14\n",
	    AT(1, R_LNAME), GW_REFUSES, NULL),
	{ "common error 43: a negative histogram count",
	    PB(HIST("412", "-2693")),
	    AT(10, "histogram request_duration_microseconds: " R_COUNT),
	    GW_ALTERS, N_WRAP, "request_duration_microseconds_count", "",
	    "18446744073709548923" },
	{ "common error 44: a negative bucket", PB(HIST("-412", "2693")),
	    AT(5, "histogram request_duration_microseconds: " R_COUNT),
	    GW_ALTERS, N_WRAP, "request_duration_microseconds_bucket",
	    "le=\"120\"", "18446744073709551204" },
	{ "common error 45: a negative fractional count",
	    PB(HIST("412", "-2693.123")),
	    AT(10, "histogram request_duration_microseconds: " R_COUNT),
	    GW_ALTERS, N_WRAP, "request_duration_microseconds_count", "",
	    "18446744073709548923" },
	{ "common error 46: a negative fractional bucket",
	    PB(HIST("-412.456", "2693")),
	    AT(5, "histogram request_duration_microseconds: " R_COUNT),
	    GW_ALTERS, N_WRAP, "request_duration_microseconds_bucket",
	    "le=\"120\"", "18446744073709551204" },
	NO("common error 47: empty braces, no name", "{} 3.14\n",
	    AT(1, R_MNAME), GW_REFUSES, NULL),

	/* ---- prom: TestPromParse, cut into its points ------------------- */
	OK("prom parse, cut: HELP, TYPE after a tab, quantile 0",
	    "# HELP go_gc_duration_seconds A summary of the GC invocation "
	    "durations.\n# \tTYPE go_gc_duration_seconds summary\n"
	    "go_gc_duration_seconds{quantile=\"0\"} 4.9351e-05\n", GW_TAKES,
	    NULL),
	OK("prom parse, cut: trailing comma", GC_SUMMARY
	    "go_gc_duration_seconds{quantile=\"0.25\",} 7.424100000000001e-05\n",
	    GW_TAKES, NULL),
	OK("prom parse, cut: quantile first", GC_SUMMARY
	    "go_gc_duration_seconds{quantile=\"0.5\",a=\"b\"} 8.3835e-05\n",
	    GW_TAKES, NULL),
	OK("prom parse, cut: blank after the comma", GC_SUMMARY
	    "go_gc_duration_seconds{quantile=\"0.8\", a=\"b\"} 8.3835e-05\n",
	    GW_TAKES, NULL),
	OK("prom parse, cut: blank after the brace", GC_SUMMARY
	    "go_gc_duration_seconds{ quantile=\"0.9\", a=\"b\"} 8.3835e-05\n",
	    GW_TAKES, NULL),
	OK("prom parse, cut: a histogram with a label",
	    "# HELP prometheus_http_request_duration_seconds Histogram of "
	    "latencies for HTTP requests.\n"
	    "# TYPE prometheus_http_request_duration_seconds histogram\n"
	    "prometheus_http_request_duration_seconds_bucket{handler=\"/\","
	    "le=\"1\"} 423\n"
	    "prometheus_http_request_duration_seconds_bucket{handler=\"/\","
	    "le=\"2\"} 1423\n"
	    "prometheus_http_request_duration_seconds_bucket{handler=\"/\","
	    "le=\"+Inf\"} 1423\n"
	    "prometheus_http_request_duration_seconds_sum{handler=\"/\"} 2000\n"
	    "prometheus_http_request_duration_seconds_count{handler=\"/\"} "
	    "1423\n", GW_TAKES, NULL),
	OK("prom parse, cut: comments like HELP, comments with backslashes",
	    "# Hrandom comment starting with prefix of HELP\n#\n"
	    "wind_speed{A=\"2\",c=\"3\"} 12345\n# comment with escaped \\n "
	    "newline\n# comment with escaped \\ escape character\n", GW_TAKES,
	    NULL),
	OK("prom parse, cut: HELP without text",
	    "# HELP nohelp1\n# HELP nohelp2 \n", GW_TAKES, NULL),
	OK("prom parse, cut: blank before the closing brace", GC_SUMMARY
	    "go_gc_duration_seconds{ quantile=\"1.0\", a=\"b\" } 8.3835e-05\n",
	    GW_TAKES, NULL),
	OK("prom parse, cut: blank before the opening brace", GC_SUMMARY
	    "go_gc_duration_seconds { quantile=\"1.0\", a=\"b\" } 8.3835e-05\n",
	    GW_TAKES, NULL),
	OK("prom parse, cut: blank after =", GC_SUMMARY
	    "go_gc_duration_seconds { quantile= \"1.0\", a= \"b\", } "
	    "8.3835e-05\n", GW_TAKES, NULL),
	OK("prom parse, cut: blanks around =", GC_SUMMARY
	    "go_gc_duration_seconds { quantile = \"1.0\", a = \"b\" } "
	    "8.3835e-05\n", GW_TAKES, NULL),
	NO("prom parse, cut: no comma between labels", GC_SUMMARY
	    "go_gc_duration_seconds { quantile = \"2.0\" a = \"b\" } "
	    "8.3835e-05\n", AT(2, R_COMMA), GW_REFUSES, NULL),
	OK("prom parse, cut: a summary's _count", GC_SUMMARY
	    "go_gc_duration_seconds_count 99\n", GW_TAKES, NULL),
	OK("prom parse, cut: colons, a tab before the value",
	    "some:aggregate:rate5m{a_b=\"c\"}\t1\n", GW_TAKES, NULL),
	NO("prom parse, cut: a timestamp after blanks and a tab",
	    "# HELP go_goroutines Number of goroutines that currently exist.\n"
	    "# TYPE go_goroutines gauge\ngo_goroutines 33  \t123123\n",
	    AT(3, R_TS), GW_REFUSES, NULL),
	OK("prom parse, cut: HELP after TYPE",
	    "# TYPE some_counter_total counter\n# HELP some_counter_total Help "
	    "after type.\nsome_counter_total 12\n", GW_TAKES, NULL),
	OK("prom parse, cut: names starting with _",
	    "# HELP nohelp3\n_metric_starting_with_underscore 1\n"
	    "testmetric{_label_starting_with_underscore=\"foo\"} 1\n", GW_TAKES,
	    NULL),
	OK("prom parse, cut: escaped quotes",
	    "testmetric{label=\"\\\"bar\\\"\"} 1\n", GW_TAKES, NULL),
	OK("prom parse, cut: le on an untyped metric", "testmetric{le=\"10\"} 1\n",
	    GW_TAKES, NULL),
	NO("prom parse, cut: __type__ with a TYPE line",
	    "# HELP type_and_unit_test1 Type specified in metadata overrides.\n"
	    "# TYPE type_and_unit_test1 gauge\n"
	    "type_and_unit_test1{__type__=\"counter\"} 123\n", AT(3, R_RES),
	    GW_REFUSES, NULL),
	NO("prom parse, cut: __type__ alone",
	    "# HELP type_and_unit_test2 Type specified in label.\n"
	    "type_and_unit_test2{__type__=\"counter\"} 123\n", AT(2, R_RES),
	    GW_REFUSES, NULL),
	NO("prom parse, cut: NUL in HELP text", "# HELP metric foo\0bar\n",
	    AT(1, R_NUL), GW_TAKES, N_NUL),
	NO("prom parse, cut: NUL in a label value",
	    "null_byte_metric{a=\"abc\0\"} 1\n", AT(1, R_NUL), GW_TAKES, N_NUL),
	NO("prom parse", PROM_PARSE, AT(26, R_COMMA), GW_REFUSES, NULL),
	NO("prom UTF-8 parse, cut: a quoted HELP name",
	    "# HELP \"go.gc_duration_seconds\" A summary of the GC invocation "
	    "durations.\n", AT(1, R_HNAME), GW_REFUSES, NULL),
	NO("prom UTF-8 parse, cut: a quoted name in braces",
	    "{\"go.gc_duration_seconds\",quantile=\"0\"} 4.9351e-05\n",
	    AT(1, R_MNAME), GW_REFUSES, NULL),
	NO("prom UTF-8 parse, cut: quoted names with escapes",
	    "{\"Heiz\xc3\xb6lr\xc3\xbc""cksto\xc3\x9f""abd\xc3\xa4mpfung 10"
	    "\xe2\x82\xac metric with \\\"interesting\\\" {character\\n"
	    "choices}\",\"strange\xc2\xa9\xe2\x84\xa2\\n'quoted' \\\"name\\\"\""
	    "=\"6\"} 10.0\n", AT(1, R_MNAME), GW_REFUSES, NULL),

	/* ---- prom: TestPromParseErrors ------------------------------------ */
	NO("prom error: no value", "a\n", AT(1, R_NOVAL), GW_REFUSES, NULL),
	NO("prom error: single quotes", "a{b='c'} 1\n", AT(1, R_QUOTE),
	    GW_REFUSES, NULL),
	NO("prom error: newline after =", "a{b=\n", AT(1, R_QUOTE), GW_REFUSES,
	    NULL),
	NO("prom error: \\xff label name", "a{\xff=\"foo\"} 1\n", AT(1, R_LNAME),
	    GW_REFUSES, NULL),
	NO("prom error: \\xff label value", "a{b=\"\xff\"} 1\n", AT(1, R_UTF8),
	    GW_REFUSES, NULL),
	NO("prom error: a quote inside quotes", "{\"a\", \"b = \"c\"}\n",
	    AT(1, R_MNAME), GW_REFUSES, NULL),
	NO("prom error: backslash in a label name", "{\"a\",b\\nc=\"d\"} 1\n",
	    AT(1, R_MNAME), GW_REFUSES, NULL),
	NO("prom error: value true", "a true\n", AT(1, R_VAL), GW_REFUSES, NULL),
	NO("prom error: unterminated value", "something_weird{problem=\"\n",
	    AT(1, R_UNTERM), GW_REFUSES, NULL),
	NO("prom error: empty label name", "empty_label_name{=\"\"} 0\n",
	    AT(1, R_LNAME), GW_REFUSES, NULL),
	NO("prom error: {A}0", "{A}0\n", AT(1, R_MNAME), GW_REFUSES, NULL),
	NO("prom error: timestamp 1_2", "foo 0 1_2\n", AT(1, R_AFTER),
	    GW_REFUSES, NULL),
	NO("prom error: name only in braces", "{a=\"ok\"} 1\n", AT(1, R_MNAME),
	    GW_REFUSES, NULL),
	NO("prom error: TYPE #", "# TYPE #\n#EOF\n", AT(1, R_TNAME),
	    GW_REFUSES, NULL),
	NO("prom error: HELP #", "# HELP #\n#EOF\n", AT(1, R_HNAME),
	    GW_REFUSES, NULL),

	/* ---- prom: TestPromNullByteHandling ------------------------------- */
	NO("prom NUL: first in a value", "a{b=\"\0ss\"} 1\n", AT(1, R_NUL),
	    GW_TAKES, N_NUL),
	NO("prom NUL: the whole value", "a{b=\"\0\"} 1\n", AT(1, R_NUL),
	    GW_TAKES, N_NUL),
	NO("prom NUL: before the quote", "a{b=\0\"ssss\"} 1\n", AT(1, R_NUL),
	    GW_REFUSES, NULL),
	NO("prom NUL: unterminated", "a{b=\"\0\n", AT(1, R_NUL), GW_REFUSES,
	    NULL),
	NO("prom NUL: in a label name", "a{b\0=\"hiih\"}\t1\n", AT(1, R_NUL),
	    GW_REFUSES, NULL),
	NO("prom NUL: after the name", "a\0{b=\"ddd\"} 1\n", AT(1, R_NUL),
	    GW_REFUSES, NULL),
	NO("prom NUL: after the timestamp", "a 0 1\0\n", AT(1, R_NUL),
	    GW_REFUSES, NULL),

	/* ---- prom: what its lexer, promlex.l, allows ---------------------- */
	OK("prom lexer: #TYPE without a blank (a comment to Prometheus)",
	    "#TYPE x counter\nx 1\n", GW_TAKES, NULL),
	OK("prom lexer: tabs in HELP", "#\tHELP\tx\ttabbed help\nx 1\n",
	    GW_TAKES, NULL),
	OK("prom lexer: blanks after the value", "x{a=\"b\"} 1 \t\n", GW_REFUSES,
	    N_TRAIL),
	OK("prom lexer: the value right after the brace", "x{a=\"b\"}1\n",
	    GW_TAKES, NULL),
	NO("prom lexer: TYPE without a type", "# TYPE x\nx 1\n",
	    AT(1, R_NOTYPE), GW_TAKES, N_NOTYPE),

	/* ---- python: tests/test_parser.py --------------------------------- */
	OK("python test_simple_counter", "# TYPE a counter\n# HELP a help\n"
	    "a 1\n", GW_TAKES, NULL),
	NO("python test_utf8_counter", "# TYPE \"a.b\" counter\n# HELP \"a.b\" "
	    "help\n{\"a.b\"} 1\n", AT(1, R_TNAME), GW_REFUSES, NULL),
	NO("python test_complex_name_counter",
	    "# TYPE \"my.counter{} # = \\\" \\n\" counter\n# HELP \"my.counter{} "
	    "# = \\\" \\n\" help\n{\"my.counter{} # = \\\" \\n\", \"awful. }}{{ "
	    "# HELP EOF name\"=\"\\n yikes } \\\" value\"} 1\n",
	    AT(1, R_TNAME), GW_REFUSES, NULL),
	OK("python test_simple_gauge", "# TYPE a gauge\n# HELP a help\na 1\n",
	    GW_TAKES, NULL),
	OK("python test_simple_summary", "# TYPE a summary\n# HELP a help\n"
	    "a_count 1\na_sum 2\n", GW_TAKES, NULL),
	OK("python test_summary_quantiles", "# TYPE a summary\n# HELP a help\n"
	    "a_count 1\na_sum 2\na{quantile=\"0.5\"} 0.7\n", GW_TAKES, NULL),
	OK("python test_simple_histogram", "# TYPE a histogram\n# HELP a help\n"
	    "a_bucket{le=\"1\"} 0\na_bucket{le=\"+Inf\"} 3\na_count 3\na_sum 2\n",
	    GW_TAKES, NULL),
	OK("python test_no_metadata", "a 1\n", GW_TAKES, NULL),
	OK("python test_untyped",
	    "# HELP redis_connected_clients Redis connected clients\n"
	    "# TYPE redis_connected_clients untyped\n"
	    "redis_connected_clients{instance=\"rough-snowflake-web\","
	    "port=\"6380\"} 10.0\n"
	    "redis_connected_clients{instance=\"rough-snowflake-web\","
	    "port=\"6381\"} 12.0\n", GW_TAKES, NULL),
	OK("python test_type_help_switched", "# HELP a help\n# TYPE a counter\n"
	    "a 1\n", GW_TAKES, NULL),
	OK("python test_blank_lines_and_comments", "\n# TYPE a counter\n"
	    "# FOO a\n# BAR b\n# HELP a help\n\na 1\n", GW_TAKES, NULL),
	NO("python test_comments_parts_are_not_validated...",
	    "\n# A simple. comment line where third token cannot be matched "
	    "against METRIC_NAME_RE under validation.py\n# 3565 12345/4436467 "
	    "another random comment line where third token cannot be matched "
	    "against METRIC_NAME_RE under validation.py\n", R_EMPTY, GW_TAKES,
	    N_EMPTY),
	OK("python test_extra_whitespace", "# TYPE  a  counter\n"
	    "# HELP  a  help\na  1\n", GW_TAKES, NULL),
	OK("python test_tabs", "#\tTYPE\ta\tcounter\n#\tHELP\ta\thelp\na\t1\n",
	    GW_TAKES, NULL),
	OK("python test_labels_with_curly_braces", "# TYPE a counter\n"
	    "# HELP a help\na{foo=\"bar\", bar=\"b{a}z\"} 1\n", GW_TAKES, NULL),
	OK("python test_empty_help", "# TYPE a counter\n# HELP a\na 1\n",
	    GW_TAKES, NULL),
	OK("python test_labels_and_infinite", "# TYPE a counter\n"
	    "# HELP a help\na{foo=\"bar\"} +Inf\na{foo=\"baz\"} -Inf\n", GW_TAKES,
	    NULL),
	OK("python test_spaces", "# TYPE a counter\n# HELP a help\n"
	    "a{ foo = \"bar\" } 1\na\t\t{\t\tfoo\t\t=\t\t\"baz\"\t\t}\t\t2\n"
	    "a   {    foo   =  \"buz\"   }    3\n"
	    "a\t {  \t foo\t = \"biz\"\t  } \t 4\n"
	    "a \t{\t foo   = \"boz\"\t}\t 5\na{foo=\"bez\"}6\n", GW_TAKES, NULL),
	OK("python test_commas, cut: one trailing comma", "# TYPE a counter\n"
	    "# HELP a help\na{foo=\"bar\",} 1\na{foo=\"baz\",  } 1\n", GW_TAKES,
	    NULL),
	NO("python test_commas, cut: {,}", "# TYPE b counter\n# HELP b help\n"
	    "b{,} 2\n", AT(3, R_LNAME), GW_REFUSES, NULL),
	NO("python test_commas, cut: {  ,}", "# TYPE c counter\n# HELP c help\n"
	    "c{  ,} 3\n", AT(3, R_LNAME), GW_REFUSES, NULL),
	NO("python test_commas, cut: {,  }", "# TYPE d counter\n# HELP d help\n"
	    "d{,  } 4\n", AT(3, R_LNAME), GW_REFUSES, NULL),
	NO("python test_multiple_trailing_commas", "# TYPE a counter\n"
	    "# HELP a help\na{foo=\"bar\",, } 1\n", AT(3, R_LNAME), GW_REFUSES,
	    NULL),
	OK("python test_empty_brackets", "# TYPE a counter\n# HELP a help\n"
	    "a{} 1\n", GW_TAKES, NULL),
	OK("python test_nan", "a NaN\n", GW_TAKES, NULL),
	OK("python test_empty_label", "# TYPE a counter\n# HELP a help\n"
	    "a{foo=\"bar\"} 1\na{foo=\"\"} 2\n", GW_TAKES, NULL),
	OK("python test_label_escaping: foo", PY_LABEL("foo"), GW_TAKES, NULL),
	NO("python test_label_escaping: \\foo", PY_LABEL("\\foo"), AT(4, R_ESC),
	    GW_REFUSES, NULL),
	OK("python test_label_escaping: \\\\foo", PY_LABEL("\\\\foo"), GW_TAKES,
	    NULL),
	OK("python test_label_escaping: foo\\\\", PY_LABEL("foo\\\\"), GW_TAKES,
	    NULL),
	OK("python test_label_escaping: \\\\", PY_LABEL("\\\\"), GW_TAKES, NULL),
	OK("python test_label_escaping: \\n", PY_LABEL("\\n"), GW_TAKES, NULL),
	OK("python test_label_escaping: \\\\n", PY_LABEL("\\\\n"), GW_TAKES,
	    NULL),
	OK("python test_label_escaping: \\\\\\n", PY_LABEL("\\\\\\n"), GW_TAKES,
	    NULL),
	OK("python test_label_escaping: \\\"", PY_LABEL("\\\""), GW_TAKES, NULL),
	OK("python test_label_escaping: \\\\\\\"", PY_LABEL("\\\\\\\""),
	    GW_TAKES, NULL),
	OK("python test_help_escaping: foo", PY_HELP("foo"), GW_TAKES, NULL),
	NO("python test_help_escaping: \\foo", PY_HELP("\\foo"), AT(3, R_HESC),
	    GW_REFUSES, NULL),
	OK("python test_help_escaping: \\\\foo", PY_HELP("\\\\foo"), GW_TAKES,
	    NULL),
	NO("python test_help_escaping: foo\\", PY_HELP("foo\\"), AT(3, R_HESC),
	    GW_REFUSES, NULL),
	OK("python test_help_escaping: foo\\\\", PY_HELP("foo\\\\"), GW_TAKES,
	    NULL),
	OK("python test_help_escaping: \\n", PY_HELP("\\n"), GW_TAKES, NULL),
	OK("python test_help_escaping: \\\\n", PY_HELP("\\\\n"), GW_TAKES, NULL),
	OK("python test_help_escaping: \\\\\\n", PY_HELP("\\\\\\n"), GW_TAKES,
	    NULL),
	NO("python test_help_escaping: \\\"", PY_HELP("\\\""), AT(3, R_HESC),
	    GW_REFUSES, NULL),
	OK("python test_help_escaping: \\\\\"", PY_HELP("\\\\\""), GW_TAKES,
	    NULL),
	NO("python test_help_escaping: \\\\\\\"", PY_HELP("\\\\\\\""),
	    AT(3, R_HESC), GW_REFUSES, NULL),
	NO("python test_escaping", "# TYPE a counter\n# HELP a he\\n\\\\l\\tp\n"
	    "a{foo=\"b\\\"a\\nr\"} 1\na{foo=\"b\\\\a\\z\"} 2\n", AT(2, R_HESC),
	    GW_REFUSES, NULL),
	NO("python test_timestamps", "# TYPE a counter\n# HELP a help\n"
	    "a{foo=\"bar\"} 1\t000\n# TYPE b counter\n# HELP b help\n"
	    "b 2  1234567890\nb 88   1234566000   \n", AT(3, R_TS), GW_REFUSES,
	    NULL),
	OK("python test_roundtrip, cut: without the quoted family",
	    PY_ROUNDTRIP, GW_TAKES, NULL),
	NO("python test_roundtrip", PY_ROUNDTRIP
	    "# HELP \"my.utf8.metric.#{}=\" A fancy metric with dots.\n"
	    "# TYPE \"my.utf8.metric.#{}=\" summary\n"
	    "{\"my.utf8.metric.#{}=\",quantile=\"0\"} 0.013300656000000001\n",
	    AT(39, R_HNAME), GW_REFUSES, NULL),

	/* ---- own: the rules where the gateway and we part ----------------- */
	{ "own: a negative summary count",
	    PB("# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_count -3\n"),
	    AT(3, "summary s: " R_COUNT), GW_ALTERS, N_WRAP, "s_count", "",
	    "18446744073709551613" },
	{ "own: a NaN histogram count",
	    PB("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count NaN\n"),
	    AT(3, "histogram h: " R_COUNT), GW_ALTERS,
	    "stricter: the gateway stores a NaN count as 2^63",
	    "h_count", "", "9223372036854775808" },
	{ "own: a count of 2^64 or more",
	    PB("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1e20\nh_count 1\n"),
	    AT(2, "histogram h: " R_COUNT), GW_ALTERS,
	    "stricter: the gateway stores a count past 2^64 as 2^63",
	    "h_bucket", "le=\"+Inf\"", "9223372036854775808" },
	{ "own: a bucket at le NaN",
	    PB("# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\n"
	    "h_bucket{le=\"+Inf\"} 1\nh_count 1\n"),
	    AT(2, "histogram h: " R_LE), GW_ALTERS,
	    "stricter: the gateway drops a bucket whose bound is NaN",
	    "h_bucket", "le=\"NaN\"", "absent" },
	{ "own: a quantile NaN",
	    PB("# TYPE s summary\ns{quantile=\"NaN\"} 1\ns_count 1\n"),
	    AT(2, "summary s: " R_Q), GW_ALTERS,
	    "stricter: the gateway drops a quantile that is NaN",
	    "s", "quantile=\"NaN\"", "absent" },
	{ "own: a bucket without le",
	    PB("# TYPE h histogram\nh_bucket 7\nh_count 3\n"),
	    AT(2, "histogram h: a bucket needs an le label (the Pushgateway "
	    "drops a bucket without one)"), GW_ALTERS,
	    "stricter: the gateway drops a bucket without le",
	    "h_bucket", "", "absent" },
	{ "own: a summary's bare name without quantile",
	    PB("# TYPE s summary\ns 7\ns_count 3\n"),
	    AT(2, "summary s: a sample of the bare name needs a quantile label "
	    "(the Pushgateway drops it); write the totals as _sum and _count"),
	    GW_ALTERS, "stricter: the gateway drops the sample",
	    "s", "", "absent" },
	{ "own: a histogram's bare name",
	    PB("# TYPE h histogram\nh 7\nh_count 3\n"),
	    AT(2, "histogram h has no sample of its bare name: write h_bucket, "
	    "_sum and _count, or use op observe"), GW_ALTERS,
	    "stricter: the gateway drops the sample", "h", "", "absent" },
	NO("own: a carriage return in a label value", "x{a=\"p\rq\"} 1\n",
	    AT(1, R_CR), GW_TAKES, "stricter: no line in the spool holds a "
	    "carriage return; the gateway takes one in a label value"),
	NO("own: invalid UTF-8 in HELP text", "# HELP x caf\xff\nx 1\n",
	    AT(1, "HELP text is not valid UTF-8"), GW_TAKES, "stricter: "
	    "Prometheus refuses such HELP text on a scrape; the gateway takes "
	    "it"),
	OK("own: le +Inf spelt as a word",
	    "# TYPE h histogram\nh_bucket{le=\"infinity\"} 1\nh_count 1\n",
	    GW_TAKES, NULL),
	OK("own: two samples of one series", "x 1\nx 2\n", GW_REFUSES,
	    "laxer: in a set row the last sample of a series wins, as between "
	    "rows; the agent sends one"),
	OK("own: HELP text after many blanks", "# HELP x   a  help \nx 1\n",
	    GW_TAKES, NULL),
	OK("own: TYPE in upper case", "# TYPE x COUNTER\nx 1\n", GW_TAKES, NULL),
	NO("own: a TYPE with trailing text", "# TYPE x counter extra\nx 1\n",
	    AT(1, "unexpected text after the type in TYPE line"), GW_REFUSES,
	    NULL),
	OK("own: a TYPE with a trailing blank", "# TYPE x counter \nx 1\n",
	    GW_REFUSES, N_TRAIL),
	NO("own: a value that overflows", "x 1e400\n", AT(1, R_VAL), GW_REFUSES,
	    NULL),
	OK("own: Infinity with a sign", "x -Infinity\n", GW_TAKES, NULL),
	NO("own: NaN with a sign", "x +NaN\n", AT(1, R_VAL), GW_REFUSES, NULL),
	NO("own: a carriage return", "x 1\r\n", AT(1, R_CR), GW_REFUSES, NULL),
};

#endif
