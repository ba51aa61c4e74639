#include "handshake/session.h"

#include "handshake/frame.h"
#include "handshake/messages.h"
#include "handshake/noise_xx.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROLOGUE "tng-wg/1"
#define PSK_LABEL "tng-wg/1 psk"
/* Data bytes per chunk so that a transport message stays within Noise's limit. */
#define CHUNK_DATA_MAX (NOISE_MAX_MESSAGE - NOISE_TAGLEN - 1)
#define RUNTIME_DATA_MAX 256

struct hs_session {
	struct hs_session_config cfg;
	struct hs_session_ops ops;
	void *ctx;
	enum hs_session_state state;

	struct noise_xx noise;
	struct noise_cipher send, recv;
	uint8_t handshake_hash[NOISE_HASHLEN];
	struct hs_hello peer_hello;
	bool keyed; /* the handshake completed: transport ciphers exist */

	struct frame_reader in;
	uint8_t *scratch; /* one decrypted frame: as large as the largest yet, not max_frame, since
			     most frames are small and many sessions may run at once */
	size_t scratch_cap;
	uint8_t *message; /* a transport-phase message being reassembled */
	size_t message_len, message_cap, message_max;

	uint8_t *out;
	size_t out_len, out_cap;

	bool evidence_requested, evidence_sent, peer_evidence_seen, verification_requested;
	bool verdict_sent, peer_accepted;
	struct hs_result result;

	enum hs_reason reason;
	bool reported_by_peer, failed_on_input;
	char detail[HS_DETAIL_MAX + 1];
};

static void wipe_secrets(struct hs_session *s)
{
	noise_xx_wipe(&s->noise);
	sodium_memzero(&s->send, sizeof(s->send));
	sodium_memzero(&s->recv, sizeof(s->recv));
	sodium_memzero(s->cfg.static_private, sizeof(s->cfg.static_private));
}

static void fail(struct hs_session *s, enum hs_reason reason, bool by_peer, const char *detail)
{
	if (s->state != HS_SESSION_RUNNING)
		return;
	s->state = HS_SESSION_FAILED;
	s->reason = reason;
	s->reported_by_peer = by_peer;
	snprintf(s->detail, sizeof(s->detail), "%s", detail ? detail : "");
	sodium_memzero(&s->result, sizeof(s->result));
	wipe_secrets(s);
}

static int out_reserve(struct hs_session *s, size_t n)
{
	if (s->out_cap - s->out_len >= n)
		return 0;
	size_t cap = s->out_cap ? s->out_cap : 1024;
	while (cap - s->out_len < n)
		cap *= 2;
	uint8_t *p = realloc(s->out, cap);
	if (!p)
		return -1;
	s->out = p;
	s->out_cap = cap;
	return 0;
}

/* Appends a frame header for len bytes and returns where its payload goes, or NULL. */
static uint8_t *out_frame(struct hs_session *s, size_t len)
{
	if (out_reserve(s, FRAME_HEADER_LEN + len) != 0)
		return NULL;
	frame_put_header(s->out + s->out_len, (uint32_t)len);
	uint8_t *payload = s->out + s->out_len + FRAME_HEADER_LEN;
	s->out_len += FRAME_HEADER_LEN + len;
	return payload;
}

/* Sends a transport-phase message as chunks; -1 when out of memory or nonces. */
static int send_message(struct hs_session *s, const uint8_t *msg, size_t len)
{
	uint8_t *chunk = malloc(1 + (len < CHUNK_DATA_MAX ? len : CHUNK_DATA_MAX));
	size_t off = 0;
	int rc = chunk ? 0 : -1;

	while (rc == 0) {
		size_t n = len - off < CHUNK_DATA_MAX ? len - off : CHUNK_DATA_MAX;
		chunk[0] = off + n < len;
		memcpy(chunk + 1, msg + off, n);
		uint8_t *frame = out_frame(s, 1 + n + NOISE_TAGLEN);
		if (!frame || noise_cipher_encrypt(&s->send, NULL, 0, chunk, 1 + n, frame) != 0)
			rc = -1;
		off += n;
		if (off == len)
			break;
	}
	free(chunk);
	return rc;
}

