#!/usr/bin/env bash
# systemd's Type=notify protocol, with a stand-in for systemd's socket:
# READY=1 once the spool is open and folded, WATCHDOG=1 as often as
# WATCHDOG_USEC asks, RELOADING=1 then READY=1 around SIGHUP, STOPPING=1 at
# SIGTERM; and nothing at all without NOTIFY_SOCKET.
set -u
. "$(dirname "$0")/lib.sh"
need agent

"$PY" "$INT_DIR/notify_listen.py" "$T/notify.sock" "$T/notify.log" 60 &
lpid=$!
track "$lpid"
wait_until test -S "$T/notify.sock"
agent_conf "$T/n.conf" "http://127.0.0.1:1" nj ni enabled=false
export COLLECTOR_SPOOL="$T/n.db"
"$CS" put 'x 1'
# WATCHDOG_USEC=1000000: a ping at least every half second.
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=1000000 agent_start n -c "$T/n.conf"
apid=$AGENT_PID
check "READY=1 arrives" wait_until grep -qx 'READY=1' "$T/notify.log"
pings() { test "$(grep -cx 'WATCHDOG=1' "$T/notify.log")" -ge "$1"; }
said() { test "$(grep -vx 'WATCHDOG=1' "$T/notify.log" | tr '\n' ' ')" = "$1"; }
check "WATCHDOG=1 pings arrive (three of them)" wait_until pings 3
kill -HUP "$apid"
check "SIGHUP: RELOADING=1 then READY=1" \
	wait_until said "LISTENING READY=1 RELOADING=1 READY=1 "
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
# The listener writes what it receives on its own time: wait for it.
check "the whole sequence, watchdog pings aside" \
	wait_until said "LISTENING READY=1 RELOADING=1 READY=1 STOPPING=1 "
# WATCHDOG_PID names another process: no pings for us.
: >"$T/notify.log"
NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=200000 WATCHDOG_PID=1 agent_start n2 -c "$T/n.conf"
apid=$AGENT_PID
wait_until grep -qx 'READY=1' "$T/notify.log"
stop_pid "$apid" 10
is "$(grep -cx 'WATCHDOG=1' "$T/notify.log")/$(tr '\n' ' ' <"$T/notify.log")" "0/READY=1 STOPPING=1 " \
	"WATCHDOG_PID of another process: no pings"
# Without NOTIFY_SOCKET the agent says nothing and runs as before.
: >"$T/notify.log"
run_agent -c "$T/n.conf" --once
is_rc 0 "--once without NOTIFY_SOCKET: exit 0"
is "$(wc -c <"$T/notify.log")" 0 "without NOTIFY_SOCKET nothing is sent"
stop_pid "$lpid" 5
tap_done
