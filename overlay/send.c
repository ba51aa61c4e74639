#include "overlay/send.h"

#include <endian.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "overlay/allowedips.h"
#include "overlay/crypto.h"
#include "overlay/gso.h"
#include "overlay/peer.h"
#include "overlay/timers.h"
#include "overlay/workers.h"
#include "tun/tun.h"

#define TX_MESSAGES 512 /* transport messages sealed and sent together */
#define TX_ARENA_SIZE (TX_MESSAGES * 1536)
#define TX_FRAMES_PER_WAKEUP 64 /* then let the receive side run */
#define TX_SHARE_MIN 64 /* more than one super-packet waiting: worth waking a crypto worker */
#define PACKET_MAX 65535
#define PACKET_BUF_SIZE (PACKET_MAX + MESSAGE_PADDING_MULTIPLE)
#define MESSAGE_ALIGN 64
#define UDP_MAX_SEGMENTS 64 /* the kernel's limit per GSO send */
#define GSO_MAX_BYTES 65000 /* segments of one GSO send together, under the IP length limit */

/* Control data pinning a message's source address (sticky source). */
union source_control {
	char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	struct cmsghdr align;
};

/* The same, plus the segment size of a UDP GSO send. */
struct gso_control {
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	};
};

/* One transport message in the arena: header, plaintext padded in place, then the tag. */
struct tx_message {
	uint8_t *data;
	size_t padded_len;
	uint64_t counter;
	const uint8_t *key; /* the keypair outlives the batch: nothing frees one before the flush */
};

struct tx_batch {
	uint8_t *frame;  /* one frame read from the TUN: vnet header (when on) and packet */
	uint8_t *inject; /* a packet handed in by the owner */
	uint8_t *segment; /* one packet cut from a frame for staging or the owner */
	/* The messages of this batch, in send order, and their place in the arena. */
	uint8_t *arena;
	size_t arena_used;
	struct tx_message messages[TX_MESSAGES];
	struct mmsghdr msgs[TX_MESSAGES];
	struct iovec iovs[TX_MESSAGES];
	struct sockaddr_in6 addrs[TX_MESSAGES];
	union source_control controls[TX_MESSAGES];
	struct peer *peers[TX_MESSAGES];
	/* What sendmmsg gets: each send covers slots send_first[i] .. send_first[i + 1] - 1. */
	struct mmsghdr sends[TX_MESSAGES];
	struct gso_control gso_controls[TX_MESSAGES];
	int send_first[TX_MESSAGES + 1];
	int count;
};

struct tx_batch *tx_batch_new(void)
{
	struct tx_batch *tx = calloc(1, sizeof(*tx));
	if (!tx)
		return NULL;
	tx->frame = malloc(VNET_HDR_LEN + PACKET_BUF_SIZE);
	tx->inject = malloc(PACKET_BUF_SIZE);
	tx->segment = malloc(PACKET_BUF_SIZE);
	tx->arena = aligned_alloc(MESSAGE_ALIGN, TX_ARENA_SIZE);
	if (!tx->frame || !tx->inject || !tx->segment || !tx->arena) {
		tx_batch_free(tx);
		return NULL;
	}
	for (int i = 0; i < TX_MESSAGES; i++) {
		tx->msgs[i].msg_hdr.msg_iov = &tx->iovs[i];
		tx->msgs[i].msg_hdr.msg_iovlen = 1;
		tx->msgs[i].msg_hdr.msg_name = &tx->addrs[i];
	}
	return tx;
}

void tx_batch_free(struct tx_batch *tx)
{
	if (!tx)
		return;
	free(tx->frame);
	free(tx->inject);
	free(tx->segment);
	free(tx->arena);
	free(tx);
}

/* The UDP address to send to on this device's socket (v4 endpoints become v4-mapped on a v6 socket). */
static socklen_t endpoint_to_sockaddr(const struct device *dev, const union endpoint_addr *ep, struct sockaddr_in6 *out)
{
	memset(out, 0, sizeof(*out));
	if (ep->sa.sa_family == AF_INET6) {
		*out = ep->in6;
		return sizeof(struct sockaddr_in6);
	}
	if (dev->udp_family == AF_INET) {
		memcpy(out, &ep->in4, sizeof(ep->in4));
		return sizeof(struct sockaddr_in);
	}
	out->sin6_family = AF_INET6;
	out->sin6_port = ep->in4.sin_port;
	out->sin6_addr.s6_addr[10] = 0xff;
	out->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&out->sin6_addr.s6_addr[12], &ep->in4.sin_addr, 4);
	return sizeof(struct sockaddr_in6);
}

