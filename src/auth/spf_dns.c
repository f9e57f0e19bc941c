/*
 * spf_dns.c - SPF lookups over dns.c (see spf_dns.h).  Each query carries
 * a small context with the caller's id and finder, so an answer that
 * arrives after the check ended is dropped instead of touching freed
 * memory.  Runs in smtpd and in the CLI verbs (spf, verify).
 *
 * Trust: answers are untrusted; they are only passed on, as text, to the
 * evaluator, which bounds and parses them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "auth/spf_dns.h"
#include "lib/util.h"

struct query {
	spf_dns_find	 find;
	uint64_t	 id;
	void		*arg;
};

static struct spf_check *take(void *);
static void	 txt_cb(uint64_t, void *, enum dns_status, const char *const *,
		    const size_t *, size_t);
static void	 addr_cb(uint64_t, void *, enum dns_status,
		    const struct sockaddr_storage *, size_t);
static void	 mx_cb(uint64_t, void *, enum dns_status, const struct dns_mx *,
		    size_t);
static void	 name_cb(uint64_t, void *, enum dns_status, const char *);

/* take - the waiting check (or NULL), freeing the query context. */
static struct spf_check *
take(void *qp)
{
	struct query		*q = qp;
	struct spf_check	*c = q->find(q->id, q->arg);

	free(q);
	return c;
}

static void
txt_cb(uint64_t id, void *qp, enum dns_status st, const char *const *txt,
    const size_t *len, size_t n)
{
	struct spf_check	*c = take(qp);

	if (c != NULL)
		spf_check_answer(c, st, txt, len, n);
}

static void
addr_cb(uint64_t id, void *qp, enum dns_status st,
    const struct sockaddr_storage *addrs, size_t n)
{
	struct spf_check	*c = take(qp);
	char			(*text)[INET6_ADDRSTRLEN];
	const char		**p;
	size_t			 k = 0;

	if (c == NULL)
		return;
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
	spf_check_answer(c, st, p, NULL, k);
	free(p);
	free(text);
}

static void
mx_cb(uint64_t id, void *qp, enum dns_status st, const struct dns_mx *mx,
    size_t n)
{
	struct spf_check	*c = take(qp);
	const char		**p;

	if (c == NULL)
		return;
	p = xcalloc(n + 1, sizeof(*p));
	for (size_t i = 0; i < n; i++)
		p[i] = mx[i].host;
	spf_check_answer(c, st, p, NULL, n);
	free(p);
}

static void
name_cb(uint64_t id, void *qp, enum dns_status st, const char *name)
{
	struct spf_check	*c = take(qp);

	if (c != NULL)
		spf_check_answer(c, st, &name, NULL, name != NULL ? 1 : 0);
}

/* spf_dns_lookup - see spf_dns.h. */
void
spf_dns_lookup(struct dns_ctx *dns, const struct spf_ip *ip,
    enum spf_qtype t, const char *name, spf_dns_find find, uint64_t id,
    void *arg)
{
	struct query		*q = xcalloc(1, sizeof(*q));
	struct sockaddr_storage	 ss;

	q->find = find;
	q->id = id;
	q->arg = arg;
	switch (t) {
	case SPF_Q_TXT:
		dns_txt(dns, name, txt_cb, id, q);
		break;
	case SPF_Q_A:
	case SPF_Q_AAAA:
		dns_addr(dns, name, t == SPF_Q_A ? AF_INET : AF_INET6,
		    addr_cb, id, q);
		break;
	case SPF_Q_MX:
		dns_mx_names(dns, name, mx_cb, id, q);
		break;
	case SPF_Q_PTR:
		memset(&ss, 0, sizeof(ss));
		if (ip->family == AF_INET) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, ip->a, 4);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, ip->a, 16);
		}
		dns_client_name(dns, (struct sockaddr *)&ss, name_cb, id, q);
		break;
	}
}
