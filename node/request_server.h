/*
 * One request per connection, on a listening socket of the daemon's loop: read until the request
 * is complete, answer, send the answer, close. What a request is and what answers it belong to
 * the protocol on top (the control socket's command lines, the status endpoints' HTTP). Bounded:
 * at most max_clients connections (others are closed at once), max_request bytes, and a deadline
 * for the whole exchange, so that idle or slow clients cost little.
 */
#ifndef TNGWG_NODE_REQUEST_SERVER_H
#define TNGWG_NODE_REQUEST_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common/loop.h"

enum request_state { REQUEST_MORE, REQUEST_COMPLETE, REQUEST_REFUSED };

struct request_protocol {
	size_t max_request;
	unsigned max_clients;
	uint64_t deadline_ns;
	/* Whether buf (len bytes so far, NUL-terminated) is a whole request; called after each read. */
	enum request_state (*complete)(const char *buf, size_t len, size_t max_request);
	/* The answer to a whole request: malloc'd bytes (*reply_len of them), NULL to just close. */
	char *(*answer)(void *ctx, char *request, size_t len, size_t *reply_len);
	void *ctx;
};

struct request_server;

/* Takes over listen_fd (listening already). NULL when out of memory (listen_fd is closed). */
struct request_server *request_server_new(struct loop *loop, int listen_fd, const struct request_protocol *p);
void request_server_free(struct request_server *srv);

#endif
