#!/usr/bin/env bash
# collector-agent --once against a real Pushgateway: what producers write
# with collector-spool arrives with the right job, grouping and exact
# values; settings from flags, environment, --env-file and config file.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

gw_start || tap_bail "the gateway starts"
DEAD_URL="http://127.0.0.1:$(free_port)"   # nothing listens there

# ---------------------------------------------------------------- usage
export COLLECTOR_SPOOL="$T/usage.db"
run_agent --no-such-flag
is_rc 64 "unknown flag: exit 64"
printf 'pushgateway: { url = ; };\n' >"$T/syntax.conf"
run_agent -c "$T/syntax.conf" --once
is_rc 78 "config syntax error: exit 78"
agent_conf "$T/zero.conf" "$GW_URL" itest inst interval=0
run_agent -c "$T/zero.conf" --once
is_rc 78 "interval = 0: exit 78"
agent_conf "$T/basic.conf" "$GW_URL" itest 'host-1:9000'
run_agent -c "$T/basic.conf" -t
is_rc 0 "-t on a good config: exit 0"
like "$OUT" "host-1:9000" "-t prints the effective settings"
is "$(gw_groups)" "" "usage and config errors push nothing"

# ---------------------------------------------------------------- basic
export COLLECTOR_SPOOL="$T/basic.db"
"$CS" put '# TYPE demo_value gauge' 'demo_value 42' 'demo_labeled{k="v w"} 1.5'
"$CS" put --job other --grouping 'instance="db1",shard="3"' 'shard_rows 17'
"$CS" put --job alone --grouping '' 'alone_value 5'
run_agent -c "$T/basic.conf" --once
is_rc 0 "--once with the gateway up: exit 0"
is "$(gw_value itest 'instance="host-1:9000"' demo_value)" 42 "default group: value exact"
is "$(gw_value itest 'instance="host-1:9000"' demo_labeled 'k="v w"')" 1.5 "default group: labeled series"
like "$(gw_groups)" '{instance="host-1:9000",job="itest"}' "default group: job and instance labels"
is "$(gw_families itest 'instance="host-1:9000"')" "demo_labeled demo_value" \
	"--once: the default group carries the user's series, not the agent's own metrics"
is "$(gw_value other 'instance="db1",shard="3"' shard_rows)" 17 "explicit job and grouping"
like "$(gw_groups)" '{job="alone"}' "grouping '': the job alone (no instance)"
is "$(gw_value alone '' alone_value)" 5 "grouping '': value"
bad_log=$(grep -cvE '^ts=[^ ]+ level=(debug|info|warn|error) msg=' "$AGENT_ERR_FILE")
is "$bad_log" 0 "every stderr line is logfmt ts=… level=… msg=…"
is "$(spool_stat pending_rows)/$(spool_stat dirty_groups)/$(spool_stat parked_groups)" 0/0/0 "stats: nothing pending, dirty or parked"
run_agent -c "$T/basic.conf" --once
is_rc 0 "a second --once with nothing new: exit 0"
is "$(gw_value itest 'instance="host-1:9000"' demo_value)" 42 "the value stays"

# Flags win over the config file.
agent_conf "$T/dead.conf" "$DEAD_URL" itest 'host-1:9000'
"$CS" put 'demo_value 43'
run_agent -c "$T/dead.conf" --gateway "$GW_URL" --once
is_rc 0 "--gateway wins over the config's url"
is "$(gw_value itest 'instance="host-1:9000"' demo_value)" 43 "--gateway: pushed there"
export COLLECTOR_SPOOL="$T/flags.db"
"$CS" put 'flag_value 7'
run_agent -c "$T/basic.conf" --job cli_job --instance cli-inst --once
is_rc 0 "--job and --instance: exit 0"
is "$(gw_value cli_job 'instance="cli-inst"' flag_value)" 7 "--job and --instance name the default group"

