/*
 * WireGuard's primitives. libsodium has no BLAKE2s, so HASH/HMAC/MAC are OpenSSL EVP; the
 * transport AEAD is OpenSSL EVP too (measured here on 1420-byte messages: about 1.0 us each
 * against libsodium's 2.2), through one reusable cipher context per thread, because it runs once
 * per packet.
 */
#include "overlay/crypto.h"

#include <endian.h>
#include <limits.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"

#define CHACHA_NONCE_LEN 12
/* TAI64 label of 1970-01-01 00:00:10 TAI, the base upstream uses. */
#define TAI64_BASE 0x400000000000000aULL
/* Upstream rounds the nanoseconds down to a power of two no finer than the 20 ms initiation
 * spacing (2^24 ns), so a timestamp reveals nothing finer about the sender's clock. */
#define TAI64N_WHITENING_MASK 0xffffffu

static EVP_MD *blake2s_alg;
static EVP_MAC *hmac_alg;
static EVP_MAC *blake2s_mac_alg;
static pthread_key_t aead_ctx_key;
static pthread_once_t libraries_once = PTHREAD_ONCE_INIT;

/* Only a broken library or memory exhaustion gets here; neither is caused by peer input. */
static _Noreturn void crypto_fatal(const char *what)
{
	log_error("crypto", "%s failed", what);
	abort();
}

/* A thread's ChaCha20-Poly1305 context and the key it holds: setting the same key again costs
 * about a sixth of a 1420-byte message's sealing, and the data path seals batch after batch under
 * one key. */
struct aead_state {
	EVP_CIPHER_CTX *ctx;
	uint8_t key[WG_KEY_LEN];
	bool has_key;
};

static void free_aead_state(void *p)
{
	struct aead_state *st = p;
	EVP_CIPHER_CTX_free(st->ctx);
	sodium_memzero(st, sizeof(*st));
	free(st);
}

static void init_libraries(void)
{
	if (sodium_init() < 0)
		crypto_fatal("sodium_init");
	blake2s_alg = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	blake2s_mac_alg = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	if (!blake2s_alg || !hmac_alg || !blake2s_mac_alg)
		crypto_fatal("fetching BLAKE2s from OpenSSL");
	if (pthread_key_create(&aead_ctx_key, free_aead_state) != 0)
		crypto_fatal("pthread_key_create");
}

static void ensure_libraries(void)
{
	pthread_once(&libraries_once, init_libraries);
}

void wg_hash(uint8_t out[WG_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen)
{
	ensure_libraries();
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int written = 0;
	if (!ctx || !EVP_DigestInit_ex(ctx, blake2s_alg, NULL) || !EVP_DigestUpdate(ctx, a, alen) ||
	    (blen && !EVP_DigestUpdate(ctx, b, blen)) || !EVP_DigestFinal_ex(ctx, out, &written) ||
	    written != WG_HASH_LEN)
		crypto_fatal("BLAKE2s");
	EVP_MD_CTX_free(ctx);
}

/* One MAC computation; the context (holding the key) is freed, and so cleansed, at once. */
static void mac_compute(EVP_MAC *alg, const OSSL_PARAM *params, const uint8_t *key, size_t keylen,
			const void *in, size_t inlen, uint8_t *out, size_t outlen)
{
	static const uint8_t no_key[1];
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(alg);
	size_t written = 0;
	/* A NULL key would mean "keep the previous key" to OpenSSL; an empty key is a real key. */
	if (!ctx || !EVP_MAC_init(ctx, keylen ? key : no_key, keylen, params) ||
	    !EVP_MAC_update(ctx, in, inlen) || !EVP_MAC_final(ctx, out, &written, outlen) ||
	    written != outlen)
		crypto_fatal("MAC");
	EVP_MAC_CTX_free(ctx);
}

void wg_hmac(uint8_t out[WG_HASH_LEN], const uint8_t *key, size_t keylen, const void *in, size_t inlen)
{
	static char digest_name[] = "BLAKE2S-256";
	ensure_libraries();
	const OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
		OSSL_PARAM_construct_end(),
	};
	mac_compute(hmac_alg, params, key, keylen, in, inlen, out, WG_HASH_LEN);
}

