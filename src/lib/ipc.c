/*
 * ipc.c - framed messages and descriptor passing between postbote's
 * processes (parent, smtpd, queue, lookup, deliver), on libevent loops.
 * Trust: peers are our own processes, but a frame is still checked (version,
 * type, length bound, fd accounting) and payload reads are bounds-checked,
 * so a confused or compromised peer cannot make us read out of bounds.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/util.h"

#define HDR_LEN		24
#define FLAG_FD		0x1
#define MAX_FDS_IN	64

struct out_fd {
	uint64_t	 at;		/* stream position of the frame start */
	int		 fd;
};

struct ipc_chan {
	int		 fd;
	int		 peer;
	struct event	*rev, *wev;
	struct event	*fev;		/* deferred flush, once per loop turn */
	struct buf	 in, out;
	uint64_t	 out_base;	/* stream position of out.data[0] */
	struct out_fd	*ofds;
	size_t		 nofds, cofds;
	int		 ifds[MAX_FDS_IN];
	size_t		 nifds;
	ipc_msg_cb	 msg_cb;
	ipc_close_cb	 close_cb;
	void		*arg;
	bool		 closed;
	bool		 flush_scheduled;
	int		 busy;		/* inside a callback */
	bool		 dead;		/* freed while busy */
};

static void	 chan_read(evutil_socket_t, short, void *);
static void	 chan_write(evutil_socket_t, short, void *);
static void	 chan_deferred(evutil_socket_t, short, void *);
static void	 chan_fail(struct ipc_chan *, const char *);
static int	 chan_flush(struct ipc_chan *);
static void	 chan_destroy(struct ipc_chan *);
static int	 send_all(int, const void *, size_t);

static const char *type_names[IPC_TYPE_MAX] = {
	[IPC_PEER] = "peer", [IPC_RELOAD] = "reload",
	[IPC_SHUTDOWN] = "shutdown", [IPC_RESOLVE] = "resolve",
	[IPC_RESOLVE_REPLY] = "resolve-reply",
	[IPC_SPOOL_OPEN] = "spool-open",
	[IPC_SPOOL_OPEN_REPLY] = "spool-open-reply",
	[IPC_SPOOL_COMMIT] = "spool-commit",
	[IPC_SPOOL_COMMIT_REPLY] = "spool-commit-reply",
	[IPC_SPOOL_ABORT] = "spool-abort", [IPC_DELIVER] = "deliver",
	[IPC_DELIVER_REPLY] = "deliver-reply", [IPC_CTL_LIST] = "ctl-list",
	[IPC_CTL_LIST_REPLY] = "ctl-list-reply", [IPC_CTL_FLUSH] = "ctl-flush",
	[IPC_CTL_DELETE] = "ctl-delete", [IPC_CTL_HOLD] = "ctl-hold",
	[IPC_CTL_RELEASE] = "ctl-release", [IPC_CTL_SHOW] = "ctl-show",
	[IPC_CTL_REPLY] = "ctl-reply",
	[IPC_AUTH] = "auth", [IPC_AUTH_REPLY] = "auth-reply",
	[IPC_SENDER_OWNED] = "sender-owned",
	[IPC_SENDER_OWNED_REPLY] = "sender-owned-reply",
	[IPC_CTL_SUBMIT] = "ctl-submit",
	[IPC_CTL_SUBMIT_REPLY] = "ctl-submit-reply",
	[IPC_CTL_SHOW_REPLY] = "ctl-show-reply",
	[IPC_TLS_MATERIAL] = "tls-material",
	[IPC_SPOOL_STATUS] = "spool-status",
	[IPC_SPOOL_STATUS_REPLY] = "spool-status-reply",
	[IPC_START] = "start", [IPC_DKIM_MATERIAL] = "dkim-material",
	[IPC_GREYLIST] = "greylist", [IPC_GREYLIST_REPLY] = "greylist-reply",
	[IPC_RELOAD_DONE] = "reload-done", [IPC_CTL_RELOAD] = "ctl-reload",
	[IPC_CTL_STOP] = "ctl-stop", [IPC_CTL_STATUS] = "ctl-status",
	[IPC_CTL_STATUS_REPLY] = "ctl-status-reply",
	[IPC_CTL_BODY] = "ctl-body", [IPC_CTL_BODY_REPLY] = "ctl-body-reply",
	[IPC_MILTER_CONNECT] = "milter-connect",
	[IPC_MILTER_CONNECT_REPLY] = "milter-connect-reply",
	[IPC_TLSRPT] = "tlsrpt",
	[IPC_CTL_TLSRPT_SHOW] = "ctl-tlsrpt-show",
	[IPC_CTL_TLSRPT_SEND] = "ctl-tlsrpt-send",
};

