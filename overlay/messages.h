/* WireGuard wire formats and protocol constants (all integers little-endian on the wire). */
#ifndef TNGWG_OVERLAY_MESSAGES_H
#define TNGWG_OVERLAY_MESSAGES_H

#include <stdint.h>

#define WG_KEY_LEN 32
#define WG_HASH_LEN 32
#define WG_MAC_LEN 16
#define WG_AEAD_TAG_LEN 16
#define WG_TIMESTAMP_LEN 12
#define WG_COOKIE_LEN 16
#define WG_COOKIE_NONCE_LEN 24

enum wg_message_type {
	MSG_INITIATION = 1,
	MSG_RESPONSE = 2,
	MSG_COOKIE_REPLY = 3,
	MSG_DATA = 4,
};

struct __attribute__((packed)) msg_initiation {
	uint32_t type;
	uint32_t sender_index;
	uint8_t unencrypted_ephemeral[WG_KEY_LEN];
	uint8_t encrypted_static[WG_KEY_LEN + WG_AEAD_TAG_LEN];
	uint8_t encrypted_timestamp[WG_TIMESTAMP_LEN + WG_AEAD_TAG_LEN];
	uint8_t mac1[WG_MAC_LEN];
	uint8_t mac2[WG_MAC_LEN];
};

struct __attribute__((packed)) msg_response {
	uint32_t type;
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t unencrypted_ephemeral[WG_KEY_LEN];
	uint8_t encrypted_nothing[WG_AEAD_TAG_LEN];
	uint8_t mac1[WG_MAC_LEN];
	uint8_t mac2[WG_MAC_LEN];
};

struct __attribute__((packed)) msg_cookie_reply {
	uint32_t type;
	uint32_t receiver_index;
	uint8_t nonce[WG_COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[WG_COOKIE_LEN + WG_AEAD_TAG_LEN];
};

struct __attribute__((packed)) msg_data_header {
	uint32_t type;
	uint32_t receiver_index;
	uint64_t counter;
};

#define MSG_INITIATION_LEN 148
#define MSG_RESPONSE_LEN 92
#define MSG_COOKIE_REPLY_LEN 64
#define MSG_DATA_HEADER_LEN 16
#define MSG_DATA_MIN_LEN (MSG_DATA_HEADER_LEN + WG_AEAD_TAG_LEN)
#define MESSAGE_PADDING_MULTIPLE 16

_Static_assert(sizeof(struct msg_initiation) == MSG_INITIATION_LEN, "initiation size");
_Static_assert(sizeof(struct msg_response) == MSG_RESPONSE_LEN, "response size");
_Static_assert(sizeof(struct msg_cookie_reply) == MSG_COOKIE_REPLY_LEN, "cookie reply size");
_Static_assert(sizeof(struct msg_data_header) == MSG_DATA_HEADER_LEN, "data header size");

/* Timers and limits, as in the kernel module (seconds unless named otherwise). */
#define REKEY_AFTER_MESSAGES (1ULL << 60)
#define REJECT_AFTER_MESSAGES (UINT64_MAX - 8128 - 1)
#define REKEY_TIMEOUT 5
#define REKEY_TIMEOUT_JITTER_MAX_MS 334
#define KEEPALIVE_TIMEOUT 10
#define REKEY_AFTER_TIME 120
#define REKEY_ATTEMPT_TIME 90
#define REJECT_AFTER_TIME 180
#define MAX_TIMER_HANDSHAKES (REKEY_ATTEMPT_TIME / REKEY_TIMEOUT)
#define INITIATIONS_PER_SECOND 50
#define MAX_PEERS (1U << 20)
#define MAX_STAGED_PACKETS 128
#define MAX_QUEUED_INCOMING_HANDSHAKES 4096
#define COOKIE_SECRET_MAX_AGE 120
#define COOKIE_SECRET_LATENCY 5

#endif
