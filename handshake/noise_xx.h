/*
 * Noise_XX_25519_ChaChaPoly_BLAKE2b (Noise specification revision 34):
 *     -> e
 *     <- e, ee, s, es
 *     -> s, se
 * HASH is BLAKE2b-512 (HASHLEN 64, BLOCKLEN 128), HKDF is built on HMAC-BLAKE2b, DH is X25519
 * (an all-zero shared secret is refused), the cipher is ChaCha20-Poly1305 IETF with nonce
 * 4 zero bytes || LE64(n). All through libsodium.
 */
#ifndef TNGWG_HANDSHAKE_NOISE_XX_H
#define TNGWG_HANDSHAKE_NOISE_XX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOISE_HASHLEN 64
#define NOISE_KEYLEN 32
#define NOISE_DHLEN 32
#define NOISE_TAGLEN 16
#define NOISE_MAX_MESSAGE 65535

/* One direction of transport encryption after the handshake. */
struct noise_cipher {
	uint8_t k[NOISE_KEYLEN];
	uint64_t n;
};

/* out holds len + NOISE_TAGLEN bytes; -1 when the nonce is exhausted. */
int noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
			 const uint8_t *plaintext, size_t len, uint8_t *out);
/* len includes the tag; out holds len - NOISE_TAGLEN bytes. -1 on a forged or short message
 * (the nonce then stays where it was). */
int noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t adlen,
			 const uint8_t *ciphertext, size_t len, uint8_t *out);

struct noise_xx {
	bool initiator;
	unsigned next_message; /* 0..2 during the handshake, 3 when complete */
	uint8_t ck[NOISE_HASHLEN];
	uint8_t h[NOISE_HASHLEN];
	bool has_key;
	struct noise_cipher cs;
	uint8_t s_priv[NOISE_DHLEN], s_pub[NOISE_DHLEN];
	uint8_t e_priv[NOISE_DHLEN], e_pub[NOISE_DHLEN];
	uint8_t rs[NOISE_DHLEN], re[NOISE_DHLEN];
};

/* static_public NULL = derived from static_private (callers that keep one static key pass its
 * public half, saving an X25519 operation per handshake); ephemeral_private NULL = a fresh random
 * key (fixed keys only reproduce test vectors). */
void noise_xx_init(struct noise_xx *hs, bool initiator, const uint8_t *prologue, size_t prologue_len,
		   const uint8_t static_private[NOISE_DHLEN], const uint8_t *static_public,
		   const uint8_t *ephemeral_private);

/* Bytes the next handshake message adds to its payload. */
size_t noise_xx_overhead(const struct noise_xx *hs);
/* Writes the next handshake message (payload_len + overhead bytes) to out. -1 when it is not
 * our turn, out is too small or a DH result is degenerate. */
int noise_xx_write_message(struct noise_xx *hs, const uint8_t *payload, size_t payload_len,
			   uint8_t *out, size_t out_cap, size_t *out_len);
/* Reads the peer's next handshake message; the payload goes to payload (len - overhead bytes).
 * -1 when it is not the peer's turn, the message is short, forged or degenerate. */
int noise_xx_read_message(struct noise_xx *hs, const uint8_t *msg, size_t len, uint8_t *payload,
			  size_t payload_cap, size_t *payload_len);

bool noise_xx_complete(const struct noise_xx *hs);
/* The handshake hash h; final once complete. */
const uint8_t *noise_xx_handshake_hash(const struct noise_xx *hs);
/* The peer's static key, once received. */
const uint8_t *noise_xx_remote_static(const struct noise_xx *hs);

/* Once complete: the two transport ciphers, oriented for this side. */
void noise_xx_split(const struct noise_xx *hs, struct noise_cipher *send, struct noise_cipher *recv);
/* Once complete: the first 32 bytes of output 1 of HKDF(final chaining key, label). */
void noise_xx_derive(const struct noise_xx *hs, const char *label, uint8_t out[32]);

void noise_xx_wipe(struct noise_xx *hs);

#endif
