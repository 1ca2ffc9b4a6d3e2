/*
 * fdops_server - a blocking server that first pokes its listener the way
 * runtimes do (see fdops_checks.h), then serves on a dup() of it after
 * closing the original, and reports every check in every reply as
 * "key=ok" or "key=bad:<detail>".
 *
 * Last check, client_tcp: a thread connects to the server's own port as an
 * ordinary client and reads a reply, while the main thread keeps accepting
 * (through poll() and a briefly nonblocking listener, so it can notice when
 * the thread is done).  Replies sent meanwhile say client_tcp=pending; the
 * "listening" line is printed once every result is known.  Under
 * cluster-run the self-connection may be served by another worker, which
 * is fine: only the client side is being checked.
 */
#include "fdops_checks.h"
#include "helper_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct self_client {
	struct sockaddr_storage to;
	socklen_t to_len;
	char why[FDOPS_WHY_MAX];
	atomic_int done;
};

static void *run_self_client(void *arg)
{
	static const char request[] = "GET /self HTTP/1.0\r\n\r\n";
	struct self_client *c = arg;
	struct timeval timeout = { .tv_sec = 5 };
	char reply[HELPER_REPLY_MAX];
	size_t len = 0;
	ssize_t n = 0;
	int fd = socket(c->to.ss_family, SOCK_STREAM, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0 ||
	    connect(fd, (struct sockaddr *)&c->to, c->to_len) < 0 ||
	    send(fd, request, sizeof(request) - 1, MSG_NOSIGNAL) < 0) {
		snprintf(c->why, sizeof(c->why), "%s", strerror(errno));
	} else {
		while (len < sizeof(reply) - 1 &&
		       (n = read(fd, reply + len, sizeof(reply) - 1 - len)) > 0)
			len += (size_t)n;
		if (n < 0)
			snprintf(c->why, sizeof(c->why), "read:%s", strerror(errno));
		else if (len < 15 || memcmp(reply, "HTTP/1.0 200 OK", 15) != 0)
			snprintf(c->why, sizeof(c->why), "reply_of_%zu_bytes", len);
	}
	if (fd >= 0)
		close(fd);
	atomic_store(&c->done, 1);
	return NULL;
}

/* Where a client reaches fd: its address, with a wildcard made loopback. */
static int self_address(int fd, struct self_client *c)
{
	c->to_len = sizeof(c->to);
	if (getsockname(fd, (struct sockaddr *)&c->to, &c->to_len) < 0)
		return -1;
	if (c->to.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&c->to;

		if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->to;

		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			sin6->sin6_addr = in6addr_loopback;
	}
	return 0;
}

static int set_nonblocking(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* Run the self-client check while serving whatever arrives meanwhile. */
static int check_self_client(const struct helper_opts *o, int fd, struct fdops_results *r)
{
	static struct self_client client;
	char pending[sizeof(r->text) + 32];
	pthread_t thread;
	int err;

	snprintf(pending, sizeof(pending), "%sclient_tcp=pending\n", r->text);
	if (self_address(fd, &client) < 0 || set_nonblocking(fd, 1) < 0) {
		fprintf(stderr, "%s: preparing client_tcp: %s\n", o->prog, strerror(errno));
		return -1;
	}
	if ((err = pthread_create(&thread, NULL, run_self_client, &client)) != 0) {
		fprintf(stderr, "%s: pthread_create: %s\n", o->prog, strerror(err));
		return -1;
	}
	while (!atomic_load(&client.done) && !helper_stopping) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int conn;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		conn = accept(fd, (struct sockaddr *)&peer, &len);
		if (conn >= 0)
			helper_serve(o, conn, fd, "main", &peer, len, pending);
		else if (errno != EAGAIN && helper_accept_error(o, errno) < 0)
			return -1;
	}
	pthread_join(thread, NULL);
	fdops_record(r, "client_tcp", client.why);
	if (set_nonblocking(fd, 0) < 0) {
		fprintf(stderr, "%s: fcntl: %s\n", o->prog, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct fdops_results results;
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	struct helper_opts o;
	int fd, port_before;

	if (helper_parse(&o, argc, argv, NULL) < 0 || helper_setup_signals(&o) < 0)
		return 2;
	fd = helper_bind(&o, o.port);
	if (fd < 0)
		return 1;
	port_before = helper_local_port(fd);
	if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) < 0 ||
	    helper_start_listening(&o, fd) < 0)
		return 1;
	fdops_check_listener(&results, fd, bound.ss_family, port_before);
	fd = fdops_check_dups(&results, fd);
	fdops_check_other_sockets(&results);
	if (check_self_client(&o, fd, &results) < 0)
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
		helper_serve(&o, conn, fd, "main", &peer, len, results.text);
	}
	return 0;
}
