/*
 * collector-spool — the producers' and operators' tool: put, stats,
 * rejected, show, delete. Its manual is docs/man/collector-spool.1; exit statuses
 * are sysexits.h, as docs/spool.md lists them.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dbuf.h"
#include "spool-agent.h"
#include "expo.h"

static const char *progname = "collector-spool";

static void
usage_main(FILE *f)
{
	fprintf(f,
	    "usage: collector-spool [--spool PATH] COMMAND [ARGS]\n"
	    "\n"
	    "Commands:\n"
	    "  put [--job JOB] [--grouping 'k=\"v\",...'] [--op set|add|observe|replace] [LINE...]\n"
	    "                 write metric lines (from LINE arguments, else standard input)\n"
	    "  stats [--json] pending rows, groups, series, rejected rows, spool size\n"
	    "  rejected [--json] | --clear [--before ID]\n"
	    "                 rows the agent could not use, with the reason; or\n"
	    "                 remove them (all, or those with an id below ID)\n"
	    "  show [--job JOB] [--grouping 'k=\"v\",...'] [--json]\n"
	    "                 the state of the groups, as the agent would push it\n"
	    "  delete --job JOB [--grouping 'k=\"v\",...']\n"
	    "                 ask the agent to delete a group from the gateway\n"
	    "\n"
	    "Options:\n"
	    "  --spool PATH   the spool file (default: $COLLECTOR_SPOOL, else %s)\n"
	    "  -h, --help     this help; 'collector-spool COMMAND --help' for a command\n"
	    "  -V, --version  print the version\n"
	    "\n"
	    "Environment: COLLECTOR_SPOOL, COLLECTOR_SPOOL_BUSY_TIMEOUT_MS (default %d),\n"
	    "COLLECTOR_SPOOL_SYNCHRONOUS (normal or full).\n"
	    "Exit status: 0 ok, 64 usage, 65 invalid data, 66 no spool at the path\n"
	    "(stats, rejected, show), 71 outcome unknown (a commit failed: check\n"
	    "before writing an add again), 73 cannot create, write or read the\n"
	    "spool, 74 I/O error or damaged spool (nothing written), 75 spool\n"
	    "locked (retry later).\n",
	    SPOOL_DEFAULT_PATH, SPOOL_DEFAULT_BUSY_TIMEOUT_MS);
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'collector-spool --help'.\n");
	return EX_USAGE;
}

static int
fail(spool_err e, const char *msg)
{
	fprintf(stderr, "%s: %s\n", progname, msg && *msg ? msg :
	    spool_strerror(e));
	return spool_exit_status(e);
}

/* How a command opens the spool (open_spool()). */
enum open_mode {
	OPEN_CREATE,  /* write; a missing spool is created (put, delete) */
	OPEN_WRITE,   /* write an existing spool (rejected --clear) */
	OPEN_READ     /* read (stats, rejected, show) */
};

/*
 * Opens the spool. put and delete write, and create a missing spool (a
 * delete request may name a group that only the gateway still has); the
 * other commands must not leave a new, empty spool behind a mistyped path:
 * 66, as for any missing input. The reading commands open it as the
 * writers do when this user may write it (so an empty file still becomes
 * a spool, as docs/spool.md says), and read-only when not: a monitoring
 * user needs no write access (spool_open_readonly() says what it needs
 * when even that fails).
 */
static int
open_spool(const char *path, enum open_mode mode, spool_t **s)
{
	spool_options o = { 0, 0 };
	const char *v;
	char err[1024];
	spool_err e;
	struct stat st;

	if (mode != OPEN_CREATE && stat(path, &st) != 0 &&
	    (errno == ENOENT || errno == ENOTDIR)) {
		fprintf(stderr, "%s: no spool at %s: check the path (--spool, "
		    "COLLECTOR_SPOOL); a spool is created by the first put or "
		    "by the agent\n", progname, path);
		return EX_NOINPUT;
	}

	if ((v = getenv("COLLECTOR_SPOOL_BUSY_TIMEOUT_MS")) && *v) {
		char *end;
		long ms = strtol(v, &end, 10);
		if (*end != '\0' || ms < 1 || ms > 3600000)
			return usage_error("COLLECTOR_SPOOL_BUSY_TIMEOUT_MS must "
			    "be milliseconds from 1 to 3600000, not '%s'", v);
		o.busy_timeout_ms = (int)ms;
	}
	if ((v = getenv("COLLECTOR_SPOOL_SYNCHRONOUS")) && *v) {
		if (strcmp(v, "full") == 0)
			o.synchronous_full = 1;
		else if (strcmp(v, "normal") != 0)
			return usage_error("COLLECTOR_SPOOL_SYNCHRONOUS must be "
			    "normal or full, not '%s'", v);
	}
	e = spool_open(path, &o, s, err, sizeof(err));
	if (e == SPOOL_ECREATE && mode == OPEN_READ)
		e = spool_open_readonly(path, &o, s, err, sizeof(err));
	if (e)
		return fail(e, err);
	return EX_OK;
}

/* Reads all of standard input, up to the body limit plus one byte so that
 * an oversized body is seen as such. Caller frees *out. */
