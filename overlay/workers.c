#include "overlay/workers.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"

#define MAX_WORKERS 7
#define CHUNK 8 /* items per claim: small enough to balance, large enough to keep claims rare */

struct workers {
	unsigned threads, started;
	pthread_t ids[MAX_WORKERS];
	/* The job: written by the caller before its claim word; read by a worker only after it
	 * claimed a chunk, so never while the caller replaces them. */
	_Atomic(workers_fn) fn;
	_Atomic(void *) ctx;
	/* generation (24 bits) | item count (20) | next unclaimed item (20): a claim names its job. */
	_Atomic uint64_t claim;
	_Atomic uint32_t generation; /* futex word the workers sleep on */
	_Atomic uint32_t done;       /* items finished in this job; futex word the caller sleeps on */
	_Atomic bool stopping;
};

static void futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word, int n)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

#define CLAIM_BITS 20
#define CLAIM_MASK ((1u << CLAIM_BITS) - 1)
#define GENERATION_MASK 0xffffffu

static uint64_t make_claim(uint32_t gen, unsigned count, unsigned next)
{
	return (uint64_t)(gen & GENERATION_MASK) << (2 * CLAIM_BITS) | (uint64_t)count << CLAIM_BITS | next;
}

/* Claim and run chunks of job generation gen until none is left. */
static void work_on(struct workers *w, uint32_t gen)
{
	uint64_t c = atomic_load_explicit(&w->claim, memory_order_acquire);
	for (;;) {
		unsigned count = (unsigned)(c >> CLAIM_BITS) & CLAIM_MASK, first = (unsigned)c & CLAIM_MASK;
		if ((uint32_t)(c >> (2 * CLAIM_BITS)) != (gen & GENERATION_MASK) || first >= count)
			return;
		unsigned end = first + CHUNK < count ? first + CHUNK : count;
		if (!atomic_compare_exchange_weak_explicit(&w->claim, &c, make_claim(gen, count, end),
							   memory_order_acq_rel, memory_order_acquire))
			continue;
		workers_fn fn = atomic_load_explicit(&w->fn, memory_order_relaxed);
		fn(atomic_load_explicit(&w->ctx, memory_order_relaxed), first, end);
		uint32_t done = atomic_fetch_add_explicit(&w->done, end - first, memory_order_acq_rel) + (end - first);
		if (done == count)
			futex_wake(&w->done, 1);
		c = atomic_load_explicit(&w->claim, memory_order_acquire);
	}
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;
	uint32_t seen = atomic_load_explicit(&w->generation, memory_order_acquire);
	while (!atomic_load_explicit(&w->stopping, memory_order_acquire)) {
		uint32_t gen = atomic_load_explicit(&w->generation, memory_order_acquire);
		if (gen == seen) {
			futex_wait(&w->generation, gen);
			continue;
		}
		seen = gen;
		work_on(w, gen);
	}
	return NULL;
}

unsigned workers_default_threads(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus <= 1)
		return 0;
	return cpus - 1 > MAX_WORKERS ? MAX_WORKERS : (unsigned)(cpus - 1);
}

struct workers *workers_new(unsigned threads)
{
	struct workers *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->threads = threads > MAX_WORKERS ? MAX_WORKERS : threads;
	return w;
}

/* Workers block every signal: the daemon takes its signals through a signalfd on the loop. */
static void start_threads(struct workers *w)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	while (w->started < w->threads) {
		int rc = pthread_create(&w->ids[w->started], NULL, worker_main, w);
		if (rc) {
			log_warn("workers", "cannot start a crypto worker: %s; %u running", strerror(rc), w->started);
			w->threads = w->started;
			break;
		}
		w->started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void workers_free(struct workers *w)
{
	if (!w)
		return;
	atomic_store_explicit(&w->stopping, true, memory_order_release);
	atomic_fetch_add_explicit(&w->generation, 1, memory_order_acq_rel);
	futex_wake(&w->generation, INT32_MAX);
	for (unsigned i = 0; i < w->started; i++)
		pthread_join(w->ids[i], NULL);
	free(w);
}

void workers_run(struct workers *w, workers_fn fn, void *ctx, unsigned count, unsigned min_shared)
{
	if (!count)
		return;
	if (!w->threads || count < min_shared || count < 2 * CHUNK || count > CLAIM_MASK) {
		fn(ctx, 0, count);
		return;
	}
	if (w->started < w->threads)
		start_threads(w);
	atomic_store_explicit(&w->fn, fn, memory_order_relaxed);
	atomic_store_explicit(&w->ctx, ctx, memory_order_relaxed);
	atomic_store_explicit(&w->done, 0, memory_order_relaxed);
	uint32_t gen = atomic_load_explicit(&w->generation, memory_order_relaxed) + 1;
	atomic_store_explicit(&w->claim, make_claim(gen, count, 0), memory_order_release);
	atomic_store_explicit(&w->generation, gen, memory_order_release);
	futex_wake(&w->generation, (int)w->started);
	work_on(w, gen);
	uint32_t done;
	while ((done = atomic_load_explicit(&w->done, memory_order_acquire)) != count)
		futex_wait(&w->done, done);
}
