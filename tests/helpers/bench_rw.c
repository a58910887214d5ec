/*
 * Benchmark: puts 100,000 samples shaped like
 * api_requests_total{code="200",method="GET",path="/api/v1/items/12345"}
 * with the group labels instance="host-1",job="api" into one remote-write
 * batch (rw_batch_add) and encodes it (rw_batch_encode: protobuf, then
 * snappy) N times, reusing the batch, and prints
 *
 *   bench rw_encode samples=100000 bytes=<compressed> raw=<protobuf>
 *       ms_per_encode=<mean add+encode> best_ms=<min add+encode>
 *   bench rw_encode_parts add_ms=<mean> add_best_ms=<min> encode_ms=<mean>
 *       encode_best_ms=<min> snappy_ms=<mean> pack_ms=<encode - snappy>
 *
 * (each on one line). Usage: bench_rw [N] (20 by default). The series are
 * those of bench_render: code codes[i % 5], method methods[i / 5 % 4],
 * path /api/v1/items/(10000 + i / 20), value (i * 7919) % 100000 + 1.
 * The last request is decompressed and decoded once to check that it holds
 * what was added (exit 1 if not).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "remote.pb-c.h"
#include "rw.h"

#define SAMPLES 100000
#define GROUP "instance=\"host-1\",job=\"api\""
#define TS0 1700000000000LL

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The sample's value; the same for every round. */
static double
value_of(int i)
{
	return (double)((long long)i * 7919 % 100000 + 1);
}

/* Decodes the request and checks it against what was added. */
static int
verify(const char *z, size_t zlen, char (*labels)[96], size_t *rawlen)
{
	static const char *const codes[] = { "200", "201", "400", "404",
	    "500" };
	Prometheus__WriteRequest *wr;
	size_t len;
	char *raw;
	int bad = 0;

	if (snappy_uncompressed_length(z, zlen, &len) != SNAPPY_OK ||
	    (raw = malloc(len ? len : 1)) == NULL)
		return -1;
	if (snappy_uncompress(z, zlen, raw, &len) != SNAPPY_OK) {
		free(raw);
		return -1;
	}
	*rawlen = len;
	wr = prometheus__write_request__unpack(NULL, len, (uint8_t *)raw);
	free(raw);
	if (wr == NULL)
		return -1;
	if (wr->n_timeseries != SAMPLES)
		bad = 1;
	for (size_t i = 0; i < wr->n_timeseries && !bad; i++) {
		const Prometheus__TimeSeries *t = wr->timeseries[i];
		char want[256], *p = want;
		/* __name__, code, instance, job, method, path */
		static const char *const order[] = { "__name__", "code",
		    "instance", "job", "method", "path" };

		if (t->n_labels != 6 || t->n_samples != 1 ||
		    t->samples[0]->value != value_of((int)i) ||
		    t->samples[0]->timestamp < TS0) {
			bad = 1;
			break;
		}
		for (size_t k = 0; k < 6; k++)
			if (strcmp(t->labels[k]->name, order[k]) != 0)
				bad = 1;
		if (bad || strcmp(t->labels[0]->value, "api_requests_total") ||
		    strcmp(t->labels[1]->value, codes[i % 5]) ||
		    strcmp(t->labels[2]->value, "host-1") ||
		    strcmp(t->labels[3]->value, "api")) {
			bad = 1;
			break;
		}
		/* method and path, compared in exposition form */
		snprintf(p, sizeof(want), "code=\"%s\",method=\"%s\",path=\"%s\"",
		    t->labels[1]->value, t->labels[4]->value,
		    t->labels[5]->value);
		if (strcmp(want, labels[i]) != 0)
			bad = 1;
	}
	prometheus__write_request__free_unpacked(wr, NULL);
	return bad ? -1 : 0;
}

