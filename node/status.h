/*
 * The node's state for its operators, in two views of the same facts: the JSON that
 * `tng-wg show` prints, and the Prometheus text exposition of its metrics endpoint.
 */
#ifndef TNGWG_NODE_STATUS_H
#define TNGWG_NODE_STATUS_H

#include <stdbool.h>

#include "node/attestation.h"
#include "node/peers.h"
#include "overlay/device.h"
#include "policy/config.h"

struct status_source {
	struct device *dev;
	const struct node_config *cfg;
	struct peers *peers;
	struct attestation *att;
	bool ready;
};

/* malloc'd text ending in a newline; NULL when out of memory. */
char *status_json(const struct status_source *s);
char *status_metrics(const struct status_source *s);

#endif
