/*
 * test_smtp_parse.c - table tests for smtp_parse.c: MAIL and RCPT
 * arguments with every ESMTP parameter and its errors, SMTPUTF8 rules,
 * xtext decoding, encoding and round trips, and BDAT arguments.  Inputs
 * are copied into heap blocks of exactly their size, so ASan reports any
 * read past the NUL; bad_param is checked to point at the parameter.
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
#include "mail/smtp_parse.h"
#include "lib/util.h"

struct mail_case {
	const char		*arg;
	enum smtp_parse_result	 want;
	const char		*addr;	/* formatted; NULL: unchecked */
	const char		*bad;	/* where bad_param points */
	bool			 has_size;
	uint64_t		 size;
	enum smtp_body		 body;
	bool			 utf8;
	enum smtp_ret		 ret;
	const char		*envid;
	const char		*auth;	/* NULL: has_auth false */
	bool			 requiretls;
};

/* the fields every row has; the rest are named where they matter */
#define MC(a, w, ad, b)	.arg = (a), .want = (w), .addr = (ad), .bad = (b)

static const struct mail_case mail_cases[] = {
	{ MC("FROM:<a@b.example>", SP_OK, "a@b.example", NULL) },
	{ MC("from:<a@b.example>", SP_OK, "a@b.example", NULL) },
	{ MC("From: <a@b.example>", SP_OK, "a@b.example", NULL) },
	{ MC("FROM:   <a@b.example>", SP_OK, "a@b.example", NULL) },
	{ MC("FROM:<a@b.example>   ", SP_OK, "a@b.example", NULL) },
	{ MC("FROM:<>", SP_OK, "", NULL) },
	{ MC("FROM:<> ", SP_OK, "", NULL) },
	{ MC("FROM:<A@B.EXAMPLE>", SP_OK, "A@b.example", NULL) },
	{ MC("FROM:<@a.example:u@b.example>", SP_OK, "u@b.example", NULL) },
	{ MC("FROM:<user%remote@local.example>", SP_OK,
	    "user%remote@local.example", NULL) },
	{ MC("FROM:<\"a b\"@x>", SP_OK, "\"a b\"@x", NULL) },
	/* SIZE (RFC 1870) */
	{ MC("FROM:<a@b> SIZE=0", SP_OK, "a@b", NULL), .has_size = true,
	    .size = 0 },
	{ MC("FROM:<a@b> SIZE=12345", SP_OK, "a@b", NULL), .has_size = true,
	    .size = 12345 },
	{ MC("FROM:<a@b> size=7", SP_OK, "a@b", NULL), .has_size = true,
	    .size = 7 },
	{ MC("FROM:<a@b> SIZE=18446744073709551615", SP_OK, "a@b", NULL),
	    .has_size = true, .size = UINT64_MAX },
	{ MC("FROM:<a@b> SIZE=00000000000000000001", SP_OK, "a@b", NULL),
	    .has_size = true, .size = 1 },
	{ MC("FROM:<a@b>    SIZE=10    ", SP_OK, "a@b", NULL), .has_size = true,
	    .size = 10 },
	{ MC("FROM:<a@b> SIZE", SP_BAD_PARAM, NULL, "SIZE") },
	{ MC("FROM:<a@b> SIZE=", SP_BAD_PARAM, NULL, "SIZE") },
	{ MC("FROM:<a@b> SIZE=abc", SP_BAD_PARAM, NULL, "SIZE") },
	{ MC("FROM:<a@b> SIZE=-1", SP_BAD_PARAM, NULL, "SIZE") },
	{ MC("FROM:<a@b> SIZE=+1", SP_BAD_PARAM, NULL, "SIZE") },
	{ MC("FROM:<a@b> SIZE=1.5", SP_BAD_PARAM, NULL, "SIZE") },
	{ MC("FROM:<a@b> SIZE=1k", SP_BAD_PARAM, NULL, "SIZE") },
	{ MC("FROM:<a@b> SIZE=0x10", SP_BAD_PARAM, NULL, "SIZE") },
	{ MC("FROM:<a@b> SIZE==1", SP_BAD_PARAM, NULL, "SIZE") },
	{ MC("FROM:<a@b> SIZE=18446744073709551616", SP_BAD_PARAM, NULL,
	    "SIZE") },
	{ MC("FROM:<a@b> SIZE=99999999999999999999", SP_BAD_PARAM, NULL,
	    "SIZE") },
	{ MC("FROM:<a@b> SIZE=000000000000000000001", SP_BAD_PARAM, NULL,
	    "SIZE") },
	{ MC("FROM:<a@b> SIZE=1 SIZE=1", SP_BAD_PARAM, NULL, "SIZE=1") },
	{ MC("FROM:<a@b> SIZE=1 size=2", SP_BAD_PARAM, NULL, "size") },
	/* BODY (RFC 6152) */
	{ MC("FROM:<a@b> BODY=7BIT", SP_OK, "a@b", NULL),
	    .body = SMTP_BODY_7BIT },
	{ MC("FROM:<a@b> BODY=8BITMIME", SP_OK, "a@b", NULL),
	    .body = SMTP_BODY_8BITMIME },
	{ MC("FROM:<a@b> body=8bitmime", SP_OK, "a@b", NULL),
	    .body = SMTP_BODY_8BITMIME },
	{ MC("FROM:<a@b> BODY", SP_BAD_PARAM, NULL, "BODY") },
	{ MC("FROM:<a@b> BODY=", SP_BAD_PARAM, NULL, "BODY") },
	{ MC("FROM:<a@b> BODY=BINARYMIME", SP_BAD_PARAM, NULL, "BODY") },
	{ MC("FROM:<a@b> BODY=8BIT", SP_BAD_PARAM, NULL, "BODY") },
	{ MC("FROM:<a@b> BODY=7BITS", SP_BAD_PARAM, NULL, "BODY") },
	{ MC("FROM:<a@b> BODY=7BIT BODY=8BITMIME", SP_BAD_PARAM, NULL,
	    "BODY=8") },
	/* SMTPUTF8 (RFC 6531) */
	{ MC("FROM:<a@b> SMTPUTF8", SP_OK, "a@b", NULL), .utf8 = true },
	{ MC("FROM:<a@b> smtputf8 ", SP_OK, "a@b", NULL), .utf8 = true },
	{ MC("FROM:<jos\xc3\xa9@ex\xc3\xa4mple.com> SMTPUTF8", SP_OK,
	    "jos\xc3\xa9@ex\xc3\xa4mple.com", NULL), .utf8 = true },
	{ MC("FROM:<jos\xc3\xa9@x> BODY=8BITMIME SMTPUTF8", SP_OK,
	    "jos\xc3\xa9@x", NULL), .body = SMTP_BODY_8BITMIME, .utf8 = true },
	{ MC("FROM:<a@b> SMTPUTF8=", SP_BAD_PARAM, NULL, "SMTPUTF8") },
	{ MC("FROM:<a@b> SMTPUTF8=yes", SP_BAD_PARAM, NULL, "SMTPUTF8") },
	{ MC("FROM:<a@b> SMTPUTF8 SMTPUTF8", SP_BAD_PARAM, NULL, "SMTPUTF8") },
	{ MC("FROM:<jos\xc3\xa9@example.com>", SP_NEED_UTF8,
	    "jos\xc3\xa9@example.com", NULL) },
	{ MC("FROM:<jose@ex\xc3\xa4mple.com> SIZE=1", SP_NEED_UTF8,
	    "jose@ex\xc3\xa4mple.com", NULL) },
	{ MC("FROM:<@ex\xc3\xa4mple.com:jose@x>", SP_NEED_UTF8, "jose@x",
	    NULL) },
	{ MC("FROM:<jos\xc3@x> SMTPUTF8", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:<\xed\xa0\x80@x> SMTPUTF8", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:<jos\xc3\xa9@x> FOO", SP_UNKNOWN_PARAM, NULL, "FOO") },
	/* REQUIRETLS (RFC 8689 3) */
	{ MC("FROM:<a@b> REQUIRETLS", SP_OK, "a@b", NULL), .requiretls = true },
	{ MC("FROM:<a@b> requiretls SMTPUTF8", SP_OK, "a@b", NULL),
	    .requiretls = true, .utf8 = true },
	{ MC("FROM:<a@b> REQUIRETLS=", SP_BAD_PARAM, NULL, "REQUIRETLS") },
	{ MC("FROM:<a@b> REQUIRETLS=YES", SP_BAD_PARAM, NULL, "REQUIRETLS") },
	{ MC("FROM:<a@b> REQUIRETLS REQUIRETLS", SP_BAD_PARAM, NULL,
	    "REQUIRETLS") },
	{ MC("FROM:<a@b> REQUIRETLSX", SP_UNKNOWN_PARAM, NULL, "REQUIRETLSX") },
	/* RET (RFC 3461 4.3) */
	{ MC("FROM:<a@b> RET=FULL", SP_OK, "a@b", NULL), .ret = SMTP_RET_FULL },
	{ MC("FROM:<a@b> ret=hdrs", SP_OK, "a@b", NULL), .ret = SMTP_RET_HDRS },
	{ MC("FROM:<a@b> RET", SP_BAD_PARAM, NULL, "RET") },
	{ MC("FROM:<a@b> RET=", SP_BAD_PARAM, NULL, "RET") },
	{ MC("FROM:<a@b> RET=ALL", SP_BAD_PARAM, NULL, "RET") },
	{ MC("FROM:<a@b> RET=FULLX", SP_BAD_PARAM, NULL, "RET") },
	{ MC("FROM:<a@b> RET=FULL RET=HDRS", SP_BAD_PARAM, NULL, "RET=H") },
	/* ENVID (RFC 3461 4.4) */
	{ MC("FROM:<a@b> ENVID=QQ314159", SP_OK, "a@b", NULL),
	    .envid = "QQ314159" },
	{ MC("FROM:<a@b> ENVID=a+2Bb+3Dc", SP_OK, "a@b", NULL),
	    .envid = "a+b=c" },
	{ MC("FROM:<a@b> envid=+20x+7E", SP_OK, "a@b", NULL), .envid = " x~" },
	{ MC("FROM:<a@b> ENVID=<id@host>", SP_OK, "a@b", NULL),
	    .envid = "<id@host>" },
	{ MC("FROM:<a@b> ENVID", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a+0Db", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a+0Ab", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a+00b", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a+09b", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a+7F", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a+0d", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a+2b", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a+2", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a+", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a+G0", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a=b", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a+b", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=\xc3\xa9", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=a\x01", SP_BAD_PARAM, NULL, "ENVID") },
	{ MC("FROM:<a@b> ENVID=x ENVID=y", SP_BAD_PARAM, NULL, "ENVID=y") },
	/* AUTH (RFC 4954 5) */
	{ MC("FROM:<a@b> AUTH=<>", SP_OK, "a@b", NULL), .auth = "<>" },
	{ MC("FROM:<a@b> AUTH=e+3Dmc2@example.com", SP_OK, "a@b", NULL),
	    .auth = "e=mc2@example.com" },
	{ MC("FROM:<a@b> auth=alice@example.com", SP_OK, "a@b", NULL),
	    .auth = "alice@example.com" },
	{ MC("FROM:<a@b> AUTH", SP_BAD_PARAM, NULL, "AUTH") },
	{ MC("FROM:<a@b> AUTH=", SP_BAD_PARAM, NULL, "AUTH") },
	{ MC("FROM:<a@b> AUTH=a+0D+0AMAIL", SP_BAD_PARAM, NULL, "AUTH") },
	{ MC("FROM:<a@b> AUTH=a+0a", SP_BAD_PARAM, NULL, "AUTH") },
	{ MC("FROM:<a@b> AUTH=<> AUTH=<>", SP_BAD_PARAM, NULL, "AUTH=<>") },
	/* all of them */
	{ MC("FROM:<a@b> SIZE=100 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=e1 "
	    "AUTH=x@y", SP_OK, "a@b", NULL), .has_size = true, .size = 100,
	    .body = SMTP_BODY_8BITMIME, .utf8 = true, .ret = SMTP_RET_HDRS,
	    .envid = "e1", .auth = "x@y" },
	/* unknown keywords */
	{ MC("FROM:<a@b> FOO=bar", SP_UNKNOWN_PARAM, NULL, "FOO") },
	{ MC("FROM:<a@b> SIZE=1 X-FOO", SP_UNKNOWN_PARAM, NULL, "X-FOO") },
	{ MC("FROM:<a@b> NOTIFY=NEVER", SP_UNKNOWN_PARAM, NULL, "NOTIFY") },
	{ MC("FROM:<a@b> ORCPT=rfc822;a@b", SP_UNKNOWN_PARAM, NULL, "ORCPT") },
	{ MC("FROM:<a@b> SIZEX=1", SP_UNKNOWN_PARAM, NULL, "SIZEX") },
	{ MC("FROM:<a@b> SIZ=1", SP_UNKNOWN_PARAM, NULL, "SIZ") },
	{ MC("FROM:<a@b> =1", SP_UNKNOWN_PARAM, NULL, "=1") },
	{ MC("FROM:<a@b> SIZE\t=1", SP_UNKNOWN_PARAM, NULL, "SIZE") },
	{ MC("FROM:<a@b> SIZE=x FOO", SP_BAD_PARAM, NULL, "SIZE") },
	{ MC("FROM:<a@b> FOO SIZE=x", SP_UNKNOWN_PARAM, NULL, "FOO") },
	/* command shape */
	{ MC("", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM:", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM: ", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM<a@b>", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM :<a@b>", SP_SYNTAX, NULL, NULL) },
	{ MC(" FROM:<a@b>", SP_SYNTAX, NULL, NULL) },
	{ MC("TO:<a@b>", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM:\t<a@b>", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM:<a@b>SIZE=1", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM:<a@b>x", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM:<a@b>\tSIZE=1", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM:<a@b>\r", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM:<a@b>>", SP_SYNTAX, NULL, NULL) },
	/* bad paths */
	{ MC("FROM:<a@b", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:<a b@c>", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:< a@b>", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:<Postmaster>", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:<user@remote.>", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:<user>", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:<a@[1.2.3.256]>", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:<@a:>", SP_BAD_ADDR, NULL, NULL) },
	/* without angle brackets: a whole mailbox, up to a space */
	{ MC("FROM:a@b", SP_OK, "a@b", NULL) },
	{ MC("FROM: a@b.example", SP_OK, "a@b.example", NULL) },
	{ MC("from:   A@B.EXAMPLE  ", SP_OK, "A@b.example", NULL) },
	{ MC("FROM:a@b SIZE=10", SP_OK, "a@b", NULL), .has_size = true,
	    .size = 10 },
	{ MC("FROM:\"ab\"@x", SP_OK, "ab@x", NULL) },
	{ MC("FROM:user%remote@local.example", SP_OK,
	    "user%remote@local.example", NULL) },
	{ MC("FROM:jos\xc3\xa9@x SMTPUTF8", SP_OK, "jos\xc3\xa9@x", NULL),
	    .utf8 = true },
	{ MC("FROM:jos\xc3\xa9@x", SP_NEED_UTF8, NULL, NULL) },
	{ MC("FROM:a@b SIZE=x", SP_BAD_PARAM, NULL, "SIZE") },
	{ MC("FROM:a@b FOO", SP_UNKNOWN_PARAM, NULL, "FOO") },
	{ MC("FROM:a@b>", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM:a@b<", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM:a<b>@c", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM:a@b<x@y>", SP_SYNTAX, NULL, NULL) },
	{ MC("FROM:a", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:a@", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:@b", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:a@b.", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:a@b,c@d", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:@a:b@c", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:\"a b\"@x", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:postmaster", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:a\x01@b", SP_BAD_ADDR, NULL, NULL) },
	{ MC("FROM:\ta@b", SP_BAD_ADDR, NULL, NULL) },
};

struct rcpt_case {
	const char		*arg;
	bool			 smtputf8;
	enum smtp_parse_result	 want;
	const char		*addr;
	const char		*bad;
	unsigned		 notify;
	const char		*orcpt;
};

#define N_NEVER	SMTP_NOTIFY_NEVER
#define N_SUCC	SMTP_NOTIFY_SUCCESS
#define N_FAIL	SMTP_NOTIFY_FAILURE
#define N_DELAY	SMTP_NOTIFY_DELAY

#define RC(a, u, w, ad, b) \
	.arg = (a), .smtputf8 = (u), .want = (w), .addr = (ad), .bad = (b)

static const struct rcpt_case rcpt_cases[] = {
	{ RC("TO:<u@example.com>", false, SP_OK, "u@example.com", NULL) },
	{ RC("to:<u@example.com>", false, SP_OK, "u@example.com", NULL) },
	{ RC("To:  <u@example.com>  ", false, SP_OK, "u@example.com", NULL) },
	{ RC("TO:<Postmaster>", false, SP_OK, "Postmaster", NULL) },
	{ RC("TO:<postmaster>", false, SP_OK, "Postmaster", NULL) },
	{ RC("TO:<POSTMASTER> NOTIFY=NEVER", false, SP_OK, "Postmaster", NULL),
	    .notify = N_NEVER },
	{ RC("TO:<postmaster@example.com>", false, SP_OK,
	    "postmaster@example.com", NULL) },
	{ RC("TO:<user%remote@local.example>", false, SP_OK,
	    "user%remote@local.example", NULL) },
	{ RC("TO:<remote!user@local.example>", false, SP_OK,
	    "remote!user@local.example", NULL) },
	{ RC("TO:<\"user@remote\"@local.example>", false, SP_OK,
	    "\"user@remote\"@local.example", NULL) },
	{ RC("TO:<@local.example:user@remote.example>", false, SP_OK,
	    "user@remote.example", NULL) },
	{ RC("TO:<jos\xc3\xa9@ex\xc3\xa4mple.com>", true, SP_OK,
	    "jos\xc3\xa9@ex\xc3\xa4mple.com", NULL) },
	{ RC("TO:<u@[IPv6:::1]>", false, SP_OK, "u@[IPv6:::1]", NULL) },
	/* NOTIFY (RFC 3461 4.1) */
	{ RC("TO:<u@x> NOTIFY=NEVER", false, SP_OK, "u@x", NULL),
	    .notify = N_NEVER },
	{ RC("TO:<u@x> NOTIFY=SUCCESS", false, SP_OK, "u@x", NULL),
	    .notify = N_SUCC },
	{ RC("TO:<u@x> NOTIFY=FAILURE", false, SP_OK, "u@x", NULL),
	    .notify = N_FAIL },
	{ RC("TO:<u@x> NOTIFY=DELAY", false, SP_OK, "u@x", NULL),
	    .notify = N_DELAY },
	{ RC("TO:<u@x> NOTIFY=SUCCESS,FAILURE,DELAY", false, SP_OK, "u@x",
	    NULL), .notify = N_SUCC | N_FAIL | N_DELAY },
	{ RC("TO:<u@x> notify=delay,Success", false, SP_OK, "u@x", NULL),
	    .notify = N_SUCC | N_DELAY },
	{ RC("TO:<u@x> NOTIFY", false, SP_BAD_PARAM, NULL, "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=", false, SP_BAD_PARAM, NULL, "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=NEVER,SUCCESS", false, SP_BAD_PARAM, NULL,
	    "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=DELAY,NEVER", false, SP_BAD_PARAM, NULL,
	    "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=NEVER,NEVER", false, SP_BAD_PARAM, NULL,
	    "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=SUCCESS,SUCCESS", false, SP_BAD_PARAM, NULL,
	    "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=SUCCESS,", false, SP_BAD_PARAM, NULL, "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=,SUCCESS", false, SP_BAD_PARAM, NULL, "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=SUCCESS,,DELAY", false, SP_BAD_PARAM, NULL,
	    "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=ALWAYS", false, SP_BAD_PARAM, NULL, "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=SUCCESSFUL", false, SP_BAD_PARAM, NULL,
	    "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=SUCCESS;DELAY", false, SP_BAD_PARAM, NULL,
	    "NOTIFY") },
	{ RC("TO:<u@x> NOTIFY=NEVER NOTIFY=NEVER", false, SP_BAD_PARAM, NULL,
	    "NOTIFY=NEVER") },
	/* ORCPT (RFC 3461 4.2) */
	{ RC("TO:<u@x> ORCPT=rfc822;bob@example.org", false, SP_OK, "u@x",
	    NULL), .notify = 0, .orcpt = "rfc822;bob@example.org" },
	{ RC("TO:<u@x> orcpt=rfc822;b+2Bob@example.org", false, SP_OK, "u@x",
	    NULL), .notify = 0, .orcpt = "rfc822;b+ob@example.org" },
	{ RC("TO:<u@x> ORCPT=RFC822;+22a+20b+22@x", false, SP_OK, "u@x", NULL),
	    .notify = 0, .orcpt = "RFC822;\"a b\"@x" },
	{ RC("TO:<u@x> ORCPT=x-type;abc", false, SP_OK, "u@x", NULL),
	    .notify = 0, .orcpt = "x-type;abc" },
	{ RC("TO:<u@x> NOTIFY=FAILURE ORCPT=rfc822;u@x ", false, SP_OK, "u@x",
	    NULL), .notify = N_FAIL, .orcpt = "rfc822;u@x" },
	{ RC("TO:<u@x> ORCPT", false, SP_BAD_PARAM, NULL, "ORCPT") },
	{ RC("TO:<u@x> ORCPT=", false, SP_BAD_PARAM, NULL, "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc822", false, SP_BAD_PARAM, NULL, "ORCPT") },
	{ RC("TO:<u@x> ORCPT=;bob@x", false, SP_BAD_PARAM, NULL, "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc822;", false, SP_BAD_PARAM, NULL, "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc@822;x", false, SP_BAD_PARAM, NULL, "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc.822;x", false, SP_BAD_PARAM, NULL, "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rf\xc3\xa9;x", true, SP_BAD_PARAM, NULL,
	    "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc822;a+0Db", false, SP_BAD_PARAM, NULL,
	    "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc822;a+0Ab", false, SP_BAD_PARAM, NULL,
	    "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc822;a+00b", false, SP_BAD_PARAM, NULL,
	    "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc822;a+1B", false, SP_BAD_PARAM, NULL,
	    "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc822;a+7F", false, SP_BAD_PARAM, NULL,
	    "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc822;a+0d", false, SP_BAD_PARAM, NULL,
	    "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc822;a=b", false, SP_BAD_PARAM, NULL, "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc822;a+2", false, SP_BAD_PARAM, NULL, "ORCPT") },
	{ RC("TO:<u@x> ORCPT=rfc822;a;b", true, SP_OK, "u@x", NULL),
	    .notify = 0, .orcpt = "rfc822;a;b" },
	{ RC("TO:<u@x> ORCPT=rfc822;a ORCPT=rfc822;b", false, SP_BAD_PARAM,
	    NULL, "ORCPT=rfc822;b") },
	/* unknown keywords */
	{ RC("TO:<u@x> SIZE=1", false, SP_UNKNOWN_PARAM, NULL, "SIZE") },
	{ RC("TO:<u@x> SMTPUTF8", true, SP_UNKNOWN_PARAM, NULL, "SMTPUTF8") },
	{ RC("TO:<u@x> NOTIFY=NEVER FOO", false, SP_UNKNOWN_PARAM, NULL,
	    "FOO") },
	/* UTF-8 */
	{ RC("TO:<jos\xc3\xa9@example.com>", false, SP_NEED_UTF8,
	    "jos\xc3\xa9@example.com", NULL) },
	{ RC("TO:<u@ex\xc3\xa4mple.com>", false, SP_NEED_UTF8,
	    "u@ex\xc3\xa4mple.com", NULL) },
	{ RC("TO:<\"\xc3\xbc\"@x>", false, SP_NEED_UTF8, "\xc3\xbc@x", NULL) },
	{ RC("TO:<jos\xc3\xa9@x> FOO", true, SP_UNKNOWN_PARAM, NULL, "FOO") },
	{ RC("TO:<jos\xc3@x>", true, SP_BAD_ADDR, NULL, NULL) },
	{ RC("TO:<jos\xc3@x>", false, SP_BAD_ADDR, NULL, NULL) },
	/* command shape and bad paths */
	{ RC("", false, SP_SYNTAX, NULL, NULL) },
	{ RC("TO", false, SP_SYNTAX, NULL, NULL) },
	{ RC("TO<u@x>", false, SP_SYNTAX, NULL, NULL) },
	{ RC("FROM:<u@x>", false, SP_SYNTAX, NULL, NULL) },
	{ RC("TO:<u@x>junk", false, SP_SYNTAX, NULL, NULL) },
	{ RC("TO:<u@x>,<v@x>", false, SP_SYNTAX, NULL, NULL) },
	{ RC("TO:<>", false, SP_BAD_ADDR, NULL, NULL) },
	{ RC("TO:<Postmaster >", false, SP_BAD_ADDR, NULL, NULL) },
	{ RC("TO:<u@remote.>", false, SP_BAD_ADDR, NULL, NULL) },
	{ RC("TO:<@local.example:>", false, SP_BAD_ADDR, NULL, NULL) },
	{ RC("TO:<u@x", false, SP_BAD_ADDR, NULL, NULL) },
	{ RC("TO:<u@x@y>", false, SP_BAD_ADDR, NULL, NULL) },
	/* without angle brackets */
	{ RC("TO:u@x", false, SP_OK, "u@x", NULL) },
	{ RC("TO: u@x", false, SP_OK, "u@x", NULL) },
	{ RC("to:  U@X.Example  ", false, SP_OK, "U@x.example", NULL) },
	{ RC("TO:u@x NOTIFY=SUCCESS,FAILURE", false, SP_OK, "u@x", NULL),
	    .notify = N_SUCC | N_FAIL },
	{ RC("TO:u@x ORCPT=rfc822;u+40x", false, SP_OK, "u@x", NULL),
	    .orcpt = "rfc822;u@x" },
	{ RC("TO:Postmaster", false, SP_OK, "Postmaster", NULL) },
	{ RC("TO: POSTMASTER NOTIFY=NEVER", false, SP_OK, "Postmaster", NULL),
	    .notify = N_NEVER },
	{ RC("TO:postmaster@x", false, SP_OK, "postmaster@x", NULL) },
	{ RC("TO:jos\xc3\xa9@x", true, SP_OK, "jos\xc3\xa9@x", NULL) },
	{ RC("TO:jos\xc3\xa9@x", false, SP_NEED_UTF8, NULL, NULL) },
	{ RC("TO:u@x FOO", false, SP_UNKNOWN_PARAM, NULL, "FOO") },
	{ RC("TO:u@x junk", false, SP_UNKNOWN_PARAM, NULL, "junk") },
	{ RC("TO:u@x>", false, SP_SYNTAX, NULL, NULL) },
	{ RC("TO:u@x<v@y>", false, SP_SYNTAX, NULL, NULL) },
	{ RC("TO:u", false, SP_BAD_ADDR, NULL, NULL) },
	{ RC("TO:Postmaster2", false, SP_BAD_ADDR, NULL, NULL) },
	{ RC("TO:u@x,v@x", false, SP_BAD_ADDR, NULL, NULL) },
	{ RC("TO:@local.example:u@x", false, SP_BAD_ADDR, NULL, NULL) },
	{ RC("TO:u@@x", false, SP_BAD_ADDR, NULL, NULL) },
	{ RC("TO:\"\"@x", false, SP_OK, "\"\"@x", NULL) },
};

struct bdat_case {
	const char	*arg;
	int		 want;
	uint64_t	 size;
	bool		 last;
};

static const struct bdat_case bdat_cases[] = {
	{ "0", 0, 0, false },
	{ "1", 0, 1, false },
	{ "100 LAST", 0, 100, true },
	{ "100 last", 0, 100, true },
	{ "0 LaSt", 0, 0, true },
	{ "100   LAST  ", 0, 100, true },
	{ "100 ", 0, 100, false },
	{ "18446744073709551615 LAST", 0, UINT64_MAX, true },
	{ "00000000000000000001", 0, 1, false },
	{ "", -1, 0, false },
	{ " 100", -1, 0, false },
	{ "LAST", -1, 0, false },
	{ " LAST", -1, 0, false },
	{ "100LAST", -1, 0, false },
	{ "100 LASTX", -1, 0, false },
	{ "100 LAS", -1, 0, false },
	{ "100 LAST X", -1, 0, false },
	{ "100 LAST LAST", -1, 0, false },
	{ "100 FIRST", -1, 0, false },
	{ "100\tLAST", -1, 0, false },
	{ "-1", -1, 0, false },
	{ "+1", -1, 0, false },
	{ "1.0", -1, 0, false },
	{ "0x10", -1, 0, false },
	{ "18446744073709551616", -1, 0, false },
	{ "000000000000000000001", -1, 0, false },
	{ "100\r\n", -1, 0, false },
};

struct xtext_case {
	const char	*in;
	const char	*want;		/* NULL: -1 */
};

static const struct xtext_case xdecode_cases[] = {
	{ "", "" },
	{ "abc", "abc" },
	{ "!~", "!~" },
	{ "+2B", "+" },
	{ "+3D", "=" },
	{ "+20", " " },
	{ "+41+42", "AB" },
	{ "a+2Bb+3Dc", "a+b=c" },
	{ "+7E", "~" },
	{ "+C3+A9", "\xc3\xa9" },
	{ "<>", "<>" },
	{ "+", NULL },
	{ "+2", NULL },
	{ "+2b", NULL },
	{ "+a0", NULL },
	{ "+0d", NULL },
	{ "+0D", NULL },
	{ "+0A", NULL },
	{ "+00", NULL },
	{ "+09", NULL },
	{ "+1F", NULL },
	{ "+7F", NULL },
	{ "+G1", NULL },
	{ "+-1", NULL },
	{ "+ 1", NULL },
	{ "++20", NULL },
	{ "=", NULL },
	{ "a=b", NULL },
	{ "a b", NULL },
	{ "a\tb", NULL },
	{ "a\r\nb", NULL },
	{ "\x7f", NULL },
	{ "\xc3\xa9", NULL },
};

static char	*heap_copy(const char *);
static void	 check_addr(const struct mailaddr *, const char *);
static size_t	 find_bad(const char *, const char *);

static char *
heap_copy(const char *s)
{
	size_t	 n = strlen(s) + 1;
	char	*p = xmalloc(n);

	memcpy(p, s, n);
	return p;
}

static void
check_addr(const struct mailaddr *a, const char *want)
{
	char	 text[ADDR_TEXT_MAX];

	addr_format(a, text, sizeof(text));
	assert_string_equal(text, want);
}

/*
 * find_bad - the offset of pattern in arg.  Patterns are matched from the
 * right, so "SIZE=1" in "SIZE=1 SIZE=1" names the duplicate.
 */
static size_t
find_bad(const char *arg, const char *pat)
{
	size_t	 n = strlen(arg), m = pat != NULL ? strlen(pat) : n + 1;

	if (m > n)
		fail_msg("no pattern for \"%s\"", log_safe(arg));
	for (size_t i = n - m + 1; i-- > 0;)
		if (memcmp(arg + i, pat, m) == 0)
			return i;
	fail_msg("pattern \"%s\" not in \"%s\"", pat, arg);
	return 0;
}

static void
test_mail_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(mail_cases); i++) {
		const struct mail_case	*c = &mail_cases[i];
		struct smtp_mail_args	 m;
		char			*p = heap_copy(c->arg);
		enum smtp_parse_result	 r;

		memset(&m, 'X', sizeof(m));
		r = smtp_parse_mail(p, &m);
		if (r != c->want)
			fail_msg("mail case %zu \"%s\": got %s, want %s", i,
			    log_safe(c->arg), smtp_parse_result_str(r),
			    smtp_parse_result_str(c->want));
		if (c->addr != NULL)
			check_addr(&m.addr, c->addr);
		if (r == SP_UNKNOWN_PARAM || r == SP_BAD_PARAM)
			assert_ptr_equal(m.bad_param,
			    p + find_bad(c->arg, c->bad));
		else
			assert_null(m.bad_param);
		if (r == SP_OK) {
			assert_int_equal(m.has_size, c->has_size);
			assert_true(m.size == c->size);
			assert_int_equal(m.body, c->body);
			assert_int_equal(m.smtputf8, c->utf8);
			assert_int_equal(m.requiretls, c->requiretls);
			assert_int_equal(m.ret, c->ret);
			assert_string_equal(m.envid, c->envid ? c->envid : "");
			assert_int_equal(m.has_auth, c->auth != NULL);
			assert_string_equal(m.auth, c->auth ? c->auth : "");
		}
		free(p);
	}
}

static void
test_rcpt_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(rcpt_cases); i++) {
		const struct rcpt_case	*c = &rcpt_cases[i];
		struct smtp_rcpt_args	 a;
		char			*p = heap_copy(c->arg);
		enum smtp_parse_result	 r;

		memset(&a, 'X', sizeof(a));
		r = smtp_parse_rcpt(p, c->smtputf8, &a);
		if (r != c->want)
			fail_msg("rcpt case %zu \"%s\": got %s, want %s", i,
			    log_safe(c->arg), smtp_parse_result_str(r),
			    smtp_parse_result_str(c->want));
		if (c->addr != NULL)
			check_addr(&a.addr, c->addr);
		if (r == SP_UNKNOWN_PARAM || r == SP_BAD_PARAM)
			assert_ptr_equal(a.bad_param,
			    p + find_bad(c->arg, c->bad));
		else
			assert_null(a.bad_param);
		if (r == SP_OK) {
			assert_int_equal(a.notify, c->notify);
			assert_string_equal(a.orcpt, c->orcpt ? c->orcpt : "");
		}
		free(p);
	}
}

