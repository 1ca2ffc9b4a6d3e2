/*
 * master.c - the shim's side of the conversation with the cluster-run master.
 *
 * Activation: the shim is active when CLUSTER_RUN_FD ("fd:inode") names an
 * AF_UNIX SOCK_SEQPACKET socket with that inode (the slot's doorbell).
 * Anything else and every hook passes straight to libc: a program started
 * from a saved copy of a worker's environment (Python's env=dict(os.environ),
 * Java's ProcessBuilder) still has the variable, but not that socket.
 *
 * Claiming: the first process that talks to the master (it binds a
 * clustered address) becomes the worker.  It removes CLUSTER_RUN_FD and the
 * shim's entry of LD_PRELOAD from its environment, so programs it execs run
 * unclustered, marks the doorbell close-on-exec, and asks to be killed when
 * its parent dies.  Processes that never bind (an `sh -c` wrapper) pass the
 * variables on untouched.  Node.js deletes NODE_UNIQUE_ID for the same reason.
 *
 * The private channel: the doorbell is shared by every process of the slot,
 * so requests with replies cannot use it (one-way reports do).  Each process creates its own
 * socketpair on first need and hands one end to the master with MSG_ATTACH;
 * a forked child notices the pid changed and attaches its own.
 *
 * The shim never exits, aborts or hangs its host: every failure here
 * returns -1 and the caller falls back to plain libc behaviour.  Nothing
 * here waits without a deadline (a master that is stopped or stuck is
 * given REPLY_TIMEOUT_MS per request), and nothing the hooks of
 * async-signal-safe calls reach (dup2 moving our fds, reports from close)
 * takes a lock or touches the environment.
 *
 * Signals: while a request is under way the thread blocks the signals a
 * handler could catch, and waits in ppoll() with the program's own mask,
 * so the program's handlers run only while we wait, never between our
 * reading an fd number and using it (a handler may dup2 over that number:
 * see shim_move_private_fd).  Another thread doing that at the same
 * instant is a race this cannot close, as for libc's own hidden fds.
 *
 * Owns the doorbell, the private channel, the conversation lock, the
 * worker claim, the board's mapping and the fork handler for all of it
 * (and for the fd table).  Must not read from the doorbell (see
 * protocol.h), swap or close an app's fd, or call up into the hooks or
 * drain.c: they call it.
 */
#include "shim.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long one request waits for the master (the lock, the send, the
 * reply), and a one-way report for room on the doorbell. */
#define REPLY_TIMEOUT_MS 30000
#define REPORT_TIMEOUT_MS 5000
/* A wait is cut in slices, re-reading the channel's number between them
 * (another thread may have moved it). */
#define WAIT_SLICE_MS 500

static pthread_once_t once = PTHREAD_ONCE_INIT;
/* The fds may be moved by a dup2 hook (in a signal handler too): atomics,
 * read once per use. */
static _Atomic int doorbell = -1;
static _Atomic int private_fd = -1;
static _Atomic pid_t private_pid;
static _Atomic pid_t owner_pid;         /* the worker: the process that claimed */
static _Atomic pid_t memory_pid;        /* whose memory this is (not a vfork child's) */
static _Atomic uint32_t next_seq = 1;
static pthread_mutex_t conv_lock;       /* error-checking: see lock_conversation */
static struct worker_board *_Atomic board;      /* see protocol.h */
static _Atomic int master_stalled;      /* a report found no room: do not wait again */
static _Atomic int said_timeout, said_stalled, said_lost;

static int is_seqpacket_unix(int fd)
{
	int type = 0, domain = 0;
	socklen_t len = sizeof(type);

	if (real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return 0;
	len = sizeof(domain);
	if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return 0;
	return type == SOCK_SEQPACKET && domain == AF_UNIX;
}

static void init_conv_lock(void)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&conv_lock, &a);
	pthread_mutexattr_destroy(&a);
}

