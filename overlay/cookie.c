/*
 * MAC1/MAC2 and cookie replies. mac1 proves the sender knows the recipient's public key; under
 * load, mac2 proves it can receive at its source address, through a cookie the recipient made
 * from that address with a secret it rotates every two minutes.
 */
#include "overlay/cookie.h"

#include <endian.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

#include "overlay/crypto.h"

#define NSEC_PER_SECOND 1000000000ULL
#define LABEL_LEN 8
/* Both handshake messages end with mac1 then mac2. */
#define MACS_LEN (2 * WG_MAC_LEN)
/* The largest source encoding: an IPv6 address and a port. */
#define SOURCE_BYTES_MAX 18

static const char label_mac1[LABEL_LEN + 1] = "mac1----";
static const char label_cookie[LABEL_LEN + 1] = "cookie--";

static void derive_keys(uint8_t mac1_key[WG_HASH_LEN], uint8_t cookie_key[WG_HASH_LEN],
			const uint8_t public_key[WG_KEY_LEN])
{
	wg_hash(mac1_key, label_mac1, LABEL_LEN, public_key, WG_KEY_LEN);
	wg_hash(cookie_key, label_cookie, LABEL_LEN, public_key, WG_KEY_LEN);
}

static bool has_expired(uint64_t birthdate_ns, uint64_t seconds, uint64_t now_ns)
{
	return now_ns >= birthdate_ns + seconds * NSEC_PER_SECOND;
}

/* mac1 covers everything before it, mac2 everything before it (mac1 included). */
static void compute_mac1(uint8_t out[WG_MAC_LEN], const uint8_t key[WG_HASH_LEN], const uint8_t *msg, size_t len)
{
	wg_mac(out, key, WG_HASH_LEN, msg, len - MACS_LEN);
}

static void compute_mac2(uint8_t out[WG_MAC_LEN], const uint8_t cookie[WG_COOKIE_LEN], const uint8_t *msg,
			 size_t len)
{
	wg_mac(out, cookie, WG_COOKIE_LEN, msg, len - WG_MAC_LEN);
}

static const uint8_t *mac1_of(const uint8_t *msg, size_t len)
{
	return msg + len - MACS_LEN;
}

/* The address and port (network order) a cookie is bound to; 0 bytes for other families. */
static size_t source_bytes(const struct sockaddr *src, uint8_t out[SOURCE_BYTES_MAX])
{
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)src;
		memcpy(out, &in->sin_addr, sizeof(in->sin_addr));
		memcpy(out + sizeof(in->sin_addr), &in->sin_port, sizeof(in->sin_port));
		return sizeof(in->sin_addr) + sizeof(in->sin_port);
	}
	if (src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)src;
		memcpy(out, &in6->sin6_addr, sizeof(in6->sin6_addr));
		memcpy(out + sizeof(in6->sin6_addr), &in6->sin6_port, sizeof(in6->sin6_port));
		return sizeof(in6->sin6_addr) + sizeof(in6->sin6_port);
	}
	return 0;
}

static void make_cookie(struct cookie_checker *cc, uint8_t cookie[WG_COOKIE_LEN], const struct sockaddr *src,
			uint64_t now_ns)
{
	uint8_t source[SOURCE_BYTES_MAX];
	if (!cc->has_secret || has_expired(cc->secret_birthdate_ns, COOKIE_SECRET_MAX_AGE, now_ns)) {
		randombytes_buf(cc->secret, sizeof(cc->secret));
		cc->secret_birthdate_ns = now_ns;
		cc->has_secret = true;
	}
	wg_mac(cookie, cc->secret, sizeof(cc->secret), source, source_bytes(src, source));
}

void cookie_checker_init(struct cookie_checker *cc, const uint8_t local_public[WG_KEY_LEN])
{
	cookie_checker_wipe(cc);
	derive_keys(cc->mac1_key, cc->cookie_encryption_key, local_public);
}

void cookie_checker_wipe(struct cookie_checker *cc)
{
	sodium_memzero(cc, sizeof(*cc));
}

