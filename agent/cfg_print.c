/*
 * cfg_print.c — what -t shows and what is worth a warning: cfg_print()
 * writes the effective settings as a libconfig file, row by row of the
 * table, secrets and credential-looking headers redacted; cfg_warn() logs
 * what is valid but unsafe (no TLS verification, secret files others read)
 * or likely a mistake (a gateway URL ending in /metrics, a near-miss
 * environment name); cfg_check() what only -t looks at (the spool's
 * directory).
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_int.h"
#include "expo.h"
#include "http.h"
#include "log.h"

/* --- print ------------------------------------------------------------------------ */

/* A libconfig string literal. */
static void
put_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch == '\r')
			fputs("\\r", f);
		else if (ch == '\t')
			fputs("\\t", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* Text inside a '#' comment: a line break would end the comment. */
static void
put_comment(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s, f);
}

/* A number that libconfig reads back as a float, to the same double. */
static void
put_num(FILE *f, double v)
{
	char buf[EXPO_VALUE_BUF];
	size_t n = expo_format_value(v, buf);

	fputs(buf, f);
	if (strcspn(buf, ".eEnN") == n)
		fputs(".0", f);
}

/* Header values under these names are credentials as often as not. */
static int
header_is_secret(const char *h)
{
	static const char *const words[] = { "auth", "token", "secret", "key",
	    "password", "cookie", "session" };
	size_t nl = strcspn(h, ":");

	for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
		size_t wl = strlen(words[w]);

		for (size_t i = 0; i + wl <= nl; i++)
			if (strncasecmp(h + i, words[w], wl) == 0)
				return 1;
	}
	return 0;
}

/* The rest of one histograms entry after its name: its form, the classic
 * bounds (none for native, nor for both with the default ones), the
 * native settings in force (the schema, whether the file gave it or a
 * bucket_factor). */
static void
put_hist(FILE *f, const cfg_histogram *h)
{
	static const char *const forms[] = { "classic", "native", "both" };

	fprintf(f, "; format = \"%s\";", forms[h->form]);
	if (h->n > 0) {
		fputs(" buckets = [ ", f);
		for (size_t j = 0; j < h->n; j++) {
			if (j)
				fputs(", ", f);
			put_num(f, h->bounds[j]);
		}
		fputs(" ];", f);
	}
	if (h->form == CFG_HIST_CLASSIC)
		return;
	fprintf(f, " schema = %d; zero_threshold = ", h->schema);
	put_num(f, h->zero_threshold);
	fprintf(f, "; max_buckets = %zu;", h->max_buckets);
}

static void
put_value(FILE *f, const cfg *c, const row *r)
{
	switch (r->type) {
	case T_NUM:
		put_num(f, *CFIELD(c, r->off, double));
		break;
	case T_INT:
		fprintf(f, "%ld", *CFIELD(c, r->off, long));
		break;
	case T_BOOL:
		fputs(*CFIELD(c, r->off, int) ? "true" : "false", f);
		break;
	case T_SYNC:
		fputs(*CFIELD(c, r->off, int) ? "\"full\"" : "\"normal\"", f);
		break;
	case T_LEVEL:
		fprintf(f, "\"%s\"", log_level_name(*CFIELD(c, r->off, int)));
		break;
	case T_STR:
	case T_PATH:
	case T_URL:
	case T_JOB:
	case T_INSTANCE:
	case T_LISTEN:
		put_str(f, *CFIELD(c, r->off, str_t));
		break;
	case T_HEADERS: {
		char *const *h = *CFIELD(c, r->off, strv_t);
		size_t n = *CFIELD(c, r->off_n, size_t);

		fputc('[', f);
		for (size_t i = 0; i < n; i++) {
			fputs(i ? ", " : " ", f);
			if (header_is_secret(h[i])) {
				fprintf(f, "\"%.*s: <redacted>\"",
				    (int)strcspn(h[i], ":"), h[i]);
			} else
				put_str(f, h[i]);
		}
		fputs(n ? " ]" : "]", f);
		break;
	}
	case T_HIST: {
		const cfg_histogram *h = *CFIELD(c, r->off, hist_t);
		size_t n = *CFIELD(c, r->off_n, size_t);

		fputc('(', f);
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "%s\n  { name = ", i ? "," : "");
			put_str(f, h[i].name);
			put_hist(f, &h[i]);
			fputs(" }", f);
		}
		fputs(n ? "\n)" : ")", f);
		break;
	}
	}
}

