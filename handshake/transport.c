#include "handshake/transport.h"

#include "common/log.h"
#include "handshake/source_limit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_DEADLINE_NS (10 * NSEC_PER_SEC)
#define DEFAULT_MAX_CONCURRENT 64
#define DEFAULT_PER_SOURCE 10
#define DEFAULT_PER_SOURCE_CONCURRENT 2
#define DEFAULT_MAX_OUTGOING 128
/* After the outcome, the last bytes get this long to leave and the peer to close its side. */
#define LINGER_NS (2 * NSEC_PER_SEC)
#define MAX_LINGERING 256
/* Out of descriptors: stop accepting this long rather than spin on a readable listener. */
#define ACCEPT_PAUSE_NS (100 * NSEC_PER_MSEC)
/* Bytes read from one connection per wakeup, so a peer that keeps sending cannot hold the loop
 * (and the deadline timers) for as long as it likes; the rest is read on the next wakeup. */
#define READ_BUDGET (256 * 1024)

enum conn_phase { CONN_RUNNING, CONN_CONNECTING, CONN_LINGERING };

struct hs_conn {
	struct hs_transport *t;
	struct hs_conn *prev, *next;
	int fd;
	enum conn_phase phase;
	bool initiator;
	bool counted_responder;       /* holds one of the max_concurrent responder slots */
	bool got_bytes;               /* the peer sent something */
	bool broken;                  /* the socket cannot carry anything more */
	struct sockaddr_storage peer; /* IPv4 peers as AF_INET, also on a dual-stack listener */
	struct hs_session *session;   /* NULL while lingering */
	struct loop_timer timer;      /* the handshake deadline, then the linger limit */
	int early_errno;              /* a connect error, reported from the timer */
	unsigned depth;               /* nesting of calls into the session */
	bool shut_down;
	bool to_abort;                /* marked by hs_transport_abort_all */
	uint8_t *linger_out;          /* output left to send while lingering */
	size_t linger_len;
	void *owner_data;
};

struct hs_transport {
	struct loop *loop;
	struct hs_transport_config cfg;
	struct hs_local local;
	struct hs_transport_ops ops;
	void *ctx;
	int listen_fd;
	uint16_t port;
	struct loop_timer accept_resume;
	uint8_t static_private[32], static_public[32];
	struct hs_conn *conns;
	unsigned responders, initiators, lingering;
	struct source_limit rate;
	struct hs_transport_counters counters;
};

static const struct hs_session_ops session_ops;

/* Addresses as 16 bytes, IPv4 mapped into IPv6, so both families compare numerically. */
static void ip_key(const struct sockaddr *sa, uint8_t out[16])
{
	memset(out, 0, 16);
	if (sa->sa_family == AF_INET) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(out, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

/* An IPv4-mapped IPv6 address becomes AF_INET, so the owner sees the address it knows. */
static void normalize_addr(const struct sockaddr_storage *in, struct sockaddr_storage *out)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)in;

	*out = *in;
	if (in->ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)out;
		memset(out, 0, sizeof(*out));
		s4->sin_family = AF_INET;
		s4->sin_port = s6->sin6_port;
		memcpy(&s4->sin_addr, s6->sin6_addr.s6_addr + 12, 4);
	}
}

static socklen_t addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static void addr_text(const struct sockaddr *sa, char *out, size_t len)
{
	const void *a = sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
						 : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!inet_ntop(sa->sa_family, a, out, (socklen_t)len))
		snprintf(out, len, "?");
}

/* The bypass mark, so steering leaves the socket alone, and no Nagle delay between messages. */
static int tune_socket(struct hs_transport *t, int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (t->cfg.so_mark &&
	    setsockopt(fd, SOL_SOCKET, SO_MARK, &t->cfg.so_mark, sizeof(t->cfg.so_mark)) != 0)
		return -1;
	return 0;
}

