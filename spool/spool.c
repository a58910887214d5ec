/* spool — opening, schema, puts, stats and the rejected list. See
 * collector-spool.h; the fold is in fold.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "expo.h"
#include "hmap.h"
#include "spool_int.h"

#ifndef SPOOL_VERSION
#define SPOOL_VERSION "0.1.0"
#endif
#define MAX_GROUPING 8192

const double spool_default_bounds[] = { .005, .01, .025, .05, .1, .25, .5,
	1, 2.5, 5, 10 };
const size_t spool_default_nbounds =
    sizeof(spool_default_bounds) / sizeof(spool_default_bounds[0]);

/*
 * Schema version 1. `inbox` is the writers' stable interface (docs/spool.md,
 * "Writing rows"): its four named columns take any value, so an INSERT never
 * fails on content; the fold judges rows and moves bad ones to `rejected`.
 * Its id is the rowid (INTEGER PRIMARY KEY): never NULL, never repeated, so
 * the fold can delete exactly the rows it read. received_ms uses only
 * functions every SQLite has, because a writer's own SQLite evaluates it.
 * Series values are REAL; SQLite stores NaN as NULL, so NULL means NaN.
 */
#define NOW_MS "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)"
#define INBOX_COLUMNS "(id INTEGER PRIMARY KEY," \
	" job TEXT, grouping TEXT, op TEXT DEFAULT 'set', body TEXT," \
	" received_ms INTEGER NOT NULL DEFAULT (" NOW_MS "))"

static const char *const schema_v1[] = {
	"CREATE TABLE IF NOT EXISTS inbox" INBOX_COLUMNS,
	"CREATE TABLE IF NOT EXISTS groups("
	" id INTEGER PRIMARY KEY,"
	" job TEXT NOT NULL, grouping TEXT NOT NULL,"
	" version INTEGER NOT NULL DEFAULT 0,"
	" pushed_version INTEGER NOT NULL DEFAULT 0,"
	" last_row_ms INTEGER NOT NULL DEFAULT 0,"
	" delete_pending INTEGER NOT NULL DEFAULT 0,"
	" park_reason TEXT,"
	" UNIQUE(job, grouping))",
	"CREATE TABLE IF NOT EXISTS families("
	" group_id INTEGER NOT NULL, name TEXT NOT NULL,"
	" type TEXT NOT NULL DEFAULT 'untyped', typed INTEGER NOT NULL DEFAULT 0,"
	" help TEXT,"
	" PRIMARY KEY(group_id, name)) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS series("
	" group_id INTEGER NOT NULL, name TEXT NOT NULL, labels TEXT NOT NULL,"
	" value REAL, hist TEXT,"
	" PRIMARY KEY(group_id, name, labels)) WITHOUT ROWID",
	"CREATE TABLE IF NOT EXISTS rejected("
	" id INTEGER PRIMARY KEY,"
	" received_ms INTEGER, rejected_ms INTEGER NOT NULL,"
	" job TEXT, grouping TEXT, op TEXT, body TEXT, reason TEXT NOT NULL)",
	"CREATE TABLE IF NOT EXISTS meta("
	" key TEXT PRIMARY KEY, value) WITHOUT ROWID",
	NULL
};

const char *
spool_strerror(spool_err e)
{
	switch (e) {
	case SPOOL_OK:
		return "no error";
	case SPOOL_EINVAL:
		return "invalid argument";
	case SPOOL_ENOMEM:
		return "out of memory";
	case SPOOL_EPARSE:
		return "invalid metric data";
	case SPOOL_ETOOBIG:
		return "over a size limit";
	case SPOOL_ECREATE:
		return "cannot create or write the spool";
	case SPOOL_ENOTSPOOL:
		return "not a spool file";
	case SPOOL_ECORRUPT:
		return "spool file damaged";
	case SPOOL_ENEWER:
		return "spool written by a newer version";
	case SPOOL_EBUSY:
		return "spool locked by another process";
	case SPOOL_EFULL:
		return "file system full";
	case SPOOL_EIO:
		return "I/O or database error";
	case SPOOL_EUNKNOWN:
		return "outcome unknown: the write may or may not have been "
		    "committed";
	}
	return "unknown error";
}

int
spool_exit_status(spool_err e)
{
	switch (e) {
	case SPOOL_OK:
		return EX_OK;
	case SPOOL_EINVAL:
		return EX_USAGE;
	case SPOOL_EPARSE:
	case SPOOL_ETOOBIG:
		return EX_DATAERR;
	case SPOOL_ECREATE:
		return EX_CANTCREAT;
	case SPOOL_EBUSY:
		return EX_TEMPFAIL;
	/* Not 74, which says nothing was written, nor 75, which says try
	 * again: the operating system failed to confirm the write. */
	case SPOOL_EUNKNOWN:
		return EX_OSERR;
	case SPOOL_ENOMEM:
	case SPOOL_ENOTSPOOL:
	case SPOOL_ECORRUPT:
	case SPOOL_ENEWER:
	case SPOOL_EFULL:
	case SPOOL_EIO:
		return EX_IOERR;
	}
	return EX_IOERR;
}

const char *
spool_version(void)
{
	return SPOOL_VERSION;
}

const char *
spool_sqlite_version(void)
{
	return sqlite3_libversion();
}

const char *
spool_op_name(spool_op op)
{
	switch (op) {
	case SPOOL_OP_SET:
		return "set";
	case SPOOL_OP_ADD:
		return "add";
	case SPOOL_OP_OBSERVE:
		return "observe";
	case SPOOL_OP_DELETE:
		return "delete";
	case SPOOL_OP_REPLACE:
		return "replace";
	}
	return "set";
}

spool_err
spool_op_parse(const char *name, spool_op *out)
{
	static const spool_op all[] = { SPOOL_OP_SET, SPOOL_OP_ADD,
	    SPOOL_OP_OBSERVE, SPOOL_OP_DELETE, SPOOL_OP_REPLACE };

	if (name == NULL)
		return SPOOL_EPARSE;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(name, spool_op_name(all[i])) == 0) {
			*out = all[i];
			return SPOOL_OK;
		}
	}
	return SPOOL_EPARSE;
}

spool_err
spool_seterr(spool_t *s, spool_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
	va_end(ap);
	return e;
}

const char *
spool_errmsg(const spool_t *s)
{
	return s->errmsg[0] ? s->errmsg : "no error";
}

static int wal_appeared(spool_t *s);

spool_err
spool_moved(spool_t *s, int *moved)
{
	int m = 0, rc;

	s->errmsg[0] = '\0';
	*moved = 0;
	rc = sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &m);
	if (rc != SQLITE_OK)
		return spool_sqlerr(s, rc, "checking the spool file");
	if (m) {
		*moved = 1;
		(void)spool_seterr(s, SPOOL_EIO, "spool %s was deleted, "
		    "renamed or replaced while open: what is written there now "
		    "is not seen by this process; restart it", s->path);
	} else if (wal_appeared(s)) {
		/* A read-only handle read the file as it was (no -wal): a
		 * writer since may have checkpointed into it mid-read. */
		*moved = 1;
		(void)spool_seterr(s, SPOOL_EIO, "spool %s: a writer started "
		    "while it was read as it was (it had no -wal): what was "
		    "read may be out of date or mixed; run it again", s->path);
	}
	return SPOOL_OK;
}

const char *
spool_path(const spool_t *s)
{
	return s->path;
}

