/*
 * A WireGuard device: one TUN interface, its UDP sockets (IPv4 and IPv6) on the listen port, the
 * local identity, peers and the data path between them. The owner creates the event loop and
 * passes it in; the device registers its own fds and timers on it.
 */
#ifndef TNGWG_OVERLAY_DEVICE_H
#define TNGWG_OVERLAY_DEVICE_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/loop.h"
#include "overlay/cookie.h"
#include "overlay/messages.h"
#include "overlay/noise.h"

struct device;
struct peer;

union endpoint_addr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
};
/* "a.b.c.d:port" or "[v6]:port", as the UAPI and the logs show endpoints. */
const char *endpoint_to_string(const union endpoint_addr *ep, char buf[64]);

/* Take over an open TUN fd named ifname (from tun_open: its offloads are switched on here, and
 * TNGWG_OFFLOAD=0 in the environment keeps UDP GSO/GRO off too). Returns NULL with errno set. */
struct device *device_new(struct loop *loop, int tun_fd, const char *ifname);
/* Remove every peer, wipe every key, close the sockets and the TUN fd. */
void device_free(struct device *dev);
const char *device_ifname(const struct device *dev);
unsigned device_mtu(const struct device *dev); /* the TUN MTU the padding is computed for */
void device_set_mtu(struct device *dev, unsigned mtu);

/* Configuration, as the UAPI sets it. All return 0 or -errno. */
int device_set_private_key(struct device *dev, const uint8_t key[WG_KEY_LEN]); /* zeros remove it */
bool device_get_private_key(const struct device *dev, uint8_t key[WG_KEY_LEN]);
bool device_get_public_key(const struct device *dev, uint8_t key[WG_KEY_LEN]);
int device_set_listen_port(struct device *dev, uint16_t port); /* 0 = random; rebinds */
uint16_t device_listen_port(const struct device *dev);
int device_set_fwmark(struct device *dev, uint32_t mark); /* SO_MARK on the UDP sockets, 0 = off */
uint32_t device_fwmark(const struct device *dev);

/* Peers. device_add_peer returns the existing peer for a known key, NULL for the device's own key. */
struct peer *device_find_peer(struct device *dev, const uint8_t public_key[WG_KEY_LEN]);
struct peer *device_add_peer(struct device *dev, const uint8_t public_key[WG_KEY_LEN]);
void device_remove_peer(struct device *dev, struct peer *peer);
void device_remove_all_peers(struct device *dev);
/* Iterate: first with NULL, then with the previous peer; NULL at the end. */
struct peer *device_next_peer(struct device *dev, struct peer *prev);

void peer_public_key(const struct peer *peer, uint8_t out[WG_KEY_LEN]);
void peer_set_preshared_key(struct peer *peer, const uint8_t psk[WG_KEY_LEN]);
void peer_get_preshared_key(const struct peer *peer, uint8_t out[WG_KEY_LEN]);
void peer_set_endpoint(struct peer *peer, const union endpoint_addr *ep);
bool peer_get_endpoint(const struct peer *peer, union endpoint_addr *out);
/* 0 = off; enabling sends a keepalive at once. */
void peer_set_persistent_keepalive(struct peer *peer, uint16_t seconds);
uint16_t peer_persistent_keepalive(const struct peer *peer);
int peer_add_allowed_ip(struct peer *peer, int family, const void *addr, uint8_t cidr);
int peer_remove_allowed_ip(struct peer *peer, int family, const void *addr, uint8_t cidr);
void peer_clear_allowed_ips(struct peer *peer);
typedef void (*peer_allowed_ip_fn)(void *ctx, int family, const uint8_t *addr, uint8_t cidr);
void peer_for_each_allowed_ip(const struct peer *peer, peer_allowed_ip_fn fn, void *ctx);
/* Start a handshake now (as the first staged packet would). */
void peer_initiate_handshake(struct peer *peer);

struct peer_stats {
	uint64_t rx_bytes, tx_bytes;
	int64_t last_handshake_sec; /* wall clock, 0 if never */
	int64_t last_handshake_nsec;
};
void peer_get_stats(const struct peer *peer, struct peer_stats *out);

