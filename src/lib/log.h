/*
 * log.h - one line per event, key=value, to stderr, syslog or a file.
 * Every peer-supplied string goes through log_safe() first.
 */
#ifndef POSTBOTE_LOG_H
#define POSTBOTE_LOG_H

#include <stdbool.h>

struct event_base;

/* log_init - set process name ("smtpd") and destination ("stderr",
 * "syslog" or a file path).  Returns 0, or -1 if the file cannot open. */
int	 log_init(const char *proc, const char *dest, bool verbose);
void	 log_setproc(const char *proc);
/* log_fd - the descriptor log lines go to (2 for stderr), -1 for syslog. */
int	 log_fd(void);
void	 log_setverbose(bool);
/*
 * log_set_base - from now on, lines this thread logs wait for the end of
 * the current turn of base's loop and leave together in one write (at
 * most PIPE_BUF bytes of whole lines; a longer line alone).  Warnings and
 * worse, other threads' lines, exit() and fork() write what waits first.
 * Until it is called, lines are written one by one.  NULL: write what
 * waits and stop; call it so before base is freed.
 */
void	 log_set_base(struct event_base *);
/*
 * log_flush - write the lines that wait for the end of the turn now.
 * Before _exit() and whatever else skips exit()'s handlers, and before
 * output that tells someone of what was logged: an IPC frame (ipc.c), an
 * SMTP reply (smtpd/io.c).  Whoever hears of an event from a process then
 * finds its line in the log, as when every line was written at once.
 */
void	 log_flush(void);
/*
 * log_hold - the lines logged so far may wait for the end of the turn
 * even if a reply follows: they concern no one still listening (smtpd
 * calls it after a session's last line).  log_flush_unheld - log_flush(),
 * unless every waiting line was held; before a reply (smtpd/io.c).
 */
void	 log_hold(void);
void	 log_flush_unheld(void);
bool	 log_verbose(void);

void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
/* log_info_as - a line under another process name ("pickup"), where log
 * readers expect it (Postfix's names); the pid stays this process's. */
void	 log_info_as(const char *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* fatal - environment failure; appends strerror(errno); exits 1. */
void	 fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
/* fatalx - environment failure without errno; exits 1. */
void	 fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
/* log_panic - a bug; logs and aborts. */
void	 log_panic(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

/*
 * log_safe - escape a peer string for logs: control bytes, '\\', '"' and
 * bytes >= 0x7f become \xNN; longer than 512 bytes is cut with "...".
 * Returns one of a small ring of thread-local buffers: valid until 8 more
 * calls in the same thread.  NULL gives "".
 */
const char *log_safe(const char *);
const char *log_safe_n(const char *, size_t);

#endif
