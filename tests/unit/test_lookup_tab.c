/*
 * test_lookup_tab.c - unit tests for the users and aliases tables and for
 * recipient resolution.  Each rule of lookup_tab.h has a case here.  The
 * config is built by hand with only the fields lookup_tab.c reads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/buf.h"
#include "common/lookup_tab.h"

static char	*domains[] = { "example.com", "example.org" };
static struct conf conf;

static int
setup(void **state)
{
	memset(&conf, 0, sizeof(conf));
	conf.domains = domains;
	conf.ndomains = 2;
	conf.recipient_delimiter = '+';
	conf.any_local = false;
	*state = lookup_tab_new();
	return 0;
}

static int
teardown(void **state)
{
	lookup_tab_free(*state);
	return 0;
}

static const char users_text[] =
    "# users\n"
    "alice@example.com:$6$salt$hashA\n"
    "\n"
    "Bob@Example.COM:$6$salt$hashB\n"
    "  carol@example.com : $6$salt$hashC  \r\n"
    "root@example.com:$6$x$r\n"
    "root@example.org:$6$x$r2\n"
    "archive@example.com:$6$x$ar\n";

static void
load_users(struct lookup_tab *t)
{
	char	 err[256] = "";

	assert_int_equal(lookup_tab_users_load(t, &conf, users_text,
	    strlen(users_text), "users", err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

static void
load_aliases(struct lookup_tab *t, const char *text)
{
	char	 err[256] = "";

	if (lookup_tab_aliases_load(t, &conf, text, strlen(text), "aliases", err,
	    sizeof(err)) != 0)
		fail_msg("aliases: %s", err);
}

static enum lookup_result
resolve(struct lookup_tab *t, const char *local, const char *domain,
    struct lookup_target *out, size_t max, size_t *n)
{
	struct mailaddr	 m;

	memset(&m, 0, sizeof(m));
	snprintf(m.local, sizeof(m.local), "%s", local);
	snprintf(m.domain, sizeof(m.domain), "%s", domain);
	return lookup_tab_resolve(t, &conf, &m, out, max, n);
}

/* expect - resolve and compare with "L:addr" / "R:addr" targets. */
static void
expect(struct lookup_tab *t, const char *local, const char *domain,
    enum lookup_result want, const char *const *targets)
{
	struct lookup_target out[32];
	size_t		 n = 99, want_n = 0;

	assert_int_equal(resolve(t, local, domain, out, 32, &n), want);
	if (want != LK_OK) {
		assert_int_equal(n, 0);
		return;
	}
	while (targets[want_n] != NULL)
		want_n++;
	assert_int_equal(n, want_n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(out[i].kind, targets[i][0] == 'L' ?
		    RCPT_LOCAL : RCPT_REMOTE);
		assert_string_equal(out[i].addr, targets[i] + 2);
	}
}

#define T(...)	((const char *const[]){ __VA_ARGS__, NULL })
#define NONE	((const char *const[]){ NULL })

/* users file */

static void
test_users_load(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	assert_int_equal(lookup_tab_user_count(t), 6);
	assert_string_equal(lookup_tab_user_at(t, 0), "alice@example.com");
	assert_string_equal(lookup_tab_user_at(t, 2), "bob@example.com");
	assert_string_equal(lookup_tab_user_at(t, 3), "carol@example.com");
	assert_null(lookup_tab_user_at(t, 6));
	assert_string_equal(lookup_tab_user_hash(t, "alice@example.com"),
	    "$6$salt$hashA");
	assert_string_equal(lookup_tab_user_hash(t, "BOB@example.com"),
	    "$6$salt$hashB");
	assert_string_equal(lookup_tab_user_hash(t, "Carol@EXAMPLE.com"),
	    "$6$salt$hashC");
	assert_null(lookup_tab_user_hash(t, "dave@example.com"));
	assert_null(lookup_tab_user_hash(t, "not an address"));
}

