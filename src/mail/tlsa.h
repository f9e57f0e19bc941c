/*
 * tlsa.h - DNS TLSA records (RFC 6698) for SMTP (RFC 7672): the records
 * of a name read from a whole DNS answer message, which of them an SMTP
 * client may use, and their presentation form.  Pure: no I/O and no
 * crypto, so the fuzzer and the unit tests call it directly; matching a
 * certificate is OpenSSL's (deliver/dane.c).
 */
#ifndef POSTBOTE_TLSA_H
#define POSTBOTE_TLSA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLSA_RR_TYPE	52	/* RFC 6698 7.1 */
#define TLSA_MAX	32	/* records kept per name; more are counted */
#define TLSA_NAME_MAX	253

/* RFC 6698 2.1.1, RFC 7218 mnemonics */
enum tlsa_usage {
	TLSA_PKIX_TA = 0, TLSA_PKIX_EE = 1, TLSA_DANE_TA = 2, TLSA_DANE_EE = 3
};
enum tlsa_selector { TLSA_SEL_CERT = 0, TLSA_SEL_SPKI = 1 };
enum tlsa_mtype { TLSA_MT_FULL = 0, TLSA_MT_SHA256 = 1, TLSA_MT_SHA512 = 2 };

struct tlsa_rec {
	/* 0-255; 256 when the RDATA is too short to hold them */
	unsigned	 usage, selector, mtype;
	const unsigned char *data;	/* association data, in the message */
	size_t		 len;
};

enum tlsa_rc {
	TLSA_OK = 0,		/* *n records (maybe 0) of the name */
	TLSA_BAD,		/* not a well-formed answer to that question */
};

/*
 * tlsa_answer_parse - the TLSA records of qname (a host name without the
 * root dot, "_25._tcp.mx.example.com") in the DNS message msg[0..len).
 * The question must be qname/TLSA/IN; answers count when their owner is
 * qname or the end of the CNAME chain that starts there (at most 8
 * links).  Up to max records go into out[] (their data points into msg);
 * *total counts all of them.  Any structural fault (a count, a length or
 * a compression pointer that leads outside the message or backwards into
 * a loop) is TLSA_BAD, and nothing in out[] is then to be used.
 */
enum tlsa_rc tlsa_answer_parse(const unsigned char *msg, size_t len,
	    const char *qname, struct tlsa_rec *out, size_t max, size_t *n,
	    size_t *total);

/*
 * tlsa_rec_usable - may an SMTP client authenticate with r?  Only
 * DANE-TA(2) and DANE-EE(3) (RFC 7672 3.1.3: PKIX-TA(0) and PKIX-EE(1)
 * are unusable for SMTP), selector Cert(0) or SPKI(1), matching type
 * Full(0) with some data, SHA2-256(1) with 32 bytes or SHA2-512(2) with
 * 64 bytes (RFC 6698 2.1.2-2.1.4; a wrong length cannot match anything).
 */
bool	 tlsa_rec_usable(const struct tlsa_rec *r);

/*
 * tlsa_rec_str - "3 1 1 1f2e..." into out (size bytes, NUL-terminated):
 * the presentation form of RFC 6698 2.2, the data in lower-case hex,
 * cut with "..." when it does not fit.  Returns out.
 */
char	*tlsa_rec_str(const struct tlsa_rec *r, char *out, size_t size);

/* tlsa_usage_str - "DANE-EE", "DANE-TA", "PKIX-EE", "PKIX-TA" (RFC 7218)
 * or "unassigned"; never NULL. */
const char *tlsa_usage_str(unsigned usage);

/*
 * tlsa_name_skip - move *off past the (maybe compressed) name at *off in
 * the DNS message m[0..len), checked as the TLSA reader checks names
 * (pointers only backwards, at most 253 bytes); 0 or -1.  For the other
 * readers of whole answers (mail/dnsbl.c).
 */
int	 tlsa_name_skip(const unsigned char *m, size_t len, size_t *off);

#endif
