/*
 * fuzz_smtp_data.c - libFuzzer target for the DATA recognizer and the BDAT
 * checker.  The first input byte picks a split point; the rest, with
 * "<CR><LF>.<CR><LF>" appended for DATA, is fed whole and in two pieces,
 * and the two runs must agree on the result, the bytes consumed, the
 * output and every flag.  Both must also agree with a slow model that
 * works line by line (split at LF), as docs/smtp.md states the rules: a
 * data end only at CRLF.CRLF, bare LF taken as a line end, bare CR
 * dropped, dots unstuffed at every line start, the empty CRLF line after
 * a bare LF dropped before the end.  The output must never hold a lone CR
 * or LF.  Any mismatch aborts.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "mail/smtp_data.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX	4096	/* small enough that overflow is reached */
#define END_MARK	"\r\n.\r\n"

struct run {
	enum data_result r;
	size_t		 used;
	struct data_rx	 rx;
	struct buf	 out;
};

/* What the model says: the whole output (uncapped) and the flags. */
struct model {
	struct buf	 out;
	size_t		 used;
	bool		 end, bare_cr, bare_lf, in_header;
	unsigned	 hdr_received;
	size_t		 held;		/* offset of a held empty line + 1 */
};

static void	 data_run(struct run *, const char *, size_t, size_t);
static void	 bdat_run(struct run *, const char *, size_t, size_t);
static void	 same(const struct run *, const struct run *);
static void	 line_ends_ok(const struct run *);
static void	 model_line(struct model *, const char *, size_t, bool, bool);
static void	 model_data(struct model *, const char *, size_t);
static void	 model_bdat(struct model *, const char *, size_t);
static void	 model_headers(struct model *);
static void	 agrees(const struct run *, const struct model *);

static void
data_run(struct run *o, const char *p, size_t len, size_t k)
{
	size_t	 u;

	buf_init(&o->out, 0);
	smtp_data_init(&o->rx, FUZZ_MAX, &o->out);
	o->r = smtp_data_feed(&o->rx, p, k, &o->used);
	if (o->r == DATA_MORE) {
		if (o->used != k)
			abort();
		o->r = smtp_data_feed(&o->rx, p + k, len - k, &u);
		o->used += u;
	}
}

static void
bdat_run(struct run *o, const char *p, size_t len, size_t k)
{
	buf_init(&o->out, 0);
	smtp_data_init(&o->rx, FUZZ_MAX, &o->out);
	smtp_data_bdat_feed(&o->rx, p, k);
	smtp_data_bdat_feed(&o->rx, p + k, len - k);
	smtp_data_bdat_last(&o->rx);
	o->r = DATA_END;
	o->used = len;
}

static void
same(const struct run *a, const struct run *b)
{
	if (a->r != b->r || a->used != b->used ||
	    a->out.len != b->out.len ||
	    (a->out.len > 0 && memcmp(a->out.data, b->out.data,
	    a->out.len) != 0) ||
	    a->rx.size != b->rx.size || a->rx.overflow != b->rx.overflow ||
	    a->rx.eightbit != b->rx.eightbit || a->rx.nul != b->rx.nul ||
	    a->rx.bare_cr != b->rx.bare_cr ||
	    a->rx.bare_lf != b->rx.bare_lf ||
	    a->rx.in_header != b->rx.in_header ||
	    a->rx.hdr_received != b->rx.hdr_received)
		abort();
}

static void
line_ends_ok(const struct run *o)
{
	const char	*d = o->out.data;
	size_t		 n = o->out.len;

	if (o->out.len > FUZZ_MAX || (!o->rx.overflow && o->rx.size != n))
		abort();
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
			abort();
		if (d[i] == '\r' && i + 1 < n && d[i + 1] != '\n')
			abort();
		if (d[i] == '\r' && i + 1 == n && !o->rx.overflow)
			abort();
	}
}

/*
 * model_line - one line as it arrived (without its LF; a CR before the LF
 * is still there when crlf), or the unterminated rest of a BDAT message.
 * The header flags are worked out from the output once it is complete.
 */
static void
model_line(struct model *m, const char *s, size_t n, bool crlf, bool dots)
{
	if (crlf)
		n--;			/* the CR of the CRLF */
	if (dots && n > 0 && s[0] == '.') {
		s++;			/* RFC 5321 4.5.2 */
		n--;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r')
			m->bare_cr = true;
		else
			buf_append(&m->out, s + i, 1);
	}
}

