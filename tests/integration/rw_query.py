#!/usr/bin/python3
"""Reads samples back from a remote-write receiver (Prometheus or
VictoriaMetrics) for test_rw_receivers.sh. Standard library only.

  rw_query.py query URL PROMQL TIME_MS    instant query (/api/v1/query)
  rw_query.py export URL MATCH            VictoriaMetrics /api/v1/export

Prints one line per sample, sorted, in exposition form with the labels
sorted by name and their values escaped again (\\\\, \\", \\n), so that a
value that arrived unescaped prints exactly as it was written to rw_send,
and one that arrived with its backslashes still in prints differently:

  name{k="v",...} VALUE            an instant vector (the query's time)
  name{k="v",...} VALUE @TS_MS     a range vector or an export: raw samples

VALUE is canonical: NaN, +Inf, -Inf, integers without a point (-0 keeps
its sign), other numbers as Python's repr (the shortest text that reads
back as the same double: 1e+300, -1.5). A staleness marker that
VictoriaMetrics' export shows as null prints as `stale`. Nothing is printed
for an empty result. Exit 0, or 1 with a message on standard error when the
receiver cannot be reached or answers with an error.
"""
import decimal
import json
import math
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 10


def esc(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def series(metric):
    name = metric.get("__name__", "")
    labels = ",".join('%s="%s"' % (k, esc(metric[k]))
                      for k in sorted(metric) if k != "__name__")
    return "%s{%s}" % (name, labels)


def value(v):
    if v is None:
        return "stale"
    f = float(v)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    if f.is_integer() and abs(f) < 1e17:
        return str(int(f))
    return repr(f)


def ms(t):
    """Seconds (a Decimal from the JSON, exact) to integer milliseconds."""
    return int((decimal.Decimal(str(t)) * 1000).to_integral_value())


def secs(t_ms):
    t_ms = int(t_ms)
    sign = "-" if t_ms < 0 else ""
    t_ms = abs(t_ms)
    return "%s%d.%03d" % (sign, t_ms // 1000, t_ms % 1000)


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
            return r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        body = e.read().decode("utf-8", "replace")[:500]
        sys.exit("rw_query: %s: HTTP %d: %s" % (url, e.code, body))
    except (urllib.error.URLError, OSError) as e:
        sys.exit("rw_query: %s: %s" % (url, e))


def query(base, promql, t_ms):
    url = base.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(
        {"query": promql, "time": secs(t_ms)})
    doc = json.loads(get(url), parse_float=decimal.Decimal)
    if doc.get("status") != "success":
        sys.exit("rw_query: %s: %s" % (url, doc))
    data = doc["data"]
    out = []
    if data["resultType"] == "vector":
        for r in data["result"]:
            out.append("%s %s" % (series(r["metric"]), value(r["value"][1])))
    elif data["resultType"] == "matrix":
        for r in data["result"]:
            for t, v in r["values"]:
                out.append("%s %s @%d" % (series(r["metric"]), value(v), ms(t)))
    elif data["resultType"] == "scalar":
        out.append(value(data["result"][1]))
    else:
        sys.exit("rw_query: unexpected result type %s" % data["resultType"])
    return out


# VictoriaMetrics' export writes +Inf, -Inf and NaN bare (not JSON) and a
# staleness marker as null; the arrays after the metric hold no strings.
BARE = re.compile(r"(?<=[\[,])\s*([+-]?Inf|NaN)\s*(?=[,\]])")


def export(base, match):
    url = base.rstrip("/") + "/api/v1/export?" + urllib.parse.urlencode(
        {"match[]": match})
    dec = json.JSONDecoder()
    out = []
    for line in get(url).splitlines():
        if not line.strip():
            continue
        head = line.index("{", 1)  # {"metric":{...
        metric, end = dec.raw_decode(line, head)
        rest = json.loads("{" + BARE.sub(r'"\1"', line[end:].lstrip(",")),
                          parse_float=decimal.Decimal)
        for v, t in zip(rest["values"], rest["timestamps"]):
            out.append("%s %s @%d" % (series(metric), value(v), int(t)))
    return out


def main(argv):
    if len(argv) == 5 and argv[1] == "query":
        out = query(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "export":
        out = export(argv[2], argv[3])
    else:
        sys.exit(__doc__.split("\n\n")[1])
    for line in sorted(out):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
