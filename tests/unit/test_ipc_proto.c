/*
 * test_ipc_proto.c - the codec of every IPC message (lib/ipc_proto.c):
 * each type round-trips (decode, then encode again, gives the same bytes,
 * and the fields read back are the ones written), every truncation and
 * any extra byte is refused, descriptors must come exactly when the type
 * says, strings over their limit are cut by the writer and refused by the
 * reader, and list counts larger than the frame are refused before
 * anything is allocated.  Every type has a sample here: a new message
 * without one fails test_every_type_has_a_sample.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "lib/ipc_proto.h"

static struct ipc_empty		 s_empty;
static struct ipc_peer		 s_peer = { 3 };
static struct ipc_reload	 s_reload = { "hostname = a\n", "/etc/x.conf",
	"a@b:$y$x\n", "", { "\0\1\2", 3 }, { "\3\4", 2 } };
static struct ipc_start		 s_start = { "/srv/mail", 1, 999, 995,
	{ "state_dir = var\n", "p.conf", "", "", { "", 0 }, { "K", 1 } } };
static struct ipc_dkim_key	 s_dkims[] = {
	{ "example.org", "s2026", "-----BEGIN PRIVATE KEY-----\n" },
	{ "example.net", "ed", "KEY2" } };
static struct ipc_dkim_material	 s_dkim = { s_dkims, 2 };
static struct ipc_tls_cert	 s_certs[] = { { "", "CERT", "KEY" },
	{ "*.example.org", "C2", "K2" } };
static struct ipc_tls_material	 s_tls = { s_certs, 2 };
static struct ipc_resolve	 s_resolve = { "user@example.org" };
static struct ipc_target	 s_targets[] = { { 0, "u@example.org" },
	{ 1, "far@example.net" } };
static struct ipc_resolve_reply	 s_resolve_reply = { 0, s_targets, 2 };
static struct ipc_spool_open_reply s_open_ok = { 1, "0123456789ABCDEF" };
static struct ipc_spool_commit	 s_commit = { "0123456789ABCDEF",
	{ "V1:1\n.0:\n", 9 }, { "Subject: x\r\n\r\n", 14 } };
static struct ipc_reply		 s_reply = { 0, "queue file write error" };
static struct ipc_id		 s_id = { "0123456789ABCDEF" };
static struct ipc_spool_status	 s_status = { "0661D23A2B879E00" };
static struct ipc_spool_status_reply s_status_reply = { 1 };
static struct ipc_deliver_rcpt	 s_drcpts[] = {
	{ 0, 1, "a@x.example", "A@x.example", 0x6, "rfc822;a@x.example" },
	{ 2, 1, "b@x.example", "b@x.example", 0, "" } };
static struct ipc_deliver	 s_deliver = { "0123456789ABCDEF",
	"s@y.example", 1700000000000000ULL, 1, s_drcpts, 2, 2, 1, 1, "env-1",
	4096, "Authentication-Results: x; spf=pass\r\n", 2, { NULL, 0 } };
static struct ipc_deliver_result s_results[] = {
	{ 0, 0, "2.0.0", "250 ok", "mx.example.org" },
	{ 2, 1, "4.4.1", "timed out", "" } };
static struct ipc_deliver_reply	 s_deliver_reply = { "0123456789ABCDEF",
	s_results, 2 };
static struct ipc_auth		 s_auth = { "alice@example.org", "secret",
    "LOGIN", "192.0.2.1", 1, 2 };
static struct ipc_auth_reply	 s_auth_reply = { 1, "alice@example.org", 1, 1,
    "PDEyMzQ+" };
static struct ipc_sender_owned	 s_owned = { "alice@example.org",
	"alice+x@example.org" };
static struct ipc_sender_owned_reply s_owned_reply = { 1 };
static struct ipc_greylist	 s_greylist = {
	"192.0.2.0/24|a@example.org|b@example.net" };
static struct ipc_greylist_reply s_greylist_reply = { 1, 300 };
static struct ipc_milter_connect s_milter = { 2 };
static struct ipc_milter_connect_reply s_milter_reply = { 1, 2, "" };
static struct ipc_ctl_rcpt	 s_crcpts[] = {
	{ "a@x.example", "a@x.example", 0, "" },
	{ "b@x.example", "B@x.example", 2, "5.1.1 no such user" } };
static struct ipc_ctl_entry	 s_entries[] = {
	{ "0123456789ABCDEF", "s@y.example", 1, 2048, 1, 3, s_crcpts, 2 },
	{ "0123456789ABCDF0", "", 2, 10, 0, 0, NULL, 0 } };
static struct ipc_ctl_list_reply s_list_reply = { 1, s_entries, 2 };
static struct ipc_ctl_show_reply s_show_reply = { 1, "",
	{ "0123456789ABCDEF", "s@y.example", 1, 2048, 2, 2, s_crcpts, 2 },
	"helo.example", "[192.0.2.1]:25", "mx.example", "", "env", 4,
	1700000000000000ULL, 0, { "Subject: x\r\n", 12 }, 1 };
static struct ipc_ctl_addr	 s_addrs[] = { { "a@x.example" },
	{ "b@x.example" } };
static struct ipc_ctl_submit	 s_submit = { "", s_addrs, 2,
	{ "Subject: x\r\n\r\nbody\r\n", 20 } };
static struct ipc_ctl_submit_reply s_submit_reply = { 0, "no recipients",
	64 };
static struct ipc_ctl_status_reply s_status_full = { 4242,
	1700000000000000ULL, "0.1.0", "/etc/postbote/postbote.conf",
	"/var/lib/postbote", "mx 0.0.0.0:25 mx\n", "smtpd 4243\n",
	1700000000500000ULL, "failed: smtpd: bad key" };
static struct ipc_ctl_body_reply s_body_reply = { 1, "",
	"Return-Path: <s@y.example>\r\n" };
static struct ipc_tlsrpt		 s_tlsrpt = { "tlsa", "mx.example.org",
	"3 1 1 0123abcd\n2 1 1 4567", "", "tlsa-invalid", "192.0.2.1",
	"mx.example.org", "192.0.2.9", "X509_V_ERR_CERT_UNTRUSTED" };

struct sample {
	uint16_t	 type;
	const void	*msg;
	size_t		 size;
};

#define S(t, m)		{ t, &m, sizeof(m) }

static const struct sample samples[] = {
	S(IPC_PEER, s_peer),
	S(IPC_RELOAD, s_reload),
	S(IPC_SHUTDOWN, s_empty),
	S(IPC_RESOLVE, s_resolve),
	S(IPC_RESOLVE_REPLY, s_resolve_reply),
	S(IPC_SPOOL_OPEN, s_empty),
	S(IPC_SPOOL_OPEN_REPLY, s_open_ok),
	S(IPC_SPOOL_COMMIT, s_commit),
	S(IPC_SPOOL_COMMIT_REPLY, s_reply),
	S(IPC_SPOOL_ABORT, s_id),
	S(IPC_DELIVER, s_deliver),
	S(IPC_DELIVER_REPLY, s_deliver_reply),
	S(IPC_CTL_LIST, s_empty),
	S(IPC_CTL_LIST_REPLY, s_list_reply),
	S(IPC_CTL_FLUSH, s_id),
	S(IPC_CTL_DELETE, s_id),
	S(IPC_CTL_HOLD, s_id),
	S(IPC_CTL_RELEASE, s_id),
	S(IPC_CTL_SHOW, s_id),
	S(IPC_CTL_REPLY, s_reply),
	S(IPC_AUTH, s_auth),
	S(IPC_AUTH_REPLY, s_auth_reply),
	S(IPC_SENDER_OWNED, s_owned),
	S(IPC_SENDER_OWNED_REPLY, s_owned_reply),
	S(IPC_GREYLIST, s_greylist),
	S(IPC_GREYLIST_REPLY, s_greylist_reply),
	S(IPC_CTL_SUBMIT, s_submit),
	S(IPC_CTL_SUBMIT_REPLY, s_submit_reply),
	S(IPC_CTL_SHOW_REPLY, s_show_reply),
	S(IPC_TLS_MATERIAL, s_tls),
	S(IPC_SPOOL_STATUS, s_status),
	S(IPC_SPOOL_STATUS_REPLY, s_status_reply),
	S(IPC_START, s_start),
	S(IPC_DKIM_MATERIAL, s_dkim),
	S(IPC_RELOAD_DONE, s_reply),
	S(IPC_CTL_RELOAD, s_empty),
	S(IPC_CTL_STOP, s_empty),
	S(IPC_CTL_STATUS, s_empty),
	S(IPC_CTL_STATUS_REPLY, s_status_full),
	S(IPC_CTL_BODY, s_id),
	S(IPC_CTL_BODY_REPLY, s_body_reply),
	S(IPC_MILTER_CONNECT, s_milter),
	S(IPC_MILTER_CONNECT_REPLY, s_milter_reply),
	S(IPC_TLSRPT, s_tlsrpt),
	S(IPC_CTL_TLSRPT_SHOW, s_empty),
	S(IPC_CTL_TLSRPT_SEND, s_empty),
};

/* view - a received frame over encoded bytes. */
static struct ipc_msg
view(uint16_t type, const struct buf *b, size_t len, int fd)
{
	struct ipc_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.p = (const unsigned char *)(b->data != NULL ? b->data : "");
	m.len = len;
	m.fd = fd;
	return m;
}

