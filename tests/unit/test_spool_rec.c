/*
 * test_spool_rec.c - cmocka tests for src/spool_rec.c: record framing,
 * envelope round trips, status records, truncation and corruption.
 * Run under ASan+UBSan with leak checking: every failing decode must
 * free what it allocated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "mail/smtp_parse.h"
#include "mail/envelope.h"
#include "mail/spool_rec.h"
#include "lib/util.h"

#define TEST_ID		"0123456789ABCDEF"

/* A record for building test files; n = 0 with v != NULL means strlen. */
struct rec {
	char		 t;
	const char	*v;
	size_t		 n;
};
#define R(t, s)		{ t, s, sizeof(s) - 1 }
#define REND		{ 0, NULL, 0 }
#define HEAD		R('V', "1"), R('I', TEST_ID), \
			R('T', "1700000000000000"), R('S', "a@b.example"), \
			R('Z', "42")

static void	 build(struct buf *, const struct rec *);
static void	 make_full(struct envelope *);
static void	 assert_str_eq(const char *, const char *);
static void	 assert_env_eq(const struct envelope *,
		    const struct envelope *);
static void	 encode_ok(const struct envelope *, struct buf *);

static void
build(struct buf *b, const struct rec *r)
{
	buf_init(b, 0);
	for (; r->t != 0; r++)
		assert_int_equal(spool_rec_put(b, r->t, r->v, r->n), 0);
}

static void
make_full(struct envelope *e)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->id, "4BF2A9C01E000001", QUEUE_ID_LEN + 1);
	e->arrival = UINT64_MAX;
	e->sender = xstrdup("alice@example.com");
	e->helo = xstrdup("client.example \x01 odd");
	e->client = xstrdup("[192.0.2.1]:51234");
	e->client_name = xstrdup("client.example");
	e->auth = xstrdup("alice");
	e->envid = xstrdup("QQ314159");
	e->ret = SMTP_RET_HDRS;
	e->body = SMTP_BODY_8BITMIME;
	e->smtputf8 = true;
	e->prepend = xstrdup("Authentication-Results: mx.example.com;\r\n"
	    "\tdkim=none\r\n");
	e->quarantine = ENV_HOLD_LISTENER;
	e->tls_req = ENV_TLS_REQUIRE;
	e->size = 2301;
	e->nrcpt = 2;
	e->rcpts = xcalloc(2, sizeof(*e->rcpts));
	e->rcpts[0].addr = xstrdup("bob@example.org");
	e->rcpts[0].orig = xstrdup("Bob@Example.org");
	e->rcpts[0].orcpt = xstrdup("rfc822;bob@example.org");
	e->rcpts[0].notify = SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY;
	e->rcpts[0].kind = RCPT_REMOTE;
	e->rcpts[1].addr = xstrdup("carol@example.com");
	e->rcpts[1].notify = SMTP_NOTIFY_NEVER;
}

static void
assert_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

/* assert_env_eq - everything envelope_encode writes, recipient state too. */
static void
assert_env_eq(const struct envelope *a, const struct envelope *b)
{
	assert_string_equal(a->id, b->id);
	assert_true(a->arrival == b->arrival && a->size == b->size);
	assert_str_eq(a->sender, b->sender);
	assert_str_eq(a->helo, b->helo);
	assert_str_eq(a->client, b->client);
	assert_str_eq(a->client_name, b->client_name);
	assert_str_eq(a->auth, b->auth);
	assert_str_eq(a->envid, b->envid);
	assert_int_equal(a->ret, b->ret);
	assert_int_equal(a->body, b->body);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->tls_req, b->tls_req);
	assert_int_equal(a->nrcpt, b->nrcpt);
	for (size_t i = 0; i < a->nrcpt; i++) {
		const struct env_rcpt	*x = &a->rcpts[i], *y = &b->rcpts[i];

		assert_str_eq(x->addr, y->addr);
		assert_str_eq(x->orig, y->orig);
		assert_str_eq(x->orcpt, y->orcpt);
		assert_int_equal(x->notify, y->notify);
		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->state, y->state);
		assert_str_eq(x->status, y->status);
	}
}

static void
encode_ok(const struct envelope *e, struct buf *b)
{
	buf_init(b, 0);
	assert_int_equal(envelope_encode(e, b), 0);
}

/* -- records ------------------------------------------------------------ */

