#!/usr/bin/env bash
# Pull mode (--listen): GET /metrics serves every group's series
# with its job and grouping labels and the agent's own metrics, as valid
# text format (promtool, check_body.py: one family from several groups stays
# contiguous); GET /-/healthy and /-/ready answer.
set -u
. "$(dirname "$0")/lib.sh"
need agent promtool

fake_start
agent_conf "$T/pull.conf" "$FAKE_URL" fmtjob f
export COLLECTOR_SPOOL="$T/pull.db"
"$CS" put '# HELP req_total Requests, with a \\ backslash.' '# TYPE req_total counter' \
	'req_total{code="200",path="/a \"q\" \\ b"} 5'
"$CS" put 'mixed{a="1"} 1' 'other_untyped 4'
"$CS" put 'mixed{a="2"} 2'
"$CS" put --op observe 'lat{path="/x"} 0.2' 'lat{path="/x"} 3'
"$CS" put --job fmt_other --grouping 'instance="i",region="eu-west"' '# TYPE other_total counter' 'other_total 3'
"$CS" put --job fmt_other --grouping 'instance="i",region="eu-west"' 'mixed{a="9"} 9'
"$CS" put --job fmt_other --grouping 'instance="i",region="eu-west"' --op observe 'lat{path="/x"} 1'

val() { "$PY" "$INT_DIR/check_body.py" --value "$T/pull.prom" "$@" 2>/dev/null; }
lport=$(free_port)
agent_start pull -c "$T/pull.conf" --listen "127.0.0.1:$lport"
apid=$AGENT_PID
if ! wait_until curl -sf --max-time 1 "http://127.0.0.1:$lport/-/ready" -o /dev/null; then
	tap_fail "--listen: /-/ready answers" "nothing answers on 127.0.0.1:$lport"
	diag_file "$T/pull.err" 10
	stop_pid "$apid" 10
	tap_done
	exit 1
fi
tap_ok "--listen: /-/ready answers"
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$lport/-/healthy")" 200 "--listen: /-/healthy 200"
# The first fold may not have happened yet when the listener is up.
has_groups() {
	curl -s --max-time 5 "http://127.0.0.1:$lport/metrics" -o "$T/pull.prom" &&
		[ "$(val other_total 'job="fmt_other",instance="i",region="eu-west"')" != absent ]
}
wait_until has_groups
check "--listen: /metrics passes promtool" promtool_check "$T/pull.prom"
check "--listen: /metrics passes the body checks" body_check "$T/pull.prom"
is "$(val other_total 'job="fmt_other",instance="i",region="eu-west"')" 3 "--listen: a series with its job and grouping labels"
is "$(val mixed 'job="fmtjob",instance="f",a="2"')" 2 "--listen: the default group's series with job and instance"
is "$(val mixed 'job="fmt_other",instance="i",region="eu-west",a="9"')" 9 "--listen: one family from two groups"
is "$(val lat_count 'job="fmt_other",instance="i",region="eu-west",path="/x"')/$(val lat_count 'job="fmtjob",instance="f",path="/x"')" 1/2 "--listen: a histogram from two groups"
check "--listen: the agent's own metrics" grep -q '^collector_agent_up' "$T/pull.prom"
stop_pid "$apid" 10
is "$STOP_RC" 0 "--listen daemon: SIGTERM, exit 0"
[ "$STOP_RC" = 0 ] || diag_file "$T/pull.err"
[ -s "$T/pull.prom" ] || diag_file "$T/pull.err"
fake_stop

tap_done
