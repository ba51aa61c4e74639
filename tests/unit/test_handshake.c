/*
 * The attested handshake: sessions driven directly (sans-IO), and two transports over loopback
 * TCP on a private loop, with the test playing the owner: it makes "evidence" that embeds the
 * runtime data it was asked to bind, and its verifier accepts evidence only when it embeds
 * exactly the runtime data the transport expects.
 */
#include "common/loop.h"
#include "handshake/messages.h"
#include "handshake/noise_xx.h"
#include "handshake/session.h"
#include "handshake/source_limit.h"
#include "handshake/transport.h"
#include "tests/unit/descriptors.h"
#include "tests/unit/test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define EVIDENCE_PREFIX "sample-evidence:"

/* ---- the test owner ---- */

struct node {
	const char *addr;
	struct hs_transport *t;
	struct hs_local local;
	/* behaviour */
	bool reject_peer;           /* the verifier says no */
	bool withhold_evidence;     /* never answer need_evidence */
	bool defer_answers;         /* answer from the test loop, not inside callbacks */
	size_t evidence_padding;    /* extra evidence bytes, to exercise chunking */
	const uint8_t *replay;      /* evidence captured from another session */
	size_t replay_len;
	/* observations */
	int done, failed, superseded;
	struct hs_result result;
	enum hs_reason reason;
	bool by_peer, failed_initiated;
	char detail[HS_DETAIL_MAX + 1];
	char own_json[256], expected_json[256];
	uint8_t *last_evidence;
	size_t last_evidence_len;
	char peer_addr[INET_ADDRSTRLEN]; /* as the conn names it in need_evidence */
	/* deferred answers */
	struct hs_conn *pending_evidence, *pending_verdict;
	bool pending_accept;
	enum hs_reason reject_reason; /* 0: verification_failed */
};

static bool json_has(const char *json, const char *role, const uint8_t key[32])
{
	char k64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)], want[128];
	sodium_bin2base64(k64, sizeof(k64), key, 32, sodium_base64_VARIANT_ORIGINAL);
	snprintf(want, sizeof(want), "\"wg_public_key\":\"%s\"", k64);
	char r[64];
	snprintf(r, sizeof(r), "\"role\":\"%s\"", role);
	return strncmp(json, "{\"tng-wg\":1,", 12) == 0 && strstr(json, r) && strstr(json, want) &&
	       strstr(json, "\"handshake_hash\":\"");
}

static void answer_evidence(struct node *n, struct hs_conn *c, const char *json)
{
	size_t len = strlen(EVIDENCE_PREFIX) + strlen(json) + n->evidence_padding;
	uint8_t *ev = malloc(len);
	memcpy(ev, EVIDENCE_PREFIX, strlen(EVIDENCE_PREFIX));
	memcpy(ev + strlen(EVIDENCE_PREFIX), json, strlen(json));
	memset(ev + len - n->evidence_padding, 0xa5, n->evidence_padding);
	free(n->last_evidence);
	n->last_evidence = ev;
	n->last_evidence_len = len;
	if (n->replay)
		hs_conn_provide_evidence(c, "sample", n->replay, n->replay_len, (const uint8_t *)"add", 3);
	else
		hs_conn_provide_evidence(c, "sample", ev, len, (const uint8_t *)"add", 3);
}

static void owner_need_evidence(void *ctx, struct hs_conn *c, const char *json)
{
	struct node *n = ctx;
	const struct sockaddr_in *peer = (const struct sockaddr_in *)hs_conn_peer(c);
	if (peer->sin_family == AF_INET)
		inet_ntop(AF_INET, &peer->sin_addr, n->peer_addr, sizeof(n->peer_addr));
	snprintf(n->own_json, sizeof(n->own_json), "%s", json);
	if (n->withhold_evidence)
		return;
	if (n->defer_answers) {
		n->pending_evidence = c;
		return;
	}
	answer_evidence(n, c, json);
}

static void owner_need_verification(void *ctx, struct hs_conn *c, const struct sockaddr *peer,
				    const char *tee, const uint8_t *evidence, size_t len,
				    const uint8_t *additional, size_t additional_len,
				    const char *expected)
{
	struct node *n = ctx;
	size_t plen = strlen(EVIDENCE_PREFIX), jlen = strlen(expected);
	snprintf(n->expected_json, sizeof(n->expected_json), "%s", expected);
	bool bound = len >= plen + jlen && !memcmp(evidence, EVIDENCE_PREFIX, plen) &&
		     !memcmp(evidence + plen, expected, jlen) && !strcmp(tee, "sample") &&
		     additional_len == 3 && !memcmp(additional, "add", 3);
	bool accept = bound && !n->reject_peer;
	if (n->defer_answers) {
		n->pending_verdict = c;
		n->pending_accept = accept;
		return;
	}
	hs_conn_provide_verdict(c, accept, n->reject_reason ? n->reject_reason : HS_VERIFICATION_FAILED,
				bound ? "policy says no" : "runtime data not bound");
}

static void owner_done(void *ctx, struct hs_conn *c, const struct sockaddr *peer,
		       const struct hs_result *r)
{
	struct node *n = ctx;
	n->done++;
	n->result = *r;
	if (n->pending_evidence == c)
		n->pending_evidence = NULL;
	if (n->pending_verdict == c)
		n->pending_verdict = NULL;
}

