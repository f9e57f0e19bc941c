/*
 * test_smtp_data.c - unit tests for the DATA recognizer and BDAT checker.
 * Every case runs whole, split at every byte boundary into two feeds, and
 * byte by byte; all three must give the same result, consumption, output
 * and flags.  The smuggling variants come from CVE-2023-51764 and kin:
 * none of them may end the data, whatever else they do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "mail/smtp_data.h"

#define S(x)	x, sizeof(x) - 1

/* what the recognizer noted */
#define F_CR	0x01		/* bare CR */
#define F_LF	0x02		/* bare LF */
#define F_NUL	0x04

struct data_case {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	enum data_result result;
	size_t		 used;
	const char	*out;		/* expected output (NUL-free) */
	unsigned	 flags;		/* F_* */
};

static const struct data_case cases[] = {
	/* plain messages and the end marker */
	{ "simple", S("hello\r\n.\r\n"), DATA_END, 10, "hello\r\n", 0 },
	{ "empty message", S(".\r\n"), DATA_END, 3, "", 0 },
	{ "empty, then command", S(".\r\nQUIT\r\n"), DATA_END, 3, "", 0 },
	{ "rest is next command", S("a\r\n.\r\nMAIL FROM:<x@y>\r\n"),
	    DATA_END, 6, "a\r\n", 0 },
	{ "empty lines kept", S("\r\n\r\n.\r\n"), DATA_END, 7, "\r\n\r\n",
	    0 },
	{ "no end yet", S("a\r\nb\r\n"), DATA_MORE, 6, "a\r\nb\r\n", 0 },
	{ "dot pending", S("a\r\n."), DATA_MORE, 4, "a\r\n", 0 },
	{ "dot cr pending", S("a\r\n.\r"), DATA_MORE, 5, "a\r\n", 0 },
	{ "cr pending", S("abc\r"), DATA_MORE, 4, "abc", 0 },
	{ "nothing", S(""), DATA_MORE, 0, "", 0 },
	{ "mid-line dot", S("a.\r\n.\r\n"), DATA_END, 7, "a.\r\n", 0 },
	{ "dot then space", S(". \r\n.\r\n"), DATA_END, 7, " \r\n", 0 },
	{ "last line unterminated dot", S("a\r\nb.\r\n.\r\n"), DATA_END,
	    10, "a\r\nb.\r\n", 0 },
	{ "nul bytes are text", "a\0b\r\n.\r\n", 8, DATA_END, 8, NULL,
	    F_NUL },
	{ "nul before a dot", S("a\r\n\0.\r\nMAIL FROM:<e@x>\r\n"),
	    DATA_MORE, 24, NULL, F_NUL },

	/* dot-stuffing (RFC 5321 4.5.2) */
	{ "stuffed dot line", S("..\r\n.\r\n"), DATA_END, 7, ".\r\n", 0 },
	{ "stuffed text", S("..x\r\n.\r\n"), DATA_END, 8, ".x\r\n", 0 },
	{ "single dot dropped", S(".x\r\n.\r\n"), DATA_END, 7, "x\r\n", 0 },
	{ "three dots", S("...\r\n.\r\n"), DATA_END, 8, "..\r\n", 0 },
	{ "stuffing at start and later", S("..a\r\nb\r\n..c\r\n.\r\n"),
	    DATA_END, 16, ".a\r\nb\r\n.c\r\n", 0 },

	/* smuggling: bare LF and CR in every position never end the data */
	{ "LF.LF", S("a\n.\nMAIL FROM:<e@x>\r\n"), DATA_MORE, 21,
	    "a\r\n\r\nMAIL FROM:<e@x>\r\n", F_LF },
	{ "LF.CRLF", S("a\n.\r\n"), DATA_MORE, 5, "a\r\n\r\n", F_LF },
	{ "CRLF.LF", S("a\r\n.\n"), DATA_MORE, 5, "a\r\n\r\n", F_LF },
	{ "CR.CR", S("a\r.\r"), DATA_MORE, 4, "a.", F_CR },
	{ "CR.CRLF", S("a\r.\r\n"), DATA_MORE, 5, "a.\r\n", F_CR },
	{ "CRLF.CR", S("a\r\n.\rX"), DATA_MORE, 6, "a\r\nX", F_CR },
	{ "CRLF.CR.CRLF", S("a\r\n.\r.\r\n"), DATA_MORE, 8, "a\r\n.\r\n",
	    F_CR },
	{ "CRLF.CRCRLF", S("a\r\n.\r\r\n"), DATA_MORE, 7, "a\r\n\r\n", F_CR },
	{ "start LF.CRLF", S("\n.\r\n"), DATA_MORE, 4, "\r\n\r\n", F_LF },
	{ "start CR.CRLF", S("\r.\r\n"), DATA_MORE, 4, ".\r\n", F_CR },
	{ "start .LF", S(".\n"), DATA_MORE, 2, "\r\n", F_LF },
	{ "start .CR.", S(".\r.\r\n"), DATA_MORE, 5, ".\r\n", F_CR },
	{ "start LF", S("\n"), DATA_MORE, 1, "\r\n", F_LF },
	{ "CRCRLF", S("a\r\r\n"), DATA_MORE, 4, "a\r\n", F_CR },
	{ "CR in text", S("a\rb\r\n.\r\n"), DATA_END, 8, "ab\r\n", F_CR },
	{ "LF in text", S("ab\ncd\r\n.\r\n"), DATA_END, 10, "ab\r\ncd\r\n",
	    F_LF },
	{ "LF after CRLF", S("a\r\n\n.\r\n"), DATA_MORE, 7, "a\r\n\r\n\r\n",
	    F_LF },
	{ "LFCR", S("a\n\r.\r\n"), DATA_MORE, 6, "a\r\n.\r\n", F_LF | F_CR },
	{ "stuffed dot LF", S("..\n"), DATA_MORE, 3, ".\r\n", F_LF },
	{ "dot LF later", S("x\r\n.\nMAIL FROM:<e@x>\r\n.\r\n"), DATA_END,
	    25, "x\r\n\r\nMAIL FROM:<e@x>\r\n", F_LF },
	{ "LF-ended line, then .CRLF", S("a\r\nb\n.\r\n"), DATA_MORE, 8,
	    "a\r\nb\r\n\r\n", F_LF },

	/* LF-only lines (curl without --crlf, scripts): taken as lines */
	{ "LF lines, curl's end", S("Subject: a\n\nbody\n\r\n.\r\n"),
	    DATA_END, 22, "Subject: a\r\n\r\nbody\r\n", F_LF },
	{ "LF, dot-stuffed by smtplib", S("a\n..b\n\r\n.\r\n"), DATA_END, 11,
	    "a\r\n.b\r\n", F_LF },
	{ "LF, two empty CRLF lines", S("a\n\r\n\r\n.\r\n"), DATA_END, 9,
	    "a\r\n\r\n\r\n", F_LF },
	{ "held line, then text", S("a\n\r\nb\r\n.\r\n"), DATA_END, 10,
	    "a\r\n\r\nb\r\n", F_LF },
	{ "held line, then stuffed text", S("a\n\r\n.b\r\n.\r\n"), DATA_END,
	    11, "a\r\n\r\nb\r\n", F_LF },
	{ "held line, then LF", S("a\n\r\n\n.\r\n"), DATA_MORE, 8,
	    "a\r\n\r\n\r\n\r\n", F_LF },
	{ "held line, then .CR", S("a\n\r\n.\rX\r\n.\r\n"), DATA_END, 12,
	    "a\r\n\r\nX\r\n", F_LF | F_CR },
	{ "held line pending", S("a\n\r\n"), DATA_MORE, 4, "a\r\n", F_LF },
	{ "held line, dot pending", S("a\n\r\n.\r"), DATA_MORE, 6, "a\r\n",
	    F_LF },
	{ "LF, then CR at line start", S("a\n\rb\r\n.\r\n"), DATA_END, 9,
	    "a\r\nb\r\n", F_LF | F_CR },
	{ "CRLF lines, LF in header", S("Subject: a\nX: b\r\n\r\nc\r\n.\r\n"),
	    DATA_END, 25, "Subject: a\r\nX: b\r\n\r\nc\r\n", F_LF },
};

