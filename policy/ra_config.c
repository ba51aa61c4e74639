#include "policy/ra_config.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define AA_UNIX_PREFIX "unix:///"
#define AA_TSM_PREFIX "configfs-tsm://"
#define EXPECTED_AA_ADDR \
	"\"unix:///<Attestation Agent socket>\" or \"configfs-tsm://[<report directory>]\""

/* A value TNG accepts for a field; `refusal` says why tng-wg does not (NULL: supported). */
struct choice {
	const char *value;
	const char *refusal;
};

/* A field that only belongs to a mode tng-wg does not implement. */
struct refused_field {
	const char *key;
	const char *why;
};

static bool check_choice(struct diag *d, const cJSON *obj, const char *key, const char *path,
			 const struct choice *choices)
{
	const cJSON *v = json_field(obj, key);
	if (!v)
		return true;
	char p[JSON_PATH_MAX];
	json_path_key(p, path, key);
	if (cJSON_IsString(v))
		for (const struct choice *c = choices; c->value; c++)
			if (!strcmp(c->value, v->valuestring)) {
				if (!c->refusal)
					return true;
				diag_error(d, p, "\"%s\" is not supported by tng-wg: %s", c->value,
					   c->refusal);
				return false;
			}
	char expected[256] = "one of";
	size_t used = strlen(expected);
	for (const struct choice *c = choices; c->value && used < sizeof(expected); c++)
		used += (size_t)snprintf(expected + used, sizeof(expected) - used, "%s \"%s\"",
					 c == choices ? "" : ",", c->value);
	json_report_expected(d, v, p, expected);
	return false;
}

static bool check_refused_fields(struct diag *d, const cJSON *obj, const char *path,
				 const struct refused_field *fields)
{
	bool ok = true;
	for (const struct refused_field *f = fields; f->key; f++)
		if (json_field(obj, f->key)) {
			char p[JSON_PATH_MAX];
			json_path_key(p, path, f->key);
			diag_error(d, p, "%s", f->why);
			ok = false;
		}
	return ok;
}

/* "background_check" is the only model: each verifier sends the peer's evidence to its own AS. */
static const struct choice models[] = {
	{ "background_check", NULL },
	{ "passport", "tng-wg verifies by background check only (each verifier sends the peer's "
		      "evidence to its Attestation Service); use \"background_check\"" },
	{ NULL, NULL },
};

static bool parse_aa_addr(struct diag *d, const cJSON *obj, const char *path,
			  struct attest_config *a)
{
	char p[JSON_PATH_MAX];
	json_path_key(p, path, "aa_addr");
	const cJSON *v = json_field(obj, "aa_addr");
	if (!v) {
		diag_error(d, p, "missing; expected %s", EXPECTED_AA_ADDR);
		return false;
	}
	if (!json_read_string(d, v, p, EXPECTED_AA_ADDR, &a->aa_addr))
		return false;
	const char *rest;
	if (!strncmp(a->aa_addr, AA_UNIX_PREFIX, strlen(AA_UNIX_PREFIX))) {
		a->source = ATTEST_SOURCE_AA;
		rest = a->aa_addr + strlen(AA_UNIX_PREFIX) - 1; /* keep the leading '/' */
		if (!rest[1]) {
			diag_error(d, p, "expected a socket path after \"unix://\", got \"%s\"", a->aa_addr);
			return false;
		}
	} else if (!strncmp(a->aa_addr, AA_TSM_PREFIX, strlen(AA_TSM_PREFIX))) {
		a->source = ATTEST_SOURCE_CONFIGFS_TSM;
		rest = a->aa_addr + strlen(AA_TSM_PREFIX);
		if (!*rest)
			rest = CONFIG_DEFAULT_TSM_DIR;
		if (*rest != '/') {
			diag_error(d, p, "expected an absolute directory after \"configfs-tsm://\", got \"%s\"",
				   a->aa_addr);
			return false;
		}
	} else {
		diag_error(d, p, "AA address must start with unix:/// (or, for tng-wg, configfs-tsm://), got \"%s\"",
			   a->aa_addr);
		return false;
	}
	a->path = strdup(rest);
	if (!a->path) {
		d->out_of_memory = true;
		return false;
	}
	/* The AA may start after the check; the daemon reports it when it is still missing. */
	struct stat st;
	if (stat(a->path, &st) != 0)
		diag_warn(d, p, "%s \"%s\" not found (yet); tng-wg needs it when it attests",
			  a->source == ATTEST_SOURCE_AA ? "AA socket file" : "configfs-tsm directory",
			  a->path);
	return true;
}

