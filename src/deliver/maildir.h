/*
 * maildir.h - Maildir delivery (the deliver process).  Files are written
 * to tmp/, synced by the caller (batched), then renamed into new/.
 * Names follow the Maildir convention: "<sec>.M<usec>P<pid>Q<n>.<host>".
 */
#ifndef POSTBOTE_MAILDIR_H
#define POSTBOTE_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define MAILDIR_NAME_MAX	256

/*
 * maildir_path - expand the mailbox template: "%d" the domain, "%u" the
 * local part, "%%" a percent sign; any other '%' is an error.  local and
 * domain must be safe path components (no '/', not starting with '.',
 * no control bytes); else -1.  Returns 0 or -1 (also if out is too small).
 */
int	 maildir_path(const char *tmpl, const char *local, const char *domain,
	    char *out, size_t outsz);

/*
 * maildir_prepare - make DIR and DIR/tmp, DIR/new, DIR/cur (mode 0700,
 * parents created 0755 as needed).  Returns 0 or -1 with errno.
 */
int	 maildir_prepare(const char *dir);

/*
 * maildir_create - create DIR/tmp/NAME exclusively (O_EXCL|O_NOFOLLOW,
 * mode 0600) with a fresh unique name written to name.  Returns the fd
 * (opened for writing) or -1 with errno.
 */
int	 maildir_create(const char *dir, char *name, size_t namesz);
/* maildir_create_tagged - the same with "I<tag>" in the unique part
 * (tag: [0-9A-Za-z_]); see maildir_has_tag. */
int	 maildir_create_tagged(const char *dir, const char *tag, char *name,
	    size_t namesz);
/* maildir_create_at - the same, in the tmp/ directory open as tmpfd (the
 * deliver process keeps recent mailboxes' directories open). */
int	 maildir_create_at(int tmpfd, const char *tag, char *name,
	    size_t namesz);
/* maildir_has_tag - true if new/ or cur/ holds a message whose name
 * carries "I<tag>.": a delivery made before a crash. */
bool	 maildir_has_tag(const char *dir, const char *tag);

/*
 * maildir_copy - write the message from in_fd (from offset 0) to out_fd,
 * after the given prefix (e.g. Return-Path: and Delivered-To: lines, in
 * CRLF), turning CRLF line ends into LF as Maildir readers expect.
 * Returns the bytes written or -1 with errno (ENOSPC, EIO, ...).
 */
ssize_t	 maildir_copy(int out_fd, int in_fd, const char *prefix);
/* maildir_write - the same for a message in memory (data, len), written
 * with one write(2). */
ssize_t	 maildir_write(int out_fd, const char *prefix, const char *data,
	    size_t len);

/*
 * maildir_commit - rename DIR/tmp/NAME to DIR/new/NAME[,S=size].
 * The caller has synced the file (and later syncs DIR/new).
 */
int	 maildir_commit(const char *dir, const char *name, off_t size);
/* maildir_commit_at - the same, between the open tmpfd and newfd. */
int	 maildir_commit_at(int tmpfd, int newfd, const char *name, off_t size);

/* maildir_abort - unlink DIR/tmp/NAME after a failed write. */
void	 maildir_abort(const char *dir, const char *name);
/* maildir_abort_at - unlink NAME in the open tmpfd. */
void	 maildir_abort_at(int tmpfd, const char *name);

/*
 * maildir_sweep - in the tmp/ folder of every Maildir the template can
 * name, remove the regular files neither read nor written since cutoff:
 * what a crash left (maildir(5): readers delete tmp/ files not accessed
 * for 36 hours).  "%d" and "%u" in a path component match any name not
 * starting with '.'; the part of the template before the first such
 * component is opened as it is, and below it no symbolic link is
 * followed.  Blocking: for a worker thread.  Returns the files removed.
 */
unsigned maildir_sweep(const char *tmpl, time_t cutoff);

#endif
