#!/usr/bin/env bash
# `make install`: the installed tree, file by file; the installed header
# and libraries hold the writers' API and nothing else; the units pass
# `systemd-analyze verify`; sysusers and tmpfiles give the spool directory
# its owner and mode; programs built against the installed .pc (shared and
# static) link and write rows; the shell and Python writer examples write
# rows; the Python package collector_spool lands where Debian's python3
# imports it; the installed agent delivers all of them with exact values; the
# container files agree with the Makefile and the built programs.
#
# It installs what $BUILD holds and never builds: `make -o all` (for
# build/asan a rebuild here would drop the sanitizer flags).
set -u
. "$(dirname "$0")/lib.sh"
need agent gateway

ROOT=$(pwd)
D="$T/destdir"          # make install DESTDIR=$D PREFIX=/usr
P="$T/prefix"           # make install PREFIX=$P: units that name real paths
VERSION=$(sed -n 's/^VERSION *:= *//p' Makefile)
SOVERSION=$(sed -n 's/^SOVERSION *:= *//p' Makefile)
EX="$ROOT/contrib/examples"

# install LOGNAME ARG...: make install from $BUILD without building; the
# caller's make flags (a jobserver, variables of `make asan`) stay out.
install_tree() {
	local log="$T/$1.log"; shift
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		make -C "$ROOT" -s -o all install B="$BUILD" "$@" >"$log" 2>&1 ||
		{ diag_file "$log"; return 1; }
}

check "make install DESTDIR=... PREFIX=/usr" install_tree destdir DESTDIR="$D" PREFIX=/usr
check "make install PREFIX=\$T/prefix" install_tree prefix PREFIX="$P"
[ -x "$D/usr/bin/collector-agent" ] || { tap_fail "nothing installed; stopping"; tap_done; exit 1; }
# From here on the installed programs run (lib.sh's run_agent, spool_stat).
# shellcheck disable=SC2034
AGENT="$D/usr/bin/collector-agent"
# shellcheck disable=SC2034
CS="$D/usr/bin/collector-spool"

# ------------------------------------------------------------ the tree
# Every file and symlink, with its mode or target; directories follow.
{
	printf '%s\n' "etc/collector-agent/collector-agent.conf 644" \
		"usr/bin/collector-agent 755" "usr/bin/collector-spool 755" \
		"usr/include/collector-spool.h 644" \
		"usr/lib/libcollector-spool.a 644" \
		"usr/lib/libcollector-spool.so -> libcollector-spool.so.$SOVERSION" \
		"usr/lib/libcollector-spool.so.$SOVERSION -> libcollector-spool.so.$VERSION" \
		"usr/lib/libcollector-spool.so.$VERSION 755" \
		"usr/lib/pkgconfig/collector-spool.pc 644" \
		"usr/lib/python3/dist-packages/collector_spool/__init__.py 644" \
		"usr/lib/sysusers.d/collector-agent.conf 644" \
		"usr/lib/tmpfiles.d/collector-agent.conf 644" \
		"usr/share/doc/collector-agent/examples/collector-agent.conf 644" \
		"usr/share/doc/collector-agent/examples/env.example 644" \
		"usr/share/doc/collector-agent/examples/writer.c 644" \
		"usr/share/doc/collector-agent/examples/writer.py 755" \
		"usr/share/doc/collector-agent/examples/writer.sh 755"
	for u in systemd/*.service.in systemd/*.timer.in; do
		u=${u##*/}; echo "usr/lib/systemd/system/${u%.in} 644"
	done
	for m in docs/man/*.[158]; do
		[ -f "$m" ] || continue
		echo "usr/share/man/man${m##*.}/${m##*/} 644"
	done
} | LC_ALL=C sort >"$T/tree.want"
find "$D" \( -type f -printf '%P %m\n' \) -o \( -type l -printf '%P -> %l\n' \) |
	LC_ALL=C sort >"$T/tree.got"
if diff -u "$T/tree.want" "$T/tree.got" >"$T/tree.diff"; then
	tap_ok "the installed tree is exactly the expected files, modes and links"
else
	tap_fail "the installed tree is exactly the expected files, modes and links"
	diag_file "$T/tree.diff" 60
fi
for f in collector-agent collector-spool; do
	check "$f: installed as built (not stripped, not rebuilt)" cmp -s "$BUILD/$f" "$D/usr/bin/$f"
