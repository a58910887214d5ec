/* pull — the exposition served on /metrics. See pull.h. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "hmap.h"
#include "pbexpo.h"
#include "pull.h"

const char *
pull_strerror(pull_err e)
{
	switch (e) {
	case PULL_OK:
		return "ok";
	case PULL_ESTOPPED:
		return "stopped by its sink";
	case PULL_ESPOOL:
		return "cannot read the spool";
	case PULL_ENOMEM:
		return "out of memory";
	}
	return "unknown pull error";
}

/*
 * The series of one family already written, across its groups, are kept
 * as 64-bit hashes of the name and the label set (the keys of an hmap, the
 * values unused). The label set's hash is the sum of its pairs' (mixed)
 * hashes, so it does not depend on the order of the pairs: the same set
 * can be split differently between a group's labels and a series' own. A
 * hash collision would drop a series; at 2^-64 per pair of series that is
 * not a practical concern.
 */

static uint64_t
fnv(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	/* splitmix64's finaliser, so that sums of hashes stay spread. */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

/* The sum of the pair hashes of canonical labels `k="v",k2="v2"` (values
 * escaped: a quote inside one is always preceded by a backslash). */
static uint64_t
labels_hash(const char *l)
{
	uint64_t sum = 0;
	const char *start = l;
	int in_value = 0;

	for (const char *p = l; *p; p++) {
		if (!in_value) {
			in_value = *p == '"';
			continue;
		}
		if (*p == '\\' && p[1] != '\0') {
			p++;
			continue;
		}
		if (*p == '"') {
			sum += fnv(start, (size_t)(p + 1 - start));
			in_value = 0;
			if (p[1] == ',')
				p++;
			start = p + 1;
		}
	}
	return sum;
}

/* Adds h to s; returns 1 when it was there, 0 when added, -1 out of
 * memory. */
static int
hash_add(hmap *s, uint64_t h)
{
	int created;

	if (hmap_put(s, &h, sizeof(h), &created) == NULL)
		return -1;
	return !created;
}

static int
hash_has(const hmap *s, uint64_t h)
{
	return hmap_get(s, &h, sizeof(h)) != NULL;
}

/*
 * A histogram's samples are NAME_bucket, NAME_count and NAME_sum, a
 * summary's NAME_count and NAME_sum: parsers file a later family of such a
 * name under the histogram or summary ("second TYPE line"), and the
 * Pushgateway refuses it. Families sort after their prefix, so the names
 * are claimed when the histogram or summary is written. 0, or -1 out of
 * memory.
 */
static int
claim(hmap *claimed, const spool_family *f)
{
	static const char *const sfx[] = { "_count", "_sum", "_bucket" };
	size_t n = strlen(f->name), k;
	char name[EXPO_MAX_NAME + 8];

	if (strcmp(f->type, "histogram") == 0)
		k = 3;
	else if (strcmp(f->type, "summary") == 0)
		k = 2;
	else
		return 0;
	if (n > EXPO_MAX_NAME)
		return 0;
	for (size_t i = 0; i < k; i++) {
		size_t l = strlen(sfx[i]);
		memcpy(name, f->name, n);
		memcpy(name + n, sfx[i], l);
		if (hash_add(claimed, fnv(name, n + l)) < 0)
			return -1;
	}
	return 0;
}

/* The labels a group puts on its series: job first, then the grouping. */
typedef struct glabels {
	int64_t id;
	char *extra;                       /* job="...",k="v",... */
	uint64_t hash;                     /* labels_hash(extra) */
	char *names[EXPO_MAX_LABELS + 1];  /* their names (owned) */
	size_t nnames;
} glabels;

static void
clear_group(glabels *g)
{
	for (size_t i = 0; i < g->nnames; i++)
		free(g->names[i]);
	g->nnames = 0;
	free(g->extra);
	g->extra = NULL;
}

static int
set_group(glabels *g, int64_t id, const char *job, const char *grouping)
{
	expo_label l[EXPO_MAX_LABELS];
	const char *why;
	size_t n = 0, o, gl = strlen(grouping);

	clear_group(g);
	g->id = id;
	if ((g->names[g->nnames++] = strdup("job")) == NULL ||
	    (g->extra = malloc(expo_pair_len("job", job) + gl + 2)) == NULL)
		return -1;
	o = expo_write_pair(g->extra, "job", job);
	/* The grouping is canonical (the fold wrote it); a grouping that
	 * does not parse is put on as it is, without overriding. */
	if (gl > 0 && expo_parse_labels(grouping, gl, l, EXPO_MAX_LABELS, &n,
	    &why) == 0) {
		for (size_t i = 0; i < n; i++) {
			if (expo_str_eq(l[i].name, "job"))
				continue;
			if ((g->names[g->nnames] = strndup(l[i].name.p,
			    l[i].name.len)) == NULL)
				return -1;
			g->nnames++;
		}
	}
	if (gl > 0) {
		g->extra[o++] = ',';
		memcpy(g->extra + o, grouping, gl);
		o += gl;
	}
	g->extra[o] = '\0';
	g->hash = labels_hash(g->extra);
	return 0;
}

/* Could labels hold name? A quick test before parsing: in canonical
 * labels a name is at the start or after `",`, followed by `="`. */
static int
maybe_has(const char *labels, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = labels; (p = strstr(p, name)) != NULL; p++)
		if ((p == labels || (p[-1] == ',' && p - labels >= 2 &&
		    p[-2] == '"')) && p[n] == '=' && p[n + 1] == '"')
			return 1;
	return 0;
}