struct attest_config *ra_parse_attest(struct diag *d, const cJSON *v, const char *path)
{
	static const char *const keys[] = { "model", "aa_provider", "aa_type", "aa_addr", "asr_addr",
					    "refresh_interval", "as_type", "as_addr", "as_headers",
					    "policy_ids", NULL };
	static const struct choice providers[] = {
		{ "coco", NULL },
		{ "ita", "use \"coco\" with an Attestation Agent, or aa_addr \"configfs-tsm://\"" },
		{ "coco_asr", "use \"coco\" with the Attestation Agent's socket in aa_addr" },
		{ "ita_asr", "use \"coco\" with an Attestation Agent, or aa_addr \"configfs-tsm://\"" },
		{ NULL, NULL },
	};
	static const struct choice aa_types[] = {
		{ "uds", NULL },
		{ "builtin", "not implemented (in TNG either); use \"uds\" with aa_addr" },
		{ NULL, NULL },
	};
	static const struct refused_field passport_only[] = {
		{ "asr_addr", "only used by aa_provider \"coco_asr\"/\"ita_asr\", which tng-wg does not support" },
		{ "as_type", "only used by the \"passport\" model, which tng-wg does not support" },
		{ "as_addr", "only used by the \"passport\" model, which tng-wg does not support" },
		{ "as_headers", "only used by the \"passport\" model, which tng-wg does not support" },
		{ "policy_ids", "only used by the \"passport\" model, which tng-wg does not support" },
		{ NULL, NULL },
	};
	if (!json_expect_object(d, v, path))
		return NULL;
	struct attest_config *a = calloc(1, sizeof(*a));
	if (!a) {
		d->out_of_memory = true;
		return NULL;
	}
	a->refresh_interval_s = CONFIG_DEFAULT_REFRESH_S;
	bool ok = json_check_keys(d, v, path, keys);
	ok &= check_choice(d, v, "model", path, models);
	ok &= check_choice(d, v, "aa_provider", path, providers);
	ok &= check_choice(d, v, "aa_type", path, aa_types);
	ok &= check_refused_fields(d, v, path, passport_only);
	ok &= parse_aa_addr(d, v, path, a);
	const cJSON *refresh = json_field(v, "refresh_interval");
	if (refresh) {
		char p[JSON_PATH_MAX];
		json_path_key(p, path, "refresh_interval");
		ok &= json_read_uint(d, refresh, p, 0, UINT32_MAX, "an integer number of seconds (0 = fetch evidence on every use)",
				     &a->refresh_interval_s);
	}
	if (!ok) {
		ra_free_attest(a);
		return NULL;
	}
	return a;
}

/* Header names are RFC 9110 tokens; values may not break the request with CR, LF or NUL. */
static bool valid_header(const char *name, const char *value)
{
	if (!*name)
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      strchr("!#$%&'*+-.^_`|~", *c)))
			return false;
	return !strpbrk(value, "\r\n");
}

