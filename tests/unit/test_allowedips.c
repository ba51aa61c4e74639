#include "overlay/allowedips.h"
#include "tests/unit/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

static int peer_a, peer_b, peer_c;
#define A (&peer_a)
#define B (&peer_b)
#define C (&peer_c)

static const void *ip4(const char *s)
{
	static uint8_t buf[4][4];
	static int next;
	uint8_t *b = buf[next++ % 4];
	if (inet_pton(AF_INET, s, b) != 1)
		abort();
	return b;
}

static const void *ip6(const char *s)
{
	static uint8_t buf[4][16];
	static int next;
	uint8_t *b = buf[next++ % 4];
	if (inet_pton(AF_INET6, s, b) != 1)
		abort();
	return b;
}

TEST(ipv4_longest_prefix_wins)
{
	struct allowedips *t = allowedips_new();
	CHECK(allowedips_insert(t, AF_INET, ip4("10.0.0.0"), 8, A) == 0);
	CHECK(allowedips_insert(t, AF_INET, ip4("10.1.0.0"), 16, B) == 0);
	CHECK(allowedips_insert(t, AF_INET, ip4("10.1.2.3"), 32, C) == 0);
	CHECK(allowedips_lookup(t, AF_INET, ip4("10.9.9.9")) == A);
	CHECK(allowedips_lookup(t, AF_INET, ip4("10.1.9.9")) == B);
	CHECK(allowedips_lookup(t, AF_INET, ip4("10.1.2.3")) == C);
	CHECK(allowedips_lookup(t, AF_INET, ip4("10.1.2.4")) == B);
	CHECK(allowedips_lookup(t, AF_INET, ip4("11.0.0.0")) == NULL);
	CHECK(allowedips_lookup(t, AF_INET6, ip6("a00::")) == NULL);
	allowedips_free(t);
}

TEST(ipv4_default_route_and_host_bits_masked)
{
	struct allowedips *t = allowedips_new();
	CHECK(allowedips_insert(t, AF_INET, ip4("1.2.3.4"), 0, A) == 0);
	CHECK(allowedips_lookup(t, AF_INET, ip4("255.255.255.255")) == A);
	CHECK(allowedips_lookup(t, AF_INET, ip4("0.0.0.0")) == A);
	/* 192.168.1.77/24 is stored as 192.168.1.0/24 */
	CHECK(allowedips_insert(t, AF_INET, ip4("192.168.1.77"), 24, B) == 0);
	CHECK(allowedips_lookup(t, AF_INET, ip4("192.168.1.1")) == B);
	CHECK(allowedips_remove(t, AF_INET, ip4("192.168.1.0"), 24, B) == 0);
	CHECK(allowedips_lookup(t, AF_INET, ip4("192.168.1.1")) == A);
	CHECK(allowedips_remove(t, AF_INET, ip4("9.9.9.9"), 0, A) == 0);
	CHECK(allowedips_lookup(t, AF_INET, ip4("192.168.1.1")) == NULL);
	allowedips_free(t);
}

TEST(ipv6_prefixes_and_host_routes)
{
	struct allowedips *t = allowedips_new();
	CHECK(allowedips_insert(t, AF_INET6, ip6("::"), 0, A) == 0);
	CHECK(allowedips_insert(t, AF_INET6, ip6("fd00::"), 112, B) == 0);
	CHECK(allowedips_insert(t, AF_INET6, ip6("fd00::2"), 128, C) == 0);
	CHECK(allowedips_lookup(t, AF_INET6, ip6("fd00::2")) == C);
	CHECK(allowedips_lookup(t, AF_INET6, ip6("fd00::3")) == B);
	CHECK(allowedips_lookup(t, AF_INET6, ip6("fd00::1:0")) == A);
	CHECK(allowedips_lookup(t, AF_INET6, ip6("2001:db8::1")) == A);
	CHECK(allowedips_lookup(t, AF_INET, ip4("1.1.1.1")) == NULL);
	CHECK(allowedips_remove(t, AF_INET6, ip6("fd00::2"), 128, C) == 0);
	CHECK(allowedips_lookup(t, AF_INET6, ip6("fd00::2")) == B);
	allowedips_free(t);
}