/* Send from the local address the peer last reached us on, if known. */
static void attach_source(struct msghdr *h, const struct local_source *src, union source_control *ctrl)
{
	h->msg_control = NULL;
	h->msg_controllen = 0;
	if (!src->family)
		return;
	memset(ctrl, 0, sizeof(*ctrl));
	h->msg_control = ctrl->buf;
	h->msg_controllen = sizeof(ctrl->buf);
	struct cmsghdr *c = CMSG_FIRSTHDR(h);
	if (src->family == AF_INET) {
		/* Also right on the dual-stack socket: v4-mapped destinations take IP-level control data. */
		struct in_pktinfo info = { .ipi_spec_dst = src->addr4 };
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(info));
		memcpy(CMSG_DATA(c), &info, sizeof(info));
		h->msg_controllen = CMSG_SPACE(sizeof(info));
	} else {
		struct in6_pktinfo info = { .ipi6_addr = src->addr6 };
		if (IN6_IS_ADDR_LINKLOCAL(&src->addr6))
			info.ipi6_ifindex = (unsigned)src->ifindex;
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(info));
		memcpy(CMSG_DATA(c), &info, sizeof(info));
		h->msg_controllen = CMSG_SPACE(sizeof(info));
	}
}

/* A send failed: if it was pinned to a source address that may have gone, unpin and say to retry. */
static bool unpin_stale_source(struct peer *peer, struct msghdr *h, int err)
{
	if (!peer || !h->msg_controllen || (err != EINVAL && err != EADDRNOTAVAIL && err != ENETUNREACH))
		return false;
	memset(&peer->source, 0, sizeof(peer->source));
	h->msg_control = NULL;
	h->msg_controllen = 0;
	return true;
}

/* Consecutive messages to the same address, all of the first one's size (the last may be
 * shorter), can leave as one UDP GSO send that the kernel cuts into datagrams. */
static int gso_run(const struct tx_batch *tx, int first)
{
	const struct msghdr *a = &tx->msgs[first].msg_hdr;
	size_t size = tx->iovs[first].iov_len, total = size;
	int n = 1;
	while (first + n < tx->count && n < UDP_MAX_SEGMENTS) {
		const struct msghdr *b = &tx->msgs[first + n].msg_hdr;
		size_t len = tx->iovs[first + n].iov_len;
		if (len > size || total + len > GSO_MAX_BYTES || b->msg_namelen != a->msg_namelen ||
		    memcmp(b->msg_name, a->msg_name, a->msg_namelen) || b->msg_controllen != a->msg_controllen ||
		    (a->msg_controllen && memcmp(b->msg_control, a->msg_control, a->msg_controllen)))
			break;
		total += len;
		n++;
		if (len < size)
			break;
	}
	return n;
}

/* Group the batch from slot first on into sends from index unit on: runs of segments when GSO
 * works, else one message each. Returns the number of sends. */
static int build_sends(struct device *dev, int unit, int first)
{
	struct tx_batch *tx = dev->tx;
	int units = unit;
	for (int i = first; i < tx->count; units++) {
		int n = dev->udp_gso_off ? 1 : gso_run(tx, i);
		struct msghdr *h = &tx->sends[units].msg_hdr;
		*h = tx->msgs[i].msg_hdr;
		h->msg_iov = &tx->iovs[i];
		h->msg_iovlen = (size_t)n;
		if (n > 1) {
			struct gso_control *c = &tx->gso_controls[units];
			memcpy(c->buf, h->msg_control, h->msg_controllen);
			struct cmsghdr *cm = (struct cmsghdr *)(c->buf + h->msg_controllen);
			cm->cmsg_level = IPPROTO_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			uint16_t size = (uint16_t)tx->iovs[i].iov_len;
			memcpy(CMSG_DATA(cm), &size, sizeof(size));
			h->msg_control = c->buf;
			h->msg_controllen += CMSG_SPACE(sizeof(uint16_t));
		}
		tx->send_first[units] = i;
		i += n;
	}
	tx->send_first[units] = tx->count;
	return units;
}

