#!/usr/bin/env bash
# The remote-write encoder (agent/rw.c) against the real receivers from
# Debian 12: Prometheus 2.42 (--web.enable-remote-write-receiver) and
# VictoriaMetrics 1.79, each on 127.0.0.1 with a temporary data directory.
# tests/helpers/rw_send encodes samples with rw_batch_* and POSTs them;
# rw_query.py reads them back through each receiver's query API. Checked:
# exact values (0, -1.5, 1e300, +Inf, -Inf, NaN, and a 16-digit fraction),
# timestamps and label sets (escapes arrive unescaped, the group's labels
# win, empty values are absent, an upper-case name sorts before __name__,
# histogram series), staleness markers, and how each receiver answers
# samples it cannot take. Prometheus 2.42: 400 (which the sink drops, never
# retries) for a sample over an hour behind its head ("out of bounds"), out
# of order, or another value at a stored timestamp (a staleness marker at
# the last sample's timestamp included); the whole request is refused, good
# samples in it too; the same sample sent again is 204 (retries are safe);
# a series' samples in one request newest first are 204 but the older are
# dropped silently, so a sender orders them by time.
#
# What VictoriaMetrics 1.79.5 does differently, asserted as it is:
#   - it drops ordinary NaN samples at ingestion (only the staleness NaN is
#     kept);
#   - it keeps about 12 significant digits of a fractional value
#     (3.141592653589793 reads back as 3.141592653589; integers up to 2^63
#     are exact);
#   - it answers 204 to everything valid and keeps it all: old samples,
#     out-of-order samples, two values at one timestamp; samples outside
#     -retentionPeriod are dropped silently (still 204);
#   - recently written data needs /internal/force_flush before a query
#     sees it for sure;
#   - a staleness marker ends the series for instant queries, as in
#     Prometheus, but a range selector (x[1m]) returns it as NaN and the
#     export as null (Prometheus hides it).
set -u
. "$(dirname "$0")/lib.sh"
need
RW_SEND="$BUILD/tests/rw_send"
PROM_BIN=${PROM_BIN:-/usr/bin/prometheus}
VM_BIN=${VM_BIN:-/usr/bin/victoria-metrics}
[ -x "$RW_SEND" ] || { echo "1..0 # SKIP $RW_SEND not built"; exit 0; }
[ -x "$PROM_BIN" ] || { echo "1..0 # SKIP $PROM_BIN not installed"; exit 0; }
[ -x "$VM_BIN" ] || { echo "1..0 # SKIP $VM_BIN not installed"; exit 0; }

rwq() { "$PY" "$INT_DIR/rw_query.py" "$@"; }
ms_now() { echo $(( $(now_us) / 1000 )); }

# ------------------------------------------------------------ receivers
VM_PORT=$(free_port)
VM_URL="http://127.0.0.1:$VM_PORT"
"$VM_BIN" -httpListenAddr="127.0.0.1:$VM_PORT" -storageDataPath="$T/vm" \
	-retentionPeriod=1d -search.latencyOffset=0s -search.disableCache \
	>"$T/vm.log" 2>&1 &
VM_PID=$!
track "$VM_PID"

PROM=$PROM_BIN
prom_rw_start || tap_bail "Prometheus starts"
# up PID URL: the process is ours and alive, and answers URL
up() { kill -0 "$1" 2>/dev/null && curl -sf --max-time 1 "$2" >/dev/null 2>&1; }
if ! wait_until -t 20 up "$VM_PID" "$VM_URL/health"; then
	tap_bail "VictoriaMetrics starts" "$(tail -n 30 "$T/vm.log")"
fi
# A port taken by someone else between free_port and the bind ends the
# receiver right after the check above; look once more.
if ! kill -0 "$VM_PID" 2>/dev/null || ! kill -0 "$PROM_PID" 2>/dev/null; then
	tap_fail "both receivers stay up"; diag_file "$T/vm.log"; diag_file "$T/prom.log"
	tap_done; exit 1
fi
tap_ok "Prometheus and VictoriaMetrics are up on 127.0.0.1"

