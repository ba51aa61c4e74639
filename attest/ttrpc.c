#include "attest/ttrpc.h"
#include "common/log.h"
#include "common/loop.h"

#include "ttrpc.pb-c.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_SUB "ttrpc"

/* ---- frames ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t out[TTRPC_HEADER_LEN])
{
	put_be32(out, h->length);
	put_be32(out + 4, h->stream_id);
	out[8] = h->type;
	out[9] = h->flags;
}

int ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_header *h)
{
	h->length = get_be32(in);
	h->stream_id = get_be32(in + 4);
	h->type = in[8];
	h->flags = in[9];
	return h->length > TTRPC_MAX_DATA_LEN ? -1 : 0;
}

uint8_t *ttrpc_request_frame(uint32_t stream_id, const char *service, const char *method,
			     const uint8_t *payload, size_t payload_len, int64_t timeout_nano,
			     size_t *frame_len)
{
	Ttrpc__Request req = TTRPC__REQUEST__INIT;
	req.service = (char *)service;
	req.method = (char *)method;
	req.payload.data = (uint8_t *)payload;
	req.payload.len = payload_len;
	req.timeout_nano = timeout_nano;
	size_t len = ttrpc__request__get_packed_size(&req);
	if (len > TTRPC_MAX_DATA_LEN)
		return NULL;
	uint8_t *frame = malloc(TTRPC_HEADER_LEN + len);
	if (!frame)
		return NULL;
	struct ttrpc_header h = { .length = len, .stream_id = stream_id, .type = TTRPC_TYPE_REQUEST };
	ttrpc_header_encode(&h, frame);
	ttrpc__request__pack(&req, frame + TTRPC_HEADER_LEN);
	*frame_len = TTRPC_HEADER_LEN + len;
	return frame;
}

int ttrpc_reply_decode(const uint8_t *data, size_t len, struct ttrpc_reply *out)
{
	memset(out, 0, sizeof(*out));
	Ttrpc__Response *resp = ttrpc__response__unpack(NULL, len, data);
	if (!resp)
		return -1;
	const char *msg = resp->status && resp->status->message ? resp->status->message : "";
	out->code = resp->status ? resp->status->code : 0;
	out->message = strdup(msg);
	out->payload = malloc(resp->payload.len ? resp->payload.len : 1);
	if (out->payload && resp->payload.len)
		memcpy(out->payload, resp->payload.data, resp->payload.len);
	out->payload_len = resp->payload.len;
	ttrpc__response__free_unpacked(resp, NULL);
	if (!out->message || !out->payload) {
		ttrpc_reply_clear(out);
		return -1;
	}
	return 0;
}

void ttrpc_reply_clear(struct ttrpc_reply *r)
{
	free(r->message);
	free(r->payload);
	memset(r, 0, sizeof(*r));
}

const char *ttrpc_code_name(int code)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED",
	};
	if (code < 0 || (size_t)code >= sizeof(names) / sizeof(names[0]))
		return "UNKNOWN_CODE";
	return names[code];
}

/* ---- client ---- */

enum call_state { CALL_PENDING, CALL_DONE };

struct ttrpc_call {
	struct ttrpc_client *client;
	struct ttrpc_call *prev, *next;
	enum call_state state;
	uint32_t stream_id;
	uint64_t connection_id;
	uint64_t timeout_ns;
	struct loop_timer deadline;
	ttrpc_done_fn done;
	void *ctx;
	int error;
	char message[256];
	struct ttrpc_reply reply;
};

struct call_list {
	struct ttrpc_call *head, *tail;
};

struct byte_buf {
	uint8_t *data;
	size_t len, cap;
};

struct ttrpc_client {
	struct loop *loop;
	char *path;
	int fd;
	uint64_t connection_id;
	uint32_t next_stream_id;
	struct byte_buf out; /* frames not yet written */
	size_t out_off;
	struct byte_buf in; /* a partial incoming frame */
	struct call_list pending, done;
	struct loop_timer deliver; /* runs the callbacks of finished calls, one per tick */
	struct ttrpc_client_stats stats;
};

static void list_append(struct call_list *l, struct ttrpc_call *call)
{
	call->next = NULL;
	call->prev = l->tail;
	if (l->tail)
		l->tail->next = call;
	else
		l->head = call;
	l->tail = call;
}

static void list_remove(struct call_list *l, struct ttrpc_call *call)
{
	if (call->prev)
		call->prev->next = call->next;
	else
		l->head = call->next;
	if (call->next)
		call->next->prev = call->prev;
	else
		l->tail = call->prev;
	call->prev = call->next = NULL;
}

