/*
 * close_paths - a blocking server that closes each connection it served
 * one way, chosen by --close-by: close, syscall (syscall(SYS_close), as
 * libuv), close_range (of just that fd), closefrom (from that fd up), dup2
 * and dup3 (/dev/null put over it, then that closed).  Each of them ends
 * the connection for the shim, which must count it on the board and time
 * it (test_conn_stats.c).  --slow-ms holds the connection before the
 * reply, so that its duration is known from below.
 *
 * The reply is the usual one line per key (helper_common.h), no more: the
 * point is the close, not what was said.
 */
#include "helper_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How the served connection goes away; 0, or -1 with errno. */
static int close_by(const char *how, int conn, int devnull)
{
	if (!strcmp(how, "close"))
		return close(conn);
	if (!strcmp(how, "syscall"))
		return (int)syscall(SYS_close, conn);
	if (!strcmp(how, "close_range"))
		return close_range((unsigned)conn, (unsigned)conn, 0);
	if (!strcmp(how, "closefrom")) {
		closefrom(conn);        /* conn is the highest fd: nothing else goes */
		return 0;
	}
	if (!strcmp(how, "dup2"))
		return dup2(devnull, conn) < 0 ? -1 : close(conn);
	if (!strcmp(how, "dup3"))
		return dup3(devnull, conn, O_CLOEXEC) < 0 ? -1 : close(conn);
	errno = EINVAL;
	return -1;
}

static void serve(const struct helper_opts *o, int conn, int lfd,
		  const struct sockaddr_storage *peer, socklen_t plen)
{
	char req[HELPER_REQUEST_MAX], reply[HELPER_REPLY_MAX];
	size_t got = 0;
	int len;

	while (got < sizeof(req) && !helper_request_complete(req, got)) {
		ssize_t n = recv(conn, req + got, sizeof(req) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	helper_sleep_ms(o->slow_ms);
	len = helper_format_reply(o, reply, sizeof(reply), lfd, "main", peer, plen, NULL);
	if (len > 0 && send(conn, reply, (size_t)len, MSG_NOSIGNAL) < 0)
		fprintf(stderr, "%s: send: %s\n", o->prog, strerror(errno));
}

int main(int argc, char **argv)
{
	struct helper_opts o;
	const char *how = "close";
	int fd, devnull;
	const struct helper_option own[] = {
		{ "--close-by", HELPER_STR, &how },
		{ NULL, 0, NULL },
	};

	if (helper_parse(&o, argc, argv, own) < 0 || helper_setup_signals(&o) < 0)
		return 2;
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	fd = helper_listen(&o, o.port);
	if (fd < 0 || devnull < 0)
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
		serve(&o, conn, fd, &peer, len);
		if (close_by(how, conn, devnull) < 0)
			fprintf(stderr, "%s: --close-by %s: %s\n", o.prog, how, strerror(errno));
	}
	return 0;
}