/* Postmaster without a domain has an empty domain, not a default one. */
static void
test_rcpt_postmaster(void **state)
{
	struct smtp_rcpt_args	 a;

	(void)state;
	assert_int_equal(smtp_parse_rcpt("TO:<pOstMaster>", false, &a), SP_OK);
	assert_string_equal(a.addr.local, "Postmaster");
	assert_string_equal(a.addr.domain, "");
	assert_int_equal(smtp_parse_rcpt("TO:<postmaster@EXAMPLE.ORG>", false,
	    &a), SP_OK);
	assert_string_equal(a.addr.local, "postmaster");
	assert_string_equal(a.addr.domain, "example.org");
}

static void
test_path_too_long(void **state)
{
	char			 local[80], dom[300], arg[600];
	struct smtp_mail_args	 m;
	struct smtp_rcpt_args	 r;

	(void)state;
	memset(local, 'l', 64);
	local[64] = '\0';
	/* 4 labels of 47 + 3 dots = 191: "<" 64 "@" 191 ">" = 258 */
	snprintf(dom, sizeof(dom), "%.47s.%.47s.%.47s.%.47s", local, local,
	    local, local);
	snprintf(arg, sizeof(arg), "FROM:<%s@%s>", local, dom);
	assert_int_equal(smtp_parse_mail(arg, &m), SP_ADDR_TOO_LONG);
	snprintf(arg, sizeof(arg), "TO:<%s@%s> NOTIFY=NEVER", local, dom);
	assert_int_equal(smtp_parse_rcpt(arg, false, &r), SP_ADDR_TOO_LONG);
	/* 2 octets shorter fits exactly */
	dom[189] = '\0';
	snprintf(arg, sizeof(arg), "TO:<%s@%s>", local, dom);
	assert_int_equal(smtp_parse_rcpt(arg, false, &r), SP_OK);
	memset(local, 'l', 65);
	local[65] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<%s@x>", local);
	assert_int_equal(smtp_parse_mail(arg, &m), SP_ADDR_TOO_LONG);
}

