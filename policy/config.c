#include "policy/config.h"
#include "policy/json_diag.h"
#include "policy/ra_config.h"
#include "policy/roles.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define L3_ONLY "tng-wg is an L3 overlay and supports only 'netfilter' capture; "
#define EXPECTED_CAPTURE_DST "an object {host, ipset, port, port_end} or an array of them"
#define EXPECTED_SO_MARK "an integer 1-4294967295 (0 would exempt every unmarked packet)"
#define EXPECTED_TABLE "a routing table number 1-4294967295 other than 253-255 (the kernel's default, main and local)"
#define MAX_CONFIG_BYTES (1 << 20)

/* A key TNG accepts that tng-wg refuses, with what to do instead. */
struct refusal {
	const char *key;
	const char *message;
};

static const struct refusal ingress_refusals[] = {
	{ "mapping", L3_ONLY "use netfilter.capture_dst with the mapped port" },
	{ "http_proxy", L3_ONLY "use netfilter.capture_dst with the hosts and ports the proxy would reach" },
	{ "socks5", L3_ONLY "use netfilter.capture_dst with the hosts and ports the proxy would reach" },
	{ "hook", L3_ONLY "use netfilter.capture_dst with the same capture_dst" },
	{ "mapping_udp", L3_ONLY "use netfilter.capture_dst with the UDP port (netfilter steers TCP and UDP)" },
	{ "ohttp", "tng-wg does not speak OHTTP: WireGuard encrypts all steered traffic; remove it" },
	{ "encap_in_http", "tng-wg does not speak OHTTP: WireGuard encrypts all steered traffic; remove it" },
	{ NULL, NULL },
};

static const struct refusal egress_refusals[] = {
	{ "mapping", L3_ONLY "use netfilter.capture_dst with the port of the local service" },
	{ "hook", L3_ONLY "use netfilter.capture_dst with the ports of capture_listen" },
	{ "mapping_udp", L3_ONLY "use netfilter.capture_dst with the UDP port (netfilter steers TCP and UDP)" },
	{ "ohttp", "tng-wg does not speak OHTTP: WireGuard encrypts all steered traffic; remove it" },
	{ "decap_from_http", "tng-wg does not speak OHTTP: WireGuard encrypts all steered traffic; remove it" },
	{ "direct_forward", "tng-wg never lets plaintext reach a protected port; remove it, or leave that port out of capture_dst" },
	{ NULL, NULL },
};

/* Keys TNG needs for its own transport; tng-wg carries everything in WireGuard instead. */
static const struct refusal transport_fields[] = {
	{ "rats_tls", "ignored: tng-wg carries traffic in WireGuard tunnels, not RA-TLS" },
	{ "quic", "ignored: tng-wg carries traffic in WireGuard tunnels, not QUIC" },
	{ NULL, NULL },
};

static void *zalloc(struct diag *d, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		d->out_of_memory = true;
	return p;
}

/* ---- capture_dst ---- */

/* "a.b.c.d" or "a.b.c.d/len" with the host bits clear. */
static bool parse_ipv4_cidr(const char *s, uint32_t *addr, uint8_t *prefix)
{
	char buf[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof(buf))
		return false;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	struct in_addr in;
	if (inet_pton(AF_INET, buf, &in) != 1)
		return false;
	unsigned len = 32;
	if (slash) {
		const char *p = slash + 1;
		if (!*p || strlen(p) > 2 || strspn(p, "0123456789") != strlen(p))
			return false;
		len = (unsigned)atoi(p);
		if (len > 32)
			return false;
	}
	uint32_t mask = len ? htonl(~0u << (32 - len)) : 0;
	if (in.s_addr & ~mask)
		return false;
	*addr = in.s_addr;
	*prefix = (uint8_t)len;
	return true;
}

