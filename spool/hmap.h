/*
 * hmap — a hash map from byte strings to pointers, for the fold's per-batch
 * caches, the remote-write sink's sets of series and the sets of series
 * hashes /metrics keeps while it walks the groups (pull.c). Open addressing
 * with linear probing; no removal (a batch's cache is cleared whole).
 *
 * Keys are copied into the map. Values are the caller's: hmap_clear() and
 * hmap_free() call the free function given to them on each value.
 *
 * Shared by the library and the agent; not installed; not exported from the
 * installed libraries.
 */
#ifndef HMAP_H
#define HMAP_H

#include <stddef.h>

typedef struct hmap hmap;

/* Returns a new empty map, or NULL when out of memory. Caller frees with
 * hmap_free(). */
hmap *hmap_new(void);

/* Frees the map and, if free_val is not NULL, every value. NULL is a no-op. */
void hmap_free(hmap *m, void (*free_val)(void *));

/* Empties the map, freeing values with free_val if not NULL; a map that
 * had grown large gives its slot array back. */
void hmap_clear(hmap *m, void (*free_val)(void *));

/* The value slot for key, or NULL if the key is absent. The slot is borrowed
 * until the next hmap_put() or hmap_clear(). */
void **hmap_get(const hmap *m, const void *key, size_t klen);

/* The value slot for key, inserted with a NULL value if absent (then
 * *created is 1). NULL when out of memory. Borrowed as for hmap_get(). */
void **hmap_put(hmap *m, const void *key, size_t klen, int *created)
    __attribute__((warn_unused_result));

size_t hmap_count(const hmap *m);

/* Calls fn on every entry, in no particular order; stops early and returns
 * fn's value when fn returns non-zero. */
int hmap_each(const hmap *m, int (*fn)(const void *key, size_t klen,
    void *val, void *arg), void *arg);

#endif
