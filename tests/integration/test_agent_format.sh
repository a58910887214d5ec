#!/usr/bin/env bash
# What collector-agent sends is valid text format: every body it
# PUTs (captured by the fake gateway) passes `promtool check metrics` (exit
# 0, or 3 for lint on users' names) and the checks promtool does not make
# (check_body.py); values parse back to the same doubles. Pull mode's
# /metrics: test_agent_pull.sh.
set -u
. "$(dirname "$0")/lib.sh"
need agent promtool

fake_start --save-bodies "$T/bodies"
# With the agent's own metrics, so that their text is checked too.
agent_conf "$T/fmt.conf" "$FAKE_URL" fmtjob f once_self_metrics=true
export COLLECTOR_SPOOL="$T/fmt.db"

# Awkward content: escapes in HELP and label values, special values, a
# family written by two rows (must come out contiguous), histograms,
# a summary, untyped, several groups.
"$CS" put '# HELP req_total Requests, with a \\ backslash and a \n newline.' '# TYPE req_total counter' \
	'req_total{code="200",path="/a \"q\" \\ b"} 5' 'req_total{code="500",path="x\ny"} 1'
"$CS" put '# TYPE g gauge' 'g{v="nan"} NaN' 'g{v="inf"} +Inf' 'g{v="-inf"} -Inf' 'g{v="tiny"} 1e-300' \
	'g{v="tenth"} 0.1' 'g{v="big"} 123456789012345678901234567890' 'g{v="neg"} -2.5' 'g{v="utf",s="é—ü"} 3'
"$CS" put 'mixed{a="1"} 1' 'other_untyped 4'
"$CS" put 'mixed{a="2"} 2' 'g{v="later"} 7'
"$CS" put --op observe 'lat{path="/x"} 0.2' 'lat{path="/x"} 3' 'lat{path="/y"} 0.01'
"$CS" put '# TYPE rpc summary' 'rpc{quantile="0.5"} 0.1' 'rpc{quantile="0.99"} 0.5' 'rpc_sum 3' 'rpc_count 7'
"$CS" put --job fmt_other --grouping 'instance="i",region="eu-west"' '# TYPE other_total counter' 'other_total 3'
"$CS" put --job fmt_other --grouping 'instance="i",region="eu-west"' --op observe 'size 100' 'size 1e9'
"$CS" put --job fmt_other --grouping 'instance="i",region="eu-west"' 'mixed{a="9"} 9'
run_agent -c "$T/fmt.conf" --once
is_rc 0 "--once against the fake gateway: exit 0"

n=$(ls "$T"/bodies/*.body 2>/dev/null | wc -l)
check "bodies captured (at least the two groups)" [ "$n" -ge 2 ]
echo "# $n bodies: $(awk '{ printf "%s %s %s; ", $2, $3, $5 }' "$T/bodies/index" 2>/dev/null)"
bad_prom=0 bad_body=0
for f in "$T"/bodies/*.body; do
	[ -f "$f" ] || continue
	promtool_check "$f" || bad_prom=$((bad_prom + 1))
	body_check "$f" || bad_body=$((bad_body + 1))
done
is "$bad_prom" 0 "promtool check metrics accepts every body"
is "$bad_body" 0 "no timestamps, duplicates, interleaved families, missing +Inf; final newline"

# The default group's body, and values that parse back to the same double.
main=$(awk '$3 == "/metrics/job/fmtjob/instance/f" { f = $1 "-" $2 ".body" } END { print f }' "$T/bodies/index" 2>/dev/null)
check "a PUT of the default group /metrics/job/fmtjob/instance/f" [ -n "$main" ]
main="$T/bodies/$main"
val() { "$PY" "$INT_DIR/check_body.py" --value "$main" "$@" 2>/dev/null; }
same() { "$PY" "$INT_DIR/check_body.py" --same "$1" "$2"; }
for pair in 'nan NaN' 'inf +Inf' '-inf -Inf' 'tiny 1e-300' 'tenth 0.1' \
	'big 123456789012345678901234567890' 'neg -2.5' 'later 7'; do
	v=${pair%% *}; want=${pair#* }
	got=$(val g "v=\"$v\"")
	check "g{v=\"$v\"}: $got parses back to $want" same "$got" "$want"
done
is "$(val req_total 'code="200",path="/a \"q\" \\ b"')" 5 "label value escapes survive"
is "$(val req_total 'code="500",path="x\ny"')" 1 "a newline in a label value"
like "$(cat "$main")" '# HELP req_total Requests, with a \\ backslash and a \n newline.' "HELP escapes survive"
check "histogram +Inf bucket = _count" same "$(val lat_bucket 'path="/x",le="+Inf"')" 2
check "histogram _sum" same "$(val lat_sum 'path="/x"')" 3.2
check "summary quantile" same "$(val rpc 'quantile="0.99"')" 0.5
check "the agent's own metrics are in the default group" grep -q '^collector_agent_' "$main"
[ "$bad_prom$bad_body" = 00 ] || diag_file "$main" 80
fake_stop

tap_done