/* nftables set names: a letter or '_' and then letters, digits or '_' (31 at most). */
static bool valid_set_name(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 31 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

static bool parse_capture_host(struct diag *d, const cJSON *v, const char *path,
			       struct capture_dst *dst)
{
	static const char expected[] = "an IPv4 address or CIDR with the host bits zero, e.g. \"10.0.0.0/24\"";
	if (cJSON_IsString(v) && parse_ipv4_cidr(v->valuestring, &dst->host_addr, &dst->host_prefix)) {
		dst->has_host = true;
		return true;
	}
	json_report_expected(d, v, path, expected);
	return false;
}

static bool parse_capture_ports(struct diag *d, const cJSON *obj, const char *path,
				struct capture_dst *dst)
{
	const cJSON *port = json_field(obj, "port"), *port_end = json_field(obj, "port_end");
	char p[JSON_PATH_MAX];
	uint64_t v;
	if (port) {
		json_path_key(p, path, "port");
		if (!json_read_uint(d, port, p, 1, 65535, NULL, &v))
			return false;
		dst->has_port = true;
		dst->port = dst->port_end = (uint16_t)v;
	}
	if (!port_end)
		return true;
	json_path_key(p, path, "port_end");
	if (!port) {
		diag_error(d, path, "`port_end` requires `port` to be specified");
		return false;
	}
	char expected[64];
	snprintf(expected, sizeof(expected), "an integer 1-65535 ≥ port (%u)", dst->port);
	if (!json_read_uint(d, port_end, p, dst->port, 65535, expected, &v))
		return false;
	dst->port_end = (uint16_t)v;
	return true;
}

static bool parse_capture_dst(struct diag *d, const cJSON *v, const char *path,
			      struct capture_dst *dst)
{
	static const char *const keys[] = { "host", "ipset", "port", "port_end", NULL };
	if (!cJSON_IsObject(v)) {
		json_report_expected(d, v, path, EXPECTED_CAPTURE_DST);
		return false;
	}
	bool ok = json_check_keys(d, v, path, keys);
	const cJSON *host = json_field(v, "host"), *ipset = json_field(v, "ipset");
	char p[JSON_PATH_MAX];
	if (host) {
		json_path_key(p, path, "host");
		ok &= parse_capture_host(d, host, p, dst);
	}
	if (ipset) {
		json_path_key(p, path, "ipset");
		if (json_read_string(d, ipset, p, "an nftables set name", &dst->ipset) &&
		    !valid_set_name(dst->ipset)) {
			diag_error(d, p, "expected a set name (a letter or '_', then letters, digits or '_'; 31 at most), got \"%s\"",
				   dst->ipset);
			ok = false;
		}
		ok &= dst->ipset != NULL;
	}
	ok &= parse_capture_ports(d, v, path, dst);
	if (host && ipset) {
		diag_error(d, path, "Only one of host or ipset can be specified");
		ok = false;
	} else if (!host && !ipset && !json_field(v, "port") && !json_field(v, "port_end")) {
		diag_error(d, path, "one of host, ipset, port must be specified");
		ok = false;
	}
	return ok;
}

/* The overlay port carries the tunnels themselves: no capture may claim it. */
static bool check_overlay_port(struct diag *d, const struct capture_dst *c, const char *path,
			       uint16_t overlay_port)
{
	if (!c->has_port || overlay_port < c->port || overlay_port > c->port_end)
		return true;
	diag_error(d, path, "the ports include overlay.port %u, which carries the tunnels; choose another overlay.port or capture port",
		   overlay_port);
	return false;
}

struct dst_ctx {
	struct entry *entry;
	uint16_t overlay_port;
};

static bool parse_one_dst(struct diag *d, const cJSON *v, const char *path, size_t i, void *ctx)
{
	const struct dst_ctx *c = ctx;
	struct capture_dst *dst = &c->entry->dsts[i];
	return parse_capture_dst(d, v, path, dst) && check_overlay_port(d, dst, path, c->overlay_port);
}

static bool parse_capture_dsts(struct diag *d, const cJSON *v, const char *path, struct entry *e,
			       uint16_t overlay_port)
{
	if (!v || (cJSON_IsArray(v) && !cJSON_GetArraySize(v))) {
		diag_error(d, path, "At least one of capture_dst, capture_cgroup must be set and not empty (tng-wg captures by capture_dst only)");
		return false;
	}
	if (!cJSON_IsArray(v) && !cJSON_IsObject(v)) {
		json_report_expected(d, v, path, EXPECTED_CAPTURE_DST);
		return false;
	}
	size_t n = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 1;
	e->dsts = zalloc(d, n, sizeof(*e->dsts));
	if (!e->dsts)
		return false;
	e->n_dsts = n;
	struct dst_ctx ctx = { e, overlay_port };
	if (cJSON_IsObject(v))
		return parse_one_dst(d, v, path, 0, &ctx);
	return json_for_each_item(d, v, path, parse_one_dst, &ctx);
}

/* ---- netfilter ---- */

static bool parse_cgroups(struct diag *d, const cJSON *nf, const char *path, const char *key)
{
	const cJSON *v = json_field(nf, key);
	if (!v)
		return true;
	char p[JSON_PATH_MAX];
	json_path_key(p, path, key);
	char **list;
	size_t n;
	if (!json_read_string_array(d, v, p, false, &list, &n))
		return false;
	json_free_strings(list, n);
	if (n)
		diag_error(d, p, "capture by cgroup is not supported by tng-wg; use capture_dst");
	return n == 0;
}

static bool parse_netfilter(struct diag *d, const cJSON *nf, const char *path, struct entry *e,
			    uint16_t overlay_port)
{
	static const char *const ingress_keys[] = { "capture_dst", "capture_cgroup", "nocapture_cgroup",
						    "listen_port", "so_mark", NULL };
	static const char *const egress_keys[] = { "capture_dst", "capture_cgroup", "nocapture_cgroup",
						   "listen_port", "so_mark", "capture_local_traffic", NULL };
	if (!json_expect_object(d, nf, path))
		return false;
	bool ok = json_check_keys(d, nf, path, e->kind == ENTRY_INGRESS ? ingress_keys : egress_keys);
	char p[JSON_PATH_MAX];
	json_path_key(p, path, "capture_dst");
	ok &= parse_capture_dsts(d, json_field(nf, "capture_dst"), p, e, overlay_port);
	ok &= parse_cgroups(d, nf, path, "capture_cgroup");
	ok &= parse_cgroups(d, nf, path, "nocapture_cgroup");
	const cJSON *v;
	uint64_t n;
	if ((v = json_field(nf, "listen_port"))) {
		json_path_key(p, path, "listen_port");
		if (json_read_uint(d, v, p, 0, 65535, NULL, &n))
			diag_warn(d, p, "ignored: tng-wg steers packets into its overlay interface and has no listener");
		else
			ok = false;
	}
	e->so_mark = CONFIG_DEFAULT_SO_MARK;
	if ((v = json_field(nf, "so_mark"))) {
		json_path_key(p, path, "so_mark");
		ok &= json_read_uint(d, v, p, 1, UINT32_MAX, EXPECTED_SO_MARK, &n);
		e->so_mark = (uint32_t)n;
	}
	if ((v = json_field(nf, "capture_local_traffic"))) {
		json_path_key(p, path, "capture_local_traffic");
		ok &= json_read_bool(d, v, p, &e->capture_local_traffic);
	}
	return ok;
}

/* ---- entries ---- */

static bool apply_refusals(struct diag *d, const cJSON *obj, const char *path,
			   const struct refusal *list, bool *mode_seen)
{
	bool ok = true;
	for (const struct refusal *r = list; r->key; r++) {
		if (!json_field(obj, r->key))
			continue;
		char p[JSON_PATH_MAX];
		json_path_key(p, path, r->key);
		diag_error(d, p, "%s", r->message);
		*mode_seen = true;
		ok = false;
	}
	return ok;
}

static void warn_transport_fields(struct diag *d, const cJSON *obj, const char *path)
{
	for (const struct refusal *r = transport_fields; r->key; r++) {
		if (!json_field(obj, r->key))
			continue;
		char p[JSON_PATH_MAX];
		json_path_key(p, path, r->key);
		if (json_expect_object(d, json_field(obj, r->key), p))
			diag_warn(d, p, "%s", r->message);
	}
}

/* TNG's RaArgsUnchecked::into_checked, with its messages. */
static bool check_ra_args(struct diag *d, const cJSON *obj, const char *path, struct entry *e)
{
	const char *kind = e->kind == ENTRY_INGRESS ? "add_ingress" : "add_egress";
	const cJSON *no_ra = json_field(obj, "no_ra");
	char p[JSON_PATH_MAX];
	json_path_key(p, path, "no_ra");
	if (no_ra && !json_read_bool(d, no_ra, p, &e->no_ra))
		return false;
	bool has_attest = json_field(obj, "attest"), has_verify = json_field(obj, "verify");
	if (e->no_ra && has_verify) {
		diag_error(d, path, "The 'no_ra: true' flag should not be used with 'verify' field");
		return false;
	}
	if (e->no_ra && has_attest) {
		diag_error(d, path, "The 'no_ra: true' flag should not be used with 'attest' field");
		return false;
	}
	if (!e->no_ra && !has_attest && !has_verify) {
		diag_error(d, path, "At least one of 'attest' and 'verify' field and '\"no_ra\": true' should be set for '%s'",
			   kind);
		return false;
	}
	if (e->no_ra)
		diag_warn(d, p, "tunnels of this node are not attested; use it for debugging only");
	return true;
}

static bool parse_entry(struct diag *d, const cJSON *v, const char *path, struct entry *e,
			uint16_t overlay_port)
{
	static const char *const ingress_keys[] = {
		"netfilter", "mapping", "http_proxy", "socks5", "hook", "mapping_udp", "rats_tls", "ohttp",
		"encap_in_http", "quic", "web_page_inject", "no_ra", "attest", "verify", NULL
	};
	static const char *const egress_keys[] = {
		"netfilter", "mapping", "hook", "mapping_udp", "rats_tls", "ohttp", "decap_from_http",
		"direct_forward", "quic", "no_ra", "attest", "verify", NULL
	};
	if (!json_expect_object(d, v, path))
		return false;
	bool ingress = e->kind == ENTRY_INGRESS, refused_mode = false;
	bool ok = json_check_keys(d, v, path, ingress ? ingress_keys : egress_keys);
	ok &= apply_refusals(d, v, path, ingress ? ingress_refusals : egress_refusals, &refused_mode);
	warn_transport_fields(d, v, path);
	char p[JSON_PATH_MAX];
	const cJSON *f;
	if ((f = json_field(v, "web_page_inject"))) {
		bool inject = false;
		json_path_key(p, path, "web_page_inject");
		if (!json_read_bool(d, f, p, &inject))
			ok = false;
		else if (inject) {
			diag_error(d, p, "The `web_page_inject` field is not supported");
			ok = false;
		}
	}
	json_path_key(p, path, "netfilter");
	if ((f = json_field(v, "netfilter"))) {
		ok &= parse_netfilter(d, f, p, e, overlay_port);
	} else if (!refused_mode) {
		diag_error(d, path, "expected a capture mode: \"netfilter\" (tng-wg is an L3 overlay)");
		ok = false;
	}
	ok &= check_ra_args(d, v, path, e);
	if ((f = json_field(v, "attest"))) {
		json_path_key(p, path, "attest");
		ok &= (e->attest = ra_parse_attest(d, f, p)) != NULL;
	}
	if ((f = json_field(v, "verify"))) {
		json_path_key(p, path, "verify");
		ok &= (e->verify = ra_parse_verify(d, f, p)) != NULL;
	}
	return ok;
}

static size_t array_size(const cJSON *v)
{
	return cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 0;
}

struct entries_ctx {
	struct node_config *cfg;
	enum entry_kind kind;
};

static bool parse_listed_entry(struct diag *d, const cJSON *item, const char *path, size_t i,
			       void *ctx)
{
	struct entries_ctx *c = ctx;
	struct entry *e = &c->cfg->entries[c->cfg->n_entries++];
	e->kind = c->kind;
	e->index = (unsigned)i;
	return parse_entry(d, item, path, e, c->cfg->overlay.port);
}

static bool parse_entries(struct diag *d, const cJSON *root, const char *key, enum entry_kind kind,
			  struct node_config *cfg)
{
	const cJSON *list = json_field(root, key);
	if (!list)
		return true;
	if (!cJSON_IsArray(list)) {
		json_report_expected(d, list, key, "an array of entries");
		return false;
	}
	struct entries_ctx ctx = { cfg, kind };
	return json_for_each_item(d, list, key, parse_listed_entry, &ctx);
}

/* ---- overlay ---- */

static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 15 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static bool parse_peer(struct diag *d, const cJSON *item, const char *path, size_t i, void *ctx)
{
	struct overlay_config *o = ctx;
	struct in_addr in;
	if (!cJSON_IsString(item) || inet_pton(AF_INET, item->valuestring, &in) != 1) {
		json_report_expected(d, item, path, "an IPv4 address");
		return false;
	}
	for (size_t j = 0; j < o->n_peers; j++)
		if (o->peers[j] == in.s_addr) {
			diag_error(d, path, "duplicate peer %s", item->valuestring);
			return false;
		}
	o->peers[o->n_peers++] = in.s_addr;
	return true;
}

static bool parse_peers(struct diag *d, const cJSON *v, const char *path, struct overlay_config *o)
{
	if (!cJSON_IsArray(v)) {
		json_report_expected(d, v, path, "an array of IPv4 addresses");
		return false;
	}
	o->peers = zalloc(d, (size_t)cJSON_GetArraySize(v), sizeof(*o->peers));
	return o->peers && json_for_each_item(d, v, path, parse_peer, o);
}

#define EXPECTED_METRICS "a TCP port (served on 127.0.0.1) or \"address:port\", e.g. \"127.0.0.1:9586\" or \"[::1]:9586\""

/* overlay.metrics: a port on loopback, or an explicit address and port. */
static bool parse_metrics(struct diag *d, const cJSON *v, struct overlay_config *o)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)&o->metrics_addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&o->metrics_addr;
	char host[INET6_ADDRSTRLEN + 2] = "";
	unsigned port = 0;
	int end = 0;
	memset(&o->metrics_addr, 0, sizeof(o->metrics_addr));
	if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 65535 && v->valuedouble == (int)v->valuedouble) {
		in4->sin_family = AF_INET;
		in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		port = (unsigned)v->valuedouble;
	} else if (cJSON_IsString(v) && sscanf(v->valuestring, "[%45[0-9a-fA-F:.]]:%5u%n", host, &port, &end) == 2 &&
		   !v->valuestring[end] && inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
	} else if (cJSON_IsString(v) && sscanf(v->valuestring, "%15[0-9.]:%5u%n", host, &port, &end) == 2 &&
		   !v->valuestring[end] && inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
	}
	if (!o->metrics_addr.ss_family || port < 1 || port > 65535) {
		json_report_expected(d, v, "overlay.metrics", EXPECTED_METRICS);
		return false;
	}
	if (port == o->port) {
		diag_error(d, "overlay.metrics", "expected a port other than overlay.port %u, which carries the attested handshakes",
			   o->port);
		return false;
	}
	if (o->metrics_addr.ss_family == AF_INET)
		in4->sin_port = htons((uint16_t)port);
	else
		in6->sin6_port = htons((uint16_t)port);
	o->metrics = true;
	return true;
}

