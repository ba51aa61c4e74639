/*
 * The send path: TUN frames routed by allowed IPs, super-packets cut into packets, each padded
 * into a message of the batch; the batch sealed (on the crypto workers) and sent with sendmmsg,
 * runs to one endpoint as UDP GSO sends; staging while no session exists; handshake messages,
 * keepalives and cookie replies.
 */
#ifndef TNGWG_OVERLAY_SEND_H
#define TNGWG_OVERLAY_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "overlay/device.h"

struct tx_batch *tx_batch_new(void);
void tx_batch_free(struct tx_batch *tx);

/* The TUN is readable: read, route, encrypt and send until it is drained (or a fair share is done). */
void send_from_tun(struct device *dev);
/* One packet as if read from the TUN. */
void send_packet(struct device *dev, const uint8_t *packet, size_t len);

/* Send what is staged if a session allows it, else start a handshake and keep it staged. */
void send_staged_packets(struct peer *peer);
/* Staged packets if any, else an empty transport message. */
void send_keepalive(struct peer *peer);
/* A fresh initiation, at most one per REKEY_TIMEOUT; is_retry keeps the attempt count. */
void send_handshake_initiation(struct peer *peer, bool is_retry);
/* Answer a consumed initiation and derive the responder's (next) keypair. */
void send_handshake_response(struct peer *peer);
void send_cookie_reply(struct device *dev, const void *msg, size_t len, uint32_t sender_index,
		       const union endpoint_addr *to);

#endif
