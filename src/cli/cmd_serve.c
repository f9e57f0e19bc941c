/*
 * cmd_serve.c - "postbote serve [-c FILE | --defaults] [-v]" and
 * "postbote check [-c FILE | --defaults] [--dns]".  This is where the processes are put together: the
 * parent (parent/) gets the modules of smtpd, queue, lookup and deliver,
 * and nothing below this file knows all of them; so does a child the
 * parent re-executes ("serve --child NAME ...", common/proc.c).  Trusts
 * only its own command line.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/cmd_dns.h"
#include "cli/cmd_serve.h"
#include "common/conf.h"
#include "common/proc.h"
#include "deliver/deliver.h"
#include "lib/log.h"
#include "lookup/lookup.h"
#include "parent/parent.h"
#include "queue/queue.h"
#include "smtpd/smtpd.h"

static const struct proc_module *const modules[PROC_MAX] = {
	[PROC_SMTPD] = &smtpd_module,
	[PROC_QUEUE] = &queue_module,
	[PROC_LOOKUP] = &lookup_module,
	[PROC_DELIVER] = &deliver_module,
};

/* --defaults: the embedded configuration, even where a file exists
 * (make run; a quick test on a host that has an installed config). */
static const struct option serve_opts[] = {
	{ "defaults", no_argument, NULL, 'E' },
	{ NULL, 0, NULL, 0 }
};

static int
usage(const char *verb)
{
	fprintf(stderr, "usage: postbote %s\n", verb);
	return 2;
}

/* cmd_serve - see cmd_serve.h. */
int
cmd_serve(int argc, char **argv)
{
	const char	*conf = NULL;
	bool		 verbose = false;
	int		 ch;

	/* A child of the server, re-executed by the parent (common/proc.h). */
	if (proc_is_child(argc, argv))
		proc_child_main(argc, argv, modules);
	while ((ch = getopt_long(argc, argv, "c:v", serve_opts, NULL)) != -1) {
		if (ch == 'c')
			conf = optarg;
		else if (ch == 'E')
			conf = "";	/* conf_load: the embedded defaults */
		else if (ch == 'v')
			verbose = true;
		else
			return usage("serve [-c FILE | --defaults] [-v]");
	}
	if (optind != argc)
		return usage("serve [-c FILE | --defaults] [-v]");
	return parent_serve(conf, verbose, modules);
}

/* cmd_serve_check - see cmd_serve.h. */
int
cmd_serve_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dns", no_argument, NULL, 'd' },
		{ "defaults", no_argument, NULL, 'E' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*conf = NULL;
	bool		 dns = false;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		if (ch == 'd')
			dns = true;
		else if (ch == 'c')
			conf = optarg;
		else if (ch == 'E')
			conf = "";
		else
			return usage("check [-c FILE | --defaults] [--dns]");
	}
	if (optind != argc)
		return usage("check [-c FILE | --defaults] [--dns]");
	log_init("check", "stderr", false);
	if (parent_check(conf) == -1 || cmd_dns_check_keys(config) == -1)
		return 2;
	printf("%s: ok\n", config->path != NULL ? config->path :
	    "embedded defaults");
	/* --dns: what the world sees; exit 1 when something is wrong. */
	return dns ? cmd_dns_check(config) : 0;
}
