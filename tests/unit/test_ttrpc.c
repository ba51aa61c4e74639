/*
 * ttrpc framing and the AA client. The vectors are the frames of vectors/ttrpc/client_to_server.bin
 * and server_to_client.bin (a Go ttrpc 1.1.1 client and server, see that directory's README),
 * with the expected outcomes of its calls.json.
 */
#include "attest/aa_client.h"
#include "attest/ttrpc.h"
#include "common/loop.h"
#include "tests/unit/test.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const request_frames[] = {
	"0000006c0000000101000a296174746573746174696f6e5f6167656e742e4174746573746174696f6e4167656e74"
	"53657276696365120b47657445766964656e63651a320a3074f71bae678165b54fe415898046449fe3f14348ab31"
	"8f9d6c6b9003f9490755b1da0d0ee5ad96f86def59e57f227029",
	"000000370000000301000a296174746573746174696f6e5f6167656e742e4174746573746174696f6e4167656e74"
	"53657276696365120a47657454656554797065",
	"000000400000000501000a296174746573746174696f6e5f6167656e742e4174746573746174696f6e4167656e74"
	"536572766963651208476574546f6b656e1a090a07636f636f5f6173",
	"000000540000000701000a296174746573746174696f6e5f6167656e742e4174746573746174696f6e4167656e74"
	"536572766963651218457874656e6452756e74696d654d6561737572656d656e741a0d0a047465737412026f701a"
	"0163",
	"000000390000000901000a296174746573746174696f6e5f6167656e742e4174746573746174696f6e4167656e74"
	"53657276696365120c4e6f537563684d6574686f64",
	"000000460000000b01000a296174746573746174696f6e5f6167656e742e4174746573746174696f6e4167656e74"
	"53657276696365120b47657445766964656e63651a050a0361626320afb0eda1ba01",
};

static const char *const response_frames[] = {
	"00000060000000010200125e0a5c7b2273766e223a2231222c227265706f72745f64617461223a2264506362726d"
	"65425a6256503542574a67455a456e2b5078513069724d592b6462477551412f6c4a423157783267304f35613257"
	"2b4733765765562f496e4170227d",
	"0000000a00000003020012080a0673616d706c65",
	"000000370000000502000a35080d12315b4552524f523a6174746573746174696f6e2d6167656e745d2041412d4b"
	"42432067657420746f6b656e206661696c6564",
	"0000000400000007020012020802",
	"000000190000000902000a17080c12136d6574686f64204e6f537563684d6574686f64",
	"000000240000000b020012220a207b2273766e223a2231222c227265706f72745f64617461223a2259574a6a227d",
};

/* sha384('{"nonce":"test-nonce"}') */
static const char *const nonce_digest_hex =
	"74f71bae678165b54fe415898046449fe3f14348ab318f9d6c6b9003f9490755b1da0d0ee5ad96f86def59e57f227029";

static uint8_t *unhex_alloc(const char *hex, size_t *len)
{
	*len = strlen(hex) / 2;
	uint8_t *out = malloc(*len + 1);
	if (test_unhex(hex, out, *len) < 0) {
		free(out);
		return NULL;
	}
	return out;
}

static int frame_matches(uint8_t *frame, size_t len, const char *expected_hex)
{
	size_t elen;
	uint8_t *expected = unhex_alloc(expected_hex, &elen);
	int ok = frame && expected && len == elen && !memcmp(frame, expected, len);
	free(expected);
	free(frame);
	return ok;
}

