/*
 * drain.c - the shim's half of a drain under the shared and reuseport
 * policies, and the board's counters (protocol.h, "the board").
 *
 * Under shared and reuseport the app accepts from the master's own socket,
 * so only the shim can stop it.  The master sets the listener's drain bit
 * on the worker's board and waits until no thread is inside an accept
 * (in_accept, Dekker's handshake: see protocol.h).  The shim looks at the
 * bit before every accept on such a listener.  Once it is set:
 *
 *   - every fd of this process for that listener is pointed at a socket
 *     that never becomes readable (an unbound UDP socket: no peer, no
 *     hang-up, nothing can reach it), so level-triggered poll/select loops
 *     do not spin on a listener that other workers keep readable;
 *   - the app's epoll registrations of those fds are moved to the new
 *     file (epoll keys on the open file, so a registration would otherwise
 *     keep watching the shared socket);
 *   - accept fails with EAGAIN for a non-blocking caller, and a blocking
 *     caller waits (for a signal: the stop signal comes next) instead of
 *     seeing an error it never would without cluster-run.
 *
 * Every process of the worker does this for itself, at its next accept:
 * the board is shared, fd tables and epoll sets are not.
 *
 * Owns the drain lock, the burying of a drained listener's fds and the
 * board's counters (accepts, closes, connection durations).  Must not
 * send the master anything but one-way reports (through master.c) or
 * bury a channel's fds.  Not here:
 * the channel policies (rr, leastconn, sticky, random, p2c, jiq) need no
 * help from the shim to drain: the master simply stops sending.
 */
#include "shim.h"
#include "real.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <unistd.h>

static pthread_mutex_t swap_lock = PTHREAD_MUTEX_INITIALIZER;
/* A child forked while another thread held swap_lock would find it held
 * for good: the child starts with it free.  This file registers its own
 * handler, so that master.c (which this file calls) never calls back into
 * it; at load, since pthread_atfork allocates and the first drain may come
 * through an accept() in a signal handler. */
static void after_fork_child(void)
{
	pthread_mutex_init(&swap_lock, NULL);
}

__attribute__((constructor)) static void watch_forks(void)
{
	if (pthread_atfork(NULL, NULL, after_fork_child) != 0)
		shim_debug("no fork handler for the drain lock");
}

/* Point one fd at a fresh never-readable socket, carrying over its
 * FD_CLOEXEC and its epoll registrations.  Lock held. */
static void bury_listener_fd(int fd)
{
	struct epoll_reg regs[8];
	int n = fdtable_epolls(fd, regs, 8), i, dead;
	int fdflags = real_fcntl(fd, F_GETFD, NULL);

	dead = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (dead < 0 || fdflags < 0) {
		if (dead >= 0)
			real_close(dead);
		shim_warn("cannot retire listener fd %d: it stays readable", fd);
		return;
	}
	for (i = 0; i < n; i++)
		real_epoll_ctl(regs[i].epfd, EPOLL_CTL_DEL, fd, NULL);
	if (real_dup3(dead, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		real_close(dead);
		return;
	}
	real_close(dead);
	fdtable_retarget(fd);
	for (i = 0; i < n; i++) {
		struct epoll_event ev = { .events = regs[i].events, .data.u64 = regs[i].data };
		real_epoll_ctl(regs[i].epfd, EPOLL_CTL_ADD, fd, &ev);
	}
}

/* Only tried: accept is async-signal-safe, and a handler that accepts
 * while its thread buries (or another thread does) must not wait.  The
 * burier finishes the job; meanwhile the listener already counts as
 * drained for the caller. */
static void bury_listener(uint32_t lid, struct shim_listener *l)
{
	int fds[32], n, i;

	if (pthread_mutex_trylock(&swap_lock) != 0)
		return;
	if (!l->drained) {
		n = fdtable_fds_of(lid, fds, 32);
		for (i = 0; i < n; i++)
			if (fdtable_find_checked(fds[i]) == (int)lid)   /* not a reused number */
				bury_listener_fd(fds[i]);
		l->drained = 1;
		shim_debug("listener %u drained: %d fd(s) retired", lid, n);
	}
	pthread_mutex_unlock(&swap_lock);
}

int drain_enter(uint32_t lid)
{
	struct worker_board *b = shim_board();
	struct shim_listener *l = fdtable_listener(lid);

	if (!l)
		return 0;
	if (l->drained)
		return -1;
	if (!b || lid >= CLUSTER_MAX_LISTENERS)
		return 0;
	atomic_fetch_add(&b->l[lid].in_accept, 1);
	if (!(atomic_load(&b->drain) & (1ull << lid)))
		return 1;
	atomic_fetch_sub(&b->l[lid].in_accept, 1);
	bury_listener(lid, l);
	return -1;
}

void drain_leave(uint32_t lid, int cfd, int token)
{
	struct worker_board *b = shim_board();

	if (cfd >= 0) {
		conn_track(cfd, lid);
		io_conn_opened(cfd);
	}
	if (token != 1 || !b)
		return;
	if (cfd >= 0)
		atomic_fetch_add(&b->l[lid].accepted, 1);
	atomic_fetch_sub(&b->l[lid].in_accept, 1);
}

void drain_note_epoll(int epfd, int op, int fd, const void *event)
{
	const struct epoll_event *ev = event;
	struct epoll_reg reg = { .epfd = epfd };

	if (op != EPOLL_CTL_DEL && !ev)
		return;
	reg.pid = getpid();
	if (ev) {
		reg.events = ev->events;
		reg.data = ev->data.u64;
	}
	fdtable_note_epoll(fd, epfd, op, &reg);
}

void conn_received(uint32_t lid)
{
	struct worker_board *b = shim_board();

	if (b && lid < CLUSTER_MAX_LISTENERS)
		atomic_fetch_add(&b->l[lid].received, 1);
}

/* The duration first, the close count last: a reader that sees the
 * close counted (the master, a test waiting for it) sees its duration. */
void conn_closed(uint32_t lid, uint64_t since_us)
{
	struct worker_board *b = shim_board();
	uint64_t now;

	if (!b || lid >= CLUSTER_MAX_LISTENERS) {
		master_report(MSG_CONN_CLOSED, lid, 0);
		return;
	}
	if (since_us && (now = conn_now_us()) >= since_us) {
		atomic_fetch_add(&b->dur_sum_us, now - since_us);
		atomic_fetch_add(&b->dur_bucket[board_duration_bucket(now - since_us)], 1);
	}
	atomic_fetch_add(&b->l[lid].closed, 1);
}
