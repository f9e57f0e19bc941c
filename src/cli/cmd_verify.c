/*
 * cmd_verify - "postbote verify [-c FILE] [--resolver HOST[:PORT]]
 * [--ip IP] [--mail-from ADDR] [--helo NAME] < MSG": prints the
 * Authentication-Results field smtpd would add to MSG, computed by the
 * same code (authres.c).  SPF is checked only with --ip; the identity is
 * --mail-from, or --helo when it is absent, empty or "<>".
 *
 * Runs as a short-lived CLI process under the admin's uid.
 *
 * Trust: the command line is the admin's; the message and DNS answers are
 * untrusted and only reach the authres parsers.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "auth/authres.h"
#include "lib/buf.h"
#include "cli/cmd_dkim.h"
#include "cli/cmd_spf.h"
#include "cli/cmd_verify.h"
#include "common/conf.h"
#include "lib/dns.h"
#include "lib/util.h"

#define MSG_MAX		(256u * 1024 * 1024)

static struct event_base	*vbase;

static int	 usage(void);
static void	 done(uint64_t);
static int	 run(const struct conf *, const char *, struct authres_opts *,
		    const struct buf *);

static int
usage(void)
{
	fprintf(stderr, "usage: postbote verify [-c FILE] [--resolver "
	    "HOST[:PORT]] [--ip IP]\n\t[--mail-from ADDR] [--helo NAME] "
	    "< MSG\n");
	return 2;
}

static void
done(uint64_t id)
{
	event_base_loopexit(vbase, NULL);
}

/* run - the checks on a loop of our own; prints the field. */
static int
run(const struct conf *c, const char *resolver, struct authres_opts *o,
    const struct buf *msg)
{
	struct dns_ctx	*dns;
	struct authres	*a;
	struct buf	 out;
	char		 err[256];
	int		 rc = 0;

	if ((vbase = event_base_new()) == NULL)
		return 1;
	dns = resolver != NULL ? dns_new(vbase, &resolver, 1, 2000, 2, err,
	    sizeof(err)) : dns_new(vbase, (const char *const *)c->resolvers,
	    c->nresolvers, 2000, 2, err, sizeof(err));
	if (dns == NULL) {
		fprintf(stderr, "postbote: dns: %s\n", err);
		event_base_free(vbase);
		return 1;
	}
	a = authres_new(vbase, dns, o);
	authres_message(a, msg->data != NULL ? msg->data : "", msg->len,
	    done, 0);
	event_base_dispatch(vbase);
	buf_init(&out, 0);
	authres_header(a, &out);
	/* The field as the server writes it, with LF line ends. */
	for (size_t i = 0; i < out.len; i++)
		if (out.data[i] != '\r' && putchar(out.data[i]) == EOF)
			rc = 1;
	buf_free(&out);
	authres_free(a);
	dns_free(dns);
	event_base_free(vbase);
	return rc;
}

/* cmd_verify - see cmd_verify.h. */
int
cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "resolver", required_argument, NULL, 'r' },
		{ "ip", required_argument, NULL, 'i' },
		{ "mail-from", required_argument, NULL, 'm' },
		{ "helo", required_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char		*confpath = NULL, *resolver = NULL;
	struct authres_opts	 o = { NULL, NULL, "", NULL };
	struct spf_ip		 ip;
	struct conf		 c;
	struct buf		 msg;
	char			 err[512];
	int			 ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': confpath = optarg; break;
		case 'r': resolver = optarg; break;
		case 'i': o.ip = optarg; break;
		case 'm': o.mail_from = cmd_spf_sender(optarg); break;
		case 'h': o.helo = optarg; break;
		default: return usage();
		}
	}
	if (optind != argc)
		return usage();
	if (o.ip != NULL && spf_ip_parse(o.ip, &ip) == -1) {
		fprintf(stderr, "postbote: %s: not an IP address\n", o.ip);
		return 2;
	}
	if (conf_load(confpath, &c, err, sizeof(err)) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		return 2;
	}
	o.authserv = c.hostname;
	if (cmd_dkim_read_stdin(&msg, MSG_MAX) == -1) {
		fprintf(stderr, "postbote: stdin: %s\n", strerror(errno));
		rc = 1;
	} else
		rc = run(&c, resolver, &o, &msg);
	buf_free(&msg);
	conf_free(&c);
	return rc;
}
