/*
 * cfg — the agent's settings; the contract is in cfg.h.
 *
 * Every setting of the file is one row of rows[]: its path, its type, its
 * range, its default and the field of struct cfg it fills. The file is walked
 * setting by setting and each one is looked up in the table, so that a key
 * the table does not know is an error instead of a default in disguise. The
 * environment, the env file and the command line reach a few of the same
 * rows through ovrs[] and go through the same checks; cfg_load() applies the
 * layers in one place, lowest first.
 *
 * Out of memory: whatever runs out notes it in the error buffer and carries
 * on to its cleanup; the public calls then return CFG_ENOMEM.
 *
 * This file: the tables, the messages, store() and the load from end to
 * end. The file itself is read in cfg_file.c, the env file and the
 * environment in cfg_env.c, -t's output in cfg_print.c; cfg_int.h is what
 * they share.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg.h"
#include "cfg_int.h"
#include "spool-agent.h"
#include "dbuf.h"
#include "expo.h"
#include "http.h"
#include "log.h"

/* The cap on all messages together (the other caps: cfg_int.h). */
#define ERRORS_MAX   65536

const char *
cfg_strerror(cfg_err e)
{
	switch (e) {
	case CFG_OK:
		return "success";
	case CFG_EINVAL:
		return "invalid configuration";
	case CFG_ENOENT:
		return "configuration file missing or unreadable";
	case CFG_ENOMEM:
		return "out of memory";
	}
	return "unknown error";
}

/* --- messages ------------------------------------------------------------ */

static const char eb_more[] = "(more errors not shown)\n";

/* An empty list, after the messages in *prev (taken over; NULL: none). */
void
cfg_eb_init(ebuf *e, char **prev)
{
	size_t n = prev != NULL && *prev != NULL ? strlen(*prev) : 0;

	dbuf_init(&e->b, n + ERRORS_MAX + sizeof(eb_more));
	e->full = 0;
	e->oom = 0;
	if (n > 0 && dbuf_add(&e->b, *prev, n) != DBUF_OK)
		e->oom = 1;
	if (prev != NULL) {
		free(*prev);
		*prev = NULL;
	}
}

/* The messages as one string (caller frees), NULL when there are none;
 * e is left empty. */
char *
cfg_eb_take(ebuf *e)
{
	char *s = NULL;

	if (e->b.len > 0 && (s = dbuf_take(&e->b, NULL)) == NULL)
		e->oom = 1;
	dbuf_free(&e->b);
	return s;
}

void
cfg_eb_add(ebuf *e, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->full || e->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One line says that messages were dropped, so that a file of
	 * garbage gives a bounded answer that still says so. */
	if (e->b.len + (size_t)n + 1 + sizeof(eb_more) > ERRORS_MAX) {
		e->full = 1;
		if (dbuf_adds(&e->b, eb_more) == DBUF_ENOMEM)
			e->oom = 1;
		return;
	}
	va_start(ap, fmt);
	dbuf_vaddf(&e->b, fmt, ap);
	va_end(ap);
	if (dbuf_add(&e->b, "\n", 1) == DBUF_ENOMEM)
		e->oom = 1;
}

/* s as it may appear in a message: at most 64 bytes (cut at a character
 * boundary), control characters as '?', so that a message stays one short
 * line whatever the user wrote. */
