#include "handshake/noise_xx.h"
#include "tests/unit/test.h"

#include <sodium.h>

/*
 * The Noise_XX_25519_ChaChaPoly_BLAKE2b vector of cacophony.txt, the cross-implementation Noise
 * vector file, as shipped in github.com/mcginty/snow tests/vectors/cacophony.txt
 * (commit 8ac60f51cfe3e010c84f0a454cc575ad9204fa12). Messages 3-5 are transport messages,
 * alternating responder, initiator, responder.
 */
static const char *const v_prologue = "4a6f686e2047616c74";
static const char *const v_init_static = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
static const char *const v_init_ephemeral = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
static const char *const v_resp_static = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
static const char *const v_resp_ephemeral = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";
static const char *const v_handshake_hash =
	"8cf47d7b3cb5804c0109d48e8bcdbee2cbb65687d8ea2c92994ca361fb86151a"
	"d93627b98936cbb32de56e8abb21def3925011ac3e35db9cbeea73ab9a4392c2";
static const struct {
	const char *payload, *ciphertext;
} v_messages[] = {
	{ "4c756477696720766f6e204d69736573",
	  "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69736573" },
	{ "4d757272617920526f746862617264",
	  "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f1448088430505b6745ce64a5f33f0e8e3b83f11ce"
	  "8802bca507f4f2d8b564dbe277e1966116e132faa2dfd70b8b077b9f94b913df5056ae1319469b824a98d54bbaa82c32"
	  "5595587064f978c4b6d104f7596e6f" },
	{ "462e20412e20486179656b",
	  "99579e1c1ee15e422a57ddd6b16d37087b17558e8369c18991b4b2ca3a824abf904cdcf5458b5431a75af034ca9e9b98"
	  "2de039eaaf156775e2d580cd4e5ebae89c3f8cb2594b556d8a8169" },
	{ "4361726c204d656e676572", "fc56eea290b3f3a21aac0c70cd5787b5ee99be37d2f4d751329b55" },
	{ "4a65616e2d426170746973746520536179", "bb31c9da10d5639a4cdb88a12f5c61de41bbc7df09bf75d94f8184fe4157f5c68f" },
	{ "457567656e2042f6686d20766f6e2042617765726b",
	  "f6199cadb152fb27f82be0a0891ec76a33598ae92a46cab2fb5a8ed5bf48b7f267f8370af7" },
};

static size_t unhex_alloc(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;
	if (n > cap || test_unhex(hex, out, n) != 0)
		return (size_t)-1;
	return n;
}

struct pair {
	struct noise_xx init, resp;
};

static void pair_init(struct pair *p, const uint8_t *prologue, size_t plen, const uint8_t *is,
		      const uint8_t *ie, const uint8_t *rs, const uint8_t *re)
{
	noise_xx_init(&p->init, true, prologue, plen, is, NULL, ie);
	noise_xx_init(&p->resp, false, prologue, plen, rs, NULL, re);
}

/* Sends one handshake message from the side whose turn it is; returns the read status. */
static int step(struct noise_xx *from, struct noise_xx *to, const uint8_t *payload, size_t plen,
		uint8_t *wire, size_t *wire_len)
{
	uint8_t got[256];
	size_t got_len;
	if (noise_xx_write_message(from, payload, plen, wire, 512, wire_len) != 0)
		return -2;
	if (noise_xx_read_message(to, wire, *wire_len, got, sizeof(got), &got_len) != 0)
		return -1;
	return got_len == plen && (plen == 0 || memcmp(got, payload, plen) == 0) ? 0 : -3;
}

