#include "policy/routing.h"
#include "tun/netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

/* The overlay interface's sysctls we change; the kernel ORs src_valid_mark and takes the larger
 * rp_filter of "all" and the interface, so the interface's own values are enough. */
static const struct {
	const char *name;
	int value;
} overlay_sysctls[] = {
	{ "src_valid_mark", 1 }, /* reverse-path lookups use the steering mark set on input */
	{ "rp_filter", 2 },      /* loose: the peer's address is routed via the underlay */
};
#define N_SYSCTLS (sizeof(overlay_sysctls) / sizeof(overlay_sysctls[0]))

static void sysctl_path(char *out, size_t len, const char *ifname, const char *name)
{
	snprintf(out, len, "/proc/sys/net/ipv4/conf/%s/%s", ifname, name);
}

static int sysctl_read(const char *ifname, const char *name, int *value)
{
	char path[PATH_MAX];
	sysctl_path(path, sizeof(path), ifname, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	int rc = fscanf(f, "%d", value) == 1 ? 0 : -EINVAL;
	fclose(f);
	return rc;
}

static int sysctl_write(const char *ifname, const char *name, int value)
{
	char path[PATH_MAX];
	sysctl_path(path, sizeof(path), ifname, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	int rc = fprintf(f, "%d\n", value) > 0 ? 0 : -EIO;
	if (fclose(f) != 0 && !rc)
		rc = -errno;
	return rc;
}

static void state_path(char *out, size_t len, const char *state_dir, const char *ifname)
{
	snprintf(out, len, "%s/%s.sysctl", state_dir, ifname);
}

/* Writes "name value" lines of the current values, unless a saved state exists already (a
 * re-apply must keep the values from before the first apply). */
static int save_sysctls(const char *ifname, const char *state_dir, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	state_path(path, sizeof(path), state_dir, ifname);
	if (access(path, F_OK) == 0)
		return 0;
	if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "routing: cannot create %s: %s", state_dir, strerror(errno));
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f) {
		snprintf(err, errlen, "routing: cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < N_SYSCTLS; i++) {
		int v, rc = sysctl_read(ifname, overlay_sysctls[i].name, &v);
		if (rc) {
			fclose(f);
			unlink(tmp);
			snprintf(err, errlen, "routing: cannot read net.ipv4.conf.%s.%s: %s", ifname,
				 overlay_sysctls[i].name, strerror(-rc));
			return -1;
		}
		fprintf(f, "%s %d\n", overlay_sysctls[i].name, v);
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		snprintf(err, errlen, "routing: cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Restores what save_sysctls wrote; the interface may be gone already, which is fine. */
static int restore_sysctls(const char *ifname, const char *state_dir, char *err, size_t errlen)
{
	char path[PATH_MAX], name[32];
	state_path(path, sizeof(path), state_dir, ifname);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	int value, rc = 0;
	bool present = nl_link_index(ifname) > 0;
	while (fscanf(f, "%31s %d", name, &value) == 2) {
		bool known = false;
		for (size_t i = 0; i < N_SYSCTLS; i++)
			known |= !strcmp(name, overlay_sysctls[i].name);
		if (known && present && (rc = sysctl_write(ifname, name, value)) != 0) {
			snprintf(err, errlen, "routing: cannot restore net.ipv4.conf.%s.%s: %s", ifname,
				 name, strerror(-rc));
			break;
		}
	}
	fclose(f);
	if (!rc)
		unlink(path);
	return rc ? -1 : 0;
}

/*
 * Two rules: "fwmark M lookup T" sends steered packets into the overlay (T holds "default dev
 * ifname"); and, consulted first, "iif ifname fwmark M lookup main": packets from the overlay
 * carry M too, only so that the reverse-path check (a lookup made as from the loopback device,
 * so not matching the iif rule) finds the overlay route, while they themselves are routed as
 * usual, to this host or, when published by DNAT, on to a container.
 */
static void overlay_rules(const struct overlay_config *o, struct nl_rule *steer, struct nl_rule *arrived)
{
	*steer = (struct nl_rule){ .family = AF_INET, .fwmark = o->fwmark, .fwmask = UINT32_MAX, .table = o->table };
	*arrived = *steer;
	arrived->table = RT_TABLE_MAIN;
	arrived->iifname = o->ifname;
}

/* Deletes every copy of the rules (a kernel-chosen priority makes each add a new rule). */
static int delete_rules(const struct overlay_config *o, char *err, size_t errlen)
{
	struct nl_rule rules[2];
	overlay_rules(o, &rules[0], &rules[1]);
	for (int i = 0; i < 2; i++) {
		int rc;
		while ((rc = nl_rule_del(&rules[i])) == 0)
			;
		if (rc != -ENOENT && rc != -ESRCH) {
			snprintf(err, errlen, "routing: delete rule %sfwmark %u lookup %u: %s", i ? "iif " : "",
				 o->fwmark, rules[i].table, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

int routing_apply(const struct node_config *cfg, const char *state_dir, char *err, size_t errlen)
{
	const struct overlay_config *o = &cfg->overlay;
	int rc = nl_link_index(o->ifname);
	if (rc < 0) {
		snprintf(err, errlen, "routing: interface %s: %s", o->ifname, strerror(-rc));
		return -1;
	}
	if (save_sysctls(o->ifname, state_dir, err, errlen))
		return -1;
	for (size_t i = 0; i < N_SYSCTLS; i++)
		if ((rc = sysctl_write(o->ifname, overlay_sysctls[i].name, overlay_sysctls[i].value))) {
			snprintf(err, errlen, "routing: cannot set net.ipv4.conf.%s.%s: %s", o->ifname,
				 overlay_sysctls[i].name, strerror(-rc));
			return -1;
		}
	struct in_addr any = { 0 };
	rc = nl_route_add(o->table, AF_INET, &any, 0, o->ifname);
	if (rc && rc != -EEXIST) {
		snprintf(err, errlen, "routing: default dev %s table %u: %s", o->ifname, o->table,
			 strerror(-rc));
		return -1;
	}
	/* Fail closed: when the overlay interface is gone (the daemon killed or crashed, its rule
	 * left behind), steered packets meet this route instead of falling through to the main
	 * table and leaving in plaintext. */
	rc = nl_route_add_blackhole(o->table, AF_INET, UINT32_MAX);
	if (rc && rc != -EEXIST) {
		snprintf(err, errlen, "routing: blackhole default table %u: %s", o->table, strerror(-rc));
		return -1;
	}
	if (delete_rules(o, err, errlen))
		return -1;
	struct nl_rule steer, arrived;
	overlay_rules(o, &steer, &arrived);
	/* In this order: a rule added later is consulted earlier. */
	if ((rc = nl_rule_add(&steer)) || (rc = nl_rule_add(&arrived))) {
		snprintf(err, errlen, "routing: rules for fwmark %u: %s", o->fwmark, strerror(-rc));
		return -1;
	}
	return 0;
}

int routing_remove(const struct node_config *cfg, const char *state_dir, char *err, size_t errlen)
{
	const struct overlay_config *o = &cfg->overlay;
	if (delete_rules(o, err, errlen))
		return -1;
	int rc = nl_route_flush_table(o->table, AF_INET);
	if (rc && rc != -ENOENT && rc != -ESRCH) {
		snprintf(err, errlen, "routing: flush table %u: %s", o->table, strerror(-rc));
		return -1;
	}
	return restore_sysctls(o->ifname, state_dir, err, errlen);
}
