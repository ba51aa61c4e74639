#include "overlay/receive.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <linux/udp.h>
#include <sys/socket.h>

#include "common/log.h"
#include "overlay/allowedips.h"
#include "overlay/crypto.h"
#include "overlay/gro.h"
#include "overlay/peer.h"
#include "overlay/ratelimiter.h"
#include "overlay/send.h"
#include "overlay/timers.h"
#include "overlay/workers.h"
#include "tun/tun.h"

#define RX_SLOTS 32 /* datagrams per recvmmsg; with UDP GRO each may hold up to 64 KiB of messages */
#define RX_MAX_BATCHES_PER_WAKEUP 8 /* then let the send side run */
#define RX_BUF_SIZE 65536
#define RX_PENDING 1024 /* transport messages opened together */
#define RX_SHARE_MIN 64 /* more than one super-packet waiting: worth waking a crypto worker */

/* Where a datagram came from, and which of our addresses it was sent to. */
struct datagram_origin {
	union endpoint_addr remote;
	struct local_source local;
};

#define RX_CONTROL_SPACE \
	(CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(int)))

/* A transport message waiting to be opened in place, and what its header named. */
struct rx_message {
	uint8_t *data;
	size_t len;
	struct keypair *kp;
	uint32_t index;
	uint64_t counter;
	int slot; /* the datagram it came in, for its origin */
	bool opened;
};

struct rx_batch {
	struct mmsghdr msgs[RX_SLOTS];
	struct iovec iovs[RX_SLOTS];
	struct sockaddr_in6 srcs[RX_SLOTS];
	union {
		char buf[RX_CONTROL_SPACE];
		struct cmsghdr align;
	} control[RX_SLOTS];
	uint8_t *bufs[RX_SLOTS];
	struct datagram_origin origins[RX_SLOTS];
	struct rx_message pending[RX_PENDING];
	int pending_count;
	struct gro_batch *gro; /* decrypted inner packets on their way to the TUN */
};

struct rx_batch *rx_batch_new(void)
{
	struct rx_batch *rx = calloc(1, sizeof(*rx));
	if (!rx)
		return NULL;
	rx->gro = gro_batch_new();
	bool ok = rx->gro != NULL;
	for (int i = 0; i < RX_SLOTS; i++) {
		rx->bufs[i] = malloc(RX_BUF_SIZE);
		ok = ok && rx->bufs[i];
		rx->iovs[i].iov_base = rx->bufs[i];
		rx->msgs[i].msg_hdr.msg_iov = &rx->iovs[i];
		rx->msgs[i].msg_hdr.msg_iovlen = 1;
		rx->msgs[i].msg_hdr.msg_name = &rx->srcs[i];
		rx->msgs[i].msg_hdr.msg_control = rx->control[i].buf;
	}
	if (!ok) {
		rx_batch_free(rx);
		return NULL;
	}
	return rx;
}

void rx_batch_free(struct rx_batch *rx)
{
	if (!rx)
		return;
	for (int i = 0; i < RX_SLOTS; i++)
		free(rx->bufs[i]);
	gro_batch_free(rx->gro);
	free(rx);
}

void rx_batch_set_tun_offloads(struct rx_batch *rx, unsigned tun_offloads) { gro_set_offloads(rx->gro, tun_offloads); }

/* A v4-mapped source on the dual-stack socket is stored as plain IPv4. */
static void endpoint_from_sockaddr(union endpoint_addr *ep, const struct sockaddr_in6 *sa)
{
	memset(ep, 0, sizeof(*ep));
	if (sa->sin6_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&sa->sin6_addr)) {
		ep->in4.sin_family = AF_INET;
		ep->in4.sin_port = sa->sin6_port;
		memcpy(&ep->in4.sin_addr, &sa->sin6_addr.s6_addr[12], 4);
	} else if (sa->sin6_family == AF_INET6) {
		ep->in6 = *sa;
	} else {
		memcpy(&ep->in4, sa, sizeof(ep->in4));
	}
}

