#include "node/node.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest/verifier.h"
#include "common/log.h"
#include "node/attestation.h"
#include "node/control.h"
#include "node/http.h"
#include "node/peers.h"
#include "node/status.h"
#include "overlay/crypto.h"
#include "overlay/device.h"
#include "overlay/uapi.h"
#include "policy/routing.h"
#include "policy/steering.h"
#include "tun/netlink.h"
#include "tun/tun.h"

/* Own evidence, and the AS's answer to it, are tried again this often until both came once. */
#define READINESS_RETRY_NS (5 * NSEC_PER_SEC)
#define READINESS_RUNTIME_DATA "{\"tng-wg\":1,\"role\":\"readiness\"}"

struct node {
	struct loop *loop;
	struct node_config *cfg;
	struct device *dev;
	struct attestation *att;
	struct peers *peers;
	struct control_server *control;
	struct uapi_server *uapi;
	struct http_server *metrics;
	bool routing_applied, steering_applied;
	struct loop_timer stop_timer;
	/* readiness: own evidence obtained and every AS answered, once */
	bool ready;
	struct attestation_op *readiness_op;
	struct loop_timer readiness_timer;
};

static void on_stop_timer(void *ctx)
{
	struct node *n = ctx;
	loop_stop(n->loop);
}

/* ---- readiness ---- */

static void readiness_retry(struct node *n, const char *why)
{
	log_info("node", "not ready yet: %s; trying again in %llu s", why,
		 (unsigned long long)(READINESS_RETRY_NS / NSEC_PER_SEC));
	loop_timer_arm_in(n->loop, &n->readiness_timer, READINESS_RETRY_NS);
}

static void became_ready(struct node *n)
{
	n->ready = true;
	log_info("node", "ready: %s%s", n->cfg->attest ? "own evidence obtained" : "nothing to attest",
		 n->cfg->n_verifiers ? ", the Attestation Service answered" : "");
}

static void on_readiness_verdict(void *ctx, const struct peer_verdict *v)
{
	struct node *n = ctx;
	n->readiness_op = NULL;
	if (v->verifier_unavailable)
		readiness_retry(n, v->detail ? v->detail : "the Attestation Service did not answer");
	else
		became_ready(n);
}

/* The AS only has to answer: a verdict either way shows it works for this node. */
static void appraise_for_readiness(struct node *n, const char *tee, const uint8_t *evidence, size_t len,
				   const uint8_t *additional, size_t additional_len)
{
	struct attestation_op *op = attestation_verify_peer(n->att, tee, evidence, len, additional,
							    additional_len, READINESS_RUNTIME_DATA,
							    on_readiness_verdict, n);
	if (op)
		n->readiness_op = op;
}

static void on_readiness_evidence(void *ctx, const struct own_evidence *e)
{
	struct node *n = ctx;
	n->readiness_op = NULL;
	if (e->error) {
		readiness_retry(n, e->message ? e->message : "no evidence");
		return;
	}
	if (!attestation_verifies(n->att)) {
		became_ready(n);
		return;
	}
	appraise_for_readiness(n, e->tee, e->evidence, e->evidence_len, e->additional, e->additional_len);
}

static void check_readiness(void *ctx)
{
	struct node *n = ctx;
	if (n->ready || n->readiness_op)
		return;
	if (attestation_attests(n->att)) {
		struct attestation_op *op = attestation_get_evidence(n->att, READINESS_RUNTIME_DATA,
								     on_readiness_evidence, n);
		if (op)
			n->readiness_op = op;
	} else if (attestation_verifies(n->att)) {
		static const uint8_t probe[] = "{}";
		appraise_for_readiness(n, "sample", probe, sizeof(probe) - 1, NULL, 0);
	} else {
		became_ready(n);
	}
}

static void readiness_stop(struct node *n)
{
	attestation_op_cancel(n->readiness_op);
	n->readiness_op = NULL;
	loop_timer_cancel(n->loop, &n->readiness_timer);
}

