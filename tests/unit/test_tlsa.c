/*
 * test_tlsa.c - TLSA records out of DNS answer messages (mail/tlsa.c):
 * plain and compressed owners, CNAME chains, wrong questions, lengths
 * and pointers that lead outside the message or into a loop, records
 * too short to hold their fields, and which records an SMTP client may
 * use (RFC 7672 3.1.3) and how they print.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mail/tlsa.h"
#include "lib/util.h"

#define QNAME	"_25._tcp.mx.example.com"

struct msg {
	unsigned char	 b[2048];
	size_t		 len;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	assert_true(m->len + n <= sizeof(m->b));
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void
put16(struct msg *m, unsigned v)
{
	unsigned char	b[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	put(m, b, 2);
}

/* put_name - a dotted name in wire form, uncompressed. */
static void
put_name(struct msg *m, const char *s)
{
	while (*s != '\0') {
		size_t		n = strcspn(s, ".");
		unsigned char	l = (unsigned char)n;

		put(m, &l, 1);
		put(m, s, n);
		s += n + (s[n] == '.');
	}
	put(m, "", 1);
}

/* start - header (an answers) and the question qname/type/IN. */
static void
start(struct msg *m, unsigned an, const char *qname, unsigned qtype)
{
	static const unsigned char	hdr[] = {
		0x12, 0x34, 0x81, 0xa0, 0, 1
	};

	m->len = 0;
	put(m, hdr, sizeof(hdr));
	put16(m, an);
	put16(m, 0);
	put16(m, 0);
	put_name(m, qname);
	put16(m, qtype);
	put16(m, 1);
}

/* rr - type/IN/TTL/RDLENGTH, then rdata; the owner is already put. */
static void
rr(struct msg *m, unsigned type, const void *rd, size_t n)
{
	put16(m, type);
	put16(m, 1);
	put16(m, 0);
	put16(m, 300);
	put16(m, (unsigned)n);
	put(m, rd, n);
}

static void
tlsa_rr(struct msg *m, unsigned u, unsigned s, unsigned t, size_t dlen)
{
	unsigned char	rd[80];

	rd[0] = (unsigned char)u;
	rd[1] = (unsigned char)s;
	rd[2] = (unsigned char)t;
	for (size_t i = 0; i < dlen; i++)
		rd[3 + i] = (unsigned char)i;
	rr(m, TLSA_RR_TYPE, rd, 3 + dlen);
}

static enum tlsa_rc
parse(const struct msg *m, struct tlsa_rec *out, size_t max, size_t *n,
    size_t *total)
{
	return tlsa_answer_parse(m->b, m->len, QNAME, out, max, n, total);
}

static void
test_two_records(void **state)
{
	struct msg	 m;
	struct tlsa_rec	 r[4];
	size_t		 n, total;

	(void)state;
	start(&m, 2, QNAME, TLSA_RR_TYPE);
	/* case does not matter */
	put_name(&m, "_25._TCP.MX.Example.COM");
	tlsa_rr(&m, 3, 1, 1, 32);
	put16(&m, 0xc00c);			/* the question's name */
	tlsa_rr(&m, 2, 0, 2, 64);
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(total, 2);
	assert_int_equal(r[0].usage, 3);
	assert_int_equal(r[0].selector, 1);
	assert_int_equal(r[0].mtype, 1);
	assert_int_equal(r[0].len, 32);
	assert_int_equal(r[0].data[31], 31);
	assert_true(tlsa_rec_usable(&r[0]));
	assert_int_equal(r[1].usage, 2);
	assert_int_equal(r[1].len, 64);
	assert_true(tlsa_rec_usable(&r[1]));
}

