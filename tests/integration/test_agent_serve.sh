#!/usr/bin/env bash
# Pull mode beyond the basics (test_agent_pull.sh), with a real Pushgateway
# beside it: the Pushgateway's label rule (a grouping label replaces a
# series label), duplicates and type clashes left out, gzip, methods and
# paths, a crowd of hostile connections that neither blocks the loop nor
# grows its memory, moving the listener with SIGHUP, and a port in use.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway promtool

gw_start || tap_bail "gateway starts"
agent_conf "$T/a.conf" "$GW_URL" svc host1
export COLLECTOR_SPOOL="$T/serve.db"
"$CS" put --job web --grouping 'instance="h1"' 'hits_total{instance="elsewhere",path="/"} 7'
"$CS" put --job dup --grouping 'instance="h2"' 'd{instance="a"} 1' 'd{instance="b"} 2'
"$CS" put --job first --grouping '' '# TYPE shared gauge' 'shared 1'
"$CS" put --job second --grouping '' '# TYPE shared counter' 'shared 2'

lport=$(free_port)
# The listener comes from the file, so that a reload can move it.
sed -i "s/^listen = \"\";/listen = \"127.0.0.1:$lport\";/" "$T/a.conf"
agent_start serve -c "$T/a.conf"
apid=$AGENT_PID
U="http://127.0.0.1:$lport"
scrape() { curl -s --max-time 5 "$U/metrics" -o "$T/m.prom"; }
has_web() { scrape && grep -q '^hits_total' "$T/m.prom"; }
if ! wait_until has_web; then
	tap_fail "/metrics serves the spool" "$(cat "$T/serve.err")"
	tap_done; exit 1
fi
check "/metrics passes promtool" promtool_check "$T/m.prom"
check "/metrics passes the body checks" body_check "$T/m.prom"
is "$(grep '^hits_total' "$T/m.prom")" 'hits_total{job="web",instance="h1",path="/"} 7' \
	"a grouping label replaces the series label of that name (as the gateway does)"
is "$(grep -c '^d{' "$T/m.prom")/$(grep '^d{' "$T/m.prom")" '1/d{job="dup",instance="h2"} 1' \
	"two series equal after that: the first is kept, once"
is "$(grep '^shared' "$T/m.prom")" 'shared{job="first"} 1' \
	"a family typed differently in two groups: the first group's type and series"
like "$(cat "$T/serve.err")" 'msg="series left out of /metrics: their family clashes with an earlier one" series=1' \
	"the type clash is logged"
# The gateway holds the web group as /metrics shows it: the same rule.
wait_until gw_is 7 web 'instance="h1"' hits_total 'path="/"'
is "$(gw_value web 'instance="h1"' hits_total 'path="/"')" 7 "the gateway shows the same series"

# gzip: the same text, compressed when asked.
curl -s --max-time 5 -H 'Accept-Encoding: gzip' -D "$T/gz.h" "$U/metrics" -o "$T/m.gz"
like "$(tr -d '\r' <"$T/gz.h")" 'Content-Encoding: gzip' "gzip when the client accepts it"
gunzip -c "$T/m.gz" | grep -v '^collector_agent_\|^# ' >"$T/m1"
curl -s --max-time 5 "$U/metrics" | grep -v '^collector_agent_\|^# ' >"$T/m2"
check "the gzip body is the plain body" cmp -s "$T/m1" "$T/m2"
curl -s --max-time 5 -H 'Accept-Encoding: gzip;q=0' -D "$T/nogz.h" "$U/metrics" -o /dev/null
check "gzip;q=0: not compressed" not grep -qi 'Content-Encoding' "$T/nogz.h"
like "$(tr -d '\r' <"$T/nogz.h")" 'Content-Type: text/plain; version=0.0.4; charset=utf-8' "the exposition content type"

is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -I "$U/metrics")" 200 "HEAD /metrics: 200"
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST -d x "$U/metrics")" 405 "POST: 405"
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$U/nothing")" 404 "an unknown path: 404"
is "$(curl -s --max-time 5 "$U/-/healthy")/$(curl -s --max-time 5 "$U/-/ready")" "OK/OK" "healthy and ready"

# Forty hostile connections from another address: the loop goes on pushing,
# the listener still answers this address, memory stays flat.
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$apid/status"; }
rss0=$(rss)
"$PY" "$INT_DIR/hostile_clients.py" --port "$lport" --count 40 --hold 4 \
	--ready-file "$T/hostile.ready" >"$T/hostile.out" 2>&1 &
hpid=$!
track "$hpid"
wait_until test -s "$T/hostile.ready"
"$CS" put --job during --grouping '' 'during_attack 1'
check "under attack: a new row still reaches the gateway" wait_until gw_is 1 during '' during_attack
is "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$U/metrics")" 200 "under attack: /metrics answers another client"
rss1=$(rss)
wait_exit "$hpid" 20
is "$(cat "$T/hostile.out")" 4 "at most 4 connections from one address"
grow=$(( rss1 - rss0 ))
check "under attack: memory grew by less than 4 MiB (${grow} KiB)" test "$grow" -lt 4096

# SIGHUP moves the listener.
lport2=$(free_port)
sed -i "s/^listen = .*/listen = \"127.0.0.1:$lport2\";/" "$T/a.conf"
kill -HUP "$apid"
check "SIGHUP: the listener moves to the new address" \
	wait_until curl -sf --max-time 1 "http://127.0.0.1:$lport2/-/ready" -o /dev/null
check "SIGHUP: the old address is closed" not curl -s --max-time 1 "$U/-/healthy" -o /dev/null

# A reload onto a port someone else holds: the listener stays where it was.
sed -i "s/^listen = .*/listen = \"127.0.0.1:$GW_PORT\";/" "$T/a.conf"
kill -HUP "$apid"
check "SIGHUP onto a taken port: the reason is logged" \
	wait_until grep -q "cannot serve /metrics\" listen=127.0.0.1:$GW_PORT reason=\"cannot listen on 127.0.0.1:$GW_PORT: Address already in use" "$T/serve.err"
is "$(curl -s --max-time 5 "http://127.0.0.1:$lport2/-/healthy")" OK "SIGHUP onto a taken port: the old listener still answers"

# A second agent on the same port: exit 75 with the reason.
run_agent --spool "$T/other.db" --gateway "$GW_URL" --listen "127.0.0.1:$lport2"
is_rc 75 "a port in use: exit 75"
like "$ERR" "cannot listen on 127.0.0.1:$lport2: Address already in use" "a port in use: the message names it"

stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
gw_stop
tap_done
