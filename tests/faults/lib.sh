# shellcheck shell=bash
# Helpers for the fault-injection tests (sourced): everything of
# tests/integration/lib.sh (temporary directory, real Pushgateway, bounded
# waits, the EXIT trap that stops every tracked process by PID), plus
# writers that keep a ledger of what was accepted, the comparison of the
# ledgers with the gateway, TODO checks and memory figures.
#
# Run one:   BUILD=build tests/faults/fault_kill.sh
# Run all:   tests/faults/run build
# FAULT_SEED fixes the writers' data (default 5); KEEP_TMP=1 keeps the
# temporary directory.
set -u
FAULT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$FAULT_DIR/../integration/lib.sh"

FAULT_SEED=${FAULT_SEED:-5}
LEDGER_PY="$FAULT_DIR/ledger.py"

# fault_writer W ROWS JOB GROUPS LEDGER [PAUSE]: writer number W puts ROWS
# rows with collector-spool into JOB, groups g="0".."GROUPS-1" (random),
# its data drawn from bash's RANDOM seeded with FAULT_SEED and W, so the
# same seed writes the same data. Nine rows in ten add to two counters
# (`--op add`), the tenth sets a gauge of its own (label writer="W").
# Every accepted row (exit 0) goes to LEDGER (see ledger.py); a refused one
# to LEDGER.fail as "row N: exit S: message". PAUSE: seconds to sleep
# between rows ("" none).
fault_writer() {
	local w=$1 rows=$2 job=$3 groups=$4 ledger=$5 pause=${6:-}
	local i g k a rc op t=$'\t' lines led
	RANDOM=$((FAULT_SEED * 100 + w))
	: >"$ledger"
	: >"$ledger.fail"
	for ((i = 1; i <= rows; i++)); do
		g=$((RANDOM % groups))
		k=$((RANDOM % 4))
		a=$((RANDOM % 100 + 1))
		# The row's lines, and what the ledger records for each sample.
		if ((i % 10 == 0)); then
			op=set
			lines=('# TYPE fault_last_row gauge' "fault_last_row{writer=\"$w\"} $i")
			led=("fault_last_row${t}writer=\"$w\"${t}$i")
		else
			op=add
			lines=('# TYPE fault_ops_total counter' "fault_ops_total{k=\"$k\"} $a"
				"fault_bytes{k=\"$k\"} $((a * 1000)).5")
			led=("fault_ops_total${t}k=\"$k\"${t}$a"
				"fault_bytes${t}k=\"$k\"${t}$((a * 1000)).5")
		fi
		"$CS" put --job "$job" --grouping "g=\"$g\"" --op "$op" "${lines[@]}" 2>"$ledger.err"
		rc=$?
		[ $rc = 0 ] && printf '%s\n' "$job${t}g=\"$g\"${t}row${t}${t}${t}" \
			"${led[@]/#/$job${t}g=\"$g\"${t}$op${t}}" >>"$ledger"
		[ $rc = 0 ] || echo "row $i: exit $rc: $(head -c 300 "$ledger.err")" >>"$ledger.fail"
		[ -z "$pause" ] || sleep "$pause"
	done
	rm -f "$ledger.err"
}

# writers_start N ROWS JOB GROUPS PREFIX [PAUSE]: N fault_writers in the
# background, ledgers PREFIX-1 .. PREFIX-N; sets WRITER_PIDS and LEDGERS.
writers_start() {
	local n=$1 rows=$2 job=$3 groups=$4 prefix=$5 pause=${6:-} w
	WRITER_PIDS=()
	LEDGERS=()
	for ((w = 1; w <= n; w++)); do
		fault_writer "$w" "$rows" "$job" "$groups" "$prefix-$w" "$pause" &
		WRITER_PIDS+=($!)
		track "$!"
		LEDGERS+=("$prefix-$w")
	done
}

# writers_running: one of WRITER_PIDS is still running
writers_running() {
	local p
	for p in "${WRITER_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done
	return 1
}

# writers_wait SECONDS: waits for every writer; 1 when one is left running
writers_wait() {
	local p rc=0
	for p in "${WRITER_PIDS[@]}"; do wait_exit "$p" "$1" || rc=1; done
	return $rc
}

# writers_failures: the refused rows of every ledger ("" when none)
writers_failures() { local l; for l in "${LEDGERS[@]}"; do cat "$l.fail"; done; }

# ledger_rows FIELD: rows or lines of the current LEDGERS
ledger_rows() {
	"$PY" "$LEDGER_PY" rows "${LEDGERS[@]}" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# ledger_matches NAME: one TAP check that the gateway ($GW_URL) holds
# exactly what LEDGERS say; sets COMPARED (series compared) and prints the
# figures and any mismatch as comments.
ledger_matches() {
	local out rc
	out=$("$PY" "$LEDGER_PY" compare "$GW_URL" "${LEDGERS[@]}" 2>&1)
	rc=$?
	COMPARED=$(printf '%s\n' "$out" | sed -n '1s/.*series=\([0-9]*\).*/\1/p')
	if [ $rc = 0 ]; then
		tap_ok "$1"
		echo "# $(printf '%s\n' "$out" | head -1)"
	else
		tap_fail "$1" "$out"
	fi
}

# todo_check NAME REASON CMD [ARG...]: a check of behaviour the code does
# not have yet; "ok"/"not ok ... # TODO REASON", which prove does not count
# as a failure (and reports when it starts to pass).
todo_check() {
	local name=$1 reason=$2
	shift 2
	TAP_N=$((TAP_N + 1))
	if "$@"; then
		echo "ok $TAP_N - $name # TODO $reason"
	else
		echo "not ok $TAP_N - $name # TODO $reason"
	fi
}

# rss_anon PID: the process's anonymous resident memory in KiB (its heap
# and stacks: what a leak grows). VmRSS also counts pages of shared
# libraries, which the first call of a code path faults in (libcurl's
# first GET touches 180 KiB of libidn2, libssh2 and nghttp2).
rss_anon() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# agent_bg LOG ARG...: starts the agent in the background, its stderr
# appended to LOG; sets AGENT_PID.
agent_bg() {
	local log=$1
	shift
	"$AGENT" "$@" >>"$log" 2>&1 &
	AGENT_PID=$!
	track "$AGENT_PID"
}

# silent_start: a gateway that accepts and never answers (silent_gateway.py,
# 90 s at most); sets SILENT_PID, SILENT_URL, SILENT_LOG.
SILENT_N=0
silent_start() {
	SILENT_N=$((SILENT_N + 1))
	stand_in "silent-$SILENT_N" "$FAULT_DIR/silent_gateway.py" http - --max-seconds 90 || return 1
	SILENT_PID=$SI_PID SILENT_URL=$SI_URL SILENT_LOG=$SI_LOG
}

# rand_secs MAX_MS: a random 0..MAX_MS milliseconds, as seconds ("0.137")
rand_secs() { local ms=$((RANDOM % ($1 + 1))); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }
