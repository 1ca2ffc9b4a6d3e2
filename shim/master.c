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
 * The shim never exits or aborts its host: every failure here returns -1
 * and the caller falls back to plain libc behaviour.
 *
 * Owns the doorbell, the private channel, the conversation lock, the
 * worker claim, the board's mapping and the fork handlers for all of it
 * (and for the fd table's lock).  Must not read from the doorbell (see
 * protocol.h), swap or close an app's fd, or call up into the hooks or
 * drain.c: they call it.
 */
#include "shim.h"
#include "real.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int doorbell = -1;
static int private_fd = -1;
static pid_t private_pid;
static pid_t owner_pid;
static uint32_t next_seq = 1;
static pthread_mutex_t conv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct worker_board *_Atomic board;      /* see protocol.h */

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

static void atfork_prepare(void)
{
	pthread_mutex_lock(&conv_lock);
	fdtable_lock();
}

static void atfork_parent(void)
{
	fdtable_unlock();
	pthread_mutex_unlock(&conv_lock);
}

/* The child gets its own private channel on first need; the parent's must
 * not stay open here, or the master would not see the parent go. */
static void atfork_child(void)
{
	if (private_fd >= 0)
		real_close(private_fd);
	private_fd = -1;
	fdtable_after_fork();
	pthread_mutex_init(&conv_lock, NULL);
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
	 * something else, must not talk to it) */
	fd = strtol(v, &end, 10);
	if (*end != ':' || fd < 0 || fd > 1 << 20 ||
	    (errno = 0, ino = strtoull(end + 1, &end, 10), *end || errno) ||
	    fstat((int)fd, &st) < 0 || st.st_ino != ino || !is_seqpacket_unix((int)fd)) {
		shim_debug("%s=%s is not a cluster-run channel; shim inactive",
			   CLUSTER_ENV_FD, v);
		goto out;
	}
	doorbell = (int)fd;
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	shim_debug("active, doorbell fd %d", doorbell);
out:
	errno = saved;
}

__attribute__((constructor)) static void shim_constructor(void)
{
	pthread_once(&once, activate);
}

int shim_enabled(void)
{
	pthread_once(&once, activate);
	return doorbell >= 0;
}

int shim_is_owner(void)
{
	return owner_pid && owner_pid == getpid();
}

int shim_private_fd(int fd)
{
	return fd >= 0 && (fd == doorbell || (fd == private_fd && private_pid == getpid()));
}

/* A program that marks every fd close-on-exec before it execs the real
 * server (close_range(CLOSE_RANGE_CLOEXEC)) must still pass the doorbell
 * on while no process has claimed it. */
void shim_keep_doorbell_inheritable(void)
{
	int fl;

	if (doorbell < 0 || owner_pid)
		return;
	fl = real_fcntl(doorbell, F_GETFD, NULL);
	if (fl >= 0 && (fl & FD_CLOEXEC))
		real_fcntl(doorbell, F_SETFD, (void *)(long)(fl & ~FD_CLOEXEC));
}

int shim_private_fds(int out[2])
{
	int n = 0;

	if (doorbell >= 0)
		out[n++] = doorbell;
	if (private_fd >= 0 && private_pid == getpid())
		out[n++] = private_fd;
	if (n == 2 && out[0] > out[1]) {
		int t = out[0];
		out[0] = out[1];
		out[1] = t;
	}
	return n;
}

/* The app is about to dup2() onto one of our fd numbers: move ours away.
 * An unclaimed doorbell must stay inheritable across exec, so it keeps
 * FD_CLOEXEC clear; programs exec'd later then find it under its old name
 * only if the number did not change, which is why the env is rewritten. */
void shim_move_private_fd(int fd)
{
	int moved;

	if (fd == private_fd && private_pid == getpid()) {
		moved = real_fcntl(fd, F_DUPFD_CLOEXEC, (void *)(long)0);
		if (moved >= 0) {
			real_close(fd);
			private_fd = moved;
		}
	} else if (fd == doorbell) {
		moved = real_fcntl(fd, owner_pid ? F_DUPFD_CLOEXEC : F_DUPFD,
				   (void *)(long)0);
		if (moved < 0)
			return;
		real_close(fd);
		doorbell = moved;
		if (!owner_pid) {
			struct stat st;
			char num[48];

			if (fstat(moved, &st) == 0) {
				snprintf(num, sizeof(num), "%d:%llu", moved,
					 (unsigned long long)st.st_ino);
				setenv(CLUSTER_ENV_FD, num, 1);
			}
		}
	}
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

/* Become the worker: see the file comment.  Conversation lock held.
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

	if (owner_pid)
		return;
	owner_pid = getpid();
	unsetenv(CLUSTER_ENV_FD);
	drop_from_preload();
	real_fcntl(doorbell, F_SETFD, (void *)(long)FD_CLOEXEC);
	if (real_getsockopt(doorbell, SOL_SOCKET, SO_PEERCRED, &master, &len) < 0 ||
	    master.pid == getppid())
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	shim_debug("claimed the worker role");
}

/* This process's private channel, attaching it first if needed.
 * Conversation lock held. */
static int private_channel(void)
{
	struct msg_attach m;
	int sv[2];

	if (private_fd >= 0 && private_pid == getpid())
		return private_fd;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	msg_init(&m, MSG_ATTACH, 0);
	m.version = CLUSTER_PROTO_VERSION;
	m.pid = (int32_t)getpid();
	if (msg_send(doorbell, &m, sizeof(m), sv[1], 0) < 0) {
		int saved = errno;
		real_close(sv[0]);
		real_close(sv[1]);
		errno = saved;
		return -1;
	}
	real_close(sv[1]);
	private_fd = sv[0];
	private_pid = getpid();
	return private_fd;
}

/* One request (msg, its header's type set by msg_init), one reply on the
 * private channel.  Returns 0 with *rep filled, or -1 when the master
 * cannot be reached. */
static int converse(void *msg, struct msg_bind_reply *rep, int *fd)
{
	struct msg_hdr *h = msg;
	int ch, ret = -1;
	ssize_t n;

	*fd = -1;
	pthread_mutex_lock(&conv_lock);
	if (h->type == MSG_BIND)
		claim();        /* binding makes the worker; an unlink check does not */
	ch = private_channel();
	if (ch < 0)
		goto out;
	h->seq = next_seq++;
	if (msg_send(ch, msg, h->len, -1, 0) < 0)
		goto out;
	for (;;) {
		do
			n = msg_recv(ch, rep, sizeof(*rep), fd, MSG_CMSG_CLOEXEC);
		while (n < 0 && errno == EINTR);
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			goto out;
		}
		if (msg_valid(rep, (size_t)n) && rep->hdr.type == MSG_BIND_REPLY &&
		    rep->hdr.seq == h->seq)
			break;
		if (*fd >= 0)
			real_close(*fd);
		*fd = -1;
	}
	ret = 0;
out:
	pthread_mutex_unlock(&conv_lock);
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

void master_report(uint16_t type, uint32_t lid, int backlog)
{
	struct msg_listener m;
	int saved = errno;

	msg_init(&m, type, 0);
	m.listener = lid;
	m.backlog = backlog;
	if (doorbell < 0 || msg_send(doorbell, &m, sizeof(m), -1, 0) < 0)
		shim_debug("report %u for listener %u lost: %s", type, lid, strerror(errno));
	errno = saved;
}