static void send_verdict(struct hs_session *s, enum hs_reason reason, const char *detail)
{
	struct hs_verdict_msg v = { .reason = (uint8_t)reason };
	uint8_t buf[HS_VERDICT_MAX_LEN];

	snprintf(v.detail, sizeof(v.detail), "%s", detail ? detail : "");
	if (send_message(s, buf, hs_verdict_encode(&v, buf)) == 0)
		s->verdict_sent = true;
}

/* Ends the handshake for a reason of ours, telling the peer: by verdict once transport keys
 * exist, else by an abort frame. */
static void reject(struct hs_session *s, enum hs_reason reason, const char *detail)
{
	if (s->state != HS_SESSION_RUNNING)
		return;
	if (s->keyed) {
		send_verdict(s, reason, detail);
	} else {
		uint8_t *p = out_frame(s, 1);
		if (p)
			*p = (uint8_t)reason;
	}
	fail(s, reason, false, detail);
}

/* The peer sent something malformed or too large: tell it what, and stop. */
static void fail_on_input(struct hs_session *s, const char *detail)
{
	s->failed_on_input = s->state == HS_SESSION_RUNNING;
	reject(s, HS_PROTOCOL_ERROR, detail);
}

static void check_done(struct hs_session *s)
{
	if (s->state != HS_SESSION_RUNNING || !s->evidence_sent || !s->verdict_sent ||
	    !s->peer_accepted)
		return;
	s->result.we_initiated = s->cfg.initiator;
	s->state = HS_SESSION_DONE;
	wipe_secrets(s);
}

static void runtime_data_json(const struct hs_session *s, bool initiator, const uint8_t key[32],
			      char out[RUNTIME_DATA_MAX])
{
	char h64[sodium_base64_ENCODED_LEN(NOISE_HASHLEN, sodium_base64_VARIANT_ORIGINAL)];
	char k64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];

	sodium_bin2base64(h64, sizeof(h64), s->handshake_hash, NOISE_HASHLEN,
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(k64, sizeof(k64), key, 32, sodium_base64_VARIANT_ORIGINAL);
	snprintf(out, RUNTIME_DATA_MAX,
		 "{\"tng-wg\":1,\"role\":\"%s\",\"handshake_hash\":\"%s\",\"wg_public_key\":\"%s\"}",
		 initiator ? "initiator" : "responder", h64, k64);
}

static void send_evidence(struct hs_session *s, const char *tee, const uint8_t *evidence,
			  size_t len, const uint8_t *additional, size_t additional_len)
{
	struct hs_evidence_msg m = { .evidence = evidence, .evidence_len = len,
				     .additional = additional, .additional_len = additional_len,
				     .wg_port = s->cfg.local.wg_port };
	snprintf(m.tee, sizeof(m.tee), "%s", tee);
	memcpy(m.wg_public_key, s->cfg.local.wg_public_key, 32);

	size_t n = hs_evidence_encoded_len(&m);
	uint8_t *buf = malloc(n);
	if (!buf || (hs_evidence_encode(&m, buf), send_message(s, buf, n)) != 0) {
		free(buf);
		reject(s, HS_EVIDENCE_UNAVAILABLE, "out of memory");
		return;
	}
	free(buf);
	s->evidence_sent = true;
	check_done(s);
}

static void noise_complete(struct hs_session *s)
{
	memcpy(s->handshake_hash, noise_xx_handshake_hash(&s->noise), NOISE_HASHLEN);
	noise_xx_split(&s->noise, &s->send, &s->recv);
	noise_xx_derive(&s->noise, PSK_LABEL, s->result.psk);
	noise_xx_wipe(&s->noise);
	s->keyed = true;

	if (s->cfg.local.requires_peer_evidence && !s->peer_hello.will_attest) {
		reject(s, HS_ATTESTATION_REQUIRED, "peer will not attest");
		return;
	}
	s->evidence_requested = true;
	if (!s->cfg.local.will_attest) {
		send_evidence(s, "", NULL, 0, NULL, 0);
		return;
	}
	char json[RUNTIME_DATA_MAX];
	runtime_data_json(s, s->cfg.initiator, s->cfg.local.wg_public_key, json);
	s->ops.need_evidence(s->ctx, json);
}