/*
 * Sets *out to x's labels without those the group puts on (into buf, which
 * holds EXPO_MAX_LINE bytes), or to x's labels themselves when none clash.
 * Returns 1 when some label was replaced.
 */
static int
own_labels(const glabels *g, const char *labels, char *buf,
    const char **out)
{
	expo_label l[EXPO_MAX_LABELS], keep[EXPO_MAX_LABELS];
	const char *why;
	size_t n, k = 0, len;
	int hit = 0;

	*out = labels;
	for (size_t i = 0; i < g->nnames && !hit; i++)
		hit = maybe_has(labels, g->names[i]);
	if (!hit || expo_parse_labels(labels, strlen(labels), l,
	    EXPO_MAX_LABELS, &n, &why) != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		int clash = 0;
		for (size_t j = 0; j < g->nnames && !clash; j++)
			clash = expo_str_eq(l[i].name, g->names[j]);
		if (!clash)
			keep[k++] = l[i];
	}
	if (k == n)
		return 0;
	len = expo_labels_len(keep, k);
	if (len >= EXPO_MAX_LINE)
		return 0;
	expo_join_labels(buf, keep, k);
	buf[len] = '\0';
	*out = buf;
	return 1;
}

pull_err
pull_walk(spool_t *s, const pull_sink *sink, void *arg, pull_result *res,
    char *err, size_t errlen)
{
	spool_cursor *c = NULL;
	const spool_family *f;
	const spool_sample *x;
	glabels g = { 0 };
	hmap *seen = NULL, *claimed = NULL;
	char *type = NULL, *buf = NULL;
	int fresh, skip = 0, collides = 0, gkeep = 1;
	pull_err rc = PULL_ENOMEM;
	spool_err e;

	memset(res, 0, sizeof(*res));
	g.id = -1;
	if ((buf = malloc(EXPO_MAX_LINE)) == NULL ||
	    (seen = hmap_new()) == NULL || (claimed = hmap_new()) == NULL)
		goto nomem;
	if ((e = spool_cursor_open_all(s, &c)) != SPOOL_OK)
		goto spool;
	for (;;) {
		const char *job, *grouping, *labels;
		int64_t gid;
		spool_sample y;
		uint64_t h;
		int dup;

		if ((e = spool_cursor_next(c, &f, &x, &fresh)) != SPOOL_OK)
			goto spool;
		if (x == NULL)
			break;
		spool_cursor_group(c, &gid, &job, &grouping);
		if (fresh) {
			int k = hash_has(claimed, fnv(f->name,
			    strlen(f->name)));
			skip = selfm_owns(f->name);
			collides = !skip && k;
			free(type);
			if ((type = strdup(f->type)) == NULL)
				goto nomem;
			if (!skip && !collides) {
				if (claim(claimed, f) != 0)
					goto nomem;
				if (sink->family != NULL &&
				    sink->family(arg, f) != 0)
					goto stopped;
			}
			hmap_clear(seen, NULL);
		}
		if (skip)
			continue;
		if (collides) {
			if (res->type_clash++ == 0)
				snprintf(res->clash, sizeof(res->clash),
				    "family %s is a sample name of an earlier "
				    "histogram or summary (job=%s {%s})",
				    f->name, job, grouping);
			continue;
		}
		if (gid != g.id) {
			if (set_group(&g, gid, job, grouping) != 0)
				goto nomem;
			gkeep = sink->keep == NULL || sink->keep(arg, gid);
		}
		if (!gkeep)
			continue;
		if (strcmp(f->type, type) != 0) {
			if (res->type_clash++ == 0)
				snprintf(res->clash, sizeof(res->clash),
				    "family %s is a %s in an earlier group and "
				    "a %s in job=%s {%s}", f->name, type,
				    f->type, job, grouping);
			continue;
		}
		own_labels(&g, x->labels, buf, &labels);
		h = fnv(x->name, strlen(x->name)) + g.hash +
		    labels_hash(labels);
		if ((dup = hash_add(seen, h)) < 0)
			goto nomem;
		if (dup) {
			res->duplicate++;
			continue;
		}
		y = *x;
		y.labels = labels;
		if (sink->sample(arg, &y, g.extra) != 0)
			goto stopped;
		res->series++;
	}
	rc = PULL_OK;
	goto done;
stopped:
	rc = PULL_ESTOPPED;
	goto done;
spool:
	rc = PULL_ESPOOL;
	snprintf(err, errlen, "%s", spool_errmsg(s));
	goto done;
nomem:
	rc = PULL_ENOMEM;
	snprintf(err, errlen, "%s", pull_strerror(PULL_ENOMEM));
done:
	spool_cursor_close(c);
	hmap_free(seen, NULL);
	hmap_free(claimed, NULL);
	clear_group(&g);
	free(type);
	free(buf);
	return rc;
}