TEST(encodes_vector_requests)
{
	uint8_t digest[48];
	CHECK(test_unhex(nonce_digest_hex, digest, 48) == 0);
	size_t plen, flen;
	uint8_t *p = aa_encode_runtime_data(digest, 48, &plen);
	uint8_t *f = ttrpc_request_frame(1, AA_SERVICE, "GetEvidence", p, plen, 0, &flen);
	CHECK(frame_matches(f, flen, request_frames[0]));
	free(p);

	f = ttrpc_request_frame(3, AA_SERVICE, "GetTeeType", NULL, 0, 0, &flen);
	CHECK(frame_matches(f, flen, request_frames[1]));

	/* GetToken and ExtendRuntimeMeasurement are not used by the client: payloads as captured. */
	uint8_t token_req[9], erm_req[13];
	CHECK(test_unhex("0a07636f636f5f6173", token_req, sizeof(token_req)) == 0);
	CHECK(test_unhex("0a047465737412026f701a0163", erm_req, sizeof(erm_req)) == 0);
	f = ttrpc_request_frame(5, AA_SERVICE, "GetToken", token_req, sizeof(token_req), 0, &flen);
	CHECK(frame_matches(f, flen, request_frames[2]));
	f = ttrpc_request_frame(7, AA_SERVICE, "ExtendRuntimeMeasurement", erm_req, sizeof(erm_req), 0, &flen);
	CHECK(frame_matches(f, flen, request_frames[3]));

	f = ttrpc_request_frame(9, AA_SERVICE, "NoSuchMethod", NULL, 0, 0, &flen);
	CHECK(frame_matches(f, flen, request_frames[4]));

	p = aa_encode_runtime_data((const uint8_t *)"abc", 3, &plen);
	f = ttrpc_request_frame(11, AA_SERVICE, "GetEvidence", p, plen, 49999992879LL, &flen);
	CHECK(frame_matches(f, flen, request_frames[5]));
	free(p);
}

/* Decode a whole response frame (header + Response) of the vectors. */
static int decode_frame(const char *hex, struct ttrpc_header *h, struct ttrpc_reply *r)
{
	size_t len;
	uint8_t *f = unhex_alloc(hex, &len);
	int rc = -1;
	if (f && len >= TTRPC_HEADER_LEN && ttrpc_header_decode(f, h) == 0 &&
	    h->length == len - TTRPC_HEADER_LEN)
		rc = ttrpc_reply_decode(f + TTRPC_HEADER_LEN, h->length, r);
	free(f);
	return rc;
}

static int evidence_is(const struct ttrpc_reply *r, const char *expected)
{
	uint8_t *ev;
	size_t len;
	if (aa_decode_evidence(r->payload, r->payload_len, &ev, &len) < 0)
		return 0;
	int ok = len == strlen(expected) && !memcmp(ev, expected, len);
	free(ev);
	return ok;
}

TEST(decodes_vector_responses)
{
	struct ttrpc_header h;
	struct ttrpc_reply r;
	const uint32_t streams[] = { 1, 3, 5, 7, 9, 11 };
	const int codes[] = { 0, 0, 13, 0, 12, 0 };
	for (int i = 0; i < 6; i++) {
		CHECK(decode_frame(response_frames[i], &h, &r) == 0);
		CHECK(h.stream_id == streams[i] && h.type == TTRPC_TYPE_RESPONSE && h.flags == 0);
		CHECK(r.code == codes[i]);
		if (i == 0)
			CHECK(evidence_is(&r, "{\"svn\":\"1\",\"report_data\":"
					      "\"dPcbrmeBZbVP5BWJgEZEn+PxQ0irMY+dbGuQA/lJB1Wx2g0O5a2W+G3vWeV/InAp\"}"));
		if (i == 1) {
			char *tee = NULL;
			CHECK(aa_decode_tee_type(r.payload, r.payload_len, &tee) == 0 && tee && !strcmp(tee, "sample"));
			free(tee);
		}
		if (i == 2)
			CHECK_STR(r.message, "[ERROR:attestation-agent] AA-KBC get token failed");
		if (i == 3)
			CHECK(r.payload_len == 2 && r.payload[0] == 0x08 && r.payload[1] == 0x02);
		if (i == 4)
			CHECK_STR(r.message, "method NoSuchMethod");
		if (i == 5)
			CHECK(evidence_is(&r, "{\"svn\":\"1\",\"report_data\":\"YWJj\"}"));
		ttrpc_reply_clear(&r);
	}
	CHECK_STR(ttrpc_code_name(13), "INTERNAL");
	CHECK_STR(ttrpc_code_name(12), "UNIMPLEMENTED");
}

TEST(empty_ok_status_is_success)
{
	/* What ttrpc-rust (the real AA) sends: status {code: OK} present but empty, then the payload. */
	uint8_t resp[] = { 0x0a, 0x00, 0x12, 0x08, 0x0a, 0x06, 's', 'a', 'm', 'p', 'l', 'e' };
	struct ttrpc_reply r;
	CHECK(ttrpc_reply_decode(resp, sizeof(resp), &r) == 0);
	CHECK(r.code == 0);
	char *tee = NULL;
	CHECK(aa_decode_tee_type(r.payload, r.payload_len, &tee) == 0 && tee && !strcmp(tee, "sample"));
	free(tee);
	ttrpc_reply_clear(&r);
}