static void
test_nodata_and_other_owners(void **state)
{
	struct msg	 m;
	struct tlsa_rec	 r[4];
	size_t		 n, total;

	(void)state;
	start(&m, 0, QNAME, TLSA_RR_TYPE);
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_OK);
	assert_int_equal(n, 0);
	/* a record of another name, and an A record of ours: not counted */
	start(&m, 2, QNAME, TLSA_RR_TYPE);
	put_name(&m, "_25._tcp.other.example.com");
	tlsa_rr(&m, 3, 1, 1, 32);
	put16(&m, 0xc00c);
	rr(&m, 1, "\x7f\0\0\1", 4);
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_OK);
	assert_int_equal(total, 0);
}

static void
test_cname_chain(void **state)
{
	struct msg	 m;
	struct msg	 t;
	struct tlsa_rec	 r[4];
	size_t		 n, total;

	(void)state;
	start(&m, 3, QNAME, TLSA_RR_TYPE);
	put16(&m, 0xc00c);
	t.len = 0;
	put_name(&t, "_25._tcp.real.example.net");
	rr(&m, 5, t.b, t.len);
	put_name(&m, "_25._tcp.real.example.net");
	tlsa_rr(&m, 3, 1, 1, 32);
	put_name(&m, "_25._tcp.elsewhere.example.net");
	tlsa_rr(&m, 3, 1, 1, 32);
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_OK);
	assert_int_equal(n, 1);
}

static void
test_cname_chain_is_capped(void **state)
{
	struct msg	 m, t;
	struct tlsa_rec	 r[4];
	size_t		 n, total;
	char		 a[32], b[32];

	(void)state;
	/* QNAME -> c1 -> c2 ... -> c9, TLSA at c9: 9 links, one too many */
	start(&m, 10, QNAME, TLSA_RR_TYPE);
	for (int i = 0; i < 9; i++) {
		snprintf(a, sizeof(a), "c%d.example.net", i);
		snprintf(b, sizeof(b), "c%d.example.net", i + 1);
		put_name(&m, i == 0 ? QNAME : a);
		t.len = 0;
		put_name(&t, b);
		rr(&m, 5, t.b, t.len);
	}
	put_name(&m, "c9.example.net");
	tlsa_rr(&m, 3, 1, 1, 32);
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_OK);
	assert_int_equal(n, 0);
}

static void
test_bad_questions(void **state)
{
	struct msg	 m;
	struct tlsa_rec	 r[4];
	size_t		 n, total;

	(void)state;
	start(&m, 0, "_25._tcp.mx.example.org", TLSA_RR_TYPE);
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_BAD);
	start(&m, 0, QNAME, 1);
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_BAD);
	start(&m, 0, QNAME, TLSA_RR_TYPE);
	m.b[5] = 2;					/* QDCOUNT 2 */
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_BAD);
	assert_int_equal(tlsa_answer_parse(m.b, 11, QNAME, r, NELEM(r), &n,
	    &total), TLSA_BAD);
	assert_int_equal(tlsa_answer_parse(NULL, 0, QNAME, r, NELEM(r), &n,
	    &total), TLSA_BAD);
}

static void
test_structural_faults(void **state)
{
	struct msg	 m;
	struct tlsa_rec	 r[4];
	size_t		 n, total, full;

	(void)state;
	/* RDLENGTH past the end: every cut of a good message is refused */
	start(&m, 1, QNAME, TLSA_RR_TYPE);
	put16(&m, 0xc00c);
	tlsa_rr(&m, 3, 1, 1, 32);
	full = m.len;
	for (m.len = 12; m.len < full; m.len++)
		assert_int_equal(parse(&m, r, NELEM(r), &n, &total),
		    TLSA_BAD);
	/* an answer count larger than the answers */
	m.len = full;
	m.b[7] = 2;
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_BAD);
	assert_int_equal(n, 0);
	/* a pointer to itself, and one pointing forwards */
	start(&m, 1, QNAME, TLSA_RR_TYPE);
	put16(&m, 0xc000 | (unsigned)m.len);
	tlsa_rr(&m, 3, 1, 1, 32);
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_BAD);
	start(&m, 1, QNAME, TLSA_RR_TYPE);
	put16(&m, 0xc000 | (unsigned)(m.len + 4));
	tlsa_rr(&m, 3, 1, 1, 32);
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_BAD);
	/* an extended label type (01) */
	start(&m, 1, QNAME, TLSA_RR_TYPE);
	put(&m, "\x41", 1);
	tlsa_rr(&m, 3, 1, 1, 32);
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_BAD);
}

