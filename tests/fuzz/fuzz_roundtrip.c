/* libFuzzer target: the render → parse round trip, parse(render(x)) == x.
 *
 * The input describes one family and one sample as the spool hands them to
 * the renderer: a metric name, pull mode's extra labels and the sample's
 * own (canonical: sorted, values escaped), a value from 8 raw bytes (every
 * NaN, the infinities, subnormals, -0) or an observed histogram, a TYPE
 * and HELP text. The rendered body is parsed back line by line and must
 * give the same names, the same labels in the same order with the same
 * escaped bytes, the same values bit for bit (any NaN reads as NaN), the
 * HELP and TYPE as given, and for a histogram cumulative buckets ending in
 * le="+Inf", then _sum and _count. A second render into a buffer with a
 * small cap must hold a prefix of whole lines and never half a histogram.
 *
 * Input layout (a byte past the end reads as 0):
 *   flags                 bit 0 histogram, 1 HELP, 2 typed, 3-5 type,
 *                         6 extra labels, 7 long name
 *   name length           1 byte (long name: 2 bytes), then the name bytes
 *   label count, extra    1 byte each
 *   per label             name length + bytes, value length + bytes
 *   value                 8 bytes; or, for a histogram: bound count,
 *                         8 bytes per bound, 8 per count, 8 for the sum
 *   cap                   2 bytes
 *   HELP text             the rest of the input
 * Names are mapped onto their character sets; values and HELP text keep
 * their valid UTF-8 and drop the rest (and CR and NUL, which no line in
 * the spool can hold); HELP text drops its leading blanks, which no HELP
 * text in the spool has.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spool-agent.h"
#include "expo.h"
#include "render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_BOUNDS  64
#define MAX_VALUE   255
/* HELP text, raw: escaped, it stays well within one line's limit. */
#define MAX_TEXT    16384
/* Room for the suffix "_bucket" within the parser's name limit. */
#define MAX_NAME    (EXPO_MAX_NAME - 7)

typedef struct src {
	const uint8_t *p;
	size_t n;
} src;

static uint8_t
get_u8(src *s)
{
	uint8_t b;

	if (s->n == 0)
		return 0;
	b = *s->p++;
	s->n--;
	return b;
}

static uint64_t
get_u64(src *s)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | get_u8(s);
	return v;
}

