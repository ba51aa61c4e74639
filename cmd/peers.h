/*
 * The node's peers, made on demand: a captured packet to an address without a peer is held
 * (a bounded queue) while an attested handshake to that address runs; on success the peer is
 * installed into the WireGuard device and the held packets released, on failure they are
 * dropped and the failure recorded. Installed peers are attested again every
 * reattest_interval; a failure removes the peer, a success rotates its pre-shared key.
 */
#ifndef TNGWG_CMD_PEERS_H
#define TNGWG_CMD_PEERS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "cmd/attestation.h"
#include "common/loop.h"
#include "overlay/device.h"
#include "policy/config.h"

struct peers;

/* Listens for attested handshakes on cfg->overlay.port and hooks into dev's unrouted-packet
 * and peer-event handlers. */
struct peers *peers_new(struct loop *loop, struct device *dev, struct attestation *att,
			const struct node_config *cfg, char *err, size_t errlen);
void peers_free(struct peers *p);
/* Start (and keep retrying) attested handshakes to the configured overlay.peers. */
void peers_connect_static(struct peers *p);
/* The peers' state for `tng-wg show`: a JSON array. */
cJSON *peers_status(struct peers *p);

#endif