static void
test_user_addr_and_key(void **state)
{
	struct lookup_tab *t = *state;
	char		 key[ADDR_TEXT_MAX];

	load_users(t);
	assert_string_equal(lookup_tab_user_addr(t, "BOB@EXAMPLE.com"),
	    "bob@example.com");
	assert_string_equal(lookup_tab_user_addr(t, "\"carol\"@example.com"),
	    "carol@example.com");
	assert_null(lookup_tab_user_addr(t, "dave@example.com"));
	assert_null(lookup_tab_user_addr(t, "bob"));
	assert_int_equal(lookup_tab_user_key("Dave@Example.COM", key,
	    sizeof(key)), 0);
	assert_string_equal(key, "dave@example.com");
	assert_int_equal(lookup_tab_user_key("not an address", key, sizeof(key)),
	    -1);
	assert_int_equal(lookup_tab_user_key("dave@example.com", key, 8), -1);
}

struct err_case {
	const char	*text;
	const char	*err;
};

static void
check_errors(struct lookup_tab *t, const struct err_case *cases, size_t n,
    bool aliases)
{
	for (size_t i = 0; i < n; i++) {
		char	 err[256] = "";
		size_t	 before = lookup_tab_user_count(t);
		int	 r;

		if (aliases)
			r = lookup_tab_aliases_load(t, &conf, cases[i].text,
			    strlen(cases[i].text), "f", err, sizeof(err));
		else
			r = lookup_tab_users_load(t, &conf, cases[i].text,
			    strlen(cases[i].text), "f", err, sizeof(err));
		if (r != -1 || strstr(err, cases[i].err) == NULL)
			fail_msg("case %zu: r=%d err=\"%s\", want \"%s\"", i,
			    r, err, cases[i].err);
		assert_int_equal(lookup_tab_user_count(t), before);
	}
}

static void
test_users_errors(void **state)
{
	static const struct err_case cases[] = {
		{ "alice@example.com\n", "f:1: missing ':'" },
		{ "# c\nnot-an-address:x\n", "f:2: bad address" },
		{ "a@@example.com:x\n", "f:1: bad address" },
		{ "eve@example.net:x\n", "f:1: eve@example.net: domain is "
		    "not a local domain" },
		{ "a@example.com:x\n\nb@example.com:y\nA@EXAMPLE.COM:z\n",
		    "f:4: duplicate user a@example.com" },
		{ "a@example.com:bad hash\n", "f:1: bad character" },
		{ "ok@example.com:x\nbad\n", "f:2: missing ':'" },
	};
	struct lookup_tab *t = *state;
	char		 nul[] = "a@example.com:x\0y\n";
	char		 err[128];

	check_errors(t, cases, sizeof(cases) / sizeof(cases[0]), false);
	assert_int_equal(lookup_tab_user_count(t), 0);
	assert_int_equal(lookup_tab_users_load(t, &conf, nul, sizeof(nul) - 1,
	    "f", err, sizeof(err)), -1);
	assert_string_equal(err, "f:1: NUL byte in line");
}

static void
test_users_duplicate_across_loads(void **state)
{
	struct lookup_tab *t = *state;
	static const char more[] = "zed@example.com:x\nalice@example.com:y\n";
	char		 err[128];

	load_users(t);
	assert_int_equal(lookup_tab_users_load(t, &conf, more, strlen(more),
	    "more", err, sizeof(err)), -1);
	assert_string_equal(err, "more:2: duplicate user alice@example.com");
	/* rolled back: zed is gone, the first load is intact */
	assert_int_equal(lookup_tab_user_count(t), 6);
	assert_null(lookup_tab_user_hash(t, "zed@example.com"));
	assert_string_equal(lookup_tab_user_hash(t, "alice@example.com"),
	    "$6$salt$hashA");
}

/* aliases file */

