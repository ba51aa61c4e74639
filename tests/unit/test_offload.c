/*
 * Offloads of the data path: the Internet checksum against a plain RFC 1071 sum, TCP and UDP
 * super-packets cut into segments (lengths, IDs, sequence numbers, flags, payload and every
 * checksum verified independently), segments coalesced back (round trip through both), what
 * must not be coalesced, and a real TUN with a virtio-net header handing over a UDP super-packet.
 */
#include "overlay/checksum.h"
#include "overlay/gro.h"
#include "overlay/gso.h"
#include "tests/unit/test.h"
#include "tun/netlink.h"
#include "tun/tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/udp.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif

/* RFC 1071 the plain way: big-endian 16-bit words, carries folded at the end. */
static uint16_t rfc1071(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }

/* The transport checksum of an IP packet verifies (RFC 1071 over pseudo-header and segment). */
static bool transport_checksum_valid(const uint8_t *p, size_t len)
{
	bool v4 = p[0] >> 4 == 4;
	size_t ip_len = v4 ? (size_t)(p[0] & 15) * 4 : 40, alen = v4 ? 4 : 16;
	uint8_t proto = v4 ? p[9] : p[6];
	uint32_t l4_len = (uint32_t)(len - ip_len);
	uint32_t sum = rfc1071(p + (v4 ? 12 : 8), 2 * alen, 0);
	sum += proto + (l4_len >> 16) + (l4_len & 0xffff);
	return rfc1071(p + ip_len, l4_len, sum) == 0xffff;
}

static bool ip_header_checksum_valid(const uint8_t *p) { return p[0] >> 4 == 6 || rfc1071(p, 20, 0) == 0xffff; }

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rand();
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An IP packet with a TCP (20 + 12 bytes of timestamp option) or UDP header and payload_len
 * random bytes; checksums left as a TSO/USO frame has them (pseudo-header sum, folded). */
static size_t build_packet(uint8_t *p, int family, uint8_t proto, size_t payload_len, uint8_t tcp_flags)
{
	size_t ip_len = family == AF_INET ? 20 : 40, l4 = proto == IPPROTO_TCP ? 32 : 8;
	size_t len = ip_len + l4 + payload_len;
	memset(p, 0, ip_len + l4);
	if (family == AF_INET) {
		p[0] = 0x45;
		put16(p + 2, (uint16_t)len);
		put16(p + 4, 0x1234);
		p[6] = 0x40; /* DF */
		p[8] = 64;
		p[9] = proto;
		memcpy(p + 12, (uint8_t[]){ 10, 1, 2, 3, 10, 4, 5, 6 }, 8);
		put16(p + 10, (uint16_t)~rfc1071(p, 20, 0));
	} else {
		p[0] = 0x60;
		put16(p + 4, (uint16_t)(len - 40));
		p[6] = proto;
		p[7] = 64;
		p[8] = 0xfd;
		p[23] = 1;
		p[24] = 0xfd;
		p[39] = 2;
	}
	uint8_t *t = p + ip_len;
	put16(t, 40000);
	put16(t + 2, 5201);
	if (proto == IPPROTO_TCP) {
		memcpy(t + 4, (uint8_t[]){ 0xff, 0xff, 0xf0, 0x00 }, 4); /* wraps during the run */
		memcpy(t + 8, (uint8_t[]){ 0, 0, 0x10, 0 }, 4);
		t[12] = 8 << 4;
		t[13] = tcp_flags;
		put16(t + 14, 512);
		memcpy(t + 20, (uint8_t[]){ 1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9 }, 12);
	} else {
		put16(t + 4, (uint16_t)(l4 + payload_len));
	}
	fill_random(t + l4, payload_len);
	return len;
}

