/* tng-wg down node.json: stop the node's daemon, or remove what a killed one left behind. */
#include "cmd/commands.h"
#include "node/control.h"
#include "node/node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DOWN_WAIT_MS 15000

static bool wait_gone(const char *ifname)
{
	char path[128];
	control_socket_path(ifname, path, sizeof(path));
	struct stat st;
	for (int waited = 0; waited < DOWN_WAIT_MS; waited += 50) {
		if (stat(path, &st) < 0 && errno == ENOENT)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000000L }, NULL);
	}
	return false;
}

int cmd_down(int argc, char **argv)
{
	bool help = argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(help ? stdout : stderr,
			"Usage: tng-wg down NODE.json\n"
			"  Stop the node's daemon; if none runs, remove the interface, rules and routes a\n"
			"  killed daemon left behind.\n");
		return help ? 0 : 1;
	}
	char err[4096];
	struct node_config *cfg;
	if (config_load_file(argv[1], &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	const char *ifname = cfg->overlay.ifname;
	char *reply = NULL;
	int rc = control_request(ifname, "down", &reply);
	free(reply);
	int status = 0;
	if (rc == 0) {
		if (wait_gone(ifname)) {
			printf("tng-wg: %s down\n", ifname);
		} else {
			fprintf(stderr, "tng-wg down: the daemon of %s did not stop in time\n", ifname);
			status = 1;
		}
	} else if (rc == -ENOENT || rc == -ECONNREFUSED) {
		char path[128];
		control_socket_path(ifname, path, sizeof(path));
		unlink(path); /* a killed daemon's socket */
		if (node_cleanup_leftovers(cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "tng-wg down: %s\n", err);
			status = 1;
		} else {
			printf("tng-wg: no daemon for %s; removed its rules and routes\n", ifname);
		}
	} else {
		fprintf(stderr, "tng-wg down: cannot reach the daemon of %s: %s\n", ifname, strerror(-rc));
		status = 1;
	}
	config_free(cfg);
	return status;
}
