/*
 * fuzz_sasl.c - libFuzzer target for sasl.c.  The first input byte picks
 * the entry point (bit 0: PLAIN or LOGIN, bit 1: initial response, bit 2:
 * LOGIN user name or password); the rest, cut at its first NUL, is copied
 * into a heap block of exactly its size.  Checks: decoded outputs stay
 * within their bounds and are NUL-terminated, accepted names are
 * printable, and every string the decoder accepts re-encodes to itself
 * (base64 here is canonical).  Any violation aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "mail/sasl.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX	(SASL_B64_MAX + 64)

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_sasl: %s\n", what);
	abort();
}

static void
check_name(const char *u)
{
	size_t	n = strnlen(u, SASL_USER_MAX + 1);

	if (n == 0 || n > SASL_USER_MAX)
		violation("user name length");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)u[i] <= ' ' || u[i] == 0x7f)
			violation("control byte in user name");
}

static void
check_b64(const char *s, size_t len)
{
	unsigned char	out[SASL_DECODED_MAX + 1];
	struct buf	enc;
	size_t		n;

	if (base64_decode(s, len, BASE64_CANONICAL, out, sizeof(out), &n) !=
	    BASE64_OK)
		return;
	if (n > SASL_DECODED_MAX || out[n] != '\0')
		violation("decoded length");
	buf_init(&enc, 0);
	if (base64_encode(out, n, &enc) != 0 || enc.len != len ||
	    memcmp(enc.data, s, len) != 0)
		violation("not canonical");
	buf_free(&enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sasl_cred	 c;
	char			 field[SASL_PASS_MAX + 1];
	unsigned		 sel;
	size_t			 len;
	char			*s;

	if (size < 1 || size > FUZZ_MAX)
		return 0;
	sel = data[0];
	len = strnlen((const char *)data + 1, size - 1);
	if ((s = malloc(len + 1)) == NULL)
		return 0;
	memcpy(s, data + 1, len);
	s[len] = '\0';
	check_b64(s, len);
	if (!(sel & 1)) {
		if (sasl_plain(s, sel & 2, &c) == SASL_OK) {
			check_name(c.user);
			if (strnlen(c.pass, sizeof(c.pass)) > SASL_PASS_MAX)
				violation("password length");
		}
	} else if (sasl_login_field(s, sel & 2, sel & 4, field,
	    sizeof(field)) == SASL_OK) {
		if (sel & 4)
			check_name(field);
		else if (strnlen(field, sizeof(field)) > SASL_PASS_MAX)
			violation("password length");
	}
	free(s);
	return 0;
}
