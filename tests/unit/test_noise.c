/* Noise_IKpsk2 handshakes between two real identities. */
#include "overlay/crypto.h"
#include "overlay/noise.h"
#include "tests/unit/test.h"

#include <sodium.h>
#include <time.h>

#define SEC 1000000000ULL
#define MSEC 1000000ULL
#define T0 (1000 * SEC)

struct side {
	struct noise_identity id;
	struct noise_handshake hs;
};

static void make_identity(struct noise_identity *id)
{
	uint8_t sk[WG_KEY_LEN];
	wg_generate_private_key(sk);
	noise_identity_set(id, sk);
	sodium_memzero(sk, sizeof(sk));
}

/* Initiator a and responder b know each other, sharing psk (NULL: none). */
static void make_pair(struct side *a, struct side *b, const uint8_t *psk_a, const uint8_t *psk_b)
{
	make_identity(&a->id);
	make_identity(&b->id);
	noise_handshake_init(&a->hs, &a->id, b->id.public_key, psk_a);
	noise_handshake_init(&b->hs, &b->id, a->id.public_key, psk_b);
}

/* The responder's full consumption of an initiation. */
static bool consume_initiation(struct side *b, const struct msg_initiation *m, uint64_t now_ns)
{
	struct noise_initiation_state st;
	return noise_consume_initiation_begin(&b->id, m, &st) &&
	       noise_consume_initiation_finish(&b->hs, &b->id, &st, now_ns);
}

/* Both sides through to derived keypairs; returns false at the first failing step. */
static bool full_handshake(struct side *a, struct side *b, uint64_t now_ns, struct noise_keypair *ka,
			   struct noise_keypair *kb)
{
	struct msg_initiation m1;
	struct msg_response m2;
	return noise_create_initiation(&a->hs, &a->id, 11, &m1) && consume_initiation(b, &m1, now_ns) &&
	       noise_create_response(&b->hs, &b->id, 22, &m2) && noise_consume_response(&a->hs, &a->id, &m2) &&
	       noise_derive_keypair(&a->hs, ka, now_ns) && noise_derive_keypair(&b->hs, kb, now_ns);
}

static bool data_flows(const uint8_t *send_key, const uint8_t *receive_key, uint64_t counter)
{
	uint8_t packet[64] = "an inner IP packet, padded to sixteen", sealed[sizeof(packet) + 16], opened[sizeof(packet)];
	wg_aead_seal(sealed, packet, sizeof(packet), NULL, 0, counter, send_key);
	return wg_aead_open(opened, sealed, sizeof(sealed), NULL, 0, counter, receive_key) &&
	       memcmp(opened, packet, sizeof(packet)) == 0;
}