/* model_data - DATA, line by line; p must hold an end (END_MARK). */
static void
model_data(struct model *m, const char *p, size_t len)
{
	size_t		 pos = 0;
	bool		 prev_crlf = true, prev_lf = false;

	while (!m->end) {
		const char	*lf = memchr(p + pos, '\n', len - pos);
		size_t		 n;
		bool		 crlf;

		if (lf == NULL)
			abort();	/* the appended end is missing */
		n = (size_t)(lf - (p + pos));
		crlf = n > 0 && p[pos + n - 1] == '\r';
		if (crlf && prev_crlf && n == 2 && p[pos] == '.') {
			if (m->held != 0)	/* the end marker's CRLF */
				m->out.len = m->held - 1;
			m->end = true;
		} else {
			m->held = crlf && prev_lf && n == 1 ?
			    m->out.len + 1 : 0;
			model_line(m, p + pos, n, crlf, true);
			buf_append(&m->out, "\r\n", 2);
			m->bare_lf |= !crlf;
		}
		prev_crlf = crlf;
		prev_lf = !crlf;
		pos += n + 1;
	}
	m->used = pos;
}

/* model_bdat - BDAT: the same lines, no dots, no end marker. */
static void
model_bdat(struct model *m, const char *p, size_t len)
{
	size_t		 pos = 0;

	for (;;) {
		const char	*lf = memchr(p + pos, '\n', len - pos);
		size_t		 n;
		bool		 crlf;

		if (lf == NULL)
			break;
		n = (size_t)(lf - (p + pos));
		crlf = n > 0 && p[pos + n - 1] == '\r';
		model_line(m, p + pos, n, crlf, false);
		buf_append(&m->out, "\r\n", 2);
		m->bare_lf |= !crlf;
		pos += n + 1;
	}
	model_line(m, p + pos, len - pos, false, false);
	m->used = len;
	m->end = true;
}

/* model_headers - "Received:" lines before the first empty line. */
static void
model_headers(struct model *m)
{
	const char	*d = m->out.data, *e;

	m->in_header = true;
	if (m->out.len == 0)
		return;
	e = d + m->out.len;
	while (d < e && m->in_header) {
		const char	*eol = memchr(d, '\r', (size_t)(e - d));
		size_t		 n = eol != NULL ? (size_t)(eol - d) :
				    (size_t)(e - d);

		if (eol != NULL && n == 0)
			m->in_header = false;
		else if (n >= 9 && strncasecmp(d, "received:", 9) == 0)
			m->hdr_received++;
		d += n + (eol != NULL ? 2 : 0);
	}
}

/* agrees - the recognizer's run says what the model says. */
static void
agrees(const struct run *o, const struct model *m)
{
	size_t	 keep = m->out.len < FUZZ_MAX ? m->out.len : FUZZ_MAX;

	if (o->r != DATA_END || o->used != m->used ||
	    o->rx.size != m->out.len ||
	    o->rx.overflow != (m->out.len > FUZZ_MAX) ||
	    o->out.len != keep ||
	    (keep > 0 && memcmp(o->out.data, m->out.data, keep) != 0) ||
	    o->rx.bare_cr != m->bare_cr || o->rx.bare_lf != m->bare_lf ||
	    o->rx.nul != (m->out.len > 0 &&
	    memchr(m->out.data, '\0', m->out.len) != NULL) ||
	    o->rx.in_header != m->in_header ||
	    o->rx.hdr_received != m->hdr_received)
		abort();
	for (size_t i = 0; i < m->out.len; i++)
		if (((unsigned char)m->out.data[i] & 0x80) != 0) {
			if (!o->rx.eightbit)
				abort();
			return;
		}
	if (o->rx.eightbit)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run	 whole, split;
	struct model	 m;
	struct buf	 q;
	const char	*p;
	size_t		 len, k;

	if (size < 1)
		return 0;
	p = (const char *)data + 1;
	len = size - 1;
	/* 0..len; every split point is reachable when len <= 255 */
	k = (size_t)data[0] * len / 255;

	/* DATA: the input, then a proper end that may never be reached */
	buf_init(&q, 0);
	buf_append(&q, p, len);
	buf_append(&q, END_MARK, sizeof(END_MARK) - 1);
	data_run(&whole, q.data, q.len, q.len);
	data_run(&split, q.data, q.len, k);
	same(&whole, &split);
	line_ends_ok(&whole);
	if (whole.r != DATA_END || whole.used < 3 ||
	    memcmp(q.data + whole.used - 3, ".\r\n", 3) != 0 ||
	    (whole.used > 3 && (whole.used < 5 ||
	    memcmp(q.data + whole.used - 5, "\r\n", 2) != 0)))
		abort();		/* only CRLF.CRLF ends the data */
	memset(&m, 0, sizeof(m));
	buf_init(&m.out, 0);
	model_data(&m, q.data, q.len);
	model_headers(&m);
	agrees(&whole, &m);
	buf_free(&m.out);
	buf_free(&whole.out);
	buf_free(&split.out);
	buf_free(&q);

	/* BDAT: the input as the chunks of one message */
	bdat_run(&whole, p, len, len);
	bdat_run(&split, p, len, k);
	same(&whole, &split);
	line_ends_ok(&whole);
	memset(&m, 0, sizeof(m));
	buf_init(&m.out, 0);
	model_bdat(&m, p, len);
	model_headers(&m);
	agrees(&whole, &m);
	buf_free(&m.out);
	buf_free(&whole.out);
	buf_free(&split.out);
	return 0;
}
