/*
 * main.c - the postbote command: dispatches to the verb (serve, check,
 * queue, ...) through one table that also holds each verb's help.
 * Called as "sendmail", "mailq" or "newaliases" it acts as "send",
 * "queue list" or "newaliases".  Parses only its own command line; exit
 * status 0 ok, 1 operational failure, 2 usage or config error.
 */
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_ctl.h"
#include "cli/cmd_queue.h"
#include "cli/cmd_send.h"
#include "cli/cmd_dkim.h"
#include "cli/cmd_dns.h"
#include "cli/cmd_serve.h"
#include "cli/cmd_spf.h"
#include "cli/cmd_user.h"
#include "cli/cmd_verify.h"
#include "common/conf.h"
#include "lib/log.h"
#include "common/proc.h"
#include "lib/util.h"

struct command {
	const char	*name;
	int		(*run)(int, char **);
	const char	*synopsis;	/* after "postbote NAME" */
	const char	*help;		/* what it does, its options */
};

static int	 run_send(int, char **);
static int	 run_version(int, char **);
static int	 run_help(int, char **);

static const struct command commands[] = {
	{ "serve", cmd_serve, "[-c FILE | --defaults] [-v]",
	    "Run the server in the foreground (the parent and its smtpd, queue,\n"
	    "lookup and deliver processes) until SIGTERM or \"postbote stop\".\n"
	    "SIGHUP or \"postbote reload\" reloads the config.  Under systemd\n"
	    "(Type=notify) it reports READY, RELOADING and STOPPING.\n"
	    "  -c FILE   the config (default: $POSTBOTE_CONF, else " CONF_DEFAULT_PATH
	    "\n            if it exists, else the embedded defaults)\n"
	    "  --defaults  the embedded defaults, whatever config files exist\n"
	    "            (make run)\n"
	    "  -v        verbose: debug lines in the log\n" },
	{ "check", cmd_serve_check, "[-c FILE | --defaults] [--dns]",
	    "Check the config, its users and aliases tables, keys and\n"
	    "certificates as serve would load them; print \"FILE: ok\".\n"
	    "  --dns     also ask DNS whether each domain's MX, SPF, DKIM, DMARC,\n"
	    "            MTA-STS (record and policy) and TLS-RPT records and the\n"
	    "            host's TLSA records are published as they should be\n" },
	{ "status", cmd_ctl, "[-c FILE]",
	    "Say whether the server of the config's state_dir runs: its pid,\n"
	    "uptime, config, listeners, processes, queue size and last reload.\n"
	    "Exit status 0 when it runs, 3 when it does not.\n" },
	{ "reload", cmd_ctl, "[-c FILE]",
	    "Reload the config, tables and keys of the running server and wait\n"
	    "until every process applied them.  When one cannot, the server keeps\n"
	    "the old config and the command exits 1 with the reason.\n" },
	{ "stop", cmd_ctl, "[-c FILE]",
	    "Stop the running server cleanly and wait until it is gone.\n" },
	{ "queue", cmd_queue,
	    "[-c FILE] list [--json] | show ID [--body] |\n"
	    "                 flush|delete|hold|release ID...|ALL|FILTER |\n"
	    "                 tlsrpt-show | tlsrpt-send",
	    "Look at and act on the queue of the running server.\n"
	    "  list [--json]     every message (\"mailq\" is the same)\n"
	    "  show ID [--body]  one message's envelope and header (--body: the\n"
	    "                    whole message)\n"
	    "  flush [SEL]       try now (every message without SEL)\n"
	    "  delete|hold|release SEL\n"
	    "                    SEL: queue IDs, ALL, or a filter (all of it\n"
	    "                    must match):\n"
	    "                    -s|--sender ADDR, -r|--recipient ADDR,\n"
	    "                    -d|--domain DOMAIN (of a recipient)\n"
	    "  tlsrpt-show       the TLS-RPT counts not yet reported, per\n"
	    "                    UTC day (JSON)\n"
	    "  tlsrpt-send       send now the TLS reports (RFC 8460) of the\n"
	    "                    UTC days that have ended (not the current\n"
	    "                    one)\n" },
	{ "send", run_send, "[-c FILE] [-f SENDER] [-F NAME] [-t] [-i] [RCPT...] < MSG",
	    "Submit the message on stdin (what \"sendmail\" does).\n"
	    "  -f SENDER  envelope sender     -F NAME  full name for From:\n"
	    "  -t         recipients from To:, Cc:, Bcc:\n"
	    "  -i, -oi    a line with a single dot does not end the message\n"
	    "As sendmail also: -bp (mailq), -bi (newaliases), -q (flush the\n"
	    "queue), -bm (the default), -bs (SMTP on stdin and stdout, each\n"
	    "message queued as above), -bv ADDR... (is each deliverable, and\n"
	    "how: printed); -oX, -B, -C, -N, -R, -V are ignored.\n" },
	{ "user", cmd_user, "[-c FILE] add ADDRESS | del ADDRESS | passwd ADDRESS | list",
	    "Manage the users file (logins and local mailboxes); the password\n"
	    "is read from stdin.  A running server reads it again on reload.\n" },
	{ "dkim", cmd_dkim, "[-c FILE] keygen DOMAIN [-s SELECTOR] [-t rsa|ed25519]\n"
	    "       postbote dkim sign -d DOMAIN -s SELECTOR -k KEYFILE < MSG\n"
	    "       postbote dkim [-c FILE] verify [--resolver HOST[:PORT]] < MSG",
	    "Make DKIM keys, sign a message, or verify its signatures.\n" },
	{ "dns", cmd_dns, "[-c FILE] [DOMAIN]",
	    "Print the DNS records to publish for DOMAIN (MX, SPF, DKIM, DMARC,\n"
	    "MTA-STS with its policy file, TLS-RPT, TLSA).\n" },
	{ "spf", cmd_spf, "[--resolver HOST[:PORT]] IP MAIL-FROM [HELO]",
	    "Evaluate SPF (RFC 7208): the result word, then the explanation.\n" },
	{ "verify", cmd_verify, "[-c FILE] [--resolver HOST[:PORT]] [--ip IP]\n"
	    "                  [--mail-from ADDR] [--helo NAME] < MSG",
	    "Print the Authentication-Results header the server would add.\n" },
	{ "newaliases", cmd_ctl_newaliases, "[-c FILE]",
	    "Check the config and its aliases and users tables, then have a\n"
	    "running server reload them.\n" },
	{ "version", run_version, "", "Print the version.\n" },
	{ "help", run_help, "[COMMAND]", "Print this help, or a command's.\n" },
};

