/*
 * smtp_data.c - the end-of-data recognizer (DATA) and the line-end checker
 * (BDAT).  Runs in smtpd on every message byte a client sends.
 *
 * Trust: none.  The input is raw peer bytes.  Only CRLF ends a line
 * (RFC 5321 2.3.8); a CR not followed by LF, or an LF not preceded by CR,
 * is DATA_BAD_EOL, so no variant of "<LF>.<LF>", "<CR>.<CR>" or
 * "<LF>.<CR><LF>" can end a message here (SMTP smuggling, CVE-2023-51764).
 * A CR is held back until its LF arrives, so the output never holds a
 * lone CR or LF.  Output is capped at rx->max bytes; the rest is counted.
 *
 * Speed: line ends are found with memchr and a whole line, CRLF included,
 * is stored with one buf_append; only line starts and a CR or LF split
 * across feeds go through the byte state machine.
 */
#include <string.h>

#include "lib/log.h"
#include "mail/smtp_data.h"
#include "lib/util.h"

/* Byte states; kept in the low bits of rx->state. */
enum rx_state {
	RX_BOL = 0,		/* after CRLF, or at the very start */
	RX_TEXT,		/* inside a line */
	RX_CR,			/* CR seen inside a line; LF must follow */
	RX_DOT,			/* "." at line start (DATA only) */
	RX_DOT_CR,		/* ".<CR>" at line start; LF ends the data */
	RX_END,			/* ended: nothing more is taken */
	RX_BAD,			/* line-end error: nothing more is taken */
};

/*
 * Header tracking lives in the bits above the byte state: how much of
 * "received:" the current line has matched.  HDR_LINE_START means the
 * line is still empty; HDR_NO means it cannot be a Received: line.
 */
#define RX_STATE_MASK	0x0f
#define RX_HDR_SHIFT	4
#define HDR_LINE_START	0
#define HDR_NO		15

static const char received[] = "received:";
#define RECEIVED_LEN	(sizeof(received) - 1)

static enum data_result feed(struct data_rx *, const char *, size_t,
	    size_t *, bool);
static bool	 step(struct data_rx *, char, enum rx_state *, bool);
static size_t	 text_run(struct data_rx *, const char *, size_t, size_t,
	    enum rx_state *);
static void	 put(struct data_rx *, const char *, size_t);
static void	 put_eol(struct data_rx *);
static void	 note(struct data_rx *, const char *, size_t);
static void	 note_eol(struct data_rx *);
static void	 store(struct data_rx *, const char *, size_t);
static void	 header_match(struct data_rx *, const char *, size_t);
static bool	 has_eightbit(const char *, size_t);

static unsigned
hdr_get(const struct data_rx *rx)
{
	return (unsigned)rx->state >> RX_HDR_SHIFT;
}

static void
hdr_set(struct data_rx *rx, unsigned h)
{
	rx->state = (rx->state & RX_STATE_MASK) | (int)(h << RX_HDR_SHIFT);
}

/* smtp_data_init - start a message; the initial state is "after CRLF". */
void
smtp_data_init(struct data_rx *rx, uint64_t max, struct buf *out)
{
	memset(rx, 0, sizeof(*rx));
	rx->state = RX_BOL;
	rx->max = max;
	rx->in_header = true;
	rx->out = out;
}

/*
 * smtp_data_feed - run DATA bytes through the recognizer; see smtp_data.h.
 * The terminating ".CRLF" is consumed but not output.
 */
enum data_result
smtp_data_feed(struct data_rx *rx, const char *p, size_t len, size_t *used)
{
	return feed(rx, p, len, used, true);
}

/*
 * smtp_data_bdat_feed - one BDAT chunk (RFC 3030): no dot-stuffing, same CRLF
 * rule; a CR ending this chunk may be completed by the next one.
 */
enum data_result
smtp_data_bdat_feed(struct data_rx *rx, const char *p, size_t len)
{
	size_t	 used;

	return feed(rx, p, len, &used, false);
}

/* smtp_data_bdat_last - end of the last chunk: a CR still waiting is lone. */
enum data_result
smtp_data_bdat_last(struct data_rx *rx)
{
	enum rx_state	 st = rx->state & RX_STATE_MASK;

	if (st == RX_BAD || st == RX_CR) {
		rx->state = (rx->state & ~RX_STATE_MASK) | RX_BAD;
		return DATA_BAD_EOL;
	}
	rx->state = (rx->state & ~RX_STATE_MASK) | RX_END;
	return DATA_END;
}

/*
 * feed - the state machine.  Line starts and line ends go byte by byte
 * through step(); text between them goes by runs through text_run().  On
 * an error the offending byte counts as consumed.  Once ended or failed
 * the state is sticky and further input is not consumed.
 */
static enum data_result
feed(struct data_rx *rx, const char *p, size_t len, size_t *used, bool dots)
{
	enum rx_state	 st = rx->state & RX_STATE_MASK;
	size_t		 i = 0;

	while (i < len && st != RX_END && st != RX_BAD) {
		if (st == RX_TEXT)
			i = text_run(rx, p, i, len, &st);
		else if (step(rx, p[i], &st, dots))
			i++;
	}
	rx->state = (rx->state & ~RX_STATE_MASK) | (int)st;
	*used = i;
	if (st == RX_END)
		return DATA_END;
	return st == RX_BAD ? DATA_BAD_EOL : DATA_MORE;
}

