#!/usr/bin/env bash
# Builds the image from contrib/Dockerfile with podman and runs it as the
# sidecar of contrib/docker-compose.yml: an application container writes
# the spool on a shared named volume, the agent container pushes it to a
# real Pushgateway (Debian's prometheus-pushgateway, on this host's
# loopback). Prints TAP; `make check-container` runs it after its set-up.
#
#     contrib/container/check-container.sh [BUILD-DIR]     (as root)
#
# No registry: the base image is a Debian 12 root made here by mmdebstrap
# from this machine's own apt sources and imported (podman import) as
# localhost/debian:bookworm; both stages are built FROM it. The only
# traffic is loopback and the apt mirror (apt-get inside the build).
# The base's tarball is kept in BUILD-DIR/container/ and podman keeps the
# build's layers, so a second run takes seconds; delete the tarball (and
# `podman rmi localhost/debian:bookworm`) for a fresh base.
#
# What is checked: the build; the value an application writes arrives at
# the gateway; a value written just before `podman stop` arrives (the
# agent's last push on SIGTERM); the agent runs as uid 10001, not root;
# its /-/healthy and the image's HEALTHCHECK answer; the image's size is
# printed. Every step has a timeout, and every container, the volume and
# the gateway are stopped and removed on exit.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/cli/tap.sh"
B=${1:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
CACHE=$B/container
BASE_TAR=$CACHE/debian-bookworm-minbase.tar
BASE_IMAGE=localhost/debian:bookworm
IMAGE=localhost/collector-agent:check
export LC_ALL=C

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP rootful podman: run as root (make check-container does the set-up)"
	exit 0
fi
for c in podman mmdebstrap runc prometheus-pushgateway curl python3; do
	command -v "$c" >/dev/null || { echo "Bail out! $c is missing: run make check-container (it installs CONTAINER_PKGS)"; exit 1; }
done

# Two things this kernel and sandbox need (both measured here, podman 4.3):
# - crun, podman's default runtime, refuses a hybrid cgroup layout (v1
#   controllers and a v2 hierarchy that still holds one): "cgroups in hybrid
#   mode not supported, drop all controllers from cgroupv2". runc runs on
#   v1, hybrid and v2 alike.
# - rootful podman raises RLIMIT_NOFILE and RLIMIT_NPROC in the container,
#   which needs CAP_SYS_RESOURCE; a root without it (a container or VM
#   sandbox) gets "setrlimit RLIMIT_NOFILE: Operation not permitted".
#   Explicit limits no higher than ours avoid the raise (4096 processes is
#   plenty for the agent's threads).
nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=65536
[ "$nofile" -gt 65536 ] && nofile=65536
RUNOPTS=(--runtime runc --ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096)
pm() { timeout "$1" podman "${@:2}"; }

id=ctr$$
T=$(mktemp -d "${TMPDIR:-/tmp}/check-container-XXXXXX")
GW_PID=
cleanup() {
	for c in "$id-app" "$id-agent"; do
		timeout 30 podman rm -f -t 0 "$c" >/dev/null 2>&1
	done
	timeout 30 podman volume rm -f "$id-spool" >/dev/null 2>&1
	if [ -n "$GW_PID" ]; then kill "$GW_PID" 2>/dev/null; wait "$GW_PID" 2>/dev/null; fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# diag FILE: a log's tail as TAP diagnostics
diag() { tail -n "${2:-20}" "$1" | sed 's/^/# /' >&2; }
free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
# wait_for SECONDS CMD...: runs CMD every 0.2 s until it succeeds
wait_for() {
	local end=$((SECONDS + $1)); shift
	until "$@"; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.2; done
}

# ------------------------------------------------------------ base image
# The apt sources this machine uses, Debian's only (not a third party's
# repository that the host happens to have).
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] && grep -qE '^[^#]*https?://[^[:space:]]*/debian(-security)?/?([[:space:]]|$)' "$f" &&
		sources+=("$f")
done
mkdir -p "$CACHE"
if [ ! -s "$BASE_TAR" ]; then
	[ ${#sources[@]} -gt 0 ] || tap_bail "Debian apt sources found in /etc/apt"
	# As slim as debian:bookworm-slim: no manuals, documentation or
	# translations (the copyright files stay).
	t0=$SECONDS
	if timeout 900 mmdebstrap --variant=minbase --mode=root --format=tar \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/groff/*' \
		--dpkgopt='path-exclude=/usr/share/lintian/*' \
		bookworm "$BASE_TAR.tmp" "${sources[@]}" >"$T/mmdebstrap.log" 2>&1; then
		mv "$BASE_TAR.tmp" "$BASE_TAR"
		tap_ok "mmdebstrap: a Debian 12 minbase root from ${sources[*]} ($((SECONDS - t0)) s)"
	else
		rm -f "$BASE_TAR.tmp"; diag "$T/mmdebstrap.log"
		tap_bail "mmdebstrap: a Debian 12 minbase root"
	fi
else
	tap_ok "base tarball cached: $BASE_TAR"
fi
# Imported again whenever the tarball is newer than the image.
stamp=$CACHE/imported
if ! pm 30 image exists "$BASE_IMAGE" 2>/dev/null || [ "$BASE_TAR" -nt "$stamp" ]; then
	if pm 300 import "$BASE_TAR" "$BASE_IMAGE" >"$T/import.log" 2>&1; then
		touch "$stamp"
	else
		diag "$T/import.log"; tap_bail "podman import $BASE_IMAGE"
	fi
fi
is "$(pm 60 run --rm --network=none --no-healthcheck "${RUNOPTS[@]}" "$BASE_IMAGE" cat /etc/debian_version 2>&1 | cut -d. -f1)" 12 \
	"podman runs a container of $BASE_IMAGE (Debian 12)"

# ----------------------------------------------------------------- build
# Docker's format keeps the HEALTHCHECK (OCI's has no such field). The
# build's apt-get reaches the mirror through the host's network, as the
# host's apt does: no bridge, no iptables rules.
t0=$SECONDS
if pm 1800 build --format docker --network=host "${RUNOPTS[@]}" \
	--build-arg BUILD_BASE="$BASE_IMAGE" --build-arg BASE="$BASE_IMAGE" \
	-f "$top/contrib/Dockerfile" -t "$IMAGE" "$top" >"$T/build.log" 2>&1; then
	tap_ok "podman build -f contrib/Dockerfile FROM $BASE_IMAGE ($((SECONDS - t0)) s)"
else
	diag "$T/build.log" 40; tap_bail "podman build -f contrib/Dockerfile"
fi
size=$(pm 30 image inspect --format '{{.Size}}' "$IMAGE")
echo "# image $IMAGE: $size bytes ($((size / 1000000)) MB)"
is "$(pm 30 image inspect --format '{{.Config.User}}' "$IMAGE")" 10001:10001 "the image's User is 10001:10001"
is "$(pm 30 image inspect --format '{{.Config.Healthcheck.Test}}' "$IMAGE" | grep -c curl)" 1 \
	"the image keeps its HEALTHCHECK"
# --no-healthcheck: a one-off run needs no health timer (podman makes them
# with systemd's transient timers, which a host without systemd lacks).
one() { pm 60 run --rm --network=none --no-healthcheck "${RUNOPTS[@]}" "$@" 2>&1; }
like "$(one "$IMAGE" --version)" "collector-agent " "collector-agent --version in the image"
like "$(one -e PROMETHEUS_PUSHGATEWAY_URL=http://pushgateway:9091 -e API_HOST=collector-api \
	-e API_PORT=5000 "$IMAGE" -t)" 'url = "http://pushgateway:9091";' \
	"collector-agent -t in the image reads the container's environment"

# ------------------------------------------------------- the sidecar run
# The gateway: this host's, on loopback, memory only. The agent's
# container shares the host's network (--network=host) to reach it; the
# application's has none.
GW_PORT=$(free_port)
GW=http://127.0.0.1:$GW_PORT
prometheus-pushgateway --web.listen-address="127.0.0.1:$GW_PORT" --persistence.file= \
	>"$T/gateway.log" 2>&1 &
GW_PID=$!
wait_for 15 curl -sf --max-time 1 -o /dev/null "$GW/-/ready" ||
	{ diag "$T/gateway.log"; tap_bail "the Pushgateway answers on $GW"; }
# The image's HEALTHCHECK asks 127.0.0.1:9102, so the agent listens there
# when this host has the port free; else on a free port, the check skipped.
port_free() { python3 -c 'import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; }
if port_free 9102; then M_PORT=9102; else M_PORT=$(free_port); fi
pm 30 volume create "$id-spool" >/dev/null || tap_bail "podman volume create"

# As contrib/docker-compose.yml runs it: read-only, no capabilities, no
# new privileges, a stable instance (API_HOST:API_PORT). The interval,
# 20 s, leaves time to write a value after a push and stop the agent
# before the next: the stop is what pushes it.
if ! pm 60 run -d --name "$id-agent" "${RUNOPTS[@]}" --network=host \
	--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
	-v "$id-spool:/var/lib/collector-agent" \
	-e PROMETHEUS_PUSHGATEWAY_URL="$GW" -e PROMETHEUS_PUSHGATEWAY_INTERVAL=20 \
	-e PROMETHEUS_JOB_NAME=collector_api -e API_HOST=collector-api -e API_PORT=5000 \
	"$IMAGE" --listen "127.0.0.1:$M_PORT" >"$T/run.log" 2>&1; then
	diag "$T/run.log"; tap_bail "podman run the agent"
fi
logs() { pm 30 logs "$id-agent" >"$T/agent.log" 2>&1; diag "$T/agent.log" 30; }
if wait_for 30 curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$M_PORT/-/healthy"; then
	tap_ok "the agent's container is up: /-/healthy answers 200"
else
	logs; tap_bail "the agent's container is up"
fi
is "$(pm 30 exec "$id-agent" id -u)" 10001 "the agent runs as uid 10001 (podman exec id -u), not root"
is "$(pm 30 exec "$id-agent" stat -c '%u:%g %a' /var/lib/collector-agent)" "10001:10001 2770" \
	"the new volume has the image's owner and mode"
if [ "$M_PORT" != 9102 ]; then
	tap_skip "the image's HEALTHCHECK: port 9102 is taken on this host"
elif pm 60 healthcheck run "$id-agent" >"$T/hc.log" 2>&1; then
	tap_ok "podman healthcheck run: the image's HEALTHCHECK passes"
else
	tap_fail "podman healthcheck run" "$(cat "$T/hc.log")"
fi

# app VALUE OP: the application's container, another user in the agent's
# group (as in the compose file), writes one line with collector-spool.
app() {
	pm 60 run --rm --name "$id-app" "${RUNOPTS[@]}" --network=none --user 10002:10001 \
		--read-only --cap-drop ALL --security-opt no-new-privileges \
		-v "$id-spool:/var/lib/collector-agent" --entrypoint collector-spool "$IMAGE" \
		put --op "$2" "# TYPE container_check_value gauge
container_check_value{run=\"$id\"} $1" >>"$T/app.log" 2>&1
}
# gw_value: the value the gateway holds in the sidecar's group
gw_value() {
	curl -sf --max-time 5 "$GW/metrics" |
		awk -v r="run=\"$id\"" 'index($0, "container_check_value{") == 1 && index($0, r) &&
			index($0, "job=\"collector_api\"") && index($0, "instance=\"collector-api:5000\"") { print $2 }'
}
is_value() { [ "$(gw_value)" = "$1" ]; }

app 1 set || { diag "$T/app.log"; tap_bail "the application's container writes the spool"; }
tap_ok "the application's container (uid 10002, group 10001, no network) writes the spool"
# The first push comes at start-up, then one every 20 s.
if wait_for 45 is_value 1; then
	tap_ok "the value arrives at the gateway (job collector_api, instance collector-api:5000)"
else
	logs; tap_fail "the value arrives at the gateway" "got: $(gw_value)"
fi

# The last push: written now, long before the next interval; podman stop
# sends SIGTERM and the agent pushes it before it exits.
app 2 set || { diag "$T/app.log"; tap_fail "the application writes 2"; }
is "$(gw_value)" 1 "before the stop the gateway still has 1 (no push since)"
t0=$SECONDS
pm 60 stop -t 20 "$id-agent" >/dev/null 2>&1
took=$((SECONDS - t0))
is "$(gw_value)" 2 "podman stop: the value written just before it arrives (the last push, ${took} s)"
is "$(pm 30 inspect --format '{{.State.ExitCode}}' "$id-agent")" 0 "the agent exits 0 on podman stop"
pm 30 logs "$id-agent" >"$T/agent.log" 2>&1
like "$(cat "$T/agent.log")" "level=" "the agent logs in logfmt to the container's log"
echo "# the agent's log:" >&2; diag "$T/agent.log" 8

tap_done
