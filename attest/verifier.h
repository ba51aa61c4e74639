/*
 * The verifier the daemon uses: a peer's evidence goes to the Trustee Attestation Service, the
 * returned token is checked against the trust anchors, the policy ids and the runtime data the
 * peer must have bound, and the outcome is one verdict. Everything runs on the caller's loop.
 */
#ifndef TNGWG_ATTEST_VERIFIER_H
#define TNGWG_ATTEST_VERIFIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct loop;
struct token_result;

struct verifier_config {
	const char *as_addr;                     /* http:// or https:// */
	const char *const *as_headers;           /* "Name: value" */
	size_t n_headers;
	const char *const *policy_ids;
	size_t n_policy_ids;
	const char *const *trusted_certs_paths;  /* none: fetch anchors from the AS once and pin
						    them (a new verifier fetches them again) */
	size_t n_trusted_certs;
	const char *ca_file;                     /* for an https AS; NULL = system CAs */
	uint64_t timeout_ns;                     /* total deadline of one appraisal; 0 = 30 s */
	uint32_t so_mark;                        /* SO_MARK on connections to the AS; 0 = none */
	bool skip_token_cert_verify;             /* TNG's skip_as_token_cert_verify: trust the token's
						    own jwk (testing only; anyone can forge) */
};

struct verifier;
struct verify_request;

/* NULL with a message in err when the config cannot work (unreadable PEM, bad address). */
struct verifier *verifier_new(struct loop *loop, const struct verifier_config *cfg, char *err,
			      size_t errlen);
/* Cancels every pending request without calling its callback. */
void verifier_free(struct verifier *v);

enum verdict_reason {
	VERDICT_ACCEPTED,
	VERDICT_AS_UNREACHABLE,
	VERDICT_AS_TIMEOUT,
	VERDICT_AS_ERROR,              /* HTTP error from the AS */
	VERDICT_TOKEN_INVALID,         /* signature, chain, alg, format */
	VERDICT_TOKEN_EXPIRED,
	VERDICT_NOT_AFFIRMING,
	VERDICT_POLICY_MISMATCH,
	VERDICT_RUNTIME_DATA_MISMATCH,
	VERDICT_NO_TRUST_ANCHOR,
};

/* Valid only during the callback. */
struct verdict {
	enum verdict_reason reason;
	const char *detail;            /* which check failed and why, or a summary on success */
	const char *tee;               /* may be NULL */
	int64_t token_exp;             /* 0 when unknown */
	const char *policy_ids_text;   /* the policy ids the token was appraised under */
	const char *token;             /* the AS's token, NULL when none came back */
	const struct token_result *checks; /* every token check (attest/token.h), or NULL */
};

/* Called exactly once per request unless the request is cancelled first. */
typedef void (*verdict_fn)(void *ctx, const struct verdict *v);

/*
 * Start an appraisal. evidence is the AA's evidence bytes; additional_evidence (may be empty) the
 * AA's JSON object of extra devices; runtime_data the structured JSON the peer must have bound
 * (copied). NULL only when out of memory; every other failure arrives through done, never from
 * inside this call.
 */
struct verify_request *verifier_appraise(struct verifier *v, const char *tee,
					 const uint8_t *evidence, size_t evidence_len,
					 const uint8_t *additional_evidence, size_t additional_len,
					 const cJSON *runtime_data, verdict_fn done, void *ctx);
void verify_request_cancel(struct verify_request *r);

const char *verdict_reason_name(enum verdict_reason r);

#endif
