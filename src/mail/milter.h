/*
 * milter.h - the Sendmail milter protocol, version 6 (as Postfix's milter8
 * speaks it): the packets the MTA sends, the framing and the strict parser
 * of what a milter answers, and the message editor that applies a
 * milter's header and body changes to a message in memory.  Pure: no
 * I/O, so the fuzzer and the unit tests call it directly.
 *
 * Trust: none.  A milter is a peer: every packet is bounded, every
 * string must be NUL-terminated inside its packet, header names and
 * values and reply texts are checked before they can reach a message,
 * a log line or an SMTP reply.
 */
#ifndef POSTBOTE_MILTER_H
#define POSTBOTE_MILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define MILTER_VERSION		6
#define MILTER_PACKET_MAX	(1024 * 1024)	/* a reply packet's data */
#define MILTER_CHUNK		65535		/* body bytes per SMFIC_BODY */
#define MILTER_HDR_NAME_MAX	256
#define MILTER_HDR_VALUE_MAX	(64 * 1024)
#define MILTER_REPLY_MAX	2048		/* a custom SMTP reply */

/* Commands, MTA to milter (SMFIC_*). */
#define SMFIC_ABORT	'A'
#define SMFIC_BODY	'B'
#define SMFIC_CONNECT	'C'
#define SMFIC_MACRO	'D'
#define SMFIC_BODYEOB	'E'
#define SMFIC_HELO	'H'
#define SMFIC_HEADER	'L'
#define SMFIC_MAIL	'M'
#define SMFIC_EOH	'N'
#define SMFIC_OPTNEG	'O'
#define SMFIC_QUIT	'Q'
#define SMFIC_RCPT	'R'
#define SMFIC_DATA	'T'

/* Replies and modifications, milter to MTA (SMFIR_*). */
#define SMFIR_ADDRCPT		'+'
#define SMFIR_DELRCPT		'-'
#define SMFIR_ADDRCPT_PAR	'2'
#define SMFIR_ACCEPT		'a'
#define SMFIR_REPLBODY		'b'
#define SMFIR_CONTINUE		'c'
#define SMFIR_DISCARD		'd'
#define SMFIR_CHGFROM		'e'
#define SMFIR_ADDHEADER		'h'
#define SMFIR_INSHEADER		'i'
#define SMFIR_CHGHEADER		'm'
#define SMFIR_PROGRESS		'p'
#define SMFIR_QUARANTINE	'q'
#define SMFIR_REJECT		'r'
#define SMFIR_SKIP		's'
#define SMFIR_TEMPFAIL		't'
#define SMFIR_REPLYCODE		'y'

/* Actions a milter may take (SMFIF_*). */
#define SMFIF_ADDHDRS		0x01
#define SMFIF_CHGBODY		0x02
#define SMFIF_ADDRCPT		0x04
#define SMFIF_DELRCPT		0x08
#define SMFIF_CHGHDRS		0x10
#define SMFIF_QUARANTINE	0x20
#define SMFIF_CHGFROM		0x40
#define SMFIF_ADDRCPT_PAR	0x80
#define MILTER_ACTIONS		0xff	/* all of the above: what we offer */

/* Protocol steps a milter can do without, or answer no reply to. */
#define SMFIP_NOCONNECT		0x01
#define SMFIP_NOHELO		0x02
#define SMFIP_NOMAIL		0x04
#define SMFIP_NORCPT		0x08
#define SMFIP_NOBODY		0x10
#define SMFIP_NOHDRS		0x20
#define SMFIP_NOEOH		0x40
#define SMFIP_NR_HDR		0x80
#define SMFIP_NOUNKNOWN		0x100
#define SMFIP_NODATA		0x200
#define SMFIP_SKIP		0x400
#define SMFIP_NR_CONN		0x1000
#define SMFIP_NR_HELO		0x2000
#define SMFIP_NR_MAIL		0x4000
#define SMFIP_NR_RCPT		0x8000
#define SMFIP_NR_DATA		0x10000
#define SMFIP_NR_UNKN		0x20000
#define SMFIP_NR_EOH		0x40000
#define SMFIP_NR_BODY		0x80000
#define MILTER_PROTOCOL		0xff7ff	/* what we offer */

