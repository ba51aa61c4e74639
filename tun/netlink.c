/*
 * rtnetlink requests over libmnl. Each call opens its own socket, sends one request with an ack
 * requested, and returns the kernel's answer as 0 or -errno; set-up is rare, so simplicity wins
 * over keeping a socket around.
 */
#include "tun/netlink.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static size_t family_addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

struct nl_conn {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
};

static int conn_open(struct nl_conn *c)
{
	c->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!c->sock)
		return -errno;
	if (mnl_socket_bind(c->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = -errno;
		mnl_socket_close(c->sock);
		return err;
	}
	c->portid = mnl_socket_get_portid(c->sock);
	c->seq = (uint32_t)time(NULL);
	return 0;
}

/* Sends nlh and reads answers until its ack (or dump end), passing data messages to cb. */
static int conn_transact(struct nl_conn *c, struct nlmsghdr *nlh, mnl_cb_t cb, void *ctx)
{
	nlh->nlmsg_seq = ++c->seq;
	if (mnl_socket_sendto(c->sock, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(c->sock, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		int r = mnl_cb_run(buf, (size_t)n, c->seq, c->portid, cb, ctx);
		if (r == MNL_CB_ERROR)
			return errno ? -errno : -EPROTO;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

/* A request header in buf; the caller appends its family header and attributes. */
static struct nlmsghdr *msg_start(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	return nlh;
}

/* One request with an ack on a fresh socket. */
static int request(struct nlmsghdr *nlh)
{
	struct nl_conn c;
	int err = conn_open(&c);
	if (err)
		return err;
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	err = conn_transact(&c, nlh, NULL, NULL);
	mnl_socket_close(c.sock);
	return err;
}

int nl_link_index(const char *ifname)
{
	if (!ifname || strlen(ifname) >= IFNAMSIZ)
		return -EINVAL;
	unsigned index = if_nametoindex(ifname);
	return index ? (int)index : -ENODEV;
}

/* A link request for ifname: flags under change_mask set to flags, and the MTU when mtu > 0. */
static int link_request(uint16_t type, const char *ifname, unsigned change_mask, unsigned flags, unsigned mtu)
{
	int index = nl_link_index(ifname);
	if (index < 0)
		return index;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, type, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_change = change_mask;
	ifi->ifi_flags = flags;
	if (mtu)
		mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return request(nlh);
}

int nl_link_set_up(const char *ifname, bool up)
{
	return link_request(RTM_NEWLINK, ifname, IFF_UP, up ? IFF_UP : 0, 0);
}

int nl_link_set_mtu(const char *ifname, unsigned mtu)
{
	return mtu ? link_request(RTM_NEWLINK, ifname, 0, 0, mtu) : -EINVAL;
}

int nl_link_delete(const char *ifname)
{
	return link_request(RTM_DELLINK, ifname, 0, 0, 0);
}

static int addr_request(uint16_t type, uint16_t flags, const char *ifname, int family, const void *addr,
			uint8_t prefixlen)
{
	size_t len = family_addr_len(family);
	if (!len || prefixlen > len * 8)
		return -EINVAL;
	int index = nl_link_index(ifname);
	if (index < 0)
		return index;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, type, flags);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_prefixlen = prefixlen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)index;
	/* A tunnel address has no link-layer neighbours to detect duplicates with. */
	if (family == AF_INET6)
		ifa->ifa_flags = IFA_F_NODAD;
	mnl_attr_put(nlh, IFA_LOCAL, len, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, addr);
	return request(nlh);
}

int nl_addr_add(const char *ifname, int family, const void *addr, uint8_t prefixlen)
{
	return addr_request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifname, family, addr, prefixlen);
}

int nl_addr_del(const char *ifname, int family, const void *addr, uint8_t prefixlen)
{
	return addr_request(RTM_DELADDR, 0, ifname, family, addr, prefixlen);
}

struct route_spec {
	uint32_t table;
	int family;
	const void *dst; /* NULL for a default route */
	uint8_t dst_len;
	int oif; /* 0 = any */
	uint32_t metric;
	uint8_t type;
	uint8_t protocol;
};

static void route_put(struct nlmsghdr *nlh, const struct route_spec *r, uint8_t scope)
{
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)r->family;
	rtm->rtm_dst_len = r->dst_len;
	/* Tables above 255 exist only in the RTA_TABLE attribute. */
	rtm->rtm_table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	rtm->rtm_protocol = r->protocol;
	rtm->rtm_scope = scope;
	rtm->rtm_type = r->type;
	mnl_attr_put_u32(nlh, RTA_TABLE, r->table);
	if (r->dst && r->dst_len)
		mnl_attr_put(nlh, RTA_DST, family_addr_len(r->family), r->dst);
	if (r->oif)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)r->oif);
	if (r->metric)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, r->metric);
}

static int route_request(bool add, struct nl_conn *c, const struct route_spec *r)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
	struct nlmsghdr *nlh = msg_start(buf, add ? RTM_NEWROUTE : RTM_DELROUTE, flags);
	/* Deleting with scope "nowhere" matches a route of any scope; a route through a device
	 * reaches its link, one that goes nowhere (a blackhole) is global. */
	route_put(nlh, r, !add ? RT_SCOPE_NOWHERE : r->oif ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE);
	return conn_transact(c, nlh, NULL, NULL);
}

static int route_send(bool add, const struct route_spec *r)
{
	struct nl_conn c;
	int err = conn_open(&c);
	if (err)
		return err;
	err = route_request(add, &c, r);
	mnl_socket_close(c.sock);
	return err;
}

