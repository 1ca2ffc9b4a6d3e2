/*
 * hello_server.c - the benchmark's HTTP/1.1 "hello" server.
 *
 *   hello_server [--addr A] [--port P] [--procs N] [--reuseport]
 *                [--worker-id ID] [--work-us N]
 *                [--slow-worker ID --slow-factor F] [--backlog N]
 *
 * One process, one epoll loop, nonblocking sockets, accept4, keep-alive
 * and pipelining; every response names its server process in an
 * `X-Worker:` header so the load generator can count per worker.  It is
 * the plain, unmodified program that cluster-run wraps (run it with
 * --procs 1: the worker id then comes from CLUSTER_WORKER_ID), and with
 * --procs N --reuseport it is also the native baseline: the parent binds N
 * SO_REUSEPORT sockets on one port, forks N children that serve one socket
 * each, and forwards SIGTERM/SIGINT to them.  (--procs N without
 * --reuseport shares one socket among the children, prefork style.)
 *
 * Scenario knobs: --work-us burns that much CPU time per request; the
 * process whose worker id equals --slow-worker burns --slow-factor times
 * as much.
 *
 * Every serving process prints one line `port=P worker=ID pid=PID` on
 * stdout once it listens (P is the real port, also with --port 0): that is
 * the readiness signal run-policies waits for.
 *
 * It is not a real web server: every request to any path gets the same
 * 200 response; request bodies (Content-Length) are skipped, chunked
 * request bodies are refused.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG          "hello_server"
#define MAX_PROCS     256
#define IN_BUF        4096
#define OUT_BUF       4096
#define ACCEPT_BATCH  64
#define MAX_EVENTS    128
#define BODY          "Hello, world!\n"

struct config {
	const char *addr;
	const char *port;
	int procs;
	int reuseport;
	const char *worker_id;   /* NULL: from the environment or the index */
	long work_us;
	const char *slow_worker;
	double slow_factor;
	int backlog;
};

struct server {
	int ep;
	int lfd;
	char worker_id[64];
	uint64_t work_ns;        /* CPU to burn per request */
	char resp_keep[256];
	char resp_close[256];
	size_t resp_keep_len, resp_close_len;
	int warned_accept;
};

struct conn {
	int fd;
	int close_after;         /* close once out[] is flushed */
	int want_out;            /* registered for EPOLLOUT */
	size_t in_len;
	size_t skip;             /* request body bytes still to discard */
	size_t out_len, out_off;
	char in[IN_BUF];
	char out[OUT_BUF];
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " [--addr A] [--port P] [--procs N] [--reuseport] [--worker-id ID]\n"
"                    [--work-us N] [--slow-worker ID --slow-factor F] [--backlog N]\n");
}

static int parse_args(int argc, char **argv, struct config *c)
{
	static const struct option longopts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "procs", required_argument, NULL, 'n' },
		{ "reuseport", no_argument, NULL, 'r' },
		{ "worker-id", required_argument, NULL, 'i' },
		{ "work-us", required_argument, NULL, 'w' },
		{ "slow-worker", required_argument, NULL, 's' },
		{ "slow-factor", required_argument, NULL, 'f' },
		{ "backlog", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	*c = (struct config){
		.addr = "127.0.0.1", .port = "0", .procs = 1, .slow_factor = 10,
		.backlog = 4096,
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a': c->addr = optarg; break;
		case 'p': c->port = optarg; break;
		case 'n': c->procs = atoi(optarg); break;
		case 'r': c->reuseport = 1; break;
		case 'i': c->worker_id = optarg; break;
		case 'w': c->work_us = atol(optarg); break;
		case 's': c->slow_worker = optarg; break;
		case 'f': c->slow_factor = atof(optarg); break;
		case 'b': c->backlog = atoi(optarg); break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc || c->procs < 1 || c->procs > MAX_PROCS ||
	    c->work_us < 0 || c->slow_factor < 0 || c->backlog < 1) {
		fprintf(stderr, PROG ": bad arguments\n");
		usage(stderr);
		return -1;
	}
	return 0;
}

