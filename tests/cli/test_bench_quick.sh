#!/usr/bin/env bash
# make bench BENCH_QUICK=1 (tests/bench/run --quick), the bench at small
# sizes and short windows: it runs to its end, and every row of its three
# tables printed a figure, so that the bench cannot break unnoticed. No
# speed is asserted: a test machine's figures say nothing; that the bench
# still measures everything does.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
B=${BUILD:-build}
cd "$here/../.." || exit 1
for f in "$B/collector-spool" "$B/collector-agent" "$B/tests/bench_spool"; do
	[ -x "$f" ] || { echo "1..0 # SKIP $f not built"; exit 0; }
done
for c in /usr/bin/prometheus-pushgateway /usr/bin/python3 curl sqlite3; do
	command -v "$c" >/dev/null || { echo "1..0 # SKIP $c not installed"; exit 0; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/cs-benchq-XXXXXX")
trap 'rm -rf "$T"' EXIT

# Bounded: the run stops itself well within this; the bench's own helpers
# stop what they start.
BENCH_ROWS_FILE="$T/rows" timeout -k 10 300 tests/bench/run "$B" --quick >"$T/out" 2>&1
RC=$?
is "$RC" 0 "tests/bench/run --quick exits 0"
[ "$RC" = 0 ] || tail -40 "$T/out" | sed 's/^/# /'

# The rows, table by table (tests/bench/run writes TABLE|ROW|FIGURE|MARK).
is "$(cut -d'|' -f1 "$T/rows" | uniq -c | awk '{ printf "%s%s:%s", (n++ ? " " : ""), $2, $1 }')" \
	"spool:7 process:7 ratios:9" "the three tables have all their rows"
# The quick run leaves out the fold of 1,000,000 one-line rows, and says so.
notrun="fold, add rows of 1 line|fold, 1-line add rows: C / python lines/s"
while IFS='|' read -r table label figure _; do
	case $figure in
	"not run (quick)")
		case "|$notrun|" in
		*"|$label|"*) tap_ok "$table: $label: not run in the quick run, as it says" ;;
		*) tap_fail "$table: $label: printed a figure" "got: not run (quick)" ;;
		esac ;;
	"" | "-" | *" -" | "- "* | *" - "*)
		tap_fail "$table: $label: printed a figure" "got: '$figure'" ;;
	*) tap_ok "$table: $label: printed a figure ($figure)" ;;
	esac
done <"$T/rows"
tap_done