spool_err
spool_sqlerr(spool_t *s, int rc, const char *doing)
{
	const char *msg = sqlite3_errmsg(s->db);
	int sys = sqlite3_system_errno(s->db);

	/* A full disk met while growing the -shm file comes back as a
	 * plain I/O error; the system's errno says what it was. */
	if ((rc & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT))
		rc = SQLITE_FULL;
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return spool_seterr(s, SPOOL_EBUSY, "spool %s is locked by "
		    "another process (waited %d ms while %s): retry later, or "
		    "raise COLLECTOR_SPOOL_BUSY_TIMEOUT_MS", s->path, s->busy_ms,
		    doing);
	case SQLITE_FULL:
		return spool_seterr(s, SPOOL_EFULL, "spool %s: the file system "
		    "is full while %s; nothing was written: free space there",
		    s->path, doing);
	case SQLITE_NOTADB:
		return spool_seterr(s, SPOOL_ENOTSPOOL, "%s is not a SQLite "
		    "database (%s); it was left untouched: move it away or "
		    "point --spool/COLLECTOR_SPOOL at another path", s->path,
		    msg);
	case SQLITE_CORRUPT:
		return spool_seterr(s, SPOOL_ECORRUPT, "spool %s is damaged "
		    "(%s, while %s): stop the agent, keep a copy, and save "
		    "what can be read with 'sqlite3 %s .dump' (docs/"
		    "operations.md, \"Spool damaged\"), or move it away",
		    s->path, msg, doing, s->path);
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return spool_seterr(s, SPOOL_ECREATE, "spool %s cannot be "
		    "written (%s, while %s): check the permissions of the file, "
		    "its -wal and -shm files and its directory", s->path, msg,
		    doing);
	case SQLITE_NOMEM:
		return spool_seterr(s, SPOOL_ENOMEM, "out of memory while %s",
		    doing);
	case SQLITE_TOOBIG:
		return spool_seterr(s, SPOOL_ETOOBIG, "spool %s: row too big "
		    "while %s", s->path, doing);
	default:
		return spool_seterr(s, SPOOL_EIO, "spool %s: %s (while %s)",
		    s->path, msg, doing);
	}
}

spool_err
spool_exec(spool_t *s, const char *sql, const char *doing)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? SPOOL_OK : spool_sqlerr(s, rc, doing);
}

static spool_err
query_int(spool_t *s, const char *sql, int64_t *out, const char *doing)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return spool_sqlerr(s, rc, doing);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_DONE;
	}
	if (rc != SQLITE_DONE) {
		spool_err e = spool_sqlerr(s, rc, doing);
		sqlite3_finalize(st);
		return e;
	}
	sqlite3_finalize(st);
	return SPOOL_OK;
}

/* What a version-0 file holds, as inspect_v0() found it. */
typedef struct v0_shape {
	int has_inbox;
	int has_received;  /* the inbox has a received_ms column */
	const char *order; /* the inbox's insertion order; NULL: table order */
} v0_shape;

/* Sets *n to the number of inbox columns named name (any case, as SQL
 * matches them). */