static void owner_failed(void *ctx, struct hs_conn *c, const struct sockaddr *peer,
			 enum hs_reason reason, bool by_peer, const char *detail, bool we_initiated)
{
	struct node *n = ctx;
	if (reason == HS_SUPERSEDED) {
		n->superseded++;
	} else {
		n->failed++;
		n->reason = reason;
		n->by_peer = by_peer;
		n->failed_initiated = we_initiated;
		snprintf(n->detail, sizeof(n->detail), "%s", detail);
	}
	if (n->pending_evidence == c)
		n->pending_evidence = NULL;
	if (n->pending_verdict == c)
		n->pending_verdict = NULL;
}

static const struct hs_transport_ops owner_ops = {
	.need_evidence = owner_need_evidence,
	.need_verification = owner_need_verification,
	.done = owner_done,
	.failed = owner_failed,
};

static struct sockaddr_in addr_of(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static void node_init(struct node *n, const char *addr, bool attest, bool require)
{
	memset(n, 0, sizeof(*n));
	n->addr = addr;
	randombytes_buf(n->local.wg_public_key, 32);
	n->local.wg_port = (uint16_t)(40000 + randombytes_uniform(20000));
	n->local.will_attest = attest;
	n->local.requires_peer_evidence = require;
}

static int node_start(struct node *n, struct loop *loop, struct hs_transport_config cfg)
{
	char err[256];
	struct sockaddr_in a = addr_of(n->addr, 0);
	memcpy(&cfg.bind_addr, &a, sizeof(a));
	n->t = hs_transport_new(loop, &cfg, &n->local, &owner_ops, n, err, sizeof(err));
	if (!n->t)
		snprintf(n->detail, sizeof(n->detail), "%s", err);
	return n->t ? 0 : -1;
}

static void node_stop(struct node *n)
{
	hs_transport_free(n->t);
	free(n->last_evidence);
	n->t = NULL;
	n->last_evidence = NULL;
}

static void answer_deferred(struct node *n)
{
	struct hs_conn *c = n->pending_evidence;
	if (c) {
		n->pending_evidence = NULL;
		answer_evidence(n, c, n->own_json);
	}
	c = n->pending_verdict;
	if (c) {
		n->pending_verdict = NULL;
		hs_conn_provide_verdict(c, n->pending_accept, HS_VERIFICATION_FAILED, "deferred no");
	}
}

/* Runs the loop until both nodes have an outcome (bounded, not a timing assertion). */
static void run_until_settled(struct loop *loop, struct node *a, struct node *b, int outcomes)
{
	for (int i = 0; i < 400; i++) {
		int have = a->done + a->failed + b->done + b->failed;
		if (have >= outcomes)
			break;
		loop_run_once(loop, 25);
		answer_deferred(a);
		answer_deferred(b);
	}
	/* let lingering connections close, so nothing is pending when the transports go */
	for (int i = 0; i < 4; i++)
		loop_run_once(loop, 10);
}

struct pair {
	struct loop *loop;
	struct node a, b; /* a: 127.0.0.1, b: 127.0.0.2; same port */
};

/* Both nodes need one port free on both addresses: take a's ephemeral port, retry if b's
 * address has it in use. */
static int pair_start(struct pair *p, struct hs_transport_config cfg)
{
	p->loop = loop_new();
	for (int attempt = 0; attempt < 20; attempt++) {
		cfg.port = 0;
		if (node_start(&p->a, p->loop, cfg) != 0)
			break;
		cfg.port = hs_transport_port(p->a.t);
		if (node_start(&p->b, p->loop, cfg) == 0)
			return 0;
		hs_transport_free(p->a.t);
		p->a.t = NULL;
	}
	fprintf(stderr, "  cannot start the nodes: %s%s\n", p->a.detail, p->b.detail);
	return -1;
}

static void pair_init(struct pair *p, bool a_attests, bool a_requires, bool b_attests,
		      bool b_requires)
{
	node_init(&p->a, "127.0.0.1", a_attests, a_requires);
	node_init(&p->b, "127.0.0.2", b_attests, b_requires);
}

static void pair_stop(struct pair *p)
{
	node_stop(&p->a);
	node_stop(&p->b);
	loop_free(p->loop);
}

static void connect_node(struct node *from, const struct node *to)
{
	struct sockaddr_in a = addr_of(to->addr, 0);
	CHECK(hs_transport_connect(from->t, (struct sockaddr *)&a) != NULL);
}

static struct hs_transport_config default_cfg(void)
{
	struct hs_transport_config cfg = { .deadline_ns = 10 * NSEC_PER_SEC };
	return cfg;
}

/* Starts both nodes and runs one handshake from a to b until both have an outcome. */
static void handshake_a_to_b(struct pair *p, struct hs_transport_config cfg)
{
	CHECK(pair_start(p, cfg) == 0);
	connect_node(&p->a, &p->b);
	run_until_settled(p->loop, &p->a, &p->b, 2);
}

/* `by` refused the handshake for `reason`; the other node learned it from its verdict. */
static void check_refused(const struct pair *p, const struct node *by, enum hs_reason reason)
{
	const struct node *other = by == &p->a ? &p->b : &p->a;
	CHECK(p->a.done == 0 && p->b.done == 0);
	CHECK(by->failed == 1 && by->reason == reason && !by->by_peer);
	CHECK(other->failed == 1 && other->reason == reason && other->by_peer);
}

/* ---- transport tests ---- */

static void check_both_done(struct pair *p)
{
	CHECK(p->a.done == 1 && p->b.done == 1);
	CHECK(p->a.failed == 0 && p->b.failed == 0);
	CHECK_MEM(p->a.result.psk, p->b.result.psk, 32);
	CHECK(!sodium_is_zero(p->a.result.psk, 32));
	CHECK_MEM(p->a.result.peer_wg_public_key, p->b.local.wg_public_key, 32);
	CHECK_MEM(p->b.result.peer_wg_public_key, p->a.local.wg_public_key, 32);
	CHECK(p->a.result.peer_wg_port == p->b.local.wg_port);
	CHECK(p->b.result.peer_wg_port == p->a.local.wg_port);
}

TEST(both_accept_same_psk)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	handshake_a_to_b(&p, default_cfg());
	check_both_done(&p);
	CHECK(p.a.result.we_initiated && !p.b.result.we_initiated);
	CHECK(p.a.result.peer_attested && p.b.result.peer_attested);
	CHECK_STR(p.a.peer_addr, "127.0.0.2");
	CHECK_STR(p.b.peer_addr, "127.0.0.1");
	CHECK_STR(p.a.result.peer_tee, "sample");
	/* each side bound its own role and key; the other expected exactly that */
	CHECK(json_has(p.a.own_json, "initiator", p.a.local.wg_public_key));
	CHECK(json_has(p.b.own_json, "responder", p.b.local.wg_public_key));
	CHECK_STR(p.a.own_json, p.b.expected_json);
	CHECK_STR(p.b.own_json, p.a.expected_json);
	/* both bound the same handshake hash */
	CHECK(strncmp(strstr(p.a.own_json, "handshake_hash"), strstr(p.b.own_json, "handshake_hash"),
		      100) == 0);
	struct hs_transport_counters ca;
	hs_transport_get_counters(p.a.t, &ca);
	CHECK(ca.done == 1 && ca.failed == 0 && ca.malformed_input == 0);
	pair_stop(&p);
}