TEST(complete_handshake_derives_matching_keypairs)
{
	struct side a, b;
	struct msg_initiation m1;
	struct msg_response m2;
	struct noise_initiation_state st;
	struct noise_keypair ka, kb;
	uint8_t psk[WG_KEY_LEN];
	randombytes_buf(psk, sizeof(psk));
	make_pair(&a, &b, psk, psk);

	CHECK(noise_create_initiation(&a.hs, &a.id, 0x11223344, &m1));
	CHECK(a.hs.state == HANDSHAKE_CREATED_INITIATION);
	CHECK(m1.type == MSG_INITIATION && ((uint8_t *)&m1)[0] == 1 && ((uint8_t *)&m1)[4] == 0x44);
	CHECK(noise_consume_initiation_begin(&b.id, &m1, &st));
	CHECK_MEM(st.remote_static, a.id.public_key, WG_KEY_LEN);
	CHECK(st.sender_index == 0x11223344);
	CHECK(noise_consume_initiation_finish(&b.hs, &b.id, &st, T0));
	CHECK(b.hs.state == HANDSHAKE_CONSUMED_INITIATION);
	CHECK(b.hs.remote_index == 0x11223344);

	CHECK(noise_create_response(&b.hs, &b.id, 0x55667788, &m2));
	CHECK(b.hs.state == HANDSHAKE_CREATED_RESPONSE);
	CHECK(m2.type == MSG_RESPONSE && m2.receiver_index == 0x11223344 && m2.sender_index == 0x55667788);
	CHECK(noise_consume_response(&a.hs, &a.id, &m2));
	CHECK(a.hs.state == HANDSHAKE_CONSUMED_RESPONSE);
	CHECK(a.hs.remote_index == 0x55667788);
	/* Both transcripts agree before the split. */
	CHECK_MEM(a.hs.chaining_key, b.hs.chaining_key, WG_HASH_LEN);
	CHECK_MEM(a.hs.hash, b.hs.hash, WG_HASH_LEN);

	CHECK(noise_derive_keypair(&a.hs, &ka, T0));
	CHECK(noise_derive_keypair(&b.hs, &kb, T0));
	CHECK_MEM(ka.send_key, kb.receive_key, WG_KEY_LEN);
	CHECK_MEM(ka.receive_key, kb.send_key, WG_KEY_LEN);
	CHECK(memcmp(ka.send_key, ka.receive_key, WG_KEY_LEN) != 0);
	CHECK(ka.is_initiator && !kb.is_initiator);
	CHECK(ka.local_index == 0x11223344 && ka.remote_index == 0x55667788);
	CHECK(kb.local_index == 0x55667788 && kb.remote_index == 0x11223344);
	CHECK(ka.send_counter == 0 && kb.birthdate_ns == T0);
	CHECK(data_flows(ka.send_key, kb.receive_key, 0));
	CHECK(data_flows(kb.send_key, ka.receive_key, 7));
	CHECK(!data_flows(ka.send_key, ka.receive_key, 0));

	/* Deriving wiped the handshakes' secrets. */
	CHECK(a.hs.state == HANDSHAKE_ZEROED && b.hs.state == HANDSHAKE_ZEROED);
	CHECK(sodium_is_zero(a.hs.chaining_key, WG_HASH_LEN) && sodium_is_zero(b.hs.chaining_key, WG_HASH_LEN));
	CHECK(sodium_is_zero(a.hs.ephemeral_private, WG_KEY_LEN) && sodium_is_zero(b.hs.ephemeral_private, WG_KEY_LEN));
	noise_keypair_wipe(&ka);
	CHECK(sodium_is_zero((const unsigned char *)&ka, sizeof(ka)));
}

/* Recompute both messages and the keypair step by step from the protocol's table (C, H, k),
 * using the ephemeral private keys the handshakes hold, and compare with what noise.c made. */
