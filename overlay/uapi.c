#include "overlay/uapi.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"

#define UAPI_LINE_MAX 1024
/* Out of descriptors: stop accepting this long rather than wake for the listener again and again. */
#define ACCEPT_PAUSE_NS (100 * NSEC_PER_MSEC)

enum uapi_op { OP_NONE, OP_GET, OP_STATS, OP_SET };

struct set_state {
	/* The peer section's key: looked up per line, since a request can arrive in pieces and other
	 * connections may remove the peer in between. */
	uint8_t peer_key[WG_KEY_LEN];
	bool in_peer_section;
	bool dummy;          /* own key, removed, or update_only on an unknown key: parse but ignore */
	bool created;
	int err;
};

struct uapi_conn {
	struct uapi_server *srv;
	int fd;
	struct uapi_conn *next;
	char line[UAPI_LINE_MAX];
	size_t line_len;
	bool line_too_long;
	enum uapi_op op;
	struct set_state set;
	char *out;
	size_t out_len, out_cap, out_sent;
	bool out_incomplete; /* an answer did not fit in memory: close rather than send part of it */
	bool close_when_sent;
};

struct uapi_server {
	struct loop *loop;
	struct device *dev;
	int listen_fd;
	struct loop_timer accept_resume;
	int inotify_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t st_dev;
	ino_t st_ino;
	uapi_socket_gone_fn gone;
	void *gone_ctx;
	struct uapi_conn *conns;
	bool interface_locked; /* private key, listen port and fwmark are the owner's */
};

/* ---- Output ---- */

static void out_printf(struct uapi_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct uapi_conn *c, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = c->out_cap - c->out_len;
		int n = vsnprintf(c->out ? c->out + c->out_len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			c->out_len += (size_t)n;
			return;
		}
		size_t cap = c->out_cap ? c->out_cap * 2 : 4096;
		while (cap - c->out_len <= (size_t)n)
			cap *= 2;
		/* Not realloc: the old buffer may hold keys and must be wiped. */
		char *p = malloc(cap);
		if (!p) {
			c->out_incomplete = true;
			return;
		}
		if (c->out) {
			memcpy(p, c->out, c->out_len);
			sodium_memzero(c->out, c->out_cap);
			free(c->out);
		}
		c->out = p;
		c->out_cap = cap;
	}
}

static void out_key(struct uapi_conn *c, const char *name, const uint8_t key[WG_KEY_LEN])
{
	char hex[2 * WG_KEY_LEN + 1];
	sodium_bin2hex(hex, sizeof(hex), key, WG_KEY_LEN);
	out_printf(c, "%s=%s\n", name, hex);
	sodium_memzero(hex, sizeof(hex));
}

/* ---- get=1 ---- */

static void out_allowed_ip(void *ctx, int family, const uint8_t *addr, uint8_t cidr)
{
	char ip[INET6_ADDRSTRLEN];
	inet_ntop(family, addr, ip, sizeof(ip));
	out_printf(ctx, "allowed_ip=%s/%u\n", ip, cidr);
}

static void answer_get(struct uapi_conn *c)
{
	struct device *dev = c->srv->dev;
	uint8_t key[WG_KEY_LEN];
	if (device_get_private_key(dev, key))
		out_key(c, "private_key", key);
	sodium_memzero(key, sizeof(key));
	if (device_listen_port(dev))
		out_printf(c, "listen_port=%u\n", device_listen_port(dev));
	if (device_fwmark(dev))
		out_printf(c, "fwmark=%" PRIu32 "\n", device_fwmark(dev));
	for (struct peer *p = device_next_peer(dev, NULL); p; p = device_next_peer(dev, p)) {
		peer_public_key(p, key);
		out_key(c, "public_key", key);
		peer_get_preshared_key(p, key);
		out_key(c, "preshared_key", key);
		sodium_memzero(key, sizeof(key));
		out_printf(c, "protocol_version=1\n");
		union endpoint_addr ep;
		if (peer_get_endpoint(p, &ep)) {
			char addr[64];
			out_printf(c, "endpoint=%s\n", endpoint_to_string(&ep, addr));
		}
		struct peer_stats st;
		peer_get_stats(p, &st);
		out_printf(c, "last_handshake_time_sec=%" PRId64 "\nlast_handshake_time_nsec=%" PRId64 "\n",
			   st.last_handshake_sec, st.last_handshake_nsec);
		out_printf(c, "tx_bytes=%" PRIu64 "\nrx_bytes=%" PRIu64 "\n", st.tx_bytes, st.rx_bytes);
		out_printf(c, "persistent_keepalive_interval=%u\n", peer_persistent_keepalive(p));
		peer_for_each_allowed_ip(p, out_allowed_ip, c);
	}
	out_printf(c, "errno=0\n\n");
}

