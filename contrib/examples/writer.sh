#!/bin/sh
# Write metrics into the collector-agent spool from a shell script, two ways:
# with the collector-spool tool (checks every line before writing) and with
# the sqlite3 command-line program (plain SQL, as any language can).
#
#     writer.sh [SPOOL]
#
# SPOOL defaults to $COLLECTOR_SPOOL, then /var/lib/collector-agent/spool.db.
# One run writes into the group job="writer_example", instance="sh":
#
#     example_temperature_celsius 21.5   a gauge (op set: the last write wins)
#     example_runs_total +1              a counter (op add: one more run)
#     example_duration_seconds 0.3       one histogram observation (op observe)
#
# so after N runs the agent pushes example_runs_total N and
# example_duration_seconds_count N. Needs collector-spool and sqlite3 in
# PATH. Exits with the status of the step that failed (collector-spool's are
# sysexits.h codes: 65 bad line, 73 cannot create the spool, 75 locked:
# retry later; 71 outcome unknown: the row may or may not have been written,
# so check example_runs_total before running again; sqlite3 exits 1).
set -eu

spool=${1:-${COLLECTOR_SPOOL:-/var/lib/collector-agent/spool.db}}
job=writer_example
grouping='instance="sh"'

# 1. collector-spool put: one row per call, all its lines or none. Lines come
#    from the arguments or, with none, from standard input. It creates the
#    spool if it is not there yet.
collector-spool --spool "$spool" put --job "$job" --grouping "$grouping" <<'EOF'
# HELP example_temperature_celsius Last temperature read.
# TYPE example_temperature_celsius gauge
example_temperature_celsius 21.5
EOF
collector-spool --spool "$spool" put --job "$job" --grouping "$grouping" --op add \
	'# HELP example_runs_total Runs of the example writer.' \
	'# TYPE example_runs_total counter' \
	'example_runs_total 1'

# 2. sqlite3: the spool's stable interface,
#        INSERT INTO inbox(job, grouping, op, body) VALUES (?, ?, ?, ?);
#    The agent checks the row when it folds it; a bad one lands in
#    `collector-spool rejected` and never blocks others. SQL string literals
#    double their single quotes; sql_quote does that for any value.
sql_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"
}
# .timeout: wait up to 5 s for the write lock while the agent folds (SQLite's
# busy timeout), which is reliable because BEGIN IMMEDIATE takes the lock
# up front. Put many rows between BEGIN and COMMIT: one transaction is far
# cheaper than one per row. char(10) ends the body's line.
sqlite3 -bail "$spool" <<EOF
.timeout 5000
BEGIN IMMEDIATE;
INSERT INTO inbox(job, grouping, op, body) VALUES
	($(sql_quote "$job"), $(sql_quote "$grouping"), 'observe',
	 'example_duration_seconds 0.3' || char(10));
COMMIT;
EOF
