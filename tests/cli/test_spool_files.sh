#!/usr/bin/env bash
# Spool paths that are not a usable spool: a text file, a device, a FIFO, a
# directory, a truncated spool, a spool from a newer schema version,
# another program's SQLite file, a file without permission, a mistyped
# path, a path in a missing directory, a symbolic link to a file that is
# not a spool yet (an empty one, a writer's own inbox) or to nothing. For
# each, every program that opens the spool (collector-spool put, stats,
# rejected, delete and collector-agent --once) must exit with the status
# docs/spool.md lists (66 no such spool, 73 cannot create, 74 damaged /
# not a spool / newer), say which file and what to do, and leave the file
# exactly as it was: same bytes, size and mtime, and no -wal, -shm or
# -journal file beside it. An empty file and a missing file in an existing
# directory are the documented exceptions: they become spools
# (docs/spool.md), except that read-only commands never create a missing
# spool; and a symbolic link to a spool is followed.
#
# A known bug would be pinned with TAP "# TODO" in the PIN column; none is
# open (FIFOs and devices, and paths under a regular file, were fixed).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
B=${BUILD:-build}
CS="$B/collector-spool"
AGENT="$B/collector-agent"
[ -x "$CS" ] || { echo "1..0 # SKIP collector-spool not built"; exit 0; }
command -v sqlite3 >/dev/null || { echo "1..0 # SKIP sqlite3 (the CLI) not installed"; exit 0; }
T=$(mktemp -d "${TMPDIR:-/tmp}/cs-files-XXXXXX")
trap 'rm -rf "$T"' EXIT
export LC_ALL=C
unset COLLECTOR_SPOOL COLLECTOR_SPOOL_BUSY_TIMEOUT_MS COLLECTOR_SPOOL_SYNCHRONOUS \
	PROMETHEUS_PUSHGATEWAY_URL PROMETHEUS_PUSHGATEWAY_ENABLED PROMETHEUS_JOB_NAME
ROOT=0; [ "$(id -u)" -eq 0 ] && ROOT=1

# The agent never reaches the network here: pushing is off, and the URL is
# loopback anyway.
printf 'pushgateway: { url = "http://127.0.0.1:9"; enabled = false; once_timeout = 1; };\nlisten = "";\n' >"$T/agent.conf"

# run CMD PATH: runs one program on the spool PATH; sets RC and ERR.
run() {
	local cmd=$1 p=$2
	case $cmd in
	put) "$CS" --spool "$p" put --job j 'x 1' ;;
	stats) "$CS" --spool "$p" stats ;;
	rejected) "$CS" --spool "$p" rejected ;;
	delete) "$CS" --spool "$p" delete --job j ;;
	agent) timeout -k 2 20 "$AGENT" -c "$T/agent.conf" --once --spool "$p" ;;
	esac >"$T/out" 2>"$T/err" </dev/null
	RC=$?
	ERR=$(cat "$T/err")
}

# snapshot PATH: everything about PATH that must not change: its type,
# size, mtime (ns), mode, content hash (regular files), the entries of a
# directory.
snapshot() {
	local p=$1 s
	if [ -e "$p" ] || [ -L "$p" ]; then
		stat -c '%F size=%s mtime=%.9Y mode=%a' -- "$p"
		# (A file this user may not read: size and mtime must do.)
		if [ -f "$p" ]; then { sha256sum <"$p" | cut -c1-64; } 2>/dev/null || echo unreadable; fi
		if [ -d "$p" ]; then ls -A -- "$p" | tr '\n' ' '; echo; fi
	else
		echo "absent"
	fi
}
# sides PATH: the -wal, -shm and -journal files beside PATH
sides() {
	local s out=
	for s in wal shm journal; do [ -e "$1-$s" ] && out+="$1-$s "; done
	echo "${out% }"
}