TEST(reinsert_moves_ownership)
{
	struct allowedips *t = allowedips_new();
	CHECK(allowedips_insert(t, AF_INET, ip4("10.0.0.0"), 24, A) == 0);
	CHECK(allowedips_insert(t, AF_INET, ip4("10.0.0.0"), 24, B) == 0);
	CHECK(allowedips_lookup(t, AF_INET, ip4("10.0.0.5")) == B);
	CHECK(allowedips_remove(t, AF_INET, ip4("10.0.0.0"), 24, A) == -ENOENT);
	CHECK(allowedips_lookup(t, AF_INET, ip4("10.0.0.5")) == B);
	CHECK(allowedips_remove(t, AF_INET, ip4("10.0.0.0"), 24, B) == 0);
	CHECK(allowedips_lookup(t, AF_INET, ip4("10.0.0.5")) == NULL);
	allowedips_free(t);
}

TEST(remove_exact_prefix_only)
{
	struct allowedips *t = allowedips_new();
	CHECK(allowedips_insert(t, AF_INET, ip4("10.0.0.0"), 8, A) == 0);
	CHECK(allowedips_remove(t, AF_INET, ip4("10.0.0.0"), 16, A) == -ENOENT);
	CHECK(allowedips_remove(t, AF_INET, ip4("10.0.0.0"), 7, A) == -ENOENT);
	CHECK(allowedips_remove(t, AF_INET6, ip6("a00::"), 8, A) == -ENOENT);
	CHECK(allowedips_lookup(t, AF_INET, ip4("10.2.3.4")) == A);
	allowedips_free(t);
}

TEST(invalid_arguments_rejected)
{
	struct allowedips *t = allowedips_new();
	CHECK(allowedips_insert(t, AF_INET, ip4("10.0.0.0"), 33, A) == -EINVAL);
	CHECK(allowedips_insert(t, AF_INET6, ip6("::"), 129, A) == -EINVAL);
	CHECK(allowedips_insert(t, AF_UNIX, ip4("10.0.0.0"), 8, A) == -EINVAL);
	CHECK(allowedips_insert(t, AF_INET, ip4("10.0.0.0"), 8, NULL) == -EINVAL);
	CHECK(allowedips_lookup(t, AF_INET, ip4("10.0.0.0")) == NULL);
	allowedips_free(t);
}

struct collected {
	int count;
	int family[8];
	uint8_t addr[8][16];
	uint8_t cidr[8];
};

static void collect(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	struct collected *c = ctx;
	if (c->count == 8)
		return;
	c->family[c->count] = family;
	memcpy(c->addr[c->count], addr, family == AF_INET ? 4 : 16);
	c->cidr[c->count] = cidr;
	c->count++;
}

TEST(walk_and_remove_by_value)
{
	struct allowedips *t = allowedips_new();
	CHECK(allowedips_insert(t, AF_INET, ip4("10.1.2.3"), 16, A) == 0);
	CHECK(allowedips_insert(t, AF_INET, ip4("10.1.2.3"), 32, B) == 0);
	CHECK(allowedips_insert(t, AF_INET6, ip6("fd00::1:2"), 112, A) == 0);
	CHECK(allowedips_insert(t, AF_INET, ip4("0.0.0.0"), 0, A) == 0);
	struct collected c = { 0 };
	allowedips_walk_by_value(t, A, collect, &c);
	CHECK(c.count == 3);
	CHECK(c.family[0] == AF_INET && c.cidr[0] == 0);
	CHECK(c.family[1] == AF_INET && c.cidr[1] == 16 && !memcmp(c.addr[1], ip4("10.1.0.0"), 4));
	CHECK(c.family[2] == AF_INET6 && c.cidr[2] == 112 && !memcmp(c.addr[2], ip6("fd00::1:0"), 16));
	allowedips_remove_by_value(t, A);
	CHECK(allowedips_lookup(t, AF_INET, ip4("10.1.2.3")) == B);
	CHECK(allowedips_lookup(t, AF_INET, ip4("10.1.2.4")) == NULL);
	CHECK(allowedips_lookup(t, AF_INET6, ip6("fd00::1:2")) == NULL);
	memset(&c, 0, sizeof(c));
	allowedips_walk_by_value(t, A, collect, &c);
	CHECK(c.count == 0);
	allowedips_walk_by_value(t, B, collect, &c);
	CHECK(c.count == 1 && c.cidr[0] == 32);
	allowedips_free(t);
}

