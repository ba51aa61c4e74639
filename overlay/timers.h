/*
 * The per-peer protocol timers (retransmit handshake, keepalive, new handshake, key zeroing,
 * persistent keepalive), driven by events the send and receive paths report.
 */
#ifndef TNGWG_OVERLAY_TIMERS_H
#define TNGWG_OVERLAY_TIMERS_H

struct peer;

void timers_init(struct peer *peer);
void timers_stop(struct peer *peer);

void timers_data_sent(struct peer *peer);
void timers_data_received(struct peer *peer);
void timers_any_authenticated_packet_sent(struct peer *peer);
void timers_any_authenticated_packet_received(struct peer *peer);
void timers_any_authenticated_packet_traversal(struct peer *peer);
void timers_handshake_initiated(struct peer *peer);
void timers_handshake_complete(struct peer *peer);
void timers_session_derived(struct peer *peer);

#endif
