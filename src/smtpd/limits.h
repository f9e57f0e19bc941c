/*
 * smtp_limits.h - abuse limits of the smtpd process as pure counters:
 * connections in total and per client IP, failed AUTH attempts per IP
 * (and the password checks in flight) with a ban, message and recipient
 * rates per key (a client IP or an authenticated login) per minute and
 * per hour, and the minimum data rate.
 * Time is passed in (seconds, monotonic); nothing here does I/O.
 */
#ifndef POSTBOTE_SMTP_LIMITS_H
#define POSTBOTE_SMTP_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#define LIMITS_KEY_MAX		330	/* "user:" + a login, "ip:" + IP */
#define LIMITS_MAX_ENTRIES	200000	/* beyond it new keys are untracked */

enum limits_conn {
	LIMITS_CONN_OK = 0,
	LIMITS_CONN_TOTAL,	/* max_connections reached */
	LIMITS_CONN_PER_IP,	/* max_connections_per_ip reached */
	LIMITS_CONN_BANNED,	/* too many failed AUTH: banned for a while */
};

enum limits_auth {
	LIMITS_AUTH_OK = 0,	/* check it; limits_auth_done must follow */
	LIMITS_AUTH_BANNED,	/* banned: no password is checked */
	LIMITS_AUTH_BUSY,	/* failures and checks in flight fill the
				 * budget: this one is not checked */
};

enum limits_rate { LIMITS_MESSAGES = 0, LIMITS_RECIPIENTS, LIMITS_NRATES };

struct limits;

struct limits *limits_new(void);
void	 limits_free(struct limits *);

/*
 * limits_conn_open - a connection from ip: counted when LIMITS_CONN_OK
 * (then limits_conn_close must follow), refused otherwise.  0 = no limit.
 */
enum limits_conn limits_conn_open(struct limits *, const char *ip,
	    uint64_t now, unsigned max_total, unsigned max_per_ip);
void	 limits_conn_close(struct limits *, const char *ip);
unsigned limits_conn_total(const struct limits *);
/*
 * limits_stressed - the server is near its connection limit: the open
 * connections reach percent of max_total (the idea of Postfix's stress
 * mode; the caller then lowers the per-IP share and the timeouts so that
 * a flood cannot take the last slots).  max_total 0: never.
 */
bool	 limits_stressed(const struct limits *, unsigned max_total,
	    unsigned percent);
/* limits_conn_count - the connections of ip that are counted now. */
unsigned limits_conn_count(struct limits *, const char *ip);

/*
 * limits_auth_failed - one failed AUTH from ip: returns the failures in
 * the current window (which starts at the first failure and lasts window
 * seconds).  Once they exceed max (0 = never), ip is banned until
 * now + ban_time.
 */
unsigned limits_auth_failed(struct limits *, const char *ip, uint64_t now,
	    uint64_t window, unsigned max, uint64_t ban_time);
bool	 limits_is_banned(struct limits *, const char *ip, uint64_t now);

/*
 * limits_auth_begin - may a password from ip be checked now?  The budget
 * of an IP is max + 1 checks per window (the last failure bans it), and
 * the checks still in flight, from all its sessions, count against it as
 * if they had failed: parallel sessions cannot get more guesses than one
 * session gets one after the other.  LIMITS_AUTH_OK counts the check in
 * flight (limits_auth_done must follow, then limits_auth_failed if the
 * password was wrong).  max 0: never banned, always OK.
 */
enum limits_auth limits_auth_begin(struct limits *, const char *ip,
	    uint64_t now, uint64_t window, unsigned max);
/* limits_auth_done - a check limits_auth_begin allowed has its answer. */
void	 limits_auth_done(struct limits *, const char *ip);

/*
 * limits_rate_take - count n messages or recipients for key if that keeps
 * it within per_minute and per_hour (0 = no limit) in the current minute
 * and hour windows; returns false, counting nothing, if it would not.
 */
bool	 limits_rate_take(struct limits *, const char *key,
	    enum limits_rate, uint64_t now, unsigned n, unsigned per_minute,
	    unsigned per_hour);

/* limits_sweep - forget keys with no connection, ban or window left. */
void	 limits_sweep(struct limits *, uint64_t now, uint64_t keep);
unsigned limits_entries(const struct limits *);

/* limits_data_rate_ok - bytes over elapsed seconds is at least min_rate
 * bytes/s (min_rate 0 or elapsed 0: always). */
bool	 limits_data_rate_ok(uint64_t bytes, uint64_t elapsed,
	    uint64_t min_rate);

#endif
