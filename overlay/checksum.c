#include "overlay/checksum.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

static uint32_t load32(const uint8_t *p)
{
	uint32_t w;
	memcpy(&w, p, sizeof(w));
	return w;
}

/* 32-bit words into four 64-bit accumulators: no carry is lost before 2^32 words, and the four
 * independent additions keep the loads flowing. */
uint64_t checksum_add(uint64_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t a = 0, b = 0, c = 0, d = 0;
	while (len >= 32) {
		a += load32(p) + (uint64_t)load32(p + 16);
		b += load32(p + 4) + (uint64_t)load32(p + 20);
		c += load32(p + 8) + (uint64_t)load32(p + 24);
		d += load32(p + 12) + (uint64_t)load32(p + 28);
		p += 32;
		len -= 32;
	}
	while (len >= 4) {
		a += load32(p);
		p += 4;
		len -= 4;
	}
	uint32_t tail = 0;
	memcpy(&tail, p, len); /* the last bytes, zero-padded: whole 16-bit words stay in place */
	a += tail;
	/* The four sums are below 2^62 each; their total, and sum, fold with end-around carries. */
	uint64_t total = a + b + c + d;
	uint64_t folded = total + sum;
	return folded + (folded < sum);
}

uint64_t checksum_copy(uint64_t sum, void *dst, const void *src, size_t len)
{
	uint8_t *d = dst;
	const uint8_t *p = src;
	uint64_t a = 0, b = 0, c = 0, e = 0;
	while (len >= 32) {
		memcpy(d, p, 32);
		a += load32(p) + (uint64_t)load32(p + 16);
		b += load32(p + 4) + (uint64_t)load32(p + 20);
		c += load32(p + 8) + (uint64_t)load32(p + 24);
		e += load32(p + 12) + (uint64_t)load32(p + 28);
		p += 32;
		d += 32;
		len -= 32;
	}
	memcpy(d, p, len);
	uint64_t total = a + b + c + e, folded = total + sum;
	return checksum_add(folded + (folded < sum), p, len);
}

uint64_t checksum_pseudo_header(int family, const uint8_t *src, const uint8_t *dst, uint8_t protocol,
				uint32_t length)
{
	size_t alen = family == AF_INET ? 4 : 16;
	uint64_t sum = checksum_add(0, src, alen);
	sum = checksum_add(sum, dst, alen);
	uint32_t tail[2] = { htonl(length), htonl(protocol) };
	return checksum_add(sum, tail, sizeof(tail));
}

uint16_t checksum_fold(uint64_t sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}
