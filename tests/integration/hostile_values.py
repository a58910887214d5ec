#!/usr/bin/python3
"""Hostile job, grouping-label and series-label values for test_hostile.sh.
Standard library only. Two steps, so that the test runs the agent between
them:

  hostile_values.py write TABLE STATE CS SPOOL
      reads the case table (TABLE, written by the test), and for every case
      and every place (job, grouping label value, series label value) writes
      one row with `collector-spool put` (CS) and one with plain SQL
      (INSERT INTO inbox(job, grouping, op, body) through Python's sqlite3,
      with the bytes bound exactly as given), then saves what it did and what
      put answered in STATE (JSON).
  hostile_values.py check STATE GATEWAY-URL CS SPOOL
      compares the gateway's GET /api/v1/metrics and `collector-spool
      rejected --json` with the table and prints one result per line:
          ok<TAB>NAME
          fail<TAB>NAME<TAB>DIAGNOSTIC
          todo<TAB>NAME<TAB>BUG<TAB>DIAGNOSTIC   (a failure pinned as a known bug)
          todo_ok<TAB>NAME<TAB>BUG               (a pinned check that passes now)
          skip<TAB>REASON
          note<TAB>TEXT
      which the test turns into TAP lines, then the table of outcomes.
  hostile_values.py group GATEWAY-URL CASE
      the labels of the gateway's group with case="CASE" (sorted JSON), or
      "absent".
  hostile_values.py reason CS SPOOL METRIC
      the reason of each rejected row whose body starts with METRIC, or
      "not rejected".

The table (one case per line; blank lines and lines starting with # are
ignored), fields separated by " | ":

  ID | VALUE | FORM | JOB | GROUPING | SERIES | KNOWN

  VALUE     a Python literal (str or bytes): the value that must arrive at
            the gateway, byte for byte; or AT_LIMIT / OVER_LIMIT, which make a
            value that fills each place to exactly its limit (job 1024 bytes,
            grouping string 8192 bytes, sample line 65536 bytes) or one byte
            over it.
  FORM      esc: label values are written escaped as the exposition format
            requires (\\\\, \\", \\n); raw: written as they are (to show that an
            unescaped newline or quote is refused, never taken apart).
  JOB, GROUPING, SERIES
            ok              delivered: the gateway shows exactly VALUE
            refuse: REASON  put exits 65 with "collector-spool: REASON" and
                            the SQL row goes to the rejected list with REASON
            -               not tried in this place
  KNOWN     "-" or space-separated WRITER-PLACE=BUG pins (put-job=...,
            sql-grouping=...): such a check that fails is reported as todo.
"""
import ast
import json
import os
import sqlite3
import subprocess
import sys
import urllib.request

PLACES = ("job", "grouping", "series")
WRITERS = ("put", "sql")
LIMIT_JOB = 1024
LIMIT_GROUPING = 8192
LIMIT_LINE = 65536