/* No prepare handler: fork() must not wait for anything of ours (a thread
 * may be waiting for the master with the conversation lock held).  The
 * child starts with its own lock and no private channel (the parent's must
 * not stay open here, or the master would not see the parent go, and a
 * reply meant for the parent must not be read here); a conversation the
 * fork cut in two is the parent's, and goes on there. */
static void atfork_child(void)
{
	int fd = atomic_exchange(&private_fd, -1);

	if (fd >= 0)
		real_close(fd);
	atomic_store(&memory_pid, getpid());
	fdtable_after_fork();
	init_conv_lock();
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Block what a handler could catch, but not the signals a thread raises
 * on itself (blocked, a fault would kill the process instead of reaching
 * the program's crash handler).  glibc never blocks its own internal
 * signals (cancellation, setxid). */
static void block_signals(sigset_t *old)
{
	static const int own[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT };
	sigset_t all;
	size_t i;

	sigfillset(&all);
	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		sigdelset(&all, own[i]);
	pthread_sigmask(SIG_BLOCK, &all, old);
}

static void restore_signals(const sigset_t *old)
{
	int saved = errno;

	pthread_sigmask(SIG_SETMASK, old, NULL);
	errno = saved;
}

/* Wait for events on *fdp until deadline, in slices, with the program's
 * signal mask (its handlers run in here).  1: look again (ready, or
 * interrupted, or a slice ended); 0: the deadline passed (errno
 * ETIMEDOUT); -1: error. */
static int wait_fd(_Atomic int *fdp, short events, long deadline, const sigset_t *mask)
{
	struct pollfd p = { .fd = atomic_load(fdp), .events = events };
	long left = deadline - now_ms();
	struct timespec ts;

	if (left <= 0) {
		errno = ETIMEDOUT;
		return 0;
	}
	if (left > WAIT_SLICE_MS)
		left = WAIT_SLICE_MS;
	ts.tv_sec = left / 1000;
	ts.tv_nsec = (left % 1000) * 1000000L;
	if (ppoll(&p, 1, &ts, mask) < 0 && errno != EINTR)
		return -1;
	return 1;
}

/* Send one message on *fdp (re-read at each try) by deadline. */
static int send_by(_Atomic int *fdp, const void *msg, size_t len, int fd, long deadline,
		   const sigset_t *mask)
{
	for (;;) {
		int r, s = atomic_load(fdp);

		if (s < 0) {
			errno = EBADF;
			return -1;
		}
		if (msg_send(s, msg, len, fd, MSG_DONTWAIT) == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		if ((r = wait_fd(fdp, POLLOUT, deadline, mask)) <= 0)
			return -1;
	}
}

/* The fd holding the socket with inode ino, found in /proc/self/fd (raw
 * getdents64: no allocation), or -1. */
static int fd_with_inode(unsigned long long ino)
{
	char buf[4096];
	int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC), found = -1;
	ssize_t n;

	if (dir < 0)
		return -1;
	while (found < 0 && (n = getdents64(dir, buf, sizeof(buf))) > 0) {
		ssize_t off = 0;

		while (off < n && found < 0) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			struct stat st;
			char *end;
			long fd = strtol(d->d_name, &end, 10);

			off += d->d_reclen;
			if (*end || end == d->d_name || fd == dir)
				continue;
			if (fstat((int)fd, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == ino &&
			    is_seqpacket_unix((int)fd))
				found = (int)fd;
		}
	}
	real_close(dir);
	return found;
}

static void activate(void)
{
	const char *v = getenv(CLUSTER_ENV_FD);
	unsigned long long ino;
	struct stat st;
	char *end;
	long fd;
	int saved = errno;

	if (!v || !*v)
		goto out;
	/* "fd:inode": the inode is what makes a saved copy of the environment
	 * harmless (a program started from it, where that fd number is now
	 * something else, must not talk to it).  The number is where the
	 * launcher put the doorbell; a wrapper that dup2()ed over it moved
	 * ours (shim_move_private_fd), so the inode is looked for among our
	 * fds: a dup2 hook cannot rewrite the environment (setenv is not
	 * async-signal-safe). */
	fd = strtol(v, &end, 10);
	if (*end != ':' || fd < 0 || fd > 1 << 20 ||
	    (errno = 0, ino = strtoull(end + 1, &end, 10), *end || errno)) {
		shim_debug("%s=%s is not a cluster-run channel; shim inactive",
			   CLUSTER_ENV_FD, v);
		goto out;
	}
	if (fstat((int)fd, &st) < 0 || st.st_ino != ino || !is_seqpacket_unix((int)fd))
		fd = fd_with_inode(ino);
	if (fd < 0) {
		shim_debug("%s=%s is not a cluster-run channel; shim inactive",
			   CLUSTER_ENV_FD, v);
		goto out;
	}
	init_conv_lock();
	atomic_store(&memory_pid, getpid());
	fdtable_after_fork();
	atomic_store(&doorbell, (int)fd);
	pthread_atfork(NULL, NULL, atfork_child);
	shim_debug("active, doorbell fd %d", (int)fd);
out:
	errno = saved;
}

/* Both one-time bindings here, at load, rather than on the first hook
 * call: that call may be a close() in a signal handler that interrupted
 * the first binding (pthread_once would then wait for itself). */
__attribute__((constructor)) static void shim_constructor(void)
{
	real_init();
	pthread_once(&once, activate);
}

int shim_enabled(void)
{
	pthread_once(&once, activate);
	return atomic_load(&doorbell) >= 0;
}

int shim_is_owner(void)
{
	pid_t o = atomic_load(&owner_pid);

	return o && o == getpid();
}

int shim_vforked(void)
{
	pid_t m = atomic_load(&memory_pid);

	return m && m != getpid();
}

int shim_private_fd(int fd)
{
	return fd >= 0 && (fd == atomic_load(&doorbell) ||
			   (fd == atomic_load(&private_fd) &&
			    atomic_load(&private_pid) == getpid()));
}

/* A program that marks every fd close-on-exec before it execs the real
 * server (close_range(CLOSE_RANGE_CLOEXEC)) must still pass the doorbell
 * on while no process has claimed it. */
void shim_keep_doorbell_inheritable(void)
{
	sigset_t mask;
	int fl, d;

	if (atomic_load(&owner_pid))
		return;
	block_signals(&mask);   /* see the file comment: the number is read once */
	d = atomic_load(&doorbell);
	fl = d >= 0 ? real_fcntl(d, F_GETFD, NULL) : -1;
	if (fl >= 0 && (fl & FD_CLOEXEC))
		real_fcntl(d, F_SETFD, (void *)(long)(fl & ~FD_CLOEXEC));
	restore_signals(&mask);
}

int shim_private_fds(int out[2])
{
	int n = 0, d = atomic_load(&doorbell), p = atomic_load(&private_fd);

	if (d >= 0)
		out[n++] = d;
	if (p >= 0 && atomic_load(&private_pid) == getpid())
		out[n++] = p;
	if (n == 2 && out[0] > out[1]) {
		int t = out[0];
		out[0] = out[1];
		out[1] = t;
	}
	return n;
}

/* Put our fd held in *slot (which is fd) at another number, before the
 * app's dup2 takes fd.  The old number stays ours until that dup2 replaces
 * it (closing it first would let another thread's open() take it, and the
 * dup2 would then close that thread's file).  A compare-and-swap: of two
 * movers of one fd, the second finds it moved.  0, or -1 (no fd left). */
static int move_fd(_Atomic int *slot, int fd, int cmd)
{
	int moved = real_fcntl(fd, cmd, (void *)(long)0), expect = fd;

	if (moved < 0)
		return -1;
	if (!atomic_compare_exchange_strong(slot, &expect, moved))
		real_close(moved);
	return 0;
}

/* The app is about to dup2() onto one of our fd numbers: move ours away.
 * Reached from dup2, which programs call in signal handlers and between
 * fork and exec: atomics and fcntl only.  An unclaimed doorbell must stay
 * inheritable across exec, so it keeps FD_CLOEXEC clear; the program exec'd
 * later finds it by its inode (activate), the environment is left alone. */
int shim_move_private_fd(int fd)
{
	if (fd == atomic_load(&private_fd) && atomic_load(&private_pid) == getpid()) {
		if (move_fd(&private_fd, fd, F_DUPFD_CLOEXEC) == 0)
			return 0;
		/* given up: the next request attaches a new channel */
		atomic_compare_exchange_strong(&private_fd, &fd, -1);
		return -1;
	}
	if (fd == atomic_load(&doorbell)) {
		if (move_fd(&doorbell, fd, atomic_load(&owner_pid) ? F_DUPFD_CLOEXEC : F_DUPFD) == 0)
			return 0;
		atomic_compare_exchange_strong(&doorbell, &fd, -1);
		shim_warn_once(&said_lost, "no fd left to keep the cluster-run channel from "
			       "dup2(); this process runs unclustered");
		return -1;
	}
	return 0;
}

/* Remove our library from LD_PRELOAD.  The string may be read-only (a
 * program may putenv() a literal), so the new value is built in a static
 * buffer and the environ entry is pointed at it, as putenv() would: no
 * write to the old string, no allocation.  Entries are separated by ':' or
 * spaces; ours is the one whose file name matches. */
static void drop_from_preload(void)
{
	static char value[4096];
	static const char key[] = "LD_PRELOAD=";
	extern char **environ;
	size_t klen = sizeof(key) - 1, out = klen, nlen = strlen(CLUSTER_SHIM_NAME);
	const char *src;
	char **e;

	for (e = environ; e && *e && strncmp(*e, key, klen); e++)
		;
	if (!e || !*e)
		return;
	memcpy(value, key, klen);
	for (src = *e + klen; *src;) {
		size_t len = strcspn(src, ": ");
		const char *base = memrchr(src, '/', len);

		base = base ? base + 1 : src;
		if (!(len - (size_t)(base - src) == nlen && !memcmp(base, CLUSTER_SHIM_NAME, nlen)) &&
		    out + len + 2 < sizeof(value)) {
			if (out > klen)
				value[out++] = ':';
			memcpy(value + out, src, len);
			out += len;
		}
		src += len;
		while (*src == ':' || *src == ' ')
			src++;
	}
	value[out] = '\0';
	if (out == klen)
		unsetenv("LD_PRELOAD");
	else
		*e = value;
}

/* Become the worker: see the file comment.  Conversation lock held,
 * signals blocked.
 *
 * Killed with the master only when the master is our parent: the master
 * made the doorbell (socketpair), so SO_PEERCRED names it.  A daemon that
 * binds while the parent it forked from is still there (memcached, redis
 * and lighttpd bind after daemonizing; the parent's exit may come later)
 * would otherwise be killed by that parent's normal exit; the master
 * follows such a daemon, and its guard covers the master's death. */
static void claim(void)
{
	struct ucred master;
	socklen_t len = sizeof(master);

	if (atomic_load(&owner_pid))
		return;
	atomic_store(&owner_pid, getpid());
	unsetenv(CLUSTER_ENV_FD);
	drop_from_preload();
	real_fcntl(atomic_load(&doorbell), F_SETFD, (void *)(long)FD_CLOEXEC);
	if (real_getsockopt(atomic_load(&doorbell), SOL_SOCKET, SO_PEERCRED, &master, &len) < 0 ||
	    master.pid == getppid())
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	shim_debug("claimed the worker role");
}

/* This process's private channel, attaching it first if needed.
 * Conversation lock held, signals blocked. */
static int private_channel(long deadline, const sigset_t *mask)
{
	struct msg_attach m;
	int sv[2], ch = atomic_load(&private_fd);

	if (ch >= 0 && atomic_load(&private_pid) == getpid())
		return ch;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	msg_init(&m, MSG_ATTACH, 0);
	m.version = CLUSTER_PROTO_VERSION;
	m.pid = (int32_t)getpid();
	if (send_by(&doorbell, &m, sizeof(m), sv[1], deadline, mask) < 0) {
		int saved = errno;
		real_close(sv[0]);
		real_close(sv[1]);
		errno = saved;
		return -1;
	}
	real_close(sv[1]);
	atomic_store(&private_fd, sv[0]);
	atomic_store(&private_pid, getpid());
	return sv[0];
}

/* After a timeout: a late reply must not answer the next request, and the
 * master simply forgets a channel that closes. */
static void drop_private_channel(void)
{
	int fd = atomic_exchange(&private_fd, -1);

	if (fd >= 0 && atomic_load(&private_pid) == getpid())
		real_close(fd);
}

/* The reply to request seq, by deadline.  Signals blocked. */
static int receive_reply(uint32_t seq, struct msg_bind_reply *rep, int *fd, long deadline,
			 const sigset_t *mask)
{
	for (;;) {
		int ch = atomic_load(&private_fd), r;
		ssize_t n;

		if (ch < 0) {
			errno = ECONNRESET;
			return -1;
		}
		n = msg_recv(ch, rep, sizeof(*rep), fd, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if ((r = wait_fd(&private_fd, POLLIN, deadline, mask)) <= 0)
				return -1;
			continue;
		}
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
		if (msg_valid(rep, (size_t)n) && rep->hdr.type == MSG_BIND_REPLY &&
		    rep->hdr.seq == seq)
			return 0;
		if (*fd >= 0)
			real_close(*fd);
		*fd = -1;
	}
}

/* The conversation lock, by deadline.  Error-checking: a signal handler
 * that binds while its own thread holds the lock (it runs inside our
 * wait) gets EDEADLK at once and its bind falls back to libc, instead of
 * waiting for itself. */
static int lock_conversation(long deadline)
{
	struct timespec ts;
	int r;

	ts.tv_sec = deadline / 1000;
	ts.tv_nsec = (deadline % 1000) * 1000000L;
	r = pthread_mutex_clocklock(&conv_lock, CLOCK_MONOTONIC, &ts);
	if (r != 0) {
		errno = r;
		return -1;
	}
	return 0;
}

/* One request (msg, its header's type set by msg_init), one reply on the
 * private channel.  Returns 0 with *rep filled, or -1 when the master
 * cannot be reached or did not answer by REPLY_TIMEOUT_MS (ETIMEDOUT). */
static int converse(void *msg, struct msg_bind_reply *rep, int *fd)
{
	struct msg_hdr *h = msg;
	long deadline = now_ms() + REPLY_TIMEOUT_MS;
	sigset_t mask;
	int ret = -1;

	*fd = -1;
	if (shim_vforked()) {
		errno = ECHILD;
		return -1;
	}
	if (lock_conversation(deadline) < 0)
		goto out;
	block_signals(&mask);
	if (h->type == MSG_BIND)
		claim();        /* binding makes the worker; an unlink check does not */
	if (private_channel(deadline, &mask) < 0)
		goto unlock;
	h->seq = atomic_fetch_add(&next_seq, 1);
	if (send_by(&private_fd, msg, h->len, -1, deadline, &mask) == 0 &&
	    receive_reply(h->seq, rep, fd, deadline, &mask) == 0)
		ret = 0;
	else if (errno == ETIMEDOUT)
		drop_private_channel();
unlock:
	{
		int saved = errno;
		pthread_mutex_unlock(&conv_lock);
		errno = saved;
	}
	restore_signals(&mask);         /* after the unlock: see lock_conversation */
out:
	if (ret < 0 && errno == ETIMEDOUT)
		shim_warn_once(&said_timeout, "the cluster-run master did not answer in %d s; "
			       "this call falls back to plain libc", REPLY_TIMEOUT_MS / 1000);
	return ret;
}

struct worker_board *shim_board(void)
{
	return atomic_load(&board);
}

/* The worker's board (protocol.h), asked for once and mapped shared: this
 * process's forked children inherit the mapping, so every process of the
 * worker counts into the same page.  Without it (an old master, no
 * memory), closes are reported one message each instead. */
static void map_board(void)
{
	struct msg_bind_reply rep;
	struct msg_listener m;
	struct worker_board *expect = NULL;
	void *p;
	int fd;

	if (atomic_load(&board))
		return;
	memset(&m, 0, sizeof(m));
	msg_init(&m, MSG_BOARD, 0);
	if (converse(&m, &rep, &fd) < 0 || rep.err || fd < 0) {
		if (fd >= 0)
			real_close(fd);
		shim_debug("no board from the master: closes are reported one by one");
		return;
	}
	p = mmap(NULL, sizeof(struct worker_board), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	real_close(fd);
	if (p == MAP_FAILED)
		return;
	if (((struct worker_board *)p)->magic != BOARD_MAGIC ||
	    ((struct worker_board *)p)->version != CLUSTER_PROTO_VERSION ||
	    !atomic_compare_exchange_strong(&board, &expect, p))
		munmap(p, sizeof(struct worker_board));
	else
		io_watch_board(p);
}

int master_bind(const struct msg_bind *req, struct msg_bind_reply *rep, int *fd)
{
	struct msg_bind m = *req;
	int r;

	msg_init(&m, MSG_BIND, 0);
	r = converse(&m, rep, fd);
	if (r == 0 && rep->err == 0)
		map_board();
	return r;
}

int master_serves_path(const struct msg_bind *req)
{
	struct msg_bind_reply rep;
	struct msg_bind m = *req;
	int fd;

	msg_init(&m, MSG_UNLINK, 0);
	if (converse(&m, &rep, &fd) < 0)
		return -1;
	if (fd >= 0)
		real_close(fd);
	return rep.err == 0;
}

/* One-way reports go over the doorbell: one message is atomic there and
 * nothing is read back, so any process of the worker may send one without
 * a private channel (a prefork server's hundreds of children report closes
 * without costing the master an fd each). */
int master_release(uint32_t lid)
{
	struct msg_bind_reply rep;
	struct msg_listener m;
	int fd;

	memset(&m, 0, sizeof(m));
	msg_init(&m, MSG_RELEASE, 0);
	m.listener = lid;
	if (converse(&m, &rep, &fd) < 0)
		return -1;
	if (fd >= 0)
		real_close(fd);
	return rep.err ? -1 : 0;
}

/* Waits for room on the doorbell up to REPORT_TIMEOUT_MS, once: after a
 * report that found none, the next ones do not wait until one gets
 * through (a stopped master must not make every close() take seconds).
 * Reached from close(), in signal handlers too: no lock. */
void master_report(uint16_t type, uint32_t lid, int backlog)
{
	struct msg_listener m;
	int saved = errno, r, stalled = atomic_load(&master_stalled);
	sigset_t mask;

	msg_init(&m, type, 0);
	m.listener = lid;
	m.backlog = backlog;
	block_signals(&mask);
	r = send_by(&doorbell, &m, sizeof(m), -1, now_ms() + (stalled ? 0 : REPORT_TIMEOUT_MS),
		    &mask);
	restore_signals(&mask);
	if (r == 0) {
		atomic_store(&master_stalled, 0);
	} else {
		shim_debug("report %u for listener %u lost: %s", type, lid, strerror(errno));
		if (errno == ETIMEDOUT) {
			atomic_store(&master_stalled, 1);
			shim_warn_once(&said_stalled, "the cluster-run master is not reading "
				       "its channel; reports to it are lost");
		}
	}
	errno = saved;
}
