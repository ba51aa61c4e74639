/*
 * Allowed IPs as one binary trie per address family: each level consumes one address bit, so a
 * lookup walks at most 32 (IPv4) or 128 (IPv6) nodes and remembers the last owned prefix it
 * passed, which is the longest match. Nodes that own nothing and lead nowhere are pruned.
 */
#include "overlay/allowedips.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ADDR_MAX_BITS 128

struct node {
	struct node *child[2];
	void *value; /* owner of the prefix ending here; NULL when none */
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

static bool node_is_empty(const struct node *n)
{
	return !n->value && !n->child[0] && !n->child[1];
}

int allowedips_insert(struct allowedips *t, int family, const void *addr, uint8_t cidr, void *value)
{
	unsigned bits = family_bits(family);
	if (!bits || cidr > bits || !value)
		return -EINVAL;
	struct node **slot = family_root(t, family);
	for (unsigned depth = 0;; depth++) {
		if (!*slot) {
			*slot = calloc(1, sizeof(struct node));
			if (!*slot)
				return -ENOMEM; /* empty nodes left behind are harmless and reused */
		}
		if (depth == cidr)
			break;
		slot = &(*slot)->child[addr_bit(addr, depth)];
	}
	(*slot)->value = value;
	return 0;
}

int allowedips_remove(struct allowedips *t, int family, const void *addr, uint8_t cidr, void *value)
{
	unsigned bits = family_bits(family);
	if (!bits || cidr > bits)
		return -ENOENT;
	struct node **path[ADDR_MAX_BITS + 1];
	struct node **slot = family_root(t, family);
	for (unsigned depth = 0;; depth++) {
		if (!*slot)
			return -ENOENT;
		path[depth] = slot;
		if (depth == cidr)
			break;
		slot = &(*slot)->child[addr_bit(addr, depth)];
	}
	if ((*slot)->value != value || !value)
		return -ENOENT;
	(*slot)->value = NULL;
	for (int depth = cidr; depth >= 0 && node_is_empty(*path[depth]); depth--) {
		free(*path[depth]);
		*path[depth] = NULL;
	}
	return 0;
}

/* Drops value's prefixes below n; returns n, or NULL once n has been freed as empty. */
static struct node *prune_value(struct node *n, void *value)
{
	if (!n)
		return NULL;
	n->child[0] = prune_value(n->child[0], value);
	n->child[1] = prune_value(n->child[1], value);
	if (n->value == value)
		n->value = NULL;
	if (node_is_empty(n)) {
		free(n);
		return NULL;
	}
	return n;
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
	for (unsigned depth = 0; n; depth++) {
		if (n->value)
			best = n->value;
		if (depth == bits)
			break;
		n = n->child[addr_bit(addr, depth)];
	}
	return best;
}

struct walk {
	void *value;
	allowedips_walk_fn fn;
	void *ctx;
	int family;
	uint8_t addr[ADDR_MAX_BITS / 8];
};

static void walk_subtree(struct walk *w, const struct node *n, unsigned depth)
{
	if (!n)
		return;
	if (n->value == w->value)
		w->fn(w->ctx, w->family, w->addr, (uint8_t)depth);
	uint8_t mask = (uint8_t)(0x80 >> (depth % 8));
	walk_subtree(w, n->child[0], depth + 1);
	if (n->child[1]) {
		w->addr[depth / 8] |= mask;
		walk_subtree(w, n->child[1], depth + 1);
		w->addr[depth / 8] &= (uint8_t)~mask;
	}
}

void allowedips_walk_by_value(const struct allowedips *t, void *value, allowedips_walk_fn fn, void *ctx)
{
	if (!value)
		return;
	struct walk w = { .value = value, .fn = fn, .ctx = ctx };
	w.family = AF_INET;
	walk_subtree(&w, t->root4, 0);
	w.family = AF_INET6;
	walk_subtree(&w, t->root6, 0);
}
