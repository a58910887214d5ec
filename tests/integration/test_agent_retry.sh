#!/usr/bin/env bash
# collector-agent when the gateway is down, busy or refuses: --once exit
# statuses 75 and 65, data kept in the spool, retries with backoff (against
# the scripted fake gateway), parking on 4xx (fake and real TYPE clash), and
# the daemon through a gateway outage with a writer adding all along.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

# spool_kept: the spool still holds the rows, or their folded state unpushed
spool_kept() {
	"$CS" stats --json | "$PY" -c 'import json, sys
d = json.load(sys.stdin)
sys.exit(0 if d["pending_rows"] >= 1 or (d["series"] >= 2 and d["dirty_groups"] >= 1) else 1)'
}

# ------------------------------------------- gateway down, then back up
port=$(free_port)
agent_conf "$T/down.conf" "http://127.0.0.1:$port" rjob r once_timeout=3
export COLLECTOR_SPOOL="$T/down.db"
"$CS" put --job down --grouping 'instance="r"' --op add 'd_total 1'
"$CS" put --job down --grouping 'instance="r"' 'd_gauge 5'
run_agent -c "$T/down.conf" --once
is_rc 75 "gateway down: --once exits 75"
echo "# --once with the gateway down took $SECS s (once_timeout 3)"
# Bounded: run_agent's hang guard would have made the status 124.
like "$ERR" 'msg="gateway not reachable in time; everything is kept for the next run" url=http://127.0.0.1:'"$port"' once_timeout=3 ' \
	"gateway down: --once gives up when once_timeout runs out, and says so"
check "gateway down: the data is kept" spool_kept
"$CS" stats --json | sed 's/^/# stats: /'

# A gateway that accepts the connection and never answers: once_timeout
# bounds --once even though one request may take `timeout` (30 s here).
hport=$(free_port)
"$PY" -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(60)' "$hport" &
hang_pid=$!
track "$hang_pid"
agent_conf "$T/hang.conf" "http://127.0.0.1:$hport" hjob h once_timeout=2 timeout=30
run_agent -c "$T/hang.conf" --once
is_rc 75 "silent gateway: --once exits 75"
echo "# --once against a silent gateway took $SECS s (once_timeout 2, timeout 30)"
like "$ERR" 'msg="gateway not reachable in time; everything is kept for the next run" url=http://127.0.0.1:'"$hport"' once_timeout=2 ' \
	"silent gateway: --once ends on once_timeout, and says so"
# The request's own timeout (30 s) must not have been waited out.
check "silent gateway: once_timeout caps the request (< 25 s, not 30)" less_than "$SECS" 25
check "silent gateway: the data is kept" spool_kept
stop_pid "$hang_pid" 5
"$CS" put --job down --grouping 'instance="r"' --op add 'd_total 2'
run_agent -c "$T/down.conf" --once
is_rc 75 "gateway still down: 75 again"
gw_start "$port" || tap_fail "the gateway starts on port $port"
run_agent -c "$T/down.conf" --once
is_rc 0 "gateway back: --once exits 0"
is "$(gw_value down 'instance="r"' d_total)" 3 "gateway back: adds from both failed runs (1 + 2)"
is "$(gw_value down 'instance="r"' d_gauge)" 5 "gateway back: the set value"
check "gateway back: no default group (--once sends nothing for itself)" gw_absent rjob 'instance="r"'
is "$(spool_stat dirty_groups)" 0 "gateway back: nothing dirty"

