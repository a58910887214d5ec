#!/usr/bin/env bash
# Native histograms end to end, judged by the real parts from Debian. Four
# writers observe the same 425 values (1 ms to 10 s, a zero, powers of two
# that are bucket boundaries at every schema) into two histograms of job
# nightly, which the agent's configuration makes native at schema 2:
# batch_seconds, and batch_capped_seconds with max_buckets 20, which its 54
# buckets push down to schema 0. A classic histogram, step_seconds, rides
# in the same group as a control.
# One Prometheus 2.42 with --enable-feature=native-histograms and the
# remote-write receiver gets the group three ways, told apart by a label
# "via" its scrape jobs add (the gateway's instance="" and remote write
# both leave the series without an instance):
#   gateway: agent --once -> Pushgateway 1.5.1 (protobuf PUT) -> scraped
#            with honor_labels (via="gateway");
#   pull:    the agent daemon's /metrics, pull only, scraped with
#            honor_labels (via="pull", instance = the agent's address);
#   remote write: agent --once -> /api/v1/write (no via label).
# For each, native_expect.py compares histogram_count, histogram_sum,
# histogram_quantile(0.9) and the buckets with the observations (its
# header says how exact each is and why), and the control must arrive as
# _bucket, _sum and _count series. The text pages (the gateway's, the
# agent's without a protobuf Accept) show a native histogram as its +Inf
# bucket, _sum and _count, and promtool accepts them.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway promtool
[ -x "$PROM" ] || { echo "1..0 # SKIP $PROM not installed"; exit 0; }

SCHEMA=2
CAP=20
NE="$INT_DIR/native_expect.py"
PB_ACCEPT='application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited'
export COLLECTOR_SPOOL="$T/n.db"

# ------------------------------------------------ Prometheus, started first
# (the slowest to come up; it starts while the writers and agents run)
GW_PORT=$(free_port)
lport=$(free_port)
pport=$(free_port)
P="http://127.0.0.1:$pport"
cat >"$T/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: gateway
    honor_labels: true
    static_configs: [ { targets: [ "127.0.0.1:$GW_PORT" ] } ]
    metric_relabel_configs: [ { target_label: via, replacement: gateway } ]
  - job_name: agentpull
    honor_labels: true
    static_configs: [ { targets: [ "127.0.0.1:$lport" ] } ]
    metric_relabel_configs: [ { target_label: via, replacement: pull } ]
YML
"$PROM" --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/tsdb" \
	--web.listen-address="127.0.0.1:$pport" --enable-feature=native-histograms \
	--web.enable-remote-write-receiver >"$T/prom.log" 2>&1 &
ppid=$!
track "$ppid"
gw_start "$GW_PORT" || tap_bail "the gateway starts"

# ------------------------------------------------------------ the writers
"$PY" "$NE" obs >"$T/obs.txt"
N=$(wc -l <"$T/obs.txt")
echo "# want: batch_seconds: $("$PY" "$NE" want "$T/obs.txt" "$SCHEMA")"
echo "# want: batch_capped_seconds: $("$PY" "$NE" want "$T/obs.txt" "$SCHEMA" "$CAP")"
# The classic control first: it makes the spool, which the Python package
# never does (it refuses a path with no spool), so its writer below cannot
# start before there is one.
"$CS" put --job nightly --grouping '' --op observe \
	'step_seconds 0.05' 'step_seconds 0.3' 'step_seconds 0.7' 'step_seconds 3'
# Writer w takes every fourth observation: three collector-spool
# processes, ten per row, and one Python process with the collector_spool
# package, one per row; so the rows of the four interleave in the spool.
wpids=()
for w in 0 1 2; do
	awk -v w=$w 'NR % 4 == w { print "batch_seconds " $0; print "batch_capped_seconds " $0 }' "$T/obs.txt" |
		xargs -d '\n' -n 10 "$CS" put --job nightly --grouping '' --op observe \
		2>"$T/writer-$w.err" &
	wpids+=($!)
	track "$!"
done
awk 'NR % 4 == 3' "$T/obs.txt" | PYTHONPATH="$INT_DIR/../../contrib/python" "$PY" -c '
import sys
from collector_spool import Spool
with Spool() as s:
    for line in sys.stdin:
        s.observe("batch_seconds", float(line), job="nightly", grouping={})
        s.observe("batch_capped_seconds", float(line), job="nightly", grouping={})
' 2>"$T/writer-3.err" &
wpids+=($!)
track "$!"
wrc=
for p in "${wpids[@]}"; do
	if wait_exit "$p" 30; then wrc="$wrc$STOP_RC"; else wrc="${wrc}T"; fi
