/*
 * spool_rec.c - the records a queue file is made of: a type byte, the
 * value length in decimal, ':', the value, '\n' (spool_rec.h).  The
 * envelope (envelope.c) and the journal are written in them.  Pure: no
 * I/O and no logging.
 *
 * Trust: none.  The reader takes any bytes a disk fault, a crash or a
 * local user could leave: lengths are bounded and the framing is checked
 * before a value is handed out, so a cut-off record is always
 * REC_TRUNCATED and never read as another.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "mail/spool_rec.h"

#define REC_LEN_DIGITS	10	/* longest length field, per spool_rec.h */
#define NUM_DIGITS	20	/* longest number: UINT64_MAX */

static bool
is_rec_type(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    c == '.';		/* the envelope's end record */
}

/*
 * spool_rec_put_parts - one record whose value is a followed by c.  The
 * space is reserved first, so the buffer gets the whole record or nothing.
 */
int
spool_rec_put_parts(struct buf *b, char type, const void *a, size_t alen,
    const void *c, size_t clen)
{
	char	 hdr[2 + REC_LEN_DIGITS + 1];
	size_t	 vlen;
	int	 hlen;

	ASSERT(is_rec_type(type));
	if (ckd_add(&vlen, alen, clen) || vlen > SPOOL_REC_MAX) {
		errno = EMSGSIZE;
		return -1;
	}
	hlen = snprintf(hdr, sizeof(hdr), "%c%zu:", type, vlen);
	ASSERT(hlen > 0 && (size_t)hlen < sizeof(hdr));
	if (buf_reserve(b, (size_t)hlen + vlen + 1) == -1)
		return -1;
	buf_append(b, hdr, (size_t)hlen);
	buf_append(b, a, alen);
	buf_append(b, c, clen);
	buf_append(b, "\n", 1);
	return 0;
}

/*
 * spool_rec_put - append one record of the given type (a letter or '.'; a
 * bad type is a bug).  Returns 0, or -1 with errno EMSGSIZE if vlen is
 * over SPOOL_REC_MAX or ENOBUFS if b is full; b is unchanged on failure.
 */
int
spool_rec_put(struct buf *b, char type, const void *val, size_t vlen)
{
	return spool_rec_put_parts(b, type, val, vlen, "", 0);
}

/* spool_rec_puts - spool_rec_put of a C string, without its NUL. */
int
spool_rec_puts(struct buf *b, char type, const char *s)
{
	return spool_rec_put_parts(b, type, s, strlen(s), "", 0);
}

/* spool_rec_putu64 - spool_rec_put of a number in decimal ASCII. */
int
spool_rec_putu64(struct buf *b, char type, uint64_t v)
{
	char	 num[NUM_DIGITS + 1];
	int	 n;

	n = snprintf(num, sizeof(num), "%" PRIu64, v);
	ASSERT(n > 0 && (size_t)n < sizeof(num));
	return spool_rec_put_parts(b, type, num, (size_t)n, "", 0);
}

/*
 * spool_rec_get - see spool_rec.h.  A byte that can never continue a valid
 * record is REC_BAD at once, even when the data ends right after it, so a
 * cut-off valid record is always REC_TRUNCATED and never REC_BAD.
 */
enum spool_rec_result
spool_rec_get(const char *data, size_t len, size_t *off, char *type,
    const char **val, size_t *vlen)
{
	size_t		 p = *off, ndig = 0;
	uint64_t	 n = 0;

	if (p > len)
		return REC_BAD;
	if (p == len)
		return REC_EOF;
	if (!is_rec_type(data[p]))
		return REC_BAD;
	for (p++; p < len && data[p] != ':'; p++) {
		if (data[p] < '0' || data[p] > '9')
			return REC_BAD;
		if ((ndig == 1 && n == 0) || ndig == REC_LEN_DIGITS)
			return REC_BAD;		/* leading zero, too long */
		n = n * 10 + (uint64_t)(data[p] - '0');
		if (n > SPOOL_REC_MAX)
			return REC_BAD;
		ndig++;
	}
	if (p == len)
		return REC_TRUNCATED;
	if (ndig == 0)
		return REC_BAD;
	p++;					/* the ':' */
	if (len - p <= n)
		return REC_TRUNCATED;		/* value or '\n' missing */
	if (data[p + n] != '\n')
		return REC_BAD;
	*type = data[*off];
	*val = data + p;
	*vlen = (size_t)n;
	*off = p + (size_t)n + 1;
	return REC_OK;
}
