/*
 * dovecot_client.h - lookup's client of Dovecot's auth service
 * (dovecot_client.c): password checks over the auth-client socket and
 * mailbox lookups over the auth-userdb socket.
 */
#ifndef POSTBOTE_DOVECOT_CLIENT_H
#define POSTBOTE_DOVECOT_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/conf.h"

enum dovecot_verdict {
	DOVECOT_YES = 0,	/* password right / the user exists */
	DOVECOT_NO,		/* wrong password, unknown user / NOTFOUND */
	DOVECOT_TEMP,		/* no answer: down, timeout, temp, bad line */
	DOVECOT_CONT,		/* relay: text is Dovecot's base64 challenge */
};

/* The callback is called once, from the loop, never from inside the
 * call that started the check; text is Dovecot's user= with
 * DOVECOT_YES, its challenge with DOVECOT_CONT, else NULL. */
typedef void (*dovecot_client_cb)(void *arg, enum dovecot_verdict,
	    const char *login);

void	 dovecot_client_init(struct event_base *);

/*
 * dovecot_client_auth - check user and pass with Dovecot's auth-client
 * socket at sock, as mechanism mech ("PLAIN" or "LOGIN"; the other one
 * if Dovecot does not offer it).  The password is copied and wiped.
 */
void	 dovecot_client_auth(const struct conf_deliver *sock, const char *mech,
	    const char *user, const char *pass, const char *rip, bool secured,
	    dovecot_client_cb, void *arg);

/* dovecot_client_user - ask the auth-userdb socket at sock for user. */
void	 dovecot_client_user(const struct conf_deliver *sock,
	    const char *user, dovecot_client_cb, void *arg);

/*
 * dovecot_client_relay_start - another mechanism's exchange, relayed for
 * the session id: AUTH mech with resp (base64; NULL: none, "": empty).
 * Each step's callback says DOVECOT_CONT (the exchange stays open for
 * dovecot_client_relay_next), or ends it.  A mechanism Dovecot does not
 * offer is DOVECOT_TEMP.
 */
void	 dovecot_client_relay_start(const struct conf_deliver *sock,
	    uint64_t id, const char *mech, const char *resp, const char *rip,
	    bool secured, dovecot_client_cb, void *arg);
/* dovecot_client_relay_next - the client's next response (base64). */
void	 dovecot_client_relay_next(uint64_t id, const char *resp,
	    dovecot_client_cb, void *arg);
/* dovecot_client_relay_cancel - the client gave up or went: close. */
void	 dovecot_client_relay_cancel(uint64_t id);

#endif
