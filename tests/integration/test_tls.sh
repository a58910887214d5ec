#!/usr/bin/env bash
# Transport security against the real Pushgateway's own TLS and basic auth
# (--web.config.file, Debian's 1.5.1), with certificates this test makes
# with openssl: a trusted CA delivers; an unknown CA is refused (exit 75,
# the certificate problem named, nothing lost); a wrong password is a 401
# that parks the group (exit 65, the gateway's words in stats, data kept)
# until the password file is fixed and the agent reloads; mTLS required and
# given delivers, required and not given is retried (exit 75);
# insecure_skip_verify delivers and warns. Then, against a stand-in that
# records headers: the bearer token from bearer_token_file and the extra
# headers arrive exactly, on PUT and DELETE; a header with CR/LF is refused
# at config time (78). Every value is read back from the gateway.
set -u
. "$(dirname "$0")/lib.sh"
. "$INT_DIR/tls_lib.sh"
need agent gateway
tls_need

tls_pki
PW='S3cr3t-PW-xyzzy'
(umask 077; printf '%s\n' "$PW" >"$T/pw"; printf 'wrong-PW-42\n' >"$T/badpw")
HASH=$(tls_bcrypt "$PW")
case $HASH in
'$2'*) ;;
*) tap_bail "python3 makes a bcrypt hash" "got: $HASH" ;;
esac

cat >"$T/web-auth.yml" <<EOF
tls_server_config:
  cert_file: $PKI/server.crt
  key_file: $PKI/server.key
basic_auth_users:
  pusher: '$HASH'
EOF
cat >"$T/web-mtls.yml" <<EOF
tls_server_config:
  cert_file: $PKI/server.crt
  key_file: $PKI/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: $CA
EOF

tls_gw_start "$T/web-auth.yml" --cacert "$CA" -u "pusher:$PW" ||
	tap_bail "the gateway with TLS and basic auth starts"
AUTH_URL=$TGW_URL
q_auth() { tgw_query "$AUTH_URL" --cacert "$CA" --user pusher --password-file "$T/pw" -- "$@"; }
q_auth_is() { local want=$1; shift; [ "$(q_auth value "$@")" = "$want" ]; }

# The harness: the gateway really does verify and authenticate.
is "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" "$AUTH_URL/api/v1/metrics")" 401 \
	"harness: the gateway answers 401 without credentials"
curl -s -o /dev/null --cacert "$UNKNOWN_CA" -u "pusher:$PW" "$AUTH_URL/-/ready"
is "$?" 60 "harness: curl trusting only the unknown CA refuses the server (60)"
is "$(q_auth groups)" "" "harness: the reader gets in over HTTPS with the password; no groups yet"

common=('username = "pusher"' "ca_file = \"$CA\"")

# ------------------------------------------------ trusted CA, right password
export COLLECTOR_SPOOL="$T/ok.db"
"$CS" put --job tls --grouping 'instance="ok"' 'tls_value 42'
agent_conf "$T/ok.conf" "$AUTH_URL" tlsjob agent-1 "${common[@]}" "password_file = \"$T/pw\""
run_agent -c "$T/ok.conf" --once
is_rc 0 "trusted CA (ca_file) + right password: --once exits 0"
is "$(q_auth value tls 'instance="ok"' tls_value)" 42 "the value is on the gateway"
is "$(q_auth value tlsjob 'instance="agent-1"' collector_agent_up)" absent \
	"--once sends nothing for itself (once_self_metrics is off)"
is "$(spool_stat dirty_groups)/$(spool_stat parked_groups)" 0/0 "stats: nothing dirty or parked"
is "$(grep -c 'level=warn' "$AGENT_ERR_FILE")" 0 "a verified, authenticated run logs no warning"

# ------------------------------------------------------------- unknown CA
export COLLECTOR_SPOOL="$T/unknown.db"
"$CS" put --job tls --grouping 'instance="unknown"' 'tls_value 7'
agent_conf "$T/unknown.conf" "$AUTH_URL" tlsjob agent-1 'username = "pusher"' \
	"password_file = \"$T/pw\"" "ca_file = \"$UNKNOWN_CA\"" once_timeout=1
