#include "attest/aa_client.h"
#include "common/loop.h"
#include "attest/ttrpc.h"
#include "common/log.h"

#include "attestation_agent.pb-c.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_SUB "aa"

struct aa_client {
	struct loop *loop;
	struct ttrpc_client *rpc;
	char *tee;             /* GetTeeType's answer ... */
	uint64_t tee_connection; /* ... on this connection: an agent restart may change it */
};

struct aa_request {
	struct aa_client *aa;
	struct ttrpc_call *call;
	uint64_t started_ns, deadline_ns;
	evidence_done_fn done;
	void *ctx;
	uint8_t *evidence;
	size_t evidence_len;
};

uint8_t *aa_encode_runtime_data(const uint8_t *runtime_data, size_t len, size_t *out_len)
{
	/* GetEvidenceRequest and GetAdditionalEvidenceRequest share one layout: bytes RuntimeData = 1. */
	AttestationAgent__GetEvidenceRequest req = ATTESTATION_AGENT__GET_EVIDENCE_REQUEST__INIT;
	req.runtimedata.data = (uint8_t *)runtime_data;
	req.runtimedata.len = len;
	*out_len = attestation_agent__get_evidence_request__get_packed_size(&req);
	uint8_t *out = malloc(*out_len ? *out_len : 1);
	if (out)
		attestation_agent__get_evidence_request__pack(&req, out);
	return out;
}

int aa_decode_evidence(const uint8_t *msg, size_t len, uint8_t **evidence, size_t *evidence_len)
{
	AttestationAgent__GetEvidenceResponse *resp =
		attestation_agent__get_evidence_response__unpack(NULL, len, msg);
	if (!resp)
		return -1;
	*evidence_len = resp->evidence.len;
	*evidence = malloc(resp->evidence.len + 1);
	if (*evidence) {
		if (resp->evidence.len)
			memcpy(*evidence, resp->evidence.data, resp->evidence.len);
		(*evidence)[resp->evidence.len] = 0;
	}
	attestation_agent__get_evidence_response__free_unpacked(resp, NULL);
	return *evidence ? 0 : -1;
}

int aa_decode_tee_type(const uint8_t *msg, size_t len, char **tee)
{
	AttestationAgent__GetTeeTypeResponse *resp =
		attestation_agent__get_tee_type_response__unpack(NULL, len, msg);
	if (!resp)
		return -1;
	*tee = strdup(resp->tee);
	attestation_agent__get_tee_type_response__free_unpacked(resp, NULL);
	return *tee ? 0 : -1;
}

struct aa_client *aa_client_new(struct loop *loop, const char *socket_path)
{
	struct aa_client *aa = calloc(1, sizeof(*aa));
	if (!aa)
		return NULL;
	aa->loop = loop;
	aa->rpc = ttrpc_client_new(loop, socket_path);
	if (!aa->rpc) {
		free(aa);
		return NULL;
	}
	return aa;
}

void aa_client_free(struct aa_client *aa)
{
	if (!aa)
		return;
	ttrpc_client_free(aa->rpc);
	free(aa->tee);
	free(aa);
}

static void request_free(struct aa_request *req)
{
	free(req->evidence);
	free(req);
}

static void finish_error(struct aa_request *req, int error, const char *message)
{
	struct evidence_result r = { .error = error, .message = message };
	log_debug(LOG_SUB, "%s", message);
	req->done(req->ctx, &r);
	request_free(req);
}

static void finish_ok(struct aa_request *req, const char *tee, const uint8_t *additional, size_t additional_len)
{
	struct evidence_result r = {
		.tee = tee,
		.evidence = req->evidence,
		.evidence_len = req->evidence_len,
		.additional_evidence = additional_len ? additional : NULL,
		.additional_len = additional_len,
	};
	req->done(req->ctx, &r);
	request_free(req);
}

/* 0 when the call succeeded; else the error code, with the reason in why. */
static int call_failed(const struct aa_request *req, const char *method, const struct ttrpc_outcome *o,
		       char *why, size_t whylen)
{
	if (o->error == -ETIMEDOUT) { /* the request's whole time, not what was left for this call */
		snprintf(why, whylen, "attestation agent: %s failed: timed out after %.3g s", method,
			 (double)(req->deadline_ns - req->started_ns) / NSEC_PER_SEC);
		return o->error;
	}
	if (o->error) {
		snprintf(why, whylen, "attestation agent: %s failed: %s", method, o->message);
		return o->error;
	}
	if (o->reply->code) {
		snprintf(why, whylen, "attestation agent: %s failed: %s (%d): %s", method,
			 ttrpc_code_name(o->reply->code), o->reply->code, o->reply->message);
		return -EREMOTEIO;
	}
	return 0;
}

