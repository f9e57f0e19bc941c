/*
 * test_ipc.c - ipc.c on real socketpairs with a real event loop: frames
 * go through whole and in order, descriptors arrive working and are never
 * leaked, a peer that breaks the framing (version, length, a descriptor it
 * did not send, a frame cut short) loses its channel, the getters refuse
 * what is not there, and the blocking calls of the command line tools
 * round trip and time out.  Some tests play the peer by hand on a raw
 * socket to send what ipc.c itself never would.  Waits are bounded by a
 * loop timer or a poll timeout, never by sleeps.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "lib/buf.h"
#include "lib/ipc.h"

#define HDR_LEN		24		/* ipc.c's frame header */
#define FLAG_FD		0x1
#define WAIT_MS		5000		/* a bound; reached only on failure */
#define MANY		1000

/* One message as the handler saw it; the payload is copied out. */
struct got {
	uint16_t	 type;
	uint64_t	 id;
	int		 fd;		/* kept by the handler */
	unsigned char	*p;
	size_t		 len;
};

struct side {
	struct ipc_chan	*chan;
	struct got	*got;
	size_t		 n, cap;
	int		 nclosed;
	bool		 echo;		/* answer each frame with type + 1 */
	bool		 free_in_msg;	/* free the channel in the handler */
	bool		 free_in_close;	/* free the channel in close_cb */
};

struct env {
	struct event_base	*base;
	struct side		 a, b;
	int			 raw;		/* the test as peer, or -1 */
	bool			 timed_out;
};

static void	 on_msg(struct ipc_chan *, struct ipc_msg *, void *);
static void	 on_close(struct ipc_chan *, void *);

static void
on_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	struct side	*s = arg;
	struct got	*g;

	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->got = realloc(s->got, s->cap * sizeof(*s->got));
		assert_non_null(s->got);
	}
	g = &s->got[s->n++];
	g->type = m->type;
	g->id = m->id;
	g->fd = m->fd;
	g->len = m->len;
	g->p = malloc(m->len + 1);
	assert_non_null(g->p);
	memcpy(g->p, m->p, m->len);
	if (s->echo)
		assert_int_equal(ipc_send(c, m->type + 1, m->id, NULL, -1), 0);
	if (s->free_in_msg) {
		ipc_chan_free(c);
		s->chan = NULL;
	}
}

static void
on_close(struct ipc_chan *c, void *arg)
{
	struct side	*s = arg;

	s->nclosed++;
	if (s->free_in_close) {
		ipc_chan_free(c);
		s->chan = NULL;
	}
}

static void
side_free(struct side *s)
{
	ipc_chan_free(s->chan);
	for (size_t i = 0; i < s->n; i++) {
		if (s->got[i].fd != -1)
			close(s->got[i].fd);
		free(s->got[i].p);
	}
	free(s->got);
}

