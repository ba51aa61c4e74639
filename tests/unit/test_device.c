/*
 * Two devices in one process, each on its own TUN, talking over loopback UDP in a private network
 * namespace: a packet injected into A comes out of B's TUN to a local socket; malformed, replayed
 * and misaddressed input is counted and dropped; cookies under load; roaming.
 */
#include "common/loop.h"
#include "overlay/crypto.h"
#include "overlay/device.h"
#include "overlay/peer.h"
#include "tests/unit/test.h"
#include "tun/netlink.h"
#include "tun/tun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static struct loop *loop;
static struct device *dev_a, *dev_b;
static struct peer *a_peer_b, *b_peer_a; /* A's view of B, B's view of A */
static int sink = -1;                    /* UDP socket on 10.0.0.2:5555 behind B's TUN */
static int handshakes_a, unrouted_a;
static struct peer *removed_a; /* the last peer A reported removed */

#define IP(s) inet_addr(s)

static void pump_until(bool (*cond)(void), int max_iterations)
{
	for (int i = 0; i < max_iterations && !cond(); i++)
		loop_run_once(loop, 10);
}

static void pump(int iterations)
{
	for (int i = 0; i < iterations; i++)
		loop_run_once(loop, 2);
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* IPv4/UDP from src:4444 to dst:5555 (UDP checksum 0: none). */
static size_t udp_packet(uint8_t *p, const char *src, const char *dst, const char *payload)
{
	size_t plen = strlen(payload), len = 28 + plen;
	memset(p, 0, 28);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = 17;
	in_addr_t s = IP(src), d = IP(dst);
	memcpy(p + 12, &s, 4);
	memcpy(p + 16, &d, 4);
	uint16_t c = ip_checksum(p, 20);
	p[10] = (uint8_t)(c >> 8);
	p[11] = (uint8_t)c;
	p[20] = 4444 >> 8;
	p[21] = 4444 & 0xff;
	p[22] = 5555 >> 8;
	p[23] = 5555 & 0xff;
	p[24] = (uint8_t)((8 + plen) >> 8);
	p[25] = (uint8_t)(8 + plen);
	memcpy(p + 28, payload, plen);
	return len;
}

static char received[256];
static bool sink_received(void)
{
	ssize_t n = recv(sink, received, sizeof(received) - 1, MSG_DONTWAIT);
	if (n < 0)
		return false;
	received[n] = 0;
	return true;
}

static void on_event(void *ctx, struct peer *peer, enum peer_event ev)
{
	if (ev == PEER_EVENT_HANDSHAKE_COMPLETE)
		handshakes_a++;
	if (ev == PEER_EVENT_REMOVED)
		removed_a = peer;
}

static void on_unrouted(void *ctx, const uint8_t *packet, size_t len) { unrouted_a++; }

static union endpoint_addr loopback(uint16_t port)
{
	union endpoint_addr ep = { .in4 = { .sin_family = AF_INET, .sin_port = htons(port) } };
	ep.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return ep;
}

TEST(packet_from_a_comes_out_of_b)
{
	uint8_t pkt[128];
	size_t len = udp_packet(pkt, "10.9.0.1", "10.0.0.2", "hello through tng-wg");
	device_send_packet(dev_a, pkt, len);
	pump_until(sink_received, 500);
	CHECK_STR(received, "hello through tng-wg");
	CHECK(handshakes_a == 1);
	struct peer_stats sa, sb;
	peer_get_stats(a_peer_b, &sa);
	peer_get_stats(b_peer_a, &sb);
	CHECK(sa.last_handshake_sec > 0 && sb.last_handshake_sec > 0);
	/* A sent the 148-byte initiation and one 48-byte packet padded to 48 + 32; B got both. */
	CHECK(sa.tx_bytes == 148 + 80);
	CHECK(sb.rx_bytes == 148 + 80);
	CHECK(sa.rx_bytes == 92);
	/* B learnt A's endpoint from the authenticated initiation. */
	union endpoint_addr ep;
	CHECK(peer_get_endpoint(b_peer_a, &ep) && ep.in4.sin_port == htons(device_listen_port(dev_a)));
}

static struct device_counters before;
static int udp_to_b = -1;

static void send_raw(const void *buf, size_t len)
{
	union endpoint_addr to = loopback(device_listen_port(dev_b));
	CHECK(sendto(udp_to_b, buf, len, 0, &to.sa, sizeof(to.in4)) == (ssize_t)len);
}

static struct device_counters delta(void)
{
	struct device_counters now, d;
	device_get_counters(dev_b, &now);
	uint64_t *n = (uint64_t *)&now, *b = (uint64_t *)&before, *o = (uint64_t *)&d;
	for (size_t i = 0; i < sizeof(d) / sizeof(uint64_t); i++)
		o[i] = n[i] - b[i];
	return d;
}

TEST(malformed_input_is_counted_and_dropped)
{
	uint8_t buf[256];
	device_get_counters(dev_b, &before);
	send_raw("\x01\x00\x00", 3); /* shorter than a type */
	memset(buf, 0, sizeof(buf));
	buf[0] = 9;
	send_raw(buf, 40); /* unknown type */
	buf[0] = 4;
	buf[1] = 1;
	send_raw(buf, 40); /* reserved bytes set: no known type */
	buf[1] = 0;
	buf[0] = 1;
	send_raw(buf, 100); /* initiation of the wrong length */
	send_raw(buf, 149);
	buf[0] = 2;
	send_raw(buf, 91); /* response of the wrong length */
	buf[0] = 3;
	send_raw(buf, 65); /* cookie reply of the wrong length */
	buf[0] = 4;
	send_raw(buf, 31); /* transport shorter than header + tag */
	randombytes_buf(buf + 4, 200);
	buf[0] = 1;
	send_raw(buf, 148); /* initiation with a bad mac1 */
	buf[0] = 2;
	send_raw(buf, 92); /* response with a bad mac1 */
	buf[0] = 3;
	send_raw(buf, 64); /* cookie reply for no index of ours */
	buf[0] = 4;
	send_raw(buf, 64); /* transport for no index of ours */
	/* Transport under B's live keypair, but forged. */
	uint32_t index = htole32(b_peer_a->current_keypair->noise.local_index);
	memcpy(buf + 4, &index, 4);
	send_raw(buf, 64);
	pump(20);
	struct device_counters d = delta();
	CHECK(d.rx_invalid_length == 6);
	CHECK(d.rx_unknown_type == 2);
	CHECK(d.rx_bad_mac == 2);
	CHECK(d.rx_unknown_index == 2);
	CHECK(d.rx_decrypt_failed == 1);
	CHECK(d.rx_replayed == 0 && d.rx_bad_inner_source == 0);
	/* Still up: the next packet goes through. */
	uint8_t pkt[128];
	device_send_packet(dev_a, pkt, udp_packet(pkt, "10.9.0.1", "10.0.0.2", "still up"));
	pump_until(sink_received, 500);
	CHECK_STR(received, "still up");
}

static int spy = -1;
static uint8_t captured[256];
static ssize_t captured_len;
static bool spy_received(void)
{
	captured_len = recv(spy, captured, sizeof(captured), MSG_DONTWAIT);
	return captured_len > 0;
}

/* Point A's endpoint for B at a fresh spy socket; real gets the endpoint it had. */
static void redirect_a_to_spy(union endpoint_addr *real)
{
	CHECK(peer_get_endpoint(a_peer_b, real));
	spy = socket(AF_INET, SOCK_DGRAM, 0);
	union endpoint_addr spy_ep = loopback(0);
	socklen_t alen = sizeof(spy_ep.in4);
	CHECK(bind(spy, &spy_ep.sa, alen) == 0 && getsockname(spy, &spy_ep.sa, &alen) == 0);
	peer_set_endpoint(a_peer_b, &spy_ep);
}

TEST(replayed_transport_is_dropped)
{
	/* Point A at a spy socket to capture one real transport message, then deliver it twice. */
	union endpoint_addr real;
	redirect_a_to_spy(&real);
	uint8_t pkt[128];
	device_send_packet(dev_a, pkt, udp_packet(pkt, "10.9.0.1", "10.0.0.2", "once only"));
	pump_until(spy_received, 200);
	CHECK(captured_len == 16 + 48 + 16);
	peer_set_endpoint(a_peer_b, &real);
	device_get_counters(dev_b, &before);
	send_raw(captured, (size_t)captured_len);
	pump_until(sink_received, 200);
	CHECK_STR(received, "once only");
	send_raw(captured, (size_t)captured_len);
	pump(20);
	CHECK(!sink_received());
	CHECK(delta().rx_replayed == 1);
	close(spy);
}

TEST(inner_source_must_belong_to_the_peer)
{
	device_get_counters(dev_b, &before);
	uint8_t pkt[128];
	/* 10.8.0.1 is not in A's allowed IPs on B. */
	device_send_packet(dev_a, pkt, udp_packet(pkt, "10.8.0.1", "10.0.0.2", "spoofed"));
	pump(30);
	CHECK(!sink_received());
	CHECK(delta().rx_bad_inner_source == 1);
}

TEST(unrouted_packets_reach_the_owner)
{
	struct device_counters c0, c1;
	device_get_counters(dev_a, &c0);
	uint8_t pkt[128];
	device_send_packet(dev_a, pkt, udp_packet(pkt, "10.9.0.1", "10.77.0.1", "nowhere"));
	device_get_counters(dev_a, &c1);
	CHECK(c1.tx_no_route == c0.tx_no_route + 1);
	CHECK(unrouted_a == 1);
}

/* The device's own encrypted UDP routed back into its TUN (an endpoint inside the tunnel) is
 * dropped and counted, as the kernel refuses such sends; the same source port from a host
 * behind the tunnel is forwarded. */
TEST(own_udp_routed_into_the_tun_is_dropped)
{
	struct device_counters c0, c1;
	struct peer_stats s0, s1;
	device_get_counters(dev_a, &c0);
	peer_get_stats(a_peer_b, &s0);
	uint8_t pkt[128];
	uint16_t port = device_listen_port(dev_a);
	size_t len = udp_packet(pkt, "10.0.0.2", "10.0.0.2", "looped"); /* 10.0.0.2 is local here */
	pkt[20] = (uint8_t)(port >> 8);
	pkt[21] = (uint8_t)port;
	device_send_packet(dev_a, pkt, len);
	device_get_counters(dev_a, &c1);
	peer_get_stats(a_peer_b, &s1);
	CHECK(c1.tx_routing_loop == c0.tx_routing_loop + 1);
	CHECK(s1.tx_bytes == s0.tx_bytes);
	len = udp_packet(pkt, "10.9.0.1", "10.0.0.2", "forwarded");
	pkt[20] = (uint8_t)(port >> 8);
	pkt[21] = (uint8_t)port;
	device_send_packet(dev_a, pkt, len);
	pump_until(sink_received, 500);
	CHECK_STR(received, "forwarded");
	device_get_counters(dev_a, &c1);
	CHECK(c1.tx_routing_loop == c0.tx_routing_loop + 1);
}

static int handshakes_target;
static bool handshake_reached(void) { return handshakes_a >= handshakes_target; }

TEST(cookie_reply_under_load_then_handshake)
{
	/* Limit 0: every handshake message finds B under load; the first initiation (no cookie yet)
	 * gets a cookie reply, the retransmission carries mac2 and completes. */
	device_set_handshake_load_limit(dev_b, 0);
	device_get_counters(dev_b, &before);
	handshakes_target = handshakes_a + 1;
	device_rekey_all_peers(dev_a);
	pump_until(handshake_reached, 2000);
	CHECK(handshakes_a == handshakes_target);
	CHECK(delta().rx_cookie_replies_sent == 1);
	device_set_handshake_load_limit(dev_b, DEVICE_DEFAULT_HANDSHAKE_LOAD_LIMIT);
	uint8_t pkt[128];
	device_send_packet(dev_a, pkt, udp_packet(pkt, "10.9.0.1", "10.0.0.2", "after cookie"));
	pump_until(sink_received, 500);
	CHECK_STR(received, "after cookie");
}

TEST(endpoint_roams_to_the_new_source)
{
	/* A moves to a new port; B follows the first authenticated packet from there. */
	uint16_t old_port = device_listen_port(dev_a);
	CHECK(device_set_listen_port(dev_a, 0) == 0);
	CHECK(device_listen_port(dev_a) != old_port);
	uint8_t pkt[128];
	device_send_packet(dev_a, pkt, udp_packet(pkt, "10.9.0.1", "10.0.0.2", "roamed"));
	pump_until(sink_received, 500);
	CHECK_STR(received, "roamed");
	union endpoint_addr ep;
	CHECK(peer_get_endpoint(b_peer_a, &ep) && ep.in4.sin_port == htons(device_listen_port(dev_a)));
}

static int sink_count, sink_first;
static bool sink_drained(void)
{
	char buf[64];
	ssize_t n;
	while ((n = recv(sink, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = 0;
		if (!sink_count++)
			sink_first = atoi(buf);
	}
	return sink_count >= MAX_STAGED_PACKETS;
}

TEST(packets_staged_before_the_handshake_keep_the_newest_128)
{
	/* A fresh peer entry for B on A: no session, so packets wait for the handshake. */
	uint8_t pub_b[WG_KEY_LEN];
	union endpoint_addr ep_b;
	peer_public_key(a_peer_b, pub_b);
	peer_get_endpoint(a_peer_b, &ep_b);
	device_remove_peer(dev_a, a_peer_b);
	a_peer_b = device_add_peer(dev_a, pub_b);
	uint8_t psk[WG_KEY_LEN];
	peer_get_preshared_key(b_peer_a, psk);
	peer_set_preshared_key(a_peer_b, psk);
	peer_set_endpoint(a_peer_b, &ep_b);
	in_addr_t b_addr = IP("10.0.0.2");
	peer_add_allowed_ip(a_peer_b, AF_INET, &b_addr, 32);
	/* 130 packets before the loop runs: the two oldest give way. */
	for (int i = 0; i < MAX_STAGED_PACKETS + 2; i++) {
		char payload[16];
		snprintf(payload, sizeof(payload), "%d", i);
		uint8_t pkt[128];
		device_send_packet(dev_a, pkt, udp_packet(pkt, "10.9.0.1", "10.0.0.2", payload));
	}
	CHECK(a_peer_b->staged_count == MAX_STAGED_PACKETS);
	pump_until(sink_drained, 500);
	pump(20);
	sink_drained();
	CHECK(sink_count == MAX_STAGED_PACKETS);
	CHECK(sink_first == 2);
	CHECK(a_peer_b->staged_count == 0);
}

static uint64_t rx_target;
static bool a_received_keepalive(void)
{
	struct peer_stats st;
	peer_get_stats(a_peer_b, &st);
	return st.rx_bytes >= rx_target;
}

TEST(data_received_is_answered_by_a_keepalive)
{
	/* B receives data and has nothing to send: KEEPALIVE_TIMEOUT later it sends an empty
	 * transport message (32 bytes) so A knows the session is alive. */
	struct peer_stats st;
	peer_get_stats(a_peer_b, &st);
	uint8_t pkt[128];
	device_send_packet(dev_a, pkt, udp_packet(pkt, "10.9.0.1", "10.0.0.2", "answer me"));
	pump_until(sink_received, 500);
	CHECK_STR(received, "answer me");
	rx_target = st.rx_bytes + MSG_DATA_MIN_LEN;
	pump_until(a_received_keepalive, 1500);
	struct peer_stats after;
	peer_get_stats(a_peer_b, &after);
	CHECK(after.rx_bytes == st.rx_bytes + MSG_DATA_MIN_LEN);
}

/* A new peer of A whose endpoint is a fresh spy socket that never answers. */
static struct peer *silent_peer(void)
{
	uint8_t key[WG_KEY_LEN], pub[WG_KEY_LEN];
	wg_generate_private_key(key);
	wg_public_key(pub, key);
	struct peer *silent = device_add_peer(dev_a, pub);
	spy = socket(AF_INET, SOCK_DGRAM, 0);
	union endpoint_addr ep = loopback(0);
	socklen_t alen = sizeof(ep.in4);
	CHECK(bind(spy, &ep.sa, alen) == 0 && getsockname(spy, &ep.sa, &alen) == 0);
	peer_set_endpoint(silent, &ep);
	return silent;
}

static int initiations_seen;
static uint8_t initiations[2][MSG_INITIATION_LEN];
static bool two_initiations(void)
{
	uint8_t buf[256];
	ssize_t n;
	while (initiations_seen < 2 && (n = recv(spy, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (n == MSG_INITIATION_LEN && buf[0] == MSG_INITIATION)
			memcpy(initiations[initiations_seen++], buf, MSG_INITIATION_LEN);
	}
	return initiations_seen == 2;
}

TEST(unanswered_initiation_is_retransmitted_fresh)
{
	/* A peer whose endpoint never answers: enabling persistent keepalive starts a handshake at
	 * once, and REKEY_TIMEOUT later a new initiation goes out with a new index and ephemeral. */
	struct peer *silent = silent_peer();
	peer_set_persistent_keepalive(silent, 25);
	pump_until(two_initiations, 1000);
	CHECK(initiations_seen == 2);
	const struct msg_initiation *first = (const void *)initiations[0], *second = (const void *)initiations[1];
	CHECK(first->sender_index != second->sender_index);
	CHECK(memcmp(first->unencrypted_ephemeral, second->unencrypted_ephemeral, WG_KEY_LEN) != 0);
	device_remove_peer(dev_a, silent);
	close(spy);
}

static int spy_keepalives, spy_initiations;
static bool spy_saw_initiation(void)
{
	uint8_t buf[256];
	ssize_t n;
	while ((n = recv(spy, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (n == MSG_DATA_MIN_LEN && buf[0] == MSG_DATA)
			spy_keepalives++;
		else if (n == MSG_INITIATION_LEN && buf[0] == MSG_INITIATION)
			spy_initiations++;
	}
	return spy_initiations > 0;
}

TEST(persistent_keepalives_then_new_handshake_when_unanswered)
{
	/* B goes silent (A's endpoint for it is a spy socket). A keeps the path alive with a
	 * keepalive every second, and since its data got no answer within KEEPALIVE_TIMEOUT +
	 * REKEY_TIMEOUT, it starts a new handshake. */
	union endpoint_addr real;
	redirect_a_to_spy(&real);
	union endpoint_addr nowhere = loopback(1), a_ep = loopback(device_listen_port(dev_a));
	peer_set_endpoint(b_peer_a, &nowhere); /* B's own keepalives must not reach A either */
	uint8_t pkt[128];
	device_send_packet(dev_a, pkt, udp_packet(pkt, "10.9.0.1", "10.0.0.2", "unanswered"));
	peer_set_persistent_keepalive(a_peer_b, 1);
	pump_until(spy_saw_initiation, 2500);
	CHECK(spy_initiations == 1);
	CHECK(spy_keepalives >= 5);
	peer_set_persistent_keepalive(a_peer_b, 0);
	peer_set_endpoint(a_peer_b, &real);
	peer_set_endpoint(b_peer_a, &a_ep);
	close(spy);
}

/* The owner's unrouted handler may remove a peer while messages to it from the same TUN batch
 * wait to be sent. Runs last: it removes A's peer. */
static void remove_b_when_unrouted(void *ctx, const uint8_t *packet, size_t len)
{
	in_addr_t nowhere = IP("10.77.0.1");
	/* Only the test's packet: bringing the TUN up also sends IPv6 neighbour discovery. */
	if (len < 20 || memcmp(packet + 16, &nowhere, 4))
		return;
	unrouted_a++;
	if (a_peer_b) {
		device_remove_peer(dev_a, a_peer_b);
		a_peer_b = NULL;
	}
}

TEST(peer_removed_by_the_unrouted_handler_mid_batch)
{
	/* Through A's TUN: 10.66.0.1 belongs to B, 10.77.0.1 to nobody. */
	in_addr_t a_addr = IP("10.9.0.1"), routed = IP("10.66.0.0"), unrouted = IP("10.77.0.0");
	in_addr_t routed_host = IP("10.66.0.1");
	CHECK(peer_add_allowed_ip(a_peer_b, AF_INET, &routed_host, 32) == 0);
	const char *name_a = device_ifname(dev_a);
	CHECK(nl_link_set_up(name_a, true) == 0 && nl_addr_add(name_a, AF_INET, &a_addr, 32) == 0 &&
	      nl_route_add(254, AF_INET, &routed, 16, name_a) == 0 &&
	      nl_route_add(254, AF_INET, &unrouted, 16, name_a) == 0);
	device_set_unrouted_handler(dev_a, remove_b_when_unrouted, NULL);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = routed_host };
	CHECK(sendto(s, "to b", 4, 0, (struct sockaddr *)&to, sizeof(to)) == 4);
	to.sin_addr.s_addr = IP("10.77.0.1");
	CHECK(sendto(s, "nowhere", 7, 0, (struct sockaddr *)&to, sizeof(to)) == 7);
	close(s);
	int unrouted_before = unrouted_a;
	for (int i = 0; i < 100 && unrouted_a == unrouted_before; i++)
		loop_run_once(loop, 10);
	CHECK(unrouted_a == unrouted_before + 1 && !a_peer_b);
	struct device_counters c;
	device_get_counters(dev_a, &c);
	CHECK(c.tx_no_route > 0);
}

static int removed_by_b;
static void remove_a_when_complete(void *ctx, struct peer *peer, enum peer_event ev)
{
	if (ev != PEER_EVENT_HANDSHAKE_COMPLETE)
		return;
	device_remove_peer(dev_b, peer);
	b_peer_a = NULL;
	removed_by_b++;
}

static bool b_removed_its_peer(void) { return removed_by_b > 0; }

/* B's owner removes A on the handshake's completion, which the first message of a batch of 60
 * confirms: the other 59, opened together with it, must find their keypair gone (no use after
 * free under ASan), be counted as for an unknown index and never reach the TUN. */
TEST(peer_removed_by_the_event_handler_mid_receive_batch)
{
	uint8_t pub_a[WG_KEY_LEN], pub_b[WG_KEY_LEN];
	CHECK(device_get_public_key(dev_a, pub_a) && device_get_public_key(dev_b, pub_b));
	if (b_peer_a)
		device_remove_peer(dev_b, b_peer_a);
	a_peer_b = device_add_peer(dev_a, pub_b);
	b_peer_a = device_add_peer(dev_b, pub_a);
	union endpoint_addr ep_b = loopback(device_listen_port(dev_b));
	peer_set_endpoint(a_peer_b, &ep_b);
	in_addr_t b_addr = IP("10.0.0.2"), a_net = IP("10.9.0.0");
	CHECK(peer_add_allowed_ip(a_peer_b, AF_INET, &b_addr, 32) == 0);
	CHECK(peer_add_allowed_ip(b_peer_a, AF_INET, &a_net, 24) == 0);
	device_set_peer_event_handler(dev_b, remove_a_when_complete, NULL);
	while (sink_received())
		;
	device_get_counters(dev_b, &before);
	uint8_t pkt[128];
	/* 10.9.0.1 is A's own address since the test before: B's kernel would drop it as martian. */
	size_t len = udp_packet(pkt, "10.9.0.7", "10.0.0.2", "staged until the handshake");
	for (int i = 0; i < 60; i++)
		device_send_packet(dev_a, pkt, len); /* staged, then sent in one batch after the response */
	pump_until(b_removed_its_peer, 500);
	pump(20);
	struct device_counters d = delta();
	CHECK(removed_by_b == 1 && !device_next_peer(dev_b, NULL));
	CHECK(d.rx_unknown_index >= 59);
	int delivered = 0;
	while (sink_received())
		delivered += !strcmp(received, "staged until the handshake");
	CHECK(delivered == 1); /* only the message that confirmed the session */
	device_set_peer_event_handler(dev_b, NULL, NULL);
}

/* A peer of A whose endpoint is a fresh spy socket, with one initiation already sent to it. */
static struct peer *silent_peer_initiated(void)
{
	struct peer *silent = silent_peer();
	spy_initiations = 0;
	peer_initiate_handshake(silent);
	spy_saw_initiation();
	CHECK(spy_initiations == 1);
	return silent;
}

TEST(removal_is_reported_to_the_owner)
{
	struct peer *silent = silent_peer_initiated();
	removed_a = NULL;
	device_remove_peer(dev_a, silent);
	CHECK(removed_a == silent);
	close(spy);
}

/* Runs last: A's new identity ends its sessions with B. */
TEST(new_private_key_allows_an_initiation_at_once)
{
	struct peer *silent = silent_peer_initiated();
	/* within REKEY_TIMEOUT of the first, a second initiation waits... */
	peer_initiate_handshake(silent);
	spy_saw_initiation();
	CHECK(spy_initiations == 1);
	/* ...but not after the private key changed: the old handshake is void */
	uint8_t key[WG_KEY_LEN];
	wg_generate_private_key(key);
	CHECK(device_set_private_key(dev_a, key) == 0);
	sodium_memzero(key, sizeof(key));
	peer_initiate_handshake(silent);
	spy_saw_initiation();
	CHECK(spy_initiations == 2);
	device_remove_peer(dev_a, silent);
	close(spy);
}

static int setup(void)
{
	if (nl_link_set_up("lo", true) < 0)
		return -1;
	char name_a[IFNAMSIZ], name_b[IFNAMSIZ];
	int tun_a = tun_open("tngdevA", name_a), tun_b = tun_open("tngdevB", name_b);
	if (tun_a < 0 || tun_b < 0)
		return -1;
	loop = loop_new();
	dev_a = device_new(loop, tun_a, name_a);
	dev_b = device_new(loop, tun_b, name_b);
	if (!dev_a || !dev_b)
		return -1;
	uint8_t key_a[WG_KEY_LEN], key_b[WG_KEY_LEN], pub_a[WG_KEY_LEN], pub_b[WG_KEY_LEN], psk[WG_KEY_LEN];
	wg_generate_private_key(key_a);
	wg_generate_private_key(key_b);
	wg_public_key(pub_a, key_a);
	wg_public_key(pub_b, key_b);
	randombytes_buf(psk, sizeof(psk));
	device_set_private_key(dev_a, key_a);
	device_set_private_key(dev_b, key_b);
	a_peer_b = device_add_peer(dev_a, pub_b);
	b_peer_a = device_add_peer(dev_b, pub_a);
	if (!a_peer_b || !b_peer_a)
		return -1;
	peer_set_preshared_key(a_peer_b, psk);
	peer_set_preshared_key(b_peer_a, psk);
	union endpoint_addr ep_b = loopback(device_listen_port(dev_b));
	peer_set_endpoint(a_peer_b, &ep_b); /* B learns A's endpoint by roaming */
	in_addr_t b_addr = IP("10.0.0.2"), a_net = IP("10.9.0.0");
	peer_add_allowed_ip(a_peer_b, AF_INET, &b_addr, 32);
	peer_add_allowed_ip(b_peer_a, AF_INET, &a_net, 24);
	device_set_peer_event_handler(dev_a, on_event, NULL);
	device_set_unrouted_handler(dev_a, on_unrouted, NULL);
	/* B's TUN delivers to a local socket; 10.9.0.0/24 routes back through it (reverse-path check). */
	if (nl_link_set_up(name_b, true) < 0 || nl_addr_add(name_b, AF_INET, &b_addr, 32) < 0 ||
	    nl_route_add(254, AF_INET, &a_net, 24, name_b) < 0)
		return -1;
	sink = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(5555), .sin_addr.s_addr = b_addr };
	if (sink < 0 || bind(sink, (struct sockaddr *)&s, sizeof(s)) < 0)
		return -1;
	udp_to_b = socket(AF_INET, SOCK_DGRAM, 0);
	return udp_to_b < 0 ? -1 : 0;
}

int main(void)
{
	TEST_BEGIN("device");
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
		printf("FAIL device.setup: needs root to create a private network namespace (%s)\n", strerror(errno));
		return 1;
	}
	if (setup() < 0) {
		printf("FAIL device.setup: TUNs, devices or addresses: %s\n", strerror(errno));
		return 1;
	}
	RUN(packet_from_a_comes_out_of_b);
	RUN(malformed_input_is_counted_and_dropped);
	RUN(replayed_transport_is_dropped);
	RUN(inner_source_must_belong_to_the_peer);
	RUN(unrouted_packets_reach_the_owner);
	RUN(own_udp_routed_into_the_tun_is_dropped);
	RUN(cookie_reply_under_load_then_handshake);
	RUN(endpoint_roams_to_the_new_source);
	RUN(unanswered_initiation_is_retransmitted_fresh);
	RUN(packets_staged_before_the_handshake_keep_the_newest_128);
	RUN(data_received_is_answered_by_a_keepalive);
	RUN(persistent_keepalives_then_new_handshake_when_unanswered);
	RUN(peer_removed_by_the_unrouted_handler_mid_batch);
	RUN(peer_removed_by_the_event_handler_mid_receive_batch);
	RUN(removal_is_reported_to_the_owner);
	RUN(new_private_key_allows_an_initiation_at_once);
	device_free(dev_a);
	device_free(dev_b);
	loop_free(loop);
	close(sink);
	close(udp_to_b);
	TEST_END();
}
