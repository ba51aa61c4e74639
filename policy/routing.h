/*
 * Policy routing for the steering mark: "ip rule fwmark <overlay.fwmark> lookup <overlay.table>"
 * and "default dev <ifname>" in that table, behind which "blackhole default" drops steered
 * packets whenever the interface is gone (fail closed, also after the daemon was killed); plus
 * the overlay interface's sysctls that let packets arriving from the overlay pass reverse-path
 * filtering (src_valid_mark=1, rp_filter=2). Only the overlay interface's own sysctls change;
 * their previous values are saved under state_dir so that routing_remove restores them even
 * after the daemon was killed.
 */
#ifndef TNGWG_POLICY_ROUTING_H
#define TNGWG_POLICY_ROUTING_H

#include "policy/config.h"

#include <stddef.h>

#define ROUTING_STATE_DIR "/run/tng-wg"

/* The overlay interface must exist. Idempotent. 0, or -1 with a message. */
int routing_apply(const struct node_config *cfg, const char *state_dir, char *err, size_t errlen);

/* Removes the rule and the table's routes and restores the saved sysctls; absent pieces are fine. */
int routing_remove(const struct node_config *cfg, const char *state_dir, char *err, size_t errlen);

#endif
