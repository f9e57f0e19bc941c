/*
 * stats.h - the server's counters, shared by its processes: one region of
 * memory that the parent makes before the first child starts (a memfd
 * every child maps, MAP_SHARED), so that every process counts its own
 * events with atomic adds and the queue process reads them all for
 * /metrics and the status page.  The counters live as long as the parent:
 * a child that restarts goes on counting where its predecessor stopped.
 * Outside "postbote serve" (the CLI, the unit tests, the fuzzers) nothing
 * is mapped and every call is a no-op.
 */
#ifndef POSTBOTE_STATS_H
#define POSTBOTE_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum stats_counter {
	STATS_CONNECTIONS = 0,	/* SMTP connections accepted */
	STATS_CONNECTIONS_TLS,	/* of them, with a TLS handshake done */
	STATS_RECEIVED,		/* messages committed from SMTP */
	STATS_SUBMITTED,	/* messages committed from postbote send */
	STATS_DELIVERED,	/* recipients: sent */
	STATS_DEFERRED,		/* recipients: deferred (each attempt) */
	STATS_BOUNCED,		/* recipients: failed */
	STATS_EXPIRED,		/* recipients: queue_lifetime passed */
	STATS_OUT_CONNECTIONS,	/* SMTP client connections set up */
	STATS_OUT_TLS,		/* of them, with TLS */
	STATS_NCOUNTERS
};

enum stats_reject {
	STATS_REJ_UNKNOWN_USER = 0,
	STATS_REJ_RELAY_DENIED,
	STATS_REJ_SENDER_NOT_OWNED,
	STATS_REJ_CONTENT,	/* bare CR/LF, NUL, size */
	STATS_REJ_POLICY,	/* SPF, DMARC, ... at the end of data */
	STATS_NREJECTS
};

enum stats_auth { STATS_SPF = 0, STATS_DKIM, STATS_DMARC, STATS_NAUTH };

/* the results an SPF, DKIM or DMARC check ends in (RFC 8601 words) */
#define STATS_NRESULTS		9
#define STATS_LATENCY_BUCKETS	10	/* delivery delays, +Inf last */
#define STATS_HOURS		24	/* throughput, an hour a slot */
#define STATS_NREJECT_LOG	32	/* the last refusals, for the page */
#define STATS_NFAIL_LOG		256	/* the last deferrals and bounces */
#define STATS_NPROC		5	/* PROC_PARENT .. PROC_MAX - 1 */

struct stats_hour {
	uint64_t	 hour;		/* time(NULL) / 3600 of the slot */
	uint64_t	 received;
	uint64_t	 delivered;
};

/* one line of the recent refusals or failures */
struct stats_event {
	uint64_t	 seq;		/* 0 = empty or being written */
	int64_t		 when;		/* time(NULL) */
	int		 kind;		/* enum stats_reject, or 1 = bounced
					 * and 0 = deferred */
	char		 text[240];	/* escaped for logs */
};

struct stats {
	uint64_t	 started;	/* time(NULL) of the parent's start */
	uint64_t	 counters[STATS_NCOUNTERS];
	uint64_t	 rejects[STATS_NREJECTS];
	uint64_t	 auth[STATS_NAUTH][STATS_NRESULTS];
	uint64_t	 latency[STATS_LATENCY_BUCKETS];	/* not cumulative */
	uint64_t	 latency_usec;	/* their sum */
	int64_t		 pid[STATS_NPROC];
	uint64_t	 rss[STATS_NPROC];	/* bytes, by the parent */
	struct stats_hour hours[STATS_HOURS];
	uint64_t	 reject_seq;
	struct stats_event reject_log[STATS_NREJECT_LOG];
	uint64_t	 fail_seq;
	struct stats_event fail_log[STATS_NFAIL_LOG];
};

/* The bucket bounds of the delivery delay, in seconds (the last is +Inf),
 * and the words of the SPF/DKIM/DMARC results. */
extern const double		 stats_latency_bounds[STATS_LATENCY_BUCKETS];
extern const char *const	 stats_result_words[STATS_NRESULTS];

/* stats_create - in the parent, before the first child: the region; its
 * descriptor (for the children), or -1 with errno. */
int	 stats_create(void);
/* stats_attach - in a child: map the parent's region; -1 with errno. */
int	 stats_attach(int fd);
/* stats_get - the region, or NULL outside the server. */
const struct stats *stats_get(void);

void	 stats_add(enum stats_counter c);
/* stats_reject - count a refusal; text (the reply, or a line saying who
 * and why, escaped) goes to the page's list of recent refusals. */
void	 stats_reject(enum stats_reject r, const char *text);
/* stats_auth_result - count a check's result word ("pass", "fail", ...);
 * an unknown word is not counted. */
void	 stats_auth_result(enum stats_auth a, const char *result);
/* stats_failure - a recipient deferred or bounced, and why (the reply,
 * escaped), for the page's top reasons. */
void	 stats_failure(bool bounced, const char *why);
/* stats_delivery - a recipient's delay from arrival to delivery. */
void	 stats_delivery(double seconds);
/* stats_set_process - the parent's view of process id: pid, rss. */
void	 stats_set_process(int id, pid_t pid, uint64_t rss);

#endif
