/*
 * fuzz_aliases.c - libFuzzer target for the aliases loader and recipient
 * resolution.  The input is an aliases file, loaded next to a fixed users
 * table under a fixed config (two local domains, '+' delimiter).  Then a
 * few fixed addresses are resolved with any_local off and on, and the
 * keys of the input's first lines with it off.  Checked: a failed load says
 * "FILE:LINE: ..." and leaves no alias behind; a resolution gives at most
 * max targets, none twice, local ones lower-case at a local domain.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/lookup_tab.h"
#include "lib/util.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAX_OUT		64
#define MAX_KEYS	4

static char	*domains[] = { "example.com", "example.org" };

static const char users[] =
    "alice@example.com:$6$a$b\n"
    "bob@example.com:$6$a$c\n"
    "root@example.org:$6$a$d\n";

static const char *const fixed[] = {
	"alice@example.com", "bob+tag@example.com", "postmaster@example.org",
	"a@example.com", "nobody@example.org", "x@remote.example",
};

static void
check_targets(const struct conf *c, const struct lookup_target *out,
    size_t n)
{
	if (n > MAX_OUT)
		abort();
	for (size_t i = 0; i < n; i++) {
		const char	*at = strrchr(out[i].addr, '@');

		if (at == NULL || at == out[i].addr)
			abort();
		if ((out[i].kind == RCPT_LOCAL) !=
		    conf_is_local_domain(c, at + 1))
			abort();
		for (size_t j = 0; j < i; j++)
			if (out[j].kind == out[i].kind &&
			    str_ieq(out[j].addr, out[i].addr))
				abort();
		if (out[i].kind != RCPT_LOCAL)
			continue;
		for (const char *p = out[i].addr; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				abort();
	}
}

static bool	 is_postmaster_box(const struct mailaddr *, const char *);

/*
 * resolve_text - resolve s (or s@example.com) and check the result.  With
 * no aliases loaded and any_local off, only users and remote addresses
 * may resolve, each to itself, and postmaster, to a user or its own box.
 */
static void
resolve_text(const struct lookup_tab *t, const struct conf *c,
    const char *s, bool no_aliases)
{
	static struct lookup_target out[MAX_OUT];
	struct mailaddr	 m;
	char		 tmp[ADDR_TEXT_MAX + 16];
	size_t		 n = 0;
	enum lookup_result r;

	if (addr_parse(s, ADDR_F_UTF8, &m) != ADDR_OK) {
		snprintf(tmp, sizeof(tmp), "%s@example.com", s);
		if (addr_parse(tmp, ADDR_F_UTF8, &m) != ADDR_OK)
			return;
	}
	r = lookup_tab_resolve(t, c, &m, out, MAX_OUT, &n);
	if (r != LK_OK) {
		if (n != 0 || (no_aliases && !c->any_local && r != LK_UNKNOWN))
			abort();
		return;
	}
	check_targets(c, out, n);
	if (no_aliases && !c->any_local && (n != 1 ||
	    (out[0].kind == RCPT_LOCAL &&
	    lookup_tab_user_hash(t, out[0].addr) == NULL &&
	    !is_postmaster_box(&m, out[0].addr))))
		abort();
}

/* is_postmaster_box - addr is the mailbox of postmaster at m's domain,
 * where postmaster goes when nothing else takes it (RFC 5321 4.5.1). */
static bool
is_postmaster_box(const struct mailaddr *m, const char *addr)
{
	char	box[ADDR_TEXT_MAX];

	if (!str_iprefix(m->local, "postmaster") || (m->local[10] != '\0' &&
	    m->local[10] != '+'))
		return false;
	snprintf(box, sizeof(box), "postmaster@%s", m->domain);
	return str_ieq(box, addr);
}

/* input_keys - resolve the text before ':' on the first few lines. */
static void
input_keys(const struct lookup_tab *t, const struct conf *c,
    const char *text, size_t len, bool no_aliases)
{
	char		 key[ADDR_TEXT_MAX];
	size_t		 off = 0;

	for (int k = 0; k < MAX_KEYS && off < len; k++) {
		const char	*p = text + off;
		const char	*nl = memchr(p, '\n', len - off);
		size_t		 ll = nl != NULL ? (size_t)(nl - p) : len - off;
		const char	*colon = memchr(p, ':', ll);

		off += ll + 1;
		if (colon == NULL || (size_t)(colon - p) >= sizeof(key))
			continue;
		memcpy(key, p, (size_t)(colon - p));
		key[colon - p] = '\0';
		if (memchr(key, '\0', (size_t)(colon - p)) == NULL)
			resolve_text(t, c, key[0] == '@' ? key + 1 : key,
			    no_aliases);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lookup_tab *t = lookup_tab_new();
	struct conf	 c;
	char		 err[512] = "";
	int		 r;

	memset(&c, 0, sizeof(c));
	c.domains = domains;
	c.ndomains = 2;
	c.recipient_delimiter = '+';
	if (lookup_tab_users_load(t, &c, users, strlen(users), "users", err,
	    sizeof(err)) != 0)
		abort();
	r = lookup_tab_aliases_load(t, &c, (const char *)data, size, "aliases",
	    err, sizeof(err));
	if (r == -1 && strncmp(err, "aliases:", 8) != 0)
		abort();
	for (int pass = 0; pass < 2; pass++) {
		c.any_local = pass == 1;
		for (size_t i = 0; i < NELEM(fixed); i++)
			resolve_text(t, &c, fixed[i], r == -1);
		if (pass == 0)
			input_keys(t, &c, (const char *)data, size, r == -1);
	}
	lookup_tab_free(t);
	return 0;
}
