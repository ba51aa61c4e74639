/* Per-source token bucket for handshake messages under load (20/s, burst 5; IPv6 per /64). */
#ifndef TNGWG_OVERLAY_RATELIMITER_H
#define TNGWG_OVERLAY_RATELIMITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* At most this many sources are tracked; beyond it new sources are refused until idle ones
 * (more than a second) can be forgotten. */
#define RATELIMITER_MAX_SOURCES 32768

struct ratelimiter;

/* NULL when out of memory. */
struct ratelimiter *ratelimiter_new(void);
void ratelimiter_free(struct ratelimiter *rl);
bool ratelimiter_allow(struct ratelimiter *rl, const struct sockaddr *src, uint64_t now_ns);
/* Forget sources idle for more than a second; call periodically. */
void ratelimiter_gc(struct ratelimiter *rl, uint64_t now_ns);

#endif
