#!/usr/bin/env bash
# Staleness markers from the agent's remote-write sink, against real
# receivers. A series that goes away - its group expired (group_ttl) or was
# deleted - gets Prometheus' staleness NaN once, at a timestamp after its
# last sample:
#   - VictoriaMetrics 1.79: the export ends each gone series with the marker
#     (null), and every other series with its value; the gateway is
#     configured but unreachable, so expiry cannot wait for its DELETE;
#   - Prometheus 2.42, the gateway disabled: the expired group is dropped
#     from the spool, an instant query stops returning the series at once
#     (without the marker it would for 5 minutes), and no request is
#     refused (a marker at an old timestamp would be a 400).
set -u
. "$(dirname "$0")/lib.sh"
need agent
PROM=${PROM:-/usr/bin/prometheus}
[ -x "$VM" ] || { echo "1..0 # SKIP $VM not installed"; exit 0; }
[ -x "$PROM" ] || { echo "1..0 # SKIP $PROM not installed"; exit 0; }

vm_is() { [ "$(vm_last "http://127.0.0.1:$1" "$2")" = "$3" ]; }

# ------------------------------------------------------ VictoriaMetrics
vm_start || tap_bail "VictoriaMetrics starts"
vport=$VM_PORT vpid=$VM_PID

export COLLECTOR_SPOOL="$T/vm.db"
# The agent's own group (sj, instance="si") never expires.
"$CS" put --job sj --grouping 'instance="si"' 'keep_gauge 1' 'a_gauge 4'
"$CS" put --job gone --grouping '' 'gone_gauge 2'
"$CS" put --job del --grouping '' 'del_gauge 3'
# The gateway cannot be reached: expiry must not wait for it.
agent_conf "$T/vm.conf" "http://127.0.0.1:1" sj si group_ttl=6
echo "remote_write: { url = \"http://127.0.0.1:$vport/api/v1/write\"; };" >>"$T/vm.conf"
agent_start vm -c "$T/vm.conf"
apid=$AGENT_PID
all='a_gauge{instance="si",job="sj"} 4.0
del_gauge{job="del"} 3.0
gone_gauge{job="gone"} 2.0
keep_gauge{instance="si",job="sj"} 1.0'
check "every series arrives" wait_until vm_is "$vport" '{__name__=~".+_gauge"}' "$all"
"$CS" put --job sj --grouping 'instance="si"' 'a_gauge 6'
"$CS" delete --job del --grouping ''
after='a_gauge{instance="si",job="sj"} 6.0
del_gauge{job="del"} stale
gone_gauge{job="gone"} stale
keep_gauge{instance="si",job="sj"} 1.0'
check "a deleted group and an expired group end with a staleness marker" \
	wait_until -t 20 vm_is "$vport" '{__name__=~".+_gauge"}' "$after"
is "$(vm_last "http://127.0.0.1:$vport" '{__name__=~".+_gauge"}')" "$after" "the export, exactly"
like "$(cat "$T/vm.err")" 'msg="gateway unreachable; will retry"' "the gateway was unreachable all along"
is "$(vm_last "http://127.0.0.1:$vport" '{__name__=~"collector_agent_(up|remote_write_requests_total)",result!="success"}')" \
	'collector_agent_remote_write_requests_total{instance="si",job="sj",result="rejected"} 0.0
collector_agent_remote_write_requests_total{instance="si",job="sj",result="retry"} 0.0
collector_agent_up{instance="si",job="sj"} 1.0' "the agent's own metrics go too, as its default group"
ok_sent=$(vm_last "http://127.0.0.1:$vport" 'collector_agent_remote_write_requests_total{result="success"}' | awk '{ print $2 }')
check "... with the successful requests counted ($ok_sent)" less_than 0 "${ok_sent:-0}"
# Two more rounds (counted in the log, not slept): the markers went once,
# and the series stay ended.
sent() { grep -c 'msg="remote write sent"' "$T/vm.err"; }
rounds_from=$(sent)
two_more() { [ "$(sent)" -ge $((rounds_from + 2)) ]; }
check "two more rounds go" wait_until -t 20 two_more
is "$(markers "$T/vm.err")" 2 "two markers, each sent once"
is "$(vm_last "http://127.0.0.1:$vport" '{__name__=~".+_gauge"}')" "$after" "still ended two intervals later"
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
stop_pid "$vpid" 10

# ------------------------------------------------------------- Prometheus
prom_rw_start || tap_bail "Prometheus starts"
pport=$PROM_PORT ppid=$PROM_PID
pq() { prom_query "http://127.0.0.1:$pport" "$1"; }
pq_is() { [ "$(pq "$1")" = "$2" ]; }

export COLLECTOR_SPOOL="$T/prom.db"
"$CS" put --job pj --grouping 'instance="pi"' 'p_keep 1'
"$CS" put --job pgone --grouping '' 'p_gone 2'
agent_conf "$T/p.conf" "http://127.0.0.1:1" pj pi group_ttl=4 enabled=false
echo "remote_write: { url = \"http://127.0.0.1:$pport/api/v1/write\"; };" >>"$T/p.conf"
agent_start p -c "$T/p.conf"
apid=$AGENT_PID
check "Prometheus has both series" wait_until pq_is '{__name__=~"p_.+"}' 'p_gone{job="pgone"} 2
p_keep{instance="pi",job="pj"} 1'
check "the expired series is stale at once (no 5-minute lookback)" \
	wait_until -t 20 pq_is '{__name__=~"p_.+"}' 'p_keep{instance="pi",job="pj"} 1'
is "$(pq 'last_over_time(p_gone[10m])')" 'p_gone{job="pgone"} 2' "its samples before the marker are kept"
is "$(spool_stat groups)" 1 "without a gateway, the expired group is dropped from the spool"
like "$(cat "$T/p.err")" 'msg="dropped group" job=pgone grouping="" why=expired' "the drop is logged"
stop_pid "$apid" 10
is "$STOP_RC" 0 "SIGTERM: exit 0"
check "Prometheus refused no request" not grep -q 'refused a request' "$T/p.err"
is "$(markers "$T/p.err")" 1 "one marker"
stop_pid "$ppid" 10
tap_done