/* The oracle: a flat list scanned for the longest matching prefix. */
struct naive_entry {
	int family;
	uint8_t addr[16];
	uint8_t cidr;
	void *value;
};

static bool prefix_matches(const uint8_t *prefix, const uint8_t *addr, unsigned cidr)
{
	for (unsigned i = 0; i < cidr; i++) {
		uint8_t m = (uint8_t)(0x80 >> (i % 8));
		if ((prefix[i / 8] & m) != (addr[i / 8] & m))
			return false;
	}
	return true;
}

static void *naive_lookup(const struct naive_entry *e, int n, int family, const uint8_t *addr)
{
	int best = -1;
	for (int i = 0; i < n; i++)
		if (e[i].family == family && prefix_matches(e[i].addr, addr, e[i].cidr) &&
		    (best < 0 || e[i].cidr > e[best].cidr))
			best = i;
	return best < 0 ? NULL : e[best].value;
}

static int naive_find(const struct naive_entry *e, int n, int family, const uint8_t *addr, uint8_t cidr)
{
	for (int i = 0; i < n; i++)
		if (e[i].family == family && e[i].cidr == cidr && prefix_matches(e[i].addr, addr, cidr))
			return i;
	return -1;
}

struct walk_check {
	const struct naive_entry *entries;
	int n, visited, unknown;
	void *value;
};

/* Every walked prefix must be in the oracle, owned by the walked value, with host bits zero. */
static void walk_matches_oracle(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	struct walk_check *w = ctx;
	w->visited++;
	int at = naive_find(w->entries, w->n, family, addr, cidr);
	uint8_t masked[16] = { 0 };
	int len = family == AF_INET ? 4 : 16;
	for (int i = 0; i < cidr; i++)
		masked[i / 8] |= (uint8_t)(addr[i / 8] & (0x80 >> (i % 8)));
	if (at < 0 || w->entries[at].value != w->value || memcmp(masked, addr, (size_t)len) != 0)
		w->unknown++;
}

/* Addresses drawn from a few clustered bases, so prefixes overlap often. */
static void random_addr(int family, uint8_t *addr)
{
	int len = family == AF_INET ? 4 : 16;
	for (int i = 0; i < len; i++)
		addr[i] = (uint8_t)rand();
	addr[0] = (uint8_t)(rand() % 4);
	if (family == AF_INET6)
		addr[1] = (uint8_t)(rand() % 4);
}

#define RANDOM_PREFIXES 4000
#define RANDOM_LOOKUPS 20000
#define RANDOM_VALUES 64

TEST(randomized_against_linear_scan)
{
	static struct naive_entry entries[RANDOM_PREFIXES];
	static int values[RANDOM_VALUES];
	int n = 0;
	srand(20241128);
	struct allowedips *t = allowedips_new();
	for (int i = 0; i < RANDOM_PREFIXES; i++) {
		int family = rand() % 2 ? AF_INET : AF_INET6;
		uint8_t addr[16];
		random_addr(family, addr);
		uint8_t cidr = (uint8_t)(rand() % ((family == AF_INET ? 32 : 128) + 1));
		void *value = &values[rand() % RANDOM_VALUES];
		CHECK(allowedips_insert(t, family, addr, cidr, value) == 0);
		int at = naive_find(entries, n, family, addr, cidr);
		if (at < 0) {
			at = n++;
			entries[at].family = family;
			memcpy(entries[at].addr, addr, 16);
			entries[at].cidr = cidr;
		}
		entries[at].value = value;
	}
	/* Remove a tenth of the prefixes exactly, and every prefix of one value. */
	for (int i = 0; i < n / 10; i++) {
		int at = rand() % n;
		CHECK(allowedips_remove(t, entries[at].family, entries[at].addr, entries[at].cidr,
					entries[at].value) == 0);
		entries[at] = entries[--n];
	}
	allowedips_remove_by_value(t, &values[7]);
	for (int i = 0; i < n; i++)
		if (entries[i].value == &values[7])
			entries[i--] = entries[--n];
	int mismatches = 0, hits = 0;
	for (int i = 0; i < RANDOM_LOOKUPS; i++) {
		int family = rand() % 2 ? AF_INET : AF_INET6;
		uint8_t addr[16];
		random_addr(family, addr);
		if (i % 2) { /* half the lookups start at a stored prefix */
			const struct naive_entry *e = &entries[rand() % n];
			family = e->family;
			memcpy(addr, e->addr, 16);
			addr[rand() % 16] ^= (uint8_t)(1 << (rand() % 8));
		}
		void *expected = naive_lookup(entries, n, family, addr);
		hits += expected != NULL;
		if (allowedips_lookup(t, family, addr) != expected)
			mismatches++;
	}
	CHECK(mismatches == 0);
	CHECK(hits > RANDOM_LOOKUPS / 4); /* the comparison exercised real matches */
	for (int v = 0; v < RANDOM_VALUES; v++) {
		struct walk_check w = { .entries = entries, .n = n, .value = &values[v] };
		allowedips_walk_by_value(t, &values[v], walk_matches_oracle, &w);
		int expected = 0;
		for (int i = 0; i < n; i++)
			expected += entries[i].value == &values[v];
		CHECK(w.visited == expected && w.unknown == 0);
	}
	allowedips_free(t);
}

