/*
 * hooks_fd.c - fd-level calls that must keep the clustered-fd table true:
 * close, close_range, closefrom, dup, dup2, dup3, fcntl/fcntl64, ioctl.
 *
 * What they guard:
 *   - the shim's own fds (doorbell, private channel) survive a program that
 *     closes every fd at start-up or dup2()s onto their numbers;
 *   - dups of a clustered listener are clustered too;
 *   - the last close of a listener in the worker process tells the master
 *     to stop routing to it (a forked child's close does not: its parent
 *     still has the listener, as socat's fork mode does);
 *   - closing an accepted connection tells the master (leastconn counts,
 *     draining before a worker is stopped);
 *   - on a shared socket O_NONBLOCK is the app's view only (see
 *     hooks_socket.c): F_GETFL, F_SETFL and FIONBIO read and write the view;
 *   - a received connection leaves the app's epoll set before it is closed
 *     (epoll_ctl only notes which set; see conn_note_epoll in fdtable.c).
 *
 * syscall() is hooked for the calls above made that way (libuv's close).
 * read/write and the other data-path calls are hooks_io.c's.  Not hooked,
 * by design: poll (a hot path), and calls made inside
 * libc that never go through the PLT (fclose of an fdopen'ed socket): the
 * master does not rely on these counts to drain a worker; it asks the
 * kernel which connections the worker's processes still hold (the
 * master's net/census.c).
 *
 * Owns keeping the table true across these calls and the app's view of
 * O_NONBLOCK on a socket-mode listener.  Must not change what any of
 * these calls does to an fd the shim does not manage (straight to libc),
 * or let the app close or overwrite the shim's own fds.
 */
#include "shim.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/close_range.h>
#include <unistd.h>

int shim_close(int fd) SHIM_EXPORT(close);
int shim_close_range(unsigned int first, unsigned int last, int flags) SHIM_EXPORT(close_range);
void shim_closefrom(int lowfd) SHIM_EXPORT(closefrom);
int shim_dup(int fd) SHIM_EXPORT(dup);
int shim_dup2(int oldfd, int newfd) SHIM_EXPORT(dup2);
int shim_dup3(int oldfd, int newfd, int flags) SHIM_EXPORT(dup3);
int shim_fcntl(int fd, int cmd, ...) SHIM_EXPORT(fcntl);
int shim_fcntl64(int fd, int cmd, ...) SHIM_EXPORT(fcntl64);
int shim_ioctl(int fd, unsigned long req, ...) SHIM_EXPORT(ioctl);
int shim_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) SHIM_EXPORT(epoll_ctl);
long shim_syscall(long number, ...) SHIM_EXPORT(syscall);

/* fd is going away (closed, or replaced by dup2): forget it and tell the
 * master what that means.  Call before the real close; count a
 * connection's end before it too (count_conn_close), report a listener's
 * release after.  The count goes first because the real close is what
 * the peer sees (EOF): a client that reconnects at once must find the
 * master's open count already lower, or leastconn passes this worker
 * over for a connection it no longer has.  Counting a close that then
 * fails costs nothing: a tracked fd is valid, and Linux releases it even
 * when close reports an error.
 *
 * It also takes fd out of the epoll sets this process put it in (which
 * needs the fd still open): the kernel drops a registration only when the
 * last reference to the file goes, and the master holds one of every
 * connection for a moment after handing it over (see conn_note_epoll) and
 * of every listener for good (and under shared every worker does).
 * Without this, an event loop gets events for an fd it closed, with the
 * pointer it freed (nginx deletes its listeners' events by hand for
 * this).  Registrations inherited from a parent are the parent's: left.
 *
 * No lock anywhere on this path: close and dup2 are async-signal-safe,
 * and programs call them in signal handlers (fdtable.c). */
struct forget {
	int conn_lid;
	int listener_lid;
	uint64_t conn_since_us;         /* its accept, for its duration */
};

