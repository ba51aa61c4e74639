/*
 * tng-wg evidence --aa-addr URL --runtime-data JSON [--timeout SECONDS]
 * Hash the runtime data as Trustee does (SHA-384 of its RFC 8785 form), get this node's evidence
 * for it from the Attestation Agent or configfs-tsm, and print it.
 */
#include "attest/evidence.h"
#include "attest/jcs.h"
#include "cmd/commands.h"
#include "common/loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_S 50.0 /* what TNG and the AA's own REST front end allow */

static const char usage_text[] =
	"Usage: tng-wg evidence --aa-addr URL --runtime-data JSON [--timeout SECONDS]\n"
	"  URL: unix:///path/to/attestation-agent.sock or configfs-tsm:///sys/kernel/config/tsm/report\n";

struct outcome {
	struct loop *loop;
	int status;
};

static void print_bytes(const char *label, const uint8_t *data, size_t len)
{
	printf("%s: ", label);
	fwrite(data, 1, len, stdout);
	printf("\n");
}

static void on_evidence(void *ctx, const struct evidence_result *r)
{
	struct outcome *o = ctx;
	if (r->error) {
		fprintf(stderr, "tng-wg evidence: %s\n", r->message);
		o->status = 1;
	} else {
		printf("tee: %s\n", r->tee);
		print_bytes("evidence", r->evidence, r->evidence_len);
		if (r->additional_len)
			print_bytes("additional_evidence", r->additional_evidence, r->additional_len);
		o->status = 0;
	}
	loop_stop(o->loop);
}

static int parse_args(int argc, char **argv, const char **addr, const char **runtime, double *timeout)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "tng-wg evidence: %s needs a value\n", argv[i]);
			return -1;
		}
		const char *v = argv[++i];
		if (!strcmp(argv[i - 1], "--aa-addr")) {
			*addr = v;
		} else if (!strcmp(argv[i - 1], "--runtime-data")) {
			*runtime = v;
		} else if (!strcmp(argv[i - 1], "--timeout")) {
			char *end;
			*timeout = strtod(v, &end);
			if (*end || !(*timeout > 0) || *timeout > 3600) {
				fprintf(stderr, "tng-wg evidence: --timeout expects seconds in (0, 3600], got '%s'\n", v);
				return -1;
			}
		} else {
			fprintf(stderr, "tng-wg evidence: unknown option %s\n", argv[i - 1]);
			return -1;
		}
	}
	if (!*addr || !*runtime) {
		fprintf(stderr, "tng-wg evidence: --aa-addr and --runtime-data are required\n");
		return -1;
	}
	return 0;
}

int cmd_evidence(int argc, char **argv)
{
	const char *addr = NULL, *runtime = NULL;
	double timeout = DEFAULT_TIMEOUT_S;
	if (parse_args(argc, argv, &addr, &runtime, &timeout) < 0) {
		fputs(usage_text, stderr);
		return 1;
	}
	cJSON *json = cJSON_Parse(runtime);
	uint8_t digest[JCS_SHA384_LEN];
	int parsed = json != NULL;
	int hashed = parsed ? jcs_sha384(json, digest) : -1;
	cJSON_Delete(json);
	if (hashed < 0) {
		fprintf(stderr, "tng-wg evidence: --runtime-data: %s\n",
			parsed ? "not representable in RFC 8785 canonical form" : "not valid JSON");
		return 1;
	}
	struct outcome o = { .loop = loop_new(), .status = 1 };
	if (!o.loop) {
		fprintf(stderr, "tng-wg evidence: cannot create the event loop\n");
		return 1;
	}
	char err[512];
	struct evidence_source *src = evidence_source_new(o.loop, addr, (uint64_t)(timeout * NSEC_PER_SEC),
							  err, sizeof(err));
	if (!src) {
		fprintf(stderr, "tng-wg evidence: --aa-addr: %s\n", err);
	} else if (!evidence_source_get(src, digest, sizeof(digest), on_evidence, &o)) {
		fprintf(stderr, "tng-wg evidence: cannot start the request\n");
	} else {
		loop_run(o.loop);
	}
	evidence_source_free(src);
	loop_free(o.loop);
	return o.status;
}
