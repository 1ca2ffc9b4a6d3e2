/*
 * loadgen.c - cluster-loadgen: the HTTP load generator of the cluster-run
 * policy benchmark.
 *
 *   cluster-loadgen -p PORT [-c CONNS] [-d SECS] [-w SECS] [-n N] [-k|-K|-C]
 *                   [-R RATE [-P]] [-t THREADS] [-W WORKERS] [HOST:PORT]
 *
 * main reads like the run: parse_args -> resolve_target -> build_request ->
 * run_threads -> report.  Each thread owns an epoll loop and a share of the
 * connections (loadgen_loop.c); nothing is shared between them but the -n
 * budget and the stop flag.  The report is key=value lines on stdout, one
 * per figure, for scripts (run-policies) to read; diagnostics go to stderr.
 *
 * The run always ends by itself: after the warmup plus -d seconds, or once
 * -n measured requests are done, or on SIGINT/SIGTERM (which still prints
 * the report).  Exit status: 0 when the run happened (even with errors:
 * they are in the report), 1 when it could not start, 2 on bad usage.
 *
 * It is not a general HTTP client: see http_resp.h for what it parses.
 */
#include "loadgen.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define START_DELAY_NS  (5 * 1000000ull)   /* lets every thread get going */

struct thread {
	pthread_t tid;
	struct run *run;
	int index;
	int conns;
	int failed;
	struct stats st;
};

static struct run *signal_run;

static void on_stop_signal(int sig)
{
	(void)sig;
	if (signal_run)
		atomic_store(&signal_run->stop, 1);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s [options] [HOST:PORT]\n"
"  -a, --host HOST       server address (default 127.0.0.1)\n"
"  -p, --port PORT       server port\n"
"  -u, --path PATH       request path (default /)\n"
"  -c, --connections N   connections, i.e. requests in flight at most (default 16)\n"
"  -t, --threads N       threads, each with its own epoll loop (default 1)\n"
"  -d, --duration SECS   measured duration (default 10)\n"
"  -w, --warmup SECS     unrecorded run before the measured one (default 0)\n"
"  -n, --requests N      stop after N measured requests (default: no limit)\n"
"  -k, --keep-alive      reuse connections, HTTP/1.1 keep-alive (default)\n"
"  -K, --careful         keep-alive as browsers and Go's http.Transport do it:\n"
"                        before a request on a reused connection, look\n"
"                        whether the server closed it meanwhile (poll, no\n"
"                        wait); if so, open a new one (reconnects=), not a\n"
"                        loss.  lost= counts requests sent that got no\n"
"                        whole answer, in every mode\n"
"  -C, --close           one connection per request, Connection: close\n"
"  -R, --rate N          open loop: N requests/s in total; latency is taken\n"
"                        from each request's intended send time\n"
"  -P, --poisson         with -R: Poisson arrivals (random gaps, same mean)\n"
"  -T, --timeout MS      per-request timeout (default 5000)\n"
"  -W, --workers N       count X-Worker ids 0..N-1 even if they never answer\n"
"  -S, --sources N       bind each connection, before connect, to one of N\n"
"                        source addresses in turn: 127.0.0.2, 127.0.0.3, ...\n"
"                        (IPv4 targets; all of 127/8 is local), so that a\n"
"                        policy keyed on the client address sees N clients\n",
		LOADGEN_NAME);
}

