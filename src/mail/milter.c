/*
 * milter.c - the Sendmail milter protocol, version 6: packets out, the
 * milter's packets framed and parsed strictly, and the message editor.
 *
 * Trust: none (see milter.h).  Lengths are 32-bit big-endian and bounded
 * before anything is read; strings must end inside their packet.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/util.h"
#include "mail/milter.h"

static void
put32(struct buf *b, uint32_t v)
{
	unsigned char	 p[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff,
			    v & 0xff };

	buf_append(b, p, 4);
}

static uint32_t
get32(const char *p)
{
	const unsigned char	*u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 |
	    (uint32_t)u[2] << 8 | u[3];
}

/* milter_put - see milter.h. */
void
milter_put(struct buf *b, char cmd, const void *data, size_t len)
{
	put32(b, (uint32_t)len + 1);
	buf_putc(b, cmd);
	if (len > 0)
		buf_append(b, data, len);
}

/* milter_put_optneg - see milter.h. */
void
milter_put_optneg(struct buf *b, uint32_t version, uint32_t actions,
    uint32_t protocol)
{
	put32(b, 13);
	buf_putc(b, SMFIC_OPTNEG);
	put32(b, version);
	put32(b, actions);
	put32(b, protocol);
}

/* begin/end - a packet whose length is known once its data is in. */
static size_t
begin(struct buf *b, char cmd)
{
	size_t	 at = b->len;

	put32(b, 0);
	buf_putc(b, cmd);
	return at;
}

static void
end(struct buf *b, size_t at)
{
	uint32_t	 n = (uint32_t)(b->len - at - 4);
	unsigned char	*p = (unsigned char *)b->data + at;

	p[0] = n >> 24;
	p[1] = (n >> 16) & 0xff;
	p[2] = (n >> 8) & 0xff;
	p[3] = n & 0xff;
}

static void
put_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s) + 1);
}

/* milter_put_macros - see milter.h. */
void
milter_put_macros(struct buf *b, char cmd, const char *const *names,
    const char *const *values, size_t n)
{
	size_t	 at = begin(b, SMFIC_MACRO);

	buf_putc(b, cmd);
	for (size_t i = 0; i < n; i++) {
		if (values[i] == NULL)
			continue;
		put_str(b, names[i]);
		put_str(b, values[i]);
	}
	end(b, at);
}

/* milter_put_connect - see milter.h. */
void
milter_put_connect(struct buf *b, const char *name, const char *addr,
    uint16_t port)
{
	size_t	 at = begin(b, SMFIC_CONNECT);

	put_str(b, name);
	if (addr == NULL)
		buf_putc(b, 'U');
	else {
		unsigned char	 p[2] = { port >> 8, port & 0xff };

		buf_putc(b, strchr(addr, ':') != NULL ? '6' : '4');
		buf_append(b, p, 2);
		put_str(b, addr);
	}
	end(b, at);
}

/* milter_put_strings - see milter.h. */
void
milter_put_strings(struct buf *b, char cmd, const char *const *v, size_t n)
{
	size_t	 at = begin(b, cmd);

	for (size_t i = 0; i < n; i++)
		put_str(b, v[i]);
	end(b, at);
}

/* milter_put_header - see milter.h. */
void
milter_put_header(struct buf *b, const char *name, const char *value)
{
	size_t	 at = begin(b, SMFIC_HEADER);

	put_str(b, name);
	put_str(b, value);
	end(b, at);
}

/* milter_frame - see milter.h. */
long
milter_frame(const void *in, size_t len, size_t max, struct milter_pkt *p)
{
	uint32_t	 n;

	if (len < 4)
		return 0;
	n = get32(in);
	if (n == 0 || n - 1 > max)
		return -1;
	if (len - 4 < n)
		return 0;
	p->cmd = ((const char *)in)[4];
	p->data = (const char *)in + 5;
	p->len = n - 1;
	return (long)n + 4;
}

/* milter_optneg - see milter.h. */
int
milter_optneg(const struct milter_pkt *p, uint32_t *version,
    uint32_t *actions, uint32_t *protocol)
{
	if (p->cmd != SMFIC_OPTNEG || p->len < 12)
		return -1;
	*version = get32(p->data);
	*actions = get32(p->data + 4);
	*protocol = get32(p->data + 8);
	if (*version < 2 || (*actions & ~(uint32_t)MILTER_ACTIONS) != 0 ||
	    (*protocol & ~(uint32_t)MILTER_PROTOCOL) != 0)
		return -1;
	return 0;
}

/* next_str - the NUL-terminated string at *off, or NULL when it runs out
 * of the packet. */
