#!/usr/bin/env bash
# Fault: the gateway stopped and started again, five times, while writers
# add and the agent runs.
#
# The Pushgateway keeps its groups in memory only (--persistence.file=), so
# every restart loses them all: the agent must notice the outage and push
# every group again once the gateway is back, including groups that did not
# change (a group written once, before the first outage, proves it). Three
# of the stops are SIGTERM, two SIGKILL. After the writers are done and the
# daemon stopped, a final --once; the gateway must hold exactly what was
# written.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

WRITERS=4
ROWS=${FAULT_GW_ROWS:-150}
RESTARTS=5
RANDOM=$FAULT_SEED
echo "# seed=$FAULT_SEED writers=$WRITERS rows_per_writer=$ROWS restarts=$RESTARTS"

gw_start || tap_bail "a real Pushgateway starts"
port=$GW_PORT
export COLLECTOR_SPOOL="$T/restart.db"
# heartbeat=5: an agent that has nothing to send asks the gateway nothing,
# so a restart while it is idle (the writers may be done before the last
# one) is noticed at its next heartbeat round, which asks the gateway's
# start time; the default (300 s) would outlast the wait below.
agent_conf "$T/restart.conf" "$GW_URL" fault_agent restart interval=1 timeout=1 \
	retry_min=0.2 retry_max=1.0 once_timeout=20 heartbeat=5

# A group written once, before any outage; it never changes afterwards.
"$CS" put --job fault_static --grouping 'g="s"' '# TYPE fault_static_value gauge' \
	'fault_static_value 42'
agent_start daemon -c "$T/restart.conf"
apid=$AGENT_PID
wait_until gw_is 42 fault_static 'g="s"' fault_static_value
is "$?" 0 "the static group arrives before the first outage"

writers_start "$WRITERS" "$ROWS" fault_restart 3 "$T/ledger" 0.1

# Up 0.5-2 s, down 1.5-2.5 s (more than the interval, so a round
# meets the outage), five times.
stops=0 restarts=0 during_writes=0
for ((r = 1; r <= RESTARTS; r++)); do
	sleep "$(rand_secs 1500)"
	sleep 0.5
	if ((r % 2 == 0)); then sig=KILL; else sig=TERM; fi
	# (the braces keep bash's "Killed" job notice out of the TAP stream)
	{ stop_pid "$GW_PID" 5 "$sig"; } 2>/dev/null
	GW_PID=
	stops=$((stops + 1))
	writers_running && during_writes=$((during_writes + 1))
	sleep 1.5
	sleep "$(rand_secs 1000)"
	if gw_start "$port"; then
		restarts=$((restarts + 1))
	else
		tap_fail "the gateway starts again on port $port (restart $r)"
	fi
done
is "$restarts" "$RESTARTS" "the gateway was stopped and started $RESTARTS times"
check "the agent ran through every outage" kill -0 "$apid"
check "the writers were writing during the outages ($during_writes of $RESTARTS)" test "$during_writes" -ge 1

writers_wait 120
is "$?" 0 "the writers finished"
is "$(writers_failures)" "" "every put was accepted"

# The daemon alone must bring back the unchanged group: --once pushes only
# changed groups.
wait_until -t 20 gw_is 42 fault_static 'g="s"' fault_static_value
is "$?" 0 "after the last restart the daemon pushed the unchanged group again"
check "and its own heartbeat group" gw_present fault_agent 'instance="restart"'
stop_pid "$apid" 10
is "$STOP_RC" 0 "the daemon stops on SIGTERM with exit 0"
[ "$STOP_RC" = 0 ] || diag_file "$T/daemon.err"
outages=$(grep -c 'msg="gateway unreachable; will retry"' "$T/daemon.err")
echo "# the daemon logged $outages failed requests during the outages"

run_agent -c "$T/restart.conf" --once
is_rc 0 "the final --once: exit 0"
ledger_matches "after $RESTARTS gateway restarts the gateway holds exactly what was written"
is "$(gw_value fault_static 'g="s"' fault_static_value)" 42 "the static group is still there"
is "$(spool_stat dirty_groups)" 0 "no group left to push"

echo "# gateway_restarts=$restarts (stops: 3 TERM, 2 KILL; $during_writes while the writers wrote) failed_requests=$outages rows=$(ledger_rows rows) lines=$(ledger_rows lines) series_compared=${COMPARED:-0}"
gw_stop
tap_done
