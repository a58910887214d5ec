#!/usr/bin/env bash
# Remote write when a sink is only half there, with a real VictoriaMetrics
# and a real Pushgateway behind flaky_proxy.py:
#   - a receiver that refuses every second request (429), so that no round
#     ever gets through whole: the agent's own metrics still arrive (they
#     go first), a deleted group's staleness marker still arrives (owed
#     markers go first, in requests of their own), and the backoff is not
#     reset by the requests that got through;
#   - a gateway that takes 0.7 s per PUT while the agent pushes 9 groups:
#     remote write still goes out during those pushes (the two sinks share
#     one loop, and a gateway round gives way when remote write is due);
#   - a receiver that takes 1 s a request: SIGHUP and SIGTERM are taken
#     between two requests of a remote-write round.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway
[ -x "$VM" ] || { echo "1..0 # SKIP $VM not installed"; exit 0; }

vm_start || tap_bail "VictoriaMetrics starts"
vport=$VM_PORT vpid=$VM_PID VMURL=$VM_URL

vm_is() { [ "$(vm_last "$VMURL" "$1")" = "$2" ]; }

# ------------------------- a receiver that refuses every second request
proxy_start half --upstream "$VMURL" --refuse-every 2 --refuse-status 429 ||
	tap_bail "the proxy starts"
export COLLECTOR_SPOOL="$T/half.db"
lines=()
for i in 0 1 2 3 4 5 6 7 8 9; do lines+=("stay_gauge{n=\"$i\"} $i"); done
"$CS" put --job stay --grouping '' "${lines[@]}"
"$CS" put --job gone --grouping '' 'gone_gauge 7'
# 44 of the agent's own and 11 series: two requests a round, of which the
# proxy refuses one.
agent_conf "$T/half.conf" "http://127.0.0.1:1" hj hi enabled=false retry_min=0.2 retry_max=1.0
echo "remote_write: { url = \"$PROXY_URL/api/v1/write\"; max_samples_per_send = 49; };" >>"$T/half.conf"
agent_start half -c "$T/half.conf"
apid=$AGENT_PID
check "the agent's own metrics arrive although no round gets through whole" \
	wait_until -t 20 vm_is 'collector_agent_up' 'collector_agent_up{instance="hi",job="hj"} 1.0'
check "a group's series arrive (the first request of a round)" \
	wait_until -t 20 vm_is '{job="gone"}' 'gone_gauge{job="gone"} 7.0'
"$CS" delete --job gone --grouping ''
check "the deleted group's staleness marker arrives" \
	wait_until -t 20 vm_is '{job="gone"}' 'gone_gauge{job="gone"} stale'
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
retries=$(grep -c 'msg="remote write receiver unreachable; will retry" code=429' "$T/half.err")
check "requests were refused and retried ($retries)" less_than 2 "$retries"
check "the agent logged the one marker sent" \
	grep -q 'msg="remote write: staleness markers sent" series=1' "$T/half.err"
# The backoff grows while rounds fail: with retry_min 0.2 and retry_max 1.0
# the n-th wait is drawn from [0.2, min(1.0, 0.2*2^n)]; reset by every
# request that got through, it would never exceed 0.4.
longest=$(grep -o 'code=429 reason="rate limited" retry_in=[0-9.]*' "$T/half.err" | sed 's/.*=//' | sort -n | tail -1)
check "the backoff grows past 0.4 s (longest wait $longest s)" less_than 0.4 "${longest:-0}"

# --------------------- a slow gateway does not hold remote write back
gw_start || tap_bail "gateway starts"
proxy_start slowgw --upstream "$GW_URL" --delay-method PUT --delay 0.7 ||
	tap_bail "the gateway proxy starts"
GWP_URL=$PROXY_URL GWP_LOG=$PROXY_LOG
proxy_start rwlog --upstream "$VMURL" || tap_bail "the receiver proxy starts"
export COLLECTOR_SPOOL="$T/slow.db"
for g in 1 2 3 4 5 6 7 8; do "$CS" put --job "slow$g" --grouping '' "slow_gauge $g"; done
agent_conf "$T/slow.conf" "$GWP_URL" sj si
echo "remote_write: { url = \"$PROXY_URL/api/v1/write\"; };" >>"$T/slow.conf"
agent_start slow -c "$T/slow.conf"
spid=$AGENT_PID
# The heartbeat goes too, between them once the round is longer than the
# interval: count the 8 groups' PUTs only.
puts_ok() { [ "$(awk '$2 == "PUT" && $3 ~ /^\/metrics\/job\/slow/ && $4 == 200' "$GWP_LOG" | wc -l)" -ge 8 ]; }
check "the gateway gets all 8 groups, 0.7 s each" wait_until -t 30 puts_ok
first_put=$(awk '$2 == "PUT" { print $1; exit }' "$GWP_LOG")
last_put=$(awk '$2 == "PUT" && $3 ~ /^\/metrics\/job\/slow/ && ++n == 8 { print $1 }' "$GWP_LOG")
during=$(awk -v a="$first_put" -v b="$last_put" '$2 == "POST" && $1 > a && $1 < b { n++ } END { print n + 0 }' "$PROXY_LOG")
echo "# first PUT at $first_put, the 8th group's at $last_put; remote-write requests between: $during"
check "remote write goes on while the gateway's pushes take their time ($during requests)" \
	less_than 1 "$during"
is "$(gw_value slow8 '' slow_gauge)" 8 "the last group reached the gateway"
stop_pid "$spid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
gw_stop

# --------------------- signals during a long remote-write round
# A receiver that takes 1 s a request, 10 samples a request: a round of
# about 9 s, longer than the interval, so a round is always due. SIGHUP and
# SIGTERM are taken at the next request.
proxy_start slowrw --upstream "$VMURL" --delay-method POST --delay 1 ||
	tap_bail "the slow receiver's proxy starts"
export COLLECTOR_SPOOL="$T/slowrw.db"
lines=()
for i in $(seq 0 39); do lines+=("slowrw_gauge{n=\"$i\"} $i"); done
"$CS" put --job slowrw --grouping '' "${lines[@]}"
agent_conf "$T/slowrw.conf" "http://127.0.0.1:1" rj ri enabled=false
echo "remote_write: { url = \"$PROXY_URL/api/v1/write\"; max_samples_per_send = 10; };" >>"$T/slowrw.conf"
agent_start slowrw -c "$T/slowrw.conf"
rpid=$AGENT_PID
posts() { [ "$(grep -c ' POST ' "$PROXY_LOG")" -ge "$1" ]; }
check "the long round begins" wait_until -t 20 posts 2
kill -HUP "$rpid"
check "SIGHUP during the round: reloaded at the next request" \
	wait_until -t 5 grep -q 'msg="configuration reloaded"' "$T/slowrw.err"
wait_until -t 20 posts 4
stop_pid "$rpid" 8
is "$STOP_RC/$STOP_KILLED" "0/0" "SIGTERM during the round: it ends at the next request, exit 0"
stop_pid "$vpid" 10
tap_done
