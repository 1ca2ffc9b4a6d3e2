/*
 * ka_client.c - keep-alive HTTP clients (ka_client.h): a careful load that
 * tells a server's close between two requests (a reconnect) from a request
 * lost, and a client that makes one request and then stays idle.
 *
 * Careful means what browsers and Go's http.Transport do before reusing a
 * kept connection: look whether the server closed it meanwhile (a poll
 * with no wait: readable means an EOF or a reset is waiting, as nothing
 * was asked), and open a new one if so.  A close that is still on its way
 * when the request goes out cannot be seen: that request is lost, and
 * counted so (lost_unanswered says whether a browser would have retried
 * it).  wrk and ab count every server close as an error: they cannot tell.
 *
 * Answers carry Content-Length or are chunked.
 *
 * No duration decides a loss.  A request counts as lost when its
 * connection ends before the whole answer, or when no answer came in
 * KA_ANSWER_MS, far beyond any answer's time: this machine has been seen
 * to stop every process for more than 30 s (the kernel logged a
 * workqueue lockup), and a 5 s bound called such a pause a loss.
 *
 * Each thread pauses KA_PAUSE_US between requests.  Flat out, 8 threads
 * against nginx made ~150,000 requests a second with 80% of both cores in
 * the kernel, and a thread that slept 10 ms woke up to 5.7 s late: every
 * suite running beside it saw its own timeouts.  Paced, a reload still
 * meets every connection busy (a reload takes tens of milliseconds).
 */
#include "ka_client.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define KA_ANSWER_MS 60000      /* no answer in this long: lost */
#define KA_CONNECT_MS 30000
#define KA_PAUSE_US 1000        /* between two requests of one thread */

struct ka_load {
	int port;
	char request[160];
	int conns;
	atomic_int stop;
	atomic_long ok, lost, lost_unanswered, reconnects, connect_failed;
	atomic_long per_worker[16];
	atomic_int said;        /* first_loss is written */
	char first_loss[200];
	pthread_t threads[16];
};

/* Whether buf (len bytes, NUL-ended) holds one whole answer: its length,
 * 0 when more is needed, -1 when it cannot tell (neither Content-Length
 * nor chunked). */
static long whole_answer(const char *buf, size_t len)
{
	const char *end = strstr(buf, "\r\n\r\n"), *p, *last;
	size_t head;

	if (!end)
		return 0;
	head = (size_t)(end + 4 - buf);
	for (p = buf; p && p < end; p = strstr(p, "\r\n")) {
		if (*p == '\r')
			p += 2;
		if (!strncasecmp(p, "Content-Length:", 15)) {
			long body = atol(p + 15);
			return head + (size_t)body <= len ? (long)head + body : 0;
		}
		if (!strncasecmp(p, "Transfer-Encoding:", 18) && strstr(p, "chunked") &&
		    strstr(p, "chunked") < strstr(p, "\r\n")) {
			/* the last chunk, then the end of the (empty) trailer */
			last = strstr(end + 2, "\r\n0\r\n\r\n");
			return last ? (long)(last + 7 - buf) : 0;
		}
	}
	return -1;
}

/* Whether the answer's head says Connection: close. */
static int says_close(const char *buf)
{
	const char *end = strstr(buf, "\r\n\r\n"), *p = buf;

	while ((p = strcasestr(p, "\r\nConnection:")) && p < end) {
		p += 13;
		while (*p == ' ')
			p++;
		if (!strncasecmp(p, "close", 5))
			return 1;
	}
	return 0;
}

/* One request on fd and its whole answer into buf.  1: answered, 0: the
 * connection ended first, or KA_ANSWER_MS passed (*got: bytes that came
 * back; errno says which end, ETIMEDOUT for the time). */
static int exchange(int fd, const char *request, char *buf, size_t cap, size_t *got)
{
	long deadline = now_ms() + KA_ANSWER_MS, whole = 0;
	size_t len = 0;

	*got = 0;
	buf[0] = '\0';
	if (send(fd, request, strlen(request), MSG_NOSIGNAL) < 0)
		return 0;
	while (whole == 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			errno = ETIMEDOUT;
			return 0;
		}
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENODATA;        /* said as "EOF" */
			return 0;
		}
		len += (size_t)n;
		*got = len;
		buf[len] = '\0';
		if ((whole = whole_answer(buf, len)) < 0 || len == cap - 1) {
			errno = EPROTO;
			return 0;
		}
	}
	return 1;
}

/* Whether the status line says 200. */
static int is_200(const char *buf)
{
	return !strncmp(buf, "HTTP/1.", 7) && !strncmp(buf + 8, " 200 ", 5);
}

static int closed_meanwhile(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) > 0;
}

/* The first loss, said with its wall-clock time (to find it in a log
 * written with --log-time). */
