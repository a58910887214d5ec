/* The agent's settings: defaults, each environment name, the env-file
 * format, precedence across the five layers, every class of error message
 * (exact text), secrets and their redaction, and the example file in
 * contrib/. Runs from the repository root. */
#include "testutil.h"

#include <math.h>
#include <sys/stat.h>

#include "cfg.h"
#include "log.h"

static char *dir;

static int
setup(void **state)
{
	(void)state;
	dir = tu_mkdtemp();
	return dir == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	tu_rmdir(dir);
	dir = NULL;
	return 0;
}

/* dir/name holding text; the path is the caller's. */
static char *
put_file(const char *name, const char *text)
{
	char *p = tu_path(dir, name);
	FILE *f;

	assert_non_null(p);
	f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
	return p;
}

/* A NULL-terminated, writable copy of list, as environ is. */
static char **
mkenv(const char *const *list)
{
	size_t n = 0;
	char **e;

	while (list != NULL && list[n] != NULL)
		n++;
	e = calloc(n + 1, sizeof(*e));
	assert_non_null(e);
	for (size_t i = 0; i < n; i++)
		assert_non_null(e[i] = strdup(list[i]));
	return e;
}

static void
freeenv(char **e)
{
	for (size_t i = 0; e[i] != NULL; i++)
		free(e[i]);
	free(e);
}

static const char *const no_env[] = { NULL };

/* cfg_load with no config file (a missing default), envp from list. */
static cfg_err
load_env(const cfg_args *a, const char *const *list, cfg **c, char **errs)
{
	char **e = mkenv(list);
	char *none = tu_path(dir, "no-such-default.conf");
	cfg_err rc = cfg_load(a, e, none, c, errs);

	freeenv(e);
	free(none);
	return rc;
}

/* Loads text that must be refused; checks the exact messages. */
static void
expect_errors(const char *text, const char *want)
{
	cfg *c = (cfg *)1;
	char *errs = NULL;

	assert_int_equal(cfg_load_string(text, "t.conf", &c, &errs),
	    CFG_EINVAL);
	assert_null(c);
	assert_non_null(errs);
	assert_string_equal(errs, want);
	free(errs);
}

static cfg *
load_ok(const char *text)
{
	cfg *c = NULL;
	char *errs = NULL;

	if (cfg_load_string(text, "t.conf", &c, &errs) != CFG_OK)
		fail_msg("unexpected errors:\n%s", errs ? errs : "(none)");
	assert_null(errs);
	assert_non_null(c);
	return c;
}

static char *
print_cfg(const cfg *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	cfg_print(c, f);
	fclose(f);
	return buf;
}

static void
test_strerror(void **state)
{
	(void)state;
	assert_string_equal(cfg_strerror(CFG_OK), "success");
	assert_string_equal(cfg_strerror(CFG_EINVAL), "invalid configuration");
	assert_string_equal(cfg_strerror(CFG_ENOENT),
	    "configuration file missing or unreadable");
	assert_string_equal(cfg_strerror(CFG_ENOMEM), "out of memory");
}

static void
test_defaults(void **state)
{
	cfg_args a = { 0 };
	cfg *c = NULL;
	char *errs = (char *)1, host[256] = "";

	(void)state;
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_OK);
	assert_null(errs);
	assert_string_equal(c->spool_path, "/var/lib/collector-agent/spool.db");
	assert_int_equal(c->spool_sync_full, 0);
	assert_int_equal(c->max_groups, 1000);
	assert_int_equal(c->max_series_per_group, 20000);
	assert_int_equal(c->max_series, 100000);
	assert_string_equal(c->gw.url, "http://127.0.0.1:9091");
	assert_int_equal(c->enabled, 1);
	assert_true(c->interval == 60);
	assert_string_equal(c->job, "collector_agent");
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_string_equal(c->instance, host);
	assert_true(c->gw.timeout == 10);
	assert_true(c->retry_min == 1);
	assert_true(c->retry_max == 60);
	assert_true(c->group_ttl == 0);
	assert_true(c->once_timeout == 30);
	/* Gzip for the gateway; remote write has its own encoding. */
	assert_int_equal(c->gw.gzip, 1);
	assert_int_equal(c->rw.gzip, 0);
	/* Ten intervals of 60 s. */
	assert_true(c->heartbeat == 600);
	assert_int_equal(c->once_self_metrics, 0);
	assert_null(c->gw.username);
	assert_null(c->gw.password);
	assert_null(c->gw.password_file);
	assert_null(c->gw.bearer_token);
	assert_null(c->gw.bearer_token_file);
	assert_null(c->gw.ca_file);
	assert_null(c->gw.cert_file);
	assert_null(c->gw.key_file);
	assert_int_equal(c->gw.insecure_skip_verify, 0);
	assert_null(c->gw.headers);
	assert_int_equal(c->gw.n_headers, 0);
	assert_null(c->rw.url);
	assert_true(c->rw.timeout == 30);
	assert_int_equal(c->rw_max_samples_per_send, 2000);
	assert_null(c->listen);
	assert_null(c->histograms);
	assert_int_equal(c->n_histograms, 0);
	assert_int_equal(c->log_level, LOG_LINFO);
	/* The default file was missing: no error, and no file named. */
	assert_null(c->config_file);
	assert_null(c->env_file);
	cfg_free(c);
	cfg_free(NULL);

	/* An empty file gives the same, and names itself. */
	c = load_ok("");
	assert_true(c->interval == 60);
	assert_string_equal(c->config_file, "t.conf");
	cfg_free(c);
}

static void
test_missing_c_file(void **state)
{
	cfg_args a = { 0 };
	cfg *c = (cfg *)1;
	char *errs = NULL, *want = NULL;

	(void)state;
	a.config_file = "/nonexistent/collector-agent.conf";
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_ENOENT);
	assert_null(c);
	assert_string_equal(errs, "/nonexistent/collector-agent.conf: cannot "
	    "read the configuration file (No such file or directory)\n");
	free(errs);

	/* A directory is no configuration file either. */
	a.config_file = dir;
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_ENOENT);
	assert_true(asprintf(&want, "%s: cannot read the configuration file "
	    "(Is a directory)\n", dir) > 0);
	assert_string_equal(errs, want);
	free(want);
	free(errs);
}

static void
test_missing_env_file(void **state)
{
	cfg_args a = { 0 };
	cfg *c = (cfg *)1;
	char *errs = NULL;

	(void)state;
	a.env_file = "/nonexistent/.env";
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_ENOENT);
	assert_null(c);
	assert_string_equal(errs, "/nonexistent/.env: cannot read the env "
	    "file (No such file or directory)\n");
	free(errs);
}

static void
test_default_file_used(void **state)
{
	char *p = put_file("default.conf", "pushgateway: { interval = 5; };\n");
	char **e = mkenv(no_env);
	cfg_args a = { 0 };
	cfg *c = NULL;
	char *errs = NULL;

	(void)state;
	assert_int_equal(cfg_load(&a, e, p, &c, &errs), CFG_OK);
	assert_true(c->interval == 5);
	assert_string_equal(c->config_file, p);
	cfg_free(c);
	/* NULL args and NULL envp are allowed. */
	assert_int_equal(cfg_load(NULL, NULL, p, &c, &errs), CFG_OK);
	assert_true(c->interval == 5);
	cfg_free(c);
	freeenv(e);
	free(p);
}

static void
test_env_each_name(void **state)
{
	static const char *const env[] = {
		"PROMETHEUS_PUSHGATEWAY_URL=https://gw.example.org/pushgateway/",
		"PROMETHEUS_PUSHGATEWAY_ENABLED=false",
		"PROMETHEUS_PUSHGATEWAY_INTERVAL=15.5",
		"PROMETHEUS_PUSHGATEWAY_GZIP=no",
		"PROMETHEUS_PUSHGATEWAY_HEARTBEAT=40",
		"PROMETHEUS_JOB_NAME=collector_api",
		"COLLECTOR_SPOOL=/tmp/x/spool.db",
		"API_HOST=0.0.0.0",
		"API_PORT=5000",
		"UNRELATED=1",
		"NOEQUALS",
		NULL
	};
	cfg_args a = { 0 };
	cfg *c = NULL;
	char *errs = NULL;

	(void)state;
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_OK);
	/* The trailing slash goes; the path prefix stays. */
	assert_string_equal(c->gw.url, "https://gw.example.org/pushgateway");
	assert_int_equal(c->enabled, 0);
	assert_true(c->interval == 15.5);
	assert_int_equal(c->gw.gzip, 0);
	assert_true(c->heartbeat == 40);
	assert_string_equal(c->job, "collector_api");
	assert_string_equal(c->spool_path, "/tmp/x/spool.db");
	assert_string_equal(c->instance, "0.0.0.0:5000");
	cfg_free(c);
}