run_agent -c "$T/unknown.conf" --once
is_rc 75 "unknown CA: --once exits 75"
check "the log names the certificate problem" warn_line "$AGENT_ERR_FILE" \
	'msg="gateway unreachable; will retry"' 'SSL certificate problem: unable to get local issuer certificate'
diag_agent 'certificate problem' "$AGENT_ERR_FILE"
like "$ERR" 'msg="gateway not reachable in time; everything is kept for the next run"' \
	"and says that everything is kept"
is "$(q_auth value tls 'instance="unknown"' tls_value)" absent "nothing reached the gateway"
is "$(spool_stat pending_rows)/$(spool_stat dirty_groups)/$(spool_stat parked_groups)" 0/1/0 \
	"nothing lost: the group is folded and still dirty (not parked)"
# Without ca_file the system's CAs are used, and they do not know ours.
agent_conf "$T/system.conf" "$AUTH_URL" tlsjob agent-1 'username = "pusher"' \
	"password_file = \"$T/pw\"" once_timeout=1
run_agent -c "$T/system.conf" --once
is_rc 75 "no ca_file (the system's CAs): exit 75"
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
	like "$ERR" 'SSL certificate problem: unable to get local issuer certificate' \
		"the same certificate problem is named"
else
	tap_skip "no system CA bundle (ca-certificates): libcurl's message differs"
fi
# The host name is verified too: the certificate is for IP 127.0.0.1 only.
if getent ahostsv4 localhost 2>/dev/null | grep -q '^127\.0\.0\.1 '; then
	agent_conf "$T/hostname.conf" "https://localhost:${AUTH_URL##*:}" tlsjob agent-1 \
		"${common[@]}" "password_file = \"$T/pw\"" once_timeout=1
	run_agent -c "$T/hostname.conf" --once
	is_rc 75 "a trusted certificate for another name (localhost vs IP:127.0.0.1): exit 75"
	like "$ERR" "no alternative certificate subject name matches target host name 'localhost'" \
		"the name mismatch is named"
	diag_agent 'subject name' "$AGENT_ERR_FILE"
else
	tap_skip "localhost does not resolve to 127.0.0.1 here"
	tap_skip "localhost does not resolve to 127.0.0.1 here"
fi
run_agent -c "$T/ok.conf" --once
is_rc 0 "the same spool with the right ca_file: exit 0"
is "$(q_auth value tls 'instance="unknown"' tls_value)" 7 "what was kept is delivered"
is "$(spool_stat dirty_groups)/$(spool_stat parked_groups)" 0/0 "stats: nothing dirty or parked"

# ---------------------------------------------------------- wrong password
export COLLECTOR_SPOOL="$T/auth.db"
"$CS" put --job tls --grouping 'instance="auth"' 'tls_value 5'
(umask 077; cp "$T/badpw" "$T/live-pw")
agent_conf "$T/auth.conf" "$AUTH_URL" tlsjob agent-2 "${common[@]}" "password_file = \"$T/live-pw\""
run_agent -c "$T/auth.conf" --once
is_rc 78 "wrong password: --once exits 78 (the configuration, not the data)"
like "$ERR" 'level=error msg="authentication failed at the gateway; check pushgateway.username and pushgateway.password_file"' \
	"401: authentication failed, the settings named"
like "$ERR" 'code=401 reason=Unauthorized' "with the gateway's words"
is "$(spool_stat pending_rows)/$(spool_stat dirty_groups)/$(spool_stat parked_groups)" 0/1/0 \
	"data kept: folded and dirty, no group blamed"
is "$(q_auth value tls 'instance="auth"' tls_value)" absent "nothing reached the gateway"

# A running agent: 401, then the password file is fixed and SIGHUP re-reads it.
agent_start auth-live -c "$T/auth.conf"
apid=$AGENT_PID
wait_until grep -q 'msg="authentication failed at the gateway; .* url=.*/metrics/job/tls/instance/auth code=401' "$T/auth-live.err"
is "$?" 0 "the running agent is refused too (401)"
printf '%s\n' "$PW" >"$T/live-pw"
kill -HUP "$apid"
wait_until grep -q 'msg="configuration reloaded"' "$T/auth-live.err"
is "$?" 0 "SIGHUP: the configuration is reloaded"
wait_until q_auth_is 5 tls 'instance="auth"' tls_value
is "$?" 0 "with the fixed password file the parked group is delivered: exact value 5"
# The value is at the gateway before the agent logs the answer: wait.
wait_until grep -qF 'msg="the gateway accepts the agent'"'"'s requests again"' "$T/auth-live.err"
is "$?" 0 "and the agent says the gateway accepts its requests again"
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
is "$(spool_stat dirty_groups)/$(spool_stat parked_groups)" 0/0 "stats: nothing dirty or parked"

