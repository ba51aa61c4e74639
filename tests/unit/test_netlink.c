/*
 * rtnetlink and TUN against the real kernel, inside a private network namespace this process
 * enters first, so nothing it creates is visible outside. Each change is read back with `ip`.
 */
#include "tun/netlink.h"
#include "tun/tun.h"
#include "tests/unit/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define IFACE "tnltest0"
#define TABLE 1000

static int tun_fd = -1;

/* Whether the output of the shell command cmd contains needle. */
static bool output_contains(const char *cmd, const char *needle)
{
	FILE *p = popen(cmd, "r");
	if (!p)
		return false;
	static char out[65536];
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = 0;
	pclose(p);
	return strstr(out, needle) != NULL;
}

static uint8_t addr_buf[4][16];
static int addr_next;
static const void *addr_of(int family, const char *s)
{
	uint8_t *b = addr_buf[addr_next++ % 4];
	if (inet_pton(family, s, b) != 1)
		abort();
	return b;
}
#define V4(s) addr_of(AF_INET, s)
#define V6(s) addr_of(AF_INET6, s)

TEST(missing_link_is_enodev)
{
	CHECK(nl_link_index("tnlmissing0") == -ENODEV);
	CHECK(nl_link_set_up("tnlmissing0", true) == -ENODEV);
	CHECK(nl_link_set_mtu("tnlmissing0", 1400) == -ENODEV);
	CHECK(nl_link_delete("tnlmissing0") == -ENODEV);
	CHECK(nl_addr_add("tnlmissing0", AF_INET, V4("10.1.1.1"), 24) == -ENODEV);
	CHECK(nl_route_add(TABLE, AF_INET, V4("10.1.0.0"), 16, "tnlmissing0") == -ENODEV);
}

TEST(tun_create_set_mtu_and_up)
{
	char name[IFNAMSIZ] = "";
	tun_fd = tun_open(IFACE, name);
	CHECK(tun_fd >= 0);
	CHECK_STR(name, IFACE);
	CHECK(nl_link_index(IFACE) > 0);
	CHECK(nl_link_set_mtu(IFACE, 1380) == 0);
	CHECK(nl_link_set_up(IFACE, true) == 0);
	CHECK(output_contains("ip -o link show dev " IFACE, "mtu 1380"));
	CHECK(output_contains("ip -o link show dev " IFACE, ",UP,"));
	CHECK(nl_link_set_up(IFACE, false) == 0);
	CHECK(!output_contains("ip -o link show dev " IFACE, ",UP"));
	CHECK(nl_link_set_up(IFACE, true) == 0);
	CHECK(nl_link_set_mtu(IFACE, 1u << 20) == -EINVAL);
}

TEST(addresses_v4_and_v6)
{
	CHECK(nl_addr_add(IFACE, AF_INET, V4("10.77.0.1"), 24) == 0);
	CHECK(nl_addr_add(IFACE, AF_INET6, V6("fd77::1"), 64) == 0);
	CHECK(output_contains("ip -o addr show dev " IFACE, "inet 10.77.0.1/24"));
	CHECK(output_contains("ip -o addr show dev " IFACE, "inet6 fd77::1/64"));
	CHECK(nl_addr_add(IFACE, AF_INET, V4("10.77.0.1"), 24) == -EEXIST);
	CHECK(nl_addr_add(IFACE, AF_INET, V4("10.77.0.1"), 33) == -EINVAL);
	CHECK(nl_addr_add(IFACE, AF_INET6, V6("fd78::1"), 64) == 0);
	CHECK(nl_addr_del(IFACE, AF_INET6, V6("fd78::1"), 64) == 0);
	CHECK(!output_contains("ip -o addr show dev " IFACE, "fd78::1"));
	CHECK(nl_addr_del(IFACE, AF_INET6, V6("fd78::1"), 64) == -EADDRNOTAVAIL);
	CHECK(nl_addr_add(IFACE, AF_INET, V4("10.78.0.1"), 16) == 0);
	CHECK(nl_addr_del(IFACE, AF_INET, V4("10.78.0.1"), 16) == 0);
	CHECK(!output_contains("ip -o addr show dev " IFACE, "10.78.0.1"));
	CHECK(nl_addr_del(IFACE, AF_INET, V4("10.78.0.1"), 16) == -EADDRNOTAVAIL);
}

