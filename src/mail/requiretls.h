/*
 * requiretls.h - the "TLS-Required:" header field of RFC 8689 5: a
 * sender's request that recipient domains' TLS policies (DANE, MTA-STS)
 * be ignored for this message.  Pure: no I/O, no allocation.
 */
#ifndef POSTBOTE_REQUIRETLS_H
#define POSTBOTE_REQUIRETLS_H

#include <stdbool.h>
#include <stddef.h>

/* How far into a message requiretls_header_no looks for the header. */
#define REQUIRETLS_HEADER_MAX	(256 * 1024)

/*
 * requiretls_header_no - the header block of the message msg[0..len)
 * (CRLF or LF lines; it ends at the first empty line, at the end of the
 * data or after REQUIRETLS_HEADER_MAX bytes) holds a field
 * "TLS-Required: No" (RFC 8689 5: tls-required = "TLS-Required:" [FWS]
 * "No" CRLF; names and the value are case-insensitive, folding and
 * surrounding white space are allowed).  A field with any other value is
 * not the option and is ignored.
 */
bool	 requiretls_header_no(const char *msg, size_t len);

#endif
