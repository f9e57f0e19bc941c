/*
 * deliver.h - the deliver process's parts: local delivery (deliver.c) and
 * remote delivery over SMTP (deliver_remote.c, deliver_mx.c).  One
 * IPC_DELIVER from queue becomes one struct djob; its results go back in
 * one IPC_DELIVER_REPLY with the same request id.
 */
#ifndef POSTBOTE_DELIVER_H
#define POSTBOTE_DELIVER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "deliver/maildir.h"
#include "mail/envelope.h"
#include "lib/worker.h"

struct proc_module;

/* The deliver process (deliver.c). */
extern const struct proc_module deliver_module;

#define DELIVER_TEXT_MAX	200	/* reply text kept per recipient */

struct drcpt {
	uint32_t	 index;
	int		 kind;		/* enum rcpt_kind */
	char		*addr, *orig;
	char		*orcpt;		/* DSN ORCPT "type;value" or "" */
	unsigned	 notify;	/* SMTP_NOTIFY_* bits */
	char		 dir[PATH_MAX];
	char		 name[MAILDIR_NAME_MAX];
	off_t		 size;
	bool		 written;
	int		 result;	/* enum deliver_result */
	char		 dsn[8];
	char		 text[DELIVER_TEXT_MAX];
};

struct djob {
	struct worker_item	 item;
	char			 id[QUEUE_ID_LEN + 1];
	uint64_t		 reqid;		/* echoed in the reply */
	bool			 recovered;	/* loaded after a crash */
	char			*sender;
	char			*prepend;	/* envelope 'X' fields written
						 * first; "" if none */
	uint64_t		 arrival;
	int			 fd;
	size_t			 n;
	struct drcpt		*r;
	/* for the SMTP client */
	int			 body;		/* enum smtp_body */
	bool			 smtputf8;
	int			 ret;		/* enum smtp_ret */
	char			*envid;		/* "" = none */
	uint64_t		 size;
	char			 relay[320];	/* "host[ip]:port" for the log */
};

/* deliver_set_result - set one recipient's result, dsn "d.s.n", text. */
void	 deliver_set_result(struct drcpt *, int result, const char *dsn,
	    const char *text);
/* deliver_job_done - log each result, reply to queue, free j. */
void	 deliver_job_done(struct djob *j);

/* remote_init / remote_reload - the SMTP client's state: TLS contexts,
 * DNS, route passwords (read here, never logged). */
struct event_base;
void	 remote_init(struct event_base *);
void	 remote_reload(void);
/* remote_deliver - deliver j's recipients (all remote, one domain) over
 * SMTP; calls deliver_job_done(j) when finished.  Takes j. */
void	 remote_deliver(struct djob *j);
/* remote_shutdown - close idle connections. */
void	 remote_shutdown(void);

#endif
