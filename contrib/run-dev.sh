#!/bin/sh
# 'make run': runs the agent in the foreground with contrib/dev.conf. When
# nothing answers on 127.0.0.1:9091 and Debian's prometheus-pushgateway is
# installed, starts one there for the session (memory only) and stops it
# when the agent exits.
#   contrib/run-dev.sh BUILD_DIR
set -u
B=${1:-build}
cd "$(dirname "$0")/.." || exit 1
mkdir -p var
gw_pid=
cleanup() {
	if [ -n "$gw_pid" ]; then
		kill "$gw_pid" 2>/dev/null
		wait "$gw_pid" 2>/dev/null
		echo "run: stopped the Pushgateway (pid $gw_pid)"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if curl -sf -o /dev/null --max-time 2 http://127.0.0.1:9091/-/ready; then
	echo "run: using the Pushgateway already on http://127.0.0.1:9091"
elif [ -x /usr/bin/prometheus-pushgateway ]; then
	# Its own session, so that Ctrl-C reaches only the agent, whose last
	# push still finds the gateway; the EXIT trap stops it afterwards.
	setsid /usr/bin/prometheus-pushgateway --web.listen-address=127.0.0.1:9091 \
	    --persistence.file= >var/pushgateway.log 2>&1 &
	gw_pid=$!
	i=0
	until curl -sf -o /dev/null --max-time 1 http://127.0.0.1:9091/-/ready; do
		i=$((i + 1))
		if [ $i -ge 100 ] || ! kill -0 "$gw_pid" 2>/dev/null; then
			echo "run: the Pushgateway did not start; see var/pushgateway.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "run: started a Pushgateway on http://127.0.0.1:9091 (pid $gw_pid, log var/pushgateway.log)"
else
	echo "run: nothing answers on 127.0.0.1:9091 and prometheus-pushgateway is not installed;" \
	    "the agent will keep the data and retry" >&2
fi
cat <<MSG
run: in another terminal, write a metric and look at the gateway:
run:   $B/collector-spool --spool var/spool.db put --job demo \\
run:       \$'# TYPE demo_temperature_celsius gauge\\ndemo_temperature_celsius 21.5'
run:   curl -s http://127.0.0.1:9091/metrics | grep demo_
run: Ctrl-C stops the agent (after one last push).
MSG
"$B/collector-agent" -c contrib/dev.conf
