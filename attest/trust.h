/*
 * Trust anchors for Attestation Service tokens: CA certificates (from PEM files, or the PEM chain
 * the AS serves at /certificate) and bare signing keys (from the AS's JWKS document).
 */
#ifndef TNGWG_ATTEST_TRUST_H
#define TNGWG_ATTEST_TRUST_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509_vfy.h>

struct trust_anchors;

struct trust_anchors *trust_anchors_new(void);
void trust_anchors_free(struct trust_anchors *t);

/* Every certificate in a PEM file / buffer becomes an anchor. 0, or -1 with a reason in err
 * (unreadable file, no certificate). */
int trust_anchors_add_pem_file(struct trust_anchors *t, const char *path, char *err, size_t errlen);
int trust_anchors_add_pem(struct trust_anchors *t, const char *pem, size_t len, char *err,
			  size_t errlen);
/* Every key of a JWKS document {"keys":[…]} becomes a trusted signing key. */
int trust_anchors_add_jwks(struct trust_anchors *t, const char *json, size_t len, char *err,
			   size_t errlen);

bool trust_anchors_empty(const struct trust_anchors *t);
/* The certificate store, or NULL when no certificate was added. */
X509_STORE *trust_anchors_store(const struct trust_anchors *t);
/* Whether key equals one of the JWKS keys. */
bool trust_anchors_has_key(const struct trust_anchors *t, const EVP_PKEY *key);

#endif
