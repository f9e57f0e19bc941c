/*
 * dovecot_auth.c - the Dovecot authentication protocol 1.x as a client
 * speaks it (see dovecot_auth.h).  Runs in lookup on the lines of a local
 * Dovecot, which is trusted to answer but not to be well-formed: every
 * field is bounded, numbers are checked, a login with control bytes or
 * over DOVECOT_USER_MAX is refused (it becomes the session's login and
 * reaches logs and headers), reasons are cut and made printable.  Pure:
 * no I/O, no allocation beyond the caller's buffer.
 */
#include <string.h>

#include "mail/dovecot_auth.h"

struct field {
	const char	*p;
	size_t		 n;
};

static const struct {
	const char		*name;
	enum dovecot_line_type	 type;
	bool			 has_id;
} commands[] = {
	{ "VERSION", DV_VERSION, false }, { "MECH", DV_MECH, false },
	{ "SPID", DV_SPID, false }, { "CUID", DV_CUID, false },
	{ "COOKIE", DV_COOKIE, false }, { "DONE", DV_DONE, false },
	{ "OK", DV_OK, true }, { "CONT", DV_CONT, true },
	{ "FAIL", DV_FAIL, true }, { "USER", DV_USER, true },
	{ "NOTFOUND", DV_NOTFOUND, true },
};

/* next_field - the field at *pos (up to TAB or the end); moves past it. */
static bool
next_field(const char *line, size_t len, size_t *pos, struct field *f)
{
	const char	*tab;

	if (*pos > len)
		return false;
	f->p = line + *pos;
	tab = memchr(f->p, '\t', len - *pos);
	f->n = tab != NULL ? (size_t)(tab - f->p) : len - *pos;
	*pos += f->n + 1;
	return true;
}

static bool
field_is(const struct field *f, const char *s)
{
	return strlen(s) == f->n && memcmp(f->p, s, f->n) == 0;
}

