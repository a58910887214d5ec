/*
 * writer.c — write metrics into the collector-agent spool from C, with
 * libcollector-spool.
 *
 *     cc -o writer writer.c $(pkg-config --cflags --libs collector-spool)
 *     ./writer [SPOOL]
 *
 * SPOOL defaults to $COLLECTOR_SPOOL, then /var/lib/collector-agent/spool.db.
 * One run writes, as one transaction, into the group job="writer_example",
 * instance="c":
 *
 *     example_temperature_celsius 21.5   a gauge (op set: the last write wins)
 *     example_runs_total +1              a counter (op add: one more run)
 *     example_duration_seconds 0.3       one histogram observation (op observe)
 *
 * so after N runs the agent pushes example_runs_total N and
 * example_duration_seconds_count N. Writing never waits for the network;
 * the agent delivers the rows.
 *
 * Exit status: 0 written; otherwise the library's status for the error
 * (sysexits.h: 65 bad data, 73 the spool cannot be created, 74 not a spool
 * or damaged, 75 locked past the busy timeout: try again later; in all of
 * these nothing was written). 71: the commit failed and the rows may or may
 * not have been written; running it again could count example_runs_total
 * twice, so check its value first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <collector-spool.h>

#define JOB "writer_example"
#define GROUPING "instance=\"c\""

/* The rows: HELP and TYPE lines go with the samples they describe. */
static const struct row {
	spool_op op;
	const char *body;
} rows[] = {
	{ SPOOL_OP_SET,
	  "# HELP example_temperature_celsius Last temperature read.\n"
	  "# TYPE example_temperature_celsius gauge\n"
	  "example_temperature_celsius 21.5\n" },
	{ SPOOL_OP_ADD,
	  "# HELP example_runs_total Runs of the example writer.\n"
	  "# TYPE example_runs_total counter\n"
	  "example_runs_total 1\n" },
	{ SPOOL_OP_OBSERVE,
	  "example_duration_seconds 0.3\n" },
};

int
main(int argc, char **argv)
{
	const char *path;
	spool_t *s = NULL;
	spool_err e;
	char err[512];
	size_t i;
	int status = 0;

	if (argc > 2) {
		fprintf(stderr, "usage: writer [SPOOL]\n");
		return 64;
	}
	path = argc == 2 ? argv[1] : getenv("COLLECTOR_SPOOL");
	if (path == NULL || path[0] == '\0')
		path = SPOOL_DEFAULT_PATH;

	/* Creates the spool if it is not there yet (mode 0660 less the
	 * umask); NULL options: the default busy timeout and durability. */
	e = spool_open(path, NULL, &s, err, sizeof err);
	if (e != SPOOL_OK) {
		fprintf(stderr, "writer: %s\n", err);
		return spool_exit_status(e);
	}

	/* One transaction for the three rows: all of them or none. */
	e = spool_batch_begin(s);
	for (i = 0; e == SPOOL_OK && i < sizeof rows / sizeof rows[0]; i++)
		e = spool_put(s, JOB, GROUPING, rows[i].op, rows[i].body,
		    strlen(rows[i].body));
	if (e == SPOOL_OK)
		e = spool_batch_commit(s);
	if (e != SPOOL_OK) {
		/* spool_errmsg() has the words (the path, the line, the fix);
		 * spool_strerror() the kind of error. */
		fprintf(stderr, "writer: %s: %s\n", spool_strerror(e),
		    spool_errmsg(s));
		/* The rows may be in the spool: an add written again would
		 * count twice. Whoever runs this must look before retrying. */
		if (e == SPOOL_EUNKNOWN)
			fprintf(stderr, "writer: do not run again before "
			    "checking example_runs_total: it may have counted "
			    "this run\n");
		spool_batch_rollback(s);
		status = spool_exit_status(e);
	}
	spool_close(s);
	return status;
}
