#include "overlay/gro.h"

#include <endian.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "overlay/checksum.h"
#include "overlay/netbytes.h"
#include "overlay/gso.h"

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define GRO_MAX_PACKETS 1024
#define GRO_FLOWS 32
#define GRO_BUFFERS 32
#define GRO_MAX_SEGMENTS 64
#define GRO_MAX_IP_PAYLOAD 65535 /* IPv4 total length and IPv6 payload length are 16 bits */
#define GRO_BUFFER_SIZE (VNET_HDR_LEN + 40 + GRO_MAX_IP_PAYLOAD)

#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_ACK 0x10

/* What coalescing needs to know of a TCP or UDP packet with plain headers. */
struct flow_packet {
	int family;
	uint8_t protocol;
	size_t ip_len, l4_header_len, payload_len;
	uint8_t key[36]; /* addresses, then ports */
	size_t key_len;
};

struct gro_frame {
	uint8_t *packet; /* in place, or in a coalescing buffer */
	size_t len;
	unsigned segments;
	bool checksum_ok;
	struct flow_packet head; /* when segments may be added */
	size_t segment_size;
};

struct gro_flow {
	int frame;
	uint32_t next_seq; /* TCP */
	bool closed;       /* a short or PSH segment ended it */
};

struct gro_batch {
	unsigned offloads;
	struct gro_frame frames[GRO_MAX_PACKETS];
	struct tun_packet out[GRO_MAX_PACKETS];
	int count;
	struct gro_flow flows[GRO_FLOWS];
	int flow_count;
	uint8_t *buffers[GRO_BUFFERS];
	int buffers_used;
};


struct gro_batch *gro_batch_new(void)
{
	struct gro_batch *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	for (int i = 0; i < GRO_BUFFERS; i++) {
		g->buffers[i] = malloc(GRO_BUFFER_SIZE);
		if (!g->buffers[i]) {
			gro_batch_free(g);
			return NULL;
		}
	}
	return g;
}

void gro_batch_free(struct gro_batch *g)
{
	if (!g)
		return;
	for (int i = 0; i < GRO_BUFFERS; i++)
		free(g->buffers[i]);
	free(g);
}

void gro_set_offloads(struct gro_batch *g, unsigned tun_offloads) { g->offloads = tun_offloads; }

static const uint8_t *source_address(const uint8_t *p, int family) { return p + (family == AF_INET ? 12 : 8); }

/* The IPv4 header checksum verifies, and the packet has a transport checksum (UDP over IPv4 may
 * go without one, and then nothing is known about its bytes). */
static bool headers_checkable(const uint8_t *p, const struct flow_packet *f)
{
	if (f->family == AF_INET6)
		return true;
	return checksum_fold(checksum_add(0, p, 20)) == 0xffff &&
	       (f->protocol != IPPROTO_UDP || get_be16(p + f->ip_len + 6));
}

/* The sum of the pseudo-header and the transport header: what the payload's sum completes. */
static uint64_t header_sum(const uint8_t *p, const struct flow_packet *f)
{
	const uint8_t *src = source_address(p, f->family);
	const uint8_t *dst = src + (f->family == AF_INET ? 4 : 16);
	uint32_t l4_len = (uint32_t)(f->l4_header_len + f->payload_len);
	return checksum_add(checksum_pseudo_header(f->family, src, dst, f->protocol, l4_len), p + f->ip_len,
			    f->l4_header_len);
}

static bool checksums_ok(const uint8_t *p, const struct flow_packet *f)
{
	return headers_checkable(p, f) &&
	       checksum_fold(checksum_add(header_sum(p, f), p + f->ip_len + f->l4_header_len, f->payload_len)) ==
		       0xffff;
}

/* A TCP or UDP packet without IP options, extension headers or fragmentation; false otherwise. */
static bool parse_flow_packet(const uint8_t *p, size_t len, struct flow_packet *f)
{
	size_t addr_len;
	if (p[0] >> 4 == 4) {
		if ((p[0] & 0x0f) != 5 || (get_be16(p + 6) & 0x3fff))
			return false;
		f->family = AF_INET;
		f->ip_len = 20;
		f->protocol = p[9];
		addr_len = 4;
	} else {
		f->family = AF_INET6;
		f->ip_len = 40;
		f->protocol = p[6];
		addr_len = 16;
	}
	if (f->protocol == IPPROTO_TCP) {
		if (len < f->ip_len + 20)
			return false;
		f->l4_header_len = (size_t)(p[f->ip_len + 12] >> 4) * 4;
		if (f->l4_header_len < 20 || len < f->ip_len + f->l4_header_len)
			return false;
	} else if (f->protocol == IPPROTO_UDP) {
		f->l4_header_len = 8;
		if (len < f->ip_len + 8 || get_be16(p + f->ip_len + 4) != len - f->ip_len)
			return false;
	} else {
		return false;
	}
	f->payload_len = len - f->ip_len - f->l4_header_len;
	memcpy(f->key, source_address(p, f->family), 2 * addr_len);
	memcpy(f->key + 2 * addr_len, p + f->ip_len, 4);
	f->key_len = 2 * addr_len + 4;
	return true;
}

