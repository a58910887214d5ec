#!/usr/bin/env bash
# The agent's own metrics ride in the default group: after a
# --once run with known work (pushgateway.once_self_metrics on, or --once
# sends none), each has its exact value at the gateway.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

gw_start
export COLLECTOR_SPOOL="$T/self.db"
agent_conf "$T/self.conf" "$GW_URL" sjob s once_self_metrics=true
# Small limits, so that the second run meets one.
echo 'limits: { max_groups = 5; max_series_per_group = 3; max_series = 0; };' >>"$T/self.conf"
"$CS" put --job data --grouping 'instance="d"' 'a 1' 'b{k="x"} 2' 'b{k="y"} 3'
"$CS" put --job gone --grouping 'instance="g"' 'c 1'
run_agent -c "$T/self.conf" --once
is_rc 0 "first run: exit 0"
"$CS" delete --job gone --grouping 'instance="g"'
# A row that does not parse, inserted as another language would.
sqlite3 "$T/self.db" "INSERT INTO inbox(job, grouping, op, body) VALUES ('data', 'instance=\"d\"', 'set', 'not a metric line')"
# A fourth series for a group of three: refused by max_series_per_group.
"$CS" put --job data --grouping 'instance="d"' 'a 2' 'c 1'
run_agent -c "$T/self.conf" --once
is_rc 0 "second run: exit 0"
like "$(grep 'msg="near a limit' "$AGENT_ERR_FILE")" \
	'limit=limits.max_series_per_group used=3 max=3 job=data grouping="instance=\"d\""' \
	"the agent warns that a group is at its limit, and names it"

sv() { gw_value sjob 'instance="s"' "$@"; }
is "$(sv collector_agent_up)" 1 "up"
# The second run: one DELETE, then the heartbeat; its metrics are taken
# before the heartbeat itself is counted.
is "$(sv collector_agent_pushes_total 'result="success"')" 1 "pushes_total{result=success}: the DELETE"
is "$(sv collector_agent_pushes_total 'result="retry"')" 0 "pushes_total{result=retry}"
is "$(sv collector_agent_pushes_total 'result="rejected"')" 0 "pushes_total{result=rejected}"
is "$(sv collector_agent_deletes_total)" 1 "deletes_total"
is "$(sv collector_agent_push_duration_seconds_count)" 1 "push_duration_seconds_count"
is "$(sv collector_agent_groups)" 1 "groups (the deleted one is gone)"
is "$(sv collector_agent_series)" 3 "series"
is "$(sv collector_agent_spool_pending_rows)" 0 "spool_pending_rows"
is "$(sv collector_agent_rejected_rows_total)" 2 "rejected_rows_total"
for l in max_groups:5 max_series_per_group:3 max_series:0; do
	is "$(sv collector_agent_limit "limit=\"${l%%:*}\"")" "${l#*:}" "limit{limit=\"${l%%:*}\"}"
done
# As of the fold: the deleted group counts until the gateway confirmed
# its DELETE.
for l in max_groups:2 max_series_per_group:3 max_series:3; do
	is "$(sv collector_agent_limit_usage "limit=\"${l%%:*}\"")" "${l#*:}" "limit_usage{limit=\"${l%%:*}\"}"
done
for l in max_groups:0 max_series_per_group:1 max_series:0; do
	is "$(sv collector_agent_limit_refusals_total "limit=\"${l%%:*}\"")" "${l#*:}" \
		"limit_refusals_total{limit=\"${l%%:*}\"}"
done
is "$(gw_value data 'instance="d"' a)" 1 "the refused row changed nothing"
is "$(sv collector_agent_parked_groups)" 0 "parked_groups"
check "last_push_success_timestamp_seconds is a recent time" \
	less_than "$(( $(date +%s) - 600 ))" "$(sv collector_agent_last_push_success_timestamp_seconds)"
check "spool_bytes is above zero" less_than 0 "$(sv collector_agent_spool_bytes)"
tap_done
