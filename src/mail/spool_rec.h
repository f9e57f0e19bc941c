/*
 * spool_rec.h - length-framed spool records, of which the envelope
 * (envelope.h) and the journal are made.  Pure: encode into a struct buf,
 * decode from memory; no I/O.
 *
 * A record is: one type byte, the value length in decimal ASCII (no sign,
 * no leading zeros except "0", at most 10 digits), ':', the value bytes,
 * '\n'.  The length, not a delimiter, frames the value, so CR, LF or NUL
 * inside a value can never start a record (the CVE-2020-8794 class).
 * docs/queue-format.md describes the files built from these records.
 */
#ifndef POSTBOTE_SPOOL_REC_H
#define POSTBOTE_SPOOL_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define SPOOL_REC_MAX	(1024 * 1024)	/* largest value the reader takes */

enum spool_rec_result {
	REC_OK = 0,
	REC_EOF,		/* *off == len: no more records */
	REC_TRUNCATED,		/* a record starts but is cut short */
	REC_BAD,		/* not a record: bad type, length or framing */
};

/*
 * spool_rec_put - append one record of the given type (a letter or '.'; a
 * bad type is a bug).  Returns 0, or -1 with errno EMSGSIZE if vlen is
 * over SPOOL_REC_MAX or ENOBUFS if b is full; b is unchanged on failure.
 * spool_rec_put_parts writes a then c as one value; spool_rec_puts a C
 * string; spool_rec_putu64 a number in decimal.
 */
int	 spool_rec_put(struct buf *, char type, const void *, size_t);
int	 spool_rec_put_parts(struct buf *, char type, const void *a,
	    size_t alen, const void *c, size_t clen);
int	 spool_rec_puts(struct buf *, char type, const char *);
int	 spool_rec_putu64(struct buf *, char type, uint64_t);

/*
 * spool_rec_get - read the record at data[*off]; on REC_OK set *type, *val
 * (pointing into data), *vlen, and advance *off past it.  Types are
 * printable ASCII letters and '.'; anything else is REC_BAD.  A value longer
 * than SPOOL_REC_MAX is REC_BAD.
 */
enum spool_rec_result spool_rec_get(const char *data, size_t len,
	    size_t *off, char *type, const char **val, size_t *vlen);

#endif
