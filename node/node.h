/*
 * The node daemon of `tng-wg up`: one WireGuard device, the steering rules and policy routing,
 * the attested-handshake transport, this node's evidence source and its verifiers, and the
 * peers it has attested. Peers are made on demand: the first captured packet to an address
 * without a peer is held while the attested handshake runs.
 */
#ifndef TNGWG_NODE_NODE_H
#define TNGWG_NODE_NODE_H

#include <stddef.h>

#include "common/loop.h"
#include "policy/config.h"

struct node;

/* Bring the node up on loop; takes ownership of cfg. NULL with a message when anything fails,
 * in which case everything already installed has been removed again. */
struct node *node_start(struct loop *loop, struct node_config *cfg, char *err, size_t errlen);
/* Remove everything the node installed (peers, interface, rules, routes) and free it. */
void node_stop(struct node *n);
/* Apply the config at path without dropping tunnels it still allows (see peers_reload): the
 * steering rules are replaced, the attestation set up anew (anchors fetched from an AS are
 * fetched again). A config that does not load, or changes what only a restart can (interface,
 * ports, marks, table, MTU, metrics address), is refused with the reason in err and the running
 * one stays. 0 or -1. */
int node_reload(struct node *n, const char *path, char *err, size_t errlen);
/* The file the running config came from. */
const char *node_config_path(const struct node *n);
/* Remove what a node with this config installed when its daemon is gone (killed). */
int node_cleanup_leftovers(const struct node_config *cfg, char *err, size_t errlen);

#endif