/* Whether a packet may start or join a super-packet at all (its checksums aside). */
static bool coalescable(const struct gro_batch *g, const uint8_t *p, const struct flow_packet *f)
{
	if (!f->payload_len)
		return false;
	if (f->protocol == IPPROTO_UDP)
		return g->offloads & TUN_OFFLOAD_USO;
	uint8_t flags = p[f->ip_len + 13];
	return (g->offloads & TUN_OFFLOAD_TSO) && (flags == TCP_FLAG_ACK || flags == (TCP_FLAG_ACK | TCP_FLAG_PSH));
}

static struct gro_flow *find_flow(struct gro_batch *g, const struct flow_packet *f)
{
	for (int i = 0; i < g->flow_count; i++) {
		const struct flow_packet *h = &g->frames[g->flows[i].frame].head;
		if (h->protocol == f->protocol && h->key_len == f->key_len && !memcmp(h->key, f->key, f->key_len))
			return &g->flows[i];
	}
	return NULL;
}

static void drop_flow(struct gro_batch *g, struct gro_flow *flow)
{
	*flow = g->flows[--g->flow_count];
}

/* Equal IP headers but for lengths, ID and checksum; for TCP, equal headers but for the
 * sequence number, PSH and checksum, and the next sequence number. */
static bool fits(const struct gro_frame *head, const struct gro_flow *flow, const uint8_t *p,
		 const struct flow_packet *f)
{
	const uint8_t *h = head->packet;
	/* IPv4's total length counts its header, IPv6's payload length does not. */
	size_t limit = GRO_MAX_IP_PAYLOAD + (f->family == AF_INET6 ? 40 : 0);
	if (flow->closed || f->payload_len > head->segment_size || head->segments >= GRO_MAX_SEGMENTS ||
	    head->len + f->payload_len > limit)
		return false;
	if (f->family == AF_INET) {
		/* TOS, DF, TTL, protocol */
		if (h[1] != p[1] || (h[6] & 0x40) != (p[6] & 0x40) || h[8] != p[8])
			return false;
	} else if (memcmp(h, p, 4) || h[7] != p[7]) {
		return false; /* traffic class, flow label, hop limit */
	}
	if (f->protocol == IPPROTO_UDP)
		return true;
	const uint8_t *ht = h + head->head.ip_len, *pt = p + f->ip_len;
	if (f->l4_header_len != head->head.l4_header_len || get_be32(pt + 4) != flow->next_seq)
		return false;
	/* ack, data offset and window, then the options */
	if (memcmp(ht + 8, pt + 8, 5) || (ht[13] & TCP_FLAG_PSH) || memcmp(ht + 14, pt + 14, 2) ||
	    memcmp(ht + 20, pt + 20, f->l4_header_len - 20))
		return false;
	return true;
}

static bool append(struct gro_batch *g, struct gro_frame *head, struct gro_flow *flow, const uint8_t *p,
		   const struct flow_packet *f)
{
	if (head->segments == 1) {
		if (g->buffers_used == GRO_BUFFERS)
			return false;
		uint8_t *buf = g->buffers[g->buffers_used++] + VNET_HDR_LEN;
		memcpy(buf, head->packet, head->len);
		head->packet = buf;
	}
	/* The payload is verified as it is copied; a bad one is left behind, past the head's end. */
	if (!headers_checkable(p, f) ||
	    checksum_fold(checksum_copy(header_sum(p, f), head->packet + head->len, p + f->ip_len + f->l4_header_len,
					f->payload_len)) != 0xffff)
		return false;
	head->len += f->payload_len;
	head->segments++;
	if (f->protocol == IPPROTO_TCP) {
		flow->next_seq += (uint32_t)f->payload_len;
		uint8_t psh = p[f->ip_len + 13] & TCP_FLAG_PSH;
		head->packet[head->head.ip_len + 13] |= psh;
		flow->closed = psh;
	}
	flow->closed = flow->closed || f->payload_len < head->segment_size;
	return true;
}

