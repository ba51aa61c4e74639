/*
 * The attested handshake tng-wg/1 (handshake/session.c, frame.c, messages.c, noise_xx.c) as the
 * session under test receives it, at every phase. The harness plays the other side with the Noise
 * functions, so what it sends after the handshake is authenticated and reaches the evidence,
 * verdict and chunk handling. Input:
 *   byte 0: the session's role and offer (bit 0 initiator, bit 1 will attest, bit 2 requires the
 *           peer's evidence), whether it answers evidence (bit 3) and verification (bit 4) at
 *           once or when a record says so, a small evidence limit (bit 5), and whether the
 *           harness completes the handshake first (bit 6) with its hello from the input;
 *   then records, each a kind byte and its fields:
 *     0 raw stream bytes (any frames, abort bytes, garbage; split as the input says)
 *     1 a transport message, chunked and encrypted as the protocol does
 *     2 one encrypted chunk with a chosen "more" byte
 *     3 an evidence message from fuzzed fields   4 a verdict from fuzzed fields
 *     5 the peer closes                           6 a local abort with a reason
 *     7 the deferred evidence or verdict answer   8 a handshake message of the harness's Noise
 * Everything the session writes is read back by the harness: it must be well framed, and after the
 * handshake every frame must authenticate and decode. When both sides accept, the PSKs agree.
 */
#include "handshake/frame.h"
#include "handshake/messages.h"
#include "handshake/noise_xx.h"
#include "handshake/session.h"
#include "fuzz/fuzz.h"

#include <cjson/cJSON.h>

#define PROLOGUE "tng-wg/1"
#define CHUNK_DATA_MAX (NOISE_MAX_MESSAGE - NOISE_TAGLEN - 1)

static const uint8_t session_static[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
static const uint8_t peer_static[32] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
static const uint8_t peer_ephemeral[32] = { 0x42, 0x42 };

/* The harness's side of the conversation. */
static struct peer {
	struct noise_xx noise;
	bool keyed, psk_known;
	struct noise_cipher send, recv;
	uint8_t psk[32];
	struct frame_reader in;
	uint8_t *message; /* reassembled from the session's chunks */
	size_t message_len;
} peer;

static struct hs_session *session;
static uint8_t flags;
static bool evidence_pending, verification_pending;

static void need_evidence(void *ctx, const char *runtime_data_json)
{
	cJSON *rd = cJSON_Parse(runtime_data_json);
	if (!cJSON_IsObject(rd) || cJSON_GetArraySize(rd) != 4)
		fuzz_fail("runtime data is not the four-member JSON object");
	cJSON_Delete(rd);
	if (flags & 0x08)
		hs_session_provide_evidence(session, "sample", (const uint8_t *)"{\"svn\":\"1\"}", 11,
					    (const uint8_t *)"{}", 2);
	else
		evidence_pending = true;
}

static void need_verification(void *ctx, const char *tee, const uint8_t *evidence, size_t len,
			      const uint8_t *additional, size_t additional_len, const char *expected)
{
	if (!tee[0] || !len || strlen(tee) > HS_TEE_MAX)
		fuzz_fail("verification asked for no evidence");
	cJSON *rd = cJSON_Parse(expected);
	if (!cJSON_IsObject(rd))
		fuzz_fail("expected runtime data is not JSON");
	cJSON_Delete(rd);
	if (flags & 0x10)
		hs_session_provide_verdict(session, true, HS_OK, NULL);
	else
		verification_pending = true;
}

static const struct hs_session_ops ops = { need_evidence, need_verification };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_deterministic_random();
	return 0;
}

static void peer_frame(const uint8_t *payload, size_t len);

/* Read everything the session wrote since the last call. */
static void drain_session(void)
{
	size_t len;
	const uint8_t *out = hs_session_output(session, &len);
	while (len) {
		size_t used;
		enum frame_status st = frame_reader_push(&peer.in, out, len, &used);
		if (st == FRAME_COMPLETE)
			peer_frame(peer.in.payload, peer.in.payload_len);
		else if (st != FRAME_NEED_MORE)
			fuzz_fail("the session wrote a malformed frame");
		out += used;
		len -= used;
	}
	hs_session_output_consumed(session, SIZE_MAX);
}

static void peer_message(const uint8_t *m, size_t len)
{
	if (len == 0)
		fuzz_fail("the session sent an empty message");
	if (m[0] == HS_MSG_EVIDENCE) {
		struct hs_evidence_msg ev;
		if (hs_evidence_decode(m, len, HS_DEFAULT_MAX_EVIDENCE, &ev) != 0)
			fuzz_fail("the session's evidence message does not decode");
	} else if (m[0] == HS_MSG_VERDICT) {
		struct hs_verdict_msg v;
		if (hs_verdict_decode(m, len, &v) != 0)
			fuzz_fail("the session's verdict does not decode");
	} else {
		fuzz_fail("the session sent a message of unknown type");
	}
}

