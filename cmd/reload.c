/* tng-wg reload NODE.json: have the running node take a changed config, or say why it will not. */
#include "cmd/commands.h"
#include "node/control.h"
#include "policy/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_reload(int argc, char **argv)
{
	bool help = argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(help ? stdout : stderr,
			"Usage: tng-wg reload NODE.json\n"
			"  Apply a changed config to the running node (as SIGHUP does with the file it started\n"
			"  with): tunnels it still allows stay; a config that does not load, or changes what\n"
			"  only a restart can, is refused and the running one stays.\n");
		return help ? 0 : 1;
	}
	char err[4096], path[PATH_MAX];
	struct node_config *cfg;
	if (!realpath(argv[1], path)) {
		fprintf(stderr, "tng-wg reload: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* Checked here too, so that the errors reach the terminal as `check` prints them. */
	if (config_load_file(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	char command[PATH_MAX + 8], *reply = NULL;
	snprintf(command, sizeof(command), "reload %s", path);
	int rc = control_request(cfg->overlay.ifname, command, &reply);
	if (rc < 0)
		fprintf(stderr, "tng-wg reload: no tng-wg daemon for %s: %s\n", cfg->overlay.ifname, strerror(-rc));
	else
		fputs(reply, strncmp(reply, "ok", 2) ? stderr : stdout);
	int status = rc < 0 || strncmp(reply, "ok", 2) ? 1 : 0;
	free(reply);
	config_free(cfg);
	return status;
}
