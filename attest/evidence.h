/*
 * This node's attestation evidence, from the CoCo Attestation Agent (ttrpc on a unix socket) or,
 * on nodes without an agent, straight from the kernel's configfs-tsm report interface.
 * Requests are asynchronous on the caller's loop and each has a deadline.
 */
#ifndef TNGWG_ATTEST_EVIDENCE_H
#define TNGWG_ATTEST_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct evidence_source;
struct evidence_request;

/* addr: "unix:///path/to/aa.sock" (the CoCo AA) or
 * "configfs-tsm:///sys/kernel/config/tsm/report" (a configfs-tsm report directory).
 * timeout_ns bounds every request. NULL with a message in err on a bad address. */
struct evidence_source *evidence_source_new(struct loop *loop, const char *addr, uint64_t timeout_ns,
					    char *err, size_t errlen);
/* Cancels outstanding requests (their callbacks are not called). */
void evidence_source_free(struct evidence_source *src);

struct evidence_result {
	int error;                 /* 0 on success, else a negative errno-style code */
	const char *message;       /* on error: why, e.g. "attestation agent: GetEvidence failed: ..." */
	const char *tee;           /* on success: "sample", "tdx", "snp", "cca", ... */
	const uint8_t *evidence;   /* the evidence bytes (JSON text as Trustee's verifier expects) */
	size_t evidence_len;
	const uint8_t *additional_evidence; /* NULL/0 when there is none */
	size_t additional_len;
};
/* Called exactly once per request unless it was cancelled; r and its buffers live only for the
 * duration of the call. */
typedef void (*evidence_done_fn)(void *ctx, const struct evidence_result *r);

/* runtime_data is passed to the TEE unchanged (callers pass the 48-byte jcs_sha384 of their
 * structured runtime data). NULL when the request cannot be started (done is not called then). */
struct evidence_request *evidence_source_get(struct evidence_source *src, const uint8_t *runtime_data,
					     size_t len, evidence_done_fn done, void *ctx);
/* Forget a pending request: done will not be called. */
void evidence_request_cancel(struct evidence_request *req);

#endif
