#include "node/control.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_MAX_COMMAND 256
#define CONTROL_MAX_CLIENTS 16

struct control_client {
	int fd;
	char buf[CONTROL_MAX_COMMAND];
	size_t len;
	char *reply;
	size_t reply_len, reply_sent;
	struct control_server *srv;
};

struct control_server {
	struct loop *loop;
	int fd;
	char path[108];
	control_handler_fn fn;
	void *ctx;
	struct control_client *clients[CONTROL_MAX_CLIENTS];
};

void control_socket_path(const char *ifname, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s.sock", CONTROL_DIR, ifname);
}

static void client_close(struct control_client *c)
{
	struct control_server *srv = c->srv;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (srv->clients[i] == c)
			srv->clients[i] = NULL;
	loop_unwatch(srv->loop, c->fd);
	close(c->fd);
	free(c->reply);
	free(c);
}

static void client_on_io(void *ctx, int fd, unsigned events);

static void client_answer(struct control_client *c)
{
	c->buf[c->len] = '\0';
	char *nl = strchr(c->buf, '\n');
	if (nl)
		*nl = '\0';
	c->reply = c->srv->fn(c->srv->ctx, c->buf);
	if (!c->reply)
		c->reply = strdup("error: out of memory\n");
	c->reply_len = c->reply ? strlen(c->reply) : 0;
	loop_watch(c->srv->loop, c->fd, LOOP_WRITE, client_on_io, c);
}

static void client_on_io(void *ctx, int fd, unsigned events)
{
	struct control_client *c = ctx;
	if (c->reply) {
		ssize_t n = send(fd, c->reply + c->reply_sent, c->reply_len - c->reply_sent, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n > 0)
			c->reply_sent += (size_t)n;
		if (n <= 0 || c->reply_sent == c->reply_len)
			client_close(c);
		return;
	}
	ssize_t n = recv(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	if (memchr(c->buf, '\n', c->len) || c->len == sizeof(c->buf) - 1)
		client_answer(c);
}

static void server_on_accept(void *ctx, int fd, unsigned events)
{
	struct control_server *srv = ctx;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	int slot = -1;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (!srv->clients[i])
			slot = i;
	struct control_client *c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		close(cfd);
		return;
	}
	c->fd = cfd;
	c->srv = srv;
	srv->clients[slot] = c;
	if (loop_watch(srv->loop, cfd, LOOP_READ, client_on_io, c) < 0)
		client_close(c);
}

struct control_server *control_server_new(struct loop *loop, const char *ifname, control_handler_fn fn,
					  void *ctx, char *err, size_t errlen)
{
	struct control_server *srv = calloc(1, sizeof(*srv));
	if (!srv) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	srv->loop = loop;
	srv->fn = fn;
	srv->ctx = ctx;
	control_socket_path(ifname, srv->path, sizeof(srv->path));
	if (mkdir(CONTROL_DIR, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", CONTROL_DIR, strerror(errno));
		free(srv);
		return NULL;
	}
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", srv->path);
	srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* A socket nobody answers on is stale (a killed daemon); one that answers belongs to a live one. */
	if (srv->fd >= 0 && connect(srv->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		snprintf(err, errlen, "%s is in use: a tng-wg daemon already runs for %s", srv->path, ifname);
		close(srv->fd);
		free(srv);
		return NULL;
	}
	if (srv->fd >= 0) {
		close(srv->fd);
		srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	unlink(srv->path);
	mode_t old = umask(0077);
	int ok = srv->fd >= 0 && bind(srv->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
		 listen(srv->fd, 8) == 0;
	umask(old);
	if (!ok || loop_watch(loop, srv->fd, LOOP_READ, server_on_accept, srv) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", srv->path, strerror(errno));
		if (srv->fd >= 0)
			close(srv->fd);
		free(srv);
		return NULL;
	}
	return srv;
}

void control_server_free(struct control_server *srv)
{
	if (!srv)
		return;
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (srv->clients[i])
			client_close(srv->clients[i]);
	loop_unwatch(srv->loop, srv->fd);
	close(srv->fd);
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
	if (send(fd, line, clen + 1, MSG_NOSIGNAL) != (ssize_t)(clen + 1)) {
		int e = errno;
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
