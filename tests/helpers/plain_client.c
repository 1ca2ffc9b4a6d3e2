/*
 * plain_client - connects to HOST PORT, sends one request, copies the
 * response to stdout and exits 0.  It never binds or listens: run under
 * cluster-run it shows that a program which only makes outgoing
 * connections is left alone by the shim.  Errors go to stderr, exit 1.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_to(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int err = getaddrinfo(host, port, &hints, &res), fd = -1;

	if (err != 0) {
		fprintf(stderr, "plain_client: %s port %s: %s\n", host, port, gai_strerror(err));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "plain_client: connect %s:%s: %s\n", host, port, strerror(err));
	return fd;
}

int main(int argc, char **argv)
{
	static const char request[] = "GET / HTTP/1.0\r\nHost: plain_client\r\n\r\n";
	char buf[4096];
	ssize_t n;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: plain_client HOST PORT\n");
		return 2;
	}
	fd = connect_to(argv[1], argv[2]);
	if (fd < 0)
		return 1;
	if (send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "plain_client: send: %s\n", strerror(errno));
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "plain_client: read: %s\n", strerror(errno));
			return 1;
		}
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
			fprintf(stderr, "plain_client: write: %s\n", strerror(errno));
			return 1;
		}
	}
	close(fd);
	return fflush(stdout) == 0 ? 0 : 1;
}
