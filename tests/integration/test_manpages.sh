#!/usr/bin/env bash
# The manual pages in docs/man: each renders cleanly (mandoc -T lint at
# warning level prints nothing; groff through man --warnings is silent when
# man is installed) and covers what the sources define, read from the
# sources themselves so that a new option, setting, variable, command,
# metric or exit status that the pages do not document fails here:
#   collector-agent.8       agent/main.c's long and short options, cfg.c's
#                           environment names, the self-metrics families,
#                           every exit status the agent can return
#   collector-agent.conf.5  every row of cfg.c's settings table, with its
#                           range and default as the table gives them
#   collector-spool.1       spool/cli.c's commands, options, environment
#                           and exit statuses
# The checks go both ways where a page has a list of its own (options,
# settings, commands, metrics, exit statuses): nothing documented that the
# code does not have. Needs only mandoc (and sed, awk, grep); no build.
set -u
. "$(dirname "$0")/lib.sh"

command -v mandoc >/dev/null || { echo "1..0 # SKIP mandoc not installed"; exit 0; }

ROOT=$(cd "$INT_DIR/../.." && pwd)
MAN="$ROOT/docs/man"
AGENT8="$MAN/collector-agent.8"
SPOOL1="$MAN/collector-spool.1"
CONF5="$MAN/collector-agent.conf.5"
MAIN_C="$ROOT/agent/main.c"
CFG_C="$ROOT/agent/cfg.c"
CLI_C="$ROOT/spool/cli.c"
SPOOL_C="$ROOT/spool/spool.c"
SPOOL_H="$ROOT/spool/collector-spool.h"

# same_set NAME WANT GOT: ok when the two newline-separated lists hold the
# same words; otherwise says which are missing and which are extra.
same_set() {
	local name=$1 want got missing extra
	want=$(printf '%s\n' "$2" | sed '/^$/d' | LC_ALL=C sort -u)
	got=$(printf '%s\n' "$3" | sed '/^$/d' | LC_ALL=C sort -u)
	if [ "$want" = "$got" ]; then
		tap_ok "$name"
		return
	fi
	missing=$(LC_ALL=C comm -23 <(echo "$want") <(echo "$got") | tr '\n' ' ')
	extra=$(LC_ALL=C comm -13 <(echo "$want") <(echo "$got") | tr '\n' ' ')
	tap_fail "$name" "in the sources, not in the page: ${missing:-none}" \
		"in the page, not in the sources: ${extra:-none}"
}

# none_missing LIST NAME / none_wrong LIST NAME: ok when LIST is blank,
# else a failure that shows it
none_missing() {
	if [ -z "${1// /}" ]; then tap_ok "$2"; else tap_fail "$2" "missing:${1}"; fi
}
none_wrong() {
	if [ -z "${1// /}" ]; then tap_ok "$2"; else tap_fail "$2" "wrong or missing:${1}"; fi
}

# plain PAGE: the page rendered as plain ASCII text (no overstrikes)
plain() { mandoc -T ascii "$1" 2>/dev/null | sed -e 's/.\x08//g'; }

# section PAGE TITLE: the rendered text of one .Sh section
section() {
	plain "$1" | awk -v t="$2" '
		/^[A-Z][A-Z ]*$/ { on = ($0 == t); next }
		on { print }'
}

# entry TEXT TAG: the text of the tagged list item TAG (tag lines start at
# column 6; the tag may go on with " (type)" or "{labels}") up to the next
# item at that indent, as one line with blanks squeezed
entry() {
	printf '%s\n' "$1" | awk -v tag="$2" '
		/^     [^ ]/ { c = substr($0, length(tag) + 6, 1)
			on = (index($0, "     " tag) == 1 &&
			(c == "" || c == " " || c == "{")) }
		on { print }' | tr -s ' \t\n' '   '
}

# ------------------------------------------------------------- rendering

