/*
 * ipc_proto.c - the codec of every IPC message (ipc_proto.h).  Each
 * message type has one table of named, typed fields; ipc_proto_encode()
 * and ipc_proto_decode() both walk it, so what one side writes is what
 * the other reads.  Runs in every process and in the command line tools.
 *
 * Trust: the peers are our own processes, or a local user's command on
 * the submission socket, so a frame is decoded as strictly as the
 * network is parsed: each field bounds-checked, list counts checked
 * against the bytes left before any allocation, strings without an inner
 * NUL and under their limit, nothing left over.  A bad frame is refused
 * whole, with the name of the field at fault.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/ipc_proto.h"
#include "lib/log.h"
#include "lib/util.h"

enum ftype { F_END = 0, F_U32, F_U64, F_STR, F_BYTES, F_LIST, F_STRUCT };
/* FD_IF_OK: when the first u32 member is not 0; FD_UNLESS_BYTES: when
 * the BYTES member at the schema's bytes_off is empty. */
enum fdkind { FD_NONE = 0, FD_ALWAYS, FD_IF_OK, FD_UNLESS_BYTES };

struct field {
	const char		*name;
	enum ftype		 type;
	size_t			 off;	/* the member */
	size_t			 max;	/* STR: bytes (encoder cuts, decoder
					 * refuses); LIST: elements; 0 = none */
	/* LIST: the count member, the element size and fields; STRUCT:
	 * the fields of the member */
	size_t			 noff;
	size_t			 esize;
	const struct field	*elem;
};

struct schema {
	size_t			 size;	/* of the message struct */
	const struct field	*fields;
	enum fdkind		 fd;
	size_t			 bytes_off;	/* FD_UNLESS_BYTES */
};

#define U32(s, m)	{ #m, F_U32, offsetof(s, m), 0, 0, 0, NULL }
#define U64(s, m)	{ #m, F_U64, offsetof(s, m), 0, 0, 0, NULL }
#define STR(s, m)	{ #m, F_STR, offsetof(s, m), 0, 0, 0, NULL }
#define STRMAX(s, m, n)	{ #m, F_STR, offsetof(s, m), (n), 0, 0, NULL }
#define BYTES(s, m)	{ #m, F_BYTES, offsetof(s, m), 0, 0, 0, NULL }
#define LIST(s, m, n, et, ef, mx) { #m, F_LIST, offsetof(s, m), (mx), \
	    offsetof(s, n), sizeof(et), (ef) }
#define STRUCT(s, m, ef) { #m, F_STRUCT, offsetof(s, m), 0, 0, 0, (ef) }
#define END		{ NULL, F_END, 0, 0, 0, 0, NULL }

#define LIST_MAX	(1u << 20)	/* elements of any list */

