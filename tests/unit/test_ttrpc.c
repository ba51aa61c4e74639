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

int main(void)
{
	TEST_BEGIN("ttrpc");
	RUN(encodes_vector_requests);
	RUN(decodes_vector_responses);
	RUN(empty_ok_status_is_success);
	RUN(oversize_length_rejected);
	RUN(truncated_frames_rejected);
	TEST_END();
}
