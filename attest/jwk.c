#include "attest/jwk.h"

#include "attest/b64.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The decoded bytes of a base64url member, or NULL (err says which member). */
static uint8_t *member_bytes(const cJSON *jwk, const char *name, size_t *len, char *err,
			     size_t errlen)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(jwk, name);
	uint8_t *out;
	if (!cJSON_IsString(m)) {
		snprintf(err, errlen, "jwk member \"%s\" missing or not a string", name);
		return NULL;
	}
	if (b64_decode(m->valuestring, strlen(m->valuestring), &out, len) != 0) {
		snprintf(err, errlen, "jwk member \"%s\" is not valid base64", name);
		return NULL;
	}
	if (*len == 0) {
		free(out);
		snprintf(err, errlen, "jwk member \"%s\" is empty", name);
		return NULL;
	}
	return out;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;
	if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
		EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *rsa_key(const cJSON *jwk, char *err, size_t errlen)
{
	size_t nlen, elen;
	uint8_t *n = member_bytes(jwk, "n", &nlen, err, errlen);
	uint8_t *e = n ? member_bytes(jwk, "e", &elen, err, errlen) : NULL;
	EVP_PKEY *pkey = NULL;
	if (e) {
		BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		if (bn && be && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
			pkey = from_params("RSA", bld);
		OSSL_PARAM_BLD_free(bld);
		BN_free(bn);
		BN_free(be);
		if (!pkey)
			snprintf(err, errlen, "jwk RSA key rejected by OpenSSL");
	}
	free(n);
	free(e);
	return pkey;
}

static EVP_PKEY *ec_key(const cJSON *jwk, char *err, size_t errlen)
{
	const cJSON *crv = cJSON_GetObjectItemCaseSensitive(jwk, "crv");
	const char *group;
	size_t field;
	if (cJSON_IsString(crv) && !strcmp(crv->valuestring, "P-256")) {
		group = "prime256v1";
		field = 32;
	} else if (cJSON_IsString(crv) && !strcmp(crv->valuestring, "P-384")) {
		group = "secp384r1";
		field = 48;
	} else {
		snprintf(err, errlen, "jwk \"crv\" must be P-256 or P-384");
		return NULL;
	}
	size_t xlen, ylen;
	uint8_t *x = member_bytes(jwk, "x", &xlen, err, errlen);
	uint8_t *y = x ? member_bytes(jwk, "y", &ylen, err, errlen) : NULL;
	EVP_PKEY *pkey = NULL;
	if (y && (xlen > field || ylen > field)) {
		snprintf(err, errlen, "jwk EC coordinate longer than the %s field", crv->valuestring);
	} else if (y) {
		uint8_t point[1 + 2 * 48] = { 0x04 };
		memcpy(point + 1 + field - xlen, x, xlen);
		memcpy(point + 1 + 2 * field - ylen, y, ylen);
		OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
		if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * field))
			pkey = from_params("EC", bld);
		OSSL_PARAM_BLD_free(bld);
		if (!pkey)
			snprintf(err, errlen, "jwk EC point is not on %s", crv->valuestring);
	}
	free(x);
	free(y);
	return pkey;
}

EVP_PKEY *jwk_public_key(const cJSON *jwk, char *err, size_t errlen)
{
	const cJSON *kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
	if (!cJSON_IsObject(jwk) || !cJSON_IsString(kty)) {
		snprintf(err, errlen, "jwk is not an object with a \"kty\"");
		return NULL;
	}
	if (!strcmp(kty->valuestring, "RSA"))
		return rsa_key(jwk, err, errlen);
	if (!strcmp(kty->valuestring, "EC"))
		return ec_key(jwk, err, errlen);
	snprintf(err, errlen, "jwk \"kty\" %s is not supported (RSA or EC)", kty->valuestring);
	return NULL;
}
