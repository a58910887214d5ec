/* libFuzzer target: the grouping parser. The canonical form must itself
 * parse, and to itself (canonicalising is idempotent), and a job name check
 * must never crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spool_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char *a = malloc(size + 1), *b = malloc(size + 1);
	const char *why;

	if (a == NULL || b == NULL)
		abort();
	(void)spool_check_job(s, size);
	why = spool_canon_grouping(s, size, a, size + 1);
	if (why == NULL) {
		size_t alen = strlen(a);
		if (alen > size)
			abort();
		if (spool_canon_grouping(a, alen, b, size + 1) != NULL ||
		    strcmp(a, b) != 0)
			abort();
	}
	free(a);
	free(b);
	return 0;
}
