#!/usr/bin/env bash
# The Python package collector_spool (contrib/python) with Debian's
# prometheus_client and real Pushgateways: one registry (a counter with
# labels, a gauge, a histogram, a summary) pushed with push_to_gateway to
# one gateway and with push_to_spool + `collector-agent --once` to another
# gives the same groups, series, values, types and HELP at both, as
# /api/v1/metrics shows them (without the gateway's push_time_seconds and
# push_failure_time_seconds); so does pushadd_to_gateway against
# pushadd_to_spool. A second push_to_spool without a series removes it,
# pushadd_to_spool keeps it, delete_from_spool deletes the group; grouping
# values with "/" and empty ones round-trip; the Spool API's set, add and
# observe arrive. Also runs the package's unit tests.
#
# push_to_spool writes `replace` rows: the checks that need them are
# skipped when the built collector-spool refuses `put --op replace`.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway
"$PY" -c 'import prometheus_client' 2>/dev/null ||
	{ echo "1..0 # SKIP python3-prometheus-client not installed"; exit 0; }

ROOT=$(pwd)
export PYTHONPATH="$ROOT/contrib/python${PYTHONPATH:+:$PYTHONPATH}"

# --------------------------------------------------------------- unit tests
if "$PY" -m unittest discover -s "$ROOT/contrib/python/tests" >"$T/unit.log" 2>&1; then
	tap_ok "unit tests: $(grep -o 'Ran [0-9]* tests' "$T/unit.log")"
else
	tap_fail "unit tests (python3 -m unittest discover -s contrib/python/tests)"
	diag_file "$T/unit.log" 40
fi

# ------------------------------------------------------------ the helpers
# driver.py SPOOL ACTION [GATEWAY]: one process per step, so that one
# registry (and its _created times) goes to both gateways.
cat >"$T/driver.py" <<'EOF'
import sys
from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram,
                               Summary, push_to_gateway, pushadd_to_gateway)
from collector_spool import (Spool, push_to_spool, pushadd_to_spool,
                             delete_from_spool)

spool, action = sys.argv[1], sys.argv[2]
gateway = sys.argv[3] if len(sys.argv) > 3 else None
KEY = {"instance": "web1"}


def registry(with_gauge=True, requests=3):
    r = CollectorRegistry()
    c = Counter("app_requests", 'Requests served,\\ by "method"\nand path.',
                ["method", "path"], registry=r)
    c.labels("GET", "/").inc(requests)
    c.labels("POST", 'a"b\\c\nd').inc(2.5)
    if with_gauge:
        Gauge("app_temperature_celsius", "Temperature.", registry=r).set(-21.25)
    h = Histogram("app_latency_seconds", "Latency.", ["route"], registry=r,
                  buckets=(0.05, 0.5, 5))
    for v in (0.01, 0.3, 0.3, 7):
        h.labels("api").observe(v)
    s = Summary("app_payload_bytes", "Payload sizes.", registry=r)
    s.observe(512)
    s.observe(1e6)
    return r


if action == "push":          # PUT to the gateway, replace row in the spool
    r = registry()
    push_to_gateway(gateway, job="pyapp", registry=r, grouping_key=KEY)
    push_to_spool(spool, job="pyapp", registry=r, grouping_key=KEY)
elif action == "pushadd":     # POST to the gateway, set row in the spool
    r = registry()
    pushadd_to_gateway(gateway, job="pyadd", registry=r, grouping_key=KEY)
    pushadd_to_spool(spool, job="pyadd", registry=r, grouping_key=KEY)
elif action == "groupings":
    r = registry()
    key = {"path": "/var/lib/x", "empty": ""}
    pushadd_to_gateway(gateway, job="pygroup", registry=r, grouping_key=key)
    pushadd_to_spool(spool, job="pygroup", registry=r, grouping_key=key)
elif action == "groupings-replace":
    r = registry()
    key = {"path": "/a/b", "empty": ""}
    push_to_gateway(gateway, job="pygroup2", registry=r, grouping_key=key)
    push_to_spool(spool, job="pygroup2", registry=r, grouping_key=key)
elif action == "push-without-gauge":
    push_to_spool(spool, "pyapp", registry(False, 5), KEY)
elif action == "pushadd-without-gauge":
    pushadd_to_spool(spool, "pyadd", registry(False, 5), KEY)
