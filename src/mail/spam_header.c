/*
 * spam_header.c - find a filter's spam verdict in a header block
 * (spam_header.h).  Runs in deliver, on its worker thread, over the first
 * SPAM_HEADER_SCAN bytes of a queued message.  Trust: the message is the
 * sender's, so nothing is assumed: no NUL termination, any bytes, any
 * line ends; the scan never reads past len.  Pure.
 */
#include <string.h>
#include <strings.h>

#include "mail/spam_header.h"

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* field_match - the line [p, end) is "name: value..." as wanted. */
static bool
field_match(const char *p, const char *end, const char *name,
    const char *value)
{
	size_t	 nl = strlen(name), vl = strlen(value), wl;
	const char *w;

	if ((size_t)(end - p) < nl + 1 || strncasecmp(p, name, nl) != 0)
		return false;
	p += nl;
	while (p < end && is_wsp(*p))	/* RFC 5322 4.5.3: obs-optional */
		p++;
	if (p >= end || *p != ':')
		return false;
	p++;
	while (p < end && is_wsp(*p))
		p++;
	for (w = p; p < end && !is_wsp(*p) && *p != ';' && *p != ',' &&
	    *p != '\r'; p++)
		;
	wl = (size_t)(p - w);
	return wl == vl && vl > 0 && strncasecmp(w, value, vl) == 0;
}

bool
spam_header_match(const char *msg, size_t len, const char *name,
    const char *value)
{
	const char	*p = msg, *end = msg + len;

	if (name == NULL || value == NULL || name[0] == '\0')
		return false;
	while (p < end) {
		const char	*nl = memchr(p, '\n', (size_t)(end - p));
		const char	*le = nl != NULL ? nl : end;

		if (le == p || (le == p + 1 && *p == '\r'))
			return false;		/* the empty line: the body */
		if (!is_wsp(*p) && field_match(p, le, name, value))
			return true;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return false;
}