static void start_call(struct aa_request *req, const char *method, const uint8_t *payload, size_t len,
		       ttrpc_done_fn fn)
{
	req->call = ttrpc_client_call(req->aa->rpc, AA_SERVICE, method, payload, len, req->deadline_ns,
				      fn, req);
	if (!req->call)
		finish_error(req, -ENOMEM, "attestation agent: out of memory");
}

static void on_additional_evidence(void *ctx, const struct ttrpc_outcome *o)
{
	struct aa_request *req = ctx;
	req->call = NULL;
	char why[512];
	uint8_t *extra = NULL;
	size_t extra_len = 0;
	/* As TNG does: additional evidence is optional, so any failure means there is none. */
	if (call_failed(req, "GetAdditionalEvidence", o, why, sizeof(why)))
		log_debug(LOG_SUB, "%s (treated as no additional evidence)", why);
	else if (aa_decode_evidence(o->reply->payload, o->reply->payload_len, &extra, &extra_len) < 0)
		log_debug(LOG_SUB, "malformed GetAdditionalEvidence response ignored");
	finish_ok(req, req->aa->tee, extra, extra_len);
	free(extra);
}

static void request_additional_evidence(struct aa_request *req)
{
	start_call(req, "GetAdditionalEvidence", NULL, 0, on_additional_evidence);
}

static void on_tee_type(void *ctx, const struct ttrpc_outcome *o)
{
	struct aa_request *req = ctx;
	req->call = NULL;
	char why[512];
	int err = call_failed(req, "GetTeeType", o, why, sizeof(why));
	if (err) {
		finish_error(req, err, why);
		return;
	}
	char *tee = NULL;
	if (aa_decode_tee_type(o->reply->payload, o->reply->payload_len, &tee) < 0 || !*tee) {
		free(tee);
		finish_error(req, -EBADMSG, "attestation agent: GetTeeType failed: malformed or empty response");
		return;
	}
	free(req->aa->tee);
	req->aa->tee = tee;
	req->aa->tee_connection = o->connection_id;
	request_additional_evidence(req);
}

static void on_evidence(void *ctx, const struct ttrpc_outcome *o)
{
	struct aa_request *req = ctx;
	req->call = NULL;
	char why[512];
	int err = call_failed(req, "GetEvidence", o, why, sizeof(why));
	if (err) {
		finish_error(req, err, why);
		return;
	}
	if (aa_decode_evidence(o->reply->payload, o->reply->payload_len, &req->evidence,
			       &req->evidence_len) < 0) {
		finish_error(req, -EBADMSG, "attestation agent: GetEvidence failed: malformed response");
		return;
	}
	if (!req->evidence_len) {
		finish_error(req, -EBADMSG, "attestation agent: GetEvidence returned no evidence");
		return;
	}
	if (req->aa->tee && req->aa->tee_connection == o->connection_id)
		request_additional_evidence(req);
	else
		start_call(req, "GetTeeType", NULL, 0, on_tee_type);
}

struct aa_request *aa_client_get_evidence(struct aa_client *aa, const uint8_t *runtime_data, size_t len,
					  uint64_t deadline_ns, evidence_done_fn done, void *ctx)
{
	struct aa_request *req = calloc(1, sizeof(*req));
	size_t payload_len;
	uint8_t *payload = req ? aa_encode_runtime_data(runtime_data, len, &payload_len) : NULL;
	if (!payload) {
		free(req);
		return NULL;
	}
	req->aa = aa;
	req->started_ns = loop_now_ns();
	req->deadline_ns = deadline_ns;
	req->done = done;
	req->ctx = ctx;
	req->call = ttrpc_client_call(aa->rpc, AA_SERVICE, "GetEvidence", payload, payload_len,
				      deadline_ns, on_evidence, req);
	free(payload);
	if (!req->call) {
		free(req);
		return NULL;
	}
	return req;
}

void aa_request_cancel(struct aa_request *req)
{
	if (req->call)
		ttrpc_call_cancel(req->call);
	request_free(req);
}