static int
read_stdin(char **out, size_t *len)
{
	size_t limit = (size_t)EXPO_MAX_BODY + 1;
	dbuf b;

	dbuf_init(&b, limit);
	for (;;) {
		size_t room = b.cap - b.len, r;
		char *o;

		/* Each read fills the room there is; when there is none, the
		 * buffer doubles (64 KiB first), up to the limit. */
		if (room == 0)
			room = b.len == 0 ? 65536 : b.len;
		if (room > limit - b.len)
			room = limit - b.len;
		if (room == 0)
			break;
		if ((o = dbuf_room(&b, room)) == NULL) {
			dbuf_free(&b);
			errno = ENOMEM;
			return -1;
		}
		r = fread(o, 1, room, stdin);
		dbuf_commit(&b, r);
		if (r == 0) {
			if (ferror(stdin)) {
				dbuf_free(&b);
				return -1;
			}
			break;
		}
	}
	*len = b.len;
	if ((*out = dbuf_take(&b, NULL)) == NULL) {
		dbuf_free(&b);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

/* The most bytes of an offending line that a put error echoes. */
#define ECHO_MAX 160

/* Writes len bytes of p for a terminal: control characters and, in text
 * that is not UTF-8, bytes past ASCII as \xNN, so that what is shown is
 * what was given. */
static void
put_visible(FILE *f, const char *p, size_t len)
{
	int utf8 = expo_valid_utf8(p, len);

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
}

/* Echoes text under a put error, cut to ECHO_MAX bytes (never inside a
 * character), with its length when cut. */
static void
echo_text(const char *tag, const char *p, size_t len)
{
	size_t n = len;

	if (n > ECHO_MAX) {
		n = ECHO_MAX;
		while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
			n--;
	}
	fprintf(stderr, "%8s | ", tag);
	put_visible(stderr, p, n);
	if (n < len)
		fprintf(stderr, "... (%zu bytes in all)", len);
	fputc('\n', stderr);
}

/*
 * After a put's error, shows what it was about: the line that "line N:"
 * names (as expo_next_line() counts them: LINE arguments are one line
 * each), or the job or grouping given.
 */
static void
echo_offender(const char *err, const char *job, const char *grouping,
    const char *body, size_t len)
{
	const char *line;
	size_t pos = 0, llen, want, n = 0;
	char *end, tag[24];

	if (strncmp(err, "job: ", 5) == 0 && job != NULL && *job) {
		echo_text("--job", job, strlen(job));
		return;
	}
	if (strncmp(err, "grouping: ", 10) == 0 && grouping != NULL &&
	    *grouping) {
		echo_text("--grouping", grouping, strlen(grouping));
		return;
	}
	if (strncmp(err, "line ", 5) != 0)
		return;
	errno = 0;
	want = strtoul(err + 5, &end, 10);
	if (errno != 0 || end == err + 5 || *end != ':')
		return;
	while (expo_next_line(body, len, &pos, &line, &llen)) {
		if (++n == want) {
			snprintf(tag, sizeof(tag), "%zu", want);
			echo_text(tag, line, llen);
			return;
		}
	}
}

/* The canonical form of a grouping that spool_validate_group() took
 * (labels sorted by name), as the spool keys groups. Caller frees; NULL
 * when out of memory. */
static char *
canon_grouping(const char *g)
{
	expo_label l[EXPO_MAX_LABELS];
	const char *why;
	size_t n;
	char *out;

	if (expo_parse_labels(g, strlen(g), l, EXPO_MAX_LABELS, &n, &why) != 0)
		return strdup(g);
	expo_sort_labels(l, n);
	if ((out = malloc(expo_labels_len(l, n) + 1)) == NULL)
		return NULL;
	out[expo_join_labels(out, l, n)] = '\0';
	return out;
}

static int
cmd_put(const char *path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "job", required_argument, NULL, 'j' },
		{ "grouping", required_argument, NULL, 'g' },
		{ "op", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *job = NULL, *grouping = NULL;
	spool_op op = SPOOL_OP_SET;
	char *body = NULL, err[1024];
	size_t len = 0;
	spool_t *s = NULL;
	spool_err e;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			job = optarg;
			break;
		case 'g':
			grouping = optarg;
			break;
		case 'o':
			if (spool_op_parse(optarg, &op) != SPOOL_OK ||
			    op == SPOOL_OP_DELETE)
				return usage_error("put: --op must be set, add or "
				    "observe, not '%s' (or replace: the lines "
				    "become the group's whole state)", optarg);
			break;
		case 'h':
			printf("usage: collector-spool [--spool PATH] put [--job JOB] "
			    "[--grouping 'k=\"v\",...'] [--op set|add|observe|"
			    "replace] [LINE...]\n\nWrites metric lines in the "
			    "Prometheus text format, one per LINE argument or, with "
			    "none, from standard input.\nEverything is checked "
			    "first and written in one transaction, or nothing is.\n"
			    "--op replace makes the lines the group's whole state "
			    "(none: the group empty).\n"
			    "Without --job or --grouping the agent's configured job "
			    "and default grouping apply;\n--grouping '' means the "
			    "job alone.\n");
			return EX_OK;
		default:
			return usage_error("put: %s", "unknown option");
		}
	}
	if (optind < argc) {
		size_t total = 0, o = 0;
		for (int i = optind; i < argc; i++)
			total += strlen(argv[i]) + 1;
		if ((body = malloc(total + 1)) == NULL)
			return fail(SPOOL_ENOMEM, NULL);
		for (int i = optind; i < argc; i++) {
			size_t l = strlen(argv[i]);
			memcpy(body + o, argv[i], l);
			o += l;
			body[o++] = '\n';
		}
		len = o;
	} else if (read_stdin(&body, &len) != 0) {
		perror("collector-spool: reading standard input");
		return EX_IOERR;
	}
	/* Check before opening, so bad input never creates a spool file. */
	if ((e = spool_validate_group(job, grouping, err, sizeof(err))) ||
	    (e = spool_validate_body(op, body, len, err, sizeof(err)))) {
		rc = fail(e, err);
		echo_offender(err, job, grouping, body, len);
		free(body);
		return rc;
	}
	if ((rc = open_spool(path, OPEN_CREATE, &s)) != EX_OK) {
		free(body);
		return rc;
	}
	e = spool_put(s, job, grouping, op, body, len);
	rc = e ? fail(e, spool_errmsg(s)) : EX_OK;
	spool_close(s);
	free(body);
	return rc;
}

