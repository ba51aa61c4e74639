/* The replay window against the kernel module's counter self-test sequence. */
#include "overlay/messages.h"
#include "overlay/replay.h"
#include "tests/unit/test.h"

#define LIM ((uint64_t)REPLAY_WINDOW_SIZE + 1)

struct step {
	uint64_t counter;
	bool accept;
};

static int run_steps(struct replay_window *w, const struct step *steps, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		if (replay_check_and_update(w, steps[i].counter) != steps[i].accept) {
			fprintf(stderr, "  step %zu: counter %llu expected %s\n", i + 1,
				(unsigned long long)steps[i].counter, steps[i].accept ? "accept" : "reject");
			bad++;
		}
	}
	return bad;
}

TEST(scripted_sequence)
{
	static const struct step steps[] = {
		{ 0, true },
		{ 1, true },
		{ 1, false },
		{ 9, true },
		{ 8, true },
		{ 7, true },
		{ 7, false },
		{ LIM, true },
		{ LIM - 1, true },
		{ LIM - 1, false },
		{ LIM - 2, true },
		{ 2, true },
		{ 2, false },
		{ LIM + 16, true },
		{ 3, false },
		{ LIM + 16, false },
		{ LIM * 4, true },
		{ LIM * 4 - (LIM - 1), true },
		{ 10, false },
		{ LIM * 4 - LIM, false },
		{ LIM * 4 - (LIM + 1), false },
		{ LIM * 4 - (LIM - 2), true },
		{ LIM * 4 + 1 - LIM, false },
		{ 0, false },
		{ REJECT_AFTER_MESSAGES, false },
		{ REJECT_AFTER_MESSAGES - 1, true },
		{ REJECT_AFTER_MESSAGES, false },
		{ REJECT_AFTER_MESSAGES - 1, false },
		{ REJECT_AFTER_MESSAGES - 2, true },
		{ REJECT_AFTER_MESSAGES + 1, false },
		{ REJECT_AFTER_MESSAGES + 2, false },
		{ REJECT_AFTER_MESSAGES - 2, false },
		{ REJECT_AFTER_MESSAGES - 3, true },
		{ 0, false },
	};
	struct replay_window w;
	replay_init(&w);
	CHECK(run_steps(&w, steps, sizeof(steps) / sizeof(steps[0])) == 0);
}

/* Accept each counter of [from, to] going up (from <= to) or down (from > to); count failures. */
static int sweep(struct replay_window *w, uint64_t from, uint64_t to)
{
	int bad = 0;
	if (from <= to) {
		for (uint64_t c = from; c <= to; c++)
			bad += !replay_check_and_update(w, c);
	} else {
		for (uint64_t c = from + 1; c-- > to;)
			bad += !replay_check_and_update(w, c);
	}
	return bad;
}

TEST(full_window_ascending_then_zero)
{
	struct replay_window w;
	replay_init(&w);
	CHECK(sweep(&w, 1, REPLAY_WINDOW_SIZE) == 0);
	CHECK(replay_check_and_update(&w, 0));
	CHECK(!replay_check_and_update(&w, 0));
}

TEST(window_plus_one_ascending_drops_zero)
{
	struct replay_window w;
	replay_init(&w);
	CHECK(sweep(&w, 2, REPLAY_WINDOW_SIZE + 1) == 0);
	CHECK(replay_check_and_update(&w, 1));
	CHECK(!replay_check_and_update(&w, 0));
}

TEST(descending_sweeps)
{
	struct replay_window w;
	replay_init(&w);
	CHECK(sweep(&w, REPLAY_WINDOW_SIZE, 0) == 0);

	replay_init(&w);
	CHECK(sweep(&w, REPLAY_WINDOW_SIZE + 1, 1) == 0);
	CHECK(!replay_check_and_update(&w, 0));

	replay_init(&w);
	CHECK(sweep(&w, REPLAY_WINDOW_SIZE, 1) == 0);
	CHECK(replay_check_and_update(&w, REPLAY_WINDOW_SIZE + 1));
	CHECK(!replay_check_and_update(&w, 0));

	replay_init(&w);
	CHECK(sweep(&w, REPLAY_WINDOW_SIZE, 1) == 0);
	CHECK(replay_check_and_update(&w, 0));
	CHECK(replay_check_and_update(&w, REPLAY_WINDOW_SIZE + 1));
}

TEST(window_size_is_8128)
{
	CHECK(REPLAY_WINDOW_SIZE == 8128);
}

int main(void)
{
	TEST_BEGIN("replay");
	RUN(scripted_sequence);
	RUN(full_window_ascending_then_zero);
	RUN(window_plus_one_ascending_drops_zero);
	RUN(descending_sweeps);
	RUN(window_size_is_8128);
	TEST_END();
}