done
is "$wrc" 0000 "four writers, each putting its quarter of the $N observations: exit 0"
for w in 0 1 2 3; do [ ! -s "$T/writer-$w.err" ] || diag_file "$T/writer-$w.err" 5; done
rows=$(awk '{ n[NR % 4] += 2 } END { print int((n[0] + 9) / 10) + int((n[1] + 9) / 10) + int((n[2] + 9) / 10) + n[3] + 1 }' "$T/obs.txt")
is "$(spool_stat pending_rows)" "$rows" "their $((rows - 1)) rows and the control's wait in the spool"

hist_conf() {
	cat <<CONF
histograms = (
    { name = "batch_seconds"; format = "native"; schema = $SCHEMA; },
    { name = "batch_capped_seconds"; format = "native"; schema = $SCHEMA; max_buckets = $CAP; },
    { name = "step_seconds"; format = "classic"; buckets = [ 0.1, 0.5, 2.5 ]; }
);
CONF
}

# ------------------------------------------------------ path 1: the gateway
agent_conf "$T/gw.conf" "$GW_URL" agentjob agenthost
hist_conf >>"$T/gw.conf"
run_agent -c "$T/gw.conf" --once
is_rc 0 "gateway: agent --once folds and pushes: exit 0"
# Prometheus is waited for only on the paths whose agent did its part.
went_gw=$RC
is "$(gw_status nightly '')" ok "gateway: it took the PUT of the group"
curl -s --max-time 5 "$GW_URL/metrics" -o "$T/gw.txt"
is "$(awk '/^batch_/ { sub(/ .*/, ""); print }' "$T/gw.txt" | sort)" \
	'batch_capped_seconds_bucket{instance="",job="nightly",le="+Inf"}
batch_capped_seconds_count{instance="",job="nightly"}
batch_capped_seconds_sum{instance="",job="nightly"}
batch_seconds_bucket{instance="",job="nightly",le="+Inf"}
batch_seconds_count{instance="",job="nightly"}
batch_seconds_sum{instance="",job="nightly"}' \
	"gateway: its text page shows the native histogram as le=\"+Inf\", _sum and _count"
is "$(awk '/^batch_(capped_)?seconds_(bucket|count)/ { print $2 }' "$T/gw.txt" | paste -sd, -)" "$N,$N,$N,$N" \
	"gateway: its text page: the +Inf buckets and _counts are the $N observations"
check "gateway: promtool check metrics accepts its text page" promtool_check "$T/gw.txt"

# ------------------------------------------------- path 3: remote write
check "Prometheus is ready" wait_until -t 30 curl -sf --max-time 1 "$P/-/ready" -o /dev/null ||
	{ diag_file "$T/prom.log"; tap_bail "Prometheus starts"; }
agent_conf "$T/rw.conf" "http://127.0.0.1:1" agentjob agenthost enabled=false
echo "remote_write: { url = \"$P/api/v1/write\"; };" >>"$T/rw.conf"
hist_conf >>"$T/rw.conf"
run_agent -c "$T/rw.conf" --once
is_rc 0 "remote write: agent --once to Prometheus: exit 0"
went_rw=$RC
like "$ERR" 'msg="remote write sent"' "remote write: the agent says it sent"

# ------------------------------------------------------------ path 2: pull
agent_conf "$T/pull.conf" "http://127.0.0.1:1" agentjob agenthost enabled=false
hist_conf >>"$T/pull.conf"
agent_start pull -c "$T/pull.conf" --listen "127.0.0.1:$lport"
apid=$AGENT_PID
if starts "$apid" ready "http://127.0.0.1:$lport"; then
	went_pull=0
	tap_ok "pull: the agent's listener is ready"
else
	went_pull=1
	tap_fail "pull: the agent's listener is ready"
	diag_file "$T/pull.err"
fi
curl -s --max-time 5 "http://127.0.0.1:$lport/metrics" -o "$T/pull.txt"
is "$(awk '/^batch_/ { sub(/ .*/, ""); print }' "$T/pull.txt" | sort)" \
	'batch_capped_seconds_bucket{job="nightly",le="+Inf"}
batch_capped_seconds_count{job="nightly"}
batch_capped_seconds_sum{job="nightly"}
batch_seconds_bucket{job="nightly",le="+Inf"}
batch_seconds_count{job="nightly"}
batch_seconds_sum{job="nightly"}' \
	"pull: /metrics without a protobuf Accept: text, the native histogram as le=\"+Inf\", _sum and _count"
