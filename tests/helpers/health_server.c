/*
 * health_server - a blocking one-connection-at-a-time server that goes
 * unhealthy on purpose, for test_recycle_* and test_hang:
 *   --grow-kb N     after each reply, allocate and touch N KiB more (a leak)
 *   --stop-after K  after K replies, SIGSTOP itself (hung, process alive)
 *   --block-after K after K replies, block forever before the next accept
 * Otherwise like blocking_server (see helper_common.h; --slow-ms makes it
 * slow but live).
 */
#include "helper_common.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct helper_opts o;
	int grow_kb = 0, stop_after = 0, block_after = 0, served = 0, fd;
	const struct helper_option extra[] = {
		{ "--grow-kb", HELPER_INT, &grow_kb },
		{ "--stop-after", HELPER_INT, &stop_after },
		{ "--block-after", HELPER_INT, &block_after },
		{ NULL, 0, NULL },
	};

	if (helper_parse(&o, argc, argv, extra) < 0 || helper_setup_signals(&o) < 0)
		return 2;
	fd = helper_listen(&o, o.port);
	if (fd < 0)
		return 1;
	helper_announce(&o, fd);

	while (!helper_stopping) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int conn;

		if (stop_after && served == stop_after)
			raise(SIGSTOP);
		while (block_after && served >= block_after)
			pause();
		conn = accept(fd, (struct sockaddr *)&peer, &len);
		if (conn < 0) {
			if (helper_accept_error(&o, errno) < 0)
				return 1;
			continue;
		}
		helper_serve(&o, conn, fd, "main", &peer, len, NULL);
		served++;
		if (grow_kb > 0) {
			char *leak = malloc((size_t)grow_kb * 1024);
			if (leak)
				memset(leak, served & 0xff, (size_t)grow_kb * 1024);
		}
	}
	return 0;
}
