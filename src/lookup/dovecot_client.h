/*
 * dovecot_client.h - lookup's client of Dovecot's auth service
 * (dovecot_client.c): password checks over the auth-client socket and
 * mailbox lookups over the auth-userdb socket.
 */
#ifndef POSTBOTE_DOVECOT_CLIENT_H
#define POSTBOTE_DOVECOT_CLIENT_H

#include <stdbool.h>

#include <event2/event.h>

#include "common/conf.h"

enum dovecot_verdict {
	DOVECOT_YES = 0,	/* password right / the user exists */
	DOVECOT_NO,		/* wrong password, unknown user / NOTFOUND */
	DOVECOT_TEMP,		/* no answer: down, timeout, temp, bad line */
};

/* The callback is called once, from the loop, never from inside the
 * call that started the check; login is Dovecot's user= (or NULL). */
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

#endif
