/*
 * state — reading the group state and recording what the gateway holds.
 * The agent's side of the spool; see collector-spool.h.
 *
 * A family's samples are the series of its own name plus, for histograms
 * NAME_bucket, NAME_sum and NAME_count (summaries: _sum and _count), unless
 * such a name is a family of its own: the same rule the fold used to file
 * them (resolve() in fold.c). So each family is read with one indexed query
 * and comes out contiguous.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "expo.h"
#include "spool_int.h"

spool_err
spool_groups_each(spool_t *s, int (*fn)(const spool_group *, void *),
    void *arg)
{
	sqlite3_stmt *q;
	spool_group g;
	int rc;

	s->errmsg[0] = '\0';
	rc = sqlite3_prepare_v2(s->db, "SELECT g.id, g.job, g.grouping,"
	    " g.version, g.pushed_version, g.last_row_ms, g.delete_pending,"
	    " g.park_reason, EXISTS (SELECT 1 FROM series s WHERE"
	    " s.group_id = g.id) FROM groups g ORDER BY g.id", -1, &q, NULL);
	if (rc != SQLITE_OK)
		return spool_sqlerr(s, rc, "listing groups");
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		g.id = sqlite3_column_int64(q, 0);
		g.job = (const char *)sqlite3_column_text(q, 1);
		g.grouping = (const char *)sqlite3_column_text(q, 2);
		g.version = sqlite3_column_int64(q, 3);
		g.pushed_version = sqlite3_column_int64(q, 4);
		g.last_row_ms = sqlite3_column_int64(q, 5);
		g.delete_pending = sqlite3_column_int(q, 6) != 0;
		g.park_reason = (const char *)sqlite3_column_text(q, 7);
		g.has_series = sqlite3_column_int(q, 8);
		if (g.job == NULL)
			g.job = "";
		if (g.grouping == NULL)
			g.grouping = "";
		if (fn(&g, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return spool_sqlerr(s, rc, "listing groups");
	return SPOOL_OK;
}

/*
 * A cursor walks one group's state inside a read transaction: the families
 * statement steps once per family; for each, the series statement (r->q,
 * the histogram variant for histograms) steps over the family's samples.
 * Family strings come from the families statement and stay valid while it
 * is not stepped, that is, while its samples are read.
 */
struct spool_cursor {
	spool_t *s;
	int64_t gid;         /* the group whose family is current */
	int all;             /* every group, families merged by name */
	const char *job, *grouping;   /* the current group (all only) */
	char *emitted;       /* the family name last returned fresh (all) */
	sqlite3_stmt *fams, *isfam, *ser, *hser;
	sqlite3_stmt *q;     /* the series statement of the current family */
	spool_family fam;    /* the current family */
	int fresh;           /* no sample of fam returned yet */
	int done;
	int native;          /* the group holds a native histogram */
	char *names[4];      /* the family's member names */
	size_t nnames;
	spool_hist_buf hb;
	spool_hist hv;
	spool_sample x;
};
typedef struct spool_cursor reader;

