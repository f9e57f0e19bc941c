/*
 * conf.h - the configuration: one table of keys with types, defaults and
 * bounds (docs/config.md), a hand-written parser, and the immutable
 * struct conf every process reads.  The parser is pure (text in, struct
 * out); conf_load() is the only function here that reads files.
 */
#ifndef POSTBOTE_CONF_H
#define POSTBOTE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mail/dnsbl.h"

/* The config read when none is named; "make SYSCONFDIR=DIR" moves it. */
#ifndef CONF_DEFAULT_PATH
#define CONF_DEFAULT_PATH	"/etc/postbote/postbote.conf"
#endif

enum listen_mode { LISTEN_MX = 0, LISTEN_SUBMISSION, LISTEN_SUBMISSIONS };
enum route_tls { ROUTE_TLS_NONE = 0, ROUTE_TLS_MAY, ROUTE_TLS_REQUIRE,
	ROUTE_TLS_IMPLICIT, ROUTE_TLS_VERIFY, ROUTE_TLS_DANE, ROUTE_TLS_STS };
enum policy_spf { SPF_POLICY_RECORD = 0, SPF_POLICY_REJECT };
enum policy_dmarc { DMARC_POLICY_RECORD = 0, DMARC_POLICY_ENFORCE };
enum policy_bare_lf { BARE_LF_NORMALIZE = 0, BARE_LF_REJECT };
enum dnsbl_reject { DNSBL_REJECT_RCPT = 0, DNSBL_REJECT_CONNECT };
enum log_format { LOG_FORMAT_POSTBOTE = 0, LOG_FORMAT_POSTFIX };

struct conf_net {			/* one relay_networks entry */
	int		 family;	/* AF_INET or AF_INET6 */
	unsigned char	 addr[16];	/* network address, host bits zero */
	unsigned	 prefix;	/* 0-32 or 0-128 */
};

struct conf_listen {
	char		*name;
	char		*host;		/* "0.0.0.0", "::1", "127.0.0.1" */
	uint16_t	 port;
	enum listen_mode mode;
	int		 hold;		/* 0/1: every message goes on hold */
};

struct conf_route {
	char		*domain;	/* lower-case, or "*" */
	char		*host;		/* relay host name or address */
	uint16_t	 port;		/* 0 = not given */
	enum route_tls	 tls;
	char		*auth_user;	/* NULL = no AUTH */
	char		*auth_file;
};

/* Where the mail of a local domain goes (deliver = ...). */
enum conf_deliver_kind { CONF_DELIVER_MAILDIR = 0, CONF_DELIVER_LMTP_UNIX,
	CONF_DELIVER_LMTP_INET };

struct conf_deliver {			/* also a Dovecot auth socket */
	enum conf_deliver_kind kind;
	char		*target;	/* "lmtp:unix:/run/dovecot/lmtp",
					 * "lmtp:127.0.0.1:24",
					 * "dovecot:unix:PATH"; NULL = maildir
					 * or off */
	char		*host;		/* the socket path, or an IP address */
	uint16_t	 port;		/* LMTP over TCP */
};

struct conf_domain {			/* [domain NAME]: one local domain */
	char			*domain;	/* lower-case, one of domains */
	struct conf_deliver	 deliver;
};

struct conf_dkim {
	char		*domain;
	char		*selector;
	char		*key;		/* path of the PEM private key */
};

/* tls_protocols bits */
#define CONF_TLS_V1_0	0x01u
#define CONF_TLS_V1_1	0x02u
#define CONF_TLS_V1_2	0x04u
#define CONF_TLS_V1_3	0x08u

/* [milter NAME]: a Sendmail milter (protocol 6), in the file's order. */
enum conf_milter_action { MILTER_DEFAULT_TEMPFAIL = 0, MILTER_DEFAULT_ACCEPT };

