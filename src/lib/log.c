/*
 * log.c - event logging for every process.  Lines are built whole and
 * written with one write(2) so that processes sharing stderr or a file do
 * not interleave.  Peer strings are the caller's to pass through log_safe().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

enum log_dest { DEST_STDERR, DEST_SYSLOG, DEST_FILE };

static enum log_dest	 dest = DEST_STDERR;
static int		 logfd = 2;
static bool		 verbose;
static char		 procname[32] = "postbote";
static char		 ident[48] = "postbote";	/* syslog's tag */
static char		 hostname[256];
static long		 mypid;

int
log_init(const char *proc, const char *where, bool v)
{
	verbose = v;
	log_setproc(proc);
	if (gethostname(hostname, sizeof(hostname)) == -1)
		strcpy(hostname, "localhost");
	hostname[sizeof(hostname) - 1] = '\0';
	if (where == NULL || strcmp(where, "stderr") == 0) {
		dest = DEST_STDERR;
		logfd = 2;
	} else if (strcmp(where, "syslog") == 0) {
		/* The tag is "postbote/smtpd", as Postfix's "postfix/smtpd",
		 * so that log readers find the process where they expect. */
		dest = DEST_SYSLOG;
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	} else {
		int fd = open(where, O_WRONLY | O_APPEND | O_CREAT |
		    O_CLOEXEC | O_NOFOLLOW, 0640);
		if (fd == -1)
			return -1;
		if (dest == DEST_FILE && logfd > 2)
			close(logfd);
		dest = DEST_FILE;
		logfd = fd;
	}
	return 0;
}

void
log_setproc(const char *proc)
{
	mypid = (long)getpid();
	snprintf(procname, sizeof(procname), "%s", proc);
	snprintf(ident, sizeof(ident), "postbote/%s", procname);
}

int
log_fd(void)
{
	return dest == DEST_SYSLOG ? -1 : logfd;
}

void
log_setverbose(bool v)
{
	verbose = v;
}

bool
log_verbose(void)
{
	return verbose;
}

static void	 vlog(int, const char *, va_list, const char *)
		    __attribute__((format(printf, 2, 0)));
static void	 vlog_as(const char *, int, const char *, va_list,
		    const char *) __attribute__((format(printf, 3, 0)));

static void
vlog(int prio, const char *fmt, va_list ap, const char *suffix)
{
	vlog_as(procname, prio, fmt, ap, suffix);
}

/* vlog_as - one line, written whole, under process name proc. */
static void
vlog_as(const char *proc, int prio, const char *fmt, va_list ap,
    const char *suffix)
{
	char		 line[8192], msg[7168];
	struct timespec	 ts;
	struct tm	 tm;
	int		 n, saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (dest == DEST_SYSLOG) {
		if (proc == procname)
			syslog(prio, "%s%s", msg, suffix);
		else {	/* another tag for this line: openlog keeps the
			 * connection and takes the new tag */
			char	tag[48];

			snprintf(tag, sizeof(tag), "postbote/%s", proc);
			openlog(tag, LOG_PID | LOG_NDELAY, LOG_MAIL);
			syslog(prio, "%s%s", msg, suffix);
			openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
		}
		errno = saved;
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s postbote/%s[%ld]: %s%s\n",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, hostname, proc,
	    mypid, msg, suffix);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	for (size_t off = 0; off < (size_t)n;) {
		ssize_t w = write(logfd, line + off, (size_t)n - off);
		if (w <= 0) {
			if (w == -1 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap, "");
	va_end(ap);
}

void
log_info_as(const char *proc, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog_as(proc, LOG_INFO, fmt, ap, "");
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap, "");
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap, "");
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	char	suffix[256];
	va_list	ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(errno));
	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, suffix);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, "");
	va_end(ap);
	exit(1);
}

void
log_panic(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, " (panic)");
	va_end(ap);
	abort();
}

#define SAFE_RING	8
#define SAFE_MAX	512

const char *
log_safe_n(const char *s, size_t len)
{
	static _Thread_local char	ring[SAFE_RING][SAFE_MAX * 4 + 8];
	static _Thread_local unsigned	slot;
	static const char		hex[] = "0123456789abcdef";
	char				*out = ring[slot++ % SAFE_RING], *o = out;

	if (s == NULL)
		return "";
	for (size_t i = 0; i < len && i < SAFE_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '\\' || c == '"') {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else
			*o++ = (char)c;
	}
	if (len > SAFE_MAX) {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o = '\0';
	return out;
}

const char *
log_safe(const char *s)
{
	return s == NULL ? "" : log_safe_n(s, strlen(s));
}