static void seal_messages(void *ctx, unsigned first, unsigned end)
{
	struct tx_batch *tx = ctx;
	for (unsigned i = first; i < end; i++) {
		struct tx_message *m = &tx->messages[i];
		uint8_t *plain = m->data + MSG_DATA_HEADER_LEN;
		wg_aead_seal(plain, plain, m->padded_len, NULL, 0, m->counter, m->key);
	}
}

/* Seal every queued message (on the crypto workers when there are enough) and send them. */
static void flush(struct device *dev)
{
	struct tx_batch *tx = dev->tx;
	if (!tx->count)
		return;
	workers_run(dev->workers, seal_messages, tx, (unsigned)tx->count, TX_SHARE_MIN);
	int units = build_sends(dev, 0, 0), done = 0;
	while (done < units) {
		int n = sendmmsg(dev->udp_fd, tx->sends + done, (unsigned)(units - done), 0);
		if (n < 0) {
			int first = tx->send_first[done];
			if (errno == EINTR)
				continue;
			if (tx->sends[done].msg_hdr.msg_iovlen > 1 && (errno == EIO || errno == EINVAL)) {
				/* No UDP GSO on this path (e.g. no checksum offload): one datagram each from now. */
				log_info("send", "%s: UDP segmentation offload unavailable (%s), sending datagrams singly",
					 dev->ifname, strerror(errno));
				dev->udp_gso_off = true;
				units = build_sends(dev, done, first);
				continue;
			}
			if (unpin_stale_source(tx->peers[first], &tx->msgs[first].msg_hdr, errno)) {
				units = build_sends(dev, done, first);
				continue;
			}
			/* This send cannot go (unreachable, full buffer): drop it, keep the rest. */
			log_debug("send", "%s: sendmmsg: %s", dev->ifname, strerror(errno));
			done++;
			continue;
		}
		for (int u = done; u < done + n; u++)
			tx->peers[tx->send_first[u]]->tx_bytes += tx->sends[u].msg_len;
		done += n;
	}
	tx->count = 0;
	tx->arena_used = 0;
}

/* Zero padding to a multiple of 16 without exceeding the MTU (the kernel's rule). */
static size_t padded_length(size_t len, unsigned mtu)
{
	size_t last = len;
	if (mtu && last > mtu)
		last %= mtu;
	size_t aligned = (last + MESSAGE_PADDING_MULTIPLE - 1) & ~(size_t)(MESSAGE_PADDING_MULTIPLE - 1);
	if (mtu && aligned > mtu)
		aligned = mtu;
	return len - last + aligned;
}

static size_t message_space(size_t len)
{
	size_t need = MSG_DATA_MIN_LEN + len + MESSAGE_PADDING_MULTIPLE;
	return (need + MESSAGE_ALIGN - 1) & ~(size_t)(MESSAGE_ALIGN - 1);
}

/* Where the next message's plaintext of len bytes goes; the batch is flushed first when full. */
static uint8_t *next_plaintext(struct device *dev, size_t len)
{
	struct tx_batch *tx = dev->tx;
	if (tx->count == TX_MESSAGES || tx->arena_used + message_space(len) > TX_ARENA_SIZE)
		flush(dev);
	return tx->arena + tx->arena_used + MSG_DATA_HEADER_LEN;
}

/* The plaintext of len bytes is at next_plaintext(): pad it, number it and queue it to the peer. */
static void queue_message(struct peer *peer, struct keypair *kp, size_t len)
{
	struct device *dev = peer->dev;
	struct tx_batch *tx = dev->tx;
	int i = tx->count++;
	struct tx_message *m = &tx->messages[i];
	m->data = tx->arena + tx->arena_used;
	tx->arena_used += message_space(len);
	m->padded_len = padded_length(len, dev->mtu);
	memset(m->data + MSG_DATA_HEADER_LEN + len, 0, m->padded_len - len);
	m->counter = kp->noise.send_counter++;
	m->key = kp->noise.send_key;
	struct msg_data_header hdr = { .type = htole32(MSG_DATA),
				       .receiver_index = htole32(kp->noise.remote_index),
				       .counter = htole64(m->counter) };
	memcpy(m->data, &hdr, sizeof(hdr));
	tx->iovs[i].iov_base = m->data;
	tx->iovs[i].iov_len = MSG_DATA_HEADER_LEN + m->padded_len + WG_AEAD_TAG_LEN;
	tx->msgs[i].msg_hdr.msg_namelen = endpoint_to_sockaddr(dev, &peer->endpoint, &tx->addrs[i]);
	attach_source(&tx->msgs[i].msg_hdr, &peer->source, &tx->controls[i]);
	tx->peers[i] = peer;
}

