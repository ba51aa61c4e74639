/* Allowed IPs: a longest-prefix-match trie per address family mapping prefixes to peers. */
#ifndef TNGWG_OVERLAY_ALLOWEDIPS_H
#define TNGWG_OVERLAY_ALLOWEDIPS_H

#include <stddef.h>
#include <stdint.h>

struct allowedips;

struct allowedips *allowedips_new(void);
void allowedips_free(struct allowedips *t);

/* family is AF_INET (addr: 4 bytes) or AF_INET6 (16 bytes), network order; host bits beyond cidr
 * are ignored. Inserting an existing prefix moves it to value. Returns 0 or -errno. */
int allowedips_insert(struct allowedips *t, int family, const void *addr, uint8_t cidr, void *value);
/* Remove one exact prefix if value owns it; returns 0 or -ENOENT. */
int allowedips_remove(struct allowedips *t, int family, const void *addr, uint8_t cidr, void *value);
void allowedips_remove_by_value(struct allowedips *t, void *value);
/* The value of the longest matching prefix, or NULL. */
void *allowedips_lookup(const struct allowedips *t, int family, const void *addr);

typedef void (*allowedips_walk_fn)(void *ctx, int family, const uint8_t *addr, uint8_t cidr);
/* Visit every prefix owned by value (addr in network order, host bits zero). */
void allowedips_walk_by_value(const struct allowedips *t, void *value, allowedips_walk_fn fn, void *ctx);

#endif
