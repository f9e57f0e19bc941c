/*
 * cmd_spf.c - the "postbote spf" verb: runs the SPF evaluator
 * (spf_check.c) for IP, MAIL-FROM and HELO over src/dns.h on a libevent
 * loop, and prints the result word, then the explanation if there is
 * one.  With --resolver only that server is asked; otherwise the
 * config's resolvers (or the system's).
 *
 * Runs as a short-lived CLI process under the admin's own uid.
 *
 * Trust: the command line is the admin's.  DNS answers are untrusted
 * and only reach the evaluator; the explanation is printed with control
 * bytes replaced, since it is text from someone else's DNS zone.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cmd_spf.h"
#include "conf.h"
#include "dns.h"
#include "spf.h"
#include "util.h"

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
static void	 txt_cb(uint64_t, void *, enum dns_status, const char *const *,
		    const size_t *, size_t);
static void	 addr_cb(uint64_t, void *, enum dns_status,
		    const struct sockaddr_storage *, size_t);
static void	 mx_cb(uint64_t, void *, enum dns_status, const struct dns_mx *,
		    size_t);
static void	 name_cb(uint64_t, void *, enum dns_status, const char *);
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

static void
txt_cb(uint64_t id, void *arg, enum dns_status st, const char *const *txt,
    const size_t *len, size_t n)
{
	struct spf_run	*r = arg;

	spf_check_answer(r->check, st, txt, len, n);
}

static void
addr_cb(uint64_t id, void *arg, enum dns_status st,
    const struct sockaddr_storage *addrs, size_t n)
{
	struct spf_run	*r = arg;
	char		(*text)[INET6_ADDRSTRLEN];
	const char	**p;
	size_t		 k = 0;

	text = xcalloc(n + 1, sizeof(*text));
	p = xcalloc(n + 1, sizeof(*p));
	for (size_t i = 0; i < n; i++) {
		const struct sockaddr_storage *ss = &addrs[i];
		const void *a = ss->ss_family == AF_INET ?
		    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
		    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (inet_ntop(ss->ss_family, a, text[k], sizeof(text[k])))
			p[k] = text[k], k++;
	}
	spf_check_answer(r->check, st, p, NULL, k);
	free(p);
	free(text);
}

static void
mx_cb(uint64_t id, void *arg, enum dns_status st, const struct dns_mx *mx,
    size_t n)
{
	struct spf_run	*r = arg;
	const char	**p = xcalloc(n + 1, sizeof(*p));

	for (size_t i = 0; i < n; i++)
		p[i] = mx[i].host;
	spf_check_answer(r->check, st, p, NULL, n);
	free(p);
}

/* name_cb - dns.h has no plain PTR lookup: it gives the first PTR name,
 * forward-confirmed, which the evaluator then validates again. */
static void
name_cb(uint64_t id, void *arg, enum dns_status st, const char *name)
{
	struct spf_run	*r = arg;

	spf_check_answer(r->check, st, &name, NULL, name != NULL ? 1 : 0);
}

static void
do_lookup(void *arg, struct spf_check *c, enum spf_qtype t, const char *name)
{
	struct spf_run		*r = arg;
	struct sockaddr_storage	 ss;

	switch (t) {
	case SPF_Q_TXT:
		dns_txt(r->dns, name, txt_cb, 0, r);
		break;
	case SPF_Q_A:
	case SPF_Q_AAAA:
		dns_addr(r->dns, name, t == SPF_Q_A ? AF_INET : AF_INET6,
		    addr_cb, 0, r);
		break;
	case SPF_Q_MX:
		dns_mx(r->dns, name, mx_cb, 0, r);
		break;
	case SPF_Q_PTR:
		memset(&ss, 0, sizeof(ss));
		if (r->ip.family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, r->ip.a, 4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, r->ip.a, 16);
		}
		dns_client_name(r->dns, (struct sockaddr *)&ss, name_cb, 0, r);
		break;
	}
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

/* cmd_spf - "postbote spf [--resolver H[:P]] IP MAIL-FROM [HELO]". */
int
cmd_spf(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "resolver", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*resolver = NULL;
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
	rc = resolver != NULL ? run_check(&r, &resolver, 1, timeout_ms,
	    argv[optind + 1], argv[optind + 2]) : run_check(&r,
	    (const char *const *)c.resolvers, c.nresolvers, timeout_ms,
	    argv[optind + 1], argv[optind + 2]);
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
