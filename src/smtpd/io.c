/*
 * io.c - socket I/O for the SMTP sessions.  Trust: bytes are the peer's;
 * this layer only moves them, bounded by IO_READ_MAX per read and by the
 * caller's checks on io_input() size.  Written for few system calls per
 * SMTP reply: one read per arrival, one write per flush, and epoll changes
 * only when a socket is full.
 *
 * TLS (io_starttls) runs OpenSSL on the same socket and the same two
 * events: the handshake is driven from them, SSL_read fills the input
 * evbuffer and SSL_write drains the output.  The plaintext path only pays
 * one pointer test.  The session owns its SSL here; the SSL holds its own
 * reference to the SSL_CTX, so a reload never frees one in use.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "smtpd/io.h"
#include "lib/log.h"
#include "common/tls.h"
#include "lib/util.h"

#define IO_READ_MAX	(64 * 1024)
#define TLS_RECORD	16384		/* one record's plaintext */
#define LINGER_MAX	1024		/* sockets lingering at a time */

struct io {
	int		 fd;
	struct evbuffer	*in, *out;
	struct event	*rev, *wev;
	struct event	*later;		/* io_drained_later */
	io_cb		 cb;
	void		*arg;
	unsigned	 timeout;
	bool		 reading;
	SSL		*ssl;		/* NULL: plaintext */
	bool		 handshaking;
	bool		 read_wants_write;	/* SSL_read needs writability */
	bool		 tls_eof;	/* close_notify or EOF after data */
	bool		 lingering;	/* io_linger: dropping input */
	char		 tls_err[256];	/* why TLS failed; "" if it did not */
};

static unsigned	 nlinger;		/* sockets lingering now */

static void	 tls_on_read(struct io *);
static void	 tls_handshake(struct io *);
static void	 on_later(evutil_socket_t, short, void *);
static void	 on_linger(evutil_socket_t, short, void *);
static void	 on_linger_end(evutil_socket_t, short, void *);
static void	 tls_close(struct io *);

static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct io		*io = arg;
	struct evbuffer_iovec	 v;
	ssize_t			 n;

	if (what & EV_TIMEOUT) {
		io->cb(io, IO_TIMEOUT, io->arg);
		return;
	}
	if (io->ssl != NULL) {
		tls_on_read(io);
		return;
	}
	if (evbuffer_reserve_space(io->in, IO_READ_MAX, &v, 1) < 1)
		fatalx("io: out of memory");
	n = read(io->fd, v.iov_base, MIN(v.iov_len, IO_READ_MAX));
	if (n > 0) {
		v.iov_len = (size_t)n;
		evbuffer_commit_space(io->in, &v, 1);
		io->cb(io, IO_DATAIN, io->arg);
	} else if (n == 0) {
		evbuffer_commit_space(io->in, &v, 0);
		io_reading(io, false);
		io->cb(io, IO_EOF, io->arg);
	} else {
		evbuffer_commit_space(io->in, &v, 0);
		if (errno == EAGAIN || errno == EINTR)
			return;
		io_reading(io, false);
		io->cb(io, IO_ERROR, io->arg);
	}
}

static int	 tls_write_some(struct io *);

/* write_some - 0 when all is written, 1 when the socket is full, -1. */
static int
write_some(struct io *io)
{
	if (io->ssl != NULL)
		return tls_write_some(io);
	while (evbuffer_get_length(io->out) > 0) {
		int n = evbuffer_write(io->out, io->fd);

		if (n > 0)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 1;
		return -1;
	}
	return 0;
}

static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct io	*io = arg;
	int		 r;

	if (what & EV_TIMEOUT) {
		/* The peer has not read its replies for a whole timeout. */
		event_del(io->wev);
		io->cb(io, IO_ERROR, io->arg);
		return;
	}
	if (io->ssl != NULL && io->handshaking) {
		event_del(io->wev);
		tls_handshake(io);
		return;
	}
	if (io->read_wants_write) {
		/* SSL_read could not send (a key update): read again now. */
		io->read_wants_write = false;
		event_active(io->rev, EV_READ, 1);
		if (evbuffer_get_length(io->out) == 0) {
			event_del(io->wev);
			return;
		}
	}
	if ((r = write_some(io)) == 1)
		return;
	event_del(io->wev);
	io->cb(io, r == 0 ? IO_DRAINED : IO_ERROR, io->arg);
}

