#!/usr/bin/env bash
# Native histograms over remote write, against a real Prometheus 2.42:
#   - with --enable-feature=native-histograms: a histogram made by hand
#     (rw_send) reads back bucket by bucket; rows observed into a native
#     histogram and a "both" one, sent by the agent's --once, give exact
#     histogram_count and histogram_sum, a histogram_quantile within the
#     schema's relative error, no float series for the native-only one,
#     the classic series for the "both" one; a group deleted gets a float
#     staleness marker on NAME, which Prometheus takes as a stale
#     histogram;
#   - without the flag: Prometheus answers a histogram with a 500 "native
#     histograms are disabled"; the agent's --once says so once with the
#     fix, sends the floats again without the histograms and exits 65; the
#     daemon does not retry that 500 round after round.
set -u
. "$(dirname "$0")/lib.sh"
need agent
RW_SEND="$BUILD/tests/rw_send"
[ -x "$PROM" ] || { echo "1..0 # SKIP $PROM not installed"; exit 0; }
[ -x "$RW_SEND" ] || { echo "1..0 # SKIP rw_send not built"; exit 0; }
PROM_PLAIN=$PROM
# exec: the PID prom_rw_start tracks is Prometheus' own.
printf '#!/bin/sh\nexec %s --enable-feature=native-histograms "$@"\n' "$PROM_PLAIN" >"$T/prom-native"
chmod +x "$T/prom-native"

pq() { prom_query "$PROM_URL" "$1"; }
pq_is() { [ "$(pq "$1")" = "$2" ]; }
now_ms() { echo $(( $(now_us) / 1000 )); }

# ------------------------------------ Prometheus with native histograms
PROM="$T/prom-native" prom_rw_start || tap_bail "Prometheus (native histograms on) starts"
url="$PROM_URL/api/v1/write"

# Schema 3: positive buckets -1, 0, 3 and 10, one negative, two in the
# zero bucket.
ts=$(now_ms)
printf 'h_hand\tjob="x"\t\thist schema=3 count=10 sum=12.5 zero=2 pos=-1:1,0:2,3:1,10:3 neg=2:1\t%s\n' "$ts" >"$T/hand.tsv"
is "$("$RW_SEND" "$url" "$T/hand.tsv")" 204 "a histogram by hand: 204"
buckets() {
	curl -s --max-time 5 -G "$PROM_URL/api/v1/query" --data-urlencode "query=$1" | "$PY" -c '
import json, sys
for r in json.load(sys.stdin)["data"]["result"]:
    h = r["histogram"][1]
    print(h["count"], h["sum"], " ".join("%d:%s:%s:%s" % tuple(b) for b in h["buckets"]))'
}
is "$(buckets 'h_hand{job="x"}')" "10 12.5 1:-1.189207115002721:-1.0905077326652577:1 3:-2.938735877055719e-39:2.938735877055719e-39:2 0:0.8408964152537144:0.9170040432046711:1 0:0.9170040432046711:1:2 0:1.189207115002721:1.2968395546510096:1 0:2.1810154653305154:2.378414230005442:3" \
	"... read back: count, sum, each bucket's bounds (2^(i/8)) and count, the zero bucket"
printf 'h_hand\tjob="x"\t\tstale\t%s\n' $((ts + 1)) >"$T/stale.tsv"
is "$("$RW_SEND" "$url" "$T/stale.tsv")" 204 "a float staleness marker on the histogram's series: 204"
is "$(pq 'histogram_count(h_hand)')" "" "... and the histogram is stale at once"

# The agent: observe rows into job_seconds (native, schema 3) and
# both_seconds (both), and a gauge. Sums exact in binary.
export COLLECTOR_SPOOL="$T/native.db"
"$CS" put --job batch --grouping '' --op observe 'job_seconds 0.125' 'job_seconds 3' \
	'job_seconds 3' 'job_seconds 3' 'job_seconds 3' 'job_seconds 3' 'job_seconds 3' \
	'job_seconds 3' 'job_seconds 3' 'job_seconds 50' 'both_seconds 2'
"$CS" put --job batch --grouping '' 'n_gauge 4'
conf() {
	agent_conf "$1" "http://127.0.0.1:1" aj ai enabled=false
	cat >>"$1" <<-EOF
	histograms = ( { name = "job_seconds"; format = "native"; schema = 3; },
	               { name = "both_seconds"; format = "both"; } );
	remote_write: { url = "$2"; };
	EOF
}
conf "$T/n.conf" "$url"
run_agent -c "$T/n.conf" --once
is_rc 0 "--once to Prometheus with native histograms: exit 0"
like "$ERR" 'msg="remote write sent" samples=61 ' \
	"one request: 2 histograms, both_seconds' 12 buckets, sum and count, n_gauge, 44 of the agent's own"