/* After queueing a packet (or the segments of one) to a peer. */
static void transport_queued(struct peer *peer, bool has_data)
{
	timers_any_authenticated_packet_traversal(peer);
	timers_any_authenticated_packet_sent(peer);
	if (has_data)
		timers_data_sent(peer);
}

/* Whether kp may carry another message to the peer now; counts the missing endpoint. */
static bool can_send(struct peer *peer, const struct keypair *kp)
{
	if (!peer->has_endpoint) {
		peer->dev->counters.tx_no_endpoint++;
		return false;
	}
	return kp->noise.send_counter < REJECT_AFTER_MESSAGES;
}

/* One packet (len bytes at plain) to the peer under kp. */
static void queue_transport(struct peer *peer, struct keypair *kp, const uint8_t *plain, size_t len)
{
	if (!can_send(peer, kp))
		return;
	uint8_t *dst = next_plaintext(peer->dev, len);
	if (len)
		memcpy(dst, plain, len);
	queue_message(peer, kp, len);
	transport_queued(peer, len != 0);
}

/* Rehandshake before the session gets old: by message count, or by age on the initiator. */
static void keep_key_fresh(struct peer *peer, const struct keypair *kp, uint64_t now)
{
	if (kp->noise.send_counter > REKEY_AFTER_MESSAGES ||
	    (kp->noise.is_initiator && now - kp->noise.birthdate_ns > (uint64_t)REKEY_AFTER_TIME * NSEC_PER_SEC))
		send_handshake_initiation(peer, false);
}

/* Whether addr (4 or 16 bytes) is one of this host's addresses: binding to it succeeds. If no
 * socket can be had (no fds left) the answer is yes, since a dropped packet beats a loop. */
static bool is_local_address(int family, const uint8_t *addr)
{
	union endpoint_addr a = { .sa.sa_family = (sa_family_t)family };
	socklen_t alen = sizeof(a.in4);
	if (family == AF_INET) {
		memcpy(&a.in4.sin_addr, addr, 4);
	} else {
		memcpy(&a.in6.sin6_addr, addr, 16);
		alen = sizeof(a.in6);
	}
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true;
	bool local = bind(fd, &a.sa, alen) == 0 || errno != EADDRNOTAVAIL;
	close(fd);
	return local;
}

/* A UDP datagram from a local address on the listen port, read from the TUN, is one of our own
 * encrypted messages that routing sent into the tunnel (a peer's endpoint inside allowed IPs).
 * Encrypting it again would loop forever; the kernel refuses such sends (ELOOP). Only packets
 * with the listen port as source port pay for the address check. */
static bool is_own_udp_send(const struct device *dev, const uint8_t *packet, size_t len, int family)
{
	size_t header_len;
	unsigned protocol;
	const uint8_t *src;
	if (family == AF_INET) {
		header_len = (size_t)(packet[0] & 0x0f) * 4;
		protocol = packet[9];
		src = packet + 12;
		bool later_fragment = ((packet[6] & 0x1f) << 8 | packet[7]) != 0;
		if (later_fragment || header_len < 20)
			return false;
	} else {
		header_len = 40; /* the listen port's datagrams carry no extension headers */
		protocol = packet[6];
		src = packet + 8;
	}
	if (protocol != IPPROTO_UDP || len < header_len + 8)
		return false;
	uint16_t source_port = (uint16_t)(packet[header_len] << 8 | packet[header_len + 1]);
	return source_port == dev->listen_port && is_local_address(family, src);
}

/* Every packet of the frame to the owner's unrouted handler, flushed first: queued messages
 * name their peers, and the owner may remove one. */