static int new_socket(struct hs_transport *t, int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (tune_socket(t, fd) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* ---- connection lifetime ---- */

static void release_responder_slot(struct hs_conn *c)
{
	if (c->counted_responder)
		c->t->responders--;
	c->counted_responder = false;
}

static void conn_unlink_free(struct hs_conn *c)
{
	struct hs_transport *t = c->t;

	loop_timer_cancel(t->loop, &c->timer);
	if (c->fd >= 0) {
		loop_unwatch(t->loop, c->fd);
		close(c->fd);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->phase == CONN_LINGERING)
		t->lingering--;
	t->initiators -= c->initiator;
	release_responder_slot(c);
	hs_session_free(c->session);
	free(c->linger_out);
	free(c);
}

static void conn_timer(void *ctx);

static struct hs_conn *conn_new(struct hs_transport *t, int fd, bool initiator,
				const struct sockaddr_storage *peer)
{
	struct hs_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->t = t;
	c->fd = fd;
	c->initiator = initiator;
	normalize_addr(peer, &c->peer);
	loop_timer_init(&c->timer, conn_timer, c);
	c->next = t->conns;
	if (t->conns)
		t->conns->prev = c;
	t->conns = c;
	c->counted_responder = !initiator;
	t->responders += !initiator;
	t->initiators += initiator;
	return c;
}

static void conn_io(void *ctx, int fd, unsigned events);

static void watch(struct hs_conn *c, bool want_write)
{
	loop_watch(c->t->loop, c->fd, LOOP_READ | (want_write ? LOOP_WRITE : 0), conn_io, c);
}

/* Writes what it can of buf; returns the bytes written, or -1 when the connection broke. */
static ssize_t write_some(int fd, const uint8_t *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = send(fd, buf + done, len - done, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0)
			return -1;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Lingering: send what is left, close our direction, and wait for the peer to close its own. */
static void linger_progress(struct hs_conn *c)
{
	if (c->linger_len) {
		ssize_t n = write_some(c->fd, c->linger_out, c->linger_len);
		if (n < 0) {
			conn_unlink_free(c);
			return;
		}
		memmove(c->linger_out, c->linger_out + n, c->linger_len - (size_t)n);
		c->linger_len -= (size_t)n;
	}
	if (!c->linger_len && !c->shut_down) {
		shutdown(c->fd, SHUT_WR);
		c->shut_down = true;
	}
	watch(c, c->linger_len > 0);
}

static void start_linger(struct hs_conn *c, const uint8_t *pending, size_t len)
{
	struct hs_transport *t = c->t;

	release_responder_slot(c);
	if (c->broken || t->lingering >= MAX_LINGERING || (len && !(c->linger_out = malloc(len)))) {
		conn_unlink_free(c);
		return;
	}
	if (len)
		memcpy(c->linger_out, pending, len);
	c->linger_len = len;
	c->phase = CONN_LINGERING;
	t->lingering++;
	hs_session_free(c->session);
	c->session = NULL;
	loop_timer_arm_in(t->loop, &c->timer, LINGER_NS);
	linger_progress(c);
}

/* Reports the session's outcome to the owner, then lets the connection linger. */
static void conn_finish(struct hs_conn *c)
{
	struct hs_transport *t = c->t;
	struct hs_session *s = c->session;
	char who[INET6_ADDRSTRLEN];

	loop_timer_cancel(t->loop, &c->timer);
	c->depth++; /* answers from inside the callbacks must not report twice */
	addr_text((struct sockaddr *)&c->peer, who, sizeof(who));
	if (!c->initiator && !c->got_bytes) {
		/* a probe or a connection given up before its first message: nothing to report */
		t->counters.timeouts += hs_session_reason(s) == HS_TIMEOUT;
	} else if (hs_session_state(s) == HS_SESSION_DONE) {
		t->counters.done++;
		log_debug("handshake", "attested handshake with %s done (%s)", who,
			 c->initiator ? "initiator" : "responder");
		t->ops.done(t->ctx, c, (struct sockaddr *)&c->peer, hs_session_result(s));
	} else {
		enum hs_reason r = hs_session_reason(s);
		bool by_peer = hs_session_reported_by_peer(s);
		t->counters.failed++;
		t->counters.malformed_input += hs_session_failed_on_input(s);
		t->counters.superseded += r == HS_SUPERSEDED;
		t->counters.timeouts += r == HS_TIMEOUT && !by_peer;
		log_debug("handshake", "attested handshake with %s failed: %s%s: %s", who,
			 hs_reason_name(r), by_peer ? " (reported by the peer)" : "", hs_session_detail(s));
		t->ops.failed(t->ctx, c, (struct sockaddr *)&c->peer, r, by_peer, hs_session_detail(s),
			      c->initiator);
	}
	c->depth--;
	size_t len;
	const uint8_t *out = hs_session_output(s, &len);
	start_linger(c, out, len);
}

/* After any call into the session: send its output, and end the connection once it is over. */
static void conn_settle(struct hs_conn *c)
{
	size_t len;

	if (c->depth || c->phase == CONN_LINGERING)
		return;
	if (c->phase == CONN_RUNNING) {
		const uint8_t *out = hs_session_output(c->session, &len);
		ssize_t n = write_some(c->fd, out, len);
		if (n < 0) {
			c->broken = true;
			hs_session_peer_closed(c->session);
			n = (ssize_t)len;
		}
		hs_session_output_consumed(c->session, (size_t)n);
	}
	if (hs_session_state(c->session) != HS_SESSION_RUNNING) {
		conn_finish(c);
		return;
	}
	if (c->phase == CONN_CONNECTING) {
		loop_watch(c->t->loop, c->fd, LOOP_WRITE, conn_io, c);
		return;
	}
	hs_session_output(c->session, &len);
	watch(c, len > 0);
}

/* Ends the handshake for a local reason; what the session still sends leaves while lingering. */
static void conn_abort(struct hs_conn *c, enum hs_reason reason, const char *detail)
{
	c->depth++;
	hs_session_abort(c->session, reason, detail);
	c->depth--;
	conn_settle(c);
}

/* Ends an outgoing handshake whose socket never connected: nothing can be sent. */
static void conn_abort_unconnected(struct hs_conn *c, enum hs_reason reason, const char *detail)
{
	c->broken = true;
	conn_abort(c, reason, detail);
}

static void conn_timer(void *ctx)
{
	struct hs_conn *c = ctx;

	if (c->phase == CONN_LINGERING) {
		conn_unlink_free(c);
		return;
	}
	if (c->early_errno)
		conn_abort_unconnected(c, HS_CONNECT_FAILED, strerror(c->early_errno));
	else if (c->phase == CONN_CONNECTING)
		conn_abort_unconnected(c, HS_TIMEOUT, "connection not established in time");
	else
		conn_abort(c, HS_TIMEOUT, "handshake deadline passed");
}

static void conn_read(struct hs_conn *c)
{
	uint8_t buf[16384];
	size_t budget = READ_BUDGET;

	c->depth++;
	while (hs_session_state(c->session) == HS_SESSION_RUNNING && budget) {
		ssize_t n = recv(c->fd, buf, sizeof(buf) < budget ? sizeof(buf) : budget, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			hs_session_peer_closed(c->session);
			break;
		}
		c->got_bytes = true;
		budget -= (size_t)n;
		hs_session_receive(c->session, buf, (size_t)n);
	}
	c->depth--;
	conn_settle(c);
}

static void linger_io(struct hs_conn *c, unsigned events)
{
	if (events & LOOP_READ) {
		uint8_t buf[4096];
		ssize_t n;
		size_t drained = 0;
		/* whatever the peer still sends is of no use now */
		while ((n = recv(c->fd, buf, sizeof(buf), 0)) > 0 && (drained += (size_t)n) < READ_BUDGET)
			;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			conn_unlink_free(c);
			return;
		}
	}
	linger_progress(c);
}

static void conn_io(void *ctx, int fd, unsigned events)
{
	struct hs_conn *c = ctx;

	switch (c->phase) {
	case CONN_LINGERING:
		linger_io(c, events);
		return;
	case CONN_CONNECTING: {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err) {
			conn_abort_unconnected(c, HS_CONNECT_FAILED, strerror(err));
			return;
		}
		c->phase = CONN_RUNNING;
		conn_settle(c);
		return;
	}
	case CONN_RUNNING:
		if (events & LOOP_READ)
			conn_read(c);
		else
			conn_settle(c);
		return;
	}
}

/* ---- session callbacks, forwarded to the owner ---- */

static void on_need_evidence(void *ctx, const char *json)
{
	struct hs_conn *c = ctx;
	c->t->ops.need_evidence(c->t->ctx, c, json);
}

static void on_need_verification(void *ctx, const char *tee, const uint8_t *evidence, size_t len,
				 const uint8_t *additional, size_t additional_len, const char *json)
{
	struct hs_conn *c = ctx;
	c->t->ops.need_verification(c->t->ctx, c, (struct sockaddr *)&c->peer, tee, evidence, len,
				    additional, additional_len, json);
}

static const struct hs_session_ops session_ops = {
	.need_evidence = on_need_evidence,
	.need_verification = on_need_verification,
};

static struct hs_session *session_for(struct hs_transport *t, struct hs_conn *c)
{
	bool initiator = c->initiator;
	struct hs_session_config cfg = { .initiator = initiator, .local = t->local,
					 .max_frame = t->cfg.max_frame,
					 .max_evidence = t->cfg.max_evidence,
					 .static_public = t->static_public };
	memcpy(cfg.static_private, t->static_private, sizeof(cfg.static_private));
	struct hs_session *s = hs_session_new(&cfg, &session_ops, c);
	sodium_memzero(&cfg, sizeof(cfg));
	return s;
}

/* ---- responder side ---- */

static bool rate_limited(struct hs_transport *t, const struct sockaddr *peer)
{
	uint8_t src[16];

	ip_key(peer, src);
	return !source_limit_allow(&t->rate, src, loop_now_ns());
}

/* Whether the source already holds its share of the responder slots, so that one host cannot
 * hold them all and keep every other peer out. */
static bool source_busy(struct hs_transport *t, const struct sockaddr *peer)
{
	uint8_t src[16], other[16];
	unsigned held = 0;

	ip_key(peer, src);
	for (struct hs_conn *c = t->conns; c; c = c->next) {
		if (!c->counted_responder)
			continue;
		ip_key((struct sockaddr *)&c->peer, other);
		held += !memcmp(src, other, 16);
	}
	return held >= t->cfg.max_per_source_concurrent;
}

/* Turns a fresh connection away with an abort frame naming the reason. */
static void refuse(struct hs_transport *t, int fd, const struct sockaddr_storage *peer,
		   enum hs_reason reason)
{
	uint8_t frame[5] = { 0, 0, 0, 1, (uint8_t)reason };
	struct hs_conn *c = conn_new(t, fd, false, peer);

	if (!c) {
		close(fd);
		return;
	}
	start_linger(c, frame, sizeof(frame));
}

/* The outgoing handshake to the same address, if one is in progress. */
static struct hs_conn *outgoing_to(struct hs_transport *t, const struct sockaddr *peer)
{
	uint8_t a[16], b[16];

	ip_key(peer, a);
	for (struct hs_conn *c = t->conns; c; c = c->next) {
		if (!c->initiator || c->phase == CONN_LINGERING)
			continue;
		ip_key((struct sockaddr *)&c->peer, b);
		if (!memcmp(a, b, 16))
			return c;
	}
	return NULL;
}

/* Simultaneous initiation: true when the incoming connection loses to our outgoing one. Both
 * nodes keep the handshake initiated by the numerically lower address. */
static bool incoming_loses(struct hs_transport *t, int fd, const struct sockaddr_storage *peer)
{
	struct hs_conn *out = outgoing_to(t, (const struct sockaddr *)peer);
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);
	uint8_t ours[16], theirs[16];

	if (!out || getsockname(fd, (struct sockaddr *)&local, &len) != 0)
		return false;
	ip_key((struct sockaddr *)&local, ours);
	ip_key((const struct sockaddr *)peer, theirs);
	if (memcmp(ours, theirs, 16) < 0)
		return true;
	conn_abort(out, HS_SUPERSEDED, "the peer's simultaneous handshake takes precedence");
	return false;
}