static int
cmd_delete(const char *path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "job", required_argument, NULL, 'j' },
		{ "grouping", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *job = NULL, *grouping = "";
	spool_t *s = NULL;
	char err[1024];
	spool_err e;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			job = optarg;
			break;
		case 'g':
			grouping = optarg;
			break;
		case 'h':
			printf("usage: collector-spool [--spool PATH] delete --job "
			    "JOB [--grouping 'k=\"v\",...']\n\nAsks the agent to "
			    "DELETE the group from the gateway and drop its state.\n"
			    "Rows put for the group before this request are "
			    "dropped with it; rows put after it start the group "
			    "anew.\nWithout --grouping the group is the job alone.\n");
			return EX_OK;
		default:
			return usage_error("delete: %s", "unknown option");
		}
	}
	if (job == NULL)
		return usage_error("delete: %s", "--job is required");
	if (optind < argc)
		return usage_error("delete: unexpected argument '%s'",
		    argv[optind]);
	if ((e = spool_validate_group(job, grouping, err, sizeof(err))))
		return fail(e, err);
	if ((rc = open_spool(path, OPEN_CREATE, &s)) != EX_OK)
		return rc;
	e = spool_request_delete(s, job, grouping);
	rc = e ? fail(e, spool_errmsg(s)) : EX_OK;
	spool_close(s);
	if (rc == EX_OK) {
		char *canon = canon_grouping(grouping);

		/* Said, because nothing visible happens until the agent's
		 * round. */
		printf("delete requested: job=%s grouping=%s; the agent deletes "
		    "it from the gateway at its next round\n", job,
		    canon == NULL ? grouping : canon[0] ? canon : "(none)");
		free(canon);
		if (fflush(stdout) != 0) {
			perror("collector-spool: writing standard output");
			return EX_IOERR;
		}
	}
	return rc;
}

/* Writes s as a JSON string; invalid UTF-8 becomes U+FFFD byte by byte. */
static void
json_strn(FILE *f, const char *s, size_t len)
{
	const unsigned char *p, *end;
	int valid;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	valid = expo_valid_utf8(s, len);
	fputc('"', f);
	end = (const unsigned char *)s + len;
	for (p = (const unsigned char *)s; p < end; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else if (*p >= 0x80 && !valid)
				fputs("\\ufffd", f);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

static void
json_str(FILE *f, const char *s)
{
	json_strn(f, s, s != NULL ? strlen(s) : 0);
}

static void
iso_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || gmtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
json_flag(int argc, char **argv, const char *cmd, int *json)
{
	*json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			*json = 1;
		else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			printf("usage: collector-spool [--spool PATH] %s [--json]\n",
			    cmd);
			return -1;
		} else {
			usage_error("unexpected argument '%s'", argv[i]);
			return -2;
		}
	}
	return 0;
}

/* Lists a group the gateway refused, with the gateway's words. */
static int
print_parked(const spool_group *g, void *arg)
{
	int *json = arg;
	static int first = 1;

	if (g->park_reason == NULL)
		return 0;
	if (*json) {
		printf("%s{\"job\":", first ? "" : ",");
		json_str(stdout, g->job);
		printf(",\"grouping\":");
		json_str(stdout, g->grouping);
		printf(",\"reason\":");
		json_str(stdout, g->park_reason);
		printf("}");
	} else
		printf("parked                 job=%s grouping=%s: %s\n", g->job,
		    g->grouping[0] ? g->grouping : "(none)", g->park_reason);
	first = 0;
	return 0;
}

