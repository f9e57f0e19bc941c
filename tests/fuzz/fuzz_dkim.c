/*
 * fuzz_dkim.c - libFuzzer target for the DKIM parsers.  The first byte
 * picks the mode (its low two bits, so '0'..'3' in a readable seed); the
 * rest is copied into a heap block of exactly its size, so ASan catches
 * any read past the end (the parsers take lengths, never NULs).
 *   0  tag list (dkim_tags_parse): every tag inside the input, values
 *      without FWS at either end, names unique
 *   1  message: dkim_msg_parse, both header and body canonicalizations
 *      and bottom-up selection; canonical output bounded and well formed
 *   2  verify: "RECORD\0MESSAGE"; dkim_verify with RECORD as the answer
 *      of every key lookup
 *   3  base64 decode, checked against re-encoding
 * Any violation aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "auth/dkim.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX	65536

static void	 violation(const char *);
static bool	 is_fws(char);
static void	 fuzz_tags(const char *, size_t);
static void	 check_stream_hash(enum dkim_canon, const char *, size_t,
		    const struct buf *);
static void	 check_body(enum dkim_canon, const char *, size_t);
static void	 fuzz_msg(const char *, size_t);
static enum dkim_lookup lookup(void *, const char *, const char *,
		    struct buf *);
static void	 fuzz_verify(const char *, size_t);
static void	 fuzz_b64(const char *, size_t);

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_dkim: %s\n", what);
	abort();
}

static bool
is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
fuzz_tags(const char *s, size_t len)
{
	struct dkim_tags	 t;

	if (dkim_tags_parse(s, len, &t) != DKIM_TAGS_OK) {
		if (t.n != 0)
			violation("tags left behind on failure");
		return;
	}
	if (t.n == 0 || t.n > DKIM_TAGS_MAX)
		violation("tag count");
	for (size_t i = 0; i < t.n; i++) {
		const struct dkim_tag	*g = &t.tag[i];

		if (g->name < s || g->name + g->namelen > s + len ||
		    g->value < s || g->value + g->valuelen > s + len ||
		    g->end < g->value + g->valuelen || g->end > s + len)
			violation("tag outside the input");
		if (g->namelen == 0 || *g->eq != '=')
			violation("tag shape");
		if (g->valuelen > 0 && (is_fws(g->value[0]) ||
		    is_fws(g->value[g->valuelen - 1])))
			violation("FWS at a value's end");
		for (size_t j = 0; j < i; j++)
			if (t.tag[j].namelen == g->namelen &&
			    memcmp(t.tag[j].name, g->name, g->namelen) == 0)
				violation("duplicate tag");
	}
}

/* check_stream_hash - dkim_body_hash (streamed) must equal SHA-256 of
 * the canonical body in one piece, whole and cut at l= */
static void
check_stream_hash(enum dkim_canon c, const char *body, size_t len,
    const struct buf *canon)
{
	struct dkim_msg	 m;
	unsigned char	 want[32], got[32];
	uint64_t	 l = canon->len / 2;

	memset(&m, 0, sizeof(m));
	m.body = body;
	m.bodylen = len;
	dkim_key_sha256(canon->data != NULL ? canon->data : "", canon->len, want);
	if (dkim_body_hash(&m, c, false, 0, got) != 0 ||
	    memcmp(want, got, 32) != 0)
		violation("streamed body hash differs");
	dkim_key_sha256(canon->data != NULL ? canon->data : "", (size_t)l, want);
	if (dkim_body_hash(&m, c, true, l, got) != 0 ||
	    memcmp(want, got, 32) != 0)
		violation("streamed body hash with l= differs");
	if (dkim_body_hash(&m, c, true, canon->len + 1, got) != -1)
		violation("l= past the body accepted");
}

