/*
 * main.c - the postbote command: dispatches to the verb (serve, check,
 * version, ...).  Called as "sendmail" or "mailq" it acts as "send" or
 * "queue list".  Parses only its own command line; exit status 0 ok,
 * 1 operational failure, 2 usage or config error.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_queue.h"
#include "cli/cmd_send.h"
#include "cli/cmd_dkim.h"
#include "cli/cmd_dns.h"
#include "cli/cmd_serve.h"
#include "cli/cmd_spf.h"
#include "cli/cmd_user.h"
#include "cli/cmd_verify.h"
#include "lib/log.h"
#include "common/proc.h"
#include "lib/util.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: postbote serve [-c FILE] [-v]\n"
	    "       postbote check [-c FILE] [--dns]\n"
	    "       postbote queue [-c FILE] list [--json] | show ID | "
	    "flush [ID] |\n"
	    "                      delete ID | hold ID | release ID\n"
	    "       postbote send [-c FILE] [-f SENDER] [-F NAME] [-t] [-i] "
	    "[RCPT...] < MSG\n"
	    "       postbote dkim [-c FILE] keygen DOMAIN [-s SELECTOR] "
	    "[-t rsa|ed25519]\n"
	    "       postbote dkim sign -d DOMAIN -s SELECTOR -k KEYFILE < MSG\n"
	    "       postbote dkim [-c FILE] verify [--resolver HOST[:PORT]] "
	    "< MSG\n"
	    "       postbote spf [--resolver HOST[:PORT]] IP MAIL-FROM [HELO]\n"
	    "       postbote user [-c FILE] add ADDRESS | del ADDRESS | "
	    "passwd ADDRESS | list\n"
	    "       postbote verify [-c FILE] [--resolver HOST[:PORT]] "
	    "[--ip IP]\n"
	    "                       [--mail-from ADDR] [--helo NAME] < MSG\n"
	    "       postbote dns [-c FILE] [DOMAIN]\n"
	    "       postbote version\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char	*verb;

	if (strcmp(basename(argv[0]), "mailq") == 0)
		return cmd_queue_mailq(argc, argv);
	if (strcmp(basename(argv[0]), "sendmail") == 0)
		return cmd_send(argc, argv, true);
	if (argc < 2)
		usage();
	verb = argv[1];
	argc--;
	argv++;
	if (strcmp(verb, "serve") == 0)
		return cmd_serve(argc, argv);
	if (strcmp(verb, "check") == 0)
		return cmd_serve_check(argc, argv);
	if (strcmp(verb, "queue") == 0)
		return cmd_queue(argc, argv);
	if (strcmp(verb, "send") == 0)
		return cmd_send(argc, argv, false);
	if (strcmp(verb, "dkim") == 0)
		return cmd_dkim(argc, argv);
	if (strcmp(verb, "spf") == 0)
		return cmd_spf(argc, argv);
	if (strcmp(verb, "user") == 0)
		return cmd_user(argc, argv);
	if (strcmp(verb, "dns") == 0)
		return cmd_dns(argc, argv);
	if (strcmp(verb, "verify") == 0)
		return cmd_verify(argc, argv);
	if (strcmp(verb, "version") == 0) {
		printf("postbote %s\n", POSTBOTE_VERSION);
		return 0;
	}
	usage();
}