/* A bare mailbox has the limit of the path it stands for, less "<>". */
static void
test_bare_path_too_long(void **state)
{
	char			 local[80], dom[300], arg[1300];
	struct smtp_mail_args	 m;
	struct smtp_rcpt_args	 r;

	(void)state;
	memset(local, 'l', 64);
	local[64] = '\0';
	/* 64 "@" 189 = 254 octets: "<" ... ">" is 256 */
	snprintf(dom, sizeof(dom), "%.47s.%.47s.%.47s.%.45s", local, local,
	    local, local);
	snprintf(arg, sizeof(arg), "FROM:%s@%s SIZE=1", local, dom);
	assert_int_equal(smtp_parse_mail(arg, &m), SP_OK);
	snprintf(arg, sizeof(arg), "TO:%s@%sx", local, dom);
	assert_int_equal(smtp_parse_rcpt(arg, false, &r), SP_ADDR_TOO_LONG);
	snprintf(arg, sizeof(arg), "TO:%s%s%s%s", dom, dom, dom, dom);
	assert_int_equal(smtp_parse_rcpt(arg, false, &r), SP_ADDR_TOO_LONG);
}

/* Without brackets a mailbox means what it means inside them. */
static void
test_bare_same_as_bracketed(void **state)
{
	static const char *const words[] = { "u@x", "U@X.EXAMPLE",
	    "postmaster", "PostMaster", "a.b@c.example", "\"ab\"@x",
	    "a@[192.0.2.1]", "a@[IPv6:::1]", "jos\xc3\xa9@x", "u+tag@x",
	    "a", "a@", "a..b@x", "a@b.", "@b", "a@-b", "a@[1.2.3.256]",
	    "jos\xc3@x", "\"\"@x", NULL };
	char			 bare[300], path[300];
	struct smtp_rcpt_args	 a, b;

	(void)state;
	for (size_t i = 0; words[i] != NULL; i++) {
		for (int utf8 = 0; utf8 < 2; utf8++) {
			enum smtp_parse_result	 ra, rb;

			snprintf(bare, sizeof(bare), "TO:%s", words[i]);
			snprintf(path, sizeof(path), "TO:<%s>", words[i]);
			ra = smtp_parse_rcpt(bare, utf8, &a);
			rb = smtp_parse_rcpt(path, utf8, &b);
			if (ra != rb)
				fail_msg("\"%s\": %s bare, %s in brackets",
				    log_safe(words[i]),
				    smtp_parse_result_str(ra),
				    smtp_parse_result_str(rb));
			assert_memory_equal(&a.addr, &b.addr, sizeof(a.addr));
		}
	}
}

