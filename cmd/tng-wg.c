/* tng-wg: dispatch to the subcommand named on the command line, or by the binary's own name. */
#include "cmd/commands.h"
#include "common/log.h"

#include <libgen.h>
#include <stdio.h>
#include <string.h>

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "up", cmd_up, "bring this node up from a TNG config: up [-d] NODE.json" },
	{ "down", cmd_down, "stop the node and remove what it installed: down NODE.json" },
	{ "reload", cmd_reload, "apply a changed config to the running node: reload NODE.json" },
	{ "show", cmd_show, "peers, attestation state, handshakes, bytes: show [--json] [IFACE]" },
	{ "version", cmd_version, "print the version" },
	{ "check", cmd_check, "validate a config and say exactly what is wrong" },
	{ "evidence", cmd_evidence, "get this node's attestation evidence from the AA or configfs-tsm" },
	{ "token", cmd_token, "request a token from the AS or verify one" },
	{ "probe", cmd_probe, "walk this node's attestation path once, as a peer would" },
	{ "userspace", cmd_userspace, "run a userspace WireGuard device (wireguard-go compatible)" },
	{ "stats", cmd_stats, "print a userspace device's drop and error counters" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: tng-wg COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'tng-wg COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	log_init_from_env();
	if (!strcmp(basename(argv[0]), "tng-wg-userspace"))
		return cmd_userspace_compat(argc, argv);
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "tng-wg: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 1;
}
