/*
 * tng-wg probe node.json [--timeout SECONDS]
 * Walks this node's attestation path once, the way a peer would meet it: the evidence source is
 * reachable, it produces evidence bound to handshake-shaped runtime data, each configured AS
 * appraises that evidence, and the token passes every check. Prints each step.
 */
#include "attest/evidence.h"
#include "attest/jcs.h"
#include "attest/token.h"
#include "attest/verifier.h"
#include "node/attestation.h"
#include "cmd/commands.h"
#include "common/loop.h"
#include "policy/config.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_HASH_LEN 64 /* the attested handshake's BLAKE2b hash */

struct probe {
	struct loop *loop;
	bool finished;
	bool ok;
	char *tee;
	uint8_t *evidence, *additional;
	size_t evidence_len, additional_len;
};

/* The runtime data a peer would expect from this node as the initiator of a handshake. */
static cJSON *probe_runtime_data(void)
{
	uint8_t hash[PROBE_HASH_LEN], key[32];
	char h64[sodium_base64_ENCODED_LEN(PROBE_HASH_LEN, sodium_base64_VARIANT_ORIGINAL)];
	char k64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	randombytes_buf(hash, sizeof(hash));
	randombytes_buf(key, sizeof(key));
	sodium_bin2base64(h64, sizeof(h64), hash, sizeof(hash), sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(k64, sizeof(k64), key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
	cJSON *rd = cJSON_CreateObject();
	cJSON_AddNumberToObject(rd, "tng-wg", 1);
	cJSON_AddStringToObject(rd, "role", "initiator");
	cJSON_AddStringToObject(rd, "handshake_hash", h64);
	cJSON_AddStringToObject(rd, "wg_public_key", k64);
	return rd;
}

static uint8_t *copy(const uint8_t *data, size_t len)
{
	uint8_t *c = malloc(len + 1);
	if (c && len)
		memcpy(c, data, len);
	return c;
}

static void on_evidence(void *ctx, const struct evidence_result *r)
{
	struct probe *p = ctx;
	p->finished = true;
	if (r->error) {
		printf("  FAIL evidence      %s\n", r->message);
		return;
	}
	p->tee = strdup(r->tee);
	p->evidence = copy(r->evidence, r->evidence_len);
	p->evidence_len = r->evidence_len;
	p->additional = copy(r->additional_evidence, r->additional_len);
	p->additional_len = r->additional_len;
	p->ok = p->tee && p->evidence && p->additional;
	printf("  %s evidence      tee %s, %zu bytes%s\n", p->ok ? "ok  " : "FAIL", r->tee, r->evidence_len,
	       r->additional_len ? " (+ additional evidence)" : "");
}

static void run_until_finished(struct probe *p)
{
	while (!p->finished)
		loop_run_once(p->loop, 1000);
	p->finished = false;
}

static bool get_evidence(struct probe *p, const struct attest_config *ac, const cJSON *rd, uint64_t timeout_ns)
{
	char err[256];
	uint8_t digest[JCS_SHA384_LEN];
	printf("evidence from %s\n", ac->aa_addr);
	struct evidence_source *src = evidence_source_new(p->loop, ac->aa_addr, timeout_ns, err, sizeof(err));
	if (!src) {
		printf("  FAIL source        %s\n", err);
		return false;
	}
	if (jcs_sha384(rd, digest) != 0 || !evidence_source_get(src, digest, sizeof(digest), on_evidence, p)) {
		printf("  FAIL evidence      cannot start the request\n");
		evidence_source_free(src);
		return false;
	}
	run_until_finished(p);
	evidence_source_free(src);
	return p->ok;
}

static void on_verdict(void *ctx, const struct verdict *v)
{
	struct probe *p = ctx;
	p->finished = true;
	p->ok = v->reason == VERDICT_ACCEPTED;
	if (v->checks)
		token_result_print(v->checks, stdout);
	printf("  a peer verifying like this would %s: %s%s%s\n", p->ok ? "ACCEPT" : "REJECT",
	       p->ok ? "" : verdict_reason_name(v->reason), p->ok ? "" : ": ", v->detail);
}

static bool appraise(struct probe *p, const struct verify_config *vc, const cJSON *rd, uint64_t timeout_ns)
{
	char err[256];
	printf("appraisal by %s\n", vc->as_addr);
	struct verifier *v = attestation_verifier_new(p->loop, vc, 0, timeout_ns, err, sizeof(err));
	if (!v) {
		printf("  FAIL verifier      %s\n", err);
		return false;
	}
	p->ok = false;
	if (verifier_appraise(v, p->tee, p->evidence, p->evidence_len, p->additional, p->additional_len, rd,
			      on_verdict, p))
		run_until_finished(p);
	else
		printf("  FAIL appraisal     out of memory\n");
	verifier_free(v);
	return p->ok;
}

int cmd_probe(int argc, char **argv)
{
	const char *path = NULL;
	double timeout = 30;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout = strtod(argv[++i], NULL);
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			fprintf(stderr, "Usage: tng-wg probe node.json [--timeout SECONDS]\n");
			return 2;
		}
	}
	if (!path || timeout <= 0) {
		fprintf(stderr, "Usage: tng-wg probe node.json [--timeout SECONDS]\n");
		return 2;
	}
	static char err[8192];
	struct node_config *cfg;
	if (config_load_file(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	uint64_t timeout_ns = (uint64_t)(timeout * 1e9);
	struct probe p = { .loop = loop_new() };
	cJSON *rd = probe_runtime_data();
	bool ok = p.loop && rd;
	char *rd_text = rd ? cJSON_PrintUnformatted(rd) : NULL;
	printf("runtime data a peer would expect: %s\n", rd_text ? rd_text : "?");
	free(rd_text);
	bool have_evidence = false;
	if (ok && !cfg->attest)
		printf("this node does not attest: peers that require evidence will reject it\n");
	else if (ok)
		ok = have_evidence = get_evidence(&p, cfg->attest, rd, timeout_ns);
	if (have_evidence && cfg->n_verifiers == 0)
		printf("this node verifies no peers; its peers appraise this evidence with their own verify settings\n");
	for (size_t i = 0; have_evidence && i < cfg->n_verifiers; i++)
		ok = appraise(&p, cfg->verifiers[i], rd, timeout_ns) && ok;
	printf("probe: %s\n", ok ? "ok" : "FAILED");
	cJSON_Delete(rd);
	free(p.tee);
	free(p.evidence);
	free(p.additional);
	loop_free(p.loop);
	config_free(cfg);
	return ok ? 0 : 1;
}
