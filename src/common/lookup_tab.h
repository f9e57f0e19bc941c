/*
 * lookup_tab.h - the users and aliases tables and recipient resolution.
 * Pure: text in, tables out; resolution is memory only.  Runs in the
 * lookup process (and in the CLI for "postbote check").
 */
#ifndef POSTBOTE_LOOKUP_TAB_H
#define POSTBOTE_LOOKUP_TAB_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/addr.h"
#include "common/conf.h"
#include "mail/envelope.h"

#define LOOKUP_MAX_TARGETS	1000	/* expansion of one recipient */
#define LOOKUP_MAX_DEPTH	20	/* alias nesting */

struct lookup_tab;

struct lookup_target {
	enum rcpt_kind	 kind;		/* RCPT_LOCAL: a mailbox here */
	char		 addr[ADDR_TEXT_MAX];	/* "local@domain", lower-case
					 * domain; the mailbox owner for local */
};

enum lookup_result {
	LK_OK = 0,		/* *n targets written */
	LK_UNKNOWN,		/* no such user here: 550 5.1.1 */
	LK_LOOP,		/* alias loop or nesting too deep */
	LK_TOO_MANY,		/* expansion over max targets */
	LK_TEMPFAIL,		/* the recipient check could not be made:
				 * 451 4.3.0 */
};

struct lookup_tab *lookup_tab_new(void);
void	 lookup_tab_free(struct lookup_tab *);

/*
 * lookup_tab_users_load - "address:crypt-hash" lines; '#' comments and blank
 * lines ignored; the address must parse (addr_parse) and its domain be a
 * local domain of c; duplicates are errors.  Returns 0, or -1 with err
 * "FILE:LINE: reason".
 */
int	 lookup_tab_users_load(struct lookup_tab *, const struct conf *c,
	    const char *text, size_t len, const char *file,
	    char *err, size_t errlen);

/*
 * lookup_tab_aliases_load - "key: target, target" lines.  key is
 * "local@domain" (a local domain), "@domain" (catch-all for that local
 * domain) or a bare local part (that local part in every local domain).
 * A target is "local@domain", or a bare local part meaning that local
 * part in the key's domain (for bare keys: the domain being resolved).
 * Targets starting with '|', '/' or ':include:' are errors: postbote
 * never runs commands or writes files for aliases.  Continuation lines
 * (starting with white space) extend the previous entry.
 */
int	 lookup_tab_aliases_load(struct lookup_tab *, const struct conf *c,
	    const char *text, size_t len, const char *file,
	    char *err, size_t errlen);

/*
 * lookup_tab_resolve - expand one recipient at a local domain into its final
 * targets, in order, without duplicates.  Order of lookups for
 * local@domain: the alias for local@domain; if the local part contains
 * c->recipient_delimiter, the alias for base@domain (base = text before
 * the first delimiter); a user local@domain or base@domain; the bare-
 * local-part alias; the "@domain" catch-all; and with c->any_local any
 * local part for which addr_local_is_safe_path() holds.  Comparisons are
 * case-insensitive.  Alias targets are resolved again (nesting up to
 * LOOKUP_MAX_DEPTH); a target naming an address already on the expansion
 * path is delivered to that address's own mailbox if it is a user (the
 * "bob: bob, archive" idiom), else LK_LOOP.  Targets at non-local domains
 * are RCPT_REMOTE.  Local targets name the user (base address, lower-cased
 * local part).
 * postmaster (any case, with or without a +tag) is never LK_UNKNOWN (RFC
 * 5321 4.5.1): without an alias or user of its own, and before the
 * catch-all, it goes to c->postmaster, else to root's alias or user at
 * that domain, else to the catch-all (or any_local), else to the mailbox
 * of postmaster@domain itself; a step that fails (unknown, loop) is
 * passed over.
 */
enum lookup_result lookup_tab_resolve(const struct lookup_tab *,
	    const struct conf *c, const struct mailaddr *rcpt,
	    struct lookup_target *out, size_t max, size_t *n);

/*
 * lookup_tab_postmaster_check - does mail for postmaster@domain (a local
 * domain of c) reach someone?  0 when an alias, a user, the `postmaster`
 * address, root's alias or user, or a catch-all takes it; -1, with the
 * reason in why, when the `postmaster` address leads nowhere or when the
 * mail would only reach postmaster's own mailbox, which no user has.
 * For "postbote check".
 */
int	 lookup_tab_postmaster_check(const struct lookup_tab *,
	    const struct conf *c, const char *domain, char *why,
	    size_t whylen);

/* lookup_tab_user_hash - the crypt hash of a user, or NULL. */
const char *lookup_tab_user_hash(const struct lookup_tab *,
	    const char *address);
/* lookup_tab_user_key - the canonical form (lower case, unquoted where it
 * can be) of a user address into out; 0, or -1 if it does not parse. */
int	 lookup_tab_user_key(const char *address, char *out, size_t outsz);
/* lookup_tab_user_addr - the user's canonical address (lower case), or NULL;
 * points into the table. */
const char *lookup_tab_user_addr(const struct lookup_tab *,
	    const char *address);
size_t	 lookup_tab_user_count(const struct lookup_tab *);
/* lookup_tab_user_at - i-th user address in sorted order (for "user list"). */
const char *lookup_tab_user_at(const struct lookup_tab *, size_t i);

#endif
