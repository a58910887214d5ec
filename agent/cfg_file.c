/*
 * cfg_file.c — the config file through libconfig: every setting of the file
 * walked and looked up in the table (cfg_store() checks and stores it), the
 * settings that are lists (headers, histograms), the checks that need the
 * whole file, and the secrets read from their *_file settings (cfg_slurp()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "cfg.h"
#include "cfg_int.h"
#include "spool-agent.h"
#include "expo.h"
#include "http.h"

/* Caps of the file's own settings (the others: cfg_int.h). */
#define SECRET_MAX   65536         /* a password or token file */
#define HEADERS_MAX  64
#define HIST_MAX     1024

/* A section is a path that some row's path continues with a '.'. */
static int
is_section(const char *path)
{
	size_t n = strlen(path);

	for (size_t i = 0; i < CFG_NROWS; i++)
		if (strncmp(cfg_rows[i].path, path, n) == 0 &&
		    cfg_rows[i].path[n] == '.')
			return 1;
	return 0;
}

static void
loc_of(const ld *l, const config_setting_t *s, char *buf, size_t n)
{
	const char *f = config_setting_source_file(s);

	snprintf(buf, n, "%s:%u: ", f ? f : l->name,
	    (unsigned)config_setting_source_line(s));
}

static void
row_loc(const ld *l, size_t ri, char *buf, size_t n)
{
	snprintf(buf, n, "%s:%u: ", l->file[ri] ? l->file[ri] : l->name,
	    l->line[ri]);
}

/* A header as http_check_header() takes it, and no longer than any string
 * setting. The value is never quoted back: it may be a credential. */
static int
header_check(const char *h, char *why, size_t wn)
{
	if (strlen(h) > STR_MAX) {
		snprintf(why, wn, "too long (limit %d bytes)", STR_MAX);
		return -1;
	}
	return http_check_header(h, why, wn);
}

void
cfg_free_headers(char **h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(h[i]);
	free(h);
}

/*
 * The start of a list setting: a list (or, with arrays, also [ ]), at most
 * max long. Returns a zeroed array of its *n elements of size elem (room
 * for one when empty), or NULL after saying why (or flagging OOM).
 */
static void *
list_start(ld *l, const row *r, const config_setting_t *s, int arrays,
    const char *expected, size_t max, const char *what, size_t elem,
    size_t *n)
{
	char loc[LOC_MAX];
	int t = config_setting_type(s);
	void *a;

	loc_of(l, s, loc, sizeof(loc));
	if (t != CONFIG_TYPE_LIST && !(arrays && t == CONFIG_TYPE_ARRAY)) {
		cfg_eb_add(&l->e, "%s%s: expected %s", loc, r->path, expected);
		return NULL;
	}
	*n = (size_t)config_setting_length(s);
	if (*n > max) {
		cfg_eb_add(&l->e, "%s%s: too many %s (limit %zu)", loc, r->path,
		    what, max);
		return NULL;
	}
	if ((a = calloc(*n ? *n : 1, elem)) == NULL)
		l->e.oom = 1;
	return a;
}

static void
set_headers(ld *l, const row *r, const config_setting_t *s)
{
	char loc[LOC_MAX], why[256];
	char **h;
	size_t n, i;
	int bad = 0;

	if ((h = list_start(l, r, s, 1, "a list of strings, [ \"Name: "
	    "value\", ... ]", HEADERS_MAX, "headers", sizeof(*h), &n)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s,
		    (unsigned)i);
		const char *str;

		loc_of(l, e, loc, sizeof(loc));
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfg_eb_add(&l->e, "%s%s[%zu]: expected a string", loc,
			    r->path, i);
			bad = 1;
			continue;
		}
		str = config_setting_get_string(e);
		if (header_check(str, why, sizeof(why)) != 0) {
			cfg_eb_add(&l->e, "%s%s[%zu]: %s", loc, r->path, i, why);
			bad = 1;
		} else if ((h[i] = strdup(str)) == NULL)
			l->e.oom = 1;
	}
	if (bad || l->e.oom) {
		cfg_free_headers(h, n);
		return;
	}
	cfg_free_headers(*FIELD(l->c, r->off, strv_t),
	    *FIELD(l->c, r->off_n, size_t));
	*FIELD(l->c, r->off, strv_t) = h;
	*FIELD(l->c, r->off_n, size_t) = n;
}

