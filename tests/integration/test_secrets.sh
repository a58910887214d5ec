#!/usr/bin/env bash
# Secrets: distinctive passwords, tokens and header values
# go through every path the agent has (debug logs of a success, a 401, a
# TLS failure, an unreachable gateway; -t; pull mode's /metrics; config
# errors; collector-spool stats) and every output is grepped for them, also
# for the base64 form a Basic header carries. Secret files readable by
# others are warned about; a changed password file is re-read on SIGHUP
# (the next request carries the new one, exactly); the standard proxy
# variables reach libcurl (http_proxy, https_proxy through CONNECT, proxy
# credentials, no_proxy / NO_PROXY; upper-case HTTP_PROXY is ignored, as
# libcurl does). The gateway is a stand-in that records request headers
# (tls_echo_headers.py); the proxy is proxy_http.py. Loopback only.
set -u
. "$(dirname "$0")/lib.sh"
. "$INT_DIR/tls_lib.sh"
need agent
tls_need

tls_pki

PW='S3cr3t-PW-xyzzy'
NEWPW='N3w-PW-plugh'
BADPW='Wr0ng-PW-frob'
TOK='tok-ABCDEF-123'
HKEY='hdr-KEY-987zz'
PXPW='PXY-PW-777'
b64() { printf '%s' "$1" | base64 -w0; }
BASIC="Basic $(b64 "pusher:$PW")"
BASIC_NEW="Basic $(b64 "pusher:$NEWPW")"
BASIC_BAD="Basic $(b64 "pusher:$BADPW")"
# What must never show: the secrets, and the Basic forms of the passwords.
SECRETS=("$PW" "$NEWPW" "$BADPW" "$TOK" "$HKEY" "$PXPW" "$(b64 "pusher:$PW")"
	"$(b64 "pusher:$NEWPW")" "$(b64 "pusher:$BADPW")" "$(b64 "puser:$PXPW")")
secret_file() { (umask 077; printf '%s\n' "$2" >"$T/$1"); }
secret_file pw "$PW"
secret_file badpw "$BADPW"
secret_file token "$TOK"

# Every output that must be free of secrets is listed here: run_agent's
# files, daemons' logs, scrapes, stats, the spools.
OUTPUTS=()
srun() { run_agent "$@"; OUTPUTS+=("$T/agent-$AGENT_N.out" "$T/agent-$AGENT_N.err"); }
stats_out() { "$CS" stats >"$T/stats-$1.txt" 2>&1; "$CS" stats --json >"$T/stats-$1.json" 2>&1
	OUTPUTS+=("$T/stats-$1.txt" "$T/stats-$1.json"); }
# free_of FILE...: none of the files holds any secret
free_of() {
	local s f bad=0
	for f in "$@"; do
		for s in "${SECRETS[@]}"; do
			if grep -aqF -- "$s" "$f" 2>/dev/null; then
				echo "# $f holds '$s'"
				bad=1
			fi
		done
	done
	return $bad
}
quiet_free_of() { free_of "$@" >/dev/null; }

echo_start --require-auth "$BASIC" || tap_bail "the stand-in starts"
OK_URL=$ECHO_URL OK_LOG=$ECHO_LOG
basic=('username = "pusher"')
hdrs='headers = [ "X-Api-Key: '"$HKEY"'", "X-Team: payments" ]'

# ---------------------------------------------------------------------- -t
export COLLECTOR_SPOOL="$T/t.db"
agent_conf "$T/basic.conf" "$OK_URL" secjob s "${basic[@]}" "password_file = \"$T/pw\"" "$hdrs"
srun -c "$T/basic.conf" -t
is_rc 0 "-t with basic auth and a secret header: exit 0"
like "$OUT" "password_file = \"$T/pw\";  # password: <redacted>" "-t: the password file is named, its content redacted"
like "$OUT" '"X-Api-Key: <redacted>"' "-t: a header named like a key has its value redacted"
like "$OUT" '"X-Team: payments"' "-t: other headers are shown"
agent_conf "$T/bearer.conf" "$OK_URL" secjob s "bearer_token_file = \"$T/token\"" \
	'headers = [ "Authorization: Token '"$HKEY"'" ]'
