#include "overlay/checksum.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

/* 32-bit words into a 64-bit accumulator: no carry is lost before 2^32 words. */
uint64_t checksum_add(uint64_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len >= 32) {
		uint32_t w[8];
		memcpy(w, p, sizeof(w));
		sum += (uint64_t)w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7];
		p += 32;
		len -= 32;
	}
	while (len >= 4) {
		uint32_t w;
		memcpy(&w, p, sizeof(w));
		sum += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, p, sizeof(w));
		sum += w;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* The byte is the first of a 16-bit word in memory order. */
		uint8_t last[2] = { *p, 0 };
		uint16_t w;
		memcpy(&w, last, sizeof(w));
		sum += w;
	}
	return sum;
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
