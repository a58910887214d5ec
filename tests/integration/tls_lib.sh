# shellcheck shell=bash
# Helpers for the TLS, auth, secrets and proxy tests (sourced after lib.sh):
# a throw-away PKI made with openssl, bcrypt hashes for the Pushgateway's
# --web.config.file, a real Pushgateway with TLS and auth, a reader for it,
# the header-recording stand-in (tls_echo_headers.py), the forward proxy
# (proxy_http.py).
#
# Every process is started as a job of the test's shell and tracked, so
# lib.sh's EXIT trap stops it by PID; every Python helper also ends itself
# after --max-seconds.

# The proxy variables of whoever runs the tests must not reach the agent or
# curl: the tests set them themselves where they mean to.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY \
	no_proxy NO_PROXY

# tls_need: skips the whole file unless openssl and Python's crypt module
# (bcrypt via the C library) are here.
tls_need() {
	command -v openssl >/dev/null ||
		{ echo "1..0 # SKIP openssl not installed"; exit 0; }
	"$PY" -W ignore -c 'import crypt' 2>/dev/null ||
		{ echo "1..0 # SKIP python3 has no crypt module"; exit 0; }
}

# tls_pki: the test PKI in $T/pki (tls_make_pki), or the file ends with a
# failure. Sets PKI, CA (its ca.crt) and UNKNOWN_CA.
tls_pki() {
	PKI="$T/pki"
	tls_make_pki "$PKI" || tap_bail "openssl makes the test PKI"
	CA="$PKI/ca.crt"
	UNKNOWN_CA="$PKI/unknown-ca.crt"
}

# tls_make_pki DIR: a CA (ca.crt), a server certificate for 127.0.0.1 with
# subjectAltName IP:127.0.0.1 (server.crt, server.key), a client
# certificate from the same CA (client.crt, client.key), and a second CA
# that signed nothing the servers use (unknown-ca.crt). P-256 keys, two
# days. Keys are 0600 (as a user would keep them; the agent warns about
# key files others can read).
tls_make_pki() {
	local d=$1
	mkdir -p "$d" || return 1
	cat >"$d/ext.cnf" <<'EOF'
[server]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
[client]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
EOF
	(
		cd "$d" || exit 1
		umask 077
		key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
		key ca.key && key unknown-ca.key && key server.key && key client.key &&
		openssl req -x509 -new -key ca.key -out ca.crt -days 2 \
			-subj "/CN=collector-agent test CA" &&
		openssl req -x509 -new -key unknown-ca.key -out unknown-ca.crt -days 2 \
			-subj "/CN=an unknown CA" &&
		openssl req -new -key server.key -out server.csr -subj "/CN=127.0.0.1" &&
		openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
			-CAcreateserial -out server.crt -days 2 -extfile ext.cnf -extensions server &&
		openssl req -new -key client.key -out client.csr -subj "/CN=collector-agent" &&
		openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key \
			-CAcreateserial -out client.crt -days 2 -extfile ext.cnf -extensions client &&
		chmod 0644 ca.crt unknown-ca.crt server.crt client.crt
	) >"$d/openssl.log" 2>&1 || { diag_file "$d/openssl.log"; return 1; }
}

# tls_bcrypt PASSWORD: a bcrypt hash for basic_auth_users (cost 4: the
# gateway checks it on every request, and the tests make many).
tls_bcrypt() {
	"$PY" -W ignore -c 'import crypt, sys
print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' "$1"
}

