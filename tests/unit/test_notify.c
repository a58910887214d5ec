/* notify: the systemd notification protocol, received on datagram sockets
 * this program binds (a path, and an abstract '@name'): the messages, the
 * watchdog interval and its pings, WATCHDOG_PID, and the no-op without
 * NOTIFY_SOCKET.
 *
 * notify.c keeps its state in statics and notify_init() is meant to run
 * once, so the tests below run in the order main() lists them, each
 * calling notify_init() for its case; the no-op cases come first, as
 * they must see a notifier that never had a socket. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>

#include "log.h"
#include "notify.h"


/*
 * The watchdog's clock. notify.c reads CLOCK_MONOTONIC through
 * clock_gettime(); defining it here (the program's definition comes before
 * libc's) lets a test stop time, so that "an immediate second call" is
 * immediate whatever the machine's load, and half a second can pass
 * without sleeping. The program has one thread.
 */
static int frozen;
static long long frozen_ns;

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	if (id == CLOCK_MONOTONIC && frozen) {
		ts->tv_sec = (time_t)(frozen_ns / 1000000000);
		ts->tv_nsec = (long)(frozen_ns % 1000000000);
		return 0;
	}
	return (int)syscall(SYS_clock_gettime, id, ts);
}

static void
freeze(void)
{
	struct timespec ts;

	frozen = 0;
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	frozen_ns = (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
	frozen = 1;
}

/* --- receiving ----------------------------------------------------------- */

static char *dir;

/* A datagram socket bound to path ('@' first: abstract), non-blocking. */
static int
bind_dgram(const char *path)
{
	struct sockaddr_un a;
	size_t n = strlen(path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	assert_true(n < sizeof(a.sun_path));
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, path, n);
	if (path[0] == '@')
		a.sun_path[0] = '\0';
	if (bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct
	    sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1))) != 0)
		fail_msg("bind %s: %s", path, strerror(errno));
	return fd;
}

/* The next datagram, which must be there, must equal want. */
static void
recv_is(int fd, const char *want)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n < 0)
		fail_msg("nothing received (wanted \"%s\"): %s", want,
		    strerror(errno));
	buf[n] = '\0';
	assert_int_equal((size_t)n, strlen(want));
	assert_string_equal(buf, want);
}

/* Nothing waits on fd. */
static void
recv_none(int fd)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n >= 0)
		fail_msg("received \"%.*s\"", (int)n, buf);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The number of open file descriptors (the directory's own included,
 * the same each time). */
static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	for (int i = 0; i < 100000 && (e = readdir(d)) != NULL; i++)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
env(const char *sock, const char *usec, const char *pid)
{
	if (sock)
		assert_int_equal(setenv("NOTIFY_SOCKET", sock, 1), 0);
	else
		assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
	if (usec)
		assert_int_equal(setenv("WATCHDOG_USEC", usec, 1), 0);
	else
		assert_int_equal(unsetenv("WATCHDOG_USEC"), 0);
	if (pid)
		assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	else
		assert_int_equal(unsetenv("WATCHDOG_PID"), 0);
}

/* --- the cases, in order --------------------------------------------------- */

/* Before notify_init(), and after it without a usable NOTIFY_SOCKET,
 * every call does nothing and succeeds; no socket is opened. */
static void
test_no_socket(void **state)
{
	static const char *const socks[] = { NULL, "", "relative/path",
	    "notify" };
	char longp[200];
	int fds = open_fds();

	(void)state;
	assert_int_equal(notify_send("READY=1"), 0);
	notify_alive();
	assert_true(notify_watchdog_interval() == 0);
	for (size_t i = 0; i < sizeof(socks) / sizeof(socks[0]); i++) {
		env(socks[i], "2000000", NULL);
		notify_init();
		assert_int_equal(notify_send("READY=1"), 0);
		assert_int_equal(notify_send("STOPPING=1"), 0);
		notify_alive();
		notify_alive();
		assert_true(notify_watchdog_interval() == 0);
	}
	/* Longer than sun_path holds. */
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	env(longp, "2000000", NULL);
	notify_init();
	assert_int_equal(notify_send("READY=1"), 0);
	assert_true(notify_watchdog_interval() == 0);
	assert_int_equal(open_fds(), fds);
}

/* A socket path, and a watchdog meant for another process: messages go,
 * the watchdog does not. */
