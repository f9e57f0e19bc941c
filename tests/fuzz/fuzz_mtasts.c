/*
 * fuzz_mtasts.c - libFuzzer target for mtasts.c: the input is a policy
 * file body, as a web server might send it, and also a TXT string.  An
 * accepted policy must hold a known mode, a max_age within the RFC's
 * bound, terminated lower-case mx patterns that match themselves (or,
 * for a wildcard, a host made of one label and the rest); a refused one
 * must hold nothing; a TXT id must be 1 to 32 letters and digits.  Any
 * violation aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mtasts.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_mtasts: %s\n", what);
	abort();
}

static void
check_policy(const struct mtasts_policy *p)
{
	char	host[MTASTS_NAME_MAX + 8];

	if (p->mode > MTASTS_MODE_ENFORCE || p->max_age > MTASTS_MAX_AGE_MAX ||
	    p->nmx > MTASTS_MX_MAX)
		violation("field out of range");
	if (p->mode != MTASTS_MODE_NONE && p->nmx == 0)
		violation("enforce or testing without mx");
	for (size_t i = 0; i < p->nmx; i++) {
		const char *m = p->mx[i];

		if (memchr(m, '\0', sizeof(p->mx[i])) == NULL)
			violation("mx pattern not terminated");
		for (const char *c = m; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				violation("mx pattern not lower case");
		if (m[0] == '*')
			snprintf(host, sizeof(host), "x%s", m + 1);
		else
			snprintf(host, sizeof(host), "%s", m);
		if (!mtasts_mx_match(m, host) || !mtasts_policy_match(p, host))
			violation("a pattern does not match its own host");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtasts_policy	 p;
	char			 err[128], id[MTASTS_ID_MAX + 1];
	char			*b;
	size_t			 n;

	if (size > 2 * MTASTS_POLICY_MAX)
		return 0;
	/* an exact copy, so that ASan sees any read past its end */
	if ((b = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(b, data, size);
	memset(&p, 0xa5, sizeof(p));
	if (mtasts_policy_parse(b, size, &p, err, sizeof(err)) == 0)
		check_policy(&p);
	else if (p.nmx != 0 || p.mode != MTASTS_MODE_NONE ||
	    memchr(err, '\0', sizeof(err)) == NULL)
		violation("a refused policy holds something");
	if (mtasts_txt_one(b, size, id) == 0) {
		n = strlen(id);
		if (n == 0 || n > MTASTS_ID_MAX)
			violation("id length");
	} else if (id[0] != '\0')
		violation("a refused record handed out an id");
	(void)mtasts_mx_match("*.example.com", size > 0 && b[size - 1] ==
	    '\0' ? b : "x.example.com");
	free(b);
	return 0;
}
