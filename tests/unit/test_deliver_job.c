/*
 * test_deliver_job.c - unit tests for the deliver process's job: decoding
 * IPC_DELIVER as queue encodes it, refusing a truncated or oversized
 * request (and closing its descriptor), capping a recipient's status and
 * text, the IPC_DELIVER_REPLY payload read back field by field, the
 * remote-only predicate and the Received: count of the loop check.
 * Messages are files under a fresh mkdtemp directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "deliver/deliver_job.h"
#include "lib/buf.h"
#include "lib/ipc_proto.h"
#include "mail/envelope.h"
#include "mail/smtp_parse.h"

/* message_fd - a read-only descriptor of a temporary file holding text. */
static int
message_fd(const char *text)
{
	char	path[] = "/tmp/test_deliver_job.XXXXXX";
	int	fd = mkstemp(path);
	size_t	len = strlen(text);

	assert_true(fd != -1);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	unlink(path);
	return fd;
}

static bool
is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/* put_request_data - an IPC_DELIVER payload as queue.c sends it, the
 * message in the frame when data is not NULL (the envelope's size: its
 * length plus skew). */
static void
put_request_data(struct buf *b, uint32_t n, const char *data, int skew)
{
	struct ipc_deliver_rcpt	 r[2];
	struct ipc_deliver	 d = { "4BF2A9C01E000001",
	    "alice@example.com", 1234567, 1, r, n, SMTP_BODY_8BITMIME, 1,
	    SMTP_RET_HDRS, "env-1", 1000, "X-Trace: 1\r\n", ENV_TLS_REQUIRE,
	    { data, data != NULL ? strlen(data) : 0 } };

	if (data != NULL)
		d.size = strlen(data) + (uint64_t)skew;

	assert_true(n <= 2);
	for (uint32_t i = 0; i < n; i++) {
		r[i].index = 3 + i;
		r[i].kind = i == 0 ? RCPT_LOCAL : RCPT_REMOTE;
		r[i].addr = i == 0 ? "bob@example.org" : "carol@example.net";
		r[i].orig = i == 0 ? "bobby@example.org" : "carol@example.net";
		r[i].notify = SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY;
		r[i].orcpt = i == 0 ? "rfc822;bob@example.org" : "";
	}
	IPC_ENCODE(b, IPC_DELIVER, &d);
}

static void
put_request(struct buf *b, uint32_t n)
{
	put_request_data(b, n, NULL, 0);
}

static struct ipc_msg
msg_of(const struct buf *b, size_t len, int fd)
{
	struct ipc_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = IPC_DELIVER;
	m.id = 42;
	m.p = (const unsigned char *)b->data;
	m.len = len;
	m.fd = fd;
	return m;
}

static void
test_decode(void **state)
{
	struct buf		 b;
	struct ipc_msg		 m;
	struct deliver_job	*j;
	int			 fd = message_fd("Subject: x\r\n\r\nhi\r\n");

	(void)state;
	buf_init(&b, 0);
	put_request(&b, 2);
	m = msg_of(&b, b.len, fd);
	j = deliver_job_decode(&m);
	assert_non_null(j);
	assert_int_equal(j->reqid, 42);
	assert_string_equal(j->id, "4BF2A9C01E000001");
	assert_string_equal(j->sender, "alice@example.com");
	assert_int_equal(j->arrival, 1234567);
	assert_true(j->recovered);
	assert_int_equal(j->fd, fd);
	assert_int_equal(j->n, 2);
	assert_int_equal(j->r[0].index, 3);
	assert_int_equal(j->r[0].kind, RCPT_LOCAL);
	assert_string_equal(j->r[0].addr, "bob@example.org");
	assert_string_equal(j->r[0].orig, "bobby@example.org");
	assert_string_equal(j->r[0].orcpt, "rfc822;bob@example.org");
	assert_int_equal(j->r[1].index, 4);
	assert_int_equal(j->r[1].kind, RCPT_REMOTE);
	assert_string_equal(j->r[1].orcpt, "");
	assert_int_equal(j->r[1].notify,
	    SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY);
	assert_int_equal(j->body, SMTP_BODY_8BITMIME);
	assert_true(j->smtputf8);
	assert_int_equal(j->ret, SMTP_RET_HDRS);
	assert_int_equal(j->tls_req, ENV_TLS_REQUIRE);
	assert_string_equal(j->envid, "env-1");
	/* SIZE= counts the prepended fields that go out too */
	assert_int_equal(j->size, 1000 + strlen("X-Trace: 1\r\n"));
	assert_string_equal(j->prepend, "X-Trace: 1\r\n");
	/* no result yet: remote.c tells them by the empty status */
	assert_string_equal(j->r[0].dsn, "");
	assert_string_equal(j->relay, "");
	deliver_job_free(j);
	assert_false(is_open(fd));
	buf_free(&b);
}

