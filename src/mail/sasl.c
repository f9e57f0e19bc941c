/*
 * sasl.c - SASL decoding for the AUTH verb (RFC 4954): base64 (through
 * lib/base64.c), the PLAIN (RFC 4616) and LOGIN mechanisms.  Runs in
 * smtpd on peer input: every length is checked before it is written,
 * decoded text is checked for NUL and control bytes where it becomes a
 * name, and nothing here logs (the bytes are credentials).  Pure: no I/O,
 * no allocation.
 */
#include <string.h>
#include <strings.h>

#include "lib/base64.h"
#include "mail/sasl.h"

static bool	 is_printable_name(const char *, size_t);
static enum sasl_result plain_split(const char *, size_t,
		    struct sasl_cred *);

enum sasl_mech
sasl_mech_parse(const char *name)
{
	if (strcasecmp(name, "PLAIN") == 0)
		return SASL_MECH_PLAIN;
	if (strcasecmp(name, "LOGIN") == 0)
		return SASL_MECH_LOGIN;
	return SASL_MECH_NONE;
}

/* sasl_response - see sasl.h. */
enum sasl_result
sasl_response(const char *text, bool initial, unsigned char *out,
    size_t outsz, size_t *outlen)
{
	size_t	 len = strlen(text);

	*outlen = 0;
	if (outsz > 0)
		out[0] = '\0';
	if (strcmp(text, "*") == 0)
		return SASL_CANCEL;
	if (initial && strcmp(text, "=") == 0)
		return SASL_OK;		/* RFC 4954 4: empty initial response */
	if (len > SASL_B64_MAX)
		return SASL_TOO_LONG;
	switch (base64_decode(text, len, BASE64_CANONICAL, out, outsz,
	    outlen)) {
	case BASE64_OK:
		return SASL_OK;
	case BASE64_TOO_LONG:
		return SASL_TOO_LONG;
	default:
		return SASL_BAD_B64;
	}
}

/* is_printable_name - a login name: printable, no space, not empty.
 * UTF-8 bytes (>= 0x80) are allowed for SMTPUTF8 addresses. */
static bool
is_printable_name(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char	c = (unsigned char)p[i];

		if (c <= ' ' || c == 0x7f)
			return false;
	}
	return true;
}

/* plain_split - authzid NUL authcid NUL passwd, checked, into c. */
static enum sasl_result
plain_split(const char *zid, size_t n, struct sasl_cred *c)
{
	const char	*cid, *pw, *end = zid + n;
	size_t		 zlen, clen, plen;

	if ((cid = memchr(zid, '\0', n)) == NULL)
		return SASL_BAD_MSG;
	zlen = (size_t)(cid - zid);
	cid++;
	if ((pw = memchr(cid, '\0', (size_t)(end - cid))) == NULL)
		return SASL_BAD_MSG;
	clen = (size_t)(pw - cid);
	pw++;
	plen = (size_t)(end - pw);
	if (memchr(pw, '\0', plen) != NULL)
		return SASL_BAD_MSG;
	if (!is_printable_name(cid, clen) || clen > SASL_USER_MAX)
		return SASL_BAD_MSG;
	if (plen > SASL_PASS_MAX)
		return SASL_TOO_LONG;
	if (zlen > 0 && (zlen != clen || strncasecmp(zid, cid, clen) != 0))
		return SASL_BAD_AUTHZ;
	memcpy(c->user, cid, clen);
	memcpy(c->pass, pw, plen);
	return SASL_OK;
}

/* sasl_plain - see sasl.h. */
enum sasl_result
sasl_plain(const char *text, bool initial, struct sasl_cred *c)
{
	unsigned char		 msg[SASL_DECODED_MAX + 1];
	size_t			 n;
	enum sasl_result	 r;

	memset(c, 0, sizeof(*c));
	r = sasl_response(text, initial, msg, sizeof(msg), &n);
	if (r == SASL_OK)
		r = plain_split((const char *)msg, n, c);
	explicit_bzero(msg, sizeof(msg));
	if (r != SASL_OK)
		explicit_bzero(c, sizeof(*c));
	return r;
}

/* sasl_login_field - see sasl.h. */
enum sasl_result
sasl_login_field(const char *text, bool initial, bool is_user, char *out,
    size_t outsz)
{
	unsigned char		 msg[SASL_DECODED_MAX + 1];
	size_t			 n;
	enum sasl_result	 r;

	if (outsz > 0)
		out[0] = '\0';
	if ((r = sasl_response(text, initial, msg, sizeof(msg), &n)) !=
	    SASL_OK)
		return r;
	if (memchr(msg, '\0', n) != NULL ||
	    (is_user && !is_printable_name((const char *)msg, n))) {
		explicit_bzero(msg, sizeof(msg));
		return SASL_BAD_MSG;
	}
	if (n >= outsz || n > (is_user ? SASL_USER_MAX : SASL_PASS_MAX)) {
		explicit_bzero(msg, sizeof(msg));
		return SASL_TOO_LONG;
	}
	memcpy(out, msg, n + 1);
	explicit_bzero(msg, sizeof(msg));
	return SASL_OK;
}
