/*
 * conf.c - the configuration: the one table of keys (name, type, default,
 * bounds), a hand-written lexer and recursive-descent parser for the
 * grammar in docs/config.md, the checks that tie keys together, and the
 * lookups every process makes on the finished struct conf.
 *
 * Runs in the parent at start and at reload; children get the result.
 * Trust: the file is the administrator's, but it is read as if hostile.
 * Every byte is classified, every number is overflow- and range-checked,
 * nothing is expanded or executed, and the first error stops the load
 * with FILE:LINE:COL.  No global state: a parse is one struct parser on
 * the stack.  Only conf_load() reads a file (at most CONF_FILE_MAX bytes);
 * the parser asks the system for nothing but gethostname().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/buf.h"
#include "mail/addr.h"
#include "common/conf.h"
#include "lib/log.h"
#include "lib/util.h"

#define CONF_FILE_MAX	(1024 * 1024)	/* bytes; larger files are refused */
#define LIST_MAX	10000		/* words in one value */
#define SECTION_MAX	1000		/* sections of one kind (bounds the
					   quadratic duplicate checks) */
#define WHY_MAX		256		/* reason part of an error */
#define NAME_MAX_LEN	64		/* [listen NAME], user = NAME */

#define KIB		1024ull
#define MINUTE		60ull
#define HOUR		(60 * MINUTE)
#define DAY		(24 * HOUR)

enum scope { SC_GLOBAL = 0, SC_LISTEN, SC_ROUTE, SC_DKIM, SC_TLS,
	SC_DOMAIN, SC_MILTER };

enum ktype {
	T_DOMAIN, T_DOMAINS, T_PATH, T_MAILBOX, T_DELIM, T_NETS, T_UINT,
	T_PORT, T_SIZE, T_DURATION, T_DURLIST, T_ENUM, T_USER, T_LOG,
	T_RESOLVERS, T_LISTEN_ADDR, T_HOSTPORT, T_AUTH, T_STRING, T_TLSPROTO,
	T_ADDRESS, T_DELIVER, T_DNSBL, T_JUNK_HEADER, T_MILTER_SOCKET, T_NAMES,
	T_DOVECOT, T_MECHS
};

#define K_REQUIRED	0x01	/* the section is incomplete without it */
#define K_EMPTY_OK	0x02	/* "key =" means none (NULL) */

struct conf_key {
	enum scope	 scope;
	const char	*name;
	enum ktype	 type;
	const char	*def;		/* parsed like file text; NULL = none */
	uint64_t	 min, max;	/* numbers: bytes, seconds or plain */
	unsigned	 flags;
	size_t		 off, off2;	/* field; its count, port or 2nd word */
	const char *const *words;	/* T_ENUM: value i is words[i] */
};

struct conf	*config;

/*
 * The folder relative paths are taken from: the working directory of the
 * first config parsed in this process (the parent's, which the children
 * inherit).  Paths are made absolute as they are parsed, so that they
 * mean the same files in the children, which work inside state_dir.
 */
static char	*base_dir;

static const char *const w_spf[] = { "record", "reject", NULL };
static const char *const w_dmarc[] = { "record", "enforce", NULL };
static const char *const w_bare_lf[] = { "normalize", "reject", NULL };
static const char *const w_mode[] = { "mx", "submission", "submissions",
	NULL };
static const char *const w_tls[] = { "none", "may", "require", "implicit",
	"verify", "dane", "sts", NULL };
static const char *const w_bool[] = { "no", "yes", NULL };
static const char *const w_dnsbl_reject[] = { "rcpt", "connect", NULL };
static const char *const w_milter_action[] = { "tempfail", "accept", NULL };
static const char *const w_log_format[] = { "postbote", "postfix", NULL };

#define G(f)	SC_GLOBAL, #f
#define GO(f)	offsetof(struct conf, f)
#define LO(f)	offsetof(struct conf_listen, f)
#define RO(f)	offsetof(struct conf_route, f)
#define DO(f)	offsetof(struct conf_dkim, f)
#define TO(f)	offsetof(struct conf_tls, f)
#define MO(f)	offsetof(struct conf_domain, f)
#define FO(f)	offsetof(struct conf_milter, f)