static void leave_epoll_sets(int fd)
{
	struct epoll_reg regs[8];
	int n = fdtable_epolls(fd, regs, 8), i;
	pid_t me = n ? getpid() : 0;

	for (i = 0; i < n; i++)
		if (regs[i].pid == me)
			real_epoll_ctl(regs[i].epfd, EPOLL_CTL_DEL, fd, NULL);
}

static struct forget forget_fd(int fd)
{
	struct forget f = { -1, -1, 0 };
	int last, epfd, lid;

	if ((conn_peek(fd) < 0 && fdtable_find(fd) < 0) || !fdtable_owned())
		return f;
	epfd = conn_epoll_of(fd);
	f.conn_lid = conn_untrack_since(fd, &f.conn_since_us);
	if (f.conn_lid >= 0)
		io_conn_closed(fd);
	if (f.conn_lid >= 0 && epfd >= 0)
		real_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	if (fd <= fdtable_max_fd() && fdtable_find_checked(fd) >= 0) {
		leave_epoll_sets(fd);
		lid = fdtable_remove(fd, &last);
		if (lid >= 0 && last && shim_is_owner())
			f.listener_lid = lid;
	}
	return f;
}

static void count_conn_close(struct forget *f)
{
	if (f->conn_lid >= 0)
		conn_closed((uint32_t)f->conn_lid, f->conn_since_us);
	f->conn_lid = -1;
}

static void report_forget(struct forget f)
{
	if (f.conn_lid >= 0)
		conn_closed((uint32_t)f.conn_lid, f.conn_since_us);
	if (f.listener_lid >= 0)
		master_report(MSG_UNLISTEN, (uint32_t)f.listener_lid, 0);
}

int shim_close(int fd)
{
	struct forget f;
	int r, saved;

	if (!shim_enabled())
		return real_close(fd);
	if (shim_private_fd(fd))
		return 0;       /* pretend: the program closes what it never opened */
	f = forget_fd(fd);
	count_conn_close(&f);
	r = real_close(fd);
	saved = errno;
	report_forget(f);
	errno = saved;
	return r;
}

static void forget_range(unsigned int first, unsigned int last)
{
	int hi = fdtable_max_fd(), i;

	if (conn_tracked_max() > hi)
		hi = conn_tracked_max();
	for (i = (int)first; i <= hi && (unsigned int)i <= last; i++)
		report_forget(forget_fd(i));
}

/* close_range around the shim's own fds: close [first, last] in pieces. */
int shim_close_range(unsigned int first, unsigned int last, int flags)
{
	unsigned int lo = first;
	int own[2], n, i;

	if (!shim_enabled())
		return real_close_range(first, last, flags);
	if (flags & CLOSE_RANGE_CLOEXEC) {
		int r = real_close_range(first, last, flags), saved = errno;

		shim_keep_doorbell_inheritable();
		errno = saved;
		return r;
	}
	if (first > last) {
		errno = EINVAL;
		return -1;
	}
	forget_range(first, last);
	n = shim_private_fds(own);
	for (i = 0; i < n; i++) {
		unsigned int fd = (unsigned int)own[i];
		if (fd < lo || fd > last)
			continue;
		if (fd > lo && real_close_range(lo, fd - 1, flags) < 0)
			return -1;
		if (fd == last)
			return 0;
		lo = fd + 1;
	}
	return real_close_range(lo, last, flags);
}

void shim_closefrom(int lowfd)
{
	if (lowfd < 0)
		lowfd = 0;
	shim_close_range((unsigned int)lowfd, ~0u, 0);
}

/* newfd now refers to what oldfd does: a dup of a listener is a listener. */
static void copy_entry(int oldfd, int newfd)
{
	int lid = fdtable_find_checked(oldfd);

	if (lid >= 0 && !fdtable_owned())
		return;

	if (lid >= 0)
		fdtable_add(newfd, (uint32_t)lid);
}

