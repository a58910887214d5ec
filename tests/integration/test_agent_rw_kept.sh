#!/usr/bin/env bash
# Staleness markers across runs, against a real VictoriaMetrics: the set of
# series remote write sent is kept in the spool, so that
#   - a restart with nothing gone sends no marker;
#   - a group deleted while the agent was stopped gets its marker after a
#     restart, at the first round;
#   - `--once` run twice, the group deleted in between: the second run
#     sends the marker, and a third run, nothing gone, sends none;
#   - the set belongs to one receiver URL: a run to another URL starts
#     from an empty set and replaces it;
#   - saves that fail (a trigger refuses them) are logged once, do not hold
#     back a marker, and are retried until one goes through; --once exits
#     74 when it could not save.
# The gateway is disabled throughout: a deleted group is dropped locally.
set -u
. "$(dirname "$0")/lib.sh"
need agent
[ -x "$VM" ] || { echo "1..0 # SKIP $VM not installed"; exit 0; }
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP sqlite3 not installed"; exit 0; }

vm_start || tap_bail "VictoriaMetrics starts"
vport=$VM_PORT vpid=$VM_PID VMURL=$VM_URL
vm_is() { [ "$(vm_last "$VMURL" "$1")" = "$2" ]; }

# --------------------------------------------------- the daemon, restarted
export COLLECTOR_SPOOL="$T/d.db"
"$CS" put --job dj --grouping 'instance="di"' 'keep_gauge 1'
"$CS" put --job del --grouping '' 'del_gauge 3'
"$CS" put --job stay --grouping '' 'stay_gauge 5'
agent_conf "$T/d.conf" "http://127.0.0.1:1" dj di enabled=false
echo "remote_write: { url = \"$VMURL/api/v1/write\"; };" >>"$T/d.conf"
M='{__name__=~"(keep|del|stay)_gauge"}'

# live VALUE: the three series, keep_gauge at VALUE
live() {
	printf '%s\n' "del_gauge{job=\"del\"} 3.0" "keep_gauge{instance=\"di\",job=\"dj\"} $1.0" \
		"stay_gauge{job=\"stay\"} 5.0"
}
# round_done VALUE: sets keep_gauge to VALUE and waits until it arrives, so
# that every round begun before has ended (rounds go one after another)
round_done() {
	"$CS" put --job dj --grouping 'instance="di"' "keep_gauge $1"
	wait_until vm_is 'keep_gauge' "keep_gauge{instance=\"di\",job=\"dj\"} $1.0"
}

agent_start d1 -c "$T/d.conf"
apid=$AGENT_PID
check "the first run sends every series" wait_until vm_is "$M" "$(live 1)"
check "... and a round after that" round_done 2
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
is "$(markers "$T/d1.err")" 0 "no marker: nothing went away"
is "$(sqlite3 "$T/d.db" 'PRAGMA user_version')" 1 "the spool's schema version stays 1"
is "$(sqlite3 "$T/d.db" "SELECT value FROM meta WHERE key = 'rw_receiver'")" "$VMURL/api/v1/write" \
	"the set kept names its receiver"
is "$(sqlite3 "$T/d.db" "SELECT count(*) FROM rw_sent WHERE instr(key, 'stay_gauge') > 0")" 1 \
	"the set kept holds a series sent"

# Restarted with nothing gone.
agent_start d2 -c "$T/d.conf"
apid=$AGENT_PID
check "restarted: its first round arrives" round_done 3
check "... and a round after that" round_done 4
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
is "$(markers "$T/d2.err")" 0 "a restart with nothing gone sends no marker"
is "$(vm_last "$VMURL" "$M")" "$(live 4)" "every series is still live"

