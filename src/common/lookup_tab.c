/*
 * lookup_tab.c - the users and aliases tables and recipient resolution.
 * Runs in the lookup process, and in the CLI for "postbote check" and
 * "postbote user".  Pure: the loaders take file text, resolution reads
 * memory only.
 *
 * Trust: the files are the administrator's, but a typo must not become a
 * delivery to a command or a file, so every address goes through
 * addr_parse() and '|cmd', '/file' and ':include:' targets are refused.
 * The recipient being resolved comes from a peer, already parsed.
 *
 * Tables are sorted arrays searched with bsearch.  Keys are stored in the
 * canonical form addr_format() gives for the lower-cased address, so that
 * case and quoting differences cannot make two keys for one mailbox.
 * Resolution is bounded three ways: nesting depth, number of targets, and
 * a visit budget that stops alias graphs with exponential fan-out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "common/lookup_tab.h"
#include "lib/util.h"

/* Work bound for alias graphs that fan out and join again. */
#define LOOKUP_MAX_VISITS	(5 * LOOKUP_MAX_TARGETS)
#define BARE_DOMAIN		"bare.invalid"	/* to parse a bare local part */

enum key_kind {
	KEY_ADDR = 0,		/* "local@domain" */
	KEY_BARE,		/* "local": that local part in every domain */
	KEY_DOMAIN,		/* "@domain": catch-all */
};

struct user {
	char		*addr;		/* canonical, lower-case */
	char		*hash;
	size_t		 seq;		/* load order */
	unsigned	 line;
};

struct target {
	char		*local;		/* unquoted, case as written */
	char		*domain;	/* NULL: the domain being resolved */
};

struct alias {
	enum key_kind	 kind;
	char		*key;		/* address, local part or domain */
	struct target	*targets;
	size_t		 ntargets;
	size_t		 seq;
	unsigned	 line;
};

struct lookup_tab {
	struct user	*users;
	size_t		 nusers, capusers;
	struct alias	*aliases;
	size_t		 naliases, capaliases;
	size_t		 seq;		/* next load-order number */
};

/* Parsing context: where errors point. */
struct ctx {
	struct lookup_tab *t;
	const struct conf *c;
	const char	*file;
	unsigned	 line;
	char		*err;
	size_t		 errlen;
};

/* An aliases entry being collected over continuation lines. */
struct entry {
	struct buf	 text;
	unsigned	 line;		/* its first line */
};

/* One address being resolved, in every form the lookups need. */
struct names {
	char		 local[ADDR_LOCAL_MAX + 1];	/* lower-case */
	char		 base[ADDR_LOCAL_MAX + 1];	/* before delimiter */
	char		 domain[ADDR_DOMAIN_MAX + 1];
	char		 key[ADDR_TEXT_MAX];		/* local@domain */
	char		 base_key[ADDR_TEXT_MAX];	/* base@domain */
	bool		 has_base;
};

struct resolver {
	const struct lookup_tab	*t;
	const struct conf	*c;
	struct lookup_target	*out;
	size_t			 max, n;
	size_t			 visits;
	size_t			 depth;
	char			 path[LOOKUP_MAX_DEPTH][ADDR_TEXT_MAX];
	/* what postmaster's resolution fell back on, for the check */
	bool			 pm_own_failed;	/* its alias led nowhere */
	bool			 pm_key_failed;	/* the `postmaster` address did */
	bool			 pm_own_box;	/* only its own mailbox */
};