for page in "$AGENT8" "$SPOOL1" "$CONF5"; do
	p=${page#"$ROOT/"}
	if [ ! -f "$page" ]; then
		tap_fail "$p exists"
		continue
	fi
	out=$(mandoc -T lint -W warning "$page" 2>&1)
	is "$out" "" "$p: mandoc -T lint -W warning prints nothing"
	n=$(mandoc -T utf8 "$page" 2>/dev/null | wc -c)
	check "$p: mandoc -T utf8 renders it ($n bytes)" [ "$n" -gt 1000 ]
	if command -v man >/dev/null && command -v groff >/dev/null; then
		out=$(MANWIDTH=80 MANPAGER=cat man --warnings -l "$page" 2>&1 >/dev/null)
		is "$out" "" "$p: man --warnings (groff) is silent"
	else
		tap_skip "$p: man --warnings: man or groff not installed"
	fi
	secs="|$(plain "$page" | grep -E '^[A-Z][A-Z ]*$' | tr '\n' '|')"
	want=(NAME DESCRIPTION FILES EXAMPLES "SEE ALSO")
	[ "$page" = "$CONF5" ] || want+=(SYNOPSIS ENVIRONMENT "EXIT STATUS")
	missing=
	for s in "${want[@]}"; do
		case $secs in *"|$s|"*) ;; *) missing="$missing [$s]" ;; esac
	done
	none_missing "$missing" "$p: has the usual sections"
done

# ------------------------------------------------ collector-agent(8): options

# The long options of main()'s getopt_long table.
long_opts=$(awk '/static const struct option opts\[\]/,/^\t};/' "$MAIN_C" |
	grep -oE '\{ "[a-z][a-z-]*"' | sed 's/{ "//; s/"//')
is "$(echo "$long_opts" | wc -w)" 16 "agent/main.c: 16 long options read from the getopt_long table"
# Every documented option is an item of the option list: .It Fl ... -name
page_long=$(grep -E '^\.It Fl ' "$AGENT8" | grep -oE 'Fl -[a-z][a-z-]*' | sed 's/^Fl -//')
same_set "collector-agent.8: the option list has every long option, no other" \
	"$long_opts" "$page_long"
short_opts=$(grep -oE 'getopt_long\(argc, argv, "[^"]*"' "$MAIN_C" |
	sed 's/.*"\(.*\)"/\1/; s/[^A-Za-z]//g' | fold -w1)
is "$(echo "$short_opts" | tr -d '\n')" "ctVh" "agent/main.c: short options ctVh"
page_short=$(grep -E '^\.It Fl ' "$AGENT8" | grep -oE 'Fl [A-Za-z]( |$)' | sed 's/^Fl //; s/ $//')
same_set "collector-agent.8: the option list has every short option, no other" \
	"$short_opts" "$page_short"
synopsis=$(section "$AGENT8" SYNOPSIS | tr -s ' \n' '  ')
miss=
for o in $long_opts; do
	case $o in config | check-config | version | help) continue ;; esac
	case $synopsis in *"--$o"*) ;; *) miss="$miss --$o" ;; esac
done
none_missing "$miss" "collector-agent.8: SYNOPSIS shows every option"

# ----------------------------------------- collector-agent(8): environment

# The environment names docs/agent.md lists, as cfg.c reads them (env_names[]).
env_names=$(awk '/env_names\[E_N\] = \{/,/^\};/' "$CFG_C" | grep -oE '"[A-Z_]+"' | tr -d '"')
is "$(echo "$env_names" | wc -w)" 9 "agent/cfg.c: the 9 environment names of docs/agent.md"
env_text=$(section "$AGENT8" ENVIRONMENT)
page_env=$(grep -E '^\.It Ev ' "$AGENT8" | grep -oE 'Ev [A-Z_]+' | sed 's/^Ev //')
miss=
for v in $env_names; do
	echo "$page_env" | grep -qx "$v" || miss="$miss $v"
