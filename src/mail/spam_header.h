/*
 * spam_header.h - the verdict a filter wrote into a message's header
 * ("X-Spam: Yes", as rspamd's milter adds it, or the field and value
 * junk_header names): deliver puts such a message into the Junk folder.
 * Pure: the unit tests and the fuzzer call it directly.
 */
#ifndef POSTBOTE_SPAM_HEADER_H
#define POSTBOTE_SPAM_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#define SPAM_HEADER_SCAN	(64 * 1024)	/* header bytes looked at */

/*
 * spam_header_match - does the header block at the start of msg[0..len)
 * (it ends at the first empty line, CRLF or LF) hold a field called name
 * (any case) whose value's first word (up to white space, ';' or ',') is
 * value (any case)?  Folded lines are continuations, never fields.
 */
bool	 spam_header_match(const char *msg, size_t len, const char *name,
	    const char *value);

#endif