/* the fd a frame of the sample's type must carry (any number will do:
 * the decoder only looks at its presence) */
static int
fd_for(const struct sample *s)
{
	return ipc_proto_fd(s->type) != 0 ? 7 : -1;
}

static void
test_every_type_has_a_sample(void **state)
{
	(void)state;
	for (uint16_t t = 1; t < IPC_TYPE_MAX; t++) {
		bool	found = false;

		for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]);
		    i++)
			found = found || samples[i].type == t;
		if (!found)
			fail_msg("IPC type %u has no sample", t);
	}
}

static void
test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		const struct sample *s = &samples[i];
		struct buf	 a, b;
		struct ipc_msg	 m;
		const char	*why;
		void		*out = calloc(1, s->size);

		buf_init(&a, 0);
		buf_init(&b, 0);
		ipc_proto_encode(&a, s->type, s->msg, s->size);
		m = view(s->type, &a, a.len, fd_for(s));
		if (ipc_proto_decode(&m, out, s->size, &why) != 0)
			fail_msg("type %u: refused at %s", s->type, why);
		ipc_proto_encode(&b, s->type, out, s->size);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.data != NULL ? a.data : "",
		    b.data != NULL ? b.data : "", a.len);
		ipc_proto_free(s->type, out);
		free(out);
		buf_free(&a);
		buf_free(&b);
	}
}

