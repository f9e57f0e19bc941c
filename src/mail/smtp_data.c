/*
 * smtp_data.c - the end-of-data recognizer (DATA) and the line-end checker
 * (BDAT).  Runs in smtpd on every message byte a client sends.
 *
 * Trust: none.  The input is raw peer bytes.  A dot line ends the data
 * only when it and the line before it end in CRLF (RFC 5321 4.1.1.4), so
 * no variant of "<LF>.<LF>", "<CR>.<CR>" or "<LF>.<CR><LF>" can end a
 * message here (SMTP smuggling, CVE-2023-51764).  A bare LF ends a line
 * and is output as CRLF, a bare CR is dropped; both, and NUL, are flags
 * for the caller's verdict once the whole message has been read as one.
 * The output never holds a lone CR or LF; it is capped at rx->max bytes.
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
	RX_BOL_LF,		/* after a bare LF: a dot here never ends */
	RX_TEXT,		/* inside a line */
	RX_CR,			/* CR seen inside a line; LF must follow */
	RX_LF_CR,		/* CR opening a line after a bare LF (DATA) */
	RX_DOT,			/* "." at RX_BOL (DATA only) */
	RX_DOT_CR,		/* ".<CR>" at RX_BOL; LF ends the data */
	RX_END,			/* ended: nothing more is taken */
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
static bool	 step_dot(struct data_rx *, char, enum rx_state *);
static size_t	 text_run(struct data_rx *, const char *, size_t, size_t,
	    enum rx_state *);
static void	 put(struct data_rx *, const char *, size_t);
static void	 put_eol(struct data_rx *);
static void	 unhold(struct data_rx *);
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
 * smtp_data_bdat_feed - one BDAT chunk (RFC 3030): no dot-stuffing, the
 * same line-end rules; a CR ending this chunk may be completed by the next.
 */
void
smtp_data_bdat_feed(struct data_rx *rx, const char *p, size_t len)
{
	size_t	 used;

	(void)feed(rx, p, len, &used, false);
}

/* smtp_data_bdat_last - end of the last chunk: a CR still waiting is bare. */
void
smtp_data_bdat_last(struct data_rx *rx)
{
	if ((rx->state & RX_STATE_MASK) == RX_CR)
		rx->bare_cr = true;
	rx->state = (rx->state & ~RX_STATE_MASK) | RX_END;
}

/*
 * smtp_data_fault - the first reason the message cannot be taken.  A bare
 * CR always is one: no client sends it by mistake, and receivers that take
 * it as a line end are what a smuggler aims at.  NUL is one because
 * receivers that strip it turn "<CR><LF><NUL>.<CR><LF>" into an end of
 * data further on (mail must not leave here with it).
 */
enum data_fault
smtp_data_fault(const struct data_rx *rx, bool bare_lf_ok)
{
	if (rx->bare_cr)
		return DATA_FAULT_BARE_CR;
	if (rx->bare_lf && !bare_lf_ok)
		return DATA_FAULT_BARE_LF;
	if (rx->nul)
		return DATA_FAULT_NUL;
	return DATA_FAULT_NONE;
}

/*
 * feed - the state machine.  Line starts and line ends go byte by byte
 * through step(); text between them goes by runs through text_run().
 * Once ended the state is sticky and further input is not consumed.
 */
static enum data_result
feed(struct data_rx *rx, const char *p, size_t len, size_t *used, bool dots)
{
	enum rx_state	 st = rx->state & RX_STATE_MASK;
	size_t		 i = 0;

	while (i < len && st != RX_END) {
		if (st == RX_TEXT)
			i = text_run(rx, p, i, len, &st);
		else if (step(rx, p[i], &st, dots))
			i++;
	}
	rx->state = (rx->state & ~RX_STATE_MASK) | (int)st;
	*used = i;
	return st == RX_END ? DATA_END : DATA_MORE;
}

/*
 * step - one byte at a line start or after a CR.  Returns true if it was
 * consumed; false leaves it to text_run() as the first byte of text.  A
 * bare CR is dropped; the byte after it is text, never a line start.
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
		break;
	case RX_BOL_LF:
		if (dots && c == '.') {
			*st = RX_TEXT;	/* stuffed dot dropped; no end here */
			return true;
		}
		if (dots && c == '\r') {
			*st = RX_LF_CR;
			return true;
		}
		break;
	case RX_LF_CR:
		if (c == '\n') {
			/* An empty line after a bare LF: held back, since if
			 * ".CRLF" follows it is the end marker's CRLF. */
			rx->held = true;
			*st = RX_BOL;
			return true;
		}
		rx->bare_cr = true;
		break;
	case RX_CR:
		if (c == '\n') {
			put_eol(rx);
			*st = RX_BOL;
			return true;
		}
		rx->bare_cr = true;
		break;
	case RX_DOT:
	case RX_DOT_CR:
		return step_dot(rx, c, st);
	default:
		log_panic("smtp_data: step in state %d", (int)*st);
	}
	*st = RX_TEXT;
	return false;
}

/* step_dot - after "." or ".<CR>" at a line start that follows CRLF. */
static bool
step_dot(struct data_rx *rx, char c, enum rx_state *st)
{
	if (*st == RX_DOT && c == '\r') {
		*st = RX_DOT_CR;
		return true;
	}
	if (*st == RX_DOT_CR) {
		if (c == '\n') {		/* CRLF.CRLF */
			rx->held = false;	/* it was the marker's */
			*st = RX_END;
			return true;
		}
		rx->bare_cr = true;
	}
	*st = RX_TEXT;		/* the stuffed dot is dropped (4.5.2) */
	return false;
}

/*
 * text_run - take text from p[i] up to the next CR or LF.  A CRLF in the
 * input is taken with the line, in one append (the common case).  A CR at
 * the end of the input moves to RX_CR, not yet output; an LF before any
 * CR is bare: it ends the line as a CRLF would, but leads to RX_BOL_LF.
 * Returns the index after the bytes taken.
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
		put_eol(rx);
		rx->bare_lf = true;
		*st = RX_BOL_LF;
		return i + (size_t)(lf - s) + 1;
	}
	if (cr == NULL) {
		put(rx, s, run);
		return len;
	}
	if (i + run + 1 < len && cr[1] == '\n') {
		unhold(rx);
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
	unhold(rx);
	note(rx, s, n);
	store(rx, s, n);
}

/* put_eol - a line end whose bytes came apart from its line. */
static void
put_eol(struct data_rx *rx)
{
	unhold(rx);
	note_eol(rx);
	store(rx, "\r\n", 2);
}

/* unhold - the held empty line was content after all: output it first. */
static void
unhold(struct data_rx *rx)
{
	if (!rx->held)
		return;
	rx->held = false;
	note_eol(rx);
	store(rx, "\r\n", 2);
}

/* note - the flags and header tracking for line content. */
static void
note(struct data_rx *rx, const char *s, size_t n)
{
	if (!rx->eightbit && has_eightbit(s, n))
		rx->eightbit = true;
	if (!rx->nul && memchr(s, '\0', n) != NULL)
		rx->nul = true;
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
