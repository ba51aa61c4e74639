/*
 * The verifier and its AS client on a real loop against an HTTP server in this process (loopback):
 * the request bodies of both schemas and the fallback between them, headers, anchors fetched from
 * the AS, failures mapped to reasons, cancellation, and freeing the verifier from a callback.
 * The served token is a real Trustee token (vectors/tng/ear.jwt), expired by now, so a verdict of
 * token-expired proves every check before exp passed.
 */
#include "attest/b64.h"
#include "attest/jcs.h"
#include "attest/verifier.h"
#include "common/loop.h"
#include "tests/unit/test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *vectors(void)
{
	const char *dir = getenv("TNGWG_VECTORS");
	return dir ? dir : "/work/shared/vectors";
}

static char *slurp(const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", vectors(), rel);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return strdup(buf);
}

/* ---- a tiny HTTP server on the loop ---- */

#define MAX_SEEN 8
struct server {
	struct loop *loop;
	int lfd;
	int port;
	char addr[64];
	/* replies, consumed in order per route; NULL = never answer */
	const char *attestation[4];
	int n_attestation;
	const char *certificate;
	const char *jwks;
	char *seen[MAX_SEEN];          /* every request received, whole */
	int n_seen;
	int held[8];                   /* connections left unanswered */
	int n_held;
};

struct conn {
	struct server *s;
	int fd;
	char buf[1 << 16];
	size_t len;
};

static const char *route(struct server *s, const char *req)
{
	if (!strncmp(req, "POST /attestation ", 18))
		return s->n_attestation ? s->attestation[0] : "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
	if (!strncmp(req, "GET /certificate ", 17) && s->certificate)
		return s->certificate;
	if (!strncmp(req, "GET /.well-known/jwks.json ", 27) && s->jwks)
		return s->jwks;
	return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
}

static bool request_complete(const struct conn *c)
{
	const char *end = strstr(c->buf, "\r\n\r\n");
	const char *cl = strcasestr(c->buf, "Content-Length:");
	if (!end)
		return false;
	size_t body = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
	return c->len >= (size_t)(end + 4 - c->buf) + body;
}

static void on_conn(void *ctx, int fd, unsigned ev)
{
	struct conn *c = ctx;
	struct server *s = c->s;
	ssize_t n = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n > 0) {
		c->len += (size_t)n;
		c->buf[c->len] = 0;
		if (!request_complete(c))
			return;
		if (s->n_seen < MAX_SEEN)
			s->seen[s->n_seen++] = strdup(c->buf);
		const char *reply = route(s, c->buf);
		if (!strncmp(c->buf, "POST /attestation ", 18) && s->n_attestation > 1) {
			memmove(s->attestation, s->attestation + 1, sizeof(s->attestation[0]) * 3);
			s->n_attestation--;
		}
		if (!reply) {
			loop_unwatch(s->loop, fd);
			s->held[s->n_held++] = fd;
			free(c);
			return;
		}
		if (write(fd, reply, strlen(reply)) < 0)
			perror("write");
	}
	loop_unwatch(s->loop, fd);
	close(fd);
	free(c);
}

