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
/* parent_setup_free_texts - release the texts, wiping the keys. */
void	 parent_setup_free_texts(struct parent_texts *);
/* parent_setup_user - the user to run the children as; fatal when it
 * does not exist or is root. */
void	 parent_setup_user(struct proc_user *);
/* parent_setup_dirs - state_dir, the spool directories and the default
 * mailbox root, owned by the user where the processes write. */
void	 parent_setup_dirs(const struct proc_user *);
/* parent_setup_listen - bind one socket per config->listens entry; the
 * array (n entries) is allocated. */
int	*parent_setup_listen(size_t *n);
/* parent_setup_metrics - bind metrics_listen (the queue's HTTP listener);
 * -1 when the key is not set.  Exits when it cannot be bound. */
int	 parent_setup_metrics(void);

#endif