const char *
ipc_type_str(uint16_t t)
{
	if (t < IPC_TYPE_MAX && type_names[t] != NULL)
		return type_names[t];
	return "unknown";
}

/* ipc_chan_new - wrap a connected stream socket; it is made non-blocking. */
struct ipc_chan *
ipc_chan_new(struct event_base *base, int fd, int peer, ipc_msg_cb mcb,
    ipc_close_cb ccb, void *arg)
{
	struct ipc_chan	*c = xcalloc(1, sizeof(*c));
	int		 fl = fcntl(fd, F_GETFL);

	if (fl != -1)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	c->fd = fd;
	c->peer = peer;
	c->msg_cb = mcb;
	c->close_cb = ccb;
	c->arg = arg;
	buf_init(&c->in, 0);
	buf_init(&c->out, 0);
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, chan_read, c);
	c->wev = event_new(base, fd, EV_WRITE, chan_write, c);
	c->fev = event_new(base, -1, 0, chan_deferred, c);
	if (c->rev == NULL || c->wev == NULL || c->fev == NULL)
		fatalx("ipc: event_new failed");
	event_add(c->rev, NULL);
	return c;
}

static void
chan_destroy(struct ipc_chan *c)
{
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->fev);
	if (c->fd != -1)
		close(c->fd);
	for (size_t i = 0; i < c->nofds; i++)
		close(c->ofds[i].fd);
	for (size_t i = 0; i < c->nifds; i++)
		close(c->ifds[i]);
	free(c->ofds);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

/* ipc_chan_free - close and free; safe to call from inside a callback. */
void
ipc_chan_free(struct ipc_chan *c)
{
	if (c == NULL)
		return;
	if (c->busy) {
		c->dead = true;
		c->closed = true;
		event_del(c->rev);
		event_del(c->wev);
		event_del(c->fev);
		return;
	}
	chan_destroy(c);
}

int
ipc_chan_peer(const struct ipc_chan *c)
{
	return c->peer;
}

size_t
ipc_chan_pending(const struct ipc_chan *c)
{
	return c->out.len;
}

static void
chan_fail(struct ipc_chan *c, const char *why)
{
	if (c->closed)
		return;
	c->closed = true;
	event_del(c->rev);
	event_del(c->wev);
	event_del(c->fev);
	if (why != NULL)
		log_warn("ipc peer=%d event=closed reason=\"%s\"", c->peer, why);
	if (c->close_cb != NULL) {
		c->busy++;
		c->close_cb(c, c->arg);
		c->busy--;
	}
	if (c->dead && c->busy == 0)
		chan_destroy(c);
}

/* ipc_send - queue a frame and try to write it at once. */
int
ipc_send(struct ipc_chan *c, uint16_t type, uint64_t id,
    const struct buf *payload, int fd)
{
	unsigned char	 hdr[HDR_LEN];
	uint16_t	 ver = IPC_VERSION;
	uint32_t	 flags = fd >= 0 ? FLAG_FD : 0, rsv = 0;
	uint32_t	 len = payload != NULL ? (uint32_t)payload->len : 0;

	if (c->closed) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ASSERT(payload == NULL || payload->len <= IPC_MAX_PAYLOAD);
	memcpy(hdr, &ver, 2);
	memcpy(hdr + 2, &type, 2);
	memcpy(hdr + 4, &flags, 4);
	memcpy(hdr + 8, &len, 4);
	memcpy(hdr + 12, &rsv, 4);
	memcpy(hdr + 16, &id, 8);
	if (fd >= 0) {
		if (c->nofds == c->cofds) {
			c->cofds = c->cofds ? c->cofds * 2 : 8;
			c->ofds = xreallocarray(c->ofds, c->cofds,
			    sizeof(*c->ofds));
		}
		c->ofds[c->nofds].at = c->out_base + c->out.len;
		c->ofds[c->nofds++].fd = fd;
	}
	if (buf_append(&c->out, hdr, sizeof(hdr)) == -1 ||
	    (len > 0 && buf_append(&c->out, payload->data, len) == -1))
		fatalx("ipc: out of buffer space");
	/* Frames queued in the same loop turn leave in one write. */
	if (!event_pending(c->wev, EV_WRITE, NULL) && !c->flush_scheduled) {
		c->flush_scheduled = true;
		event_active(c->fev, EV_TIMEOUT, 0);
	}
	return 0;
}

