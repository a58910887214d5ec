/*
 * cfg_env.c — the env file and the environment: the parser of KEY=VALUE
 * lines (cfg_parse_env(), which the fuzzer calls, and the load), and the
 * reading of the env file and of envp into an envset, the names of
 * cfg_env_names[] only. cfg.c applies the winners over the file's settings.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "cfg_int.h"

/* The cap of an env file (the other caps: cfg_int.h). */
#define ENVFILE_MAX  (1024 * 1024)

/* --- the env file -------------------------------------------------------------- */

typedef int (*env_fn)(const char *key, const char *value, unsigned line,
    void *arg);

static int
valid_env_name(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/*
 * One line of an env file, without its newline, into key and val (each big
 * enough for the line). *has says whether the line held a pair. Returns 0,
 * or -1 with the reason in why.
 *
 * The format is the common ground of docker's --env-file, python-dotenv and
 * the shell: blanks around the name and around an unquoted value are
 * dropped; " #" starts a comment after an unquoted value; a double-quoted
 * value takes \" \\ \n and keeps any other backslash as written (as the
 * shell does); a single-quoted value is literal; no ${VAR} expansion, and a
 * quoted value ends on its line.
 */
static int
env_line(const char *s, size_t n, char *key, char *val, int *has,
    char *why, size_t wn)
{
	size_t i = 0, k0, k1, o = 0;
	char sb[80];

	*has = 0;
	if (memchr(s, '\0', n) != NULL) {
		snprintf(why, wn, "contains a NUL byte");
		return -1;
	}
	while (i < n && cfg_blank(s[i]))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	if (n - i > 6 && memcmp(s + i, "export", 6) == 0 && cfg_blank(s[i + 6]))
		for (i += 6; i < n && cfg_blank(s[i]); i++)
			;
	k0 = i;
	while (i < n && s[i] != '=')
		i++;
	if (i == n) {
		snprintf(why, wn, "expected KEY=VALUE");
		return -1;
	}
	for (k1 = i; k1 > k0 && cfg_blank(s[k1 - 1]); k1--)
		;
	memcpy(key, s + k0, k1 - k0);
	key[k1 - k0] = '\0';
	if (!valid_env_name(key, k1 - k0)) {
		snprintf(why, wn, "bad variable name '%s'",
		    cfg_shown(key, sb, sizeof(sb)));
		return -1;
	}
	for (i++; i < n && cfg_blank(s[i]); i++)
		;
	if (i < n && (s[i] == '"' || s[i] == '\'')) {
		char q = s[i++];

		for (;;) {
			if (i == n) {
				snprintf(why, wn, "unterminated %s quote",
				    q == '"' ? "double" : "single");
				return -1;
			}
			if (s[i] == q) {
				i++;
				break;
			}
			if (q == '"' && s[i] == '\\' && i + 1 < n &&
			    (s[i + 1] == '"' || s[i + 1] == '\\' ||
			    s[i + 1] == 'n')) {
				val[o++] = s[i + 1] == 'n' ? '\n' : s[i + 1];
				i += 2;
				continue;
			}
			val[o++] = s[i++];
		}
		while (i < n && cfg_blank(s[i]))
			i++;
		if (i < n && s[i] != '#') {
			snprintf(why, wn, "unexpected text after the closing "
			    "quote");
			return -1;
		}
	} else {
		size_t v0 = i, v1;

		while (i < n && !(s[i] == '#' && cfg_blank(s[i - 1])))
			i++;
		for (v1 = i; v1 > v0 && cfg_blank(s[v1 - 1]); v1--)
			;
		memcpy(val, s + v0, v1 - v0);
		o = v1 - v0;
	}
	val[o] = '\0';
	*has = 1;
	return 0;
}

/* fn's nonzero answer stops the parse; CFG_ENOMEM is passed on as is, any
 * other as CFG_EINVAL. */
static cfg_err
env_parse(const char *text, size_t len, const char *name, env_fn fn,
    void *arg, ebuf *e)
{
	char *key = NULL, *val = NULL, why[160];
	size_t pos = 0;
	unsigned lineno = 0;
	int bad = 0, has, r;
	cfg_err rc = CFG_OK;

	if (text == NULL)
		len = 0;
	if ((key = malloc(len + 1)) == NULL || (val = malloc(len + 1)) == NULL) {
		rc = CFG_ENOMEM;
		goto out;
	}
	/* A byte-order mark from a Windows editor is not part of a name. */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *ln = text + pos, *nl;
		size_t n;

		nl = memchr(ln, '\n', len - pos);
		n = nl ? (size_t)(nl - ln) : len - pos;
		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n > 0 && ln[n - 1] == '\r')
			n--;
		if (env_line(ln, n, key, val, &has, why, sizeof(why)) != 0) {
			cfg_eb_add(e, "%s:%u: %s", name, lineno, why);
			bad = 1;
			continue;
		}
		if (has && fn != NULL && (r = fn(key, val, lineno, arg)) != 0) {
			rc = r == CFG_ENOMEM ? CFG_ENOMEM : CFG_EINVAL;
			goto out;
		}
	}
	if (e->oom)
		rc = CFG_ENOMEM;
	else if (bad)
		rc = CFG_EINVAL;