struct uint_field {
	const char *key;
	uint64_t min, max;
	const char *expected;
	size_t offset; /* of an unsigned, uint16_t or uint32_t in struct overlay_config */
	size_t size;
};

#define OVERLAY_FIELD(key, member, min, max, expected) \
	{ key, min, max, expected, offsetof(struct overlay_config, member), \
	  sizeof(((struct overlay_config *)0)->member) }

static const struct uint_field overlay_uints[] = {
	OVERLAY_FIELD("port", port, 1, 65535, NULL),
	OVERLAY_FIELD("mtu", mtu, 576, 65535, NULL),
	OVERLAY_FIELD("reattest_interval", reattest_interval_s, 10, 86400,
		      "an integer number of seconds 10-86400"),
	OVERLAY_FIELD("handshake_timeout", handshake_timeout_s, 1, 300,
		      "an integer number of seconds 1-300"),
	OVERLAY_FIELD("fwmark", fwmark, 1, UINT32_MAX, "an integer 1-4294967295"),
	OVERLAY_FIELD("table", table, 1, UINT32_MAX, EXPECTED_TABLE),
};

static void store_uint(void *base, const struct uint_field *f, uint64_t v)
{
	char *p = (char *)base + f->offset;
	if (f->size == sizeof(uint16_t))
		*(uint16_t *)p = (uint16_t)v;
	else
		*(uint32_t *)p = (uint32_t)v;
}