/* Every prefix of a frame, and the frame with a byte more, is refused. */
static void
test_truncated_and_extra(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		const struct sample *s = &samples[i];
		struct buf	 a;
		struct ipc_msg	 m;
		const char	*why;
		void		*out = calloc(1, s->size);

		buf_init(&a, 0);
		ipc_proto_encode(&a, s->type, s->msg, s->size);
		for (size_t n = 0; n < a.len; n++) {
			m = view(s->type, &a, n, fd_for(s));
			if (ipc_proto_decode(&m, out, s->size, &why) == 0)
				fail_msg("type %u: %zu of %zu bytes accepted",
				    s->type, n, a.len);
		}
		buf_putc(&a, 'x');
		m = view(s->type, &a, a.len, fd_for(s));
		assert_int_equal(ipc_proto_decode(&m, out, s->size, &why), -1);
		assert_string_equal(why, "bytes left over");
		free(out);
		buf_free(&a);
	}
}

static void
test_fields_read_back(void **state)
{
	struct buf		 a;
	struct ipc_msg		 m;
	struct ipc_deliver	 d;
	const char		*why;

	(void)state;
	buf_init(&a, 0);
	IPC_ENCODE(&a, IPC_DELIVER, &s_deliver);
	m = view(IPC_DELIVER, &a, a.len, 9);
	assert_int_equal(IPC_DECODE(&m, &d, &why), 0);
	assert_string_equal(d.id, "0123456789ABCDEF");
	assert_string_equal(d.sender, "s@y.example");
	assert_true(d.arrival == 1700000000000000ULL);
	assert_int_equal(d.recovered, 1);
	assert_int_equal(d.nrcpts, 2);
	assert_int_equal(d.rcpts[0].notify, 0x6);
	assert_string_equal(d.rcpts[0].orcpt, "rfc822;a@x.example");
	assert_string_equal(d.rcpts[1].addr, "b@x.example");
	assert_int_equal(d.rcpts[1].index, 2);
	assert_string_equal(d.envid, "env-1");
	assert_int_equal(d.size, 4096);
	assert_string_equal(d.prepend, s_deliver.prepend);
	assert_int_equal(d.tls_req, 2);
	ipc_proto_free(IPC_DELIVER, &d);
	assert_null(d.rcpts);
	buf_free(&a);
}

