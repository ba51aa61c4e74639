/* TUN devices through /dev/net/tun: layer-3 frames without the packet-information prefix. */
#include "tun/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Newer than the installed kernel headers may be. */
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

bool tun_offload_allowed(void)
{
	const char *v = getenv("TNGWG_OFFLOAD");
	return !v || strcmp(v, "0") != 0;
}

int tun_open(const char *name, char name_out[IFNAMSIZ])
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (tun_offload_allowed())
		ifr.ifr_flags |= IFF_VNET_HDR;
	if (name) {
		if (strlen(name) >= IFNAMSIZ)
			return -ENAMETOOLONG;
		memcpy(ifr.ifr_name, name, strlen(name));
	}
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (name_out)
		memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
	return fd;
}

unsigned tun_enable_offloads(int fd)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_VNET_HDR))
		return 0;
	static const struct {
		unsigned kernel, ours;
	} sets[] = {
		{ TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6,
		  TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO | TUN_OFFLOAD_USO },
		{ TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6, TUN_OFFLOAD_CSUM | TUN_OFFLOAD_TSO },
		{ TUN_F_CSUM, TUN_OFFLOAD_CSUM },
	};
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)sets[i].kernel) == 0)
			return TUN_OFFLOAD_VNET_HDR | sets[i].ours;
	return TUN_OFFLOAD_VNET_HDR;
}

int tun_set_queue_length(const char *ifname, unsigned packets)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	if (strlen(ifname) >= IFNAMSIZ)
		return -ENAMETOOLONG;
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	ifr.ifr_qlen = (int)packets;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	int rc = ioctl(s, SIOCSIFTXQLEN, &ifr) < 0 ? -errno : 0;
	close(s);
	return rc;
}

int tun_read_batch(int fd, struct tun_packet *pkts, int n)
{
	int count = 0;
	while (count < n) {
		ssize_t r = read(fd, pkts[count].data, pkts[count].capacity);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK || count > 0)
				break;
			return -errno;
		}
		pkts[count++].len = (size_t)r;
	}
	return count;
}

int tun_write_batch(int fd, const struct tun_packet *pkts, int n)
{
	int count = 0;
	while (count < n) {
		ssize_t w = write(fd, pkts[count].data, pkts[count].len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (count > 0)
				break;
			return -errno;
		}
		count++;
	}
	return count;
}
