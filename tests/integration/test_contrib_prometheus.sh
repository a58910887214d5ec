#!/usr/bin/env bash
# What an operator installs next to the agent, checked with the real tools:
# contrib/prometheus/alerts.yml (promtool check rules, and its unit tests
# with promtool test rules), contrib/prometheus/prometheus.yml (promtool
# check config), the Grafana dashboard (JSON, variables, datasource, every
# query valid PromQL), that every metric they name exists (the agent's
# collector_agent_* families as documented; the Pushgateway's, read from a
# real gateway), and contrib/nginx/pushgateway.conf (nginx -t on a copy,
# then a real nginx with TLS and basic auth in front of a real gateway, the
# agent pushing through it to https://.../pushgateway) when nginx and
# openssl are installed.
set -u
. "$(dirname "$0")/lib.sh"
need gateway promtool
"$PY" -c 'import yaml' 2>/dev/null || { echo "1..0 # SKIP python3-yaml not installed"; exit 0; }

P=contrib/prometheus
DASH=contrib/grafana/collector-agent.json
NGINX_CONF=contrib/nginx/pushgateway.conf

# The agent's own families; histogram suffixes allowed.
AGENT_METRICS="collector_agent_up collector_agent_build_info
collector_agent_spool_pending_rows collector_agent_spool_oldest_pending_age_seconds
collector_agent_spool_bytes collector_agent_groups collector_agent_series
collector_agent_dirty_groups collector_agent_parked_groups collector_agent_pushes_total
collector_agent_push_duration_seconds collector_agent_last_push_success_timestamp_seconds
collector_agent_rejected_rows_total collector_agent_deletes_total
collector_agent_remote_write_requests_total collector_agent_remote_write_samples_total
collector_agent_limit collector_agent_limit_usage collector_agent_limit_refusals_total"
AGENT_HISTOGRAMS="collector_agent_push_duration_seconds"

# run_ok NAME CMD...: ok when CMD exits 0 and writes nothing to stderr (a
# promtool warning is a failure too); its output goes to TAP comments.
run_ok() {
	local name=$1 rc; shift
	"$@" >"$T/run.out" 2>"$T/run.err"
	rc=$?
	if [ $rc -eq 0 ] && [ ! -s "$T/run.err" ]; then
		tap_ok "$name"
	else
		tap_fail "$name" "exit $rc: $*"
		diag_file "$T/run.out" 40
		diag_file "$T/run.err" 40
	fi
}

# ------------------------------------------------------------ promtool
run_ok "promtool check rules $P/alerts.yml" "$PROMTOOL" check rules "$P/alerts.yml"
run_ok "promtool test rules $P/alerts_test.yml" "$PROMTOOL" test rules "$P/alerts_test.yml"
run_ok "promtool check config $P/prometheus.yml (and the rule file it names)" \
	"$PROMTOOL" check config "$P/prometheus.yml"

# --------------------------------------- the gateway's metric names, for real
gw_start || tap_bail "the gateway starts"
is "$(gw_push 'names/instance/ok' $'names_ok 1\n')" 200 "a push to the gateway is accepted"
# A refused push, so that the failure metrics exist as well.
is "$(gw_push 'names/instance/bad' $'names_bad 1 1000\n')" 400 "a push with a timestamp is refused"
curl -sf --max-time 5 "$GW_URL/metrics" >"$T/gateway.metrics"
check "the gateway's /metrics has push_failure_time_seconds" \
	grep -q '^push_failure_time_seconds{' "$T/gateway.metrics"

# ----------------------------------------------- structure and metric names
# One Python run: prints "ok NAME" / "not ok NAME" / "# diagnostics"
# lines, turned into TAP by the loop below. It also writes the dashboard's
# queries as recording rules (Grafana variables replaced) for promtool.
"$PY" - "$P/alerts.yml" "$P/alerts_test.yml" "$DASH" "$T/gateway.metrics" \
	"$T/dashboard_rules.yml" "$AGENT_METRICS" "$AGENT_HISTOGRAMS" "$P/prometheus.yml" \
	>"$T/checks.out" 2>&1 <<'PYEOF'
import json, re, sys
import yaml