TEST(deferred_answers_and_large_evidence)
{
	/* evidence larger than one Noise message, answers given after the callbacks returned */
	struct pair p;
	pair_init(&p, true, true, true, true);
	p.a.defer_answers = p.b.defer_answers = true;
	p.a.evidence_padding = 200000;
	handshake_a_to_b(&p, default_cfg());
	check_both_done(&p);
	pair_stop(&p);
}

TEST(evidence_over_limit_refused)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	p.b.evidence_padding = 5000;
	struct hs_transport_config cfg = default_cfg();
	cfg.max_evidence = 4096;
	handshake_a_to_b(&p, cfg);
	check_refused(&p, &p.b, HS_EVIDENCE_UNAVAILABLE);
	pair_stop(&p);
}

TEST(one_rejects_both_see_reason)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	p.b.reject_peer = true;
	handshake_a_to_b(&p, default_cfg());
	check_refused(&p, &p.b, HS_VERIFICATION_FAILED);
	CHECK(!p.b.failed_initiated && p.a.failed_initiated);
	CHECK_STR(p.a.detail, "policy says no");
	pair_stop(&p);
}

/* An owner's rejection with a reason the protocol does not know goes out as verification_failed. */
TEST(unknown_reject_reason_sent_as_verification_failed)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	p.b.reject_peer = true;
	p.b.reject_reason = (enum hs_reason)200;
	handshake_a_to_b(&p, default_cfg());
	check_refused(&p, &p.b, HS_VERIFICATION_FAILED);
	pair_stop(&p);
}

TEST(replayed_evidence_fails_binding)
{
	/* evidence from an earlier handshake is bound to another handshake hash */
	struct pair p;
	pair_init(&p, true, true, true, true);
	handshake_a_to_b(&p, default_cfg());
	CHECK(p.a.done == 1 && p.b.done == 1);
	uint8_t *old = p.a.last_evidence;
	size_t old_len = p.a.last_evidence_len;
	p.a.last_evidence = NULL;
	p.a.replay = old;
	p.a.replay_len = old_len;
	connect_node(&p.a, &p.b);
	run_until_settled(p.loop, &p.a, &p.b, 4);
	CHECK(p.a.done == 1 && p.b.done == 1);
	CHECK(p.b.failed == 1 && p.b.reason == HS_VERIFICATION_FAILED && !p.b.by_peer);
	CHECK_STR(p.b.detail, "runtime data not bound");
	CHECK(p.a.failed == 1 && p.a.reason == HS_VERIFICATION_FAILED && p.a.by_peer);
	free(old);
	pair_stop(&p);
}

TEST(attestation_required_but_peer_will_not)
{
	struct pair p;
	node_init(&p.a, "127.0.0.1", false, false); /* no_ra initiator */
	node_init(&p.b, "127.0.0.2", true, true);
	handshake_a_to_b(&p, default_cfg());
	check_refused(&p, &p.b, HS_ATTESTATION_REQUIRED);
	pair_stop(&p);
}

TEST(no_ra_both_sides_still_keyed)
{
	struct pair p;
	pair_init(&p, false, false, false, false);
	handshake_a_to_b(&p, default_cfg());
	check_both_done(&p);
	CHECK(!p.a.result.peer_attested && !p.b.result.peer_attested);
	CHECK(p.a.own_json[0] == '\0' && p.b.expected_json[0] == '\0');
	pair_stop(&p);
}

TEST(one_way_attestation)
{
	/* a attests but requires nothing; b requires but does not attest */
	struct pair p;
	pair_init(&p, true, false, false, true);
	CHECK(pair_start(&p, default_cfg()) == 0);
	connect_node(&p.b, &p.a);
	run_until_settled(p.loop, &p.a, &p.b, 2);
	check_both_done(&p);
	CHECK(p.b.result.peer_attested && !p.a.result.peer_attested);
	CHECK(json_has(p.a.own_json, "responder", p.a.local.wg_public_key));
	pair_stop(&p);
}