/* setup - two channels, a and b, on the two ends of one socketpair. */
static int
setup(void **state)
{
	struct env	*e = calloc(1, sizeof(*e));
	int		 sv[2];

	assert_non_null(e);
	e->base = event_base_new();
	assert_non_null(e->base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	e->a.chan = ipc_chan_new(e->base, sv[0], PROC_QUEUE, on_msg, on_close,
	    &e->a);
	e->b.chan = ipc_chan_new(e->base, sv[1], PROC_SMTPD, on_msg, on_close,
	    &e->b);
	e->raw = -1;
	*state = e;
	return 0;
}

/* setup_raw - channel b, and a raw socket for the test to play a. */
static int
setup_raw(void **state)
{
	struct env	*e = calloc(1, sizeof(*e));
	int		 sv[2];

	assert_non_null(e);
	e->base = event_base_new();
	assert_non_null(e->base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	e->raw = sv[0];
	e->b.chan = ipc_chan_new(e->base, sv[1], PROC_SMTPD, on_msg, on_close,
	    &e->b);
	*state = e;
	return 0;
}

/* setup_empty - a loop only; the test makes its own sockets. */
static int
setup_empty(void **state)
{
	struct env	*e = calloc(1, sizeof(*e));

	assert_non_null(e);
	e->base = event_base_new();
	assert_non_null(e->base);
	e->raw = -1;
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env	*e = *state;

	side_free(&e->a);
	side_free(&e->b);
	if (e->raw != -1)
		close(e->raw);
	event_base_free(e->base);
	free(e);
	return 0;
}

static void
on_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct env	*e = arg;

	e->timed_out = true;
	event_base_loopbreak(e->base);
}

/* run_until - run the loop until *count >= want; false after WAIT_MS. */
static bool
run_until(struct env *e, const size_t *count, size_t want)
{
	struct timeval	 tv = { WAIT_MS / 1000, (WAIT_MS % 1000) * 1000 };
	struct event	*t = evtimer_new(e->base, on_timeout, e);

	assert_non_null(t);
	evtimer_add(t, &tv);
	e->timed_out = false;
	while (*count < want && !e->timed_out)
		event_base_loop(e->base, EVLOOP_ONCE);
	event_free(t);
	return *count >= want;
}

/* run_until_closed - run the loop until s's close callback has run. */
static bool
run_until_closed(struct env *e, struct side *s)
{
	struct timeval	 tv = { WAIT_MS / 1000, (WAIT_MS % 1000) * 1000 };
	struct event	*t = evtimer_new(e->base, on_timeout, e);

	assert_non_null(t);
	evtimer_add(t, &tv);
	e->timed_out = false;
	while (s->nclosed == 0 && !e->timed_out)
		event_base_loop(e->base, EVLOOP_ONCE);
	event_free(t);
	return s->nclosed > 0;
}

/* run_turn - one loop turn that does not wait: deferred flushes run. */
static void
run_turn(struct env *e)
{
	event_base_loop(e->base, EVLOOP_NONBLOCK);
}

static void
put_hdr(unsigned char *h, uint16_t ver, uint16_t type, uint32_t flags,
    uint32_t len, uint64_t id)
{
	memset(h, 0, HDR_LEN);
	memcpy(h, &ver, 2);
	memcpy(h + 2, &type, 2);
	memcpy(h + 4, &flags, 4);
	memcpy(h + 8, &len, 4);
	memcpy(h + 16, &id, 8);
}

/* raw_send - bytes from the hand-played peer, with fd >= 0 attached. */
static void
raw_send(int sock, const void *p, size_t n, int fd)
{
	struct msghdr	 mh = { 0 };
	struct iovec	 iov = { (void *)p, n };
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	}		 cm;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr	*ch;

		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(ch), &fd, sizeof(int));
	}
	assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)n);
}

/* raw_frame - a header and a payload of len bytes ('x'), in one write. */
static void
raw_frame(int sock, uint16_t ver, uint16_t type, uint32_t flags,
    uint32_t len, int fd)
{
	unsigned char	*f = malloc(HDR_LEN + len);

	assert_non_null(f);
	put_hdr(f, ver, type, flags, len, 1);
	memset(f + HDR_LEN, 'x', len);
	raw_send(sock, f, HDR_LEN + len, fd);
	free(f);
}

/* new_pipe - a pipe whose read end does not block. */
static void
new_pipe(int p[2])
{
	assert_int_equal(pipe(p), 0);
	assert_int_not_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), -1);
}

/* is_orphaned - every write end of the pipe is closed, in this process
 * and in any socket queue: reading gives end of file, not EAGAIN. */
static bool
is_orphaned(int rd)
{
	char	c;

	return read(rd, &c, 1) == 0;
}

/* assert_fd_reaches - a byte written to fd comes out of the pipe at rd. */
static void
assert_fd_reaches(int fd, int rd, char c)
{
	char	got = 0;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, &c, 1), 1);
	assert_int_equal(read(rd, &got, 1), 1);
	assert_int_equal(got, c);
}

/* A frame arrives with its type, request id and payload, and a reply sent
 * from inside the handler comes back with the same id. */