TEST(transcript_follows_the_protocol_table)
{
	struct side a, b;
	struct msg_initiation m1;
	struct msg_response m2;
	struct noise_keypair ka, kb;
	uint8_t psk[WG_KEY_LEN], e_i[WG_KEY_LEN], e_r[WG_KEY_LEN], pub[WG_KEY_LEN], dh[WG_KEY_LEN];
	uint8_t c[WG_HASH_LEN], h[WG_HASH_LEN], k[WG_KEY_LEN], tau[WG_HASH_LEN], t1[WG_HASH_LEN], t2[WG_HASH_LEN];
	uint8_t enc_static[WG_KEY_LEN + WG_AEAD_TAG_LEN], timestamp[WG_TIMESTAMP_LEN], tag[WG_AEAD_TAG_LEN];
	static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
	static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
	randombytes_buf(psk, sizeof(psk));
	make_pair(&a, &b, psk, psk);

	CHECK(noise_create_initiation(&a.hs, &a.id, 1, &m1));
	memcpy(e_i, a.hs.ephemeral_private, sizeof(e_i));
	CHECK(consume_initiation(&b, &m1, T0));
	CHECK(noise_create_response(&b.hs, &b.id, 2, &m2));
	memcpy(e_r, b.hs.ephemeral_private, sizeof(e_r));
	CHECK(noise_consume_response(&a.hs, &a.id, &m2));

	/* start: C = Ci, H = HASH(Hi || S_r) */
	wg_hash(c, construction, strlen(construction), NULL, 0);
	wg_hash(h, c, sizeof(c), identifier, strlen(identifier));
	wg_hash(h, h, sizeof(h), b.id.public_key, WG_KEY_LEN);
	/* msg1 e */
	wg_public_key(pub, e_i);
	CHECK_MEM(pub, m1.unencrypted_ephemeral, WG_KEY_LEN);
	wg_kdf(c, NULL, NULL, c, pub, WG_KEY_LEN);
	wg_hash(h, h, sizeof(h), pub, WG_KEY_LEN);
	/* msg1 es, s */
	CHECK(wg_dh(dh, e_i, b.id.public_key));
	wg_kdf(c, k, NULL, c, dh, sizeof(dh));
	wg_aead_seal(enc_static, a.id.public_key, WG_KEY_LEN, h, sizeof(h), 0, k);
	CHECK_MEM(enc_static, m1.encrypted_static, sizeof(enc_static));
	wg_hash(h, h, sizeof(h), enc_static, sizeof(enc_static));
	/* msg1 ss, {t} */
	CHECK(wg_dh(dh, a.id.private_key, b.id.public_key));
	wg_kdf(c, k, NULL, c, dh, sizeof(dh));
	CHECK(wg_aead_open(timestamp, m1.encrypted_timestamp, sizeof(m1.encrypted_timestamp), h, sizeof(h), 0, k));
	CHECK(timestamp[0] == 0x40);
	CHECK_MEM(timestamp, b.hs.latest_timestamp, WG_TIMESTAMP_LEN);
	wg_hash(h, h, sizeof(h), m1.encrypted_timestamp, sizeof(m1.encrypted_timestamp));
	/* msg2 e, ee, se */
	wg_public_key(pub, e_r);
	CHECK_MEM(pub, m2.unencrypted_ephemeral, WG_KEY_LEN);
	wg_kdf(c, NULL, NULL, c, pub, WG_KEY_LEN);
	wg_hash(h, h, sizeof(h), pub, WG_KEY_LEN);
	CHECK(wg_dh(dh, e_r, m1.unencrypted_ephemeral));
	wg_kdf(c, NULL, NULL, c, dh, sizeof(dh));
	CHECK(wg_dh(dh, e_r, a.id.public_key));
	wg_kdf(c, NULL, NULL, c, dh, sizeof(dh));
	/* msg2 psk, {} */
	wg_kdf(c, tau, k, c, psk, sizeof(psk));
	wg_hash(h, h, sizeof(h), tau, sizeof(tau));
	wg_aead_seal(tag, NULL, 0, h, sizeof(h), 0, k);
	CHECK_MEM(tag, m2.encrypted_nothing, sizeof(tag));
	wg_hash(h, h, sizeof(h), tag, sizeof(tag));
	CHECK_MEM(c, a.hs.chaining_key, sizeof(c));
	CHECK_MEM(h, a.hs.hash, sizeof(h));

	/* keys: (T1, T2) = KDF2(C, ""); the initiator sends with T1, the responder with T2. */
	wg_kdf(t1, t2, NULL, c, NULL, 0);
	CHECK(noise_derive_keypair(&a.hs, &ka, T0));
	CHECK(noise_derive_keypair(&b.hs, &kb, T0));
	CHECK_MEM(ka.send_key, t1, WG_KEY_LEN);
	CHECK_MEM(ka.receive_key, t2, WG_KEY_LEN);
	CHECK_MEM(kb.receive_key, t1, WG_KEY_LEN);
	CHECK_MEM(kb.send_key, t2, WG_KEY_LEN);
}