void
cfg_free_hists(cfg_histogram *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].bounds);
	}
	free(h);
}

static int
set_buckets(ld *l, const config_setting_t *s, size_t idx, cfg_histogram *h)
{
	char loc[LOC_MAX];
	size_t n, i;
	int t = config_setting_type(s);
	const char *why = NULL;

	loc_of(l, s, loc, sizeof(loc));
	n = (t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST) ?
	    (size_t)config_setting_length(s) : 0;
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		why = "expected a list of numbers, [ 0.1, 0.5, 1.0 ]";
	else if (n < 1 || n > SPOOL_MAX_BUCKETS) {
		cfg_eb_add(&l->e, "%shistograms[%zu].buckets: must hold 1 to %d "
		    "bounds", loc, idx, SPOOL_MAX_BUCKETS);
		return -1;
	}
	if (why != NULL) {
		cfg_eb_add(&l->e, "%shistograms[%zu].buckets: %s", loc, idx, why);
		return -1;
	}
	if ((h->bounds = calloc(n, sizeof(double))) == NULL) {
		l->e.oom = 1;
		return -1;
	}
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s,
		    (unsigned)i);
		int et = config_setting_type(e);

		if (et == CONFIG_TYPE_INT || et == CONFIG_TYPE_INT64)
			h->bounds[i] = (double)config_setting_get_int64(e);
		else if (et == CONFIG_TYPE_FLOAT)
			h->bounds[i] = config_setting_get_float(e);
		else {
			why = "expected a list of numbers, [ 0.1, 0.5, 1.0 ]";
			break;
		}
		if (!isfinite(h->bounds[i])) {
			why = "bounds must be finite (+Inf is implied)";
			break;
		}
		if (i > 0 && !(h->bounds[i] > h->bounds[i - 1])) {
			why = "bounds must be strictly increasing";
			break;
		}
	}
	if (why != NULL) {
		cfg_eb_add(&l->e, "%shistograms[%zu].buckets: %s", loc, idx, why);
		return -1;
	}
	h->n = n;
	return 0;
}

/* The keys of one histograms entry, in the order of HK_*; "did you mean"
 * picks among them. */
static const char *const hist_keys[] = { "name", "format", "buckets",
    "schema", "bucket_factor", "zero_threshold", "max_buckets" };
enum { HK_NAME, HK_FORMAT, HK_BUCKETS, HK_SCHEMA, HK_FACTOR, HK_ZERO, HK_MAX,
    HK_N };

static int
hist_key(const char *key)
{
	for (int k = 0; k < HK_N; k++)
		if (strcmp(key, hist_keys[k]) == 0)
			return k;
	return -1;
}

/* An int or a float of the file as a double; -1 when it is neither
 * (libconfig types 0 as an int, and a bound or a factor may be one). */
static int
get_num(const config_setting_t *s, double *v)
{
	int t = config_setting_type(s);

	if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
		*v = (double)config_setting_get_int64(s);
	else if (t == CONFIG_TYPE_FLOAT)
		*v = config_setting_get_float(s);
	else
		return -1;
	return 0;
}

static int
get_int(const config_setting_t *s, long long *v)
{
	int t = config_setting_type(s);

	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
		return -1;
	*v = config_setting_get_int64(s);
	return 0;
}

/* "classic", "native", "both"; -1 for anything else. */
static int
hist_form(const config_setting_t *s)
{
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return -1;
	v = config_setting_get_string(s);
	if (strcmp(v, "classic") == 0)
		return CFG_HIST_CLASSIC;
	if (strcmp(v, "native") == 0)
		return CFG_HIST_NATIVE;
	if (strcmp(v, "both") == 0)
		return CFG_HIST_BOTH;
	return -1;
}

