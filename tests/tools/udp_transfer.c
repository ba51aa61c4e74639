/*
 * A file sent reliably over UDP, for tests that move bulk data through a very lossy path where
 * TCP's own recovery collapses (at 30% loss both ways a TCP transfer between two namespaces
 * stalls for minutes on end, with or without the tunnel). Selective repeat: the sender keeps a
 * window of blocks in flight and sends each again until the receiver's acknowledgement covers it;
 * the receiver writes blocks where they belong and acknowledges a cumulative count plus a bitmap
 * of the blocks after it.
 *
 *   udp_transfer recv PORT FILE [SECONDS]   receive one file into FILE, then exit 0 once the sender
 *                                           has gone quiet (it saw the last acknowledgement)
 *   udp_transfer send ADDR PORT FILE [SECONDS]   send FILE to ADDR:PORT (IPv4), exit 0 when all of
 *                                           it is acknowledged; prints blocks sent and resent
 * Either gives up after SECONDS (default 600) with exit status 1; 2 on usage or set-up errors.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 1200		/* payload per datagram; with the header it fits a 1420-byte tunnel */
#define WINDOW 1024		/* blocks in flight, and blocks an acknowledgement's bitmap covers */
#define RESEND_NS 20000000ull	/* a block not acknowledged after 20 ms is sent again */
#define ACK_EVERY 8		/* the receiver acknowledges every 8 new blocks, and when idle */
#define QUIET_NS 3000000000ull	/* the receiver leaves after 3 s without a datagram once complete */

enum { DATA = 1, ACK = 2 };

struct data_header {
	uint8_t type, pad[3];
	uint32_t block;
	uint64_t size;
};

struct ack {
	uint8_t type, pad[3];
	uint32_t cumulative;		/* every block below this has arrived */
	uint8_t after[WINDOW / 8];	/* bit i: block cumulative + i has arrived */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool bit(const uint8_t *map, uint64_t i) { return map[i / 8] & (1u << (i % 8)); }
static void set_bit(uint8_t *map, uint64_t i) { map[i / 8] |= (uint8_t)(1u << (i % 8)); }

static uint64_t blocks_of(uint64_t size) { return (size + BLOCK - 1) / BLOCK; }

static int udp_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	int buf = 8 << 20;
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	}
	return fd;
}

struct receiver {
	int fd, out;
	struct sockaddr_in peer;
	uint64_t size, blocks, cumulative, unacked;
	uint8_t *have;
};

static void send_ack(struct receiver *r)
{
	struct ack a = { .type = ACK, .cumulative = htonl((uint32_t)r->cumulative) };
	for (uint64_t i = 0; i < WINDOW && r->cumulative + i < r->blocks; i++)
		if (bit(r->have, r->cumulative + i))
			set_bit(a.after, i);
	sendto(r->fd, &a, sizeof(a), 0, (struct sockaddr *)&r->peer, sizeof(r->peer));
	r->unacked = 0;
}

/* Returns -1 on a write error; a datagram that is not a block of this transfer is ignored. */
static int take_block(struct receiver *r, const uint8_t *buf, ssize_t n, const struct sockaddr_in *from)
{
	struct data_header h;
	if (n < (ssize_t)sizeof(h))
		return 0;
	memcpy(&h, buf, sizeof(h));
	uint64_t size = be64toh(h.size), block = ntohl(h.block);
	if (h.type != DATA || size == 0 || blocks_of(size) > UINT32_MAX)
		return 0;
	if (!r->have) {
		r->size = size;
		r->blocks = blocks_of(size);
		r->peer = *from;
		if (!(r->have = calloc(r->blocks / 8 + 1, 1)))
			return -1;
	}
	uint64_t len = block + 1 == r->blocks ? r->size - block * BLOCK : BLOCK;
	if (size != r->size || block >= r->blocks || (uint64_t)n != sizeof(h) + len)
		return 0;
	if (!bit(r->have, block)) {
		if (pwrite(r->out, buf + sizeof(h), len, (off_t)(block * BLOCK)) != (ssize_t)len)
			return -1;
		set_bit(r->have, block);
		while (r->cumulative < r->blocks && bit(r->have, r->cumulative))
			r->cumulative++;
	}
	if (++r->unacked >= ACK_EVERY || r->cumulative == r->blocks)
		send_ack(r);
	return 0;
}

static int receive_file(int fd, int out, uint64_t deadline)
{
	struct receiver r = { .fd = fd, .out = out };
	static uint8_t buf[65536];
	uint64_t last_heard = now_ns();
	int rc = 1;
	while (now_ns() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, 2);
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t n;
		while ((n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen)) >= 0) {
			last_heard = now_ns();
			if (take_block(&r, buf, n, &from) < 0) {
				perror("udp_transfer: write");
				goto out;
			}
			fromlen = sizeof(from);
		}
		if (r.unacked)
			send_ack(&r);
		if (r.have && r.cumulative == r.blocks && now_ns() - last_heard > QUIET_NS) {
			rc = 0;
			break;
		}
	}
