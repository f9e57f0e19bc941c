/*
 * deliver_job.h - one delivery request of the deliver process and its
 * reply.  One IPC_DELIVER from queue becomes one struct deliver_job; a
 * courier (local.c, remote.c) sets each recipient's result and hands the
 * job back through deliver_job_done(), which logs the results and answers
 * with one IPC_DELIVER_REPLY carrying the same request id.  A request
 * whose recipients go different ways (Maildir, LMTP servers) is cut into
 * parts, one per courier and destination; the reply goes once every part
 * is done.
 */
#ifndef POSTBOTE_DELIVER_JOB_H
#define POSTBOTE_DELIVER_JOB_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/ipc.h"
#include "mail/envelope.h"

#define DELIVER_JOB_TEXT_MAX	200	/* reply text kept per recipient */
#define DELIVER_JOB_RCPT_MAX	100000	/* recipients taken in one request */
#define DELIVER_JOB_MTA_MAX	256	/* a server's name, NUL included */
#define DELIVER_JOB_LOAD_MAX	(64 * 1024)	/* messages up to this size
					 * are read into memory once */

struct event_base;

struct deliver_rcpt {
	uint32_t	 index;		/* in the envelope, echoed back */
	int		 kind;		/* enum rcpt_kind */
	char		*addr, *orig;
	char		*orcpt;		/* DSN ORCPT "type;value" or "" */
	unsigned	 notify;	/* SMTP_NOTIFY_* bits */
	int		 result;	/* enum deliver_result */
	char		 dsn[8];	/* "d.s.n"; "" until a result is set */
	char		 text[DELIVER_JOB_TEXT_MAX];
	char		 remote_mta[DELIVER_JOB_MTA_MAX];	/* the server
					 * whose reply the text is; "" = a
					 * local reason (RFC 3464 2.3.5) */
	size_t		 slot;		/* a part's: in the whole request */
};

struct deliver_job {
	char			 id[QUEUE_ID_LEN + 1];
	uint64_t		 reqid;		/* echoed in the reply */
	bool			 recovered;	/* loaded after a crash */
	char			*sender;
	char			*prepend;	/* envelope 'X' fields written
						 * first; "" if none */
	uint64_t		 arrival;
	int			 fd;		/* the message, read-only */
	/* a small message's bytes, read once at decode (NULL: read fd) */
	const char		*data;
	size_t			 datalen;
	size_t			 n;
	struct deliver_rcpt	*r;
	/* for the SMTP client */
	int			 body;		/* enum smtp_body */
	bool			 smtputf8;
	int			 tls_req;	/* enum env_tls (RFC 8689) */
	int			 ret;		/* enum smtp_ret */
	char			*envid;		/* "" = none */
	uint64_t		 size;		/* SIZE=, prepend included */
	char			 relay[320];	/* "host[ip]:port" or
						 * "lmtp:..." for the log;
						 * "" = local */
	char			 tls_policy[48];	/* "dane", "sts
						 * mode=enforce"; "" */
	struct deliver_job	*whole;		/* a part's request; NULL */
	size_t			 nparts;	/* parts not done yet */
	bool			 fd_borrowed;	/* a part's: whole's fd */
};

/*
 * A courier delivers jobs of one kind (chasquid's courier idea): the
 * process glue hands a job to one without knowing which.  deliver takes
 * the job and calls deliver_job_done() on it, once, from the loop, when
 * every recipient has its result.  The hooks may be NULL.
 */
struct deliver_courier {
	const char	*name;
	void		(*init)(struct event_base *);
	void		(*reload)(void);
	void		(*shutdown)(void);	/* let go of idle resources */
	void		(*deliver)(struct deliver_job *);
};

/*
 * deliver_job_decode - the job of an IPC_DELIVER message (fields in
 * ipc_proto.h).  The job takes m->fd, even on failure (it is then closed).
 * A message that came in the frame is copied into j->data (j->fd is -1
 * then); one of at most DELIVER_JOB_LOAD_MAX bytes that came as a file is
 * read into j->data with one pread.  Either way the couriers and the loop
 * check read no file when j->data is set.
 * Returns the job, owned by the caller, or NULL if the message is
 * malformed, has no descriptor, or 0 or more than DELIVER_JOB_RCPT_MAX
 * recipients.
 */
struct deliver_job *deliver_job_decode(struct ipc_msg *m);
/* deliver_job_read - up to n bytes of the message from offset off, from
 * j->data when it is there, else from the file: as pread(2). */
ssize_t	 deliver_job_read(const struct deliver_job *, void *, size_t n,
	    off_t off);

/*
 * deliver_job_encode_reply - append j's IPC_DELIVER_REPLY payload (fields
 * in ipc_proto.h) to b: every recipient with its result.
 */
void	 deliver_job_encode_reply(const struct deliver_job *j, struct buf *b);

/*
 * deliver_job_set_result - set one recipient's result: an enum
 * deliver_result, an enhanced status "d.s.n" and a text, both copied and
 * cut to fit (a peer's reply text is untrusted and unbounded).
 */
void	 deliver_job_set_result(struct deliver_rcpt *, int result,
	    const char *dsn, const char *text);

/*
 * deliver_job_set_mta - the server that gave recipient r its result,
 * copied and cut to fit (deliver_job_set_result clears it).
 */
void	 deliver_job_set_mta(struct deliver_rcpt *r, const char *name);

/*
 * deliver_job_part - a part of j: its recipients idx[0..n), copied, with
 * the same message (j's descriptor, not duplicated) and parameters.  j
 * counts the part; it must not go to a courier itself, and stays until
 * its last part is done.  Returns the part, owned by the caller until it
 * goes to a courier.
 */
struct deliver_job *deliver_job_part(struct deliver_job *j, const size_t *idx,
	    size_t n);

/* deliver_job_is_remote - true if every recipient of j is remote. */
bool	 deliver_job_is_remote(const struct deliver_job *j);

/*
 * deliver_job_loops - count the Received: fields in the header of j's
 * message (up to its first 64 KiB); more than max is a mail loop: every
 * recipient gets 5.4.6 and the result is true.
 */
bool	 deliver_job_loops(struct deliver_job *j, unsigned max);

/*
 * deliver_job_done - on the loop: log each recipient's result, send the
 * reply to queue and free j.  For a part: the results go to its whole
 * request, which answers when its last part is done.
 */
void	 deliver_job_done(struct deliver_job *j);

/* deliver_job_free - free j and close its descriptor, without a reply. */
void	 deliver_job_free(struct deliver_job *j);

#endif
