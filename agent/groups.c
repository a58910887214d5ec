/*
 * groups — see groups.h.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "groups.h"
#include "log.h"

int
groups_init(groups *gl)
{
	memset(gl, 0, sizeof(*gl));
	return (gl->ages = ttl_new()) == NULL ? -1 : 0;
}

static void
clear(groups *gl)
{
	for (size_t i = 0; i < gl->n; i++) {
		free(gl->v[i].job);
		free(gl->v[i].grouping);
	}
	gl->n = 0;
}

void
groups_fini(groups *gl)
{
	clear(gl);
	free(gl->v);
	ttl_free(gl->ages);
	memset(gl, 0, sizeof(*gl));
}

void
groups_set(groups *gl, const char *job, const char *default_grouping,
    double group_ttl)
{
	gl->job = job;
	gl->default_grouping = default_grouping;
	gl->group_ttl = group_ttl;
}

static int
collect_group(const spool_group *g, void *arg)
{
	groups *gl = arg;
	group *x;

	if (gl->n == gl->cap) {
		size_t cap = gl->cap ? gl->cap * 2 : 16;
		group *n = realloc(gl->v, cap * sizeof(*n));
		if (n == NULL) {
			gl->oom = 1;
			return 1;
		}
		gl->v = n;
		gl->cap = cap;
	}
	x = &gl->v[gl->n];
	x->job = strdup(g->job);
	x->grouping = strdup(g->grouping);
	if (x->job == NULL || x->grouping == NULL) {
		free(x->job);
		free(x->grouping);
		gl->oom = 1;
		return 1;
	}
	x->id = g->id;
	x->version = g->version;
	x->pushed_version = g->pushed_version;
	x->last_row_ms = g->last_row_ms;
	x->delete_pending = g->delete_pending;
	x->parked = g->park_reason != NULL;
	x->has_series = g->has_series;
	gl->n++;
	return 0;
}

spool_err
groups_list(groups *gl, spool_t *s)
{
	spool_err e;

	clear(gl);
	gl->oom = 0;
	e = spool_groups_each(s, collect_group, gl);
	if (e == SPOOL_OK && gl->oom)
		e = SPOOL_ENOMEM;
	if (e != SPOOL_OK) {
		log_errorx("cannot read the groups", "reason=%s",
		    e == SPOOL_ENOMEM ? "out of memory" :
		    log_q(spool_errmsg(s)));
		return e;
	}
	/* The groups come in id order, as the ages want them. */
	ttl_begin(gl->ages, clock_mono(), clock_wall());
	for (size_t i = 0; i < gl->n; i++)
		if (ttl_note(gl->ages, gl->v[i].id, gl->v[i].version,
		    gl->v[i].last_row_ms) != 0)
			log_debug("out of memory: group ages kept from the last "
			    "listing", NULL);
	ttl_end(gl->ages);
	return SPOOL_OK;
}

group *
groups_find(const groups *gl, int64_t id)
{
	size_t lo = 0, hi = gl->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (gl->v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < gl->n && gl->v[lo].id == id ? &gl->v[lo] : NULL;
}

int
groups_is_default(const groups *gl, const group *g)
{
	return strcmp(g->job, gl->job) == 0 &&
	    strcmp(g->grouping, gl->default_grouping) == 0;
}

/* Ages are kept by ttl.c, so a step of the wall clock does not move
 * them. */
int
groups_aged(const groups *gl, const group *g, double now)
{
	return gl->group_ttl > 0 && g->last_row_ms > 0 &&
	    !groups_is_default(gl, g) &&
	    ttl_age(gl->ages, g->id, now) > gl->group_ttl;
}
