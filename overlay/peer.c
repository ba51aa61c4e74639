#include "overlay/peer.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "overlay/allowedips.h"
#include "overlay/send.h"
#include "overlay/timers.h"

struct peer *peer_new(struct device *dev, const uint8_t public_key[WG_KEY_LEN])
{
	static const uint8_t no_psk[WG_KEY_LEN];
	struct peer *peer = calloc(1, sizeof(*peer));
	if (!peer)
		return NULL;
	peer->dev = dev;
	memcpy(peer->public_key, public_key, WG_KEY_LEN);
	noise_handshake_init(&peer->handshake, &dev->identity, public_key, no_psk);
	cookie_maker_init(&peer->cookie, public_key);
	peer->handshake_entry.kind = INDEX_HANDSHAKE;
	peer->handshake_entry.peer = peer;
	timers_init(peer);
	return peer;
}

static void free_staging(struct peer *peer)
{
	if (!peer->staged)
		return;
	for (unsigned i = 0; i < MAX_STAGED_PACKETS; i++) {
		if (peer->staged[i].data)
			sodium_memzero(peer->staged[i].data, peer->staged[i].capacity);
		free(peer->staged[i].data);
	}
	free(peer->staged);
	peer->staged = NULL;
	peer->staged_head = 0;
}

void peer_release_staging(struct peer *peer)
{
	if (!peer->staged_count)
		free_staging(peer);
}

void peer_free(struct peer *peer)
{
	timers_stop(peer);
	free_staging(peer);
	peer_zero_key_material(peer);
	cookie_maker_wipe(&peer->cookie);
	sodium_memzero(peer, sizeof(*peer));
	free(peer);
}

static void keypair_free(struct peer *peer, struct keypair *kp)
{
	if (!kp)
		return;
	index_table_remove(peer->dev->index, &kp->entry);
	noise_keypair_wipe(&kp->noise);
	sodium_memzero(kp, sizeof(*kp));
	free(kp);
}

struct keypair *peer_begin_session(struct peer *peer)
{
	struct keypair *kp = calloc(1, sizeof(*kp));
	if (!kp)
		return NULL;
	if (!noise_derive_keypair(&peer->handshake, &kp->noise, loop_now_ns())) {
		sodium_memzero(kp, sizeof(*kp));
		free(kp);
		return NULL;
	}
	kp->entry.kind = INDEX_KEYPAIR;
	kp->entry.peer = peer;
	kp->entry.keypair = kp;
	kp->sending_valid = true;
	/* The keypair answers to the index its handshake announced. */
	index_table_replace(peer->dev->index, &peer->handshake_entry, &kp->entry);
	if (kp->noise.is_initiator) {
		if (peer->next_keypair) {
			/* An unconfirmed responder keypair is newer than current: keep it as previous. */
			keypair_free(peer, peer->previous_keypair);
			keypair_free(peer, peer->current_keypair);
			peer->previous_keypair = peer->next_keypair;
			peer->next_keypair = NULL;
		} else {
			keypair_free(peer, peer->previous_keypair);
			peer->previous_keypair = peer->current_keypair;
		}
		peer->current_keypair = kp;
	} else {
		keypair_free(peer, peer->next_keypair);
		keypair_free(peer, peer->previous_keypair);
		peer->previous_keypair = NULL;
		peer->next_keypair = kp;
	}
	timers_session_derived(peer);
	return kp;
}

bool peer_received_with_keypair(struct peer *peer, struct keypair *kp)
{
	if (kp != peer->next_keypair)
		return false;
	keypair_free(peer, peer->previous_keypair);
	peer->previous_keypair = peer->current_keypair;
	peer->current_keypair = kp;
	peer->next_keypair = NULL;
	return true;
}

static bool keypair_expired(const struct keypair *kp, uint64_t now_ns)
{
	return now_ns - kp->noise.birthdate_ns >= (uint64_t)REJECT_AFTER_TIME * NSEC_PER_SEC;
}

struct keypair *peer_sending_keypair(struct peer *peer, uint64_t now_ns)
{
	struct keypair *kp = peer->current_keypair;
	if (!kp || !kp->sending_valid || keypair_expired(kp, now_ns) ||
	    kp->noise.send_counter >= REJECT_AFTER_MESSAGES)
		return NULL;
	return kp;
}

bool keypair_receive_valid(const struct keypair *kp, uint64_t now_ns)
{
	return !keypair_expired(kp, now_ns);
}

void peer_expire_current_keypairs(struct peer *peer)
{
	index_table_remove(peer->dev->index, &peer->handshake_entry);
	noise_handshake_clear(&peer->handshake);
	/* A handshake under the new identity may start at once, not a REKEY_TIMEOUT after the last. */
	peer->has_sent_handshake = false;
	if (peer->current_keypair)
		peer->current_keypair->sending_valid = false;
	if (peer->next_keypair)
		peer->next_keypair->sending_valid = false;
}