is "$(pq 'histogram_count(job_seconds)')" '{job="batch"} 10' "histogram_count exact"
is "$(pq 'histogram_sum(job_seconds)')" '{job="batch"} 74.125' "histogram_sum exact"
# The 0.9 quantile of the ten observations is 3 (the 9th); at schema 3 a
# bucket spans a factor 2^(1/8), so Prometheus' estimate is within 9.05 %.
q=$(pq 'histogram_quantile(0.9, job_seconds)' | awk '{ print $2 }')
check "histogram_quantile(0.9) = $q, within 2^(1/8)-1 of 3" \
	awk -v q="${q:-0}" 'BEGIN { e = (q - 3) / 3; if (e < 0) e = -e; exit !(e <= 2 ^ (1 / 8) - 1) }'
is "$(pq '{__name__=~"job_seconds_.+"}')" "" "a native-only histogram sends no float series"
is "$(pq 'histogram_count(both_seconds)')" '{job="batch"} 1' "a both histogram: the native one"
is "$(pq '{__name__=~"both_seconds_(sum|count)|both_seconds_bucket",le=~"|2.5|\\+Inf"}')" \
	'both_seconds_bucket{job="batch",le="+Inf"} 1
both_seconds_bucket{job="batch",le="2.5"} 1
both_seconds_count{job="batch"} 1
both_seconds_sum{job="batch"} 2' "... and its classic series"
is "$(pq n_gauge)" 'n_gauge{job="batch"} 4' "the gauge"

# Gone: a float staleness NaN on NAME, taken as a stale histogram.
"$CS" delete --job batch --grouping '' >/dev/null
run_agent -c "$T/n.conf" --once
is_rc 0 "--once after the group's delete: exit 0"
is "$(markers "$AGENT_ERR_FILE")" 17 "markers: 2 histograms, 14 classic series, the gauge"
check "Prometheus refused no request" not grep -q 'refused' "$AGENT_ERR_FILE"
is "$(pq 'histogram_count({__name__=~"job_seconds|both_seconds"})')" "" "the histograms are stale at once"
is "$(pq '{__name__=~"n_gauge|both_seconds_count"}')" "" "so are the floats"
stop_pid "$PROM_PID" 10
mv "$T/prom" "$T/prom-native.d"

# --------------------------------- Prometheus without native histograms
PROM=$PROM_PLAIN prom_rw_start || tap_bail "Prometheus (native histograms off) starts"
url="$PROM_URL/api/v1/write"
printf 'h_hand\tjob="x"\t\thist schema=3 count=1 sum=1 pos=0:1\t%s\n' "$(now_ms)" >"$T/off.tsv"
is "$("$RW_SEND" "$url" "$T/off.tsv")" "500
native histograms are disabled" "Prometheus 2.42 without the flag: 500, native histograms are disabled"

export COLLECTOR_SPOOL="$T/off.db"
"$CS" put --job batch --grouping '' --op observe 'job_seconds 3' 'both_seconds 2'
"$CS" put --job batch --grouping '' 'n_gauge 4'
conf "$T/off.conf" "$url"
run_agent -c "$T/off.conf" --once
is_rc 65 "--once: exit 65 (histograms refused, dropped)"
like "$ERR" "level=error msg=\"the remote write receiver has native histograms disabled; they are left out for it until a reload or a restart, the other samples go; start Prometheus with --enable-feature=native-histograms, or set the histogram's format to classic or both\" url=$url histograms=2 code=500 reason=\"native histograms are disabled\"" \
	"one error naming the receiver and the fix"
is "$(grep -c 'native histograms disabled' "$AGENT_ERR_FILE")" 1 "... once"
like "$ERR" "level=warn msg=\"native histograms were not delivered: the remote write receiver has them disabled; start Prometheus with --enable-feature=native-histograms, or set the histogram's format to classic or both\" url=$url histograms=2" \
	"--once ends with a warning that says so"
like "$ERR" 'msg="remote write sent" samples=59 ' "the same request again without them (61 - 2) is delivered"
check "no retry of the 500" not grep -q 'will retry' "$AGENT_ERR_FILE"
is "$(pq '{__name__=~"n_gauge|both_seconds_count"}')" 'both_seconds_count{job="batch"} 1
n_gauge{job="batch"} 4' "the floats arrived, the classic series of the both histogram too"

# The daemon: histograms left out after the first refusal, not retried.
agent_start off -c "$T/off.conf"
apid=$AGENT_PID
sent() { grep -c 'msg="remote write sent"' "$T/off.err"; }
three() { [ "$(sent)" -ge 3 ]; }
check "the daemon sends three rounds" wait_until -t 20 three
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
is "$(grep -c 'native histograms disabled' "$T/off.err")" 1 "the refusal once, not round after round"
check "no retry" not grep -q 'will retry' "$T/off.err"
stop_pid "$PROM_PID" 10
tap_done
