#include "node/node.h"

#include <cjson/cJSON.h>
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

#include "node/attestation.h"
#include "node/control.h"
#include "node/peers.h"
#include "common/log.h"
#include "overlay/crypto.h"
#include "overlay/device.h"
#include "overlay/uapi.h"
#include "policy/routing.h"
#include "policy/steering.h"
#include "tun/netlink.h"
#include "tun/tun.h"

struct node {
	struct loop *loop;
	struct node_config *cfg;
	struct device *dev;
	struct attestation *att;
	struct peers *peers;
	struct control_server *control;
	struct uapi_server *uapi;
	bool routing_applied, steering_applied;
	struct loop_timer stop_timer;
};

static void on_stop_timer(void *ctx)
{
	struct node *n = ctx;
	loop_stop(n->loop);
}

static char *on_control(void *ctx, const char *command)
{
	struct node *n = ctx;
	if (!strcmp(command, "show"))
		return node_status_json(n);
	if (!strcmp(command, "down")) {
		log_info("node", "down requested");
		/* Stop on the next turn of the loop, once this reply has been written. */
		loop_timer_arm_in(n->loop, &n->stop_timer, 0);
		return strdup("ok\n");
	}
	char *reply = malloc(128);
	if (reply)
		snprintf(reply, 128, "error: unknown command '%.40s' (known: show, down)\n", command);
	return reply;
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
	n->control = control_server_new(loop, device_ifname(n->dev), on_control, n, err, errlen);
	if (!n->control)
		goto fail;
	peers_connect_initial(n->peers);
	log_info("node", "%s up: UDP/TCP port %u, MTU %u, %s, %s", device_ifname(n->dev), cfg->overlay.port,
		 cfg->overlay.mtu, cfg->attest ? "attests" : "does not attest",
		 cfg->n_verifiers ? "verifies its peers" : "does not verify its peers");
	return n;
fail:
	node_stop(n);
	return NULL;
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

static void add_counters(cJSON *o, struct device *dev)
{
	struct device_counters c;
	device_get_counters(dev, &c);
	cJSON *j = cJSON_AddObjectToObject(o, "dropped");
#define COUNTER(name) cJSON_AddNumberToObject(j, #name, (double)c.name)
	COUNTER(rx_invalid_length);
	COUNTER(rx_unknown_type);
	COUNTER(rx_bad_mac);
	COUNTER(rx_unknown_index);
	COUNTER(rx_decrypt_failed);
	COUNTER(rx_replayed);
	COUNTER(rx_bad_inner_source);
	COUNTER(rx_handshake_invalid);
	COUNTER(rx_ratelimited);
	COUNTER(tx_no_route);
	COUNTER(tx_no_endpoint);
	COUNTER(tx_routing_loop);
#undef COUNTER
}

char *node_status_json(struct node *n)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "interface", device_ifname(n->dev));
	uint8_t key[WG_KEY_LEN];
	if (device_get_public_key(n->dev, key)) {
		char b64[sodium_base64_ENCODED_LEN(WG_KEY_LEN, sodium_base64_VARIANT_ORIGINAL)];
		sodium_bin2base64(b64, sizeof(b64), key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
		cJSON_AddStringToObject(o, "public_key", b64);
	}
	cJSON_AddNumberToObject(o, "port", device_listen_port(n->dev));
	cJSON_AddStringToObject(o, "config", n->cfg->path ? n->cfg->path : "");
	cJSON_AddStringToObject(o, "attests", n->cfg->attest ? n->cfg->attest->aa_addr : "");
	cJSON *v = cJSON_AddArrayToObject(o, "verifies");
	for (size_t i = 0; i < n->cfg->n_verifiers; i++)
		cJSON_AddItemToArray(v, cJSON_CreateString(n->cfg->verifiers[i]->as_addr));
	cJSON_AddNumberToObject(o, "reattest_interval", n->cfg->overlay.reattest_interval_s);
	cJSON_AddItemToObject(o, "peers", peers_status(n->peers));
	add_counters(o, n->dev);
	char *text = cJSON_Print(o);
	cJSON_Delete(o);
	if (!text)
		return NULL;
	size_t len = strlen(text);
	char *out = realloc(text, len + 2);
	if (!out)
		return text;
	out[len] = '\n';
	out[len + 1] = '\0';
	return out;
}
