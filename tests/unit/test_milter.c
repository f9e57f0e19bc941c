/*
 * test_milter.c - the milter codec: the packets we send, framing and its
 * ceiling, option negotiation, every reply and modification, what the
 * parser refuses, and the message editor.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "mail/milter.h"

/* pkt - a packet as a milter sends it. */
static size_t
pkt(char *out, char cmd, const void *d, size_t n)
{
	uint32_t	 len = (uint32_t)n + 1;

	out[0] = (char)(len >> 24);
	out[1] = (char)(len >> 16);
	out[2] = (char)(len >> 8);
	out[3] = (char)len;
	out[4] = cmd;
	memcpy(out + 5, d, n);
	return n + 5;
}

static int
parse(char cmd, const void *d, size_t n, struct milter_reply *r)
{
	static char		 b[4096];
	struct milter_pkt	 p;
	const char		*why;
	size_t			 len = pkt(b, cmd, d, n);

	assert_int_equal(milter_frame(b, len, MILTER_PACKET_MAX, &p),
	    (long)len);
	return milter_reply_parse(&p, r, &why);
}

static void
test_put(void **state)
{
	struct buf	 b;
	static const char *const names[] = { "j", "{client_addr}", "_" };
	const char	*values[] = { "mx.test", "127.0.0.1", NULL };
	static const char *const mail[] = { "<a@b.test>", "SIZE=10" };

	(void)state;
	buf_init(&b, 0);
	milter_put_optneg(&b, 6, MILTER_ACTIONS, MILTER_PROTOCOL);
	assert_int_equal(b.len, 17);
	assert_memory_equal(b.data, "\0\0\0\015O\0\0\0\6\0\0\0\377\0\17\367\377",
	    17);
	buf_reset(&b);
	milter_put_macros(&b, SMFIC_CONNECT, names, values, 3);
	assert_memory_equal(b.data, "\0\0\0\044DCj\0mx.test\0{client_addr}\0"
	    "127.0.0.1\0", 40);
	buf_reset(&b);
	milter_put_connect(&b, "localhost", "127.0.0.1", 2525);
	assert_memory_equal(b.data, "\0\0\0\030Clocalhost\0004\011\335"
	    "127.0.0.1\0", 28);
	buf_reset(&b);
	milter_put_connect(&b, "x", NULL, 0);
	assert_memory_equal(b.data, "\0\0\0\004Cx\0U", 8);
	buf_reset(&b);
	milter_put_strings(&b, SMFIC_MAIL, mail, 2);
	assert_memory_equal(b.data, "\0\0\0\024M<a@b.test>\0SIZE=10\0", 24);
	buf_reset(&b);
	milter_put_header(&b, "Subject", "hi");
	assert_memory_equal(b.data, "\0\0\0\014LSubject\0hi\0", 16);
	buf_reset(&b);
	milter_put(&b, SMFIC_BODYEOB, NULL, 0);
	assert_memory_equal(b.data, "\0\0\0\001E", 5);
	buf_free(&b);
}

static void
test_frame(void **state)
{
	struct milter_pkt	 p;
	char			 b[64];
	size_t			 n = pkt(b, 'c', "", 0);

	(void)state;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(milter_frame(b, i, 100, &p), 0);
	assert_int_equal(milter_frame(b, n, 100, &p), (long)n);
	assert_int_equal(p.cmd, 'c');
	assert_int_equal(p.len, 0);
	/* length 0, and over the ceiling: refused before any data came */
	assert_int_equal(milter_frame("\0\0\0\0", 4, 100, &p), -1);
	assert_int_equal(milter_frame("\0\0\1\0", 4, 100, &p), -1);
	assert_int_equal(milter_frame("\377\377\377\377", 4, MILTER_PACKET_MAX,
	    &p), -1);
}

static void
test_optneg(void **state)
{
	struct milter_pkt	 p = { 'O', "\0\0\0\6\0\0\0\1\0\0\0\020", 12 };
	uint32_t		 v, a, pr;

	(void)state;
	assert_int_equal(milter_optneg(&p, &v, &a, &pr), 0);
	assert_int_equal(v, 6);
	assert_int_equal(a, SMFIF_ADDHDRS);
	assert_int_equal(pr, SMFIP_NOBODY);
	p.len = 11;
	assert_int_equal(milter_optneg(&p, &v, &a, &pr), -1);
	/* asks for an action we did not offer (SETSYMLIST) */
	p = (struct milter_pkt){ 'O', "\0\0\0\6\0\0\1\0\0\0\0\0", 12 };
	assert_int_equal(milter_optneg(&p, &v, &a, &pr), -1);
	/* version 1 */
	p = (struct milter_pkt){ 'O', "\0\0\0\1\0\0\0\0\0\0\0\0", 12 };
	assert_int_equal(milter_optneg(&p, &v, &a, &pr), -1);
	p = (struct milter_pkt){ 'c', "\0\0\0\6\0\0\0\0\0\0\0\0", 12 };
	assert_int_equal(milter_optneg(&p, &v, &a, &pr), -1);
}