static void
test_envid_auth_orcpt_limits(void **state)
{
	char			 arg[2000], val[1200];
	struct smtp_mail_args	 m;
	struct smtp_rcpt_args	 r;

	(void)state;
	memset(val, 'e', SMTP_ENVID_MAX);
	val[SMTP_ENVID_MAX] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<a@b> ENVID=%s", val);
	assert_int_equal(smtp_parse_mail(arg, &m), SP_OK);
	assert_int_equal(strlen(m.envid), SMTP_ENVID_MAX);
	snprintf(arg, sizeof(arg), "FROM:<a@b> ENVID=%se", val);
	assert_int_equal(smtp_parse_mail(arg, &m), SP_BAD_PARAM);
	/* the limit is on the decoded value: 100 x "+41" is fine */
	for (int i = 0; i < SMTP_ENVID_MAX; i++)
		memcpy(val + 3 * i, "+41", 3);
	val[3 * SMTP_ENVID_MAX] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<a@b> ENVID=%s", val);
	assert_int_equal(smtp_parse_mail(arg, &m), SP_OK);
	assert_int_equal(strlen(m.envid), SMTP_ENVID_MAX);

	memset(val, 'a', SMTP_AUTH_MAX);
	val[SMTP_AUTH_MAX] = '\0';
	snprintf(arg, sizeof(arg), "FROM:<a@b> AUTH=%s", val);
	assert_int_equal(smtp_parse_mail(arg, &m), SP_OK);
	assert_int_equal(strlen(m.auth), SMTP_AUTH_MAX);
	snprintf(arg, sizeof(arg), "FROM:<a@b> AUTH=%sa", val);
	assert_int_equal(smtp_parse_mail(arg, &m), SP_BAD_PARAM);

	/* ORCPT: 500 octets as sent, "rfc822;" included */
	memset(val, 'o', SMTP_ORCPT_MAX - 7);
	val[SMTP_ORCPT_MAX - 7] = '\0';
	snprintf(arg, sizeof(arg), "TO:<a@b> ORCPT=rfc822;%s", val);
	assert_int_equal(smtp_parse_rcpt(arg, false, &r), SP_OK);
	assert_int_equal(strlen(r.orcpt), SMTP_ORCPT_MAX);
	snprintf(arg, sizeof(arg), "TO:<a@b> ORCPT=rfc822;%so", val);
	assert_int_equal(smtp_parse_rcpt(arg, false, &r), SP_BAD_PARAM);
}

