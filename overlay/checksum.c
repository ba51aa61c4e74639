#include "overlay/checksum.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

/* 64-bit words into a 128-bit accumulator (add with carry), folded back to 64 bits at the end:
 * twice the bytes per instruction of 32-bit words, and no carry lost. */
uint64_t checksum_add(uint64_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	unsigned __int128 acc = sum;
	while (len >= 32) {
		uint64_t w[4];
		memcpy(w, p, sizeof(w));
		acc += w[0];
		acc += w[1];
		acc += w[2];
		acc += w[3];
		p += 32;
		len -= 32;
	}
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, sizeof(w));
		acc += w;
		p += 8;
		len -= 8;
	}
	uint64_t tail = 0;
	memcpy(&tail, p, len); /* the last bytes, zero-padded: whole 16-bit words stay in place */
	acc += tail;
	uint64_t folded = (uint64_t)acc + (uint64_t)(acc >> 64);
	return folded + (folded < (uint64_t)acc); /* the end-around carry of that addition */
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