/* ---- stats=1 ---- */

static void answer_stats(struct uapi_conn *c)
{
	struct device_counters k;
	device_get_counters(c->srv->dev, &k);
	const struct {
		const char *name;
		uint64_t value;
	} rows[] = {
		{ "rx_invalid_length", k.rx_invalid_length },
		{ "rx_unknown_type", k.rx_unknown_type },
		{ "rx_bad_mac", k.rx_bad_mac },
		{ "rx_unknown_index", k.rx_unknown_index },
		{ "rx_decrypt_failed", k.rx_decrypt_failed },
		{ "rx_replayed", k.rx_replayed },
		{ "rx_bad_inner_source", k.rx_bad_inner_source },
		{ "rx_handshake_invalid", k.rx_handshake_invalid },
		{ "rx_cookie_replies_sent", k.rx_cookie_replies_sent },
		{ "rx_ratelimited", k.rx_ratelimited },
		{ "tx_no_route", k.tx_no_route },
		{ "tx_no_endpoint", k.tx_no_endpoint },
		{ "tx_routing_loop", k.tx_routing_loop },
		{ "tx_invalid_offload", k.tx_invalid_offload },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		out_printf(c, "%s=%" PRIu64 "\n", rows[i].name, rows[i].value);
	out_printf(c, "errno=0\n\n");
}

/* ---- set=1: value parsers, each returning 0 or -EINVAL ---- */

static int parse_key(const char *v, uint8_t key[WG_KEY_LEN])
{
	size_t bin_len = 0;
	if (strlen(v) != 2 * WG_KEY_LEN ||
	    sodium_hex2bin(key, WG_KEY_LEN, v, 2 * WG_KEY_LEN, NULL, &bin_len, NULL) != 0 || bin_len != WG_KEY_LEN)
		return -EINVAL;
	return 0;
}

static int parse_uint(const char *v, uint64_t max, uint64_t *out)
{
	if (!*v || strlen(v) > 20)
		return -EINVAL;
	uint64_t n = 0;
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (n > (max - (uint64_t)(*p - '0')) / 10)
			return -EINVAL;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*out = n;
	return 0;
}

static int parse_true(const char *v) { return strcmp(v, "true") ? -EINVAL : 0; }

static int parse_endpoint(const char *v, union endpoint_addr *ep)
{
	char host[INET6_ADDRSTRLEN + 16];
	const char *port_str;
	memset(ep, 0, sizeof(*ep));
	if (v[0] == '[') {
		const char *end = strchr(v, ']');
		if (!end || end[1] != ':' || (size_t)(end - v - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, v + 1, (size_t)(end - v - 1));
		host[end - v - 1] = 0;
		port_str = end + 2;
	} else {
		const char *colon = strrchr(v, ':');
		if (!colon || (size_t)(colon - v) >= sizeof(host))
			return -EINVAL;
		memcpy(host, v, (size_t)(colon - v));
		host[colon - v] = 0;
		port_str = colon + 1;
	}
	uint64_t port;
	if (parse_uint(port_str, 65535, &port) < 0)
		return -EINVAL;
	if (v[0] != '[' && inet_pton(AF_INET, host, &ep->in4.sin_addr) == 1) {
		ep->in4.sin_family = AF_INET;
		ep->in4.sin_port = htons((uint16_t)port);
		return 0;
	}
	char *scope = strchr(host, '%');
	if (scope) {
		*scope++ = 0;
		ep->in6.sin6_scope_id = if_nametoindex(scope);
		if (!ep->in6.sin6_scope_id)
			return -EINVAL;
	}
	if (v[0] != '[' || inet_pton(AF_INET6, host, &ep->in6.sin6_addr) != 1)
		return -EINVAL;
	ep->in6.sin6_family = AF_INET6;
	ep->in6.sin6_port = htons((uint16_t)port);
	return 0;
}

static int parse_prefix(const char *v, int *family, uint8_t addr[16], uint8_t *cidr)
{
	const char *slash = strchr(v, '/');
	char ip[INET6_ADDRSTRLEN];
	if (!slash || (size_t)(slash - v) >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, v, (size_t)(slash - v));
	ip[slash - v] = 0;
	if (inet_pton(AF_INET, ip, addr) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, ip, addr) == 1)
		*family = AF_INET6;
	else
		return -EINVAL;
	uint64_t n;
	if (parse_uint(slash + 1, *family == AF_INET ? 32 : 128, &n) < 0)
		return -EINVAL;
	*cidr = (uint8_t)n;
	return 0;
}

/* ---- set=1: device and peer lines ---- */

/* A locked interface takes a set only when it changes nothing; else the owner is asked for. */
static int refuse_locked(struct uapi_conn *c, bool unchanged, const char *what)
{
	if (unchanged)
		return 0;
	log_warn("uapi", "%s: refused to change the %s: the owning daemon sets it", device_ifname(c->srv->dev), what);
	return -EPERM;
}

static int set_private_key(struct uapi_conn *c, const char *value)
{
	struct device *dev = c->srv->dev;
	uint8_t k[WG_KEY_LEN], current[WG_KEY_LEN] = { 0 };
	int rc = parse_key(value, k);
	if (!rc && c->srv->interface_locked) {
		device_get_private_key(dev, current);
		rc = refuse_locked(c, !sodium_memcmp(k, current, WG_KEY_LEN), "private key");
		sodium_memzero(current, sizeof(current));
	}
	if (!rc)
		rc = device_set_private_key(dev, k);
	sodium_memzero(k, sizeof(k));
	return rc;
}

static int set_device_line(struct uapi_conn *c, const char *key, const char *value)
{
	struct device *dev = c->srv->dev;
	bool locked = c->srv->interface_locked;
	uint64_t n;
	if (!strcmp(key, "private_key"))
		return set_private_key(c, value);
	if (!strcmp(key, "listen_port")) {
		if (parse_uint(value, 65535, &n) < 0)
			return -EINVAL;
		if (locked)
			return refuse_locked(c, n == device_listen_port(dev), "listen port");
		int rc = device_set_listen_port(dev, (uint16_t)n);
		return rc == -EADDRINUSE || rc == 0 ? rc : -EIO;
	}
	if (!strcmp(key, "fwmark")) {
		if (parse_uint(value, UINT32_MAX, &n) < 0)
			return -EINVAL;
		if (locked)
			return refuse_locked(c, n == device_fwmark(dev), "fwmark");
		return device_set_fwmark(dev, (uint32_t)n) < 0 ? -EIO : 0;
	}
	if (!strcmp(key, "replace_peers")) {
		if (parse_true(value) < 0)
			return -EINVAL;
		device_remove_all_peers(dev);
		return 0;
	}
	return -EINVAL;
}

static int start_peer_section(struct uapi_conn *c, const char *value)
{
	struct device *dev = c->srv->dev;
	struct set_state *s = &c->set;
	uint8_t k[WG_KEY_LEN], own[WG_KEY_LEN];
	if (parse_key(value, k) < 0)
		return -EINVAL;
	s->in_peer_section = true;
	memcpy(s->peer_key, k, WG_KEY_LEN);
	s->created = false;
	s->dummy = device_get_public_key(dev, own) && !memcmp(own, k, WG_KEY_LEN);
	if (!s->dummy && !device_find_peer(dev, k)) {
		if (!device_add_peer(dev, k))
			return -ENOMEM;
		s->created = true;
	}
	return 0;
}

static int set_peer_line(struct uapi_conn *c, const char *key, const char *value)
{
	struct device *dev = c->srv->dev;
	struct set_state *s = &c->set;
	struct peer *peer = s->dummy ? NULL : device_find_peer(dev, s->peer_key);
	uint64_t n;
	if (!strcmp(key, "update_only")) {
		if (parse_true(value) < 0)
			return -EINVAL;
		if (s->created && peer) {
			device_remove_peer(dev, peer);
			s->dummy = true;
		}
		return 0;
	}
	if (!strcmp(key, "remove")) {
		if (parse_true(value) < 0)
			return -EINVAL;
		if (peer)
			device_remove_peer(dev, peer);
		s->dummy = true;
		return 0;
	}
	if (!strcmp(key, "preshared_key")) {
		uint8_t k[WG_KEY_LEN];
		if (parse_key(value, k) < 0)
			return -EINVAL;
		if (peer)
			peer_set_preshared_key(peer, k);
		sodium_memzero(k, sizeof(k));
		return 0;
	}
	if (!strcmp(key, "endpoint")) {
		union endpoint_addr ep;
		if (parse_endpoint(value, &ep) < 0)
			return -EINVAL;
		if (peer)
			peer_set_endpoint(peer, &ep);
		return 0;
	}
	if (!strcmp(key, "persistent_keepalive_interval")) {
		if (parse_uint(value, 65535, &n) < 0)
			return -EINVAL;
		if (peer)
			peer_set_persistent_keepalive(peer, (uint16_t)n);
		return 0;
	}
	if (!strcmp(key, "replace_allowed_ips")) {
		if (parse_true(value) < 0)
			return -EINVAL;
		if (peer)
			peer_clear_allowed_ips(peer);
		return 0;
	}
	if (!strcmp(key, "allowed_ip")) {
		int family;
		uint8_t addr[16];
		uint8_t cidr;
		if (parse_prefix(value, &family, addr, &cidr) < 0)
			return -EINVAL;
		return peer ? peer_add_allowed_ip(peer, family, addr, cidr) : 0;
	}
	if (!strcmp(key, "protocol_version"))
		return strcmp(value, "1") ? -EINVAL : 0;
	return -EINVAL;
}

static int set_line(struct uapi_conn *c, char *line)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return -EPROTO;
	*eq = 0;
	const char *key = line, *value = eq + 1;
	if (!strcmp(key, "public_key"))
		return start_peer_section(c, value);
	if (c->set.in_peer_section)
		return set_peer_line(c, key, value);
	return set_device_line(c, key, value);
}

