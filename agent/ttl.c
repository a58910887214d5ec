/*
 * ttl — see ttl.h.
 */
#include <stdlib.h>

#include "ttl.h"

typedef struct entry {
	int64_t id;
	int64_t version;    /* the group's version when last seen */
	int64_t last_row_ms;
	double base_mono;   /* when this last_row_ms was first seen */
	double base_age;    /* its age then */
} entry;

struct ttl {
	entry *cur, *next;  /* next: the listing under way */
	size_t ncur, capcur, nnext, capnext;
	size_t scan;        /* where the merge is in cur */
	double mono, wall;  /* this listing's clocks */
	double prev_mono;   /* the previous listing's; < 0 before the first */
	int oom;
};

ttl_t *
ttl_new(void)
{
	ttl_t *t = calloc(1, sizeof(*t));

	if (t != NULL)
		t->prev_mono = -1;
	return t;
}

void
ttl_free(ttl_t *t)
{
	if (t == NULL)
		return;
	free(t->cur);
	free(t->next);
	free(t);
}

void
ttl_begin(ttl_t *t, double mono, double wall)
{
	t->nnext = 0;
	t->scan = 0;
	t->mono = mono;
	t->wall = wall;
	t->oom = 0;
}

static const entry *
find(const entry *v, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].id == id ? &v[lo] : NULL;
}

int
ttl_note(ttl_t *t, int64_t id, int64_t version, int64_t last_row_ms)
{
	const entry *old = NULL;
	entry *e;

	if (t->nnext == t->capnext) {
		size_t cap = t->capnext ? t->capnext * 2 : 64;
		entry *n = realloc(t->next, cap * sizeof(*n));
		if (n == NULL) {
			t->oom = 1;
			return -1;
		}
		t->next = n;
		t->capnext = cap;
	}
	/* Both are in id order: the old entry is at or after scan. */
	while (t->scan < t->ncur && t->cur[t->scan].id < id)
		t->scan++;
	if (t->scan < t->ncur && t->cur[t->scan].id == id)
		old = &t->cur[t->scan];
	e = &t->next[t->nnext++];
	e->id = id;
	e->version = version;
	e->last_row_ms = last_row_ms;
	/* The version, not last_row_ms, says whether a row came: the fold
	 * only ever raises last_row_ms, so after one row stamped ahead (a
	 * clock stepped back, a writer's own received_ms) the rows that
	 * follow leave it as it was. */
	if (old != NULL && old->version == version) {
		e->base_mono = old->base_mono;
		e->base_age = old->base_age;
		return 0;
	}
	e->base_mono = t->mono;
	e->base_age = t->wall - (double)last_row_ms / 1000.0;
	/* Seen before in this run: the row came since the last listing. */
	if (t->prev_mono >= 0 && e->base_age > t->mono - t->prev_mono)
		e->base_age = t->mono - t->prev_mono;
	if (e->base_age < 0 || last_row_ms <= 0)
		e->base_age = 0;
	return 0;
}

void
ttl_end(ttl_t *t)
{
	entry *sw = t->cur;
	size_t cap = t->capcur;

	/* Out of memory, the listing is partial: the old ages stay, so no
	 * group loses its age to a failed allocation. */
	if (t->oom)
		return;
	t->cur = t->next;
	t->capcur = t->capnext;
	t->ncur = t->nnext;
	t->next = sw;
	t->capnext = cap;
	t->nnext = 0;
	t->prev_mono = t->mono;
}

double
ttl_age(const ttl_t *t, int64_t id, double mono)
{
	const entry *e = find(t->cur, t->ncur, id);

	if (e == NULL)
		return -1;
	return e->base_age + (mono - e->base_mono);
}