/* More connections than the default 1024 soft limit in a bench is normal. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A listening socket on addr:port.  Returns the fd, or -1 after reporting. */
static int open_listener(const struct config *c, const char *port, int reuseport)
{
	struct addrinfo hints = {
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
	}, *res;
	int rc = getaddrinfo(c->addr, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, PROG ": %s:%s: %s\n", c->addr, port, gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		fprintf(stderr, PROG ": SO_REUSEPORT: %s\n", strerror(errno));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, c->backlog) < 0) {
		fprintf(stderr, PROG ": listen on %s:%s: %s\n", c->addr, port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* Burns CPU time (not wall time: a preempted worker still does all its
 * work) the way a handler that computes something would. */
static void burn_cpu(uint64_t ns)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	volatile uint64_t x = 0;
	for (;;) {
		for (int i = 0; i < 200; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
		uint64_t spent = (uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000ull +
				 (uint64_t)(t.tv_nsec - t0.tv_nsec);
		if (spent >= ns)
			break;
	}
}

static void server_setup(struct server *s, const struct config *c, int lfd,
			 const char *worker_id)
{
	s->lfd = lfd;
	snprintf(s->worker_id, sizeof(s->worker_id), "%s", worker_id);
	double work = (double)c->work_us * 1000.0;
	if (c->slow_worker && strcmp(c->slow_worker, worker_id) == 0)
		work *= c->slow_factor;
	s->work_ns = (uint64_t)work;
	static const char fmt[] =
		"HTTP/1.1 200 OK\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: %zu\r\n"
		"X-Worker: %s\r\n"
		"Connection: %s\r\n"
		"\r\n" BODY;
	s->resp_keep_len = (size_t)snprintf(s->resp_keep, sizeof(s->resp_keep), fmt,
					    strlen(BODY), s->worker_id, "keep-alive");
	s->resp_close_len = (size_t)snprintf(s->resp_close, sizeof(s->resp_close), fmt,
					     strlen(BODY), s->worker_id, "close");
}

/* Deregisters before closing: close() removes an epoll registration only
 * once the last descriptor of the open file is gone, and a connection
 * handed over with SCM_RIGHTS (cluster-run rr/leastconn, Node's rr) may
 * still be open in the sender for a moment.  Without the DEL, events for
 * that connection would arrive with a pointer to freed memory. */
static void conn_close(struct server *s, struct conn *c)
{
	(void)epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static int set_out_interest(struct server *s, struct conn *c, int want)
{
	if (c->want_out == want)
		return 0;
	struct epoll_event ev = {
		.events = want ? EPOLLOUT : EPOLLIN,
		.data.ptr = c,
	};
	if (epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return -1;
	c->want_out = want;
	return 0;
}

/* Sends what is in out[].  Returns 0 when all is sent (and the connection
 * is still wanted), 1 when waiting for EPOLLOUT, -1 when c was closed. */
static int conn_flush(struct server *s, struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (set_out_interest(s, c, 1) < 0)
				break;
			return 1;
		} else {
			break;
		}
	}
	if (c->out_off < c->out_len || c->close_after) {
		conn_close(s, c);
		return -1;
	}
	c->out_off = c->out_len = 0;
	if (set_out_interest(s, c, 0) < 0) {
		conn_close(s, c);
		return -1;
	}
	return 0;
}

static void append_out(struct conn *c, const char *data, size_t len)
{
	if (len > sizeof(c->out) - c->out_len)
		len = sizeof(c->out) - c->out_len;
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
}

static void reply_error(struct conn *c, const char *status)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			 status);
	append_out(c, buf, (size_t)n);
	c->close_after = 1;
}

/* Looks at one complete request head (NUL-terminated, blank line cut off):
 * does the client keep the connection, and how long is its body?
 * Returns 0, or -1 for a request we refuse. */
static int parse_request(char *head, int *keep_alive, size_t *body)
{
	char *save = NULL;
	char *line = strtok_r(head, "\n", &save);
	if (!line)
		return -1;
	char *version = strrchr(line, ' ');
	if (!version || strncmp(version + 1, "HTTP/1.", 7) != 0)
		return -1;
	int minor = version[8] - '0';
	int conn_close = 0, conn_keep = 0;
	*body = 0;
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		char *colon = strchr(line, ':');
		if (!colon)
			return -1;
		*colon = '\0';
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (strcasecmp(line, "Connection") == 0) {
			conn_close |= strcasestr(v, "close") != NULL;
			conn_keep |= strcasestr(v, "keep-alive") != NULL;
		} else if (strcasecmp(line, "Content-Length") == 0) {
			*body = (size_t)strtoull(v, NULL, 10);
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			return -1;
		}
	}
	*keep_alive = minor >= 1 ? !conn_close : conn_keep;
	return 0;
}

/* Answers every complete request in in[] while out[] has room. */
static void process_requests(struct server *s, struct conn *c)
{
	size_t pos = 0;
	int need_more = 0;
	while (pos < c->in_len && !c->close_after) {
		if (c->skip) {
			size_t n = c->in_len - pos < c->skip ? c->in_len - pos : c->skip;
			pos += n;
			c->skip -= n;
			continue;
		}
		char *start = c->in + pos;
		char *end = memmem(start, c->in_len - pos, "\r\n\r\n", 4);
		if (!end) {
			need_more = 1;
			break;
		}
		if (sizeof(c->out) - c->out_len < s->resp_close_len)
			break;              /* flush first; the rest stays queued */
		*end = '\0';
		pos = (size_t)(end + 4 - c->in);
		int keep = 0;
		if (parse_request(start, &keep, &c->skip) < 0) {
			reply_error(c, "400 Bad Request");
			break;
		}
		if (s->work_ns)
			burn_cpu(s->work_ns);
		if (keep) {
			append_out(c, s->resp_keep, s->resp_keep_len);
		} else {
			append_out(c, s->resp_close, s->resp_close_len);
			c->close_after = 1;
		}
	}
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	if (need_more && c->in_len == sizeof(c->in) && !c->close_after)
		reply_error(c, "431 Request Header Fields Too Large");
}

