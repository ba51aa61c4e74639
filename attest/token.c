#include "attest/token.h"

#include "attest/b64.h"
#include "attest/jwk.h"
#include "attest/trust.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *token_status_name(enum token_status s)
{
	static const char *const names[] = {
		[TOKEN_OK] = "ok",
		[TOKEN_INVALID] = "token invalid",
		[TOKEN_EXPIRED] = "token expired",
		[TOKEN_NOT_AFFIRMING] = "not affirming",
		[TOKEN_POLICY_MISMATCH] = "policy mismatch",
		[TOKEN_RUNTIME_DATA_MISMATCH] = "runtime data mismatch",
		[TOKEN_NO_TRUST_ANCHOR] = "no trust anchor",
	};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "unknown";
}

void token_result_print(const struct token_result *res, FILE *out)
{
	for (size_t i = 0; i < res->n_checks; i++)
		fprintf(out, "  %s %-13s %s\n", res->checks[i].ok ? "ok  " : "FAIL", res->checks[i].name,
			res->checks[i].detail);
}

/* Append one check line; the first failure decides the status. Returns ok. */
__attribute__((format(printf, 5, 6)))
static bool record(struct token_result *res, const char *name, bool ok, enum token_status fail_as,
		   const char *fmt, ...)
{
	if (!ok && res->status == TOKEN_OK)
		res->status = fail_as;
	if (res->n_checks == TOKEN_MAX_CHECKS)
		return ok;
	struct token_check *c = &res->checks[res->n_checks++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->ok = ok;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
	return ok;
}

static const cJSON *member(const cJSON *obj, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static const char *member_string(const cJSON *obj, const char *name)
{
	const cJSON *m = member(obj, name);
	return cJSON_IsString(m) ? m->valuestring : NULL;
}

/* ---- signature ---- */

static X509 *decode_cert(const cJSON *item)
{
	uint8_t *der;
	size_t len;
	if (!cJSON_IsString(item) ||
	    b64_decode(item->valuestring, strlen(item->valuestring), &der, &len) != 0)
		return NULL;
	const unsigned char *p = der;
	X509 *cert = d2i_X509(NULL, &p, (long)len);
	if (cert && p != der + len) {
		X509_free(cert);
		cert = NULL;
	}
	free(der);
	return cert;
}

/* Narrows [*from, *until] to the times every certificate of chain is valid. */
static void chain_validity(STACK_OF(X509) *chain, int64_t *from, int64_t *until)
{
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *cert = sk_X509_value(chain, i);
		struct tm tm;
		int64_t t;
		if (ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm) == 1 && (t = timegm(&tm)) > *from)
			*from = t;
		if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1 && (t = timegm(&tm)) < *until)
			*until = t;
	}
}

/* On success [*from, *until] is when the verified chain (anchor included) is valid. */
static bool chain_verifies(X509 *leaf, STACK_OF(X509) *untrusted, X509_STORE *store, int64_t now,
			   int64_t *from, int64_t *until, char *err, size_t errlen)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = false;
	if (ctx && X509_STORE_CTX_init(ctx, store, leaf, untrusted) == 1) {
		X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
		/* As TNG: a leaf that names its uses must allow signing for a client (an extended key
		 * usage without clientAuth, or a key usage without digitalSignature, is refused). */
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
		ok = X509_verify_cert(ctx) == 1;
		/* Checked at now, so now is within: a validity that cannot be read narrows it to now. */
		*from = *until = now;
		if (ok) {
			*from = INT64_MIN;
			*until = INT64_MAX;
			chain_validity(X509_STORE_CTX_get0_chain(ctx), from, until);
			if (*from > now || *until < now)
				*from = *until = now;
		}
		if (!ok)
			snprintf(err, errlen, "x5c does not chain to a trusted certificate: %s (depth %d)",
				 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)),
				 X509_STORE_CTX_get_error_depth(ctx));
	} else {
		snprintf(err, errlen, "out of memory");
	}
	X509_STORE_CTX_free(ctx);
	return ok;
}

