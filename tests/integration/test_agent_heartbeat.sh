#!/usr/bin/env bash
# No request that carries nothing new (docs/agent.md, "Heartbeat"): a real
# Pushgateway behind a proxy that logs every request (method, path,
# status), so the requests are counted exactly.
#  - an idle daemon sends only its own metrics, once a heartbeat, after
#    asking the gateway's start time (a round that sends asks first);
#  - news goes at once: a group the gateway refuses makes the agent's own
#    metrics go in the same round, with collector_agent_parked_groups 1;
#  - --once sends one request per changed group and due delete, nothing
#    for itself unless pushgateway.once_self_metrics asks.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

gw_start || tap_bail "the gateway starts"
proxy_start hb --upstream "$GW_URL" ||
	tap_bail "the proxy starts"

# rounds FROM TO: the proxy log's requests of rounds FROM..TO (1 is the
# first round in the log), one "METHOD path status" line each, the GET
# that starts each round left out
rounds() {
	awk -v from="$1" -v to="$2" '$2 == "GET" && $3 == "/api/v1/status" { r++; next }
		r >= from && r <= to { print $2, $3, $4 }' "$PROXY_LOG"
}
nrounds() { awk '$2 == "GET" && $3 == "/api/v1/status" { n++ } END { print n + 0 }' "$PROXY_LOG"; }
at_least_rounds() { [ "$(nrounds)" -ge "$1" ]; }
# count PATTERN: lines of stdin matching the extended regex PATTERN
count() { grep -cE "$1"; }

SELF='PUT /metrics/job/hbj/instance/hbi '

# ------------------------------------------------ an idle daemon: heartbeat
export COLLECTOR_SPOOL="$T/d.db"
agent_conf "$T/d.conf" "$PROXY_URL" hbj hbi heartbeat=3 retry_max=60
"$CS" put --job user --grouping 'instance="u"' 'u_gauge 1'
agent_start d -c "$T/d.conf"
dpid=$AGENT_PID
upto3() {
	awk -v s="$SELF" '{ print } index($0, s) && ++n == 3 { exit }' "$PROXY_LOG"
}
three_self() { [ "$(upto3 | grep -cF "$SELF")" -eq 3 ]; }
check "the agent's own metrics went 3 times (the start, 2 heartbeats)" wait_until -t 20 three_self
head=$(upto3 | awk '{ print $2, $3, $4 }')
is "$(echo "$head" | grep -E '^(PUT|DELETE|POST) ' | grep -vF "$SELF")" \
	"PUT /metrics/job/user/instance/u 200" "the changed group went once, and nothing else but the agent's own"
# Idle rounds ask the gateway nothing: only a round that sends asks its
# start time, first.
is "$(echo "$head" | awk '{ print $1 }' | tr '\n' ' ')" "GET PUT PUT GET PUT GET PUT " \
	"idle rounds send nothing; a round that sends asks the start time first"
# Not every round (the interval is 1 s): the heartbeats are at least 2 s
# apart (3 s, less the lateness of the round before).
is "$(upto3 | awk -v s="$SELF" 'index($0, s) { if (t && $1 - t < 2) bad++; t = $1 } END { print bad + 0 }')" 0 \
	"the heartbeats are not sent every round"

# ---------------------------------------------- news: a refused group
# A TYPE clash with the group already on the gateway: refused (400) and
# parked, and the agent's own metrics go in that very round.
"$CS" put --job clash --grouping 'instance="c"' '# TYPE u_gauge counter' 'u_gauge 2'
refused() { grep -q ' PUT /metrics/job/clash/instance/c 400$' "$PROXY_LOG"; }
check "the clashing group is refused" wait_until refused
# self_after: the agent's own PUT went after the refusal
self_after() {
	awk -v s="$SELF" '/ PUT \/metrics\/job\/clash\/instance\/c 400$/ { seen = 1; next }
		seen && index($0, s) { found = 1 } END { exit !found }' "$PROXY_LOG"
}
parked_at_gateway() { [ "$(gw_value hbj 'instance="hbi"' collector_agent_parked_groups)" = 1 ]; }
said_why() { grep -q 'msg="pushing the agent.s own metrics" why=parked_groups' "$T/d.err"; }
check "the agent's own metrics follow the refusal" wait_until self_after
check "the gateway has them" wait_until parked_at_gateway
check "the log says why" wait_until said_why
rr=$(awk '$2 == "GET" && $3 == "/api/v1/status" { r++ } / PUT \/metrics\/job\/clash\/instance\/c 400$/ { print r; exit }' "$PROXY_LOG")
in_round=$(rounds "$rr" "$rr")
is "$(echo "$in_round" | grep -A1 ' /metrics/job/clash/instance/c 400$' | tail -n 1 | cut -d' ' -f1-2)" \
	"PUT /metrics/job/hbj/instance/hbi" "the agent's own metrics go in the same round, after the refusal"
