/* rtnetlink over libmnl: links, addresses, routes and policy-routing rules. All return 0 or -errno. */
#ifndef TNGWG_TUN_NETLINK_H
#define TNGWG_TUN_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

int nl_link_index(const char *ifname); /* > 0, or -errno */
int nl_link_set_up(const char *ifname, bool up);
int nl_link_set_mtu(const char *ifname, unsigned mtu);
int nl_link_delete(const char *ifname);

/* addr in network order (4 or 16 bytes by family). */
int nl_addr_add(const char *ifname, int family, const void *addr, uint8_t prefixlen);
int nl_addr_del(const char *ifname, int family, const void *addr, uint8_t prefixlen);

/* A unicast route dst/prefixlen dev ifname in table (prefixlen 0 = default). */
int nl_route_add(uint32_t table, int family, const void *dst, uint8_t prefixlen, const char *ifname);
int nl_route_del(uint32_t table, int family, const void *dst, uint8_t prefixlen, const char *ifname);
/* A default route in table that drops what it carries, at metric (a lower metric wins, so it
 * serves when the table's other default routes are gone, e.g. with their device). */
int nl_route_add_blackhole(uint32_t table, int family, uint32_t metric);
int nl_route_flush_table(uint32_t table, int family);

/* "[iif iifname] [fwmark mark/mask] lookup table" at priority (0 = kernel's choice, just before
 * the rules added earlier). */
struct nl_rule {
	int family;
	uint32_t priority, fwmark, fwmask, table;
	const char *iifname; /* NULL: any */
};
int nl_rule_add(const struct nl_rule *r);
int nl_rule_del(const struct nl_rule *r);

#endif
