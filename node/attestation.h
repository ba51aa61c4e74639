/*
 * This node's two attestation duties for the attested handshake, over the attest/ clients:
 * evidence of itself over a runtime-data JSON (hashed as Trustee does: SHA-384 of its JCS form),
 * and the appraisal of a peer's evidence by every configured verifier (all must accept).
 */
#ifndef TNGWG_NODE_ATTESTATION_H
#define TNGWG_NODE_ATTESTATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/loop.h"
#include "policy/config.h"

struct attestation;
struct attestation_op;
struct verifier;

/* A verifier for one `verify` entry of the config (used also by `tng-wg probe`); its
 * connections to the AS carry so_mark. */
struct verifier *attestation_verifier_new(struct loop *loop, const struct verify_config *vc,
					  uint32_t so_mark, uint64_t timeout_ns, char *err, size_t errlen);

struct attestation *attestation_new(struct loop *loop, const struct node_config *cfg, char *err,
				    size_t errlen);
void attestation_free(struct attestation *a);
bool attestation_attests(const struct attestation *a);
bool attestation_verifies(const struct attestation *a);

/* On failure error != 0 and message says why; buffers live for the call only. */
struct own_evidence {
	int error;
	const char *message;
	const char *tee;
	const uint8_t *evidence;
	size_t evidence_len;
	const uint8_t *additional;
	size_t additional_len;
};
typedef void (*own_evidence_fn)(void *ctx, const struct own_evidence *e);

/* The combined verdict: accepted only when every verifier accepted. */
struct peer_verdict {
	bool accepted;
	int reason;             /* enum verdict_reason (attest/verifier.h): the first rejection's, or accepted */
	bool verifier_unavailable; /* rejected because an AS could not be reached, not by policy */
	const char *detail;
	const char *tee;
	const char *policy_ids; /* every verifier's, comma-separated */
	int64_t token_exp;      /* the earliest of the tokens */
};
typedef void (*peer_verdict_fn)(void *ctx, const struct peer_verdict *v);

/* Each returns NULL when the operation could not start; fn is then called before returning. */
struct attestation_op *attestation_get_evidence(struct attestation *a, const char *runtime_data_json,
						own_evidence_fn fn, void *ctx);
struct attestation_op *attestation_verify_peer(struct attestation *a, const char *tee,
					       const uint8_t *evidence, size_t len,
					       const uint8_t *additional, size_t additional_len,
					       const char *expected_runtime_data_json,
					       peer_verdict_fn fn, void *ctx);
/* The callback of a cancelled operation is not called. */
void attestation_op_cancel(struct attestation_op *op);

/* Round trips to the Attestation Services (one per verifier per appraisal, answered or not), as
 * a histogram: counts of those at most ATTESTATION_RTT_BOUNDS[i] seconds, cumulative. */
#define ATTESTATION_RTT_BUCKETS 10
extern const double ATTESTATION_RTT_BOUNDS[ATTESTATION_RTT_BUCKETS];
struct attestation_stats {
	uint64_t rtt_le[ATTESTATION_RTT_BUCKETS];
	uint64_t rtt_count;
	double rtt_sum;
};
void attestation_get_stats(const struct attestation *a, struct attestation_stats *out);

#endif
