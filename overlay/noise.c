/*
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s, WireGuard's handshake:
 *   <- s
 *   -> e, es, s, ss, {t}
 *   <- e, ee, se, psk, {}
 * Every consume works on local copies of the chaining key and hash and touches the handshake
 * only once the message has authenticated, so a forged message changes nothing.
 */
#include "overlay/noise.h"

#include <endian.h>
#include <sodium.h>
#include <string.h>

#include "overlay/crypto.h"

#define NSEC_PER_SECOND 1000000000ULL

static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";

/* The running transcript of one handshake: chaining key C, hash H and the current AEAD key k. */
struct transcript {
	uint8_t chaining_key[WG_HASH_LEN];
	uint8_t hash[WG_HASH_LEN];
	uint8_t key[WG_KEY_LEN];
};

static void transcript_wipe(struct transcript *t)
{
	sodium_memzero(t, sizeof(*t));
}

static void transcript_load(struct transcript *t, const uint8_t chaining_key[WG_HASH_LEN],
			    const uint8_t hash[WG_HASH_LEN])
{
	memcpy(t->chaining_key, chaining_key, WG_HASH_LEN);
	memcpy(t->hash, hash, WG_HASH_LEN);
	sodium_memzero(t->key, sizeof(t->key));
}

static void transcript_store(const struct transcript *t, uint8_t chaining_key[WG_HASH_LEN],
			     uint8_t hash[WG_HASH_LEN])
{
	memcpy(chaining_key, t->chaining_key, WG_HASH_LEN);
	memcpy(hash, t->hash, WG_HASH_LEN);
}

static void mix_hash(struct transcript *t, const void *data, size_t len)
{
	wg_hash(t->hash, t->hash, WG_HASH_LEN, data, len);
}

/* C = Ci, H = HASH(Hi || responder's static public key). */
static void transcript_start(struct transcript *t, const uint8_t responder_static[WG_KEY_LEN])
{
	uint8_t initial_hash[WG_HASH_LEN];
	wg_hash(t->chaining_key, construction, strlen(construction), NULL, 0);
	wg_hash(initial_hash, t->chaining_key, WG_HASH_LEN, identifier, strlen(identifier));
	wg_hash(t->hash, initial_hash, WG_HASH_LEN, responder_static, WG_KEY_LEN);
	sodium_memzero(t->key, sizeof(t->key));
}

/* The "e" token: H = HASH(H || e), C = KDF1(C, e). */
static void mix_ephemeral(struct transcript *t, const uint8_t ephemeral_public[WG_KEY_LEN])
{
	mix_hash(t, ephemeral_public, WG_KEY_LEN);
	wg_kdf(t->chaining_key, NULL, NULL, t->chaining_key, ephemeral_public, WG_KEY_LEN);
}

/* (C, k) = KDF2(C, secret) when with_key, else C = KDF1(C, secret). */
static void mix_key(struct transcript *t, const uint8_t secret[WG_KEY_LEN], bool with_key)
{
	wg_kdf(t->chaining_key, with_key ? t->key : NULL, NULL, t->chaining_key, secret, WG_KEY_LEN);
}

/* A DH token; fails on a low-order public key. */
static bool mix_dh(struct transcript *t, const uint8_t private_key[WG_KEY_LEN],
		   const uint8_t public_key[WG_KEY_LEN], bool with_key)
{
	uint8_t shared[WG_KEY_LEN];
	bool ok = wg_dh(shared, private_key, public_key);
	if (ok)
		mix_key(t, shared, with_key);
	sodium_memzero(shared, sizeof(shared));
	return ok;
}

/* The "ss" token from the per-peer precomputation; all zeros marks an unusable pair. */
static bool mix_precomputed_dh(struct transcript *t, const uint8_t precomputed[WG_KEY_LEN])
{
	if (sodium_is_zero(precomputed, WG_KEY_LEN))
		return false;
	mix_key(t, precomputed, true);
	return true;
}

