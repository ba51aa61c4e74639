/*
 * Allowed IPs as one path-compressed binary trie per address family. Each node holds a whole
 * prefix (address bits and length); a node's children extend its prefix and are chosen by the
 * first bit past it, so chains of single-child nodes never exist and a lookup visits only the
 * points where stored prefixes branch. Nodes without a value exist only where two subtrees fork.
 */
#include "overlay/allowedips.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ADDR_MAX_BYTES 16
#define ADDR_MAX_BITS (ADDR_MAX_BYTES * 8)

struct node {
	struct node *child[2];
	void *value; /* owner of this prefix; NULL for a fork-only node */
	uint8_t bits[ADDR_MAX_BYTES]; /* the prefix, host bits zero */
	uint8_t cidr;
};

struct allowedips {
	struct node *root4;
	struct node *root6;
};

struct allowedips *allowedips_new(void)
{
	return calloc(1, sizeof(struct allowedips));
}

static void free_subtree(struct node *n)
{
	if (!n)
		return;
	free_subtree(n->child[0]);
	free_subtree(n->child[1]);
	free(n);
}

void allowedips_free(struct allowedips *t)
{
	if (!t)
		return;
	free_subtree(t->root4);
	free_subtree(t->root6);
	free(t);
}

static unsigned family_bits(int family)
{
	return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

static struct node **family_root(struct allowedips *t, int family)
{
	return family == AF_INET ? &t->root4 : &t->root6;
}

static unsigned addr_bit(const uint8_t *addr, unsigned i)
{
	return (addr[i / 8] >> (7 - i % 8)) & 1;
}

/* The number of leading bits a and b share, at most limit. */
static unsigned common_bits(const uint8_t *a, const uint8_t *b, unsigned limit)
{
	unsigned i = 0;
	while (i + 8 <= limit && a[i / 8] == b[i / 8])
		i += 8;
	while (i < limit && addr_bit(a, i) == addr_bit(b, i))
		i++;
	return i;
}

static bool prefix_contains(const struct node *n, const uint8_t *addr)
{
	return common_bits(n->bits, addr, n->cidr) == n->cidr;
}

static struct node *node_new(const uint8_t *addr, unsigned bytes, uint8_t cidr, void *value)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	memcpy(n->bits, addr, bytes);
	for (unsigned i = cidr; i < bytes * 8; i++)
		n->bits[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
	n->cidr = cidr;
	n->value = value;
	return n;
}

/* A node left without a value is needed only where it forks; otherwise its one child (or nothing)
 * takes its place. Returns what now stands in its slot. */
static struct node *compact(struct node *n)
{
	if (n->value || (n->child[0] && n->child[1]))
		return n;
	struct node *only = n->child[0] ? n->child[0] : n->child[1];
	free(n);
	return only;
}

int allowedips_insert(struct allowedips *t, int family, const void *addr, uint8_t cidr, void *value)
{
	unsigned bits = family_bits(family);
	if (!bits || cidr > bits || !value)
		return -EINVAL;
	struct node *fresh = node_new(addr, bits / 8, cidr, value);
	if (!fresh)
		return -ENOMEM;
	struct node **slot = family_root(t, family);
	while (*slot) {
		struct node *n = *slot;
		unsigned common = common_bits(n->bits, fresh->bits, n->cidr < cidr ? n->cidr : cidr);
		if (common == n->cidr && n->cidr == cidr) { /* the same prefix: it changes owner */
			n->value = value;
			free(fresh);
			return 0;
		}
		if (common == n->cidr) { /* n contains the new prefix: go down */
			slot = &n->child[addr_bit(fresh->bits, n->cidr)];
			continue;
		}
		if (common == cidr) { /* the new prefix contains n: it goes above */
			fresh->child[addr_bit(n->bits, cidr)] = n;
			*slot = fresh;
			return 0;
		}
		/* They part at bit common: a fork node holds both. */
		struct node *fork = node_new(fresh->bits, bits / 8, (uint8_t)common, NULL);
		if (!fork) {
			free(fresh);
			return -ENOMEM;
		}
		fork->child[addr_bit(fresh->bits, common)] = fresh;
		fork->child[addr_bit(n->bits, common)] = n;
		*slot = fork;
		return 0;
	}
	*slot = fresh;
	return 0;
}

int allowedips_remove(struct allowedips *t, int family, const void *addr, uint8_t cidr, void *value)
{
	unsigned bits = family_bits(family);
	if (!bits || cidr > bits || !value)
		return -ENOENT;
	struct node *probe = node_new(addr, bits / 8, cidr, NULL); /* addr with host bits cleared */
	if (!probe)
		return -ENOMEM;
	struct node **path[ADDR_MAX_BITS + 2];
	int depth = 0;
	struct node **slot = family_root(t, family);
	while (*slot && (*slot)->cidr < cidr && prefix_contains(*slot, probe->bits)) {
		path[depth++] = slot;
		slot = &(*slot)->child[addr_bit(probe->bits, (*slot)->cidr)];
	}
	struct node *n = *slot;
	bool found = n && n->cidr == cidr && prefix_contains(n, probe->bits) && n->value == value;
	free(probe);
	if (!found)
		return -ENOENT;
	n->value = NULL;
	*slot = compact(n);
	/* Only the parent can have become a fork with a single branch. */
	if (depth > 0)
		*path[depth - 1] = compact(*path[depth - 1]);
	return 0;
}

/* Drops value's prefixes below n; returns what now stands in n's slot. */
static struct node *prune_value(struct node *n, void *value)
{
	if (!n)
		return NULL;
	n->child[0] = prune_value(n->child[0], value);
	n->child[1] = prune_value(n->child[1], value);
	if (n->value == value)
		n->value = NULL;
	return compact(n);
}

void allowedips_remove_by_value(struct allowedips *t, void *value)
{
	if (!value)
		return;
	t->root4 = prune_value(t->root4, value);
	t->root6 = prune_value(t->root6, value);
}

void *allowedips_lookup(const struct allowedips *t, int family, const void *addr)
{
	unsigned bits = family_bits(family);
	if (!bits)
		return NULL;
	const struct node *n = family == AF_INET ? t->root4 : t->root6;
	void *best = NULL;
	while (n && prefix_contains(n, addr)) {
		if (n->value)
			best = n->value;
		if (n->cidr == bits)
			break;
		n = n->child[addr_bit(addr, n->cidr)];
	}
	return best;
}

static void walk_subtree(const struct node *n, int family, void *value, allowedips_walk_fn fn, void *ctx)
{
	if (!n)
		return;
	if (n->value == value)
		fn(ctx, family, n->bits, n->cidr);
	walk_subtree(n->child[0], family, value, fn, ctx);
	walk_subtree(n->child[1], family, value, fn, ctx);
}

void allowedips_walk_by_value(const struct allowedips *t, void *value, allowedips_walk_fn fn, void *ctx)
{
	if (!value)
		return;
	walk_subtree(t->root4, AF_INET, value, fn, ctx);
	walk_subtree(t->root6, AF_INET6, value, fn, ctx);
}
