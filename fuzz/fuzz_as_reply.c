/*
 * The Attestation Service's HTTP replies as the verifier takes them (attest/verifier.c over
 * attest/as_client.c and libcurl, then token.c, trust.c, jwk.c): the token answering POST
 * /attestation (with the retry in the flat pre-v0.14 schema when the AS asks for it), the anchors
 * from GET /certificate and GET /.well-known/jwks.json, HTTP errors and broken replies. The
 * harness serves the AS on loopback from the same loop. Input: a flags byte (bit 0: the CA is
 * configured as trusted_certs_paths; bit 1: skip_as_token_cert_verify; else anchors come from
 * the AS; bit 2: runtime data expected; bit 3: two policy ids), then replies, each a kind byte
 * whose high bits name the path it answers (0 /attestation, 1 /certificate, 2 jwks) and whose
 * low bits say what it is:
 *   0 HTTP 200 with a body from the input      1 another status (from the input) and a body
 *   2 HTTP 200 with a token the harness signs (a header and a payload from the input)
 *   3 raw bytes from the input, then the connection closes
 *   4 HTTP 200 with the harness's CA certificate  5 HTTP 200 with a JWKS of its signing key
 * Requests on a path whose replies are spent find the connection closed. Checks: the verdict
 * comes exactly once, with a known reason and a detail.
 */
#include "attest/verifier.h"
#include "common/loop.h"
#include "fuzz/as_signer.h"
#include "fuzz/fuzz.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdlib.h>

#define REPLIES_PER_PATH 4
#define MAX_CONNS 8

enum path { PATH_ATTESTATION, PATH_CERTIFICATE, PATH_JWKS, PATHS };

struct reply {
	uint8_t kind;
	uint16_t status;
	const uint8_t *a, *b; /* body, or token header and payload */
	size_t a_len, b_len;
};

static struct loop *loop;
static int listen_fd = -1;
static char as_addr[64], ca_file[64];
static struct fuzz_signer signer;
static char *jwks_text;
static cJSON *runtime_data;

static struct conn {
	int fd;
	char *in;
	size_t in_len, in_cap;
} conns[MAX_CONNS];

static struct {
	struct reply replies[PATHS][REPLIES_PER_PATH];
	size_t n[PATHS], next[PATHS];
} as;

static int verdicts;

static void on_accept(void *ctx, int fd, unsigned events);

static void cleanup(void)
{
	unlink(ca_file);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	fuzz_private_network();
	fuzz_signer_init(&signer);
	cJSON *jwks = cJSON_CreateObject();
	cJSON_AddItemToArray(cJSON_AddArrayToObject(jwks, "keys"), fuzz_signer_jwk(&signer, false));
	jwks_text = cJSON_PrintUnformatted(jwks);
	cJSON_Delete(jwks);
	runtime_data = cJSON_Parse("{\"tng-wg\":1,\"role\":\"responder\",\"handshake_hash\":\"aGg=\","
				   "\"wg_public_key\":\"a2V5\"}");
	snprintf(ca_file, sizeof(ca_file), "/tmp/tngwg-fuzz-ca.XXXXXX");
	int ca = mkstemp(ca_file);
	if (ca < 0 || write(ca, FUZZ_CA_PEM, strlen(FUZZ_CA_PEM)) != (ssize_t)strlen(FUZZ_CA_PEM))
		fuzz_fail("cannot write the CA file");
	close(ca);
	atexit(cleanup);

	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!(loop = loop_new()) || listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(listen_fd, 64) < 0 || getsockname(listen_fd, (struct sockaddr *)&a, &alen) < 0 ||
	    loop_watch(loop, listen_fd, LOOP_READ, on_accept, NULL) < 0)
		fuzz_fail("cannot serve the AS");
	snprintf(as_addr, sizeof(as_addr), "http://127.0.0.1:%u", ntohs(a.sin_port));
	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;
	return 0;
}

/* ---- the AS ---- */

static void conn_close(struct conn *c)
{
	loop_unwatch(loop, c->fd);
	close(c->fd);
	c->fd = -1;
	c->in_len = 0;
}

