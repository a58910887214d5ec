#!/usr/bin/env bash
# Remote write from the agent to real receivers from Debian: VictoriaMetrics
# 1.79 and Prometheus 2.42 (--web.enable-remote-write-receiver). Values and
# label sets read back through their query APIs must equal what was written;
# a receiver that is down is retried with backoff and gets the last state
# when it is back, while the gateway goes on; 429 and 503 are retried after
# Retry-After; a 4xx drops one request; --once exits 75 when the receiver
# cannot be reached.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway
PROM=${PROM:-/usr/bin/prometheus}
[ -x "$VM" ] || { echo "1..0 # SKIP $VM not installed"; exit 0; }
[ -x "$PROM" ] || { echo "1..0 # SKIP $PROM not installed"; exit 0; }

vm_series() { vm_last "http://127.0.0.1:$1" "$2"; }
export COLLECTOR_SPOOL="$T/rw.db"
"$CS" put --job web --grouping 'instance="h1"' '# TYPE hits_total counter' \
	'hits_total{path="/a \"q\" \\ b",instance="ignored"} 7' 'temp -1.5'
"$CS" put --job batch --grouping '' --op observe 'run_seconds 0.3' 'run_seconds 7'
# Two groups that give the same series once the group's labels are put on:
# sent twice, Prometheus would refuse the whole request (duplicate sample).
"$CS" put --job dupe --grouping '' 'm_dupe{instance="x"} 1'
"$CS" put --job dupe --grouping 'instance="x"' 'm_dupe 2'

# ------------------------------------------------------ VictoriaMetrics
vport=$(free_port)
vm_start "$vport" || tap_bail "VictoriaMetrics starts"
PROMETHEUS_PUSHGATEWAY_ENABLED=false run_agent --spool "$COLLECTOR_SPOOL" \
	--remote-write "http://127.0.0.1:$vport/api/v1/write" --once --log-level debug
is_rc 0 "--once to VictoriaMetrics: exit 0"
like "$ERR" 'msg="remote write sent" samples=61' "one request of 61 samples (12 buckets, sum, count, 3 series; 44 of the agent's own)"
# max_samples_per_send caps each request; all of them arrive. The run
# before sent the agent's own 44 series under another job and instance:
# gone now, they get their staleness markers after the samples, in
# requests of their own.
agent_conf "$T/b.conf" "http://127.0.0.1:1" bj bi enabled=false
echo "remote_write: { url = \"http://127.0.0.1:$vport/api/v1/write\"; max_samples_per_send = 5; };" >>"$T/b.conf"
run_agent -c "$T/b.conf" --once
is_rc 0 "--once in batches of 5: exit 0"
is "$(grep -o 'msg="remote write sent" samples=[0-9]*' "$AGENT_ERR_FILE" | sed 's/.*=//' | paste -sd, -)" \
	"5,5,5,5,5,5,5,5,5,5,5,5,1,5,5,5,5,5,5,5,5,4" "61 samples in requests of 5, the last of 1; then 44 markers"
is "$(markers "$AGENT_ERR_FILE")" 44 "the markers are the first run's own series"
# vm_is PORT MATCH WANT: for wait_until (the flush takes a moment).
vm_is() { [ "$(vm_series "$1" "$2")" = "$3" ]; }
want_web='hits_total{instance="h1",job="web",path="/a \"q\" \\ b"} 7.0
temp{instance="h1",job="web"} -1.5'
wait_until vm_is "$vport" '{job="web"}' "$want_web"
is "$(vm_series "$vport" '{job="web"}')" "$want_web" \
	"VictoriaMetrics: values and labels exact (escapes undone, the group's instance wins)"
is "$(vm_series "$vport" '{__name__=~"run_seconds_(sum|count)|run_seconds_bucket",le=~"|0.5|10|\\+Inf"}')" \
	'run_seconds_bucket{job="batch",le="+Inf"} 2.0
run_seconds_bucket{job="batch",le="0.5"} 1.0
run_seconds_bucket{job="batch",le="10"} 2.0
run_seconds_count{job="batch"} 2.0
run_seconds_sum{job="batch"} 7.3' "VictoriaMetrics: an observed histogram, cumulative"

# ------------------------------- more labels than receivers take by default
labs=$(for i in $(seq -w 1 29); do printf 'l%s="v%s",' "$i" "$i"; done)
COLLECTOR_SPOOL="$T/wide.db" "$CS" put --job wide --grouping '' "wide_gauge{${labs%,}} 1"
PROMETHEUS_PUSHGATEWAY_ENABLED=false run_agent --spool "$T/wide.db" \
	--remote-write "http://127.0.0.1:$vport/api/v1/write" --once
is_rc 0 "a series with 31 labels (29, job, __name__): exit 0"
like "$ERR" 'msg="series with more labels than remote-write receivers take by default (VictoriaMetrics drops the rest silently, Mimir refuses the series)" series=1 max_labels=30' \
	"the agent warns about it"
wide_labels() {
	curl -s --max-time 5 "http://127.0.0.1:$vport/internal/force_flush" >/dev/null
	curl -s --max-time 5 "http://127.0.0.1:$vport/api/v1/export" --data-urlencode 'match[]=wide_gauge' |
		"$PY" -c 'import json, sys; print(" ".join(str(len(json.loads(l)["metric"])) for l in sys.stdin if l.strip()))'
}
wide_is() { [ "$(wide_labels)" = "$1" ]; }
check "VictoriaMetrics 1.79 keeps 30 of the 31 labels, as the warning says" wait_until wide_is 30

# ------------------------------------------------------------- Prometheus
prom_rw_start || tap_bail "Prometheus starts"
pport=$PROM_PORT ppid=$PROM_PID
PROMETHEUS_PUSHGATEWAY_ENABLED=false run_agent --spool "$COLLECTOR_SPOOL" \
	--remote-write "http://127.0.0.1:$pport/api/v1/write" --once
