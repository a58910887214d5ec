#!/usr/bin/env bash
# What a new user trips on, each as the user meets it: a gateway URL ending
# in /metrics (a 404 that names the URL requested and pushgateway.url, -t
# warns), a wrong password (401: authentication, not refused data, the
# secret never printed), the info lines that say pushes work and that the
# gateway is back, -t and the spool's directory, near-miss environment
# names, --once-timeout against a down gateway, the README's first metric
# typed at the gateway, and the start line of pull-only mode.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

stats_json() { "$CS" stats --json; }
# matches GOT ERE NAME / nomatch GOT ERE NAME: a line of GOT matches the
# extended regular expression (or none does)
matches() {
	if printf '%s\n' "$1" | grep -qE -- "$2"; then tap_ok "$3"
	else tap_fail "$3" "got:  $1" "want a line matching: $2"; fi
}
nomatch() {
	if ! printf '%s\n' "$1" | grep -qE -- "$2"; then tap_ok "$3"
	else tap_fail "$3" "got:  $1" "want no line matching: $2"; fi
}
parked_count() { stats_json | "$PY" -c 'import json, sys; print(len(json.load(sys.stdin)["parked"]))'; }

gw_start || tap_bail "no gateway"

# ------------------------------------ a URL ending in /metrics: 404, config
agent_conf "$T/m.conf" "$GW_URL/metrics" mjob m once_timeout=3 retry_max=30
export COLLECTOR_SPOOL="$T/m.db"
"$CS" put --job app --grouping 'instance="a"' $'# TYPE app_up gauge\napp_up 1'
run_agent -c "$T/m.conf" -t
is_rc 0 "-t with a URL ending in /metrics: still valid"
like "$ERR" 'level=warn msg="pushgateway.url ends in /metrics; it is the gateway'"'"'s base URL (http://HOST:9091), the agent adds /metrics/job/... itself" setting=pushgateway.url url='"$GW_URL"'/metrics' \
	"-t warns about a URL that ends in /metrics"
run_agent -c "$T/m.conf" --once
is_rc 78 "404 from the gateway: --once exits 78 (the configuration), not 65"
matches "$ERR" 'level=error msg="the gateway has no such path \(HTTP 404\); check pushgateway.url" op=push url='"$GW_URL"'/metrics/metrics/job/app/instance/a code=404 ' \
	"the 404 names the URL requested and pushgateway.url"
matches "$ERR" 'hint="pushgateway.url ends in /metrics; set it to the gateway'"'"'s base URL \(http://HOST:9091\), the agent adds /metrics/job/..."' \
	"the hint says the URL ends in /metrics"
nomatch "$ERR" 'parked, data kept|hint="collector-spool stats"' "the 404 is not reported as refused data"
matches "$ERR" 'code=404 .* retry=next_run failures_since_last_report=0$' "--once promises the next run, not a retry_in it will not keep"
nomatch "$ERR" 'retry_in=' "--once names no retry_in past its deadline"
matches "$ERR" 'msg="done; the gateway refused the agent'"'"'s requests \(HTTP 401, 403 or 404\): the configuration is at fault, the data is kept"' \
	"--once ends saying the configuration is at fault"
is "$(parked_count)" 0 "stats blames no group"
check "the data is kept" test "$(stats_json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["dirty_groups"])')" -ge 1

# The fix: the base URL. The same spool goes.
agent_conf "$T/m2.conf" "$GW_URL" mjob m once_timeout=3
run_agent -c "$T/m2.conf" --once
is_rc 0 "with the base URL: delivered"
is "$(gw_value app 'instance="a"' app_up)" 1 "the value is at the gateway"

# ----------------------------------------- a wrong password: 401, config
SECRET='s3cr3t-friction-pw'
printf '%s' "$SECRET" >"$T/pw"
chmod 600 "$T/pw"
fake_start --answers 401 --status-answer 401 --body "Unauthorized"
agent_conf "$T/a.conf" "$FAKE_URL" ajob a once_timeout=3 retry_max=30 \
	'username = "pusher"' "password_file = \"$T/pw\""
