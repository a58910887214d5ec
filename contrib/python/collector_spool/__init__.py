"""Write metrics into the collector-agent spool.

The spool is one SQLite file; producers insert rows into its ``inbox`` table
and the agent folds them and pushes them to the Pushgateway (see
docs/spool.md in the collector-agent repository). This package writes those
rows with nothing but the standard library:

    from collector_spool import push_to_spool
    push_to_spool("/var/lib/collector-agent/spool.db", job="api", registry=registry)

    from collector_spool import Spool
    with Spool("/var/lib/collector-agent/spool.db") as spool:
        spool.add("backups_total", 1, job="backup", grouping={"host": "db1"})

push_to_spool, pushadd_to_spool and delete_from_spool take the arguments of
prometheus_client's push_to_gateway, pushadd_to_gateway and
delete_from_gateway, with the spool's path (or a Spool) in place of the
gateway's address; they import prometheus_client only when called.

The rows are checked when the agent folds them: a row it cannot use goes to
`collector-spool rejected` with the reason and never blocks the others.
"""

import errno
import math
import os
import re
import sqlite3
import threading
import urllib.parse
import weakref

__all__ = [
    "DEFAULT_PATH", "OPS", "Spool", "SpoolError", "NoSpoolError",
    "SpoolBusyError", "OutcomeUnknownError", "grouping_text",
    "escape_label_value", "push_to_spool", "pushadd_to_spool",
    "delete_from_spool",
]
__version__ = "0.1.0"

DEFAULT_PATH = "/var/lib/collector-agent/spool.db"
OPS = ("set", "add", "observe", "delete", "replace")

# The spool's stable interface (docs/spool.md, "Writing rows").
_INSERT = "INSERT INTO inbox(job, grouping, op, body) VALUES (?, ?, ?, ?)"
_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")

# Connections that a child found open after a fork() that ran no hooks
# (one made in C, not through os.fork). They are kept referenced so that the
# child never closes them: SQLite's close of a connection it did not open
# could checkpoint or remove the parent's WAL.
_ABANDONED = []

# Every live Spool, for the fork hooks at the end of this module. The lock
# guards the set (a WeakSet must not change while it is iterated) and is
# always taken before any Spool's own lock.
_SPOOLS = weakref.WeakSet()
_SPOOLS_LOCK = threading.Lock()