static bool parse_as_headers(struct diag *d, const cJSON *v, const char *path,
			     struct verify_config *vc)
{
	if (!json_expect_object(d, v, path))
		return false;
	size_t n = (size_t)cJSON_GetArraySize(v);
	vc->as_headers = calloc(n ? n : 1, sizeof(char *));
	if (!vc->as_headers) {
		d->out_of_memory = true;
		return false;
	}
	bool ok = true;
	const cJSON *h;
	cJSON_ArrayForEach(h, v) {
		char p[JSON_PATH_MAX];
		json_path_key(p, path, h->string);
		if (!cJSON_IsString(h) || !valid_header(h->string, h->valuestring)) {
			json_report_expected(d, h, p,
					     "a header name (token characters) with a string value without CR/LF");
			ok = false;
			continue;
		}
		size_t len = strlen(h->string) + strlen(h->valuestring) + 3;
		char *line = malloc(len);
		if (!line) {
			d->out_of_memory = true;
			return false;
		}
		snprintf(line, len, "%s: %s", h->string, h->valuestring);
		vc->as_headers[vc->n_as_headers++] = line;
	}
	return ok;
}

static bool parse_as_addr(struct diag *d, const cJSON *v, const char *path, struct verify_config *vc)
{
	static const char expected[] = "the Attestation Service's URL (http:// or https://)";
	char p[JSON_PATH_MAX];
	json_path_key(p, path, "as_addr");
	if (!v) {
		diag_error(d, p, "missing; expected %s", expected);
		return false;
	}
	if (!json_read_string(d, v, p, expected, &vc->as_addr))
		return false;
	if (strncmp(vc->as_addr, "http://", 7) && strncmp(vc->as_addr, "https://", 8)) {
		diag_error(d, p, "expected %s, got \"%s\"", expected, vc->as_addr);
		return false;
	}
	return true;
}

static bool parse_trusted_certs(struct diag *d, const cJSON *v, const char *path,
				struct verify_config *vc)
{
	char p[JSON_PATH_MAX];
	json_path_key(p, path, "trusted_certs_paths");
	if (!json_read_string_array(d, v, p, false, &vc->trusted_certs_paths, &vc->n_trusted_certs))
		return false;
	bool ok = true;
	for (size_t i = 0; i < vc->n_trusted_certs; i++) {
		struct stat st;
		if (stat(vc->trusted_certs_paths[i], &st) != 0 || !S_ISREG(st.st_mode)) {
			char pi[JSON_PATH_MAX];
			json_path_index(pi, p, i);
			diag_error(d, pi, "expected a readable PEM file, \"%s\" not found",
				   vc->trusted_certs_paths[i]);
			ok = false;
		}
	}
	return ok;
}

static bool parse_verify_flags(struct diag *d, const cJSON *v, const char *path,
			       struct verify_config *vc)
{
	bool ok = true, transparency = false;
	char p[JSON_PATH_MAX];
	const cJSON *f = json_field(v, "verify_signer_transparency");
	json_path_key(p, path, "verify_signer_transparency");
	if (f && !json_read_bool(d, f, p, &transparency)) {
		ok = false;
	} else if (transparency) {
		diag_error(d, p, "true is not supported by tng-wg (no Rekor check); remove it");
		ok = false;
	}
	f = json_field(v, "skip_as_token_cert_verify");
	json_path_key(p, path, "skip_as_token_cert_verify");
	if (f && !json_read_bool(d, f, p, &vc->skip_as_token_cert_verify)) {
		ok = false;
	} else if (vc->skip_as_token_cert_verify && json_field(v, "trusted_certs_paths")) {
		diag_error(d, path, "'trusted_certs_paths' cannot be set when 'skip_as_token_cert_verify' is true");
		ok = false;
	} else if (vc->skip_as_token_cert_verify) {
		diag_warn(d, p, "tokens are accepted on the key they carry, so anyone can forge them; for testing only");
	}
	return ok;
}

