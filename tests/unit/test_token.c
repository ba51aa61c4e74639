/* Token checks against real upstream tokens and fixtures (/work/shared/vectors, see its README). */
#include "attest/b64.h"
#include "attest/jwk.h"
#include "attest/token.h"
#include "attest/trust.h"
#include "tests/unit/test.h"

#include <stdlib.h>

static const char *vectors(void)
{
	const char *dir = getenv("TNGWG_VECTORS");
	return dir ? dir : "/work/shared/vectors";
}

static char *slurp(const char *rel, size_t *len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", vectors(), rel);
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "  cannot open %s\n", path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf)
		buf[n] = 0;
	if (len)
		*len = (size_t)n;
	return buf;
}

static struct trust_anchors *anchors_from(const char *rel)
{
	char path[512], err[200];
	snprintf(path, sizeof(path), "%s/%s", vectors(), rel);
	struct trust_anchors *t = trust_anchors_new();
	if (trust_anchors_add_pem_file(t, path, err, sizeof(err)) != 0)
		fprintf(stderr, "  %s\n", err);
	return t;
}

static bool check_failed(const struct token_result *res, const char *name)
{
	for (size_t i = 0; i < res->n_checks; i++)
		if (!strcmp(res->checks[i].name, name))
			return !res->checks[i].ok;
	return false;
}

static void dump(const struct token_result *res)
{
	for (size_t i = 0; i < res->n_checks; i++)
		fprintf(stderr, "    %s %s: %s\n", res->checks[i].ok ? "ok  " : "FAIL", res->checks[i].name,
			res->checks[i].detail);
}

/* The payload of a JWT file, decoded. */
static cJSON *payload_of(const char *rel)
{
	char *jwt = slurp(rel, NULL);
	cJSON *doc = NULL;
	char *dot1 = jwt ? strchr(jwt, '.') : NULL, *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
	uint8_t *raw;
	size_t raw_len;
	if (dot2 && b64_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &raw, &raw_len) == 0) {
		doc = cJSON_Parse((char *)raw);
		free(raw);
	}
	free(jwt);
	return doc;
}

static int64_t claim_time(const cJSON *payload, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, name);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static const char *default_policy[] = { "default" };

/* Verify token file `jwt` with anchors from `ca` at iat + offset. */
static enum token_status verify_file(const char *jwt_rel, const char *ca_rel, int64_t offset,
				     const char *const *policies, size_t n_policies,
				     const cJSON *runtime_data, struct token_result *res)
{
	size_t len;
	char *jwt = slurp(jwt_rel, &len);
	cJSON *payload = payload_of(jwt_rel);
	struct trust_anchors *t = anchors_from(ca_rel);
	struct token_expect ex = {
		.anchors = t, .policy_ids = policies, .n_policy_ids = n_policies,
		.runtime_data = runtime_data, .now = claim_time(payload, "iat") + offset,
		.leeway = TOKEN_DEFAULT_LEEWAY,
	};
	enum token_status st = jwt ? token_verify(jwt, len, &ex, res) : TOKEN_INVALID;
	if (st != TOKEN_OK)
		dump(res);
	trust_anchors_free(t);
	cJSON_Delete(payload);
	free(jwt);
	return st;
}

static const char *const vectors_with_ca[][2] = {
	{ "tng/ear.jwt", "tng/ear.as-ca.pem" },
	{ "tng/ear_with_additional_device.jwt", "tng/ear_with_additional_device.as-ca.pem" },
	{ "tng/simple.jwt", "tng/simple.as-ca.pem" },
};

TEST(real_tokens_verify_inside_validity)
{
	for (size_t i = 0; i < 3; i++) {
		struct token_result res;
		CHECK(verify_file(vectors_with_ca[i][0], vectors_with_ca[i][1], 10, default_policy, 1, NULL, &res) == TOKEN_OK);
		CHECK(res.exp > 0);
		CHECK_STR(res.policy_ids, "default");
	}
}

