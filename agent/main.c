/*
 * collector-agent — carries metrics from the spool to a Pushgateway.
 * The contract is docs/agent.md and collector-agent(8); exit statuses are
 * sysexits.h.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <malloc.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent.h"
#include "cfg.h"
#include "collector-spool.h"
#include "log.h"
#include "sig.h"

extern char **environ;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: collector-agent [-c FILE] [--env-file FILE] [--spool PATH] [--gateway URL]\n"
	    "                       [--job NAME] [--instance VALUE] [--interval SECONDS]\n"
	    "                       [--heartbeat SECONDS] [--listen ADDR:PORT]\n"
	    "                       [--remote-write URL] [--log-level LEVEL]\n"
	    "                       [--once] [--once-timeout SECONDS]\n"
	    "                       [-t|--check-config] [-V|--version] [-h|--help]\n"
	    "\n"
	    "Folds the metric rows that applications write into the spool and pushes\n"
	    "each changed group to a Prometheus Pushgateway, retrying while it is down.\n"
	    "\n"
	    "  -c, --config FILE    configuration file (default %s;\n"
	    "                       a missing default file is fine)\n"
	    "      --env-file FILE  KEY=VALUE lines; the real environment wins over them\n"
	    "      --spool PATH     the spool file (default %s)\n"
	    "      --gateway URL    the Pushgateway's base URL (default http://127.0.0.1:9091)\n"
	    "      --job NAME       job for rows that name none (default collector_agent)\n"
	    "      --instance VALUE instance label of the default grouping\n"
	    "      --interval SECS  seconds between pushes (default 60)\n"
	    "      --heartbeat SECS  seconds between pushes of the agent's own metrics\n"
	    "                       when nothing changed (default 10 intervals, >= 300)\n"
	    "      --listen ADDR:PORT  serve /metrics (pull mode)\n"
	    "      --remote-write URL  also send to a remote-write receiver\n"
	    "      --log-level LEVEL   debug, info, warn or error\n"
	    "      --once           fold, push, expire, then exit (for batch jobs)\n"
	    "      --once-timeout SECS  --once gives up after this long (default 30)\n"
	    "  -t, --check-config   check the configuration, print it (secrets redacted)\n"
	    "  -V, --version        print the version\n"
	    "  -h, --help           this help\n"
	    "\n"
	    "Environment: PROMETHEUS_PUSHGATEWAY_URL, PROMETHEUS_PUSHGATEWAY_ENABLED,\n"
	    "PROMETHEUS_PUSHGATEWAY_INTERVAL, PROMETHEUS_PUSHGATEWAY_HEARTBEAT,\n"
	    "PROMETHEUS_PUSHGATEWAY_GZIP, PROMETHEUS_JOB_NAME, API_HOST, API_PORT,\n"
	    "COLLECTOR_SPOOL.\n"
	    "Precedence: flags > environment > env file > config file.\n"
	    "\n"
	    "Exit status: 0 ok; 64 usage; 65 the gateway refused data (kept);\n"
	    "66 a named file is missing; 69 another agent uses the spool;\n"
	    "73/74 spool cannot be created/read;\n"
	    "75 gateway unreachable within once_timeout (data kept); 78 bad configuration\n"
	    "(also: the gateway answered 401, 403 or 404 to --once).\n",
	    CFG_DEFAULT_FILE, SPOOL_DEFAULT_PATH);
}

/* Prints each collected configuration message on its own line: plain
 * at start (before anything runs), as log lines on a reload. */
static void
print_errors(const char *errors, int as_log)
{
	const char *p = errors;

	while (p != NULL && *p) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);
		if (n > 0 && as_log) {
			char *line = strndup(p, (size_t)n);
			log_errorx("invalid configuration", "error=%s",
			    log_q(line ? line : "out of memory"));
			free(line);
		} else if (n > 0)
			fprintf(stderr, "collector-agent: %.*s\n", n, p);
		p = nl ? nl + 1 : NULL;
	}
}

static int reloading;

static cfg *
load(const cfg_args *args, int *status)
{
	char *errors = NULL;
	cfg *c = NULL;
	cfg_err e = cfg_load(args, environ, NULL, &c, &errors);

	switch (e) {
	case CFG_OK:
		*status = EX_OK;
		break;
	case CFG_EINVAL:
		*status = EX_CONFIG;
		break;
	case CFG_ENOENT:
		*status = EX_NOINPUT;
		break;
	case CFG_ENOMEM:
		*status = EX_OSERR;
		break;
	}
	if (e != CFG_OK) {
		print_errors(errors ? errors : cfg_strerror(e), reloading);
		c = NULL;
	} else
		cfg_warn(c);
	free(errors);
	return c;
}

