/*
 * floor.c - the least a master can do per connection on this kernel.
 *
 *   cluster-floor [--addr A] [--port P] [--workers N] [--backlog N]
 *                 [--acceptors K] [--receivers blocking|epoll]
 *
 * The yardstick of issue 12: the master's CPU per handed connection is
 * compared with this program's.  The master here does what cluster-run's
 * does on its hot path and nothing else: an epoll loop (like the real
 * master, balancer.c) woken by the non-blocking listening socket, then
 * accept4 until EAGAIN, for each connection one sendmsg of one byte with
 * the fd attached (SCM_RIGHTS) over a SOCK_SEQPACKET channel to the next
 * receiver in turn (round-robin), and close.  No message comes back: no
 * close reports, no FIONREAD, no window, no pending queue, no timers.  The
 * channels are blocking on the master's side, so a full channel stalls the
 * master (the kernel's back-pressure) instead of costing a retry.
 *
 * The receivers are N forked processes, each the worker end of one
 * channel: recvmsg the fd, read the request, write a fixed "200 OK,
 * Connection: close" response shaped like hello_server's (with
 * X-Worker so the load generator counts per receiver), close.  They
 * block, one connection at a time, which is enough for a "hello" answer
 * and keeps their code out of the way; their CPU is not the master's and
 * is not what this program measures.
 *
 * What it is not: a server, a policy, or something run-policies loads for
 * throughput (its conn/s shows, but the figure that matters is the
 * master's CPU µs per connection, from /proc/PID/stat of this process).
 * Like hello_server it prints `port=P worker=I pid=PID` once per receiver
 * when everything listens, and stops on SIGTERM/SIGINT (the receivers die
 * with it: PR_SET_PDEATHSIG, and a SIGTERM from the master).  On exit it
 * reports to stderr the connections it handed out and its own CPU time.
 *
 * --acceptors K (issue 12 item 5, "beyond one master core"): K acceptor
 * processes instead of one, each with its own SO_REUSEPORT listening
 * socket on the same port (the kernel spreads connections over them) and
 * its own channel to every receiver, which polls its K channels.  This is
 * the way past one master core on a many-core host, measured at its own
 * floor: each acceptor reports on exit the connections it handed and its
 * CPU (`acceptor=I handed=N cpu_us=U`), so the cost per connection with K
 * acceptors can be set against one.  K=1 (the default) is the floor above,
 * unchanged.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 1024
#define MAX_ACCEPTORS 16
#define BODY "Hello, world!\n"

struct config {
	const char *addr;
	int port;
	int workers;
	int backlog;
	int acceptors;
	int epoll_receivers;
};

struct floor_master {
	int lfd;
	int epfd;
	int nworkers;
	int nacceptors;
	int epoll_receivers;            /* --receivers epoll */
	int me;                         /* which acceptor this process is */
	int next;                       /* round-robin cursor */
	int *chan;                      /* [acceptor][worker]: master's ends */
	pid_t pid[MAX_WORKERS];
	pid_t acceptor_pid[MAX_ACCEPTORS];
	unsigned long long handed;
};

/* This acceptor's end of the channel to receiver i. */
static int *chan_of(struct floor_master *m, int a, int i)
{
	return &m->chan[(size_t)a * MAX_WORKERS + (size_t)i];
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int signo)
{
	(void)signo;
	stop_requested = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: cluster-floor [--addr A] [--port P] [--workers N] "
		   "[--backlog N] [--acceptors K]\n"
		   "                     [--receivers blocking|epoll]\n");
}