static void write_all(struct conn *c, const void *p, size_t len)
{
	/* Replies are small next to a loopback socket's buffer; a client gone away is fine. */
	if (send(c->fd, p, len, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
		fuzz_fail("the AS cannot write");
}

static void answer(struct conn *c, const struct reply *r)
{
	static const uint16_t statuses[] = { 200, 400, 401, 404, 500, 502, 503, 204, 301 };
	uint16_t status = 200;
	const void *body = r->a;
	size_t body_len = r->a_len;
	char *signed_token = NULL;
	switch (r->kind % 6) {
	case 1: status = statuses[r->status % (sizeof(statuses) / sizeof(statuses[0]))]; break;
	case 2: {
		char *header = fuzz_token_header(&signer, r->a, r->a_len, true);
		body = signed_token = fuzz_sign_jws(&signer, header, r->b, r->b_len);
		body_len = strlen(signed_token);
		free(header);
		break;
	}
	case 3:
		write_all(c, r->a, r->a_len);
		conn_close(c);
		return;
	case 4: body = FUZZ_CA_PEM; body_len = strlen(FUZZ_CA_PEM); break;
	case 5: body = jwks_text; body_len = strlen(jwks_text); break;
	default: break;
	}
	char head[128];
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %u Fuzz\r\nContent-Length: %zu\r\n\r\n", status, body_len);
	write_all(c, head, (size_t)n);
	write_all(c, body, body_len);
	free(signed_token);
}

static enum path request_path(const char *req)
{
	if (!strncmp(req, "GET /certificate ", 17))
		return PATH_CERTIFICATE;
	if (!strncmp(req, "GET /.well-known/jwks.json ", 27))
		return PATH_JWKS;
	return PATH_ATTESTATION;
}

/* Requests are whole once their headers and Content-Length bytes are in. */
static void serve(struct conn *c)
{
	for (;;) {
		char *end = c->in_len ? memmem(c->in, c->in_len, "\r\n\r\n", 4) : NULL;
		if (!end)
			return;
		*end = 0;
		const char *cl = strcasestr(c->in, "\r\nContent-Length:");
		size_t body = cl ? strtoul(cl + 17, NULL, 10) : 0;
		size_t whole = (size_t)(end + 4 - c->in) + body;
		if (c->in_len < whole) {
			*end = '\r';
			return;
		}
		enum path p = request_path(c->in);
		memmove(c->in, c->in + whole, c->in_len - whole);
		c->in_len -= whole;
		if (as.next[p] == as.n[p]) {
			conn_close(c); /* nothing more to say on this path */
			return;
		}
		answer(c, &as.replies[p][as.next[p]++]);
		if (c->fd < 0)
			return;
	}
}

static void on_conn(void *ctx, int fd, unsigned events)
{
	struct conn *c = ctx;
	for (;;) {
		if (c->in_cap - c->in_len < 4096) {
			char *grown = realloc(c->in, c->in_cap + 65536);
			if (!grown)
				abort();
			c->in = grown;
			c->in_cap += 65536;
		}
		ssize_t n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len - 1, 0);
		if (n > 0) {
			c->in_len += (size_t)n;
			continue;
		}
		if (n == 0 || errno != EAGAIN) {
			conn_close(c);
			return;
		}
		break;
	}
	serve(c);
}

static void on_accept(void *ctx, int fd, unsigned events)
{
	int cfd;
	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct conn *c = NULL;
		for (int i = 0; i < MAX_CONNS && !c; i++)
			if (conns[i].fd < 0)
				c = &conns[i];
		if (!c) {
			close(cfd);
			continue;
		}
		/* Headers and body go out in two writes: without this, Nagle holds the second back
		 * until the client's delayed ACK, 40 ms per reply. */
		int on = 1;
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		c->fd = cfd;
		c->in_len = 0;
		loop_watch(loop, cfd, LOOP_READ, on_conn, c);
	}
}

/* ---- the verifier ---- */

static void on_verdict(void *ctx, const struct verdict *v)
{
	verdicts++;
	if (v->reason > VERDICT_NO_TRUST_ANCHOR || !v->detail || !strcmp(verdict_reason_name(v->reason), "unknown"))
		fuzz_fail("a verdict without a known reason or a detail");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = { data, size };
	memset(&as, 0, sizeof(as));
	uint8_t flags = fuzz_u8(&in);
	while (in.len) {
		uint8_t kind = fuzz_u8(&in);
		enum path p = (enum path)((kind >> 4) % PATHS);
		struct reply r = { .kind = kind & 0x0f, .status = fuzz_u8(&in) };
		r.a = fuzz_piece(&in, &r.a_len);
		if (r.kind % 6 == 2)
			r.b = fuzz_piece(&in, &r.b_len);
		if (as.n[p] < REPLIES_PER_PATH)
			as.replies[p][as.n[p]++] = r;
	}

	static const char *const policies[] = { "default", "tdx" };
	const char *const ca[] = { ca_file };
	struct verifier_config cfg = {
		.as_addr = as_addr, .policy_ids = policies, .n_policy_ids = flags & 8 ? 2 : 1,
		.trusted_certs_paths = ca, .n_trusted_certs = flags & 1 ? 1 : 0,
		.timeout_ns = 5 * NSEC_PER_SEC, .skip_token_cert_verify = flags & 2,
	};
	char err[256];
	struct verifier *v = verifier_new(loop, &cfg, err, sizeof(err));
	if (!v)
		fuzz_fail(err);
	verdicts = 0;
	static const uint8_t evidence[] = "{\"svn\":\"1\",\"report_data\":\"AAAA\"}";
	if (!verifier_appraise(v, "sample", evidence, sizeof(evidence) - 1, (const uint8_t *)"{}", 2,
			       flags & 4 ? runtime_data : NULL, on_verdict, NULL))
		fuzz_fail("cannot start an appraisal");
	for (int i = 0; i < 2000 && !verdicts; i++)
		loop_run_once(loop, 100);
	if (verdicts != 1)
		fuzz_fail("the appraisal did not end exactly once");
	verifier_free(v);
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			conn_close(&conns[i]);
	return 0;
}