static void
test_rec_binary_roundtrip(void **state)
{
	static const char	 v1[] = "a\r\nb";
	static const char	 v2[] = "\nV3:abc\n.0:\n";
	static const char	 v3[] = "x\0y\0";
	struct buf		 b;
	size_t			 off = 0, vlen;
	const char		*val;
	char			 type;

	buf_init(&b, 0);
	assert_int_equal(spool_rec_put(&b, 'S', v1, sizeof(v1) - 1), 0);
	assert_int_equal(spool_rec_put(&b, 'H', v2, sizeof(v2) - 1), 0);
	assert_int_equal(spool_rec_put(&b, 't', v3, sizeof(v3) - 1), 0);
	assert_int_equal(spool_rec_put(&b, '.', "", 0), 0);
	assert_memory_equal(b.data, "S4:a\r\nb\n", 8);

	assert_int_equal(spool_rec_get(b.data, b.len, &off, &type, &val,
	    &vlen), REC_OK);
	assert_int_equal(type, 'S');
	assert_int_equal(vlen, sizeof(v1) - 1);
	assert_memory_equal(val, v1, vlen);
	assert_int_equal(spool_rec_get(b.data, b.len, &off, &type, &val,
	    &vlen), REC_OK);
	assert_int_equal(type, 'H');
	assert_int_equal(vlen, sizeof(v2) - 1);
	assert_memory_equal(val, v2, vlen);
	assert_int_equal(spool_rec_get(b.data, b.len, &off, &type, &val,
	    &vlen), REC_OK);
	assert_int_equal(type, 't');
	assert_int_equal(vlen, sizeof(v3) - 1);
	assert_memory_equal(val, v3, vlen);
	assert_int_equal(spool_rec_get(b.data, b.len, &off, &type, &val,
	    &vlen), REC_OK);
	assert_int_equal(type, '.');
	assert_int_equal(vlen, 0);
	assert_int_equal(off, b.len);
	assert_int_equal(spool_rec_get(b.data, b.len, &off, &type, &val,
	    &vlen), REC_EOF);
	buf_free(&b);
}

static const struct {
	const char		*in;
	size_t			 len;
	enum spool_rec_result	 want;
	const char		*val;		/* on REC_OK */
} rec_cases[] = {
#define C(s, w, v)	{ s, sizeof(s) - 1, w, v }
	C("V0:\n", REC_OK, ""),
	C("V1:1\n", REC_OK, "1"),
	C("V10:0123456789\n", REC_OK, "0123456789"),
	C(".0:\n", REC_OK, ""),
	C("", REC_EOF, NULL),
	C("V00:\n", REC_BAD, NULL),		/* leading zeros */
	C("V01:a\n", REC_BAD, NULL),
	C("V0000000001:a\n", REC_BAD, NULL),
	C("V12345678901:", REC_BAD, NULL),	/* more than 10 digits */
	C("V9999999999:", REC_BAD, NULL),	/* over SPOOL_REC_MAX */
	C("V4294967297:a\n", REC_BAD, NULL),	/* would wrap 32 bits */
	C("V18446744073709551617:a\n", REC_BAD, NULL),	/* would wrap 64 */
	C("V1048577:", REC_BAD, NULL),		/* SPOOL_REC_MAX + 1 */
	C("V1048577", REC_BAD, NULL),		/* known bad before ':' */
	C("V:\n", REC_BAD, NULL),		/* no digits */
	C("V:", REC_BAD, NULL),
	C("V1a\n", REC_BAD, NULL),		/* missing ':' */
	C("V1\na\n", REC_BAD, NULL),
	C("V-1:a\n", REC_BAD, NULL),
	C("V+1:a\n", REC_BAD, NULL),
	C("V 1:a\n", REC_BAD, NULL),
	C("V1:ab", REC_BAD, NULL),		/* missing '\n' */
	C("V1:a\r\n", REC_BAD, NULL),
	C("V0:x", REC_BAD, NULL),
	C("V", REC_TRUNCATED, NULL),
	C("V1", REC_TRUNCATED, NULL),
	C("V12", REC_TRUNCATED, NULL),
	C("V1:", REC_TRUNCATED, NULL),
	C("V1:a", REC_TRUNCATED, NULL),		/* '\n' cut off */
	C("V5:ab", REC_TRUNCATED, NULL),	/* value longer than data */
	C("V5:ab\n", REC_TRUNCATED, NULL),
	C("1:a\n", REC_BAD, NULL),		/* bad type */
	C("\n", REC_BAD, NULL),
	C(":1:a\n", REC_BAD, NULL),
	C("\0" "0:\n", REC_BAD, NULL),
	C("\xc3" "0:\n", REC_BAD, NULL),
#undef C
};

static void
test_rec_get_table(void **state)
{
	for (size_t i = 0; i < NELEM(rec_cases); i++) {
		const char		*val = NULL;
		size_t			 off = 0, vlen = 0;
		char			 type = 0;
		enum spool_rec_result	 r;

		r = spool_rec_get(rec_cases[i].in, rec_cases[i].len, &off,
		    &type, &val, &vlen);
		if (r != rec_cases[i].want)
			fail_msg("case %zu: got %d want %d", i, (int)r,
			    (int)rec_cases[i].want);
		if (r != REC_OK) {
			assert_int_equal(off, 0);
			continue;
		}
		assert_int_equal(off, rec_cases[i].len);
		assert_int_equal(type, rec_cases[i].in[0]);
		assert_int_equal(vlen, strlen(rec_cases[i].val));
		assert_memory_equal(val, rec_cases[i].val, vlen);
	}
}