is "$(gw_value hbj 'instance="hbi"' collector_agent_parked_groups)" 1 \
	"the gateway shows collector_agent_parked_groups 1"
# Not the heartbeat by chance: the log says why, once (the group stays
# parked, and is not retried before retry_max).
is "$(grep -c 'msg="pushing the agent.s own metrics" why=parked_groups' "$T/d.err")" 1 \
	"the log says why, once: parked_groups"
stop_pid "$dpid" 10
is "$STOP_RC" 0 "the daemon stops: exit 0"

# ------------------------------------------------------------------ --once
# once_requests: the requests of the last --once (the proxy log since the
# mark), "METHOD path status" each
mark() { MARK=$(wc -l <"$PROXY_LOG"); }
once_requests() { tail -n +"$((MARK + 1))" "$PROXY_LOG" | awk '{ print $2, $3, $4 }'; }
export COLLECTOR_SPOOL="$T/o.db"
agent_conf "$T/o.conf" "$PROXY_URL" onj oni
"$CS" put --job oa --grouping '' 'oa_gauge 1'
"$CS" put --job ob --grouping '' 'ob_gauge 1'
mark
run_agent -c "$T/o.conf" --once
is_rc 0 "--once, two changed groups: exit 0"
is "$(once_requests | grep -v '^GET /api/v1/status ' | sort | tr '\n' '|')" \
	"PUT /metrics/job/oa 200|PUT /metrics/job/ob 200|" \
	"--once: one PUT per changed group, nothing for itself"
check "--once: no self metrics on the gateway for its job" gw_absent onj 'instance="oni"'

# A delete, a changed group and rows in the default group: one request
# each; the default group carries the user's series only.
"$CS" delete --job oa --grouping ''
"$CS" put --job oc --grouping '' 'oc_gauge 1'
"$CS" put 'dflt_gauge 5'
mark
run_agent -c "$T/o.conf" --once
is_rc 0 "--once, a delete and two changed groups: exit 0"
is "$(once_requests | grep -v '^GET /api/v1/status ' | sort | tr '\n' '|')" \
	"DELETE /metrics/job/oa 202|PUT /metrics/job/oc 200|PUT /metrics/job/onj/instance/oni 200|" \
	"--once: the DELETE and one PUT per changed group"
is "$(gw_families onj 'instance="oni"')" dflt_gauge "--once: the default group holds the user's series only"

# once_self_metrics = true: one more PUT, the agent's own metrics.
agent_conf "$T/os.conf" "$PROXY_URL" onj oni once_self_metrics=true
"$CS" put --job ob --grouping '' 'ob_gauge 2'
mark
run_agent -c "$T/os.conf" --once
is_rc 0 "--once with once_self_metrics: exit 0"
is "$(once_requests | grep -v '^GET /api/v1/status ' | sort | tr '\n' '|')" \
	"PUT /metrics/job/ob 200|PUT /metrics/job/onj/instance/oni 200|" \
	"--once with once_self_metrics: one more PUT, the default group"
is "$(gw_value onj 'instance="oni"' collector_agent_up)/$(gw_value onj 'instance="oni"' dflt_gauge)" 1/5 \
	"it carries the agent's metrics and the user's series"
is "$(gw_value onj 'instance="oni"' collector_agent_pushes_total 'result="success"')" 1 \
	"its pushes_total counts this run's requests before it (the PUT of ob)"
tap_done
