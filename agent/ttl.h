/*
 * ttl — how long each group has gone without a new row, measured so that
 * a step of the wall clock neither expires a group early nor keeps it past
 * its time.
 *
 * The spool records when each group's last row came (last_row_ms, the
 * writer's wall clock, never lowered) and counts its changes (version). A
 * group's age is taken from the wall clock only when this process first
 * sees the group at a version, and counted on the monotonic clock from
 * then on:
 *  - at the first listing after start, age = wall now − last_row_ms (the
 *    only measure across a restart), never below 0;
 *  - when a group's version changes later, or a new group appears, a row
 *    came since the previous listing, so its age starts at wall now −
 *    last_row_ms bounded by [0, the monotonic time since that listing]: a
 *    writer's or the agent's clock that is a day off moves it by at most
 *    one listing interval.
 *
 * Listings go through ttl_begin(), one ttl_note() per group in increasing
 * id order, ttl_end(). Times are passed in, so the module is tested
 * without sleeping. One thread.
 */
#ifndef TTL_H
#define TTL_H

#include <stdint.h>

typedef struct ttl ttl_t;

/* NULL when out of memory. */
ttl_t *ttl_new(void);

/* NULL is a no-op. */
void ttl_free(ttl_t *t);

/* Starts a listing at mono (seconds, monotonic) and wall (seconds since
 * the epoch). */
void ttl_begin(ttl_t *t, double mono, double wall);

/*
 * Notes group id (ids strictly increasing within a listing) at version,
 * whose latest row came at last_row_ms. Returns 0, or -1 when out of memory: then
 * ttl_end() keeps the ages of the listing before, and groups new in this
 * one have none (ttl_age() returns -1) until a listing succeeds.
 */
int ttl_note(ttl_t *t, int64_t id, int64_t version, int64_t last_row_ms);

/* Ends the listing: groups not noted are forgotten. */
void ttl_end(ttl_t *t);

/* Seconds since group id's last row, as of mono; -1 when unknown. */
double ttl_age(const ttl_t *t, int64_t id, double mono);

#endif
