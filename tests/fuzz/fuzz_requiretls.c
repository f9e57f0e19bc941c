/*
 * fuzz_requiretls.c - libFuzzer target for requiretls.c: the input is a
 * message as a client might send it.  The scan must stay inside the
 * bytes it is given (the copy has no NUL after it), and a "yes" must
 * come with the field's name somewhere before the first empty line.
 * Any violation aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/requiretls.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* named - "TLS-Required" (any case) starts a line of p[0..n). */
static int
named(const char *p, size_t n)
{
	for (size_t i = 0; i + 12 <= n; i++)
		if ((i == 0 || p[i - 1] == '\n') &&
		    strncasecmp(p + i, "TLS-Required", 12) == 0)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*p = malloc(size ? size : 1);

	if (p == NULL)
		return 0;
	memcpy(p, data, size);
	if (requiretls_header_no(p, size) && !named(p, size)) {
		fprintf(stderr, "fuzz_requiretls: yes without the field\n");
		abort();
	}
	free(p);
	return 0;
}