static struct virtio_net_hdr offload_header(int family, uint8_t proto, uint16_t gso_size)
{
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_size = gso_size };
	h.csum_start = family == AF_INET ? 20 : 40;
	h.csum_offset = proto == IPPROTO_TCP ? 16 : 6;
	h.gso_type = proto == IPPROTO_UDP ? VIRTIO_NET_HDR_GSO_UDP_L4
		     : family == AF_INET  ? VIRTIO_NET_HDR_GSO_TCPV4
					  : VIRTIO_NET_HDR_GSO_TCPV6;
	h.hdr_len = (uint16_t)(h.csum_start + (proto == IPPROTO_TCP ? 32 : 8));
	return h;
}

#define MAX_SEGMENTS 96
static uint8_t super[70000], segs[MAX_SEGMENTS][2048 + 16];
static size_t seg_lens[MAX_SEGMENTS];

/* Split super (len) with h into segs from index first on; returns the count, or -1 when begin
 * refused. */
static int split_at(const struct virtio_net_hdr *h, size_t len, int first)
{
	struct gso_split s;
	if (!gso_split_begin(&s, (const uint8_t *)h, super, len))
		return -1;
	int n = first;
	while (gso_split_next_len(&s) && n < MAX_SEGMENTS) {
		size_t expect = gso_split_next_len(&s);
		seg_lens[n] = gso_split_next(&s, segs[n] + 16);
		CHECK(seg_lens[n] == expect);
		n++;
	}
	return n - first;
}

static int split(const struct virtio_net_hdr *h, size_t len) { return split_at(h, len, 0); }

static void check_segments(int family, uint8_t proto, size_t payload_len, uint16_t gso_size, uint8_t flags)
{
	size_t len = build_packet(super, family, proto, payload_len, flags);
	struct virtio_net_hdr h = offload_header(family, proto, gso_size);
	size_t ip_len = family == AF_INET ? 20 : 40, hdr = h.hdr_len;
	int n = split(&h, len);
	CHECK(n == (int)((payload_len + gso_size - 1) / gso_size));
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		const uint8_t *p = segs[i] + 16;
		size_t plen = seg_lens[i] - hdr;
		bool last = i == n - 1;
		CHECK(plen == (last ? payload_len - off : gso_size));
		CHECK(!memcmp(p + hdr, super + hdr + off, plen));
		CHECK(ip_header_checksum_valid(p));
		CHECK(transport_checksum_valid(p, seg_lens[i]));
		if (family == AF_INET) {
			CHECK(be16(p + 2) == seg_lens[i]);
			CHECK(be16(p + 4) == (uint16_t)(0x1234 + i));
		} else {
			CHECK(be16(p + 4) == seg_lens[i] - 40);
		}
		const uint8_t *t = p + ip_len;
		if (proto == IPPROTO_TCP) {
			CHECK(be32(t + 4) == (uint32_t)(0xfffff000u + off));
			uint8_t want = last ? flags : (uint8_t)(flags & ~0x09); /* FIN and PSH on the last only */
			if (i)
				want &= (uint8_t)~0x80; /* CWR on the first only */
			CHECK(t[13] == want);
			CHECK(!memcmp(t + 20, super + ip_len + 20, 12)); /* options repeated */
		} else {
			CHECK(be16(t + 4) == 8 + plen);
		}
		off += plen;
	}
	CHECK(off == payload_len);
}

TEST(checksum_matches_rfc1071)
{
	static uint8_t buf[3000];
	fill_random(buf, sizeof(buf));
	for (size_t len = 0; len < 200; len++)
		for (size_t start = 0; start < 4; start += 2)
			CHECK(ntohs(checksum_fold(checksum_add(0, buf + start, len))) == rfc1071(buf + start, len, 0) ||
			      (len == 0 && checksum_fold(0) == 0));
	CHECK(ntohs(checksum_fold(checksum_add(0, buf, 2999))) == rfc1071(buf, 2999, 0));
	/* summing while copying: the same sum, and the bytes copied */
	static uint8_t copy[3000];
	for (size_t len = 0; len < 300; len += 7) {
		memset(copy, 0, sizeof(copy));
		CHECK(checksum_fold(checksum_copy(5, copy, buf + 2, len)) == checksum_fold(checksum_add(5, buf + 2, len)));
		CHECK(!memcmp(copy, buf + 2, len) && copy[len] == 0);
	}
	/* a sum carried over two calls equals one sum over both parts */
	CHECK(checksum_fold(checksum_add(checksum_add(0, buf, 1000), buf + 1000, 1999)) ==
	      checksum_fold(checksum_add(0, buf, 2999)));
}