static void
test_rec_type_bytes(void **state)
{
	for (int c = 0; c < 256; c++) {
		char			 in[4] = { (char)c, '0', ':', '\n' };
		bool			 good;
		const char		*val;
		size_t			 off = 0, vlen;
		char			 type;

		good = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    c == '.';
		assert_int_equal(spool_rec_get(in, sizeof(in), &off, &type,
		    &val, &vlen), good ? REC_OK : REC_BAD);
	}
}

static void
test_rec_offsets(void **state)
{
	static const char	 in[] = "A1:x\nB0:\n";
	const char		*val;
	size_t			 off = sizeof(in), vlen;
	char			 type;

	/* an offset past the end is refused, not read */
	assert_int_equal(spool_rec_get(in, sizeof(in) - 1, &off, &type,
	    &val, &vlen), REC_BAD);
	off = 5;
	assert_int_equal(spool_rec_get(in, sizeof(in) - 1, &off, &type,
	    &val, &vlen), REC_OK);
	assert_int_equal(type, 'B');
	assert_int_equal(off, sizeof(in) - 1);
}

static void
test_rec_put_limits(void **state)
{
	struct buf	 b;
	char		*big = xcalloc(SPOOL_REC_MAX + 1, 1);
	const char	*val;
	size_t		 off = 0, vlen;
	char		 type;

	buf_init(&b, 0);
	assert_int_equal(spool_rec_put(&b, 'x', big, SPOOL_REC_MAX + 1), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(spool_rec_put(&b, 'x', big, SPOOL_REC_MAX), 0);
	assert_int_equal(spool_rec_get(b.data, b.len, &off, &type, &val,
	    &vlen), REC_OK);
	assert_int_equal(vlen, SPOOL_REC_MAX);
	buf_free(&b);
	free(big);

	/* a full buffer takes the whole record or nothing */
	buf_init(&b, 8);
	assert_int_equal(spool_rec_puts(&b, 'a', "12345"), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(spool_rec_puts(&b, 'a', "123"), 0);
	assert_int_equal(b.len, 7);
	assert_int_equal(spool_rec_puts(&b, 'b', ""), -1);
	assert_int_equal(b.len, 7);
	buf_free(&b);
}

static void
test_rec_putu64(void **state)
{
	struct buf	 b;

	buf_init(&b, 0);
	assert_int_equal(spool_rec_putu64(&b, 'T', 0), 0);
	assert_int_equal(spool_rec_putu64(&b, 'T', UINT64_MAX), 0);
	assert_string_equal(b.data, "T1:0\nT20:18446744073709551615\n");
	buf_free(&b);
}

/* -- envelopes ---------------------------------------------------------- */

static void
test_env_minimal_golden(void **state)
{
	static const char	 want[] = "V1:1\nI16:" TEST_ID "\nT1:7\nS0:\n"
	    "R1:0\nB1:0\nU1:0\nZ1:0\nr3:u@x\nk1:0\n.0:\n";
	struct env_rcpt		 rcpt = { .addr = (char *)"u@x" };
	struct envelope		 e = { .arrival = 7, .sender = (char *)"",
	    .nrcpt = 1, .rcpts = &rcpt };
	struct envelope		 d;
	struct buf		 b;
	char			 err[128];

	memcpy(e.id, TEST_ID, sizeof(e.id));
	encode_ok(&e, &b);
	assert_int_equal(b.len, sizeof(want) - 1);
	assert_memory_equal(b.data, want, b.len);
	assert_int_equal(envelope_decode(b.data, b.len, &d, err,
	    sizeof(err)), 0);
	assert_env_eq(&e, &d);
	assert_null(d.helo);
	assert_null(d.rcpts[0].orig);
	envelope_free(&d);
	buf_free(&b);
}

/*
 * check_digit_field - the envelope's one-digit field at off (an int), set
 * to v, is written as the record rec ("\nG1:1\n") and reads back; a
 * digit this version does not know is refused rather than taken as 0.
 */
static void
check_digit_field(size_t off, int v, const char *rec)
{
	struct envelope	 e, d;
	struct buf	 b;
	char		 err[128] = "", *g;

	make_full(&e);
	*(int *)(void *)((char *)&e + off) = v;
	encode_ok(&e, &b);
	g = memmem(b.data, b.len, rec, strlen(rec));
	assert_non_null(g);
	assert_int_equal(envelope_decode(b.data, b.len, &d, err,
	    sizeof(err)), 0);
	assert_int_equal(*(int *)(void *)((char *)&d + off), v);
	envelope_free(&d);
	g[4] = '7';
	assert_int_equal(envelope_decode(b.data, b.len, &d, err,
	    sizeof(err)), -1);
	envelope_free(&e);
	buf_free(&b);
}

/* The hold reason ('G'): 1 (DMARC, what older files hold) and 2 (the
 * listener) read back as written. */
static void
test_env_hold_reason(void **state)
{
	check_digit_field(offsetof(struct envelope, quarantine),
	    ENV_HOLD_DMARC, "\nG1:1\n");
	check_digit_field(offsetof(struct envelope, quarantine),
	    ENV_HOLD_LISTENER, "\nG1:2\n");
	assert_string_equal(envelope_hold_name(ENV_HOLD_DMARC), "dmarc");
	assert_string_equal(envelope_hold_name(ENV_HOLD_LISTENER),
	    "listener");
}

/* The TLS request ('M', RFC 8689): REQUIRETLS and "TLS-Required: No"
 * read back as written; the default is not written at all (older files
 * have no 'M'). */
static void
test_env_tls_request(void **state)
{
	struct envelope	 e, d;
	struct buf	 b;
	char		 err[128] = "";

	check_digit_field(offsetof(struct envelope, tls_req),
	    ENV_TLS_REQUIRE, "\nM1:1\n");
	check_digit_field(offsetof(struct envelope, tls_req),
	    ENV_TLS_OPTIONAL, "\nM1:2\n");
	make_full(&e);
	e.tls_req = ENV_TLS_DEFAULT;
	encode_ok(&e, &b);
	assert_null(memmem(b.data, b.len, "\nM1:", 5));
	assert_int_equal(envelope_decode(b.data, b.len, &d, err,
	    sizeof(err)), 0);
	assert_int_equal(d.tls_req, ENV_TLS_DEFAULT);
	assert_string_equal(envelope_tls_name(ENV_TLS_REQUIRE), "requiretls");
	assert_string_equal(envelope_tls_name(ENV_TLS_OPTIONAL), "optional");
	envelope_free(&d);
	envelope_free(&e);
	buf_free(&b);
}

static void
test_env_full_roundtrip(void **state)
{
	struct envelope	 e, d;
	struct buf	 b, b2;
	char		 err[128] = "";

	make_full(&e);
	encode_ok(&e, &b);
	if (envelope_decode(b.data, b.len, &d, err, sizeof(err)) != 0)
		fail_msg("decode: %s", err);
	assert_env_eq(&e, &d);
	assert_string_equal(d.prepend, e.prepend);
	assert_int_equal(d.quarantine, ENV_HOLD_LISTENER);
	assert_int_equal(d.attempts, 0);
	assert_int_equal(d.next_attempt, 0);
	assert_false(d.bounced);
	encode_ok(&d, &b2);
	assert_int_equal(b.len, b2.len);
	assert_memory_equal(b.data, b2.data, b.len);
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
	buf_free(&b2);
}

static void
test_env_many_rcpts(void **state)
{
	struct envelope	 e, d;
	struct buf	 b;
	char		 err[128] = "";
	size_t		 n = 1000;

	make_full(&e);
	for (size_t i = 0; i < e.nrcpt; i++) {
		free(e.rcpts[i].addr);
		free(e.rcpts[i].orig);
		free(e.rcpts[i].orcpt);
	}
	e.rcpts = xreallocarray(e.rcpts, n, sizeof(*e.rcpts));
	memset(e.rcpts, 0, n * sizeof(*e.rcpts));
	e.nrcpt = n;
	for (size_t i = 0; i < n; i++) {
		xasprintf(&e.rcpts[i].addr, "user%zu@example.org", i);
		e.rcpts[i].kind = i % 2 ? RCPT_REMOTE : RCPT_LOCAL;
	}
	encode_ok(&e, &b);
	assert_int_equal(envelope_put_done(&b, 999, "250 ok"), 0);
	e.rcpts[999].state = RCPT_DONE;
	e.rcpts[999].status = xstrdup("250 ok");
	if (envelope_decode(b.data, b.len, &d, err, sizeof(err)) != 0)
		fail_msg("decode: %s", err);
	assert_env_eq(&e, &d);
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
}

static void
test_env_status_applied(void **state)
{
	struct envelope	 e, d;
	struct buf	 b;
	char		 err[128] = "";

	make_full(&e);
	encode_ok(&e, &b);
	assert_int_equal(envelope_put_deferred(&b, 0, "451 4.3.0 try\r\n"
	    "451 later"), 0);
	assert_int_equal(envelope_put_schedule(&b, 1, 1700000000300000), 0);
	assert_int_equal(envelope_put_done(&b, 1, NULL), 0);
	assert_int_equal(envelope_put_deferred(&b, 1, "421 x"), 0);
	assert_int_equal(envelope_put_failed(&b, 0, "550 5.1.1 no"), 0);
	assert_int_equal(envelope_put_schedule(&b, 4294967295u,
	    UINT64_MAX), 0);
	assert_int_equal(envelope_put_bounced(&b), 0);
	assert_int_equal(envelope_put_warned(&b), 0);
	if (envelope_decode(b.data, b.len, &d, err, sizeof(err)) != 0)
		fail_msg("decode: %s", err);
	assert_true(d.warned);
	assert_int_equal(d.rcpts[0].state, RCPT_FAILED);
	assert_string_equal(d.rcpts[0].status, "550 5.1.1 no");
	assert_int_equal(d.rcpts[1].state, RCPT_DONE);
	assert_string_equal(d.rcpts[1].status, "421 x");
	assert_int_equal(d.attempts, 4294967295u);
	assert_true(d.next_attempt == UINT64_MAX);
	assert_true(d.bounced);
	envelope_free(&d);

	/* deferred alone leaves the state pending; "" is kept as "" */
	buf_reset(&b);
	assert_int_equal(envelope_encode(&e, &b), 0);
	assert_int_equal(envelope_put_deferred(&b, 1, ""), 0);
	assert_int_equal(envelope_decode(b.data, b.len, &d, err,
	    sizeof(err)), 0);
	assert_int_equal(d.rcpts[1].state, RCPT_PENDING);
	assert_string_equal(d.rcpts[1].status, "");
	assert_false(d.bounced);
	envelope_free(&d);
	envelope_free(&e);
	buf_free(&b);
}

/* test_env_state_roundtrip - encode carries recipient state and status. */
static void
test_env_state_roundtrip(void **state)
{
	struct envelope	 e, d;
	struct buf	 b;
	char		 err[128] = "";

	make_full(&e);
	e.rcpts[0].state = RCPT_FAILED;
	e.rcpts[0].status = xstrdup("550 5.1.1\r\n550 bye");
	e.rcpts[1].state = RCPT_DONE;
	e.attempts = 3;
	e.bounced = true;
	encode_ok(&e, &b);
	if (envelope_decode(b.data, b.len, &d, err, sizeof(err)) != 0)
		fail_msg("decode: %s", err);
	assert_env_eq(&e, &d);
	assert_int_equal(d.attempts, 0);
	assert_false(d.bounced);
	envelope_free(&e);
	envelope_free(&d);
	buf_free(&b);
}

static void
test_env_truncated_status_ignored(void **state)
{
	struct envelope	 e, d;
	struct buf	 b;
	size_t		 base;
	char		 err[128] = "";

	make_full(&e);
	encode_ok(&e, &b);
	assert_int_equal(envelope_put_done(&b, 0, "250 2.0.0 ok"), 0);
	base = b.len;
	assert_int_equal(envelope_put_failed(&b, 1, "550 5.1.1 no"), 0);
	/* every cut inside the last record: ignored, the first one kept */
	for (size_t n = base; n < b.len; n++) {
		if (envelope_decode(b.data, n, &d, err, sizeof(err)) != 0)
			fail_msg("cut at %zu: %s", n, err);
		assert_int_equal(d.rcpts[0].state, RCPT_DONE);
		assert_int_equal(d.rcpts[1].state, RCPT_PENDING);
		assert_null(d.rcpts[1].status);
		envelope_free(&d);
	}
	assert_int_equal(envelope_decode(b.data, b.len, &d, err,
	    sizeof(err)), 0);
	assert_int_equal(d.rcpts[1].state, RCPT_FAILED);
	envelope_free(&d);
	envelope_free(&e);
	buf_free(&b);
}

static void
test_env_every_prefix_fails(void **state)
{
	struct envelope	 e, d;
	struct buf	 b;
	char		 err[128];

	make_full(&e);
	e.rcpts[0].state = RCPT_DONE;
	e.rcpts[0].status = xstrdup("250 ok");
	encode_ok(&e, &b);
	for (size_t n = 0; n < b.len; n++) {
		err[0] = '\0';
		/* an unfinished commit, never a corrupt file */
		if (envelope_decode(b.data, n, &d, err, sizeof(err)) != -2)
			fail_msg("prefix of %zu bytes not seen as incomplete", n);
		assert_true(err[0] != '\0');
		assert_null(d.rcpts);
		assert_null(d.sender);
		assert_int_equal(d.nrcpt, 0);
	}
	assert_int_equal(envelope_decode(b.data, b.len, &d, NULL, 0), 0);
	envelope_free(&d);
	envelope_free(&e);
	buf_free(&b);
}

/* test_env_corrupted_bytes - no byte change crashes or leaks. */
static void
test_env_corrupted_bytes(void **state)
{
	static const char	 subst[] = { 0, '\n', ':', '0', '9', 'Z', '.',
	    'r', (char)0xff };
	struct envelope		 e, d;
	struct buf		 b;
	char			 err[64], *copy;
	size_t			 nfail = 0;

	make_full(&e);
	encode_ok(&e, &b);
	assert_int_equal(envelope_put_done(&b, 1, "250 ok"), 0);
	copy = xmalloc(b.len);
	for (size_t i = 0; i < b.len; i++) {
		for (size_t k = 0; k < sizeof(subst); k++) {
			memcpy(copy, b.data, b.len);
			if (copy[i] == subst[k])
				continue;
			copy[i] = subst[k];
			if (envelope_decode(copy, b.len, &d, err,
			    sizeof(err)) < 0)
				nfail++;
			envelope_free(&d);
		}
	}
	/* a NUL or LF in any framing byte must be caught */
	assert_true(nfail > b.len);
	free(copy);
	envelope_free(&e);
	buf_free(&b);
}

/* Queue files that must be refused. */
static const struct {
	const char	*name;
	struct rec	 recs[16];
} bad_files[] = {
	{ "empty", { REND } },
	{ "no end", { HEAD, R('r', "u@x"), REND } },
	{ "no version", { R('I', TEST_ID), R('T', "1"), R('S', ""),
	    R('Z', "1"), R('r', "u@x"), R('.', ""), REND } },
	{ "version 2", { R('V', "2"), R('I', TEST_ID), R('T', "1"),
	    R('S', ""), R('Z', "1"), R('r', "u@x"), R('.', ""), REND } },
	{ "version empty", { R('V', ""), REND } },
	{ "end with value", { HEAD, R('r', "u@x"), R('.', "x"), REND } },
	{ "unknown", { HEAD, R('Y', "1"), R('r', "u@x"), R('.', ""),
	    REND } },
	{ "status before end", { HEAD, R('r', "u@x"), R('D', "0"),
	    R('.', ""), REND } },
	{ "duplicate version", { HEAD, R('V', "1"), R('r', "u@x"),
	    R('.', ""), REND } },
	{ "duplicate sender", { HEAD, R('S', "b@c"), R('r', "u@x"),
	    R('.', ""), REND } },
	{ "duplicate orig", { HEAD, R('r', "u@x"), R('o', "a@b"),
	    R('o', "a@b"), R('.', ""), REND } },
	{ "missing id", { R('V', "1"), R('T', "1"), R('S', ""), R('Z', "1"),
	    R('r', "u@x"), R('.', ""), REND } },
	{ "missing arrival", { R('V', "1"), R('I', TEST_ID), R('S', ""),
	    R('Z', "1"), R('r', "u@x"), R('.', ""), REND } },
	{ "missing sender", { R('V', "1"), R('I', TEST_ID), R('T', "1"),
	    R('Z', "1"), R('r', "u@x"), R('.', ""), REND } },
	{ "missing size", { R('V', "1"), R('I', TEST_ID), R('T', "1"),
	    R('S', ""), R('r', "u@x"), R('.', ""), REND } },
	{ "no recipients", { HEAD, R('.', ""), REND } },
	{ "id lower case", { R('V', "1"), R('I', "0123456789abcdef"),
	    REND } },
	{ "id short", { R('V', "1"), R('I', "0123456789ABCDE"), REND } },
	{ "id long", { R('V', "1"), R('I', "0123456789ABCDEF0"), REND } },
	{ "id not hex", { R('V', "1"), R('I', "0123456789ABCDEG"), REND } },
	{ "arrival empty", { R('V', "1"), R('T', ""), REND } },
	{ "arrival leading zero", { R('V', "1"), R('T', "01"), REND } },
	{ "arrival sign", { R('V', "1"), R('T', "+1"), REND } },
	{ "arrival space", { R('V', "1"), R('T', "1 "), REND } },
	{ "arrival overflow", { R('V', "1"),
	    R('T', "18446744073709551616"), REND } },
	{ "arrival 21 digits", { R('V', "1"),
	    R('T', "100000000000000000000"), REND } },
	{ "size hex", { R('V', "1"), R('Z', "0x10"), REND } },
	{ "sender LF", { R('V', "1"), R('S', "a@b\nZ1:0"), REND } },
	{ "sender CR", { R('V', "1"), R('S', "a@b\r"), REND } },
	{ "sender NUL", { R('V', "1"), R('S', "a@b\0"), REND } },
	{ "helo NUL", { R('V', "1"), R('H', "\0x"), REND } },
	{ "client NUL", { R('V', "1"), R('C', "x\0"), REND } },
	{ "auth LF", { R('V', "1"), R('A', "a\nb"), REND } },
	{ "envid CR", { R('V', "1"), R('E', "a\rb"), REND } },
	{ "ret 3", { R('V', "1"), R('R', "3"), REND } },
	{ "body 3", { R('V', "1"), R('B', "3"), REND } },
	{ "smtputf8 2", { R('V', "1"), R('U', "2"), REND } },
	{ "smtputf8 empty", { R('V', "1"), R('U', ""), REND } },
	{ "smtputf8 yes", { R('V', "1"), R('U', "y"), REND } },
	{ "tls request 3", { R('V', "1"), R('M', "3"), REND } },
	{ "tls request empty", { R('V', "1"), R('M', ""), REND } },
	{ "rcpt empty", { HEAD, R('r', ""), R('.', ""), REND } },
	{ "rcpt LF", { HEAD, R('r', "u@x\n"), R('.', ""), REND } },
	{ "rcpt NUL", { HEAD, R('r', "u\0@x"), R('.', ""), REND } },
	{ "orig empty", { HEAD, R('r', "u@x"), R('o', ""), R('.', ""),
	    REND } },
	{ "orcpt CR", { HEAD, R('r', "u@x"), R('c', "rfc822;a\r"),
	    R('.', ""), REND } },
	{ "notify bits", { HEAD, R('r', "u@x"), R('n', "16"), R('.', ""),
	    REND } },
	{ "notify never+", { HEAD, R('r', "u@x"), R('n', "3"), R('.', ""),
	    REND } },
	{ "kind 2", { HEAD, R('r', "u@x"), R('k', "2"), R('.', ""), REND } },
	{ "state 3", { HEAD, R('r', "u@x"), R('s', "3"), R('.', ""),
	    REND } },
	{ "status NUL", { HEAD, R('r', "u@x"), R('t', "a\0"), R('.', ""),
	    REND } },
	{ "attr before rcpt", { HEAD, R('o', "a@b"), R('r', "u@x"),
	    R('.', ""), REND } },
	{ "msg after rcpt", { R('V', "1"), R('I', TEST_ID), R('T', "1"),
	    R('S', ""), R('r', "u@x"), R('Z', "1"), R('.', ""), REND } },
	{ "done index", { HEAD, R('r', "u@x"), R('.', ""), R('D', "1"),
	    REND } },
	{ "done index 0x", { HEAD, R('r', "u@x"), R('.', ""), R('D', "0x0"),
	    REND } },
	{ "done no index", { HEAD, R('r', "u@x"), R('.', ""), R('D', " ok"),
	    REND } },
	{ "done empty", { HEAD, R('r', "u@x"), R('.', ""), R('D', ""),
	    REND } },
	{ "failed index", { HEAD, R('r', "u@x"), R('.', ""),
	    R('F', "18446744073709551616 x"), REND } },
	{ "deferred NUL", { HEAD, R('r', "u@x"), R('.', ""),
	    R('L', "0 a\0b"), REND } },
	{ "schedule one", { HEAD, R('r', "u@x"), R('.', ""), R('P', "1"),
	    REND } },
	{ "schedule attempts", { HEAD, R('r', "u@x"), R('.', ""),
	    R('P', "4294967296 0"), REND } },
	{ "schedule two spaces", { HEAD, R('r', "u@x"), R('.', ""),
	    R('P', "1  0"), REND } },
	{ "warned value", { HEAD, R('r', "u@x"), R('.', ""), R('W', "1"),
	    REND } },
	{ "bounced value", { HEAD, R('r', "u@x"), R('.', ""), R('Q', "1"),
	    REND } },
	{ "unknown status", { HEAD, R('r', "u@x"), R('.', ""), R('r', "a@b"),
	    REND } },
	{ "second end", { HEAD, R('r', "u@x"), R('.', ""), R('.', ""),
	    REND } },
};

static void
test_env_decode_rejects(void **state)
{
	for (size_t i = 0; i < NELEM(bad_files); i++) {
		struct envelope	 d;
		struct buf	 b;
		char		 err[128] = "";

		int		 r;

		build(&b, bad_files[i].recs);
		r = envelope_decode(b.data != NULL ? b.data : "", b.len, &d,
		    err, sizeof(err));
		/* the first two are incomplete commits: -2, the rest bad: -1 */
		if (r != (i <= 1 ? -2 : -1))
			fail_msg("\"%s\" gave %d", bad_files[i].name, r);
		assert_true(err[0] != '\0');
		/* each case fails for its own reason, not for lacking '.' */
		if (i > 1 && strstr(err, "truncated") != NULL)
			fail_msg("\"%s\": %s", bad_files[i].name, err);
		assert_null(d.rcpts);
		buf_free(&b);
	}
}

static void
test_env_decode_bad_framing_after_end(void **state)
{
	struct envelope	 e, d;
	struct buf	 b;
	char		 err[128];

	make_full(&e);
	encode_ok(&e, &b);
	/* a whole but malformed record is corruption, not a crash cut */
	assert_int_equal(buf_puts(&b, "D01:0\n"), 0);
	assert_int_equal(envelope_decode(b.data, b.len, &d, err,
	    sizeof(err)), -1);
	b.len -= 6;
	assert_int_equal(buf_puts(&b, "D1:0X"), 0);
	assert_int_equal(envelope_decode(b.data, b.len, &d, err,
	    sizeof(err)), -1);
	b.len -= 5;
	assert_int_equal(buf_append(&b, "\0\0\0\0", 4), 0);
	assert_int_equal(envelope_decode(b.data, b.len, &d, err,
	    sizeof(err)), -1);
	envelope_free(&e);
	buf_free(&b);
}

static void
test_env_optional_order(void **state)
{
	static const struct rec	 recs[] = {
		R('V', "1"), R('Z', "5"), R('S', ""), R('H', "h\r\nx"),
		R('T', "9"), R('I', TEST_ID), R('r', "u@x"), R('k', "1"),
		R('n', "1"), R('r', "v@x"), R('.', ""), REND
	};
	struct envelope		 d;
	struct buf		 b;
	char			 err[128] = "";

	build(&b, recs);
	if (envelope_decode(b.data, b.len, &d, err, sizeof(err)) != 0)
		fail_msg("decode: %s", err);
	assert_string_equal(d.sender, "");
	assert_string_equal(d.helo, "h\r\nx");
	assert_int_equal(d.size, 5);
	assert_int_equal(d.ret, SMTP_RET_NONE);
	assert_false(d.smtputf8);
	assert_int_equal(d.nrcpt, 2);
	assert_int_equal(d.rcpts[0].kind, RCPT_REMOTE);
	assert_int_equal(d.rcpts[0].notify, SMTP_NOTIFY_NEVER);
	assert_int_equal(d.rcpts[1].kind, RCPT_LOCAL);
	envelope_free(&d);
	buf_free(&b);
}

static void
test_env_encode_rejects(void **state)
{
	struct envelope	 e;
	struct buf	 b;
	char		*saved;

	make_full(&e);
	buf_init(&b, 0);
	assert_int_equal(buf_puts(&b, "keep"), 0);
#define BAD(stmt, undo) do {						\
		stmt;							\
		assert_int_equal(envelope_encode(&e, &b), -1);		\
		assert_int_equal(b.len, 4);				\
		assert_string_equal(b.data, "keep");			\
		undo;							\
	} while (0)
	BAD(e.id[3] = 'a', e.id[3] = '2');
	BAD(e.id[15] = '\0', e.id[15] = '1');
	BAD(e.ret = 3, e.ret = 0);
	BAD(e.body = -1, e.body = 0);
	BAD(e.nrcpt = 0, e.nrcpt = 2);
	BAD(e.rcpts[1].kind = (enum rcpt_kind)2, e.rcpts[1].kind = 0);
	BAD(e.rcpts[1].state = (enum rcpt_state)7, e.rcpts[1].state = 0);
	BAD(e.rcpts[1].notify = 0x10, e.rcpts[1].notify = 0);
	BAD(e.rcpts[1].notify = 0x03, e.rcpts[1].notify = 0);
	saved = e.sender;
	BAD(e.sender = NULL, e.sender = saved);
	BAD(e.sender = (char *)"a@b\n", e.sender = saved);
	saved = e.auth;
	BAD(e.auth = (char *)"x\ry", e.auth = saved);
	saved = e.rcpts[1].addr;
	BAD(e.rcpts[1].addr = (char *)"", e.rcpts[1].addr = saved);
	BAD(e.rcpts[1].addr = NULL, e.rcpts[1].addr = saved);
#undef BAD
	/* and a full buffer */
	b.max = 100;
	assert_int_equal(envelope_encode(&e, &b), -1);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "keep");
	envelope_free(&e);
	buf_free(&b);
}

