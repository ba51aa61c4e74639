/*
 * The node configuration (policy/config.c): TNG's JSON with tng-wg's validation, from any text.
 * A config that validates is also turned into its nftables ruleset text, as `check --show-rules`
 * and `up` do; a text the strict syntax scanner accepts must also be one cJSON parses, or the
 * user would be told "could not be parsed" without a position.
 */
#include "policy/config.h"
#include "policy/json_diag.h"
#include "policy/steering.h"
#include "fuzz/fuzz.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;

	unsigned line, column;
	char msg[128];
	if (json_find_syntax_error(text, &line, &column, msg, sizeof(msg))) {
		cJSON *doc = cJSON_ParseWithOpts(text, NULL, 1);
		if (!doc) {
			fprintf(stderr, "config: the syntax scanner accepts what cJSON refuses\n");
			abort();
		}
		cJSON_Delete(doc);
	} else if (line == 0 || column == 0 || !msg[0]) {
		abort(); /* an error must say where and what */
	}

	struct node_config *cfg = NULL;
	char err[4096];
	if (config_parse(text, "fuzz.json", &cfg, err, sizeof(err)) == 0) {
		if (!cfg)
			abort();
		free(steering_ruleset_text(cfg));
		config_free(cfg);
	} else if (cfg || !err[0]) {
		abort(); /* a refusal must say why, and hand nothing back */
	}
	free(text);
	return 0;
}
