/*
 * The UAPI server against the exact requests wg sends (vectors/wireguard/wg_uapi_transcript.txt),
 * over its real UNIX socket, with a device on a real TUN in a private network namespace.
 */
#include "common/loop.h"
#include "overlay/crypto.h"
#include "overlay/device.h"
#include "overlay/uapi.h"
#include "tests/unit/descriptors.h"
#include "tests/unit/test.h"
#include "tun/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define TRANSCRIPT "/work/shared/vectors/wireguard/wg_uapi_transcript.txt"
#define PEER_KEY "aa680aa8a0967ed97ed57e1035dcf28a2f01e615611472da7dc487c74f7a0f02"
#define PRIVATE_KEY "1060141bae328a38ac04aa8df5be342d0ed34de926a80cd7851e2b8c4ceffc73"
#define PSK "776dd691caa00c7160bb422988e135ee687f06b0e07d3470d032f98c0ce227d9"

static struct loop *loop;
static struct device *dev;
static struct uapi_server *srv;
static char sock_dir[64], sock_path[100];
static int socket_gone;

static char requests[16][2048];
static int request_count;

static int connect_socket(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -1;
	return fd;
}

/* Read answers from fd while running the loop, until `answers` complete ones (ending "\n\n")
 * arrived or the server closed; returns the bytes read. */
static size_t collect(int fd, char *out, size_t size, int answers)
{
	size_t len = 0;
	for (int i = 0; i < 2000; i++) {
		loop_run_once(loop, 5);
		ssize_t n = recv(fd, out + len, size - 1 - len, 0);
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
		out[len] = 0;
		int seen = 0;
		for (const char *p = out; (p = strstr(p, "\n\n")); p += 2)
			seen++;
		if (seen >= answers)
			break;
	}
	out[len] = 0;
	return len;
}

static void pump_loop(int iterations)
{
	for (int i = 0; i < iterations; i++)
		loop_run_once(loop, 1);
}

/* One connection, the given bytes, `answers` answers back. */
static void exchange(const char *req, size_t req_len, char *out, size_t size, int answers)
{
	out[0] = 0;
	int fd = connect_socket();
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	/* Large requests do not fit the socket buffer: let the server read while sending. */
	size_t sent = 0;
	for (int i = 0; i < 10000 && sent < req_len; i++) {
		ssize_t n = send(fd, req + sent, req_len - sent, 0);
		if (n > 0)
			sent += (size_t)n;
		else
			loop_run_once(loop, 1);
	}
	CHECK(sent == req_len);
	collect(fd, out, size, answers);
	close(fd);
}

static char answer[1 << 20];
static const char *ask(const char *req)
{
	exchange(req, strlen(req), answer, sizeof(answer), 1);
	return answer;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static bool ends_with_errno0(const char *text)
{
	size_t n = strlen(text);
	return n >= 9 && !strcmp(text + n - 9, "errno=0\n\n");
}

/* Python bytes literals: b'...' with \n, \t, \\, \' and \xHH escapes. */
static int load_transcript(void)
{
	FILE *f = fopen(getenv("TNGWG_UAPI_TRANSCRIPT") ? getenv("TNGWG_UAPI_TRANSCRIPT") : TRANSCRIPT, "r");
	if (!f)
		return -1;
	char line[4096];
	while (request_count < 16 && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "b'", 2))
			continue;
		char *out = requests[request_count++];
		size_t o = 0;
		for (const char *p = line + 2; *p && *p != '\'' && o < sizeof(requests[0]) - 1; p++) {
			if (*p != '\\') {
				out[o++] = *p;
				continue;
			}
			p++;
			if (*p == 'n')
				out[o++] = '\n';
			else if (*p == 't')
				out[o++] = '\t';
			else if (*p == 'x') {
				unsigned v = 0;
				sscanf(p + 1, "%2x", &v);
				out[o++] = (char)v;
				p += 2;
			} else
				out[o++] = *p;
		}
		out[o] = 0;
	}
	fclose(f);
	return request_count;
}