# ---------------------------------------------------- insecure_skip_verify
export COLLECTOR_SPOOL="$T/insecure.db"
"$CS" put --job tls --grouping 'instance="insecure"' 'tls_value 11'
agent_conf "$T/insecure.conf" "$AUTH_URL" tlsjob agent-3 'username = "pusher"' \
	"password_file = \"$T/pw\"" "ca_file = \"$UNKNOWN_CA\"" 'insecure_skip_verify = true'
run_agent -c "$T/insecure.conf" --once
is_rc 0 "insecure_skip_verify = true with the unknown CA: exit 0"
is "$(q_auth value tls 'instance="insecure"' tls_value)" 11 "the value is on the gateway"
# A warn line naming the setting, before the first request.
warned_first() {
	local w p
	w=$(grep -n 'level=warn' "$1" | grep -m1 insecure_skip_verify | cut -d: -f1)
	p=$(grep -n -m1 'msg="pushed group"' "$1" | cut -d: -f1)
	[ -n "$w" ] && { [ -z "$p" ] || [ "$w" -lt "$p" ]; }
}
check "insecure_skip_verify: a warning at start, before any request" \
	warned_first "$AGENT_ERR_FILE"
diag_agent 'insecure_skip_verify' "$AGENT_ERR_FILE"
run_agent -c "$T/insecure.conf" -t
is_rc 0 "-t with insecure_skip_verify: exit 0"
check "-t warns about insecure_skip_verify too" \
	warn_line "$AGENT_ERR_FILE" insecure_skip_verify

# -------------------------------------------------------------------- mTLS
tls_gw_start "$T/web-mtls.yml" --cacert "$CA" --cert "$PKI/client.crt" --key "$PKI/client.key" ||
	tap_bail "the gateway requiring client certificates starts"
MTLS_URL=$TGW_URL
q_mtls() { tgw_query "$MTLS_URL" --cacert "$CA" --cert "$PKI/client.crt" --key "$PKI/client.key" -- "$@"; }
curl -s -o /dev/null --cacert "$CA" "$MTLS_URL/-/ready"
check "harness: without a client certificate curl gets nothing" [ $? -ne 0 ]

export COLLECTOR_SPOOL="$T/mtls.db"
"$CS" put --job tls --grouping 'instance="mtls"' 'tls_value 13'
agent_conf "$T/mtls.conf" "$MTLS_URL" tlsjob agent-4 "ca_file = \"$CA\"" \
	"cert_file = \"$PKI/client.crt\"" "key_file = \"$PKI/client.key\""
run_agent -c "$T/mtls.conf" --once
is_rc 0 "mTLS required and given (cert_file, key_file): exit 0"
is "$(q_mtls value tls 'instance="mtls"' tls_value)" 13 "the value is on the gateway"

export COLLECTOR_SPOOL="$T/nocert.db"
"$CS" put --job tls --grouping 'instance="nocert"' 'tls_value 17'
agent_conf "$T/nocert.conf" "$MTLS_URL" tlsjob agent-4 "ca_file = \"$CA\"" once_timeout=1
run_agent -c "$T/nocert.conf" --once
# The server refuses after the handshake: a transport failure, retried.
is_rc 75 "mTLS required and not given: exit 75 (retried as a transport failure)"
is "$(spool_stat dirty_groups)/$(spool_stat parked_groups)" 1/0 "nothing lost: dirty, not parked"
is "$(q_mtls value tls 'instance="nocert"' tls_value)" absent "nothing reached the gateway"
grep 'msg="gateway unreachable' "$AGENT_ERR_FILE" | grep -o 'reason="[^"]*"' | sort | uniq -c | sed 's/^/# agent: /'
# TLS 1.3: the gateway's "bad certificate" alert comes after the handshake,
# and curl often reports only what the dead socket says (getpeername,
# connection reset), which names no certificate at all.
every_failure_names_cert() {
	local lines
	lines=$(grep 'msg="gateway unreachable' "$1") || return 1
	! printf '%s\n' "$lines" | grep -qv 'certificate'
}
check "every failure line of that run names the certificate" \
	every_failure_names_cert "$AGENT_ERR_FILE"
