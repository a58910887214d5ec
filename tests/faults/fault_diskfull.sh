#!/usr/bin/env bash
# Fault: the spool's file system is full.
#
# Needs root and a tmpfs (a 4 MiB one is mounted in the test's directory and
# unmounted at the end); otherwise the whole file is skipped with the reason.
#
# The agent runs with its spool on the tmpfs. It is frozen (SIGSTOP, as a
# busy agent is between two folds) while a writer puts rows until the file
# system is full, then the rest is taken by a filler file. Checked: `put`
# fails with exit 74 and a message that says the file system is full, and
# writes nothing (every refused row carries a series of its own, which must
# never reach the gateway); the agent, let go, meets the full disk when it
# folds, says so clearly and keeps running; when the fillers are removed it
# recovers by itself, and the gateway ends up holding exactly the rows whose
# put returned 0.
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP not root: cannot mount a tmpfs to fill"
	exit 0
fi
MNT="$T/mnt"
mkdir "$MNT"
if ! mount -t tmpfs -o size=4m,mode=0700 fault-diskfull "$MNT" 2>"$T/mount.err"; then
	echo "1..0 # SKIP mount -t tmpfs failed: $(head -c 200 "$T/mount.err" | tr '\n' ' ')"
	exit 0
fi
# Unmount first (lazily: the agent may still hold files), then the usual
# cleanup stops the processes by PID and removes the directory.
trap 'umount -l "$MNT" 2>/dev/null; cleanup' EXIT

avail_kib() { df -Pk "$MNT" | awk 'NR == 2 { print $4 }'; }

gw_start || tap_bail "a real Pushgateway starts"
export COLLECTOR_SPOOL="$MNT/spool.db"
agent_conf "$T/full.conf" "$GW_URL" fault_agent full interval=1 timeout=2 \
	retry_min=0.2 retry_max=1.0 once_timeout=20
LEDGERS=("$T/ledger")
: >"$T/ledger"
tab=$'\t'
pad=$(printf '%01500d' 0)

# put_row N: one row: an add to a shared counter and a series of its own
# (pad label ~1.5 KB). Accepted: to the ledger. Sets PUT_RC, PUT_ERR.
put_row() {
	"$CS" put --job fault_full --grouping 'g="f"' --op add \
		'# TYPE fault_full_rows_total counter' 'fault_full_rows_total 1' \
		"fault_full_row{row=\"$1\",pad=\"$pad\"} $1" 2>"$T/put.err"
	PUT_RC=$?
	PUT_ERR=$(cat "$T/put.err")
	if [ $PUT_RC = 0 ]; then
		printf '%s\n' "fault_full${tab}g=\"f\"${tab}row${tab}${tab}${tab}" \
			"fault_full${tab}g=\"f\"${tab}add${tab}fault_full_rows_total${tab}${tab}1" \
			"fault_full${tab}g=\"f\"${tab}add${tab}fault_full_row${tab}row=\"$1\",pad=\"$pad\"${tab}$1" \
			>>"$T/ledger"
	fi
}

row=0 accepted=0 refused=0 bad_refusals=0 first_refusal=
# refused_ok: a refusal is exit 74 with the file system named full
note_refusal() {
	refused=$((refused + 1))
	[ -n "$first_refusal" ] || first_refusal="exit $PUT_RC: $PUT_ERR"
	case "$PUT_RC:$PUT_ERR" in
	"74:"*"file system is full"*) ;;
	*) bad_refusals=$((bad_refusals + 1)); echo "# unexpected refusal: exit $PUT_RC: $PUT_ERR" ;;
	esac
}

# Before the fault: the agent delivers.
agent_start agent -c "$T/full.conf"
apid=$AGENT_PID
for ((i = 0; i < 10; i++)); do
	row=$((row + 1)); put_row $row
	[ $PUT_RC = 0 ] && accepted=$((accepted + 1))
done
wait_until gw_is 10 fault_full 'g="f"' fault_full_rows_total
is "$?" 0 "before the fault, the agent delivers"

