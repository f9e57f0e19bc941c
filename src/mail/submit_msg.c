/*
 * submit_msg.c - the text handling of "postbote send" and sendmail: what
 * a local user pipes in becomes a CRLF message with its Bcc fields gone,
 * and -t reads its recipients from To, Cc and Bcc.  See submit_msg.h.
 *
 * Runs in the sendmail command, as the calling user.  Pure: no I/O.
 * Trust: the input is the caller's own, but it is still only read within
 * its length, and the queue checks the result again (queue_ctl.c).
 */
#include <string.h>
#include <strings.h>

#include "mail/submit_msg.h"
#include "lib/util.h"

static size_t	 line_end(const char *, size_t, size_t);
static bool	 is_header_line(const char *, size_t, size_t, bool);
static bool	 is_field(const char *, size_t, size_t, const char *);
static size_t	 field_end(const char *, size_t, size_t);

/* submit_msg_crlf - see submit_msg.h. */
enum submit_msg_result
submit_msg_crlf(const char *in, size_t len, bool ignore_dots,
    struct buf *out)
{
	size_t	line_start = out->len;

	for (size_t i = 0; i < len; i++) {
		char	c = in[i];

		if (c == '\0')
			return SUBMIT_MSG_NUL;
		if (c == '\r' && (i + 1 == len || in[i + 1] != '\n'))
			return SUBMIT_MSG_BARE_CR;
		if (c == '\r')
			continue;
		if (c != '\n') {
			buf_putc(out, c);
			continue;
		}
		if (!ignore_dots && out->len == line_start + 1 &&
		    out->data[line_start] == '.') {
			out->len = line_start;
			out->data[out->len] = '\0';
			return SUBMIT_MSG_OK;
		}
		buf_append(out, "\r\n", 2);
		line_start = out->len;
	}
	if (!ignore_dots && out->len == line_start + 1 &&
	    out->data[line_start] == '.') {
		out->len = line_start;
		out->data[out->len] = '\0';
	} else if (out->len > line_start)
		buf_append(out, "\r\n", 2);
	return SUBMIT_MSG_OK;
}

/* line_end - the offset just past the CRLF of the line at off. */
static size_t
line_end(const char *p, size_t len, size_t off)
{
	const char	*e = memmem(p + off, len - off, "\r\n", 2);

	return e != NULL ? (size_t)(e - p) + 2 : len;
}

/* is_header_line - "name:" with a printable name (RFC 5322 2.2), or a
 * continuation line after one. */
static bool
is_header_line(const char *p, size_t off, size_t end, bool first)
{
	size_t	i = off;

	if (!first && (p[off] == ' ' || p[off] == '\t'))
		return true;
	while (i < end && p[i] > ' ' && p[i] < 0x7f && p[i] != ':')
		i++;
	return i > off && i < end && p[i] == ':';
}

/* submit_msg_header_end - see submit_msg.h. */
size_t
submit_msg_header_end(const char *p, size_t len, bool *blank)
{
	size_t	off = 0;

	*blank = false;
	while (off < len) {
		size_t	end = line_end(p, len, off);

		if (end - off == 2 && p[off] == '\r') {
			*blank = true;
			return off;
		}
		if (!is_header_line(p, off, end, off == 0))
			return off;
		off = end;
	}
	return off;
}

/* is_field - the line at off starts field name (case-insensitive). */
static bool
is_field(const char *p, size_t len, size_t off, const char *name)
{
	size_t	n = strlen(name);

	return len - off > n && strncasecmp(p + off, name, n) == 0 &&
	    p[off + n] == ':';
}

/* field_end - past the field at off and its continuation lines. */
static size_t
field_end(const char *p, size_t len, size_t off)
{
	size_t	end = line_end(p, len, off);

	while (end < len && (p[end] == ' ' || p[end] == '\t'))
		end = line_end(p, len, end);
	return end;
}

/* submit_msg_has_field - see submit_msg.h. */
bool
submit_msg_has_field(const char *p, size_t len, const char *name)
{
	for (size_t off = 0; off < len; off = line_end(p, len, off))
		if (is_field(p, len, off, name))
			return true;
	return false;
}

/* submit_msg_addrs - see submit_msg.h.  One pass: quotes and comments
 * (nested, with quoted pairs) are tracked; ',' and ';' end an address
 * outside them, ':' drops a group's name, <...> wins over the rest. */
void
submit_msg_addrs(const char *v, size_t len, submit_msg_addr_cb cb,
    void *arg)
{
	struct buf	cur, angle;
	int		depth = 0;
	bool		quoted = false, in_angle = false;

	buf_init(&cur, 0);
	buf_init(&angle, 0);
	for (size_t i = 0; i <= len; i++) {
		char		 c = i < len ? v[i] : ',';
		struct buf	*t = in_angle ? &angle : &cur;

		if (quoted && i < len) {
			buf_putc(t, c);
			if (c == '\\' && i + 1 < len)
				buf_putc(t, v[++i]);
			else if (c == '"')
				quoted = false;
		} else if (depth > 0 && i < len) {
			depth += c == '(' ? 1 : c == ')' ? -1 : 0;
			if (c == '\\' && i + 1 < len)
				i++;
		} else if (c == '(')
			depth = 1;
		else if (c == '"') {
			quoted = true;
			buf_putc(t, c);
		} else if (c == '<') {
			in_angle = true;
			buf_reset(&angle);
		} else if (c == '>')
			in_angle = false;
		else if (c == ':' && !in_angle)
			buf_reset(&cur);	/* a group's name */
		else if (c == ',' || c == ';') {
			struct buf *a = angle.len > 0 ? &angle : &cur;

			if (a->len > 0)
				cb(buf_cstr(a), arg);
			buf_reset(&cur);
			buf_reset(&angle);
			in_angle = quoted = false;
			depth = 0;
		} else if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
			buf_putc(t, c);
	}
	buf_free(&cur);
	buf_free(&angle);
}

/* submit_msg_headers - see submit_msg.h. */
void
submit_msg_headers(struct buf *m, bool collect, submit_msg_addr_cb cb,
    void *arg)
{
	static const char *const names[] = { "To", "Cc", "Bcc" };
	bool	 blank;
	size_t	 hend = submit_msg_header_end(m->data, m->len, &blank);
	size_t	 off = 0;

	while (off < hend) {
		size_t	fend = field_end(m->data, hend, off);

		for (size_t k = 0; collect && k < NELEM(names); k++)
			if (is_field(m->data, hend, off, names[k])) {
				size_t	n = strlen(names[k]) + 1;

				submit_msg_addrs(m->data + off + n,
				    fend - off - n, cb, arg);
			}
		if (!is_field(m->data, hend, off, "Bcc")) {
			off = fend;
			continue;
		}
		memmove(m->data + off, m->data + fend, m->len - fend);
		m->len -= fend - off;
		m->data[m->len] = '\0';
		hend -= fend - off;
	}
}