/*
 * step - one byte at a line start or after a CR.  Returns true if it was
 * consumed; false leaves it to text_run() as the first byte of text.
 */
static bool
step(struct data_rx *rx, char c, enum rx_state *st, bool dots)
{
	switch (*st) {
	case RX_BOL:
		if (dots && c == '.') {
			*st = RX_DOT;
			return true;
		}
		*st = RX_TEXT;
		return false;
	case RX_DOT:
		if (c == '\r') {
			*st = RX_DOT_CR;
			return true;
		}
		*st = RX_TEXT;	/* the stuffed dot is dropped (4.5.2) */
		return false;
	case RX_DOT_CR:			/* CRLF.CR: only LF may follow */
		*st = c == '\n' ? RX_END : RX_BAD;
		return true;
	case RX_CR:
		if (c == '\n') {
			put_eol(rx);
			*st = RX_BOL;
		} else
			*st = RX_BAD;
		return true;
	default:
		log_panic("smtp_data: step in state %d", (int)*st);
	}
}

/*
 * text_run - take text from p[i] up to the next CR or LF.  A CRLF in the
 * input is taken with the line, in one append (the common case).  A CR at
 * the end of the input moves to RX_CR, not yet output; an LF before any
 * CR is bare and gives RX_BAD.  Returns the index after the bytes taken.
 */
static size_t
text_run(struct data_rx *rx, const char *p, size_t i, size_t len,
    enum rx_state *st)
{
	const char	*s = p + i, *cr, *lf;
	size_t		 run;

	cr = memchr(s, '\r', len - i);
	run = cr != NULL ? (size_t)(cr - s) : len - i;
	if ((lf = memchr(s, '\n', run)) != NULL) {
		put(rx, s, (size_t)(lf - s));
		*st = RX_BAD;
		return i + (size_t)(lf - s) + 1;
	}
	if (cr == NULL) {
		put(rx, s, run);
		return len;
	}
	if (i + run + 1 < len && cr[1] == '\n') {
		note(rx, s, run);
		note_eol(rx);
		store(rx, s, run + 2);
		*st = RX_BOL;
		return i + run + 2;
	}
	put(rx, s, run);
	*st = RX_CR;
	return i + run + 1;
}

/* put - line content (no CR, no LF). */
static void
put(struct data_rx *rx, const char *s, size_t n)
{
	if (n == 0)
		return;
	note(rx, s, n);
	store(rx, s, n);
}

/* put_eol - a CRLF whose CR came in an earlier feed. */
static void
put_eol(struct data_rx *rx)
{
	note_eol(rx);
	store(rx, "\r\n", 2);
}

/* note - the flags and header tracking for line content. */
static void
note(struct data_rx *rx, const char *s, size_t n)
{
	if (!rx->eightbit && has_eightbit(s, n))
		rx->eightbit = true;
	if (rx->in_header && n > 0 && hdr_get(rx) != HDR_NO)
		header_match(rx, s, n);
}

/* note_eol - an empty line ends the header section (RFC 5322 2.1). */
static void
note_eol(struct data_rx *rx)
{
	if (rx->in_header && hdr_get(rx) == HDR_LINE_START)
		rx->in_header = false;
	hdr_set(rx, HDR_LINE_START);
}

/*
 * store - count n bytes and append what fits under rx->max.  A failed
 * append (the caller's buf has a lower ceiling) also sets overflow, so the
 * message is refused rather than stored short.  With rx->out NULL bytes
 * are only counted (reading a refused message to its end).
 */
static void
store(struct data_rx *rx, const char *s, size_t n)
{
	uint64_t	 room, take;

	room = rx->size < rx->max ? rx->max - rx->size : 0;
	take = n < room ? n : room;
	if (take < n)
		rx->overflow = true;
	if (take > 0 && rx->out != NULL &&
	    buf_append(rx->out, s, (size_t)take) == -1)
		rx->overflow = true;
	if (ckd_add(&rx->size, rx->size, (uint64_t)n))
		rx->size = UINT64_MAX;
}

/* header_match - continue matching "Received:" at the start of the line. */
static void
header_match(struct data_rx *rx, const char *s, size_t n)
{
	unsigned	 h = hdr_get(rx);

	for (size_t j = 0; j < n && h < RECEIVED_LEN; j++, h++) {
		char	 c = s[j];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != received[h]) {
			hdr_set(rx, HDR_NO);
			return;
		}
	}
	if (h == RECEIVED_LEN) {
		rx->hdr_received++;
		h = HDR_NO;
	}
	hdr_set(rx, h);
}

/* has_eightbit - any byte >= 0x80; no early exit, so it vectorizes. */
static bool
has_eightbit(const char *s, size_t n)
{
	unsigned char	 acc = 0;

	for (size_t j = 0; j < n; j++)
		acc |= (unsigned char)s[j];
	return (acc & 0x80) != 0;
}
