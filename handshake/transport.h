/*
 * The attested handshake over TCP on the daemon's loop: a listener for responders, a connector
 * for initiators, each connection driving one hs_session (see session.h for the protocol).
 * Sockets carry SO_MARK = so_mark so the steering rules leave them alone.
 *
 * Limits: a deadline per handshake (HS_TIMEOUT), a cap on frame and evidence size (the peer
 * is told why, the connection dropped and counted), a cap on concurrent responder handshakes in
 * all and per source (HS_BUSY) and a per-source rate of new responder handshakes
 * (HS_RATE_LIMITED), a source being one IP address. Refused connections get an abort frame
 * with the reason and are closed without a callback.
 *
 * Simultaneous initiation: when a connection from X is accepted while an outgoing handshake to X
 * is in progress, the one initiated by the node with the numerically lower IP address survives
 * on both nodes. The loser ends with HS_SUPERSEDED through failed on the node that initiated it,
 * and on the other node too if it had already accepted it; a losing connection that is only now
 * accepted is refused with an abort frame, without a callback.
 *
 * Callbacks run on the loop. After done or failed the transport frees the conn: the owner drops
 * its pointer and cancels whatever it had pending for it (hence the owner data). The owner may
 * answer need_evidence / need_verification from inside the callback or later; the strings and
 * evidence buffers passed to callbacks are valid only during the call. Responder connections
 * that end before the peer sent anything are closed without a callback.
 */
#ifndef TNGWG_HANDSHAKE_TRANSPORT_H
#define TNGWG_HANDSHAKE_TRANSPORT_H

#include "common/loop.h"
#include "handshake/session.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct hs_conn; /* one attested handshake in progress */
struct hs_transport;

struct hs_transport_ops { /* registered by the owner */
	void (*need_evidence)(void *ctx, struct hs_conn *c, const char *runtime_data_json);
	void (*need_verification)(void *ctx, struct hs_conn *c, const struct sockaddr *peer,
				  const char *tee, const uint8_t *evidence, size_t len,
				  const uint8_t *additional, size_t additional_len,
				  const char *expected_runtime_data_json);
	void (*done)(void *ctx, struct hs_conn *c, const struct sockaddr *peer,
		     const struct hs_result *r);
	void (*failed)(void *ctx, struct hs_conn *c, const struct sockaddr *peer, enum hs_reason reason,
		       bool reported_by_peer, const char *detail, bool we_initiated);
};

/* Zero fields take the defaults below (so_mark 0 sets no mark). */
struct hs_transport_config {
	uint16_t port;                      /* listen here and connect to this port on peers;
					       0 = an ephemeral port, which connects use too */
	struct sockaddr_storage bind_addr;  /* listen on, and connect from, this address only;
					       family AF_UNSPEC (zero) = every address */
	uint32_t so_mark;                   /* SO_MARK on every socket */
	uint64_t deadline_ns;               /* per handshake; default 10 s */
	unsigned max_concurrent;            /* responder handshakes at once; default 64 */
	unsigned max_per_source_per_second; /* new responder handshakes per source; default 10 */
	unsigned max_per_source_concurrent; /* responder handshakes at once per source; default 2 */
	unsigned max_outgoing;              /* initiator handshakes at once (lingering ones included);
					       default 128 */
	size_t max_frame;                   /* default and maximum 65535 */
	size_t max_evidence;                /* evidence + additional evidence; default 1 MiB */
};

struct hs_transport_counters {
	uint64_t malformed_input;       /* connections dropped for a malformed or oversized frame */
	uint64_t rejected_busy;         /* connections refused at the concurrency cap */
	uint64_t rejected_source_busy;  /* refused: their source held its share of the slots */
	uint64_t rejected_rate_limited; /* connections refused by the per-source rate limit */
	uint64_t superseded;            /* handshakes dropped by simultaneous initiation */
	uint64_t timeouts;
	uint64_t done;
	uint64_t failed;                /* every failed callback, superseded included */
};

/* Binds and listens on cfg->port (without bind_addr: IPv6 dual-stack, else IPv4). NULL with err
 * set on failure. */
struct hs_transport *hs_transport_new(struct loop *loop, const struct hs_transport_config *cfg,
				      const struct hs_local *local, const struct hs_transport_ops *ops,
				      void *ctx, char *err, size_t errlen);
/* Closes every connection without callbacks. */
void hs_transport_free(struct hs_transport *t);
/* Apply to handshakes started after the call. */
void hs_transport_set_local(struct hs_transport *t, const struct hs_local *local);
void hs_transport_set_deadline(struct hs_transport *t, uint64_t deadline_ns);
/* Ends every handshake in progress for reason, reported through failed as any local abort;
 * handshakes the callbacks start meanwhile keep running. */
void hs_transport_abort_all(struct hs_transport *t, enum hs_reason reason, const char *detail);
/* The port actually bound. */
uint16_t hs_transport_port(const struct hs_transport *t);
void hs_transport_get_counters(const struct hs_transport *t, struct hs_transport_counters *out);

/* Starts a handshake as initiator to peer's address (IPv4 or IPv6; its port is ignored) on the
 * bound port. Never calls back from inside; a failure to connect is reported later through
 * failed (HS_CONNECT_FAILED). NULL when out of resources, errno EBUSY when max_outgoing
 * handshakes run. */
struct hs_conn *hs_transport_connect(struct hs_transport *t, const struct sockaddr *peer);

void hs_conn_provide_evidence(struct hs_conn *c, const char *tee, const uint8_t *evidence,
			      size_t len, const uint8_t *additional, size_t additional_len);
void hs_conn_evidence_failed(struct hs_conn *c, const char *detail);
void hs_conn_provide_verdict(struct hs_conn *c, bool accept, enum hs_reason reason_if_rejected,
			     const char *detail);
/* The peer's address (IPv4 peers as AF_INET; the port is the TCP port of this connection). */
const struct sockaddr *hs_conn_peer(const struct hs_conn *c);
void hs_conn_set_owner_data(struct hs_conn *c, void *data);
void *hs_conn_owner_data(const struct hs_conn *c);

#endif
