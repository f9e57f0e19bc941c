/*
 * screen.h - DNS blocklists and allowlists at connect (smtpd): every
 * configured list is asked about the client at once, answers are cached
 * for their TTL, and the weights of the lists that answered add up to a
 * score that the session compares with dnsbl_threshold (docs/spam.md).
 *
 *	sc = screen_start(id, ip, done);	at connect; NULL: nothing to ask
 *	... done(id) runs from the loop when every list answered or
 *	    dnsbl_timeout passed ...
 *	screen_listed(sc)			the list to name in a 554, or NULL
 *	screen_allowed(sc)			an allowlist matched
 *	screen_free(sc);			the session ends (cancels)
 */
#ifndef POSTBOTE_SCREEN_H
#define POSTBOTE_SCREEN_H

#include <stdbool.h>
#include <stdint.h>

struct dns_ctx;
struct event_base;
struct screen;

typedef void (*screen_done_fn)(uint64_t id);

void	 screen_init(struct event_base *, struct dns_ctx *);
/* screen_start - ask every dnsbl and dnswl list about ip (text); NULL
 * when there are none or no resolver.  done(id) follows from the loop,
 * never from inside this call. */
struct screen *screen_start(uint64_t id, const char *ip, screen_done_fn done);
/* screen_done - every answer is in (or the time is up). */
bool	 screen_done(const struct screen *);
/* screen_score - the sum of the weights of the lists that matched. */
int	 screen_score(const struct screen *);
/* screen_listed - over the threshold: the zone of the heaviest blocklist
 * that matched; else NULL. */
const char *screen_listed(const struct screen *);
/* screen_allowed - some allowlist (dnswl) matched. */
bool	 screen_allowed(const struct screen *);
void	 screen_free(struct screen *);

#endif