static int parse_args(int argc, char **argv, struct config *c)
{
	static const struct option opts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "workers", required_argument, NULL, 'n' },
		{ "backlog", required_argument, NULL, 'b' },
		{ "acceptors", required_argument, NULL, 'k' },
		{ "receivers", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	*c = (struct config){ .addr = "127.0.0.1", .port = 0, .workers = 4,
			      .backlog = 4096, .acceptors = 1 };
	int ch;
	while ((ch = getopt_long(argc, argv, "a:p:n:b:k:r:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'a': c->addr = optarg; break;
		case 'p': c->port = atoi(optarg); break;
		case 'n': c->workers = atoi(optarg); break;
		case 'b': c->backlog = atoi(optarg); break;
		case 'k': c->acceptors = atoi(optarg); break;
		case 'r':
			if (strcmp(optarg, "epoll") && strcmp(optarg, "blocking")) {
				usage(stderr);
				return 1;
			}
			c->epoll_receivers = !strcmp(optarg, "epoll");
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return 1;
		}
	}
	if (optind != argc || c->workers < 1 || c->workers > MAX_WORKERS ||
	    c->port < 0 || c->port > 65535 || c->acceptors < 1 ||
	    c->acceptors > MAX_ACCEPTORS) {
		usage(stderr);
		return 1;
	}
	return 0;
}

static int listen_socket(const struct config *c, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, c->addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "cluster-floor: bad address %s\n", c->addr);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("cluster-floor: socket");
		return -1;
	}
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (c->acceptors > 1 &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, c->backlog) < 0) {
		fprintf(stderr, "cluster-floor: %s:%d: %s\n", c->addr, port,
			strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int local_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		return -1;
	return ntohs(sin.sin_port);
}

/* One connection handed over by the master: fd, or -1 when the channel
 * is gone (the master exited) or the message is not ours, -2 when flags
 * has MSG_DONTWAIT and nothing is queued. */
static int receive_conn(int chan, int flags)
{
	char byte;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n;
	do {
		n = recvmsg(chan, &mh, MSG_CMSG_CLOEXEC | flags);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -2;
	if (n <= 0)
		return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
	return fd;
}

/* The response, whole; a connection that fails only costs itself. */
static void write_all(int fd, const char *resp, size_t resp_len)
{
	size_t off = 0;
	while (off < resp_len) {
		ssize_t n = write(fd, resp + off, resp_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

/* Reads until the end of the request head (the load generator sends a
 * GET without a body), writes the response, closes.  Errors only cost
 * that connection. */
static void answer(int fd, const char *resp, size_t resp_len)
{
	char buf[4096];
	size_t have = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		have += (size_t)n;
		buf[have] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
		if (have == sizeof(buf) - 1)
			goto out;
	}
	write_all(fd, resp, resp_len);
out:
	close(fd);
}

/*
 * --receivers epoll: a receiver shaped like hello_server instead, one
 * epoll loop over its channels and its connections, asleep in epoll_wait
 * whenever it has nothing to do.  In a closed loop the receivers shape
 * the arrivals the master sees (how many connections wait per wake-up),
 * so this is the floor for event-driven workers; the default blocking
 * receivers are the floor for one-at-a-time ones.
 */
#define REQ_MAX 1024

struct pending_req {
	size_t have;
	char buf[REQ_MAX];
};

static struct pending_req **reqs;       /* by fd: a request read in part */
static int nreqs;

/* Reads what has come of fd's request; answers and closes once the head
 * is whole.  Returns 0 when fd must wait for more (EPOLLIN). */
static int serve_nonblocking(int fd, const char *resp, size_t resp_len)
{
	if (fd >= nreqs)
		goto drop;
	if (!reqs[fd] && !(reqs[fd] = calloc(1, sizeof(**reqs))))
		goto drop;
	struct pending_req *q = reqs[fd];
	for (;;) {
		ssize_t n = recv(fd, q->buf + q->have, sizeof(q->buf) - 1 - q->have,
				 MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			goto drop;
		q->have += (size_t)n;
		q->buf[q->have] = '\0';
		if (strstr(q->buf, "\r\n\r\n"))
			break;
		if (q->have == sizeof(q->buf) - 1)
			goto drop;
	}
	write_all(fd, resp, resp_len);
drop:
	if (fd < nreqs && reqs[fd])
		reqs[fd]->have = 0;
	close(fd);      /* also leaves the epoll set */
	return 1;
}

static void receiver_epoll_main(const int *chans, int nchans, const char *resp,
				size_t resp_len)
{
	struct epoll_event evs[64];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct rlimit rl;

	nreqs = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 1 << 20 ?
		(int)rl.rlim_cur : 1 << 20;
	reqs = calloc((size_t)nreqs, sizeof(*reqs));
	if (ep < 0 || !reqs)
		_exit(1);
	for (int a = 0; a < nchans; a++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = -1 - a };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, chans[a], &ev) < 0)
			_exit(1);
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd >= 0) {
				serve_nonblocking(fd, resp, resp_len);
				continue;
			}
			int a = -1 - fd;
			for (;;) {      /* every connection queued on the channel */
				int conn = receive_conn(chans[a], MSG_DONTWAIT);
				if (conn == -2)
					break;
				if (conn < 0)
					_exit(0);       /* the master is gone */
				if (!serve_nonblocking(conn, resp, resp_len)) {
					struct epoll_event ev = { .events = EPOLLIN,
								  .data.fd = conn };
					if (epoll_ctl(ep, EPOLL_CTL_ADD, conn, &ev) < 0)
						close(conn);
				}
			}
		}
	}
}