class SpoolError(Exception):
    """Nothing was written (except for OutcomeUnknownError)."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path


class NoSpoolError(SpoolError, FileNotFoundError):
    """There is no spool at the path; this package never creates one."""

    def __init__(self, message, path):
        FileNotFoundError.__init__(self, errno.ENOENT, message, path)
        self.path = path
        self.message = message

    def __str__(self):
        return self.message


class SpoolBusyError(SpoolError):
    """The spool stayed locked past the busy timeout: try again later
    (collector-spool's exit status 75)."""


class OutcomeUnknownError(SpoolError):
    """The COMMIT failed after the rows may have reached the disk: they may
    or may not be in the spool (collector-spool's exit status 71). Do not
    write an add or observe row again before checking its value."""


def escape_label_value(value):
    """A label value as the exposition format writes it between quotes:
    backslash, double quote and newline escaped."""
    return (str(value).replace("\\", "\\\\").replace('"', '\\"')
            .replace("\n", "\\n"))


def _escape_help(text):
    return str(text).replace("\\", "\\\\").replace("\n", "\\n")


def _check_label_name(name, where):
    if not isinstance(name, str) or not _LABEL.match(name):
        raise ValueError("%s: label name %r does not match "
                         "[a-zA-Z_][a-zA-Z0-9_]*" % (where, name))
    if name.startswith("__"):
        raise ValueError("%s: label name %r starts with __ (reserved)"
                         % (where, name))


def _labels_text(labels, where):
    """k="v" pairs joined by commas, sorted by name (as the spool keeps
    them), values escaped."""
    pairs = []
    for name in sorted(labels):
        _check_label_name(name, where)
        value = str(labels[name])
        # The spool refuses a row holding either anywhere (docs/spool.md,
        # "What is checked when"); said here, the caller learns which
        # label, rather than finding the row in `collector-spool rejected`.
        if "\r" in value or "\0" in value:
            raise ValueError("%s: the value of label %r holds a %s, which "
                             "the spool refuses"
                             % (where, name, "carriage return"
                                if "\r" in value else "NUL byte"))
        pairs.append('%s="%s"' % (name, escape_label_value(value)))
    return ",".join(pairs)


def grouping_text(grouping):
    """The spool's grouping column for a grouping.

    None stays None: the agent's default grouping (instance="<its
    instance>"). A dict (prometheus_client's grouping_key) becomes its
    label pairs, sorted by name, values escaped as in the exposition format
    (an empty value, "/" and any other text are kept as they are; the agent
    encodes them for the gateway's URL); {} is "", the job alone. A str is
    taken as grouping text already written (k="v",...).
    """
    if grouping is None or isinstance(grouping, str):
        return grouping
    if "job" in grouping:
        raise ValueError("grouping: a job label is not allowed (the job has "
                         "its own argument)")
    return _labels_text(grouping, "grouping")


def _format_value(value):
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _sample_body(name, value, labels, help, type):
    if not isinstance(name, str) or not _METRIC.match(name):
        raise ValueError("metric name %r does not match "
                         "[a-zA-Z_:][a-zA-Z0-9_:]*" % (name,))
    lines = []
    if help is not None:
        lines.append("# HELP %s %s" % (name, _escape_help(help)))
    if type is not None:
        lines.append("# TYPE %s %s" % (name, type))
    text = _labels_text(labels, name) if labels else ""
    lines.append("%s%s %s" % (name, "{%s}" % text if text else "",
                              _format_value(value)))
    return "\n".join(lines) + "\n"


def _has_samples(body):
    for line in body.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return True
    return False


class Spool:
    """A writer's handle on an existing spool.

    path: the spool file (None: $COLLECTOR_SPOOL, else DEFAULT_PATH). It is
    opened without being created: a missing file raises NoSpoolError (the
    agent creates the spool when it starts, and so does `collector-spool
    --spool PATH put ...`). busy_timeout: seconds to wait for the write
    lock. synchronous: this connection's PRAGMA synchronous ("NORMAL"
    survives a crash of any process, "FULL" also a power cut).

    Every write is one transaction taken with BEGIN IMMEDIATE and bound
    parameters. A Spool may be shared by threads (one write at a time) and
    survives fork(): no connection is open across it (os.fork closes them
    first, after any write under way), and parent and child each reopen
    their own at their next write. The path is made absolute here: a
    chdir() later does not move the spool. Usable as a context manager,
    which closes it.
    """

    def __init__(self, path=None, busy_timeout=5.0, synchronous="NORMAL"):
        if path is None:
            path = os.environ.get("COLLECTOR_SPOOL") or DEFAULT_PATH
        # Absolute now: the connection is reopened after a fork(), by which
        # time the process may have changed its directory.
        self.path = os.path.abspath(os.fspath(path))
        self.busy_timeout = float(busy_timeout)
        if self.busy_timeout < 0:
            raise ValueError("busy_timeout must not be negative")
        synchronous = str(synchronous).upper()
        if synchronous not in _SYNCHRONOUS:
            raise ValueError("synchronous must be one of %s"
                             % ", ".join(_SYNCHRONOUS))
        self.synchronous = synchronous
        self._db = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = False
        # Known to the fork hooks before a connection exists, so that none
        # is ever open unknown to them.
        with _SPOOLS_LOCK:
            _SPOOLS.add(self)
        # Opened now, so that a wrong path is an error here, not at the
        # first write.
        with self._locked():
            self._connection()

    def __repr__(self):
        return "Spool(%r)" % (self.path,)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Closes the connection (a Spool closed cannot write again). In a
        child process the parent's connection is left alone."""
        with self._locked():
            self._closed = True
            if self._db is not None:
                if self._pid == os.getpid():
                    self._db.close()
                else:
                    _ABANDONED.append(self._db)
                self._db = None

    def _locked(self):
        # The fork hooks do this for os.fork(). This is for a fork() that
        # ran them not (made in C): a lock that another thread of the
        # parent held stays held in the child, which takes a new one.
        if self._pid != os.getpid():
            self._lock = threading.Lock()
            if self._db is not None:
                _ABANDONED.append(self._db)
                self._db = None
            self._pid = os.getpid()
        return self._lock

    def _connection(self):
        if self._closed:
            raise SpoolError("%s: this Spool is closed" % self.path, self.path)
        if self._db is not None:
            return self._db
        if not os.path.exists(self.path):
            raise NoSpoolError(
                "no spool at %s: the agent creates it when it starts "
                "(collector-agent --spool %s), or run "
                "`collector-spool --spool %s put ...` once; this package "
                "never creates it, so that a wrong path is an error"
                % (self.path, self.path, self.path), self.path)
        # "file://" and an empty authority: a path starting with "//"
        # (which abspath keeps) would otherwise be read as one. quote()
        # encodes "?", "#", "%" and spaces, which a URI path cannot hold.
        uri = "file://" + urllib.parse.quote(self.path) + "?mode=rw"
        try:
            # isolation_level=None: BEGIN IMMEDIATE and COMMIT are ours.
            # check_same_thread=False: self._lock serialises the threads.
            db = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout,
                                 isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA synchronous=" + self.synchronous)
        except sqlite3.Error as e:
            raise self._error(e, "cannot open") from e
        self._db = db
        return db

    def _error(self, e, doing="cannot write"):
        msg = str(e)
        if "locked" in msg or "busy" in msg:
            return SpoolBusyError("%s: the spool stayed locked past the busy "
                                  "timeout (%g s): try again later (%s)"
                                  % (self.path, self.busy_timeout, msg),
                                  self.path)
        if "no such table" in msg:
            return SpoolError("%s: %s: the file has no spool tables yet; the "
                              "agent or collector-spool makes them when it "
                              "first opens it: try again later"
                              % (self.path, msg), self.path)
        return SpoolError("%s: %s: %s" % (self.path, doing, msg), self.path)

    def write(self, rows):
        """Writes rows, (job, grouping, op, body) tuples, in one
        transaction: all of them or none. grouping may be a dict."""
        rows = [(job, grouping_text(grouping), _check_op(op), _text(body))
                for job, grouping, op, body in rows]
        with self._locked():
            db = self._connection()
            if db.in_transaction:
                # Left open by a failure we could not roll back from, or by
                # a use of the connection outside this class: BEGIN would
                # fail, and the lock would be held until then.
                self._rollback(db)
                db = self._connection()
            committing = False
            # One try from BEGIN to COMMIT, for any exception at all
            # (KeyboardInterrupt too): the connection never stays inside a
            # transaction, which would hold the spool's write lock and
            # block every other writer and the agent's fold.
            try:
                db.execute("BEGIN IMMEDIATE")
                db.executemany(_INSERT, rows)
                committing = True
                db.execute("COMMIT")
            except BaseException as e:
                # A COMMIT that leaves the transaction open (the lock)
                # wrote nothing; one that ended it may have written.
                unknown = committing and not db.in_transaction
                if db.in_transaction:
                    self._rollback(db)
                if not isinstance(e, sqlite3.Error):
                    raise
                if unknown:
                    raise OutcomeUnknownError(
                        "%s: outcome unknown: the commit failed (%s) and the "
                        "rows may or may not have been written; check before "
                        "writing an add or observe row again"
                        % (self.path, e), self.path) from e
                raise self._error(e) from e

    def _rollback(self, db):
        # Called with self._lock held. A ROLLBACK that fails is not
        # raised (the caller's exception is the one that matters): the
        # connection is closed instead, which ends its transaction, and
        # the next write opens another.
        try:
            db.execute("ROLLBACK")
        except BaseException:
            self._db = None
            try:
                db.close()
            except BaseException:
                pass

    def put(self, body, job=None, grouping=None, op="set"):
        """Writes one row. body: exposition-format lines (str or UTF-8
        bytes). job None: the agent's configured job. grouping None: the
        agent's default grouping; {} or "": the job alone; a dict of labels
        or grouping text. op: set, add, observe, delete (body "") or
        replace (the group becomes the body)."""
        self.write([(job, grouping, op, body)])

    def set(self, name, value, labels=None, *, job=None, grouping=None,
            help=None, type="gauge"):
        """Sets one series (op set). type None writes no TYPE line."""
        self.put(_sample_body(name, value, labels, help, type), job, grouping,
                 "set")

    def add(self, name, value=1, labels=None, *, job=None, grouping=None,
            help=None, type="counter"):
        """Adds value to one series (op add; a missing series starts at
        0)."""
        self.put(_sample_body(name, value, labels, help, type), job, grouping,
                 "add")

    def observe(self, name, value, labels=None, *, job=None, grouping=None,
                help=None):
        """One observation of histogram name (op observe); the agent
        buckets it."""
        self.put(_sample_body(name, value, labels, help, None), job, grouping,
                 "observe")

    def delete(self, job=None, grouping=None):
        """Asks the agent to drop the group and DELETE it at the gateway.
        As for put, None means the agent's job or default grouping; {} is
        the job alone."""
        self.put("", job, grouping, "delete")


def _check_op(op):
    if op is None:
        return "set"
    if op not in OPS:
        raise ValueError("op must be one of %s, not %r" % (", ".join(OPS), op))
    return op


def _text(body):
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body).decode("utf-8")
    return str(body)


