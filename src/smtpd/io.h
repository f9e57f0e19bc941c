/*
 * io.h - buffered, non-blocking socket I/O on a libevent loop, without
 * per-reply event churn: input is read straight into an evbuffer; output is
 * written directly when io_flush() is called and only falls back to a
 * write event when the socket is full.  One callback reports input, a
 * drained output, end of file, errors and the inactivity timeout.
 */
#ifndef POSTBOTE_IO_H
#define POSTBOTE_IO_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evbuffer;
struct io;

enum io_event {
	IO_DATAIN = 1,		/* new bytes in io_input() */
	IO_DRAINED,		/* output written, after io_flush returned 1 */
	IO_EOF,			/* the peer closed its side */
	IO_ERROR,		/* read or write failed; errno-like in io */
	IO_TIMEOUT,		/* no input for the timeout */
	IO_TLS_READY,		/* io_starttls: the handshake is done */
};

struct ssl_ctx_st;

typedef void (*io_cb)(struct io *, enum io_event, void *arg);

/* io_new - take ownership of a connected non-blocking socket. */
struct io *io_new(struct event_base *, int fd, io_cb, void *arg);
/* io_free - close the socket and free the buffers. */
void	 io_free(struct io *);
/* io_linger - io_free once the peer has stopped sending (its EOF, or secs
 * seconds), our side shut down after the output: a close with unread
 * input would make the kernel reset the connection and the peer lose the
 * last replies.  The output must be written (io_flush returned 0); no
 * callback comes any more. */
void	 io_linger(struct io *, unsigned secs);
int	 io_fd(const struct io *);
struct evbuffer *io_input(struct io *);
/* io_output - queued output; add to it, then io_flush. */
struct evbuffer *io_output(struct io *);
/* io_write / io_printf - queue output; nothing is sent until io_flush. */
void	 io_write(struct io *, const void *, size_t);
void	 io_printf(struct io *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* io_flush - write queued output now: 0 all written, 1 the rest waits
 * for writability (then IO_DRAINED), -1 error.  Never calls back. */
int	 io_flush(struct io *);
/* io_drained_later - after io_flush returned 0: report IO_DRAINED at the
 * next turn of the loop anyway (the caller stopped at its output ceiling
 * and resumes there). */
void	 io_drained_later(struct io *);
size_t	 io_pending(const struct io *);
/* io_reading - start or stop reading (e.g. while input is too large). */
void	 io_reading(struct io *, bool);
/* io_timeout - inactivity timeout for reading, in seconds (0 = none). */
void	 io_timeout(struct io *, unsigned);

/* io_starttls - become the TLS server on this socket with ctx (the SSL
 * takes its own reference).  Input and output must be empty.  Then
 * IO_TLS_READY, or IO_ERROR with io_tls_error() set.  0, or -1 with
 * io_tls_error() set (no callback). */
int	 io_starttls(struct io *, struct ssl_ctx_st *);
/* io_is_tls - io_starttls was called (the handshake may still run). */
bool	 io_is_tls(const struct io *);
/* io_tls_error - why TLS failed ("" if it did not). */
const char *io_tls_error(const struct io *);
/* The negotiated protocol ("TLSv1.3"), cipher (OpenSSL's name) and the
 * client's SNI name ("" if none); valid until io_free. */
const char *io_tls_version(const struct io *);
const char *io_tls_cipher(const struct io *);
const char *io_tls_servername(const struct io *);

#endif