static void
test_bdat_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(bdat_cases); i++) {
		const struct bdat_case	*c = &bdat_cases[i];
		char			*p = heap_copy(c->arg);
		uint64_t		 size = 12345;
		bool			 last = true;

		if (smtp_parse_bdat(p, &size, &last) != c->want)
			fail_msg("bdat case %zu \"%s\"", i, log_safe(c->arg));
		assert_true(size == c->size);
		assert_int_equal(last, c->last);
		free(p);
	}
}

static void
test_xtext_decode_table(void **state)
{
	char	 out[64];

	(void)state;
	for (size_t i = 0; i < NELEM(xdecode_cases); i++) {
		const struct xtext_case	*c = &xdecode_cases[i];
		size_t			 n = strlen(c->in);
		char			*p = xmalloc(n ? n : 1);
		long			 r;

		memcpy(p, c->in, n);	/* no NUL: inlen ends it */
		r = smtp_parse_xtext_decode(p, n, out, sizeof(out));
		if (c->want == NULL) {
			if (r != -1)
				fail_msg("xtext case %zu \"%s\" decoded", i,
				    log_safe(c->in));
			assert_string_equal(out, "");
		} else {
			if (r != (long)strlen(c->want))
				fail_msg("xtext case %zu \"%s\": %ld", i,
				    log_safe(c->in), r);
			assert_string_equal(out, c->want);
		}
		free(p);
	}
}

