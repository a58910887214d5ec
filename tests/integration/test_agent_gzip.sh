#!/usr/bin/env bash
# Gzip request bodies to a real Pushgateway, through a recording reverse
# proxy (flaky_proxy.py --record): what crosses the wire is gzip (magic
# 1f 8b, Content-Encoding: gzip) and smaller than the plain body; every
# value of a group of thousands of series, odd label values included,
# arrives exactly; small bodies and pushgateway.gzip = false go plain; and
# a gateway older than 1.5.0 (the proxy's --no-gzip answers a gzip body as
# Pushgateway 1.4 does) gets the group plain after one refused request, one
# warning, and plain bodies from then on.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway promtool

N=3000
gw_start || tap_bail "the gateway starts"
proxy_start rec --upstream "$GW_URL" --record "$T/rec.rec" ||
	tap_bail "the recording proxy starts"
REC_URL=$PROXY_URL
BIG=/metrics/job/gzjob/instance/big
SMALL=/metrics/job/gzjob/instance/small

# recorded FILE PATH: the recorded requests to PATH, one per line:
# "ENCODING BYTES MAGIC STATUS"
recorded() { awk -v p="$2" '$1 == "PUT" && $2 == p { print $3, $4, $5, $6 }' "$1"; }
# gw_lines JOB INSTANCE: the gateway's /metrics sample lines of the group,
# sorted (after promtool has checked the whole exposition)
gw_lines() {
	curl -s --max-time 10 "$GW_URL/metrics" >"$T/expo.txt"
	promtool_check "$T/expo.txt" || return 1
	grep -v '^#' "$T/expo.txt" | grep -F "job=\"$1\"" | grep -F "instance=\"$2\"" |
		grep -v '^push_' | LC_ALL=C sort
}
# same_lines WANT GOT NAME
same_lines() {
	if cmp -s "$1" "$2"; then tap_ok "$3"; else
		tap_fail "$3" "$(wc -l <"$2") lines, $(LC_ALL=C comm -3 "$1" "$2" | wc -l) differ"
		LC_ALL=C comm -3 "$1" "$2" | head -5 | sed 's/^/# /'
	fi
}

export COLLECTOR_SPOOL="$T/gz.db"
echo 'limits: { max_series_per_group = 0; };' >"$T/limits.conf"
agent_conf "$T/gz.conf" "$REC_URL" gzjob host
cat "$T/limits.conf" >>"$T/gz.conf"
agent_conf "$T/plain.conf" "$REC_URL" gzjob host 'gzip=false'
cat "$T/limits.conf" >>"$T/plain.conf"

# ----------------------------------------------------- gzip, the default
"$PY" "$INT_DIR/gzip_group.py" $N 1 gzjob big "$T/in1.txt" "$T/want1.txt"
"$CS" put --job gzjob --grouping 'instance="big"' <"$T/in1.txt"
"$CS" put --job gzjob --grouping 'instance="small"' 'gz_small 1'
run_agent -c "$T/gz.conf" --once
is_rc 0 "--once through the proxy: exit 0"
read -r enc gzbytes magic status <<<"$(recorded "$T/rec.rec" "$BIG")"
is "$enc $magic $status" "gzip 1f8b 200" "the big group went with Content-Encoding: gzip, gzip bytes, 200"
is "$(recorded "$T/rec.rec" "$SMALL" | awk '{ print $1, $4 }')" "- 200" "a body under 1 KiB went plain"
gw_lines gzjob big >"$T/got1.txt"
same_lines "$T/want1.txt" "$T/got1.txt" "all $N series arrived exactly, odd label values included"
is "$(grep -c 'does not take gzip' "$AGENT_ERR_FILE")" 0 "no fallback warning for a gateway that takes gzip"

# ----------------------------------------------- pushgateway.gzip = false
"$PY" "$INT_DIR/gzip_group.py" $N 2 gzjob big "$T/in2.txt" "$T/want2.txt"
"$CS" put --job gzjob --grouping 'instance="big"' <"$T/in2.txt"
: >"$T/rec.rec"
run_agent -c "$T/plain.conf" --once
is_rc 0 "--once with gzip = false: exit 0"
read -r enc plainbytes magic status <<<"$(recorded "$T/rec.rec" "$BIG")"
is "$enc $magic $status" "- 2320 200" "gzip = false: plain text on the wire ('# ')"
echo "# the group's body: $plainbytes bytes plain, $gzbytes gzip"
check "the gzip body is less than a fifth of the plain one" \
	test "$((gzbytes * 5))" -lt "$plainbytes"
