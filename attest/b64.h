/* Base64 as tokens and certificates carry it: either alphabet, padding optional, line breaks ignored. */
#ifndef TNGWG_ATTEST_B64_H
#define TNGWG_ATTEST_B64_H

#include <stddef.h>
#include <stdint.h>

/* Decode in[0..len) into a malloc'd buffer (*out, *out_len; NUL-terminated for convenience).
 * Accepts standard or URL-safe alphabet (not mixed), with or without '=' padding, and ignores
 * "\r\n". 0 on success, -1 on malformed input or out of memory. */
int b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len);

/* URL-safe, unpadded encoding (malloc'd, NUL-terminated), or NULL when out of memory. */
char *b64url_encode(const uint8_t *in, size_t len);

#endif
