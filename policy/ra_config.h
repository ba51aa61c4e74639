/*
 * The `attest` and `verify` objects of an entry (TNG's RA arguments): parsing with TNG's defaults
 * and checks, restricted to what tng-wg implements (background check against a CoCo Attestation
 * Service over REST; evidence from a CoCo Attestation Agent or configfs-tsm).
 */
#ifndef TNGWG_POLICY_RA_CONFIG_H
#define TNGWG_POLICY_RA_CONFIG_H

#include "policy/config.h"
#include "policy/json_diag.h"

/* NULL (with errors reported) when v is not a usable attest / verify object. */
struct attest_config *ra_parse_attest(struct diag *d, const struct cJSON *v, const char *path);
struct verify_config *ra_parse_verify(struct diag *d, const struct cJSON *v, const char *path);

bool ra_verify_equal(const struct verify_config *a, const struct verify_config *b);

void ra_free_attest(struct attest_config *a);
void ra_free_verify(struct verify_config *v);

#endif
