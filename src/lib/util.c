/*
 * util.c - allocation wrappers, checked arithmetic helpers, string helpers,
 * the string hash, and reading and writing whole files.  Runs in every
 * process.  Trusts nothing: sizes are checked before use; out of memory
 * is an environment failure and exits through fatalx().
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

void
util_assert_fail(const char *expr, const char *file, int line)
{
	log_panic("assertion failed: %s at %s:%d", expr, file, line);
}

void *
xmalloc(size_t n)
{
	void	*p;

	if (n == 0)
		n = 1;
	if ((p = malloc(n)) == NULL)
		fatalx("out of memory (%zu bytes)", n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p;

	if (nmemb == 0 || size == 0)
		nmemb = size = 1;
	if ((p = calloc(nmemb, size)) == NULL)
		fatalx("out of memory (%zu x %zu bytes)", nmemb, size);
	return p;
}

void *
xreallocarray(void *old, size_t nmemb, size_t size)
{
	size_t	 n;
	void	*p;

	if (ckd_mul(&n, nmemb, size))
		fatalx("allocation size overflow (%zu x %zu)", nmemb, size);
	if (n == 0)
		n = 1;
	if ((p = realloc(old, n)) == NULL)
		fatalx("out of memory (%zu bytes)", n);
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	size_t	 len = strnlen(s, n);
	char	*p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatalx("out of memory in xasprintf");
	return n;
}

size_t
str_copy(char *dst, const char *src, size_t size)
{
	size_t	 len = strlen(src);

	if (size > 0) {
		size_t	 n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

char *
str_lower(char *s)
{
	for (char *p = s; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return s;
}

static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

bool
str_ieq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (lower((unsigned char)*a) != lower((unsigned char)*b))
			return false;
	return *a == *b;
}

bool
str_iprefix(const char *s, const char *prefix)
{
	for (; *prefix != '\0'; s++, prefix++)
		if (*s == '\0' ||
		    lower((unsigned char)*s) != lower((unsigned char)*prefix))
			return false;
	return true;
}

#define FNV32_BASIS	2166136261u
#define FNV32_PRIME	16777619u
#define FNV64_BASIS	14695981039346656037ULL
#define FNV64_PRIME	1099511628211ULL

uint32_t
str_hash(const char *s)
{
	uint32_t	h = FNV32_BASIS;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * FNV32_PRIME;
	return h;
}

uint32_t
str_ihash(const char *s)
{
	uint32_t	h = FNV32_BASIS;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)lower((unsigned char)*s)) *
		    FNV32_PRIME;
	return h;
}

uint64_t
str_hash_bytes(const void *p, size_t len)
{
	const unsigned char	*s = p;
	uint64_t		 h = FNV64_BASIS;

	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * FNV64_PRIME;
	return h;
}

/* util_write_all - see util.h. */
int
util_write_all(int fd, const void *p, size_t n)
{
	const char	*s = p;
	ssize_t		 w;

	while (n > 0) {
		w = write(fd, s, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

uint64_t
now_usec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
now_mono_usec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
