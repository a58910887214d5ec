#!/bin/sh
# make check-packages: lints the packages in build/deb/ (make deb builds
# them), installs them with apt into a fresh Debian 12 root, runs the agent
# there with --once against a Pushgateway on the host's loopback (a chroot
# shares the host's network) and checks that the values arrive; then that
# `apt remove` keeps the spool and `dpkg --purge` removes it.
#
# The root is made by mmdebstrap from the apt sources this machine uses and
# cached as build/deb-root/bookworm.tar (delete it for a new one); the .deb
# files apt downloads into it are kept in build/deb-root/archives/, so a
# second run needs no network but for apt's lists. Root only: chroot and
# mount. Every step that could hang runs under timeout.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
[ "$(id -u)" -eq 0 ] || { echo "check-packages: must run as root (chroot, mount)" >&2; exit 1; }
out=build/deb
cache=build/deb-root
tarball=$cache/bookworm.tar
R=$cache/root
port=${CHECK_PACKAGES_PORT:-29091}
gw=http://127.0.0.1:$port
ls "$out"/*.deb >/dev/null 2>&1 || { echo "check-packages: no packages in $out (make deb)" >&2; exit 1; }
mkdir -p "$cache/archives"

step() { printf '\n=== check-packages: %s\n' "$*"; }
fail() { echo "check-packages: FAIL: $*" >&2; exit 1; }
# in CMD...: runs CMD in the root, bounded.
in_root() { timeout "${T:-120}" chroot "$R" /usr/bin/env -i \
	PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }

gw_pid=
cleanup() {
	if [ -n "$gw_pid" ]; then kill "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
	if mountpoint -q "$R/proc" 2>/dev/null; then umount "$R/proc" || umount -l "$R/proc"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

step "lintian"
# Errors and warnings fail; info and pedantic tags are printed.
lintian -I -E --pedantic --fail-on error,warning "$out"/*.changes ||
	fail "lintian (above)"
echo "lintian: clean"

if [ ! -s "$tarball" ]; then
	step "making a Debian 12 root ($tarball)"
	# The host's enabled apt sources (sources.list and *.list, *.sources
	# in sources.list.d), each pasted into the root's sources.
	set --
	[ -s /etc/apt/sources.list ] && grep -q '^[[:space:]]*deb' /etc/apt/sources.list &&
		set -- "$@" /etc/apt/sources.list
	for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -s "$f" ] && set -- "$@" "$f"
	done
	timeout 900 mmdebstrap --variant=minbase --format=tar bookworm "$tarball.tmp" "$@" ||
		{ rm -f "$tarball.tmp"; fail "mmdebstrap"; }
	mv "$tarball.tmp" "$tarball"
fi

step "unpacking a fresh root ($R)"
rm -rf "$R"
mkdir -p "$R"
tar -xf "$tarball" -C "$R"
mount -t proc proc "$R/proc"
cp /etc/resolv.conf "$R/etc/resolv.conf"
mkdir -p "$R/tmp/debs"
cp "$out"/*.deb "$R/tmp/debs/"
# dbgsym packages are for debuggers, not for this check.
rm -f "$R"/tmp/debs/*-dbgsym_*.deb
cp "$cache"/archives/*.deb "$R/var/cache/apt/archives/" 2>/dev/null || true

step "apt install ./*.deb"
T=300 in_root apt-get update -q || fail "apt-get update in the root"
T=600 in_root sh -c 'cd /tmp/debs && apt-get -o Dpkg::Use-Pty=0 install -y -q --no-install-recommends ./*.deb' ||
	fail "apt install of the packages"
cp "$R"/var/cache/apt/archives/*.deb "$cache/archives/" 2>/dev/null || true

step "what the packages set up"
in_root id collector-agent || fail "no user collector-agent"
perm=$(in_root stat -c '%a %U:%G' /var/lib/collector-agent)
[ "$perm" = "2770 collector-agent:collector-agent" ] || fail "/var/lib/collector-agent is $perm"
perm=$(in_root stat -c '%a %U:%G' /var/lib/collector-agent/spool.db)
[ "$perm" = "660 collector-agent:collector-agent" ] || fail "spool.db is $perm"
echo "/var/lib/collector-agent: 2770, spool.db: 0660, collector-agent:collector-agent"
in_root dpkg-query -W -f='${Conffiles}\n' collector-agent | grep -q /etc/collector-agent/collector-agent.conf ||
	fail "the configuration is not a conffile"
echo "conffile: /etc/collector-agent/collector-agent.conf"
in_root collector-agent -t >/dev/null || fail "collector-agent -t with the shipped configuration"
in_root python3 -c 'import collector_spool; print("python3: import collector_spool:", collector_spool.__file__)' ||
	fail "python3 -c 'import collector_spool'"

step "the agent pushes from the root to a Pushgateway on the host's loopback ($gw)"
prometheus-pushgateway --web.listen-address="127.0.0.1:$port" >"$cache/pushgateway.log" 2>&1 &
gw_pid=$!
i=0
until curl -fsS "$gw/-/ready" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 100 ] || fail "the Pushgateway did not start ($cache/pushgateway.log)"
	sleep 0.1
done
# One value from collector-spool, one from the Python package, both as the
# user collector-agent (a producer in its group would do the same).
in_root runuser -u collector-agent -- collector-spool put --job pkgcheck \
	'pkgcheck_cli_value 42' || fail "collector-spool put"
in_root runuser -u collector-agent -- python3 -c \
	'import collector_spool; s = collector_spool.Spool(); s.set("pkgcheck_py_value", 7, job="pkgcheck"); s.close()' ||
	fail "collector_spool.Spool().set"
T=60 in_root runuser -u collector-agent -- env PROMETHEUS_PUSHGATEWAY_URL="$gw" \
	collector-agent --once || fail "collector-agent --once"
got=$(curl -fsS "$gw/metrics" | grep -E '^pkgcheck_(cli|py)_value' || true)
printf '%s\n' "$got"
printf '%s\n' "$got" | grep -q '^pkgcheck_cli_value{.*job="pkgcheck".*} 42$' || fail "pkgcheck_cli_value 42 did not arrive"
printf '%s\n' "$got" | grep -q '^pkgcheck_py_value{.*job="pkgcheck".*} 7$' || fail "pkgcheck_py_value 7 did not arrive"

step "apt remove keeps the spool; dpkg --purge removes it"
in_root apt-get -o Dpkg::Use-Pty=0 remove -y -q collector-agent || fail "apt remove"
in_root test -f /var/lib/collector-agent/spool.db || fail "apt remove removed the spool"
in_root test -f /etc/collector-agent/collector-agent.conf || fail "apt remove removed the conffile"
echo "after remove: /var/lib/collector-agent/spool.db and the configuration are there"
in_root dpkg --purge collector-agent || fail "dpkg --purge"
in_root test ! -e /var/lib/collector-agent || fail "dpkg --purge left /var/lib/collector-agent"
in_root test ! -e /etc/collector-agent/collector-agent.conf || fail "dpkg --purge left the configuration"
echo "after purge: /var/lib/collector-agent and /etc/collector-agent/collector-agent.conf are gone"

cleanup
gw_pid=
rm -rf "$R"
step "ok"
