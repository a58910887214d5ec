#!/usr/bin/env bash
# Fault: the spool file deleted or replaced under a running agent.
#
# docs/spool.md says never to delete or rename the spool while programs
# have it open; operators do it anyway (a cleanup script, a restore from a
# backup, a volume re-provisioned). Four cases, each with its own agent:
#
#   A. spool.db, -wal and -shm deleted; writers go on (put creates a new
#      spool at the path);
#   B. a fresh spool (with rows of its own) moved over it, while the agent
#      is idle (its WAL checkpointed);
#   C. the same while the agent's WAL holds rows it has not folded yet (the
#      agent frozen with SIGSTOP between two folds, as a busy one is);
#   D. a file that is not SQLite moved over it.
#
# What an operator may demand: within a few seconds the agent exits with
# status 74 and an error naming the spool (systemd then restarts it on the
# new file), never silently working on a file nobody writes any more; no
# crash, put's own errors, the file that is not SQLite left untouched, and
# after a restart the new file's rows delivered exactly. C stays a TODO: a
# WAL does not say which database it belongs to, so a writer that finds the
# old -wal beside the new file replays it into that file. The operations
# guide says to replace a spool only with the agent stopped and all three
# files moved together.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

NOTICE_SECS=5

gw_start || tap_bail "a real Pushgateway starts"

# case_start NAME: a spool and a running agent of its own, which has
# delivered one row (job fault_NAME, g="a", fault_rows_total 1).
case_start() {
	CASE=$1
	CJOB=fault_$1
	export COLLECTOR_SPOOL="$T/$1/spool.db"
	mkdir -p "$T/$1"
	agent_conf "$T/$1.conf" "$GW_URL" fault_agent "$1" interval=1 timeout=2 \
		retry_min=0.2 retry_max=1.0 once_timeout=10
	"$CS" put --job "$CJOB" --grouping 'g="a"' --op add 'fault_rows_total 1'
	agent_start "$1" -c "$T/$1.conf"
	CPID=$AGENT_PID
	CEXIT=
	wait_until gw_is 1 "$CJOB" 'g="a"' fault_rows_total
	is "$?" 0 "$1: the agent delivers before the fault"
}

# agent_exited: the case's agent has ended; sets CEXIT to its status.
agent_exited() {
	[ -n "$CEXIT" ] && return 0
	kill -0 "$CPID" 2>/dev/null && return 1
	wait_exit "$CPID" 1 || return 1
	CEXIT=$STOP_RC
}

# noticed JOB GROUPING WANT: the agent exited 74 with an error naming the
# spool, or the row put into the new file (JOB GROUPING fault_rows_total
# WANT) reached the gateway.
noticed() {
	if agent_exited; then
		[ "$CEXIT" = 74 ] && grep -q "level=error.*$COLLECTOR_SPOOL" "$T/$CASE.err"
		return
	fi
	gw_is "$3" "$1" "$2" fault_rows_total
}

# case_stop: the agent ends cleanly: SIGTERM → 0 if it still runs, or it
# has already exited with 74 by itself (no crash either way).
case_stop() {
	local how rc
	if agent_exited; then
		how="exited by itself"
		[ "$CEXIT" = 74 ]
	else
		how="still running, SIGTERM"
		stop_pid "$CPID" 10
		CEXIT=$STOP_RC
		[ "$CEXIT" = 0 ]
	fi
	rc=$?
	if [ $rc = 0 ]; then
		tap_ok "$CASE: no crash ($how, status $CEXIT)"
	else
		tap_fail "$CASE: no crash ($how, status $CEXIT)"
		diag_file "$T/$CASE.err"
	fi
	echo "# $CASE: what the agent logged at warn or error: $(grep -c 'level=warn\|level=error' "$T/$CASE.err") lines"
	grep 'level=warn\|level=error' "$T/$CASE.err" | head -3 | sed 's/^/#   /'
}

# ---------------------------------------------- A. the spool deleted
case_start deleted
rm -f "$COLLECTOR_SPOOL" "$COLLECTOR_SPOOL-wal" "$COLLECTOR_SPOOL-shm"
"$CS" put --job "$CJOB" --grouping 'g="a"' --op add 'fault_rows_total 10'
is "$?" 0 "deleted: put after the deletion succeeds (it creates a new spool)"
"$CS" put --job "$CJOB" --grouping 'g="b"' --op add 'fault_rows_total 5'
check "deleted: within $NOTICE_SECS s the agent exits 74 naming the spool, or delivers the new file's rows" \
	wait_until -t $NOTICE_SECS noticed "$CJOB" 'g="b"' 5
case_stop
run_agent -c "$T/deleted.conf" --once
is_rc 0 "deleted: after a restart --once delivers: exit 0"
# The gateway now shows the new file's state: the counter starts again.
is "$(gw_value "$CJOB" 'g="a"' fault_rows_total)" 10 "deleted: the new file's add arrives exactly (g=a: 10)"
is "$(gw_value "$CJOB" 'g="b"' fault_rows_total)" 5 "deleted: the new file's new group arrives exactly (g=b: 5)"

