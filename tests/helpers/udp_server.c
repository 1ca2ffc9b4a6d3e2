/*
 * udp_server - a plain UDP server: bind --addr:--port (default
 * 127.0.0.1:0), then answer every datagram with
 * "worker=<CLUSTER_WORKER_ID> pid=<pid> port=<getsockname port>".
 * It blocks in recvfrom() and knows nothing of cluster-run.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	return ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
				       : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *worker = getenv("CLUSTER_WORKER_ID");
	struct sockaddr_storage ss;
	socklen_t sslen;
	int port = 0, i, fd;

	for (i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--addr"))
			addr = argv[i + 1];
		else if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
	}
	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &a->sin6_addr);
		sslen = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &a->sin_addr);
		sslen = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
		fprintf(stderr, "udp_server: bind %s:%d: %m\n", addr, port);
		return 1;
	}
	for (;;) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		char buf[512], reply[128];
		ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &plen);
		int r;

		if (n < 0)
			continue;
		r = snprintf(reply, sizeof(reply), "worker=%s pid=%d port=%d",
			     worker ? worker : "-", (int)getpid(), local_port(fd));
		sendto(fd, reply, (size_t)r, 0, (struct sockaddr *)&peer, plen);
	}
}