struct conf_milter {
	char		*name;
	char		*socket;	/* "unix:/run/x.sock", "inet:127.0.0.1:11332" */
	bool		 is_unix;
	char		*path;		/* unix: the socket path */
	char		*host;		/* inet: an IP address */
	uint16_t	 port;
	char		**listeners;	/* listener names; none = every one */
	size_t		 nlisteners;
	uint64_t	 connect_timeout;	/* seconds */
	uint64_t	 command_timeout;
	uint64_t	 content_timeout;
	enum conf_milter_action default_action;
};

struct conf_tls {			/* [tls NAME]: a certificate for SNI */
	char		*name;		/* lower-case; may be "*.example.com" */
	char		*cert;		/* PEM chain file */
	char		*key;		/* PEM private key file */
};

struct conf {
	char		*path;		/* file it came from; NULL = embedded */
	char		*hostname;
	char		**domains;	/* lower-case; ndomains entries */
	size_t		 ndomains;
	char		*state_dir;
	char		*mailbox;	/* template with %d %u; see config.md */
	char		*users;		/* path or NULL */
	char		*aliases;	/* path or NULL */
	char		 recipient_delimiter;	/* '\0' = none */
	char		*postmaster;	/* address, or NULL: root's alias */
	struct conf_net	*relay_networks;
	size_t		 nrelay_networks;
	struct conf_net	*debug_peers;	/* SMTP transcripts in the log */
	size_t		 ndebug_peers;
	uint64_t	 max_message_size;
	unsigned	 max_recipients;
	char		*tls_cert, *tls_key;
	unsigned	 tls_protocols;	/* CONF_TLS_V*, a contiguous range */
	char		*tls_ciphers;	/* OpenSSL cipher list, TLS <= 1.2 */
	char		*tls_ciphersuites;	/* TLS 1.3 suites */
	char		**resolvers;	/* "ip" or "ip:port" / "[v6]:port" */
	size_t		 nresolvers;
	int		 dnssec_resolver;	/* 0/1: trust their AD bit */
	int		 tlsrpt;	/* 0/1: record and report TLS
					 * outcomes (RFC 8460) */
	char		*tlsrpt_organization;	/* NULL: hostname */
	char		*tlsrpt_contact;	/* NULL: postmaster@hostname */
	char		*tlsrpt_from;	/* NULL: postmaster@hostname */
	uint16_t	 smtp_port;
	uint64_t	*retry;		/* seconds; nretry entries, >= 1 */
	size_t		 nretry;
	uint64_t	 queue_lifetime;	/* seconds */
	uint64_t	 delay_warning;		/* seconds, 0 = no warnings */
	enum policy_spf	 spf_policy;
	enum policy_dmarc dmarc_policy;
	enum policy_bare_lf bare_lf;	/* LF-only lines in DATA and BDAT */
	char		*user;
	char		*smtpd_user;	/* smtpd's own, never user */
	char		*log;		/* "stderr", "syslog" or a path */
	enum log_format	 log_format;	/* the shape of a message's lines */
	char		*metrics_host;	/* metrics_listen, NULL = none */
	uint16_t	 metrics_port;
	/* session limits and timeouts (seconds) */
	uint64_t	 command_timeout;
	uint64_t	 data_timeout;
	uint64_t	 greet_delay;
	unsigned	 max_errors;
	unsigned	 max_junk_commands;	/* NOOP, RSET... per message */
	unsigned	 max_commands_per_message;
	uint64_t	 max_session_time;	/* seconds, 0 = none */
	unsigned	 local_concurrency;
	unsigned	 remote_concurrency;	/* remote deliveries at a time */
	unsigned	 destination_concurrency;	/* per domain */
	unsigned	 max_received;	/* more Received: headers: a loop */
	uint64_t	 smtp_client_timeout;	/* caps the client's timeouts; 0 =
					 * RFC 5321 4.5.3.2 values */
	uint64_t	 smtp_idle_time;	/* keep an idle connection open */
	char		*smtp_tls_ca;	/* CAs for tls = require; NULL = system */
	/* MTA-STS (RFC 8461) for outgoing mail */
	int		 mta_sts;	/* 0/1 */
	char		*mta_sts_ca;	/* CAs for the policy fetch; NULL =
					 * system */
	uint16_t	 mta_sts_port;	/* HTTPS port of mta-sts.DOMAIN */
	uint64_t	 mta_sts_timeout;	/* the whole policy fetch */
	struct conf_deliver deliver;	/* every local domain's, unless its
					 * [domain] says otherwise */
	unsigned	 lmtp_concurrency;	/* connections per LMTP server */
	/* Dovecot's auth service (target NULL = off): the auth-client
	 * socket that checks AUTH instead of users, the auth-userdb socket
	 * that checks local recipients delivered over LMTP */
	struct conf_deliver auth_backend;
	char		*auth_mechanisms;	/* offered besides PLAIN LOGIN,
					 * relayed to Dovecot: "CRAM-MD5
					 * SCRAM-SHA-256"; NULL = none */
	struct conf_deliver recipient_check;
	uint64_t	 recipient_check_cache;	/* seconds an answer is kept */
	bool		 any_local;	/* embedded defaults: every local part */
	/* AUTH and abuse limits (0 = no limit where a count) */
	int		 allow_plaintext_auth;	/* 0/1: AUTH without TLS */
	int		 sender_login_match;	/* 0/1: MAIL FROM owned */
	unsigned	 auth_max_failures;	/* per client IP in window */
	uint64_t	 auth_failure_window;	/* seconds */
	uint64_t	 auth_ban_time;		/* seconds */
	uint64_t	 auth_failure_delay;	/* seconds, times failures */
	unsigned	 max_connections;
	unsigned	 max_connections_per_ip;
	unsigned	 stress_threshold;	/* % of max_connections */
	unsigned	 stress_connections_per_ip;	/* under stress */
	uint64_t	 stress_command_timeout;	/* seconds */
	unsigned	 max_messages_per_session;
	unsigned	 max_recipients_per_session;
	unsigned	 rate_messages_per_minute;	/* per IP and per user */
	unsigned	 rate_messages_per_hour;
	unsigned	 rate_recipients_per_minute;
	unsigned	 rate_recipients_per_hour;
	uint64_t	 min_data_rate;		/* bytes/s in DATA, BDAT */
	uint64_t	 data_rate_window;	/* seconds it is measured over */
	/* spam defence (docs/spam.md) */
	struct dnsbl_site *dnsbl, *dnswl;	/* weighted lists */
	size_t		 ndnsbl, ndnswl;
	unsigned	 dnsbl_threshold;	/* a score this high is refused */
	enum dnsbl_reject dnsbl_reject;		/* at RCPT or at connect */
	uint64_t	 dnsbl_timeout;		/* seconds for all answers */
	int		 greylist;		/* 0/1 */
	uint64_t	 greylist_delay;	/* seconds */
	uint64_t	 greylist_retry_window;
	uint64_t	 greylist_expire;
	struct conf_net	*greylist_networks;	/* never greylisted */
	size_t		 ngreylist_networks;
	int		 greylist_spf_pass;	/* 0/1: SPF pass skips it */
	char		*junk_header;		/* field name, NULL = none */
	char		*junk_value;		/* its first word */
	char		*junk_folder;		/* Maildir++ name, NULL = none */