alerts_p, tests_p, dash_p, gw_p, rules_out, agent_names, agent_hist, prom_p = sys.argv[1:9]
AGENT = set(agent_names.split())
HIST = set(agent_hist.split())

def result(ok, name, *diag):
    print(("ok " if ok else "not ok ") + name)
    for d in diag if not ok else ():
        for line in str(d).splitlines():
            print("# " + line)

# --- alerts.yml
rules = yaml.safe_load(open(alerts_p))
alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
names = [a["alert"] for a in alerts]
result(len(names) == len(set(names)), "alert names are unique", names)
want = {"DatabaseUnavailable", "HighDatabaseLatency", "PushgatewayPushFailing"}
result(want <= set(names), "alerts.yml has the seed's alerts and PushgatewayPushFailing",
       sorted(want - set(names)))
bad = []
for a in alerts:
    n, lab, ann = a["alert"], a.get("labels") or {}, a.get("annotations") or {}
    if "for" not in a:
        bad.append(n + ": no for:")
    if lab.get("severity") not in ("critical", "warning", "info"):
        bad.append(n + ": severity label missing or unknown")
    for k in ("summary", "description"):
        if not str(ann.get(k, "")).strip():
            bad.append(n + ": no " + k)
    if not re.fullmatch(r"docs/operations\.md#[a-z0-9-]+", str(ann.get("runbook_url", ""))):
        bad.append(n + ": runbook_url is not docs/operations.md#anchor")
result(not bad, "every alert has for:, a severity, summary, description and runbook_url", *bad)
# The agent's own series are matched whatever pushgateway.job is called
# (PROMETHEUS_JOB_NAME=collector_api): no rule pins their job.
pinned = [a["alert"] for a in alerts
          if re.search(r'\bcollector_agent_\w+\{[^}]*\bjob=', a["expr"])]
result(not pinned, "no rule on the agent's own metrics names a job", *pinned)

# Every runbook link lands on a heading (GitHub's anchor rule) or an
# explicit <a id> of docs/operations.md and of its pt-BR twin.
def anchors(path):
    found = set()
    for line in open(path, encoding="utf-8"):
        m = re.match(r"#+\s+(.*)", line)
        if m:
            h = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            found.add(h)
        found.update(re.findall(r'<a id="([^"]+)"', line))
    return found
links = sorted({str(a["annotations"]["runbook_url"]).split("#", 1)[1] for a in alerts})
for doc in ("docs/operations.md", "docs/operacao.pt-BR.md"):
    have = anchors(doc)
    result(all(l in have for l in links), "every runbook anchor exists in " + doc,
           *[l for l in links if l not in have])

# --- prometheus.yml: both scrapes keep the pushed labels, and the scrape
# jobs are the ones the alerts name.
prom = yaml.safe_load(open(prom_p))
jobs = {c["job_name"]: c for c in prom.get("scrape_configs", [])}
result("alerts.yml" in (prom.get("rule_files") or []), "prometheus.yml loads alerts.yml")
for j, target in (("pushgateway", "127.0.0.1:9091"), ("collector_agent", "127.0.0.1:9102")):
    c = jobs.get(j, {})
    targets = [t for sc in c.get("static_configs", []) for t in sc.get("targets", [])]
    result(c.get("honor_labels") is True and target in targets,
           "prometheus.yml scrapes %s (%s) with honor_labels: true" % (j, target), c)
used_jobs = set(re.findall(r'\bup\{job="([^"]+)"\}', " ".join(a["expr"] for a in alerts)))
result(used_jobs and used_jobs <= set(jobs), "the scrape jobs named in alerts.yml exist in prometheus.yml",
       sorted(used_jobs), sorted(jobs))

# --- alerts_test.yml: every alert fires in some case and stays quiet in another
tests = yaml.safe_load(open(tests_p))
fires, quiet, bad = set(), set(), []
for t in tests["tests"]:
    for c in t.get("alert_rule_test") or []:
        (fires if c.get("exp_alerts") else quiet).add(c["alertname"])
        for e in c.get("exp_alerts") or []:
            if "summary" not in (e.get("exp_annotations") or {}):
                bad.append(c["alertname"] + ": a firing case without exact annotations")
