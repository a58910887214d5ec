#!/usr/bin/env bash
# Signals at any moment: a SIGHUP or SIGTERM while the agent starts is
# handled, not fatal; during a long push round (300 changed groups at a
# gateway that takes 0.5 s a PUT) SIGTERM ends the agent at the next request
# (then its last push, at most 5 s), SIGHUP is applied at the next request,
# the inbox keeps being folded and the heartbeat keeps its schedule.
# The agent is not dumpable: no core file on SIGABRT.
. "$(dirname "$0")/lib.sh"
need agent gateway

gw_start || tap_bail "the gateway starts"
export COLLECTOR_SPOOL="$T/spool.db"
"$CS" put --job seed --grouping '' 'seed_gauge 1'

# ------------------------------------------- SIGHUP while settings load
# The env file is a FIFO: the agent waits in its first read, before any
# of its own set-up, until the test writes the settings.
agent_conf "$T/a.conf" "$GW_URL" sigj sigi
mkfifo "$T/env.fifo"
chmod 0711 "$T"
# catches_hup PID: the process is the agent (not the shell forked to exec
# it, which has a SIGHUP handler of its own) and has a handler for SIGHUP
# (bit 0 of SigCgt)
catches_hup() {
	local v
	[ "$(cat "/proc/$1/comm" 2>/dev/null)" = collector-agent ] || return 1
	v=$(awk '/^SigCgt:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
	[ -n "$v" ] && (( 0x$v & 1 ))
}
# feed_env KEY=VALUE: answers every read of the FIFO (the first, and each
# reload's) with that line, for 60 s at most.
FEEDER=
feed_env() {
	"$PY" -c '
import errno, os, sys, time
path, text = sys.argv[1], sys.argv[2].encode() + b"\n"
end = time.monotonic() + 60
while time.monotonic() < end:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        if e.errno != errno.ENXIO:
            raise
        time.sleep(0.001)  # no reader yet
        continue
    try:
        os.write(fd, text)
    except BrokenPipeError:
        pass  # the reader had its settings already
    os.close(fd)
    time.sleep(0.001)' "$T/env.fifo" "$1" &
	FEEDER=$!
	track "$FEEDER"
}
feed_stop() { stop_pid "$FEEDER" 2; }
agent_start fifo -c "$T/a.conf" --env-file "$T/env.fifo"
apid=$AGENT_PID
check "the agent handles SIGHUP before it reads its settings" wait_until catches_hup "$apid"
kill -HUP "$apid"
kill -HUP "$apid"
sleep 0.3
check "two SIGHUPs while the settings load: the agent lives" kill -0 "$apid"
feed_env PROMETHEUS_JOB_NAME=fifoj
check "then it starts with the settings it read" \
	wait_until gw_is 1 fifoj 'instance="sigi"' collector_agent_up
check "and reloads for the SIGHUPs that waited" \
	wait_until grep -q 'msg="configuration reloaded"' "$T/fifo.err"
stop_pid "$apid" 10
is "$STOP_RC/$STOP_KILLED" "0/0" "SIGTERM: exit 0"
feed_stop

# A SIGTERM that comes while the settings load stops the agent cleanly.
agent_start fifo2 -c "$T/a.conf" --env-file "$T/env.fifo"
apid=$AGENT_PID
wait_until catches_hup "$apid"
kill -TERM "$apid"
sleep 0.2
check "SIGTERM while the settings load: it waits for them" kill -0 "$apid"
feed_env PROMETHEUS_JOB_NAME=fifoj2
STOP_RC=running
wait_exit "$apid" 15
is "$STOP_RC" 0 "then it stops with status 0"
feed_stop

# ---------------------------------------------- a storm of SIGHUPs
# One every millisecond for 1.5 s, from before the settings are read
# through the first fold and push. (From the first line of main(): before
# it, while the dynamic loader runs, no program can have handlers.)
agent_start storm -c "$T/a.conf" --env-file "$T/env.fifo"
apid=$AGENT_PID
wait_until catches_hup "$apid"
"$PY" -c '
import os, signal, sys, time
pid = int(sys.argv[1])
for _ in range(1500):
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        break
    time.sleep(0.001)' "$apid" &
storm=$!
sleep 0.2
feed_env PROMETHEUS_JOB_NAME=stormj
wait "$storm"
check "1,500 SIGHUPs during start-up: the agent lives" kill -0 "$apid"
"$CS" put --job stormrow --grouping '' 'storm_gauge 42'
check "and delivers what is written after them" \
	wait_until gw_is 42 stormrow '' storm_gauge
stop_pid "$apid" 10
is "$STOP_RC/$STOP_KILLED" "0/0" "SIGTERM after the storm: exit 0"
feed_stop

# ------------------------------------------------ a long push round
# 300 changed groups; the proxy holds every PUT 0.5 s: a round of 150 s.
proxy_start slow --upstream "$GW_URL" --delay-method PUT --delay 0.5 ||
	tap_bail "the proxy starts"
export COLLECTOR_SPOOL="$T/long.db"
"$CS" put --job first --grouping '' 'first_gauge 1'
"$PY" -c '
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
with db:
    db.executemany("INSERT INTO inbox(job, grouping, op, body) VALUES (?, ?, ?, ?)",
                   [("many", "n=\"%d\"" % i, "set", "many_gauge %d\n" % i) for i in range(300)])
db.close()' "$COLLECTOR_SPOOL"
agent_conf "$T/long.conf" "$PROXY_URL" longj longi heartbeat=1
agent_start long -c "$T/long.conf"
apid=$AGENT_PID
puts() { grep -c ' PUT /metrics/job/many/' "$PROXY_LOG"; }
more_puts() { [ "$(puts)" -ge "$1" ]; }
check "the long round begins" wait_until -t 20 more_puts 3

# A row written now is folded between two PUTs, not after the round.
"$CS" put --job late --grouping '' 'late_gauge 5'
pending_zero() { [ "$(spool_stat pending_rows)" = 0 ]; }
check "a row written during the round is folded during it" \
	wait_until -t 10 pending_zero

# The heartbeat (the default group) goes on its schedule, between PUTs.
hb() { grep -c ' PUT /metrics/job/longj/instance/longi ' "$PROXY_LOG"; }
hb0=$(hb)
more_hb() { [ "$(hb)" -ge $((hb0 + 2)) ]; }
check "the heartbeat goes during the round, on its schedule (1 s here)" \
	wait_until -t 15 more_hb

# SIGHUP is applied at the next request, not after the round.
kill -HUP "$apid"
check "SIGHUP during the round: reloaded at the next request" \
	wait_until -t 10 grep -q 'msg="configuration reloaded"' "$T/long.err"
before=$(puts)
more_than_before() { [ "$(puts)" -gt $((before + 1)) ]; }
check "and the round goes on after the reload" wait_until -t 10 more_than_before

# SIGTERM: the round ends at the next request; the last push has 5 s.
# The bound: the PUT in flight (timeout 2 s), the last push (5 s), slack.
t0=$(now_us)
stop_pid "$apid" 12
secs=$(secs_since "$t0")
is "$STOP_RC/$STOP_KILLED" "0/0" "SIGTERM during the round: exit 0 within 12 s, not killed"
echo "# SIGTERM to exit: $secs s (bound: a PUT in flight, then the 5 s last push)"
check "the agent said it was stopping with data not yet delivered" \
	grep -q 'msg="stopping with data not yet delivered' "$T/long.err"
left=$(spool_stat dirty_groups)
check "groups not yet pushed stay dirty in the spool (kept): $left" less_than 0 "$left"

# ------------------------------------------------------ no core files
if [ "$(cat /proc/sys/kernel/core_pattern)" != core ] || [ "$(id -u)" != 0 ]; then
	tap_skip "core files: core_pattern is not 'core' or not root"
	tap_skip "core files: control"
	tap_skip "/proc ownership"
else
	mkdir -m 0777 "$T/core"
	export COLLECTOR_SPOOL="$T/core/spool.db"
	"$CS" put --job cj --grouping '' 'c_gauge 1'
	# The put left its -wal and -shm beside it, with the file's mode then.
	chmod 0666 "$T/core/spool.db" "$T/core/spool.db-wal" "$T/core/spool.db-shm"
	agent_conf "$T/core/a.conf" "$GW_URL" corej corei
	chmod 0644 "$T/core/a.conf"
	( cd "$T/core" && ulimit -c unlimited &&
		exec setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$OLDPWD/$AGENT" -c a.conf >"$T/core.err" 2>&1 ) &
	apid=$!
	track "$apid"
	( cd "$T/core" && ulimit -c unlimited &&
		exec setpriv --reuid=65534 --regid=65534 --clear-groups sleep 30 ) &
	spid=$!
	track "$spid"
	check "the agent runs as nobody" wait_until gw_is 1 corej 'instance="corei"' collector_agent_up
	is "$(stat -c %U "/proc/$apid/status")/$(stat -c %U "/proc/$spid/status")" "root/nobody" \
		"/proc/PID of the agent is not its user's (not dumpable); a plain process's is"
	stop_pid "$apid" 5 ABRT
	stop_pid "$spid" 5 ABRT
	is "$(ls "$T/core" | grep -c '^core')" 1 "SIGABRT: no core file from the agent, one from the control"
fi

tap_done
