#!/usr/bin/env bash
# The integration harness itself, without the agent: a real Pushgateway
# started, read back and restarted on the same port; the fake gateway's
# scripts, logs and saved bodies; promtool and the body checks. When this
# fails, the agent tests' results mean nothing.
set -u
. "$(dirname "$0")/lib.sh"
need gateway promtool

# A real gateway, memory only.
gw_start
check "gateway starts and is ready" [ -n "$GW_PID" ]
is "$(gw_groups)" "" "a new gateway has no groups (no persistence file)"

is "$(gw_push 'h1/instance/i1' $'# TYPE c_total counter\nc_total 3\nl{a="x\\"y",b="/"} 1.5\ng NaN\ng2 +Inf\ng3 1e-07\n')" 200 "PUT a group with curl"
is "$(gw_value h1 'instance="i1"' c_total)" 3 "gw_value: a counter"
is "$(gw_value h1 'instance="i1"' l 'b="/",a="x\"y"')" 1.5 "gw_value: labels in any order, escapes"
is "$(gw_value h1 'instance="i1"' l 'a="x\"y"')" absent "gw_value: a label set must match exactly"
is "$(gw_value h1 'instance="i1"' g)" NaN "gw_value: NaN"
is "$(gw_value h1 'instance="i1"' g2)" +Inf "gw_value: +Inf"
is "$(gw_value h1 'instance="i1"' g3)" 1e-07 "gw_value: the gateway's float text"
is "$(gw_value h1 'instance="i2"' c_total)" absent "gw_value: another instance is another group"
is "$(gw_value h1 '' c_total)" absent "gw_value: no grouping is another group"
is "$(gw_families h1 'instance="i1"')" "c_total g g2 g3 l" "gw_families"
is "$(gw_status h1 'instance="i1"')" ok "gw_status: ok"

is "$(gw_push 'h2/path@base64/L2EvYg/empty@base64/=' $'y 1\n')" 200 "PUT with @base64 and an empty value"
is "$(gw_value h2 'path="/a/b",empty=""' y)" 1 "gw_value: decoded grouping labels"
is "$(gw_value h2 'path="/a/b",empty="",instance=""' y)" 1 "gw_value: instance=\"\" is no instance"
is "$(gw_groups)" $'{empty="",job="h2",path="/a/b"}\n{instance="i1",job="h1"}' "gw_groups lists both groups"

is "$(gw_push 'h3' $'# TYPE h histogram\nh_bucket{le="0.005"} 0\nh_bucket{le="0.5"} 2\nh_bucket{le="10"} 3\nh_bucket{le="+Inf"} 4\nh_sum 24.5625\nh_count 4\n# TYPE s summary\ns{quantile="0.5"} 1\ns_sum 2\ns_count 3\n')" 200 "PUT a histogram and a summary"
is "$(gw_value h3 '' h_bucket 'le="0.5"')" 2 "gw_value: a bucket"
is "$(gw_value h3 '' h_bucket 'le="10.0"')" 3 "gw_value: le compared as a number"
is "$(gw_value h3 '' h_bucket 'le="+Inf"')" 4 "gw_value: the +Inf bucket"
is "$(gw_value h3 '' h_sum)" 24.5625 "gw_value: _sum"
is "$(gw_value h3 '' h_count)" 4 "gw_value: _count"
is "$(gw_value h3 '' h)" absent "gw_value: a histogram has no plain value"
is "$(gw_value h3 '' s 'quantile="0.5"')" 1 "gw_value: a quantile"
is "$(gw_value h3 '' s_count)" 3 "gw_value: a summary's _count"

# The gateway's answers that the agent tests rely on.
is "$(gw_push 'h4/g/a' $'# TYPE x counter\nx 1\n')" 200 "TYPE clash: the first group is taken"
is "$(gw_push 'h4/g/b' $'# TYPE x gauge\nx 2\n')" 400 "TYPE clash: the second is refused (400)"
like "$(cat "$T/curl.out")" "inconsistent with existing metrics" "TYPE clash: the gateway's message"
is "$(gw_status h4 'g="b"')" failed "a refused PUT leaves an empty group marked failed"
is "$(gw_families h4 'g="b"')" "" "a refused PUT stores no family"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$GW_URL/metrics/job/h4/g/b")" 202 "DELETE answers 202"
check "DELETE removes the group" gw_absent h4 'g="b"'
is "$(gw_push 'h4/g/c' $'bad metric\n')" 400 "a bad line is refused"
like "$(cat "$T/curl.out")" "text format parsing error in line 1" "a bad line: the gateway's message"

# wait_until is bounded and sees changes.
t0=$(now_us)
wait_until -t 1 false
is "$?" 1 "wait_until gives up"
took=$(secs_since "$t0")
check "wait_until waits its whole limit ($took s)" not less_than "$took" 1
check "...and gives up soon after" less_than "$took" 10
( sleep 0.5; gw_push 'h5' $'late 7\n' >/dev/null ) &
writer=$!
wait_until -t 10 gw_is 7 h5 '' late
is "$?" 0 "wait_until sees a value that arrives later"
wait "$writer"

