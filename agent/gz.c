/*
 * gz — a gzip stream that compresses as it is read. See gz.h.
 *
 * zlib allocates through our hooks, so gz_memory() can tell what it holds
 * (the unit tests check that it does not grow with the input).
 */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "gz.h"

/* 15-bit window; +16 asks deflate for a gzip header and trailer instead of
 * zlib's. memLevel 8 is zlib's default: 256 KiB of state in all. */
#define GZ_WBITS (15 + 16)
#define GZ_MEMLEVEL 8

struct gz {
	z_stream zs;
	int ready;           /* deflateInit2 succeeded */
	int started;         /* gz_start() was called */
	int src_ended;       /* the source said 0 */
	int done;            /* the trailer is out */
	int dead;            /* an error: nothing more until gz_start() */
	gz_source src;
	void *arg;
	uint64_t in, out;    /* this stream's counts */
	size_t zmem;         /* bytes zlib holds through zalloc_cb */
	unsigned char buf[GZ_IN_CAP];
};

const char *
gz_strerror(gz_err e)
{
	switch (e) {
	case GZ_OK:
		return "success";
	case GZ_EINVAL:
		return "invalid argument";
	case GZ_ENOMEM:
		return "out of memory";
	case GZ_ESOURCE:
		return "the body's source failed";
	case GZ_EZLIB:
		return "zlib failed to compress";
	}
	return "unknown error";
}

/* Each block carries its size in front, so zfree_cb can count it back. */
typedef union zhdr {
	size_t n;
	max_align_t align;
} zhdr;

static voidpf
zalloc_cb(voidpf opaque, uInt items, uInt size)
{
	gz_t *z = opaque;
	size_t n = (size_t)items * size;
	zhdr *h;

	if (size != 0 && n / size != items)
		return Z_NULL;
	if ((h = malloc(sizeof(*h) + n)) == NULL)
		return Z_NULL;
	h->n = n;
	z->zmem += n;
	return h + 1;
}

static void
zfree_cb(voidpf opaque, voidpf p)
{
	gz_t *z = opaque;
	zhdr *h;

	if (p == NULL)
		return;
	h = (zhdr *)p - 1;
	z->zmem -= h->n;
	free(h);
}

gz_err
gz_new(int level, gz_t **out)
{
	gz_t *z;

	if (out == NULL)
		return GZ_EINVAL;
	*out = NULL;
	if (level != Z_DEFAULT_COMPRESSION && (level < 1 || level > 9))
		return GZ_EINVAL;
	if ((z = calloc(1, sizeof(*z))) == NULL)
		return GZ_ENOMEM;
	z->zs.zalloc = zalloc_cb;
	z->zs.zfree = zfree_cb;
	z->zs.opaque = z;
	switch (deflateInit2(&z->zs, level, Z_DEFLATED, GZ_WBITS, GZ_MEMLEVEL,
	    Z_DEFAULT_STRATEGY)) {
	case Z_OK:
		break;
	case Z_MEM_ERROR:
		free(z);
		return GZ_ENOMEM;
	default:
		free(z);
		return GZ_EZLIB;
	}
	z->ready = 1;
	*out = z;
	return GZ_OK;
}

void
gz_free(gz_t *z)
{
	if (z == NULL)
		return;
	if (z->ready)
		(void)deflateEnd(&z->zs);
	free(z);
}

gz_err
gz_start(gz_t *z, const char *head, size_t headlen, gz_source src,
    void *arg)
{
	if (z == NULL || src == NULL || headlen > GZ_IN_CAP ||
	    (head == NULL && headlen > 0))
		return GZ_EINVAL;
	/* deflateReset keeps the allocations: nothing to fail for memory. */
	if (deflateReset(&z->zs) != Z_OK) {
		z->dead = 1;
		return GZ_EZLIB;
	}
	z->started = 1;
	z->src_ended = z->done = z->dead = 0;
	z->src = src;
	z->arg = arg;
	z->in = headlen;
	z->out = 0;
	if (headlen > 0)
		memcpy(z->buf, head, headlen);
	z->zs.next_in = z->buf;
	z->zs.avail_in = (uInt)headlen;
	return GZ_OK;
}

gz_err
gz_read(gz_t *z, char *out, size_t cap, size_t *n)
{
	size_t got;
	uInt before_in, before_out;
	int rc;

	if (n != NULL)
		*n = 0;
	if (z == NULL || out == NULL || n == NULL || cap == 0 ||
	    !z->started)
		return GZ_EINVAL;
	if (z->dead)
		return GZ_EZLIB;
	if (z->done)
		return GZ_OK;
	/* uInt may be narrower than size_t; the caller comes back for more. */
	if (cap > (uInt)-1)
		cap = (uInt)-1;
	z->zs.next_out = (Bytef *)out;
	z->zs.avail_out = (uInt)cap;
	/*
	 * Deflate keeps what it has not yet written in its own window and
	 * buffers, so input is taken until there is output to hand back or
	 * the stream ends: a call never returns 0 bytes before the end, which
	 * a reader such as curl would take for the end of the body. It
	 * returns once GZ_OUT_MIN bytes are there rather than filling cap,
	 * so that the receiver starts on the first blocks while later ones
	 * are rendered (curl asks for 64 KiB, about 900 KiB of text).
	 */
	while (z->zs.avail_out > 0 &&
	    cap - z->zs.avail_out < GZ_OUT_MIN) {
		if (z->zs.avail_in == 0 && !z->src_ended) {
			got = z->src((char *)z->buf, GZ_IN_CAP, z->arg);
			if (got == (size_t)-1) {
				z->dead = 1;
				return GZ_ESOURCE;
			}
			if (got > GZ_IN_CAP) {
				/* A source that overran its buffer. */
				z->dead = 1;
				return GZ_EINVAL;
			}
			if (got == 0)
				z->src_ended = 1;
			z->in += got;
			z->zs.next_in = z->buf;
			z->zs.avail_in = (uInt)got;
		}
		before_in = z->zs.avail_in;
		before_out = z->zs.avail_out;
		rc = deflate(&z->zs, z->src_ended ? Z_FINISH : Z_NO_FLUSH);
		if (rc == Z_STREAM_END) {
			z->done = 1;
			break;
		}
		/* Z_BUF_ERROR is only "no progress possible", which cannot
		 * happen here (there is input, or Z_FINISH with room): if it
		 * does, stop rather than spin. */
		if ((rc != Z_OK && rc != Z_BUF_ERROR) ||
		    (rc == Z_BUF_ERROR && before_in == z->zs.avail_in &&
		    before_out == z->zs.avail_out)) {
			z->dead = 1;
			return GZ_EZLIB;
		}
	}
	*n = cap - z->zs.avail_out;
	z->out += *n;
	return GZ_OK;
}

void
gz_counts(const gz_t *z, uint64_t *in, uint64_t *out)
{
	if (in != NULL)
		*in = z != NULL ? z->in : 0;
	if (out != NULL)
		*out = z != NULL ? z->out : 0;
}

size_t
gz_memory(const gz_t *z)
{
	return z != NULL ? sizeof(*z) + z->zmem : 0;
}
