#!/usr/bin/env bash
# The protobuf exposition format, which alone carries native histograms:
#  - a group holding native histograms reaches a real Pushgateway as
#    delimited protobuf, gzip-compressed, and the gateway's own protobuf
#    /metrics gives back every native field (schema, zero bucket, spans,
#    deltas) and the agent's families; its text /metrics passes promtool;
#  - a gateway before 1.5.0 (a real one behind old_gateway.py, which drops
#    Content-Encoding) refuses the gzip body with its decoder's error, and
#    the same body goes again plain and arrives;
#  - pull mode: /metrics answers protobuf to a scraper that asks for it
#    (Content-Type, Vary), text otherwise (promtool), gzip either way;
#  - a real Prometheus 2.42 with native histograms on scrapes the agent and
#    the gateway in protobuf: the groups' series, and the native histogram's
#    count and sum.
# Until the spool folds native histograms, the group with them is made by
# tests/helpers/pb_put, which PUTs it through the gateway sink's own body
# (gwbody) and client (push_put_stream_as).
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway promtool
PB_PUT="$BUILD/tests/pb_put"
[ -x "$PB_PUT" ] || { echo "1..0 # SKIP $PB_PUT not built"; exit 0; }
command -v protoc >/dev/null || { echo "1..0 # SKIP protoc not installed"; exit 0; }
"$PY" -c 'import google.protobuf' 2>/dev/null ||
	{ echo "1..0 # SKIP $PY has no google.protobuf"; exit 0; }
mkdir "$T/py" && protoc --proto_path=agent --python_out="$T/py" agent/metrics.proto ||
	tap_bail "protoc --python_out agent/metrics.proto"

ACCEPT_PB='Accept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited'
CT_PB='application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited'
# pbq FILE [help]: the body's metrics, one sorted line each (pbquery.py)
pbq() { "$PY" "$INT_DIR/pbquery.py" "$T/py" "$@"; }
# header FILE NAME: the value of a response header curl -D saved
header() { tr -d '\r' <"$1" | awk -v n="$2" 'tolower($0) ~ "^" tolower(n) ": " { sub(/^[^:]*: /, ""); print }'; }
NATIVE='schema=3 zt=2.938735877055719e-39 zc=1 pspan=-2:5,7:1 pdelta=3,-2,-1,0,4,-3 nspan=0:1 ndelta=2'

gw_start || tap_bail "the gateway starts"

