/*
 * The node daemon as a process: load the config, run the node on an event loop until SIGINT,
 * SIGTERM or `tng-wg down`, and report readiness to whoever started it.
 */
#ifndef TNGWG_NODE_DAEMON_H
#define TNGWG_NODE_DAEMON_H

/* Runs until the node stops; returns the process exit status. ready_fd (or -1) receives "ok" once
 * the node is up, or the error text when it could not come up, and is closed. */
int daemon_run(const char *config_path, int ready_fd);

#endif