struct outcome {
	enum data_result result;
	size_t		 used;
	struct buf	 out;
	uint64_t	 size;
	bool		 overflow, eightbit, in_header;
	unsigned	 hdr_received;
	unsigned	 flags;		/* F_* */
};

/* flags_of - the F_* bits of what rx noted. */
static unsigned
flags_of(const struct data_rx *rx)
{
	return (rx->bare_cr ? F_CR : 0) | (rx->bare_lf ? F_LF : 0) |
	    (rx->nul ? F_NUL : 0);
}

static void
take(struct outcome *o, struct data_rx *rx, enum data_result r, size_t used)
{
	o->result = r;
	o->used = used;
	o->size = rx->size;
	o->overflow = rx->overflow;
	o->eightbit = rx->eightbit;
	o->in_header = rx->in_header;
	o->hdr_received = rx->hdr_received;
	o->flags = flags_of(rx);
}

static void
run_whole(const char *in, size_t len, uint64_t max, struct outcome *o)
{
	struct data_rx	 rx;
	size_t		 used = 0;
	enum data_result r;

	buf_init(&o->out, 0);
	smtp_data_init(&rx, max, &o->out);
	r = smtp_data_feed(&rx, in, len, &used);
	take(o, &rx, r, used);
}

/* run_split - feed in[0..k) then in[k..len) unless the first part ended. */
static void
run_split(const char *in, size_t len, size_t k, uint64_t max,
    struct outcome *o)
{
	struct data_rx	 rx;
	size_t		 used = 0, used2 = 0;
	enum data_result r;

