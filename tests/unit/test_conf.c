/*
 * test_conf.c - table tests for conf.c: every key with good and bad
 * values, the error format (FILE:LINE:COL: KEY: reason), sections,
 * duplicates, comments, durations and sizes with overflow, networks and
 * relay matching (IPv4, IPv6, IPv4-mapped), host:port, defaults and
 * conf_load() through $POSTBOTE_CONF.  Files are made under /tmp; the
 * real /etc is never read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "common/conf.h"
#include "lib/util.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

static int
parse(const char *text, struct conf *c, char *err, size_t errlen)
{
	return conf_parse(text, strlen(text), "t.conf", c, err, errlen);
}

/* parse_ok - parse text that must be accepted; fails the test if not. */
static void
parse_ok(const char *text, struct conf *c)
{
	char	 err[512] = "";

	if (parse(text, c, err, sizeof(err)) != 0)
		fail_msg("rejected: \"%s\": %s", text, err);
}

/*
 * Good values: a line (or lines) and the field it must set.
 */
/* K_CWD: a relative path, made absolute from the working directory */
enum kind { K_NONE, K_UINT, K_U64, K_U16, K_STR, K_NULL, K_CHAR, K_ENUM,
	K_CWD };

struct good {
	const char	*text;
	enum kind	 kind;
	size_t		 off;
	uint64_t	 num;
	const char	*str;
};

#define F(f)	offsetof(struct conf, f)

static const struct good goods[] = {
	{ "dnsbl_threshold = 5", K_UINT, F(dnsbl_threshold), 5, NULL },
	{ "dnsbl_reject = connect", K_ENUM, F(dnsbl_reject), 1, NULL },
	{ "greylist = yes", K_ENUM, F(greylist), 1, NULL },
	{ "greylist_delay = 90s", K_U64, F(greylist_delay), 90, NULL },
	{ "greylist_expire = 2d", K_U64, F(greylist_expire), 172800, NULL },
	{ "junk_header = X-Spam-Flag: YES", K_STR, F(junk_header), 0,
	    "X-Spam-Flag" },
	{ "junk_header = X-Spam-Flag YES", K_STR, F(junk_value), 0, "YES" },
	{ "junk_header =", K_NULL, F(junk_header), 0, NULL },
	{ "junk_folder = Spam.Later", K_STR, F(junk_folder), 0, "Spam.Later" },
	{ "junk_folder =", K_NULL, F(junk_folder), 0, NULL },
	{ "hostname = mx.example.com", K_STR, F(hostname), 0,
	    "mx.example.com" },
	{ "hostname = MX.Example.COM", K_STR, F(hostname), 0,
	    "mx.example.com" },
	{ "hostname = localhost", K_STR, F(hostname), 0, "localhost" },
	{ "hostname = a-b.c9.example", K_STR, F(hostname), 0,
	    "a-b.c9.example" },
	{ "state_dir = /srv/pb", K_STR, F(state_dir), 0, "/srv/pb" },
	{ "state_dir = relative/dir", K_CWD, F(state_dir), 0,
	    "relative/dir" },
	{ "state_dir = ./relative/dir", K_CWD, F(state_dir), 0,
	    "relative/dir" },
	{ "users = users.txt", K_CWD, F(users), 0, "users.txt" },
	{ "mailbox = mail/%d/%u", K_CWD, F(mailbox), 0, "mail/%d/%u" },
	{ "mailbox = /var/mail/%d/%u", K_STR, F(mailbox), 0,
	    "/var/mail/%d/%u" },
	{ "mailbox = /m/%u", K_STR, F(mailbox), 0, "/m/%u" },
	{ "mailbox = /m/100%%/%u", K_STR, F(mailbox), 0, "/m/100%%/%u" },
	{ "mailbox =", K_STR, F(mailbox), 0,
	    "/var/lib/postbote/mail/%d/%u" },
	{ "state_dir = /srv\nmailbox =", K_STR, F(mailbox), 0,
	    "/srv/mail/%d/%u" },
	{ "users = /etc/pb/users", K_STR, F(users), 0, "/etc/pb/users" },
	{ "users =", K_NULL, F(users), 0, NULL },
	{ "aliases = aliases.txt", K_CWD, F(aliases), 0, "aliases.txt" },
	{ "aliases =", K_NULL, F(aliases), 0, NULL },
	{ "recipient_delimiter = +", K_CHAR, F(recipient_delimiter), '+',
	    NULL },
	{ "recipient_delimiter = -", K_CHAR, F(recipient_delimiter), '-',
	    NULL },
	{ "recipient_delimiter = _", K_CHAR, F(recipient_delimiter), '_',
	    NULL },
	{ "recipient_delimiter = =", K_CHAR, F(recipient_delimiter), '=',
	    NULL },
	{ "recipient_delimiter =", K_CHAR, F(recipient_delimiter), 0, NULL },
	{ "postmaster = admin@Example.COM", K_STR, F(postmaster), 0,
	    "admin@example.com" },
	{ "postmaster = \"First.Last\"@Example.NET", K_STR, F(postmaster), 0,
	    "First.Last@example.net" },
	{ "postmaster =", K_NULL, F(postmaster), 0, NULL },
	{ "# no postmaster", K_NULL, F(postmaster), 0, NULL },
	{ "recipient_delimiter = # none", K_CHAR, F(recipient_delimiter), 0,
	    NULL },
	{ "max_message_size = 1K", K_U64, F(max_message_size), 1024, NULL },
	{ "max_message_size = 1024", K_U64, F(max_message_size), 1024, NULL },
	{ "max_message_size = 512k", K_U64, F(max_message_size), 524288,
	    NULL },
	{ "max_message_size = 25M", K_U64, F(max_message_size), 26214400,
	    NULL },
	{ "max_message_size = 2G", K_U64, F(max_message_size), 2147483648u,
	    NULL },
	{ "max_message_size = 2048M", K_U64, F(max_message_size), 2147483648u,
	    NULL },
	{ "max_recipients = 1", K_UINT, F(max_recipients), 1, NULL },
	{ "max_recipients = 100000", K_UINT, F(max_recipients), 100000, NULL },
	{ "max_recipients = 0050", K_UINT, F(max_recipients), 50, NULL },
	{ "smtp_port = 1", K_U16, F(smtp_port), 1, NULL },
	{ "smtp_port = 2525", K_U16, F(smtp_port), 2525, NULL },
	{ "smtp_port = 65535", K_U16, F(smtp_port), 65535, NULL },
	{ "queue_lifetime = 1m", K_U64, F(queue_lifetime), 60, NULL },
	{ "queue_lifetime = 60", K_U64, F(queue_lifetime), 60, NULL },
	{ "queue_lifetime = 2s", K_U64, F(queue_lifetime), 2, NULL },
	{ "delay_warning = 0", K_U64, F(delay_warning), 0, NULL },
	{ "delay_warning = 30m", K_U64, F(delay_warning), 1800, NULL },
	{ "queue_lifetime = 60d", K_U64, F(queue_lifetime), 5184000, NULL },
	{ "queue_lifetime = 2w", K_U64, F(queue_lifetime), 1209600, NULL },
	{ "spf_policy = record", K_ENUM, F(spf_policy), SPF_POLICY_RECORD,
	    NULL },
	{ "spf_policy = reject", K_ENUM, F(spf_policy), SPF_POLICY_REJECT,
	    NULL },
	{ "dmarc_policy = record", K_ENUM, F(dmarc_policy),
	    DMARC_POLICY_RECORD, NULL },
	{ "dmarc_policy = enforce", K_ENUM, F(dmarc_policy),
	    DMARC_POLICY_ENFORCE, NULL },
	{ "bare_lf = normalize", K_ENUM, F(bare_lf), BARE_LF_NORMALIZE, NULL },
	{ "bare_lf = reject", K_ENUM, F(bare_lf), BARE_LF_REJECT, NULL },
	{ "user = _postbote", K_STR, F(user), 0, "_postbote" },
	{ "user = mail-1.x", K_STR, F(user), 0, "mail-1.x" },
	{ "smtpd_user = mx-in", K_STR, F(smtpd_user), 0, "mx-in" },
	{ "log = stderr", K_STR, F(log), 0, "stderr" },
	{ "log = syslog", K_STR, F(log), 0, "syslog" },
	{ "log = /var/log/postbote.log", K_STR, F(log), 0,
	    "/var/log/postbote.log" },
	{ "log = var/pb.log", K_CWD, F(log), 0, "var/pb.log" },
	{ "command_timeout = 1s", K_U64, F(command_timeout), 1, NULL },
	{ "command_timeout = 1h", K_U64, F(command_timeout), 3600, NULL },
	{ "command_timeout = 90", K_U64, F(command_timeout), 90, NULL },
	{ "data_timeout = 1", K_U64, F(data_timeout), 1, NULL },
	{ "data_timeout = 60m", K_U64, F(data_timeout), 3600, NULL },
	{ "greet_delay = 0", K_U64, F(greet_delay), 0, NULL },
	{ "greet_delay = 5s", K_U64, F(greet_delay), 5, NULL },
	{ "greet_delay = 1m", K_U64, F(greet_delay), 60, NULL },
	{ "max_errors = 1", K_UINT, F(max_errors), 1, NULL },
	{ "max_errors = 1000", K_UINT, F(max_errors), 1000, NULL },
	{ "max_junk_commands = 0", K_UINT, F(max_junk_commands), 0, NULL },
	{ "max_junk_commands = 5", K_UINT, F(max_junk_commands), 5, NULL },
	{ "max_commands_per_message = 20", K_UINT,
	    F(max_commands_per_message), 20, NULL },
	{ "max_session_time = 0", K_U64, F(max_session_time), 0, NULL },
	{ "max_session_time = 30m", K_U64, F(max_session_time), 1800, NULL },
	{ "stress_threshold = 100", K_UINT, F(stress_threshold), 100, NULL },
	{ "stress_connections_per_ip = 0", K_UINT,
	    F(stress_connections_per_ip), 0, NULL },
	{ "stress_command_timeout = 1s", K_U64, F(stress_command_timeout), 1,
	    NULL },
	{ "local_concurrency = 1", K_UINT, F(local_concurrency), 1, NULL },
	{ "local_concurrency = 1000", K_UINT, F(local_concurrency), 1000,
	    NULL },
	{ "tls_cert = c.pem\ntls_key = k.pem", K_CWD, F(tls_cert), 0,
	    "c.pem" },
	{ "tls_key = k.pem\ntls_cert = c.pem", K_CWD, F(tls_key), 0,
	    "k.pem" },
	{ "tls_cert =\ntls_key =", K_NULL, F(tls_cert), 0, NULL },
	{ "domains = example.com", K_U64, F(ndomains), 1, NULL },
	{ "domains = a.example b.example\tc.example", K_U64, F(ndomains), 3,
	    NULL },
	{ "relay_networks =", K_U64, F(nrelay_networks), 0, NULL },
	{ "relay_networks = 10.0.0.0/8 2001:db8::/32 192.0.2.7", K_U64,
	    F(nrelay_networks), 3, NULL },
	{ "resolver =", K_U64, F(nresolvers), 0, NULL },
	{ "resolver = 127.0.0.1 127.0.0.1:5353 [::1]:53 ::1", K_U64,
	    F(nresolvers), 4, NULL },
	{ "retry = 1s", K_U64, F(nretry), 1, NULL },
	{ "retry = 1s 7d 1w 60", K_U64, F(nretry), 4, NULL },
	/* layout: blanks, tabs, comments, CRLF, no final newline */
	{ "\n\n  max_errors=7  \n", K_UINT, F(max_errors), 7, NULL },
	{ "\tmax_errors\t=\t7\t# tabs", K_UINT, F(max_errors), 7, NULL },
	{ "# c\nmax_errors = 7 # trailing\n# end", K_UINT, F(max_errors), 7,
	    NULL },
	{ "max_errors = 7\r\n", K_UINT, F(max_errors), 7, NULL },
	{ "  # indented comment\r\nmax_errors = 8\r\n", K_UINT, F(max_errors),
	    8, NULL },
	{ "log = /var/log/a#b", K_STR, F(log), 0, "/var/log/a#b" },
	{ "log =#x", K_CWD, F(log), 0, "#x" },
	{ "users = /u #comment", K_STR, F(users), 0, "/u" },
	{ "", K_NONE, 0, 0, NULL },
	{ "# only a comment", K_NONE, 0, 0, NULL },
};