static spool_err
inbox_has_column(spool_t *s, const char *name, int *n)
{
	sqlite3_stmt *q;
	int rc;

	*n = 0;
	rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM "
	    "pragma_table_info('inbox') WHERE name = ?1 COLLATE NOCASE", -1,
	    &q, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(q);
		if (rc == SQLITE_ROW) {
			*n = sqlite3_column_int(q, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_OK ? SPOOL_OK : spool_sqlerr(s, rc,
	    "reading the schema");
}

/*
 * Checks that a version-0 file can become a spool with nothing lost: no
 * table or view but the inbox, and an inbox that is a plain table with the
 * four columns of the stable INSERT. It only reads, so a refused file is
 * left untouched. It also finds the order the writer inserted rows in: the
 * rowid's, unless the table has none (WITHOUT ROWID) or a column hides
 * every name of it; then the id's, if there is one.
 */
static spool_err
inspect_v0(spool_t *s, v0_shape *v)
{
	static const char *const need[] = { "job", "grouping", "op", "body" };
	static const char *const rowid[] = { "rowid", "_rowid_", "oid" };
	sqlite3_stmt *q = NULL;
	int64_t foreign = 0;
	spool_err e = SPOOL_OK;
	int rc, n;

	memset(v, 0, sizeof(*v));
	if ((e = query_int(s, "SELECT count(*) FROM sqlite_master WHERE type IN "
	    "('table', 'view') AND name NOT LIKE 'sqlite_%' AND name <> 'inbox'"
	    " COLLATE NOCASE", &foreign, "reading the schema")))
		return e;
	if (foreign > 0)
		return spool_seterr(s, SPOOL_ENOTSPOOL, "%s is a SQLite "
		    "database but not a collector spool (it has tables or "
		    "views of its own); it was left untouched: point "
		    "--spool/COLLECTOR_SPOOL at another path", s->path);
	rc = sqlite3_prepare_v2(s->db, "SELECT type = 'view', sql LIKE "
	    "'CREATE VIRTUAL TABLE%' FROM sqlite_master WHERE name = 'inbox' "
	    "COLLATE NOCASE AND type IN ('table', 'view')", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		v->has_inbox = 1;
		/* INSERTs into a view or a virtual table go wherever its
		 * triggers or module send them: not a queue we can drain. */
		if (sqlite3_column_int(q, 0) || sqlite3_column_int(q, 1))
			e = spool_seterr(s, SPOOL_ENOTSPOOL, "%s has an inbox "
			    "that is %s, not a table; it was left untouched: "
			    "it is not a collector spool: point "
			    "--spool/COLLECTOR_SPOOL at another path",
			    s->path, sqlite3_column_int(q, 0) ? "a view" :
			    "a virtual table");
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_OK && rc != SQLITE_DONE)
		return spool_sqlerr(s, rc, "reading the schema");
	if (e || !v->has_inbox)
		return e;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if ((e = inbox_has_column(s, need[i], &n)))
			return e;
		if (n == 0)
			return spool_seterr(s, SPOOL_ENOTSPOOL, "%s has an inbox "
			    "table without a '%s' column; it was left "
			    "untouched: it is not a collector spool: point "
			    "--spool/COLLECTOR_SPOOL at another path",
			    s->path, need[i]);
	}
	if ((e = inbox_has_column(s, "received_ms", &v->has_received)))
		return e;
	for (size_t i = 0; i < sizeof(rowid) / sizeof(rowid[0]); i++) {
		char sql[64];
		if ((e = inbox_has_column(s, rowid[i], &n)))
			return e;
		if (n > 0)
			continue;
		snprintf(sql, sizeof(sql), "SELECT %s FROM inbox", rowid[i]);
		/* Fails to prepare on a WITHOUT ROWID table. */
		if (sqlite3_prepare_v2(s->db, sql, -1, &q, NULL) == SQLITE_OK) {
			sqlite3_finalize(q);
			v->order = rowid[i];
			return SPOOL_OK;
		}
	}
	if ((e = inbox_has_column(s, "id", &n)))
		return e;
	v->order = n > 0 ? "id" : NULL;
	return SPOOL_OK;
}

/* A writer's received_ms is kept when it is an integer time in ms from
 * 2000 to now; anything else (NULL, text, seconds, the future, which would
 * keep the group from ever expiring) becomes 0, "unknown". */
#define SANE_RECEIVED_MS "CASE WHEN typeof(received_ms) = 'integer' AND " \
	"received_ms BETWEEN 946684800000 AND " NOW_MS " THEN received_ms " \
	"ELSE 0 END"

/*
 * A version-0 file is one that has no tables, or only an `inbox` made by a
 * writer before any agent ran. Its inbox is rebuilt as ours, whatever its
 * shape: the fold deletes the rows it folded by id, so an id that is NULL,
 * text or repeated (or missing, or not the rowid, as in a WITHOUT ROWID
 * table) would count its row again in every batch. Every row is kept,
 * renumbered in insertion order; extra columns, indexes and triggers go.
 * The caller holds the write transaction, so it is all or nothing.
 */
static spool_err
migrate_v0(spool_t *s)
{
	char sql[1024];
	v0_shape v;
	spool_err e;
	int n;

	if ((e = inspect_v0(s, &v)))
		return e;
	if (v.has_inbox) {
		n = snprintf(sql, sizeof(sql), "CREATE TABLE inbox_v1"
		    INBOX_COLUMNS "; INSERT INTO inbox_v1(id, job, grouping, "
		    "op, body, received_ms) SELECT row_number() OVER (%s%s), "
		    "job, grouping, op, body, %s FROM inbox; DROP TABLE inbox; "
		    "ALTER TABLE inbox_v1 RENAME TO inbox",
		    v.order ? "ORDER BY " : "", v.order ? v.order : "",
		    v.has_received ? SANE_RECEIVED_MS : "0");
		if (n < 0 || (size_t)n >= sizeof(sql))
			return spool_seterr(s, SPOOL_EIO, "spool %s: migrating "
			    "the inbox: statement too long", s->path);
		if ((e = spool_exec(s, sql, "migrating the spool's inbox")))
			return e;
	}
	for (size_t i = 0; schema_v1[i] != NULL; i++)
		if ((e = spool_exec(s, schema_v1[i], "creating the spool tables")))
			return e;
	return SPOOL_OK;
}

/* Creates the file ourselves so that its mode is 0660 (less the umask);
 * SQLite would make it 0644, and the -wal and -shm files copy the mode of
 * the database. */
static spool_err
create_file(spool_t *s)
{
	struct stat st;
	int fd;

	if (stat(s->path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return spool_seterr(s, SPOOL_ECREATE, "spool %s is a "
			    "directory: give the path of a file", s->path);
		/* A FIFO, a device or a socket: SQLite would fail on it with
		 * "disk I/O error", and leave a -journal beside a device. */
		if (!S_ISREG(st.st_mode))
			return spool_seterr(s, SPOOL_ENOTSPOOL, "spool %s is not "
			    "a regular file; it is left untouched: point "
			    "--spool/COLLECTOR_SPOOL at another path", s->path);
		if (access(s->path, R_OK | W_OK) != 0)
			return spool_seterr(s, SPOOL_ECREATE, "spool %s is not "
			    "writable (%s): fix its owner or mode, or run as a "
			    "user in its group", s->path, strerror(errno));
		return SPOOL_OK;
	}
	fd = open(s->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0660);
	if (fd < 0 && errno != EEXIST)
		return spool_seterr(s, SPOOL_ECREATE, "cannot create spool %s "
		    "(%s): create its directory with write access for this "
		    "user, or point --spool/COLLECTOR_SPOOL elsewhere",
		    s->path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return SPOOL_OK;
}

/* Reads the schema version and refuses files that are not spools, before
 * the WAL switch writes to the file. */
static spool_err
read_header(spool_t *s, int64_t *version)
{
	v0_shape shape;
	spool_err e;

	if ((e = query_int(s, "PRAGMA user_version", version,
	    "reading the spool header")))
		return e;
	if (*version > SPOOL_SCHEMA_VERSION)
		return spool_seterr(s, SPOOL_ENEWER, "spool %s has schema "
		    "version %lld, newer than this program knows (%d); it was "
		    "left untouched: upgrade collector-agent and "
		    "collector-spool together", s->path, (long long)*version,
		    SPOOL_SCHEMA_VERSION);
	if (*version == SPOOL_SCHEMA_VERSION)
		return SPOOL_OK;
	return inspect_v0(s, &shape);
}

/*
 * A symbolic link at the spool path is followed only to a file that is
 * already a spool. Making a spool writes the file, and a link may point at
 * any file this user can write: one planted in the group-writable spool
 * directory, or left by a mistake, must not turn that file into a spool.
 * A link to a spool is fine: SQLite resolves it, so every process finds
 * the same -wal and -shm files beside the target.
 */
static int
is_link(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

static spool_err
refuse_link(spool_t *s, int target_exists)
{
	char target[4096];
	ssize_t n = readlink(s->path, target, sizeof(target) - 1);

	target[n > 0 ? (size_t)n : 0] = '\0';
	if (!target_exists)
		return spool_seterr(s, SPOOL_ENOTSPOOL, "spool %s is a symbolic "
		    "link to %s, which does not exist; nothing was created: "
		    "give --spool/COLLECTOR_SPOOL the path where the spool is "
		    "to be, or remove the link", s->path, target);
	return spool_seterr(s, SPOOL_ENOTSPOOL, "spool %s is a symbolic link "
	    "to %s, which is not a collector spool yet; both were left "
	    "untouched: give --spool/COLLECTOR_SPOOL the path of that file if "
	    "it is to become the spool, or remove the link", s->path, target);
}

/*
 * A handle that opened the spool leaves the WAL and its index where they
 * are when it closes. SQLite's own close, in the spool's last user,
 * checkpoints the WAL into the database (an fsync of each), deletes the
 * -wal and -shm files, and the next writer creates them again (an fsync
 * of the WAL's header and of the directory): 4 fsyncs, most of what a
 * one-line put cost when no agent held the spool. A commit needs none:
 * with synchronous=FULL it is on the disk when COMMIT returns, with
 * NORMAL it is in the WAL, which every later open replays. Set only once
 * the file is a spool: a file refused above keeps SQLite's close, which
 * removes the -wal and -shm that reading its header made. The agent's
 * claim turns it off for its own handle (spool_claim()).
 */
static spool_err
keep_wal(spool_t *s)
{
	int rc = sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
	    (int *)NULL);

	if (rc != SQLITE_OK)
		return spool_sqlerr(s, rc, "setting up the spool handle");
	s->keep_wal = 1;
	return SPOOL_OK;
}

/*
 * The switch of a new spool to WAL mode, which the processes that find it
 * new all make at once. SQLite makes it by upgrading a read transaction
 * to a write one, and an upgrade does not call the busy handler (waiting
 * there could deadlock), so all but one of them get SQLITE_BUSY at once.
 * It is retried here, sleeping as SQLite's own handler does, until the
 * busy timeout. Once the file is in WAL mode the switch writes nothing.
 */
static spool_err
switch_to_wal(spool_t *s)
{
	static const int delays[] = { 1, 2, 5, 10, 15, 20, 25, 25, 25, 50 };
	const size_t last = sizeof(delays) / sizeof(delays[0]) - 1;
	int rc, slept = 0, ms;

	for (size_t i = 0;; i += i < last) {
		rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL,
		    NULL);
		if ((rc & 0xff) != SQLITE_BUSY || slept >= s->busy_ms)
			break;
		ms = delays[i] < s->busy_ms - slept ? delays[i] :
		    s->busy_ms - slept;
		slept += sqlite3_sleep(ms);
	}
	return rc == SQLITE_OK ? SPOOL_OK : spool_sqlerr(s, rc,
	    "switching the spool to WAL mode");
}

static spool_err
setup(spool_t *s, const spool_options *o)
{
	int64_t version = 0;
	struct stat st;
	spool_err e;
	int rc, link;

	link = is_link(s->path);
	if (link && stat(s->path, &st) != 0)
		return refuse_link(s, 0);
	if ((e = create_file(s)))
		return e;
	rc = sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		if (s->db == NULL)
			return spool_seterr(s, SPOOL_ENOMEM, "out of memory "
			    "opening %s", s->path);
		return spool_sqlerr(s, rc, "opening the spool");
	}
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_timeout(s->db, s->busy_ms);

	/* Reads the header only: a file that is not SQLite fails here,
	 * before anything is written to it. The version and the table list
	 * are read in one read transaction, so that a process creating the
	 * tables meanwhile is seen either not at all or complete. */
	if ((e = spool_exec(s, "BEGIN", "reading the spool header")))
		return e;
	e = read_header(s, &version);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (e)
		return e;
	/* Looked at again now that the file is open and nothing is written
	 * yet, for a link put there since the first look. */
	if (version < SPOOL_SCHEMA_VERSION && (link || is_link(s->path)))
		return refuse_link(s, 1);
	if ((e = switch_to_wal(s)))
		return e;
	if ((e = spool_exec(s, o && o->synchronous_full ?
	    "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
	    "setting synchronous")))
		return e;
	/* Bound the WAL file after checkpoints. */
	if ((e = spool_exec(s, "PRAGMA journal_size_limit=67108864",
	    "setting journal_size_limit")))
		return e;
	if (version == SPOOL_SCHEMA_VERSION)
		return keep_wal(s);

	if ((e = spool_exec(s, "BEGIN IMMEDIATE", "locking the spool to "
	    "create its tables")))
		return e;
	/* Another process may have created the tables meanwhile. */
	if ((e = query_int(s, "PRAGMA user_version", &version,
	    "reading the spool header")))
		goto fail;
	if (version == 0 && (e = migrate_v0(s)))
		goto fail;
	if ((e = spool_exec(s, "PRAGMA user_version=1", "setting the schema "
	    "version")))
		goto fail;
	if ((e = spool_exec(s, "COMMIT", "creating the spool tables")))
		goto fail;
	return keep_wal(s);
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return e;
}

static spool_err setup_ro(spool_t *s);

/* Both opens: a handle for path, set up by setup() (writers and
 * the agent) or, when ro, setup_ro() (readers); errbuf says why not. */
static spool_err
open_with(const char *path, const spool_options *o, spool_t **out,
    char *errbuf, size_t errlen, int ro)
{
	spool_t *s;
	spool_err e;

	*out = NULL;
	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (path == NULL || path[0] == '\0') {
		if (errbuf)
			snprintf(errbuf, errlen, "no spool path given");
		return SPOOL_EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->path = strdup(path)) == NULL) {
		free(s);
		if (errbuf)
			snprintf(errbuf, errlen, "out of memory");
		return SPOOL_ENOMEM;
	}
	s->busy_ms = o && o->busy_timeout_ms > 0 ? o->busy_timeout_ms :
	    SPOOL_DEFAULT_BUSY_TIMEOUT_MS;
	if ((e = ro ? setup_ro(s) : setup(s, o))) {
		if (errbuf)
			snprintf(errbuf, errlen, "%s", s->errmsg);
		spool_close(s);
		return e;
	}
	*out = s;
	return SPOOL_OK;
}