static void accept_one(struct hs_transport *t, int fd, const struct sockaddr_storage *peer)
{
	if (tune_socket(t, fd) != 0) { /* inherited from the listener anyway */
		close(fd);
		return;
	}
	if (rate_limited(t, (const struct sockaddr *)peer)) {
		t->counters.rejected_rate_limited++;
		refuse(t, fd, peer, HS_RATE_LIMITED);
		return;
	}
	if (t->responders >= t->cfg.max_concurrent) {
		t->counters.rejected_busy++;
		refuse(t, fd, peer, HS_BUSY);
		return;
	}
	if (source_busy(t, (const struct sockaddr *)peer)) {
		t->counters.rejected_source_busy++;
		refuse(t, fd, peer, HS_BUSY);
		return;
	}
	if (incoming_loses(t, fd, peer)) {
		t->counters.superseded++;
		refuse(t, fd, peer, HS_SUPERSEDED);
		return;
	}
	struct hs_conn *c = conn_new(t, fd, false, peer);
	if (!c) {
		close(fd);
		return;
	}
	c->session = session_for(t, c);
	if (!c->session) {
		conn_unlink_free(c);
		return;
	}
	loop_timer_arm_in(t->loop, &c->timer, t->cfg.deadline_ns);
	watch(c, false);
}

