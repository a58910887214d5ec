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
 *
 * bench_render --hist [N]: one group of 1,000 observed histograms, native
 * (schema 3, 20 to 40 buckets each, a gap now and then) and the same as
 * classic ones of the 11 default bounds, each rendered as text (render.c)
 * and encoded as protobuf (pbexpo.c), N times (default 20); prints
 *
 *   bench render_hist histograms=1000 native_buckets=<total>
 *     text_native_bytes= text_native_ms= pb_native_bytes= pb_native_ms=
 *     text_classic_bytes= text_classic_ms= pb_classic_bytes= pb_classic_ms=
 *
 * on one line, the times the best per group. Text carries only a native
 * histogram's count and sum (le="+Inf", _sum, _count): the protobuf bytes
 * are the ones that hold its buckets.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pbexpo.h"
#include "render.h"

#define SERIES 100000
#define HISTS 1000
#define HIST_MAX_BUCKETS 48

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The group, its form chosen by native. */
typedef struct hgroup {
	spool_sample x[HISTS];
	spool_hist h[HISTS];
	spool_nhist nh[HISTS];
	nhist_bucket b[HISTS][HIST_MAX_BUCKETS];
	uint64_t native_counts[HISTS][1];
	uint64_t classic_counts[HISTS][12];
	char labels[HISTS][64];
	size_t nbuckets;
} hgroup;

static const double classic_bounds[] = { .005, .01, .025, .05, .1, .25, .5,
	1, 2.5, 5, 10 };

static void
hgroup_make(hgroup *g, int native)
{
	static const char *const methods[] = { "GET", "POST", "PUT",
	    "DELETE" };
	uint32_t r = 12345;

	g->nbuckets = 0;
	for (int i = 0; i < HISTS; i++) {
		/* A request-latency shape: buckets around 2^-6 … 2^-1 s. */
		size_t n = 20 + (size_t)(i * 7 % 21), k = 0;
		int32_t at = -48 + i % 9;
		uint64_t total = 0;

		for (size_t j = 0; j < n; j++) {
			r = r * 1103515245u + 12345u;
			at += (r >> 16) % 11 == 0 ? 4 : 1;
			g->b[i][k].index = at;
			g->b[i][k].count = 1 + (int64_t)((r >> 8) % 500);
			total += (uint64_t)g->b[i][k].count;
			k++;
		}
		g->nbuckets += k;
		g->nh[i] = (spool_nhist){ 3, SPOOL_NHIST_ZERO_THRESHOLD, 3,
		    total + 3, 160, g->b[i], k, NULL, 0 };
		total += 3;
		snprintf(g->labels[i], sizeof(g->labels[i]),
		    "handler=\"/api/v1/items/%d\",method=\"%s\"", 10000 + i / 4,
		    methods[i % 4]);
		if (native) {
			g->native_counts[i][0] = total;
			g->h[i] = (spool_hist){ 0, NULL, g->native_counts[i],
			    (double)total * 0.042, &g->nh[i] };
		} else {
			uint64_t left = total;

			for (size_t j = 0; j < 11; j++) {
				uint64_t c = left / 4;

				g->classic_counts[i][j] = c;
				left -= c;
			}
			g->classic_counts[i][11] = left;
			g->h[i] = (spool_hist){ 11, classic_bounds,
			    g->classic_counts[i], (double)total * 0.042, NULL };
		}
		g->x[i] = (spool_sample){ "http_request_duration_seconds",
		    g->labels[i], 0, &g->h[i] };
	}
}

/* The best time of n renderings (pb: encodings) of the group; *bytes its
 * size. Returns 0, or -1 on a failure (said on stderr). */
static int
hgroup_time(const hgroup *g, int pb, int n, size_t *bytes, double *best)
{
	spool_family fam = { "http_request_duration_seconds", "histogram", 1,
	    "Request latency." };
	pbexpo *e = NULL;
	dbuf b;
	int rc = 0;

	if (pb && pbexpo_new(64u << 20, &e) != PBEXPO_OK)
		return -1;
	dbuf_init(&b, 256u << 20);
	*best = 1e300;
	for (int r = 0; r < n && rc == 0; r++) {
		double s = now_ms(), d;

		dbuf_reset(&b);
		if (pb) {
			pbexpo_err pe = pbexpo_family(e, &fam, &b);

			for (int i = 0; i < HISTS && pe == PBEXPO_OK; i++)
				pe = pbexpo_sample(e, &g->x[i], NULL);
			if (pe == PBEXPO_OK)
				pe = pbexpo_end(e, &b);
			if (pe != PBEXPO_OK) {
				fprintf(stderr, "bench_render: %s\n",
				    pbexpo_strerror(pe));
				rc = -1;
			}
		} else {
			dbuf_err de = render_family(&b, &fam);

			for (int i = 0; i < HISTS && de == DBUF_OK; i++)
				de = render_sample(&b, &g->x[i], NULL);
			if (de != DBUF_OK) {
				fprintf(stderr, "bench_render: %s\n",
				    render_strerror(de));
				rc = -1;
			}
		}
		d = now_ms() - s;
		if (d < *best)
			*best = d;
	}
	*bytes = b.len;
	dbuf_free(&b);
	pbexpo_free(e);
	return rc;
}

static int
bench_hist(int n)
{
	hgroup *nat = calloc(1, sizeof(*nat)), *cla = calloc(1, sizeof(*cla));
	size_t tn, pn, tc, pc;
	double tnm, pnm, tcm, pcm;
	int rc = 70;

	if (n < 1)
		n = 1;
	if (nat == NULL || cla == NULL) {
		fprintf(stderr, "bench_render: out of memory\n");
		free(nat);
		free(cla);
		return 71;
	}
	hgroup_make(nat, 1);
	hgroup_make(cla, 0);
	if (hgroup_time(nat, 0, n, &tn, &tnm) == 0 &&
	    hgroup_time(nat, 1, n, &pn, &pnm) == 0 &&
	    hgroup_time(cla, 0, n, &tc, &tcm) == 0 &&
	    hgroup_time(cla, 1, n, &pc, &pcm) == 0) {
		printf("bench render_hist histograms=%d native_buckets=%zu "
		    "text_native_bytes=%zu text_native_ms=%.3f "
		    "pb_native_bytes=%zu pb_native_ms=%.3f "
		    "text_classic_bytes=%zu text_classic_ms=%.3f "
		    "pb_classic_bytes=%zu pb_classic_ms=%.3f runs=%d\n",
		    HISTS, nat->nbuckets, tn, tnm, pn, pnm, tc, tcm, pc, pcm,
		    n);
		rc = 0;
	}
	free(nat);
	free(cla);
	return rc;
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

	if (argc > 1 && strcmp(argv[1], "--hist") == 0) {
		free(xs);
		free(labels);
		return bench_hist(argc > 2 ? (int)strtol(argv[2], NULL, 10) :
		    20);
	}
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