/* field_uint - decimal, no sign, no leading zero but "0", below 2^32. */
static bool
field_uint(const struct field *f, uint32_t *v)
{
	uint64_t	 x = 0;

	if (f->n == 0 || f->n > 10 || (f->n > 1 && f->p[0] == '0'))
		return false;
	for (size_t i = 0; i < f->n; i++) {
		if (f->p[i] < '0' || f->p[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(f->p[i] - '0');
	}
	if (x > UINT32_MAX)
		return false;
	*v = (uint32_t)x;
	return true;
}

/*
 * unescape - Dovecot's tab escaping undone into out (outsz with the NUL).
 * Returns the length, or -1 if it does not fit, an escape is unknown or
 * the result would hold a NUL.
 */
static long
unescape(const char *p, size_t n, char *out, size_t outsz)
{
	size_t	 o = 0;

	for (size_t i = 0; i < n; i++) {
		char	 c = p[i];

		if (c == '\001') {
			if (++i == n)
				return -1;
			switch (p[i]) {
			case '1': c = '\001'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'n': c = '\n'; break;
			default: return -1;
			}
		} else if (c == '\0')
			return -1;
		if (o + 1 >= outsz)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

/* set_user - a login: non-empty, no byte <= space, no DEL. */
static bool
set_user(const char *p, size_t n, struct dovecot_line *out)
{
	long	 m = unescape(p, n, out->user, sizeof(out->user));

	if (m <= 0)
		return false;
	for (long i = 0; i < m; i++)
		if ((unsigned char)out->user[i] <= ' ' ||
		    out->user[i] == 0x7f)
			return false;
	out->has_user = true;
	return true;
}

/* set_reason - cut to fit, bytes outside printable ASCII become '?'. */
static void
set_reason(const char *p, size_t n, struct dovecot_line *out)
{
	size_t	 o = 0;

	for (size_t i = 0; i < n && o < DOVECOT_REASON_MAX; i++) {
		unsigned char	 c = (unsigned char)p[i];

		if (c == '\001' && i + 1 < n) {
			c = p[++i] == '1' ? '\001' : ' ';
		}
		out->reason[o++] = c >= ' ' && c < 0x7f ? (char)c : '?';
	}
	out->reason[o] = '\0';
}

static bool
is_b64(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'A' && p[i] <= 'Z') ||
		    (p[i] >= 'a' && p[i] <= 'z') ||
		    (p[i] >= '0' && p[i] <= '9') || p[i] == '+' ||
		    p[i] == '/' || p[i] == '='))
			return false;
	return true;
}

/* params - the key=value and flag fields of OK and FAIL. */
static bool
params(const char *line, size_t len, size_t pos, struct dovecot_line *out)
{
	struct field	 f;

	while (next_field(line, len, &pos, &f)) {
		if (f.n >= 5 && memcmp(f.p, "user=", 5) == 0) {
			if (!set_user(f.p + 5, f.n - 5, out))
				return false;
		} else if (f.n > 7 && memcmp(f.p, "reason=", 7) == 0)
			set_reason(f.p + 7, f.n - 7, out);
		else if (field_is(&f, "temp"))
			out->temp = true;
	}
	return true;
}

/* dovecot_auth_parse - see dovecot_auth.h. */
int
dovecot_auth_parse(const char *line, size_t len, struct dovecot_line *out)
{
	struct field	 cmd, f, g;
	size_t		 pos = 0, i;

	memset(out, 0, sizeof(*out));
	if (len > DOVECOT_LINE_MAX || memchr(line, '\0', len) != NULL ||
	    memchr(line, '\n', len) != NULL)
		return -1;
	next_field(line, len, &pos, &cmd);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (field_is(&cmd, commands[i].name))
			break;
	if (i == sizeof(commands) / sizeof(commands[0])) {
		out->type = DV_OTHER;
		return 0;
	}
	out->type = commands[i].type;
	if (commands[i].has_id && (!next_field(line, len, &pos, &f) ||
	    !field_uint(&f, &out->id)))
		return -1;
	switch (out->type) {
	case DV_VERSION:
		if (!next_field(line, len, &pos, &f) ||
		    !next_field(line, len, &pos, &g) ||
		    !field_uint(&f, &out->major) ||
		    !field_uint(&g, &out->minor))
			return -1;
		return 0;
	case DV_MECH:
		if (!next_field(line, len, &pos, &f) || f.n == 0 ||
		    f.n > DOVECOT_MECH_MAX)
			return -1;
		for (size_t j = 0; j < f.n; j++) {
			char	 c = f.p[j];

			if (!((c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_'))
				return -1;
			out->mech[j] = c;
		}
		out->mech[f.n] = '\0';
		return 0;
	case DV_CONT:
		if (!next_field(line, len, &pos, &f))
			f.n = 0;
		if (!is_b64(f.p, f.n))
			return -1;
		out->cont = f.p;
		out->contlen = f.n;
		return 0;
	case DV_OK:
	case DV_FAIL:
		return params(line, len, pos, out) ? 0 : -1;
	case DV_USER:
		if (!next_field(line, len, &pos, &f) ||
		    !set_user(f.p, f.n, out))
			return -1;
		return 0;
	default:
		return 0;
	}
}

/* dovecot_auth_escape - see dovecot_auth.h. */
int
dovecot_auth_escape(struct buf *b, const char *s)
{
	int	 rc = 0;

	for (; *s != '\0' && rc == 0; s++)
		switch (*s) {
		case '\001': rc = buf_puts(b, "\0011"); break;
		case '\t': rc = buf_puts(b, "\001t"); break;
		case '\r': rc = buf_puts(b, "\001r"); break;
		case '\n': rc = buf_puts(b, "\001n"); break;
		default: rc = buf_putc(b, *s); break;
		}
	return rc;
}

/* dovecot_auth_hello - see dovecot_auth.h. */
int
dovecot_auth_hello(struct buf *b, unsigned long pid)
{
	return buf_printf(b, "VERSION\t1\t1\nCPID\t%lu\n", pid);
}

/* dovecot_auth_request - see dovecot_auth.h. */
int
dovecot_auth_request(struct buf *b, uint32_t id, const char *mech,
    const struct dovecot_auth_info *info, const char *resp)
{
	int	 rc;

	rc = buf_printf(b, "AUTH\t%u\t", (unsigned)id);
	rc |= dovecot_auth_escape(b, mech);
	rc |= buf_puts(b, "\tservice=");
	rc |= dovecot_auth_escape(b, info->service);
	if (info->rip != NULL && info->rip[0] != '\0') {
		rc |= buf_puts(b, "\trip=");
		rc |= dovecot_auth_escape(b, info->rip);
	}
	if (info->secured)
		rc |= buf_puts(b, "\tsecured");
	if (resp != NULL) {
		rc |= buf_puts(b, "\tresp=");
		rc |= dovecot_auth_escape(b, resp);
	}
	rc |= buf_putc(b, '\n');
	return rc == 0 ? 0 : -1;
}

/* dovecot_auth_cont - see dovecot_auth.h. */
int
dovecot_auth_cont(struct buf *b, uint32_t id, const char *b64)
{
	int	 rc;

	rc = buf_printf(b, "CONT\t%u\t", (unsigned)id);
	rc |= dovecot_auth_escape(b, b64);
	rc |= buf_putc(b, '\n');
	return rc == 0 ? 0 : -1;
}

/* dovecot_auth_user - see dovecot_auth.h. */
int
dovecot_auth_user(struct buf *b, uint32_t id, const char *user,
    const char *service)
{
	int	 rc;

	rc = buf_printf(b, "VERSION\t1\t0\nUSER\t%u\t", (unsigned)id);
	rc |= dovecot_auth_escape(b, user);
	rc |= buf_puts(b, "\tservice=");
	rc |= dovecot_auth_escape(b, service);
	rc |= buf_putc(b, '\n');
	return rc == 0 ? 0 : -1;
}
