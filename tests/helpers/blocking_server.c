/*
 * blocking_server - the simplest server a test can cluster: one thread,
 * one listener, a blocking accept() loop, one connection at a time.
 *
 * Uses accept() rather than accept4() on purpose, so the shim's plain
 * accept hook is exercised.  See helper_common.h for the options and the
 * reply.
 */
#include "helper_common.h"

#include <errno.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	struct helper_opts o;
	int fd;

	if (helper_parse(&o, argc, argv, NULL) < 0 || helper_setup_signals(&o) < 0)
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
		helper_serve(&o, conn, fd, "main", &peer, len, NULL);
	}
	return 0;
}