TEST(real_tokens_name_their_tee)
{
	struct token_result res;
	verify_file("tng/ear.jwt", "tng/ear.as-ca.pem", 10, NULL, 0, NULL, &res);
	CHECK_STR(res.tee, "tdx");
	verify_file("tng/simple.jwt", "tng/simple.as-ca.pem", 10, NULL, 0, NULL, &res);
	CHECK_STR(res.tee, "tdx");
}

TEST(real_tokens_expire)
{
	for (size_t i = 0; i < 3; i++) {
		cJSON *p = payload_of(vectors_with_ca[i][0]);
		int64_t life = claim_time(p, "exp") - claim_time(p, "iat");
		struct token_result res;
		/* inside the leeway still valid, beyond it expired */
		CHECK(verify_file(vectors_with_ca[i][0], vectors_with_ca[i][1], life + 30, NULL, 0, NULL, &res) == TOKEN_OK);
		CHECK(verify_file(vectors_with_ca[i][0], vectors_with_ca[i][1], life + 61, NULL, 0, NULL, &res) == TOKEN_EXPIRED);
		CHECK(check_failed(&res, "exp"));
		cJSON_Delete(p);
	}
}

TEST(real_tokens_fail_with_another_ca)
{
	for (size_t i = 0; i < 3; i++) {
		struct token_result res;
		CHECK(verify_file(vectors_with_ca[i][0], vectors_with_ca[(i + 1) % 3][1], 10, NULL, 0, NULL, &res) == TOKEN_INVALID);
		CHECK(check_failed(&res, "key"));
	}
}

TEST(policy_ids_must_be_covered)
{
	const char *other[] = { "default", "domain-b" };
	struct token_result res;
	CHECK(verify_file("tng/ear.jwt", "tng/ear.as-ca.pem", 10, other, 2, NULL, &res) == TOKEN_POLICY_MISMATCH);
	CHECK(verify_file("tng/simple.jwt", "tng/simple.as-ca.pem", 10, other + 1, 1, NULL, &res) == TOKEN_POLICY_MISMATCH);
}

TEST(runtime_data_compared_as_json)
{
	cJSON *p = payload_of("tng/ear.jwt");
	const cJSON *claims = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
		cJSON_GetObjectItem(p, "submods"), "cpu0"), "ear.veraison.annotated-evidence"), "runtime_data_claims");
	/* the same value with keys in another order */
	cJSON *expected = cJSON_CreateObject();
	cJSON_AddItemToObject(expected, "hpke_key_config",
			      cJSON_Duplicate(cJSON_GetObjectItem(claims, "hpke_key_config"), true));
	cJSON_AddItemToObject(expected, "challenge_token",
			      cJSON_Duplicate(cJSON_GetObjectItem(claims, "challenge_token"), true));
	struct token_result res;
	CHECK(verify_file("tng/ear.jwt", "tng/ear.as-ca.pem", 10, default_policy, 1, expected, &res) == TOKEN_OK);
	cJSON_ReplaceItemInObject(expected, "challenge_token", cJSON_CreateString("another session"));
	CHECK(verify_file("tng/ear.jwt", "tng/ear.as-ca.pem", 10, default_policy, 1, expected, &res) == TOKEN_RUNTIME_DATA_MISMATCH);
	CHECK(verify_file("tng/simple.jwt", "tng/simple.as-ca.pem", 10, default_policy, 1, expected, &res) == TOKEN_RUNTIME_DATA_MISMATCH);
	cJSON_Delete(expected);
	cJSON_Delete(p);
}

static enum token_status verify_text(const char *jwt, const char *ca_rel, int64_t now)
{
	struct trust_anchors *t = anchors_from(ca_rel);
	struct token_expect ex = { .anchors = t, .now = now, .leeway = TOKEN_DEFAULT_LEEWAY };
	struct token_result res;
	enum token_status st = token_verify(jwt, strlen(jwt), &ex, &res);
	trust_anchors_free(t);
	return st;
}

