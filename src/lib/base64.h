/*
 * base64.h - RFC 4648 base64, the standard alphabet with padding: the one
 * codec for SASL (RFC 4954), DKIM (RFC 6376 tag values), AUTH on the SMTP
 * client and the Authentication-Results b= values.  Pure: no I/O.
 */
#ifndef POSTBOTE_BASE64_H
#define POSTBOTE_BASE64_H

#include <stddef.h>

struct buf;

/* Decoder flags. */
#define BASE64_FWS		0x01	/* skip SP, HTAB, CR and LF anywhere
					 * (folded DKIM tag values) */
#define BASE64_CANONICAL	0x02	/* the bits a pad hides must be 0,
					 * and the length a multiple of 4
					 * (RFC 4648 3.5, SASL) */

enum base64_result {
	BASE64_OK = 0,
	BASE64_BAD,		/* not base64 (or not canonical) */
	BASE64_TOO_LONG,	/* the result does not fit in out */
};

/* base64_encode - append the base64 of p[0..len) to out (no line breaks);
 * 0, or -1 when out's ceiling is reached (ENOBUFS). */
int	 base64_encode(const void *p, size_t len, struct buf *out);
/*
 * base64_decode - decode in[0..len) into out (outsz bytes, one of them
 * kept for a NUL written after the data); *outlen is the decoded length.
 * Padding ends the data: only more '=' (and FWS with BASE64_FWS) may
 * follow, and only after at least two letters of the last quantum.
 */
enum base64_result base64_decode(const char *in, size_t len, unsigned flags,
	    unsigned char *out, size_t outsz, size_t *outlen);
/* base64_decode_alloc - the same into a new buffer (*out, free()d by the
 * caller; NULL on failure); 0 or -1. */
int	 base64_decode_alloc(const char *in, size_t len, unsigned flags,
	    unsigned char **out, size_t *outlen);

#endif
