/* tng-wg show [--json] [IFACE]: the node's peers, their attestation and their tunnels. */
#include "cmd/commands.h"
#include "node/control.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static void human_bytes(double b, char *out, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(out, len, u ? "%.2f %s" : "%.0f %s", b, units[u]);
}

static void print_peer(const cJSON *p)
{
	printf("\npeer: %s\n  state: %s%s\n", str(p, "address"), str(p, "state"),
	       cJSON_IsTrue(cJSON_GetObjectItem(p, "static")) ? " (configured)" : "");
	if (cJSON_IsTrue(cJSON_GetObjectItem(p, "attested")))
		printf("  attestation: %s, policy ids %s, token expires %s, last attested %s (%g in all)\n",
		       str(p, "tee"), str(p, "policy_ids"), str(p, "token_expiry"), str(p, "attested_at"),
		       num(p, "attestations"));
	else if (num(p, "attestations") > 0)
		printf("  attestation: not required by this node\n");
	if (*str(p, "public_key"))
		printf("  public key: %s\n", str(p, "public_key"));
	if (*str(p, "endpoint"))
		printf("  endpoint: %s\n", str(p, "endpoint"));
	if (*str(p, "latest_handshake"))
		printf("  latest handshake: %s\n", str(p, "latest_handshake"));
	if (cJSON_GetObjectItem(p, "rx_bytes")) {
		char rx[32], tx[32];
		human_bytes(num(p, "rx_bytes"), rx, sizeof(rx));
		human_bytes(num(p, "tx_bytes"), tx, sizeof(tx));
		printf("  transfer: %s received, %s sent\n", rx, tx);
	}
	if (*str(p, "last_error"))
		printf("  last error: %s (%s)\n", str(p, "last_error"), str(p, "last_error_at"));
}

static int show_one(const char *ifname, bool json)
{
	char *reply;
	int rc = control_request(ifname, "show", &reply);
	if (rc < 0) {
		fprintf(stderr, "tng-wg show: no tng-wg daemon for %s (%s)\n", ifname, strerror(-rc));
		return 1;
	}
	if (json) {
		fputs(reply, stdout);
		free(reply);
		return 0;
	}
	cJSON *o = cJSON_Parse(reply);
	free(reply);
	if (!o) {
		fprintf(stderr, "tng-wg show: the daemon of %s sent an unreadable reply\n", ifname);
		return 1;
	}
	printf("interface: %s\n  public key: %s\n  port: %g\n", str(o, "interface"), str(o, "public_key"),
	       num(o, "port"));
	printf("  attests: %s\n", *str(o, "attests") ? str(o, "attests") : "no");
	const cJSON *v, *verifies = cJSON_GetObjectItem(o, "verifies");
	printf("  verifies:");
	if (!cJSON_GetArraySize(verifies))
		printf(" no");
	cJSON_ArrayForEach(v, verifies)
		printf(" %s", cJSON_IsString(v) ? v->valuestring : "");
	printf("\n  re-attestation every %g s\n", num(o, "reattest_interval"));
	printf("  ready: %s\n", cJSON_IsTrue(cJSON_GetObjectItem(o, "ready"))
				   ? "yes" : "not yet (own evidence or the Attestation Service's answer pending)");
	const cJSON *p;
	cJSON_ArrayForEach(p, cJSON_GetObjectItem(o, "peers"))
		print_peer(p);
	cJSON_Delete(o);
	return 0;
}

int cmd_show(int argc, char **argv)
{
	bool json = false;
	const char *ifname = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("Usage: tng-wg show [--json] [IFACE]\n");
			return 0;
		} else if (argv[i][0] != '-' && !ifname)
			ifname = argv[i];
		else {
			fprintf(stderr, "Usage: tng-wg show [--json] [IFACE]\n");
			return 1;
		}
	}
	if (ifname)
		return show_one(ifname, json);
	DIR *d = opendir(CONTROL_DIR);
	int shown = 0, rc = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		if (len <= 5 || strcmp(e->d_name + len - 5, ".sock"))
			continue;
		char name[64];
		snprintf(name, sizeof(name), "%.*s", (int)(len - 5), e->d_name);
		if (shown++ && !json)
			printf("\n");
		rc |= show_one(name, json);
	}
	if (d)
		closedir(d);
	if (!shown) {
		fprintf(stderr, "tng-wg show: no tng-wg daemon is running\n");
		return 1;
	}
	return rc;
}