TEST(tampering_is_detected)
{
	char *jwt = slurp("tng/ear.jwt", NULL);
	cJSON *p = payload_of("tng/ear.jwt");
	int64_t now = claim_time(p, "iat") + 10;
	char *last = strrchr(jwt, '.');
	CHECK(verify_text(jwt, "tng/ear.as-ca.pem", now) == TOKEN_OK);
	last[5] = last[5] == 'A' ? 'B' : 'A';          /* signature byte */
	CHECK(verify_text(jwt, "tng/ear.as-ca.pem", now) == TOKEN_INVALID);
	last[5] = last[5] == 'A' ? 'B' : 'A';
	char *payload = strchr(jwt, '.') + 40;        /* payload byte */
	*payload = *payload == 'x' ? 'y' : 'x';
	CHECK(verify_text(jwt, "tng/ear.as-ca.pem", now) == TOKEN_INVALID);
	CHECK(verify_text("not.a.token.at.all", "tng/ear.as-ca.pem", now) == TOKEN_INVALID);
	CHECK(verify_text("", "tng/ear.as-ca.pem", now) == TOKEN_INVALID);
	CHECK(verify_text("e30.e30.", "tng/ear.as-ca.pem", now) == TOKEN_INVALID);
	free(jwt);
	cJSON_Delete(p);
}

/* The anchors remember the key a header endorsed, only while its chain is valid, and never the
 * signature or the claims of a token. */
TEST(endorsed_key_remembered_within_validity)
{
	char *jwt = slurp("tng/ear.jwt", NULL);
	cJSON *p = payload_of("tng/ear.jwt");
	struct trust_anchors *t = anchors_from("tng/ear.as-ca.pem");
	struct token_expect ex = { .anchors = t, .now = claim_time(p, "iat") + 10, .leeway = TOKEN_DEFAULT_LEEWAY };
	struct token_result res;
	CHECK(token_verify(jwt, strlen(jwt), &ex, &res) == TOKEN_OK);
	CHECK(token_verify(jwt, strlen(jwt), &ex, &res) == TOKEN_OK);
	CHECK(res.n_checks > 2 && !strcmp(res.checks[2].name, "key") && res.checks[2].ok &&
	      strstr(res.checks[2].detail, "chains to a trusted CA"));
	char *last = strrchr(jwt, '.');
	last[5] = last[5] == 'A' ? 'B' : 'A';
	CHECK(token_verify(jwt, strlen(jwt), &ex, &res) == TOKEN_INVALID); /* the signature still counts */
	last[5] = last[5] == 'A' ? 'B' : 'A';
	ex.now = 4102444800; /* 2100: the chain has expired, so the key is not taken as endorsed */
	CHECK(token_verify(jwt, strlen(jwt), &ex, &res) == TOKEN_INVALID);
	CHECK(res.n_checks > 2 && !res.checks[2].ok && res.key_untrusted);
	trust_anchors_free(t);
	cJSON_Delete(p);
	free(jwt);
}

TEST(no_anchor_is_its_own_reason)
{
	char *jwt = slurp("tng/ear.jwt", NULL);
	struct trust_anchors *empty = trust_anchors_new();
	struct token_expect ex = { .anchors = empty, .now = 1768895717, .leeway = 60 };
	struct token_result res;
	CHECK(token_verify(jwt, strlen(jwt), &ex, &res) == TOKEN_NO_TRUST_ANCHOR);
	trust_anchors_free(empty);
	free(jwt);
}

static cJSON *json_file(const char *rel)
{
	char *text = slurp(rel, NULL);
	cJSON *doc = cJSON_Parse(text ? text : "");
	free(text);
	return doc;
}

/* The key jwk endorses under the anchors of trust_rel at a time inside the fixtures' validity. */
static EVP_PKEY *endorse(const cJSON *jwk, const char *trust_rel, const char *label)
{
	char err[240] = "";
	struct trust_anchors *t = anchors_from(trust_rel);
	EVP_PKEY *key = token_endorsed_key(jwk, trust_anchors_store(t), 1800000000, err, sizeof(err));
	fprintf(stderr, "  %s: %s\n", label, key ? "endorsed" : err);
	trust_anchors_free(t);
	return key;
}

