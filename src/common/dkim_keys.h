/*
 * dkim_keys.h - the [dkim DOMAIN] private keys of the config.  The parent
 * reads the key files at start and at each reload (as root when started
 * so, as it reads the TLS keys: a key may be root's only) and hands them,
 * as material, to the processes that sign (smtpd and queue), which make
 * them into their DKIM signer (auth/dkim_sign.h).  A key that cannot be
 * read or parsed is an error of the config: serve and check refuse it, a
 * reload fails and the old config and keys stay.
 */
#ifndef POSTBOTE_DKIM_KEYS_H
#define POSTBOTE_DKIM_KEYS_H

#include <stddef.h>

struct buf;
struct conf;
struct dkim_signer;

/*
 * dkim_keys_read - parent: read and check the key file of each c->dkims
 * entry into *material (replaced; IPC_DKIM_MATERIAL, encoded).  Returns
 * 0, or -1 with *material untouched and err naming every key that failed,
 * its file and the reason ("[dkim DOMAIN] selector S: key: ...").
 */
int	 dkim_keys_read(const struct conf *c, struct buf *material,
	    char *err, size_t errlen);
/* dkim_keys_wipe - zero and free material (it holds private keys). */
void	 dkim_keys_wipe(struct buf *material);
/*
 * dkim_keys_load - smtpd, queue: the keys of material (len bytes, as
 * dkim_keys_read made it) become this process's signer.  Returns 0, or
 * -1 with err set and the signer of the last load kept.
 */
int	 dkim_keys_load(const void *material, size_t len, char *err,
	    size_t errlen);
/* dkim_keys_signer - the keys of the last load; NULL before the first
 * (dkim_sign_message signs nothing then).  Valid until the next load. */
const struct dkim_signer *dkim_keys_signer(void);

#endif
