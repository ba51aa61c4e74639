#include "node/daemon.h"

#include "common/log.h"
#include "node/node.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct daemon {
	struct loop *loop;
	struct node *node;
};

/* systemd's readiness protocol (sd_notify): one datagram to $NOTIFY_SOCKET, when it is set. */
static void notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* an abstract socket */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, len) < 0)
		log_warn("node", "cannot tell the service manager \"%s\": %s", state, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void reload(struct daemon *d)
{
	char err[4096];
	notify("RELOADING=1");
	const char *path = node_config_path(d->node);
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", path); /* the config holding path is replaced */
	node_reload(d->node, copy, err, sizeof(err));
	notify("READY=1");
}

static void on_signal(void *ctx, int fd, unsigned events)
{
	struct daemon *d = ctx;
	struct signalfd_siginfo si;
	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		log_info("node", "SIGHUP: reloading the configuration");
		reload(d);
		return;
	}
	log_info("node", "signal %u: shutting down", si.ssi_signo);
	loop_stop(d->loop);
}

static int watch_signals(struct daemon *d)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0 || loop_watch(d->loop, fd, LOOP_READ, on_signal, d) < 0)
		return -1;
	return fd;
}

static void report_ready(int ready_fd, const char *text)
{
	if (ready_fd < 0)
		return;
	if (write(ready_fd, text, strlen(text)) < 0)
		log_warn("node", "cannot report to the parent: %s", strerror(errno));
	close(ready_fd);
}

int daemon_run(const char *config_path, int ready_fd)
{
	char err[4096];
	struct node_config *cfg;
	if (config_load_file(config_path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		report_ready(ready_fd, err);
		return 1;
	}
	struct daemon d = { .loop = loop_new() };
	int sfd = d.loop ? watch_signals(&d) : -1;
	d.node = sfd >= 0 ? node_start(d.loop, cfg, err, sizeof(err)) : NULL;
	if (sfd < 0) {
		snprintf(err, sizeof(err), "cannot set up the event loop: %s", strerror(errno));
		config_free(cfg);
	}
	if (!d.node) {
		log_error("node", "%s", err);
		report_ready(ready_fd, err);
		if (sfd >= 0)
			close(sfd);
		loop_free(d.loop);
		return 1;
	}
	report_ready(ready_fd, "ok");
	notify("READY=1\nSTATUS=up");
	int rc = loop_run(d.loop) < 0 ? 1 : 0;
	notify("STOPPING=1");
	node_stop(d.node);
	close(sfd);
	loop_free(d.loop);
	log_info("node", "down");
	return rc;
}