export COLLECTOR_SPOOL="$T/a.db"
"$CS" put --job app --grouping 'instance="a"' 'app_up 1'
"$CS" put --job app --grouping 'instance="b"' 'app_up 1'
"$CS" put --job app --grouping 'instance="c"' 'app_up 1'
run_agent -c "$T/a.conf" --once
is_rc 78 "401 from the gateway: --once exits 78"
is "$(awk '$2 == "PUT"' "$FAKE_LOG" | wc -l)" 1 \
	"a wrong password costs one PUT, not one per changed group"
like "$ERR" 'level=error msg="authentication failed at the gateway; check pushgateway.username and pushgateway.password_file" op=push url='"$FAKE_URL"'/metrics/job/app/instance/a code=401 reason=Unauthorized hint="the gateway refused pushgateway.username with the password in pushgateway.password_file"' \
	"the 401 says authentication failed and names the settings"
nomatch "$ERR$OUT" "$SECRET" "the password is printed nowhere"
is "$(parked_count)" 0 "stats blames no group for a 401"
# Nothing to push: the start-time question alone meets the 401, and the
# run says the settings are wrong rather than "all delivered".
export COLLECTOR_SPOOL="$T/a3.db"
run_agent -c "$T/a.conf" --once
is_rc 78 "401 to the start-time question with nothing to push: --once exits 78"
nomatch "$ERR" 'all delivered' "...and does not say all was delivered"
fake_stop

# ------------------- a proxy that lets pushes through but not the question
# 403 to GET /api/v1/status while PUTs go: once a push went, the question
# is asked no more (it would be a request that cannot work, every round).
fake_start --answers 200 --status-answer 403 --body "Forbidden"
agent_conf "$T/p.conf" "$FAKE_URL" pjob p interval=1
export COLLECTOR_SPOOL="$T/p.db"
"$CS" put --job app --grouping 'instance="p"' 'app_up 1'
agent_start proxy -c "$T/p.conf"
wait_until test "$(fake_count PUT /metrics/job/app/instance/p)" -ge 1
for v in 2 3 4 5; do
	"$CS" put --job app --grouping 'instance="p"' "app_up $v"
	wait_until test "$(fake_count PUT /metrics/job/app/instance/p)" -ge "$v"
done
stop_pid "$AGENT_PID" 10
is "$(fake_count PUT /metrics/job/app/instance/p)" 5 "five changes, five PUTs through the proxy"
is "$(fake_count GET /api/v1/status)" 2 \
	"the refused question is asked until a push went, then no more"
like "$(cat "$T/proxy.err")" 'msg="the gateway does not tell its start time' \
	"...and the agent says what that costs, once"
fake_stop

# --------------------------------------- info lines: first push, and back
port=$(free_port)
agent_conf "$T/i.conf" "http://127.0.0.1:$port" ijob i retry_min=0.2 retry_max=0.5
sed -i 's/level = "debug"/level = "info"/' "$T/i.conf"
export COLLECTOR_SPOOL="$T/i.db"
"$CS" put --job app --grouping 'instance="i"' 'app_up 1'
agent_start info -c "$T/i.conf"
wait_until grep -q 'msg="gateway unreachable; will retry"' "$T/info.err"
is "$?" 0 "the daemon meets a down gateway"
nomatch "$(cat "$T/info.err")" 'first push delivered' "no success line before a success"
GW_SAVE_URL=$GW_URL GW_SAVE_PID=$GW_PID
gw_start "$port" || tap_bail "no second gateway"
wait_until grep -q 'msg="first push delivered; pushes work"' "$T/info.err"
is "$?" 0 "an info line at the first delivered push"
matches "$(cat "$T/info.err")" 'level=info msg="the gateway answers again" url=http://127.0.0.1:'"$port"' down_seconds=[0-9.]+ failed_requests=[1-9][0-9]*' \
	"an info line when the gateway answers again, with how long and how many failed"
