/*
 * Rules (IPv4, TCP and UDP, like TNG's netfilter mode), M = steering mark, B = bypass mark:
 *  output      B: return (tng-wg's own sockets). ct mark M: set M (connections through the
 *              overlay, both ways). Replies of other connections and non-unicast/local
 *              destinations: return. An ingress capture_dst: set M and ct mark M. IPv6 to a
 *              port-only ingress capture: reject (the overlay is IPv4; fail closed, not plaintext).
 *  prerouting  (before DNAT) from the overlay: ct mark M on new connections, meta mark M on every
 *              packet (for the reverse-path check; routing.c's iif rule routes them as usual). To this host: see
 *              plaintext_in. Routed through this host (containers, pods): packets of overlay
 *              connections get M; an ingress capture gets M and ct mark M, so it is routed into
 *              the overlay like this host's own traffic; IPv6 to a port-only capture is dropped.
 *  plaintext_in  packets of an overlay connection that do not come through the overlay (a spoofed
 *              reply) are dropped; replies of other connections and the overlay port pass; an
 *              egress capture is dropped unless it comes over loopback and capture_local_traffic
 *              is false. Being before DNAT, this also covers services published by DNAT.
 *  input       from the overlay: replies of connections this node opened through the overlay and
 *              packets to egress captures pass, the rest is dropped.
 *  forward     from the overlay: replies of connections steered into it and connections to an
 *              egress capture published by DNAT pass; nothing else is routed on.
 *  postrouting TCP MSS clamped to the route MTU on the overlay interface; routed traffic entering
 *              the overlay is masqueraded to this host (the peers know it by its address).
 */
#include "policy/steering.h"
#include "policy/roles.h"

#include <arpa/inet.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L4 "meta l4proto { tcp, udp }"

/* "tngwg_<ifname>" into buf (at least 32 bytes). */
static void steering_table_name(const char *ifname, char *buf, size_t len)
{
	snprintf(buf, len, "tngwg_%s", ifname);
}

/* Where a match looks: the packet itself, or its connection's original direction (before DNAT). */
struct match_fields {
	const char *daddr, *dport;
};
static const struct match_fields packet_fields = { "ip daddr", "th dport" };
static const struct match_fields original_fields = { "ct original ip daddr", "ct original proto-dst" };

/* The match of one capture_dst, e.g. "ip daddr 10.0.0.0/24 meta l4proto { tcp, udp } th dport 9001". */
static void format_match_on(char *out, size_t len, const struct capture_dst *c, const struct match_fields *f)
{
	char addr[INET_ADDRSTRLEN] = "", dst[80] = "", ports[48] = "";
	if (c->has_host) {
		inet_ntop(AF_INET, &c->host_addr, addr, sizeof(addr));
		snprintf(dst, sizeof(dst), "%s %s/%u ", f->daddr, addr, c->host_prefix);
	} else if (c->ipset) {
		snprintf(dst, sizeof(dst), "%s @%s ", f->daddr, c->ipset);
	}
	if (c->has_port && c->port_end != c->port)
		snprintf(ports, sizeof(ports), " %s %u-%u", f->dport, c->port, c->port_end);
	else if (c->has_port)
		snprintf(ports, sizeof(ports), " %s %u", f->dport, c->port);
	snprintf(out, len, "%s" L4 "%s", dst, ports);
}

static void dst_comment(char *out, size_t len, const struct entry *e, size_t i)
{
	char path[64];
	roles_entry_path(path, e);
	snprintf(out, len, "%s.netfilter.capture_dst[%zu]", path, i);
}

/* Calls fn for every capture_dst of the entries of one kind. */
typedef void (*dst_fn)(FILE *out, const struct node_config *cfg, const struct entry *e,
		       const struct capture_dst *c, const char *match, const char *comment);

static void for_each_dst(FILE *out, const struct node_config *cfg, enum entry_kind kind, dst_fn fn)
{
	for (size_t i = 0; i < cfg->n_entries; i++) {
		const struct entry *e = &cfg->entries[i];
		if (e->kind != kind)
			continue;
		for (size_t j = 0; j < e->n_dsts; j++) {
			char match[160], comment[128];
			format_match_on(match, sizeof(match), &e->dsts[j], &packet_fields);
			dst_comment(comment, sizeof(comment), e, j);
			fn(out, cfg, e, &e->dsts[j], match, comment);
		}
	}
}

static void ingress_steer(FILE *out, const struct node_config *cfg, const struct entry *e,
			  const struct capture_dst *c, const char *match, const char *comment)
{
	/* A port-only match covers both families; only IPv4 can go through the overlay. */
	const char *family = c->has_host || c->ipset ? "" : "meta nfproto ipv4 ";
	uint32_t m = cfg->overlay.fwmark;
	fprintf(out, "\t\t%s%s meta mark set %u ct mark set %u counter comment \"%s\"\n", family, match,
		m, m, comment);
}

static void ingress_ipv6_reject(FILE *out, const struct node_config *cfg, const struct entry *e,
				const struct capture_dst *c, const char *match, const char *comment)
{
	if (!c->has_host && !c->ipset)
		fprintf(out, "\t\tmeta nfproto ipv6 %s counter reject comment \"%s: IPv6\"\n", match,
			comment);
}