int shim_dup(int fd)
{
	int r = real_dup(fd);

	if (r >= 0 && shim_enabled())
		copy_entry(fd, r);
	return r;
}

/* Async-signal-safe, as libc's dup2 is: see forget_fd and
 * shim_move_private_fd. */
static int dup_onto(int oldfd, int newfd, int flags, int is_dup3)
{
	struct forget f = { -1, -1, 0 };
	int r, saved, moved = 0;

	if (!shim_enabled() || oldfd == newfd)
		return is_dup3 ? real_dup3(oldfd, newfd, flags) : real_dup2(oldfd, newfd);
	if (real_fcntl(oldfd, F_GETFD, NULL) >= 0) {   /* else dup2 fails: EBADF */
		if (shim_private_fd(newfd) && fdtable_owned())
			moved = shim_move_private_fd(newfd) == 0;
		f = forget_fd(newfd);
	}
	count_conn_close(&f);
	r = is_dup3 ? real_dup3(oldfd, newfd, flags) : real_dup2(oldfd, newfd);
	saved = errno;
	if (r >= 0)
		copy_entry(oldfd, newfd);
	else if (moved)
		real_close(newfd);      /* our old number: ours is elsewhere now */
	report_forget(f);
	errno = saved;
	return r;
}

int shim_dup2(int oldfd, int newfd)
{
	return dup_onto(oldfd, newfd, 0, 0);
}

int shim_dup3(int oldfd, int newfd, int flags)
{
	return dup_onto(oldfd, newfd, flags, 1);
}

/* The record of a shared stream socket (whose O_NONBLOCK is the app's
 * view), or NULL for any other fd. */
static struct shim_listener *shared_socket(int fd)
{
	int lid = fdtable_find_checked(fd);
	struct shim_listener *l;

	if (lid < 0 || !(l = fdtable_listener((uint32_t)lid)))
		return NULL;
	return l->mode == BIND_MODE_SOCKET && l->emulate_nonblock ? l : NULL;
}

static int do_fcntl(int fd, int cmd, void *arg)
{
	struct shim_listener *l;
	int r;

	if (!shim_enabled() || fd < 0 || fd > fdtable_max_fd())
		return real_fcntl(fd, cmd, arg);
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		r = real_fcntl(fd, cmd, arg);
		if (r >= 0)
			copy_entry(fd, r);
		return r;
	case F_GETFL:
		r = real_fcntl(fd, cmd, arg);
		if (r >= 0 && (l = shared_socket(fd)))
			r = (r & ~O_NONBLOCK) | (l->app_nonblock ? O_NONBLOCK : 0);
		return r;
	case F_SETFL:
		if (!(l = shared_socket(fd)))
			return real_fcntl(fd, cmd, arg);
		r = real_fcntl(fd, cmd, (void *)((long)(int)(long)arg | O_NONBLOCK));
		if (r == 0)
			l->app_nonblock = !!((int)(long)arg & O_NONBLOCK);
		return r;
	default:
		return real_fcntl(fd, cmd, arg);
	}
}

int shim_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

int shim_fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

/* Whether ev asks for an exclusive wake-up on a socket-mode listener:
 * one the master may drain from under this process (shim/drain.c). */
static int exclusive_on_listener(int op, int fd, const struct epoll_event *ev)
{
	struct shim_listener *l;
	int lid;

	/* what the kernel takes with EPOLLEXCLUSIVE (fs/eventpoll.c); a
	 * call with more fails there, EINVAL, and must fail the same */
	const uint32_t ok = EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM |
			    EPOLLWRBAND | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET |
			    EPOLLEXCLUSIVE;

	if (op != EPOLL_CTL_ADD || !ev || !(ev->events & EPOLLEXCLUSIVE) || (ev->events & ~ok))
		return 0;
	/* checked: a number the table still holds for a closed listener
	 * must not lose the flag for the socket now there (one fstat, at an
	 * ADD with the flag only) */
	if ((lid = fdtable_find_checked(fd)) < 0 || !(l = fdtable_listener((uint32_t)lid)))
		return 0;
	return atomic_load(&l->mode) == BIND_MODE_SOCKET;
}

