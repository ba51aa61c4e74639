/*
 * Noise_IKpsk2 as WireGuard uses it: creating and consuming initiations and responses, and
 * deriving transport keypairs. Pure functions over the message structs; MACs are cookie.h's job,
 * index allocation and peer lookup are the caller's.
 */
#ifndef TNGWG_OVERLAY_NOISE_H
#define TNGWG_OVERLAY_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "overlay/messages.h"
#include "overlay/replay.h"

struct noise_identity {
	uint8_t private_key[WG_KEY_LEN];
	uint8_t public_key[WG_KEY_LEN];
	bool has_private_key;
};

/* A private key of all zeros removes the identity. */
void noise_identity_set(struct noise_identity *id, const uint8_t private_key[WG_KEY_LEN]);
void noise_identity_clear(struct noise_identity *id);

enum noise_handshake_state {
	HANDSHAKE_ZEROED,
	HANDSHAKE_CREATED_INITIATION,
	HANDSHAKE_CONSUMED_INITIATION,
	HANDSHAKE_CREATED_RESPONSE,
	HANDSHAKE_CONSUMED_RESPONSE,
};

/* Per-peer handshake state. */
struct noise_handshake {
	enum noise_handshake_state state;
	uint8_t remote_static[WG_KEY_LEN];
	uint8_t precomputed_static_static[WG_KEY_LEN]; /* DH(S_local, S_remote), zero if invalid */
	uint8_t preshared_key[WG_KEY_LEN];
	uint8_t ephemeral_private[WG_KEY_LEN];
	uint8_t remote_ephemeral[WG_KEY_LEN];
	uint8_t hash[WG_HASH_LEN];
	uint8_t chaining_key[WG_HASH_LEN];
	uint8_t latest_timestamp[WG_TIMESTAMP_LEN];
	uint64_t last_initiation_consumption_ns;
	uint32_t local_index;
	uint32_t remote_index;
};

/* preshared_key may be NULL (no PSK: 32 zero bytes). */
void noise_handshake_init(struct noise_handshake *hs, const struct noise_identity *id,
			  const uint8_t remote_static[WG_KEY_LEN], const uint8_t preshared_key[WG_KEY_LEN]);
/* Recompute DH(S_local, S_remote) after the local private key changed. */
void noise_handshake_precompute(struct noise_handshake *hs, const struct noise_identity *id);
void noise_handshake_set_preshared_key(struct noise_handshake *hs, const uint8_t *psk);
/* Wipe ephemeral state and return to HANDSHAKE_ZEROED (keeps remote static, PSK, timestamp). */
void noise_handshake_clear(struct noise_handshake *hs);

/* Initiator: fill msg (all but mac1/mac2) and move to CREATED_INITIATION. */
bool noise_create_initiation(struct noise_handshake *hs, const struct noise_identity *id,
			     uint32_t local_index, struct msg_initiation *msg);

/* Responder, first half: decrypt the initiator's static key so the caller can find the peer. */
struct noise_initiation_state {
	uint8_t hash[WG_HASH_LEN];
	uint8_t chaining_key[WG_HASH_LEN];
	uint8_t remote_ephemeral[WG_KEY_LEN];
	uint8_t remote_static[WG_KEY_LEN];
	uint32_t sender_index;
	uint8_t encrypted_timestamp[WG_TIMESTAMP_LEN + WG_AEAD_TAG_LEN];
};
bool noise_consume_initiation_begin(const struct noise_identity *id, const struct msg_initiation *msg,
				    struct noise_initiation_state *st);
/* Second half, with the peer found: ss, the timestamp (strictly newer) and flood (>= 20 ms apart)
 * checks, then CONSUMED_INITIATION. Wipes st. */
bool noise_consume_initiation_finish(struct noise_handshake *hs, const struct noise_identity *id,
				     struct noise_initiation_state *st, uint64_t now_ns);

/* Responder: fill msg (all but MACs) and move to CREATED_RESPONSE. */
bool noise_create_response(struct noise_handshake *hs, const struct noise_identity *id,
			   uint32_t local_index, struct msg_response *msg);
/* Initiator: hs found by msg->receiver_index; moves to CONSUMED_RESPONSE. */
bool noise_consume_response(struct noise_handshake *hs, const struct noise_identity *id,
			    const struct msg_response *msg);

struct noise_keypair {
	uint8_t send_key[WG_KEY_LEN];
	uint8_t receive_key[WG_KEY_LEN];
	uint64_t send_counter;
	struct replay_window replay;
	uint32_t local_index;
	uint32_t remote_index;
	bool is_initiator;
	uint64_t birthdate_ns;
};

/* From CREATED_RESPONSE (responder) or CONSUMED_RESPONSE (initiator): derive the transport keys,
 * wipe the handshake's secrets and return it to HANDSHAKE_ZEROED. */
bool noise_derive_keypair(struct noise_handshake *hs, struct noise_keypair *kp, uint64_t now_ns);
void noise_keypair_wipe(struct noise_keypair *kp);

#endif
