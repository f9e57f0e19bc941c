/*
 * cmd_bv.c - "sendmail -bv ADDR...": says for each address whether mail
 * to it is deliverable and how (a local mailbox, an alias and what it
 * expands to, a remote domain), printed on stdout.
 *
 * The answer comes from the users and aliases files the config names,
 * loaded and resolved with the lookup process's own code
 * (common/lookup_tab.c: lookup_tab_resolve is what lookup answers the
 * queue's IPC_RESOLVE with for a local submission), so no request to the
 * server is needed; files edited since the last reload are what the
 * server will use after it.  Trusts the files as "postbote check" does:
 * a table that does not load is an error, never a guess.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "cli/cmd_bv.h"
#include "common/lookup_tab.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "mail/addr.h"

#define BV_TABLE_MAX	(64u << 20)	/* as the parent reads them */

static int	 load(struct lookup_tab *, const struct conf *, const char *,
	    bool);
static bool	 is_mailbox(const struct lookup_tab *, const struct conf *,
	    const struct mailaddr *, const struct lookup_target *, size_t);
static bool	 verify_one(const struct lookup_tab *, const struct conf *,
	    const char *);

/* load - one table file into t; 0, or an exit code with the reason said. */
static int
load(struct lookup_tab *t, const struct conf *c, const char *file,
    bool users)
{
	struct buf	b;
	char		err[512];
	int		rc = 0;

	buf_init(&b, 0);
	if (buf_read_file(&b, file, BV_TABLE_MAX) == -1) {
		fprintf(stderr, "postbote: %s: %s\n", file, strerror(errno));
		rc = errno == EACCES ? EX_NOPERM : EX_CONFIG;
	} else if ((users ? lookup_tab_users_load(t, c, buf_cstr(&b), b.len,
	    file, err, sizeof(err)) : lookup_tab_aliases_load(t, c,
	    buf_cstr(&b), b.len, file, err, sizeof(err))) == -1) {
		fprintf(stderr, "postbote: %s\n", err);
		rc = EX_CONFIG;
	}
	if (b.data != NULL)
		explicit_bzero(b.data, b.len);	/* the users' hashes */
	buf_free(&b);
	return rc;
}

/* is_mailbox - did a ends in its own mailbox (a user, with or without a
 * +tag), rather than through an alias or a catch-all? */
static bool
is_mailbox(const struct lookup_tab *t, const struct conf *c,
    const struct mailaddr *a, const struct lookup_target *v, size_t n)
{
	char		 base[ADDR_TEXT_MAX];
	const char	*d = NULL;
	int		 len;

	if (n != 1 || v[0].kind != RCPT_LOCAL)
		return false;
	if (c->recipient_delimiter != '\0')
		d = strchr(a->local, c->recipient_delimiter);
	len = d != NULL ? (int)(d - a->local) : (int)strlen(a->local);
	snprintf(base, sizeof(base), "%.*s@%s", len, a->local, a->domain);
	return lookup_tab_user_addr(t, base) != NULL &&
	    strcasecmp(lookup_tab_user_addr(t, base), v[0].addr) == 0;
}

/* verify_one - the line for one address; true if deliverable. */
static bool
verify_one(const struct lookup_tab *t, const struct conf *c,
    const char *given)
{
	static struct lookup_target	 v[LOOKUP_MAX_TARGETS];
	struct mailaddr			 a;
	size_t				 n = 0;
	enum lookup_result		 r;
	const char			*why = "unknown user";

	if (addr_parse(given, ADDR_F_UTF8, &a) != ADDR_OK) {
		printf("%s: undeliverable: bad address syntax\n", given);
		return false;
	}
	r = lookup_tab_resolve(t, c, &a, v, NELEM(v), &n);
	switch (r) {
	case LK_LOOP:
		why = "alias loop";
		break;
	case LK_TOO_MANY:
		why = "too many recipients after alias expansion";
		break;
	default:
		break;
	}
	if (r != LK_OK || n == 0) {
		printf("%s: undeliverable: %s\n", given, why);
		return false;
	}
	if (n == 1 && v[0].kind == RCPT_REMOTE && strcasecmp(v[0].addr,
	    given) == 0)
		printf("%s: deliverable: remote (domain %s, sent to its MX)\n",
		    given, a.domain);
	else if (is_mailbox(t, c, &a, v, n))
		printf("%s: deliverable: local mailbox %s%s\n", given,
		    v[0].addr, conf_recipient_checked(c, a.domain) ?
		    " (Dovecot says at RCPT whether it exists)" : "");
	else {
		printf("%s: deliverable: alias to", given);
		for (size_t i = 0; i < n; i++)
			printf("%s %s (%s)", i ? "," : "", v[i].addr,
			    v[i].kind == RCPT_LOCAL ? "local" : "remote");
		printf("\n");
	}
	return true;
}

/* cmd_bv - see cmd_bv.h. */
int
cmd_bv(const struct conf *c, int argc, char **argv)
{
	struct lookup_tab	*t = lookup_tab_new();
	const char		*dom = c->ndomains > 0 ? c->domains[0] :
	    c->hostname;
	char			*q;
	int			 rc = 0;

	if (argc == 0) {
		fprintf(stderr, "usage: sendmail -bv ADDRESS...\n");
		lookup_tab_free(t);
		return EX_USAGE;
	}
	if ((c->users != NULL && (rc = load(t, c, c->users, true)) != 0) ||
	    (c->aliases != NULL && (rc = load(t, c, c->aliases, false)) !=
	    0)) {
		lookup_tab_free(t);
		return rc;
	}
	for (int i = 0; i < argc; i++) {
		if (*argv[i] != '\0' && strchr(argv[i], '@') == NULL)
			xasprintf(&q, "%s@%s", argv[i], dom);
		else
			q = xstrdup(argv[i]);
		if (!verify_one(t, c, q))
			rc = EX_NOUSER;
		free(q);
	}
	lookup_tab_free(t);
	return rc;
}