/* Go's math.Log2, whose shape client_golang's pickSchema relies on: exact
 * for powers of two (a factor of 2, 4, 16 is on a schema's boundary). */
static double
go_log2(double x)
{
	int e;
	double f = frexp(x, &e);

	if (f == 0.5)
		return (double)(e - 1);
	return log(f) * (1 / M_LN2) + (double)e;
}

/* The schema of a bucket factor f > 1, as client_golang's pickSchema: the
 * lowest whose bucket growth is at most f (the highest, 8, when none is). */
static int
factor_schema(double f)
{
	double fl = floor(go_log2(go_log2(f)));

	if (fl <= -NHIST_SCHEMA_MAX)
		return NHIST_SCHEMA_MAX;
	if (fl >= -NHIST_SCHEMA_MIN)
		return NHIST_SCHEMA_MIN;
	return -(int)fl;
}

/*
 * A key of the native form (schema, bucket_factor, zero_threshold,
 * max_buckets) into *h; 0, or -1 after a message. form is the entry's, -1
 * when its format is bad (then only the value is checked).
 */
static int
set_hist_native(ld *l, const config_setting_t *m, int k, int form,
    size_t idx, cfg_histogram *h)
{
	char loc[LOC_MAX];
	const char *key = hist_keys[k];
	double v;
	long long iv;

	loc_of(l, m, loc, sizeof(loc));
	if (form == CFG_HIST_CLASSIC) {
		cfg_eb_add(&l->e, "%shistograms[%zu].%s: format classic has no "
		    "native buckets; set format = \"native\" or \"both\"",
		    loc, idx, key);
		return -1;
	}
	switch (k) {
	case HK_SCHEMA:
	case HK_MAX:
		if (get_int(m, &iv) != 0) {
			cfg_eb_add(&l->e, "%shistograms[%zu].%s: expected an "
			    "integer", loc, idx, key);
			return -1;
		}
		if (k == HK_SCHEMA && (iv < NHIST_SCHEMA_MIN ||
		    iv > NHIST_SCHEMA_MAX)) {
			cfg_eb_add(&l->e, "%shistograms[%zu].schema: must be "
			    "between %d and %d", loc, idx, NHIST_SCHEMA_MIN,
			    NHIST_SCHEMA_MAX);
			return -1;
		}
		if (k == HK_MAX && (iv < 1 || iv > SPOOL_NHIST_MAX_BUCKETS)) {
			cfg_eb_add(&l->e, "%shistograms[%zu].max_buckets: must be "
			    "between 1 and %d", loc, idx,
			    SPOOL_NHIST_MAX_BUCKETS);
			return -1;
		}
		if (k == HK_SCHEMA)
			h->schema = (int)iv;
		else
			h->max_buckets = (size_t)iv;
		return 0;
	default:
		break;
	}
	if (get_num(m, &v) != 0) {
		cfg_eb_add(&l->e, "%shistograms[%zu].%s: expected a number", loc,
		    idx, key);
		return -1;
	}
	if (k == HK_FACTOR) {
		if (!isfinite(v) || !(v > 1)) {
			cfg_eb_add(&l->e, "%shistograms[%zu].bucket_factor: must "
			    "be a finite number greater than 1 (1.1 gives "
			    "schema 3)", loc, idx);
			return -1;
		}
		h->schema = factor_schema(v);
		return 0;
	}
	if (!isfinite(v) || !(v >= 0)) {
		cfg_eb_add(&l->e, "%shistograms[%zu].zero_threshold: must be a "
		    "finite number, 0 or more", loc, idx);
		return -1;
	}
	h->zero_threshold = v == 0 ? 0.0 : v;  /* not -0 */
	return 0;
}

/* One { name = ...; format = ...; buckets = [...]; ... } into *h; 0, or
 * -1 after a message. Messages come in the order of the file. */
