/* tng-wg stats IFACE: the device's drop and error counters, asked over its UAPI socket. */
#include "cmd/commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "overlay/uapi.h"

static int connect_uapi(const char *ifname)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (uapi_socket_path(UAPI_DEFAULT_DIR, ifname, sun.sun_path, sizeof(sun.sun_path)) < 0)
		return -ENAMETOOLONG;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int cmd_stats(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(argc == 2 ? stdout : stderr, "Usage: tng-wg stats IFACE\n");
		return argc == 2 ? 0 : 1;
	}
	int fd = connect_uapi(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "tng-wg stats: %s/%s.sock: %s\n", UAPI_DEFAULT_DIR, argv[1], strerror(-fd));
		return 1;
	}
	static const char request[] = "stats=1\n\n";
	FILE *f = fdopen(fd, "r+");
	if (!f || fwrite(request, 1, sizeof(request) - 1, f) != sizeof(request) - 1 || fflush(f) != 0) {
		fprintf(stderr, "tng-wg stats: cannot send the request\n");
		if (f)
			fclose(f);
		else
			close(fd);
		return 1;
	}
	char line[256];
	int err = -EPROTO;
	while (fgets(line, sizeof(line), f)) {
		if (!strcmp(line, "\n"))
			break;
		if (!strncmp(line, "errno=", 6)) {
			err = atoi(line + 6);
			continue;
		}
		fputs(line, stdout);
	}
	fclose(f);
	if (err) {
		fprintf(stderr, "tng-wg stats: %s: %s\n", argv[1], strerror(err < 0 ? -err : err));
		return 1;
	}
	return 0;
}