TEST(cacophony_vector)
{
	uint8_t prologue[16], is[32], ie[32], rs[32], re[32], hash[64];
	size_t plen = unhex_alloc(v_prologue, prologue, sizeof(prologue));
	CHECK(test_unhex(v_init_static, is, 32) == 0 && test_unhex(v_init_ephemeral, ie, 32) == 0);
	CHECK(test_unhex(v_resp_static, rs, 32) == 0 && test_unhex(v_resp_ephemeral, re, 32) == 0);
	CHECK(test_unhex(v_handshake_hash, hash, 64) == 0);

	struct pair p;
	pair_init(&p, prologue, plen, is, ie, rs, re);
	struct noise_cipher send[2], recv[2]; /* [0] initiator, [1] responder */
	for (size_t i = 0; i < sizeof(v_messages) / sizeof(v_messages[0]); i++) {
		uint8_t payload[64], expect[256], wire[512], got[256];
		size_t len = unhex_alloc(v_messages[i].payload, payload, sizeof(payload));
		size_t expect_len = unhex_alloc(v_messages[i].ciphertext, expect, sizeof(expect));
		size_t wire_len;
		bool from_init = i % 2 == 0;
		if (i < 3) {
			CHECK(step(from_init ? &p.init : &p.resp, from_init ? &p.resp : &p.init, payload,
				   len, wire, &wire_len) == 0);
		} else {
			if (i == 3) {
				CHECK(noise_xx_complete(&p.init) && noise_xx_complete(&p.resp));
				CHECK_MEM(noise_xx_handshake_hash(&p.init), hash, 64);
				CHECK_MEM(noise_xx_handshake_hash(&p.resp), hash, 64);
				noise_xx_split(&p.init, &send[0], &recv[0]);
				noise_xx_split(&p.resp, &send[1], &recv[1]);
			}
			int s = from_init ? 0 : 1;
			CHECK(noise_cipher_encrypt(&send[s], NULL, 0, payload, len, wire) == 0);
			wire_len = len + NOISE_TAGLEN;
			CHECK(noise_cipher_decrypt(&recv[1 - s], NULL, 0, wire, wire_len, got) == 0);
			CHECK_MEM(got, payload, len);
		}
		CHECK(wire_len == expect_len);
		CHECK_MEM(wire, expect, expect_len);
	}
	noise_xx_wipe(&p.init);
	noise_xx_wipe(&p.resp);
}

static void random_pair(struct pair *p)
{
	uint8_t is[32], rs[32];
	randombytes_buf(is, 32);
	randombytes_buf(rs, 32);
	pair_init(p, (const uint8_t *)"tng-wg/1", 8, is, NULL, rs, NULL);
}

TEST(round_trip_agrees)
{
	struct pair p;
	uint8_t wire[512], a[32], b[32];
	size_t wire_len;
	random_pair(&p);
	CHECK(step(&p.init, &p.resp, (const uint8_t *)"\x01\x00", 2, wire, &wire_len) == 0);
	CHECK(!noise_xx_complete(&p.init));
	CHECK(step(&p.resp, &p.init, (const uint8_t *)"\x01\x03", 2, wire, &wire_len) == 0);
	CHECK(step(&p.init, &p.resp, NULL, 0, wire, &wire_len) == 0);
	CHECK(noise_xx_complete(&p.init) && noise_xx_complete(&p.resp));
	CHECK_MEM(noise_xx_handshake_hash(&p.init), noise_xx_handshake_hash(&p.resp), NOISE_HASHLEN);
	CHECK_MEM(noise_xx_remote_static(&p.init), p.resp.s_pub, 32);
	CHECK_MEM(noise_xx_remote_static(&p.resp), p.init.s_pub, 32);

	struct noise_cipher is, ir, rs, rr;
	noise_xx_split(&p.init, &is, &ir);
	noise_xx_split(&p.resp, &rs, &rr);
	CHECK_MEM(is.k, rr.k, 32);
	CHECK_MEM(ir.k, rs.k, 32);
	CHECK(memcmp(is.k, ir.k, 32) != 0);

	noise_xx_derive(&p.init, "tng-wg/1 psk", a);
	noise_xx_derive(&p.resp, "tng-wg/1 psk", b);
	CHECK_MEM(a, b, 32);
	CHECK(memcmp(a, noise_xx_handshake_hash(&p.init), 32) != 0);
	noise_xx_derive(&p.resp, "another label", b);
	CHECK(memcmp(a, b, 32) != 0);
	noise_xx_wipe(&p.init);
	noise_xx_wipe(&p.resp);
}

