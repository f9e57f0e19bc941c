/*
 * fuzz_smtp_data.c - libFuzzer target for the DATA recognizer and the BDAT
 * checker.  The first input byte picks a split point; the rest is fed
 * whole and in two pieces, and the two runs must agree on the result, the
 * bytes consumed, the output and every flag.  The output must never hold
 * an LF that is not preceded by CR, nor a CR that is not followed by LF
 * (except one cut by the size limit).  Any mismatch aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "mail/smtp_data.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX	4096	/* small enough that overflow is reached */

struct run {
	enum data_result r;
	size_t		 used;
	struct data_rx	 rx;
	struct buf	 out;
};

static void
data_run(struct run *o, const char *p, size_t len, size_t k)
{
	size_t	 u;

	buf_init(&o->out, 0);
	smtp_data_init(&o->rx, FUZZ_MAX, &o->out);
	o->r = smtp_data_feed(&o->rx, p, k, &o->used);
	if (o->r == DATA_MORE) {
		if (o->used != k)
			abort();
		o->r = smtp_data_feed(&o->rx, p + k, len - k, &u);
		o->used += u;
	}
}

static void
bdat_run(struct run *o, const char *p, size_t len, size_t k)
{
	buf_init(&o->out, 0);
	smtp_data_init(&o->rx, FUZZ_MAX, &o->out);
	o->used = 0;
	o->r = smtp_data_bdat_feed(&o->rx, p, k);
	if (o->r == DATA_MORE)
		o->r = smtp_data_bdat_feed(&o->rx, p + k, len - k);
	if (o->r == DATA_MORE)
		o->r = smtp_data_bdat_last(&o->rx);
}

static void
same(const struct run *a, const struct run *b)
{
	if (a->r != b->r || a->used != b->used ||
	    a->out.len != b->out.len ||
	    (a->out.len > 0 && memcmp(a->out.data, b->out.data,
	    a->out.len) != 0) ||
	    a->rx.size != b->rx.size || a->rx.overflow != b->rx.overflow ||
	    a->rx.eightbit != b->rx.eightbit ||
	    a->rx.in_header != b->rx.in_header ||
	    a->rx.hdr_received != b->rx.hdr_received)
		abort();
}

static void
line_ends_ok(const struct run *o)
{
	const char	*d = o->out.data;
	size_t		 n = o->out.len;

	if (o->out.len > FUZZ_MAX || (!o->rx.overflow && o->rx.size != n))
		abort();
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
			abort();
		if (d[i] == '\r' && i + 1 < n && d[i + 1] != '\n')
			abort();
		if (d[i] == '\r' && i + 1 == n && !o->rx.overflow)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run	 whole, split;
	const char	*p;
	size_t		 len, k;

	if (size < 1)
		return 0;
	p = (const char *)data + 1;
	len = size - 1;
	/* 0..len; every split point is reachable when len <= 255 */
	k = (size_t)data[0] * len / 255;

	data_run(&whole, p, len, len);
	data_run(&split, p, len, k);
	same(&whole, &split);
	line_ends_ok(&whole);
	if (whole.r == DATA_MORE && whole.used != len)
		abort();
	buf_free(&whole.out);
	buf_free(&split.out);

	bdat_run(&whole, p, len, len);
	bdat_run(&split, p, len, k);
	same(&whole, &split);
	line_ends_ok(&whole);
	buf_free(&whole.out);
	buf_free(&split.out);
	return 0;
}