is "$(grep -c 'msg="first push delivered' "$T/info.err")" 1 "the first push is said once"
stop_pid "$AGENT_PID" 10
GW_URL=$GW_SAVE_URL GW_PID=$GW_SAVE_PID

# The same two lines for remote write: a receiver down at the start (the
# fake gateway takes POSTs under /metrics/job), then up on the same port.
port=$(free_port)
export COLLECTOR_SPOOL="$T/w.db"
"$CS" put --job app --grouping 'instance="w"' 'app_up 1'
PROMETHEUS_PUSHGATEWAY_ENABLED=false agent_start rw --interval 1 --log-level info \
	--remote-write "http://127.0.0.1:$port/metrics/job/rw"
wait_until grep -q 'msg="remote write receiver unreachable; will retry"' "$T/rw.err"
is "$?" 0 "remote write: the daemon meets a down receiver"
fake_start --port "$port" || tap_bail "the fake receiver starts"
wait_until grep -q 'msg="first remote write request delivered; sending works"' "$T/rw.err"
is "$?" 0 "remote write: an info line at the first delivered request"
matches "$(cat "$T/rw.err")" 'level=info msg="the remote write receiver answers again" url=http://127.0.0.1:'"$port"'/metrics/job/rw down_seconds=[0-9.]+ failed_requests=[1-9]' \
	"remote write: an info line when the receiver answers again"
stop_pid "$AGENT_PID" 10
fake_stop

# ------------------------------------------------ -t and the spool's directory
run_agent -t --spool "$T/no/such/dir/spool.db"
is_rc 0 "-t with a missing spool directory: still valid"
matches "$ERR" 'level=warn msg="the spool'"'"'s directory does not exist; the agent cannot create the spool" spool='"$T"'/no/such/dir/spool.db dir='"$T"'/no/such/dir reason="No such file or directory" fix="create it for the agent'"'"'s user \(install -d -o USER DIR\), or set spool.path"' \
	"-t warns about a missing spool directory, with the path and the fix"
like "$ERR" 'configuration OK, with the warnings above' "-t says OK with warnings"
mkdir -p "$T/ro"
chmod 0555 "$T/ro"
chmod o+x "$T"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	# root may write anywhere: the check is for the user who runs -t.
	ERR=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$AGENT" -t --spool "$T/ro/spool.db" 2>&1 >/dev/null)
	like "$ERR" 'msg="the spool'"'"'s directory is not writable by the user running this check; an agent run as that user cannot create or open the spool" spool='"$T"'/ro/spool.db dir='"$T"'/ro user=nobody' \
		"-t warns about a spool directory its user cannot write"
elif [ "$(id -u)" != 0 ]; then
	run_agent -t --spool "$T/ro/spool.db"
	like "$ERR" 'msg="the spool'"'"'s directory is not writable by the user running this check' \
		"-t warns about a spool directory its user cannot write"
else
	tap_skip "no setpriv to run -t as another user"
fi
run_agent -t --spool "$T/ok.db"
nomatch "$ERR" 'level=warn' "-t with a writable spool directory: no warning"

# ---------------------------------------------------- near-miss names
PROMETHEUS_PUSHGATEWAY_URl=http://typo:9091 OTHER_PROGRAM_URl=x run_agent -t --spool "$T/ok.db"
matches "$ERR" 'level=warn msg="env PROMETHEUS_PUSHGATEWAY_URl: not a name the agent reads, ignored; did you mean PROMETHEUS_PUSHGATEWAY_URL\?"' \
	"a near-miss environment name is warned about, with the name meant"