static void	*grow(void *, size_t, size_t *, size_t);
static int	 fail(struct ctx *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static bool	 next_line(const char *, size_t, size_t *, struct buf *);
static char	*trim(char *);
static char	*find_unquoted(char *, char);
static int	 canon(const char *, const char *, char *, size_t);
static int	 parse_bare(const char *, char *);
static int	 user_line(struct ctx *, char *);
static int	 user_dups(struct ctx *, size_t);
static void	 users_rollback(struct lookup_tab *, size_t);
static int	 alias_line(struct ctx *, struct entry *, struct buf *);
static int	 entry_flush(struct ctx *, struct entry *);
static int	 alias_entry(struct ctx *, char *);
static int	 parse_key(struct ctx *, char *, struct alias *);
static int	 parse_target(struct ctx *, char *, struct target *);
static bool	 is_forbidden(const char *);
static int	 alias_dups(struct ctx *, size_t);
static void	 alias_free(struct alias *);
static void	 aliases_rollback(struct lookup_tab *, size_t);
static int	 cmp_user(const void *, const void *);
static int	 cmp_alias(const void *, const void *);
static const struct user *find_user(const struct lookup_tab *, const char *);
static const struct user *user_by_address(const struct lookup_tab *,
		    const char *);
static const struct alias *find_alias(const struct lookup_tab *,
		    enum key_kind, const char *);
static int	 names_make(struct names *, const char *, const char *, char);
static const char *user_of(const struct lookup_tab *, const struct names *);
static enum lookup_result resolve_addr(struct resolver *, const char *,
		    const char *);
static enum lookup_result find_def(struct resolver *, const struct names *);
static bool	 find_own(struct resolver *, const struct names *,
		    enum lookup_result *);
static enum lookup_result find_wide(struct resolver *, const struct names *);
static bool	 is_postmaster(const struct names *);
static enum lookup_result postmaster(struct resolver *, const struct names *);
static enum lookup_result pm_try(struct resolver *, const struct names *,
		    int);
static enum lookup_result resolve_text(struct resolver *, const char *);
static enum lookup_result expand(struct resolver *, const struct alias *,
		    const struct names *);
static enum lookup_result emit(struct resolver *, enum rcpt_kind,
		    const char *);
static enum lookup_result emit_remote(struct resolver *, const char *,
		    const char *);

/* lookup_tab_new - an empty table; never NULL (exits on OOM). */
struct lookup_tab *
lookup_tab_new(void)
{
	return xcalloc(1, sizeof(struct lookup_tab));
}

/* lookup_tab_free - free the table and everything it owns; NULL is ok. */
void
lookup_tab_free(struct lookup_tab *t)
{
	if (t == NULL)
		return;
	users_rollback(t, 0);
	aliases_rollback(t, 0);
	free(t->users);
	free(t->aliases);
	free(t);
}

/*
 * lookup_tab_users_load - add "address:crypt-hash" lines (see lookup_tab.h).
 * The address is everything before the last ':' (crypt hashes have none).
 * An empty hash is allowed: a mailbox that cannot log in.  On error
 * nothing from this text stays in the table.
 */
int
lookup_tab_users_load(struct lookup_tab *t, const struct conf *c,
    const char *text, size_t len, const char *file, char *err, size_t errlen)
{
	struct ctx	 x = { t, c, file, 0, err, errlen };
	struct buf	 line;
	size_t		 off = 0, start = t->seq;
	int		 rv = 0;

	buf_init(&line, 0);
	while (rv == 0 && next_line(text, len, &off, &line)) {
		x.line++;
		if (memchr(line.data, '\0', line.len) != NULL)
			rv = fail(&x, "NUL byte in line");
		else
			rv = user_line(&x, line.data);
	}
	buf_free(&line);
	if (rv == 0) {
		if (t->nusers > 1)	/* qsort(NULL, 0) is undefined */
			qsort(t->users, t->nusers, sizeof(*t->users),
			    cmp_user);
		rv = user_dups(&x, start);
	}
	if (rv == -1)
		users_rollback(t, start);
	return rv;
}

/* user_line - one line of the users file; blank and '#' lines skipped. */
static int
user_line(struct ctx *x, char *line)
{
	struct mailaddr	 a;
	struct user	*u;
	char		*s = trim(line), *colon, *hash, key[ADDR_TEXT_MAX];

	if (*s == '\0' || *s == '#')
		return 0;
	if ((colon = strrchr(s, ':')) == NULL)
		return fail(x, "missing ':' between address and hash");
	*colon = '\0';
	hash = trim(colon + 1);
	s = trim(s);
	for (const char *h = hash; *h != '\0'; h++)
		if (*h <= ' ' || *h >= 0x7f)	/* crypt(3) output is ASCII */
			return fail(x, "bad character in password hash");
	if (addr_parse(s, ADDR_F_UTF8, &a) != ADDR_OK)
		return fail(x, "bad address \"%s\"", log_safe(s));
	if (!conf_is_local_domain(x->c, a.domain))
		return fail(x, "%s: domain is not a local domain",
		    log_safe(s));
	if (canon(a.local, a.domain, key, sizeof(key)) == -1)
		return fail(x, "address too long \"%s\"", log_safe(s));
	x->t->users = grow(x->t->users, x->t->nusers, &x->t->capusers,
	    sizeof(*x->t->users));
	u = &x->t->users[x->t->nusers++];
	u->addr = xstrdup(key);
	u->hash = xstrdup(hash);
	u->seq = x->t->seq++;
	u->line = x->line;
	return 0;
}

/*
 * user_dups - after sorting, a key equal to its predecessor is a
 * duplicate; report the earliest such line of this load.
 */
static int
user_dups(struct ctx *x, size_t start)
{
	const struct user *dup = NULL;

	for (size_t i = 1; i < x->t->nusers; i++) {
		const struct user *u = &x->t->users[i];

		if (strcmp(u->addr, x->t->users[i - 1].addr) != 0)
			continue;
		if (u->seq >= start && (dup == NULL || u->seq < dup->seq))
			dup = u;
	}
	if (dup == NULL)
		return 0;
	x->line = dup->line;
	return fail(x, "duplicate user %s", log_safe(dup->addr));
}

/* users_rollback - drop users loaded at or after start (any order). */
static void
users_rollback(struct lookup_tab *t, size_t start)
{
	size_t	 j = 0;

	for (size_t i = 0; i < t->nusers; i++) {
		if (t->users[i].seq < start) {
			t->users[j++] = t->users[i];
			continue;
		}
		free(t->users[i].addr);
		free(t->users[i].hash);
	}
	t->nusers = j;
}

/*
 * lookup_tab_aliases_load - add "key: target, ..." entries (see lookup_tab.h).
 * Lines starting with white space continue the previous entry; blank and
 * comment lines do not end it.  Duplicate keys are errors.  Errors name
 * the entry's first line.  On error nothing from this text stays.
 */
int
lookup_tab_aliases_load(struct lookup_tab *t, const struct conf *c,
    const char *text, size_t len, const char *file, char *err, size_t errlen)
{
	struct ctx	 x = { t, c, file, 0, err, errlen };
	struct entry	 e = { .line = 0 };
	struct buf	 line;
	size_t		 off = 0, start = t->seq;
	int		 rv = 0;

	buf_init(&line, 0);
	buf_init(&e.text, 0);
	while (rv == 0 && next_line(text, len, &off, &line)) {
		x.line++;
		rv = alias_line(&x, &e, &line);
	}
	if (rv == 0)
		rv = entry_flush(&x, &e);
	buf_free(&line);
	buf_free(&e.text);
	if (rv == 0) {
		if (t->naliases > 1)
			qsort(t->aliases, t->naliases, sizeof(*t->aliases),
			    cmp_alias);
		rv = alias_dups(&x, start);
	}
	if (rv == -1)
		aliases_rollback(t, start);
	return rv;
}

/*
 * alias_line - one physical line: a comment, a blank, a continuation of
 * the entry being collected, or the start of a new entry (which first
 * parses the one before).  The buffers have no ceiling, so appends cannot
 * fail (out of memory exits).
 */
static int
alias_line(struct ctx *x, struct entry *e, struct buf *line)
{
	bool	 cont = line->data[0] == ' ' || line->data[0] == '\t';
	char	*s;

	if (memchr(line->data, '\0', line->len) != NULL)
		return fail(x, "NUL byte in line");
	s = trim(line->data);
	if (*s == '\0' || *s == '#')
		return 0;
	if (cont) {
		if (e->text.len == 0)
			return fail(x, "continuation line without an entry");
		buf_putc(&e->text, ' ');
		buf_puts(&e->text, s);
		return 0;
	}
	if (entry_flush(x, e) == -1)
		return -1;
	e->line = x->line;
	buf_puts(&e->text, s);
	return 0;
}

/* entry_flush - parse the collected entry, if any, naming its first line. */
static int
entry_flush(struct ctx *x, struct entry *e)
{
	unsigned	 cur = x->line;
	int		 rv = 0;

	if (e->text.len > 0) {
		x->line = e->line;
		rv = alias_entry(x, e->text.data);
		x->line = cur;
	}
	buf_reset(&e->text);
	return rv;
}

/*
 * alias_entry - "key: target, target, ...".  The ':' and ',' separators
 * are found outside quoted strings, so a quoted local part may hold them.
 */
static int
alias_entry(struct ctx *x, char *s)
{
	struct alias	 a = { .line = x->line };
	size_t		 cap = 0;
	char		*colon, *p, *comma;

	if ((colon = find_unquoted(s, ':')) == NULL)
		return fail(x, "missing ':' after the alias key");
	*colon = '\0';
	if (parse_key(x, trim(s), &a) == -1)
		return -1;
	for (p = colon + 1; p != NULL; p = comma == NULL ? NULL : comma + 1) {
		if ((comma = find_unquoted(p, ',')) != NULL)
			*comma = '\0';
		a.targets = grow(a.targets, a.ntargets, &cap,
		    sizeof(*a.targets));
		if (parse_target(x, trim(p), &a.targets[a.ntargets]) == -1) {
			alias_free(&a);
			return -1;
		}
		a.ntargets++;
	}
	a.seq = x->t->seq++;
	x->t->aliases = grow(x->t->aliases, x->t->naliases,
	    &x->t->capaliases, sizeof(*x->t->aliases));
	x->t->aliases[x->t->naliases++] = a;
	return 0;
}

/* parse_key - "local@domain", "@domain" or a bare local part. */
static int
parse_key(struct ctx *x, char *s, struct alias *a)
{
	struct mailaddr	 m;
	char		 key[ADDR_TEXT_MAX];
	const char	*domain = NULL;

	if (s[0] == '@' && addr_domain_check(s + 1, true)) {
		a->kind = KEY_DOMAIN;
		str_copy(key, s + 1, sizeof(key));
		domain = str_lower(key);
	} else if (addr_parse(s, ADDR_F_UTF8, &m) == ADDR_OK) {
		a->kind = KEY_ADDR;
		if (canon(m.local, m.domain, key, sizeof(key)) == -1)
			return fail(x, "alias key too long");
		domain = m.domain;
	} else if (s[0] != '@' && parse_bare(s, m.local) == 0) {
		a->kind = KEY_BARE;
		str_copy(key, m.local, sizeof(key));
		str_lower(key);
	} else
		return fail(x, "bad alias key \"%s\"", log_safe(s));
	if (domain != NULL && !conf_is_local_domain(x->c, domain))
		return fail(x, "%s: domain is not a local domain",
		    log_safe(s));
	a->key = xstrdup(key);
	return 0;
}

/*
 * parse_target - "local@domain" or a bare local part.  Command, file and
 * include targets are refused, quoted or not: postbote never runs a
 * program or writes a file named by an alias.
 */
static int
parse_target(struct ctx *x, char *s, struct target *tg)
{
	struct mailaddr	 m;

	if (*s == '\0')
		return fail(x, "empty alias target");
	if (is_forbidden(s))
		return fail(x, "target \"%s\": commands, files and :include: "
		    "are not allowed", log_safe(s));
	if (addr_parse(s, ADDR_F_UTF8, &m) == ADDR_OK) {
		tg->domain = xstrdup(m.domain);
	} else if (parse_bare(s, m.local) == 0)
		tg->domain = NULL;
	else
		return fail(x, "bad alias target \"%s\"", log_safe(s));
	if (is_forbidden(m.local)) {
		free(tg->domain);
		return fail(x, "target \"%s\": commands, files and :include: "
		    "are not allowed", log_safe(s));
	}
	tg->local = xstrdup(m.local);
	return 0;
}

static bool
is_forbidden(const char *s)
{
	return s[0] == '|' || s[0] == '/' || str_iprefix(s, ":include:");
}

/* alias_dups - as user_dups, for (kind, key). */
static int
alias_dups(struct ctx *x, size_t start)
{
	const struct alias *dup = NULL;

	for (size_t i = 1; i < x->t->naliases; i++) {
		const struct alias *a = &x->t->aliases[i], *p = a - 1;

		if (a->kind != p->kind || strcmp(a->key, p->key) != 0)
			continue;
		if (a->seq >= start && (dup == NULL || a->seq < dup->seq))
			dup = a;
	}
	if (dup == NULL)
		return 0;
	x->line = dup->line;
	return fail(x, "duplicate alias %s%s", dup->kind == KEY_DOMAIN ?
	    "@" : "", log_safe(dup->key));
}

static void
alias_free(struct alias *a)
{
	for (size_t i = 0; i < a->ntargets; i++) {
		free(a->targets[i].local);
		free(a->targets[i].domain);
	}
	free(a->targets);
	free(a->key);
}

/* aliases_rollback - drop aliases loaded at or after start. */
static void
aliases_rollback(struct lookup_tab *t, size_t start)
{
	size_t	 j = 0;

	for (size_t i = 0; i < t->naliases; i++) {
		if (t->aliases[i].seq < start)
			t->aliases[j++] = t->aliases[i];
		else
			alias_free(&t->aliases[i]);
	}
	t->naliases = j;
}

static int
cmp_user(const void *a, const void *b)
{
	const struct user *x = a, *y = b;
	int		 r = strcmp(x->addr, y->addr);

	if (r != 0)
		return r;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

static int
cmp_alias(const void *a, const void *b)
{
	const struct alias *x = a, *y = b;
	int		 r;

	if (x->kind != y->kind)
		return (x->kind > y->kind) - (x->kind < y->kind);
	if ((r = strcmp(x->key, y->key)) != 0)
		return r;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* cmp_user_key / cmp_alias_key - bsearch comparators (key first). */
static int
cmp_user_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct user *)elem)->addr);
}

