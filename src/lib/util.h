/*
 * util.h - allocation that exits on failure, checked size arithmetic,
 * always-on assertions, small string helpers, the one string hash, and
 * writing all of a buffer.  Mail-agnostic.
 */
#ifndef POSTBOTE_UTIL_H
#define POSTBOTE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#ifndef MIN
#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))
#endif

/* Checked arithmetic (C23 ckd_* shape): true means it overflowed. */
#define ckd_add(r, a, b)	__builtin_add_overflow((a), (b), (r))
#define ckd_sub(r, a, b)	__builtin_sub_overflow((a), (b), (r))
#define ckd_mul(r, a, b)	__builtin_mul_overflow((a), (b), (r))

/* ASSERT - a bug check, always compiled in; panics with file and line. */
#define ASSERT(e) \
	do { if (!(e)) util_assert_fail(#e, __FILE__, __LINE__); } while (0)

void	 util_assert_fail(const char *, const char *, int)
	    __attribute__((noreturn));

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* str_copy - strlcpy semantics: returns strlen(src); >= size means cut. */
size_t	 str_copy(char *, const char *, size_t);
/* str_lower - ASCII lower-case in place; returns its argument. */
char	*str_lower(char *);
/* str_casecmp_n - ASCII-only case-insensitive compare of n bytes. */
bool	 str_ieq(const char *, const char *);
bool	 str_iprefix(const char *s, const char *prefix);
/*
 * str_hash / str_hash_bytes / str_ihash - FNV-1a, for hash tables (not
 * for secrets): of a string, of len bytes, and of a string with ASCII
 * letters folded to lower case (domain names).
 */
uint32_t str_hash(const char *);
uint64_t str_hash_bytes(const void *, size_t len);
uint32_t str_ihash(const char *);

/* util_write_all - write all n bytes, retrying short writes and EINTR;
 * 0, or -1 with errno (EIO for a write of 0 bytes). */
int	 util_write_all(int fd, const void *p, size_t n);

/* now_usec / now_mono_usec - wall clock and monotonic clock in µs. */
uint64_t now_usec(void);
uint64_t now_mono_usec(void);

#endif