static const struct field f_empty[] = { END };
static const struct field f_peer[] = { U32(struct ipc_peer, proc), END };
static const struct field f_reload[] = {
	STR(struct ipc_reload, conf), STR(struct ipc_reload, path),
	STR(struct ipc_reload, users), STR(struct ipc_reload, aliases),
	BYTES(struct ipc_reload, tls), BYTES(struct ipc_reload, dkim), END
};
static const struct field f_start[] = {
	STR(struct ipc_start, base_dir), U32(struct ipc_start, drop),
	U32(struct ipc_start, uid), U32(struct ipc_start, gid),
	STRUCT(struct ipc_start, reload, f_reload), END
};
static const struct field f_tls_cert[] = {
	STR(struct ipc_tls_cert, name), STR(struct ipc_tls_cert, cert),
	STR(struct ipc_tls_cert, key), END
};
static const struct field f_tls_material[] = {
	LIST(struct ipc_tls_material, certs, ncerts, struct ipc_tls_cert,
	    f_tls_cert, 4096), END
};
static const struct field f_dkim_key[] = {
	STR(struct ipc_dkim_key, domain), STR(struct ipc_dkim_key, selector),
	STR(struct ipc_dkim_key, key), END
};
static const struct field f_dkim_material[] = {
	LIST(struct ipc_dkim_material, keys, nkeys, struct ipc_dkim_key,
	    f_dkim_key, 4096), END
};
static const struct field f_resolve[] = {
	STR(struct ipc_resolve, addr), END
};
static const struct field f_target[] = {
	U32(struct ipc_target, kind), STR(struct ipc_target, addr), END
};
static const struct field f_resolve_reply[] = {
	U32(struct ipc_resolve_reply, result),
	LIST(struct ipc_resolve_reply, targets, ntargets, struct ipc_target,
	    f_target, 0), END
};
static const struct field f_spool_open_reply[] = {
	U32(struct ipc_spool_open_reply, ok),
	STR(struct ipc_spool_open_reply, id), END
};
static const struct field f_spool_commit[] = {
	STR(struct ipc_spool_commit, id),
	BYTES(struct ipc_spool_commit, envelope),
	BYTES(struct ipc_spool_commit, data), END
};
static const struct field f_reply[] = {
	U32(struct ipc_reply, ok), STR(struct ipc_reply, text), END
};
static const struct field f_id[] = { STR(struct ipc_id, id), END };
static const struct field f_spool_status[] = {
	STR(struct ipc_spool_status, id), END
};
static const struct field f_spool_status_reply[] = {
	U32(struct ipc_spool_status_reply, journaled), END
};
static const struct field f_deliver_rcpt[] = {
	U32(struct ipc_deliver_rcpt, index), U32(struct ipc_deliver_rcpt, kind),
	STR(struct ipc_deliver_rcpt, addr), STR(struct ipc_deliver_rcpt, orig),
	U32(struct ipc_deliver_rcpt, notify),
	STR(struct ipc_deliver_rcpt, orcpt), END
};
static const struct field f_deliver[] = {
	STR(struct ipc_deliver, id), STR(struct ipc_deliver, sender),
	U64(struct ipc_deliver, arrival), U32(struct ipc_deliver, recovered),
	LIST(struct ipc_deliver, rcpts, nrcpts, struct ipc_deliver_rcpt,
	    f_deliver_rcpt, 0),
	U32(struct ipc_deliver, body), U32(struct ipc_deliver, smtputf8),
	U32(struct ipc_deliver, ret), STR(struct ipc_deliver, envid),
	U64(struct ipc_deliver, size), STR(struct ipc_deliver, prepend),
	U32(struct ipc_deliver, tls_req), BYTES(struct ipc_deliver, data),
	END
};
static const struct field f_deliver_result[] = {
	U32(struct ipc_deliver_result, index),
	U32(struct ipc_deliver_result, result),
	STR(struct ipc_deliver_result, dsn),
	STR(struct ipc_deliver_result, text),
	STR(struct ipc_deliver_result, remote_mta), END
};
static const struct field f_deliver_reply[] = {
	STR(struct ipc_deliver_reply, id),
	LIST(struct ipc_deliver_reply, results, nresults,
	    struct ipc_deliver_result, f_deliver_result, 0), END
};
static const struct field f_milter_connect[] = {
	U32(struct ipc_milter_connect, index), END
};
static const struct field f_milter_connect_reply[] = {
	U32(struct ipc_milter_connect_reply, ok),
	U32(struct ipc_milter_connect_reply, index),
	STR(struct ipc_milter_connect_reply, why), END
};
static const struct field f_auth[] = {
	STR(struct ipc_auth, user), STR(struct ipc_auth, password),
	STR(struct ipc_auth, mech), STR(struct ipc_auth, client),
	U32(struct ipc_auth, secured), U32(struct ipc_auth, step), END
};
static const struct field f_auth_reply[] = {
	U32(struct ipc_auth_reply, ok), STR(struct ipc_auth_reply, login),
	U32(struct ipc_auth_reply, temp), U32(struct ipc_auth_reply, cont),
	STR(struct ipc_auth_reply, challenge), END
};
static const struct field f_sender_owned[] = {
	STR(struct ipc_sender_owned, login),
	STR(struct ipc_sender_owned, sender), END
};
static const struct field f_sender_owned_reply[] = {
	U32(struct ipc_sender_owned_reply, ok), END
};
static const struct field f_greylist[] = {
	STRMAX(struct ipc_greylist, key, 1024), END
};
static const struct field f_greylist_reply[] = {
	U32(struct ipc_greylist_reply, verdict),
	U32(struct ipc_greylist_reply, wait), END
};
static const struct field f_ctl_rcpt[] = {
	STRMAX(struct ipc_ctl_rcpt, addr, IPC_CTL_STR_MAX),
	STRMAX(struct ipc_ctl_rcpt, orig, IPC_CTL_STR_MAX),
	U32(struct ipc_ctl_rcpt, state),
	STRMAX(struct ipc_ctl_rcpt, status, IPC_CTL_STR_MAX), END
};
static const struct field f_ctl_entry[] = {
	STR(struct ipc_ctl_entry, id),
	STRMAX(struct ipc_ctl_entry, sender, IPC_CTL_STR_MAX),
	U64(struct ipc_ctl_entry, arrival), U64(struct ipc_ctl_entry, size),
	U32(struct ipc_ctl_entry, flags), U32(struct ipc_ctl_entry, nrcpt),
	LIST(struct ipc_ctl_entry, rcpts, nrcpts, struct ipc_ctl_rcpt,
	    f_ctl_rcpt, 0), END
};
static const struct field f_ctl_list_reply[] = {
	U32(struct ipc_ctl_list_reply, more),
	LIST(struct ipc_ctl_list_reply, entries, nentries,
	    struct ipc_ctl_entry, f_ctl_entry, 0), END
};
static const struct field f_ctl_show_reply[] = {
	U32(struct ipc_ctl_show_reply, ok), STR(struct ipc_ctl_show_reply, text),
	STRUCT(struct ipc_ctl_show_reply, entry, f_ctl_entry),
	STRMAX(struct ipc_ctl_show_reply, helo, IPC_CTL_STR_MAX),
	STRMAX(struct ipc_ctl_show_reply, client, IPC_CTL_STR_MAX),
	STRMAX(struct ipc_ctl_show_reply, client_name, IPC_CTL_STR_MAX),
	STRMAX(struct ipc_ctl_show_reply, auth, IPC_CTL_STR_MAX),
	STRMAX(struct ipc_ctl_show_reply, envid, IPC_CTL_STR_MAX),
	U32(struct ipc_ctl_show_reply, attempts),
	U64(struct ipc_ctl_show_reply, next_attempt),
	U32(struct ipc_ctl_show_reply, cut),
	BYTES(struct ipc_ctl_show_reply, headers),
	U32(struct ipc_ctl_show_reply, tls_req), END
};
static const struct field f_ctl_addr[] = {
	STR(struct ipc_ctl_addr, addr), END
};
static const struct field f_ctl_submit[] = {
	STR(struct ipc_ctl_submit, sender),
	LIST(struct ipc_ctl_submit, rcpts, nrcpts, struct ipc_ctl_addr,
	    f_ctl_addr, 0),
	BYTES(struct ipc_ctl_submit, message), END
};
static const struct field f_ctl_submit_reply[] = {
	U32(struct ipc_ctl_submit_reply, ok),
	STR(struct ipc_ctl_submit_reply, text),
	U32(struct ipc_ctl_submit_reply, code), END
};

