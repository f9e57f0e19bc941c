/*
 * dkim_keys.h - the [dkim DOMAIN] private keys of the config, read into
 * this process's DKIM signer (auth/dkim_sign.h).  smtpd and queue call
 * dkim_keys_load from their hooks: after the fork, as root (a key file
 * may be root's only), and at reload.
 */
#ifndef POSTBOTE_DKIM_KEYS_H
#define POSTBOTE_DKIM_KEYS_H

struct dkim_signer;

/*
 * dkim_keys_load - (re)read the key file of each config->dkims entry.
 * A file that cannot be read or parsed keeps the key loaded before for
 * the same domain, selector and file (a reload runs unprivileged);
 * without one, the key is left out.  Failures are logged
 * (event=dkim-key result=failed).
 */
void	 dkim_keys_load(void);
/* dkim_keys_signer - the keys of the last load; NULL before the first
 * (dkim_sign_message signs nothing then).  Valid until the next load. */
const struct dkim_signer *dkim_keys_signer(void);

#endif
