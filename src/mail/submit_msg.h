/*
 * submit_msg.h - the message text of a local submission (cmd_send.c):
 * line ends to CRLF, the sendmail end-of-input rule, the header block,
 * To/Cc/Bcc address lists and Bcc removal.  Pure: no I/O.
 */
#ifndef POSTBOTE_SUBMIT_MSG_H
#define POSTBOTE_SUBMIT_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"

enum submit_msg_result {
	SUBMIT_MSG_OK = 0,
	SUBMIT_MSG_BARE_CR,	/* a CR not followed by LF */
	SUBMIT_MSG_NUL,		/* a NUL byte */
};

/*
 * submit_msg_crlf - append in[0..len) to out with every line ending in
 * CRLF (LF becomes CRLF; a last line without an end gets one).  Unless
 * ignore_dots, a line holding only "." ends the text there (sendmail -i).
 * A bare CR or a NUL is refused (out then holds a prefix).
 */
enum submit_msg_result submit_msg_crlf(const char *in, size_t len,
	    bool ignore_dots, struct buf *out);

/*
 * submit_msg_header_end - the length of the header block of CRLF text:
 * up to the empty line (*blank set) or to the first line that is not a
 * header field or its continuation.
 */
size_t	 submit_msg_header_end(const char *p, size_t len, bool *blank);

/* submit_msg_has_field - the header block p[0..len) has field name
 * (case-insensitive). */
bool	 submit_msg_has_field(const char *p, size_t len, const char *name);

typedef void (*submit_msg_addr_cb)(const char *addr, void *arg);

/*
 * submit_msg_addrs - each address of an RFC 5322 address-list value:
 * "a@b", "Name <a@b>", "a@b (comment)", "group: a@b, c@d;".  Display
 * names, comments and group names are dropped; quoted local parts and
 * addresses without a domain are passed on as written.
 */
void	 submit_msg_addrs(const char *v, size_t len, submit_msg_addr_cb,
	    void *arg);

/*
 * submit_msg_headers - in the CRLF text msg: when collect, cb for every
 * address of the To, Cc and Bcc fields (unfolded); and every Bcc field
 * (with its continuation lines) is removed.
 */
void	 submit_msg_headers(struct buf *msg, bool collect, submit_msg_addr_cb,
	    void *arg);

#endif
