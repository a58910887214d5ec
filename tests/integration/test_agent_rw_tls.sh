#!/usr/bin/env bash
# Remote write with the gateway's security settings, against a real
# VictoriaMetrics 1.79 serving HTTPS with basic auth (-tls, -httpAuth.*):
# the right CA and password deliver exact values; a wrong password is a 401
# (dropped, as the protocol says: exit 65); an unknown CA is a transport
# failure (exit 75, curl's reason). A header-recording stand-in over HTTPS
# shows the request itself: one Authorization: Bearer, the extra headers
# (X-Scope-OrgID for a Mimir tenant), the remote-write headers, a snappy
# body. No secret reaches the agent's log, even at debug level.
set -u
. "$(dirname "$0")/lib.sh"
. "$INT_DIR/tls_lib.sh"
need agent
tls_need
VM=${VM:-/usr/bin/victoria-metrics}
[ -x "$VM" ] || { echo "1..0 # SKIP $VM not installed"; exit 0; }

tls_pki
P=$PKI
PASS='vm-Pa55-XyZ-0042'
(umask 077; printf '%s\n' "$PASS" >"$T/pass"; printf 'wrong-password\n' >"$T/badpass")

vport=$(free_port)
"$VM" -httpListenAddr="127.0.0.1:$vport" -storageDataPath="$T/vm" \
	-retentionPeriod=1d -search.latencyOffset=0s \
	-tls -tlsCertFile="$P/server.crt" -tlsKeyFile="$P/server.key" \
	-httpAuth.username=writer -httpAuth.password="$PASS" >"$T/vm.log" 2>&1 &
vpid=$!
track "$vpid"
VMURL="https://127.0.0.1:$vport"
vcurl() { curl -s --max-time 5 --cacert "$P/ca.crt" -u "writer:$PASS" "$@"; }
if ! wait_until vcurl -f -o /dev/null "$VMURL/health"; then
	tap_bail "VictoriaMetrics starts with TLS and basic auth" "$(tail -n 30 "$T/vm.log")"
fi
vm_is() { [ "$(vm_last "$VMURL" "$1" --cacert "$P/ca.crt" -u "writer:$PASS")" = "$2" ]; }

# rw_conf FILE URL SETTING...: remote write only, with the settings given
rw_conf() {
	local f=$1 url=$2
	shift 2
	agent_conf "$f" "http://127.0.0.1:1" rj ri enabled=false
	{
		echo "remote_write: {"
		echo "  url = \"$url\";"
		printf '  %s;\n' "$@"
		echo "};"
	} >>"$f"
}

export COLLECTOR_SPOOL="$T/rw.db"
"$CS" put --job secure --grouping 'instance="a"' 'secure_value 41.5'

rw_conf "$T/ok.conf" "$VMURL/api/v1/write" "ca_file = \"$P/ca.crt\"" \
	'username = "writer"' "password_file = \"$T/pass\""
run_agent -c "$T/ok.conf" --once --log-level debug
is_rc 0 "HTTPS with the test CA and basic auth: exit 0"
check "the value arrives exactly" wait_until vm_is '{job="secure"}' 'secure_value{instance="a",job="secure"} 41.5'
check "the password is not in the log" not grep -qF "$PASS" "$AGENT_ERR_FILE"

rw_conf "$T/bad.conf" "$VMURL/api/v1/write" "ca_file = \"$P/ca.crt\"" \
	'username = "writer"' "password_file = \"$T/badpass\""
run_agent -c "$T/bad.conf" --once
is_rc 65 "a wrong password: exit 65 (the receiver refused; dropped)"
like "$ERR" 'msg="remote write receiver refused a request; its samples are dropped, as the protocol says"' "the refusal is logged"
like "$ERR" 'code=401' "with the status"
check "the wrong password is not in the log" not grep -qF "wrong-password" "$AGENT_ERR_FILE"

rw_conf "$T/ca.conf" "$VMURL/api/v1/write" "ca_file = \"$P/unknown-ca.crt\"" \
	'username = "writer"' "password_file = \"$T/pass\"" 'timeout = 1'
run_agent -c "$T/ca.conf" --once
is_rc 75 "an unknown CA: exit 75 (retry later)"
like "$ERR" 'SSL certificate problem' "curl's reason is in the log"

# ------------------------------------------------ what the request carries
echo_start --tls "$P/server.crt" "$P/server.key" ||
	tap_bail "the header-recording stand-in starts"
TOKEN='tok-RW-777-abcdef'
(umask 077; printf '%s\n' "$TOKEN" >"$T/token")
rw_conf "$T/hdr.conf" "$ECHO_URL/metrics/job/rw" "ca_file = \"$P/ca.crt\"" \
	"bearer_token_file = \"$T/token\"" 'max_samples_per_send = 30' \
	'headers = [ "X-Scope-OrgID: team-a", "X-Team: payments" ]'
run_agent -c "$T/hdr.conf" --once --log-level debug
is_rc 0 "bearer token and headers over HTTPS: exit 0"
# 1 series and 44 of the agent's own, 30 a request: two requests.
is "$(echo_hdr Authorization POST)" "POST /metrics/job/rw 200 Bearer $TOKEN
POST /metrics/job/rw 200 Bearer $TOKEN" "two POSTs, each with exactly one Authorization: Bearer <token>"
is "$(echo_hdr X-Scope-OrgID POST | cut -d' ' -f4- | sort -u)" "team-a" "X-Scope-OrgID on each"
is "$(echo_hdr X-Team POST | cut -d' ' -f4- | sort -u)" "payments" "X-Team on each"
is "$(echo_hdr Content-Encoding POST | cut -d' ' -f4- | sort -u)" "snappy" "Content-Encoding: snappy"
is "$(echo_hdr Content-Type POST | cut -d' ' -f4- | sort -u)" "application/x-protobuf" "Content-Type: application/x-protobuf"
is "$(echo_hdr X-Prometheus-Remote-Write-Version POST | cut -d' ' -f4- | sort -u)" "0.1.0" \
	"X-Prometheus-Remote-Write-Version: 0.1.0"
like "$(echo_hdr User-Agent POST | cut -d' ' -f4- | sort -u)" "collector-agent/" "User-Agent names the agent"
check "the token is not in the log" not grep -qF "$TOKEN" "$AGENT_ERR_FILE"
stop_pid "$vpid" 10
tap_done
