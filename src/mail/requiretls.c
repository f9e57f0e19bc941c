/*
 * requiretls.c - recognizes RFC 8689's "TLS-Required: No" header field in
 * a message.  Runs in smtpd at end of data (and in queue for local
 * submissions); the caller records the result in the envelope.
 * Trust: none; the message is peer text.  Every read is bounded by len
 * and REQUIRETLS_HEADER_MAX, nothing is copied, and a header that is not
 * well-formed is simply not the option.
 */
#include <string.h>

#include "mail/requiretls.h"
#include "lib/util.h"

static const char	 field[] = "TLS-Required";

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* lower - ASCII only: header names and this value are ASCII. */
static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* line_end - the offset of the LF ending the line at off, or len. */
static size_t
line_end(const char *p, size_t off, size_t len)
{
	const char	*lf = memchr(p + off, '\n', len - off);

	return lf != NULL ? (size_t)(lf - p) : len;
}

/*
 * value_is_no - the field's value p[off..end) with its continuation
 * lines, unfolded: white space (SP, HTAB, CR, LF) then "No" then white
 * space only.
 */
static bool
value_is_no(const char *p, size_t off, size_t end)
{
	size_t	 i = off;

	while (i < end && (is_wsp(p[i]) || p[i] == '\r' || p[i] == '\n'))
		i++;
	if (end - i < 2 || lower(p[i]) != 'n' || lower(p[i + 1]) != 'o')
		return false;
	for (i += 2; i < end; i++)
		if (!is_wsp(p[i]) && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

/* requiretls_header_no - see requiretls.h. */
bool
requiretls_header_no(const char *p, size_t len)
{
	size_t	 off = 0, eol, end, n = sizeof(field) - 1;

	len = MIN(len, (size_t)REQUIRETLS_HEADER_MAX);
	while (off < len) {
		eol = line_end(p, off, len);
		/* the empty line ends the header block */
		if (eol == off || (eol == off + 1 && p[off] == '\r'))
			return false;
		/* the field runs on over its continuation lines */
		end = eol;
		while (end < len && end + 1 < len && is_wsp(p[end + 1]))
			end = line_end(p, end + 1, len);
		if (end - off > n && !is_wsp(p[off])) {
			size_t	 i;

			for (i = 0; i < n && lower(p[off + i]) ==
			    lower(field[i]); i++)
				;
			if (i == n) {
				for (i = off + n; i < end && is_wsp(p[i]); i++)
					;
				if (i < end && p[i] == ':' &&
				    value_is_no(p, i + 1, end))
					return true;
			}
		}
		off = end < len ? end + 1 : len;
	}
	return false;
}