/* tests/data/eku (made by tests/tools/make_eku_fixtures.py): leaves without key usages or with
 * clientAuth are endorsed; one whose EKU lacks clientAuth, or whose key usage lacks
 * digitalSignature, is not. */
TEST(leaf_key_usage_as_tng)
{
	static const struct {
		const char *kind;
		bool endorsed;
	} leaves[] = { { "none", true }, { "client-auth", true }, { "server-auth", false }, { "cert-sign", false } };
	char err[240];
	struct trust_anchors *t = trust_anchors_new();
	CHECK(trust_anchors_add_pem_file(t, "tests/data/eku/ca.pem", err, sizeof(err)) == 0);
	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		char path[128], *text = NULL;
		snprintf(path, sizeof(path), "tests/data/eku/leaf-%s.jwk.json", leaves[i].kind);
		FILE *f = fopen(path, "r");
		size_t n = 0;
		if (f && (text = calloc(1, 4096)))
			n = fread(text, 1, 4095, f);
		if (f)
			fclose(f);
		cJSON *jwk = n ? cJSON_Parse(text) : NULL;
		CHECK(jwk != NULL);
		err[0] = '\0';
		EVP_PKEY *key = jwk ? token_endorsed_key(jwk, trust_anchors_store(t), 1800000000, err, sizeof(err)) : NULL;
		if (!key != !leaves[i].endorsed)
			fprintf(stderr, "  leaf %s: %s\n", leaves[i].kind, key ? "endorsed" : err);
		CHECK(!key == !leaves[i].endorsed);
		CHECK(key || strstr(err, "unsuitable certificate purpose (depth 0)"));
		EVP_PKEY_free(key);
		cJSON_Delete(jwk);
		free(text);
	}
	trust_anchors_free(t);
}

TEST(embedded_key_mode_skips_the_chain_only)
{
	char *jwt = slurp("tng/ear.jwt", NULL);
	struct token_expect ex = { .now = 1768895717, .leeway = 60, .trust_embedded_key = true };
	struct token_result res;
	CHECK(token_verify(jwt, strlen(jwt), &ex, &res) == TOKEN_OK);
	char *last = strrchr(jwt, '.');
	last[5] = last[5] == 'A' ? 'B' : 'A';
	CHECK(token_verify(jwt, strlen(jwt), &ex, &res) == TOKEN_INVALID);
	CHECK(check_failed(&res, "signature"));
	free(jwt);
}

/* TR kbs test_verify_jwk_endorsement_scenarios: 01, 05, 06, 07 pass; 02, 03, 04 fail. */
TEST(kbs_jwk_endorsement_scenarios)
{
	const bool expect_pass[8] = { [1] = true, [5] = true, [6] = true, [7] = true };
	for (int n = 1; n <= 7; n++) {
		char jwk_rel[64], trust_rel[64], label[24];
		snprintf(jwk_rel, sizeof(jwk_rel), "trustee/kbs-jwk/scenario%02d-jwk.json", n);
		snprintf(trust_rel, sizeof(trust_rel), "trustee/kbs-jwk/scenario%02d-trust.pem", n);
		snprintf(label, sizeof(label), "scenario %02d", n);
		cJSON *jwk = json_file(jwk_rel);
		EVP_PKEY *key = endorse(jwk, trust_rel, label);
		CHECK((key != NULL) == expect_pass[n]);
		EVP_PKEY_free(key);
		cJSON_Delete(jwk);
	}
}