static void on_accept(void *ctx, int fd, unsigned ev)
{
	struct server *s = ctx;
	int cfd = accept(fd, NULL, NULL);
	if (cfd < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	c->s = s;
	c->fd = cfd;
	loop_watch(s->loop, cfd, LOOP_READ, on_conn, c);
}

static void server_start(struct server *s, struct loop *loop)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	CHECK(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	CHECK(listen(s->lfd, 16) == 0);
	getsockname(s->lfd, (struct sockaddr *)&a, &alen);
	s->port = ntohs(a.sin_port);
	snprintf(s->addr, sizeof(s->addr), "http://127.0.0.1:%d/", s->port);
	loop_watch(loop, s->lfd, LOOP_READ, on_accept, s);
}

static void server_stop(struct server *s)
{
	if (s->lfd >= 0) {
		loop_unwatch(s->loop, s->lfd);
		close(s->lfd);
	}
	for (int i = 0; i < s->n_held; i++)
		close(s->held[i]);
	for (int i = 0; i < s->n_seen; i++)
		free(s->seen[i]);
}

/* ---- verdict collection ---- */

struct outcome {
	int calls;
	enum verdict_reason reason;
	char detail[512];
	struct verifier **free_me;   /* free this verifier from inside the callback */
};

static void on_verdict(void *ctx, const struct verdict *v)
{
	struct outcome *o = ctx;
	o->calls++;
	o->reason = v->reason;
	snprintf(o->detail, sizeof(o->detail), "%s", v->detail);
	if (o->free_me) {
		verifier_free(*o->free_me);
		*o->free_me = NULL;
	}
}

static void run_until(struct loop *loop, const int *calls, int want, int max_ms)
{
	for (int waited = 0; *calls < want && waited < max_ms; waited += 20)
		loop_run_once(loop, 20);
}

static const uint8_t evidence[] = "{\"svn\":\"1\",\"report_data\":\"AAAA\"}";

static cJSON *runtime_data(void)
{
	return cJSON_Parse("{\"tng-wg\":1,\"role\":\"initiator\",\"handshake_hash\":\"aA==\"}");
}

static struct verifier *make_verifier(struct loop *loop, struct server *s, bool with_anchor,
				      uint64_t timeout_ns)
{
	static char ca_path[512];
	static const char *certs[1], *policies[] = { "default" }, *headers[] = { "Authorization: Bearer t0k" };
	snprintf(ca_path, sizeof(ca_path), "%s/tng/ear.as-ca.pem", vectors());
	certs[0] = ca_path;
	struct verifier_config cfg = {
		.as_addr = s->addr, .as_headers = headers, .n_headers = 1, .policy_ids = policies,
		.n_policy_ids = 1, .trusted_certs_paths = certs, .n_trusted_certs = with_anchor ? 1 : 0,
		.timeout_ns = timeout_ns,
	};
	char err[256];
	struct verifier *v = verifier_new(loop, &cfg, err, sizeof(err));
	if (!v)
		fprintf(stderr, "  verifier_new: %s\n", err);
	return v;
}

static const cJSON *body_of(const char *request, cJSON **doc)
{
	const char *body = strstr(request, "\r\n\r\n");
	*doc = body ? cJSON_Parse(body + 4) : NULL;
	return *doc;
}

/* A loop, a server and (once fixture_verifier ran) a verifier; everything freed by fixture_end. */
struct fixture {
	struct loop *loop;
	struct server s;
	struct verifier *v;
	char *owned[8];
	int n_owned;
};

static void fixture_begin(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->loop = loop_new();
	server_start(&f->s, f->loop);
}

static void fixture_verifier(struct fixture *f, bool with_anchor, uint64_t timeout_ns)
{
	f->v = make_verifier(f->loop, &f->s, with_anchor, timeout_ns);
}

/* A whole HTTP reply (owned by the fixture); body_file names a vector file, else body is used. */
static const char *reply(struct fixture *f, int status, const char *body, const char *body_file)
{
	char *file = body_file ? slurp(body_file) : NULL;
	const char *text = file ? file : body ? body : "";
	size_t n = strlen(text) + 128;
	char *r = malloc(n);
	snprintf(r, n, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s", status,
		 strlen(text), text);
	free(file);
	f->owned[f->n_owned++] = r;
	return r;
}

static void serve_attestation(struct fixture *f, const char *r)
{
	f->s.attestation[f->s.n_attestation++] = r;
}

/* Appraise the test evidence and wait for the verdict. */
static void appraise(struct fixture *f, const cJSON *rd, struct outcome *o)
{
	CHECK(verifier_appraise(f->v, "sample", evidence, sizeof(evidence) - 1, NULL, 0, rd, on_verdict, o) != NULL);
	CHECK(o->calls == 0); /* never from inside the call */
	run_until(f->loop, &o->calls, 1, 5000);
	CHECK(o->calls == 1);
}

static void fixture_end(struct fixture *f)
{
	verifier_free(f->v);
	server_stop(&f->s);
	for (int i = 0; i < f->n_owned; i++)
		free(f->owned[i]);
	loop_free(f->loop);
}

TEST(current_schema_body_and_headers)
{
	struct fixture f;
	fixture_begin(&f);
	serve_attestation(&f, reply(&f, 200, NULL, "tng/ear.jwt"));
	fixture_verifier(&f, true, 5 * NSEC_PER_SEC);
	struct outcome o = { 0 };
	cJSON *rd = runtime_data(), *doc = NULL;
	appraise(&f, rd, &o);
	CHECK(o.reason == VERDICT_TOKEN_EXPIRED); /* signature, chain: fine; exp passed long ago */
	CHECK(f.s.n_seen == 1);
	const cJSON *body = f.s.n_seen ? body_of(f.s.seen[0], &doc) : NULL;
	const cJSON *req = cJSON_GetArrayItem(cJSON_GetObjectItem(body, "verification_requests"), 0);
	char *b64 = b64url_encode(evidence, sizeof(evidence) - 1);
	CHECK(req && !strcmp(cJSON_GetObjectItem(req, "tee")->valuestring, "sample"));
	CHECK(req && !strcmp(cJSON_GetObjectItem(req, "evidence")->valuestring, b64));
	CHECK(req && cJSON_Compare(cJSON_GetObjectItem(cJSON_GetObjectItem(req, "runtime_data"), "structured"), rd, true));
	CHECK(req && !strcmp(cJSON_GetObjectItem(req, "runtime_data_hash_algorithm")->valuestring, "sha384"));
	CHECK(req && cJSON_IsNull(cJSON_GetObjectItem(req, "init_data")));
	CHECK(body && !strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(body, "policy_ids"), 0)->valuestring, "default"));
	CHECK(f.s.n_seen && strstr(f.s.seen[0], "\r\nAuthorization: Bearer t0k\r\n"));
	free(b64);
	cJSON_Delete(doc);
	cJSON_Delete(rd);
	fixture_end(&f);
}

