/* notify — the systemd notification protocol. See notify.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "notify.h"

static struct sockaddr_un addr;
static socklen_t addrlen;
static int fd = -1;
static double wd_interval;   /* seconds; 0 none */
static double wd_next;       /* monotonic */

void
notify_init(void)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	size_t n;

	/* Called again, it starts over from the environment of now. */
	if (fd >= 0)
		close(fd);
	fd = -1;
	addrlen = 0;
	wd_interval = 0;
	wd_next = 0;
	if (sock == NULL || sock[0] == '\0')
		return;
	n = strlen(sock);
	/* Only local sockets: a path, or '@' for the abstract namespace. */
	if ((sock[0] != '/' && sock[0] != '@') || n >= sizeof(addr.sun_path)) {
		log_warnx("NOTIFY_SOCKET is not a socket path; not notifying "
		    "systemd", "NOTIFY_SOCKET=%s", log_q(sock));
		return;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, sock, n);
	if (sock[0] == '@')
		addr.sun_path[0] = '\0';
	addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("cannot create the systemd notification socket", NULL);
		return;
	}
	if (usec != NULL && (pid == NULL || strtol(pid, NULL, 10) == getpid())) {
		char *end;
		unsigned long long u = strtoull(usec, &end, 10);
		if (*end == '\0' && u > 0)
			wd_interval = (double)u / 2e6;
	}
}

int
notify_send(const char *msg)
{
	ssize_t n;

	if (fd < 0)
		return 0;
	n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL,
	    (const struct sockaddr *)&addr, addrlen);
	if (n < 0) {
		log_warn("cannot notify systemd", "message=%s", log_q(msg));
		return -1;
	}
	return 0;
}

void
notify_alive(void)
{
	double now;

	if (fd < 0 || wd_interval <= 0)
		return;
	now = clock_mono();
	if (now < wd_next)
		return;
	wd_next = now + wd_interval;
	notify_send("WATCHDOG=1");
}

double
notify_watchdog_interval(void)
{
	return fd < 0 ? 0 : wd_interval;
}