srun -c "$T/bearer.conf" -t
is_rc 0 "-t with a bearer token: exit 0"
like "$OUT" "bearer_token_file = \"$T/token\";  # bearer token: <redacted>" "-t: the token file is named, the token redacted"
like "$OUT" '"Authorization: <redacted>"' "-t: an Authorization header is redacted"

# ------------------------------------------------- success, at debug level
export COLLECTOR_SPOOL="$T/ok.db"
"$CS" put --job sec --grouping 'instance="ok"' 'sec_value 1'
srun -c "$T/basic.conf" --log-level debug --once
is_rc 0 "basic auth, success, debug log: exit 0"
is "$(echo_values Authorization PUT)" "$BASIC" "the stand-in got exactly Basic base64(user:password)"
is "$(echo_values X-Api-Key PUT)" "$HKEY" "and the secret header"
like "$ERR" 'level=debug msg="pushed group"' "the log is at debug level"

# -------------------------------------------------------------------- 401
export COLLECTOR_SPOOL="$T/401.db"
"$CS" put --job sec --grouping 'instance="401"' 'sec_value 2'
agent_conf "$T/bad.conf" "$OK_URL" secjob s "${basic[@]}" "password_file = \"$T/badpw\"" "$hdrs"
srun -c "$T/bad.conf" --log-level debug --once
is_rc 78 "wrong password (401), debug log: exit 78 (the configuration, not the data)"
is "$(echo_hdr Authorization PUT "$OK_LOG" | awk '$3 == 401' | cut -d' ' -f4- | sort -u)" "$BASIC_BAD" \
	"the stand-in got the wrong password (and refused it)"
like "$ERR" 'code=401 reason=Unauthorized' "the 401 is logged with the gateway's words"
stats_out 401
check "stats blames no group for the credentials" not grep -q 'HTTP 401' "$T/stats-401.txt"

# ------------------------------------------------------------ TLS failure
echo_start --tls "$PKI/server.crt" "$PKI/server.key" --require-auth "$BASIC" ||
	tap_bail "the TLS stand-in starts"
TLS_URL=$ECHO_URL TLS_LOG=$ECHO_LOG
export COLLECTOR_SPOOL="$T/tls.db"
"$CS" put --job sec --grouping 'instance="tls"' 'sec_value 3'
agent_conf "$T/tlsbad.conf" "$TLS_URL" secjob s "${basic[@]}" "password_file = \"$T/pw\"" "$hdrs" \
	"ca_file = \"$PKI/unknown-ca.crt\"" once_timeout=1
srun -c "$T/tlsbad.conf" --log-level debug --once
is_rc 75 "TLS failure (unknown CA), debug log: exit 75"
like "$ERR" 'SSL certificate problem' "the certificate problem is logged"
is "$(echo_n "$TLS_LOG")" 0 "no request reached the server (the handshake failed first)"
agent_conf "$T/tlsbearer.conf" "$TLS_URL" secjob s "bearer_token_file = \"$T/token\"" \
	"ca_file = \"$PKI/unknown-ca.crt\"" once_timeout=1
srun -c "$T/tlsbearer.conf" --log-level debug --once
is_rc 75 "TLS failure with a bearer token: exit 75"
stats_out tls

# ------------------------------------------------------------ unreachable
DEAD_URL="http://127.0.0.1:$(free_port)"
export COLLECTOR_SPOOL="$T/dead.db"
"$CS" put --job sec --grouping 'instance="dead"' 'sec_value 4'
agent_conf "$T/dead.conf" "$DEAD_URL" secjob s "${basic[@]}" "password_file = \"$T/pw\"" "$hdrs" once_timeout=1
srun -c "$T/dead.conf" --log-level debug --once
is_rc 75 "unreachable gateway, debug log: exit 75"
like "$ERR" 'msg="gateway unreachable; will retry"' "logged as unreachable"

