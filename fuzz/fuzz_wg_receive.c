/*
 * The WireGuard receive path (overlay/receive.c and what it calls: cookie.c, noise.c, replay.c,
 * peer.c, allowedips.c) as datagrams reach it: device A runs on a loop with a socketpair for its
 * TUN and its UDP port on loopback; the harness plays A's peer B with the Noise and cookie
 * functions, so that fuzzed messages get past MAC1 and into live sessions. Input: a flags byte
 * (bit 0: establish a session first; bit 1: A under load, so handshakes need a cookie; bit 2: a
 * pre-shared key), then records, each a kind byte and its fields:
 *   0 raw bytes from the input (MAC1 computed when a bit says so, MAC2 kept or not)
 *   1 an initiation from B, possibly altered at one byte, MACs recomputed or not; B takes A's
 *     response to it when a bit says so
 *   2 B's response to A's latest initiation (A is made to send one), possibly altered
 *   3 a cookie reply to A's latest handshake message, from another address
 *   4 a data message under B's session: fuzzed counter or the next one, fuzzed receiver index
 *     or B's, any plaintext (made a valid IPv4 packet from B's address when a bit says so)
 *   5 A's timers run; 6 A starts a handshake now (a "rekey")
 * Each record is sent from B's endpoint or another loopback address and A reads it through its
 * receive handler. Checks: nothing unauthenticated (raw bytes, cookie replies) moves B's endpoint,
 * completes a handshake or undoes A's pending initiation; a data message with a counter at or
 * past REJECT_AFTER_MESSAGES is never accepted; an accepted one is refused when replayed; what A
 * writes to its TUN is exactly the inner packet.
 */
#include "overlay/cookie.h"
#include "overlay/crypto.h"
#include "overlay/device.h"
#include "overlay/index.h"
#include "overlay/noise.h"
#include "overlay/peer.h"
#include "overlay/receive.h"
#include "fuzz/fuzz.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>

#define B_ADDR "10.0.0.2"

static struct loop *loop;
static struct device *dev;
static struct peer *peer_b;        /* A's view of B */
static int tun_peer = -1;          /* the other end of A's "TUN" */
/* Where records come from: B's endpoint, another IPv4 and an IPv6 loopback address. */
enum source { FROM_B, FROM_OTHER, FROM_OTHER6, SOURCES };
static int socks[SOURCES] = { -1, -1, -1 };
static union endpoint_addr addr_a, addr_a6, addrs[SOURCES];
static int handshakes_completed;

static const uint8_t priv_a[WG_KEY_LEN] = { 0x18, 1, 2, 3 }, priv_b[WG_KEY_LEN] = { 0x28, 4, 5, 6 };
static const uint8_t psk[WG_KEY_LEN] = { 0x55, 0x55 };
static uint8_t pub_a[WG_KEY_LEN], pub_b[WG_KEY_LEN];

/* B, played by the harness. */
static struct {
	struct noise_identity id;
	struct noise_handshake hs_fresh, hs; /* fresh: precomputed once, copied per input */
	struct cookie_maker cm;              /* MACs toward A, cookies from A */
	struct cookie_checker cc;            /* cookie replies to A */
	struct noise_keypair kp;
	bool has_kp;
	uint64_t next_counter;
	uint8_t from_a[MSG_INITIATION_LEN];  /* A's latest handshake message */
	size_t from_a_len;
} b;

static void on_peer_event(void *ctx, struct peer *peer, enum peer_event event)
{
	if (event == PEER_EVENT_HANDSHAKE_COMPLETE)
		handshakes_completed++;
}