# A group deleted while the agent is stopped.
"$CS" delete --job del --grouping ''
agent_start d3 -c "$T/d.conf"
apid=$AGENT_PID
gone="del_gauge{job=\"del\"} stale
keep_gauge{instance=\"di\",job=\"dj\"} 5.0
stay_gauge{job=\"stay\"} 5.0"
"$CS" put --job dj --grouping 'instance="di"' "keep_gauge 5"
check "a group deleted while the agent was stopped ends with a staleness marker" \
	wait_until -t 20 vm_is "$M" "$gone"
check "... and a round after that" round_done 6
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
is "$(markers "$T/d3.err")" 1 "one marker, sent once"
is "$(sqlite3 "$T/d.db" "SELECT count(*) FROM rw_sent WHERE instr(key, 'del_gauge') > 0")" 0 \
	"its series is forgotten in the spool too"

# ------------------------------------------------------------ --once twice
export COLLECTOR_SPOOL="$T/o.db"
"$CS" put --job oj --grouping 'instance="oi"' 'o_gauge 1'
"$CS" put --job odel --grouping '' 'odel_gauge 2'
agent_conf "$T/o.conf" "http://127.0.0.1:1" oj oi enabled=false
echo "remote_write: { url = \"$VMURL/api/v1/write\"; };" >>"$T/o.conf"
O='{__name__=~"o(del)?_gauge"}'
run_agent -c "$T/o.conf" --once
is_rc 0 "--once: exit 0"
is "$(markers "$AGENT_ERR_FILE")" 0 "--once: no marker"
check "--once sent both series" wait_until -t 10 vm_is "$O" 'o_gauge{instance="oi",job="oj"} 1.0
odel_gauge{job="odel"} 2.0'
"$CS" delete --job odel --grouping ''
"$CS" put --job oj --grouping 'instance="oi"' 'o_gauge 2'
run_agent -c "$T/o.conf" --once
is_rc 0 "--once again, the group deleted in between: exit 0"
is "$(markers "$AGENT_ERR_FILE")" 1 "... it sends one marker"
check "... which ends the deleted group's series" wait_until -t 10 vm_is "$O" \
	'o_gauge{instance="oi",job="oj"} 2.0
odel_gauge{job="odel"} stale'
run_agent -c "$T/o.conf" --once
is_rc 0 "a third --once: exit 0"
is "$(markers "$AGENT_ERR_FILE")" 0 "... nothing gone: no marker"

# ------------------------------------------------------ another receiver URL
# The same VictoriaMetrics under another URL stands for another receiver:
# it never got the series, so the set starts empty there and replaces the
# one kept; back at the first URL, the set is the second URL's.
"$CS" put --job oaway --grouping '' 'oaway_gauge 9'
run_agent -c "$T/o.conf" --once
is_rc 0 "--once with a new group: exit 0"
sed "s|$VMURL/api/v1/write|http://localhost:$vport/api/v1/write|" "$T/o.conf" >"$T/o2.conf"
"$CS" delete --job oaway --grouping ''
run_agent -c "$T/o2.conf" --once
is_rc 0 "--once to another URL, a group deleted before: exit 0"
is "$(markers "$AGENT_ERR_FILE")" 0 "... no marker: that receiver never got it"
is "$(sqlite3 "$T/o.db" "SELECT value FROM meta WHERE key = 'rw_receiver'")" \
	"http://localhost:$vport/api/v1/write" "the set kept is the new receiver's"
run_agent -c "$T/o.conf" --once
is_rc 0 "--once back to the first URL: exit 0"
is "$(markers "$AGENT_ERR_FILE")" 0 "... no marker: the set kept was replaced"

# ----------------------------------------------------------- failed saves
export COLLECTOR_SPOOL="$T/f.db"
sq() { sqlite3 -cmd '.timeout 5000' "$COLLECTOR_SPOOL" "$@"; }
"$CS" put --job fj --grouping 'instance="fi"' 'fkeep_gauge 1'
"$CS" put --job fdel --grouping '' 'fdel_gauge 2'
agent_conf "$T/f.conf" "http://127.0.0.1:1" fj fi enabled=false
echo "remote_write: { url = \"$VMURL/api/v1/write\"; };" >>"$T/f.conf"
F='{__name__=~"f(keep|del|new)_gauge"}'
# fround VALUE: as round_done, with fkeep_gauge
fround() {
	"$CS" put --job fj --grouping 'instance="fi"' "fkeep_gauge $1"
	wait_until vm_is 'fkeep_gauge' "fkeep_gauge{instance=\"fi\",job=\"fj\"} $1.0"
}
saved_has() { [ "$(sq "SELECT count(*) FROM rw_sent WHERE instr(key, '$1') > 0")" = "$2" ]; }
agent_start f1 -c "$T/f.conf"
apid=$AGENT_PID
check "the series arrive" wait_until vm_is "$F" 'fdel_gauge{job="fdel"} 2.0
fkeep_gauge{instance="fi",job="fj"} 1.0'
check "... and are saved" wait_until saved_has fdel_gauge 1
sq "CREATE TRIGGER no_add BEFORE INSERT ON rw_sent BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;
CREATE TRIGGER no_del BEFORE DELETE ON rw_sent BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
"$CS" put --job fnew --grouping '' 'fnew_gauge 7'
"$CS" delete --job fdel --grouping ''
check "saves refused: the marker still goes" wait_until -t 20 vm_is "$F" 'fdel_gauge{job="fdel"} stale
fkeep_gauge{instance="fi",job="fj"} 1.0
fnew_gauge{job="fnew"} 7.0'
check "... and rounds go on" fround 2
check "... another round" fround 3
is "$(grep -c 'msg="cannot save the series remote write sent; after a restart, groups deleted meanwhile may get no staleness marker; tried again next round" reason=".*refused by the test' "$T/f1.err")" \
	1 "the failed saves are logged once (rate-limited), with the reason"
check "the spool still holds what was saved before" saved_has fdel_gauge 1
sq "DROP TRIGGER no_add; DROP TRIGGER no_del;"
check "a later round saves" wait_until grep -q 'msg="saving the series remote write sent works again"' "$T/f1.err"
check "... the new series" saved_has fnew_gauge 1
check "... and removes the one marked stale" saved_has fdel_gauge 0
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
is "$(markers "$T/f1.err")" 1 "one marker"
"$CS" delete --job fnew --grouping ''
agent_start f2 -c "$T/f.conf"
apid=$AGENT_PID
check "restarted: the group whose save was retried gets its marker" wait_until -t 20 vm_is "$F" 'fdel_gauge{job="fdel"} stale
fkeep_gauge{instance="fi",job="fj"} 3.0
fnew_gauge{job="fnew"} stale'
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
is "$(markers "$T/f2.err")" 1 "one marker"
# --once cannot save: the samples went, the status says the spool failed.
sq "CREATE TRIGGER no_add BEFORE INSERT ON rw_sent BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
"$CS" put --job fonce --grouping '' 'fonce_gauge 1'
run_agent -c "$T/f.conf" --once
is_rc 74 "--once whose save is refused: exit 74"
like "$ERR" 'msg="cannot save the series remote write sent;' "... and says why"
check "... after sending the samples" wait_until vm_is 'fonce_gauge' 'fonce_gauge{job="fonce"} 1.0'
stop_pid "$vpid" 10
tap_done
