/* dbuf — a capped growable byte buffer with a sticky error. See dbuf.h. */
#include "dbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation; small bodies then need no second one. */
#define DBUF_MIN 4096

const char *
dbuf_strerror(dbuf_err e)
{
	switch (e) {
	case DBUF_OK:
		return "ok";
	case DBUF_ENOMEM:
		return "out of memory";
	case DBUF_ETOOBIG:
		return "over its size limit";
	}
	return "unknown buffer error";
}

void
dbuf_init(dbuf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->err = DBUF_OK;
}

void
dbuf_reset(dbuf *b)
{
	b->len = 0;
	b->err = DBUF_OK;
}

void
dbuf_free(dbuf *b)
{
	if (b == NULL)
		return;
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->err = DBUF_OK;
}

/*
 * Makes room for n more bytes, or sets the sticky error. Growth doubles so
 * that a body of N bytes costs O(N) copying in all, whatever the write
 * sizes; it stops at max, so the allocation never exceeds the cap either.
 */
static dbuf_err
grow(dbuf *b, size_t n)
{
	size_t want, ncap;
	char *np;

	if (b->err != DBUF_OK)
		return b->err;
	if (n > b->max - b->len)
		return b->err = DBUF_ETOOBIG;
	want = b->len + n;
	if (want <= b->cap)
		return DBUF_OK;
	ncap = b->cap ? b->cap : DBUF_MIN;
	while (ncap < want) {
		if (ncap > SIZE_MAX / 2) {
			ncap = want;
			break;
		}
		ncap *= 2;
	}
	if (ncap > b->max)
		ncap = b->max;
	if ((np = realloc(b->p, ncap)) == NULL)
		return b->err = DBUF_ENOMEM;
	b->p = np;
	b->cap = ncap;
	return DBUF_OK;
}

char *
dbuf_room(dbuf *b, size_t n)
{
	/* The common case first: no error and room enough. cap <= max, so
	 * room within cap is within the cap too. */
	if (b->err == DBUF_OK && n <= b->cap - b->len)
		return b->p + b->len;
	if (grow(b, n) != DBUF_OK)
		return NULL;
	return b->p + b->len;
}

void
dbuf_commit(dbuf *b, size_t n)
{
	b->len += n;
}

void
dbuf_setlen(dbuf *b, size_t len)
{
	if (len < b->len)
		b->len = len;
}

dbuf_err
dbuf_reserve(dbuf *b, size_t n)
{
	char *np;

	if (b->err != DBUF_OK || n <= b->cap - b->len)
		return b->err;
	if (n > b->max - b->len)
		n = b->max - b->len;
	if ((np = realloc(b->p, b->len + n)) == NULL)
		return DBUF_OK;   /* only a hint: growth goes on */
	b->p = np;
	b->cap = b->len + n;
	return DBUF_OK;
}

dbuf_err
dbuf_add(dbuf *b, const void *s, size_t len)
{
	char *o;

	if ((o = dbuf_room(b, len)) == NULL)
		return b->err;
	if (len > 0)
		memcpy(o, s, len);
	b->len += len;
	return DBUF_OK;
}

dbuf_err
dbuf_adds(dbuf *b, const char *s)
{
	return dbuf_add(b, s, strlen(s));
}

dbuf_err
dbuf_vaddf(dbuf *b, const char *fmt, va_list ap)
{
	char small[256], *tmp = small;
	va_list aq;
	dbuf_err e;
	int n;

	if (b->err != DBUF_OK)
		return b->err;
	/* Formatted aside first: its length decides whether it fits, and
	 * vsnprintf's NUL must not count against the cap. */
	va_copy(aq, ap);
	n = vsnprintf(small, sizeof(small), fmt, aq);
	va_end(aq);
	if (n < 0)
		return b->err = DBUF_ENOMEM;   /* only on a bad format or ENOMEM */
	if ((size_t)n >= sizeof(small)) {
		if ((tmp = malloc((size_t)n + 1)) == NULL)
			return b->err = DBUF_ENOMEM;
		vsnprintf(tmp, (size_t)n + 1, fmt, ap);
	}
	e = dbuf_add(b, tmp, (size_t)n);
	if (tmp != small)
		free(tmp);
	return e;
}

dbuf_err
dbuf_addf(dbuf *b, const char *fmt, ...)
{
	va_list ap;
	dbuf_err e;

	va_start(ap, fmt);
	e = dbuf_vaddf(b, fmt, ap);
	va_end(ap);
	return e;
}

char *
dbuf_take(dbuf *b, size_t *len)
{
	char *p;

	if (b->err != DBUF_OK)
		return NULL;
	if (b->len < b->cap)
		p = b->p;
	else if ((p = realloc(b->p, b->len + 1)) == NULL)
		return NULL;
	p[b->len] = '\0';
	if (len != NULL)
		*len = b->len;
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