void wg_mac(uint8_t out[WG_MAC_LEN], const uint8_t *key, size_t keylen, const void *in, size_t inlen)
{
	size_t size = WG_MAC_LEN;
	ensure_libraries();
	const OSSL_PARAM params[] = {
		OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
		OSSL_PARAM_construct_end(),
	};
	mac_compute(blake2s_mac_alg, params, key, keylen, in, inlen, out, WG_MAC_LEN);
}

void wg_kdf(uint8_t t1[WG_HASH_LEN], uint8_t *t2, uint8_t *t3, const uint8_t chaining_key[WG_HASH_LEN],
	    const void *input, size_t inlen)
{
	uint8_t *outputs[3] = { t1, t2, t3 };
	int count = t3 ? 3 : t2 ? 2 : 1;
	uint8_t prk[WG_HASH_LEN], block[WG_HASH_LEN + 1], t[WG_HASH_LEN];
	size_t block_len = 0;

	wg_hmac(prk, chaining_key, WG_HASH_LEN, input, inlen);
	/* T(i) = HMAC(PRK, T(i-1) || i), with T(0) empty. */
	for (int i = 0; i < count; i++) {
		block[block_len] = (uint8_t)(i + 1);
		wg_hmac(t, prk, sizeof(prk), block, block_len + 1);
		if (outputs[i])
			memcpy(outputs[i], t, WG_HASH_LEN);
		memcpy(block, t, WG_HASH_LEN);
		block_len = WG_HASH_LEN;
	}
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(block, sizeof(block));
	sodium_memzero(t, sizeof(t));
}

bool wg_dh(uint8_t out[WG_KEY_LEN], const uint8_t private_key[WG_KEY_LEN], const uint8_t public_key[WG_KEY_LEN])
{
	ensure_libraries();
	return crypto_scalarmult_curve25519(out, private_key, public_key) == 0;
}

void wg_generate_private_key(uint8_t out[WG_KEY_LEN])
{
	ensure_libraries();
	randombytes_buf(out, WG_KEY_LEN);
	out[0] &= 248;
	out[31] = (out[31] & 127) | 64;
}

void wg_public_key(uint8_t out[WG_KEY_LEN], const uint8_t private_key[WG_KEY_LEN])
{
	ensure_libraries();
	if (crypto_scalarmult_curve25519_base(out, private_key) != 0)
		memset(out, 0, WG_KEY_LEN);
}

static struct aead_state *aead_state(void)
{
	ensure_libraries();
	struct aead_state *st = pthread_getspecific(aead_ctx_key);
	if (st)
		return st;
	st = calloc(1, sizeof(*st));
	if (!st || !(st->ctx = EVP_CIPHER_CTX_new()) ||
	    !EVP_CipherInit_ex(st->ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL, 1) ||
	    pthread_setspecific(aead_ctx_key, st) != 0)
		crypto_fatal("creating the ChaCha20-Poly1305 context");
	return st;
}

/* Constant-time like sodium_memcmp, in four words instead of 32 bytes: it runs once per message,
 * where sodium_memcmp alone took 3 to 4% of the data path's CPU. */
