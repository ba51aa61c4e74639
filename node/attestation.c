#include "node/attestation.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/evidence.h"
#include "attest/jcs.h"
#include "attest/verifier.h"
#include "common/log.h"

#define AA_TIMEOUT_NS (30 * NSEC_PER_SEC)
#define AS_TIMEOUT_NS (30 * NSEC_PER_SEC)

const double ATTESTATION_RTT_BOUNDS[ATTESTATION_RTT_BUCKETS] = { 0.005, 0.01, 0.025, 0.05, 0.1,
								  0.25, 0.5, 1, 2.5, 10 };

struct attestation {
	struct evidence_source *evidence; /* NULL: this node does not attest */
	struct verifier **verifiers;
	const struct verify_config **verify_configs;
	size_t n_verifiers;
	struct attestation_stats stats;
};

struct verifier_call {
	struct attestation_op *op;
	size_t index;
	struct verify_request *req;
	uint64_t started_ns;
};

struct attestation_op {
	struct attestation *a;
	/* evidence */
	struct evidence_request *evidence_req;
	own_evidence_fn evidence_fn;
	/* verification: one call per verifier, answered in any order */
	struct verifier_call *calls;
	size_t pending;
	peer_verdict_fn verdict_fn;
	bool rejected, unavailable;
	int reason; /* the first rejection's */
	char detail[512];
	char tee[32];
	char policy_ids[256];
	int64_t token_exp;
	void *ctx;
};

struct verifier *attestation_verifier_new(struct loop *loop, const struct verify_config *vc,
					  uint32_t so_mark, uint64_t timeout_ns, char *err, size_t errlen)
{
	struct verifier_config c = {
		.as_addr = vc->as_addr,
		.as_headers = (const char *const *)vc->as_headers,
		.n_headers = vc->n_as_headers,
		.policy_ids = (const char *const *)vc->policy_ids,
		.n_policy_ids = vc->n_policy_ids,
		.trusted_certs_paths = (const char *const *)vc->trusted_certs_paths,
		.n_trusted_certs = vc->n_trusted_certs,
		.timeout_ns = timeout_ns,
		.skip_token_cert_verify = vc->skip_as_token_cert_verify,
		.so_mark = so_mark,
	};
	return verifier_new(loop, &c, err, errlen);
}

struct attestation *attestation_new(struct loop *loop, const struct node_config *cfg, char *err,
				    size_t errlen)
{
	struct attestation *a = calloc(1, sizeof(*a));
	if (!a)
		goto oom;
	if (cfg->attest) {
		a->evidence = evidence_source_new(loop, cfg->attest->aa_addr, AA_TIMEOUT_NS, err, errlen);
		if (!a->evidence)
			goto fail;
	}
	if (cfg->n_verifiers) {
		a->verifiers = calloc(cfg->n_verifiers, sizeof(*a->verifiers));
		a->verify_configs = calloc(cfg->n_verifiers, sizeof(*a->verify_configs));
		if (!a->verifiers || !a->verify_configs)
			goto oom;
	}
	for (size_t i = 0; i < cfg->n_verifiers; i++) {
		a->verify_configs[i] = cfg->verifiers[i];
		a->verifiers[i] = attestation_verifier_new(loop, cfg->verifiers[i], cfg->bypass_mark,
							   AS_TIMEOUT_NS, err, errlen);
		if (!a->verifiers[i])
			goto fail;
		a->n_verifiers = i + 1;
		if (!cfg->verifiers[i]->n_trusted_certs)
			log_warn("attest",
				 "verify with %s has no trusted_certs_paths: its trust anchors come from the "
				 "AS itself, which trusts the network path to it",
				 cfg->verifiers[i]->as_addr);
	}
	return a;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	attestation_free(a);
	return NULL;
}

void attestation_free(struct attestation *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n_verifiers; i++)
		verifier_free(a->verifiers[i]);
	free(a->verifiers);
	free(a->verify_configs);
	evidence_source_free(a->evidence);
	free(a);
}

bool attestation_attests(const struct attestation *a) { return a->evidence != NULL; }
bool attestation_verifies(const struct attestation *a) { return a->n_verifiers > 0; }

static struct attestation_op *op_new(struct attestation *a, void *ctx)
{
	struct attestation_op *op = calloc(1, sizeof(*op));
	if (op) {
		op->a = a;
		op->ctx = ctx;
	}
	return op;
}

static void op_free(struct attestation_op *op)
{
	free(op->calls);
	free(op);
}

static void on_evidence(void *ctx, const struct evidence_result *r)
{
	struct attestation_op *op = ctx;
	struct own_evidence e = {
		.error = r->error,
		.message = r->message,
		.tee = r->tee,
		.evidence = r->evidence,
		.evidence_len = r->evidence_len,
		.additional = r->additional_evidence,
		.additional_len = r->additional_len,
	};
	op->evidence_fn(op->ctx, &e);
	op_free(op);
}

static void evidence_fail_now(own_evidence_fn fn, void *ctx, const char *message)
{
	struct own_evidence e = { .error = -1, .message = message };
	fn(ctx, &e);
}

