#include "overlay/device.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "overlay/allowedips.h"
#include "overlay/index.h"
#include "overlay/peer.h"
#include "overlay/ratelimiter.h"
#include "overlay/receive.h"
#include "overlay/send.h"
#include "overlay/workers.h"
#include "tun/tun.h"

#define PEER_BUCKETS 1024
#define DEFAULT_MTU 1420
/* Packets the TUN holds for us: a sender's burst waits while a batch is sealed instead of being
 * dropped (what waits there is charged to the senders' socket buffers, which bound it). */
#define TUN_QUEUE_PACKETS 4096
/* Large socket buffers let a burst of batches wait instead of being dropped. */
#define UDP_SOCKET_BUFFER (7 << 20)

static void on_tun_readable(void *ctx, int fd, unsigned events) { send_from_tun(ctx); }
static void on_udp_readable(void *ctx, int fd, unsigned events) { receive_from_udp(ctx); }

static void set_socket_buffers(int fd)
{
	int size = UDP_SOCKET_BUFFER;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

/* One socket for both families: AF_INET6 with v4-mapped addresses, or AF_INET without IPv6. */
static int open_udp_socket(uint16_t port, uint32_t fwmark, int *family_out, uint16_t *port_out)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int family = AF_INET6;
	if (fd >= 0) {
		int off = 0;
		struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any };
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
		    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			int err = errno;
			close(fd);
			fd = -1;
			if (err != EADDRNOTAVAIL && err != EAFNOSUPPORT)
				return -err;
		}
	}
	if (fd < 0) {
		family = AF_INET;
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
			int err = errno;
			close(fd);
			return -err;
		}
	}
	/* The local address of each datagram, for sticky source addresses (v4-mapped ones too). */
	int on = 1;
	setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
	if (fwmark && setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	set_socket_buffers(fd);
	/* Runs of datagrams from one sender arrive as one (a kernel without UDP GRO just says no). */
	if (tun_offload_allowed())
		setsockopt(fd, IPPROTO_UDP, UDP_GRO, &on, sizeof(on));
	struct sockaddr_in6 bound;
	socklen_t blen = sizeof(bound);
	if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	/* sin_port and sin6_port sit at the same offset. */
	*port_out = ntohs(bound.sin6_port);
	*family_out = family;
	return fd;
}

