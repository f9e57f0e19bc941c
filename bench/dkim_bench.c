/*
 * dkim_bench.c - signatures made and verified per second, RSA-2048 and
 * Ed25519, on a 2 KiB message (whole dkim_sign / dkim_verify calls, key
 * lookups answered from memory).  Build and run: make bench-dkim.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "auth/dkim.h"

static const char	*record;

static enum dkim_lookup
lookup(void *arg, const char *sel, const char *dom, struct buf *rec)
{
	(void)arg;
	(void)sel;
	(void)dom;
	buf_puts(rec, record);
	return DKIM_LOOKUP_OK;
}

static double
now(void)
{
	struct timespec	t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void
run(enum dkim_keytype type, const char *name, const char *msg, size_t len)
{
	struct dkim_key		*key;
	struct dkim_sign_opts	 o = { 0 };
	struct buf		 sig, rec, signed_msg;
	char			 err[128];
	double			 t0, t;
	int			 n;

	if (dkim_key_generate(type, 2048, &key) == -1)
		exit(1);
	buf_init(&rec, 0);
	dkim_key_record(key, &rec);
	record = buf_cstr(&rec);
	o.domain = "example.org";
	o.selector = "s";
	o.key = key;
	o.now = time(NULL);
	buf_init(&sig, 0);
	t0 = now();
	for (n = 0; (t = now() - t0) < 2.0; n++) {
		buf_reset(&sig);
		if (dkim_sign(msg, len, &o, &sig, err, sizeof(err)) == -1)
			exit(1);
	}
	printf("%-8s sign:   %8.0f/s\n", name, n / t);
	buf_init(&signed_msg, 0);
	buf_append(&signed_msg, sig.data, sig.len);
	buf_append(&signed_msg, msg, len);
	t0 = now();
	for (n = 0; (t = now() - t0) < 2.0; n++) {
		struct dkim_verify	v;

		if (dkim_verify(&v, signed_msg.data, signed_msg.len, o.now,
		    lookup, NULL, err, sizeof(err)) == -1 ||
		    v.nsig != 1 || v.sig[0].result != DKIM_PASS)
			exit(1);
		dkim_verify_free(&v);
	}
	printf("%-8s verify: %8.0f/s\n", name, n / t);
	dkim_key_free(key);
	buf_free(&sig);
	buf_free(&rec);
	buf_free(&signed_msg);
}

int
main(void)
{
	struct buf	m;

	buf_init(&m, 0);
	buf_puts(&m, "From: a@example.org\r\nTo: b@example.net\r\n"
	    "Subject: bench\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n"
	    "Message-ID: <1@example.org>\r\n\r\n");
	while (m.len < 2048)
		buf_puts(&m, "The quick brown fox jumps over the lazy dog.\r\n");
	run(DKIM_KEY_RSA, "rsa2048", m.data, m.len);
	run(DKIM_KEY_ED25519, "ed25519", m.data, m.len);
	buf_free(&m);
	return 0;
}