static void
test_env_enabled_spellings(void **state)
{
	static const struct {
		const char *v;
		int want;
	} cases[] = {
		{ "true", 1 }, { "TRUE", 1 }, { "1", 1 }, { "yes", 1 },
		{ "Yes", 1 }, { "false", 0 }, { "False", 0 }, { "0", 0 },
		{ "no", 0 }, { "NO", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *var = NULL;
		const char *env[2] = { NULL, NULL };
		cfg_args a = { 0 };
		cfg *c = NULL;
		char *errs = NULL;

		assert_true(asprintf(&var, "PROMETHEUS_PUSHGATEWAY_ENABLED=%s",
		    cases[i].v) > 0);
		env[0] = var;
		assert_int_equal(load_env(&a, env, &c, &errs), CFG_OK);
		assert_int_equal(c->enabled, cases[i].want);
		cfg_free(c);
		free(var);
	}
}

static void
test_env_instance(void **state)
{
	static const char *const host_only[] = { "API_HOST=api1", NULL };
	static const char *const port_only[] = { "API_PORT=5000", NULL };
	cfg_args a = { 0 };
	cfg *c = NULL;
	char *errs = NULL, host[256] = "";

	(void)state;
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_int_equal(load_env(&a, host_only, &c, &errs), CFG_OK);
	assert_string_equal(c->instance, "api1");
	cfg_free(c);
	/* A port without its host names no instance: the host name. */
	assert_int_equal(load_env(&a, port_only, &c, &errs), CFG_OK);
	assert_string_equal(c->instance, host);
	cfg_free(c);
	/* --instance beats the environment. */
	a.instance = "db1";
	assert_int_equal(load_env(&a, host_only, &c, &errs), CFG_OK);
	assert_string_equal(c->instance, "db1");
	cfg_free(c);
}

static void
test_env_empty_is_unset(void **state)
{
	static const char *const env[] = {
		"PROMETHEUS_PUSHGATEWAY_URL=", "PROMETHEUS_PUSHGATEWAY_INTERVAL=",
		"PROMETHEUS_JOB_NAME=", NULL
	};
	cfg_args a = { 0 };
	cfg *c = NULL;
	char *errs = NULL;

	(void)state;
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_OK);
	assert_string_equal(c->gw.url, "http://127.0.0.1:9091");
	assert_true(c->interval == 60);
	assert_string_equal(c->job, "collector_agent");
	cfg_free(c);
}

static void
test_env_bad_values(void **state)
{
	static const char *const env[] = {
		"PROMETHEUS_PUSHGATEWAY_URL=ftp://gw",
		"PROMETHEUS_PUSHGATEWAY_ENABLED=maybe",
		"PROMETHEUS_PUSHGATEWAY_INTERVAL=abc",
		"PROMETHEUS_PUSHGATEWAY_GZIP=sometimes",
		"COLLECTOR_SPOOL=/x\ty",
		NULL
	};
	static const char *const env2[] = {
		"PROMETHEUS_PUSHGATEWAY_INTERVAL=0", NULL
	};
	static const char *const env3[] = {
		"PROMETHEUS_PUSHGATEWAY_INTERVAL= 60", NULL
	};
	cfg_args a = { 0 };
	cfg *c = (cfg *)1;
	char *errs = NULL;

	(void)state;
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_EINVAL);
	assert_null(c);
	assert_string_equal(errs,
	    "env COLLECTOR_SPOOL: must not contain control characters\n"
	    "env PROMETHEUS_PUSHGATEWAY_URL: bad URL 'ftp://gw': must start "
	    "with http:// or https://\n"
	    "env PROMETHEUS_PUSHGATEWAY_ENABLED: expected true or false: "
	    "'maybe'\n"
	    "env PROMETHEUS_PUSHGATEWAY_GZIP: expected true or false: "
	    "'sometimes'\n"
	    "env PROMETHEUS_PUSHGATEWAY_INTERVAL: not a number: 'abc'\n");
	free(errs);
	assert_int_equal(load_env(&a, env2, &c, &errs), CFG_EINVAL);
	assert_string_equal(errs, "env PROMETHEUS_PUSHGATEWAY_INTERVAL: must "
	    "be between 1 and 86400\n");
	free(errs);
	assert_int_equal(load_env(&a, env3, &c, &errs), CFG_EINVAL);
	assert_string_equal(errs, "env PROMETHEUS_PUSHGATEWAY_INTERVAL: not a "
	    "number: ' 60'\n");
	free(errs);
}

static void
test_args(void **state)
{
	cfg_args a = { 0 };
	cfg *c = NULL;
	char *errs = NULL;

	(void)state;
	a.spool = "/tmp/s.db";
	a.gateway = "http://[::1]:9091/";
	a.job = "batch";
	a.instance = "i-1";
	a.interval = "2.5";
	a.heartbeat = "5";
	a.listen = "[::1]:9102";
	a.log_level = "debug";
	a.remote_write = "https://mimir.example.org/api/v1/push";
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_OK);
	assert_string_equal(c->spool_path, "/tmp/s.db");
	assert_string_equal(c->gw.url, "http://[::1]:9091");
	assert_string_equal(c->job, "batch");
	assert_string_equal(c->instance, "i-1");
	assert_true(c->interval == 2.5);
	assert_true(c->heartbeat == 5);
	assert_string_equal(c->listen, "[::1]:9102");
	assert_int_equal(c->log_level, LOG_LDEBUG);
	assert_string_equal(c->rw.url, "https://mimir.example.org/api/v1/push");
	cfg_free(c);

	/* --listen "" disables; so does --remote-write "". */
	memset(&a, 0, sizeof(a));
	a.listen = "";
	a.remote_write = "";
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_OK);
	assert_null(c->listen);
	assert_null(c->rw.url);
	cfg_free(c);

	memset(&a, 0, sizeof(a));
	a.interval = "abc";
	a.log_level = "verbose";
	a.listen = "9102";
	a.gateway = "http://";
	a.job = "";
	a.instance = "";
	a.spool = "";
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_EINVAL);
	assert_string_equal(errs,
	    "--spool: must not be empty\n"
	    "--gateway: bad URL 'http://': has no host\n"
	    "--interval: not a number: 'abc'\n"
	    "--job: must not be empty\n"
	    "--instance: must not be empty\n"
	    "--listen: must be ADDR:PORT (or \"\" to disable): '9102'\n"
	    "--log-level: must be debug, info, warn or error: 'verbose'\n");
	free(errs);

	memset(&a, 0, sizeof(a));
	a.interval = "86401";
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_EINVAL);
	assert_string_equal(errs, "--interval: must be between 1 and 86400\n");
	free(errs);
}

/* Each of the five layers in turn is the highest one given. */
static void
test_precedence(void **state)
{
	char *conf = put_file("p.conf", "pushgateway: { interval = 10; "
	    "url = \"http://file:1\"; };\n");
	char *envf = put_file("p.env", "PROMETHEUS_PUSHGATEWAY_INTERVAL=20\n"
	    "PROMETHEUS_PUSHGATEWAY_URL=http://envfile:2\n");
	static const char *const env[] = {
		"PROMETHEUS_PUSHGATEWAY_INTERVAL=30",
		"PROMETHEUS_PUSHGATEWAY_URL=http://env:3", NULL
	};
	cfg_args a = { 0 };
	cfg *c = NULL;
	char *errs = NULL;

	(void)state;
	/* 5: command line over everything. */
	a.config_file = conf;
	a.env_file = envf;
	a.interval = "40";
	a.gateway = "http://args:4";
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_OK);
	assert_true(c->interval == 40);
	assert_string_equal(c->gw.url, "http://args:4");
	assert_string_equal(c->config_file, conf);
	assert_string_equal(c->env_file, envf);
	cfg_free(c);
	/* 4: the environment over the env file. */
	a.interval = NULL;
	a.gateway = NULL;
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_OK);
	assert_true(c->interval == 30);
	assert_string_equal(c->gw.url, "http://env:3");
	cfg_free(c);
	/* 3: the env file over the config file. */
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_OK);
	assert_true(c->interval == 20);
	assert_string_equal(c->gw.url, "http://envfile:2");
	cfg_free(c);
	/* 2: the config file over the defaults. */
	a.env_file = NULL;
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_OK);
	assert_true(c->interval == 10);
	assert_string_equal(c->gw.url, "http://file:1");
	cfg_free(c);
	/* 1: the defaults. */
	a.config_file = NULL;
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_OK);
	assert_true(c->interval == 60);
	assert_string_equal(c->gw.url, "http://127.0.0.1:9091");
	cfg_free(c);
	free(conf);
	free(envf);
}

/* The real environment wins over the env file per variable, and a bad
 * value in the env file is reported with its line. */
static void
test_env_file_layer(void **state)
{
	char *envf = put_file("l.env", "# the application's .env\n"
	    "DATABASE_URL=postgres://u:p@db/app\n"
	    "export PROMETHEUS_JOB_NAME=\"from file\"\n"
	    "PROMETHEUS_PUSHGATEWAY_INTERVAL=7\n"
	    "API_HOST=10.0.0.1\n");
	char *bad = put_file("b.env", "A=1\n\nPROMETHEUS_PUSHGATEWAY_INTERVAL=x\n"
	    "oops\nPROMETHEUS_PUSHGATEWAY_ENABLED=maybe\n");
	static const char *const env[] = {
		"PROMETHEUS_PUSHGATEWAY_INTERVAL=9", "API_PORT=5000", NULL
	};
	cfg_args a = { 0 };
	cfg *c = NULL;
	char *errs = NULL, *want = NULL;

	(void)state;
	a.env_file = envf;
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_OK);
	assert_string_equal(c->job, "from file");
	assert_true(c->interval == 9);
	/* API_HOST from the file pairs with API_PORT from the environment. */
	assert_string_equal(c->instance, "10.0.0.1:5000");
	cfg_free(c);

	a.env_file = bad;
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_EINVAL);
	assert_true(asprintf(&want,
	    "%s:4: expected KEY=VALUE\n"
	    "%s:5: PROMETHEUS_PUSHGATEWAY_ENABLED: expected true or false: "
	    "'maybe'\n"
	    "%s:3: PROMETHEUS_PUSHGATEWAY_INTERVAL: not a number: 'x'\n",
	    bad, bad, bad) > 0);
	assert_string_equal(errs, want);
	free(want);
	free(errs);
	/* The environment's good value replaces the file's bad one. */
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_EINVAL);
	assert_true(asprintf(&want,
	    "%s:4: expected KEY=VALUE\n"
	    "%s:5: PROMETHEUS_PUSHGATEWAY_ENABLED: expected true or false: "
	    "'maybe'\n", bad, bad) > 0);
	assert_string_equal(errs, want);
	free(want);
	free(errs);
	free(envf);
	free(bad);
}

typedef struct kv {
	char buf[4096];
	size_t len;
} kv;

/* Collects "key=value|" for each pair. */
static int
collect(const char *key, const char *value, void *arg)
{
	kv *k = arg;
	int n = snprintf(k->buf + k->len, sizeof(k->buf) - k->len, "%s=%s|",
	    key, value);

	assert_true(n > 0 && (size_t)n < sizeof(k->buf) - k->len);
	k->len += (size_t)n;
	return 0;
}