nomatch "$ERR" 'OTHER_PROGRAM' "other programs' names are left alone"
printf 'PROMETHEUS_PUSHGATEWAY_INTERVALL=5\n' >"$T/near.env"
run_agent -t --env-file "$T/near.env" --spool "$T/ok.db"
matches "$ERR" 'msg="'"$T"'/near.env:1: PROMETHEUS_PUSHGATEWAY_INTERVALL: not a name the agent reads, ignored; did you mean PROMETHEUS_PUSHGATEWAY_INTERVAL\?"' \
	"a near-miss name in the env file, with its line"
printf 'pushgateway: { intervall = 5; };\n' >"$T/near.conf"
run_agent -t -c "$T/near.conf"
is_rc 78 "a misspelt key is an error"
matches "$ERR" "near.conf:1: unknown setting 'pushgateway.intervall'; did you mean 'pushgateway.interval'\\?" \
	"the unknown setting names the one meant"

# ------------------------------------ --once-timeout with a down gateway
port=$(free_port)
agent_conf "$T/d.conf" "http://127.0.0.1:$port" djob d once_timeout=30 retry_min=1 retry_max=60
export COLLECTOR_SPOOL="$T/d.db"
"$CS" put --job app --grouping 'instance="d"' 'app_up 1'
run_agent -c "$T/d.conf" --once --once-timeout 3
is_rc 75 "--once-timeout 3, gateway down: exit 75"
echo "# took $SECS s"
like "$ERR" 'msg="gateway not reachable in time; everything is kept for the next run" url=http://127.0.0.1:'"$port"' once_timeout=3 ' \
	"the flag sets once_timeout over the file's 30"
matches "$ERR" 'msg="gateway unreachable; no time left for a retry within once_timeout, giving up" op=push job=app grouping="instance=\\"d\\"" code=0 reason=.* once_timeout=3' \
	"the last failure says it gives up, not when it would retry"
# Every promised retry is one it makes: a retry_in is followed by another
# attempt (a later line about the same push).
last=$(grep -c 'retry_in=' "$AGENT_ERR_FILE")
attempts=$(grep -c 'msg="gateway unreachable' "$AGENT_ERR_FILE")
is "$attempts" "$((last + 1))" "each retry_in= was followed by the retry it promised"
run_agent --once-timeout 0 --spool "$T/d.db"
is_rc 78 "--once-timeout 0: out of range"
like "$ERR" '--once-timeout: ' "the flag is named in the message"

# ------------------------------------------- the README's first metric, typed
agent_conf "$T/r.conf" "$GW_URL" rjob r once_timeout=5
export COLLECTOR_SPOOL="$T/r.db"
"$CS" put --job demo $'# TYPE demo_temperature_celsius gauge\ndemo_temperature_celsius 21.5'
printf '# TYPE api_requests_total counter\napi_requests_total{method="GET",code="200"} 1\n' |
	"$CS" put --job demo --op add
run_agent -c "$T/r.conf" --once
is_rc 0 "the README's first metrics: delivered"
METRICS=$(curl -s --max-time 5 "$GW_URL/metrics")
like "$METRICS" $'# TYPE demo_temperature_celsius gauge\ndemo_temperature_celsius{instance="r",job="demo"} 21.5' \
	"the README's gauge is a gauge at the gateway"
like "$METRICS" $'# TYPE api_requests_total counter\napi_requests_total{code="200",instance="r",job="demo",method="GET"} 1' \
	"the README's counter is a counter at the gateway"

# ------------------------------------------ the start line in pull-only mode
lport=$(free_port)
export COLLECTOR_SPOOL="$T/p.db"
PROMETHEUS_PUSHGATEWAY_ENABLED=false agent_start pull --listen "127.0.0.1:$lport" --log-level info
wait_until grep -q 'msg=started' "$T/pull.err"
like "$(cat "$T/pull.err")" 'msg=started spool='"$T"'/p.db push=off listen=127.0.0.1:'"$lport"' interval=' \
	"pull only: push=off and listen=, no gateway"
nomatch "$(grep 'msg=started' "$T/pull.err")" 'gateway=' "pull only: no gateway named"
stop_pid "$AGENT_PID" 10

tap_done