static int
set_hist_one(ld *l, const config_setting_t *g, size_t idx, cfg_histogram *h)
{
	char loc[LOC_MAX], sb[80];
	const config_setting_t *seen[HK_N] = { 0 };
	int bad = 0, form = CFG_HIST_CLASSIC;
	int later = -1;   /* schema or bucket_factor, whichever came last */

	h->form = CFG_HIST_CLASSIC;
	h->schema = SPOOL_NHIST_SCHEMA;
	h->zero_threshold = SPOOL_NHIST_ZERO_THRESHOLD;
	h->max_buckets = SPOOL_NHIST_MAX_BUCKETS_DEFAULT;
	loc_of(l, g, loc, sizeof(loc));
	if (!config_setting_is_group(g)) {
		cfg_eb_add(&l->e, "%shistograms[%zu]: expected a group { name = "
		    "...; buckets = [ ... ]; }", loc, idx);
		return -1;
	}
	/* What the other keys mean depends on the format, wherever it is. */
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g,
		    (unsigned)i);

		if (strcmp(config_setting_name(m), "format") == 0)
			form = hist_form(m);
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g,
		    (unsigned)i);
		const char *key = config_setting_name(m), *name, *near;
		char mloc[LOC_MAX];
		int k = hist_key(key);

		loc_of(l, m, mloc, sizeof(mloc));
		if (k >= 0)
			seen[k] = m;
		if (k == HK_SCHEMA || k == HK_FACTOR)
			later = k;
		switch (k) {
		case HK_NAME:
			if (config_setting_type(m) != CONFIG_TYPE_STRING) {
				cfg_eb_add(&l->e, "%shistograms[%zu].name: "
				    "expected a string", mloc, idx);
				bad = 1;
				break;
			}
			name = config_setting_get_string(m);
			if (strlen(name) > EXPO_MAX_NAME ||
			    !expo_valid_metric_name(name, strlen(name))) {
				cfg_eb_add(&l->e, "%shistograms[%zu].name: not a "
				    "valid metric name: '%s'", mloc, idx,
				    cfg_shown(name, sb, sizeof(sb)));
				bad = 1;
			} else if ((h->name = strdup(name)) == NULL) {
				l->e.oom = 1;
				bad = 1;
			}
			break;
		case HK_FORMAT:
			if (config_setting_type(m) != CONFIG_TYPE_STRING) {
				cfg_eb_add(&l->e, "%shistograms[%zu].format: "
				    "expected a string", mloc, idx);
				bad = 1;
			} else if (form < 0) {
				cfg_eb_add(&l->e, "%shistograms[%zu].format: must "
				    "be \"classic\", \"native\" or \"both\": '%s'",
				    mloc, idx, cfg_shown(config_setting_get_string(
				    m), sb, sizeof(sb)));
				bad = 1;
			} else
				h->form = (cfg_hist_form)form;
			break;
		case HK_BUCKETS:
			if (form == CFG_HIST_NATIVE) {
				cfg_eb_add(&l->e, "%shistograms[%zu].buckets: "
				    "format native has no buckets; use format = "
				    "\"both\" to keep them", mloc, idx);
				bad = 1;
			} else if (set_buckets(l, m, idx, h) != 0)
				bad = 1;
			break;
		case HK_SCHEMA:
		case HK_FACTOR:
		case HK_ZERO:
		case HK_MAX:
			if (set_hist_native(l, m, k, form, idx, h) != 0)
				bad = 1;
			break;
		default:
			near = cfg_near_name(key, strlen(key), hist_keys, HK_N);
			if (near != NULL)
				cfg_eb_add(&l->e, "%sunknown setting "
				    "'histograms[%zu].%s'; did you mean "
				    "'histograms[%zu].%s'?", mloc, idx, key, idx,
				    near);
			else
				cfg_eb_add(&l->e, "%sunknown setting "
				    "'histograms[%zu].%s'", mloc, idx, key);
			bad = 1;
			break;
		}
	}
	if (seen[HK_SCHEMA] != NULL && seen[HK_FACTOR] != NULL &&
	    form != CFG_HIST_CLASSIC) {
		char bloc[LOC_MAX];

		loc_of(l, seen[later], bloc, sizeof(bloc));
		cfg_eb_add(&l->e, "%shistograms[%zu].%s: cannot be used together "
		    "with histograms[%zu].%s; keep one of them", bloc, idx,
		    hist_keys[later], idx,
		    hist_keys[later == HK_FACTOR ? HK_SCHEMA : HK_FACTOR]);
		bad = 1;
	}
	if (seen[HK_NAME] == NULL) {
		cfg_eb_add(&l->e, "%shistograms[%zu]: name is missing", loc, idx);
		bad = 1;
	}
	if (seen[HK_BUCKETS] == NULL && form == CFG_HIST_CLASSIC) {
		cfg_eb_add(&l->e, "%shistograms[%zu]: buckets is missing; set "
		    "buckets = [ ... ], or format = \"native\"", loc, idx);
		bad = 1;
	}
	return bad ? -1 : 0;
}

