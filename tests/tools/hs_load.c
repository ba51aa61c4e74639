/*
 * A load of attested handshakes on one node, for the benchmark: many initiators, one per source
 * address (COUNT consecutive IPv4 addresses from FIRST, which must be this host's), each with its
 * own WireGuard key, each running one handshake at a time and starting at most RATE a second (the
 * node's per-source limit), at most INFLIGHT at once in all. Each presents sample evidence bound
 * to its handshake as the stand-in AA's would be ({"svn":"1","report_data":base64 of the SHA-384
 * of the runtime data's JCS form}), so the node's AS accepts it, and asks for the node's evidence,
 * which it accepts only when bound the same way to what this side computes for the node.
 *
 *   hs_load --target ADDR --first ADDR --count N [--port N] [--duration SECONDS | --once]
 *           [--rate PER_SECOND] [--inflight N]
 *
 * --duration: keep every source busy that long. --once: every source completes one handshake
 * (retrying what the node turned away), then the tool prints "installed N" and waits until it
 * is killed, so that the node keeps the peers. Either way it prints, once a second to stderr and
 * at the end to stdout:
 *   ok=N failed=N busy=N rate_limited=N other=N seconds=S
 * (busy and rate_limited count handshakes the node refused; failed counts all that failed).
 * Exit status 0 when it ran, 2 on usage or set-up errors.
 */
#include "attest/jcs.h"
#include "common/loop.h"
#include "handshake/transport.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct source {
	struct hs_transport *t;
	struct loop_timer start_timer;
	uint64_t last_start_ns;
	bool running, waiting, completed;
	struct source *next_waiting;
};

static struct {
	struct loop *loop;
	struct sockaddr_in target;
	struct source *sources;
	unsigned count, inflight, max_inflight, completed;
	uint64_t interval_ns;
	bool once;
	struct source *wait_head, *wait_tail;
	struct { uint64_t ok, failed, busy, rate_limited, other; } n;
	uint64_t started_ns;
	struct loop_timer report_timer;
} g;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* The report_data the stand-in AA would put in sample evidence over runtime_data_json: standard
 * base64 of SHA-384 of its JCS form (buffer of sodium_base64_ENCODED_LEN(48, ORIGINAL)). */
static bool report_data_of(const char *runtime_data_json, char *out, size_t outlen)
{
	uint8_t digest[JCS_SHA384_LEN];
	cJSON *doc = cJSON_Parse(runtime_data_json);
	bool ok = doc && jcs_sha384(doc, digest) == 0;
	cJSON_Delete(doc);
	if (ok)
		sodium_bin2base64(out, outlen, digest, sizeof(digest), sodium_base64_VARIANT_ORIGINAL);
	return ok;
}

#define REPORT_DATA_LEN sodium_base64_ENCODED_LEN(JCS_SHA384_LEN, sodium_base64_VARIANT_ORIGINAL)

static void need_evidence(void *ctx, struct hs_conn *c, const char *json)
{
	char rd[REPORT_DATA_LEN], evidence[REPORT_DATA_LEN + 64];
	if (!report_data_of(json, rd, sizeof(rd))) {
		hs_conn_evidence_failed(c, "runtime data is not canonical JSON");
		return;
	}
	int n = snprintf(evidence, sizeof(evidence), "{\"svn\":\"1\",\"report_data\":\"%s\"}", rd);
	hs_conn_provide_evidence(c, "sample", (const uint8_t *)evidence, (size_t)n, NULL, 0);
}

static void need_verification(void *ctx, struct hs_conn *c, const struct sockaddr *peer,
			      const char *tee, const uint8_t *evidence, size_t len,
			      const uint8_t *additional, size_t additional_len, const char *expected)
{
	char rd[REPORT_DATA_LEN];
	cJSON *doc = cJSON_ParseWithLength((const char *)evidence, len);
	const cJSON *got = cJSON_GetObjectItemCaseSensitive(doc, "report_data");
	bool bound = !strcmp(tee, "sample") && cJSON_IsString(got) && report_data_of(expected, rd, sizeof(rd)) &&
		     !strcmp(got->valuestring, rd);
	cJSON_Delete(doc);
	hs_conn_provide_verdict(c, bound, HS_VERIFICATION_FAILED, "the node's evidence is not bound to this handshake");
}