static void
test_descriptors(void **state)
{
	struct buf			 a;
	struct ipc_msg			 m;
	struct ipc_spool_open_reply	 r, no = { 0, "" };
	struct ipc_id			 id;
	const char			*why;

	(void)state;
	buf_init(&a, 0);
	/* IPC_DELIVER: always with one */
	IPC_ENCODE(&a, IPC_DELIVER, &s_deliver);
	m = view(IPC_DELIVER, &a, a.len, -1);
	assert_int_equal(ipc_proto_decode(&m, &(struct ipc_deliver){ 0 },
	    sizeof(struct ipc_deliver), &why), -1);
	assert_string_equal(why, "descriptor");
	/* ... unless the message comes in the frame, and then never */
	{
		struct ipc_deliver	inl = s_deliver, d;

		inl.data.p = "Subject: x\r\n\r\n";
		inl.data.len = 15;
		inl.size = 15;
		buf_reset(&a);
		IPC_ENCODE(&a, IPC_DELIVER, &inl);
		m = view(IPC_DELIVER, &a, a.len, 7);
		assert_int_equal(IPC_DECODE(&m, &d, &why), -1);
		assert_string_equal(why, "descriptor");
		m = view(IPC_DELIVER, &a, a.len, -1);
		assert_int_equal(IPC_DECODE(&m, &d, &why), 0);
		assert_int_equal(d.data.len, 15);
		assert_memory_equal(d.data.p, inl.data.p, 15);
		ipc_proto_free(IPC_DELIVER, &d);
	}
	/* IPC_SPOOL_OPEN_REPLY: with one exactly when ok */
	buf_reset(&a);
	IPC_ENCODE(&a, IPC_SPOOL_OPEN_REPLY, &s_open_ok);
	m = view(IPC_SPOOL_OPEN_REPLY, &a, a.len, -1);
	assert_int_equal(IPC_DECODE(&m, &r, &why), -1);
	buf_reset(&a);
	IPC_ENCODE(&a, IPC_SPOOL_OPEN_REPLY, &no);
	m = view(IPC_SPOOL_OPEN_REPLY, &a, a.len, 5);
	assert_int_equal(IPC_DECODE(&m, &r, &why), -1);
	m = view(IPC_SPOOL_OPEN_REPLY, &a, a.len, -1);
	assert_int_equal(IPC_DECODE(&m, &r, &why), 0);
	assert_int_equal(r.ok, 0);
	/* anything else: never */
	buf_reset(&a);
	IPC_ENCODE(&a, IPC_CTL_DELETE, &s_id);
	m = view(IPC_CTL_DELETE, &a, a.len, 5);
	assert_int_equal(IPC_DECODE(&m, &id, &why), -1);
	buf_free(&a);
}

static void
test_string_limits(void **state)
{
	struct buf			 a;
	struct ipc_msg			 m;
	struct ipc_ctl_show_reply	 in = s_show_reply, out;
	char				*long_helo = malloc(IPC_CTL_STR_MAX + 10);
	const char			*why;

	(void)state;
	memset(long_helo, 'h', IPC_CTL_STR_MAX + 9);
	long_helo[IPC_CTL_STR_MAX + 9] = '\0';
	in.helo = long_helo;
	buf_init(&a, 0);
	IPC_ENCODE(&a, IPC_CTL_SHOW_REPLY, &in);	/* the writer cuts */
	m = view(IPC_CTL_SHOW_REPLY, &a, a.len, -1);
	assert_int_equal(IPC_DECODE(&m, &out, &why), 0);
	assert_int_equal(strlen(out.helo), IPC_CTL_STR_MAX);
	ipc_proto_free(IPC_CTL_SHOW_REPLY, &out);
	/* a string with a NUL inside is refused */
	buf_reset(&a);
	IPC_ENCODE(&a, IPC_RESOLVE, &s_resolve);
	a.data[4 + 4] = '\0';
	m = view(IPC_RESOLVE, &a, a.len, -1);
	assert_int_equal(IPC_DECODE(&m, &(struct ipc_resolve){ 0 }, &why),
	    -1);
	assert_string_equal(why, "addr");
	free(long_helo);
	buf_free(&a);
}

/* IPC_TLSRPT: every field read back; a field over its limit is cut by
 * the writer and refused by the reader. */
