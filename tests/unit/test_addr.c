/*
 * test_addr.c - table tests for addr.c: RFC 5321 paths and mailboxes,
 * RFC 6531 UTF-8, length limits, address literals, EHLO arguments, the
 * formatter and its round trip, and the open-relay tricks that depend on
 * how a parser splits an address.  Every input is copied into a heap
 * block of exactly its size, so ASan reports any read past the NUL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mail/addr.h"
#include "lib/log.h"
#include "lib/util.h"

#define NUL_F	ADDR_F_NULL
#define U8	ADDR_F_UTF8
#define PM	ADDR_F_POSTMASTER

struct path_case {
	const char		*in;
	unsigned		 flags;
	enum addr_result	 want;
	const char		*local;		/* on ADDR_OK */
	const char		*domain;
	size_t			 endoff;	/* 0: strlen(in) */
};

static const struct path_case path_cases[] = {
	/* plain Dot-strings */
	{ "<user@example.com>", 0, ADDR_OK, "user", "example.com", 0 },
	{ "<a@b>", 0, ADDR_OK, "a", "b", 0 },
	{ "<User.Name@Example.COM>", 0, ADDR_OK, "User.Name", "example.com",
	    0 },
	{ "<first.middle.last@mx-1.sub.example.org>", 0, ADDR_OK,
	    "first.middle.last", "mx-1.sub.example.org", 0 },
	{ "<!#$%&'*+-/=?^_`{|}~@example.com>", 0, ADDR_OK,
	    "!#$%&'*+-/=?^_`{|}~", "example.com", 0 },
	{ "<user+tag@example.com>", 0, ADDR_OK, "user+tag", "example.com", 0 },
	{ "<0@0>", 0, ADDR_OK, "0", "0", 0 },
	/* '%' and '!' are atext and never route */
	{ "<user%remote@local.example>", 0, ADDR_OK, "user%remote",
	    "local.example", 0 },
	{ "<remote!user@local.example>", 0, ADDR_OK, "remote!user",
	    "local.example", 0 },
	{ "<user%remote.example%relay@local.example>", 0, ADDR_OK,
	    "user%remote.example%relay", "local.example", 0 },
	/* Quoted-strings */
	{ "<\"user@remote\"@local.example>", 0, ADDR_OK, "user@remote",
	    "local.example", 0 },
	{ "<\"a b\"@x.example>", 0, ADDR_OK, "a b", "x.example", 0 },
	{ "<\"a\\\"b\"@x.example>", 0, ADDR_OK, "a\"b", "x.example", 0 },
	{ "<\"a\\\\b\"@x.example>", 0, ADDR_OK, "a\\b", "x.example", 0 },
	{ "<\"\\a\\b\\c\"@x.example>", 0, ADDR_OK, "abc", "x.example", 0 },
	{ "<\"\\ \"@x.example>", 0, ADDR_OK, " ", "x.example", 0 },
	{ "<\"abc\"@x.example>", 0, ADDR_OK, "abc", "x.example", 0 },
	{ "<\"\"@x.example>", 0, ADDR_OK, "", "x.example", 0 },
	{ "<\"a..b\"@x.example>", 0, ADDR_OK, "a..b", "x.example", 0 },
	{ "<\".a.\"@x.example>", 0, ADDR_OK, ".a.", "x.example", 0 },
	{ "<\"<>,;:[]()\"@x.example>", 0, ADDR_OK, "<>,;:[]()", "x.example",
	    0 },
	{ "<\"~!\"@x.example>", 0, ADDR_OK, "~!", "x.example", 0 },
	/* source routes: accepted, ignored */
	{ "<@a.example,@b.example:user@c.example>", 0, ADDR_OK, "user",
	    "c.example", 0 },
	{ "<@local.example:user@remote.example>", 0, ADDR_OK, "user",
	    "remote.example", 0 },
	{ "<@a:\"x y\"@b>", 0, ADDR_OK, "x y", "b", 0 },
	{ "<@a,@b,@c,@d:u@[192.0.2.1]>", 0, ADDR_OK, "u", "[192.0.2.1]", 0 },
	/* domains */
	{ "<a@x-y.example>", 0, ADDR_OK, "a", "x-y.example", 0 },
	{ "<a@x--y.example>", 0, ADDR_OK, "a", "x--y.example", 0 },
	{ "<a@3com.example>", 0, ADDR_OK, "a", "3com.example", 0 },
	{ "<a@192.0.2.1>", 0, ADDR_OK, "a", "192.0.2.1", 0 },
	{ "<a@EXAMPLE>", 0, ADDR_OK, "a", "example", 0 },
	/* address literals, kept as written */
	{ "<a@[192.0.2.1]>", 0, ADDR_OK, "a", "[192.0.2.1]", 0 },
	{ "<a@[0.0.0.0]>", 0, ADDR_OK, "a", "[0.0.0.0]", 0 },
	{ "<a@[255.255.255.255]>", 0, ADDR_OK, "a", "[255.255.255.255]", 0 },
	{ "<a@[IPv6:2001:db8::1]>", 0, ADDR_OK, "a", "[IPv6:2001:db8::1]", 0 },
	{ "<a@[IPv6:2001:DB8::1]>", 0, ADDR_OK, "a", "[IPv6:2001:DB8::1]", 0 },
	{ "<a@[ipv6:::1]>", 0, ADDR_OK, "a", "[ipv6:::1]", 0 },
	{ "<a@[IPv6:::]>", 0, ADDR_OK, "a", "[IPv6:::]", 0 },
	{ "<a@[IPv6:::ffff:192.0.2.1]>", 0, ADDR_OK, "a",
	    "[IPv6:::ffff:192.0.2.1]", 0 },
	{ "<a@[IPv6:1:2:3:4:5:6:7:8]>", 0, ADDR_OK, "a",
	    "[IPv6:1:2:3:4:5:6:7:8]", 0 },
	/* the null path and Postmaster */
	{ "<>", NUL_F, ADDR_OK, "", "", 0 },
	{ "<>", NUL_F | U8 | PM, ADDR_OK, "", "", 0 },
	{ "<Postmaster>", PM, ADDR_OK, "Postmaster", "", 0 },
	{ "<postmaster>", PM, ADDR_OK, "Postmaster", "", 0 },
	{ "<POSTMASTER>", PM | U8, ADDR_OK, "Postmaster", "", 0 },
	{ "<postmaster@example.com>", 0, ADDR_OK, "postmaster",
	    "example.com", 0 },
	{ "<postmasterx@example.com>", PM, ADDR_OK, "postmasterx",
	    "example.com", 0 },
	/* whatever follows '>' is the caller's */
	{ "<a@b> SIZE=10", 0, ADDR_OK, "a", "b", 5 },
	{ "<a@b>>", 0, ADDR_OK, "a", "b", 5 },
	{ "<> x", NUL_F, ADDR_OK, "", "", 2 },
	{ "<postmaster> x", PM, ADDR_OK, "Postmaster", "", 12 },
	/* RFC 6531 UTF-8 */
	{ "<jos\xc3\xa9@example.com>", U8, ADDR_OK, "jos\xc3\xa9",
	    "example.com", 0 },
	{ "<JOS\xc3\x89@EX\xc3\x84MPLE.COM>", U8, ADDR_OK, "JOS\xc3\x89",
	    "ex\xc3\x84mple.com", 0 },
	{ "<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf"
	    "\xe5\x91\x8a>", U8, ADDR_OK, "\xe7\x94\xa8\xe6\x88\xb7",
	    "\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", 0 },
	{ "<\xf0\x9f\x98\x80@x.example>", U8, ADDR_OK, "\xf0\x9f\x98\x80",
	    "x.example", 0 },
	{ "<\"\xc3\xbc b\"@x>", U8, ADDR_OK, "\xc3\xbc b", "x", 0 },
	{ "<\xc2\x80\xdf\xbf@x>", U8, ADDR_OK, "\xc2\x80\xdf\xbf", "x", 0 },
	{ "<\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf@x>", U8, ADDR_OK,
	    "\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf", "x", 0 },
	{ "<\xf0\x90\x80\x80\xf4\x8f\xbf\xbf@x>", U8, ADDR_OK,
	    "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", "x", 0 },
	{ "<a@\xc3\xa9-x.example>", U8, ADDR_OK, "a", "\xc3\xa9-x.example",
	    0 },
	{ "<@\xc3\xa9.example:a@b>", U8, ADDR_OK, "a", "b", 0 },

	/* shape */
	{ "", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "user@example.com", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@example.com", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@example.com>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@b@c>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<<a@b>>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@b,c@d>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ " <a@b>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* no spaces inside the brackets */
	{ "< user@example.com>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@example.com >", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user @example.com>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@ example.com>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "< >", NUL_F, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@b\t>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* null path and Postmaster need their flags */
	{ "<>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<>", U8 | PM, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<Postmaster>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<Postmaster>", NUL_F | U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<postmaster >", PM, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<postmastr>", PM, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<abuse>", PM, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example:Postmaster>", PM, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example:>", NUL_F, ADDR_SYNTAX, NULL, NULL, 0 },
	/* bad Dot-strings */
	{ "<.user@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user.@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<us..er@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<.@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<us(er@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<us,er@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<us[er]@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<us\\er@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a\x7f@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a\x01@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a\r\n@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* bad Quoted-strings */
	{ "<us\"er@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"user@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"user@x", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"user\\\"@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\"b@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\".b@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a.\"b\"@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\tb\"@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\rb\"@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\nb\"@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\\\tb\"@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\\\x01\"@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"a\x7f\"@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"\\\xc3\xa9\"@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"\\", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* bad domains */
	{ "<user@remote.>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@remote.example.>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@.remote>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@a..b>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@.>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@-a.example>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@a-.example>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@a.example->", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@->", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@a_b.example>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@a%b.example>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@a!b>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<user@\"a\">", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* bad address literals */
	{ "<a@[192.0.2.256]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[192.0.2]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[192.0.2.1.5]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[01.2.3.4]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[1.2.3.0004]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[1000.2.3.4]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[1..3.4]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[1.2.3.4.]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[1.2.3.4>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[1.2.3.4]x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[1.2.3.4].example>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[ 1.2.3.4]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[-1.2.3.4]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[IPv6:]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[IPv6:1:2:3]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[IPv6:::1:z]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[IPv6:12345::1]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[IPv6:1::2::3]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[IPv6:1:2:3:4:5:6:7:8:9]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[IPv6:192.0.2.1]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[IPv6::::::::::::::::::::::::::::::::::::::::::::::::1]>", 0,
	    ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[2001:db8::1]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[IPv4:1.2.3.4]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[x-tag:anything]>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@[\xc3\xa9]>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	/* bad source routes */
	{ "<@a.example user@b.example>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example,user@b.example>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@:user@b.example>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example,:u@b>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example,b.example:u@c>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example:@b.example:u@c>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@[192.0.2.1]:u@c>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example.:u@c>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example:u@c.>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example:u>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example;u@c>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example:>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<@a.example", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	/* non-ASCII without ADDR_F_UTF8 */
	{ "<jos\xc3\xa9@example.com>", 0, ADDR_NEED_UTF8, NULL, NULL, 0 },
	{ "<jose@ex\xc3\xa4mple.com>", NUL_F | PM, ADDR_NEED_UTF8, NULL,
	    NULL, 0 },
	{ "<\"\xc3\xbc\"@x>", 0, ADDR_NEED_UTF8, NULL, NULL, 0 },
	{ "<@ex\xc3\xa4mple.com:u@x>", 0, ADDR_NEED_UTF8, NULL, NULL, 0 },
	/* ill-formed UTF-8 is a syntax error, flag or not */
	{ "<\x80@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a\xbf@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xc0\xaf@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xc1\xbf@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xe0\x80\xaf@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xe0\x9f\xbf@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xf0\x80\x80\xaf@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xf0\x8f\xbf\xbf@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xed\xa0\x80@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xed\xbf\xbf@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xf4\x90\x80\x80@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xf5\x80\x80\x80@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xf8\x88\x80\x80\x80@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xfe@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xff@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xc3@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xe2\x82@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xf0\x9f\x98@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xc3\xc3\xa9@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xc3", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xf0\x9f\x98", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@\xc3>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@x.\xed\xa0\x80>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\"\xc0\x80\"@x>", U8, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<\xc0\xaf@x>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
	{ "<a@\xed\xa0\x80>", 0, ADDR_SYNTAX, NULL, NULL, 0 },
};

struct parse_case {
	const char		*in;
	unsigned		 flags;
	enum addr_result	 want;
	const char		*local;
	const char		*domain;
};

static const struct parse_case parse_cases[] = {
	{ "user@example.com", 0, ADDR_OK, "user", "example.com" },
	{ "User@Example.Com", 0, ADDR_OK, "User", "example.com" },
	{ "user%remote@local.example", 0, ADDR_OK, "user%remote",
	    "local.example" },
	{ "\"user@remote\"@local.example", 0, ADDR_OK, "user@remote",
	    "local.example" },
	{ "\"a b\"@x", 0, ADDR_OK, "a b", "x" },
	{ "a@[192.0.2.1]", 0, ADDR_OK, "a", "[192.0.2.1]" },
	{ "a@[IPv6:::1]", 0, ADDR_OK, "a", "[IPv6:::1]" },
	{ "jos\xc3\xa9@x", U8, ADDR_OK, "jos\xc3\xa9", "x" },
	{ "", NUL_F, ADDR_OK, "", "" },
	{ "postmaster", PM, ADDR_OK, "Postmaster", "" },
	{ "PostMaster", PM, ADDR_OK, "Postmaster", "" },
	{ "jos\xc3\xa9@x", 0, ADDR_NEED_UTF8, NULL, NULL },
	{ "", 0, ADDR_SYNTAX, NULL, NULL },
	{ "postmaster", 0, ADDR_SYNTAX, NULL, NULL },
	{ "user", 0, ADDR_SYNTAX, NULL, NULL },
	{ "<user@example.com>", 0, ADDR_SYNTAX, NULL, NULL },
	{ "@a.example:user@b.example", 0, ADDR_SYNTAX, NULL, NULL },
	{ "user@example.com ", 0, ADDR_SYNTAX, NULL, NULL },
	{ " user@example.com", 0, ADDR_SYNTAX, NULL, NULL },
	{ "user@example.com\n", 0, ADDR_SYNTAX, NULL, NULL },
	{ "user@remote.", 0, ADDR_SYNTAX, NULL, NULL },
	{ "user@", 0, ADDR_SYNTAX, NULL, NULL },
	{ "@example.com", 0, ADDR_SYNTAX, NULL, NULL },
	{ "a@b@c", 0, ADDR_SYNTAX, NULL, NULL },
	{ "a@[1.2.3.4", 0, ADDR_SYNTAX, NULL, NULL },
	{ "a@b>", 0, ADDR_SYNTAX, NULL, NULL },
};

struct check_case {
	const char	*in;
	bool		 utf8;
	bool		 want;
};

static const struct check_case domain_cases[] = {
	{ "example.com", false, true },
	{ "EXAMPLE.com", false, true },
	{ "a", false, true },
	{ "a-b.c-d", false, true },
	{ "1.2.3.4", false, true },
	{ "xn--bcher-kva.example", false, true },
	{ "b\xc3\xbc" "cher.example", true, true },
	{ "b\xc3\xbc" "cher.example", false, false },
	{ "", false, false },
	{ "a.", false, false },
	{ ".a", false, false },
	{ ".", false, false },
	{ "a..b", false, false },
	{ "-a", false, false },
	{ "a-", false, false },
	{ "a.-b.c", false, false },
	{ "a_b", false, false },
	{ "a b", false, false },
	{ "a@b", false, false },
	{ "[192.0.2.1]", false, false },
	{ "a\n", false, false },
	{ "b\xc3" "cher.example", true, false },
	{ "\xed\xa0\x80.example", true, false },
};

static const struct check_case helo_cases[] = {
	{ "mx.example.com", false, true },
	{ "localhost", false, true },
	{ "[192.0.2.1]", false, true },
	{ "[IPv6:::1]", false, true },
	{ "[IPv6:2001:db8::25]", false, true },
	{ "", false, false },
	{ "mx.example.com.", false, false },
	{ "[192.0.2.1", false, false },
	{ "[192.0.2.1]x", false, false },
	{ "[192.0.2.1] ", false, false },
	{ "[1.2.3]", false, false },
	{ "[1.2.3.999]", false, false },
	{ "[IPv6:::g]", false, false },
	{ "[foo:bar]", false, false },
	{ "mx example", false, false },
	{ "mx.example.com\r\n", false, false },
	{ "ex\xc3\xa4mple.com", false, false },
	{ "_spf.example", false, false },
	{ "192.0.2.1", false, true },
};

struct format_case {
	const char	*local;
	const char	*domain;
	const char	*want;
};

static const struct format_case format_cases[] = {
	{ "user", "example.com", "user@example.com" },
	{ "a.b.c", "x", "a.b.c@x" },
	{ "user%remote", "local", "user%remote@local" },
	{ "user@remote", "local", "\"user@remote\"@local" },
	{ "a b", "x", "\"a b\"@x" },
	{ "a\"b", "x", "\"a\\\"b\"@x" },
	{ "a\\b", "x", "\"a\\\\b\"@x" },
	{ ".a", "x", "\".a\"@x" },
	{ "a.", "x", "\"a.\"@x" },
	{ "a..b", "x", "\"a..b\"@x" },
	{ "", "x", "\"\"@x" },
	{ "", "", "" },
	{ "Postmaster", "", "Postmaster" },
	{ "jos\xc3\xa9", "x", "jos\xc3\xa9@x" },
	{ "a", "[192.0.2.1]", "a@[192.0.2.1]" },
	{ "!#$%&'*+-/=?^_`{|}~", "x", "!#$%&'*+-/=?^_`{|}~@x" },
};

static char	*heap_copy(const char *);
static void	 fill(char *, char, size_t);
static void	 make_domain(char *, size_t);
static void	 expect_path(const char *, unsigned, enum addr_result,
		    const char *, const char *);
static void	 check_round_trip(const struct mailaddr *, unsigned);

/* heap_copy - the input in a block of exactly its size, for ASan. */
static char *
heap_copy(const char *s)
{
	size_t	 n = strlen(s) + 1;
	char	*p = xmalloc(n);

	memcpy(p, s, n);
	return p;
}

static void
fill(char *out, char c, size_t n)
{
	memset(out, c, n);
	out[n] = '\0';
}

/* make_domain - a valid domain of exactly n octets, labels up to 63. */
static void
make_domain(char *out, size_t n)
{
	size_t	 o = 0, lab;

	while (n - o > 63) {
		lab = (n - o - 64 >= 1) ? 63 : 62;
		memset(out + o, 'd', lab);
		o += lab;
		out[o++] = '.';
	}
	memset(out + o, 'e', n - o);
	out[n] = '\0';
}

static void
expect_path(const char *in, unsigned flags, enum addr_result want,
    const char *local, const char *domain)
{
	struct mailaddr	 a;
	char		*p = heap_copy(in);
	enum addr_result r = addr_parse_path(p, flags, &a, NULL);

	if (r != want)
		fail_msg("path \"%s\" flags %#x: got %d, want %d",
		    log_safe(in), flags, (int)r, (int)want);
	if (want == ADDR_OK) {
		assert_string_equal(a.local, local);
		assert_string_equal(a.domain, domain);
	}
	free(p);
}

/* check_round_trip - parse(format(a)) gives a back, with the same flags. */
static void
check_round_trip(const struct mailaddr *a, unsigned flags)
{
	char		 text[ADDR_TEXT_MAX], path[ADDR_TEXT_MAX + 2];
	struct mailaddr	 b;
	size_t		 n;

	n = addr_format(a, text, sizeof(text));
	assert_true(n < sizeof(text));
	assert_int_equal(strlen(text), n);
	snprintf(path, sizeof(path), "<%s>", text);
	assert_int_equal(addr_parse_path(path, flags, &b, NULL), ADDR_OK);
	assert_string_equal(a->local, b.local);
	assert_string_equal(a->domain, b.domain);
	assert_int_equal(addr_parse(text, flags, &b), ADDR_OK);
	assert_string_equal(a->local, b.local);
	assert_string_equal(a->domain, b.domain);
}

static void
test_path_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(path_cases); i++) {
		const struct path_case	*c = &path_cases[i];
		struct mailaddr		 a;
		const char		*end = NULL;
		char			*p = heap_copy(c->in);
		enum addr_result	 r;

		memset(&a, 'X', sizeof(a));
		r = addr_parse_path(p, c->flags, &a, &end);
		if (r != c->want)
			fail_msg("path case %zu \"%s\": got %d, want %d", i,
			    log_safe(c->in), (int)r, (int)c->want);
		if (r == ADDR_OK) {
			assert_string_equal(a.local, c->local);
			assert_string_equal(a.domain, c->domain);
			assert_ptr_equal(end, p + (c->endoff ? c->endoff :
			    strlen(c->in)));
			check_round_trip(&a, c->flags);
		} else {
			/* nothing half-parsed is left behind */
			assert_true(addr_is_null(&a));
			assert_null(end);
		}
		free(p);
	}
}

static void
test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(parse_cases); i++) {
		const struct parse_case	*c = &parse_cases[i];
		struct mailaddr		 a;
		char			*p = heap_copy(c->in);
		enum addr_result	 r = addr_parse(p, c->flags, &a);

		if (r != c->want)
			fail_msg("parse case %zu \"%s\": got %d, want %d", i,
			    log_safe(c->in), (int)r, (int)c->want);
		if (r == ADDR_OK) {
			assert_string_equal(a.local, c->local);
			assert_string_equal(a.domain, c->domain);
			check_round_trip(&a, c->flags);
		}
		free(p);
	}
}

/* The three classic relay tricks, named, so a regression reads clearly. */
static void
test_open_relay_tricks(void **state)
{
	(void)state;
	/* percent hack: local part "user%remote", domain local */
	expect_path("<user%remote@local.example>", 0, ADDR_OK, "user%remote",
	    "local.example");
	/* bang path: never split on '!' */
	expect_path("<remote.example!user@local.example>", 0, ADDR_OK,
	    "remote.example!user", "local.example");
	/* quoted '@': the domain is the one after the last, unquoted '@' */
	expect_path("<\"user@remote.example\"@local.example>", 0, ADDR_OK,
	    "user@remote.example", "local.example");
	/* source route: the final address is what counts */
	expect_path("<@local.example:user@remote.example>", 0, ADDR_OK,
	    "user", "remote.example");
	/* a trailing dot does not make a domain "local" */
	expect_path("<user@remote.>", 0, ADDR_SYNTAX, NULL, NULL);
	expect_path("<user@local.example.>", 0, ADDR_SYNTAX, NULL, NULL);
}

static void
test_local_limits(void **state)
{
	char	 local[200], in[300];

	(void)state;
	fill(local, 'l', 64);
	snprintf(in, sizeof(in), "<%s@x.example>", local);
	expect_path(in, 0, ADDR_OK, local, "x.example");
	fill(local, 'l', 65);
	snprintf(in, sizeof(in), "<%s@x.example>", local);
	expect_path(in, 0, ADDR_TOO_LONG, NULL, NULL);
	/* quoted: the limit counts the octets as sent, quotes included */
	fill(local, 'q', 62);
	snprintf(in, sizeof(in), "<\"%s\"@x.example>", local);
	expect_path(in, 0, ADDR_OK, local, "x.example");
	fill(local, 'q', 63);
	snprintf(in, sizeof(in), "<\"%s\"@x.example>", local);
	expect_path(in, 0, ADDR_TOO_LONG, NULL, NULL);
	/* UTF-8 counts octets: 32 two-octet characters fit, 33 do not */
	for (int i = 0; i < 32; i++)
		memcpy(local + 2 * i, "\xc3\xa9", 2);
	local[64] = '\0';
	snprintf(in, sizeof(in), "<%s@x>", local);
	expect_path(in, U8, ADDR_OK, local, "x");
	snprintf(in, sizeof(in), "<%s\xc3\xa9@x>", local);
	expect_path(in, U8, ADDR_TOO_LONG, NULL, NULL);
	/* a long syntax error stays a syntax error */
	fill(local, 'l', 100);
	local[50] = ' ';
	snprintf(in, sizeof(in), "<%s@x>", local);
	expect_path(in, 0, ADDR_SYNTAX, NULL, NULL);
}

static void
test_label_limits(void **state)
{
	char	 label[100], dom[120], in[200];

	(void)state;
	fill(label, 'a', 63);
	snprintf(dom, sizeof(dom), "%s.example", label);
	snprintf(in, sizeof(in), "<u@%s>", dom);
	expect_path(in, 0, ADDR_OK, "u", dom);
	assert_true(addr_domain_check(label, false));
	fill(label, 'a', 64);
	snprintf(in, sizeof(in), "<u@%s.example>", label);
	expect_path(in, 0, ADDR_SYNTAX, NULL, NULL);
	snprintf(in, sizeof(in), "<u@x.%s>", label);
	expect_path(in, 0, ADDR_SYNTAX, NULL, NULL);
	assert_false(addr_domain_check(label, false));
	/* a U-label of 21 three-octet characters is 63 octets */
	for (int i = 0; i < 21; i++)
		memcpy(label + 3 * i, "\xe4\xbe\x8b", 3);
	label[63] = '\0';
	assert_true(addr_domain_check(label, true));
	memcpy(label + 63, "a", 2);
	assert_false(addr_domain_check(label, true));
}

static void
test_domain_limits(void **state)
{
	char		 dom[400], in[500];
	struct mailaddr	 a;

	(void)state;
	make_domain(dom, 255);
	assert_int_equal(strlen(dom), 255);
	assert_true(addr_domain_check(dom, false));
	make_domain(dom, 256);
	assert_false(addr_domain_check(dom, false));
	/* a bare address must still fit a path: 254 octets */
	make_domain(dom, 252);
	snprintf(in, sizeof(in), "a@%s", dom);
	assert_int_equal(addr_parse(in, 0, &a), ADDR_OK);
	assert_string_equal(a.domain, dom);
	make_domain(dom, 253);
	snprintf(in, sizeof(in), "a@%s", dom);
	assert_int_equal(addr_parse(in, 0, &a), ADDR_TOO_LONG);
	make_domain(dom, 256);
	snprintf(in, sizeof(in), "a@%s", dom);
	assert_int_equal(addr_parse(in, 0, &a), ADDR_TOO_LONG);
}

static void
test_path_limits(void **state)
{
	char	 local[100], dom[300], in[600];

	(void)state;
	/* 1 + 64 + 1 + 189 + 1 = 256: the longest path */
	fill(local, 'l', 64);
	make_domain(dom, 189);
	snprintf(in, sizeof(in), "<%s@%s>", local, dom);
	assert_int_equal(strlen(in), 256);
	expect_path(in, 0, ADDR_OK, local, dom);
	make_domain(dom, 190);
	snprintf(in, sizeof(in), "<%s@%s>", local, dom);
	expect_path(in, 0, ADDR_TOO_LONG, NULL, NULL);
	/* the source route counts too */
	make_domain(dom, 240);
	snprintf(in, sizeof(in), "<@%s:u@x>", dom);
	assert_int_equal(strlen(in), 247);
	expect_path(in, 0, ADDR_OK, "u", "x");
	make_domain(dom, 250);
	snprintf(in, sizeof(in), "<@%s:u@x>", dom);
	expect_path(in, 0, ADDR_TOO_LONG, NULL, NULL);
	/* a domain over 255 octets */
	make_domain(dom, 256);
	snprintf(in, sizeof(in), "<u@%s>", dom);
	expect_path(in, 0, ADDR_TOO_LONG, NULL, NULL);
}

/* Every proper prefix of a valid path fails without reading past the NUL. */
static void
test_truncated_inputs(void **state)
{
	static const char *const full[] = {
		"<@a.example,@b.example:\"x\\\"y\"@[IPv6:2001:db8::1]>",
		"<jos\xc3\xa9.\xf0\x9f\x98\x80@ex\xc3\xa4mple.com>",
		"<Postmaster>",
		"<u@[192.0.2.1]>",
	};
	struct mailaddr	 a;

	(void)state;
	for (size_t i = 0; i < NELEM(full); i++) {
		size_t	 n = strlen(full[i]);

		for (size_t k = 0; k < n; k++) {
			char	*p = xstrndup(full[i], k);

			assert_int_not_equal(addr_parse_path(p, U8 | PM, &a,
			    NULL), ADDR_OK);
			(void)addr_parse(p, U8 | PM, &a);	/* ASan */
			(void)addr_helo_check(p);
			free(p);
		}
		assert_int_equal(addr_parse_path(full[i], U8 | PM, &a, NULL),
		    ADDR_OK);
	}
}

static void
test_domain_check_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(domain_cases); i++) {
		char	*p = heap_copy(domain_cases[i].in);

		if (addr_domain_check(p, domain_cases[i].utf8) !=
		    domain_cases[i].want)
			fail_msg("domain case %zu \"%s\"", i,
			    log_safe(domain_cases[i].in));
		free(p);
	}
}

static void
test_helo_check_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(helo_cases); i++) {
		char	*p = heap_copy(helo_cases[i].in);

		if (addr_helo_check(p) != helo_cases[i].want)
			fail_msg("helo case %zu \"%s\"", i,
			    log_safe(helo_cases[i].in));
		free(p);
	}
}

