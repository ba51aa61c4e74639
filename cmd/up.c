/* tng-wg up [-d] node.json: run the node daemon until SIGINT/SIGTERM or `tng-wg down`. */
#include "cmd/commands.h"
#include "cmd/node.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out, "Usage: tng-wg up [-d|--detach] [--log-file FILE] NODE.json\n"
		     "  Bring this node up: the overlay interface, the steering rules, and attested\n"
		     "  tunnels to peers on demand. Runs in the foreground until SIGINT/SIGTERM or\n"
		     "  'tng-wg down'; with -d it detaches once the node is ready.\n");
}

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

/* Runs the node; ready_fd (or -1) receives "ok" or the error text once the node is up or failed. */
static int run_node(const char *path, int ready_fd)
{
	char err[4096];
	struct node_config *cfg;
	if (config_load_file(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		if (ready_fd >= 0 && write(ready_fd, err, strlen(err)) < 0)
			return 1;
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
		if (ready_fd >= 0 && write(ready_fd, err, strlen(err)) < 0)
			log_error("node", "cannot report to the parent");
		loop_free(loop);
		return 1;
	}
	if (ready_fd >= 0) {
		if (write(ready_fd, "ok", 2) < 0)
			log_warn("node", "cannot report readiness to the parent");
		close(ready_fd);
	}
	int rc = loop_run(loop) < 0 ? 1 : 0;
	node_stop(n);
	close(sfd);
	loop_free(loop);
	log_info("node", "down");
	return rc;
}

static int detach_and_run(const char *path, const char *log_file)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		perror("tng-wg up: pipe");
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("tng-wg up: fork");
		return 1;
	}
	if (pid == 0) {
		close(p[0]);
		setsid();
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
		}
		if (log_file) {
			int lf = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
			if (lf >= 0)
				dup2(lf, STDERR_FILENO);
		}
		_exit(run_node(path, p[1]));
	}
	close(p[1]);
	char msg[4096];
	ssize_t n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	if (n == 2 && !memcmp(msg, "ok", 2)) {
		printf("tng-wg: node up (pid %d)\n", (int)pid);
		return 0;
	}
	msg[n > 0 ? n : 0] = '\0';
	fprintf(stderr, "tng-wg up: %s\n", n > 0 ? msg : "the daemon exited before it was ready");
	return 1;
}

int cmd_up(int argc, char **argv)
{
	bool detach = false;
	const char *path = NULL, *log_file = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-d") || !strcmp(argv[i], "--detach"))
			detach = true;
		else if (!strcmp(argv[i], "--log-file") && i + 1 < argc)
			log_file = argv[++i];
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' || path) {
			usage(stderr);
			return 1;
		} else
			path = argv[i];
	}
	if (!path) {
		usage(stderr);
		return 1;
	}
	return detach ? detach_and_run(path, log_file) : run_node(path, -1);
}