void
cfg_print(const cfg *c, FILE *f)
{
	const char *sec = NULL;
	size_t secl = 0;

	fputs("# collector-agent: the effective configuration; secrets are "
	    "<redacted>\n# config file: ", f);
	put_comment(f, c->config_file ? c->config_file :
	    "none (built-in defaults)");
	fputs("\n# env file: ", f);
	put_comment(f, c->env_file ? c->env_file : "none");
	fputs("\n", f);
	for (size_t i = 0; i < CFG_NROWS; i++) {
		const row *r = &cfg_rows[i];
		const char *dot = strchr(r->path, '.');
		size_t pl = dot ? (size_t)(dot - r->path) : 0;

		if (sec != NULL && (pl != secl ||
		    strncmp(sec, r->path, pl) != 0)) {
			fputs("};\n", f);
			sec = NULL;
		}
		if (dot != NULL && sec == NULL) {
			fprintf(f, "%.*s: {\n", (int)pl, r->path);
			sec = r->path;
			secl = pl;
		}
		fprintf(f, "%s%s = ", dot ? "\t" : "", dot ? dot + 1 : r->path);
		put_value(f, c, r);
		fputc(';', f);
		if (r->secret != NULL && *CFIELD(c, r->off_secret, str_t))
			fprintf(f, "  # %s: <redacted>", r->secret);
		fputc('\n', f);
	}
	if (sec != NULL)
		fputs("};\n", f);
}

/* --- warn ------------------------------------------------------------------------- */

/* A file holding a secret that other users may read. */
static void
warn_mode(const char *setting, const char *path)
{
	struct stat st;

	if (path == NULL || *path == '\0' || stat(path, &st) != 0)
		return;
	if (st.st_mode & (S_IROTH | S_IWOTH))
		log_warnx("a secret file is readable by other users; make it "
		    "0600 or 0640 (group of the agent's user)", "setting=%s "
		    "file=%s mode=%04o", setting, log_q(path),
		    (unsigned)(st.st_mode & 07777));
}

static void
warn_http(const char *sec, const http_conf *h)
{
	char p[64];

	if (h->url == NULL || *h->url == '\0')
		return;
	if (h->insecure_skip_verify) {
		snprintf(p, sizeof(p), "%s.insecure_skip_verify", sec);
		log_warnx("TLS CERTIFICATES ARE NOT VERIFIED: anyone between "
		    "the agent and the server can read and change what is "
		    "sent, credentials included; set ca_file instead",
		    "setting=%s url=%s", p, log_q(h->url));
	}
	snprintf(p, sizeof(p), "%s.password_file", sec);
	warn_mode(p, h->password_file);
	snprintf(p, sizeof(p), "%s.bearer_token_file", sec);
	warn_mode(p, h->bearer_token_file);
	snprintf(p, sizeof(p), "%s.key_file", sec);
	warn_mode(p, h->key_file);
}

/* 1 when url ends in "/metrics" (trailing slashes are gone already). */
static int
ends_in_metrics(const char *url)
{
	size_t n = url ? strlen(url) : 0;

	return n >= 8 && strcmp(url + n - 8, "/metrics") == 0;
}

void
cfg_warn(const cfg *c)
{
	const char *p = c->warnings;

	if (c->enabled) {
		warn_http("pushgateway", &c->gw);
		/* The agent adds /metrics/job/...: every push would be a
		 * 404 at .../metrics/metrics/job/... */
		if (ends_in_metrics(c->gw.url))
			log_warnx("pushgateway.url ends in /metrics; it is the "
			    "gateway's base URL (http://HOST:9091), the agent "
			    "adds /metrics/job/... itself", "setting="
			    "pushgateway.url url=%s", log_q(c->gw.url));
	}
	warn_http("remote_write", &c->rw);
	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, n);

		if (line != NULL && n > 0)
			log_warnx(line, NULL);
		free(line);
		p = nl ? nl + 1 : p + n;
	}
}

/* --- check (-t) ------------------------------------------------------------------- */

int
cfg_check(const cfg *c)
{
	const struct passwd *pw = getpwuid(geteuid());
	const char *user = pw != NULL ? pw->pw_name : "this user";
	const char *path = c->spool_path, *slash;
	char *dir;
	struct stat st;
	int n = 0, rc;

	if (path == NULL || *path == '\0')
		return 0;
	/* SQLite writes the file and its -wal and -shm beside it: the agent
	 * needs the directory, not only the file. */
	slash = strrchr(path, '/');
	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return 0;
	if ((rc = stat(dir, &st)) != 0 || !S_ISDIR(st.st_mode)) {
		log_warnx("the spool's directory does not exist; the agent "
		    "cannot create the spool", "spool=%s dir=%s reason=%s "
		    "fix=%s", log_q(path), log_q(dir), log_q(rc != 0 ?
		    strerror(errno) : "not a directory"),
		    log_q("create it for the agent's user (install -d -o USER "
		    "DIR), or set spool.path"));
		n++;
	} else if (access(dir, W_OK | X_OK) != 0) {
		log_warnx("the spool's directory is not writable by the user "
		    "running this check; an agent run as that user cannot "
		    "create or open the spool", "spool=%s dir=%s user=%s "
		    "fix=%s", log_q(path), log_q(dir), log_q(user),
		    log_q("run the agent as the directory's owner, or give its "
		    "user write access (chown or chmod), or set spool.path"));
		n++;
	} else if (access(path, F_OK) == 0 && access(path, R_OK | W_OK) != 0) {
		log_warnx("the spool is not writable by the user running this "
		    "check", "spool=%s user=%s fix=%s", log_q(path), log_q(user),
		    log_q("run the agent as the spool's owner, or give its user "
		    "write access"));
		n++;
	}
	free(dir);
	return n;
}