enum cookie_mac_state cookie_validate(struct cookie_checker *cc, const void *msg, size_t len,
				      const struct sockaddr *src, uint64_t now_ns)
{
	const uint8_t *m = msg;
	uint8_t computed[WG_MAC_LEN], cookie[WG_COOKIE_LEN];
	enum cookie_mac_state state = COOKIE_MAC_INVALID;

	if (len <= MACS_LEN)
		return COOKIE_MAC_INVALID;
	compute_mac1(computed, cc->mac1_key, m, len);
	if (sodium_memcmp(computed, mac1_of(m, len), WG_MAC_LEN) != 0)
		goto out;
	state = COOKIE_MAC_VALID_MAC1;
	make_cookie(cc, cookie, src, now_ns);
	compute_mac2(computed, cookie, m, len);
	if (sodium_memcmp(computed, m + len - WG_MAC_LEN, WG_MAC_LEN) == 0)
		state = COOKIE_MAC_VALID_MAC1_AND_MAC2;
out:
	sodium_memzero(cookie, sizeof(cookie));
	sodium_memzero(computed, sizeof(computed));
	return state;
}

bool cookie_create_reply(struct cookie_checker *cc, struct msg_cookie_reply *reply, const void *msg,
			 size_t len, uint32_t receiver_index, const struct sockaddr *src, uint64_t now_ns)
{
	uint8_t cookie[WG_COOKIE_LEN];

	if (len <= MACS_LEN)
		return false;
	memset(reply, 0, sizeof(*reply));
	reply->type = htole32(MSG_COOKIE_REPLY);
	reply->receiver_index = htole32(receiver_index);
	randombytes_buf(reply->nonce, sizeof(reply->nonce));
	make_cookie(cc, cookie, src, now_ns);
	/* Bound to the mac1 it answers, so only that message's sender can use it. */
	wg_xaead_seal(reply->encrypted_cookie, cookie, sizeof(cookie), mac1_of(msg, len), WG_MAC_LEN, reply->nonce,
		      cc->cookie_encryption_key);
	sodium_memzero(cookie, sizeof(cookie));
	return true;
}

void cookie_maker_init(struct cookie_maker *cm, const uint8_t remote_public[WG_KEY_LEN])
{
	cookie_maker_wipe(cm);
	derive_keys(cm->mac1_key, cm->cookie_decryption_key, remote_public);
}

void cookie_maker_wipe(struct cookie_maker *cm)
{
	sodium_memzero(cm, sizeof(*cm));
}

/* A received cookie is used a little less long than its maker keeps the secret, for latency. */
static bool has_fresh_cookie(struct cookie_maker *cm, uint64_t now_ns)
{
	if (cm->has_cookie &&
	    has_expired(cm->cookie_birthdate_ns, COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY, now_ns)) {
		sodium_memzero(cm->cookie, sizeof(cm->cookie));
		cm->has_cookie = false;
	}
	return cm->has_cookie;
}

void cookie_add_macs(struct cookie_maker *cm, void *msg, size_t len, uint64_t now_ns)
{
	uint8_t *m = msg;
	if (len <= MACS_LEN)
		return;
	uint8_t *mac1 = m + len - MACS_LEN, *mac2 = m + len - WG_MAC_LEN;

	compute_mac1(mac1, cm->mac1_key, m, len);
	memcpy(cm->last_mac1_sent, mac1, WG_MAC_LEN);
	cm->has_sent_mac1 = true;
	if (has_fresh_cookie(cm, now_ns))
		compute_mac2(mac2, cm->cookie, m, len);
	else
		memset(mac2, 0, WG_MAC_LEN);
}

bool cookie_consume_reply(struct cookie_maker *cm, const struct msg_cookie_reply *reply, uint64_t now_ns)
{
	uint8_t cookie[WG_COOKIE_LEN];

	if (!cm->has_sent_mac1 || le32toh(reply->type) != MSG_COOKIE_REPLY)
		return false;
	if (!wg_xaead_open(cookie, reply->encrypted_cookie, sizeof(reply->encrypted_cookie), cm->last_mac1_sent,
			   WG_MAC_LEN, reply->nonce, cm->cookie_decryption_key))
		return false;
	memcpy(cm->cookie, cookie, sizeof(cookie));
	cm->cookie_birthdate_ns = now_ns;
	cm->has_cookie = true;
	cm->has_sent_mac1 = false; /* one reply per message sent */
	sodium_memzero(cookie, sizeof(cookie));
	return true;
}
