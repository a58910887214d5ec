/* hmap — see hmap.h. */
#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
	uint64_t hash;
	void *val;
	size_t klen;
	char key[];
} entry;

struct hmap {
	entry **slots;
	size_t cap;   /* power of two */
	size_t count;
};

#define HMAP_MIN_CAP 64
/* A cleared map bigger than this goes back to HMAP_MIN_CAP slots: one
 * huge use (a row with 100,000 series) must not leave every later clear
 * walking a million empty slots, nor keep their memory. */
#define HMAP_SHRINK_CAP 1024

#define MIX1 0xff51afd7ed558ccdULL
#define MIX2 0xc4ceb9fe1a85ec53ULL

/* Sixteen bytes at a time in two independent lanes, then a final mix
 * (MurmurHash3's fmix64), so that the low bits that pick a slot depend on
 * every byte: the keys are short and alike ("<group id>name\0labels"),
 * and byte-at-a-time FNV-1a was the fold's largest cost. No adversary
 * beyond the local spool's writers. */
static uint64_t
hash_bytes(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t a = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n, b = MIX2, w, v;

	for (; n >= 16; s += 16, n -= 16) {
		memcpy(&w, s, 8);
		memcpy(&v, s + 8, 8);
		a = (a ^ w) * MIX1;
		b = (b ^ v) * MIX2;
		a ^= a >> 29;
		b ^= b >> 31;
	}
	if (n >= 8) {
		memcpy(&w, s, 8);
		a = (a ^ w) * MIX1;
		a ^= a >> 29;
		s += 8;
		n -= 8;
	}
	if (n > 0) {
		v = 0;
		memcpy(&v, s, n);
		b = (b ^ v) * MIX2;
		b ^= b >> 31;
	}
	uint64_t h = a ^ (b * MIX1);

	h ^= h >> 33;
	h *= MIX1;
	h ^= h >> 33;
	h *= MIX2;
	h ^= h >> 33;
	return h;
}

hmap *
hmap_new(void)
{
	hmap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->cap = HMAP_MIN_CAP;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (m->slots == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void
hmap_clear(hmap *m, void (*free_val)(void *))
{
	entry **small;

	if (m == NULL || m->count == 0)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i] == NULL)
			continue;
		if (free_val != NULL)
			free_val(m->slots[i]->val);
		free(m->slots[i]);
		m->slots[i] = NULL;
	}
	m->count = 0;
	/* Out of memory: the big array stays, empty, which is correct. */
	if (m->cap > HMAP_SHRINK_CAP &&
	    (small = calloc(HMAP_MIN_CAP, sizeof(*small))) != NULL) {
		free(m->slots);
		m->slots = small;
		m->cap = HMAP_MIN_CAP;
	}
}

void
hmap_free(hmap *m, void (*free_val)(void *))
{
	if (m == NULL)
		return;
	hmap_clear(m, free_val);
	free(m->slots);
	free(m);
}

static size_t
find(const hmap *m, uint64_t h, const void *key, size_t klen)
{
	size_t i = (size_t)h & (m->cap - 1);

	while (m->slots[i] != NULL) {
		const entry *e = m->slots[i];
		if (e->hash == h && e->klen == klen &&
		    memcmp(e->key, key, klen) == 0)
			return i;
		i = (i + 1) & (m->cap - 1);
	}
	return i;
}

void **
hmap_get(const hmap *m, const void *key, size_t klen)
{
	size_t i;

	/* The fold asks maps that are mostly empty (a row's TYPE lines). */
	if (m->count == 0)
		return NULL;
	i = find(m, hash_bytes(key, klen), key, klen);
	return m->slots[i] ? &m->slots[i]->val : NULL;
}

static int
grow(hmap *m)
{
	size_t ncap = m->cap * 2;
	entry **ns = calloc(ncap, sizeof(*ns));

	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		entry *e = m->slots[i];
		size_t j;
		if (e == NULL)
			continue;
		j = (size_t)e->hash & (ncap - 1);
		while (ns[j] != NULL)
			j = (j + 1) & (ncap - 1);
		ns[j] = e;
	}
	free(m->slots);
	m->slots = ns;
	m->cap = ncap;
	return 0;
}

void **
hmap_put(hmap *m, const void *key, size_t klen, int *created)
{
	uint64_t h = hash_bytes(key, klen);
	size_t i = find(m, h, key, klen);
	entry *e;

	*created = 0;
	if (m->slots[i] != NULL)
		return &m->slots[i]->val;
	/* Keep the load under 1/2 so probes stay short. */
	if ((m->count + 1) * 2 > m->cap) {
		if (grow(m) != 0)
			return NULL;
		i = find(m, h, key, klen);
	}
	e = malloc(sizeof(*e) + klen);
	if (e == NULL)
		return NULL;
	e->hash = h;
	e->val = NULL;
	e->klen = klen;
	memcpy(e->key, key, klen);
	m->slots[i] = e;
	m->count++;
	*created = 1;
	return &e->val;
}

size_t
hmap_count(const hmap *m)
{
	return m->count;
}

int
hmap_each(const hmap *m, int (*fn)(const void *, size_t, void *, void *),
    void *arg)
{
	for (size_t i = 0; i < m->cap; i++) {
		int r;
		if (m->slots[i] == NULL)
			continue;
		r = fn(m->slots[i]->key, m->slots[i]->klen, m->slots[i]->val, arg);
		if (r != 0)
			return r;
	}
	return 0;
}
