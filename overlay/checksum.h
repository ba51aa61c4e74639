/*
 * The Internet checksum (RFC 1071) as the offload code needs it: sums that can be carried along
 * and combined, the IPv4/IPv6 pseudo-header, and folding. Sums are in memory byte order, so a
 * folded result is stored with memcpy, never byte-swapped.
 */
#ifndef TNGWG_OVERLAY_CHECKSUM_H
#define TNGWG_OVERLAY_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* sum plus the 16-bit words of data (an odd last byte padded with zero). */
uint64_t checksum_add(uint64_t sum, const void *data, size_t len);
/* The same over len bytes copied from src to dst in the same pass. */
uint64_t checksum_copy(uint64_t sum, void *dst, const void *src, size_t len);
/* The pseudo-header of a TCP or UDP packet: family AF_INET (4-byte addresses) or AF_INET6. */
uint64_t checksum_pseudo_header(int family, const uint8_t *src, const uint8_t *dst, uint8_t protocol,
				uint32_t length);
/* The 16-bit ones'-complement sum; a checksum field gets its complement. */
uint16_t checksum_fold(uint64_t sum);

#endif