TEST(routes_in_a_high_table)
{
	CHECK(nl_route_add(TABLE, AF_INET, V4("10.88.0.0"), 16, IFACE) == 0);
	CHECK(nl_route_add(TABLE, AF_INET, V4("0.0.0.0"), 0, IFACE) == 0);
	CHECK(nl_route_add(TABLE, AF_INET6, V6("fd88::"), 64, IFACE) == 0);
	CHECK(nl_route_add(TABLE, AF_INET6, V6("::"), 0, IFACE) == 0);
	CHECK(output_contains("ip -4 route show table 1000", "10.88.0.0/16 dev " IFACE));
	CHECK(output_contains("ip -4 route show table 1000", "default dev " IFACE));
	CHECK(output_contains("ip -6 route show table 1000", "fd88::/64 dev " IFACE));
	CHECK(output_contains("ip -6 route show table 1000", "default dev " IFACE));
	CHECK(!output_contains("ip -4 route show table main", "10.88.0.0"));
	CHECK(nl_route_add(TABLE, AF_INET, V4("10.88.0.0"), 16, IFACE) == -EEXIST);
	CHECK(nl_route_del(TABLE, AF_INET, V4("10.88.0.0"), 16, IFACE) == 0);
	CHECK(!output_contains("ip -4 route show table 1000", "10.88.0.0"));
	CHECK(nl_route_del(TABLE, AF_INET, V4("10.88.0.0"), 16, IFACE) == -ESRCH);
	CHECK(nl_route_add(TABLE, AF_INET, V4("10.89.0.0"), 16, IFACE) == 0);
	CHECK(nl_route_add(TABLE + 1, AF_INET, V4("10.90.0.0"), 16, IFACE) == 0);
	CHECK(nl_route_flush_table(TABLE, AF_INET) == 0);
	CHECK(!output_contains("ip -4 route show table 1000", "dev"));
	CHECK(output_contains("ip -6 route show table 1000", "fd88::/64"));
	CHECK(output_contains("ip -4 route show table 1001", "10.90.0.0/16"));
	CHECK(nl_route_flush_table(TABLE, AF_UNSPEC) == 0);
	CHECK(!output_contains("ip -6 route show table 1000", "dev"));
	CHECK(nl_route_flush_table(TABLE + 1, AF_INET) == 0);
	CHECK(!output_contains("ip -4 route show table 1001", "dev"));
	CHECK(output_contains("ip -4 route show table main", "10.77.0.0/24 dev " IFACE));
}

TEST(fwmark_rules)
{
	struct nl_rule r4 = { .family = AF_INET, .priority = 1234, .fwmark = 0x1000, .fwmask = 0xff00, .table = TABLE };
	struct nl_rule r6 = { .family = AF_INET6, .priority = 1235, .fwmark = 0x2000, .table = TABLE };
	struct nl_rule in = { .family = AF_INET, .priority = 1233, .fwmark = 0x1000, .fwmask = 0xff00,
			      .table = 254, .iifname = IFACE };
	CHECK(nl_rule_add(&r4) == 0);
	CHECK(nl_rule_add(&r6) == 0);
	CHECK(nl_rule_add(&in) == 0);
	CHECK(output_contains("ip -4 rule show", "1234:\tfrom all fwmark 0x1000/0xff00 lookup 1000"));
	CHECK(output_contains("ip -6 rule show", "1235:\tfrom all fwmark 0x2000 lookup 1000"));
	CHECK(output_contains("ip -4 rule show", "1233:\tfrom all fwmark 0x1000/0xff00 iif " IFACE " lookup main"));
	CHECK(nl_rule_add(&r4) == -EEXIST);
	CHECK(nl_rule_del(&r4) == 0);
	CHECK(nl_rule_del(&r6) == 0);
	CHECK(nl_rule_del(&in) == 0);
	CHECK(!output_contains("ip -4 rule show", "lookup 1000"));
	CHECK(!output_contains("ip -6 rule show", "lookup 1000"));
	CHECK(!output_contains("ip -4 rule show", "iif " IFACE));
	CHECK(nl_rule_del(&r4) == -ENOENT);
	CHECK(nl_rule_add(&(struct nl_rule){ .family = AF_UNIX, .priority = 1, .fwmark = 1, .fwmask = 1, .table = TABLE }) == -EINVAL);
}