gw_lines gzjob big >"$T/got2.txt"
same_lines "$T/want2.txt" "$T/got2.txt" "gzip = false: all series exact"
is "$(awk '$1 == "PUT" && $3 != "-"' "$T/rec.rec" | wc -l)" 0 "gzip = false: no request carries Content-Encoding"
PROMETHEUS_PUSHGATEWAY_GZIP=false run_agent -c "$T/gz.conf" -t
like "$OUT" "gzip = false;" "-t shows PROMETHEUS_PUSHGATEWAY_GZIP=false"

# ------------------------------------------------- a gateway before 1.5.0
proxy_start old --upstream "$GW_URL" --record "$T/old.rec" --no-gzip ||
	tap_bail "the old-gateway proxy starts"
agent_conf "$T/old.conf" "$PROXY_URL" gzjob host
cat "$T/limits.conf" >>"$T/old.conf"
"$PY" "$INT_DIR/gzip_group.py" $N 3 gzjob big "$T/in3.txt" "$T/want3.txt"
"$CS" put --job gzjob --grouping 'instance="big"' <"$T/in3.txt"
agent_start old -c "$T/old.conf"
wait_until -t 20 gw_is 3 gzjob 'instance="big"' gz_requests_total 'code="200",path="/api/v1/items/0"'
gw_lines gzjob big >"$T/got3.txt"
same_lines "$T/want3.txt" "$T/got3.txt" "old gateway: the group arrived whole, plain"
# A second push of the group, in the same process.
"$CS" put --job gzjob --grouping 'instance="big"' 'gz_requests_total{code="200",path="/api/v1/items/0"} 99'
wait_until -t 20 gw_is 99 gzjob 'instance="big"' gz_requests_total 'code="200",path="/api/v1/items/0"'
is "$(recorded "$T/old.rec" "$BIG" | awk '{ print $1, $4 }' | tr '\n' ,)" "gzip 400,- 200,- 200," \
	"old gateway: gzip refused, the same group again plain at once, the next push plain"
WARN='msg="the gateway does not take gzip bodies (Pushgateway < 1.5.0); sending plain bodies; upgrade the gateway or set pushgateway.gzip = false" url='"$PROXY_URL"'$'
# gz_puts: the statuses of the gzip PUTs so far; warnings: the warning lines
gz_puts() { awk '$1 == "PUT" && $3 == "gzip" { printf "%s,", $6 }' "$T/old.rec"; }
warnings() { grep -c "$WARN" "$T/old.err"; }
is "$(gz_puts)" "400," "old gateway: exactly one gzip request, answered 400"
is "$(warnings)" 1 "old gateway: exactly one warning, naming the URL"

# A reload forgets what the agent learnt: gzip is tried once more (the
# gateway may have been upgraded), and is refused again.
kill -HUP "$AGENT_PID"
wait_until grep -q 'msg="configuration reloaded"' "$T/old.err"
"$CS" put --job gzjob --grouping 'instance="big"' 'gz_requests_total{code="200",path="/api/v1/items/0"} 100'
wait_until -t 20 gw_is 100 gzjob 'instance="big"' gz_requests_total 'code="200",path="/api/v1/items/0"'
wait_until test "$(warnings)" = 2
is "$(gz_puts)/$(warnings)" "400,400,/2" "after a reload: gzip tried once more, refused, one more warning"
# With gzip = false on the next reload, no gzip request at all.
sed -i 's/^};$/  gzip = false;\n};/' "$T/old.conf"
kill -HUP "$AGENT_PID"
wait_until test "$(grep -c 'msg="configuration reloaded"' "$T/old.err")" = 2
"$CS" put --job gzjob --grouping 'instance="big"' 'gz_requests_total{code="200",path="/api/v1/items/0"} 101'
wait_until -t 20 gw_is 101 gzjob 'instance="big"' gz_requests_total 'code="200",path="/api/v1/items/0"'
stop_pid "$AGENT_PID" 10
is "$STOP_RC" 0 "old gateway: the agent stops cleanly"
is "$(gz_puts)/$(warnings)" "400,400,/2" "after a reload with gzip = false: plain only, no warning"
is "$(awk '$1 == "PUT" && $3 != "gzip" && $6 != 200' "$T/old.rec" | wc -l)" 0 \
	"old gateway: every plain PUT was delivered"
is "$(grep -c 'parked' "$T/old.err")" 0 "old gateway: nothing parked"
# The agent's own metrics go after each reload: the last of them carries
# the counters of every request before it.
is "$(gw_value gzjob 'instance="host"' collector_agent_pushes_total 'result="rejected"')" 2 \
	"old gateway: each refused gzip request counts as a request (rejected)"
gw_lines gzjob big | grep -F 'path="/api/v1/items/0"' >"$T/got4.txt"
is "$(cat "$T/got4.txt")" 'gz_requests_total{code="200",instance="big",job="gzjob",path="/api/v1/items/0"} 101' \
	"old gateway: the last value arrived"

gw_stop
tap_done
