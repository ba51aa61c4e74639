/* Subcommands of the tng-wg binary, one file each under cmd/. */
#ifndef TNGWG_CMD_COMMANDS_H
#define TNGWG_CMD_COMMANDS_H

int cmd_version(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_evidence(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_userspace(int argc, char **argv);
int cmd_userspace_compat(int argc, char **argv); /* run as tng-wg-userspace */
int cmd_stats(int argc, char **argv);
int cmd_up(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_reload(int argc, char **argv);

#endif