	buf_init(&o->out, 0);
	smtp_data_init(&rx, max, &o->out);
	r = smtp_data_feed(&rx, in, k, &used);
	if (r == DATA_MORE) {
		assert_int_equal(used, k);
		r = smtp_data_feed(&rx, in + k, len - k, &used2);
		used += used2;
	}
	take(o, &rx, r, used);
}

static void
run_bytes(const char *in, size_t len, uint64_t max, struct outcome *o)
{
	struct data_rx	 rx;
	size_t		 used = 0, u;
	enum data_result r = DATA_MORE;

	buf_init(&o->out, 0);
	smtp_data_init(&rx, max, &o->out);
	for (size_t i = 0; i < len && r == DATA_MORE; i++) {
		r = smtp_data_feed(&rx, in + i, 1, &u);
		used += u;
	}
	take(o, &rx, r, used);
}

static void
assert_same(const struct outcome *a, const struct outcome *b)
{
	assert_int_equal(a->result, b->result);
	assert_int_equal(a->used, b->used);
	assert_int_equal(a->out.len, b->out.len);
	if (a->out.len > 0)
		assert_memory_equal(a->out.data, b->out.data, a->out.len);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->overflow, b->overflow);
	assert_int_equal(a->eightbit, b->eightbit);
	assert_int_equal(a->in_header, b->in_header);
	assert_int_equal(a->hdr_received, b->hdr_received);
	assert_int_equal(a->flags, b->flags);
}

/* check_all_splits - whole, every two-way split and byte by byte agree. */
static void
check_all_splits(const char *in, size_t len, uint64_t max,
    struct outcome *whole)
{
	struct outcome	 o;

	run_whole(in, len, max, whole);
	for (size_t k = 0; k <= len; k++) {
		run_split(in, len, k, max, &o);
		assert_same(whole, &o);
		buf_free(&o.out);
	}
	run_bytes(in, len, max, &o);
	assert_same(whole, &o);
	buf_free(&o.out);
}

/* fault_of - what smtp_data_fault() must say for these flags. */
static enum data_fault
fault_of(unsigned flags, bool bare_lf_ok)
{
	if (flags & F_CR)
		return DATA_FAULT_BARE_CR;
	if ((flags & F_LF) && !bare_lf_ok)
		return DATA_FAULT_BARE_LF;
	if (flags & F_NUL)
		return DATA_FAULT_NUL;
	return DATA_FAULT_NONE;
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct data_case *c = &cases[i];
		struct outcome	 o;
		struct data_rx	 rx;
		size_t		 used;

		print_message("case: %s\n", c->name);
		check_all_splits(c->in, c->inlen, 1 << 20, &o);
		assert_int_equal(o.result, c->result);
		assert_int_equal(o.used, c->used);
		if (c->out != NULL) {
			assert_int_equal(o.out.len, strlen(c->out));
			assert_memory_equal(buf_cstr(&o.out), c->out,
			    o.out.len);
		}
		assert_int_equal(o.size, o.out.len);
		assert_false(o.overflow);
		assert_int_equal(o.flags, c->flags);
		buf_free(&o.out);

		smtp_data_init(&rx, 1 << 20, NULL);
		(void)smtp_data_feed(&rx, c->in, c->inlen, &used);
		assert_int_equal(smtp_data_fault(&rx, true),
		    fault_of(c->flags, true));
		assert_int_equal(smtp_data_fault(&rx, false),
		    fault_of(c->flags, false));
	}
}