static const struct field f_ctl_status_reply[] = {
	U64(struct ipc_ctl_status_reply, pid),
	U64(struct ipc_ctl_status_reply, started),
	STR(struct ipc_ctl_status_reply, version),
	STR(struct ipc_ctl_status_reply, config),
	STR(struct ipc_ctl_status_reply, state_dir),
	STR(struct ipc_ctl_status_reply, listeners),
	STR(struct ipc_ctl_status_reply, processes),
	U64(struct ipc_ctl_status_reply, reloaded),
	STR(struct ipc_ctl_status_reply, reload_result), END
};

static const struct field f_ctl_body_reply[] = {
	U32(struct ipc_ctl_body_reply, ok),
	STR(struct ipc_ctl_body_reply, text),
	STR(struct ipc_ctl_body_reply, prepend), END
};

#define TSTR(m)	STRMAX(struct ipc_tlsrpt, m, IPC_TLSRPT_STR_MAX)
static const struct field f_tlsrpt[] = {
	TSTR(policy_type), TSTR(policy_domain), TSTR(policy_strings),
	TSTR(mx_host), TSTR(result), TSTR(sending_ip), TSTR(receiving_mx),
	TSTR(receiving_ip), TSTR(reason), END
};

#define MSG(t, s, f, d)	[t] = { sizeof(s), f, d, 0 }
#define MSG_UNLESS_BYTES(t, s, f, m) \
	[t] = { sizeof(s), f, FD_UNLESS_BYTES, offsetof(s, m) }

