/*
 * The daemon's control socket, /run/tng-wg/<iface>.sock: a client sends one command line
 * ("show", "down" or "reload PATH") and reads one reply until the server closes the connection.
 */
#ifndef TNGWG_NODE_CONTROL_H
#define TNGWG_NODE_CONTROL_H

#include <stddef.h>

#include "common/loop.h"

#define CONTROL_DIR "/run/tng-wg"

struct control_server;

/* Returns a malloc'd reply for one command; the server frees it after sending. */
typedef char *(*control_handler_fn)(void *ctx, const char *command);

struct control_server *control_server_new(struct loop *loop, const char *ifname, control_handler_fn fn,
					  void *ctx, char *err, size_t errlen);
void control_server_free(struct control_server *srv);

/* Client side: send command to the daemon of ifname; *reply is malloc'd. Returns 0, or -errno
 * (-ENOENT / -ECONNREFUSED: no daemon). */
int control_request(const char *ifname, const char *command, char **reply);
void control_socket_path(const char *ifname, char *out, size_t outlen);

#endif