static void
test_env_parse(void **state)
{
	static const char text[] =
	    "\xef\xbb\xbf# comment\n"
	    "\n"
	    "   \t\n"
	    "PLAIN=value\n"
	    "export EXPORTED=yes\n"
	    "export\tTABBED=1\n"
	    "  SPACED  =  padded value  \n"
	    "EMPTY=\n"
	    "DQ=\"a \\\"quoted\\\" \\\\ value\\nline2\"\n"
	    "DQ_OTHER=\"C:\\temp\\$x\"\n"
	    "SQ='single \\n \"kept\" # not a comment'\n"
	    "INLINE=abc # a comment\n"
	    "HASH=abc#def\n"
	    "QCOMMENT=\"q\" # after\n"
	    "CRLF=windows\r\n"
	    "URL=https://h/p?q=1&r=2\n"
	    "EQ=a=b=c\n"
	    "_under9=x\n"
	    "LAST=no newline";
	kv k = { "", 0 };
	char *errs = NULL;

	(void)state;
	assert_int_equal(cfg_parse_env(text, sizeof(text) - 1, "x.env",
	    collect, &k, &errs), CFG_OK);
	assert_null(errs);
	assert_string_equal(k.buf,
	    "PLAIN=value|EXPORTED=yes|TABBED=1|SPACED=padded value|EMPTY=|"
	    "DQ=a \"quoted\" \\ value\nline2|DQ_OTHER=C:\\temp\\$x|"
	    "SQ=single \\n \"kept\" # not a comment|INLINE=abc|HASH=abc#def|"
	    "QCOMMENT=q|CRLF=windows|URL=https://h/p?q=1&r=2|EQ=a=b=c|"
	    "_under9=x|LAST=no newline|");

	/* A NULL fn only validates; an empty text is fine. */
	assert_int_equal(cfg_parse_env("A=1\n", 4, "x.env", NULL, NULL,
	    &errs), CFG_OK);
	assert_int_equal(cfg_parse_env("", 0, "x.env", collect, &k, &errs),
	    CFG_OK);
	assert_null(errs);
}

static void
test_env_parse_bad_lines(void **state)
{
	static const char text[] =
	    "GOOD=1\n"
	    "no equals sign\n"
	    "1ABC=x\n"
	    "FOO-BAR=x\n"
	    "=value\n"
	    "DQ=\"unterminated\n"
	    "SQ='unterminated\n"
	    "AFTER=\"x\" y\n"
	    "export\n"
	    "NUL=a\0b\n"
	    "BAD KEY=1\n"
	    "OK2=2\n";
	kv k = { "", 0 };
	char *errs = NULL;

	(void)state;
	assert_int_equal(cfg_parse_env(text, sizeof(text) - 1, "x.env",
	    collect, &k, &errs), CFG_EINVAL);
	assert_string_equal(errs,
	    "x.env:2: expected KEY=VALUE\n"
	    "x.env:3: bad variable name '1ABC'\n"
	    "x.env:4: bad variable name 'FOO-BAR'\n"
	    "x.env:5: bad variable name ''\n"
	    "x.env:6: unterminated double quote\n"
	    "x.env:7: unterminated single quote\n"
	    "x.env:8: unexpected text after the closing quote\n"
	    "x.env:9: expected KEY=VALUE\n"
	    "x.env:10: contains a NUL byte\n"
	    "x.env:11: bad variable name 'BAD KEY'\n");
	/* The good lines still reach fn. */
	assert_string_equal(k.buf, "GOOD=1|OK2=2|");

	/* Messages are appended to what *errors held. */
	assert_int_equal(cfg_parse_env("x", 1, "y.env", NULL, NULL, &errs),
	    CFG_EINVAL);
	assert_non_null(strstr(errs, "x.env:11: bad variable name 'BAD KEY'\n"
	    "y.env:1: expected KEY=VALUE\n"));
	free(errs);
}

static int
stop_at_b(const char *key, const char *value, void *arg)
{
	(void)value;
	(*(int *)arg)++;
	return strcmp(key, "B") == 0 ? CFG_ENOMEM : 0;
}

static void
test_env_parse_fn_stops(void **state)
{
	int calls = 0;
	char *errs = NULL;

	(void)state;
	assert_int_equal(cfg_parse_env("A=1\nB=2\nC=3\n", 12, "x.env",
	    stop_at_b, &calls, &errs), CFG_ENOMEM);
	assert_int_equal(calls, 2);
	assert_null(errs);
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	expect_errors("pushgateway: {\n  foo = 1;\n};\n",
	    "t.conf:2: unknown setting 'pushgateway.foo'\n");
	expect_errors("intervall = 60;\n",
	    "t.conf:1: unknown setting 'intervall'\n");
	expect_errors("spool: { path = \"/x\"; sync = \"full\"; };\n",
	    "t.conf:1: unknown setting 'spool.sync'\n");
	expect_errors("log: { level = \"info\"; nested: { a = 1; }; };\n",
	    "t.conf:1: unknown setting 'log.nested'\n");
	expect_errors("histograms = ( { name = \"h\"; buckets = [ 1.0 ]; "
	    "foo = 1; } );\n",
	    "t.conf:1: unknown setting 'histograms[0].foo'\n");
}

/* A misspelt key says the setting meant: two edits away, or another case. */
static void
test_unknown_keys_near(void **state)
{
	(void)state;
	expect_errors("pushgateway: { intervall = 60; };\n",
	    "t.conf:1: unknown setting 'pushgateway.intervall'; did you mean "
	    "'pushgateway.interval'?\n");
	expect_errors("pushgateway: { URL = \"http://h:9091\"; };\n",
	    "t.conf:1: unknown setting 'pushgateway.URL'; did you mean "
	    "'pushgateway.url'?\n");
	expect_errors("pushgateway: { pasword_file = \"/p\"; };\n",
	    "t.conf:1: unknown setting 'pushgateway.pasword_file'; did you "
	    "mean 'pushgateway.password_file'?\n");
	/* A section's name too. */
	expect_errors("pushgatway = 1;\n",
	    "t.conf:1: unknown setting 'pushgatway'; did you mean "
	    "'pushgateway'?\n");
	/* Three edits: no guess. */
	expect_errors("pushgateway: { intervalls_ = 60; };\n",
	    "t.conf:1: unknown setting 'pushgateway.intervalls_'\n");
	/* The keys of a histograms entry too. */
	expect_errors("histograms = (\n"
	    " { name = \"h\"; bucket = [ 1.0 ]; },\n"
	    " { name = \"i\"; format = \"native\"; shema = 3; },\n"
	    " { name = \"j\"; format = \"both\"; zero_treshold = 0; "
	    "Max_Buckets = 9; }\n"
	    ");\n",
	    "t.conf:2: unknown setting 'histograms[0].bucket'; did you mean "
	    "'histograms[0].buckets'?\n"
	    "t.conf:2: histograms[0]: buckets is missing; set buckets = "
	    "[ ... ], or format = \"native\"\n"
	    "t.conf:3: unknown setting 'histograms[1].shema'; did you mean "
	    "'histograms[1].schema'?\n"
	    "t.conf:4: unknown setting 'histograms[2].zero_treshold'; did you "
	    "mean 'histograms[2].zero_threshold'?\n"
	    "t.conf:4: unknown setting 'histograms[2].Max_Buckets'; did you "
	    "mean 'histograms[2].max_buckets'?\n");
}

/*
 * A PROMETHEUS_* or COLLECTOR_* name the agent does not read but that is
 * near one it does: a warning (c->warnings) with the name meant, from the
 * environment and from the env file; the setting keeps its value. Other
 * prefixes, names far from any, and collector-spool's own are left alone.
 */
static void
test_env_near_names(void **state)
{
	static const char *const env[] = {
		"PROMETHEUS_PUSHGATEWAY_URl=http://typo:9091",
		"prometheus_job_name=lower",
		"COLLECTOR_SPOOl=/x.db",
		/* Not the agent's prefixes, or too far, or known. */
		"PROMETHEUS_PUSHGATEWAY_URI_X=1",
		"MY_PROMETHEUS_PUSHGATEWAY_URL=1",
		"API_HOSTS=h",
		"PROMETHEUS_MULTIPROC_DIR=/tmp",
		"COLLECTOR_SPOOL_SYNCHRONOUS=full",
		"COLLECTOR_SPOOL_BUSY_TIMEOUT_MS=5000",
		"PROMETHEUS_PUSHGATEWAY_URL=http://right:9091",
		NULL
	};
	char *envf = put_file("near.env", "# typos\n"
	    "PROMETHEUS_PUSHGATEWAY_INTERVALL=5\n"
	    "PROMETHEUS_PUSHGATEWAY_INTERVAL=7\n"
	    "PROMETHEUS_PUSHGATEWAY_GZIp=false\n");
	cfg_args a = { 0 };
	cfg *c = NULL;
	char *errs = NULL, *want = NULL;

	(void)state;
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_OK);
	assert_string_equal(c->gw.url, "http://right:9091");
	assert_string_equal(c->warnings,
	    "env PROMETHEUS_PUSHGATEWAY_URl: not a name the agent reads, "
	    "ignored; did you mean PROMETHEUS_PUSHGATEWAY_URL?\n"
	    "env prometheus_job_name: not a name the agent reads, ignored; "
	    "did you mean PROMETHEUS_JOB_NAME?\n"
	    "env COLLECTOR_SPOOl: not a name the agent reads, ignored; did "
	    "you mean COLLECTOR_SPOOL?\n");
	cfg_free(c);

	a.env_file = envf;
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_OK);
	assert_true(c->interval == 7);
	assert_int_equal(c->gw.gzip, 1);
	assert_true(asprintf(&want,
	    "%s:2: PROMETHEUS_PUSHGATEWAY_INTERVALL: not a name the agent "
	    "reads, ignored; did you mean PROMETHEUS_PUSHGATEWAY_INTERVAL?\n"
	    "%s:4: PROMETHEUS_PUSHGATEWAY_GZIp: not a name the agent reads, "
	    "ignored; did you mean PROMETHEUS_PUSHGATEWAY_GZIP?\n", envf,
	    envf) > 0);
	assert_string_equal(c->warnings, want);
	free(want);
	cfg_free(c);

	/* Nothing near: no warnings at all. */
	a.env_file = NULL;
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_OK);
	assert_null(c->warnings);
	cfg_free(c);
	free(envf);
}

