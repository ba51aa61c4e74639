/*
 * RFC 6479 replay window. Counters are tracked as "position = counter + 1" so that position 0
 * means "nothing accepted yet"; the bitmap is a ring of 64-bit words and moving forward clears
 * whole words instead of shifting bits.
 */
#include "overlay/replay.h"

#include <string.h>

#include "overlay/messages.h"

#define WORD_BITS 64

void replay_init(struct replay_window *w)
{
	memset(w, 0, sizeof(*w));
}

static uint64_t *word_of(struct replay_window *w, uint64_t position)
{
	return &w->bitmap[(position / WORD_BITS) % REPLAY_BITMAP_WORDS];
}

/* Clear the words between the current greatest position and the new one (at most the ring). */
static void advance_to(struct replay_window *w, uint64_t position)
{
	uint64_t current_word = w->greatest / WORD_BITS;
	uint64_t steps = position / WORD_BITS - current_word;

	if (steps > REPLAY_BITMAP_WORDS)
		steps = REPLAY_BITMAP_WORDS;
	for (uint64_t i = 1; i <= steps; i++)
		w->bitmap[(current_word + i) % REPLAY_BITMAP_WORDS] = 0;
	w->greatest = position;
}

bool replay_check_and_update(struct replay_window *w, uint64_t counter)
{
	if (counter >= REJECT_AFTER_MESSAGES)
		return false;
	uint64_t position = counter + 1;
	if (position + REPLAY_WINDOW_SIZE < w->greatest)
		return false; /* older than the window */
	if (position > w->greatest)
		advance_to(w, position);

	uint64_t *word = word_of(w, position);
	uint64_t bit = 1ULL << (position % WORD_BITS);
	if (*word & bit)
		return false;
	*word |= bit;
	return true;
}
