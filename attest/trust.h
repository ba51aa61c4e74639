/*
 * Trust anchors for Attestation Service tokens: CA certificates (from PEM files, or the PEM chain
 * the AS serves at /certificate) and bare signing keys (from the AS's JWKS document).
 */
#ifndef TNGWG_ATTEST_TRUST_H
#define TNGWG_ATTEST_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/*
 * The last token key the anchors endorsed, remembered by the exact text of the token header that
 * carried it: the same text is the same jwk and x5c, so the tokens of one AS, which all carry one
 * header, need not be decoded and chain-checked each time. It holds only while now is within
 * [not_before, not_after], the validity of what endorsed it (the chain's certificates).
 * trust_anchors_recall returns a new reference, or NULL when the header is not the remembered
 * one or now is outside; by_jwks says whether a JWKS key (else a chain) endorsed it.
 */
void trust_anchors_remember(struct trust_anchors *t, const char *header, size_t len, EVP_PKEY *key,
			    int64_t not_before, int64_t not_after, bool by_jwks);
EVP_PKEY *trust_anchors_recall(struct trust_anchors *t, const char *header, size_t len, int64_t now,
			       bool *by_jwks);

#endif