TEST(transcript_setconf_then_get_matches)
{
	CHECK(!strcmp(ask(requests[0]), "errno=0\n\n"));
	const char *g = ask("get=1\n\n");
	CHECK(has_line(g, "private_key=" PRIVATE_KEY));
	CHECK(has_line(g, "listen_port=51820"));
	CHECK(has_line(g, "fwmark=4660"));
	CHECK(has_line(g, "public_key=" PEER_KEY));
	CHECK(has_line(g, "preshared_key=" PSK));
	CHECK(has_line(g, "protocol_version=1"));
	CHECK(has_line(g, "endpoint=10.250.0.2:51002"));
	CHECK(has_line(g, "persistent_keepalive_interval=25"));
	CHECK(has_line(g, "allowed_ip=10.251.0.2/32"));
	CHECK(has_line(g, "allowed_ip=fd00::/64"));
	CHECK(has_line(g, "last_handshake_time_sec=0"));
	CHECK(ends_with_errno0(g));
	/* The device's own order: private_key first, peers after the device keys. */
	CHECK(!strncmp(g, "private_key=", 12));
	CHECK(strstr(g, "fwmark=") < strstr(g, "public_key="));
	CHECK(device_listen_port(dev) == 51820 && device_fwmark(dev) == 4660);
}

TEST(transcript_addconf_keeps_the_same_state)
{
	CHECK(!strcmp(ask(requests[1]), "errno=0\n\n"));
	const char *g = ask("get=1\n\n");
	CHECK(has_line(g, "public_key=" PEER_KEY));
	CHECK(has_line(g, "allowed_ip=10.251.0.2/32"));
	CHECK(has_line(g, "allowed_ip=fd00::/64"));
	/* replace_allowed_ips: still exactly two prefixes. */
	int n = 0;
	for (const char *p = g; (p = strstr(p, "allowed_ip=")); p++)
		n++;
	CHECK(n == 2);
}

TEST(transcript_peer_remove)
{
	CHECK(!strcmp(ask(requests[2]), "errno=0\n\n"));
	const char *g = ask("get=1\n\n");
	CHECK(!strstr(g, "public_key="));
	CHECK(has_line(g, "private_key=" PRIVATE_KEY));
	CHECK(ends_with_errno0(g));
}

TEST(transcript_fwmark_off_v6_endpoint_no_allowed_ips)
{
	CHECK(!strcmp(ask(requests[3]), "errno=0\n\n"));
	const char *g = ask("get=1\n\n");
	CHECK(!strstr(g, "fwmark="));
	CHECK(has_line(g, "public_key=" PEER_KEY));
	CHECK(has_line(g, "endpoint=[fd00::2]:7"));
	CHECK(has_line(g, "preshared_key=0000000000000000000000000000000000000000000000000000000000000000"));
	CHECK(!strstr(g, "allowed_ip="));
	CHECK(device_fwmark(dev) == 0);
}

TEST(transcript_private_key_removed)
{
	CHECK(!strcmp(ask(requests[4]), "errno=0\n\n"));
	const char *g = ask("get=1\n\n");
	CHECK(!strstr(g, "private_key="));
	CHECK(has_line(g, "listen_port=51820"));
}

TEST(transcript_gets)
{
	for (int i = 5; i < request_count; i++) {
		const char *g = ask(requests[i]);
		CHECK(ends_with_errno0(g));
		CHECK(has_line(g, "public_key=" PEER_KEY));
	}
}

TEST(bad_keys_and_values_are_einval)
{
	static const char *bad[] = {
		"set=1\nlisten_port=99999\n\n",
		"set=1\nlisten_port=-1\n\n",
		"set=1\nlisten_port=\n\n",
		"set=1\nfwmark=4294967296\n\n",
		"set=1\nno_such_key=1\n\n",
		"set=1\nprivate_key=zz\n\n",
		"set=1\nprivate_key=" PRIVATE_KEY "00\n\n",
		"set=1\nreplace_peers=false\n\n",
		"set=1\npublic_key=" PEER_KEY "\nprotocol_version=2\n\n",
		"set=1\npublic_key=" PEER_KEY "\nallowed_ip=10.0.0.0/33\n\n",
		"set=1\npublic_key=" PEER_KEY "\nallowed_ip=10.0.0.0\n\n",
		"set=1\npublic_key=" PEER_KEY "\nallowed_ip=fd00::/129\n\n",
		"set=1\npublic_key=" PEER_KEY "\nendpoint=nonsense\n\n",
		"set=1\npublic_key=" PEER_KEY "\nendpoint=10.0.0.1:70000\n\n",
		"set=1\npublic_key=" PEER_KEY "\nendpoint=fd00::1:7\n\n",
		"set=1\npublic_key=" PEER_KEY "\npersistent_keepalive_interval=65536\n\n",
		"set=1\npublic_key=" PEER_KEY "\nremove=yes\n\n",
		"set=1\npublic_key=" PEER_KEY "\nlisten_port=1\n\n",
		"set=1\npublic_key=nothex\n\n",
		"get=1\nextra=1\n\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *a = ask(bad[i]);
		if (strcmp(a, "errno=-22\n\n")) {
			fprintf(stderr, "  request %zu answered '%s'\n", i, a);
			CHECK(0);
		}
	}
	/* Nothing of the refused values stuck. */
	const char *g = ask("get=1\n\n");
	CHECK(has_line(g, "listen_port=51820"));
	CHECK(has_line(g, "endpoint=[fd00::2]:7"));
	CHECK(!strstr(g, "allowed_ip="));
	CHECK(ends_with_errno0(g));
}