done
like "$("$D/usr/bin/collector-spool" --version)" "collector-spool $VERSION " "installed collector-spool runs: --version"
like "$("$D/usr/bin/collector-agent" --version)" "collector-agent $VERSION " "installed collector-agent runs: --version"
check "header installed unchanged" cmp -s spool/collector-spool.h "$D/usr/include/collector-spool.h"

# ------------------------------------------- what the library exports
# The installed header is the writers' API, and the installed libraries
# export it and nothing else: not the agent's calls (spool/spool-agent.h),
# not the test hooks (spool/spool-test.h), not the library's internals
# (expo_*, hmap_*, spool_int.h). Names are the calls the headers declare
# (a declaration starts its line; comments and struct members do not).
declared() { grep -hE '^[A-Za-z]' "$@" | grep -oE '\<spool_[a-z0-9_]+\(' | tr -d '(' | LC_ALL=C sort -u; }
declared "$D/usr/include/collector-spool.h" >"$T/api"
declared spool/spool-agent.h spool/spool-test.h >"$T/private"
is "$(grep -cx 'spool_open\|spool_put' "$T/api")/$(grep -cx 'spool_fold\|spool_series_value' "$T/private")" \
	2/2 "the headers' calls are read: spool_open, spool_put installed; spool_fold, spool_series_value not"
is "$(LC_ALL=C comm -12 "$T/api" "$T/private" | tr '\n' ' ')" "" \
	"the installed header declares no call of spool-agent.h or spool-test.h"
is "$(grep -nE '\<(test_[a-z_]*|spool_test_[a-z_]*)\>' "$D/usr/include/collector-spool.h")" "" \
	"the installed header has no test hook"
# A sanitized build adds the sanitizers' own symbols; they are not ours.
ours() { grep -vE '^(__(asan|ubsan|sanitizer|odr_asan|sancov|lsan)|_init$|_fini$)'; }
so="$D/usr/lib/libcollector-spool.so.$VERSION"
nm -D --defined-only "$so" | awk 'NF == 3 && $2 ~ /[A-Z]/ { print $3 }' | ours |
	LC_ALL=C sort -u >"$T/so.syms"
nm -g --defined-only "$D/usr/lib/libcollector-spool.a" | awk 'NF == 3 { print $3 }' | ours |
	LC_ALL=C sort -u >"$T/a.syms"
for lib in so a; do
	is "$(grep -v '^spool_' "$T/$lib.syms" | tr '\n' ' ')" "" \
		"installed .$lib: every defined global symbol starts with spool_"
	is "$(LC_ALL=C comm -23 "$T/$lib.syms" "$T/api" | tr '\n' ' ')" "" \
		"installed .$lib: exports only the calls of the installed header"
	is "$(LC_ALL=C comm -13 "$T/$lib.syms" "$T/api" | tr '\n' ' ')" "" \
		"installed .$lib: exports every call of the installed header"
done
is "$(readelf -d "$D/usr/lib/libcollector-spool.so.$VERSION" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')" \
	"libcollector-spool.so.$SOVERSION" "shared library SONAME"
is "$(sed -n 's/^\(prefix\|libdir\|includedir\|Version:\)[=: ]*//p' "$D/usr/lib/pkgconfig/collector-spool.pc" | tr '\n' ' ')" \
	"/usr /usr/lib /usr/include $VERSION " ".pc names the install prefix: prefix, libdir, includedir, Version"
is "$(grep -l '@[A-Z]*@' "$D"/usr/lib/systemd/system/* "$D"/usr/lib/pkgconfig/*.pc)" "" "no @PLACEHOLDER@ left in units or .pc"
unit="$D/usr/lib/systemd/system/collector-agent.service"
is "$(sed -n 's/^ExecStart=//p' "$unit")" \
	"/usr/bin/collector-agent -c /etc/collector-agent/collector-agent.conf" "service: ExecStart names the installed program and config"
is "$(sed -n 's/^ExecStartPre=//p' "$unit")" \
	"/usr/bin/collector-agent -t -c /etc/collector-agent/collector-agent.conf" "service: ExecStartPre checks the same config"
is "$(sed -n 's/^ExecStart=//p' "$D/usr/lib/systemd/system/collector-agent-once.service")" \
	"/usr/bin/collector-agent -c /etc/collector-agent/collector-agent.conf --once" "once service: ExecStart"
