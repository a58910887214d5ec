#!/usr/bin/env bash
# Fault: the agent killed with SIGKILL at random moments, again and again.
#
# Four writer processes put known rows (counter adds into three groups and
# gauge sets; data fixed by FAULT_SEED) while the agent runs against a real
# Pushgateway and is killed with SIGKILL at least 20 times, each time after
# a random 0-300 ms of life (so while opening the spool, folding, pushing or
# recording a push), and started again. When the writers are done, one
# `collector-agent --once` must leave the gateway holding exactly what was
# written: every add counted once, every gauge at its last value, in every
# group.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

WRITERS=4
ROWS=${FAULT_KILL_ROWS:-300}
MIN_KILLS=20
MAX_ROUNDS=150
RANDOM=$FAULT_SEED
echo "# seed=$FAULT_SEED writers=$WRITERS rows_per_writer=$ROWS"

gw_start || tap_bail "a real Pushgateway starts"
export COLLECTOR_SPOOL="$T/kill.db"
agent_conf "$T/kill.conf" "$GW_URL" fault_agent kill interval=1 timeout=2 \
	retry_min=0.1 retry_max=0.5 once_timeout=20
# No spool yet: the first writers and the first agent create it at once.

writers_start "$WRITERS" "$ROWS" fault_kill 3 "$T/ledger" 0.02

# Kill while the writers write, and at least MIN_KILLS times.
kills=0 self_exits=0 rounds=0
: >"$T/agents.err"
while { [ $kills -lt $MIN_KILLS ] || writers_running; } && [ $rounds -lt $MAX_ROUNDS ]; do
	rounds=$((rounds + 1))
	agent_bg "$T/agents.err" -c "$T/kill.conf"
	sleep "$(rand_secs 300)"
	kill -KILL "$AGENT_PID" 2>/dev/null
	wait "$AGENT_PID" 2>/dev/null
	rc=$?
	untrack "$AGENT_PID"
	if [ $rc = 137 ]; then
		kills=$((kills + 1))
	else
		self_exits=$((self_exits + 1))
		echo "# round $rounds: the agent had already exited with status $rc"
	fi
done
check "the agent was killed with SIGKILL at least $MIN_KILLS times" test "$kills" -ge $MIN_KILLS
is "$self_exits" 0 "the agent never exited by itself between kills"

writers_wait 120
is "$?" 0 "the writers finished"
is "$(writers_failures)" "" "every put was accepted"

run_agent -c "$T/kill.conf" --once
is_rc 0 "the final --once delivers everything: exit 0"
ledger_matches "after $kills SIGKILLs the gateway holds exactly what was written"
is "$(spool_stat pending_rows)" 0 "no row left in the inbox"
is "$(spool_stat dirty_groups)" 0 "no group left to push"
is "$(spool_stat rejected_total)" 0 "no row rejected"
is "$("$PY" -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$COLLECTOR_SPOOL")" ok \
	"the spool passes PRAGMA integrity_check"
bad=$(grep -E 'damaged|malformed|not a SQLite|level=error' "$T/agents.err" | head -5)
is "$bad" "" "no damage or error reported by any of the killed agents"
# What the killed agents got done (committed folds, confirmed pushes).
folded=$(sed -n 's/.*msg=folded rows=\([0-9]*\).*/\1/p' "$T/agents.err" | awk '{ n += $1 } END { print n + 0 }')
pushes=$(grep -c 'msg="pushed group"' "$T/agents.err")
echo "# the killed agents folded $folded rows and pushed $pushes groups between kills"
check "the kills hit working agents (they folded rows and pushed)" test "$folded" -gt 0 -a "$pushes" -gt 0

echo "# kills=$kills folded_by_killed_agents=$folded rows=$(ledger_rows rows) lines=$(ledger_rows lines) series_compared=${COMPARED:-0} (written = delivered when the comparison passed)"
gw_stop
tap_done
