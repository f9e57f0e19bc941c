/*
 * buf.h - growable byte buffer with a hard ceiling; no I/O.
 * The data is always NUL-terminated after len, so text can be used as a
 * C string, but the buffer itself is binary-safe.
 */
#ifndef POSTBOTE_BUF_H
#define POSTBOTE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char	*data;		/* owned; NUL kept after len; NULL until used */
	size_t	 len, cap;
	size_t	 max;		/* growth past this fails with ENOBUFS; 0 = none */
};

void	 buf_init(struct buf *, size_t max);
void	 buf_free(struct buf *);
void	 buf_reset(struct buf *);
int	 buf_reserve(struct buf *, size_t extra);
int	 buf_append(struct buf *, const void *, size_t);
int	 buf_puts(struct buf *, const char *);
int	 buf_putc(struct buf *, char);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 buf_vprintf(struct buf *, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
/* buf_consume - drop the first n bytes. */
void	 buf_consume(struct buf *, size_t n);
/* buf_steal - hand the data (NUL-terminated) to the caller; buf is reset. */
char	*buf_steal(struct buf *, size_t *lenp);
const char *buf_cstr(struct buf *);

/*
 * buf_read_file - the whole regular file at path into b (reset first), at
 * most max bytes.  It reads straight into b, sized from fstat, so a secret
 * (a private key) is left in no other buffer: the caller wipes b.  0, or
 * -1 with errno (EFBIG: over max; EINVAL: not a regular file).
 */
int	 buf_read_file(struct buf *b, const char *path, size_t max);

#endif
