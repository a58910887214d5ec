/*
 * pb_put — PUTs one hand-made group holding native histograms to a
 * Pushgateway the way the agent's gateway sink does (gwbody's protobuf body
 * through push_put_stream_as, gzip and its fallback), for the integration
 * tests, while no spool can hold native state.
 *
 *   pb_put URL JOB [nogzip]
 *
 * The group (grouping instance="pb") holds, in protobuf:
 *   app_latency_seconds (histogram): {route="/n"} native only: schema 3,
 *     zero threshold 2^-128, zero count 1, positive buckets -2:3 -1:1 2:4
 *     10:1, negative bucket 0:2, count 12, sum 7.25; {route="/x"} the same
 *     with classic bounds 1 and 5 (cumulative 4 and 10);
 *   app_requests_total (counter): {path="/a"} 7;
 *   the agent's own families (collector_agent_*), pushes_total{success} 5.
 * When the gateway could not read a gzip body, the same PUT goes again at
 * once (plain), as the sink does. Prints "CODE gzip=0|1 plain_next=0|1"
 * per request.
 * Exit status: 0 when the last request was delivered, 1 otherwise, 2 on a
 * usage or setup error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwbody.h"
#include "push.h"
#include "selfm.h"

static const nhist_bucket pos[] = { { -2, 3 }, { -1, 1 }, { 2, 4 },
	{ 10, 1 } };
static const nhist_bucket neg[] = { { 0, 2 } };
static const spool_nhist nh = { 3, SPOOL_NHIST_ZERO_THRESHOLD, 1, 12, 160,
	pos, 4, neg, 1 };
static const uint64_t native_counts[] = { 12 };
static const spool_hist h_native = { 0, NULL, native_counts, 7.25, &nh };
static const double bounds[] = { 1, 5 };
static const uint64_t both_counts[] = { 4, 6, 2 };
static const spool_hist h_both = { 2, bounds, both_counts, 7.25, &nh };

static const spool_family f_lat = { "app_latency_seconds", "histogram", 1,
	"Latency." };
static const spool_family f_req = { "app_requests_total", "counter", 1,
	"Requests." };
static const spool_family *const fams[] = { &f_lat, &f_lat, &f_req };
static const spool_sample samples[] = {
	{ "app_latency_seconds", "route=\"/n\"", NAN, &h_native },
	{ "app_latency_seconds", "route=\"/x\"", NAN, &h_both },
	{ "app_requests_total", "path=\"/a\"", 7, NULL },
};
#define NS (sizeof(samples) / sizeof(samples[0]))

static int
next(void *arg, const spool_family **f, const spool_sample **x, int *fresh)
{
	size_t *i = arg;

	if (*i == NS) {
		*f = NULL;
		*x = NULL;
		return 0;
	}
	*f = fams[*i];
	*x = &samples[*i];
	*fresh = *i == 0 || fams[*i - 1] != fams[*i];
	(*i)++;
	return 0;
}

int
main(int argc, char **argv)
{
	http_conf h;
	http_status st;
	push_t *p = NULL;
	gwbody *b = NULL;
	selfm m;
	char err[256];
	int ok = 0;

	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3],
	    "nogzip") != 0)) {
		fprintf(stderr, "usage: pb_put URL JOB [nogzip]\n");
		return 2;
	}
	memset(&h, 0, sizeof(h));
	h.url = argv[1];
	h.timeout = 5;
	h.gzip = argc == 3;
	memset(&m, 0, sizeof(m));
	m.pushes[SELFM_SUCCESS] = 5;
	if (push_new(&h, &p, err, sizeof(err)) != PUSH_OK) {
		fprintf(stderr, "pb_put: %s\n", err);
		return 2;
	}
	if (gwbody_new(&b) != GWBODY_OK) {
		push_free(p);
		return 2;
	}
	for (int round = 0; round < 2; round++) {
		size_t i = 0;

		gwbody_start(b, GWBODY_PROTOBUF, next, &i, 1, &m);
		if (push_put_stream_as(p, argv[2], "instance=\"pb\"",
		    gwbody_content_type(GWBODY_PROTOBUF), gwbody_read, b,
		    &st) != PUSH_OK || gwbody_why(b) != NULL) {
			fprintf(stderr, "pb_put: %s\n", gwbody_why(b) ?
			    gwbody_why(b) : st.message);
			break;
		}
		printf("%ld gzip=%d plain_next=%d\n", st.http_code, st.gzip,
		    st.plain_next);
		ok = st.outcome == HTTP_DELIVERED;
		if (!ok)
			fprintf(stderr, "pb_put: %s\n", st.message);
		if (!st.plain_next)
			break;
	}
	gwbody_free(b);
	push_free(p);
	return ok ? 0 : 1;
}
