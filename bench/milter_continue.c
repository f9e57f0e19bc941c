/*
 * milter_continue.c - the load for `make bench-milter`: a milter that asks
 * for every protocol step and answers "continue" to each, so that postbote
 * sends all of them and waits for every answer.  One thread, epoll, no
 * library, so that the filter's own cost stays small next to the client's.
 *
 * Usage: milter_continue PORT      (listens on 127.0.0.1:PORT)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXPKT (1 << 20)

struct conn {
	int fd;
	size_t len;
	unsigned char buf[MAXPKT + 4];
};

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c);
}

static int send_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* answer - the reply to one packet whose command byte is cmd; -1 to close */
static int answer(int fd, unsigned char cmd)
{
	static const unsigned char cont[] = { 0, 0, 0, 1, 'c' };
	static const unsigned char optneg[] = {
		0, 0, 0, 13, 'O', 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0
	};

	switch (cmd) {
	case 'O':
		return send_all(fd, optneg, sizeof(optneg));
	case 'D':		/* macros: no reply */
	case 'A':		/* abort: no reply */
		return 0;
	case 'Q':
		return -1;
	default:
		return send_all(fd, cont, sizeof(cont));
	}
}

/* conn_read - read what is there and answer each whole packet */
static int conn_read(struct conn *c)
{
	ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0)
		return -1;
	c->len += (size_t)r;
	size_t off = 0;
	while (c->len - off >= 4) {
		uint32_t n;
		memcpy(&n, c->buf + off, 4);
		n = ntohl(n);
		if (n == 0 || n > MAXPKT)
			return -1;
		if (c->len - off < 4 + (size_t)n)
			break;
		if (answer(c->fd, c->buf[off + 4]) < 0)
			return -1;
		off += 4 + n;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: milter_continue PORT\n");
		return 2;
	}
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)atoi(argv[1])) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || bind(ls, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(ls, 256) < 0) {
		perror("milter_continue: listen");
		return 1;
	}
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, -1);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == NULL) {
				int fd = accept(ls, NULL, NULL);
				if (fd < 0)
					continue;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
					   sizeof(one));
				c = calloc(1, sizeof(*c));
				if (c == NULL) {
					close(fd);
					continue;
				}
				c->fd = fd;
				struct epoll_event cev = { .events = EPOLLIN,
							   .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
			} else if (conn_read(c) < 0) {
				conn_close(c);
			}
		}
	}
}