/* One channel (one acceptor): block in recvmsg.  Several: poll them.
 * Or, with --receivers epoll, receiver_epoll_main. */
static void receiver_main(const int *chans, int nchans, int id, int epoll_mode)
{
	char resp[256];
	struct pollfd pfd[MAX_ACCEPTORS];
	int len = snprintf(resp, sizeof(resp),
			   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
			   "Content-Length: %zu\r\nX-Worker: %d\r\n"
			   "Connection: close\r\n\r\n" BODY, strlen(BODY), id);
	if (epoll_mode)
		receiver_epoll_main(chans, nchans, resp, (size_t)len);
	for (int a = 0; a < nchans; a++)
		pfd[a] = (struct pollfd){ .fd = chans[a], .events = POLLIN };
	for (;;) {
		if (nchans == 1) {
			int fd = receive_conn(chans[0], 0);
			if (fd < 0)
				_exit(0);
			answer(fd, resp, (size_t)len);
			continue;
		}
		if (poll(pfd, (nfds_t)nchans, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (int a = 0; a < nchans; a++) {
			if (!pfd[a].revents)
				continue;
			int fd = receive_conn(chans[a], 0);
			if (fd < 0)
				_exit(0);       /* an acceptor is gone: so is the floor */
			answer(fd, resp, (size_t)len);
		}
	}
}

/* Forks the receivers, each with its end of its own channel.  A child
 * closes every other descriptor it inherited that matters (the listener,
 * the master's ends) so that a master's exit reads as EOF. */
static int spawn_receivers(struct floor_master *m, int want)
{
	for (int i = 0; i < want; i++) {
		int peer[MAX_ACCEPTORS], sv[2], a;
		for (a = 0; a < m->nacceptors; a++) {
			if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
				perror("cluster-floor: socketpair");
				return 1;
			}
			*chan_of(m, a, i) = sv[0];
			peer[a] = sv[1];
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("cluster-floor: fork");
			for (a = 0; a < m->nacceptors; a++) {
				close(*chan_of(m, a, i));
				close(peer[a]);
			}
			return 1;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			close(m->lfd);
			for (a = 0; a < m->nacceptors; a++)
				for (int j = 0; j <= i; j++)
					close(*chan_of(m, a, j));
			receiver_main(peer, m->nacceptors, i, m->epoll_receivers);
		}
		for (a = 0; a < m->nacceptors; a++)
			close(peer[a]);
		m->pid[i] = pid;
		m->nworkers = i + 1;    /* stop_receivers only sees real children */
	}
	return 0;
}

static int send_conn(int chan, int fd)
{
	char byte = 'c';
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	memset(&u, 0, sizeof(u));
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(fd));
	return sendmsg(chan, &mh, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* accept4 until EAGAIN; each connection to the next receiver, then close.
 * Returns -1 on a stop request (EINTR while blocked in sendmsg). */
static int dispatch(struct floor_master *m)
{
	for (;;) {
		int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == ECONNABORTED)
				return 0;
			if (errno == EINTR)
				return stop_requested ? -1 : 0;
			perror("cluster-floor: accept4");
			return 0;
		}
		if (send_conn(*chan_of(m, m->me, m->next), fd) == 0)
			m->handed++;
		else if (!(errno == EINTR && stop_requested))
			fprintf(stderr, "cluster-floor: sendmsg to receiver %d: %s\n",
				m->next, strerror(errno));
		close(fd);
		if (++m->next == m->nworkers)
			m->next = 0;
		if (stop_requested)
			return -1;
	}
}