def _spool_row(spool, timeout, job, grouping_key, op, body):
    grouping = grouping_text(grouping_key if grouping_key is not None else {})
    if isinstance(spool, Spool):
        spool.put(body, job, grouping, op)
        return
    kwargs = {} if timeout is None else {"busy_timeout": timeout}
    with Spool(spool, **kwargs) as s:
        s.put(body, job, grouping, op)


def _registry_text(registry):
    # Imported here: the rest of the package needs nothing but the
    # standard library. The same text push_to_gateway sends (with
    # _created series, as the gateway gets them).
    from prometheus_client.exposition import generate_latest
    return generate_latest(registry).decode("utf-8")


def push_to_spool(spool, job, registry, grouping_key=None, timeout=None):
    """As prometheus_client's push_to_gateway (a PUT): the group
    job/grouping_key becomes exactly what the registry holds; series and
    families it no longer has are dropped (a replace row). spool: a path
    or a Spool. grouping_key None is the job alone, as for the gateway.
    timeout: the busy timeout in seconds when spool is a path (default
    5)."""
    body = _registry_text(registry)
    # A registry without samples empties the group, as a PUT of it would.
    _spool_row(spool, timeout, job, grouping_key, "replace",
               body if _has_samples(body) else "")


def pushadd_to_spool(spool, job, registry, grouping_key=None, timeout=None):
    """As prometheus_client's pushadd_to_gateway: the registry's series are
    set and the group's other series stay (a set row). Unlike the gateway's
    POST, a series that a family had and the registry no longer has also
    stays; use push_to_spool to drop it. A registry without samples writes
    nothing."""
    body = _registry_text(registry)
    if _has_samples(body):
        _spool_row(spool, timeout, job, grouping_key, "set", body)


