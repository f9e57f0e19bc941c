/*
 * proc.h - the child runtime of "postbote serve": the life that smtpd,
 * queue, lookup and deliver share.  The parent (parent/) forks, and in the
 * new child calls proc_exec(), which re-executes the binary as "postbote
 * serve --child NAME ..." so that the child starts with a fresh memory:
 * nothing of the parent's heap (its keys, its freed buffers) comes along.
 * The child (proc_child_main) reads its start from the parent, takes what
 * its process needs, enters state_dir, drops privileges, runs the event
 * loop and carries the channels to the parent and the peers.
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

#include "common/sandbox.h"
#include "lib/buf.h"
#include "lib/ipc.h"

#define POSTBOTE_VERSION	"0.1.0"

struct conf;
struct event_base;

/* What a process needs from the parent, at its start and at each reload. */
#define PROC_NEEDS_LISTENERS	0x01	/* the bound SMTP listeners */
#define PROC_NEEDS_CONTROL	0x02	/* the control and submit sockets */
#define PROC_NEEDS_TLS		0x04	/* certificates and private keys */
#define PROC_NEEDS_TABLES	0x08	/* the users and aliases tables */
#define PROC_NEEDS_DKIM		0x10	/* the [dkim] private keys */

/*
 * The descriptors a child inherits through the exec (all else is closed).
 * postfork takes what its process keeps: it copies a descriptor and sets
 * the field to -1; the runtime closes what is left before the privilege
 * drop, so a process holds only what it took.
 */
struct proc_inherit {
	int			*listen_fds;	/* config->listens order */
	size_t			 nlisten;
	int			 control_fd;	/* state_dir/control, or -1 */
	int			 submit_fd;	/* state_dir/submit, or -1 */
	int			 metrics_fd;	/* metrics_listen, or -1 */
	int			 stats_fd;	/* the counters (stats.h): every
						 * child maps them */
};

/* What a start or a reload brings (IPC_START, IPC_RELOAD): the parts this
 * process needs.  Points into the parent's frame: copy what is kept. */
struct proc_reload {
	const char		*users;		/* PROC_NEEDS_TABLES; else "" */
	const char		*aliases;
	const void		*tls;		/* PROC_NEEDS_TLS; else len 0 */
	size_t			 tlslen;
	const void		*dkim;		/* PROC_NEEDS_DKIM */
	size_t			 dkimlen;
};

struct proc_module {
	const char	*name;
	unsigned	 needs;		/* PROC_NEEDS_* */
	/* sandbox - its uid, root and system calls (sandbox.h). */
	const struct sandbox *sandbox;
	/*
	 * postfork - in the new child, after the exec, still root when
	 * started as root: take from inh the descriptors it keeps.  `config`
	 * is the start's.  May be NULL.
	 */
	void		(*postfork)(struct proc_inherit *inh);
	/* init - after the privilege drop and the start's configure, before
	 * any peer is up. */
	void		(*init)(struct event_base *);
	/* peer_up - a channel to proc is ready (again, after a restart). */
	void		(*peer_up)(int proc);
	/* peer_down - the channel to proc closed: fail what waits on it. */
	void		(*peer_down)(int proc);
	/* msg - a message from a peer process; the module owns m->fd. */
	void		(*msg)(int proc, struct ipc_msg *);
	/*
	 * configure - the start and each reload share it: r is what came
	 * with the config nc.  At the start it runs after the privilege drop
	 * and nc is `config` already; at a reload it runs before the swap
	 * (the current config is still `config`).  Build what depends on
	 * them; -1 (with the reason logged) refuses the reload, and the old
	 * config stays, or ends the child at its start.  May be NULL.
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
	uid_t		 own_uid;	/* smtpd_user's, for SANDBOX_OWN_USER */
	gid_t		 own_gid;
};

/*
 * proc_exec - in the parent's new child, right after the fork: re-execute
 * this binary (/proc/self/exe) as the process of module m, with ctlfd (its
 * channel to the parent) and inh's descriptors, and nothing else open; a
 * log file goes to its stderr.  The parent sends the start (IPC_START) on
 * ctlfd.  Never returns (exits 127 when the exec fails).
 */
void	 proc_exec(const struct proc_module *m, int ctlfd,
	    const struct proc_inherit *inh, bool verbose)
	    __attribute__((noreturn));
/* proc_is_child - are argc/argv (from "serve" on) a child's, as proc_exec
 * wrote them? */
bool	 proc_is_child(int argc, char **argv);
/*
 * proc_child_main - the child's life, from the exec to its exit: argv
 * (from "serve" on) names its process and its descriptors; mods are the
 * modules of all processes.  Never returns; a bad argv exits 2.
 */
void	 proc_child_main(int argc, char **argv,
	    const struct proc_module *const mods[PROC_MAX])
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
/* proc_reload_refused - a module's configure, refusing a reload, gives
 * the reason the parent reports to the admin (copied). */
void	 proc_reload_refused(const char *reason);
/* proc_exit - leave the child's event loop and exit 0. */
void	 proc_exit(void);
/* proc_base - the child's event base. */
struct event_base *proc_base(void);
/* proc_name - "smtpd", "queue", ... for a PROC_* id. */
const char *proc_name(int proc);

#endif