is_rc 0 "--once to Prometheus: exit 0"
pq() { prom_query "http://127.0.0.1:$pport" "$1"; }
is "$(pq '{job="web"}')" 'hits_total{instance="h1",job="web",path="/a \"q\" \\ b"} 7
temp{instance="h1",job="web"} -1.5' "Prometheus: values and labels exact"
is "$(pq 'run_seconds_count')" 'run_seconds_count{job="batch"} 2' "Prometheus: the histogram's count"
is "$(pq 'm_dupe')" 'm_dupe{instance="x",job="dupe"} 1' "Prometheus: a series two groups give is sent once (the first group's)"

# ------------------------------- a receiver that is down, then back; the gateway goes on
gw_start || tap_fail "gateway starts"
dport=$(free_port)
agent_conf "$T/d.conf" "$GW_URL" dj di
echo "remote_write: { url = \"http://127.0.0.1:$dport/api/v1/write\"; timeout = 1; };" >>"$T/d.conf"
"$CS" put --job live --grouping '' 'live_gauge 1'
agent_start d -c "$T/d.conf"
apid=$AGENT_PID
check "receiver down: the gateway still gets the groups" wait_until gw_is 1 live '' live_gauge
check "receiver down: the agent says it will retry" \
	wait_until grep -q 'msg="remote write receiver unreachable; will retry"' "$T/d.err"
"$CS" put --job live --grouping '' 'live_gauge 2'
check "receiver down: the gateway gets the change" wait_until gw_is 2 live '' live_gauge
vm_start "$dport"
back() { [ "$(vm_series "$dport" '{job="live"}')" = 'live_gauge{job="live"} 2.0' ]; }
check "receiver back: it gets the last state (live_gauge 2)" wait_until -t 20 back
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
stop_pid "$VM_PID" 10

# ---------------------------------------------- a 4xx drops one request
fake_start --answers 400,204 --match /metrics/job/rw --body "out of bounds"
agent_conf "$T/f.conf" "http://127.0.0.1:1" fj fi enabled=false
echo "remote_write: { url = \"$FAKE_URL/metrics/job/rw\"; };" >>"$T/f.conf"
lport=$(free_port)
agent_start f -c "$T/f.conf" --listen "127.0.0.1:$lport"
fpid=$AGENT_PID
two() { case "$(fake_statuses POST /metrics/job/rw)" in 400,204*) return 0 ;; esac; return 1; }
check "a 400, then the next interval's request: 204" wait_until two
sm() { curl -s --max-time 5 "http://127.0.0.1:$lport/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
is "$(sm 'collector_agent_remote_write_requests_total{result="rejected"}')/$(sm 'collector_agent_remote_write_samples_total{result="dropped"}')" \
	"1/62" "self-metrics: one request rejected, its 62 samples dropped"
succeeded() { [ "$(sm 'collector_agent_remote_write_requests_total{result="success"}')" -ge 1 ] 2>/dev/null; }
check "self-metrics: requests succeeded since" wait_until succeeded
stop_pid "$fpid" 10
like "$(cat "$T/f.err")" 'msg="remote write receiver refused a request; its samples are dropped, as the protocol says" samples=62 code=400 reason="out of bounds"' \
	"the 400 is logged with the receiver's words"
fake_stop

# ------------------- 429 and 503 are retried; Retry-After is honoured
fake_start --answers 429,503,204 --match /metrics/job/rw --retry-after 1
agent_conf "$T/ra.conf" "http://127.0.0.1:1" raj rai enabled=false once_timeout=10 retry_min=0.1 retry_max=2.0
echo "remote_write: { url = \"$FAKE_URL/metrics/job/rw\"; };" >>"$T/ra.conf"
run_agent -c "$T/ra.conf" --once
is_rc 0 "--once, 429 then 503 (each with Retry-After: 1), then 204: exit 0"
is "$(fake_statuses POST /metrics/job/rw)" "429,503,204" "the same round sent three times"
gaps=$(fake_gaps POST /metrics/job/rw)
echo "# gaps between the POSTs (s): $gaps"
check "Retry-After: 1 honoured after the 429 (gap >= 0.9 s)" less_than 0.9 "${gaps%% *}"
check "... and after the 503" less_than 0.9 "${gaps##* }"
like "$ERR" 'msg="remote write receiver unreachable; will retry" code=429' "the 429 is logged as a retry"
fake_stop

# ------------------------------------------ --once and a refusing receiver
fake_start --answers 400 --match /metrics/job/rw --body "out of bounds"
agent_conf "$T/r.conf" "http://127.0.0.1:1" rj ri enabled=false
echo "remote_write: { url = \"$FAKE_URL/metrics/job/rw\"; };" >>"$T/r.conf"
run_agent -c "$T/r.conf" --once
is_rc 65 "--once, the receiver refuses the samples: exit 65"
like "$ERR" 'msg="the remote write receiver refused some samples; they are dropped, as the protocol says"' "--once says they are dropped"
fake_stop

# ------------------------------------- --once and an unreachable receiver
agent_conf "$T/u.conf" "http://127.0.0.1:1" uj ui enabled=false once_timeout=2
echo "remote_write: { url = \"http://127.0.0.1:$dport/api/v1/write\"; timeout = 1; };" >>"$T/u.conf"
run_agent -c "$T/u.conf" --once
is_rc 75 "--once, receiver unreachable: exit 75"
like "$ERR" 'msg="remote write receiver not reachable in time; the state is kept for the next run"' "--once says so"
stop_pid "$ppid" 10
gw_stop
tap_done