# ----------------------------------------------------- environment only
# The seed's names, no config file: PROMETHEUS_PUSHGATEWAY_URL,
# PROMETHEUS_JOB_NAME, API_HOST:API_PORT as the instance, COLLECTOR_SPOOL.
export COLLECTOR_SPOOL="$T/env.db"
"$CS" put 'env_value 11'
export PROMETHEUS_PUSHGATEWAY_URL=$GW_URL PROMETHEUS_JOB_NAME=envjob API_HOST=0.0.0.0 API_PORT=5000
run_agent --once
is_rc 0 "environment only: exit 0"
is "$(gw_value envjob 'instance="0.0.0.0:5000"' env_value)" 11 "environment only: job and instance API_HOST:API_PORT"
unset PROMETHEUS_JOB_NAME API_HOST API_PORT
# The environment wins over the config file.
export COLLECTOR_SPOOL="$T/env2.db"
"$CS" put 'env_value 12'
run_agent -c "$T/dead.conf" --once
is_rc 0 "PROMETHEUS_PUSHGATEWAY_URL wins over the config's url"
unset PROMETHEUS_PUSHGATEWAY_URL
is "$(gw_value itest 'instance="host-1:9000"' env_value)" 12 "...and the config's job and instance apply"

# PROMETHEUS_PUSHGATEWAY_ENABLED=false: fold, never push.
export COLLECTOR_SPOOL="$T/disabled.db"
"$CS" put --job disabled --grouping 'instance="d"' 'never_pushed 1'
PROMETHEUS_PUSHGATEWAY_ENABLED=false run_agent -c "$T/basic.conf" --once
echo "# PROMETHEUS_PUSHGATEWAY_ENABLED=false --once: exit $RC"
check "PROMETHEUS_PUSHGATEWAY_ENABLED=false pushes nothing" gw_absent disabled 'instance="d"'

# ------------------------------------------------------------ --env-file
cat >"$T/seed.env" <<EOF
# the seed's .secrets/.env
PROMETHEUS_PUSHGATEWAY_URL=$GW_URL
PROMETHEUS_JOB_NAME="filejob"

API_HOST=10.0.0.1
API_PORT=8080
EOF
export COLLECTOR_SPOOL="$T/envfile.db"
"$CS" put 'file_value 21'
run_agent --env-file "$T/seed.env" --once
is_rc 0 "--env-file: exit 0"
is "$(gw_value filejob 'instance="10.0.0.1:8080"' file_value)" 21 "--env-file: URL, job and instance from the file"
export COLLECTOR_SPOOL="$T/envfile2.db"
"$CS" put 'file_value 22'
PROMETHEUS_JOB_NAME=realjob run_agent --env-file "$T/seed.env" --once
is_rc 0 "--env-file with a real environment variable: exit 0"
is "$(gw_value realjob 'instance="10.0.0.1:8080"' file_value)" 22 "the real environment wins over --env-file"
is "$(gw_value filejob 'instance="10.0.0.1:8080"' file_value)" 21 "...and the file's job got nothing new"

# ----------------------------------------------------------------- add
agent_conf "$T/add.conf" "$GW_URL" addjob a
export COLLECTOR_SPOOL="$T/add.db"
"$CS" put --op add '# TYPE hits_total counter' 'hits_total 1' 'bytes_total{dir="in"} 0.5'
run_agent -c "$T/add.conf" --once
is_rc 0 "add, first run: exit 0"
is "$(gw_value addjob 'instance="a"' hits_total)" 1 "add: 1"
"$CS" put --op add 'hits_total 2' 'bytes_total{dir="in"} 0.25'
run_agent -c "$T/add.conf" --once
is_rc 0 "add, second run: exit 0"
is "$(gw_value addjob 'instance="a"' hits_total)" 3 "add across two runs: 1 + 2 = 3"
is "$(gw_value addjob 'instance="a"' bytes_total 'dir="in"')" 0.75 "add: 0.5 + 0.25 = 0.75"

# ----------------------------------- a writer's inbox, made before the agent
# docs/spool.md lets a writer create the inbox itself; its id may be NULL,
# text or missing. Each row must count once however many runs fold.
if command -v sqlite3 >/dev/null; then
	n=0
	for id in "id INTEGER" "id TEXT PRIMARY KEY" ""; do
		n=$((n + 1))
		export COLLECTOR_SPOOL="$T/v0-$n.db"
		idval="NULL, "; [ "$id" = "id TEXT PRIMARY KEY" ] && idval="'r1', "
		[ -z "$id" ] && idval=""
		sqlite3 "$COLLECTOR_SPOOL" "CREATE TABLE inbox(${id:+$id, }job, grouping, op, body, received_ms);
			INSERT INTO inbox VALUES (${idval}'v0job', 'g=\"$n\"', 'add', 'c6_total 1', 0)"
		for run in 1 2 3; do run_agent -c "$T/add.conf" --once; done
		is_rc 0 "writer's inbox (${id:-no id}): three --once runs, exit 0"
		is "$(gw_value v0job "g=\"$n\"" c6_total)" 1 "writer's inbox (${id:-no id}): one add of 1 is exactly 1 after three runs"
		is "$(spool_stat pending_rows)" 0 "writer's inbox (${id:-no id}): the inbox is empty"
	done
