# Helpers for the integration tests (sourced): a private temporary
# directory, a real Pushgateway on a free port, a scripted fake gateway,
# reading the gateway's state back, promtool, bounded waits, and an EXIT
# trap that stops every process the test started (by PID) and removes the
# directory. The tests run with the repository root as the working
# directory; BUILD is the build directory (tests/run-tests exports it).
#
# Every wait here is bounded; nothing sleeps or waits forever.
#
# Run one:   BUILD=build tests/integration/test_agent_push.sh
# Run all:   BUILD=build prove -e '' tests/integration/test_*.sh
# KEEP_TMP=1 keeps the temporary directory (logs, configs, saved bodies).
# Each file starts its own gateways and agents on free ports, so files may
# run in parallel (prove -j).
set -u

INT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$INT_DIR/../cli/tap.sh"

BUILD=${BUILD:-build}
AGENT="$BUILD/collector-agent"
CS="$BUILD/collector-spool"
PY=/usr/bin/python3
GATEWAY_BIN=${GATEWAY_BIN:-/usr/bin/prometheus-pushgateway}
VM=${VM:-/usr/bin/victoria-metrics}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
PROM=${PROM:-/usr/bin/prometheus}
export LC_ALL=C PYTHONDONTWRITEBYTECODE=1

# The caller's environment must not leak into the agent under test.
unset PROMETHEUS_PUSHGATEWAY_URL PROMETHEUS_PUSHGATEWAY_ENABLED PROMETHEUS_PUSHGATEWAY_GZIP \
	PROMETHEUS_PUSHGATEWAY_INTERVAL PROMETHEUS_JOB_NAME API_HOST API_PORT \
	COLLECTOR_SPOOL COLLECTOR_SPOOL_BUSY_TIMEOUT_MS COLLECTOR_SPOOL_SYNCHRONOUS

# need [agent] [gateway] [promtool]: skips the whole file (a valid TAP plan,
# exit 0) unless everything it needs is here; curl, python3 and
# collector-spool always.
need() {
	local what
	[ -x "$CS" ] || { echo "1..0 # SKIP collector-spool not built"; exit 0; }
	command -v curl >/dev/null || { echo "1..0 # SKIP curl not installed"; exit 0; }
	[ -x "$PY" ] || { echo "1..0 # SKIP $PY not installed"; exit 0; }
	for what in "$@"; do
		case $what in
		agent) [ -x "$AGENT" ] ||
			{ echo "1..0 # SKIP collector-agent not built"; exit 0; } ;;
		gateway) [ -x "$GATEWAY_BIN" ] ||
			{ echo "1..0 # SKIP $GATEWAY_BIN not installed"; exit 0; } ;;
		promtool) [ -x "$PROMTOOL" ] ||
			{ echo "1..0 # SKIP $PROMTOOL not installed"; exit 0; } ;;
		esac
	done
}

T=$(mktemp -d "${TMPDIR:-/tmp}/ca-int-XXXXXX") || exit 1
TRACKED=()

# ---------------------------------------------------------------- processes

track() { TRACKED+=("$1"); }
untrack() {
	local p keep=()
	for p in "${TRACKED[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	TRACKED=("${keep[@]}")
}

# stop_pid PID [SECONDS [SIGNAL]]: sends SIGNAL (TERM), waits up to SECONDS
# (10) for the process to end, then KILLs it. Sets STOP_RC to its exit
# status (128+n when a signal ended it) and STOP_KILLED=1 when KILL was
# needed. Only for children of this shell.
stop_pid() {
	local pid=$1 secs=${2:-10} sig=${3:-TERM} deadline
	STOP_KILLED=0
	# Bash reports a child that a signal ended ("Killed", "Aborted") on
	# stderr when it reaps it; here that is the test's doing, not news:
	# STOP_RC says it.
	{
		kill "-$sig" "$pid"
		deadline=$(( $(now_us) + secs * 1000000 ))
		while kill -0 "$pid" && [ "$(now_us)" -lt "$deadline" ]; do
			sleep 0.05
		done
		if kill -0 "$pid"; then
			STOP_KILLED=1
			kill -KILL "$pid"
		fi
		wait "$pid"
		STOP_RC=$?
	} 2>/dev/null
	untrack "$pid"
}