/* Every key, once.  docs/config.md describes the same table. */
static const struct conf_key keys[] = {
	{ G(hostname), T_DOMAIN, NULL, 0, 0, 0, GO(hostname), 0, NULL },
	{ G(domains), T_DOMAINS, "localhost", 0, 0, 0, GO(domains),
	    GO(ndomains), NULL },
	{ G(state_dir), T_PATH, "/var/lib/postbote", 0, 0, 0, GO(state_dir),
	    0, NULL },
	{ G(mailbox), T_MAILBOX, "", 0, 0, 0, GO(mailbox), 0, NULL },
	{ G(users), T_PATH, NULL, 0, 0, K_EMPTY_OK, GO(users), 0, NULL },
	{ G(aliases), T_PATH, NULL, 0, 0, K_EMPTY_OK, GO(aliases), 0, NULL },
	{ G(recipient_delimiter), T_DELIM, "+", 0, 0, 0,
	    GO(recipient_delimiter), 0, NULL },
	{ G(postmaster), T_ADDRESS, NULL, 0, 0, K_EMPTY_OK, GO(postmaster), 0,
	    NULL },
	{ G(relay_networks), T_NETS, "127.0.0.0/8 ::1/128", 0, 0, 0,
	    GO(relay_networks), GO(nrelay_networks), NULL },
	{ G(debug_peers), T_NETS, NULL, 0, 0, 0, GO(debug_peers),
	    GO(ndebug_peers), NULL },
	{ G(max_message_size), T_SIZE, "25M", KIB, 2 * KIB * KIB * KIB, 0,
	    GO(max_message_size), 0, NULL },
	{ G(max_recipients), T_UINT, "1000", 1, 100000, 0,
	    GO(max_recipients), 0, NULL },
	{ G(tls_cert), T_PATH, NULL, 0, 0, K_EMPTY_OK, GO(tls_cert), 0, NULL },
	{ G(tls_key), T_PATH, NULL, 0, 0, K_EMPTY_OK, GO(tls_key), 0, NULL },
	{ G(tls_protocols), T_TLSPROTO, "TLSv1.2 TLSv1.3", 0, 0, 0,
	    GO(tls_protocols), 0, NULL },
	{ G(tls_ciphers), T_STRING, "ECDHE+AESGCM:ECDHE+CHACHA20", 0, 0, 0,
	    GO(tls_ciphers), 0, NULL },
	{ G(tls_ciphersuites), T_STRING, "TLS_AES_256_GCM_SHA384:"
	    "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256", 0, 0, 0,
	    GO(tls_ciphersuites), 0, NULL },
	{ SC_GLOBAL, "resolver", T_RESOLVERS, NULL, 0, 0, 0, GO(resolvers),
	    GO(nresolvers), NULL },
	{ G(dnssec_resolver), T_ENUM, "no", 0, 0, 0, GO(dnssec_resolver), 0,
	    w_bool },
	{ G(tlsrpt), T_ENUM, "no", 0, 0, 0, GO(tlsrpt), 0, w_bool },
	{ G(tlsrpt_organization), T_STRING, NULL, 0, 0, K_EMPTY_OK,
	    GO(tlsrpt_organization), 0, NULL },
	{ G(tlsrpt_contact), T_STRING, NULL, 0, 0, K_EMPTY_OK,
	    GO(tlsrpt_contact), 0, NULL },
	{ G(tlsrpt_from), T_ADDRESS, NULL, 0, 0, K_EMPTY_OK, GO(tlsrpt_from),
	    0, NULL },
	{ G(smtp_port), T_PORT, "25", 1, 65535, 0, GO(smtp_port), 0, NULL },
	{ G(retry), T_DURLIST, "5m 10m 30m 1h 2h 4h", 1, 7 * DAY, 0,
	    GO(retry), GO(nretry), NULL },
	{ G(queue_lifetime), T_DURATION, "5d", 1, 60 * DAY, 0,
	    GO(queue_lifetime), 0, NULL },
	{ G(delay_warning), T_DURATION, "4h", 0, 60 * DAY, 0,
	    GO(delay_warning), 0, NULL },
	{ G(spf_policy), T_ENUM, "record", 0, 0, 0, GO(spf_policy), 0,
	    w_spf },
	{ G(dmarc_policy), T_ENUM, "enforce", 0, 0, 0, GO(dmarc_policy), 0,
	    w_dmarc },
	{ G(bare_lf), T_ENUM, "normalize", 0, 0, 0, GO(bare_lf), 0,
	    w_bare_lf },
	{ G(user), T_USER, "postbote", 0, 0, 0, GO(user), 0, NULL },
	{ G(smtpd_user), T_USER, "postbote-smtpd", 0, 0, 0, GO(smtpd_user), 0,
	    NULL },
	{ G(log), T_LOG, "stderr", 0, 0, 0, GO(log), 0, NULL },
	{ G(metrics_listen), T_LISTEN_ADDR, NULL, 0, 0, 0, GO(metrics_host),
	    GO(metrics_port), NULL },
	{ G(log_format), T_ENUM, "postbote", 0, 0, 0, GO(log_format), 0,
	    w_log_format },
	{ G(command_timeout), T_DURATION, "5m", 1, HOUR, 0,
	    GO(command_timeout), 0, NULL },
	{ G(data_timeout), T_DURATION, "10m", 1, HOUR, 0, GO(data_timeout),
	    0, NULL },
	{ G(greet_delay), T_DURATION, "0s", 0, MINUTE, 0, GO(greet_delay), 0,
	    NULL },
	{ G(max_errors), T_UINT, "10", 1, 1000, 0, GO(max_errors), 0, NULL },
	{ G(max_junk_commands), T_UINT, "200", 0, 1000000, 0,
	    GO(max_junk_commands), 0, NULL },
	{ G(max_commands_per_message), T_UINT, "5000", 0, 10000000, 0,
	    GO(max_commands_per_message), 0, NULL },
	{ G(max_session_time), T_DURATION, "1h", 0, 7 * DAY, 0,
	    GO(max_session_time), 0, NULL },
	{ G(local_concurrency), T_UINT, "20", 1, 1000, 0,
	    GO(local_concurrency), 0, NULL },
	{ G(allow_plaintext_auth), T_ENUM, "no", 0, 0, 0,
	    GO(allow_plaintext_auth), 0, w_bool },
	{ G(sender_login_match), T_ENUM, "yes", 0, 0, 0,
	    GO(sender_login_match), 0, w_bool },
	{ G(auth_max_failures), T_UINT, "10", 0, 100000, 0,
	    GO(auth_max_failures), 0, NULL },
	{ G(auth_failure_window), T_DURATION, "10m", 1, DAY, 0,
	    GO(auth_failure_window), 0, NULL },
	{ G(auth_ban_time), T_DURATION, "1h", 1, 7 * DAY, 0,
	    GO(auth_ban_time), 0, NULL },
	{ G(auth_failure_delay), T_DURATION, "1s", 0, MINUTE, 0,
	    GO(auth_failure_delay), 0, NULL },
	{ G(max_connections), T_UINT, "1000", 0, 1000000, 0,
	    GO(max_connections), 0, NULL },
	{ G(max_connections_per_ip), T_UINT, "50", 0, 1000000, 0,
	    GO(max_connections_per_ip), 0, NULL },
	{ G(stress_threshold), T_UINT, "80", 1, 100, 0, GO(stress_threshold),
	    0, NULL },
	{ G(stress_connections_per_ip), T_UINT, "10", 0, 1000000, 0,
	    GO(stress_connections_per_ip), 0, NULL },
	{ G(stress_command_timeout), T_DURATION, "10s", 1, HOUR, 0,
	    GO(stress_command_timeout), 0, NULL },
	{ G(max_messages_per_session), T_UINT, "1000", 0, 1000000, 0,
	    GO(max_messages_per_session), 0, NULL },
	{ G(max_recipients_per_session), T_UINT, "10000", 0, 10000000, 0,
	    GO(max_recipients_per_session), 0, NULL },
	{ G(rate_messages_per_minute), T_UINT, "60", 0, 10000000, 0,
	    GO(rate_messages_per_minute), 0, NULL },
	{ G(rate_messages_per_hour), T_UINT, "1000", 0, 10000000, 0,
	    GO(rate_messages_per_hour), 0, NULL },
	{ G(rate_recipients_per_minute), T_UINT, "300", 0, 10000000, 0,
	    GO(rate_recipients_per_minute), 0, NULL },
	{ G(rate_recipients_per_hour), T_UINT, "5000", 0, 10000000, 0,
	    GO(rate_recipients_per_hour), 0, NULL },
	{ G(min_data_rate), T_SIZE, "256", 0, 1024 * KIB * KIB, 0,
	    GO(min_data_rate), 0, NULL },
	{ G(data_rate_window), T_DURATION, "30s", 1, HOUR, 0,
	    GO(data_rate_window), 0, NULL },
	{ G(remote_concurrency), T_UINT, "20", 1, 1000, 0,
	    GO(remote_concurrency), 0, NULL },
	{ G(destination_concurrency), T_UINT, "4", 1, 1000, 0,
	    GO(destination_concurrency), 0, NULL },
	{ G(max_received), T_UINT, "50", 1, 1000, 0, GO(max_received), 0,
	    NULL },
	{ G(smtp_client_timeout), T_DURATION, "0s", 0, HOUR, 0,
	    GO(smtp_client_timeout), 0, NULL },
	{ G(smtp_tls_ca), T_PATH, NULL, 0, 0, K_EMPTY_OK, GO(smtp_tls_ca), 0,
	    NULL },
	{ G(mta_sts), T_ENUM, "yes", 0, 0, 0, GO(mta_sts), 0, w_bool },
	{ G(mta_sts_ca), T_PATH, NULL, 0, 0, K_EMPTY_OK, GO(mta_sts_ca), 0,
	    NULL },
	{ G(mta_sts_port), T_PORT, "443", 1, 65535, 0, GO(mta_sts_port), 0,
	    NULL },
	{ G(mta_sts_timeout), T_DURATION, "30s", 1, 10 * MINUTE, 0,
	    GO(mta_sts_timeout), 0, NULL },
	{ G(smtp_idle_time), T_DURATION, "5s", 0, HOUR, 0,
	    GO(smtp_idle_time), 0, NULL },
	{ G(deliver), T_DELIVER, "maildir", 0, 0, 0, GO(deliver), 0, NULL },
	{ G(lmtp_concurrency), T_UINT, "10", 1, 1000, 0,
	    GO(lmtp_concurrency), 0, NULL },
	{ G(dnsbl), T_DNSBL, "", 0, 0, 0, GO(dnsbl), GO(ndnsbl), NULL },
	{ G(dnswl), T_DNSBL, "", 0, 0, 0, GO(dnswl), GO(ndnswl), NULL },
	{ G(dnsbl_threshold), T_UINT, "1", 1, 100000, 0,
	    GO(dnsbl_threshold), 0, NULL },
	{ G(dnsbl_reject), T_ENUM, "rcpt", 0, 0, 0, GO(dnsbl_reject), 0,
	    w_dnsbl_reject },
	{ G(dnsbl_timeout), T_DURATION, "10s", 1, MINUTE, 0,
	    GO(dnsbl_timeout), 0, NULL },
	{ G(greylist), T_ENUM, "no", 0, 0, 0, GO(greylist), 0, w_bool },
	{ G(greylist_delay), T_DURATION, "5m", 0, DAY, 0, GO(greylist_delay),
	    0, NULL },
	{ G(greylist_retry_window), T_DURATION, "24h", 1, 30 * DAY, 0,
	    GO(greylist_retry_window), 0, NULL },
	{ G(greylist_expire), T_DURATION, "35d", 1, 365 * DAY, 0,
	    GO(greylist_expire), 0, NULL },
	{ G(greylist_networks), T_NETS, "", 0, 0, 0, GO(greylist_networks),
	    GO(ngreylist_networks), NULL },
	{ G(greylist_spf_pass), T_ENUM, "no", 0, 0, 0, GO(greylist_spf_pass),
	    0, w_bool },
	{ G(junk_header), T_JUNK_HEADER, "X-Spam: yes", 0, 0, K_EMPTY_OK,
	    GO(junk_header), GO(junk_value), NULL },
	{ G(junk_folder), T_STRING, "Junk", 0, 0, K_EMPTY_OK, GO(junk_folder),
	    0, NULL },
	{ G(auth_backend), T_DOVECOT, "users", 0, 0, 0, GO(auth_backend), 0,
	    NULL },
	{ G(auth_mechanisms), T_MECHS, NULL, 0, 0, K_EMPTY_OK,
	    GO(auth_mechanisms), 0, NULL },
	{ G(recipient_check), T_DOVECOT, "none", 0, 0, 0,
	    GO(recipient_check), 0, NULL },
	{ G(recipient_check_cache), T_DURATION, "60s", 0, HOUR, 0,
	    GO(recipient_check_cache), 0, NULL },

	{ SC_LISTEN, "address", T_LISTEN_ADDR, NULL, 0, 0, K_REQUIRED,
	    LO(host), LO(port), NULL },
	{ SC_LISTEN, "mode", T_ENUM, "mx", 0, 0, 0, LO(mode), 0, w_mode },
	{ SC_LISTEN, "hold", T_ENUM, "no", 0, 0, 0, LO(hold), 0, w_bool },

	{ SC_ROUTE, "host", T_HOSTPORT, NULL, 0, 0, K_REQUIRED, RO(host),
	    RO(port), NULL },
	{ SC_ROUTE, "tls", T_ENUM, "may", 0, 0, 0, RO(tls), 0, w_tls },
	{ SC_ROUTE, "auth", T_AUTH, NULL, 0, 0, 0, RO(auth_user),
	    RO(auth_file), NULL },

	{ SC_DKIM, "selector", T_DOMAIN, NULL, 0, 0, K_REQUIRED,
	    DO(selector), 0, NULL },
	{ SC_DKIM, "key", T_PATH, NULL, 0, 0, K_REQUIRED, DO(key), 0, NULL },

	{ SC_TLS, "cert", T_PATH, NULL, 0, 0, K_REQUIRED, TO(cert), 0, NULL },
	{ SC_TLS, "key", T_PATH, NULL, 0, 0, K_REQUIRED, TO(key), 0, NULL },

	{ SC_DOMAIN, "deliver", T_DELIVER, NULL, 0, 0, K_REQUIRED,
	    MO(deliver), 0, NULL },

	{ SC_MILTER, "socket", T_MILTER_SOCKET, NULL, 0, 0, K_REQUIRED,
	    FO(socket), 0, NULL },
	{ SC_MILTER, "listeners", T_NAMES, NULL, 0, 0, K_EMPTY_OK,
	    FO(listeners), FO(nlisteners), NULL },
	{ SC_MILTER, "connect_timeout", T_DURATION, "30s", 1, HOUR, 0,
	    FO(connect_timeout), 0, NULL },
	{ SC_MILTER, "command_timeout", T_DURATION, "30s", 1, HOUR, 0,
	    FO(command_timeout), 0, NULL },
	{ SC_MILTER, "content_timeout", T_DURATION, "300s", 1, HOUR, 0,
	    FO(content_timeout), 0, NULL },
	{ SC_MILTER, "default_action", T_ENUM, "tempfail", 0, 0, 0,
	    FO(default_action), 0, w_milter_action },
};

#define NKEYS	NELEM(keys)
_Static_assert(sizeof(enum policy_spf) == sizeof(int) &&
    sizeof(enum policy_dmarc) == sizeof(int) &&
    sizeof(enum policy_bare_lf) == sizeof(int) &&
    sizeof(enum log_format) == sizeof(int) &&
    sizeof(enum listen_mode) == sizeof(int) &&
    sizeof(enum route_tls) == sizeof(int) &&
    sizeof(enum conf_milter_action) == sizeof(int), "T_ENUM stores an int");

static const char *const scope_names[] = { "", "listen", "route", "dkim",
	"tls", "domain", "milter" };
#define SC_LAST		SC_MILTER
#define SC_WORDS	"listen, route, dkim, tls, domain or milter"

#define DUR_UNITS	"smhdw"
#define SIZE_UNITS	"KMGkmg"
static const uint64_t	 dur_mult[] = { 1, MINUTE, HOUR, DAY, 7 * DAY };
static const uint64_t	 size_mult[] = { KIB, KIB * KIB, KIB * KIB * KIB,
	KIB, KIB * KIB, KIB * KIB * KIB };

/* Lexer: turns bytes into tokens; keeps line and line start for columns. */
enum tok { TK_EOF, TK_EOL, TK_WORD, TK_EQ, TK_LBRACK, TK_RBRACK, TK_BAD };

struct pos {
	unsigned	 line, col;
};

struct token {
	enum tok	 type;
	const char	*s;
	size_t		 len;
	struct pos	 at;
};

struct lexer {
	const char	*p, *end;
	const char	*bol;		/* first byte of the current line */
	unsigned	 line;
};

struct parser {
	struct lexer	 lx;
	const char	*file;
	struct conf	*c;
	char		*err;
	size_t		 errlen;
	enum scope	 scope;		/* section being read */
	size_t		 sidx;		/* its index in listens/routes/dkims */
	char		 sname[80];	/* "[kind name]" for messages */
	struct pos	 shdr;		/* where its header is */
	bool		 gseen[NKEYS], sseen[NKEYS];	/* keys[i] given */
	struct pos	 gpos[NKEYS], spos[NKEYS];
};

typedef int (*set_fn)(const struct conf_key *, char *, char **, size_t,
    char *);

