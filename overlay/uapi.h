/*
 * WireGuard's cross-platform userspace API, as wireguard-go serves it: a UNIX stream socket
 * <dir>/<iface>.sock speaking get=1 / set=1 requests of key=value lines, so the `wg` tool can read
 * and configure the device. One extra operation, stats=1, answers the device's drop counters.
 */
#ifndef TNGWG_OVERLAY_UAPI_H
#define TNGWG_OVERLAY_UAPI_H

#include <stddef.h>

#include "common/loop.h"
#include "overlay/device.h"

#define UAPI_DEFAULT_DIR "/var/run/wireguard"

struct uapi_server;

/* Called once when the socket file is deleted (the operator's way to stop the daemon). */
typedef void (*uapi_socket_gone_fn)(void *ctx);

/* Listen on dir/<ifname>.sock (dir created 0755, socket under umask 0077). A stale socket nobody
 * answers on is replaced; a live one is an error (-EADDRINUSE). NULL with errno set on failure. */
struct uapi_server *uapi_server_new(struct loop *loop, struct device *dev, const char *dir,
				    uapi_socket_gone_fn gone, void *ctx);
/* The private key, listen port and fwmark belong to the owner (a node daemon whose attestation
 * vouches for its key): a set that would change them fails with EPERM and changes nothing. Peers
 * stay settable; the device tells its owner when one is removed. */
void uapi_server_lock_interface(struct uapi_server *srv);
/* Close every connection and unlink the socket (if it is still ours). */
void uapi_server_free(struct uapi_server *srv);

/* dir/<ifname>.sock into buf; -ENAMETOOLONG when it does not fit a sockaddr_un. */
int uapi_socket_path(const char *dir, const char *ifname, char *buf, size_t size);

#endif
