/* gwbody — the gateway's streamed PUT body. See gwbody.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "expo.h"
#include "gwbody.h"
#include "pbexpo.h"
#include "render.h"

#define TEXT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct gwbody {
	gwbody_format fmt;
	gwbody_next next;
	void *arg;
	const selfm *m;     /* NULL: no own families */
	int own;
	size_t next_self;   /* own families already written */
	int skip;           /* the current source family is left out */
	int ended;          /* everything is rendered */
	dbuf buf;           /* the chunk being handed out */
	size_t off;         /* bytes of buf already handed out */
	size_t sent;
	pbexpo *pb;         /* made at the first protobuf body */
	char fam[EXPO_MAX_NAME + 1]; /* protobuf: the family being encoded */
	gwbody_err err;
	char why[EXPO_MAX_NAME + 256];
};

const char *
gwbody_strerror(gwbody_err e)
{
	switch (e) {
	case GWBODY_OK:
		return "success";
	case GWBODY_ENOMEM:
		return "out of memory";
	case GWBODY_ETOOBIG:
		return "rendered body over its size limit";
	case GWBODY_EINVAL:
		return "a label set or HELP text the encoder cannot read";
	case GWBODY_ESOURCE:
		return "the source failed";
	}
	return "unknown error";
}

const char *
gwbody_content_type(gwbody_format f)
{
	return f == GWBODY_PROTOBUF ? PBEXPO_CONTENT_TYPE : TEXT_TYPE;
}

gwbody_err
gwbody_new(gwbody **out)
{
	gwbody *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (b == NULL)
		return GWBODY_ENOMEM;
	/* Room for a chunk and one whole family appended after it. */
	dbuf_init(&b->buf, GWBODY_MAX + GWBODY_CHUNK);
	b->ended = 1;
	*out = b;
	return GWBODY_OK;
}

void
gwbody_free(gwbody *b)
{
	if (b == NULL)
		return;
	dbuf_free(&b->buf);
	pbexpo_free(b->pb);
	free(b);
}

void
gwbody_start(gwbody *b, gwbody_format fmt, gwbody_next next, void *arg,
    int own, const selfm *m)
{
	/* A body given up half way may have left a family in the
	 * encoder. */
	if (b->pb != NULL)
		(void)pbexpo_end(b->pb, &b->buf);
	dbuf_reset(&b->buf);
	b->fmt = fmt;
	b->next = next;
	b->arg = arg;
	b->own = own;
	b->m = m;
	b->next_self = 0;
	b->skip = 0;
	b->ended = 0;
	b->off = 0;
	b->sent = 0;
	b->fam[0] = '\0';
	b->err = GWBODY_OK;
	b->why[0] = '\0';
}

/* Stops the body for e; the why for a protobuf family names it. */
static int
stop(gwbody *b, gwbody_err e)
{
	b->err = e;
	if (e == GWBODY_ETOOBIG && b->fmt == GWBODY_PROTOBUF)
		snprintf(b->why, sizeof(b->why), "family %s is over %u MiB "
		    "encoded (the gateway takes a group in one body, and "
		    "each protobuf family whole): put fewer series in one "
		    "family", b->fam, GWBODY_MAX >> 20);
	else if (e == GWBODY_EINVAL)
		snprintf(b->why, sizeof(b->why), "family %s: %s", b->fam,
		    gwbody_strerror(e));
	else if (e != GWBODY_ESOURCE)
		snprintf(b->why, sizeof(b->why), "%s", gwbody_strerror(e));
	return -1;
}

static int
from_pb(gwbody *b, pbexpo_err e)
{
	switch (e) {
	case PBEXPO_OK:
		return 0;
	case PBEXPO_ENOMEM:
		return stop(b, GWBODY_ENOMEM);
	case PBEXPO_ETOOBIG:
		return stop(b, GWBODY_ETOOBIG);
	case PBEXPO_EINVAL:
		return stop(b, GWBODY_EINVAL);
	}
	return stop(b, GWBODY_EINVAL);
}