result(set(names) <= fires, "every alert has a firing test case", sorted(set(names) - fires))
result(set(names) <= quiet, "every alert has a not-firing test case", sorted(set(names) - quiet))
result(not bad, "every firing case checks the annotations", *bad)

# --- the dashboard
try:
    dash = json.load(open(dash_p))
    result(True, "the dashboard is valid JSON")
except Exception as e:
    result(False, "the dashboard is valid JSON", e)
    sys.exit(0)
result(dash.get("schemaVersion", 0) >= 37, "dashboard schemaVersion >= 37", dash.get("schemaVersion"))
tvars = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
ds_var = tvars.get("datasource", {}).get("type") == "datasource" or any(
    i.get("name") == "DS_PROMETHEUS" for i in dash.get("__inputs", []))
result(ds_var, "the dashboard has a datasource variable or a DS_PROMETHEUS input")
result("job" in tvars and "instance" in tvars, "the dashboard has job and instance variables",
       sorted(tvars))
result(bool(dash.get("uid")) and bool(dash.get("title")), "the dashboard has a uid and a title")

def walk(ps):
    for p in ps:
        yield p
        yield from walk(p.get("panels") or [])
panels = list(walk(dash.get("panels", [])))
ids = [p.get("id") for p in panels]
result(len(ids) == len(set(ids)) and None not in ids, "panel ids are unique", ids)
bad = []
exprs = []  # (where, expr)
for p in panels:
    if p.get("type") == "row":
        continue
    where = "panel %s %r" % (p.get("id"), p.get("title"))
    if "gridPos" not in p:
        bad.append(where + ": no gridPos")
    if not p.get("targets"):
        bad.append(where + ": no query")
    for t in p.get("targets") or []:
        ds = (t.get("datasource") or p.get("datasource") or {})
        uid = ds.get("uid", "") if isinstance(ds, dict) else str(ds)
        if uid not in ("${datasource}", "$datasource", "${DS_PROMETHEUS}"):
            bad.append(where + ": datasource is not the variable: %r" % (ds,))
        if not t.get("expr", "").strip():
            bad.append(where + ": empty expr")
        else:
            exprs.append(("%s/%s" % (where, t.get("refId")), t["expr"]))
for name, v in tvars.items():
    q = v.get("query")
    if v.get("type") == "query":
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", q or "")
        if not m:
            bad.append("variable %s: not label_values(...): %r" % (name, q))
        else:
            exprs.append(("variable " + name, m.group(1)))
result(not bad, "every panel has a position and queries on the datasource variable", *bad)

# Recording rules for promtool: Grafana's variables replaced by values.
def ungrafana(e):
    e = e.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h")
    return re.sub(r"\$\{?\w+(?::\w+)?\}?", ".*", e)
with open(rules_out, "w") as f:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:query_%d" % i, "expr": ungrafana(e)}
        for i, (_, e) in enumerate(exprs)]}]}, f, sort_keys=False)

# --- metric names
alert_exprs = [("alert " + a["alert"], a["expr"]) for a in alerts]
refs = alert_exprs + exprs
unknown = []
for where, e in refs:
    for n in re.findall(r"\bcollector_agent_\w+", e):
        base = re.sub(r"_(bucket|sum|count)$", "", n)
        if n not in AGENT and not (base in HIST and base != n):
            unknown.append("%s: %s" % (where, n))
result(not unknown, "every collector_agent_* metric named is one the agent exports", *unknown)
for fam in ("collector_agent_pushes_total", "collector_agent_push_duration_seconds",
            "collector_agent_spool_pending_rows", "collector_agent_last_push_success_timestamp_seconds",
            "collector_agent_parked_groups", "collector_agent_rejected_rows_total"):
    result(any(fam in e for _, e in alert_exprs + exprs), "%s is used" % fam)

gw = set()
for line in open(gw_p):
    if line.startswith("# TYPE "):
        gw.add(line.split()[2])
    elif line.strip() and not line.startswith("#"):
        gw.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