const char *
cfg_shown(const char *s, char *buf, size_t n)
{
	size_t i, len = strlen(s), cut = len;

	if (cut > 64) {
		cut = 64;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	if (cut + 4 > n)
		cut = n > 4 ? n - 4 : 0;
	for (i = 0; i < cut; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ?
		    '?' : s[i];
	if (cut < len && i + 3 < n) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/* --- the table ------------------------------------------------------------- */

#define HTTP_ROWS(sec, f)                                                   \
	{ .path = sec ".username", .type = T_STR, .flags = F_OPT,           \
	  .off = offsetof(cfg, f.username) },                               \
	{ .path = sec ".password_file", .type = T_PATH,                      \
	  .flags = F_OPT | F_EMPTY, .off = offsetof(cfg, f.password_file),  \
	  .secret = "password", .off_secret = offsetof(cfg, f.password) },  \
	{ .path = sec ".bearer_token_file", .type = T_PATH, .flags = F_OPT,  \
	  .off = offsetof(cfg, f.bearer_token_file),                        \
	  .secret = "bearer token",                                         \
	  .off_secret = offsetof(cfg, f.bearer_token) },                    \
	{ .path = sec ".ca_file", .type = T_PATH, .flags = F_OPT,            \
	  .off = offsetof(cfg, f.ca_file) },                                \
	{ .path = sec ".cert_file", .type = T_PATH, .flags = F_OPT,          \
	  .off = offsetof(cfg, f.cert_file) },                              \
	{ .path = sec ".key_file", .type = T_PATH, .flags = F_OPT,           \
	  .off = offsetof(cfg, f.key_file) },                               \
	{ .path = sec ".insecure_skip_verify", .type = T_BOOL,               \
	  .off = offsetof(cfg, f.insecure_skip_verify) },                   \
	{ .path = sec ".headers", .type = T_HEADERS,                         \
	  .off = offsetof(cfg, f.headers), .off_n = offsetof(cfg, f.n_headers) }

/* Rows of one section stay together: cfg_print() writes them in this order,
 * one libconfig group per section. */
static const row rows[] = {
	{ .path = "spool.path", .type = T_STR, .dstr = SPOOL_DEFAULT_PATH,
	  .off = offsetof(cfg, spool_path) },
	{ .path = "spool.synchronous", .type = T_SYNC,
	  .off = offsetof(cfg, spool_sync_full) },

	/* The defaults are sized from measurements (docs/agent.md, "Limits",
	 * tests/bench/limits): far above a normal host, below what makes a
	 * Pushgateway slow for everyone. */
	{ .path = "limits.max_groups", .type = T_INT, .flags = F_ZERO,
	  .min = 1, .max = 100000000, .dnum = 1000,
	  .off = offsetof(cfg, max_groups) },
	{ .path = "limits.max_series_per_group", .type = T_INT, .flags = F_ZERO,
	  .min = 1, .max = 100000000, .dnum = 20000,
	  .off = offsetof(cfg, max_series_per_group) },
	{ .path = "limits.max_series", .type = T_INT, .flags = F_ZERO,
	  .min = 1, .max = 100000000, .dnum = 100000,
	  .off = offsetof(cfg, max_series) },

	{ .path = "pushgateway.url", .type = T_URL,
	  .dstr = "http://127.0.0.1:9091", .off = offsetof(cfg, gw.url) },
	{ .path = "pushgateway.enabled", .type = T_BOOL, .dnum = 1,
	  .off = offsetof(cfg, enabled) },
	{ .path = "pushgateway.interval", .type = T_NUM, .min = 1,
	  .max = 86400, .dnum = 60, .off = offsetof(cfg, interval) },
	/* 0: the default, which depends on the interval (heartbeat_settle();
	 * docs/agent.md, "Heartbeat"). The most is ten maximal intervals. */
	{ .path = "pushgateway.heartbeat", .type = T_NUM, .flags = F_ZERO,
	  .min = 1, .max = 864000, .dnum = 0,
	  .off = offsetof(cfg, heartbeat) },
	{ .path = "pushgateway.job", .type = T_JOB, .dstr = "collector_agent",
	  .off = offsetof(cfg, job) },
	/* No default here: finish() falls back to the host name. */
	{ .path = "pushgateway.instance", .type = T_INSTANCE,
	  .off = offsetof(cfg, instance) },
	{ .path = "pushgateway.timeout", .type = T_NUM, .min = 0.1,
	  .max = 600, .dnum = 10, .off = offsetof(cfg, gw.timeout) },
	{ .path = "pushgateway.retry_min", .type = T_NUM, .min = 0.01,
	  .max = 3600, .dnum = 1, .off = offsetof(cfg, retry_min) },
	/* The floor against retry_min is checked in file_checks(). */
	{ .path = "pushgateway.retry_max", .type = T_NUM, .min = 0.01,
	  .max = 86400, .dnum = 60, .off = offsetof(cfg, retry_max) },
	{ .path = "pushgateway.group_ttl", .type = T_NUM, .flags = F_ZERO,
	  .min = 1, .max = 31536000, .dnum = 0,
	  .off = offsetof(cfg, group_ttl) },
	{ .path = "pushgateway.once_timeout", .type = T_NUM, .min = 1,
	  .max = 86400, .dnum = 30, .off = offsetof(cfg, once_timeout) },
	/* Remote write has no such row: its bodies are snappy already. */
	{ .path = "pushgateway.gzip", .type = T_BOOL, .dnum = 1,
	  .off = offsetof(cfg, gw.gzip) },
	{ .path = "pushgateway.once_self_metrics", .type = T_BOOL, .dnum = 0,
	  .off = offsetof(cfg, once_self_metrics) },
	HTTP_ROWS("pushgateway", gw),

	{ .path = "remote_write.url", .type = T_URL, .flags = F_OPT,
	  .off = offsetof(cfg, rw.url) },
	{ .path = "remote_write.timeout", .type = T_NUM, .min = 0.1,
	  .max = 600, .dnum = 30, .off = offsetof(cfg, rw.timeout) },
	{ .path = "remote_write.max_samples_per_send", .type = T_INT,
	  .min = 1, .max = 1000000, .dnum = 2000,
	  .off = offsetof(cfg, rw_max_samples_per_send) },
	HTTP_ROWS("remote_write", rw),

	{ .path = "listen", .type = T_LISTEN, .flags = F_OPT,
	  .off = offsetof(cfg, listen) },
	{ .path = "histograms", .type = T_HIST,
	  .off = offsetof(cfg, histograms),
	  .off_n = offsetof(cfg, n_histograms) },
	{ .path = "log.level", .type = T_LEVEL, .dnum = LOG_LINFO,
	  .off = offsetof(cfg, log_level) },
};

_Static_assert(sizeof(rows) / sizeof(rows[0]) == CFG_NROWS,
    "CFG_NROWS in cfg_int.h must count rows[]");

/* The table keeps its name and its place here, where
 * tests/integration/test_manpages.sh reads it; the other files see it as
 * cfg_rows. */
const row *const cfg_rows = rows;

int
cfg_row_find(const char *path)
{
	for (size_t i = 0; i < CFG_NROWS; i++)
		if (strcmp(rows[i].path, path) == 0)
			return (int)i;
	return -1;
}

/* --- near-miss names ------------------------------------------------------------ */

/* Levenshtein distance of a (an bytes) and b, computed only up to
 * CFG_NEAR_EDITS + 1: the rows of a longer name are not needed. */
static size_t
edits(const char *a, size_t an, const char *b)
{
	size_t bn = strlen(b), prev[128], cur[128];

	if (an + CFG_NEAR_EDITS < bn || bn + CFG_NEAR_EDITS < an ||
	    bn + 1 > sizeof(prev) / sizeof(prev[0]))
		return CFG_NEAR_EDITS + 1;
	for (size_t j = 0; j <= bn; j++)
		prev[j] = j;
	for (size_t i = 1; i <= an; i++) {
		size_t best;

		cur[0] = best = i;
		for (size_t j = 1; j <= bn; j++) {
			size_t d = prev[j - 1] + (a[i - 1] != b[j - 1]);
			if (prev[j] + 1 < d)
				d = prev[j] + 1;
			if (cur[j - 1] + 1 < d)
				d = cur[j - 1] + 1;
			cur[j] = d;
			if (d < best)
				best = d;
		}
		if (best > CFG_NEAR_EDITS)
			return CFG_NEAR_EDITS + 1;
		memcpy(prev, cur, (bn + 1) * sizeof(prev[0]));
	}
	return prev[bn];
}

const char *
cfg_near_name(const char *name, size_t len, const char *const *names,
    size_t n)
{
	const char *best = NULL, *last = name;
	size_t bd;

	/* Short names are near too many others ("foo" and "job"): one edit
	 * per three characters of the last part of the name, at most. */
	for (size_t i = 0; i < len; i++)
		if (name[i] == '.')
			last = name + i + 1;
	bd = (len - (size_t)(last - name)) / 3;
	if (bd > CFG_NEAR_EDITS)
		bd = CFG_NEAR_EDITS;
	bd++;
	for (size_t i = 0; i < n; i++) {
		size_t d;

		if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
			return NULL;
		if (strlen(names[i]) == len &&
		    strncasecmp(names[i], name, len) == 0)
			d = 0;
		else
			d = edits(name, len, names[i]);
		if (d < bd) {
			bd = d;
			best = names[i];
		}
	}
	return best;
}

const char *
cfg_near_setting(const char *path, char *buf, size_t cap)
{
	/* The rows' paths, and their sections ("pushgateway"). */
	const char *names[2 * CFG_NROWS], *near;
	char secs[CFG_NROWS][32];
	size_t n = 0;

	for (size_t i = 0; i < CFG_NROWS; i++) {
		const char *dot = strchr(rows[i].path, '.');

		names[n++] = rows[i].path;
		if (dot != NULL && (size_t)(dot - rows[i].path) < sizeof(secs[0])) {
			snprintf(secs[i], sizeof(secs[i]), "%.*s",
			    (int)(dot - rows[i].path), rows[i].path);
			names[n++] = secs[i];
		}
	}
	if ((near = cfg_near_name(path, strlen(path), names, n)) == NULL)
		return NULL;
	snprintf(buf, cap, "%s", near);
	return buf;
}

/* --- the environment's names ------------------------------------------------- */

enum {
	E_URL, E_ENABLED, E_INTERVAL, E_HEARTBEAT, E_JOB, E_SPOOL, E_HOST,
	E_PORT, E_GZIP, E_N
};

/* The environment names docs/agent.md lists; the env file is read for these only. */
static const char *const env_names[E_N] = {
	"PROMETHEUS_PUSHGATEWAY_URL",
	"PROMETHEUS_PUSHGATEWAY_ENABLED",
	"PROMETHEUS_PUSHGATEWAY_INTERVAL",
	"PROMETHEUS_PUSHGATEWAY_HEARTBEAT",
	"PROMETHEUS_JOB_NAME",
	"COLLECTOR_SPOOL",
	"API_HOST",
	"API_PORT",
	"PROMETHEUS_PUSHGATEWAY_GZIP",
};

_Static_assert(E_N == CFG_ENV_N, "CFG_ENV_N in cfg_int.h must count "
    "env_names[]");

/* As for rows[]: test_manpages.sh reads env_names[] and the E_ enum here. */
const char *const *const cfg_env_names = env_names;

/* --- a value into a row ------------------------------------------------------ */

/* Decimal numbers only, whole text: strtod alone would also take leading
 * blanks, hex, "inf" and "nan". */
static int
parse_double(const char *s, double *out)
{
	char *end;
	double d;

	if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
		return -1;
	errno = 0;
	d = strtod(s, &end);
	if (end == s || *end != '\0' || errno == ERANGE || !isfinite(d))
		return -1;
	*out = d;
	return 0;
}

static int
parse_long(const char *s, long *out)
{
	char *end;
	long v;

	if (*s == '\0' || strspn(s, "0123456789+-") != strlen(s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || errno == ERANGE)
		return -1;
	*out = v;
	return 0;
}

/* The spellings an operator uses in environment files. */
static int
parse_bool(const char *s)
{
	if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
	    strcasecmp(s, "yes") == 0)
		return 1;
	if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
	    strcasecmp(s, "no") == 0)
		return 0;
	return -1;
}

/* A base URL, as http_check_url() takes it; *keep is the length without
 * trailing slashes, which the sinks add themselves. */
static int
url_check(const char *u, size_t *keep, char *why, size_t wn)
{
	const char *reason;
	char sb[80];
	int quotable;

	if ((reason = http_check_url(u, keep, &quotable)) == NULL)
		return 0;
	/* A URL with credentials is not quoted: it holds a password. */
	if (!quotable)
		snprintf(why, wn, "bad URL: %s", reason);
	else
		snprintf(why, wn, "bad URL '%s': %s", cfg_shown(u, sb, sizeof(sb)),
		    reason);
	return -1;
}

/* ADDR:PORT, where ADDR may be empty (every address) or [IPv6]. */
static int
listen_check(const char *s, size_t n, char *why, size_t wn)
{
	const char *colon = strrchr(s, ':');
	size_t hl;
	char sb[80];

	if (colon == NULL || memchr(s, ' ', n) != NULL)
		goto bad;
	hl = (size_t)(colon - s);
	if (hl > 0 && s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			goto bad;
	} else if (memchr(s, ':', hl) != NULL)
		goto bad;
	if (http_parse_port(colon + 1, n - hl - 1) < 0) {
		snprintf(why, wn, "bad port in '%s'", cfg_shown(s, sb, sizeof(sb)));
		return -1;
	}
	return 0;
bad:
	snprintf(why, wn, "must be ADDR:PORT (or \"\" to disable): '%s'",
	    cfg_shown(s, sb, sizeof(sb)));
	return -1;
}

/* The checks of a string-valued row; *keep is the length to store. */
static int
str_check(const row *r, const char *s, size_t *keep, char *why, size_t wn)
{
	size_t n = strlen(s);

	*keep = n;
	if (n == 0) {
		if (r->flags & F_OPT)
			return 0;
		snprintf(why, wn, "must not be empty");
		return -1;
	}
	if (n > STR_MAX) {
		snprintf(why, wn, "too long (limit %d bytes)", STR_MAX);
		return -1;
	}
	if (r->type == T_URL)
		return url_check(s, keep, why, wn);
	if (http_has_ctl(s, n)) {
		snprintf(why, wn, "must not contain control characters");
		return -1;
	}
	switch (r->type) {
	case T_JOB:
		if (n > SPOOL_MAX_JOB) {
			snprintf(why, wn, "too long (limit %d bytes)",
			    SPOOL_MAX_JOB);
			return -1;
		}
		/* A job, like a label value, is UTF-8. */
		/* FALLTHROUGH */
	case T_INSTANCE:
		if (!expo_valid_utf8(s, n)) {
			snprintf(why, wn, "not valid UTF-8");
			return -1;
		}
		return 0;
	case T_LISTEN:
		return listen_check(s, n, why, wn);
	case T_NUM:
	case T_INT:
	case T_BOOL:
	case T_STR:
	case T_PATH:
	case T_URL:
	case T_SYNC:
	case T_LEVEL:
	case T_HEADERS:
	case T_HIST:
		break;
	}
	return 0;
}

void
cfg_free_str(char **p)
{
	free(*p);
	*p = NULL;
}

/* Row ri's value now comes from name at loc. */
static void
set_origin(ld *l, size_t ri, const char *loc, const char *name)
{
	size_t n = strlen(loc) + strlen(name) + 1;
	char *o = malloc(n);

	if (o == NULL) {
		l->e.oom = 1;
		return;
	}
	snprintf(o, n, "%s%s", loc, name);
	free(l->origin[ri]);
	l->origin[ri] = o;
}

/* Checks v against row r and stores it, or adds "<loc><name>: reason". */
void
cfg_store(ld *l, const row *r, const cval *v, const char *loc, const char *name)
{
	char why[256], sb[80];
	size_t keep;
	char *copy;
	int lv;

	why[0] = '\0';
	switch (r->type) {
	case T_NUM:
	case T_INT:
		if (!((r->flags & F_ZERO) && v->num == 0) &&
		    !(v->num >= r->min && v->num <= r->max)) {
			snprintf(why, sizeof(why), "must be %sbetween %.15g and "
			    "%.15g", (r->flags & F_ZERO) ? "0 or " : "",
			    r->min, r->max);
			break;
		}
		if (r->type == T_INT)
			*FIELD(l->c, r->off, long) = (long)v->num;
		else
			*FIELD(l->c, r->off, double) = v->num;
		break;
	case T_BOOL:
		*FIELD(l->c, r->off, int) = v->b;
		break;
	case T_SYNC:
		if (strcmp(v->s, "normal") == 0)
			*FIELD(l->c, r->off, int) = 0;
		else if (strcmp(v->s, "full") == 0)
			*FIELD(l->c, r->off, int) = 1;
		else
			snprintf(why, sizeof(why), "must be \"normal\" or "
			    "\"full\": '%s'", cfg_shown(v->s, sb, sizeof(sb)));
		break;
	case T_LEVEL:
		if ((lv = log_level_parse(v->s)) < 0)
			snprintf(why, sizeof(why), "must be debug, info, warn "
			    "or error: '%s'", cfg_shown(v->s, sb, sizeof(sb)));
		else
			*FIELD(l->c, r->off, int) = lv;
		break;
	case T_STR:
	case T_PATH:
	case T_URL:
	case T_JOB:
	case T_INSTANCE:
	case T_LISTEN:
		if (str_check(r, v->s, &keep, why, sizeof(why)) != 0)
			break;
		copy = NULL;
		if (keep > 0 || !(r->flags & F_OPT)) {
			if ((copy = strndup(v->s, keep)) == NULL) {
				l->e.oom = 1;
				break;
			}
		}
		cfg_free_str(FIELD(l->c, r->off, str_t));
		*FIELD(l->c, r->off, str_t) = copy;
		break;
	case T_HEADERS:
	case T_HIST:
		/* Only the file can give these; set_headers(), set_hist(). */
		snprintf(why, sizeof(why), "can only be set in the file");
		break;
	}
	if (why[0] != '\0') {
		cfg_eb_add(&l->e, "%s%s: %s", loc, name, why);
		return;
	}
	set_origin(l, (size_t)(r - rows), loc, name);
}

/* Command line, environment and env-file values: text, parsed per type. */
static void
store_text(ld *l, const row *r, const char *text, const char *loc,
    const char *name)
{
	cval v = { 0, 0, text };
	char sb[80];
	long lv;

	switch (r->type) {
	case T_NUM:
		if (parse_double(text, &v.num) != 0) {
			cfg_eb_add(&l->e, "%s%s: not a number: '%s'", loc, name,
			    cfg_shown(text, sb, sizeof(sb)));
			return;
		}
		break;
	case T_INT:
		if (parse_long(text, &lv) != 0) {
			cfg_eb_add(&l->e, "%s%s: not an integer: '%s'", loc, name,
			    cfg_shown(text, sb, sizeof(sb)));
			return;
		}
		v.num = (double)lv;
		break;
	case T_BOOL:
		if ((v.b = parse_bool(text)) < 0) {
			cfg_eb_add(&l->e, "%s%s: expected true or false: '%s'", loc,
			    name, cfg_shown(text, sb, sizeof(sb)));
			return;
		}
		break;
	case T_STR:
	case T_PATH:
	case T_URL:
	case T_JOB:
	case T_INSTANCE:
	case T_LISTEN:
	case T_SYNC:
	case T_LEVEL:
	case T_HEADERS:
	case T_HIST:
		break;
	}
	cfg_store(l, r, &v, loc, name);
}

/* --- the upper layers: command line, environment, env file -------------------- */

/* The settings that the command line and the environment can give. */
typedef struct ovr {
	const char *path;   /* the row */
	int env;            /* env_names index; -1 none */
	const char *flag;   /* NULL: none */
	size_t argoff;      /* the flag's field in cfg_args */
} ovr;

static const ovr ovrs[] = {
	{ "spool.path", E_SPOOL, "--spool", offsetof(cfg_args, spool) },
	{ "pushgateway.url", E_URL, "--gateway",
	  offsetof(cfg_args, gateway) },
	{ "pushgateway.enabled", E_ENABLED, NULL, 0 },
	{ "pushgateway.gzip", E_GZIP, NULL, 0 },
	{ "pushgateway.interval", E_INTERVAL, "--interval",
	  offsetof(cfg_args, interval) },
	{ "pushgateway.heartbeat", E_HEARTBEAT, "--heartbeat",
	  offsetof(cfg_args, heartbeat) },
	{ "pushgateway.job", E_JOB, "--job", offsetof(cfg_args, job) },
	/* E_HOST stands for API_HOST and API_PORT together. */
	{ "pushgateway.instance", E_HOST, "--instance",
	  offsetof(cfg_args, instance) },
	{ "pushgateway.once_timeout", -1, "--once-timeout",
	  offsetof(cfg_args, once_timeout) },
	{ "remote_write.url", -1, "--remote-write",
	  offsetof(cfg_args, remote_write) },
	{ "listen", -1, "--listen", offsetof(cfg_args, listen) },
	{ "log.level", -1, "--log-level", offsetof(cfg_args, log_level) },
};

/*
 * The three upper layers (docs/agent.md, Settings) for each setting they can give: the flag
 * if given, else the environment's value, else the env file's (envset
 * already holds the winner of those two). Lower layers were applied before.
 *
 * The instance from the environment: API_HOST:API_PORT as the seed
 * application builds it; API_HOST alone is the host alone; API_PORT alone
 * is ignored, as a port names no instance without its host (the file's
 * instance or the host name then apply).
 */
static void
apply_overrides(ld *l, const envset *es, const cfg_args *args)
{
	for (size_t i = 0; i < sizeof(ovrs) / sizeof(ovrs[0]); i++) {
		const ovr *o = &ovrs[i];
		int ri = cfg_row_find(o->path), ei = o->env;
		const char *text = NULL, *name = NULL, *loc = "";
		char locbuf[LOC_MAX], *inst = NULL;

		if (ri < 0)
			continue;
		if (o->flag != NULL)
			text = *CFIELD(args, o->argoff, cstr_t);
		if (text != NULL)
			name = o->flag;
		else if (ei >= 0 && es->v[ei] != NULL) {
			text = es->v[ei];
			name = env_names[ei];
			if (ei == E_HOST && es->v[E_PORT] != NULL) {
				size_t n = strlen(es->v[E_HOST]) +
				    strlen(es->v[E_PORT]) + 2;

				if ((inst = malloc(n)) == NULL) {
					l->e.oom = 1;
					return;
				}
				snprintf(inst, n, "%s:%s", es->v[E_HOST],
				    es->v[E_PORT]);
				text = inst;
			}
			if (es->line[ei] == 0)
				loc = "env ";
			else {
				snprintf(locbuf, sizeof(locbuf), "%s:%u: ",
				    es->file, es->line[ei]);
				loc = locbuf;
			}
		}
		if (text != NULL)
			store_text(l, &rows[ri], text, loc, name);
		free(inst);
	}
}

/* --- load ------------------------------------------------------------------------ */

static int
ld_init(ld *l)
{
	cfg *c;

	memset(l, 0, sizeof(*l));
	cfg_eb_init(&l->e, NULL);
	cfg_eb_init(&l->w, NULL);
	if ((c = l->c = calloc(1, sizeof(*c))) == NULL) {
		l->e.oom = 1;
		return -1;
	}
	for (size_t i = 0; i < CFG_NROWS; i++) {
		const row *r = &rows[i];

		switch (r->type) {
		case T_NUM:
			*FIELD(c, r->off, double) = r->dnum;
			break;
		case T_INT:
			*FIELD(c, r->off, long) = (long)r->dnum;
			break;
		case T_BOOL:
		case T_SYNC:
		case T_LEVEL:
			*FIELD(c, r->off, int) = (int)r->dnum;
			break;
		case T_STR:
		case T_PATH:
		case T_URL:
		case T_JOB:
		case T_INSTANCE:
		case T_LISTEN:
			if (r->dstr != NULL && (*FIELD(c, r->off, str_t) =
			    strdup(r->dstr)) == NULL) {
				l->e.oom = 1;
				return -1;
			}
			break;
		case T_HEADERS:
		case T_HIST:
			break;
		}
	}
	return 0;
}

/*
 * The heartbeat against the interval, once every layer is applied (either
 * may come from any). Unset, it is CFG_HEARTBEAT_INTERVALS intervals and at
 * least CFG_HEARTBEAT_MIN seconds; set, anything from the interval up (a
 * test, or a gateway that few agents share, may want it short). Below the
 * interval it could not be kept (rounds are an interval apart), so it is
 * refused rather than quietly raised.
 */
static void
heartbeat_settle(ld *l)
{
	int ri = cfg_row_find("pushgateway.heartbeat");
	cfg *c = l->c;

	if (c->heartbeat == 0) {
		c->heartbeat = CFG_HEARTBEAT_INTERVALS * c->interval;
		if (c->heartbeat < CFG_HEARTBEAT_MIN)
			c->heartbeat = CFG_HEARTBEAT_MIN;
		return;
	}
	if (c->heartbeat < c->interval)
		cfg_eb_add(&l->e, "%s: %.15g is less than pushgateway.interval "
		    "(%.15g); set pushgateway.heartbeat to at least the "
		    "interval, or leave it out for the default (%d times the "
		    "interval, at least %d seconds)", ri >= 0 &&
		    l->origin[ri] != NULL ? l->origin[ri] :
		    "pushgateway.heartbeat", c->heartbeat, c->interval,
		    CFG_HEARTBEAT_INTERVALS, CFG_HEARTBEAT_MIN);
}

/* What no layer gave and cannot be a constant. */
static void
finish(ld *l)
{
	char host[256];

	if (l->c->instance != NULL)
		return;
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	if ((l->c->instance = strdup(host)) == NULL)
		l->e.oom = 1;
}

static cfg_err
ld_result(ld *l, cfg **out, char **errors)
{
	char *msgs = cfg_eb_take(&l->e);
	char *warns = cfg_eb_take(&l->w);
	cfg_err rc = CFG_OK;

	if (l->e.oom || l->w.oom)
		rc = CFG_ENOMEM;
	else if (l->enoent)
		rc = CFG_ENOENT;
	else if (msgs != NULL)
		rc = CFG_EINVAL;
	for (size_t i = 0; i < CFG_NROWS; i++)
		free(l->origin[i]);
	if (rc == CFG_OK) {
		l->c->warnings = warns;
		*out = l->c;
		return rc;
	}
	free(warns);
	cfg_free(l->c);
	if (rc == CFG_ENOMEM || errors == NULL)
		free(msgs);
	else
		*errors = msgs;
	return rc;
}

cfg_err
cfg_load(const cfg_args *args, char *const *envp, const char *default_file,
    cfg **out, char **errors)
{
	static const cfg_args none;
	envset es;
	ld l;
	cfg_err rc;

	*out = NULL;
	if (errors != NULL)
		*errors = NULL;
	if (args == NULL)
		args = &none;
	memset(&es, 0, sizeof(es));
	/* docs/agent.md's precedence, lowest layer first, each later one overwriting: defaults,
	 * the config file, then per setting the env file, the environment
	 * and the command line (apply_overrides). */
	if (ld_init(&l) != 0)
		goto out;
	if (args->config_file != NULL)
		cfg_read_file(&l, args->config_file, 1);
	else
		cfg_read_file(&l, default_file ? default_file :
		    CFG_DEFAULT_FILE, 0);
	if (args->env_file != NULL)
		cfg_read_env_file(&l, &es, args->env_file);
	cfg_read_environ(&l, &es, envp);
	apply_overrides(&l, &es, args);
	heartbeat_settle(&l);
	finish(&l);
out:
	rc = ld_result(&l, out, errors);
	cfg_envset_free(&es);
	return rc;
}

cfg_err
cfg_load_string(const char *text, const char *name, cfg **out, char **errors)
{
	ld l;

	*out = NULL;
	if (errors != NULL)
		*errors = NULL;
	if (text == NULL)
		text = "";
	if (name == NULL)
		name = "config";
	if (ld_init(&l) != 0)
		goto out;
	l.name = name;
	if ((l.c->config_file = strdup(name)) == NULL) {
		l.e.oom = 1;
		goto out;
	}
	if (cfg_read_string(&l, text) != 0)
		goto out;
	heartbeat_settle(&l);
	finish(&l);
out:
	return ld_result(&l, out, errors);
}

/* --- free ---------------------------------------------------------------------- */

void
cfg_free(cfg *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < CFG_NROWS; i++) {
		const row *r = &rows[i];
		char **sp;

		switch (r->type) {
		case T_STR:
		case T_PATH:
		case T_URL:
		case T_JOB:
		case T_INSTANCE:
		case T_LISTEN:
			cfg_free_str(FIELD(c, r->off, str_t));
			if (r->secret != NULL &&
			    *(sp = FIELD(c, r->off_secret, str_t)) != NULL) {
				explicit_bzero(*sp, strlen(*sp));
				cfg_free_str(sp);
			}
			break;
		case T_HEADERS:
			cfg_free_headers(*FIELD(c, r->off, strv_t),
			    *FIELD(c, r->off_n, size_t));
			break;
		case T_HIST:
			cfg_free_hists(*FIELD(c, r->off, hist_t),
			    *FIELD(c, r->off_n, size_t));
			break;
		case T_NUM:
		case T_INT:
		case T_BOOL:
		case T_SYNC:
		case T_LEVEL:
			break;
		}
	}
	free(c->config_file);
	free(c->env_file);
	free(c->warnings);
	free(c);
}