static void hand_to_owner(struct device *dev, struct gso_split *split)
{
	flush(dev);
	while (gso_split_next_len(split)) {
		size_t len = gso_split_next(split, dev->tx->segment);
		dev->unrouted_fn(dev->unrouted_ctx, dev->tx->segment, len);
	}
}

/* A frame from the TUN (vnet_hdr NULL without one) or a packet from the owner: routed by its
 * destination, cut into packets if it is a super-packet, and queued or staged for its peer. */
static void route_frame(struct device *dev, const uint8_t *vnet_hdr, uint8_t *packet, size_t len, uint64_t now)
{
	static const uint8_t no_offload[VNET_HDR_LEN];
	int family;
	const uint8_t *dst;
	if (len >= 20 && packet[0] >> 4 == 4) {
		family = AF_INET;
		dst = packet + 16;
	} else if (len >= 40 && packet[0] >> 4 == 6) {
		family = AF_INET6;
		dst = packet + 24;
	} else {
		dev->counters.tx_no_route++;
		return;
	}
	if (is_own_udp_send(dev, packet, len, family)) {
		dev->counters.tx_routing_loop++;
		return;
	}
	struct gso_split split;
	if (!gso_split_begin(&split, vnet_hdr ? vnet_hdr : no_offload, packet, len)) {
		dev->counters.tx_invalid_offload++;
		return;
	}
	struct peer *peer = allowedips_lookup(dev->allowedips, family, dst);
	if (!peer) {
		dev->counters.tx_no_route++;
		if (dev->unrouted_fn)
			hand_to_owner(dev, &split);
		return;
	}
	struct keypair *kp = peer->staged_count ? NULL : peer_sending_keypair(peer, now);
	if (kp) {
		if (!can_send(peer, kp))
			return;
		size_t seg_len;
		while ((seg_len = gso_split_next_len(&split))) {
			gso_split_next(&split, next_plaintext(dev, seg_len));
			queue_message(peer, kp, seg_len);
			if (kp->noise.send_counter >= REJECT_AFTER_MESSAGES)
				break;
		}
		transport_queued(peer, true);
		keep_key_fresh(peer, kp, now);
		return;
	}
	while (gso_split_next_len(&split)) {
		size_t seg_len = gso_split_next(&split, dev->tx->segment);
		peer_stage_packet(peer, dev->tx->segment, seg_len);
	}
	send_staged_packets(peer);
}

void send_from_tun(struct device *dev)
{
	struct tx_batch *tx = dev->tx;
	size_t header = dev->tun_offloads & TUN_OFFLOAD_VNET_HDR ? VNET_HDR_LEN : 0;
	struct tun_packet frame = { .data = tx->frame, .capacity = header + PACKET_MAX };
	for (int i = 0; i < TX_FRAMES_PER_WAKEUP && dev->tun_fd >= 0; i++) {
		int n = tun_read_batch(dev->tun_fd, &frame, 1);
		if (n < 0) {
			if (n == -EBADFD || n == -ENODEV || n == -EIO)
				device_tun_gone(dev);
			else if (n != -EAGAIN)
				log_warn("send", "%s: reading the TUN: %s", dev->ifname, strerror(-n));
			break;
		}
		if (!n)
			break;
		if (frame.len < header) {
			dev->counters.tx_invalid_offload++;
			continue;
		}
		route_frame(dev, header ? tx->frame : NULL, tx->frame + header, frame.len - header, loop_now_ns());
	}
	flush(dev);
}

void send_packet(struct device *dev, const uint8_t *packet, size_t len)
{
	if (len > PACKET_MAX)
		return;
	memcpy(dev->tx->inject, packet, len);
	route_frame(dev, NULL, dev->tx->inject, len, loop_now_ns());
	flush(dev);
}

void send_staged_packets(struct peer *peer)
{
	uint64_t now = loop_now_ns();
	struct keypair *kp = peer_sending_keypair(peer, now);
	if (!kp) {
		if (peer->staged_count)
			send_handshake_initiation(peer, false);
		return;
	}
	struct staged_packet *sp;
	while ((sp = peer_unstage_packet(peer)))
		queue_transport(peer, kp, sp->data, sp->len);
	peer_release_staging(peer); /* their bytes are in the batch now */
	keep_key_fresh(peer, kp, now);
	flush(peer->dev);
}

