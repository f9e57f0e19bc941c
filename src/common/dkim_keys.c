/*
 * dkim_keys.c - the [dkim DOMAIN] sections of the config made into a DKIM
 * signer: each key file is read and parsed, and the signer of the last
 * load is this process's (dkim_keys_signer).  smtpd signs relay and
 * authenticated mail with it, queue the local submissions.
 *
 * Runs in smtpd and queue, from their hooks: after the fork as root, and
 * at reload as the unprivileged user, when a key file may no longer be
 * readable: the key loaded before from the same file is kept then.
 * Trust: the key files are the admin's; the PEM text is wiped once
 * parsed.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/dkim_sign.h"
#include "common/conf.h"
#include "common/dkim_keys.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#define KEY_FILE_MAX	(64 * 1024)

struct key_file {		/* where a key of the signer came from */
	char		*domain, *selector, *path;
};

static struct dkim_signer	*signer;
static struct key_file		*files;		/* one per key of signer */
static size_t			 nfiles;

static int	 read_key(struct dkim_signer *, const struct conf_dkim *,
		    struct buf *);
static int	 keep_old(struct dkim_signer *, const struct conf_dkim *);
static void	 files_free(struct key_file *, size_t);

/* read_key - the key file of d into s; -1 when unreadable or bad. */
static int
read_key(struct dkim_signer *s, const struct conf_dkim *d, struct buf *pem)
{
	char	 err[256];

	buf_reset(pem);
	if (buf_read_file(pem, d->key, KEY_FILE_MAX) == -1)
		return -1;
	return dkim_sign_add_pem(s, d->domain, d->selector, pem->data,
	    pem->len, err, sizeof(err));
}

/* keep_old - move the key last loaded from d's very file into s. */
static int
keep_old(struct dkim_signer *s, const struct conf_dkim *d)
{
	for (size_t i = 0; i < nfiles; i++)
		if (strcmp(files[i].domain, d->domain) == 0 &&
		    strcmp(files[i].selector, d->selector) == 0 &&
		    strcmp(files[i].path, d->key) == 0)
			return dkim_sign_move(s, signer, d->domain,
			    d->selector);
	return -1;
}

static void
files_free(struct key_file *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(f[i].domain);
		free(f[i].selector);
		free(f[i].path);
	}
	free(f);
}

/* dkim_keys_load - see dkim_keys.h. */
void
dkim_keys_load(void)
{
	struct dkim_signer	*ns = dkim_sign_new();
	struct key_file		*nf = xcalloc(config->ndkims + 1, sizeof(*nf));
	struct buf		 pem;
	size_t			 n = 0;

	buf_init(&pem, KEY_FILE_MAX);
	for (size_t i = 0; i < config->ndkims; i++) {
		const struct conf_dkim	*d = &config->dkims[i];

		if (read_key(ns, d, &pem) == -1 && keep_old(ns, d) == -1) {
			log_warn("event=dkim-key result=failed "
			    "domain=%s selector=%s file=\"%s\"",
			    d->domain, d->selector, log_safe(d->key));
			continue;
		}
		nf[n].domain = xstrdup(d->domain);
		nf[n].selector = xstrdup(d->selector);
		nf[n].path = xstrdup(d->key);
		n++;
	}
	if (pem.data != NULL)
		explicit_bzero(pem.data, pem.cap);
	buf_free(&pem);
	dkim_sign_free(signer);
	files_free(files, nfiles);
	signer = ns;
	files = nf;
	nfiles = n;
}

/* dkim_keys_signer - see dkim_keys.h. */
const struct dkim_signer *
dkim_keys_signer(void)
{
	return signer;
}
