/*
 * blocking_server - the simplest server a test can cluster: one thread,
 * one listener, a blocking accept() loop, one connection at a time.
 *
 * Uses accept() rather than accept4() on purpose, so the shim's plain
 * accept hook is exercised.  See helper_common.h for the options and the
 * reply.
 *
 * --late-bind PORT: with each connection it accepts, it also binds
 * 127.0.0.1:PORT (and closes that socket), as a worker that serves and
 * asks for a new address would; the reply says "late_bind=ok" or the
 * error.
 */
#include "helper_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void late_bind(int port, char *extra, size_t cap)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		snprintf(extra, cap, "late_bind=ok\n");
	else
		snprintf(extra, cap, "late_bind=%s\n", strerror(errno));
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	struct helper_opts o;
	int fd, late_port = 0;
	char extra[128];
	const struct helper_option own[] = {
		{ "--late-bind", HELPER_INT, &late_port },
		{ NULL, 0, NULL },
	};

	if (helper_parse(&o, argc, argv, own) < 0 || helper_setup_signals(&o) < 0)
		return 2;
	fd = helper_listen(&o, o.port);
	if (fd < 0)
		return 1;
	helper_announce(&o, fd);

	while (!helper_stopping) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int conn = accept(fd, (struct sockaddr *)&peer, &len);

		if (conn < 0) {
			if (helper_accept_error(&o, errno) < 0)
				return 1;
			continue;
		}
		if (late_port)
			late_bind(late_port, extra, sizeof(extra));
		helper_serve(&o, conn, fd, "main", &peer, len, late_port ? extra : NULL);
	}
	return 0;
}