static void add_single(struct gro_batch *g, uint8_t *packet, size_t len, bool checksum_ok)
{
	g->frames[g->count++] = (struct gro_frame){ .packet = packet, .len = len, .segments = 1,
						    .checksum_ok = checksum_ok };
}

bool gro_add(struct gro_batch *g, uint8_t *packet, size_t len)
{
	if (g->count == GRO_MAX_PACKETS)
		return false;
	struct flow_packet f;
	if (!(g->offloads & TUN_OFFLOAD_VNET_HDR) || !parse_flow_packet(packet, len, &f)) {
		add_single(g, packet, len, false);
		return true;
	}
	bool candidate = coalescable(g, packet, &f);
	struct gro_flow *flow = find_flow(g, &f);
	if (flow) {
		struct gro_frame *head = &g->frames[flow->frame];
		if (candidate && fits(head, flow, packet, &f) && append(g, head, flow, packet, &f))
			return true;
		drop_flow(g, flow); /* this packet must not be overtaken by later ones of its flow */
	}
	bool verified = checksums_ok(packet, &f);
	add_single(g, packet, len, verified);
	if (!candidate || !verified || g->flow_count == GRO_FLOWS)
		return true;
	struct gro_frame *head = &g->frames[g->count - 1];
	head->head = f;
	head->segment_size = f.payload_len;
	g->flows[g->flow_count++] = (struct gro_flow){
		.frame = g->count - 1,
		.next_seq = f.protocol == IPPROTO_TCP ? get_be32(packet + f.ip_len + 4) + (uint32_t)f.payload_len : 0,
		.closed = f.protocol == IPPROTO_TCP && (packet[f.ip_len + 13] & TCP_FLAG_PSH),
	};
	return true;
}

/* A super-packet's lengths and header checksum, and the pseudo-header sum the kernel completes. */
static void finish_super_packet(struct gro_frame *fr, struct virtio_net_hdr *h)
{
	const struct flow_packet *f = &fr->head;
	uint8_t *p = fr->packet;
	size_t l4_len = fr->len - f->ip_len;
	if (f->family == AF_INET) {
		put_be16(p + 2, (uint16_t)fr->len);
		memset(p + 10, 0, 2);
		uint16_t c = (uint16_t)~checksum_fold(checksum_add(0, p, 20));
		memcpy(p + 10, &c, sizeof(c));
	} else {
		put_be16(p + 4, (uint16_t)l4_len);
	}
	uint8_t *l4 = p + f->ip_len;
	const uint8_t *src = source_address(p, f->family);
	uint16_t pseudo = checksum_fold(checksum_pseudo_header(f->family, src, src + (f->family == AF_INET ? 4 : 16),
							       f->protocol, (uint32_t)l4_len));
	if (f->protocol == IPPROTO_TCP) {
		memcpy(l4 + 16, &pseudo, sizeof(pseudo));
		h->gso_type = f->family == AF_INET ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
		h->csum_offset = htole16(16);
	} else {
		put_be16(l4 + 4, (uint16_t)l4_len);
		memcpy(l4 + 6, &pseudo, sizeof(pseudo));
		h->gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
		h->csum_offset = htole16(6);
	}
	h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h->hdr_len = htole16((uint16_t)(f->ip_len + f->l4_header_len));
	h->gso_size = htole16((uint16_t)fr->segment_size);
	h->csum_start = htole16((uint16_t)f->ip_len);
}

int gro_finish(struct gro_batch *g, struct tun_packet **frames)
{
	bool vnet = g->offloads & TUN_OFFLOAD_VNET_HDR;
	for (int i = 0; i < g->count; i++) {
		struct gro_frame *fr = &g->frames[i];
		if (!vnet) {
			g->out[i] = (struct tun_packet){ .data = fr->packet, .len = fr->len, .capacity = fr->len };
			continue;
		}
		struct virtio_net_hdr h = { 0 };
		if (fr->segments > 1)
			finish_super_packet(fr, &h);
		else if (fr->checksum_ok)
			h.flags = VIRTIO_NET_HDR_F_DATA_VALID; /* verified above: the kernel need not again */
		memcpy(fr->packet - VNET_HDR_LEN, &h, VNET_HDR_LEN);
		g->out[i] = (struct tun_packet){ .data = fr->packet - VNET_HDR_LEN, .len = fr->len + VNET_HDR_LEN,
						 .capacity = fr->len + VNET_HDR_LEN };
	}
	int n = g->count;
	g->count = 0;
	g->flow_count = 0;
	g->buffers_used = 0;
	*frames = g->out;
	return n;
}