/* Notes where a received connection or a listener is registered (see
 * conn_note_epoll, drain.c); the call itself is libc's, but for one flag.
 *
 * EPOLLEXCLUSIVE on a socket-mode listener is dropped.  With it the
 * kernel wakes one waiter per new connection (nginx asks for it when it
 * runs several workers without accept_mutex).  A draining process gives
 * up its listener only at its next accept (drain.c), and that accept
 * fails: if the kernel picked it, nobody else was woken, and the
 * connection waited in the queue until the next one arrived.  Under
 * keep-alive traffic that can be many seconds (keepalive_shim's nginx
 * under shared lost requests to a 10 s timeout that way).  Every waiter
 * now wakes and one accepts: the thundering herd nginx had before
 * EPOLLEXCLUSIVE, among one worker's processes under reuseport and among
 * all of them under shared (bench: run-real-programs). */
int shim_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct epoll_event plain;
	int r, saved;

	if (exclusive_on_listener(op, fd, ev)) {
		plain = *ev;
		plain.events &= ~(uint32_t)EPOLLEXCLUSIVE;
		shim_debug("fd %d: EPOLLEXCLUSIVE dropped (a drain would swallow a wake-up)", fd);
		ev = &plain;
	}
	r = real_epoll_ctl(epfd, op, fd, ev);
	saved = errno;

	if (r == 0 && conn_peek(fd) == 0 && fdtable_owned())
		conn_note_epoll(fd, op == EPOLL_CTL_DEL ? -1 : epfd);
	if (r == 0 && fdtable_find(fd) >= 0 && fdtable_owned())
		drain_note_epoll(epfd, op, fd, ev);
	errno = saved;
	return r;
}

/* Runtimes that make their own system calls for what the shim must see:
 * libuv (Node.js) closes every fd with syscall(SYS_close) to dodge
 * close()'s cancellation point, so without this hook a Node worker's
 * connections would never be counted closed.  The other numbers go
 * straight to libc's syscall().  Six arguments are read whatever the call
 * (the x86-64 and AArch64 conventions pass them in registers, so reading
 * unused ones is harmless), as every syscall() wrapper does. */
long shim_syscall(long number, ...)
{
	long a[6];
	va_list ap;
	int i;

	va_start(ap, number);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	switch (number) {
	case SYS_close:
		return shim_close((int)a[0]);
#ifdef SYS_close_range
	case SYS_close_range:
		return shim_close_range((unsigned int)a[0], (unsigned int)a[1], (int)a[2]);
#endif
#ifdef SYS_dup2
	case SYS_dup2:
		return shim_dup2((int)a[0], (int)a[1]);
#endif
	case SYS_dup3:
		return shim_dup3((int)a[0], (int)a[1], (int)a[2]);
	case SYS_accept4:
		return shim_accept4((int)a[0], (struct sockaddr *)a[1], (socklen_t *)a[2], (int)a[3]);
#ifdef SYS_accept
	case SYS_accept:
		return shim_accept4((int)a[0], (struct sockaddr *)a[1], (socklen_t *)a[2], 0);
#endif
	default:
		return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
}

int shim_ioctl(int fd, unsigned long req, ...)
{
	struct shim_listener *l;
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req != FIONBIO || !shim_enabled() || fd < 0 || fd > fdtable_max_fd() ||
	    !(l = shared_socket(fd)))
		return real_ioctl(fd, req, arg);
	if (!arg) {
		errno = EFAULT;
		return -1;
	}
	l->app_nonblock = *(int *)arg != 0;
	return 0;
}