static void
test_path_other_pid(void **state)
{
	char *path = tu_path(dir, "notify.sock");
	char pid[32];
	int rx, fds;

	(void)state;
	rx = bind_dgram(path);
	snprintf(pid, sizeof(pid), "%ld", (long)getppid());
	assert_true(getppid() != getpid());
	env(path, "2000000", pid);
	fds = open_fds();
	notify_init();
	/* The notifier's own socket. */
	assert_int_equal(open_fds(), fds + 1);
	assert_true(notify_watchdog_interval() == 0);
	assert_int_equal(notify_send("READY=1"), 0);
	recv_is(rx, "READY=1");
	recv_none(rx);
	assert_int_equal(notify_send("RELOADING=1\nMONOTONIC_USEC=123"), 0);
	recv_is(rx, "RELOADING=1\nMONOTONIC_USEC=123");
	assert_int_equal(notify_send("STATUS=a \"quoted\" status"), 0);
	recv_is(rx, "STATUS=a \"quoted\" status");
	freeze();
	notify_alive();
	notify_alive();
	recv_none(rx);
	frozen = 0;
	/* The receiver gone: the send fails, with errno. */
	close(rx);
	assert_int_equal(unlink(path), 0);
	errno = 0;
	assert_int_equal(notify_send("READY=1"), -1);
	assert_true(errno == ENOENT || errno == ECONNREFUSED);
	free(path);
}

/* An abstract socket, and a watchdog for us: WATCHDOG_USEC/2 between
 * pings, the first at once. */
static void
test_abstract_watchdog(void **state)
{
	char name[64];
	int rx;

	(void)state;
	snprintf(name, sizeof(name), "@collector-agent-test-notify-%ld",
	    (long)getpid());
	rx = bind_dgram(name);
	env(name, "2000000", NULL);
	notify_init();
	assert_true(notify_watchdog_interval() == 1.0);
	assert_int_equal(notify_send("READY=1"), 0);
	recv_is(rx, "READY=1");
	freeze();
	notify_alive();
	recv_is(rx, "WATCHDOG=1");
	notify_alive();
	recv_none(rx);
	/* Half the interval: still nothing; past it: the next ping. */
	frozen_ns += 500000000;
	notify_alive();
	recv_none(rx);
	frozen_ns += 600000000;
	notify_alive();
	recv_is(rx, "WATCHDOG=1");
	notify_alive();
	recv_none(rx);
	/* Late by many intervals: one ping, not one per interval missed. */
	frozen_ns += 10LL * 1000000000;
	notify_alive();
	recv_is(rx, "WATCHDOG=1");
	recv_none(rx);
	frozen = 0;
	close(rx);
}

/* WATCHDOG_PID naming this process counts as ours; the interval is half
 * of WATCHDOG_USEC. */
static void
test_watchdog_pid_ours(void **state)
{
	char *path = tu_path(dir, "notify2.sock");
	char pid[32];
	int rx;

	(void)state;
	rx = bind_dgram(path);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	env(path, "500000", pid);
	notify_init();
	assert_true(notify_watchdog_interval() == 0.25);
	assert_int_equal(notify_send("READY=1"), 0);
	recv_is(rx, "READY=1");
	close(rx);
	free(path);
}

/*
 * notify_init() called again starts over: the old socket is closed (no
 * descriptor leaked), the watchdog follows the new environment, and with
 * NOTIFY_SOCKET unset nothing is sent any more.
 */
static void
test_reinit(void **state)
{
	char *path;
	int rx, fds;

	(void)state;
	path = tu_path(dir, "notify3.sock");
	rx = bind_dgram(path);
	env(path, NULL, NULL);
	fds = open_fds();
	notify_init();
	assert_int_equal(open_fds(), fds);
	/* No watchdog asked for now. */
	assert_true(notify_watchdog_interval() == 0);
	/* Unset: a no-op again, nothing reaches the old socket. */
	env(NULL, NULL, NULL);
	notify_init();
	assert_int_equal(notify_send("READY=1"), 0);
	recv_none(rx);
	assert_int_equal(open_fds(), fds - 1);
	close(rx);
	free(path);
}

static int
group_setup(void **state)
{
	(void)state;
	dir = tu_mkdtemp();
	return dir == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	tu_rmdir(dir);
	return 0;
}

int
main(void)
{
	/* In this order: see the comment at the top. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_path_other_pid),
		cmocka_unit_test(test_abstract_watchdog),
		cmocka_unit_test(test_watchdog_pid_ours),
		cmocka_unit_test(test_reinit),
	};

	/* The warnings for bad NOTIFY_SOCKET values are expected here. */
	log_init(LOG_LERROR);
	return cmocka_run_group_tests_name("notify", tests, group_setup,
	    group_teardown);
}
