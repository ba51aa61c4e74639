/* TUN devices through /dev/net/tun: layer-3 frames without the packet-information prefix. */
#include "tun/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int tun_open(const char *name, char name_out[IFNAMSIZ])
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
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
