/*
 * base64.c - RFC 4648 base64 encoding and strict decoding (base64.h).
 * Runs wherever base64 is met: smtpd (SASL from peers), deliver (AUTH to
 * relays), and the DKIM code (signatures and keys from DNS and peers).
 * Trusts nothing: every letter is checked, output bounds are checked
 * before each write, and nothing is logged (SASL data are credentials).
 */
#include <errno.h>
#include <stdlib.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/util.h"

static const char	alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int	 value(int);
static bool	 is_fws(int);

/* base64_encode - see base64.h. */
int
base64_encode(const void *p, size_t len, struct buf *out)
{
	const unsigned char	*s = p;
	size_t			 need;
	char			*o;

	if (ckd_add(&need, len, 2) || ckd_mul(&need, need / 3, 4) ||
	    buf_reserve(out, need) == -1) {
		errno = ENOBUFS;
		return -1;
	}
	o = out->data + out->len;
	for (size_t i = 0; i < len; i += 3) {
		unsigned long	w = (unsigned long)s[i] << 16;

		if (i + 1 < len)
			w |= (unsigned long)s[i + 1] << 8;
		if (i + 2 < len)
			w |= s[i + 2];
		*o++ = alphabet[(w >> 18) & 63];
		*o++ = alphabet[(w >> 12) & 63];
		*o++ = i + 1 < len ? alphabet[(w >> 6) & 63] : '=';
		*o++ = i + 2 < len ? alphabet[w & 63] : '=';
	}
	out->len += need;
	out->data[out->len] = '\0';
	return 0;
}

/* value - the 6-bit value of a base64 letter, or -1. */
static int
value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static bool
is_fws(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* base64_decode - see base64.h. */
enum base64_result
base64_decode(const char *in, size_t len, unsigned flags, unsigned char *out,
    size_t outsz, size_t *outlen)
{
	unsigned long	 acc = 0;
	unsigned	 nq = 0, pad = 0;
	size_t		 n = 0;

	*outlen = 0;
	if (outsz == 0)
		return BASE64_TOO_LONG;
	out[0] = '\0';
	if ((flags & BASE64_CANONICAL) && len % 4 != 0)
		return BASE64_BAD;
	/* Without FWS the length tells at once whether it can fit. */
	if (!(flags & BASE64_FWS) && (len + 3) / 4 > (outsz - 1) / 3 + 1)
		return BASE64_TOO_LONG;
	for (size_t i = 0; i < len; i++) {
		int	 c = (unsigned char)in[i], v;

		if ((flags & BASE64_FWS) && is_fws(c))
			continue;
		if (c == '=') {
			if (nq < 2 || ++pad > 2)
				return BASE64_BAD;
			v = 0;
		} else if (pad > 0 || (v = value(c)) < 0)
			return BASE64_BAD;	/* data after '=', or junk */
		acc = acc << 6 | (unsigned long)v;
		if (++nq < 4)
			continue;
		/* Canonical: the bits that padding hides are 0. */
		if ((flags & BASE64_CANONICAL) && ((pad == 1 &&
		    (acc & 0xff) != 0) || (pad == 2 && (acc & 0xffff) != 0)))
			return BASE64_BAD;
		if (n + 3 - pad > outsz - 1)
			return BASE64_TOO_LONG;
		out[n++] = (unsigned char)(acc >> 16);
		if (pad < 2)
			out[n++] = (unsigned char)(acc >> 8);
		if (pad < 1)
			out[n++] = (unsigned char)acc;
		nq = 0;
		acc = 0;
	}
	if (nq != 0)
		return BASE64_BAD;
	out[n] = '\0';
	*outlen = n;
	return BASE64_OK;
}

/* base64_decode_alloc - see base64.h. */
int
base64_decode_alloc(const char *in, size_t len, unsigned flags,
    unsigned char **out, size_t *outlen)
{
	size_t	sz = len / 4 * 3 + 4;

	*out = xmalloc(sz);
	if (base64_decode(in, len, flags, *out, sz, outlen) == BASE64_OK)
		return 0;
	free(*out);
	*out = NULL;
	*outlen = 0;
	return -1;
}