/* check_body - invariants of canonical bodies (RFC 6376 3.4.3, 3.4.4). */
static void
check_body(enum dkim_canon c, const char *body, size_t len)
{
	struct buf	 b;

	buf_init(&b, 0);
	if (dkim_canon_body(c, body, len, &b) == -1)
		violation("canon_body failed");
	check_stream_hash(c, body, len, &b);
	if (b.len > len + 2)
		violation("canonical body grew");
	if (c == DKIM_CANON_SIMPLE && b.len < 2)
		violation("simple body without CRLF");
	if (b.len > 0 && (b.len < 2 || memcmp(b.data + b.len - 2, "\r\n",
	    2) != 0))
		violation("body does not end in CRLF");
	if (b.len >= 4 && memcmp(b.data + b.len - 4, "\r\n\r\n", 4) == 0 &&
	    !(c == DKIM_CANON_SIMPLE && b.len == 2))
		violation("trailing empty line kept");
	if (c == DKIM_CANON_RELAXED && b.len > 0 &&
	    (memmem(b.data, b.len, "  ", 2) != NULL ||
	    memmem(b.data, b.len, " \r\n", 3) != NULL ||
	    memchr(b.data, '\t', b.len) != NULL))
		violation("relaxed body keeps WSP");
	buf_free(&b);
}

static void
fuzz_msg(const char *s, size_t len)
{
	static const char *const names[] = { "from", "to", "from", "x",
		"subject", "dkim-signature", "from" };
	struct dkim_msg		 m;
	struct buf		 b;

	if (dkim_msg_parse(s, len, &m) == 0) {
		if (m.body < s || m.body + m.bodylen != s + len)
			violation("body outside the input");
		buf_init(&b, 0);
		for (int c = 0; c < 2; c++) {
			buf_reset(&b);
			if (dkim_select_headers(&m, (enum dkim_canon)c, names,
			    sizeof(names) / sizeof(names[0]), &b) == -1)
				violation("select failed");
			check_body((enum dkim_canon)c, m.body, m.bodylen);
		}
		for (size_t i = 0; i < m.nhdr; i++) {
			buf_reset(&b);
			dkim_canon_header(DKIM_CANON_RELAXED, m.hdr[i].raw,
			    m.hdr[i].rawlen, &b);
			if (b.len > m.hdr[i].rawlen + 2 ||
			    memchr(b.data, '\t', b.len) != NULL)
				violation("relaxed header");
		}
		buf_free(&b);
	}
	dkim_msg_free(&m);
	check_body(DKIM_CANON_SIMPLE, s, len);
	check_body(DKIM_CANON_RELAXED, s, len);
}

static enum dkim_lookup
lookup(void *arg, const char *selector, const char *domain, struct buf *rec)
{
	const char	*r = arg;

	if (!dkim_name_is_valid(selector, strlen(selector)) ||
	    !dkim_name_is_valid(domain, strlen(domain)))
		violation("lookup of an invalid name");
	buf_puts(rec, r);
	return DKIM_LOOKUP_OK;
}

static void
fuzz_verify(const char *s, size_t len)
{
	const char		*nul = memchr(s, '\0', len);
	struct dkim_verify	 v;
	char			 err[128];

	if (nul == NULL)
		return;
	if (dkim_verify(&v, nul + 1, len - (size_t)(nul - s) - 1, 4102444800,
	    lookup, (void *)s, err, sizeof(err)) == 0) {
		if (v.nsig > DKIM_SIGS_MAX)
			violation("too many signatures");
		for (size_t i = 0; i < v.nsig; i++)
			if (v.sig[i].result == DKIM_PENDING ||
			    (v.sig[i].result != DKIM_PASS &&
			    v.sig[i].reason[0] == '\0'))
				violation("result without a reason");
	}
	dkim_verify_free(&v);
}

static void
fuzz_b64(const char *s, size_t len)
{
	unsigned char	*p, *q;
	size_t		 n, m;
	struct buf	 b;

	if (base64_decode_alloc(s, len, BASE64_FWS, &p, &n) == -1)
		return;
	buf_init(&b, 0);
	base64_encode(p, n, &b);
	if (base64_decode_alloc(b.data, b.len, BASE64_FWS, &q, &m) == -1 || m != n ||
	    memcmp(p, q, n) != 0)
		violation("base64 round trip");
	free(p);
	free(q);
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;
	size_t	 len;

	if (size < 1 || size > FUZZ_MAX)
		return 0;
	len = size - 1;
	if ((s = malloc(len > 0 ? len : 1)) == NULL)
		return 0;
	memcpy(s, data + 1, len);
	switch (data[0] & 3) {
	case 0:
		fuzz_tags(s, len);
		break;
	case 1:
		fuzz_msg(s, len);
		break;
	case 2:
		fuzz_verify(s, len);
		break;
	default:
		fuzz_b64(s, len);
		break;
	}
	free(s);
	return 0;
}