/* Every cut of a valid request is refused, and its descriptor closed. */
static void
test_decode_truncated(void **state)
{
	struct buf	b;

	(void)state;
	buf_init(&b, 0);
	put_request(&b, 2);
	for (size_t len = 0; len < b.len; len++) {
		int		 fd = message_fd("x");
		struct ipc_msg	 m = msg_of(&b, len, fd);

		if (deliver_job_decode(&m) != NULL)
			fail_msg("accepted a request cut at %zu of %zu", len,
			    b.len);
		assert_false(is_open(fd));
	}
	buf_free(&b);
}

static void
test_decode_refused(void **state)
{
	struct buf	b;
	struct ipc_msg	m;
	int		fd;

	(void)state;
	/* no recipient */
	buf_init(&b, 0);
	put_request(&b, 0);
	fd = message_fd("x");
	m = msg_of(&b, b.len, fd);
	assert_null(deliver_job_decode(&m));
	assert_false(is_open(fd));
	buf_free(&b);

	/* more recipients than a request may carry: refused before the
	 * allocation, whatever follows */
	buf_init(&b, 0);
	ipc_put_str(&b, "4BF2A9C01E000001");
	ipc_put_str(&b, "");
	ipc_put_u64(&b, 0);
	ipc_put_u32(&b, 0);
	ipc_put_u32(&b, DELIVER_JOB_RCPT_MAX + 1);
	fd = message_fd("x");
	m = msg_of(&b, b.len, fd);
	assert_null(deliver_job_decode(&m));
	assert_false(is_open(fd));
	buf_free(&b);

	/* no message descriptor */
	buf_init(&b, 0);
	put_request(&b, 1);
	m = msg_of(&b, b.len, -1);
	assert_null(deliver_job_decode(&m));
	buf_free(&b);
}

/* A small message in the frame: no descriptor, the couriers read the
 * copy; the frame may carry one or the other, not both, and the content
 * must be the size the envelope says. */
static void
test_decode_inline(void **state)
{
	const char		*text = "Subject: x\r\n\r\nhi\r\n";
	struct buf		 b;
	struct ipc_msg		 m;
	struct deliver_job	*j;
	char			 got[64];
	int			 fd;

	(void)state;
	buf_init(&b, 0);
	put_request_data(&b, 2, text, 0);
	m = msg_of(&b, b.len, -1);
	j = deliver_job_decode(&m);
	assert_non_null(j);
	assert_int_equal(j->fd, -1);
	assert_int_equal(j->datalen, strlen(text));
	assert_memory_equal(j->data, text, strlen(text));
	assert_int_equal(deliver_job_read(j, got, 7, 0), 7);
	assert_memory_equal(got, "Subject", 7);
	assert_int_equal(deliver_job_read(j, got, sizeof(got), 14), 4);
	assert_memory_equal(got, "hi\r\n", 4);
	assert_int_equal(deliver_job_read(j, got, sizeof(got),
	    (off_t)strlen(text)), 0);
	deliver_job_free(j);

	/* content and a descriptor: refused, the descriptor closed */
	fd = message_fd(text);
	m = msg_of(&b, b.len, fd);
	assert_null(deliver_job_decode(&m));
	assert_false(is_open(fd));
	buf_free(&b);

	/* content that is not the envelope's size */
	for (int skew = -1; skew <= 1; skew += 2) {
		buf_init(&b, 0);
		put_request_data(&b, 1, text, skew);
		m = msg_of(&b, b.len, -1);
		assert_null(deliver_job_decode(&m));
		buf_free(&b);
	}
}

