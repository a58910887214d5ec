/*
 * groups — the agent's list of groups as the spool has them (one listing
 * per round of a sink), and how long each went without a new row (ttl.c),
 * which decides when a group expires. One list is shared by the sinks that
 * walk the groups (the gateway's rounds, remote write's choice of the
 * groups it sends), so that each listing also ages the groups once.
 *
 * Which group is the default one (the agent's job and instance, where its
 * own metrics ride) and group_ttl come from the settings (groups_set()).
 * One thread (the loop's).
 */
#ifndef GROUPS_H
#define GROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "spool-agent.h"
#include "ttl.h"

/* One group as listed (strings owned by the list). A sink may change its
 * copy (id 0: gone; pushed_version, parked: as the spool now says) until
 * the next listing. */
typedef struct group {
	int64_t id;
	char *job;
	char *grouping;
	int64_t version;
	int64_t pushed_version;
	int64_t last_row_ms;
	int delete_pending;
	int parked;        /* the spool holds a park reason */
	int has_series;
} group;

typedef struct groups {
	group *v;                      /* in increasing id order */
	size_t n, cap;
	int oom;                       /* the listing ran out of memory */
	ttl_t *ages;
	const char *job;               /* the default group's (borrowed) */
	const char *default_grouping;  /* ... and its grouping (borrowed) */
	double group_ttl;              /* seconds; 0: groups never expire */
} groups;

/* An empty list; -1 when out of memory. */
int groups_init(groups *gl);

/* Frees what gl holds (not gl). */
void groups_fini(groups *gl);

/* The default group's identity (borrowed until the next call or
 * groups_fini()) and group_ttl, from the settings applied. */
void groups_set(groups *gl, const char *job, const char *default_grouping,
    double group_ttl);

/* Reads every group from s and notes their ages as of now. On failure
 * (logged) the list is empty and the ages are as before. */
spool_err groups_list(groups *gl, spool_t *s);

/* The listed group id, or NULL. A binary search: only between a listing
 * and the first change of an id (a sink sets a dropped group's id to 0). */
group *groups_find(const groups *gl, int64_t id);

/* Is g the default group? */
int groups_is_default(const groups *gl, const group *g);

/* Has g received no row for group_ttl, as of now (monotonic)? The
 * default group never ages. */
int groups_aged(const groups *gl, const group *g, double now);

#endif