TEST(own_public_key_is_ignored_as_peer)
{
	uint8_t priv[WG_KEY_LEN], pub[WG_KEY_LEN];
	char priv_hex[65], pub_hex[65], req[512];
	wg_generate_private_key(priv);
	wg_public_key(pub, priv);
	for (int i = 0; i < WG_KEY_LEN; i++) {
		sprintf(priv_hex + 2 * i, "%02x", priv[i]);
		sprintf(pub_hex + 2 * i, "%02x", pub[i]);
	}
	snprintf(req, sizeof(req), "set=1\nprivate_key=%s\npublic_key=%s\nendpoint=10.1.1.1:1\nallowed_ip=10.1.1.0/24\n\n",
		 priv_hex, pub_hex);
	CHECK(!strcmp(ask(req), "errno=0\n\n"));
	const char *g = ask("get=1\n\n");
	CHECK(!strstr(g, pub_hex));
	CHECK(!strstr(g, "allowed_ip=10.1.1.0/24"));
}

TEST(update_only_replace_peers_and_allowed_ips)
{
	static const char *other = "bb680aa8a0967ed97ed57e1035dcf28a2f01e615611472da7dc487c74f7a0f02";
	char req[512];
	snprintf(req, sizeof(req), "set=1\npublic_key=%s\nupdate_only=true\nallowed_ip=10.2.0.0/16\n\n", other);
	CHECK(!strcmp(ask(req), "errno=0\n\n"));
	CHECK(!strstr(ask("get=1\n\n"), other));
	/* update_only on a known peer updates it. */
	CHECK(!strcmp(ask("set=1\npublic_key=" PEER_KEY "\nupdate_only=true\nallowed_ip=10.3.0.0/16\n"
			  "allowed_ip=10.4.0.1/16\n\n"), "errno=0\n\n"));
	const char *g = ask("get=1\n\n");
	CHECK(has_line(g, "allowed_ip=10.3.0.0/16"));
	CHECK(has_line(g, "allowed_ip=10.4.0.0/16")); /* host bits dropped */
	snprintf(req, sizeof(req), "set=1\nreplace_peers=true\npublic_key=%s\nallowed_ip=10.5.0.0/16\n\n", other);
	CHECK(!strcmp(ask(req), "errno=0\n\n"));
	g = ask("get=1\n\n");
	CHECK(!strstr(g, PEER_KEY));
	CHECK(strstr(g, other) != NULL);
	CHECK(has_line(g, "allowed_ip=10.5.0.0/16"));
	/* A prefix moves to the peer that claims it last. */
	CHECK(!strcmp(ask("set=1\npublic_key=" PEER_KEY "\nallowed_ip=10.5.0.0/16\n\n"), "errno=0\n\n"));
	g = ask("get=1\n\n");
	const char *prefix = strstr(g, "allowed_ip=10.5.0.0/16"), *peer = strstr(g, "public_key=" PEER_KEY);
	CHECK(prefix && peer && prefix > peer);
}

TEST(several_requests_per_connection_and_probes)
{
	/* wg's probe: connect, close, nothing sent. */
	for (int i = 0; i < 3; i++) {
		int fd = connect_socket();
		CHECK(fd >= 0);
		close(fd);
		loop_run_once(loop, 5);
	}
	static const char two[] = "set=1\npersistent_keepalive_interval=\n\nget=1\n\nset=1\nfwmark=7\n\nget=1\n\n";
	/* The first set refuses a device-level key, the rest still run on the same connection. */
	char out[65536];
	exchange(two, sizeof(two) - 1, out, sizeof(out), 4);
	CHECK(!strncmp(out, "errno=-22\n\n", 11));
	CHECK(strstr(out, "fwmark=7\n") != NULL);
	int errnos = 0;
	for (const char *p = out; (p = strstr(p, "errno=")); p++)
		errnos++;
	CHECK(errnos == 4);
}