static void
test_env_free_zeroed(void **state)
{
	struct envelope	 e;

	memset(&e, 0, sizeof(e));
	envelope_free(&e);
	make_full(&e);
	envelope_free(&e);
	assert_null(e.sender);
	assert_null(e.rcpts);
	assert_int_equal(e.nrcpt, 0);
	envelope_free(&e);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_rec_binary_roundtrip),
		cmocka_unit_test(test_rec_get_table),
		cmocka_unit_test(test_rec_type_bytes),
		cmocka_unit_test(test_rec_offsets),
		cmocka_unit_test(test_rec_put_limits),
		cmocka_unit_test(test_rec_putu64),
		cmocka_unit_test(test_env_minimal_golden),
		cmocka_unit_test(test_env_full_roundtrip),
		cmocka_unit_test(test_env_hold_reason),
		cmocka_unit_test(test_env_many_rcpts),
		cmocka_unit_test(test_env_status_applied),
		cmocka_unit_test(test_env_state_roundtrip),
		cmocka_unit_test(test_env_truncated_status_ignored),
		cmocka_unit_test(test_env_every_prefix_fails),
		cmocka_unit_test(test_env_corrupted_bytes),
		cmocka_unit_test(test_env_decode_rejects),
		cmocka_unit_test(test_env_tls_request),
		cmocka_unit_test(test_env_decode_bad_framing_after_end),
		cmocka_unit_test(test_env_optional_order),
		cmocka_unit_test(test_env_encode_rejects),
		cmocka_unit_test(test_env_free_zeroed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