static void on_listen(void *ctx, int fd, unsigned events)
{
	struct hs_transport *t = ctx;

	for (;;) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int cfd = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				log_warn("handshake", "accept: %s; pausing", strerror(errno));
				loop_unwatch(t->loop, fd);
				loop_timer_arm_in(t->loop, &t->accept_resume, ACCEPT_PAUSE_NS);
			}
			return;
		}
		accept_one(t, cfd, &peer);
	}
}

static void resume_accepting(void *ctx)
{
	struct hs_transport *t = ctx;
	loop_watch(t->loop, t->listen_fd, LOOP_READ, on_listen, t);
}

/* ---- public API ---- */

static int listen_on(struct hs_transport *t, char *err, size_t errlen)
{
	struct sockaddr_storage addr = t->cfg.bind_addr;
	int family = addr.ss_family ? addr.ss_family : AF_INET6;
	int fd = new_socket(t, family);

	if (fd < 0 && !addr.ss_family) {
		family = AF_INET;
		fd = new_socket(t, family);
	}
	if (fd < 0) {
		snprintf(err, errlen, "handshake socket: %s", strerror(errno));
		return -1;
	}
	if (!addr.ss_family) {
		memset(&addr, 0, sizeof(addr));
		addr.ss_family = (sa_family_t)family;
		int off = 0;
		if (family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET)
		((struct sockaddr_in *)&addr)->sin_port = htons(t->cfg.port);
	else
		((struct sockaddr_in6 *)&addr)->sin6_port = htons(t->cfg.port);
	socklen_t len = sizeof(addr);
	if (bind(fd, (struct sockaddr *)&addr, addr_len((struct sockaddr *)&addr)) != 0 ||
	    listen(fd, 128) != 0 || getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
		snprintf(err, errlen, "handshake listener on TCP port %u: %s", t->cfg.port,
			 strerror(errno));
		close(fd);
		return -1;
	}
	t->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&addr)->sin_port
					  : ((struct sockaddr_in6 *)&addr)->sin6_port);
	t->listen_fd = fd;
	if (loop_watch(t->loop, fd, LOOP_READ, on_listen, t) != 0) {
		snprintf(err, errlen, "handshake listener: cannot watch the socket");
		return -1;
	}
	return 0;
}