static const struct schema schemas[IPC_TYPE_MAX] = {
	MSG(IPC_PEER, struct ipc_peer, f_peer, FD_ALWAYS),
	MSG(IPC_RELOAD, struct ipc_reload, f_reload, FD_NONE),
	MSG(IPC_SHUTDOWN, struct ipc_empty, f_empty, FD_NONE),
	MSG(IPC_RESOLVE, struct ipc_resolve, f_resolve, FD_NONE),
	MSG(IPC_RESOLVE_REPLY, struct ipc_resolve_reply,
	    f_resolve_reply, FD_NONE),
	MSG(IPC_SPOOL_OPEN, struct ipc_empty, f_empty, FD_NONE),
	MSG(IPC_SPOOL_OPEN_REPLY, struct ipc_spool_open_reply,
	    f_spool_open_reply, FD_IF_OK),
	MSG(IPC_SPOOL_COMMIT, struct ipc_spool_commit,
	    f_spool_commit, FD_NONE),
	MSG(IPC_SPOOL_COMMIT_REPLY, struct ipc_reply,
	    f_reply, FD_NONE),
	MSG(IPC_SPOOL_ABORT, struct ipc_id, f_id, FD_NONE),
	MSG_UNLESS_BYTES(IPC_DELIVER, struct ipc_deliver, f_deliver, data),
	MSG(IPC_DELIVER_REPLY, struct ipc_deliver_reply,
	    f_deliver_reply, FD_NONE),
	MSG(IPC_CTL_LIST, struct ipc_empty, f_empty, FD_NONE),
	MSG(IPC_CTL_LIST_REPLY, struct ipc_ctl_list_reply,
	    f_ctl_list_reply, FD_NONE),
	MSG(IPC_CTL_FLUSH, struct ipc_id, f_id, FD_NONE),
	MSG(IPC_CTL_DELETE, struct ipc_id, f_id, FD_NONE),
	MSG(IPC_CTL_HOLD, struct ipc_id, f_id, FD_NONE),
	MSG(IPC_CTL_RELEASE, struct ipc_id, f_id, FD_NONE),
	MSG(IPC_CTL_SHOW, struct ipc_id, f_id, FD_NONE),
	MSG(IPC_CTL_REPLY, struct ipc_reply, f_reply, FD_NONE),
	MSG(IPC_AUTH, struct ipc_auth, f_auth, FD_NONE),
	MSG(IPC_AUTH_REPLY, struct ipc_auth_reply, f_auth_reply,
	    FD_NONE),
	MSG(IPC_SENDER_OWNED, struct ipc_sender_owned,
	    f_sender_owned, FD_NONE),
	MSG(IPC_SENDER_OWNED_REPLY, struct ipc_sender_owned_reply,
	    f_sender_owned_reply, FD_NONE),
	MSG(IPC_GREYLIST, struct ipc_greylist, f_greylist, FD_NONE),
	MSG(IPC_GREYLIST_REPLY, struct ipc_greylist_reply, f_greylist_reply,
	    FD_NONE),
	MSG(IPC_CTL_SUBMIT, struct ipc_ctl_submit, f_ctl_submit,
	    FD_NONE),
	MSG(IPC_CTL_SUBMIT_REPLY, struct ipc_ctl_submit_reply,
	    f_ctl_submit_reply, FD_NONE),
	MSG(IPC_CTL_SHOW_REPLY, struct ipc_ctl_show_reply,
	    f_ctl_show_reply, FD_NONE),
	MSG(IPC_TLS_MATERIAL, struct ipc_tls_material,
	    f_tls_material, FD_NONE),
	MSG(IPC_SPOOL_STATUS, struct ipc_spool_status, f_spool_status,
	    FD_NONE),
	MSG(IPC_SPOOL_STATUS_REPLY, struct ipc_spool_status_reply,
	    f_spool_status_reply, FD_NONE),
	MSG(IPC_START, struct ipc_start, f_start, FD_NONE),
	MSG(IPC_DKIM_MATERIAL, struct ipc_dkim_material,
	    f_dkim_material, FD_NONE),
	MSG(IPC_RELOAD_DONE, struct ipc_reply, f_reply, FD_NONE),
	MSG(IPC_CTL_RELOAD, struct ipc_empty, f_empty, FD_NONE),
	MSG(IPC_CTL_STOP, struct ipc_empty, f_empty, FD_NONE),
	MSG(IPC_CTL_STATUS, struct ipc_empty, f_empty, FD_NONE),
	MSG(IPC_CTL_STATUS_REPLY, struct ipc_ctl_status_reply,
	    f_ctl_status_reply, FD_NONE),
	MSG(IPC_CTL_BODY, struct ipc_id, f_id, FD_NONE),
	MSG(IPC_CTL_BODY_REPLY, struct ipc_ctl_body_reply,
	    f_ctl_body_reply, FD_IF_OK),
	MSG(IPC_MILTER_CONNECT, struct ipc_milter_connect, f_milter_connect,
	    FD_NONE),
	MSG(IPC_MILTER_CONNECT_REPLY, struct ipc_milter_connect_reply,
	    f_milter_connect_reply, FD_IF_OK),
	MSG(IPC_TLSRPT, struct ipc_tlsrpt, f_tlsrpt, FD_NONE),
	MSG(IPC_CTL_TLSRPT_SHOW, struct ipc_empty, f_empty, FD_NONE),
	MSG(IPC_CTL_TLSRPT_SEND, struct ipc_empty, f_empty, FD_NONE),
};

