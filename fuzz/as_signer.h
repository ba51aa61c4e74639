/*
 * An Attestation Service signing key the harnesses control, so that tokens with fuzzed claims
 * carry valid signatures and reach the claim checks: a P-256 key whose certificate chains to a
 * CA that serves as the trust anchor (test-only material made for these harnesses; valid from
 * 2026-12-04 to 2076, so checks run at FUZZ_NOW).
 */
#ifndef TNGWG_FUZZ_AS_SIGNER_H
#define TNGWG_FUZZ_AS_SIGNER_H

#include "attest/b64.h"

#include <cjson/cJSON.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NOW 1830000000 /* 2027-12-28: inside every validity period below */

static const char FUZZ_CA_PEM[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBmTCCAT+gAwIBAgIUTlcjp3ST1s3D+CbMDf15IVwd1REwCgYIKoZIzj0EAwIw\n"
	"GTEXMBUGA1UEAwwOdG5nLXdnIGZ1enogQ0EwIBcNMjYxMjA0MTUwNjQ5WhgPMjA3\n"
	"NjExMjExNTA2NDlaMBkxFzAVBgNVBAMMDnRuZy13ZyBmdXp6IENBMFkwEwYHKoZI\n"
	"zj0CAQYIKoZIzj0DAQcDQgAEgVYhM1CwzHiR+p8awjMGLozZyrrqeppcQL/7UOH8\n"
	"V0X2y2vmkC5Pg6jSiAOs7JifEOv10oPCiF2xkslOhm5LSaNjMGEwHQYDVR0OBBYE\n"
	"FJRp8jbGONEYXRtdrm6z45RM29/sMB8GA1UdIwQYMBaAFJRp8jbGONEYXRtdrm6z\n"
	"45RM29/sMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgIEMAoGCCqGSM49\n"
	"BAMCA0gAMEUCIB32N4tdOL7qlSJ5SiWAAbvVWphgRqsIle1T6yqDtlqZAiEA8/tx\n"
	"iVRApkaZTNGXIzof8z4r6jSWPYSbtRC6xn3ZrVE=\n"
	"-----END CERTIFICATE-----\n";

static const char FUZZ_SIGNER_CERT_PEM[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBNTCB3AIUEFSpeFq5SwibpYYvYkClop92vtowCgYIKoZIzj0EAwIwGTEXMBUG\n"
	"A1UEAwwOdG5nLXdnIGZ1enogQ0EwIBcNMjYxMjA0MTUwNjQ5WhgPMjA3NjAzMTYx\n"
	"NTA2NDlaMCAxHjAcBgNVBAMMFXRuZy13ZyBmdXp6IEFTIHNpZ25lcjBZMBMGByqG\n"
	"SM49AgEGCCqGSM49AwEHA0IABO01qfOikLEHMJm9BQqCnKbU5CAR5VdXJi9IumEE\n"
	"smxUABDjjVsArF5Rgc5YfuPl/rqIBuxAwxcUuVKaLcQlBzwwCgYIKoZIzj0EAwID\n"
	"SAAwRQIgFRjY3zZigazzrKQs6cPq1eW/eTvvdvucoQO/lf2Zf1sCIQDplgyrgR4V\n"
	"gOz2nMk1SNiLD2YrPuD2ydV1O9QRq/+NrA==\n"
	"-----END CERTIFICATE-----\n";

static const char FUZZ_SIGNER_KEY_PEM[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgTACUBqiAYl6MqtzS\n"
	"Vh8sna4sjAe4PYHWHi/RzWBHwryhRANCAATtNanzopCxBzCZvQUKgpym1OQgEeVX\n"
	"VyYvSLphBLJsVAAQ441bAKxeUYHOWH7j5f66iAbsQMMXFLlSmi3EJQc8\n"
	"-----END PRIVATE KEY-----\n";

struct fuzz_signer {
	EVP_PKEY *key;
	char *x, *y;      /* base64url coordinates of the public key */
	char *x5c;        /* the signer certificate, standard base64 DER */
};

static inline char *fuzz_b64_std(const uint8_t *p, size_t len)
{
	char *url = b64url_encode(p, len);
	for (char *c = url; c && *c; c++)
		*c = *c == '-' ? '+' : *c == '_' ? '/' : *c;
	return url; /* unpadded, which the verifier accepts */
}

static inline void fuzz_signer_init(struct fuzz_signer *s)
{
	BIO *kb = BIO_new_mem_buf(FUZZ_SIGNER_KEY_PEM, -1), *cb = BIO_new_mem_buf(FUZZ_SIGNER_CERT_PEM, -1);
	s->key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL);
	X509 *cert = PEM_read_bio_X509(cb, NULL, NULL, NULL);
	uint8_t point[65];
	size_t plen = 0;
	unsigned char *der = NULL;
	int der_len = cert ? i2d_X509(cert, &der) : -1;
	if (!s->key || der_len <= 0 ||
	    EVP_PKEY_get_octet_string_param(s->key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &plen) != 1 ||
	    plen != 65)
		abort();
	s->x = b64url_encode(point + 1, 32);
	s->y = b64url_encode(point + 33, 32);
	s->x5c = fuzz_b64_std(der, (size_t)der_len);
	OPENSSL_free(der);
	X509_free(cert);
	BIO_free(kb);
	BIO_free(cb);
}

/* The signer's public key as a JWK; with its certificate chain (x5c) when asked. */
static inline cJSON *fuzz_signer_jwk(const struct fuzz_signer *s, bool with_x5c)
{
	cJSON *jwk = cJSON_CreateObject();
	cJSON_AddStringToObject(jwk, "kty", "EC");
	cJSON_AddStringToObject(jwk, "crv", "P-256");
	cJSON_AddStringToObject(jwk, "alg", "ES256");
	cJSON_AddStringToObject(jwk, "x", s->x);
	cJSON_AddStringToObject(jwk, "y", s->y);
	if (with_x5c) {
		cJSON *chain = cJSON_AddArrayToObject(jwk, "x5c");
		cJSON_AddItemToArray(chain, cJSON_CreateString(s->x5c));
	}
	return jwk;
}

/* A compact JWS of header (JSON text) and payload (any bytes), signed ES256 by the signer. */
static inline char *fuzz_sign_jws(const struct fuzz_signer *s, const char *header, const uint8_t *payload,
				  size_t payload_len)
{
	char *h = b64url_encode((const uint8_t *)header, strlen(header));
	char *p = b64url_encode(payload, payload_len);
	size_t signed_len = strlen(h) + 1 + strlen(p);
	char *jws = malloc(signed_len + 1 + 90);
	if (!h || !p || !jws)
		abort();
	sprintf(jws, "%s.%s", h, p);
	uint8_t der[80], rs[64] = { 0 };
	size_t der_len = sizeof(der);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, s->key) != 1 ||
	    EVP_DigestSign(md, der, &der_len, (const uint8_t *)jws, signed_len) != 1)
		abort();
	const uint8_t *q = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &q, (long)der_len);
	if (!sig || BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) != 32)
		abort();
	char *sig64 = b64url_encode(rs, sizeof(rs));
	sprintf(jws + signed_len, ".%s", sig64);
	free(sig64);
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	free(h);
	free(p);
	return jws;
}

/* The token header a fuzzed one becomes: its members, plus alg and our jwk where it has none. */
static inline char *fuzz_token_header(const struct fuzz_signer *s, const uint8_t *extra, size_t len,
				      bool with_x5c)
{
	cJSON *h = cJSON_ParseWithLength((const char *)extra, len);
	if (!cJSON_IsObject(h)) {
		cJSON_Delete(h);
		h = cJSON_CreateObject();
	}
	if (!cJSON_GetObjectItemCaseSensitive(h, "alg"))
		cJSON_AddStringToObject(h, "alg", "ES256");
	if (!cJSON_GetObjectItemCaseSensitive(h, "jwk"))
		cJSON_AddItemToObject(h, "jwk", fuzz_signer_jwk(s, with_x5c));
	char *text = cJSON_PrintUnformatted(h);
	cJSON_Delete(h);
	if (!text)
		abort();
	return text;
}

#endif
