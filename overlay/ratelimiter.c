/*
 * Token buckets per source (IPv4 address, IPv6 /64), in a hash table with a fixed number of
 * buckets and a cap on entries. Tokens are counted in nanoseconds of credit: a packet costs
 * 1/20 s and the bucket holds five packets' worth. The table is keyed with a random SipHash key
 * so that sources cannot be chosen to collide.
 */
#include "overlay/ratelimiter.h"

#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define NSEC_PER_SECOND 1000000000ULL
#define PACKETS_PER_SECOND 20
#define PACKETS_BURSTABLE 5
#define PACKET_COST (NSEC_PER_SECOND / PACKETS_PER_SECOND)
#define TOKEN_MAX (PACKET_COST * PACKETS_BURSTABLE)
#define TABLE_BUCKETS 4096
#define IDLE_NS NSEC_PER_SECOND
/* A family tag, then the IPv4 address or the IPv6 /64 prefix. */
#define SOURCE_KEY_LEN 9

_Static_assert(RATELIMITER_MAX_SOURCES >= TABLE_BUCKETS, "table sizes");

struct source {
	struct source *next;
	uint64_t last_ns;
	uint64_t tokens;
	uint8_t key[SOURCE_KEY_LEN];
};

struct ratelimiter {
	struct source *buckets[TABLE_BUCKETS];
	size_t count;
	uint64_t last_gc_ns;
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

struct ratelimiter *ratelimiter_new(void)
{
	if (sodium_init() < 0)
		return NULL;
	struct ratelimiter *rl = calloc(1, sizeof(*rl));
	if (rl)
		randombytes_buf(rl->hash_key, sizeof(rl->hash_key));
	return rl;
}

void ratelimiter_free(struct ratelimiter *rl)
{
	if (!rl)
		return;
	for (size_t i = 0; i < TABLE_BUCKETS; i++) {
		while (rl->buckets[i]) {
			struct source *s = rl->buckets[i];
			rl->buckets[i] = s->next;
			free(s);
		}
	}
	free(rl);
}

/* IPv4-mapped IPv6 sources (from a dual-stack socket) count as the IPv4 address they carry. */
static bool source_key(const struct sockaddr *src, uint8_t key[SOURCE_KEY_LEN])
{
	memset(key, 0, SOURCE_KEY_LEN);
	if (src->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)src)->sin_addr, 4);
		return true;
	}
	if (src->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)src)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			key[0] = 4;
			memcpy(key + 1, a->s6_addr + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a->s6_addr, 8);
		}
		return true;
	}
	return false;
}

static struct source **bucket_of(struct ratelimiter *rl, const uint8_t key[SOURCE_KEY_LEN])
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, key, SOURCE_KEY_LEN, rl->hash_key);
	return &rl->buckets[h % TABLE_BUCKETS];
}

static bool spend(struct source *s, uint64_t now_ns)
{
	uint64_t elapsed = now_ns > s->last_ns ? now_ns - s->last_ns : 0;
	if (elapsed > TOKEN_MAX)
		elapsed = TOKEN_MAX;
	s->tokens += elapsed;
	if (s->tokens > TOKEN_MAX)
		s->tokens = TOKEN_MAX;
	s->last_ns = now_ns;
	if (s->tokens < PACKET_COST)
		return false;
	s->tokens -= PACKET_COST;
	return true;
}

/* With the table full, make room only by forgetting idle sources; a full table of active ones
 * refuses new sources (fail closed), and is swept at most once a second. */
static bool make_room(struct ratelimiter *rl, uint64_t now_ns)
{
	if (rl->count < RATELIMITER_MAX_SOURCES)
		return true;
	if (now_ns - rl->last_gc_ns >= IDLE_NS)
		ratelimiter_gc(rl, now_ns);
	return rl->count < RATELIMITER_MAX_SOURCES;
}

bool ratelimiter_allow(struct ratelimiter *rl, const struct sockaddr *src, uint64_t now_ns)
{
	uint8_t key[SOURCE_KEY_LEN];
	if (!source_key(src, key))
		return false;
	struct source **bucket = bucket_of(rl, key);
	for (struct source *s = *bucket; s; s = s->next) {
		if (memcmp(s->key, key, SOURCE_KEY_LEN) == 0)
			return spend(s, now_ns);
	}
	if (!make_room(rl, now_ns))
		return false;
	struct source *s = calloc(1, sizeof(*s));
	if (!s)
		return false;
	memcpy(s->key, key, SOURCE_KEY_LEN);
	s->last_ns = now_ns;
	s->tokens = TOKEN_MAX - PACKET_COST; /* this packet spends one */
	s->next = *bucket;
	*bucket = s;
	rl->count++;
	return true;
}

void ratelimiter_gc(struct ratelimiter *rl, uint64_t now_ns)
{
	rl->last_gc_ns = now_ns;
	for (size_t i = 0; i < TABLE_BUCKETS; i++) {
		struct source **link = &rl->buckets[i];
		while (*link) {
			struct source *s = *link;
			if (now_ns > s->last_ns && now_ns - s->last_ns > IDLE_NS) {
				*link = s->next;
				free(s);
				rl->count--;
			} else {
				link = &s->next;
			}
		}
	}
}
