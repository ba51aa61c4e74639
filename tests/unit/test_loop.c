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

struct pair_ctx {
	struct loop *loop;
	int other_fd, calls;
};

static void unwatch_other(void *ctx, int fd, unsigned ev)
{
	struct pair_ctx *pc = ctx;
	pc->calls++;
	char b;
	if (read(fd, &b, 1) < 0)
		return;
	loop_unwatch(pc->loop, pc->other_fd);
}

TEST(unwatch_inside_a_batch_silences_the_other_fd)
{
	/* Both fds are readable in one batch; whichever runs first unwatches the other, which must
	 * then not run (its watch is gone even though the batch still names it). */
	struct loop *loop = loop_new();
	int a[2], b[2];
	CHECK(pipe(a) == 0 && pipe(b) == 0);
	struct pair_ctx ca = { loop, b[0], 0 }, cb = { loop, a[0], 0 };
	CHECK(loop_watch(loop, a[0], LOOP_READ, unwatch_other, &ca) == 0);
	CHECK(loop_watch(loop, b[0], LOOP_READ, unwatch_other, &cb) == 0);
	CHECK(write(a[1], "x", 1) == 1 && write(b[1], "x", 1) == 1);
	loop_run_once(loop, 100);
	CHECK(ca.calls + cb.calls == 1);
	loop_free(loop);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

int main(void)
{
	TEST_BEGIN("loop");
	RUN(timers_fire_in_deadline_order);
	RUN(fd_watch_delivers_readable);
	RUN(unwatch_inside_a_batch_silences_the_other_fd);
	TEST_END();
}