static int
cmd_stats(const char *path, int argc, char **argv)
{
	spool_stats st;
	spool_t *s = NULL;
	spool_err e;
	int json, rc, moved = 0;

	if ((rc = json_flag(argc, argv, "stats", &json)) != 0)
		return rc == -1 ? EX_OK : EX_USAGE;
	if ((rc = open_spool(path, OPEN_READ, &s)) != EX_OK)
		return rc;
	e = spool_get_stats(s, &st);
	if (e) {
		rc = fail(e, spool_errmsg(s));
		spool_close(s);
		return rc;
	}
	if (json) {
		printf("{\"path\":");
		json_str(stdout, path);
		printf(",\"pending_rows\":%lld,\"oldest_pending_age_seconds\":",
		    (long long)st.pending_rows);
		if (st.oldest_pending_age < 0)
			printf("null");
		else
			printf("%.3f", st.oldest_pending_age);
		printf(",\"groups\":%lld,\"series\":%lld,\"dirty_groups\":%lld,"
		    "\"parked_groups\":%lld,\"delete_pending_groups\":%lld,"
		    "\"rejected_rows\":%lld,\"rejected_total\":%lld,"
		    "\"spool_bytes\":%lld,\"schema_version\":%d,\"parked\":[",
		    (long long)st.groups, (long long)st.series,
		    (long long)st.dirty_groups, (long long)st.parked_groups,
		    (long long)st.delete_pending, (long long)st.rejected_rows,
		    (long long)st.rejected_total, (long long)st.bytes,
		    st.schema_version);
		e = spool_groups_each(s, print_parked, &json);
		printf("]}\n");
	} else {
		printf("spool                  %s\n", path);
		printf("pending_rows           %lld\n", (long long)st.pending_rows);
		if (st.oldest_pending_age < 0)
			printf("oldest_pending_age     -\n");
		else
			printf("oldest_pending_age     %.3fs\n",
			    st.oldest_pending_age);
		printf("groups                 %lld\n", (long long)st.groups);
		printf("series                 %lld\n", (long long)st.series);
		printf("dirty_groups           %lld\n", (long long)st.dirty_groups);
		printf("parked_groups          %lld\n", (long long)st.parked_groups);
		printf("delete_pending_groups  %lld\n", (long long)st.delete_pending);
		printf("rejected_rows          %lld\n", (long long)st.rejected_rows);
		printf("rejected_total         %lld\n", (long long)st.rejected_total);
		printf("spool_bytes            %lld\n", (long long)st.bytes);
		e = spool_groups_each(s, print_parked, &json);
	}
	/* A read-only handle on a file a writer has since checkpointed
	 * (show does the same). */
	if (e == SPOOL_OK && (e = spool_moved(s, &moved)) == SPOOL_OK &&
	    moved)
		e = SPOOL_EIO;
	if (e) {
		rc = fail(e, spool_errmsg(s));
		spool_close(s);
		return rc;
	}
	spool_close(s);
	if (fflush(stdout) != 0) {
		perror("collector-spool: writing standard output");
		return EX_IOERR;
	}
	return EX_OK;
}

struct rej_ctx {
	int json;
	size_t n;
};

/* Writes len bytes of s (or dflt when s is NULL), a NUL as "\\0" so that
 * a row cut short by one shows why. */
static void
show(const char *s, size_t len, const char *dflt)
{
	if (s == NULL) {
		fputs(dflt, stdout);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0')
			fputs("\\0", stdout);
		else
			putchar(s[i]);
	}
}

static int
print_rejected(const spool_rejected *r, void *arg)
{
	struct rej_ctx *c = arg;
	char rec[32], rej[32];

	iso_time(r->received_ms, rec, sizeof(rec));
	iso_time(r->rejected_ms, rej, sizeof(rej));
	if (c->json) {
		printf("%s{\"id\":%lld,\"received\":\"%s\",\"rejected\":\"%s\","
		    "\"job\":", c->n ? "," : "", (long long)r->id, rec, rej);
		json_strn(stdout, r->job, r->job_len);
		printf(",\"grouping\":");
		json_strn(stdout, r->grouping, r->grouping_len);
		printf(",\"op\":");
		json_strn(stdout, r->op, r->op_len);
		printf(",\"reason\":");
		json_str(stdout, r->reason);
		printf(",\"body\":");
		json_strn(stdout, r->body, r->body_len);
		if (r->body != NULL)
			printf(",\"body_bytes\":%lld,\"body_fnv1a64\":\"%016llx\","
			    "\"body_cut\":%s}", (long long)r->body_size,
			    (unsigned long long)r->body_hash,
			    r->body_cut ? "true" : "false");
		else
			printf(",\"body_bytes\":null,\"body_fnv1a64\":null,"
			    "\"body_cut\":false}");
	} else {
		printf("row %lld received %s rejected %s job=", (long long)r->id,
		    rec, rej);
		show(r->job, r->job_len, "(default)");
		printf(" grouping=");
		show(r->grouping, r->grouping_len, "(default)");
		printf(" op=");
		show(r->op, r->op_len, "(set)");
		printf("\n  reason: %s\n", r->reason);
		if (r->body) {
			const char *p = r->body, *end = r->body + r->body_len;
			printf("  body: %lld bytes, FNV-1a 64 %016llx",
			    (long long)r->body_size,
			    (unsigned long long)r->body_hash);
			if (r->body_cut)
				printf("; only its first %zu are kept",
				    r->body_len);
			printf(":\n");
			while (p < end) {
				const char *nl = memchr(p, '\n', (size_t)(end - p));
				size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
				printf("    | ");
				show(p, n, "");
				printf("\n");
				p += n + (nl ? 1 : 0);
			}
		}
	}
	c->n++;
	return 0;
}

