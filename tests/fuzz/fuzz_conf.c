/*
 * fuzz_conf.c - libFuzzer target for the configuration parser.  The
 * input is a whole config file: conf_parse() must accept it or refuse
 * it with a "fuzz.conf:LINE:COL: ..." message, never crash, leak or
 * read past len.  An accepted config must hold the invariants the rest
 * of postbote relies on.  The first line, as a C string, also goes
 * through the small value parsers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "common/conf.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_accepted(const struct conf *c)
{
	struct sockaddr_in6	 sin6;

	if (c->hostname == NULL || c->mailbox == NULL || c->state_dir == NULL ||
	    c->ndomains < 1 || c->nretry < 1 || c->nlistens < 1 ||
	    c->user == NULL || c->log == NULL ||
	    (c->tls_cert == NULL) != (c->tls_key == NULL))
		abort();
	for (size_t i = 0; i < c->nlistens; i++)
		if (c->listens[i].host == NULL || c->listens[i].port == 0)
			abort();
	for (size_t i = 0; i < c->nroutes; i++)
		if (c->routes[i].host == NULL)
			abort();
	for (size_t i = 0; i < c->ndkims; i++)
		if (c->dkims[i].selector == NULL || c->dkims[i].key == NULL)
			abort();
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr.s6_addr[10] = sin6.sin6_addr.s6_addr[11] = 0xff;
	sin6.sin6_addr.s6_addr[12] = 127;
	(void)conf_relay_allowed(c, (struct sockaddr *)&sin6);
	(void)conf_is_local_domain(c, c->domains[0]);
}

static void
value_parsers(const uint8_t *data, size_t size)
{
	char		 s[128], *host;
	size_t		 n = 0;
	uint64_t	 v;
	uint16_t	 port;
	struct conf_net	 net;

	while (n < size && n < sizeof(s) - 1 && data[n] != '\n')
		n++;
	memcpy(s, data, n);
	s[n] = '\0';
	(void)conf_parse_duration(s, &v);
	(void)conf_parse_size(s, &v);
	(void)conf_parse_net(s, &net);
	if (conf_parse_hostport(s, size & 1, &host, &port) == 0)
		free(host);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf	 c;
	char		 err[256];

	value_parsers(data, size);
	err[0] = '\0';
	if (conf_parse((const char *)data, size, "fuzz.conf", &c, err,
	    sizeof(err)) == 0)
		check_accepted(&c);
	else if (strncmp(err, "fuzz.conf:", 10) != 0)
		abort();
	conf_free(&c);
	return 0;
}
