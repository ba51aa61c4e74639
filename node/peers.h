/*
 * The node's peers, made on demand: a captured packet to an address without a peer is held
 * (a bounded queue) while an attested handshake to that address runs; on success the peer is
 * installed into the WireGuard device and the held packets released, on failure they are
 * dropped and the failure recorded. Installed peers are attested again every
 * reattest_interval; a failure removes the peer, a success rotates its pre-shared key.
 */
#ifndef TNGWG_NODE_PEERS_H
#define TNGWG_NODE_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node/attestation.h"
#include "common/loop.h"
#include "handshake/transport.h"
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
/* Take a new configuration and attestation (the old ones stay valid until this returns):
 * attested handshakes in progress end and are tried again; up peers are attested again when the
 * node verifies (the outcome decides whether their tunnels stay), and removed at once when the
 * node now verifies but their tunnel was not attested; overlay.peers is taken anew. */
void peers_reload(struct peers *p, struct attestation *att, const struct node_config *cfg);

/* One peer as the operator sees it; valid only during the callback. */
struct peer_info {
	uint32_t addr;            /* IPv4, network order */
	const char *state;        /* idle, attesting, up, failed */
	bool is_static, attested;
	const char *tee, *policy_ids;
	int64_t token_exp, attested_at; /* Unix times, 0 = none */
	unsigned attestations;
	const char *last_error;
	int64_t last_error_at;
	size_t held_packets;
	uint64_t held_dropped;
	struct peer *wg;          /* the installed WireGuard peer, or NULL */
};
typedef void (*peers_info_fn)(void *ctx, const struct peer_info *info);
void peers_for_each(struct peers *p, peers_info_fn fn, void *ctx);

#define PEERS_VERDICT_REASONS 16
struct peers_counters {
	uint64_t attested;                          /* attested handshakes that installed or renewed a tunnel */
	uint64_t attested_failed[HS_REASON_COUNT];  /* by hs_reason, both directions */
	uint64_t verdicts[PEERS_VERDICT_REASONS];   /* this node's appraisals, by enum verdict_reason */
	uint64_t key_conflicts, tokens_lapsed;
	uint64_t wg_handshakes, wg_gave_up;         /* WireGuard handshakes of attested peers */
	struct hs_transport_counters transport;
};
void peers_get_counters(const struct peers *p, struct peers_counters *out);

#endif
