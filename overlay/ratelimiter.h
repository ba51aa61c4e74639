/* Per-source token bucket for handshake messages under load (20/s, burst 5; IPv6 per /64). */
#ifndef TNGWG_OVERLAY_RATELIMITER_H
#define TNGWG_OVERLAY_RATELIMITER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct ratelimiter;

struct ratelimiter *ratelimiter_new(void);
void ratelimiter_free(struct ratelimiter *rl);
bool ratelimiter_allow(struct ratelimiter *rl, const struct sockaddr *src, uint64_t now_ns);
/* Forget sources idle for more than a second; call periodically. */
void ratelimiter_gc(struct ratelimiter *rl, uint64_t now_ns);

#endif