static void
chan_deferred(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan	*c = arg;

	c->flush_scheduled = false;
	/* The lines logged before these frames go first: the process that
	 * reads a frame may act on it before this turn ends (lib/log.h). */
	log_flush();
	if (!c->closed && chan_flush(c) == -1)
		chan_fail(c, "write failed");
}

/* chan_flush - write what we can; fds go with the first byte of a frame. */
static int
chan_flush(struct ipc_chan *c)
{
	while (c->out.len > 0) {
		struct msghdr	 mh = { 0 };
		struct iovec	 iov;
		union {
			struct cmsghdr	hdr;
			char		buf[CMSG_SPACE(sizeof(int))];
		}		 cm;
		size_t		 n = c->out.len;
		bool		 withfd = false;
		ssize_t		 w;

		if (c->nofds > 0) {
			if (c->ofds[0].at == c->out_base) {
				withfd = true;
				if (c->nofds > 1)
					n = c->ofds[1].at - c->out_base;
			} else
				n = c->ofds[0].at - c->out_base;
		}
		iov.iov_base = c->out.data;
		iov.iov_len = n;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (withfd) {
			struct cmsghdr *ch;

			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			ch = CMSG_FIRSTHDR(&mh);
			ch->cmsg_level = SOL_SOCKET;
			ch->cmsg_type = SCM_RIGHTS;
			ch->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(ch), &c->ofds[0].fd, sizeof(int));
		}
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				event_add(c->wev, NULL);
				return 0;
			}
			return -1;
		}
		if (withfd) {
			close(c->ofds[0].fd);
			memmove(c->ofds, c->ofds + 1,
			    (c->nofds - 1) * sizeof(*c->ofds));
			c->nofds--;
		}
		buf_consume(&c->out, (size_t)w);
		c->out_base += (uint64_t)w;
	}
	return 0;
}

static void
chan_write(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan	*c = arg;

	if (chan_flush(c) == -1)
		chan_fail(c, "write failed");
}

/* recv_some - one recvmsg into c->in: 1 (a full read), 2 (a short one),
 * 0 at EOF, -1 with errno. */
static int
recv_some(struct ipc_chan *c)
{
	char		 data[65536];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 16)];
	}		 cm;
	struct iovec	 iov = { data, sizeof(data) };
	struct msghdr	 mh = { 0 };
	ssize_t		 r;
	bool		 overflow = false;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (r <= 0)
		return (int)r;
	if (mh.msg_flags & MSG_CTRUNC) {
		errno = EMSGSIZE;	/* descriptors were lost: drop the peer */
		return -1;
	}
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch != NULL;
	    ch = CMSG_NXTHDR(&mh, ch)) {
		size_t	n;

		if (ch->cmsg_level != SOL_SOCKET || ch->cmsg_type != SCM_RIGHTS)
			continue;
		n = (ch->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int	fd;

			memcpy(&fd, CMSG_DATA(ch) + i * sizeof(int), sizeof(fd));
			if (c->nifds == MAX_FDS_IN) {
				close(fd);	/* a peer flooding us with fds */
				overflow = true;
			} else
				c->ifds[c->nifds++] = fd;
		}
	}
	if (overflow) {
		errno = EMSGSIZE;
		return -1;
	}
	if (buf_append(&c->in, data, (size_t)r) == -1)
		fatalx("ipc: out of buffer space");
	return (size_t)r < sizeof(data) ? 2 : 1;
}

