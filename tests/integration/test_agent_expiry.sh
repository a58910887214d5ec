#!/usr/bin/env bash
# collector-agent removes groups from the gateway: expiry after group_ttl
# seconds without a row (daemon), `collector-spool delete` (--once), and
# the daemon's last push on SIGTERM.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

gw_start || tap_bail "the gateway starts"

# ------------------------------------------------------ expiry by TTL
# Every check here follows an event the test observed (a row written, a
# "deleted group" line in the agent's log, a group on the gateway), never a
# sleep, so a slow agent or writer (ASan, a loaded machine) only makes it
# take longer. The one margin left: the writer of "kept" puts a row every
# 0.2 s against a group_ttl of 4 s, and must not stall for 4 s.
TTL=4
agent_conf "$T/ttl.conf" "$GW_URL" ejob e interval=1 group_ttl=$TTL
export COLLECTOR_SPOOL="$T/ttl.db"
agent_start ttl -c "$T/ttl.conf"
apid=$AGENT_PID
# expired_logged JOB INSTANCE: the agent logged the group's deletion by TTL
expired_logged() {
	grep -s 'msg="deleted group"' "$T/ttl.err" | grep -F "job=$1 " |
		grep -F "instance=\\\"$2\\\"" | grep -q 'why=expired'
}
# The default group (no job, no grouping: the agent's own) and "gone"
# receive a row each at the same moment, then nothing.
t0=$(now_us)
"$CS" put 'eff_setting 7'
"$CS" put --job ttl --grouping 'instance="gone"' 'ephemeral 1'
wait_until gw_is 1 ttl 'instance="gone"' ephemeral
is "$?" 0 "ttl: the group written once arrives"
wait_until gw_is 7 ejob 'instance="e"' eff_setting
is "$?" 0 "ttl: the default group's row arrives"
"$CS" put --job ttl --grouping 'instance="kept"' --op add 'beats_total 1'
wait_until gw_present ttl 'instance="kept"'
is "$?" 0 "ttl: the group written all along arrives"
groups_before=$(spool_stat groups)
# "kept" gets a row each 0.2 s until the log says "gone" expired.
deadline=$(( $(now_us) + 30000000 ))
while ! expired_logged ttl gone && [ "$(now_us)" -lt "$deadline" ]; do
	tlast=$(now_us)
	"$CS" put --job ttl --grouping 'instance="kept"' --op add 'beats_total 1'
	sleep 0.2
done
lived=$(secs_since "$t0")
check "ttl: the group written once is deleted (logged why=expired)" expired_logged ttl gone
wait_until -t 5 gw_absent ttl 'instance="gone"'
is "$?" 0 "ttl: the group disappears from the gateway"
echo "# the group lived $lived s (group_ttl $TTL)"
# Its row was written after t0, so it cannot have gone sooner.
check "ttl: not before group_ttl (lived >= $TTL s)" not less_than "$lived" "$TTL"
check "ttl: a group that keeps receiving rows stays" gw_present ttl 'instance="kept"'
check "ttl: ...and was never deleted" not expired_logged ttl kept
is "$(gw_value ejob 'instance="e"' eff_setting)" 7 \
	"ttl: the default group, silent as long as the expired one, stays with its row"
groups_dropped() { [ "$(spool_stat groups)" -eq $((groups_before - 1)) ]; }
wait_until -t 5 groups_dropped
is "$?" 0 "ttl: the expired group's state is dropped (stats groups $groups_before -> $(spool_stat groups))"
# Now "kept" goes silent too (since its last row, written after tlast).
wait_until -t 30 expired_logged ttl kept
is "$?" 0 "ttl: once its writer stops, that group expires too"
lived=$(secs_since "$tlast")
wait_until -t 5 gw_absent ttl 'instance="kept"'
is "$?" 0 "ttl: ...and disappears from the gateway"
check "ttl: not before group_ttl after its last row ($lived s)" not less_than "$lived" "$TTL"
# By now the default group has been silent for two group_ttl; each
# expiry above was a round that looked at it too.
is "$(gw_value ejob 'instance="e"' eff_setting)" 7 "ttl: the default group never expires"
like "$(gw_families ejob 'instance="e"')" collector_agent_ "ttl: ...and still carries the agent's own metrics"
check "ttl: the default group was never deleted" not grep -q 'msg="deleted group" job=ejob ' "$T/ttl.err"
check "ttl: the daemon is running" kill -0 "$apid"
stop_pid "$apid" 10
is "$STOP_RC" 0 "ttl: SIGTERM, exit 0"
[ "$STOP_RC" = 0 ] || diag_file "$T/ttl.err"

