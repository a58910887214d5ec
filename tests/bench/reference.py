#!/usr/bin/env python3
"""The reference run for `make bench`: Python's own sqlite3 module writing the
same rows into the same inbox table (a spool file made by collector-spool), so
that the C figures have a yardstick measured on this machine in the same call.

    reference.py single SPOOL [normal|full]   one row per transaction
    reference.py batch SPOOL LINES_PER_BODY   executemany, many rows per transaction

Each prints one line, `ref NAME UNIT_per_s=X UNIT=N ... seconds=S`. Loops stop
at a count or a time budget, whichever comes first. Nothing is asserted.
"""
import sqlite3
import sys
import time

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


def main(argv):
    if len(argv) == 4 and argv[1] == "single" and argv[3] in ("normal", "full"):
        if argv[3] == "normal":
            single(argv[2], "normal", 200000, 3.0)
        else:
            single(argv[2], "full", 20000, 1.5)
        return 0
    if len(argv) == 4 and argv[1] == "batch" and argv[3].isdigit():
        lines = int(argv[3])
        if lines > 1:
            batch(argv[2], lines, 100, 1000000, 3.0)
        else:
            batch(argv[2], 1, 10000, 1000000, 3.0)
        return 0
    sys.stderr.write(__doc__)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
