/*
 * MAC1/MAC2 and cookie replies. The checker is the local (responder) side, one per device; the
 * maker is the per-peer side that adds MACs to outgoing handshakes and consumes cookie replies.
 * Both handshake messages end with mac1 then mac2, so functions take the whole message.
 */
#ifndef TNGWG_OVERLAY_COOKIE_H
#define TNGWG_OVERLAY_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "overlay/messages.h"

struct cookie_checker {
	uint8_t secret[WG_HASH_LEN];
	uint64_t secret_birthdate_ns;
	bool has_secret;
	uint8_t mac1_key[WG_HASH_LEN];
	uint8_t cookie_encryption_key[WG_HASH_LEN];
};

/* (Re)derive the keys from the local public key; call again when it changes. */
void cookie_checker_init(struct cookie_checker *cc, const uint8_t local_public[WG_KEY_LEN]);
void cookie_checker_wipe(struct cookie_checker *cc);

enum cookie_mac_state {
	COOKIE_MAC_INVALID,
	COOKIE_MAC_VALID_MAC1,
	COOKIE_MAC_VALID_MAC1_AND_MAC2,
};
enum cookie_mac_state cookie_validate(struct cookie_checker *cc, const void *msg, size_t len,
				      const struct sockaddr *src, uint64_t now_ns);
/* A reply to msg (an initiation or response) from src, for the sender index it carried;
 * false (and no reply) when len is too short to hold the MACs. */
bool cookie_create_reply(struct cookie_checker *cc, struct msg_cookie_reply *reply, const void *msg,
			 size_t len, uint32_t receiver_index, const struct sockaddr *src, uint64_t now_ns);

struct cookie_maker {
	uint8_t mac1_key[WG_HASH_LEN];
	uint8_t cookie_decryption_key[WG_HASH_LEN];
	uint8_t cookie[WG_COOKIE_LEN];
	uint64_t cookie_birthdate_ns;
	bool has_cookie;
	uint8_t last_mac1_sent[WG_MAC_LEN];
	bool has_sent_mac1;
};

void cookie_maker_init(struct cookie_maker *cm, const uint8_t remote_public[WG_KEY_LEN]);
void cookie_maker_wipe(struct cookie_maker *cm);
/* Fill mac1 and mac2 (zeros without a fresh cookie) of an outgoing initiation or response. */
void cookie_add_macs(struct cookie_maker *cm, void *msg, size_t len, uint64_t now_ns);
/* Accept a cookie reply for the last message this maker MACed. */
bool cookie_consume_reply(struct cookie_maker *cm, const struct msg_cookie_reply *reply, uint64_t now_ns);

#endif