spool_err
spool_open(const char *path, const spool_options *o, spool_t **out,
    char *errbuf, size_t errlen)
{
	return open_with(path, o, out, errbuf, errlen, 0);
}

/*
 * The read-only open (spool-agent.h). The path goes to SQLite as a URI, so
 * that it can carry mode=ro with readonly_shm or immutable; every byte but
 * the unreserved ones and '/' is percent-encoded. An absolute path follows
 * "file://" and an empty authority: "file:" and a path starting with "//"
 * would read as an authority ("file://var/x" is refused), so "//x" becomes
 * "file:////x". Returns 0, or -1 when it does not fit in cap bytes.
 */
static int
uri_of(char *out, size_t cap, const char *path, const char *params)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *head = path[0] == '/' ? "file://" : "file:";
	size_t o = strlen(head);

	if (cap < o + 1)
		return -1;
	memcpy(out, head, o);
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (o + 4 > cap)
			return -1;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~/", *p) != NULL)
			out[o++] = (char)*p;
		else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (o + strlen(params) + 1 > cap)
		return -1;
	memcpy(out + o, params, strlen(params) + 1);
	return 0;
}

/* The words for a reader that SQLite refused: what a read-only open needs. */
static spool_err
ro_refused(spool_t *s, spool_err e, const char *doing)
{
	if (e != SPOOL_ECREATE)
		return e;
	return spool_seterr(s, SPOOL_ECREATE, "spool %s cannot be read (%s, "
	    "while %s): a user who cannot write the spool needs read access "
	    "to it and to its -wal and -shm files, which must exist (they do "
	    "while the agent runs, and after any put)", s->path,
	    sqlite3_errmsg(s->db), doing);
}

/*
 * One try of the read-only open of real (the spool's resolved path: SQLite
 * follows a symbolic link and keeps the -wal and -shm beside its target,
 * so that is where they are looked for). *immutable says which way it was
 * opened; *st is the file's stat.
 */