static void start_source(struct source *s);

/* The next source may run once one finishes: the longest waiting first. */
static void admit_waiting(void)
{
	while (g.wait_head && g.inflight < g.max_inflight) {
		struct source *s = g.wait_head;
		g.wait_head = s->next_waiting;
		if (!g.wait_head)
			g.wait_tail = NULL;
		s->waiting = false;
		start_source(s);
	}
}

static void finished(struct source *s, bool ok)
{
	s->running = false;
	g.inflight--;
	if (ok && !s->completed) {
		s->completed = true;
		g.completed++;
	}
	if (!g.once || !s->completed)
		loop_timer_arm_at(g.loop, &s->start_timer, s->last_start_ns + g.interval_ns);
	admit_waiting();
}

static void done(void *ctx, struct hs_conn *c, const struct sockaddr *peer, const struct hs_result *r)
{
	g.n.ok++;
	finished(ctx, true);
}

static void failed(void *ctx, struct hs_conn *c, const struct sockaddr *peer, enum hs_reason reason,
		   bool by_peer, const char *detail, bool we_initiated)
{
	g.n.failed++;
	if (reason == HS_BUSY)
		g.n.busy++;
	else if (reason == HS_RATE_LIMITED)
		g.n.rate_limited++;
	else if (g.n.other++ < 5)
		fprintf(stderr, "hs_load: handshake failed: %s%s: %s\n", hs_reason_name(reason),
			by_peer ? " (reported by the node)" : "", detail);
	finished(ctx, false);
}

static void start_source(struct source *s)
{
	if (g.inflight >= g.max_inflight) {
		if (!s->waiting) {
			s->waiting = true;
			s->next_waiting = NULL;
			if (g.wait_tail)
				g.wait_tail->next_waiting = s;
			else
				g.wait_head = s;
			g.wait_tail = s;
		}
		return;
	}
	s->last_start_ns = loop_now_ns();
	if (!hs_transport_connect(s->t, (const struct sockaddr *)&g.target)) {
		loop_timer_arm_in(g.loop, &s->start_timer, g.interval_ns);
		return;
	}
	s->running = true;
	g.inflight++;
}

static void on_start_timer(void *ctx)
{
	start_source(ctx);
}

static void print_counts(FILE *out)
{
	fprintf(out, "ok=%llu failed=%llu busy=%llu rate_limited=%llu other=%llu seconds=%.3f\n",
		(unsigned long long)g.n.ok, (unsigned long long)g.n.failed, (unsigned long long)g.n.busy,
		(unsigned long long)g.n.rate_limited, (unsigned long long)g.n.other,
		(double)(loop_now_ns() - g.started_ns) / NSEC_PER_SEC);
	fflush(out);
}

static void on_report_timer(void *ctx)
{
	print_counts(stderr);
	loop_timer_arm_in(g.loop, &g.report_timer, NSEC_PER_SEC);
}

static int usage(void)
{
	fprintf(stderr, "usage: hs_load --target ADDR --first ADDR --count N [--port N] "
			"[--duration SECONDS | --once] [--rate PER_SECOND] [--inflight N]\n");
	return 2;
}

