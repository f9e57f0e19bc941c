/*
 * test_tlsrpt.c - SMTP TLS Reporting's pure part (mail/tlsrpt.c): the
 * "_smtp._tls" TXT record's grammar (RFC 8460 3) with good, odd and bad
 * records, the day file's lines and their escapes, the UTC day of an
 * outcome and the date-range and report-id of its report, the
 * aggregate's counts, the JSON report's fields and string escapes, and
 * the report message's headers and gzip part.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "mail/tlsrpt.h"

static int
parse(const char *s, struct tlsrpt_txt *t)
{
	const char	*why;

	return tlsrpt_txt_parse(s, strlen(s), t, &why);
}

static void
test_txt_good(void **state)
{
	struct tlsrpt_txt	t;

	assert_int_equal(parse("v=TLSRPTv1; rua=mailto:tlsrpt@example.com",
	    &t), 0);
	assert_int_equal(t.nrua, 1);
	assert_int_equal(t.rua[0].kind, TLSRPT_MAILTO);
	assert_string_equal(t.rua[0].v, "tlsrpt@example.com");
	tlsrpt_txt_free(&t);

	assert_int_equal(parse("v=TLSRPTv1;rua=mailto:a%40b@example.com?"
	    "subject=x , https://reports.example.com/tlsrpt;ext_1=v.1;", &t),
	    0);	/* two '@' after decoding: that URI is skipped */
	assert_int_equal(t.nrua, 1);
	assert_int_equal(t.rua[0].kind, TLSRPT_HTTPS);
	tlsrpt_txt_free(&t);
	assert_int_equal(parse("v=TLSRPTv1;rua=mailto:r%2Bt@example.com?"
	    "subject=x , https://reports.example.com/tlsrpt;ext_1=v.1;", &t),
	    0);
	assert_int_equal(t.nrua, 2);
	assert_string_equal(t.rua[0].v, "r+t@example.com");
	assert_int_equal(t.rua[1].kind, TLSRPT_HTTPS);
	assert_string_equal(t.rua[1].v, "https://reports.example.com/tlsrpt");
	tlsrpt_txt_free(&t);

	/* an unknown scheme is skipped when another URI is usable */
	assert_int_equal(parse("v=TLSRPTv1 ; rua=ftp://x,mailto:a@b.example",
	    &t), 0);
	assert_int_equal(t.nrua, 1);
	assert_string_equal(t.rua[0].v, "a@b.example");
	tlsrpt_txt_free(&t);
}

static void
test_txt_bad(void **state)
{
	static const char *const notrpt[] = {
		"", "v=spf1 -all", "v=TLSRPTv10; rua=mailto:a@b",
		"V=TLSRPTv1; rua=mailto:a@b", "v=TLSRPT",
	};
	static const char *const bad[] = {
		"v=TLSRPTv1", "v=TLSRPTv1;", "v=TLSRPTv1; ext=1",
		"v=TLSRPTv1; rua=", "v=TLSRPTv1; rua=mailto:nobody",
		"v=TLSRPTv1; rua=mailto:a@b; rua=mailto:c@d",
		"v=TLSRPTv1 rua=mailto:a@b", "v=TLSRPTv1; rua=ftp://x",
		"v=TLSRPTv1; rua=mailto:a@b; x=", "v=TLSRPTv1; rua=mailto:a@b; "
		"_x=1", "v=TLSRPTv1; rua=mailto:a@b;; x=1",
		"v=TLSRPTv1; rua=mailto:<a@b>", "v=TLSRPTv1; rua=mailto:a@b%",
		"v=TLSRPTv1; rua=mailto:a%0d@b", "v=TLSRPTv1; rua=mailto:a@b,",
	};
	struct tlsrpt_txt	t;

	for (size_t i = 0; i < sizeof(notrpt) / sizeof(notrpt[0]); i++)
		assert_int_equal(parse(notrpt[i], &t), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i], &t), -2);
		assert_int_equal(t.nrua, 0);
	}
	assert_int_equal(tlsrpt_txt_parse("v=TLSRPTv1; rua=mailto:a@b\0x",
	    28, &t, NULL), -2);
}