/* ---- status endpoints ---- */

static struct status_source status_of(struct node *n)
{
	return (struct status_source){ .dev = n->dev, .cfg = n->cfg, .peers = n->peers, .att = n->att,
				       .ready = n->ready };
}

static int on_http(void *ctx, const char *path, char **body, const char **content_type)
{
	struct node *n = ctx;
	struct status_source s = status_of(n);
	if (!strcmp(path, "/metrics")) {
		*content_type = "text/plain; version=0.0.4; charset=utf-8";
		*body = status_metrics(&s);
		return *body ? 200 : 500;
	}
	if (!strcmp(path, "/livez")) {
		*body = strdup("ok\n");
		return 200;
	}
	if (!strcmp(path, "/readyz")) {
		*body = strdup(n->ready ? "ok\n" : "not ready: own evidence or the Attestation Service's answer is pending\n");
		return n->ready ? 200 : 503;
	}
	*body = strdup("not found: try /metrics, /livez or /readyz\n");
	return 404;
}

static int metrics_setup(struct node *n, char *err, size_t errlen)
{
	if (!n->cfg->overlay.metrics)
		return 0;
	char why[160];
	n->metrics = http_server_new(n->loop, &n->cfg->overlay.metrics_addr, on_http, n, why, sizeof(why));
	if (!n->metrics) {
		snprintf(err, errlen, "cannot serve overlay.metrics: %s", why);
		return -1;
	}
	return 0;
}

/* ---- control socket ---- */

static char *reply_text(const char *fmt, const char *arg)
{
	size_t len = strlen(fmt) + strlen(arg) + 1;
	char *reply = malloc(len);
	if (reply)
		snprintf(reply, len, fmt, arg);
	return reply;
}

static char *on_control(void *ctx, const char *command)
{
	struct node *n = ctx;
	if (!strcmp(command, "show")) {
		struct status_source s = status_of(n);
		return status_json(&s);
	}
	if (!strcmp(command, "down")) {
		log_info("node", "down requested");
		/* Stop on the next turn of the loop, once this reply has been written. */
		loop_timer_arm_in(n->loop, &n->stop_timer, 0);
		return strdup("ok\n");
	}
	if (!strncmp(command, "reload ", 7)) {
		char err[4096];
		if (node_reload(n, command + 7, err, sizeof(err)) < 0)
			return reply_text("error: %s\n", err);
		return reply_text("ok: reloaded %s\n", command + 7);
	}
	return reply_text("error: unknown command '%.40s' (known: show, down, reload PATH)\n", command);
}

static void on_uapi_socket_gone(void *ctx)
{
	struct node *n = ctx;
	log_info("node", "the UAPI socket was deleted: shutting down");
	loop_stop(n->loop);
}

static int device_setup(struct node *n, char *err, size_t errlen)
{
	const struct overlay_config *o = &n->cfg->overlay;
	char name[IFNAMSIZ];
	int fd = tun_open(o->ifname, name);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create TUN interface %s: %s", o->ifname, strerror(-fd));
		return -1;
	}
	n->dev = device_new(n->loop, fd, name);
	if (!n->dev) {
		snprintf(err, errlen, "cannot start the WireGuard device on %s: %s", name, strerror(errno));
		close(fd);
		return -1;
	}
	uint8_t key[WG_KEY_LEN];
	wg_generate_private_key(key); /* a fresh tunnel key per start: only attestation vouches for it */
	int rc = device_set_private_key(n->dev, key);
	sodium_memzero(key, sizeof(key));
	if (rc == 0)
		rc = device_set_listen_port(n->dev, o->port);
	if (rc == 0)
		rc = device_set_fwmark(n->dev, n->cfg->bypass_mark);
	if (rc < 0) {
		snprintf(err, errlen, "cannot configure %s (UDP port %u): %s", name, o->port, strerror(-rc));
		return -1;
	}
	device_set_mtu(n->dev, o->mtu);
	rc = nl_link_set_mtu(name, o->mtu);
	if (rc == 0)
		rc = nl_link_set_up(name, true);
	if (rc < 0) {
		snprintf(err, errlen, "cannot bring %s up with MTU %u: %s", name, o->mtu, strerror(-rc));
		return -1;
	}
	/* `wg show` works on the node's interface like on any userspace WireGuard device. */
	n->uapi = uapi_server_new(n->loop, n->dev, UAPI_DEFAULT_DIR, on_uapi_socket_gone, n);
	if (!n->uapi) {
		snprintf(err, errlen, "cannot serve the WireGuard UAPI for %s: %s", name, strerror(errno));
		return -1;
	}
	/* Peers' evidence vouches for this key, and the port and bypass mark are the config's. */
	uapi_server_lock_interface(n->uapi);
	return 0;
}