static void on_readable(struct server *s, struct conn *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(s, c);
		return;
	}
	if (n > 0)
		c->in_len += (size_t)n;
	process_requests(s, c);
	if (c->out_len)
		conn_flush(s, c);
}

static void on_writable(struct server *s, struct conn *c)
{
	if (conn_flush(s, c) != 0)
		return;
	/* requests that waited for room in out[] */
	process_requests(s, c);
	if (c->out_len)
		conn_flush(s, c);
}

static void accept_connections(struct server *s)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED && !s->warned_accept++)
				fprintf(stderr, PROG ": worker %s: accept: %s\n",
					s->worker_id, strerror(errno));
			return;
		}
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = calloc(1, sizeof(*c));
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (!c || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->fd = fd;
	}
}

/* The serving loop; returns only on a fatal error. */
static int serve(struct server *s)
{
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (s->ep < 0 || epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
		fprintf(stderr, PROG ": epoll: %s\n", strerror(errno));
		return -1;
	}
	printf("port=%d worker=%s pid=%d\n", local_port(s->lfd), s->worker_id, (int)getpid());
	fflush(stdout);
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(s->ep, evs, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, PROG ": epoll_wait: %s\n", strerror(errno));
			return -1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c)
				accept_connections(s);
			else if (evs[i].events & EPOLLOUT)
				on_writable(s, c);
			else
				on_readable(s, c);
		}
	}
}

/* Worker id when --worker-id is not given: the process index under
 * --procs N (index >= 0), else the launcher's slot, else 0. */
static const char *pick_worker_id(const struct config *c, int index, char *buf,
				  size_t len)
{
	if (c->worker_id)
		return c->worker_id;
	const char *env = getenv("CLUSTER_WORKER_ID");
	if (index < 0 && env && *env)
		return env;
	snprintf(buf, len, "%d", index < 0 ? 0 : index);
	return buf;
}

static int run_single(const struct config *c)
{
	int lfd = open_listener(c, c->port, c->reuseport);
	if (lfd < 0)
		return 1;
	struct server s = { 0 };
	char id[16];
	server_setup(&s, c, lfd, pick_worker_id(c, -1, id, sizeof(id)));
	return serve(&s) < 0 ? 1 : 0;
}

/* Parent of --procs N: forward TERM/INT, and stop everything when one child
 * dies on its own (a baseline with a dead worker would be meaningless). */
static int supervise(pid_t *pids, int n, const sigset_t *set)
{
	int alive = n, status = 0, stopping = 0;
	while (alive > 0) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si);
		if (sig == SIGTERM || sig == SIGINT) {
			stopping = 1;
			for (int i = 0; i < n; i++)
				if (pids[i] > 0)
					kill(pids[i], SIGTERM);
			continue;
		}
		pid_t pid;
		int wst;
		while ((pid = waitpid(-1, &wst, WNOHANG)) > 0) {
			for (int i = 0; i < n; i++) {
				if (pids[i] != pid)
					continue;
				pids[i] = 0;
				alive--;
				if (!stopping) {
					fprintf(stderr, PROG ": process %d (pid %d) exited (status 0x%x); stopping\n",
						i, (int)pid, wst);
					status = 1;
					stopping = 1;
					for (int j = 0; j < n; j++)
						if (pids[j] > 0)
							kill(pids[j], SIGTERM);
				}
			}
		}
	}
	return status;
}

static int run_procs(const struct config *c)
{
	int fds[MAX_PROCS];
	pid_t pids[MAX_PROCS] = { 0 };
	int shared = !c->reuseport;
	char port[16];
	snprintf(port, sizeof(port), "%s", c->port);
	for (int i = 0; i < (shared ? 1 : c->procs); i++) {
		fds[i] = open_listener(c, port, c->reuseport);
		if (fds[i] < 0)
			return 1;
		snprintf(port, sizeof(port), "%d", local_port(fds[i]));
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pid_t parent = getpid();
	for (int i = 0; i < c->procs; i++) {
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
			for (int j = 0; j < i; j++)
				kill(pids[j], SIGTERM);
			return 1;
		}
		if (pid == 0) {
			sigprocmask(SIG_UNBLOCK, &set, NULL);
			(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(1);
			int mine = shared ? fds[0] : fds[i];
			for (int j = 0; j < (shared ? 1 : c->procs); j++)
				if (fds[j] != mine)
					close(fds[j]);
			struct server s = { 0 };
			char id[16];
			server_setup(&s, c, mine, pick_worker_id(c, i, id, sizeof(id)));
			_exit(serve(&s) < 0 ? 1 : 0);
		}
		pids[i] = pid;
	}
	for (int j = 0; j < (shared ? 1 : c->procs); j++)
		close(fds[j]);
	return supervise(pids, c->procs, &set);
}

int main(int argc, char **argv)
{
	struct config c;
	if (parse_args(argc, argv, &c) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (c.procs == 1)
		return run_single(&c);
	return run_procs(&c);
}