static int
run_send(int argc, char **argv)
{
	return cmd_send(argc, argv, false);
}

static int
run_version(int argc, char **argv)
{
	printf("postbote %s\n", POSTBOTE_VERSION);
	return 0;
}

static const struct command *
find(const char *name)
{
	for (size_t i = 0; i < NELEM(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
print_synopsis(FILE *f, const struct command *c, const char *lead)
{
	fprintf(f, "%spostbote %s%s%s\n", lead, c->name,
	    c->synopsis[0] != '\0' ? " " : "", c->synopsis);
}

/* help_all - every command's synopsis, to f. */
static void
help_all(FILE *f)
{
	fprintf(f, "postbote %s - a mail transfer agent\n\nusage:\n",
	    POSTBOTE_VERSION);
	for (size_t i = 0; i < NELEM(commands); i++)
		print_synopsis(f, &commands[i], "  ");
	fprintf(f, "\nCalled as sendmail, mailq or newaliases it is \"postbote "
	    "send\", \"postbote queue list\" or \"postbote newaliases\".\n"
	    "\"postbote COMMAND --help\" says more; see also postbote(8), "
	    "postbote.conf(5).\n");
}

static void
help_one(const struct command *c)
{
	printf("usage: ");
	print_synopsis(stdout, c, "");
	printf("\n%s", c->help);
}

static int
run_help(int argc, char **argv)
{
	const struct command	*c;

	if (argc > 1 && (c = find(argv[1])) != NULL) {
		help_one(c);
		return 0;
	}
	help_all(stdout);
	return argc > 1 ? 2 : 0;
}

/* wants_help - is "--help" among the command's arguments (before "--")? */
static bool
wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0)
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	const char		*self = basename(argv[0]);
	const struct command	*c;

	if (strcmp(self, "mailq") == 0)
		return cmd_queue_mailq(argc, argv);
	if (strcmp(self, "sendmail") == 0)
		return cmd_send(argc, argv, true);
	if (strcmp(self, "newaliases") == 0)
		return cmd_ctl_newaliases(argc, argv);
	if (argc < 2) {
		help_all(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return run_help(1, argv);
	if (strcmp(argv[1], "--version") == 0)
		return run_version(1, argv);
	if ((c = find(argv[1])) == NULL) {
		fprintf(stderr, "postbote: unknown command \"%s\"\n\n",
		    argv[1]);
		help_all(stderr);
		return 2;
	}
	/* A child of the server ("serve --child ...") never asks for help. */
	if (wants_help(argc - 1, argv + 1) && c->run != cmd_serve) {
		help_one(c);
		return 0;
	}
	if (c->run == cmd_serve && argc == 3 && strcmp(argv[2], "--help") == 0) {
		help_one(c);
		return 0;
	}
	return c->run(argc - 1, argv + 1);
}