static bool parse_overlay(struct diag *d, const cJSON *v, struct overlay_config *o)
{
	static const char *const keys[] = { "interface", "port", "mtu", "peers", "reattest_interval",
					    "handshake_timeout", "fwmark", "table", "allow_http_as_anchors",
					    "metrics", NULL };
	snprintf(o->ifname, sizeof(o->ifname), "%s", CONFIG_DEFAULT_IFNAME);
	o->port = CONFIG_DEFAULT_PORT;
	o->mtu = CONFIG_DEFAULT_MTU;
	o->reattest_interval_s = CONFIG_DEFAULT_REATTEST_S;
	o->handshake_timeout_s = CONFIG_DEFAULT_HANDSHAKE_TIMEOUT_S;
	o->fwmark = CONFIG_DEFAULT_FWMARK;
	o->table = CONFIG_DEFAULT_TABLE;
	if (!v)
		return true;
	if (!json_expect_object(d, v, "overlay"))
		return false;
	bool ok = json_check_keys(d, v, "overlay", keys);
	const cJSON *f;
	char p[JSON_PATH_MAX];
	if ((f = json_field(v, "interface"))) {
		if (cJSON_IsString(f) && valid_ifname(f->valuestring)) {
			snprintf(o->ifname, sizeof(o->ifname), "%s", f->valuestring);
		} else {
			json_report_expected(d, f, "overlay.interface",
					     "an interface name of 1-15 letters, digits, '_' or '-' starting with a letter");
			ok = false;
		}
	}
	for (size_t i = 0; i < sizeof(overlay_uints) / sizeof(overlay_uints[0]); i++) {
		const struct uint_field *u = &overlay_uints[i];
		uint64_t n;
		if (!(f = json_field(v, u->key)))
			continue;
		json_path_key(p, "overlay", u->key);
		if (json_read_uint(d, f, p, u->min, u->max, u->expected, &n))
			store_uint(o, u, n);
		else
			ok = false;
	}
	if (o->table >= 253 && o->table <= 255) {
		diag_error(d, "overlay.table", "expected %s, got %u", EXPECTED_TABLE, o->table);
		ok = false;
	}
	if ((f = json_field(v, "peers")))
		ok &= parse_peers(d, f, "overlay.peers", o);
	if ((f = json_field(v, "allow_http_as_anchors")))
		ok &= json_read_bool(d, f, "overlay.allow_http_as_anchors", &o->allow_http_as_anchors);
	if ((f = json_field(v, "metrics")))
		ok &= parse_metrics(d, f, o);
	return ok;
}

