#!/usr/bin/env bash
# The gateway's column of the peer cases (tests/unit/expo_peers.h), checked
# against a real Pushgateway: each body is PUT as it is to a group of its
# own, which is deleted again before the next. "takes" must answer 2xx,
# "refuses" 400, and "alters" 2xx and then show the series as the table
# says (a wrapped count, or "absent" for a sample it dropped). The unit test
# test_expo_peers checks our own column; together they show where, and
# why, put and the fold part from the gateway.
set -u
. "$(dirname "$0")/lib.sh"
need gateway
DUMP="$BUILD/tests/peers-dump"
[ -x "$DUMP" ] || { echo "1..0 # SKIP $DUMP not built"; exit 0; }

gw_start || { echo "1..0 # SKIP the gateway did not start"; exit 0; }
mkdir -p "$T/peers"
"$DUMP" "$T/peers" >"$T/peers.tsv" || tap_bail "peers-dump"

while IFS=$'\t' read -r n gw series labels shows src; do
	code=$(curl -s -o "$T/reply" -w '%{http_code}' --max-time 10 -X PUT \
		--data-binary @"$T/peers/$n.body" "$GW_URL/metrics/job/peer$n")
	case $gw in
	takes) want=2xx ;;
	refuses) want=400 ;;
	alters) want=2xx ;;
	esac
	got=$code
	case $code in 2??) got=2xx ;; esac
	reply=$(head -c 300 "$T/reply")
	if [ "$got" != "$want" ]; then
		tap_fail "peer $n ($src): the gateway $gw it" "got:  $code $reply" "want: $want"
	elif [ "$gw" = alters ]; then
		[ "$labels" = - ] && labels=
		is "$(gw_value "peer$n" '' "$series" "$labels")" "$shows" \
			"peer $n ($src): the gateway shows $series{$labels} as $shows"
	else
		tap_ok "peer $n ($src): the gateway $gw it"
	fi
	curl -s -o /dev/null --max-time 10 -X DELETE "$GW_URL/metrics/job/peer$n"
done <"$T/peers.tsv"
tap_done