static void
test_nul_bytes_kept(void **state)
{
	struct outcome	 o;

	(void)state;
	run_whole("a\0b\r\n.\r\n", 8, 100, &o);
	assert_int_equal(o.result, DATA_END);
	assert_int_equal(o.out.len, 5);
	assert_memory_equal(o.out.data, "a\0b\r\n", 5);
	assert_int_equal(o.flags, F_NUL);
	buf_free(&o.out);
}

/*
 * The outbound smuggling sequence for receivers that strip NUL: here the
 * NUL line is text, so the data goes on to the real end, and the message
 * is marked so that it is refused.
 */
static void
test_nul_dot_is_not_an_end(void **state)
{
	static const char in[] = "a\r\n\0.\r\nMAIL FROM:<e@x>\r\n.\r\n";
	struct outcome	 o;

	(void)state;
	check_all_splits(in, sizeof(in) - 1, 1000, &o);
	assert_int_equal(o.result, DATA_END);
	assert_int_equal(o.used, sizeof(in) - 1);
	assert_int_equal(o.flags, F_NUL);
	buf_free(&o.out);
}

/* smtp_data_fault: the order of the faults and the bare LF policy. */
static void
test_fault_order(void **state)
{
	struct data_rx	 rx;

	(void)state;
	smtp_data_init(&rx, 100, NULL);
	assert_int_equal(smtp_data_fault(&rx, false), DATA_FAULT_NONE);
	rx.nul = true;
	assert_int_equal(smtp_data_fault(&rx, true), DATA_FAULT_NUL);
	rx.bare_lf = true;
	assert_int_equal(smtp_data_fault(&rx, true), DATA_FAULT_NUL);
	assert_int_equal(smtp_data_fault(&rx, false), DATA_FAULT_BARE_LF);
	rx.bare_cr = true;
	assert_int_equal(smtp_data_fault(&rx, true), DATA_FAULT_BARE_CR);
	assert_int_equal(smtp_data_fault(&rx, false), DATA_FAULT_BARE_CR);
}

static void
test_size_limit(void **state)
{
	static const char in[] = "hello world\r\n.\r\n";
	struct outcome	 o;

	(void)state;
	check_all_splits(in, sizeof(in) - 1, 5, &o);
	assert_int_equal(o.result, DATA_END);
	assert_int_equal(o.size, 13);
	assert_true(o.overflow);
	assert_int_equal(o.out.len, 5);
	assert_memory_equal(o.out.data, "hello", 5);
	buf_free(&o.out);

	/* exactly at the limit is not an overflow */
	check_all_splits(in, sizeof(in) - 1, 13, &o);
	assert_false(o.overflow);
	assert_int_equal(o.out.len, 13);
	buf_free(&o.out);

	check_all_splits(in, sizeof(in) - 1, 12, &o);
	assert_true(o.overflow);
	assert_int_equal(o.size, 13);
	assert_int_equal(o.out.len, 12);
	buf_free(&o.out);

	/* max 0: only counted */
	check_all_splits(in, sizeof(in) - 1, 0, &o);
	assert_true(o.overflow);
	assert_int_equal(o.size, 13);
	assert_int_equal(o.out.len, 0);
	buf_free(&o.out);
}

static void
test_size_counts_after_unstuffing(void **state)
{
	static const char in[] = "..a\r\n.\r\n";
	struct outcome	 o;

	(void)state;
	check_all_splits(in, sizeof(in) - 1, 1000, &o);
	assert_int_equal(o.size, 4);		/* ".a\r\n" */
	buf_free(&o.out);
}