struct io *
io_new(struct event_base *base, int fd, io_cb cb, void *arg)
{
	struct io	*io = xcalloc(1, sizeof(*io));

	/* The socket is non-blocking already (evconnlistener makes it so). */
	io->fd = fd;
	io->cb = cb;
	io->arg = arg;
	io->in = evbuffer_new();
	io->out = evbuffer_new();
	io->rev = event_new(base, fd, EV_READ | EV_PERSIST, on_read, io);
	io->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, on_write, io);
	io->later = event_new(base, -1, 0, on_later, io);
	if (io->in == NULL || io->out == NULL || io->rev == NULL ||
	    io->wev == NULL || io->later == NULL)
		fatalx("io: out of memory");
	return io;
}

void
io_free(struct io *io)
{
	if (io == NULL)
		return;
	event_free(io->rev);
	event_free(io->wev);
	event_free(io->later);
	if (io->lingering)
		nlinger--;
	tls_close(io);
	evbuffer_free(io->in);
	evbuffer_free(io->out);
	close(io->fd);
	free(io);
}

/* tls_close - close_notify, best effort: the socket closes right after
 * (or only drops what comes, io_linger). */
static void
tls_close(struct io *io)
{
	if (io->ssl == NULL)
		return;
	if (!io->handshaking && io->tls_err[0] == '\0')
		SSL_shutdown(io->ssl);
	SSL_free(io->ssl);
	io->ssl = NULL;
	ERR_clear_error();
}

/*
 * io_linger - free io once its output is written (io_flush returned 0),
 * without losing that output.  A socket closed with unread input makes
 * the kernel answer RST, and a client still sending pipelined commands
 * then loses the last replies it had not read yet: the 421 that says why
 * the session ends.  So our side is shut down (FIN after the replies)
 * and what the peer still sends is read and dropped until its EOF or
 * secs seconds, then the socket is closed.  No callback comes any more.
 * Past LINGER_MAX lingering sockets, io is freed at once.
 */
void
io_linger(struct io *io, unsigned secs)
{
	struct event_base	*base = event_get_base(io->rev);
	struct timeval		 tv = { (time_t)secs, 0 };

	if (nlinger >= LINGER_MAX || evbuffer_get_length(io->out) > 0) {
		io_free(io);
		return;
	}
	tls_close(io);
	nlinger++;
	io->lingering = true;
	event_del(io->rev);
	event_del(io->wev);
	event_del(io->later);
	evbuffer_drain(io->in, evbuffer_get_length(io->in));
	if (shutdown(io->fd, SHUT_WR) == -1) {
		io_free(io);
		return;
	}
	event_assign(io->rev, base, io->fd, EV_READ | EV_PERSIST, on_linger,
	    io);
	event_assign(io->later, base, -1, 0, on_linger_end, io);
	event_add(io->rev, NULL);
	evtimer_add(io->later, &tv);
}

static void
on_linger(evutil_socket_t fd, short what, void *arg)
{
	struct io	*io = arg;
	char		 drop[16384];
	ssize_t		 n = read(fd, drop, sizeof(drop));

	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
		io_free(io);		/* the peer's EOF, or its reset */
}

static void
on_linger_end(evutil_socket_t fd, short what, void *arg)
{
	io_free(arg);
}

int
io_fd(const struct io *io)
{
	return io->fd;
}

struct evbuffer *
io_input(struct io *io)
{
	return io->in;
}

struct evbuffer *
io_output(struct io *io)
{
	return io->out;
}

void
io_write(struct io *io, const void *p, size_t n)
{
	if (evbuffer_add(io->out, p, n) == -1)
		fatalx("io: out of memory");
}

void
io_printf(struct io *io, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(io->out, fmt, ap) == -1)
		fatalx("io: out of memory");
	va_end(ap);
}

/* io_flush - try to send everything now: 0 all sent, 1 the rest waits
 * for writability (IO_DRAINED follows), -1 error.  No callback here.
 * The log lines waiting for the end of the turn go first, unless only
 * ended sessions' lines wait: a client that has its reply finds the line
 * about it in the log (lib/log.h). */
