/*
 * io.c - socket I/O for the SMTP sessions.  Trust: bytes are the peer's;
 * this layer only moves them, bounded by IO_READ_MAX per read and by the
 * caller's checks on io_input() size.  Written for few system calls per
 * SMTP reply: one read per arrival, one write per flush, and epoll changes
 * only when a socket is full.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "io.h"
#include "log.h"
#include "util.h"

#define IO_READ_MAX	(64 * 1024)

struct io {
	int		 fd;
	struct evbuffer	*in, *out;
	struct event	*rev, *wev;
	io_cb		 cb;
	void		*arg;
	unsigned	 timeout;
	bool		 reading;
};

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

/* write_some - 0 when all is written, 1 when the socket is full, -1. */
static int
write_some(struct io *io)
{
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
	if (io->in == NULL || io->out == NULL || io->rev == NULL ||
	    io->wev == NULL)
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
	evbuffer_free(io->in);
	evbuffer_free(io->out);
	close(io->fd);
	free(io);
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
 * for writability (IO_DRAINED follows), -1 error.  No callback here. */
int
io_flush(struct io *io)
{
	int	r;

	if (event_pending(io->wev, EV_WRITE, NULL))
		return 1;		/* the write event will finish it */
	r = write_some(io);
	if (r == 1) {
		struct timeval	tv = { (time_t)(io->timeout ? io->timeout :
		    300), 0 };

		event_add(io->wev, &tv);	/* a reader that never reads */
	}
	return r;
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
