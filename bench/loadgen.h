/*
 * loadgen.h - what the load generator's modules share.
 *
 * loadgen.c parses the command line, starts the threads and prints the
 * report; loadgen_loop.c is one thread's epoll loop driving its share of
 * the connections; loadgen_stats.c holds the counters each thread keeps
 * and their merge and summary.  Threads share nothing mutable but the
 * request budget (-n) and the stop flag, both atomics.
 *
 * This is a benchmark client for the cluster-run bench servers, not a
 * general HTTP tool: one URL, GET only, no TLS, no pipelining.
 */
#ifndef BENCH_LOADGEN_H
#define BENCH_LOADGEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hist.h"
#include "http_resp.h"

#define LOADGEN_NAME        "cluster-loadgen"
#define LOADGEN_MAX_IDS     256     /* distinct X-Worker values tracked */

struct options {
	const char *host;
	const char *port;
	const char *path;
	int conns;                  /* -c: connections (slots) in total */
	int threads;                /* -t */
	double duration_s;          /* -d: measured part */
	double warmup_s;            /* -w: unrecorded part before it */
	uint64_t max_requests;      /* -n: 0 = no limit */
	int keep_alive;             /* -k (1) or -C (0) */
	int careful;                /* -K: look at a reused connection first */
	double rate;                /* -R: requests/s in total; 0 = closed loop */
	int poisson;                /* -P: exponential gaps instead of constant */
	int timeout_ms;             /* -T: per request */
	int expect_workers;         /* -W: ids 0..N-1 count even when unseen */
	int sources;                /* -S: bind to 127.0.0.2.. in turn; 0: no bind */
};

/* Set up once by main, read-only for the threads (except the atomics). */
struct run {
	struct options opt;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char request[1024];
	size_t request_len;
	uint64_t start_ns;          /* loop start: warmup begins */
	uint64_t measure_ns;        /* requests started from here are recorded */
	uint64_t end_ns;            /* everything stops here */
	atomic_uint_fast64_t budget_used;   /* measured requests issued (-n) */
	atomic_int stop;            /* SIGINT/SIGTERM: stop early */
};

struct worker_count {
	char id[HTTP_RESP_WORKER_MAX];
	uint64_t n;
};

struct stats {
	uint64_t requests;          /* completed 2xx responses */
	uint64_t err_connect;
	uint64_t err_reset;         /* ECONNRESET/EPIPE or EOF before the end */
	uint64_t err_bad_response;  /* unparseable or unsolicited bytes */
	uint64_t err_status;        /* complete response, status not 2xx */
	uint64_t err_timeout;
	uint64_t lost_unanswered;   /* of err_reset: not one byte of the answer
				     * came back on a reused connection (what
				     * browsers and Go retry, idempotent ones) */
	uint64_t reconnects;        /* a kept connection the server closed
				     * between two requests: a new one */
	uint64_t inflight_at_end;   /* measured requests cut off by the end */
	uint64_t unsent;            /* open loop: due but never sent */
	uint64_t finish_ns;         /* when this thread stopped */
	uint64_t worker_none;       /* 2xx responses without X-Worker */
	uint64_t worker_other;      /* ... with an id past LOADGEN_MAX_IDS */
	size_t n_ids;
	size_t last_id;             /* lookup cache */
	struct worker_count ids[LOADGEN_MAX_IDS];
	struct hist hist;
};

/* loadgen_stats.c */
void stats_init(struct stats *st);
void stats_count_worker(struct stats *st, const char *id);
void stats_add_worker(struct stats *st, const char *id, uint64_t n);
void stats_merge(struct stats *dst, const struct stats *src);
void stats_print(const struct stats *st, const struct run *run);

/* loadgen_loop.c: one thread's whole run; fills *st.  Returns 0, or -1
 * after reporting a setup failure on stderr. */
int loop_run(struct run *run, int index, int conns, struct stats *st);

uint64_t now_ns(void);

#endif
