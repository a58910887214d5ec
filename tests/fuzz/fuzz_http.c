/* libFuzzer target: the parser of the one piece of client input the
 * pull-mode listener reads itself, Accept-Encoding (libmicrohttpd parses
 * the rest of the request). The answer is 0 or 1; without "gzip" or "*"
 * in the header it must be 0; and a header that only adds codings after
 * an explicit gzip refusal must not turn it into a yes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
mentions(const char *s, const char *what)
{
	size_t n = strlen(what);

	for (; *s; s++)
		if (strncasecmp(s, what, n) == 0)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), *t;
	int r;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	r = serve_accepts_gzip(s);
	if (r != 0 && r != 1)
		abort();
	if (r && !mentions(s, "gzip") && strchr(s, '*') == NULL)
		abort();
	/* "gzip;q=0, <anything>" refuses, whatever follows (as long as it
	 * names no gzip again). */
	if (!mentions(s, "gzip") && (t = malloc(size + 16)) != NULL) {
		memcpy(t, "gzip;q=0, ", 10);
		memcpy(t + 10, s, size + 1);
		if (serve_accepts_gzip(t) != 0)
			abort();
		free(t);
	}
	if (serve_accepts_gzip(NULL) != 0)
		abort();
	free(s);
	return 0;
}