/* Routed traffic is not this host's to answer: an IPv6 packet to a protected port is dropped. */
static void ingress_ipv6_drop(FILE *out, const struct node_config *cfg, const struct entry *e,
			      const struct capture_dst *c, const char *match, const char *comment)
{
	if (!c->has_host && !c->ipset)
		fprintf(out, "\t\tmeta nfproto ipv6 %s counter drop comment \"%s: IPv6\"\n", match, comment);
}

static void egress_accept_published(FILE *out, const struct node_config *cfg, const struct entry *e,
				    const struct capture_dst *c, const char *match, const char *comment)
{
	char original[200];
	format_match_on(original, sizeof(original), c, &original_fields);
	fprintf(out, "\t\tct status dnat %s counter accept comment \"%s: published by DNAT\"\n", original,
		comment);
}

static void egress_accept(FILE *out, const struct node_config *cfg, const struct entry *e,
			  const struct capture_dst *c, const char *match, const char *comment)
{
	fprintf(out, "\t\t%s counter accept comment \"%s\"\n", match, comment);
}

static void egress_drop_plaintext(FILE *out, const struct node_config *cfg, const struct entry *e,
				  const struct capture_dst *c, const char *match, const char *comment)
{
	fprintf(out, "\t\t%s%s counter drop comment \"%s: plaintext\"\n",
		e->capture_local_traffic ? "" : "iifname != \"lo\" ", match, comment);
}

static bool ipset_named_before(const struct node_config *cfg, size_t entry, size_t dst,
			       const char *name)
{
	for (size_t k = 0; k <= entry; k++)
		for (size_t l = 0; l < cfg->entries[k].n_dsts && (k < entry || l < dst); l++) {
			const char *other = cfg->entries[k].dsts[l].ipset;
			if (other && !strcmp(other, name))
				return true;
		}
	return false;
}

/* Calls fn once for each distinct ipset name, in order of first use. */
typedef void (*set_fn)(FILE *out, const char *table, const char *name);

static void for_each_set(FILE *out, const struct node_config *cfg, const char *table, set_fn fn)
{
	for (size_t i = 0; i < cfg->n_entries; i++)
		for (size_t j = 0; j < cfg->entries[i].n_dsts; j++) {
			const char *name = cfg->entries[i].dsts[j].ipset;
			if (name && !ipset_named_before(cfg, i, j, name))
				fn(out, table, name);
		}
}

static void declare_set(FILE *out, const char *table, const char *name)
{
	fprintf(out, "\tset %s {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t}\n", name);
}

