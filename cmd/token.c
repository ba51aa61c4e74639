/*
 * tng-wg token verify TOKEN_FILE --trusted-certs PEM... [--policy-ids ID...] [--runtime-data JSON] [--at UNIX_TIME]
 * tng-wg token request --as-addr URL [--tee TEE] --evidence FILE [--additional-evidence FILE]
 *                      [--runtime-data JSON] [--policy-ids ID...] [--trusted-certs PEM...]
 *                      [--as-header 'K: V'...] [--ca-file PEM] [--timeout SECONDS]
 * An operator's tools: check a token offline, or send evidence to the AS and check its answer.
 * The evidence file is raw evidence, or the output of `tng-wg evidence` (which names the TEE).
 */
#include "attest/token.h"
#include "attest/trust.h"
#include "attest/verifier.h"
#include "cmd/commands.h"
#include "common/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VALUES 16

struct list {
	const char *v[MAX_VALUES];
	size_t n;
};

struct token_args {
	const char *file;
	struct list trusted, policies, headers;
	const char *runtime_data, *at, *as_addr, *tee, *evidence, *additional, *ca_file, *timeout;
};

static const char usage_text[] =
	"Usage: tng-wg token verify TOKEN_FILE --trusted-certs PEM... [--policy-ids ID...]\n"
	"                           [--runtime-data JSON] [--at UNIX_TIME]\n"
	"       tng-wg token request --as-addr URL [--tee TEE] --evidence FILE [--additional-evidence FILE]\n"
	"                            [--runtime-data JSON] [--policy-ids ID...] [--trusted-certs PEM...]\n"
	"                            [--as-header 'Name: value'...] [--ca-file PEM] [--timeout SECONDS]\n";

