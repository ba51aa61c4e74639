#include "overlay/timers.h"

#include <sodium.h>
#include <string.h>

#include "common/log.h"
#include "overlay/peer.h"
#include "overlay/send.h"

/* Jitter only spreads timers apart, so a generator seeded once will do: the data path arms the
 * rehandshake timer at nearly every send, and a system call there for randomness costs more than
 * the packet. */
static uint64_t jitter_ns(void)
{
	static uint64_t state;
	if (!state)
		state = (uint64_t)randombytes_random() << 32 | randombytes_random() | 1;
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state % REKEY_TIMEOUT_JITTER_MAX_MS * NSEC_PER_MSEC;
}

static void arm(struct peer *peer, struct loop_timer *t, uint64_t delay_ns)
{
	loop_timer_arm_in(peer->dev->loop, t, delay_ns);
}

static void cancel(struct peer *peer, struct loop_timer *t)
{
	loop_timer_cancel(peer->dev->loop, t);
}

static void retransmit_handshake_expired(void *ctx)
{
	struct peer *peer = ctx;
	char name[48];
	if (peer->handshake_attempts > MAX_TIMER_HANDSHAKES) {
		log_info("peer", "%s: peer %s: handshake did not complete after %u attempts, giving up",
			 peer->dev->ifname, peer_name(peer, name), MAX_TIMER_HANDSHAKES + 2);
		cancel(peer, &peer->send_keepalive_timer);
		peer_purge_staged(peer);
		/* Nothing more is sent until new packets arrive; keys still go in 540 s. */
		if (!loop_timer_armed(&peer->zero_key_material_timer))
			arm(peer, &peer->zero_key_material_timer, 3ULL * REJECT_AFTER_TIME * NSEC_PER_SEC);
		device_peer_event(peer->dev, peer, PEER_EVENT_HANDSHAKE_GAVE_UP);
		return;
	}
	peer->handshake_attempts++;
	/* The path may have changed: let routing pick the source address again. */
	memset(&peer->source, 0, sizeof(peer->source));
	log_info("peer", "%s: peer %s: handshake did not complete after %d seconds, retrying (try %u)",
		 peer->dev->ifname, peer_name(peer, name), REKEY_TIMEOUT, peer->handshake_attempts + 1);
	send_handshake_initiation(peer, true);
}

static void send_keepalive_expired(void *ctx)
{
	struct peer *peer = ctx;
	send_keepalive(peer);
	if (peer->need_another_keepalive) {
		peer->need_another_keepalive = false;
		arm(peer, &peer->send_keepalive_timer, KEEPALIVE_TIMEOUT * NSEC_PER_SEC);
	}
}

static void new_handshake_expired(void *ctx)
{
	struct peer *peer = ctx;
	char name[48];
	log_info("peer", "%s: peer %s: no reply for %d seconds, starting a new handshake", peer->dev->ifname,
		 peer_name(peer, name), KEEPALIVE_TIMEOUT + REKEY_TIMEOUT);
	memset(&peer->source, 0, sizeof(peer->source));
	send_handshake_initiation(peer, false);
}

static void zero_key_material_expired(void *ctx)
{
	struct peer *peer = ctx;
	char name[48];
	log_info("peer", "%s: peer %s: zeroing keys after %d seconds without a new session", peer->dev->ifname,
		 peer_name(peer, name), 3 * REJECT_AFTER_TIME);
	peer_zero_key_material(peer);
	device_peer_event(peer->dev, peer, PEER_EVENT_KEYS_ZEROED);
}

static void persistent_keepalive_expired(void *ctx)
{
	struct peer *peer = ctx;
	if (peer->persistent_keepalive)
		send_keepalive(peer);
}

void timers_init(struct peer *peer)
{
	loop_timer_init(&peer->retransmit_handshake_timer, retransmit_handshake_expired, peer);
	loop_timer_init(&peer->send_keepalive_timer, send_keepalive_expired, peer);
	loop_timer_init(&peer->new_handshake_timer, new_handshake_expired, peer);
	loop_timer_init(&peer->zero_key_material_timer, zero_key_material_expired, peer);
	loop_timer_init(&peer->persistent_keepalive_timer, persistent_keepalive_expired, peer);
}

void timers_stop(struct peer *peer)
{
	cancel(peer, &peer->retransmit_handshake_timer);
	cancel(peer, &peer->send_keepalive_timer);
	cancel(peer, &peer->new_handshake_timer);
	cancel(peer, &peer->zero_key_material_timer);
	cancel(peer, &peer->persistent_keepalive_timer);
}

/* Data sent: expect an answer within KEEPALIVE_TIMEOUT + REKEY_TIMEOUT, else rehandshake. */
void timers_data_sent(struct peer *peer)
{
	if (!loop_timer_armed(&peer->new_handshake_timer))
		arm(peer, &peer->new_handshake_timer,
		    (uint64_t)(KEEPALIVE_TIMEOUT + REKEY_TIMEOUT) * NSEC_PER_SEC + jitter_ns());
}

/* Data received: answer with a keepalive if nothing else goes out within KEEPALIVE_TIMEOUT. */
void timers_data_received(struct peer *peer)
{
	if (!loop_timer_armed(&peer->send_keepalive_timer))
		arm(peer, &peer->send_keepalive_timer, KEEPALIVE_TIMEOUT * NSEC_PER_SEC);
	else
		peer->need_another_keepalive = true;
}

void timers_any_authenticated_packet_sent(struct peer *peer)
{
	cancel(peer, &peer->send_keepalive_timer);
}

void timers_any_authenticated_packet_received(struct peer *peer)
{
	cancel(peer, &peer->new_handshake_timer);
}

void timers_any_authenticated_packet_traversal(struct peer *peer)
{
	if (peer->persistent_keepalive)
		arm(peer, &peer->persistent_keepalive_timer, (uint64_t)peer->persistent_keepalive * NSEC_PER_SEC);
}

void timers_handshake_initiated(struct peer *peer)
{
	arm(peer, &peer->retransmit_handshake_timer, REKEY_TIMEOUT * NSEC_PER_SEC + jitter_ns());
}

void timers_handshake_complete(struct peer *peer)
{
	cancel(peer, &peer->retransmit_handshake_timer);
	peer->handshake_attempts = 0;
	peer->sent_lastminute_handshake = false;
	clock_gettime(CLOCK_REALTIME, &peer->last_handshake_wall);
	char name[48];
	log_info("peer", "%s: peer %s: handshake completed", peer->dev->ifname, peer_name(peer, name));
}

void timers_session_derived(struct peer *peer)
{
	arm(peer, &peer->zero_key_material_timer, 3ULL * REJECT_AFTER_TIME * NSEC_PER_SEC);
}