static void write_ruleset(FILE *out, const struct node_config *cfg)
{
	const char *ifname = cfg->overlay.ifname;
	uint32_t m = cfg->overlay.fwmark;
	char table[32];
	steering_table_name(ifname, table, sizeof(table));
	fprintf(out, "table inet %s {\n", table);
	for_each_set(out, cfg, table, declare_set);

	fprintf(out, "\tchain output {\n\t\ttype route hook output priority mangle; policy accept;\n");
	fprintf(out, "\t\tmeta mark %u return comment \"bypass: tng-wg's own sockets\"\n", cfg->bypass_mark);
	fprintf(out, "\t\tct mark %u meta mark set %u return comment \"connections through the overlay\"\n", m, m);
	fprintf(out, "\t\tct direction reply return\n");
	fprintf(out, "\t\tfib daddr type != unicast return\n");
	for_each_dst(out, cfg, ENTRY_INGRESS, ingress_steer);
	for_each_dst(out, cfg, ENTRY_INGRESS, ingress_ipv6_reject);
	fprintf(out, "\t}\n");

	fprintf(out, "\tchain prerouting {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n");
	fprintf(out, "\t\tiifname \"%s\" ct direction original ct mark set %u\n", ifname, m);
	/* For the reverse-path check only (see routing.c): the interface has no address. */
	fprintf(out, "\t\tiifname \"%s\" meta mark set %u return comment \"from the overlay\"\n", ifname, m);
	fprintf(out, "\t\tfib daddr type local jump plaintext_in\n");
	fprintf(out, "\t\tct mark %u meta mark set %u return comment \"routed connections through the overlay\"\n", m, m);
	fprintf(out, "\t\tct direction reply return\n");
	fprintf(out, "\t\tfib daddr type != unicast return\n");
	for_each_dst(out, cfg, ENTRY_INGRESS, ingress_steer);
	for_each_dst(out, cfg, ENTRY_INGRESS, ingress_ipv6_drop);
	fprintf(out, "\t}\n");

	fprintf(out, "\tchain plaintext_in {\n");
	fprintf(out, "\t\tct mark %u counter drop comment \"an overlay connection arriving outside the overlay\"\n", m);
	fprintf(out, "\t\tct direction reply return\n");
	fprintf(out, "\t\t" L4 " th dport %u return comment \"the overlay's own port\"\n", cfg->overlay.port);
	for_each_dst(out, cfg, ENTRY_EGRESS, egress_drop_plaintext);
	fprintf(out, "\t}\n");

	fprintf(out, "\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n");
	fprintf(out, "\t\tiifname \"%s\" jump from_overlay\n", ifname);
	fprintf(out, "\t}\n");

	fprintf(out, "\tchain from_overlay {\n");
	fprintf(out, "\t\tct direction reply ct mark %u accept comment \"replies to this node's connections\"\n", m);
	for_each_dst(out, cfg, ENTRY_EGRESS, egress_accept);
	fprintf(out, "\t\tcounter drop comment \"from the overlay to a port no egress entry names\"\n");
	fprintf(out, "\t}\n");

	fprintf(out, "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
	fprintf(out, "\t\tiifname \"%s\" jump from_overlay_routed\n", ifname);
	fprintf(out, "\t}\n");

	fprintf(out, "\tchain from_overlay_routed {\n");
	fprintf(out, "\t\tct direction reply ct mark %u accept comment \"replies to connections routed into the overlay\"\n", m);
	for_each_dst(out, cfg, ENTRY_EGRESS, egress_accept_published);
	fprintf(out, "\t\tcounter drop comment \"from the overlay, not routed on\"\n");
	fprintf(out, "\t}\n");

	fprintf(out, "\tchain srcnat {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
	fprintf(out, "\t\toifname \"%s\" ct direction original fib saddr type != local masquerade comment "
		     "\"routed traffic enters the overlay as this host\"\n", ifname);
	fprintf(out, "\t}\n");

	fprintf(out, "\tchain postrouting {\n\t\ttype filter hook postrouting priority mangle; policy accept;\n");
	fprintf(out, "\t\toifname \"%s\" tcp flags & (syn | rst) == syn tcp option maxseg size set rt mtu\n", ifname);
	fprintf(out, "\t}\n}\n");
}

/* Runs nft commands as one transaction. On success *output (if given) gets nft's output
 * (malloc'd); on failure err gets nft's message. */
static int run_nft(const char *commands, char **output, char *err, size_t errlen)
{
	struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!ctx) {
		snprintf(err, errlen, "nftables: cannot create a context");
		return -1;
	}
	nft_ctx_buffer_output(ctx);
	nft_ctx_buffer_error(ctx);
	int rc = nft_run_cmd_from_buffer(ctx, commands);
	if (rc != 0) {
		const char *msg = nft_ctx_get_error_buffer(ctx);
		snprintf(err, errlen, "nftables: %s", msg && *msg ? msg : "command failed");
		size_t n = strlen(err);
		while (n && err[n - 1] == '\n')
			err[--n] = '\0';
	} else if (output) {
		*output = strdup(nft_ctx_get_output_buffer(ctx));
		rc = *output ? 0 : -1;
		if (rc)
			snprintf(err, errlen, "nftables: out of memory");
	}
	nft_ctx_free(ctx);
	return rc ? -1 : 0;
}

/* Appends "add element" for the elements the set `name` holds now, if the table has it, so
 * that replacing the table keeps what the user put into the set. */
static void write_kept_elements(FILE *out, const char *table, const char *name)
{
	char command[160], ignored[256], *listing = NULL;
	snprintf(command, sizeof(command), "list set inet %s %s\n", table, name);
	if (run_nft(command, &listing, ignored, sizeof(ignored)) != 0)
		return; /* no such table or set yet */
	const char *start = strstr(listing, "elements = {");
	const char *end = start ? strchr(start, '}') : NULL;
	if (start && end) {
		start += strlen("elements = {");
		fprintf(out, "add element inet %s %s { %.*s }\n", table, name, (int)(end - start), start);
	}
	free(listing);
}
/* Deletes the table whether or not it exists. */
#define DELETE_TABLE "table inet %s\ndelete table inet %s\n"

/* The ruleset; with `replace`, as one transaction that also deletes a stale table and refills
 * the sets with the elements they hold now. NULL when out of memory. */
static char *compose(const struct node_config *cfg, bool replace)
{
	char table[32], *text = NULL;
	size_t len = 0;
	steering_table_name(cfg->overlay.ifname, table, sizeof(table));
	FILE *out = open_memstream(&text, &len);
	if (!out)
		return NULL;
	if (replace)
		fprintf(out, DELETE_TABLE, table, table);
	write_ruleset(out, cfg);
	if (replace)
		for_each_set(out, cfg, table, write_kept_elements);
	if (fclose(out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

char *steering_ruleset_text(const struct node_config *cfg)
{
	return compose(cfg, false);
}

int steering_apply(const struct node_config *cfg, char *err, size_t errlen)
{
	char *text = compose(cfg, true);
	if (!text) {
		snprintf(err, errlen, "nftables: out of memory");
		return -1;
	}
	int rc = run_nft(text, NULL, err, errlen);
	free(text);
	return rc;
}

int steering_remove(const char *ifname, char *err, size_t errlen)
{
	char table[32], commands[128];
	steering_table_name(ifname, table, sizeof(table));
	snprintf(commands, sizeof(commands), DELETE_TABLE, table, table);
	return run_nft(commands, NULL, err, errlen);
}
