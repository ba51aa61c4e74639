/* TUN devices: IFF_TUN | IFF_NO_PI, non-blocking, read and written in batches of packets. */
#ifndef TNGWG_TUN_TUN_H
#define TNGWG_TUN_TUN_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Create (or attach to) the TUN named name; the kernel's chosen name goes to name_out.
 * Returns the fd or -errno. */
int tun_open(const char *name, char name_out[IFNAMSIZ]);

struct tun_packet {
	uint8_t *data; /* buffer owned by the caller */
	size_t capacity;
	size_t len;    /* filled by tun_read_batch / set by the caller for tun_write_batch */
};

/* Read up to n packets without blocking; returns the count (0 when none) or -errno. */
int tun_read_batch(int fd, struct tun_packet *pkts, int n);
/* Write n packets; returns how many were written or -errno if none could be. */
int tun_write_batch(int fd, const struct tun_packet *pkts, int n);

#endif
