#!/usr/bin/env bash
# Pull mode judged by a real Prometheus (2.42 from Debian): it scrapes the
# agent's /metrics with honor_labels, as contrib/prometheus/prometheus.yml
# does, and its query API must show the groups' series with their job and
# grouping labels, the agent's own metrics under the scrape target's job,
# and no scrape error or duplicate sample.
set -u
. "$(dirname "$0")/lib.sh"
need agent
PROM=${PROM:-/usr/bin/prometheus}
[ -x "$PROM" ] || { echo "1..0 # SKIP $PROM not installed"; exit 0; }

export COLLECTOR_SPOOL="$T/p.db"
"$CS" put --job web --grouping 'instance="h1"' '# TYPE hits_total counter' 'hits_total{path="/"} 7'
"$CS" put --job web --grouping 'instance="h2"' '# TYPE hits_total counter' 'hits_total{path="/",instance="x"} 5'
"$CS" put --job batch --grouping '' --op observe 'run_seconds 0.3' 'run_seconds 7'
lport=$(free_port)
PROMETHEUS_PUSHGATEWAY_ENABLED=false agent_start a --spool "$COLLECTOR_SPOOL" --listen "127.0.0.1:$lport"
apid=$AGENT_PID
wait_until curl -sf --max-time 1 "http://127.0.0.1:$lport/-/ready" -o /dev/null

pport=$(free_port)
cat >"$T/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: agentpull
    honor_labels: true
    static_configs: [ { targets: [ "127.0.0.1:$lport" ] } ]
YML
"$PROM" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$pport" >"$T/prom.log" 2>&1 &
ppid=$!
track "$ppid"
P="http://127.0.0.1:$pport"
# q EXPR: the instant vector as sorted lines 'labels value' (labels sorted,
# __name__ left out), or "" when empty or while Prometheus, still
# starting, answers nothing.
q() {
	curl -s --max-time 5 -G "$P/api/v1/query" --data-urlencode "query=$1" | "$PY" -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
out = []
for r in d.get("data", {}).get("result", []):
    m = r["metric"]; m.pop("__name__", None)
    out.append("{%s} %s" % (",".join("%s=\"%s\"" % (k, m[k]) for k in sorted(m)), r["value"][1]))
print("\n".join(sorted(out)))'
}
scraped() { [ "$(q 'up{job="agentpull"}')" = "{instance=\"127.0.0.1:$lport\",job=\"agentpull\"} 1" ] &&
	[ -n "$(q 'hits_total')" ]; }
if ! wait_until -t 30 scraped; then
	tap_fail "Prometheus scrapes the agent" "$(tail -5 "$T/prom.log")"
	tap_done; exit 1
fi
tap_ok "Prometheus scrapes the agent (up == 1)"
is "$(q 'hits_total')" '{instance="h1",job="web",path="/"} 7
{instance="h2",job="web",path="/"} 5' "the groups' series with job and grouping labels (the grouping's instance wins)"
# A group without an instance: Prometheus puts the target's (as it does
# for the Pushgateway's instance="").
is "$(q 'run_seconds_count')/$(q 'run_seconds_bucket{le="0.5"}')" \
	"{instance=\"127.0.0.1:$lport\",job=\"batch\"} 2/{instance=\"127.0.0.1:$lport\",job=\"batch\",le=\"0.5\"} 1" \
	"an observed histogram from a group without grouping labels"
is "$(q 'collector_agent_up')" "{instance=\"127.0.0.1:$lport\",job=\"agentpull\"} 1" \
	"the agent's own metrics carry the scrape target's job and instance"
is "$(q 'collector_agent_series')" "{instance=\"127.0.0.1:$lport\",job=\"agentpull\"} 3" "collector_agent_series"
# Prometheus's own counters of bad scrapes (from its /metrics).
pm() { curl -s --max-time 5 "$P/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
is "$(pm prometheus_target_scrapes_sample_duplicate_timestamp_total)/$(pm prometheus_target_scrapes_sample_out_of_order_total)/$(pm prometheus_target_scrapes_exceeded_sample_limit_total)" \
	"0/0/0" "no duplicate, out-of-order or excess samples in any scrape"
stop_pid "$ppid" 10
stop_pid "$apid" 10
is "$STOP_RC" 0 "the agent stops with 0"
tap_done