int
io_flush(struct io *io)
{
	int	r;

	if (event_pending(io->wev, EV_WRITE, NULL))
		return 1;		/* the write event will finish it */
	if (evbuffer_get_length(io->out) > 0)
		log_flush_unheld();
	r = write_some(io);
	if (r == 1) {
		struct timeval	tv = { (time_t)(io->timeout ? io->timeout :
		    300), 0 };

		event_add(io->wev, &tv);	/* a reader that never reads */
	}
	return r;
}

/*
 * io_drained_later - IO_DRAINED at the next turn of the loop.  A caller
 * that stopped producing output at its ceiling waits for IO_DRAINED; when
 * io_flush wrote everything at once (the peer reads quickly) no write
 * event ever comes, and without this the caller would wait for input that
 * the peer already sent.  The next turn, not now: other connections get
 * their turn between two batches of replies.
 */
void
io_drained_later(struct io *io)
{
	if (!event_pending(io->later, EV_TIMEOUT, NULL))
		event_active(io->later, EV_TIMEOUT, 1);
}

static void
on_later(evutil_socket_t fd, short what, void *arg)
{
	struct io	*io = arg;

	/* A write still waiting for the socket reports IO_DRAINED itself. */
	if (event_pending(io->wev, EV_WRITE, NULL))
		return;
	io->cb(io, IO_DRAINED, io->arg);
}

size_t
io_pending(const struct io *io)
{
	return evbuffer_get_length(io->out);
}

void
io_reading(struct io *io, bool on)
{
	struct timeval	tv = { (time_t)io->timeout, 0 };

	if (on == io->reading)
		return;
	io->reading = on;
	if (on)
		event_add(io->rev, io->timeout ? &tv : NULL);
	else
		event_del(io->rev);
	/* Plaintext OpenSSL holds already gives no socket event. */
	if (on && io->ssl != NULL && !io->handshaking &&
	    (io->tls_eof || SSL_has_pending(io->ssl)))
		event_active(io->rev, EV_READ, 1);
}

void
io_timeout(struct io *io, unsigned secs)
{
	struct timeval	tv = { (time_t)secs, 0 };

	if (secs == io->timeout)
		return;
	io->timeout = secs;
	if (io->reading)
		event_add(io->rev, secs ? &tv : NULL);
}

/* ---- TLS ---- */

/* tls_failed - remember why, stop, and report IO_ERROR (may free io). */
static void
tls_failed(struct io *io, int ret, const char *when)
{
	int	e = SSL_get_error(io->ssl, ret);
	int	en = errno;

	if (e == SSL_ERROR_SSL)
		snprintf(io->tls_err, sizeof(io->tls_err), "%s: %s", when,
		    tls_error_string());
	else if (e == SSL_ERROR_SYSCALL && en != 0)
		snprintf(io->tls_err, sizeof(io->tls_err), "%s: %s", when,
		    strerror(en));
	else
		snprintf(io->tls_err, sizeof(io->tls_err), "%s: connection "
		    "closed", when);
	ERR_clear_error();
	io_reading(io, false);
	event_del(io->wev);
	io->cb(io, IO_ERROR, io->arg);
}