elif action == "push-empty":
    push_to_spool(spool, "pyapp", CollectorRegistry(), KEY)
elif action == "delete":
    delete_from_spool(spool, "pyadd", KEY)
    delete_from_spool(spool, "pyapp", KEY)
elif action == "api":
    with Spool(spool) as s:
        s.set("api_gauge", 1.5, {"k": 'v"'}, job="pyapi", grouping={})
        s.add("api_runs_total", job="pyapi", grouping={})
        s.add("api_runs_total", 2, job="pyapi", grouping={})
        s.observe("api_seconds", 0.2, job="pyapi", grouping={})
        s.observe("api_seconds", 3, job="pyapi", grouping={})
elif action == "missing":
    import os
    from collector_spool import NoSpoolError
    try:
        push_to_spool(spool, "x", registry())
    except NoSpoolError as e:
        print(e)
        sys.exit(0 if not os.path.exists(spool) else 3)
    sys.exit(2)
else:
    sys.exit("unknown action " + action)
EOF

# gwdump.py URL JOB: the gateway's groups of JOB, normalised, one JSON
# line per series: group labels, family, type, help, series labels and
# value (or count, sum, buckets, quantiles); the gateway's own push_time
# and push_failure_time families and the time stamps left out.
cat >"$T/gwdump.py" <<'EOF'
import json, sys, urllib.request
url, job = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url + "/api/v1/metrics", timeout=5) as f:
    data = json.load(f)["data"]
out = []
for group in data:
    if group["labels"].get("job") != job:
        continue
    for fam, v in group.items():
        if fam in ("labels", "last_push_successful", "push_time_seconds",
                   "push_failure_time_seconds"):
            continue
        for m in v["metrics"]:
            out.append(json.dumps({"group": group["labels"], "family": fam,
                                   "type": v["type"], "help": v["help"],
                                   "series": m}, sort_keys=True))
print("\n".join(sorted(out)))
EOF

export COLLECTOR_SPOOL="$T/spool.db"
drive() { "$PY" "$T/driver.py" "$COLLECTOR_SPOOL" "$@" >>"$T/driver.log" 2>&1 ||
	{ diag_file "$T/driver.log" 20; return 1; }; }

# same JOB NAME: JOB's groups are the same at gateway A (the client's
# pushes) and B (the agent's), and not empty
same() {
	"$PY" "$T/gwdump.py" "$GWA" "$1" >"$T/$1.a" 2>&1
	"$PY" "$T/gwdump.py" "$GWB" "$1" >"$T/$1.b" 2>&1
	if [ -s "$T/$1.a" ] && diff -u "$T/$1.a" "$T/$1.b" >"$T/$1.diff"; then
		tap_ok "$2"
	else
		tap_fail "$2 ($(wc -l <"$T/$1.a") series at the client's gateway)"
		diag_file "$T/$1.diff" 40
	fi
}

# ---------------------------------------------------------- no spool yet
out=$("$PY" "$T/driver.py" "$T/missing.db" missing 2>&1)
is "$?" 0 "push_to_spool on a missing spool: NoSpoolError, and no file made"
like "$out" "no spool at $T/missing.db" "... the error names the path"
like "$out" "collector-spool --spool $T/missing.db put" "... and what creates it"

# ------------------------------------------------------------ the setup
# Does this build fold replace rows? collector-spool put refuses the ops
# it does not know.
if "$CS" --spool "$T/probe.db" put --job probe --op replace 'probe 1' >"$T/probe.log" 2>&1; then
	REPLACE=1
else
	REPLACE=0
	echo "# collector-spool put --op replace refused ($(head -n1 "$T/probe.log")): replace checks skipped"
fi
skip_replace() { tap_skip "$1: collector-spool refuses --op replace (no replace op in this build)"; }

gw_start || tap_bail "gateway A (the client's pushes) starts"
GWA=$GW_URL
gw_start || tap_bail "gateway B (the agent's pushes) starts"
GWB=$GW_URL
agent_conf "$T/agent.conf" "$GWB" agentjob agentinst
once() {
	run_agent -c "$T/agent.conf" --once
	is_rc 0 "$1: collector-agent --once exits 0"
}
once "the agent makes the spool"

