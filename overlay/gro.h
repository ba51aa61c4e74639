/*
 * Coalescing on the way to a TUN with offloads: decrypted packets of one TCP flow (contiguous
 * sequence numbers, equal headers) or one UDP flow (equal headers and sizes) become one
 * super-packet with a virtio-net header (TSO/USO) that the kernel takes in a single write; every
 * packet's checksum is verified first, and the super-packet leaves the checksum to the kernel
 * (the pseudo-header sum in the field, as a GRO'd packet has it). Other packets pass through
 * singly, in their order; packets of one flow keep theirs.
 *
 * Added packets stay where they are until gro_finish (10 bytes before each must be free for the
 * header). Without a vnet header on the TUN, gro_finish returns the packets unchanged.
 */
#ifndef TNGWG_OVERLAY_GRO_H
#define TNGWG_OVERLAY_GRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tun/tun.h"

struct gro_batch;

struct gro_batch *gro_batch_new(void);
void gro_batch_free(struct gro_batch *g);
/* tun_offloads: the enum tun_offload bits of the TUN the frames go to. */
void gro_set_offloads(struct gro_batch *g, unsigned tun_offloads);

/* Queue one IP packet (len exact, no padding); false when the batch is full (finish it first). */
bool gro_add(struct gro_batch *g, uint8_t *packet, size_t len);
/* Close the batch: *frames gets the frames to write, in order; returns their count. The frames
 * stay valid until the next gro_add. */
int gro_finish(struct gro_batch *g, struct tun_packet **frames);

#endif
