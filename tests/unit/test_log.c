/* The log module (agent/log.c): levels by name, logfmt quoting, and the
 * limit on lines that a lasting failure would repeat. */
#include "testutil.h"

#include <errno.h>

#include "log.h"

static void
test_levels(void **state)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };

	(void)state;
	for (int i = LOG_LDEBUG; i <= LOG_LERROR; i++) {
		assert_int_equal(log_level_parse(names[i]), i);
		assert_string_equal(log_level_name(i), names[i]);
	}
	assert_int_equal(log_level_parse("warning"), LOG_LWARN);
	assert_int_equal(log_level_parse("loud"), -1);
	assert_int_equal(log_level_parse("INFO"), -1);
	assert_int_equal(log_level_parse(""), -1);
	assert_int_equal(log_level_parse(NULL), -1);
	/* Never NULL, whatever it is given. */
	assert_string_equal(log_level_name(-1), "info");
	assert_string_equal(log_level_name(4), "info");
	/* A level out of range leaves the one set. */
	log_init(LOG_LWARN);
	assert_int_equal(log_getlevel(), LOG_LWARN);
	log_setlevel(-1);
	log_setlevel(LOG_LERROR + 1);
	assert_int_equal(log_getlevel(), LOG_LWARN);
	log_setlevel(LOG_LDEBUG);
	assert_int_equal(log_getlevel(), LOG_LDEBUG);
	log_setlevel(LOG_LINFO);
}

static void
test_quote(void **state)
{
	(void)state;
	assert_string_equal(log_q("plain"), "plain");
	assert_string_equal(log_q("a/b:c,d{}[]~"), "a/b:c,d{}[]~");
	assert_string_equal(log_q(""), "\"\"");
	assert_string_equal(log_q("a b"), "\"a b\"");
	assert_string_equal(log_q("k=v"), "\"k=v\"");
	assert_string_equal(log_q("k=\"v\""), "\"k=\\\"v\\\"\"");
	assert_string_equal(log_q("a\\b"), "\"a\\\\b\"");
	assert_string_equal(log_q("a\nb\tc"), "\"a\\nb\\tc\"");
	assert_string_equal(log_q("\x01\x1f\x7f"), "\"\\x01\\x1f\\x7f\"");
	/* Bytes above ASCII (UTF-8) need no quotes and stay as they are. */
	assert_string_equal(log_q("gr\xc3\xbc\xc3\x9f"), "gr\xc3\xbc\xc3\x9f");
	assert_string_equal(log_q(NULL), "");
}

/* Long values are cut and say so: the quoted value before "..." is at most
 * 512 bytes, its opening quote included; a plain value of 512 goes whole. */
static void
test_quote_long(void **state)
{
	char in[700], want[600];
	const char *q;

	(void)state;
	memset(in, 'x', 512);
	in[512] = '\0';
	assert_ptr_equal(log_q(in), in);
	memset(in, 'x', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	q = log_q(in);
	snprintf(want, sizeof(want), "\"%.511s...\"", in);
	assert_string_equal(q, want);
	/* An escape that starts before the cut is written whole (4 bytes
	 * for a control character) and still fits the buffer. */
	memset(in, 'y', 509);
	memset(in + 509, '\x01', 100);
	in[609] = '\0';
	q = log_q(in);
	assert_int_equal(strlen(q), 1 + 509 + 4 + 3 + 1);
	assert_int_equal(strncmp(q + 1, in, 509), 0);
	assert_string_equal(q + 510, "\\x01...\"");
}

/* The quoted values come from a ring of eight buffers: eight in one line
 * stay valid together. */
static void
test_quote_ring(void **state)
{
	const char *q[8];
	char in[8][16], want[24];

	(void)state;
	for (int i = 0; i < 8; i++) {
		snprintf(in[i], sizeof(in[i]), "v %d", i);
		q[i] = log_q(in[i]);
	}
	for (int i = 0; i < 8; i++) {
		snprintf(want, sizeof(want), "\"v %d\"", i);
		assert_string_equal(q[i], want);
	}
}

/* What a log call writes to standard error, as one string (caller frees). */
static char *
captured(void (*emit)(void))
{
	tu_stderr_begin();
	emit();
	return tu_stderr_end();
}

/* "ts=YYYY-MM-DDTHH:MM:SS.mmmZ " at the start of each line: the rest. */
static const char *
after_ts(const char *line)
{
	assert_int_equal(strncmp(line, "ts=", 3), 0);
	assert_int_equal(strlen(line) > 28, 1);
	assert_true(line[7] == '-' && line[10] == '-' && line[13] == 'T' &&
	    line[16] == ':' && line[19] == ':' && line[22] == '.' &&
	    line[26] == 'Z' && line[27] == ' ');
	return line + 28;
}

static void
emit_levels(void)
{
	log_setlevel(LOG_LINFO);
	log_debug("not shown", "k=%d", 1);
	log_info("pushed group", "job=%s code=%d", log_q("api"), 200);
	log_warnx("slow", NULL);
	log_errorx("failed", "code=%d", 3);
	log_setlevel(LOG_LERROR);
	log_info("not shown either", NULL);
	log_warnx("nor this", NULL);
	log_errorx("shown", "why=%s", log_q("a b"));
	log_setlevel(LOG_LDEBUG);
	log_debug("now shown", "k=%d", 2);
	log_setlevel(LOG_LINFO);
}

/* One line per call at or above the level; msg quoted when it needs it;
 * the pairs after a blank; without pairs (NULL) nothing after msg. */
static void
test_lines(void **state)
{
	char *out = captured(emit_levels), *save = NULL, *line;
	static const char *const want[] = {
		"level=info msg=\"pushed group\" job=api code=200",
		"level=warn msg=slow",
		"level=error msg=failed code=3",
		"level=error msg=shown why=\"a b\"",
		"level=debug msg=\"now shown\" k=2",
	};
	size_t i = 0;

	(void)state;
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save), i++) {
		assert_true(i < TU_N(want));
		assert_string_equal(after_ts(line), want[i]);
	}
	assert_int_equal(i, TU_N(want));
	free(out);
}