static void
set_hist(ld *l, const row *r, const config_setting_t *s)
{
	char loc[LOC_MAX];
	cfg_histogram *h;
	size_t n, i, j;
	int bad = 0;

	if ((h = list_start(l, r, s, 0, "a list of groups, ( { name = ...; "
	    "buckets = [ ... ]; } )", HIST_MAX, "histograms", sizeof(*h),
	    &n)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s,
		    (unsigned)i);

		if (set_hist_one(l, g, i, &h[i]) != 0) {
			bad = 1;
			continue;
		}
		for (j = 0; j < i; j++)
			if (h[j].name != NULL &&
			    strcmp(h[j].name, h[i].name) == 0) {
				char sb[80];

				loc_of(l, g, loc, sizeof(loc));
				cfg_eb_add(&l->e, "%shistograms[%zu].name: "
				    "duplicate histogram '%s'", loc, i,
				    cfg_shown(h[i].name, sb, sizeof(sb)));
				bad = 1;
				break;
			}
	}
	if (bad || l->e.oom) {
		cfg_free_hists(h, n);
		return;
	}
	cfg_free_hists(*FIELD(l->c, r->off, hist_t),
	    *FIELD(l->c, r->off_n, size_t));
	*FIELD(l->c, r->off, hist_t) = h;
	*FIELD(l->c, r->off_n, size_t) = n;
}

static void
set_from_file(ld *l, size_t ri, const config_setting_t *s)
{
	const row *r = &cfg_rows[ri];
	char loc[LOC_MAX];
	const char *why = NULL;
	cval v = { 0, 0, NULL };
	int t = config_setting_type(s);

	l->line[ri] = (unsigned)config_setting_source_line(s);
	l->file[ri] = config_setting_source_file(s);
	loc_of(l, s, loc, sizeof(loc));
	switch (r->type) {
	case T_HEADERS:
		set_headers(l, r, s);
		return;
	case T_HIST:
		set_hist(l, r, s);
		return;
	case T_NUM:
		if (t == CONFIG_TYPE_FLOAT)
			v.num = config_setting_get_float(s);
		else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			v.num = (double)config_setting_get_int64(s);
		else
			why = "expected a number";
		break;
	case T_INT:
		if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			v.num = (double)config_setting_get_int64(s);
		else
			why = "expected an integer";
		break;
	case T_BOOL:
		if (t == CONFIG_TYPE_BOOL)
			v.b = config_setting_get_bool(s) != 0;
		else
			why = "expected true or false";
		break;
	case T_STR:
	case T_PATH:
	case T_URL:
	case T_JOB:
	case T_INSTANCE:
	case T_LISTEN:
	case T_SYNC:
	case T_LEVEL:
		if (t == CONFIG_TYPE_STRING)
			v.s = config_setting_get_string(s);
		else
			why = "expected a string";
		break;
	}
	if (why != NULL)
		cfg_eb_add(&l->e, "%s%s: %s", loc, r->path, why);
	else
		cfg_store(l, r, &v, loc, r->path);
}