static spool_err
open_ro(spool_t *s, const char *real, int *immutable, struct stat *st)
{
	static const char *const sfx[] = { "-wal", "-shm" };
	char side[2][4096], *uri;
	int has[2], rc;
	int64_t version = 0;
	spool_err e;
	size_t cap;

	for (size_t i = 0; i < 2; i++) {
		if ((size_t)snprintf(side[i], sizeof(side[i]), "%s%s", real,
		    sfx[i]) >= sizeof(side[i]))
			return spool_seterr(s, SPOOL_EINVAL, "spool path too "
			    "long: %s", s->path);
		has[i] = stat(side[i], st) == 0;
		if (has[i] && access(side[i], R_OK) != 0)
			return spool_seterr(s, SPOOL_ECREATE, "spool %s: its "
			    "%s file %s is not readable (%s): a reader needs "
			    "read access to the spool and its -wal and -shm "
			    "files (the spool's group and mode: docs/spool.md, "
			    "\"Permissions\")", s->path, sfx[i], side[i],
			    strerror(errno));
	}
	/* SQLite would create a missing -shm as this user; the -wal's rows
	 * cannot be read without one. */
	if (has[0] && !has[1])
		return spool_seterr(s, SPOOL_ECREATE, "spool %s has a -wal file "
		    "but no -shm, and a user who cannot write the spool does "
		    "not create one: run it again while the agent runs, or after "
		    "a put (either makes the -shm), or as a user who can write "
		    "the spool", s->path);
	if (stat(real, st) != 0)
		return spool_seterr(s, SPOOL_ENOTSPOOL, "no spool at %s (%s): "
		    "check the path; a spool is created by the agent or by the "
		    "first put", s->path, strerror(errno));
	*immutable = !has[0];
	cap = 3 * strlen(real) + 64;
	if ((uri = malloc(cap)) == NULL)
		return spool_seterr(s, SPOOL_ENOMEM, "out of memory");
	rc = uri_of(uri, cap, real, has[0] ? "?mode=ro&readonly_shm=1" :
	    "?mode=ro&immutable=1");
	if (rc == 0)
		rc = sqlite3_open_v2(uri, &s->db, SQLITE_OPEN_READONLY |
		    SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
	else
		rc = SQLITE_CANTOPEN;
	free(uri);
	if (rc != SQLITE_OK) {
		if (s->db == NULL)
			return spool_seterr(s, SPOOL_ENOMEM, "out of memory "
			    "opening %s", s->path);
		return ro_refused(s, spool_sqlerr(s, rc, "opening the spool"),
		    "opening the spool");
	}
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_timeout(s->db, s->busy_ms);
	/* Nothing to checkpoint from here, and never a write. */
	(void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
	    (int *)NULL);
	if ((e = spool_exec(s, "BEGIN", "reading the spool header")))
		return ro_refused(s, e, "reading the spool header");
	e = read_header(s, &version);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	if (e)
		return ro_refused(s, e, "reading the spool header");
	if (version < SPOOL_SCHEMA_VERSION) {
		if (is_link(s->path))
			return refuse_link(s, 1);
		return spool_seterr(s, SPOOL_ENOTSPOOL, "spool %s is not a spool "
		    "yet (%s); it was left untouched: this user cannot write "
		    "it, so cannot make it one; the agent does at its start, as "
		    "does a put by a user who can write it", s->path,
		    st->st_size == 0 ? "an empty file" : "no tables but a "
		    "writer's inbox");
	}
	return SPOOL_OK;
}

/* Is there a -wal beside an immutable handle's file? A writer started
 * after the open: it may checkpoint into the file under the reader. */
static int
wal_appeared(spool_t *s)
{
	sqlite3_filename f;
	struct stat st;

	if (s->db == NULL || (f = sqlite3_db_filename(s->db, "main")) == NULL
	    || !sqlite3_uri_boolean(f, "immutable", 0))
		return 0;
	return stat(sqlite3_filename_wal(f), &st) == 0;
}

static spool_err
setup_ro(spool_t *s)
{
	struct stat st;
	spool_err e;
	char *real;
	int immutable = 0;

	if (stat(s->path, &st) != 0)
		return spool_seterr(s, SPOOL_ENOTSPOOL, "no spool at %s (%s): "
		    "check the path; a spool is created by the agent or by the "
		    "first put", s->path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return spool_seterr(s, SPOOL_ECREATE, "spool %s is a "
		    "directory: give the path of a file", s->path);
	if (!S_ISREG(st.st_mode))
		return spool_seterr(s, SPOOL_ENOTSPOOL, "spool %s is not a "
		    "regular file; it is left untouched: point "
		    "--spool/COLLECTOR_SPOOL at another path", s->path);
	if (access(s->path, R_OK) != 0)
		return spool_seterr(s, SPOOL_ECREATE, "spool %s is not readable "
		    "(%s): fix its owner or mode, or run as a user in its group",
		    s->path, strerror(errno));
	if ((real = realpath(s->path, NULL)) == NULL)
		return spool_seterr(s, errno == ENOMEM ? SPOOL_ENOMEM :
		    SPOOL_ECREATE, "spool %s: its path cannot be resolved (%s)",
		    s->path, strerror(errno));
	/* A writer may make a -wal between the look for one and the read of
	 * the header: opened immutable, the file could then be checkpointed
	 * under this reader. Looked for again after the header; when it is
	 * there, the spool is opened again the -wal's way. Twice is plenty:
	 * a -wal stays until the last writer closes. */
	for (int tries = 0;; tries++) {
		e = open_ro(s, real, &immutable, &st);
		if (e != SPOOL_OK || !wal_appeared(s))
			break;
		sqlite3_close(s->db);
		s->db = NULL;
		if (tries == 2) {
			e = spool_seterr(s, SPOOL_EBUSY, "spool %s: writers "
			    "started and stopped while it was being opened: "
			    "run it again", s->path);
			break;
		}
	}
	free(real);
	return e;
}

spool_err
spool_open_readonly(const char *path, const spool_options *o, spool_t **out,
    char *errbuf, size_t errlen)
{
	return open_with(path, o, out, errbuf, errlen, 1);
}

spool_err
spool_set_cache(spool_t *s, int kib)
{
	char sql[64];

	if (kib <= 0)
		return spool_seterr(s, SPOOL_EINVAL, "cache size must be > 0");
	snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d", kib);
	return spool_exec(s, sql, "setting the cache size");
}

/*
 * What a closing handle does with the WAL and its index (keep_wal()).
 *
 * Left for the next user, normally. But the first connection after all
 * have closed rebuilds the index from the WAL file, and the rebuilt index
 * has forgotten how much of the WAL was checkpointed: SQLite never starts
 * the WAL over, so with no process holding the spool open it would grow
 * with every put, every open would read all of it, and every commit past
 * SQLite's automatic checkpoint (1,000 pages) would copy all of it again.
 * So the spool's last user trims a WAL over WAL_TRIM_BYTES: checkpoints it
 * and truncates it, a few fsyncs once per that many bytes. While the
 * agent runs it is not the last user, and the agent's checkpoint does this
 * once an interval.
 *
 * Who else has the files open, the lock bytes of the unix VFS say: every
 * connection holds a read lock on the database's SHARED range (the
 * lock-byte page at 1 GiB: PENDING, RESERVED, then 510 bytes of SHARED)
 * and on the index's DMS byte (8 lock bytes from offset 120, then DMS),
 * from its first read until it closes; SQLite looks at the same bytes. A
 * process that holds the index but not this database has another file
 * open at this path: the spool was replaced under it (docs/operations.md
 * says not to). It would read rows left in the WAL as pages of its own
 * file, so then SQLite's close has the files, as it had them before
 * writers left them: it moves the rows into this file and removes both.
 */
#define WAL_TRIM_BYTES (256 * 1024)
#define LOCK_SHARED_FIRST (0x40000000 + 2)
#define LOCK_SHARED_SIZE 510
#define SHM_DMS_BYTE 128

/* 1 when another process holds a lock on len bytes at off of the file at
 * fd, 0 when none does, -1 when it cannot tell. */
static int
locked_by_others(int fd, off_t off, off_t len)
{
	struct flock lk;

	memset(&lk, 0, sizeof(lk));
	lk.l_type = F_WRLCK;
	lk.l_whence = SEEK_SET;
	lk.l_start = off;
	lk.l_len = len;
	if (fcntl(fd, F_GETLK, &lk) != 0)
		return -1;
	return lk.l_type != F_UNLCK;
}

/*
 * Whether the -wal and -shm beside the database db can be left for the
 * next user: they have its group and its mode. SQLite gives them the
 * database's mode but the owner and group of the process that made them,
 * so in a directory without the set-group-ID bit (docs/spool.md,
 * "Permissions") a writer whose group is not the spool's would leave
 * files that the agent cannot open, and it would refuse to start (exit
 * 73) until someone removed them. Files that do not fit go as SQLite's
 * close has them go: checkpointed and removed by the spool's last user.
 */
static int
sides_fit(const char *db)
{
	static const char *const sfx[] = { "-wal", "-shm" };
	struct stat d, f;
	char p[4096];

	if (stat(db, &d) != 0)
		return 0;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if ((size_t)snprintf(p, sizeof(p), "%s%s", db, sfx[i]) >=
		    sizeof(p))
			return 0;
		if (stat(p, &f) != 0)
			continue;
		if (f.st_gid != d.st_gid ||
		    (f.st_mode & 07777) != (d.st_mode & 07777))
			return 0;
	}
	return 1;
}

/*
 * Decides, before sqlite3_close(), what the close does with the WAL (see
 * above), and trims it when that is the answer. The descriptors it opens
 * go into fds, for the caller to close after sqlite3_close(): closing any
 * descriptor of a file drops this process's POSIX locks on it, SQLite's
 * included.
 */
static void
close_wal(spool_t *s, int fds[2])
{
	const char *db = sqlite3_db_filename(s->db, "main");
	char shm[4096];
	struct stat st;

	if (db == NULL || db[0] == '\0' ||
	    (size_t)snprintf(shm, sizeof(shm), "%s-shm", db) >= sizeof(shm))
		return;
	if (!sides_fit(db))
		goto sqlite_close;
	/* Another user of this file, such as the agent: the WAL is its. On
	 * any doubt the files stay, which costs nothing but their space. */
	if ((fds[0] = open(db, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0 ||
	    locked_by_others(fds[0], LOCK_SHARED_FIRST, LOCK_SHARED_SIZE) != 0)
		return;
	if ((fds[1] = open(shm, O_RDONLY | O_CLOEXEC | O_NOCTTY)) >= 0 &&
	    locked_by_others(fds[1], SHM_DMS_BYTE, 1) == 1)
		goto sqlite_close;
	if (stat(sqlite3_filename_wal(db), &st) == 0 &&
	    st.st_size > WAL_TRIM_BYTES) {
		/* A reader that came meanwhile keeps the index alive: no
		 * waiting for it. */
		sqlite3_busy_timeout(s->db, 0);
		sqlite3_exec(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL,
		    NULL, NULL);
	}
	return;
sqlite_close:
	(void)sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0,
	    (int *)NULL);
}

void
spool_close(spool_t *s)
{
	int fds[2] = { -1, -1 };

	if (s == NULL)
		return;
	if (s->in_batch)
		spool_batch_rollback(s);
	sqlite3_finalize(s->st_put);
	sqlite3_finalize(s->st_begin);
	sqlite3_finalize(s->st_commit);
	if (s->keep_wal)
		close_wal(s, fds);
	sqlite3_close(s->db);
	/* After SQLite's own descriptors: closing any descriptor of the file
	 * drops the process's POSIX locks on it, SQLite's included. */
	for (size_t i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (s->agent_fd > 0)
		close(s->agent_fd - 1);
	free(s->path);
	free(s);
}

const char *
spool_check_job(const char *job, size_t len)
{
	if (len == 0)
		return "job must not be empty";
	if (len > SPOOL_MAX_JOB)
		return "job too long (limit 1024 bytes)";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)job[i] < 0x20 || job[i] == 0x7f)
			return "job must not contain control characters";
	if (!expo_valid_utf8(job, len))
		return "job is not valid UTF-8";
	return NULL;
}

const char *
spool_canon_grouping(const char *g, size_t len, char *out, size_t cap)
{
	expo_label labels[EXPO_MAX_LABELS];
	size_t n;
	const char *why;

	if (len > MAX_GROUPING)
		return "grouping too long (limit 8192 bytes)";
	if (expo_parse_labels(g, len, labels, EXPO_MAX_LABELS, &n, &why) != 0)
		return why;
	for (size_t i = 0; i < n; i++)
		if (expo_str_eq(labels[i].name, "job"))
			return "grouping must not contain a job label (the job "
			    "has its own column and flag)";
	if (expo_labels_len(labels, n) >= cap)
		return "grouping too long";
	expo_sort_labels(labels, n);
	out[expo_join_labels(out, labels, n)] = '\0';
	return NULL;
}

spool_err
spool_validate_group(const char *job, const char *grouping, char *errbuf,
    size_t errlen)
{
	const char *why;

	if (job != NULL && (why = spool_check_job(job, strlen(job)))) {
		if (errbuf)
			snprintf(errbuf, errlen, "job: %s", why);
		return SPOOL_EPARSE;
	}
	if (grouping != NULL) {
		size_t len = strlen(grouping);
		char *canon = malloc(len + 1);
		if (canon == NULL)
			return SPOOL_ENOMEM;
		why = spool_canon_grouping(grouping, len, canon, len + 1);
		free(canon);
		if (why) {
			if (errbuf)
				snprintf(errbuf, errlen, "grouping: %s", why);
			return SPOOL_EPARSE;
		}
	}
	return SPOOL_OK;
}

/* Remembers which names had a TYPE or HELP line in one body; a TYPE
 * line's slot holds its type plus one, for row_type(). */
static int
seen_before(hmap *seen, char kind, const expo_line *l, int *dup)
{
	char key[EXPO_MAX_NAME + 1];
	int created;
	void **slot;

	key[0] = kind;
	memcpy(key + 1, l->name.p, l->name.len);
	slot = hmap_put(seen, key, l->name.len + 1, &created);
	if (slot == NULL)
		return -1;
	*dup = !created;
	if (created && kind == 'T')
		*slot = (void *)((uintptr_t)l->type + 1);
	return 0;
}

/* The type this body's TYPE line gives the first len bytes of name, or
 * -1 when it has none. */
static int
row_type(const hmap *seen, const char *name, size_t len)
{
	char key[EXPO_MAX_NAME + 1];
	void **slot;

	if (seen == NULL || len > EXPO_MAX_NAME)
		return -1;
	key[0] = 'T';
	memcpy(key + 1, name, len);
	slot = hmap_get(seen, key, len + 1);
	return slot == NULL ? -1 : (int)((uintptr_t)*slot - 1);
}

/*
 * The checks that need a sample's family (expo_check_member), for the
 * histograms and summaries this body's own TYPE lines declare; TYPE lines
 * hold for the whole row, so this is a second pass. The fold makes them
 * again with the group's state, which a put cannot see. A sample belongs
 * to its own name when the row types that name, else NAME_bucket to
 * histogram NAME and NAME_sum, NAME_count to histogram or summary NAME:
 * the fold's resolution.
 */
static int
check_members(const hmap *seen, const char *body, size_t len, expo_line *l,
    char *errbuf, size_t errlen)
{
	static const char *const sufs[] = { "_bucket", "_sum", "_count" };
	const char *line, *why = NULL;
	size_t pos = 0, llen, lineno = 0;

	while (expo_next_line(body, len, &pos, &line, &llen)) {
		size_t famlen = 0;
		int t;

		lineno++;
		if (expo_parse_line(line, llen, l, &why) != 0 ||
		    l->kind != EXPO_SAMPLE)
			continue;
		t = row_type(seen, l->name.p, l->name.len);
		if (t >= 0)
			famlen = l->name.len;
		for (size_t i = 0; t < 0 && i < 3; i++) {
			size_t sl = strlen(sufs[i]), base;
			int bt;

			if (l->name.len <= sl || memcmp(l->name.p + l->name.len -
			    sl, sufs[i], sl) != 0)
				continue;
			base = l->name.len - sl;
			bt = row_type(seen, l->name.p, base);
			if (bt == EXPO_HISTOGRAM || (bt == EXPO_SUMMARY && i > 0)) {
				t = bt;
				famlen = base;
			}
		}
		if (t < 0)
			continue;
		/* In the fold's words: the fold makes this check too, for
		 * families typed by earlier rows. */
		if (t == EXPO_HISTOGRAM && famlen == l->name.len) {
			if (errbuf)
				snprintf(errbuf, errlen, "line %zu: histogram "
				    "%.*s has no sample of its bare name: write "
				    "%.*s_bucket, _sum and _count, or use op "
				    "observe", lineno, (int)famlen, l->name.p,
				    (int)famlen, l->name.p);
			return -1;
		}
		if ((why = expo_check_member(l, (expo_type)t, famlen))) {
			if (errbuf)
				snprintf(errbuf, errlen, "line %zu: %s %.*s: %s",
				    lineno, expo_type_name((expo_type)t),
				    (int)famlen, l->name.p, why);
			return -1;
		}
	}
	return 0;
}

spool_err
spool_validate_body(spool_op op, const char *body, size_t len, char *errbuf,
    size_t errlen)
{
	/* On the stack and made lazily: puts of one-line bodies are the hot
	 * path, and most bodies have no HELP or TYPE line to remember. */
	expo_line line_buf, *l = &line_buf;
	hmap *seen = NULL;
	const char *line, *why = NULL;
	size_t pos = 0, llen, lineno = 0, useful = 0;
	int families = 0; /* a TYPE line declares a histogram or summary */
	spool_err e = SPOOL_OK;

	if (errbuf && errlen)
		errbuf[0] = '\0';
	if (len > EXPO_MAX_BODY) {
		if (errbuf)
			snprintf(errbuf, errlen, "body too large: %zu bytes "
			    "(limit %u); split it into several puts", len,
			    EXPO_MAX_BODY);
		return SPOOL_ETOOBIG;
	}
	if (op == SPOOL_OP_DELETE) {
		for (size_t i = 0; i < len; i++) {
			if (body[i] != ' ' && body[i] != '\t' && body[i] != '\n') {
				if (errbuf)
					snprintf(errbuf, errlen, "a delete "
					    "request takes no body");
				return SPOOL_EPARSE;
			}
		}
		return SPOOL_OK;
	}
	while (expo_next_line(body, len, &pos, &line, &llen)) {
		int dup = 0;
		lineno++;
		if (expo_parse_line(line, llen, l, &why) != 0)
			goto bad;
		switch (l->kind) {
		case EXPO_BLANK:
		case EXPO_COMMENT:
			continue;
		case EXPO_HELP:
		case EXPO_TYPE:
			if (seen == NULL && (seen = hmap_new()) == NULL) {
				e = SPOOL_ENOMEM;
				goto out;
			}
			if (seen_before(seen, l->kind == EXPO_HELP ? 'H' : 'T',
			    l, &dup) != 0) {
				e = SPOOL_ENOMEM;
				goto out;
			}
			if (dup) {
				why = l->kind == EXPO_HELP ?
				    "second HELP line for this metric" :
				    "second TYPE line for this metric";
				goto bad;
			}
			if (op == SPOOL_OP_OBSERVE && l->kind == EXPO_TYPE &&
			    l->type != EXPO_HISTOGRAM && l->type != EXPO_UNTYPED) {
				why = "op observe feeds histograms; this TYPE "
				    "line names another type";
				goto bad;
			}
			if (l->kind == EXPO_TYPE && (l->type == EXPO_HISTOGRAM ||
			    l->type == EXPO_SUMMARY))
				families = 1;
			useful++;
			continue;
		case EXPO_SAMPLE:
			break;
		}
		useful++;
		if (op == SPOOL_OP_ADD && l->value != l->value) {
			why = "op add needs a number, not NaN";
			goto bad;
		}
		if (op == SPOOL_OP_OBSERVE) {
			if (l->value != l->value) {
				why = "op observe needs a number, not NaN";
				goto bad;
			}
			for (size_t i = 0; i < l->nlabels; i++) {
				if (expo_str_eq(l->labels[i].name, "le")) {
					why = "op observe: the le label is the "
					    "agent's (it buckets the value)";
					goto bad;
				}
			}
		}
	}
	/* A replace may leave the group empty: its body may be. */
	if (useful == 0 && op != SPOOL_OP_REPLACE) {
		if (errbuf)
			snprintf(errbuf, errlen, "no metric lines (the body is "
			    "empty or only comments)");
		e = SPOOL_EPARSE;
	} else if (families && (op == SPOOL_OP_SET || op == SPOOL_OP_ADD ||
	    op == SPOOL_OP_REPLACE) &&
	    check_members(seen, body, len, l, errbuf, errlen) != 0)
		e = SPOOL_EPARSE;
	goto out;
bad:
	if (errbuf)
		snprintf(errbuf, errlen, "line %zu: %s", lineno, why);
	e = SPOOL_EPARSE;
out:
	hmap_free(seen, NULL);
	return e;
}

/* Runs BEGIN IMMEDIATE or COMMIT from a statement prepared once per
 * handle: a single-row put runs both, and need not parse them each time.
 * Returns the SQLite result, SQLITE_OK when done. */
static int
tx_step(spool_t *s, sqlite3_stmt **st, const char *sql)
{
	int rc = SQLITE_OK;

	if (*st == NULL)
		rc = sqlite3_prepare_v3(s->db, sql, -1,
		    SQLITE_PREPARE_PERSISTENT, st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(*st);
		sqlite3_reset(*st);
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	return rc;
}

/*
 * Commits the open transaction and says what a failure means. SQLite keeps
 * the transaction open when its commit failed before writing anything (a
 * lock it could not get: SQLITE_BUSY); the usual error stands, and the
 * caller may roll back. SQLITE_FULL ends it, but SQLite reports it only for
 * a write of the WAL that came up short, and the frame that marks the
 * commit is written last (the unix VFS reports powersafe overwrite, so no
 * padding follows it): that frame is not whole, and recovery drops a
 * commit without one. Any other failure ends the transaction after the
 * frames may be whole in the file — an fsync that failed
 * (SQLITE_IOERR_FSYNC), a -shm that could not grow (SQLITE_IOERR_SHMSIZE,
 * even for a full disk), a write error — and the recovery after a crash
 * replays them: the outcome is unknown.
 */
static spool_err
commit_tx(spool_t *s, const char *doing)
{
	char why[160] = "";
	int rc, sys;

	if (sqlite3_get_autocommit(s->db))
		return spool_seterr(s, SPOOL_EIO, "spool %s: nothing was "
		    "written while %s: an earlier failure had rolled the "
		    "transaction back; write the rows again", s->path, doing);
	rc = tx_step(s, &s->st_commit, "COMMIT");
	if (rc == SQLITE_OK)
		return SPOOL_OK;
	if (!sqlite3_get_autocommit(s->db) ||
	    sqlite3_extended_errcode(s->db) == SQLITE_FULL)
		return spool_sqlerr(s, rc, doing);
	sys = sqlite3_system_errno(s->db);
	if (sys != 0)
		snprintf(why, sizeof(why), ": %s", strerror(sys));
	return spool_seterr(s, SPOOL_EUNKNOWN, "spool %s: outcome unknown: "
	    "the commit failed while %s (%s%s), after the rows may have "
	    "reached the disk; they may or may not be in the spool, now or "
	    "after a crash. Writing an add or observe row again could count "
	    "it twice: first check the group's value (on the gateway, or "
	    "pending rows with 'collector-spool stats'); set and delete rows "
	    "are safe to write again, and so are replace rows. Check the "
	    "disk and its free space",
	    s->path, doing, sqlite3_errmsg(s->db), why);
}

spool_err
spool_put(spool_t *s, const char *job, const char *grouping, spool_op op,
    const char *body, size_t len)
{
	spool_err e;
	int rc, own_tx = 0;

	s->errmsg[0] = '\0';
	if (body == NULL) {
		body = "";
		len = 0;
	}
	if ((e = spool_validate_group(job, grouping, s->errmsg,
	    sizeof(s->errmsg))))
		return e;
	if ((e = spool_validate_body(op, body, len, s->errmsg,
	    sizeof(s->errmsg))))
		return e;
	if (s->st_put == NULL) {
		rc = sqlite3_prepare_v3(s->db, "INSERT INTO inbox(job, grouping,"
		    " op, body) VALUES (?, ?, ?, ?)", -1,
		    SQLITE_PREPARE_PERSISTENT, &s->st_put, NULL);
		if (rc != SQLITE_OK)
			return spool_sqlerr(s, rc, "preparing the insert");
	}
	sqlite3_bind_text(s->st_put, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->st_put, 2, grouping, -1, SQLITE_STATIC);
	sqlite3_bind_text(s->st_put, 3, spool_op_name(op), -1, SQLITE_STATIC);
	sqlite3_bind_text(s->st_put, 4, body, (int)len, SQLITE_STATIC);
	/* Outside a batch the row is a transaction of its own, committed
	 * apart from the INSERT, so that a failure of the INSERT (nothing
	 * written) is told from a failure of the commit (unknown). BEGIN
	 * IMMEDIATE takes the write lock at once: the busy timeout applies in
	 * full. */
	if (!s->in_batch) {
		if ((rc = tx_step(s, &s->st_begin, "BEGIN IMMEDIATE"))) {
			e = spool_sqlerr(s, rc, "locking the spool");
			goto out;
		}
		own_tx = 1;
	}
	rc = sqlite3_step(s->st_put);
	sqlite3_reset(s->st_put);
	if (rc != SQLITE_DONE) {
		e = spool_sqlerr(s, rc, "inserting a row");
		goto out;
	}
	if (own_tx) {
		e = commit_tx(s, "committing a row");
		own_tx = !sqlite3_get_autocommit(s->db);
	}
out:
	sqlite3_clear_bindings(s->st_put);
	if (own_tx)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return e;
}

spool_err
spool_request_delete(spool_t *s, const char *job, const char *grouping)
{
	return spool_put(s, job, grouping, SPOOL_OP_DELETE, "", 0);
}

spool_err
spool_batch_begin(spool_t *s)
{
	spool_err e;

	if (s->in_batch)
		return spool_seterr(s, SPOOL_EINVAL, "a batch is already open");
	if ((e = spool_exec(s, "BEGIN IMMEDIATE", "starting a batch")))
		return e;
	s->in_batch = 1;
	return SPOOL_OK;
}

spool_err
spool_batch_commit(spool_t *s)
{
	spool_err e;

	if (!s->in_batch)
		return spool_seterr(s, SPOOL_EINVAL, "no batch is open");
	e = commit_tx(s, "committing a batch");
	if (e == SPOOL_OK || sqlite3_get_autocommit(s->db))
		s->in_batch = 0;
	return e;
}

void
spool_batch_rollback(spool_t *s)
{
	if (!s->in_batch)
		return;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->in_batch = 0;
}

spool_err
spool_get_stats(spool_t *s, spool_stats *st)
{
	sqlite3_stmt *q = NULL;
	struct stat sb;
	char wal[4096];
	int64_t pages = 0, psize = 0, oldest = -1, now_ms;
	spool_err e;
	int rc;

	memset(st, 0, sizeof(*st));
	s->errmsg[0] = '\0';
	if ((e = spool_exec(s, "BEGIN", "reading stats")))
		return e;
	rc = sqlite3_prepare_v2(s->db,
	    "SELECT (SELECT count(*) FROM inbox),"
	    " (SELECT min(received_ms) FROM inbox),"
	    " (SELECT count(*) FROM groups),"
	    " (SELECT count(*) FROM groups WHERE version > pushed_version),"
	    " (SELECT count(*) FROM groups WHERE park_reason IS NOT NULL),"
	    " (SELECT count(*) FROM groups WHERE delete_pending),"
	    " (SELECT count(*) FROM series),"
	    " (SELECT count(*) FROM rejected),"
	    " (SELECT coalesce((SELECT value FROM meta WHERE"
	    "   key='rejected_total'), 0)),"
	    " CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
	    -1, &q, NULL);
	if (rc != SQLITE_OK) {
		e = spool_sqlerr(s, rc, "reading stats");
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		e = spool_sqlerr(s, rc, "reading stats");
		goto out;
	}
	st->pending_rows = sqlite3_column_int64(q, 0);
	if (sqlite3_column_type(q, 1) != SQLITE_NULL)
		oldest = sqlite3_column_int64(q, 1);
	st->groups = sqlite3_column_int64(q, 2);
	st->dirty_groups = sqlite3_column_int64(q, 3);
	st->parked_groups = sqlite3_column_int64(q, 4);
	st->delete_pending = sqlite3_column_int64(q, 5);
	st->series = sqlite3_column_int64(q, 6);
	st->rejected_rows = sqlite3_column_int64(q, 7);
	st->rejected_total = sqlite3_column_int64(q, 8);
	now_ms = sqlite3_column_int64(q, 9);
	st->oldest_pending_age = -1;
	if (oldest > 0)
		st->oldest_pending_age = (double)(now_ms - oldest) / 1000.0;
	else if (oldest == 0) /* rows migrated from v0 carry no time */
		st->oldest_pending_age = 0;
	if (st->oldest_pending_age < -1)
		st->oldest_pending_age = 0;
	if ((e = query_int(s, "PRAGMA page_count", &pages, "reading stats")) ||
	    (e = query_int(s, "PRAGMA page_size", &psize, "reading stats")))
		goto out;
	st->bytes = pages * psize;
	if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", s->path) < sizeof(wal) &&
	    stat(wal, &sb) == 0)
		st->bytes += sb.st_size;
	st->schema_version = SPOOL_SCHEMA_VERSION;
out:
	sqlite3_finalize(q);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return e;
}

static const char *
col_text(sqlite3_stmt *q, int i)
{
	return (const char *)sqlite3_column_text(q, i);
}

/*
 * Reads the size and hash a cut body left at the end of its reason
 * (SPOOL_CUT_FMT) into r, and the reason without them into buf. Returns 0,
 * or -1 when the reason does not end so (the body is whole).
 */
static int
cut_parse(const char *reason, char *buf, size_t cap, spool_rejected *r)
{
	const char *m = NULL, *p, *q;
	unsigned long long size, hash;
	char *end;

	for (p = reason; (p = strstr(p, SPOOL_CUT_MARK)) != NULL; p++)
		m = p;
	if (m == NULL || (size_t)(m - reason) >= cap)
		return -1;
	p = m + strlen(SPOOL_CUT_MARK);
	errno = 0;
	size = strtoull(p, &end, 10);
	if (end == p || errno != 0 || size > INT64_MAX ||
	    strncmp(end, " bytes, FNV-1a 64 ", 18) != 0)
		return -1;
	p = end + 18;
	hash = strtoull(p, &end, 16);
	if (end - p != 16 || errno != 0 || strncmp(end, "; the first ", 12) != 0)
		return -1;
	q = end + 12;
	(void)strtoull(q, &end, 10);
	if (end == q || strcmp(end, " kept]") != 0)
		return -1;
	memcpy(buf, reason, (size_t)(m - reason));
	buf[m - reason] = '\0';
	r->reason = buf;
	r->body_size = (int64_t)size;
	r->body_hash = hash;
	r->body_cut = 1;
	return 0;
}

spool_err
spool_rejected_each(spool_t *s, int (*fn)(const spool_rejected *, void *),
    void *arg)
{
	char reason[SPOOL_ERRMSG];
	sqlite3_stmt *q;
	spool_rejected r;
	int rc;

	s->errmsg[0] = '\0';
	rc = sqlite3_prepare_v2(s->db, "SELECT id, received_ms, rejected_ms,"
	    " job, grouping, op, body, reason FROM rejected ORDER BY id", -1,
	    &q, NULL);
	if (rc != SQLITE_OK)
		return spool_sqlerr(s, rc, "reading rejected rows");
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		r.id = sqlite3_column_int64(q, 0);
		r.received_ms = sqlite3_column_int64(q, 1);
		r.rejected_ms = sqlite3_column_int64(q, 2);
		r.job = col_text(q, 3);
		r.grouping = col_text(q, 4);
		r.op = col_text(q, 5);
		r.body = col_text(q, 6);
		r.job_len = (size_t)sqlite3_column_bytes(q, 3);
		r.grouping_len = (size_t)sqlite3_column_bytes(q, 4);
		r.op_len = (size_t)sqlite3_column_bytes(q, 5);
		r.body_len = (size_t)sqlite3_column_bytes(q, 6);
		r.reason = col_text(q, 7);
		if (r.reason == NULL)
			r.reason = "";
		r.body_cut = 0;
		r.body_size = (int64_t)r.body_len;
		r.body_hash = r.body ? spool_fnv1a64(r.body, r.body_len) : 0;
		(void)cut_parse(r.reason, reason, sizeof(reason), &r);
		if (fn(&r, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return spool_sqlerr(s, rc, "reading rejected rows");
	return SPOOL_OK;
}

spool_err
spool_rejected_clear(spool_t *s, int64_t before, int64_t *removed)
{
	sqlite3_stmt *q = NULL;
	spool_err e;
	int rc;

	*removed = 0;
	s->errmsg[0] = '\0';
	if ((e = spool_exec(s, "BEGIN IMMEDIATE", "locking the spool to clear "
	    "rejected rows")))
		return e;
	rc = sqlite3_prepare_v2(s->db, "DELETE FROM rejected WHERE ?1 <= 0 OR "
	    "id < ?1", -1, &q, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, before);
		rc = sqlite3_step(q);
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		e = spool_sqlerr(s, rc, "clearing rejected rows");
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return e;
	}
	*removed = sqlite3_changes64(s->db);
	if ((e = commit_tx(s, "clearing rejected rows"))) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		*removed = 0;
	}
	return e;
}

spool_err
spool_series_value(spool_t *s, const char *job, const char *grouping,
    const char *name, const char *labels, double *value, int *found)
{
	sqlite3_stmt *q;
	int rc;

	*found = 0;
	rc = sqlite3_prepare_v2(s->db, "SELECT s.value FROM series s JOIN "
	    "groups g ON g.id = s.group_id WHERE g.job = ? AND g.grouping = ?"
	    " AND s.name = ? AND s.labels = ?", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return spool_sqlerr(s, rc, "reading a series");
	sqlite3_bind_text(q, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, grouping ? grouping : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, labels ? labels : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*found = 1;
		*value = sqlite3_column_type(q, 0) == SQLITE_NULL ?
		    (double)NAN : sqlite3_column_double(q, 0);
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return spool_sqlerr(s, rc, "reading a series");
	return SPOOL_OK;
}

void
spool_test_fail_fold_after(spool_t *s, size_t n)
{
	s->test_fail_after_rows = n;
}
