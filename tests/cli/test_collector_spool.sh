#!/usr/bin/env bash
# collector-spool as users run it: exit statuses, messages, atomic puts,
# standard input, --json, and files it must leave alone.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
B=${BUILD:-build}
CS="$B/collector-spool"
FOLD="$B/tests/spool-fold"
LOCK="$B/tests/spool-lock"
T=$(mktemp -d "${TMPDIR:-/tmp}/cs-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
export COLLECTOR_SPOOL="$T/spool.db"

# Runs the tool; sets OUT, ERR, RC.
run() {
	"$CS" "$@" >"$T/out" 2>"$T/err"; RC=$?
	OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
}
run_stdin() { # input args...
	local input=$1; shift
	printf '%s' "$input" | "$CS" "$@" >"$T/out" 2>"$T/err"; RC=$?
	OUT=$(cat "$T/out"); ERR=$(cat "$T/err")
}
json() { # expression on the stats JSON, evaluated by python3
	/usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"
}
pending() { "$CS" stats --json | json 'd["pending_rows"]'; }

run --version
is "$RC" 0 "--version exits 0"
like "$OUT" "collector-spool 0.1.0 (spool schema 1, SQLite 3." "--version names the version"
run --help
is "$RC" 0 "--help exits 0"
like "$OUT" "put [--job JOB]" "--help shows put"
run put --help
is "$RC" 0 "put --help exits 0"
run
is "$RC" 64 "no command: 64"
like "$ERR" "a command is required" "no command: says so"
run frobnicate
is "$RC" 64 "unknown command: 64"
like "$ERR" "unknown command 'frobnicate'" "unknown command: named"
run put --op bogus 'x 1'
is "$RC" 64 "bad --op: 64"
like "$ERR" "--op must be set, add or observe, not 'bogus'" "bad --op: named"
[ ! -e "$COLLECTOR_SPOOL" ] && tap_ok "usage errors create no spool" || tap_fail "usage errors create no spool"

run put --job j --grouping 'instance="a"' 'm{x="1"} 1' '# TYPE c counter' 'c 2'
is "$RC" 0 "put from arguments"
is "$ERR" "" "put is quiet on success"
is "$(pending)" 1 "one put is one row"
run_stdin $'# HELP g A gauge.\ng 1\ng{a="b"} 2\n' put --job j
is "$RC" 0 "put from standard input"
is "$(pending)" 2 "stdin put is one row"

run put --job j 'ok 1' 'also_ok{a="1"} 2' 'bad 1 1700000000' 'never 4'
is "$RC" 65 "bad line: 65"
is "$ERR" "collector-spool: line 3: timestamps are not allowed (the Pushgateway rejects them)" "bad line: line N: reason"
is "$(pending)" 2 "bad put writes nothing (atomic)"
run_stdin $'a 1\nb{x="1",x="2"} 2\n' put
is "$RC" 65 "duplicate label from stdin: 65"
like "$ERR" "line 2: duplicate label name" "duplicate label: line 2"
run_stdin '' put --job j
is "$RC" 65 "empty input: 65"
like "$ERR" "no metric lines" "empty input: says so"
run put --job '' 'x 1'
is "$RC" 65 "empty job: 65"
is "$ERR" "collector-spool: job: job must not be empty" "empty job: message"
run put --job j --grouping 'instance=db1' 'x 1'
is "$RC" 65 "bad grouping: 65"
like "$ERR" "grouping: expected '\"' to open label value" "bad grouping: message"
run put --job j --op observe 'lat{le="1"} 0.5'
is "$RC" 65 "observe with le: 65"
# What the Pushgateway would refuse for the whole group, or store wrapped.
run put --job j '# TYPE h histogram' 'h_bucket{le="1"} 1' 'h_bucket{le="0x1p-3"} 1'
is "$RC" 65 "le not a float: 65"
is "$ERR" "collector-spool: line 3: histogram h: le must be a number such as 0.25, 1e3 or +Inf (not NaN, hex or text)" "le not a float: line N: reason"
run put --job j 'h_count -2693' '# TYPE h histogram'
is "$RC" 65 "negative histogram count: 65"
is "$ERR" "collector-spool: line 1: histogram h: bucket and count values must be 0 or more, finite and below 2^64 (the Pushgateway stores them as unsigned integers)" "negative count: line N: reason"
run put --job j $'x 1\r'
is "$RC" 65 "CRLF: 65"
like "$ERR" "carriage return" "CRLF: says so"
head -c $((16 * 1024 * 1024 + 1)) /dev/zero | tr '\0' '#' > "$T/big"
"$CS" put --job j < "$T/big" >"$T/out" 2>"$T/err"; RC=$?
is "$RC" 65 "body over 16 MiB: 65"
like "$(cat "$T/err")" "body too large" "body over 16 MiB: says so"
is "$(pending)" 2 "refused puts wrote nothing"

# --spool wins over COLLECTOR_SPOOL.
run --spool "$T/other.db" put --job j 'x 1'
is "$RC" 0 "--spool PATH"
is "$(COLLECTOR_SPOOL=$T/other.db "$CS" stats --json | json 'd["pending_rows"]')" 1 "--spool wrote there"
is "$(pending)" 2 "--spool did not write to COLLECTOR_SPOOL"

# stats, human and JSON.
run stats
is "$RC" 0 "stats exits 0"
like "$OUT" "pending_rows           2" "stats shows pending rows"
run stats --json
is "$RC" 0 "stats --json exits 0"
is "$(printf '%s' "$OUT" | json 'sorted(d.keys())')" "['delete_pending_groups', 'dirty_groups', 'groups', 'oldest_pending_age_seconds', 'parked', 'parked_groups', 'path', 'pending_rows', 'rejected_rows', 'rejected_total', 'schema_version', 'series', 'spool_bytes']" "stats --json keys"
run stats --bogus
is "$RC" 64 "stats with a bad flag: 64"

# Rows that writers insert with SQL and that do not parse are rejected at
# fold time, with the reason, and do not block the others.
sqlite3 "$COLLECTOR_SPOOL" "INSERT INTO inbox(job, grouping, op, body) VALUES ('j', NULL, 'set', 'bad 1 2'), ('j', '', 'add', 'fine_total 1'), ('j', '', 'sett', 'x 1'), ('j', '', 'set', 'utf {a=\"' || char(233) || '\"} 1'), ('j', '', 'set', 'u{a=\"' || CAST(X'FF' AS TEXT) || '\"} 1')"
is "$("$FOLD" "$COLLECTOR_SPOOL")" "rows=7 lines=6 rejected=3 deletes=0" "fold: 7 rows, 3 rejected"
run rejected
is "$RC" 0 "rejected exits 0"
like "$OUT" "reason: line 1: timestamps are not allowed" "rejected shows the reason"
like "$OUT" "reason: unknown op 'sett'" "rejected shows a bad op"
like "$OUT" "reason: line 1: label value is not valid UTF-8" "rejected shows bad UTF-8"
run rejected --json
is "$RC" 0 "rejected --json exits 0"
is "$(printf '%s' "$OUT" | json '[r["reason"][:20] for r in d]')" "['line 1: timestamps a', \"unknown op 'sett' (s\", 'line 1: label value ']" "rejected --json is valid JSON, oldest first"
is "$(printf '%s' "$OUT" | json 'd[2]["body"]')" "u{a=\"�\"} 1" "invalid UTF-8 is replaced in JSON"
is "$("$CS" stats --json | json '(d["rejected_rows"], d["groups"], d["pending_rows"])')" "(3, 2, 0)" "stats after the fold"
run rejected
like "$OUT" "  body: 7 bytes, FNV-1a 64 9b1743d997878ee9:" "rejected shows a body's size and hash"
# A big refused body keeps its first 4096 bytes, its size and its hash.
CUT="$T/cut.db"
"$CS" --spool "$CUT" put --job j 'ok 1' >/dev/null
sqlite3 "$CUT" "INSERT INTO inbox(job, body) VALUES ('j', 'x 1 2' || char(10) || replace(hex(zeroblob(2500)), '0', 'a'))"
"$FOLD" "$CUT" >/dev/null
run --spool "$CUT" rejected
like "$OUT" "  reason: line 1: timestamps are not allowed (the Pushgateway rejects them)
  body: 5006 bytes, FNV-1a 64 694271ccdf0a2220; only its first 4096 are kept:" "rejected: a cut body's size and hash"
run --spool "$CUT" rejected --json
is "$(printf '%s' "$OUT" | json '[(len(r["body"]), r["body_bytes"], r["body_fnv1a64"], r["body_cut"], r["reason"][-13:]) for r in d]')" \
	"[(4096, 5006, '694271ccdf0a2220', True, 'rejects them)')]" "rejected --json: body_bytes, body_fnv1a64, body_cut"
is "$(sqlite3 "$CUT" 'SELECT length(body) FROM rejected')" 4096 "the spool keeps 4096 bytes of it"

# delete
run delete
is "$RC" 64 "delete without --job: 64"
like "$ERR" "--job is required" "delete without --job: says so"
run delete --job j --grouping 'instance="a"'
is "$RC" 0 "delete --job --grouping"
is "$("$FOLD" "$COLLECTOR_SPOOL")" "rows=1 lines=0 rejected=0 deletes=1" "the delete request folds"
is "$("$CS" stats --json | json 'd["delete_pending_groups"]')" 1 "stats shows the delete pending"

# Files the tool must not touch, and the exit statuses for them.
run --spool "$T/no/such/dir/s.db" put --job j 'x 1'
is "$RC" 73 "spool directory missing: 73"
like "$ERR" "cannot create spool $T/no/such/dir/s.db" "spool directory missing: names the path"
printf 'hello, I am a text file\n' > "$T/text"
cp "$T/text" "$T/text.orig"
run --spool "$T/text" put --job j 'x 1'
is "$RC" 74 "not a SQLite file: 74"
like "$ERR" "is not a SQLite database" "not a SQLite file: says so"
cmp -s "$T/text" "$T/text.orig" && tap_ok "not a SQLite file: untouched" || tap_fail "not a SQLite file: untouched"
run --spool "$T/text" stats
is "$RC" 74 "stats on a text file: 74"
sqlite3 "$T/newer.db" "CREATE TABLE inbox(job); PRAGMA user_version=7"
run --spool "$T/newer.db" put --job j 'x 1'
is "$RC" 74 "newer schema: 74"
like "$ERR" "schema version 7, newer than this program knows (1)" "newer schema: says so"
is "$(sqlite3 "$T/newer.db" 'PRAGMA user_version')" 7 "newer schema: untouched"

# A spool locked past the busy timeout: 75, and nothing written.
coproc LOCKER { "$LOCK" "$COLLECTOR_SPOOL"; }
# Kept: bash unsets LOCKER_PID once it has reaped the coprocess.
locker_pid=$LOCKER_PID
read -r -t 10 line <&"${LOCKER[0]}"
is "${line:-}" locked "a second process holds the write lock"
export COLLECTOR_SPOOL_BUSY_TIMEOUT_MS=200
run put --job j 'x 1'
is "$RC" 75 "locked spool: 75"
like "$ERR" "is locked by another process (waited 200 ms" "locked spool: says so"
exec {LOCKER[1]}>&-
wait "$locker_pid" 2>/dev/null
run put --job j 'x 1'
is "$RC" 0 "lock released: put works again"
COLLECTOR_SPOOL_BUSY_TIMEOUT_MS=soon "$CS" stats >/dev/null 2>"$T/err"; RC=$?
is "$RC" 64 "bad COLLECTOR_SPOOL_BUSY_TIMEOUT_MS: 64"
unset COLLECTOR_SPOOL_BUSY_TIMEOUT_MS
COLLECTOR_SPOOL_SYNCHRONOUS=full "$CS" put --job j 'x 2'; RC=$?
is "$RC" 0 "COLLECTOR_SPOOL_SYNCHRONOUS=full"

# One-shot writers and the WAL (docs/spool.md, "What a writer's close
# does"): a put leaves the -wal and -shm for the next writer; with no other
# process on the spool, the writer that finds the WAL past 256 KiB at its
# close moves it into the file and truncates it, so many puts and no agent
# keep it bounded; every row is there.
W="$T/wal.db"
"$CS" --spool "$W" put --job j 'w_total 1'
is "$(cd "$T" && echo wal.db*)" "wal.db wal.db-shm wal.db-wal" "a put leaves the -wal and the -shm"
[ "$(stat -c %s "$W-wal")" -gt 0 ] && tap_ok "the -wal holds the put's row" ||
	tap_fail "the -wal holds the put's row" "size: $(stat -c %s "$W-wal")"
max=0 trims=0 prev=0
for i in $(seq 150); do
	"$CS" --spool "$W" put --job j --grouping "instance=\"i$((i % 7))\"" --op add \
		'w_total{path="/api/v1/items/a-longer-path"} 1' || break
	size=$(stat -c %s "$W-wal")
	[ "$size" -gt "$max" ] && max=$size
	[ "$size" -lt "$prev" ] && trims=$((trims + 1))
	prev=$size
done
[ "$max" -le $((256 * 1024)) ] && tap_ok "150 puts, no agent: the -wal never over 256 KiB" ||
	tap_fail "150 puts, no agent: the -wal never over 256 KiB" "largest: $max bytes"
[ "$trims" -ge 1 ] && tap_ok "150 puts, no agent: a writer trimmed the -wal" ||
	tap_fail "150 puts, no agent: a writer trimmed the -wal" "largest: $max bytes, never trimmed"
is "$(COLLECTOR_SPOOL=$W "$CS" stats --json | json 'd["pending_rows"]')" 151 "150 puts, no agent: every row is there"

# The -wal and -shm are left only with the spool's group and mode: files
# of another group (a writer whose group is not the spool's, in a
# directory without the set-group-ID bit) could lock the agent out, so the
# last user's close removes them, as SQLite's does.
# (As root SQLite gives them the spool's owner and group itself, so the
# writers here are user nobody, of group nogroup, then of group 1.)
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	as() { local g=$1; shift; (umask 0; setpriv --reuid=65534 --regid="$g" --clear-groups "$@"); }
	chmod 0711 "$T"
	mkdir -m 0777 "$T/grp"
	G="$T/grp/s.db"
	as 65534 "$CS" --spool "$G" put --job j 'g 1'
	is "$(cd "$T/grp" && stat -c '%n:%g:%a' s.db* | paste -sd' ')" "s.db:65534:660 s.db-shm:65534:660 s.db-wal:65534:660" \
		"a writer of the spool's group leaves the -wal and -shm, with its group and mode"
	rm "$G-wal" "$G-shm"
	as 1 "$CS" --spool "$G" put --job j 'g 2'
	is "$(cd "$T/grp" && echo s.db*)" "s.db" "a writer of another group, alone, removes the -wal and -shm it made"
	is "$(sqlite3 "$G" 'SELECT count(*) FROM inbox')" 1 "the file holds the row the -wal held"
else
	tap_skip "side files of another group: needs root and setpriv"
	tap_skip "side files of another group: removed"
	tap_skip "side files of another group: rows"
fi

# A spool the user cannot write (only meaningful when not root).
if [ "$(id -u)" -ne 0 ]; then
	mkdir "$T/ro" && "$CS" --spool "$T/ro/s.db" put --job j 'x 1' && chmod 0444 "$T/ro/s.db"
	run --spool "$T/ro/s.db" put --job j 'x 1'
	is "$RC" 73 "read-only spool: 73"
else
	tap_skip "read-only spool: running as root, permissions do not apply"
fi

tap_done