static int steering_setup(struct node *n, char *err, size_t errlen)
{
	if (routing_apply(n->cfg, ROUTING_STATE_DIR, err, errlen) < 0)
		return -1;
	n->routing_applied = true;
	if (steering_apply(n->cfg, err, errlen) < 0)
		return -1;
	n->steering_applied = true;
	return 0;
}

struct node *node_start(struct loop *loop, struct node_config *cfg, char *err, size_t errlen)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n) {
		config_free(cfg);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	n->loop = loop;
	n->cfg = cfg;
	loop_timer_init(&n->stop_timer, on_stop_timer, n);
	loop_timer_init(&n->readiness_timer, check_readiness, n);
	for (size_t i = 0; i < cfg->n_warnings; i++)
		log_warn("config", "%s", cfg->warnings[i]);
	if (mkdir(CONTROL_DIR, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", CONTROL_DIR, strerror(errno));
		goto fail;
	}
	if (device_setup(n, err, errlen) < 0)
		goto fail;
	n->att = attestation_new(loop, cfg, err, errlen);
	if (!n->att)
		goto fail;
	n->peers = peers_new(loop, n->dev, n->att, cfg, CONTROL_DIR, err, errlen);
	if (!n->peers)
		goto fail;
	if (steering_setup(n, err, errlen) < 0)
		goto fail;
	if (metrics_setup(n, err, errlen) < 0)
		goto fail;
	n->control = control_server_new(loop, device_ifname(n->dev), on_control, n, err, errlen);
	if (!n->control)
		goto fail;
	peers_connect_initial(n->peers);
	check_readiness(n);
	log_info("node", "%s up: UDP/TCP port %u, MTU %u, %s, %s", device_ifname(n->dev), cfg->overlay.port,
		 cfg->overlay.mtu, cfg->attest ? "attests" : "does not attest",
		 cfg->n_verifiers ? "verifies its peers" : "does not verify its peers");
	return n;
fail:
	node_stop(n);
	return NULL;
}

/* The first setting of `next` that only a restart can change, or NULL. */
static const char *needs_restart(const struct node_config *now, const struct node_config *next)
{
	const struct overlay_config *a = &now->overlay, *b = &next->overlay;
	if (strcmp(a->ifname, b->ifname))
		return "overlay.interface";
	if (a->port != b->port)
		return "overlay.port";
	if (a->mtu != b->mtu)
		return "overlay.mtu";
	if (a->fwmark != b->fwmark)
		return "overlay.fwmark";
	if (a->table != b->table)
		return "overlay.table";
	if (now->bypass_mark != next->bypass_mark)
		return "netfilter.so_mark";
	if (a->metrics != b->metrics || (a->metrics && memcmp(&a->metrics_addr, &b->metrics_addr, sizeof(a->metrics_addr))))
		return "overlay.metrics";
	return NULL;
}

int node_reload(struct node *n, const char *path, char *err, size_t errlen)
{
	struct node_config *cfg;
	if (config_load_file(path, &cfg, err, errlen) < 0)
		goto refused;
	const char *fixed = needs_restart(n->cfg, cfg);
	if (fixed) {
		snprintf(err, errlen, "%s: %s differs from the running node's; that takes a restart ('tng-wg down', then 'up')",
			 path, fixed);
		config_free(cfg);
		goto refused;
	}
	/* Everything that can fail comes first, so that a refusal leaves the running node as it was. */
	struct attestation *att = attestation_new(n->loop, cfg, err, errlen);
	if (!att || steering_apply(cfg, err, errlen) < 0) {
		attestation_free(att);
		config_free(cfg);
		goto refused;
	}
	for (size_t i = 0; i < cfg->n_warnings; i++)
		log_warn("config", "%s", cfg->warnings[i]);
	readiness_stop(n);
	peers_reload(n->peers, att, cfg);
	attestation_free(n->att);
	config_free(n->cfg);
	n->att = att;
	n->cfg = cfg;
	check_readiness(n);
	log_info("node", "reloaded %s: %s, %s; anchors fetched from an AS are fetched again", path,
		 cfg->attest ? "attests" : "does not attest", cfg->n_verifiers ? "verifies its peers" : "does not verify its peers");
	return 0;
refused:
	log_warn("node", "reload refused, the running configuration stays: %s", err);
	return -1;
}

const char *node_config_path(const struct node *n)
{
	return n->cfg->path;
}

void node_stop(struct node *n)
{
	if (!n)
		return;
	char err[512];
	if (n->steering_applied && steering_remove(n->cfg->overlay.ifname, err, sizeof(err)) < 0)
		log_warn("node", "%s", err);
	if (n->routing_applied && routing_remove(n->cfg, ROUTING_STATE_DIR, err, sizeof(err)) < 0)
		log_warn("node", "%s", err);
	readiness_stop(n);
	http_server_free(n->metrics);
	peers_free(n->peers);
	attestation_free(n->att);
	uapi_server_free(n->uapi);
	device_free(n->dev); /* closing the TUN removes the interface */
	loop_timer_cancel(n->loop, &n->stop_timer);
	/* Last: `tng-wg down` waits for this socket to vanish as the sign that all is removed. */
	control_server_free(n->control);
	config_free(n->cfg);
	free(n);
}

/* Whether ifname is a TUN device (its driver says "tun"): only such a device can be a killed
 * daemon's interface, whatever name a config gives. */
static bool is_tun_device(const char *ifname)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { .ifr_data = (char *)&info };
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool tun = fd >= 0 && ioctl(fd, SIOCETHTOOL, &ifr) == 0 && !strcmp(info.driver, "tun");
	if (fd >= 0)
		close(fd);
	return tun;
}