def delete_from_spool(spool, job, grouping_key=None, timeout=None):
    """As prometheus_client's delete_from_gateway: the group is dropped and
    the agent DELETEs it at the gateway (a delete row)."""
    _spool_row(spool, timeout, job, grouping_key, "delete", "")


# fork(): SQLite must not have a connection open across it. The child
# inherits the parent's POSIX lock records, which SQLite keeps one per file
# and process: a connection the child opens may believe it holds locks it
# does not, and its commits can be lost when another process checkpoints
# and removes the WAL. So before os.fork() every Spool's lock is taken
# (waiting for a write under way in another thread: no connection is closed
# mid-transaction) and its connection closed; after it the parent lets go
# (its connection reopens at the next write) and the child makes fresh
# locks, since threads of the parent that held them do not exist there.
_FORK_HELD = []


def _before_fork():
    _SPOOLS_LOCK.acquire()
    for spool in list(_SPOOLS):
        spool._lock.acquire()
        _FORK_HELD.append(spool)
        db, spool._db = spool._db, None
        if db is not None and spool._pid == os.getpid():
            try:
                db.close()
            except sqlite3.Error:
                # Not closed: never used again, and never closed by the
                # child either.
                _ABANDONED.append(db)
        elif db is not None:
            _ABANDONED.append(db)


def _after_fork_in_parent():
    while _FORK_HELD:
        _FORK_HELD.pop()._lock.release()
    _SPOOLS_LOCK.release()


def _after_fork_in_child():
    global _SPOOLS_LOCK
    pid = os.getpid()
    for spool in _FORK_HELD:
        spool._lock = threading.Lock()
        spool._db = None
        spool._pid = pid
    del _FORK_HELD[:]
    _SPOOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork,
                        after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)
