/*
 * The Attestation Agent client (attest/aa_client.c over attest/ttrpc.c): ttrpc frame decoding on
 * a real unix-socket connection and the AA's protobuf answers. The harness serves the agent's
 * socket on the same loop; each input is a flags byte and up to four segments (a 16-bit length
 * and the bytes), and segment i is what the "agent" writes after it has read the client's i-th
 * request frame: whole response frames, pieces of them, other streams, garbage. When the
 * segments are spent and nothing moves any more, the agent hangs up. The same segments also go
 * to the frame and message decoders directly. Checks: the request ends exactly once, and a
 * success carries a TEE name and evidence.
 */
#include "attest/aa_client.h"
#include "attest/ttrpc.h"
#include "common/loop.h"
#include "fuzz/fuzz.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/un.h>

#define SEGMENTS 4

static struct loop *loop;
static char socket_dir[64], socket_path[108];
static int listen_fd = -1, conn_fd = -1;
static int outcomes;

static struct {
	const uint8_t *data[SEGMENTS];
	size_t len[SEGMENTS], n, next;
	uint8_t in[1 << 16]; /* request bytes not yet parsed */
	size_t in_len;
	bool progressed;
} agent;

static void remove_socket(void)
{
	unlink(socket_path);
	rmdir(socket_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	snprintf(socket_dir, sizeof(socket_dir), "/tmp/tngwg-fuzz-ttrpc.XXXXXX");
	if (!mkdtemp(socket_dir) || !(loop = loop_new()))
		fuzz_fail("setup");
	snprintf(socket_path, sizeof(socket_path), "%s/aa.sock", socket_dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen_fd, 8) < 0)
		fuzz_fail("cannot listen");
	atexit(remove_socket);
	return 0;
}

static void agent_step(void)
{
	if (conn_fd < 0) {
		conn_fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (conn_fd < 0)
			return;
		agent.progressed = true;
	}
	ssize_t n;
	while (agent.in_len < sizeof(agent.in) &&
	       (n = recv(conn_fd, agent.in + agent.in_len, sizeof(agent.in) - agent.in_len, 0)) > 0) {
		agent.in_len += (size_t)n;
		agent.progressed = true;
	}
	/* One segment per complete request frame read. */
	struct ttrpc_header h;
	while (agent.in_len >= TTRPC_HEADER_LEN && ttrpc_header_decode(agent.in, &h) == 0 &&
	       agent.in_len - TTRPC_HEADER_LEN >= h.length) {
		size_t used = TTRPC_HEADER_LEN + h.length;
		memmove(agent.in, agent.in + used, agent.in_len - used);
		agent.in_len -= used;
		if (agent.next < agent.n) {
			size_t i = agent.next++;
			if (send(conn_fd, agent.data[i], agent.len[i], MSG_NOSIGNAL) < 0 && errno != EPIPE &&
			    errno != ECONNRESET)
				fuzz_fail("agent cannot write");
		}
	}
}

static void done(void *ctx, const struct evidence_result *r)
{
	outcomes++;
	if (!r->error && (!r->tee || !r->tee[0] || !r->evidence || !r->evidence_len))
		fuzz_fail("a success without a TEE name or evidence");
	if (r->error && (!r->message || !r->message[0]))
		fuzz_fail("a failure without a message");
}

static void decode_directly(const uint8_t *p, size_t len)
{
	struct ttrpc_header h;
	struct ttrpc_reply reply;
	uint8_t *evidence;
	size_t evidence_len;
	char *tee;
	if (len >= TTRPC_HEADER_LEN && ttrpc_header_decode(p, &h) == 0 &&
	    ttrpc_reply_decode(p + TTRPC_HEADER_LEN, len - TTRPC_HEADER_LEN, &reply) == 0)
		ttrpc_reply_clear(&reply);
	if (aa_decode_evidence(p, len, &evidence, &evidence_len) == 0)
		free(evidence);
	if (aa_decode_tee_type(p, len, &tee) == 0)
		free(tee);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	memset(&agent, 0, sizeof(agent));
	uint8_t flags = fuzz_u8(&in);
	while (in.len && agent.n < SEGMENTS) {
		agent.data[agent.n] = fuzz_piece(&in, &agent.len[agent.n]);
		decode_directly(agent.data[agent.n], agent.len[agent.n]);
		agent.n++;
	}

	struct aa_client *aa = aa_client_new(loop, socket_path);
	static const uint8_t runtime_data[48] = { 1, 2, 3 };
	outcomes = 0;
	/* Two requests on one client when asked: the second reuses the cached TEE type. */
	int requests = flags & 1 ? 2 : 1;
	for (int r = 0; r < requests; r++) {
		int before = outcomes;
		if (!aa_client_get_evidence(aa, runtime_data, sizeof(runtime_data),
					    loop_now_ns() + 10 * NSEC_PER_SEC, done, NULL))
			fuzz_fail("cannot start a request");
		int idle = 0;
		for (int i = 0; i < 1000 && outcomes == before; i++) {
			agent.progressed = false;
			loop_run_once(loop, 0);
			agent_step();
			if (!agent.progressed && ++idle > 3 && conn_fd >= 0) {
				close(conn_fd); /* the agent hangs up */
				conn_fd = -1;
			}
		}
		if (outcomes != before + 1)
			fuzz_fail("a request did not end exactly once");
	}
	aa_client_free(aa);
	if (conn_fd >= 0)
		close(conn_fd);
	conn_fd = -1;
	for (int i = 0; i < 3; i++)
		loop_run_once(loop, 0); /* the client's last deliveries, if any */
	return 0;
}
