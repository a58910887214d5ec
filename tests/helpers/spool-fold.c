/* Test helper: folds the whole inbox once, as the agent will, and prints
 * the totals: "rows=N lines=N rejected=N deletes=N". */
#include <stdio.h>

#include "spool-agent.h"

int
main(int argc, char **argv)
{
	spool_fold_result r, t = { 0, 0, 0, 0, 0 };
	spool_t *s;
	char err[1024];

	if (argc != 2) {
		fprintf(stderr, "usage: spool-fold SPOOL\n");
		return 64;
	}
	if (spool_open(argv[1], NULL, &s, err, sizeof(err)) != SPOOL_OK) {
		fprintf(stderr, "spool-fold: %s\n", err);
		return 74;
	}
	for (int i = 0; i < 1000000; i++) {
		if (spool_fold(s, NULL, &r) != SPOOL_OK) {
			fprintf(stderr, "spool-fold: %s\n", spool_errmsg(s));
			spool_close(s);
			return 74;
		}
		if (r.rows == 0)
			break;
		t.rows += r.rows;
		t.lines += r.lines;
		t.rejected += r.rejected;
		t.deletes += r.deletes;
	}
	spool_close(s);
	printf("rows=%zu lines=%zu rejected=%zu deletes=%zu\n", t.rows, t.lines,
	    t.rejected, t.deletes);
	return 0;
}