static void
test_aliases_errors(void **state)
{
	static const struct err_case cases[] = {
		{ "a: |/bin/sh -c x\n", "f:1: target \"|/bin/sh -c x\": "
		    "commands, files and :include: are not allowed" },
		{ "a: b, /var/mail/x\n", "f:1: target \"/var/mail/x\"" },
		{ "a: :include:/etc/list\n", "f:1: target \":include:" },
		{ "a: :INCLUDE:/etc/list\n", "f:1: target \":INCLUDE:" },
		{ "a: \"|cmd\"\n", "f:1: target \"\\x22|cmd\\x22\"" },
		{ "a: \"/x\"@example.com\n", "f:1: target" },
		{ "# c\n\na b c\n", "f:3: missing ':'" },
		{ "a@b@c: x\n", "f:1: bad alias key" },
		{ "a@example.net: x\n", "f:1: a@example.net: domain is not a "
		    "local domain" },
		{ "@example.net: x\n", "f:1: @example.net: domain is not" },
		{ "@: x\n", "f:1: bad alias key" },
		{ "a:\n", "f:1: empty alias target" },
		{ "a: b,\n", "f:1: empty alias target" },
		{ "a: b,,c\n", "f:1: empty alias target" },
		{ "a: b c\n", "f:1: bad alias target \"b c\"" },
		{ " a: b\n", "f:1: continuation line without an entry" },
		{ "a: b\nc: d\nA: e\n", "f:3: duplicate alias a" },
		{ "x@example.com: b\nX@Example.Com: e\n",
		    "f:2: duplicate alias x@example.com" },
		{ "@example.com: b\n@EXAMPLE.com: e\n",
		    "f:2: duplicate alias @example.com" },
		/* the error names the first line of a continued entry */
		{ "ok: a\nbad: b,\n  c,\n  |cmd\nz: y\n", "f:2: target" },
	};

	check_errors(*state, cases, sizeof(cases) / sizeof(cases[0]), true);
}

static void
test_aliases_rollback(void **state)
{
	struct lookup_tab *t = *state;
	static const char bad[] = "newone: alice\nbroken\n";
	char		 err[128];

	load_users(t);
	load_aliases(t, "old: alice\n");
	assert_int_equal(lookup_tab_aliases_load(t, &conf, bad, strlen(bad), "f",
	    err, sizeof(err)), -1);
	expect(t, "newone", "example.com", LK_UNKNOWN, NONE);
	expect(t, "old", "example.com", LK_OK, T("L:alice@example.com"));
}

/* resolution */

static void
test_resolve_user_exact(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	expect(t, "alice", "example.com", LK_OK, T("L:alice@example.com"));
	expect(t, "nobody", "example.com", LK_UNKNOWN, NONE);
	/* a user of example.com is not one of example.org */
	expect(t, "alice", "example.org", LK_UNKNOWN, NONE);
}

static void
test_resolve_case_insensitive(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t, "Sales@Example.COM: ALICE\n");
	expect(t, "ALICE", "EXAMPLE.COM", LK_OK, T("L:alice@example.com"));
	expect(t, "bob", "example.com", LK_OK, T("L:bob@example.com"));
	expect(t, "sAlEs", "Example.Com", LK_OK, T("L:alice@example.com"));
}

static void
test_resolve_delimiter(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t, "list@example.com: alice, bob\n");
	expect(t, "alice+news", "example.com", LK_OK,
	    T("L:alice@example.com"));
	expect(t, "Alice+A+B", "example.com", LK_OK,
	    T("L:alice@example.com"));
	expect(t, "list+x", "example.com", LK_OK,
	    T("L:alice@example.com", "L:bob@example.com"));
	/* a leading delimiter has no base */
	expect(t, "+alice", "example.com", LK_UNKNOWN, NONE);
	conf.recipient_delimiter = '\0';
	expect(t, "alice+news", "example.com", LK_UNKNOWN, NONE);
	conf.recipient_delimiter = '-';
	expect(t, "alice-news", "example.com", LK_OK,
	    T("L:alice@example.com"));
}

static void
test_resolve_exact_user_with_delimiter(void **state)
{
	struct lookup_tab *t = *state;
	static const char u[] = "a+b@example.com:x\na@example.com:y\n";
	char		 err[128];

	assert_int_equal(lookup_tab_users_load(t, &conf, u, strlen(u), "u", err,
	    sizeof(err)), 0);
	expect(t, "a+b", "example.com", LK_OK, T("L:a+b@example.com"));
	expect(t, "a+c", "example.com", LK_OK, T("L:a@example.com"));
}

