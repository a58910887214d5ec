/*
 * collector-spool — the producers' and operators' tool: put, stats,
 * rejected, delete. Its manual is docs/man/collector-spool.1; exit statuses
 * are sysexits.h, as docs/spool.md lists them.
 */
#define _GNU_SOURCE
#include <getopt.h>
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
	    "  rejected [--json]\n"
	    "                 rows the agent could not use, with the reason\n"
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
	    "(stats, rejected), 71 outcome unknown (a commit failed: check before\n"
	    "writing an add again), 73 cannot create the spool, 74 I/O error or\n"
	    "damaged spool (nothing written), 75 spool locked (retry later).\n",
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

/*
 * Opens the spool; create says whether a missing file may be created. put
 * and delete write (a delete request may name a group that only the
 * gateway still has); stats and rejected only read, and must not leave a
 * new, empty spool behind a mistyped path: 66, as for any missing input.
 */
static int
open_spool(const char *path, int create, spool_t **s)
{
	spool_options o = { 0, 0 };
	const char *v;
	char err[1024];
	spool_err e;
	struct stat st;

	if (!create && stat(path, &st) != 0 &&
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
		free(body);
		return fail(e, err);
	}
	if ((rc = open_spool(path, 1, &s)) != EX_OK) {
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
	if ((rc = open_spool(path, 1, &s)) != EX_OK)
		return rc;
	e = spool_request_delete(s, job, grouping);
	rc = e ? fail(e, spool_errmsg(s)) : EX_OK;
	spool_close(s);
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
	int json, rc;

	if ((rc = json_flag(argc, argv, "stats", &json)) != 0)
		return rc == -1 ? EX_OK : EX_USAGE;
	if ((rc = open_spool(path, 0, &s)) != EX_OK)
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

static int
cmd_rejected(const char *path, int argc, char **argv)
{
	struct rej_ctx c = { 0, 0 };
	spool_t *s = NULL;
	spool_err e;
	int rc;

	if ((rc = json_flag(argc, argv, "rejected", &c.json)) != 0)
		return rc == -1 ? EX_OK : EX_USAGE;
	if ((rc = open_spool(path, 0, &s)) != EX_OK)
		return rc;
	if (c.json)
		printf("[");
	e = spool_rejected_each(s, print_rejected, &c);
	if (c.json)
		printf("]\n");
	rc = e ? fail(e, spool_errmsg(s)) : EX_OK;
	spool_close(s);
	if (rc == EX_OK && fflush(stdout) != 0) {
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
		    "rejected, delete)");
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "put") == 0)
		return cmd_put(path, argc, argv);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(path, argc, argv);
	if (strcmp(cmd, "rejected") == 0)
		return cmd_rejected(path, argc, argv);
	if (strcmp(cmd, "delete") == 0)
		return cmd_delete(path, argc, argv);
	return usage_error("unknown command '%s' (put, stats, rejected, delete)",
	    cmd);
}