/* Enough descriptors for a listener and a connection per source. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct in_addr first = { 0 };
	double duration = 0, rate = 2;
	unsigned port = 51820;
	g.max_inflight = 64;
	g.target.sin_family = AF_INET;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(arg, "--once")) {
			g.once = true;
			continue;
		}
		if (!val)
			return usage();
		i++;
		if (!strcmp(arg, "--target")) {
			if (inet_pton(AF_INET, val, &g.target.sin_addr) != 1)
				return usage();
		} else if (!strcmp(arg, "--first")) {
			if (inet_pton(AF_INET, val, &first) != 1)
				return usage();
		} else if (!strcmp(arg, "--count")) {
			g.count = (unsigned)strtoul(val, NULL, 10);
		} else if (!strcmp(arg, "--port")) {
			port = (unsigned)strtoul(val, NULL, 10);
		} else if (!strcmp(arg, "--duration")) {
			duration = strtod(val, NULL);
		} else if (!strcmp(arg, "--rate")) {
			rate = strtod(val, NULL);
		} else if (!strcmp(arg, "--inflight")) {
			g.max_inflight = (unsigned)strtoul(val, NULL, 10);
		} else {
			return usage();
		}
	}
	if (!g.count || !first.s_addr || !g.target.sin_addr.s_addr || rate <= 0 || !g.max_inflight ||
	    (duration <= 0) == !g.once || sodium_init() < 0)
		return usage();
	/* A margin over 1/rate, so that timer slack never puts one start too many in the node's window. */
	g.interval_ns = (uint64_t)(NSEC_PER_SEC / rate) + 10 * NSEC_PER_MSEC;
	raise_fd_limit();
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	g.loop = loop_new();
	g.sources = calloc(g.count, sizeof(*g.sources));
	if (!g.loop || !g.sources)
		return 2;
	static const struct hs_transport_ops ops = { need_evidence, need_verification, done, failed };
	for (unsigned i = 0; i < g.count; i++) {
		struct source *s = &g.sources[i];
		struct hs_transport_config cfg = { .port = (uint16_t)port, .max_outgoing = 1 };
		struct sockaddr_in *bind4 = (struct sockaddr_in *)&cfg.bind_addr;
		bind4->sin_family = AF_INET;
		bind4->sin_addr.s_addr = htonl(ntohl(first.s_addr) + i);
		uint8_t wg_private[32];
		struct hs_local local = { .wg_port = (uint16_t)port, .will_attest = true, .requires_peer_evidence = true };
		randombytes_buf(wg_private, sizeof(wg_private));
		crypto_scalarmult_base(local.wg_public_key, wg_private);
		sodium_memzero(wg_private, sizeof(wg_private));
		char err[256];
		s->t = hs_transport_new(g.loop, &cfg, &local, &ops, s, err, sizeof(err));
		if (!s->t) {
			fprintf(stderr, "hs_load: source %u: %s\n", i, err);
			return 2;
		}
		loop_timer_init(&s->start_timer, on_start_timer, s);
	}
	g.started_ns = loop_now_ns();
	/* The sources' first starts spread over one interval. */
	for (unsigned i = 0; i < g.count; i++)
		loop_timer_arm_in(g.loop, &g.sources[i].start_timer, g.interval_ns * i / g.count);
	loop_timer_init(&g.report_timer, on_report_timer, NULL);
	loop_timer_arm_in(g.loop, &g.report_timer, NSEC_PER_SEC);
	uint64_t end_ns = g.started_ns + (uint64_t)(duration * NSEC_PER_SEC);
	bool announced = false;
	while (!stop_requested) {
		if (!g.once && loop_now_ns() >= end_ns)
			break;
		if (g.once && !announced && g.completed == g.count) {
			print_counts(stdout);
			printf("installed %u\n", g.count);
			fflush(stdout);
			announced = true;
			loop_timer_cancel(g.loop, &g.report_timer);
		}
		loop_run_once(g.loop, 100);
	}
	if (!g.once)
		print_counts(stdout);
	for (unsigned i = 0; i < g.count; i++) {
		loop_timer_cancel(g.loop, &g.sources[i].start_timer);
		hs_transport_free(g.sources[i].t);
	}
	loop_timer_cancel(g.loop, &g.report_timer);
	free(g.sources);
	loop_free(g.loop);
	return 0;
}
