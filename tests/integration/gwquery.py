#!/usr/bin/python3
"""Reads a Pushgateway's state from GET /api/v1/metrics (1.5.x JSON) for the
integration tests. Standard library only.

  gwquery.py URL value JOB GROUPING METRIC [LABELS]
      prints the sample's value string exactly as the gateway shows it
      ("42", "1.5", "NaN", "+Inf"), or "absent". METRIC may be a family
      name, or NAME_bucket (LABELS must hold le="..."), NAME_sum, NAME_count
      of a histogram or summary, and a summary's NAME{quantile="..."}.
  gwquery.py URL groups
      one line per group, its labels sorted: {empty="",job="j",path="/a/b"}
  gwquery.py URL families JOB GROUPING
      the group's family names, sorted, without the gateway's own
      push_time_seconds and push_failure_time_seconds; "absent" when the
      group does not exist.
  gwquery.py URL status JOB GROUPING
      "ok" or "failed" (last_push_successful), or "absent".

GROUPING and LABELS are label pairs in exposition syntax without braces:
  instance="db1",path="/a/b"      ('' for none). A group without an
instance label and one with instance="" are the same group, as on the
gateway (which shows instance="" on the samples of such a group).
Exit status 0, or 2 when the gateway cannot be read or arguments are bad.
"""
import json
import sys
import urllib.request

GATEWAY_FAMILIES = ("push_time_seconds", "push_failure_time_seconds")


def parse_labels(text):
    """k="v",k2="v2" (escapes \\\\ \\" \\n) -> dict; raises ValueError."""
    out = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " ,":
            i += 1
        if i >= n:
            break
        j = text.find("=", i)
        if j < 0:
            raise ValueError("expected '=' in %r" % text)
        name = text[i:j].strip()
        i = j + 1
        if i >= n or text[i] != '"':
            raise ValueError("expected '\"' after %s= in %r" % (name, text))
        try:
            out_val, i = read_quoted(text, i + 1)
        except ValueError as e:
            raise ValueError("%s in %r" % (e, text)) from None
        if name in out:
            raise ValueError("label %s twice in %r" % (name, text))
        out[name] = out_val
    return out


def read_quoted(text, i, strict=False):
    """The label value that starts at text[i], just after its opening
    quote, unescaped (\\\\ \\" \\n), and the index after its closing quote.
    Another escape is kept as written, or with strict raises ValueError,
    as does a value without its closing quote."""
    n = len(text)
    val = []
    while True:
        if i >= n:
            raise ValueError("unterminated label value")
        c = text[i]
        if c == "\\":
            e = text[i + 1] if i + 1 < n else ""
            if e not in ("\\", '"', "n") and (strict or not e):
                raise ValueError("bad escape \\%s" % e)
            val.append({"n": "\n", "\\": "\\", '"': '"'}.get(e, "\\" + e))
            i += 2
        elif c == '"':
            return "".join(val), i + 1
        else:
            val.append(c)
            i += 1


def norm_group(labels):
    d = dict(labels)
    if d.get("instance") == "":
        del d["instance"]
    return d


def fetch(url):
    with urllib.request.urlopen(url.rstrip("/") + "/api/v1/metrics", timeout=10) as r:
        doc = json.load(r)
    if doc.get("status") != "success":
        raise RuntimeError("gateway status %r" % doc.get("status"))
    return doc["data"]


def find_group(data, job, grouping):
    want = norm_group(grouping)
    want["job"] = job
    for g in data:
        if norm_group(g.get("labels", {})) == want:
            return g
    return None


def families(group):
    return {k: v for k, v in group.items()
            if isinstance(v, dict) and "metrics" in v and k not in GATEWAY_FAMILIES}


def sample_labels(metric, group_labels):
    """The sample's own labels: without the group's labels and without an
    instance="" the gateway adds."""
    d = {k: v for k, v in metric.get("labels", {}).items() if k not in group_labels}
    if d.get("instance") == "" and "instance" not in group_labels:
        del d["instance"]
    return d


def same_bound(a, b):
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def value(data, job, grouping, metric, labels):
    g = find_group(data, job, grouping)
    if g is None:
        return "absent"
    fams = families(g)
    glabels = g.get("labels", {})
    candidates = []  # (family, field, bound label name, bound)
    if metric in fams:
        candidates.append((metric, "value", None))
    for suffix, field in (("_bucket", "buckets"), ("_sum", "sum"), ("_count", "count")):
        if metric.endswith(suffix) and metric[: -len(suffix)] in fams:
            candidates.append((metric[: -len(suffix)], field, "le" if field == "buckets" else None))
    found = []
    for fam, field, bound_name in candidates:
        f = fams[fam]
        want = dict(labels)
        bound = None
        if field == "value" and f.get("type") == "SUMMARY" and "quantile" in want:
            field, bound_name = "quantiles", "quantile"
        if field == "value" and f.get("type") == "HISTOGRAM":
            continue
        if bound_name:
            if bound_name not in want:
                continue
            bound = want.pop(bound_name)
        for m in f["metrics"]:
            if sample_labels(m, glabels) != want:
                continue
            if field in ("buckets", "quantiles"):
                for k, v in m.get(field, {}).items():
                    if same_bound(k, bound):
                        found.append(v)
            elif field in m:
                found.append(m[field])
    if not found:
        return "absent"
    if len(found) > 1:
        return "ambiguous:" + ",".join(found)
    return found[0]


def group_line(labels):
    return "{" + ",".join('%s="%s"' % (k, labels[k].replace("\\", "\\\\")
                                          .replace('"', '\\"').replace("\n", "\\n"))
                          for k in sorted(labels)) + "}"


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    url, cmd, args = argv[1], argv[2], argv[3:]
    try:
        data = fetch(url)
    except Exception as e:  # noqa: BLE001 - any failure is "cannot read"
        print("gwquery: cannot read %s: %s" % (url, e), file=sys.stderr)
        return 2
    try:
        if cmd == "value" and len(args) in (3, 4):
            print(value(data, args[0], parse_labels(args[1]), args[2],
                        parse_labels(args[3] if len(args) == 4 else "")))
        elif cmd == "groups" and not args:
            for line in sorted(group_line(g.get("labels", {})) for g in data):
                print(line)
        elif cmd == "families" and len(args) == 2:
            g = find_group(data, args[0], parse_labels(args[1]))
            print("absent" if g is None else " ".join(sorted(families(g))))
        elif cmd == "status" and len(args) == 2:
            g = find_group(data, args[0], parse_labels(args[1]))
            print("absent" if g is None else
                  ("ok" if g.get("last_push_successful") else "failed"))
        else:
            print("gwquery: bad arguments: %r" % (argv[2:],), file=sys.stderr)
            return 2
    except ValueError as e:
        print("gwquery: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