static void
test_wrong_types(void **state)
{
	(void)state;
	expect_errors("pushgateway: { interval = \"60\"; };\n",
	    "t.conf:1: pushgateway.interval: expected a number\n");
	expect_errors("pushgateway: { enabled = \"yes\"; };\n",
	    "t.conf:1: pushgateway.enabled: expected true or false\n");
	expect_errors("pushgateway: { url = 5; };\n",
	    "t.conf:1: pushgateway.url: expected a string\n");
	expect_errors("spool = \"/x\";\n",
	    "t.conf:1: spool: expected a group { ... }\n");
	expect_errors("remote_write: { max_samples_per_send = 2000.0; };\n",
	    "t.conf:1: remote_write.max_samples_per_send: expected an "
	    "integer\n");
	expect_errors("pushgateway: { gzip = \"yes\"; };\n",
	    "t.conf:1: pushgateway.gzip: expected true or false\n");
	/* Remote write's bodies are snappy: it has no gzip setting. */
	expect_errors("remote_write: { gzip = true; };\n",
	    "t.conf:1: unknown setting 'remote_write.gzip'\n");
	expect_errors("pushgateway: { headers = \"X-A: b\"; };\n",
	    "t.conf:1: pushgateway.headers: expected a list of strings, "
	    "[ \"Name: value\", ... ]\n");
	expect_errors("pushgateway: { headers = [ 1 ]; };\n",
	    "t.conf:1: pushgateway.headers[0]: expected a string\n");
	expect_errors("histograms = { name = \"h\"; };\n",
	    "t.conf:1: histograms: expected a list of groups, ( { name = ...; "
	    "buckets = [ ... ]; } )\n");
	expect_errors("listen = 9102;\n",
	    "t.conf:1: listen: expected a string\n");
	expect_errors("log: { level = 1; };\n",
	    "t.conf:1: log.level: expected a string\n");
}

static void
test_numbers(void **state)
{
	cfg *c;

	(void)state;
	/* Ints and floats both do for float settings. */
	c = load_ok("pushgateway: { interval = 30; timeout = 2.5; "
	    "retry_min = 1; retry_max = 120.0; group_ttl = 3600; "
	    "once_timeout = 5L; };\n"
	    "remote_write: { timeout = 1; max_samples_per_send = 500; };\n");
	assert_true(c->interval == 30);
	assert_true(c->gw.timeout == 2.5);
	assert_true(c->retry_min == 1);
	assert_true(c->retry_max == 120);
	assert_true(c->group_ttl == 3600);
	assert_true(c->once_timeout == 5);
	assert_true(c->rw.timeout == 1);
	assert_int_equal(c->gw.gzip, 1);
	assert_int_equal(c->rw_max_samples_per_send, 500);
	cfg_free(c);
	c = load_ok("pushgateway: { gzip = false; };\n");
	assert_int_equal(c->gw.gzip, 0);
	cfg_free(c);
	/* The ends of every range are allowed. */
	c = load_ok("pushgateway: { interval = 86400; timeout = 0.1; "
	    "retry_min = 0.01; retry_max = 86400; group_ttl = 31536000; "
	    "once_timeout = 1; };\n"
	    "remote_write: { timeout = 600; max_samples_per_send = 1000000; };"
	    "\n");
	assert_true(c->group_ttl == 31536000);
	cfg_free(c);
	c = load_ok("pushgateway: { group_ttl = 0; };\n");
	assert_true(c->group_ttl == 0);
	cfg_free(c);
	/* The limits: 0 is none, and each end of the range. */
	c = load_ok("limits: { max_groups = 0; max_series_per_group = 1; "
	    "max_series = 100000000; };\n");
	assert_int_equal(c->max_groups, 0);
	assert_int_equal(c->max_series_per_group, 1);
	assert_int_equal(c->max_series, 100000000);
	cfg_free(c);
}

static void
test_ranges(void **state)
{
	(void)state;
	expect_errors("pushgateway: { interval = 0; };\n",
	    "t.conf:1: pushgateway.interval: must be between 1 and 86400\n");
	expect_errors("pushgateway: { interval = 86400.5; };\n",
	    "t.conf:1: pushgateway.interval: must be between 1 and 86400\n");
	expect_errors("pushgateway: { timeout = 0.05; };\n",
	    "t.conf:1: pushgateway.timeout: must be between 0.1 and 600\n");
	expect_errors("pushgateway: { retry_min = 0; };\n",
	    "t.conf:1: pushgateway.retry_min: must be between 0.01 and 3600\n");
	expect_errors("pushgateway: { group_ttl = 0.5; };\n",
	    "t.conf:1: pushgateway.group_ttl: must be 0 or between 1 and "
	    "31536000\n");
	expect_errors("pushgateway: { once_timeout = -1; };\n",
	    "t.conf:1: pushgateway.once_timeout: must be between 1 and "
	    "86400\n");
	expect_errors("remote_write: { max_samples_per_send = 0; };\n",
	    "t.conf:1: remote_write.max_samples_per_send: must be between 1 "
	    "and 1000000\n");
	expect_errors("remote_write: { timeout = 601; };\n",
	    "t.conf:1: remote_write.timeout: must be between 0.1 and 600\n");
	expect_errors("limits: {\n max_groups = -1;\n"
	    " max_series_per_group = 100000001;\n max_series = 1.0e5;\n"
	    " max_rows = 5;\n};\n",
	    "t.conf:2: limits.max_groups: must be 0 or between 1 and "
	    "100000000\n"
	    "t.conf:3: limits.max_series_per_group: must be 0 or between 1 "
	    "and 100000000\n"
	    "t.conf:4: limits.max_series: expected an integer\n"
	    "t.conf:5: unknown setting 'limits.max_rows'\n");
	/* A float too big for a double is no number in range. */
	expect_errors("pushgateway: { interval = 1e400; };\n",
	    "t.conf:1: pushgateway.interval: must be between 1 and 86400\n");
}

static void
test_retry_order(void **state)
{
	cfg *c;

	(void)state;
	expect_errors("pushgateway: {\n retry_min = 5;\n retry_max = 2;\n};\n",
	    "t.conf:3: pushgateway.retry_max (2) must not be less than "
	    "pushgateway.retry_min (5)\n");
	/* Only retry_min given, above the default retry_max. */
	expect_errors("pushgateway: { retry_min = 100; };\n",
	    "t.conf:1: pushgateway.retry_max (60) must not be less than "
	    "pushgateway.retry_min (100)\n");
	c = load_ok("pushgateway: { retry_min = 5; retry_max = 5; };\n");
	assert_true(c->retry_max == 5);
	cfg_free(c);
}

/* The heartbeat: its default follows the interval; set, it may go down to
 * the interval, and below that it is refused wherever it came from. */
static void
test_heartbeat(void **state)
{
	char *conf = put_file("hb.conf", "pushgateway: { heartbeat = 100; };\n");
	static const char *const env[] = {
		"PROMETHEUS_PUSHGATEWAY_HEARTBEAT=30", NULL
	};
	cfg_args a = { 0 };
	cfg *c = NULL, *c2 = NULL;
	char *errs = NULL, *want = NULL, *out;

	(void)state;
	c = load_ok("pushgateway: { interval = 1; };\n");
	assert_true(c->heartbeat == 300);
	cfg_free(c);
	c = load_ok("pushgateway: { interval = 45; heartbeat = 0; };\n");
	assert_true(c->heartbeat == 450);
	cfg_free(c);
	c = load_ok("pushgateway: { interval = 86400; };\n");
	assert_true(c->heartbeat == 864000);
	cfg_free(c);
	c = load_ok("pushgateway: { interval = 1; heartbeat = 3; "
	    "once_self_metrics = true; };\n");
	assert_true(c->heartbeat == 3);
	assert_int_equal(c->once_self_metrics, 1);
	/* -t prints the heartbeat in force, and that loads the same. */
	out = print_cfg(c);
	assert_non_null(strstr(out, "\theartbeat = 3.0;\n"));
	assert_int_equal(cfg_load_string(out, "p", &c2, &errs), CFG_OK);
	assert_true(c2->heartbeat == 3);
	free(out);
	cfg_free(c);
	cfg_free(c2);
	c = load_ok("pushgateway: { interval = 5; heartbeat = 5; };\n");
	assert_true(c->heartbeat == 5);
	cfg_free(c);

	expect_errors("pushgateway: {\n heartbeat = 20;\n};\n",
	    "t.conf:2: pushgateway.heartbeat: 20 is less than "
	    "pushgateway.interval (60); set pushgateway.heartbeat to at least "
	    "the interval, or leave it out for the default (10 times the "
	    "interval, at least 300 seconds)\n");
	expect_errors("pushgateway: { heartbeat = 864001; };\n",
	    "t.conf:1: pushgateway.heartbeat: must be 0 or between 1 and "
	    "864000\n");
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_EINVAL);
	assert_string_equal(errs, "env PROMETHEUS_PUSHGATEWAY_HEARTBEAT: 30 "
	    "is less than pushgateway.interval (60); set "
	    "pushgateway.heartbeat to at least the interval, or leave it out "
	    "for the default (10 times the interval, at least 300 seconds)\n");
	free(errs);
	/* The flag wins over the environment and is named. */
	a.heartbeat = "2";
	a.interval = "5";
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_EINVAL);
	assert_string_equal(errs, "--heartbeat: 2 is less than "
	    "pushgateway.interval (5); set pushgateway.heartbeat to at least "
	    "the interval, or leave it out for the default (10 times the "
	    "interval, at least 300 seconds)\n");
	free(errs);
	/* The file's heartbeat, an interval from the command line above
	 * it: the file's line is named. */
	memset(&a, 0, sizeof(a));
	a.config_file = conf;
	a.interval = "200";
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_EINVAL);
	assert_true(asprintf(&want, "%s:1: pushgateway.heartbeat: 100 is less "
	    "than pushgateway.interval (200); set pushgateway.heartbeat to at "
	    "least the interval, or leave it out for the default (10 times "
	    "the interval, at least 300 seconds)\n", conf) > 0);
	assert_string_equal(errs, want);
	free(want);
	free(errs);
	a.interval = "100";
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_OK);
	assert_true(c->heartbeat == 100);
	cfg_free(c);
	free(conf);
}