int node_cleanup_leftovers(const struct node_config *cfg, char *err, size_t errlen)
{
	int rc = 0;
	if (steering_remove(cfg->overlay.ifname, err, errlen) < 0)
		rc = -1;
	char err2[512];
	if (routing_remove(cfg, ROUTING_STATE_DIR, err2, sizeof(err2)) < 0) {
		if (rc == 0)
			snprintf(err, errlen, "%s", err2);
		rc = -1;
	}
	char uapi_path[128];
	if (uapi_socket_path(UAPI_DEFAULT_DIR, cfg->overlay.ifname, uapi_path, sizeof(uapi_path)) == 0)
		unlink(uapi_path); /* the killed daemon's; wg would only find it refused */
	if (nl_link_index(cfg->overlay.ifname) > 0 && !is_tun_device(cfg->overlay.ifname)) {
		if (rc == 0)
			snprintf(err, errlen, "%s is not a TUN device, so not tng-wg's: left in place",
				 cfg->overlay.ifname);
		return -1;
	}
	int lrc = nl_link_delete(cfg->overlay.ifname);
	if (lrc < 0 && lrc != -ENODEV && rc == 0) {
		snprintf(err, errlen, "cannot delete %s: %s", cfg->overlay.ifname, strerror(-lrc));
		rc = -1;
	}
	return rc;
}