TEST(deadline_reported_to_both)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	p.b.withhold_evidence = true;
	struct hs_transport_config cfg = default_cfg();
	cfg.deadline_ns = 300 * NSEC_PER_MSEC;
	handshake_a_to_b(&p, cfg);
	CHECK(p.a.done == 0 && p.b.done == 0);
	CHECK(p.a.failed == 1 && p.a.reason == HS_TIMEOUT);
	CHECK(p.b.failed == 1 && p.b.reason == HS_TIMEOUT);
	CHECK(!p.a.by_peer || !p.b.by_peer);
	struct hs_transport_counters ca, cb;
	hs_transport_get_counters(p.a.t, &ca);
	hs_transport_get_counters(p.b.t, &cb);
	CHECK(ca.timeouts + cb.timeouts >= 1);
	pair_stop(&p);
}

TEST(connect_failure_reported)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	CHECK(pair_start(&p, default_cfg()) == 0);
	hs_transport_free(p.b.t); /* nobody listens on b's address any more */
	p.b.t = NULL;
	connect_node(&p.a, &p.b);
	CHECK(p.a.failed == 0); /* never from inside connect */
	run_until_settled(p.loop, &p.a, &p.b, 1);
	CHECK(p.a.failed == 1 && p.a.reason == HS_CONNECT_FAILED && p.a.failed_initiated);
	pair_stop(&p);
}

TEST(simultaneous_initiation_keeps_one)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	CHECK(pair_start(&p, default_cfg()) == 0);
	connect_node(&p.a, &p.b);
	connect_node(&p.b, &p.a);
	run_until_settled(p.loop, &p.a, &p.b, 2);
	for (int i = 0; i < 20 && p.b.superseded == 0; i++)
		loop_run_once(p.loop, 25);
	check_both_done(&p);
	/* the handshake initiated by the lower address (a) survives on both nodes */
	CHECK(p.a.result.we_initiated && !p.b.result.we_initiated);
	CHECK(p.a.superseded == 0 && p.b.superseded == 1);
	struct hs_transport_counters ca, cb;
	hs_transport_get_counters(p.a.t, &ca);
	hs_transport_get_counters(p.b.t, &cb);
	CHECK(ca.superseded == 1 && cb.superseded == 1);
	pair_stop(&p);
}

TEST(simultaneous_initiation_after_incoming_started)
{
	/* b's handshake to a is under way when a starts its own: still one survivor, a's */
	struct pair p;
	pair_init(&p, true, true, true, true);
	p.a.defer_answers = p.b.defer_answers = true; /* hold b's handshake before its outcome */
	CHECK(pair_start(&p, default_cfg()) == 0);
	connect_node(&p.b, &p.a);
	for (int i = 0; i < 400 && !p.a.pending_evidence; i++)
		loop_run_once(p.loop, 25);
	CHECK(p.a.pending_evidence != NULL);
	connect_node(&p.a, &p.b);
	run_until_settled(p.loop, &p.a, &p.b, 2);
	for (int i = 0; i < 20 && (p.a.superseded == 0 || p.b.superseded == 0); i++) {
		loop_run_once(p.loop, 25);
		answer_deferred(&p.a);
		answer_deferred(&p.b);
	}
	check_both_done(&p);
	CHECK(p.a.result.we_initiated && !p.b.result.we_initiated);
	CHECK(p.a.superseded == 1 && p.b.superseded == 1);
	pair_stop(&p);
}

/* ---- hostile peers: raw sockets ---- */