static void write_handshake(struct hs_session *s, const uint8_t *payload, size_t len)
{
	size_t total = len + noise_xx_overhead(&s->noise), written;
	uint8_t *frame = out_frame(s, total);

	if (!frame) {
		fail(s, HS_PROTOCOL_ERROR, false, "out of memory");
		return;
	}
	if (noise_xx_write_message(&s->noise, payload, len, frame, total, &written) != 0) {
		/* our turn and room are certain: the peer's ephemeral key was degenerate */
		s->out_len -= FRAME_HEADER_LEN + total;
		fail_on_input(s, "degenerate ephemeral key");
		return;
	}
	if (noise_xx_complete(&s->noise))
		noise_complete(s);
}

static void write_hello(struct hs_session *s)
{
	struct hs_hello h = { .version = s->cfg.version,
			      .will_attest = s->cfg.local.will_attest,
			      .requires_peer_evidence = s->cfg.local.requires_peer_evidence };
	uint8_t buf[HS_HELLO_LEN];

	hs_hello_encode(&h, buf);
	write_handshake(s, buf, sizeof(buf));
}

static void peer_abort(struct hs_session *s, uint8_t code)
{
	enum hs_reason r = code > HS_OK && code < HS_REASON_COUNT ? code : HS_PROTOCOL_ERROR;
	fail(s, r, true, "peer aborted the handshake");
}

#define SCRATCH_MIN 1024

/* The scratch buffer, holding at least len bytes (what it held is wiped when it moves); NULL,
 * with the session failed, when out of memory. */
static uint8_t *scratch_for(struct hs_session *s, size_t len)
{
	if (len <= s->scratch_cap)
		return s->scratch;
	if (len < SCRATCH_MIN)
		len = SCRATCH_MIN; /* the handshake's and verdicts' frames, and sample evidence */
	uint8_t *p = malloc(len);
	if (!p) {
		fail(s, HS_PROTOCOL_ERROR, false, "out of memory");
		return NULL;
	}
	if (s->scratch)
		sodium_memzero(s->scratch, s->scratch_cap);
	free(s->scratch);
	s->scratch = p;
	s->scratch_cap = len;
	return p;
}

static void read_handshake(struct hs_session *s, const uint8_t *frame, size_t len)
{
	unsigned message = s->noise.next_message;
	size_t plen;

	if (!scratch_for(s, len))
		return;
	if (noise_xx_read_message(&s->noise, frame, len, s->scratch, len, &plen) != 0) {
		fail_on_input(s, "handshake message rejected");
		return;
	}
	if (message == 2) { /* -> s, se: the payload is empty */
		if (plen != 0)
			fail_on_input(s, "unexpected payload in handshake message 3");
		else
			noise_complete(s);
		return;
	}
	if (hs_hello_decode(s->scratch, plen, s->cfg.version, &s->peer_hello) != 0) {
		fail_on_input(s, "malformed hello");
		return;
	}
	if (s->peer_hello.version != s->cfg.version) {
		char d[64];
		snprintf(d, sizeof(d), "peer speaks version %u, we speak %u", s->peer_hello.version,
			 s->cfg.version);
		reject(s, HS_VERSION_MISMATCH, d);
		return;
	}
	if (message == 0)
		write_hello(s);               /* <- e, ee, s, es with our hello */
	else
		write_handshake(s, NULL, 0); /* -> s, se */
}

static void on_peer_evidence(struct hs_session *s, const uint8_t *msg, size_t len)
{
	struct hs_evidence_msg m;

	if (s->peer_evidence_seen || hs_evidence_decode(msg, len, s->cfg.max_evidence, &m) != 0) {
		char d[96];
		snprintf(d, sizeof(d), "malformed or repeated evidence message (evidence limit %zu)",
			 s->cfg.max_evidence);
		fail_on_input(s, d);
		return;
	}
	s->peer_evidence_seen = true;
	memcpy(s->result.peer_wg_public_key, m.wg_public_key, 32);
	s->result.peer_wg_port = m.wg_port;
	memcpy(s->result.peer_tee, m.tee, sizeof(m.tee));
	if (!s->cfg.local.requires_peer_evidence) {
		send_verdict(s, HS_OK, "");
		check_done(s);
		return;
	}
	if (m.tee[0] == '\0' || m.evidence_len == 0) {
		reject(s, HS_ATTESTATION_REQUIRED, "peer sent no evidence");
		return;
	}
	char json[RUNTIME_DATA_MAX];
	runtime_data_json(s, !s->cfg.initiator, m.wg_public_key, json);
	s->verification_requested = true;
	s->ops.need_verification(s->ctx, m.tee, m.evidence, m.evidence_len, m.additional,
				 m.additional_len, json);
}