run_agent -c "$T/mtls.conf" --once
is_rc 0 "the same spool with the client certificate: exit 0"
is "$(q_mtls value tls 'instance="nocert"' tls_value)" 17 "what was kept is delivered"

# ------------------------------------- bearer token and extra headers (stand-in)
echo_start || tap_bail "the header-recording stand-in starts"
(umask 077; printf 'tok-ABCDEF-123\n' >"$T/token")
export COLLECTOR_SPOOL="$T/bearer.db"
"$CS" put --job tls --grouping 'instance="bearer"' 'tls_value 1'
agent_conf "$T/bearer.conf" "$ECHO_URL" tlsjob agent-5 "bearer_token_file = \"$T/token\"" \
	'headers = [ "X-Team: payments", "X-Scope-OrgID: team-a" ]' once_self_metrics=true
run_agent -c "$T/bearer.conf" --once
is_rc 0 "bearer_token_file and headers: exit 0"
is "$(echo_hdr Authorization PUT | cut -d' ' -f1-3)" \
	"$(printf '%s\n' 'PUT /metrics/job/tls/instance/bearer 200' 'PUT /metrics/job/tlsjob/instance/agent-5 200')" \
	"two PUTs: the group and the agent's own metrics (once_self_metrics)"
is "$(echo_values Authorization PUT)" "Bearer tok-ABCDEF-123" \
	"every PUT carries exactly one Authorization: Bearer <token> (file's newline dropped)"
is "$(echo_values X-Team PUT)" "payments" "extra header X-Team arrives on every PUT"
is "$(echo_values X-Scope-OrgID PUT)" "team-a" "extra header X-Scope-OrgID arrives on every PUT"
"$CS" delete --job tls --grouping 'instance="bearer"'
run_agent -c "$T/bearer.conf" --once
is_rc 0 "a delete with the same settings: exit 0"
is "$(echo_hdr Authorization DELETE)" "DELETE /metrics/job/tls/instance/bearer 202 Bearer tok-ABCDEF-123" \
	"the DELETE carries the bearer token"
is "$(echo_hdr X-Team DELETE | cut -d' ' -f4-)/$(echo_hdr X-Scope-OrgID DELETE | cut -d' ' -f4-)" \
	"payments/team-a" "and the extra headers"

# --------------------------------------------- CR/LF in a header: config error
n_before=$(wc -l <"$ECHO_LOG")
export COLLECTOR_SPOOL="$T/crlf.db"
"$CS" put --job tls --grouping 'instance="crlf"' 'tls_value 2'
agent_conf "$T/crlf.conf" "$ECHO_URL" tlsjob agent-6 \
	'headers = [ "X-Team: payments\r\nX-Injected: yes" ]'
run_agent -c "$T/crlf.conf" --once
is_rc 78 "a header value with CR/LF: --once exits 78"
like "$ERR" "crlf.conf:" "the message names the file"
like "$ERR" 'pushgateway.headers[0]: the value must not contain line breaks or control characters' \
	"and says what is wrong"
diag_agent 'headers' "$AGENT_ERR_FILE"
run_agent -c "$T/crlf.conf" -t
is_rc 78 "-t: 78 too"
agent_conf "$T/lf.conf" "$ECHO_URL" tlsjob agent-6 'headers = [ "X-Ok: 1", "X-Team: a\nX-Injected: yes" ]'
run_agent -c "$T/lf.conf" --once
is_rc 78 "a header with a bare LF: 78"
like "$ERR" 'pushgateway.headers[1]: the value must not contain line breaks' "the second header is named"
agent_conf "$T/name.conf" "$ECHO_URL" tlsjob agent-6 'headers = [ "X-Injected: yes\r\nX-Team: a" ]'
run_agent -c "$T/name.conf" --once
is_rc 78 "CR/LF after a valid first line: 78"
is "$(wc -l <"$ECHO_LOG")" "$n_before" "no request was made by any of them"

tap_done