/* Is name a family of its own in this group? */
static spool_err
is_family(reader *r, const char *name, int *yes)
{
	int rc;

	sqlite3_bind_int64(r->isfam, 1, r->gid);
	sqlite3_bind_text(r->isfam, 2, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(r->isfam);
	*yes = rc == SQLITE_ROW;
	sqlite3_reset(r->isfam);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return spool_sqlerr(r->s, rc, "reading the families");
	return SPOOL_OK;
}

static void
free_names(reader *r)
{
	for (size_t i = 0; i < r->nnames; i++)
		free(r->names[i]);
	r->nnames = 0;
}

/* Fills r->names with the sample names that belong to family name. */
static spool_err
member_names(reader *r, const char *name, const char *type)
{
	static const char *const hsuf[] = { "_bucket", "_count", "_sum" };
	size_t nsuf = 0, first = 0;
	spool_err e;

	if (strcmp(type, "histogram") == 0)
		nsuf = 3;
	else if (strcmp(type, "summary") == 0) {
		nsuf = 3;
		first = 1;
	}
	if ((r->names[r->nnames++] = strdup(name)) == NULL)
		return spool_seterr(r->s, SPOOL_ENOMEM, "out of memory");
	for (size_t i = first; i < nsuf; i++) {
		char *n;
		int own;
		if (asprintf(&n, "%s%s", name, hsuf[i]) < 0)
			return spool_seterr(r->s, SPOOL_ENOMEM, "out of memory");
		if ((e = is_family(r, n, &own))) {
			free(n);
			return e;
		}
		if (own)
			free(n);
		else
			r->names[r->nnames++] = n;
	}
	return SPOOL_OK;
}

/* Binds the current family's member names to its series statement. */
static void
bind_family(reader *r)
{
	r->q = strcmp(r->fam.type, "histogram") == 0 ? r->hser : r->ser;
	sqlite3_bind_int64(r->q, 1, r->gid);
	for (int i = 0; i < 4; i++)
		sqlite3_bind_text(r->q, i + 2, (size_t)i < r->nnames ?
		    r->names[i] : r->names[0], -1, SQLITE_STATIC);
}

/* Moves to the next family; sets r->done at the end. */
static spool_err
next_family(reader *r)
{
	spool_err e;
	int rc;

	if (r->q != NULL) {
		sqlite3_reset(r->q);
		r->q = NULL;
	}
	for (;;) {
		rc = sqlite3_step(r->fams);
		if (rc == SQLITE_DONE) {
			r->done = 1;
			return SPOOL_OK;
		}
		if (rc != SQLITE_ROW)
			return spool_sqlerr(r->s, rc, "reading the families");
		r->fam.name = (const char *)sqlite3_column_text(r->fams, 0);
		r->fam.type = (const char *)sqlite3_column_text(r->fams, 1);
		r->fam.typed = sqlite3_column_int(r->fams, 2);
		r->fam.help = (const char *)sqlite3_column_text(r->fams, 3);
		if (r->all) {
			r->gid = sqlite3_column_int64(r->fams, 4);
			r->job = (const char *)sqlite3_column_text(r->fams, 5);
			r->grouping = (const char *)sqlite3_column_text(
			    r->fams, 6);
			if (r->job == NULL)
				r->job = "";
			if (r->grouping == NULL)
				r->grouping = "";
		}
		if (r->fam.name != NULL)
			break;
	}
	if (r->fam.type == NULL || expo_type_parse(r->fam.type,
	    strlen(r->fam.type)) < 0)
		r->fam.type = "untyped";
	free_names(r);
	if ((e = member_names(r, r->fam.name, r->fam.type)))
		return e;
	bind_family(r);
	/* Across groups, a family is new only when its name changes. */
	r->fresh = !r->all || r->emitted == NULL ||
	    strcmp(r->emitted, r->fam.name) != 0;
	return SPOOL_OK;
}

/*
 * Buckets that writers set themselves (NAME_bucket{...,le="..."}) are
 * stored under their canonical label text, where le="+Inf" sorts before
 * le="1". Histogram families are read ordered by the labels without le,
 * then by le as a number, so each series' buckets come out ascending.
 */
static void
le_split(sqlite3_context *ctx, int argc, sqlite3_value **argv, int want_num)
{
	const char *t = (const char *)sqlite3_value_text(argv[0]);
	expo_label labels[EXPO_MAX_LABELS];
	const char *why;
	size_t n, k;

	(void)argc;
	if (t == NULL || expo_parse_labels(t, strlen(t), labels,
	    EXPO_MAX_LABELS, &n, &why) != 0) {
		sqlite3_result_value(ctx, argv[0]);
		return;
	}
	for (k = 0; k < n && !expo_str_eq(labels[k].name, "le"); k++)
		;
	if (want_num) {
		double v;
		if (k < n && expo_parse_value(labels[k].value.p,
		    labels[k].value.len, &v) == 0 && v == v)
			sqlite3_result_double(ctx, v);
		else
			sqlite3_result_null(ctx);
		return;
	}
	if (k == n) {
		sqlite3_result_value(ctx, argv[0]);
		return;
	}
	{
		char buf[8192 + 1];
		size_t len;
		/* The other labels, still canonical. */
		memmove(&labels[k], &labels[k + 1], (n - k - 1) *
		    sizeof(labels[0]));
		if (expo_labels_len(labels, n - 1) >= sizeof(buf)) {
			sqlite3_result_value(ctx, argv[0]);
			return;
		}
		len = expo_join_labels(buf, labels, n - 1);
		sqlite3_result_text(ctx, buf, (int)len, SQLITE_TRANSIENT);
	}
}

static void
fn_le_rest(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	le_split(ctx, argc, argv, 0);
}

static void
fn_le_num(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	le_split(ctx, argc, argv, 1);
}

static spool_err
register_le(spool_t *s)
{
	int rc = sqlite3_create_function_v2(s->db, "spool_le_rest", 1,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, fn_le_rest, NULL, NULL,
	    NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(s->db, "spool_le_num", 1,
		    SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, fn_le_num, NULL,
		    NULL, NULL);
	return rc == SQLITE_OK ? SPOOL_OK :
	    spool_sqlerr(s, rc, "registering SQL functions");
}

static spool_err
cursor_open(spool_t *s, int all, int64_t gid, spool_cursor **out,
    int64_t *version)
{
	reader *r;
	sqlite3_stmt *v = NULL;
	spool_err e;
	int rc = SQLITE_DONE;

	*out = NULL;
	if (version != NULL)
		*version = 0;
	s->errmsg[0] = '\0';
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return spool_seterr(s, SPOOL_ENOMEM, "out of memory");
	r->s = s;
	r->gid = gid;
	r->all = all;
	if ((e = register_le(s)) != SPOOL_OK ||
	    (e = spool_exec(s, "BEGIN", "reading a group")) != SPOOL_OK) {
		free(r);
		return e;
	}
	if (!all) {
		rc = sqlite3_prepare_v2(s->db, "SELECT version FROM groups "
		    "WHERE id = ?", -1, &v, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(v, 1, gid);
			rc = sqlite3_step(v);
			if (rc == SQLITE_ROW) {
				*version = sqlite3_column_int64(v, 0);
				rc = SQLITE_DONE;
			}
		}
		sqlite3_finalize(v);
	}
	/* In the same transaction as the reads, so it tells of this
	 * snapshot: a sink picks its format before the first byte. */
	if (!all && rc == SQLITE_DONE &&
	    (rc = sqlite3_prepare_v2(s->db, "SELECT EXISTS (SELECT 1 FROM "
	    "series WHERE group_id = ? AND substr(hist, 1, 2) = '"
	    SPOOL_HIST_NATIVE_PREFIX "')", -1, &v, NULL)) == SQLITE_OK) {
		sqlite3_bind_int64(v, 1, gid);
		rc = sqlite3_step(v);
		if (rc == SQLITE_ROW) {
			r->native = sqlite3_column_int(v, 0) != 0;
			rc = SQLITE_DONE;
		}
		sqlite3_finalize(v);
	}
	if (rc == SQLITE_DONE &&
	    (rc = sqlite3_prepare_v2(s->db, all ?
	    "SELECT f.name, f.type, f.typed, f.help, f.group_id, g.job,"
	    " g.grouping FROM families f JOIN groups g ON g.id = f.group_id"
	    " ORDER BY f.name, f.group_id" :
	    "SELECT name, type, typed, help "
	    "FROM families WHERE group_id = ? ORDER BY name", -1, &r->fams,
	    NULL)) == SQLITE_OK &&
	    (rc = sqlite3_prepare_v2(s->db, "SELECT 1 FROM families WHERE "
	    "group_id = ? AND name = ?", -1, &r->isfam, NULL)) == SQLITE_OK &&
	    (rc = sqlite3_prepare_v2(s->db, "SELECT name, labels, value, hist"
	    " FROM series WHERE group_id = ?1 AND name IN (?2, ?3, ?4, ?5)"
	    " ORDER BY name, labels", -1, &r->ser, NULL)) == SQLITE_OK)
		rc = sqlite3_prepare_v2(s->db, "SELECT name, labels, value, hist"
		    " FROM series WHERE group_id = ?1 AND name IN (?2, ?3, ?4,"
		    " ?5) ORDER BY name, spool_le_rest(labels),"
		    " spool_le_num(labels), labels", -1, &r->hser, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_DONE) {
		e = spool_sqlerr(s, rc, "reading a group");
		spool_cursor_close(r);
		return e;
	}
	if (!all)
		sqlite3_bind_int64(r->fams, 1, gid);
	*out = r;
	return SPOOL_OK;
}

spool_err
spool_cursor_open(spool_t *s, int64_t gid, spool_cursor **out,
    int64_t *version)
{
	return cursor_open(s, 0, gid, out, version);
}

spool_err
spool_cursor_open_all(spool_t *s, spool_cursor **out)
{
	return cursor_open(s, 1, 0, out, NULL);
}

void
spool_cursor_group(const spool_cursor *r, int64_t *id, const char **job,
    const char **grouping)
{
	*id = r->gid;
	*job = r->all ? r->job : NULL;
	*grouping = r->all ? r->grouping : NULL;
}

spool_err
spool_cursor_next(spool_cursor *r, const spool_family **f,
    const spool_sample **x, int *new_family)
{
	spool_err e;
	int rc;

	*f = NULL;
	*x = NULL;
	*new_family = 0;
	while (!r->done) {
		const char *h;

		if (r->q == NULL) {
			if ((e = next_family(r)) != SPOOL_OK)
				return e;
			continue;
		}
		rc = sqlite3_step(r->q);
		if (rc == SQLITE_DONE) {
			if ((e = next_family(r)) != SPOOL_OK)
				return e;
			continue;
		}
		if (rc != SQLITE_ROW)
			return spool_sqlerr(r->s, rc, "reading the series");
		r->x.name = (const char *)sqlite3_column_text(r->q, 0);
		r->x.labels = (const char *)sqlite3_column_text(r->q, 1);
		if (r->x.labels == NULL)
			r->x.labels = "";
		r->x.value = sqlite3_column_type(r->q, 2) == SQLITE_NULL ?
		    (double)NAN : sqlite3_column_double(r->q, 2);
		r->x.hist = NULL;
		h = (const char *)sqlite3_column_text(r->q, 3);
		if (h != NULL) {
			if (spool_hist_parse(h, &r->hb) != 0)
				return spool_seterr(r->s, SPOOL_ECORRUPT, "spool "
				    "%s: unreadable histogram state for %s: the "
				    "series table was edited by hand; delete "
				    "that row", r->s->path, r->x.name);
			r->hv.n = r->hb.n;
			r->hv.bounds = r->hb.bounds;
			r->hv.counts = r->hb.counts;
			r->hv.sum = r->hb.sum;
			r->hv.native = r->hb.form == SPOOL_HIST_CLASSIC ? NULL :
			    &r->hb.nh;
			r->x.hist = &r->hv;
		}
		*f = &r->fam;
		*x = &r->x;
		*new_family = r->fresh;
		if (r->fresh && r->all) {
			free(r->emitted);
			if ((r->emitted = strdup(r->fam.name)) == NULL)
				return spool_seterr(r->s, SPOOL_ENOMEM,
				    "out of memory");
		}
		r->fresh = 0;
		return SPOOL_OK;
	}
	return SPOOL_OK;
}

void
spool_cursor_close(spool_cursor *r)
{
	if (r == NULL)
		return;
	free_names(r);
	free(r->emitted);
	sqlite3_finalize(r->fams);
	sqlite3_finalize(r->isfam);
	sqlite3_finalize(r->ser);
	sqlite3_finalize(r->hser);
	sqlite3_exec(r->s->db, "COMMIT", NULL, NULL, NULL);
	free(r);
}

spool_err
spool_group_read(spool_t *s, int64_t gid, const spool_reader *cb, void *arg,
    int64_t *version, int *stopped)
{
	const spool_family *f;
	const spool_sample *x;
	spool_cursor *c;
	spool_err e;
	int fresh;

	*stopped = 0;
	if ((e = spool_cursor_open(s, gid, &c, version)) != SPOOL_OK)
		return e;
	while ((e = spool_cursor_next(c, &f, &x, &fresh)) == SPOOL_OK &&
	    x != NULL) {
		if ((fresh && cb->family && cb->family(f, arg) != 0) ||
		    (cb->sample && cb->sample(f, x, arg) != 0)) {
			*stopped = 1;
			break;
		}
	}
	spool_cursor_close(c);
	return e;
}

/* Runs one statement that returns no rows, binding a and b to ?1 and ?2
 * and t to ?3 where the statement has them (binding a parameter it lacks
 * is a harmless SQLITE_RANGE). */
static spool_err
update(spool_t *s, const char *sql, int64_t a, int64_t b, const char *t,
    const char *doing)
{
	sqlite3_stmt *q;
	int rc;

	s->errmsg[0] = '\0';
	rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL);
	if (rc != SQLITE_OK)
		return spool_sqlerr(s, rc, doing);
	sqlite3_bind_int64(q, 1, a);
	sqlite3_bind_int64(q, 2, b);
	sqlite3_bind_text(q, 3, t, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? SPOOL_OK : spool_sqlerr(s, rc, doing);
}

spool_err
spool_group_pushed(spool_t *s, int64_t gid, int64_t version)
{
	return update(s, "UPDATE groups SET pushed_version = max("
	    "pushed_version, ?2), park_reason = NULL WHERE id = ?1", gid,
	    version, NULL, "recording a push");
}

spool_err
spool_group_park(spool_t *s, int64_t gid, const char *reason)
{
	return update(s, "UPDATE groups SET park_reason = ?3 WHERE id = ?1",
	    gid, 0, reason, "parking a group");
}

spool_err
spool_group_deleted(spool_t *s, int64_t gid, int64_t seen, int *dropped)
{
	int64_t version = -1;
	int pending = 0, has_series = 0, drop;
	sqlite3_stmt *q = NULL;
	spool_err e;
	int rc;

	*dropped = 0;
	s->errmsg[0] = '\0';
	if ((e = spool_exec(s, "BEGIN IMMEDIATE", "recording a delete")))
		return e;
	rc = sqlite3_prepare_v2(s->db, "SELECT version, delete_pending, EXISTS"
	    " (SELECT 1 FROM series WHERE group_id = ?1) FROM groups WHERE"
	    " id = ?1", -1, &q, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(q, 1, gid);
		rc = sqlite3_step(q);
		if (rc == SQLITE_ROW) {
			version = sqlite3_column_int64(q, 0);
			pending = sqlite3_column_int(q, 1);
			has_series = sqlite3_column_int(q, 2);
			rc = SQLITE_DONE;
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		e = spool_sqlerr(s, rc, "recording a delete");
		goto fail;
	}
	if (version < 0)
		goto commit; /* already gone */
	/* A requested delete dropped the state when it was folded, so any
	 * series now came after it. An expiry drops what it saw, unless a
	 * row came since. */
	drop = pending ? !has_series : version == seen;
	if (drop) {
		e = update(s, "DELETE FROM series WHERE group_id = ?1", gid, 0,
		    NULL, "dropping a group");
		if (!e)
			e = update(s, "DELETE FROM families WHERE group_id = ?1",
			    gid, 0, NULL, "dropping a group");
		if (!e)
			e = update(s, "DELETE FROM groups WHERE id = ?1", gid, 0,
			    NULL, "dropping a group");
	} else {
		/* The gateway no longer has the group: all of it must be
		 * pushed again. */
		e = update(s, "UPDATE groups SET delete_pending = 0, "
		    "pushed_version = 0, park_reason = NULL WHERE id = ?1", gid,
		    0, NULL, "recording a delete");
	}
	if (e)
		goto fail;
	*dropped = drop;
commit:
	if ((e = spool_exec(s, "COMMIT", "recording a delete")))
		goto fail;
	return SPOOL_OK;
fail:
	*dropped = 0;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return e;
}

/* How long a checkpoint waits for readers: while it waits it holds the
 * write lock, so writers wait too. */
#define CHECKPOINT_WAIT_MS 100

spool_err
spool_checkpoint(spool_t *s)
{
	spool_err e;
	int moved = 0;

	s->errmsg[0] = '\0';
	/* The WAL at the path is the new file's once the spool was replaced:
	 * a checkpoint would copy what writers put there into this handle's
	 * old file and empty it, losing their rows. SQLite's close makes the
	 * same check. */
	if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED,
	    &moved) == SQLITE_OK && moved)
		return SPOOL_OK;
	sqlite3_busy_timeout(s->db, CHECKPOINT_WAIT_MS);
	e = spool_exec(s, "PRAGMA wal_checkpoint(TRUNCATE)",
	    "checkpointing the WAL");
	sqlite3_busy_timeout(s->db, s->busy_ms);
	return e;
}

/* The PID /proc/locks gives for a flock on inode ino; 0 when none. */
static long
flock_holder(ino_t ino)
{
	char line[256];
	FILE *f = fopen("/proc/locks", "re");
	long pid = 0;

	if (f == NULL)
		return 0;
	/* "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF" */
	while (pid == 0 && fgets(line, sizeof(line), f) != NULL) {
		char kind[16], mode[16], rw[16], dev[64];
		long p;
		unsigned long long in;
		if (sscanf(line, "%*s %15s %15s %15s %ld %63s", kind, mode, rw,
		    &p, dev) != 5 || strcmp(kind, "FLOCK") != 0)
			continue;
		const char *c = strrchr(dev, ':');
		if (c != NULL && sscanf(c + 1, "%llu", &in) == 1 &&
		    in == (unsigned long long)ino)
			pid = p;
	}
	fclose(f);
	return pid;
}

spool_err
spool_claim(spool_t *s, long *holder)
{
	struct stat st;
	int fd;

	*holder = 0;
	s->errmsg[0] = '\0';
	if (s->agent_fd > 0)
		return SPOOL_OK;
	fd = open(s->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return spool_seterr(s, SPOOL_EIO, "cannot open spool %s to lock "
		    "it (%s)", s->path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		s->agent_fd = fd + 1;
		/* The agent's close, when it is the last user, checkpoints
		 * the WAL and removes it, as SQLite does: a stopped agent
		 * leaves one file. Writers' handles leave it (keep_wal()). */
		if (s->keep_wal && sqlite3_db_config(s->db,
		    SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, (int *)NULL) ==
		    SQLITE_OK)
			s->keep_wal = 0;
		return SPOOL_OK;
	}
	if (errno != EWOULDBLOCK) {
		int err = errno;
		close(fd);
		return spool_seterr(s, SPOOL_EIO, "cannot lock spool %s (%s)",
		    s->path, strerror(err));
	}
	if (fstat(fd, &st) == 0)
		*holder = flock_holder(st.st_ino);
	close(fd);
	if (*holder > 0)
		return spool_seterr(s, SPOOL_EBUSY, "another collector-agent "
		    "(pid %ld) is using spool %s: stop it first, or give each "
		    "agent a spool of its own", *holder, s->path);
	return spool_seterr(s, SPOOL_EBUSY, "another collector-agent is using "
	    "spool %s: stop it first, or give each agent a spool of its own",
	    s->path);
}

spool_err
spool_gateway_seen(spool_t *s, const char *identity, int *changed)
{
	sqlite3_stmt *q = NULL;
	int rc, had = 0, same = 0;
	spool_err e;

	*changed = 0;
	s->errmsg[0] = '\0';
	if ((e = spool_exec(s, "BEGIN IMMEDIATE", "recording the gateway")))
		return e;
	rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = "
	    "'gateway'", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(q, 0);
		had = 1;
		same = v != NULL && strcmp(v, identity) == 0;
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		e = spool_sqlerr(s, rc, "recording the gateway");
		goto fail;
	}
	if (same)
		goto commit;
	if (had && (e = spool_exec(s, "UPDATE groups SET pushed_version = 0",
	    "recording the gateway")))
		goto fail;
	e = update(s, "INSERT INTO meta(key, value) VALUES ('gateway', ?3) "
	    "ON CONFLICT(key) DO UPDATE SET value = excluded.value", 0, 0,
	    identity, "recording the gateway");
	if (e)
		goto fail;
	*changed = had;
commit:
	if ((e = spool_exec(s, "COMMIT", "recording the gateway")))
		goto fail;
	return SPOOL_OK;
fail:
	*changed = 0;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return e;
}

/*
 * The series remote write sent: a table of its own, made by the first
 * save, so that the schema version stays 1 (a program that predates the
 * table opens a version-1 spool without looking at its tables). meta's
 * rw_receiver names the receiver the set belongs to.
 */
#define RW_SENT_CREATE "CREATE TABLE IF NOT EXISTS rw_sent(" \
	"key BLOB PRIMARY KEY) WITHOUT ROWID"

/* Does the spool hold a set, and is it receiver's? Inside a transaction. */
static spool_err
rw_sent_is(spool_t *s, const char *receiver, int *same, const char *doing)
{
	sqlite3_stmt *q = NULL;
	int rc;

	*same = 0;
	rc = sqlite3_prepare_v2(s->db, "SELECT (SELECT value FROM meta WHERE "
	    "key = 'rw_receiver'), EXISTS (SELECT 1 FROM sqlite_master WHERE "
	    "type = 'table' AND name = 'rw_sent')", -1, &q, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(q, 0);
		*same = v != NULL && strcmp(v, receiver) == 0 &&
		    sqlite3_column_int(q, 1) != 0;
		rc = SQLITE_DONE;
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? SPOOL_OK : spool_sqlerr(s, rc, doing);
}

spool_err
spool_rw_sent_each(spool_t *s, const char *receiver,
    int (*fn)(const void *, size_t, void *), void *arg)
{
	static const char doing[] = "reading the series remote write sent";
	sqlite3_stmt *q = NULL;
	int same = 0, rc = SQLITE_DONE;
	spool_err e;

	s->errmsg[0] = '\0';
	if (receiver == NULL || fn == NULL)
		return spool_seterr(s, SPOOL_EINVAL, "spool_rw_sent_each: a "
		    "receiver and a callback are required");
	if ((e = spool_exec(s, "BEGIN", doing)))
		return e;
	if ((e = rw_sent_is(s, receiver, &same, doing)) != SPOOL_OK || !same)
		goto out;
	rc = sqlite3_prepare_v2(s->db, "SELECT key FROM rw_sent", -1, &q, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const void *k = sqlite3_column_blob(q, 0);
		int n = sqlite3_column_bytes(q, 0);
		/* Only an edit by hand makes an empty key: not a series. */
		if (k != NULL && n > 0 && fn(k, (size_t)n, arg) != 0)
			rc = SQLITE_DONE;
		else
			rc = SQLITE_OK;
	}
	if (rc != SQLITE_DONE)
		e = spool_sqlerr(s, rc, doing);
out:
	sqlite3_finalize(q);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return e;
}

/* Runs sql (one ?1) for each of the n keys. */
static spool_err
rw_sent_keys(spool_t *s, const char *sql, const spool_rw_key *k, size_t n,
    const char *doing)
{
	sqlite3_stmt *q = NULL;
	int rc;

	if (n == 0)
		return SPOOL_OK;
	rc = sqlite3_prepare_v2(s->db, sql, -1, &q, NULL);
	for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
		sqlite3_bind_blob(q, 1, k[i].p, (int)k[i].len, SQLITE_STATIC);
		if ((rc = sqlite3_step(q)) == SQLITE_DONE)
			rc = sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	return rc == SQLITE_OK ? SPOOL_OK : spool_sqlerr(s, rc, doing);
}

/* Are the n keys usable as blobs? */
static int
rw_keys_ok(const spool_rw_key *k, size_t n)
{
	if (n > 0 && k == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (k[i].p == NULL || k[i].len == 0 || k[i].len > INT_MAX)
			return 0;
	return 1;
}

spool_err
spool_rw_sent_save(spool_t *s, const char *receiver, const spool_rw_key *add,
    size_t nadd, const spool_rw_key *del, size_t ndel)
{
	static const char doing[] = "saving the series remote write sent";
	int same = 0;
	spool_err e;

	s->errmsg[0] = '\0';
	if (receiver == NULL || !rw_keys_ok(add, nadd) || !rw_keys_ok(del, ndel))
		return spool_seterr(s, SPOOL_EINVAL, "spool_rw_sent_save: a "
		    "receiver is required, and each key needs 1 to %d bytes",
		    INT_MAX);
	if ((e = spool_exec(s, "BEGIN IMMEDIATE", doing)))
		return e;
	if ((e = spool_exec(s, RW_SENT_CREATE, doing)) ||
	    (e = rw_sent_is(s, receiver, &same, doing)))
		goto fail;
	/* Another receiver never saw these series. */
	if (!same && ((e = spool_exec(s, "DELETE FROM rw_sent", doing)) ||
	    (e = update(s, "INSERT INTO meta(key, value) VALUES "
	    "('rw_receiver', ?3) ON CONFLICT(key) DO UPDATE SET value = "
	    "excluded.value", 0, 0, receiver, doing))))
		goto fail;
	/* Removals first: a key forgotten and then sent again stays. */
	if ((e = rw_sent_keys(s, "DELETE FROM rw_sent WHERE key = ?1", del,
	    ndel, doing)) ||
	    (e = rw_sent_keys(s, "INSERT OR IGNORE INTO rw_sent(key) VALUES "
	    "(?1)", add, nadd, doing)) ||
	    (e = spool_exec(s, "COMMIT", doing)))
		goto fail;
	return SPOOL_OK;
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return e;
}

const char *
spool_limit_name(spool_limit l)
{
	switch (l) {
	case SPOOL_LIMIT_GROUPS:
		return "max_groups";
	case SPOOL_LIMIT_SERIES_PER_GROUP:
		return "max_series_per_group";
	case SPOOL_LIMIT_SERIES:
		return "max_series";
	}
	return NULL;
}

/* The group sizes come from one pass over the series in key order
 * (group_id first), so that no temporary table is built. */
spool_err
spool_get_usage(spool_t *s, spool_usage *u)
{
	sqlite3_stmt *q = NULL;
	spool_err e;
	int rc;

	memset(u, 0, sizeof(*u));
	s->errmsg[0] = '\0';
	if ((e = spool_exec(s, "BEGIN", "reading the limits' usage")))
		return e;
	rc = sqlite3_prepare_v2(s->db, "SELECT 'groups', count(*) FROM groups"
	    " UNION ALL SELECT group_id, count(*) FROM series GROUP BY"
	    " group_id UNION ALL SELECT key, value FROM meta WHERE"
	    " substr(key, 1, 8) = 'refused_'", -1, &q, NULL);
	if (rc != SQLITE_OK) {
		e = spool_sqlerr(s, rc, "reading the limits' usage");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(q, 0);
		int64_t n = sqlite3_column_int64(q, 1);

		if (sqlite3_column_type(q, 0) == SQLITE_INTEGER) {
			u->used[SPOOL_LIMIT_SERIES] += n;
			if (n > u->used[SPOOL_LIMIT_SERIES_PER_GROUP]) {
				u->used[SPOOL_LIMIT_SERIES_PER_GROUP] = n;
				u->largest_group = sqlite3_column_int64(q, 0);
			}
		} else if (k != NULL && strcmp(k, "groups") == 0)
			u->used[SPOOL_LIMIT_GROUPS] = n;
		else
			for (int i = 0; k != NULL && i < SPOOL_NLIMITS; i++)
				if (strcmp(k + sizeof("refused_") - 1,
				    spool_limit_name((spool_limit)i)) == 0)
					u->refused[i] = n;
	}
	if (rc != SQLITE_DONE)
		e = spool_sqlerr(s, rc, "reading the limits' usage");
out:
	sqlite3_finalize(q);
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return e;
}

int
spool_cursor_native(const spool_cursor *c)
{
	return c != NULL && c->native;
}