/* One frame from the session, as the other side would take it. */
static void peer_frame(const uint8_t *payload, size_t len)
{
	static uint8_t plain[NOISE_MAX_MESSAGE];
	if (len == 1)
		return; /* an abort frame */
	if (!peer.keyed) {
		size_t plen;
		if (noise_xx_read_message(&peer.noise, payload, len, plain, sizeof(plain), &plen) != 0)
			return; /* the harness's own handshake went elsewhere (a raw record) */
		if (noise_xx_complete(&peer.noise)) {
			noise_xx_split(&peer.noise, &peer.send, &peer.recv);
			noise_xx_derive(&peer.noise, "tng-wg/1 psk", peer.psk);
			peer.keyed = peer.psk_known = true;
		}
		return;
	}
	if (len < NOISE_TAGLEN + 1 || noise_cipher_decrypt(&peer.recv, NULL, 0, payload, len, plain) != 0)
		fuzz_fail("the session sent a transport frame that does not authenticate");
	size_t n = len - NOISE_TAGLEN - 1;
	uint8_t *grown = realloc(peer.message, peer.message_len + n + 1);
	if (!grown)
		abort();
	peer.message = grown;
	memcpy(peer.message + peer.message_len, plain + 1, n);
	peer.message_len += n;
	if (plain[0] == 0) {
		peer_message(peer.message, peer.message_len);
		peer.message_len = 0;
	} else if (plain[0] != 1 || n != CHUNK_DATA_MAX) {
		fuzz_fail("the session sent a malformed chunk");
	}
}

static void send_frame(const uint8_t *payload, size_t len)
{
	uint8_t header[FRAME_HEADER_LEN];
	frame_put_header(header, (uint32_t)len);
	hs_session_receive(session, header, sizeof(header));
	hs_session_receive(session, payload, len);
}

/* The next Noise handshake message of the harness, with payload. */
static void send_handshake(const uint8_t *payload, size_t len)
{
	static uint8_t msg[NOISE_MAX_MESSAGE];
	size_t n;
	if (peer.keyed || len > 1024 ||
	    noise_xx_write_message(&peer.noise, payload, len, msg, sizeof(msg), &n) != 0)
		return;
	if (noise_xx_complete(&peer.noise)) {
		noise_xx_split(&peer.noise, &peer.send, &peer.recv);
		noise_xx_derive(&peer.noise, "tng-wg/1 psk", peer.psk);
		peer.keyed = peer.psk_known = true;
	}
	send_frame(msg, n);
}

static void send_chunk(uint8_t more, const uint8_t *data, size_t len)
{
	static uint8_t plain[NOISE_MAX_MESSAGE], frame[NOISE_MAX_MESSAGE];
	if (!peer.keyed || len > CHUNK_DATA_MAX)
		return;
	plain[0] = more;
	memcpy(plain + 1, data, len);
	if (noise_cipher_encrypt(&peer.send, NULL, 0, plain, 1 + len, frame) == 0)
		send_frame(frame, 1 + len + NOISE_TAGLEN);
}

static void send_message(const uint8_t *m, size_t len)
{
	size_t off = 0;
	do {
		size_t n = len - off < CHUNK_DATA_MAX ? len - off : CHUNK_DATA_MAX;
		send_chunk(off + n < len, m + off, n);
		off += n;
	} while (off < len && hs_session_state(session) == HS_SESSION_RUNNING);
}

static void send_evidence(struct fuzz_input *in)
{
	struct hs_evidence_msg m = { 0 };
	size_t n;
	const uint8_t *tee = fuzz_bytes(in, fuzz_u8(in) % (HS_TEE_MAX + 1), &n);
	memcpy(m.tee, tee, n);
	m.evidence = fuzz_piece(in, &m.evidence_len);
	m.additional = fuzz_piece(in, &m.additional_len);
	fuzz_fill(in, m.wg_public_key, sizeof(m.wg_public_key));
	m.wg_port = fuzz_u16(in);
	size_t len = hs_evidence_encoded_len(&m);
	uint8_t *buf = malloc(len);
	if (!buf)
		abort();
	hs_evidence_encode(&m, buf);
	send_message(buf, len);
	free(buf);
}

