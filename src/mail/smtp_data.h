/*
 * smtp_data.h - the end-of-data recognizer for DATA and the line-end
 * checker for BDAT chunks.  Pure: bytes in, unstuffed bytes out into a
 * struct buf the caller drains; no I/O.
 *
 * Only <CR><LF>.<CR><LF> ends the data (RFC 5321 4.1.1.4), so "<LF>.<LF>"
 * and kin never end a message here (SMTP smuggling, CVE-2023-51764).  A
 * bare LF ends a line and is stored as CRLF (what Postfix 3.9 calls
 * "normalize"); a bare CR is dropped.  Both, and NUL bytes, are only
 * noted: whether the message is taken is the caller's policy, asked once
 * the data has ended (smtp_data_fault).  Output has CRLF line ends only.
 * Bytes past the size limit are counted but not stored.
 */
#ifndef POSTBOTE_SMTP_DATA_H
#define POSTBOTE_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum data_result {
	DATA_MORE = 0,		/* all input used, message not ended yet */
	DATA_END,		/* CRLF.CRLF seen; *used bytes consumed */
};

/* What makes a message unfit to be taken, in the order they are told. */
enum data_fault {
	DATA_FAULT_NONE = 0,
	DATA_FAULT_BARE_CR,	/* a CR not followed by LF */
	DATA_FAULT_BARE_LF,	/* an LF not after CR, when those are refused */
	DATA_FAULT_NUL,		/* a NUL byte */
};

struct data_rx {
	int		 state;		/* private */
	bool		 held;		/* private: a CRLF not output yet */
	uint64_t	 size;		/* message bytes after unstuffing */
	uint64_t	 max;		/* store at most this many bytes */
	bool		 overflow;	/* size went past max: nothing more stored */
	bool		 eightbit;	/* a byte >= 0x80 was seen */
	bool		 nul;		/* a NUL byte was seen */
	bool		 bare_cr;	/* a CR not before LF (not stored) */
	bool		 bare_lf;	/* an LF not after CR (stored CRLF) */
	unsigned	 hdr_received;	/* "Received:" header fields seen */
	bool		 in_header;	/* still in the header section */
	struct buf	*out;		/* unstuffed output, appended to */
};

/* smtp_data_init - start a message; the initial state is "after CRLF". */
void	 smtp_data_init(struct data_rx *, uint64_t max, struct buf *out);

/*
 * smtp_data_feed - run DATA bytes through the recognizer.  Returns
 * DATA_END once "<CR><LF>.<CR><LF>" (or ".<CR><LF>" as the very first
 * line) has been read, *used being the bytes consumed (the rest belongs
 * to the next command); else DATA_MORE, with *used == len.
 * - A line starting with "." has the dot removed (RFC 5321 4.5.2),
 *   however the line before it ended.  A lone "." line that cannot end
 *   the data (after or before a bare LF) is thus stored as an empty line.
 * - A bare LF ends a line and is stored as CRLF (rx->bare_lf).  An empty
 *   CRLF line right after it, followed by the end, is the CRLF of the end
 *   marker that clients sending LF-only text add (curl, smtplib): not
 *   stored, so "a<LF><CR><LF>.<CR><LF>" stores "a<CR><LF>".
 * - A bare CR is not stored and sets rx->bare_cr; a NUL sets rx->nul.
 * - Header tracking: while in_header, lines that start with "Received:"
 *   (case-insensitive) increment hdr_received; an empty line ends the
 *   header section.
 * Once ended, further input is not consumed.
 */
enum data_result smtp_data_feed(struct data_rx *, const char *p, size_t len,
	    size_t *used);

/*
 * smtp_data_bdat_feed - run one BDAT chunk's bytes (no dot-stuffing, RFC
 * 3030) through the same line-end rules; the state carries across chunks,
 * so a CR at the end of one chunk may be followed by LF at the start of
 * the next.  smtp_data_bdat_last - at the end of "BDAT n LAST": a CR still
 * waiting for its LF is a bare CR; nothing more is taken after it.
 */
void	 smtp_data_bdat_feed(struct data_rx *, const char *p, size_t len);
void	 smtp_data_bdat_last(struct data_rx *);

/*
 * smtp_data_fault - what keeps the message read so far from being taken:
 * a bare CR, a bare LF unless bare_lf_ok, a NUL; DATA_FAULT_NONE if none.
 * Asked at the end of the data, or after any chunk to stop early.
 */
enum data_fault smtp_data_fault(const struct data_rx *, bool bare_lf_ok);

#endif