static void
test_set_result_caps(void **state)
{
	struct deliver_rcpt	r;
	char			long_text[DELIVER_JOB_TEXT_MAX * 2];

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(long_text, 'a', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	deliver_job_set_result(&r, DELIVER_TEMP, "4.4.1", "no host");
	assert_int_equal(r.result, DELIVER_TEMP);
	assert_string_equal(r.dsn, "4.4.1");
	assert_string_equal(r.text, "no host");
	/* a peer's status and text are cut, never overflow */
	deliver_job_set_result(&r, DELIVER_PERM, "5.1.1000000", long_text);
	assert_int_equal(r.result, DELIVER_PERM);
	assert_string_equal(r.dsn, "5.1.100");
	assert_int_equal(strlen(r.text), DELIVER_JOB_TEXT_MAX - 1);
	assert_memory_equal(r.text, long_text, DELIVER_JOB_TEXT_MAX - 1);
}

static void
test_encode_reply(void **state)
{
	struct buf		 b, out;
	struct ipc_msg		 m;
	struct deliver_job	*j;

	(void)state;
	buf_init(&b, 0);
	put_request(&b, 2);
	m = msg_of(&b, b.len, message_fd("x"));
	j = deliver_job_decode(&m);
	assert_non_null(j);
	deliver_job_set_result(&j->r[0], DELIVER_OK, "2.0.0",
	    "delivered to maildir");
	deliver_job_set_result(&j->r[1], DELIVER_PERM, "5.1.1",
	    "no such user");
	deliver_job_set_mta(&j->r[1], "mx.example.org");
	buf_init(&out, 0);
	deliver_job_encode_reply(j, &out);
	m = msg_of(&out, out.len, -1);
	m.type = IPC_DELIVER_REPLY;
	assert_string_equal(ipc_get_str(&m), "4BF2A9C01E000001");
	assert_int_equal(ipc_get_u32(&m), 2);
	assert_int_equal(ipc_get_u32(&m), 3);
	assert_int_equal(ipc_get_u32(&m), DELIVER_OK);
	assert_string_equal(ipc_get_str(&m), "2.0.0");
	assert_string_equal(ipc_get_str(&m), "delivered to maildir");
	assert_string_equal(ipc_get_str(&m), "");	/* a local reason */
	assert_int_equal(ipc_get_u32(&m), 4);
	assert_int_equal(ipc_get_u32(&m), DELIVER_PERM);
	assert_string_equal(ipc_get_str(&m), "5.1.1");
	assert_string_equal(ipc_get_str(&m), "no such user");
	assert_string_equal(ipc_get_str(&m), "mx.example.org");
	assert_true(ipc_msg_ok(&m));
	assert_int_equal(m.off, m.len);		/* nothing more */
	buf_free(&out);
	deliver_job_free(j);
	buf_free(&b);
}

static void
test_is_remote(void **state)
{
	struct buf		 b;
	struct ipc_msg		 m;
	struct deliver_job	*j;

	(void)state;
	buf_init(&b, 0);
	put_request(&b, 2);
	m = msg_of(&b, b.len, message_fd("x"));
	j = deliver_job_decode(&m);
	assert_non_null(j);
	assert_false(deliver_job_is_remote(j));		/* one is local */
	j->r[0].kind = RCPT_REMOTE;
	assert_true(deliver_job_is_remote(j));
	deliver_job_free(j);
	buf_free(&b);
}

/* A part has copies of some recipients and the message parameters,
 * knows each recipient's place in the whole request, and shares the
 * whole's descriptor without closing it. */
static void
test_part(void **state)
{
	struct buf		 b;
	struct ipc_msg		 m;
	struct deliver_job	*j, *p;
	size_t			 idx[] = { 1 };

	(void)state;
	buf_init(&b, 0);
	put_request(&b, 2);
	m = msg_of(&b, b.len, message_fd("x"));
	j = deliver_job_decode(&m);
	assert_non_null(j);
	p = deliver_job_part(j, idx, 1);
	assert_int_equal(j->nparts, 1);
	assert_ptr_equal(p->whole, j);
	assert_int_equal(p->n, 1);
	assert_int_equal(p->r[0].slot, 1);
	assert_int_equal(p->r[0].index, 4);
	assert_string_equal(p->r[0].addr, "carol@example.net");
	assert_ptr_not_equal(p->r[0].addr, j->r[1].addr);
	assert_string_equal(p->sender, "alice@example.com");
	assert_string_equal(p->envid, "env-1");
	assert_int_equal(p->tls_req, ENV_TLS_REQUIRE);
	assert_string_equal(p->prepend, "X-Trace: 1\r\n");
	assert_int_equal(p->ret, SMTP_RET_HDRS);
	assert_int_equal(p->fd, j->fd);
	deliver_job_free(p);
	assert_int_not_equal(fcntl(j->fd, F_GETFD), -1);	/* still open */
	deliver_job_free(j);
	buf_free(&b);
}

/* The loop check counts Received: fields of the header only, in any
 * case, and fails every recipient above the limit with 5.4.6. */
static void
test_loops(void **state)
{
	static const char	 msg[] =
	    "Received: from a\r\n"
	    "RECEIVED: from b\r\n"
	    "X-Received: not one\r\n"
	    "received: from c\r\n"
	    "Subject: loop?\r\n"
	    "\r\n"
	    "Received: in the body, not counted\r\n";
	struct buf		 b;
	struct ipc_msg		 m;
	struct deliver_job	*j;

	(void)state;
	buf_init(&b, 0);
	put_request(&b, 2);
	m = msg_of(&b, b.len, message_fd(msg));
	j = deliver_job_decode(&m);
	assert_non_null(j);
	assert_false(deliver_job_loops(j, 3));
	assert_string_equal(j->r[0].dsn, "");
	assert_true(deliver_job_loops(j, 2));
	for (size_t i = 0; i < j->n; i++) {
		assert_int_equal(j->r[i].result, DELIVER_PERM);
		assert_string_equal(j->r[i].dsn, "5.4.6");
		assert_string_equal(j->r[i].text,
		    "mail loop: too many Received: header fields");
	}
	deliver_job_free(j);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_decode_truncated),
		cmocka_unit_test(test_decode_refused),
		cmocka_unit_test(test_decode_inline),
		cmocka_unit_test(test_set_result_caps),
		cmocka_unit_test(test_encode_reply),
		cmocka_unit_test(test_is_remote),
		cmocka_unit_test(test_part),
		cmocka_unit_test(test_loops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
