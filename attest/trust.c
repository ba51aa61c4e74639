#include "attest/trust.h"

#include "attest/jwk.h"

#include <cjson/cJSON.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct trust_anchors {
	X509_STORE *store;
	size_t n_certs;
	EVP_PKEY **keys;
	size_t n_keys;
	struct {                  /* the last key endorsed, by the header that carried it */
		char *header;
		size_t len;
		EVP_PKEY *key;
		int64_t not_before, not_after;
		bool by_jwks;
	} last;
};

struct trust_anchors *trust_anchors_new(void)
{
	struct trust_anchors *t = calloc(1, sizeof(*t));
	if (t && !(t->store = X509_STORE_new())) {
		free(t);
		return NULL;
	}
	return t;
}

void trust_anchors_free(struct trust_anchors *t)
{
	if (!t)
		return;
	X509_STORE_free(t->store);
	free(t->last.header);
	EVP_PKEY_free(t->last.key);
	for (size_t i = 0; i < t->n_keys; i++)
		EVP_PKEY_free(t->keys[i]);
	free(t->keys);
	free(t);
}

static int add_from_bio(struct trust_anchors *t, BIO *bio, const char *what, char *err,
			size_t errlen)
{
	size_t added = 0;
	X509 *cert;
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (X509_STORE_add_cert(t->store, cert) == 1)
			added++;
		X509_free(cert);
	}
	if (!added) {
		snprintf(err, errlen, "%s holds no PEM certificate", what);
		return -1;
	}
	t->n_certs += added;
	return 0;
}

int trust_anchors_add_pem_file(struct trust_anchors *t, const char *path, char *err, size_t errlen)
{
	BIO *bio = BIO_new_file(path, "r");
	if (!bio) {
		snprintf(err, errlen, "cannot read trusted certificate file %s", path);
		return -1;
	}
	int rc = add_from_bio(t, bio, path, err, errlen);
	BIO_free(bio);
	return rc;
}

int trust_anchors_add_pem(struct trust_anchors *t, const char *pem, size_t len, char *err,
			  size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int rc = add_from_bio(t, bio, "the certificate document", err, errlen);
	BIO_free(bio);
	return rc;
}

/* Keys are trusted only when the whole document is valid: a refused JWKS leaves nothing behind. */
int trust_anchors_add_jwks(struct trust_anchors *t, const char *json, size_t len, char *err,
			   size_t errlen)
{
	cJSON *doc = cJSON_ParseWithLength(json, len);
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "keys"), *k;
	size_t added = 0;
	int rc = -1;
	if (!cJSON_IsArray(keys) || cJSON_GetArraySize(keys) == 0) {
		snprintf(err, errlen, "JWKS document has no \"keys\" array");
		goto out;
	}
	EVP_PKEY **grown = realloc(t->keys, (t->n_keys + (size_t)cJSON_GetArraySize(keys)) * sizeof(*grown));
	if (!grown) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	t->keys = grown;
	cJSON_ArrayForEach(k, keys) {
		char why[160];
		EVP_PKEY *pkey = jwk_public_key(k, why, sizeof(why));
		if (!pkey) {
			snprintf(err, errlen, "JWKS key %zu: %s", added, why);
			goto out;
		}
		t->keys[t->n_keys + added++] = pkey;
	}
	t->n_keys += added;
	added = 0;
	rc = 0;
out:
	for (size_t i = 0; i < added; i++)
		EVP_PKEY_free(t->keys[t->n_keys + i]);
	cJSON_Delete(doc);
	return rc;
}

bool trust_anchors_empty(const struct trust_anchors *t)
{
	return !t || (t->n_certs == 0 && t->n_keys == 0);
}

X509_STORE *trust_anchors_store(const struct trust_anchors *t)
{
	return t && t->n_certs ? t->store : NULL;
}

bool trust_anchors_has_key(const struct trust_anchors *t, const EVP_PKEY *key)
{
	for (size_t i = 0; t && i < t->n_keys; i++)
		if (EVP_PKEY_eq(t->keys[i], key) == 1)
			return true;
	return false;
}

void trust_anchors_remember(struct trust_anchors *t, const char *header, size_t len, EVP_PKEY *key,
			    int64_t not_before, int64_t not_after, bool by_jwks)
{
	char *copy = malloc(len ? len : 1);
	if (!copy || EVP_PKEY_up_ref(key) != 1) {
		free(copy);
		return;
	}
	memcpy(copy, header, len);
	free(t->last.header);
	EVP_PKEY_free(t->last.key);
	t->last.header = copy;
	t->last.len = len;
	t->last.key = key;
	t->last.not_before = not_before;
	t->last.not_after = not_after;
	t->last.by_jwks = by_jwks;
}

EVP_PKEY *trust_anchors_recall(struct trust_anchors *t, const char *header, size_t len, int64_t now,
			       bool *by_jwks)
{
	if (!t || !t->last.key || t->last.len != len || memcmp(t->last.header, header, len) ||
	    now < t->last.not_before || now > t->last.not_after || EVP_PKEY_up_ref(t->last.key) != 1)
		return NULL;
	*by_jwks = t->last.by_jwks;
	return t->last.key;
}
