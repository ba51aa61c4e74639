/*
 * WireGuard's userspace API (overlay/uapi.c): get=1, set=1 and stats=1 requests of key=value
 * lines, as a client writes them to the device's UAPI socket, in any split and order. The
 * device and its socket live in a private network namespace, so listen ports, marks and
 * endpoints the input sets touch nothing outside. Each input is one connection, starting from
 * a device with a private key and no peers. Checks: every answer ends with its blank line, and
 * every line of an answer is key=value.
 */
#include "overlay/device.h"
#include "overlay/uapi.h"
#include "fuzz/fuzz.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/un.h>

static struct loop *loop;
static struct device *dev;
static struct uapi_server *server;
static char dir[64], path[108];
static int tun_peer = -1;

static void cleanup(void)
{
	uapi_server_free(server);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet_logs();
	if (!fuzz_private_network())
		fuzz_fail("no private network namespace: fuzzed endpoints would be real destinations");
	int sp[2];
	snprintf(dir, sizeof(dir), "/tmp/tngwg-fuzz-uapi.XXXXXX");
	if (!mkdtemp(dir) || socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0 ||
	    !(loop = loop_new()) || !(dev = device_new(loop, sp[0], "fuzzwg0")) ||
	    !(server = uapi_server_new(loop, dev, dir, NULL, NULL)) ||
	    uapi_socket_path(dir, "fuzzwg0", path, sizeof(path)) != 0)
		fuzz_fail("setup");
	tun_peer = sp[1];
	atexit(cleanup);
	return 0;
}

static void check_answer(const char *out, size_t len)
{
	if (!len)
		return;
	if (len < 2 || out[len - 1] != '\n' || out[len - 2] != '\n')
		fuzz_fail("an answer does not end with a blank line");
	for (const char *line = out; line < out + len;) {
		const char *nl = memchr(line, '\n', (size_t)(out + len - line));
		if (nl > line && !memchr(line, '=', (size_t)(nl - line)))
			fuzz_fail("an answer line is not key=value");
		line = nl + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[WG_KEY_LEN] = { 0x40, 1, 2, 3 };
	device_remove_all_peers(dev);
	device_set_private_key(dev, key);

	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fuzz_fail("cannot connect");
	static char out[1 << 20];
	size_t sent = 0, got = 0;
	bool closed = false;
	for (int i = 0; i < 10000 && !closed; i++) {
		if (sent < size) {
			ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				sent = size; /* the server hung up early */
			if (sent == size)
				shutdown(fd, SHUT_WR);
		} else if (i == 0) {
			shutdown(fd, SHUT_WR);
		}
		loop_run_once(loop, 0);
		ssize_t n;
		while ((n = recv(fd, out + got, sizeof(out) - got, 0)) > 0 && got + (size_t)n < sizeof(out))
			got += (size_t)n;
		closed = n == 0 || (n < 0 && errno != EAGAIN);
		char sink[4096];
		while (recv(tun_peer, sink, sizeof(sink), 0) > 0)
			;
	}
	if (!closed)
		fuzz_fail("the server neither answered nor closed");
	close(fd);
	check_answer(out, got);
	return 0;
}