/* ---- Connections ---- */

static void conn_close(struct uapi_conn *c)
{
	struct uapi_server *srv = c->srv;
	for (struct uapi_conn **p = &srv->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	loop_unwatch(srv->loop, c->fd);
	close(c->fd);
	if (c->out)
		sodium_memzero(c->out, c->out_cap); /* get answers carry keys */
	free(c->out);
	sodium_memzero(c->line, sizeof(c->line));
	free(c);
}

static void on_conn_event(void *ctx, int fd, unsigned events);

/* Send what is buffered; false when the connection was closed. */
static bool conn_flush(struct uapi_conn *c)
{
	if (c->out_incomplete) {
		conn_close(c);
		return false;
	}
	while (c->out_sent < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Read no more requests until the client takes its answers. */
			loop_watch(c->srv->loop, c->fd, LOOP_WRITE, on_conn_event, c);
			return true;
		}
		if (n < 0) {
			conn_close(c);
			return false;
		}
		c->out_sent += (size_t)n;
	}
	sodium_memzero(c->out, c->out_len);
	c->out_len = c->out_sent = 0;
	if (c->close_when_sent) {
		conn_close(c);
		return false;
	}
	loop_watch(c->srv->loop, c->fd, LOOP_READ, on_conn_event, c);
	return true;
}