TEST(legacy_schema_retried_once)
{
	struct fixture f;
	fixture_begin(&f);
	const char *old = reply(&f, 400, "Json deserialize error: missing field `tee` at line 1 column 120", NULL);
	for (int i = 0; i < 3; i++)
		serve_attestation(&f, old);
	fixture_verifier(&f, true, 5 * NSEC_PER_SEC);
	struct outcome o = { 0 };
	cJSON *rd = runtime_data(), *doc = NULL;
	appraise(&f, rd, &o);
	CHECK(o.reason == VERDICT_AS_ERROR);
	CHECK(f.s.n_seen == 2); /* the current schema, then the flat one, then no more */
	const cJSON *flat = f.s.n_seen == 2 ? body_of(f.s.seen[1], &doc) : NULL;
	CHECK(flat && !strcmp(cJSON_GetObjectItem(flat, "tee")->valuestring, "sample"));
	CHECK(flat && cJSON_Compare(cJSON_GetObjectItem(cJSON_GetObjectItem(flat, "runtime_data"), "structured"), rd, true));
	CHECK(flat && cJSON_IsArray(cJSON_GetObjectItem(flat, "policy_ids")));
	CHECK(flat && !cJSON_GetObjectItem(flat, "verification_requests"));
	cJSON_Delete(doc);
	cJSON_Delete(rd);
	fixture_end(&f);
}

TEST(anchors_fetched_once_from_the_as)
{
	struct fixture f;
	fixture_begin(&f);
	serve_attestation(&f, reply(&f, 200, NULL, "tng/ear.jwt"));
	f.s.certificate = reply(&f, 200, NULL, "tng/ear.as-ca.pem");
	fixture_verifier(&f, false, 5 * NSEC_PER_SEC);
	struct outcome o[2] = { { 0 } };
	for (int i = 0; i < 2; i++) {
		appraise(&f, NULL, &o[i]);
		CHECK(o[i].reason == VERDICT_TOKEN_EXPIRED);
	}
	int cert_fetches = 0;
	for (int i = 0; i < f.s.n_seen; i++)
		cert_fetches += !strncmp(f.s.seen[i], "GET /certificate ", 17);
	CHECK(cert_fetches == 1);
	fixture_end(&f);
}

/* Anchors fetched from the AS are pinned: once the AS serves another key (restarted with a new
 * one, or someone on the path swapped it), a token under that key is refused, saying how to take
 * the new key, and the anchors are not fetched again. */