/* Drop and error counters, per reason, for the operator and the malformed-input tests. */
struct device_counters {
	uint64_t rx_invalid_length, rx_unknown_type, rx_bad_mac, rx_unknown_index, rx_decrypt_failed,
		rx_replayed, rx_bad_inner_source, rx_handshake_invalid, rx_cookie_replies_sent,
		rx_ratelimited, tx_no_route, tx_no_endpoint,
		tx_routing_loop, /* our own encrypted UDP read back from the TUN: dropped */
		tx_invalid_offload; /* a TUN frame whose offload header does not fit its packet */
};
void device_get_counters(const struct device *dev, struct device_counters *out);

/* Owner hooks. unrouted: a packet read from the TUN that no peer's allowed IPs match (used for
 * on-demand peers); the packet is dropped after the call unless the owner copied it. The handler
 * may add and remove peers.
 * peer_event: handshake completed / gave up / keys zeroed, for logs and status; it comes last in
 * the device's handling, so the handler may remove the peer. REMOVED comes from inside
 * device_remove_peer, whoever called it (the UAPI too), just before the peer is freed: the
 * handler forgets the peer and must not remove it again. */
typedef void (*device_unrouted_fn)(void *ctx, const uint8_t *packet, size_t len);
void device_set_unrouted_handler(struct device *dev, device_unrouted_fn fn, void *ctx);
enum peer_event {
	PEER_EVENT_HANDSHAKE_COMPLETE,
	PEER_EVENT_HANDSHAKE_GAVE_UP,
	PEER_EVENT_KEYS_ZEROED,
	PEER_EVENT_REMOVED,
};
typedef void (*device_peer_event_fn)(void *ctx, struct peer *peer, enum peer_event event);
void device_set_peer_event_handler(struct device *dev, device_peer_event_fn fn, void *ctx);

/* Send an IP packet as if read from the TUN (releases packets the owner held). */
void device_send_packet(struct device *dev, const uint8_t *packet, size_t len);

/* A new handshake with every peer now, regardless of the one-per-REKEY_TIMEOUT limit (the
 * operator's "rekey now"). */
void device_rekey_all_peers(struct device *dev);

/* Called once when the TUN goes away (interface deleted); the owner usually shuts down. */
typedef void (*device_tun_gone_fn)(void *ctx);
void device_set_tun_gone_handler(struct device *dev, device_tun_gone_fn fn, void *ctx);

/* Handshake messages per second above which the device is "under load": it then answers
 * initiations and responses without a valid mac2 with a cookie reply, and rate-limits per source. */
#define DEVICE_DEFAULT_HANDSHAKE_LOAD_LIMIT 64
void device_set_handshake_load_limit(struct device *dev, unsigned per_second);

/* ---- Internals shared by the data-path files of overlay/ (peer, send, receive, timers, uapi) ---- */

struct tx_batch;
struct rx_batch;
struct index_table;
struct allowedips;
struct ratelimiter;
struct workers;

struct device {
	struct loop *loop;
	char ifname[IFNAMSIZ];
	int tun_fd;
	int udp_fd;
	int udp_family; /* AF_INET6 (dual-stack) or AF_INET when IPv6 is unavailable */
	bool udp_gso_off; /* offloads off, or the kernel refused UDP segmentation offload once */
	unsigned tun_offloads; /* enum tun_offload */
	uint16_t listen_port;
	uint32_t fwmark;
	unsigned mtu;
	struct noise_identity identity;
	struct cookie_checker cookie_checker;
	struct ratelimiter *ratelimiter;
	struct allowedips *allowedips;
	struct index_table *index;
	struct peer *peers_head, *peers_tail;
	struct peer **peer_buckets;
	struct device_counters counters;
	unsigned handshake_load_limit, load_window_handshakes;
	uint64_t load_window_start_ns, under_load_until_ns;
	struct loop_timer housekeeping_timer;
	struct tx_batch *tx;
	struct rx_batch *rx;
	struct workers *workers;
	device_unrouted_fn unrouted_fn;
	void *unrouted_ctx;
	device_peer_event_fn peer_event_fn;
	void *peer_event_ctx;
	device_tun_gone_fn tun_gone_fn;
	void *tun_gone_ctx;
};

void device_peer_event(struct device *dev, struct peer *peer, enum peer_event event);
/* Stop reading the TUN and tell the owner once. */
void device_tun_gone(struct device *dev);

#endif
