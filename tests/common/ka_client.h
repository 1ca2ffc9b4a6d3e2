/*
 * ka_client.h - keep-alive HTTP clients for the tests, careful as browsers
 * and Go's http.Transport are (see ka_client.c).
 */
#ifndef TESTS_KA_CLIENT_H
#define TESTS_KA_CLIENT_H

/* What a careful keep-alive load saw. */
struct ka_counts {
	long ok;                /* 200 answers, whole */
	long lost;              /* sent, and the connection ended (EOF, reset)
				 * or 60 s passed before the whole answer */
	long lost_unanswered;   /* of lost: not one byte back, on a connection
				 * that had answered before (what a browser
				 * would retry, for an idempotent request) */
	long reconnects;        /* a kept connection the server had closed
				 * before the next request: a new one, no loss */
	long connect_failed;
	long per_worker[16];    /* ok answers by X-Worker */
	char first_loss[200];   /* how the first loss ended, and when; "none" */
};

/* `conns` keep-alive connections (at most 16), one thread each, doing GET /
 * after GET / on 127.0.0.1:port, a millisecond apart, until ka_load_stop.  Before each request on
 * a kept connection the client looks whether the server closed it (poll,
 * no wait), and opens a new one if so. */
struct ka_load;
struct ka_load *ka_load_start(int port, int conns);
/* The same, asking for path instead of "/". */
struct ka_load *ka_load_start_at(int port, int conns, const char *path);
/* Until `more` answers beyond those so far, or timeout_ms. */
void ka_load_wait_more(struct ka_load *l, long more, int timeout_ms);
long ka_load_ok_so_far(struct ka_load *l);
long ka_load_reconnects(struct ka_load *l);
void ka_load_stop(struct ka_load *l, struct ka_counts *out);

/* A connection to 127.0.0.1:port that made one keep-alive GET, read its
 * whole answer, and stays open, idle: its fd, or -1 with errno. */
int ka_idle_open(int port, int timeout_ms);
/* How the server ends the idle connection fd: 0 for a clean EOF, else the
 * errno of the end (ECONNRESET), EPROTO for bytes nobody asked for, or
 * ETIMEDOUT when it is still open after timeout_ms.  Closes fd. */
int ka_idle_end(int fd, int timeout_ms);

#endif
