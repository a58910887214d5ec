/*
 * Shared by the HTTP tests (test_http.c, test_push.c): a scripted HTTP
 * server in a thread that answers requests in order with fixed responses
 * and keeps what it received, and small helpers around it.
 */
#ifndef FAKEHTTP_H
#define FAKEHTTP_H

#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h"

static inline double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A default http_conf for url; fields the caller changes are its own. */
static inline http_conf
http_for(const char *url)
{
	http_conf h;

	memset(&h, 0, sizeof(h));
	h.url = (char *)(uintptr_t)url;
	h.timeout = 5;
	return h;
}

/* Every setting a client takes, for url (none of them reached): basic
 * auth, a CA file that does not exist, no verification, one header, a
 * short timeout. */
static inline http_conf
http_for_all(const char *url)
{
	static char *hdr[1] = { (char *)(uintptr_t)"X-Team: payments" };
	http_conf h = http_for(url);

	h.username = (char *)(uintptr_t)"pusher";
	h.password = (char *)(uintptr_t)"pw";
	h.ca_file = (char *)(uintptr_t)"/nonexistent/ca.pem";
	h.insecure_skip_verify = 1;
	h.headers = hdr;
	h.n_headers = 1;
	h.timeout = 0.5;
	return h;
}

/* The settings for the scripted server on port, base URL /pgw (written
 * into url): h, when given, with its URL set; else the defaults, in *d. */
static inline http_conf *
fake_conf(int port, http_conf *h, http_conf *d, char url[64])
{
	snprintf(url, 64, "http://127.0.0.1:%d/pgw", port);
	if (h == NULL) {
		*d = http_for(url);
		return d;
	}
	h->url = url;
	return h;
}