# wait_exit PID [SECONDS]: waits up to SECONDS (20) for the child to end by
# itself; sets STOP_RC and returns 0, or returns 1 (process left running).
wait_exit() {
	local pid=$1 secs=${2:-20} deadline
	deadline=$(( $(now_us) + secs * 1000000 ))
	# As in stop_pid: no job report on stderr.
	{
		while kill -0 "$pid" && [ "$(now_us)" -lt "$deadline" ]; do
			sleep 0.05
		done
		kill -0 "$pid" && return 1
		wait "$pid"
		STOP_RC=$?
	} 2>/dev/null
	untrack "$pid"
	return 0
}

cleanup() {
	local p jobs_now
	jobs_now=" $(jobs -p | tr '\n' ' ') "
	{
		for p in "${TRACKED[@]}"; do
			# Only processes this shell still knows as its jobs (no PID reuse).
			case $jobs_now in *" $p "*) ;; *) continue ;; esac
			kill -TERM "$p"
		done
		for p in "${TRACKED[@]}"; do
			case $jobs_now in *" $p "*) ;; *) continue ;; esac
			local i=0
			while kill -0 "$p" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
			kill -KILL "$p"
			wait "$p"
		done
	} 2>/dev/null
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "# kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------- timing

now_us() { local t=${EPOCHREALTIME//[.,]/}; echo "$t"; }
# secs_since START_US: seconds as "S.mmm"
secs_since() {
	local ms=$(( ($(now_us) - $1) / 1000 ))
	printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}
# less_than A B: A < B for decimals
less_than() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

# wait_until [-t SECONDS] CMD [ARG...]: runs CMD every 0.1 s until it
# succeeds (0) or SECONDS (15) have passed (1).
wait_until() {
	local secs=15 deadline
	if [ "$1" = "-t" ]; then secs=$2; shift 2; fi
	deadline=$(( $(now_us) + secs * 1000000 ))
	while :; do
		"$@" && return 0
		[ "$(now_us)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# starts PID CMD [ARG...]: runs CMD every 0.1 s until it succeeds (0),
# the process PID has ended or 10 s have passed (1): for a server that
# is starting, or failed to.
starts() {
	local pid=$1 i=0
	shift
	while [ $i -lt 100 ]; do
		"$@" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# ready URL [CURL-ARG...]: GET URL/-/ready answers 2xx
ready() { local u=$1; shift; curl -sf --max-time 1 "$@" "$u/-/ready" -o /dev/null 2>&1; }

# ----------------------------------------------------------------- network

free_port() {
	"$PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# gw_start [PORT]: starts a real Pushgateway (memory only) on 127.0.0.1:PORT
# (a free port when not given) and waits until it is ready. Sets GW_PORT,
# GW_URL, GW_PID. Returns 1 when it does not come up within 10 s.
gw_start() {
	local port=${1:-$(free_port)}
	GW_PORT=$port
	GW_URL="http://127.0.0.1:$port"
	GW_LOG="$T/gateway-$port.log"
	"$GATEWAY_BIN" --web.listen-address="127.0.0.1:$port" --persistence.file= \
		>>"$GW_LOG" 2>&1 &
	GW_PID=$!
	track "$GW_PID"
	starts "$GW_PID" ready "$GW_URL" && return 0
	echo "# the gateway did not start on port $port"
	diag_file "$GW_LOG"
	return 1
}

# vm_start [PORT]: a real VictoriaMetrics on 127.0.0.1:PORT (a free port when
# not given), data in a directory of its own, retention 1 d, queries without
# the latency offset; waits until it is healthy. Sets VM_PORT, VM_URL,
# VM_PID. Returns 1, its log shown, when it does not come up within 15 s.
vm_start() {
	local port=${1:-$(free_port)}
	VM_PORT=$port
	VM_URL="http://127.0.0.1:$port"
	"$VM" -httpListenAddr="127.0.0.1:$port" -storageDataPath="$T/vm-$port" \
		-retentionPeriod=1d -search.latencyOffset=0s >"$T/vm-$port.log" 2>&1 &
	VM_PID=$!
	track "$VM_PID"
	wait_until curl -sf --max-time 1 "$VM_URL/health" -o /dev/null && return 0
	echo "# VictoriaMetrics did not start on port $port"
	diag_file "$T/vm-$port.log"
	return 1
}

# prom_rw_start: a real Prometheus ($PROM) that takes remote write, on a
# free port, its data in $T/prom, its log $T/prom.log; waits until it is
# ready. Sets PROM_PORT, PROM_URL, PROM_PID. Returns 1, its log shown,
# when it does not come up within 30 s.
prom_rw_start() {
	PROM_PORT=$(free_port)
	PROM_URL="http://127.0.0.1:$PROM_PORT"
	printf 'global: { scrape_interval: 1m }\n' >"$T/prom.yml"
	"$PROM" --config.file="$T/prom.yml" --storage.tsdb.path="$T/prom" \
		--web.listen-address="127.0.0.1:$PROM_PORT" --web.enable-remote-write-receiver \
		>"$T/prom.log" 2>&1 &
	PROM_PID=$!
	track "$PROM_PID"
	wait_until -t 30 curl -sf --max-time 1 "$PROM_URL/-/ready" -o /dev/null && return 0
	echo "# Prometheus did not start on port $PROM_PORT"
	diag_file "$T/prom.log"
	return 1
}

# gw_stop: stops the gateway gw_start started (TERM, then KILL after 5 s).
gw_stop() {
	[ -n "${GW_PID:-}" ] || return 0
	stop_pid "$GW_PID" 5
	GW_PID=
}

# gw_value JOB GROUPING METRIC [LABELS]: the value string the gateway shows,
# or "absent". GROUPING and LABELS are 'k="v",...' ('' for none); METRIC may
# be NAME_bucket (with le="..." in LABELS), NAME_sum or NAME_count.
gw_value() { "$PY" "$INT_DIR/gwquery.py" "${GW_URL:?}" value "$@"; }
# gw_groups: one line per group, e.g. {instance="a",job="j"}
gw_groups() { "$PY" "$INT_DIR/gwquery.py" "${GW_URL:?}" groups; }
# gw_families JOB GROUPING: the group's family names, or "absent"
gw_families() { "$PY" "$INT_DIR/gwquery.py" "${GW_URL:?}" families "$@"; }
# gw_status JOB GROUPING: ok | failed (last push refused) | absent
gw_status() { "$PY" "$INT_DIR/gwquery.py" "${GW_URL:?}" status "$@"; }
# gw_is WANT JOB GROUPING METRIC [LABELS]: for wait_until
gw_is() { local want=$1; shift; [ "$(gw_value "$@")" = "$want" ]; }
# gw_absent JOB GROUPING / gw_present JOB GROUPING: for wait_until
gw_absent() { [ "$(gw_families "$@")" = absent ]; }
gw_present() { local f; f=$(gw_families "$@") && [ "$f" != absent ]; }

# gw_push JOB-PATH BODY: PUT BODY to $GW_URL/metrics/job/JOB-PATH with curl;
# prints the HTTP status (for checking the harness and for setting up).
gw_push() {
	printf '%s' "$2" | curl -s -o "$T/curl.out" -w '%{http_code}' -X PUT \
		--data-binary @- "$GW_URL/metrics/job/$1"
}

# stand_in NAME SCRIPT SCHEME READY ARG...: starts the Python stand-in
# SCRIPT (it takes --port-file and --log, see httpfx.py) with ARGs, its log
# $T/NAME.log (emptied first), its stderr $T/NAME.err. Waits up to 10 s
# for its port and, when READY is "ready", for GET /-/ready to answer (curl
# -k: only the harness skips verification, never the agent under test).
# Sets SI_PID, SI_LOG and SI_URL (SCHEME://127.0.0.1:PORT); on failure
# shows its stderr and returns 1.
stand_in() {
	local name=$1 script=$2 scheme=$3 ready=$4
	shift 4
	SI_LOG="$T/$name.log"
	: >"$SI_LOG"
	rm -f "$T/$name.port"
	"$PY" "$script" --port-file "$T/$name.port" --log "$SI_LOG" "$@" 2>"$T/$name.err" &
	SI_PID=$!
	track "$SI_PID"
	starts "$SI_PID" si_up "$T/$name.port" "$scheme" "$ready" && return 0
	echo "# $(basename "$script") did not start"
	diag_file "$T/$name.err"
	return 1
}

# si_up PORT-FILE SCHEME READY: the stand-in wrote its port (sets SI_URL)
# and, with READY "ready", answers GET /-/ready
si_up() {
	[ -s "$1" ] || return 1
	SI_URL="$2://127.0.0.1:$(cat "$1")"
	[ "$3" != ready ] || ready "$SI_URL" -k
}

# fake_start [fake_gateway.py options]: starts the fake gateway on a free
# port; sets FAKE_PID, FAKE_URL, FAKE_LOG (its request log).
FAKE_N=0
fake_start() {
	FAKE_N=$((FAKE_N + 1))
	stand_in "fake-$FAKE_N" "$INT_DIR/fake_gateway.py" http ready --max-seconds 120 "$@" || return 1
	FAKE_PID=$SI_PID FAKE_URL=$SI_URL FAKE_LOG=$SI_LOG
}
fake_stop() {
	[ -n "${FAKE_PID:-}" ] || return 0
	stop_pid "$FAKE_PID" 5
	FAKE_PID=
}
# fake_count METHOD PATH: requests with that method and exact path so far
fake_count() { awk -v m="$1" -v p="$2" '$2 == m && $3 == p { n++ } END { print n + 0 }' "$FAKE_LOG"; }
# fake_gaps METHOD PATH: seconds between consecutive such requests, one line
fake_gaps() {
	awk -v m="$1" -v p="$2" '$2 == m && $3 == p {
		if (n++) printf "%s%.3f", (n > 2 ? " " : ""), $1 - last; last = $1 }
		END { print "" }' "$FAKE_LOG"
}
# fake_statuses METHOD PATH: the statuses answered, in order
fake_statuses() { awk -v m="$1" -v p="$2" '$2 == m && $3 == p { printf "%s%s", (n++ ? "," : ""), $4 } END { print "" }' "$FAKE_LOG"; }

# proxy_start NAME ARG...: flaky_proxy.py (a misbehaving reverse proxy:
# refusals, delays) on a free port in front of --upstream; sets PROXY_URL
# and PROXY_LOG (one line per request: time, method, path, status).
proxy_start() {
	local name=$1
	shift
	stand_in "$name" "$INT_DIR/flaky_proxy.py" http - --max-seconds 90 "$@" || return 1
	PROXY_URL=$SI_URL PROXY_LOG=$SI_LOG
}

# ------------------------------------------------------------------- tools

# vm_last URL MATCH [CURL-ARG...]: VictoriaMetrics' series for MATCH (after a
# flush), one sorted line each: 'name{labels sorted} VALUE', VALUE the last
# sample as a float ("7.0") or "stale" for a staleness marker. Fails when a
# series' timestamps are out of order. CURL-ARGs: --cacert, -u, ...
vm_last() {
	local url=$1 match=$2
	shift 2
	curl -s --max-time 5 "$@" "$url/internal/force_flush" >/dev/null
	curl -s --max-time 5 "$@" "$url/api/v1/export" --data-urlencode "match[]=$match" | "$PY" -c '
import json, sys
out = []
for line in sys.stdin:
    if not line.strip():
        continue
    d = json.loads(line); m = d["metric"]; n = m.pop("__name__"); v = d["values"][-1]
    assert d["timestamps"] == sorted(d["timestamps"]), "timestamps out of order"
    out.append("%s{%s} %s" % (n, ",".join("%s=%s" % (k, json.dumps(m[k])) for k in sorted(m)),
                              "stale" if v is None else repr(float(v))))
print("\n".join(sorted(out)))'
}

# markers FILE: the series an agent's log FILE reported marking stale,
# summed (0 when it sent none)
markers() { awk '/msg="remote write: staleness markers sent"/ { sub(/.*series=/, ""); n += $1 } END { print n + 0 }' "$1"; }

# prom_query URL PROMQL: Prometheus' instant vector now, one sorted line
# each: 'name{labels sorted} value' (nothing while it cannot answer)
prom_query() {
	curl -s --max-time 5 -G "$1/api/v1/query" --data-urlencode "query=$2" | "$PY" -c '
import json, sys
out = []
for r in json.load(sys.stdin)["data"]["result"]:
    m = r["metric"]; n = m.pop("__name__", "")
    out.append("%s{%s} %s" % (n, ",".join("%s=%s" % (k, json.dumps(m[k])) for k in sorted(m)), r["value"][1]))
print("\n".join(sorted(out)))' 2>/dev/null
}

# promtool_check FILE: `promtool check metrics` < FILE; exit 0 (clean) and
# 3 (lint only: names, HELP) pass; anything else fails with the output
# printed as TAP comments.
promtool_check() {
	local rc
	[ -f "$1" ] || { echo "# promtool_check: $1: no such file"; return 1; }
	"$PROMTOOL" check metrics <"$1" >"$T/promtool.out" 2>&1
	rc=$?
	case $rc in
	0 | 3) return 0 ;;
	*) echo "# promtool check metrics: exit $rc on $1"; diag_file "$T/promtool.out"; return 1 ;;
	esac
}

# body_check FILE...: the checks promtool does not make (check_body.py)
body_check() { "$PY" "$INT_DIR/check_body.py" "$@" 2>&1 | sed 's/^/# /'; return "${PIPESTATUS[0]}"; }

# spool_stat KEY: one field of `collector-spool stats --json` (the spool is
# COLLECTOR_SPOOL)
spool_stat() {
	"$CS" stats --json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# diag_file FILE [LINES]: the file's last lines as TAP comments
diag_file() {
	[ -f "$1" ] || { echo "# ($1: no such file)"; return 0; }
	tail -n "${2:-30}" "$1" | sed 's/^/# /'
}

# not CMD [ARG...]: succeeds when CMD fails (for check and wait_until)
not() { ! "$@"; }

# check NAME CMD [ARG...]: ok when CMD succeeds
check() {
	local name=$1; shift
	if "$@"; then tap_ok "$name"; else tap_fail "$name" "failed: $*"; fi
}

# ------------------------------------------------------------------ agent

# agent_conf FILE URL JOB INSTANCE [SETTING=VALUE...]: writes a config file.
# Settings go into the pushgateway section verbatim (libconfig values:
# numbers as they are, strings quoted by the caller); they replace these
# defaults, which keep the tests fast:
#   interval = 1; timeout = 2; retry_min = 0.2; retry_max = 1.0;
#   once_timeout = 3; group_ttl = 0;
# The pull-mode listener is off and the log level is debug. The spool comes
# from COLLECTOR_SPOOL, which the tests export.
agent_conf() {
	local file=$1 url=$2 job=$3 instance=$4 kv k v
	shift 4
	local -A conf=([interval]=1 [timeout]=2 [retry_min]=0.2 [retry_max]=1.0
		[once_timeout]=3 [group_ttl]=0)
	local order=(interval timeout retry_min retry_max once_timeout group_ttl)
	for kv in "$@"; do
		k=${kv%%=*}; v=${kv#*=}
		[ -n "${conf[$k]+x}" ] || order+=("$k")
		conf[$k]=$v
	done
	{
		echo "pushgateway: {"
		echo "  url = \"$url\";"
		echo "  job = \"$job\";"
		echo "  instance = \"$instance\";"
		for k in "${order[@]}"; do echo "  $k = ${conf[$k]};"; done
		echo "};"
		echo 'listen = "";'
		echo 'log: { level = "debug"; };'
	} >"$file"
}

# run_agent ARG...: runs the agent in the foreground with a 60 s hang guard.
# Sets RC, OUT, ERR (stderr is also kept in $T/agent-N.err) and SECS (wall
# time, "S.mmm").
AGENT_N=0
run_agent() {
	local t0
	AGENT_N=$((AGENT_N + 1))
	t0=$(now_us)
	timeout -k 5 60 "$AGENT" "$@" >"$T/agent-$AGENT_N.out" 2>"$T/agent-$AGENT_N.err"
	RC=$?
	SECS=$(secs_since "$t0")
	OUT=$(cat "$T/agent-$AGENT_N.out")
	ERR=$(cat "$T/agent-$AGENT_N.err")
	AGENT_ERR_FILE="$T/agent-$AGENT_N.err"
}

# agent_start NAME ARG...: starts the agent in the background; sets
# AGENT_PID; its stderr goes to $T/NAME.err.
agent_start() {
	local name=$1; shift
	"$AGENT" "$@" >"$T/$name.out" 2>"$T/$name.err" &
	AGENT_PID=$!
	track "$AGENT_PID"
}

# is_rc WANT NAME: checks RC from run_agent; on failure shows the agent's
# stderr.
is_rc() {
	if [ "$RC" = "$1" ]; then
		tap_ok "$2"
	else
		tap_fail "$2" "got exit status $RC, want $1 (after ${SECS:-?} s)"
		diag_file "$AGENT_ERR_FILE" 40
	fi
}
