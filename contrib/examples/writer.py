#!/usr/bin/env python3
"""Write metrics into the collector-agent spool with nothing but Python's
standard library (the sqlite3 module).

    python3 writer.py [SPOOL]

SPOOL defaults to $COLLECTOR_SPOOL, then /var/lib/collector-agent/spool.db.
One run writes, as one transaction, into the group job="writer_example",
instance="py":

    example_temperature_celsius 21.5   a gauge (op set: the last write wins)
    example_runs_total +1              a counter (op add: one more run)
    example_duration_seconds 0.3       one histogram observation (op observe)

so after N runs the agent pushes example_runs_total N and
example_duration_seconds_count N.

The package collector_spool (contrib/python, installed by make install)
writes such rows too: Spool(path).write(rows), or its set, add and observe.

The statement used is the spool's stable interface:

    INSERT INTO inbox(job, grouping, op, body) VALUES (?, ?, ?, ?)

The agent (or collector-spool) creates the spool and its tables; this writer
only opens an existing spool, so that a wrong path is an error instead of a
new, empty database nobody reads. Rows are checked when the agent folds them:
a row that does not parse lands in `collector-spool rejected`, never blocks
the others.

Exit status (sysexits.h): 0 written; 64 usage; 66 no spool at that path
(check the path; the agent creates the spool when it starts, and so does
`collector-spool --spool SPOOL put ...`; `stats` creates nothing);
74 the file is not a spool; 75 the spool stayed locked past the timeout
(try again later); in all of these nothing was written. 71, as for
collector-spool: the COMMIT failed after the rows may have reached the
disk, so they may or may not be in the spool; running again could count
example_runs_total twice: check its value first.
"""
import os
import sqlite3
import sys
import urllib.parse

DEFAULT_SPOOL = "/var/lib/collector-agent/spool.db"
JOB = "writer_example"
GROUPING = 'instance="py"'

# (op, body): HELP and TYPE lines go with the samples they describe; every
# body ends with a newline.
ROWS = [
    ("set", "# HELP example_temperature_celsius Last temperature read.\n"
            "# TYPE example_temperature_celsius gauge\n"
            "example_temperature_celsius 21.5\n"),
    ("add", "# HELP example_runs_total Runs of the example writer.\n"
            "# TYPE example_runs_total counter\n"
            "example_runs_total 1\n"),
    ("observe", "example_duration_seconds 0.3\n"),
]


def main(argv):
    if len(argv) > 2:
        print("usage: writer.py [SPOOL]", file=sys.stderr)
        return 64
    path = argv[1] if len(argv) == 2 else (os.environ.get("COLLECTOR_SPOOL")
                                           or DEFAULT_SPOOL)
    if not os.path.exists(path):
        print(f"writer.py: no spool at {path}: is it the agent's spool? "
              f"The agent creates it when it starts, and so does "
              f"'collector-spool --spool {path} put ...'", file=sys.stderr)
        return 66
    # mode=rw: open, never create. timeout: how long to wait for the write
    # lock (SQLite's busy timeout) while the agent folds; it is reliable
    # only because the transaction below takes the lock up front.
    # isolation_level=None: this code says BEGIN and COMMIT itself.
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=rw"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=5.0, isolation_level=None)
    except sqlite3.Error as e:
        print(f"writer.py: cannot open {path}: {e}", file=sys.stderr)
        return 66
    try:
        # The spool is already in WAL mode (a property of the file);
        # synchronous is per connection: NORMAL survives a crash of this
        # process, FULL also a power cut, at a cost per commit.
        db.execute("PRAGMA synchronous=NORMAL")
        # BEGIN IMMEDIATE takes the write lock now, waiting up to the
        # timeout; a plain BEGIN would take it at the first INSERT, where
        # SQLite may fail at once instead of waiting.
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(
                "INSERT INTO inbox(job, grouping, op, body) VALUES (?, ?, ?, ?)",
                [(JOB, GROUPING, op, body) for op, body in ROWS])
        except BaseException:
            db.execute("ROLLBACK")
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as e:
            # A COMMIT that failed before writing (the lock: "database is
            # locked") leaves the transaction open: nothing was written.
            # One that ended it (an fsync or a write of the WAL failed)
            # may have written the rows.
            if db.in_transaction:
                db.execute("ROLLBACK")
                raise
            print(f"writer.py: {path}: outcome unknown: the commit failed "
                  f"({e}) and the rows may or may not have been written; "
                  f"running again could count example_runs_total twice: "
                  f"check its value first", file=sys.stderr)
            return 71
    except sqlite3.OperationalError as e:
        msg = str(e)
        print(f"writer.py: {path}: {msg}", file=sys.stderr)
        if "locked" in msg or "busy" in msg:
            return 75
        return 74
    except sqlite3.DatabaseError as e:
        print(f"writer.py: {path}: {e}", file=sys.stderr)
        return 74
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