TEST(oversize_length_rejected)
{
	struct ttrpc_header h = { .length = TTRPC_MAX_DATA_LEN, .stream_id = 1, .type = TTRPC_TYPE_RESPONSE };
	uint8_t b[TTRPC_HEADER_LEN];
	ttrpc_header_encode(&h, b);
	CHECK(ttrpc_header_decode(b, &h) == 0);
	h.length = TTRPC_MAX_DATA_LEN + 1;
	ttrpc_header_encode(&h, b);
	CHECK(ttrpc_header_decode(b, &h) == -1);
	CHECK(b[0] == 0x00 && b[1] == 0x40 && b[2] == 0x00 && b[3] == 0x01);
	/* A request that would not fit a frame is refused. */
	size_t flen;
	uint8_t *big = calloc(1, TTRPC_MAX_DATA_LEN);
	CHECK(ttrpc_request_frame(1, AA_SERVICE, "GetEvidence", big, TTRPC_MAX_DATA_LEN, 0, &flen) == NULL);
	free(big);
}

TEST(truncated_frames_rejected)
{
	size_t len;
	uint8_t *f = unhex_alloc(response_frames[0], &len);
	struct ttrpc_reply r;
	/* Every proper prefix of the Response message that cuts a field is malformed. */
	CHECK(ttrpc_reply_decode(f + TTRPC_HEADER_LEN, len - TTRPC_HEADER_LEN - 1, &r) == -1);
	CHECK(ttrpc_reply_decode(f + TTRPC_HEADER_LEN, 1, &r) == -1);
	CHECK(ttrpc_reply_decode(f + TTRPC_HEADER_LEN, 50, &r) == -1);
	/* The evidence message inside, cut short. */
	uint8_t *ev;
	size_t evlen;
	CHECK(aa_decode_evidence(f + TTRPC_HEADER_LEN + 2, 40, &ev, &evlen) == -1);
	free(f);
	/* Garbage: a field with wire type 7 does not exist. */
	uint8_t junk[] = { 0x0f, 0xff, 0xff };
	CHECK(ttrpc_reply_decode(junk, sizeof(junk), &r) == -1);
}

/* ---- the client on a loop, against a server played by the test ---- */

struct seen {
	int calls;
	int error;
	int code;
	char message[256];
	char evidence[256];
	uint64_t connection_id;
};

static void record_outcome(void *ctx, const struct ttrpc_outcome *o)
{
	struct seen *s = ctx;
	s->calls++;
	s->error = o->error;
	s->connection_id = o->connection_id;
	snprintf(s->message, sizeof(s->message), "%s", o->error ? o->message : o->reply->message);
	if (!o->error) {
		s->code = o->reply->code;
		uint8_t *ev;
		size_t len;
		if (aa_decode_evidence(o->reply->payload, o->reply->payload_len, &ev, &len) == 0) {
			snprintf(s->evidence, sizeof(s->evidence), "%.*s", (int)len, (char *)ev);
			free(ev);
		}
	}
}

static void run_until(struct loop *loop, const int *counter, int target)
{
	for (int i = 0; i < 500 && *counter < target; i++)
		loop_run_once(loop, 20);
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
		return -1;
	return fd;
}

static uint64_t last_timeout_nano; /* Request.timeout_nano of the last request read */

static uint64_t read_varint(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
	}
	return v;
}

/* Field 4 of a Request, 0 when absent. */
static uint64_t request_timeout(const uint8_t *p, const uint8_t *end)
{
	while (p < end) {
		uint64_t key = read_varint(&p, end);
		if ((key & 7) == 0) {
			uint64_t v = read_varint(&p, end);
			if (key >> 3 == 4)
				return v;
		} else if ((key & 7) == 2) {
			p += read_varint(&p, end);
		} else {
			return 0;
		}
	}
	return 0;
}

/* Read one request frame; returns its stream id, 0 on failure. With method, also the method
 * name (the Request's second field, after the service name). */
