"""Unit tests of collector_spool: grouping text and its escaping, opening
without creating, bound parameters, BEGIN IMMEDIATE and the busy timeout,
the context manager, threads and fork(), and the prometheus_client calls.

    python3 -m unittest discover -s contrib/python/tests

The spools here are files with the inbox table alone, as a writer sees it
(docs/spool.md, "Writing rows"); tests/integration/test_python.sh runs the
package against real spools, the agent and the Pushgateway.
"""

import importlib.util
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
# The package of this tree, unless one was put first on PYTHONPATH on
# purpose (the installed one, by test_install.sh).
if not os.environ.get("COLLECTOR_SPOOL_TEST_INSTALLED"):
    sys.path.insert(0, os.path.dirname(HERE))

import collector_spool as cs  # noqa: E402

HAVE_PROM = importlib.util.find_spec("prometheus_client") is not None


def make_spool(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE inbox(id INTEGER PRIMARY KEY, job TEXT, "
               "grouping TEXT, op TEXT, body TEXT, received_ms INTEGER)")
    db.close()


def rows(path):
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT job, grouping, op, body FROM inbox "
                          "ORDER BY id").fetchall()
    finally:
        db.close()


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "spool.db")
        make_spool(self.path)

    def tearDown(self):
        self.dir.cleanup()


class Grouping(unittest.TestCase):
    def test_none_and_empty(self):
        self.assertIsNone(cs.grouping_text(None))
        self.assertEqual(cs.grouping_text({}), "")
        self.assertEqual(cs.grouping_text('a="b"'), 'a="b"')

    def test_sorted_and_escaped(self):
        g = {"z": "a/b", "e": "", "q": 'back\\slash "quote"\nnewline',
             "n": 3}
        self.assertEqual(
            cs.grouping_text(g),
            'e="",n="3",q="back\\\\slash \\"quote\\"\\nnewline",z="a/b"')

    def test_escape_label_value(self):
        self.assertEqual(cs.escape_label_value('\\"\n'), '\\\\\\"\\n')
        self.assertEqual(cs.escape_label_value("é/ x"), "é/ x")

    def test_carriage_return_and_nul_refused(self):
        # The spool refuses a row holding either; the caller learns which
        # label at once, and nothing is written.
        for value in ("a\rb", "a\r\nb", "a\0b"):
            with self.assertRaises(ValueError, msg=repr(value)) as cm:
                cs.grouping_text({"ok": "x", "host": value})
            self.assertIn("'host'", str(cm.exception))
            self.assertIn("grouping", str(cm.exception))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "spool.db")
            make_spool(path)
            with cs.Spool(path) as s:
                with self.assertRaises(ValueError) as cm:
                    s.add("x_total", job="j", grouping={"host": "db\r1"})
                self.assertIn("carriage return", str(cm.exception))
                with self.assertRaises(ValueError) as cm:
                    s.set("x", 1, {"path": "a\0"})
                self.assertIn("'path'", str(cm.exception))
                self.assertIn("NUL", str(cm.exception))
            self.assertEqual(rows(path), [])

    def test_refused_names(self):
        for g in ({"job": "x"}, {"1a": "x"}, {"a-b": "x"}, {"__a": "x"},
                  {"": "x"}):
            with self.assertRaises(ValueError, msg=repr(g)):
                cs.grouping_text(g)


