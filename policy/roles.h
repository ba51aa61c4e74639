/*
 * What a node attests and what it verifies, derived from its entries (DESIGN "Trust per node").
 * tng-wg has one tunnel per pair of nodes, so per-entry choices must agree node-wide:
 *  - the node attests when any entry has `attest`; every `attest` names the same aa_addr, and the
 *    shortest refresh_interval wins;
 *  - the node verifies each peer against every distinct `verify` (all must pass);
 *  - `no_ra` is all-or-nothing: on every entry (a no_ra node) or on none;
 *  - every entry has the same so_mark, the one bypass mark tng-wg's own sockets carry.
 */
#ifndef TNGWG_POLICY_ROLES_H
#define TNGWG_POLICY_ROLES_H

#include "policy/config.h"
#include "policy/json_diag.h"

/* Fills cfg's derived fields; reports conflicts to d and returns false on any. */
bool roles_derive(struct node_config *cfg, struct diag *d);

/* "add_ingress[2]" into out (JSON_PATH_MAX bytes). */
void roles_entry_path(char *out, const struct entry *e);

#endif