# tree: every entry under $T/case with its type and size
tree() { find "$T/case" -mindepth 1 -printf '%P:%y:%s ' | tr ' ' '\n' | sort | tr '\n' ' '; }
# fresh NAME CMD FILE: a new, empty $T/case and p=$T/case/FILE for the
# check NAME of CMD; 1, the check skipped, when CMD is the agent and it is
# not built
fresh() {
	if [ "$2" = agent ] && [ ! -x "$AGENT" ]; then
		tap_skip "$1: collector-agent not built"
		return 1
	fi
	rm -rf "$T/case"
	mkdir "$T/case"
	p="$T/case/$3"
}

# tap_pinned NAME OK PIN DIAG...: one check; with a PIN (a known bug) it is
# a TAP TODO: "not ok # TODO" while the bug is there (prove does not count
# it), "ok # TODO" once fixed (prove reports it: remove the pin).
tap_pinned() {
	local name=$1 ok=$2 pin=$3; shift 3
	if [ "$ok" = 1 ] && [ -n "$pin" ]; then
		TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $name # TODO $pin (passes now: remove the pin)"
	elif [ "$ok" = 1 ]; then
		tap_ok "$name"
	elif [ -n "$pin" ]; then
		TAP_N=$((TAP_N + 1)); echo "not ok $TAP_N - $name # TODO $pin"
		for d in "$@"; do printf '%s\n' "$d" | sed 's/^/#   /'; done
	else
		tap_fail "$name" "$@"
	fi
}

# ------------------------------------------------------------------ files
# A real spool with rows, then damaged copies of it.
"$CS" --spool "$T/real.db" put --job j 'a 1' >/dev/null
for i in $(seq 1 300); do echo "m{i=\"$i\"} $i"; done | "$CS" --spool "$T/real.db" put --job j
"$CS" --spool "$T/real.db" stats >/dev/null
# A writer leaves its rows in the -wal (docs/spool.md, "What a writer's
# close does"); the copies below are of the file alone, so the WAL goes
# into it first, as an operator would do before copying.
is "$(sides "$T/real.db")" "$T/real.db-wal $T/real.db-shm" "(setup) put and stats leave the -wal and -shm"
sqlite3 "$T/real.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
real_size=$(stat -c %s "$T/real.db")
is "$(sides "$T/real.db"):$(sqlite3 "$T/real.db" 'SELECT count(*) FROM inbox')" ":2" \
	"(setup) a real spool of $real_size bytes, its 2 rows in the file after a checkpoint"

mk_text() { printf 'hello, I am a text file\n' >"$1"; }
mk_half() { head -c $((real_size / 2)) "$T/real.db" >"$1"; }
mk_head100() { head -c 100 "$T/real.db" >"$1"; }
mk_newer() { cp "$T/real.db" "$1" && sqlite3 "$1" 'PRAGMA user_version=99'; }
mk_foreign() { sqlite3 "$1" 'CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO accounts(name) VALUES ("x")'; }
mk_dir() { mkdir "$1"; }
mk_fifo() { mkfifo "$1"; }
mk_device() { mknod "$1" c 1 3; }        # a /dev/null of our own, in $T
mk_noperm() { cp "$T/real.db" "$1" && chmod 0000 "$1"; }
mk_readonly() { cp "$T/real.db" "$1" && chmod 0444 "$1"; }
mk_missing() { :; }
mk_missing_dir() { :; }
mk_rodir() { mkdir "${1%/*}" && chmod 0555 "${1%/*}"; }
mk_notdir() { printf 'a file\n' >"${1%/*}"; }
# Symbolic links, relative, to a file beside them in the case directory.
mk_link_empty() { : >"${1%/*}/target.db" && chmod 0660 "${1%/*}/target.db" && ln -s target.db "$1"; }
mk_link_inbox() {
	sqlite3 "${1%/*}/target.db" "CREATE TABLE inbox(job, grouping, op, body); INSERT INTO inbox VALUES ('j', '', 'add', 'c 1')" &&
		ln -s target.db "$1"
}
mk_link_dangling() { ln -s nothere.db "$1"; }

