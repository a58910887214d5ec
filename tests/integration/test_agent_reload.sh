#!/usr/bin/env bash
# SIGHUP: the agent reads its configuration again; a new valid
# one takes effect, an invalid one is logged and the old one stays.
set -u
. "$(dirname "$0")/lib.sh"
need agent

gw_start
export COLLECTOR_SPOOL="$T/hup.db"
agent_conf "$T/hup.conf" "$GW_URL" hup_a h
agent_start hup -c "$T/hup.conf"
apid=$AGENT_PID
wait_until gw_present hup_a 'instance="h"'
is "$?" 0 "the heartbeat group is pushed under the first job"

agent_conf "$T/hup.conf" "$GW_URL" hup_b h
kill -HUP "$apid"
wait_until gw_present hup_b 'instance="h"'
is "$?" 0 "after SIGHUP the new job is used"
wait_until grep -q 'msg="configuration reloaded"' "$T/hup.err"
is "$?" 0 "the reload is logged"

# An invalid file: its errors are logged, the old settings stay.
printf 'pushgateway: { interval = "often"; bogus = 1; };\n' >"$T/hup.conf"
kill -HUP "$apid"
wait_until grep -q 'old one stays' "$T/hup.err"
is "$?" 0 "an invalid configuration is refused"
like "$(cat "$T/hup.err")" "unknown setting" "its errors are printed"
check "the agent keeps running" kill -0 "$apid"
"$CS" put 'hup_value 7'
wait_until gw_is 7 hup_b 'instance="h"' hup_value
is "$?" 0 "rows still go out with the old settings (job hup_b)"

stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
tap_done
