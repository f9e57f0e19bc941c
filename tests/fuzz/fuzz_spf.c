/*
 * fuzz_spf.c - libFuzzer target for the SPF record parser and the macro
 * expander: any bytes as a record, and as a macro-string.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/buf.h"
#include "auth/spf.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct spf_record r;
	struct spf_ip		 ip = { 0 };
	struct spf_macro_env	 e = { "l", "o.example", "d.example", "h",
	    NULL, NULL, &ip, 0 };
	struct buf		 b;
	char			 err[128];

	ip.family = (size > 0 && (data[0] & 1)) ? 10 : 2;
	spf_parse((const char *)data, size, &r, err, sizeof(err));
	buf_init(&b, 4096);
	if (spf_expand((const char *)data, size, &e, size > 1 &&
	    (data[1] & 1), &b) == 0 && b.data != NULL)
		spf_domain_fix(b.data);
	buf_free(&b);
	return 0;
}
