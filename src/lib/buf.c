/*
 * buf.c - growable byte buffer with a hard ceiling (struct buf).
 * Used in every process for text and records that are not socket I/O,
 * and for reading whole files (the config, tables and keys).
 * Growth is checked for overflow and against buf->max; a failed append
 * leaves the buffer as it was and returns -1 with errno set.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/util.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

int
buf_reserve(struct buf *b, size_t extra)
{
	size_t	 need, ncap;

	if (ckd_add(&need, b->len, extra) || ckd_add(&need, need, 1) ||
	    (b->max != 0 && need - 1 > b->max)) {
		errno = ENOBUFS;
		return -1;
	}
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		if (ckd_mul(&ncap, ncap, 2)) {
			ncap = need;
			break;
		}
	b->data = xreallocarray(b->data, ncap, 1);
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list	 ap2;
	int	 n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_reserve(b, (size_t)n) == -1)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

char *
buf_steal(struct buf *b, size_t *lenp)
{
	char	*p;

	if (b->data == NULL && buf_reserve(b, 0) == -1)
		return NULL;
	p = b->data;
	if (lenp != NULL)
		*lenp = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

const char *
buf_cstr(struct buf *b)
{
	if (b->data == NULL)
		return "";
	return b->data;
}

/* buf_read_file - see buf.h. */
int
buf_read_file(struct buf *b, const char *path, size_t max)
{
	struct stat	st;
	ssize_t		r;
	char		c;
	int		fd, e = 0;

	buf_reset(b);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = EINVAL;
	else if ((uint64_t)st.st_size > max)
		e = EFBIG;
	/* One reservation from the size: no realloc leaves a copy behind. */
	else if (buf_reserve(b, (size_t)st.st_size) == -1)
		e = errno;
	while (e == 0) {
		size_t	room = b->cap - 1 - b->len;

		if (room > 0)
			r = read(fd, b->data + b->len, room);
		else			/* full: at the end, or did it grow? */
			r = read(fd, &c, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			e = r == 0 ? 0 : errno;
			break;
		}
		if (room == 0 && buf_append(b, &c, 1) == -1)
			e = errno;
		else if (room > 0)
			b->len += (size_t)r;
		if (b->len > max)
			e = EFBIG;
	}
	close(fd);
	if (e != 0) {
		errno = e;
		return -1;
	}
	if (b->data != NULL)
		b->data[b->len] = '\0';
	return 0;
}