static int raw_connect(const char *ip, uint16_t port)
{
	struct sockaddr_in a = addr_of(ip, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Runs the loop until fd is readable and returns what it read (0 = closed). */
static ssize_t raw_read(struct loop *loop, int fd, uint8_t *buf, size_t len)
{
	for (int i = 0; i < 200; i++) {
		loop_run_once(loop, 10);
		ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
		if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return n;
	}
	return -1;
}

static void check_dropped_on(const uint8_t *frame, size_t len)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	CHECK(pair_start(&p, default_cfg()) == 0);
	int fd = raw_connect("127.0.0.1", hs_transport_port(p.a.t));
	CHECK(fd >= 0);
	CHECK(send(fd, frame, len, 0) == (ssize_t)len);
	/* told why in an abort frame, then closed */
	uint8_t buf[256];
	size_t got = 0;
	ssize_t n;
	while ((n = raw_read(p.loop, fd, buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)n;
	CHECK(n == 0 && got == 5 && !memcmp(buf, "\0\0\0\1", 4) && buf[4] == HS_PROTOCOL_ERROR);
	struct hs_transport_counters c;
	hs_transport_get_counters(p.a.t, &c);
	CHECK(c.malformed_input == 1);
	CHECK(p.a.failed == 1 && p.a.reason == HS_PROTOCOL_ERROR && !p.a.by_peer);
	close(fd);
	/* and the node still works */
	connect_node(&p.b, &p.a);
	run_until_settled(p.loop, &p.a, &p.b, 2);
	CHECK(p.a.done == 1 && p.b.done == 1);
	pair_stop(&p);
}

TEST(oversized_frame_dropped)
{
	const uint8_t frame[] = { 0x00, 0x01, 0x00, 0x00, 0xde, 0xad }; /* 65536 bytes announced */
	check_dropped_on(frame, sizeof(frame));
}

TEST(garbage_frame_dropped)
{
	const uint8_t frame[] = { 0, 0, 0, 10, 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!', '!', '!' };
	check_dropped_on(frame, sizeof(frame));
}

TEST(degenerate_ephemeral_dropped)
{
	/* message 1 with an all-zero ephemeral key: no shared secret can come of it */
	uint8_t frame[4 + 32 + 2] = { 0, 0, 0, 34 };
	frame[36] = HS_PROTOCOL_VERSION;
	frame[37] = 3;
	check_dropped_on(frame, sizeof(frame));
}

TEST(empty_frame_dropped)
{
	const uint8_t frame[] = { 0, 0, 0, 0 };
	check_dropped_on(frame, sizeof(frame));
}

static bool refused_with(struct loop *loop, int fd, enum hs_reason reason)
{
	uint8_t buf[8];
	return raw_read(loop, fd, buf, sizeof(buf)) == 5 && !memcmp(buf, "\0\0\0\1", 4) &&
	       buf[4] == reason;
}

TEST(out_of_descriptors_pauses_and_recovers)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	CHECK(pair_start(&p, default_cfg()) == 0);
	/* a client connects while every descriptor is taken: accept fails with EMFILE */
	struct descriptor_hog hog;
	CHECK(descriptors_take_all_but_one(&hog));
	int client = raw_connect("127.0.0.1", hs_transport_port(p.a.t));
	CHECK(client >= 0);
	const uint8_t garbage[] = { 0, 0, 0, 3, 'b', 'a', 'd' };
	CHECK(send(client, garbage, sizeof(garbage), 0) == (ssize_t)sizeof(garbage));
	for (int i = 0; i < 5; i++)
		loop_run_once(p.loop, 10);
	/* descriptors come back: the queued client is served and the node works */
	CHECK(descriptors_give_back(&hog));
	CHECK(refused_with(p.loop, client, HS_PROTOCOL_ERROR));
	close(client);
	connect_node(&p.b, &p.a);
	run_until_settled(p.loop, &p.a, &p.b, 2);
	CHECK(p.a.done == 1 && p.b.done == 1);
	pair_stop(&p);
}

/* Two idle connections from 127.0.0.1 to a, then a third one that must be refused as busy
 * (returned, with the idle ones in idle[]). */
static int busy_after_two_idle(struct pair *p, int idle[2])
{
	uint16_t port = hs_transport_port(p->a.t);
	for (int i = 0; i < 2; i++) {
		idle[i] = raw_connect("127.0.0.1", port);
		CHECK(idle[i] >= 0);
	}
	for (int i = 0; i < 5; i++)
		loop_run_once(p->loop, 10);
	int third = raw_connect("127.0.0.1", port);
	CHECK(third >= 0);
	CHECK(refused_with(p->loop, third, HS_BUSY));
	return third;
}

TEST(concurrency_cap_refuses_busy)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	struct hs_transport_config cfg = default_cfg();
	cfg.max_concurrent = 2;
	cfg.max_per_source_per_second = 1000;
	CHECK(pair_start(&p, cfg) == 0);
	int idle[2], third = busy_after_two_idle(&p, idle);
	struct hs_transport_counters c;
	hs_transport_get_counters(p.a.t, &c);
	CHECK(c.rejected_busy == 1);
	/* a slot frees when an idle connection goes away */
	close(idle[0]);
	close(third);
	for (int i = 0; i < 5; i++)
		loop_run_once(p.loop, 10);
	connect_node(&p.b, &p.a);
	run_until_settled(p.loop, &p.a, &p.b, 2);
	CHECK(p.a.done == 1 && p.b.done == 1);
	close(idle[1]);
	pair_stop(&p);
}

/* One source holding its share of the responder slots is refused more; another still gets in. */
TEST(per_source_cap_leaves_room_for_others)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	struct hs_transport_config cfg = default_cfg();
	cfg.max_per_source_per_second = 1000;
	cfg.max_per_source_concurrent = 2;
	CHECK(pair_start(&p, cfg) == 0);
	int idle[2], third = busy_after_two_idle(&p, idle);
	struct hs_transport_counters c;
	hs_transport_get_counters(p.a.t, &c);
	CHECK(c.rejected_source_busy == 1 && c.rejected_busy == 0);
	/* b (127.0.0.2) is another source: its handshake to a completes meanwhile */
	connect_node(&p.b, &p.a);
	run_until_settled(p.loop, &p.a, &p.b, 2);
	CHECK(p.a.done == 1 && p.b.done == 1);
	close(third);
	close(idle[0]);
	close(idle[1]);
	pair_stop(&p);
}

/* At most max_outgoing handshakes of our own run; the next is refused at once with EBUSY. */
TEST(outgoing_cap)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	struct hs_transport_config cfg = default_cfg();
	cfg.max_outgoing = 2;
	CHECK(pair_start(&p, cfg) == 0);
	struct sockaddr_in b = addr_of(p.b.addr, 0);
	CHECK(hs_transport_connect(p.a.t, (struct sockaddr *)&b) != NULL);
	CHECK(hs_transport_connect(p.a.t, (struct sockaddr *)&b) != NULL);
	errno = 0;
	CHECK(hs_transport_connect(p.a.t, (struct sockaddr *)&b) == NULL && errno == EBUSY);
	run_until_settled(p.loop, &p.a, &p.b, 4);
	pair_stop(&p);
}

TEST(rate_limit_per_source)
{
	struct pair p;
	pair_init(&p, true, true, true, true);
	struct hs_transport_config cfg = default_cfg();
	cfg.max_per_source_per_second = 2;
	CHECK(pair_start(&p, cfg) == 0);
	uint16_t port = hs_transport_port(p.a.t);
	bool limited = false;
	for (int i = 0; i < 20 && !limited; i++) {
		int fd = raw_connect("127.0.0.1", port);
		CHECK(fd >= 0);
		uint8_t buf[8];
		ssize_t n = -1;
		for (int j = 0; j < 5 && n < 0; j++) {
			loop_run_once(p.loop, 10);
			n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		}
		limited = n == 5 && buf[4] == HS_RATE_LIMITED;
		close(fd);
	}
	CHECK(limited);
	struct hs_transport_counters c;
	hs_transport_get_counters(p.a.t, &c);
	CHECK(c.rejected_rate_limited >= 1);
	pair_stop(&p);
}

