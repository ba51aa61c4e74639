#include "handshake/frame.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

void frame_reader_init(struct frame_reader *r, size_t max)
{
	memset(r, 0, sizeof(*r));
	r->max = max;
}

void frame_reader_free(struct frame_reader *r)
{
	if (r->payload) {
		sodium_memzero(r->payload, r->payload_cap);
		free(r->payload);
	}
	memset(r, 0, sizeof(*r));
}

static enum frame_status start_payload(struct frame_reader *r)
{
	uint32_t len = (uint32_t)r->header[0] << 24 | (uint32_t)r->header[1] << 16 |
		       (uint32_t)r->header[2] << 8 | r->header[3];

	if (len == 0)
		return FRAME_EMPTY;
	if (len > r->max)
		return FRAME_TOO_LARGE;
	if (len > r->payload_cap) {
		uint8_t *p = malloc(len);
		if (!p)
			return FRAME_NO_MEMORY;
		if (r->payload) {
			sodium_memzero(r->payload, r->payload_cap);
			free(r->payload);
		}
		r->payload = p;
		r->payload_cap = len;
	}
	r->expected = len;
	r->payload_len = 0;
	return FRAME_NEED_MORE;
}

enum frame_status frame_reader_push(struct frame_reader *r, const uint8_t *data, size_t len,
				    size_t *consumed)
{
	size_t used = 0;

	if (r->header_len == FRAME_HEADER_LEN && r->payload_len == r->expected)
		r->header_len = 0; /* the previous frame was handed out */
	while (used < len && r->header_len < FRAME_HEADER_LEN) {
		r->header[r->header_len++] = data[used++];
		if (r->header_len == FRAME_HEADER_LEN) {
			enum frame_status st = start_payload(r);
			if (st != FRAME_NEED_MORE) {
				*consumed = used;
				return st;
			}
		}
	}
	if (r->header_len == FRAME_HEADER_LEN) {
		size_t n = r->expected - r->payload_len;
		if (n > len - used)
			n = len - used;
		memcpy(r->payload + r->payload_len, data + used, n);
		r->payload_len += n;
		used += n;
	}
	*consumed = used;
	return r->header_len == FRAME_HEADER_LEN && r->payload_len == r->expected ? FRAME_COMPLETE
										   : FRAME_NEED_MORE;
}

void frame_put_header(uint8_t out[FRAME_HEADER_LEN], uint32_t payload_len)
{
	out[0] = (uint8_t)(payload_len >> 24);
	out[1] = (uint8_t)(payload_len >> 16);
	out[2] = (uint8_t)(payload_len >> 8);
	out[3] = (uint8_t)payload_len;
}