static int parse_number(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* HOST:PORT or [HOST]:PORT as the one positional argument. */
static int parse_target(struct options *o, char *arg)
{
	char *colon = strrchr(arg, ':');
	if (!colon || colon[1] == '\0')
		return -1;
	*colon = '\0';
	o->port = colon + 1;
	if (arg[0] == '[') {
		size_t n = strlen(arg);
		if (n < 2 || arg[n - 1] != ']')
			return -1;
		arg[n - 1] = '\0';
		arg++;
	}
	if (*arg)
		o->host = arg;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'u' },
		{ "connections", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "requests", required_argument, NULL, 'n' },
		{ "keep-alive", no_argument, NULL, 'k' },
		{ "careful", no_argument, NULL, 'K' },
		{ "close", no_argument, NULL, 'C' },
		{ "rate", required_argument, NULL, 'R' },
		{ "poisson", no_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "workers", required_argument, NULL, 'W' },
		{ "sources", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	*o = (struct options){
		.host = "127.0.0.1", .path = "/", .conns = 16, .threads = 1,
		.duration_s = 10, .keep_alive = 1, .timeout_ms = 5000,
	};
	int c;
	double v;
	while ((c = getopt_long(argc, argv, "a:p:u:c:t:d:w:n:kKCR:PT:W:S:h", longopts, NULL)) != -1) {
		int bad = 0;
		switch (c) {
		case 'a': o->host = optarg; break;
		case 'p': o->port = optarg; break;
		case 'u': o->path = optarg; break;
		case 'c': bad = parse_number(optarg, 1, 100000, &v); o->conns = (int)v; break;
		case 't': bad = parse_number(optarg, 1, 256, &v); o->threads = (int)v; break;
		case 'd': bad = parse_number(optarg, 0.001, 86400, &o->duration_s); break;
		case 'w': bad = parse_number(optarg, 0, 86400, &o->warmup_s); break;
		case 'n': bad = parse_number(optarg, 1, 1e15, &v); o->max_requests = (uint64_t)v; break;
		case 'k': o->keep_alive = 1; o->careful = 0; break;
		case 'K': o->keep_alive = 1; o->careful = 1; break;
		case 'C': o->keep_alive = 0; o->careful = 0; break;
		case 'R': bad = parse_number(optarg, 0.001, 1e8, &o->rate); break;
		case 'P': o->poisson = 1; break;
		case 'T': bad = parse_number(optarg, 1, 3600000, &v); o->timeout_ms = (int)v; break;
		case 'W': bad = parse_number(optarg, 0, LOADGEN_MAX_IDS, &v); o->expect_workers = (int)v; break;
		case 'S': bad = parse_number(optarg, 1, 65534, &v); o->sources = (int)v; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
		if (bad) {
			fprintf(stderr, "%s: bad value for -%c: %s\n", LOADGEN_NAME, c, optarg);
			return -1;
		}
	}
	if (optind < argc && parse_target(o, argv[optind++]) < 0) {
		fprintf(stderr, "%s: bad target %s (want HOST:PORT)\n", LOADGEN_NAME, argv[optind - 1]);
		return -1;
	}
	if (optind < argc || !o->port) {
		fprintf(stderr, "%s: %s\n", LOADGEN_NAME,
			o->port ? "too many arguments" : "no port given (-p PORT or HOST:PORT)");
		usage(stderr);
		return -1;
	}
	if (o->threads > o->conns)
		o->threads = o->conns;
	return 0;
}

static int resolve_target(struct run *run)
{
	const struct options *o = &run->opt;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(o->host, o->port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "%s: %s:%s: %s\n", LOADGEN_NAME, o->host, o->port,
			gai_strerror(rc));
		return -1;
	}
	memcpy(&run->addr, res->ai_addr, res->ai_addrlen);
	run->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int build_request(struct run *run)
{
	const struct options *o = &run->opt;
	int v6 = strchr(o->host, ':') != NULL;
	int n = snprintf(run->request, sizeof(run->request),
			 "GET %s HTTP/1.1\r\n"
			 "Host: %s%s%s:%s\r\n"
			 "User-Agent: " LOADGEN_NAME "\r\n"
			 "Accept: */*\r\n"
			 "%s"
			 "\r\n",
			 o->path, v6 ? "[" : "", o->host, v6 ? "]" : "", o->port,
			 o->keep_alive ? "" : "Connection: close\r\n");
	if (n < 0 || (size_t)n >= sizeof(run->request)) {
		fprintf(stderr, "%s: request too long (path or host)\n", LOADGEN_NAME);
		return -1;
	}
	run->request_len = (size_t)n;
	return 0;
}

/* Thousands of connections in flight are normal here; the default soft
 * limit of 1024 descriptors is not. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void configure_signals(struct run *run)
{
	signal_run = run;
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	t->failed = loop_run(t->run, t->index, t->conns, &t->st) < 0;
	return NULL;
}

/* Runs every thread to the end and merges their stats into *total. */
static int run_threads(struct run *run, struct stats *total)
{
	const struct options *o = &run->opt;
	int n = o->threads;
	struct thread *threads = calloc((size_t)n, sizeof(*threads));
	if (!threads) {
		fprintf(stderr, "%s: out of memory\n", LOADGEN_NAME);
		return -1;
	}
	run->start_ns = now_ns() + START_DELAY_NS;
	run->measure_ns = run->start_ns + (uint64_t)(o->warmup_s * 1e9);
	run->end_ns = run->measure_ns + (uint64_t)(o->duration_s * 1e9);

	int started = 0, failed = 0;
	for (int i = 0; i < n; i++) {
		struct thread *t = &threads[i];
		t->run = run;
		t->index = i;
		t->conns = o->conns / n + (i < o->conns % n);
		stats_init(&t->st);
		int rc = pthread_create(&t->tid, NULL, thread_main, t);
		if (rc != 0) {
			fprintf(stderr, "%s: thread %d: %s\n", LOADGEN_NAME, i, strerror(rc));
			atomic_store(&run->stop, 1);
			failed = 1;
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(threads[i].tid, NULL);
		failed |= threads[i].failed;
		stats_merge(total, &threads[i].st);
	}
	free(threads);
	return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
	static struct run run;
	static struct stats total;

	if (parse_args(argc, argv, &run.opt) < 0)
		return 2;
	if (resolve_target(&run) < 0 || build_request(&run) < 0)
		return 1;
	raise_nofile();
	configure_signals(&run);
	stats_init(&total);
	for (int i = 0; i < run.opt.expect_workers; i++) {
		char id[16];
		snprintf(id, sizeof(id), "%d", i);
		stats_add_worker(&total, id, 0);
	}
	if (run_threads(&run, &total) < 0)
		return 1;
	stats_print(&total, &run);
	return fflush(stdout) == 0 ? 0 : 1;
}