struct alias_key {
	enum key_kind	 kind;
	const char	*key;
};

static int
cmp_alias_key(const void *key, const void *elem)
{
	const struct alias_key *k = key;
	const struct alias *a = elem;

	if (k->kind != a->kind)
		return (k->kind > a->kind) - (k->kind < a->kind);
	return strcmp(k->key, a->key);
}

static const struct user *
find_user(const struct lookup_tab *t, const char *key)
{
	if (t->nusers == 0)
		return NULL;
	return bsearch(key, t->users, t->nusers, sizeof(*t->users),
	    cmp_user_key);
}

static const struct alias *
find_alias(const struct lookup_tab *t, enum key_kind kind, const char *key)
{
	struct alias_key k = { kind, key };

	if (t->naliases == 0)
		return NULL;
	return bsearch(&k, t->aliases, t->naliases, sizeof(*t->aliases),
	    cmp_alias_key);
}

/*
 * lookup_tab_resolve - expand rcpt into out[0..*n) (see lookup_tab.h).  An
 * address without a domain is LK_UNKNOWN: the caller qualifies
 * "<Postmaster>" first.  A local target that resolves to nothing makes
 * the whole recipient LK_UNKNOWN, so a broken alias shows at RCPT time.
 * On any result but LK_OK, *n is 0.
 */