TEST(tcp4_super_packet_split)
{
	check_segments(AF_INET, IPPROTO_TCP, 63000, 1368, 0x18);
	check_segments(AF_INET, IPPROTO_TCP, 5000, 1000, 0x19 | 0x80); /* FIN, PSH, CWR */
	check_segments(AF_INET, IPPROTO_TCP, 1368, 1368, 0x10);
}

TEST(tcp6_super_packet_split) { check_segments(AF_INET6, IPPROTO_TCP, 40000, 1348, 0x18); }

TEST(udp_super_packet_split)
{
	check_segments(AF_INET, IPPROTO_UDP, 60000, 1392, 0);
	check_segments(AF_INET6, IPPROTO_UDP, 10001, 1372, 0);
}

TEST(open_checksum_completed)
{
	size_t len = build_packet(super, AF_INET, IPPROTO_UDP, 777, 0);
	struct virtio_net_hdr h = offload_header(AF_INET, IPPROTO_UDP, 0);
	h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	/* as the kernel leaves it: the folded pseudo-header sum in the field */
	uint16_t pseudo = checksum_fold(checksum_pseudo_header(AF_INET, super + 12, super + 16, IPPROTO_UDP, 8 + 777));
	memcpy(super + 20 + 6, &pseudo, 2);
	CHECK(split(&h, len) == 1);
	CHECK(seg_lens[0] == len);
	CHECK(transport_checksum_valid(segs[0] + 16, len));
	/* without NEEDS_CSUM the packet passes unchanged */
	h.flags = 0;
	CHECK(split(&h, len) == 1);
	CHECK(!memcmp(segs[0] + 16, super, len));
}

TEST(malformed_frames_refused)
{
	size_t len = build_packet(super, AF_INET, IPPROTO_TCP, 3000, 0x10);
	struct virtio_net_hdr h = offload_header(AF_INET, IPPROTO_TCP, 0);
	CHECK(split(&h, len) == -1); /* no segment size */
	h = offload_header(AF_INET6, IPPROTO_TCP, 1000);
	CHECK(split(&h, len) == -1); /* TCPv6 offload on an IPv4 packet */
	h = offload_header(AF_INET, IPPROTO_UDP, 1000);
	CHECK(split(&h, len) == -1); /* UDP offload on TCP */
	h = offload_header(AF_INET, IPPROTO_TCP, 1000);
	CHECK(split(&h, 30) == -1); /* shorter than its headers */
	h.gso_type = 9;
	CHECK(split(&h, len) == -1);
	h = offload_header(AF_INET, IPPROTO_TCP, 0);
	h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	h.csum_start = 3040;
	CHECK(split(&h, len) == -1); /* checksum field beyond the packet */
}

static struct gro_batch *gro;

/* Feed segs 0..n-1 (each at offset 16 of its buffer) to the coalescer; returns the frame count. */
static int coalesce(int n, unsigned offloads, struct tun_packet **frames)
{
	gro_set_offloads(gro, offloads);
	for (int i = 0; i < n; i++)
		CHECK(gro_add(gro, segs[i] + 16, seg_lens[i]));
	return gro_finish(gro, frames);
}

