/*
 * Encodings of the attested handshake's messages (layouts in session.h): the hello carried in
 * the Noise handshake payloads, and the evidence and verdict messages of the transport phase.
 * Decoders check every length against the buffer and the caller's limits.
 */
#ifndef TNGWG_HANDSHAKE_MESSAGES_H
#define TNGWG_HANDSHAKE_MESSAGES_H

#include "handshake/session.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_HELLO_LEN 2
#define HS_HELLO_WILL_ATTEST 0x01
#define HS_HELLO_REQUIRES_EVIDENCE 0x02

struct hs_hello {
	uint8_t version;
	bool will_attest;
	bool requires_peer_evidence;
};

void hs_hello_encode(const struct hs_hello *h, uint8_t out[HS_HELLO_LEN]);
/* -1 when empty; a version other than ours is returned as is (the caller decides), and only
 * our own version must be exactly HS_HELLO_LEN bytes. */
int hs_hello_decode(const uint8_t *p, size_t len, uint8_t own_version, struct hs_hello *h);

enum hs_message_type { HS_MSG_EVIDENCE = 1, HS_MSG_VERDICT = 2 };

/* Evidence, additional evidence: borrowed pointers (into the decoded buffer when decoding). */
struct hs_evidence_msg {
	char tee[HS_TEE_MAX + 1];
	const uint8_t *evidence;
	size_t evidence_len;
	const uint8_t *additional;
	size_t additional_len;
	uint8_t wg_public_key[32];
	uint16_t wg_port;
};

/* The largest encoded evidence message whose evidence and additional evidence together are at
 * most max_evidence bytes. */
size_t hs_evidence_max_len(size_t max_evidence);
size_t hs_evidence_encoded_len(const struct hs_evidence_msg *m);
/* out holds hs_evidence_encoded_len bytes. */
void hs_evidence_encode(const struct hs_evidence_msg *m, uint8_t *out);
/* -1 when malformed or evidence and additional evidence together exceed max_evidence. The TEE
 * name must be printable ASCII without spaces. */
int hs_evidence_decode(const uint8_t *p, size_t len, size_t max_evidence, struct hs_evidence_msg *m);

struct hs_verdict_msg {
	uint8_t reason; /* HS_OK accepts; unknown values are kept for the caller */
	char detail[HS_DETAIL_MAX + 1];
};

#define HS_VERDICT_MAX_LEN (4 + HS_DETAIL_MAX)
/* Returns the encoded length; a longer detail is cut. */
size_t hs_verdict_encode(const struct hs_verdict_msg *m, uint8_t out[HS_VERDICT_MAX_LEN]);
/* -1 when malformed. Bytes of the detail outside printable ASCII become '?'. */
int hs_verdict_decode(const uint8_t *p, size_t len, struct hs_verdict_msg *m);

#endif