class Bodies(Base):
    def test_helpers(self):
        with cs.Spool(self.path) as s:
            s.set("temp_celsius", 21.5, {"room": 'a"b'}, job="j",
                  help="Temp.\nline2 \\")
            s.add("runs_total", job="j", grouping={"host": "db1"})
            s.observe("dur_seconds", 0.25, job="j")
            s.set("nan_gauge", float("nan"), type=None)
            s.set("inf_gauge", float("-inf"))
            s.set("flag", True)
        self.assertEqual(rows(self.path), [
            ("j", None, "set", '# HELP temp_celsius Temp.\\nline2 \\\\\n'
             '# TYPE temp_celsius gauge\ntemp_celsius{room="a\\"b"} 21.5\n'),
            ("j", 'host="db1"', "add",
             "# TYPE runs_total counter\nruns_total 1\n"),
            ("j", None, "observe", "dur_seconds 0.25\n"),
            (None, None, "set", "nan_gauge NaN\n"),
            (None, None, "set", "# TYPE inf_gauge gauge\ninf_gauge -Inf\n"),
            (None, None, "set", "# TYPE flag gauge\nflag 1\n"),
        ])

    def test_bad_metric_name(self):
        with cs.Spool(self.path) as s:
            with self.assertRaises(ValueError):
                s.set("1bad", 1)
            with self.assertRaises(ValueError):
                s.set("ok", 1, {"__x": "y"})
        self.assertEqual(rows(self.path), [])

    def test_bound_parameters(self):
        body = "x{a=\"'); DROP TABLE inbox; --\"} 1\n"
        job = "it's"
        with cs.Spool(self.path) as s:
            s.put(body, job=job, grouping="a=\"'\"", op="add")
            s.put(body.encode(), job=job)
            s.delete(job="gone", grouping={})
        self.assertEqual(rows(self.path), [
            (job, "a=\"'\"", "add", body), (job, None, "set", body),
            ("gone", "", "delete", "")])

    def test_bad_op_writes_nothing(self):
        with cs.Spool(self.path) as s:
            with self.assertRaises(ValueError):
                s.write([("j", None, "set", "a 1\n"),
                         ("j", None, "bogus", "a 1\n")])
        self.assertEqual(rows(self.path), [])

    def test_write_is_one_transaction(self):
        # A trigger that fails on the second row: the first is rolled back.
        db = sqlite3.connect(self.path)
        db.execute("CREATE TRIGGER t BEFORE INSERT ON inbox WHEN "
                   "NEW.job = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END")
        db.commit()
        db.close()
        with cs.Spool(self.path) as s:
            with self.assertRaises(cs.SpoolError) as cm:
                s.write([("j", None, "set", "a 1\n"),
                         ("boom", None, "set", "a 1\n")])
            self.assertIn("boom", str(cm.exception))
            s.put("b 1\n", job="j")
        self.assertEqual(rows(self.path), [("j", None, "set", "b 1\n")])