/* Every setting in group g, whose path is prefix (NULL at the root). */
static void
walk(ld *l, const config_setting_t *g, const char *prefix)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g,
		    (unsigned)i);
		const char *name = config_setting_name(s);
		char path[128], loc[LOC_MAX], near[128];
		int n, ri;

		if (name == NULL)
			continue;
		n = prefix ? snprintf(path, sizeof(path), "%s.%s", prefix, name)
		    : snprintf(path, sizeof(path), "%s", name);
		/* A name too long for the buffer is no row's name. */
		ri = (n < 0 || (size_t)n >= sizeof(path)) ? -1 : cfg_row_find(path);
		if (ri >= 0) {
			set_from_file(l, (size_t)ri, s);
			continue;
		}
		loc_of(l, s, loc, sizeof(loc));
		if (n > 0 && (size_t)n < sizeof(path) && is_section(path)) {
			if (config_setting_is_group(s))
				walk(l, s, path);
			else
				cfg_eb_add(&l->e, "%s%s: expected a group { ... }",
				    loc, path);
			continue;
		}
		/* A misspelt key: say the one meant. */
		if (n > 0 && (size_t)n < sizeof(path) &&
		    cfg_near_setting(path, near, sizeof(near)) != NULL)
			cfg_eb_add(&l->e, "%sunknown setting '%s'; did you mean "
			    "'%s'?", loc, path, near);
		else
			cfg_eb_add(&l->e, "%sunknown setting '%s%s%s'", loc,
			    prefix ? prefix : "", prefix ? "." : "", name);
	}
}

/* The contract is in cfg_int.h. */
int
cfg_slurp(const char *path, size_t cap, int regular, char **buf, size_t *len)
{
	struct stat st;
	char *b = NULL, *nb;
	size_t n = 0, bcap = 0;
	ssize_t got;
	int fd, err = 0;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    (regular ? O_NONBLOCK : 0));
	if (fd < 0)
		return errno;
	if (fstat(fd, &st) != 0) {
		err = errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err = EISDIR;
		goto out;
	}
	if (regular && !S_ISREG(st.st_mode)) {
		err = EINVAL;
		goto out;
	}
	for (;;) {
		if (n == bcap) {
			size_t ncap = bcap ? bcap * 2 : 4096;

			if (ncap > cap + 1)
				ncap = cap + 1;
			if (ncap <= n) {
				err = EFBIG;
				goto out;
			}
			/* Not realloc: the old copy may hold a secret and is
			 * wiped before it is freed. */
			if ((nb = malloc(ncap + 1)) == NULL) {
				err = ENOMEM;
				goto out;
			}
			if (b != NULL) {
				memcpy(nb, b, n);
				explicit_bzero(b, n);
				free(b);
			}
			b = nb;
			bcap = ncap;
		}
		got = read(fd, b + n, bcap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = errno;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > cap) {
			err = EFBIG;
			goto out;
		}
	}
	if (b == NULL && (b = malloc(1)) == NULL) {
		err = ENOMEM;
		goto out;
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
out:
	if (b != NULL) {
		explicit_bzero(b, n);
		free(b);
	}
	close(fd);
	return err;
}

/* The content of a *_file row into its secret field. Messages name the file,
 * never what is in it. */
