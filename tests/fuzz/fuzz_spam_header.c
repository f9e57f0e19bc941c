/*
 * fuzz_spam_header.c - libFuzzer target for mail/spam_header.c: the
 * input is the start of a message as a sender may write it; the scan for
 * "X-Spam: yes" must stay inside it (ASan sees any read past the exact
 * copy) and agree with itself when the input is cut at its body.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/spam_header.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*msg;
	bool	 yes;

	if (size > SPAM_HEADER_SCAN)
		return 0;
	if ((msg = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(msg, data, size);
	yes = spam_header_match(msg, size, "X-Spam", "yes");
	if (yes && spam_header_match(msg, size, "X-Spam", "no"))
		abort();		/* one field, one first word */
	free(msg);
	return 0;
}
