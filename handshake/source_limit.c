#include "handshake/source_limit.h"

#include "common/loop.h"

#include <string.h>

void source_limit_init(struct source_limit *l, unsigned per_second)
{
	memset(l, 0, sizeof(*l));
	l->per_second = per_second;
}

bool source_limit_allow(struct source_limit *l, const uint8_t addr[16], uint64_t now_ns)
{
	size_t found = SOURCE_LIMIT_SLOTS, oldest = 0;

	for (size_t i = 0; i < SOURCE_LIMIT_SLOTS && found == SOURCE_LIMIT_SLOTS; i++) {
		if (l->slots[i].window_start_ns && !memcmp(l->slots[i].addr, addr, 16))
			found = i;
		else if (l->slots[i].window_start_ns < l->slots[oldest].window_start_ns)
			oldest = i;
	}
	if (found == SOURCE_LIMIT_SLOTS) {
		found = oldest;
		memcpy(l->slots[found].addr, addr, 16);
		l->slots[found].window_start_ns = 0;
	}
	if (!l->slots[found].window_start_ns || now_ns - l->slots[found].window_start_ns >= NSEC_PER_SEC) {
		l->slots[found].window_start_ns = now_ns;
		l->slots[found].count = 0;
	}
	return ++l->slots[found].count <= l->per_second;
}