/* rejected --clear [--before ID]: needs write access, and says so. */
static int
clear_rejected(const char *path, int64_t before)
{
	spool_t *s = NULL;
	int64_t n = 0;
	spool_err e;
	int rc;

	if ((rc = open_spool(path, OPEN_WRITE, &s)) != EX_OK) {
		if (rc == EX_CANTCREAT)
			fprintf(stderr, "%s: rejected --clear removes rows, so it "
			    "needs write access to the spool\n", progname);
		return rc;
	}
	e = spool_rejected_clear(s, before, &n);
	rc = e ? fail(e, spool_errmsg(s)) : EX_OK;
	spool_close(s);
	if (rc != EX_OK)
		return rc;
	printf("removed %lld rejected row%s", (long long)n, n == 1 ? "" : "s");
	if (before > 0)
		printf(" (those with an id below %lld)", (long long)before);
	printf("\n");
	if (fflush(stdout) != 0) {
		perror("collector-spool: writing standard output");
		return EX_IOERR;
	}
	return EX_OK;
}

static int
cmd_rejected(const char *path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "clear", no_argument, NULL, 'C' },
		{ "before", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rej_ctx c = { 0, 0 };
	int64_t before = 0;
	int clear = 0;
	spool_t *s = NULL;
	spool_err e;
	int moved = 0;
	int ch, rc;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'J':
			c.json = 1;
			break;
		case 'C':
			clear = 1;
			break;
		case 'B': {
			char *end;
			long long v;

			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || v < 1)
				return usage_error("rejected: --before takes a row "
				    "id (1 or more), not '%s'", optarg);
			before = v;
			break;
		}
		case 'h':
			printf("usage: collector-spool [--spool PATH] rejected "
			    "[--json]\n       collector-spool [--spool PATH] "
			    "rejected --clear [--before ID]\n\nLists the rows the "
			    "agent could not use, oldest first, with the reason.\n"
			    "--clear removes them (with --before, those whose id is "
			    "below ID); it needs write access.\n");
			return EX_OK;
		default:
			return usage_error("rejected: %s", "unknown option");
		}
	}
	if (optind < argc)
		return usage_error("rejected: unexpected argument '%s'",
		    argv[optind]);
	if (before > 0 && !clear)
		return usage_error("rejected: %s", "--before goes with --clear");
	if (clear && c.json)
		return usage_error("rejected: %s", "--clear takes no --json");
	if (clear)
		return clear_rejected(path, before);
	if ((rc = open_spool(path, OPEN_READ, &s)) != EX_OK)
		return rc;
	if (c.json)
		printf("[");
	e = spool_rejected_each(s, print_rejected, &c);
	/* A read-only handle on a file a writer has since checkpointed
	 * (show does the same). */
	if (e == SPOOL_OK && (e = spool_moved(s, &moved)) == SPOOL_OK &&
	    moved)
		e = SPOOL_EIO;
	if (c.json)
		printf("]\n");
	else if (e == SPOOL_OK && c.n == 0)
		printf("no rejected rows\n");
	rc = e ? fail(e, spool_errmsg(s)) : EX_OK;
	spool_close(s);
	if (rc == EX_OK && fflush(stdout) != 0) {
		perror("collector-spool: writing standard output");
		return EX_IOERR;
	}
	return rc;
}

/* --- show ---------------------------------------------------------------- */

/* The names of the agent's own metrics (agent/selfm.c, selfm_owns()): in
 * its default group the agent pushes its own families, not rows of these
 * names, and its /metrics never serves them from the spool. */
#define AGENT_PREFIX "collector_agent_"

/* A group that show lists: copied out of spool_groups_each(). */
struct show_group {
	int64_t id, version, pushed_version, last_row_ms;
	int delete_pending;
	char *job, *grouping, *park_reason;
};

struct show_ctx {
	const char *job, *grouping;  /* filters; NULL: any */
	struct show_group *g;
	size_t n, cap;
	int oom;
};

static int
collect_group(const spool_group *g, void *arg)
{
	struct show_ctx *c = arg;
	struct show_group *x;

	if ((c->job != NULL && strcmp(g->job, c->job) != 0) ||
	    (c->grouping != NULL && strcmp(g->grouping, c->grouping) != 0))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct show_group *ng = realloc(c->g, cap * sizeof(*ng));
		if (ng == NULL) {
			c->oom = 1;
			return 1;
		}
		c->g = ng;
		c->cap = cap;
	}
	x = &c->g[c->n];
	x->id = g->id;
	x->version = g->version;
	x->pushed_version = g->pushed_version;
	x->last_row_ms = g->last_row_ms;
	x->delete_pending = g->delete_pending;
	x->job = strdup(g->job);
	x->grouping = strdup(g->grouping);
	x->park_reason = g->park_reason ? strdup(g->park_reason) : NULL;
	if (x->job == NULL || x->grouping == NULL ||
	    (g->park_reason != NULL && x->park_reason == NULL)) {
		free(x->job);
		free(x->grouping);
		free(x->park_reason);
		c->oom = 1;
		return 1;
	}
	c->n++;
	return 0;
}