static int udp_socket(int family, union endpoint_addr *bound)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(bound, 0, sizeof(*bound));
	bound->sa.sa_family = (sa_family_t)family;
	if (family == AF_INET)
		bound->in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else
		bound->in6.sin6_addr = in6addr_loopback;
	socklen_t len = sizeof(*bound);
	if (fd < 0 || bind(fd, &bound->sa, len) < 0 || getsockname(fd, &bound->sa, &len) < 0)
		fuzz_fail("cannot open a loopback socket");
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_deterministic_random();
	fuzz_quiet_logs();
	fuzz_private_network();
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0 ||
	    !(loop = loop_new()) || !(dev = device_new(loop, sp[0], "fuzzwg0")))
		fuzz_fail("cannot create the device");
	tun_peer = sp[1];
	device_set_private_key(dev, priv_a);
	device_set_peer_event_handler(dev, on_peer_event, NULL);
	device_get_public_key(dev, pub_a);
	wg_public_key(pub_b, priv_b);
	socks[FROM_B] = udp_socket(AF_INET, &addrs[FROM_B]);
	socks[FROM_OTHER] = udp_socket(AF_INET, &addrs[FROM_OTHER]);
	socks[FROM_OTHER6] = udp_socket(AF_INET6, &addrs[FROM_OTHER6]);
	addr_a.in4.sin_family = AF_INET;
	addr_a.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr_a.in4.sin_port = htons(device_listen_port(dev));
	addr_a6.in6.sin6_family = AF_INET6;
	addr_a6.in6.sin6_addr = in6addr_loopback;
	addr_a6.in6.sin6_port = addr_a.in4.sin_port;
	noise_identity_set(&b.id, priv_b);
	noise_handshake_init(&b.hs_fresh, &b.id, pub_a, NULL);
	cookie_checker_init(&b.cc, pub_b);
	return 0;
}

/* ---- what B receives from A ---- */

static void b_takes(const uint8_t *m, size_t len)
{
	uint32_t type;
	if (len < 4)
		return;
	memcpy(&type, m, 4);
	type = le32toh(type);
	if ((type == MSG_INITIATION && len == MSG_INITIATION_LEN) ||
	    (type == MSG_RESPONSE && len == MSG_RESPONSE_LEN)) {
		memcpy(b.from_a, m, len);
		b.from_a_len = len;
	} else if (type == MSG_COOKIE_REPLY && len == MSG_COOKIE_REPLY_LEN) {
		struct msg_cookie_reply reply;
		memcpy(&reply, m, sizeof(reply));
		cookie_consume_reply(&b.cm, &reply, loop_now_ns());
	}
}

/* Empty B's sockets and A's TUN; returns the length of the last TUN packet (-1 when none). */
static ssize_t drain(uint8_t *tun_packet, size_t cap)
{
	static uint8_t buf[65536];
	ssize_t n, tun_len = -1;
	for (int i = 0; i < SOURCES; i++)
		while ((n = recv(socks[i], buf, sizeof(buf), 0)) >= 0)
			b_takes(buf, (size_t)n);
	while ((n = recv(tun_peer, tun_packet ? tun_packet : buf, tun_packet ? cap : sizeof(buf), 0)) >= 0)
		tun_len = n;
	return tun_len;
}

static void deliver(uint8_t from, const void *msg, size_t len)
{
	const union endpoint_addr *to = from % SOURCES == FROM_OTHER6 ? &addr_a6 : &addr_a;
	if (sendto(socks[from % SOURCES], msg, len, 0, &to->sa,
		   to->sa.sa_family == AF_INET ? sizeof(to->in4) : sizeof(to->in6)) < 0 &&
	    errno != EMSGSIZE)
		fuzz_fail("cannot send to A");
	receive_from_udp(dev);
}

/* ---- the records ---- */

static bool endpoint_is(const union endpoint_addr *want)
{
	union endpoint_addr ep;
	if (!peer_get_endpoint(peer_b, &ep))
		return !want;
	/* the port sits at the same offset in both families */
	return want && ep.sa.sa_family == want->sa.sa_family && ep.in4.sin_port == want->in4.sin_port;
}

/* Unauthenticated input must leave B's endpoint, handshakes and A's pending initiation alone. */
static void send_unauthenticated(uint8_t from, const void *msg, size_t len)
{
	union endpoint_addr before;
	bool had = peer_get_endpoint(peer_b, &before);
	int completed = handshakes_completed;
	enum noise_handshake_state state = peer_b->handshake.state;
	uint32_t pending = peer_b->handshake.local_index;
	deliver(from, msg, len);
	if (!endpoint_is(had ? &before : NULL))
		fuzz_fail("an unauthenticated message moved the peer's endpoint");
	if (handshakes_completed != completed)
		fuzz_fail("an unauthenticated message completed a handshake");
	if (state == HANDSHAKE_CREATED_INITIATION &&
	    (peer_b->handshake.state != state || peer_b->handshake.local_index != pending))
		fuzz_fail("an unauthenticated message undid A's pending initiation");
}

