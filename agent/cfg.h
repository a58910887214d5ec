/*
 * cfg — the agent's settings: defaults, the libconfig file, the --env-file,
 * the environment and the command line, applied in that order so that the
 * later wins (docs/agent.md: command line > environment > env file > config file >
 * defaults). One table describes every file setting (key, type, range,
 * default); one function applies the precedence.
 *
 * Every problem is collected, not just the first: cfg_load() returns
 * CFG_EINVAL with all messages, one per line, each naming where it came from
 * ("/etc/collector-agent/collector-agent.conf:12: pushgateway.interval: must
 * be between 1 and 86400", "env PROMETHEUS_PUSHGATEWAY_INTERVAL: not a
 * number: 'abc'", "--interval: ..."). Unknown keys in the file are errors.
 * Secrets (password, bearer token) are read from their *_file settings at
 * load time and never printed: cfg_print() shows them as "<redacted>".
 */
#ifndef CFG_H
#define CFG_H

#include <stddef.h>
#include <stdio.h>

#include "http.h"

#define CFG_DEFAULT_FILE "/etc/collector-agent/collector-agent.conf"
/* The default heartbeat: this many intervals, and at least this many
 * seconds (docs/agent.md, "Heartbeat"). */
#define CFG_HEARTBEAT_INTERVALS 10
#define CFG_HEARTBEAT_MIN 300

typedef enum cfg_err {
	CFG_OK = 0,
	CFG_EINVAL,  /* invalid settings; the messages say which */
	CFG_ENOENT,  /* a file named by -c or --env-file is missing (exit 66) */
	CFG_ENOMEM
} cfg_err;

/* A short fixed description; never NULL. */
const char *cfg_strerror(cfg_err e);

/* A histogram's form (format = "classic" | "native" | "both"); the
 * spool's spool_hist_form, which agent.c maps it to. */
typedef enum cfg_hist_form {
	CFG_HIST_CLASSIC = 0,
	CFG_HIST_NATIVE,
	CFG_HIST_BOTH
} cfg_hist_form;

typedef struct cfg_histogram {
	char *name;       /* metric family name (valid metric name) */
	double *bounds;   /* finite, strictly increasing; at most
	                     SPOOL_MAX_BUCKETS. Classic: at least one;
	                     both: NULL and n 0 for the default bounds;
	                     native: NULL and n 0 */
	size_t n;
	cfg_hist_form form;    /* default classic */
	/* Native and both only (classic keeps the defaults): */
	int schema;            /* NHIST_SCHEMA_MIN..MAX; from schema or
	                        * bucket_factor; default SPOOL_NHIST_SCHEMA */
	double zero_threshold; /* finite, >= 0; default
	                        * SPOOL_NHIST_ZERO_THRESHOLD */
	size_t max_buckets;    /* 1..SPOOL_NHIST_MAX_BUCKETS; default
	                        * SPOOL_NHIST_MAX_BUCKETS_DEFAULT */
} cfg_histogram;

typedef struct cfg {
	/* spool */
	char *spool_path;          /* default SPOOL_DEFAULT_PATH */
	int spool_sync_full;       /* spool.synchronous = "full" */

	/* limits on what writers may create in the spool; 0: none */
	long max_groups;           /* default 1000 */
	long max_series_per_group; /* default 20000 */
	long max_series;           /* default 100000 */

	/* pushgateway */
	http_conf gw;              /* default url http://127.0.0.1:9091, timeout 10 */
	int enabled;               /* default 1 */
	double interval;           /* seconds, default 60, 1..86400 */
	double heartbeat;          /* seconds between pushes of the agent's
	                            * own metrics when nothing is news; never
	                            * less than interval. Unset: the default
	                            * below, resolved by cfg_load() */
	char *job;                 /* default "collector_agent" */
	char *instance;            /* default API_HOST:API_PORT, else host name */
	double retry_min;          /* default 1 */
	double retry_max;          /* default 60 (>= retry_min) */
	double group_ttl;          /* seconds, 0 disables; default 0 */
	double once_timeout;       /* default 30 */
	int once_self_metrics;     /* --once pushes the agent's own metrics
	                            * too; default 0 */

	/* remote write; url NULL or "" disables it */
	http_conf rw;
	long rw_max_samples_per_send; /* default 2000 */

	char *listen;              /* "ADDR:PORT" or NULL/"" for none */
	cfg_histogram *histograms;
	size_t n_histograms;
	int log_level;             /* log.h levels; default info */

	char *config_file;         /* the file read, NULL when none was */
	char *env_file;            /* the env file read, NULL when none */
	char *warnings;            /* what the load found valid but likely
	                            * wrong (a near-miss environment name),
	                            * one message a line; NULL: none.
	                            * cfg_warn() logs them */
} cfg;

