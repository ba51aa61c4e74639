/*
 * The node configuration: TNG's JSON (add_ingress / add_egress with netfilter capture, attest,
 * verify, no_ra) plus the `overlay` object only an L3 overlay needs. config_parse validates
 * everything up front and reports every problem with the file name, the JSON path and what was
 * expected, so the daemon never starts on a half-understood config.
 *
 * Unknown keys are errors, as in TNG. Accepted from TNG without effect, with a warning:
 * control_interface, metric, trace, admin_bind; an entry's rats_tls and quic;
 * netfilter.listen_port (tng-wg steers packets, it has no proxy listener); empty cgroup lists.
 * Refused, naming what to use instead: the modes mapping, http_proxy, socks5, hook, mapping_udp;
 * ohttp, encap_in_http, decap_from_http, direct_forward; non-empty capture_cgroup and
 * nocapture_cgroup; the passport model, providers other than "coco", as_type grpc and builtin,
 * verify_signer_transparency. Extension: attest.aa_addr "configfs-tsm://[dir]" reads evidence
 * from the kernel's TSM interface when a node has no Attestation Agent.
 */
#ifndef TNGWG_POLICY_CONFIG_H
#define TNGWG_POLICY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <stdint.h>

#define CONFIG_DEFAULT_IFNAME "tngwg0"
#define CONFIG_DEFAULT_PORT 51820
#define CONFIG_DEFAULT_MTU 1420
#define CONFIG_DEFAULT_SO_MARK 565      /* TNG's TCP_CONNECT_SO_MARK_DEFAULT: bypass mark */
#define CONFIG_DEFAULT_FWMARK 51820     /* steering mark, wg-quick's convention */
#define CONFIG_DEFAULT_TABLE 51820      /* policy-routing table of the steering mark */
#define CONFIG_DEFAULT_REATTEST_S 300
#define CONFIG_DEFAULT_HANDSHAKE_TIMEOUT_S 10
#define CONFIG_DEFAULT_REFRESH_S 600    /* TNG's EVIDENCE_REFRESH_INTERVAL_SECOND */
#define CONFIG_DEFAULT_TSM_DIR "/sys/kernel/config/tsm/report"

/* One netfilter.capture_dst: any of host CIDR, ipset (an nftables set, see steering.h), port range. */
struct capture_dst {
	bool has_host;
	uint32_t host_addr; /* network order, host bits cleared */
	uint8_t host_prefix;
	char *ipset;        /* NULL when absent */
	bool has_port;
	uint16_t port, port_end; /* inclusive; port_end == port without port_end */
};

enum attest_source {
	ATTEST_SOURCE_AA,           /* "unix:///path": CoCo Attestation Agent over ttrpc */
	ATTEST_SOURCE_CONFIGFS_TSM, /* "configfs-tsm://[dir]": the kernel's TSM report interface */
};

struct attest_config {
	char *aa_addr;              /* as written */
	enum attest_source source;
	char *path;                 /* the AA socket path, or the configfs-tsm report directory */
	uint64_t refresh_interval_s;
};

struct verify_config {
	char *as_addr;
	char **as_headers;          /* "Name: value" */
	size_t n_as_headers;
	char **policy_ids;
	size_t n_policy_ids;
	char **trusted_certs_paths; /* none: trust anchors come from the AS (see DESIGN) */
	size_t n_trusted_certs;
	bool skip_as_token_cert_verify;
};

enum entry_kind { ENTRY_INGRESS, ENTRY_EGRESS };

struct entry {
	enum entry_kind kind;
	unsigned index;             /* position in add_ingress / add_egress */
	struct capture_dst *dsts;
	size_t n_dsts;
	uint32_t so_mark;
	bool capture_local_traffic; /* egress only */
	bool no_ra;
	struct attest_config *attest; /* NULL when absent */
	struct verify_config *verify; /* NULL when absent */
};

struct overlay_config {
	char ifname[16];
	uint16_t port;              /* UDP (WireGuard) and TCP (attested handshake) */
	unsigned mtu;
	uint32_t *peers;            /* IPv4, network order: tunnels to pre-establish */
	size_t n_peers;
	unsigned reattest_interval_s;
	unsigned handshake_timeout_s;
	uint32_t fwmark;            /* steering mark: packets carrying it are routed into ifname */
	uint32_t table;             /* routing table holding "default dev ifname" */
	bool allow_http_as_anchors; /* fetching the token signer's keys over plain HTTP is accepted */
	bool metrics;               /* serve /metrics, /livez and /readyz on metrics_addr */
	struct sockaddr_storage metrics_addr;
};

struct node_config {
	char *path;                 /* the file name used in messages */
	struct entry *entries;      /* ingress entries first, then egress, each in file order */
	size_t n_entries;
	struct overlay_config overlay;
	char **warnings;            /* things accepted but not used, with why */
	size_t n_warnings;

	/* Derived roles (see roles.h). */
	uint32_t bypass_mark;                  /* so_mark, the same on every entry */
	const struct attest_config *attest;    /* NULL: this node does not attest */
	const struct verify_config **verifiers; /* distinct; a peer must pass all */
	size_t n_verifiers;
	bool no_ra;                            /* every entry has no_ra */
};

/*
 * Parse and validate. Returns 0 with *out set, or -1 with err holding every error found, one per
 * line, each "FILE: PATH: message" (or "FILE:LINE:COL: ..." for JSON syntax errors).
 */
int config_parse(const char *text, const char *filename, struct node_config **out, char *err,
		 size_t errlen);
int config_load_file(const char *path, struct node_config **out, char *err, size_t errlen);
void config_free(struct node_config *cfg);

#endif