/* The local address of the datagram, and the size of its segments when UDP GRO coalesced it
 * (0 when it is one datagram). */
static size_t local_source_from_msg(struct local_source *src, struct msghdr *msg)
{
	size_t segment_size = 0;
	memset(src, 0, sizeof(*src));
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			int size;
			memcpy(&size, CMSG_DATA(c), sizeof(size));
			segment_size = size > 0 ? (size_t)size : 0;
		} else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo info;
			memcpy(&info, CMSG_DATA(c), sizeof(info));
			src->family = AF_INET;
			src->addr4 = info.ipi_addr;
			src->ifindex = info.ipi_ifindex;
		} else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo info;
			memcpy(&info, CMSG_DATA(c), sizeof(info));
			if (IN6_IS_ADDR_V4MAPPED(&info.ipi6_addr))
				continue; /* the IP_PKTINFO of the same datagram says it in v4 */
			src->family = AF_INET6;
			src->addr6 = info.ipi6_addr;
			src->ifindex = (int)info.ipi6_ifindex;
		}
	}
	return segment_size;
}

static bool endpoint_equal(const union endpoint_addr *a, const union endpoint_addr *b)
{
	if (a->sa.sa_family != b->sa.sa_family)
		return false;
	if (a->sa.sa_family == AF_INET)
		return a->in4.sin_port == b->in4.sin_port && a->in4.sin_addr.s_addr == b->in4.sin_addr.s_addr;
	return a->in6.sin6_port == b->in6.sin6_port && a->in6.sin6_scope_id == b->in6.sin6_scope_id &&
	       !memcmp(&a->in6.sin6_addr, &b->in6.sin6_addr, sizeof(a->in6.sin6_addr));
}

/* Roaming: the endpoint follows the outer source of every authenticated packet. */
static void authenticated_from(struct peer *peer, const struct datagram_origin *from, size_t len)
{
	if (!peer->has_endpoint || !endpoint_equal(&peer->endpoint, &from->remote)) {
		char name[48], addr[64];
		log_info("receive", "%s: peer %s: endpoint is now %s", peer->dev->ifname, peer_name(peer, name),
			 endpoint_to_string(&from->remote, addr));
		peer_set_endpoint(peer, &from->remote);
	}
	peer->source = from->local;
	peer->rx_bytes += len;
	timers_any_authenticated_packet_received(peer);
	timers_any_authenticated_packet_traversal(peer);
}

/* "Under load" when more handshake messages than the limit arrived within the last second;
 * the state lasts a second beyond the burst. */
static bool under_load(struct device *dev, uint64_t now)
{
	if (now - dev->load_window_start_ns >= NSEC_PER_SEC) {
		dev->load_window_start_ns = now;
		dev->load_window_handshakes = 0;
	}
	if (++dev->load_window_handshakes > dev->handshake_load_limit)
		dev->under_load_until_ns = now + NSEC_PER_SEC;
	return now < dev->under_load_until_ns;
}

/* MAC checks and the load policy; true when the message may be processed. */
static bool admit_handshake(struct device *dev, const void *msg, size_t len, uint32_t sender_index,
			    const struct datagram_origin *from, uint64_t now)
{
	bool load = under_load(dev, now);
	enum cookie_mac_state mac = cookie_validate(&dev->cookie_checker, msg, len, &from->remote.sa, now);
	if (mac == COOKIE_MAC_INVALID) {
		dev->counters.rx_bad_mac++;
		return false;
	}
	if (!load)
		return true;
	if (mac != COOKIE_MAC_VALID_MAC1_AND_MAC2) {
		send_cookie_reply(dev, msg, len, sender_index, &from->remote);
		return false;
	}
	if (!ratelimiter_allow(dev->ratelimiter, &from->remote.sa, now)) {
		dev->counters.rx_ratelimited++;
		return false;
	}
	return true;
}