/* Few distinct addresses and long runs of changes: forks are made and undone constantly. */
TEST(randomized_churn_keeps_matching)
{
	static struct naive_entry entries[512];
	static int values[4];
	int n = 0, mismatches = 0;
	srand(7);
	struct allowedips *t = allowedips_new();
	for (int op = 0; op < 6000; op++) {
		int family = op % 3 ? AF_INET : AF_INET6;
		uint8_t addr[16] = { 0 };
		addr[0] = (uint8_t)(rand() & 0x0f);
		addr[family == AF_INET ? 3 : 15] = (uint8_t)(rand() & 0x03);
		uint8_t cidr = (uint8_t)(rand() % ((family == AF_INET ? 32 : 128) + 1));
		int at = naive_find(entries, n, family, addr, cidr);
		if (rand() % 2 && n < 512) {
			void *value = &values[rand() % 4];
			CHECK(allowedips_insert(t, family, addr, cidr, value) == 0);
			if (at < 0) {
				at = n++;
				entries[at] = (struct naive_entry){ .family = family, .cidr = cidr };
				memcpy(entries[at].addr, addr, 16);
			}
			entries[at].value = value;
		} else if (n > 0) {
			at = rand() % n;
			CHECK(allowedips_remove(t, entries[at].family, entries[at].addr, entries[at].cidr,
						&values[3]) == (entries[at].value == &values[3] ? 0 : -ENOENT));
			if (entries[at].value == &values[3])
				entries[at] = entries[--n];
		}
		if (op % 1000 == 999) {
			allowedips_remove_by_value(t, &values[op % 4]);
			for (int i = 0; i < n; i++)
				if (entries[i].value == &values[op % 4])
					entries[i--] = entries[--n];
		}
		for (int i = 0; i < 8; i++) {
			uint8_t probe[16] = { 0 };
			int pf = rand() % 2 ? AF_INET : AF_INET6;
			probe[0] = (uint8_t)(rand() & 0x0f);
			probe[pf == AF_INET ? 3 : 15] = (uint8_t)(rand() & 0x03);
			if (allowedips_lookup(t, pf, probe) != naive_lookup(entries, n, pf, probe))
				mismatches++;
		}
	}
	CHECK(mismatches == 0);
	for (int v = 0; v < 4; v++)
		allowedips_remove_by_value(t, &values[v]);
	uint8_t zero[16] = { 0 };
	CHECK(allowedips_lookup(t, AF_INET, zero) == NULL && allowedips_lookup(t, AF_INET6, zero) == NULL);
	allowedips_free(t);
}

int main(void)
{
	TEST_BEGIN("allowedips");
	RUN(ipv4_longest_prefix_wins);
	RUN(ipv4_default_route_and_host_bits_masked);
	RUN(ipv6_prefixes_and_host_routes);
	RUN(reinsert_moves_ownership);
	RUN(remove_exact_prefix_only);
	RUN(invalid_arguments_rejected);
	RUN(walk_and_remove_by_value);
	RUN(randomized_against_linear_scan);
	RUN(randomized_churn_keeps_matching);
	TEST_END();
}