out:
	if (val != NULL) {
		/* The env file is often .secrets/.env. */
		explicit_bzero(val, len + 1);
		free(val);
	}
	free(key);
	return rc;
}

typedef struct env_adapter {
	int (*fn)(const char *key, const char *value, void *arg);
	void *arg;
} env_adapter;

static int
env_adapt(const char *key, const char *value, unsigned line, void *arg)
{
	env_adapter *a = arg;

	(void)line;
	return a->fn(key, value, a->arg);
}

cfg_err
cfg_parse_env(const char *text, size_t len, const char *name,
    int (*fn)(const char *key, const char *value, void *arg), void *arg,
    char **errors)
{
	ebuf e;
	env_adapter a = { fn, arg };
	cfg_err rc;
	char *s;

	cfg_eb_init(&e, errors);
	rc = env_parse(text, len, name ? name : "env", fn ? env_adapt : NULL,
	    &a, &e);
	s = cfg_eb_take(&e);
	if (e.oom)
		rc = CFG_ENOMEM;
	if (errors != NULL)
		*errors = s;
	else
		free(s);
	return rc;
}

/* --- the environment ------------------------------------------------------------- */

/*
 * An empty value counts as not given: docker compose passes ${VAR} of an
 * unset variable as empty, and an empty URL, interval or job would be an
 * error rather than what the operator meant.
 */
static int
env_take(envset *es, const char *key, size_t klen, const char *value,
    unsigned line)
{
	for (int i = 0; i < CFG_ENV_N; i++) {
		if (strlen(cfg_env_names[i]) != klen ||
		    memcmp(cfg_env_names[i], key, klen) != 0)
			continue;
		if (*value == '\0')
			return 0;
		free(es->v[i]);
		if ((es->v[i] = strdup(value)) == NULL)
			return CFG_ENOMEM;
		es->line[i] = line;
		return 0;
	}
	return 0;
}

/*
 * A name with the agent's prefixes that it does not read, but that is near
 * one it does (a typo, or the wrong case): a warning with the name meant,
 * since the setting it was meant for silently keeps its default. Only
 * these prefixes are looked at: other programs' variables are none of the
 * agent's business, and collector-spool's own are known.
 */
static void
env_near(ld *l, const char *key, size_t klen, const char *loc)
{
	static const char *const others[] = {
		"COLLECTOR_SPOOL_BUSY_TIMEOUT_MS",
		"COLLECTOR_SPOOL_SYNCHRONOUS",
	};
	const char *near;

	if (!(klen > 11 && strncasecmp(key, "PROMETHEUS_", 11) == 0) &&
	    !(klen > 10 && strncasecmp(key, "COLLECTOR_", 10) == 0))
		return;
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		if (strlen(others[i]) == klen &&
		    memcmp(others[i], key, klen) == 0)
			return;
	near = cfg_near_name(key, klen, cfg_env_names, CFG_ENV_N);
	if (near != NULL)
		cfg_eb_add(&l->w, "%s%.*s: not a name the agent reads, ignored; "
		    "did you mean %s?", loc, (int)klen, key, near);
}

typedef struct file_take {
	ld *l;
	envset *es;
} file_take;

static int
env_file_take(const char *key, const char *value, unsigned line, void *arg)
{
	file_take *ft = arg;
	char loc[LOC_MAX];

	snprintf(loc, sizeof(loc), "%s:%u: ", ft->es->file, line);
	env_near(ft->l, key, strlen(key), loc);
	return env_take(ft->es, key, strlen(key), value, line);
}

void
cfg_read_env_file(ld *l, envset *es, const char *path)
{
	char *buf = NULL;
	size_t len;
	int err;
	file_take ft = { l, es };

	es->file = path;
	err = cfg_slurp(path, ENVFILE_MAX, 0, &buf, &len);
	if (err == ENOMEM) {
		l->e.oom = 1;
		return;
	}
	if (err == EFBIG) {
		cfg_eb_add(&l->e, "%s: too large for an env file (limit %d bytes)",
		    path, ENVFILE_MAX);
		return;
	}
	if (err != 0) {
		cfg_eb_add(&l->e, "%s: cannot read the env file (%s)", path,
		    strerror(err));
		l->enoent = 1;
		return;
	}
	if (env_parse(buf, len, path, env_file_take, &ft, &l->e) ==
	    CFG_ENOMEM)
		l->e.oom = 1;
	explicit_bzero(buf, len);
	free(buf);
	if ((l->c->env_file = strdup(path)) == NULL)
		l->e.oom = 1;
}

void
cfg_read_environ(ld *l, envset *es, char *const *envp)
{
	for (; envp != NULL && *envp != NULL; envp++) {
		const char *eq = strchr(*envp, '=');

		if (eq == NULL)
			continue;
		env_near(l, *envp, (size_t)(eq - *envp), "env ");
		if (env_take(es, *envp, (size_t)(eq - *envp), eq + 1, 0) != 0)
			l->e.oom = 1;
	}
}

void
cfg_envset_free(envset *es)
{
	for (int i = 0; i < CFG_ENV_N; i++)
		free(es->v[i]);
}