TEST(fetched_anchors_are_pinned)
{
	struct fixture f;
	fixture_begin(&f);
	serve_attestation(&f, reply(&f, 200, NULL, "tng/ear.jwt"));
	serve_attestation(&f, reply(&f, 200, NULL, "tng/simple.jwt"));
	f.s.certificate = reply(&f, 200, NULL, "tng/ear.as-ca.pem");
	fixture_verifier(&f, false, 5 * NSEC_PER_SEC);
	struct outcome before = { 0 }, swapped = { 0 };
	appraise(&f, NULL, &before);
	CHECK(before.reason == VERDICT_TOKEN_EXPIRED); /* signature and chain good; the vector is old */
	f.s.certificate = reply(&f, 200, NULL, "tng/simple.as-ca.pem");
	appraise(&f, NULL, &swapped);
	CHECK(swapped.reason == VERDICT_TOKEN_INVALID && strstr(swapped.detail, "not among the AS keys pinned") &&
	      strstr(swapped.detail, "tng-wg reload"));
	int cert_fetches = 0;
	for (int i = 0; i < f.s.n_seen; i++)
		cert_fetches += !strncmp(f.s.seen[i], "GET /certificate ", 17);
	CHECK(cert_fetches == 1);
	fixture_end(&f);
}

TEST(no_anchor_anywhere)
{
	struct fixture f;
	fixture_begin(&f);
	serve_attestation(&f, reply(&f, 200, NULL, "tng/ear.jwt"));
	f.s.jwks = reply(&f, 200, "{\"keys\": 7}", NULL);
	fixture_verifier(&f, false, 5 * NSEC_PER_SEC);
	struct outcome o = { 0 };
	appraise(&f, NULL, &o);
	CHECK(o.reason == VERDICT_NO_TRUST_ANCHOR);
	CHECK(strstr(o.detail, "/certificate") && strstr(o.detail, "jwks"));
	fixture_end(&f);
}

TEST(cancel_and_free_from_callback)
{
	struct fixture f;
	fixture_begin(&f);
	serve_attestation(&f, reply(&f, 500, "An internal error occured: \n0: nope", NULL));
	fixture_verifier(&f, true, 5 * NSEC_PER_SEC);
	struct outcome cancelled = { 0 }, first = { .free_me = &f.v }, second = { 0 };
	struct verify_request *r = verifier_appraise(f.v, "sample", evidence, sizeof(evidence) - 1, NULL, 0,
						     NULL, on_verdict, &cancelled);
	verify_request_cancel(r);
	verifier_appraise(f.v, "sample", evidence, sizeof(evidence) - 1, NULL, 0, NULL, on_verdict, &first);
	verifier_appraise(f.v, "sample", evidence, sizeof(evidence) - 1, NULL, 0, NULL, on_verdict, &second);
	for (int waited = 0; waited < 1000; waited += 20)
		loop_run_once(f.loop, 20);
	CHECK(cancelled.calls == 0);
	/* whichever reply came first freed the verifier; the other request went with it */
	CHECK(first.calls + second.calls == 1 && f.v == NULL);
	CHECK((first.calls ? first.reason : second.reason) == VERDICT_AS_ERROR);
	fixture_end(&f);
}

TEST(stalled_as_times_out)
{
	struct fixture f;
	fixture_begin(&f);
	serve_attestation(&f, NULL);
	fixture_verifier(&f, true, 300 * NSEC_PER_MSEC);
	struct outcome o = { 0 };
	appraise(&f, NULL, &o);
	CHECK(o.reason == VERDICT_AS_TIMEOUT);
	fixture_end(&f);
}

TEST(unreachable_and_bad_address)
{
	struct fixture f;
	fixture_begin(&f);
	loop_unwatch(f.loop, f.s.lfd);
	close(f.s.lfd); /* the port is closed now */
	f.s.lfd = -1;
	fixture_verifier(&f, true, 5 * NSEC_PER_SEC);
	struct outcome o = { 0 };
	appraise(&f, NULL, &o);
	CHECK(o.reason == VERDICT_AS_UNREACHABLE);
	snprintf(f.s.addr, sizeof(f.s.addr), "ftp://127.0.0.1/");
	CHECK(make_verifier(f.loop, &f.s, true, NSEC_PER_SEC) == NULL);
	fixture_end(&f);
}

int main(void)
{
	TEST_BEGIN("verifier");
	RUN(current_schema_body_and_headers);
	RUN(legacy_schema_retried_once);
	RUN(anchors_fetched_once_from_the_as);
	RUN(fetched_anchors_are_pinned);
	RUN(no_anchor_anywhere);
	RUN(cancel_and_free_from_callback);
	RUN(stalled_as_times_out);
	RUN(unreachable_and_bad_address);
	TEST_END();
}
