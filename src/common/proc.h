/*
 * proc.h - the child runtime of "postbote serve": the life that smtpd,
 * queue, lookup and deliver share.  The parent (parent/) forks a child and
 * calls proc_child() in it; from there the runtime closes what the child
 * must not keep, calls the process's hooks, drops privileges, runs the
 * event loop and carries the channels to the parent and the peers.
 *
 * The runtime never asks which process it runs: each process module fills
 * a struct proc_module with hooks (the idea of OpenSMTPD's smtp_postfork,
 * smtp_postprivdrop and smtp_configure), and a flags word saying what it
 * needs from the parent.
 */
#ifndef POSTBOTE_PROC_H
#define POSTBOTE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "lib/ipc.h"

#define POSTBOTE_VERSION	"0.1.0"

struct conf;
struct event_base;
struct lookup_tab;

/* What a process needs from the parent, at its start and at each reload. */
#define PROC_NEEDS_LISTENERS	0x01	/* the bound SMTP listeners */
#define PROC_NEEDS_CONTROL	0x02	/* the control and submit sockets */
#define PROC_NEEDS_TLS		0x04	/* certificates and private keys */
#define PROC_NEEDS_TABLES	0x08	/* the users and aliases tables */

/*
 * What a child finds at its start, made by the parent before the fork.
 * postfork takes what its process keeps: it copies a descriptor or a
 * pointer and sets the field to -1 or NULL (or empties the buffer).  What
 * is left is closed, wiped or freed by the runtime before the privilege
 * drop, so a process holds only what it took.
 */
struct proc_inherit {
	int			*listen_fds;	/* config->listens order */
	size_t			 nlisten;
	int			 control_fd;	/* state_dir/control, or -1 */
	int			 submit_fd;	/* state_dir/submit, or -1 */
	struct buf		*tls;		/* TLS material (tls.h) */
	struct lookup_tab	*tables;	/* users and aliases */
	/* forget - drop the parent's own state (its event loop, whose epoll
	 * instance the child shares until its descriptor is closed: so this
	 * is called after the other descriptors are closed).  May be NULL. */
	void			(*forget)(void);
};

/* What a reload brings (IPC_RELOAD): the parts this process needs. */
struct proc_reload {
	const char		*users;		/* PROC_NEEDS_TABLES; else "" */
	const char		*aliases;
	const void		*tls;		/* PROC_NEEDS_TLS; else len 0 */
	size_t			 tlslen;
};

struct proc_module {
	const char	*name;
	unsigned	 needs;		/* PROC_NEEDS_* */
	/*
	 * postfork - in the new child, still root when started as root:
	 * read what only root may read and take from inh what it keeps.
	 * May be NULL.
	 */
	void		(*postfork)(struct proc_inherit *inh);
	/* init - after the privilege drop, before any peer is up. */
	void		(*init)(struct event_base *);
	/* peer_up - a channel to proc is ready (again, after a restart). */
	void		(*peer_up)(int proc);
	/* peer_down - the channel to proc closed: fail what waits on it. */
	void		(*peer_down)(int proc);
	/* msg - a message from a peer process; the module owns m->fd. */
	void		(*msg)(int proc, struct ipc_msg *);
	/*
	 * configure - a reload, before the swap: nc is the new config (the
	 * current one is still `config`) and r what came with it.  Build what
	 * depends on them; -1 (with the reason logged) refuses the reload and
	 * the old config stays.  May be NULL.
	 */
	int		(*configure)(const struct conf *nc,
			    const struct proc_reload *r);
	/* reload - the new config is in `config`. */
	void		(*reload)(void);
	/* shutdown - stop gracefully; call proc_exit() when done. */
	void		(*shutdown)(void);
};

/* The user the children run as (resolved by the parent). */
struct proc_user {
	bool		 drop;		/* started as root: drop to uid/gid */
	uid_t		 uid;
	gid_t		 gid;
};

/*
 * proc_child - the child's life, from the fork to its exit: ctlfd is its
 * channel to the parent.  Never returns.
 */
void	 proc_child(const struct proc_module *, int ctlfd,
	    struct proc_inherit *, const struct proc_user *)
	    __attribute__((noreturn));

/*
 * proc_attach / proc_attach_peer - run module m's messages on loop b in
 * this process without a parent, and make fd its channel to process id:
 * for the session fuzzer (tests/fuzz/fuzz_session.c), which plays smtpd's
 * peers itself.  Never used by the server.
 */
void	 proc_attach(const struct proc_module *m, struct event_base *b);
void	 proc_attach_peer(int id, int fd);

/* proc_peer - the channel to another process, or NULL while it is down. */
struct ipc_chan *proc_peer(int proc);
/* proc_send - send to a peer; -1 (and fd closed) if it is down. */
int	 proc_send(int proc, uint16_t type, uint64_t id, const struct buf *,
	    int fd);
/* proc_send_msg - encode msg (msize bytes, the struct of type in
 * ipc_proto.h) and send it; PROC_SEND passes the size. */
int	 proc_send_msg(int proc, uint16_t type, uint64_t id, const void *msg,
	    size_t msize, int fd);
#define PROC_SEND(proc, type, id, m, fd) \
	proc_send_msg((proc), (type), (id), (m), sizeof(*(m)), (fd))
/* proc_exit - leave the child's event loop and exit 0. */
void	 proc_exit(void);
/* proc_base - the child's event base. */
struct event_base *proc_base(void);
/* proc_name - "smtpd", "queue", ... for a PROC_* id. */
const char *proc_name(int proc);

#endif
