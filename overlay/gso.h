/*
 * Segmentation of what a TUN with offloads hands over: a frame is a virtio-net header and an IP
 * packet that may be a TCP or UDP super-packet (TSO/USO, up to 64 KiB) or a packet whose transport
 * checksum is left to the reader. The iterator yields the MTU-sized IP packets the kernel would
 * have sent, one at a time, each with its own lengths, IPv4 ID, TCP sequence number and flags, and
 * complete checksums, so the caller can write each straight into the message it encrypts.
 */
#ifndef TNGWG_OVERLAY_GSO_H
#define TNGWG_OVERLAY_GSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VNET_HDR_LEN 10 /* struct virtio_net_hdr */

struct gso_split {
	uint8_t *packet;
	size_t len;
	int family;
	uint8_t protocol;
	bool segmented;        /* a super-packet, else one packet passed through */
	size_t ip_header_len;
	size_t header_len;     /* IP and transport headers, repeated in every segment */
	size_t segment_size;   /* payload bytes per segment */
	size_t offset;         /* payload bytes already yielded */
	unsigned index;        /* segments already yielded */
	bool done;
};

/* Start on the frame's header (VNET_HDR_LEN bytes) and packet; a packet whose checksum the
 * kernel left open is completed in place. False when the frame is malformed (drop it). */
bool gso_split_begin(struct gso_split *s, const uint8_t *vnet_hdr, uint8_t *packet, size_t len);
/* The length of the next packet, 0 when every one was yielded. */
size_t gso_split_next_len(const struct gso_split *s);
/* Write the next packet to out (room for gso_split_next_len bytes); returns its length. */
size_t gso_split_next(struct gso_split *s, uint8_t *out);

#endif
