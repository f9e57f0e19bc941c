/*
 * proc.h - the process model of "postbote serve": the parent spawns and
 * supervises smtpd, queue, lookup and deliver, wires their channels, and
 * passes reloads and the stop.  Each child module fills a struct
 * proc_module; proc.c runs the common child life around it.
 */
#ifndef POSTBOTE_PROC_H
#define POSTBOTE_PROC_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include "lib/ipc.h"

#define POSTBOTE_VERSION	"0.1.0"

struct conf;
struct event_base;
struct lookup_tab;

/* The configuration every process reads; replaced whole on reload.
 * Never keep a pointer into it across event-loop turns. */
extern struct conf *config;
/* The lookup tables (lookup process and parent only). */
extern struct lookup_tab *lookup_tables;

struct proc_module {
	const char	*name;
	/* init - after privileges are dropped, before any peer is up. */
	void		(*init)(struct event_base *);
	/* peer_up - a channel to proc is ready (again, after a restart). */
	void		(*peer_up)(int proc);
	/* peer_down - the channel to proc closed: fail what waits on it. */
	void		(*peer_down)(int proc);
	/* msg - a message from a peer process; the module owns m->fd. */
	void		(*msg)(int proc, struct ipc_msg *);
	/* reload - config already swapped in `config`. */
	void		(*reload)(void);
	/* shutdown - stop gracefully; call proc_exit() when done. */
	void		(*shutdown)(void);
};

extern const struct proc_module smtpd_module, queue_module, lookup_module,
	    deliver_module;

/* serve_main - "postbote serve": returns the exit status. */
int	 serve_main(const char *confpath, bool verbose);
/* proc_check_config - load and check the config and its tables, as serve
 * would; messages to stderr.  0 or -1. */
int	 proc_check_config(const char *confpath);

/* proc_peer - the channel to another process, or NULL while it is down. */
struct ipc_chan *proc_peer(int proc);
/* proc_send - send to a peer; -1 (and fd closed) if it is down. */
int	 proc_send(int proc, uint16_t type, uint64_t id, const struct buf *,
	    int fd);
/* proc_exit - leave the child's event loop and exit 0. */
void	 proc_exit(void);
/* proc_listen_fds - smtpd only: the listening sockets, one per
 * config->listens entry (index-aligned). */
const int *proc_listen_fds(size_t *n);
/* proc_base - the child's event base. */
struct event_base *proc_base(void);
/* proc_control_fd - queue only: the listening control socket the parent
 * bound (queue_ctl.c), or -1. */
int	 proc_control_fd(void);
/* proc_submit_fd - queue only: the submission socket (state_dir/submit)
 * the parent bound, or -1. */
int	 proc_submit_fd(void);
const char *proc_name(int proc);

/* read_file - read a whole file (at most max bytes) into b; 0 or -1. */
int	 read_file(const char *path, struct buf *b, size_t max);

#endif