static EVP_PKEY *endorsed_key(const cJSON *jwk, X509_STORE *store, int64_t now, int64_t *from,
			      int64_t *until, char *err, size_t errlen)
{
	const cJSON *x5c = member(jwk, "x5c"), *item;
	if (!cJSON_IsArray(x5c) || cJSON_GetArraySize(x5c) == 0) {
		snprintf(err, errlen, "jwk has no x5c certificate chain");
		return NULL;
	}
	EVP_PKEY *key = jwk_public_key(jwk, err, errlen);
	X509 *leaf = NULL;
	STACK_OF(X509) *untrusted = sk_X509_new_null();
	int i = 0;
	if (!key || !untrusted)
		goto fail;
	cJSON_ArrayForEach(item, x5c) {
		X509 *cert = decode_cert(item);
		if (!cert) {
			snprintf(err, errlen, "x5c[%d] is not a base64 DER certificate", i);
			goto fail;
		}
		if (i++ == 0)
			leaf = cert;
		else
			sk_X509_push(untrusted, cert);
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(leaf), key) != 1) {
		snprintf(err, errlen, "the public key of x5c[0] differs from the jwk");
		goto fail;
	}
	if (!chain_verifies(leaf, untrusted, store, now, from, until, err, errlen))
		goto fail;
	X509_free(leaf);
	sk_X509_pop_free(untrusted, X509_free);
	return key;
fail:
	EVP_PKEY_free(key);
	X509_free(leaf);
	sk_X509_pop_free(untrusted, X509_free);
	return NULL;
}

EVP_PKEY *token_endorsed_key(const cJSON *jwk, X509_STORE *store, int64_t now, char *err,
			     size_t errlen)
{
	int64_t from, until;
	return endorsed_key(jwk, store, now, &from, &until, err, errlen);
}

struct jws_alg {
	const char *name;
	const char *key_type;   /* "EC" or "RSA" */
	const char *group;      /* EC curve, NULL for RSA */
	size_t field;           /* EC coordinate bytes */
	const EVP_MD *(*md)(void);
};

static const struct jws_alg jws_algs[] = {
	{ "ES256", "EC", "prime256v1", 32, EVP_sha256 },
	{ "ES384", "EC", "secp384r1", 48, EVP_sha384 },
	{ "RS256", "RSA", NULL, 0, EVP_sha256 },
	{ "RS384", "RSA", NULL, 0, EVP_sha384 },
};

static const struct jws_alg *find_alg(const char *name)
{
	for (size_t i = 0; name && i < sizeof(jws_algs) / sizeof(jws_algs[0]); i++)
		if (!strcmp(jws_algs[i].name, name))
			return &jws_algs[i];
	return NULL;
}

#define MIN_RSA_BITS 2048

static bool key_fits_alg(EVP_PKEY *key, const struct jws_alg *alg)
{
	if (!EVP_PKEY_is_a(key, alg->key_type))
		return false;
	if (!alg->group)
		return EVP_PKEY_get_bits(key) >= MIN_RSA_BITS;
	char group[32] = "";
	return EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) == 1 &&
	       !strcmp(group, alg->group);
}

/* JWS carries ECDSA signatures as r||s; OpenSSL wants DER. */
static uint8_t *ecdsa_der(const uint8_t *sig, size_t len, size_t field, size_t *der_len)
{
	if (len != 2 * field)
		return NULL;
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)field, NULL), *s = BN_bin2bn(sig + field, (int)field, NULL);
	uint8_t *der = NULL;
	if (es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;
		int n = i2d_ECDSA_SIG(es, &der);
		*der_len = n > 0 ? (size_t)n : 0;
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return der;
}

static bool signature_verifies(EVP_PKEY *key, const struct jws_alg *alg, const char *signed_part,
			       size_t signed_len, const uint8_t *sig, size_t sig_len)
{
	uint8_t *der = NULL;
	size_t der_len = 0;
	if (alg->group) {
		if (!(der = ecdsa_der(sig, sig_len, alg->field, &der_len)))
			return false;
		sig = der;
		sig_len = der_len;
	}
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && EVP_DigestVerifyInit(md, NULL, alg->md(), NULL, key) == 1 &&
		  EVP_DigestVerify(md, sig, sig_len, (const uint8_t *)signed_part, signed_len) == 1;
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	return ok;
}

#define KEY_BY_JWKS "jwk equals a key of the AS's JWKS"
#define KEY_BY_CHAIN "jwk matches x5c[0], which chains to a trusted CA"

/* The trusted key of the header (text: its base64url form), recording the "key" check; NULL
 * when untrusted. */
