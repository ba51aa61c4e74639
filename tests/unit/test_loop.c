#include "common/loop.h"
#include "tests/unit/test.h"

#include <unistd.h>

static int order[8], fired;
static void record(void *ctx) { order[fired++] = (int)(long)ctx; }

TEST(timers_fire_in_deadline_order)
{
	struct loop *loop = loop_new();
	struct loop_timer t[4];
	for (long i = 0; i < 4; i++)
		loop_timer_init(&t[i], record, (void *)i);
	uint64_t now = loop_now_ns();
	loop_timer_arm_at(loop, &t[2], now + 3 * NSEC_PER_MSEC);
	loop_timer_arm_at(loop, &t[0], now + 1 * NSEC_PER_MSEC);
	loop_timer_arm_at(loop, &t[3], now + 4 * NSEC_PER_MSEC);
	loop_timer_arm_at(loop, &t[1], now + 2 * NSEC_PER_MSEC);
	loop_timer_cancel(loop, &t[3]);
	CHECK(!loop_timer_armed(&t[3]));
	fired = 0;
	for (int i = 0; i < 20 && fired < 3; i++)
		loop_run_once(loop, 5);
	CHECK(fired == 3);
	CHECK(order[0] == 0 && order[1] == 1 && order[2] == 2);
	loop_free(loop);
}

static int reads;
static void on_read(void *ctx, int fd, unsigned ev)
{
	char b[8];
	if (read(fd, b, sizeof(b)) > 0)
		reads++;
}

TEST(fd_watch_delivers_readable)
{
	struct loop *loop = loop_new();
	int p[2];
	CHECK(pipe(p) == 0);
	CHECK(loop_watch(loop, p[0], LOOP_READ, on_read, NULL) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	reads = 0;
	loop_run_once(loop, 100);
	CHECK(reads == 1);
	CHECK(loop_unwatch(loop, p[0]) == 0);
	CHECK(write(p[1], "x", 1) == 1);
	loop_run_once(loop, 10);
	CHECK(reads == 1);
	close(p[0]);
	close(p[1]);
	loop_free(loop);
}

int main(void)
{
	TEST_BEGIN("loop");
	RUN(timers_fire_in_deadline_order);
	RUN(fd_watch_delivers_readable);
	TEST_END();
}
