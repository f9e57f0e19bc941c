/*
 * fuzz_smtp_reply.c - libFuzzer target for smtp_reply.c.  The input is
 * cut into lines at '\n' and fed to one parser; the first byte's low bit
 * says whether the lines are an EHLO reply.  After every line the text
 * must stay NUL-terminated within its cap with tlen its length, a
 * complete reply must have a code 200-599, and the enhanced code must be
 * "c.s.d" of the reply's class.  Any violation aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_reply.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_smtp_reply: %s\n", what);
	abort();
}

static void
check(const struct smtp_reply *r, enum smtp_reply_rc rc)
{
	char	dsn[8];

	if (r->tlen >= sizeof(r->text) || memchr(r->text, '\0',
	    sizeof(r->text)) == NULL)
		violation("text not terminated within its cap");
	if (rc == SMTP_REPLY_BAD)
		return;
	if (r->code < 200 || r->code > 599)
		violation("code out of range");
	smtp_reply_dsn(r, dsn);
	if (dsn[0] != '0' + r->code / 100 || dsn[1] != '.' ||
	    strlen(dsn) < 5 || strlen(dsn) > 7)
		violation("bad enhanced status");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_reply	 r = { 0 };
	bool			 ehlo;
	size_t			 off = 1;

	if (size < 1 || size > 65536)
		return 0;
	ehlo = data[0] & 1;
	while (off < size) {
		const uint8_t	*nl = memchr(data + off, '\n', size - off);
		size_t		 n = nl != NULL ? (size_t)(nl - data) - off :
		    size - off;
		char		*line = malloc(n ? n : 1);	/* exact size */
		enum smtp_reply_rc rc;

		if (line == NULL)
			return 0;
		memcpy(line, data + off, n);
		rc = smtp_reply_line(&r, line, n, ehlo);
		free(line);
		check(&r, rc);
		if (rc == SMTP_REPLY_BAD)
			memset(&r, 0, sizeof(r));
		off += n + 1;
	}
	return 0;
}