# ------------------------------ B. a fresh spool moved over it, agent idle
case_start moved
wal_empty() { [ ! -s "$COLLECTOR_SPOOL-wal" ]; }
wait_until -t 5 wal_empty
"$CS" --spool "$T/moved/fresh.db" put --job "$CJOB" --grouping 'g="c"' --op add 'fault_rows_total 100'
# The file alone is moved: the row goes into it first, out of the -wal
# where the put left it (docs/spool.md, "What a writer's close does").
sqlite3 "$T/moved/fresh.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
mv "$T/moved/fresh.db" "$COLLECTOR_SPOOL"
"$CS" put --job "$CJOB" --grouping 'g="a"' --op add 'fault_rows_total 7'
is "$?" 0 "moved: put into the moved-in spool succeeds"
check "moved: within $NOTICE_SECS s the agent exits 74 naming the spool, or delivers the new file's rows" \
	wait_until -t $NOTICE_SECS noticed "$CJOB" 'g="c"' 100
case_stop
run_agent -c "$T/moved.conf" --once
is_rc 0 "moved: after a restart --once delivers: exit 0"
is "$(gw_value "$CJOB" 'g="c"' fault_rows_total)" 100 "moved: the row the fresh spool came with arrives (g=c: 100)"
is "$(gw_value "$CJOB" 'g="a"' fault_rows_total)" 7 "moved: the row put after the move arrives (g=a: 7)"

# ------------- C. a fresh spool moved over it while the agent's WAL holds rows
case_start walmix
kill -STOP "$CPID"
"$CS" put --job "$CJOB" --grouping 'g="x"' --op add 'fault_rows_total 3'
wal_before=$(stat -c %s "$COLLECTOR_SPOOL-wal" 2>/dev/null || echo 0)
"$CS" --spool "$T/walmix/fresh.db" put --job "$CJOB" --grouping 'g="y"' --op add 'fault_rows_total 100'
sqlite3 "$T/walmix/fresh.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
mv "$T/walmix/fresh.db" "$COLLECTOR_SPOOL"
"$CS" put --job "$CJOB" --grouping 'g="z"' --op add 'fault_rows_total 7'
is "$?" 0 "walmix: put into the moved-in spool succeeds"
echo "# walmix: the old -wal held $wal_before bytes when the fresh spool was moved in"
kill -CONT "$CPID"
sleep 1
case_stop
run_agent -c "$T/walmix.conf" --once
is_rc 0 "walmix: after a restart --once delivers: exit 0"
is "$(gw_value "$CJOB" 'g="z"' fault_rows_total)" 7 "walmix: the row put after the move arrives (g=z: 7)"
y=$(gw_value "$CJOB" 'g="y"' fault_rows_total)
echo "# walmix: the fresh spool's row g=y on the gateway: $y (want 100); the old spool's unfolded row g=x: $(gw_value "$CJOB" 'g="x"' fault_rows_total) (it came into the new file with the old -wal)"
todo_check "walmix: the row the fresh spool came with is not lost (g=y: 100)" \
	"known limit: SQLite cannot tell an old -wal from the new file's; replace a spool only as docs/operations.md says" \
	test "$y" = 100
"$PY" -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$COLLECTOR_SPOOL" \
	>"$T/walmix.integrity" 2>&1
echo "# walmix: the new file's integrity_check: $(head -1 "$T/walmix.integrity")"

# ---------------------------------- D. a file that is not SQLite moved over it
case_start junk
printf 'this is not a SQLite database\n' >"$T/junk/junk"
cp "$T/junk/junk" "$T/junk.orig"
mv "$T/junk/junk" "$COLLECTOR_SPOOL"
"$CS" put --job "$CJOB" --grouping 'g="a"' --op add 'fault_rows_total 1' 2>"$T/junk.put.err"
is "$?" 74 "junk: put into it exits 74"
like "$(cat "$T/junk.put.err")" "not a SQLite database" "junk: put says it is not a SQLite database"
wait_until -t $NOTICE_SECS agent_exited
check "junk: within $NOTICE_SECS s the agent exits 74 with an error naming the spool" \
	noticed "$CJOB" 'g="none"' 0
case_stop
check "junk: the file is left untouched" cmp -s "$T/junk.orig" "$COLLECTOR_SPOOL"
run_agent -c "$T/junk.conf"
is_rc 74 "junk: the agent started on it exits 74"
like "$ERR" "not a SQLite database" "junk: and says it is not a SQLite database"
check "junk: the file is still untouched" cmp -s "$T/junk.orig" "$COLLECTOR_SPOOL"

echo "# spool_replaced: cases=4 (deleted, moved idle, moved with rows in the WAL, not SQLite)"
gw_stop
tap_done
