/*
 * lab_server.c - the policy lab's worker (bench/policy-lab): one "server"
 * of a queueing model.
 *
 *   lab_server [--addr A] [--port P] [--dist D] [--mean-us N]
 *              [--slow-worker ID --slow-factor F] [--worker-id ID]
 *
 * Blocking and one request at a time: accept, read the request, sleep for
 * a service time drawn from the distribution D, answer (Connection: close,
 * `X-Worker: ID`), close, accept the next.  While it sleeps it is not in
 * accept, so connections wait for it in its queue (its channel under the
 * channel policies, the shared accept queue under shared, its reuseport
 * socket): exactly one server of the model.  Sleeping, not computing, so
 * that a 2-core machine is not the bottleneck and N workers are N servers
 * whatever N is.
 *
 * Distributions of the service time S (mean --mean-us, default 5000):
 *   const    S = mean
 *   exp      exponential: the M/M/c of the textbooks
 *   bimodal  90% at 0.5 x mean, 10% at 5.5 x mean (same mean, SCV 2.25)
 *   pareto   Pareto, shape 1.5 (infinite variance), scale mean/3, cut at
 *            100 x mean so one run is bounded (the cut lowers the mean
 *            by about 6%)
 * The worker whose id is --slow-worker takes --slow-factor times as long.
 *
 * It prints `port=P worker=ID pid=PID` once it listens (run-policies'
 * readiness line).  Under cluster-run its id is $CLUSTER_WORKER_ID.  On
 * SIGTERM it finishes the request in hand and prints
 * `stats worker=ID served=N busy_us=B drawn_us=D`: B is the time it really
 * spent per request, from accept's return to close (the drawn sleep plus
 * the system calls plus however late the scheduler woke it), D the sleeps
 * it drew.  On a busy machine B exceeds D, and B is the service time the
 * queueing model must be given (bench/policy-lab does).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum dist { D_CONST, D_EXP, D_BIMODAL, D_PARETO };

struct config {
	const char *addr;
	int port;
	enum dist dist;
	double mean_us;
	const char *slow_worker;
	double slow_factor;
	const char *worker_id;
};

static uint64_t rng_state;
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so log() is finite. */
static double rng_unit(void)
{
	return ((rng_next() >> 11) + 1) * (1.0 / 9007199254740992.0);
}

static double service_us(const struct config *c)
{
	double m = c->mean_us, s;

	switch (c->dist) {
	case D_EXP:
		return -m * log(rng_unit());
	case D_BIMODAL:
		return rng_unit() <= 0.9 ? 0.5 * m : 5.5 * m;
	case D_PARETO:
		s = (m / 3.0) / pow(rng_unit(), 1.0 / 1.5);
		return s > 100 * m ? 100 * m : s;
	case D_CONST:
		break;
	}
	return m;
}

static void sleep_us(double us)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)(us / 1e6);
	t.tv_nsec += (long)(fmod(us, 1e6) * 1000);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
		;
}

static int parse_args(struct config *c, int argc, char **argv)
{
	int i;

	c->addr = "127.0.0.1";
	c->port = 0;
	c->dist = D_EXP;
	c->mean_us = 5000;
	c->slow_worker = NULL;
	c->slow_factor = 3;
	c->worker_id = getenv("CLUSTER_WORKER_ID") ? getenv("CLUSTER_WORKER_ID") : "0";
	for (i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!strcmp(k, "--addr"))
			c->addr = v;
		else if (!strcmp(k, "--port"))
			c->port = atoi(v);
		else if (!strcmp(k, "--mean-us"))
			c->mean_us = atof(v);
		else if (!strcmp(k, "--slow-worker"))
			c->slow_worker = v;
		else if (!strcmp(k, "--slow-factor"))
			c->slow_factor = atof(v);
		else if (!strcmp(k, "--worker-id"))
			c->worker_id = v;
		else if (!strcmp(k, "--dist")) {
			if (!strcmp(v, "const")) c->dist = D_CONST;
			else if (!strcmp(v, "exp")) c->dist = D_EXP;
			else if (!strcmp(v, "bimodal")) c->dist = D_BIMODAL;
			else if (!strcmp(v, "pareto")) c->dist = D_PARETO;
			else return -1;
		} else
			return -1;
	}
	if (i != argc || c->mean_us <= 0 || c->slow_factor <= 0)
		return -1;
	if (c->slow_worker && !strcmp(c->slow_worker, c->worker_id))
		c->mean_us *= c->slow_factor;
	return 0;
}

static int open_listener(const struct config *c)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)c->port) };
	socklen_t len = sizeof(sa);
	int fd, one = 1;

	if (inet_pton(AF_INET, c->addr, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		close(fd);
		return -1;
	}
	printf("port=%d worker=%s pid=%d\n", ntohs(sa.sin_port), c->worker_id, (int)getpid());
	fflush(stdout);
	return fd;
}

/* Read until the end of the request's headers (no bodies: GET only). */
static int read_request(int fd)
{
	char buf[4096];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return 0;
	}
	return -1;
}

/* Returns the sleep drawn (0 when the request never came). */
static double serve(const struct config *c, int fd)
{
	char resp[256];
	double s;
	int n;

	if (read_request(fd) < 0)
		return 0;
	s = service_us(c);
	sleep_us(s);
	n = snprintf(resp, sizeof(resp),
		     "HTTP/1.1 200 OK\r\nX-Worker: %s\r\nContent-Length: 3\r\n"
		     "Connection: close\r\n\r\nok\n", c->worker_id);
	if (write(fd, resp, (size_t)n) != n)
		return s;       /* the client went away: nothing to do */
	return s;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };   /* no SA_RESTART */
	double busy = 0, drawn = 0;
	unsigned long served = 0;
	struct config c;
	int lfd;

	if (parse_args(&c, argc, argv) < 0) {
		fprintf(stderr, "usage: lab_server [--addr A] [--port P] "
			"[--dist const|exp|bimodal|pareto] [--mean-us N] "
			"[--slow-worker ID --slow-factor F] [--worker-id ID]\n");
		return 2;
	}
	rng_state = (uint64_t)getpid() * 0x2545f4914f6cdd1du ^ (uint64_t)time(NULL);
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  /* sleeps end on time */
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	lfd = open_listener(&c);
	if (lfd < 0) {
		perror("lab_server: listen");
		return 1;
	}
	while (!stop) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		double t0 = now_us();

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("lab_server: accept");
			return 1;
		}
		drawn += serve(&c, fd);
		close(fd);
		busy += now_us() - t0;
		served++;
	}
	printf("stats worker=%s served=%lu busy_us=%.0f drawn_us=%.0f\n", c.worker_id,
	       served, busy, drawn);
	return 0;
}
