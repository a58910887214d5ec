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

const char *
render_strerror(dbuf_err e)
{
	switch (e) {
	case DBUF_OK:
		return "ok";
	case DBUF_ENOMEM:
		return "out of memory rendering";
	case DBUF_ETOOBIG:
		return "rendered body over its size limit";
	}
	return "unknown render error";
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

static dbuf_err
put_line(dbuf *b, const struct line *l)
{
	size_t need, parts;
	char *o, *start;

	parts = (l->elen > 0) + (l->llen > 0) + (l->le != NULL);
	need = l->nlen + l->slen + 1 + l->vlen + 1;
	if (parts > 0)
		need += 2 + (parts - 1) + l->elen + l->llen +
		    (l->le ? sizeof("le=\"\"") - 1 + l->lelen : 0);
	if ((o = start = dbuf_room(b, need)) == NULL)
		return b->err;
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
	dbuf_commit(b, (size_t)(o - start));
	return DBUF_OK;
}

/* "# KIND name text\n" as one line, so that it is written whole or not. */
static dbuf_err
put_meta(dbuf *b, const char *kind, const char *name, const char *text)
{
	size_t klen = strlen(kind), nlen = strlen(name), tlen = strlen(text);
	char *o, *start;

	if ((o = start = dbuf_room(b, klen + nlen + tlen + 2)) == NULL)
		return b->err;
	memcpy(o, kind, klen);
	o += klen;
	memcpy(o, name, nlen);
	o += nlen;
	*o++ = ' ';
	memcpy(o, text, tlen);
	o += tlen;
	*o++ = '\n';
	dbuf_commit(b, (size_t)(o - start));
	return DBUF_OK;
}

dbuf_err
render_family(dbuf *b, const spool_family *f)
{
	const char *type = f->type ? f->type : "untyped";
	dbuf_err e;

	if (f->help != NULL &&
	    (e = put_meta(b, "# HELP ", f->name, f->help)) != DBUF_OK)
		return e;
	if (f->typed || strcmp(type, "untyped") != 0)
		return put_meta(b, "# TYPE ", f->name, type);
	return b->err;
}

int
render_hist_each(const spool_sample *x,
    int (*fn)(const render_hist_line *l, void *arg), void *arg)
{
	const spool_hist *h = x->hist;
	char le[EXPO_VALUE_BUF], val[EXPO_VALUE_BUF];
	render_hist_line l;
	uint64_t cum = 0;
	int r;

	/* The text is the value as render writes it; each buffer holds
	 * EXPO_VALUE_BUF bytes, room for the NUL after the longest value. */
	l.suffix = "_bucket";
	l.slen = sizeof("_bucket") - 1;
	l.le = le;
	l.text = val;
	for (size_t i = 0; i < h->n; i++) {
		cum += h->counts[i];
		l.lelen = fmt_value(h->bounds[i], le);
		le[l.lelen] = '\0';
		l.value = (double)cum;
		l.tlen = fmt_u64(cum, val);
		val[l.tlen] = '\0';
		if ((r = fn(&l, arg)) != 0)
			return r;
	}
	cum += h->counts[h->n];
	l.le = "+Inf";
	l.lelen = 4;
	l.value = (double)cum;
	l.tlen = fmt_u64(cum, val);
	val[l.tlen] = '\0';
	if ((r = fn(&l, arg)) != 0)
		return r;
	l.suffix = "_sum";
	l.slen = 4;
	l.le = NULL;
	l.lelen = 0;
	l.value = h->sum;
	l.tlen = fmt_value(h->sum, val);
	val[l.tlen] = '\0';
	if ((r = fn(&l, arg)) != 0)
		return r;
	l.suffix = "_count";
	l.slen = 6;
	l.value = (double)cum;
	l.tlen = fmt_u64(cum, val);
	val[l.tlen] = '\0';
	return fn(&l, arg);
}

/* A histogram's line for render_hist_each: the sample's line with the
 * expansion's suffix, le and value put in. */
typedef struct hist_out {
	dbuf *b;
	struct line *l;
} hist_out;

static int
hist_line(const render_hist_line *h, void *arg)
{
	hist_out *o = arg;

	o->l->suffix = h->suffix;
	o->l->slen = h->slen;
	o->l->le = h->le;
	o->l->lelen = h->lelen;
	o->l->val = h->text;
	o->l->vlen = h->tlen;
	return put_line(o->b, o->l) != DBUF_OK;
}

dbuf_err
render_sample(dbuf *b, const spool_sample *x, const char *extra)
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
	if (x->hist != NULL) {
		hist_out o = { b, &l };
		size_t mark = b->len;

		/* On an error the buffer goes back to where the histogram
		 * began, so that no series is left half written. */
		if (render_hist_each(x, hist_line, &o) != 0)
			dbuf_setlen(b, mark);
		return b->err;
	}
	l.val = val;
	l.vlen = fmt_value(x->value, val);
	return put_line(b, &l);
}