static void check_round_trip(int family, uint8_t proto, size_t payload_len, uint16_t gso_size)
{
	size_t len = build_packet(super, family, proto, payload_len, proto == IPPROTO_TCP ? 0x18 : 0);
	struct virtio_net_hdr h = offload_header(family, proto, gso_size);
	int n = split(&h, len);
	static uint8_t copies[MAX_SEGMENTS][2048];
	for (int i = 0; i < n; i++)
		memcpy(copies[i], segs[i] + 16, seg_lens[i]);
	struct tun_packet *frames;
	CHECK(coalesce(n, TUN_OFFLOAD_VNET_HDR | TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO | TUN_OFFLOAD_USO, &frames) == 1);
	struct virtio_net_hdr g;
	memcpy(&g, frames[0].data, sizeof(g));
	CHECK(frames[0].len == VNET_HDR_LEN + len);
	CHECK(g.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM);
	CHECK(g.gso_type == h.gso_type && g.gso_size == gso_size && g.hdr_len == h.hdr_len);
	CHECK(g.csum_start == h.csum_start && g.csum_offset == h.csum_offset);
	const uint8_t *p = frames[0].data + VNET_HDR_LEN;
	CHECK(ip_header_checksum_valid(p));
	CHECK(!memcmp(p + h.hdr_len, super + h.hdr_len, payload_len));
	/* the field holds the pseudo-header sum over the whole length, as the kernel expects */
	size_t ip_len = family == AF_INET ? 20 : 40, alen = family == AF_INET ? 4 : 16;
	uint32_t l4_len = (uint32_t)(len - ip_len);
	uint16_t pseudo = rfc1071(p + (family == AF_INET ? 12 : 8), 2 * alen, proto + l4_len);
	CHECK(be16(p + h.csum_start + h.csum_offset) == pseudo);
	/* cut again, the super-packet gives back exactly the segments it was made of */
	memcpy(super, p, len);
	CHECK(split(&g, len) == n);
	for (int i = 0; i < n; i++)
		CHECK(!memcmp(segs[i] + 16, copies[i], seg_lens[i]));
}

TEST(coalesce_round_trip)
{
	check_round_trip(AF_INET, IPPROTO_TCP, 62000, 1368);
	check_round_trip(AF_INET6, IPPROTO_TCP, 30000, 1348);
	check_round_trip(AF_INET, IPPROTO_UDP, 20000, 1392);
	check_round_trip(AF_INET6, IPPROTO_UDP, 7001, 1000);
}

/* Two super-packets of one flow, 80 segments in sequence: the first super-packet made of them
 * stops below the 16-bit IP length (59 segments of 1100 bytes), the second takes the rest. */
TEST(coalesce_stops_at_the_ip_length_limit)
{
	unsigned all = TUN_OFFLOAD_VNET_HDR | TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO | TUN_OFFLOAD_USO;
	struct tun_packet *frames;
	for (int family = AF_INET; family; family = family == AF_INET ? AF_INET6 : 0) {
		size_t ip_len = family == AF_INET ? 20 : 40;
		struct virtio_net_hdr h = offload_header(family, IPPROTO_TCP, 1100);
		size_t len = build_packet(super, family, IPPROTO_TCP, 40 * 1100, 0x10);
		CHECK(split_at(&h, len, 0) == 40);
		len = build_packet(super, family, IPPROTO_TCP, 40 * 1100, 0x10);
		uint32_t seq = 0xfffff000u + 40 * 1100; /* the second follows the first */
		memcpy(super + ip_len + 4, (uint8_t[]){ seq >> 24, seq >> 16, seq >> 8, seq }, 4);
		CHECK(split_at(&h, len, 40) == 40);
		CHECK(coalesce(80, all, &frames) == 2);
		CHECK(frames[0].len == VNET_HDR_LEN + ip_len + 32 + 59 * 1100);
		CHECK(frames[1].len == VNET_HDR_LEN + ip_len + 32 + 21 * 1100);
		const uint8_t *p = frames[0].data + VNET_HDR_LEN;
		CHECK((family == AF_INET ? be16(p + 2) : be16(p + 4) + 40u) == frames[0].len - VNET_HDR_LEN);
		CHECK(be32(frames[1].data + VNET_HDR_LEN + ip_len + 4) == 0xfffff000u + 59 * 1100);
	}
}

