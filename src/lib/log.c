/*
 * log.c - event logging for every process.  Lines are built whole and
 * leave in writes of whole lines, so that processes sharing stderr or a
 * file do not interleave.  Once a process has set its event loop
 * (log_set_base), the lines of one loop turn are gathered and written
 * together at the end of the turn: one write(2) for all of them instead
 * of one per line.  A write is at most PIPE_BUF bytes, which the kernel
 * writes atomically to a pipe too; a longer line goes alone.  Warnings,
 * fatal(), log_panic(), exit(), fork() and other threads' lines flush the
 * batch first, so nothing waits behind a line that matters; so do IPC
 * frames and SMTP replies (log_flush_unheld), so that whoever hears of an
 * event finds its line in the log.  syslog gets each line as it comes.
 * Runs in every process and the CLI; peer strings are the caller's to
 * pass through log_safe().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"

/* A batch is at most what a pipe takes in one atomic write. */
#define LOG_BATCH_MAX	PIPE_BUF

enum log_dest { DEST_STDERR, DEST_SYSLOG, DEST_FILE };

static enum log_dest	 dest = DEST_STDERR;
static int		 logfd = 2;
static bool		 verbose;
static char		 procname[32] = "postbote";
static char		 ident[48] = "postbote";	/* syslog's tag */
static char		 hostname[256];
static long		 mypid;

/*
 * The batch: whole lines of this loop turn, oldest first.  Only the
 * thread that set the base adds to it without writing; the mutex is for
 * the other threads, exit() and fork(), which flush it before their line.
 */
static pthread_mutex_t	 batch_mtx = PTHREAD_MUTEX_INITIALIZER;
static char		 batch[LOG_BATCH_MAX];
static size_t		 batch_len;
static size_t		 batch_held;	/* its first bytes may wait anyway */
static struct event	*batch_ev;	/* active: flush at the turn's end */
static bool		 batch_scheduled;
static bool		 batching;	/* a base is set, in this process */
static pthread_t	 batch_thread;	/* the thread of that base's loop */

static void	 write_all(const char *, size_t);
static void	 flush_locked(void);
static void	 emit(const char *, size_t, bool);
static void	 on_turn_end(evutil_socket_t, short, void *);
static void	 fork_prepare(void);
static void	 fork_parent(void);
static void	 fork_child(void);

int
log_init(const char *proc, const char *where, bool v)
{
	verbose = v;
	log_flush();		/* the lines so far go where they were meant */
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

/* vlog_as - one whole line under process name proc: into the batch, or
 * out now with the batch before it when it is more than info. */
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
	emit(line, (size_t)n, prio < LOG_INFO);
	errno = saved;
}

static void
write_all(const char *p, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(logfd, p + off, n - off);
		if (w <= 0) {
			if (w == -1 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
}

/* flush_locked - the batch out, in one write; batch_mtx held. */
static void
flush_locked(void)
{
	if (batch_len > 0)
		write_all(batch, batch_len);
	batch_len = batch_held = 0;
}

/*
 * emit - line (n bytes, '\n' included) after the lines before it.  It
 * waits in the batch for the end of the loop turn when this is the loop's
 * thread and now is false; otherwise it leaves at once, in the same write
 * as the batch when both fit.  A line longer than the batch goes alone.
 */
static void
emit(const char *line, size_t n, bool now)
{
	bool	schedule = false;

	pthread_mutex_lock(&batch_mtx);
	if (n > sizeof(batch)) {
		flush_locked();
		write_all(line, n);
	} else {
		if (batch_len + n > sizeof(batch))
			flush_locked();		/* full: the older lines go */
		memcpy(batch + batch_len, line, n);
		batch_len += n;
		if (now || !batching ||
		    !pthread_equal(pthread_self(), batch_thread))
			flush_locked();
		else if (!batch_scheduled)
			schedule = batch_scheduled = true;
	}
	pthread_mutex_unlock(&batch_mtx);
	/* After every callback already active in this turn (ipc.c's frames
	 * too); only the loop's thread gets here, so no lock is needed. */
	if (schedule)
		event_active(batch_ev, EV_TIMEOUT, 0);
}

static void
on_turn_end(evutil_socket_t fd, short ev, void *arg)
{
	pthread_mutex_lock(&batch_mtx);
	batch_scheduled = false;
	flush_locked();
	pthread_mutex_unlock(&batch_mtx);
}

/* log_flush - see log.h. */
void
log_flush(void)
{
	int	saved = errno;

	pthread_mutex_lock(&batch_mtx);
	flush_locked();
	pthread_mutex_unlock(&batch_mtx);
	errno = saved;
}

/* log_hold - see log.h. */
void
log_hold(void)
{
	pthread_mutex_lock(&batch_mtx);
	batch_held = batch_len;
	pthread_mutex_unlock(&batch_mtx);
}

/* log_flush_unheld - see log.h. */
void
log_flush_unheld(void)
{
	int	saved = errno;

	pthread_mutex_lock(&batch_mtx);
	if (batch_len > batch_held)
		flush_locked();
	pthread_mutex_unlock(&batch_mtx);
	errno = saved;
}

/* The batch is written before a fork, so that the child has none of it:
 * the child writes each line at once until it sets a base of its own. */
static void
fork_prepare(void)
{
	pthread_mutex_lock(&batch_mtx);
	flush_locked();
}

static void
fork_parent(void)
{
	pthread_mutex_unlock(&batch_mtx);
}

static void
fork_child(void)
{
	batching = false;
	batch_len = 0;
	pthread_mutex_unlock(&batch_mtx);
}

/* log_set_base - see log.h. */
void
log_set_base(struct event_base *base)
{
	static bool	hooked;

	pthread_mutex_lock(&batch_mtx);
	flush_locked();
	batching = false;
	pthread_mutex_unlock(&batch_mtx);
	if (batch_ev != NULL)
		event_free(batch_ev);
	batch_ev = NULL;
	batch_scheduled = false;
	if (base == NULL)
		return;
	if (!hooked) {
		if (atexit(log_flush) != 0 || pthread_atfork(fork_prepare,
		    fork_parent, fork_child) != 0)
			return;		/* then each line at once */
		hooked = true;
	}
	if ((batch_ev = event_new(base, -1, 0, on_turn_end, NULL)) == NULL)
		return;
	pthread_mutex_lock(&batch_mtx);
	batch_thread = pthread_self();
	batching = true;
	pthread_mutex_unlock(&batch_mtx);
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
	vlog(LOG_CRIT, fmt, ap, suffix);	/* out at once, with the batch */
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