TEST(no_psk_works_on_both_sides)
{
	struct side a, b;
	struct noise_keypair ka, kb;
	make_pair(&a, &b, NULL, NULL);
	CHECK(full_handshake(&a, &b, T0, &ka, &kb));
	CHECK(data_flows(ka.send_key, kb.receive_key, 1));
}

TEST(wrong_responder_static_fails)
{
	struct side a, b, c;
	struct msg_initiation m1;
	struct noise_initiation_state st;
	make_pair(&a, &b, NULL, NULL);
	make_identity(&c.id);
	/* a believes the responder is c but sends to b: b cannot open the static key. */
	noise_handshake_init(&a.hs, &a.id, c.id.public_key, NULL);
	CHECK(noise_create_initiation(&a.hs, &a.id, 1, &m1));
	CHECK(!noise_consume_initiation_begin(&b.id, &m1, &st));
	CHECK(sodium_is_zero((const unsigned char *)&st, sizeof(st)));
}

TEST(initiation_for_another_peer_fails_at_finish)
{
	struct side a, b, c;
	struct msg_initiation m1;
	struct noise_initiation_state st;
	make_pair(&a, &b, NULL, NULL);
	make_identity(&c.id);
	CHECK(noise_create_initiation(&a.hs, &a.id, 1, &m1));
	CHECK(noise_consume_initiation_begin(&b.id, &m1, &st));
	/* The caller hands over a handshake for a different remote key. */
	struct noise_handshake other;
	noise_handshake_init(&other, &b.id, c.id.public_key, NULL);
	CHECK(!noise_consume_initiation_finish(&other, &b.id, &st, T0));
	CHECK(other.state == HANDSHAKE_ZEROED);
}

TEST(replayed_initiation_refused)
{
	struct side a, b;
	struct msg_initiation m1;
	make_pair(&a, &b, NULL, NULL);
	CHECK(noise_create_initiation(&a.hs, &a.id, 1, &m1));
	CHECK(consume_initiation(&b, &m1, T0));
	/* Same message a second later: same timestamp, refused; state untouched. */
	uint8_t ck[WG_HASH_LEN];
	memcpy(ck, b.hs.chaining_key, sizeof(ck));
	CHECK(!consume_initiation(&b, &m1, T0 + SEC));
	CHECK(b.hs.state == HANDSHAKE_CONSUMED_INITIATION);
	CHECK_MEM(ck, b.hs.chaining_key, sizeof(ck));
	/* Still refused after the handshake completed and was cleared. */
	struct msg_response m2;
	struct noise_keypair kb;
	CHECK(noise_create_response(&b.hs, &b.id, 2, &m2));
	CHECK(noise_derive_keypair(&b.hs, &kb, T0));
	CHECK(!consume_initiation(&b, &m1, T0 + 2 * SEC));
	CHECK(b.hs.state == HANDSHAKE_ZEROED);
}

TEST(initiation_within_20ms_refused)
{
	struct side a, b;
	struct msg_initiation m1, m2;
	make_pair(&a, &b, NULL, NULL);
	CHECK(noise_create_initiation(&a.hs, &a.id, 1, &m1));
	CHECK(consume_initiation(&b, &m1, T0));
	/* Wait past the timestamp granularity (2^24 ns) so the next timestamp is strictly newer. */
	struct timespec pause = { 0, 40 * MSEC };
	nanosleep(&pause, NULL);
	CHECK(noise_create_initiation(&a.hs, &a.id, 2, &m2));
	CHECK(memcmp(&m1, &m2, sizeof(m1)) != 0);
	CHECK(!consume_initiation(&b, &m2, T0 + 19 * MSEC));
	CHECK(b.hs.remote_index == 1);
	CHECK(consume_initiation(&b, &m2, T0 + 20 * MSEC));
	CHECK(b.hs.remote_index == 2);
}