static int buf_append(struct byte_buf *b, const uint8_t *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + len)
			cap *= 2;
		uint8_t *p = realloc(b->data, cap);
		if (!p)
			return -1;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static void buf_free(struct byte_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static void call_free(struct ttrpc_call *call)
{
	ttrpc_reply_clear(&call->reply);
	free(call);
}

static void deliver_one(void *ctx)
{
	struct ttrpc_client *c = ctx;
	struct ttrpc_call *call = c->done.head;
	if (!call)
		return;
	list_remove(&c->done, call);
	if (c->done.head)
		loop_timer_arm_in(c->loop, &c->deliver, 0);
	struct ttrpc_outcome o = {
		.error = call->error,
		.message = call->message,
		.reply = call->error ? NULL : &call->reply,
		.connection_id = call->connection_id,
	};
	/* The callback may free the client: touch nothing of it afterwards. */
	call->done(call->ctx, &o);
	call_free(call);
}

/* Move a pending call to the delivery queue; on error, message says why. */
static void call_finish(struct ttrpc_call *call, int error, const char *message)
{
	struct ttrpc_client *c = call->client;
	loop_timer_cancel(c->loop, &call->deadline);
	list_remove(&c->pending, call);
	call->state = CALL_DONE;
	call->error = error;
	if (error)
		snprintf(call->message, sizeof(call->message), "%s", message);
	list_append(&c->done, call);
	if (!loop_timer_armed(&c->deliver))
		loop_timer_arm_in(c->loop, &c->deliver, 0);
}

static void call_timed_out(void *ctx)
{
	struct ttrpc_call *call = ctx;
	char msg[64];
	snprintf(msg, sizeof(msg), "timed out after %.3g s", (double)call->timeout_ns / NSEC_PER_SEC);
	call_finish(call, -ETIMEDOUT, msg);
}

static void disconnect(struct ttrpc_client *c, int error, const char *why)
{
	if (c->fd >= 0) {
		loop_unwatch(c->loop, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	c->out.len = c->out_off = 0;
	c->in.len = 0;
	while (c->pending.head)
		call_finish(c->pending.head, error, why);
}

static void fail_connection(struct ttrpc_client *c, int error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail_connection(struct ttrpc_client *c, int error, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_debug(LOG_SUB, "%s: %s", c->path, why);
	disconnect(c, error, why);
}

static struct ttrpc_call *find_pending(struct ttrpc_client *c, uint32_t stream_id)
{
	for (struct ttrpc_call *call = c->pending.head; call; call = call->next)
		if (call->stream_id == stream_id)
			return call;
	return NULL;
}

static void handle_frame(struct ttrpc_client *c, const struct ttrpc_header *h, const uint8_t *data)
{
	struct ttrpc_call *call = find_pending(c, h->stream_id);
	if (h->type != TTRPC_TYPE_RESPONSE || !call) {
		/* A late answer to a call that timed out, or a frame type unary calls never get. */
		c->stats.frames_dropped++;
		log_debug(LOG_SUB, "dropped frame type %u on stream %u", h->type, h->stream_id);
		return;
	}
	if (ttrpc_reply_decode(data, h->length, &call->reply) < 0) {
		c->stats.protocol_errors++;
		call_finish(call, -EBADMSG, "malformed ttrpc response");
		return;
	}
	call_finish(call, 0, NULL);
}

/* Consume whole frames from c->in; -1 after the connection was failed. */
static int parse_input(struct ttrpc_client *c)
{
	size_t off = 0;
	while (c->in.len - off >= TTRPC_HEADER_LEN) {
		struct ttrpc_header h;
		if (ttrpc_header_decode(c->in.data + off, &h) < 0) {
			c->stats.protocol_errors++;
			fail_connection(c, -EMSGSIZE, "frame of %u bytes exceeds the limit of %u", h.length,
					TTRPC_MAX_DATA_LEN);
			return -1;
		}
		if (c->in.len - off - TTRPC_HEADER_LEN < h.length)
			break;
		handle_frame(c, &h, c->in.data + off + TTRPC_HEADER_LEN);
		off += TTRPC_HEADER_LEN + h.length;
	}
	memmove(c->in.data, c->in.data + off, c->in.len - off);
	c->in.len -= off;
	return 0;
}

static void on_readable(struct ttrpc_client *c)
{
	uint8_t buf[16384];
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n == 0) {
			fail_connection(c, -ECONNRESET, "connection closed by the server");
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			fail_connection(c, -errno, "read: %s", strerror(errno));
			return;
		}
		if (buf_append(&c->in, buf, n) < 0) {
			fail_connection(c, -ENOMEM, "out of memory");
			return;
		}
		if (parse_input(c) < 0)
			return;
	}
}

static void on_event(void *ctx, int fd, unsigned events);

static void watch(struct ttrpc_client *c)
{
	loop_watch(c->loop, c->fd, LOOP_READ | (c->out.len ? LOOP_WRITE : 0), on_event, c);
}

static void flush_output(struct ttrpc_client *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			fail_connection(c, -errno, "write: %s", strerror(errno));
			return;
		}
		c->out_off += n;
	}
	if (c->out_off == c->out.len)
		c->out.len = c->out_off = 0;
	watch(c);
}

