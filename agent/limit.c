/* limit — watching the spool's limits. See limit.h. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "limit.h"
#include "log.h"

/* The group a warning about limits.max_series_per_group names. */
typedef struct named {
	int64_t id;
	char *job, *grouping;
} named;

static int
find_group(const spool_group *g, void *arg)
{
	named *n = arg;

	if (g->id != n->id)
		return 0;
	n->job = strdup(g->job);
	n->grouping = strdup(g->grouping);
	return 1;
}

static long
limit_of(const cfg *c, spool_limit l)
{
	switch (l) {
	case SPOOL_LIMIT_GROUPS:
		return c->max_groups;
	case SPOOL_LIMIT_SERIES_PER_GROUP:
		return c->max_series_per_group;
	case SPOOL_LIMIT_SERIES:
		return c->max_series;
	}
	return 0;
}

/* The count of l is near its limit: says so, naming the largest group for
 * the per-group limit (a walk over the groups, once an hour at most). */
static void
say_near(spool_t *s, const selfm *m, spool_limit l)
{
	named n = { m->use.largest_group, NULL, NULL };
	const char *what = l == SPOOL_LIMIT_GROUPS ? "groups no longer "
	    "needed" : l == SPOOL_LIMIT_SERIES ? "groups no longer needed, "
	    "or fix the writer that makes new series" : "that group, or fix "
	    "the writer that makes new series";
	char hint[256];

	snprintf(hint, sizeof(hint), "raise limits.%s, or delete %s "
	    "(collector-spool delete)", spool_limit_name(l), what);
	if (l == SPOOL_LIMIT_SERIES_PER_GROUP && n.id != 0 &&
	    spool_groups_each(s, find_group, &n) != SPOOL_OK)
		log_debug("cannot name the largest group", "reason=%s",
		    log_q(spool_errmsg(s)));
	if (n.job != NULL && n.grouping != NULL)
		log_warnx("near a limit; past it, rows that add series are "
		    "refused", "limit=limits.%s used=%lld max=%lld job=%s "
		    "grouping=%s hint=%s", spool_limit_name(l),
		    (long long)m->use.used[l], (long long)m->limit[l],
		    log_q(n.job), log_q(n.grouping), log_q(hint));
	else
		log_warnx(l == SPOOL_LIMIT_GROUPS ? "near a limit; past it, "
		    "rows that start new groups are refused" : "near a limit; "
		    "past it, rows that add series are refused",
		    "limit=limits.%s used=%lld max=%lld hint=%s",
		    spool_limit_name(l), (long long)m->use.used[l],
		    (long long)m->limit[l], log_q(hint));
	free(n.job);
	free(n.grouping);
}

int
limit_check(limit_watch *w, spool_t *s, const cfg *c, selfm *m, double now)
{
	spool_usage u;

	if (now < w->next)
		return 0;
	w->next = now + LIMIT_CHECK_SECONDS;
	if (spool_get_usage(s, &u) != SPOOL_OK) {
		log_debug("cannot read the limits' usage", "reason=%s",
		    log_q(spool_errmsg(s)));
		return 0;
	}
	m->use = u;
	for (int i = 0; i < SPOOL_NLIMITS; i++) {
		spool_limit l = (spool_limit)i;
		int64_t max = m->limit[l] = limit_of(c, l);
		int64_t more = u.refused[l] - w->refused_seen[l];

		if (!w->started)
			w->refused_seen[l] = u.refused[l];
		else if (more > 0 && (w->refused_at[l] == 0 ||
		    now - w->refused_at[l] >= LIMIT_REFUSED_SECONDS)) {
			log_warnx("rows refused by a limit", "limit=limits.%s "
			    "rows=%lld max=%lld hint=%s", spool_limit_name(l),
			    (long long)more, (long long)max,
			    log_q("collector-spool rejected"));
			w->refused_seen[l] = u.refused[l];
			w->refused_at[l] = now;
		}
		if (max <= 0)
			continue;
		if ((double)u.used[l] >= LIMIT_NEAR * (double)max) {
			if (w->near_at[l] == 0 ||
			    now - w->near_at[l] >= LIMIT_REPEAT_SECONDS) {
				say_near(s, m, l);
				w->near_at[l] = now;
			}
		} else if ((double)u.used[l] < LIMIT_CLEAR * (double)max)
			w->near_at[l] = 0;
	}
	w->started = 1;
	return 1;
}
