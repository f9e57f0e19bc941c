/*
 * sandbox.h - what a child of "postbote serve" may still do once it runs:
 * no new privileges, an empty capability bounding set, and a seccomp
 * filter that lists the system calls its process makes (libseccomp).  A
 * call outside the list kills the process (the parent restarts it and
 * logs it); POSTBOTE_SECCOMP=log only logs such calls to the kernel log
 * (type=1326 audit lines), for an admin who debugs a filter.  Each
 * process module says what it needs in a struct sandbox; the child
 * runtime (proc.c) applies it after the privilege drop.
 */
#ifndef POSTBOTE_SANDBOX_H
#define POSTBOTE_SANDBOX_H

#include <stdbool.h>

/* Runs as smtpd_user, not user: cannot write the spool or mailboxes. */
#define SANDBOX_OWN_USER	0x01
/* Chrooted to STATE_DIR/empty (root-owned, 0555, empty): no paths. */
#define SANDBOX_EMPTY_ROOT	0x02

/* The folder under state_dir that a SANDBOX_EMPTY_ROOT process sees as /. */
#define SANDBOX_EMPTY_DIR	"empty"

struct sandbox {
	unsigned		  flags;	/* SANDBOX_* */
	/* The system calls the process makes besides those every child
	 * makes (sandbox.c), by name; NULL-terminated. */
	const char *const	 *allow;
	/* Calls that fail with EACCES instead of killing: what a library
	 * may try and do without (smtpd: opening a path).  May be NULL. */
	const char *const	 *refuse;
};

/*
 * sandbox_chroot - as root, before the privilege drop: make dir (a path
 * relative to the working directory) the root and enter it.  Exits
 * (fatal) when it cannot.
 */
void	 sandbox_chroot(const char *dir);
/*
 * sandbox_enter - after the privilege drop: no new privileges, an empty
 * bounding set, and the filter of sb (allow-list, default kill, or log
 * when POSTBOTE_SECCOMP=log).  name is the process's, for the log.
 * Exits (fatal) when any step fails: a child never runs unconfined.
 */
void	 sandbox_enter(const char *name, const struct sandbox *sb);
/* sandbox_cap_drop - empty the capability bounding set (needs
 * CAP_SETPCAP, so as root before the drop); exits when it cannot. */
void	 sandbox_cap_drop(void);

#endif