static uint32_t read_request_method(int fd, char method[64])
{
	uint8_t hdr[TTRPC_HEADER_LEN], body[4096];
	struct ttrpc_header h;
	if (recv(fd, hdr, sizeof(hdr), MSG_WAITALL) != sizeof(hdr) || ttrpc_header_decode(hdr, &h) < 0 ||
	    h.length > sizeof(body) || recv(fd, body, h.length, MSG_WAITALL) != (ssize_t)h.length ||
	    h.type != TTRPC_TYPE_REQUEST)
		return 0;
	last_timeout_nano = request_timeout(body, body + h.length);
	if (method) {
		size_t m = 2 + body[1]; /* 0a <len> service, then 12 <len> method */
		if (m + 2 > h.length || body[m] != 0x12 || body[m + 1] >= 64)
			return 0;
		snprintf(method, 64, "%.*s", body[m + 1], (char *)body + m + 2);
	}
	return h.stream_id;
}

static uint32_t read_request(int fd)
{
	return read_request_method(fd, NULL);
}

/* Send a response frame whose payload is a message with one string field 1: the shape of both
 * GetEvidenceResponse{Evidence} and GetTeeTypeResponse{tee}. Empty text sends an empty message. */
static void send_text(int fd, uint32_t stream_id, const char *text)
{
	size_t n = strlen(text);
	uint8_t frame[512] = { 0 };
	struct ttrpc_header h = { .length = n ? n + 4 : 2, .stream_id = stream_id, .type = TTRPC_TYPE_RESPONSE };
	ttrpc_header_encode(&h, frame);
	uint8_t *p = frame + TTRPC_HEADER_LEN;
	*p++ = 0x12; /* Response.payload */
	*p++ = n ? n + 2 : 0;
	if (n) {
		*p++ = 0x0a;
		*p++ = n;
		memcpy(p, text, n);
	}
	CHECK(send(fd, frame, TTRPC_HEADER_LEN + h.length, MSG_NOSIGNAL) == (ssize_t)(TTRPC_HEADER_LEN + h.length));
}

static void send_evidence(int fd, uint32_t stream_id, const char *evidence)
{
	send_text(fd, stream_id, evidence);
}

/* Send an error status: Response{status{code, message}}. */
static void send_status(int fd, uint32_t stream_id, int code, const char *message)
{
	size_t n = strlen(message);
	uint8_t frame[512];
	struct ttrpc_header h = { .length = n + 6, .stream_id = stream_id, .type = TTRPC_TYPE_RESPONSE };
	ttrpc_header_encode(&h, frame);
	uint8_t *p = frame + TTRPC_HEADER_LEN;
	*p++ = 0x0a; /* Response.status */
	*p++ = n + 4;
	*p++ = 0x08; /* code */
	*p++ = code;
	*p++ = 0x12; /* message */
	*p++ = n;
	memcpy(p, message, n);
	CHECK(send(fd, frame, TTRPC_HEADER_LEN + h.length, MSG_NOSIGNAL) == (ssize_t)(TTRPC_HEADER_LEN + h.length));
}

static char sock_path[108];