static void
test_urls(void **state)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "http://127.0.0.1:9091", "http://127.0.0.1:9091" },
		{ "https://prometheus.example.org/pushgateway/",
		  "https://prometheus.example.org/pushgateway" },
		{ "http://h//", "http://h" },
		{ "HTTPS://H.example.org", "HTTPS://H.example.org" },
		{ "http://[::1]:9091/a/b", "http://[::1]:9091/a/b" },
		{ "http://gw", "http://gw" },
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "ftp://h", "bad URL 'ftp://h': must start with http:// or "
		  "https://" },
		{ "127.0.0.1:9091", "bad URL '127.0.0.1:9091': must start with "
		  "http:// or https://" },
		{ "http://", "bad URL 'http://': has no host" },
		{ "http:///path", "bad URL 'http:///path': has no host" },
		{ "http://:9091", "bad URL 'http://:9091': has no host" },
		{ "http://h x", "bad URL 'http://h x': must not contain blanks "
		  "or control characters" },
		{ "http://h/?a=b", "bad URL 'http://h/?a=b': must not have a "
		  "query or fragment" },
		{ "http://h/#top", "bad URL 'http://h/#top': must not have a "
		  "query or fragment" },
		{ "http://h:0", "bad URL 'http://h:0': has a bad port" },
		{ "http://h:65536", "bad URL 'http://h:65536': has a bad port" },
		{ "http://h:x", "bad URL 'http://h:x': has a bad port" },
		{ "http://[::1", "bad URL 'http://[::1': has a bad IPv6 "
		  "address" },
		{ "http://user:pw@h", "bad URL: must not carry credentials (use "
		  "username and password_file)" },
		{ "", "bad URL '': must start with http:// or https://" },
	};
	char text[256], want[512];
	cfg *c;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "pushgateway: { url = \"%s\"; };",
		    good[i].in);
		c = load_ok(text);
		assert_string_equal(c->gw.url, good[i].out);
		cfg_free(c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "pushgateway: { url = \"%s\"; };",
		    bad[i].in);
		if (bad[i].in[0] == '\0')
			snprintf(want, sizeof(want), "t.conf:1: pushgateway.url: "
			    "must not be empty\n");
		else
			snprintf(want, sizeof(want), "t.conf:1: pushgateway.url: "
			    "%s\n", bad[i].why);
		expect_errors(text, want);
	}
	/* remote_write.url "" disables remote write. */
	c = load_ok("remote_write: { url = \"\"; };");
	assert_null(c->rw.url);
	cfg_free(c);
	expect_errors("remote_write: { url = \"mimir:9009\"; };",
	    "t.conf:1: remote_write.url: bad URL 'mimir:9009': must start "
	    "with http:// or https://\n");
}

static void
test_headers(void **state)
{
	cfg *c;

	(void)state;
	c = load_ok("pushgateway: { headers = [ \"X-Team: payments\", "
	    "\"X-A:b\" ]; };\nremote_write: { headers = ( \"X-Scope-OrgID: "
	    "t1\" ); };\n");
	assert_int_equal(c->gw.n_headers, 2);
	assert_string_equal(c->gw.headers[0], "X-Team: payments");
	assert_string_equal(c->gw.headers[1], "X-A:b");
	assert_int_equal(c->rw.n_headers, 1);
	assert_string_equal(c->rw.headers[0], "X-Scope-OrgID: t1");
	cfg_free(c);
	c = load_ok("pushgateway: { headers = [ ]; };");
	assert_int_equal(c->gw.n_headers, 0);
	cfg_free(c);

	expect_errors("pushgateway: { headers = [\n"
	    " \"NoColon\",\n"
	    " \": value\",\n"
	    " \"Bad Name: v\",\n"
	    " \"X-Empty:  \",\n"
	    " \"X-Split: a\\r\\nX-Injected: b\",\n"
	    " \"X-Ok: fine\"\n"
	    "]; };\n",
	    "t.conf:2: pushgateway.headers[0]: expected 'Name: value'\n"
	    "t.conf:3: pushgateway.headers[1]: expected 'Name: value'\n"
	    "t.conf:4: pushgateway.headers[2]: bad header name 'Bad Name'\n"
	    "t.conf:5: pushgateway.headers[3]: expected 'Name: value' (the "
	    "value is empty)\n"
	    "t.conf:6: pushgateway.headers[4]: the value must not contain "
	    "line breaks or control characters\n");
}

static void
test_histograms(void **state)
{
	cfg *c;

	(void)state;
	c = load_ok("histograms = (\n"
	    " { name = \"api_request_duration_seconds\";\n"
	    "   buckets = [ 0.005, 0.01, 0.5, 1.0, 10.0 ]; },\n"
	    " { name = \"rows:total\"; buckets = ( -1, 0, 2.5, 100L ); },\n"
	    " { buckets = [ 7 ]; name = \"one\"; }\n"
	    ");\n");
	assert_int_equal(c->n_histograms, 3);
	assert_string_equal(c->histograms[0].name,
	    "api_request_duration_seconds");
	assert_int_equal(c->histograms[0].n, 5);
	assert_true(c->histograms[0].bounds[0] == 0.005);
	assert_true(c->histograms[0].bounds[4] == 10);
	assert_string_equal(c->histograms[1].name, "rows:total");
	assert_int_equal(c->histograms[1].n, 4);
	assert_true(c->histograms[1].bounds[0] == -1);
	assert_true(c->histograms[1].bounds[2] == 2.5);
	assert_true(c->histograms[1].bounds[3] == 100);
	assert_int_equal(c->histograms[2].n, 1);
	cfg_free(c);
	c = load_ok("histograms = ( );");
	assert_int_equal(c->n_histograms, 0);
	cfg_free(c);

	expect_errors("histograms = (\n"
	    " { name = \"bad name\"; buckets = [ 1.0 ]; },\n"
	    " { name = \"a\"; buckets = [ ]; },\n"
	    " { name = \"b\"; buckets = [ 1.0, 1.0 ]; },\n"
	    " { name = \"c\"; buckets = [ 2.0, 1.0 ]; },\n"
	    " { name = \"d\"; buckets = ( 1, \"x\" ); },\n"
	    " { name = \"e\"; },\n"
	    " { buckets = [ 1.0 ]; },\n"
	    " { name = 5; buckets = 1.0; },\n"
	    " \"f\",\n"
	    " { name = \"g\"; buckets = [ 1.0 ]; },\n"
	    " { name = \"g\"; buckets = [ 2.0 ]; },\n"
	    " { name = \"h\"; buckets = [ 1e400 ]; }\n"
	    ");\n",
	    "t.conf:2: histograms[0].name: not a valid metric name: "
	    "'bad name'\n"
	    "t.conf:3: histograms[1].buckets: must hold 1 to 256 bounds\n"
	    "t.conf:4: histograms[2].buckets: bounds must be strictly "
	    "increasing\n"
	    "t.conf:5: histograms[3].buckets: bounds must be strictly "
	    "increasing\n"
	    "t.conf:6: histograms[4].buckets: expected a list of numbers, "
	    "[ 0.1, 0.5, 1.0 ]\n"
	    "t.conf:7: histograms[5]: buckets is missing; set buckets = "
	    "[ ... ], or format = \"native\"\n"
	    "t.conf:8: histograms[6]: name is missing\n"
	    "t.conf:9: histograms[7].name: expected a string\n"
	    "t.conf:9: histograms[7].buckets: expected a list of numbers, "
	    "[ 0.1, 0.5, 1.0 ]\n"
	    "t.conf:10: histograms[8]: expected a group { name = ...; "
	    "buckets = [ ... ]; }\n"
	    "t.conf:12: histograms[10].name: duplicate histogram 'g'\n"
	    "t.conf:13: histograms[11].buckets: bounds must be finite (+Inf "
	    "is implied)\n");
}

static void
test_histogram_limits(void **state)
{
	char *text = NULL, *p;
	size_t cap = 8192;
	cfg *c;

	(void)state;
	/* 256 bounds are allowed, 257 are not. */
	for (int n = 256; n <= 257; n++) {
		text = malloc(cap);
		assert_non_null(text);
		p = text + snprintf(text, cap, "histograms = ( { name = \"h\"; "
		    "buckets = [ ");
		for (int i = 0; i < n; i++)
			p += snprintf(p, cap - (size_t)(p - text), "%s%d.0",
			    i ? ", " : "", i);
		snprintf(p, cap - (size_t)(p - text), " ]; } );\n");
		if (n == 256) {
			c = load_ok(text);
			assert_int_equal(c->histograms[0].n, 256);
			cfg_free(c);
		} else
			expect_errors(text, "t.conf:1: histograms[0].buckets: "
			    "must hold 1 to 256 bounds\n");
		free(text);
	}
}

/* The defaults of the native settings, which every form carries. */
static void
assert_native_defaults(const cfg_histogram *h)
{
	assert_int_equal(h->schema, 3);
	assert_true(h->zero_threshold == 0x1p-128);
	assert_int_equal(h->max_buckets, 160);
}

