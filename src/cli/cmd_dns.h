/*
 * cmd_dns.h - "postbote dns" (the records to publish) and the DNS half of
 * "postbote check --dns" (are they published).
 */
#ifndef POSTBOTE_CMD_DNS_H
#define POSTBOTE_CMD_DNS_H

struct conf;

/* cmd_dns - argv[0] is "dns"; returns the exit status. */
int	 cmd_dns(int argc, char **argv);
/* cmd_dns_check_keys - can every [dkim] key be loaded?  Errors to
 * stderr; 0 or -1. */
int	 cmd_dns_check_keys(const struct conf *c);
/* cmd_dns_check - look every domain's MX, SPF, DKIM and DMARC records,
 * and this host's TLSA records, up through c's resolvers and say what is
 * missing or wrong: 0 when all is well, 1 otherwise. */
int	 cmd_dns_check(const struct conf *c);

#endif