enum lookup_result
lookup_tab_resolve(const struct lookup_tab *t, const struct conf *c,
    const struct mailaddr *rcpt, struct lookup_target *out, size_t max,
    size_t *n)
{
	struct resolver	*r;
	enum lookup_result res;

	*n = 0;
	if (rcpt->domain[0] == '\0' || rcpt->local[0] == '\0')
		return LK_UNKNOWN;
	r = xcalloc(1, sizeof(*r));
	r->t = t;
	r->c = c;
	r->out = out;
	r->max = MIN(max, (size_t)LOOKUP_MAX_TARGETS);
	res = resolve_addr(r, rcpt->local, rcpt->domain);
	if (res == LK_OK)
		*n = r->n;
	free(r);
	return res;
}

/*
 * lookup_tab_postmaster_check - resolve postmaster@domain and say what
 * its resolution fell back on (see lookup_tab.h).
 */
int
lookup_tab_postmaster_check(const struct lookup_tab *t, const struct conf *c,
    const char *domain, char *why, size_t whylen)
{
	struct resolver	*r = xcalloc(1, sizeof(*r));
	enum lookup_result res;
	int		 rv = 0;

	r->t = t;
	r->c = c;
	r->out = xcalloc(LOOKUP_MAX_TARGETS, sizeof(*r->out));
	r->max = LOOKUP_MAX_TARGETS;
	res = resolve_addr(r, "postmaster", domain);
	if (r->pm_own_failed || r->pm_key_failed) {
		snprintf(why, whylen, "%s%s leads nowhere (no such user or "
		    "alias, or a loop)", r->pm_own_failed ? "the alias of "
		    "postmaster@" : "postmaster = ", r->pm_own_failed ?
		    domain : c->postmaster);
		rv = -1;
	} else if (res != LK_OK || r->pm_own_box) {
		snprintf(why, whylen, "mail for postmaster@%s stays in a "
		    "mailbox of its own, which no user reads: set postmaster "
		    "in the config, or give postmaster or root an alias",
		    domain);
		rv = -1;
	}
	free(r->out);
	free(r);
	return rv;
}

