/*
 * fuzz_submit_msg.c - libFuzzer target for submit_msg.c.  The low bit of
 * the first byte is ignore_dots (sendmail -i); the rest is the message as
 * piped to sendmail.  An accepted text must be CRLF only (no bare CR or
 * LF, no NUL); after submit_msg_headers it must have no Bcc field left in
 * its header block and still be CRLF only, and every address handed out
 * must be a non-empty C string.  Any violation aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "mail/submit_msg.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_submit_msg: %s\n", what);
	abort();
}

static void
check_crlf(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\0')
			violation("NUL in the text");
		if (b->data[i] == '\r' && (i + 1 == b->len ||
		    b->data[i + 1] != '\n'))
			violation("bare CR in the text");
		if (b->data[i] == '\n' && (i == 0 || b->data[i - 1] != '\r'))
			violation("bare LF in the text");
	}
	if (b->len > 0 && (b->len < 2 || b->data[b->len - 1] != '\n'))
		violation("text does not end with CRLF");
}

static void
on_addr(const char *a, void *arg)
{
	size_t	*n = arg;

	if (a == NULL || *a == '\0')
		violation("empty address");
	(*n)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct buf	b;
	size_t		n = 0, hend;
	bool		blank;

	if (len < 1 || len > 65536)
		return 0;
	buf_init(&b, 0);
	if (submit_msg_crlf((const char *)data + 1, len - 1, data[0] & 1,
	    &b) == SUBMIT_MSG_OK) {
		check_crlf(&b);
		submit_msg_headers(&b, true, on_addr, &n);
		check_crlf(&b);
		hend = submit_msg_header_end(b.data, b.len, &blank);
		if (submit_msg_has_field(b.data, hend, "Bcc"))
			violation("a Bcc field is left");
	}
	buf_free(&b);
	return 0;
}
