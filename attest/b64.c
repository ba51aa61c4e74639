#include "attest/b64.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int b64_decode(const char *in, size_t len, uint8_t **out, size_t *out_len)
{
	bool std_chars = false, url_chars = false;
	size_t end = len;
	for (size_t i = 0; i < len; i++) {
		std_chars |= in[i] == '+' || in[i] == '/';
		url_chars |= in[i] == '-' || in[i] == '_';
	}
	if (std_chars && url_chars)
		return -1;
	/* Strip trailing padding and line breaks so one unpadded variant decodes every form. */
	while (end > 0 && (in[end - 1] == '=' || in[end - 1] == '\n' || in[end - 1] == '\r'))
		end--;
	size_t pad = 0;
	for (size_t i = end; i < len; i++)
		pad += in[i] == '=';
	if (pad > 2)
		return -1;
	uint8_t *buf = malloc(end / 4 * 3 + 4);
	if (!buf)
		return -1;
	size_t n = 0;
	const char *stop = NULL;
	int variant = url_chars ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
				: sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
	if (sodium_base642bin(buf, end / 4 * 3 + 3, in, end, "\r\n", &n, &stop, variant) != 0 ||
	    stop != in + end) {
		free(buf);
		return -1;
	}
	buf[n] = 0;
	*out = buf;
	*out_len = n;
	return 0;
}

char *b64url_encode(const uint8_t *in, size_t len)
{
	size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *s = malloc(cap);
	if (s)
		sodium_bin2base64(s, cap, in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return s;
}
