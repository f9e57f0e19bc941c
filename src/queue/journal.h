/*
 * journal.h - the queue's write-ahead journal.  A commit appends one
 * record (envelope, and the message data when it is small) to a file that
 * is reused in place, and one fdatasync() makes a whole batch durable: no
 * file creation or directory change waits on the disk.  The per-message
 * spool files are written as usual but synced only at checkpoints
 * (syncfs), after which the journal starts a new epoch.  Recovery replays
 * the current epoch.  docs/queue-format.md describes the format.
 */
#ifndef POSTBOTE_QUEUE_JOURNAL_H
#define POSTBOTE_QUEUE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "mail/envelope.h"

#define JOURNAL_HDR_SIZE	4096
#define JOURNAL_MAX		(64u * 1024 * 1024)
#define JOURNAL_REC_HDR		32
#define JOURNAL_INLINE_MAX	(256u * 1024)	/* data bigger is fsynced */

enum jrec_type { JREC_COMMIT = 1, JREC_REMOVE = 2 };

/* A decoded record; pointers point into the decoded buffer. */
struct jrec {
	enum jrec_type	 type;
	char		 id[QUEUE_ID_LEN + 1];
	bool		 has_data;	/* the data is in the record */
	const char	*env;
	size_t		 envlen;
	const char	*data;
	uint64_t	 datalen;	/* the data file's size either way */
};

/* journal_rec_commit / journal_rec_remove - append one encoded record. */
void	 journal_rec_commit(struct buf *, uint64_t epoch, const char *id,
	    const void *env, size_t envlen, const void *data,
	    uint64_t datalen, bool has_data);
void	 journal_rec_remove(struct buf *, uint64_t epoch, const char *id);
/* journal_rec_set_epoch - give every record encoded in b the epoch (and
 * a new CRC): records made before a checkpoint, written after it. */
void	 journal_rec_set_epoch(struct buf *, uint64_t epoch);

/*
 * journal_rec_decode - the record at p[0..len) of the given epoch.
 * Returns the record's size, 0 at the end of the journal (no record, a
 * record of another epoch, or a torn or corrupt one: a crash mid-write),
 * never more than len.  Pure.
 */
size_t	 journal_rec_decode(const char *p, size_t len, uint64_t epoch,
	    struct jrec *);

struct journal;

/* journal_open - open or create dir/name; -1 with errno. */
struct journal *journal_open(int dirfd, const char *name);
void	 journal_close(struct journal *);
uint64_t journal_epoch(const struct journal *);
/* journal_replay - call cb for each record of the current epoch, in
 * order.  Returns 0 or -1 with errno (read error). */
int	 journal_replay(struct journal *, void (*cb)(const struct jrec *,
	    void *), void *arg);
/* journal_reset - start a new, empty epoch (durably).  The caller has made
 * every earlier record's effect durable first. */
int	 journal_reset(struct journal *);
/* journal_room - bytes that can still be appended in this epoch. */
size_t	 journal_room(const struct journal *);
/* journal_append - write encoded records at the head; with sync, make
 * them (and all earlier ones) durable.  0 or -1 with errno; on failure
 * the head does not move. */
int	 journal_append(struct journal *, const struct buf *, bool sync);

#endif
