/*
 * smtp_data.h - the end-of-data recognizer for DATA and the line checker
 * for BDAT chunks.  Pure: bytes in, unstuffed bytes out into a struct buf
 * the caller drains; no I/O.
 *
 * Only CRLF ends a line (RFC 5321 2.3.8).  A lone CR or LF anywhere is an
 * error and the message is not stored, so "<LF>.<LF>" and kin can never end
 * a message here (SMTP smuggling, CVE-2023-51764).  Output keeps CRLF line
 * ends.  Bytes past the size limit are counted but not stored.
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
	DATA_BAD_EOL,		/* a bare CR or LF; *used bytes consumed */
};

struct data_rx {
	int		 state;		/* private */
	uint64_t	 size;		/* message bytes after unstuffing */
	uint64_t	 max;		/* store at most this many bytes */
	bool		 overflow;	/* size went past max: nothing more stored */
	bool		 eightbit;	/* a byte >= 0x80 was seen */
	unsigned	 hdr_received;	/* "Received:" header fields seen */
	bool		 in_header;	/* still in the header section */
	struct buf	*out;		/* unstuffed output, appended to */
};

/* smtp_data_init - start a message; the initial state is "after CRLF". */
void	 smtp_data_init(struct data_rx *, uint64_t max, struct buf *out);

/*
 * smtp_data_feed - run DATA bytes through the recognizer.  Stuffed dots
 * are removed (RFC 5321 4.5.2).  The terminating ".CRLF" is not output;
 * the CRLF before it is (it ends the last line).  On DATA_END and
 * DATA_BAD_EOL, *used is the number of bytes consumed (the rest belongs to
 * the next command, or is to be discarded).  On DATA_MORE, *used == len.
 * Header tracking: while in_header, lines that start with "Received:"
 * (case-insensitive) increment hdr_received; an empty line ends the
 * header section.
 */
enum data_result smtp_data_feed(struct data_rx *, const char *p, size_t len,
	    size_t *used);

/*
 * smtp_data_bdat_feed - run one BDAT chunk's bytes (no dot-stuffing, RFC 3030)
 * through the same CRLF rule; the state carries across chunks, so a CR at
 * the end of one chunk may be followed by LF at the start of the next.
 * Returns DATA_MORE or DATA_BAD_EOL.  smtp_data_bdat_last - at "BDAT n LAST":
 * DATA_END, or DATA_BAD_EOL if the message ends in a lone CR.
 */
enum data_result smtp_data_bdat_feed(struct data_rx *, const char *p,
	    size_t len);
enum data_result smtp_data_bdat_last(struct data_rx *);

#endif