# send URL FILE [HEADER...]: runs rw_send; sets SEND_RC, SEND_STATUS (its
# first line) and SEND_BODY (the rest, one line)
send() {
	local out
	out=$(timeout -k 2 30 "$RW_SEND" "$@" 2>"$T/rw_send.err")
	SEND_RC=$?
	SEND_STATUS=${out%%$'\n'*}
	SEND_BODY=
	case $out in *$'\n'*) SEND_BODY=$(printf '%s' "${out#*$'\n'}" | tr '\n' ' ') ;; esac
	SEND_BODY=${SEND_BODY% }
}
# sent_is STATUS RC NAME: checks the last send
sent_is() {
	if [ "$SEND_STATUS" = "$1" ] && [ "$SEND_RC" = "$2" ]; then
		tap_ok "$3"
	else
		tap_fail "$3" "got status $SEND_STATUS, exit $SEND_RC, body: $SEND_BODY" \
			"want status $1, exit $2"
		diag_file "$T/rw_send.err"
	fi
}
# row NAME GROUP LABELS VALUE TS: one line of rw_send's input
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@"; }
# vm_flush: makes what VictoriaMetrics took searchable
vm_flush() { curl -sf --max-time 5 "$VM_URL/internal/force_flush" >/dev/null; }
# read_is WANT URL QUERY TIME_MS: for wait_until (sets GOT)
read_is() { GOT=$(rwq query "$2" "$3" "$4" 2>&1) && [ "$GOT" = "$1" ]; }
# read_check NAME WANT URL QUERY TIME_MS [SECONDS]: waits for the answer
# (VictoriaMetrics: flushes first), then checks it
read_check() {
	local name=$1 want=$2 url=$3 q=$4 t=$5 secs=${6:-10}
	[ "$url" = "$VM_URL" ] && vm_flush
	if wait_until -t "$secs" read_is "$want" "$url" "$q" "$t"; then
		tap_ok "$name"
	else
		tap_fail "$name" "query: $q at $t" "got:" "$GOT" "want:" "$want"
	fi
}

# ------------------------------------------------------- rw_send itself
row rwt_bad 'job="x"' 'bad' 1 1 >"$T/bad.tsv"
send "$VM_URL/api/v1/write" "$T/bad.tsv"
is "$SEND_RC/$SEND_STATUS" "2/" "rw_send: labels that do not parse: exit 2, nothing sent"
: >"$T/empty.tsv"
for R in prom vm; do
	[ $R = prom ] && URL=$PROM_URL || URL=$VM_URL
	send "$URL/api/v1/write" "$T/empty.tsv"
	sent_is 204 0 "$R: an empty WriteRequest is taken (204)"
done

# ----------------------------------------------------------- the samples
G='instance="h1",job="rwt"'
T0=$(ms_now)
{
	row rwt_value "$G" 'case="zero"' 0 "$T0"
	row rwt_value "$G" 'case="neg"' -1.5 "$T0"
	row rwt_value "$G" 'case="big"' 1e300 "$T0"
	row rwt_value "$G" 'case="pinf"' +Inf "$T0"
	row rwt_value "$G" 'case="ninf"' -Inf "$T0"
	row rwt_value "$G" 'case="nan"' NaN "$T0"
	row rwt_value "$G" 'case="pi"' 3.141592653589793 "$T0"
	row rwt_escape "$G" 'path="C:\\dir\\x",quote="say \"hi\"",nl="a\nb",utf="grüße"' 1 "$T0"
	row rwt_clash "$G" 'job="series-job",x="1"' 2 "$T0"
	row rwt_clash_empty 'instance="",job="rwt"' 'instance="s1",y="2"' 2 "$T0"
	row rwt_empty "$G" 'empty="",kept="yes"' 3 "$T0"
	row rwt_upper "$G" 'Zone="eu"' 4 "$T0"
	row rwt_latency_seconds_bucket "$G" 'le="0.1"' 3 "$T0"
	row rwt_latency_seconds_bucket "$G" 'le="1"' 4 "$T0"
	row rwt_latency_seconds_bucket "$G" 'le="+Inf"' 5 "$T0"
	row rwt_latency_seconds_sum "$G" '' 1.25 "$T0"
	row rwt_latency_seconds_count "$G" '' 5 "$T0"
	row rwt_order "$G" '' 1 "$T0"
	row rwt_stale "$G" '' 7 "$T0"
} >"$T/samples.tsv"

