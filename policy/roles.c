#include "policy/roles.h"
#include "policy/ra_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void roles_entry_path(char *out, const struct entry *e)
{
	json_path_index(out, e->kind == ENTRY_INGRESS ? "add_ingress" : "add_egress", e->index);
}

static bool derive_bypass_mark(struct node_config *cfg, struct diag *d)
{
	bool ok = true;
	const struct entry *first = &cfg->entries[0];
	cfg->bypass_mark = first->so_mark;
	for (size_t i = 1; i < cfg->n_entries; i++) {
		const struct entry *e = &cfg->entries[i];
		if (e->so_mark == cfg->bypass_mark)
			continue;
		char p[JSON_PATH_MAX], fp[JSON_PATH_MAX];
		roles_entry_path(p, e);
		roles_entry_path(fp, first);
		strncat(p, ".netfilter.so_mark", sizeof(p) - strlen(p) - 1);
		diag_error(d, p, "expected %u like %s (tng-wg's own sockets carry one bypass mark), got %u",
			   cfg->bypass_mark, fp, e->so_mark);
		ok = false;
	}
	return ok;
}

static bool derive_no_ra(struct node_config *cfg, struct diag *d)
{
	const struct entry *with = NULL, *without = NULL;
	for (size_t i = 0; i < cfg->n_entries; i++) {
		const struct entry *e = &cfg->entries[i];
		if (e->no_ra && !with)
			with = e;
		if (!e->no_ra && !without)
			without = e;
	}
	cfg->no_ra = with && !without;
	if (!with || !without)
		return true;
	char p[JSON_PATH_MAX], op[JSON_PATH_MAX];
	roles_entry_path(p, with);
	roles_entry_path(op, without);
	strncat(p, ".no_ra", sizeof(p) - strlen(p) - 1);
	diag_error(d, p, "tng-wg has one tunnel per pair of nodes, so no_ra must be set on every entry or on none (%s attests or verifies)",
		   op);
	return false;
}

static bool derive_attest(struct node_config *cfg, struct diag *d)
{
	bool ok = true;
	const struct entry *first = NULL;
	struct attest_config *chosen = NULL;
	for (size_t i = 0; i < cfg->n_entries; i++) {
		const struct entry *e = &cfg->entries[i];
		if (!e->attest)
			continue;
		if (!chosen) {
			first = e;
			chosen = e->attest;
			continue;
		}
		if (strcmp(e->attest->aa_addr, chosen->aa_addr)) {
			char p[JSON_PATH_MAX], fp[JSON_PATH_MAX];
			roles_entry_path(p, e);
			roles_entry_path(fp, first);
			strncat(p, ".attest.aa_addr", sizeof(p) - strlen(p) - 1);
			diag_error(d, p, "expected \"%s\" like %s.attest (a node attests with one evidence source), got \"%s\"",
				   chosen->aa_addr, fp, e->attest->aa_addr);
			ok = false;
		}
		if (e->attest->refresh_interval_s < chosen->refresh_interval_s)
			chosen->refresh_interval_s = e->attest->refresh_interval_s;
	}
	cfg->attest = chosen;
	return ok;
}

static bool derive_verifiers(struct node_config *cfg, struct diag *d)
{
	cfg->verifiers = calloc(cfg->n_entries, sizeof(*cfg->verifiers));
	if (!cfg->verifiers) {
		d->out_of_memory = true;
		return false;
	}
	for (size_t i = 0; i < cfg->n_entries; i++) {
		const struct verify_config *v = cfg->entries[i].verify;
		bool seen = false;
		for (size_t j = 0; v && j < cfg->n_verifiers && !seen; j++)
			seen = ra_verify_equal(cfg->verifiers[j], v);
		if (v && !seen)
			cfg->verifiers[cfg->n_verifiers++] = v;
	}
	return true;
}

/* Without trusted_certs_paths the token signer's keys come from the AS itself; over plain HTTP
 * anyone on the path to the AS could hand out their own and forge every token, so that takes an
 * explicit yes. */
static bool check_anchor_transport(const struct node_config *cfg, struct diag *d)
{
	bool ok = true;
	for (size_t i = 0; i < cfg->n_entries; i++) {
		const struct verify_config *v = cfg->entries[i].verify;
		if (!v || v->n_trusted_certs || v->skip_as_token_cert_verify || strncmp(v->as_addr, "http://", 7) ||
		    cfg->overlay.allow_http_as_anchors)
			continue;
		char p[JSON_PATH_MAX];
		roles_entry_path(p, &cfg->entries[i]);
		strncat(p, ".verify", sizeof(p) - strlen(p) - 1);
		diag_error(d, p, "expected trusted_certs_paths with an http:// as_addr: the AS's signing key "
			   "would come over plain HTTP, where anyone on the path to the AS could swap it and "
			   "forge tokens; give the AS's certificate in trusted_certs_paths, use https://, or "
			   "accept the risk with \"overlay\": {\"allow_http_as_anchors\": true}");
		ok = false;
	}
	return ok;
}

bool roles_derive(struct node_config *cfg, struct diag *d)
{
	if (!cfg->n_entries) {
		diag_error(d, NULL, "expected at least one entry in add_ingress or add_egress");
		return false;
	}
	bool ok = derive_bypass_mark(cfg, d);
	ok &= derive_no_ra(cfg, d);
	ok &= derive_attest(cfg, d);
	ok &= derive_verifiers(cfg, d);
	ok &= check_anchor_transport(cfg, d);
	if (cfg->bypass_mark == cfg->overlay.fwmark) {
		diag_error(d, "overlay.fwmark", "expected a mark other than the bypass mark (so_mark), got %u",
			   cfg->overlay.fwmark);
		ok = false;
	}
	return ok;
}
