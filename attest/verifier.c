#include "attest/verifier.h"

#include "attest/as_client.h"
#include "attest/token.h"
#include "attest/trust.h"
#include "common/log.h"
#include "common/loop.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_NS (30 * NSEC_PER_SEC)

struct verifier {
	struct loop *loop;
	struct as_client *as;
	char **policy_ids;
	size_t n_policy_ids;
	char *policy_text;               /* configured ids, comma-separated */
	uint64_t timeout_ns;
	struct trust_anchors *anchors;
	bool anchors_ready;
	bool anchors_fetched;            /* from the AS, not configured */
	bool trust_embedded_key;
	struct as_call *anchor_call;     /* fetching anchors from the AS */
	char certificate_error[200];     /* why GET /certificate did not give anchors */
	struct verify_request *requests;
	int dispatching;
	bool doomed;
};

struct verify_request {
	struct verifier *v;
	struct verify_request *prev, *next;
	struct as_call *call;            /* POST /attestation pending */
	char *token;                     /* received, waiting for the anchors */
	cJSON *runtime_data;
	char *tee;
	struct loop_timer deadline;
	verdict_fn done;
	void *ctx;
};

const char *verdict_reason_name(enum verdict_reason r)
{
	static const char *const names[] = {
		[VERDICT_ACCEPTED] = "accepted",
		[VERDICT_AS_UNREACHABLE] = "as-unreachable",
		[VERDICT_AS_TIMEOUT] = "as-timeout",
		[VERDICT_AS_ERROR] = "as-error",
		[VERDICT_TOKEN_INVALID] = "token-invalid",
		[VERDICT_TOKEN_EXPIRED] = "token-expired",
		[VERDICT_NOT_AFFIRMING] = "not-affirming",
		[VERDICT_POLICY_MISMATCH] = "policy-mismatch",
		[VERDICT_RUNTIME_DATA_MISMATCH] = "runtime-data-mismatch",
		[VERDICT_NO_TRUST_ANCHOR] = "no-trust-anchor",
	};
	return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "unknown";
}

/* ---- requests ---- */

static void request_free(struct verify_request *r)
{
	struct verifier *v = r->v;
	if (r->prev)
		r->prev->next = r->next;
	else if (v->requests == r)
		v->requests = r->next;
	if (r->next)
		r->next->prev = r->prev;
	as_call_cancel(r->call);
	loop_timer_cancel(v->loop, &r->deadline);
	cJSON_Delete(r->runtime_data);
	free(r->token);
	free(r->tee);
	free(r);
}

void verify_request_cancel(struct verify_request *r)
{
	if (r)
		request_free(r);
}

/* Deliver the verdict and free the request. The callback may free the verifier: callers touch
 * it afterwards only under v->dispatching. */
static void conclude(struct verify_request *r, struct verdict *vd)
{
	struct verifier *v = r->v;
	if (!vd->tee)
		vd->tee = r->tee;
	if (!vd->policy_ids_text)
		vd->policy_ids_text = v->policy_text;
	verdict_fn done = r->done;
	void *ctx = r->ctx;
	char *tee = r->tee;
	r->tee = NULL;
	request_free(r);
	if (vd->reason == VERDICT_ACCEPTED)
		log_info("verify", "accepted: %s", vd->detail);
	else
		log_warn("verify", "rejected (%s): %s", verdict_reason_name(vd->reason), vd->detail);
	done(ctx, vd);
	free(tee);
}

static void conclude_with(struct verify_request *r, enum verdict_reason reason, const char *detail)
{
	struct verdict vd = { .reason = reason, .detail = detail };
	conclude(r, &vd);
}

static enum verdict_reason reason_of(enum token_status s)
{
	switch (s) {
	case TOKEN_OK: return VERDICT_ACCEPTED;
	case TOKEN_EXPIRED: return VERDICT_TOKEN_EXPIRED;
	case TOKEN_NOT_AFFIRMING: return VERDICT_NOT_AFFIRMING;
	case TOKEN_POLICY_MISMATCH: return VERDICT_POLICY_MISMATCH;
	case TOKEN_RUNTIME_DATA_MISMATCH: return VERDICT_RUNTIME_DATA_MISMATCH;
	case TOKEN_NO_TRUST_ANCHOR: return VERDICT_NO_TRUST_ANCHOR;
	case TOKEN_INVALID: break;
	}
	return VERDICT_TOKEN_INVALID;
}