static cfg *
reload(void *arg)
{
	int status;

	reloading = 1;
	return load(arg, &status);
}

int
main(int argc, char **argv)
{
	enum { O_ENV = 256, O_SPOOL, O_GW, O_JOB, O_INST, O_INTERVAL,
	    O_HEARTBEAT, O_LISTEN, O_LEVEL, O_ONCE, O_RW, O_ONCE_TIMEOUT };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "env-file", required_argument, NULL, O_ENV },
		{ "spool", required_argument, NULL, O_SPOOL },
		{ "gateway", required_argument, NULL, O_GW },
		{ "job", required_argument, NULL, O_JOB },
		{ "instance", required_argument, NULL, O_INST },
		{ "interval", required_argument, NULL, O_INTERVAL },
		{ "heartbeat", required_argument, NULL, O_HEARTBEAT },
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "remote-write", required_argument, NULL, O_RW },
		{ "log-level", required_argument, NULL, O_LEVEL },
		{ "once", no_argument, NULL, O_ONCE },
		{ "once-timeout", required_argument, NULL, O_ONCE_TIMEOUT },
		{ "check-config", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	cfg_args args = { 0 };
	int once = 0, check = 0, ch, status;
	agent_t *a;
	cfg *c;

	/* First of all: a SIGHUP (systemctl reload) or SIGTERM that comes
	 * while the configuration loads must wait, not kill the agent. */
	sig_init();
	/* The agent holds secrets (passwords, tokens): no core file, no
	 * ptrace by other processes of its user. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Big short-lived buffers (a scrape's body, a fold's batch) are
	 * mapped and go back to the system when freed, instead of raising
	 * glibc's threshold and staying in the heap. */
	mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:tVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': args.config_file = optarg; break;
		case O_ENV: args.env_file = optarg; break;
		case O_SPOOL: args.spool = optarg; break;
		case O_GW: args.gateway = optarg; break;
		case O_JOB: args.job = optarg; break;
		case O_INST: args.instance = optarg; break;
		case O_INTERVAL: args.interval = optarg; break;
		case O_HEARTBEAT: args.heartbeat = optarg; break;
		case O_LISTEN: args.listen = optarg; break;
		case O_RW: args.remote_write = optarg; break;
		case O_LEVEL: args.log_level = optarg; break;
		case O_ONCE: once = 1; break;
		case O_ONCE_TIMEOUT: args.once_timeout = optarg; break;
		case 't': check = 1; break;
		case 'V':
			printf("collector-agent %s (libcollector-spool %s, %s)\n",
			    SPOOL_VERSION, spool_version(), curl_version());
			return EX_OK;
		case 'h':
			usage(stdout);
			return EX_OK;
		case ':':
			fprintf(stderr, "collector-agent: option %s needs a "
			    "value\nTry 'collector-agent --help'.\n",
			    argv[optind - 1]);
			return EX_USAGE;
		default:
			fprintf(stderr, "collector-agent: unknown option %s\n"
			    "Try 'collector-agent --help'.\n",
			    argv[optind - 1]);
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "collector-agent: unexpected argument '%s'\n"
		    "Try 'collector-agent --help'.\n", argv[optind]);
		return EX_USAGE;
	}
	if ((c = load(&args, &status)) == NULL)
		return status;
	if (check) {
		cfg_print(c, stdout);
		if (cfg_check(c) > 0)
			fprintf(stderr, "collector-agent: configuration OK, "
			    "with the warnings above\n");
		else
			fprintf(stderr, "collector-agent: configuration OK\n");
		cfg_free(c);
		return EX_OK;
	}
	log_init(c->log_level);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cfg_free(c);
		log_errorx("cannot initialise libcurl", NULL);
		return EX_SOFTWARE;
	}
	if ((status = agent_new(c, &a)) != 0) {
		curl_global_cleanup();
		return status;
	}
	/* A batch job's supervisor stops --once like any short command. */
	if (once)
		sig_default();
	status = once ? agent_once(a) : agent_run(a, reload, &args);
	agent_free(a);
	curl_global_cleanup();
	return status;
}
