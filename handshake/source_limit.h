/*
 * A per-source rate of new connections: at most `per_second` from one address in a one-second
 * window, tracked in a fixed table whose least recently started window gives way to a new
 * source, so memory stays bounded whatever the number of sources.
 */
#ifndef TNGWG_HANDSHAKE_SOURCE_LIMIT_H
#define TNGWG_HANDSHAKE_SOURCE_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define SOURCE_LIMIT_SLOTS 256

struct source_limit {
	unsigned per_second;
	struct {
		uint8_t addr[16];
		uint64_t window_start_ns; /* 0 = unused */
		unsigned count;
	} slots[SOURCE_LIMIT_SLOTS];
};

void source_limit_init(struct source_limit *l, unsigned per_second);
/* Counts one connection from addr (IPv6, or IPv4 mapped into IPv6) at now_ns (> 0); false when
 * it exceeds the rate. */
bool source_limit_allow(struct source_limit *l, const uint8_t addr[16], uint64_t now_ns);

#endif
