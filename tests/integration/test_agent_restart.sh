#!/usr/bin/env bash
# Restarts. A gateway restarted between two pushes (memory only, as in
# most containers) has lost every group, though no request failed: the
# agent notices from the gateway's start time and pushes every group
# again, changed or not, within one interval; --once notices a restart
# since the last run. And one agent per spool: a second agent, or --once
# while a daemon runs, is refused with status 69; --once while another
# --once runs waits for it; SIGKILL leaves no stale lock.
. "$(dirname "$0")/lib.sh"
need agent gateway

gw_start || tap_bail "the gateway starts"
port=$GW_PORT
export COLLECTOR_SPOOL="$T/spool.db"
"$CS" put --job still --grouping 'g="a"' 'still_gauge 1'
"$CS" put --job still --grouping 'g="b"' 'still_gauge 2'
"$CS" put --job daily --grouping '' 'backup_last_success_timestamp_seconds 42'

# ----------------------------------------- the daemon, gateway restarted
# A heartbeat every round: the test finds the end of a round by it.
agent_conf "$T/d.conf" "$GW_URL" rj ri interval=2 heartbeat=2
agent_start d -c "$T/d.conf"
apid=$AGENT_PID
check "every group arrives" wait_until gw_is 42 daily '' \
	backup_last_success_timestamp_seconds
check "(all three)" wait_until gw_is 2 still 'g="b"' still_gauge
# Right after a round, so that the restart falls between two pushes and no
# request fails.
puts_before=$(grep -c 'msg="pushed group"' "$T/d.err")
more_puts() { [ "$(grep -c 'msg="pushed group"' "$T/d.err")" -gt "$1" ]; }
wait_until more_puts "$puts_before"
gw_stop
gw_start "$port" || tap_bail "the gateway starts again"
is "$(gw_groups | wc -l)" 0 "the restarted gateway holds nothing"
# One interval (2 s) to notice, and the pushes; 8 s is the test's bound.
check "the unchanged groups are back within an interval" \
	wait_until -t 8 gw_is 42 daily '' backup_last_success_timestamp_seconds
check "(all of them)" wait_until -t 2 gw_is 1 still 'g="a"' still_gauge
check "(all of them, 2)" wait_until -t 2 gw_is 2 still 'g="b"' still_gauge
check "the agent said why" \
	grep -q 'msg="the gateway is new or was restarted; pushing every group again"' "$T/d.err"
is "$(grep -c 'level=warn\|level=error' "$T/d.err")" 0 "nothing failed on the way"

# ------------------------------------------------- one agent per spool
agent_conf "$T/d2.conf" "$GW_URL" rj2 ri2
run_agent -c "$T/d2.conf"
is_rc 69 "a second daemon on the spool: exit 69"
like "$ERR" "the spool is in use by another collector-agent" "it says why"
like "$ERR" "pid=$apid" "and names the one that holds it"
"$CS" put --job batch --grouping '' 'batch_gauge 7'
run_agent -c "$T/d2.conf" --once
is_rc 69 "--once while the daemon runs: exit 69"
like "$ERR" "a running collector-agent owns the spool and delivers its rows" "it says so"
check "the daemon delivers the batch job's row" wait_until gw_is 7 batch '' batch_gauge
stop_pid "$apid" 10 KILL
run_agent -c "$T/d2.conf" --once
is_rc 0 "after SIGKILL of the daemon, --once runs: no stale lock"

# Two --once runs that overlap (a timer and a batch job): the second waits
# for the first, then delivers what was written after the first folded.
proxy_start slowput --upstream "$GW_URL" --delay-method PUT --delay 1 ||
	tap_bail "the proxy starts"
agent_conf "$T/o.conf" "$PROXY_URL" rj2 ri2 once_timeout=15
"$CS" put --job first --grouping '' 'first_gauge 1'
agent_start o1 -c "$T/o.conf" --once
o1=$AGENT_PID
first_put() { grep -q ' PUT ' "$PROXY_LOG"; }
wait_until first_put
"$CS" put --job second --grouping '' 'second_gauge 2'
run_agent -c "$T/o.conf" --once
is_rc 0 "--once while another --once runs: it waits, then exit 0"
is "$(grep -c 'msg="pushed group" job=second ' "$AGENT_ERR_FILE")" 1 \
	"and it pushes the row written after the first one folded"
wait_exit "$o1" 15
is "${STOP_RC:-running}" 0 "the first --once: exit 0"
is "$(gw_value first '' first_gauge)/$(gw_value second '' second_gauge)" "1/2" "both rows at the gateway"

# ---------------------------------------------------- --once, restarted
gw_stop
gw_start "$port" || tap_bail "the gateway starts again"
run_agent -c "$T/d2.conf" --once
is_rc 0 "--once after a gateway restart, nothing written since: exit 0"
is "$(gw_value daily '' backup_last_success_timestamp_seconds)/$(gw_value still 'g="a"' still_gauge)/$(gw_value batch '' batch_gauge)" \
	"42/1/7" "it pushed every group again"
run_agent -c "$T/d2.conf" --once
is "$(grep -c 'msg="pushed group"' "$AGENT_ERR_FILE")" 0 \
	"the next --once, same gateway: no group pushed again, nothing for itself"

# ---------------------------- a gateway that cannot tell its start time
fake_start || tap_bail "the fake gateway starts"
# A heartbeat every round: the rounds are counted by it.
agent_conf "$T/f.conf" "$FAKE_URL" fj fi heartbeat=1
export COLLECTOR_SPOOL="$T/fake.db"
"$CS" put --job fk --grouping '' 'fk_gauge 1'
agent_start f -c "$T/f.conf"
fpid=$AGENT_PID
rounds() { [ "$(fake_count PUT /metrics/job/fj/instance/fi)" -ge 3 ]; }
check "three rounds at a gateway without /api/v1/status" wait_until rounds
stop_pid "$fpid" 10
is "$(grep -c 'msg="the gateway does not tell its start time' "$T/f.err")" 1 \
	"it says once that restarts go unnoticed there"
is "$(fake_count GET /api/v1/status)" 1 "and asks no more"

tap_done