static void
check_good(const struct good *g, const struct conf *c)
{
	const char	*p = (const char *)c + g->off;
	char *const	*sp = (char *const *)(const void *)p;
	int		 e;

	switch (g->kind) {
	case K_UINT:
		assert_int_equal(*(const unsigned *)(const void *)p, g->num);
		break;
	case K_U64:
		assert_int_equal(*(const uint64_t *)(const void *)p, g->num);
		break;
	case K_U16:
		assert_int_equal(*(const uint16_t *)(const void *)p, g->num);
		break;
	case K_STR:
		assert_non_null(*sp);
		assert_string_equal(*sp, g->str);
		break;
	case K_NULL:
		assert_null(*sp);
		break;
	case K_CWD: {
		char	*cwd = getcwd(NULL, 0), want[4096];

		assert_non_null(cwd);
		snprintf(want, sizeof(want), "%s/%s", cwd, g->str);
		assert_non_null(*sp);
		assert_string_equal(*sp, want);
		free(cwd);
		break;
	}
	case K_CHAR:
		assert_int_equal(*p, (char)g->num);
		break;
	case K_ENUM:
		memcpy(&e, p, sizeof(e));
		assert_int_equal(e, g->num);
		break;
	case K_NONE:
		break;
	}
}

/* The spam keys: defaults, and the lists of sites. */
static void
test_spam_keys(void **state)
{
	struct conf	 c;
	char		 err[512];

	(void)state;
	parse_ok("hostname = a.example\n", &c);
	assert_int_equal(c.ndnsbl + c.ndnswl, 0);
	assert_int_equal(c.dnsbl_threshold, 1);
	assert_int_equal(c.greylist, 0);
	assert_int_equal(c.greylist_delay, 300);
	assert_int_equal(c.greylist_retry_window, 86400);
	assert_int_equal(c.greylist_expire, 35 * 86400);
	assert_string_equal(c.junk_header, "X-Spam");
	assert_string_equal(c.junk_value, "yes");
	assert_string_equal(c.junk_folder, "Junk");
	conf_free(&c);
	parse_ok("hostname = a.example\ndnsbl = zen.example.org*3 "
	    "b.example=127.0.0.2\ndnswl = w.example*-5\n"
	    "greylist_networks = 192.0.2.0/24\n", &c);
	assert_int_equal(c.ndnsbl, 2);
	assert_string_equal(c.dnsbl[0].zone, "zen.example.org");
	assert_int_equal(c.dnsbl[0].weight, 3);
	assert_true(c.dnsbl[1].filtered);
	assert_int_equal(c.ndnswl, 1);
	assert_int_equal(c.dnswl[0].weight, -5);
	assert_int_equal(c.ngreylist_networks, 1);
	conf_free(&c);
	assert_int_equal(parse("hostname = a.example\ndnsbl = z.example*x\n",
	    &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "t.conf:2:"));
	assert_non_null(strstr(err, "dnsbl"));
	assert_int_equal(parse("hostname = a.example\njunk_header = X-Spam\n",
	    &c, err, sizeof(err)), -1);
	assert_int_equal(parse("hostname = a.example\njunk_folder = ../x\n",
	    &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "junk_folder"));
}

static void
test_good_values(void **state)
{
	struct conf	 c;

	(void)state;
	for (size_t i = 0; i < NELEM(goods); i++) {
		print_message("good %zu\n", i);
		parse_ok(goods[i].text, &c);
		check_good(&goods[i], &c);
		conf_free(&c);
	}
}

/*
 * Bad input: the text and the whole error it must produce.
 */
struct bad {
	const char	*text;
	const char	*err;
};