static void receive_initiation(struct device *dev, const struct msg_initiation *msg, const struct datagram_origin *from,
			       uint64_t now)
{
	if (!admit_handshake(dev, msg, sizeof(*msg), le32toh(msg->sender_index), from, now))
		return;
	struct noise_initiation_state st;
	struct peer *peer = NULL;
	if (noise_consume_initiation_begin(&dev->identity, msg, &st))
		peer = device_find_peer(dev, st.remote_static);
	if (!peer || !noise_consume_initiation_finish(&peer->handshake, &dev->identity, &st, now)) {
		sodium_memzero(&st, sizeof(st));
		dev->counters.rx_handshake_invalid++;
		return;
	}
	char name[48];
	log_debug("receive", "%s: peer %s: handshake initiation received", dev->ifname, peer_name(peer, name));
	authenticated_from(peer, from, sizeof(*msg));
	send_handshake_response(peer);
}

static void receive_response(struct device *dev, const struct msg_response *msg, const struct datagram_origin *from,
			     uint64_t now)
{
	if (!admit_handshake(dev, msg, sizeof(*msg), le32toh(msg->sender_index), from, now))
		return;
	struct index_entry *e = index_table_lookup(dev->index, le32toh(msg->receiver_index));
	if (!e || e->kind != INDEX_HANDSHAKE) {
		dev->counters.rx_unknown_index++;
		return;
	}
	struct peer *peer = e->peer;
	if (!noise_consume_response(&peer->handshake, &dev->identity, msg)) {
		dev->counters.rx_handshake_invalid++;
		return;
	}
	authenticated_from(peer, from, sizeof(*msg));
	if (!peer_begin_session(peer))
		return;
	timers_handshake_complete(peer);
	/* Confirm the session to the responder at once, with data if some is waiting. */
	send_keepalive(peer);
	device_peer_event(dev, peer, PEER_EVENT_HANDSHAKE_COMPLETE);
}

static void receive_cookie_reply(struct device *dev, const struct msg_cookie_reply *msg, uint64_t now)
{
	struct index_entry *e = index_table_lookup(dev->index, le32toh(msg->receiver_index));
	if (!e) {
		dev->counters.rx_unknown_index++;
		return;
	}
	if (!cookie_consume_reply(&e->peer->cookie, msg, now)) {
		dev->counters.rx_bad_mac++;
		return;
	}
	char name[48];
	log_debug("receive", "%s: peer %s: cookie received", dev->ifname, peer_name(e->peer, name));
}

/* The initiator rehandshakes once when its session nears REJECT_AFTER_TIME while receiving. */
static void keep_key_fresh(struct peer *peer, uint64_t now)
{
	struct keypair *kp = peer->current_keypair;
	if (!kp || !kp->sending_valid || !kp->noise.is_initiator || peer->sent_lastminute_handshake)
		return;
	if (now - kp->noise.birthdate_ns >=
	    (uint64_t)(REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT) * NSEC_PER_SEC) {
		peer->sent_lastminute_handshake = true;
		send_handshake_initiation(peer, false);
	}
}

/* The inner packet's own length and source address; false when it is no IP packet. */
static bool inner_packet(const uint8_t *p, size_t len, size_t *inner_len, int *family, const uint8_t **src)
{
	if (len >= 20 && p[0] >> 4 == 4) {
		size_t tot = (size_t)p[2] << 8 | p[3];
		if (tot < 20 || tot > len)
			return false;
		*inner_len = tot;
		*family = AF_INET;
		*src = p + 12;
		return true;
	}
	if (len >= 40 && p[0] >> 4 == 6) {
		size_t tot = ((size_t)p[4] << 8 | p[5]) + 40;
		if (tot > len)
			return false;
		*inner_len = tot;
		*family = AF_INET6;
		*src = p + 8;
		return true;
	}
	return false;
}

static void flush_to_tun(struct device *dev)
{
	struct tun_packet *frames;
	int count = gro_finish(dev->rx->gro, &frames), done = 0;
	while (dev->tun_fd >= 0 && done < count) {
		int n = tun_write_batch(dev->tun_fd, frames + done, count - done);
		if (n == -EBADFD) {
			device_tun_gone(dev);
			break;
		}
		/* A packet the kernel refused (interface down, bad header) is dropped; the rest go on. */
		done += n > 0 ? n : 1;
	}
}