/* ---- top level ---- */

static void warn_unused_top_level(struct diag *d, const cJSON *root)
{
	static const char *const unused[] = { "control_interface", "metric", "trace", "admin_bind", NULL };
	for (const char *const *k = unused; *k; k++) {
		const cJSON *v = json_field(root, *k);
		if (v && json_expect_object(d, v, *k))
			diag_warn(d, *k, "accepted for TNG compatibility but not used by tng-wg (see 'tng-wg show')");
	}
}

static bool syntax_check(struct diag *d, const char *text)
{
	unsigned line, column;
	char msg[160];
	if (json_find_syntax_error(text, &line, &column, msg, sizeof(msg)))
		return true;
	diag_error_at(d, line, column, "JSON syntax error: %s", msg);
	return false;
}

int config_parse(const char *text, const char *filename, struct node_config **out, char *err,
		 size_t errlen)
{
	static const char *const top_keys[] = { "add_ingress", "add_egress", "overlay", "control_interface",
						"metric", "trace", "admin_bind", NULL };
	struct diag d = { .file = filename };
	struct node_config *cfg = NULL;
	cJSON *root = NULL;
	*out = NULL;
	if (!syntax_check(&d, text))
		goto done;
	root = cJSON_ParseWithOpts(text, NULL, 1);
	cfg = zalloc(&d, 1, sizeof(*cfg));
	if (!root || !cfg) {
		if (!root)
			diag_error(&d, NULL, "JSON could not be parsed (out of memory?)");
		goto done;
	}
	cfg->path = strdup(filename);
	if (!json_expect_object(&d, root, "(top level)"))
		goto done;
	json_check_keys(&d, root, "", top_keys);
	cfg->entries = zalloc(&d, array_size(json_field(root, "add_ingress")) +
					  array_size(json_field(root, "add_egress")),
			      sizeof(*cfg->entries));
	if (!cfg->entries || !cfg->path)
		goto done;
	parse_overlay(&d, json_field(root, "overlay"), &cfg->overlay);
	parse_entries(&d, root, "add_ingress", ENTRY_INGRESS, cfg);
	parse_entries(&d, root, "add_egress", ENTRY_EGRESS, cfg);
	warn_unused_top_level(&d, root);
	if (!d.n_errors)
		roles_derive(cfg, &d);
done:
	cJSON_Delete(root);
	if (d.n_errors || d.out_of_memory) {
		diag_join_errors(&d, err, errlen);
		diag_free(&d);
		config_free(cfg);
		return -1;
	}
	cfg->warnings = diag_take_warnings(&d, &cfg->n_warnings);
	diag_free(&d);
	*out = cfg;
	return 0;
}

