#!/usr/bin/python3
"""Writes one large group for the gzip tests: the text the producers put,
and the sample lines a Pushgateway's /metrics must then show for it.

  gzip_group.py N ROUND JOB INSTANCE IN_FILE WANT_FILE

N series: counters with a path label, and every 4th series a gauge whose
label value has the text format's escapes (\\\\, \\", \\n) and UTF-8. The
values depend on ROUND, so that another round changes every series.
WANT_FILE holds the gateway's lines, labels sorted by name (job and
instance included), sorted. Values are integers and halves below 10^6,
which Go and Python write alike.
"""
import sys


def esc(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def main(argv):
    n, rnd, job, inst = int(argv[1]), int(argv[2]), argv[3], argv[4]
    odd = ['quote "q"', "back\\slash", "line\nbreak", "caf\u00e9 \u65e5\u672c\u8a9e",
           "\\n not a newline", "emoji \U0001f600"]
    body = ["# TYPE gz_requests_total counter"]
    gauges = ["# TYPE gz_odd_label gauge"]
    want = []
    for i in range(n):
        if i % 4 == 3:
            v = "%s %d" % (odd[i % len(odd)], i)
            val = "%d.5" % (i + rnd)
            gauges.append('gz_odd_label{v="%s"} %s' % (esc(v), val))
            labels = {"v": v}
            name = "gz_odd_label"
        else:
            path = "/api/v1/items/%d" % i
            code = ("200", "404", "500")[i % 3]
            val = "%d" % (i * 7 + rnd)
            body.append('gz_requests_total{code="%s",path="%s"} %s' % (code, path, val))
            labels = {"code": code, "path": path}
            name = "gz_requests_total"
        labels["job"] = job
        labels["instance"] = inst
        want.append("%s{%s} %s" % (name, ",".join('%s="%s"' % (k, esc(labels[k]))
                                                   for k in sorted(labels)), val))
    with open(argv[5], "w", encoding="utf-8") as f:
        f.write("\n".join(body + gauges) + "\n")
    with open(argv[6], "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(want)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