static void
test_replies(void **state)
{
	struct milter_reply	 r;

	(void)state;
	assert_int_equal(parse('c', "", 0, &r), 0);
	assert_int_equal(r.cmd, SMFIR_CONTINUE);
	assert_int_equal(parse('y', "550 5.7.1 go away", 18, &r), 0);
	assert_string_equal(r.text, "550 5.7.1 go away");
	assert_int_equal(parse('y', "451-4.7.1 a\r\n451 4.7.1 b", 25, &r), 0);
	assert_int_equal(parse('y', "250 ok", 7, &r), -1);
	assert_int_equal(parse('y', "550-a\r\n551 b", 13, &r), -1);
	assert_int_equal(parse('y', "550 a\r\n550 b", 13, &r), -1);
	assert_int_equal(parse('y', "550 a\nb", 8, &r), -1);
	assert_int_equal(parse('y', "550 no nul", 10, &r), -1);
	assert_int_equal(parse('h', "X-Spam\0yes", 11, &r), 0);
	assert_string_equal(r.name, "X-Spam");
	assert_string_equal(r.value, "yes");
	assert_int_equal(parse('h', "X-A\0b\n\tc", 9, &r), 0);
	assert_int_equal(parse('h', "X-A\0b\r\nBcc: x", 14, &r), -1);
	assert_int_equal(parse('h', "X-A\0b\rc", 8, &r), -1);
	assert_int_equal(parse('h', "X A\0b", 6, &r), -1);
	assert_int_equal(parse('h', "X:A\0b", 6, &r), -1);
	assert_int_equal(parse('h', "\0b", 3, &r), -1);
	assert_int_equal(parse('h', "X-A\0b", 5, &r), -1);
	assert_int_equal(parse('i', "\0\0\0\2X\0v", 8, &r), 0);
	assert_int_equal(r.index, 2);
	assert_int_equal(parse('m', "\0\0\0", 3, &r), -1);
	assert_int_equal(parse('e', "<a@b>\0SIZE=1", 13, &r), 0);
	assert_string_equal(r.addr, "<a@b>");
	assert_string_equal(r.args, "SIZE=1");
	assert_int_equal(parse('+', "<a@b>", 6, &r), 0);
	assert_null(r.args);
	assert_int_equal(parse('-', "<a@b>", 5, &r), -1);
	assert_int_equal(parse('q', "spam", 5, &r), 0);
	assert_string_equal(r.text, "spam");
	assert_int_equal(parse('q', "a\nb", 4, &r), -1);
	assert_int_equal(parse('b', "xyz", 3, &r), 0);
	assert_int_equal(r.bodylen, 3);
	assert_int_equal(parse('Z', "", 0, &r), -1);
}

static void
test_editor(void **state)
{
	static const char	 in[] = "Received: from a\r\n\tby b\r\n"
				    "Subject: hi\r\nX-A: 1\r\nx-a: 2\r\n\r\nbody\r\n";
	struct milter_msg	 m;
	struct buf		 out;
	char			*v;

	(void)state;
	milter_msg_parse(&m, in, sizeof(in) - 1);
	assert_int_equal(m.nh, 4);
	assert_string_equal(m.h[0].value, " from a\r\n\tby b");
	v = milter_hdr_value(m.h[0].value);
	assert_string_equal(v, "from a\n\tby b");
	free(v);
	buf_init(&out, 0);
	milter_msg_build(&m, &out);
	assert_int_equal(out.len, sizeof(in) - 1);
	assert_memory_equal(out.data, in, out.len);

	milter_msg_add(&m, "X-Spam", "yes");
	milter_msg_insert(&m, 0, "X-Top", "t\n\tu");
	milter_msg_change(&m, 2, "X-A", "");		/* the second X-A */
	milter_msg_change(&m, 1, "Subject", "[SPAM] hi");
	milter_msg_change(&m, 1, "X-New", "n");		/* none: added */
	milter_msg_change(&m, 1, "X-None", "");		/* none: nothing */
	buf_reset(&out);
	milter_msg_build(&m, &out);
	assert_string_equal(out.data, "X-Top: t\r\n\tu\r\n"
	    "Received: from a\r\n\tby b\r\nSubject: [SPAM] hi\r\nX-A: 1\r\n"
	    "X-Spam: yes\r\nX-New: n\r\n\r\nbody\r\n");
	milter_msg_free(&m);

	/* no header at all, and a body line that is not a field */
	milter_msg_parse(&m, "no header here\r\n", 16);
	assert_int_equal(m.nh, 0);
	assert_false(m.sep);
	milter_msg_add(&m, "X-A", "1");
	buf_reset(&out);
	milter_msg_build(&m, &out);
	assert_string_equal(out.data, "X-A: 1\r\n\r\nno header here\r\n");
	milter_msg_free(&m);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put),
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_optneg),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_editor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
