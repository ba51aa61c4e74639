/*
 * What the harnesses share: a cursor that takes typed pieces off the fuzzer's input (running out
 * yields zeros and empty pieces, so every input is usable), and a private network namespace so
 * that a harness binding ports or sending datagrams touches nothing outside itself.
 */
#ifndef TNGWG_FUZZ_FUZZ_H
#define TNGWG_FUZZ_FUZZ_H

#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"

#include <sodium.h>

struct fuzz_input {
	const uint8_t *p;
	size_t len;
};

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
	if (!in->len)
		return 0;
	in->len--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t hi = fuzz_u8(in);
	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t hi = fuzz_u16(in);
	return hi << 16 | fuzz_u16(in);
}

/* Up to n bytes (fewer at the end of the input); *got says how many. */
static inline const uint8_t *fuzz_bytes(struct fuzz_input *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;
	*got = n < in->len ? n : in->len;
	in->p += *got;
	in->len -= *got;
	return p;
}

/* A piece whose length is the next 16-bit word, capped by what is left. */
static inline const uint8_t *fuzz_piece(struct fuzz_input *in, size_t *got)
{
	return fuzz_bytes(in, fuzz_u16(in), got);
}

/* Copies the bytes into dst and fills the rest with zeros. */
static inline void fuzz_fill(struct fuzz_input *in, void *dst, size_t n)
{
	size_t got;
	const uint8_t *p = fuzz_bytes(in, n, &got);
	memcpy(dst, p, got);
	memset((uint8_t *)dst + got, 0, n - got);
}

/* A private network namespace with loopback up (a user namespace too when the process is not
 * privileged), so that what a harness binds or sends stays inside it. False when neither works. */
static inline bool fuzz_private_network(void)
{
	if (unshare(CLONE_NEWNET) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0)
		return false;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { .ifr_name = "lo" };
	bool up = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
	if (up) {
		ifr.ifr_flags |= IFF_UP;
		up = ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
	}
	if (s >= 0)
		close(s);
	return up;
}

/* A broken promise of the code under test: say which, and crash so libFuzzer keeps the input. */
static inline void fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz: %s\n", why);
	abort();
}

/* Harness logs would drown the fuzzer's own; TNGWG_LOG still overrides. */
static inline void fuzz_quiet_logs(void)
{
	log_set_level(LOG_ERROR);
	if (getenv("TNGWG_LOG"))
		log_init_from_env();
}

/* libsodium's randomness made a function of the input (reset before each one), so an input
 * replays the same ephemeral keys, nonces and cookie secrets: a crash reproduces from its file. */
static uint64_t fuzz_random_state;

static inline void fuzz_random_reset(void)
{
	fuzz_random_state = 0x74676e2d77672d31ULL;
}

static inline uint64_t fuzz_random_next(void)
{
	uint64_t z = (fuzz_random_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint32_t fuzz_random_u32(void)
{
	return (uint32_t)fuzz_random_next();
}

static inline void fuzz_random_buf(void *buf, size_t n)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(fuzz_random_next() >> 24);
}

static inline const char *fuzz_random_name(void)
{
	return "tng-wg fuzz";
}

/* Before anything calls sodium_init. */
static inline void fuzz_deterministic_random(void)
{
	static struct randombytes_implementation impl = {
		.implementation_name = fuzz_random_name,
		.random = fuzz_random_u32,
		.buf = fuzz_random_buf,
	};
	fuzz_random_reset();
	if (randombytes_set_implementation(&impl) != 0 || sodium_init() < 0)
		abort();
}

#endif
