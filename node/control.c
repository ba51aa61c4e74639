#include "node/control.h"
#include "node/request_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_MAX_COMMAND 4200 /* "reload " and a path */
#define CONTROL_MAX_CLIENTS 16
#define CONTROL_DEADLINE_NS (10 * NSEC_PER_SEC)

struct control_server {
	struct request_server *requests;
	char path[108];
	control_handler_fn fn;
	void *ctx;
};

void control_socket_path(const char *ifname, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s.sock", CONTROL_DIR, ifname);
}

/* A command is one line; a full buffer without one is taken as it is. */
static enum request_state command_complete(const char *buf, size_t len, size_t max)
{
	return memchr(buf, '\n', len) || len == max ? REQUEST_COMPLETE : REQUEST_MORE;
}

static char *command_answer(void *ctx, char *request, size_t len, size_t *reply_len)
{
	struct control_server *srv = ctx;
	request[strcspn(request, "\n")] = '\0';
	char *reply = srv->fn(srv->ctx, request);
	if (!reply)
		reply = strdup("error: out of memory\n");
	*reply_len = reply ? strlen(reply) : 0;
	return reply;
}

static int listen_unix(const char *path, const char *ifname, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* A socket nobody answers on is stale (a killed daemon); one that answers belongs to a live one. */
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		snprintf(err, errlen, "%s is in use: a tng-wg daemon already runs for %s", path, ifname);
		close(fd);
		return -1;
	}
	if (fd >= 0) {
		close(fd);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	unlink(path);
	mode_t old = umask(0077);
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 && listen(fd, 8) == 0;
	umask(old);
	if (!ok) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

struct control_server *control_server_new(struct loop *loop, const char *ifname, control_handler_fn fn,
					  void *ctx, char *err, size_t errlen)
{
	struct control_server *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->fn = fn;
	srv->ctx = ctx;
	control_socket_path(ifname, srv->path, sizeof(srv->path));
	if (mkdir(CONTROL_DIR, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", CONTROL_DIR, strerror(errno));
		free(srv);
		return NULL;
	}
	int fd = listen_unix(srv->path, ifname, err, errlen);
	const struct request_protocol p = {
		.max_request = CONTROL_MAX_COMMAND, .max_clients = CONTROL_MAX_CLIENTS,
		.deadline_ns = CONTROL_DEADLINE_NS, .complete = command_complete, .answer = command_answer,
		.ctx = srv,
	};
	if (fd < 0 || !(srv->requests = request_server_new(loop, fd, &p))) {
		if (fd >= 0) {
			snprintf(err, errlen, "out of memory");
			unlink(srv->path);
		}
		free(srv);
		return NULL;
	}
	return srv;
}

void control_server_free(struct control_server *srv)
{
	if (!srv)
		return;
	request_server_free(srv->requests);
	unlink(srv->path);
	free(srv);
}

int control_request(const char *ifname, const char *command, char **reply)
{
	*reply = NULL;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char path[108];
	control_socket_path(ifname, path, sizeof(path));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	size_t clen = strlen(command);
	char line[CONTROL_MAX_COMMAND];
	snprintf(line, sizeof(line), "%s\n", command);
	if (clen + 1 > sizeof(line) || send(fd, line, clen + 1, MSG_NOSIGNAL) != (ssize_t)(clen + 1)) {
		int e = clen + 1 > sizeof(line) ? ENAMETOOLONG : errno;
		close(fd);
		return -e;
	}
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			close(fd);
			return -ENOMEM;
		}
		if (len + 1 == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				free(buf);
			buf = nb;
			cap *= 2;
			continue;
		}
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			free(buf);
			close(fd);
			return -e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*reply = buf;
	return 0;
}
