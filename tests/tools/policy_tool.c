/*
 * Test entry point to the steering and routing of a config, without a daemon:
 *   policy_tool apply CONFIG STATE_DIR    install the nftables table, the fwmark rule and route
 *   policy_tool remove CONFIG STATE_DIR   remove them and restore the saved sysctls
 * The overlay interface must exist for apply. Built by tests/e2e/steering.sh.
 */
#include "policy/config.h"
#include "policy/routing.h"
#include "policy/steering.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[1], "apply") && strcmp(argv[1], "remove"))) {
		fprintf(stderr, "usage: policy_tool apply|remove CONFIG STATE_DIR\n");
		return 2;
	}
	static char err[8192];
	struct node_config *cfg;
	if (config_load_file(argv[2], &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	int rc;
	if (!strcmp(argv[1], "apply"))
		rc = steering_apply(cfg, err, sizeof(err)) || routing_apply(cfg, argv[3], err, sizeof(err));
	else
		rc = routing_remove(cfg, argv[3], err, sizeof(err)) ||
		     steering_remove(cfg->overlay.ifname, err, sizeof(err));
	if (rc)
		fprintf(stderr, "policy_tool %s: %s\n", argv[1], err);
	config_free(cfg);
	return rc ? 1 : 0;
}
