/*
 * The nftables ruleset that steers configured traffic into the overlay and keeps plaintext away
 * from protected ports. One table, "inet tngwg_<ifname>", owned by tng-wg and replaced atomically
 * (one libnftables transaction deletes any stale copy and adds the new one). Marks: the bypass
 * mark (so_mark) exempts tng-wg's own sockets; the steering mark (overlay.fwmark) routes a packet
 * into the overlay interface through the rule set up by routing.h.
 *
 * An `ipset` in capture_dst names an nftables set declared in this table (type ipv4_addr, flags
 * interval), filled with `nft add element inet tngwg_<ifname> <name> { ... }`; re-applying the
 * ruleset keeps its elements.
 */
#ifndef TNGWG_POLICY_STEERING_H
#define TNGWG_POLICY_STEERING_H

#include "policy/config.h"

#include <stddef.h>

/* The ruleset as nft text (the table definition only); malloc'd, NULL on allocation failure. */
char *steering_ruleset_text(const struct node_config *cfg);

/* Replace the table atomically. 0, or -1 with a message. */
int steering_apply(const struct node_config *cfg, char *err, size_t errlen);

/* Delete the table if present. 0, or -1 with a message. */
int steering_remove(const char *ifname, char *err, size_t errlen);

#endif
