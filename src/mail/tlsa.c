/*
 * tlsa.c - read the TLSA records (RFC 6698) of one name out of a whole
 * DNS answer message (RFC 1035 4.1), and say which an SMTP client may use
 * (RFC 7672 3.1.3).  c-ares 1.18 has no TLSA parser, so the message is
 * walked here: the header, the one question, and the answer records,
 * following the CNAME chain that starts at the name asked for.
 *
 * Runs in the deliver process (DANE) and the CLI (check --dns).  Trust:
 * the message came from the resolver, which may have relayed anything;
 * every count, length and compression pointer is checked against the
 * message before it is followed, pointers may only point backwards (so no
 * loop), and the records handed out point into the caller's buffer.
 * Pure: no I/O, no allocation.
 */
#include <stdio.h>
#include <string.h>

#include "mail/tlsa.h"
#include "lib/util.h"

#define HDR_LEN		12
#define RR_FIXED	10	/* type, class, TTL, RDLENGTH */
#define T_CNAME		5
#define C_IN		1
#define CNAME_LINKS	8	/* a longer chain is not followed */
#define HOPS_MAX	128	/* compression pointers followed per name */
#define SHA256_LEN	32
#define SHA512_LEN	64

/* A name read from the message: presentation form, lower case, no root
 * dot.  odd: a label byte that a host name cannot hold ('.', a control
 * or a non-ASCII byte), so it never equals a name we asked for. */
struct wname {
	char	 s[TLSA_NAME_MAX + 2];
	size_t	 len;
	bool	 odd;
};

static int	 name_read(const unsigned char *, size_t, size_t *,
		    struct wname *);
