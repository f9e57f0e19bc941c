/*
 * tls.h - the SMTP server's TLS contexts (OpenSSL 3): certificate
 * material, the self-signed fallback, SNI selection and reload.
 *
 * The parent reads every certificate and key file (it may be root; the
 * key files need not be readable by `user`) into one "material" buffer.
 * smtpd gets it in its start (IPC_START) and a fresh copy with each reload,
 * and builds its SSL_CTXs from memory: smtpd never opens a key file, and
 * no other child ever holds the keys (each starts with a fresh memory,
 * common/proc.h).
 */
#ifndef POSTBOTE_TLS_H
#define POSTBOTE_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "lib/buf.h"

struct conf;

/* The material the parent loaded last (PEM texts, framed like an IPC
 * payload), in the parent only. */
extern struct buf tls_material;

/*
 * tls_material_load - parent: read the certificates and keys the config
 * names (tls_cert/tls_key and each [tls NAME]), or, with neither global key
 * set, the self-signed pair in state_dir (made on first use, see
 * tls_selfsigned).  Every context is built once as a check.  On success
 * the result replaces tls_material and 0 is returned; -1 with err set and
 * tls_material untouched otherwise.
 */
int	 tls_material_load(const struct conf *, char *err, size_t errlen);
/* tls_material_wipe - zero and free tls_material (at the parent's end). */
void	 tls_material_wipe(void);

/*
 * tls_selfsigned - the paths of state_dir/tls/selfsigned.{crt,key}; when
 * either is missing, a new P-256 key and a certificate for hostname are
 * made (key 0600, written to a temporary name and renamed).  0 or -1.
 * The caller frees *cert and *key.
 */
int	 tls_selfsigned(const char *state_dir, const char *hostname,
	    char **cert, char **key, char *err, size_t errlen);

/*
 * tls_server_load - smtpd: build the server contexts from material and
 * make them current.  Contexts in use by live sessions stay alive (each
 * SSL holds a reference) until those sessions end.  0 or -1 with err set
 * (the old contexts then stay current).
 */
int	 tls_server_load(const struct conf *, const struct buf *material,
	    char *err, size_t errlen);
/* tls_server_ctx - the default context for a new session, or NULL. */
SSL_CTX	*tls_server_ctx(void);
/* tls_server_free - drop the current contexts (at exit). */
void	 tls_server_free(void);
/* tls_check_conf - can the protocol and cipher settings build a context?
 * 0 or -1 with err set. */
int	 tls_check_conf(const struct conf *, char *err, size_t errlen);
/* tls_name_match - SNI name against a [tls NAME] pattern: exact, or
 * "*.example.com" for one more leftmost label; ASCII case ignored. */
bool	 tls_name_match(const char *pattern, const char *name);
/* tls_error_string - the OpenSSL error queue as one line (emptied). */
const char *tls_error_string(void);

#endif