# ------------------------------------- TYPE clash on the real gateway: 400
agent_conf "$T/clash.conf" "$GW_URL" cjob c retry_max=30
export COLLECTOR_SPOOL="$T/clash.db"
"$CS" put --job clash --grouping 'g="a"' '# TYPE x counter' 'x 1'
"$CS" put --job clash --grouping 'g="b"' '# TYPE x gauge' 'x 2'
run_agent -c "$T/clash.conf" --once
is_rc 65 "TYPE clash: --once exits 65"
a=$(gw_value clash 'g="a"' x); b=$(gw_value clash 'g="b"' x)
echo "# clash: g=a x=$a, g=b x=$b"
case "$a,$b" in
1,absent) refused=b; tap_ok "TYPE clash: exactly one group is on the gateway" ;;
absent,2) refused=a; tap_ok "TYPE clash: exactly one group is on the gateway" ;;
*) refused=b; tap_fail "TYPE clash: exactly one group is on the gateway" "g=a: $a, g=b: $b" ;;
esac
warn=$(grep 'level=warn' "$AGENT_ERR_FILE")
like "$warn" "inconsistent with existing metrics" "TYPE clash: a level=warn line with the gateway's message"
is "$(spool_stat parked_groups)" 1 "TYPE clash: stats shows one parked group"
is "$(spool_stat series)" 2 "TYPE clash: both groups' data kept"
# The operator deletes the refused group: it goes, and nothing is parked.
"$CS" delete --job clash --grouping "g=\"$refused\""
run_agent -c "$T/clash.conf" --once
is_rc 0 "after deleting the refused group: exit 0"
check "the refused group is gone from the gateway" gw_absent clash "g=\"$refused\""
check "the accepted group stays" gw_present clash "g=\"$([ $refused = a ] && echo b || echo a)\""
is "$(spool_stat parked_groups)" 0 "nothing parked any more"
gw_stop

# ------------------------------------------------ 503, 503, 503, then 200
fake_start --answers 503,503,503,200 --match /job/f503/
agent_conf "$T/f503.conf" "$FAKE_URL" fjob f once_timeout=10 retry_min=0.2 retry_max=1.0
export COLLECTOR_SPOOL="$T/f503.db"
"$CS" put --job f503 --grouping 'instance="x"' 'v 1'
run_agent -c "$T/f503.conf" --once
is_rc 0 "503 three times, then 200: --once exits 0"
is "$(fake_count PUT /metrics/job/f503/instance/x)" 4 "exactly 4 PUTs of the group"
is "$(fake_statuses PUT /metrics/job/f503/instance/x)" 503,503,503,200 "answered 503, 503, 503, 200"
echo "# gaps between the PUTs (s): $(fake_gaps PUT /metrics/job/f503/instance/x); --once took $SECS s"
is "$(spool_stat dirty_groups)" 0 "delivered: nothing dirty"
fake_stop

# Retry-After is honoured: 1 s, where the backoff alone would wait ~0.1 s.
fake_start --answers 503,200 --match /job/fra/ --retry-after 1
agent_conf "$T/fra.conf" "$FAKE_URL" fjob f once_timeout=10 retry_min=0.1 retry_max=2.0
export COLLECTOR_SPOOL="$T/fra.db"
"$CS" put --job fra --grouping 'instance="x"' 'v 1'
run_agent -c "$T/fra.conf" --once
is_rc 0 "503 with Retry-After: 1, then 200: exit 0"
is "$(fake_count PUT /metrics/job/fra/instance/x)" 2 "Retry-After: 2 PUTs"
gap=$(fake_gaps PUT /metrics/job/fra/instance/x)
echo "# gap after Retry-After: 1: $gap s"
check "Retry-After: 1 honoured (gap >= 0.9 s)" less_than 0.9 "${gap:-0}"
fake_stop

# A Retry-After longer than retry_max is cut to retry_max: one proxy's
# word does not silence the agent for an hour.
fake_start --answers 503,200 --match /job/frl/ --retry-after 999999999
agent_conf "$T/frl.conf" "$FAKE_URL" fjob f once_timeout=10 retry_min=0.1 retry_max=1.5
export COLLECTOR_SPOOL="$T/frl.db"
"$CS" put --job frl --grouping 'instance="x"' 'v 1'
run_agent -c "$T/frl.conf" --once
is_rc 0 "503 with Retry-After: 999999999, then 200: exit 0 within once_timeout"
like "$(grep 'msg="gateway unreachable; will retry"' "$AGENT_ERR_FILE")" "retry_in=1.500" \
	"the wait is retry_max (1.5 s), not the server's 31 years"
