/*
 * The node's peers, made on demand: a captured packet to an address without a peer is held
 * (a bounded queue) while an attested handshake to that address runs; on success the peer is
 * installed into the WireGuard device and the held packets released, on failure they are
 * dropped and the failure recorded. Installed peers are attested again every
 * reattest_interval; a failure removes the peer, a success rotates its pre-shared key.
 */
#ifndef TNGWG_NODE_PEERS_H
#define TNGWG_NODE_PEERS_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "node/attestation.h"
#include "common/loop.h"
#include "overlay/device.h"
#include "policy/config.h"

struct peers;

/* Listens for attested handshakes on cfg->overlay.port and hooks into dev's unrouted-packet
 * and peer-event handlers. */
/* state_dir keeps the list of peers that had a tunnel, for peers_connect_initial. */
struct peers *peers_new(struct loop *loop, struct device *dev, struct attestation *att,
			const struct node_config *cfg, const char *state_dir, char *err, size_t errlen);
void peers_free(struct peers *p);
/* Start (and keep retrying) attested handshakes to the configured overlay.peers, and attest
 * once more the peers a previous run of this node had (a restarted node is known to its peers
 * by a tunnel key it no longer holds; this replaces it at once instead of after WireGuard gives
 * up on the old one). */
void peers_connect_initial(struct peers *p);
/* The peers' state for `tng-wg show`: a JSON array. */
cJSON *peers_status(struct peers *p);

#endif
