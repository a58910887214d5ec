/* render — the text exposition format into a capped buffer. See render.h.
 *
 * Every line is written whole or not at all: its length is known before a
 * byte is copied, so the cap is checked once per line and a buffer that hit
 * it holds only complete lines. */
#include "render.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"

/* The first allocation; small bodies then need no second one. */
#define RBUF_MIN 4096

const char *
render_strerror(render_err e)
{
	switch (e) {
	case RENDER_OK:
		return "ok";
	case RENDER_ENOMEM:
		return "out of memory rendering";
	case RENDER_ETOOBIG:
		return "rendered body over its size limit";
	}
	return "unknown render error";
}

void
rbuf_init(rbuf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->err = RENDER_OK;
}

void
rbuf_reset(rbuf *b)
{
	b->len = 0;
	b->err = RENDER_OK;
}

void
rbuf_free(rbuf *b)
{
	if (b == NULL)
		return;
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->err = RENDER_OK;
}

/*
 * Makes room for n more bytes, or sets the sticky error. Growth doubles so
 * that a body of N bytes costs O(N) copying in all, whatever the line sizes;
 * it stops at max, so the allocation never exceeds the cap either.
 */
static render_err
rbuf_room(rbuf *b, size_t n)
{
	size_t want, ncap;
	char *np;

	if (b->err != RENDER_OK)
		return b->err;
	if (n > b->max - b->len)
		return b->err = RENDER_ETOOBIG;
	want = b->len + n;
	if (want <= b->cap)
		return RENDER_OK;
	ncap = b->cap ? b->cap : RBUF_MIN;
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
		return b->err = RENDER_ENOMEM;
	b->p = np;
	b->cap = ncap;
	return RENDER_OK;
}

render_err
rbuf_reserve(rbuf *b, size_t n)
{
	char *np;

	/* Room for n bytes at once: one allocation of the expected size
	 * rather than doublings that overshoot it. */
	if (b->err != RENDER_OK || n <= b->cap - b->len)
		return b->err;
	if (n > b->max - b->len)
		n = b->max - b->len;
	if ((np = realloc(b->p, b->len + n)) == NULL)
		return RENDER_OK;   /* only a hint: growth goes on */
	b->p = np;
	b->cap = b->len + n;
	return RENDER_OK;
}

render_err
rbuf_add(rbuf *b, const char *s, size_t len)
{
	render_err e;

	if ((e = rbuf_room(b, len)) != RENDER_OK)
		return e;
	if (len > 0)
		memcpy(b->p + b->len, s, len);
	b->len += len;
	return RENDER_OK;
}

static const char digits2[201] =
    "00010203040506070809101112131415161718192021222324"
    "25262728293031323334353637383940414243444546474849"
    "50515253545556575859606162636465666768697071727374"
    "75767778798081828384858687888990919293949596979899";

/* Writes v in decimal into out (at least 20 bytes); returns the length. */
static size_t
fmt_u64(uint64_t v, char *out)
{
	char tmp[20];
	size_t i = sizeof(tmp), n;

	while (v >= 100) {
		unsigned d = (unsigned)(v % 100) * 2;
		v /= 100;
		tmp[--i] = digits2[d + 1];
		tmp[--i] = digits2[d];
	}
	if (v >= 10) {
		unsigned d = (unsigned)v * 2;
		tmp[--i] = digits2[d + 1];
		tmp[--i] = digits2[d];
	} else
		tmp[--i] = (char)('0' + v);
	n = sizeof(tmp) - i;
	memcpy(out, tmp + i, n);
	return n;
}

/*
 * expo_format_value, with a fast path for the common case of a counter or
 * gauge holding a whole number: expo_format_value goes through snprintf for
 * those, which is most of the cost of a render. The range and the "-0" case
 * are expo_format_value's own (it prints integers below 1e15 with %lld and
 * larger ones with %g), so the text is the same byte for byte; the unit test
 * compares the two. The comparisons are false for NaN and the infinities,
 * which keeps the cast defined.
 */
static size_t
fmt_value(double v, char *buf)
{
	if (v > -1e15 && v < 1e15) {
		long long i = (long long)v;

		if ((double)i == v) {
			if (i > 0)
				return fmt_u64((uint64_t)i, buf);
			if (i < 0) {
				buf[0] = '-';
				return 1 + fmt_u64((uint64_t)-i, buf + 1);
			}
			if (signbit(v)) {
				memcpy(buf, "-0", 2);
				return 2;
			}
			buf[0] = '0';
			return 1;
		}
	}
	return expo_format_value(v, buf);
}

/* The parts of one sample line: NAME SUFFIX{EXTRA,LABELS,le="LE"} VALUE. */
struct line {
	const char *name;
	size_t nlen;
	const char *suffix;
	size_t slen;
	const char *extra;
	size_t elen;
	const char *labels;
	size_t llen;
	const char *le;     /* NULL: no le label */
	size_t lelen;
	const char *val;
	size_t vlen;
};