static int	 fail(char *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	 want_words(char *, size_t, size_t);
static bool	 is_ip(const char *, int *);
static bool	 is_name(const char *, size_t);
static int	 parse_u64(const char *, const char **, uint64_t *);
static int	 parse_scaled(const char *, const char *, const uint64_t *,
		    uint64_t *);
static int	 parse_port(const char *, uint16_t *);
static void	 fmt_value(enum ktype, uint64_t, char *, size_t);
static int	 get_number(const struct conf_key *, const char *, uint64_t *,
		    char *);
static int	 set_domain(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_domains(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_path(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_string(const struct conf_key *, char *, char **, size_t,
		    char *);
static char	*absolute(const char *);
static int	 set_mailbox(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_delim(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_nets(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_dnsbl(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_junk_header(const struct conf_key *, char *, char **,
		    size_t, char *);
static int	 set_number(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_durlist(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_enum(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_user(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_log(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_resolvers(const struct conf_key *, char *, char **,
		    size_t, char *);
static int	 set_listen_addr(const struct conf_key *, char *, char **,
		    size_t, char *);
static int	 set_hostport(const struct conf_key *, char *, char **,
		    size_t, char *);
static int	 set_auth(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_tlsproto(const struct conf_key *, char *, char **,
		    size_t, char *);
static int	 set_deliver(const struct conf_key *, char *, char **,
		    size_t, char *);
static void	 deliver_free(struct conf_deliver *);
static int	 set_milter_socket(const struct conf_key *, char *, char **,
		    size_t, char *);
static int	 set_names(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_mechs(const struct conf_key *, char *, char **, size_t,
		    char *);
static int	 set_address(const struct conf_key *, char *, char **,
		    size_t, char *);
static char	**split(const char *, size_t, size_t *);
static void	 strv_free(char **, size_t);
static int	 apply(const struct conf_key *, char *, const char *, size_t,
		    char *);
static void	 apply_defaults(enum scope, char *);
static char	*system_hostname(void);
static void	*grow(void *, size_t, size_t);
static size_t	 add_listen(struct conf *, const char *, const char *,
		    uint16_t, enum listen_mode);
static int	 cmp_str(const void *, const void *);
static void	 lex_init(struct lexer *, const char *, size_t);
static bool	 is_ctl(unsigned char);
static void	 skip_blank(struct lexer *, bool);
static bool	 lex_eol(struct lexer *, struct token *);
static struct pos lex_pos(const struct lexer *);
static void	 lex_next(struct lexer *, struct token *);
static void	 lex_value(struct lexer *, struct token *);
static int	 perr(struct parser *, struct pos, const char *, const char *,
		    ...) __attribute__((format(printf, 4, 5)));
static int	 bad_token(struct parser *, const struct token *,
		    const char *);
static int	 find_key(enum scope, const char *, size_t);
static char	*section_base(struct parser *);
static int	 parse_file(struct parser *);
static int	 parse_setting(struct parser *, const struct token *);
static int	 unknown_key(struct parser *, const struct token *);
static int	 parse_header(struct parser *, const struct token *);
static int	 expect_eol(struct parser *);
static void	 open_section(struct parser *, enum scope, const char *,
		    struct pos);
static int	 check_name(struct parser *, enum scope, const char *,
		    struct pos);
static int	 close_section(struct parser *);
static int	 check_listen(struct parser *);
static int	 check_route(struct parser *);
static int	 check_dkim(struct parser *);
static int	 check_domain(struct parser *);
static int	 finish(struct parser *);
static int	 read_file(const char *, struct buf *, char *, size_t);
static bool	 net_match(const struct conf_net *, const unsigned char *);

static const set_fn setters[] = {
	[T_DOMAIN] = set_domain,	[T_DOMAINS] = set_domains,
	[T_PATH] = set_path,		[T_MAILBOX] = set_mailbox,
	[T_DELIM] = set_delim,		[T_NETS] = set_nets,
	[T_UINT] = set_number,		[T_PORT] = set_number,
	[T_SIZE] = set_number,		[T_DURATION] = set_number,
	[T_DURLIST] = set_durlist,	[T_ENUM] = set_enum,
	[T_USER] = set_user,		[T_LOG] = set_log,
	[T_RESOLVERS] = set_resolvers,	[T_LISTEN_ADDR] = set_listen_addr,
	[T_HOSTPORT] = set_hostport,	[T_AUTH] = set_auth,
	[T_STRING] = set_string,	[T_TLSPROTO] = set_tlsproto,
	[T_ADDRESS] = set_address,	[T_DELIVER] = set_deliver,
	[T_DNSBL] = set_dnsbl,		[T_JUNK_HEADER] = set_junk_header,
	[T_MILTER_SOCKET] = set_milter_socket,	[T_NAMES] = set_names,
	[T_DOVECOT] = set_deliver,	[T_MECHS] = set_mechs,
};

/*
 * Small validators and number parsers.
 */

static int
fail(char *why, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, WHY_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

static int
want_words(char *why, size_t want, size_t got)
{
	if (got == 0)
		return fail(why, "needs a value");
	return fail(why, "takes %zu word%s, not %zu", want,
	    want == 1 ? "" : "s", got);
}

/* is_ip - an IPv4 or IPv6 literal without brackets; *af gets the family. */
static bool
is_ip(const char *s, int *af)
{
	unsigned char	 a[16];

	if (inet_pton(AF_INET, s, a) == 1) {
		*af = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, a) == 1) {
		*af = AF_INET6;
		return true;
	}
	return false;
}

/* is_name - letters, digits, '.', '_', '-'; not starting with '-'. */
static bool
is_name(const char *s, size_t max)
{
	size_t	 len = strlen(s);

	if (len == 0 || len > max || s[0] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == len;
}

/* parse_u64 - decimal digits at s; *end after them.  -1 none, -2 overflow */
static int
parse_u64(const char *s, const char **end, uint64_t *v)
{
	uint64_t	 n = 0;
	const char	*p = s;

	for (; *p >= '0' && *p <= '9'; p++)
		if (ckd_mul(&n, n, 10) || ckd_add(&n, n, (uint64_t)(*p - '0')))
			return -2;
	if (p == s)
		return -1;
	*end = p;
	*v = n;
	return 0;
}

/* parse_scaled - digits and at most one unit letter from units, each
 * worth mult[i]; no letter means 1.  0, -1 syntax, -2 overflow. */
static int
parse_scaled(const char *s, const char *units, const uint64_t *mult,
    uint64_t *v)
{
	const char	*end, *u;
	uint64_t	 n, m = 1;
	int		 rc;

	if ((rc = parse_u64(s, &end, &n)) != 0)
		return rc;
	if (*end != '\0') {
		if (end[1] != '\0' || (u = strchr(units, *end)) == NULL)
			return -1;
		m = mult[u - units];
	}
	if (ckd_mul(&n, n, m))
		return -2;
	*v = n;
	return 0;
}

static int
parse_port(const char *s, uint16_t *port)
{
	const char	*end;
	uint64_t	 n;

	if (strlen(s) > 5 || parse_u64(s, &end, &n) != 0 || *end != '\0' ||
	    n < 1 || n > 65535)
		return -1;
	*port = (uint16_t)n;
	return 0;
}

/* fmt_value - a bound in the unit the user writes: "7d", "1K", "100". */
static void
fmt_value(enum ktype t, uint64_t v, char *out, size_t outlen)
{
	static const char	 dunits[] = "dhm", sunits[] = "GMK";
	static const uint64_t	 dmult[] = { DAY, HOUR, MINUTE };
	static const uint64_t	 smult[] = { KIB * KIB * KIB, KIB * KIB, KIB };
	const char		*units = t == T_SIZE ? sunits : dunits;
	const uint64_t		*mult = t == T_SIZE ? smult : dmult;

	if (t == T_SIZE || t == T_DURATION || t == T_DURLIST)
		for (size_t i = 0; i < 3; i++)
			if (v != 0 && v % mult[i] == 0) {
				snprintf(out, outlen, "%llu%c",
				    (unsigned long long)(v / mult[i]),
				    units[i]);
				return;
			}
	snprintf(out, outlen, "%llu%s", (unsigned long long)v,
	    t == T_DURATION || t == T_DURLIST ? "s" : "");
}

/* get_number - one word of a numeric key, parsed and range-checked;
 * a number too large for 64 bits is out of range, not a syntax error. */
static int
get_number(const struct conf_key *k, const char *w, uint64_t *v, char *why)
{
	char	 lo[32], hi[32];
	int	 rc;

	if (k->type == T_SIZE)
		rc = parse_scaled(w, SIZE_UNITS, size_mult, v);
	else if (k->type == T_DURATION || k->type == T_DURLIST)
		rc = parse_scaled(w, DUR_UNITS, dur_mult, v);
	else
		rc = parse_scaled(w, "", NULL, v);
	if (rc == -1)
		return fail(why, "\"%s\" is not a %s", log_safe(w),
		    k->type == T_SIZE ? "size (512K, 25M, 1G)" :
		    k->type == T_UINT || k->type == T_PORT ? "number" :
		    "duration (30s, 5m, 4h, 5d, 1w)");
	if (rc == -2 || *v < k->min || *v > k->max) {
		fmt_value(k->type, k->min, lo, sizeof(lo));
		fmt_value(k->type, k->max, hi, sizeof(hi));
		return fail(why, "must be between %s and %s", lo, hi);
	}
	return 0;
}

/*
 * Setters, one per type.  Each gets the key, the struct the key's offsets
 * point into, and the value split into words; it replaces the old value
 * (a default) or returns -1 with the reason in why.
 */

static int
set_domain(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	**f = (char **)(base + k->off);

	if (n != 1)
		return want_words(why, 1, n);
	if (!addr_hostname_check(w[0]))
		return fail(why, "\"%s\" is not a domain name", log_safe(w[0]));
	free(*f);
	*f = str_lower(xstrdup(w[0]));
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
set_domains(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	***f = (char ***)(base + k->off), **v, **sorted;
	size_t	*nf = (size_t *)(base + k->off2);
	int	 rc = 0;

	if (n == 0)
		return fail(why, "needs at least one domain");
	for (size_t i = 0; i < n; i++)
		if (!addr_hostname_check(w[i]))
			return fail(why, "\"%s\" is not a domain name",
			    log_safe(w[i]));
	v = xreallocarray(NULL, n, sizeof(*v));
	sorted = xreallocarray(NULL, n, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		sorted[i] = v[i] = str_lower(xstrdup(w[i]));
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	for (size_t i = 1; i < n && rc == 0; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			rc = fail(why, "%s is listed twice", sorted[i]);
	free(sorted);
	if (rc == -1) {
		strv_free(v, n);
		return -1;
	}
	strv_free(*f, *nf);
	*f = v;
	*nf = n;
	return 0;
}

/* absolute - path, made absolute from base_dir when it is relative. */
static char *
absolute(const char *path)
{
	char	*p;

	if (path[0] == '/')
		return xstrdup(path);
	(void)conf_base_dir();
	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (strcmp(path, ".") == 0 || path[0] == '\0')
		return xstrdup(base_dir);
	xasprintf(&p, "%s/%s", strcmp(base_dir, "/") == 0 ? "" : base_dir,
	    path);
	return p;
}

static int
set_path(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	**f = (char **)(base + k->off);

	if (n == 0 && (k->flags & K_EMPTY_OK)) {
		free(*f);
		*f = NULL;
		return 0;
	}
	if (n != 1)
		return want_words(why, 1, n);
	free(*f);
	*f = absolute(w[0]);
	return 0;
}

static int
set_string(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	**f = (char **)(base + k->off);

	if (n == 0 && (k->flags & K_EMPTY_OK)) {
		free(*f);
		*f = NULL;
		return 0;
	}
	if (n != 1)
		return want_words(why, 1, n);
	free(*f);
	*f = xstrdup(w[0]);
	return 0;
}

/*
 * set_address - one mail address, "local@domain" (no angle brackets),
 * kept in the form addr_format() gives (addr_parse lower-cases the domain).
 * Whether it is a user or an alias is for "postbote check" to say: the
 * tables are not known here.
 */
static int
set_address(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char		**f = (char **)(base + k->off);
	struct mailaddr	 a;
	char		 text[ADDR_TEXT_MAX];

	if (n == 0 && (k->flags & K_EMPTY_OK)) {
		free(*f);
		*f = NULL;
		return 0;
	}
	if (n != 1)
		return want_words(why, 1, n);
	if (addr_parse(w[0], ADDR_F_UTF8, &a) != ADDR_OK ||
	    a.domain[0] == '\0')
		return fail(why, "\"%s\" is not an address local@domain",
		    log_safe(w[0]));
	if (addr_format(&a, text, sizeof(text)) >= sizeof(text))
		return fail(why, "address too long");
	free(*f);
	*f = xstrdup(text);
	return 0;
}

/* The template is expanded with peer data later, so only %d, %u and %%
 * exist, and %u is required: a fixed mailbox would merge every user. */
static int
set_mailbox(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	**f = (char **)(base + k->off);
	bool	 has_u = false;

	if (n > 1)
		return want_words(why, 1, n);
	for (const char *p = n ? w[0] : ""; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		if (p[1] != 'd' && p[1] != 'u' && p[1] != '%')
			return fail(why,
			    "only %%d, %%u and %%%% may follow %%");
		has_u |= p[1] == 'u';
		p++;
	}
	if (n == 1 && !has_u)
		return fail(why, "needs %%u (the local part)");
	free(*f);
	*f = n ? absolute(w[0]) : NULL;
	return 0;
}

static int
set_delim(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	*f = base + k->off;

	if (n > 1)
		return want_words(why, 1, n);
	if (n == 1 && (strlen(w[0]) != 1 || strchr("+-_=", w[0][0]) == NULL))
		return fail(why, "must be one of + - _ = or empty");
	*f = n ? w[0][0] : '\0';
	return 0;
}

static int
set_nets(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	struct conf_net	**f = (struct conf_net **)(base + k->off), *v;
	size_t		 *nf = (size_t *)(base + k->off2);

	v = n ? xreallocarray(NULL, n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++)
		if (conf_parse_net(w[i], &v[i]) == -1) {
			free(v);
			return fail(why, "\"%s\" is not ADDRESS or "
			    "ADDRESS/PREFIX with the host bits zero",
			    log_safe(w[i]));
		}
	free(*f);
	*f = v;
	*nf = n;
	return 0;
}

/* set_dnsbl - dnsbl, dnswl: "ZONE[=PATTERN][*WEIGHT]" words (mail/dnsbl.h);
 * none is no list. */
static int
set_dnsbl(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	struct dnsbl_site	**f = (struct dnsbl_site **)(base + k->off), *v;
	size_t			 *nf = (size_t *)(base + k->off2);
	char			  inner[WHY_MAX];

	v = n ? xreallocarray(NULL, n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (dnsbl_site_parse(w[i], &v[i], inner, sizeof(inner)) ==
		    -1) {
			free(v);
			return fail(why, "%.80s: %s", log_safe(w[i]), inner);
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(v[j].zone, v[i].zone) == 0) {
				fail(why, "%s is listed twice", v[i].zone);
				free(v);
				return -1;
			}
	}
	free(*f);
	*f = v;
	*nf = n;
	return 0;
}

/* set_junk_header - "NAME: VALUE" (the colon optional): the header field
 * a filter marks spam with; the value is matched as the field's first
 * word, in any case.  Empty: no header makes a message junk. */
static int
set_junk_header(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	**name = (char **)(base + k->off);
	char	**value = (char **)(base + k->off2);
	size_t	  len;

	if (n == 0) {
		free(*name);
		free(*value);
		*name = *value = NULL;
		return 0;
	}
	if (n != 2)
		return fail(why, "must be NAME: VALUE, as \"X-Spam: yes\"");
	len = strlen(w[0]);
	if (len > 0 && w[0][len - 1] == ':')
		len--;
	if (len == 0 || len > 76)
		return fail(why, "needs a header field name");
	for (size_t i = 0; i < len; i++)
		if (w[0][i] <= ' ' || w[0][i] >= 0x7f || w[0][i] == ':')
			return fail(why, "\"%.80s\" is not a header field "
			    "name", log_safe(w[0]));
	for (const char *p = w[1]; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return fail(why, "the value must be one printable "
			    "word");
	free(*name);
	free(*value);
	*name = xstrndup(w[0], len);
	*value = xstrdup(w[1]);
	return 0;
}

static int
set_number(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	uint64_t	 v;
	void		*f = base + k->off;

	if (n != 1)
		return want_words(why, 1, n);
	if (get_number(k, w[0], &v, why) == -1)
		return -1;
	if (k->type == T_UINT)
		*(unsigned *)f = (unsigned)v;
	else if (k->type == T_PORT)
		*(uint16_t *)f = (uint16_t)v;
	else
		*(uint64_t *)f = v;
	return 0;
}

static int
set_durlist(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	uint64_t	**f = (uint64_t **)(base + k->off), *v;
	size_t		 *nf = (size_t *)(base + k->off2);
	char		  inner[WHY_MAX];

	if (n == 0)
		return fail(why, "needs at least one duration");
	v = xreallocarray(NULL, n, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		if (get_number(k, w[i], &v[i], inner) == -1) {
			free(v);
			return fail(why, "%.40s: %s", log_safe(w[i]), inner);
		}
	free(*f);
	*f = v;
	*nf = n;
	return 0;
}

static int
set_enum(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	 list[128] = "";
	int	 i;

	if (n != 1)
		return want_words(why, 1, n);
	for (i = 0; k->words[i] != NULL; i++)
		if (strcmp(w[0], k->words[i]) == 0) {
			memcpy(base + k->off, &i, sizeof(i));
			return 0;
		}
	for (i = 0; k->words[i] != NULL; i++) {
		size_t	 len = strlen(list);

		snprintf(list + len, sizeof(list) - len, "%s%s",
		    i ? " | " : "", k->words[i]);
	}
	return fail(why, "must be %s", list);
}

static int
set_user(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	**f = (char **)(base + k->off);

	if (n != 1)
		return want_words(why, 1, n);
	if (!is_name(w[0], 32))
		return fail(why, "\"%s\" is not a user name", log_safe(w[0]));
	free(*f);
	*f = xstrdup(w[0]);
	return 0;
}

/* "stderr", "syslog" or a file path: every single word is one of them. */
static int
set_log(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	**f = (char **)(base + k->off);

	if (n != 1)
		return want_words(why, 1, n);
	free(*f);
	*f = strcmp(w[0], "stderr") == 0 || strcmp(w[0], "syslog") == 0 ?
	    xstrdup(w[0]) : absolute(w[0]);
	return 0;
}

static int
set_resolvers(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	***f = (char ***)(base + k->off);
	size_t	*nf = (size_t *)(base + k->off2);
	char	*host;
	uint16_t port;
	int	 af;
	bool	 ip;

	for (size_t i = 0; i < n; i++) {
		if (conf_parse_hostport(w[i], false, &host, &port) == -1)
			return fail(why, "\"%s\" is not IP, IP:PORT or "
			    "[IPV6]:PORT", log_safe(w[i]));
		ip = is_ip(host, &af);
		free(host);
		if (!ip)
			return fail(why, "\"%s\": give an IP address, not a "
			    "name", log_safe(w[i]));
	}
	strv_free(*f, *nf);
	*f = NULL;
	*nf = n;
	if (n > 0) {
		*f = xreallocarray(NULL, n, sizeof(**f));
		for (size_t i = 0; i < n; i++)
			(*f)[i] = xstrdup(w[i]);
	}
	return 0;
}

/* A listener binds an address: names would need DNS at start-up. */
static int
set_listen_addr(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char		**f = (char **)(base + k->off), *host;
	char		  norm[INET6_ADDRSTRLEN];
	unsigned char	  a[16];
	uint16_t	  port;
	int		  af;

	if (n != 1)
		return want_words(why, 1, n);
	if (conf_parse_hostport(w[0], true, &host, &port) == -1)
		return fail(why, "\"%s\" is not ADDRESS:PORT or [IPV6]:PORT",
		    log_safe(w[0]));
	if (!is_ip(host, &af)) {
		free(host);
		return fail(why, "\"%s\": give an IP address, not a name",
		    log_safe(w[0]));
	}
	inet_pton(af, host, a);
	inet_ntop(af, a, norm, sizeof(norm));
	free(host);
	free(*f);
	*f = xstrdup(norm);
	*(uint16_t *)(base + k->off2) = port;
	return 0;
}

static int
set_hostport(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	**f = (char **)(base + k->off), *host;
	uint16_t port;

	if (n != 1)
		return want_words(why, 1, n);
	if (conf_parse_hostport(w[0], false, &host, &port) == -1)
		return fail(why, "\"%s\" is not HOST, HOST:PORT or "
		    "[IPV6]:PORT", log_safe(w[0]));
	free(*f);
	*f = host;
	*(uint16_t *)(base + k->off2) = port;
	return 0;
}

static int
set_auth(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	**user = (char **)(base + k->off);
	char	**file = (char **)(base + k->off2);

	if (n != 2)
		return want_words(why, 2, n);
	free(*user);
	free(*file);
	*user = xstrdup(w[0]);
	*file = absolute(w[1]);
	return 0;
}

static void
deliver_free(struct conf_deliver *d)
{
	free(d->target);
	free(d->host);
	memset(d, 0, sizeof(*d));
}

/*
 * socket_target - "SCHEME:unix:PATH" (PATH made absolute, within
 * sun_path) or "SCHEME:IP:PORT" into t; 1 if w names neither form, -1
 * with why for a bad one.
 */
static int
socket_target(const char *scheme, const char *w, struct conf_deliver *t,
    char *why)
{
	struct sockaddr_un	 sun;
	size_t			 n = strlen(scheme);
	const char		*word = w;
	int			 af;

	if (strncmp(w, scheme, n) != 0 || w[n] != ':')
		return 1;
	w += n + 1;
	if (strncmp(w, "unix:", 5) == 0 && w[5] != '\0') {
		t->host = absolute(w + 5);
		if (strlen(t->host) >= sizeof(sun.sun_path)) {
			free(t->host);
			t->host = NULL;
			return fail(why, "the socket path is longer than %zu "
			    "bytes", sizeof(sun.sun_path) - 1);
		}
		t->kind = CONF_DELIVER_LMTP_UNIX;
		xasprintf(&t->target, "%s:unix:%s", scheme, t->host);
	} else if (conf_parse_hostport(w, true, &t->host, &t->port) == 0) {
		if (!is_ip(t->host, &af)) {
			free(t->host);
			t->host = NULL;
			return fail(why, "\"%s\": the %s server must be an "
			    "IP address", log_safe(word),
			    strcmp(scheme, "lmtp") == 0 ? "LMTP" : "Dovecot");
		}
		t->kind = CONF_DELIVER_LMTP_INET;
		xasprintf(&t->target, af == AF_INET6 ? "%s:[%s]:%u" :
		    "%s:%s:%u", scheme, t->host, (unsigned)t->port);
	} else
		return 1;
	return 0;
}

/*
 * set_deliver - deliver: "maildir", "lmtp:unix:PATH" or "lmtp:IP:PORT"
 * (RFC 2033 over a UNIX socket or TCP to an IP address); and a Dovecot
 * auth socket (T_DOVECOT): "dovecot:unix:PATH", "dovecot:IP:PORT", or the
 * key's default word ("users", "none"), which is off.
 */
static int
set_deliver(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	struct conf_deliver	*d = (struct conf_deliver *)(base + k->off);
	struct conf_deliver	 nd = { CONF_DELIVER_MAILDIR, NULL, NULL, 0 };
	const char		*scheme = k->type == T_DOVECOT ? "dovecot" :
				    "lmtp";
	const char		*off = k->type == T_DOVECOT ? k->def :
				    "maildir";
	int			 r = 0;

	if (n != 1)
		return want_words(why, 1, n);
	if (strcmp(w[0], off) != 0 &&
	    (r = socket_target(scheme, w[0], &nd, why)) != 0)
		return r == -1 ? -1 : fail(why, "\"%s\" is not %s, "
		    "%s:unix:PATH or %s:IP:PORT", log_safe(w[0]), off, scheme,
		    scheme);
	deliver_free(d);
	*d = nd;
	return 0;
}

/*
 * set_milter_socket - "unix:PATH" or "inet:IP:PORT" ("inet:[v6]:PORT"),
 * Postfix's milter socket syntax.  An address, not a name: no DNS at each
 * connection.
 */
static int
set_milter_socket(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	struct conf_milter	*m = (struct conf_milter *)(base + k->off -
				    offsetof(struct conf_milter, socket));
	struct sockaddr_un	 sun;
	char			*host = NULL, *path = NULL, *text;
	uint16_t		 port = 0;
	int			 af;

	if (n != 1)
		return want_words(why, 1, n);
	if (strncmp(w[0], "unix:", 5) == 0 && w[0][5] != '\0') {
		path = absolute(w[0] + 5);
		if (strlen(path) >= sizeof(sun.sun_path)) {
			free(path);
			return fail(why, "the socket path is longer than %zu "
			    "bytes", sizeof(sun.sun_path) - 1);
		}
		xasprintf(&text, "unix:%s", path);
	} else if (strncmp(w[0], "inet:", 5) == 0 &&
	    conf_parse_hostport(w[0] + 5, true, &host, &port) == 0) {
		if (!is_ip(host, &af)) {
			free(host);
			return fail(why, "\"%s\": the milter must be an IP "
			    "address", log_safe(w[0]));
		}
		xasprintf(&text, af == AF_INET6 ? "inet:[%s]:%u" :
		    "inet:%s:%u", host, (unsigned)port);
	} else
		return fail(why, "\"%s\" is not unix:PATH or inet:IP:PORT",
		    log_safe(w[0]));
	free(m->socket);
	free(m->path);
	free(m->host);
	m->socket = text;
	m->is_unix = path != NULL;
	m->path = path;
	m->host = host;
	m->port = port;
	return 0;
}

/* set_names - a list of section names (letters, digits, '.', '_', '-');
 * whether they exist is checked once the file is whole. */
static int
set_names(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char	***f = (char ***)(base + k->off), **v;
	size_t	*nf = (size_t *)(base + k->off2);

	for (size_t i = 0; i < n; i++)
		if (!is_name(w[i], NAME_MAX_LEN))
			return fail(why, "\"%s\" is not a name",
			    log_safe(w[i]));
	v = n > 0 ? xreallocarray(NULL, n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++)
		v[i] = xstrdup(w[i]);
	strv_free(*f, *nf);
	*f = v;
	*nf = n;
	return 0;
}

/*
 * set_mechs - SASL mechanisms besides PLAIN and LOGIN (which are always
 * offered), relayed to Dovecot: names of 1 to 20 letters, digits, '-'
 * and '_' (RFC 4422 3.1), stored upper-case, space-separated; at most 8.
 */
static int
set_mechs(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	char		**f = (char **)(base + k->off);
	struct buf	 b;

	if (n > 8)
		return fail(why, "at most 8 mechanisms, not %zu", n);
	buf_init(&b, 0);
	for (size_t i = 0; i < n; i++) {
		size_t	 len = strlen(w[i]);

		if (len == 0 || len > 20 || strspn(w[i], "ABCDEFGHIJKLMNOPQRS"
		    "TUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != len) {
			buf_free(&b);
			return fail(why, "\"%s\" is not a SASL mechanism name",
			    log_safe(w[i]));
		}
		for (char *q = w[i]; *q != '\0'; q++)
			if (*q >= 'a' && *q <= 'z')
				*q = (char)(*q - 'a' + 'A');
		if (strcmp(w[i], "PLAIN") == 0 || strcmp(w[i], "LOGIN") == 0)
			continue;
		if (b.len > 0)
			buf_putc(&b, ' ');
		buf_puts(&b, w[i]);
	}
	free(*f);
	*f = b.len > 0 ? xstrdup(buf_cstr(&b)) : NULL;
	buf_free(&b);
	return 0;
}

/* tls_protocols: TLSv1 TLSv1.1 TLSv1.2 TLSv1.3, a range without gaps. */
static int
set_tlsproto(const struct conf_key *k, char *base, char **w, size_t n,
    char *why)
{
	static const char *const names[] = { "TLSv1", "TLSv1.1", "TLSv1.2",
	    "TLSv1.3" };
	unsigned	*f = (unsigned *)(base + k->off), v = 0, low;

	if (n == 0)
		return want_words(why, 1, n);
	for (size_t i = 0; i < n; i++) {
		size_t	j = 0;

		while (j < NELEM(names) && strcmp(w[i], names[j]) != 0)
			j++;
		if (j == NELEM(names))
			return fail(why, "\"%s\" is not one of TLSv1 TLSv1.1 "
			    "TLSv1.2 TLSv1.3", log_safe(w[i]));
		v |= 1u << j;
	}
	low = v & -v;
	if (((v / low) & ((v / low) + 1)) != 0)
		return fail(why, "the versions must be a range without gaps");
	*f = v;
	return 0;
}

/*
 * Values: split into words, then handed to the key's setter.
 */

/* split - the space- or tab-separated words of s[0..len), each copied. */
static char **
split(const char *s, size_t len, size_t *np)
{
	char		**v = NULL;
	size_t		  n = 0, cap = 0;
	const char	 *end = s + len, *w;

	while (s < end) {
		if (*s == ' ' || *s == '\t') {
			s++;
			continue;
		}
		for (w = s; s < end && *s != ' ' && *s != '\t'; s++)
			;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n++] = xstrndup(w, (size_t)(s - w));
	}
	*np = n;
	return v;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n && v != NULL; i++)
		free(v[i]);
	free(v);
}

/* apply - set key k in base from the text s[0..len).  0 or -1 + why. */
static int
apply(const struct conf_key *k, char *base, const char *s, size_t len,
    char *why)
{
	size_t	  n;
	char	**w = split(s, len, &n);
	int	  rc;

	if (n > LIST_MAX)
		rc = fail(why, "more than %d words", LIST_MAX);
	else
		rc = setters[k->type](k, base, w, n, why);
	strv_free(w, n);
	return rc;
}

/* apply_defaults - the table's defaults for one scope; they must parse. */
static void
apply_defaults(enum scope sc, char *base)
{
	char	 why[WHY_MAX];

	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].scope != sc || keys[i].def == NULL)
			continue;
		if (apply(&keys[i], base, keys[i].def, strlen(keys[i].def),
		    why) == -1)
			log_panic("conf default %s: %s", keys[i].name, why);
	}
}

/* system_hostname - gethostname() lower-cased, or NULL if not a domain. */
static char *
system_hostname(void)
{
	char	 name[256];

	if (gethostname(name, sizeof(name)) == -1)
		return NULL;
	name[sizeof(name) - 1] = '\0';
	if (!addr_hostname_check(name))
		return NULL;
	return str_lower(xstrdup(name));
}

/* grow - make room for element n of an array that holds n; the capacity
 * is the next power of two, so it needs no field of its own. */
static void *
grow(void *v, size_t n, size_t size)
{
	if (n == 0 || (n & (n - 1)) == 0)
		v = xreallocarray(v, n ? n * 2 : 1, size);
	return v;
}

static size_t
add_listen(struct conf *c, const char *name, const char *host,
    uint16_t port, enum listen_mode mode)
{
	struct conf_listen	*l;

	c->listens = grow(c->listens, c->nlistens, sizeof(*c->listens));
	l = &c->listens[c->nlistens];
	memset(l, 0, sizeof(*l));
	l->name = xstrdup(name);
	l->host = host ? xstrdup(host) : NULL;
	l->port = port;
	l->mode = mode;
	return c->nlistens++;
}

/*
 * Lexer.  In line context it returns words, '=', '[', ']', end of line
 * and end of file; lex_value() instead takes the rest of the line after
 * '='.  '#' opens a comment at the start of a line or after white space.
 * Control bytes other than tab (and CR just before LF) are TK_BAD.
 */

static void
lex_init(struct lexer *lx, const char *text, size_t len)
{
	lx->p = lx->bol = text;
	lx->end = text + len;
	lx->line = 1;
}

static struct pos
lex_pos(const struct lexer *lx)
{
	struct pos	 at = { lx->line, (unsigned)(lx->p - lx->bol) + 1 };

	return at;
}

static bool
is_ctl(unsigned char ch)
{
	return (ch < 0x20 && ch != '\t') || ch == 0x7f;
}

/* skip_blank - white space, then a comment if one starts there. */
static void
skip_blank(struct lexer *lx, bool after_ws)
{
	while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t')) {
		lx->p++;
		after_ws = true;
	}
	if (lx->p < lx->end && *lx->p == '#' && after_ws)
		while (lx->p < lx->end && *lx->p != '\n' && *lx->p != '\r')
			lx->p++;
}

/* lex_eol - a newline (LF or CR LF) at p?  Consumes it. */
static bool
lex_eol(struct lexer *lx, struct token *t)
{
	size_t	 n = 0;

	if (*lx->p == '\n')
		n = 1;
	else if (*lx->p == '\r' && lx->p + 1 < lx->end && lx->p[1] == '\n')
		n = 2;
	if (n == 0)
		return false;
	t->type = TK_EOL;
	lx->p += n;
	lx->bol = lx->p;
	lx->line++;
	return true;
}

static void
lex_next(struct lexer *lx, struct token *t)
{
	skip_blank(lx, lx->p == lx->bol);
	t->at = lex_pos(lx);
	t->s = lx->p;
	t->len = 1;
	if (lx->p == lx->end) {
		t->type = TK_EOF;
		return;
	}
	if (lex_eol(lx, t))
		return;
	t->type = *lx->p == '=' ? TK_EQ : *lx->p == '[' ? TK_LBRACK :
	    *lx->p == ']' ? TK_RBRACK :
	    is_ctl((unsigned char)*lx->p) ? TK_BAD : TK_WORD;
	if (t->type != TK_WORD) {
		if (t->type != TK_BAD)
			lx->p++;
		return;
	}
	while (lx->p < lx->end && !is_ctl((unsigned char)*lx->p) &&
	    strchr(" \t=[]", *lx->p) == NULL)
		lx->p++;
	t->len = (size_t)(lx->p - t->s);
}

/* lex_value - the rest of the line, comment and outer blanks removed;
 * TK_BAD (at the byte) if it holds a control byte. */
static void
lex_value(struct lexer *lx, struct token *t)
{
	const char	*last;

	skip_blank(lx, false);
	t->type = TK_WORD;
	t->at = lex_pos(lx);
	t->s = last = lx->p;
	while (lx->p < lx->end && *lx->p != '\n' && *lx->p != '\r') {
		if (is_ctl((unsigned char)*lx->p)) {
			t->type = TK_BAD;
			t->at = lex_pos(lx);
			t->s = lx->p;
			return;
		}
		if (*lx->p == ' ' || *lx->p == '\t') {
			skip_blank(lx, true);
			continue;
		}
		last = ++lx->p;
	}
	t->len = (size_t)(last - t->s);
}

/*
 * Parser.  file = { line }; a line is blank, a [section] header or a
 * setting (docs/config.md has the EBNF).  Each function returns 0 or -1
 * with ps->err set.
 */

static int
perr(struct parser *ps, struct pos at, const char *key, const char *fmt,
    ...)
{
	char	 why[WHY_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (ps->errlen == 0)
		return -1;
	if (key != NULL)
		snprintf(ps->err, ps->errlen, "%s:%u:%u: %s: %s", ps->file,
		    at.line, at.col, key, why);
	else
		snprintf(ps->err, ps->errlen, "%s:%u:%u: %s", ps->file,
		    at.line, at.col, why);
	return -1;
}

static int
bad_token(struct parser *ps, const struct token *t, const char *what)
{
	if (t->type == TK_BAD)
		return perr(ps, t->at, NULL, "invalid byte 0x%02x",
		    (unsigned char)*t->s);
	if (t->type == TK_EOL || t->type == TK_EOF)
		return perr(ps, t->at, NULL, "expected %s before the end of "
		    "the line", what);
	return perr(ps, t->at, NULL, "expected %s, not \"%s\"", what,
	    log_safe_n(t->s, MIN(t->len, 40)));
}

/* find_key - index in keys[] of name[0..len) in scope sc, or -1. */
static int
find_key(enum scope sc, const char *name, size_t len)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].scope == sc && strlen(keys[i].name) == len &&
		    memcmp(keys[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

static char *
section_base(struct parser *ps)
{
	switch (ps->scope) {
	case SC_LISTEN:
		return (char *)&ps->c->listens[ps->sidx];
	case SC_ROUTE:
		return (char *)&ps->c->routes[ps->sidx];
	case SC_DKIM:
		return (char *)&ps->c->dkims[ps->sidx];
	case SC_TLS:
		return (char *)&ps->c->tlss[ps->sidx];
	case SC_DOMAIN:
		return (char *)&ps->c->ldomains[ps->sidx];
	case SC_MILTER:
		return (char *)&ps->c->milters[ps->sidx];
	default:
		return (char *)ps->c;
	}
}

static int
parse_file(struct parser *ps)
{
	struct token	 t;
	int		 rc;

	for (;;) {
		lex_next(&ps->lx, &t);
		switch (t.type) {
		case TK_EOF:
			return close_section(ps);
		case TK_EOL:
			continue;
		case TK_LBRACK:
			rc = parse_header(ps, &t);
			break;
		case TK_WORD:
			rc = parse_setting(ps, &t);
			break;
		default:
			return bad_token(ps, &t, "a key or a [section]");
		}
		if (rc == -1 || expect_eol(ps) == -1)
			return -1;
	}
}

/* setting = key "=" value */
static int
parse_setting(struct parser *ps, const struct token *kt)
{
	char		 why[WHY_MAX];
	struct token	 t;
	int		 i;
	const char	*key;
	bool		 global = ps->scope == SC_GLOBAL;
	bool		*seen = global ? ps->gseen : ps->sseen;
	struct pos	*where = global ? ps->gpos : ps->spos;

	if ((i = find_key(ps->scope, kt->s, kt->len)) == -1)
		return unknown_key(ps, kt);
	key = keys[i].name;
	lex_next(&ps->lx, &t);
	if (t.type == TK_BAD)
		return bad_token(ps, &t, "'='");
	if (t.type != TK_EQ)
		return perr(ps, t.at, key, "expected '=' after the key");
	if (seen[i])
		return perr(ps, kt->at, key, "set twice (first on line %u)",
		    where[i].line);
	lex_value(&ps->lx, &t);
	if (t.type == TK_BAD)
		return bad_token(ps, &t, "a value");
	if (apply(&keys[i], section_base(ps), t.s, t.len, why) == -1)
		return perr(ps, kt->at, key, "%s", why);
	seen[i] = true;
	where[i] = kt->at;
	return 0;
}

/* edit_distance - Levenshtein distance of a[0..n) and b (at most
 * KEY_CMP_MAX bytes of each are compared; more counts as far). */
#define KEY_CMP_MAX	48
static size_t
edit_distance(const char *a, size_t n, const char *b)
{
	size_t	m = strlen(b), row[KEY_CMP_MAX + 1];

	if (n > KEY_CMP_MAX || m > KEY_CMP_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= m; j++)
		row[j] = j;
	for (size_t i = 1; i <= n; i++) {
		size_t	diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= m; j++) {
			size_t	up = row[j];

			row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1),
			    diag + (a[i - 1] != b[j - 1]));
			diag = up;
		}
	}
	return row[m];
}

/* closest_key - the key of scope sc nearest to name[0..len), when it is
 * near enough to be a typing slip (a third of its letters at most, and
 * not more than 3); else NULL. */
static const char *
closest_key(enum scope sc, const char *name, size_t len)
{
	const char	*best = NULL;
	size_t		 bestd = SIZE_MAX;

	for (size_t i = 0; i < NKEYS; i++) {
		size_t	d;

		if (keys[i].scope != sc)
			continue;
		d = edit_distance(name, len, keys[i].name);
		if (d < bestd) {
			bestd = d;
			best = keys[i].name;
		}
	}
	return bestd <= 3 && bestd * 3 <= len ? best : NULL;
}

/* unknown_key - say where the key would have been valid, if anywhere,
 * or which key it may be a slip for. */
static int
unknown_key(struct parser *ps, const struct token *kt)
{
	const char	*key = log_safe_n(kt->s, MIN(kt->len, 40)), *near;

	for (enum scope sc = SC_GLOBAL; sc <= SC_LAST; sc++) {
		if (sc == ps->scope || find_key(sc, kt->s, kt->len) == -1)
			continue;
		if (sc == SC_GLOBAL)
			return perr(ps, kt->at, key, "global key inside %s; "
			    "move it above the first section", ps->sname);
		return perr(ps, kt->at, key, "only valid in a [%s NAME] "
		    "section", scope_names[sc]);
	}
	near = closest_key(ps->scope, kt->s, kt->len);
	return perr(ps, kt->at, key, "unknown key%s%s%s%s%s",
	    ps->scope ? " in " : "", ps->scope ? ps->sname : "",
	    near ? "; did you mean \"" : "", near ? near : "",
	    near ? "\"?" : "");
}

/* header = "[" kind name "]" */
static int
parse_header(struct parser *ps, const struct token *lb)
{
	struct token	 kind, name, rb;
	char		 nbuf[256];
	enum scope	 sc;

	lex_next(&ps->lx, &kind);
	if (kind.type != TK_WORD)
		return bad_token(ps, &kind, SC_WORDS);
	for (sc = SC_LISTEN; sc <= SC_LAST; sc++)
		if (strlen(scope_names[sc]) == kind.len &&
		    memcmp(scope_names[sc], kind.s, kind.len) == 0)
			break;
	if (sc > SC_LAST)
		return perr(ps, kind.at, log_safe_n(kind.s, MIN(kind.len, 40)),
		    "unknown section (" SC_WORDS ")");
	lex_next(&ps->lx, &name);
	if (name.type != TK_WORD)
		return bad_token(ps, &name, "a section name");
	lex_next(&ps->lx, &rb);
	if (rb.type != TK_RBRACK)
		return bad_token(ps, &rb, "']'");
	if (name.len >= sizeof(nbuf))
		return perr(ps, name.at, scope_names[sc], "name too long");
	memcpy(nbuf, name.s, name.len);
	nbuf[name.len] = '\0';
	if (close_section(ps) == -1 || check_name(ps, sc, nbuf, name.at) == -1)
		return -1;
	open_section(ps, sc, nbuf, lb->at);
	return 0;
}

static int
expect_eol(struct parser *ps)
{
	struct token	 t;

	lex_next(&ps->lx, &t);
	if (t.type == TK_EOL || t.type == TK_EOF)
		return 0;		/* EOF is seen again by parse_file */
	return bad_token(ps, &t, "the end of the line");
}

/* check_name - the section name's syntax, and no second one like it. */
static int
check_name(struct parser *ps, enum scope sc, const char *name, struct pos at)
{
	struct conf	*c = ps->c;
	const char	*kind = scope_names[sc];
	size_t		 n = sc == SC_LISTEN ? c->nlistens :
			    sc == SC_ROUTE ? c->nroutes : sc == SC_DKIM ?
			    c->ndkims : sc == SC_TLS ? c->ntlss :
			    sc == SC_MILTER ? c->nmilters : c->nldomains;

	if (n >= SECTION_MAX)
		return perr(ps, at, kind, "more than %d [%s] sections",
		    SECTION_MAX, kind);
	if ((sc == SC_LISTEN || sc == SC_MILTER) &&
	    !is_name(name, NAME_MAX_LEN))
		return perr(ps, at, kind, "\"%s\" is not a name (letters, "
		    "digits, '.', '_', '-')", log_safe(name));
	if (sc != SC_LISTEN && sc != SC_MILTER && !addr_hostname_check(name) &&
	    !(sc == SC_ROUTE && strcmp(name, "*") == 0) &&
	    !(sc == SC_TLS && strncmp(name, "*.", 2) == 0 &&
	    addr_hostname_check(name + 2)))
		return perr(ps, at, kind, "\"%s\" is not a domain name%s",
		    log_safe(name), sc == SC_ROUTE ? " or *" : "");
	for (size_t i = 0; sc == SC_LISTEN && i < c->nlistens; i++)
		if (strcmp(c->listens[i].name, name) == 0)
			goto dup;
	for (size_t i = 0; sc == SC_ROUTE && i < c->nroutes; i++)
		if (str_ieq(c->routes[i].domain, name))
			goto dup;
	for (size_t i = 0; sc == SC_TLS && i < c->ntlss; i++)
		if (str_ieq(c->tlss[i].name, name))
			goto dup;
	for (size_t i = 0; sc == SC_DOMAIN && i < c->nldomains; i++)
		if (str_ieq(c->ldomains[i].domain, name))
			goto dup;
	for (size_t i = 0; sc == SC_MILTER && i < c->nmilters; i++)
		if (strcmp(c->milters[i].name, name) == 0)
			goto dup;
	/* [dkim DOMAIN] may repeat: one section per key (RSA, Ed25519);
	 * check_dkim refuses a selector used twice. */
	return 0;
dup:
	return perr(ps, at, kind, "[%s %s] appears twice", kind,
	    log_safe(name));
}

/* open_section - append a section with its defaults; keys go there. */
static void
open_section(struct parser *ps, enum scope sc, const char *name,
    struct pos at)
{
	struct conf	*c = ps->c;
	size_t		 i;

	if (sc == SC_LISTEN)
		i = add_listen(c, name, NULL, 0, LISTEN_MX);
	else if (sc == SC_ROUTE) {
		c->routes = grow(c->routes, c->nroutes, sizeof(*c->routes));
		memset(&c->routes[c->nroutes], 0, sizeof(*c->routes));
		c->routes[c->nroutes].domain = str_lower(xstrdup(name));
		i = c->nroutes++;
	} else if (sc == SC_DOMAIN) {
		c->ldomains = grow(c->ldomains, c->nldomains,
		    sizeof(*c->ldomains));
		memset(&c->ldomains[c->nldomains], 0, sizeof(*c->ldomains));
		c->ldomains[c->nldomains].domain = str_lower(xstrdup(name));
		i = c->nldomains++;
	} else if (sc == SC_MILTER) {
		c->milters = grow(c->milters, c->nmilters, sizeof(*c->milters));
		memset(&c->milters[c->nmilters], 0, sizeof(*c->milters));
		c->milters[c->nmilters].name = xstrdup(name);
		i = c->nmilters++;
	} else if (sc == SC_TLS) {
		c->tlss = grow(c->tlss, c->ntlss, sizeof(*c->tlss));
		memset(&c->tlss[c->ntlss], 0, sizeof(*c->tlss));
		c->tlss[c->ntlss].name = str_lower(xstrdup(name));
		i = c->ntlss++;
	} else {
		c->dkims = grow(c->dkims, c->ndkims, sizeof(*c->dkims));
		memset(&c->dkims[c->ndkims], 0, sizeof(*c->dkims));
		c->dkims[c->ndkims].domain = str_lower(xstrdup(name));
		i = c->ndkims++;
	}
	ps->scope = sc;
	ps->sidx = i;
	ps->shdr = at;
	memset(ps->sseen, 0, sizeof(ps->sseen));
	snprintf(ps->sname, sizeof(ps->sname), "[%s %.64s]", scope_names[sc],
	    name);
	apply_defaults(sc, section_base(ps));
}

/* close_section - the checks a section can only get once it is whole. */
static int
close_section(struct parser *ps)
{
	if (ps->scope == SC_GLOBAL)
		return 0;
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].scope == ps->scope &&
		    (keys[i].flags & K_REQUIRED) && !ps->sseen[i])
			return perr(ps, ps->shdr, keys[i].name,
			    "required in %s", ps->sname);
	if (ps->scope == SC_LISTEN && check_listen(ps) == -1)
		return -1;
	if (ps->scope == SC_ROUTE && check_route(ps) == -1)
		return -1;
	if (ps->scope == SC_DKIM && check_dkim(ps) == -1)
		return -1;
	if (ps->scope == SC_DOMAIN && check_domain(ps) == -1)
		return -1;
	ps->scope = SC_GLOBAL;
	return 0;
}

/* Two listeners cannot bind the same port twice: same address, or one
 * of them the wildcard of the same family. */
static int
check_listen(struct parser *ps)
{
	const struct conf_listen	*l = &ps->c->listens[ps->sidx], *o;
	int				 i = find_key(SC_LISTEN, "address", 7);
	bool				 wild;

	wild = strcmp(l->host, "0.0.0.0") == 0 || strcmp(l->host, "::") == 0;

	for (size_t j = 0; j < ps->sidx; j++) {
		o = &ps->c->listens[j];
		if (o->port != l->port ||
		    (strchr(o->host, ':') == NULL) !=
		    (strchr(l->host, ':') == NULL))
			continue;
		if (strcmp(o->host, l->host) == 0 || wild ||
		    strcmp(o->host, "0.0.0.0") == 0 ||
		    strcmp(o->host, "::") == 0)
			return perr(ps, ps->spos[i], "address",
			    "%s port %u is already taken by [listen %s]",
			    l->host, l->port, o->name);
	}
	return 0;
}

/* Credentials never cross a link that is known to be plain text. */
static int
check_route(struct parser *ps)
{
	const struct conf_route	*r = &ps->c->routes[ps->sidx];
	int			 i = find_key(SC_ROUTE, "auth", 4);

	int			 t = find_key(SC_ROUTE, "tls", 3);
	struct in6_addr		 a6;

	if (r->auth_user != NULL && r->tls == ROUTE_TLS_NONE)
		return perr(ps, ps->spos[i], "auth",
		    "needs tls = may or require, not none");
	if (r->tls == ROUTE_TLS_STS && (inet_pton(AF_INET, r->host, &a6) == 1 ||
	    inet_pton(AF_INET6, r->host, &a6) == 1 ||
	    strchr(r->host, '.') == NULL))
		return perr(ps, ps->spos[t], "tls",
		    "sts needs a host name with a domain, not an address");
	if (r->tls == ROUTE_TLS_STS && !ps->c->mta_sts)
		return perr(ps, ps->spos[t], "tls", "sts needs mta_sts = yes");
	if (r->tls != ROUTE_TLS_DANE)
		return 0;
	/* RFC 7672 2.2: TLSA records count only when DNSSEC-validated,
	 * and they are found by the host's name. */
	if (!ps->c->dnssec_resolver)
		return perr(ps, ps->spos[t], "tls",
		    "dane needs dnssec_resolver = yes");
	if (inet_pton(AF_INET, r->host, &a6) == 1 ||
	    inet_pton(AF_INET6, r->host, &a6) == 1)
		return perr(ps, ps->spos[t], "tls",
		    "dane needs a host name, not an address");
	return 0;
}

/* One domain may have several keys, each under its own selector. */
static int
check_dkim(struct parser *ps)
{
	const struct conf_dkim	*d = &ps->c->dkims[ps->sidx], *o;
	int			 i = find_key(SC_DKIM, "selector", 8);

	for (size_t j = 0; j < ps->sidx; j++) {
		o = &ps->c->dkims[j];
		if (str_ieq(o->domain, d->domain) &&
		    str_ieq(o->selector, d->selector))
			return perr(ps, ps->spos[i], "selector",
			    "selector %s is already used by another "
			    "[dkim %s]", d->selector, d->domain);
	}
	return 0;
}

/* A [domain] section is about one of domains (global keys come before
 * every section, so the list is complete here). */
static int
check_domain(struct parser *ps)
{
	const struct conf_domain	*d = &ps->c->ldomains[ps->sidx];

	if (!conf_is_local_domain(ps->c, d->domain))
		return perr(ps, ps->shdr, "domain", "%s is not one of domains",
		    d->domain);
	return 0;
}

/* folder_name_ok - a Maildir++ folder name we create: printable ASCII
 * and spaces, no '/' or '\\'; '.' only inside (Junk, Spam.Later). */
static bool
folder_name_ok(const char *s)
{
	if (s[0] == '.' || s[0] == '\0' || s[strlen(s) - 1] == '.' ||
	    strstr(s, "..") != NULL)
		return false;
	for (; *s != '\0'; s++)
		if (*s < ' ' || *s >= 0x7f || *s == '/' || *s == '\\')
			return false;
	return true;
}

/* finish - fill in what depends on other keys, then cross-check. */
static int
finish(struct parser *ps)
{
	struct conf	*c = ps->c;
	struct pos	 top = { 1, 1 };
	int		 cert = find_key(SC_GLOBAL, "tls_cert", 8);
	int		 key = find_key(SC_GLOBAL, "tls_key", 7);

	if (c->hostname == NULL && (c->hostname = system_hostname()) == NULL)
		return perr(ps, top, "hostname", "the system host name is not "
		    "a domain name; set hostname");
	if ((c->tls_cert == NULL) != (c->tls_key == NULL))
		return perr(ps, ps->gpos[c->tls_cert ? cert : key],
		    c->tls_cert ? "tls_cert" : "tls_key",
		    "tls_cert and tls_key go together");
	if (c->dnssec_resolver && c->nresolvers == 0)
		return perr(ps, ps->gpos[find_key(SC_GLOBAL, "dnssec_resolver",
		    15)], "dnssec_resolver", "needs resolver: the AD bit is "
		    "trusted only from a resolver named here");
	if (c->junk_folder != NULL && (c->junk_folder[0] == '.' ||
	    strlen(c->junk_folder) > 100 ||
	    !folder_name_ok(c->junk_folder)))
		return perr(ps, ps->gpos[find_key(SC_GLOBAL, "junk_folder",
		    11)], "junk_folder", "a Maildir++ folder name: printable, "
		    "no '/', not starting with '.'");
	if (c->auth_mechanisms != NULL && c->auth_backend.target == NULL)
		return perr(ps, ps->gpos[find_key(SC_GLOBAL, "auth_mechanisms",
		    15)], "auth_mechanisms", "needs auth_backend = dovecot:...: "
		    "only Dovecot checks mechanisms other than PLAIN and LOGIN");
	if (strcmp(c->user, c->smtpd_user) == 0) {
		struct pos	at = ps->gpos[find_key(SC_GLOBAL, "smtpd_user",
		    10)];
		bool		set = at.line != 0;

		return perr(ps, set ? at : ps->gpos[find_key(SC_GLOBAL, "user",
		    4)], set ? "smtpd_user" : "user", "must differ from %s: "
		    "smtpd may not write the spool or the mailboxes",
		    set ? "user" : "smtpd_user");
	}
	if (c->mailbox == NULL)
		xasprintf(&c->mailbox, "%s/mail/%%d/%%u", c->state_dir);
	if (c->nlistens == 0)
		add_listen(c, "mx", "0.0.0.0", 25, LISTEN_MX);
	for (size_t i = 0; i < c->nmilters; i++)
		for (size_t j = 0; j < c->milters[i].nlisteners; j++) {
			size_t	 l;

			for (l = 0; l < c->nlistens; l++)
				if (strcmp(c->listens[l].name,
				    c->milters[i].listeners[j]) == 0)
					break;
			if (l == c->nlistens)
				return perr(ps, top, "listeners", "[milter %s]: "
				    "no [listen %s]", c->milters[i].name,
				    c->milters[i].listeners[j]);
		}
	return 0;
}

/* conf_milter_applies - see conf.h. */
bool
conf_milter_applies(const struct conf *c, const struct conf_milter *m,
    int idx)
{
	if (m->nlisteners == 0)
		return true;
	if (idx < 0 || (size_t)idx >= c->nlistens)
		return false;
	for (size_t j = 0; j < m->nlisteners; j++)
		if (strcmp(m->listeners[j], c->listens[idx].name) == 0)
			return true;
	return false;
}

/*
 * conf_defaults - the embedded configuration: table defaults, then what
 * DESIGN 4 changes for a run without a file.  *c is overwritten, not freed.
 */
void
conf_defaults(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	apply_defaults(SC_GLOBAL, (char *)c);
	if ((c->hostname = system_hostname()) == NULL)
		c->hostname = xstrdup("localhost");
	free(c->state_dir);
	c->state_dir = absolute("./var");
	xasprintf(&c->mailbox, "%s/mail/%%d/%%u", c->state_dir);
	add_listen(c, "mx", "127.0.0.1", 2525, LISTEN_MX);
	add_listen(c, "submission", "127.0.0.1", 2587, LISTEN_SUBMISSION);
	add_listen(c, "submissions", "127.0.0.1", 2465, LISTEN_SUBMISSIONS);
	c->any_local = true;
}

/*
 * conf_parse - text[0..len) (need not be NUL-terminated) into *c, which
 * is overwritten, not freed.  On success the caller owns *c (conf_free);
 * on failure *c is freed and zeroed and err holds "FILE:LINE:COL: ...".
 */
int
conf_parse(const char *text, size_t len, const char *filename,
    struct conf *c, char *err, size_t errlen)
{
	struct parser	 ps;
	int		 rc;

	memset(&ps, 0, sizeof(ps));
	memset(c, 0, sizeof(*c));
	ps.file = filename ? filename : "(config)";
	ps.c = c;
	ps.err = err;
	ps.errlen = err ? errlen : 0;
	lex_init(&ps.lx, text ? text : "", text ? len : 0);
	apply_defaults(SC_GLOBAL, (char *)c);
	if (filename != NULL)
		c->path = xstrdup(filename);
	rc = parse_file(&ps);
	if (rc == 0)
		rc = finish(&ps);
	if (rc == -1)
		conf_free(c);
	return rc;
}

/* read_file - the whole file into b, refusing more than CONF_FILE_MAX. */
static int
read_file(const char *path, struct buf *b, char *err, size_t errlen)
{
	if (buf_read_file(b, path, CONF_FILE_MAX) == 0)
		return 0;
	if (errno == EINVAL)
		snprintf(err, errlen, "%s: not a regular file", path);
	else if (errno == EFBIG)
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    CONF_FILE_MAX);
	else
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

/*
 * conf_load - pick the file (path, $POSTBOTE_CONF, CONF_DEFAULT_PATH if
 * it exists, else the embedded defaults; path "" is the embedded
 * defaults whatever exists), read it and parse it.  Only a
 * missing CONF_DEFAULT_PATH falls back: a file that was named must load.
 * On failure *c is zeroed and err is set.
 */
int
conf_load(const char *path, struct conf *c, char *err, size_t errlen)
{
	struct buf	 b;
	const char	*env = getenv("POSTBOTE_CONF");
	struct stat	 st;
	int		 rc;

	if (path != NULL && *path == '\0') {	/* asked for by name */
		conf_defaults(c);
		return 0;
	}
	if (path == NULL && env != NULL && *env != '\0')
		path = env;
	if (path == NULL) {
		if (stat(CONF_DEFAULT_PATH, &st) == -1 && errno == ENOENT) {
			conf_defaults(c);
			return 0;
		}
		path = CONF_DEFAULT_PATH;
	}
	memset(c, 0, sizeof(*c));
	buf_init(&b, CONF_FILE_MAX);
	if (read_file(path, &b, err, err ? errlen : 0) == -1) {
		buf_free(&b);
		return -1;
	}
	rc = conf_parse(b.data ? b.data : "", b.len, path, c, err, errlen);
	buf_free(&b);
	return rc;
}

/* conf_base_dir - see conf.h. */
const char *
conf_base_dir(void)
{
	if (base_dir == NULL && (base_dir = getcwd(NULL, 0)) == NULL)
		fatal("getcwd");
	return base_dir;
}

/* conf_set_base_dir - see conf.h. */
void
conf_set_base_dir(const char *dir)
{
	ASSERT(dir[0] == '/');
	free(base_dir);
	base_dir = xstrdup(dir);
}

/* conf_state_relative - see conf.h. */
const char *
conf_state_relative(const struct conf *c, const char *path)
{
	size_t	n = strlen(c->state_dir);

	if (strncmp(path, c->state_dir, n) == 0 && path[n] == '/' &&
	    path[n + 1] != '\0')
		return path + n + 1;
	return path;
}

/* conf_free - release everything *c owns and zero it; safe to repeat. */
void
conf_free(struct conf *c)
{
	free(c->path);
	free(c->hostname);
	strv_free(c->domains, c->ndomains);
	free(c->state_dir);
	free(c->mailbox);
	free(c->users);
	free(c->aliases);
	free(c->postmaster);
	free(c->tlsrpt_organization);
	free(c->tlsrpt_contact);
	free(c->tlsrpt_from);
	free(c->relay_networks);
	free(c->debug_peers);
	free(c->metrics_host);
	free(c->tls_cert);
	free(c->tls_key);
	strv_free(c->resolvers, c->nresolvers);
	free(c->retry);
	free(c->smtp_tls_ca);
	free(c->mta_sts_ca);
	free(c->user);
	free(c->smtpd_user);
	free(c->log);
	for (size_t i = 0; i < c->nlistens; i++) {
		free(c->listens[i].name);
		free(c->listens[i].host);
	}
	free(c->listens);
	for (size_t i = 0; i < c->nroutes; i++) {
		free(c->routes[i].domain);
		free(c->routes[i].host);
		free(c->routes[i].auth_user);
		free(c->routes[i].auth_file);
	}
	free(c->routes);
	for (size_t i = 0; i < c->ndkims; i++) {
		free(c->dkims[i].domain);
		free(c->dkims[i].selector);
		free(c->dkims[i].key);
	}
	free(c->dkims);
	for (size_t i = 0; i < c->nldomains; i++) {
		free(c->ldomains[i].domain);
		deliver_free(&c->ldomains[i].deliver);
	}
	free(c->ldomains);
	for (size_t i = 0; i < c->nmilters; i++) {
		free(c->milters[i].name);
		free(c->milters[i].socket);
		free(c->milters[i].path);
		free(c->milters[i].host);
		strv_free(c->milters[i].listeners, c->milters[i].nlisteners);
	}
	free(c->milters);
	deliver_free(&c->deliver);
	deliver_free(&c->auth_backend);
	free(c->auth_mechanisms);
	deliver_free(&c->recipient_check);
	for (size_t i = 0; i < c->ntlss; i++) {
		free(c->tlss[i].name);
		free(c->tlss[i].cert);
		free(c->tlss[i].key);
	}
	free(c->tlss);
	free(c->tls_ciphers);
	free(c->tls_ciphersuites);
	free(c->dnsbl);
	free(c->dnswl);
	free(c->greylist_networks);
	free(c->junk_header);
	free(c->junk_value);
	free(c->junk_folder);
	memset(c, 0, sizeof(*c));
}

/* conf_is_local_domain - is domain (any case) one of c->domains? */
bool
conf_is_local_domain(const struct conf *c, const char *domain)
{
	if (domain == NULL)
		return false;
	for (size_t i = 0; i < c->ndomains; i++)
		if (str_ieq(c->domains[i], domain))
			return true;
	return false;
}

/* conf_recipient_checked - see conf.h. */
bool
conf_recipient_checked(const struct conf *c, const char *domain)
{
	return c->recipient_check.target != NULL &&
	    conf_deliver_of(c, domain)->target != NULL;
}

/* conf_deliver_sockaddr - see conf.h. */
socklen_t
conf_deliver_sockaddr(const struct conf_deliver *d,
    struct sockaddr_storage *ss)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (d->kind == CONF_DELIVER_LMTP_UNIX) {
		sun->sun_family = AF_UNIX;
		str_copy(sun->sun_path, d->host, sizeof(sun->sun_path));
		return sizeof(*sun);
	}
	if (inet_pton(AF_INET, d->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(d->port);
		return sizeof(*sin);
	}
	ASSERT(inet_pton(AF_INET6, d->host, &sin6->sin6_addr) == 1);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(d->port);
	return sizeof(*sin6);
}

/* conf_deliver_of - see conf.h. */
const struct conf_deliver *
conf_deliver_of(const struct conf *c, const char *domain)
{
	for (size_t i = 0; domain != NULL && i < c->nldomains; i++)
		if (str_ieq(c->ldomains[i].domain, domain))
			return &c->ldomains[i].deliver;
	return &c->deliver;
}

static bool
net_match(const struct conf_net *n, const unsigned char *a)
{
	unsigned	 full = n->prefix / 8, bits = n->prefix % 8;
	unsigned char	 mask;

	if (memcmp(n->addr, a, full) != 0)
		return false;
	if (bits == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - bits));
	return (n->addr[full] & mask) == (a[full] & mask);
}

/*
 * conf_relay_allowed - is the client address inside relay_networks?  An
 * IPv4 client is also tried as ::ffff:a.b.c.d against IPv6 networks, and
 * an IPv4-mapped IPv6 client (a dual-stack socket) as a.b.c.d against
 * IPv4 networks, so 127.0.0.0/8 covers ::ffff:127.0.0.1.
 */
bool
conf_relay_allowed(const struct conf *c, const struct sockaddr *sa)
{
	return conf_nets_match(c->relay_networks, c->nrelay_networks, sa);
}

/* conf_nets_match - is the address inside one of the n networks? */
bool
conf_nets_match(const struct conf_net *nets, size_t nnets,
    const struct sockaddr *sa)
{
	static const unsigned char	 mapped[12] = { [10] = 0xff, 0xff };
	struct sockaddr_in		 sin;
	struct sockaddr_in6		 sin6;
	unsigned char			 a4[4], a6[16];
	bool				 has4 = false, has6 = false;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		memcpy(&sin, sa, sizeof(sin));
		memcpy(a4, &sin.sin_addr, 4);
		memcpy(a6, mapped, 12);
		memcpy(a6 + 12, a4, 4);
		has4 = has6 = true;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(a6, &sin6.sin6_addr, 16);
		has6 = true;
		if (memcmp(a6, mapped, 12) == 0) {
			memcpy(a4, a6 + 12, 4);
			has4 = true;
		}
	}
	for (size_t i = 0; i < nnets; i++) {
		const struct conf_net	*n = &nets[i];

		if ((n->family == AF_INET && has4 && net_match(n, a4)) ||
		    (n->family == AF_INET6 && has6 && net_match(n, a6)))
			return true;
	}
	return false;
}

/* conf_parse_duration - "30s 5m 4h 5d 1w" or bare seconds; 0 or -1. */
int
conf_parse_duration(const char *s, uint64_t *v)
{
	return s != NULL && parse_scaled(s, DUR_UNITS, dur_mult, v) == 0 ?
	    0 : -1;
}

/* conf_parse_size - "512K 25M 1G" (K = 1024, k also) or bare bytes. */
int
conf_parse_size(const char *s, uint64_t *v)
{
	return s != NULL && parse_scaled(s, SIZE_UNITS, size_mult, v) == 0 ?
	    0 : -1;
}

/*
 * conf_parse_net - "ADDRESS/PREFIX" or a bare address (a host: /32 or
 * /128).  Host bits under the prefix must be zero: "10.0.0.1/8" is more
 * likely a typo than a network, so it is refused rather than masked.
 */
int
conf_parse_net(const char *s, struct conf_net *n)
{
	char		 a[INET6_ADDRSTRLEN + 1];
	const char	*slash, *end;
	uint64_t	 p;
	unsigned	 max;

	if (s == NULL)
		return -1;
	if ((slash = strchr(s, '/')) == NULL)
		slash = s + strlen(s);
	if ((size_t)(slash - s) >= sizeof(a))
		return -1;
	memset(n, 0, sizeof(*n));
	memcpy(a, s, (size_t)(slash - s));
	a[slash - s] = '\0';
	if (!is_ip(a, &n->family))
		return -1;
	inet_pton(n->family, a, n->addr);
	max = n->family == AF_INET ? 32 : 128;
	n->prefix = max;
	if (*slash == '/') {
		if (strlen(slash + 1) > 3 || parse_u64(slash + 1, &end, &p) ||
		    *end != '\0' || p > max)
			return -1;
		n->prefix = (unsigned)p;
	}
	for (unsigned bit = n->prefix; bit < max; bit++)
		if (n->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -1;
	return 0;
}

/*
 * conf_parse_hostport - "host", "host:port", "[v6]", "[v6]:port", or a
 * bare IPv6 address when no port is needed.  host is a domain name or an
 * IP literal.  On success *host is allocated (brackets removed, names
 * lower-cased) and *port set (0 if absent); on failure neither is touched.
 */
int
conf_parse_hostport(const char *s, bool need_port, char **host,
    uint16_t *port)
{
	const char	*h, *colon, *rb;
	size_t		 hlen;
	uint16_t	 pt = 0;
	char		 buf[256];
	int		 af;

	if (s == NULL)
		return -1;
	h = s;
	if (*s == '[') {
		if ((rb = strchr(s, ']')) == NULL ||
		    (rb[1] != '\0' && rb[1] != ':'))
			return -1;
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') != NULL) {
		colon = NULL;		/* bare IPv6, no port */
		hlen = strlen(s);
	} else
		hlen = colon ? (size_t)(colon - s) : strlen(s);
	if (hlen == 0 || hlen >= sizeof(buf))
		return -1;
	memcpy(buf, h, hlen);
	buf[hlen] = '\0';
	if (*s == '[' ? !is_ip(buf, &af) || af != AF_INET6 :
	    !is_ip(buf, &af) && !addr_hostname_check(buf))
		return -1;
	if (colon != NULL && parse_port(colon + 1, &pt) == -1)
		return -1;
	if (need_port && pt == 0)
		return -1;
	*host = str_lower(xstrdup(buf));
	*port = pt;
	return 0;
}

/* conf_listen_mode_str - "mx", "submission" or "submissions". */
const char *
conf_listen_mode_str(enum listen_mode m)
{
	return (unsigned)m < NELEM(w_mode) - 1 ? w_mode[m] : "?";
}
