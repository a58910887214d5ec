/*
 * rw_send — sends samples to a Prometheus remote-write receiver, encoded by
 * the agent's own rw module (agent/rw.h), for the integration tests.
 *
 *   rw_send URL FILE [HEADER...]
 *
 * FILE ("-" for standard input) holds one sample per line, five fields
 * separated by tabs:
 *
 *   name <TAB> group-labels <TAB> series-labels <TAB> value <TAB> timestamp_ms
 *
 * Labels are in exposition form, escaped (`k="v",...`; empty for none); the
 * group's labels win over the series' (rw_batch_add). The value is a float
 * as in the exposition format (1, -2.5, 1e300, NaN, +Inf, -Inf) or `stale`
 * for Prometheus' staleness marker (rw_stale_nan()), or a native histogram
 * (rw_batch_add_hist()), space-separated keys after the word `hist`:
 *
 *   hist schema=3 count=10 sum=12.5 zero=2 zt=2.9e-39 pos=-1:1,0:2 neg=2:1
 *
 * pos and neg list index:count buckets in ascending index (either may be
 * absent); zt (the zero threshold) defaults to 2^-128, zero and sum to 0.
 * Blank lines and lines starting with '#' are skipped.
 *
 * All samples go in one batch, POSTed to URL with the remote-write 1.0
 * headers and every HEADER argument ("Name: value") added. Prints the HTTP
 * status on the first line of standard output, then the response body.
 *
 * Exit status: 0 on a 2xx answer; 1 on any other answer or none at all
 * (connection refused, timeout); 2 on a usage error or input that does not
 * parse or encode (nothing is sent then).
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "rw.h"

#define FIELDS 5
/* Buckets per side of one histogram line. */
#define HIST_MAX 4096

typedef struct sample {
	char *line;            /* owns the fields below (tabs made NULs) */
	const char *f[FIELDS]; /* name, group, labels, value, timestamp */
	size_t lineno;
} sample;

/* One histogram line's native part, with room for its buckets. */
typedef struct hline {
	spool_nhist h;
	double sum;
	nhist_bucket pos[HIST_MAX], neg[HIST_MAX];
} hline;

