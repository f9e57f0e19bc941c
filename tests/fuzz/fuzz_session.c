/*
 * fuzz_session.c - libFuzzer target for a whole SMTP session: the bytes of
 * one client go through smtpd's real session code (smtp_session.c, io.c,
 * the parsers, DATA and BDAT, AUTH, STARTTLS) on a real event loop, over a
 * socketpair, cut into pieces as a network would cut them.  The harness
 * plays smtpd's peers: lookup resolves every recipient to a local mailbox,
 * takes the password "pw" and lets every login use every sender; queue
 * hands out memory files as spool files and commits everything.
 *
 * Input: byte 0 picks the listener (bits 0-1: mx, submission, submissions)
 * and the client's address (bit 2: 127.0.0.1, which is trusted, or
 * 192.0.2.1, which is checked: its DNS answers fail at once); byte 1 seeds
 * the cutting; the rest is what the client sends.  The client reads every
 * reply and half-closes at the end; the session must then end by itself.
 * A session that outlives the input, a crash or a leak is a finding.
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/conf.h"
#include "common/lookup_tab.h"
#include "common/proc.h"
#include "common/tls.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "mail/envelope.h"
#include "smtpd/smtp_session.h"
#include "smtpd/smtpd.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define TURNS_MAX	2000	/* loop turns while the client writes */
#define WAIT_MS_MAX	3000	/* for the session's end after the input */

static struct event_base *base;
static struct ipc_chan	 *fake[PROC_MAX];	/* our ends of smtpd's peers */

static void	 fake_msg(struct ipc_chan *, struct ipc_msg *, void *);
static void	 fake_closed(struct ipc_chan *, void *);

/* answer_resolve - every address is a local mailbox. */
static void
answer_resolve(struct ipc_chan *c, struct ipc_msg *m)
{
	struct ipc_resolve		 q;
	struct ipc_target		 t;
	struct ipc_resolve_reply	 r = { LK_UNKNOWN, NULL, 0 };

	if (IPC_DECODE(m, &q, NULL) == 0 && q.addr[0] != '\0') {
		t.kind = RCPT_LOCAL;
		t.addr = q.addr;
		r.result = LK_OK;
		r.targets = &t;
		r.ntargets = 1;
	}
	ipc_proto_send(c, IPC_RESOLVE_REPLY, m->id, &r, sizeof(r), -1);
}

static void
answer_auth(struct ipc_chan *c, struct ipc_msg *m)
{
	struct ipc_auth		q;
	struct ipc_auth_reply	r = { .ok = 0, .login = "" };

	if (IPC_DECODE(m, &q, NULL) == 0 && strcmp(q.password, "pw") == 0) {
		r.ok = 1;
		r.login = "u@localhost";
	}
	ipc_proto_send(c, IPC_AUTH_REPLY, m->id, &r, sizeof(r), -1);
}

/* answer_spool - a memory file stands in for the spool file. */
static void
answer_spool(struct ipc_chan *c, struct ipc_msg *m)
{
	struct ipc_spool_open_reply	r = { 1, "0123456789ABCDEF" };
	int				fd = memfd_create("spool", MFD_CLOEXEC);

	if (fd == -1)
		r.ok = 0;
	ipc_proto_send(c, IPC_SPOOL_OPEN_REPLY, m->id, &r, sizeof(r), fd);
}

static void
fake_msg(struct ipc_chan *c, struct ipc_msg *m, void *arg)
{
	struct ipc_sender_owned_reply	 owned = { 1 };
	struct ipc_reply		 ok = { 1, "" };

	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
	switch (m->type) {
	case IPC_RESOLVE:
		answer_resolve(c, m);
		break;
	case IPC_AUTH:
		answer_auth(c, m);
		break;
	case IPC_SENDER_OWNED:
		ipc_proto_send(c, IPC_SENDER_OWNED_REPLY, m->id, &owned,
		    sizeof(owned), -1);
		break;
	case IPC_SPOOL_OPEN:
		answer_spool(c, m);
		break;
	case IPC_SPOOL_COMMIT:
		ipc_proto_send(c, IPC_SPOOL_COMMIT_REPLY, m->id, &ok,
		    sizeof(ok), -1);
		break;
	default:		/* IPC_SPOOL_ABORT: nothing to say */
		break;
	}
}

static void
fake_closed(struct ipc_chan *c, void *arg)
{
	abort();		/* smtpd never closes its peers */
}