def parse_table(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = [p.strip() for p in line.split(" | ")]
            if len(parts) != 7:
                raise SystemExit("table line %d: want 7 fields, got %d: %r"
                                 % (n, len(parts), line))
            cid, value, form, job, grouping, series, known = parts
            if value in ("AT_LIMIT", "OVER_LIMIT"):
                val = value
            else:
                val = ast.literal_eval(value)
                if isinstance(val, str):
                    val = val.encode("utf-8")
                if not isinstance(val, bytes):
                    raise SystemExit("table line %d: value must be str or bytes" % n)
            if form not in ("esc", "raw"):
                raise SystemExit("table line %d: form must be esc or raw" % n)
            pins = {}
            if known != "-":
                for pin in known.split():
                    k, _, bug = pin.partition("=")
                    pins[k] = bug
            cases.append({"id": cid, "shown": value, "value": val, "form": form,
                          "expect": {"job": job, "grouping": grouping,
                                     "series": series},
                          "pins": pins})
    return cases


def esc(v):
    """Escapes a label value as the exposition format requires."""
    return v.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")


def fill(n):
    """n bytes of mixed one-, two- and three-byte UTF-8, ending cleanly."""
    unit = "ç日x".encode("utf-8")  # 6 bytes
    out = unit * (n // len(unit))
    return out + b"x" * (n - len(out))


def build(case, writer, place):
    """The row (job, grouping, body) for one case in one place, and the
    value that must arrive. Every row has its own case label and metric
    name, so that it can be found at the gateway and in the rejected list."""
    cid = "%s-%s-%s" % (writer, place, case["id"])
    metric = ("h_%s_%s_%s" % (writer, place, case["id"])).replace("-", "_")
    case_label = b'case="' + cid.encode() + b'"'
    v = case["value"]
    over = 1 if v == "OVER_LIMIT" else 0
    if place == "job":
        if v in ("AT_LIMIT", "OVER_LIMIT"):
            v = fill(LIMIT_JOB + over)
        return cid, metric, v, case_label, metric.encode() + b" 1\n", v
    if place == "grouping":
        head = case_label + b',k="'
        if v in ("AT_LIMIT", "OVER_LIMIT"):
            v = fill(LIMIT_GROUPING + over - len(head) - 1)
        written = esc(v) if case["form"] == "esc" else v
        return (cid, metric, b"hostile_grouping", head + written + b'"',
                metric.encode() + b" 1\n", v)
    head = metric.encode() + b'{l="'
    tail = b'"} 1'
    if v in ("AT_LIMIT", "OVER_LIMIT"):
        v = fill(LIMIT_LINE + over - len(head) - len(tail))
    written = esc(v) if case["form"] == "esc" else v
    return (cid, metric, b"hostile_series", case_label,
            head + written + tail + b"\n", v)


def cmd_write(table, state_path, cs, spool):
    cases = parse_table(table)
    env = dict(os.environ, COLLECTOR_SPOOL=spool)
    rows = []
    for case in cases:
        for place in PLACES:
            if case["expect"][place] == "-":
                continue
            cid, metric, job, grouping, body, want = build(case, "put", place)
            r = {"case": case["id"], "writer": "put", "place": place,
                 "cid": cid, "metric": metric, "job": job.hex(),
                 "grouping": grouping.hex(), "body": body.hex(),
                 "want": want.hex()}
            if b"\0" in job or b"\0" in grouping:
                r["skip"] = "a NUL byte cannot travel in a command-line argument"
            else:
                p = subprocess.run([cs, "put", "--job", job, "--grouping",
                                    grouping], input=body, env=env,
                                   capture_output=True, timeout=60)
                r["rc"] = p.returncode
                r["stderr"] = p.stderr.decode("utf-8", "replace")
            rows.append(r)
    db = sqlite3.connect("file:%s?mode=rw" % spool, uri=True, timeout=10,
                         isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    for case in cases:
        for place in PLACES:
            if case["expect"][place] == "-":
                continue
            cid, metric, job, grouping, body, want = build(case, "sql", place)
            # CAST(? AS TEXT) keeps every byte (NUL, invalid UTF-8) and
            # stores TEXT, as writers in other languages do.
            db.execute("INSERT INTO inbox(job, grouping, op, body) VALUES "
                       "(CAST(? AS TEXT), CAST(? AS TEXT), 'set', "
                       "CAST(? AS TEXT))", (job, grouping, body))
            rows.append({"case": case["id"], "writer": "sql", "place": place,
                         "cid": cid, "metric": metric, "job": job.hex(),
                         "grouping": grouping.hex(), "body": body.hex(),
                         "want": want.hex()})
    db.execute("COMMIT")
    db.close()
    for c in cases:
        c["value"] = c["value"] if isinstance(c["value"], str) else c["value"].hex()
    with open(state_path, "w") as f:
        json.dump({"cases": cases, "rows": rows}, f)
    return 0


def fetch(url):
    with urllib.request.urlopen(url.rstrip("/") + "/api/v1/metrics",
                                timeout=10) as r:
        doc = json.load(r)
    return doc["data"]


def json_shown(b):
    """What `collector-spool rejected --json` shows for bytes b: the bytes as
    written, where a string that is not valid UTF-8 has each byte >= 0x80
    replaced by U+FFFD (documented)."""
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return "".join("\ufffd" if c >= 0x80 else chr(c) for c in b)


# A refused row keeps job, grouping and op up to 8192 bytes and its body up
# to 4096 (SPOOL_REJECTED_FIELD_KEEP, SPOOL_REJECTED_BODY_KEEP), never
# ending inside a UTF-8 character (at most 3 continuation bytes backed off).
FIELD_KEEP = 8192
BODY_KEEP = 4096


def kept(b, keep):
    if b is None or len(b) <= keep:
        return b
    cut = keep
    for _ in range(3):
        if cut > 0 and b[cut] & 0xC0 == 0x80:
            cut -= 1
    return b[:cut]


def fnv1a64(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
    return "%016x" % h


def short(b, n=60):
    s = repr(b)
    return s if len(s) <= n else s[:n] + "...(%d bytes)" % len(b)


def cmd_check(state_path, url, cs, spool):
    with open(state_path) as f:
        state = json.load(f)
    cases = {c["id"]: c for c in state["cases"]}
    data = fetch(url)
    env = dict(os.environ, COLLECTOR_SPOOL=spool)
    p = subprocess.run([cs, "rejected", "--json"], env=env,
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        print("fail\tcollector-spool rejected --json\texit %d: %s"
              % (p.returncode, p.stderr.decode("utf-8", "replace")))
        return 0
    rejected = json.loads(p.stdout.decode("utf-8"))
    rej_by_metric = {}
    for r in rejected:
        body = r.get("body") or ""
        name = body.split("{", 1)[0].split(" ", 1)[0]
        rej_by_metric.setdefault(name, []).append(r)
    groups = {}
    for g in data:
        c = g.get("labels", {}).get("case")
        if c is not None:
            groups.setdefault(c, []).append(g)

    expected_at_gw = set()
    summary = {}
    pins_of_cid = {}
    for r in state["rows"]:
        case = cases[r["case"]]
        place, writer = r["place"], r["writer"]
        expect = case["expect"][place]
        pin = case["pins"].get("%s-%s" % (writer, place))
        want = bytes.fromhex(r["want"])
        job = bytes.fromhex(r["job"])
        grouping = bytes.fromhex(r["grouping"])
        body = bytes.fromhex(r["body"])
        name = "%s %s %s (%s%s)" % (
            place, "value" if place == "job" else "label value", case["id"],
            writer, "" if place == "job" else
            ", escaped" if case["form"] == "esc" else ", unescaped")
        key = (case["id"], writer, place)
        got = []   # what happened, in words
        bad = []   # how it differs from the table

        if r.get("skip"):
            print("skip\t%s: %s" % (name, r["skip"]))
            summary[key] = "n/a"
            continue
        if writer == "put":
            if expect == "ok":
                if r["rc"] != 0 or r["stderr"]:
                    bad.append("put exit %d, stderr %r; want exit 0, quiet"
                               % (r["rc"], r["stderr"]))
                got.append("put exit %d" % r["rc"])
            else:
                reason = expect[len("refuse: "):]
                want_err = "collector-spool: %s\n" % reason
                # The reason, then at most one line echoing what was
                # refused, with no raw control character in it.
                first, _, echo = r["stderr"].partition("\n")
                echo = echo.rstrip("\n")
                if (r["rc"] != 65 or first + "\n" != want_err or
                        "\n" in echo or
                        any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in echo)):
                    bad.append("put exit %d, stderr %r; want exit 65, %r"
                               % (r["rc"], r["stderr"], want_err))
                got.append("put exit %d %r" % (r["rc"], first))
        else:
            rej = rej_by_metric.get(r["metric"], [])
            if expect == "ok":
                if rej:
                    bad.append("rejected: %r" % rej[0]["reason"])
                    got.append("rejected %r" % rej[0]["reason"])
            else:
                reason = expect[len("refuse: "):]
                if len(rej) != 1:
                    bad.append("%d rows in the rejected list; want 1 with "
                               "reason %r" % (len(rej), reason))
                    got.append("not in the rejected list")
                else:
                    got.append("rejected %r" % rej[0]["reason"])
                    if rej[0]["reason"] != reason:
                        bad.append("reason %r; want %r" % (rej[0]["reason"],
                                                           reason))
        # The gateway: exactly the value, or nothing at all.
        gs = groups.get(r["cid"], [])
        if expect == "ok":
            expected_at_gw.add(r["cid"])
            wlabels = {"case": r["cid"]}
            slabels = None
            try:
                wlabels["job"] = job.decode("utf-8")
                if place == "grouping":
                    wlabels["k"] = want.decode("utf-8")
                if place == "series":
                    slabels = {"l": want.decode("utf-8")}
            except UnicodeDecodeError:
                bad.append("the table says ok for a value that is not UTF-8")
            if len(gs) != 1:
                bad.append("%d groups with case=%s at the gateway; want 1"
                           % (len(gs), r["cid"]))
                got.append("not at the gateway")
            else:
                g = gs[0]
                glabels = dict(g["labels"])
                if glabels != wlabels:
                    bad.append("gateway group labels %r; want %r"
                               % (glabels, wlabels))
                fam = g.get(r["metric"])
                if not isinstance(fam, dict) or len(fam.get("metrics", [])) != 1:
                    bad.append("family %s missing at the gateway; it has %r"
                               % (r["metric"], sorted(k for k in g if k != "labels")))
                else:
                    m = fam["metrics"][0]
                    ml = {k: v for k, v in m.get("labels", {}).items()
                          if k not in glabels and not (k == "instance" and v == "")}
                    want_ml = slabels or {}
                    if ml != want_ml:
                        bad.append("series labels %r; want %r" % (ml, want_ml))
                    if m.get("value") != "1":
                        bad.append("value %r; want '1'" % m.get("value"))
                if not bad:
                    # Byte for byte, not only as Python strings.
                    shown = (glabels.get("job") if place == "job" else
                             glabels.get("k") if place == "grouping" else
                             g[r["metric"]]["metrics"][0]["labels"].get("l"))
                    if shown.encode("utf-8") != want:
                        bad.append("bytes differ: %r != %r"
                                   % (shown.encode("utf-8"), want))
                    else:
                        got.append("delivered byte-exact (%d bytes)" % len(want))
        else:
            if gs:
                bad.append("at the gateway although refused: %r"
                           % [g["labels"] for g in gs])
                got.append("delivered as %r" % [g["labels"] for g in gs])
        # A refused SQL row is shown as it was written.
        if writer == "sql" and expect != "ok":
            rej = rej_by_metric.get(r["metric"], [])
            if len(rej) == 1:
                rr = rej[0]
                sbad = []
                for field, b, keep in (("job", job, FIELD_KEEP),
                                       ("grouping", grouping, FIELD_KEEP),
                                       ("body", body, BODY_KEEP)):
                    if rr.get(field) != json_shown(kept(b, keep)):
                        sbad.append("%s shown as %s; written %s" % (
                            field, short(rr.get(field)), short(b)))
                if (rr.get("body_bytes"), rr.get("body_fnv1a64")) != (
                        len(body), fnv1a64(body)):
                    sbad.append("body size and hash shown as %s, %s; "
                                "written %d bytes, %s" % (
                                    rr.get("body_bytes"),
                                    rr.get("body_fnv1a64"), len(body),
                                    fnv1a64(body)))
                sname = "%s: the rejected list shows the row as written" % name
                spin = case["pins"].get("%s-%s-shown" % (writer, place))
                if not sbad and spin:
                    print("todo_ok\t%s\t%s" % (sname, spin))
                elif not sbad:
                    print("ok\t%s" % sname)
                elif spin:
                    print("todo\t%s\t%s\t%s" % (sname, spin, "; ".join(sbad)))
                else:
                    print("fail\t%s\t%s" % (sname, "; ".join(sbad)))
        outcome = "; ".join(got) if got else "?"
        full = "%s: %s -> %s" % (name, "delivered" if expect == "ok" else
                                 "refused", outcome)
        if not bad and pin:
            print("todo_ok\t%s\t%s" % (full, pin))
            summary[key] = "delivered" if expect == "ok" else "refused"
        elif not bad:
            print("ok\t%s" % full)
            summary[key] = "delivered" if expect == "ok" else "refused"
        elif pin:
            print("todo\t%s\t%s\t%s" % (full, pin, "; ".join(bad)))
            summary[key] = "BUG " + pin
        else:
            print("fail\t%s\t%s" % (full, "; ".join(bad)))
            summary[key] = "FAIL"
        pins_of_cid[r["cid"]] = pin
    # Nothing else arrived (an altered row would show up here too).
    extra = sorted(c for c in groups if c not in expected_at_gw
                   and c.startswith(("put-", "sql-")))
    name = "no other hostile group at the gateway"
    unpinned = [c for c in extra if not pins_of_cid.get(c)]
    if not extra:
        print("ok\t%s" % name)
    elif unpinned:
        print("fail\t%s\tunexpected: %s" % (name, " ".join(extra)))
    else:
        print("todo\t%s\t%s\tunexpected: %s" % (
            name, " ".join(sorted(set(pins_of_cid[c] for c in extra))),
            " ".join(extra)))
    # The table of outcomes.
    print("note\t%-14s | %-26s | %-24s | %-24s | %-24s" % (
        "case", "value", "job put / sql", "grouping put / sql",
        "series put / sql"))
    for case in state["cases"]:
        cells = []
        for place in PLACES:
            a = summary.get((case["id"], "put", place), "-")
            b = summary.get((case["id"], "sql", place), "-")
            cells.append("%s / %s" % (a, b))
        shown = case["shown"]
        if len(shown) > 26:
            shown = shown[:23] + "..."
        print("note\t%-14s | %-26s | %-24s | %-24s | %-24s" % (
            case["id"], shown, cells[0], cells[1], cells[2]))
    return 0


def cmd_group(url, cid):
    """The labels of the group with case=CID, as sorted JSON, or absent."""
    gs = [g for g in fetch(url) if g.get("labels", {}).get("case") == cid]
    if not gs:
        print("absent")
    for g in gs:
        print(json.dumps(g["labels"], sort_keys=True))
    return 0


def cmd_reason(cs, spool, metric):
    """The reasons of the rejected rows whose body starts with METRIC."""
    env = dict(os.environ, COLLECTOR_SPOOL=spool)
    p = subprocess.run([cs, "rejected", "--json"], env=env,
                       capture_output=True, timeout=60)
    if p.returncode != 0:
        print("rejected --json: exit %d" % p.returncode)
        return 0
    found = [r["reason"] for r in json.loads(p.stdout.decode("utf-8"))
             if (r.get("body") or "").split("{", 1)[0].split(" ", 1)[0] == metric]
    print("\n".join(found) if found else "not rejected")
    return 0


def main(argv):
    if len(argv) == 6 and argv[1] == "write":
        return cmd_write(*argv[2:])
    if len(argv) == 6 and argv[1] == "check":
        return cmd_check(*argv[2:])
    if len(argv) == 4 and argv[1] == "group":
        return cmd_group(*argv[2:])
    if len(argv) == 5 and argv[1] == "reason":
        return cmd_reason(*argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