static void check_token(struct verify_request *r)
{
	struct verifier *v = r->v;
	struct token_expect ex = {
		.anchors = v->anchors, .policy_ids = (const char *const *)v->policy_ids,
		.n_policy_ids = v->n_policy_ids, .runtime_data = r->runtime_data,
		.leeway = TOKEN_DEFAULT_LEEWAY, .trust_embedded_key = v->trust_embedded_key,
	};
	struct token_result res;
	enum token_status st = token_verify(r->token, strlen(r->token), &ex, &res);
	char detail[480];
	const struct token_check *failed = NULL;
	for (size_t i = 0; i < res.n_checks && !failed; i++)
		if (!res.checks[i].ok)
			failed = &res.checks[i];
	/* Anchors fetched from the AS are pinned: a key swapped in later by someone on the path to
	 * the AS must not be taken; an operator who changed the AS's key reloads the node. */
	if (failed && res.key_untrusted && v->anchors_fetched)
		snprintf(detail, sizeof(detail), "the token's key is not among the AS keys pinned at start-up "
			 "(if the AS's key changed, run 'tng-wg reload'): %s", failed->detail);
	else if (failed)
		snprintf(detail, sizeof(detail), "token check %s failed: %s", failed->name, failed->detail);
	else
		snprintf(detail, sizeof(detail), "token verified: tee %s, policy %s, exp %lld",
			 res.tee[0] ? res.tee : "?", res.policy_ids, (long long)res.exp);
	char *token = r->token;
	r->token = NULL;
	struct verdict vd = {
		.reason = reason_of(st), .detail = detail, .tee = res.tee[0] ? res.tee : NULL,
		.token_exp = res.exp, .policy_ids_text = res.policy_ids[0] ? res.policy_ids : NULL,
		.token = token, .checks = &res,
	};
	conclude(r, &vd);
	free(token);
}

/* ---- trust anchors from the AS ---- */

/* Settle every request waiting for anchors; stops if a callback frees the verifier. */
static void settle_waiting(struct verifier *v, const char *failure)
{
	v->dispatching++;
	for (;;) {
		struct verify_request *r = v->requests;
		while (r && !r->token)
			r = r->next;
		if (!r || v->doomed || (!failure && !v->anchors_ready))
			break;
		if (failure)
			conclude_with(r, VERDICT_NO_TRUST_ANCHOR, failure);
		else
			check_token(r);
	}
	if (--v->dispatching == 0 && v->doomed)
		free(v);
}

static void on_jwks(void *ctx, const struct as_reply *rep)
{
	struct verifier *v = ctx;
	char err[200] = "", failure[480];
	v->anchor_call = NULL;
	if (rep->outcome == AS_OK &&
	    trust_anchors_add_jwks(v->anchors, rep->body, rep->body_len, err, sizeof(err)) == 0) {
		v->anchors_ready = true;
		log_warn("verify", "pinned the AS's JWKS keys as fetched; this trusted the network path to the AS once");
		settle_waiting(v, NULL);
		return;
	}
	snprintf(failure, sizeof(failure), "no trust anchor: GET /certificate: %s; GET /.well-known/jwks.json: %s",
		 v->certificate_error, rep->outcome == AS_OK ? err : rep->message);
	settle_waiting(v, failure);
}

static void on_certificate(void *ctx, const struct as_reply *rep)
{
	struct verifier *v = ctx;
	v->anchor_call = NULL;
	if (rep->outcome == AS_OK &&
	    trust_anchors_add_pem(v->anchors, rep->body, rep->body_len, v->certificate_error,
				  sizeof(v->certificate_error)) == 0) {
		v->anchors_ready = true;
		log_warn("verify", "pinned the AS's certificate chain as fetched; this trusted the network path to the AS once");
		settle_waiting(v, NULL);
		return;
	}
	if (rep->outcome != AS_OK)
		snprintf(v->certificate_error, sizeof(v->certificate_error), "%s", rep->message);
	v->anchor_call = as_client_get(v->as, "/.well-known/jwks.json", on_jwks, v);
	if (!v->anchor_call)
		settle_waiting(v, "no trust anchor: out of memory");
}

static void fetch_anchors(struct verifier *v)
{
	if (v->anchors_ready || v->anchor_call)
		return;
	v->anchor_call = as_client_get(v->as, "/certificate", on_certificate, v);
}

/* ---- appraisal ---- */

static void on_attestation(void *ctx, const struct as_reply *rep)
{
	struct verify_request *r = ctx;
	struct verifier *v = r->v;
	r->call = NULL;
	if (rep->outcome != AS_OK) {
		enum verdict_reason reason = rep->outcome == AS_UNREACHABLE ? VERDICT_AS_UNREACHABLE
					   : rep->outcome == AS_TIMEOUT   ? VERDICT_AS_TIMEOUT
									  : VERDICT_AS_ERROR;
		conclude_with(r, reason, rep->message);
		return;
	}
	if (!(r->token = strdup(rep->body))) {
		conclude_with(r, VERDICT_AS_ERROR, "out of memory");
		return;
	}
	if (v->anchors_ready) {
		settle_waiting(v, NULL);
		return;
	}
	fetch_anchors(v);
	if (!v->anchor_call)
		settle_waiting(v, "no trust anchor: cannot start fetching it from the AS");
}

