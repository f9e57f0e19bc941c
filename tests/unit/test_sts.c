/*
 * test_sts.c - the parts of deliver/sts.c that TLS-RPT counts on: the
 * result type names of RFC 8460 4.3, the mapping of certificate
 * verification errors onto them, the modes, and the reference count of
 * a policy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/x509_vfy.h>

#include "deliver/sts.h"
#include "lib/util.h"

static void
test_result_names(void **state)
{
	assert_string_equal(sts_result_str(STS_RES_OK), "success");
	assert_string_equal(sts_result_str(STS_RES_FETCH_ERROR),
	    "sts-policy-fetch-error");
	assert_string_equal(sts_result_str(STS_RES_POLICY_INVALID),
	    "sts-policy-invalid");
	assert_string_equal(sts_result_str(STS_RES_WEBPKI_INVALID),
	    "sts-webpki-invalid");
	assert_string_equal(sts_result_str(STS_RES_VALIDATION),
	    "validation-failure");
	assert_string_equal(sts_result_str(STS_RES_HOST_MISMATCH),
	    "certificate-host-mismatch");
	assert_string_equal(sts_result_str(STS_RES_NOT_TRUSTED),
	    "certificate-not-trusted");
	assert_string_equal(sts_result_str(STS_RES_EXPIRED),
	    "certificate-expired");
	assert_string_equal(sts_result_str(STS_RES_STARTTLS),
	    "starttls-not-supported");
	assert_string_equal(sts_result_str((enum sts_result)99), "?");
}

static void
test_cert_result(void **state)
{
	assert_int_equal(sts_cert_result(X509_V_ERR_HOSTNAME_MISMATCH),
	    STS_RES_HOST_MISMATCH);
	assert_int_equal(sts_cert_result(X509_V_ERR_CERT_HAS_EXPIRED),
	    STS_RES_EXPIRED);
	assert_int_equal(sts_cert_result(X509_V_ERR_CERT_NOT_YET_VALID),
	    STS_RES_EXPIRED);
	assert_int_equal(sts_cert_result(
	    X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT), STS_RES_NOT_TRUSTED);
	assert_int_equal(sts_cert_result(
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
	    STS_RES_NOT_TRUSTED);
	assert_int_equal(sts_cert_result(X509_V_ERR_CERT_REVOKED),
	    STS_RES_VALIDATION);
}

static void
test_modes_and_refs(void **state)
{
	struct sts_policy	*p = xcalloc(1, sizeof(*p));

	p->refs = 1;
	assert_false(sts_enforce(NULL));
	assert_false(sts_testing(NULL));
	p->p.mode = MTASTS_MODE_ENFORCE;
	assert_true(sts_enforce(p));
	assert_false(sts_testing(p));
	p->p.mode = MTASTS_MODE_TESTING;
	assert_true(sts_testing(p));
	p->lines = xcalloc(1, sizeof(*p->lines));
	p->lines[0] = xstrdup("version: STSv1");
	p->nlines = 1;
	assert_ptr_equal(sts_ref(p), p);
	assert_int_equal(p->refs, 2);
	sts_unref(p);
	assert_int_equal(p->refs, 1);
	sts_unref(p);			/* freed: ASan sees a leak otherwise */
	sts_unref(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_cert_result),
		cmocka_unit_test(test_modes_and_refs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
