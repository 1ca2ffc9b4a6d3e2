/*
 * client.c - the harness's client side (harness.h): addresses, connecting,
 * one request and its answer, a bounded background load, free ports.  It
 * knows nothing of cluster-run itself (harness.c starts and watches it).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

socklen_t sockaddr_of(const char *host, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(host, ':')) {
		struct sockaddr_in6 *a = (void *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, host, &a->sin6_addr);
		return sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &a->sin_addr);
		return sizeof(*a);
	}
}

int tcp_connect(const char *host, int port, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t len = sockaddr_of(host, port, &ss);
	struct pollfd pfd;
	int fd, err = 0;
	socklen_t elen = sizeof(err);

	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, timeout_ms) <= 0) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
		errno = err ? err : errno;
		goto fail;
	}
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

int recv_answer(int fd, char *buf, size_t cap, const char *until, long deadline)
{
	size_t len = 0;

	buf[0] = '\0';
	while (!until || !strstr(buf, until)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return -1;
		if (n == 0 || len + (size_t)n >= cap - 1) {
			if (until) {            /* ended before the terminator */
				errno = EPROTO;
				return -1;
			}
			len += (size_t)n;
			buf[len] = '\0';
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
	}
	return (int)len;
}

int tcp_request(const char *host, int port, const char *req, char *buf, size_t cap,
		const char *until, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	size_t rlen = strlen(req);
	int fd = tcp_connect(host, port, timeout_ms), err, len;

	if (fd < 0)
		return -1;
	if (send(fd, req, rlen, MSG_NOSIGNAL) != (ssize_t)rlen ||
	    (len = recv_answer(fd, buf, cap, until, deadline)) < 0)
		goto fail;
	close(fd);
	return len;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

int http_get(const char *host, int port, char *buf, size_t cap, int timeout_ms)
{
	int len = tcp_request(host, port, "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n",
			      buf, cap, NULL, timeout_ms);

	if (len < 0)
		return -1;
	if (len == 0 || strncmp(buf, "HTTP/", 5)) {
		errno = EPROTO;
		return -1;
	}
	return len;
}

const char *body_value(const char *resp, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = strstr(resp, "\r\n\r\n");

	for (p = p ? p + 4 : resp; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == '=') {
			size_t n = strcspn(p + klen + 1, "\r\n");
			if (n >= cap)
				n = cap - 1;
			memcpy(out, p + klen + 1, n);
			out[n] = '\0';
			return out;
		}
	}
	return NULL;
}

int response_worker(const char *resp)
{
	const char *h = strstr(resp, "X-Worker: ");

	if (!h)
		h = strstr(resp, "x-worker: ");
	return h ? atoi(h + 10) : -1;
}

int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

int port_free(int port, int v6)
{
	struct sockaddr_storage ss;
	int fd, one = 1, ok;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (v6) {
		struct sockaddr_in6 *a = (void *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&ss, len) == 0 && listen(fd, 1) == 0;
	close(fd);
	return ok;
}

struct load {
	int port;
	int clients;
	int timeout_ms;         /* each request's */
	atomic_int stop;
	atomic_long ok, failed;
	atomic_long per_worker[16];
	pthread_t threads[16];
};

static void *load_thread(void *arg)
{
	struct load *l = arg;
	char buf[4096];

	while (!atomic_load(&l->stop)) {
		int w;
		if (http_get("127.0.0.1", l->port, buf, sizeof(buf), l->timeout_ms) < 0 ||
		    !strstr(buf, " 200 ")) {
			atomic_fetch_add(&l->failed, 1);
			continue;
		}
		atomic_fetch_add(&l->ok, 1);
		w = response_worker(buf);
		if (w >= 0 && w < 16)
			atomic_fetch_add(&l->per_worker[w], 1);
	}
	return NULL;
}

struct load *load_start(int port, int clients)
{
	return load_start_timeout(port, clients, 5000);
}

struct load *load_start_timeout(int port, int clients, int timeout_ms)
{
	struct load *l = calloc(1, sizeof(*l));
	int i;

	cr_assert(l && clients > 0 && clients <= 16);
	l->port = port;
	l->clients = clients;
	l->timeout_ms = timeout_ms;
	for (i = 0; i < clients; i++)
		cr_assert(pthread_create(&l->threads[i], NULL, load_thread, l) == 0);
	return l;
}

long load_ok_so_far(struct load *l)
{
	return atomic_load(&l->ok);
}

void load_wait_more(struct load *l, long more, int timeout_ms)
{
	long base = load_ok_so_far(l), deadline = now_ms() + timeout_ms;

	while (load_ok_so_far(l) < base + more && now_ms() < deadline)
		sleep_ms(10);
}

long load_worker_so_far(struct load *l, int worker)
{
	return worker >= 0 && worker < 16 ? atomic_load(&l->per_worker[worker]) : 0;
}

long load_failed_so_far(struct load *l)
{
	return atomic_load(&l->failed);
}

void load_stop(struct load *l, long *ok, long *failed, long per_worker[16])
{
	int i;

	atomic_store(&l->stop, 1);
	for (i = 0; i < l->clients; i++)
		pthread_join(l->threads[i], NULL);
	*ok = atomic_load(&l->ok);
	*failed = atomic_load(&l->failed);
	for (i = 0; per_worker && i < 16; i++)
		per_worker[i] = atomic_load(&l->per_worker[i]);
	free(l);
}

int request_worker(int port, int *slot, pid_t *pid, int timeout_ms)
{
	char buf[4096], val[32];

	if (http_get("127.0.0.1", port, buf, sizeof(buf), timeout_ms) < 0 ||
	    !strstr(buf, " 200 ") || !body_value(buf, "pid", val, sizeof(val)))
		return -1;
	*slot = response_worker(buf);
	*pid = (pid_t)atol(val);
	return 0;
}

int port_accepts(int port)
{
	int fd = tcp_connect("127.0.0.1", port, 1000);

	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}
