/*
 * Evidence straight from the kernel's configfs-tsm report interface
 * (Documentation/ABI/testing/configfs-tsm-report), for nodes without an Attestation Agent:
 * a fresh report entry per request, its provider mapped to the TEE name, inblob in, outblob
 * (and auxblob) out, generation checked against racing writers, the entry removed. The file
 * operations can block in the kernel, so each request runs on a worker thread and reports back
 * through an eventfd on the loop.
 */
#ifndef TNGWG_ATTEST_TSM_H
#define TNGWG_ATTEST_TSM_H

#include "attest/evidence.h"

#include <stddef.h>
#include <stdint.h>

#define TSM_INBLOB_MAX 64

struct loop;
struct tsm_source;
struct tsm_request;

/* report_dir: the configfs directory, normally /sys/kernel/config/tsm/report. */
struct tsm_source *tsm_source_new(struct loop *loop, const char *report_dir, char *err, size_t errlen);
/* Cancel outstanding requests first. */
void tsm_source_free(struct tsm_source *t);

/* runtime_data: 1..TSM_INBLOB_MAX bytes, written to inblob as is. done runs once from the loop
 * (never inside this call) unless cancelled; the evidence is the JSON the Trustee verifier of
 * that TEE expects. NULL only when memory or threads run out. */
struct tsm_request *tsm_source_get(struct tsm_source *t, const uint8_t *runtime_data, size_t len,
				   uint64_t deadline_ns, evidence_done_fn done, void *ctx);
void tsm_request_cancel(struct tsm_request *req);

/* "tdx_guest" -> "tdx", "sev_guest" -> "snp", "arm_cca_guest" -> "cca"; NULL otherwise. */
const char *tsm_provider_tee(const char *provider);

#endif