TEST(large_set_and_get_stream_through)
{
	/* 10000 prefixes: a request and an answer far larger than any socket or line buffer. */
	size_t cap = 1 << 20, len = 0;
	char *req = malloc(cap);
	len += (size_t)snprintf(req + len, cap - len, "set=1\npublic_key=" PEER_KEY "\nreplace_allowed_ips=true\n");
	for (int i = 0; i < 10000; i++)
		len += (size_t)snprintf(req + len, cap - len, "allowed_ip=10.%d.%d.0/24\n", 100 + i / 256, i % 256);
	len += (size_t)snprintf(req + len, cap - len, "\n");
	exchange(req, len, answer, sizeof(answer), 1);
	CHECK_STR(answer, "errno=0\n\n");
	free(req);
	const char *g = ask("get=1\n\n");
	int n = 0;
	for (const char *p = g; (p = strstr(p, "allowed_ip=10.1")); p++)
		n++;
	CHECK(n == 10000);
	CHECK(has_line(g, "allowed_ip=10.139.15.0/24"));
	CHECK(ends_with_errno0(g));
}

TEST(peer_removed_while_a_request_is_half_sent)
{
	/* Connection 1 opens a peer section; connection 2 removes every peer; connection 1 goes on. */
	int fd = connect_socket();
	static const char first[] = "set=1\npublic_key=" PEER_KEY "\n";
	CHECK(send(fd, first, sizeof(first) - 1, 0) == (ssize_t)sizeof(first) - 1);
	pump_loop(20);
	CHECK(!strcmp(ask("set=1\nreplace_peers=true\n\n"), "errno=0\n\n"));
	static const char rest[] = "allowed_ip=10.9.9.0/24\nendpoint=10.9.9.1:1\n\n";
	CHECK(send(fd, rest, sizeof(rest) - 1, 0) == (ssize_t)sizeof(rest) - 1);
	char out[256];
	collect(fd, out, sizeof(out), 1);
	close(fd);
	CHECK_STR(out, "errno=0\n\n");
	CHECK(!strstr(ask("get=1\n\n"), "public_key="));
}

TEST(stats_operation_lists_counters)
{
	const char *s = ask("stats=1\n\n");
	CHECK(strstr(s, "rx_invalid_length=") != NULL);
	CHECK(strstr(s, "rx_unknown_type=") != NULL);
	CHECK(strstr(s, "tx_no_route=") != NULL);
	CHECK(ends_with_errno0(s));
}

