/*
 * The single-threaded event loop: epoll for file descriptors, a min-heap of one-shot timers.
 * The daemon owns the loop; modules receive it and register their own fds and timers, so
 * nothing below the daemon needs to know who drives it.
 */
#ifndef TNGWG_COMMON_LOOP_H
#define TNGWG_COMMON_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t loop_now_ns(void);
#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL

struct loop *loop_new(void);
void loop_free(struct loop *loop);

enum { LOOP_READ = 1, LOOP_WRITE = 2 };
typedef void (*loop_fd_fn)(void *ctx, int fd, unsigned events);

/* Watch fd for LOOP_READ and/or LOOP_WRITE; a second call for the same fd changes the events. */
int loop_watch(struct loop *loop, int fd, unsigned events, loop_fd_fn fn, void *ctx);
int loop_unwatch(struct loop *loop, int fd);

/* A timer is embedded in its owner's struct; loop_timer_init once, then arm and cancel freely. */
typedef void (*loop_timer_fn)(void *ctx);
struct loop_timer {
	uint64_t deadline_ns;
	loop_timer_fn fn;
	void *ctx;
	int heap_index; /* -1 when not armed */
};
void loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *ctx);
void loop_timer_arm_at(struct loop *loop, struct loop_timer *t, uint64_t deadline_ns);
void loop_timer_arm_in(struct loop *loop, struct loop_timer *t, uint64_t delay_ns);
void loop_timer_cancel(struct loop *loop, struct loop_timer *t);
bool loop_timer_armed(const struct loop_timer *t);

/* Run until loop_stop; returns 0, or -1 when epoll fails. */
int loop_run(struct loop *loop);
/* Run one iteration waiting at most timeout_ms (-1 = until something happens). */
int loop_run_once(struct loop *loop, int timeout_ms);
void loop_stop(struct loop *loop);

#endif
