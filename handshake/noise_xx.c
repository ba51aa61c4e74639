#include "handshake/noise_xx.h"

#include <sodium.h>
#include <string.h>

#define BLAKE2B_BLOCKLEN 128

static const char protocol_name[] = "Noise_XX_25519_ChaChaPoly_BLAKE2b";

/* HMAC-BLAKE2b-512 over the concatenation of two inputs (key at most one block). */
static void hmac(const uint8_t *key, size_t keylen, const uint8_t *a, size_t alen, const uint8_t *b,
		 size_t blen, uint8_t out[NOISE_HASHLEN])
{
	uint8_t pad[BLAKE2B_BLOCKLEN], inner[NOISE_HASHLEN];
	crypto_generichash_blake2b_state st;

	memset(pad, 0x36, sizeof(pad));
	for (size_t i = 0; i < keylen; i++)
		pad[i] ^= key[i];
	crypto_generichash_blake2b_init(&st, NULL, 0, NOISE_HASHLEN);
	crypto_generichash_blake2b_update(&st, pad, sizeof(pad));
	crypto_generichash_blake2b_update(&st, a, alen);
	crypto_generichash_blake2b_update(&st, b, blen);
	crypto_generichash_blake2b_final(&st, inner, NOISE_HASHLEN);

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36 ^ 0x5c;
	crypto_generichash_blake2b_init(&st, NULL, 0, NOISE_HASHLEN);
	crypto_generichash_blake2b_update(&st, pad, sizeof(pad));
	crypto_generichash_blake2b_update(&st, inner, sizeof(inner));
	crypto_generichash_blake2b_final(&st, out, NOISE_HASHLEN);

	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	sodium_memzero(&st, sizeof(st));
}

/* Noise HKDF with two outputs; out2 may be NULL. */
static void hkdf(const uint8_t ck[NOISE_HASHLEN], const uint8_t *ikm, size_t ikmlen,
		 uint8_t out1[NOISE_HASHLEN], uint8_t *out2)
{
	static const uint8_t one = 1, two = 2;
	uint8_t temp[NOISE_HASHLEN];

	hmac(ck, NOISE_HASHLEN, ikm, ikmlen, NULL, 0, temp);
	hmac(temp, sizeof(temp), &one, 1, NULL, 0, out1);
	if (out2)
		hmac(temp, sizeof(temp), out1, NOISE_HASHLEN, &two, 1, out2);
	sodium_memzero(temp, sizeof(temp));
}

static void nonce_bytes(uint64_t n, uint8_t out[crypto_aead_chacha20poly1305_IETF_NPUBBYTES])
{
	memset(out, 0, 4);
	for (int i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(n >> (8 * i));
}

int noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
			 const uint8_t *plaintext, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	if (c->n == UINT64_MAX) /* reserved by the spec */
		return -1;
	nonce_bytes(c->n, nonce);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, plaintext, len, ad, adlen, NULL, nonce,
						  c->k);
	c->n++;
	return 0;
}

int noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
			 const uint8_t *ciphertext, size_t len, uint8_t *out)
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	if (c->n == UINT64_MAX || len < NOISE_TAGLEN)
		return -1;
	nonce_bytes(c->n, nonce);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ciphertext, len, ad, adlen,
						      nonce, c->k) != 0)
		return -1;
	c->n++;
	return 0;
}

static void mix_hash(struct noise_xx *hs, const uint8_t *data, size_t len)
{
	crypto_generichash_blake2b_state st;

	crypto_generichash_blake2b_init(&st, NULL, 0, NOISE_HASHLEN);
	crypto_generichash_blake2b_update(&st, hs->h, sizeof(hs->h));
	crypto_generichash_blake2b_update(&st, data, len);
	crypto_generichash_blake2b_final(&st, hs->h, sizeof(hs->h));
}

static void mix_key(struct noise_xx *hs, const uint8_t *ikm, size_t len)
{
	uint8_t k[NOISE_HASHLEN];

	hkdf(hs->ck, ikm, len, hs->ck, k);
	memcpy(hs->cs.k, k, NOISE_KEYLEN); /* HASHLEN 64: truncated to the cipher key */
	hs->cs.n = 0;
	hs->has_key = true;
	sodium_memzero(k, sizeof(k));
}

