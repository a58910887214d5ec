/* libFuzzer target: the exposition line parser and the body check.
 * Beyond "no crash": a line that parses must parse the same way again, a
 * parsed value must survive format → parse bit for bit, label values
 * must be valid UTF-8 with only the three escapes, and the family checks
 * give a reason or nothing. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector-spool.h"
#include "expo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static expo_line l1, l2;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *why = NULL;
	char err[256], buf[EXPO_VALUE_BUF];

	/* The body check over the whole input, each op. */
	for (int op = SPOOL_OP_SET; op <= SPOOL_OP_REPLACE; op++)
		(void)spool_validate_body((spool_op)op, s, size, err,
		    sizeof(err));
	if (expo_parse_line(s, size, &l1, &why) != 0) {
		if (why == NULL || why[0] == '\0')
			abort(); /* every refusal has a reason */
		return 0;
	}
	if (expo_parse_line(s, size, &l2, &why) != 0 || l1.kind != l2.kind ||
	    l1.nlabels != l2.nlabels)
		abort();
	if (l1.kind == EXPO_SAMPLE) {
		double back;
		size_t n = expo_format_value(l1.value, buf);
		if (expo_parse_value(buf, n, &back) != 0)
			abort();
		if (!(isnan(back) && isnan(l1.value)) &&
		    memcmp(&back, &l1.value, sizeof(back)) != 0)
			abort();
		if (!expo_valid_metric_name(l1.name.p, l1.name.len))
			abort();
		for (size_t i = 0; i < l1.nlabels; i++) {
			if (!expo_valid_label_name(l1.labels[i].name.p,
			    l1.labels[i].name.len) ||
			    !expo_valid_utf8(l1.labels[i].value.p,
			    l1.labels[i].value.len))
				abort();
		}
		/* The family checks, for the sample as its own family and as
		 * a member of every shorter name: a reason is never empty,
		 * and types without members have no rules. */
		for (size_t fl = 1; fl <= l1.name.len; fl++) {
			const char *h = expo_check_member(&l1, EXPO_HISTOGRAM,
			    fl), *q = expo_check_member(&l1, EXPO_SUMMARY, fl);
			if ((h != NULL && h[0] == '\0') ||
			    (q != NULL && q[0] == '\0') ||
			    expo_check_member(&l1, EXPO_GAUGE, fl) != NULL)
				abort();
		}
	}
	return 0;
}