# ------------------- pull mode, and the password file re-read on SIGHUP
# The stand-in wants the new password; the agent starts with the old one
# (401, parked), then the file changes and SIGHUP makes it read it again.
echo_start --require-auth "$BASIC_NEW" || tap_bail "the stand-in starts"
HUP_URL=$ECHO_URL HUP_LOG=$ECHO_LOG
secret_file live-pw "$PW"
export COLLECTOR_SPOOL="$T/live.db"
"$CS" put --job sec --grouping 'instance="live"' 'sec_value 5'
agent_conf "$T/live.conf" "$HUP_URL" secjob s "${basic[@]}" "password_file = \"$T/live-pw\"" "$hdrs"
lport=$(free_port)
agent_start live -c "$T/live.conf" --log-level debug --listen "127.0.0.1:$lport"
apid=$AGENT_PID
OUTPUTS+=("$T/live.out" "$T/live.err")
put_status() { echo_hdr Authorization PUT "$HUP_LOG" | grep -q "^PUT /metrics/job/sec/instance/live $1 "; }
wait_until put_status 401
is "$?" 0 "the running agent gets 401 with the old password"
wait_until curl -sf --max-time 2 "http://127.0.0.1:$lport/metrics" -o "$T/scrape-1.txt"
is "$?" 0 "pull mode: /metrics answers"
OUTPUTS+=("$T/scrape-1.txt")
like "$(cat "$T/scrape-1.txt")" 'collector_agent_up 1' "the scrape holds the agent's own metrics"
like "$(cat "$T/scrape-1.txt")" 'sec_value{job="sec",instance="live"} 5' "and the group"
is "$(echo_values Authorization PUT "$HUP_LOG")" "$BASIC" "before SIGHUP every request carried the old password"
printf '%s\n' "$NEWPW" >"$T/live-pw"
kill -HUP "$apid"
wait_until put_status 200
is "$?" 0 "after the password file changed and SIGHUP, the group is delivered"
is "$(echo_hdr Authorization PUT "$HUP_LOG" | awk '$3 == 200' | cut -d' ' -f4- | sort -u)" "$BASIC_NEW" \
	"every accepted request carried exactly the new password"
is "$(echo_hdr Authorization PUT "$HUP_LOG" | awk '$3 == 401' | cut -d' ' -f4- | sort -u)" "$BASIC" \
	"every refused one the old"
curl -sf --max-time 2 "http://127.0.0.1:$lport/metrics" -o "$T/scrape-2.txt"
OUTPUTS+=("$T/scrape-2.txt")
like "$(cat "$T/scrape-2.txt")" 'collector_agent_up 1' "pull mode: a second scrape after the reload"
# The file gone at the next SIGHUP: the reload is refused, the old secret stays.
rm -f "$T/live-pw"
kill -HUP "$apid"
wait_until grep -q 'old one stays' "$T/live.err"
is "$?" 0 "password file missing at SIGHUP: the reload is refused"
like "$(cat "$T/live.err")" "pushgateway.password_file: cannot read '$T/live-pw' (No such file or directory)" \
	"the log names the file"
diag_agent 'live-pw' "$T/live.err"
check "the agent keeps running" kill -0 "$apid"
"$CS" put --job sec --grouping 'instance="live"' 'sec_value 6'
live_200s() { echo_hdr Authorization PUT "$HUP_LOG" | grep -cxF "PUT /metrics/job/sec/instance/live 200 $BASIC_NEW"; }
wait_until eval '[ "$(live_200s)" -ge 2 ]'
is "$(live_200s)" 2 "and pushes the next change with the password it had"
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
stats_out live

