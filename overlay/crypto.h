/*
 * WireGuard's primitives over library calls: BLAKE2s HASH/HMAC/MAC (OpenSSL), HKDF-style KDF,
 * X25519 and XChaCha20-Poly1305 (libsodium), and the ChaCha20-Poly1305 AEAD (OpenSSL EVP on the
 * data path, where it is the faster of the two).
 */
#ifndef TNGWG_OVERLAY_CRYPTO_H
#define TNGWG_OVERLAY_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overlay/messages.h"

/* HASH(a || b); b may be NULL with blen 0. */
void wg_hash(uint8_t out[WG_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen);
/* HMAC-BLAKE2s-256. */
void wg_hmac(uint8_t out[WG_HASH_LEN], const uint8_t *key, size_t keylen, const void *in, size_t inlen);
/* Keyed BLAKE2s with a 16-byte output (the BLAKE2s key parameter, not HMAC). */
void wg_mac(uint8_t out[WG_MAC_LEN], const uint8_t *key, size_t keylen, const void *in, size_t inlen);
/* KDF1/2/3: t2 and/or t3 may be NULL. */
void wg_kdf(uint8_t t1[WG_HASH_LEN], uint8_t *t2, uint8_t *t3, const uint8_t chaining_key[WG_HASH_LEN],
	    const void *input, size_t inlen);

/* X25519: false when the shared secret is all zeros (a low-order public key). */
bool wg_dh(uint8_t out[WG_KEY_LEN], const uint8_t private_key[WG_KEY_LEN], const uint8_t public_key[WG_KEY_LEN]);
void wg_generate_private_key(uint8_t out[WG_KEY_LEN]);
void wg_public_key(uint8_t out[WG_KEY_LEN], const uint8_t private_key[WG_KEY_LEN]);

/* ChaCha20-Poly1305 (IETF) with nonce = 4 zero bytes || LE64(counter); out gets len + 16 bytes. */
void wg_aead_seal(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		  uint64_t counter, const uint8_t key[WG_KEY_LEN]);
/* in holds len bytes including the 16-byte tag; out gets len - 16. Returns false on failure
 * (out is then zeroed). out may equal in for both seal and open. */
bool wg_aead_open(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		  uint64_t counter, const uint8_t key[WG_KEY_LEN]);

/* The same AEAD with an explicit 12-byte nonce (the general RFC 8439 form the two above use). */
void wg_chacha20poly1305_seal(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
			      const uint8_t nonce[12], const uint8_t key[WG_KEY_LEN]);
bool wg_chacha20poly1305_open(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
			      const uint8_t nonce[12], const uint8_t key[WG_KEY_LEN]);

/* XChaCha20-Poly1305 for cookie replies. */
void wg_xaead_seal(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		   const uint8_t nonce[WG_COOKIE_NONCE_LEN], const uint8_t key[WG_KEY_LEN]);
bool wg_xaead_open(uint8_t *out, const uint8_t *in, size_t len, const uint8_t *ad, size_t adlen,
		   const uint8_t nonce[WG_COOKIE_NONCE_LEN], const uint8_t key[WG_KEY_LEN]);

/* TAI64N of the wall clock, low 24 bits of the nanoseconds cleared (whitening, as upstream). */
void wg_tai64n_now(uint8_t out[WG_TIMESTAMP_LEN]);

#endif
