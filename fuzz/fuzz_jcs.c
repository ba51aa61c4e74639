/*
 * RFC 8785 canonical JSON (attest/jcs.c), the form whose SHA-384 binds runtime data: any JSON
 * value cJSON parses; a canonical text must parse again and canonicalise to itself, and its hash
 * must be the hash of the value it came from.
 */
#include "attest/jcs.h"
#include "fuzz/fuzz.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *value = cJSON_ParseWithLength((const char *)data, size);
	if (!value)
		return 0;
	char *canonical = jcs_serialize(value);
	uint8_t h1[JCS_SHA384_LEN], h2[JCS_SHA384_LEN];
	int hashed = jcs_sha384(value, h1);
	if ((canonical != NULL) != (hashed == 0))
		abort();
	if (canonical) {
		cJSON *again = cJSON_Parse(canonical);
		char *twice = again ? jcs_serialize(again) : NULL;
		if (!twice || strcmp(twice, canonical) != 0) {
			fprintf(stderr, "jcs: not idempotent:\n  %s\n  %s\n", canonical, twice ? twice : "(null)");
			abort();
		}
		if (jcs_sha384(again, h2) != 0 || memcmp(h1, h2, sizeof(h1)) != 0)
			abort();
		free(twice);
		cJSON_Delete(again);
		free(canonical);
	}
	cJSON_Delete(value);
	return 0;
}