static const struct schema *schema_of(uint16_t, size_t);
static void	 encode(struct buf *, const struct field *, const char *);
static int	 decode(struct ipc_msg *, const struct field *, char *,
		    const char **);
static void	 release(const struct field *, char *);

/* schema_of - the table of type; a type or size that does not match is
 * a bug of the caller. */
static const struct schema *
schema_of(uint16_t type, size_t msize)
{
	ASSERT(type < IPC_TYPE_MAX && schemas[type].fields != NULL);
	ASSERT(schemas[type].size == msize);
	return &schemas[type];
}

static void
put_str(struct buf *b, const struct field *f, const char *s)
{
	size_t	n = s != NULL ? strlen(s) : 0;

	if (f->max > 0 && n > f->max)
		n = f->max;		/* cut, as the reader would refuse */
	ipc_put_u32(b, (uint32_t)(n + 1));
	if (buf_append(b, s != NULL ? s : "", n) == -1 ||
	    buf_putc(b, '\0') == -1)
		fatalx("ipc: payload too large");
}

/* encode - the fields of the struct at p, in table order. */
static void
encode(struct buf *b, const struct field *f, const char *p)
{
	for (; f->type != F_END; f++) {
		const char	*at = p + f->off;

		switch (f->type) {
		case F_U32:
			ipc_put_u32(b, *(const uint32_t *)(const void *)at);
			break;
		case F_U64:
			ipc_put_u64(b, *(const uint64_t *)(const void *)at);
			break;
		case F_STR:
			put_str(b, f, *(const char *const *)(const void *)at);
			break;
		case F_BYTES: {
			const struct ipc_bytes *v = (const void *)at;

			ipc_put_bytes(b, v->len > 0 ? v->p : "", v->len);
			break;
		}
		case F_LIST: {
			const char	*elems = *(const char *const *)
			    (const void *)at;
			size_t		 n = *(const size_t *)(const void *)
			    (p + f->noff);

			ASSERT(f->max == 0 || n <= f->max);
			ASSERT(n <= LIST_MAX);
			ipc_put_u32(b, (uint32_t)n);
			for (size_t i = 0; i < n; i++)
				encode(b, f->elem, elems + i * f->esize);
			break;
		}
		case F_STRUCT:
			encode(b, f->elem, at);
			break;
		case F_END:
			break;
		}
	}
}

/* ipc_proto_encode - see ipc_proto.h. */
void
ipc_proto_encode(struct buf *b, uint16_t type, const void *msg, size_t msize)
{
	encode(b, schema_of(type, msize)->fields, msg);
}

/* decode_list - a count, checked against what is left (each element
 * takes 4 bytes at least) before the array is allocated. */
static int
decode_list(struct ipc_msg *m, const struct field *f, char *p,
    const char **why)
{
	uint32_t	 n = ipc_get_u32(m);
	char		*elems;

	if (m->bad || n > LIST_MAX || (f->max > 0 && n > f->max) ||
	    n > (m->len - m->off) / 4) {
		*why = f->name;
		m->bad = true;
		return -1;
	}
	elems = n > 0 ? xcalloc(n, f->esize) : NULL;
	*(char **)(void *)(p + f->off) = elems;
	for (uint32_t i = 0; i < n; i++)
		if (decode(m, f->elem, elems + i * f->esize, why) == -1) {
			*(size_t *)(void *)(p + f->noff) = i + 1;
			return -1;
		}
	*(size_t *)(void *)(p + f->noff) = n;
	return 0;
}

