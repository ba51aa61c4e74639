#include "node/daemon.h"

#include "common/log.h"
#include "node/node.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static void on_signal(void *ctx, int fd, unsigned events)
{
	struct loop *loop = ctx;
	struct signalfd_siginfo si;
	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		log_info("node", "signal %u: shutting down", si.ssi_signo);
		loop_stop(loop);
	}
}

static int watch_signals(struct loop *loop)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0 || loop_watch(loop, fd, LOOP_READ, on_signal, loop) < 0)
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
	struct loop *loop = loop_new();
	int sfd = loop ? watch_signals(loop) : -1;
	struct node *n = sfd >= 0 ? node_start(loop, cfg, err, sizeof(err)) : NULL;
	if (sfd < 0) {
		snprintf(err, sizeof(err), "cannot set up the event loop: %s", strerror(errno));
		config_free(cfg);
	}
	if (!n) {
		log_error("node", "%s", err);
		report_ready(ready_fd, err);
		if (sfd >= 0)
			close(sfd);
		loop_free(loop);
		return 1;
	}
	report_ready(ready_fd, "ok");
	int rc = loop_run(loop) < 0 ? 1 : 0;
	node_stop(n);
	close(sfd);
	loop_free(loop);
	log_info("node", "down");
	return rc;
}
