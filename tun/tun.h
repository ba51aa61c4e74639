/*
 * TUN devices: IFF_TUN | IFF_NO_PI, non-blocking, read and written in batches of frames. With
 * offloads on (the default; TNGWG_OFFLOAD=0 in the environment turns every offload off) each frame
 * starts with a virtio-net header, and the kernel may hand over TCP and UDP super-packets of up to
 * 64 KiB (TSO/USO) and packets whose checksum is left to the reader.
 */
#ifndef TNGWG_TUN_TUN_H
#define TNGWG_TUN_TUN_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* False when the environment says TNGWG_OFFLOAD=0: no vnet header, no TSO/USO, no UDP GSO/GRO. */
bool tun_offload_allowed(void);

/* Create (or attach to) the TUN named name (NULL: the kernel picks); the chosen name goes to
 * name_out. The frames carry a virtio-net header when tun_offload_allowed(). Returns the fd or -errno. */
int tun_open(const char *name, char name_out[IFNAMSIZ]);

/* What a TUN fd does, as tun_enable_offloads found it. */
enum tun_offload {
	TUN_OFFLOAD_VNET_HDR = 1, /* every frame starts with a struct virtio_net_hdr */
	TUN_OFFLOAD_CSUM = 2,     /* frames may leave their transport checksum to the reader */
	TUN_OFFLOAD_TSO = 4,      /* TCP super-packets, both directions */
	TUN_OFFLOAD_USO = 8,      /* UDP super-packets, both directions */
};
/* Ask the kernel for checksum, TSO and USO offloads on a TUN opened with a vnet header, dropping
 * what it refuses (USO is newer than TSO). Returns the enum tun_offload bits in force; 0 for a
 * TUN without a vnet header. */
unsigned tun_enable_offloads(int fd);

/* The number of packets the kernel queues for the reader of the TUN named ifname (its default,
 * 500, drops bursts from a fast sender while a batch is being encrypted). 0 or -errno. */
int tun_set_queue_length(const char *ifname, unsigned packets);

struct tun_packet {
	uint8_t *data; /* buffer owned by the caller */
	size_t capacity;
	size_t len;    /* filled by tun_read_batch / set by the caller for tun_write_batch */
};

/* Read up to n frames without blocking; returns the count (0 when none) or -errno. */
int tun_read_batch(int fd, struct tun_packet *pkts, int n);
/* Write n frames; returns how many were written or -errno if none could be. */
int tun_write_batch(int fd, const struct tun_packet *pkts, int n);

#endif
