/*
 * dkim_keys.c - the [dkim DOMAIN] keys of the config (dkim_keys.h).  In
 * the parent, each key file is read and parsed once as a check, and the
 * PEM texts are encoded into the material that IPC_RELOAD carries; in
 * smtpd and queue, the material becomes the signer this process signs
 * with (smtpd relay and authenticated mail, queue local submissions).
 *
 * One rule for every key, at start, at reload and in "postbote check":
 * the parent, root when started so, reads it; a key it cannot read or
 * parse fails the whole load with the file and the reason, so a [dkim]
 * domain never goes without its key.  The children never open a key file.
 * Trust: the key files are the admin's; buffers that held a key are wiped.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/dkim_sign.h"
#include "common/conf.h"
#include "common/dkim_keys.h"
#include "lib/buf.h"
#include "lib/ipc_proto.h"
#include "lib/util.h"

#define KEY_FILE_MAX	(64 * 1024)

static struct dkim_signer	*signer;

static int	 read_key(const struct conf_dkim *, struct buf *, char *,
		    size_t);
static void	 add_error(char *, size_t, const struct conf_dkim *,
		    const char *);
static void	 encode_material(struct buf *, const struct ipc_dkim_key *,
		    size_t);

/* read_key - d's file into pem, parsed once as a check; -1 with why. */
static int
read_key(const struct conf_dkim *d, struct buf *pem, char *why,
    size_t whylen)
{
	struct dkim_signer	*s;
	char			 err[256];
	int			 rc;

	if (buf_read_file(pem, d->key, KEY_FILE_MAX) == -1) {
		snprintf(why, whylen, "cannot read %s: %s", d->key,
		    errno == EINVAL ? "not a regular file" : errno == EFBIG ?
		    "larger than 64 KiB" : strerror(errno));
		return -1;
	}
	s = dkim_sign_new();
	rc = dkim_sign_add_pem(s, d->domain, d->selector, buf_cstr(pem),
	    pem->len, err, sizeof(err));
	dkim_sign_free(s);
	if (rc == -1)
		snprintf(why, whylen, "%s: %s", d->key, err);
	return rc;
}

/* add_error - "[dkim D] selector S: key: why", after those before. */
static void
add_error(char *err, size_t errlen, const struct conf_dkim *d,
    const char *why)
{
	size_t	n = strlen(err);

	if (n + 2 < errlen)
		snprintf(err + n, errlen - n,
		    "%s[dkim %s] selector %s: key: %s", n > 0 ? "; " : "",
		    d->domain, d->selector, why);
}

/* encode_material - the keys, in a buffer reserved once (a growing
 * buffer would leave copies of them behind). */
static void
encode_material(struct buf *out, const struct ipc_dkim_key *keys, size_t n)
{
	struct ipc_dkim_material	 mat = { (struct ipc_dkim_key *)keys,
	    n };
	size_t				 need = 64;

	for (size_t i = 0; i < n; i++)
		need += 16 + strlen(keys[i].domain) +
		    strlen(keys[i].selector) + strlen(keys[i].key);
	buf_reserve(out, need);
	IPC_ENCODE(out, IPC_DKIM_MATERIAL, &mat);
}

/* dkim_keys_read - see dkim_keys.h. */
int
dkim_keys_read(const struct conf *c, struct buf *material, char *err,
    size_t errlen)
{
	struct ipc_dkim_key	*keys = xcalloc(c->ndkims + 1, sizeof(*keys));
	struct buf		*pem = xcalloc(c->ndkims + 1, sizeof(*pem));
	struct buf		 out;
	char			 why[512];
	bool			 ok = true;

	if (errlen > 0)
		err[0] = '\0';
	for (size_t i = 0; i < c->ndkims; i++) {
		const struct conf_dkim	*d = &c->dkims[i];

		buf_init(&pem[i], KEY_FILE_MAX);
		if (read_key(d, &pem[i], why, sizeof(why)) == -1) {
			add_error(err, errlen, d, why);
			ok = false;
		}
		keys[i].domain = d->domain;
		keys[i].selector = d->selector;
		keys[i].key = buf_cstr(&pem[i]);
	}
	if (ok) {
		buf_init(&out, 0);
		encode_material(&out, keys, c->ndkims);
		dkim_keys_wipe(material);
		*material = out;
	}
	for (size_t i = 0; i < c->ndkims; i++)
		dkim_keys_wipe(&pem[i]);
	free(pem);
	free(keys);
	return ok ? 0 : -1;
}

/* dkim_keys_wipe - see dkim_keys.h. */
void
dkim_keys_wipe(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

/* dkim_keys_load - see dkim_keys.h. */
int
dkim_keys_load(const void *material, size_t len, char *err, size_t errlen)
{
	struct ipc_msg			 in = { .type = IPC_DKIM_MATERIAL,
	    .fd = -1 };
	struct ipc_dkim_material	 mat;
	struct dkim_signer		*ns;
	const char			*why;
	char				 e[256];

	in.p = material != NULL ? material : "";
	in.len = len;
	if (IPC_DECODE(&in, &mat, &why) == -1) {
		snprintf(err, errlen, "bad DKIM key material (%s)", why);
		return -1;
	}
	ns = dkim_sign_new();
	for (size_t i = 0; i < mat.nkeys; i++) {
		const struct ipc_dkim_key	*k = &mat.keys[i];

		if (dkim_sign_add_pem(ns, k->domain, k->selector, k->key,
		    strlen(k->key), e, sizeof(e)) == -1) {
			snprintf(err, errlen, "[dkim %s] selector %s: key: %s",
			    k->domain, k->selector, e);
			ipc_proto_free(IPC_DKIM_MATERIAL, &mat);
			dkim_sign_free(ns);
			return -1;
		}
	}
	ipc_proto_free(IPC_DKIM_MATERIAL, &mat);
	dkim_sign_free(signer);
	signer = ns;
	return 0;
}

/* dkim_keys_signer - see dkim_keys.h. */
const struct dkim_signer *
dkim_keys_signer(void)
{
	return signer;
}
