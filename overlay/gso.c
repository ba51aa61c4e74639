#include "overlay/gso.h"

#include <endian.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "overlay/checksum.h"
#include "overlay/netbytes.h"

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_CWR 0x80


/* A transport checksum field gets the complement of the sum; 0 is sent as 0xffff, as the kernel does. */
static void store_checksum(uint8_t *field, uint64_t sum)
{
	uint16_t c = (uint16_t)~checksum_fold(sum);
	if (!c)
		c = 0xffff;
	memcpy(field, &c, sizeof(c));
}

/* The kernel left the checksum at csum_start + csum_offset to us; the field holds the pseudo-header sum. */
static bool complete_checksum(uint8_t *packet, size_t len, uint16_t start, uint16_t offset)
{
	if ((size_t)start + offset + 2 > len)
		return false;
	store_checksum(packet + start + offset, checksum_add(0, packet + start, len - start));
	return true;
}

/* IP header: family, header length and protocol; false for what the offloads never produce. */
static bool parse_ip(struct gso_split *s)
{
	const uint8_t *p = s->packet;
	if (s->len >= 20 && p[0] >> 4 == 4) {
		size_t ihl = (size_t)(p[0] & 0x0f) * 4;
		size_t total = get_be16(p + 2);
		if (ihl < 20 || total < ihl || total > s->len || (get_be16(p + 6) & 0x3fff))
			return false; /* a fragment cannot be a super-packet */
		s->len = total;
		s->family = AF_INET;
		s->ip_header_len = ihl;
		s->protocol = p[9];
		return true;
	}
	if (s->len >= 40 && p[0] >> 4 == 6) {
		size_t total = (size_t)get_be16(p + 4) + 40;
		if (total > s->len)
			return false;
		s->len = total;
		s->family = AF_INET6;
		s->ip_header_len = 40; /* transport right after: the stack adds no extension headers here */
		s->protocol = p[6];
		return true;
	}
	return false;
}

bool gso_split_begin(struct gso_split *s, const uint8_t *vnet_hdr, uint8_t *packet, size_t len)
{
	struct virtio_net_hdr h;
	memcpy(&h, vnet_hdr, sizeof(h));
	memset(s, 0, sizeof(*s));
	s->packet = packet;
	s->len = len;
	uint8_t gso_type = h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN;
	if (gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
		    !complete_checksum(packet, len, le16toh(h.csum_start), le16toh(h.csum_offset)))
			return false;
		s->segment_size = len;
		return true;
	}
	if (!parse_ip(s))
		return false;
	size_t transport_len;
	if (gso_type == VIRTIO_NET_HDR_GSO_TCPV4 || gso_type == VIRTIO_NET_HDR_GSO_TCPV6) {
		if (s->protocol != IPPROTO_TCP || (gso_type == VIRTIO_NET_HDR_GSO_TCPV4) != (s->family == AF_INET) ||
		    s->len < s->ip_header_len + 20)
			return false;
		transport_len = (size_t)(packet[s->ip_header_len + 12] >> 4) * 4;
		if (transport_len < 20)
			return false;
	} else if (gso_type == VIRTIO_NET_HDR_GSO_UDP_L4) {
		if (s->protocol != IPPROTO_UDP)
			return false;
		transport_len = 8;
	} else {
		return false;
	}
	s->header_len = s->ip_header_len + transport_len;
	s->segment_size = le16toh(h.gso_size);
	if (s->header_len > s->len || !s->segment_size)
		return false;
	s->segmented = true;
	return true;
}

size_t gso_split_next_len(const struct gso_split *s)
{
	if (s->done)
		return 0;
	if (!s->segmented)
		return s->len;
	size_t left = s->len - s->header_len - s->offset;
	return s->header_len + (left < s->segment_size ? left : s->segment_size);
}

/* Lengths, IPv4 ID and header checksum of one segment's IP header. */
static void fix_ip_header(const struct gso_split *s, uint8_t *out, size_t seg_len)
{
	if (s->family == AF_INET) {
		put_be16(out + 2, (uint16_t)seg_len);
		put_be16(out + 4, (uint16_t)(get_be16(s->packet + 4) + s->index));
		memset(out + 10, 0, 2);
		uint16_t c = (uint16_t)~checksum_fold(checksum_add(0, out, s->ip_header_len));
		memcpy(out + 10, &c, sizeof(c));
	} else {
		put_be16(out + 4, (uint16_t)(seg_len - 40));
	}
}

size_t gso_split_next(struct gso_split *s, uint8_t *out)
{
	size_t seg_len = gso_split_next_len(s);
	if (!seg_len)
		return 0;
	if (!s->segmented) {
		memcpy(out, s->packet, seg_len);
		s->done = true;
		return seg_len;
	}
	size_t payload = seg_len - s->header_len;
	bool last = s->offset + payload == s->len - s->header_len;
	memcpy(out, s->packet, s->header_len);
	fix_ip_header(s, out, seg_len);
	uint8_t *l4 = out + s->ip_header_len;
	size_t l4_len = seg_len - s->ip_header_len;
	uint8_t *check;
	if (s->protocol == IPPROTO_TCP) {
		put_be32(l4 + 4, get_be32(l4 + 4) + (uint32_t)s->offset);
		if (!last)
			l4[13] &= (uint8_t)~(TCP_FLAG_FIN | TCP_FLAG_PSH);
		if (s->index)
			l4[13] &= (uint8_t)~TCP_FLAG_CWR;
		check = l4 + 16;
	} else {
		put_be16(l4 + 4, (uint16_t)l4_len);
		check = l4 + 6;
	}
	memset(check, 0, 2);
	const uint8_t *src = out + (s->family == AF_INET ? 12 : 8);
	const uint8_t *dst = src + (s->family == AF_INET ? 4 : 16);
	uint64_t sum = checksum_pseudo_header(s->family, src, dst, s->protocol, (uint32_t)l4_len);
	sum = checksum_add(sum, l4, s->header_len - s->ip_header_len);
	/* The payload is summed as it is copied: one pass over it. */
	sum = checksum_copy(sum, out + s->header_len, s->packet + s->header_len + s->offset, payload);
	store_checksum(check, sum);
	s->offset += payload;
	s->index++;
	s->done = last;
	return seg_len;
}