# Freeze the agent, leave 256 KiB, write until put fails, fill the rest.
kill -STOP "$apid"
dd if=/dev/zero of="$MNT/filler1" bs=1k count=$(($(avail_kib) - 256)) 2>/dev/null
for ((i = 0; i < 2000; i++)); do
	row=$((row + 1)); put_row $row
	if [ $PUT_RC = 0 ]; then accepted=$((accepted + 1)); else note_refusal; break; fi
done
dd if=/dev/zero of="$MNT/filler2" bs=4k 2>/dev/null
echo "# file system full after $accepted accepted rows; $(avail_kib) KiB left"
for ((i = 0; i < 5; i++)); do
	row=$((row + 1)); put_row $row
	if [ $PUT_RC = 0 ]; then accepted=$((accepted + 1)); else note_refusal; fi
done
check "put refused rows once the file system was full" test "$refused" -ge 5
is "$bad_refusals" 0 "every refusal is exit 74 saying the file system is full"
echo "# first refusal: $first_refusal"
like "$first_refusal" "nothing was written" "the refusal says nothing was written"

# The agent meets the full disk.
kill -CONT "$apid"
wait_until -t 15 grep -q 'level=error.*file system is full' "$T/agent.err"
is "$?" 0 "the agent logs an error saying the file system is full"
grep 'level=error' "$T/agent.err" | head -2 | sed 's/^/# agent: /'
sleep 2
check "the agent keeps running on a full disk" kill -0 "$apid"
full_errors=$(grep -c 'level=error.*file system is full' "$T/agent.err")

# Space comes back: the agent recovers by itself.
rm -f "$MNT/filler1" "$MNT/filler2"
echo "# space freed: $(avail_kib) KiB available"
ledger_now() { "$PY" "$LEDGER_PY" compare "$GW_URL" "${LEDGERS[@]}" >/dev/null 2>&1; }
wait_until -t 30 ledger_now
is "$?" 0 "after space returns the agent delivers every accepted row by itself"
check "the agent is still running" kill -0 "$apid"
stop_pid "$apid" 10
is "$STOP_RC" 0 "the agent stops on SIGTERM with exit 0"

run_agent -c "$T/full.conf" --once
is_rc 0 "the final --once: exit 0"
ledger_matches "the gateway holds exactly the accepted rows, none of the refused"
is "$(spool_stat pending_rows)" 0 "no row left in the inbox"
is "$("$PY" -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$COLLECTOR_SPOOL")" ok \
	"the spool passes PRAGMA integrity_check"

# The disk fills while no program has the spool open (the agent restarting,
# a batch job's first put): opening it needs room for the -shm file.
dd if=/dev/zero of="$MNT/filler3" bs=4k 2>/dev/null
row=$((row + 1)); put_row $row
is "$PUT_RC" 74 "full disk, spool closed: put exits 74"
echo "# put: $PUT_ERR"
[ $PUT_RC = 0 ] && accepted=$((accepted + 1)) || refused=$((refused + 1))
check "full disk, spool closed: put says the file system is full" \
	grep -q 'file system is full' <<<"$PUT_ERR"
run_agent -c "$T/full.conf"
is_rc 74 "full disk, spool closed: the agent exits 74 at start (systemd restarts it)"
echo "# agent: $(grep 'level=error' "$AGENT_ERR_FILE" | head -1)"
like "$ERR" "cannot open the spool" "its error names the spool"
check "full disk, spool closed: the agent says the file system is full" \
	grep -q 'file system is full' "$AGENT_ERR_FILE"
rm -f "$MNT/filler3"
run_agent -c "$T/full.conf" --once
is_rc 0 "space back: the agent starts and delivers (--once exit 0)"
ledger_matches "and the gateway still holds exactly the accepted rows"

gw_stop
umount "$MNT" 2>"$T/umount.err"
is "$?" 0 "the tmpfs is unmounted"
echo "# diskfull: rows_put=$row accepted=$accepted refused=$refused agent_full_errors=$full_errors series_compared=${COMPARED:-0}"
tap_done