static void
test_tlsrpt(void **state)
{
	struct buf		 a;
	struct ipc_msg		 m;
	struct ipc_tlsrpt	 in = s_tlsrpt, out;
	char			*big = malloc(IPC_TLSRPT_STR_MAX + 2);
	const char		*why;

	(void)state;
	buf_init(&a, 0);
	IPC_ENCODE(&a, IPC_TLSRPT, &in);
	m = view(IPC_TLSRPT, &a, a.len, -1);
	assert_int_equal(IPC_DECODE(&m, &out, &why), 0);
	assert_string_equal(out.policy_type, "tlsa");
	assert_string_equal(out.policy_domain, "mx.example.org");
	assert_string_equal(out.policy_strings, s_tlsrpt.policy_strings);
	assert_string_equal(out.mx_host, "");
	assert_string_equal(out.result, "tlsa-invalid");
	assert_string_equal(out.sending_ip, "192.0.2.1");
	assert_string_equal(out.receiving_mx, "mx.example.org");
	assert_string_equal(out.receiving_ip, "192.0.2.9");
	assert_string_equal(out.reason, "X509_V_ERR_CERT_UNTRUSTED");
	memset(big, 'p', IPC_TLSRPT_STR_MAX + 1);
	big[IPC_TLSRPT_STR_MAX + 1] = '\0';
	in.policy_strings = big;
	buf_reset(&a);
	IPC_ENCODE(&a, IPC_TLSRPT, &in);
	m = view(IPC_TLSRPT, &a, a.len, -1);
	assert_int_equal(IPC_DECODE(&m, &out, &why), 0);
	assert_int_equal(strlen(out.policy_strings), IPC_TLSRPT_STR_MAX);
	/* a frame another writer made with the long string is refused */
	buf_reset(&a);
	ipc_put_u32(&a, 5);
	buf_append(&a, "tlsa", 5);
	ipc_put_u32(&a, 2);
	buf_append(&a, "d", 2);
	ipc_put_u32(&a, IPC_TLSRPT_STR_MAX + 2);
	buf_append(&a, big, IPC_TLSRPT_STR_MAX + 2);
	for (int i = 0; i < 6; i++) {
		ipc_put_u32(&a, 1);
		buf_append(&a, "", 1);
	}
	m = view(IPC_TLSRPT, &a, a.len, -1);
	assert_int_equal(IPC_DECODE(&m, &out, &why), -1);
	assert_string_equal(why, "policy_strings");
	free(big);
	buf_free(&a);
}

/* A count that the frame cannot hold is refused before any allocation
 * (ASan would report an allocation of 2^32 elements). */
static void
test_list_count_bounded(void **state)
{
	struct buf			 a;
	struct ipc_msg			 m;
	struct ipc_resolve_reply	 r;
	uint32_t			 huge = 0xffffffffu;
	const char			*why;

	(void)state;
	buf_init(&a, 0);
	ipc_put_u32(&a, 0);
	ipc_put_u32(&a, huge);
	ipc_put_u32(&a, 0);
	m = view(IPC_RESOLVE_REPLY, &a, a.len, -1);
	assert_int_equal(IPC_DECODE(&m, &r, &why), -1);
	assert_string_equal(why, "targets");
	assert_null(r.targets);
	/* under the absolute bound, but more than the bytes left can hold:
	 * refused at the count, not at the first missing element */
	buf_reset(&a);
	ipc_put_u32(&a, 0);
	ipc_put_u32(&a, 1000);
	ipc_put_u32(&a, 0);
	m = view(IPC_RESOLVE_REPLY, &a, a.len, -1);
	assert_int_equal(IPC_DECODE(&m, &r, &why), -1);
	assert_string_equal(why, "targets");
	/* a list cut short in its second element frees the first */
	buf_reset(&a);
	IPC_ENCODE(&a, IPC_RESOLVE_REPLY, &s_resolve_reply);
	m = view(IPC_RESOLVE_REPLY, &a, a.len - 3, -1);
	assert_int_equal(IPC_DECODE(&m, &r, &why), -1);
	assert_null(r.targets);
	buf_free(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_has_a_sample),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated_and_extra),
		cmocka_unit_test(test_fields_read_back),
		cmocka_unit_test(test_descriptors),
		cmocka_unit_test(test_string_limits),
		cmocka_unit_test(test_list_count_bounded),
		cmocka_unit_test(test_tlsrpt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