out:
	free(r.have);
	return rc;
}

struct sender {
	int fd;
	const uint8_t *data;
	uint64_t size, blocks, cumulative, sent, resent;
	uint8_t *acked;
	uint64_t *sent_at;
};

static void take_ack(struct sender *s, const uint8_t *buf, ssize_t n)
{
	struct ack a;
	if (n != (ssize_t)sizeof(a))
		return;
	memcpy(&a, buf, sizeof(a));
	uint64_t cumulative = ntohl(a.cumulative);
	if (a.type != ACK || cumulative > s->blocks)
		return;
	for (uint64_t b = s->cumulative; b < cumulative; b++)
		set_bit(s->acked, b);
	for (uint64_t i = 0; i < WINDOW && cumulative + i < s->blocks; i++)
		if (bit(a.after, i))
			set_bit(s->acked, cumulative + i);
	while (s->cumulative < s->blocks && bit(s->acked, s->cumulative))
		s->cumulative++;
}

/* Sends what is due in the window; false when the socket is full for now. */
static bool send_due(struct sender *s)
{
	uint8_t buf[sizeof(struct data_header) + BLOCK];
	uint64_t now = now_ns(), end = s->cumulative + WINDOW;
	for (uint64_t b = s->cumulative; b < end && b < s->blocks; b++) {
		if (bit(s->acked, b) || (s->sent_at[b] && now - s->sent_at[b] < RESEND_NS))
			continue;
		uint64_t len = b + 1 == s->blocks ? s->size - b * BLOCK : BLOCK;
		struct data_header h = { .type = DATA, .block = htonl((uint32_t)b), .size = htobe64(s->size) };
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), s->data + b * BLOCK, len);
		if (send(s->fd, buf, sizeof(h) + len, 0) < 0)
			return false;
		s->resent += s->sent_at[b] != 0;
		s->sent++;
		s->sent_at[b] = now;
	}
	return true;
}

static int send_file(int fd, const uint8_t *data, uint64_t size, uint64_t deadline)
{
	struct sender s = { .fd = fd, .data = data, .size = size, .blocks = blocks_of(size) };
	s.acked = calloc(s.blocks / 8 + 1, 1);
	s.sent_at = calloc(s.blocks, sizeof(*s.sent_at));
	uint64_t start = now_ns();
	int rc = 2;
	if (!s.acked || !s.sent_at)
		goto out;
	rc = 1;
	while (s.cumulative < s.blocks && now_ns() < deadline) {
		bool room = send_due(&s);
		struct pollfd p = { .fd = fd, .events = POLLIN | (room ? 0 : POLLOUT) };
		poll(&p, 1, 1);
		uint8_t buf[2048];
		ssize_t n;
		while ((n = recv(fd, buf, sizeof(buf), 0)) >= 0)
			take_ack(&s, buf, n);
	}
	if (s.cumulative == s.blocks)
		rc = 0;
	printf("blocks=%llu sent=%llu resent=%llu seconds=%.1f\n", (unsigned long long)s.blocks,
	       (unsigned long long)s.sent, (unsigned long long)s.resent, (double)(now_ns() - start) / 1e9);
out:
	free(s.acked);
	free(s.sent_at);
	return rc;
}

static int usage(void)
{
	fprintf(stderr, "usage: udp_transfer recv PORT FILE [SECONDS]\n"
			"       udp_transfer send ADDR PORT FILE [SECONDS]\n");
	return 2;
}

int main(int argc, char **argv)
{
	bool sending = argc >= 5 && !strcmp(argv[1], "send");
	bool receiving = argc >= 4 && !strcmp(argv[1], "recv");
	if (!sending && !receiving)
		return usage();
	int arg = sending ? 3 : 2;
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[arg])) };
	if (sending && inet_pton(AF_INET, argv[2], &addr.sin_addr) != 1)
		return usage();
	const char *path = argv[arg + 1];
	uint64_t seconds = argc > arg + 2 ? strtoull(argv[arg + 2], NULL, 10) : 600;
	uint64_t deadline = now_ns() + seconds * 1000000000ull;
	int fd = udp_socket();
	if (fd < 0) {
		perror("udp_transfer: socket");
		return 2;
	}
	if (receiving) {
		int out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (out < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
			perror("udp_transfer: open or bind");
			return 2;
		}
		int rc = receive_file(fd, out, deadline);
		return close(out) < 0 ? 1 : rc;
	}
	int in = open(path, O_RDONLY);
	struct stat st;
	if (in < 0 || fstat(in, &st) < 0 || st.st_size == 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		perror("udp_transfer: open, stat or connect");
		return 2;
	}
	uint8_t *data = malloc((size_t)st.st_size);
	if (!data || read(in, data, (size_t)st.st_size) != st.st_size) {
		perror("udp_transfer: read");
		return 2;
	}
	int rc = send_file(fd, data, (uint64_t)st.st_size, deadline);
	free(data);
	close(in);
	return rc;
}