static const char *
next_str(const struct milter_pkt *p, size_t *off)
{
	const char	*s = p->data + *off, *z;

	if (*off >= p->len)
		return NULL;
	z = memchr(s, '\0', p->len - *off);
	if (z == NULL)
		return NULL;
	*off += (size_t)(z - s) + 1;
	return s;
}

static bool
name_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > MILTER_HDR_NAME_MAX)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
		    *s == ':')
			return false;
	return true;
}

/* value_ok - no bare CR, every line break (LF or CRLF) followed by white
 * space, so that a value can never start a field of its own. */
static bool
value_ok(const char *s)
{
	if (strlen(s) > MILTER_HDR_VALUE_MAX)
		return false;
	for (; *s != '\0'; s++) {
		if (*s == '\r' && s[1] != '\n')
			return false;
		if (*s == '\n' && s[1] != ' ' && s[1] != '\t')
			return false;
	}
	return true;
}

/* reply_ok - "4xx text" or "5xx text" lines, CRLF between them, each
 * with the same code, "ddd-" before the last, which is "ddd ". */
static bool
reply_ok(const char *s)
{
	size_t		 n = strlen(s);
	const char	*line = s;

	if (n < 3 || n > MILTER_REPLY_MAX || (s[0] != '4' && s[0] != '5'))
		return false;
	for (;;) {
		const char	*e = strstr(line, "\r\n");
		size_t		 len = e != NULL ? (size_t)(e - line) :
				    strlen(line);

		if (len < 3 || memcmp(line, s, 3) != 0 ||
		    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
		    line[2] > '9')
			return false;
		if (len > 3 && line[3] != (e != NULL ? '-' : ' '))
			return false;
		if (len == 3 && e != NULL)
			return false;
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)line[i] < ' ' ||
			    (unsigned char)line[i] == 0x7f)
				return false;
		if (e == NULL)
			return true;
		line = e + 2;
	}
}

