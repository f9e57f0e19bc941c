/*
 * greylist_db.h - the greylisting store: one LMDB file in state_dir
 * (greylist.lmdb and its lock file), owned by the lookup process, which
 * answers smtpd's IPC_GREYLIST.  It survives restarts and is shared by
 * every session because only this process writes it.
 */
#ifndef POSTBOTE_GREYLIST_DB_H
#define POSTBOTE_GREYLIST_DB_H

#include <stddef.h>
#include <stdint.h>

#include "mail/greylist.h"

#define GREYLIST_DB_FILE	"lookup/greylist.lmdb"	/* in state_dir */

/* greylist_db_open - open (create) path; 0, or -1 with err.  Opening an
 * open store does nothing. */
int	 greylist_db_open(const char *path, char *err, size_t errlen);
/*
 * greylist_db_check - an attempt of key at now: the decision, with the
 * record updated in the store; *wait is the seconds until a retry
 * passes.  -1 when the store failed (logged).
 */
int	 greylist_db_check(const char *key, uint64_t now,
	    const struct greylist_times *, enum greylist_verdict *v,
	    uint32_t *wait);
/* greylist_db_sweep - delete the expired records; how many, or -1. */
long	 greylist_db_sweep(uint64_t now, const struct greylist_times *);
void	 greylist_db_close(void);

#endif
