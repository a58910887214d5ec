/* Test helper: writes out the peer cases (tests/unit/expo_peers.h) for
 * tests/integration/test_expo_peers_gateway.sh, which PUTs each body to a
 * real Pushgateway. DIR/N.body holds case N's body, byte for byte; standard
 * output has one line per case:
 *   N TAB takes|refuses|alters TAB series TAB labels TAB shows TAB source
 * (series, labels and shows are "-" unless the gateway alters the data). */
#include <stdio.h>
#include <string.h>

#include "../unit/expo_peers.h"

int
main(int argc, char **argv)
{
	static const char *const gw[] = { "takes", "refuses", "alters" };
	char path[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: peers-dump DIR\n");
		return 64;
	}
	for (size_t i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		const struct peer *p = &peers[i];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%zu.body", argv[1], i);
		if ((f = fopen(path, "wb")) == NULL ||
		    fwrite(p->body, 1, p->len, f) != p->len || fclose(f) != 0) {
			perror(path);
			return 1;
		}
		printf("%zu\t%s\t%s\t%s\t%s\t%s\n", i, gw[p->gw],
		    p->series ? p->series : "-",
		    p->labels && *p->labels ? p->labels : "-",
		    p->shows ? p->shows : "-", p->src);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
