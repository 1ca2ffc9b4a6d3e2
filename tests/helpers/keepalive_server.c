/*
 * keepalive_server - an HTTP/1.1 keep-alive server in plain C, a thread
 * per connection: each request (anything up to "\r\n\r\n") gets
 * "HTTP/1.1 200 OK" with Content-Length, head and body in one writev(),
 * and the connection stays open for the next one until the client
 * closes it.  SIGPIPE keeps its default action: a write the kernel
 * refuses with it would kill the server.
 *
 * --write-after: after each response, one more write() of nothing, as a
 * server that writes once more after the shim closed the connection
 * behind its response (a request raced in).  It must fail with EPIPE and
 * no SIGPIPE: "keepalive_server: write after the response: EPIPE" on
 * stderr each time.
 */
#include "helper_common.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int write_after;
static const struct helper_opts *opts;

/* One request into buf: its length, 0 at EOF, -1 on error. */
static ssize_t read_request(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n < cap - 1) {
		r = read(fd, buf + n, cap - 1 - n);
		if (r <= 0)
			return r;
		n += (size_t)r;
		buf[n] = 0;
		if (strstr(buf, "\r\n\r\n"))
			return (ssize_t)n;
	}
	return -1;
}

static void *serve(void *arg)
{
	int fd = (int)(long)arg;
	char req[HELPER_REQUEST_MAX], head[256], body[64];
	struct iovec v[2];

	for (;;) {
		if (read_request(fd, req, sizeof(req)) <= 0)
			break;
		snprintf(body, sizeof(body), "worker=%s\n", opts->worker);
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			 "X-Worker: %s\r\nContent-Length: %zu\r\n\r\n", opts->worker, strlen(body));
		v[0] = (struct iovec){ head, strlen(head) };
		v[1] = (struct iovec){ body, strlen(body) };
		if (writev(fd, v, 2) != (ssize_t)(v[0].iov_len + v[1].iov_len))
			break;
		if (write_after && write(fd, "", 0) < 0) {
			fprintf(stderr, "keepalive_server: write after the response: %s\n",
				errno == EPIPE ? "EPIPE" : strerror(errno));
			if (errno == EPIPE)
				continue;       /* the reads go on: the client closes */
		}
	}
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	struct helper_opts o;
	const struct helper_option extra[] = {
		{ "--write-after", HELPER_FLAG, &write_after },
		{ 0 },
	};
	pthread_attr_t attr;
	int lfd;

	if (helper_parse(&o, argc, argv, extra) < 0 || helper_setup_signals(&o) < 0)
		return 2;
	opts = &o;
	lfd = helper_listen(&o, o.port);
	if (lfd < 0)
		return 1;
	helper_announce(&o, lfd);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (;;) {
		pthread_t t;
		int conn = accept(lfd, NULL, NULL);

		if (conn < 0) {
			if (helper_accept_error(&o, errno) < 0)
				return 1;
			continue;
		}
		if (pthread_create(&t, &attr, serve, (void *)(long)conn) != 0)
			close(conn);
	}
}