done
none_missing "$miss" "collector-agent.8: ENVIRONMENT has an item for every variable"
miss=
for v in $env_names; do
	case $env_text in *"$v"*) ;; *) miss="$miss $v" ;; esac
done
none_missing "$miss" "collector-agent.8: ENVIRONMENT names every variable"
# ENVIRONMENT lists exactly those and what the agent reads with getenv()
# (systemd's notification variables).
agent_getenv=$(grep -hoE 'getenv\("[A-Z_]+"\)' "$ROOT"/agent/*.c | sed 's/.*"\(.*\)".*/\1/')
same_set "collector-agent.8: ENVIRONMENT has every variable the agent reads, no other" \
	"$env_names"$'\n'"$agent_getenv" "$page_env"
# Also in the usage text, so --help and the page agree.
miss=
for v in $env_names; do grep -q "$v" "$MAIN_C" || miss="$miss $v"; done
none_missing "$miss" "agent/main.c: --help names every variable"

# --------------------------------------- collector-agent(8): self-metrics

# The families of the agent's own metrics, from their tables.
self=$(grep -hoE '\{ SELFM?_PREFIX "[a-z_]+"' "$ROOT"/agent/*.c |
	sed 's/.*"\(.*\)"/collector_agent_\1/' | LC_ALL=C sort -u)
check "agent/*.c: the self-metrics tables are found ($(echo "$self" | wc -w) families)" \
	[ "$(echo "$self" | wc -w)" -ge 12 ]
page_self=$(grep -E '^\.It Li collector_agent_' "$AGENT8" |
	grep -oE 'collector_agent_[a-z_]+' | LC_ALL=C sort -u)
same_set "collector-agent.8: every self-metric family is listed, no other" \
	"$self" "$page_self"
# The request results: the res[] table that pushes_total (and the remote
# write requests) are rendered from.
results=$(awk '/const res\[\] = \{/,/\};/' "$ROOT"/agent/selfm.c |
	grep -oE 'result=\\"[a-z]+\\"' | sed 's/.*=\\"\(.*\)\\"/\1/' | LC_ALL=C sort -u)
pushes=$(entry "$(section "$AGENT8" DESCRIPTION)" "collector_agent_pushes_total")
miss=
for r in $results; do
	case $pushes in *" $r"[,\ .]*) ;; *) miss="$miss $r" ;; esac
done
none_missing "$miss" "collector-agent.8: pushes_total lists its result values (${results//$'\n'/ })"

# ------------------------------------------------ exit statuses (sysexits.h)

# exits FILE...: the numbers of the EX_ names used in the files
exits() {
	local names n
	names=$(grep -hoE '\bEX_[A-Z]+\b' "$@" | LC_ALL=C sort -u)
	for n in $names; do
		awk -v n="$n" '$1 == "#define" && $2 == n { print $3 }' /usr/include/sysexits.h
	done | LC_ALL=C sort -un
}
# page_exits PAGE: the tags of the EXIT STATUS list
page_exits() { section "$1" "EXIT STATUS" | grep -oE '^     [0-9]+' | tr -d ' ' | LC_ALL=C sort -un; }
spool_exit_fn=$(awk '/^spool_exit_status\(/,/^}/' "$SPOOL_C")
if [ -r /usr/include/sysexits.h ]; then
	agent_exits=$( { exits "$ROOT"/agent/*.c
		grep -q spool_exit_status "$ROOT"/agent/*.c && exits <(echo "$spool_exit_fn"); } |
		LC_ALL=C sort -un)
	same_set "collector-agent.8: EXIT STATUS lists every status the agent returns" \
		"$agent_exits" "$(page_exits "$AGENT8")"
	spool_exits=$( { exits "$CLI_C"; exits <(echo "$spool_exit_fn"); } | LC_ALL=C sort -un)
	same_set "collector-spool.1: EXIT STATUS lists every status the tool returns" \
		"$spool_exits" "$(page_exits "$SPOOL1")"
else
	tap_skip "collector-agent.8: exit statuses: no /usr/include/sysexits.h"
	tap_skip "collector-spool.1: exit statuses: no /usr/include/sysexits.h"
fi

# --------------------------------------------- collector-agent.conf(5): keys

# Every row of cfg.c's table, one per line: the row's text joined. The
# rows of HTTP_ROWS(sec, f) are expanded for each section that uses it.
rows=$(awk '
	/^static const row rows\[\] = \{/ { in_tab = 1; next }
	in_tab && /^\};/ { in_tab = 0 }
	/^#define HTTP_ROWS/ { in_mac = 1 }
	{ line = $0; sub(/\\$/, "", line) }
	(in_tab || in_mac) && /\{ \.path = / { buf = "" ; on = 1 }
	on { buf = buf " " line }
	on && /\}/ { print (in_mac ? "MACRO" : "ROW") buf; on = 0 }
	in_mac && !/\\$/ { in_mac = 0 }
	in_tab && /HTTP_ROWS\("/ { match($0, /HTTP_ROWS\("[a-z_]+"/);
		print "SECTION " substr($0, RSTART + 11, RLENGTH - 12) }
' "$CFG_C")
keys=$(
	echo "$rows" | grep '^ROW' | grep -oE '\.path = "[a-z_.]+"' | sed 's/.*"\(.*\)"/\1/'
	for sec in $(echo "$rows" | awk '$1 == "SECTION" { print $2 }'); do
		echo "$rows" | grep '^MACRO' | grep -oE '\.path = sec "\.[a-z_]+"' |
			sed "s/.*\"\\.\\(.*\\)\"/$sec.\\1/"
	done)
is "$(echo "$keys" | wc -w)" 40 "agent/cfg.c: 40 settings read from the table (HTTP_ROWS expanded)"
page_keys=$(grep -E '^\.It Cm ' "$CONF5" | awk '{ print $3 }')
same_set "collector-agent.conf.5: an item for every setting of the table, no other" \
	"$keys" "$page_keys"

# Ranges and defaults of the numeric rows, and string defaults, as the
# table writes them: "MIN to MAX" and "Default VALUE" in the item.
conf_text=$(plain "$CONF5")
default_path=$(sed -n 's/^#define SPOOL_DEFAULT_PATH "\(.*\)"/\1/p' "$SPOOL_H")
bad=
nchecked=0
while IFS= read -r row; do
	key=$(echo "$row" | grep -oE '\.path = "[a-z_.]+"' | sed 's/.*"\(.*\)"/\1/')
	type=$(echo "$row" | grep -oE '\.type = T_[A-Z]+' | sed 's/.*= //')
	text=$(entry "$conf_text" "$key")
	case $type in
	T_NUM | T_INT)
		min=$(echo "$row" | grep -oE '\.min = [0-9.]+' | sed 's/.*= //')
		max=$(echo "$row" | grep -oE '\.max = [0-9.]+' | sed 's/.*= //')
		dnum=$(echo "$row" | grep -oE '\.dnum = [0-9.]+' | sed 's/.*= //')
		case $text in *" $min to $max"[\ ,.\;]*) ;; *) bad="$bad $key(range $min to $max)" ;; esac
		case $text in *"Default ${dnum:-0}."*) ;; *) bad="$bad $key(default ${dnum:-0})" ;; esac
		nchecked=$((nchecked + 1)) ;;
	*)
		dstr=$(echo "$row" | grep -oE '\.dstr = ("[^"]*"|SPOOL_DEFAULT_PATH)' | sed 's/^\.dstr = //')
		[ -n "$dstr" ] || continue
		[ "$dstr" = SPOOL_DEFAULT_PATH ] && dstr="\"$default_path\""
		case $text in *"Default $dstr"*) ;; *) bad="$bad $key(default $dstr)" ;; esac
		nchecked=$((nchecked + 1)) ;;
	esac
done < <(echo "$rows" | grep '^ROW')
none_wrong "$bad" "collector-agent.conf.5: ranges and defaults as in the table ($nchecked settings)"
is "$nchecked" 15 "agent/cfg.c: 15 settings with a range or a string default"

# Every setting that a flag or an environment variable can give names
# them in its item (ovrs[] in cfg.c; its E_ indexes follow env_names[]).
e_enum=$(tr '\n\t' '  ' <"$CFG_C" | grep -oE 'E_URL, [A-Z_, ]+E_N' | tr -d ',')
bad=
nover=0
while read -r key envidx flag; do
	text=$(entry "$conf_text" "$key")
	[ "$flag" = NULL ] || case $text in *"$flag"*) ;; *) bad="$bad $key($flag)" ;; esac
	if [ "$envidx" != -1 ]; then
		i=0
		for e in $e_enum; do
			[ "$e" = "$envidx" ] && break
			i=$((i + 1))
		done
		v=$(echo "$env_names" | sed -n "$((i + 1))p")
		case $text in *"$v"*) ;; *) bad="$bad $key(${v:-$envidx?})" ;; esac
	fi
	nover=$((nover + 1))
done < <(awk '/^static const ovr ovrs\[\] = \{/,/^\};/' "$CFG_C" | tr '\n' ' ' |
	grep -oE '\{ "[a-z_.]+", [A-Z_0-9-]+, ("--[a-z-]+"|NULL)' |
	sed 's/{ "\([^"]*\)", \([^,]*\), "*\([^"]*\)"*/\1 \2 \3/')
none_wrong "$bad" "collector-agent.conf.5: each setting names its flag and variable ($nover settings)"

# -------------------------------------------- collector-spool(1): commands

cmds=$(grep -oE 'strcmp\(cmd, "[a-z]+"\) == 0' "$CLI_C" | sed 's/.*"\(.*\)".*/\1/')
is "$(echo "$cmds" | wc -w)" 5 "spool/cli.c: 5 commands (put, stats, rejected, show, delete)"
page_cmds=$(section "$SPOOL1" SYNOPSIS | grep -oE '^ *collector-spool \[--spool path\] [a-z]+' |
	awk '{ print $NF }')
same_set "collector-spool.1: SYNOPSIS has every command, no other" "$cmds" "$page_cmds"
desc=$(section "$SPOOL1" DESCRIPTION)
miss=
for c in $cmds; do
	echo "$desc" | grep -qE "^     $c( |\$)" || miss="$miss $c"
done
none_missing "$miss" "collector-spool.1: DESCRIPTION has an item for every command"
# Every option of every getopt table in cli.c, and --json.
spool_opts=$( { grep -oE '\{ "[a-z][a-z-]*", (required|no)_argument' "$CLI_C" |
	sed 's/{ "\([^"]*\)".*/\1/'
	grep -oE 'strcmp\(argv\[i\], "--[a-z]+"\)' "$CLI_C" | sed 's/.*"--\(.*\)".*/\1/'; } |
	LC_ALL=C sort -u)
miss=
for o in $spool_opts; do
	grep -qE "Fl -$o( |\$)" "$SPOOL1" || miss="$miss --$o"
done
none_missing "$miss" "collector-spool.1: every option (${spool_opts//$'\n'/ })"
spool_env=$(grep -oE 'getenv\("[A-Z_]+"\)' "$CLI_C" | sed 's/.*"\(.*\)".*/\1/' | LC_ALL=C sort -u)
page_spool_env=$(grep -E '^\.It Ev ' "$SPOOL1" | grep -oE 'Ev [A-Z_]+' | sed 's/^Ev //')
same_set "collector-spool.1: ENVIRONMENT has every variable the tool reads, no other" \
	"$spool_env" "$page_spool_env"

tap_done