/* A label value or HELP text, stored escaped (\\, \", \n), as a JSON
 * string of the text it stands for. */
static void
json_unescaped(FILE *f, const char *p, size_t len)
{
	char *u = malloc(len + 1);
	size_t o = 0;

	if (u == NULL) {
		json_strn(f, p, len);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\\' && i + 1 < len) {
			i++;
			u[o++] = p[i] == 'n' ? '\n' : p[i];
		} else
			u[o++] = p[i];
	}
	json_strn(f, u, o);
	free(u);
}

/* A canonical label list as a JSON object of names and plain values. */
static void
json_labels(FILE *f, const char *labels)
{
	expo_label l[EXPO_MAX_LABELS];
	const char *why;
	size_t n;

	if (expo_parse_labels(labels, strlen(labels), l, EXPO_MAX_LABELS, &n,
	    &why) != 0) {
		json_str(f, labels);
		return;
	}
	fputc('{', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		json_strn(f, l[i].name.p, l[i].name.len);
		fputc(':', f);
		json_unescaped(f, l[i].value.p, l[i].value.len);
	}
	fputc('}', f);
}

static void
json_value(FILE *f, double v)
{
	char buf[EXPO_VALUE_BUF];

	expo_format_value(v, buf);
	fprintf(f, "\"%s\"", buf);
}

/* One sample line of the text form, as the agent renders it. */
static void
text_line(const char *name, const char *suffix, const char *labels,
    const char *le, const char *value)
{
	fputs(name, stdout);
	fputs(suffix, stdout);
	if (labels[0] != '\0' || le != NULL) {
		putchar('{');
		fputs(labels, stdout);
		if (le != NULL)
			printf("%sle=\"%s\"", labels[0] ? "," : "", le);
		putchar('}');
	}
	printf(" %s\n", value);
}

static void
text_sample(const spool_sample *x)
{
	char val[EXPO_VALUE_BUF], le[EXPO_VALUE_BUF];
	const spool_hist *h = x->hist;
	uint64_t cum = 0;

	if (h == NULL) {
		expo_format_value(x->value, val);
		text_line(x->name, "", x->labels, NULL, val);
		return;
	}
	/* The native part has no place in the text format (the agent sends
	 * it in protobuf): a comment says what is there. */
	if (h->native != NULL) {
		expo_format_value(h->native->zero_threshold, val);
		printf("# native %s%s%s%s: schema=%d zero_threshold=%s "
		    "zero_count=%" PRIu64 " buckets=%zu\n", x->name,
		    x->labels[0] ? "{" : "", x->labels, x->labels[0] ? "}" : "",
		    h->native->schema, val, h->native->zero_count,
		    h->native->npos + h->native->nneg);
	}
	/* An observed histogram, expanded as the agent pushes it:
	 * cumulative buckets, +Inf, _sum, _count. */
	for (size_t i = 0; i <= h->n; i++) {
		cum += h->counts[i];
		snprintf(val, sizeof(val), "%" PRIu64, cum);
		if (i < h->n)
			expo_format_value(h->bounds[i], le);
		else
			snprintf(le, sizeof(le), "+Inf");
		text_line(x->name, "_bucket", x->labels, le, val);
	}
	expo_format_value(h->sum, val);
	text_line(x->name, "_sum", x->labels, NULL, val);
	snprintf(val, sizeof(val), "%" PRIu64, cum);
	text_line(x->name, "_count", x->labels, NULL, val);
}

/* [[index,"count"],...]: counts as text, like every count here, since
 * a JSON reader may hold numbers as doubles. */
static void
json_nbuckets(const nhist_bucket *b, size_t n)
{
	putchar('[');
	for (size_t i = 0; i < n; i++)
		printf("%s[%ld,\"%lld\"]", i ? "," : "", (long)b[i].index,
		    (long long)b[i].count);
	putchar(']');
}

static void
json_native(const spool_nhist *nh, double sum)
{
	printf(",\"native\":{\"schema\":%d,\"zero_threshold\":",
	    nh->schema);
	json_value(stdout, nh->zero_threshold);
	printf(",\"zero_count\":\"%" PRIu64 "\",\"count\":\"%" PRIu64
	    "\",\"sum\":", nh->zero_count, nh->count);
	json_value(stdout, sum);
	printf(",\"positive\":");
	json_nbuckets(nh->pos, nh->npos);
	printf(",\"negative\":");
	json_nbuckets(nh->neg, nh->nneg);
	printf(",\"max_buckets\":%zu}", nh->max_buckets);
}