static void on_event(void *ctx, int fd, unsigned events)
{
	struct ttrpc_client *c = ctx;
	if (events & LOOP_READ)
		on_readable(c);
	if (c->fd == fd && (events & LOOP_WRITE))
		flush_output(c);
}

/* An idle connection the server has closed reads as EOF: drop it so the next call reconnects
 * instead of failing on a dead socket. */
static void drop_if_closed(struct ttrpc_client *c)
{
	if (c->fd < 0 || c->pending.head)
		return;
	uint8_t b;
	ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		disconnect(c, -ECONNRESET, "connection closed by the server");
}

static int connect_socket(struct ttrpc_client *c, char *why, size_t whylen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(c->path) >= sizeof(sa.sun_path)) {
		snprintf(why, whylen, "socket path too long: %s", c->path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, c->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return -errno;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		snprintf(why, whylen, "cannot connect to %s: %s", c->path, strerror(e));
		close(fd);
		return -e;
	}
	c->fd = fd;
	c->connection_id++;
	c->next_stream_id = 1; /* stream ids count per connection */
	watch(c);
	return 0;
}

struct ttrpc_client *ttrpc_client_new(struct loop *loop, const char *socket_path)
{
	struct ttrpc_client *c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(socket_path))) {
		free(c);
		return NULL;
	}
	c->loop = loop;
	c->fd = -1;
	c->next_stream_id = 1;
	loop_timer_init(&c->deliver, deliver_one, c);
	return c;
}

static void drop_list(struct ttrpc_client *c, struct call_list *l)
{
	while (l->head) {
		struct ttrpc_call *call = l->head;
		loop_timer_cancel(c->loop, &call->deadline);
		list_remove(l, call);
		call_free(call);
	}
}

void ttrpc_client_free(struct ttrpc_client *c)
{
	if (!c)
		return;
	drop_list(c, &c->pending);
	drop_list(c, &c->done);
	disconnect(c, 0, NULL);
	loop_timer_cancel(c->loop, &c->deliver);
	buf_free(&c->out);
	buf_free(&c->in);
	free(c->path);
	free(c);
}

uint64_t ttrpc_client_connection_id(const struct ttrpc_client *c)
{
	return c->connection_id;
}

struct ttrpc_client_stats ttrpc_client_stats(const struct ttrpc_client *c)
{
	return c->stats;
}

static int send_request(struct ttrpc_client *c, struct ttrpc_call *call, const char *service,
			const char *method, const uint8_t *payload, size_t payload_len,
			uint64_t deadline_ns, char *why, size_t whylen)
{
	if (c->fd < 0) {
		int r = connect_socket(c, why, whylen);
		if (r < 0)
			return r;
	}
	call->stream_id = c->next_stream_id;
	c->next_stream_id += 2;
	call->connection_id = c->connection_id;
	uint64_t now = loop_now_ns();
	int64_t timeout = deadline_ns > now ? (int64_t)(deadline_ns - now) : 1;
	size_t len;
	uint8_t *frame = ttrpc_request_frame(call->stream_id, service, method, payload, payload_len,
					     timeout, &len);
	if (!frame) {
		snprintf(why, whylen, "request of %zu bytes does not fit a ttrpc frame", payload_len);
		return -EMSGSIZE;
	}
	int r = buf_append(&c->out, frame, len);
	free(frame);
	if (r < 0) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

struct ttrpc_call *ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
				     const uint8_t *payload, size_t payload_len, uint64_t deadline_ns,
				     ttrpc_done_fn done, void *ctx)
{
	struct ttrpc_call *call = calloc(1, sizeof(*call));
	if (!call)
		return NULL;
	drop_if_closed(c);
	call->client = c;
	call->done = done;
	call->ctx = ctx;
	uint64_t now = loop_now_ns();
	call->timeout_ns = deadline_ns > now ? deadline_ns - now : 0;
	loop_timer_init(&call->deadline, call_timed_out, call);
	list_append(&c->pending, call);
	char why[256];
	int r = send_request(c, call, service, method, payload, payload_len, deadline_ns, why,
			     sizeof(why));
	if (r < 0) {
		call_finish(call, r, why);
		return call;
	}
	loop_timer_arm_at(c->loop, &call->deadline, deadline_ns);
	flush_output(c);
	return call;
}

void ttrpc_call_cancel(struct ttrpc_call *call)
{
	struct ttrpc_client *c = call->client;
	loop_timer_cancel(c->loop, &call->deadline);
	list_remove(call->state == CALL_PENDING ? &c->pending : &c->done, call);
	call_free(call);
}