/* ---- per-source limit, on explicit clocks ---- */

TEST(source_limit_windows_and_sources)
{
	static struct source_limit l;
	uint8_t x[16] = { [10] = 0xff, [11] = 0xff, [12] = 10, [15] = 1 }, y[16];
	memcpy(y, x, 16);
	y[15] = 2;
	uint64_t t0 = 5 * NSEC_PER_SEC;
	source_limit_init(&l, 2);
	CHECK(source_limit_allow(&l, x, t0));
	CHECK(source_limit_allow(&l, x, t0 + 1));
	CHECK(!source_limit_allow(&l, x, t0 + 2));
	CHECK(source_limit_allow(&l, y, t0 + 3)); /* another source has its own window */
	CHECK(!source_limit_allow(&l, x, t0 + NSEC_PER_SEC - 1));
	CHECK(source_limit_allow(&l, x, t0 + NSEC_PER_SEC)); /* a new window */
	/* a table full of other sources: the oldest window gives way, x starts afresh */
	for (unsigned i = 0; i < SOURCE_LIMIT_SLOTS; i++) {
		uint8_t z[16] = { 0x20, 0x01, [14] = (uint8_t)(i >> 8), [15] = (uint8_t)i };
		CHECK(source_limit_allow(&l, z, t0 + NSEC_PER_SEC + 10 + i));
	}
	CHECK(source_limit_allow(&l, x, t0 + NSEC_PER_SEC + 1000));
	CHECK(source_limit_allow(&l, x, t0 + NSEC_PER_SEC + 1001));
	CHECK(!source_limit_allow(&l, x, t0 + NSEC_PER_SEC + 1002));
}

/* ---- message encodings ---- */

TEST(evidence_message_round_trip_and_refusals)
{
	const uint8_t ev[] = "quote", add[] = "gpu";
	struct hs_evidence_msg m = { .tee = "tdx", .evidence = ev, .evidence_len = 5,
				     .additional = add, .additional_len = 3, .wg_port = 51820 };
	memset(m.wg_public_key, 7, 32);
	uint8_t buf[128];
	size_t n = hs_evidence_encoded_len(&m);
	CHECK(n <= sizeof(buf) && n <= hs_evidence_max_len(8));
	hs_evidence_encode(&m, buf);
	struct hs_evidence_msg d;
	CHECK(hs_evidence_decode(buf, n, 8, &d) == 0); /* 5 + 3 bytes: just within */
	CHECK_STR(d.tee, "tdx");
	CHECK(d.evidence_len == 5 && !memcmp(d.evidence, "quote", 5));
	CHECK(d.additional_len == 3 && !memcmp(d.additional, "gpu", 3));
	CHECK(d.wg_port == 51820 && d.wg_public_key[31] == 7);
	CHECK(hs_evidence_decode(buf, n, 7, &d) != 0);     /* one byte over the limit */
	CHECK(hs_evidence_decode(buf, n, 4, &d) != 0);     /* the evidence alone is over */
	CHECK(hs_evidence_decode(buf, n - 1, 8, &d) != 0); /* truncated */
	for (size_t cut = 0; cut < n; cut++)
		CHECK(hs_evidence_decode(buf, cut, 1 << 20, &d) != 0);
	uint8_t longer[129];
	memcpy(longer, buf, n);
	longer[n] = 0;
	CHECK(hs_evidence_decode(longer, n + 1, 8, &d) != 0); /* trailing byte */
	buf[3] = ' ';
	CHECK(hs_evidence_decode(buf, n, 8, &d) != 0); /* a TEE name with a space */
	buf[3] = 'x';
	buf[5] = 0xff; /* evidence length 0xff000005: far beyond the buffer */
	CHECK(hs_evidence_decode(buf, n, (size_t)-1, &d) != 0);
}

TEST(verdict_and_hello_encodings)
{
	struct hs_verdict_msg v = { .reason = HS_VERIFICATION_FAILED }, d;
	uint8_t buf[HS_VERDICT_MAX_LEN];
	snprintf(v.detail, sizeof(v.detail), "policy cpu0 \x01 failed");
	size_t n = hs_verdict_encode(&v, buf);
	CHECK(hs_verdict_decode(buf, n, &d) == 0);
	CHECK(d.reason == HS_VERIFICATION_FAILED);
	CHECK_STR(d.detail, "policy cpu0 ? failed"); /* control bytes never reach a log */
	CHECK(hs_verdict_decode(buf, n - 1, &d) != 0);
	buf[0] = HS_MSG_EVIDENCE;
	CHECK(hs_verdict_decode(buf, n, &d) != 0);

	struct hs_hello h = { .version = 1, .will_attest = true }, hd;
	uint8_t hb[HS_HELLO_LEN + 1];
	hs_hello_encode(&h, hb);
	CHECK(hs_hello_decode(hb, HS_HELLO_LEN, 1, &hd) == 0);
	CHECK(hd.version == 1 && hd.will_attest && !hd.requires_peer_evidence);
	CHECK(hs_hello_decode(hb, HS_HELLO_LEN + 1, 1, &hd) != 0);
	CHECK(hs_hello_decode(hb, 0, 1, &hd) != 0);
	hb[0] = 9; /* another version: reported as is, whatever follows */
	CHECK(hs_hello_decode(hb, 1, 1, &hd) == 0 && hd.version == 9);
	CHECK_STR(hs_reason_name(HS_SUPERSEDED), "superseded");
	CHECK_STR(hs_reason_name((enum hs_reason)200), "unknown");
}

