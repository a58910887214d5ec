#!/bin/bash
# wait_for takes its conditions in single quotes, evaluated at each try.
# shellcheck disable=SC2016

# Runs the shipped units under a real systemd as PID 1: a Debian 12 root
# (mmdebstrap, from this machine's apt sources) booted with systemd-nspawn,
# the agent installed into it with apt (or as its package would), then
# checked: Type=notify start (systemctl enable --now), a reload, a value
# from `collector-spool put` at the gateway, the watchdog restarting a
# stopped agent, `systemd-analyze security`, and the once timer's run
# exiting 0.
#
# Needs root, systemd-container and mmdebstrap (`make check-systemd`
# installs them) and the packages (make deb) or a built tree (BUILD,
# default build). Every step has a
# time limit; the container is powered off and its root removed at the end,
# whatever happened. The root's tarball is kept in $BUILD/systemd-check so
# that a second run skips the download (about 25 s the first time).
#
# COLLECTOR_DEBS="path/to/collector-agent_*.deb ..." installs those packages
# with apt instead of `make install` plus the postinst's steps (the root
# has the agent's run-time libraries, not python3);
# SYSTEMD_CHECK_DROPIN adds lines to the agent's [Service] (see below).
set -euo pipefail

BUILD=${BUILD:-build}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
case $BUILD in /*) BDIR=$BUILD ;; *) BDIR=$TOP/$BUILD ;; esac
WORK=$BDIR/systemd-check
ROOT=$WORK/root
MACHINE=collector-check
# The root's packages: systemd, the agent's run-time libraries (the
# Dockerfile's RUNTIME_PKGS) and the package's other dependency (adduser),
# a gateway to push to, and procps for pgrep.
PKGS=systemd,systemd-sysv,dbus,adduser,libsqlite3-0,libcurl4,libconfig9,libmicrohttpd12,zlib1g,libprotobuf-c1,libsnappy1v5,ca-certificates,curl,prometheus-pushgateway,procps
# This machine's apt sources for Debian (a deb822 .sources file or a
# one-line sources.list), else Debian's own mirror.
SOURCES=${SYSTEMD_CHECK_SOURCES:-}
for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
	[ -z "$SOURCES" ] && [ -s "$f" ] && SOURCES=$f
done
SOURCES=${SOURCES:-http://deb.debian.org/debian}
NSPAWN_PID=
NSPAWN=
LEADER=
FAILED=0

say() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*"; FAILED=$((FAILED + 1)); }
ok() { printf 'ok: %s\n' "$*"; }
# A command inside the booted container: all of PID 1's namespaces, with a
# time limit.
in_ct() { timeout "${T:-30}" nsenter -t "$LEADER" -a "$@"; }
sctl() { in_ct systemctl --no-pager "$@"; }
prop() { sctl show -p "$2" --value "$1"; }
# The gateway's metrics, whole (a grep -q on curl's pipe would stop curl
# early, and pipefail would count that as a failure).
gw_metrics() { in_ct curl -fsS http://127.0.0.1:9091/metrics; }
gw_has() { local m; m=$(gw_metrics) && grep -q "$1" <<< "$m"; }
# Polls a shell condition (run on this side) every half second for at most
# $1 seconds.
wait_for() {
	local limit=$1 i=0
	shift
	while ! eval "$*" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -ge $((limit * 2)) ] && return 1
		sleep 0.5
	done
}

# Powers the container off (systemctl poweroff, then SIGTERM to nspawn,
# which asks its systemd to halt, then SIGKILL to the container's PID 1,
# which ends everything in its PID namespace), then removes the root.
gone() { ! kill -0 "$1" 2>/dev/null; }
cleanup() {
	set +e
	if [ -n "$NSPAWN" ] && ! gone "$NSPAWN"; then
		[ -n "$LEADER" ] && timeout 10 nsenter -t "$LEADER" -a systemctl poweroff --no-block >/dev/null 2>&1
		wait_for 30 gone "$NSPAWN" || { echo "no poweroff in 30 s: SIGTERM to systemd-nspawn"; kill -TERM "$NSPAWN"; }
		wait_for 30 gone "$NSPAWN" || { echo "still up: SIGKILL"; [ -n "$LEADER" ] && kill -KILL "$LEADER"; kill -KILL "$NSPAWN"; }
		wait_for 10 gone "$NSPAWN"
	fi
	[ -n "$NSPAWN_PID" ] && wait "$NSPAWN_PID" 2>/dev/null
	NSPAWN='' NSPAWN_PID=''
	rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || { echo "check-systemd: needs root (nspawn, mmdebstrap)" >&2; exit 1; }
if [ -n "${COLLECTOR_DEBS:-}" ]; then
	for d in $COLLECTOR_DEBS; do
		[ -f "$d" ] || { echo "check-systemd: no package $d (make deb)" >&2; exit 1; }
	done
else
	[ -x "$BDIR/collector-agent" ] || { echo "check-systemd: build first (make all)" >&2; exit 1; }
fi
mkdir -p "$WORK"

say "a Debian 12 root"
# Rebuilt when the package list or the apt sources change.
stamp="$PKGS $SOURCES $(md5sum < "$SOURCES" 2>/dev/null)"
if [ ! -f "$WORK/root.tar" ] || [ "$(cat "$WORK/root.stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -f "$WORK/root.tar" "$WORK/root.stamp"
	# No standard input: mmdebstrap would read sources from it.
	timeout 900 mmdebstrap --variant=minbase --format=tar --include="$PKGS" \
		bookworm "$WORK/root.tar.tmp" "$SOURCES" < /dev/null > "$WORK/mmdebstrap.log" 2>&1 ||
		{ tail -20 "$WORK/mmdebstrap.log"; echo "check-systemd: mmdebstrap failed" >&2; exit 1; }
	mv "$WORK/root.tar.tmp" "$WORK/root.tar"
	printf '%s' "$stamp" > "$WORK/root.stamp"
	echo "made $WORK/root.tar ($(du -m "$WORK/root.tar" | cut -f1) MiB)"
else
	echo "cached: $WORK/root.tar"
fi
rm -rf "$ROOT"
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$WORK/root.tar"

say "put the agent into the root"
if [ -n "${COLLECTOR_DEBS:-}" ]; then
	mkdir -p "$ROOT/var/tmp/debs"
	# shellcheck disable=SC2086
	cp $COLLECTOR_DEBS "$ROOT/var/tmp/debs/"
else
	# What the package ships, staged before boot; what its postinst does
	# runs once systemd is up (below).
	make -C "$TOP" -s install B="$BUILD" DESTDIR="$ROOT" PREFIX=/usr SYSCONFDIR=/etc >/dev/null
fi
# The test's own settings: push every 2 s (the shipped default is 60 s), and a
# 5 s watchdog so that a stopped agent is restarted within seconds (the
# shipped 60 s would make this check take minutes). Only a drop-in: the
# unit under test is the installed one.
mkdir -p "$ROOT/etc/collector-agent" "$ROOT/etc/systemd/system/collector-agent.service.d"
printf 'PROMETHEUS_PUSHGATEWAY_INTERVAL=2\n' > "$ROOT/etc/collector-agent/env"
# SYSTEMD_CHECK_DROPIN: more [Service] lines (one per line), to try a
# hardening setting before it goes into the unit.
printf '[Service]\nWatchdogSec=5s\n%s\n' "${SYSTEMD_CHECK_DROPIN:-}" \
	> "$ROOT/etc/systemd/system/collector-agent.service.d/check.conf"

say "boot it: systemd-nspawn -b"
# --register=no and --keep-unit: there is no systemd on the host side to
# register with or to make a scope; --private-network: a loopback of its own,
# so the gateway inside does not meet the host's ports.
timeout 900 systemd-nspawn -b -D "$ROOT" -M "$MACHINE" --register=no --keep-unit \
	--private-network > "$WORK/console.log" 2>&1 < /dev/null &
NSPAWN_PID=$!
# The container's PID 1 is systemd-nspawn's child (timeout's grandchild).
wait_for 10 'NSPAWN=$(pgrep -P $NSPAWN_PID | head -1); [ -n "$NSPAWN" ]'
wait_for 30 'LEADER=$(pgrep -P "$NSPAWN" | head -1); [ -n "$LEADER" ]' ||
	{ cat "$WORK/console.log"; echo "check-systemd: no container PID 1 in 30 s" >&2; exit 1; }
# "offline" until its manager answers; "degraded" (a unit failed) still lets
# the checks run.
if ! wait_for 90 'T=10 in_ct systemctl is-system-running 2>&1 | grep -E "^(running|degraded)$" >/dev/null'; then
	cat "$WORK/console.log"
	echo "check-systemd: not booted in 90 s: $(T=10 in_ct systemctl is-system-running 2>&1)" >&2
	exit 1
fi
echo "system state: $(T=10 in_ct systemctl is-system-running 2>&1); $(sctl --version | head -1)"
sctl --failed

if [ -n "${COLLECTOR_DEBS:-}" ]; then
	say "apt-get install ./collector-agent_*.deb"
	# As an operator would; the root has every dependency already (there
	# is no network inside).
	T=120 in_ct env DEBIAN_FRONTEND=noninteractive sh -c \
		'apt-get install -y --no-install-recommends /var/tmp/debs/*.deb'
	in_ct dpkg -l collector-agent | tail -1
else
	say "what the package's postinst does"
	in_ct systemd-sysusers collector-agent.conf
	in_ct systemd-tmpfiles --create collector-agent.conf
	sctl daemon-reload
fi
in_ct id collector-agent
in_ct ls -ld /var/lib/collector-agent /var/lib/collector-agent/spool.db
# A producer: an application's user in the agent's group.
in_ct useradd -m -G collector-agent app

say "the gateway inside"
sctl start prometheus-pushgateway
wait_for 20 'in_ct curl -fsS -o /dev/null http://127.0.0.1:9091/-/ready' ||
	fail "prometheus-pushgateway did not answer in 20 s"

say "systemctl enable --now collector-agent (Type=notify)"
if T=40 in_ct systemctl enable --now collector-agent; then
	ok "enable --now returned: $(sctl is-enabled collector-agent)"
else
	fail "enable --now"
fi
sctl status collector-agent || true
if [ "$(prop collector-agent ActiveState)/$(prop collector-agent SubState)" = active/running ]; then
	ok "active (running): $(prop collector-agent Type) $(prop collector-agent NotifyAccess) watchdog $(prop collector-agent WatchdogUSec)"
else
	fail "not active (running)"
fi

say "collector-spool put reaches the gateway"
in_ct runuser -u app -- collector-spool put --job check_systemd 'check_systemd_value 42'
if wait_for 20 "gw_has '^check_systemd_value{.*} 42$'"; then
	ok "$(gw_metrics | grep '^check_systemd_value{')"
else
	fail "check_systemd_value 42 not at the gateway in 20 s"
fi

say "systemctl reload collector-agent"
since=$(in_ct date '+%Y-%m-%d %H:%M:%S')
sleep 1
if T=30 in_ct systemctl reload collector-agent &&
	wait_for 10 "in_ct journalctl -u collector-agent --since '$since' -o cat | grep 'configuration reloaded' >/dev/null"; then
	ok "$(in_ct journalctl -u collector-agent --since "$since" -o cat | grep 'configuration reloaded')"
else
	fail "no 'configuration reloaded' in the journal"
fi

say "the watchdog restarts a stopped agent (kill -STOP)"
n0=$(prop collector-agent NRestarts)
pid0=$(prop collector-agent MainPID)
in_ct kill -STOP "$pid0"
echo "stopped MainPID $pid0 (NRestarts $n0)"
if wait_for 40 '[ "$(prop collector-agent NRestarts)" -gt "$n0" ] && [ "$(prop collector-agent SubState)" = running ]'; then
	ok "NRestarts $n0 -> $(prop collector-agent NRestarts), MainPID $pid0 -> $(prop collector-agent MainPID)"
	in_ct journalctl -u collector-agent -o cat | grep -iE 'watchdog|SIGABRT|core-dump|Scheduled restart' | tail -5
else
	fail "no restart in 40 s after SIGSTOP"
	in_ct journalctl -u collector-agent -o cat | tail -20
fi

say "systemd-analyze security collector-agent"
T=60 in_ct systemd-analyze security --no-pager collector-agent.service || true

say "the once timer (collector-agent-once.timer)"
# One agent on a spool: the service stops before the batch one runs.
sctl disable --now collector-agent
in_ct runuser -u app -- collector-spool put --job check_systemd_once 'check_systemd_once_value 7'
sctl start collector-agent-once.timer
sctl list-timers collector-agent-once.timer
# OnBootSec=1min with RandomizedDelaySec=15s: at most 75 s after boot.
if wait_for 120 '[ "$(prop collector-agent-once.service ExecMainExitTimestampMonotonic)" != 0 ]'; then
	st=$(prop collector-agent-once.service ExecMainStatus)
	res=$(prop collector-agent-once.service Result)
	if [ "$st" = 0 ] && [ "$res" = success ]; then
		ok "collector-agent-once.service ran from the timer: ExecMainStatus=$st Result=$res"
	else
		fail "collector-agent-once.service: ExecMainStatus=$st Result=$res"
	fi
	in_ct journalctl -u collector-agent-once -o cat | tail -5
	if gw_has '^check_systemd_once_value{.*} 7$'; then
		ok "the batch run's value is at the gateway: $(gw_metrics | grep '^check_systemd_once_value{')"
	else
		fail "check_systemd_once_value 7 not at the gateway"
	fi
else
	fail "the timer did not fire within 120 s"
	sctl list-timers --all
fi

say "power off"
cleanup
trap - EXIT
if [ "$FAILED" -eq 0 ]; then
	echo "check-systemd: all checks passed"
else
	echo "check-systemd: $FAILED check(s) failed"
	exit 1
fi