TEST(unknown_operation_closes_without_answer)
{
	CHECK(!strcmp(ask("bogus=1\n\n"), ""));
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A client waits while every descriptor is taken: the server stops polling its listener instead
 * of waking for it again and again, and serves the client once descriptors are back. */
TEST(out_of_descriptors_pauses_accepting)
{
	struct descriptor_hog hog;
	CHECK(descriptors_take_all_but_one(&hog));
	int client = connect_socket();
	CHECK(client >= 0);
	/* Each iteration waits up to 20 ms unless something is ready: a spinning loop does
	 * thousands in the 300 ms, a waiting one a handful. */
	int iterations = 0;
	for (uint64_t end = monotonic_ms() + 300; monotonic_ms() < end; iterations++)
		loop_run_once(loop, 20);
	CHECK(iterations < 100);
	CHECK(descriptors_give_back(&hog));
	CHECK(send(client, "get=1\n\n", 7, MSG_NOSIGNAL) == 7);
	char out[4096];
	collect(client, out, sizeof(out), 1);
	CHECK(strstr(out, "errno=0\n\n") != NULL);
	close(client);
}

TEST(socket_mode_and_deletion_stops)
{
	struct stat st;
	CHECK(stat(sock_path, &st) == 0 && S_ISSOCK(st.st_mode));
	CHECK((st.st_mode & 077) == 0);
	CHECK(stat(sock_dir, &st) == 0 && (st.st_mode & 0777) == 0755);
	CHECK(unlink(sock_path) == 0);
	for (int i = 0; i < 200 && !socket_gone; i++)
		loop_run_once(loop, 5);
	CHECK(socket_gone == 1);
}

TEST(locked_interface_refuses_identity_changes)
{
	CHECK(ends_with_errno0(ask("set=1\nprivate_key=" PRIVATE_KEY "\nlisten_port=0\nfwmark=0\n\n")));
	char before[4096];
	snprintf(before, sizeof(before), "%s", ask("get=1\n\n"));
	const char *port_line = strstr(before, "listen_port=");
	CHECK(port_line != NULL);
	unsigned port = port_line ? (unsigned)atoi(port_line + strlen("listen_port=")) : 0;
	uapi_server_lock_interface(srv);
	static const char *changes[] = {
		"set=1\nprivate_key=0000000000000000000000000000000000000000000000000000000000000000\n\n",
		"set=1\nprivate_key=" PEER_KEY "\n\n",
		"set=1\nlisten_port=1\n\n",
		"set=1\nfwmark=7\n\n",
		/* `wg setconf` with an [Interface] section only: everything would go at once */
		"set=1\nprivate_key=0000000000000000000000000000000000000000000000000000000000000000\n"
		"listen_port=0\nfwmark=0\nreplace_peers=true\n\n",
	};
	char expected[32];
	snprintf(expected, sizeof(expected), "errno=%d\n\n", -EPERM);
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		CHECK(!strcmp(ask(changes[i]), expected));
		CHECK(!strcmp(ask("get=1\n\n"), before));
	}
	/* what changes nothing passes, and peers stay the operator's */
	char same[512];
	snprintf(same, sizeof(same), "set=1\nprivate_key=" PRIVATE_KEY "\nlisten_port=%u\nfwmark=0\n"
		 "public_key=%s\nallowed_ip=10.9.0.0/16\n\n", port,
		 "cc680aa8a0967ed97ed57e1035dcf28a2f01e615611472da7dc487c74f7a0f02");
	CHECK(ends_with_errno0(ask(same)));
	CHECK(strstr(ask("get=1\n\n"), "allowed_ip=10.9.0.0/16") != NULL);
}

static void on_gone(void *ctx) { socket_gone++; }

int main(void)
{
	TEST_BEGIN("uapi");
	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0) {
		printf("FAIL uapi.setup: needs root to create a private network namespace (%s)\n", strerror(errno));
		return 1;
	}
	if (load_transcript() < 7) {
		printf("FAIL uapi.setup: cannot read the 7 requests of %s\n", TRANSCRIPT);
		return 1;
	}
	char name[IFNAMSIZ];
	int tun_fd = tun_open("tnguapi0", name);
	loop = loop_new();
	dev = tun_fd >= 0 ? device_new(loop, tun_fd, name) : NULL;
	char tmpl[] = "/tmp/tngwg-uapi.XXXXXX";
	if (!dev || !mkdtemp(tmpl)) {
		printf("FAIL uapi.setup: TUN or device: %s\n", strerror(tun_fd < 0 ? -tun_fd : errno));
		return 1;
	}
	snprintf(sock_dir, sizeof(sock_dir), "%s/run", tmpl);
	uapi_socket_path(sock_dir, name, sock_path, sizeof(sock_path));
	srv = uapi_server_new(loop, dev, sock_dir, on_gone, NULL);
	if (!srv) {
		printf("FAIL uapi.setup: listen on %s: %s\n", sock_path, strerror(errno));
		return 1;
	}
	RUN(transcript_setconf_then_get_matches);
	RUN(transcript_addconf_keeps_the_same_state);
	RUN(transcript_peer_remove);
	RUN(transcript_fwmark_off_v6_endpoint_no_allowed_ips);
	RUN(transcript_private_key_removed);
	RUN(transcript_gets);
	RUN(bad_keys_and_values_are_einval);
	RUN(own_public_key_is_ignored_as_peer);
	RUN(update_only_replace_peers_and_allowed_ips);
	RUN(several_requests_per_connection_and_probes);
	RUN(large_set_and_get_stream_through);
	RUN(peer_removed_while_a_request_is_half_sent);
	RUN(stats_operation_lists_counters);
	RUN(unknown_operation_closes_without_answer);
	RUN(locked_interface_refuses_identity_changes);
	RUN(out_of_descriptors_pauses_accepting);
	RUN(socket_mode_and_deletion_stops);
	uapi_server_free(srv);
	device_free(dev);
	loop_free(loop);
	rmdir(sock_dir);
	rmdir(tmpl);
	TEST_END();
}