# The PREFIX=$P units (verified below) are the DESTDIR ones but for paths.
same=1
for u in "$D"/usr/lib/systemd/system/*; do
	sed -e "s|$P/bin/|/usr/bin/|g" -e "s|$P/etc/|/etc/|g" "$P/lib/systemd/system/${u##*/}" |
		cmp -s - "$u" || { same=0; echo "# ${u##*/} differs beyond its paths"; }
done
is "$same" 1 "units of both installs differ only in their paths"
# What ExecStartPre runs must pass on the configuration make install put in.
run_agent -t -c "$D/etc/collector-agent/collector-agent.conf"
is_rc 0 "installed agent: -t on the installed configuration exits 0"
check "/etc gets the short configuration, the reference goes to the examples" \
	cmp -s contrib/collector-agent.etc.conf "$D/etc/collector-agent/collector-agent.conf"

# ------------------------------- a C program against a PREFIX install
# The loader does not search $P/lib: a program linked there without more
# fails to start; with the rpath flag docs/spool.md gives ("C, with
# libcollector-spool"), taken from the .pc's libdir, it runs and writes.
PC_P="$P/lib/pkgconfig"
is "$(PKG_CONFIG_PATH="$PC_P" pkg-config --variable=libdir collector-spool)" "$P/lib" \
	"PREFIX install: the .pc's libdir is \$PREFIX/lib"
RSAN=
if readelf -d "$P/lib/libcollector-spool.so.$VERSION" | grep -q 'NEEDED.*libasan'; then
	RSAN='-fsanitize=address,undefined'
fi
# shellcheck disable=SC2086,SC2046
cc $RSAN -o "$T/writer-norpath" "$EX/writer.c" $(PKG_CONFIG_PATH="$PC_P" pkg-config --cflags --libs collector-spool) \
	>"$T/cc-norpath.out" 2>&1
"$T/writer-norpath" "$T/rpath.db" >/dev/null 2>"$T/norpath.err"
rc=$?
is "$rc" 127 "PREFIX install, no rpath: the program does not start (exit 127)"
like "$(cat "$T/norpath.err")" "libcollector-spool.so.$SOVERSION: cannot open shared object file" \
	"PREFIX install, no rpath: the loader names the library it cannot find"
# shellcheck disable=SC2086,SC2046
cc $RSAN -o "$T/writer-rpath" "$EX/writer.c" $(PKG_CONFIG_PATH="$PC_P" pkg-config --cflags --libs collector-spool) \
	-Wl,-rpath,"$(PKG_CONFIG_PATH="$PC_P" pkg-config --variable=libdir collector-spool)" >"$T/cc-rpath.out" 2>&1
rc=$?
is "$rc" 0 "PREFIX install: writer.c builds with -Wl,-rpath,\$PREFIX/lib"
[ "$rc" = 0 ] || diag_file "$T/cc-rpath.out"
env -u LD_LIBRARY_PATH "$T/writer-rpath" "$T/rpath.db" 2>"$T/rpath.err"
rc=$?
is "$rc" 0 "PREFIX install, rpath: the program runs (no LD_LIBRARY_PATH)"
[ "$rc" = 0 ] || diag_file "$T/rpath.err"
is "$(ldd "$T/writer-rpath" | awk '$1 == "libcollector-spool.so.'"$SOVERSION"'" { print $3 }')" \
	"$P/lib/libcollector-spool.so.$SOVERSION" "PREFIX install, rpath: it uses \$PREFIX/lib's library"
is "$(sqlite3 "$T/rpath.db" 'SELECT count(*) FROM inbox')" 3 "PREFIX install, rpath: its 3 rows are in the spool"

