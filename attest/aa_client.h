/*
 * Client of the CoCo Attestation Agent's ttrpc service
 * (attestation_agent.AttestationAgentService on a unix socket), used as TNG uses it:
 * GetEvidence with the caller's runtime data, then GetTeeType (cached per connection), then
 * GetAdditionalEvidence with empty runtime data, whose errors and empty answers mean "none".
 */
#ifndef TNGWG_ATTEST_AA_CLIENT_H
#define TNGWG_ATTEST_AA_CLIENT_H

#include "attest/evidence.h"

#include <stddef.h>
#include <stdint.h>

#define AA_SERVICE "attestation_agent.AttestationAgentService"

struct loop;
struct aa_client;
struct aa_request;

struct aa_client *aa_client_new(struct loop *loop, const char *socket_path);
/* Cancel outstanding requests first. */
void aa_client_free(struct aa_client *aa);

/* Evidence for runtime_data, all three calls finished by deadline_ns; done runs once from the
 * loop (never inside this call) unless cancelled. NULL only when memory runs out. */
struct aa_request *aa_client_get_evidence(struct aa_client *aa, const uint8_t *runtime_data, size_t len,
					  uint64_t deadline_ns, evidence_done_fn done, void *ctx);
void aa_request_cancel(struct aa_request *req);

/* The method messages, exposed for tests. Encoders return malloc'd bytes (NULL on failure);
 * decoders return 0 or -1 and malloc the output. */
uint8_t *aa_encode_runtime_data(const uint8_t *runtime_data, size_t len, size_t *out_len);
int aa_decode_evidence(const uint8_t *msg, size_t len, uint8_t **evidence, size_t *evidence_len);
int aa_decode_tee_type(const uint8_t *msg, size_t len, char **tee);

#endif