static void
tls_handshake(struct io *io)
{
	int	r;

	ERR_clear_error();
	errno = 0;
	if ((r = SSL_do_handshake(io->ssl)) == 1) {
		io->handshaking = false;
		io->cb(io, IO_TLS_READY, io->arg);
		return;
	}
	switch (SSL_get_error(io->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return;			/* the read event calls again */
	case SSL_ERROR_WANT_WRITE: {
		struct timeval	tv = { (time_t)(io->timeout ? io->timeout :
		    300), 0 };

		event_add(io->wev, &tv);
		return;
	}
	default:
		tls_failed(io, r, "handshake");
	}
}

/* tls_on_read - at most IO_READ_MAX bytes of plaintext per event. */
static void
tls_on_read(struct io *io)
{
	struct evbuffer_iovec	 v;
	size_t			 total = 0;
	int			 r = 0, e = SSL_ERROR_NONE;

	if (io->handshaking) {
		tls_handshake(io);
		return;
	}
	if (io->tls_eof) {
		io_reading(io, false);
		io->cb(io, IO_EOF, io->arg);
		return;
	}
	while (total < IO_READ_MAX) {
		if (evbuffer_reserve_space(io->in, TLS_RECORD, &v, 1) < 1)
			fatalx("io: out of memory");
		ERR_clear_error();
		errno = 0;
		r = SSL_read(io->ssl, v.iov_base, (int)MIN(v.iov_len,
		    TLS_RECORD));
		if (r <= 0) {
			evbuffer_commit_space(io->in, &v, 0);
			e = SSL_get_error(io->ssl, r);
			break;
		}
		v.iov_len = (size_t)r;
		evbuffer_commit_space(io->in, &v, 1);
		total += (size_t)r;
	}
	if (total >= IO_READ_MAX && SSL_has_pending(io->ssl))
		event_active(io->rev, EV_READ, 1);	/* no socket event */
	switch (e) {
	case SSL_ERROR_NONE:
	case SSL_ERROR_WANT_READ:
		break;
	case SSL_ERROR_WANT_WRITE:
		io->read_wants_write = true;
		if (!event_pending(io->wev, EV_WRITE, NULL)) {
			struct timeval	tv = { 300, 0 };

			event_add(io->wev, &tv);
		}
		break;
	case SSL_ERROR_ZERO_RETURN:
		io->tls_eof = true;
		if (total > 0) {
			event_active(io->rev, EV_READ, 1);	/* EOF next */
			break;
		}
		io_reading(io, false);
		io->cb(io, IO_EOF, io->arg);
		return;
	default:
		tls_failed(io, r, "read");
		return;
	}
	if (total > 0)
		io->cb(io, IO_DATAIN, io->arg);
}

/* tls_write_some - one record per SSL_write, from contiguous bytes. */
static int
tls_write_some(struct io *io)
{
	size_t	len;

	if (io->tls_err[0] != '\0')
		return -1;
	if (evbuffer_get_length(io->out) == 0)
		return 0;
	if (io->handshaking)
		return 1;		/* not before the handshake is done */
	while ((len = evbuffer_get_length(io->out)) > 0) {
		size_t		 n = MIN(len, TLS_RECORD);
		unsigned char	*p = evbuffer_pullup(io->out, (ssize_t)n);
		int		 r, e;

		ERR_clear_error();
		errno = 0;
		if ((r = SSL_write(io->ssl, p, (int)n)) > 0) {
			evbuffer_drain(io->out, (size_t)r);
			continue;
		}
		if ((e = SSL_get_error(io->ssl, r)) == SSL_ERROR_WANT_WRITE)
			return 1;
		snprintf(io->tls_err, sizeof(io->tls_err), "write: %s",
		    e == SSL_ERROR_SSL ? tls_error_string() :
		    e == SSL_ERROR_SYSCALL && errno != 0 ? strerror(errno) :
		    "connection closed");
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* io_starttls - switch to TLS as the server; the handshake runs on the
 * events and ends in IO_TLS_READY or IO_ERROR (io_tls_error says why).
 * Nothing may be buffered either way (RFC 3207 5; CVE-2011-0411). */
int
io_starttls(struct io *io, SSL_CTX *ctx)
{
	ASSERT(io->ssl == NULL && evbuffer_get_length(io->in) == 0 &&
	    evbuffer_get_length(io->out) == 0);
	if ((io->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_fd(io->ssl, io->fd) != 1) {
		snprintf(io->tls_err, sizeof(io->tls_err), "SSL_new: %s",
		    tls_error_string());
		return -1;
	}
	SSL_set_accept_state(io->ssl);
	io->handshaking = true;
	io_reading(io, true);
	return 0;
}

bool
io_is_tls(const struct io *io)
{
	return io->ssl != NULL;
}

const char *
io_tls_error(const struct io *io)
{
	return io->tls_err;
}

const char *
io_tls_version(const struct io *io)
{
	return io->ssl != NULL ? SSL_get_version(io->ssl) : "";
}

const char *
io_tls_cipher(const struct io *io)
{
	const SSL_CIPHER	*c = io->ssl != NULL ?
	    SSL_get_current_cipher(io->ssl) : NULL;

	return c != NULL ? SSL_CIPHER_get_name(c) : "";
}

const char *
io_tls_servername(const struct io *io)
{
	const char	*n = io->ssl != NULL ? SSL_get_servername(io->ssl,
	    TLSEXT_NAMETYPE_host_name) : NULL;

	return n != NULL ? n : "";
}