# ------------------------------------------------------ the gateway: PUT
out=$("$PB_PUT" "$GW_URL" pbjob 2>"$T/pb_put.err")
is "$?" 0 "a protobuf PUT with native histograms: delivered"
is "$out" "200 gzip=1 plain_next=0" "...in one request, gzip-compressed"
[ "$out" = "200 gzip=1 plain_next=0" ] || diag_file "$T/pb_put.err"
curl -s --max-time 10 -H "$ACCEPT_PB" "$GW_URL/metrics" -o "$T/gw.pb"
is "$(pbq "$T/gw.pb" | grep -F 'job="pbjob"' | grep '^app_')" \
"app_latency_seconds HISTOGRAM {instance=\"pb\",job=\"pbjob\",route=\"/n\"} count=12 sum=7.25 buckets= $NATIVE
app_latency_seconds HISTOGRAM {instance=\"pb\",job=\"pbjob\",route=\"/x\"} count=12 sum=7.25 buckets=1.0:4,5.0:10 $NATIVE
app_requests_total COUNTER {instance=\"pb\",job=\"pbjob\",path=\"/a\"} value=7.0" \
	"the gateway gives back every native field, the classic buckets and the counter"
is "$(pbq "$T/gw.pb" | grep -F 'job="pbjob"' | grep '^collector_agent_pushes_total')" \
'collector_agent_pushes_total COUNTER {instance="pb",job="pbjob",result="rejected"} value=0.0
collector_agent_pushes_total COUNTER {instance="pb",job="pbjob",result="retry"} value=0.0
collector_agent_pushes_total COUNTER {instance="pb",job="pbjob",result="success"} value=5.0' \
	"the agent's own families went in protobuf too"
is "$(pbq "$T/gw.pb" help | grep '^app_latency_seconds ')" "app_latency_seconds Latency." "HELP arrives"
curl -s --max-time 10 "$GW_URL/metrics" -o "$T/gw.txt"
check "the gateway's text /metrics passes promtool" promtool_check "$T/gw.txt"
is "$(grep -F 'route="/n"' "$T/gw.txt" | grep -F 'job="pbjob"' | grep -c '^app_latency_seconds_count.* 12$')" 1 \
	"the gateway's text shows the native-only histogram's count"

# ------------------------------------- the gateway before 1.5.0: fallback
stand_in old "$INT_DIR/old_gateway.py" http ready --upstream "$GW_PORT" --max-seconds 60 ||
	tap_bail "old_gateway.py starts"
out=$("$PB_PUT" "$SI_URL" oldjob 2>"$T/pb_put_old.err")
is "$?" 0 "an old gateway: the group is delivered"
is "$out" "400 gzip=1 plain_next=1
200 gzip=0 plain_next=0" "...after the gzip body was refused, plain at once"
check "the refusal was the gateway's protobuf decoder's" grep -qE 'unexpected EOF|proto:' "$T/pb_put_old.err"
is "$(awk '$1 == "PUT" { print $3, $4 }' "$SI_LOG")" "gzip 400
- 200" "the requests as the gateway got them"
curl -s --max-time 10 -H "$ACCEPT_PB" "$GW_URL/metrics" -o "$T/gw2.pb"
is "$(pbq "$T/gw2.pb" | grep -F 'job="oldjob"' | grep -c " $NATIVE\$")" 2 "...and the native fields arrived"
stop_pid "$SI_PID" 5

# --------------------------------------------------------- pull mode
export COLLECTOR_SPOOL="$T/pull.db"
"$CS" put --job web --grouping 'instance="h1"' '# HELP hits_total Hits.' '# TYPE hits_total counter' 'hits_total{path="/"} 7'
"$CS" put --job batch --grouping '' --op observe 'run_seconds 0.3' 'run_seconds 7'
"$CS" put --job batch --grouping '' '# TYPE q summary' 'q{quantile="0.5"} 2' 'q_sum 6' 'q_count 3'
lport=$(free_port)
L="http://127.0.0.1:$lport"
PROMETHEUS_PUSHGATEWAY_ENABLED=false agent_start pull --spool "$COLLECTOR_SPOOL" --listen "127.0.0.1:$lport"
apid=$AGENT_PID
folded() { curl -s --max-time 2 "$L/metrics" | grep -q '^hits_total'; }
if ! wait_until folded; then
	tap_fail "pull mode: the agent serves /metrics" "nothing on $L"
	diag_file "$T/pull.err"
	tap_done; exit 1
fi
curl -s --max-time 5 -D "$T/pb.hdr" -H "$ACCEPT_PB" "$L/metrics" -o "$T/pull.pb"
is "$(header "$T/pb.hdr" Content-Type)" "$CT_PB" "pull: Accept protobuf gets the protobuf content type"
is "$(header "$T/pb.hdr" Vary)" "Accept, Accept-Encoding" "pull: Vary names Accept"
is "$(pbq "$T/pull.pb" | grep -E '^(hits_total|q) ')" \
'hits_total COUNTER {instance="h1",job="web",path="/"} value=7.0
q SUMMARY {job="batch"} count=3 sum=6.0 quantiles=0.5:2.0' "pull: the groups' series with their labels, a summary as one metric"
is "$(pbq "$T/pull.pb" | awk '$1 == "run_seconds" { print $2, $3, $4, $5 }')" \
'HISTOGRAM {job="batch"} count=2 sum=7.3' "pull: an observed histogram"
is "$(pbq "$T/pull.pb" | grep '^collector_agent_up ')" 'collector_agent_up GAUGE {} value=1.0' "pull: the agent's own families"
is "$(pbq "$T/pull.pb" help | grep '^hits_total ')" "hits_total Hits." "pull: HELP"
curl -s --max-time 5 -D "$T/pbgz.hdr" --compressed -H "$ACCEPT_PB" "$L/metrics" -o "$T/pullgz.pb"
is "$(header "$T/pbgz.hdr" Content-Encoding)" gzip "pull: protobuf gzip-compressed when asked"
is "$(pbq "$T/pullgz.pb" | grep -c '^hits_total ')" 1 "...and decodes to the same series"
curl -s --max-time 5 -D "$T/txt.hdr" "$L/metrics" -o "$T/pull.txt"
is "$(header "$T/txt.hdr" Content-Type)" "text/plain; version=0.0.4; charset=utf-8" "pull: no Accept gets text"
check "pull: the text passes promtool" promtool_check "$T/pull.txt"
is "$(grep -c '^hits_total{job="web",instance="h1",path="/"} 7$' "$T/pull.txt")" 1 "pull: the text as before"

# ------------------------------ Prometheus with native histograms on
if [ -x "$PROM" ]; then
	pport=$(free_port)
	cat >"$T/prom-native.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: agentpull
    honor_labels: true
    static_configs: [ { targets: [ "127.0.0.1:$lport" ] } ]
  - job_name: gateway
    honor_labels: true
    static_configs: [ { targets: [ "127.0.0.1:$GW_PORT" ] } ]
YML
	"$PROM" --config.file="$T/prom-native.yml" --storage.tsdb.path="$T/tsdb" \
		--enable-feature=native-histograms \
		--web.listen-address="127.0.0.1:$pport" >"$T/prom.log" 2>&1 &
	ppid=$!
	track "$ppid"
	P="http://127.0.0.1:$pport"
	# pq EXPR: the vector's values, one "labels value" line each, sorted
	pq() { prom_query "$P" "$1"; }
	scraped() { [ "$(pq 'sum(up)')" = "{} 2" ] && [ -n "$(pq 'histogram_count(app_latency_seconds{job="pbjob"})')" ] &&
		[ -n "$(pq 'hits_total')" ]; }
	if wait_until -t 40 scraped; then
		tap_ok "Prometheus (native histograms on) scrapes the agent and the gateway"
	else
		tap_fail "Prometheus (native histograms on) scrapes the agent and the gateway" "$(pq up)"
		diag_file "$T/prom.log" 10
	fi
	is "$(pq 'hits_total')" 'hits_total{instance="h1",job="web",path="/"} 7' "Prometheus: the agent's series"
	is "$(pq 'histogram_count(app_latency_seconds{job="pbjob"})')" \
'{instance="pb",job="pbjob",route="/n"} 12
{instance="pb",job="pbjob",route="/x"} 12' "Prometheus: the native histograms' count"
	is "$(pq 'histogram_sum(app_latency_seconds{job="pbjob",route="/n"})')" \
		'{instance="pb",job="pbjob",route="/n"} 7.25' "Prometheus: the native histogram's sum"
	stop_pid "$ppid" 20
else
	for i in 1 2 3 4; do tap_skip "no $PROM: Prometheus scrapes in protobuf"; done
fi

stop_pid "$apid" 10
is "$STOP_RC" 0 "pull mode daemon: SIGTERM, exit 0"
gw_stop
tap_done
