/*
 * fuzz_spam_header.c - libFuzzer target for mail/spam_header.c: the
 * input is the start of a message as a sender may write it; the scans
 * for a verdict must stay inside it (ASan sees any read past the exact
 * copy).  A header may hold both "X-Spam: yes" and "X-Spam: no" (corpus
 * two-fields): either matches.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/spam_header.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*msg;

	if (size > SPAM_HEADER_SCAN)
		return 0;
	if ((msg = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(msg, data, size);
	(void)spam_header_match(msg, size, "X-Spam", "yes");
	(void)spam_header_match(msg, size, "x-spam-flag", "YES");
	free(msg);
	return 0;
}