TEST(calls_in_flight_matched_by_stream_id)
{
	snprintf(sock_path, sizeof(sock_path), "/tmp/tngwg-ttrpc-%d.sock", (int)getpid());
	int lfd = listen_unix(sock_path);
	CHECK(lfd >= 0);
	struct loop *loop = loop_new();
	struct ttrpc_client *c = ttrpc_client_new(loop, sock_path);
	struct seen a = { 0 }, b = { 0 };
	uint64_t deadline = loop_now_ns() + 30 * NSEC_PER_SEC;
	CHECK(ttrpc_client_call(c, AA_SERVICE, "GetEvidence", NULL, 0, deadline, record_outcome, &a));
	CHECK(ttrpc_client_call(c, AA_SERVICE, "GetEvidence", NULL, 0, deadline, record_outcome, &b));
	CHECK(a.calls == 0 && b.calls == 0); /* never called back from inside the call */
	int sfd = accept(lfd, NULL, NULL);
	CHECK(read_request(sfd) == 1);
	CHECK(read_request(sfd) == 3);
	/* timeout_nano carries what is left of the deadline */
	CHECK(last_timeout_nano > 0 && last_timeout_nano <= 30 * NSEC_PER_SEC);
	send_evidence(sfd, 3, "second");
	send_evidence(sfd, 1, "first");
	run_until(loop, &b.calls, 1);
	run_until(loop, &a.calls, 1);
	CHECK(a.calls == 1 && !a.error && a.code == 0 && !strcmp(a.evidence, "first"));
	CHECK(b.calls == 1 && !b.error && !strcmp(b.evidence, "second"));
	CHECK(ttrpc_client_connection_id(c) == 1);

	/* A deadline passes; the late reply is then dropped, not delivered twice. */
	struct seen late = { 0 };
	CHECK(ttrpc_client_call(c, AA_SERVICE, "GetEvidence", NULL, 0, loop_now_ns() + 50 * NSEC_PER_MSEC,
				record_outcome, &late));
	CHECK(read_request(sfd) == 5);
	run_until(loop, &late.calls, 1);
	CHECK(late.calls == 1 && late.error == -ETIMEDOUT && strstr(late.message, "timed out"));
	send_evidence(sfd, 5, "late");
	for (int i = 0; i < 5; i++)
		loop_run_once(loop, 20);
	CHECK(late.calls == 1);
	CHECK(ttrpc_client_stats(c).frames_dropped == 1);

	/* An oversize frame breaks the connection: the call fails, the next one reconnects. */
	struct seen big = { 0 }, again = { 0 };
	CHECK(ttrpc_client_call(c, AA_SERVICE, "GetEvidence", NULL, 0, deadline, record_outcome, &big));
	CHECK(read_request(sfd) == 7);
	uint8_t hdr[TTRPC_HEADER_LEN];
	struct ttrpc_header h = { .length = TTRPC_MAX_DATA_LEN + 1, .stream_id = 7, .type = TTRPC_TYPE_RESPONSE };
	ttrpc_header_encode(&h, hdr);
	CHECK(send(sfd, hdr, sizeof(hdr), MSG_NOSIGNAL) == sizeof(hdr));
	run_until(loop, &big.calls, 1);
	CHECK(big.calls == 1 && big.error == -EMSGSIZE && strstr(big.message, "exceeds the limit"));
	CHECK(ttrpc_client_stats(c).protocol_errors == 1);
	close(sfd);
	CHECK(ttrpc_client_call(c, AA_SERVICE, "GetEvidence", NULL, 0, deadline, record_outcome, &again));
	sfd = accept(lfd, NULL, NULL);
	CHECK(read_request(sfd) == 1); /* a new connection counts stream ids from 1 again */
	send_evidence(sfd, 1, "again");
	run_until(loop, &again.calls, 1);
	CHECK(again.calls == 1 && !again.error && !strcmp(again.evidence, "again"));
	CHECK(again.connection_id == 2);

	/* The server goes away mid-call: the call fails at once. */
	struct seen cut = { 0 };
	CHECK(ttrpc_client_call(c, AA_SERVICE, "GetEvidence", NULL, 0, deadline, record_outcome, &cut));
	CHECK(read_request(sfd) == 3);
	close(sfd);
	run_until(loop, &cut.calls, 1);
	CHECK(cut.calls == 1 && cut.error == -ECONNRESET);

	/* Cancelled calls are never called back. */
	struct seen cancelled = { 0 };
	struct ttrpc_call *call = ttrpc_client_call(c, AA_SERVICE, "GetEvidence", NULL, 0, deadline,
						    record_outcome, &cancelled);
	ttrpc_call_cancel(call);
	for (int i = 0; i < 5; i++)
		loop_run_once(loop, 10);
	CHECK(cancelled.calls == 0);

	ttrpc_client_free(c);
	loop_free(loop);
	close(lfd);
	unlink(sock_path);
}


/* ---- the AA client against the stand-in agent, restarted under it ---- */

#define STANDIN "build/standin/aa-standin"

static pid_t start_standin(const char *path, const char *svn, int stall)
{
	unlink(path);
	pid_t pid = fork();
	if (pid == 0) {
		execl(STANDIN, STANDIN, "--socket", path, "--svn", svn, stall ? "--stall" : NULL, (char *)NULL);
		_exit(127);
	}
	/* Ready once it accepts: the socket file appears a moment before listen(). */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (int i = 0; i < 400; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok)
			break;
		usleep(25000);
	}
	return pid;
}

