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
 * Answers must carry Content-Length (every server the tests run does).
 */
#include "ka_client.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define KA_TIMEOUT_MS 5000
#define KA_REQUEST "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"

struct ka_load {
	int port;
	int conns;
	atomic_int stop;
	atomic_long ok, lost, lost_unanswered, reconnects, connect_failed;
	atomic_long per_worker[16];
	pthread_t threads[16];
};

/* Whether buf (len bytes, NUL-ended) holds one whole answer: its length,
 * 0 when more is needed, -1 when it cannot tell (no Content-Length). */
static long whole_answer(const char *buf, size_t len)
{
	const char *end = strstr(buf, "\r\n\r\n"), *p;
	long body;

	if (!end)
		return 0;
	for (p = buf; p && p < end; p = strstr(p, "\r\n")) {
		if (*p == '\r')
			p += 2;
		if (!strncasecmp(p, "Content-Length:", 15)) {
			body = atol(p + 15);
			return (size_t)(end + 4 - buf) + (size_t)body <= len
				? (long)(end + 4 - buf) + body : 0;
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
 * connection ended or timed out first (*got: bytes that came back). */
static int exchange(int fd, char *buf, size_t cap, size_t *got)
{
	long deadline = now_ms() + KA_TIMEOUT_MS, whole = 0;
	size_t len = 0;

	*got = 0;
	buf[0] = '\0';
	if (send(fd, KA_REQUEST, strlen(KA_REQUEST), MSG_NOSIGNAL) < 0)
		return 0;
	while (whole == 0) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) <= 0)
			return 0;
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return 0;
		len += (size_t)n;
		*got = len;
		buf[len] = '\0';
		if ((whole = whole_answer(buf, len)) < 0 || len == cap - 1)
			return 0;
	}
	return 1;
}

static int closed_meanwhile(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) > 0;
}

static void *ka_thread(void *arg)
{
	struct ka_load *l = arg;
	char buf[8192];
	int fd = -1, reused = 0;

	while (!atomic_load(&l->stop)) {
		size_t got;
		int w;

		if (fd >= 0 && closed_meanwhile(fd)) {
			atomic_fetch_add(&l->reconnects, 1);
			close(fd);
			fd = -1;
		}
		if (fd < 0) {
			if ((fd = tcp_connect("127.0.0.1", l->port, KA_TIMEOUT_MS)) < 0) {
				atomic_fetch_add(&l->connect_failed, 1);
				sleep_ms(10);   /* a refused port is not hammered */
				continue;
			}
			reused = 0;
		}
		if (!exchange(fd, buf, sizeof(buf), &got) || !strstr(buf, " 200 ")) {
			atomic_fetch_add(&l->lost, 1);
			if (reused && got == 0)
				atomic_fetch_add(&l->lost_unanswered, 1);
			close(fd);
			fd = -1;
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
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

struct ka_load *ka_load_start(int port, int conns)
{
	struct ka_load *l = calloc(1, sizeof(*l));
	int i;

	cr_assert(l && conns > 0 && conns <= 16);
	l->port = port;
	l->conns = conns;
	for (i = 0; i < conns; i++)
		cr_assert(pthread_create(&l->threads[i], NULL, ka_thread, l) == 0);
	return l;
}

long ka_load_ok_so_far(struct ka_load *l)
{
	return atomic_load(&l->ok);
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
	if (!exchange(fd, buf, sizeof(buf), &got) || !strstr(buf, " 200 ") ||
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