static void
emit_errno(void)
{
	errno = ENOENT;
	log_warn("cannot open", "path=%s", log_q("/x y"));
	errno = ENOENT;
	log_warnx("cannot open", NULL);
}

/* log_warn appends errno's words, quoted; log_warnx does not. */
static void
test_errno(void **state)
{
	char *out = captured(emit_errno), want[256];

	(void)state;
	snprintf(want, sizeof(want), "level=warn msg=\"cannot open\" "
	    "path=\"/x y\" err=%s\n", log_q(strerror(ENOENT)));
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "level=warn msg=\"cannot open\"\n"));
	free(out);
}

static void
emit_long(void)
{
	char big[5000];

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_info("long", "v=%s", big);
}

/* A line longer than 4 KiB is cut, still one line with its newline. */
static void
test_long_line(void **state)
{
	char *out = captured(emit_long);

	(void)state;
	assert_int_equal(strlen(out), 4096);
	assert_int_equal(out[4095], '\n');
	assert_ptr_equal(strchr(out, '\n'), out + 4095);
	assert_non_null(strstr(after_ts(out), "level=info msg=long v=zzz"));
	free(out);
}

/* One line a period; the lines held back are counted and reported with
 * the next one; a clear starts afresh and says whether there was one. */
static void
test_limit(void **state)
{
	log_limit l = { 0, 0 };
	unsigned held = 99;

	(void)state;
	assert_int_equal(log_limit_clear(&l), 0);
	assert_int_equal(log_limit_pass(&l, 0, 60, &held), 1);
	assert_int_equal(held, 0);
	assert_int_equal(log_limit_pass(&l, 1, 60, &held), 0);
	assert_int_equal(log_limit_pass(&l, 59, 60, &held), 0);
	assert_int_equal(log_limit_pass(&l, 60.5, 60, &held), 1);
	assert_int_equal(held, 2);
	assert_int_equal(log_limit_pass(&l, 61, 60, &held), 0);
	assert_int_equal(log_limit_clear(&l), 1);
	assert_int_equal(log_limit_clear(&l), 0);
	assert_int_equal(log_limit_pass(&l, 62, 60, &held), 1);
	assert_int_equal(held, 0);
	/* A line at clock 0 still counts as given: the next is held. */
	assert_int_equal(log_limit_clear(&l), 1);
	assert_int_equal(log_limit_pass(&l, 0, 60, &held), 1);
	assert_int_equal(log_limit_pass(&l, 0.5, 60, &held), 0);
	assert_int_equal(log_limit_clear(&l), 1);
	/* Zeroed memory is a valid limit. */
	memset(&l, 0, sizeof(l));
	assert_int_equal(log_limit_pass(&l, 5, 1, &held), 1);
	assert_int_equal(held, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_quote_long),
		cmocka_unit_test(test_quote_ring),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_errno),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