class Opening(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.dir.cleanup()

    def test_missing_file_is_not_created(self):
        for path in (os.path.join(self.dir.name, "spool.db"),
                     os.path.join(self.dir.name, "no-dir", "spool.db")):
            with self.assertRaises(cs.NoSpoolError) as cm:
                cs.Spool(path)
            e = cm.exception
            self.assertIsInstance(e, FileNotFoundError)
            self.assertIsInstance(e, cs.SpoolError)
            self.assertEqual(e.path, path)
            msg = str(e)
            self.assertIn("no spool at " + path, msg)
            self.assertIn("agent", msg)
            self.assertIn("collector-spool --spool %s put" % path, msg)
            self.assertNotIn("stats", msg)
            self.assertFalse(os.path.exists(path))
        self.assertEqual(os.listdir(self.dir.name), [])

    def test_push_to_missing_spool(self):
        path = os.path.join(self.dir.name, "spool.db")
        with self.assertRaises(cs.NoSpoolError):
            cs.delete_from_spool(path, "j")
        self.assertFalse(os.path.exists(path))

    def test_default_path_from_environment(self):
        path = os.path.join(self.dir.name, "env.db")
        make_spool(path)
        old = os.environ.get("COLLECTOR_SPOOL")
        os.environ["COLLECTOR_SPOOL"] = path
        try:
            with cs.Spool() as s:
                self.assertEqual(s.path, path)
        finally:
            if old is None:
                del os.environ["COLLECTOR_SPOOL"]
            else:
                os.environ["COLLECTOR_SPOOL"] = old

    def test_uri_characters_in_the_path(self):
        path = os.path.join(self.dir.name, "a ?b#c%20d.db")
        make_spool(path)
        with cs.Spool(path) as s:
            s.put("a 1\n", job="j")
        self.assertEqual(rows(path), [("j", None, "set", "a 1\n")])
        self.assertEqual(sorted(os.listdir(self.dir.name))[0], "a ?b#c%20d.db")

    def test_path_starting_with_two_slashes(self):
        # "//x" is a path (abspath keeps the two slashes), not a URI
        # authority: the URI is file:////x.
        path = "/" + os.path.join(self.dir.name, "spool.db")
        self.assertTrue(path.startswith("//"))
        make_spool(path)
        with cs.Spool(path) as s:
            self.assertEqual(s.path, path)
            s.put("a 1\n", job="j")
        self.assertEqual(rows(path), [("j", None, "set", "a 1\n")])

    def test_relative_path_survives_chdir(self):
        path = os.path.join(self.dir.name, "rel.db")
        make_spool(path)
        other = os.path.join(self.dir.name, "elsewhere")
        os.mkdir(other)
        make_spool(os.path.join(other, "rel.db"))
        cwd = os.getcwd()
        os.chdir(self.dir.name)
        try:
            s = cs.Spool("rel.db")
            self.assertEqual(s.path, os.path.abspath("rel.db"))
            os.chdir(other)
            # The connection goes (as at a fork) and is opened again from
            # a directory that has another rel.db.
            cs._before_fork()
            cs._after_fork_in_parent()
            self.assertIsNone(s._db)
            s.put("a 1\n", job="j")
            s.close()
        finally:
            os.chdir(cwd)
        self.assertEqual(rows(path), [("j", None, "set", "a 1\n")])
        self.assertEqual(rows(os.path.join(other, "rel.db")), [])

    def test_file_without_tables(self):
        path = os.path.join(self.dir.name, "empty.db")
        open(path, "w").close()
        with cs.Spool(path) as s:
            with self.assertRaises(cs.SpoolError) as cm:
                s.put("a 1\n")
        self.assertIn("no spool tables yet", str(cm.exception))
        self.assertIn(path, str(cm.exception))

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            cs.Spool(os.path.join(self.dir.name, "x"), busy_timeout=-1)
        with self.assertRaises(ValueError):
            cs.Spool(os.path.join(self.dir.name, "x"), synchronous="sometimes")


class Locking(Base):
    def test_busy_timeout(self):
        other = sqlite3.connect(self.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with cs.Spool(self.path, busy_timeout=0.3) as s:
                t0 = time.monotonic()
                with self.assertRaises(cs.SpoolBusyError) as cm:
                    s.put("a 1\n")
                waited = time.monotonic() - t0
                self.assertGreaterEqual(waited, 0.25)
                self.assertLess(waited, 5)
                self.assertIn("try again", str(cm.exception))
                other.execute("ROLLBACK")
                s.put("b 1\n")     # the Spool is still usable
        finally:
            other.close()
        self.assertEqual(rows(self.path), [(None, None, "set", "b 1\n")])

    def test_waits_for_the_lock(self):
        other = sqlite3.connect(self.path, isolation_level=None,
                                check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        timer = threading.Timer(0.3, lambda: other.execute("COMMIT"))
        timer.start()
        try:
            with cs.Spool(self.path, busy_timeout=10) as s:
                s.put("a 1\n")
        finally:
            timer.join()
            other.close()
        self.assertEqual(len(rows(self.path)), 1)

    def test_interrupted_write_leaves_no_transaction(self):
        # An exception of any kind between BEGIN and COMMIT (here a
        # KeyboardInterrupt right after BEGIN) must not leave the write
        # lock held: another connection takes it at once.
        class Interrupted:
            def __init__(self, db):
                self.db = db

            def __getattr__(self, name):
                return getattr(self.db, name)

            def execute(self, sql, *args):
                cur = self.db.execute(sql, *args)
                if sql.startswith("BEGIN"):
                    raise KeyboardInterrupt
                return cur

        with cs.Spool(self.path) as s:
            real = s._db
            s._db = Interrupted(real)
            with self.assertRaises(KeyboardInterrupt):
                s.put("a 1\n")
            self.assertFalse(real.in_transaction)
            other = sqlite3.connect(self.path, isolation_level=None,
                                    timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
            finally:
                other.close()
            s._db = real
            s.put("b 1\n")
        self.assertEqual(rows(self.path), [(None, None, "set", "b 1\n")])

    def test_failing_rollback_closes_the_connection(self):
        class NoRollback:
            def __init__(self, db):
                self.db = db
                self.closed = False

            def __getattr__(self, name):
                return getattr(self.db, name)

            def execute(self, sql, *args):
                if sql == "ROLLBACK":
                    raise sqlite3.OperationalError("disk I/O error")
                return self.db.execute(sql, *args)

            def executemany(self, sql, *args):
                raise KeyboardInterrupt

            def close(self):
                self.closed = True
                self.db.close()

        with cs.Spool(self.path) as s:
            bad = s._db = NoRollback(s._db)
            with self.assertRaises(KeyboardInterrupt):
                s.put("a 1\n")
            self.assertTrue(bad.closed)
            self.assertIsNone(s._db)
            other = sqlite3.connect(self.path, isolation_level=None,
                                    timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
            finally:
                other.close()
            s.put("b 1\n")       # a new connection
        self.assertEqual(rows(self.path), [(None, None, "set", "b 1\n")])

    def test_transaction_left_open_is_rolled_back(self):
        with cs.Spool(self.path) as s:
            s._db.execute("BEGIN")
            s._db.execute("INSERT INTO inbox(body) VALUES ('stray')")
            s.put("a 1\n")
            self.assertFalse(s._db.in_transaction)
        self.assertEqual(rows(self.path), [(None, None, "set", "a 1\n")])

    def test_threads_share_one_spool(self):
        with cs.Spool(self.path) as s:
            def work(n):
                for i in range(25):
                    s.add("t_total", 1, {"thread": str(n)})
            threads = [threading.Thread(target=work, args=(n,))
                       for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        self.assertEqual(len(rows(self.path)), 100)


class Lifetime(Base):
    def test_context_manager_closes(self):
        with cs.Spool(self.path) as s:
            s.put("a 1\n")
            db = s._db
        self.assertIsNone(s._db)
        with self.assertRaises(sqlite3.ProgrammingError):
            db.execute("SELECT 1")
        with self.assertRaises(cs.SpoolError) as cm:
            s.put("b 1\n")
        self.assertIn("closed", str(cm.exception))
        s.close()          # twice is fine

    def test_context_manager_closes_on_error(self):
        with self.assertRaises(RuntimeError):
            with cs.Spool(self.path) as s:
                raise RuntimeError("x")
        self.assertIsNone(s._db)

    def fork(self, child):
        """Runs child() in a child process; returns what it returned (bytes)
        once the child has exited with status 0."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                os.close(r)
                os.write(w, child())
                status = 0
            finally:
                os._exit(status)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            said = f.read()
        _, status = os.waitpid(pid, 0)
        self.assertEqual(os.waitstatus_to_exitcode(status)
                         if hasattr(os, "waitstatus_to_exitcode")
                         else status >> 8, 0)
        return said

    @unittest.skipUnless(hasattr(os, "fork"), "no fork()")
    def test_fork(self):
        # No connection is open across fork(): the parent's is closed
        # before it, the child starts without one, and each opens its own
        # at its next write. Every row of both is there at the end.
        s = cs.Spool(self.path)
        s.put("parent 1\n")

        def child():
            fresh = s._db is None
            s.put("child 1\n")
            s.close()
            return b"ok" if fresh else b"inherited"
        self.assertEqual(self.fork(child), b"ok")
        self.assertIsNone(s._db)
        s.put("parent 2\n")
        s.close()
        db = sqlite3.connect(self.path)
        try:
            self.assertEqual(db.execute("SELECT count(*) FROM inbox")
                             .fetchone()[0], 3)
        finally:
            db.close()
        self.assertEqual([b for _, _, _, b in rows(self.path)],
                         ["parent 1\n", "child 1\n", "parent 2\n"])

    @unittest.skipUnless(hasattr(os, "fork"), "no fork()")
    def test_fork_waits_for_a_write(self):
        # A write under way in another thread (its lock held) is let finish
        # before the connection is closed for the fork; in the child the
        # lock is a new one, free.
        s = cs.Spool(self.path)
        s._lock.acquire()
        timer = threading.Timer(0.3, s._lock.release)
        timer.start()
        t0 = time.monotonic()
        try:
            said = self.fork(lambda: b"free" if s._lock.acquire(False)
                             else b"held")
        finally:
            timer.join()
        self.assertGreaterEqual(time.monotonic() - t0, 0.25)
        self.assertEqual(said, b"free")
        s.put("a 1\n")
        s.close()
        self.assertEqual(len(rows(self.path)), 1)


class Imports(unittest.TestCase):
    def test_prometheus_client_only_when_called(self):
        code = ("import sys, tempfile, os\n"
                "import collector_spool as cs\n"
                "assert 'prometheus_client' not in sys.modules\n"
                "d = tempfile.mkdtemp()\n"
                "try:\n"
                "    cs.delete_from_spool(os.path.join(d, 'x.db'), 'j')\n"
                "except cs.NoSpoolError:\n"
                "    pass\n"
                "assert 'prometheus_client' not in sys.modules\n"
                "os.rmdir(d)\n")
        env = dict(os.environ)
        if not os.environ.get("COLLECTOR_SPOOL_TEST_INSTALLED"):
            env["PYTHONPATH"] = os.pathsep.join(
                [os.path.dirname(HERE)] +
                ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        subprocess.run([sys.executable, "-c", code], env=env, check=True)


@unittest.skipUnless(HAVE_PROM, "prometheus_client is not installed")
class Prometheus(Base):
    def registry(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge
        r = CollectorRegistry()
        Counter("reqs", "Requests.", ["method"], registry=r).labels(
            "GET").inc(3)
        Gauge("temp", "Temp.", registry=r).set(2)
        return r

    def test_rows(self):
        from prometheus_client.exposition import generate_latest
        r = self.registry()
        cs.push_to_spool(self.path, "j", r)
        cs.pushadd_to_spool(self.path, job="j", registry=r,
                            grouping_key={"path": "/a", "e": ""})
        with cs.Spool(self.path) as s:
            cs.delete_from_spool(s, "j", {"instance": "x"})
        got = rows(self.path)
        want = generate_latest(r).decode()
        self.assertEqual([(j, g, o) for j, g, o, _ in got], [
            ("j", "", "replace"), ("j", 'e="",path="/a"', "set"),
            ("j", 'instance="x"', "delete")])

        def stable(body):    # _created holds the time of creation
            return [l for l in body.splitlines() if "_created" not in l]
        self.assertEqual(stable(got[0][3]), stable(want))
        self.assertIn("reqs_created", got[0][3])
        self.assertEqual(got[0][3], got[1][3])
        self.assertEqual(got[2][3], "")

    def test_empty_registry(self):
        from prometheus_client import CollectorRegistry, Counter
        r = CollectorRegistry()
        Counter("c", "Labelled, no child yet.", ["a"], registry=r)
        cs.pushadd_to_spool(self.path, "j", r)
        self.assertEqual(rows(self.path), [])
        cs.push_to_spool(self.path, "j", r)
        self.assertEqual(rows(self.path), [("j", "", "replace", "")])


if __name__ == "__main__":
    unittest.main()