	struct conf_listen *listens;
	size_t		 nlistens;
	struct conf_route *routes;
	size_t		 nroutes;
	struct conf_dkim *dkims;
	size_t		 ndkims;
	struct conf_tls	*tlss;
	size_t		 ntlss;
	struct conf_domain *ldomains;	/* [domain NAME] sections */
	size_t		 nldomains;
	struct conf_milter *milters;	/* [milter NAME] sections, in order */
	size_t		 nmilters;
};

/*
 * conf_defaults - fill *c with the embedded defaults (DESIGN 4): hostname
 * from the system, domains = localhost, state_dir = ./var, the three
 * loopback listeners on 2525/2587/2465, any_local = true.
 */
/* The configuration every process reads, owned here; replaced whole on
 * reload.  Never keep a pointer into it across event-loop turns. */
extern struct conf *config;

void	 conf_defaults(struct conf *);

/*
 * conf_parse - parse a whole config file's text.  Starts from the
 * file defaults (like conf_defaults but state_dir /var/lib/postbote,
 * any_local false, and one mx listener on 0.0.0.0:25 unless the file has
 * [listen] sections: then exactly those).  Unknown keys and sections, bad
 * values, duplicates and out-of-range numbers are errors: returns -1 with
 * err set to "FILE:LINE:COL: KEY: reason".  On success returns 0 and *c
 * is complete; on failure *c is freed.
 */
