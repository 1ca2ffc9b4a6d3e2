/*
 * unix_server --path PATH [--unlink] [--umask OCTAL]: a unix stream server
 * as they are commonly written: optionally unlink(PATH) first (to clear a
 * stale socket), set the umask, bind, listen, and answer each connection
 * with the helpers' usual reply (worker=, pid=, ...), then close.
 */
#include "helper_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct helper_opts o;
	const char *path = NULL, *mask = NULL;
	int do_unlink = 0, fd;
	const struct helper_option extra[] = {
		{ "--path", HELPER_STR, &path },
		{ "--unlink", HELPER_FLAG, &do_unlink },
		{ "--umask", HELPER_STR, &mask },
		{ NULL, 0, NULL },
	};

	if (helper_parse(&o, argc, argv, extra) < 0 || !path || helper_setup_signals(&o) < 0)
		return 2;
	if (do_unlink && unlink(path) < 0 && errno != ENOENT) {
		fprintf(stderr, "unix_server: unlink %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (mask)
		umask((mode_t)strtol(mask, NULL, 8));
	snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 || listen(fd, 64) < 0) {
		fprintf(stderr, "unix_server: bind %s: %s\n", path, strerror(errno));
		return 1;
	}
	while (!helper_stopping) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int conn = accept(fd, (struct sockaddr *)&peer, &len);

		if (conn < 0) {
			if (helper_accept_error(&o, errno) < 0)
				return 1;
			continue;
		}
		helper_serve(&o, conn, fd, "unix", &peer, len, NULL);
	}
	return 0;
}
