/*
 * fuzz_queue_journal.c - journal_rec_decode on arbitrary bytes: never
 * reads past the input, never returns more than it was given, and a
 * record it accepts encodes back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/journal.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char	*p = (const char *)data + 1;	/* byte 0: the epoch */
	struct jrec	 r;
	size_t		 off = 0, n;
	uint64_t	 epoch;

	if (len == 0)
		return 0;
	epoch = data[0] % 4;
	len--;

	while (off < len && (n = journal_rec_decode(p + off, len - off, epoch,
	    &r)) > 0) {
		struct buf	b;

		if (n > len - off)
			abort();
		buf_init(&b, 0);
		if (r.type == JREC_COMMIT)
			journal_rec_commit(&b, epoch, r.id, r.env, r.envlen,
			    r.data, r.datalen, r.has_data);
		else
			journal_rec_remove(&b, epoch, r.id);
		if (b.len != n || memcmp(b.data, p + off, n) != 0)
			abort();
		buf_free(&b);
		off += n;
	}
	return 0;
}