static struct tlsrpt_event
ev(const char *type, const char *domain, const char *strings,
    const char *result)
{
	struct tlsrpt_event	e = {
		.when = 1764892800, .policy_type = type,
		.policy_domain = domain, .policy_strings = strings,
		.mx_host = "", .result = result, .sending_ip = "192.0.2.1",
		.receiving_mx = "mx.example.org",
		.receiving_ip = result[0] != '\0' ? "192.0.2.9" : "",
		.reason = "",
	};

	return e;
}

static void
test_lines(void **state)
{
	struct tlsrpt_event	e = ev("tlsa", "mx.example.org",
	    "3 1 1 abcd\n2 1 1 ef%01", "tlsa-invalid"), d;
	struct buf		b;
	char			*line;

	e.reason = "tab\there";
	d = ev("sts", "example.org", "", "");
	assert_true(tlsrpt_event_ok(&d));
	assert_false(tlsrpt_event_ok(&e));	/* a tab is a control byte */
	e.reason = "100% bad";
	assert_true(tlsrpt_event_ok(&e));
	buf_init(&b, 0);
	tlsrpt_line_put(&e, &b);
	assert_non_null(strstr(b.data, "3 1 1 abcd%0A2 1 1 ef%2501"));
	assert_int_equal(b.data[b.len - 1], '\n');
	line = xstrndup(b.data, b.len - 1);
	assert_int_equal(tlsrpt_line_parse(line, &d), 0);
	assert_int_equal(d.when, 1764892800);
	assert_string_equal(d.policy_strings, "3 1 1 abcd\n2 1 1 ef%01");
	assert_string_equal(d.reason, "100% bad");
	assert_string_equal(d.result, "tlsa-invalid");
	free(line);
	buf_free(&b);

	static const char *const bad[] = {
		"", "1", "2\t1\ttlsa\td\t\t\t\t\t\t\t",
		"1\tx\ttlsa\td\t\t\t\t\t\t\t",
		"1\t1\tnope\td\t\t\t\t\t\t\t",
		"1\t1\ttlsa\td\t\t\tbogus-result\t\t\t\t",
		"1\t1\ttlsa\td..x\t\t\t\t\t\t\t",
		"1\t1\ttlsa\td\t%0\t\t\t\t\t\t",
		"1\t1\ttlsa\td\t%00\t\t\t\t\t\t",
		"1\t1\ttlsa\td\t\t\t\t\t\t\t\textra",
		"1\t1\ttlsa\td\t\t\t\t\t\t%09\t",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		line = xstrdup(bad[i]);
		assert_int_equal(tlsrpt_line_parse(line, &d), -1);
		free(line);
	}
	line = xstrdup("1\t5\tno-policy-found\tExample.ORG\t\t\t\t\t\t\t");
	assert_int_equal(tlsrpt_line_parse(line, &d), 0);
	free(line);
}