static void on_deadline(void *ctx)
{
	conclude_with(ctx, VERDICT_AS_TIMEOUT, "no verdict before the appraisal deadline");
}

struct verify_request *verifier_appraise(struct verifier *v, const char *tee,
					 const uint8_t *evidence, size_t evidence_len,
					 const uint8_t *additional_evidence, size_t additional_len,
					 const cJSON *runtime_data, verdict_fn done, void *ctx)
{
	struct verify_request *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->v = v;
	r->done = done;
	r->ctx = ctx;
	loop_timer_init(&r->deadline, on_deadline, r);
	r->next = v->requests;
	if (v->requests)
		v->requests->prev = r;
	v->requests = r;
	struct as_attestation a = {
		.tee = tee, .evidence = evidence, .evidence_len = evidence_len,
		.additional_evidence = additional_evidence, .additional_len = additional_len,
		.runtime_data = runtime_data, .policy_ids = (const char *const *)v->policy_ids,
		.n_policy_ids = v->n_policy_ids,
	};
	if (!(r->tee = strdup(tee ? tee : "")) ||
	    (runtime_data && !(r->runtime_data = cJSON_Duplicate(runtime_data, true))) ||
	    !(r->call = as_client_attest(v->as, &a, on_attestation, r))) {
		request_free(r);
		return NULL;
	}
	loop_timer_arm_in(v->loop, &r->deadline, v->timeout_ns);
	return r;
}

/* ---- verifier ---- */

static char *join(const char *const *items, size_t n)
{
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(items[i]) + 1;
	char *s = calloc(1, len);
	for (size_t i = 0; s && i < n; i++)
		strcat(strcat(s, i ? "," : ""), items[i]);
	return s;
}

struct verifier *verifier_new(struct loop *loop, const struct verifier_config *cfg, char *err,
			      size_t errlen)
{
	struct verifier *v = calloc(1, sizeof(*v));
	if (!v || !(v->anchors = trust_anchors_new()) ||
	    !(v->policy_ids = calloc(cfg->n_policy_ids + 1, sizeof(char *))) ||
	    !(v->policy_text = join(cfg->policy_ids, cfg->n_policy_ids))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	v->loop = loop;
	v->timeout_ns = cfg->timeout_ns ? cfg->timeout_ns : DEFAULT_TIMEOUT_NS;
	for (size_t i = 0; i < cfg->n_policy_ids; i++) {
		if (!(v->policy_ids[i] = strdup(cfg->policy_ids[i]))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		v->n_policy_ids++;
	}
	for (size_t i = 0; i < cfg->n_trusted_certs; i++)
		if (trust_anchors_add_pem_file(v->anchors, cfg->trusted_certs_paths[i], err, errlen) != 0)
			goto fail;
	struct as_client_config ac = {
		.as_addr = cfg->as_addr, .headers = cfg->as_headers, .n_headers = cfg->n_headers,
		.ca_file = cfg->ca_file, .timeout_ns = v->timeout_ns, .so_mark = cfg->so_mark,
	};
	if (!(v->as = as_client_new(loop, &ac, err, errlen)))
		goto fail;
	v->trust_embedded_key = cfg->skip_token_cert_verify;
	v->anchors_ready = cfg->n_trusted_certs > 0 || v->trust_embedded_key;
	if (v->trust_embedded_key)
		log_warn("verify", "skip_as_token_cert_verify: tokens are accepted on the key they carry; testing only");
	v->anchors_fetched = !v->anchors_ready;
	if (!v->anchors_ready) {
		log_warn("verify", "no trusted_certs_paths: trust anchors will be fetched from %s, "
			 "which trusts the network path to the AS", cfg->as_addr);
		fetch_anchors(v);
	}
	return v;
fail:
	verifier_free(v);
	return NULL;
}

void verifier_free(struct verifier *v)
{
	if (!v)
		return;
	while (v->requests)
		request_free(v->requests);
	as_call_cancel(v->anchor_call);
	as_client_free(v->as);
	trust_anchors_free(v->anchors);
	for (size_t i = 0; v->policy_ids && i < v->n_policy_ids; i++)
		free(v->policy_ids[i]);
	free(v->policy_ids);
	free(v->policy_text);
	if (v->dispatching)
		v->doomed = true;
	else
		free(v);
}