static const struct bad bads[] = {
	/* the example of the brief, on line 7 */
	{ "\n\n\n\n\n\nmax_recipients = 0",
	    "t.conf:7:1: max_recipients: must be between 1 and 100000" },
	{ "max_recipients = 100001",
	    "t.conf:1:1: max_recipients: must be between 1 and 100000" },
	{ "max_recipients = -1",
	    "t.conf:1:1: max_recipients: \"-1\" is not a number" },
	{ "max_recipients = 1k",
	    "t.conf:1:1: max_recipients: \"1k\" is not a number" },
	{ "max_recipients = 1 2",
	    "t.conf:1:1: max_recipients: takes 1 word, not 2" },
	{ "max_recipients =",
	    "t.conf:1:1: max_recipients: needs a value" },
	{ "max_recipients = 99999999999999999999999",
	    "t.conf:1:1: max_recipients: must be between 1 and 100000" },
	{ "hostname = -bad.example",
	    "t.conf:1:1: hostname: \"-bad.example\" is not a domain name" },
	{ "hostname = a..b", "t.conf:1:1: hostname: \"a..b\" is not a "
	    "domain name" },
	{ "hostname = a.b.", "t.conf:1:1: hostname: \"a.b.\" is not a "
	    "domain name" },
	{ "hostname = 192.0.2.1", "t.conf:1:1: hostname: \"192.0.2.1\" is "
	    "not a domain name" },
	{ "hostname = a_b.example", "t.conf:1:1: hostname: \"a_b.example\" "
	    "is not a domain name" },
	{ "hostname = b\xc3\xa4r.example", "t.conf:1:1: hostname: "
	    "\"b\\xc3\\xa4r.example\" is not a domain name" },
	/* a 64-byte label */
	{ "hostname = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaa.example",
	    "t.conf:1:1: hostname: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaa.example\" is not a domain name" },
	{ "hostname =", "t.conf:1:1: hostname: needs a value" },
	{ "hostname = a b", "t.conf:1:1: hostname: takes 1 word, not 2" },
	{ "domains =", "t.conf:1:1: domains: needs at least one domain" },
	{ "domains = a.example b..example", "t.conf:1:1: domains: "
	    "\"b..example\" is not a domain name" },
	{ "domains = a.example A.Example", "t.conf:1:1: domains: "
	    "a.example is listed twice" },
	{ "state_dir =", "t.conf:1:1: state_dir: needs a value" },
	{ "state_dir = /a /b", "t.conf:1:1: state_dir: takes 1 word, not 2" },
	{ "mailbox = /m/%d", "t.conf:1:1: mailbox: needs %u (the local "
	    "part)" },
	{ "mailbox = /m/%s/%u", "t.conf:1:1: mailbox: only %d, %u and %% may "
	    "follow %" },
	{ "mailbox = /m/%u%", "t.conf:1:1: mailbox: only %d, %u and %% may "
	    "follow %" },
	{ "users = a b", "t.conf:1:1: users: takes 1 word, not 2" },
	{ "postmaster = root", "t.conf:1:1: postmaster: \"root\" is not an "
	    "address local@domain" },
	{ "postmaster = <a@b.example>", "t.conf:1:1: postmaster: "
	    "\"<a@b.example>\" is not an address local@domain" },
	{ "postmaster = a@b.example c@d.example", "t.conf:1:1: postmaster: "
	    "takes 1 word, not 2" },
	{ "recipient_delimiter = ++", "t.conf:1:1: recipient_delimiter: "
	    "must be one of + - _ = or empty" },
	{ "recipient_delimiter = .", "t.conf:1:1: recipient_delimiter: "
	    "must be one of + - _ = or empty" },
	{ "relay_networks = 10.0.0.1/8", "t.conf:1:1: relay_networks: "
	    "\"10.0.0.1/8\" is not ADDRESS or ADDRESS/PREFIX with the host "
	    "bits zero" },
	{ "relay_networks = 10.0.0.0/33", "t.conf:1:1: relay_networks: "
	    "\"10.0.0.0/33\" is not ADDRESS or ADDRESS/PREFIX with the host "
	    "bits zero" },
	{ "relay_networks = ::1/129", "t.conf:1:1: relay_networks: "
	    "\"::1/129\" is not ADDRESS or ADDRESS/PREFIX with the host "
	    "bits zero" },
	{ "relay_networks = example.com", "t.conf:1:1: relay_networks: "
	    "\"example.com\" is not ADDRESS or ADDRESS/PREFIX with the host "
	    "bits zero" },
	{ "max_message_size = 1023", "t.conf:1:1: max_message_size: must be "
	    "between 1K and 2G" },
	{ "max_message_size = 3G", "t.conf:1:1: max_message_size: must be "
	    "between 1K and 2G" },
	{ "max_message_size = 2049M", "t.conf:1:1: max_message_size: must be "
	    "between 1K and 2G" },
	{ "max_message_size = 25MB", "t.conf:1:1: max_message_size: \"25MB\" "
	    "is not a size (512K, 25M, 1G)" },
	{ "max_message_size = 99999999999999999999G", "t.conf:1:1: "
	    "max_message_size: must be between 1K and 2G" },
	{ "max_message_size = 17179869184G", "t.conf:1:1: "
	    "max_message_size: must be between 1K and 2G" },
	{ "max_message_size = M", "t.conf:1:1: max_message_size: \"M\" is "
	    "not a size (512K, 25M, 1G)" },
	{ "tls_cert = c.pem", "t.conf:1:1: tls_cert: tls_cert and tls_key "
	    "go together" },
	{ "\ntls_key = k.pem", "t.conf:2:1: tls_key: tls_cert and tls_key "
	    "go together" },
	{ "tls_cert = c.pem\ntls_key =", "t.conf:1:1: tls_cert: tls_cert and "
	    "tls_key go together" },
	{ "resolver = dns.example", "t.conf:1:1: resolver: \"dns.example\": "
	    "give an IP address, not a name" },
	{ "resolver = 1.2.3.4:0", "t.conf:1:1: resolver: \"1.2.3.4:0\" is "
	    "not IP, IP:PORT or [IPV6]:PORT" },
	{ "resolver = 1.2.3.4:65536", "t.conf:1:1: resolver: \"1.2.3.4:65536\" "
	    "is not IP, IP:PORT or [IPV6]:PORT" },
	{ "resolver = [1.2.3.4]:53", "t.conf:1:1: resolver: \"[1.2.3.4]:53\" "
	    "is not IP, IP:PORT or [IPV6]:PORT" },
	{ "resolver = [::1]x", "t.conf:1:1: resolver: \"[::1]x\" is not IP, "
	    "IP:PORT or [IPV6]:PORT" },
	{ "smtp_port = 0", "t.conf:1:1: smtp_port: must be between 1 and "
	    "65535" },
	{ "smtp_port = 65536", "t.conf:1:1: smtp_port: must be between 1 and "
	    "65535" },
	{ "smtp_port = 25x", "t.conf:1:1: smtp_port: \"25x\" is not a "
	    "number" },
	{ "retry =", "t.conf:1:1: retry: needs at least one duration" },
	{ "retry = 5m 0s", "t.conf:1:1: retry: 0s: must be between 1s and "
	    "7d" },
	{ "retry = 5m 8d", "t.conf:1:1: retry: 8d: must be between 1s and "
	    "7d" },
	{ "retry = 5m 5x", "t.conf:1:1: retry: 5x: \"5x\" is not a duration "
	    "(30s, 5m, 4h, 5d, 1w)" },
	{ "retry = 99999999999999999999d", "t.conf:1:1: retry: "
	    "99999999999999999999d: must be between 1s and 7d" },
	{ "queue_lifetime = 0s", "t.conf:1:1: queue_lifetime: must be "
	    "between 1s and 60d" },
	{ "delay_warning = 61d", "t.conf:1:1: delay_warning: must be "
	    "between 0s and 60d" },
	{ "queue_lifetime = 61d", "t.conf:1:1: queue_lifetime: must be "
	    "between 1s and 60d" },
	{ "queue_lifetime = 99999999999999999999d", "t.conf:1:1: "
	    "queue_lifetime: must be between 1s and 60d" },
	{ "queue_lifetime = 3000000000000000000w", "t.conf:1:1: "
	    "queue_lifetime: must be between 1s and 60d" },
	{ "queue_lifetime = 5D", "t.conf:1:1: queue_lifetime: \"5D\" is not "
	    "a duration (30s, 5m, 4h, 5d, 1w)" },
	{ "queue_lifetime = 1h30m", "t.conf:1:1: queue_lifetime: \"1h30m\" is "
	    "not a duration (30s, 5m, 4h, 5d, 1w)" },
	{ "queue_lifetime = d", "t.conf:1:1: queue_lifetime: \"d\" is not a "
	    "duration (30s, 5m, 4h, 5d, 1w)" },
	{ "spf_policy = quarantine", "t.conf:1:1: spf_policy: must be "
	    "record | reject" },
	{ "spf_policy = Reject", "t.conf:1:1: spf_policy: must be record | "
	    "reject" },
	{ "dmarc_policy = reject", "t.conf:1:1: dmarc_policy: must be "
	    "record | enforce" },
	{ "bare_lf = strict", "t.conf:1:1: bare_lf: must be normalize | "
	    "reject" },
	{ "bare_lf = Reject", "t.conf:1:1: bare_lf: must be normalize | "
	    "reject" },
	{ "user = -x", "t.conf:1:1: user: \"-x\" is not a user name" },
	{ "user = a/b", "t.conf:1:1: user: \"a/b\" is not a user name" },
	{ "smtpd_user = a/b", "t.conf:1:1: smtpd_user: \"a/b\" is not a user "
	    "name" },
	{ "user = mx\nsmtpd_user = mx", "t.conf:2:1: smtpd_user: must differ "
	    "from user: smtpd may not write the spool or the mailboxes" },
	{ "log = a b", "t.conf:1:1: log: takes 1 word, not 2" },
	{ "command_timeout = 0", "t.conf:1:1: command_timeout: must be "
	    "between 1s and 1h" },
	{ "command_timeout = 61m", "t.conf:1:1: command_timeout: must be "
	    "between 1s and 1h" },
	{ "data_timeout = 2h", "t.conf:1:1: data_timeout: must be between 1s "
	    "and 1h" },
	{ "greet_delay = 61", "t.conf:1:1: greet_delay: must be between 0s "
	    "and 1m" },
	{ "max_errors = 0", "t.conf:1:1: max_errors: must be between 1 and "
	    "1000" },
	{ "max_errors = 1001", "t.conf:1:1: max_errors: must be between 1 "
	    "and 1000" },
	{ "stress_threshold = 0", "t.conf:1:1: stress_threshold: must be "
	    "between 1 and 100" },
	{ "stress_threshold = 101", "t.conf:1:1: stress_threshold: must be "
	    "between 1 and 100" },
	{ "stress_command_timeout = 0", "t.conf:1:1: stress_command_timeout: "
	    "must be between 1s and 1h" },
	{ "max_session_time = 8d", "t.conf:1:1: max_session_time: must be "
	    "between 0s and 7d" },
	{ "local_concurrency = 0", "t.conf:1:1: local_concurrency: must be "
	    "between 1 and 1000" },
	{ "local_concurrency = 1001", "t.conf:1:1: local_concurrency: must "
	    "be between 1 and 1000" },
	/* syntax */
	{ "bogus = 1", "t.conf:1:1: bogus: unknown key" },
	{ "  Hostname = x", "t.conf:1:3: Hostname: unknown key; did you "
	    "mean \"hostname\"?" },
	/* a slip gets a suggestion; something far from every key, none */
	{ "max_recipent = 5", "t.conf:1:1: max_recipent: unknown key; did "
	    "you mean \"max_recipients\"?" },
	{ "tls_ciphersuite = x", "t.conf:1:1: tls_ciphersuite: unknown key; "
	    "did you mean \"tls_ciphersuites\"?" },
	{ "[listen a]\naddres = 127.0.0.1:25", "t.conf:2:1: addres: unknown "
	    "key in [listen a]; did you mean \"address\"?" },
	{ "usr = x", "t.conf:1:1: usr: unknown key; did you mean \"user\"?" },
	{ "xy = 1", "t.conf:1:1: xy: unknown key" },
	{ "max_everything = 1", "t.conf:1:1: max_everything: unknown key" },
	{ "max_errors 5", "t.conf:1:12: max_errors: expected '=' after the "
	    "key" },
	{ "max_errors", "t.conf:1:11: max_errors: expected '=' after the "
	    "key" },
	{ "max_errors\n= 5", "t.conf:1:11: max_errors: expected '=' after "
	    "the key" },
	{ "= 5", "t.conf:1:1: expected a key or a [section], not \"=\"" },
	{ "]", "t.conf:1:1: expected a key or a [section], not \"]\"" },
	{ "max_errors = 5\x01", "t.conf:1:15: invalid byte 0x01" },
	{ "max_errors = 5\rx", "t.conf:1:15: invalid byte 0x0d" },
	{ "\x7f", "t.conf:1:1: invalid byte 0x7f" },
	{ "max_errors = 5\nmax_errors = 6", "t.conf:2:1: max_errors: set twice "
	    "(first on line 1)" },
	{ "[listen a]\naddress = 127.0.0.1:25 extra", "t.conf:2:1: address: "
	    "takes 1 word, not 2" },
	/* sections */
	{ "[mailer x]", "t.conf:1:2: mailer: unknown section (listen, route, "
	    "dkim, tls, domain or milter)" },
	{ "[listen]", "t.conf:1:8: expected a section name, not \"]\"" },
	{ "[listen a b]", "t.conf:1:11: expected ']', not \"b\"" },
	{ "[listen a", "t.conf:1:10: expected ']' before the end of the "
	    "line" },
	{ "[listen a] x", "t.conf:1:12: expected the end of the line, not "
	    "\"x\"" },
	{ "[]", "t.conf:1:2: expected listen, route, dkim, tls, domain or milter, "
	    "not "
	    "\"]\"" },
	/* deliver and [domain] */
	{ "deliver = lmtp", "t.conf:1:1: deliver: \"lmtp\" is not maildir, "
	    "lmtp:unix:PATH or lmtp:IP:PORT" },
	{ "deliver = lmtp:unix:", "t.conf:1:1: deliver: \"lmtp:unix:\" is not "
	    "maildir, lmtp:unix:PATH or lmtp:IP:PORT" },
	{ "deliver = lmtp:dovecot.example:24", "t.conf:1:1: deliver: "
	    "\"lmtp:dovecot.example:24\": the LMTP server must be an IP "
	    "address" },
	{ "deliver = maildir lmtp:127.0.0.1:24", "t.conf:1:1: deliver: takes "
	    "1 word, not 2" },
	{ "auth_backend = dovecot:auth.example:1", "t.conf:1:1: auth_backend: "
	    "\"dovecot:auth.example:1\": the Dovecot server must be an IP "
	    "address" },
	{ "auth_mechanisms = CRAM-MD5", "t.conf:1:1: auth_mechanisms: needs "
	    "auth_backend = dovecot:...: only Dovecot checks mechanisms other "
	    "than PLAIN and LOGIN" },
	{ "auth_mechanisms = CRAM:MD5", "t.conf:1:1: auth_mechanisms: "
	    "\"CRAM:MD5\" is not a SASL mechanism name" },
	{ "auth_backend = dovecot", "t.conf:1:1: auth_backend: \"dovecot\" "
	    "is not users, dovecot:unix:PATH or dovecot:IP:PORT" },
	{ "recipient_check = lmtp:unix:/x", "t.conf:1:1: recipient_check: "
	    "\"lmtp:unix:/x\" is not none, dovecot:unix:PATH or "
	    "dovecot:IP:PORT" },
	{ "domains = a.example\n[domain b.example]\ndeliver = maildir",
	    "t.conf:2:1: domain: b.example is not one of domains" },
	{ "domains = a.example\n[domain a.example]\n",
	    "t.conf:2:1: deliver: required in [domain a.example]" },
	{ "domains = a.example\n[domain a.example]\ndeliver = maildir\n"
	    "[domain A.example]\ndeliver = maildir",
	    "t.conf:4:9: domain: [domain A.example] appears twice" },
	{ "[listen a]\n", "t.conf:1:1: address: required in [listen a]" },
	{ "[listen a]\nmode = mx\n[listen b]\naddress = 127.0.0.1:25",
	    "t.conf:1:1: address: required in [listen a]" },
	{ "[listen a]\naddress = 127.0.0.1:25\n[listen a]\naddress = "
	    "127.0.0.1:26", "t.conf:3:9: listen: [listen a] appears twice" },
	{ "[listen a]\naddress = 127.0.0.1:25\naddress = 127.0.0.1:26",
	    "t.conf:3:1: address: set twice (first on line 2)" },
	{ "[listen a]\naddress = 127.0.0.1:25\n[listen b]\naddress = "
	    "127.0.0.1:25", "t.conf:4:1: address: 127.0.0.1 port 25 is already "
	    "taken by [listen a]" },
	{ "[listen a]\naddress = 0.0.0.0:25\n[listen b]\naddress = "
	    "127.0.0.1:25", "t.conf:4:1: address: 127.0.0.1 port 25 is already "
	    "taken by [listen a]" },
	{ "[listen a]\naddress = [::1]:25\n[listen b]\naddress = "
	    "[0:0::1]:25", "t.conf:4:1: address: ::1 port 25 is already "
	    "taken by [listen a]" },
	{ "[listen a/b]", "t.conf:1:9: listen: \"a/b\" is not a name "
	    "(letters, digits, '.', '_', '-')" },
	{ "[listen a]\naddress = 127.0.0.1", "t.conf:2:1: address: "
	    "\"127.0.0.1\" is not ADDRESS:PORT or [IPV6]:PORT" },
	{ "[listen a]\naddress = ::1:25", "t.conf:2:1: address: \"::1:25\" "
	    "is not ADDRESS:PORT or [IPV6]:PORT" },
	{ "[listen a]\naddress = localhost:25", "t.conf:2:1: address: "
	    "\"localhost:25\": give an IP address, not a name" },
	{ "[listen a]\naddress = 127.0.0.1:99999", "t.conf:2:1: address: "
	    "\"127.0.0.1:99999\" is not ADDRESS:PORT or [IPV6]:PORT" },
	{ "[listen a]\naddress = 127.0.0.1:25\nmode = smtp", "t.conf:3:1: "
	    "mode: must be mx | submission | submissions" },
	{ "[listen a]\naddress = 127.0.0.1:25\nhost = x", "t.conf:3:1: host: "
	    "only valid in a [route NAME] section" },
	{ "address = 127.0.0.1:25", "t.conf:1:1: address: only valid in a "
	    "[listen NAME] section" },
	{ "[listen a]\naddress = 127.0.0.1:25\nhostname = x", "t.conf:3:1: "
	    "hostname: global key inside [listen a]; move it above the first "
	    "section" },
	{ "[route example..com]", "t.conf:1:8: route: \"example..com\" is not "
	    "a domain name or *" },
	{ "[route x.example]\nhost = smtp.x.example\n[route X.EXAMPLE]",
	    "t.conf:3:8: route: [route X.EXAMPLE] appears twice" },
	{ "[route *]\ntls = may", "t.conf:1:1: host: required in [route *]" },
	{ "[route *]\nhost = smtp..x", "t.conf:2:1: host: \"smtp..x\" is not "
	    "HOST, HOST:PORT or [IPV6]:PORT" },
	{ "[route *]\nhost = smtp.x:0", "t.conf:2:1: host: \"smtp.x:0\" is not "
	    "HOST, HOST:PORT or [IPV6]:PORT" },
	{ "[route *]\nhost = a\ntls = maybe", "t.conf:3:1: tls: must be none "
	    "| may | require | implicit | verify | dane | sts" },
	{ "[route *]\nhost = a\ntls = sts", "t.conf:3:1: tls: sts needs a "
	    "host name with a domain, not an address" },
	{ "[route *]\nhost = 192.0.2.1\ntls = sts", "t.conf:3:1: tls: sts "
	    "needs a host name with a domain, not an address" },
	{ "mta_sts = no\n[route *]\nhost = smtp.x.example\ntls = sts",
	    "t.conf:4:1: tls: sts needs mta_sts = yes" },
	{ "mta_sts_timeout = 0s", "t.conf:1:1: mta_sts_timeout: must be "
	    "between 1s and 10m" },
	{ "mta_sts_port = 0", "t.conf:1:1: mta_sts_port: must be between 1 "
	    "and 65535" },
	{ "[route *]\nhost = a\ntls = dane", "t.conf:3:1: tls: dane needs "
	    "dnssec_resolver = yes" },
	{ "resolver = 127.0.0.1\ndnssec_resolver = yes\n[route *]\n"
	    "host = 192.0.2.1\ntls = dane", "t.conf:5:1: tls: dane needs a "
	    "host name, not an address" },
	{ "dnssec_resolver = yes", "t.conf:1:1: dnssec_resolver: needs "
	    "resolver: the AD bit is trusted only from a resolver named "
	    "here" },
	{ "destination_concurrency = 0", "t.conf:1:1: destination_concurrency: "
	    "must be between 1 and 1000" },
	{ "[route *]\nhost = a\nauth = user", "t.conf:3:1: auth: takes 2 "
	    "words, not 1" },
	{ "[route *]\nhost = a\nauth = u f x", "t.conf:3:1: auth: takes 2 "
	    "words, not 3" },
	{ "[route *]\nhost = a\ntls = none\nauth = u /f", "t.conf:4:1: auth: "
	    "needs tls = may or require, not none" },
	{ "[dkim *]", "t.conf:1:7: dkim: \"*\" is not a domain name" },
	{ "[dkim x.example]\nselector = s1", "t.conf:1:1: key: required in "
	    "[dkim x.example]" },
	{ "[dkim x.example]\nkey = /k", "t.conf:1:1: selector: required in "
	    "[dkim x.example]" },
	{ "[dkim x.example]\nselector = s_1\nkey = /k", "t.conf:2:1: "
	    "selector: \"s_1\" is not a domain name" },
	{ "[dkim x.example]\nselector = s\nkey = /k\n[dkim x.example]\n"
	    "selector = s\nkey = /k2", "t.conf:5:1: selector: selector s is "
	    "already used by another [dkim x.example]" },
};