/* What the command line gave; NULL for a flag not given. */
typedef struct cfg_args {
	const char *config_file;   /* -c FILE */
	const char *env_file;      /* --env-file FILE */
	const char *spool;
	const char *gateway;
	const char *job;
	const char *instance;
	const char *interval;      /* text, checked like the file's */
	const char *heartbeat;
	const char *listen;
	const char *log_level;
	const char *remote_write;
	const char *once_timeout;  /* --once-timeout SECONDS */
} cfg_args;

/*
 * Builds the settings from defaults, the config file (args->config_file, or
 * CFG_DEFAULT_FILE when that exists), args->env_file, the environment envp
 * (NULL-terminated "KEY=VALUE" strings, as environ) and args.
 * On CFG_OK, *out is the caller's, freed with cfg_free(). Otherwise *out is
 * NULL and *errors (caller frees) holds every message, one per line.
 * default_file overrides CFG_DEFAULT_FILE (tests); NULL for the default.
 */
cfg_err cfg_load(const cfg_args *args, char *const *envp,
    const char *default_file, cfg **out, char **errors)
    __attribute__((warn_unused_result));

/*
 * Parses libconfig text as the config file would be (for tests and the
 * fuzzer), on top of the defaults; name is used in messages. Same ownership
 * as cfg_load().
 */
cfg_err cfg_load_string(const char *text, const char *name, cfg **out,
    char **errors) __attribute__((warn_unused_result));

/*
 * Parses env-file text: KEY=VALUE lines, '#' comments and blank lines,
 * an optional "export " prefix, values optionally in single or double
 * quotes (double quotes take \" \\ \n escapes). Calls fn for each pair
 * (strings borrowed until fn returns); fn returns 0 to go on, anything
 * else stops the parse (CFG_ENOMEM is passed back as it is, any other
 * value as CFG_EINVAL). Bad lines are
 * appended to *errors as "name:LINE: reason" (caller frees; may be NULL on
 * entry). Returns CFG_OK, CFG_EINVAL when any line was bad, or CFG_ENOMEM.
 */
cfg_err cfg_parse_env(const char *text, size_t len, const char *name,
    int (*fn)(const char *key, const char *value, void *arg), void *arg,
    char **errors) __attribute__((warn_unused_result));

/* Prints the effective settings as a libconfig file, secrets redacted. */
void cfg_print(const cfg *c, FILE *f);

/*
 * Logs (log_warnx) what is valid but unsafe or likely a mistake:
 * insecure_skip_verify, secret files (password, token, TLS key) that other
 * users may read, a gateway URL that ends in /metrics, and c->warnings.
 * Called at start, by -t, and after each reload.
 */
void cfg_warn(const cfg *c);

/*
 * What only -t checks, after cfg_warn(): the things the agent would meet at
 * start, as the user running -t (the spool's directory exists and that
 * user may write it). Logs a warning for each, with the path and the fix;
 * returns how many.
 */
int cfg_check(const cfg *c);

/* NULL is a no-op. */
void cfg_free(cfg *c);

#endif
