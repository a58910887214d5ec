#!/usr/bin/env bash
# group_ttl against a wrong wall clock. The agent runs under libfaketime a
# day ahead, then a day behind (its monotonic clock untouched), while the
# writer is on the real clock: a group must neither be deleted early (a
# day ahead made every new row look a day old) nor kept past its TTL (a
# day behind made it look from the future).
. "$(dirname "$0")/lib.sh"
need agent gateway

FT=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
if [ ! -r "$FT" ]; then
	echo "1..0 # SKIP libfaketime not installed (package faketime)"
	exit 0
fi
gw_start || tap_bail "the gateway starts"

# fake_agent NAME OFFSET ARG...: the agent with its wall clock OFFSET away
# (libfaketime's "+1d"); an ASan build must accept the preloaded library.
fake_agent() {
	local name=$1 off=$2
	shift 2
	export LD_PRELOAD=$FT FAKETIME=$off DONT_FAKE_MONOTONIC=1
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	agent_start "$name" "$@"
	unset LD_PRELOAD FAKETIME DONT_FAKE_MONOTONIC
}
pushes() { grep -c 'msg="pushed group"' "$T/$1.err"; }
more_pushes() { [ "$(pushes "$1")" -ge "$2" ]; }

# ------------------------------------------------------- a day ahead
# (The spool is made with a row of the agent's own group, which never
# ages: groups that exist at start are aged by the wall clock, the only
# measure across a restart.)
export COLLECTOR_SPOOL="$T/ahead.db"
"$CS" put --job aj --grouping 'instance="ai"' 'seed_gauge 1'
# A heartbeat every round: the rounds are counted by it.
agent_conf "$T/ahead.conf" "$GW_URL" aj ai group_ttl=300 heartbeat=1
fake_agent ahead +1d -c "$T/ahead.conf"
apid=$AGENT_PID
check "the agent runs a day ahead" wait_until gw_is 1 aj 'instance="ai"' collector_agent_up
"$CS" put --job fresh --grouping '' 'fresh_gauge 5'
check "a row written on the real clock arrives" wait_until gw_is 5 fresh '' fresh_gauge
n=$(pushes ahead)
check "four more rounds" wait_until more_pushes ahead $((n + 4))
is "$(gw_value fresh '' fresh_gauge)" 5 "the group is still there (group_ttl 300 s)"
is "$(grep -c 'msg="deleted group"' "$T/ahead.err")" 0 "nothing was deleted"
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"

# ------------------------------------------------------- a day behind
export COLLECTOR_SPOOL="$T/behind.db"
"$CS" put --job bj --grouping 'instance="bi"' 'seed_gauge 1'
agent_conf "$T/behind.conf" "$GW_URL" bj bi group_ttl=3
fake_agent behind -1d -c "$T/behind.conf"
apid=$AGENT_PID
check "the agent runs a day behind" wait_until gw_is 1 bj 'instance="bi"' collector_agent_up
"$CS" put --job brief --grouping '' 'brief_gauge 6'
check "a row written on the real clock arrives" wait_until gw_is 6 brief '' brief_gauge
check "and goes after group_ttl (3 s), not a day later" \
	wait_until -t 15 gw_absent brief ''
check "the agent said it deleted it as expired" \
	grep -q 'msg="deleted group" job=brief grouping="" why=expired' "$T/behind.err"
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"

# ------------------------------------------- a row stamped an hour ahead
# The fold never lowers a group's last row time, so after a row stamped
# ahead (a clock stepped back since, or a writer's own received_ms) the
# rows that follow leave it as it is: the group must not age while written.
export COLLECTOR_SPOOL="$T/stamped.db"
"$CS" put --job sj --grouping 'instance="si"' 'seed_gauge 1'
# 8 s of rows, one a second (a slow writer has 4 s for each), against a
# group_ttl of 4: expired only if the row stamped ahead fixed its age.
agent_conf "$T/stamped.conf" "$GW_URL" sj si group_ttl=4
agent_start stamped -c "$T/stamped.conf"
apid=$AGENT_PID
"$PY" -c 'import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=10)
db.execute("INSERT INTO inbox(job, grouping, op, body, received_ms) VALUES (?, ?, ?, ?, ?)",
           ("ahead", "", "add", "ahead_total 1\n", int(time.time() * 1000) + 3600000))
db.commit()' "$COLLECTOR_SPOOL"
for i in 1 2 3 4 5 6 7 8; do
	sleep 1
	"$CS" put --job ahead --grouping '' --op add 'ahead_total 1'
done
check "an add every second after a row stamped an hour ahead: all 9 count" \
	wait_until gw_is 9 ahead '' ahead_total
is "$(grep -c 'msg="deleted group" job=ahead' "$T/stamped.err")" 0 \
	"the group was not expired while written (group_ttl 4 s, 8 s of rows)"
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"

tap_done