/* A listening socket on 127.0.0.1 with a port the kernel picked. */
static inline int
listen_any(int *port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A port that nothing listens on (bound, then closed). */
static inline int
free_port(void)
{
	int port, fd = listen_any(&port);

	close(fd);
	return port;
}

/* --- a scripted server ---------------------------------------------------- */

#define FAKE_MAX 12

/*
 * Answers requests in order with fixed responses and keeps what it
 * received, to check what the client sends and how it reads answers. A
 * connection stays open unless the response says "Connection: close", so
 * conns counts how often the client connected. A NULL response reads the
 * request and never answers (until the client hangs up).
 */
typedef struct fake {
	int fd, port;
	pthread_t th;
	const char *resp[FAKE_MAX];
	int nresp;
	int conns;
	char *req[FAKE_MAX];    /* head and body, NUL-terminated */
	size_t reqlen[FAKE_MAX];
	size_t head[FAKE_MAX];  /* length of the head, blank line included */
	int chunked[FAKE_MAX];  /* the body came chunked (req holds it
	                         * decoded) */
} fake;

/* Walks a chunked body (b, n bytes): 1 once the last chunk and the final
 * CRLF are there, 0 while more is to come. */
static inline int
dechunk(const char *b, size_t n)
{
	size_t i = 0;

	for (;;) {
		unsigned long size;
		const char *crlf = memmem(b + i, n - i, "\r\n", 2);

		if (crlf == NULL)
			return 0;
		size = strtoul(b + i, NULL, 16);
		i = (size_t)(crlf - b) + 2;
		if (size == 0)
			return n - i >= 2;
		if (n - i < size + 2)
			return 0;
		i += size + 2;
	}
}

/* Decodes in place, once dechunk() said that the body is whole. */
static inline size_t
dechunk_copy(char *b, size_t n)
{
	size_t i = 0, o = 0;

	for (;;) {
		unsigned long size = strtoul(b + i, NULL, 16);
		const char *crlf = memmem(b + i, n - i, "\r\n", 2);

		i = (size_t)(crlf - b) + 2;
		if (size == 0)
			return o;
		memmove(b + o, b + i, size);
		o += size;
		i += size + 2;
	}
}

/* Reads one request from c into f->req[i]; 0 when the peer closed first. */
static inline int
fake_read(fake *f, int c, int i)
{
	char buf[65536];
	size_t cap = 0, clen = 0, len = 0, head = 0;
	char *r = NULL;
	ssize_t n;
	int chunked = 0;

	while (head == 0 || (chunked ? !dechunk(r + head, len - head) :
	    len < head + clen)) {
		if ((n = read(c, buf, sizeof(buf))) <= 0)
			break;
		if (len + (size_t)n + 1 > cap) {
			while (len + (size_t)n + 1 > cap)
				cap = cap ? cap * 2 : 65536;
			if ((r = realloc(r, cap)) == NULL)
				abort();
		}
		memcpy(r + len, buf, (size_t)n);
		len += (size_t)n;
		r[len] = '\0';
		if (head == 0) {
			char *e = strstr(r, "\r\n\r\n");
			char *cl;

			if (e == NULL)
				continue;
			head = (size_t)(e - r) + 4;
			cl = strcasestr(r, "\r\nContent-Length:");
			if (cl != NULL && cl < e)
				clen = strtoul(cl + 17, NULL, 10);
			cl = strcasestr(r, "\r\nTransfer-Encoding: chunked");
			chunked = cl != NULL && cl < e;
		}
	}
	if (chunked && head > 0) {
		len = head + dechunk_copy(r + head, len - head);
		r[len] = '\0';
	}
	f->chunked[i] = chunked;
	if (len == 0) {
		free(r);
		return 0;
	}
	f->req[i] = r;
	f->reqlen[i] = len;
	f->head[i] = head;
	return 1;
}

static inline void *
fake_run(void *arg)
{
	fake *f = arg;
	char buf[4096];
	int c = -1;

	for (int i = 0; i < f->nresp; i++) {
		if (c < 0) {
			if ((c = accept(f->fd, NULL, NULL)) < 0)
				return NULL;
			f->conns++;
		}
		if (!fake_read(f, c, i)) {
			/* The client closed a kept connection: a new one. */
			close(c);
			c = -1;
			i--;
			continue;
		}
		if (f->resp[i] == NULL) {
			while (read(c, buf, sizeof(buf)) > 0)
				;
			close(c);
			c = -1;
			continue;
		}
		if (write(c, f->resp[i], strlen(f->resp[i])) < 0)
			perror("fake: write");
		if (strstr(f->resp[i], "Connection: close") != NULL) {
			close(c);
			c = -1;
		}
	}
	if (c >= 0) {
		/* Wait for the client to hang up (http_free). */
		while (read(c, buf, sizeof(buf)) > 0)
			;
		close(c);
	}
	return NULL;
}

/* Starts the server with n responses (NULL for "hang"). */
static inline void
fake_start(fake *f, int n, const char *const *resp)
{
	memset(f, 0, sizeof(*f));
	assert_true(n <= FAKE_MAX);
	f->fd = listen_any(&f->port);
	for (int i = 0; i < n; i++)
		f->resp[i] = resp[i];
	f->nresp = n;
	assert_int_equal(pthread_create(&f->th, NULL, fake_run, f), 0);
}

/* Waits for the server to finish: the client must have closed by now. */
static inline void
fake_join(fake *f)
{
	pthread_join(f->th, NULL);
	close(f->fd);
}

static inline void
fake_free(fake *f)
{
	for (int i = 0; i < FAKE_MAX; i++)
		free(f->req[i]);
}

/* Request i's header line "Name: value" for name, or NULL. */
static inline const char *
req_header(const fake *f, int i, const char *name, char *out, size_t cap)
{
	char pat[128];
	const char *h, *e;

	snprintf(pat, sizeof(pat), "\r\n%s:", name);
	h = strcasestr(f->req[i], pat);
	if (h == NULL || (size_t)(h - f->req[i]) >= f->head[i])
		return NULL;
	h += 2;
	e = strstr(h, "\r\n");
	snprintf(out, cap, "%.*s", (int)(e - h), h);
	return out;
}

static inline int
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Request i's body is the len bytes of want. */
static inline void
body_is(const fake *f, int i, const char *want, size_t len)
{
	assert_int_equal(f->reqlen[i] - f->head[i], len);
	assert_memory_equal(f->req[i] + f->head[i], want, len);
}

#define R200 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
#define R202 "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"

#endif
