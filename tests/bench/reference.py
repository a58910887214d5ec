#!/usr/bin/env python3
"""The reference run for `make bench`: Python's own sqlite3 module writing the
same rows into the same inbox table (a spool file made by collector-spool), so
that the C figures have a yardstick measured on this machine in the same call.

    reference.py single SPOOL [normal|full]   one row per transaction
    reference.py batch SPOOL LINES_PER_BODY   executemany, many rows per transaction
    reference.py fold SPOOL ROWS LINES_PER_ROW
        a minimal fold: fills the inbox with ROWS `add` rows (not timed), then
        reads them, parses `name{labels} value` lines, sums them in a dict and
        writes the sums to a table of its own, deleting the rows it read, in
        one transaction (timed)

Each prints one line, `ref NAME UNIT_per_s=X UNIT=N ... seconds=S`. Loops stop
at a count or a time budget, whichever comes first; BENCH_QUICK=1 in the
environment cuts the budgets to a tenth. Nothing is asserted.
"""
import os
import sqlite3
import sys
import time

# make bench BENCH_QUICK=1: the smoke run, seconds in all.
SCALE = 0.1 if os.environ.get("BENCH_QUICK") else 1.0

GROUPS = 10
SERIES = 100
INSERT = "INSERT INTO inbox(job, grouping, op, body) VALUES (?, ?, ?, ?)"


def grouping(g):
    return 'instance="host%d:9100"' % g


def body(first, n):
    """The same lines as tests/helpers/bench_spool.c writes."""
    out = []
    for i in range(n):
        x = (first + i) % SERIES
        out.append('bench_requests_total{code="%d",path="/api/v1/items/%d"} 1\n'
                   % (500 if x % 5 == 0 else 200, x))
    return "".join(out)


def connect(path, sync):
    # Autocommit: each INSERT is its own transaction, as spool_put() outside
    # a batch; the batch below opens its own.
    db = sqlite3.connect(path, timeout=5, isolation_level=None)
    db.execute("PRAGMA synchronous=%s" % sync)
    return db


def single(path, sync, max_rows, budget):
    db = connect(path, sync)
    bodies = [body(i, 1) for i in range(SERIES)]
    groupings = [grouping(g) for g in range(GROUPS)]
    rows = 0
    t0 = time.perf_counter()
    t = 0.0
    while rows < max_rows and t < budget:
        for _ in range(64):
            if rows >= max_rows:
                break
            db.execute(INSERT, ("bench", groupings[rows % GROUPS], "add",
                                bodies[rows % SERIES]))
            rows += 1
        t = time.perf_counter() - t0
    db.close()
    name = "py_single_insert" if sync == "normal" else "py_single_insert_full"
    print("ref %s rows_per_s=%.0f rows=%d seconds=%.2f"
          % (name, rows / t if t > 0 else 0, rows, t), flush=True)


def batch(path, lines, per_batch, max_lines, budget):
    db = connect(path, "normal")
    bodies = [body(i, lines) for i in range(SERIES)]
    groupings = [grouping(g) for g in range(GROUPS)]
    rows = total = 0
    t0 = time.perf_counter()
    t = 0.0
    while total < max_lines and t < budget:
        n = min(per_batch, (max_lines - total + lines - 1) // lines)
        params = [("bench", groupings[(rows + k) % GROUPS], "add",
                   bodies[(rows + k) % SERIES]) for k in range(n)]
        db.execute("BEGIN IMMEDIATE")
        db.executemany(INSERT, params)
        db.execute("COMMIT")
        rows += n
        total += n * lines
        t = time.perf_counter() - t0
    db.close()
    name = "py_executemany_multiline" if lines > 1 else "py_executemany_bodies"
    print("ref %s lines_per_s=%.0f lines=%d rows=%d seconds=%.2f"
          % (name, total / t if t > 0 else 0, total, rows, t), flush=True)


def fold(path, rows, lines):
    """The rows tests/helpers/bench_spool.c's fold figures fold: a one-line
    row k adds 1 to series k % SERIES of group k / SERIES % GROUPS; a row of
    more lines adds 1 to series first.. of group k % GROUPS. The state is
    keyed as the agent keys it (group, name, labels); the table is this
    script's own, so that the agent's tables are not needed."""
    db = connect(path, "normal")
    bodies = [body(i, lines) for i in range(SERIES)]
    groupings = [grouping(g) for g in range(GROUPS)]
    for first in range(0, rows, 10000):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(INSERT, (
            ("bench", groupings[k // SERIES % GROUPS if lines == 1 else k % GROUPS],
             "add", bodies[k % SERIES]) for k in range(first, min(rows, first + 10000))))
        db.execute("COMMIT")
    # From a checkpointed file, as the C figure starts.
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    t0 = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    state = {}
    n = nrows = last = 0
    for rid, job, grp, op, text in db.execute(
            "SELECT id, job, grouping, op, body FROM inbox ORDER BY id"):
        for line in text.split("\n"):
            if not line or line[0] == "#":
                continue
            series, _, value = line.rpartition(" ")
            name, _, labels = series.partition("{")
            key = (job, grp, name, labels[:-1])
            if op == "set":
                state[key] = float(value)
            else:
                state[key] = state.get(key, 0.0) + float(value)
            n += 1
        nrows += 1
        last = rid
    db.execute("CREATE TABLE IF NOT EXISTS py_state(job, grouping, name, labels,"
               " value, PRIMARY KEY(job, grouping, name, labels)) WITHOUT ROWID")
    db.executemany("INSERT INTO py_state VALUES (?, ?, ?, ?, ?) ON CONFLICT DO "
                   "UPDATE SET value = value + excluded.value",
                   (k + (v,) for k, v in state.items()))
    db.execute("DELETE FROM inbox WHERE id <= ?", (last,))
    db.execute("COMMIT")
    t = time.perf_counter() - t0
    db.close()
    print("ref py_fold_%dline lines_per_s=%.0f lines=%d rows=%d series=%d seconds=%.2f"
          % (lines, n / t if t > 0 else 0, n, nrows, len(state), t), flush=True)


def main(argv):
    if len(argv) == 4 and argv[1] == "single" and argv[3] in ("normal", "full"):
        if argv[3] == "normal":
            single(argv[2], "normal", 200000, 3.0 * SCALE)
        else:
            single(argv[2], "full", 20000, 1.5 * SCALE)
        return 0
    if len(argv) == 4 and argv[1] == "batch" and argv[3].isdigit():
        lines = int(argv[3])
        if lines > 1:
            batch(argv[2], lines, 100, 1000000, 3.0 * SCALE)
        else:
            batch(argv[2], 1, 10000, 1000000, 3.0 * SCALE)
        return 0
    if (len(argv) == 5 and argv[1] == "fold" and argv[3].isdigit() and
            argv[4].isdigit() and int(argv[3]) > 0 and int(argv[4]) > 0):
        fold(argv[2], int(argv[3]), int(argv[4]))
        return 0
    sys.stderr.write(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