static double
get_double(src *s)
{
	uint64_t u = get_u64(s);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static int
same_double(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static const char metric_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_:0123456789";
static const char label_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789";

/* A byte onto a name character: kept when it is one already, so that
 * seeds read as names. The first character has no digits (nor ':' in a
 * label name); the sets list those last. */
static char
name_char(uint8_t b, const char *set, size_t setlen)
{
	if (memchr(set, b, setlen) != NULL && b != '\0')
		return (char)b;
	return set[b % setlen];
}

static void
get_name(src *s, char *out, size_t len, int metric)
{
	const char *set = metric ? metric_chars : label_chars;
	size_t all = strlen(set), first = all - 10;

	for (size_t i = 0; i < len; i++)
		out[i] = name_char(get_u8(s), set, i == 0 ? first : all);
	out[len] = '\0';
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629, table 3-7 of
 * Unicode), or 0. Written apart from expo_valid_utf8 on purpose. */
static size_t
utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (len > n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if (p[k] < 0x80 || p[k] > 0xbf)
			return 0;
	return len;
}

/*
 * Takes len raw bytes and writes their escaped, valid UTF-8 form into out
 * (room for 2 * len + 1): `\` `\\`, newline `\n`, and in label values `"`
 * `\"`. Returns the escaped length.
 */
static size_t
get_text(src *s, size_t len, char *out, int quote)
{
	static uint8_t raw[MAX_TEXT];
	size_t k = 0;

	if (len > s->n)
		len = s->n;
	if (len > sizeof(raw))
		len = sizeof(raw);
	memcpy(raw, s->p, len);
	s->p += len;
	s->n -= len;
	for (size_t i = 0; i < len;) {
		size_t q = utf8_seq(raw + i, len - i);
		if (q == 0 || raw[i] == '\0' || raw[i] == '\r') {
			i++;
			continue;
		}
		if (raw[i] == '\\' || raw[i] == '\n' || (quote && raw[i] == '"')) {
			out[k++] = '\\';
			out[k++] = raw[i] == '\n' ? 'n' : (char)raw[i];
		} else {
			memcpy(out + k, raw + i, q);
			k += q;
		}
		i += q;
	}
	out[k] = '\0';
	return k;
}

typedef struct label {
	char name[64];
	char value[2 * MAX_VALUE + 1];
	size_t vlen;
} label;

static label labels[EXPO_MAX_LABELS];
static expo_line line;

static int
label_cmp(const void *a, const void *b)
{
	return strcmp(((const label *)a)->name, ((const label *)b)->name);
}

/* `k="v",k2="v2"` for labels[from, to): the spool's canonical form. */
static char *
join(size_t from, size_t to)
{
	size_t len = 1;
	char *out, *o;

	for (size_t i = from; i < to; i++)
		len += strlen(labels[i].name) + labels[i].vlen + 4;
	if ((o = out = malloc(len)) == NULL)
		abort();
	for (size_t i = from; i < to; i++) {
		size_t nl = strlen(labels[i].name);
		if (i > from)
			*o++ = ',';
		memcpy(o, labels[i].name, nl);
		o += nl;
		*o++ = '=';
		*o++ = '"';
		memcpy(o, labels[i].value, labels[i].vlen);
		o += labels[i].vlen;
		*o++ = '"';
	}
	*o = '\0';
	return out;
}

static int
str_is(expo_str s, const char *p, size_t len)
{
	return s.len == len && (len == 0 || memcmp(s.p, p, len) == 0);
}

/* The next line of the body into *l and *llen; aborts if there is none. */
static void
next_line(const dbuf *b, size_t *pos, const char **l, size_t *llen)
{
	const char *nl;

	if (*pos >= b->len)
		abort();
	*l = b->p + *pos;
	nl = memchr(*l, '\n', b->len - *pos);
	if (nl == NULL)
		abort(); /* every line ends with a newline */
	*llen = (size_t)(nl - *l);
	*pos += *llen + 1;
}

/* Parses the next line as a sample of name+suffix with labels[0, nl)
 * and, when le is not NULL, le last; returns its value. */
static double
expect_sample(const dbuf *b, size_t *pos, const char *name,
    const char *suffix, size_t nl, const char *le, size_t lelen)
{
	const char *l, *why = NULL;
	size_t llen, nlen = strlen(name), slen = strlen(suffix);

	next_line(b, pos, &l, &llen);
	if (expo_parse_line(l, llen, &line, &why) != 0 ||
	    line.kind != EXPO_SAMPLE)
		abort();
	if (line.name.len != nlen + slen ||
	    memcmp(line.name.p, name, nlen) != 0 ||
	    memcmp(line.name.p + nlen, suffix, slen) != 0)
		abort();
	if (line.nlabels != nl + (le != NULL))
		abort();
	for (size_t i = 0; i < nl; i++) {
		if (!str_is(line.labels[i].name, labels[i].name,
		    strlen(labels[i].name)) ||
		    !str_is(line.labels[i].value, labels[i].value,
		    labels[i].vlen))
			abort();
	}
	if (le != NULL && (!str_is(line.labels[nl].name, "le", 2) ||
	    !str_is(line.labels[nl].value, le, lelen)))
		abort();
	return line.value;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	src s = { data, size };
	uint8_t flags = get_u8(&s);
	int is_hist = flags & 1, has_help = (flags >> 1) & 1;
	int typed = (flags >> 2) & 1, has_extra = (flags >> 6) & 1;
	static const char *const types[] = { "untyped", "counter", "gauge",
	    "histogram", "summary" };
	const char *type = types[((flags >> 3) & 7) % 5];
	static char name[MAX_NAME + 1], help[2 * MAX_TEXT + 1];
	static double bounds[MAX_BOUNDS];
	static uint64_t counts[MAX_BOUNDS + 1];
	size_t nlen, nlabels, nextra = 0, hlen = 0, pos = 0, cap, full;
	char *extra = NULL, *own = NULL;
	spool_family f;
	spool_sample x;
	spool_hist h;
	dbuf b, small;
	const char *l, *why = NULL;
	size_t llen;

	/* The name: short, or (bit 7) up to the parser's limit. */
	if (flags & 0x80)
		nlen = (((size_t)get_u8(&s) << 8) | get_u8(&s)) % MAX_NAME + 1;
	else
		nlen = get_u8(&s) % 32 + 1;
	get_name(&s, name, nlen, 1);
	if (!expo_valid_metric_name(name, nlen))
		abort();

	/* Labels: the histogram's le takes one of the parser's 64. */
	nlabels = get_u8(&s) % (EXPO_MAX_LABELS + 1);
	if (is_hist && nlabels == EXPO_MAX_LABELS)
		nlabels--;
	if (has_extra)
		nextra = get_u8(&s) % (nlabels + 1);
	for (size_t i = 0; i < nlabels; i++) {
		size_t len = get_u8(&s) % (sizeof(labels[i].name) - 1) + 1;
		get_name(&s, labels[i].name, len, 0);
		/* Reserved names, and le on a histogram, are not stored. */
		if ((len >= 2 && labels[i].name[0] == '_' &&
		    labels[i].name[1] == '_') ||
		    (is_hist && strcmp(labels[i].name, "le") == 0))
			return 0;
		for (size_t k = 0; k < i; k++)
			if (strcmp(labels[k].name, labels[i].name) == 0)
				return 0;
		labels[i].vlen = get_text(&s, get_u8(&s), labels[i].value, 1);
	}
	/* Each list canonical on its own: extra first, then the sample's. */
	qsort(labels, nextra, sizeof(label), label_cmp);
	qsort(labels + nextra, nlabels - nextra, sizeof(label), label_cmp);
	extra = join(0, nextra);
	own = join(nextra, nlabels);

	memset(&x, 0, sizeof(x));
	x.name = name;
	x.labels = own;
	if (is_hist) {
		size_t n = get_u8(&s) % (MAX_BOUNDS + 1), k = 0;
		/* Strictly increasing finite bounds: drop what is not. */
		for (size_t i = 0; i < n; i++) {
			double v = get_double(&s);
			if (isfinite(v) && (k == 0 || v > bounds[k - 1]))
				bounds[k++] = v;
		}
		/* No count can make the total wrap. */
		for (size_t i = 0; i <= k; i++)
			counts[i] = get_u64(&s) % (UINT64_MAX / (k + 1));
		h.n = k;
		h.bounds = bounds;
		h.counts = counts;
		h.sum = get_double(&s);
		x.hist = &h;
		x.value = NAN;
		type = "histogram";
	} else
		x.value = get_double(&s);
	cap = ((size_t)get_u8(&s) << 8) | get_u8(&s);
	if (has_help) {
		size_t lead = 0;
		hlen = get_text(&s, s.n, help, 0);
		/* Blanks between a HELP line's name and its text separate
		 * them (as the Pushgateway reads it): a text that starts
		 * with one cannot come back, and the spool never holds one. */
		while (lead < hlen && (help[lead] == ' ' || help[lead] == '\t'))
			lead++;
		memmove(help, help + lead, hlen - lead + 1);
		hlen -= lead;
	}

	f.name = name;
	f.type = type;
	f.typed = typed;
	f.help = has_help ? help : NULL;

	dbuf_init(&b, 16u << 20);
	if (render_family(&b, &f) != DBUF_OK ||
	    render_sample(&b, &x, extra) != DBUF_OK)
		abort();

	if (has_help) {
		next_line(&b, &pos, &l, &llen);
		if (expo_parse_line(l, llen, &line, &why) != 0 ||
		    line.kind != EXPO_HELP || !str_is(line.name, name, nlen) ||
		    !str_is(line.help, help, hlen))
			abort();
	}
	if (typed || strcmp(type, "untyped") != 0) {
		next_line(&b, &pos, &l, &llen);
		if (expo_parse_line(l, llen, &line, &why) != 0 ||
		    line.kind != EXPO_TYPE || !str_is(line.name, name, nlen) ||
		    strcmp(expo_type_name(line.type), type) != 0)
			abort();
	}
	full = pos; /* the family's lines */
	if (is_hist) {
		char le[EXPO_VALUE_BUF];
		uint64_t cum = 0;
		for (size_t i = 0; i < h.n; i++) {
			double back;
			size_t n = expo_format_value(h.bounds[i], le);
			cum += h.counts[i];
			if (expect_sample(&b, &pos, name, "_bucket", nlabels, le,
			    n) != (double)cum)
				abort();
			/* The le text itself reads back as the bound. */
			if (expo_parse_value(line.labels[nlabels].value.p,
			    line.labels[nlabels].value.len, &back) != 0 ||
			    !same_double(back, h.bounds[i]))
				abort();
		}
		cum += h.counts[h.n];
		if (expect_sample(&b, &pos, name, "_bucket", nlabels, "+Inf",
		    4) != (double)cum)
			abort();
		if (!same_double(expect_sample(&b, &pos, name, "_sum", nlabels,
		    NULL, 0), h.sum))
			abort();
		if (expect_sample(&b, &pos, name, "_count", nlabels, NULL,
		    0) != (double)cum)
			abort();
	} else if (!same_double(expect_sample(&b, &pos, name, "", nlabels,
	    NULL, 0), x.value))
		abort();
	if (pos != b.len)
		abort(); /* nothing after the last expected line */

	/* A small cap: whole lines or nothing, the histogram all or none. */
	dbuf_init(&small, cap % (b.len + 1));
	(void)render_family(&small, &f);
	(void)render_sample(&small, &x, extra);
	if (small.len > b.len || (small.len > 0 &&
	    memcmp(small.p, b.p, small.len) != 0) ||
	    (small.len > 0 && small.p[small.len - 1] != '\n'))
		abort();
	if (small.err == DBUF_OK ? small.len != b.len :
	    (small.err != DBUF_ETOOBIG || (is_hist && small.len > full)))
		abort();
	dbuf_free(&small);

	dbuf_free(&b);
	free(extra);
	free(own);
	return 0;
}