TEST(coalesce_keeps_order_and_refuses_what_it_must)
{
	size_t len = build_packet(super, AF_INET, IPPROTO_TCP, 8000, 0x10);
	struct virtio_net_hdr h = offload_header(AF_INET, IPPROTO_TCP, 1000);
	int n = split(&h, len);
	CHECK(n == 8);
	struct tun_packet *frames;
	unsigned all = TUN_OFFLOAD_VNET_HDR | TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO | TUN_OFFLOAD_USO;

	/* a bad checksum in segment 3: it goes alone and unverified, the rest around it */
	segs[3][16 + 60] ^= 1;
	CHECK(coalesce(n, all, &frames) == 3);
	struct virtio_net_hdr g;
	memcpy(&g, frames[1].data, sizeof(g));
	CHECK(g.flags == 0 && g.gso_type == VIRTIO_NET_HDR_GSO_NONE);
	memcpy(&g, frames[0].data, sizeof(g));
	CHECK(g.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && frames[0].len == VNET_HDR_LEN + 52 + 3000);
	memcpy(&g, frames[2].data, sizeof(g));
	CHECK(g.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && frames[2].len == VNET_HDR_LEN + 52 + 4000);
	segs[3][16 + 60] ^= 1;

	/* segment 1 again in place of 2: a gap each side, so 0-1, the repeat, then 3-7 */
	memcpy(segs[2] + 16, segs[1] + 16, seg_lens[1]);
	CHECK(coalesce(n, all, &frames) == 3);
	CHECK(frames[0].len == VNET_HDR_LEN + 52 + 2000 && frames[2].len == VNET_HDR_LEN + 52 + 5000);

	/* a lone packet passes with its checksum marked verified; without TSO nothing is joined */
	CHECK(coalesce(1, all, &frames) == 1);
	memcpy(&g, frames[0].data, sizeof(g));
	CHECK(g.flags == VIRTIO_NET_HDR_F_DATA_VALID && g.gso_type == VIRTIO_NET_HDR_GSO_NONE);
	len = build_packet(super, AF_INET, IPPROTO_TCP, 4000, 0x10);
	n = split(&h, len);
	CHECK(coalesce(n, TUN_OFFLOAD_VNET_HDR | TUN_OFFLOAD_CSUM, &frames) == n);
	/* without a vnet header the packets come back as they are */
	CHECK(coalesce(n, 0, &frames) == n);
	for (int i = 0; i < n; i++)
		CHECK(frames[i].data == segs[i] + 16 && frames[i].len == seg_lens[i]);

	/* two flows interleaved: one super-packet each, in the order their first packets came */
	len = build_packet(super, AF_INET, IPPROTO_TCP, 4000, 0x10);
	n = split(&h, len);
	for (int i = n - 1; i >= 0; i--) {
		for (int copy = 0; copy < 2; copy++) {
			uint8_t *b = segs[2 * i + copy] + 16;
			memmove(b, segs[i] + 16, seg_lens[i]);
			seg_lens[2 * i + copy] = seg_lens[i];
		}
		uint8_t *b = segs[2 * i + 1] + 16;
		b[21] ^= 1; /* flow B: source port 40001 */
		memset(b + 36, 0, 2);
		uint32_t l4 = (uint32_t)(seg_lens[2 * i + 1] - 20);
		put16(b + 36, (uint16_t)~rfc1071(b + 20, l4, rfc1071(b + 12, 8, IPPROTO_TCP + l4)));
	}
	CHECK(coalesce(2 * n, all, &frames) == 2);
	CHECK(frames[0].len == VNET_HDR_LEN + 52 + 4000 && frames[1].len == VNET_HDR_LEN + 52 + 4000);
	CHECK(be16(frames[0].data + VNET_HDR_LEN + 20) == 40000 && be16(frames[1].data + VNET_HDR_LEN + 20) == 40001);

	/* a FIN in the flow ends coalescing: what follows it stays after it */
	len = build_packet(super, AF_INET, IPPROTO_TCP, 3000, 0x10);
	n = split(&h, len);
	uint8_t *fin = segs[1] + 16;
	fin[33] |= 0x01;
	memset(fin + 36, 0, 2);
	put16(fin + 36, (uint16_t)~rfc1071(fin + 20, (uint32_t)(seg_lens[1] - 20),
					    rfc1071(fin + 12, 8, IPPROTO_TCP + (uint32_t)(seg_lens[1] - 20))));
	CHECK(coalesce(n, all, &frames) == 3);
	CHECK(be32(frames[1].data + VNET_HDR_LEN + 24) == 0xfffff000u + 1000);
}

