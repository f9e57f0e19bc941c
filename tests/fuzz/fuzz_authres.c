/*
 * fuzz_authres.c - libFuzzer target for the search of forged
 * Authentication-Results fields (authres_find_ours).  The input, copied
 * into a heap block of exactly its size so ASan sees any read past the
 * end, is a message; the authserv-id is "mx.example".  Every range found
 * must lie inside the header section, in order and without overlap,
 * start with the field name, and end with a line end or the input's end.
 * Any violation aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/authres.h"

#define FUZZ_MAX	65536
#define RANGES		64

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_authres: %s\n", what);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	 name[] = "authentication-results";
	struct authres_range	 r[RANGES];
	char			*m;
	size_t			 n, prev = 0;

	if (size > FUZZ_MAX || (m = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(m, data, size);
	n = authres_find_ours(m, size, "mx.example", r, RANGES);
	if (n > RANGES)
		violation("more ranges than room");
	for (size_t i = 0; i < n; i++) {
		size_t	 end = r[i].off + r[i].len;

		if (r[i].off < prev || end > size || end < r[i].off)
			violation("range out of order or out of bounds");
		if (r[i].len < sizeof(name) - 1 ||
		    strncasecmp(m + r[i].off, name, sizeof(name) - 1) != 0)
			violation("range is not an Authentication-Results field");
		if (end != size && m[end - 1] != '\n')
			violation("range does not end a line");
		prev = end;
	}
	free(m);
	return 0;
}