/* The "psk" token: (C, tau, k) = KDF3(C, Q), H = HASH(H || tau). */
static void mix_psk(struct transcript *t, const uint8_t psk[WG_KEY_LEN])
{
	uint8_t tau[WG_HASH_LEN];
	wg_kdf(t->chaining_key, tau, t->key, t->chaining_key, psk, WG_KEY_LEN);
	mix_hash(t, tau, sizeof(tau));
	sodium_memzero(tau, sizeof(tau));
}

/* {payload}: AEAD(k, counter 0, payload, H), then H = HASH(H || ciphertext). */
static void encrypt_and_hash(struct transcript *t, uint8_t *out, const uint8_t *in, size_t len)
{
	wg_aead_seal(out, in, len, t->hash, WG_HASH_LEN, 0, t->key);
	mix_hash(t, out, len + WG_AEAD_TAG_LEN);
}

static bool decrypt_and_hash(struct transcript *t, uint8_t *out, const uint8_t *in, size_t len)
{
	if (!wg_aead_open(out, in, len, t->hash, WG_HASH_LEN, 0, t->key))
		return false;
	mix_hash(t, in, len);
	return true;
}

static void generate_ephemeral(uint8_t private_key[WG_KEY_LEN], uint8_t public_key[WG_KEY_LEN])
{
	wg_generate_private_key(private_key);
	wg_public_key(public_key, private_key);
}

void noise_identity_set(struct noise_identity *id, const uint8_t private_key[WG_KEY_LEN])
{
	noise_identity_clear(id);
	if (sodium_is_zero(private_key, WG_KEY_LEN))
		return;
	memcpy(id->private_key, private_key, WG_KEY_LEN);
	/* Stored clamped, as the kernel module stores (and reports) it. */
	id->private_key[0] &= 248;
	id->private_key[31] = (id->private_key[31] & 127) | 64;
	wg_public_key(id->public_key, id->private_key);
	id->has_private_key = true;
}

void noise_identity_clear(struct noise_identity *id)
{
	sodium_memzero(id, sizeof(*id));
}

void noise_handshake_init(struct noise_handshake *hs, const struct noise_identity *id,
			  const uint8_t remote_static[WG_KEY_LEN], const uint8_t preshared_key[WG_KEY_LEN])
{
	sodium_memzero(hs, sizeof(*hs));
	hs->state = HANDSHAKE_ZEROED;
	memcpy(hs->remote_static, remote_static, WG_KEY_LEN);
	noise_handshake_set_preshared_key(hs, preshared_key);
	noise_handshake_precompute(hs, id);
}

void noise_handshake_precompute(struct noise_handshake *hs, const struct noise_identity *id)
{
	if (!id->has_private_key || !wg_dh(hs->precomputed_static_static, id->private_key, hs->remote_static))
		sodium_memzero(hs->precomputed_static_static, WG_KEY_LEN);
}

void noise_handshake_set_preshared_key(struct noise_handshake *hs, const uint8_t *psk)
{
	if (psk)
		memcpy(hs->preshared_key, psk, WG_KEY_LEN);
	else
		sodium_memzero(hs->preshared_key, WG_KEY_LEN);
}