/* An IPv4/UDP datagram src:sport -> dst:dport carrying payload, UDP checksum left out. */
static size_t build_udp4(uint8_t *buf, const char *src, const char *dst, uint16_t sport, uint16_t dport,
			 const char *payload)
{
	size_t plen = strlen(payload), total = sizeof(struct iphdr) + sizeof(struct udphdr) + plen;
	struct iphdr *ip = (struct iphdr *)buf;
	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons((uint16_t)total);
	memcpy(&ip->saddr, V4(src), 4);
	memcpy(&ip->daddr, V4(dst), 4);
	uint32_t sum = 0;
	for (int i = 0; i < 10; i++)
		sum += (uint32_t)(buf[2 * i] << 8 | buf[2 * i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip->check = htons((uint16_t)~sum);
	struct udphdr *udp = (struct udphdr *)(buf + sizeof(*ip));
	udp->source = htons(sport);
	udp->dest = htons(dport);
	udp->len = htons((uint16_t)(sizeof(*udp) + plen));
	udp->check = 0;
	memcpy(buf + sizeof(*ip) + sizeof(*udp), payload, plen);
	return total;
}

TEST(tun_carries_packets_both_ways)
{
	/* Kernel -> TUN: a datagram routed out of the TUN's subnet is read as an IP packet. */
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in local = { .sin_family = AF_INET, .sin_port = htons(4000) };
	memcpy(&local.sin_addr, V4("10.77.0.1"), 4);
	CHECK(bind(s, (struct sockaddr *)&local, sizeof(local)) == 0);
	struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(5000) };
	memcpy(&peer.sin_addr, V4("10.77.0.2"), 4);
	CHECK(sendto(s, "outbound", 8, 0, (struct sockaddr *)&peer, sizeof(peer)) == 8);
	static uint8_t bufs[8][2048];
	struct tun_packet pkts[8];
	for (int i = 0; i < 8; i++)
		pkts[i] = (struct tun_packet){ .data = bufs[i], .capacity = sizeof(bufs[i]) };
	bool seen = false;
	for (int tries = 0; tries < 100 && !seen; tries++) {
		int n = tun_read_batch(tun_fd, pkts, 8);
		CHECK(n >= 0);
		for (int i = 0; i < n; i++) {
			const struct iphdr *ip = (const struct iphdr *)pkts[i].data;
			if (pkts[i].len == 20 + 8 + 8 && ip->version == 4 && ip->protocol == IPPROTO_UDP &&
			    !memcmp(&ip->daddr, &peer.sin_addr, 4) && !memcmp(pkts[i].data + 28, "outbound", 8))
				seen = true;
		}
		if (!seen)
			usleep(10000);
	}
	CHECK(seen);
	CHECK(tun_read_batch(tun_fd, pkts, 8) >= 0);

	/* TUN -> kernel: two datagrams written in one batch reach the bound socket. */
	pkts[0].len = build_udp4(pkts[0].data, "10.77.0.2", "10.77.0.1", 5000, 4000, "inbound-1");
	pkts[1].len = build_udp4(pkts[1].data, "10.77.0.2", "10.77.0.1", 5000, 4000, "inbound-2");
	CHECK(tun_write_batch(tun_fd, pkts, 2) == 2);
	char got[32] = "";
	struct timeval tv = { .tv_sec = 2 };
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	CHECK(recv(s, got, sizeof(got), 0) == 9 && !memcmp(got, "inbound-1", 9));
	CHECK(recv(s, got, sizeof(got), 0) == 9 && !memcmp(got, "inbound-2", 9));
	close(s);

	/* The kernel refuses a packet that is not IP at all. */
	memset(pkts[0].data, 0, 20);
	pkts[0].len = 20;
	CHECK(tun_write_batch(tun_fd, pkts, 1) < 0);
}

TEST(tun_name_chosen_by_kernel_and_gone_on_close)
{
	char name[IFNAMSIZ] = "";
	int fd = tun_open(NULL, name);
	CHECK(fd >= 0);
	CHECK(strncmp(name, "tun", 3) == 0);
	CHECK(nl_link_index(name) > 0);
	struct tun_packet pkt = { .data = (uint8_t[64]){ 0 }, .capacity = 64 };
	CHECK(tun_read_batch(fd, &pkt, 1) == 0); /* down, so nothing queued: no blocking either */
	close(fd);
	CHECK(nl_link_index(name) == -ENODEV);
	CHECK(tun_open("a-name-longer-than-ifnamsiz", NULL) == -ENAMETOOLONG);
}

/* The device's default route wins while the device lives; the blackhole outlives it. */
TEST(link_delete_leaves_the_blackhole)
{
	CHECK(nl_route_add(TABLE, AF_INET, V4("0.0.0.0"), 0, IFACE) == 0);
	CHECK(nl_route_add_blackhole(TABLE, AF_INET, UINT32_MAX) == 0);
	CHECK(nl_route_add_blackhole(TABLE, AF_INET, UINT32_MAX) == -EEXIST);
	CHECK(output_contains("ip -4 route show table 1000", "default dev " IFACE " scope link"));
	CHECK(output_contains("ip -4 route show table 1000", "blackhole default metric 4294967295"));
	CHECK(nl_addr_del(IFACE, AF_INET, V4("10.77.0.1"), 24) == 0);
	CHECK(!output_contains("ip -4 route show table main", "10.77.0.0/24"));
	CHECK(nl_link_delete(IFACE) == 0);
	CHECK(nl_link_index(IFACE) == -ENODEV);
	close(tun_fd);
	CHECK(!output_contains("ip -4 route show table 1000", "dev"));
	CHECK(output_contains("ip -4 route show table 1000", "blackhole default"));
	CHECK(nl_route_flush_table(TABLE, AF_INET) == 0);
	CHECK(!output_contains("ip -4 route show table 1000", "blackhole"));
}

int main(void)
{
	TEST_BEGIN("netlink");
	/* Plain frames here; test_offload covers the TUN with a virtio-net header. */
	setenv("TNGWG_OFFLOAD", "0", 1);
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
		printf("FAIL netlink.setup: needs root to create a private network namespace (%s)\n",
		       strerror(errno));
		return 1;
	}
	RUN(missing_link_is_enodev);
	RUN(tun_create_set_mtu_and_up);
	RUN(addresses_v4_and_v6);
	RUN(routes_in_a_high_table);
	RUN(fwmark_rules);
	RUN(tun_carries_packets_both_ways);
	RUN(tun_name_chosen_by_kernel_and_gone_on_close);
	RUN(link_delete_leaves_the_blackhole);
	TEST_END();
}