static EVP_PKEY *header_key(const cJSON *header, const char *text, size_t text_len,
			    const struct token_expect *ex, int64_t now, struct token_result *res)
{
	const cJSON *jwk = member(header, "jwk");
	char why[200] = "";
	if (!cJSON_IsObject(jwk)) {
		record(res, "key", false, TOKEN_INVALID, "header has no \"jwk\" (only embedded keys are supported)");
		return NULL;
	}
	if (ex->trust_embedded_key) {
		EVP_PKEY *key = jwk_public_key(jwk, why, sizeof(why));
		record(res, "key", key != NULL, TOKEN_INVALID, "%s", key ? "the token's own jwk, unchecked (skip_as_token_cert_verify)" : why);
		return key;
	}
	if (trust_anchors_empty(ex->anchors)) {
		record(res, "key", false, TOKEN_NO_TRUST_ANCHOR, "no trust anchor configured or fetched");
		return NULL;
	}
	bool by_jwks;
	EVP_PKEY *key = trust_anchors_recall(ex->anchors, text, text_len, now, &by_jwks);
	if (key) {
		record(res, "key", true, TOKEN_OK, "%s", by_jwks ? KEY_BY_JWKS : KEY_BY_CHAIN);
		return key;
	}
	key = jwk_public_key(jwk, why, sizeof(why));
	if (key && trust_anchors_has_key(ex->anchors, key)) {
		record(res, "key", true, TOKEN_OK, KEY_BY_JWKS);
		trust_anchors_remember(ex->anchors, text, text_len, key, INT64_MIN, INT64_MAX, true);
		return key;
	}
	EVP_PKEY_free(key);
	key = NULL;
	X509_STORE *store = trust_anchors_store(ex->anchors);
	int64_t from, until;
	if (!store)
		snprintf(why, sizeof(why), "jwk matches no trusted JWKS key and no CA certificate is trusted");
	else
		key = endorsed_key(jwk, store, now, &from, &until, why, sizeof(why));
	if (key) {
		record(res, "key", true, TOKEN_OK, KEY_BY_CHAIN);
		trust_anchors_remember(ex->anchors, text, text_len, key, from, until, false);
	} else
		res->key_untrusted = !record(res, "key", false, TOKEN_INVALID, "%s", why);
	return key;
}

/* ---- claims ---- */

static bool policy_listed(const char *id, const char *const *ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ids[i], id))
			return true;
	return false;
}

static void append_policy_id(struct token_result *res, const char *id)
{
	size_t used = strlen(res->policy_ids);
	snprintf(res->policy_ids + used, sizeof(res->policy_ids) - used, "%s%s", used ? "," : "", id);
}

/* Every configured id must be among the token's (collected in found). */
static void check_policy_cover(const char *const *found, size_t n_found, const struct token_expect *ex,
			       struct token_result *res)
{
	for (size_t i = 0; i < ex->n_policy_ids; i++)
		if (!policy_listed(ex->policy_ids[i], found, n_found)) {
			record(res, "policy", false, TOKEN_POLICY_MISMATCH,
			       "policy id \"%s\" is not among the token's (%s)", ex->policy_ids[i],
			       res->policy_ids[0] ? res->policy_ids : "none");
			return;
		}
	record(res, "policy", true, TOKEN_OK, "appraised under %s", res->policy_ids[0] ? res->policy_ids : "no policy id");
}

static void check_runtime_data(const cJSON *claims, const char *where, const struct token_expect *ex,
			       struct token_result *res)
{
	if (!ex->runtime_data)
		return;
	if (claims && cJSON_Compare(claims, ex->runtime_data, true)) {
		record(res, "runtime_data", true, TOKEN_OK, "%s equals the expected runtime data", where);
		return;
	}
	char *got = claims ? cJSON_PrintUnformatted(claims) : NULL;
	record(res, "runtime_data", false, TOKEN_RUNTIME_DATA_MISMATCH,
	       "%s %.160s differs from the expected runtime data", where, got ? got : "is absent");
	free(got);
}

static const char *const annotation_keys[] = { "report_data", "runtime_data_claims", "init_data",
					       "init_data_claims" };

/* The TEE name is the one annotated-evidence key that is not an annotation. */
static void note_tee(const cJSON *annotated, struct token_result *res)
{
	const cJSON *item;
	if (!cJSON_IsObject(annotated))
		return; /* an array's items have no names */
	cJSON_ArrayForEach(item, annotated) {
		bool annotation = false;
		for (size_t i = 0; i < sizeof(annotation_keys) / sizeof(annotation_keys[0]); i++)
			annotation |= !strcmp(item->string, annotation_keys[i]);
		if (!annotation) {
			snprintf(res->tee, sizeof(res->tee), "%s", item->string);
			return;
		}
	}
}