void noise_handshake_clear(struct noise_handshake *hs)
{
	sodium_memzero(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	sodium_memzero(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	sodium_memzero(hs->hash, sizeof(hs->hash));
	sodium_memzero(hs->chaining_key, sizeof(hs->chaining_key));
	hs->remote_index = 0;
	hs->state = HANDSHAKE_ZEROED;
}

/* Ends a create step: commit the transcript and move to next_state, or clear on failure. */
static bool end_create(struct noise_handshake *hs, struct transcript *t, bool ok, uint32_t local_index,
		       enum noise_handshake_state next_state)
{
	if (ok) {
		transcript_store(t, hs->chaining_key, hs->hash);
		hs->local_index = local_index;
		hs->state = next_state;
	} else {
		noise_handshake_clear(hs);
	}
	transcript_wipe(t);
	return ok;
}

bool noise_create_initiation(struct noise_handshake *hs, const struct noise_identity *id,
			     uint32_t local_index, struct msg_initiation *msg)
{
	struct transcript t;
	uint8_t ephemeral_public[WG_KEY_LEN], timestamp[WG_TIMESTAMP_LEN];

	if (!id->has_private_key)
		return false;
	noise_handshake_clear(hs);
	memset(msg, 0, sizeof(*msg));
	msg->type = htole32(MSG_INITIATION);
	msg->sender_index = htole32(local_index);

	transcript_start(&t, hs->remote_static);
	generate_ephemeral(hs->ephemeral_private, ephemeral_public);
	memcpy(msg->unencrypted_ephemeral, ephemeral_public, WG_KEY_LEN);
	mix_ephemeral(&t, ephemeral_public);
	bool ok = mix_dh(&t, hs->ephemeral_private, hs->remote_static, true);
	if (ok) {
		encrypt_and_hash(&t, msg->encrypted_static, id->public_key, WG_KEY_LEN);
		ok = mix_precomputed_dh(&t, hs->precomputed_static_static);
	}
	if (ok) {
		wg_tai64n_now(timestamp);
		encrypt_and_hash(&t, msg->encrypted_timestamp, timestamp, WG_TIMESTAMP_LEN);
	}
	return end_create(hs, &t, ok, local_index, HANDSHAKE_CREATED_INITIATION);
}

bool noise_consume_initiation_begin(const struct noise_identity *id, const struct msg_initiation *msg,
				    struct noise_initiation_state *st)
{
	struct transcript t;
	bool ok = false;

	sodium_memzero(st, sizeof(*st));
	if (!id->has_private_key || le32toh(msg->type) != MSG_INITIATION)
		return false;
	transcript_start(&t, id->public_key);
	memcpy(st->remote_ephemeral, msg->unencrypted_ephemeral, WG_KEY_LEN);
	mix_ephemeral(&t, st->remote_ephemeral);
	if (!mix_dh(&t, id->private_key, st->remote_ephemeral, true))
		goto out;
	if (!decrypt_and_hash(&t, st->remote_static, msg->encrypted_static, sizeof(msg->encrypted_static)))
		goto out;
	transcript_store(&t, st->chaining_key, st->hash);
	st->sender_index = le32toh(msg->sender_index);
	memcpy(st->encrypted_timestamp, msg->encrypted_timestamp, sizeof(st->encrypted_timestamp));
	ok = true;
out:
	if (!ok)
		sodium_memzero(st, sizeof(*st));
	transcript_wipe(&t);
	return ok;
}

/* A replayed initiation carries a timestamp no newer than the last one accepted; a flood
 * arrives sooner than 1/INITIATIONS_PER_SECOND after it. */
static bool initiation_is_fresh(const struct noise_handshake *hs, const uint8_t timestamp[WG_TIMESTAMP_LEN],
				uint64_t now_ns)
{
	if (memcmp(timestamp, hs->latest_timestamp, WG_TIMESTAMP_LEN) <= 0)
		return false;
	return hs->last_initiation_consumption_ns == 0 ||
	       now_ns >= hs->last_initiation_consumption_ns + NSEC_PER_SECOND / INITIATIONS_PER_SECOND;
}

bool noise_consume_initiation_finish(struct noise_handshake *hs, const struct noise_identity *id,
				     struct noise_initiation_state *st, uint64_t now_ns)
{
	struct transcript t;
	uint8_t timestamp[WG_TIMESTAMP_LEN];
	bool ok = false;

	transcript_load(&t, st->chaining_key, st->hash);
	if (!id->has_private_key || sodium_memcmp(st->remote_static, hs->remote_static, WG_KEY_LEN) != 0)
		goto out;
	if (!mix_precomputed_dh(&t, hs->precomputed_static_static))
		goto out;
	if (!decrypt_and_hash(&t, timestamp, st->encrypted_timestamp, sizeof(st->encrypted_timestamp)))
		goto out;
	if (!initiation_is_fresh(hs, timestamp, now_ns))
		goto out;

	noise_handshake_clear(hs);
	memcpy(hs->latest_timestamp, timestamp, WG_TIMESTAMP_LEN);
	memcpy(hs->remote_ephemeral, st->remote_ephemeral, WG_KEY_LEN);
	transcript_store(&t, hs->chaining_key, hs->hash);
	hs->remote_index = st->sender_index;
	hs->last_initiation_consumption_ns = now_ns;
	hs->state = HANDSHAKE_CONSUMED_INITIATION;
	ok = true;
out:
	sodium_memzero(timestamp, sizeof(timestamp));
	sodium_memzero(st, sizeof(*st));
	transcript_wipe(&t);
	return ok;
}

bool noise_create_response(struct noise_handshake *hs, const struct noise_identity *id,
			   uint32_t local_index, struct msg_response *msg)
{
	struct transcript t;
	uint8_t ephemeral_public[WG_KEY_LEN];

	if (hs->state != HANDSHAKE_CONSUMED_INITIATION || !id->has_private_key)
		return false;
	memset(msg, 0, sizeof(*msg));
	msg->type = htole32(MSG_RESPONSE);
	msg->sender_index = htole32(local_index);
	msg->receiver_index = htole32(hs->remote_index);

	transcript_load(&t, hs->chaining_key, hs->hash);
	generate_ephemeral(hs->ephemeral_private, ephemeral_public);
	memcpy(msg->unencrypted_ephemeral, ephemeral_public, WG_KEY_LEN);
	mix_ephemeral(&t, ephemeral_public);
	bool ok = mix_dh(&t, hs->ephemeral_private, hs->remote_ephemeral, false) &&
		  mix_dh(&t, hs->ephemeral_private, hs->remote_static, false);
	if (ok) {
		mix_psk(&t, hs->preshared_key);
		encrypt_and_hash(&t, msg->encrypted_nothing, NULL, 0);
	}
	return end_create(hs, &t, ok, local_index, HANDSHAKE_CREATED_RESPONSE);
}

bool noise_consume_response(struct noise_handshake *hs, const struct noise_identity *id,
			    const struct msg_response *msg)
{
	struct transcript t;
	uint8_t remote_ephemeral[WG_KEY_LEN];
	bool ok = false;

	if (hs->state != HANDSHAKE_CREATED_INITIATION || !id->has_private_key ||
	    le32toh(msg->type) != MSG_RESPONSE || le32toh(msg->receiver_index) != hs->local_index)
		return false;
	transcript_load(&t, hs->chaining_key, hs->hash);
	memcpy(remote_ephemeral, msg->unencrypted_ephemeral, WG_KEY_LEN);
	mix_ephemeral(&t, remote_ephemeral);
	if (!mix_dh(&t, hs->ephemeral_private, remote_ephemeral, false))
		goto out;
	if (!mix_dh(&t, id->private_key, remote_ephemeral, false))
		goto out;
	mix_psk(&t, hs->preshared_key);
	if (!decrypt_and_hash(&t, NULL, msg->encrypted_nothing, sizeof(msg->encrypted_nothing)))
		goto out;

	transcript_store(&t, hs->chaining_key, hs->hash);
	memcpy(hs->remote_ephemeral, remote_ephemeral, WG_KEY_LEN);
	hs->remote_index = le32toh(msg->sender_index);
	hs->state = HANDSHAKE_CONSUMED_RESPONSE;
	ok = true;
out:
	sodium_memzero(remote_ephemeral, sizeof(remote_ephemeral));
	transcript_wipe(&t);
	return ok;
}

bool noise_derive_keypair(struct noise_handshake *hs, struct noise_keypair *kp, uint64_t now_ns)
{
	bool initiator = hs->state == HANDSHAKE_CONSUMED_RESPONSE;
	if (!initiator && hs->state != HANDSHAKE_CREATED_RESPONSE)
		return false;

	sodium_memzero(kp, sizeof(*kp));
	/* (T1, T2) = KDF2(C, ""): the initiator sends with T1, the responder with T2. */
	if (initiator)
		wg_kdf(kp->send_key, kp->receive_key, NULL, hs->chaining_key, NULL, 0);
	else
		wg_kdf(kp->receive_key, kp->send_key, NULL, hs->chaining_key, NULL, 0);
	replay_init(&kp->replay);
	kp->local_index = hs->local_index;
	kp->remote_index = hs->remote_index;
	kp->is_initiator = initiator;
	kp->birthdate_ns = now_ns;
	noise_handshake_clear(hs);
	return true;
}

void noise_keypair_wipe(struct noise_keypair *kp)
{
	sodium_memzero(kp, sizeof(*kp));
}