/* Queue the decrypted inner packet for the TUN if it is IP, trimmed, and from the peer's prefixes. */
static void deliver_data(struct device *dev, struct peer *peer, uint8_t *plain, size_t plain_len)
{
	size_t inner_len;
	int family;
	const uint8_t *inner_src;
	if (!inner_packet(plain, plain_len, &inner_len, &family, &inner_src)) {
		dev->counters.rx_invalid_length++;
		return;
	}
	if (allowedips_lookup(dev->allowedips, family, inner_src) != peer) {
		dev->counters.rx_bad_inner_source++;
		return;
	}
	if (!gro_add(dev->rx->gro, plain, inner_len)) {
		flush_to_tun(dev);
		gro_add(dev->rx->gro, plain, inner_len);
	}
}

static void open_messages(void *ctx, unsigned first, unsigned end)
{
	struct rx_batch *rx = ctx;
	for (unsigned i = first; i < end; i++) {
		struct rx_message *m = &rx->pending[i];
		uint8_t *body = m->data + MSG_DATA_HEADER_LEN;
		m->opened = wg_aead_open(body, body, m->len - MSG_DATA_HEADER_LEN, NULL, 0, m->counter,
					 m->kp->noise.receive_key);
	}
}

/* After the batch was opened: the message's keypair, if it is still the one its index names
 * (an owner's handler may have removed the peer meanwhile), and the replay check. */
static struct keypair *accept_opened(struct device *dev, const struct rx_message *m)
{
	struct index_entry *e = index_table_lookup(dev->index, m->index);
	if (!e || e->kind != INDEX_KEYPAIR || e->keypair != m->kp) {
		dev->counters.rx_unknown_index++;
		return NULL;
	}
	if (!m->opened) {
		dev->counters.rx_decrypt_failed++;
		return NULL;
	}
	if (!replay_check_and_update(&m->kp->noise.replay, m->counter)) {
		dev->counters.rx_replayed++;
		return NULL;
	}
	return m->kp;
}

static void receive_data(struct device *dev, const struct rx_message *m, uint64_t now)
{
	struct keypair *kp = accept_opened(dev, m);
	if (!kp)
		return;
	struct peer *peer = kp->entry.peer;
	authenticated_from(peer, &dev->rx->origins[m->slot], m->len);
	bool confirmed = peer_received_with_keypair(peer, kp);
	if (confirmed) {
		timers_handshake_complete(peer);
		send_staged_packets(peer);
	}
	keep_key_fresh(peer, now);
	if (m->len > MSG_DATA_MIN_LEN) {
		timers_data_received(peer);
		deliver_data(dev, peer, m->data + MSG_DATA_HEADER_LEN, m->len - MSG_DATA_MIN_LEN);
	} else {
		char name[48];
		log_debug("receive", "%s: peer %s: keepalive received", dev->ifname, peer_name(peer, name));
	}
	/* Last: the owner may remove the peer from its handler. */
	if (confirmed)
		device_peer_event(dev, peer, PEER_EVENT_HANDSHAKE_COMPLETE);
}

/* Open every pending message (on the crypto workers when there are enough), then handle each
 * in arrival order on this thread. */
static void open_pending(struct device *dev, uint64_t now)
{
	struct rx_batch *rx = dev->rx;
	int count = rx->pending_count;
	if (!count)
		return;
	workers_run(dev->workers, open_messages, rx, (unsigned)count, RX_SHARE_MIN);
	rx->pending_count = 0;
	for (int i = 0; i < count; i++)
		receive_data(dev, &rx->pending[i], now);
}