# ---------------------------------------------------- systemd-analyze
if command -v systemd-analyze >/dev/null; then
	# The Documentation= man pages are looked up in the installed tree; while
	# docs/man holds none, the man check is off (said below).
	man_opt=--man=yes
	if ! command -v man >/dev/null || [ -z "$(ls docs/man/*.[158] 2>/dev/null)" ]; then
		man_opt=--man=no
		echo "# systemd-analyze verify --man=no: no man pages in docs/man (or no man)"
	fi
	(cd "$T" && MANPATH="$P/share/man" systemd-analyze verify "$man_opt" \
		"$P"/lib/systemd/system/*) >"$T/verify.out" 2>&1
	rc=$?
	if [ "$rc" = 0 ] && [ ! -s "$T/verify.out" ]; then
		tap_ok "systemd-analyze verify: the units pass without a warning"
	else
		tap_fail "systemd-analyze verify: the units pass without a warning" "exit $rc"
		diag_file "$T/verify.out"
	fi
	systemd-analyze security --offline=yes "$P/lib/systemd/system/collector-agent.service" 2>&1 |
		tail -n 1 | sed 's/^/# /'
else
	tap_skip "systemd-analyze not installed"
fi

# ------------------------------------------ sysusers, tmpfiles in DESTDIR
# Owners need root (chown); make check runs as root.
if [ "$(id -u)" != 0 ]; then
	tap_skip "sysusers and tmpfiles: not root"
elif command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
	check "systemd-sysusers --root applies the installed sysusers.d file" \
		systemd-sysusers --root="$D" 2>"$T/sysusers.err"
	pw=$(grep '^collector-agent:' "$D/etc/passwd")
	uid=$(echo "$pw" | cut -d: -f3); gid=$(echo "$pw" | cut -d: -f4)
	is "$(echo "$pw" | cut -d: -f6)" /var/lib/collector-agent "user collector-agent: home /var/lib/collector-agent"
	is "$(grep '^collector-agent:' "$D/etc/group" | cut -d: -f3)" "$gid" "group collector-agent is the user's group"
	check "systemd-tmpfiles --root --create applies the installed tmpfiles.d file" \
		systemd-tmpfiles --root="$D" --create 2>"$T/tmpfiles.err"
	is "$(stat -c '%a %u:%g' "$D/var/lib/collector-agent")" "2770 $uid:$gid" \
		"spool directory: 2770 (group writes, set-group-ID), collector-agent's"
	is "$(stat -c '%a %u:%g %s' "$D/var/lib/collector-agent/spool.db")" "660 $uid:$gid 0" \
		"spool: an empty 0660 file, collector-agent's"
	# An empty file is a new spool to whoever opens it first.
	COLLECTOR_SPOOL="$D/var/lib/collector-agent/spool.db" "$D/usr/bin/collector-spool" put 'tmpfiles_ok 1' 2>"$T/cs.err"
	is "$?" 0 "the tmpfiles spool is usable: collector-spool put into it"
else
	tap_skip "systemd-sysusers or systemd-tmpfiles not installed"
fi

# ------------------------------------------------- writers, installed
W="$T/w"
mkdir -p "$W"
S="$W/spool.db"
export PKG_CONFIG_PATH="$D/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D"
is "$(pkg-config --cflags --libs collector-spool | tr -s ' ' | sed 's/ $//')" \
	"-I$D/usr/include -L$D/usr/lib -lcollector-spool" "pkg-config (sysroot DESTDIR): the tree's flags"
# A sanitized build's library needs the sanitizer runtime in the program.
SANFLAGS=
if readelf -d "$D/usr/lib/libcollector-spool.so.$VERSION" | grep -q 'NEEDED.*libasan'; then
	SANFLAGS='-fsanitize=address,undefined'
fi
CCW="-std=c11 -pedantic -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes"
# shellcheck disable=SC2086,SC2046
cc $CCW $SANFLAGS -o "$W/writer" "$EX/writer.c" $(pkg-config --cflags --libs collector-spool) \
	>"$T/cc.out" 2>&1
rc=$?
is "$rc" 0 "writer.c builds against the installed .pc (shared), strict C11, no warning"
[ "$rc" = 0 ] || diag_file "$T/cc.out"
# Static: the .a and the .pc's private requirements (sqlite3, -lm, -pthread).
# shellcheck disable=SC2086,SC2046
cc $CCW $SANFLAGS -o "$W/writer-static" "$EX/writer.c" \
	$(pkg-config --static --cflags --libs collector-spool | sed 's/-lcollector-spool/-l:libcollector-spool.a/') \
	>"$T/cc-static.out" 2>&1
rc=$?
is "$rc" 0 "writer.c links statically with pkg-config --static"
[ "$rc" = 0 ] || diag_file "$T/cc-static.out"
is "$(LD_LIBRARY_PATH="$D/usr/lib" ldd "$W/writer" | awk '$1 == "libcollector-spool.so.'"$SOVERSION"'" { print $3 }')" \
	"$D/usr/lib/libcollector-spool.so.$SOVERSION" "writer: uses the installed shared library"
is "$(readelf -d "$W/writer-static" | grep -c 'NEEDED.*libcollector-spool')" 0 "writer-static: no shared libcollector-spool"

# writer.py never creates a spool: a wrong path is an error, not a new file.
"$PY" "$EX/writer.py" "$S" 2>"$T/py.err"
is "$?" 66 "writer.py: no spool there: exit 66"
check "writer.py: and no file was created" not test -e "$S"
like "$(cat "$T/py.err")" "collector-spool --spool $S put" \
	"writer.py: the error names what creates a spool (put, not stats)"

# The Python package, where Debian's /usr/bin/python3 imports it: for
# PREFIX=/usr the version-free dist-packages, for /usr/local the one of
# python3.X (site.getsitepackages(): the directories python3 reads, made
# or not).
PYD="$D/usr/lib/python3/dist-packages"
is "$(PYTHONPATH="$PYD" /usr/bin/python3 -c 'import collector_spool; print(collector_spool.__file__)' 2>&1)" \
	"$PYD/collector_spool/__init__.py" "python3 imports the installed collector_spool"
install_tree local DESTDIR="$T/local" PREFIX=/usr/local
PYDIRS=$(/usr/bin/python3 -c 'import site; print("\n".join(site.getsitepackages()))')
for tree in "$D:/usr/lib/python3/dist-packages" "$T/local:/usr/local/lib/python3"; do
	got=$(cd "${tree%%:*}" && find . -name collector_spool -type d | sed 's/^\.//')
	if [ -n "$got" ] && grep -qxF "${got%/collector_spool}" <<<"$PYDIRS"; then
		tap_ok "collector_spool installed in ${got%/collector_spool}, a directory of /usr/bin/python3's path"
	else
		tap_fail "collector_spool installed in a directory of /usr/bin/python3's path (${tree#*:}...)" \
			"installed: ${got:-nothing}" "python3 reads: $(tr '\n' ' ' <<<"$PYDIRS")"
	fi
done
COLLECTOR_SPOOL_TEST_INSTALLED=1 PYTHONPATH="$PYD" /usr/bin/python3 -m unittest discover \
	-s "$ROOT/contrib/python/tests" >"$T/pyunit.log" 2>&1
rc=$?
is "$rc" 0 "the installed collector_spool passes its unit tests"
[ "$rc" = 0 ] || diag_file "$T/pyunit.log"

# Each writer twice, by argument and by COLLECTOR_SPOOL: 3 rows a run into
# its own group (instance sh, py, c).
wrote() { # NAME RC
	is "$2" 0 "$1 exits 0"
	[ "$2" = 0 ] || diag_file "$T/writer.err"
}
PATH="$D/usr/bin:$PATH" sh "$EX/writer.sh" "$S" 2>"$T/writer.err"
wrote "writer.sh SPOOL (installed collector-spool, sqlite3)" $?
PATH="$D/usr/bin:$PATH" COLLECTOR_SPOOL="$S" sh "$EX/writer.sh" 2>"$T/writer.err"
wrote "writer.sh with COLLECTOR_SPOOL" $?
"$PY" "$EX/writer.py" "$S" 2>"$T/writer.err"
wrote "writer.py SPOOL" $?
COLLECTOR_SPOOL="$S" "$PY" "$EX/writer.py" 2>"$T/writer.err"
wrote "writer.py with COLLECTOR_SPOOL" $?
LD_LIBRARY_PATH="$D/usr/lib" "$W/writer" "$S" 2>"$T/writer.err"
wrote "writer (C, shared) SPOOL" $?
COLLECTOR_SPOOL="$S" "$W/writer-static" 2>"$T/writer.err"
wrote "writer-static (C) with COLLECTOR_SPOOL" $?

export COLLECTOR_SPOOL="$S"
is "$(spool_stat pending_rows)" 18 "installed collector-spool stats: 18 rows pending (6 runs x 3)"

# The installed agent folds and delivers them.
gw_start || { tap_fail "the gateway starts"; tap_done; exit 1; }
agent_conf "$T/agent.conf" "$GW_URL" install_test host
run_agent -c "$T/agent.conf" --once
is_rc 0 "installed agent --once: everything delivered"
for inst in sh py c; do
	v() { gw_value writer_example "instance=\"$inst\"" "$@"; }
	is "$(v example_temperature_celsius)" 21.5 "$inst: gauge (set) 21.5"
	is "$(v example_runs_total)" 2 "$inst: counter (add) 2 after two runs"
	is "$(v example_duration_seconds_count)" 2 "$inst: histogram (observe) count 2"
	is "$(v example_duration_seconds_sum)" 0.6 "$inst: histogram sum 0.6"
	is "$(v example_duration_seconds_bucket 'le="0.25"')/$(v example_duration_seconds_bucket 'le="0.5"')/$(v example_duration_seconds_bucket 'le="+Inf"')" \
		0/2/2 "$inst: buckets le=0.25/0.5/+Inf: 0/2/2"
done
is "$(spool_stat pending_rows)/$(spool_stat rejected_total)/$(spool_stat dirty_groups)" 0/0/0 \
	"after the run: nothing pending, nothing rejected, nothing dirty"

# ------------------------------------------------ the container files
# make check-container builds and runs the image; tests/cli/test_dockerfile.sh
# checks its package lists against the Makefile's. What needs the installed
# agent is checked here: its libraries come from the runtime stage.
dockerfile=contrib/Dockerfile
# arg NAME: the default of `ARG NAME="..."` in the Dockerfile, one word a line
arg() { sed -n "s/^ARG $1=\"\(.*\)\"\$/\1/p" "$dockerfile" | tr -s ' ' '\n' | LC_ALL=C sort; }
# Every library the agent needs directly comes from a package that the
# runtime stage installs (libc6 is in the base image).
runtime_pkgs=" libc6 $(arg RUNTIME_PKGS | tr '\n' ' ') "
missing=
if [ -z "$SANFLAGS" ] && command -v dpkg >/dev/null; then
	for lib in $(readelf -d "$D/usr/bin/collector-agent" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		# The loader is listed by its path: "/lib64/ld-linux-x86-64.so.2 (0x...)".
		path=$(ldd "$D/usr/bin/collector-agent" | awk -v l="$lib" '
			$1 == l { print $3 } substr($1, length($1) - length(l)) == "/" l { print $1 }')
		path=$(realpath "$path")
		pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "${path#/usr}" 2>/dev/null)
		pkg=${pkg%%:*}
		case $runtime_pkgs in *" $pkg "*) ;; *) missing="$missing $lib($pkg)" ;; esac
	done
	is "$missing" "" "Dockerfile runtime stage installs the package of every library the agent links"
else
	tap_skip "runtime libraries: sanitized build or no dpkg"
fi
if "$PY" -c 'import yaml' 2>/dev/null; then
	"$PY" - contrib/docker-compose.yml contrib/kubernetes/pod.yaml >"$T/yaml.out" 2>&1 <<'EOF'
import sys, yaml
compose = yaml.safe_load(open(sys.argv[1]))
svc = compose["services"]
agent = svc["collector-agent"]
app = svc["app"]
assert "pushgateway" in svc, "a pushgateway service"
vol = lambda s: {v.split(":")[0]: v.split(":")[1] for v in s.get("volumes", []) if isinstance(v, str)}
assert vol(agent).get("spool") == "/var/lib/collector-agent", vol(agent)
assert vol(app).get("spool") == "/var/lib/collector-agent", vol(app)
assert "spool" in compose["volumes"]
env = agent["environment"]
for k in ("PROMETHEUS_PUSHGATEWAY_URL", "PROMETHEUS_PUSHGATEWAY_ENABLED",
          "PROMETHEUS_PUSHGATEWAY_INTERVAL", "PROMETHEUS_JOB_NAME", "API_HOST", "API_PORT"):
    assert k in env, k
pod = yaml.safe_load(open(sys.argv[2]))
assert pod["kind"] == "Pod"
spec = pod["spec"]
assert spec["securityContext"]["runAsNonRoot"] is True
assert any(v["name"] == "spool" and "emptyDir" in v for v in spec["volumes"])
cs = {c["name"]: c for c in spec["containers"]}
a = cs["collector-agent"]
assert a["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
assert a["readinessProbe"]["httpGet"]["path"] == "/-/ready"
for c in cs.values():
    assert c["securityContext"]["readOnlyRootFilesystem"] is True, c["name"]
    assert c["securityContext"]["allowPrivilegeEscalation"] is False, c["name"]
    assert "limits" in c["resources"] and "requests" in c["resources"], c["name"]
    assert any(m["name"] == "spool" and m["mountPath"] == "/var/lib/collector-agent"
               for m in c["volumeMounts"]), c["name"]
EOF
	rc=$?
	is "$rc" 0 "docker-compose.yml and kubernetes/pod.yaml: sidecar sharing the spool, probes, non-root"
	[ "$rc" = 0 ] || diag_file "$T/yaml.out"
else
	tap_skip "python3-yaml not installed"
fi
tap_done