TEST(psk_mismatch_fails_at_response)
{
	struct side a, b;
	struct msg_initiation m1;
	struct msg_response m2;
	uint8_t psk_a[WG_KEY_LEN], psk_b[WG_KEY_LEN];
	randombytes_buf(psk_a, sizeof(psk_a));
	memcpy(psk_b, psk_a, sizeof(psk_b));
	psk_b[31] ^= 1;
	make_pair(&a, &b, psk_a, psk_b);
	CHECK(noise_create_initiation(&a.hs, &a.id, 1, &m1));
	CHECK(consume_initiation(&b, &m1, T0));
	CHECK(noise_create_response(&b.hs, &b.id, 2, &m2));
	CHECK(!noise_consume_response(&a.hs, &a.id, &m2));
	CHECK(a.hs.state == HANDSHAKE_CREATED_INITIATION);

	/* With the PSK fixed on b, a fresh response to the same initiation completes. */
	noise_handshake_init(&b.hs, &b.id, a.id.public_key, psk_a);
	CHECK(consume_initiation(&b, &m1, T0 + SEC));
	CHECK(noise_create_response(&b.hs, &b.id, 3, &m2));
	CHECK(noise_consume_response(&a.hs, &a.id, &m2));
}

TEST(tampered_initiation_fields_fail)
{
	struct side a, b;
	struct msg_initiation m1, bad;
	make_pair(&a, &b, NULL, NULL);
	CHECK(noise_create_initiation(&a.hs, &a.id, 1, &m1));
	size_t offsets[] = { 8, 8 + 31, 40, 40 + 47, 88, 88 + 27 };
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		bad = m1;
		((uint8_t *)&bad)[offsets[i]] ^= 0x04;
		if (consume_initiation(&b, &bad, T0)) {
			fprintf(stderr, "  flipped byte %zu accepted\n", offsets[i]);
			test_case_failed = 1;
		}
	}
	bad = m1;
	bad.type = MSG_RESPONSE;
	CHECK(!consume_initiation(&b, &bad, T0));
	CHECK(b.hs.state == HANDSHAKE_ZEROED);
	CHECK(consume_initiation(&b, &m1, T0));
}

TEST(tampered_response_fields_fail)
{
	struct side a, b;
	struct msg_initiation m1;
	struct msg_response m2, bad;
	make_pair(&a, &b, NULL, NULL);
	CHECK(noise_create_initiation(&a.hs, &a.id, 1, &m1));
	CHECK(consume_initiation(&b, &m1, T0));
	CHECK(noise_create_response(&b.hs, &b.id, 2, &m2));
	size_t offsets[] = { 8, 12, 12 + 31, 44, 44 + 15 };
	for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		bad = m2;
		((uint8_t *)&bad)[offsets[i]] ^= 0x20;
		if (noise_consume_response(&a.hs, &a.id, &bad)) {
			fprintf(stderr, "  flipped byte %zu accepted\n", offsets[i]);
			test_case_failed = 1;
		}
	}
	CHECK(a.hs.state == HANDSHAKE_CREATED_INITIATION);
	CHECK(noise_consume_response(&a.hs, &a.id, &m2));
	/* A response is consumed once. */
	CHECK(!noise_consume_response(&a.hs, &a.id, &m2));
}

TEST(low_order_ephemeral_refused)
{
	struct side a, b;
	struct msg_initiation m1;
	struct noise_initiation_state st;
	make_pair(&a, &b, NULL, NULL);
	CHECK(noise_create_initiation(&a.hs, &a.id, 1, &m1));
	memset(m1.unencrypted_ephemeral, 0, WG_KEY_LEN);
	CHECK(!noise_consume_initiation_begin(&b.id, &m1, &st));
	m1.unencrypted_ephemeral[0] = 1;
	CHECK(!noise_consume_initiation_begin(&b.id, &m1, &st));
}

