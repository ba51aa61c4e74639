#include "common/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

struct fd_watch {
	int fd;
	loop_fd_fn fn;
	void *ctx;
	struct fd_watch *next;
};

struct loop {
	int epfd;
	bool stopping;
	struct loop_timer **heap;
	size_t heap_len, heap_cap;
	struct fd_watch *watches; /* short list: a node has a handful of long-lived fds */
	struct fd_watch *unwatched; /* freed after the current batch of events */
};

uint64_t loop_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

struct loop *loop_new(void)
{
	struct loop *loop = calloc(1, sizeof(*loop));
	if (!loop)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		free(loop);
		return NULL;
	}
	return loop;
}

static void free_watches(struct fd_watch **list)
{
	while (*list) {
		struct fd_watch *w = *list;
		*list = w->next;
		free(w);
	}
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	free_watches(&loop->watches);
	free_watches(&loop->unwatched);
	free(loop->heap);
	close(loop->epfd);
	free(loop);
}

static struct fd_watch *find_watch(struct loop *loop, int fd)
{
	for (struct fd_watch *w = loop->watches; w; w = w->next)
		if (w->fd == fd)
			return w;
	return NULL;
}

int loop_watch(struct loop *loop, int fd, unsigned events, loop_fd_fn fn, void *ctx)
{
	struct epoll_event ev = { 0 };
	if (events & LOOP_READ)
		ev.events |= EPOLLIN;
	if (events & LOOP_WRITE)
		ev.events |= EPOLLOUT;
	struct fd_watch *w = find_watch(loop, fd);
	if (w) {
		w->fn = fn;
		w->ctx = ctx;
		ev.data.ptr = w;
		return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->fd = fd;
	w->fn = fn;
	w->ctx = ctx;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(w);
		return -1;
	}
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

int loop_unwatch(struct loop *loop, int fd)
{
	for (struct fd_watch **p = &loop->watches; *p; p = &(*p)->next) {
		if ((*p)->fd == fd) {
			struct fd_watch *w = *p;
			*p = w->next;
			/* Events of the current batch may still name w: keep it, marked dead, until the
			 * batch is done, so its address cannot be reused by a new watch meanwhile. */
			w->fn = NULL;
			w->next = loop->unwatched;
			loop->unwatched = w;
			epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
			return 0;
		}
	}
	errno = ENOENT;
	return -1;
}

void loop_timer_init(struct loop_timer *t, loop_timer_fn fn, void *ctx)
{
	t->deadline_ns = 0;
	t->fn = fn;
	t->ctx = ctx;
	t->heap_index = -1;
}

bool loop_timer_armed(const struct loop_timer *t) { return t->heap_index >= 0; }

static void heap_swap(struct loop *loop, size_t a, size_t b)
{
	struct loop_timer *t = loop->heap[a];
	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_index = (int)a;
	loop->heap[b]->heap_index = (int)b;
}

static void heap_up(struct loop *loop, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (loop->heap[parent]->deadline_ns <= loop->heap[i]->deadline_ns)
			break;
		heap_swap(loop, i, parent);
		i = parent;
	}
}

static void heap_down(struct loop *loop, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < loop->heap_len && loop->heap[l]->deadline_ns < loop->heap[m]->deadline_ns)
			m = l;
		if (r < loop->heap_len && loop->heap[r]->deadline_ns < loop->heap[m]->deadline_ns)
			m = r;
		if (m == i)
			break;
		heap_swap(loop, i, m);
		i = m;
	}
}

void loop_timer_cancel(struct loop *loop, struct loop_timer *t)
{
	if (t->heap_index < 0)
		return;
	size_t i = (size_t)t->heap_index;
	size_t last = loop->heap_len - 1;
	if (i != last)
		heap_swap(loop, i, last);
	loop->heap_len--;
	t->heap_index = -1;
	if (i < loop->heap_len) {
		heap_up(loop, i);
		heap_down(loop, i);
	}
}

void loop_timer_arm_at(struct loop *loop, struct loop_timer *t, uint64_t deadline_ns)
{
	loop_timer_cancel(loop, t);
	if (loop->heap_len == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		struct loop_timer **h = realloc(loop->heap, cap * sizeof(*h));
		if (!h)
			abort(); /* a lost timer would silently break the protocol */
		loop->heap = h;
		loop->heap_cap = cap;
	}
	t->deadline_ns = deadline_ns;
	t->heap_index = (int)loop->heap_len;
	loop->heap[loop->heap_len++] = t;
	heap_up(loop, (size_t)t->heap_index);
}

void loop_timer_arm_in(struct loop *loop, struct loop_timer *t, uint64_t delay_ns)
{
	loop_timer_arm_at(loop, t, loop_now_ns() + delay_ns);
}

static void run_expired_timers(struct loop *loop)
{
	uint64_t now = loop_now_ns();
	while (loop->heap_len && loop->heap[0]->deadline_ns <= now) {
		struct loop_timer *t = loop->heap[0];
		loop_timer_cancel(loop, t);
		t->fn(t->ctx);
	}
}

static int next_timeout_ms(struct loop *loop, int cap_ms)
{
	if (!loop->heap_len)
		return cap_ms;
	uint64_t now = loop_now_ns(), d = loop->heap[0]->deadline_ns;
	int ms = d <= now ? 0 : (int)((d - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
	return (cap_ms >= 0 && cap_ms < ms) ? cap_ms : ms;
}

int loop_run_once(struct loop *loop, int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(loop->epfd, evs, 64, next_timeout_ms(loop, timeout_ms));
	if (n < 0 && errno != EINTR)
		return -1;
	for (int i = 0; i < n; i++) {
		struct fd_watch *w = evs[i].data.ptr;
		if (!w->fn)
			continue; /* unwatched by a callback earlier in this batch */
		unsigned events = 0;
		if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
			events |= LOOP_READ;
		if (evs[i].events & EPOLLOUT)
			events |= LOOP_WRITE;
		w->fn(w->ctx, w->fd, events);
	}
	free_watches(&loop->unwatched);
	run_expired_timers(loop);
	return 0;
}

int loop_run(struct loop *loop)
{
	loop->stopping = false;
	while (!loop->stopping)
		if (loop_run_once(loop, -1) < 0)
			return -1;
	return 0;
}

void loop_stop(struct loop *loop) { loop->stopping = true; }
