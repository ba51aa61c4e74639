/*
 * One node of the attested handshake for end-to-end tests: a transport on a real socket that
 * either waits for one peer or connects to one, plays its own owner (evidence that embeds the
 * runtime data it must bind; a verifier that accepts only evidence bound to exactly the runtime
 * data expected), and prints its WireGuard key, its port and the outcome:
 *   node own_key=<hex>
 *   listening port=<n>
 *   done psk=<hex> peer_key=<hex> peer_port=<n> initiated=<0|1> attested=<0|1>
 *   failed reason=<name> by_peer=<0|1> detail=<text>
 * Exit status 0 after done, 1 after failed, 2 on usage or set-up errors.
 *
 *   hs_node --bind ADDR --port N [--mark N] [--connect ADDR] [--attest] [--require]
 *           [--deadline-ms N] [--wg-port N]
 */
#include "common/loop.h"
#include "handshake/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVIDENCE_PREFIX "sample-evidence:"

static int outcome = -1;

static void print_hex(const char *name, const uint8_t *p, size_t n)
{
	printf(" %s=", name);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static void need_evidence(void *ctx, struct hs_conn *c, const char *json)
{
	size_t plen = strlen(EVIDENCE_PREFIX), jlen = strlen(json);
	uint8_t *ev = malloc(plen + jlen);
	if (!ev) {
		hs_conn_evidence_failed(c, "out of memory");
		return;
	}
	memcpy(ev, EVIDENCE_PREFIX, plen);
	memcpy(ev + plen, json, jlen);
	hs_conn_provide_evidence(c, "sample", ev, plen + jlen, NULL, 0);
	free(ev);
}

static void need_verification(void *ctx, struct hs_conn *c, const struct sockaddr *peer,
			      const char *tee, const uint8_t *evidence, size_t len,
			      const uint8_t *additional, size_t additional_len, const char *expected)
{
	size_t plen = strlen(EVIDENCE_PREFIX), jlen = strlen(expected);
	bool bound = len == plen + jlen && !memcmp(evidence, EVIDENCE_PREFIX, plen) &&
		     !memcmp(evidence + plen, expected, jlen);
	hs_conn_provide_verdict(c, bound, HS_VERIFICATION_FAILED, "runtime data not bound");
}

static void done(void *ctx, struct hs_conn *c, const struct sockaddr *peer, const struct hs_result *r)
{
	printf("done");
	print_hex("psk", r->psk, sizeof(r->psk));
	print_hex("peer_key", r->peer_wg_public_key, sizeof(r->peer_wg_public_key));
	printf(" peer_port=%u initiated=%d attested=%d\n", r->peer_wg_port, r->we_initiated,
	       r->peer_attested);
	fflush(stdout);
	outcome = 0;
}

static void failed(void *ctx, struct hs_conn *c, const struct sockaddr *peer, enum hs_reason reason,
		   bool by_peer, const char *detail, bool we_initiated)
{
	printf("failed reason=%s by_peer=%d detail=%s\n", hs_reason_name(reason), by_peer, detail);
	fflush(stdout);
	outcome = 1;
}

static int parse_addr(const char *text, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	struct sockaddr_in *a4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
	if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		return 0;
	}
	fprintf(stderr, "hs_node: '%s' is not an IP address\n", text);
	return -1;
}

int main(int argc, char **argv)
{
	struct hs_transport_config cfg = { 0 };
	struct hs_local local = { .wg_port = 51820 };
	struct sockaddr_storage peer = { 0 };
	bool connect_to_peer = false;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(arg, "--attest")) {
			local.will_attest = true;
		} else if (!strcmp(arg, "--require")) {
			local.requires_peer_evidence = true;
		} else if (val && !strcmp(arg, "--bind")) {
			if (parse_addr(val, &cfg.bind_addr) != 0)
				return 2;
			i++;
		} else if (val && !strcmp(arg, "--connect")) {
			if (parse_addr(val, &peer) != 0)
				return 2;
			connect_to_peer = true;
			i++;
		} else if (val && !strcmp(arg, "--port")) {
			cfg.port = (uint16_t)atoi(val);
			i++;
		} else if (val && !strcmp(arg, "--mark")) {
			cfg.so_mark = (uint32_t)strtoul(val, NULL, 0);
			i++;
		} else if (val && !strcmp(arg, "--deadline-ms")) {
			cfg.deadline_ns = strtoull(val, NULL, 10) * NSEC_PER_MSEC;
			i++;
		} else if (val && !strcmp(arg, "--wg-port")) {
			local.wg_port = (uint16_t)atoi(val);
			i++;
		} else {
			fprintf(stderr, "hs_node: unknown or incomplete option '%s'\n", arg);
			return 2;
		}
	}
	if (sodium_init() < 0)
		return 2;
	randombytes_buf(local.wg_public_key, sizeof(local.wg_public_key));
	printf("node");
	print_hex("own_key", local.wg_public_key, sizeof(local.wg_public_key));
	printf("\n");

	static const struct hs_transport_ops ops = { need_evidence, need_verification, done, failed };
	char err[256];
	struct loop *loop = loop_new();
	struct hs_transport *t = hs_transport_new(loop, &cfg, &local, &ops, NULL, err, sizeof(err));
	if (!t) {
		fprintf(stderr, "hs_node: %s\n", err);
		loop_free(loop);
		return 2;
	}
	printf("listening port=%u\n", hs_transport_port(t));
	fflush(stdout);
	if (connect_to_peer && !hs_transport_connect(t, (struct sockaddr *)&peer)) {
		fprintf(stderr, "hs_node: cannot start the handshake\n");
		return 2;
	}
	while (outcome < 0)
		loop_run_once(loop, 1000);
	/* let the last verdict leave and the peer close */
	for (int i = 0; i < 20; i++)
		loop_run_once(loop, 20);
	hs_transport_free(t);
	loop_free(loop);
	return outcome;
}