static void
test_round_trip(void **state)
{
	struct env	*e = *state;
	struct buf	 b;
	struct ipc_msg	 m = { 0 };
	size_t		 n;
	const void	*p;

	buf_init(&b, 0);
	ipc_put_u32(&b, 0xdeadbeef);
	ipc_put_u64(&b, UINT64_C(0x0102030405060708));
	ipc_put_str(&b, "bob@example.test");
	ipc_put_bytes(&b, "a\0b", 3);
	e->b.echo = true;
	assert_int_equal(ipc_send(e->a.chan, IPC_RESOLVE,
	    UINT64_C(0xfedcba9876543210), &b, -1), 0);
	assert_int_equal(e->b.n, 0);		/* never inside the send */
	assert_true(run_until(e, &e->a.n, 1));
	assert_int_equal(e->b.n, 1);
	assert_int_equal(e->b.got[0].type, IPC_RESOLVE);
	assert_int_equal(e->b.got[0].id, UINT64_C(0xfedcba9876543210));
	assert_int_equal(e->b.got[0].fd, -1);
	assert_int_equal(e->b.got[0].len, b.len);
	m.p = e->b.got[0].p;
	m.len = e->b.got[0].len;
	assert_int_equal(ipc_get_u32(&m), 0xdeadbeef);
	assert_int_equal(ipc_get_u64(&m), UINT64_C(0x0102030405060708));
	assert_string_equal(ipc_get_str(&m), "bob@example.test");
	p = ipc_get_bytes(&m, &n);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "a\0b", 3);
	assert_true(ipc_msg_ok(&m));
	assert_int_equal(e->a.n, 1);
	assert_int_equal(e->a.got[0].type, IPC_RESOLVE_REPLY);
	assert_int_equal(e->a.got[0].id, UINT64_C(0xfedcba9876543210));
	assert_int_equal(e->a.got[0].len, 0);
	assert_int_equal(ipc_chan_peer(e->b.chan), PROC_SMTPD);
	assert_int_equal(e->a.nclosed + e->b.nclosed, 0);
	buf_free(&b);
}

/* Many frames queued in one loop turn all arrive, in order. */
static void
test_many_in_order(void **state)
{
	struct env	*e = *state;
	struct buf	 b;

	buf_init(&b, 0);
	for (uint32_t i = 0; i < MANY; i++) {
		buf_reset(&b);
		ipc_put_u32(&b, i);
		assert_int_equal(ipc_send(e->a.chan, i % 2 ? IPC_AUTH :
		    IPC_RESOLVE, 1000 + i, &b, -1), 0);
	}
	assert_int_equal(ipc_chan_pending(e->a.chan), MANY * (HDR_LEN + 4));
	assert_true(run_until(e, &e->b.n, MANY));
	assert_int_equal(e->b.n, MANY);
	for (uint32_t i = 0; i < MANY; i++) {
		struct ipc_msg	 m = { .p = e->b.got[i].p,
		    .len = e->b.got[i].len };

		assert_int_equal(e->b.got[i].type, i % 2 ? IPC_AUTH :
		    IPC_RESOLVE);
		assert_int_equal(e->b.got[i].id, 1000 + i);
		assert_int_equal(ipc_get_u32(&m), i);
		assert_true(ipc_msg_ok(&m));
	}
	assert_int_equal(ipc_chan_pending(e->a.chan), 0);
	buf_free(&b);
}

/* Frames queued in one turn leave in one sendmsg: on a SOCK_SEQPACKET
 * pair each sendmsg is one record, so the peer sees one record only. */