/* One complete line (without '\n'); false when the connection was closed. */
static bool conn_line(struct uapi_conn *c, char *line, bool too_long)
{
	switch (c->op) {
	case OP_NONE:
		if (!strcmp(line, "get=1"))
			c->op = OP_GET;
		else if (!strcmp(line, "stats=1"))
			c->op = OP_STATS;
		else if (!strcmp(line, "set=1")) {
			c->op = OP_SET;
			memset(&c->set, 0, sizeof(c->set));
		} else {
			/* As wireguard-go: an unknown operation ends the connection without an answer. */
			conn_close(c);
			return false;
		}
		return true;
	case OP_GET:
	case OP_STATS:
		if (*line || too_long) {
			out_printf(c, "errno=%d\n\n", -EINVAL);
			c->close_when_sent = true;
		} else if (c->op == OP_GET) {
			answer_get(c);
		} else {
			answer_stats(c);
		}
		c->op = OP_NONE;
		return true;
	case OP_SET:
		if (!*line && !too_long) {
			out_printf(c, "errno=%d\n\n", c->set.err);
			c->op = OP_NONE;
			return true;
		}
		if (!c->set.err) {
			c->set.err = too_long ? -EINVAL : set_line(c, line);
			if (c->set.err)
				log_warn("uapi", "%s: set: '%s' refused: %s", device_ifname(c->srv->dev),
					 too_long ? "(overlong line)" : line, strerror(-c->set.err));
		}
		return true;
	}
	return true;
}