fake_stop

# 429 is retried like 503.
fake_start --answers 429,200 --match /job/f429/
agent_conf "$T/f429.conf" "$FAKE_URL" fjob f once_timeout=10 retry_min=0.1 retry_max=1.0
export COLLECTOR_SPOOL="$T/f429.db"
"$CS" put --job f429 --grouping 'instance="x"' 'v 1'
run_agent -c "$T/f429.conf" --once
is_rc 0 "429, then 200: exit 0"
is "$(fake_statuses PUT /metrics/job/f429/instance/x)" 429,200 "429 retried"
fake_stop

# --------------------------------------------- 400: parked, data kept
msg='text format parsing error in line 1: expected float as value, got "metric"'
fake_start --answers 400 --match /job/f400/ --body "$msg"
agent_conf "$T/f400.conf" "$FAKE_URL" fjob f once_timeout=3 retry_max=30
export COLLECTOR_SPOOL="$T/f400.db"
"$CS" put --job f400 --grouping 'instance="x"' 'p{c="1"} 1' 'p{c="2"} 2'
run_agent -c "$T/f400.conf" --once
is_rc 65 "400 from the gateway: --once exits 65"
echo "# --once with a 400 took $SECS s"
like "$(grep 'level=warn' "$AGENT_ERR_FILE")" "text format parsing error in line 1" "400: a level=warn line with the gateway's message"
is "$(fake_count PUT /metrics/job/f400/instance/x)" 1 "400: one PUT, not hammered"
is "$(spool_stat parked_groups)" 1 "400: stats shows the group parked"
is "$(spool_stat series)" 2 "400: the group's 2 series kept"
fake_stop
# The group changes, the gateway accepts: the PUT carries old and new data.
fake_start --save-bodies "$T/bodies400"
agent_conf "$T/f400b.conf" "$FAKE_URL" fjob f once_timeout=3 retry_max=30
"$CS" put --job f400 --grouping 'instance="x"' 'p{c="3"} 3'
run_agent -c "$T/f400b.conf" --once
is_rc 0 "the parked group changed, the gateway accepts: exit 0"
body=$(awk '$3 == "/metrics/job/f400/instance/x" { f = $1 "-" $2 ".body" } END { print f }' "$T/bodies400/index" 2>/dev/null)
if [ -n "$body" ]; then
	got=""
	for c in 1 2 3; do got="$got $("$PY" "$INT_DIR/check_body.py" --value "$T/bodies400/$body" p "c=\"$c\"")"; done
	is "${got# }" "1 2 3" "the PUT after the 400 carries the kept series and the new one"
else
	tap_fail "the PUT after the 400 carries the kept series and the new one" "no PUT of the group"
fi
is "$(spool_stat parked_groups)" 0 "nothing parked after the accepted push"
fake_stop

# The park reason says the status once: a redirect's message and an
# empty answer's carry it already.
park_reason() {
	"$CS" stats --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["parked"][0]["reason"])'
}
fake_start --answers 301 --match /job/f301/
agent_conf "$T/f301.conf" "$FAKE_URL" fjob f once_timeout=3 retry_max=30
export COLLECTOR_SPOOL="$T/f301.db"
"$CS" put --job f301 --grouping 'instance="x"' 'v 1'
run_agent -c "$T/f301.conf" --once
is_rc 65 "301 from the gateway: parked, exit 65"
is "$(park_reason)" "HTTP 301: redirect not followed (check the gateway URL)" \
	"301: the reason says the status once"