static void
test_one_write_per_turn(void **state)
{
	struct env	*e = *state;
	int		 sv[2];
	unsigned char	 rec[50 * HDR_LEN + 1];
	ssize_t		 r;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	e->a.chan = ipc_chan_new(e->base, sv[0], PROC_QUEUE, on_msg, on_close,
	    &e->a);
	e->raw = sv[1];
	for (int i = 0; i < 50; i++)
		assert_int_equal(ipc_send(e->a.chan, IPC_SHUTDOWN, i, NULL, -1),
		    0);
	run_turn(e);
	assert_int_equal(ipc_chan_pending(e->a.chan), 0);
	r = recv(e->raw, rec, sizeof(rec), MSG_DONTWAIT);
	assert_int_equal(r, 50 * HDR_LEN);
	for (int i = 0; i < 50; i++) {
		uint64_t	id;

		memcpy(&id, rec + i * HDR_LEN + 16, 8);
		assert_int_equal(id, i);
	}
	assert_int_equal(recv(e->raw, rec, sizeof(rec), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

/* A payload of exactly IPC_MAX_PAYLOAD goes through, byte for byte. */
static void
test_max_payload(void **state)
{
	struct env	*e = *state;
	struct buf	 b;

	buf_init(&b, 0);
	assert_int_equal(buf_reserve(&b, IPC_MAX_PAYLOAD), 0);
	for (size_t i = 0; i < IPC_MAX_PAYLOAD; i++)
		b.data[i] = (char)(i * 7 % 251);
	b.len = IPC_MAX_PAYLOAD;
	assert_int_equal(ipc_send(e->a.chan, IPC_RELOAD, 5, &b, -1), 0);
	assert_true(run_until(e, &e->b.n, 1));
	assert_int_equal(e->b.got[0].len, IPC_MAX_PAYLOAD);
	assert_memory_equal(e->b.got[0].p, b.data, IPC_MAX_PAYLOAD);
	assert_int_equal(e->b.nclosed, 0);
	buf_free(&b);
}

/* One byte more is a bug in the sender: ipc_send stops the process
 * (ASSERT) rather than send a frame the peer would refuse.  Run in a
 * child, whose stderr (the panic line) is thrown away. */
static void
test_oversized_send_aborts(void **state)
{
	pid_t	pid;
	int	st;

	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		struct event_base	*base = event_base_new();
		struct ipc_chan		*c;
		struct buf		 b;
		int			 sv[2], null;

		null = open("/dev/null", O_WRONLY);
		if (base == NULL || null == -1 || dup2(null, 2) == -1 ||
		    socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
			_exit(2);
		c = ipc_chan_new(base, sv[0], PROC_QUEUE, on_msg, on_close,
		    NULL);
		buf_init(&b, 0);
		if (buf_reserve(&b, IPC_MAX_PAYLOAD + 1) == -1)
			_exit(2);
		memset(b.data, 'x', IPC_MAX_PAYLOAD + 1);
		b.len = IPC_MAX_PAYLOAD + 1;
		ipc_send(c, IPC_RELOAD, 1, &b, -1);
		_exit(0);			/* it was sent: wrong */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGABRT);
}

/* The peer's side of the same bound: a header announcing one byte more
 * closes the channel at once, without waiting for the payload. */
static void
test_oversized_length_from_peer(void **state)
{
	struct env	*e = *state;
	unsigned char	 h[HDR_LEN];

	put_hdr(h, IPC_VERSION, IPC_RELOAD, 0, IPC_MAX_PAYLOAD + 1, 1);
	raw_send(e->raw, h, sizeof(h), -1);
	assert_true(run_until_closed(e, &e->b));
	assert_int_equal(e->b.nclosed, 1);
	assert_int_equal(e->b.n, 0);
	assert_int_equal(ipc_send(e->b.chan, IPC_SHUTDOWN, 0, NULL, -1), -1);
}

/* A good frame, then one of another version: the first is handled, then
 * the channel closes. */
static void
test_wrong_version(void **state)
{
	struct env	*e = *state;

	raw_frame(e->raw, IPC_VERSION, IPC_SHUTDOWN, 0, 0, -1);
	raw_frame(e->raw, IPC_VERSION + 1, IPC_SHUTDOWN, 0, 0, -1);
	assert_true(run_until_closed(e, &e->b));
	assert_int_equal(e->b.n, 1);
	assert_int_equal(e->b.nclosed, 1);
}

/* Types outside the table are framing errors too. */
static void
test_unknown_type(void **state)
{
	static const uint16_t	 bad[] = { 0, IPC_TYPE_MAX, 0xffff };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct env	*e;

		setup_raw((void **)&e);
		raw_frame(e->raw, IPC_VERSION, bad[i], 0, 4, -1);
		assert_true(run_until_closed(e, &e->b));
		assert_int_equal(e->b.n, 0);
		teardown((void **)&e);
	}
	assert_string_equal(ipc_type_str(IPC_RESOLVE), "resolve");
	assert_string_equal(ipc_type_str(0), "unknown");
	assert_string_equal(ipc_type_str(IPC_TYPE_MAX), "unknown");
}

/* The peer goes away halfway through a frame: the channel closes and
 * the half frame is never handed out. */
static void
test_peer_closes_mid_frame(void **state)
{
	struct env	*e = *state;
	unsigned char	 f[HDR_LEN + 10];

	put_hdr(f, IPC_VERSION, IPC_RESOLVE, 0, 100, 1);
	memset(f + HDR_LEN, 'x', 10);
	raw_send(e->raw, f, sizeof(f), -1);
	close(e->raw);
	e->raw = -1;
	assert_true(run_until_closed(e, &e->b));
	assert_int_equal(e->b.n, 0);
	assert_int_equal(e->b.nclosed, 1);
}

/* The header alone, cut short, is no frame either. */
static void
test_peer_closes_mid_header(void **state)
{
	struct env	*e = *state;
	unsigned char	 h[HDR_LEN];

	put_hdr(h, IPC_VERSION, IPC_SHUTDOWN, 0, 0, 1);
	raw_send(e->raw, h, HDR_LEN - 1, -1);
	close(e->raw);
	e->raw = -1;
	assert_true(run_until_closed(e, &e->b));
	assert_int_equal(e->b.n, 0);
}

/* A descriptor sent with a frame arrives with that frame and works; the
 * sender's copy is closed once sent. */
static void
test_fd_passed(void **state)
{
	struct env	*e = *state;
	struct buf	 b;
	int		 p[2];

	new_pipe(p);
	buf_init(&b, 0);
	ipc_put_str(&b, "0123456789ABCDEF");
	assert_int_equal(ipc_send(e->a.chan, IPC_SPOOL_OPEN_REPLY, 9, &b,
	    p[1]), 0);
	assert_true(run_until(e, &e->b.n, 1));
	assert_int_equal(e->b.got[0].type, IPC_SPOOL_OPEN_REPLY);
	assert_fd_reaches(e->b.got[0].fd, p[0], 'k');
	assert_int_not_equal(fcntl(e->b.got[0].fd, F_GETFD) & FD_CLOEXEC, 0);
	close(e->b.got[0].fd);
	e->b.got[0].fd = -1;
	assert_true(is_orphaned(p[0]));		/* no copy left anywhere */
	close(p[0]);
	buf_free(&b);
}

/* Frames with and without descriptors, queued in one turn: each
 * descriptor lands on its own frame, none on the others. */
static void
test_fds_match_frames(void **state)
{
	struct env	*e = *state;
	int		 p[10][2];

	for (int i = 0; i < 20; i++) {
		int	fd = -1;

		if (i % 2 == 0) {
			new_pipe(p[i / 2]);
			fd = p[i / 2][1];
		}
		assert_int_equal(ipc_send(e->a.chan, IPC_DELIVER, i, NULL, fd),
		    0);
	}
	assert_true(run_until(e, &e->b.n, 20));
	for (int i = 0; i < 20; i++) {
		assert_int_equal(e->b.got[i].id, i);
		if (i % 2 == 1) {
			assert_int_equal(e->b.got[i].fd, -1);
			continue;
		}
		assert_fd_reaches(e->b.got[i].fd, p[i / 2][0], (char)('a' + i));
		close(e->b.got[i].fd);
		e->b.got[i].fd = -1;
		assert_true(is_orphaned(p[i / 2][0]));
		close(p[i / 2][0]);
	}
}

/* A descriptor queued but not yet sent is closed when the channel is
 * freed, and one given to a closed channel is closed at once. */
static void
test_unsent_fd_closed(void **state)
{
	struct env	*e = *state;
	int		 p[2], q[2];

	new_pipe(p);
	assert_int_equal(ipc_send(e->a.chan, IPC_DELIVER, 1, NULL, p[1]), 0);
	ipc_chan_free(e->a.chan);
	e->a.chan = NULL;
	assert_true(is_orphaned(p[0]));
	close(p[0]);

	assert_true(run_until_closed(e, &e->b));	/* a went away */
	new_pipe(q);
	assert_int_equal(ipc_send(e->b.chan, IPC_DELIVER, 2, NULL, q[1]), -1);
	assert_true(is_orphaned(q[0]));
	close(q[0]);
}

/* A descriptor that arrived with a frame never completed is not handed
 * to anyone; the channel closes it when it is freed. */
static void
test_unhandled_fd_closed(void **state)
{
	struct env	*e = *state;
	unsigned char	 f[HDR_LEN + 4];
	int		 p[2];

	new_pipe(p);
	put_hdr(f, IPC_VERSION, IPC_SPOOL_OPEN_REPLY, FLAG_FD, 64, 1);
	memset(f + HDR_LEN, 'x', 4);
	raw_send(e->raw, f, sizeof(f), p[1]);
	close(p[1]);
	close(e->raw);
	e->raw = -1;
	assert_true(run_until_closed(e, &e->b));
	assert_int_equal(e->b.n, 0);
	ipc_chan_free(e->b.chan);
	e->b.chan = NULL;
	assert_true(is_orphaned(p[0]));
	close(p[0]);
}

/* A frame that says it carries a descriptor but came without one breaks
 * the accounting: the channel closes rather than hand out a wrong fd. */
static void
test_missing_fd(void **state)
{
	struct env	*e = *state;

	raw_frame(e->raw, IPC_VERSION, IPC_SPOOL_OPEN_REPLY, FLAG_FD, 4, -1);
	assert_true(run_until_closed(e, &e->b));
	assert_int_equal(e->b.n, 0);
}

/* The handler frees its channel on the first of three frames: no more
 * callbacks, the third frame's descriptor is closed, the peer sees the
 * channel go away. */
static void
test_free_in_handler(void **state)
{
	struct env	*e = *state;
	int		 p[2];

	new_pipe(p);
	e->b.free_in_msg = true;
	assert_int_equal(ipc_send(e->a.chan, IPC_RESOLVE, 1, NULL, -1), 0);
	assert_int_equal(ipc_send(e->a.chan, IPC_RESOLVE, 2, NULL, -1), 0);
	assert_int_equal(ipc_send(e->a.chan, IPC_DELIVER, 3, NULL, p[1]), 0);
	assert_true(run_until_closed(e, &e->a));
	assert_int_equal(e->b.n, 1);
	assert_int_equal(e->b.nclosed, 0);
	assert_null(e->b.chan);
	assert_true(is_orphaned(p[0]));
	close(p[0]);
}

/* The close callback may free the channel. */
static void
test_free_in_close(void **state)
{
	struct env	*e = *state;

	e->b.free_in_close = true;
	raw_frame(e->raw, IPC_VERSION + 1, IPC_SHUTDOWN, 0, 0, -1);
	assert_true(run_until_closed(e, &e->b));
	assert_null(e->b.chan);
}

/* Writing to a peer that is gone closes the channel, once, and later
 * sends are refused. */
static void
test_write_to_gone_peer(void **state)
{
	struct env	*e = *state;

	ipc_chan_free(e->b.chan);
	e->b.chan = NULL;
	assert_int_equal(ipc_send(e->a.chan, IPC_RESOLVE, 1, NULL, -1), 0);
	assert_true(run_until_closed(e, &e->a));
	run_turn(e);
	assert_int_equal(e->a.nclosed, 1);
	assert_int_equal(ipc_send(e->a.chan, IPC_RESOLVE, 2, NULL, -1), -1);
}

/* A message over a payload built by hand, as a handler sees one. */
static struct ipc_msg
msg_of(const struct buf *b)
{
	struct ipc_msg	 m = { 0 };

	m.p = (const unsigned char *)b->data;
	m.len = b->len;
	m.fd = -1;
	return m;
}

/* Reading past the end marks the message bad; every later getter gives
 * zero or "" and leaves it bad. */
static void
test_get_past_end(void **state)
{
	struct buf	 b;
	struct ipc_msg	 m;
	size_t		 n;

	buf_init(&b, 0);
	ipc_put_u32(&b, 7);
	m = msg_of(&b);
	assert_int_equal(ipc_get_u32(&m), 7);
	assert_true(ipc_msg_ok(&m));
	assert_int_equal(ipc_get_u64(&m), 0);
	assert_true(m.bad);
	assert_false(ipc_msg_ok(&m));
	assert_int_equal(ipc_get_u32(&m), 0);
	assert_string_equal(ipc_get_str(&m), "");
	assert_non_null(ipc_get_bytes(&m, &n));
	assert_int_equal(n, 0);
	assert_false(ipc_msg_ok(&m));

	buf_reset(&b);			/* three bytes are no u32 */
	buf_append(&b, "abc", 3);
	m = msg_of(&b);
	assert_int_equal(ipc_get_u32(&m), 0);
	assert_false(ipc_msg_ok(&m));

	buf_reset(&b);			/* a length beyond the payload */
	ipc_put_u32(&b, 100);
	buf_append(&b, "abc", 3);
	m = msg_of(&b);
	ipc_get_bytes(&m, &n);
	assert_int_equal(n, 0);
	assert_false(ipc_msg_ok(&m));

	buf_reset(&b);			/* a length that would wrap */
	ipc_put_u32(&b, UINT32_MAX);
	buf_append(&b, "abc", 3);
	m = msg_of(&b);
	ipc_get_bytes(&m, &n);
	assert_int_equal(n, 0);
	assert_false(ipc_msg_ok(&m));
	buf_free(&b);
}

/* Strings must end in their one NUL: no NUL, an inner NUL or a length
 * of zero are refused; NULL is sent as "". */
static void
test_get_str(void **state)
{
	struct buf	 b;
	struct ipc_msg	 m;

	buf_init(&b, 0);
	ipc_put_bytes(&b, "abc", 3);
	m = msg_of(&b);
	assert_string_equal(ipc_get_str(&m), "");
	assert_false(ipc_msg_ok(&m));

	buf_reset(&b);
	ipc_put_bytes(&b, "a\0b", 4);
	m = msg_of(&b);
	assert_string_equal(ipc_get_str(&m), "");
	assert_false(ipc_msg_ok(&m));

	buf_reset(&b);
	ipc_put_bytes(&b, "", 0);
	m = msg_of(&b);
	assert_string_equal(ipc_get_str(&m), "");
	assert_false(ipc_msg_ok(&m));

	buf_reset(&b);
	ipc_put_str(&b, NULL);
	ipc_put_str(&b, "x");
	m = msg_of(&b);
	assert_string_equal(ipc_get_str(&m), "");
	assert_string_equal(ipc_get_str(&m), "x");
	assert_true(ipc_msg_ok(&m));
	buf_free(&b);
}

/* Bytes left over after the last getter: not ok, though nothing read was
 * bad (the sender and receiver disagree on the message). */
static void
test_left_over(void **state)
{
	struct buf	 b;
	struct ipc_msg	 m;

	buf_init(&b, 0);
	ipc_put_u32(&b, 1);
	buf_append(&b, "z", 1);
	m = msg_of(&b);
	assert_int_equal(ipc_get_u32(&m), 1);
	assert_false(m.bad);
	assert_false(ipc_msg_ok(&m));
	buf_free(&b);
}

/* The blocking pair: two frames back to back are read one at a time,
 * each with its type, id and payload. */
static void
test_sync_round_trip(void **state)
{
	struct buf	 b, store;
	struct ipc_msg	 m;
	int		 sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	buf_init(&b, 0);
	buf_init(&store, 0);
	ipc_put_str(&b, "4BF2A9C01E");
	ipc_put_u32(&b, 3);
	assert_int_equal(ipc_sync_send(sv[0], IPC_CTL_HOLD, 42, &b), 0);
	assert_int_equal(ipc_sync_send(sv[0], IPC_CTL_LIST, 43, NULL), 0);
	assert_int_equal(ipc_sync_recv(sv[1], &m, &store, 1000), 0);
	assert_int_equal(m.type, IPC_CTL_HOLD);
	assert_int_equal(m.id, 42);
	assert_int_equal(m.fd, -1);
	assert_string_equal(ipc_get_str(&m), "4BF2A9C01E");
	assert_int_equal(ipc_get_u32(&m), 3);
	assert_true(ipc_msg_ok(&m));
	assert_int_equal(ipc_sync_recv(sv[1], &m, &store, 1000), 0);
	assert_int_equal(m.type, IPC_CTL_LIST);
	assert_int_equal(m.id, 43);
	assert_int_equal(m.len, 0);
	assert_true(ipc_msg_ok(&m));
	close(sv[0]);
	close(sv[1]);
	buf_free(&b);
	buf_free(&store);
}

/* The command line's blocking frames and a daemon's channel understand
 * each other, both ways. */
static void
test_sync_with_chan(void **state)
{
	struct env	*e = *state;
	struct buf	 b, store;
	struct ipc_msg	 m;

	buf_init(&b, 0);
	buf_init(&store, 0);
	ipc_put_str(&b, "");
	assert_int_equal(ipc_sync_send(e->raw, IPC_CTL_FLUSH, 77, &b), 0);
	assert_true(run_until(e, &e->b.n, 1));
	assert_int_equal(e->b.got[0].type, IPC_CTL_FLUSH);
	assert_int_equal(e->b.got[0].id, 77);
	assert_int_equal(e->b.got[0].len, b.len);
	buf_reset(&b);
	ipc_put_u32(&b, 1);
	ipc_put_str(&b, "flushed");
	assert_int_equal(ipc_send(e->b.chan, IPC_CTL_REPLY, 77, &b, -1), 0);
	run_turn(e);
	assert_int_equal(ipc_chan_pending(e->b.chan), 0);
	assert_int_equal(ipc_sync_recv(e->raw, &m, &store, 1000), 0);
	assert_int_equal(m.type, IPC_CTL_REPLY);
	assert_int_equal(m.id, 77);
	assert_int_equal(ipc_get_u32(&m), 1);
	assert_string_equal(ipc_get_str(&m), "flushed");
	assert_true(ipc_msg_ok(&m));
	buf_free(&b);
	buf_free(&store);
}

static long
elapsed_ms(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A silent peer, or one that stops in the middle of a frame: the read
 * gives up after the timeout instead of hanging. */
static void
test_sync_recv_timeout(void **state)
{
	struct buf	 store;
	struct ipc_msg	 m;
	struct timespec	 t0;
	unsigned char	 h[HDR_LEN];
	int		 sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	buf_init(&store, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ipc_sync_recv(sv[1], &m, &store, 50), -1);
	assert_true(elapsed_ms(&t0) >= 40);
	assert_true(elapsed_ms(&t0) < WAIT_MS);

	put_hdr(h, IPC_VERSION, IPC_CTL_REPLY, 0, 10, 1);
	raw_send(sv[0], h, sizeof(h), -1);
	raw_send(sv[0], "abc", 3, -1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(ipc_sync_recv(sv[1], &m, &store, 50), -1);
	assert_true(elapsed_ms(&t0) < WAIT_MS);
	close(sv[0]);
	close(sv[1]);
	buf_free(&store);
}

/* The blocking read refuses what the channel refuses, and stops at the
 * peer's end of file. */
static void
test_sync_recv_refuses(void **state)
{
	struct buf	 store;
	struct ipc_msg	 m;
	unsigned char	 h[HDR_LEN];
	int		 sv[2];

	buf_init(&store, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	put_hdr(h, IPC_VERSION + 1, IPC_CTL_REPLY, 0, 0, 1);
	raw_send(sv[0], h, sizeof(h), -1);
	assert_int_equal(ipc_sync_recv(sv[1], &m, &store, 1000), -1);
	put_hdr(h, IPC_VERSION, IPC_CTL_REPLY, 0, IPC_MAX_PAYLOAD + 1, 1);
	raw_send(sv[0], h, sizeof(h), -1);
	assert_int_equal(ipc_sync_recv(sv[1], &m, &store, 1000), -1);
	close(sv[0]);
	assert_int_equal(ipc_sync_recv(sv[1], &m, &store, 1000), -1);
	close(sv[1]);
	buf_free(&store);
}

/* ipc_sync_send refuses an oversized payload before writing a byte, and
 * a peer gone away is an error to report, not a SIGPIPE. */
static void
test_sync_send_refuses(void **state)
{
	struct buf	 b;
	char		 c;
	int		 sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* Not blocking: a sender that wrote anyway fails here, not hangs. */
	assert_int_not_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), -1);
	buf_init(&b, 0);
	assert_int_equal(buf_reserve(&b, IPC_MAX_PAYLOAD + 1), 0);
	memset(b.data, 'x', IPC_MAX_PAYLOAD + 1);
	b.len = IPC_MAX_PAYLOAD + 1;
	errno = 0;
	assert_int_equal(ipc_sync_send(sv[0], IPC_CTL_SUBMIT, 1, &b), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(recv(sv[1], &c, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);

	close(sv[1]);
	b.len = 100;
	errno = 0;
	assert_int_equal(ipc_sync_send(sv[0], IPC_CTL_SUBMIT, 1, &b), -1);
	assert_int_equal(errno, EPIPE);
	close(sv[0]);
	buf_free(&b);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
#define R(f)	cmocka_unit_test_setup_teardown(f, setup_raw, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_round_trip),
		T(test_many_in_order),
		cmocka_unit_test_setup_teardown(test_one_write_per_turn,
		    setup_empty, teardown),
		T(test_max_payload),
		cmocka_unit_test(test_oversized_send_aborts),
		R(test_oversized_length_from_peer),
		R(test_wrong_version),
		cmocka_unit_test(test_unknown_type),
		R(test_peer_closes_mid_frame),
		R(test_peer_closes_mid_header),
		T(test_fd_passed),
		T(test_fds_match_frames),
		T(test_unsent_fd_closed),
		R(test_unhandled_fd_closed),
		R(test_missing_fd),
		T(test_free_in_handler),
		R(test_free_in_close),
		T(test_write_to_gone_peer),
		cmocka_unit_test(test_get_past_end),
		cmocka_unit_test(test_get_str),
		cmocka_unit_test(test_left_over),
		cmocka_unit_test(test_sync_round_trip),
		R(test_sync_with_chan),
		cmocka_unit_test(test_sync_recv_timeout),
		cmocka_unit_test(test_sync_recv_refuses),
		cmocka_unit_test(test_sync_send_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
