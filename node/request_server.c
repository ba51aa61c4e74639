#include "node/request_server.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct client {
	struct request_server *srv;
	struct client *next, *prev;
	int fd;
	char *request;
	size_t len;
	char *reply;
	size_t reply_len, reply_sent;
	bool answered;
	struct loop_timer deadline;
};

struct request_server {
	struct loop *loop;
	int fd;
	struct request_protocol p;
	struct client *clients;
	unsigned n_clients;
};

static void client_close(struct client *c)
{
	struct request_server *srv = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_clients--;
	loop_timer_cancel(srv->loop, &c->deadline);
	loop_unwatch(srv->loop, c->fd);
	close(c->fd);
	free(c->request);
	free(c->reply);
	free(c);
}

static void on_deadline(void *ctx)
{
	client_close(ctx);
}

static void client_on_io(void *ctx, int fd, unsigned events);

static void answer(struct client *c)
{
	c->answered = true;
	c->reply = c->srv->p.answer(c->srv->p.ctx, c->request, c->len, &c->reply_len);
	if (!c->reply || !c->reply_len) {
		client_close(c);
		return;
	}
	loop_watch(c->srv->loop, c->fd, LOOP_WRITE, client_on_io, c);
}

static void client_on_io(void *ctx, int fd, unsigned events)
{
	struct client *c = ctx;
	if (c->answered) {
		ssize_t n = send(fd, c->reply + c->reply_sent, c->reply_len - c->reply_sent, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n > 0)
			c->reply_sent += (size_t)n;
		if (n <= 0 || c->reply_sent == c->reply_len)
			client_close(c);
		return;
	}
	ssize_t n = recv(fd, c->request + c->len, c->srv->p.max_request - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	c->request[c->len] = '\0';
	switch (c->srv->p.complete(c->request, c->len, c->srv->p.max_request)) {
	case REQUEST_COMPLETE:
		answer(c);
		return;
	case REQUEST_REFUSED:
		client_close(c);
		return;
	case REQUEST_MORE:
		if (c->len == c->srv->p.max_request)
			client_close(c);
		return;
	}
}

static void on_accept(void *ctx, int fd, unsigned events)
{
	struct request_server *srv = ctx;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0)
		return;
	struct client *c = srv->n_clients < srv->p.max_clients ? calloc(1, sizeof(*c)) : NULL;
	if (c && !(c->request = malloc(srv->p.max_request + 1))) {
		free(c);
		c = NULL;
	}
	if (!c) {
		close(cfd); /* full: the client tries again */
		return;
	}
	c->srv = srv;
	c->fd = cfd;
	c->next = srv->clients;
	if (srv->clients)
		srv->clients->prev = c;
	srv->clients = c;
	srv->n_clients++;
	loop_timer_init(&c->deadline, on_deadline, c);
	loop_timer_arm_in(srv->loop, &c->deadline, srv->p.deadline_ns);
	if (loop_watch(srv->loop, cfd, LOOP_READ, client_on_io, c) < 0)
		client_close(c);
}

struct request_server *request_server_new(struct loop *loop, int listen_fd, const struct request_protocol *p)
{
	struct request_server *srv = calloc(1, sizeof(*srv));
	if (srv) {
		srv->loop = loop;
		srv->fd = listen_fd;
		srv->p = *p;
	}
	if (!srv || loop_watch(loop, listen_fd, LOOP_READ, on_accept, srv) < 0) {
		free(srv);
		close(listen_fd);
		return NULL;
	}
	return srv;
}

void request_server_free(struct request_server *srv)
{
	if (!srv)
		return;
	while (srv->clients)
		client_close(srv->clients);
	loop_unwatch(srv->loop, srv->fd);
	close(srv->fd);
	free(srv);
}
