/* JSON Web Keys (RFC 7517) as Trustee puts them in token headers and JWKS documents. */
#ifndef TNGWG_ATTEST_JWK_H
#define TNGWG_ATTEST_JWK_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

/* The public key of an RSA (n, e) or EC P-256/P-384 (x, y) JWK. EC coordinates shorter than the
 * field size are left-padded, as older Trustee versions wrote them. NULL with a reason in err. */
EVP_PKEY *jwk_public_key(const cJSON *jwk, char *err, size_t errlen);

#endif
