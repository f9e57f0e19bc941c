/*
 * parent_setup.h - what the parent does before the children exist and at
 * each reload: read and check the config, the tables and the [dkim] keys
 * it names, make the state directories, bind the listeners, find the user
 * to run as.
 */
#ifndef POSTBOTE_PARENT_SETUP_H
#define POSTBOTE_PARENT_SETUP_H

#include <stddef.h>

#include "common/proc.h"

/* What a start or a reload sends, kept from the last good load: the raw
 * texts of the config and the tables, and the [dkim] keys
 * (common/dkim_keys.h). */
struct parent_texts {
	struct buf	 conf, users, aliases;
	struct buf	 dkim;
};

/*
 * parent_setup_load - read and check the config at path, the users and
 * aliases it names and its [dkim] keys.  On success the new config
 * replaces `config` and *texts the old texts; 0.  Otherwise nothing
 * changes, the reason goes to stderr (no config yet) or to the log
 * (event=reload result=refused, or result=failed for a key that cannot be
 * read or parsed), and -1.
 */
int	 parent_setup_load(const char *path, struct parent_texts *texts);
/* The config and texts a reload replaced, kept until every child took
 * the new ones (then forgotten) or one refused (then restored). */
struct parent_prev {
	struct conf		*config;	/* NULL: nothing kept */
	struct parent_texts	 texts;
};
/*
 * parent_setup_reload - parent_setup_load for a reload: the old config and
 * texts move to *prev instead of being freed; on -1 err holds the reason
 * (also logged) and *prev is empty.
 */
int	 parent_setup_reload(const char *path, struct parent_texts *texts,
	    struct parent_prev *prev, char *err, size_t errlen);
/* parent_setup_restore - put prev's config and texts back (the new ones
 * are freed); nothing when prev is empty. */
void	 parent_setup_restore(struct parent_texts *texts,
	    struct parent_prev *prev);
/* parent_setup_forget - free what prev kept. */
void	 parent_setup_forget(struct parent_prev *prev);
/* parent_setup_free_texts - release the texts, wiping the keys. */
void	 parent_setup_free_texts(struct parent_texts *);
/* parent_setup_user - the user to run the children as; fatal when it
 * does not exist or is root. */
void	 parent_setup_user(struct proc_user *);
/* parent_setup_dirs - state_dir, the spool directories and the default
 * mailbox root, owned by the user where the processes write. */
void	 parent_setup_dirs(const struct proc_user *);
/* parent_setup_mailboxes - for a mailbox template of the form
 * BASE/%d/..., BASE made when missing (root's, 0755) and BASE/DOMAIN for
 * each local domain that has none, given to user, so that deliver can
 * make the Maildirs under a root-owned folder such as /var/mail; at the
 * start and at each reload.  A folder that cannot be made is logged. */
void	 parent_setup_mailboxes(const struct proc_user *);
/* parent_setup_locate - when err begins with a path the config names
 * ("PATH: reason"), "FILE:LINE: KEY: " of that setting in out; else "". */
void	 parent_setup_locate(const struct parent_texts *t, const char *err,
	    char *out, size_t outlen);
/* parent_setup_probe - "postbote check": warn (stderr) about each
 * listener address something already listens on. */
void	 parent_setup_probe(void);
/* parent_setup_listen - bind one socket per config->listens entry; the
 * array (n entries) is allocated. */
int	*parent_setup_listen(size_t *n);
/* parent_setup_metrics - bind metrics_listen (the queue's HTTP listener);
 * -1 when the key is not set.  Exits when it cannot be bound. */
int	 parent_setup_metrics(void);

#endif
