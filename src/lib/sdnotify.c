/*
 * sdnotify.c - sd_notify(3)'s protocol spoken directly (sdnotify.h): the
 * datagram goes to $NOTIFY_SOCKET, a path or, with a leading '@', an
 * abstract name.  Runs in the parent only.  Trust: the variable comes
 * from whoever started us (the service manager); it is checked for
 * length and form, and nothing is read back.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/sdnotify.h"

#define NOTIFY_MAX	4096

static struct sockaddr_un addr;
static socklen_t	 addrlen;		/* 0: notify is off */

/* sdnotify_init - see sdnotify.h. */
int
sdnotify_init(void)
{
	const char	*s = getenv("NOTIFY_SOCKET");
	size_t		 n;

	addrlen = 0;
	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n < 2 || n >= sizeof(addr.sun_path) || (s[0] != '/' &&
	    s[0] != '@')) {
		unsetenv("NOTIFY_SOCKET");
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	memcpy(addr.sun_path, s, n);
	if (s[0] == '@')
		addr.sun_path[0] = '\0';	/* abstract: no terminator */
	addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (s[0] == '/'));
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

/* sdnotify - see sdnotify.h. */
int
sdnotify(const char *fmt, ...)
{
	char	 msg[NOTIFY_MAX];
	va_list	 ap;
	int	 fd, n;
	ssize_t	 w;

	if (addrlen == 0)
		return 0;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg)) {
		errno = EMSGSIZE;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	w = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL,
	    (const struct sockaddr *)&addr, addrlen);
	n = errno;
	close(fd);
	errno = n;
	return w == -1 ? -1 : 0;
}

/* sdnotify_monotonic_usec - see sdnotify.h. */
unsigned long long
sdnotify_monotonic_usec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000;
}