static void
read_secret(ld *l, size_t ri)
{
	const row *r = &cfg_rows[ri];
	const char *path = *CFIELD(l->c, r->off, str_t);
	char loc[LOC_MAX], sb[80], **dst = FIELD(l->c, r->off_secret, str_t);
	char *buf;
	size_t len;
	const char *why = NULL;
	int err;

	if (*dst != NULL) {
		explicit_bzero(*dst, strlen(*dst));
		cfg_free_str(dst);
	}
	if (path == NULL)
		return;
	row_loc(l, ri, loc, sizeof(loc));
	cfg_shown(path, sb, sizeof(sb));
	err = cfg_slurp(path, SECRET_MAX, 1, &buf, &len);
	if (err == ENOMEM) {
		l->e.oom = 1;
		return;
	}
	if (err == EFBIG) {
		cfg_eb_add(&l->e, "%s%s: '%s' is larger than %d bytes", loc,
		    r->path, sb, SECRET_MAX);
		return;
	}
	if (err == EINVAL) {
		cfg_eb_add(&l->e, "%s%s: cannot read '%s' (not a regular file)",
		    loc, r->path, sb);
		return;
	}
	if (err != 0) {
		cfg_eb_add(&l->e, "%s%s: cannot read '%s' (%s)", loc, r->path, sb,
		    strerror(err));
		return;
	}
	/* Editors and "echo secret > file" add one newline; it is not part
	 * of the secret. */
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (memchr(buf, '\0', len) != NULL)
		why = "holds a NUL byte";
	else if (http_has_ctl(buf, len))
		why = "holds a line break or control character (only one "
		    "trailing newline is allowed)";
	else if (len == 0 && !(r->flags & F_EMPTY))
		why = "is empty";
	if (why != NULL) {
		cfg_eb_add(&l->e, "%s%s: '%s' %s", loc, r->path, sb, why);
		explicit_bzero(buf, len);
		free(buf);
		return;
	}
	*dst = buf;
}

/* Checks of one destination that need several of its settings. */
static void
dest_checks(ld *l, const char *sec, const http_conf *h)
{
	char p[64], loc[LOC_MAX];
	int ru, rp, rb, rk;

	snprintf(p, sizeof(p), "%s.username", sec);
	ru = cfg_row_find(p);
	snprintf(p, sizeof(p), "%s.password_file", sec);
	rp = cfg_row_find(p);
	snprintf(p, sizeof(p), "%s.bearer_token_file", sec);
	rb = cfg_row_find(p);
	snprintf(p, sizeof(p), "%s.key_file", sec);
	rk = cfg_row_find(p);
	if (ru < 0 || rp < 0 || rb < 0 || rk < 0)
		return;
	if (h->username != NULL && h->password_file == NULL) {
		row_loc(l, (size_t)ru, loc, sizeof(loc));
		cfg_eb_add(&l->e, "%s%s.username: needs %s.password_file (basic "
		    "auth reads the password from a file)", loc, sec, sec);
	}
	if (h->password_file != NULL && h->username == NULL) {
		row_loc(l, (size_t)rp, loc, sizeof(loc));
		cfg_eb_add(&l->e, "%s%s.password_file: needs %s.username", loc,
		    sec, sec);
	}
	if (h->username != NULL && h->bearer_token_file != NULL) {
		row_loc(l, (size_t)rb, loc, sizeof(loc));
		cfg_eb_add(&l->e, "%s%s.bearer_token_file: cannot be used "
		    "together with basic auth (%s.username)", loc, sec, sec);
	}
	if (h->key_file != NULL && h->cert_file == NULL) {
		row_loc(l, (size_t)rk, loc, sizeof(loc));
		cfg_eb_add(&l->e, "%s%s.key_file: needs %s.cert_file", loc, sec,
		    sec);
	}
}

/*
 * Checks that need the whole file: pairs of settings, and the files that
 * settings name (secrets are read now, so that -t finds a missing one).
 * Runs while libconfig's memory, which l->file[] points into, is alive.
 */