static void
test_resolve_order(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t,
	    "alice@example.com: carol\n"	/* full alias beats user */
	    "bob: carol\n"			/* user beats bare alias */
	    "alice: bob\n"
	    "@example.com: root\n"		/* catch-all last */
	    "info: bob\n");			/* bare beats catch-all */
	expect(t, "alice", "example.com", LK_OK, T("L:carol@example.com"));
	expect(t, "bob", "example.com", LK_OK, T("L:bob@example.com"));
	expect(t, "info", "example.com", LK_OK, T("L:bob@example.com"));
	expect(t, "whoever", "example.com", LK_OK, T("L:root@example.com"));
	expect(t, "whoever+tag", "example.com", LK_OK,
	    T("L:root@example.com"));
}

static void
test_resolve_bare_alias(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t, "postmaster: root\nabuse: root@example.com\n");
	expect(t, "postmaster", "example.com", LK_OK,
	    T("L:root@example.com"));
	/* a bare target is in the domain being resolved */
	expect(t, "postmaster", "example.org", LK_OK,
	    T("L:root@example.org"));
	expect(t, "Postmaster+x", "example.org", LK_OK,
	    T("L:root@example.org"));
	expect(t, "abuse", "example.org", LK_OK, T("L:root@example.com"));
}

static void
test_resolve_catch_all(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t, "@example.org: root, sales\nsales@example.org: "
	    "alice@example.com\n");
	expect(t, "anything", "example.org", LK_OK,
	    T("L:root@example.org", "L:alice@example.com"));
	/* an existing user is not caught */
	expect(t, "root", "example.org", LK_OK, T("L:root@example.org"));
	/* no catch-all for example.com */
	expect(t, "anything", "example.com", LK_UNKNOWN, NONE);
}

static void
test_resolve_catch_all_to_itself(void **state)
{
	struct lookup_tab *t = *state;

	load_aliases(t, "@example.org: nobody\n");
	expect(t, "x", "example.org", LK_LOOP, NONE);
}

/* A catch-all to postmaster: postmaster is never unknown (RFC 5321
 * 4.5.1), so it is its own mailbox, not a loop back to the catch-all. */
static void
test_resolve_catch_all_to_postmaster(void **state)
{
	struct lookup_tab *t = *state;

	load_aliases(t, "@example.org: postmaster\n");
	expect(t, "x", "example.org", LK_OK, T("L:postmaster@example.org"));
}

static void
test_resolve_nested(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t,
	    "all: staff, ext\n"
	    "staff: team-a, carol\n"
	    "team-a: alice,\n"
	    "  bob\n"
	    "ext: friend@remote.example\n");
	expect(t, "all", "example.com", LK_OK,
	    T("L:alice@example.com", "L:bob@example.com",
	    "L:carol@example.com", "R:friend@remote.example"));
}

static void
test_resolve_loop(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t, "a: b\nb: a\nself: self\nc: alice, d\nd: c, e\n"
	    "e: c\n");
	expect(t, "a", "example.com", LK_LOOP, NONE);
	expect(t, "b", "example.com", LK_LOOP, NONE);
	expect(t, "self", "example.com", LK_LOOP, NONE);
	expect(t, "c", "example.com", LK_LOOP, NONE);
}

static void
test_resolve_self_idiom(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t, "bob@example.com: bob, archive\n"
	    "alice@example.com: alice@example.com, bob\n");
	expect(t, "bob", "example.com", LK_OK,
	    T("L:bob@example.com", "L:archive@example.com"));
	expect(t, "bob+tag", "example.com", LK_OK,
	    T("L:bob@example.com", "L:archive@example.com"));
	expect(t, "alice", "example.com", LK_OK,
	    T("L:alice@example.com", "L:bob@example.com",
	    "L:archive@example.com"));
}

static void
test_resolve_remote(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t, "fwd: Someone@Remote.NET, other@remote.net, alice\n"
	    "out@example.com: \"a b\"@remote.net\n");
	expect(t, "fwd", "example.com", LK_OK,
	    T("R:Someone@remote.net", "R:other@remote.net",
	    "L:alice@example.com"));
	expect(t, "out", "example.com", LK_OK, T("R:\"a b\"@remote.net"));
	/* a recipient at a remote domain is remote */
	expect(t, "x", "remote.net", LK_OK, T("R:x@remote.net"));
	/* no domain: the caller qualifies it first */
	expect(t, "postmaster", "", LK_UNKNOWN, NONE);
}