unknown, used = [], set()
for where, e in refs:
    for n in re.findall(r"\b(?:pushgateway_\w+|push_time_seconds|push_failure_time_seconds)\b", e):
        used.add(n)
        if n not in gw:
            unknown.append("%s: %s" % (where, n))
result(not unknown, "every Pushgateway metric named exists in the real gateway's /metrics", *unknown)
result({"push_time_seconds", "push_failure_time_seconds", "pushgateway_http_requests_total"} <= used,
       "alerts and dashboard use push_time_seconds, push_failure_time_seconds, "
       "pushgateway_http_requests_total", sorted(used))
PYEOF
py_rc=$?
while IFS= read -r line; do
	case $line in
	"ok "*) tap_ok "${line#ok }" ;;
	"not ok "*) tap_fail "${line#not ok }" ;;
	"#"*) echo "$line" ;;
	*) echo "# $line" ;;
	esac
done <"$T/checks.out"
is "$py_rc" 0 "the structure checks ran to the end"
run_ok "every dashboard query is valid PromQL (promtool check rules)" \
	"$PROMTOOL" check rules "$T/dashboard_rules.yml"

# ---------------------------------------------------------------- nginx
NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null)
if [ -z "$NGINX" ] || ! command -v openssl >/dev/null; then
	tap_skip "nginx or openssl not installed: $NGINX_CONF not checked"
	tap_done
	exit
fi