static void conn_read(struct uapi_conn *c)
{
	char buf[4096];
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			/* Peer closed (wg's probe sends nothing at all): answer what is pending, then go. */
			c->close_when_sent = true;
			conn_flush(c);
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (c->line_len < sizeof(c->line) - 1)
					c->line[c->line_len++] = buf[i];
				else
					c->line_too_long = true;
				continue;
			}
			c->line[c->line_len] = 0;
			bool too_long = c->line_too_long;
			c->line_len = 0;
			c->line_too_long = false;
			if (!conn_line(c, c->line, too_long))
				return;
			if (c->close_when_sent)
				break; /* the rest of what was sent is not read */
		}
		if (c->close_when_sent)
			break;
	}
	sodium_memzero(buf, sizeof(buf));
	conn_flush(c);
}

static void on_conn_event(void *ctx, int fd, unsigned events)
{
	struct uapi_conn *c = ctx;
	if (events & LOOP_WRITE) {
		if (!conn_flush(c))
			return;
	}
	if (events & LOOP_READ)
		conn_read(c);
}

static void on_accept(void *ctx, int fd, unsigned events)
{
	struct uapi_server *srv = ctx;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0 && errno == EINTR)
			continue;
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				log_warn("uapi", "%s: accept: %s; pausing", device_ifname(srv->dev), strerror(errno));
				loop_unwatch(srv->loop, fd);
				loop_timer_arm_in(srv->loop, &srv->accept_resume, ACCEPT_PAUSE_NS);
			}
			return;
		}
		struct uapi_conn *c = calloc(1, sizeof(*c));
		if (!c || loop_watch(srv->loop, cfd, LOOP_READ, on_conn_event, c) < 0) {
			free(c);
			close(cfd);
			continue;
		}
		c->srv = srv;
		c->fd = cfd;
		c->next = srv->conns;
		srv->conns = c;
	}
}

static void resume_accepting(void *ctx)
{
	struct uapi_server *srv = ctx;
	if (loop_watch(srv->loop, srv->listen_fd, LOOP_READ, on_accept, srv) < 0)
		loop_timer_arm_in(srv->loop, &srv->accept_resume, ACCEPT_PAUSE_NS);
}