static void
test_resolve_duplicates(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t,
	    "team: alice, bob, alice@example.com, ALICE, bob+x\n"
	    "both: team, alice, Friend@remote.net, friend@REMOTE.net, "
	    "friend@remote.net\n");
	expect(t, "team", "example.com", LK_OK,
	    T("L:alice@example.com", "L:bob@example.com"));
	expect(t, "both", "example.com", LK_OK,
	    T("L:alice@example.com", "L:bob@example.com",
	    "R:Friend@remote.net"));
}

static void
test_resolve_unknown_target(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t, "broken: alice, ghost\n");
	expect(t, "broken", "example.com", LK_UNKNOWN, NONE);
}

/* chain - "a0: a1", ..., "a<n-1>: alice": n nested aliases. */
static void
chain(struct lookup_tab *t, int n)
{
	struct buf	 b;

	buf_init(&b, 0);
	for (int i = 0; i < n - 1; i++)
		buf_printf(&b, "a%d: a%d\n", i, i + 1);
	buf_printf(&b, "a%d: alice\n", n - 1);
	load_aliases(t, buf_cstr(&b));
	buf_free(&b);
}

static void
test_resolve_depth_limit(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	chain(t, LOOKUP_MAX_DEPTH);
	expect(t, "a0", "example.com", LK_OK, T("L:alice@example.com"));
}

static void
test_resolve_too_deep(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	chain(t, LOOKUP_MAX_DEPTH + 1);
	expect(t, "a0", "example.com", LK_LOOP, NONE);
	expect(t, "a1", "example.com", LK_OK, T("L:alice@example.com"));
}

static void
test_resolve_max_targets(void **state)
{
	struct lookup_tab *t = *state;
	struct lookup_target out[4];
	size_t		 n = 7;

	load_users(t);
	load_aliases(t, "four: alice, bob, carol, root\n"
	    "three: alice, bob, carol, alice\n");
	assert_int_equal(resolve(t, "four", "example.com", out, 3, &n),
	    LK_TOO_MANY);
	assert_int_equal(n, 0);
	assert_int_equal(resolve(t, "four", "example.com", out, 4, &n), LK_OK);
	assert_int_equal(n, 4);
	/* duplicates do not count */
	assert_int_equal(resolve(t, "three", "example.com", out, 3, &n),
	    LK_OK);
	assert_int_equal(n, 3);
}

static void
test_resolve_lookup_max_targets(void **state)
{
	struct lookup_tab *t = *state;
	struct lookup_target *out;
	struct buf	 b;
	size_t		 n, cap = LOOKUP_MAX_TARGETS + 10;

	buf_init(&b, 0);
	buf_puts(&b, "big:");
	for (int i = 0; i < LOOKUP_MAX_TARGETS + 1; i++)
		buf_printf(&b, "%s u%d@remote.net", i ? "," : "", i);
	buf_puts(&b, "\nfit:");
	for (int i = 0; i < LOOKUP_MAX_TARGETS; i++)
		buf_printf(&b, "%s u%d@remote.net", i ? "," : "", i);
	buf_puts(&b, "\n");
	load_aliases(t, buf_cstr(&b));
	buf_free(&b);
	out = calloc(cap, sizeof(*out));
	assert_non_null(out);
	assert_int_equal(resolve(t, "big", "example.com", out, cap, &n),
	    LK_TOO_MANY);
	assert_int_equal(resolve(t, "fit", "example.com", out, cap, &n),
	    LK_OK);
	assert_int_equal(n, LOOKUP_MAX_TARGETS);
	free(out);
}

/* A diamond lattice 2^20 paths deep must stop on the visit budget. */
static void
test_resolve_fanout_bounded(void **state)
{
	struct lookup_tab *t = *state;
	struct buf	 b;

	load_users(t);
	buf_init(&b, 0);
	for (int i = 0; i < 19; i++)
		buf_printf(&b, "x%d: x%d, y%d\ny%d: x%d, y%d\n", i, i + 1,
		    i + 1, i, i + 1, i + 1);
	buf_puts(&b, "x19: alice\ny19: bob\n");
	load_aliases(t, buf_cstr(&b));
	buf_free(&b);
	expect(t, "x0", "example.com", LK_TOO_MANY, NONE);
	expect(t, "x15", "example.com", LK_OK,
	    T("L:alice@example.com", "L:bob@example.com"));
}

