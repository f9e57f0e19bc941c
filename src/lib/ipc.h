/*
 * ipc.h - framed, typed messages between postbote's processes over
 * socketpairs, with file descriptors passed by SCM_RIGHTS.
 *
 * A frame is a fixed header {version, type, flags, payload length,
 * request id} and a payload built with the ipc_put_* helpers and read with
 * the bounds-checked ipc_get_* getters.  A getter past the end, or a string
 * that is not NUL-terminated where it says, marks the message bad; the
 * receiver checks ipc_msg_ok() once at the end and treats a bad message
 * from a peer process as a bug in that peer (it is logged and dropped).
 */
#ifndef POSTBOTE_IPC_H
#define POSTBOTE_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define IPC_VERSION	2
#define IPC_MAX_PAYLOAD	(16u * 1024 * 1024)

enum proc_id {
	PROC_PARENT = 0,
	PROC_SMTPD,
	PROC_QUEUE,
	PROC_LOOKUP,
	PROC_DELIVER,
	PROC_MAX
};

/* The message types; each one's fields are defined once, in ipc_proto.h
 * and its table in ipc_proto.c. */
enum ipc_type {
	/* parent -> child */
	IPC_PEER = 1,
	IPC_RELOAD,
	IPC_SHUTDOWN,
	/* smtpd (and queue) -> lookup, and reply */
	IPC_RESOLVE,
	IPC_RESOLVE_REPLY,
	/* smtpd -> queue, and replies */
	IPC_SPOOL_OPEN,
	IPC_SPOOL_OPEN_REPLY,
	IPC_SPOOL_COMMIT,
	IPC_SPOOL_COMMIT_REPLY,
	IPC_SPOOL_ABORT,
	/* queue -> deliver, and reply */
	IPC_DELIVER,
	IPC_DELIVER_REPLY,
	/* command line <-> queue, on the control socket */
	IPC_CTL_LIST,
	IPC_CTL_LIST_REPLY,
	IPC_CTL_FLUSH,
	IPC_CTL_DELETE,
	IPC_CTL_HOLD,
	IPC_CTL_RELEASE,
	IPC_CTL_SHOW,
	IPC_CTL_REPLY,
	/* smtpd -> lookup, and replies (AUTH, sender ownership) */
	IPC_AUTH,
	IPC_AUTH_REPLY,
	IPC_SENDER_OWNED,
	IPC_SENDER_OWNED_REPLY,
	/* command line -> queue, on the control or submission socket */
	IPC_CTL_SUBMIT,
	IPC_CTL_SUBMIT_REPLY,
	IPC_CTL_SHOW_REPLY,
	/* not a frame: the TLS material inside IPC_RELOAD */
	IPC_TLS_MATERIAL,
	/* smtpd -> a restarted queue: a commit the old one took, and reply */
	IPC_SPOOL_STATUS,
	IPC_SPOOL_STATUS_REPLY,
	/* parent -> child: its start, the first frame after the exec */
	IPC_START,
	/* not a frame: the [dkim] keys inside IPC_RELOAD */
	IPC_DKIM_MATERIAL,
	IPC_GREYLIST,
	IPC_GREYLIST_REPLY,
	/* child -> parent: a reload applied or refused (the reload's id) */
	IPC_RELOAD_DONE,
	/* command line -> parent, on the parent's socket state_dir/master */
	IPC_CTL_RELOAD,
	IPC_CTL_STOP,
	IPC_CTL_STATUS,
	IPC_CTL_STATUS_REPLY,
	/* command line -> queue: a message's whole text, and reply */
	IPC_CTL_BODY,
	IPC_CTL_BODY_REPLY,
	/* smtpd -> lookup: connect a milter's UNIX socket, and reply (fd) */
	IPC_MILTER_CONNECT,
	IPC_MILTER_CONNECT_REPLY,
	/* deliver -> queue: one outbound TLS negotiation's outcome
	 * (RFC 8460); no reply */
	IPC_TLSRPT,
	/* command line -> queue: the TLS-RPT aggregate as JSON; send the
	 * reports of the data so far now (both answered with IPC_CTL_REPLY) */
	IPC_CTL_TLSRPT_SHOW,
	IPC_CTL_TLSRPT_SEND,
	IPC_TYPE_MAX
};

/* Result codes carried by IPC_DELIVER_REPLY. */
enum deliver_result { DELIVER_OK = 0, DELIVER_TEMP, DELIVER_PERM };

struct ipc_msg {
	uint16_t	 type;
	uint64_t	 id;		/* request id, echoed in the reply */
	const unsigned char *p;
	size_t		 len, off;
	int		 fd;		/* passed descriptor or -1; the handler
					 * owns it (close it if unused) */
	bool		 bad;
};

struct ipc_chan;
typedef void (*ipc_msg_cb)(struct ipc_chan *, struct ipc_msg *, void *);
typedef void (*ipc_close_cb)(struct ipc_chan *, void *);

struct event_base;

/* ipc_chan_new - wrap a connected, non-blocking stream socket. */
struct ipc_chan *ipc_chan_new(struct event_base *, int fd, int peer,
	    ipc_msg_cb, ipc_close_cb, void *arg);
/* ipc_chan_free - close the socket and any fds not yet sent or handled. */
void	 ipc_chan_free(struct ipc_chan *);
int	 ipc_chan_peer(const struct ipc_chan *);
/* ipc_chan_pending - bytes queued for sending. */
size_t	 ipc_chan_pending(const struct ipc_chan *);

/*
 * ipc_send - queue one frame; payload may be NULL for none.  fd >= 0 is
 * passed along and closed here once sent (ownership moves to ipc).
 * Returns 0, or -1 if the channel is closed.  A payload over
 * IPC_MAX_PAYLOAD is a bug in the caller (ASSERT): the peer would drop
 * the channel.
 */
int	 ipc_send(struct ipc_chan *, uint16_t type, uint64_t id,
	    const struct buf *payload, int fd);

/* Payload builders (append to a struct buf; out of memory is fatal). */
void	 ipc_put_u32(struct buf *, uint32_t);
void	 ipc_put_u64(struct buf *, uint64_t);
void	 ipc_put_str(struct buf *, const char *);	/* NULL -> "" */
void	 ipc_put_bytes(struct buf *, const void *, size_t);

uint32_t ipc_get_u32(struct ipc_msg *);
uint64_t ipc_get_u64(struct ipc_msg *);
/* ipc_get_str - a NUL-terminated string inside the payload, or "" and
 * the message marked bad.  Points into the message: copy to keep. */
const char *ipc_get_str(struct ipc_msg *);
const void *ipc_get_bytes(struct ipc_msg *, size_t *len);
bool	 ipc_msg_ok(const struct ipc_msg *);
const char *ipc_type_str(uint16_t);

/*
 * Blocking use, for the command line tools on the control socket:
 * ipc_sync_send writes one frame (-1 with EMSGSIZE for a payload over
 * IPC_MAX_PAYLOAD, EPIPE rather than SIGPIPE for a peer gone away);
 * ipc_sync_recv reads one frame into *in (payload in buf *store, which
 * the caller frees, and a descriptor passed with it in in->fd, which the
 * caller closes), waiting at most timeout_ms for each read.  0 or -1.
 */
int	 ipc_sync_send(int fd, uint16_t type, uint64_t id,
	    const struct buf *payload);
int	 ipc_sync_recv(int fd, struct ipc_msg *in, struct buf *store,
	    int timeout_ms);

#endif