static void on_peer_verdict(struct hs_session *s, const uint8_t *msg, size_t len)
{
	struct hs_verdict_msg v;

	if (hs_verdict_decode(msg, len, &v) != 0) {
		fail_on_input(s, "malformed verdict");
		return;
	}
	if (v.reason != HS_OK) {
		fail(s, v.reason < HS_REASON_COUNT ? v.reason : HS_PROTOCOL_ERROR, true, v.detail);
		return;
	}
	if (!s->evidence_sent || s->peer_accepted) {
		fail_on_input(s, "unexpected accept verdict");
		return;
	}
	s->peer_accepted = true;
	check_done(s);
}

static int grow_message(struct hs_session *s, size_t need)
{
	if (need <= s->message_cap)
		return 0;
	size_t cap = s->message_cap ? s->message_cap : 4096;
	while (cap < need)
		cap *= 2;
	uint8_t *p = malloc(cap);
	if (!p)
		return -1;
	if (s->message) {
		memcpy(p, s->message, s->message_len);
		sodium_memzero(s->message, s->message_cap);
		free(s->message);
	}
	s->message = p;
	s->message_cap = cap;
	return 0;
}

static void read_transport(struct hs_session *s, const uint8_t *frame, size_t len)
{
	if (len >= NOISE_TAGLEN + 1 && !scratch_for(s, len - NOISE_TAGLEN))
		return;
	if (len < NOISE_TAGLEN + 1 ||
	    noise_cipher_decrypt(&s->recv, NULL, 0, frame, len, s->scratch) != 0) {
		fail_on_input(s, "transport message rejected");
		return;
	}
	size_t n = len - NOISE_TAGLEN - 1;
	uint8_t more = s->scratch[0];
	if (more > 1 || (more && n != CHUNK_DATA_MAX)) {
		fail_on_input(s, "malformed chunk");
		return;
	}
	if (n > s->message_max - s->message_len) {
		char d[96];
		snprintf(d, sizeof(d), "message exceeds %zu bytes (evidence limit %zu)", s->message_max,
			 s->cfg.max_evidence);
		fail_on_input(s, d);
		return;
	}
	if (grow_message(s, s->message_len + n) != 0) {
		fail(s, HS_PROTOCOL_ERROR, false, "out of memory");
		return;
	}
	if (n) /* an empty chunk may come before any buffer exists */
		memcpy(s->message + s->message_len, s->scratch + 1, n);
	s->message_len += n;
	if (more)
		return;
	size_t mlen = s->message_len;
	s->message_len = 0;
	if (mlen == 0)
		fail_on_input(s, "empty message");
	else if (s->message[0] == HS_MSG_EVIDENCE)
		on_peer_evidence(s, s->message, mlen);
	else if (s->message[0] == HS_MSG_VERDICT)
		on_peer_verdict(s, s->message, mlen);
	else
		fail_on_input(s, "unknown message type");
}

static void on_frame(struct hs_session *s, const uint8_t *frame, size_t len)
{
	if (len == 1)
		peer_abort(s, frame[0]);
	else if (!s->keyed)
		read_handshake(s, frame, len);
	else
		read_transport(s, frame, len);
}

struct hs_session *hs_session_new(const struct hs_session_config *cfg,
				  const struct hs_session_ops *ops, void *ctx)
{
	struct hs_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cfg = *cfg;
	if (!s->cfg.version)
		s->cfg.version = HS_PROTOCOL_VERSION;
	if (!s->cfg.max_frame || s->cfg.max_frame > NOISE_MAX_MESSAGE)
		s->cfg.max_frame = NOISE_MAX_MESSAGE;
	if (!s->cfg.max_evidence)
		s->cfg.max_evidence = HS_DEFAULT_MAX_EVIDENCE;
	if (s->cfg.max_evidence > UINT32_MAX / 2)
		s->cfg.max_evidence = UINT32_MAX / 2;
	s->ops = *ops;
	s->ctx = ctx;
	s->message_max = hs_evidence_max_len(s->cfg.max_evidence);
	frame_reader_init(&s->in, s->cfg.max_frame);
	noise_xx_init(&s->noise, s->cfg.initiator, (const uint8_t *)PROLOGUE, strlen(PROLOGUE),
		      s->cfg.static_private, s->cfg.static_public, NULL);
	s->cfg.static_public = NULL; /* the caller's, valid only during this call */
	if (s->cfg.initiator)
		write_hello(s); /* -> e with our hello */
	return s;
}

