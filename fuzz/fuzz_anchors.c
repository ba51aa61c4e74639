/*
 * Trust anchors and keys (attest/trust.c, jwk.c, token.c's x5c check): the PEM chain an AS
 * serves at /certificate, the JWKS document of /.well-known/jwks.json, and a token header's JWK
 * with its x5c chain, checked against the harness's CA. Input: a mode byte, then the document.
 *   mode 0: PEM text        mode 1: a JWKS document        mode 2: a JWK (JSON object)
 * Checks: a document is refused with a reason or adds anchors, a refused JWKS adds nothing, and
 * a key the anchors endorse is the JWK's own key.
 */
#include "attest/jwk.h"
#include "attest/token.h"
#include "attest/trust.h"
#include "fuzz/as_signer.h"
#include "fuzz/fuzz.h"

static struct fuzz_signer signer;
static struct trust_anchors *ca;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[200];
	fuzz_signer_init(&signer);
	ca = trust_anchors_new();
	if (trust_anchors_add_pem(ca, FUZZ_CA_PEM, strlen(FUZZ_CA_PEM), err, sizeof(err)) != 0)
		fuzz_fail(err);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	uint8_t mode = fuzz_u8(&in);
	char err[256] = "";
	if (mode % 3 == 2) {
		cJSON *jwk = cJSON_ParseWithLength((const char *)in.p, in.len);
		EVP_PKEY *key = jwk_public_key(jwk, err, sizeof(err));
		if (!key && !err[0])
			fuzz_fail("a JWK refused without a reason");
		err[0] = 0;
		EVP_PKEY *endorsed = token_endorsed_key(jwk, trust_anchors_store(ca), FUZZ_NOW, err, sizeof(err));
		if (endorsed && (!key || EVP_PKEY_eq(endorsed, key) != 1))
			fuzz_fail("the anchors endorse a key other than the JWK's");
		if (!endorsed && !err[0])
			fuzz_fail("an endorsement refused without a reason");
		EVP_PKEY_free(endorsed);
		EVP_PKEY_free(key);
		cJSON_Delete(jwk);
		return 0;
	}
	struct trust_anchors *t = trust_anchors_new();
	int rc = mode % 3 == 0 ? trust_anchors_add_pem(t, (const char *)in.p, in.len, err, sizeof(err))
			       : trust_anchors_add_jwks(t, (const char *)in.p, in.len, err, sizeof(err));
	if (rc != 0 && (!err[0] || !trust_anchors_empty(t)))
		fuzz_fail("a refused document without a reason, or with anchors left behind");
	if (rc == 0 && trust_anchors_empty(t))
		fuzz_fail("an accepted document without anchors");
	trust_anchors_has_key(t, signer.key);
	trust_anchors_free(t);
	return 0;
}
