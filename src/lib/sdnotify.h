/*
 * sdnotify.h - the service manager's readiness protocol (sd_notify(3)):
 * one datagram of "KEY=VALUE" lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET, without libsystemd.  Outside systemd (no NOTIFY_SOCKET)
 * every call does nothing.
 */
#ifndef POSTBOTE_SDNOTIFY_H
#define POSTBOTE_SDNOTIFY_H

/*
 * sdnotify_init - read $NOTIFY_SOCKET once and unset it, so that the
 * children (and anything they run) never see it.  0, or -1 when it names
 * something that is not a usable socket address (then notify is off).
 */
int	 sdnotify_init(void);
/*
 * sdnotify - send the state lines (e.g. "READY=1\nSTATUS=running") as one
 * datagram; at most 4 KB.  0, or -1 with errno (the caller logs it).
 */
int	 sdnotify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* sdnotify_monotonic_usec - CLOCK_MONOTONIC in µs, for RELOADING=1's
 * MONOTONIC_USEC= field. */
unsigned long long sdnotify_monotonic_usec(void);

#endif