static int replace_udp_socket(struct device *dev, uint16_t port)
{
	int family = 0;
	uint16_t bound_port = 0;
	int fd = open_udp_socket(port, dev->fwmark, &family, &bound_port);
	if (fd < 0)
		return fd;
	if (loop_watch(dev->loop, fd, LOOP_READ, on_udp_readable, dev) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	if (dev->udp_fd >= 0) {
		loop_unwatch(dev->loop, dev->udp_fd);
		close(dev->udp_fd);
	}
	dev->udp_fd = fd;
	dev->udp_family = family;
	dev->listen_port = bound_port;
	return 0;
}

/* The interface MTU, as the operator (or wg-quick) last set it; kept when the TUN is elsewhere. */
static void refresh_mtu(struct device *dev)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return;
	struct ifreq ifr = { 0 };
	memcpy(ifr.ifr_name, dev->ifname, sizeof(ifr.ifr_name));
	if (ioctl(s, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu > 0)
		dev->mtu = (unsigned)ifr.ifr_mtu;
	close(s);
}

static void housekeeping(void *ctx)
{
	struct device *dev = ctx;
	uint64_t now = loop_now_ns();
	ratelimiter_gc(dev->ratelimiter, now);
	refresh_mtu(dev);
	loop_timer_arm_in(dev->loop, &dev->housekeeping_timer, NSEC_PER_SEC);
}

struct device *device_new(struct loop *loop, int tun_fd, const char *ifname)
{
	if (sodium_init() < 0) {
		errno = EIO;
		return NULL;
	}
	struct device *dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->loop = loop;
	dev->tun_fd = -1;
	dev->udp_fd = -1;
	dev->mtu = DEFAULT_MTU;
	dev->handshake_load_limit = DEVICE_DEFAULT_HANDSHAKE_LOAD_LIMIT;
	snprintf(dev->ifname, sizeof(dev->ifname), "%s", ifname);
	loop_timer_init(&dev->housekeeping_timer, housekeeping, dev);
	dev->peer_buckets = calloc(PEER_BUCKETS, sizeof(*dev->peer_buckets));
	dev->allowedips = allowedips_new();
	dev->index = index_table_new();
	dev->ratelimiter = ratelimiter_new();
	dev->tx = tx_batch_new();
	dev->rx = rx_batch_new();
	dev->workers = workers_new(workers_default_threads());
	int err = ENOMEM;
	if (!dev->peer_buckets || !dev->allowedips || !dev->index || !dev->ratelimiter || !dev->tx || !dev->rx ||
	    !dev->workers)
		goto fail;
	dev->udp_gso_off = !tun_offload_allowed();
	int rc = replace_udp_socket(dev, 0);
	if (rc < 0) {
		err = -rc;
		goto fail;
	}
	if (loop_watch(loop, tun_fd, LOOP_READ, on_tun_readable, dev) < 0) {
		err = errno;
		goto fail;
	}
	dev->tun_fd = tun_fd;
	dev->tun_offloads = tun_enable_offloads(tun_fd);
	int qrc = tun_set_queue_length(dev->ifname, TUN_QUEUE_PACKETS);
	if (qrc < 0)
		log_warn("device", "%s: cannot lengthen the TUN queue: %s", dev->ifname, strerror(-qrc));
	rx_batch_set_tun_offloads(dev->rx, dev->tun_offloads);
	log_info("device", "%s: offloads: TUN vnet header %s, TSO %s, USO %s, UDP GSO/GRO %s", dev->ifname,
		 dev->tun_offloads & TUN_OFFLOAD_VNET_HDR ? "on" : "off", dev->tun_offloads & TUN_OFFLOAD_TSO ? "on" : "off",
		 dev->tun_offloads & TUN_OFFLOAD_USO ? "on" : "off", dev->udp_gso_off ? "off" : "on");
	housekeeping(dev);
	return dev;
fail:
	device_free(dev);
	errno = err;
	return NULL;
}

void device_free(struct device *dev)
{
	if (!dev)
		return;
	device_remove_all_peers(dev);
	loop_timer_cancel(dev->loop, &dev->housekeeping_timer);
	if (dev->udp_fd >= 0) {
		loop_unwatch(dev->loop, dev->udp_fd);
		close(dev->udp_fd);
	}
	if (dev->tun_fd >= 0) {
		loop_unwatch(dev->loop, dev->tun_fd);
		close(dev->tun_fd);
	}
	noise_identity_clear(&dev->identity);
	cookie_checker_wipe(&dev->cookie_checker);
	workers_free(dev->workers);
	tx_batch_free(dev->tx);
	rx_batch_free(dev->rx);
	if (dev->ratelimiter)
		ratelimiter_free(dev->ratelimiter);
	index_table_free(dev->index);
	if (dev->allowedips)
		allowedips_free(dev->allowedips);
	free(dev->peer_buckets);
	sodium_memzero(dev, sizeof(*dev));
	free(dev);
}

const char *endpoint_to_string(const union endpoint_addr *ep, char buf[64])
{
	char ip[INET6_ADDRSTRLEN];
	if (ep->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &ep->in6.sin6_addr, ip, sizeof(ip));
		snprintf(buf, 64, "[%s]:%u", ip, ntohs(ep->in6.sin6_port));
	} else {
		inet_ntop(AF_INET, &ep->in4.sin_addr, ip, sizeof(ip));
		snprintf(buf, 64, "%s:%u", ip, ntohs(ep->in4.sin_port));
	}
	return buf;
}

const char *device_ifname(const struct device *dev) { return dev->ifname; }
unsigned device_mtu(const struct device *dev) { return dev->mtu; }
void device_set_mtu(struct device *dev, unsigned mtu) { dev->mtu = mtu; }

int device_set_private_key(struct device *dev, const uint8_t key[WG_KEY_LEN])
{
	static const uint8_t zero[WG_KEY_LEN];
	if (dev->identity.has_private_key ? !sodium_memcmp(dev->identity.private_key, key, WG_KEY_LEN)
					  : !sodium_memcmp(zero, key, WG_KEY_LEN))
		return 0; /* unchanged: keep every session */
	noise_identity_set(&dev->identity, key);
	if (dev->identity.has_private_key) {
		cookie_checker_init(&dev->cookie_checker, dev->identity.public_key);
		/* A peer with our own public key would be talking to itself. */
		struct peer *self = device_find_peer(dev, dev->identity.public_key);
		if (self)
			device_remove_peer(dev, self);
	} else {
		cookie_checker_wipe(&dev->cookie_checker);
	}
	for (struct peer *p = dev->peers_head; p; p = p->next) {
		noise_handshake_precompute(&p->handshake, &dev->identity);
		peer_expire_current_keypairs(p);
	}
	return 0;
}

bool device_get_private_key(const struct device *dev, uint8_t key[WG_KEY_LEN])
{
	if (!dev->identity.has_private_key)
		return false;
	memcpy(key, dev->identity.private_key, WG_KEY_LEN);
	return true;
}

bool device_get_public_key(const struct device *dev, uint8_t key[WG_KEY_LEN])
{
	if (!dev->identity.has_private_key)
		return false;
	memcpy(key, dev->identity.public_key, WG_KEY_LEN);
	return true;
}

int device_set_listen_port(struct device *dev, uint16_t port)
{
	if (port && port == dev->listen_port && dev->udp_fd >= 0)
		return 0;
	return replace_udp_socket(dev, port);
}

