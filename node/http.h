/*
 * A small HTTP/1.1 server on the daemon's loop for its status endpoints: GET requests only, one
 * request per connection, the answer then close. Bounded: at most HTTP_MAX_CLIENTS connections,
 * a request of at most 4 KiB read within 5 s, so a slow or hostile client costs little.
 */
#ifndef TNGWG_NODE_HTTP_H
#define TNGWG_NODE_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "common/loop.h"

#define HTTP_MAX_CLIENTS 32

/* Answers GET path: the HTTP status, a malloc'd body (NULL: empty) and its content type. */
typedef int (*http_handler_fn)(void *ctx, const char *path, char **body, const char **content_type);

struct http_server;

/* Listens on addr (IPv4 or IPv6). NULL with err set on failure. */
struct http_server *http_server_new(struct loop *loop, const struct sockaddr_storage *addr,
				    http_handler_fn fn, void *ctx, char *err, size_t errlen);
void http_server_free(struct http_server *srv);

#endif
