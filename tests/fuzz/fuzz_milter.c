/*
 * fuzz_milter.c - libFuzzer target for milter.c: the input is a stream of
 * milter packets, framed and parsed as smtpd reads them.  The first byte
 * picks the frame ceiling (small, to reach the oversize path).  Every
 * packet a reply parser accepts is applied to a small message with the
 * editor, and the message is rebuilt: a changed header must still parse
 * back into fields, no value may start a line of its own, and an
 * unedited message must come back byte for byte.  Any violation aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "mail/milter.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char	 msg[] = "Received: from x\r\n\tby y\r\nFrom: a@b\r\n"
			    "Subject: hi\r\n\r\nbody\r\n";

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_milter: %s\n", what);
	abort();
}

static void
check_header(const struct buf *b)
{
	/* after every CRLF inside the header: a field name or white space */
	const char	*p = b->data, *end = b->data + b->len;

	while (p < end) {
		const char	*nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL || nl + 1 >= end)
			return;
		p = nl + 1;
		if (p + 1 < end && p[0] == '\r' && p[1] == '\n')
			return;		/* the body starts */
		if (*p != ' ' && *p != '\t' && memchr(p, ':',
		    (size_t)(end - p)) == NULL)
			violation("a line of the header is not a field");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct milter_msg	 m;
	struct milter_pkt	 p;
	struct milter_reply	 r;
	struct buf		 out;
	const char		*why;
	size_t			 max, off = 1;
	uint32_t		 v, a, pr;

	if (size < 1 || size > 1 << 20)
		return 0;
	max = data[0] & 1 ? 64 : MILTER_PACKET_MAX;
	milter_msg_parse(&m, msg, sizeof(msg) - 1);
	buf_init(&out, 0);
	milter_msg_build(&m, &out);
	if (out.len != sizeof(msg) - 1 || memcmp(out.data, msg, out.len) != 0)
		violation("unedited message changed");
	while (off < size) {
		long	 n = milter_frame(data + off, size - off, max, &p);

		if (n <= 0)
			break;
		if ((size_t)n > size - off || p.len > max)
			violation("frame beyond the input or the ceiling");
		off += (size_t)n;
		(void)milter_optneg(&p, &v, &a, &pr);
		if (milter_reply_parse(&p, &r, &why) == -1)
			continue;
		switch (r.cmd) {
		case SMFIR_ADDHEADER:
			milter_msg_add(&m, r.name, r.value);
			break;
		case SMFIR_INSHEADER:
			milter_msg_insert(&m, r.index, r.name, r.value);
			break;
		case SMFIR_CHGHEADER:
			milter_msg_change(&m, r.index, r.name, r.value);
			break;
		case SMFIR_REPLYCODE:
			if (r.text[0] != '4' && r.text[0] != '5')
				violation("reply code not 4xx or 5xx");
			break;
		default:
			break;
		}
	}
	buf_reset(&out);
	milter_msg_build(&m, &out);
	check_header(&out);
	buf_free(&out);
	milter_msg_free(&m);
	return 0;
}