/* ---- The socket file ---- */

int uapi_socket_path(const char *dir, const char *ifname, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s.sock", dir, ifname);
	if (n < 0 || (size_t)n >= size || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

static void on_inotify(void *ctx, int fd, unsigned events)
{
	struct uapi_server *srv = ctx;
	char buf[4096];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	struct stat st;
	if (lstat(srv->path, &st) == 0 && st.st_ino == srv->st_ino && st.st_dev == srv->st_dev)
		return;
	log_info("uapi", "%s: %s was removed", device_ifname(srv->dev), srv->path);
	loop_unwatch(srv->loop, srv->inotify_fd);
	close(srv->inotify_fd);
	srv->inotify_fd = -1;
	if (srv->gone)
		srv->gone(srv->gone_ctx);
}

static int mkdir_p(const char *dir)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	for (char *p = path + 1;; p++) {
		bool end = !*p;
		if (*p == '/' || end) {
			*p = 0;
			if (mkdir(path, 0755) < 0 && errno != EEXIST)
				return -errno;
			if (end)
				return 0;
			*p = '/';
		}
	}
}

static int listen_on(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	mode_t old = umask(0077);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	if (rc < 0 && errno == EADDRINUSE) {
		/* A socket file is there: in use if someone answers, else stale. */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0;
		if (probe >= 0)
			close(probe);
		if (!live && unlink(path) == 0)
			rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
		else
			errno = EADDRINUSE;
	}
	umask(old);
	if (rc < 0 || listen(fd, 16) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

struct uapi_server *uapi_server_new(struct loop *loop, struct device *dev, const char *dir,
				    uapi_socket_gone_fn gone, void *ctx)
{
	struct uapi_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->loop = loop;
	srv->dev = dev;
	srv->gone = gone;
	srv->gone_ctx = ctx;
	srv->listen_fd = srv->inotify_fd = -1;
	loop_timer_init(&srv->accept_resume, resume_accepting, srv);
	int rc = uapi_socket_path(dir, device_ifname(dev), srv->path, sizeof(srv->path));
	if (!rc)
		rc = mkdir_p(dir);
	if (!rc)
		rc = srv->listen_fd = listen_on(srv->path);
	struct stat st;
	if (rc >= 0 && stat(srv->path, &st) < 0)
		rc = -errno;
	if (rc < 0) {
		free(srv);
		errno = -rc;
		return NULL;
	}
	srv->st_dev = st.st_dev;
	srv->st_ino = st.st_ino;
	srv->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (srv->inotify_fd < 0 ||
	    inotify_add_watch(srv->inotify_fd, srv->path, IN_ATTRIB | IN_DELETE | IN_DELETE_SELF) < 0 ||
	    loop_watch(loop, srv->inotify_fd, LOOP_READ, on_inotify, srv) < 0 ||
	    loop_watch(loop, srv->listen_fd, LOOP_READ, on_accept, srv) < 0) {
		int err = errno;
		uapi_server_free(srv);
		errno = err;
		return NULL;
	}
	return srv;
}

void uapi_server_lock_interface(struct uapi_server *srv)
{
	srv->interface_locked = true;
}

void uapi_server_free(struct uapi_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_close(srv->conns);
	loop_timer_cancel(srv->loop, &srv->accept_resume);
	if (srv->inotify_fd >= 0) {
		loop_unwatch(srv->loop, srv->inotify_fd);
		close(srv->inotify_fd);
	}
	if (srv->listen_fd >= 0) {
		loop_unwatch(srv->loop, srv->listen_fd);
		close(srv->listen_fd);
	}
	struct stat st;
	if (lstat(srv->path, &st) == 0 && st.st_ino == srv->st_ino && st.st_dev == srv->st_dev)
		unlink(srv->path);
	free(srv);
}
