/*
 * log.h - one line per event, key=value, to stderr, syslog or a file.
 * Every peer-supplied string goes through log_safe() first.
 */
#ifndef POSTBOTE_LOG_H
#define POSTBOTE_LOG_H

#include <stdbool.h>

/* log_init - set process name ("smtpd") and destination ("stderr",
 * "syslog" or a file path).  Returns 0, or -1 if the file cannot open. */
int	 log_init(const char *proc, const char *dest, bool verbose);
void	 log_setproc(const char *proc);
/* log_fd - the descriptor log lines go to (2 for stderr), -1 for syslog. */
int	 log_fd(void);
void	 log_setverbose(bool);
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
