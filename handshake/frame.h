/*
 * Stream framing of the attested handshake: u32 big-endian length || payload, length 1..max.
 * The reader reassembles frames from reads of any size.
 */
#ifndef TNGWG_HANDSHAKE_FRAME_H
#define TNGWG_HANDSHAKE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_LEN 4

struct frame_reader {
	size_t max;      /* largest payload accepted */
	uint8_t header[FRAME_HEADER_LEN];
	size_t header_len;
	uint8_t *payload; /* allocated to the largest frame seen */
	size_t payload_cap, payload_len, expected;
};

enum frame_status {
	FRAME_NEED_MORE,  /* every byte was consumed; no complete frame yet */
	FRAME_COMPLETE,   /* a frame is in payload/payload_len until the next push */
	FRAME_TOO_LARGE,  /* the announced length exceeds max */
	FRAME_EMPTY,      /* the announced length is zero */
	FRAME_NO_MEMORY,
};

void frame_reader_init(struct frame_reader *r, size_t max);
/* Wipes and frees the payload buffer. */
void frame_reader_free(struct frame_reader *r);
/* Consumes bytes from data up to the end of one frame; *consumed says how many. */
enum frame_status frame_reader_push(struct frame_reader *r, const uint8_t *data, size_t len,
				    size_t *consumed);

void frame_put_header(uint8_t out[FRAME_HEADER_LEN], uint32_t payload_len);

#endif