static void send_verdict(struct fuzz_input *in)
{
	struct hs_verdict_msg v = { .reason = fuzz_u8(in) };
	size_t n;
	const uint8_t *detail = fuzz_bytes(in, fuzz_u8(in), &n);
	memcpy(v.detail, detail, n);
	v.detail[n] = 0;
	uint8_t buf[HS_VERDICT_MAX_LEN];
	send_message(buf, hs_verdict_encode(&v, buf));
}

static void answer_deferred(uint8_t how)
{
	if (evidence_pending) {
		evidence_pending = false;
		if (how & 1)
			hs_session_evidence_failed(session, "no evidence");
		else
			hs_session_provide_evidence(session, "tdx", (const uint8_t *)"quote", 5, NULL, 0);
	} else if (verification_pending) {
		verification_pending = false;
		hs_session_provide_verdict(session, !(how & 1), (enum hs_reason)((how >> 1) % HS_REASON_COUNT),
					   "appraised");
	}
}

static void record(struct fuzz_input *in)
{
	uint8_t kind = fuzz_u8(in);
	size_t n;
	const uint8_t *p;
	switch (kind % 9) {
	case 0: {
		p = fuzz_piece(in, &n);
		size_t step = fuzz_u8(in) + 1;
		for (size_t off = 0; off < n; off += step)
			hs_session_receive(session, p + off, n - off < step ? n - off : step);
		break;
	}
	case 1:
		p = fuzz_piece(in, &n);
		send_message(p, n);
		break;
	case 2: {
		uint8_t more = fuzz_u8(in);
		p = fuzz_piece(in, &n);
		send_chunk(more, p, n);
		break;
	}
	case 3: send_evidence(in); break;
	case 4: send_verdict(in); break;
	case 5: hs_session_peer_closed(session); break;
	case 6: hs_session_abort(session, (enum hs_reason)(fuzz_u8(in) % HS_REASON_COUNT), "local"); break;
	case 7: answer_deferred(fuzz_u8(in)); break;
	default:
		p = fuzz_piece(in, &n);
		send_handshake(p, n);
		break;
	}
	drain_session();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	fuzz_random_reset();
	flags = fuzz_u8(&in);
	evidence_pending = verification_pending = false;
	struct hs_session_config cfg = {
		.initiator = flags & 0x01,
		.local = { .wg_public_key = { 0xaa }, .wg_port = 51820, .will_attest = flags & 0x02,
			   .requires_peer_evidence = flags & 0x04 },
		.max_evidence = flags & 0x20 ? 64 : 0,
	};
	memcpy(cfg.static_private, session_static, 32);
	memset(&peer, 0, sizeof(peer));
	frame_reader_init(&peer.in, NOISE_MAX_MESSAGE);
	noise_xx_init(&peer.noise, !cfg.initiator, (const uint8_t *)PROLOGUE, strlen(PROLOGUE),
		      peer_static, NULL, peer_ephemeral);
	session = hs_session_new(&cfg, &ops, NULL);
	if (!session)
		abort();
	drain_session();

	if (flags & 0x40) {
		/* A proper handshake first: our hello (from the input) in message 1 or 2. */
		uint8_t hello[HS_HELLO_LEN] = { HS_PROTOCOL_VERSION, fuzz_u8(&in) };
		for (int i = 0; i < 3 && !peer.keyed && hs_session_state(session) == HS_SESSION_RUNNING; i++) {
			unsigned next = peer.noise.next_message;
			if ((next % 2 == 0) != peer.noise.initiator)
				break; /* the session's turn, and it wrote nothing: it failed */
			send_handshake(next < 2 ? hello : NULL, next < 2 ? sizeof(hello) : 0);
			drain_session();
		}
	}
	while (in.len && hs_session_state(session) == HS_SESSION_RUNNING)
		record(&in);

	if (hs_session_state(session) == HS_SESSION_DONE) {
		const struct hs_result *r = hs_session_result(session);
		if (!peer.psk_known || memcmp(r->psk, peer.psk, 32) != 0)
			fuzz_fail("the session finished with a PSK the other side does not hold");
		if (r->we_initiated != cfg.initiator)
			fuzz_fail("the result names the wrong initiator");
		if (cfg.local.requires_peer_evidence && !r->peer_attested)
			fuzz_fail("the session finished without the evidence it requires");
	} else if (hs_session_state(session) == HS_SESSION_FAILED) {
		if (hs_session_reason(session) >= HS_REASON_COUNT || !hs_session_detail(session))
			fuzz_fail("a failure without a known reason");
	}
	hs_session_free(session);
	session = NULL;
	frame_reader_free(&peer.in);
	free(peer.message);
	noise_xx_wipe(&peer.noise);
	return 0;
}
