/*
 * notify — tells systemd how the service is doing, with the notification
 * protocol sd_notify(3) documents: datagrams such as "READY=1" sent to the
 * AF_UNIX socket named by $NOTIFY_SOCKET ('@' for the abstract namespace).
 * Written to the protocol rather than linked against libsystemd, which the
 * agent needs for nothing else. Without $NOTIFY_SOCKET every call is a no-op.
 *
 * The watchdog: with $WATCHDOG_USEC set (and $WATCHDOG_PID unset or ours),
 * notify_alive() sends "WATCHDOG=1" at most every WATCHDOG_USEC/2.
 * One thread only.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

/* Reads the environment; call at start. A second call forgets the first
 * (closes its socket) and reads the environment again. */
void notify_init(void);

/* Sends msg ("READY=1", "STOPPING=1", "RELOADING=1\nMONOTONIC_USEC=..."):
 * 0 sent or nothing to do, -1 failed (errno set). */
int notify_send(const char *msg);

/* The loop is alive: pings the watchdog when a ping is due. */
void notify_alive(void);

/* Seconds between watchdog pings; 0 when systemd wants none. */
double notify_watchdog_interval(void);

#endif