/*
 * resolve_addr - one address: remote ones are targets as they are; a
 * local one on the expansion path is its own user's mailbox or a loop;
 * otherwise the first definition in lookup order wins.  Every call counts
 * against the visit budget, which also bounds the duplicate checks.
 */
static enum lookup_result
resolve_addr(struct resolver *r, const char *local, const char *domain)
{
	struct names	 nm;
	const char	*user;

	if (++r->visits > LOOKUP_MAX_VISITS)
		return LK_TOO_MANY;
	if (!conf_is_local_domain(r->c, domain))
		return emit_remote(r, local, domain);
	if (names_make(&nm, local, domain, r->c->recipient_delimiter) == -1)
		return LK_UNKNOWN;
	for (size_t i = 0; i < r->depth; i++) {
		if (strcmp(r->path[i], nm.key) != 0)
			continue;
		if ((user = user_of(r->t, &nm)) != NULL)
			return emit(r, RCPT_LOCAL, user);
		/* "bob: bob, archive" for a mailbox Dovecot knows */
		if (conf_recipient_checked(r->c, nm.domain))
			return emit(r, RCPT_LOCAL, nm.base_key);
		return LK_LOOP;
	}
	return find_def(r, &nm);
}

/* find_def - the lookup order of lookup_tab.h, first match wins. */
static enum lookup_result
find_def(struct resolver *r, const struct names *nm)
{
	enum lookup_result res;

	if (is_postmaster(nm))
		return postmaster(r, nm);
	if (find_own(r, nm, &res))
		return res;
	return find_wide(r, nm);
}