static void stop_standin(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

struct got {
	int calls;
	int error;
	char message[256];
	char tee[32];
	char evidence[256];
	char additional[256];
};

static void record_evidence(void *ctx, const struct evidence_result *r)
{
	struct got *g = ctx;
	g->calls++;
	g->error = r->error;
	g->additional[0] = 0;
	if (r->error) {
		snprintf(g->message, sizeof(g->message), "%s", r->message);
	} else {
		snprintf(g->tee, sizeof(g->tee), "%s", r->tee);
		snprintf(g->evidence, sizeof(g->evidence), "%.*s", (int)r->evidence_len, (const char *)r->evidence);
		if (r->additional_evidence)
			snprintf(g->additional, sizeof(g->additional), "%.*s", (int)r->additional_len,
				 (const char *)r->additional_evidence);
	}
}

/* Run the client's loop until it has sent the server its next request, then read it. */
static uint32_t next_request(struct loop *loop, int sfd, char method[64])
{
	for (int i = 0; i < 500; i++) {
		uint8_t b;
		if (recv(sfd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
			return read_request_method(sfd, method);
		loop_run_once(loop, 10);
	}
	return 0;
}

TEST(aa_client_calls_and_tee_type_cache)
{
	snprintf(sock_path, sizeof(sock_path), "/tmp/tngwg-aa-seq-%d.sock", (int)getpid());
	int lfd = listen_unix(sock_path);
	struct loop *loop = loop_new();
	struct aa_client *aa = aa_client_new(loop, sock_path);
	uint64_t deadline = loop_now_ns() + 30 * NSEC_PER_SEC;
	char method[64];

	/* First request: evidence, TEE type, additional evidence (an error there means none). */
	struct got g = { 0 };
	CHECK(aa_client_get_evidence(aa, (const uint8_t *)"x", 1, deadline, record_evidence, &g));
	int sfd = accept(lfd, NULL, NULL);
	CHECK(next_request(loop, sfd, method) == 1 && !strcmp(method, "GetEvidence"));
	send_evidence(sfd, 1, "e1");
	CHECK(next_request(loop, sfd, method) == 3 && !strcmp(method, "GetTeeType"));
	send_text(sfd, 3, "tdx");
	CHECK(next_request(loop, sfd, method) == 5 && !strcmp(method, "GetAdditionalEvidence"));
	send_status(sfd, 5, 13, "[ERROR:attestation-agent] AA-KBC get evidence failed");
	run_until(loop, &g.calls, 1);
	CHECK(g.calls == 1 && !g.error && !strcmp(g.tee, "tdx") && !strcmp(g.evidence, "e1") && !g.additional[0]);

	/* Same connection: the TEE type is not asked again; additional evidence is passed on. */
	CHECK(aa_client_get_evidence(aa, (const uint8_t *)"x", 1, deadline, record_evidence, &g));
	CHECK(next_request(loop, sfd, method) == 7 && !strcmp(method, "GetEvidence"));
	send_evidence(sfd, 7, "e2");
	CHECK(next_request(loop, sfd, method) == 9 && !strcmp(method, "GetAdditionalEvidence"));
	send_evidence(sfd, 9, "{\"sampledevice\":{}}");
	run_until(loop, &g.calls, 2);
	CHECK(g.calls == 2 && !g.error && !strcmp(g.tee, "tdx") && !strcmp(g.evidence, "e2"));
	CHECK_STR(g.additional, "{\"sampledevice\":{}}");

	/* A new connection asks again, and its stream ids start again at 1. */
	close(sfd);
	for (int i = 0; i < 5; i++)
		loop_run_once(loop, 10);
	CHECK(aa_client_get_evidence(aa, (const uint8_t *)"x", 1, deadline, record_evidence, &g));
	sfd = accept(lfd, NULL, NULL);
	CHECK(next_request(loop, sfd, method) == 1 && !strcmp(method, "GetEvidence"));
	send_evidence(sfd, 1, "e3");
	CHECK(next_request(loop, sfd, method) == 3 && !strcmp(method, "GetTeeType"));
	send_text(sfd, 3, "sample");
	CHECK(next_request(loop, sfd, method) == 5 && !strcmp(method, "GetAdditionalEvidence"));
	send_text(sfd, 5, ""); /* empty: none */
	run_until(loop, &g.calls, 3);
	CHECK(g.calls == 3 && !g.error && !strcmp(g.tee, "sample") && !strcmp(g.evidence, "e3") && !g.additional[0]);

	/* An agent error on GetEvidence becomes the message the daemon shows. */
	CHECK(aa_client_get_evidence(aa, (const uint8_t *)"x", 1, deadline, record_evidence, &g));
	CHECK(next_request(loop, sfd, method) == 7 && !strcmp(method, "GetEvidence"));
	send_status(sfd, 7, 13, "[ERROR:attestation-agent] AA-KBC get evidence failed");
	run_until(loop, &g.calls, 4);
	CHECK(g.calls == 4 && g.error);
	CHECK_STR(g.message, "attestation agent: GetEvidence failed: INTERNAL (13): "
			     "[ERROR:attestation-agent] AA-KBC get evidence failed");

	close(sfd);
	aa_client_free(aa);
	loop_free(loop);
	close(lfd);
	unlink(sock_path);
}

TEST(aa_client_survives_agent_restart)
{
	if (access(STANDIN, X_OK) != 0 && system("tests/standin/build-aa.sh") != 0) {
		fprintf(stderr, "  %s is not built and tests/standin/build-aa.sh failed\n", STANDIN);
		CHECK(!"stand-in AA available");
		return;
	}
	snprintf(sock_path, sizeof(sock_path), "/tmp/tngwg-aa-%d.sock", (int)getpid());
	struct loop *loop = loop_new();
	struct aa_client *aa = aa_client_new(loop, sock_path);
	uint64_t timeout = 20 * NSEC_PER_SEC;

	pid_t pid = start_standin(sock_path, "1", 0);
	struct got first = { 0 };
	CHECK(aa_client_get_evidence(aa, (const uint8_t *)"abc", 3, loop_now_ns() + timeout, record_evidence, &first));
	run_until(loop, &first.calls, 1);
	CHECK(first.calls == 1 && !first.error && !strcmp(first.tee, "sample"));
	CHECK_STR(first.evidence, "{\"svn\":\"1\",\"report_data\":\"YWJj\"}");

	/* Restarted between two calls of one client: the second call reconnects. */
	stop_standin(pid);
	pid = start_standin(sock_path, "2", 0);
	struct got second = { 0 };
	CHECK(aa_client_get_evidence(aa, (const uint8_t *)"abc", 3, loop_now_ns() + timeout, record_evidence, &second));
	run_until(loop, &second.calls, 1);
	if (second.error)
		fprintf(stderr, "  %s\n", second.message);
	CHECK(second.calls == 1 && !second.error && !strcmp(second.tee, "sample"));
	CHECK_STR(second.evidence, "{\"svn\":\"2\",\"report_data\":\"YWJj\"}");
	stop_standin(pid);

	/* Killed during a call: that call fails, the next one reaches the new agent. */
	pid = start_standin(sock_path, "3", 1);
	struct got cut = { 0 };
	CHECK(aa_client_get_evidence(aa, (const uint8_t *)"abc", 3, loop_now_ns() + timeout, record_evidence, &cut));
	for (int i = 0; i < 10; i++)
		loop_run_once(loop, 10);
	CHECK(cut.calls == 0);
	stop_standin(pid);
	run_until(loop, &cut.calls, 1);
	CHECK(cut.calls == 1 && cut.error && strstr(cut.message, "GetEvidence failed: connection closed"));
	pid = start_standin(sock_path, "4", 0);
	struct got third = { 0 };
	CHECK(aa_client_get_evidence(aa, (const uint8_t *)"abc", 3, loop_now_ns() + timeout, record_evidence, &third));
	run_until(loop, &third.calls, 1);
	CHECK(third.calls == 1 && !third.error);
	CHECK_STR(third.evidence, "{\"svn\":\"4\",\"report_data\":\"YWJj\"}");
	stop_standin(pid);

	aa_client_free(aa);
	loop_free(loop);
	unlink(sock_path);
}

int main(void)
{
	TEST_BEGIN("ttrpc");
	RUN(encodes_vector_requests);
	RUN(decodes_vector_responses);
	RUN(empty_ok_status_is_success);
	RUN(oversize_length_rejected);
	RUN(truncated_frames_rejected);
	RUN(calls_in_flight_matched_by_stream_id);
	RUN(aa_client_calls_and_tee_type_cache);
	RUN(aa_client_survives_agent_restart);
	TEST_END();
}
