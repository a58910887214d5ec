/*
 * dbuf — a growable byte buffer with a cap and a sticky error, after curl's
 * dynbuf (lib/dynbuf.h). The library (fold, the CLI) and the agent (render,
 * /metrics, remote write) build their bodies and scratch keys in it, so the
 * growth policy, the cap and the error handling are written once.
 *
 * The cap bounds both the content and the allocation. A write either goes
 * in whole or not at all; the first one that fails (the cap, or out of
 * memory) sets the error, and every later write returns it without writing
 * until dbuf_reset(). So a caller can write a whole body and check once.
 *
 * The bytes are not NUL-terminated (dbuf_take() terminates what it hands
 * over). p and len may be read directly; p is NULL until the first growth.
 * The buffer owns p: it is valid until the next write, dbuf_free() or
 * dbuf_take().
 *
 * Part of the shared base of the library and the agent; not installed.
 */
#ifndef DBUF_H
#define DBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef enum dbuf_err {
	DBUF_OK = 0,
	DBUF_ENOMEM,
	DBUF_ETOOBIG     /* the cap was reached */
} dbuf_err;

const char *dbuf_strerror(dbuf_err e);

typedef struct dbuf {
	char *p;
	size_t len;
	size_t cap;      /* allocated */
	size_t max;      /* the cap: len and cap never exceed it */
	dbuf_err err;    /* sticky */
} dbuf;

/* An empty buffer that will grow to at most max bytes. Allocates nothing. */
void dbuf_init(dbuf *b, size_t max);

/* Empties the buffer (keeps the allocation) and clears the error. */
void dbuf_reset(dbuf *b);

/* Frees the memory; the buffer is empty and may be used again (same cap).
 * NULL is a no-op. */
void dbuf_free(dbuf *b);

/* Appends len bytes of s. */
dbuf_err dbuf_add(dbuf *b, const void *s, size_t len);

/* Appends the string s (without its NUL). */
dbuf_err dbuf_adds(dbuf *b, const char *s);

/* Appends printf-formatted text (without a NUL). */
dbuf_err dbuf_addf(dbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
dbuf_err dbuf_vaddf(dbuf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * A hint: makes room for n more bytes in one allocation of that size (at
 * most up to the cap), rather than doublings that overshoot it. Out of
 * memory and the cap are not errors here; the writes that follow grow the
 * buffer as usual. Returns the sticky error, if any.
 */
dbuf_err dbuf_reserve(dbuf *b, size_t n);

/*
 * For writers that format in place: makes room for n more bytes and returns
 * where they go (p + len), or NULL with the sticky error set (n over the
 * cap, out of memory, or an earlier error). Write at most n bytes there,
 * then dbuf_commit() how many were written.
 */
char *dbuf_room(dbuf *b, size_t n);

/* Counts n bytes written at dbuf_room()'s pointer; n is at most what was
 * asked of dbuf_room(). */
void dbuf_commit(dbuf *b, size_t n);

/* Cuts the content back to len bytes (len <= b->len): a writer's undo of a
 * partly written record. The error, if any, stays. */
void dbuf_setlen(dbuf *b, size_t len);

/*
 * Hands the content over: a NUL-terminated copy of it (*len, if not NULL,
 * gets its length without the NUL), which the caller frees with free(). The
 * buffer is left empty, as after dbuf_init() with the same cap. NULL when
 * out of memory or when the buffer is in error (then it is left as it was).
 * The NUL is not counted against the cap.
 */
char *dbuf_take(dbuf *b, size_t *len);

#endif