static void check_ear(const cJSON *payload, const struct token_expect *ex, struct token_result *res)
{
	const cJSON *submods = member(payload, "submods"), *sub, *cpu = NULL;
	if (!cJSON_IsObject(submods) || !submods->child) {
		record(res, "status", false, TOKEN_INVALID, "EAR token has no submods");
		return;
	}
	const char *bad = NULL, *bad_status = NULL;
	const char *found[16];
	size_t n_found = 0;
	bool missing_policy = false;
	cJSON_ArrayForEach(sub, submods) {
		const char *status = member_string(sub, "ear.status");
		const char *policy = member_string(sub, "ear.appraisal-policy-id");
		if (!bad && (!status || strcmp(status, "affirming"))) {
			bad = sub->string;
			bad_status = status ? status : "no ear.status";
		}
		if (!policy)
			missing_policy = true;
		else if (n_found < 16 && !policy_listed(policy, found, n_found)) {
			found[n_found++] = policy;
			append_policy_id(res, policy);
		}
		if (!cpu && !strncmp(sub->string, "cpu", 3))
			cpu = sub;
	}
	if (bad)
		record(res, "status", false, TOKEN_NOT_AFFIRMING, "submod %s is %s, not affirming", bad, bad_status);
	else
		record(res, "status", true, TOKEN_OK, "every submod is affirming");
	if (missing_policy)
		record(res, "policy", false, TOKEN_POLICY_MISMATCH, "a submod has no ear.appraisal-policy-id");
	else
		check_policy_cover(found, n_found, ex, res);
	const cJSON *annotated = member(cpu, "ear.veraison.annotated-evidence");
	note_tee(annotated, res);
	check_runtime_data(member(annotated, "runtime_data_claims"), "runtime_data_claims of the cpu submod", ex, res);
}

/*
 * Trustee's Simple token (v0.9-v0.15) has no status claim: the AS issues one only when every
 * policy allowed, and fails the request otherwise. What stands for its status is that it is one
 * such appraisal, of a named TEE with its TCB claims (a JSON string), as every AS of those
 * versions wrote it.
 */
static void check_simple_appraisal(const cJSON *payload, struct token_result *res)
{
	const char *tee = member_string(payload, "tee");
	const cJSON *tcb = member(payload, "tcb-status");
	record(res, "status", tee && *tee && cJSON_IsString(tcb), TOKEN_INVALID, "%s",
	       !tee || !*tee	  ? "Simple token names no TEE (\"tee\")"
	       : !cJSON_IsString(tcb) ? "Simple token carries no appraised TCB claims (\"tcb-status\")"
				      : "Simple token: issued only when every policy allowed");
}

static void check_simple(const cJSON *payload, const struct token_expect *ex, struct token_result *res)
{
	check_simple_appraisal(payload, res);
	const cJSON *reports = member(payload, "evaluation-reports"), *r;
	const char *found[16];
	size_t n_found = 0;
	cJSON_ArrayForEach(r, reports) {
		const char *id = member_string(r, "policy-id");
		if (id && n_found < 16) {
			found[n_found++] = id;
			append_policy_id(res, id);
		}
	}
	check_policy_cover(found, n_found, ex, res);
	const char *tee = member_string(payload, "tee");
	snprintf(res->tee, sizeof(res->tee), "%s", tee ? tee : "");
	check_runtime_data(member(member(payload, "customized_claims"), "runtime_data"),
			   "customized_claims.runtime_data", ex, res);
}

/* A NumericDate claim as whole seconds; false when absent, not a number or out of range. */
static bool claim_time(const cJSON *payload, const char *name, int64_t *out)
{
	const cJSON *v = member(payload, name);
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 1e15))
		return false;
	*out = (int64_t)v->valuedouble;
	return true;
}

static void check_times(const cJSON *payload, int64_t now, int64_t leeway, struct token_result *res)
{
	int64_t nbf = 0;
	if (!claim_time(payload, "exp", &res->exp))
		record(res, "exp", false, TOKEN_INVALID, "token has no valid numeric \"exp\"");
	else
		record(res, "exp", now <= res->exp + leeway, TOKEN_EXPIRED, "exp %lld, now %lld (leeway %llds)",
		       (long long)res->exp, (long long)now, (long long)leeway);
	if (member(payload, "nbf") && !claim_time(payload, "nbf", &nbf))
		record(res, "nbf", false, TOKEN_INVALID, "\"nbf\" is not a valid number");
	else if (member(payload, "nbf"))
		record(res, "nbf", nbf <= now + leeway, TOKEN_EXPIRED, "nbf %lld, now %lld (leeway %llds)",
		       (long long)nbf, (long long)now, (long long)leeway);
}

