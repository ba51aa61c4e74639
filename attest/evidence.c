#include "attest/evidence.h"
#include "attest/aa_client.h"
#include "attest/tsm.h"
#include "common/loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AA_SCHEME "unix://"
#define TSM_SCHEME "configfs-tsm://"

struct evidence_source {
	struct loop *loop;
	uint64_t timeout_ns;
	struct aa_client *aa;   /* exactly one of these */
	struct tsm_source *tsm;
	struct evidence_request *requests; /* outstanding, to cancel on free */
};

struct evidence_request {
	struct evidence_source *src;
	struct evidence_request *prev, *next;
	struct aa_request *aa_req;
	struct tsm_request *tsm_req;
	evidence_done_fn done;
	void *ctx;
};

struct evidence_source *evidence_source_new(struct loop *loop, const char *addr, uint64_t timeout_ns,
					    char *err, size_t errlen)
{
	struct evidence_source *src = calloc(1, sizeof(*src));
	if (!src) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	src->loop = loop;
	src->timeout_ns = timeout_ns;
	if (!strncmp(addr, AA_SCHEME, strlen(AA_SCHEME)) && addr[strlen(AA_SCHEME)] == '/') {
		src->aa = aa_client_new(loop, addr + strlen(AA_SCHEME));
		if (!src->aa)
			snprintf(err, errlen, "out of memory");
	} else if (!strncmp(addr, TSM_SCHEME, strlen(TSM_SCHEME)) && addr[strlen(TSM_SCHEME)] == '/') {
		src->tsm = tsm_source_new(loop, addr + strlen(TSM_SCHEME), err, errlen);
	} else {
		snprintf(err, errlen,
			 "unsupported evidence address '%s': expected unix:///path/to/attestation-agent.sock "
			 "or configfs-tsm:///sys/kernel/config/tsm/report", addr);
	}
	if (!src->aa && !src->tsm) {
		free(src);
		return NULL;
	}
	return src;
}

static void unlink_request(struct evidence_request *req)
{
	struct evidence_source *src = req->src;
	if (req->prev)
		req->prev->next = req->next;
	else
		src->requests = req->next;
	if (req->next)
		req->next->prev = req->prev;
}

void evidence_request_cancel(struct evidence_request *req)
{
	if (req->aa_req)
		aa_request_cancel(req->aa_req);
	if (req->tsm_req)
		tsm_request_cancel(req->tsm_req);
	unlink_request(req);
	free(req);
}

void evidence_source_free(struct evidence_source *src)
{
	if (!src)
		return;
	while (src->requests)
		evidence_request_cancel(src->requests);
	aa_client_free(src->aa);
	tsm_source_free(src->tsm);
	free(src);
}

static void on_done(void *ctx, const struct evidence_result *r)
{
	struct evidence_request *req = ctx;
	evidence_done_fn done = req->done;
	void *done_ctx = req->ctx;
	unlink_request(req);
	free(req);
	done(done_ctx, r);
}

struct evidence_request *evidence_source_get(struct evidence_source *src, const uint8_t *runtime_data,
					     size_t len, evidence_done_fn done, void *ctx)
{
	struct evidence_request *req = calloc(1, sizeof(*req));
	if (!req)
		return NULL;
	req->src = src;
	req->done = done;
	req->ctx = ctx;
	uint64_t deadline = loop_now_ns() + src->timeout_ns;
	if (src->aa)
		req->aa_req = aa_client_get_evidence(src->aa, runtime_data, len, deadline, on_done, req);
	else
		req->tsm_req = tsm_source_get(src->tsm, runtime_data, len, deadline, on_done, req);
	if (!req->aa_req && !req->tsm_req) {
		free(req);
		return NULL;
	}
	req->next = src->requests;
	if (src->requests)
		src->requests->prev = req;
	src->requests = req;
	return req;
}
