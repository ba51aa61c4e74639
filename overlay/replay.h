/* The receive counter window (RFC 6479 style bitmap, 8128 counters back), checked after decryption. */
#ifndef TNGWG_OVERLAY_REPLAY_H
#define TNGWG_OVERLAY_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#define REPLAY_BITMAP_WORDS 128 /* 128 x 64 bits; window = (128 - 1) * 64 = 8128 */
#define REPLAY_WINDOW_SIZE ((REPLAY_BITMAP_WORDS - 1) * 64)

struct replay_window {
	uint64_t greatest; /* one past the greatest accepted counter, 0 when none */
	uint64_t bitmap[REPLAY_BITMAP_WORDS];
};

void replay_init(struct replay_window *w);
/* Accept (and record) counter, or reject a replay, a counter too old, or one >= REJECT_AFTER_MESSAGES. */
bool replay_check_and_update(struct replay_window *w, uint64_t counter);

#endif
