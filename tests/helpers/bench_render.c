/*
 * Benchmark: renders one group of 100,000 counter series shaped like
 * api_requests_total{code="200",method="GET",path="/api/v1/items/12345"}
 * N times into one reused buffer and prints
 *
 *   bench render series=100000 bytes=<len> ms_per_render=<x>
 *
 * Usage: bench_render [BODY_FILE [N]]. The body is written once to
 * BODY_FILE when given and not "", to compare with other renderers' output.
 * The same series as the Python reference: code codes[i % 5], method
 * methods[i / 5 % 4], path /api/v1/items/(10000 + i / 20), value
 * (i * 7919) % 100000 + 1.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "render.h"

#define SERIES 100000

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
	static const char *const codes[] = { "200", "201", "400", "404",
	    "500" };
	static const char *const methods[] = { "GET", "POST", "PUT",
	    "DELETE" };
	spool_family fam = { "api_requests_total", "counter", 1,
	    "Requests served." };
	spool_sample *xs = calloc(SERIES, sizeof(*xs));
	char (*labels)[96] = calloc(SERIES, sizeof(*labels));
	int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 20;
	double t0, t1, best = 1e300;
	dbuf_err e = DBUF_OK;
	dbuf b;

	if (xs == NULL || labels == NULL) {
		fprintf(stderr, "bench_render: out of memory\n");
		return 71;
	}
	if (n < 1)
		n = 1;
	for (int i = 0; i < SERIES; i++) {
		snprintf(labels[i], sizeof(labels[i]),
		    "code=\"%s\",method=\"%s\",path=\"/api/v1/items/%d\"",
		    codes[i % 5], methods[i / 5 % 4], 10000 + i / 20);
		xs[i].name = "api_requests_total";
		xs[i].labels = labels[i];
		xs[i].value = (double)((long long)i * 7919 % 100000 + 1);
		xs[i].hist = NULL;
	}
	dbuf_init(&b, 256u << 20);
	t0 = now_ms();
	for (int r = 0; r < n && e == DBUF_OK; r++) {
		double s = now_ms(), d;

		dbuf_reset(&b);
		e = render_family(&b, &fam);
		for (int i = 0; i < SERIES && e == DBUF_OK; i++)
			e = render_sample(&b, &xs[i], NULL);
		d = now_ms() - s;
		if (d < best)
			best = d;
	}
	t1 = now_ms();
	if (e != DBUF_OK) {
		fprintf(stderr, "bench_render: %s\n", render_strerror(e));
		return 70;
	}
	printf("bench render series=%d bytes=%zu ms_per_render=%.3f "
	    "best_ms=%.3f renders=%d\n", SERIES, b.len, (t1 - t0) / n, best,
	    n);
	if (argc > 1 && argv[1][0] != '\0') {
		FILE *fp = fopen(argv[1], "w");

		if (fp == NULL || fwrite(b.p, 1, b.len, fp) != b.len ||
		    fclose(fp) != 0) {
			perror(argv[1]);
			return 73;
		}
	}
	dbuf_free(&b);
	free(labels);
	free(xs);
	return 0;
}