TEST(tampered_messages_rejected)
{
	/* Flip one byte of each encrypted part of messages 2 and 3 in turn: the reader must refuse. */
	for (int message = 1; message <= 2; message++) {
		for (size_t pos = 0; pos < 96; pos += 7) {
			struct pair p;
			uint8_t wire[512], got[256];
			size_t wire_len, got_len;
			random_pair(&p);
			CHECK(step(&p.init, &p.resp, (const uint8_t *)"hi", 2, wire, &wire_len) == 0);
			if (message == 2)
				CHECK(step(&p.resp, &p.init, (const uint8_t *)"yo", 2, wire, &wire_len) == 0);
			struct noise_xx *from = message == 1 ? &p.resp : &p.init;
			struct noise_xx *to = message == 1 ? &p.init : &p.resp;
			CHECK(noise_xx_write_message(from, (const uint8_t *)"ok", 2, wire, sizeof(wire),
						     &wire_len) == 0);
			if (pos >= wire_len)
				continue;
			wire[pos] ^= 0x01;
			CHECK(noise_xx_read_message(to, wire, wire_len, got, sizeof(got), &got_len) != 0);
			CHECK(!noise_xx_complete(to));
		}
	}
}

TEST(out_of_turn_and_short_rejected)
{
	struct pair p;
	uint8_t wire[512], got[256];
	size_t wire_len, got_len;
	random_pair(&p);
	CHECK(noise_xx_write_message(&p.resp, NULL, 0, wire, sizeof(wire), &wire_len) != 0);
	CHECK(noise_xx_read_message(&p.init, wire, 40, got, sizeof(got), &got_len) != 0);
	CHECK(noise_xx_write_message(&p.init, NULL, 0, wire, sizeof(wire), &wire_len) == 0);
	CHECK(noise_xx_read_message(&p.resp, wire, 31, got, sizeof(got), &got_len) != 0);
	CHECK(noise_xx_read_message(&p.resp, wire, wire_len, got, sizeof(got), &got_len) == 0);
	CHECK(noise_xx_write_message(&p.resp, NULL, 0, wire, sizeof(wire), &wire_len) == 0);
	CHECK(noise_xx_read_message(&p.init, wire, wire_len - 1, got, sizeof(got), &got_len) != 0);
}

TEST(low_order_ephemeral_rejected)
{
	/* An all-zero public key yields an all-zero DH result, which must not key the session. */
	struct pair p;
	uint8_t wire[512], got[256];
	size_t wire_len, got_len;
	random_pair(&p);
	CHECK(noise_xx_write_message(&p.init, NULL, 0, wire, sizeof(wire), &wire_len) == 0);
	memset(wire, 0, 32);
	CHECK(noise_xx_read_message(&p.resp, wire, wire_len, got, sizeof(got), &got_len) == 0);
	CHECK(noise_xx_write_message(&p.resp, NULL, 0, wire, sizeof(wire), &wire_len) != 0);
}

TEST(transport_nonce_and_forgery)
{
	struct noise_cipher a = { .n = 0 }, b = { .n = 0 };
	uint8_t ct[64], pt[64];
	randombytes_buf(a.k, 32);
	memcpy(b.k, a.k, 32);
	CHECK(noise_cipher_encrypt(&a, NULL, 0, (const uint8_t *)"first", 5, ct) == 0);
	ct[0] ^= 1;
	CHECK(noise_cipher_decrypt(&b, NULL, 0, ct, 5 + NOISE_TAGLEN, pt) != 0);
	CHECK(b.n == 0);
	ct[0] ^= 1;
	CHECK(noise_cipher_decrypt(&b, NULL, 0, ct, 5 + NOISE_TAGLEN, pt) == 0);
	CHECK(b.n == 1);
	CHECK(noise_cipher_decrypt(&b, NULL, 0, ct, 5 + NOISE_TAGLEN, pt) != 0); /* replayed */
	CHECK(noise_cipher_decrypt(&b, NULL, 0, ct, NOISE_TAGLEN - 1, pt) != 0);
	a.n = UINT64_MAX;
	CHECK(noise_cipher_encrypt(&a, NULL, 0, pt, 1, ct) != 0);
}

int main(void)
{
	TEST_BEGIN("noise_xx");
	if (sodium_init() < 0)
		return 1;
	RUN(cacophony_vector);
	RUN(round_trip_agrees);
	RUN(tampered_messages_rejected);
	RUN(out_of_turn_and_short_rejected);
	RUN(low_order_ephemeral_rejected);
	RUN(transport_nonce_and_forgery);
	TEST_END();
}