static void add_macs(void *msg, size_t len, uint8_t how)
{
	uint8_t mac2[WG_MAC_LEN];
	memcpy(mac2, (uint8_t *)msg + len - WG_MAC_LEN, WG_MAC_LEN);
	cookie_add_macs(&b.cm, msg, len, loop_now_ns());
	if (how & 2)
		memcpy((uint8_t *)msg + len - WG_MAC_LEN, mac2, WG_MAC_LEN); /* the input's mac2 */
}

static void raw(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);
	size_t n;
	const uint8_t *p = fuzz_piece(in, &n);
	static uint8_t msg[65536];
	memcpy(msg, p, n);
	if ((how & 1) && (n == MSG_INITIATION_LEN || n == MSG_RESPONSE_LEN))
		add_macs(msg, n, how);
	send_unauthenticated(how >> 2, msg, n);
}

/* One byte of msg xor-ed as the input says (position, value; 0 = unaltered), then the MACs. */
static void alter(struct fuzz_input *in, void *msg, size_t len)
{
	uint8_t at = fuzz_u8(in), x = fuzz_u8(in), how = fuzz_u8(in);
	((uint8_t *)msg)[at % len] ^= x;
	if (!(how & 1))
		add_macs(msg, len, how);
}

static void b_session(uint64_t now)
{
	b.has_kp = noise_derive_keypair(&b.hs, &b.kp, now);
	b.next_counter = 0;
}

static void initiation(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);
	struct msg_initiation msg;
	b.hs = b.hs_fresh;
	noise_handshake_set_preshared_key(&b.hs, peer_b->handshake.preshared_key);
	if (!noise_create_initiation(&b.hs, &b.id, fuzz_u32(in), &msg))
		fuzz_fail("B cannot create an initiation");
	alter(in, &msg, sizeof(msg));
	b.from_a_len = 0;
	deliver(how >> 2, &msg, sizeof(msg));
	drain(NULL, 0);
	if ((how & 2) && b.from_a_len == MSG_RESPONSE_LEN) {
		struct msg_response resp;
		memcpy(&resp, b.from_a, sizeof(resp));
		if (noise_consume_response(&b.hs, &b.id, &resp))
			b_session(loop_now_ns());
	}
}

static void response(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);
	if (b.from_a_len != MSG_INITIATION_LEN) {
		device_rekey_all_peers(dev);
		drain(NULL, 0);
	}
	if (b.from_a_len != MSG_INITIATION_LEN)
		return;
	struct msg_initiation init;
	memcpy(&init, b.from_a, sizeof(init));
	struct noise_initiation_state st;
	b.hs = b.hs_fresh;
	noise_handshake_set_preshared_key(&b.hs, peer_b->handshake.preshared_key);
	uint64_t now = loop_now_ns();
	if (!noise_consume_initiation_begin(&b.id, &init, &st) ||
	    !noise_consume_initiation_finish(&b.hs, &b.id, &st, now))
		fuzz_fail("B cannot take A's initiation");
	struct msg_response msg;
	if (!noise_create_response(&b.hs, &b.id, fuzz_u32(in), &msg))
		fuzz_fail("B cannot create a response");
	alter(in, &msg, sizeof(msg));
	b.from_a_len = 0;
	deliver(how >> 2, &msg, sizeof(msg));
	b_session(now);
}

static void cookie_reply(struct fuzz_input *in)
{
	if (!b.from_a_len)
		return;
	uint32_t sender;
	memcpy(&sender, b.from_a + 4, 4);
	struct msg_cookie_reply reply;
	if (!cookie_create_reply(&b.cc, &reply, b.from_a, b.from_a_len, le32toh(sender), &addr_a.sa,
				 loop_now_ns()))
		fuzz_fail("B cannot create a cookie reply");
	uint8_t at = fuzz_u8(in), x = fuzz_u8(in);
	((uint8_t *)&reply)[at % sizeof(reply)] ^= x;
	send_unauthenticated(FROM_OTHER + fuzz_u8(in) % 2, &reply, sizeof(reply));
}

static void ipv4_from_b(uint8_t *p, size_t len)
{
	if (len < 20)
		return;
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	in_addr_t src = inet_addr(B_ADDR);
	memcpy(p + 12, &src, 4);
}