static int64_t eval_time(const struct token_expect *ex)
{
	return ex->now ? ex->now : (int64_t)time(NULL);
}

enum token_status token_check_claims(const cJSON *payload, const struct token_expect *ex,
				     struct token_result *res)
{
	check_times(payload, eval_time(ex), ex->leeway, res);
	const cJSON *profile = member(payload, "eat_profile");
	if (profile) {
		bool ear = cJSON_IsString(profile) && !strcmp(profile->valuestring, TOKEN_EAR_PROFILE);
		if (record(res, "profile", ear, TOKEN_INVALID, ear ? "EAR (%s)" : "eat_profile %.120s is not %s",
			   ear ? TOKEN_EAR_PROFILE : (cJSON_IsString(profile) ? profile->valuestring : "(not a string)"),
			   TOKEN_EAR_PROFILE))
			check_ear(payload, ex, res);
	} else if (record(res, "profile", cJSON_IsArray(member(payload, "evaluation-reports")), TOKEN_INVALID,
			  "%s", member(payload, "evaluation-reports") ? "Simple token (evaluation-reports)"
								      : "neither an EAR eat_profile nor Simple evaluation-reports")) {
		check_simple(payload, ex, res);
	}
	return res->status;
}

/* ---- the whole token ---- */

static cJSON *decode_json_part(const char *part, size_t len)
{
	uint8_t *raw;
	size_t raw_len;
	if (b64_decode(part, len, &raw, &raw_len) != 0)
		return NULL;
	cJSON *doc = cJSON_ParseWithLength((const char *)raw, raw_len);
	free(raw);
	return cJSON_IsObject(doc) ? doc : (cJSON_Delete(doc), NULL);
}

enum token_status token_verify(const char *jwt, size_t len, const struct token_expect *ex,
			       struct token_result *res)
{
	memset(res, 0, sizeof(*res));
	while (len && (jwt[len - 1] == '\n' || jwt[len - 1] == '\r' || jwt[len - 1] == ' '))
		len--;
	const char *dot1 = memchr(jwt, '.', len);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jwt)) : NULL;
	const char *end = jwt + len;
	if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1))) {
		record(res, "format", false, TOKEN_INVALID, "not a compact JWS (three base64url parts)");
		return res->status;
	}
	cJSON *header = decode_json_part(jwt, (size_t)(dot1 - jwt));
	cJSON *payload = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	EVP_PKEY *key = NULL;
	if (!header || !payload || b64_decode(dot2 + 1, (size_t)(end - dot2 - 1), &sig, &sig_len) != 0) {
		record(res, "format", false, TOKEN_INVALID, "%s is not base64url JSON",
		       !header ? "header" : !payload ? "payload" : "signature part");
		goto out;
	}
	record(res, "format", true, TOKEN_OK, "compact JWS");
	const char *alg_name = member_string(header, "alg");
	const char *jwk_alg = member_string(member(header, "jwk"), "alg");
	const struct jws_alg *alg = find_alg(alg_name);
	if (!record(res, "alg", alg && (!jwk_alg || !strcmp(jwk_alg, alg_name)), TOKEN_INVALID,
		    alg ? (jwk_alg && strcmp(jwk_alg, alg_name) ? "header alg %s differs from jwk alg" : "%s")
			: "alg %.40s is not ES256, ES384, RS256 or RS384",
		    alg_name ? alg_name : "(none)"))
		goto out;
	int64_t now = eval_time(ex);
	key = header_key(header, jwt, (size_t)(dot1 - jwt), ex, now, res);
	if (!key)
		goto out;
	bool fits = key_fits_alg(key, alg);
	bool valid = fits && signature_verifies(key, alg, jwt, (size_t)(dot2 - jwt), sig, sig_len);
	if (!record(res, "signature", valid, TOKEN_INVALID, "%s signature %s", alg->name,
		    valid ? "valid" : fits ? "does not verify" : "impossible: the key does not fit the alg (type, curve, RSA >= 2048 bits)"))
		goto out;
	token_check_claims(payload, ex, res);
out:
	EVP_PKEY_free(key);
	free(sig);
	cJSON_Delete(header);
	cJSON_Delete(payload);
	return res->status;
}