/* setup - once: the embedded defaults with a dead resolver, smtpd's
 * sessions and TLS on our loop, and its two peers played by us. */
static void
setup(void)
{
	static const int	 ids[] = { PROC_LOOKUP, PROC_QUEUE };
	char			 dir[] = "/tmp/fuzz_session.XXXXXX", err[256];

	/* FUZZ_SESSION_LOG=1 shows smtpd's log lines, to see what a case
	 * does. */
	log_init("smtpd", getenv("FUZZ_SESSION_LOG") != NULL ? "stderr" :
	    "/dev/null", getenv("FUZZ_SESSION_LOG") != NULL);
	config = xcalloc(1, sizeof(*config));
	conf_defaults(config);
	/* Nothing answers on port 1: every lookup fails at once, and none
	 * reaches the machine's own resolver. */
	config->resolvers = xcalloc(1, sizeof(*config->resolvers));
	config->resolvers[0] = xstrdup("127.0.0.1:1");
	config->nresolvers = 1;
	config->max_message_size = 64 * 1024;
	/* One session after another from the same two addresses: no
	 * greeting pause, and no rate, ban or per-address limit that would
	 * close the later ones early. */
	config->greet_delay = 0;
	config->allow_plaintext_auth = 1;
	config->max_connections_per_ip = 0;
	config->auth_max_failures = 0;
	config->auth_failure_delay = 0;
	config->rate_messages_per_minute = config->rate_messages_per_hour = 0;
	config->rate_recipients_per_minute = 0;
	config->rate_recipients_per_hour = 0;
	config->max_messages_per_session = 0;
	config->max_recipients_per_session = 0;
	if (mkdtemp(dir) == NULL)
		abort();
	free(config->state_dir);
	config->state_dir = xstrdup(dir);
	/* As in the server: a peer that is gone is an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		abort();
	proc_attach(&smtpd_module, base);
	smtp_session_init(base);
	if (tls_material_load(config, err, sizeof(err)) == -1 ||
	    tls_server_load(config, &tls_material, err, sizeof(err)) == -1)
		fprintf(stderr, "fuzz_session: no TLS: %s\n", err);
	for (size_t i = 0; i < NELEM(ids); i++) {
		int	sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0, sv) == -1)
			abort();
		fake[ids[i]] = ipc_chan_new(base, sv[0], ids[i], fake_msg,
		    fake_closed, NULL);
		proc_attach_peer(ids[i], sv[1]);
	}
}

/* drain - read and drop what the session wrote; false at its end. */
static bool
drain(int fd)
{
	char	buf[16384];
	ssize_t	r;

	while ((r = read(fd, buf, sizeof(buf))) > 0)
		;
	return r != 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR);
}

/* turn - one pass of the loop (or a millisecond of it, when waiting:
 * DNS answers come from the network) and of the client's reading. */
static bool
turn(int fd, bool wait)
{
	struct timeval	tv = { 0, 1000 };

	if (wait) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	} else
		event_base_loop(base, EVLOOP_NONBLOCK);
	return drain(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	uint32_t		 seed;
	size_t			 off = 2;
	int			 sv[2], turns = 0;
	bool			 open = true;

	if (base == NULL)
		setup();
	if (size < 2)
		return 0;
	seed = data[1] * 2654435761u + 1;
	sin.sin_addr.s_addr = htonl(data[0] & 4 ? 0xc0000201 : 0x7f000001);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		abort();
	smtp_session_start(sv[1], (struct sockaddr *)&sin, sizeof(sin),
	    (data[0] & 3) % 3);
	/* The client's bytes, cut into pieces of 1 to 512 bytes. */
	while (off < size && open) {
		size_t	 n = 1 + (seed >> 7) % 512;
		ssize_t	 w;

		seed = seed * 1103515245u + 12345;
		n = MIN(n, size - off);
		w = write(sv[0], data + off, n);
		if (w > 0)
			off += (size_t)w;
		open = turn(sv[0], false) || w > 0;
		if (++turns > TURNS_MAX)
			break;
	}
	shutdown(sv[0], SHUT_WR);
	for (turns = 0; smtp_session_count() > 0 && turns < WAIT_MS_MAX;
	    turns++)
		turn(sv[0], true);
	if (smtp_session_count() > 0) {
		fprintf(stderr, "fuzz_session: the session outlived its "
		    "client\n");
		abort();
	}
	close(sv[0]);
	return 0;
}
