/*
 * fuzz_tlsrpt.c - libFuzzer target for tlsrpt.c: the input is the text of
 * a "_smtp._tls" TXT record, as any domain's DNS may publish it, parsed
 * by tlsrpt_txt_parse; the same bytes as a line of the day file go
 * through tlsrpt_done_parse and tlsrpt_line_parse.  A refused record must
 * hand out nothing; an accepted one at most TLSRPT_RUA_MAX URIs, each a
 * mailto: address with one '@' and no byte that could break an envelope
 * or a header, or an https: URI.  A parsed line must write back to the
 * same event or domain.  Any violation aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "mail/tlsrpt.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
violation(const char *what)
{
	fprintf(stderr, "fuzz_tlsrpt: %s\n", what);
	abort();
}

static void
check_uri(const struct tlsrpt_uri *u)
{
	const char	*at;

	if (u->v == NULL)
		violation("URI without text");
	for (const char *p = u->v; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			violation("URI with a space or control byte");
	if (u->kind == TLSRPT_HTTPS) {
		if (strncasecmp(u->v, "https://", 8) != 0)
			violation("https URI without its scheme");
		return;
	}
	if ((at = strchr(u->v, '@')) == NULL || strchr(at + 1, '@') != NULL ||
	    at == u->v || at[1] == '\0')
		violation("mailto address without exactly one inner '@'");
	if (strpbrk(u->v, "<>\"(),;:\\[]") != NULL)
		violation("mailto address with a special byte");
}

static void
check_line(const uint8_t *data, size_t size)
{
	char			*line = malloc(size + 1), *again;
	const char		*dom;
	struct tlsrpt_event	 e;
	struct buf		 b;

	if (line == NULL)
		return;
	memcpy(line, data, size);
	line[size] = '\0';
	if (strlen(line) == size && (dom = tlsrpt_done_parse(line)) != NULL) {
		buf_init(&b, 0);
		tlsrpt_done_put(dom, &b);
		if (b.len != size + 1 || memcmp(b.data, line, size) != 0)
			violation("a done line does not survive a round trip");
		buf_free(&b);
	}
	if (strlen(line) == size && tlsrpt_line_parse(line, &e) == 0) {
		buf_init(&b, 0);
		tlsrpt_line_put(&e, &b);
		again = strndup(b.data, b.len - 1);
		if (again == NULL)
			violation("out of memory");
		struct tlsrpt_event e2;
		if (tlsrpt_line_parse(again, &e2) != 0 || e2.when != e.when ||
		    strcmp(e2.policy_strings, e.policy_strings) != 0 ||
		    strcmp(e2.reason, e.reason) != 0)
			violation("a line does not survive a round trip");
		free(again);
		buf_free(&b);
	}
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlsrpt_txt	 t;
	const char		*why = NULL;
	int			 rc;

	rc = tlsrpt_txt_parse((const char *)data, size, &t, &why);
	if (rc != 0) {
		if (t.nrua != 0)
			violation("a refused record hands out URIs");
		if (why == NULL)
			violation("a refusal without a reason");
	} else {
		if (t.nrua == 0 || t.nrua > TLSRPT_RUA_MAX)
			violation("an accepted record without URIs");
		for (size_t i = 0; i < t.nrua; i++)
			check_uri(&t.rua[i]);
		tlsrpt_txt_free(&t);
	}
	check_line(data, size);
	return 0;
}