/* ---- sessions without sockets ---- */

struct sess_owner {
	struct hs_session *s;
	char json[256];
};

static void sess_need_evidence(void *ctx, const char *json)
{
	struct sess_owner *o = ctx;
	snprintf(o->json, sizeof(o->json), "%s", json);
	hs_session_provide_evidence(o->s, "sample", (const uint8_t *)json, strlen(json), NULL, 0);
}

static void sess_need_verification(void *ctx, const char *tee, const uint8_t *ev, size_t len,
				   const uint8_t *add, size_t add_len, const char *expected)
{
	struct sess_owner *o = ctx;
	bool ok = len == strlen(expected) && !memcmp(ev, expected, len);
	hs_session_provide_verdict(o->s, ok, HS_VERIFICATION_FAILED, "mismatch");
}

static const struct hs_session_ops sess_ops = { sess_need_evidence, sess_need_verification };

/* Moves output between the sessions, delivered in pieces of `piece` bytes. */
static void pump(struct hs_session *a, struct hs_session *b, size_t piece)
{
	for (int round = 0; round < 1000000; round++) {
		size_t la, lb;
		const uint8_t *oa = hs_session_output(a, &la);
		hs_session_output(b, &lb);
		if (!la && !lb)
			return;
		if (la) {
			size_t n = la < piece ? la : piece;
			hs_session_receive(b, oa, n);
			hs_session_output_consumed(a, n);
		}
		/* b's output may have moved while it received */
		const uint8_t *ob = hs_session_output(b, &lb);
		if (lb) {
			size_t n = lb < piece ? lb : piece;
			hs_session_receive(a, ob, n);
			hs_session_output_consumed(b, n);
		}
	}
}

/* A session pair attesting both ways; or, without r_attests, only the initiator attests (and
 * requires nothing). The responder may have its own evidence limit. */
static void sess_pair_limits(struct sess_owner *i, struct sess_owner *r, uint8_t vi, uint8_t vr,
			     size_t max_evidence_r, bool r_attests)
{
	struct hs_session_config ci = { .initiator = true, .version = vi };
	struct hs_session_config cr = { .initiator = false, .version = vr,
					.max_evidence = max_evidence_r };
	ci.local.will_attest = ci.local.requires_peer_evidence = true;
	cr.local = ci.local;
	cr.local.will_attest = ci.local.requires_peer_evidence = r_attests;
	randombytes_buf(ci.static_private, 32);
	randombytes_buf(cr.static_private, 32);
	randombytes_buf(ci.local.wg_public_key, 32);
	randombytes_buf(cr.local.wg_public_key, 32);
	memset(i, 0, sizeof(*i));
	memset(r, 0, sizeof(*r));
	i->s = hs_session_new(&ci, &sess_ops, i);
	r->s = hs_session_new(&cr, &sess_ops, r);
}

static void sess_pair(struct sess_owner *i, struct sess_owner *r, uint8_t vi, uint8_t vr)
{
	sess_pair_limits(i, r, vi, vr, 0, true);
}

TEST(session_peer_evidence_over_our_limit)
{
	/* the initiator's evidence (its runtime data JSON, about 200 bytes) exceeds the
	 * responder's limit: the responder refuses and says why */
	struct sess_owner i, r;
	sess_pair_limits(&i, &r, 0, 0, 64, false);
	pump(i.s, r.s, 4096);
	CHECK(hs_session_state(r.s) == HS_SESSION_FAILED && hs_session_failed_on_input(r.s));
	CHECK(hs_session_reason(r.s) == HS_PROTOCOL_ERROR && !hs_session_reported_by_peer(r.s));
	CHECK(hs_session_state(i.s) == HS_SESSION_FAILED && hs_session_reported_by_peer(i.s));
	CHECK(hs_session_reason(i.s) == HS_PROTOCOL_ERROR);
	CHECK(strstr(hs_session_detail(i.s), "evidence limit 64") != NULL);
	hs_session_free(i.s);
	hs_session_free(r.s);
}

TEST(session_byte_by_byte)
{
	struct sess_owner i, r;
	sess_pair(&i, &r, 0, 0);
	pump(i.s, r.s, 1);
	CHECK(hs_session_state(i.s) == HS_SESSION_DONE && hs_session_state(r.s) == HS_SESSION_DONE);
	CHECK_MEM(hs_session_result(i.s)->psk, hs_session_result(r.s)->psk, 32);
	CHECK(hs_session_result(i.s)->we_initiated && !hs_session_result(r.s)->we_initiated);
	hs_session_free(i.s);
	hs_session_free(r.s);
}

TEST(session_version_mismatch)
{
	struct sess_owner i, r;
	sess_pair(&i, &r, 2, 0); /* the initiator speaks a future version */
	pump(i.s, r.s, 4096);
	CHECK(hs_session_state(r.s) == HS_SESSION_FAILED);
	CHECK(hs_session_reason(r.s) == HS_VERSION_MISMATCH && !hs_session_reported_by_peer(r.s));
	CHECK(hs_session_state(i.s) == HS_SESSION_FAILED);
	CHECK(hs_session_reason(i.s) == HS_VERSION_MISMATCH && hs_session_reported_by_peer(i.s));
	hs_session_free(i.s);
	hs_session_free(r.s);

	sess_pair(&i, &r, 0, 3); /* the responder does */
	pump(i.s, r.s, 4096);
	CHECK(hs_session_reason(r.s) == HS_VERSION_MISMATCH && !hs_session_reported_by_peer(r.s));
	CHECK(hs_session_reason(i.s) == HS_VERSION_MISMATCH && hs_session_reported_by_peer(i.s));
	CHECK(strstr(hs_session_detail(r.s), "version 1") != NULL);
	hs_session_free(i.s);
	hs_session_free(r.s);
}

