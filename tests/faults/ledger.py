#!/usr/bin/python3
"""What the fault tests' writers wrote, against what a Pushgateway holds.

Each writer appends one line per sample of every row that `collector-spool
put` accepted (exit 0) to its ledger, tab-separated:

    JOB  GROUPING  OP  NAME  LABELS  VALUE

GROUPING and LABELS are label pairs without braces ('' for none), OP is
`add` or `set`. Expected state: an `add` series is the sum of its values; a
`set` series is its last value in ledger order (each set series is written
by one writer only, so its ledger's order is the write order). Values are
integers or halves, so every sum is exact in a double in any order.

  ledger.py compare URL LEDGER...
      compares every expected series with the gateway (GET /api/v1/metrics)
      by value (as doubles, exactly), and checks that the gateway holds no
      other series in those groups and no other group of those jobs.
      Prints "groups=G series=S rows=R mismatches=M" and one line per
      mismatch; exit 0 when M is 0, 1 otherwise, 2 when the gateway cannot
      be read.
  ledger.py rows LEDGER...
      the number of rows (accepted puts) and sample lines: "rows=R lines=L".

A ledger line of OP `row` (NAME, LABELS, VALUE empty) marks the start of a
row, so that rows can be counted apart from sample lines.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import gwquery  # noqa: E402


def read(paths):
    expected = {}  # (job, frozen grouping) -> {frozen labels: value}
    rows = lines = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for raw in f:
                raw = raw.rstrip("\n")
                if not raw:
                    continue
                job, grouping, op, name, labels, value = raw.split("\t")
                if op == "row":
                    rows += 1
                    continue
                lines += 1
                g = (job, frozenset(gwquery.norm_group(
                    gwquery.parse_labels(grouping)).items()))
                key = (name, frozenset(gwquery.parse_labels(labels).items()))
                series = expected.setdefault(g, {})
                v = float(value)
                if op == "add":
                    series[key] = series.get(key, 0.0) + v
                elif op == "set":
                    series[key] = v
                else:
                    raise ValueError("%s: unknown op %r" % (path, op))
    return expected, rows, lines


def show(name, labels):
    return name + gwquery.group_line(dict(labels))


def compare(url, paths):
    expected, rows, _ = read(paths)
    try:
        data = gwquery.fetch(url)
    except Exception as e:  # noqa: BLE001
        print("ledger: cannot read %s: %s" % (url, e), file=sys.stderr)
        return 2
    jobs = {job for job, _ in expected}
    bad = []
    nseries = 0
    seen_groups = set()
    for g in data:
        glabels = g.get("labels", {})
        if glabels.get("job") not in jobs:
            continue
        key = (glabels["job"], frozenset(gwquery.norm_group(
            {k: v for k, v in glabels.items() if k != "job"}).items()))
        seen_groups.add(key)
        want = expected.get(key)
        if want is None:
            bad.append("unexpected group %s" % gwquery.group_line(glabels))
            continue
        got = {}
        for fam, f in gwquery.families(g).items():
            for m in f["metrics"]:
                sl = frozenset(gwquery.sample_labels(m, glabels).items())
                got[(fam, sl)] = m.get("value")
        for k, v in want.items():
            nseries += 1
            if k not in got:
                bad.append("%s %s: absent, want %r" % (
                    gwquery.group_line(glabels), show(*k), v))
            elif got[k] is None or float(got[k]) != v:
                bad.append("%s %s: got %s, want %r" % (
                    gwquery.group_line(glabels), show(*k), got[k], v))
        for k in got:
            if k not in want:
                bad.append("%s %s: unexpected series (value %s)" % (
                    gwquery.group_line(glabels), show(*k), got[k]))
    for key in expected:
        if key not in seen_groups:
            bad.append("group job=%s %s: absent from the gateway" % (
                key[0], gwquery.group_line(dict(key[1]))))
            nseries += len(expected[key])
    print("groups=%d series=%d rows=%d mismatches=%d" % (
        len(expected), nseries, rows, len(bad)))
    for b in bad[:40]:
        print(b)
    if len(bad) > 40:
        print("... and %d more" % (len(bad) - 40))
    return 1 if bad else 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "compare":
        return compare(argv[2], argv[3:])
    if len(argv) >= 2 and argv[1] == "rows":
        _, rows, lines = read(argv[2:])
        print("rows=%d lines=%d" % (rows, lines))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