static void
test_short_rdata_and_many(void **state)
{
	struct msg	 m;
	struct tlsa_rec	 r[2];
	size_t		 n, total;

	(void)state;
	start(&m, 4, QNAME, TLSA_RR_TYPE);
	put16(&m, 0xc00c);
	rr(&m, TLSA_RR_TYPE, "\3\1", 2);		/* no room for mtype */
	for (int i = 0; i < 3; i++) {
		put16(&m, 0xc00c);
		tlsa_rr(&m, 3, 1, 1, 32);
	}
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(total, 4);
	assert_int_equal(r[0].usage, 256);
	assert_false(tlsa_rec_usable(&r[0]));
	assert_true(tlsa_rec_usable(&r[1]));
}

static void
test_odd_owner_never_matches(void **state)
{
	struct msg	 m;
	struct tlsa_rec	 r[2];
	size_t		 n, total;

	(void)state;
	/* one label "_25._tcp" holding dots: not the name we asked for */
	start(&m, 1, QNAME, TLSA_RR_TYPE);
	put(&m, "\x08_25._tcp\x02mx\x07" "example\x03" "com\0", 25);
	tlsa_rr(&m, 3, 1, 1, 32);
	assert_int_equal(parse(&m, r, NELEM(r), &n, &total), TLSA_OK);
	assert_int_equal(total, 0);
}

static void
test_usable(void **state)
{
	static const unsigned char	data[64];
	static const struct {
		unsigned	 u, s, t;
		size_t		 len;
		bool		 ok;
	} cases[] = {
		{ 3, 1, 1, 32, true }, { 3, 0, 1, 32, true },
		{ 2, 1, 1, 32, true }, { 2, 0, 0, 40, true },
		{ 3, 1, 2, 64, true }, { 3, 1, 0, 1, true },
		{ 0, 1, 1, 32, false }, { 1, 1, 1, 32, false },	/* PKIX */
		{ 4, 1, 1, 32, false }, { 3, 2, 1, 32, false },
		{ 3, 1, 3, 32, false }, { 3, 1, 1, 31, false },
		{ 3, 1, 2, 32, false }, { 3, 1, 0, 0, false },
		{ 256, 256, 256, 0, false },
	};

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct tlsa_rec	r = { cases[i].u, cases[i].s, cases[i].t,
		    data, cases[i].len };

		print_message("case %zu\n", i);
		assert_int_equal(tlsa_rec_usable(&r), cases[i].ok);
	}
	assert_string_equal(tlsa_usage_str(0), "PKIX-TA");
	assert_string_equal(tlsa_usage_str(3), "DANE-EE");
	assert_string_equal(tlsa_usage_str(4), "unassigned");
}

static void
test_str(void **state)
{
	static const unsigned char	data[] = { 0x0f, 0xa0, 0xff };
	struct tlsa_rec			r = { 3, 1, 1, data, sizeof(data) };
	char				out[32];

	(void)state;
	assert_string_equal(tlsa_rec_str(&r, out, sizeof(out)),
	    "3 1 1 0fa0ff");
	assert_string_equal(tlsa_rec_str(&r, out, 11), "3 1 1 0...");
	assert_string_equal(tlsa_rec_str(&r, out, 4), "3 1");
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_two_records),
		cmocka_unit_test(test_nodata_and_other_owners),
		cmocka_unit_test(test_cname_chain),
		cmocka_unit_test(test_cname_chain_is_capped),
		cmocka_unit_test(test_bad_questions),
		cmocka_unit_test(test_structural_faults),
		cmocka_unit_test(test_short_rdata_and_many),
		cmocka_unit_test(test_odd_owner_never_matches),
		cmocka_unit_test(test_usable),
		cmocka_unit_test(test_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