static void
test_histogram_forms(void **state)
{
	cfg *c;
	const cfg_histogram *h;

	(void)state;
	c = load_ok("histograms = (\n"
	    " { name = \"a\"; buckets = [ 1.0 ]; },\n"
	    " { name = \"b\"; format = \"classic\"; buckets = [ 2.0 ]; },\n"
	    " { name = \"c\"; format = \"native\"; },\n"
	    " { format = \"both\"; name = \"d\"; },\n"
	    " { name = \"e\"; buckets = [ 0.5, 1.0 ]; format = \"both\";\n"
	    "   schema = -4; zero_threshold = 0; max_buckets = 4096; },\n"
	    " { name = \"f\"; format = \"native\"; schema = 8L;\n"
	    "   zero_threshold = 1e-3; max_buckets = 1; },\n"
	    " { name = \"g\"; format = \"native\"; zero_threshold = 2; }\n"
	    ");\n");
	assert_int_equal(c->n_histograms, 7);
	h = c->histograms;
	assert_int_equal(h[0].form, CFG_HIST_CLASSIC);
	assert_int_equal(h[0].n, 1);
	assert_native_defaults(&h[0]);
	assert_int_equal(h[1].form, CFG_HIST_CLASSIC);
	assert_true(h[1].bounds[0] == 2);
	/* Native: no bounds at all. */
	assert_int_equal(h[2].form, CFG_HIST_NATIVE);
	assert_null(h[2].bounds);
	assert_int_equal(h[2].n, 0);
	assert_native_defaults(&h[2]);
	/* Both without buckets: n 0, the default bounds. */
	assert_int_equal(h[3].form, CFG_HIST_BOTH);
	assert_string_equal(h[3].name, "d");
	assert_null(h[3].bounds);
	assert_int_equal(h[3].n, 0);
	assert_native_defaults(&h[3]);
	assert_int_equal(h[4].form, CFG_HIST_BOTH);
	assert_int_equal(h[4].n, 2);
	assert_true(h[4].bounds[1] == 1);
	assert_int_equal(h[4].schema, -4);
	assert_true(h[4].zero_threshold == 0);
	assert_false(signbit(h[4].zero_threshold));
	assert_int_equal(h[4].max_buckets, 4096);
	assert_int_equal(h[5].schema, 8);
	assert_true(h[5].zero_threshold == 1e-3);
	assert_int_equal(h[5].max_buckets, 1);
	/* An int where a float is meant. */
	assert_true(h[6].zero_threshold == 2);
	cfg_free(c);
	/* -0 is 0. */
	c = load_ok("histograms = ( { name = \"h\"; format = \"native\"; "
	    "zero_threshold = -0.0; } );\n");
	assert_true(c->histograms[0].zero_threshold == 0);
	assert_false(signbit(c->histograms[0].zero_threshold));
	cfg_free(c);
}

/* bucket_factor picks the schema as client_golang's pickSchema does:
 * -floor(log2(log2(F))), within -4..8. */
static void
test_histogram_bucket_factor(void **state)
{
	static const struct {
		const char *f;
		int schema;
	} cases[] = {
		{ "1.1", 3 },      /* client_golang's usual 1.1 */
		{ "2", 0 },        /* an int, and a schema's own boundary */
		{ "2.0", 0 },
		{ "1.9999", 1 },
		{ "4", -1 },
		{ "16", -2 },
		{ "256", -3 },
		{ "65536", -4 },   /* floor 4: the lowest schema */
		{ "1e10", -4 },
		{ "1.5", 1 },
		{ "1.01", 7 },
		{ "1.005", 8 },    /* floor -8: the highest schema */
		{ "1.0001", 8 },
		{ "1.0000000000000002", 8 },
		{ "1.7976931348623157e308", -4 },
	};
	char text[256];
	cfg *c;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "histograms = ( { name = \"h\"; "
		    "format = \"native\"; bucket_factor = %s; } );\n",
		    cases[i].f);
		c = load_ok(text);
		if (c->histograms[0].schema != cases[i].schema)
			fail_msg("bucket_factor %s: schema %d, want %d",
			    cases[i].f, c->histograms[0].schema,
			    cases[i].schema);
		cfg_free(c);
	}
}

static void
test_histogram_form_errors(void **state)
{
	(void)state;
	expect_errors("histograms = (\n"
	    " { name = \"a\"; format = \"sparse\"; },\n"
	    " { name = \"b\"; format = 1; buckets = [ 1.0 ]; },\n"
	    " { name = \"c\"; format = \"native\";\n"
	    "   buckets = [ 1.0 ]; },\n"
	    " { name = \"d\"; buckets = [ 1.0 ]; schema = 3;\n"
	    "   bucket_factor = 1.1; zero_threshold = 0.0;\n"
	    "   max_buckets = 10; },\n"
	    " { name = \"e\"; format = \"classic\"; buckets = [ 1.0 ];\n"
	    "   schema = 1; },\n"
	    " { name = \"f\"; format = \"native\"; schema = 9; },\n"
	    " { name = \"g\"; format = \"both\"; schema = -5; },\n"
	    " { name = \"h\"; format = \"native\"; schema = 3.0; },\n"
	    " { name = \"i\"; format = \"native\"; schema = \"3\"; },\n"
	    " { name = \"j\"; format = \"native\"; bucket_factor = 1; },\n"
	    " { name = \"k\"; format = \"native\"; bucket_factor = 0.5; },\n"
	    " { name = \"l\"; format = \"native\"; bucket_factor = 1e400; },\n"
	    " { name = \"m\"; format = \"native\"; bucket_factor = \"x\"; },\n"
	    " { name = \"n\"; format = \"native\"; zero_threshold = -1e-9; },\n"
	    " { name = \"o\"; format = \"native\"; zero_threshold = 1e400; },\n"
	    " { name = \"p\"; format = \"native\"; zero_threshold = true; },\n"
	    " { name = \"q\"; format = \"native\"; max_buckets = 0; },\n"
	    " { name = \"r\"; format = \"native\"; max_buckets = 4097; },\n"
	    " { name = \"s\"; format = \"native\"; max_buckets = 1.5; },\n"
	    " { name = \"t\"; format = \"both\"; schema = 3;\n"
	    "   bucket_factor = 1.1; },\n"
	    " { name = \"u\"; format = \"native\"; bucket_factor = 2;"
	    " schema = 0; },\n"
	    " { format = \"native\"; },\n"
	    " { name = \"w\"; format = \"native\"; max_buckets = "
	    "9999999999999L; }\n"
	    ");\n",
	    "t.conf:2: histograms[0].format: must be \"classic\", \"native\" "
	    "or \"both\": 'sparse'\n"
	    "t.conf:3: histograms[1].format: expected a string\n"
	    "t.conf:5: histograms[2].buckets: format native has no buckets; "
	    "use format = \"both\" to keep them\n"
	    "t.conf:6: histograms[3].schema: format classic has no native "
	    "buckets; set format = \"native\" or \"both\"\n"
	    "t.conf:7: histograms[3].bucket_factor: format classic has no "
	    "native buckets; set format = \"native\" or \"both\"\n"
	    "t.conf:7: histograms[3].zero_threshold: format classic has no "
	    "native buckets; set format = \"native\" or \"both\"\n"
	    "t.conf:8: histograms[3].max_buckets: format classic has no "
	    "native buckets; set format = \"native\" or \"both\"\n"
	    "t.conf:10: histograms[4].schema: format classic has no native "
	    "buckets; set format = \"native\" or \"both\"\n"
	    "t.conf:11: histograms[5].schema: must be between -4 and 8\n"
	    "t.conf:12: histograms[6].schema: must be between -4 and 8\n"
	    "t.conf:13: histograms[7].schema: expected an integer\n"
	    "t.conf:14: histograms[8].schema: expected an integer\n"
	    "t.conf:15: histograms[9].bucket_factor: must be a finite number "
	    "greater than 1 (1.1 gives schema 3)\n"
	    "t.conf:16: histograms[10].bucket_factor: must be a finite number "
	    "greater than 1 (1.1 gives schema 3)\n"
	    "t.conf:17: histograms[11].bucket_factor: must be a finite number "
	    "greater than 1 (1.1 gives schema 3)\n"
	    "t.conf:18: histograms[12].bucket_factor: expected a number\n"
	    "t.conf:19: histograms[13].zero_threshold: must be a finite "
	    "number, 0 or more\n"
	    "t.conf:20: histograms[14].zero_threshold: must be a finite "
	    "number, 0 or more\n"
	    "t.conf:21: histograms[15].zero_threshold: expected a number\n"
	    "t.conf:22: histograms[16].max_buckets: must be between 1 and "
	    "4096\n"
	    "t.conf:23: histograms[17].max_buckets: must be between 1 and "
	    "4096\n"
	    "t.conf:24: histograms[18].max_buckets: expected an integer\n"
	    "t.conf:26: histograms[19].bucket_factor: cannot be used together "
	    "with histograms[19].schema; keep one of them\n"
	    "t.conf:27: histograms[20].schema: cannot be used together with "
	    "histograms[20].bucket_factor; keep one of them\n"
	    "t.conf:28: histograms[21]: name is missing\n"
	    "t.conf:29: histograms[22].max_buckets: must be between 1 and "
	    "4096\n");
}

/* -t shows each histogram with its form and the native settings in force,
 * and what it shows loads again to the same. */