# --------------------------------------------------------- config errors
export COLLECTOR_SPOOL="$T/cfg.db"
(umask 077; printf '%s\nsecond line\n' "$PW" >"$T/pw2lines"; printf '%s\r\nX-Injected: 1\n' "$TOK" >"$T/tokcrlf")
agent_conf "$T/e1.conf" "$OK_URL" secjob s "${basic[@]}" "password_file = \"$T/pw2lines\""
srun -c "$T/e1.conf" --once
is_rc 78 "a password file of two lines: 78"
like "$ERR" "pushgateway.password_file: '$T/pw2lines' holds a line break" "the message names the file"
agent_conf "$T/e2.conf" "$OK_URL" secjob s "bearer_token_file = \"$T/tokcrlf\""
srun -c "$T/e2.conf" -t
is_rc 78 "a token file with CR/LF inside: 78 (-t)"
like "$ERR" "pushgateway.bearer_token_file: '$T/tokcrlf' holds a line break" "the message names the file"
agent_conf "$T/e3.conf" "$OK_URL" secjob s 'headers = [ "X-Api-Key: '"$HKEY"'\r\nX-Injected: 1" ]'
srun -c "$T/e3.conf" --once
is_rc 78 "a secret header with CR/LF: 78"
like "$ERR" 'pushgateway.headers[0]: the value must not contain line breaks' "the message names the header by position"
mkfifo "$T/pw-fifo"
agent_conf "$T/e5.conf" "$OK_URL" secjob s "${basic[@]}" "password_file = \"$T/pw-fifo\""
srun -c "$T/e5.conf" -t
is_rc 78 "a password file that is a FIFO: 78, without blocking"
like "$ERR" "pushgateway.password_file: cannot read '$T/pw-fifo' (not a regular file)" "the message says why"
agent_conf "$T/e4.conf" "$OK_URL" secjob s 'username = "pusher"'
srun -c "$T/e4.conf" --once
is_rc 78 "username without password_file: 78"
srun --gateway "https://pusher:$PW@127.0.0.1:9091" --once
is_rc 78 "a URL with user:password: 78"
like "$ERR" "must not carry credentials" "the message says why"
PROMETHEUS_PUSHGATEWAY_URL="http://pusher:$PW@127.0.0.1:9091/" srun --once
is_rc 78 "PROMETHEUS_PUSHGATEWAY_URL with user:password: 78"

# A URL with credentials AND another defect: the message must not quote the
# password either. cfg.c's url_check() tests the scheme, blanks and
# query before the credentials, and quotes the URL whole.
url_leaks=()
for u in "ftp://pusher:$PW@127.0.0.1:9091" "https://pusher:$PW@127.0.0.1:9091/a b" \
	"https://pusher:$PW@127.0.0.1:9091/?x=1"; do
	run_agent --gateway "$u" -t
	[ "$RC" = 78 ] || url_leaks+=("--gateway '$u': exit $RC")
	free_of "$T/agent-$AGENT_N.err" >/dev/null || url_leaks+=("--gateway: $(cat "$T/agent-$AGENT_N.err")")
	PROMETHEUS_PUSHGATEWAY_URL=$u run_agent -t
	free_of "$T/agent-$AGENT_N.err" >/dev/null || url_leaks+=("env: $(cat "$T/agent-$AGENT_N.err")")
	agent_conf "$T/urlpw.conf" "$u" secjob s
	run_agent -c "$T/urlpw.conf" -t
	free_of "$T/agent-$AGENT_N.err" >/dev/null || url_leaks+=("config: $(cat "$T/agent-$AGENT_N.err")")
	run_agent --remote-write "$u" -t
	free_of "$T/agent-$AGENT_N.err" >/dev/null || url_leaks+=("--remote-write: $(cat "$T/agent-$AGENT_N.err")")
done
is "${#url_leaks[@]}" 0 "a bad URL with user:password in it: no message quotes the password"
for l in "${url_leaks[@]}"; do echo "# leak: $l"; done

# ------------------------------------------- secret files others may read
export COLLECTOR_SPOOL="$T/mode.db"
printf '%s\n' "$PW" >"$T/pw-644"; chmod 0644 "$T/pw-644"
printf '%s\n' "$TOK" >"$T/tok-644"; chmod 0644 "$T/tok-644"
agent_conf "$T/m1.conf" "$OK_URL" secjob s "${basic[@]}" "password_file = \"$T/pw-644\""
srun -c "$T/m1.conf" --once
is_rc 0 "a password file with mode 0644 still works: exit 0"
check "a password file readable by others: a warning naming the setting and the file" \
	\
	warn_line "$AGENT_ERR_FILE" password_file "$T/pw-644"
