/*
 * cmd_tlsa.h - the DANE half of "postbote dns" and "postbote check
 * --dns": the TLSA record (RFC 6698, RFC 7672) this host should publish
 * for its certificate, and whether the published ones match it.
 */
#ifndef POSTBOTE_CMD_TLSA_H
#define POSTBOTE_CMD_TLSA_H

#include <stdbool.h>
#include <stddef.h>

struct conf;

/* cmd_tlsa_print - the _25._tcp.HOSTNAME TLSA lines for c's certificate
 * (tls_cert, else the self-signed one in state_dir once made) to stdout,
 * or a comment saying why there are none. */
void	 cmd_tlsa_print(const struct conf *c);

/*
 * cmd_tlsa_check - a finding line for the answer to the TLSA question of
 * _25._tcp.HOSTNAME (msg, len: the whole answer or NULL; st: a dns
 * status; secure: its AD bit, asked only with dnssec_resolver = yes).
 * No records is fine (DANE is not in use); records that no usable one
 * among matches the certificate are WRONG, since DANE senders would then
 * defer all mail.  Returns false for WRONG.
 */
bool	 cmd_tlsa_check(const struct conf *c, int st, bool secure,
	    const unsigned char *msg, size_t len);

#endif