/* find_own - what names this address itself: its alias (or its base's),
 * its user, its bare local-part alias.  false when none does; else true
 * with what it resolved to in *res. */
static bool
find_own(struct resolver *r, const struct names *nm, enum lookup_result *res)
{
	const struct alias *a;
	const char	*user;

	if ((a = find_alias(r->t, KEY_ADDR, nm->key)) == NULL && nm->has_base)
		a = find_alias(r->t, KEY_ADDR, nm->base_key);
	if (a == NULL && (user = user_of(r->t, nm)) != NULL) {
		*res = emit(r, RCPT_LOCAL, user);
		return true;
	}
	if (a == NULL && (a = find_alias(r->t, KEY_BARE, nm->local)) == NULL &&
	    nm->has_base)
		a = find_alias(r->t, KEY_BARE, nm->base);
	if (a == NULL)
		return false;
	*res = expand(r, a, nm);
	return true;
}

/* find_wide - what takes any local part: the domain's catch-all, then
 * any_local (the embedded defaults) or Dovecot's userdb (recipient_check:
 * lookup asks it whether the mailbox exists). */
static enum lookup_result
find_wide(struct resolver *r, const struct names *nm)
{
	const struct alias *a;

	if ((a = find_alias(r->t, KEY_DOMAIN, nm->domain)) != NULL)
		return expand(r, a, nm);
	if ((r->c->any_local || conf_recipient_checked(r->c, nm->domain)) &&
	    addr_local_is_safe_path(nm->local) &&
	    addr_local_is_safe_path(nm->base))
		return emit(r, RCPT_LOCAL, nm->base_key);
	return LK_UNKNOWN;
}

/* is_postmaster - "postmaster" (or "postmaster+tag"), any case. */
static bool
is_postmaster(const struct names *nm)
{
	return strcmp(nm->base, "postmaster") == 0;
}

enum { PM_OWN, PM_KEY, PM_ROOT, PM_WIDE, PM_OWN_BOX, PM_STEPS };

/*
 * postmaster - RFC 5321 4.5.1: a server MUST accept mail for postmaster
 * at each of its domains, and this one never refuses it.  It goes to the
 * first of these that leads somewhere: its own alias or user; the
 * `postmaster` address of the config; root's alias or user (the classic
 * "postmaster: root"); the domain's catch-all (or any_local); else a
 * mailbox of its own, which no user reads ("postbote check" warns).
 * postmaster stays on the expansion path meanwhile, so that what leads
 * back to it is a loop of that step, and the next step is tried.
 */
static enum lookup_result
postmaster(struct resolver *r, const struct names *nm)
{
	enum lookup_result res = LK_UNKNOWN;

	if (r->depth >= LOOKUP_MAX_DEPTH)
		return LK_LOOP;
	str_copy(r->path[r->depth++], nm->key, sizeof(r->path[0]));
	for (int step = 0; step < PM_STEPS && res != LK_OK; step++)
		res = pm_try(r, nm, step);
	r->depth--;
	return res;
}

/* pm_try - one step of postmaster(); a step that fails leaves nothing in
 * the output, so that the next one starts clean. */
