#!/usr/bin/env bash
# The Dockerfile's package lists against the Makefile's, so that a new
# dependency cannot be added to one and forgotten in the other. No image is
# built (make check-container does that); this reads files and dpkg's
# database, in a second.
#
# What "match" means, exactly:
# - the build stage's BUILD_PKGS is the Makefile's BUILD_PKGS (same set);
# - the runtime stage's RUNTIME_PKGS is the run-time library of every -dev
#   package in BUILD_PKGS (the dependency it pins with "(= version)", the
#   library built from the same source), plus the two packages the image
#   needs for itself: ca-certificates (an https:// gateway) and curl (the
#   HEALTHCHECK);
# - each stage installs its list and nothing else (the only apt-get install
#   lines are `apt-get install ... $BUILD_PKGS` and `... $RUNTIME_PKGS`);
# - the stages start from the BUILD_BASE and BASE arguments, defaulting to
#   Debian 12 (bookworm), whose package names these are.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
top=$(cd "$here/../.." && pwd)
dockerfile=$top/contrib/Dockerfile
export LC_ALL=C

# words: one word a line, sorted, for comparing sets.
words() { tr -s '[:space:]\\' '\n' | grep . | sort -u; }
# arg NAME: the default of `ARG NAME="..."` (or ARG NAME=word) in the Dockerfile
arg() { sed -n "s/^ARG $1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$dockerfile"; }
# makevar NAME: the Makefile's value, as make reads it (not the caller's
# make flags: under make check they would carry -j and B=)
makevar() {
	MAKEFLAGS= MAKELEVEL= make -s --no-print-directory -C "$top" --eval 'print-var-%: ; @echo $($*)' "print-var-$1"
}
oneline() { tr '\n' ' ' | sed 's/ $//'; }

build_df=$(arg BUILD_PKGS | words)
build_mk=$(makevar BUILD_PKGS | words)
[ -n "$build_df" ] || tap_bail "Dockerfile has ARG BUILD_PKGS"
[ -n "$build_mk" ] || tap_bail "Makefile has BUILD_PKGS"
is "$(echo "$build_df" | oneline)" "$(echo "$build_mk" | oneline)" \
	"build stage's BUILD_PKGS = the Makefile's BUILD_PKGS"

runtime_df=$(arg RUNTIME_PKGS | words)
[ -n "$runtime_df" ] || tap_bail "Dockerfile has ARG RUNTIME_PKGS"
# The run-time library of each -dev package: the dependency it pins to its
# own version. Read from dpkg's database (make deps installs BUILD_PKGS),
# else from apt's.
libs='' unknown=''
for p in $(echo "$build_mk" | grep -- '-dev$'); do
	dep=$(dpkg-query -W -f='${Depends}' "$p" 2>/dev/null) ||
		dep=$(apt-cache show --no-all-versions "$p" 2>/dev/null | sed -n 's/^Depends: //p')
	lib=$(printf '%s\n' "$dep" | tr ',' '\n' | sed -n 's/^ *\([a-z0-9][a-z0-9.+-]*\) (= .*/\1/p')
	if [ -z "$lib" ]; then unknown="$unknown $p"; else libs="$libs $lib"; fi
done
if [ -n "$unknown" ] && [ -z "$libs" ]; then
	tap_skip "runtime libraries: neither dpkg nor apt knows the -dev packages"
else
	is "$unknown" "" "every -dev package of BUILD_PKGS pins its run-time library"
	want=$(echo "$libs ca-certificates curl" | words)
	is "$(echo "$runtime_df" | oneline)" "$(echo "$want" | oneline)" \
		"runtime stage's RUNTIME_PKGS = the -dev packages' libraries + ca-certificates curl"
fi

# Each stage installs its list, nothing more.
installs=$(grep -E 'apt-get install' "$dockerfile" | sed 's/.*--no-install-recommends *//; s/ *\\$//' | oneline)
is "$installs" '$BUILD_PKGS $RUNTIME_PKGS' \
	"the only installs are \$BUILD_PKGS (build stage) then \$RUNTIME_PKGS (runtime)"
# curl is in the runtime list for the HEALTHCHECK: it must still use it.
like "$(grep -A1 '^HEALTHCHECK' "$dockerfile")" "curl " "the HEALTHCHECK uses curl (why RUNTIME_PKGS has it)"

froms=$(sed -n 's/^FROM \([^ ]*\).*/\1/p' "$dockerfile" | oneline)
is "$froms" '${BUILD_BASE} ${BASE}' "the stages start FROM \${BUILD_BASE} and \${BASE}"
is "$(arg BUILD_BASE) $(arg BASE)" "debian:bookworm debian:bookworm-slim" \
	"BUILD_BASE and BASE default to Debian 12, whose package names the lists use"

tap_done