/* The text format's failures are worded as render.h words them. */
static int
from_dbuf(gwbody *b, dbuf_err e)
{
	if (e == DBUF_OK)
		return 0;
	stop(b, e == DBUF_ENOMEM ? GWBODY_ENOMEM : GWBODY_ETOOBIG);
	snprintf(b->why, sizeof(b->why), "%s", render_strerror(e));
	return -1;
}

/* Starts family f in the body's format. */
static int
family(gwbody *b, const spool_family *f)
{
	if (b->fmt == GWBODY_TEXT)
		return from_dbuf(b, render_family(&b->buf, f));
	if (from_pb(b, pbexpo_family(b->pb, f, &b->buf)) != 0)
		return -1;
	snprintf(b->fam, sizeof(b->fam), "%s", f->name);
	return 0;
}

static int
sample(gwbody *b, const spool_sample *x)
{
	if (b->fmt == GWBODY_TEXT)
		return from_dbuf(b, render_sample(&b->buf, x, NULL));
	return from_pb(b, pbexpo_sample(b->pb, x, NULL));
}

static int
self_sample(void *arg, const spool_sample *x, const char *extra)
{
	(void)extra;
	return sample(arg, x);
}

/* Writes the own families that sort before name (all when NULL). */
static int
self_before(gwbody *b, const char *name)
{
	spool_family f;

	while (b->m != NULL && selfm_family(b->next_self, &f) == 0 &&
	    (name == NULL || strcmp(f.name, name) < 0)) {
		b->next_self++;
		if (family(b, &f) != 0 ||
		    selfm_each(b->m, b->next_self - 1, NULL, self_sample,
		    b) != 0)
			return -1;
	}
	return 0;
}

/* Renders into buf until it holds a chunk or the body ends. */
static int
fill(gwbody *b)
{
	const spool_family *f;
	const spool_sample *x;
	int fresh;

	dbuf_reset(&b->buf);
	b->off = 0;
	while (b->buf.len < GWBODY_CHUNK && !b->ended) {
		if (b->next != NULL) {
			if (b->next(b->arg, &f, &x, &fresh) != 0)
				return stop(b, GWBODY_ESOURCE);
			if (x != NULL) {
				if (fresh) {
					b->skip = b->own && selfm_owns(f->name);
					if (!b->skip && (self_before(b,
					    f->name) != 0 || family(b, f) != 0))
						return -1;
				}
				if (!b->skip && sample(b, x) != 0)
					return -1;
				continue;
			}
		}
		if (self_before(b, NULL) != 0)
			return -1;
		if (b->fmt == GWBODY_PROTOBUF &&
		    from_pb(b, pbexpo_end(b->pb, &b->buf)) != 0)
			return -1;
		b->ended = 1;
	}
	return 0;
}

size_t
gwbody_read(char *buf, size_t cap, void *arg)
{
	gwbody *b = arg;
	size_t n;

	if (b->err != GWBODY_OK)
		return (size_t)-1;
	if (b->off == b->buf.len) {
		if (b->ended)
			return 0;
		if (b->fmt == GWBODY_PROTOBUF && b->pb == NULL &&
		    pbexpo_new(GWBODY_MAX, &b->pb) != PBEXPO_OK)
			return (size_t)stop(b, GWBODY_ENOMEM);
		if (fill(b) != 0)
			return (size_t)-1;
	}
	/* fill() leaves nothing only at the end: an empty group (a replace
	 * with no lines) has no buffer at all. */
	if ((n = b->buf.len - b->off) == 0)
		return 0;
	if (n > cap)
		n = cap;
	memcpy(buf, b->buf.p + b->off, n);
	b->off += n;
	b->sent += n;
	return n;
}

gwbody_err
gwbody_error(const gwbody *b)
{
	return b->err;
}

const char *
gwbody_why(const gwbody *b)
{
	return b->err == GWBODY_OK || b->err == GWBODY_ESOURCE ? NULL :
	    b->why;
}

size_t
gwbody_sent(const gwbody *b)
{
	return b->sent;
}