static enum lookup_result
pm_try(struct resolver *r, const struct names *nm, int step)
{
	enum lookup_result res = LK_UNKNOWN;
	struct names	 root;
	size_t		 n0 = r->n;

	switch (step) {
	case PM_OWN:
		if (find_own(r, nm, &res))
			r->pm_own_failed = res != LK_OK;
		break;
	case PM_KEY:
		if (r->c->postmaster == NULL)
			return LK_UNKNOWN;
		res = resolve_text(r, r->c->postmaster);
		r->pm_key_failed = res != LK_OK;
		break;
	case PM_ROOT:
		if (names_make(&root, "root", nm->domain, '\0') == 0)
			find_own(r, &root, &res);
		break;
	case PM_WIDE:
		res = find_wide(r, nm);
		break;
	default:
		r->pm_own_box = true;
		res = emit(r, RCPT_LOCAL, nm->base_key);
		break;
	}
	if (res != LK_OK)
		r->n = n0;
	return res;
}

/* resolve_text - an address from the config ("local@domain"). */
static enum lookup_result
resolve_text(struct resolver *r, const char *text)
{
	struct mailaddr	 m;

	if (addr_parse(text, ADDR_F_UTF8, &m) != ADDR_OK ||
	    m.domain[0] == '\0')
		return LK_UNKNOWN;
	return resolve_addr(r, m.local, m.domain);
}

/* expand - resolve each target of a, with nm on the expansion path. */
static enum lookup_result
expand(struct resolver *r, const struct alias *a, const struct names *nm)
{
	enum lookup_result res = LK_OK;

	if (r->depth >= LOOKUP_MAX_DEPTH)
		return LK_LOOP;
	str_copy(r->path[r->depth++], nm->key, sizeof(r->path[0]));
	for (size_t i = 0; i < a->ntargets && res == LK_OK; i++) {
		const struct target *tg = &a->targets[i];

		res = resolve_addr(r, tg->local,
		    tg->domain != NULL ? tg->domain : nm->domain);
	}
	r->depth--;
	return res;
}

/* emit - add a target unless it is already there (case-insensitive). */
static enum lookup_result
emit(struct resolver *r, enum rcpt_kind kind, const char *addr)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->out[i].kind == kind && str_ieq(r->out[i].addr, addr))
			return LK_OK;
	if (r->n >= r->max)
		return LK_TOO_MANY;
	r->out[r->n].kind = kind;
	str_copy(r->out[r->n].addr, addr, sizeof(r->out[0].addr));
	r->n++;
	return LK_OK;
}

/* emit_remote - a target at another domain, local part as written. */
static enum lookup_result
emit_remote(struct resolver *r, const char *local, const char *domain)
{
	struct mailaddr	 m;
	char		 text[ADDR_TEXT_MAX];

	if (str_copy(m.local, local, sizeof(m.local)) >= sizeof(m.local) ||
	    str_copy(m.domain, domain, sizeof(m.domain)) >= sizeof(m.domain))
		return LK_UNKNOWN;
	if (m.domain[0] != '[')
		str_lower(m.domain);
	if (addr_format(&m, text, sizeof(text)) >= sizeof(text))
		return LK_UNKNOWN;
	return emit(r, RCPT_REMOTE, text);
}

/*
 * names_make - lower-case forms and keys of local@domain, and of
 * base@domain when the local part has the delimiter after its first byte.
 */
static int
names_make(struct names *nm, const char *local, const char *domain,
    char delim)
{
	char	*d;

	if (str_copy(nm->local, local, sizeof(nm->local)) >=
	    sizeof(nm->local) ||
	    str_copy(nm->domain, domain, sizeof(nm->domain)) >=
	    sizeof(nm->domain))
		return -1;
	str_lower(nm->local);
	if (nm->domain[0] != '[')
		str_lower(nm->domain);
	str_copy(nm->base, nm->local, sizeof(nm->base));
	nm->has_base = false;
	if (delim != '\0' && (d = strchr(nm->base, delim)) != NULL &&
	    d != nm->base) {
		*d = '\0';
		nm->has_base = true;
	}
	if (canon(nm->local, nm->domain, nm->key, sizeof(nm->key)) == -1 ||
	    canon(nm->base, nm->domain, nm->base_key,
	    sizeof(nm->base_key)) == -1)
		return -1;
	return 0;
}

/* user_of - the user owning local@domain or base@domain, or NULL. */
static const char *
user_of(const struct lookup_tab *t, const struct names *nm)
{
	const struct user *u;

	if ((u = find_user(t, nm->key)) == NULL && nm->has_base)
		u = find_user(t, nm->base_key);
	return u != NULL ? u->addr : NULL;
}