/* Standard padded base64 x5c and an x coordinate with a leading zero byte. */
TEST(jwks_fixture_endorsed_and_trusted)
{
	char *text = slurp("trustee/jwk-fixture/expected-jwks.json", NULL);
	cJSON *jwks = cJSON_Parse(text ? text : "");
	const cJSON *jwk = cJSON_GetArrayItem(cJSON_GetObjectItem(jwks, "keys"), 0);
	EVP_PKEY *key = endorse(jwk, "trustee/jwk-fixture/cert-chain.pem", "jwk fixture");
	CHECK(key != NULL);
	struct trust_anchors *keys = trust_anchors_new();
	char err[240];
	CHECK(text && trust_anchors_add_jwks(keys, text, strlen(text), err, sizeof(err)) == 0);
	CHECK(key && trust_anchors_has_key(keys, key));
	EVP_PKEY_free(key);
	trust_anchors_free(keys);
	cJSON_Delete(jwks);
	free(text);
}

TEST(claim_checks_reject_bad_payloads)
{
	cJSON *payload = json_file("trustee/as-docs/example.token.json");
	struct token_expect ex = { .policy_ids = default_policy, .n_policy_ids = 1,
				   .now = claim_time(payload, "iat") + 10, .leeway = 60 };
	struct token_result res = { 0 };
	CHECK(token_check_claims(payload, &ex, &res) == TOKEN_NOT_AFFIRMING);
	CHECK(check_failed(&res, "status"));
	cJSON_Delete(payload);

	cJSON *absurd = cJSON_Parse("{\"exp\": 1e300, \"nbf\": \"soon\", \"evaluation-reports\": []}");
	memset(&res, 0, sizeof(res));
	CHECK(token_check_claims(absurd, &ex, &res) == TOKEN_INVALID);
	CHECK(check_failed(&res, "exp") && check_failed(&res, "nbf"));
	cJSON_Delete(absurd);

	payload = json_file("ear/rust-ear-misc-claims.json");
	memset(&res, 0, sizeof(res));
	CHECK(token_check_claims(payload, &ex, &res) != TOKEN_OK);
	CHECK(check_failed(&res, "profile"));
	cJSON_Delete(payload);

	/* The Simple vector without its TEE, or without its TCB claims, is no appraisal. */
	static const char *const dropped[] = { "tee", "tcb-status" };
	for (size_t i = 0; i < 2; i++) {
		payload = payload_of("tng/simple.jwt");
		ex.now = claim_time(payload, "iat") + 10;
		memset(&res, 0, sizeof(res));
		CHECK(token_check_claims(payload, &ex, &res) == TOKEN_OK);
		CHECK(!check_failed(&res, "status"));
		cJSON_DeleteItemFromObject(payload, dropped[i]);
		memset(&res, 0, sizeof(res));
		CHECK(token_check_claims(payload, &ex, &res) == TOKEN_INVALID);
		CHECK(check_failed(&res, "status"));
		cJSON_Delete(payload);
	}
}

/* Claims of an unexpected shape fail their check; they never crash the verifier. */
TEST(hostile_claim_shapes_fail_cleanly)
{
	static const char *const payloads[] = {
		"{\"eat_profile\":\"" TOKEN_EAR_PROFILE "\",\"exp\":2000000000,\"submods\":{\"cpu0\":"
		"{\"ear.status\":\"affirming\",\"ear.appraisal-policy-id\":\"default\","
		"\"ear.veraison.annotated-evidence\":[{\"runtime_data_claims\":{\"a\":1}}]}}}",
		"{\"eat_profile\":\"" TOKEN_EAR_PROFILE "\",\"exp\":2000000000,\"submods\":{\"cpu0\":"
		"{\"ear.status\":\"affirming\",\"ear.appraisal-policy-id\":\"default\","
		"\"ear.veraison.annotated-evidence\":\"sample\"}}}",
		"{\"eat_profile\":\"" TOKEN_EAR_PROFILE "\",\"exp\":2000000000,\"submods\":{\"cpu0\":[]}}",
		"{\"exp\":2000000000,\"evaluation-reports\":[1,null,[],{\"policy-id\":3}],\"tee\":[],"
		"\"customized_claims\":[{\"runtime_data\":{\"a\":1}}]}",
	};
	cJSON *expected = cJSON_Parse("{\"a\":1}");
	struct token_expect ex = { .policy_ids = default_policy, .n_policy_ids = 1, .runtime_data = expected,
				   .now = 1000, .leeway = 60 };
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		cJSON *payload = cJSON_Parse(payloads[i]);
		struct token_result res = { 0 };
		CHECK(payload && token_check_claims(payload, &ex, &res) != TOKEN_OK);
		CHECK(res.tee[0] == 0);
		cJSON_Delete(payload);
	}
	cJSON_Delete(expected);
}