int
main(int argc, char **argv)
{
	static const char *const codes[] = { "200", "201", "400", "404",
	    "500" };
	static const char *const methods[] = { "GET", "POST", "PUT",
	    "DELETE" };
	char (*labels)[96] = calloc(SAMPLES, sizeof(*labels));
	rw_batch *b = rw_batch_new(SAMPLES);
	int n = 20;
	double add_sum = 0, enc_sum = 0, tot_sum = 0, snap_sum = 0;
	double add_best = 1e300, enc_best = 1e300, tot_best = 1e300;
	const char *out = NULL;
	size_t outlen = 0, rawlen = 0;
	rw_err e = RW_OK;

	if (argc > 1) {
		char *end;
		long v = strtol(argv[1], &end, 10);
		if (*end != '\0' || v < 1 || v > 100000) {
			fprintf(stderr, "usage: bench_rw [N]\n");
			return 2;
		}
		n = (int)v;
	}
	if (labels == NULL || b == NULL) {
		fprintf(stderr, "bench_rw: out of memory\n");
		return 71;
	}
	for (int i = 0; i < SAMPLES; i++)
		snprintf(labels[i], sizeof(labels[i]),
		    "code=\"%s\",method=\"%s\",path=\"/api/v1/items/%d\"",
		    codes[i % 5], methods[i / 5 % 4], 10000 + i / 20);
	for (int r = 0; r < n && e == RW_OK; r++) {
		double t0 = now_ms(), t1, t2;

		rw_batch_reset(b);
		for (int i = 0; i < SAMPLES && e == RW_OK; i++)
			e = rw_batch_add(b, "api_requests_total", GROUP,
			    labels[i], value_of(i), TS0 + (long long)r * 15000);
		t1 = now_ms();
		if (e == RW_OK)
			e = rw_batch_encode(b, &out, &outlen);
		t2 = now_ms();
		add_sum += t1 - t0;
		enc_sum += t2 - t1;
		tot_sum += t2 - t0;
		if (t1 - t0 < add_best)
			add_best = t1 - t0;
		if (t2 - t1 < enc_best)
			enc_best = t2 - t1;
		if (t2 - t0 < tot_best)
			tot_best = t2 - t0;
	}
	if (e != RW_OK) {
		fprintf(stderr, "bench_rw: %s\n", rw_strerror(e));
		rw_batch_free(b);
		free(labels);
		return 70;
	}
	if (verify(out, outlen, labels, &rawlen) != 0) {
		fprintf(stderr, "bench_rw: the request does not decode to "
		    "what was added\n");
		rw_batch_free(b);
		free(labels);
		return 1;
	}
	/* snappy alone, on the same protobuf bytes */
	{
		size_t zcap = snappy_max_compressed_length(rawlen), zl, rl = rawlen;
		char *raw = malloc(rawlen), *z = malloc(zcap);
		if (raw == NULL || z == NULL ||
		    snappy_uncompress(out, outlen, raw, &rl) != SNAPPY_OK) {
			fprintf(stderr, "bench_rw: snappy check failed\n");
			free(raw);
			free(z);
			rw_batch_free(b);
			free(labels);
			return 70;
		}
		for (int r = 0; r < n; r++) {
			double t0 = now_ms();
			zl = zcap;
			if (snappy_compress(raw, rl, z, &zl) != SNAPPY_OK)
				break;
			snap_sum += now_ms() - t0;
		}
		free(raw);
		free(z);
	}
	printf("bench rw_encode samples=%d bytes=%zu raw=%zu ms_per_encode=%.2f "
	    "best_ms=%.2f\n", SAMPLES, outlen, rawlen, tot_sum / n, tot_best);
	printf("bench rw_encode_parts add_ms=%.2f add_best_ms=%.2f encode_ms=%.2f "
	    "encode_best_ms=%.2f snappy_ms=%.2f pack_ms=%.2f rounds=%d\n",
	    add_sum / n, add_best, enc_sum / n, enc_best, snap_sum / n,
	    enc_sum / n - snap_sum / n, n);
	rw_batch_free(b);
	free(labels);
	return 0;
}
