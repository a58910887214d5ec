/*
 * gz — a gzip stream (RFC 1952, zlib's deflate) that compresses as it is
 * read: the reader pulls compressed bytes with gz_read(), and gz pulls the
 * plain bytes it needs from a source callback, at most GZ_IN_CAP at a time.
 * So a body of any size is compressed in bounded memory: zlib's deflate
 * state (about 256 KiB at the window and memLevel used here) plus one input
 * buffer, whatever the length of the input (gz_memory() says how much).
 *
 * One gz_t is reused for many streams (gz_start() resets it); it is not
 * thread-safe.
 */
#ifndef GZ_H
#define GZ_H

#include <stddef.h>
#include <stdint.h>

typedef enum gz_err {
	GZ_OK = 0,
	GZ_EINVAL,   /* a bad argument, or gz_read() before gz_start() */
	GZ_ENOMEM,
	GZ_ESOURCE,  /* the source aborted (it knows why) */
	GZ_EZLIB     /* zlib failed: a bug, or a corrupt state */
} gz_err;

const char *gz_strerror(gz_err e);

/* The most the source is asked for at once, and the input buffer's size. */
#define GZ_IN_CAP 16384u
/* gz_read() returns once it has this many bytes (or cap, or the end). */
#define GZ_OUT_MIN 4096u

/*
 * The plain bytes: writes up to cap bytes into buf and returns how many, 0
 * at the end, or (size_t)-1 to abort (gz_read() then fails with
 * GZ_ESOURCE). The same contract as push_source.
 */
typedef size_t (*gz_source)(char *buf, size_t cap, void *arg);

typedef struct gz gz_t;

/*
 * A compressor at level (zlib's 1..9, or -1 for its default, 6). Allocates
 * zlib's state now, so that no later call can run out of memory.
 * On success *out is the caller's, freed with gz_free().
 */
gz_err gz_new(int level, gz_t **out) __attribute__((warn_unused_result));

/* NULL is a no-op. */
void gz_free(gz_t *z);

/*
 * Starts a new stream over src. The headlen bytes at head (at most
 * GZ_IN_CAP; copied, so the caller may reuse them) come first, as if src
 * had given them: a caller that looked at the start of the input to decide
 * whether to compress it at all hands it back here.
 */
gz_err gz_start(gz_t *z, const char *head, size_t headlen, gz_source src,
    void *arg) __attribute__((warn_unused_result));

/*
 * Writes up to cap (> 0) compressed bytes into out and sets *n: at least
 * the lesser of cap and GZ_OUT_MIN, except for the stream's last bytes.
 * *n is 0 only at the end of the stream (after the gzip trailer), and
 * stays 0 on later calls. On an error *n is 0 and the stream is dead until the next
 * gz_start().
 */
gz_err gz_read(gz_t *z, char *out, size_t cap, size_t *n)
    __attribute__((warn_unused_result));

/* Bytes taken from head and the source, and bytes written out, in the
 * current stream. */
void gz_counts(const gz_t *z, uint64_t *in, uint64_t *out);

/* Bytes the compressor holds now: zlib's allocations and its buffer. */
size_t gz_memory(const gz_t *z);

#endif
