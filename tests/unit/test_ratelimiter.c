/* The per-source handshake rate limiter, driven with simulated time. */
#include "overlay/ratelimiter.h"
#include "tests/unit/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#define SEC 1000000000ULL
#define MSEC 1000000ULL
#define T0 (100 * SEC)

static struct sockaddr_storage addr(const char *text, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
	}
	return ss;
}

static bool allow(struct ratelimiter *rl, const char *text, uint64_t now)
{
	struct sockaddr_storage ss = addr(text, 51820);
	return ratelimiter_allow(rl, (struct sockaddr *)&ss, now);
}

/* How many of n packets at the same instant pass. */
static int allowed_of(struct ratelimiter *rl, const char *text, int n, uint64_t now)
{
	int passed = 0;
	for (int i = 0; i < n; i++)
		passed += allow(rl, text, now);
	return passed;
}

TEST(burst_of_five_then_refused)
{
	struct ratelimiter *rl = ratelimiter_new();
	CHECK(rl != NULL);
	for (int i = 0; i < 5; i++)
		CHECK(allow(rl, "10.0.0.1", T0));
	CHECK(!allow(rl, "10.0.0.1", T0));
	CHECK(!allow(rl, "10.0.0.1", T0 + 10 * MSEC));
	ratelimiter_free(rl);
}

TEST(refills_at_twenty_per_second)
{
	struct ratelimiter *rl = ratelimiter_new();
	CHECK(allowed_of(rl, "10.0.0.1", 10, T0) == 5);
	/* One packet's worth every 50 ms. */
	CHECK(!allow(rl, "10.0.0.1", T0 + 49 * MSEC));
	CHECK(allow(rl, "10.0.0.1", T0 + 50 * MSEC));
	CHECK(!allow(rl, "10.0.0.1", T0 + 50 * MSEC));
	/* A steady 20/s passes indefinitely. */
	int passed = 0;
	for (int i = 1; i <= 100; i++)
		passed += allow(rl, "10.0.0.1", T0 + 50 * MSEC + (uint64_t)i * 50 * MSEC);
	CHECK(passed == 100);
	/* A long pause refills to the burst, not beyond. */
	CHECK(allowed_of(rl, "10.0.0.1", 10, T0 + 60 * SEC) == 5);
	ratelimiter_free(rl);
}

TEST(sources_are_independent)
{
	struct ratelimiter *rl = ratelimiter_new();
	CHECK(allowed_of(rl, "10.0.0.1", 6, T0) == 5);
	CHECK(allowed_of(rl, "10.0.0.2", 6, T0) == 5);
	CHECK(allowed_of(rl, "fd00::1", 6, T0) == 5);
	CHECK(!allow(rl, "10.0.0.1", T0));
	ratelimiter_free(rl);
}

TEST(ipv6_is_limited_per_64)
{
	struct ratelimiter *rl = ratelimiter_new();
	CHECK(allowed_of(rl, "fd00:1:2:3::1", 3, T0) == 3);
	CHECK(allowed_of(rl, "fd00:1:2:3:ffff:eeee:dddd:cccc", 3, T0) == 2);
	CHECK(allowed_of(rl, "fd00:1:2:4::1", 5, T0) == 5);
	ratelimiter_free(rl);
}

TEST(ipv4_mapped_counts_as_ipv4)
{
	struct ratelimiter *rl = ratelimiter_new();
	CHECK(allowed_of(rl, "192.0.2.1", 3, T0) == 3);
	CHECK(allowed_of(rl, "::ffff:192.0.2.1", 3, T0) == 2);
	/* Different IPv4 addresses stay apart although they share the mapped /64. */
	CHECK(allowed_of(rl, "::ffff:192.0.2.2", 5, T0) == 5);
	ratelimiter_free(rl);
}

TEST(ports_do_not_matter_and_unknown_families_are_refused)
{
	struct ratelimiter *rl = ratelimiter_new();
	for (uint16_t port = 1; port <= 5; port++) {
		struct sockaddr_storage ss = addr("10.1.1.1", port);
		CHECK(ratelimiter_allow(rl, (struct sockaddr *)&ss, T0));
	}
	struct sockaddr_storage ss = addr("10.1.1.1", 6);
	CHECK(!ratelimiter_allow(rl, (struct sockaddr *)&ss, T0));
	struct sockaddr unix_src = { .sa_family = AF_UNIX };
	CHECK(!ratelimiter_allow(rl, &unix_src, T0));
	ratelimiter_free(rl);
}

/* Source number i as an IPv4 address in 10.0.0.0/8. */
static bool allow_nth(struct ratelimiter *rl, uint32_t i, uint64_t now)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(1) };
	in.sin_addr.s_addr = htonl(0x0a000000u + i);
	return ratelimiter_allow(rl, (struct sockaddr *)&in, now);
}

TEST(table_is_bounded_and_idle_sources_are_forgotten)
{
	struct ratelimiter *rl = ratelimiter_new();
	int passed = 0;
	for (uint32_t i = 0; i < RATELIMITER_MAX_SOURCES; i++)
		passed += allow_nth(rl, i, T0);
	CHECK(passed == RATELIMITER_MAX_SOURCES);
	/* Full: a new source is refused, a known one still has its tokens. */
	CHECK(!allow_nth(rl, RATELIMITER_MAX_SOURCES, T0 + 500 * MSEC));
	CHECK(allow_nth(rl, 7, T0 + 500 * MSEC));
	/* Once the others have been idle for over a second (and a second after the sweep the
	 * refusal above made), new sources get in again. */
	CHECK(allow_nth(rl, RATELIMITER_MAX_SOURCES, T0 + 1600 * MSEC));
	CHECK(allow_nth(rl, RATELIMITER_MAX_SOURCES + 1, T0 + 1600 * MSEC));

	ratelimiter_free(rl);
}

TEST(periodic_gc_frees_room_and_full_table_sweeps_at_most_once_a_second)
{
	struct ratelimiter *rl = ratelimiter_new();
	for (uint32_t i = 0; i < RATELIMITER_MAX_SOURCES; i++)
		allow_nth(rl, i, T0);
	ratelimiter_gc(rl, T0 + 500 * MSEC); /* nothing idle yet */
	CHECK(!allow_nth(rl, RATELIMITER_MAX_SOURCES, T0 + 500 * MSEC));
	/* Idle now, but the last sweep was under a second ago: still refused... */
	CHECK(!allow_nth(rl, RATELIMITER_MAX_SOURCES, T0 + 1200 * MSEC));
	/* ...until the periodic gc forgets them. */
	ratelimiter_gc(rl, T0 + 1200 * MSEC);
	CHECK(allow_nth(rl, RATELIMITER_MAX_SOURCES, T0 + 1200 * MSEC));
	ratelimiter_free(rl);
}

int main(void)
{
	TEST_BEGIN("ratelimiter");
	RUN(burst_of_five_then_refused);
	RUN(refills_at_twenty_per_second);
	RUN(sources_are_independent);
	RUN(ipv6_is_limited_per_64);
	RUN(ipv4_mapped_counts_as_ipv4);
	RUN(ports_do_not_matter_and_unknown_families_are_refused);
	RUN(table_is_bounded_and_idle_sources_are_forgotten);
	RUN(periodic_gc_frees_room_and_full_table_sweeps_at_most_once_a_second);
	TEST_END();
}
