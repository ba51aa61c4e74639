/*
 * Crypto worker threads. The data path hands a whole batch to workers_run, which splits it into
 * chunks that the calling thread and the workers claim in turn, and returns when every chunk is
 * done: a batch costs one wake-up, never a lock or a system call per packet. Since the caller
 * waits, whatever the batch points at (keys, peers, buffers) stays as it was until the return, and
 * the order of results is the order of the items. Workers start on the first batch worth
 * sharing and only ever run the job's function; everything else stays on the calling thread.
 */
#ifndef TNGWG_OVERLAY_WORKERS_H
#define TNGWG_OVERLAY_WORKERS_H

struct workers;

/* threads: worker threads besides the caller's; 0 runs every batch inline. */
struct workers *workers_new(unsigned threads);
/* One worker per online CPU besides the caller's, at most 7. */
unsigned workers_default_threads(void);
void workers_free(struct workers *w);

/* Items [first, end) of the job. */
typedef void (*workers_fn)(void *ctx, unsigned first, unsigned end);
/* Run fn over items 0 .. count - 1; inline when count is below min_shared. */
void workers_run(struct workers *w, workers_fn fn, void *ctx, unsigned count, unsigned min_shared);

#endif