static void
test_histogram_print(void **state)
{
	cfg *c, *c2;
	char *out, *out2, *errs = NULL;

	(void)state;
	c = load_ok("histograms = (\n"
	    " { name = \"a\"; buckets = [ 1.0, 2.5 ]; },\n"
	    " { name = \"b\"; format = \"native\"; bucket_factor = 2; },\n"
	    " { name = \"c\"; format = \"both\"; },\n"
	    " { name = \"d\"; format = \"both\"; buckets = ( 1, 10 ); "
	    "schema = -4; zero_threshold = 0; max_buckets = 4096; },\n"
	    " { name = \"e\"; format = \"native\"; zero_threshold = 1e-3; }\n"
	    ");\n");
	out = print_cfg(c);
	assert_non_null(strstr(out, "histograms = (\n"
	    "  { name = \"a\"; format = \"classic\"; buckets = [ 1.0, 2.5 ]; },\n"
	    "  { name = \"b\"; format = \"native\"; schema = 0; zero_threshold "
	    "= 2.938735877055719e-39; max_buckets = 160; },\n"
	    "  { name = \"c\"; format = \"both\"; schema = 3; zero_threshold = "
	    "2.938735877055719e-39; max_buckets = 160; },\n"
	    "  { name = \"d\"; format = \"both\"; buckets = [ 1.0, 10.0 ]; "
	    "schema = -4; zero_threshold = 0.0; max_buckets = 4096; },\n"
	    "  { name = \"e\"; format = \"native\"; schema = 3; zero_threshold "
	    "= 0.001; max_buckets = 160; }\n"
	    ");\n"));
	assert_int_equal(cfg_load_string(out, "t.conf", &c2, &errs), CFG_OK);
	assert_true(c2->histograms[1].zero_threshold == 0x1p-128);
	assert_int_equal(c2->histograms[1].schema, 0);
	assert_int_equal(c2->histograms[2].form, CFG_HIST_BOTH);
	assert_int_equal(c2->histograms[2].n, 0);
	out2 = print_cfg(c2);
	assert_string_equal(out, out2);
	free(out);
	free(out2);
	cfg_free(c);
	cfg_free(c2);
}

static void
test_enums_and_strings(void **state)
{
	cfg *c;

	(void)state;
	c = load_ok("spool: { path = \"/tmp/s.db\"; synchronous = \"full\"; };\n"
	    "log: { level = \"warn\"; };\nlisten = \":9102\";\n"
	    "pushgateway: { job = \"a/b\"; instance = \"db 1\"; enabled = false;"
	    " insecure_skip_verify = true; };\n");
	assert_string_equal(c->spool_path, "/tmp/s.db");
	assert_int_equal(c->spool_sync_full, 1);
	assert_int_equal(c->log_level, LOG_LWARN);
	assert_string_equal(c->listen, ":9102");
	assert_string_equal(c->job, "a/b");
	assert_string_equal(c->instance, "db 1");
	assert_int_equal(c->enabled, 0);
	assert_int_equal(c->gw.insecure_skip_verify, 1);
	cfg_free(c);
	c = load_ok("spool: { synchronous = \"normal\"; };\nlisten = \"\";\n"
	    "log: { level = \"error\"; };\n");
	assert_int_equal(c->spool_sync_full, 0);
	assert_null(c->listen);
	assert_int_equal(c->log_level, LOG_LERROR);
	cfg_free(c);

	expect_errors("spool: {\n path = \"\";\n synchronous = \"extra\";\n};\n"
	    "log: { level = \"verbose\"; };\n"
	    "pushgateway: {\n job = \"\";\n instance = \"\";\n"
	    " job = \"x\";\n};\n",
	    "t.conf:9: duplicate setting name\n");
	expect_errors("spool: {\n path = \"\";\n synchronous = \"extra\";\n};\n"
	    "log: { level = \"verbose\"; };\n"
	    "pushgateway: {\n job = \"\";\n instance = \"\\xff\";\n};\n"
	    "listen = \"localhost\";\n",
	    "t.conf:2: spool.path: must not be empty\n"
	    "t.conf:3: spool.synchronous: must be \"normal\" or \"full\": "
	    "'extra'\n"
	    "t.conf:5: log.level: must be debug, info, warn or error: "
	    "'verbose'\n"
	    "t.conf:7: pushgateway.job: must not be empty\n"
	    "t.conf:8: pushgateway.instance: not valid UTF-8\n"
	    "t.conf:10: listen: must be ADDR:PORT (or \"\" to disable): "
	    "'localhost'\n");
	expect_errors("listen = \"127.0.0.1:99999\";\n",
	    "t.conf:1: listen: bad port in '127.0.0.1:99999'\n");
	expect_errors("listen = \"::1:9102\";\n",
	    "t.conf:1: listen: must be ADDR:PORT (or \"\" to disable): "
	    "'::1:9102'\n");
	expect_errors("pushgateway: { job = \"a\\nb\"; };\n",
	    "t.conf:1: pushgateway.job: must not contain control "
	    "characters\n");
}

static void
test_parse_error(void **state)
{
	(void)state;
	expect_errors("pushgateway: {\n interval = ;\n};\n",
	    "t.conf:2: syntax error\n");
	/* libconfig wants one type per array; ( ) lists may mix. */
	expect_errors("histograms = ( { name = \"h\"; buckets = [ 0.5, 1 ]; "
	    "} );\n", "t.conf:1: mismatched element type in array\n");
	expect_errors("x = 1;\n@include \"/etc/passwd\"\n",
	    "t.conf:2: @include is not allowed here\n");
}

static void
test_many_errors(void **state)
{
	(void)state;
	/* Every problem is reported, in file order, not just the first. */
	expect_errors("pushgateway: {\n"
	    "  interval = 0;\n"
	    "  foo = 1;\n"
	    "  url = \"gw:9091\";\n"
	    "  timeout = \"x\";\n"
	    "  headers = [ \"bad\" ];\n"
	    "};\n"
	    "bar = true;\n"
	    "histograms = ( { name = \"1x\"; buckets = [ 1.0 ]; } );\n",
	    "t.conf:2: pushgateway.interval: must be between 1 and 86400\n"
	    "t.conf:3: unknown setting 'pushgateway.foo'\n"
	    "t.conf:4: pushgateway.url: bad URL 'gw:9091': must start with "
	    "http:// or https://\n"
	    "t.conf:5: pushgateway.timeout: expected a number\n"
	    "t.conf:6: pushgateway.headers[0]: expected 'Name: value'\n"
	    "t.conf:8: unknown setting 'bar'\n"
	    "t.conf:9: histograms[0].name: not a valid metric name: '1x'\n");
}

/* A file of errors gives a bounded answer that says it was cut. */
static void
test_error_cap(void **state)
{
	size_t cap = 400000;
	char *text = malloc(cap), *p = text, *errs = NULL;
	cfg *c;

	(void)state;
	assert_non_null(text);
	/* 3000 errors (about 120 KiB of messages) pass the 64 KiB cap;
	 * libconfig checks each key against the others, so more would only
	 * make the test slow under valgrind. */
	for (int i = 0; i < 3000; i++)
		p += snprintf(p, cap - (size_t)(p - text), "unknown_%d = 1;\n",
		    i);
	assert_int_equal(cfg_load_string(text, "t.conf", &c, &errs),
	    CFG_EINVAL);
	assert_true(strlen(errs) <= 65536);
	assert_non_null(strstr(errs, "t.conf:1: unknown setting "
	    "'unknown_0'\n"));
	p = strstr(errs, "(more errors not shown)\n");
	assert_non_null(p);
	assert_string_equal(p, "(more errors not shown)\n");
	free(errs);
	free(text);
}

static void
test_secrets(void **state)
{
	char *pw = put_file("pw", "s3cr3t-pass\n");
	char *tok = put_file("tok", "t0ken-value\r\n");
	char *text = NULL, *out, *errs = NULL;
	cfg *c;

	(void)state;
	assert_true(asprintf(&text,
	    "pushgateway: { username = \"pusher\"; password_file = \"%s\";\n"
	    "  headers = [ \"Authorization: Basic aGVhZGVyLXNlY3JldA==\", "
	    "\"X-Api-Key: k3y-value\", \"X-Team: payments\" ]; };\n"
	    "remote_write: { url = \"https://rw.example.org/push\"; "
	    "bearer_token_file = \"%s\"; };\n", pw, tok) > 0);
	c = load_ok(text);
	free(text);
	assert_string_equal(c->gw.username, "pusher");
	assert_string_equal(c->gw.password, "s3cr3t-pass");
	assert_string_equal(c->gw.password_file, pw);
	assert_null(c->gw.bearer_token);
	assert_string_equal(c->rw.bearer_token, "t0ken-value");
	assert_string_equal(c->rw.bearer_token_file, tok);
	/* The header keeps its value for the request... */
	assert_string_equal(c->gw.headers[0],
	    "Authorization: Basic aGVhZGVyLXNlY3JldA==");
	out = print_cfg(c);
	/* ...but no secret is printed. */
	assert_null(strstr(out, "s3cr3t"));
	assert_null(strstr(out, "t0ken"));
	assert_null(strstr(out, "aGVhZGVyLXNlY3JldA"));
	assert_null(strstr(out, "k3y-value"));
	assert_non_null(strstr(out, "# password: <redacted>"));
	assert_non_null(strstr(out, "# bearer token: <redacted>"));
	assert_non_null(strstr(out, "\"Authorization: <redacted>\""));
	assert_non_null(strstr(out, "\"X-Api-Key: <redacted>\""));
	assert_non_null(strstr(out, "\"X-Team: payments\""));
	assert_non_null(strstr(out, "\tusername = \"pusher\";"));
	assert_non_null(strstr(out, "# config file: t.conf\n"));
	free(out);
	cfg_free(c);

	/* An empty password is allowed; an empty token is not. */
	free(put_file("empty", "\n"));
	text = NULL;
	assert_true(asprintf(&text, "pushgateway: { username = \"u\"; "
	    "password_file = \"%s/empty\"; };\n", dir) > 0);
	c = load_ok(text);
	assert_string_equal(c->gw.password, "");
	cfg_free(c);
	free(text);

	free(put_file("twolines", "abc\ndef\n"));
	assert_true(asprintf(&text,
	    "pushgateway: {\n"
	    "  username = \"u\";\n"
	    "  password_file = \"%s/missing\";\n"
	    "  bearer_token_file = \"%s/empty\";\n"
	    "};\n"
	    "remote_write: {\n"
	    "  bearer_token_file = \"%s/twolines\";\n"
	    "  ca_file = \"%s/no-ca.pem\";\n"
	    "  password_file = \"%s\";\n"
	    "};\n", dir, dir, dir, dir, dir) > 0);
	assert_int_equal(cfg_load_string(text, "t.conf", &c, &errs),
	    CFG_EINVAL);
	free(text);
	text = NULL;
	assert_true(asprintf(&text,
	    "t.conf:4: pushgateway.bearer_token_file: cannot be used together "
	    "with basic auth (pushgateway.username)\n"
	    "t.conf:9: remote_write.password_file: needs "
	    "remote_write.username\n"
	    "t.conf:3: pushgateway.password_file: cannot read '%s/missing' "
	    "(No such file or directory)\n"
	    "t.conf:4: pushgateway.bearer_token_file: '%s/empty' is empty\n"
	    "t.conf:9: remote_write.password_file: cannot read '%s' (Is a "
	    "directory)\n"
	    "t.conf:7: remote_write.bearer_token_file: '%s/twolines' holds a "
	    "line break or control character (only one trailing newline is "
	    "allowed)\n"
	    "t.conf:8: remote_write.ca_file: cannot read '%s/no-ca.pem' (No "
	    "such file or directory)\n", dir, dir, dir, dir, dir) > 0);
	assert_string_equal(errs, text);
	/* The content of a bad secret file is never quoted. */
	assert_null(strstr(errs, "abc"));
	free(errs);
	free(text);

	expect_errors("pushgateway: {\n username = \"u\";\n key_file = "
	    "\"/dev/null\";\n};\n",
	    "t.conf:2: pushgateway.username: needs pushgateway.password_file "
	    "(basic auth reads the password from a file)\n"
	    "t.conf:3: pushgateway.key_file: needs pushgateway.cert_file\n");
	free(pw);
	free(tok);
}

