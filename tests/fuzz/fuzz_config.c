/* libFuzzer target: the config file parser. Whatever loads must print as a
 * file that loads again to the same settings (cfg_print() is what -t shows
 * and what an operator may copy back), and nothing may leak either way. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_suppressions(void);

/*
 * libconfig 1.5 (Debian 12) leaks a string token when a syntax error
 * follows it ('a = "x" b', 'a = "" b'): its grammar has no %destructor
 * (upstream fixed it in 1.7). Only allocations by its scanner are let go;
 * the settings that config_destroy() must free are allocated by the parser,
 * so a missing config_destroy() is still caught.
 */
const char *
__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

static char *
print(const cfg *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		abort();
	cfg_print(c, f);
	if (fclose(f) != 0)
		abort();
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *errs = NULL, *out, *out2;
	cfg *c = NULL, *c2 = NULL;
	cfg_err rc;

	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	rc = cfg_load_string(text, "fuzz.conf", &c, &errs);
	if (rc == CFG_OK) {
		if (c == NULL || errs != NULL)
			abort();
		out = print(c);
		if (cfg_load_string(out, "fuzz.conf", &c2, &errs) != CFG_OK) {
			fprintf(stderr, "printed config does not load:\n%s\n"
			    "%s", out, errs ? errs : "");
			abort();
		}
		out2 = print(c2);
		if (strcmp(out, out2) != 0) {
			fprintf(stderr, "print differs:\n%s\n---\n%s", out,
			    out2);
			abort();
		}
		free(out);
		free(out2);
		cfg_free(c2);
	} else if (c != NULL || (rc == CFG_EINVAL && (errs == NULL ||
	    *errs == '\0' || errs[strlen(errs) - 1] != '\n')))
		abort();
	cfg_free(c);
	free(errs);
	free(text);
	return 0;
}