static void
test_xtext_bounds(void **state)
{
	char	 out[8];

	(void)state;
	/* inlen, not the NUL, ends the input */
	assert_int_equal(smtp_parse_xtext_decode("abcdef", 3, out, sizeof(out)), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(smtp_parse_xtext_decode("a+2B", 2, out, sizeof(out)), -1);
	assert_int_equal(smtp_parse_xtext_decode("a\0b", 3, out, sizeof(out)), -1);
	/* outsz counts the NUL */
	assert_int_equal(smtp_parse_xtext_decode("1234567", 7, out, 8), 7);
	assert_int_equal(smtp_parse_xtext_decode("12345678", 8, out, 8), -1);
	assert_int_equal(smtp_parse_xtext_decode("+41+41", 6, out, 3), 2);
	assert_int_equal(smtp_parse_xtext_decode("+41+41+41", 9, out, 3), -1);
	assert_int_equal(smtp_parse_xtext_decode("", 0, out, 1), 0);
	assert_int_equal(smtp_parse_xtext_decode("a", 1, out, 1), -1);
	assert_int_equal(smtp_parse_xtext_decode("a", 1, NULL, 0), -1);
}

static void
test_xtext_encode(void **state)
{
	char	 out[64];

	(void)state;
	assert_int_equal(smtp_parse_xtext_encode("abc", 3, out, sizeof(out)), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(smtp_parse_xtext_encode("a+b=c d", 7, out, sizeof(out)), 13);
	assert_string_equal(out, "a+2Bb+3Dc+20d");
	assert_int_equal(smtp_parse_xtext_encode("\r\n\0\x7f\xff", 5, out, sizeof(out)),
	    15);
	assert_string_equal(out, "+0D+0A+00+7F+FF");
	assert_int_equal(smtp_parse_xtext_encode("", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* snprintf semantics */
	assert_int_equal(smtp_parse_xtext_encode("a+b", 3, out, 3), 5);
	assert_string_equal(out, "a+");
	assert_int_equal(smtp_parse_xtext_encode("a+b", 3, NULL, 0), 5);
}

/* Every printable byte and mixed strings survive encode then decode. */
static void
test_xtext_round_trip(void **state)
{
	static const char *const strs[] = {
		"rfc822;bob@example.org", "a+b=c", "\"quoted name\"@x",
		"<>", "+++===", " ", "~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}",
	};
	char	 in[2], enc[256], dec[256];

	(void)state;
	for (int c = 0x20; c <= 0x7e; c++) {
		in[0] = (char)c;
		assert_true(smtp_parse_xtext_encode(in, 1, enc, sizeof(enc)) <= 3);
		assert_int_equal(smtp_parse_xtext_decode(enc, strlen(enc), dec,
		    sizeof(dec)), 1);
		assert_int_equal((unsigned char)dec[0], c);
	}
	for (size_t i = 0; i < NELEM(strs); i++) {
		size_t	 n = smtp_parse_xtext_encode(strs[i], strlen(strs[i]), enc,
		    sizeof(enc));

		assert_int_equal(smtp_parse_xtext_decode(enc, n, dec, sizeof(dec)),
		    strlen(strs[i]));
		assert_string_equal(dec, strs[i]);
	}
	/* control bytes encode, but never decode back */
	for (int c = 0; c < 0x20; c++) {
		in[0] = (char)c;
		smtp_parse_xtext_encode(in, 1, enc, sizeof(enc));
		assert_int_equal(smtp_parse_xtext_decode(enc, 3, dec, sizeof(dec)), -1);
	}
}

static void
test_result_str(void **state)
{
	static const enum smtp_parse_result all[] = { SP_OK, SP_SYNTAX,
	    SP_BAD_ADDR, SP_ADDR_TOO_LONG, SP_NEED_UTF8, SP_UNKNOWN_PARAM,
	    SP_BAD_PARAM };

	(void)state;
	assert_string_equal(smtp_parse_result_str(SP_OK), "ok");
	assert_string_equal(smtp_parse_result_str(SP_SYNTAX), "syntax");
	for (size_t i = 0; i < NELEM(all); i++)
		for (size_t j = i + 1; j < NELEM(all); j++)
			assert_string_not_equal(smtp_parse_result_str(all[i]),
			    smtp_parse_result_str(all[j]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mail_table),
		cmocka_unit_test(test_rcpt_table),
		cmocka_unit_test(test_rcpt_postmaster),
		cmocka_unit_test(test_path_too_long),
		cmocka_unit_test(test_bare_path_too_long),
		cmocka_unit_test(test_bare_same_as_bracketed),
		cmocka_unit_test(test_envid_auth_orcpt_limits),
		cmocka_unit_test(test_bdat_table),
		cmocka_unit_test(test_xtext_decode_table),
		cmocka_unit_test(test_xtext_bounds),
		cmocka_unit_test(test_xtext_encode),
		cmocka_unit_test(test_xtext_round_trip),
		cmocka_unit_test(test_result_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
