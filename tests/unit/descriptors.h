/*
 * Running out of file descriptors on purpose: take every descriptor but one under a low
 * RLIMIT_NOFILE (the one left is for the test's own client), then give them all back.
 */
#ifndef TNGWG_TESTS_DESCRIPTORS_H
#define TNGWG_TESTS_DESCRIPTORS_H

#include <errno.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <unistd.h>

#define DESCRIPTORS_LIMIT 256

struct descriptor_hog {
	struct rlimit old;
	int fds[DESCRIPTORS_LIMIT];
	int count;
};

/* False when the limit could not be lowered or descriptors did not run out. */
static bool descriptors_take_all_but_one(struct descriptor_hog *h)
{
	struct rlimit low;
	h->count = 0;
	if (getrlimit(RLIMIT_NOFILE, &h->old) != 0)
		return false;
	low = h->old;
	low.rlim_cur = DESCRIPTORS_LIMIT;
	if (setrlimit(RLIMIT_NOFILE, &low) != 0)
		return false;
	int fd;
	while (h->count < DESCRIPTORS_LIMIT && (fd = dup(0)) >= 0)
		h->fds[h->count++] = fd;
	bool exhausted = h->count > 1 && errno == EMFILE;
	if (h->count)
		close(h->fds[--h->count]);
	return exhausted;
}

static bool descriptors_give_back(struct descriptor_hog *h)
{
	while (h->count)
		close(h->fds[--h->count]);
	return setrlimit(RLIMIT_NOFILE, &h->old) == 0;
}

#endif
