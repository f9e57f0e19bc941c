/*
 * greylist.h - greylisting (RFC 6647) as postbote decides it: the
 * triplet's key (the client's network, /24 for IPv4 and /64 for IPv6,
 * the sender and the recipient), the stored record and its fixed-size
 * encoding, and the decision for an attempt.  Pure: no I/O; the store
 * is lookup's (lookup/greylist_db.c), smtpd only asks.
 */
#ifndef POSTBOTE_GREYLIST_H
#define POSTBOTE_GREYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GREYLIST_KEY_MAX	700	/* network, two addresses, separators */
#define GREYLIST_REC_LEN	29	/* version byte + 3 x u64 + u32 */

struct greylist_rec {
	uint64_t	 first;		/* first attempt, seconds since epoch */
	uint64_t	 last;		/* last attempt */
	uint64_t	 passed;	/* when it first passed; 0 = not yet */
	uint32_t	 count;		/* attempts */
};

struct greylist_times {
	uint64_t	 delay;		/* a retry passes after this */
	uint64_t	 window;	/* ... and before first + this */
	uint64_t	 expire;	/* a passed triplet is kept this long
					 * after its last use */
};

enum greylist_verdict {
	GREYLIST_PASS = 0,	/* let it through */
	GREYLIST_NEW,		/* first attempt (or too late a retry): 451 */
	GREYLIST_EARLY,		/* a retry before the delay: 451 */
};

/*
 * greylist_key - "NET|sender|rcpt", lower-cased, for client ip (text).
 * The null sender is "" (RFC 6647 4.2 allows it).  Returns 0, or -1
 * when ip is not an address or the key would not fit outlen.
 */
int	 greylist_key(const char *ip, const char *sender, const char *rcpt,
	    char *out, size_t outlen);
/* greylist_rec_encode - GREYLIST_REC_LEN bytes into out. */
void	 greylist_rec_encode(const struct greylist_rec *,
	    unsigned char out[GREYLIST_REC_LEN]);
/* greylist_rec_decode - -1 unless len and the version are right and the
 * times are ordered (first <= last, passed 0 or within). */
int	 greylist_rec_decode(const void *, size_t len, struct greylist_rec *);
/*
 * greylist_decide - an attempt at now for a triplet with record *r
 * (found: false = none stored, *r is ignored).  *r is updated to what
 * must be stored.  A record older than its life (not passed and past
 * the window, or passed and unused for expire) counts as none.
 */
enum greylist_verdict greylist_decide(struct greylist_rec *r, bool found,
	    uint64_t now, const struct greylist_times *);
/* greylist_expired - may the record be deleted at now? */
bool	 greylist_expired(const struct greylist_rec *, uint64_t now,
	    const struct greylist_times *);

#endif
