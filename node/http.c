#include "node/http.h"
#include "node/request_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_REQUEST 4096
#define REQUEST_DEADLINE_NS (5 * NSEC_PER_SEC)

struct http_server {
	struct request_server *requests;
	http_handler_fn fn;
	void *ctx;
};

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* The request line and headers end with an empty line; the body (a GET has none) is not read. */
static enum request_state head_complete(const char *buf, size_t len, size_t max)
{
	return strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n") ? REQUEST_COMPLETE
	       : len == max			     ? REQUEST_REFUSED
						     : REQUEST_MORE;
}

static char *http_answer(void *ctx, char *request, size_t len, size_t *reply_len)
{
	struct http_server *srv = ctx;
	char method[8] = "", path[256] = "";
	int status;
	char *body = NULL;
	const char *type = "text/plain; charset=utf-8";
	if (sscanf(request, "%7s %255s HTTP/1.", method, path) != 2)
		status = 400;
	else if (strcmp(method, "GET"))
		status = 405;
	else
		status = srv->fn(srv->ctx, path, &body, &type);
	size_t body_len = body ? strlen(body) : 0;
	char head[256];
	int head_len = snprintf(head, sizeof(head),
				"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
				status, status_text(status), type, body_len);
	char *reply = malloc((size_t)head_len + body_len);
	if (reply) {
		memcpy(reply, head, (size_t)head_len);
		memcpy(reply + head_len, body, body_len);
		*reply_len = (size_t)head_len + body_len;
	}
	free(body);
	return reply;
}

struct http_server *http_server_new(struct loop *loop, const struct sockaddr_storage *addr,
				    http_handler_fn fn, void *ctx, char *err, size_t errlen)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->fn = fn;
	srv->ctx = ctx;
	socklen_t len = addr->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	int one = 1;
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (const struct sockaddr *)addr, len) != 0 || listen(fd, 16) != 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		free(srv);
		return NULL;
	}
	const struct request_protocol p = {
		.max_request = MAX_REQUEST, .max_clients = HTTP_MAX_CLIENTS, .deadline_ns = REQUEST_DEADLINE_NS,
		.complete = head_complete, .answer = http_answer, .ctx = srv,
	};
	if (!(srv->requests = request_server_new(loop, fd, &p))) {
		snprintf(err, errlen, "out of memory");
		free(srv);
		return NULL;
	}
	return srv;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	request_server_free(srv->requests);
	free(srv);
}
