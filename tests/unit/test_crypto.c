/* WireGuard's primitives against published vectors. */
#include "overlay/crypto.h"
#include "tests/unit/test.h"

#include <sodium.h>
#include <time.h>

static void unhex(const char *hex, uint8_t *out, size_t len)
{
	if (test_unhex(hex, out, len) != 0) {
		fprintf(stderr, "  bad hex vector %s\n", hex);
		test_case_failed = 1;
	}
}

static void unbase64_key(const char *b64, uint8_t out[WG_KEY_LEN])
{
	size_t len = 0;
	if (sodium_base642bin(out, WG_KEY_LEN, b64, strlen(b64), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || len != WG_KEY_LEN) {
		fprintf(stderr, "  bad base64 key %s\n", b64);
		test_case_failed = 1;
	}
}

TEST(initial_chaining_key_and_hash)
{
	static const char construction[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
	static const char identifier[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";
	uint8_t ci[WG_HASH_LEN], hi[WG_HASH_LEN], want[WG_HASH_LEN];

	wg_hash(ci, construction, strlen(construction), NULL, 0);
	unhex("60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36", want, sizeof(want));
	CHECK_MEM(ci, want, sizeof(want));

	wg_hash(hi, ci, sizeof(ci), identifier, strlen(identifier));
	unhex("2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3", want, sizeof(want));
	CHECK_MEM(hi, want, sizeof(want));
}

TEST(blake2s_known_answers)
{
	uint8_t out[WG_HASH_LEN], want[WG_HASH_LEN], key[32], in[64], mac[WG_MAC_LEN], want_mac[WG_MAC_LEN];

	/* RFC 7693 appendix B. */
	wg_hash(out, "abc", 3, NULL, 0);
	unhex("508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982", want, sizeof(want));
	CHECK_MEM(out, want, sizeof(want));
	/* Split input hashes like the concatenation. */
	wg_hash(out, "a", 1, "bc", 2);
	CHECK_MEM(out, want, sizeof(want));

	/* Keyed BLAKE2s, 16-byte output, key 00..1f, input 00..3f: the value Python's independent
	 * hashlib.blake2s(key=..., digest_size=16) gives. */
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	wg_mac(mac, key, sizeof(key), in, sizeof(in));
	unhex("f1efa90d2547036841ecd3627fafbc36", want_mac, sizeof(want_mac));
	CHECK_MEM(mac, want_mac, sizeof(want_mac));
}

/* wireguard-go's vectors key the KDF with short strings; HMAC zero-pads keys to its block, so
 * each equals wg_kdf over the string zero-padded to a 32-byte chaining key. */
TEST(kdf_vectors)
{
	static const struct {
		const char *key, *input, *t[3];
	} v[] = {
		{ "test-key", "test-input",
		  { "6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633",
		    "df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a",
		    "fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24" } },
		{ "wireguard", "wireguard",
		  { "491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8",
		    "1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f",
		    "31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160" } },
		{ "", "",
		  { "8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0",
		    "58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e",
		    "0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e" } },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t ck[WG_HASH_LEN] = { 0 }, t[3][WG_HASH_LEN], want[3][WG_HASH_LEN];
		uint8_t one[WG_HASH_LEN], two[2][WG_HASH_LEN], only_third[WG_HASH_LEN];
		memcpy(ck, v[i].key, strlen(v[i].key));
		for (int j = 0; j < 3; j++)
			unhex(v[i].t[j], want[j], WG_HASH_LEN);
		wg_kdf(t[0], t[1], t[2], ck, v[i].input, strlen(v[i].input));
		CHECK_MEM(t, want, sizeof(want));
		/* KDF1 and KDF2 are prefixes of KDF3; unwanted outputs may be NULL. */
		wg_kdf(one, NULL, NULL, ck, v[i].input, strlen(v[i].input));
		wg_kdf(two[0], two[1], NULL, ck, v[i].input, strlen(v[i].input));
		wg_kdf(one, NULL, only_third, ck, v[i].input, strlen(v[i].input));
		CHECK_MEM(one, want[0], WG_HASH_LEN);
		CHECK_MEM(two, want, sizeof(two));
		CHECK_MEM(only_third, want[2], WG_HASH_LEN);
	}
}

/* RFC 7539 section 2.8.2. */
static const char rfc_plaintext[] = "Ladies and Gentlemen of the class of '99: If I could offer you only one "
				    "tip for the future, sunscreen would be it.";
static const char rfc_ciphertext_and_tag[] =
	"d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
	"1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	"3ff4def08e4b7a9de576d26586cec64b6116"
	"1ae10b594f09e26a7e902ecbd0600691";

TEST(rfc7539_aead_vector)
{
	uint8_t key[WG_KEY_LEN], nonce[12], ad[12];
	size_t len = strlen(rfc_plaintext);
	uint8_t want[sizeof(rfc_plaintext) - 1 + WG_AEAD_TAG_LEN], out[sizeof(want)], back[sizeof(want)];
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
	unhex("070000004041424344454647", nonce, sizeof(nonce));
	unhex("50515253c0c1c2c3c4c5c6c7", ad, sizeof(ad));
	unhex(rfc_ciphertext_and_tag, want, sizeof(want));

	wg_chacha20poly1305_seal(out, (const uint8_t *)rfc_plaintext, len, ad, sizeof(ad), nonce, key);
	CHECK_MEM(out, want, sizeof(want));
	CHECK(wg_chacha20poly1305_open(back, want, sizeof(want), ad, sizeof(ad), nonce, key));
	CHECK_MEM(back, rfc_plaintext, len);
	/* A second seal through the reused context gives the same bytes. */
	wg_chacha20poly1305_seal(out, (const uint8_t *)rfc_plaintext, len, ad, sizeof(ad), nonce, key);
	CHECK_MEM(out, want, sizeof(want));
	/* Wrong AD or a flipped tag bit fails and leaves no plaintext behind. */
	CHECK(!wg_chacha20poly1305_open(back, want, sizeof(want), ad, sizeof(ad) - 1, nonce, key));
	want[sizeof(want) - 1] ^= 1;
	CHECK(!wg_chacha20poly1305_open(back, want, sizeof(want), ad, sizeof(ad), nonce, key));
	uint8_t zeros[sizeof(back)] = { 0 };
	CHECK_MEM(back, zeros, len);
}

TEST(transport_nonce_is_zero32_then_le64_counter)
{
	uint8_t key[WG_KEY_LEN], in[100], a[sizeof(in) + 16], b[sizeof(a)], c[sizeof(a)];
	const uint64_t counter = 0x4746454443424140ULL;
	const uint8_t nonce[12] = { 0, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47 };
	randombytes_buf(key, sizeof(key));
	randombytes_buf(in, sizeof(in));

	wg_aead_seal(a, in, sizeof(in), NULL, 0, counter, key);
	wg_chacha20poly1305_seal(b, in, sizeof(in), NULL, 0, nonce, key);
	CHECK_MEM(a, b, sizeof(a));
	/* libsodium's independent ChaCha20-Poly1305 agrees. */
	unsigned long long clen = 0;
	CHECK(crypto_aead_chacha20poly1305_ietf_encrypt(c, &clen, in, sizeof(in), NULL, 0, NULL, nonce, key) == 0);
	CHECK(clen == sizeof(c));
	CHECK_MEM(a, c, sizeof(a));

	/* Opens under the same counter only; in place works. */
	CHECK(!wg_aead_open(b, a, sizeof(a), NULL, 0, counter + 1, key));
	CHECK(wg_aead_open(a, a, sizeof(a), NULL, 0, counter, key));
	CHECK_MEM(a, in, sizeof(in));
}

/* Messages under two keys in turn, sealed and opened by one thread (whose context keeps the last
 * key), each equal to libsodium's independent result. */
TEST(alternating_keys_match_libsodium)
{
	uint8_t k1[32], k2[32], in[1420], a[1436], b[1436], back[1420];
	randombytes_buf(k1, sizeof(k1));
	memcpy(k2, k1, sizeof(k2));
	k2[31] ^= 1; /* differs in the last byte only */
	randombytes_buf(in, sizeof(in));
	bool ok = true;
	for (uint64_t i = 0; i < 40; i++) {
		const uint8_t *key = (i / 3) % 2 ? k2 : k1;
		size_t len = (size_t)(i * 37) % sizeof(in);
		uint8_t nonce[12] = { 0 };
		uint64_t le = htole64(i);
		memcpy(nonce + 4, &le, 8);
		unsigned long long clen;
		wg_aead_seal(a, in, len, NULL, 0, i, key);
		crypto_aead_chacha20poly1305_ietf_encrypt(b, &clen, in, len, NULL, 0, NULL, nonce, key);
		ok = ok && clen == len + 16 && !memcmp(a, b, clen);
		ok = ok && wg_aead_open(back, a, len + 16, NULL, 0, i, key) && !memcmp(back, in, len);
		ok = ok && !wg_aead_open(back, a, len + 16, NULL, 0, i, key == k1 ? k2 : k1);
	}
	CHECK(ok);
}

TEST(empty_plaintext_is_a_bare_tag)
{
	uint8_t key[WG_KEY_LEN], tag[WG_AEAD_TAG_LEN], none[1];
	randombytes_buf(key, sizeof(key));
	wg_aead_seal(tag, NULL, 0, NULL, 0, 0, key);
	CHECK(wg_aead_open(none, tag, sizeof(tag), NULL, 0, 0, key));
	CHECK(!wg_aead_open(none, tag, sizeof(tag) - 1, NULL, 0, 0, key));
	tag[0] ^= 0x80;
	CHECK(!wg_aead_open(none, tag, sizeof(tag), NULL, 0, 0, key));
}

TEST(wireguard_tools_key_pair)
{
	uint8_t private_key[WG_KEY_LEN], public_key[WG_KEY_LEN], want[WG_KEY_LEN];
	unbase64_key("WAmgVYXkbT2bCtdcDwolI88/iVi/aV3/PHcUBTQSYmo=", private_key);
	unbase64_key("K5sF9yESrSBsOXPd6TcpKNgqoy1Ik3ZFKl4FolzrRyI=", want);
	wg_public_key(public_key, private_key);
	CHECK_MEM(public_key, want, sizeof(want));
}

TEST(dh_agrees_and_generated_keys_are_clamped)
{
	uint8_t a[WG_KEY_LEN], b[WG_KEY_LEN], pa[WG_KEY_LEN], pb[WG_KEY_LEN], s1[WG_KEY_LEN], s2[WG_KEY_LEN];
	wg_generate_private_key(a);
	wg_generate_private_key(b);
	CHECK((a[0] & 7) == 0 && (a[31] & 0xc0) == 0x40);
	wg_public_key(pa, a);
	wg_public_key(pb, b);
	CHECK(wg_dh(s1, a, pb));
	CHECK(wg_dh(s2, b, pa));
	CHECK_MEM(s1, s2, sizeof(s1));
}

TEST(low_order_public_keys_fail)
{
	static const char *const low_order[] = {
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA=", "X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc=",
		"7P///////////////////////////////////////38=", "7f///////////////////////////////////////38=",
		"7v///////////////////////////////////////38=",
	};
	uint8_t private_key[WG_KEY_LEN], public_key[WG_KEY_LEN], shared[WG_KEY_LEN];
	wg_generate_private_key(private_key);
	for (size_t i = 0; i < sizeof(low_order) / sizeof(low_order[0]); i++) {
		unbase64_key(low_order[i], public_key);
		if (wg_dh(shared, private_key, public_key)) {
			fprintf(stderr, "  low-order key %s accepted\n", low_order[i]);
			test_case_failed = 1;
		}
	}
}

TEST(xchacha_round_trip_and_tamper)
{
	uint8_t key[WG_KEY_LEN], nonce[WG_COOKIE_NONCE_LEN], ad[WG_MAC_LEN], cookie[WG_COOKIE_LEN];
	uint8_t sealed[WG_COOKIE_LEN + WG_AEAD_TAG_LEN], opened[WG_COOKIE_LEN];
	randombytes_buf(key, sizeof(key));
	randombytes_buf(nonce, sizeof(nonce));
	randombytes_buf(ad, sizeof(ad));
	randombytes_buf(cookie, sizeof(cookie));

	wg_xaead_seal(sealed, cookie, sizeof(cookie), ad, sizeof(ad), nonce, key);
	CHECK(wg_xaead_open(opened, sealed, sizeof(sealed), ad, sizeof(ad), nonce, key));
	CHECK_MEM(opened, cookie, sizeof(cookie));

	ad[3] ^= 1;
	CHECK(!wg_xaead_open(opened, sealed, sizeof(sealed), ad, sizeof(ad), nonce, key));
	ad[3] ^= 1;
	nonce[23] ^= 1;
	CHECK(!wg_xaead_open(opened, sealed, sizeof(sealed), ad, sizeof(ad), nonce, key));
	nonce[23] ^= 1;
	sealed[5] ^= 1;
	CHECK(!wg_xaead_open(opened, sealed, sizeof(sealed), ad, sizeof(ad), nonce, key));
	CHECK(!wg_xaead_open(opened, sealed, WG_AEAD_TAG_LEN - 1, ad, sizeof(ad), nonce, key));
}

TEST(tai64n_is_whitened_and_monotonic)
{
	uint8_t a[WG_TIMESTAMP_LEN], b[WG_TIMESTAMP_LEN];
	wg_tai64n_now(a);
	wg_tai64n_now(b);
	CHECK(a[0] == 0x40);
	CHECK(a[11] == 0 && a[10] == 0 && a[9] == 0); /* low 24 bits of the nanoseconds */
	CHECK(memcmp(a, b, sizeof(a)) <= 0);
	uint64_t seconds = 0;
	for (int i = 0; i < 8; i++)
		seconds = seconds << 8 | a[i];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t unix_seconds = seconds - 0x400000000000000aULL;
	CHECK(unix_seconds <= (uint64_t)now.tv_sec && unix_seconds + 5 >= (uint64_t)now.tv_sec);
}

int main(void)
{
	TEST_BEGIN("crypto");
	RUN(initial_chaining_key_and_hash);
	RUN(blake2s_known_answers);
	RUN(kdf_vectors);
	RUN(rfc7539_aead_vector);
	RUN(transport_nonce_is_zero32_then_le64_counter);
	RUN(alternating_keys_match_libsodium);
	RUN(empty_plaintext_is_a_bare_tag);
	RUN(wireguard_tools_key_pair);
	RUN(dh_agrees_and_generated_keys_are_clamped);
	RUN(low_order_public_keys_fail);
	RUN(xchacha_round_trip_and_tamper);
	RUN(tai64n_is_whitened_and_monotonic);
	TEST_END();
}
