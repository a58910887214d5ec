#!/usr/bin/env bash
# The replace op end to end, against a real Pushgateway: a replace row makes
# its body the group's whole state at the gateway, sent as one PUT with no
# DELETE before it, whether it shrinks the group, empties it (the group
# stays, with no series of the writer's) or follows a delete request. A
# logging proxy in front of the gateway records every request the agent
# makes; the agent's debug log says "pushed group" / "deleted group" too.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

gw_start || tap_bail "the gateway starts"
proxy_start proxy --upstream "$GW_URL" --max-seconds 300 --record "$T/record" ||
	tap_bail "the logging proxy starts"

# Plain bodies, so that the record's sizes are the bodies' own.
agent_conf "$T/agent.conf" "$PROXY_URL" rjob r gzip=false
export COLLECTOR_SPOOL="$T/spool.db"
GP='instance="a"'

# requests METHOD: how many requests of METHOD for the group app/a the
# proxy logged since the line count $MARK
requests() {
	tail -n +"$((MARK + 1))" "$PROXY_LOG" |
		awk -v m="$1" '$2 == m && $3 == "/metrics/job/app/instance/a" { n++ } END { print n + 0 }'
}
mark() { MARK=$(wc -l <"$PROXY_LOG"); }
# logged MSG: the last run's log has MSG for the group app/a
logged() { grep -F "msg=\"$1\"" "$AGENT_ERR_FILE" | grep -qF 'job=app '; }

# ------------------------------------------------- a, b and a histogram
"$CS" put --job app --grouping "$GP" '# HELP rep_a The a.' '# TYPE rep_a gauge' \
	'rep_a 1' '# HELP rep_b The b.' '# TYPE rep_b gauge' 'rep_b 2'
"$CS" put --job app --grouping "$GP" --op observe 'rep_h 0.3'
mark
run_agent -c "$T/agent.conf" --once
is_rc 0 "set: --once exits 0"
is "$(gw_families app "$GP")" "rep_a rep_b rep_h" "set: the gateway has a, b and the histogram"
is "$(gw_value app "$GP" rep_b)" 2 "set: b's value"

# ------------------------------------------- replace with a only: one PUT
"$CS" put --job app --grouping "$GP" --op replace '# TYPE rep_a gauge' 'rep_a 5'
is "$?" 0 "replace: collector-spool put --op replace exits 0"
mark
run_agent -c "$T/agent.conf" --once
is_rc 0 "replace: --once exits 0"
is "$(gw_families app "$GP")" "rep_a" "replace: the group at the gateway has exactly a"
is "$(gw_value app "$GP" rep_a)" 5 "replace: a's new value"
is "$(gw_status app "$GP")" ok "replace: the gateway took the push"
is "$(requests PUT)" 1 "replace: the gateway saw one PUT for the group"
is "$(requests DELETE)" 0 "replace: ...and no DELETE"
check "replace: the agent logged the group pushed" logged "pushed group"
check "replace: ...and never deleted" not logged "deleted group"
is "$(spool_stat groups)" 1 "replace: the spool still holds the group, once"

# ------------------------------------ an empty replace: the group stays
printf '' | "$CS" put --job app --grouping "$GP" --op replace
is "$?" 0 "empty replace: put from an empty standard input exits 0"
mark
run_agent -c "$T/agent.conf" --once
is_rc 0 "empty replace: --once exits 0"
check "empty replace: the group is still at the gateway" gw_present app "$GP"
is "$(gw_families app "$GP")" "" "empty replace: ...with no series of the writer's"
is "$(requests PUT)" 1 "empty replace: one PUT"
is "$(awk '$1 == "PUT" && $2 == "/metrics/job/app/instance/a" { b = $4 } END { print b }' "$T/record")" 0 \
	"empty replace: ...of an empty body"
is "$(requests DELETE)" 0 "empty replace: no DELETE"
check "empty replace: not logged as deleted" not logged "deleted group"
is "$(spool_stat series)" 0 "empty replace: the spool's group has no series"

# A second run has nothing new to send for it.
mark
run_agent -c "$T/agent.conf" --once
is "$(requests PUT)$(requests DELETE)" "00" "empty replace: pushed once, not again"

# ------------------------ a delete request, then a replace: no DELETE
"$CS" put --job app --grouping "$GP" 'rep_a 1' 'rep_c 3'
run_agent -c "$T/agent.conf" --once
is "$(gw_families app "$GP")" "rep_a rep_c" "delete then replace: before, a and c"
"$CS" delete --job app --grouping "$GP"
"$CS" put --job app --grouping "$GP" --op replace 'rep_d 4'
mark
run_agent -c "$T/agent.conf" --once
is_rc 0 "delete then replace: --once exits 0"
is "$(gw_families app "$GP")" "rep_d" "delete then replace: the group has exactly d"
is "$(requests DELETE)" 0 "delete then replace: the replace's PUT stands for the DELETE"
is "$(requests PUT)" 1 "delete then replace: one PUT"
is "$(spool_stat delete_pending_groups)" 0 "delete then replace: nothing left pending"

# ------------------------------------------------- a refused replace
"$CS" put --job app --grouping "$GP" --op replace 'rep_e 1' 'rep_e{ 2' 2>"$T/put.err"
is "$?" 65 "refused replace: put exits 65"
like "$(cat "$T/put.err")" "line 2:" "refused replace: names the line"
mark
run_agent -c "$T/agent.conf" --once
is "$(gw_families app "$GP")" "rep_d" "refused replace: the group is as it was"
is "$(requests PUT)$(requests DELETE)" "00" "refused replace: nothing sent for it"

gw_stop
tap_done
