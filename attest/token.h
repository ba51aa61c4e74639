/*
 * Checks of an Attestation Service token, synchronous: the EAR token of current Trustee and the
 * Simple token of Trustee v0.9-v0.15. Signature: header "jwk" (+ "x5c" chained to the anchors, or
 * equal to a trusted JWKS key), "alg" ES256/ES384/RS256/RS384. Claims: exp (required) and nbf
 * with leeway; EAR profile, every submod affirming, policy ids, runtime-data claims; Simple
 * evaluation-reports and customized_claims.runtime_data. Every check is reported by name.
 */
#ifndef TNGWG_ATTEST_TOKEN_H
#define TNGWG_ATTEST_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>

struct trust_anchors;

#define TOKEN_EAR_PROFILE "tag:github.com,2024:confidential-containers/Trustee"
#define TOKEN_DEFAULT_LEEWAY 60

/* The first failed check decides the status. */
enum token_status {
	TOKEN_OK,
	TOKEN_INVALID,               /* format, alg, key, chain, signature */
	TOKEN_EXPIRED,               /* exp passed or nbf ahead */
	TOKEN_NOT_AFFIRMING,
	TOKEN_POLICY_MISMATCH,
	TOKEN_RUNTIME_DATA_MISMATCH,
	TOKEN_NO_TRUST_ANCHOR,
};

struct token_expect {
	struct trust_anchors *anchors;         /* NULL or empty: signature cannot be trusted; they
						  remember the last key they endorsed */
	const char *const *policy_ids;         /* every one must be covered */
	size_t n_policy_ids;
	const cJSON *runtime_data;             /* NULL: not checked */
	int64_t now;                           /* evaluation time (Unix seconds); 0 = time(NULL) */
	int64_t leeway;                        /* seconds for exp/nbf */
	bool trust_embedded_key;               /* accept the header's jwk unchecked (testing only) */
};

struct token_check {
	char name[24];
	bool ok;
	char detail[240];
};

#define TOKEN_MAX_CHECKS 16
struct token_result {
	enum token_status status;
	struct token_check checks[TOKEN_MAX_CHECKS];
	size_t n_checks;
	char tee[32];                /* "" when the token does not say */
	int64_t exp;                 /* 0 when absent */
	char policy_ids[128];        /* the policy ids the token names, comma-separated */
	bool key_untrusted;          /* the "key" check failed: the anchors endorse no key of it */
};

/* Verify a compact JWS. Returns res->status (TOKEN_OK only when every check passed). */
enum token_status token_verify(const char *jwt, size_t len, const struct token_expect *ex,
			       struct token_result *res);

/* Only the claim checks (exp/nbf, profile, status, policy, runtime data) of a decoded payload. */
enum token_status token_check_claims(const cJSON *payload, const struct token_expect *ex,
				     struct token_result *res);

/*
 * The key a JWK header endorses: the JWK's key, which must equal the public key of x5c[0], with
 * x5c[0] chaining to store (x5c[1..] untrusted intermediates) at time now. NULL with a reason.
 */
EVP_PKEY *token_endorsed_key(const cJSON *jwk, X509_STORE *store, int64_t now, char *err,
			     size_t errlen);

const char *token_status_name(enum token_status s);

/* One line per check: "  ok   name  detail" or "  FAIL name  detail". */
void token_result_print(const struct token_result *res, FILE *out);

#endif