struct attestation_op *attestation_get_evidence(struct attestation *a, const char *runtime_data_json,
						own_evidence_fn fn, void *ctx)
{
	if (!a->evidence) {
		evidence_fail_now(fn, ctx, "this node has no attest configuration");
		return NULL;
	}
	uint8_t digest[JCS_SHA384_LEN];
	cJSON *json = cJSON_Parse(runtime_data_json);
	int rc = json ? jcs_sha384(json, digest) : -1;
	cJSON_Delete(json);
	struct attestation_op *op = rc == 0 ? op_new(a, ctx) : NULL;
	if (!op) {
		evidence_fail_now(fn, ctx, rc ? "runtime data is not canonicalizable JSON" : "out of memory");
		return NULL;
	}
	op->evidence_fn = fn;
	op->evidence_req = evidence_source_get(a->evidence, digest, sizeof(digest), on_evidence, op);
	if (!op->evidence_req) {
		op_free(op);
		evidence_fail_now(fn, ctx, "cannot start an evidence request");
		return NULL;
	}
	return op;
}

static void append(char *buf, size_t size, const char *sep, const char *text)
{
	size_t len = strlen(buf);
	if (len < size)
		snprintf(buf + len, size - len, "%s%s", len ? sep : "", text);
}

static void record_rtt(struct attestation_stats *st, uint64_t ns)
{
	double s = (double)ns / NSEC_PER_SEC;
	for (size_t i = 0; i < ATTESTATION_RTT_BUCKETS; i++)
		st->rtt_le[i] += s <= ATTESTATION_RTT_BOUNDS[i];
	st->rtt_count++;
	st->rtt_sum += s;
}

void attestation_get_stats(const struct attestation *a, struct attestation_stats *out)
{
	*out = a->stats;
}

static void verdict_deliver(struct attestation_op *op)
{
	struct peer_verdict v = {
		.accepted = !op->rejected,
		.reason = op->reason,
		.verifier_unavailable = op->unavailable,
		.detail = op->detail,
		.tee = op->tee[0] ? op->tee : NULL,
		.policy_ids = op->policy_ids,
		.token_exp = op->token_exp,
	};
	/* v points into op: free it only after the callback (which never cancels a finished op). */
	op->verdict_fn(op->ctx, &v);
	op_free(op);
}

static void on_verdict(void *ctx, const struct verdict *v)
{
	struct verifier_call *call = ctx;
	struct attestation_op *op = call->op;
	size_t i = call->index;
	call->req = NULL;
	op->pending--;
	record_rtt(&op->a->stats, loop_now_ns() - call->started_ns);
	const char *as = op->a->verify_configs[i]->as_addr;
	if (v->reason == VERDICT_ACCEPTED) {
		if (v->tee && !op->tee[0])
			snprintf(op->tee, sizeof(op->tee), "%s", v->tee);
		if (v->policy_ids_text)
			append(op->policy_ids, sizeof(op->policy_ids), ",", v->policy_ids_text);
		if (v->token_exp && (!op->token_exp || v->token_exp < op->token_exp))
			op->token_exp = v->token_exp;
	} else {
		char line[300];
		snprintf(line, sizeof(line), "%s: %s: %s", as, verdict_reason_name(v->reason),
			 v->detail ? v->detail : "");
		append(op->detail, sizeof(op->detail), "; ", line);
		if (!op->rejected)
			op->reason = v->reason;
		op->rejected = true;
		if (v->reason == VERDICT_AS_UNREACHABLE || v->reason == VERDICT_AS_TIMEOUT)
			op->unavailable = true;
		/* One rejection decides: the other verifiers' answers no longer matter. */
		for (size_t k = 0; k < op->a->n_verifiers; k++) {
			if (op->calls[k].req) {
				verify_request_cancel(op->calls[k].req);
				op->calls[k].req = NULL;
				op->pending--;
			}
		}
	}
	if (op->pending == 0)
		verdict_deliver(op);
}

static void verdict_fail_now(peer_verdict_fn fn, void *ctx, const char *detail)
{
	struct peer_verdict v = { .accepted = false, .reason = VERDICT_AS_ERROR, .detail = detail };
	fn(ctx, &v);
}

struct attestation_op *attestation_verify_peer(struct attestation *a, const char *tee,
					       const uint8_t *evidence, size_t len,
					       const uint8_t *additional, size_t additional_len,
					       const char *expected_runtime_data_json,
					       peer_verdict_fn fn, void *ctx)
{
	cJSON *expected = cJSON_Parse(expected_runtime_data_json);
	struct attestation_op *op = expected ? op_new(a, ctx) : NULL;
	if (op)
		op->calls = calloc(a->n_verifiers ? a->n_verifiers : 1, sizeof(*op->calls));
	if (!op || !op->calls) {
		cJSON_Delete(expected);
		if (op)
			op_free(op);
		verdict_fail_now(fn, ctx, expected ? "out of memory" : "runtime data is not JSON");
		return NULL;
	}
	op->verdict_fn = fn;
	for (size_t i = 0; i < a->n_verifiers; i++) {
		struct verifier_call *call = &op->calls[i];
		call->op = op;
		call->index = i;
		call->started_ns = loop_now_ns();
		call->req = verifier_appraise(a->verifiers[i], tee, evidence, len, additional,
					      additional_len, expected, on_verdict, call);
		if (!call->req) {
			if (!op->rejected)
				op->reason = VERDICT_AS_ERROR;
			op->rejected = true;
			append(op->detail, sizeof(op->detail), "; ", "cannot start an appraisal");
			continue;
		}
		op->pending++;
	}
	cJSON_Delete(expected);
	if (op->pending == 0) {
		verdict_deliver(op);
		return NULL;
	}
	return op;
}

void attestation_op_cancel(struct attestation_op *op)
{
	if (!op)
		return;
	if (op->evidence_req)
		evidence_request_cancel(op->evidence_req);
	if (op->calls)
		for (size_t i = 0; i < op->a->n_verifiers; i++)
			if (op->calls[i].req)
				verify_request_cancel(op->calls[i].req);
	op_free(op);
}