static bool
text_ok(const char *s, size_t max)
{
	if (strlen(s) > max)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

/* milter_reply_parse - see milter.h. */
int
milter_reply_parse(const struct milter_pkt *p, struct milter_reply *r,
    const char **why)
{
	size_t	 off = 0;

	memset(r, 0, sizeof(*r));
	r->cmd = p->cmd;
	*why = "malformed packet";
	switch (p->cmd) {
	case SMFIR_ACCEPT:
	case SMFIR_CONTINUE:
	case SMFIR_DISCARD:
	case SMFIR_PROGRESS:
	case SMFIR_REJECT:
	case SMFIR_SKIP:
	case SMFIR_TEMPFAIL:
		return 0;
	case SMFIR_REPLYCODE:
		if ((r->text = next_str(p, &off)) == NULL || !reply_ok(r->text)) {
			*why = "bad reply code or text";
			return -1;
		}
		return 0;
	case SMFIR_QUARANTINE:
		if ((r->text = next_str(p, &off)) == NULL ||
		    !text_ok(r->text, 512)) {
			*why = "bad quarantine reason";
			return -1;
		}
		return 0;
	case SMFIR_REPLBODY:
		r->body = p->data;
		r->bodylen = p->len;
		return 0;
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (p->len < 4)
			return -1;
		r->index = get32(p->data);
		off = 4;
		/* FALLTHROUGH */
	case SMFIR_ADDHEADER:
		if ((r->name = next_str(p, &off)) == NULL ||
		    (r->value = next_str(p, &off)) == NULL)
			return -1;
		if (!name_ok(r->name) || !value_ok(r->value)) {
			*why = "bad header name or value";
			return -1;
		}
		return 0;
	case SMFIR_CHGFROM:
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_ADDRCPT:
	case SMFIR_DELRCPT:
		if ((r->addr = next_str(p, &off)) == NULL ||
		    !text_ok(r->addr, 1024))
			return -1;
		if (p->cmd != SMFIR_ADDRCPT && p->cmd != SMFIR_DELRCPT &&
		    off < p->len) {
			if ((r->args = next_str(p, &off)) == NULL ||
			    !text_ok(r->args, 1024))
				return -1;
			if (*r->args == '\0')
				r->args = NULL;
		}
		return 0;
	default:
		*why = "unknown reply";
		return -1;
	}
}

/* ---- the message editor ---- */

static void
hdr_push(struct milter_msg *m, size_t at, char *name, char *value)
{
	m->h = xreallocarray(m->h, m->nh + 1, sizeof(*m->h));
	memmove(&m->h[at + 1], &m->h[at], (m->nh - at) * sizeof(*m->h));
	m->h[at].name = name;
	m->h[at].value = value;
	m->nh++;
}

/* milter_msg_parse - see milter.h.  The header ends at a blank line, or
 * at a line that is neither a field nor a continuation (it is body). */
void
milter_msg_parse(struct milter_msg *m, const char *d, size_t len)
{
	size_t	 p = 0;

	memset(m, 0, sizeof(*m));
	buf_init(&m->body, 0);
	while (p < len) {
		const char	*colon, *eol;
		size_t		 e, name_end;

		if (len - p >= 2 && d[p] == '\r' && d[p + 1] == '\n') {
			m->sep = true;
			p += 2;
			break;
		}
		eol = memchr(d + p, '\n', len - p);
		colon = memchr(d + p, ':', len - p);
		if (colon == NULL || (eol != NULL && colon > eol))
			break;
		name_end = (size_t)(colon - d);
		if (name_end == p)
			break;
		for (size_t i = p; i < name_end; i++)
			if ((unsigned char)d[i] <= ' ' ||
			    (unsigned char)d[i] >= 0x7f)
				goto body;
		/* the field runs on over continuation lines */
		e = eol != NULL ? (size_t)(eol - d) + 1 : len;
		while (e < len && (d[e] == ' ' || d[e] == '\t')) {
			eol = memchr(d + e, '\n', len - e);
			e = eol != NULL ? (size_t)(eol - d) + 1 : len;
		}
		{
			size_t	 vend = e;

			if (vend > name_end && d[vend - 1] == '\n') {
				vend--;
				if (vend > name_end && d[vend - 1] == '\r')
					vend--;
			}
			hdr_push(m, m->nh, xstrndup(d + p, name_end - p),
			    xstrndup(colon + 1, vend - name_end - 1));
		}
		if (e == len && (len == 0 || d[len - 1] != '\n')) {
			p = len;
			break;
		}
		p = e;
	}
body:
	buf_append(&m->body, d + p, len - p);
}

/* milter_msg_build - see milter.h. */
void
milter_msg_build(const struct milter_msg *m, struct buf *out)
{
	for (size_t i = 0; i < m->nh; i++) {
		buf_puts(out, m->h[i].name);
		buf_putc(out, ':');
		buf_puts(out, m->h[i].value);
		buf_puts(out, "\r\n");
	}
	if (m->sep)
		buf_puts(out, "\r\n");
	buf_append(out, m->body.data, m->body.len);
}

void
milter_msg_free(struct milter_msg *m)
{
	for (size_t i = 0; i < m->nh; i++) {
		free(m->h[i].name);
		free(m->h[i].value);
	}
	free(m->h);
	buf_free(&m->body);
	memset(m, 0, sizeof(*m));
}

/* milter_hdr_value - see milter.h. */
char *
milter_hdr_value(const char *raw)
{
	struct buf	 b;

	buf_init(&b, 0);
	while (*raw == ' ' || *raw == '\t')
		raw++;
	for (; *raw != '\0'; raw++)
		if (!(raw[0] == '\r' && raw[1] == '\n'))
			buf_putc(&b, *raw);
	buf_putc(&b, '\0');
	return buf_steal(&b, NULL);
}

/* raw_value - a milter's value as it goes into the message. */
static char *
raw_value(const char *v)
{
	struct buf	 b;

	buf_init(&b, 0);
	if (*v != '\0')
		buf_putc(&b, ' ');
	for (; *v != '\0'; v++) {
		if (v[0] == '\r' && v[1] == '\n')
			continue;
		if (*v == '\n')
			buf_putc(&b, '\r');
		buf_putc(&b, *v);
	}
	buf_putc(&b, '\0');
	return buf_steal(&b, NULL);
}

/* milter_msg_add - see milter.h. */
void
milter_msg_add(struct milter_msg *m, const char *name, const char *value)
{
	hdr_push(m, m->nh, xstrdup(name), raw_value(value));
	m->sep = true;
}

/* milter_msg_insert - see milter.h. */
void
milter_msg_insert(struct milter_msg *m, uint32_t index, const char *name,
    const char *value)
{
	hdr_push(m, index < m->nh ? index : m->nh, xstrdup(name),
	    raw_value(value));
	m->sep = true;
}

/* milter_msg_change - see milter.h. */
void
milter_msg_change(struct milter_msg *m, uint32_t index, const char *name,
    const char *value)
{
	uint32_t	 seen = 0;

	if (index == 0)
		index = 1;
	for (size_t i = 0; i < m->nh; i++) {
		if (strcasecmp(m->h[i].name, name) != 0 || ++seen != index)
			continue;
		if (*value == '\0') {
			free(m->h[i].name);
			free(m->h[i].value);
			memmove(&m->h[i], &m->h[i + 1],
			    (m->nh - i - 1) * sizeof(*m->h));
			m->nh--;
			return;
		}
		free(m->h[i].value);
		m->h[i].value = raw_value(value);
		return;
	}
	if (*value != '\0')
		milter_msg_add(m, name, value);
}