fake_stop
fake_start --answers 404 --match /job/f404/ --body ""
agent_conf "$T/f404.conf" "$FAKE_URL" fjob f once_timeout=3 retry_max=30
export COLLECTOR_SPOOL="$T/f404.db"
"$CS" put --job f404 --grouping 'instance="x"' 'v 1'
run_agent -c "$T/f404.conf" --once
is_rc 78 "404 with an empty body: the configuration (pushgateway.url), exit 78"
like "$ERR" 'msg="the gateway has no such path (HTTP 404); check pushgateway.url" op=push url='"$FAKE_URL"'/metrics/job/f404/instance/x code=404 reason="HTTP 404"' \
	"404 with no words: the reason is the status, once, and the URL requested is named"
fake_stop

# ------------------------------------------- a DELETE the gateway refuses
fake_start --delete-answers 400 --match /job/fdel/ --body "no such thing"
agent_conf "$T/fdel.conf" "$FAKE_URL" fjob f once_timeout=3 retry_max=30
export COLLECTOR_SPOOL="$T/fdel.db"
"$CS" delete --job fdel --grouping 'instance="x"'
run_agent -c "$T/fdel.conf" --once
is_rc 65 "refused DELETE: --once exits 65"
is "$(fake_count DELETE /metrics/job/fdel/instance/x)" 1 "refused DELETE: sent once, not hammered"
is "$(spool_stat delete_pending_groups)" 1 "refused DELETE: the request is kept"
fake_stop

# ------------------------- daemon through a 5 s outage, writer adding all along
gw_start || tap_fail "the gateway starts"
port=$GW_PORT
agent_conf "$T/outage.conf" "$GW_URL" ojob o interval=1 retry_min=0.2 retry_max=1.0 timeout=2
export COLLECTOR_SPOOL="$T/outage.db"
"$CS" put --job outage --grouping 'instance="s"' 'static_value 7'
agent_start outage -c "$T/outage.conf"
apid=$AGENT_PID
wait_until gw_is 7 outage 'instance="s"' static_value
is "$?" 0 "daemon: a static group arrives"
: >"$T/writer.fail"
(
	for i in $(seq 200); do
		"$CS" put --job outage --grouping 'instance="w"' --op add 'writes_total 1' ||
			echo "put $i failed" >>"$T/writer.fail"
		sleep 0.05
	done
) &
writer=$!
track "$writer"
wait_until gw_present outage 'instance="w"'
is "$?" 0 "daemon: the writer's group arrives"
sleep 1
before=$(gw_value outage 'instance="w"' writes_total)
echo "# stopping the gateway for 5 s; writes_total is $before there now"
check "the writer is still adding when the gateway stops ($before of 200)" kill -0 "$writer"
gw_stop
sleep 5
check "daemon: still running during the outage" kill -0 "$apid"
gw_start "$port"
is "$?" 0 "a new gateway on the same port"
wait_exit "$writer" 180
is "$?" 0 "the writer finished"
is "$(cat "$T/writer.fail")" "" "every put succeeded"
wait_until -t 30 gw_is 200 outage 'instance="w"' writes_total
is "$?" 0 "after the outage the gateway shows exactly 200 adds"
echo "# writes_total: $(gw_value outage 'instance="w"' writes_total)"
wait_until -t 15 gw_is 7 outage 'instance="s"' static_value
is "$?" 0 "an unchanged group is pushed again to the new gateway"
check "the default group is back too" gw_present ojob 'instance="o"'
sleep 1.5
is "$(gw_value outage 'instance="w"' writes_total)" 200 "still 200 (nothing counted twice)"
grep -c 'level=warn\|level=error' "$T/outage.err" | sed 's/^/# warn or error lines during the outage: /'
stop_pid "$apid" 10
is "$STOP_RC" 0 "daemon: SIGTERM, exit 0"
is "$STOP_KILLED" 0 "daemon: ended without KILL"
[ "$STOP_RC" = 0 ] || diag_file "$T/outage.err"
gw_stop

tap_done