struct hs_transport *hs_transport_new(struct loop *loop, const struct hs_transport_config *cfg,
				      const struct hs_local *local, const struct hs_transport_ops *ops,
				      void *ctx, char *err, size_t errlen)
{
	struct hs_transport *t = calloc(1, sizeof(*t));

	if (!t || sodium_init() < 0) {
		snprintf(err, errlen, "out of memory");
		free(t);
		return NULL;
	}
	t->loop = loop;
	t->cfg = *cfg;
	if (!t->cfg.deadline_ns)
		t->cfg.deadline_ns = DEFAULT_DEADLINE_NS;
	if (!t->cfg.max_concurrent)
		t->cfg.max_concurrent = DEFAULT_MAX_CONCURRENT;
	if (!t->cfg.max_per_source_per_second)
		t->cfg.max_per_source_per_second = DEFAULT_PER_SOURCE;
	if (!t->cfg.max_per_source_concurrent)
		t->cfg.max_per_source_concurrent = DEFAULT_PER_SOURCE_CONCURRENT;
	if (!t->cfg.max_outgoing)
		t->cfg.max_outgoing = DEFAULT_MAX_OUTGOING;
	if (!t->cfg.max_evidence)
		t->cfg.max_evidence = HS_DEFAULT_MAX_EVIDENCE;
	t->local = *local;
	t->ops = *ops;
	t->ctx = ctx;
	t->listen_fd = -1;
	source_limit_init(&t->rate, t->cfg.max_per_source_per_second);
	loop_timer_init(&t->accept_resume, resume_accepting, t);
	randombytes_buf(t->static_private, sizeof(t->static_private));
	crypto_scalarmult_base(t->static_public, t->static_private);
	if (listen_on(t, err, errlen) != 0) {
		hs_transport_free(t);
		return NULL;
	}
	return t;
}

void hs_transport_free(struct hs_transport *t)
{
	if (!t)
		return;
	while (t->conns)
		conn_unlink_free(t->conns);
	loop_timer_cancel(t->loop, &t->accept_resume);
	if (t->listen_fd >= 0) {
		loop_unwatch(t->loop, t->listen_fd);
		close(t->listen_fd);
	}
	sodium_memzero(t, sizeof(*t));
	free(t);
}

void hs_transport_set_local(struct hs_transport *t, const struct hs_local *local)
{
	t->local = *local;
}

void hs_transport_set_deadline(struct hs_transport *t, uint64_t deadline_ns)
{
	t->cfg.deadline_ns = deadline_ns ? deadline_ns : DEFAULT_DEADLINE_NS;
}