int config_load_file(const char *path, struct node_config **out, char *err, size_t errlen)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	char *text = malloc(MAX_CONFIG_BYTES + 1);
	errno = 0;
	size_t n = text ? fread(text, 1, MAX_CONFIG_BYTES + 1, f) : 0;
	int read_error = ferror(f) ? errno : 0;
	fclose(f);
	if (!text || read_error || n > MAX_CONFIG_BYTES) {
		if (read_error)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(read_error));
		else
			snprintf(err, errlen, "%s: %s", path, !text ? "out of memory" : "larger than 1 MiB");
		free(text);
		return -1;
	}
	text[n] = '\0';
	if (strlen(text) != n) {
		snprintf(err, errlen, "%s: contains a NUL byte; expected JSON text", path);
		free(text);
		return -1;
	}
	int rc = config_parse(text, path, out, err, errlen);
	free(text);
	return rc;
}

static void free_entry(struct entry *e)
{
	for (size_t i = 0; i < e->n_dsts; i++)
		free(e->dsts[i].ipset);
	free(e->dsts);
	ra_free_attest(e->attest);
	ra_free_verify(e->verify);
}

void config_free(struct node_config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_entries; i++)
		free_entry(&cfg->entries[i]);
	free(cfg->entries);
	free(cfg->overlay.peers);
	json_free_strings(cfg->warnings, cfg->n_warnings);
	free(cfg->verifiers);
	free(cfg->path);
	free(cfg);
}
