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
is "$ERR" "collector-spool: line 3: timestamps are not allowed (the Pushgateway rejects them)
       3 | bad 1 1700000000" "bad line: line N: reason, then the line"
is "$(pending)" 2 "bad put writes nothing (atomic)"
run_stdin $'a 1\nb{x="1",x="2"} 2\n' put
is "$RC" 65 "duplicate label from stdin: 65"
like "$ERR" "line 2: duplicate label name" "duplicate label: line 2"
like "$ERR" $'\n       2 | b{x="1",x="2"} 2' "duplicate label: the line from standard input is echoed"
run_stdin '' put --job j
is "$RC" 65 "empty input: 65"
like "$ERR" "no metric lines" "empty input: says so"
run put --job '' 'x 1'
is "$RC" 65 "empty job: 65"
is "$ERR" "collector-spool: job: job must not be empty" "empty job: message"
run put --job j --grouping 'instance=db1' 'x 1'
is "$RC" 65 "bad grouping: 65"
like "$ERR" "grouping: expected '\"' to open label value" "bad grouping: message"
like "$ERR" $'\n--grouping | instance=db1' "bad grouping: the grouping is echoed"
run put --job j --op observe 'lat{le="1"} 0.5'
is "$RC" 65 "observe with le: 65"
# What the Pushgateway would refuse for the whole group, or store wrapped.
run put --job j '# TYPE h histogram' 'h_bucket{le="1"} 1' 'h_bucket{le="0x1p-3"} 1'
is "$RC" 65 "le not a float: 65"
is "$ERR" "collector-spool: line 3: histogram h: le must be a number such as 0.25, 1e3 or +Inf (not NaN, hex or text)
       3 | h_bucket{le=\"0x1p-3\"} 1" "le not a float: line N: reason, then the line"
run put --job j 'h_count -2693' '# TYPE h histogram'
is "$RC" 65 "negative histogram count: 65"
is "$ERR" "collector-spool: line 1: histogram h: bucket and count values must be 0 or more, finite and below 2^64 (the Pushgateway stores them as unsigned integers)
       1 | h_count -2693" "negative count: line N: reason, then the line"
run put --job j $'x 1\r'
is "$RC" 65 "CRLF: 65"
like "$ERR" "carriage return" "CRLF: says so"
like "$ERR" '       1 | x 1\r' "CRLF: the line is echoed, the carriage return shown as \\r"
# A long line is echoed cut, with its length.
long="long_metric{v=\"$(printf '%0300d' 0)\"} 1 2"
run put --job j "$long"
is "$(printf '%s' "$ERR" | sed -n 2p)" "       1 | ${long:0:160}... (321 bytes in all)" "a long line is echoed cut to 160 bytes, with its length"
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

# rejected: an empty list says so; --clear removes rows and says how many,
# all or those below an id; rows ever rejected still count them.
E="$T/empty.db"
"$CS" --spool "$E" put --job j 'ok 1' >/dev/null
run --spool "$E" rejected
is "$RC:$OUT:$ERR" "0:no rejected rows:" "rejected: an empty list says so on stdout, exit 0"
run --spool "$E" rejected --json
is "$RC:$OUT" "0:[]" "rejected --json: an empty list is []"
sqlite3 "$COLLECTOR_SPOOL" ".backup '$T/clr.db'"
is "$(sqlite3 "$T/clr.db" 'SELECT group_concat(id) FROM rejected')" "1,2,3" "(setup) a copy with rejected rows 1, 2, 3"
run --spool "$T/clr.db" rejected --before 2
is "$RC:$ERR" "64:collector-spool: rejected: --before goes with --clear
Try 'collector-spool --help'." "rejected --before without --clear: 64"
run --spool "$T/clr.db" rejected --clear --before 0
is "$RC" 64 "rejected --clear --before 0: 64"
run --spool "$T/clr.db" rejected --clear --json
is "$RC" 64 "rejected --clear --json: 64"
run --spool "$T/clr.db" rejected --clear --before 2
is "$RC:$OUT" "0:removed 1 rejected row (those with an id below 2)" "rejected --clear --before 2: says what it removed"
is "$(sqlite3 "$T/clr.db" 'SELECT group_concat(id) FROM rejected')" "2,3" "rejected --clear --before 2: row 1 gone, 2 and 3 kept"
run --spool "$T/clr.db" rejected --clear
is "$RC:$OUT" "0:removed 2 rejected rows" "rejected --clear: removes the rest, says how many"
is "$(COLLECTOR_SPOOL=$T/clr.db "$CS" stats --json | json '(d["rejected_rows"], d["rejected_total"])')" "(0, 3)" \
	"rejected --clear: none kept now, rows ever rejected still 3"
run --spool "$T/clr.db" rejected
is "$OUT" "no rejected rows" "rejected after --clear: none"
run --spool "$T/nothere.db" rejected --clear
is "$RC" 66 "rejected --clear on a missing spool: 66"
[ ! -e "$T/nothere.db" ] && tap_ok "rejected --clear creates no spool" || tap_fail "rejected --clear creates no spool"

# show: the groups' state as the agent would push it.
SH="$T/show.db"
run --spool "$SH" show
is "$RC" 66 "show on a missing spool: 66"
like "$ERR" "no spool at $SH" "show on a missing spool: says so"
"$CS" --spool "$SH" put --job app --grouping 'instance="b"' '# HELP req_total Requests, "all" of them.' \
	'# TYPE req_total counter' 'req_total{code="200"} 3' 'temp{room="a\\b"} -1.5e-07' 'up NaN'
"$CS" --spool "$SH" put --job app --grouping 'instance="b"' --op observe 'lat 0.3' 'lat 7'
run --spool "$SH" show
is "$RC:$OUT" "0:# 2 rows pending: not folded by the agent yet, so not shown
# no groups" "show before the fold: no groups, and the pending rows said"
run --spool "$SH" show --json
is "$RC:$OUT" "0:[]" "show --json with no groups: []"
"$FOLD" "$SH" >/dev/null
notime() { sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z/TIME/'; }
BODY='# TYPE lat histogram
lat_bucket{le="0.005"} 0
lat_bucket{le="0.01"} 0
lat_bucket{le="0.025"} 0
lat_bucket{le="0.05"} 0
lat_bucket{le="0.1"} 0
lat_bucket{le="0.25"} 0
lat_bucket{le="0.5"} 1
lat_bucket{le="1"} 1
lat_bucket{le="2.5"} 1
lat_bucket{le="5"} 1
lat_bucket{le="10"} 2
lat_bucket{le="+Inf"} 2
lat_sum 7.3
lat_count 2
# HELP req_total Requests, "all" of them.
# TYPE req_total counter
req_total{code="200"} 3
temp{room="a\\b"} -1.5e-07
up NaN'
run --spool "$SH" show --job app --grouping 'instance="b"'
is "$RC:$(printf '%s' "$OUT" | notime)" "0:# group job=app grouping=instance=\"b\"
# last written TIME, version 1
# never pushed
$BODY" "show --job --grouping: the group's header comments, then its exposition text"
run --spool "$SH" show --job nope
is "$RC:$OUT" "0:# no groups match" "show --job of no group: says so, exit 0"
run --spool "$SH" show --grouping ''
is "$RC:$OUT" "0:# no groups match" "show --grouping '': only the job alone"
run --spool "$SH" show --grouping 'instance=b'
is "$RC" 65 "show with a bad grouping: 65"
run --spool "$SH" show extra
is "$RC" 64 "show with an argument: 64"
run --spool "$SH" show --json
is "$RC" 0 "show --json exits 0"
is "$(printf '%s' "$OUT" | json '[(g["job"], g["grouping"], g["version"], g["pushed_version"], g["last_pushed"], g["delete_pending"], g["park_reason"], len(g["last_written"])) for g in d]')" \
	"[('app', 'instance=\"b\"', 1, 0, None, False, None, 20)]" "show --json: one object per group, with versions and times"
is "$(printf '%s' "$OUT" | json '[(f["name"], f["type"], f["help"], [(x["name"], x["labels"], x.get("value")) for x in f["series"]]) for f in d[0]["families"][1:]]')" \
	"[('req_total', 'counter', 'Requests, \"all\" of them.', [('req_total', {'code': '200'}, '3')]), ('temp', 'untyped', None, [('temp', {'room': 'a\\\\b'}, '-1.5e-07')]), ('up', 'untyped', None, [('up', {}, 'NaN')])]" \
	"show --json: families with type, HELP and series (labels unescaped, values as text)"
is "$(printf '%s' "$OUT" | json '([(b["le"], b["count"]) for b in d[0]["families"][0]["series"][0]["buckets"]][-4:], d[0]["families"][0]["series"][0]["sum"], d[0]["families"][0]["series"][0]["count"])')" \
	"([('2.5', '1'), ('5', '1'), ('10', '2'), ('+Inf', '2')], '7.3', '2')" "show --json: an observed histogram's cumulative buckets, sum and count"

# A native histogram (as the fold stores it with a native or both setting;
# written here by hand, in its documented text form): the text shows what
# the text format can (+Inf, _sum, _count, and the classic buckets of a
# both form), a comment line the native part; --json all of it.
NV="$T/native.db"
"$CS" --spool "$NV" put --job app 'x 1'
"$FOLD" "$NV" >/dev/null
sqlite3 "$NV" "INSERT INTO families(group_id, name, type, typed) VALUES (1, 'lat', 'histogram', 1);
INSERT INTO series(group_id, name, labels, hist) VALUES
 (1, 'lat', 'path=\"/a\"', 'n=3;z=2.938735877055719e-39;zc=1;k=160;p=-14:1,23:1;m=;t=3;s=7.3'),
 (1, 'lat', 'path=\"/b\"', 'n=0;z=0.5;zc=0;k=20;p=1:1;m=-1:2;t=3;b=1;c=2,1;s=-0.5')"
run --spool "$NV" show
is "$RC:$(printf '%s' "$OUT" | sed 1,3d)" '0:# TYPE lat histogram
# native lat{path="/a"}: schema=3 zero_threshold=2.938735877055719e-39 zero_count=1 buckets=2
lat_bucket{path="/a",le="+Inf"} 3
lat_sum{path="/a"} 7.3
lat_count{path="/a"} 3
# native lat{path="/b"}: schema=0 zero_threshold=0.5 zero_count=0 buckets=2
lat_bucket{path="/b",le="1"} 2
lat_bucket{path="/b",le="+Inf"} 3
lat_sum{path="/b"} -0.5
lat_count{path="/b"} 3
x 1' "show: a native histogram as +Inf, _sum and _count, its native part in a comment"
run --spool "$NV" show --json
is "$(printf '%s' "$OUT" | json '[(x["labels"]["path"], [(b["le"], b["count"]) for b in x["buckets"]], x["count"], x["native"]) for x in d[0]["families"][0]["series"]]')" \
	"[('/a', [('+Inf', '3')], '3', {'schema': 3, 'zero_threshold': '2.938735877055719e-39', 'zero_count': '1', 'count': '3', 'sum': '7.3', 'positive': [[-14, '1'], [23, '1']], 'negative': [], 'max_buckets': 160}), ('/b', [('1', '2'), ('+Inf', '3')], '3', {'schema': 0, 'zero_threshold': '0.5', 'zero_count': '0', 'count': '3', 'sum': '-0.5', 'positive': [[1, '1']], 'negative': [[-1, '2']], 'max_buckets': 20})]" \
	"show --json: a native part's schema, zero bucket, count, sum, buckets and cap"
is "$(printf '%s' "$OUT" | json '"native" in d[0]["families"][1]["series"][0]')" "False" \
	"show --json: no native object for a plain series"
sqlite3 "$NV" "UPDATE series SET hist = 'n=3;z=0;zc=0;k=160;p=2:1,1:1;m=;t=2;s=0' WHERE labels = 'path=\"/a\"'"
run --spool "$NV" show
is "$RC" 74 "show of a hand-broken native state: 74"
like "$ERR" "unreadable histogram state for lat" "show of a hand-broken native state: says which"

# The agent's own names (collector_agent_*) written by a user: show says
# they are the agent's (agent/selfm.c), not pushed as written in its
# default group. An error partway (here a full standard output, past
# stdio's buffer) exits non-zero, never 0 with a cut JSON.
OWN="$T/own.db"
"$CS" --spool "$OWN" put --job app --grouping 'instance="h"' '# TYPE collector_agent_up gauge' \
	'collector_agent_up 5' 'x 1'
seq 3000 | sed 's/.*/big{i="&"} 1/' | "$CS" --spool "$OWN" put --job big
"$FOLD" "$OWN" >/dev/null
run --spool "$OWN" show --job app
is "$RC:$(printf '%s' "$OUT" | notime)" "0:# group job=app grouping=instance=\"h\"
# last written TIME, version 1
# never pushed
# collector_agent_up: a name of the agent's own; not pushed as written in the agent's default group (its configured job and instance), nor served on /metrics
# TYPE collector_agent_up gauge
collector_agent_up 5
x 1" "show: a collector_agent_* family is said to be the agent's"
# A cursor reads a group dropped since the listing as version 0, and show
# leaves it out; a group that is there at version 0 is still shown.
sqlite3 "$OWN" "UPDATE groups SET version = 0 WHERE job = 'app'"
run --spool "$OWN" show --job app
is "$RC:$(printf '%s\n' "$OUT" | sed -n 2p | notime)" "0:# last written TIME, version 0" \
	"show: a group still there at version 0 is shown"
if [ -w /dev/full ]; then
	"$CS" --spool "$OWN" show --json >/dev/full 2>"$T/err"; RC=$?
	is "$RC:$(cat "$T/err")" "74:collector-spool: writing standard output: No space left on device" \
		"show --json to a full output: 74, said on standard error"
else
	tap_skip "show --json to a full output: no /dev/full"
fi

# What show prints is what the agent pushes: the body of its PUT, byte
# for byte, after the header comments.
AGENT="$B/collector-agent"
FAKE="$here/../integration/fake_gateway.py"
if [ -x "$AGENT" ] && [ -x /usr/bin/python3 ]; then
	/usr/bin/python3 "$FAKE" --port-file "$T/gw.port" --save-bodies "$T/bodies" --max-seconds 60 >/dev/null 2>&1 &
	fake_pid=$!
	for _ in $(seq 100); do [ -s "$T/gw.port" ] && break; sleep 0.1; done
	printf 'pushgateway: { url = "http://127.0.0.1:%s"; once_timeout = 10; };\nlisten = "";\n' \
		"$(cat "$T/gw.port")" >"$T/agent.conf"
	timeout -k 2 30 "$AGENT" -c "$T/agent.conf" --once --spool "$SH" >/dev/null 2>"$T/agent.err"
	is "$?" 0 "the agent pushes the shown group (--once to a stand-in gateway)"
	n=$(awk '$2 == "PUT" && $3 ~ /\/job\/app\/instance\/b$/ { print $1 }' "$T/bodies/index" 2>/dev/null | tail -n 1)
	run --spool "$SH" show --job app --grouping 'instance="b"'
	is "$(cat "$T/bodies/$n-PUT.body" 2>/dev/null)" "$(printf '%s\n' "$OUT" | tail -n +4)" "show's text is the body the agent PUT"
	is "$(printf '%s\n' "$OUT" | sed -n 3p)" "# pushed version 1 (the spool keeps no time of pushes): the gateway has this state" \
		"show after the push: the gateway has this version"
	kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null
else
	tap_skip "show vs the agent's PUT: collector-agent not built"
	tap_skip "show vs the agent's PUT: body"
	tap_skip "show vs the agent's PUT: pushed version"
fi

# delete
run delete
is "$RC" 64 "delete without --job: 64"
like "$ERR" "--job is required" "delete without --job: says so"
run delete --job j --grouping 'z="2",instance="a"'
is "$RC" 0 "delete --job --grouping"
is "$OUT" 'delete requested: job=j grouping=instance="a",z="2"; the agent deletes it from the gateway at its next round' \
	"delete says what it requested (grouping in the spool's order)"
"$FOLD" "$COLLECTOR_SPOOL" >/dev/null
run delete --job j --grouping 'instance="a"'
is "$OUT" 'delete requested: job=j grouping=instance="a"; the agent deletes it from the gateway at its next round' \
	"delete: a second request, said too"
is "$("$FOLD" "$COLLECTOR_SPOOL")" "rows=1 lines=0 rejected=0 deletes=1" "the delete request folds"
is "$("$CS" stats --json | json 'd["delete_pending_groups"]')" 2 "stats shows the deletes pending"
run delete --job j
is "$OUT" 'delete requested: job=j grouping=(none); the agent deletes it from the gateway at its next round' \
	"delete without --grouping: the job alone, said as (none)"

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

# Readers without write access (monitoring users): stats, rejected and
# show read the spool without creating or changing anything beside it;
# what needs writing says so. Run as user nobody (tests run as root).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	nob() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@" >"$T/out" 2>"$T/err"; RC=$?
		OUT=$(cat "$T/out"); ERR=$(cat "$T/err"); }
	listing() { (cd "$1" && stat -c '%n %s %Y %U' -- * | LC_ALL=C sort | tr '\n' ' '); }
	chmod 0711 "$T"
	mkdir -m 0755 "$T/mon"
	M="$T/mon/s.db"
	"$CS" --spool "$M" put --job mon 'm 1' && "$FOLD" "$M" >/dev/null && "$CS" --spool "$M" put --job mon 'm 2'
	chmod 0644 "$M" "$M-wal" "$M-shm"
	before=$(listing "$T/mon")
	nob "$CS" --spool "$M" stats --json
	is "$RC:$(printf '%s' "$OUT" | json '(d["pending_rows"], d["groups"])')" "0:(1, 1)" "read-only user: stats works (rows in the -wal seen)"
	nob "$CS" --spool "$M" show
	is "$RC:$(printf '%s' "$OUT" | grep -v '^# ')" "0:m 1" "read-only user: show works"
	# A symbolic link to the spool: SQLite keeps the -wal and -shm beside
	# the target, so they are looked for there (beside the link, none: the
	# row in the -wal would be missed). A path that starts with "//" is a
	# path, not a URI's authority.
	ln -s "$M" "$T/link.db"
	nob "$CS" --spool "$T/link.db" stats --json
	is "$RC:$(printf '%s' "$OUT" | json '(d["pending_rows"], d["groups"])')" "0:(1, 1)" \
		"read-only user, symlinked spool: the row in the target's -wal seen"
	nob "$CS" --spool "/$M" stats --json
	is "$RC:$(printf '%s' "$OUT" | json '(d["pending_rows"], d["groups"])'):$ERR" "0:(1, 1):" \
		"read-only user, a path starting with //: read"
	nob "$CS" --spool "$M" rejected
	is "$RC:$OUT" "0:no rejected rows" "read-only user: rejected works"
	nob "$CS" --spool "$M" rejected --clear
	is "$RC:$ERR" "73:collector-spool: spool $M is not writable (Permission denied): fix its owner or mode, or run as a user in its group
collector-spool: rejected --clear removes rows, so it needs write access to the spool" "read-only user: rejected --clear: 73, needs write access"
	nob "$CS" --spool "$M" put --job mon 'm 3'
	is "$RC" 73 "read-only user: put: 73"
	is "$(listing "$T/mon")" "$before" "read-only user: nothing created or changed beside the spool"
	# With the agent stopped and no writer since, there is no -wal: the
	# file is read as it is, and nothing is created even in a directory
	# the reader may write.
	sqlite3 "$M" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
	rm -f "$M-wal" "$M-shm"
	chmod 0777 "$T/mon"
	before=$(listing "$T/mon")
	nob "$CS" --spool "$M" stats --json
	is "$RC:$(printf '%s' "$OUT" | json 'd["pending_rows"]')" "0:1" "read-only user, no -wal: stats works"
	is "$(listing "$T/mon")" "$before" "read-only user, no -wal, writable directory: no -wal or -shm created"
	nob "$CS" --spool "/$T/link.db" show
	is "$RC:$(printf '%s' "$OUT" | grep -v '^# ')" "0:m 1" "read-only user, no -wal, via // and a symlink: show works"
	is "$(listing "$T/mon")" "$before" "read-only user, no -wal, via a symlink: nothing created beside the target"
	chmod 0755 "$T/mon"
	# A -wal without its -shm, or files the reader may not read: what is
	# missing is said.
	"$CS" --spool "$M" put --job mon 'm 4' && chmod 0644 "$M"* && rm -f "$M-shm"
	nob "$CS" --spool "$M" stats
	is "$RC:$ERR" "73:collector-spool: spool $M has a -wal file but no -shm, and a user who cannot write the spool does not create one: run it again while the agent runs, or after a put (either makes the -shm), or as a user who can write the spool" \
		"read-only user, a -wal without -shm: 73, says what is missing"
	"$CS" --spool "$M" put --job mon 'm 5' && chmod 0600 "$M-shm"
	nob "$CS" --spool "$M" show
	like "$RC:$ERR" "73:collector-spool: spool $M: its -shm file $M-shm is not readable (Permission denied)" \
		"read-only user, unreadable -shm: 73, names it"
	chmod 0600 "$M"
	nob "$CS" --spool "$M" rejected
	is "$RC:$ERR" "73:collector-spool: spool $M is not readable (Permission denied): fix its owner or mode, or run as a user in its group" \
		"read-only user, unreadable spool: 73, says so"
	: >"$T/mon/empty.db"; chmod 0644 "$T/mon/empty.db"
	nob "$CS" --spool "$T/mon/empty.db" stats
	is "$RC:$ERR" "74:collector-spool: spool $T/mon/empty.db is not a spool yet (an empty file); it was left untouched: this user cannot write it, so cannot make it one; the agent does at its start, as does a put by a user who can write it" \
		"read-only user, an empty file: 74, not a spool yet"
	is "$(stat -c %s "$T/mon/empty.db"):$(ls "$T/mon" | tr '\n' ' ')" "0:empty.db s.db s.db-shm s.db-wal " \
		"read-only user, an empty file: left empty, nothing beside it"
else
	for c in stats show "symlinked spool" "// path" rejected "rejected --clear" put unchanged "no -wal" \
		"no -wal: nothing created" "no -wal, symlink: show" "no -wal, symlink: nothing created" \
		"-wal without -shm" "unreadable -shm" "unreadable spool" "empty file" "empty file untouched"; do
		tap_skip "read-only user: $c: needs root and setpriv"
	done
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