# tls_gw_start WEBCONFIG CURL-ARG...: a real Pushgateway (memory only) with
# --web.config.file on a free 127.0.0.1 port; waits until GET /-/ready with
# curl and the given arguments (--cacert, -u, --cert ...) answers 2xx.
# Sets TGW_URL, TGW_PID, TGW_LOG. Returns 1 when it does not come up in 10 s.
TGW_N=0
tls_gw_start() {
	local web=$1 port
	shift
	TGW_N=$((TGW_N + 1))
	port=$(free_port)
	TGW_URL="https://127.0.0.1:$port"
	TGW_LOG="$T/tls-gateway-$TGW_N.log"
	"$GATEWAY_BIN" --web.listen-address="127.0.0.1:$port" --persistence.file= \
		--web.config.file="$web" >>"$TGW_LOG" 2>&1 &
	TGW_PID=$!
	track "$TGW_PID"
	starts "$TGW_PID" ready "$TGW_URL" "$@" && return 0
	echo "# the TLS gateway did not start on port $port"
	diag_file "$TGW_LOG"
	return 1
}

# tgw_query URL READER-ARG... -- GWQUERY-ARG...: tls_gwquery.py, e.g.
#   tgw_query "$URL" --cacert ca.crt --user u --password-file f -- value job 'instance="a"' m
tgw_query() {
	local url=$1 opts=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	"$PY" "$INT_DIR/tls_gwquery.py" "${opts[@]}" "$url" "$@"
}

# echo_start [tls_echo_headers.py options]: the header-recording stand-in
# on a free port (HTTPS with --tls CERT KEY). Sets ECHO_URL (http:// or
# https://), ECHO_PID, ECHO_LOG.
ECHO_N=0
echo_start() {
	local scheme=http a
	for a in "$@"; do [ "$a" = --tls ] && scheme=https; done
	ECHO_N=$((ECHO_N + 1))
	stand_in "echo-$ECHO_N" "$INT_DIR/tls_echo_headers.py" "$scheme" ready --max-seconds 90 "$@" || return 1
	ECHO_PID=$SI_PID ECHO_URL=$SI_URL ECHO_LOG=$SI_LOG
}
# echo_hdr HEADER [METHOD] [LOG]: "METHOD PATH STATUS VALUE" per request
echo_hdr() { "$PY" "$INT_DIR/tls_echo_headers.py" --read "${3:-$ECHO_LOG}" "$1" ${2:+"$2"}; }
# echo_values HEADER [METHOD] [LOG]: the distinct values of HEADER over the
# requests, one per line ("-" for a request without it)
echo_values() { echo_hdr "$@" | cut -d' ' -f4- | sort -u; }

# proxy_start [proxy_http.py options]: the forward proxy on a free port.
# Sets PROXY_URL (http://127.0.0.1:PORT), PROXY_PID, PROXY_LOG.
PROXY_N=0
proxy_start() {
	PROXY_N=$((PROXY_N + 1))
	stand_in "proxy-$PROXY_N" "$INT_DIR/proxy_http.py" http - --max-seconds 90 "$@" || return 1
	PROXY_PID=$SI_PID PROXY_URL=$SI_URL PROXY_LOG=$SI_LOG
}


# warn_line FILE WORD...: a level=warn line of FILE containing every WORD
warn_line() {
	local f=$1 w
	shift
	local lines
	lines=$(grep 'level=warn' "$f") || return 1
	for w in "$@"; do
		lines=$(printf '%s\n' "$lines" | grep -F -- "$w") || return 1
	done
	return 0
}

# stats_json EXPR: a Python expression over `collector-spool stats --json`
# (as s), printed; the spool is COLLECTOR_SPOOL
stats_json() {
	"$CS" stats --json | "$PY" -c 'import json, sys
s = json.load(sys.stdin)
print(eval(sys.argv[1]))' "$1"
}

# echo_n [LOG]: PUTs the stand-in logged (the agent's GET of the gateway's
# start time left out)
echo_n() { echo_hdr Host PUT "${1:-$ECHO_LOG}" | wc -l; }

# diag_agent PATTERN FILE: the first line of FILE with PATTERN, as a TAP
# comment quoting what the agent said (nothing when there is none)
diag_agent() {
	local l
	l=$(grep -m1 -F -- "$1" "$2") && printf '# agent: %s\n' "$l"
	return 0
}