uint16_t device_listen_port(const struct device *dev) { return dev->listen_port; }

int device_set_fwmark(struct device *dev, uint32_t mark)
{
	if (dev->udp_fd >= 0 && setsockopt(dev->udp_fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
		return -errno;
	dev->fwmark = mark;
	return 0;
}

uint32_t device_fwmark(const struct device *dev) { return dev->fwmark; }

static struct peer **peer_bucket(struct device *dev, const uint8_t key[WG_KEY_LEN])
{
	/* Public keys are uniformly random bytes. */
	return &dev->peer_buckets[(key[0] | (unsigned)key[1] << 8) & (PEER_BUCKETS - 1)];
}

struct peer *device_find_peer(struct device *dev, const uint8_t public_key[WG_KEY_LEN])
{
	for (struct peer *p = *peer_bucket(dev, public_key); p; p = p->bucket_next)
		if (!memcmp(p->public_key, public_key, WG_KEY_LEN))
			return p;
	return NULL;
}

struct peer *device_add_peer(struct device *dev, const uint8_t public_key[WG_KEY_LEN])
{
	if (dev->identity.has_private_key && !memcmp(public_key, dev->identity.public_key, WG_KEY_LEN))
		return NULL;
	struct peer *peer = device_find_peer(dev, public_key);
	if (peer)
		return peer;
	peer = peer_new(dev, public_key);
	if (!peer)
		return NULL;
	struct peer **b = peer_bucket(dev, public_key);
	peer->bucket_next = *b;
	*b = peer;
	peer->prev = dev->peers_tail;
	if (dev->peers_tail)
		dev->peers_tail->next = peer;
	else
		dev->peers_head = peer;
	dev->peers_tail = peer;
	char name[48];
	log_info("device", "%s: peer %s added", dev->ifname, peer_name(peer, name));
	return peer;
}

void device_remove_peer(struct device *dev, struct peer *peer)
{
	for (struct peer **p = peer_bucket(dev, peer->public_key); *p; p = &(*p)->bucket_next) {
		if (*p == peer) {
			*p = peer->bucket_next;
			break;
		}
	}
	if (peer->prev)
		peer->prev->next = peer->next;
	else
		dev->peers_head = peer->next;
	if (peer->next)
		peer->next->prev = peer->prev;
	else
		dev->peers_tail = peer->prev;
	allowedips_remove_by_value(dev->allowedips, peer);
	char name[48];
	log_info("device", "%s: peer %s removed", dev->ifname, peer_name(peer, name));
	/* Whoever removed it (the owner, or `wg set ... remove` over the UAPI), the owner must drop
	 * its pointer before the peer is freed. */
	device_peer_event(dev, peer, PEER_EVENT_REMOVED);
	peer_free(peer);
}

void device_remove_all_peers(struct device *dev)
{
	while (dev->peers_head)
		device_remove_peer(dev, dev->peers_head);
}

struct peer *device_next_peer(struct device *dev, struct peer *prev)
{
	return prev ? prev->next : dev->peers_head;
}

void device_get_counters(const struct device *dev, struct device_counters *out) { *out = dev->counters; }

void device_set_unrouted_handler(struct device *dev, device_unrouted_fn fn, void *ctx)
{
	dev->unrouted_fn = fn;
	dev->unrouted_ctx = ctx;
}

void device_set_peer_event_handler(struct device *dev, device_peer_event_fn fn, void *ctx)
{
	dev->peer_event_fn = fn;
	dev->peer_event_ctx = ctx;
}

void device_set_tun_gone_handler(struct device *dev, device_tun_gone_fn fn, void *ctx)
{
	dev->tun_gone_fn = fn;
	dev->tun_gone_ctx = ctx;
}

void device_set_handshake_load_limit(struct device *dev, unsigned per_second)
{
	dev->handshake_load_limit = per_second;
}

void device_peer_event(struct device *dev, struct peer *peer, enum peer_event event)
{
	if (dev->peer_event_fn)
		dev->peer_event_fn(dev->peer_event_ctx, peer, event);
}

void device_tun_gone(struct device *dev)
{
	if (dev->tun_fd < 0)
		return;
	log_warn("device", "%s: the TUN interface is gone", dev->ifname);
	loop_unwatch(dev->loop, dev->tun_fd);
	close(dev->tun_fd);
	dev->tun_fd = -1;
	if (dev->tun_gone_fn)
		dev->tun_gone_fn(dev->tun_gone_ctx);
}

void device_send_packet(struct device *dev, const uint8_t *packet, size_t len) { send_packet(dev, packet, len); }

void device_rekey_all_peers(struct device *dev)
{
	for (struct peer *p = dev->peers_head; p; p = p->next) {
		p->has_sent_handshake = false;
		send_handshake_initiation(p, false);
	}
}