static render_err
put_line(rbuf *b, const struct line *l)
{
	size_t need, parts;
	render_err e;
	char *o;

	parts = (l->elen > 0) + (l->llen > 0) + (l->le != NULL);
	need = l->nlen + l->slen + 1 + l->vlen + 1;
	if (parts > 0)
		need += 2 + (parts - 1) + l->elen + l->llen +
		    (l->le ? sizeof("le=\"\"") - 1 + l->lelen : 0);
	if ((e = rbuf_room(b, need)) != RENDER_OK)
		return e;
	o = b->p + b->len;
	memcpy(o, l->name, l->nlen);
	o += l->nlen;
	if (l->slen > 0) {
		memcpy(o, l->suffix, l->slen);
		o += l->slen;
	}
	if (parts > 0) {
		*o++ = '{';
		if (l->elen > 0) {
			memcpy(o, l->extra, l->elen);
			o += l->elen;
			if (--parts > 0)
				*o++ = ',';
		}
		if (l->llen > 0) {
			memcpy(o, l->labels, l->llen);
			o += l->llen;
			if (--parts > 0)
				*o++ = ',';
		}
		if (l->le != NULL) {
			memcpy(o, "le=\"", 4);
			o += 4;
			memcpy(o, l->le, l->lelen);
			o += l->lelen;
			*o++ = '"';
		}
		*o++ = '}';
	}
	*o++ = ' ';
	memcpy(o, l->val, l->vlen);
	o += l->vlen;
	*o++ = '\n';
	b->len = (size_t)(o - b->p);
	return RENDER_OK;
}

/* "# KIND name text\n" as one line, so that it is written whole or not. */
static render_err
put_meta(rbuf *b, const char *kind, const char *name, const char *text)
{
	size_t klen = strlen(kind), nlen = strlen(name), tlen = strlen(text);
	render_err e;
	char *o;

	if ((e = rbuf_room(b, klen + nlen + tlen + 2)) != RENDER_OK)
		return e;
	o = b->p + b->len;
	memcpy(o, kind, klen);
	o += klen;
	memcpy(o, name, nlen);
	o += nlen;
	*o++ = ' ';
	memcpy(o, text, tlen);
	o += tlen;
	*o++ = '\n';
	b->len = (size_t)(o - b->p);
	return RENDER_OK;
}

render_err
render_family(rbuf *b, const spool_family *f)
{
	const char *type = f->type ? f->type : "untyped";
	render_err e;

	if (f->help != NULL &&
	    (e = put_meta(b, "# HELP ", f->name, f->help)) != RENDER_OK)
		return e;
	if (f->typed || strcmp(type, "untyped") != 0)
		return put_meta(b, "# TYPE ", f->name, type);
	return b->err;
}

/*
 * The _bucket lines (cumulative), le="+Inf" with the total, then _sum and
 * _count. On an error the buffer goes back to where the histogram began, so
 * that no series is left half written.
 */
static render_err
render_hist(rbuf *b, struct line *l, const spool_hist *h)
{
	char le[EXPO_VALUE_BUF], val[EXPO_VALUE_BUF];
	size_t mark = b->len;
	uint64_t cum = 0;
	render_err e = RENDER_OK;

	l->suffix = "_bucket";
	l->slen = sizeof("_bucket") - 1;
	l->le = le;
	l->val = val;
	for (size_t i = 0; i < h->n && e == RENDER_OK; i++) {
		cum += h->counts[i];
		l->lelen = fmt_value(h->bounds[i], le);
		l->vlen = fmt_u64(cum, val);
		e = put_line(b, l);
	}
	if (e != RENDER_OK)
		goto out;
	cum += h->counts[h->n];
	l->le = "+Inf";
	l->lelen = 4;
	l->vlen = fmt_u64(cum, val);
	if ((e = put_line(b, l)) != RENDER_OK)
		goto out;
	l->le = NULL;
	l->suffix = "_sum";
	l->slen = 4;
	l->vlen = fmt_value(h->sum, val);
	if ((e = put_line(b, l)) != RENDER_OK)
		goto out;
	l->suffix = "_count";
	l->slen = 6;
	l->vlen = fmt_u64(cum, val);
	e = put_line(b, l);
out:
	if (e != RENDER_OK)
		b->len = mark;
	return e;
}

render_err
render_sample(rbuf *b, const spool_sample *x, const char *extra)
{
	char val[EXPO_VALUE_BUF];
	struct line l;

	l.name = x->name;
	l.nlen = strlen(x->name);
	l.suffix = NULL;
	l.slen = 0;
	l.extra = extra ? extra : "";
	l.elen = strlen(l.extra);
	l.labels = x->labels ? x->labels : "";
	l.llen = strlen(l.labels);
	l.le = NULL;
	l.lelen = 0;
	if (x->hist != NULL)
		return render_hist(b, &l, x->hist);
	l.val = val;
	l.vlen = fmt_value(x->value, val);
	return put_line(b, &l);
}
