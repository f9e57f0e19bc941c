/*
 * fuzz_dnsbl.c - libFuzzer target for mail/dnsbl.c: the input is a DNS
 * answer message, as a resolver might send it (read for its A records
 * and TTL), and, as text, a list's config form.  A refused message must
 * hand out nothing, a kept one at most DNSBL_ADDRS_MAX records; a parsed
 * site must have a valid zone and weight.  Any violation aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/dnsbl.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_dnsbl: %s\n", what);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dnsbl_answer	 a;
	struct dnsbl_site	 s;
	uint8_t			*msg;
	char			*text, why[128], name[300];

	if (size > 65535)
		return 0;
	if ((msg = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(msg, data, size);
	if (dnsbl_answer_parse(msg, size, &a) == 0) {
		if (a.n > DNSBL_ADDRS_MAX)
			violation("too many records");
	} else if (a.n != 0 || a.ttl != 0)
		violation("a refused message handed out records");
	free(msg);
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (dnsbl_site_parse(text, &s, why, sizeof(why)) == 0) {
		if (s.zone[0] == '\0' || strlen(s.zone) > DNSBL_ZONE_MAX ||
		    s.weight == 0 || s.weight > DNSBL_WEIGHT_MAX ||
		    s.weight < -DNSBL_WEIGHT_MAX)
			violation("a bad site was accepted");
		if (dnsbl_query_name("192.0.2.1", s.zone, name,
		    sizeof(name)) == 0 && strlen(name) > DNSBL_NAME_MAX)
			violation("query name too long");
	}
	free(text);
	return 0;
}