static void say_loss(struct ka_load *l, size_t got, int err)
{
	struct timespec ts;
	struct tm tm;

	if (atomic_exchange(&l->said, 1))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(l->first_loss, sizeof(l->first_loss),
		 "%s after %zu bytes of the answer, at %02d:%02d:%02d.%03ld UTC",
		 err == ENODATA ? "EOF" : strerror(err), got, tm.tm_hour, tm.tm_min,
		 tm.tm_sec, ts.tv_nsec / 1000000);
}

static void *ka_thread(void *arg)
{
	struct ka_load *l = arg;
	char buf[8192];
	int fd = -1, reused = 0;

	while (!atomic_load(&l->stop)) {
		size_t got;
		int w, answered;

		if (fd >= 0 && closed_meanwhile(fd)) {
			atomic_fetch_add(&l->reconnects, 1);
			close(fd);
			fd = -1;
		}
		if (fd < 0) {
			if ((fd = tcp_connect("127.0.0.1", l->port, KA_CONNECT_MS)) < 0) {
				atomic_fetch_add(&l->connect_failed, 1);
				sleep_ms(10);   /* a refused port is not hammered */
				continue;
			}
			reused = 0;
		}
		answered = exchange(fd, l->request, buf, sizeof(buf), &got);
		if (!answered || !is_200(buf)) {
			/* EPROTO: a whole answer, not a 200 */
			say_loss(l, got, answered ? EPROTO : errno);
			atomic_fetch_add(&l->lost, 1);
			if (reused && got == 0)
				atomic_fetch_add(&l->lost_unanswered, 1);
			close(fd);
			fd = -1;
			usleep(KA_PAUSE_US);
			continue;
		}
		atomic_fetch_add(&l->ok, 1);
		w = response_worker(buf);
		if (w >= 0 && w < 16)
			atomic_fetch_add(&l->per_worker[w], 1);
		reused = 1;
		if (says_close(buf)) {          /* ends after this answer */
			atomic_fetch_add(&l->reconnects, 1);
			close(fd);
			fd = -1;
		}
		usleep(KA_PAUSE_US);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

struct ka_load *ka_load_start_at(int port, int conns, const char *path)
{
	struct ka_load *l = calloc(1, sizeof(*l));
	int i;

	cr_assert(l && conns > 0 && conns <= 16);
	snprintf(l->request, sizeof(l->request), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n",
		 path);
	l->port = port;
	l->conns = conns;
	for (i = 0; i < conns; i++)
		cr_assert(pthread_create(&l->threads[i], NULL, ka_thread, l) == 0);
	return l;
}

struct ka_load *ka_load_start(int port, int conns)
{
	return ka_load_start_at(port, conns, "/");
}

long ka_load_ok_so_far(struct ka_load *l)
{
	return atomic_load(&l->ok);
}

long ka_load_reconnects(struct ka_load *l)
{
	return atomic_load(&l->reconnects);
}

void ka_load_wait_more(struct ka_load *l, long more, int timeout_ms)
{
	long base = ka_load_ok_so_far(l), deadline = now_ms() + timeout_ms;

	while (ka_load_ok_so_far(l) < base + more && now_ms() < deadline)
		sleep_ms(10);
}

void ka_load_stop(struct ka_load *l, struct ka_counts *out)
{
	int i;

	atomic_store(&l->stop, 1);
	for (i = 0; i < l->conns; i++)
		pthread_join(l->threads[i], NULL);
	out->ok = atomic_load(&l->ok);
	out->lost = atomic_load(&l->lost);
	out->lost_unanswered = atomic_load(&l->lost_unanswered);
	out->reconnects = atomic_load(&l->reconnects);
	out->connect_failed = atomic_load(&l->connect_failed);
	snprintf(out->first_loss, sizeof(out->first_loss), "%s",
		 atomic_load(&l->said) ? l->first_loss : "none");
	for (i = 0; i < 16; i++)
		out->per_worker[i] = atomic_load(&l->per_worker[i]);
	free(l);
}

int ka_idle_open(int port, int timeout_ms)
{
	char buf[8192];
	size_t got;
	int fd = tcp_connect("127.0.0.1", port, timeout_ms), err;

	if (fd < 0)
		return -1;
	if (!exchange(fd, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", buf, sizeof(buf), &got) ||
	    !is_200(buf) ||
	    says_close(buf)) {
		err = errno ? errno : EPROTO;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

int ka_idle_end(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	char c;
	ssize_t n;
	int r;

	if (poll(&p, 1, timeout_ms) <= 0)
		r = ETIMEDOUT;
	else if ((n = recv(fd, &c, 1, MSG_DONTWAIT)) == 0)
		r = 0;
	else
		r = n > 0 ? EPROTO : errno;
	close(fd);
	return r;
}