typedef struct body {
	char *p;
	size_t len, cap;
} body;

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	body *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 1024;
		char *np;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			return 0; /* curl reports a write error */
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* Splits line (without its newline) at tabs into exactly FIELDS fields. */
static int
split(char *line, const char **f)
{
	size_t k = 0;
	char *p = line;

	for (;;) {
		char *tab = strchr(p, '\t');
		if (k == FIELDS)
			return -1;
		f[k++] = p;
		if (tab == NULL)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	return k == FIELDS ? 0 : -1;
}

static int
parse_value(const char *s, double *v)
{
	if (strcmp(s, "stale") == 0) {
		*v = rw_stale_nan();
		return 0;
	}
	return expo_parse_value(s, strlen(s), v);
}

/* "i:c,i:c,..." into b (at most HIST_MAX). */
static int
parse_buckets(const char *s, nhist_bucket *b, size_t *n)
{
	char *end;

	*n = 0;
	while (*s != '\0') {
		long long i, c;
		if (*n == HIST_MAX)
			return -1;
		errno = 0;
		i = strtoll(s, &end, 10);
		if (errno != 0 || *end != ':' || i < INT32_MIN || i > INT32_MAX)
			return -1;
		c = strtoll(end + 1, &end, 10);
		if (errno != 0 || c < 0 || (*end != ',' && *end != '\0'))
			return -1;
		b[*n].index = (int32_t)i;
		b[(*n)++].count = c;
		s = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* A value field that starts with "hist" (see the top). */
static int
parse_hist(const char *s, hline *x)
{
	char *dup = strdup(s), *save = NULL, *tok;
	int rc = 0;

	if (dup == NULL)
		return -1;
	memset(&x->h, 0, sizeof(x->h));
	x->sum = 0;
	x->h.zero_threshold = SPOOL_NHIST_ZERO_THRESHOLD;
	x->h.pos = x->pos;
	x->h.neg = x->neg;
	tok = strtok_r(dup, " ", &save);
	if (tok == NULL || strcmp(tok, "hist") != 0)
		rc = -1;
	while (rc == 0 && (tok = strtok_r(NULL, " ", &save)) != NULL) {
		char *eq = strchr(tok, '='), *end;
		if (eq == NULL) {
			rc = -1;
			break;
		}
		*eq++ = '\0';
		errno = 0;
		if (strcmp(tok, "schema") == 0)
			x->h.schema = (int)strtol(eq, &end, 10);
		else if (strcmp(tok, "count") == 0)
			x->h.count = strtoull(eq, &end, 10);
		else if (strcmp(tok, "zero") == 0)
			x->h.zero_count = strtoull(eq, &end, 10);
		else if (strcmp(tok, "sum") == 0)
			x->sum = strtod(eq, &end);
		else if (strcmp(tok, "zt") == 0)
			x->h.zero_threshold = strtod(eq, &end);
		else if (strcmp(tok, "pos") == 0) {
			rc = parse_buckets(eq, x->pos, &x->h.npos);
			continue;
		} else if (strcmp(tok, "neg") == 0) {
			rc = parse_buckets(eq, x->neg, &x->h.nneg);
			continue;
		} else
			end = eq;
		if (errno != 0 || end == eq || *end != '\0')
			rc = -1;
	}
	free(dup);
	return rc;
}

static int
parse_ts(const char *s, int64_t *ts)
{
	char *end;
	long long v;

	if (*s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*ts = (int64_t)v;
	return 0;
}

/* Reads every sample line of fp into *out (*n of them). */
static int
read_samples(FILE *fp, const char *path, sample **out, size_t *n)
{
	sample *xs = NULL;
	size_t nx = 0, cap = 0, lineno = 0, lcap = 0;
	char *line = NULL;
	ssize_t len;

	while ((len = getline(&line, &lcap, fp)) >= 0) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (nx == cap) {
			size_t nc = cap ? cap * 2 : 64;
			sample *np = realloc(xs, nc * sizeof(*np));
			if (np == NULL)
				goto nomem;
			xs = np;
			cap = nc;
		}
		if ((xs[nx].line = strdup(line)) == NULL)
			goto nomem;
		xs[nx].lineno = lineno;
		if (split(xs[nx].line, xs[nx].f) != 0) {
			fprintf(stderr, "rw_send: %s:%zu: want %d tab-separated "
			    "fields\n", path, lineno, FIELDS);
			nx++;
			goto fail;
		}
		nx++;
	}
	if (ferror(fp)) {
		fprintf(stderr, "rw_send: %s: read error\n", path);
		goto fail;
	}
	free(line);
	*out = xs;
	*n = nx;
	return 0;
nomem:
	fprintf(stderr, "rw_send: out of memory\n");
fail:
	free(line);
	for (size_t i = 0; i < nx; i++)
		free(xs[i].line);
	free(xs);
	return -1;
}

/* POSTs data; prints the status and the body. Returns the exit status. */
static int
post(const char *url, const char *data, size_t len, char **hdrs, int nhdrs)
{
	struct curl_slist *h = NULL, *t;
	static const char *const fixed[] = {
		"Content-Encoding: snappy",
		"Content-Type: application/x-protobuf",
		"X-Prometheus-Remote-Write-Version: 0.1.0",
		"User-Agent: collector-agent-rw_send/" SPOOL_VERSION,
		"Expect:", /* no 100-continue round trip */
	};
	char err[CURL_ERROR_SIZE] = "";
	body resp = { NULL, 0, 0 };
	long status = 0;
	CURLcode rc;
	CURL *c;
	int ret = 1;

	if ((c = curl_easy_init()) == NULL) {
		fprintf(stderr, "rw_send: curl_easy_init failed\n");
		return 1;
	}
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if ((t = curl_slist_append(h, fixed[i])) == NULL)
			goto nomem;
		h = t;
	}
	for (int i = 0; i < nhdrs; i++) {
		if ((t = curl_slist_append(h, hdrs[i])) == NULL)
			goto nomem;
		h = t;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "rw_send: %s: %s\n", url,
		    err[0] ? err : curl_easy_strerror(rc));
		printf("000\n");
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	printf("%ld\n", status);
	if (resp.len > 0)
		fwrite(resp.p, 1, resp.len, stdout);
	ret = status >= 200 && status < 300 ? 0 : 1;
	goto out;
nomem:
	fprintf(stderr, "rw_send: out of memory\n");
out:
	fflush(stdout);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	free(resp.p);
	return ret;
}

int
main(int argc, char **argv)
{
	const char *path, *out = NULL;
	sample *xs = NULL;
	size_t n = 0, outlen = 0;
	rw_batch *b = NULL;
	FILE *fp;
	int ret = 2;
	hline *hl = NULL;

	if (argc < 3) {
		fprintf(stderr, "usage: rw_send URL FILE [HEADER...]\n");
		return 2;
	}
	path = argv[2];
	fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (fp == NULL) {
		fprintf(stderr, "rw_send: %s: %s\n", path, strerror(errno));
		return 2;
	}
	if (read_samples(fp, path, &xs, &n) != 0) {
		if (fp != stdin)
			fclose(fp);
		return 2;
	}
	if (fp != stdin)
		fclose(fp);
	if ((b = rw_batch_new(n)) == NULL ||
	    (hl = malloc(sizeof(*hl))) == NULL) {
		fprintf(stderr, "rw_send: out of memory\n");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		double v;
		int64_t ts;
		rw_err e;

		if (strncmp(xs[i].f[3], "hist", 4) == 0) {
			if (parse_hist(xs[i].f[3], hl) != 0 ||
			    parse_ts(xs[i].f[4], &ts) != 0) {
				fprintf(stderr, "rw_send: %s:%zu: bad histogram "
				    "'%s'\n", path, xs[i].lineno, xs[i].f[3]);
				goto done;
			}
			e = rw_batch_add_hist(b, xs[i].f[0], xs[i].f[1],
			    xs[i].f[2], &hl->h, hl->sum, ts);
			if (e != RW_OK) {
				fprintf(stderr, "rw_send: %s:%zu: %s\n", path,
				    xs[i].lineno, rw_strerror(e));
				goto done;
			}
			continue;
		}
		if (parse_value(xs[i].f[3], &v) != 0) {
			fprintf(stderr, "rw_send: %s:%zu: bad value '%s'\n", path,
			    xs[i].lineno, xs[i].f[3]);
			goto done;
		}
		if (parse_ts(xs[i].f[4], &ts) != 0) {
			fprintf(stderr, "rw_send: %s:%zu: bad timestamp '%s'\n",
			    path, xs[i].lineno, xs[i].f[4]);
			goto done;
		}
		e = rw_batch_add(b, xs[i].f[0], xs[i].f[1], xs[i].f[2], v, ts);
		if (e != RW_OK) {
			fprintf(stderr, "rw_send: %s:%zu: %s\n", path,
			    xs[i].lineno, rw_strerror(e));
			goto done;
		}
	}
	{
		rw_err e = rw_batch_encode(b, &out, &outlen);
		if (e != RW_OK) {
			fprintf(stderr, "rw_send: encode: %s\n", rw_strerror(e));
			goto done;
		}
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "rw_send: curl_global_init failed\n");
		ret = 1;
		goto done;
	}
	ret = post(argv[1], out, outlen, argv + 3, argc - 3);
	curl_global_cleanup();
done:
	free(hl);
	rw_batch_free(b);
	for (size_t i = 0; i < n; i++)
		free(xs[i].line);
	free(xs);
	return ret;
}