/* decode - the fields of the struct at p; -1 at the first bad one. */
static int
decode(struct ipc_msg *m, const struct field *f, char *p, const char **why)
{
	for (; f->type != F_END; f++) {
		char	*at = p + f->off;

		switch (f->type) {
		case F_U32:
			*(uint32_t *)(void *)at = ipc_get_u32(m);
			break;
		case F_U64:
			*(uint64_t *)(void *)at = ipc_get_u64(m);
			break;
		case F_STR:
			*(const char **)(void *)at = ipc_get_str(m);
			if (f->max > 0 && strlen(*(const char **)(void *)at) >
			    f->max)
				m->bad = true;
			break;
		case F_BYTES: {
			struct ipc_bytes *v = (void *)at;

			v->p = ipc_get_bytes(m, &v->len);
			break;
		}
		case F_LIST:
			if (decode_list(m, f, p, why) == -1)
				return -1;
			break;
		case F_STRUCT:
			if (decode(m, f->elem, at, why) == -1)
				return -1;
			break;
		case F_END:
			break;
		}
		if (m->bad) {
			*why = f->name;
			return -1;
		}
	}
	return 0;
}

/* ipc_proto_decode - see ipc_proto.h. */
int
ipc_proto_decode(struct ipc_msg *m, void *out, size_t msize, const char **why)
{
	const struct schema	*s;
	const char		*dummy;
	bool			 want_fd;

	if (why == NULL)
		why = &dummy;
	*why = "type";
	memset(out, 0, msize);
	if (m->type >= IPC_TYPE_MAX || schemas[m->type].fields == NULL)
		return -1;
	s = schema_of(m->type, msize);
	if (decode(m, s->fields, out, why) == -1) {
		release(s->fields, out);
		memset(out, 0, msize);
		return -1;
	}
	want_fd = s->fd == FD_ALWAYS || (s->fd == FD_IF_OK &&
	    *(const uint32_t *)out != 0) || (s->fd == FD_UNLESS_BYTES &&
	    ((const struct ipc_bytes *)((const char *)out + s->bytes_off))->len
	    == 0);
	*why = m->off != m->len ? "bytes left over" :
	    want_fd != (m->fd != -1) ? "descriptor" : NULL;
	if (*why != NULL) {
		release(s->fields, out);
		memset(out, 0, msize);
		return -1;
	}
	return 0;
}

/* release - the lists of the struct at p, and theirs. */
static void
release(const struct field *f, char *p)
{
	for (; f->type != F_END; f++) {
		if (f->type == F_STRUCT)
			release(f->elem, p + f->off);
		if (f->type != F_LIST)
			continue;
		char	*elems = *(char **)(void *)(p + f->off);
		size_t	 n = *(size_t *)(void *)(p + f->noff);

		for (size_t i = 0; elems != NULL && i < n; i++)
			release(f->elem, elems + i * f->esize);
		free(elems);
		*(char **)(void *)(p + f->off) = NULL;
		*(size_t *)(void *)(p + f->noff) = 0;
	}
}

/* ipc_proto_free - see ipc_proto.h. */
void
ipc_proto_free(uint16_t type, void *msg)
{
	ASSERT(type < IPC_TYPE_MAX && schemas[type].fields != NULL);
	release(schemas[type].fields, msg);
}

/* ipc_proto_send - see ipc_proto.h. */
int
ipc_proto_send(struct ipc_chan *c, uint16_t type, uint64_t id,
    const void *msg, size_t msize, int fd)
{
	struct buf	b;
	int		rc;

	buf_init(&b, 0);
	ipc_proto_encode(&b, type, msg, msize);
	rc = ipc_send(c, type, id, &b, fd);
	buf_free(&b);
	return rc;
}

/* ipc_proto_fd - see ipc_proto.h. */
int
ipc_proto_fd(uint16_t type)
{
	ASSERT(type < IPC_TYPE_MAX && schemas[type].fields != NULL);
	return (int)schemas[type].fd;
}
