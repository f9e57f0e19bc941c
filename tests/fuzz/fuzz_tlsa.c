/*
 * fuzz_tlsa.c - libFuzzer target for tlsa.c: the input is a DNS answer
 * message, as a resolver might send it, parsed for the TLSA records of a
 * fixed name.  Every record handed out must point inside the message,
 * the counts must agree, a refused message must hand out nothing, and
 * the presentation form must stay within its buffer and terminated.
 * Any violation aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/tlsa.h"

#define QNAME	"_25._tcp.mx.example.com"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_tlsa: %s\n", what);
	abort();
}

static void
check_rec(const struct tlsa_rec *r, const uint8_t *msg, size_t size)
{
	char	out[40];

	if (r->usage > 256 || r->selector > 256 || r->mtype > 256)
		violation("field out of range");
	if (r->len > 0 && (r->data < msg || r->data + r->len > msg + size))
		violation("record data outside the message");
	memset(out, 'X', sizeof(out));
	tlsa_rec_str(r, out, sizeof(out));
	if (memchr(out, '\0', sizeof(out)) == NULL)
		violation("presentation form not terminated");
	(void)tlsa_rec_usable(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlsa_rec	 recs[4];
	uint8_t		*msg;
	size_t		 n = 99, total = 99;

	if (size > 65535)
		return 0;
	/* an exact copy, so that ASan sees any read past its end */
	if ((msg = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(msg, data, size);
	if (tlsa_answer_parse(msg, size, QNAME, recs, 4, &n, &total) ==
	    TLSA_OK) {
		if (n > 4 || n > total || (total > n && n != 4))
			violation("counts disagree");
		for (size_t i = 0; i < n; i++)
			check_rec(&recs[i], msg, size);
	} else if (n != 0 || total != 0)
		violation("a refused message handed out records");
	free(msg);
	return 0;
}
