#!/usr/bin/env bash
# The Debian packaging in contrib/debian/ (make deb builds from it) parses
# and agrees with the tree, without building a package: the changelog's
# version is the Makefile's; control names the four packages and
# Build-Depends the Makefile's BUILD_PKGS; every path the *.install files
# list is one that `make install` (with the variables debian/rules gives
# it) produces, and every file that install produces is in one package;
# the symbols file lists exactly what the shared library exports; the
# maintainer scripts are valid sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
top=$(cd "$here/../.." && pwd)
B=${BUILD:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
D=$top/contrib/debian
export LC_ALL=C
T=$(mktemp -d "${TMPDIR:-/tmp}/packaging-XXXXXX")
trap 'rm -rf "$T"' EXIT

make_var() { # NAME: the Makefile's value (not the caller's make flags:
	# under make check they carry -j, B= and the directory messages)
	printf 'print-var:\n\t@echo $(%s)\n' "$1" |
		MAKEFLAGS= MAKELEVEL= make --no-print-directory -s -C "$top" \
		-f Makefile -f - print-var
}
version=$(make_var VERSION)

# changelog: dpkg-parsechangelog where dpkg-dev is installed, else the
# first line's "(VERSION)", which is where dpkg reads it from.
if command -v dpkg-parsechangelog >/dev/null; then
	if cl=$(dpkg-parsechangelog -l "$D/changelog" -S Version 2>"$T/err"); then
		tap_ok "dpkg-parsechangelog reads contrib/debian/changelog"
	else
		tap_fail "dpkg-parsechangelog reads contrib/debian/changelog" "$(cat "$T/err")"
	fi
else
	cl=$(sed -n '1s/^collector-agent (\([^)]*\)) [a-z-]*; urgency=[a-z]*$/\1/p' "$D/changelog")
	tap_skip "dpkg-parsechangelog (dpkg-dev) not installed; first line read"
fi
is "$cl" "$version" "the changelog's version is the Makefile's VERSION"
is "$(cat "$D/source/format")" "3.0 (native)" "source format 3.0 (native)"

# control: RFC 822 paragraphs.
if command -v python3 >/dev/null; then
	python3 - "$D/control" >"$T/control" 2>&1 <<'PY'
import email.parser, re, sys
text = open(sys.argv[1]).read()
paras = [email.parser.Parser().parsestr(p) for p in re.split(r"\n\s*\n", text.strip())]
src, bins = paras[0], paras[1:]
print("source", src["Source"])
bd = [re.sub(r"\s*\(.*", "", d.strip()) for d in src["Build-Depends"].split(",") if d.strip()]
print("build-depends", " ".join(sorted(d for d in bd if d != "debhelper-compat")))
print("compat", "debhelper-compat" in bd)
for p in bins:
    missing = [f for f in ("Package", "Architecture", "Description") if not p[f]]
    print("package", p["Package"], "missing:" + ",".join(missing) if missing else "")
PY
	is "$(sed -n 's/^source //p' "$T/control")" "collector-agent" "control: source collector-agent"
	is "$(sed -n 's/^package //p' "$T/control" | tr '\n' ' ')" \
		"collector-agent  libcollector-spool0  libcollector-spool-dev  python3-collector-spool  " \
		"control: the four packages, each with Architecture and Description"
	want=$(make_var BUILD_PKGS | tr ' ' '\n' | sed '/^$/d' | sort | tr '\n' ' ')
	is "$(sed -n 's/^build-depends //p' "$T/control") " "$want" \
		"control: Build-Depends are the Makefile's BUILD_PKGS"
	is "$(sed -n 's/^compat //p' "$T/control")" "True" "control: Build-Depends debhelper-compat"
else
	tap_skip "python3 not installed: control not parsed"
fi

for s in "$D"/*.postinst "$D"/*.postrm; do
	if sh -n "$s" 2>"$T/err"; then tap_ok "sh -n ${s#"$top"/}"
	else tap_fail "sh -n ${s#"$top"/}" "$(cat "$T/err")"; fi
done

# make install as debian/rules runs it: its INSTALL_VARS line (continued
# with backslashes), the multiarch triplet filled in.
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || ${CC:-cc} -print-multiarch 2>/dev/null)
vars=$(sed -n '/^INSTALL_VARS *=/,/[^\\]$/p' "$D/rules" | sed 's/^INSTALL_VARS *= *//; s/\\$//' |
	tr -s '\n ' '  ' | sed "s|\$(DEB_HOST_MULTIARCH)|$ma|g; s/ *$//")
if [ ! -x "$B/collector-spool" ] || [ ! -x "$B/collector-agent" ]; then
	tap_skip "not built: make install not run"
	tap_done; exit
fi
like "$vars" "PREFIX=/usr" "debian/rules: INSTALL_VARS read ($vars)"
# shellcheck disable=SC2086 # $vars is a list of VAR=VALUE words
if MAKEFLAGS= MAKELEVEL= make --no-print-directory -s -C "$top" B="$B" $vars DESTDIR="$T/root" install >"$T/install.log" 2>&1; then
	tap_ok "make install DESTDIR=... $vars"
else
	tap_bail "make install DESTDIR=... $vars" "$(tail -20 "$T/install.log")"
fi
(cd "$T/root" && find . ! -type d | sed 's|^\./||' | sort) >"$T/installed"
: >"$T/listed"
for f in "$D"/*.install; do
	pkg=$(basename "$f" .install)
	bad=
	while read -r pat; do
		[ -n "$pat" ] || continue
		# A pattern is a path, a glob or a directory (everything below).
		# shellcheck disable=SC2086 # the glob expands
		matches=$(cd "$T/root" && for m in $pat; do [ -e "$m" ] || [ -L "$m" ] && echo "$m"; done)
		if [ -z "$matches" ]; then bad="$bad $pat"; continue; fi
		for m in $matches; do
			if [ -d "$T/root/$m" ] && [ ! -L "$T/root/$m" ]; then
				(cd "$T/root" && find "$m" ! -type d)
			else
				echo "$m"
			fi
		done | sed 's|/\{2,\}|/|g' >>"$T/listed"
	done <"$f"
	if [ -z "$bad" ]; then tap_ok "$pkg.install: every entry is installed by make install"
	else tap_fail "$pkg.install: every entry is installed by make install" "not installed:$bad"; fi
done
unlisted=$(sort -u "$T/listed" | comm -23 "$T/installed" -)
is "$unlisted" "" "every file make install installs is in a package's .install"

# The symbols file and the library's dynamic symbols (what SPOOL_API
# exports), both sorted.
so=$(ls "$T/root/usr/lib/$ma"/libcollector-spool.so.*.* 2>/dev/null | head -1)
if command -v nm >/dev/null && [ -n "$so" ]; then
	got=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort | tr '\n' ' ')
	want=$(sed -n 's/^ \([^@]*\)@Base .*/\1/p' "$D/libcollector-spool0.symbols" | sort | tr '\n' ' ')
	is "$got" "$want" "libcollector-spool0.symbols lists what the library exports"
else
	tap_skip "nm or the installed library missing: symbols not compared"
fi
tap_done
