/*
 * RFC 8785 JSON Canonicalization Scheme: the form Trustee hashes when runtime data is given as
 * structured JSON. Keys sorted by UTF-16 code units, numbers in ECMAScript form, minimal escaping.
 */
#ifndef TNGWG_ATTEST_JCS_H
#define TNGWG_ATTEST_JCS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#define JCS_SHA384_LEN 48

/* The canonical text (malloc'd), or NULL when value is not representable (NaN, Infinity,
 * invalid UTF-8, duplicate keys) or memory runs out. */
char *jcs_serialize(const cJSON *value);

/* SHA-384 of jcs_serialize(value); 0, or -1 when it is not representable. */
int jcs_sha384(const cJSON *value, uint8_t out[JCS_SHA384_LEN]);

#endif