diag_agent 'pw-644' "$AGENT_ERR_FILE"
agent_conf "$T/m2.conf" "$OK_URL" secjob s "bearer_token_file = \"$T/tok-644\""
srun -c "$T/m2.conf" -t
check "a token file readable by others: a warning (-t)" \
	\
	warn_line "$AGENT_ERR_FILE" bearer_token_file "$T/tok-644"
cp "$PKI/client.key" "$T/key-644"; chmod 0644 "$T/key-644"
agent_conf "$T/m3.conf" "$OK_URL" secjob s "cert_file = \"$PKI/client.crt\"" "key_file = \"$T/key-644\""
srun -c "$T/m3.conf" -t
check "a private key file readable by others: a warning (-t)" \
	\
	warn_line "$AGENT_ERR_FILE" key_file "$T/key-644"
chmod 0640 "$T/pw-644"
srun -c "$T/m1.conf" --once
is_rc 0 "mode 0640: exit 0"
is "$(grep -c 'level=warn' "$AGENT_ERR_FILE")" 0 "mode 0640 (group may read): no warning"

# ------------------------------------------------------------------ proxies
# http_proxy: a gateway name that resolves nowhere (.invalid) works only
# through the proxy, which sends everything to the stand-in.
echo_start --require-auth "$BASIC" || tap_bail "the stand-in starts"
PX_URL=$ECHO_URL PX_LOG=$ECHO_LOG
proxy_start --upstream "${PX_URL##*:}" || tap_bail "the proxy starts"
export COLLECTOR_SPOOL="$T/proxy.db"
"$CS" put --job sec --grouping 'instance="proxy"' 'sec_value 6'
# once_self_metrics: two PUTs a run, the group and the agent's own.
agent_conf "$T/px.conf" "http://pgw.invalid:9091" secjob s "${basic[@]}" "password_file = \"$T/pw\"" \
	once_self_metrics=true
http_proxy=$PROXY_URL srun -c "$T/px.conf" --once
is_rc 0 "http_proxy with a gateway only the proxy can reach: exit 0"
is "$(cut -d' ' -f1-4 "$PROXY_LOG")" \
	"$(printf '%s\n' 'GET http://pgw.invalid:9091/api/v1/status 404 -' \
		'PUT http://pgw.invalid:9091/metrics/job/sec/instance/proxy 200 -' \
		'PUT http://pgw.invalid:9091/metrics/job/secjob/instance/s 200 -')" \
	"the proxy saw the start-time question and both PUTs, in absolute form, and no proxy credentials"
is "$(echo_values Authorization PUT "$PX_LOG")" "$BASIC" "the gateway's credentials went through to it, exactly"
is "$(echo_values Host PUT "$PX_LOG")" "pgw.invalid:9091" "with the gateway's Host"

n_px=$(wc -l <"$PROXY_LOG") n_echo=$(echo_n "$PX_LOG")
"$CS" put --job sec --grouping 'instance="proxy"' 'sec_value 7'
agent_conf "$T/direct.conf" "$PX_URL" secjob s "${basic[@]}" "password_file = \"$T/pw\"" \
	once_self_metrics=true
http_proxy=$PROXY_URL no_proxy=127.0.0.1 srun -c "$T/direct.conf" --once
is_rc 0 "no_proxy=127.0.0.1: exit 0"
is "$(wc -l <"$PROXY_LOG")/$(($(echo_n "$PX_LOG") - n_echo))" "$n_px/2" "no_proxy: the proxy saw nothing, the gateway both PUTs"
"$CS" put --job sec --grouping 'instance="proxy"' 'sec_value 8'
http_proxy=$PROXY_URL NO_PROXY=127.0.0.1 srun -c "$T/direct.conf" --once
is_rc 0 "NO_PROXY=127.0.0.1: exit 0"
is "$(wc -l <"$PROXY_LOG")/$(($(echo_n "$PX_LOG") - n_echo))" "$n_px/4" "NO_PROXY (upper case) too"
"$CS" put --job sec --grouping 'instance="proxy"' 'sec_value 9'
HTTP_PROXY=$PROXY_URL srun -c "$T/direct.conf" --once
is_rc 0 "HTTP_PROXY (upper case) alone: exit 0"
is "$(wc -l <"$PROXY_LOG")/$(($(echo_n "$PX_LOG") - n_echo))" "$n_px/6" \
	"HTTP_PROXY is ignored for http:// (libcurl's rule against httpoxy): direct"

