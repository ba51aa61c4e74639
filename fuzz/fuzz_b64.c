/*
 * Base64 as tokens and certificates carry it (attest/b64.c): any input to the decoder; what it
 * accepts must survive a round trip through the URL-safe encoder, and any bytes encoded must
 * decode to themselves.
 */
#include "attest/b64.h"
#include "fuzz/fuzz.h"

#include <stdlib.h>

static void round_trip(const uint8_t *bytes, size_t len)
{
	char *text = b64url_encode(bytes, len);
	if (!text)
		abort();
	uint8_t *back;
	size_t back_len;
	if (b64_decode(text, strlen(text), &back, &back_len) != 0 || back_len != len ||
	    memcmp(back, bytes, len) != 0) {
		fprintf(stderr, "b64: %zu bytes do not survive encode + decode\n", len);
		abort();
	}
	free(back);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *out;
	size_t out_len;
	if (b64_decode((const char *)data, size, &out, &out_len) == 0) {
		if (out[out_len] != 0)
			abort(); /* promised NUL terminator */
		round_trip(out, out_len);
		free(out);
	}
	round_trip(data, size);
	return 0;
}