struct verify_config *ra_parse_verify(struct diag *d, const cJSON *v, const char *path)
{
	static const char *const keys[] = {
		"model", "as_provider", "as_type", "as_addr", "as_headers", "policy_ids",
		"trusted_certs_paths", "verify_signer_transparency", "skip_as_token_cert_verify",
		"ita_jwks_addr", "attestation_policy", "reference_values", NULL
	};
	static const struct choice providers[] = {
		{ "coco", NULL },
		{ "ita", "use \"coco\" with a CoCo (Trustee) Attestation Service in as_addr" },
		{ NULL, NULL },
	};
	static const struct choice as_types[] = {
		{ "restful", NULL },
		{ "grpc", "tng-wg speaks the Attestation Service's REST API; use \"restful\" and its REST URL" },
		{ "builtin", "tng-wg has no built-in Attestation Service; run one and set as_addr" },
		{ NULL, NULL },
	};
	static const struct refused_field other_modes[] = {
		{ "ita_jwks_addr", "only used by as_provider \"ita\", which tng-wg does not support" },
		{ "attestation_policy", "only used by as_type \"builtin\", which tng-wg does not support; set the policy in the Attestation Service" },
		{ "reference_values", "only used by as_type \"builtin\", which tng-wg does not support; give them to the Attestation Service" },
		{ NULL, NULL },
	};
	if (!json_expect_object(d, v, path))
		return NULL;
	struct verify_config *vc = calloc(1, sizeof(*vc));
	if (!vc) {
		d->out_of_memory = true;
		return NULL;
	}
	bool ok = json_check_keys(d, v, path, keys);
	ok &= check_choice(d, v, "model", path, models);
	ok &= check_choice(d, v, "as_provider", path, providers);
	ok &= check_choice(d, v, "as_type", path, as_types);
	ok &= check_refused_fields(d, v, path, other_modes);
	const cJSON *as_addr = json_field(v, "as_addr"), *f;
	if ((f = json_field(v, "as_headers"))) {
		char p[JSON_PATH_MAX];
		json_path_key(p, path, "as_headers");
		if (!as_addr) {
			diag_error(d, path, "'as_headers' cannot be set without 'as_addr'");
			ok = false;
		}
		ok &= parse_as_headers(d, f, p, vc);
	}
	ok &= parse_as_addr(d, as_addr, path, vc);
	char p[JSON_PATH_MAX];
	json_path_key(p, path, "policy_ids");
	if (!(f = json_field(v, "policy_ids"))) {
		diag_error(d, p, "missing; expected a non-empty array of policy ids, e.g. [\"default\"]");
		ok = false;
	} else {
		ok &= json_read_string_array(d, f, p, true, &vc->policy_ids, &vc->n_policy_ids);
	}
	if ((f = json_field(v, "trusted_certs_paths")))
		ok &= parse_trusted_certs(d, f, path, vc);
	ok &= parse_verify_flags(d, v, path, vc);
	if (!ok) {
		ra_free_verify(vc);
		return NULL;
	}
	return vc;
}

static bool strings_equal(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

bool ra_verify_equal(const struct verify_config *a, const struct verify_config *b)
{
	return !strcmp(a->as_addr, b->as_addr) &&
	       a->skip_as_token_cert_verify == b->skip_as_token_cert_verify &&
	       strings_equal(a->as_headers, a->n_as_headers, b->as_headers, b->n_as_headers) &&
	       strings_equal(a->policy_ids, a->n_policy_ids, b->policy_ids, b->n_policy_ids) &&
	       strings_equal(a->trusted_certs_paths, a->n_trusted_certs, b->trusted_certs_paths,
			     b->n_trusted_certs);
}

void ra_free_attest(struct attest_config *a)
{
	if (!a)
		return;
	free(a->aa_addr);
	free(a->path);
	free(a);
}

void ra_free_verify(struct verify_config *vc)
{
	if (!vc)
		return;
	free(vc->as_addr);
	json_free_strings(vc->as_headers, vc->n_as_headers);
	json_free_strings(vc->policy_ids, vc->n_policy_ids);
	json_free_strings(vc->trusted_certs_paths, vc->n_trusted_certs);
	free(vc);
}