/* MixKey(DH(priv, pub)); -1 for a low-order peer key. */
static int mix_dh(struct noise_xx *hs, const uint8_t priv[NOISE_DHLEN], const uint8_t pub[NOISE_DHLEN])
{
	uint8_t shared[NOISE_DHLEN];
	int rc = crypto_scalarmult(shared, priv, pub);

	if (rc == 0)
		mix_key(hs, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return rc == 0 ? 0 : -1;
}

static void encrypt_and_hash(struct noise_xx *hs, const uint8_t *pt, size_t len, uint8_t *out)
{
	size_t outlen = len;

	if (hs->has_key) {
		noise_cipher_encrypt(&hs->cs, hs->h, sizeof(hs->h), pt, len, out);
		outlen += NOISE_TAGLEN;
	} else if (len) {
		memmove(out, pt, len);
	}
	mix_hash(hs, out, outlen);
}

static int decrypt_and_hash(struct noise_xx *hs, const uint8_t *ct, size_t len, uint8_t *out)
{
	uint8_t h_before[NOISE_HASHLEN];

	memcpy(h_before, hs->h, sizeof(h_before));
	mix_hash(hs, ct, len); /* hash the ciphertext first: out may not alias it */
	if (!hs->has_key) {
		if (len)
			memcpy(out, ct, len);
		return 0;
	}
	return noise_cipher_decrypt(&hs->cs, h_before, sizeof(h_before), ct, len, out);
}

void noise_xx_init(struct noise_xx *hs, bool initiator, const uint8_t *prologue, size_t prologue_len,
		   const uint8_t static_private[NOISE_DHLEN], const uint8_t *static_public,
		   const uint8_t *ephemeral_private)
{
	memset(hs, 0, sizeof(*hs));
	hs->initiator = initiator;
	memcpy(hs->h, protocol_name, sizeof(protocol_name) - 1); /* shorter than HASHLEN: padded */
	memcpy(hs->ck, hs->h, sizeof(hs->ck));
	mix_hash(hs, prologue, prologue_len);
	memcpy(hs->s_priv, static_private, NOISE_DHLEN);
	if (static_public)
		memcpy(hs->s_pub, static_public, NOISE_DHLEN);
	else
		crypto_scalarmult_base(hs->s_pub, hs->s_priv);
	if (ephemeral_private)
		memcpy(hs->e_priv, ephemeral_private, NOISE_DHLEN);
	else
		randombytes_buf(hs->e_priv, NOISE_DHLEN);
	crypto_scalarmult_base(hs->e_pub, hs->e_priv);
}

static size_t message_overhead(unsigned message)
{
	switch (message) {
	case 0: return NOISE_DHLEN;                                       /* e, plain payload */
	case 1: return NOISE_DHLEN + NOISE_DHLEN + 2 * NOISE_TAGLEN;      /* e, {s}, {payload} */
	default: return NOISE_DHLEN + 2 * NOISE_TAGLEN;                   /* {s}, {payload} */
	}
}

size_t noise_xx_overhead(const struct noise_xx *hs)
{
	return message_overhead(hs->next_message);
}

static bool our_turn(const struct noise_xx *hs)
{
	/* The initiator writes messages 0 and 2, the responder message 1. */
	return hs->next_message < 3 && (hs->next_message % 2 == 0) == hs->initiator;
}

int noise_xx_write_message(struct noise_xx *hs, const uint8_t *payload, size_t payload_len,
			   uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t total = payload_len + noise_xx_overhead(hs), off = 0;

	if (!our_turn(hs) || out_cap < total || total > NOISE_MAX_MESSAGE)
		return -1;
	if (hs->next_message < 2) { /* e (and for the responder ee, s, es) */
		memcpy(out, hs->e_pub, NOISE_DHLEN);
		mix_hash(hs, hs->e_pub, NOISE_DHLEN);
		off = NOISE_DHLEN;
		if (hs->next_message == 1 && mix_dh(hs, hs->e_priv, hs->re) != 0)
			return -1;
	}
	if (hs->next_message >= 1) { /* s, then es (responder) or se (initiator) */
		encrypt_and_hash(hs, hs->s_pub, NOISE_DHLEN, out + off);
		off += NOISE_DHLEN + NOISE_TAGLEN;
		if (mix_dh(hs, hs->s_priv, hs->re) != 0)
			return -1;
	}
	encrypt_and_hash(hs, payload, payload_len, out + off);
	*out_len = total;
	hs->next_message++;
	return 0;
}

int noise_xx_read_message(struct noise_xx *hs, const uint8_t *msg, size_t len, uint8_t *payload,
			  size_t payload_cap, size_t *payload_len)
{
	size_t overhead = noise_xx_overhead(hs), off = 0;

	if (hs->next_message >= 3 || our_turn(hs) || len < overhead || len > NOISE_MAX_MESSAGE ||
	    payload_cap < len - overhead)
		return -1;
	if (hs->next_message < 2) { /* e (and for the initiator ee) */
		memcpy(hs->re, msg, NOISE_DHLEN);
		mix_hash(hs, hs->re, NOISE_DHLEN);
		off = NOISE_DHLEN;
		if (hs->next_message == 1 && mix_dh(hs, hs->e_priv, hs->re) != 0)
			return -1;
	}
	if (hs->next_message >= 1) { /* s, then es (initiator) or se (responder) */
		if (decrypt_and_hash(hs, msg + off, NOISE_DHLEN + NOISE_TAGLEN, hs->rs) != 0)
			return -1;
		off += NOISE_DHLEN + NOISE_TAGLEN;
		if (mix_dh(hs, hs->e_priv, hs->rs) != 0)
			return -1;
	}
	if (decrypt_and_hash(hs, msg + off, len - off, payload) != 0)
		return -1;
	*payload_len = len - overhead;
	hs->next_message++;
	return 0;
}

bool noise_xx_complete(const struct noise_xx *hs)
{
	return hs->next_message == 3;
}

const uint8_t *noise_xx_handshake_hash(const struct noise_xx *hs)
{
	return hs->h;
}

const uint8_t *noise_xx_remote_static(const struct noise_xx *hs)
{
	return hs->rs;
}

void noise_xx_split(const struct noise_xx *hs, struct noise_cipher *send, struct noise_cipher *recv)
{
	uint8_t k1[NOISE_HASHLEN], k2[NOISE_HASHLEN];

	hkdf(hs->ck, NULL, 0, k1, k2);
	memcpy(hs->initiator ? send->k : recv->k, k1, NOISE_KEYLEN);
	memcpy(hs->initiator ? recv->k : send->k, k2, NOISE_KEYLEN);
	send->n = recv->n = 0;
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
}

void noise_xx_derive(const struct noise_xx *hs, const char *label, uint8_t out[32])
{
	uint8_t okm[NOISE_HASHLEN];

	hkdf(hs->ck, (const uint8_t *)label, strlen(label), okm, NULL);
	memcpy(out, okm, 32);
	sodium_memzero(okm, sizeof(okm));
}

void noise_xx_wipe(struct noise_xx *hs)
{
	sodium_memzero(hs, sizeof(*hs));
}