# Proxy credentials from the URL in http_proxy.
: >"$PROXY_LOG"
"$CS" put --job sec --grouping 'instance="proxy"' 'sec_value 10'
http_proxy="http://puser:$PXPW@${PROXY_URL#http://}" srun -c "$T/px.conf" --log-level debug --once
is_rc 0 "http_proxy with user:password: exit 0"
is "$(cut -d' ' -f4- "$PROXY_LOG" | sort -u)" "Basic $(b64 "puser:$PXPW")" "the proxy got its credentials on every request"
http_proxy="http://puser:$PXPW@127.0.0.1:$(free_port)" srun -c "$T/px.conf" --log-level debug --once
is_rc 75 "a dead proxy with user:password: exit 75"
like "$ERR" 'msg="gateway unreachable; will retry"' "logged as unreachable"

# https_proxy: a CONNECT tunnel to the TLS stand-in, verified end to end.
proxy_start || tap_bail "the second proxy starts"
n_tls=$(echo_n "$TLS_LOG")
"$CS" put --job sec --grouping 'instance="proxy"' 'sec_value 11'
agent_conf "$T/pxtls.conf" "$TLS_URL" secjob s "${basic[@]}" "password_file = \"$T/pw\"" "ca_file = \"$CA\"" \
	once_self_metrics=true
https_proxy=$PROXY_URL srun -c "$T/pxtls.conf" --once
is_rc 0 "https_proxy (CONNECT) to an HTTPS gateway: exit 0"
is "$(cut -d' ' -f1-3 "$PROXY_LOG" | sort -u)" "CONNECT ${TLS_URL#https://} 200" "the proxy tunnelled to the gateway"
is "$(($(echo_n "$TLS_LOG") - n_tls))/$(echo_hdr Authorization PUT "$TLS_LOG" | tail -n 2 | cut -d' ' -f4- | sort -u)" \
	"2/$BASIC" "both PUTs arrived through the tunnel with the credentials"

# --------------------------------------- a gateway that echoes credentials
# Not the agent's fault, but its logs, stats and /metrics are where they
# end up: the agent knows its secrets and could blank them in what a
# gateway says. Kept apart from the outputs checked above.
echo_start --require-auth "$BASIC_NEW" --reflect-auth || tap_bail "the stand-in starts"
export COLLECTOR_SPOOL="$T/reflect.db"
"$CS" put --job sec --grouping 'instance="reflect"' 'sec_value 12'
agent_conf "$T/reflect.conf" "$ECHO_URL" secjob s "${basic[@]}" "password_file = \"$T/pw\""
run_agent -c "$T/reflect.conf" --once
is_rc 78 "a gateway that quotes the Authorization header in its 401: exit 78"
"$CS" stats --json >"$T/reflect-stats.json"
check "its words are logged and stored without the credentials" \
	\
	free_of "$AGENT_ERR_FILE" "$T/reflect-stats.json"

# ------------------------------------------------------------ the grep
check "harness: the grep finds a secret where there is one (the stand-in's own log)" \
	not quiet_free_of "$OK_LOG"
OUTPUTS+=("$T"/ok.db* "$T"/401.db* "$T"/tls.db* "$T"/dead.db* "$T"/live.db* "$T"/proxy.db*)
for s in "${SECRETS[@]}"; do
	found=$(grep -alF -- "$s" "${OUTPUTS[@]}" 2>/dev/null)
	is "$found" "" "'$s' appears in none of the ${#OUTPUTS[@]} outputs (logs, -t, /metrics, stats, spools)"
done

tap_done