static void
test_bad_values(void **state)
{
	struct conf	 c;
	char		 err[512];

	(void)state;
	for (size_t i = 0; i < NELEM(bads); i++) {
		memset(err, 'X', sizeof(err));
		err[sizeof(err) - 1] = '\0';
		print_message("bad %zu\n", i);
		assert_int_equal(parse(bads[i].text, &c, err, sizeof(err)), -1);
		assert_string_equal(err, bads[i].err);
		/* *c was freed and zeroed */
		assert_null(c.hostname);
		assert_null(c.domains);
		assert_null(c.listens);
		assert_int_equal(c.nlistens, 0);
	}
}

/* NUL bytes: the text has a length, so they are seen and refused. */
static void
test_nul_bytes(void **state)
{
	static const char	 in1[] = "max_errors\0 = 5";
	static const char	 in2[] = "max_errors = 5 # \0 in a comment\n\0";
	static const char	 in3[] = "log = a\0b";
	struct conf		 c;
	char			 err[256];

	(void)state;
	assert_int_equal(conf_parse(in1, sizeof(in1) - 1, "t.conf", &c, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "t.conf:1:11: invalid byte 0x00");
	assert_int_equal(conf_parse(in2, sizeof(in2) - 1, "t.conf", &c, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "t.conf:2:1: invalid byte 0x00");
	assert_int_equal(conf_parse(in3, sizeof(in3) - 1, "t.conf", &c, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "t.conf:1:8: invalid byte 0x00");
	/* the length is honoured: bytes after it are not read */
	assert_int_equal(conf_parse(in1, 10, "t.conf", &c, err,
	    sizeof(err)), -1);
	assert_string_equal(err,
	    "t.conf:1:11: max_errors: expected '=' after the key");
}

static void
test_error_truncated_and_null(void **state)
{
	struct conf	 c;
	char		 err[12];

	(void)state;
	assert_int_equal(parse("bogus = 1", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:1:1:");
	assert_int_equal(parse("bogus = 1", &c, NULL, 0), -1);
	assert_int_equal(conf_parse("x", 1, NULL, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "(config):1:");
	assert_int_equal(conf_parse(NULL, 0, "t.conf", &c, NULL, 0), 0);
	conf_free(&c);
}

static void
test_line_numbers(void **state)
{
	static const char text[] =
	    "# postbote\n"
	    "hostname = mx.example.com\r\n"
	    "\n"
	    "   \t\n"
	    "[listen mx]   # public\n"
	    "  address = 0.0.0.0:25\n"
	    "  mode     = mxx\n";
	struct conf	 c;
	char		 err[256];

	(void)state;
	assert_int_equal(parse(text, &c, err, sizeof(err)), -1);
	assert_string_equal(err,
	    "t.conf:7:3: mode: must be mx | submission | submissions");
}

/*
 * Defaults
 */

static void
check_common_defaults(const struct conf *c)
{
	assert_non_null(c->hostname);
	assert_int_equal(c->ndomains, 1);
	assert_string_equal(c->domains[0], "localhost");
	assert_null(c->users);
	assert_null(c->aliases);
	assert_int_equal(c->recipient_delimiter, '+');
	assert_int_equal(c->nrelay_networks, 2);
	assert_int_equal(c->relay_networks[0].family, AF_INET);
	assert_int_equal(c->relay_networks[0].prefix, 8);
	assert_int_equal(c->relay_networks[0].addr[0], 127);
	assert_int_equal(c->relay_networks[1].family, AF_INET6);
	assert_int_equal(c->relay_networks[1].prefix, 128);
	assert_int_equal(c->max_message_size, 25 * 1024 * 1024);
	assert_int_equal(c->max_recipients, 1000);
	assert_null(c->tls_cert);
	assert_null(c->tls_key);
	assert_int_equal(c->nresolvers, 0);
	assert_int_equal(c->smtp_port, 25);
	assert_int_equal(c->nretry, 6);
	assert_int_equal(c->retry[0], 300);
	assert_int_equal(c->retry[1], 600);
	assert_int_equal(c->retry[2], 1800);
	assert_int_equal(c->retry[3], 3600);
	assert_int_equal(c->retry[4], 7200);
	assert_int_equal(c->retry[5], 14400);
	assert_int_equal(c->queue_lifetime, 5 * 86400);
	assert_int_equal(c->spf_policy, SPF_POLICY_RECORD);
	assert_int_equal(c->dmarc_policy, DMARC_POLICY_ENFORCE);
	assert_int_equal(c->bare_lf, BARE_LF_NORMALIZE);
	assert_string_equal(c->user, "postbote");
	assert_string_equal(c->smtpd_user, "postbote-smtpd");
	assert_string_equal(c->log, "stderr");
	assert_int_equal(c->command_timeout, 300);
	assert_int_equal(c->data_timeout, 600);
	assert_int_equal(c->greet_delay, 0);
	assert_int_equal(c->max_errors, 10);
	assert_int_equal(c->max_junk_commands, 200);
	assert_int_equal(c->max_commands_per_message, 5000);
	assert_int_equal(c->max_session_time, 3600);
	assert_int_equal(c->stress_threshold, 80);
	assert_int_equal(c->stress_connections_per_ip, 10);
	assert_int_equal(c->stress_command_timeout, 10);
	assert_int_equal(c->local_concurrency, 20);
	assert_int_equal(c->nroutes, 0);
	assert_int_equal(c->ndkims, 0);
}

static void
test_defaults_embedded(void **state)
{
	struct conf	 c;
	char		*cwd = getcwd(NULL, 0), want[4096];

	(void)state;
	conf_defaults(&c);
	check_common_defaults(&c);
	assert_null(c.path);
	/* "./var" and "./var/mail/%d/%u", made absolute */
	snprintf(want, sizeof(want), "%s/var", cwd);
	assert_string_equal(c.state_dir, want);
	snprintf(want, sizeof(want), "%s/var/mail/%%d/%%u", cwd);
	assert_string_equal(c.mailbox, want);
	assert_string_equal(conf_state_relative(&c, c.mailbox), "mail/%d/%u");
	assert_string_equal(conf_state_relative(&c, "/elsewhere/%u"),
	    "/elsewhere/%u");
	free(cwd);
	assert_true(c.any_local);
	assert_int_equal(c.nlistens, 3);
	assert_string_equal(c.listens[0].host, "127.0.0.1");
	assert_int_equal(c.listens[0].port, 2525);
	assert_int_equal(c.listens[0].mode, LISTEN_MX);
	assert_string_equal(c.listens[1].host, "127.0.0.1");
	assert_int_equal(c.listens[1].port, 2587);
	assert_int_equal(c.listens[1].mode, LISTEN_SUBMISSION);
	assert_string_equal(c.listens[2].host, "127.0.0.1");
	assert_int_equal(c.listens[2].port, 2465);
	assert_int_equal(c.listens[2].mode, LISTEN_SUBMISSIONS);
	assert_true(conf_is_local_domain(&c, "LocalHost"));
	conf_free(&c);
	conf_free(&c);		/* a freed conf is zeroed: free again is safe */
}

static void
test_defaults_file(void **state)
{
	struct conf	 c;
	char		 host[256];

	(void)state;
	parse_ok("# nothing but a comment\n", &c);
	check_common_defaults(&c);
	assert_string_equal(c.path, "t.conf");
	assert_string_equal(c.state_dir, "/var/lib/postbote");
	assert_string_equal(c.mailbox, "/var/lib/postbote/mail/%d/%u");
	assert_false(c.any_local);
	assert_int_equal(c.nlistens, 1);
	assert_string_equal(c.listens[0].host, "0.0.0.0");
	assert_int_equal(c.listens[0].port, 25);
	assert_int_equal(c.listens[0].mode, LISTEN_MX);
	/* hostname comes from the system when it is a domain name */
	if (gethostname(host, sizeof(host)) == 0 && strchr(host, '_') == NULL)
		assert_true(str_ieq(c.hostname, host));
	conf_free(&c);
}

/* The remote delivery keys: defaults, and tls = implicit on a route. */
static void
test_remote_keys(void **state)
{
	struct conf	c;

	(void)state;
	parse_ok("# nothing\n", &c);
	assert_int_equal(c.remote_concurrency, 20);
	assert_int_equal(c.destination_concurrency, 4);
	assert_int_equal(c.max_received, 50);
	assert_int_equal(c.smtp_client_timeout, 0);
	assert_int_equal(c.smtp_idle_time, 5);
	assert_null(c.smtp_tls_ca);
	conf_free(&c);
	parse_ok("smtp_client_timeout = 2m\nsmtp_tls_ca = /ca.pem\n"
	    "[route *]\nhost = smtp.example.net:465\ntls = implicit\n", &c);
	assert_int_equal(c.smtp_client_timeout, 120);
	assert_string_equal(c.smtp_tls_ca, "/ca.pem");
	assert_int_equal(c.routes[0].tls, ROUTE_TLS_IMPLICIT);
	assert_int_equal(c.routes[0].port, 465);
	conf_free(&c);
}

/* [milter NAME]: sockets, listeners, timeouts, the default action. */
static void
test_milter_sections(void **state)
{
	struct conf	c;
	char		err[256];

	(void)state;
	parse_ok("[listen mx]\naddress = 127.0.0.1:25\n"
	    "[listen sub]\naddress = 127.0.0.1:587\nmode = submission\n"
	    "[milter rspamd]\nsocket = inet:127.0.0.1:11332\n"
	    "listeners = mx\ncontent_timeout = 2m\n"
	    "[milter clamav]\nsocket = unix:/run/clamav/milter.ctl\n"
	    "default_action = accept\n"
	    "[milter six]\nsocket = inet:[::1]:9\n", &c);
	assert_int_equal(c.nmilters, 3);
	assert_string_equal(c.milters[0].name, "rspamd");
	assert_false(c.milters[0].is_unix);
	assert_string_equal(c.milters[0].host, "127.0.0.1");
	assert_int_equal(c.milters[0].port, 11332);
	assert_int_equal(c.milters[0].content_timeout, 120);
	assert_int_equal(c.milters[0].command_timeout, 30);
	assert_int_equal(c.milters[0].default_action, MILTER_DEFAULT_TEMPFAIL);
	assert_true(conf_milter_applies(&c, &c.milters[0], 0));
	assert_false(conf_milter_applies(&c, &c.milters[0], 1));
	assert_true(c.milters[1].is_unix);
	assert_string_equal(c.milters[1].path, "/run/clamav/milter.ctl");
	assert_string_equal(c.milters[1].socket, "unix:/run/clamav/milter.ctl");
	assert_int_equal(c.milters[1].default_action, MILTER_DEFAULT_ACCEPT);
	assert_true(conf_milter_applies(&c, &c.milters[1], 1));
	assert_string_equal(c.milters[2].socket, "inet:[::1]:9");
	conf_free(&c);
	assert_int_equal(parse("[milter a]\nsocket = inet:127.0.0.1:1\n"
	    "[milter a]\nsocket = inet:127.0.0.1:2\n", &c, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "appears twice"));
	assert_int_equal(parse("[milter a]\nsocket = inet:127.0.0.1:1\n"
	    "listeners = nope\n", &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no [listen nope]"));
	assert_int_equal(parse("[milter a]\nsocket = inet:host.test:1\n", &c,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "IP address"));
}

/* deliver = ..., per domain in [domain] (LMTP, RFC 2033). */
static void
test_deliver_keys(void **state)
{
	struct conf			 c;
	const struct conf_deliver	*d;

	(void)state;
	parse_ok("domains = a.example b.example\n", &c);
	assert_int_equal(c.deliver.kind, CONF_DELIVER_MAILDIR);
	assert_null(c.deliver.target);
	assert_int_equal(c.lmtp_concurrency, 10);
	assert_ptr_equal(conf_deliver_of(&c, "a.example"), &c.deliver);
	conf_free(&c);
	parse_ok("domains = a.example b.example c.example\n"
	    "deliver = lmtp:unix:/run/dovecot/lmtp\nlmtp_concurrency = 3\n"
	    "[domain B.example]\ndeliver = lmtp:127.0.0.1:24\n"
	    "[domain c.example]\ndeliver = lmtp:[::1]:2424\n", &c);
	assert_int_equal(c.deliver.kind, CONF_DELIVER_LMTP_UNIX);
	assert_string_equal(c.deliver.target, "lmtp:unix:/run/dovecot/lmtp");
	assert_string_equal(c.deliver.host, "/run/dovecot/lmtp");
	assert_int_equal(c.lmtp_concurrency, 3);
	d = conf_deliver_of(&c, "b.EXAMPLE");
	assert_int_equal(d->kind, CONF_DELIVER_LMTP_INET);
	assert_string_equal(d->target, "lmtp:127.0.0.1:24");
	assert_string_equal(d->host, "127.0.0.1");
	assert_int_equal(d->port, 24);
	d = conf_deliver_of(&c, "c.example");
	assert_string_equal(d->target, "lmtp:[::1]:2424");
	assert_string_equal(d->host, "::1");
	assert_ptr_equal(conf_deliver_of(&c, "a.example"), &c.deliver);
	assert_ptr_equal(conf_deliver_of(&c, NULL), &c.deliver);
	conf_free(&c);
}

/*
 * Lists and sections
 */

static void
test_lists(void **state)
{
	struct conf	 c;

	(void)state;
	parse_ok("domains = Example.COM example.org\n"
	    "retry = 1m 1h\t1d\n"
	    "resolver = 192.0.2.53 [2001:db8::53]:5353\n"
	    "relay_networks = 192.0.2.0/24\n", &c);
	assert_int_equal(c.ndomains, 2);
	assert_string_equal(c.domains[0], "example.com");
	assert_string_equal(c.domains[1], "example.org");
	assert_true(conf_is_local_domain(&c, "EXAMPLE.org"));
	assert_false(conf_is_local_domain(&c, "localhost"));
	assert_false(conf_is_local_domain(&c, "example.net"));
	assert_false(conf_is_local_domain(&c, NULL));
	assert_int_equal(c.nretry, 3);
	assert_int_equal(c.retry[0], 60);
	assert_int_equal(c.retry[1], 3600);
	assert_int_equal(c.retry[2], 86400);
	assert_int_equal(c.nresolvers, 2);
	assert_string_equal(c.resolvers[0], "192.0.2.53");
	assert_string_equal(c.resolvers[1], "[2001:db8::53]:5353");
	assert_int_equal(c.nrelay_networks, 1);
	conf_free(&c);
}

static void
test_sections(void **state)
{
	static const char text[] =
	    "hostname = mx.example.com\n"
	    "domains = example.com\n"
	    "[listen mx]\n"
	    "address = 0.0.0.0:25\n"
	    "[listen sub]\n"
	    "address = [::]:587\n"
	    "mode = submission\n"
	    "[listen smtps]\n"
	    "mode = submissions   # order of keys is free\n"
	    "address = [2001:DB8::0001]:465\n"
	    "[route *]\n"
	    "host = Smtp.Provider.NET:587\n"
	    "tls = require\n"
	    "auth = me@example.com /etc/postbote/relay.pw\n"
	    "[route Example.ORG]\n"
	    "host = [2001:db8::25]\n"
	    "[route example.net]\n"
	    "host = 192.0.2.25:2525\n"
	    "tls = none\n"
	    "[dkim example.com]\n"
	    "selector = s2026\n"
	    "key = /etc/postbote/dkim.pem\n";
	struct conf	 c;

	(void)state;
	parse_ok(text, &c);
	assert_int_equal(c.nlistens, 3);
	assert_string_equal(c.listens[0].name, "mx");
	assert_string_equal(c.listens[0].host, "0.0.0.0");
	assert_int_equal(c.listens[0].port, 25);
	assert_int_equal(c.listens[0].mode, LISTEN_MX);
	assert_string_equal(c.listens[1].host, "::");
	assert_int_equal(c.listens[1].port, 587);
	assert_int_equal(c.listens[1].mode, LISTEN_SUBMISSION);
	assert_string_equal(c.listens[2].name, "smtps");
	assert_string_equal(c.listens[2].host, "2001:db8::1");
	assert_int_equal(c.listens[2].mode, LISTEN_SUBMISSIONS);
	assert_int_equal(c.nroutes, 3);
	assert_string_equal(c.routes[0].domain, "*");
	assert_string_equal(c.routes[0].host, "smtp.provider.net");
	assert_int_equal(c.routes[0].port, 587);
	assert_int_equal(c.routes[0].tls, ROUTE_TLS_REQUIRE);
	assert_string_equal(c.routes[0].auth_user, "me@example.com");
	assert_string_equal(c.routes[0].auth_file, "/etc/postbote/relay.pw");
	assert_string_equal(c.routes[1].domain, "example.org");
	assert_string_equal(c.routes[1].host, "2001:db8::25");
	assert_int_equal(c.routes[1].port, 0);
	assert_int_equal(c.routes[1].tls, ROUTE_TLS_MAY);
	assert_null(c.routes[1].auth_user);
	assert_null(c.routes[1].auth_file);
	assert_int_equal(c.routes[2].tls, ROUTE_TLS_NONE);
	assert_int_equal(c.routes[2].port, 2525);
	assert_int_equal(c.ndkims, 1);
	assert_string_equal(c.dkims[0].domain, "example.com");
	assert_string_equal(c.dkims[0].selector, "s2026");
	assert_string_equal(c.dkims[0].key, "/etc/postbote/dkim.pem");
	conf_free(&c);
}

static void
test_listen_distinct_ok(void **state)
{
	struct conf	 c;

	(void)state;
	/* other port, or the other family's wildcard: both bind fine */
	parse_ok("[listen a]\naddress = 0.0.0.0:25\n"
	    "[listen b]\naddress = 0.0.0.0:587\n"
	    "[listen c]\naddress = [::1]:25\n"
	    "[listen d]\naddress = 127.0.0.1:2525\n", &c);
	assert_int_equal(c.nlistens, 4);
	conf_free(&c);
}

/* Limits that keep a huge file from costing quadratic time. */
static void
test_limits(void **state)
{
	struct conf	 c;
	struct buf	 b;
	char		 err[256];

	(void)state;
	buf_init(&b, 0);
	buf_puts(&b, "domains =");
	for (int i = 0; i < 10000; i++)
		buf_printf(&b, " d%d.example", i);
	parse_ok(b.data, &c);
	assert_int_equal(c.ndomains, 10000);
	assert_true(conf_is_local_domain(&c, "D9999.EXAMPLE"));
	conf_free(&c);
	buf_puts(&b, " one.more");
	assert_int_equal(parse(b.data, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:1:1: domains: more than 10000 words");

	buf_reset(&b);
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "[route r%d.example]\nhost = h\n", i);
	parse_ok(b.data, &c);
	assert_int_equal(c.nroutes, 1000);
	assert_string_equal(c.routes[999].domain, "r999.example");
	conf_free(&c);
	buf_puts(&b, "[route last.example]\nhost = h\n");
	assert_int_equal(parse(b.data, &c, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:2001:8: route: more than 1000 "
	    "[route] sections");
	buf_free(&b);
}

static void
test_listen_mode_str(void **state)
{
	(void)state;
	assert_string_equal(conf_listen_mode_str(LISTEN_MX), "mx");
	assert_string_equal(conf_listen_mode_str(LISTEN_SUBMISSION),
	    "submission");
	assert_string_equal(conf_listen_mode_str(LISTEN_SUBMISSIONS),
	    "submissions");
	assert_string_equal(conf_listen_mode_str((enum listen_mode)7), "?");
}

/*
 * Durations, sizes, networks, host:port
 */

struct numcase {
	const char	*s;
	int		 rc;
	uint64_t	 v;
};

static void
test_durations(void **state)
{
	static const struct numcase cases[] = {
		{ "0", 0, 0 }, { "0s", 0, 0 }, { "30s", 0, 30 },
		{ "5m", 0, 300 }, { "4h", 0, 14400 }, { "5d", 0, 432000 },
		{ "1w", 0, 604800 }, { "007", 0, 7 },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551615s", 0, UINT64_MAX },
		{ "18446744073709551616", -1, 0 },
		{ "99999999999999999999d", -1, 0 },
		{ "30500568904943664w", -1, 0 },
		{ "", -1, 0 }, { "s", -1, 0 }, { " 5s", -1, 0 },
		{ "5s ", -1, 0 }, { "5 s", -1, 0 }, { "-5s", -1, 0 },
		{ "+5s", -1, 0 }, { "5S", -1, 0 }, { "5ms", -1, 0 },
		{ "5y", -1, 0 }, { "1h30m", -1, 0 }, { "0x10", -1, 0 },
		{ "5.5h", -1, 0 },
	};
	uint64_t	 v;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		v = 12345;
		print_message("duration: \"%s\"\n", cases[i].s);
		assert_int_equal(conf_parse_duration(cases[i].s, &v),
		    cases[i].rc);
		if (cases[i].rc == 0)
			assert_true(v == cases[i].v);
		else
			assert_int_equal(v, 12345);
	}
	assert_int_equal(conf_parse_duration(NULL, &v), -1);
}

static void
test_sizes(void **state)
{
	static const struct numcase cases[] = {
		{ "0", 0, 0 }, { "1", 0, 1 }, { "512K", 0, 524288 },
		{ "512k", 0, 524288 }, { "25M", 0, 26214400 },
		{ "1G", 0, 1073741824 }, { "1g", 0, 1073741824 },
		{ "17179869183G", 0, 18446744072635809792u },
		{ "17179869184G", -1, 0 },
		{ "99999999999999999999", -1, 0 },
		{ "", -1, 0 }, { "K", -1, 0 }, { "25MB", -1, 0 },
		{ "25 M", -1, 0 }, { "1T", -1, 0 }, { "-1", -1, 0 },
		{ "1.5M", -1, 0 }, { "1KK", -1, 0 },
	};
	uint64_t	 v;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		v = 12345;
		print_message("size: \"%s\"\n", cases[i].s);
		assert_int_equal(conf_parse_size(cases[i].s, &v), cases[i].rc);
		if (cases[i].rc == 0)
			assert_true(v == cases[i].v);
		else
			assert_int_equal(v, 12345);
	}
	assert_int_equal(conf_parse_size(NULL, &v), -1);
}

struct netcase {
	const char	*s;
	int		 rc;
	int		 family;
	unsigned	 prefix;
};

static void
test_nets(void **state)
{
	static const struct netcase cases[] = {
		{ "192.0.2.0/24", 0, AF_INET, 24 },
		{ "10.1.2.3", 0, AF_INET, 32 },
		{ "10.1.2.3/32", 0, AF_INET, 32 },
		{ "0.0.0.0/0", 0, AF_INET, 0 },
		{ "127.0.0.0/8", 0, AF_INET, 8 },
		{ "::1/128", 0, AF_INET6, 128 },
		{ "::1", 0, AF_INET6, 128 },
		{ "::/0", 0, AF_INET6, 0 },
		{ "2001:db8::/32", 0, AF_INET6, 32 },
		{ "2001:db8:8000::/33", 0, AF_INET6, 33 },
		{ "::ffff:0:0/96", 0, AF_INET6, 96 },
		{ "10.0.0.1/8", -1, 0, 0 },
		{ "2001:db8:8000::/32", -1, 0, 0 },
		{ "10.0.0.0/33", -1, 0, 0 },
		{ "::/129", -1, 0, 0 },
		{ "10.0.0.0/", -1, 0, 0 },
		{ "10.0.0.0/-1", -1, 0, 0 },
		{ "10.0.0.0/+8", -1, 0, 0 },
		{ "10.0.0.0/0008", -1, 0, 0 },
		{ "10.0.0.0/8/8", -1, 0, 0 },
		{ "10.0.0/8", -1, 0, 0 },
		{ "", -1, 0, 0 },
		{ "/8", -1, 0, 0 },
		{ "example.com/8", -1, 0, 0 },
		{ "[::1]/128", -1, 0, 0 },
		{ "fe80::1%eth0/128", -1, 0, 0 },
		{ "1111:2222:3333:4444:5555:6666:7777:8888:9999/128", -1, 0,
		    0 },
	};
	struct conf_net	 n;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		print_message("net: \"%s\"\n", cases[i].s);
		assert_int_equal(conf_parse_net(cases[i].s, &n), cases[i].rc);
		if (cases[i].rc != 0)
			continue;
		assert_int_equal(n.family, cases[i].family);
		assert_int_equal(n.prefix, cases[i].prefix);
	}
	assert_int_equal(conf_parse_net(NULL, &n), -1);
}

static struct sockaddr_storage
sa_of(const char *ip)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(40000);
	} else {
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(40000);
	}
	return ss;
}

struct relaycase {
	const char	*nets;
	const char	*client;
	bool		 allowed;
};

static void
test_relay(void **state)
{
	static const struct relaycase cases[] = {
		{ NULL, "127.0.0.1", true },
		{ NULL, "127.255.0.9", true },
		{ NULL, "::1", true },
		{ NULL, "::ffff:127.0.0.1", true },
		{ NULL, "::ffff:127.1.2.3", true },
		{ NULL, "128.0.0.1", false },
		{ NULL, "::2", false },
		{ NULL, "::ffff:10.0.0.1", false },
		{ NULL, "::127.0.0.1", false },	/* compatible, not mapped */
		{ "", "127.0.0.1", false },
		{ "", "::1", false },
		{ "192.0.2.0/25", "192.0.2.127", true },
		{ "192.0.2.0/25", "192.0.2.128", false },
		{ "192.0.2.0/25", "::ffff:192.0.2.1", true },
		{ "192.0.2.0/25", "::ffff:192.0.2.200", false },
		{ "10.0.0.0/7", "11.255.255.255", true },
		{ "10.0.0.0/7", "12.0.0.0", false },
		{ "0.0.0.0/0", "203.0.113.9", true },
		{ "0.0.0.0/0", "::ffff:203.0.113.9", true },
		{ "0.0.0.0/0", "2001:db8::1", false },
		{ "2001:db8::/33", "2001:db8:7fff::1", true },
		{ "2001:db8::/33", "2001:db8:8000::1", false },
		{ "2001:db8::/33", "192.0.2.1", false },
		{ "::ffff:192.0.2.0/120", "192.0.2.77", true },
		{ "::ffff:192.0.2.0/120", "::ffff:192.0.2.77", true },
		{ "::/0", "2001:db8::1", true },
		{ "198.51.100.7 2001:db8::7", "198.51.100.7", true },
		{ "198.51.100.7 2001:db8::7", "198.51.100.8", false },
		{ "198.51.100.7 2001:db8::7", "2001:db8::7", true },
	};
	struct conf		 c;
	struct sockaddr_storage	 ss;
	struct sockaddr_un	 sun;
	char			 text[256];

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		if (cases[i].nets == NULL)
			text[0] = '\0';
		else
			snprintf(text, sizeof(text), "relay_networks = %s",
			    cases[i].nets);
		print_message("relay: [%s] %s\n", text, cases[i].client);
		parse_ok(text, &c);
		ss = sa_of(cases[i].client);
		assert_int_equal(conf_relay_allowed(&c,
		    (struct sockaddr *)&ss), cases[i].allowed);
		conf_free(&c);
	}
	conf_defaults(&c);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_false(conf_relay_allowed(&c, (struct sockaddr *)&sun));
	assert_false(conf_relay_allowed(&c, NULL));
	conf_free(&c);
}

struct hpcase {
	const char	*s;
	bool		 need_port;
	int		 rc;
	const char	*host;
	uint16_t	 port;
};

static void
test_hostport(void **state)
{
	static const struct hpcase cases[] = {
		{ "0.0.0.0:25", true, 0, "0.0.0.0", 25 },
		{ "127.0.0.1:65535", true, 0, "127.0.0.1", 65535 },
		{ "[::1]:587", true, 0, "::1", 587 },
		{ "[2001:DB8::1]:1", true, 0, "2001:db8::1", 1 },
		{ "Smtp.Example.com:587", true, 0, "smtp.example.com", 587 },
		{ "localhost:2525", true, 0, "localhost", 2525 },
		{ "smtp.example.com", false, 0, "smtp.example.com", 0 },
		{ "192.0.2.1", false, 0, "192.0.2.1", 0 },
		{ "[::1]", false, 0, "::1", 0 },
		{ "::1", false, 0, "::1", 0 },
		{ "2001:db8::25", false, 0, "2001:db8::25", 0 },
		{ "smtp.example.com", true, -1, NULL, 0 },
		{ "[::1]", true, -1, NULL, 0 },
		{ "::1", true, -1, NULL, 0 },
		{ "::1:25", true, -1, NULL, 0 },
		{ "host:0", false, -1, NULL, 0 },
		{ "host:65536", false, -1, NULL, 0 },
		{ "host:025x", false, -1, NULL, 0 },
		{ "host:", false, -1, NULL, 0 },
		{ "host:-1", false, -1, NULL, 0 },
		{ "host:+25", false, -1, NULL, 0 },
		{ "host:000025", false, -1, NULL, 0 },
		{ ":25", false, -1, NULL, 0 },
		{ "", false, -1, NULL, 0 },
		{ "[]:25", false, -1, NULL, 0 },
		{ "[::1", false, -1, NULL, 0 },
		{ "[::1]25", false, -1, NULL, 0 },
		{ "[::1]:", false, -1, NULL, 0 },
		{ "[192.0.2.1]:25", false, -1, NULL, 0 },
		{ "[host]:25", false, -1, NULL, 0 },
		{ "bad_host:25", false, -1, NULL, 0 },
		{ "host..x:25", false, -1, NULL, 0 },
		{ "1.2.3.4:25:26", false, -1, NULL, 0 },
		{ "1.2.3:25", false, -1, NULL, 0 },
		{ "2001:db8::zz", false, -1, NULL, 0 },
	};
	char		*host;
	uint16_t	 port;

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		host = (char *)"untouched";
		port = 7;
		print_message("hostport: \"%s\" %d\n", cases[i].s,
		    cases[i].need_port);
		assert_int_equal(conf_parse_hostport(cases[i].s,
		    cases[i].need_port, &host, &port), cases[i].rc);
		if (cases[i].rc != 0) {
			assert_string_equal(host, "untouched");
			assert_int_equal(port, 7);
			continue;
		}
		assert_string_equal(host, cases[i].host);
		assert_int_equal(port, cases[i].port);
		free(host);
	}
	assert_int_equal(conf_parse_hostport(NULL, false, &host, &port), -1);
}

/*
 * conf_load
 */

static char *
write_temp(const char *text, size_t len)
{
	char	*path = xstrdup("/tmp/test_conf.XXXXXX");
	int	 fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static void
test_load_env(void **state)
{
	static const char text[] = "hostname = env.example\n"
	    "[listen x]\naddress = 127.0.0.1:10025\n";
	struct conf	 c;
	char		 err[512] = "";
	char		*path = write_temp(text, sizeof(text) - 1);

	(void)state;
	assert_int_equal(setenv("POSTBOTE_CONF", path, 1), 0);
	assert_int_equal(conf_load(NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(c.path, path);
	assert_string_equal(c.hostname, "env.example");
	assert_int_equal(c.nlistens, 1);
	assert_int_equal(c.listens[0].port, 10025);
	assert_false(c.any_local);
	conf_free(&c);
	/* an explicit path wins over the environment */
	assert_int_equal(conf_load("/nonexistent/postbote.conf", &c, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "/nonexistent/postbote.conf: No such file "
	    "or directory");
	unlink(path);
	/* a named file that is missing is an error, not the defaults */
	assert_int_equal(conf_load(NULL, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file or directory"));
	assert_int_equal(unsetenv("POSTBOTE_CONF"), 0);
	free(path);
}

static void
test_load_errors(void **state)
{
	static const char bad[] = "hostname = ok.example\nsmtp_port = 0\n";
	struct conf	 c;
	char		 err[512] = "", want[600];
	char		*path = write_temp(bad, sizeof(bad) - 1);
	char		*big;
	size_t		 bigsz = 1024 * 1024 + 1;

	(void)state;
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2:1: smtp_port: must be between 1 "
	    "and 65535", path);
	assert_string_equal(err, want);
	assert_null(c.path);
	unlink(path);
	free(path);

	/* exactly 1 MiB of comment is fine; one byte more is not */
	big = xmalloc(bigsz);
	memset(big, '#', bigsz);
	path = write_temp(big, bigsz - 1);
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), 0);
	conf_free(&c);
	unlink(path);
	free(path);
	path = write_temp(big, bigsz);
	assert_int_equal(conf_load(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than 1048576 bytes"));
	unlink(path);
	free(path);
	free(big);

	assert_int_equal(conf_load("/tmp", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "/tmp: not a regular file");
}

static void
test_example_config(void **state)
{
	struct conf	 c;
	char		 err[512] = "";

	(void)state;
	assert_int_equal(conf_load(TOP_SRCDIR "/etc/postbote.conf", &c, err,
	    sizeof(err)), 0);
	assert_true(c.nlistens >= 1);
	assert_true(c.ndomains >= 1);
	conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_values),
		cmocka_unit_test(test_spam_keys),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_remote_keys),
		cmocka_unit_test(test_milter_sections),
		cmocka_unit_test(test_deliver_keys),
		cmocka_unit_test(test_nul_bytes),
		cmocka_unit_test(test_error_truncated_and_null),
		cmocka_unit_test(test_line_numbers),
		cmocka_unit_test(test_defaults_embedded),
		cmocka_unit_test(test_defaults_file),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_listen_distinct_ok),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_listen_mode_str),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_nets),
		cmocka_unit_test(test_relay),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_load_env),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_example_config),
	};

	unsetenv("POSTBOTE_CONF");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