static int
text_family(void *arg, const spool_family *f)
{
	return render_family(arg, f) != DBUF_OK;
}

static int
text_sample(void *arg, const spool_sample *x, const char *extra)
{
	return render_sample(arg, x, extra) != DBUF_OK;
}

int
pull_render(spool_t *s, const selfm *m, dbuf *out, pull_result *res,
    char *err, size_t errlen)
{
	static const pull_sink text = { text_family, text_sample, NULL };
	pull_err rc;

	dbuf_reset(out);
	rc = pull_walk(s, &text, out, res, err, errlen);
	for (size_t i = 0; rc == PULL_OK && m != NULL &&
	    i < selfm_count_families(); i++)
		if (selfm_render(out, m, i, NULL) != DBUF_OK)
			rc = PULL_ESTOPPED;
	/* The text sink stops only when the buffer is full (or out of
	 * memory): say which, and the cap. */
	if (rc == PULL_ESTOPPED)
		snprintf(err, errlen, "%s (the limit is %zu bytes)",
		    render_strerror(out->err), out->max);
	return rc == PULL_OK ? 0 : -1;
}

/* The protobuf walk: the encoder, where it writes, its first failure. */
typedef struct pbctx {
	pbexpo *e;
	dbuf *out;
	pbexpo_err err;
	char name[EXPO_MAX_NAME + 1]; /* the family being encoded */
} pbctx;

static int
pb_family(void *arg, const spool_family *f)
{
	pbctx *c = arg;

	if ((c->err = pbexpo_family(c->e, f, c->out)) != PBEXPO_OK)
		return 1;
	snprintf(c->name, sizeof(c->name), "%s", f->name);
	return 0;
}

static int
pb_sample(void *arg, const spool_sample *x, const char *extra)
{
	pbctx *c = arg;

	return (c->err = pbexpo_sample(c->e, x, extra)) != PBEXPO_OK;
}

int
pull_render_pb(spool_t *s, const selfm *m, dbuf *out, pull_result *res,
    char *err, size_t errlen)
{
	static const pull_sink pb = { pb_family, pb_sample, NULL };
	pbctx c = { NULL, out, PBEXPO_OK, "" };
	pull_err rc;
	spool_family f;

	dbuf_reset(out);
	memset(res, 0, sizeof(*res));
	if ((c.err = pbexpo_new(out->max, &c.e)) != PBEXPO_OK) {
		snprintf(err, errlen, "%s", pbexpo_strerror(c.err));
		return -1;
	}
	rc = pull_walk(s, &pb, &c, res, err, errlen);
	for (size_t i = 0; rc == PULL_OK && m != NULL &&
	    selfm_family(i, &f) == 0; i++)
		if (pb_family(&c, &f) != 0 ||
		    selfm_each(m, i, NULL, pb_sample, &c) != 0)
			rc = PULL_ESTOPPED;
	if (rc == PULL_OK && (c.err = pbexpo_end(c.e, out)) != PBEXPO_OK)
		rc = PULL_ESTOPPED;
	pbexpo_free(c.e);
	/* As the text's: the cap, and here also the family at fault. */
	if (rc == PULL_ESTOPPED && c.err == PBEXPO_ETOOBIG)
		snprintf(err, errlen, "%s (the limit is %zu bytes; family %s)",
		    render_strerror(DBUF_ETOOBIG), out->max, c.name);
	else if (rc == PULL_ESTOPPED)
		snprintf(err, errlen, "family %s: %s", c.name,
		    pbexpo_strerror(c.err));
	return rc == PULL_OK ? 0 : -1;
}
