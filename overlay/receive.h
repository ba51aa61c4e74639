/*
 * The receive path: UDP batches with recvmmsg, each message checked by type and length,
 * handshakes and cookie replies consumed, transport data decrypted, replay-checked, trimmed,
 * source-checked against allowed IPs and written to the TUN in a batch.
 */
#ifndef TNGWG_OVERLAY_RECEIVE_H
#define TNGWG_OVERLAY_RECEIVE_H

#include "overlay/device.h"

struct rx_batch *rx_batch_new(void);
void rx_batch_free(struct rx_batch *rx);

/* The UDP socket is readable: receive and handle until drained (or a fair share is done). */
void receive_from_udp(struct device *dev);

#endif