# ------------------------------------------- collector-spool delete, --once
agent_conf "$T/del.conf" "$GW_URL" djob d
export COLLECTOR_SPOOL="$T/del.db"
"$CS" put --job del --grouping 'instance="d"' 'del_value 1'
"$CS" put --job del --grouping 'instance="keep"' 'del_value 2'
run_agent -c "$T/del.conf" --once
is_rc 0 "delete: the groups are pushed"
is "$(gw_value del 'instance="d"' del_value)" 1 "delete: the group is there"
"$CS" delete --job del --grouping 'instance="d"'
run_agent -c "$T/del.conf" --once
is_rc 0 "delete: --once after collector-spool delete: exit 0"
check "delete: the group is gone from the gateway" gw_absent del 'instance="d"'
is "$(gw_value del 'instance="keep"' del_value)" 2 "delete: the other group stays"
is "$(spool_stat delete_pending_groups)" 0 "delete: nothing left pending"

# Rows after a delete start the group anew: DELETE, then PUT.
"$CS" put --job del --grouping 'instance="re"' --op add 'n_total 5'
run_agent -c "$T/del.conf" --once
is "$(gw_value del 'instance="re"' n_total)" 5 "delete then add: before, 5"
"$CS" delete --job del --grouping 'instance="re"'
"$CS" put --job del --grouping 'instance="re"' --op add 'n_total 1'
run_agent -c "$T/del.conf" --once
is_rc 0 "delete then add in one run: exit 0"
is "$(gw_value del 'instance="re"' n_total)" 1 "delete then add: the group starts anew at 1"

# A group the agent never pushed (here: pushed with curl) is deleted too.
is "$(gw_push 'foreign/instance/z' $'foreign_value 1\n')" 200 "a foreign group on the gateway"
"$CS" delete --job foreign --grouping 'instance="z"'
run_agent -c "$T/del.conf" --once
is_rc 0 "delete of a group the agent never had: exit 0"
check "...it is gone from the gateway" gw_absent foreign 'instance="z"'

# ---------------------------------------------------- SIGTERM: last push
agent_conf "$T/term.conf" "$GW_URL" tjob t interval=60
export COLLECTOR_SPOOL="$T/term.db"
agent_start term -c "$T/term.conf"
apid=$AGENT_PID
# The agent is up once its first round pushed its own group; with
# interval=60 the next round is a minute away.
wait_until gw_present tjob 'instance="t"'
is "$?" 0 "SIGTERM: the agent's first round is done"
"$CS" put --job term --grouping 'instance="t"' 'last_words 99'
t0=$(now_us)
stop_pid "$apid" 10
echo "# the agent took $(secs_since "$t0") s to exit after SIGTERM"
is "$STOP_RC" 0 "SIGTERM: exit 0"
is "$STOP_KILLED" 0 "SIGTERM: ended without KILL (within 10 s)"
is "$(gw_value term 'instance="t"' last_words)" 99 "SIGTERM: the row written just before is on the gateway"
[ "$STOP_RC" = 0 ] || diag_file "$T/term.err"

# SIGTERM while the gateway is unreachable: still a prompt exit 0.
agent_conf "$T/termdown.conf" "http://127.0.0.1:$(free_port)" tjob t interval=60 timeout=2
export COLLECTOR_SPOOL="$T/termdown.db"
"$CS" put --job term --grouping 'instance="t"' 'last_words 1'
agent_start termdown -c "$T/termdown.conf"
apid=$AGENT_PID
gw_down_logged() { grep -qs 'msg="gateway unreachable; will retry"' "$T/termdown.err"; }
wait_until gw_down_logged
is "$?" 0 "SIGTERM with the gateway down: the agent tried it first"
stop_pid "$apid" 15
is "$STOP_RC" 0 "SIGTERM with the gateway down: exit 0"
is "$STOP_KILLED" 0 "SIGTERM with the gateway down: ended without KILL (within 15 s)"
check "SIGTERM with the gateway down: the data is kept" test "$(spool_stat dirty_groups)" -ge 1 -o "$(spool_stat pending_rows)" -ge 1

gw_stop
tap_done