static void
test_buf_ceiling_sets_overflow(void **state)
{
	static const char in[] = "0123456789\r\n.\r\n";
	struct data_rx	 rx;
	struct buf	 out;
	size_t		 used;

	(void)state;
	buf_init(&out, 4);
	smtp_data_init(&rx, 1000, &out);
	assert_int_equal(smtp_data_feed(&rx, in, sizeof(in) - 1, &used),
	    DATA_END);
	assert_true(rx.overflow);
	assert_int_equal(rx.size, 12);
	buf_free(&out);
}

static void
test_null_out_counts(void **state)
{
	static const char in[] = "abc\r\n..\r\n.\r\n";
	struct data_rx	 rx;
	size_t		 used;

	(void)state;
	smtp_data_init(&rx, 1000, NULL);
	assert_int_equal(smtp_data_feed(&rx, in, sizeof(in) - 1, &used),
	    DATA_END);
	assert_int_equal(rx.size, 8);
	assert_false(rx.overflow);
}

static void
test_eightbit(void **state)
{
	static const char plain[] = "Subject: x\r\n\r\nhi\r\n.\r\n";
	static const char utf8[] = "Subject: x\r\n\r\ncaf\xc3\xa9\r\n.\r\n";
	static const char late[] = "abc\r\n\x80\r\n.\r\n";
	struct outcome	 o;

	(void)state;
	check_all_splits(plain, sizeof(plain) - 1, 1000, &o);
	assert_false(o.eightbit);
	buf_free(&o.out);
	check_all_splits(utf8, sizeof(utf8) - 1, 1000, &o);
	assert_true(o.eightbit);
	buf_free(&o.out);
	/* still seen past the size limit */
	check_all_splits(late, sizeof(late) - 1, 2, &o);
	assert_true(o.eightbit);
	assert_true(o.overflow);
	buf_free(&o.out);
}

static void
test_received_count(void **state)
{
	static const char in[] =
	    "Received: from a\r\n"
	    "received:from b\r\n"
	    "RECEIVED: c\r\n"
	    "X-Received: no\r\n"
	    "Received no colon\r\n"
	    "Receive: no\r\n"
	    " Received: continuation, no\r\n"
	    "..Received: stuffed, unstuffs to .Received:\r\n"
	    ".Received: unstuffs to Received:\r\n"
	    "Subject: hi\r\n"
	    "\r\n"
	    "Received: in the body, not counted\r\n"
	    ".\r\n";
	struct outcome	 o;

	(void)state;
	check_all_splits(in, sizeof(in) - 1, 1 << 20, &o);
	assert_int_equal(o.result, DATA_END);
	assert_int_equal(o.hdr_received, 4);
	assert_false(o.in_header);
	buf_free(&o.out);
}

static void
test_header_section(void **state)
{
	static const char hdr_only[] = "Received: x\r\nSubject: y\r\n";
	static const char at_start[] = "\r\nReceived: x\r\n.\r\n";
	struct outcome	 o;

	(void)state;
	check_all_splits(hdr_only, sizeof(hdr_only) - 1, 1000, &o);
	assert_int_equal(o.result, DATA_MORE);
	assert_true(o.in_header);
	assert_int_equal(o.hdr_received, 1);
	buf_free(&o.out);
	check_all_splits(at_start, sizeof(at_start) - 1, 1000, &o);
	assert_false(o.in_header);
	assert_int_equal(o.hdr_received, 0);
	buf_free(&o.out);
}

static void
test_after_end_is_sticky(void **state)
{
	struct data_rx	 rx;
	struct buf	 out;
	size_t		 used;

	(void)state;
	buf_init(&out, 0);
	smtp_data_init(&rx, 100, &out);
	assert_int_equal(smtp_data_feed(&rx, S(".\r\n"), &used), DATA_END);
	assert_int_equal(smtp_data_feed(&rx, S("more\r\n"), &used), DATA_END);
	assert_int_equal(used, 0);
	/* a bare LF does not stop the reading: the real end still counts */
	smtp_data_init(&rx, 100, &out);
	assert_int_equal(smtp_data_feed(&rx, S("\n"), &used), DATA_MORE);
	assert_int_equal(smtp_data_feed(&rx, S("x\r\n.\r\nQUIT\r\n"), &used),
	    DATA_END);
	assert_int_equal(used, 6);
	assert_true(rx.bare_lf);
	buf_free(&out);
}