static void
json_sample(const spool_sample *x)
{
	const spool_hist *h = x->hist;
	char le[EXPO_VALUE_BUF];
	uint64_t cum = 0;

	printf("{\"name\":");
	json_str(stdout, x->name);
	printf(",\"labels\":");
	json_labels(stdout, x->labels);
	if (h == NULL) {
		printf(",\"value\":");
		json_value(stdout, x->value);
		printf("}");
		return;
	}
	printf(",\"buckets\":[");
	for (size_t i = 0; i <= h->n; i++) {
		cum += h->counts[i];
		if (i < h->n)
			expo_format_value(h->bounds[i], le);
		else
			snprintf(le, sizeof(le), "+Inf");
		printf("%s{\"le\":\"%s\",\"count\":\"%" PRIu64 "\"}", i ? "," : "",
		    le, cum);
	}
	printf("],\"sum\":");
	json_value(stdout, h->sum);
	printf(",\"count\":\"%" PRIu64 "\"", cum);
	if (h->native != NULL)
		json_native(h->native, h->sum);
	printf("}");
}

/* A group's header: what it is and where its delivery stands. */
static void
show_head(const struct show_group *g, int64_t version, int json)
{
	char t[32];

	iso_time(g->last_row_ms, t, sizeof(t));
	if (json) {
		printf("{\"job\":");
		json_str(stdout, g->job);
		printf(",\"grouping\":");
		json_str(stdout, g->grouping);
		printf(",\"version\":%lld,\"pushed_version\":%lld,"
		    "\"last_written\":", (long long)version,
		    (long long)g->pushed_version);
		if (g->last_row_ms > 0)
			printf("\"%s\"", t);
		else
			printf("null");
		printf(",\"last_pushed\":null,\"delete_pending\":%s,"
		    "\"park_reason\":", g->delete_pending ? "true" : "false");
		json_str(stdout, g->park_reason);
		printf(",\"families\":[");
		return;
	}
	printf("# group job=%s grouping=%s\n", g->job,
	    g->grouping[0] ? g->grouping : "(none)");
	printf("# last written %s, version %lld\n", g->last_row_ms > 0 ? t :
	    "(unknown)", (long long)version);
	if (g->pushed_version == 0)
		printf("# never pushed\n");
	else
		printf("# pushed version %lld (the spool keeps no time of "
		    "pushes)%s\n", (long long)g->pushed_version,
		    g->pushed_version >= version ? ": the gateway has this "
		    "state" : ": changed since");
	if (g->park_reason != NULL) {
		printf("# parked: ");
		put_visible(stdout, g->park_reason, strlen(g->park_reason));
		printf("\n");
	}
	if (g->delete_pending)
		printf("# delete requested: the agent deletes it from the "
		    "gateway at its next round\n");
}

/* Is the listed group g still in the spool (same id, job and grouping)? */
struct still_ctx {
	const struct show_group *g;
	int found;
};

static int
still_there(const spool_group *x, void *arg)
{
	struct still_ctx *c = arg;

	if (x->id == c->g->id && strcmp(x->job, c->g->job) == 0 &&
	    strcmp(x->grouping, c->g->grouping) == 0)
		c->found = 1;
	return c->found;
}

/* Writes one group's state from a cursor: its snapshot, one read
 * transaction; after a separator when *shown, which it counts. */
static spool_err
show_group(spool_t *s, const struct show_group *g, int json, size_t *shown)
{
	const spool_family *f;
	const spool_sample *x;
	spool_cursor *c;
	int64_t version;
	size_t nf = 0, ns = 0;
	spool_err e;
	int fresh;

	if ((e = spool_cursor_open(s, g->id, &c, &version)) != SPOOL_OK)
		return e;
	/* A group's version never goes down while it exists, and a cursor
	 * reads a group that is gone as version 0: one dropped since the
	 * listing (the agent's delete, an expiry) is not shown. Version 0
	 * is also that of a group only a delete request made, so then the
	 * listing is asked again. */
	if (version == 0 || version < g->version) {
		struct still_ctx sc = { g, 0 };

		spool_cursor_close(c);
		if ((e = spool_groups_each(s, still_there, &sc)) != SPOOL_OK)
			return e;
		if (!sc.found)
			return SPOOL_OK;
		if ((e = spool_cursor_open(s, g->id, &c, &version)) !=
		    SPOOL_OK)
			return e;
	}
	if ((*shown)++)
		printf(json ? "," : "\n");
	show_head(g, version, json);
	while ((e = spool_cursor_next(c, &f, &x, &fresh)) == SPOOL_OK &&
	    x != NULL) {
		if (fresh && json) {
			printf("%s{\"name\":", nf++ ? "]}," : "");
			json_str(stdout, f->name);
			printf(",\"type\":");
			json_str(stdout, f->type ? f->type : "untyped");
			printf(",\"help\":");
			if (f->help != NULL)
				json_unescaped(stdout, f->help, strlen(f->help));
			else
				printf("null");
			printf(",\"series\":[");
			ns = 0;
		} else if (fresh) {
			if (strncmp(f->name, AGENT_PREFIX,
			    sizeof(AGENT_PREFIX) - 1) == 0)
				printf("# %s: a name of the agent's own; not "
				    "pushed as written in the agent's default "
				    "group (its configured job and instance), "
				    "nor served on /metrics\n", f->name);
			if (f->help != NULL)
				printf("# HELP %s %s\n", f->name, f->help);
			if (f->typed || (f->type && strcmp(f->type, "untyped")))
				printf("# TYPE %s %s\n", f->name, f->type);
		}
		if (json) {
			printf("%s", ns++ ? "," : "");
			json_sample(x);
		} else
			text_sample(x);
	}
	spool_cursor_close(c);
	if (json)
		printf("%s]}", nf ? "]}" : "");
	return e;
}