/* A JWKS refused as a whole leaves nothing of it trusted, however often it is offered. */
TEST(refused_jwks_adds_no_key)
{
	cJSON *jwks = json_file("trustee/jwk-fixture/expected-jwks.json");
	cJSON *keys = cJSON_GetObjectItem(jwks, "keys");
	char err[240], why[160];
	EVP_PKEY *good = jwk_public_key(cJSON_GetArrayItem(keys, 0), why, sizeof(why));
	CHECK(good != NULL);
	cJSON_AddItemToArray(keys, cJSON_Parse("{\"kty\":\"oct\",\"k\":\"AAAA\"}"));
	char *text = cJSON_PrintUnformatted(jwks);
	struct trust_anchors *t = trust_anchors_new();
	for (int attempt = 0; attempt < 2; attempt++)
		CHECK(text && trust_anchors_add_jwks(t, text, strlen(text), err, sizeof(err)) != 0);
	CHECK(trust_anchors_empty(t));
	CHECK(!trust_anchors_has_key(t, good));
	trust_anchors_free(t);
	EVP_PKEY_free(good);
	free(text);
	cJSON_Delete(jwks);
}

/* Empty members are refused by name (and leave nothing allocated: the ASan run checks leaks). */
TEST(empty_jwk_members_refused)
{
	const char *jwks[] = { "{\"kty\":\"RSA\",\"n\":\"\",\"e\":\"AQAB\"}",
			       "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"\"}" };
	const char *reasons[] = { "jwk member \"n\" is empty", "jwk member \"y\" is empty" };
	for (size_t i = 0; i < 2; i++) {
		cJSON *jwk = cJSON_Parse(jwks[i]);
		char why[160] = "";
		CHECK(jwk_public_key(jwk, why, sizeof(why)) == NULL);
		CHECK_STR(why, reasons[i]);
		cJSON_Delete(jwk);
	}
}

TEST(base64_forms)
{
	uint8_t *out;
	size_t n;
	const char *forms[] = { "+/8=", "+/8", "-_8", "-_8=", "+/\n8=" };
	for (size_t i = 0; i < 5; i++) {
		CHECK(b64_decode(forms[i], strlen(forms[i]), &out, &n) == 0);
		CHECK(n == 2 && out[0] == 0xfb && out[1] == 0xff);
		free(out);
	}
	CHECK(b64_decode("+_8", 3, &out, &n) != 0);
	CHECK(b64_decode("A", 1, &out, &n) != 0);
	CHECK(b64_decode("QQ===", 5, &out, &n) != 0);
}

int main(void)
{
	TEST_BEGIN("token");
	RUN(real_tokens_verify_inside_validity);
	RUN(real_tokens_name_their_tee);
	RUN(real_tokens_expire);
	RUN(real_tokens_fail_with_another_ca);
	RUN(policy_ids_must_be_covered);
	RUN(runtime_data_compared_as_json);
	RUN(tampering_is_detected);
	RUN(endorsed_key_remembered_within_validity);
	RUN(no_anchor_is_its_own_reason);
	RUN(leaf_key_usage_as_tng);
	RUN(embedded_key_mode_skips_the_chain_only);
	RUN(kbs_jwk_endorsement_scenarios);
	RUN(jwks_fixture_endorsed_and_trusted);
	RUN(claim_checks_reject_bad_payloads);
	RUN(base64_forms);
	RUN(hostile_claim_shapes_fail_cleanly);
	RUN(refused_jwks_adds_no_key);
	RUN(empty_jwk_members_refused);
	TEST_END();
}