void peer_zero_key_material(struct peer *peer)
{
	keypair_free(peer, peer->previous_keypair);
	keypair_free(peer, peer->current_keypair);
	keypair_free(peer, peer->next_keypair);
	peer->previous_keypair = peer->current_keypair = peer->next_keypair = NULL;
	index_table_remove(peer->dev->index, &peer->handshake_entry);
	noise_handshake_clear(&peer->handshake);
}

void peer_stage_packet(struct peer *peer, const uint8_t *packet, size_t len)
{
	if (!peer->staged && !(peer->staged = calloc(MAX_STAGED_PACKETS, sizeof(*peer->staged))))
		return;
	if (peer->staged_count == MAX_STAGED_PACKETS)
		peer_unstage_packet(peer); /* the oldest gives way */
	struct staged_packet *sp = &peer->staged[(peer->staged_head + peer->staged_count) % MAX_STAGED_PACKETS];
	/* Room for padding to 16, so the send path can pad in place. */
	size_t need = len + MESSAGE_PADDING_MULTIPLE;
	if (sp->capacity < need) {
		uint8_t *data = realloc(sp->data, need);
		if (!data)
			return;
		sp->data = data;
		sp->capacity = need;
	}
	memcpy(sp->data, packet, len);
	sp->len = len;
	peer->staged_count++;
}

struct staged_packet *peer_unstage_packet(struct peer *peer)
{
	if (!peer->staged_count)
		return NULL;
	struct staged_packet *sp = &peer->staged[peer->staged_head];
	peer->staged_head = (peer->staged_head + 1) % MAX_STAGED_PACKETS;
	peer->staged_count--;
	return sp;
}

void peer_purge_staged(struct peer *peer)
{
	peer->staged_count = 0;
	free_staging(peer);
}

const char *peer_name(const struct peer *peer, char buf[48])
{
	sodium_bin2base64(buf, 48, peer->public_key, WG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
	return buf;
}

/* ---- The public peer API of device.h ---- */

void peer_public_key(const struct peer *peer, uint8_t out[WG_KEY_LEN]) { memcpy(out, peer->public_key, WG_KEY_LEN); }

void peer_set_preshared_key(struct peer *peer, const uint8_t psk[WG_KEY_LEN])
{
	noise_handshake_set_preshared_key(&peer->handshake, psk);
}

void peer_get_preshared_key(const struct peer *peer, uint8_t out[WG_KEY_LEN])
{
	memcpy(out, peer->handshake.preshared_key, WG_KEY_LEN);
}

void peer_set_endpoint(struct peer *peer, const union endpoint_addr *ep)
{
	peer->endpoint = *ep;
	peer->has_endpoint = true;
	memset(&peer->source, 0, sizeof(peer->source));
}

bool peer_get_endpoint(const struct peer *peer, union endpoint_addr *out)
{
	if (!peer->has_endpoint)
		return false;
	*out = peer->endpoint;
	return true;
}

void peer_set_persistent_keepalive(struct peer *peer, uint16_t seconds)
{
	bool enabled = seconds && !peer->persistent_keepalive;
	peer->persistent_keepalive = seconds;
	if (!seconds)
		loop_timer_cancel(peer->dev->loop, &peer->persistent_keepalive_timer);
	if (enabled && peer->dev->identity.has_private_key)
		send_keepalive(peer);
}

uint16_t peer_persistent_keepalive(const struct peer *peer) { return peer->persistent_keepalive; }

int peer_add_allowed_ip(struct peer *peer, int family, const void *addr, uint8_t cidr)
{
	if ((family != AF_INET || cidr > 32) && (family != AF_INET6 || cidr > 128))
		return -EINVAL;
	return allowedips_insert(peer->dev->allowedips, family, addr, cidr, peer);
}

int peer_remove_allowed_ip(struct peer *peer, int family, const void *addr, uint8_t cidr)
{
	return allowedips_remove(peer->dev->allowedips, family, addr, cidr, peer);
}

void peer_clear_allowed_ips(struct peer *peer) { allowedips_remove_by_value(peer->dev->allowedips, peer); }

void peer_for_each_allowed_ip(const struct peer *peer, peer_allowed_ip_fn fn, void *ctx)
{
	allowedips_walk_by_value(peer->dev->allowedips, (void *)peer, fn, ctx);
}

void peer_initiate_handshake(struct peer *peer) { send_handshake_initiation(peer, false); }

void peer_get_stats(const struct peer *peer, struct peer_stats *out)
{
	out->rx_bytes = peer->rx_bytes;
	out->tx_bytes = peer->tx_bytes;
	out->last_handshake_sec = peer->last_handshake_wall.tv_sec;
	out->last_handshake_nsec = peer->last_handshake_wall.tv_nsec;
}
