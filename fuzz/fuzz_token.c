/*
 * Attestation Service token verification (attest/token.c, jwk.c, trust.c): compact JWS parsing,
 * alg and JWK handling, x5c chains to the anchors, the signature, and the claim checks of EAR and
 * Simple tokens. Input: a mode byte, then
 *   mode 0: a whole token as text (real upstream tokens seed this);
 *   mode 1: a header (JSON; alg and our jwk are added where it has none) and a payload (any
 *           bytes), signed with the harness's key so that fuzzed claims reach the claim checks;
 *   mode 2: a payload JSON for the claim checks alone.
 * Other bits of the mode byte choose the anchors (CA certificate, JWKS key, none, or the
 * token's own key) and what is expected (policy ids, runtime data).
 */
#include "attest/token.h"
#include "attest/trust.h"
#include "fuzz/as_signer.h"
#include "fuzz/fuzz.h"

static struct fuzz_signer signer;
static struct trust_anchors *ca_anchors, *jwks_anchors, *no_anchors;
static cJSON *runtime_data;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_signer_init(&signer);
	char err[200];
	ca_anchors = trust_anchors_new();
	jwks_anchors = trust_anchors_new();
	no_anchors = trust_anchors_new();
	cJSON *jwks = cJSON_CreateObject();
	cJSON_AddItemToArray(cJSON_AddArrayToObject(jwks, "keys"), fuzz_signer_jwk(&signer, false));
	char *jwks_text = cJSON_PrintUnformatted(jwks);
	if (trust_anchors_add_pem(ca_anchors, FUZZ_CA_PEM, strlen(FUZZ_CA_PEM), err, sizeof(err)) != 0 ||
	    trust_anchors_add_jwks(jwks_anchors, jwks_text, strlen(jwks_text), err, sizeof(err)) != 0) {
		fprintf(stderr, "fuzz_token: anchors: %s\n", err);
		abort();
	}
	free(jwks_text);
	cJSON_Delete(jwks);
	runtime_data = cJSON_Parse("{\"tng-wg\":1,\"role\":\"initiator\",\"handshake_hash\":\"aGg=\","
				   "\"wg_public_key\":\"a2V5\"}");
	return 0;
}

static void check_result(const struct token_result *res, enum token_status st)
{
	if (res->status != st || res->n_checks > TOKEN_MAX_CHECKS)
		abort();
	bool all_ok = true;
	for (size_t i = 0; i < res->n_checks; i++) {
		all_ok &= res->checks[i].ok;
		if (!memchr(res->checks[i].name, 0, sizeof(res->checks[i].name)) ||
		    !memchr(res->checks[i].detail, 0, sizeof(res->checks[i].detail)))
			abort();
	}
	if ((st == TOKEN_OK) != (all_ok && res->n_checks > 0))
		abort(); /* OK exactly when every check passed */
	if (!memchr(res->tee, 0, sizeof(res->tee)) || !memchr(res->policy_ids, 0, sizeof(res->policy_ids)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t mode = fuzz_u8(&in);
	static const char *const one_policy[] = { "default" };
	static const char *const two_policies[] = { "default", "tdx" };
	struct token_expect ex = { .now = FUZZ_NOW, .leeway = TOKEN_DEFAULT_LEEWAY };
	switch (mode >> 2 & 3) {
	case 0: ex.anchors = ca_anchors; break;
	case 1: ex.anchors = jwks_anchors; break;
	case 2: ex.anchors = no_anchors; break;
	default: ex.trust_embedded_key = true; break;
	}
	if (mode & 0x10) {
		ex.policy_ids = mode & 0x20 ? two_policies : one_policy;
		ex.n_policy_ids = mode & 0x20 ? 2 : 1;
	}
	if (mode & 0x40)
		ex.runtime_data = runtime_data;
	if (mode & 0x80)
		ex.now = 0; /* the clock: real tokens' exp and the certificates' validity */

	struct token_result res;
	enum token_status st;
	switch (mode & 3) {
	case 0:
		st = token_verify((const char *)in.p, in.len, &ex, &res);
		break;
	case 1: {
		size_t hlen, plen;
		const uint8_t *h = fuzz_piece(&in, &hlen);
		const uint8_t *p = fuzz_bytes(&in, in.len, &plen);
		char *header = fuzz_token_header(&signer, h, hlen, !(mode & 0x20));
		char *jws = fuzz_sign_jws(&signer, header, p, plen);
		st = token_verify(jws, strlen(jws), &ex, &res);
		free(jws);
		free(header);
		break;
	}
	default: {
		cJSON *payload = cJSON_ParseWithLength((const char *)in.p, in.len);
		if (!payload)
			return 0;
		memset(&res, 0, sizeof(res));
		st = token_check_claims(payload, &ex, &res);
		cJSON_Delete(payload);
		break;
	}
	}
	check_result(&res, st);
	return 0;
}