static void run_loop(struct floor_master *m)
{
	while (!stop_requested) {
		struct epoll_event ev;
		int n = epoll_wait(m->epfd, &ev, 1, -1);
		if (n < 0 && errno != EINTR) {
			perror("cluster-floor: epoll_wait");
			return;
		}
		if (n > 0 && dispatch(m) < 0)
			return;
	}
}

static void stop_receivers(struct floor_master *m)
{
	for (int a = 1; a < m->nacceptors; a++)
		if (m->acceptor_pid[a] > 0)
			kill(m->acceptor_pid[a], SIGTERM);
	for (int a = 1; a < m->nacceptors; a++)
		if (m->acceptor_pid[a] > 0)
			while (waitpid(m->acceptor_pid[a], NULL, 0) < 0 && errno == EINTR)
				;
	for (int i = 0; i < m->nworkers; i++) {
		for (int a = 0; a < m->nacceptors; a++)
			close(*chan_of(m, a, i));
		kill(m->pid[i], SIGTERM);
	}
	for (int i = 0; i < m->nworkers; i++)
		while (waitpid(m->pid[i], NULL, 0) < 0 && errno == EINTR)
			;
}

static void report(const struct floor_master *m)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return;
	double us = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
		    (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
	if (m->nacceptors > 1)
		fprintf(stderr, "acceptor=%d handed=%llu cpu_us=%.0f\n", m->me, m->handed, us);
	else
		fprintf(stderr, "cluster-floor: handed %llu connections, master cpu %.0f us "
			"(%.2f us/conn, start-up included)\n", m->handed, us,
			m->handed ? us / (double)m->handed : 0.0);
}

/* Acceptors 1..K-1: forked after the receivers, each with its own
 * SO_REUSEPORT socket on acceptor 0's port and its own channels; they
 * run the same loop and die with acceptor 0 (PR_SET_PDEATHSIG). */
static int spawn_acceptors(struct floor_master *m, const struct config *c, int port)
{
	for (int a = 1; a < m->nacceptors; a++) {
		int lfd = listen_socket(c, port);
		if (lfd < 0)
			return 1;
		pid_t pid = fork();
		if (pid < 0) {
			perror("cluster-floor: fork");
			close(lfd);
			return 1;
		}
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			close(m->lfd);
			close(m->epfd);
			m->lfd = lfd;
			m->me = a;
			m->epfd = epoll_create1(EPOLL_CLOEXEC);
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
			if (m->epfd < 0 || epoll_ctl(m->epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
				_exit(1);
			run_loop(m);
			report(m);
			_exit(0);
		}
		close(lfd);
		m->acceptor_pid[a] = pid;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct config c;
	static struct floor_master m;
	if (parse_args(argc, argv, &c))
		return 2;
	struct sigaction sa = { .sa_handler = on_stop };   /* no SA_RESTART */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	m.nacceptors = c.acceptors;
	m.epoll_receivers = c.epoll_receivers;
	m.chan = calloc((size_t)c.acceptors * MAX_WORKERS, sizeof(*m.chan));
	if (!m.chan) {
		perror("cluster-floor: calloc");
		return 1;
	}
	m.lfd = listen_socket(&c, c.port);
	if (m.lfd < 0)
		return 1;
	if (spawn_receivers(&m, c.workers)) {
		stop_receivers(&m);
		return 1;
	}
	m.epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = m.lfd };
	if (m.epfd < 0 || epoll_ctl(m.epfd, EPOLL_CTL_ADD, m.lfd, &ev) < 0) {
		perror("cluster-floor: epoll");
		stop_receivers(&m);
		return 1;
	}
	int port = local_port(m.lfd);
	if (spawn_acceptors(&m, &c, port)) {
		stop_receivers(&m);
		return 1;
	}
	for (int i = 0; i < m.nworkers; i++)
		printf("port=%d worker=%d pid=%d\n", port, i, (int)m.pid[i]);
	fflush(stdout);
	run_loop(&m);
	stop_receivers(&m);
	report(&m);
	return 0;
}