static void
test_resolve_any_local(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t, "postmaster: root\n");
	conf.any_local = true;
	expect(t, "random", "example.com", LK_OK, T("L:random@example.com"));
	expect(t, "Random+tag", "example.com", LK_OK,
	    T("L:random@example.com"));
	expect(t, "postmaster", "example.org", LK_OK,
	    T("L:root@example.org"));
	expect(t, "../x", "example.com", LK_UNKNOWN, NONE);
	expect(t, "..", "example.com", LK_UNKNOWN, NONE);
	expect(t, ".hidden", "example.com", LK_UNKNOWN, NONE);
	expect(t, "a/b", "example.com", LK_UNKNOWN, NONE);
	expect(t, "a+/b", "example.com", LK_UNKNOWN, NONE);
	expect(t, "a\tb", "example.com", LK_UNKNOWN, NONE);
	conf.any_local = false;
	expect(t, "random", "example.com", LK_UNKNOWN, NONE);
}

/* postmaster - RFC 5321 4.5.1 */

static const char users_no_root[] =
    "alice@example.com:$6$salt$hashA\n"
    "bob@example.com:$6$salt$hashB\n";

static void
load_text_users(struct lookup_tab *t, const char *text)
{
	char	 err[256] = "";

	assert_int_equal(lookup_tab_users_load(t, &conf, text, strlen(text),
	    "users", err, sizeof(err)), 0);
}

static void
pm_check(struct lookup_tab *t, const char *domain, int want,
    const char *why_has)
{
	char	 why[512] = "";

	assert_int_equal(lookup_tab_postmaster_check(t, &conf, domain, why,
	    sizeof(why)), want);
	if (why_has != NULL)
		assert_non_null(strstr(why, why_has));
}

/* With users and no aliases, postmaster is accepted anyway: the mailbox
 * of its own is the last resort, and the check says so. */
static void
test_postmaster_without_aliases(void **state)
{
	struct lookup_tab *t = *state;

	load_text_users(t, users_no_root);
	expect(t, "postmaster", "example.com", LK_OK,
	    T("L:postmaster@example.com"));
	expect(t, "PostMaster", "EXAMPLE.ORG", LK_OK,
	    T("L:postmaster@example.org"));
	expect(t, "POSTMASTER+tag", "example.com", LK_OK,
	    T("L:postmaster@example.com"));
	expect(t, "postmasters", "example.com", LK_UNKNOWN, NONE);
	expect(t, "postmaster", "remote.test", LK_OK,
	    T("R:postmaster@remote.test"));
	pm_check(t, "example.com", -1, "postmaster@example.com");
}

/* The order: its own alias or user, the postmaster key, root, the
 * catch-all, its own mailbox. */
static void
test_postmaster_order(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);			/* root@example.com, root@example.org */
	expect(t, "postmaster", "example.com", LK_OK, T("L:root@example.com"));
	expect(t, "Postmaster", "example.org", LK_OK, T("L:root@example.org"));
	pm_check(t, "example.com", 0, NULL);
	conf.postmaster = "alice@example.com";
	expect(t, "postmaster", "example.org", LK_OK,
	    T("L:alice@example.com"));
	conf.postmaster = "pm@remote.test";
	expect(t, "postmaster", "example.com", LK_OK, T("R:pm@remote.test"));
	load_aliases(t, "postmaster@example.org: bob@example.com\n");
	expect(t, "postmaster", "example.org", LK_OK, T("L:bob@example.com"));
	expect(t, "postmaster", "example.com", LK_OK, T("R:pm@remote.test"));
	conf.postmaster = NULL;
}

static void
test_postmaster_root_alias_and_catch_all(void **state)
{
	struct lookup_tab *t = *state;

	load_text_users(t, users_no_root);
	load_aliases(t, "root: bob@example.com\n"
	    "@example.org: alice@example.com\n");
	expect(t, "postmaster", "example.com", LK_OK, T("L:bob@example.com"));
	expect(t, "postmaster", "example.org", LK_OK, T("L:bob@example.com"));
	pm_check(t, "example.org", 0, NULL);
}

