/*
 * Crypto workers: every item of every batch is done exactly once, by the time workers_run
 * returns, whatever the batch size and however batches follow each other; results land in
 * their own slots, so the order of a batch is kept; small batches stay on the caller's thread.
 */
#include "overlay/workers.h"
#include "tests/unit/test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define MAX_ITEMS 3000

struct job {
	_Atomic unsigned hits[MAX_ITEMS];
	uint64_t out[MAX_ITEMS];
	uint64_t seed;
	_Atomic unsigned other_thread_items;
	pthread_t caller;
};

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static void do_items(void *ctx, unsigned first, unsigned end)
{
	struct job *j = ctx;
	for (unsigned i = first; i < end; i++) {
		atomic_fetch_add_explicit(&j->hits[i], 1, memory_order_relaxed);
		uint64_t v = j->seed + i;
		for (int r = 0; r < 50; r++)
			v = mix(v);
		j->out[i] = v;
	}
	if (!pthread_equal(pthread_self(), j->caller))
		atomic_fetch_add_explicit(&j->other_thread_items, end - first, memory_order_relaxed);
}

static bool job_complete(struct job *j, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		uint64_t v = j->seed + i;
		for (int r = 0; r < 50; r++)
			v = mix(v);
		if (atomic_load(&j->hits[i]) != 1 || j->out[i] != v)
			return false;
	}
	for (unsigned i = count; i < MAX_ITEMS; i++)
		if (atomic_load(&j->hits[i]))
			return false;
	return true;
}

static struct job job;

static void reset(uint64_t seed)
{
	for (unsigned i = 0; i < MAX_ITEMS; i++)
		atomic_store(&job.hits[i], 0);
	job.seed = seed;
	atomic_store(&job.other_thread_items, 0);
	job.caller = pthread_self();
}

TEST(every_item_once_across_many_batches)
{
	struct workers *w = workers_new(3);
	CHECK(w != NULL);
	bool ok = true;
	unsigned shared = 0;
	for (unsigned round = 0; round < 2000 && ok; round++) {
		unsigned count = 1 + (unsigned)(mix(round) % MAX_ITEMS);
		reset(round);
		workers_run(w, do_items, &job, count, 16);
		ok = job_complete(&job, count);
		shared += atomic_load(&job.other_thread_items);
	}
	CHECK(ok);
	CHECK(shared > 0); /* the workers did take part */
	workers_free(w);
}

TEST(small_batches_and_no_workers_run_inline)
{
	struct workers *w = workers_new(2);
	reset(1);
	workers_run(w, do_items, &job, 100, 200); /* below the threshold */
	CHECK(job_complete(&job, 100) && atomic_load(&job.other_thread_items) == 0);
	workers_free(w);
	w = workers_new(0);
	reset(2);
	workers_run(w, do_items, &job, MAX_ITEMS, 1);
	CHECK(job_complete(&job, MAX_ITEMS) && atomic_load(&job.other_thread_items) == 0);
	workers_free(w);
	CHECK(workers_default_threads() <= 7);
}

int main(void)
{
	TEST_BEGIN("workers");
	RUN(every_item_once_across_many_batches);
	RUN(small_batches_and_no_workers_run_inline);
	TEST_END();
}
