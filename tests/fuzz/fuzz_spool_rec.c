/*
 * fuzz_spool_rec.c - libFuzzer target for the queue file reader.
 * Any input: envelope_decode must not crash, leak or read out of bounds.
 * A decoded envelope must encode, and the encoding must decode to the
 * same envelope (message fields, recipients and their state and status;
 * scheduling state is not encoded) and re-encode to the same bytes.
 * Corpus: tests/fuzz/corpus/spool_rec/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "mail/envelope.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	 str_eq(const char *, const char *);
static int	 rcpt_eq(const struct env_rcpt *, const struct env_rcpt *);
static int	 env_eq(const struct envelope *, const struct envelope *);

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
rcpt_eq(const struct env_rcpt *x, const struct env_rcpt *y)
{
	return str_eq(x->addr, y->addr) && str_eq(x->orig, y->orig) &&
	    str_eq(x->orcpt, y->orcpt) && x->notify == y->notify &&
	    x->kind == y->kind && x->state == y->state &&
	    str_eq(x->status, y->status);
}

static int
env_eq(const struct envelope *a, const struct envelope *b)
{
	if (strcmp(a->id, b->id) != 0 || a->arrival != b->arrival ||
	    !str_eq(a->sender, b->sender) || !str_eq(a->helo, b->helo) ||
	    !str_eq(a->client, b->client) ||
	    !str_eq(a->client_name, b->client_name) ||
	    !str_eq(a->auth, b->auth) || !str_eq(a->envid, b->envid) ||
	    a->ret != b->ret || a->body != b->body ||
	    a->smtputf8 != b->smtputf8 || a->size != b->size ||
	    a->nrcpt != b->nrcpt)
		return 0;
	for (size_t i = 0; i < a->nrcpt; i++)
		if (!rcpt_eq(&a->rcpts[i], &b->rcpts[i]))
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct envelope	 e1, e2;
	struct buf	 b1, b2;
	char		 err[128];

	if (envelope_decode((const char *)data, len, &e1, err,
	    sizeof(err)) < 0) {
		if (err[0] == '\0' || e1.rcpts != NULL || e1.nrcpt != 0)
			abort();
		return 0;
	}
	buf_init(&b1, 0);
	buf_init(&b2, 0);
	if (envelope_encode(&e1, &b1) == -1)
		abort();
	if (envelope_decode(b1.data, b1.len, &e2, err, sizeof(err)) != 0)
		abort();
	if (!env_eq(&e1, &e2) || e2.attempts != 0 || e2.next_attempt != 0 ||
	    e2.bounced)
		abort();
	if (envelope_encode(&e2, &b2) == -1 || b1.len != b2.len ||
	    memcmp(b1.data, b2.data, b1.len) != 0)
		abort();
	envelope_free(&e1);
	envelope_free(&e2);
	buf_free(&b1);
	buf_free(&b2);
	return 0;
}
