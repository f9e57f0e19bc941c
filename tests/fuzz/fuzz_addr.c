/*
 * fuzz_addr.c - libFuzzer target for addr.c.  The low three bits of the
 * first input byte are the ADDR_F_* flags (so '0'..'7' in a readable seed);
 * the rest, cut at its first NUL, is copied into a heap block of exactly
 * its size, so ASan catches any read past the terminator.  Each accepted
 * address must keep the limits, have a lower-case domain, be ASCII unless
 * ADDR_F_UTF8, and survive the round trip parse(format(x)) == x through
 * both addr_parse_path() and addr_parse().  Any violation aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/addr.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX	2048

static void	 violation(const char *, const char *);
static bool	 same(const struct mailaddr *, const struct mailaddr *);
static void	 check_addr(const struct mailaddr *, unsigned, const char *);
static void	 round_trip(const struct mailaddr *, unsigned, const char *);

static void
violation(const char *what, const char *in)
{
	fprintf(stderr, "fuzz_addr: %s: \"%s\"\n", what, in);
	abort();
}

static bool
same(const struct mailaddr *a, const struct mailaddr *b)
{
	return strcmp(a->local, b->local) == 0 &&
	    strcmp(a->domain, b->domain) == 0;
}

/* check_addr - invariants of an address the parser accepted. */
static void
check_addr(const struct mailaddr *a, unsigned flags, const char *in)
{
	size_t	 ll = strnlen(a->local, sizeof(a->local));
	size_t	 dl = strnlen(a->domain, sizeof(a->domain));

	if (ll > ADDR_LOCAL_MAX || dl > ADDR_DOMAIN_MAX)
		violation("part too long", in);
	if (!(flags & ADDR_F_UTF8) && !addr_is_ascii(a))
		violation("non-ASCII without ADDR_F_UTF8", in);
	if (a->domain[0] == '[') {
		if (!addr_helo_check(a->domain))
			violation("literal fails addr_helo_check", in);
		return;
	}
	for (const char *c = a->domain; *c != '\0'; c++)
		if (*c >= 'A' && *c <= 'Z')
			violation("domain not lower-cased", in);
	if (dl > 0 && !addr_domain_check(a->domain, flags & ADDR_F_UTF8))
		violation("domain fails addr_domain_check", in);
	if (dl == 0 && !addr_is_null(a) &&
	    strcmp(a->local, "Postmaster") != 0)
		violation("empty domain that is not Postmaster", in);
}

/* round_trip - format a, parse it back both ways, expect a again. */
static void
round_trip(const struct mailaddr *a, unsigned flags, const char *in)
{
	char		 text[ADDR_TEXT_MAX], path[ADDR_TEXT_MAX + 2];
	struct mailaddr	 b;
	const char	*end = NULL;
	size_t		 n;

	n = addr_format(a, text, sizeof(text));
	if (n >= sizeof(text) || strlen(text) != n)
		violation("addr_format length", in);
	path[0] = '<';
	memcpy(path + 1, text, n);
	path[n + 1] = '>';
	path[n + 2] = '\0';
	if (addr_parse_path(path, flags, &b, &end) != ADDR_OK ||
	    !same(a, &b) || end != path + n + 2)
		violation("path round trip", in);
	if (addr_parse(text, flags, &b) != ADDR_OK || !same(a, &b))
		violation("bare round trip", in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mailaddr	 a;
	const char	*end = NULL;
	unsigned	 flags;
	size_t		 len;
	char		*s;

	if (size < 1 || size > FUZZ_MAX)
		return 0;
	flags = data[0] & (ADDR_F_NULL | ADDR_F_UTF8 | ADDR_F_POSTMASTER);
	len = strnlen((const char *)data + 1, size - 1);
	if ((s = malloc(len + 1)) == NULL)
		return 0;
	memcpy(s, data + 1, len);
	s[len] = '\0';

	if (addr_parse_path(s, flags, &a, &end) == ADDR_OK) {
		if (end == NULL || end <= s || end > s + len || end[-1] != '>')
			violation("bad end pointer", s);
		check_addr(&a, flags, s);
		round_trip(&a, flags, s);
	} else if (!addr_is_null(&a))
		violation("output left behind on failure", s);
	if (addr_parse(s, flags, &a) == ADDR_OK) {
		check_addr(&a, flags, s);
		round_trip(&a, flags, s);
	}
	if (addr_helo_check(s) && s[0] != '[' && !addr_domain_check(s, false))
		violation("helo domain fails addr_domain_check", s);
	if (addr_domain_check(s, false) && !addr_domain_check(s, true))
		violation("ASCII domain fails with utf8", s);
	(void)addr_local_is_safe_path(s);
	free(s);
	return 0;
}
