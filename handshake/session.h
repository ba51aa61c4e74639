/*
 * One attested handshake, protocol tng-wg/1, as a sans-IO state machine: the caller feeds it the
 * bytes read from the TCP stream and sends whatever it leaves in its output buffer; the session
 * asks for evidence and verdicts through callbacks and is answered through hs_session_provide_*,
 * synchronously (from inside the callback) or later.
 *
 * Wire format (all integers big-endian):
 *
 *   stream      := frame*
 *   frame       := u32 length (1..max_frame) || payload[length]
 *
 * Handshake phase: each frame is one message of Noise_XX_25519_ChaChaPoly_BLAKE2b with prologue
 * "tng-wg/1" (see noise_xx.h):
 *     -> e                 payload: initiator hello
 *     <- e, ee, s, es      payload: responder hello
 *     -> s, se             payload: empty
 *   hello       := u8 version (1) || u8 flags    flags bit 0: will attest, bit 1: requires the
 *                                                 peer's evidence; other bits are ignored
 *   A side that has no transport keys yet gives up with an abort frame of exactly one byte: the
 *   enum hs_reason why (busy, rate limited, superseded, version mismatch, malformed input,
 *   timeout). No Noise message is that short, and a responder that has not yet read message 3
 *   may send one after the initiator already holds keys, so it is accepted at any point. It is
 *   unauthenticated and only ever ends the attempt.
 *
 * Transport phase: each frame is a Noise transport message (ChaCha20-Poly1305, nonce 4 zero bytes
 * || LE64(n), n counting from 0 per direction; the initiator sends with the first split key).
 * Its plaintext is a chunk, and chunks concatenate into application messages, so evidence may
 * exceed Noise's 65535-byte message limit:
 *   chunk       := u8 more (1 = further chunks follow, 0 = last) || data
 *                  (every chunk but the last carries the most data a frame holds, 65518 bytes,
 *                  so a message of n bytes costs at most n / 65518 + 1 frames)
 *   evidence    := u8 type (1) || u8 tee_len (0..31) || tee[tee_len]
 *                  || u32 evidence_len || evidence || u32 additional_len || additional
 *                  || wg_public_key[32] || u16 wg_port
 *   verdict     := u8 type (2) || u8 reason (enum hs_reason; HS_OK = accept)
 *                  || u16 detail_len (0..255) || detail (text)
 *
 * After message 3 each side sends its evidence message (empty tee and evidence when it does not
 * attest) and, once it has appraised the peer, a verdict. A side requiring evidence from a peer
 * whose hello says it will not attest sends a reject verdict (HS_ATTESTATION_REQUIRED) at once.
 * The runtime data an attesting side binds into its evidence is the JSON
 *   {"tng-wg":1,"role":"initiator"|"responder","handshake_hash":"<b64 h>","wg_public_key":"<b64 K>"}
 * (standard base64; h = final Noise handshake hash, K = that side's WireGuard public key); the
 * verifier asks for appraisal against the same JSON built from the peer's role and key.
 * After two accepts both sides hold psk = HKDF(final chaining key, "tng-wg/1 psk") (first 32
 * bytes of Noise's HKDF output 1), and the Noise secrets are wiped.
 */
#ifndef TNGWG_HANDSHAKE_SESSION_H
#define TNGWG_HANDSHAKE_SESSION_H

#include "handshake/reasons.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_PROTOCOL_VERSION 1
#define HS_TEE_MAX 31     /* longest TEE type name */
#define HS_DETAIL_MAX 255 /* longest verdict detail text */
#define HS_DEFAULT_MAX_EVIDENCE (1u << 20)

/* What this node offers and demands in a handshake. */
struct hs_local {
	uint8_t wg_public_key[32];
	uint16_t wg_port;
	bool will_attest;
	bool requires_peer_evidence;
};

/* What a successful handshake established. */
struct hs_result {
	uint8_t peer_wg_public_key[32];
	uint16_t peer_wg_port;
	uint8_t psk[32];
	bool peer_attested;       /* we required and verified the peer's evidence */
	char peer_tee[HS_TEE_MAX + 1];
	bool we_initiated;
};

struct hs_session_config {
	bool initiator;
	struct hs_local local;
	uint8_t static_private[32]; /* this node's Noise static key (X25519) */
	const uint8_t *static_public; /* its public half, or NULL to derive it */
	size_t max_frame;           /* largest frame payload accepted; 0 or at most 65535 */
	size_t max_evidence;        /* largest evidence + additional evidence; 0 = default */
	uint8_t version;            /* 0 = HS_PROTOCOL_VERSION; another value only to test mismatches */
};

struct hs_session_ops {
	/* Produce evidence over runtime_data_json, then call hs_session_provide_evidence or
	 * hs_session_evidence_failed. */
	void (*need_evidence)(void *ctx, const char *runtime_data_json);
	/* Appraise the peer's evidence against expected_runtime_data_json, then call
	 * hs_session_provide_verdict. The buffers are valid only during the call. */
	void (*need_verification)(void *ctx, const char *tee, const uint8_t *evidence, size_t len,
				  const uint8_t *additional, size_t additional_len,
				  const char *expected_runtime_data_json);
};

enum hs_session_state { HS_SESSION_RUNNING, HS_SESSION_DONE, HS_SESSION_FAILED };

struct hs_session;

/* NULL when out of memory. The initiator's first message is already in the output buffer. */
struct hs_session *hs_session_new(const struct hs_session_config *cfg,
				  const struct hs_session_ops *ops, void *ctx);
/* Wipes every secret the session holds. */
void hs_session_free(struct hs_session *s);

/* Bytes read from the stream, in any split. A closed stream is hs_session_peer_closed. */
void hs_session_receive(struct hs_session *s, const uint8_t *data, size_t len);
void hs_session_peer_closed(struct hs_session *s);

void hs_session_provide_evidence(struct hs_session *s, const char *tee, const uint8_t *evidence,
				 size_t len, const uint8_t *additional, size_t additional_len);
void hs_session_evidence_failed(struct hs_session *s, const char *detail);
void hs_session_provide_verdict(struct hs_session *s, bool accept, enum hs_reason reason_if_rejected,
				const char *detail);

/* End the handshake for a local reason (timeout, superseded, ...), telling the peer why. */
void hs_session_abort(struct hs_session *s, enum hs_reason reason, const char *detail);

/* Bytes waiting to be sent; consume what was written. Output may remain after the session ended
 * (the peer should still learn the verdict), so flush it before closing. */
const uint8_t *hs_session_output(const struct hs_session *s, size_t *len);
void hs_session_output_consumed(struct hs_session *s, size_t n);

enum hs_session_state hs_session_state(const struct hs_session *s);
/* Valid when the state is HS_SESSION_DONE. */
const struct hs_result *hs_session_result(const struct hs_session *s);
/* Valid when the state is HS_SESSION_FAILED. */
enum hs_reason hs_session_reason(const struct hs_session *s);
bool hs_session_reported_by_peer(const struct hs_session *s);
const char *hs_session_detail(const struct hs_session *s);
/* True when the failure was malformed or oversized input from the peer. */
bool hs_session_failed_on_input(const struct hs_session *s);

#endif