/* milter_put - one packet: 32-bit length, command, data. */
void	 milter_put(struct buf *, char cmd, const void *data, size_t len);
/* milter_put_optneg - SMFIC_OPTNEG: version, actions, protocol steps. */
void	 milter_put_optneg(struct buf *, uint32_t version, uint32_t actions,
	    uint32_t protocol);
/* milter_put_macros - SMFIC_MACRO for command cmd: name, value pairs;
 * a NULL value leaves its name out. */
void	 milter_put_macros(struct buf *, char cmd, const char *const *names,
	    const char *const *values, size_t n);
/* milter_put_connect - SMFIC_CONNECT: host name, then the address
 * ("127.0.0.1", "::1") and port; NULL addr sends family 'U'. */
void	 milter_put_connect(struct buf *, const char *name, const char *addr,
	    uint16_t port);
/* milter_put_strings - a command whose data is NUL-terminated strings
 * (HELO: the name; MAIL, RCPT: the address, then ESMTP args). */
void	 milter_put_strings(struct buf *, char cmd, const char *const *v,
	    size_t n);
/* milter_put_header - SMFIC_HEADER: name and value. */
void	 milter_put_header(struct buf *, const char *name, const char *value);

/* One framed packet, data pointing into the input. */
struct milter_pkt {
	char		 cmd;
	const char	*data;
	size_t		 len;
};

/*
 * milter_frame - the first packet of in[0..len): its size in bytes when
 * whole, 0 when more is needed, -1 when its length is 0 or its data
 * longer than max.
 */
long	 milter_frame(const void *in, size_t len, size_t max,
	    struct milter_pkt *);

/* milter_optneg - the milter's SMFIC_OPTNEG answer: 0, or -1 when it is
 * short, its version below 2, or it asks for what we did not offer. */
int	 milter_optneg(const struct milter_pkt *, uint32_t *version,
	    uint32_t *actions, uint32_t *protocol);

/* A reply or modification, its strings pointing into the packet. */
struct milter_reply {
	char		 cmd;		/* SMFIR_* */
	uint32_t	 index;		/* INSHEADER, CHGHEADER */
	const char	*name;		/* header name */
	const char	*value;		/* header value; CHGHEADER "" deletes */
	const char	*addr;		/* CHGFROM, ADDRCPT(_PAR), DELRCPT */
	const char	*args;		/* ESMTP args, or NULL */
	const char	*text;		/* REPLYCODE: SMTP reply lines joined
					 * by CRLF; QUARANTINE: the reason */
	const void	*body;		/* REPLBODY chunk */
	size_t		 bodylen;
};

/*
 * milter_reply_parse - one packet into r.  0, or -1 with why set when the
 * command is unknown or its data malformed: a header name that is not
 * printable ASCII without ':', a value with a NUL, a bare CR, or a line
 * break not followed by white space, a custom reply that is not 4xx/5xx
 * lines with the same code.
 */
int	 milter_reply_parse(const struct milter_pkt *, struct milter_reply *r,
	    const char **why);

/* A message as the editor sees it: header fields, then the body. */
struct milter_hdr {
	char		*name;
	char		*value;		/* after the colon, raw (leading space
					 * and CRLF folds kept), no final CRLF */
};

struct milter_msg {
	struct milter_hdr *h;
	size_t		 nh;
	bool		 sep;		/* a blank line ends the header */
	struct buf	 body;		/* CRLF lines */
};

/* milter_msg_parse - split a CRLF message into fields and body. */
void	 milter_msg_parse(struct milter_msg *, const char *data, size_t len);
/* milter_msg_build - the message again; unedited, the same bytes. */
void	 milter_msg_build(const struct milter_msg *, struct buf *out);
void	 milter_msg_free(struct milter_msg *);
/* milter_hdr_value - a field's value as a milter gets it: leading white
 * space removed, CRLF folds as LF.  Allocated. */
char	*milter_hdr_value(const char *raw);
/* Edits, with a value as a milter sends it (a space is put before it,
 * LF becomes CRLF).  insert: at index (0 = top); change: the index'th
 * (from 1) field of that name, deleted when value is "", added when
 * there is no such field. */
void	 milter_msg_add(struct milter_msg *, const char *name,
	    const char *value);
void	 milter_msg_insert(struct milter_msg *, uint32_t index,
	    const char *name, const char *value);
void	 milter_msg_change(struct milter_msg *, uint32_t index,
	    const char *name, const char *value);

#endif