static bool same_key(const uint8_t a[WG_KEY_LEN], const uint8_t b[WG_KEY_LEN])
{
	uint64_t x[WG_KEY_LEN / 8], y[WG_KEY_LEN / 8], diff = 0;
	memcpy(x, a, sizeof(x));
	memcpy(y, b, sizeof(y));
	for (size_t i = 0; i < WG_KEY_LEN / 8; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

/* Start a message: the key only when the context does not hold it already (NULL keeps it). */
static bool aead_begin(struct aead_state *st, const uint8_t key[WG_KEY_LEN], const uint8_t nonce[12], int enc)
{
	bool same = st->has_key && same_key(st->key, key);
	if (same)
		return EVP_CipherInit_ex(st->ctx, NULL, NULL, NULL, nonce, enc);
	st->has_key = false; /* until the context surely holds the new key */
	if (!EVP_CipherInit_ex(st->ctx, NULL, NULL, key, nonce, enc))
		return false;
	memcpy(st->key, key, WG_KEY_LEN);
	st->has_key = true;
	return true;
}

void wg_chacha20poly1305_seal(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
			      const uint8_t nonce[12], const uint8_t key[WG_KEY_LEN])
{
	struct aead_state *st = aead_state();
	EVP_CIPHER_CTX *ctx = st->ctx;
	uint8_t stream_final[1]; /* a stream cipher's final step emits nothing */
	int n = 0;
	if (len > INT_MAX || adlen > INT_MAX)
		crypto_fatal("sealing an oversized message");
	if (!aead_begin(st, key, nonce, 1) ||
	    (adlen && !EVP_CipherUpdate(ctx, NULL, &n, ad, (int)adlen)) ||
	    (len && !EVP_CipherUpdate(ctx, out, &n, in, (int)len)) ||
	    !EVP_CipherFinal_ex(ctx, stream_final, &n) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, WG_AEAD_TAG_LEN, out + len))
		crypto_fatal("ChaCha20-Poly1305 seal");
}

bool wg_chacha20poly1305_open(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
			      const uint8_t nonce[12], const uint8_t key[WG_KEY_LEN])
{
	if (len < WG_AEAD_TAG_LEN || len - WG_AEAD_TAG_LEN > INT_MAX || adlen > INT_MAX)
		return false;
	struct aead_state *st = aead_state();
	EVP_CIPHER_CTX *ctx = st->ctx;
	size_t plain_len = len - WG_AEAD_TAG_LEN;
	uint8_t tag[WG_AEAD_TAG_LEN], stream_final[1];
	int n = 0;
	memcpy(tag, in + plain_len, sizeof(tag));
	bool ok = aead_begin(st, key, nonce, 0) &&
		  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, sizeof(tag), tag) &&
		  (!adlen || EVP_CipherUpdate(ctx, NULL, &n, ad, (int)adlen)) &&
		  (!plain_len || EVP_CipherUpdate(ctx, out, &n, in, (int)plain_len)) &&
		  EVP_CipherFinal_ex(ctx, stream_final, &n) > 0;
	if (!ok && plain_len)
		sodium_memzero(out, plain_len); /* never hand out unauthenticated plaintext */
	return ok;
}

static void transport_nonce(uint8_t nonce[CHACHA_NONCE_LEN], uint64_t counter)
{
	uint64_t le = htole64(counter);
	memset(nonce, 0, 4);
	memcpy(nonce + 4, &le, sizeof(le));
}

void wg_aead_seal(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		  uint64_t counter, const uint8_t key[WG_KEY_LEN])
{
	uint8_t nonce[CHACHA_NONCE_LEN];
	transport_nonce(nonce, counter);
	wg_chacha20poly1305_seal(out, in, len, ad, adlen, nonce, key);
}

bool wg_aead_open(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		  uint64_t counter, const uint8_t key[WG_KEY_LEN])
{
	uint8_t nonce[CHACHA_NONCE_LEN];
	transport_nonce(nonce, counter);
	return wg_chacha20poly1305_open(out, in, len, ad, adlen, nonce, key);
}

void wg_xaead_seal(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		   const uint8_t nonce[WG_COOKIE_NONCE_LEN], const uint8_t key[WG_KEY_LEN])
{
	ensure_libraries();
	crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, in, len, ad, adlen, NULL, nonce, key);
}

bool wg_xaead_open(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		   const uint8_t nonce[WG_COOKIE_NONCE_LEN], const uint8_t key[WG_KEY_LEN])
{
	ensure_libraries();
	if (len < WG_AEAD_TAG_LEN)
		return false;
	return crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in, len, ad, adlen, nonce, key) == 0;
}

void wg_tai64n_now(uint8_t out[WG_TIMESTAMP_LEN])
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t seconds = htobe64(TAI64_BASE + (uint64_t)now.tv_sec);
	uint32_t nanoseconds = htobe32((uint32_t)now.tv_nsec & ~TAI64N_WHITENING_MASK);
	memcpy(out, &seconds, sizeof(seconds));
	memcpy(out + sizeof(seconds), &nanoseconds, sizeof(nanoseconds));
}