static void
test_bare_lf_cannot_end_data(void **state)
{
	static const char	in[] = "hi\n.\nMAIL FROM:<x@y>\r\n";
	struct data_rx		rx;
	size_t			used;

	(void)state;
	smtp_data_init(&rx, 1024, NULL);
	assert_int_equal(smtp_data_feed(&rx, in, sizeof(in) - 1, &used),
	    DATA_MORE);
	assert_int_equal(used, sizeof(in) - 1);
	assert_int_equal(smtp_data_fault(&rx, false), DATA_FAULT_BARE_LF);
}

/* A larger message with long runs, split everywhere. */
static void
test_long_lines_split(void **state)
{
	char		 in[3000];
	size_t		 n = 0;
	struct outcome	 o;

	(void)state;
	for (int line = 0; line < 20; line++) {
		if (line % 5 == 0)
			in[n++] = '.';
		for (int j = 0; j < 100 + line; j++)
			in[n++] = (char)('a' + (j + line) % 26);
		in[n++] = '\r';
		in[n++] = '\n';
	}
	memcpy(in + n, ".\r\n", 3);
	n += 3;
	check_all_splits(in, n, 1 << 20, &o);
	assert_int_equal(o.result, DATA_END);
	assert_int_equal(o.used, n);
	assert_int_equal(o.size, n - 3 - 4);	/* 4 stuffed dots */
	buf_free(&o.out);
}

/* BDAT */

struct bdat_case {
	const char	*name;
	const char	*in;
	const char	*out;
	unsigned	 flags;		/* F_* after LAST */
};

static const struct bdat_case bdat_cases[] = {
	{ "plain", "a\r\nb\r\n", "a\r\nb\r\n", 0 },
	{ "no final CRLF", "abc", "abc", 0 },
	{ "dots are data", ".\r\n..x\r\n", ".\r\n..x\r\n", 0 },
	{ "empty", "", "", 0 },
	{ "final lone CR", "a\r\nb\r", "a\r\nb", F_CR },
	{ "bare LF", "a\nb\r\n", "a\r\nb\r\n", F_LF },
	{ "bare CR", "a\rb\r\n", "ab\r\n", F_CR },
	{ "CR CR LF", "a\r\r\n", "a\r\n", F_CR },
	{ "LF.LF", "x\n.\n", "x\r\n.\r\n", F_LF },
	{ "LF, empty CRLF line kept", "a\n\r\n", "a\r\n\r\n", F_LF },
	{ "LF CR", "a\n\rb", "a\r\nb", F_LF | F_CR },
};

/* bdat_run - chunks split at k1 and k2 (k1 <= k2), then LAST. */
static unsigned
bdat_run(const char *in, size_t k1, size_t k2, struct buf *out)
{
	struct data_rx	 rx;
	size_t		 len = strlen(in);

	smtp_data_init(&rx, 1000, out);
	smtp_data_bdat_feed(&rx, in, k1);
	smtp_data_bdat_feed(&rx, in + k1, k2 - k1);
	smtp_data_bdat_feed(&rx, in + k2, len - k2);
	smtp_data_bdat_last(&rx);
	assert_int_equal(rx.size, out->len);
	return flags_of(&rx);
}

static void
test_bdat_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bdat_cases) / sizeof(bdat_cases[0]);
	    i++) {
		const struct bdat_case *c = &bdat_cases[i];
		size_t		 len = strlen(c->in);

		print_message("bdat case: %s\n", c->name);
		for (size_t k1 = 0; k1 <= len; k1++)
			for (size_t k2 = k1; k2 <= len; k2++) {
				struct buf	 out;

				buf_init(&out, 0);
				assert_int_equal(bdat_run(c->in, k1, k2, &out),
				    c->flags);
				assert_string_equal(buf_cstr(&out), c->out);
				buf_free(&out);
			}
	}
}