/* A UDP GSO send through a real TUN with offloads arrives as one frame that cuts into the datagrams. */
TEST(tun_hands_over_udp_super_packet)
{
	char name[IFNAMSIZ];
	unsetenv("TNGWG_OFFLOAD");
	int fd = tun_open("tngoff0", name);
	CHECK(fd >= 0);
	unsigned offloads = tun_enable_offloads(fd);
	CHECK(offloads & TUN_OFFLOAD_VNET_HDR);
	CHECK(offloads & TUN_OFFLOAD_TSO);
	CHECK(nl_addr_add(name, AF_INET, (uint8_t[]){ 10, 88, 0, 1 }, 24) == 0);
	CHECK(nl_link_set_up(name, true) == 0);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int seg = 1000;
	CHECK(setsockopt(s, IPPROTO_UDP, UDP_SEGMENT, &seg, sizeof(seg)) == 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(7777) };
	memcpy(&to.sin_addr, (uint8_t[]){ 10, 88, 0, 2 }, 4);
	static uint8_t data[5500];
	fill_random(data, sizeof(data));
	CHECK(sendto(s, data, sizeof(data), 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)sizeof(data));
	static uint8_t frame[70000];
	struct tun_packet pkt = { .data = frame, .capacity = sizeof(frame) };
	int datagrams = 0;
	size_t got = 0;
	for (int tries = 0; tries < 200 && got < sizeof(data); tries++) {
		if (tun_read_batch(fd, &pkt, 1) != 1) {
			usleep(5000);
			continue;
		}
		const uint8_t *p = frame + VNET_HDR_LEN;
		if (p[0] >> 4 != 4 || p[9] != IPPROTO_UDP || be16(p + 22) != 7777)
			continue;
		memcpy(super, p, pkt.len - VNET_HDR_LEN);
		int n = split((const struct virtio_net_hdr *)frame, pkt.len - VNET_HDR_LEN);
		CHECK(n > 0);
		for (int i = 0; i < n; i++) {
			CHECK(transport_checksum_valid(segs[i] + 16, seg_lens[i]));
			CHECK(!memcmp(segs[i] + 16 + 28, data + got, seg_lens[i] - 28));
			got += seg_lens[i] - 28;
			datagrams++;
		}
	}
	CHECK(got == sizeof(data) && datagrams == 6);
	close(s);
	close(fd);
}

int main(void)
{
	TEST_BEGIN("offload");
	srand(7);
	gro = gro_batch_new();
	RUN(checksum_matches_rfc1071);
	RUN(tcp4_super_packet_split);
	RUN(tcp6_super_packet_split);
	RUN(udp_super_packet_split);
	RUN(open_checksum_completed);
	RUN(malformed_frames_refused);
	RUN(coalesce_round_trip);
	RUN(coalesce_stops_at_the_ip_length_limit);
	RUN(coalesce_keeps_order_and_refuses_what_it_must);
	gro_batch_free(gro);
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
		printf("FAIL offload.setup: needs root to create a private network namespace (%s)\n", strerror(errno));
		return 1;
	}
	RUN(tun_hands_over_udp_super_packet);
	TEST_END();
}