TEST(session_tampered_transport_message)
{
	struct sess_owner i, r;
	sess_pair(&i, &r, 0, 0);
	/* messages 1 and 2 */
	for (int k = 0; k < 2; k++) {
		size_t n;
		const uint8_t *o = hs_session_output(k ? r.s : i.s, &n);
		hs_session_receive(k ? i.s : r.s, o, n);
		hs_session_output_consumed(k ? r.s : i.s, n);
	}
	/* the initiator now sent message 3 and its evidence: flip a byte in the last frame */
	size_t n;
	uint8_t *o = (uint8_t *)hs_session_output(i.s, &n);
	CHECK(n > 40);
	o[n - 3] ^= 0x40;
	hs_session_receive(r.s, o, n);
	CHECK(hs_session_state(r.s) == HS_SESSION_FAILED && hs_session_failed_on_input(r.s));
	CHECK(hs_session_reason(r.s) == HS_PROTOCOL_ERROR);
	hs_session_free(i.s);
	hs_session_free(r.s);
}

/* A peer speaking the protocol by hand: frames payload to the session. */
static void feed_frame(struct hs_session *s, const uint8_t *payload, size_t len)
{
	uint8_t hdr[4] = { (uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len };
	hs_session_receive(s, hdr, 4);
	hs_session_receive(s, payload, len);
}

/* Completes Noise as initiator against responder r (which neither attests nor requires
 * evidence); send is our transport cipher. */
static void hand_made_initiator(struct hs_session *r, struct noise_cipher *send)
{
	struct noise_xx x;
	struct noise_cipher recv;
	uint8_t key[32], buf[512], payload[512], hello[HS_HELLO_LEN] = { HS_PROTOCOL_VERSION, 0 };
	size_t len, plen;
	randombytes_buf(key, sizeof(key));
	noise_xx_init(&x, true, (const uint8_t *)"tng-wg/1", 8, key, NULL, NULL);
	CHECK(noise_xx_write_message(&x, hello, sizeof(hello), buf, sizeof(buf), &len) == 0);
	feed_frame(r, buf, len);
	const uint8_t *out = hs_session_output(r, &len);
	CHECK(len > 4 && noise_xx_read_message(&x, out + 4, len - 4, payload, sizeof(payload), &plen) == 0);
	hs_session_output_consumed(r, len);
	CHECK(noise_xx_write_message(&x, NULL, 0, buf, sizeof(buf), &len) == 0);
	feed_frame(r, buf, len);
	noise_xx_split(&x, send, &recv);
	noise_xx_wipe(&x);
}

/* Each chunk before the last is full, so a message costs at most one frame per 64 KiB: a peer
 * cannot keep the responder decrypting empty or tiny chunks for the whole deadline. */
TEST(session_short_chunk_before_the_last_dropped)
{
	for (size_t data = 0; data < 2; data++) {
		struct hs_session_config cr = { .initiator = false };
		randombytes_buf(cr.static_private, 32);
		struct sess_owner r = { 0 };
		r.s = hs_session_new(&cr, &sess_ops, &r);
		struct noise_cipher send;
		hand_made_initiator(r.s, &send);
		CHECK(hs_session_state(r.s) == HS_SESSION_RUNNING);
		uint8_t chunk[2] = { 1, HS_MSG_EVIDENCE }, frame[2 + NOISE_TAGLEN];
		for (int k = 0; k < 3 && hs_session_state(r.s) == HS_SESSION_RUNNING; k++) {
			CHECK(noise_cipher_encrypt(&send, NULL, 0, chunk, 1 + data, frame) == 0);
			feed_frame(r.s, frame, 1 + data + NOISE_TAGLEN);
		}
		CHECK(hs_session_state(r.s) == HS_SESSION_FAILED && hs_session_failed_on_input(r.s));
		CHECK(hs_session_reason(r.s) == HS_PROTOCOL_ERROR);
		hs_session_free(r.s);
	}
}

int main(void)
{
	TEST_BEGIN("handshake");
	if (sodium_init() < 0)
		return 1;
	RUN(session_byte_by_byte);
	RUN(session_peer_evidence_over_our_limit);
	RUN(session_version_mismatch);
	RUN(session_tampered_transport_message);
	RUN(session_short_chunk_before_the_last_dropped);
	RUN(both_accept_same_psk);
	RUN(deferred_answers_and_large_evidence);
	RUN(evidence_over_limit_refused);
	RUN(one_rejects_both_see_reason);
	RUN(unknown_reject_reason_sent_as_verification_failed);
	RUN(replayed_evidence_fails_binding);
	RUN(attestation_required_but_peer_will_not);
	RUN(no_ra_both_sides_still_keyed);
	RUN(one_way_attestation);
	RUN(deadline_reported_to_both);
	RUN(connect_failure_reported);
	RUN(simultaneous_initiation_keeps_one);
	RUN(simultaneous_initiation_after_incoming_started);
	RUN(source_limit_windows_and_sources);
	RUN(evidence_message_round_trip_and_refusals);
	RUN(verdict_and_hello_encodings);
	RUN(oversized_frame_dropped);
	RUN(garbage_frame_dropped);
	RUN(empty_frame_dropped);
	RUN(degenerate_ephemeral_dropped);
	RUN(out_of_descriptors_pauses_and_recovers);
	RUN(concurrency_cap_refuses_busy);
	RUN(per_source_cap_leaves_room_for_others);
	RUN(outgoing_cap);
	RUN(rate_limit_per_source);
	TEST_END();
}