static bool conn_running(const struct hs_conn *c)
{
	return c->phase != CONN_LINGERING && c->session && hs_session_state(c->session) == HS_SESSION_RUNNING;
}

void hs_transport_abort_all(struct hs_transport *t, enum hs_reason reason, const char *detail)
{
	/* Marked first, ended one at a time: the callbacks may start new handshakes, which stay. */
	for (struct hs_conn *c = t->conns; c; c = c->next)
		c->to_abort = conn_running(c);
	for (;;) {
		struct hs_conn *c = t->conns;
		while (c && !(c->to_abort && conn_running(c)))
			c = c->next;
		if (!c)
			return;
		c->to_abort = false;
		if (c->phase == CONN_CONNECTING)
			conn_abort_unconnected(c, reason, detail);
		else
			conn_abort(c, reason, detail);
	}
}

uint16_t hs_transport_port(const struct hs_transport *t)
{
	return t->port;
}

void hs_transport_get_counters(const struct hs_transport *t, struct hs_transport_counters *out)
{
	*out = t->counters;
}

/* Binds the source address when one is configured; 0 when there is none or it worked. */
static int bind_source(struct hs_transport *t, int fd)
{
	struct sockaddr_storage src = t->cfg.bind_addr;

	if (!src.ss_family)
		return 0;
	if (src.ss_family == AF_INET)
		((struct sockaddr_in *)&src)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&src)->sin6_port = 0;
	return bind(fd, (struct sockaddr *)&src, addr_len((struct sockaddr *)&src));
}

struct hs_conn *hs_transport_connect(struct hs_transport *t, const struct sockaddr *peer)
{
	struct sockaddr_storage to;
	bool supported = peer->sa_family == AF_INET || peer->sa_family == AF_INET6;

	if (t->initiators >= t->cfg.max_outgoing) {
		errno = EBUSY;
		return NULL;
	}
	memset(&to, 0, sizeof(to));
	if (supported)
		memcpy(&to, peer, addr_len(peer));
	to.ss_family = peer->sa_family;
	if (to.ss_family == AF_INET)
		((struct sockaddr_in *)&to)->sin_port = htons(t->port);
	else
		((struct sockaddr_in6 *)&to)->sin6_port = htons(t->port);

	struct hs_conn *c = conn_new(t, -1, true, &to);
	if (!c)
		return NULL;
	c->session = session_for(t, c);
	if (!c->session) {
		conn_unlink_free(c);
		return NULL;
	}
	c->phase = CONN_CONNECTING;
	c->fd = supported ? new_socket(t, to.ss_family) : -1;
	if (c->fd < 0 || bind_source(t, c->fd) != 0 ||
	    (connect(c->fd, (struct sockaddr *)&to, addr_len(peer)) != 0 && errno != EINPROGRESS)) {
		c->early_errno = !supported ? EAFNOSUPPORT : errno ? errno : EIO; /* reported later */
		loop_timer_arm_in(t->loop, &c->timer, 0);
		return c;
	}
	loop_timer_arm_in(t->loop, &c->timer, t->cfg.deadline_ns);
	loop_watch(t->loop, c->fd, LOOP_WRITE, conn_io, c);
	return c;
}

/* Runs one owner answer through the session (the transport frees the conn once reported, so
 * an answer can only reach a running one). */
#define CONN_CALL(c, call)        \
	do {                      \
		(c)->depth++;     \
		call;             \
		(c)->depth--;     \
		conn_settle(c);   \
	} while (0)

void hs_conn_provide_evidence(struct hs_conn *c, const char *tee, const uint8_t *evidence,
			      size_t len, const uint8_t *additional, size_t additional_len)
{
	CONN_CALL(c, hs_session_provide_evidence(c->session, tee, evidence, len, additional,
						 additional_len));
}

void hs_conn_evidence_failed(struct hs_conn *c, const char *detail)
{
	CONN_CALL(c, hs_session_evidence_failed(c->session, detail));
}

void hs_conn_provide_verdict(struct hs_conn *c, bool accept, enum hs_reason reason_if_rejected,
			     const char *detail)
{
	CONN_CALL(c, hs_session_provide_verdict(c->session, accept, reason_if_rejected, detail));
}

const struct sockaddr *hs_conn_peer(const struct hs_conn *c)
{
	return (const struct sockaddr *)&c->peer;
}

void hs_conn_set_owner_data(struct hs_conn *c, void *data)
{
	c->owner_data = data;
}

void *hs_conn_owner_data(const struct hs_conn *c)
{
	return c->owner_data;
}