ALL="put stats rejected delete agent"
RO="stats rejected"
# CASE | PATH (in $T) | MAKE | COMMANDS | STATUS | MESSAGE (%P: the path) | FIX | PIN (CHECKS=BUG) | NEEDS
cat >"$T/cases" <<'EOF'
text        | text.db         | mk_text        | ALL         | 74 | %P is not a SQLite database | move it away or point --spool/COLLECTOR_SPOOL at another path | - | -
half        | half.db         | mk_half        | ALL         | 74 | spool %P is damaged (database disk image is malformed | save what can be read with 'sqlite3 %P .dump' | - | -
first-100   | head100.db      | mk_head100     | ALL         | 74 | spool %P is damaged (database disk image is malformed | save what can be read with 'sqlite3 %P .dump' | - | -
newer       | newer.db        | mk_newer       | ALL         | 74 | spool %P has schema version 99, newer than this program knows (1); it was left untouched | upgrade collector-agent and collector-spool together | - | -
foreign     | foreign.db      | mk_foreign     | ALL         | 74 | %P is a SQLite database but not a collector spool | point --spool/COLLECTOR_SPOOL at another path | - | -
directory   | dir.db          | mk_dir         | ALL         | 73 | spool %P is a directory | give the path of a file | - | -
fifo        | fifo.db         | mk_fifo        | ALL         | 74 | %P is not a regular file | point --spool/COLLECTOR_SPOOL at another path | - | -
device      | device.db       | mk_device      | ALL         | 74 | %P is not a regular file | point --spool/COLLECTOR_SPOOL at another path | - | root
no-perm     | noperm.db       | mk_noperm      | put delete agent | 73 | spool %P is not writable (Permission denied) | fix its owner or mode, or run as a user in its group | - | user
no-perm     | noperm.db       | mk_noperm      | RO          | 73 | spool %P is not readable (Permission denied) | fix its owner or mode, or run as a user in its group | - | user
read-only   | readonly.db     | mk_readonly    | put delete agent | 73 | spool %P is not writable (Permission denied) | fix its owner or mode, or run as a user in its group | - | user
missing     | missing.db      | mk_missing     | RO          | 66 | no spool at %P | check the path (--spool, COLLECTOR_SPOOL) | - | -
missing-dir | nodir/s.db      | mk_missing_dir | RO          | 66 | no spool at %P | check the path (--spool, COLLECTOR_SPOOL) | - | -
missing-dir | nodir/s.db      | mk_missing_dir | put delete agent | 73 | cannot create spool %P (No such file or directory) | create its directory with write access for this user | - | -
ro-dir      | rodir/s.db      | mk_rodir       | RO          | 66 | no spool at %P | check the path (--spool, COLLECTOR_SPOOL) | - | user
ro-dir      | rodir/s.db      | mk_rodir       | put delete agent | 73 | cannot create spool %P (Permission denied) | create its directory with write access for this user | - | user
not-a-dir   | afile/s.db      | mk_notdir      | RO          | 66 | no spool at %P | check the path (--spool, COLLECTOR_SPOOL) | - | -
not-a-dir   | afile/s.db      | mk_notdir      | put delete agent | 73 | cannot create spool %P (Not a directory) | create its directory with write access for this user | - | -
link-empty  | link.db         | mk_link_empty  | ALL         | 74 | spool %P is a symbolic link to target.db, which is not a collector spool yet; both were left untouched | give --spool/COLLECTOR_SPOOL the path of that file if it is to become the spool, or remove the link | - | -
link-inbox  | link.db         | mk_link_inbox  | ALL         | 74 | spool %P is a symbolic link to target.db, which is not a collector spool yet; both were left untouched | give --spool/COLLECTOR_SPOOL the path of that file if it is to become the spool, or remove the link | - | -
link-dangling | link.db       | mk_link_dangling | RO        | 66 | no spool at %P | check the path (--spool, COLLECTOR_SPOOL) | - | -
link-dangling | link.db       | mk_link_dangling | put delete agent | 74 | spool %P is a symbolic link to nothere.db, which does not exist; nothing was created | give --spool/COLLECTOR_SPOOL the path where the spool is to be, or remove the link | - | -
EOF

# pinned CHECK: the bug that CHECK of the current row is pinned to, if any
pinned() { case ",$pin_checks," in *",$1,"*) echo "$pin_bug" ;; esac; }

while IFS='|' read -r cname rel mk cmds want msg fix pin needs; do
	# Trim the blanks around each field (read with the default IFS).
	for v in cname rel mk cmds want msg fix pin needs; do
		read -r "${v?}" <<<"${!v}"
	done
	case $cname in '' | '#'*) continue ;; esac
	case $cmds in ALL) cmds=$ALL ;; RO) cmds=$RO ;; esac
	pin_checks=; pin_bug=
	[ "$pin" = - ] || { pin_checks=${pin%%=*}; pin_bug=${pin#*=}; }
	for cmd in $cmds; do
		name="$cname: $cmd"
		if [ "$needs" = root ] && [ "$ROOT" -ne 1 ]; then
			tap_skip "$name: making a device node needs root"; continue
		fi
		if [ "$needs" = user ] && [ "$ROOT" -eq 1 ]; then
			tap_skip "$name: running as root, permissions do not apply"; continue
		fi
		# A fresh file for every command, so that one cannot spoil the next.
		fresh "$name" "$cmd" "$rel" || continue
		if ! "$mk" "$p" 2>"$T/mk.err"; then
			tap_skip "$name: cannot make the file here ($(head -c 120 "$T/mk.err"))"; continue
		fi
		if [ "$cname" = device ] && ! (exec 3<>"$p") 2>/dev/null; then
			tap_skip "$name: device nodes cannot be opened here (nodev mount)"; continue
		fi
		before=$(snapshot "$p")
		tree_before=$(tree)
		run "$cmd" "$p"
		after=$(snapshot "$p")
		m=${msg//%P/$p}; f=${fix//%P/$p}
		ok=0; [ "$RC" = "$want" ] && ok=1
		tap_pinned "$name: exit $want" $ok "$(pinned status)" "got exit $RC: $ERR"
		ok=0; case $ERR in *"$m"*) ok=1 ;; esac
		tap_pinned "$name: says '$m'" $ok "$(pinned msg)" "got: $ERR"
		ok=0; case $ERR in *"$f"*) ok=1 ;; esac
		tap_pinned "$name: says what to do ('$f')" $ok "$(pinned fix)" "got: $ERR"
		ok=0; [ "$before" = "$after" ] && ok=1
		tap_pinned "$name: the file is untouched (bytes, size, mtime, mode)" $ok "$(pinned untouched)" \
			"before: $before" "after:  $after"
		ok=0; s=$(sides "$p"); [ -z "$s" ] && ok=1
		tap_pinned "$name: no -wal, -shm or -journal left beside it" $ok "$(pinned sides)" "left: $s"
		ok=0; [ "$tree_before" = "$(tree)" ] && ok=1
		tap_pinned "$name: nothing created or removed around it" $ok "$(pinned sides)" \
			"before: $tree_before" "after:  $(tree)"
	done
done <"$T/cases"

# ---------------------------------------------------- documented creations
# kept CMD PATH: the files a successful CMD leaves beside the spool PATH.
# collector-spool's close leaves the WAL and its index for the next writer
# (docs/spool.md, "What a writer's close does"); the agent's, as the last
# user, checkpoints the WAL into the file and removes both.
kept() { [ "$1" = agent ] && echo "" || echo "$2-wal $2-shm"; }
# made CASE CMD MODE: CMD left the spool $p a spool (schema 1) with MODE,
# and beside it what it keeps
made() {
	is "$(sides "$p")" "$(kept "$2" "$p")" "$1: $2: beside it: '$(kept "$2" "$p")'"
	is "$(sqlite3 "$p" 'PRAGMA user_version')" 1 "$1: $2: the file is a spool (schema 1)"
	is "$(stat -c %a "$p")" "$3" "$1: $2: mode $3"
}
# A missing file in an existing directory: put and the agent create the
# spool (mode 0660 less the umask); a read-only command does not (above).
for cmd in put agent; do
	fresh "missing file: $cmd" "$cmd" new.db || continue
	(umask 0007; run "$cmd" "$p"; echo "$RC" >"$T/rc")
	is "$(cat "$T/rc")" 0 "missing file: $cmd creates the spool: exit 0"
	# 0660 less the umask (0007)
	made "missing file" "$cmd" 660
done
# An empty file (as systemd-tmpfiles makes it) gets its tables from
# whichever program opens it first, read-only commands included
# (docs/spool.md, "Let the agent create the spool").
for cmd in $ALL; do
	fresh "empty file: $cmd" "$cmd" empty.db || continue
	: >"$p"; chmod 0640 "$p"
	run "$cmd" "$p"
	is "$RC" 0 "empty file: $cmd: exit 0"
	# Its mode kept (0640, not the 0660 of a spool created anew).
	made "empty file" "$cmd" 640
done
# A symbolic link to a spool is followed: the rows land in the target, and
# SQLite keeps the -wal and -shm beside the target, so every process that
# opens either path shares them.
for cmd in $ALL; do
	fresh "link to a spool: $cmd" "$cmd" link.db || continue
	cp "$T/real.db" "$T/case/target.db"; ln -s target.db "$p"
	run "$cmd" "$p"
	is "$RC" 0 "link to a spool: $cmd: exit 0"
	is "$(readlink "$p"):$(stat -c %F "$T/case/target.db")" "target.db:regular file" \
		"link to a spool: $cmd: the link is still a link"
	is "$(sides "$p")" "" "link to a spool: $cmd: nothing beside the link"
	is "$(sides "$T/case/target.db")" "$(kept "$cmd" "$T/case/target.db")" \
		"link to a spool: $cmd: beside the target: '$(kept "$cmd" target.db)'"
done
is "$(sqlite3 "$T/case/target.db" 'SELECT count(*) FROM groups')" 1 "link to a spool: the agent folded the target's rows"
rm -rf "$T/case"; mkdir "$T/case"; cp "$T/real.db" "$T/case/target.db"; ln -s target.db "$T/case/link.db"
run put "$T/case/link.db"
is "$RC:$(sqlite3 "$T/case/target.db" "SELECT count(*) FROM inbox WHERE body = 'x 1' || char(10)")" "0:1" \
	"link to a spool: put writes its row into the target"

# The newer spool's version and the foreign file's table are still there
# after everything above tried them (belt and braces for "untouched").
rm -rf "$T/case"; mkdir "$T/case"
mk_newer "$T/case/n.db"; mk_foreign "$T/case/f.db"
for cmd in $ALL; do
	[ "$cmd" = agent ] && [ ! -x "$AGENT" ] && continue
	run "$cmd" "$T/case/n.db"; run "$cmd" "$T/case/f.db"
done
is "$(sqlite3 "$T/case/n.db" 'PRAGMA user_version'):$(sqlite3 "$T/case/n.db" 'SELECT count(*) FROM inbox')" "99:2" \
	"newer spool: version 99 and its 2 rows kept after every command"
is "$(sqlite3 "$T/case/f.db" "SELECT group_concat(name) FROM sqlite_master WHERE type='table'"):$(sqlite3 "$T/case/f.db" 'PRAGMA user_version')" \
	"accounts:0" "foreign SQLite file: still only its own table, version 0"

tap_done
