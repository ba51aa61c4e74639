/*
 * A peer of the device: its handshake, its three keypair slots (previous, current, next), the
 * packets staged while no session exists, its endpoint, counters and timers. Shared by the
 * overlay's data-path files; outside overlay/ a peer is opaque (device.h).
 */
#ifndef TNGWG_OVERLAY_PEER_H
#define TNGWG_OVERLAY_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <time.h>

#include "common/loop.h"
#include "overlay/cookie.h"
#include "overlay/device.h"
#include "overlay/index.h"
#include "overlay/noise.h"

struct keypair {
	struct noise_keypair noise;
	struct index_entry entry;
	bool sending_valid; /* cleared when the local identity changes */
};

/* A staging slot keeps its buffer for reuse, so staging allocates only while a peer's slots grow. */
struct staged_packet {
	size_t len, capacity;
	uint8_t *data; /* len bytes plus room for padding */
};

/* Sticky source: the local address a peer last reached us on, so replies leave from it even on a
 * host with several addresses. family 0 = none (routing chooses). */
struct local_source {
	sa_family_t family;
	int ifindex;
	struct in_addr addr4;
	struct in6_addr addr6;
};

struct peer {
	struct device *dev;
	struct peer *next, *prev;  /* device list, in creation order */
	struct peer *bucket_next;  /* device's public-key hash chain */
	uint8_t public_key[WG_KEY_LEN];

	struct noise_handshake handshake;
	struct index_entry handshake_entry;
	struct cookie_maker cookie;
	struct keypair *previous_keypair, *current_keypair, *next_keypair;

	union endpoint_addr endpoint;
	bool has_endpoint;
	struct local_source source;
	uint16_t persistent_keepalive;
	uint64_t rx_bytes, tx_bytes;
	struct timespec last_handshake_wall;

	/* A ring of MAX_STAGED_PACKETS, there only while packets wait for a session: an idle peer
	 * stays small. */
	struct staged_packet *staged;
	unsigned staged_head, staged_count;

	struct loop_timer retransmit_handshake_timer, send_keepalive_timer, new_handshake_timer,
		zero_key_material_timer, persistent_keepalive_timer;
	unsigned handshake_attempts;
	bool need_another_keepalive, sent_lastminute_handshake, has_sent_handshake;
	uint64_t last_sent_handshake_ns;
};

/* Creation and destruction; the device links the peer into its list and tables. */
struct peer *peer_new(struct device *dev, const uint8_t public_key[WG_KEY_LEN]);
void peer_free(struct peer *peer);

/* Derive a keypair from the finished handshake and put it in its slot: the initiator's becomes
 * current at once, the responder's waits as next until the first packet under it arrives. */
struct keypair *peer_begin_session(struct peer *peer);
/* A packet authenticated under kp arrived: promote next to current. True when that happened
 * (the responder's handshake is then complete). */
bool peer_received_with_keypair(struct peer *peer, struct keypair *kp);
/* The keypair this peer may send with now, or NULL. */
struct keypair *peer_sending_keypair(struct peer *peer, uint64_t now_ns);
bool keypair_receive_valid(const struct keypair *kp, uint64_t now_ns);
/* After the local identity changed: stop sending under the old sessions and retire the handshake. */
void peer_expire_current_keypairs(struct peer *peer);
/* Wipe every keypair and the handshake state (the 540 s timer, removal, shutdown). */
void peer_zero_key_material(struct peer *peer);

/* Staged packets: copied in (dropping the oldest when 128 are waiting), taken out in order. The
 * slot returned by peer_unstage_packet stays valid until the next peer_stage_packet or
 * peer_release_staging. */
void peer_stage_packet(struct peer *peer, const uint8_t *packet, size_t len);
struct staged_packet *peer_unstage_packet(struct peer *peer);
/* Free the ring and its buffers (wiped) once nothing waits in it. */
void peer_release_staging(struct peer *peer);
void peer_purge_staged(struct peer *peer);

/* Logging: the peer's public key in base64, for "peer <key>" messages. */
const char *peer_name(const struct peer *peer, char buf[48]);

#endif