static int parse(int argc, char **argv, struct token_args *a)
{
	struct { const char *name; const char **one; struct list *many; } opts[] = {
		{ "--trusted-certs", NULL, &a->trusted }, { "--policy-ids", NULL, &a->policies },
		{ "--as-header", NULL, &a->headers }, { "--runtime-data", &a->runtime_data, NULL },
		{ "--at", &a->at, NULL }, { "--as-addr", &a->as_addr, NULL }, { "--tee", &a->tee, NULL },
		{ "--evidence", &a->evidence, NULL }, { "--additional-evidence", &a->additional, NULL },
		{ "--ca-file", &a->ca_file, NULL }, { "--timeout", &a->timeout, NULL },
	};
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--", 2)) {
			if (a->file) {
				fprintf(stderr, "tng-wg token: unexpected argument '%s'\n", argv[i]);
				return -1;
			}
			a->file = argv[i];
			continue;
		}
		size_t k = 0;
		while (k < sizeof(opts) / sizeof(opts[0]) && strcmp(opts[k].name, argv[i]))
			k++;
		if (k == sizeof(opts) / sizeof(opts[0])) {
			fprintf(stderr, "tng-wg token: unknown option '%s'\n", argv[i]);
			return -1;
		}
		if (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2)) {
			fprintf(stderr, "tng-wg token: %s needs a value\n", argv[i]);
			return -1;
		}
		if (opts[k].one) {
			*opts[k].one = argv[++i];
			continue;
		}
		while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
			if (opts[k].many->n == MAX_VALUES) {
				fprintf(stderr, "tng-wg token: at most %d values for %s\n", MAX_VALUES, argv[i]);
				return -1;
			}
			opts[k].many->v[opts[k].many->n++] = argv[++i];
		}
	}
	return 0;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	if (!f) {
		fprintf(stderr, "tng-wg token: cannot read %s: %s\n", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (n + 4096 + 1 > cap) {
			char *grown = realloc(buf, cap = 2 * cap + 4096 + 1);
			if (!grown)
				break;
			buf = grown;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	if (buf)
		buf[n] = 0;
	*len = n;
	return buf;
}

/* NULL (and a message) when text is given but is not JSON; *ok tells the two NULLs apart. */
static cJSON *parse_runtime_data(const char *text, bool *ok)
{
	*ok = true;
	if (!text)
		return NULL;
	cJSON *json = cJSON_Parse(text);
	if (!json) {
		fprintf(stderr, "tng-wg token: --runtime-data is not valid JSON\n");
		*ok = false;
	}
	return json;
}

static int verify(struct token_args *a)
{
	if (!a->file || !a->trusted.n) {
		fputs(usage_text, stderr);
		return 2;
	}
	char err[256], *end = NULL;
	int64_t at = a->at ? strtoll(a->at, &end, 10) : 0;
	if (a->at && (*end || at <= 0)) {
		fprintf(stderr, "tng-wg token: --at wants Unix seconds, got '%s'\n", a->at);
		return 2;
	}
	bool ok;
	cJSON *rd = parse_runtime_data(a->runtime_data, &ok);
	struct trust_anchors *anchors = trust_anchors_new();
	size_t len;
	char *jwt = ok ? read_file(a->file, &len) : NULL;
	int rc = 2;
	for (size_t i = 0; jwt && anchors && i < a->trusted.n; i++)
		if (trust_anchors_add_pem_file(anchors, a->trusted.v[i], err, sizeof(err)) != 0) {
			fprintf(stderr, "tng-wg token: %s\n", err);
			goto out;
		}
	if (jwt && anchors) {
		struct token_expect ex = { .anchors = anchors, .policy_ids = a->policies.v,
					   .n_policy_ids = a->policies.n, .runtime_data = rd, .now = at,
					   .leeway = TOKEN_DEFAULT_LEEWAY };
		struct token_result res;
		enum token_status st = token_verify(jwt, len, &ex, &res);
		token_result_print(&res, stdout);
		printf("result: %s\n", st == TOKEN_OK ? "valid" : token_status_name(st));
		rc = st == TOKEN_OK ? 0 : 1;
	}
out:
	trust_anchors_free(anchors);
	cJSON_Delete(rd);
	free(jwt);
	return rc;
}

struct request_outcome {
	bool finished;
	enum verdict_reason reason;
};

static void on_verdict(void *ctx, const struct verdict *v)
{
	struct request_outcome *o = ctx;
	o->finished = true;
	o->reason = v->reason;
	if (v->token)
		printf("token: %s\n", v->token);
	if (v->checks)
		token_result_print(v->checks, stdout);
	printf("verdict: %s: %s\n", verdict_reason_name(v->reason), v->detail);
}

struct evidence_input {
	const char *tee;
	const char *evidence, *additional;
	size_t evidence_len, additional_len;
};

/* The output of `tng-wg evidence` ("tee: T", "evidence: E", "additional_evidence: A" lines) is
 * split in place; any other file is the evidence bytes themselves. */
static void split_evidence_file(char *text, size_t len, struct evidence_input *in)
{
	in->evidence = text;
	in->evidence_len = len;
	if (strncmp(text, "tee: ", 5))
		return;
	in->evidence_len = 0;
	for (char *line = text, *next; line && *line; line = next) {
		if ((next = strchr(line, '\n')))
			*next++ = 0;
		if (!strncmp(line, "tee: ", 5)) {
			in->tee = line + 5;
		} else if (!strncmp(line, "evidence: ", 10)) {
			in->evidence = line + 10;
			in->evidence_len = strlen(in->evidence);
		} else if (!strncmp(line, "additional_evidence: ", 21)) {
			in->additional = line + 21;
			in->additional_len = strlen(in->additional);
		}
	}
}

static int request(struct token_args *a)
{
	if (!a->as_addr || !a->evidence) {
		fputs(usage_text, stderr);
		return 2;
	}
	bool ok;
	cJSON *rd = parse_runtime_data(a->runtime_data, &ok);
	size_t ev_len = 0, add_len = 0;
	char *evidence = ok ? read_file(a->evidence, &ev_len) : NULL;
	char *additional = evidence && a->additional ? read_file(a->additional, &add_len) : NULL;
	struct evidence_input in = { 0 };
	if (evidence)
		split_evidence_file(evidence, ev_len, &in);
	if (additional) {
		in.additional = additional;
		in.additional_len = add_len;
	}
	if (a->tee)
		in.tee = a->tee;
	double timeout = a->timeout ? strtod(a->timeout, NULL) : 30;
	struct loop *loop = NULL;
	struct verifier *v = NULL;
	int rc = 2;
	char err[256];
	if (evidence && (!in.tee || !in.evidence_len))
		fprintf(stderr, "tng-wg token: %s\n", !in.tee ? "the TEE type is unknown: give --tee"
							  : "the evidence file holds no evidence");
	if (!evidence || !in.tee || !in.evidence_len || (a->additional && !additional) || !(loop = loop_new()))
		goto out;
	struct verifier_config cfg = {
		.as_addr = a->as_addr, .as_headers = a->headers.v, .n_headers = a->headers.n,
		.policy_ids = a->policies.v, .n_policy_ids = a->policies.n,
		.trusted_certs_paths = a->trusted.v, .n_trusted_certs = a->trusted.n,
		.ca_file = a->ca_file, .timeout_ns = (uint64_t)(timeout > 0 ? timeout * 1e9 : 30e9),
	};
	if (!(v = verifier_new(loop, &cfg, err, sizeof(err)))) {
		fprintf(stderr, "tng-wg token: %s\n", err);
		goto out;
	}
	struct request_outcome o = { 0 };
	if (!verifier_appraise(v, in.tee, (const uint8_t *)in.evidence, in.evidence_len,
			       (const uint8_t *)in.additional, in.additional_len, rd, on_verdict, &o)) {
		fprintf(stderr, "tng-wg token: out of memory\n");
		goto out;
	}
	while (!o.finished)
		loop_run_once(loop, 1000);
	rc = o.reason == VERDICT_ACCEPTED ? 0 : 1;
out:
	verifier_free(v);
	loop_free(loop);
	cJSON_Delete(rd);
	free(evidence);
	free(additional);
	return rc;
}

int cmd_token(int argc, char **argv)
{
	struct token_args a = { 0 };
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage_text, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (parse(argc - 2, argv + 2, &a) != 0)
		return 2;
	if (!strcmp(argv[1], "verify"))
		return verify(&a);
	if (!strcmp(argv[1], "request"))
		return request(&a);
	fputs(usage_text, stderr);
	return 2;
}
