#!/usr/bin/env bash
# Fault: a gateway that accepts the connection and never answers.
#
# silent_gateway.py accepts, reads and never writes. Checked: each request
# ends at `timeout` (the listener sees the agent close every connection it
# opened), the agent backs off (a bounded number of connections in a 10 s
# window with timeout=1, retry_min=0.2, retry_max=1), its memory does not
# grow (the anonymous memory of an agent retrying as fast as the settings allow, timeout
# 0.1 s, compared after warm-up and 10 s later), `--once` exits 75 within
# its once_timeout with the data kept; then the daemon is pointed at a real
# gateway with SIGHUP and delivers exactly what was written.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

WINDOW=10
# Each request lasts `timeout` (1 s) and the wait after it at least
# retry_min (0.2 s): connections are at least 1.2 s apart, so a window of E
# seconds (measured) holds at most floor(E / 1.2) + 1 of them. Without any
# backoff there would be one more.
# RSS growth allowed while the fast agent makes ~100 timed-out requests.
MAX_GROWTH_KIB=256

silent_start || tap_bail "the silent gateway starts"
slow_url=$SILENT_URL slow_log=$SILENT_LOG
silent_start || tap_bail "a second silent gateway starts"
fast_url=$SILENT_URL fast_log=$SILENT_LOG

export COLLECTOR_SPOOL="$T/hang.db"
LEDGERS=("$T/ledger")
writers_start 1 30 fault_hang 2 "$T/ledger"
writers_wait 60
is "$(writers_failures)" "" "the rows are written"

agent_conf "$T/slow.conf" "$slow_url" fault_agent hang interval=1 timeout=1 \
	retry_min=0.2 retry_max=1.0 once_timeout=3
agent_conf "$T/fast.conf" "$fast_url" fault_agent fast interval=1 timeout=0.1 \
	retry_min=0.01 retry_max=0.02 once_timeout=3
# The fast agent has a spool of its own, with the same rows.
cp "$T/hang.db" "$T/fast.db"
agent_start slow -c "$T/slow.conf"
slow_pid=$AGENT_PID
COLLECTOR_SPOOL="$T/fast.db" agent_start fast -c "$T/fast.conf"
fast_pid=$AGENT_PID

# accepts LOG: connections a silent gateway accepted so far
accepts() { grep -c ' accept$' "$1"; }
accepts_at_least() { [ "$(accepts "$1")" -ge "$2" ]; }
# Warm-up: the first requests have been made and timed out.
wait_until -t 10 accepts_at_least "$slow_log" 2
is "$?" 0 "the agent connects to the silent gateway, and again"
wait_until -t 10 accepts_at_least "$fast_log" 10
is "$?" 0 "the fast agent too"
rss1=$(rss_anon "$fast_pid")
t0=$(now_us)
c1=$(accepts "$slow_log")
f1=$(accepts "$fast_log")
sleep "$WINDOW"
c2=$(accepts "$slow_log")
elapsed=$(secs_since "$t0")
f2=$(accepts "$fast_log")
rss2=$(rss_anon "$fast_pid")
MAX_CONN=$(awk -v e="$elapsed" 'BEGIN { print int(e / 1.2) + 1 }')
conns=$((c2 - c1))
fconns=$((f2 - f1))
echo "# in $elapsed s: $conns connections (timeout 1, retry 0.2-1; at most $MAX_CONN); fast agent: $fconns (timeout 0.1)"
check "the agent retries against the silent gateway (>= 2 connections)" test "$conns" -ge 2
check "the agent backs off: at most $MAX_CONN connections in $elapsed s" test "$conns" -le "$MAX_CONN"
slow_closed=$(grep -c ' close ' "$slow_log")
slow_open=$(( $(accepts "$slow_log") - slow_closed ))
check "the agent closes every timed-out connection (open now: $slow_open)" test "$slow_open" -le 1
warns=$(grep -c 'msg="gateway unreachable; will retry"' "$T/slow.err")
reason=$(grep -m1 'msg="gateway unreachable; will retry"' "$T/slow.err" | sed 's/.*reason=//')
echo "# the agent's reason: $reason"
like "$reason" "imed out" "the log says the request timed out"
echo "# fast agent RssAnon: ${rss1} KiB after warm-up, ${rss2} KiB after $fconns more timed-out requests"
check "the fast agent made many timed-out requests (>= 20)" test "$fconns" -ge 20
if grep -q libasan "/proc/$fast_pid/maps" 2>/dev/null; then
	# ASan keeps freed memory in its quarantine: RSS grows with any churn.
	tap_skip "memory growth: an ASan build (its quarantine holds freed memory)"
else
	check "its anonymous memory grew by less than $MAX_GROWTH_KIB KiB" test $((rss2 - rss1)) -lt "$MAX_GROWTH_KIB"
fi
stop_pid "$fast_pid" 10
is "$STOP_RC" 0 "the fast agent stops on SIGTERM with exit 0 (its last push bounded)"

# --once against the silent gateway, on a spool of its own: the slow daemon
# holds hang.db, and one agent per spool is enforced.
export COLLECTOR_SPOOL="$T/once.db"
"$CS" put --job fault_once --grouping '' 'fault_once_gauge 1'
run_agent -c "$T/slow.conf" --once
is_rc 75 "--once against the silent gateway exits 75"
echo "# --once took $SECS s (once_timeout 3, timeout 1)"
# Bounded: run_agent's hang guard would have made the status 124.
like "$ERR" 'msg="gateway not reachable in time; everything is kept for the next run"' \
	"--once ends when once_timeout runs out, and says so"
like "$ERR" ' once_timeout=3 ' "...naming once_timeout"
check "the data is kept" test "$(spool_stat pending_rows)" -gt 0 -o "$(spool_stat dirty_groups)" -gt 0
export COLLECTOR_SPOOL="$T/hang.db"

# Point the daemon at a real gateway with SIGHUP.
if gw_start; then
	agent_conf "$T/slow.conf" "$GW_URL" fault_agent hang interval=1 timeout=1 \
		retry_min=0.2 retry_max=1.0 once_timeout=3
	kill -HUP "$slow_pid"
	ledger_now() { "$PY" "$LEDGER_PY" compare "$GW_URL" "${LEDGERS[@]}" >/dev/null 2>&1; }
	wait_until -t 20 ledger_now
	is "$?" 0 "after SIGHUP with the real gateway's URL the daemon delivers"
	grep -q 'msg="configuration reloaded"' "$T/slow.err"
	is "$?" 0 "the daemon logged the reload"
	stop_pid "$slow_pid" 10
	is "$STOP_RC" 0 "the daemon stops on SIGTERM with exit 0"
	ledger_matches "the gateway holds exactly what was written"
	gw_stop
else
	tap_fail "a real Pushgateway starts"
fi
echo "# hanging: connections_in_${WINDOW}s=$conns timeouts_logged=$warns fast_requests_in_${WINDOW}s=$fconns rss_kib=$rss1->$rss2 rows=$(ledger_rows rows) series_compared=${COMPARED:-0}"
tap_done