# What both receivers must hold, one line per sample (rw_query.py's form:
# label values escaped again, so they read as written above).
L='instance="h1",job="rwt"'
COMMON="rwt_clash_empty{job=\"rwt\",y=\"2\"} 2 @$T0
rwt_clash{$L,x=\"1\"} 2 @$T0
rwt_empty{$L,kept=\"yes\"} 3 @$T0
rwt_escape{$L,nl=\"a\\nb\",path=\"C:\\\\dir\\\\x\",quote=\"say \\\"hi\\\"\",utf=\"grüße\"} 1 @$T0
rwt_latency_seconds_bucket{$L,le=\"+Inf\"} 5 @$T0
rwt_latency_seconds_bucket{$L,le=\"0.1\"} 3 @$T0
rwt_latency_seconds_bucket{$L,le=\"1\"} 4 @$T0
rwt_latency_seconds_count{$L} 5 @$T0
rwt_latency_seconds_sum{$L} 1.25 @$T0
rwt_order{$L} 1 @$T0
rwt_stale{$L} 7 @$T0
rwt_upper{Zone=\"eu\",$L} 4 @$T0
rwt_value{case=\"big\",$L} 1e+300 @$T0
rwt_value{case=\"neg\",$L} -1.5 @$T0
rwt_value{case=\"ninf\",$L} -Inf @$T0
rwt_value{case=\"pinf\",$L} +Inf @$T0
rwt_value{case=\"zero\",$L} 0 @$T0"
WANT_PROM=$(printf '%s\n%s\n%s\n' "$COMMON" \
	"rwt_value{case=\"nan\",$L} NaN @$T0" \
	"rwt_value{case=\"pi\",$L} 3.141592653589793 @$T0" | sort)
# VictoriaMetrics 1.79: no NaN sample, 12 significant digits.
WANT_VM=$(printf '%s\n%s\n' "$COMMON" \
	"rwt_value{case=\"pi\",$L} 3.141592653589 @$T0" | sort)
ALL='{__name__=~"rwt_.*"}[1m]'

# sample_check R NAME GREP WANT: one part of the read-back, by grep -F
sample_check() {
	local got
	got=$(printf '%s\n' "$READ" | grep -F -- "$3")
	is "$got" "$4" "$1: $2"
}

for R in prom vm; do
	if [ $R = prom ]; then URL=$PROM_URL WANT=$WANT_PROM; else URL=$VM_URL WANT=$WANT_VM; fi
	send "$URL/api/v1/write" "$T/samples.tsv" 'X-Scope-OrgID: rwtest'
	sent_is 204 0 "$R: rw_send posts $(grep -c . "$T/samples.tsv") samples: 204, exit 0"
	read_check "$R: every sample reads back with its exact value, timestamp and label set" \
		"$WANT" "$URL" "$ALL" "$T0"
	READ=$(rwq query "$URL" "$ALL" "$T0" 2>&1)
	sample_check $R 'escaped label values (\\ \" \n) arrive unescaped' 'rwt_escape{' \
		"rwt_escape{$L,nl=\"a\\nb\",path=\"C:\\\\dir\\\\x\",quote=\"say \\\"hi\\\"\",utf=\"grüße\"} 1 @$T0"
	# PromQL strings take Go escapes: this matches a real newline,
	# backslash and quote only.
	read_check "$R: a selector with the unescaped values finds the series" \
		"rwt_escape{$L,nl=\"a\\nb\",path=\"C:\\\\dir\\\\x\",quote=\"say \\\"hi\\\"\",utf=\"grüße\"} 1" \
		"$URL" 'rwt_escape{nl="a\nb",path="C:\\dir\\x",quote="say \"hi\"",utf="grüße"}' "$T0"
	sample_check $R "a group label wins over the series' label of the same name" \
		'rwt_clash{' "rwt_clash{$L,x=\"1\"} 2 @$T0"
	sample_check $R "a group label with an empty value removes the series' label" \
		'rwt_clash_empty{' "rwt_clash_empty{job=\"rwt\",y=\"2\"} 2 @$T0"
	sample_check $R "a label with an empty value is absent" \
		'rwt_empty{' "rwt_empty{$L,kept=\"yes\"} 3 @$T0"
	sample_check $R "an upper-case label name (sorted before __name__) is taken" \
		'rwt_upper{' "rwt_upper{Zone=\"eu\",$L} 4 @$T0"
	sample_check $R "histogram _bucket, _sum and _count series" 'rwt_latency_seconds_' \
		"$(printf '%s\n' "$COMMON" | grep -F 'rwt_latency_seconds_' | sort)"
	sample_check $R "values 0, -1.5, 1e300, +Inf, -Inf exact" \
		"$(printf 'case="big"\ncase="neg"\ncase="ninf"\ncase="pinf"\ncase="zero"\n')" \
		"$(printf '%s\n' "$COMMON" | grep -F 'rwt_value{' | sort)"
	if [ $R = prom ]; then
		sample_check $R "NaN arrives as NaN" 'case="nan"' "rwt_value{case=\"nan\",$L} NaN @$T0"
		sample_check $R "3.141592653589793 arrives exact" 'case="pi"' \
			"rwt_value{case=\"pi\",$L} 3.141592653589793 @$T0"
	else
		sample_check $R "an ordinary NaN is dropped (VictoriaMetrics 1.79)" 'case="nan"' ""
		sample_check $R "3.141592653589793 keeps 12 digits: 3.141592653589 (VictoriaMetrics 1.79)" \
			'case="pi"' "rwt_value{case=\"pi\",$L} 3.141592653589 @$T0"
	fi
	read_check "$R: histogram_quantile over the buckets" '{} 0.55' "$URL" \
		'histogram_quantile(0.7, sum by (le) (rwt_latency_seconds_bucket))' "$T0"
done

# ------------------------------------------------------------ staleness
T1=$(ms_now)
[ "$T1" -gt "$T0" ] || T1=$((T0 + 1))
row rwt_stale "$G" '' stale "$T1" >"$T/stale.tsv"
for R in prom vm; do
	[ $R = prom ] && URL=$PROM_URL || URL=$VM_URL
	send "$URL/api/v1/write" "$T/stale.tsv"
	sent_is 204 0 "$R: a staleness marker is taken (204)"
	read_check "$R: before the marker the series is there" \
		"rwt_stale{$L} 7" "$URL" rwt_stale $((T1 - 1))
	read_check "$R: at the marker's timestamp the series is gone" "" "$URL" rwt_stale "$T1"
	read_check "$R: after the marker the series is gone" "" "$URL" rwt_stale $((T1 + 1000))
done
# The raw sample is kept in both; only VictoriaMetrics shows it.
read_check "prom: a range selector hides the marker" "rwt_stale{$L} 7 @$T0" \
	"$PROM_URL" 'rwt_stale[1m]' "$T1"
read_check "vm: a range selector returns the marker as NaN" \
	"$(printf 'rwt_stale{%s} 7 @%s\nrwt_stale{%s} NaN @%s' "$L" "$T0" "$L" "$T1")" \
	"$VM_URL" 'rwt_stale[1m]' "$T1"
is "$(rwq export "$VM_URL" rwt_stale 2>&1)" \
	"$(printf 'rwt_stale{%s} 7 @%s\nrwt_stale{%s} stale @%s' "$L" "$T0" "$L" "$T1")" \
	"vm: the export shows the marker as null"

# ---------------------------------------------- what a receiver refuses
OLD=$((T0 - 2 * 3600 * 1000))          # 2 h behind Prometheus' head
ANCIENT=$((T0 - 3 * 86400 * 1000))     # outside VM's -retentionPeriod=1d
row rwt_old "$G" '' 1 "$OLD" >"$T/old.tsv"
row rwt_order "$G" '' 5 $((T0 - 1000)) >"$T/ooo.tsv"
row rwt_order "$G" '' 9 "$T0" >"$T/dup.tsv"
row rwt_order "$G" '' 1 "$T0" >"$T/same.tsv"
{
	row rwt_mixed_good "$G" '' 11 "$T1"
	row rwt_mixed_old "$G" '' 12 "$OLD"
	row rwt_mixed_ancient "$G" '' 13 "$ANCIENT"
} >"$T/mixed.tsv"

send "$PROM_URL/api/v1/write" "$T/old.tsv"
sent_is 400 1 "prom: a sample 2 h behind the head: 400, rw_send exits 1"
is "$SEND_BODY" "out of bounds" "prom: ... and the body says out of bounds"
send "$PROM_URL/api/v1/write" "$T/ooo.tsv"
sent_is 400 1 "prom: an out-of-order sample: 400, rw_send exits 1"
is "$SEND_BODY" "out of order sample" "prom: ... and the body says out of order sample"
send "$PROM_URL/api/v1/write" "$T/dup.tsv"
sent_is 400 1 "prom: another value at a stored timestamp: 400, rw_send exits 1"
is "$SEND_BODY" "duplicate sample for timestamp" "prom: ... and the body says duplicate sample"
send "$PROM_URL/api/v1/write" "$T/same.tsv"
sent_is 204 0 "prom: the same sample sent again (a retry) is taken: 204"
send "$PROM_URL/api/v1/write" "$T/mixed.tsv"
sent_is 400 1 "prom: a request with one sample out of bounds: 400"
read_check "prom: nothing of a refused request is stored, good samples included" "" \
	"$PROM_URL" '{__name__=~"rwt_(old|mixed_.*)"}[1d]' "$T1"
read_check "prom: rwt_order holds only its first sample" "rwt_order{$L} 1 @$T0" \
	"$PROM_URL" 'rwt_order[1m]' "$T0"
# A staleness marker must come after the series' last sample: at the same
# timestamp it is another value there.
row rwt_order "$G" '' stale "$T0" >"$T/stale_same.tsv"
send "$PROM_URL/api/v1/write" "$T/stale_same.tsv"
sent_is 400 1 "prom: a staleness marker at the last sample's timestamp: 400"
is "$SEND_BODY" "duplicate sample for timestamp" "prom: ... duplicate sample for timestamp"
# Within one request Prometheus checks each sample against what is stored,
# not against the request: a series' samples newer first get 204, and the
# older one is dropped when the request commits. A sender must order each
# series' samples by time.
{
	row rwt_twice "$G" '' 2 $((T1 + 2))
	row rwt_twice "$G" '' 1 $((T1 + 1))
} >"$T/twice.tsv"
send "$PROM_URL/api/v1/write" "$T/twice.tsv"
sent_is 204 0 "prom: one series newer sample first in one request: 204"
read_check "prom: ... but the older sample is dropped silently" "rwt_twice{$L} 2 @$((T1 + 2))" \
	"$PROM_URL" 'rwt_twice[1m]' $((T1 + 2))

for f in old ooo dup same mixed twice; do
	send "$VM_URL/api/v1/write" "$T/$f.tsv"
	sent_is 204 0 "vm: $f.tsv is taken: 204"
done
read_check "vm: one series newer sample first in one request: both kept" \
	"$(printf 'rwt_twice{%s} 1 @%s\nrwt_twice{%s} 2 @%s' "$L" $((T1 + 1)) "$L" $((T1 + 2)))" \
	"$VM_URL" 'rwt_twice[1m]' $((T1 + 2))
read_check "vm: old and out-of-order samples are kept, two values at one timestamp too" \
	"$(printf 'rwt_order{%s} %s @%s\n' "$L" 1 "$T0" "$L" 1 "$T0" \
		"$L" 5 $((T0 - 1000)) "$L" 9 "$T0" | sort)" \
	"$VM_URL" 'rwt_order[1m]' "$T0"
read_check "vm: the 2-hour-old sample is kept, the one outside the retention dropped" \
	"$(printf 'rwt_mixed_good{%s} 11 @%s\nrwt_mixed_old{%s} 12 @%s\nrwt_old{%s} 1 @%s' \
		"$L" "$T1" "$L" "$OLD" "$L" "$OLD" | sort)" \
	"$VM_URL" '{__name__=~"rwt_(old|mixed_.*)"}[5d]' "$T1"

# ------------------------------------------------------------------ stop
stop_pid "$PROM_PID" 10
is "$STOP_KILLED" 0 "Prometheus stops on TERM"
stop_pid "$VM_PID" 10
is "$STOP_KILLED" 0 "VictoriaMetrics stops on TERM"
if [ "$TAP_FAILED" -ne 0 ]; then
	diag_file "$T/prom.log" 15
	diag_file "$T/vm.log" 15
fi
tap_done
