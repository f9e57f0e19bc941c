/*
 * test_smtp_data.c - unit tests for the DATA recognizer and BDAT checker.
 * Every case runs whole, split at every byte boundary into two feeds, and
 * byte by byte; all three must give the same result, consumption, output
 * and flags.  The smuggling variants come from CVE-2023-51764 and kin.
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

struct data_case {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	enum data_result result;
	size_t		 used;
	const char	*out;		/* expected output (NUL-free) */
};

static const struct data_case cases[] = {
	/* plain messages and the end marker */
	{ "simple", S("hello\r\n.\r\n"), DATA_END, 10, "hello\r\n" },
	{ "empty message", S(".\r\n"), DATA_END, 3, "" },
	{ "empty, then command", S(".\r\nQUIT\r\n"), DATA_END, 3, "" },
	{ "rest is next command", S("a\r\n.\r\nMAIL FROM:<x@y>\r\n"),
	    DATA_END, 6, "a\r\n" },
	{ "empty lines kept", S("\r\n\r\n.\r\n"), DATA_END, 7, "\r\n\r\n" },
	{ "no end yet", S("a\r\nb\r\n"), DATA_MORE, 6, "a\r\nb\r\n" },
	{ "dot pending", S("a\r\n."), DATA_MORE, 4, "a\r\n" },
	{ "dot cr pending", S("a\r\n.\r"), DATA_MORE, 5, "a\r\n" },
	{ "cr pending", S("abc\r"), DATA_MORE, 4, "abc" },
	{ "nothing", S(""), DATA_MORE, 0, "" },
	{ "mid-line dot", S("a.\r\n.\r\n"), DATA_END, 7, "a.\r\n" },
	{ "dot then space", S(". \r\n.\r\n"), DATA_END, 7, " \r\n" },
	{ "last line unterminated dot", S("a\r\nb.\r\n.\r\n"), DATA_END,
	    10, "a\r\nb.\r\n" },
	{ "nul bytes are text", "a\0b\r\n.\r\n", 8, DATA_END, 8, NULL },

	/* dot-stuffing (RFC 5321 4.5.2) */
	{ "stuffed dot line", S("..\r\n.\r\n"), DATA_END, 7, ".\r\n" },
	{ "stuffed text", S("..x\r\n.\r\n"), DATA_END, 8, ".x\r\n" },
	{ "single dot dropped", S(".x\r\n.\r\n"), DATA_END, 7, "x\r\n" },
	{ "three dots", S("...\r\n.\r\n"), DATA_END, 8, "..\r\n" },
	{ "stuffing at start and later", S("..a\r\nb\r\n..c\r\n.\r\n"),
	    DATA_END, 16, ".a\r\nb\r\n.c\r\n" },

	/* smuggling: bare LF and CR in every position */
	{ "LF.LF", S("a\n.\nMAIL FROM:<e@x>\r\n"), DATA_BAD_EOL, 2, "a" },
	{ "LF.CRLF", S("a\n.\r\n"), DATA_BAD_EOL, 2, "a" },
	{ "CRLF.LF", S("a\r\n.\n"), DATA_BAD_EOL, 5, "a\r\n" },
	{ "CR.CR", S("a\r.\r"), DATA_BAD_EOL, 3, "a" },
	{ "CR.CRLF", S("a\r.\r\n"), DATA_BAD_EOL, 3, "a" },
	{ "CRLF.CR", S("a\r\n.\rX"), DATA_BAD_EOL, 6, "a\r\n" },
	{ "CRLF.CR.CRLF", S("a\r\n.\r.\r\n"), DATA_BAD_EOL, 6, "a\r\n" },
	{ "CRLF.CRCRLF", S("a\r\n.\r\r\n"), DATA_BAD_EOL, 6, "a\r\n" },
	{ "start LF.CRLF", S("\n.\r\n"), DATA_BAD_EOL, 1, "" },
	{ "start CR.CRLF", S("\r.\r\n"), DATA_BAD_EOL, 2, "" },
	{ "start .LF", S(".\n"), DATA_BAD_EOL, 2, "" },
	{ "start .CR.", S(".\r.\r\n"), DATA_BAD_EOL, 3, "" },
	{ "start LF", S("\n"), DATA_BAD_EOL, 1, "" },
	{ "CRCRLF", S("a\r\r\n"), DATA_BAD_EOL, 3, "a" },
	{ "CR in text", S("a\rb\r\n.\r\n"), DATA_BAD_EOL, 3, "a" },
	{ "LF in text", S("ab\ncd\r\n.\r\n"), DATA_BAD_EOL, 3, "ab" },
	{ "LF after CRLF", S("a\r\n\n.\r\n"), DATA_BAD_EOL, 4, "a\r\n" },
	{ "LFCR", S("a\n\r.\r\n"), DATA_BAD_EOL, 2, "a" },
	{ "stuffed dot LF", S("..\n"), DATA_BAD_EOL, 3, "." },
	{ "dot LF later", S("x\r\n.\nMAIL FROM:<e@x>\r\n.\r\n"),
	    DATA_BAD_EOL, 5, "x\r\n" },
};