static void
test_format_table(void **state)
{
	char		 out[ADDR_TEXT_MAX];
	struct mailaddr	 a;

	(void)state;
	for (size_t i = 0; i < NELEM(format_cases); i++) {
		const struct format_case	*c = &format_cases[i];

		str_copy(a.local, c->local, sizeof(a.local));
		str_copy(a.domain, c->domain, sizeof(a.domain));
		assert_int_equal(addr_format(&a, out, sizeof(out)),
		    strlen(c->want));
		assert_string_equal(out, c->want);
		check_round_trip(&a, ADDR_F_NULL | ADDR_F_UTF8 |
		    ADDR_F_POSTMASTER);
	}
}

static void
test_format_truncates(void **state)
{
	struct mailaddr	 a;
	char		 out[8];

	(void)state;
	str_copy(a.local, "a b", sizeof(a.local));
	str_copy(a.domain, "example.com", sizeof(a.domain));
	assert_int_equal(addr_format(&a, NULL, 0), 17);
	memset(out, 'X', sizeof(out));
	assert_int_equal(addr_format(&a, out, 6), 17);
	assert_string_equal(out, "\"a b\"");
	assert_int_equal(out[6], 'X');
	assert_int_equal(addr_format(&a, out, 1), 17);
	assert_string_equal(out, "");
	/* the worst case, every octet escaped, fits ADDR_TEXT_MAX */
	fill(a.local, '"', ADDR_LOCAL_MAX);
	make_domain(a.domain, ADDR_DOMAIN_MAX);
	assert_int_equal(addr_format(&a, NULL, 0), ADDR_TEXT_MAX - 1);
}