# Stop it, and start a new one on the same port: empty again.
port=$GW_PORT; pid=$GW_PID
gw_stop
check "gw_stop ends the gateway" [ "$STOP_KILLED" = 0 ]
kill -0 "$pid" 2>/dev/null && tap_fail "the gateway process is gone" || tap_ok "the gateway process is gone"
check "nothing answers on the port" not curl -sf --max-time 1 "http://127.0.0.1:$port/-/ready"
gw_start "$port"
check "a new gateway on the same port" [ "$GW_PORT" = "$port" ]
is "$(gw_groups)" "" "the new gateway is empty"
gw_stop

# The fake gateway: a script per path, the others 200; Retry-After; a log.
fake_start --answers 503,503,503,200 --match /job/f1/ --retry-after 1 --body 'try later'
put() { curl -s -o "$T/curl.out" -D "$T/curl.hdr" -w '%{http_code}' -X PUT --data-binary "$2" "$FAKE_URL$1"; }
got=""
for i in 1 2 3 4 5; do got="$got$(put /metrics/job/f1/instance/x $'a 1\n') "; done
is "$got" "503 503 503 200 200 " "fake: the script, then the last answer repeats"
like "$(cat "$T/curl.out")" "" "fake: 200 has an empty body"
is "$(put /metrics/job/other $'b 1\n')" 200 "fake: paths outside --match get 200"
is "$(put /metrics/job/f1/instance/y $'a 1\n')" 503 "fake: each path has its own script"
like "$(cat "$T/curl.hdr")" "Retry-After: 1" "fake: Retry-After on 503"
is "$(cat "$T/curl.out")" "try later" "fake: --body on a refusal"
is "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$FAKE_URL/metrics/job/f1/instance/x")" 202 "fake: DELETE 202"
is "$(fake_count PUT /metrics/job/f1/instance/x)" 5 "fake_count"
is "$(fake_statuses PUT /metrics/job/f1/instance/x)" 503,503,503,200,200 "fake_statuses"
is "$(fake_count DELETE /metrics/job/f1/instance/x)" 1 "fake_count DELETE"
is "$(fake_gaps PUT /metrics/job/f1/instance/x | wc -w)" 4 "fake_gaps: one gap per pair"
echo "# gaps: $(fake_gaps PUT /metrics/job/f1/instance/x)"
fake_stop

# The fake gateway keeps bodies (gzip decoded) for promtool.
fake_start --answers 400 --body 'text format parsing error in line 1: expected float as value, got "metric"' --save-bodies "$T/bodies"
printf 'x 1\n' | gzip | curl -s -o "$T/curl.out" -w '%{http_code}' -X PUT -H 'Content-Encoding: gzip' --data-binary @- "$FAKE_URL/metrics/job/z" >"$T/code"
is "$(cat "$T/code")" 400 "fake: 400"
like "$(cat "$T/curl.out")" 'text format parsing error in line 1' "fake: 400 with the message"
is "$(cat "$T"/bodies/*.body)" "x 1" "fake: a gzip body is saved decoded"
like "$(cat "$T/bodies/index")" "PUT /metrics/job/z 400 gzip" "fake: the body index"
# chunked upload (no Content-Length) and Expect: 100-continue
head -c 2000000 /dev/zero | tr '\0' '\n' | sed 's/^$/# c/' >"$T/big"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$FAKE_URL/metrics/job/chunked")
is "$code" 400 "fake: a chunked 2 MB upload is answered"
check "fake: the chunked body is saved whole" cmp -s "$T/big" "$(ls "$T"/bodies/*.body | tail -1)"
fake_stop
fake_start --max-seconds 1
pid=$FAKE_PID
wait_exit "$pid" 10
is "$?" 0 "fake: stops itself after --max-seconds"

# promtool and the body checks.
printf '# HELP a_total A counter.\n# TYPE a_total counter\na_total{x="1"} 1\n' >"$T/good.prom"
check "promtool_check passes a clean body" promtool_check "$T/good.prom"
printf 'a_total 1\n' >"$T/lint.prom"
check "promtool_check passes lint-only (exit 3)" promtool_check "$T/lint.prom"
printf 'a{x="\\q"} 1\n' >"$T/bad.prom"
promtool_check "$T/bad.prom" >/dev/null
is "$?" 1 "promtool_check fails a parse error"
printf '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n' >"$T/h.prom"
check "body_check passes a good histogram" body_check "$T/good.prom" "$T/h.prom"
printf 'a 1 1700000000\n' >"$T/ts.prom"
printf 'a 1\nb 1\na{x="1"} 2\n' >"$T/inter.prom"
printf 'a 1\na 2\n' >"$T/dup.prom"
printf '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 3\nh_count 2\n' >"$T/noinf.prom"
printf 'a{__x="1"} 1\n' >"$T/dunder.prom"
printf 'a 1' >"$T/nonl.prom"
for f in ts inter dup noinf dunder nonl; do
	body_check "$T/$f.prom" >/dev/null
	is "$?" 1 "body_check fails $f"
done

tap_done
