/* tng-wg check [--show-rules] CONFIG: validate a config, summarise it, optionally print the nft rules. */
#include "cmd/commands.h"
#include "policy/config.h"
#include "policy/roles.h"
#include "policy/steering.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_dst(FILE *out, const struct capture_dst *c)
{
	char addr[INET_ADDRSTRLEN];
	if (c->has_host && inet_ntop(AF_INET, &c->host_addr, addr, sizeof(addr)))
		fprintf(out, " %s/%u", addr, c->host_prefix);
	if (c->ipset)
		fprintf(out, " @%s", c->ipset);
	if (c->has_port && c->port_end != c->port)
		fprintf(out, " port %u-%u", c->port, c->port_end);
	else if (c->has_port)
		fprintf(out, " port %u", c->port);
	else
		fprintf(out, " any port");
}

static void print_entry(FILE *out, const struct entry *e)
{
	char path[64];
	roles_entry_path(path, e);
	fprintf(out, "  %s: tcp/udp to", path);
	for (size_t i = 0; i < e->n_dsts; i++) {
		fprintf(out, "%s", i ? "," : "");
		print_dst(out, &e->dsts[i]);
	}
	if (e->kind == ENTRY_INGRESS)
		fprintf(out, ": steered into the overlay\n");
	else
		fprintf(out, ": reachable only through the overlay%s\n",
			e->capture_local_traffic ? " (capture_local_traffic: not from local clients either)"
						 : " (and from local clients)");
}

static void print_summary(FILE *out, const struct node_config *cfg)
{
	const struct overlay_config *o = &cfg->overlay;
	fprintf(out, "%s: OK\n", cfg->path);
	fprintf(out, "  overlay: interface %s, port %u (UDP and TCP), mtu %u, steering mark %u -> table %u, bypass mark %u\n",
		o->ifname, o->port, o->mtu, o->fwmark, o->table, cfg->bypass_mark);
	if (cfg->no_ra)
		fprintf(out, "  no_ra: neither attests nor verifies (debugging only)\n");
	if (cfg->attest)
		fprintf(out, "  attests: %s (evidence refreshed every %llu s)\n", cfg->attest->aa_addr,
			(unsigned long long)cfg->attest->refresh_interval_s);
	else if (!cfg->no_ra)
		fprintf(out, "  attests: nothing (peers must not require this node's evidence)\n");
	for (size_t i = 0; i < cfg->n_verifiers; i++) {
		const struct verify_config *v = cfg->verifiers[i];
		fprintf(out, "  verifies: peers with %s, policy_ids", v->as_addr);
		for (size_t j = 0; j < v->n_policy_ids; j++)
			fprintf(out, "%s%s", j ? "," : " ", v->policy_ids[j]);
		fprintf(out, "%s\n", v->skip_as_token_cert_verify ? " (the token's own key, unchecked: testing only)"
				     : v->n_trusted_certs ? ""
				     : !strncmp(v->as_addr, "http://", 7)
					     ? " (token keys fetched from the AS once, over plain HTTP, and pinned)"
					     : " (token keys fetched from the AS once and pinned)");
	}
	if (!cfg->n_verifiers && !cfg->no_ra)
		fprintf(out, "  verifies: nothing (peers are not attested by this node)\n");
	for (size_t i = 0; i < cfg->n_entries; i++)
		print_entry(out, &cfg->entries[i]);
	for (size_t i = 0; i < o->n_peers; i++) {
		char addr[INET_ADDRSTRLEN];
		if (inet_ntop(AF_INET, &o->peers[i], addr, sizeof(addr)))
			fprintf(out, "  peer: %s (tunnel set up at start)\n", addr);
	}
}

int cmd_check(int argc, char **argv)
{
	bool show_rules = false;
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--show-rules"))
			show_rules = true;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: tng-wg check [--show-rules] CONFIG\n"
			       "Validate CONFIG; print a summary, or every error and exit 1.\n"
			       "  --show-rules  also print the nftables ruleset tng-wg would install\n");
			return 0;
		} else if (!path && argv[i][0] != '-')
			path = argv[i];
		else {
			fprintf(stderr, "tng-wg check: unexpected argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "Usage: tng-wg check [--show-rules] CONFIG\n");
		return 2;
	}
	static char err[16384];
	struct node_config *cfg;
	if (config_load_file(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	for (size_t i = 0; i < cfg->n_warnings; i++)
		fprintf(stderr, "warning: %s\n", cfg->warnings[i]);
	print_summary(stdout, cfg);
	int rc = 0;
	if (show_rules) {
		char *rules = steering_ruleset_text(cfg);
		if (rules)
			printf("%s", rules);
		else
			rc = 1;
		free(rules);
	}
	config_free(cfg);
	return rc;
}