static void
test_bdat_cr_lf_across_chunks(void **state)
{
	struct data_rx	 rx;
	struct buf	 out;

	(void)state;
	buf_init(&out, 0);
	smtp_data_init(&rx, 1000, &out);
	smtp_data_bdat_feed(&rx, S("Subject: a\r"));
	assert_string_equal(buf_cstr(&out), "Subject: a");
	smtp_data_bdat_feed(&rx, S("\n\r"));
	smtp_data_bdat_feed(&rx, S("\nbody\r"));
	smtp_data_bdat_feed(&rx, S("\n"));
	smtp_data_bdat_last(&rx);
	assert_int_equal(smtp_data_fault(&rx, false), DATA_FAULT_NONE);
	assert_string_equal(buf_cstr(&out), "Subject: a\r\n\r\nbody\r\n");
	assert_false(rx.in_header);
	buf_free(&out);
}

static void
test_bdat_final_lone_cr(void **state)
{
	struct data_rx	 rx;

	(void)state;
	smtp_data_init(&rx, 1000, NULL);
	smtp_data_bdat_feed(&rx, S("abc\r\n"));
	smtp_data_bdat_feed(&rx, S("def\r"));
	smtp_data_bdat_feed(&rx, S(""));
	assert_int_equal(smtp_data_fault(&rx, false), DATA_FAULT_NONE);
	smtp_data_bdat_last(&rx);
	assert_int_equal(smtp_data_fault(&rx, true), DATA_FAULT_BARE_CR);
}

static void
test_bdat_cr_then_other(void **state)
{
	struct data_rx	 rx;

	(void)state;
	smtp_data_init(&rx, 1000, NULL);
	smtp_data_bdat_feed(&rx, S("abc\r"));
	smtp_data_bdat_feed(&rx, S("d"));
	assert_int_equal(smtp_data_fault(&rx, true), DATA_FAULT_BARE_CR);
	smtp_data_bdat_last(&rx);
	assert_int_equal(smtp_data_fault(&rx, true), DATA_FAULT_BARE_CR);
}

static void
test_bdat_nul(void **state)
{
	struct data_rx	 rx;
	struct buf	 out;

	(void)state;
	buf_init(&out, 0);
	smtp_data_init(&rx, 1000, &out);
	smtp_data_bdat_feed(&rx, "a\r\n\0.\r\n", 7);
	smtp_data_bdat_last(&rx);
	assert_int_equal(smtp_data_fault(&rx, true), DATA_FAULT_NUL);
	assert_int_equal(out.len, 7);
	buf_free(&out);
}

static void
test_bdat_size_and_headers(void **state)
{
	struct data_rx	 rx;
	struct buf	 out;

	(void)state;
	buf_init(&out, 0);
	smtp_data_init(&rx, 8, &out);
	smtp_data_bdat_feed(&rx, S("Received: x\r"));
	smtp_data_bdat_feed(&rx, S("\n\r\n\xff"));
	smtp_data_bdat_last(&rx);
	assert_int_equal(smtp_data_fault(&rx, false), DATA_FAULT_NONE);
	assert_int_equal(rx.hdr_received, 1);
	assert_false(rx.in_header);
	assert_true(rx.eightbit);
	assert_true(rx.overflow);
	assert_int_equal(rx.size, 16);
	assert_int_equal(out.len, 8);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_nul_bytes_kept),
		cmocka_unit_test(test_nul_dot_is_not_an_end),
		cmocka_unit_test(test_fault_order),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_size_counts_after_unstuffing),
		cmocka_unit_test(test_buf_ceiling_sets_overflow),
		cmocka_unit_test(test_null_out_counts),
		cmocka_unit_test(test_eightbit),
		cmocka_unit_test(test_received_count),
		cmocka_unit_test(test_header_section),
		cmocka_unit_test(test_after_end_is_sticky),
		cmocka_unit_test(test_bare_lf_cannot_end_data),
		cmocka_unit_test(test_long_lines_split),
		cmocka_unit_test(test_bdat_table),
		cmocka_unit_test(test_bdat_cr_lf_across_chunks),
		cmocka_unit_test(test_bdat_final_lone_cr),
		cmocka_unit_test(test_bdat_cr_then_other),
		cmocka_unit_test(test_bdat_nul),
		cmocka_unit_test(test_bdat_size_and_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