N="$T/nginx"
mkdir -p "$N"
HTTP_PORT=$(free_port)
TLS_PORT=$(free_port)
[ "$TLS_PORT" != "$HTTP_PORT" ] || TLS_PORT=$(free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
	-keyout "$N/key.pem" -out "$N/cert.pem" >"$N/openssl.log" 2>&1
printf 'pusher:%s\n' "$(openssl passwd -6 's3cret pass')" >"$N/htpasswd"
printf 's3cret pass\n' >"$T/pgw.password"

# The example, made local: loopback ports, the test's certificate,
# password file and gateway. Each replacement must have matched.
sub() { # FROM TO: literal replacement in $N/site.conf, counted
	"$PY" - "$N/site.conf" "$1" "$2" <<'PYEOF'
import sys
p, a, b = sys.argv[1:4]
s = open(p).read()
if a not in s:
    sys.exit("not in the example: " + a)
open(p, "w").write(s.replace(a, b))
PYEOF
}
cp "$NGINX_CONF" "$N/site.conf"
subs_ok=1
sub "listen 80;" "listen 127.0.0.1:$HTTP_PORT;" || subs_ok=0
sub "listen [::]:80;" "" || subs_ok=0
sub "listen 443 ssl http2;" "listen 127.0.0.1:$TLS_PORT ssl http2;" || subs_ok=0
sub "listen [::]:443 ssl http2;" "" || subs_ok=0
sub "/etc/letsencrypt/live/prometheus.example.org/fullchain.pem" "$N/cert.pem" || subs_ok=0
sub "/etc/letsencrypt/live/prometheus.example.org/privkey.pem" "$N/key.pem" || subs_ok=0
sub "/etc/nginx/.htpasswd" "$N/htpasswd" || subs_ok=0
sub "server 127.0.0.1:9091;" "server 127.0.0.1:$GW_PORT;" || subs_ok=0
sub "root /var/www/letsencrypt;" "root $N/acme;" || subs_ok=0
is "$subs_ok" 1 "the nginx example has the listen, certificate, htpasswd and upstream lines the test rewrites"
# Everything nginx writes stays in $N; single process, in the foreground.
cat >"$N/nginx.conf" <<EOF
daemon off;
master_process off;
pid $N/nginx.pid;
error_log $N/error.log info;
events { worker_connections 64; }
http {
	access_log $N/access.log;
	client_body_temp_path $N/body;
	proxy_temp_path $N/proxy;
	fastcgi_temp_path $N/fastcgi;
	uwsgi_temp_path $N/uwsgi;
	scgi_temp_path $N/scgi;
	include $N/site.conf;
}
EOF
run_nginx_t() { "$NGINX" -t -q -p "$N/" -e "$N/error.log" -c "$N/nginx.conf"; }
if run_nginx_t >"$N/t.out" 2>&1; then
	tap_ok "nginx -t accepts $NGINX_CONF"
else
	tap_fail "nginx -t accepts $NGINX_CONF"
	diag_file "$N/t.out"
	tap_done
	exit
fi

"$NGINX" -p "$N/" -e "$N/error.log" -c "$N/nginx.conf" >"$N/nginx.out" 2>&1 &
NGINX_PID=$!
track "$NGINX_PID"
B="https://127.0.0.1:$TLS_PORT"
C=(curl -s --max-time 5 --cacert "$N/cert.pem" -o "$N/curl.body" -w '%{http_code}')
if ! wait_until -t 10 "${C[@]}" -o /dev/null "$B/" >/dev/null; then
	tap_fail "nginx starts"
	diag_file "$N/error.log"
	tap_done
	exit
fi
is "$("${C[@]}" "$B/pushgateway/metrics")" 401 "without credentials: 401"
is "$("${C[@]}" -u 'pusher:wrong' "$B/pushgateway/metrics")" 401 "a wrong password: 401"
is "$("${C[@]}" -u 'pusher:s3cret pass' "$B/pushgateway/-/ready")" 200 \
	"with credentials, /pushgateway/-/ready reaches the gateway (prefix stripped)"
is "$(printf 'via_proxy 42\n' | "${C[@]}" -u 'pusher:s3cret pass' -X PUT --data-binary @- \
	"$B/pushgateway/metrics/job/proxied/instance/p1")" 200 "a PUT through the proxy: 200"
is "$(gw_value proxied 'instance="p1"' via_proxy)" 42 "the pushed group is on the gateway"
is "$("${C[@]}" "$B/pushgateway")" 301 "/pushgateway redirects to /pushgateway/"
is "$("${C[@]}" "http://127.0.0.1:$HTTP_PORT/pushgateway/metrics")" 301 "plain HTTP redirects to HTTPS"
# A group bigger than nginx's default 1 MB body limit.
"$PY" -c 'import sys
for i in range(40000): sys.stdout.write("big_series{i=\"%d\"} %d\n" % (i, i))' >"$T/big.txt"
is "$("${C[@]}" -u 'pusher:s3cret pass' -X PUT --data-binary @"$T/big.txt" \
	"$B/pushgateway/metrics/job/big")" 200 "a $(( $(wc -c <"$T/big.txt") / 1024 )) KiB group passes the body limit"

if [ -x "$AGENT" ]; then
	export COLLECTOR_SPOOL="$T/proxy.db"
	# once_self_metrics: --once sends the agent's own metrics only then.
	agent_conf "$T/proxy.conf" "$B/pushgateway" pjob pinst \
		"username=\"pusher\"" "password_file=\"$T/pgw.password\"" "ca_file=\"$N/cert.pem\"" \
		once_self_metrics=true
	"$CS" put --job proxied_app --grouping 'instance="a1"' 'app_metric 7'
	run_agent -c "$T/proxy.conf" --once
	is_rc 0 "the agent pushes through nginx to https://127.0.0.1:PORT/pushgateway (--once: exit 0)"
	is "$(gw_value proxied_app 'instance="a1"' app_metric)" 7 "the agent's group is on the gateway"
	is "$(gw_value pjob 'instance="pinst"' collector_agent_up)" 1 "the agent's own metrics are on the gateway"
	# The list the alerts and the dashboard were checked against is what
	# the built agent really exports, and pushes_total has the result
	# values the alerts use.
	# shellcheck disable=SC2086 # AGENT_METRICS is split into names on purpose
	is "$(gw_families pjob 'instance="pinst"' | tr ' ' '\n' | grep . | sort | tr '\n' ' ')" \
		"$(printf '%s\n' $AGENT_METRICS | sort | tr '\n' ' ')" \
		"the agent's own families are exactly the list checked above"
	for r in success retry rejected; do
		v=$(gw_value pjob 'instance="pinst"' collector_agent_pushes_total "result=\"$r\"")
		check "collector_agent_pushes_total{result=\"$r\"} is exported" not [ "$v" = absent ]
	done
else
	tap_skip "collector-agent not built: no push through the proxy"
fi
stop_pid "$NGINX_PID" 5
tap_done
