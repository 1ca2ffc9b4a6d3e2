/*
 * threaded_server - T threads blocked in accept4(SOCK_CLOEXEC) on one
 * listener, each serving the connections it gets; the reply says which
 * thread (thread=<index>).
 *
 * --listen-in-thread: the socket is made, bound and listened on by a
 * thread of its own, not the main one (as Go's runtime may), which then
 * ends: the system calls come from a thread whose id is not the pid.
 *
 * Under --graceful the threads keep SIGTERM blocked and the main thread
 * waits for it with sigwait().  It then interrupts the accepting threads
 * with SIGUSR1 until each has noticed helper_stopping and returned: a thread
 * serving a connection finishes it first (EINTR is retried there).
 */
#include "helper_common.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct acceptor {
	pthread_t thread;
	int index;
	int fd;
	const struct helper_opts *opts;
};

static void *accept_loop(void *arg)
{
	struct acceptor *a = arg;
	char extra[32];

	snprintf(extra, sizeof(extra), "thread=%d\n", a->index);
	while (!helper_stopping) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int conn = accept4(a->fd, (struct sockaddr *)&peer, &len, SOCK_CLOEXEC);

		if (conn < 0) {
			if (helper_accept_error(a->opts, errno) < 0)
				exit(1);
			continue;
		}
		helper_serve(a->opts, conn, a->fd, "main", &peer, len, extra);
	}
	return NULL;
}

struct listen_job {
	const struct helper_opts *opts;
	int fd;
};

static void *listen_thread(void *arg)
{
	struct listen_job *j = arg;

	j->fd = helper_listen(j->opts, j->opts->port);
	return NULL;
}

static void on_wakeup(int sig)
{
	(void)sig;
}

/* Wait for SIGTERM, then wake every thread until it has returned. */
static int stop_gracefully(const struct helper_opts *o, struct acceptor *a,
			   int count, const sigset_t *term)
{
	struct sigaction sa = { .sa_handler = on_wakeup };  /* no SA_RESTART */
	int sig, err;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0) {
		fprintf(stderr, "%s: sigaction: %s\n", o->prog, strerror(errno));
		return 1;
	}
	if ((err = sigwait(term, &sig)) != 0) {
		fprintf(stderr, "%s: sigwait: %s\n", o->prog, strerror(err));
		return 1;
	}
	helper_stopping = 1;
	for (int i = 0; i < count; i++) {
		for (;;) {
			struct timespec deadline;

			pthread_kill(a[i].thread, SIGUSR1);
			clock_gettime(CLOCK_REALTIME, &deadline);
			deadline.tv_nsec += 50 * 1000000L;
			if (deadline.tv_nsec >= 1000000000L) {
				deadline.tv_sec++;
				deadline.tv_nsec -= 1000000000L;
			}
			if (pthread_timedjoin_np(a[i].thread, NULL, &deadline) == 0)
				break;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	int threads = 4, in_thread = 0;
	const struct helper_option extra[] = {
		{ "--threads", HELPER_INT, &threads },
		{ "--listen-in-thread", HELPER_FLAG, &in_thread },
		{ NULL, 0, NULL },
	};
	struct listen_job job = { .fd = -1 };
	pthread_t lt;
	struct helper_opts o;
	struct acceptor *a;
	sigset_t term;
	int fd, err, status = 0;

	if (helper_parse(&o, argc, argv, extra) < 0 || helper_setup_signals(&o) < 0)
		return 2;
	if (threads < 1 || (a = calloc((size_t)threads, sizeof(*a))) == NULL) {
		fprintf(stderr, "%s: cannot run %d threads\n", o.prog, threads);
		return 2;
	}
	if (in_thread) {
		job.opts = &o;
		if ((err = pthread_create(&lt, NULL, listen_thread, &job)) != 0 ||
		    (err = pthread_join(lt, NULL)) != 0) {
			fprintf(stderr, "%s: listen thread: %s\n", o.prog, strerror(err));
			return 1;
		}
		fd = job.fd;
	} else {
		fd = helper_listen(&o, o.port);
	}
	if (fd < 0)
		return 1;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	if (o.graceful && (err = pthread_sigmask(SIG_BLOCK, &term, NULL)) != 0) {
		fprintf(stderr, "%s: pthread_sigmask: %s\n", o.prog, strerror(err));
		return 1;
	}
	for (int i = 0; i < threads; i++) {
		a[i] = (struct acceptor){ .index = i, .fd = fd, .opts = &o };
		err = pthread_create(&a[i].thread, NULL, accept_loop, &a[i]);
		if (err != 0) {
			fprintf(stderr, "%s: pthread_create: %s\n", o.prog, strerror(err));
			return 1;
		}
	}
	helper_announce(&o, fd);
	if (o.graceful)
		status = stop_gracefully(&o, a, threads, &term);
	else
		for (int i = 0; i < threads; i++)
			pthread_join(a[i].thread, NULL);
	free(a);
	return status;
}
