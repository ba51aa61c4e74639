/*
 * A ttrpc client (containerd/ttrpc wire protocol) for unary calls over a unix socket, on the
 * daemon's loop: 10-byte big-endian frame headers, 4 MiB frame limit, odd stream ids from 1,
 * several calls in flight matched by stream id, a deadline per call, reconnect on next use after
 * the server went away. Also the frame encoders/decoders on their own, for tests.
 */
#ifndef TNGWG_ATTEST_TTRPC_H
#define TNGWG_ATTEST_TTRPC_H

#include <stddef.h>
#include <stdint.h>

struct loop;

#define TTRPC_HEADER_LEN 10
#define TTRPC_MAX_DATA_LEN (4u << 20)

enum ttrpc_frame_type { TTRPC_TYPE_REQUEST = 1, TTRPC_TYPE_RESPONSE = 2, TTRPC_TYPE_DATA = 3 };

struct ttrpc_header {
	uint32_t length; /* of the data after the header */
	uint32_t stream_id;
	uint8_t type;
	uint8_t flags;
};

void ttrpc_header_encode(const struct ttrpc_header *h, uint8_t out[TTRPC_HEADER_LEN]);
/* 0, or -1 when the announced length exceeds TTRPC_MAX_DATA_LEN. */
int ttrpc_header_decode(const uint8_t in[TTRPC_HEADER_LEN], struct ttrpc_header *h);

/* A whole request frame (header + ttrpc.Request), malloc'd; timeout_nano 0 = none.
 * NULL when it would exceed the frame limit or memory runs out. */
uint8_t *ttrpc_request_frame(uint32_t stream_id, const char *service, const char *method,
			     const uint8_t *payload, size_t payload_len, int64_t timeout_nano,
			     size_t *frame_len);

/* A decoded ttrpc.Response: code is the gRPC status code (0 = OK, also when status is absent). */
struct ttrpc_reply {
	int code;
	char *message;    /* status message, "" when none */
	uint8_t *payload; /* the method's response message */
	size_t payload_len;
};
/* 0, or -1 when data is not a valid Response. Free with ttrpc_reply_clear. */
int ttrpc_reply_decode(const uint8_t *data, size_t len, struct ttrpc_reply *out);
void ttrpc_reply_clear(struct ttrpc_reply *r);
/* "INTERNAL", "UNIMPLEMENTED", ...; "UNKNOWN_CODE" outside the gRPC range. */
const char *ttrpc_code_name(int code);

/* ---- client ---- */

struct ttrpc_client;
struct ttrpc_call;

struct ttrpc_client *ttrpc_client_new(struct loop *loop, const char *socket_path);
/* Calls still pending are dropped without their callbacks. */
void ttrpc_client_free(struct ttrpc_client *c);
/* Increases with every new connection; 0 before the first. */
uint64_t ttrpc_client_connection_id(const struct ttrpc_client *c);

struct ttrpc_client_stats {
	uint64_t frames_dropped;  /* well-framed but unexpected: unknown stream, not a response */
	uint64_t protocol_errors; /* broken framing or an undecodable response */
};
struct ttrpc_client_stats ttrpc_client_stats(const struct ttrpc_client *c);

struct ttrpc_outcome {
	int error;                      /* 0: the server answered (see reply); else negative errno */
	const char *message;            /* on error: what went wrong, e.g. "timed out after 5 s" */
	const struct ttrpc_reply *reply; /* when error == 0 */
	uint64_t connection_id;         /* the connection the call went out on */
};
typedef void (*ttrpc_done_fn)(void *ctx, const struct ttrpc_outcome *o);

/* Start a unary call that must finish by deadline_ns (loop_now_ns clock). done runs exactly once,
 * from the loop and never inside this function, unless the call is cancelled first.
 * NULL only when memory runs out. */
struct ttrpc_call *ttrpc_client_call(struct ttrpc_client *c, const char *service, const char *method,
				     const uint8_t *payload, size_t payload_len, uint64_t deadline_ns,
				     ttrpc_done_fn done, void *ctx);
void ttrpc_call_cancel(struct ttrpc_call *call);

#endif