struct outcome {
	enum data_result result;
	size_t		 used;
	struct buf	 out;
	uint64_t	 size;
	bool		 overflow, eightbit, in_header;
	unsigned	 hdr_received;
};

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

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct data_case *c = &cases[i];
		struct outcome	 o;

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
		buf_free(&o.out);
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
	buf_free(&o.out);
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
	smtp_data_init(&rx, 100, &out);
	assert_int_equal(smtp_data_feed(&rx, S("\n"), &used), DATA_BAD_EOL);
	assert_int_equal(smtp_data_feed(&rx, S("x\r\n.\r\n"), &used),
	    DATA_BAD_EOL);
	assert_int_equal(used, 0);
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
	    DATA_BAD_EOL);
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
	enum data_result last;		/* result of the whole run */
	const char	*out;
};

static const struct bdat_case bdat_cases[] = {
	{ "plain", "a\r\nb\r\n", DATA_END, "a\r\nb\r\n" },
	{ "no final CRLF", "abc", DATA_END, "abc" },
	{ "dots are data", ".\r\n..x\r\n", DATA_END, ".\r\n..x\r\n" },
	{ "empty", "", DATA_END, "" },
	{ "final lone CR", "a\r\nb\r", DATA_BAD_EOL, NULL },
	{ "bare LF", "a\nb\r\n", DATA_BAD_EOL, NULL },
	{ "bare CR", "a\rb\r\n", DATA_BAD_EOL, NULL },
	{ "CR CR LF", "a\r\r\n", DATA_BAD_EOL, NULL },
	{ "LF.LF", "x\n.\n", DATA_BAD_EOL, NULL },
};

/* bdat_run - chunks split at k1 and k2 (k1 <= k2), then LAST. */
static enum data_result
bdat_run(const char *in, size_t k1, size_t k2, struct buf *out)
{
	struct data_rx	 rx;
	size_t		 len = strlen(in);
	enum data_result r;

	smtp_data_init(&rx, 1000, out);
	r = smtp_data_bdat_feed(&rx, in, k1);
	if (r == DATA_MORE)
		r = smtp_data_bdat_feed(&rx, in + k1, k2 - k1);
	if (r == DATA_MORE)
		r = smtp_data_bdat_feed(&rx, in + k2, len - k2);
	if (r == DATA_MORE)
		r = smtp_data_bdat_last(&rx);
	else
		assert_int_equal(smtp_data_bdat_last(&rx), DATA_BAD_EOL);
	return r;
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
				    c->last);
				if (c->out != NULL)
					assert_string_equal(buf_cstr(&out),
					    c->out);
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
	assert_int_equal(smtp_data_bdat_feed(&rx, S("Subject: a\r")), DATA_MORE);
	assert_string_equal(buf_cstr(&out), "Subject: a");
	assert_int_equal(smtp_data_bdat_feed(&rx, S("\n\r")), DATA_MORE);
	assert_int_equal(smtp_data_bdat_feed(&rx, S("\nbody\r")), DATA_MORE);
	assert_int_equal(smtp_data_bdat_feed(&rx, S("\n")), DATA_MORE);
	assert_int_equal(smtp_data_bdat_last(&rx), DATA_END);
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
	assert_int_equal(smtp_data_bdat_feed(&rx, S("abc\r\n")), DATA_MORE);
	assert_int_equal(smtp_data_bdat_feed(&rx, S("def\r")), DATA_MORE);
	assert_int_equal(smtp_data_bdat_feed(&rx, S("")), DATA_MORE);
	assert_int_equal(smtp_data_bdat_last(&rx), DATA_BAD_EOL);
}

static void
test_bdat_cr_then_other(void **state)
{
	struct data_rx	 rx;

	(void)state;
	smtp_data_init(&rx, 1000, NULL);
	assert_int_equal(smtp_data_bdat_feed(&rx, S("abc\r")), DATA_MORE);
	assert_int_equal(smtp_data_bdat_feed(&rx, S("d")), DATA_BAD_EOL);
	assert_int_equal(smtp_data_bdat_last(&rx), DATA_BAD_EOL);
}

static void
test_bdat_size_and_headers(void **state)
{
	struct data_rx	 rx;
	struct buf	 out;

	(void)state;
	buf_init(&out, 0);
	smtp_data_init(&rx, 8, &out);
	assert_int_equal(smtp_data_bdat_feed(&rx, S("Received: x\r")), DATA_MORE);
	assert_int_equal(smtp_data_bdat_feed(&rx, S("\n\r\n\xff")), DATA_MORE);
	assert_int_equal(smtp_data_bdat_last(&rx), DATA_END);
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
		cmocka_unit_test(test_bdat_size_and_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