check "pull: promtool check metrics accepts it" promtool_check "$T/pull.txt"
is "$(curl -s --max-time 5 -H "Accept: $PB_ACCEPT" -o /dev/null -w '%{content_type}' "http://127.0.0.1:$lport/metrics")" \
	'application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited' \
	"pull: /metrics with a protobuf Accept answers protobuf"

# ---------------------------------------------------- what Prometheus shows
# q EXPR: the instant vector as sorted lines 'name{labels sorted} value'
q() { prom_query "$P" "$1"; }
sel_gw='job="nightly",via="gateway"'
sel_pull='job="nightly",via="pull"'
sel_rw='job="nightly",via=""'
has_count() { [ "$(q "histogram_count(batch_seconds{$1})" | sed 's/.* //')" = "$N" ]; }
for path in gw pull rw; do
	eval "sel=\$sel_$path went=\$went_$path"
	if [ "$went" != 0 ]; then
		tap_fail "$path: Prometheus has batch_seconds{$sel} as a native histogram" \
			"not waited for: the agent's part failed above"
		continue
	fi
	if ! wait_until -t 30 has_count "$sel"; then
		tap_fail "$path: Prometheus has batch_seconds{$sel} as a native histogram" \
			"histogram_count: $(q "histogram_count(batch_seconds{$sel})")" \
			"series: $(q "{__name__=~\"batch_seconds.*\",$sel}")"
		continue
	fi
	tap_ok "$path: Prometheus has batch_seconds{$sel} as a native histogram"
	for h in batch_seconds:0 batch_capped_seconds:$CAP; do
		while IFS=$'\t' read -r res name diag; do
			case $res in
			ok) tap_ok "$path: ${h%:*}: $name" ;;
			"#") echo "# $path: ${h%:*}: $name" ;;
			*) tap_fail "$path: ${h%:*}: $name" "$diag" ;;
			esac
		done < <("$PY" "$NE" prom "$P" "${h%:*}{$sel}" "$T/obs.txt" "$SCHEMA" "${h#*:}")
	done
done

# The classic control: _bucket, _sum and _count series, no native one.
# classic_want LABELS VIA: the lines q gives for step_seconds; LABELS are
# the ones sorted before job ('instance="...",' or ''), VIA the via label
# (',via="..."' or '').
classic_want() {
	printf '%s\n' \
		"step_seconds_bucket{$1job=\"nightly\",le=\"+Inf\"$2} 4" \
		"step_seconds_bucket{$1job=\"nightly\",le=\"0.1\"$2} 1" \
		"step_seconds_bucket{$1job=\"nightly\",le=\"0.5\"$2} 2" \
		"step_seconds_bucket{$1job=\"nightly\",le=\"2.5\"$2} 3" \
		"step_seconds_count{$1job=\"nightly\"$2} 4" \
		"step_seconds_sum{$1job=\"nightly\"$2} 4.05" | sort
}
is "$(q "{__name__=~\"step_seconds.*\",$sel_gw}")" "$(classic_want "" ',via="gateway"')" \
	"gateway: the classic control arrives as _bucket, _sum and _count"
is "$(q "{__name__=~\"step_seconds.*\",$sel_pull}")" "$(classic_want "instance=\"127.0.0.1:$lport\"," ',via="pull"')" \
	"pull: the classic control arrives as _bucket, _sum and _count"
is "$(q "{__name__=~\"step_seconds.*\",$sel_rw}")" "$(classic_want "" "")" \
	"remote write: the classic control arrives as _bucket, _sum and _count"
is "$(q 'histogram_count(step_seconds)')" "" "the classic control is no native histogram anywhere"
is "$(q '{__name__=~"batch_(capped_)?seconds_.+"}')" "" "the native histograms have no _bucket, _sum or _count series anywhere"

is "$(q 'up{job="gateway"}')/$(q 'up{job="agentpull"}')" \
	"up{instance=\"127.0.0.1:$GW_PORT\",job=\"gateway\"} 1/up{instance=\"127.0.0.1:$lport\",job=\"agentpull\"} 1" \
	"both targets up"
pm() { curl -s --max-time 5 "$P/metrics" | awk -v n="$1" '$1 == n { print $2 }'; }
is "$(pm prometheus_target_scrapes_sample_duplicate_timestamp_total)/$(pm prometheus_target_scrapes_sample_out_of_order_total)/$(pm prometheus_target_scrapes_exceeded_sample_limit_total)" \
	"0/0/0" "no duplicate, out-of-order or excess samples in any scrape"

stop_pid "$apid" 10
is "$STOP_RC" 0 "pull: the agent stops with 0"
stop_pid "$ppid" 10
gw_stop
tap_done
