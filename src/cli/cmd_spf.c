/*
 * cmd_spf.c - the "postbote spf" verb: runs the SPF evaluator
 * (spf_check.c) for IP, MAIL-FROM and HELO over src/dns.h on a libevent
 * loop, and prints the result word, then the explanation if there is
 * one.  With --resolver only that server is asked; otherwise the
 * config's resolvers (or the system's).  MAIL-FROM "<>" (or "") is the
 * null sender: the HELO identity is checked (RFC 7208 2.4).
 *
 * Runs as a short-lived CLI process under the admin's own uid.
 *
 * Trust: the command line is the admin's.  DNS answers are untrusted
 * and only reach the evaluator; the explanation is printed with control
 * bytes replaced, since it is text from someone else's DNS zone.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cli/cmd_spf.h"
#include "common/conf.h"
#include "lib/dns.h"
#include "auth/spf.h"
#include "auth/spf_dns.h"
#include "lib/util.h"

struct spf_run {
	struct event_base	*base;
	struct dns_ctx		*dns;
	struct spf_check	*check;
	struct spf_ip		 ip;
	enum spf_result		 result;
	char			*expl;
	bool			 done;
};

static int	 usage(void);
static struct spf_check *find_check(uint64_t, void *);
static void	 do_lookup(void *, struct spf_check *, enum spf_qtype,
		    const char *);
static void	 do_done(void *, struct spf_check *, enum spf_result,
		    const char *);
static int	 run_check(struct spf_run *, const char *const *, size_t, int,
		    const char *, const char *);

static const struct spf_lookup_ops ops = { do_lookup, do_done };

static int
usage(void)
{
	fprintf(stderr, "usage: postbote spf [--resolver HOST[:PORT]] "
	    "[--timeout MS] IP MAIL-FROM [HELO]\n");
	return 2;
}

/* find_check - the one check of this run (the CLI never drops it early). */
static struct spf_check *
find_check(uint64_t id, void *arg)
{
	return ((struct spf_run *)arg)->check;
}

static void
do_lookup(void *arg, struct spf_check *c, enum spf_qtype t, const char *name)
{
	struct spf_run		*r = arg;

	spf_dns_lookup(r->dns, &r->ip, t, name, find_check, 0, r);
}

static void
do_done(void *arg, struct spf_check *c, enum spf_result res,
    const char *expl)
{
	struct spf_run	*r = arg;

	r->result = res;
	r->expl = expl != NULL ? xstrdup(expl) : NULL;
	r->done = true;
	event_base_loopexit(r->base, NULL);
}

static int
run_check(struct spf_run *r, const char *const *servers, size_t ns,
    int timeout_ms, const char *from, const char *helo)
{
	char	 err[256];

	if ((r->base = event_base_new()) == NULL)
		return -1;
	if ((r->dns = dns_new(r->base, servers, ns, timeout_ms,
	    timeout_ms > 0 ? 1 : 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "postbote: dns: %s\n", err);
		event_base_free(r->base);
		return -1;
	}
	r->check = spf_check_new(&r->ip, from, helo, NULL, &ops, r);
	spf_check_start(r->check);
	if (!r->done)
		event_base_dispatch(r->base);
	spf_check_free(r->check);
	dns_free(r->dns);
	event_base_free(r->base);
	return r->done ? 0 : -1;
}

/* cmd_spf_sender - see cmd_spf.h. */
char *
cmd_spf_sender(char *s)
{
	size_t	 n = strlen(s);

	if (n < 2 || s[0] != '<' || s[n - 1] != '>')
		return s;
	s[n - 1] = '\0';
	return s + 1;
}

/* cmd_spf - "postbote spf [--resolver H[:P]] IP MAIL-FROM [HELO]". */
int
cmd_spf(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "resolver", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*resolver = NULL, *from;
	struct spf_run	 r;
	struct conf	 c;
	char		 err[512];
	int		 ch, rc, timeout_ms = 0;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'r')
			resolver = optarg;
		else if (ch == 't' && (timeout_ms = atoi(optarg)) > 0)
			continue;
		else
			return usage();
	}
	if (argc - optind < 2 || argc - optind > 3)
		return usage();
	memset(&r, 0, sizeof(r));
	if (spf_ip_parse(argv[optind], &r.ip) == -1) {
		fprintf(stderr, "postbote: %s: not an IP address\n",
		    argv[optind]);
		return 2;
	}
	if (conf_load(NULL, &c, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		return 2;
	}
	from = cmd_spf_sender(argv[optind + 1]);
	rc = resolver != NULL ? run_check(&r, &resolver, 1, timeout_ms,
	    from, argv[optind + 2]) : run_check(&r,
	    (const char *const *)c.resolvers, c.nresolvers, timeout_ms,
	    from, argv[optind + 2]);
	conf_free(&c);
	if (rc == -1)
		return 1;
	printf("%s\n", spf_result_str(r.result));
	if (r.expl != NULL) {
		for (char *p = r.expl; *p != '\0'; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		printf("%s\n", r.expl);
	}
	free(r.expl);
	return 0;
}