/* A transport message: its keypair found and checked now, opened with the rest of the batch. */
static void queue_data(struct device *dev, uint8_t *buf, size_t len, int slot, uint64_t now)
{
	struct rx_batch *rx = dev->rx;
	/* Before the lookup: handling the full batch may remove the peer this message names. */
	if (rx->pending_count == RX_PENDING)
		open_pending(dev, now);
	struct msg_data_header hdr;
	memcpy(&hdr, buf, sizeof(hdr));
	uint32_t index = le32toh(hdr.receiver_index);
	uint64_t counter = le64toh(hdr.counter);
	struct index_entry *e = index_table_lookup(dev->index, index);
	if (!e || e->kind != INDEX_KEYPAIR) {
		dev->counters.rx_unknown_index++;
		return;
	}
	if (!keypair_receive_valid(e->keypair, now) || counter >= REJECT_AFTER_MESSAGES) {
		dev->counters.rx_decrypt_failed++;
		return;
	}
	rx->pending[rx->pending_count++] = (struct rx_message){
		.data = buf, .len = len, .kp = e->keypair, .index = index, .counter = counter, .slot = slot
	};
}

/* One message: transport data waits for the batch to be opened; anything else is handled now,
 * after the data before it. */
static void handle_message(struct device *dev, uint8_t *buf, size_t len, int slot, uint64_t now)
{
	const struct datagram_origin *from = &dev->rx->origins[slot];
	if (len < 4) {
		dev->counters.rx_invalid_length++;
		return;
	}
	uint32_t type;
	memcpy(&type, buf, sizeof(type));
	type = le32toh(type);
	if (type == MSG_DATA && len >= MSG_DATA_MIN_LEN) {
		queue_data(dev, buf, len, slot, now);
		return;
	}
	open_pending(dev, now);
	switch (type) {
	case MSG_INITIATION:
	case MSG_RESPONSE:
		if (len != (type == MSG_INITIATION ? MSG_INITIATION_LEN : MSG_RESPONSE_LEN)) {
			dev->counters.rx_invalid_length++;
			return;
		}
		if (!dev->identity.has_private_key) {
			dev->counters.rx_handshake_invalid++;
			return;
		}
		if (type == MSG_INITIATION)
			receive_initiation(dev, (const struct msg_initiation *)buf, from, now);
		else
			receive_response(dev, (const struct msg_response *)buf, from, now);
		return;
	case MSG_COOKIE_REPLY:
		if (len != MSG_COOKIE_REPLY_LEN) {
			dev->counters.rx_invalid_length++;
			return;
		}
		receive_cookie_reply(dev, (const struct msg_cookie_reply *)buf, now);
		return;
	case MSG_DATA:
		dev->counters.rx_invalid_length++;
		return;
	default:
		dev->counters.rx_unknown_type++;
	}
}

void receive_from_udp(struct device *dev)
{
	struct rx_batch *rx = dev->rx;
	for (int round = 0; round < RX_MAX_BATCHES_PER_WAKEUP; round++) {
		for (int i = 0; i < RX_SLOTS; i++) {
			rx->iovs[i].iov_len = RX_BUF_SIZE;
			rx->msgs[i].msg_hdr.msg_namelen = sizeof(rx->srcs[i]);
			rx->msgs[i].msg_hdr.msg_controllen = sizeof(rx->control[i].buf);
		}
		int n = recvmmsg(dev->udp_fd, rx->msgs, RX_SLOTS, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		uint64_t now = loop_now_ns();
		for (int i = 0; i < n; i++) {
			endpoint_from_sockaddr(&rx->origins[i].remote, &rx->srcs[i]);
			size_t len = rx->msgs[i].msg_len;
			size_t segment = local_source_from_msg(&rx->origins[i].local, &rx->msgs[i].msg_hdr);
			if (!segment || segment > len)
				segment = len;
			/* UDP GRO: equal segments, the last may be shorter; each is one message. */
			size_t off = 0;
			do {
				size_t message_len = len - off < segment ? len - off : segment;
				handle_message(dev, rx->bufs[i] + off, message_len, i, now);
				off += message_len;
			} while (off < len);
		}
		open_pending(dev, now);
		flush_to_tun(dev);
		if (n < RX_SLOTS)
			break;
	}
}