static void
file_checks(ld *l)
{
	int rmin = cfg_row_find("pushgateway.retry_min");
	int rmax = cfg_row_find("pushgateway.retry_max");
	char loc[LOC_MAX], sb[80];

	if (rmin >= 0 && rmax >= 0 &&
	    (l->line[rmin] != 0 || l->line[rmax] != 0) &&
	    l->c->retry_max < l->c->retry_min) {
		row_loc(l, (size_t)(l->line[rmax] ? rmax : rmin), loc,
		    sizeof(loc));
		cfg_eb_add(&l->e, "%spushgateway.retry_max (%.15g) must not be "
		    "less than pushgateway.retry_min (%.15g)", loc,
		    l->c->retry_max, l->c->retry_min);
	}
	dest_checks(l, "pushgateway", &l->c->gw);
	dest_checks(l, "remote_write", &l->c->rw);
	for (size_t i = 0; i < CFG_NROWS; i++) {
		const row *r = &cfg_rows[i];
		const char *path;

		if (r->type != T_PATH)
			continue;
		if (r->secret != NULL) {
			read_secret(l, i);
			continue;
		}
		/* Certificates are read by libcurl at the first push; a
		 * missing one is better found by -t. */
		path = *CFIELD(l->c, r->off, str_t);
		if (path != NULL && access(path, R_OK) != 0) {
			int err = errno;

			row_loc(l, i, loc, sizeof(loc));
			cfg_eb_add(&l->e, "%s%s: cannot read '%s' (%s)", loc,
			    r->path, cfg_shown(path, sb, sizeof(sb)),
			    strerror(err));
		}
	}
}

/* Applies a parsed file (walk and whole-file checks). */
static void
apply_config(ld *l, const config_t *cf)
{
	walk(l, config_root_setting(cf), NULL);
	file_checks(l);
}

static void
parse_error(ld *l, const config_t *cf)
{
	const char *f = config_error_file(cf);

	cfg_eb_add(&l->e, "%s:%d: %s", f ? f : l->name, config_error_line(cf),
	    config_error_text(cf) ? config_error_text(cf) : "parse error");
}

/*
 * The config file: a missing default file is no error (every setting is
 * optional); a missing file named by -c is CFG_ENOENT, and so is one that
 * exists but cannot be read.
 */
void
cfg_read_file(ld *l, const char *path, int required)
{
	config_t cf;
	struct stat st;
	char *dir = NULL, *slash;
	FILE *f;
	int err = 0;

	l->name = path;
	if ((f = fopen(path, "r")) == NULL)
		err = errno;
	else {
		if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
			err = EISDIR;
		fclose(f);
	}
	if (err == ENOENT && !required)
		return;
	if (err != 0) {
		cfg_eb_add(&l->e, "%s: cannot read the configuration file (%s)",
		    path, strerror(err));
		l->enoent = 1;
		return;
	}
	if ((l->c->config_file = strdup(path)) == NULL ||
	    (dir = strdup(path)) == NULL) {
		l->e.oom = 1;
		goto out;
	}
	config_init(&cf);
	/* @include "x" means x next to this file, not in the working
	 * directory. */
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		slash[slash == dir ? 1 : 0] = '\0';
		config_set_include_dir(&cf, dir);
	}
	if (!config_read_file(&cf, path)) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO) {
			cfg_eb_add(&l->e, "%s: cannot read the configuration file "
			    "(%s)", path, config_error_text(&cf));
			l->enoent = 1;
		} else
			parse_error(l, &cf);
	} else
		apply_config(l, &cf);
	config_destroy(&cf);
out:
	free(dir);
}

/* The line of an @include directive in text, or 0. */
static unsigned
include_line(const char *text)
{
	unsigned line = 1;

	for (const char *p = text; *p != '\0'; line++) {
		while (cfg_blank(*p))
			p++;
		if (strncasecmp(p, "@include", 8) == 0)
			return line;
		if ((p = strchr(p, '\n')) == NULL)
			break;
		p++;
	}
	return 0;
}

int
cfg_read_string(ld *l, const char *text)
{
	config_t cf;
	unsigned il;

	/* Text has no directory to include from, and the fuzzer must not
	 * make libconfig open (or block on) files of its choosing. */
	if ((il = include_line(text)) != 0) {
		cfg_eb_add(&l->e, "%s:%u: @include is not allowed here",
		    l->name, il);
		return -1;
	}
	config_init(&cf);
	if (!config_read_string(&cf, text))
		parse_error(l, &cf);
	else
		apply_config(l, &cf);
	config_destroy(&cf);
	return 0;
}
