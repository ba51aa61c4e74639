/* tng-wg up [-d] node.json: run the node daemon until SIGINT/SIGTERM or `tng-wg down`. */
#include "cmd/commands.h"
#include "node/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out, "Usage: tng-wg up [-d|--detach] [--log-file FILE] NODE.json\n"
		     "  Bring this node up: the overlay interface, the steering rules, and attested\n"
		     "  tunnels to peers on demand. Runs in the foreground until SIGINT/SIGTERM or\n"
		     "  'tng-wg down'; with -d it detaches once the node is ready.\n");
}

/* The log file, opened before detaching so that a refusal reaches the user. Not through a
 * symbolic link, and only a regular file: a daemon running as root must not be pointed at
 * another file by whoever could write a link where the log goes. */
static int open_log_file(const char *log_file)
{
	int fd = open(log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
	struct stat st;
	if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
		errno = EINVAL;
	}
	if (fd < 0)
		fprintf(stderr, "tng-wg up: cannot use %s as the log file: %s\n", log_file,
			errno == ELOOP		       ? "it is a symbolic link"
			: errno == EINVAL || errno == ENXIO ? "not a regular file" /* ENXIO: a FIFO */
							    : strerror(errno));
	return fd;
}

static int detach_and_run(const char *path, const char *log_file)
{
	int log_fd = log_file ? open_log_file(log_file) : -1;
	if (log_file && log_fd < 0)
		return 1;
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
		if (log_fd >= 0)
			dup2(log_fd, STDERR_FILENO);
		/* exit, not _exit: the daemon is the node's process, and its exit handlers must run
		 * (under the asan build, LeakSanitizer's check is one of them). */
		exit(daemon_run(path, p[1]));
	}
	close(p[1]);
	if (log_fd >= 0)
		close(log_fd);
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
	return detach ? detach_and_run(path, log_file) : daemon_run(path, -1);
}
