/*
 * The receive path: UDP batches with recvmmsg (each datagram possibly several messages coalesced
 * by UDP GRO), each message checked by type and length, handshakes and cookie replies consumed,
 * transport data opened in place in batches (on the crypto workers), replay-checked, trimmed,
 * source-checked against allowed IPs, coalesced per flow and written to the TUN.
 */
#ifndef TNGWG_OVERLAY_RECEIVE_H
#define TNGWG_OVERLAY_RECEIVE_H

#include "overlay/device.h"

struct rx_batch *rx_batch_new(void);
void rx_batch_free(struct rx_batch *rx);
/* What the TUN takes (enum tun_offload): coalescing needs its vnet header and TSO/USO. */
void rx_batch_set_tun_offloads(struct rx_batch *rx, unsigned tun_offloads);

/* The UDP socket is readable: receive and handle until drained (or a fair share is done). */
void receive_from_udp(struct device *dev);

#endif