static void
test_contrib_conf(void **state)
{
	cfg_args a = { 0 };
	cfg *c = NULL, *c2 = NULL;
	char *errs = NULL, *out, *out2;

	(void)state;
	a.config_file = "contrib/collector-agent.conf";
	if (load_env(&a, no_env, &c, &errs) != CFG_OK)
		fail_msg("contrib/collector-agent.conf:\n%s", errs);
	assert_string_equal(c->config_file, "contrib/collector-agent.conf");
	assert_string_equal(c->spool_path, "/var/lib/collector-agent/spool.db");
	assert_int_equal(c->max_groups, 1000);
	assert_int_equal(c->max_series_per_group, 20000);
	assert_int_equal(c->max_series, 100000);
	assert_string_equal(c->gw.url, "http://127.0.0.1:9091");
	assert_true(c->interval == 60);
	assert_true(c->heartbeat == 600);
	assert_int_equal(c->once_self_metrics, 0);
	assert_string_equal(c->instance, "0.0.0.0:5000");
	assert_int_equal(c->gw.n_headers, 1);
	assert_string_equal(c->gw.headers[0], "X-Team: payments");
	assert_null(c->gw.username);
	assert_null(c->rw.url);
	assert_string_equal(c->rw.headers[0], "X-Scope-OrgID: team-a");
	assert_int_equal(c->rw_max_samples_per_send, 2000);
	assert_string_equal(c->listen, "127.0.0.1:9102");
	assert_int_equal(c->n_histograms, 3);
	assert_int_equal(c->histograms[0].n, 11);
	assert_int_equal(c->histograms[0].form, CFG_HIST_CLASSIC);
	assert_int_equal(c->histograms[1].n, 5);
	assert_true(c->histograms[1].bounds[4] == 1e5);
	assert_string_equal(c->histograms[2].name, "query_duration_seconds");
	assert_int_equal(c->histograms[2].form, CFG_HIST_NATIVE);
	assert_int_equal(c->histograms[2].n, 0);
	assert_int_equal(c->histograms[2].schema, 3);
	assert_int_equal(c->histograms[2].max_buckets, 160);
	assert_int_equal(c->log_level, LOG_LINFO);

	/* What cfg_print writes loads again, to the same settings. */
	out = print_cfg(c);
	assert_int_equal(cfg_load_string(out, "contrib/collector-agent.conf",
	    &c2, &errs), CFG_OK);
	out2 = print_cfg(c2);
	assert_string_equal(out, out2);
	free(out);
	free(out2);
	cfg_free(c);
	cfg_free(c2);
}

static void
test_print(void **state)
{
	cfg *c = load_ok("pushgateway: { interval = 1.25; job = \"q\\\"\\\\\"; "
	    "};\nhistograms = ( { name = \"h\"; buckets = [ 1.0, 2.5 ]; } );\n");
	char *out = print_cfg(c);

	(void)state;
	assert_non_null(strstr(out, "# env file: none\n"));
	assert_non_null(strstr(out, "pushgateway: {\n\turl = "
	    "\"http://127.0.0.1:9091\";\n\tenabled = true;\n\tinterval = 1.25;"
	    "\n\theartbeat = 300.0;\n\tjob = \"q\\\"\\\\\";\n"));
	assert_non_null(strstr(out, "\tonce_self_metrics = false;\n"));
	assert_non_null(strstr(out, "\ttimeout = 10.0;\n"));
	assert_non_null(strstr(out, "\tmax_samples_per_send = 2000;\n"));
	assert_non_null(strstr(out, "limits: {\n\tmax_groups = 1000;\n"
	    "\tmax_series_per_group = 20000;\n\tmax_series = 100000;\n};\n"));
	assert_non_null(strstr(out, "\tpassword_file = \"\";\n"));
	assert_non_null(strstr(out, "\theaders = [];\n"));
	assert_non_null(strstr(out, "listen = \"\";\nhistograms = (\n  { name "
	    "= \"h\"; format = \"classic\"; buckets = [ 1.0, 2.5 ]; }\n);\n"
	    "log: {\n\tlevel = \"info\";\n};\n"));
	free(out);
	cfg_free(c);
}

static void
test_include_in_file(void **state)
{
	char *sub, *main_conf;
	cfg_args a = { 0 };
	cfg *c = NULL;
	char *errs = NULL, *want = NULL;

	(void)state;
	sub = put_file("gw.inc", "pushgateway: { interval = 12;\n foo = 1; };\n");
	main_conf = put_file("main.conf", "log: { level = \"debug\"; };\n"
	    "@include \"gw.inc\"\n");
	a.config_file = main_conf;
	/* Relative to the including file; messages name the included one. */
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_EINVAL);
	assert_string_equal(errs, "gw.inc:2: unknown setting "
	    "'pushgateway.foo'\n");
	free(errs);
	free(sub);
	sub = put_file("gw.inc", "pushgateway: { interval = 12; };\n");
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_OK);
	assert_true(c->interval == 12);
	assert_int_equal(c->log_level, LOG_LDEBUG);
	cfg_free(c);
	free(sub);
	free(main_conf);

	main_conf = put_file("syntax.conf", "a = 1;\nb = [;\n");
	a.config_file = main_conf;
	assert_int_equal(load_env(&a, no_env, &c, &errs), CFG_EINVAL);
	assert_true(asprintf(&want, "%s:2: syntax error\n", main_conf) > 0);
	assert_string_equal(errs, want);
	free(want);
	free(errs);
	free(main_conf);
}

/* The file and the other layers are reported together. */
static void
test_errors_across_layers(void **state)
{
	char *conf = put_file("x.conf", "pushgateway: { timeout = 0; };\n");
	static const char *const env[] = {
		"PROMETHEUS_PUSHGATEWAY_INTERVAL=-1", NULL
	};
	cfg_args a = { 0 };
	cfg *c = NULL;
	char *errs = NULL, *want = NULL;

	(void)state;
	a.config_file = conf;
	a.log_level = "loud";
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_EINVAL);
	assert_true(asprintf(&want,
	    "%s:1: pushgateway.timeout: must be between 0.1 and 600\n"
	    "env PROMETHEUS_PUSHGATEWAY_INTERVAL: must be between 1 and 86400\n"
	    "--log-level: must be debug, info, warn or error: 'loud'\n",
	    conf) > 0);
	assert_string_equal(errs, want);
	free(want);
	free(errs);
	/* A missing -c file wins the status, the rest is still said. */
	a.config_file = "/nonexistent.conf";
	assert_int_equal(load_env(&a, env, &c, &errs), CFG_ENOENT);
	assert_string_equal(errs, "/nonexistent.conf: cannot read the "
	    "configuration file (No such file or directory)\n"
	    "env PROMETHEUS_PUSHGATEWAY_INTERVAL: must be between 1 and 86400\n"
	    "--log-level: must be debug, info, warn or error: 'loud'\n");
	free(errs);
	free(conf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_missing_c_file),
		cmocka_unit_test(test_missing_env_file),
		cmocka_unit_test(test_default_file_used),
		cmocka_unit_test(test_env_each_name),
		cmocka_unit_test(test_env_enabled_spellings),
		cmocka_unit_test(test_env_instance),
		cmocka_unit_test(test_env_empty_is_unset),
		cmocka_unit_test(test_env_bad_values),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_env_file_layer),
		cmocka_unit_test(test_env_parse),
		cmocka_unit_test(test_env_parse_bad_lines),
		cmocka_unit_test(test_env_parse_fn_stops),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_retry_order),
		cmocka_unit_test(test_heartbeat),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_histograms),
		cmocka_unit_test(test_histogram_limits),
		cmocka_unit_test(test_histogram_forms),
		cmocka_unit_test(test_histogram_bucket_factor),
		cmocka_unit_test(test_histogram_form_errors),
		cmocka_unit_test(test_histogram_print),
		cmocka_unit_test(test_enums_and_strings),
		cmocka_unit_test(test_parse_error),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_contrib_conf),
		cmocka_unit_test(test_print),
		cmocka_unit_test(test_include_in_file),
		cmocka_unit_test(test_errors_across_layers),
		cmocka_unit_test(test_unknown_keys_near),
		cmocka_unit_test(test_env_near_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