void send_keepalive(struct peer *peer)
{
	if (peer->staged_count) {
		send_staged_packets(peer);
		return;
	}
	uint64_t now = loop_now_ns();
	struct keypair *kp = peer_sending_keypair(peer, now);
	if (!kp) {
		send_handshake_initiation(peer, false);
		return;
	}
	char name[48];
	log_debug("send", "%s: peer %s: sending keepalive", peer->dev->ifname, peer_name(peer, name));
	queue_transport(peer, kp, NULL, 0);
	keep_key_fresh(peer, kp, now);
	flush(peer->dev);
}

static void send_to_endpoint(struct device *dev, const void *buf, size_t len, const union endpoint_addr *to,
			     struct peer *peer)
{
	struct sockaddr_in6 addr;
	union source_control ctrl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr h = { .msg_name = &addr, .msg_iov = &iov, .msg_iovlen = 1 };
	h.msg_namelen = endpoint_to_sockaddr(dev, to, &addr);
	if (peer)
		attach_source(&h, &peer->source, &ctrl);
	ssize_t n;
	do
		n = sendmsg(dev->udp_fd, &h, 0);
	while (n < 0 && (errno == EINTR || unpin_stale_source(peer, &h, errno)));
	if (n < 0)
		log_debug("send", "%s: sendmsg: %s", dev->ifname, strerror(errno));
	else if (peer)
		peer->tx_bytes += (uint64_t)n;
}

static bool send_handshake_message(struct peer *peer, const void *msg, size_t len)
{
	if (!peer->has_endpoint) {
		peer->dev->counters.tx_no_endpoint++;
		return false;
	}
	timers_any_authenticated_packet_traversal(peer);
	timers_any_authenticated_packet_sent(peer);
	send_to_endpoint(peer->dev, msg, len, &peer->endpoint, peer);
	return true;
}

void send_handshake_initiation(struct peer *peer, bool is_retry)
{
	struct device *dev = peer->dev;
	uint64_t now = loop_now_ns();
	if (!is_retry)
		peer->handshake_attempts = 0;
	if (peer->has_sent_handshake && now - peer->last_sent_handshake_ns < (uint64_t)REKEY_TIMEOUT * NSEC_PER_SEC)
		return;
	if (!dev->identity.has_private_key)
		return;
	peer->has_sent_handshake = true;
	peer->last_sent_handshake_ns = now;
	struct msg_initiation msg;
	uint32_t index = index_table_insert(dev->index, &peer->handshake_entry);
	if (!noise_create_initiation(&peer->handshake, &dev->identity, index, &msg)) {
		index_table_remove(dev->index, &peer->handshake_entry);
		return;
	}
	cookie_add_macs(&peer->cookie, &msg, sizeof(msg), now);
	char name[48];
	log_info("send", "%s: peer %s: sending handshake initiation", dev->ifname, peer_name(peer, name));
	send_handshake_message(peer, &msg, sizeof(msg));
	sodium_memzero(&msg, sizeof(msg));
	timers_handshake_initiated(peer);
}

void send_handshake_response(struct peer *peer)
{
	struct device *dev = peer->dev;
	uint64_t now = loop_now_ns();
	peer->has_sent_handshake = true;
	peer->last_sent_handshake_ns = now;
	struct msg_response msg;
	uint32_t index = index_table_insert(dev->index, &peer->handshake_entry);
	if (!noise_create_response(&peer->handshake, &dev->identity, index, &msg)) {
		index_table_remove(dev->index, &peer->handshake_entry);
		return;
	}
	cookie_add_macs(&peer->cookie, &msg, sizeof(msg), now);
	if (!peer_begin_session(peer))
		return;
	char name[48];
	log_info("send", "%s: peer %s: sending handshake response", dev->ifname, peer_name(peer, name));
	send_handshake_message(peer, &msg, sizeof(msg));
}

void send_cookie_reply(struct device *dev, const void *msg, size_t len, uint32_t sender_index,
		       const union endpoint_addr *to)
{
	struct msg_cookie_reply reply;
	cookie_create_reply(&dev->cookie_checker, &reply, msg, len, sender_index, &to->sa, loop_now_ns());
	send_to_endpoint(dev, &reply, sizeof(reply), to, NULL);
	dev->counters.rx_cookie_replies_sent++;
}