else
	tap_skip "writer's inbox: the sqlite3 program is not installed"
fi

# ------------------------------------------------------------- observe
export COLLECTOR_SPOOL="$T/observe.db"
"$CS" put --job obs --grouping 'instance="o"' --op observe 'lat 0.0625' 'lat 0.5' 'lat 4' 'lat 20' 'lat{path="/x"} 0.5'
run_agent -c "$T/add.conf" --once
is_rc 0 "observe: exit 0"
# lat_buckets 'LE=N ...': the gateway's count for each LE, in that form
lat_buckets() {
	local b got=""
	for b in $1; do got="$got ${b%%=*}=$(gw_value obs 'instance="o"' lat_bucket "le=\"${b%%=*}\"")"; done
	echo "${got# }"
}
# Default buckets; le is inclusive (0.5 falls in le="0.5").
want="0.005=0 0.01=0 0.025=0 0.05=0 0.1=1 0.25=1 0.5=2 1=2 2.5=2 5=3 10=3 +Inf=4"
is "$(lat_buckets "$want")" "$want" "observe: exact cumulative default buckets"
is "$(gw_value obs 'instance="o"' lat_sum)" 24.5625 "observe: _sum"
is "$(gw_value obs 'instance="o"' lat_count)" 4 "observe: _count"
is "$(gw_value obs 'instance="o"' lat_count 'path="/x"')" 1 "observe: a labeled series of its own"
"$CS" put --job obs --grouping 'instance="o"' --op observe 'lat 0.001953125'
run_agent -c "$T/add.conf" --once
is_rc 0 "observe, second run: exit 0"
want="0.005=1 0.01=1 0.025=1 0.05=1 0.1=2 0.25=2 0.5=3 1=3 2.5=3 5=4 10=4 +Inf=5"
is "$(lat_buckets "$want")" "$want" "observe across two runs: buckets"
is "$(gw_value obs 'instance="o"' lat_sum)" 24.564453125 "observe across two runs: _sum"
is "$(gw_value obs 'instance="o"' lat_count)" 5 "observe across two runs: _count"

# ------------------------------------------- grouping values for @base64
export COLLECTOR_SPOOL="$T/base64.db"
grouping='path="/var/x",empty="",sp="a b%é",q="a\"b\\c"'
"$CS" put --job 'batch/nightly' --grouping "$grouping" 'odd_value 1'
run_agent -c "$T/add.conf" --once
is_rc 0 "job and grouping values with '/', empty, blanks, quotes: exit 0"
is "$(gw_value 'batch/nightly' "$grouping" odd_value)" 1 "the gateway shows the decoded job and labels"
is "$(gw_groups | grep -c 'nightly')" 1 "exactly one such group"

# ------------------------------------------------------ whole-group PUT
export COLLECTOR_SPOOL="$T/whole.db"
"$CS" put --job wg --grouping 'instance="a"' 'req{code="200"} 5' 'other_family 1'
run_agent -c "$T/add.conf" --once
is_rc 0 "whole group, first run: exit 0"
"$CS" put --job wg --grouping 'instance="a"' 'req{code="500"} 1'
run_agent -c "$T/add.conf" --once
is_rc 0 "whole group, second run: exit 0"
is "$(gw_value wg 'instance="a"' req 'code="200"'),$(gw_value wg 'instance="a"' req 'code="500"')" 5,1 "two series of one family from two runs are both there"
is "$(gw_value wg 'instance="a"' other_family)" 1 "a family not written in the second run is still there"
"$CS" put --job wg --grouping 'instance="a"' 'req{code="200"} 6'
run_agent -c "$T/add.conf" --once
is "$(gw_value wg 'instance="a"' req 'code="200"'),$(gw_value wg 'instance="a"' req 'code="500"')" 6,1 "set replaces one series, keeps the other"

gw_stop
tap_done