/* the day file's "D" lines: a domain whose report is handled */
static void
test_done_lines(void **state)
{
	static const char *const bad[] = {
		"", "D", "D\t", "D example.org", "d\texample.org",
		"D\texample..org", "D\texample.org\t", "D\texample.org x",
		"1\t5\tno-policy-found\texample.org\t\t\t\t\t\t\t",
	};
	struct buf	 b;
	char		*line;

	buf_init(&b, 0);
	tlsrpt_done_put("mx-1.example.org", &b);
	assert_string_equal(b.data, "D\tmx-1.example.org\n");
	line = xstrndup(b.data, b.len - 1);
	assert_string_equal(tlsrpt_done_parse(line), "mx-1.example.org");
	free(line);
	buf_free(&b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(tlsrpt_done_parse(bad[i]));
}

/* RFC 8460 4: a report covers a UTC day, 00:00:00Z to the next day's
 * 00:00:00Z; the last second of a day and the first of the next are two
 * days, two reports. */
static void
test_days(void **state)
{
	static const struct {
		uint64_t	 t, day;
		const char	*start, *end;
	} cases[] = {
		{ 1764892800 - 1, 1764892800 - 86400,	/* 23:59:59Z */
		  "2025-12-04T00:00:00Z", "2025-12-05T00:00:00Z" },
		{ 1764892800, 1764892800,		/* 00:00:00Z */
		  "2025-12-05T00:00:00Z", "2025-12-06T00:00:00Z" },
		{ 1764892800 + 43200, 1764892800,
		  "2025-12-05T00:00:00Z", "2025-12-06T00:00:00Z" },
		{ 1709164800 + 86399, 1709164800,	/* a leap day */
		  "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z" },
		{ 1767139200 + 86399, 1767139200,	/* the year's last */
		  "2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z" },
		{ 0, 0, "1970-01-01T00:00:00Z", "1970-01-02T00:00:00Z" },
	};
	struct tlsrpt_report_info ri = { "org", "c@example.net", "r", 0 };
	struct buf	 b;
	char		 want[160], *id;

	assert_int_not_equal(tlsrpt_day(1764892800 - 1),
	    tlsrpt_day(1764892800));
	buf_init(&b, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tlsrpt_agg	a = { 0 };
		struct tlsrpt_event	e = ev("sts", "example.org", "", "");

		e.when = cases[i].t;
		assert_int_equal(tlsrpt_day(e.when), cases[i].day);
		tlsrpt_agg_add(&a, &e, 1);
		ri.day = tlsrpt_day(e.when);
		buf_reset(&b);
		tlsrpt_json(&a, "example.org", &ri, &b);
		snprintf(want, sizeof(want), "\"date-range\":{"
		    "\"start-datetime\":\"%s\",\"end-datetime\":\"%s\"}",
		    cases[i].start, cases[i].end);
		assert_non_null(strstr(b.data, want));
		tlsrpt_agg_free(&a);
	}
	buf_free(&b);
	id = tlsrpt_report_id(tlsrpt_day(1764892800 + 86399), "example.org",
	    "mx.example.net");
	assert_string_equal(id, "2025-12-05_example.org@mx.example.net");
	free(id);
	id = tlsrpt_report_id(tlsrpt_day(1764892800 - 1), "example.org",
	    "mx.example.net");
	assert_string_equal(id, "2025-12-04_example.org@mx.example.net");
	free(id);
}

static void
test_agg_and_json(void **state)
{
	struct tlsrpt_agg	a = { 0 };
	struct tlsrpt_report_info ri = {
		.organization = "Org \"quoted\" \\ \x01 \xc3\xa9 \xff",
		.contact = "postmaster@example.net",
		.report_id = "r1", .day = 1764892800,
	};
	struct tlsrpt_event	e;
	struct buf		b;
	const char		**doms;

	for (int i = 0; i < 3; i++) {
		e = ev("no-policy-found", "Example.com", "", "");
		e.when += (uint64_t)i;
		tlsrpt_agg_add(&a, &e, 1);
	}
	e = ev("no-policy-found", "example.org", "",
	    "starttls-not-supported");
	tlsrpt_agg_add(&a, &e, 2);
	e = ev("tlsa", "mx.example.org", "3 1 1 ab", "tlsa-invalid");
	tlsrpt_agg_add(&a, &e, 1);
	assert_int_equal(a.npol, 3);
	assert_int_equal(a.first, 1764892800);
	assert_int_equal(a.last, 1764892802);
	assert_int_equal(a.pol[0].ok, 3);
	assert_int_equal(a.pol[1].failed, 2);
	assert_int_equal(a.pol[1].ndetails, 1);
	assert_int_equal(a.pol[1].details[0].count, 2);
	assert_int_equal(tlsrpt_agg_domains(&a, &doms), 3);
	assert_string_equal(doms[0], "example.com");
	free(doms);

	buf_init(&b, 0);
	tlsrpt_json(&a, "EXAMPLE.com", &ri, &b);
	assert_string_equal(b.data,
	    "{\"organization-name\":\"Org \\\"quoted\\\" \\\\ \\u0001 "
	    "\xc3\xa9 \\ufffd\",\"date-range\":{\"start-datetime\":"
	    "\"2025-12-05T00:00:00Z\",\"end-datetime\":"
	    "\"2025-12-06T00:00:00Z\"},\"contact-info\":"
	    "\"postmaster@example.net\",\"report-id\":\"r1\",\"policies\":"
	    "[{\"policy\":{\"policy-type\":\"no-policy-found\","
	    "\"policy-domain\":\"example.com\"},\"summary\":"
	    "{\"total-successful-session-count\":3,"
	    "\"total-failure-session-count\":0}}]}\n");
	buf_reset(&b);
	tlsrpt_json(&a, "mx.example.org", &ri, &b);
	assert_non_null(strstr(b.data, "\"policy-string\":[\"3 1 1 ab\"]"));
	assert_non_null(strstr(b.data, "\"failure-details\":[{\"result-type\":"
	    "\"tlsa-invalid\",\"sending-mta-ip\":\"192.0.2.1\","
	    "\"receiving-mx-hostname\":\"mx.example.org\",\"receiving-ip\":"
	    "\"192.0.2.9\",\"failed-session-count\":1}]"));
	buf_free(&b);
	tlsrpt_agg_free(&a);
	assert_int_equal(a.npol, 0);
}

/* distinct failure details are capped per policy: the rest count in the
 * totals only */
static void
test_agg_caps(void **state)
{
	struct tlsrpt_agg	a = { 0 };
	struct tlsrpt_event	e = ev("no-policy-found", "example.org", "",
	    "validation-failure");
	char			ip[32];

	for (int i = 0; i < TLSRPT_DETAILS_MAX + 5; i++) {
		snprintf(ip, sizeof(ip), "192.0.%d.%d", i / 250, i % 250);
		e.receiving_ip = ip;
		tlsrpt_agg_add(&a, &e, 1);
	}
	assert_int_equal(a.npol, 1);
	assert_int_equal(a.pol[0].failed, TLSRPT_DETAILS_MAX + 5);
	assert_int_equal(a.pol[0].ndetails, TLSRPT_DETAILS_MAX);
	assert_int_equal(a.pol[0].dropped, 5);
	assert_int_equal(a.ndetails, TLSRPT_DETAILS_MAX);
	tlsrpt_agg_free(&a);
}

static void
test_mail(void **state)
{
	static const char json[] = "{\"a\":1}\n";
	struct tlsrpt_mail	m = {
		.from = "noreply@example.net", .to = "rua@example.org",
		.domain = "example.org", .submitter = "mx.example.net",
		.report_id = "1.example.org@mx.example.net",
		.day = 1764892800, .now = 1764979300,
		.json = json, .jsonlen = sizeof(json) - 1,
	};
	struct buf	b;
	const char	*p, *e;
	char		*b64, out[64];
	size_t		 n = 0, olen;
	unsigned char	*gz;
	uLongf		 dl = sizeof(out);
	z_stream	 zs = { 0 };

	buf_init(&b, 0);
	assert_int_equal(tlsrpt_mail_build(&m, &b), 0);
	assert_non_null(strstr(b.data, "Subject: Report Domain: example.org"
	    "\r\n Submitter: mx.example.net\r\n Report-ID: "
	    "<1.example.org@mx.example.net>\r\n"));
	assert_non_null(strstr(b.data, "TLS-Report-Domain: example.org\r\n"));
	assert_non_null(strstr(b.data, "TLS-Report-Submitter: "
	    "mx.example.net\r\n"));
	assert_non_null(strstr(b.data, "multipart/report; "
	    "report-type=\"tlsrpt\""));
	assert_non_null(strstr(b.data, "filename=\"mx.example.net!example.org"
	    "!1764892800!1764979200.json.gz\""));
	assert_non_null(strstr(b.data, "from 2025-12-05T00:00:00Z to "
	    "2025-12-06T00:00:00Z."));
	p = strstr(b.data, "Content-Transfer-Encoding: base64\r\n");
	assert_non_null(p);
	p = strstr(p, "\r\n\r\n") + 4;
	e = strstr(p, "\r\n\r\n--");
	assert_non_null(e);
	b64 = xcalloc(1, (size_t)(e - p) + 1);
	for (; p < e; p++)
		if (*p != '\r' && *p != '\n')
			b64[n++] = *p;
	assert_int_equal(base64_decode_alloc(b64, n, 0, &gz, &olen), 0);
	assert_true(olen > 18 && gz[0] == 0x1f && gz[1] == 0x8b);
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = gz;
	zs.avail_in = (uInt)olen;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)dl;
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.total_out, sizeof(json) - 1);
	assert_memory_equal(out, json, sizeof(json) - 1);
	inflateEnd(&zs);
	free(gz);
	free(b64);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest	tests[] = {
		cmocka_unit_test(test_txt_good),
		cmocka_unit_test(test_txt_bad),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_done_lines),
		cmocka_unit_test(test_days),
		cmocka_unit_test(test_agg_and_json),
		cmocka_unit_test(test_agg_caps),
		cmocka_unit_test(test_mail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