static void
test_postmaster_catch_all(void **state)
{
	struct lookup_tab *t = *state;

	load_text_users(t, users_no_root);
	load_aliases(t, "@example.org: alice@example.com\n");
	expect(t, "postmaster", "example.org", LK_OK,
	    T("L:alice@example.com"));
	expect(t, "postmaster", "example.com", LK_OK,
	    T("L:postmaster@example.com"));
	pm_check(t, "example.org", 0, NULL);
	pm_check(t, "example.com", -1, "no user reads");
}

/* A step that leads nowhere or back to postmaster is passed over, and a
 * postmaster key that does is reported. */
static void
test_postmaster_broken_steps(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t, "loop@example.com: postmaster@example.com\n"
	    "root@example.org: postmaster\n");
	conf.postmaster = "nobody@example.com";
	expect(t, "postmaster", "example.com", LK_OK, T("L:root@example.com"));
	pm_check(t, "example.com", -1, "postmaster = nobody@example.com");
	conf.postmaster = "loop@example.com";
	expect(t, "postmaster", "example.com", LK_OK, T("L:root@example.com"));
	pm_check(t, "example.com", -1, "leads nowhere");
	conf.postmaster = NULL;
	/* root's alias leads back: postmaster's own mailbox */
	expect(t, "postmaster", "example.org", LK_OK,
	    T("L:postmaster@example.org"));
	/* an alias reaching postmaster reaches where it goes */
	expect(t, "loop", "example.com", LK_OK, T("L:root@example.com"));
}

/* postmaster's own alias leads nowhere: root takes it, the check says. */
static void
test_postmaster_broken_alias(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t, "postmaster: nobody\n");
	expect(t, "postmaster", "example.com", LK_OK, T("L:root@example.com"));
	pm_check(t, "example.com", -1, "the alias of postmaster@example.com");
	expect(t, "nobody", "example.com", LK_UNKNOWN, NONE);
}

static void
test_quoted_and_continuations(void **state)
{
	struct lookup_tab *t = *state;

	load_users(t);
	load_aliases(t,
	    "# comment\n"
	    "\"odd:key, here\"@example.com: alice\n"
	    "multi: alice,\n"
	    "# a comment inside the entry\n"
	    "\n"
	    "\tbob,\n"
	    "   carol\r\n");
	expect(t, "odd:key, here", "example.com", LK_OK,
	    T("L:alice@example.com"));
	expect(t, "multi", "example.com", LK_OK,
	    T("L:alice@example.com", "L:bob@example.com",
	    "L:carol@example.com"));
}

int
main(void)
{
#define TEST(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		TEST(test_users_load),
		TEST(test_user_addr_and_key),
		TEST(test_users_errors),
		TEST(test_users_duplicate_across_loads),
		TEST(test_aliases_errors),
		TEST(test_aliases_rollback),
		TEST(test_resolve_user_exact),
		TEST(test_resolve_case_insensitive),
		TEST(test_resolve_delimiter),
		TEST(test_resolve_exact_user_with_delimiter),
		TEST(test_resolve_order),
		TEST(test_resolve_bare_alias),
		TEST(test_resolve_catch_all),
		TEST(test_resolve_catch_all_to_itself),
		TEST(test_resolve_catch_all_to_postmaster),
		TEST(test_resolve_nested),
		TEST(test_resolve_loop),
		TEST(test_resolve_self_idiom),
		TEST(test_resolve_remote),
		TEST(test_resolve_duplicates),
		TEST(test_resolve_unknown_target),
		TEST(test_resolve_depth_limit),
		TEST(test_resolve_too_deep),
		TEST(test_resolve_max_targets),
		TEST(test_resolve_lookup_max_targets),
		TEST(test_resolve_fanout_bounded),
		TEST(test_resolve_any_local),
		TEST(test_postmaster_without_aliases),
		TEST(test_postmaster_order),
		TEST(test_postmaster_root_alias_and_catch_all),
		TEST(test_postmaster_catch_all),
		TEST(test_postmaster_broken_steps),
		TEST(test_postmaster_broken_alias),
		TEST(test_quoted_and_continuations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