int	 conf_parse(const char *text, size_t len, const char *filename,
	    struct conf *c, char *err, size_t errlen);

/*
 * conf_load - choose the file (path if not NULL, else $POSTBOTE_CONF, else
 * CONF_DEFAULT_PATH if it exists, else embedded defaults; path "" is the
 * embedded defaults whatever files exist), read and parse it.  Returns 0
 * or -1 with err set.
 */
int	 conf_load(const char *path, struct conf *c, char *err, size_t errlen);

void	 conf_free(struct conf *);
/*
 * conf_base_dir - the folder relative config paths are taken from: the
 * working directory of the first config parsed in this process, fixed
 * now when none was parsed yet.  Static storage.
 */
const char *conf_base_dir(void);
/*
 * conf_set_base_dir - take relative paths from dir (absolute) from now
 * on: a child that re-executes the binary gets its parent's base, so
 * that the same config text means the same files in both.
 */
void	 conf_set_base_dir(const char *dir);
/*
 * conf_state_relative - path (a file or a template) relative to
 * state_dir when it lies inside it, else path itself.  The children work
 * in state_dir (common/proc.c), so such paths never cross the folders
 * above it, which may be private (a checkout in /root).  Points into path.
 */
const char *conf_state_relative(const struct conf *, const char *path);

/* conf_is_local_domain - case-insensitive match against domains. */
bool	 conf_is_local_domain(const struct conf *, const char *domain);
/*
 * conf_deliver_of - how mail for the local domain is delivered: its
 * [domain] section's deliver, else the global one.  Points into c.
 */
const struct conf_deliver *conf_deliver_of(const struct conf *c,
	    const char *domain);
/* conf_milter_applies - does [milter] m run on listener idx? */
bool	 conf_milter_applies(const struct conf *, const struct conf_milter *m,
	    int listen_idx);

/*
 * conf_recipient_checked - does Dovecot decide which local parts of
 * domain exist (recipient_check set, and domain delivered over LMTP)?
 */
bool	 conf_recipient_checked(const struct conf *c, const char *domain);

struct sockaddr_storage;
/* conf_deliver_sockaddr - the address of an LMTP server or Dovecot
 * socket (its host is a checked path or IP address); returns its length. */
socklen_t conf_deliver_sockaddr(const struct conf_deliver *,
	    struct sockaddr_storage *);
/* conf_relay_allowed - is the client address inside relay_networks? */
bool	 conf_relay_allowed(const struct conf *, const struct sockaddr *);
/* conf_nets_match - is the address inside one of nets[0..n)? */
bool	 conf_nets_match(const struct conf_net *nets, size_t n,
	    const struct sockaddr *);
/* conf_parse_duration / conf_parse_size - "30s 5m 4h 5d" / "512K 25M";
 * a bare number is seconds / bytes.  0 or -1 on error. */
int	 conf_parse_duration(const char *, uint64_t *);
int	 conf_parse_size(const char *, uint64_t *);
/* conf_parse_net - "192.0.2.0/24", "::1/128", "10.1.2.3" (host). */
int	 conf_parse_net(const char *, struct conf_net *);
/* conf_parse_hostport - "host:port", "[v6]:port"; port 1-65535 required
 * when need_port, else *port = 0 when absent.  *host is allocated. */
int	 conf_parse_hostport(const char *, bool need_port, char **host,
	    uint16_t *port);
const char *conf_listen_mode_str(enum listen_mode);

#endif
