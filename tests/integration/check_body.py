#!/usr/bin/python3
"""Checks text-format bodies for what `promtool check metrics` lets through
but a renderer must not produce: sample timestamps, duplicate
series, non-contiguous families, a second HELP or TYPE, TYPE after the
family's samples, histograms without le="+Inf" or with buckets that are not
cumulative or disagree with _count, label names starting with "__", CR
bytes, a missing final newline, an empty body.

  check_body.py FILE...     prints "FILE: problem" lines; exit 1 if any.
  check_body.py --value FILE NAME [LABELS]
                            prints the value text of the sample NAME whose
                            label set is exactly LABELS ('k="v",...', any
                            order), or "absent".
  check_body.py --same A B  exit 0 when the value texts A and B are the same
                            double (NaN equals NaN), else 1.
"""
import math
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gwquery import parse_labels, read_quoted  # noqa: E402


def parse_sample(line):
    """-> (name, [(label, value)], value_text, rest) or raises ValueError."""
    i, n = 0, len(line)
    while i < n and (line[i].isalnum() or line[i] in "_:"):
        i += 1
    name = line[:i]
    if not name or name[0].isdigit():
        raise ValueError("bad metric name")
    labels = []
    if i < n and line[i] == "{":
        i += 1
        while True:
            while i < n and line[i] in " ,":
                i += 1
            if i < n and line[i] == "}":
                i += 1
                break
            j = i
            while i < n and (line[i].isalnum() or line[i] == "_"):
                i += 1
            lname = line[j:i]
            if not lname or i >= n or line[i] != "=" or i + 1 >= n or line[i + 1] != '"':
                raise ValueError("bad label")
            val, i = read_quoted(line, i + 2, strict=True)
            labels.append((lname, val))
    rest = line[i:].split()
    if not rest:
        raise ValueError("no value")
    return name, labels, rest[0], rest[1:]


def family_of(name, types):
    for suffix, kinds in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary")),
                          ("_count", ("histogram", "summary"))):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) in kinds:
            return name[: -len(suffix)]
    return name


def check(data):
    problems = []
    if not data:
        return ["empty body"]
    if b"\r" in data:
        problems.append("carriage return")
    if not data.endswith(b"\n"):
        problems.append("no final newline")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return problems + ["not UTF-8"]
    types, helps = {}, {}
    seen_series = set()
    done_families = set()
    current = None
    sampled = set()
    hist = {}  # (family, labels without le) -> {"b": [(le, v)], "count": v}

    def enter(fam, lineno):
        nonlocal current
        if fam != current:
            if fam in done_families:
                problems.append("line %d: family %s is not contiguous" % (lineno, fam))
            if current is not None:
                done_families.add(current)
            current = fam

    for lineno, line in enumerate(text.split("\n")[:-1] if text.endswith("\n")
                                  else text.split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                fam = parts[2]
                enter(fam, lineno)
                table = helps if parts[1] == "HELP" else types
                if fam in table:
                    problems.append("line %d: second %s for %s" % (lineno, parts[1], fam))
                if parts[1] == "TYPE":
                    if fam in sampled:
                        problems.append("line %d: TYPE after samples of %s" % (lineno, fam))
                    types[fam] = parts[3].strip() if len(parts) > 3 else ""
                else:
                    helps[fam] = parts[3] if len(parts) > 3 else ""
            continue
        try:
            name, labels, value, rest = parse_sample(line)
        except ValueError as e:
            problems.append("line %d: %s: %r" % (lineno, e, line))
            continue
        fam = family_of(name, types)
        enter(fam, lineno)
        sampled.add(fam)
        if rest:
            problems.append("line %d: timestamp or trailing text %r" % (lineno, rest))
        names = [k for k, _ in labels]
        if len(set(names)) != len(names):
            problems.append("line %d: a label twice" % lineno)
        for k in names:
            if k.startswith("__"):
                problems.append("line %d: label name %s starts with __" % (lineno, k))
        key = (name, tuple(sorted(labels)))
        if key in seen_series:
            problems.append("line %d: duplicate series %s" % (lineno, line))
        seen_series.add(key)
        try:
            v = float(value)
        except ValueError:
            problems.append("line %d: bad value %r" % (lineno, value))
            continue
        if types.get(fam) == "histogram":
            rest_labels = tuple(sorted((k, x) for k, x in labels if k != "le"))
            h = hist.setdefault((fam, rest_labels), {"b": [], "count": None})
            if name == fam + "_bucket":
                le = dict(labels).get("le")
                if le is None:
                    problems.append("line %d: bucket without le" % lineno)
                else:
                    h["b"].append((float(le), v))
            elif name == fam + "_count":
                h["count"] = v
    for (fam, labels), h in hist.items():
        where = "histogram %s%s" % (fam, dict(labels) if labels else "")
        b = h["b"]
        if not b or not math.isinf(b[-1][0]):
            problems.append("%s: no le=\"+Inf\" bucket last" % where)
        if [x for x, _ in b] != sorted(x for x, _ in b):
            problems.append("%s: buckets not in order" % where)
        counts = [v for _, v in b]
        if counts != sorted(counts):
            problems.append("%s: buckets not cumulative" % where)
        if h["count"] is None:
            problems.append("%s: no _count" % where)
        elif b and b[-1][1] != h["count"]:
            problems.append("%s: +Inf bucket %s != _count %s" % (where, b[-1][1], h["count"]))
    return problems


def value_of(data, name, labels):
    want = parse_labels(labels)
    found = []
    for line in data.decode("utf-8").split("\n"):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            n, lab, v, _ = parse_sample(line)
        except ValueError:
            continue
        if n == name and dict(lab) == want and len(lab) == len(want):
            found.append(v)
    if not found:
        return "absent"
    return found[0] if len(found) == 1 else "ambiguous:" + ",".join(found)


def same(a, b):
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return (math.isnan(x) and math.isnan(y)) or x == y


def main(argv):
    if len(argv) >= 4 and argv[1] == "--value":
        with open(argv[2], "rb") as f:
            print(value_of(f.read(), argv[3], argv[4] if len(argv) > 4 else ""))
        return 0
    if len(argv) == 4 and argv[1] == "--same":
        return 0 if same(argv[2], argv[3]) else 1
    bad = 0
    for path in argv[1:]:
        with open(path, "rb") as f:
            for p in check(f.read()):
                print("%s: %s" % (path, p))
                bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))