static void data(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);
	uint64_t counter = b.next_counter;
	if (how & 1) {
		counter = (uint64_t)fuzz_u32(in) << 32;
		counter |= fuzz_u32(in);
	}
	uint32_t index = how & 2 ? fuzz_u32(in) : b.kp.remote_index;
	size_t n;
	const uint8_t *p = fuzz_piece(in, &n);
	if (!b.has_kp || n > 2000)
		return;
	static uint8_t msg[MSG_DATA_MIN_LEN + 2000], plain[2000], out[65536];
	memcpy(plain, p, n);
	if (how & 4)
		ipv4_from_b(plain, n);
	struct msg_data_header h = { htole32(MSG_DATA), htole32(index), htole64(counter) };
	memcpy(msg, &h, sizeof(h));
	wg_aead_seal(msg + MSG_DATA_HEADER_LEN, plain, n, NULL, 0, counter, b.kp.send_key);
	size_t len = MSG_DATA_MIN_LEN + n;
	b.next_counter = counter + 1;

	uint64_t rx = peer_b->rx_bytes;
	deliver(how >> 4, msg, len);
	ssize_t tun_len = drain(out, sizeof(out));
	if (peer_b->rx_bytes == rx)
		return;
	if (counter >= REJECT_AFTER_MESSAGES)
		fuzz_fail("a data message past REJECT_AFTER_MESSAGES was accepted");
	if (tun_len >= 0 && (n < 20 || (size_t)tun_len > n || memcmp(out, plain, (size_t)tun_len) != 0))
		fuzz_fail("the TUN got something other than the inner packet");
	rx = peer_b->rx_bytes;
	deliver(how >> 4, msg, len);
	if (peer_b->rx_bytes != rx || drain(out, sizeof(out)) >= 0)
		fuzz_fail("a replayed data message was accepted");
}

static void record(struct fuzz_input *in)
{
	switch (fuzz_u8(in) % 7) {
	case 0: raw(in); break;
	case 1: initiation(in); break;
	case 2: response(in); break;
	case 3: cookie_reply(in); break;
	case 4: data(in); break;
	case 5: loop_run_once(loop, 0); break;
	default: device_rekey_all_peers(dev); break;
	}
	drain(NULL, 0);
}

/* B as a fresh peer of A: no session, no handshake, endpoint at B's socket. */
static void reset(uint8_t flags)
{
	fuzz_random_reset();
	drain(NULL, 0);
	if (peer_b)
		device_remove_peer(dev, peer_b);
	peer_b = device_add_peer(dev, pub_b);
	if (!peer_b)
		fuzz_fail("cannot add B");
	in_addr_t a4 = inet_addr(B_ADDR);
	uint8_t a6[16] = { 0xfd, [15] = 2 };
	peer_add_allowed_ip(peer_b, AF_INET, &a4, 32);
	peer_add_allowed_ip(peer_b, AF_INET6, a6, 128);
	peer_set_endpoint(peer_b, &addrs[FROM_B]);
	static const uint8_t zero[WG_KEY_LEN];
	peer_set_preshared_key(peer_b, flags & 4 ? psk : zero);
	memset(&b.cm, 0, sizeof(b.cm));
	cookie_maker_init(&b.cm, pub_a);
	b.has_kp = false;
	b.from_a_len = 0;
	device_set_handshake_load_limit(dev, UINT32_MAX);
	dev->under_load_until_ns = 0;
	dev->load_window_handshakes = 0;
	handshakes_completed = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data_in, size_t size)
{
	struct fuzz_input in = { data_in, size };
	uint8_t flags = fuzz_u8(&in);
	reset(flags);
	if (flags & 1) {
		/* B initiates, takes A's response and confirms the session with a keepalive. */
		static const uint8_t establish[] = { 2, 0, 0, 0, 1, 0, 0, 0, /* data: */ 0, 0, 0 };
		struct fuzz_input e = { establish, sizeof(establish) };
		initiation(&e);
		if (!b.has_kp)
			fuzz_fail("no session with A");
		data(&e);
		if (handshakes_completed != 1)
			fuzz_fail("A did not complete the handshake");
	}
	if (flags & 2)
		device_set_handshake_load_limit(dev, 0);
	while (in.len)
		record(&in);
	return 0;
}