static bool	 name_is(const struct wname *, const char *);
static unsigned	 get16(const unsigned char *);
static int	 answer_rr(const unsigned char *, size_t, size_t *,
		    struct wname *, unsigned *, struct tlsa_rec *, size_t,
		    size_t *, size_t *);

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* label_add - one label's bytes onto w, dot-separated. */
static int
label_add(struct wname *w, const unsigned char *p, size_t n)
{
	if (w->len + (w->len > 0) + n > TLSA_NAME_MAX)
		return -1;		/* RFC 1035 2.3.4: 255 on the wire */
	if (w->len > 0)
		w->s[w->len++] = '.';
	for (size_t i = 0; i < n; i++) {
		unsigned char	c = p[i];

		if (c <= ' ' || c >= 0x7f || c == '.')
			w->odd = true;
		w->s[w->len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	w->s[w->len] = '\0';
	return 0;
}

/*
 * name_read - the (possibly compressed, RFC 1035 4.1.4) name at *off;
 * *off moves past it in the record.  A pointer must point before the
 * place it was read from, so every jump goes backwards and the walk
 * ends; labels of type 01 and 10 (RFC 6891 obsoleted them) are refused.
 */
static int
name_read(const unsigned char *m, size_t len, size_t *off, struct wname *w)
{
	size_t		 p = *off, end = 0, hops = 0;
	bool		 jumped = false;

	memset(w, 0, sizeof(*w));
	for (;;) {
		if (p >= len)
			return -1;
		if ((m[p] & 0xc0) == 0xc0) {
			size_t	to;

			if (p + 1 >= len || ++hops > HOPS_MAX)
				return -1;
			to = (size_t)(m[p] & 0x3f) << 8 | m[p + 1];
			if (to >= p)
				return -1;
			if (!jumped)
				end = p + 2;
			jumped = true;
			p = to;
		} else if (m[p] & 0xc0)
			return -1;
		else if (m[p] == 0) {
			*off = jumped ? end : p + 1;
			return 0;
		} else {
			if (p + 1 + m[p] > len ||
			    label_add(w, m + p + 1, m[p]) == -1)
				return -1;
			p += 1 + (size_t)m[p];
		}
	}
}

/* tlsa_name_skip - see tlsa.h. */
int
tlsa_name_skip(const unsigned char *m, size_t len, size_t *off)
{
	struct wname	 w;

	return name_read(m, len, off, &w);
}

/* name_is - w is the host name s (no root dot), case-insensitively. */
static bool
name_is(const struct wname *w, const char *s)
{
	return !w->odd && str_ieq(w->s, s);
}

/*
 * answer_rr - one answer record at *off: a CNAME from *cur moves *cur
 * on (at most CNAME_LINKS times), a TLSA record of *cur is kept.
 */
static int
answer_rr(const unsigned char *m, size_t len, size_t *off, struct wname *cur,
    unsigned *links, struct tlsa_rec *out, size_t max, size_t *n,
    size_t *total)
{
	struct wname	 owner, target;
	unsigned	 type, class;
	size_t		 rd, rdlen;

	if (name_read(m, len, off, &owner) == -1 || *off + RR_FIXED > len)
		return -1;
	type = get16(m + *off);
	class = get16(m + *off + 2);
	rdlen = get16(m + *off + 8);
	rd = *off + RR_FIXED;
	if (rd + rdlen > len)
		return -1;
	*off = rd + rdlen;
	if (class != C_IN || owner.odd || !str_ieq(owner.s, cur->s))
		return 0;
	if (type == T_CNAME) {
		size_t	 t = rd;

		if (name_read(m, len, &t, &target) == -1 || t != rd + rdlen)
			return -1;
		if (++*links <= CNAME_LINKS && !target.odd)
			*cur = target;
		return 0;
	}
	if (type != TLSA_RR_TYPE)
		return 0;
	if (*n < max) {
		struct tlsa_rec	*r = &out[(*n)++];

		memset(r, 0, sizeof(*r));
		if (rdlen < 3)		/* no room for the three fields */
			r->usage = r->selector = r->mtype = 256;
		else {
			r->usage = m[rd];
			r->selector = m[rd + 1];
			r->mtype = m[rd + 2];
			r->data = m + rd + 3;
			r->len = rdlen - 3;
		}
	}
	++*total;
	return 0;
}

/* tlsa_answer_parse - see tlsa.h. */
enum tlsa_rc
tlsa_answer_parse(const unsigned char *msg, size_t len, const char *qname,
    struct tlsa_rec *out, size_t max, size_t *n, size_t *total)
{
	struct wname	 q, cur;
	size_t		 off = HDR_LEN, an;
	unsigned	 links = 0;

	*n = *total = 0;
	if (msg == NULL || len < HDR_LEN || get16(msg + 4) != 1 ||
	    strlen(qname) > TLSA_NAME_MAX)
		return TLSA_BAD;
	an = get16(msg + 6);
	if (name_read(msg, len, &off, &q) == -1 || off + 4 > len ||
	    !name_is(&q, qname) || get16(msg + off) != TLSA_RR_TYPE ||
	    get16(msg + off + 2) != C_IN)
		return TLSA_BAD;
	off += 4;
	cur = q;
	for (size_t i = 0; i < an; i++)
		if (answer_rr(msg, len, &off, &cur, &links, out, max, n,
		    total) == -1) {
			*n = *total = 0;
			return TLSA_BAD;
		}
	return TLSA_OK;
}

/* tlsa_rec_usable - see tlsa.h. */
bool
tlsa_rec_usable(const struct tlsa_rec *r)
{
	if (r->usage != TLSA_DANE_TA && r->usage != TLSA_DANE_EE)
		return false;		/* RFC 7672 3.1.3 */
	if (r->selector != TLSA_SEL_CERT && r->selector != TLSA_SEL_SPKI)
		return false;
	switch (r->mtype) {
	case TLSA_MT_FULL:
		return r->len > 0;
	case TLSA_MT_SHA256:
		return r->len == SHA256_LEN;
	case TLSA_MT_SHA512:
		return r->len == SHA512_LEN;
	default:
		return false;
	}
}

/* tlsa_rec_str - see tlsa.h. */
char *
tlsa_rec_str(const struct tlsa_rec *r, char *out, size_t size)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 k;
	int			 w;

	if (size == 0)
		return out;
	w = snprintf(out, size, "%u %u %u ", r->usage, r->selector, r->mtype);
	if (w < 0 || (size_t)w >= size)
		return out;
	k = (size_t)w;
	for (size_t i = 0; i < r->len; i++) {
		if (k + 2 >= size) {	/* cut: "..." over the last digits */
			if (size >= 4 && size - 4 >= (size_t)w)
				memcpy(out + size - 4, "...", 4);
			else
				out[k] = '\0';
			return out;
		}
		out[k++] = hex[r->data[i] >> 4];
		out[k++] = hex[r->data[i] & 0xf];
	}
	out[k] = '\0';
	return out;
}

/* tlsa_usage_str - see tlsa.h. */
const char *
tlsa_usage_str(unsigned usage)
{
	static const char *const names[] = { "PKIX-TA", "PKIX-EE", "DANE-TA",
	    "DANE-EE" };

	return usage < NELEM(names) ? names[usage] : "unassigned";
}