# ------------------------------------------------------ same at both ends
drive pushadd "$GWA" || tap_fail "pushadd_to_gateway and pushadd_to_spool run"
drive push "$GWA" || tap_fail "push_to_gateway and push_to_spool run"
drive groupings "$GWA" || tap_fail "pushes with a grouping of / and ''"
[ "$REPLACE" = 1 ] && { drive groupings-replace "$GWA" || tap_fail "push_to_spool with a grouping of / and ''"; }
once "the pushes"
# Before the spool knew `replace`, the fold rejected push_to_spool's row.
is "$(spool_stat rejected_total)" "$((1 - REPLACE))" \
	"rows rejected: none but, without the replace op, push_to_spool's"
same pyadd "pushadd_to_spool: the same series, values, types and HELP as pushadd_to_gateway"
is "$(wc -l <"$T/pyadd.a")" 9 "... 9 series: 2 counter, gauge, histogram, summary and 4 _created gauges"
if [ "$REPLACE" = 1 ]; then
	same pyapp "push_to_spool: the same series, values, types and HELP as push_to_gateway"
else
	skip_replace "push_to_spool: the same as push_to_gateway"
fi
like "$(GW_URL=$GWB gw_groups)" '{empty="",job="pygroup",path="/var/lib/x"}' \
	"grouping values with / and empty: the group at the agent's gateway"
same pygroup "grouping values with / and empty: the same group as the client's"
if [ "$REPLACE" = 1 ]; then
	same pygroup2 "push_to_spool with / and empty grouping values: the same group"
else
	skip_replace "push_to_spool with / and empty grouping values"
fi

# ------------------------------------------------- a series goes away
drive pushadd-without-gauge || tap_fail "pushadd_to_spool of a registry without the gauge runs"
[ "$REPLACE" = 1 ] && { drive push-without-gauge || tap_fail "push_to_spool of a registry without the gauge runs"; }
once "the second pushes"
GW_URL=$GWB
is "$(gw_value pyadd 'instance="web1"' app_temperature_celsius)" -21.25 \
	"pushadd_to_spool without the gauge: the gauge stays"
is "$(gw_value pyadd 'instance="web1"' app_requests_total 'method="GET",path="/"')" 5 \
	"pushadd_to_spool: the counter takes the new value"
if [ "$REPLACE" = 1 ]; then
	is "$(gw_value pyapp 'instance="web1"' app_temperature_celsius)" absent \
		"push_to_spool without the gauge: the gauge is gone"
	is "$(gw_value pyapp 'instance="web1"' app_requests_total 'method="GET",path="/"')" 5 \
		"push_to_spool: the counter takes the new value"
	like "$(gw_families pyapp 'instance="web1"')" "app_latency_seconds" \
		"push_to_spool: the other families stay"
else
	skip_replace "push_to_spool without the gauge: the gauge is gone"
fi
# An empty registry empties the group, as a PUT of it does; the group stays.
if [ "$REPLACE" = 1 ]; then
	drive push-empty || tap_fail "push_to_spool of an empty registry runs"
	once "an empty registry"
	is "$(gw_families pyapp 'instance="web1"')" "" "push_to_spool of an empty registry: the group is there, empty"
else
	skip_replace "push_to_spool of an empty registry empties the group"
fi

# ------------------------------------------------------------- deleted
drive delete || tap_fail "delete_from_spool runs"
once "the deletes"
check "delete_from_spool: the group is gone" gw_absent pyadd 'instance="web1"'
check "delete_from_spool: the other group too" gw_absent pyapp 'instance="web1"'
check "delete_from_spool: the groups of other jobs stay" gw_present pygroup 'empty="",path="/var/lib/x"'

# ---------------------------------------------------------- the Spool API
drive api || tap_fail "Spool.set, add and observe run"
once "the Spool API's rows"
is "$(gw_value pyapi '' api_gauge 'k="v\""')" 1.5 "Spool.set: the value, label value escaped"
is "$(gw_value pyapi '' api_runs_total)" 3 "Spool.add: 1 + 2"
is "$(gw_value pyapi '' api_seconds_count)/$(gw_value pyapi '' api_seconds_sum)" 2/3.2 \
	"Spool.observe: two observations"
is "$(spool_stat rejected_total)" "$((1 - REPLACE))" "no more rows rejected"

tap_done