/* lookup_tab_user_key - the canonical form of a user address: 0 or -1. */
int
lookup_tab_user_key(const char *address, char *out, size_t outsz)
{
	struct mailaddr	 m;

	if (addr_parse(address, ADDR_F_UTF8, &m) != ADDR_OK)
		return -1;
	return canon(m.local, m.domain, out, outsz);
}

/* user_by_address - the user for an address in any case or quoting. */
static const struct user *
user_by_address(const struct lookup_tab *t, const char *address)
{
	char	 key[ADDR_TEXT_MAX];

	if (lookup_tab_user_key(address, key, sizeof(key)) == -1)
		return NULL;
	return find_user(t, key);
}

/*
 * lookup_tab_user_hash - the crypt hash of a user, or NULL.  address is
 * normalized as the loader does (so case and quoting do not matter).
 */
const char *
lookup_tab_user_hash(const struct lookup_tab *t, const char *address)
{
	const struct user	*u = user_by_address(t, address);

	return u != NULL ? u->hash : NULL;
}

/* lookup_tab_user_addr - the user's address as stored (canonical), or NULL. */
const char *
lookup_tab_user_addr(const struct lookup_tab *t, const char *address)
{
	const struct user	*u = user_by_address(t, address);

	return u != NULL ? u->addr : NULL;
}

/* lookup_tab_user_count - number of users. */
size_t
lookup_tab_user_count(const struct lookup_tab *t)
{
	return t->nusers;
}

/* lookup_tab_user_at - i-th user address in sorted order, or NULL past
 * the end. */
const char *
lookup_tab_user_at(const struct lookup_tab *t, size_t i)
{
	return i < t->nusers ? t->users[i].addr : NULL;
}

/* grow - room for element n of a doubling array of *cap elements. */
static void *
grow(void *p, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return p;
	if (ckd_mul(cap, *cap == 0 ? 8 : *cap, 2))
		fatalx("lookup table too large");
	return xreallocarray(p, *cap, size);
}

/* fail - set err to "FILE:LINE: reason"; returns -1. */
static int
fail(struct ctx *x, const char *fmt, ...)
{
	va_list	 ap;
	char	 why[512];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (x->err != NULL && x->errlen > 0)
		snprintf(x->err, x->errlen, "%s:%u: %s",
		    x->file != NULL ? x->file : "-", x->line, why);
	return -1;
}

/* next_line - copy the next line, without its LF, into b. */
static bool
next_line(const char *text, size_t len, size_t *off, struct buf *b)
{
	const char	*p, *nl;
	size_t		 n;

	if (*off >= len)
		return false;
	p = text + *off;
	nl = memchr(p, '\n', len - *off);
	n = nl != NULL ? (size_t)(nl - p) : len - *off;
	buf_reset(b);
	buf_append(b, p, n);		/* no ceiling: cannot fail */
	*off += n + (nl != NULL);
	return true;
}

/* trim - skip leading and cut trailing blanks (space, tab, CR). */
static char *
trim(char *s)
{
	size_t	 n;

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* find_unquoted - first ch in s outside a quoted string, or NULL. */
static char *
find_unquoted(char *s, char ch)
{
	bool	 q = false;

	for (; *s != '\0'; s++) {
		if (q && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			q = !q;
		else if (!q && *s == ch)
			return s;
	}
	return NULL;
}

/* canon - the canonical key: addr_format() of the lower-cased address. */
static int
canon(const char *local, const char *domain, char *out, size_t outsz)
{
	struct mailaddr	 m;

	if (str_copy(m.local, local, sizeof(m.local)) >= sizeof(m.local) ||
	    str_copy(m.domain, domain, sizeof(m.domain)) >= sizeof(m.domain))
		return -1;
	str_lower(m.local);
	if (m.domain[0] != '[')
		str_lower(m.domain);
	if (addr_format(&m, out, outsz) >= outsz)
		return -1;
	return 0;
}

/*
 * parse_bare - validate a bare local part with the one address parser,
 * by giving it a placeholder domain; the unquoted form goes to local.
 */
static int
parse_bare(const char *s, char *local)
{
	struct mailaddr	 m;
	char		 tmp[ADDR_PATH_MAX + sizeof(BARE_DOMAIN) + 1];

	if (strlen(s) > ADDR_PATH_MAX)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s@%s", s, BARE_DOMAIN);
	if (addr_parse(tmp, ADDR_F_UTF8, &m) != ADDR_OK)
		return -1;
	str_copy(local, m.local, ADDR_LOCAL_MAX + 1);
	return 0;
}