TEST(states_reset_and_are_enforced)
{
	struct side a, b;
	struct msg_initiation m1;
	struct msg_response m2;
	struct noise_keypair kp;
	make_pair(&a, &b, NULL, NULL);

	/* Nothing to respond to, nothing to derive. */
	CHECK(!noise_create_response(&b.hs, &b.id, 2, &m2));
	CHECK(!noise_derive_keypair(&a.hs, &kp, T0));
	CHECK(noise_create_initiation(&a.hs, &a.id, 1, &m1));
	CHECK(!noise_derive_keypair(&a.hs, &kp, T0));

	/* Clearing drops the pending initiation but keeps the peer's settings. */
	noise_handshake_clear(&a.hs);
	CHECK(a.hs.state == HANDSHAKE_ZEROED);
	CHECK(sodium_is_zero(a.hs.ephemeral_private, WG_KEY_LEN));
	CHECK(sodium_is_zero(a.hs.chaining_key, WG_HASH_LEN));
	CHECK_MEM(a.hs.remote_static, b.id.public_key, WG_KEY_LEN);
	CHECK(consume_initiation(&b, &m1, T0));
	CHECK(noise_create_response(&b.hs, &b.id, 2, &m2));
	CHECK(!noise_consume_response(&a.hs, &a.id, &m2));

	/* A response for another index is refused. */
	noise_handshake_init(&b.hs, &b.id, a.id.public_key, NULL);
	CHECK(noise_create_initiation(&a.hs, &a.id, 5, &m1));
	CHECK(consume_initiation(&b, &m1, T0 + SEC));
	CHECK(noise_create_response(&b.hs, &b.id, 6, &m2));
	a.hs.local_index = 4;
	CHECK(!noise_consume_response(&a.hs, &a.id, &m2));
	a.hs.local_index = 5;
	CHECK(noise_consume_response(&a.hs, &a.id, &m2));
}

TEST(identity_removal_and_change)
{
	struct side a, b;
	struct msg_initiation m1;
	struct noise_keypair ka, kb;
	uint8_t zero[WG_KEY_LEN] = { 0 };
	make_pair(&a, &b, NULL, NULL);

	noise_identity_set(&a.id, zero);
	CHECK(!a.id.has_private_key);
	CHECK(!noise_create_initiation(&a.hs, &a.id, 1, &m1));

	/* A new key for a: b learns it, a recomputes its static-static DH, they agree again. */
	make_identity(&a.id);
	noise_handshake_precompute(&a.hs, &a.id);
	noise_handshake_init(&b.hs, &b.id, a.id.public_key, NULL);
	CHECK(full_handshake(&a, &b, T0, &ka, &kb));
	CHECK(data_flows(ka.send_key, kb.receive_key, 3));
}

TEST(identity_stores_clamped_key)
{
	struct noise_identity id;
	uint8_t sk[WG_KEY_LEN], pub[WG_KEY_LEN];
	memset(sk, 0xff, sizeof(sk));
	noise_identity_set(&id, sk);
	CHECK(id.has_private_key && id.private_key[0] == 0xf8 && id.private_key[31] == 0x7f);
	wg_public_key(pub, sk);
	CHECK_MEM(pub, id.public_key, WG_KEY_LEN);
	noise_identity_clear(&id);
	CHECK(sodium_is_zero((const unsigned char *)&id, sizeof(id)));
}

int main(void)
{
	TEST_BEGIN("noise");
	RUN(complete_handshake_derives_matching_keypairs);
	RUN(transcript_follows_the_protocol_table);
	RUN(no_psk_works_on_both_sides);
	RUN(wrong_responder_static_fails);
	RUN(initiation_for_another_peer_fails_at_finish);
	RUN(replayed_initiation_refused);
	RUN(initiation_within_20ms_refused);
	RUN(psk_mismatch_fails_at_response);
	RUN(tampered_initiation_fields_fail);
	RUN(tampered_response_fields_fail);
	RUN(low_order_ephemeral_refused);
	RUN(states_reset_and_are_enforced);
	RUN(identity_removal_and_change);
	RUN(identity_stores_clamped_key);
	TEST_END();
}