static void
test_predicates(void **state)
{
	struct mailaddr	 a = { "", "" };

	(void)state;
	assert_true(addr_is_null(&a));
	assert_true(addr_is_ascii(&a));
	str_copy(a.local, "Postmaster", sizeof(a.local));
	assert_false(addr_is_null(&a));
	str_copy(a.local, "", sizeof(a.local));
	str_copy(a.domain, "x", sizeof(a.domain));
	assert_false(addr_is_null(&a));
	str_copy(a.local, "jos\xc3\xa9", sizeof(a.local));
	assert_false(addr_is_ascii(&a));
	str_copy(a.local, "jose", sizeof(a.local));
	assert_true(addr_is_ascii(&a));
	str_copy(a.domain, "\xe4\xbe\x8b.x", sizeof(a.domain));
	assert_false(addr_is_ascii(&a));
	str_copy(a.domain, "x~\x7f", sizeof(a.domain));
	assert_true(addr_is_ascii(&a));
}

static void
test_local_is_safe_path(void **state)
{
	static const struct {
		const char	*in;
		bool		 want;
	} cases[] = {
		{ "user", true }, { "user.name", true }, { "a..b", true },
		{ "a b", true }, { "jos\xc3\xa9", true }, { "u%x!y", true },
		{ "", false }, { ".", false }, { "..", false },
		{ ".hidden", false }, { "a/b", false }, { "/", false },
		{ "../etc", false }, { "a\nb", false }, { "a\tb", false },
		{ "a\x7f", false }, { "a\x01", false }, { "a\rb", false },
	};

	(void)state;
	assert_false(addr_local_is_safe_path(NULL));
	for (size_t i = 0; i < NELEM(cases); i++)
		if (addr_local_is_safe_path(cases[i].in) != cases[i].want)
			fail_msg("safe_path case %zu \"%s\"", i,
			    log_safe(cases[i].in));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_table),
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_open_relay_tricks),
		cmocka_unit_test(test_local_limits),
		cmocka_unit_test(test_label_limits),
		cmocka_unit_test(test_domain_limits),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_truncated_inputs),
		cmocka_unit_test(test_domain_check_table),
		cmocka_unit_test(test_helo_check_table),
		cmocka_unit_test(test_format_table),
		cmocka_unit_test(test_format_truncates),
		cmocka_unit_test(test_predicates),
		cmocka_unit_test(test_local_is_safe_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