void hs_session_free(struct hs_session *s)
{
	if (!s)
		return;
	wipe_secrets(s);
	frame_reader_free(&s->in);
	if (s->scratch)
		sodium_memzero(s->scratch, s->scratch_cap);
	free(s->scratch);
	if (s->message)
		sodium_memzero(s->message, s->message_cap);
	free(s->message);
	free(s->out);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

void hs_session_receive(struct hs_session *s, const uint8_t *data, size_t len)
{
	while (len && s->state == HS_SESSION_RUNNING) {
		size_t used = 0;
		switch (frame_reader_push(&s->in, data, len, &used)) {
		case FRAME_NEED_MORE:
			break;
		case FRAME_COMPLETE:
			on_frame(s, s->in.payload, s->in.payload_len);
			break;
		case FRAME_TOO_LARGE:
			fail_on_input(s, "oversized frame");
			break;
		case FRAME_EMPTY:
			fail_on_input(s, "empty frame");
			break;
		case FRAME_NO_MEMORY:
			fail(s, HS_PROTOCOL_ERROR, false, "out of memory");
			break;
		}
		data += used;
		len -= used;
	}
}

void hs_session_peer_closed(struct hs_session *s)
{
	fail(s, HS_PROTOCOL_ERROR, false, "connection closed by the peer");
}

void hs_session_provide_evidence(struct hs_session *s, const char *tee, const uint8_t *evidence,
				 size_t len, const uint8_t *additional, size_t additional_len)
{
	if (s->state != HS_SESSION_RUNNING || !s->evidence_requested || s->evidence_sent)
		return;
	size_t tee_len = tee ? strlen(tee) : 0;
	bool tee_ok = tee_len > 0 && tee_len <= HS_TEE_MAX;
	for (size_t i = 0; tee_ok && i < tee_len; i++)
		tee_ok = tee[i] > 0x20 && tee[i] < 0x7f;
	if (!tee_ok || len == 0 || len > s->cfg.max_evidence ||
	    additional_len > s->cfg.max_evidence - len)
		reject(s, HS_EVIDENCE_UNAVAILABLE, "evidence empty, too large or of an unnamed TEE");
	else
		send_evidence(s, tee, evidence, len, additional, additional_len);
}

void hs_session_evidence_failed(struct hs_session *s, const char *detail)
{
	if (s->evidence_requested && !s->evidence_sent)
		reject(s, HS_EVIDENCE_UNAVAILABLE, detail);
}

void hs_session_provide_verdict(struct hs_session *s, bool accept, enum hs_reason reason_if_rejected,
				const char *detail)
{
	if (s->state != HS_SESSION_RUNNING || !s->verification_requested || s->verdict_sent)
		return;
	if (!accept) {
		/* Only a reason the peer knows goes on the wire. */
		bool known = reason_if_rejected != HS_OK && (unsigned)reason_if_rejected < HS_REASON_COUNT;
		reject(s, known ? reason_if_rejected : HS_VERIFICATION_FAILED, detail);
		return;
	}
	s->result.peer_attested = true;
	send_verdict(s, HS_OK, "");
	check_done(s);
}

void hs_session_abort(struct hs_session *s, enum hs_reason reason, const char *detail)
{
	reject(s, reason, detail);
}

const uint8_t *hs_session_output(const struct hs_session *s, size_t *len)
{
	*len = s->out_len;
	return s->out;
}

void hs_session_output_consumed(struct hs_session *s, size_t n)
{
	if (n > s->out_len)
		n = s->out_len;
	if (n == 0)
		return;
	memmove(s->out, s->out + n, s->out_len - n);
	s->out_len -= n;
}

enum hs_session_state hs_session_state(const struct hs_session *s)
{
	return s->state;
}

const struct hs_result *hs_session_result(const struct hs_session *s)
{
	return &s->result;
}

enum hs_reason hs_session_reason(const struct hs_session *s)
{
	return s->reason;
}

bool hs_session_reported_by_peer(const struct hs_session *s)
{
	return s->reported_by_peer;
}

const char *hs_session_detail(const struct hs_session *s)
{
	return s->detail;
}

bool hs_session_failed_on_input(const struct hs_session *s)
{
	return s->failed_on_input;
}