/* dispatch - run every complete frame in the input buffer. */
static int
dispatch(struct ipc_chan *c)
{
	size_t	 off = 0;
	int	 rc = 0;

	c->busy++;
	while (!c->dead && c->in.len - off >= HDR_LEN) {
		const unsigned char	*h = (unsigned char *)c->in.data + off;
		struct ipc_msg		 m = { 0 };
		uint16_t		 ver;
		uint32_t		 flags, len;

		memcpy(&ver, h, 2);
		memcpy(&m.type, h + 2, 2);
		memcpy(&flags, h + 4, 4);
		memcpy(&len, h + 8, 4);
		memcpy(&m.id, h + 16, 8);
		if (ver != IPC_VERSION || m.type == 0 ||
		    m.type >= IPC_TYPE_MAX || len > IPC_MAX_PAYLOAD) {
			rc = -1;
			break;
		}
		if (c->in.len - off - HDR_LEN < len)
			break;
		m.fd = -1;
		if (flags & FLAG_FD) {
			if (c->nifds == 0) {
				rc = -1;
				break;
			}
			m.fd = c->ifds[0];
			memmove(c->ifds, c->ifds + 1,
			    (--c->nifds) * sizeof(int));
		}
		m.p = h + HDR_LEN;
		m.len = len;
		off += HDR_LEN + len;
		c->msg_cb(c, &m, c->arg);
	}
	c->busy--;
	if (!c->dead)
		buf_consume(&c->in, off);
	return rc;
}

static void
chan_read(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan	*c = arg;
	int		 r;

	const char	*why = NULL;
	bool		 eof = false;

	for (int i = 0; i < 16; i++) {
		r = recv_some(c);
		if (r == 0) {
			eof = true;
			break;
		}
		/* A short read has most likely emptied the socket: no read
		 * to see EAGAIN.  Should more be waiting (the kernel stops
		 * at a frame's descriptors), the level-triggered read event
		 * comes again at once. */
		if (r == 2)
			break;
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			why = errno == EMSGSIZE ? "descriptors lost" :
			    strerror(errno);
			break;
		}
	}
	/* Frames that arrived before the peer went away still count. */
	if (dispatch(c) == -1)
		why = "bad frame";
	if (c->dead && c->busy == 0) {
		chan_destroy(c);
		return;
	}
	if (eof || why != NULL)
		chan_fail(c, why);
}

void
ipc_put_u32(struct buf *b, uint32_t v)
{
	if (buf_append(b, &v, sizeof(v)) == -1)
		fatalx("ipc: payload too large");
}

void
ipc_put_u64(struct buf *b, uint64_t v)
{
	if (buf_append(b, &v, sizeof(v)) == -1)
		fatalx("ipc: payload too large");
}

void
ipc_put_bytes(struct buf *b, const void *p, size_t n)
{
	ipc_put_u32(b, (uint32_t)n);
	if (buf_append(b, p, n) == -1)
		fatalx("ipc: payload too large");
}

void
ipc_put_str(struct buf *b, const char *s)
{
	if (s == NULL)
		s = "";
	ipc_put_bytes(b, s, strlen(s) + 1);
}

static const void *
get_raw(struct ipc_msg *m, size_t n)
{
	const void	*p;

	if (m->bad || m->len - m->off < n) {
		m->bad = true;
		return NULL;
	}
	p = m->p + m->off;
	m->off += n;
	return p;
}

uint32_t
ipc_get_u32(struct ipc_msg *m)
{
	const void	*p = get_raw(m, 4);
	uint32_t	 v = 0;

	if (p != NULL)
		memcpy(&v, p, 4);
	return v;
}

uint64_t
ipc_get_u64(struct ipc_msg *m)
{
	const void	*p = get_raw(m, 8);
	uint64_t	 v = 0;

	if (p != NULL)
		memcpy(&v, p, 8);
	return v;
}

const void *
ipc_get_bytes(struct ipc_msg *m, size_t *len)
{
	uint32_t	 n = ipc_get_u32(m);
	const void	*p = get_raw(m, n);

	*len = p != NULL ? n : 0;
	return p != NULL ? p : "";
}

const char *
ipc_get_str(struct ipc_msg *m)
{
	size_t		 n;
	const char	*s = ipc_get_bytes(m, &n);

	if (m->bad || n == 0 || s[n - 1] != '\0' || strlen(s) != n - 1) {
		m->bad = true;
		return "";
	}
	return s;
}