static int
cmd_show(const char *path, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "job", required_argument, NULL, 'j' },
		{ "grouping", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct show_ctx c;
	const char *grouping = NULL;
	char *canon = NULL, err[1024];
	spool_stats st;
	spool_t *s = NULL;
	spool_err e;
	size_t shown = 0;
	int ch, json = 0, rc, moved = 0;

	memset(&c, 0, sizeof(c));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			c.job = optarg;
			break;
		case 'g':
			grouping = optarg;
			break;
		case 'J':
			json = 1;
			break;
		case 'h':
			printf("usage: collector-spool [--spool PATH] show [--job "
			    "JOB] [--grouping 'k=\"v\",...'] [--json]\n\nShows the "
			    "state of each group (or of those given) as the agent "
			    "would push it,\nwith when it was last written and what "
			    "the gateway has. Rows not folded yet\nare not in it. "
			    "--grouping '' is the job alone.\n");
			return EX_OK;
		default:
			return usage_error("show: %s", "unknown option");
		}
	}
	if (optind < argc)
		return usage_error("show: unexpected argument '%s'",
		    argv[optind]);
	if ((e = spool_validate_group(c.job, grouping, err, sizeof(err))))
		return fail(e, err);
	if (grouping != NULL && (c.grouping = canon = canon_grouping(grouping))
	    == NULL)
		return fail(SPOOL_ENOMEM, NULL);
	if ((rc = open_spool(path, OPEN_READ, &s)) != EX_OK) {
		free(canon);
		return rc;
	}
	e = spool_groups_each(s, collect_group, &c);
	if (e == SPOOL_OK && c.oom)
		e = SPOOL_ENOMEM;
	if (e == SPOOL_OK && !json && (e = spool_get_stats(s, &st)) ==
	    SPOOL_OK && st.pending_rows > 0)
		printf("# %lld row%s pending: not folded by the agent yet, so "
		    "not shown\n", (long long)st.pending_rows,
		    st.pending_rows == 1 ? "" : "s");
	if (e == SPOOL_OK && json)
		printf("[");
	for (size_t i = 0; e == SPOOL_OK && i < c.n; i++)
		e = show_group(s, &c.g[i], json, &shown);
	/* Read as it was (no -wal), the file may have been checkpointed
	 * under these reads by a writer since: then it is an error. */
	if (e == SPOOL_OK && (e = spool_moved(s, &moved)) == SPOOL_OK &&
	    moved)
		e = SPOOL_EIO;
	if (e == SPOOL_OK && json)
		printf("]\n");
	else if (e == SPOOL_OK && shown == 0)
		printf("# no groups%s\n", c.job || c.grouping ? " match" : "");
	rc = e ? fail(e, e == SPOOL_ENOMEM && c.oom ? NULL : spool_errmsg(s)) :
	    EX_OK;
	spool_close(s);
	for (size_t i = 0; i < c.n; i++) {
		free(c.g[i].job);
		free(c.g[i].grouping);
		free(c.g[i].park_reason);
	}
	free(c.g);
	free(canon);
	/* Streamed, so that memory stays flat for big groups: what failed
	 * partway (a write included: its error sticks to stdout) exits
	 * non-zero, and what stdout holds then is not whole. */
	if (rc == EX_OK && (fflush(stdout) != 0 || ferror(stdout))) {
		perror("collector-spool: writing standard output");
		return EX_IOERR;
	}
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "spool", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *cmd;
	int c;

	/* A process that reads a few pages: no bulk page-cache allocation
	 * per connection, whose every page is a page fault to touch. */
	(void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
	while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'h':
			usage_main(stdout);
			return EX_OK;
		case 'V':
			printf("collector-spool %s (spool schema %d, SQLite %s)\n",
			    spool_version(), SPOOL_SCHEMA_VERSION,
			    sqlite3_libversion());
			return EX_OK;
		default:
			fprintf(stderr, "Try 'collector-spool --help'.\n");
			return EX_USAGE;
		}
	}
	if (path == NULL)
		path = getenv("COLLECTOR_SPOOL");
	if (path == NULL || *path == '\0')
		path = SPOOL_DEFAULT_PATH;
	if (optind >= argc)
		return usage_error("%s", "a command is required (put, stats, "
		    "rejected, show, delete)");
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "put") == 0)
		return cmd_put(path, argc, argv);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(path, argc, argv);
	if (strcmp(cmd, "rejected") == 0)
		return cmd_rejected(path, argc, argv);
	if (strcmp(cmd, "show") == 0)
		return cmd_show(path, argc, argv);
	if (strcmp(cmd, "delete") == 0)
		return cmd_delete(path, argc, argv);
	return usage_error("unknown command '%s' (put, stats, rejected, show, "
	    "delete)", cmd);
}
