/*
 * tng-wg userspace [-f|--foreground] IFACE, and the same daemon under the name tng-wg-userspace
 * with wireguard-go's command line, so wg-quick can use it through WG_QUICK_USERSPACE_IMPLEMENTATION.
 * It creates the TUN and the UAPI socket, then serves the WireGuard device until SIGINT/SIGTERM,
 * the deletion of its socket file or the removal of the TUN. SIGUSR1 rekeys every peer.
 */
#include "cmd/commands.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/loop.h"
#include "overlay/device.h"
#include "overlay/uapi.h"
#include "tun/netlink.h"
#include "tun/tun.h"

#define DEFAULT_MTU 1420
#define COMPAT_VERSION "0.0.20220316"

struct daemon {
	struct loop *loop;
	struct device *dev;
	struct uapi_server *uapi;
	int signal_fd;
};

static void stop(void *ctx)
{
	struct daemon *d = ctx;
	loop_stop(d->loop);
}

static void on_signal(void *ctx, int fd, unsigned events)
{
	struct daemon *d = ctx;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1) {
			log_info("userspace", "%s: SIGUSR1: new handshake with every peer", device_ifname(d->dev));
			device_rekey_all_peers(d->dev);
		} else {
			log_info("userspace", "%s: signal %u, shutting down", device_ifname(d->dev), si.ssi_signo);
			loop_stop(d->loop);
		}
	}
}

static int watch_signals(struct daemon *d)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signal_fd < 0 || loop_watch(d->loop, d->signal_fd, LOOP_READ, on_signal, d) < 0)
		return -errno;
	return 0;
}

static void teardown(struct daemon *d)
{
	uapi_server_free(d->uapi);
	device_free(d->dev); /* closes the TUN, so the interface goes with it */
	if (d->signal_fd >= 0) {
		loop_unwatch(d->loop, d->signal_fd);
		close(d->signal_fd);
	}
	loop_free(d->loop);
}

static int setup(struct daemon *d, const char *prog, const char *ifname)
{
	char name[IFNAMSIZ];
	int tun_fd = tun_open(ifname, name);
	if (tun_fd < 0) {
		fprintf(stderr, "%s: cannot create TUN %s: %s\n", prog, ifname, strerror(-tun_fd));
		return -1;
	}
	/* wg-quick sets the MTU itself; without it this is wireguard-go's default. */
	int rc = nl_link_set_mtu(name, DEFAULT_MTU);
	if (rc < 0)
		log_warn("userspace", "%s: cannot set MTU %d: %s", name, DEFAULT_MTU, strerror(-rc));
	d->loop = loop_new();
	d->dev = d->loop ? device_new(d->loop, tun_fd, name) : NULL;
	if (!d->dev) {
		fprintf(stderr, "%s: cannot create the device %s: %s\n", prog, name, strerror(errno));
		close(tun_fd);
		return -1;
	}
	device_set_mtu(d->dev, DEFAULT_MTU);
	device_set_tun_gone_handler(d->dev, stop, d);
	d->uapi = uapi_server_new(d->loop, d->dev, UAPI_DEFAULT_DIR, stop, d);
	if (!d->uapi) {
		fprintf(stderr, "%s: cannot listen on %s/%s.sock: %s\n", prog, UAPI_DEFAULT_DIR, name, strerror(errno));
		return -1;
	}
	rc = watch_signals(d);
	if (rc < 0) {
		fprintf(stderr, "%s: signals: %s\n", prog, strerror(-rc));
		return -1;
	}
	log_info("userspace", "%s: up, UAPI socket %s/%s.sock", name, UAPI_DEFAULT_DIR, name);
	return 0;
}

/* Background mode: the parent returns once the child reports "ready" (TUN and socket exist). */
static int fork_and_wait(int *ready_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0) {
		close(p[1]);
		char c = 0;
		ssize_t n;
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		exit(n == 1 && c == 'R' ? 0 : 1);
	}
	close(p[0]);
	setsid();
	*ready_fd = p[1];
	return 0;
}

static void detach_stdio(void)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		return;
	dup2(null, STDIN_FILENO);
	dup2(null, STDOUT_FILENO);
	/* Like wireguard-go with LOG_LEVEL: logs stay on stderr only when asked for. */
	if (!getenv("TNGWG_LOG"))
		dup2(null, STDERR_FILENO);
	close(null);
}

static int run(const char *prog, const char *ifname, bool foreground)
{
	struct daemon d = { .signal_fd = -1 };
	int ready_fd = -1;
	if (!foreground && fork_and_wait(&ready_fd) < 0) {
		fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
		return 1;
	}
	if (setup(&d, prog, ifname) < 0) {
		teardown(&d);
		return 1;
	}
	if (ready_fd >= 0) {
		if (write(ready_fd, "R", 1) != 1)
			log_warn("userspace", "cannot report readiness: %s", strerror(errno));
		close(ready_fd);
		detach_stdio();
	}
	int rc = loop_run(d.loop);
	teardown(&d);
	return rc < 0 ? 1 : 0;
}

static int parse_and_run(const char *prog, int argc, char **argv, bool compat)
{
	bool foreground = compat && getenv("WG_PROCESS_FOREGROUND") && !strcmp(getenv("WG_PROCESS_FOREGROUND"), "1");
	const char *ifname = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--foreground")) {
			foreground = true;
		} else if (compat && !strcmp(argv[i], "--version")) {
			printf("%s v%s (tng-wg userspace WireGuard)\n", prog, COMPAT_VERSION);
			return 0;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("Usage: %s [-f/--foreground] INTERFACE-NAME\n", prog);
			return 0;
		} else if (argv[i][0] == '-' || ifname) {
			fprintf(stderr, "Usage: %s [-f/--foreground] INTERFACE-NAME\n", prog);
			return 1;
		} else {
			ifname = argv[i];
		}
	}
	if (!ifname) {
		fprintf(stderr, "Usage: %s [-f/--foreground] INTERFACE-NAME\n", prog);
		return 1;
	}
	return run(prog, ifname, foreground);
}

int cmd_userspace(int argc, char **argv) { return parse_and_run("tng-wg userspace", argc, argv, false); }

int cmd_userspace_compat(int argc, char **argv) { return parse_and_run("tng-wg-userspace", argc, argv, true); }