bool
ipc_msg_ok(const struct ipc_msg *m)
{
	return !m->bad && m->off == m->len;
}

/*
 * send_all - all n bytes to a socket.  MSG_NOSIGNAL: a server that went
 * away is an EPIPE the command line tool reports, not a SIGPIPE that ends
 * it before it can say the message may not have been sent.
 */
static int
send_all(int fd, const void *p, size_t n)
{
	const char	*s = p;
	ssize_t		 w;

	while (n > 0) {
		w = send(fd, s, n, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * ipc_sync_send - blocking frame write for the command line tools.  A
 * payload over IPC_MAX_PAYLOAD is refused (EMSGSIZE) before a byte is
 * written: the receiver would drop the channel, and past 4 GiB the 32-bit
 * length would wrap and the rest of the payload would be read as frames.
 */
int
ipc_sync_send(int fd, uint16_t type, uint64_t id, const struct buf *payload)
{
	unsigned char	 hdr[HDR_LEN] = { 0 };
	uint16_t	 ver = IPC_VERSION;
	uint32_t	 len;

	if (payload != NULL && payload->len > IPC_MAX_PAYLOAD) {
		errno = EMSGSIZE;
		return -1;
	}
	len = payload != NULL ? (uint32_t)payload->len : 0;
	memcpy(hdr, &ver, 2);
	memcpy(hdr + 2, &type, 2);
	memcpy(hdr + 8, &len, 4);
	memcpy(hdr + 16, &id, 8);
	if (send_all(fd, hdr, sizeof(hdr)) == -1)
		return -1;
	return len > 0 ? send_all(fd, payload->data, len) : 0;
}

/* take_fds - the descriptors a recvmsg brought: the first one into *rfd
 * when it is still -1, any other closed. */
static void
take_fds(struct msghdr *mh, int *rfd)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL;
	    c = CMSG_NXTHDR(mh, c)) {
		size_t	n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int	got;

			memcpy(&got, CMSG_DATA(c) + i * sizeof(int),
			    sizeof(int));
			if (*rfd == -1)
				*rfd = got;
			else
				close(got);
		}
	}
}

/* read_full - n bytes into store, each read waiting at most timeout_ms;
 * a descriptor that comes along goes to *rfd (see take_fds). */
static int
read_full(int fd, struct buf *store, size_t n, int timeout_ms, int *rfd)
{
	char	tmp[65536];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(4 * sizeof(int))];
	} cm;

	while (n > 0) {
		struct pollfd	pfd = { fd, POLLIN, 0 };
		struct iovec	iov = { tmp, MIN(n, sizeof(tmp)) };
		struct msghdr	mh = { .msg_iov = &iov, .msg_iovlen = 1,
		    .msg_control = cm.buf, .msg_controllen = sizeof(cm.buf) };
		ssize_t		r;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (r == -1 && errno == EINTR)
			continue;
		if (r > 0)
			take_fds(&mh, rfd);
		if (r <= 0)
			return -1;
		if (buf_append(store, tmp, (size_t)r) == -1)
			return -1;
		n -= (size_t)r;
	}
	return 0;
}

/* ipc_sync_recv - blocking frame read; the payload lives in *store. */
int
ipc_sync_recv(int fd, struct ipc_msg *m, struct buf *store, int timeout_ms)
{
	uint16_t	 ver;
	uint32_t	 len;

	buf_reset(store);
	memset(m, 0, sizeof(*m));
	m->fd = -1;
	if (read_full(fd, store, HDR_LEN, timeout_ms, &m->fd) == -1)
		goto fail;
	memcpy(&ver, store->data, 2);
	memcpy(&m->type, store->data + 2, 2);
	memcpy(&len, store->data + 8, 4);
	memcpy(&m->id, store->data + 16, 8);
	if (ver != IPC_VERSION || len > IPC_MAX_PAYLOAD)
		goto fail;
	if (read_full(fd, store, len, timeout_ms, &m->fd) == -1)
		goto fail;
	m->p = (unsigned char *)store->data + HDR_LEN;
	m->len = len;
	return 0;
fail:
	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
	return -1;
}