static int route_change(bool add, uint32_t table, int family, const void *dst, uint8_t prefixlen,
			const char *ifname)
{
	size_t len = family_addr_len(family);
	if (!len || prefixlen > len * 8 || !table)
		return -EINVAL;
	int oif = nl_link_index(ifname);
	if (oif < 0)
		return oif;
	struct route_spec r = { .table = table, .family = family, .dst = dst, .dst_len = prefixlen,
				.oif = oif, .type = RTN_UNICAST, .protocol = RTPROT_BOOT };
	return route_send(add, &r);
}

int nl_route_add_blackhole(uint32_t table, int family, uint32_t metric)
{
	if (!family_addr_len(family) || !table)
		return -EINVAL;
	struct route_spec r = { .table = table, .family = family, .metric = metric, .type = RTN_BLACKHOLE,
				.protocol = RTPROT_BOOT };
	return route_send(true, &r);
}

int nl_route_add(uint32_t table, int family, const void *dst, uint8_t prefixlen, const char *ifname)
{
	return route_change(true, table, family, dst, prefixlen, ifname);
}

int nl_route_del(uint32_t table, int family, const void *dst, uint8_t prefixlen, const char *ifname)
{
	return route_change(false, table, family, dst, prefixlen, ifname);
}

struct dumped_route {
	struct route_spec spec;
	uint8_t dst[16];
};

struct route_dump {
	uint32_t table;
	struct dumped_route *routes;
	size_t count, capacity;
	int err;
};

struct route_attrs {
	const struct nlattr *table, *dst, *oif;
};

static int route_attr_cb(const struct nlattr *attr, void *data)
{
	struct route_attrs *a = data;
	switch (mnl_attr_get_type(attr)) {
	case RTA_TABLE:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			a->table = attr;
		break;
	case RTA_DST:
		a->dst = attr;
		break;
	case RTA_OIF:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			a->oif = attr;
		break;
	}
	return MNL_CB_OK;
}

/* Keeps each dumped route of the wanted table; they are deleted once the dump is over. */
static int route_dump_cb(const struct nlmsghdr *nlh, void *data)
{
	struct route_dump *d = data;
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct route_attrs a = { 0 };
	if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, &a) < 0)
		return MNL_CB_OK;
	uint32_t table = a.table ? mnl_attr_get_u32(a.table) : rtm->rtm_table;
	size_t len = family_addr_len(rtm->rtm_family);
	if (table != d->table || !len)
		return MNL_CB_OK;
	if (d->count == d->capacity) {
		size_t cap = d->capacity ? d->capacity * 2 : 16;
		struct dumped_route *grown = realloc(d->routes, cap * sizeof(*grown));
		if (!grown) {
			d->err = -ENOMEM;
			return MNL_CB_OK;
		}
		d->routes = grown;
		d->capacity = cap;
	}
	struct dumped_route *r = &d->routes[d->count++];
	memset(r, 0, sizeof(*r));
	if (a.dst && mnl_attr_get_payload_len(a.dst) == len)
		memcpy(r->dst, mnl_attr_get_payload(a.dst), len);
	r->spec = (struct route_spec){ .table = table, .family = rtm->rtm_family, .dst = NULL,
				       .dst_len = rtm->rtm_dst_len,
				       .oif = a.oif ? (int)mnl_attr_get_u32(a.oif) : 0,
				       .type = rtm->rtm_type, .protocol = rtm->rtm_protocol };
	return MNL_CB_OK;
}

int nl_route_flush_table(uint32_t table, int family)
{
	if (!table || (family != AF_UNSPEC && !family_addr_len(family)))
		return -EINVAL;
	struct nl_conn c;
	int err = conn_open(&c);
	if (err)
		return err;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	struct route_dump d = { .table = table };
	err = conn_transact(&c, nlh, route_dump_cb, &d);
	if (!err)
		err = d.err;
	for (size_t i = 0; !err && i < d.count; i++) {
		d.routes[i].spec.dst = d.routes[i].dst;
		err = route_request(false, &c, &d.routes[i].spec);
		if (err == -ESRCH) /* already gone with an earlier one */
			err = 0;
	}
	free(d.routes);
	mnl_socket_close(c.sock);
	return err;
}

static int rule_request(uint16_t type, uint16_t flags, const struct nl_rule *r)
{
	if (!family_addr_len(r->family) || !r->table || (r->iifname && strlen(r->iifname) >= IFNAMSIZ))
		return -EINVAL;
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = msg_start(buf, type, flags);
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = (uint8_t)r->family;
	frh->table = r->table < 256 ? (uint8_t)r->table : RT_TABLE_UNSPEC;
	frh->action = FR_ACT_TO_TBL;
	mnl_attr_put_u32(nlh, FRA_TABLE, r->table);
	if (r->fwmark || r->fwmask)
		mnl_attr_put_u32(nlh, FRA_FWMARK, r->fwmark);
	if (r->fwmask)
		mnl_attr_put_u32(nlh, FRA_FWMASK, r->fwmask);
	if (r->priority)
		mnl_attr_put_u32(nlh, FRA_PRIORITY, r->priority);
	if (r->iifname)
		mnl_attr_put_strz(nlh, FRA_IIFNAME, r->iifname);
	return request(nlh);
}

int nl_rule_add(const struct nl_rule *r)
{
	return rule_request(RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, r);
}

int nl_rule_del(const struct nl_rule *r)
{
	return rule_request(RTM_DELRULE, 0, r);
}
