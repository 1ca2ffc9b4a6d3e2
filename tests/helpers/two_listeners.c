/*
 * two_listeners - one process, two listeners on the same address ("main"
 * on --port, "admin" on --port2), the way servers expose a metrics or admin
 * port next to the public one.  A single poll() loop watches both
 * nonblocking listeners; each connection is then served inline.  Under
 * --graceful, SIGTERM is let in only inside ppoll(), so it cannot slip in
 * between the loop's check and the wait.
 *
 * The start-up line names both ports: "listening <addr> <port> <port2>".
 */
#include "helper_common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static int set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Take one connection from a ready listener, if it is still there (another
 * process sharing the listener may have taken it first). */
static int serve_one(const struct helper_opts *o, int fd, const char *name)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	int conn = accept(fd, (struct sockaddr *)&peer, &len);

	if (conn < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return helper_accept_error(o, errno);
	}
	helper_serve(o, conn, fd, name, &peer, len, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const names[2] = { "main", "admin" };
	int port2 = 0;
	const struct helper_option extra[] = {
		{ "--port2", HELPER_INT, &port2 },
		{ NULL, 0, NULL },
	};
	struct helper_opts o;
	struct pollfd pfds[2];
	sigset_t term, wait_mask;

	if (helper_parse(&o, argc, argv, extra) < 0 || helper_setup_signals(&o) < 0)
		return 2;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if (o.graceful && sigprocmask(SIG_BLOCK, &term, &wait_mask) < 0) {
		fprintf(stderr, "%s: sigprocmask: %s\n", o.prog, strerror(errno));
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		pfds[i].fd = helper_listen(&o, i == 0 ? o.port : port2);
		pfds[i].events = POLLIN;
		if (pfds[i].fd < 0)
			return 1;
		if (set_nonblocking(pfds[i].fd) < 0) {
			fprintf(stderr, "%s: fcntl: %s\n", o.prog, strerror(errno));
			return 1;
		}
	}
	printf("listening %s %d %d\n", o.addr, helper_local_port(pfds[0].fd),
	       helper_local_port(pfds[1].fd));
	fflush(stdout);

	while (!helper_stopping) {
		if (ppoll(pfds, 2, NULL, o.graceful ? &wait_mask : NULL) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: poll: %s\n", o.prog, strerror(errno));
			return 1;
		}
		for (int i = 0; i < 2; i++)
			if (pfds[i].revents != 0 && serve_one(&o, pfds[i].fd, names[i]) < 0)
				return 1;
	}
	return 0;
}
