/*
 * fdtable.c - which fds of this process stand for clustered listeners, and
 * which accepted connections must be reported to the master when closed.
 *
 * The table is small and fixed (a program has a handful of listeners, plus
 * dups).  An entry remembers (fd, st_dev, st_ino): fds get closed behind our
 * back (raw syscalls, close_range in a library we do not see) and numbers
 * are reused, so every operation except accept re-checks the identity before
 * it trusts an entry.  accept is the hot path and trusts the fd number.
 *
 * Writers take the table lock; readers on the hot path read entries
 * lock-free: an entry's fd is published last and cleared first.
 *
 * Connection tracking is a byte per fd number (listener id + 1), for
 * connections the app accepted (any policy), so that their closes are
 * counted on the board (protocol.h).  It is per process:
 * a forked child starts with none, so a connection is reported closed once,
 * by the process that accepted it.
 *
 * Owns the table, the listener records (struct shim_listener) and the
 * connection bytes, and their lock.  Must not talk to the master, close
 * or swap an fd, or call any shim module but log.c: it only remembers,
 * and its callers decide.
 */
#include "shim.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#define TABLE_SIZE 128
#define CONN_TRACK_MAX 65536
#define EPOLL_REGS 4            /* epoll sets one listener fd is in, noted */

struct fd_entry {
	_Atomic int fd;         /* -1 = free */
	uint32_t lid;
	dev_t dev;
	ino_t ino;
	struct epoll_reg regs[EPOLL_REGS];      /* for drain.c; epfd -1 = free */
	int nregs;
};

static struct fd_entry table[TABLE_SIZE];
static _Atomic int table_used;          /* entries below this index may be live */
static _Atomic int table_max = -1;      /* highest fd in the table */
static struct shim_listener listeners[CLUSTER_MAX_LISTENERS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic uint8_t conn_lid[CONN_TRACK_MAX];
static _Atomic int conn_hwm = -1;
/* The epoll set each tracked connection was added to, plus one (0: none);
 * see conn_note_epoll. */
static _Atomic int conn_epfd[CONN_TRACK_MAX];

/* The process whose tables these are.  A vfork() child (Python's
 * subprocess, posix_spawn) shares our memory without running atfork
 * handlers; its close()/dup2() before exec must not edit our tables. */
static _Atomic pid_t owner;

int fdtable_owned(void)
{
	pid_t o = atomic_load(&owner);

	return o == 0 || o == getpid();
}

int conn_peek(int fd)
{
	if (fd < 0 || fd > atomic_load(&conn_hwm))
		return -1;
	return atomic_load(&conn_lid[fd]) ? 0 : -1;
}

void fdtable_lock(void)
{
	pthread_mutex_lock(&lock);
}

void fdtable_unlock(void)
{
	pthread_mutex_unlock(&lock);
}

void fdtable_set_listener(uint32_t lid, const struct shim_listener *l)
{
	if (lid >= CLUSTER_MAX_LISTENERS)
		return;
	pthread_mutex_lock(&lock);
	listeners[lid] = *l;
	pthread_mutex_unlock(&lock);
}

/* The record stays valid for the life of the process (ids are never
 * reused by the master), so callers may keep the pointer. */
struct shim_listener *fdtable_listener(uint32_t lid)
{
	if (lid >= CLUSTER_MAX_LISTENERS || !listeners[lid].mode)
		return NULL;
	return &listeners[lid];
}

static void recompute_max(void)
{
	int i, used = atomic_load(&table_used), max = -1;

	for (i = 0; i < used; i++) {
		int fd = atomic_load(&table[i].fd);
		if (fd > max)
			max = fd;
	}
	atomic_store(&table_max, max);
}

int fdtable_add(int fd, uint32_t lid)
{
	struct stat st;
	int i, ret = -1;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!atomic_load(&owner))
		atomic_store(&owner, getpid());
	pthread_mutex_lock(&lock);
	for (i = 0; i < TABLE_SIZE; i++) {
		int cur = atomic_load(&table[i].fd);
		if (i < atomic_load(&table_used) && cur >= 0 && cur != fd)
			continue;
		atomic_store(&table[i].fd, -1);
		table[i].lid = lid;
		table[i].dev = st.st_dev;
		table[i].ino = st.st_ino;
		table[i].nregs = 0;
		atomic_store(&table[i].fd, fd);
		if (i >= atomic_load(&table_used))
			atomic_store(&table_used, i + 1);
		if (fd > atomic_load(&table_max))
			atomic_store(&table_max, fd);
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&lock);
	if (ret < 0)
		shim_warn("too many clustered fds; fd %d is served unclustered", fd);
	return ret;
}

int fdtable_max_fd(void)
{
	return atomic_load(&table_max);
}

int fdtable_find(int fd)
{
	int i, used;

	if (fd < 0 || fd > atomic_load(&table_max))
		return -1;
	used = atomic_load(&table_used);
	for (i = 0; i < used; i++)
		if (atomic_load(&table[i].fd) == fd)
			return (int)table[i].lid;
	return -1;
}

/* Drop entry i if fd no longer refers to the file it did. Lock held. */
static int entry_stale(int i, int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && st.st_dev == table[i].dev &&
	    st.st_ino == table[i].ino)
		return 0;
	atomic_store(&table[i].fd, -1);
	recompute_max();
	return 1;
}

int fdtable_find_checked(int fd)
{
	int i, used, lid = -1;

	/* Without the lock first: most fds are not ours, and these hooks may
	 * run in a signal handler that interrupted a holder of the lock. */
	if (fdtable_find(fd) < 0)
		return -1;
	pthread_mutex_lock(&lock);
	used = atomic_load(&table_used);
	for (i = 0; i < used; i++) {
		if (atomic_load(&table[i].fd) != fd)
			continue;
		if (!entry_stale(i, fd))
			lid = (int)table[i].lid;
		break;
	}
	pthread_mutex_unlock(&lock);
	return lid;
}

int fdtable_remove(int fd, int *last)
{
	int i, used, lid = -1;

	*last = 0;
	if (fdtable_find(fd) < 0)       /* lock-free first: see fdtable_find_checked */
		return -1;
	pthread_mutex_lock(&lock);
	used = atomic_load(&table_used);
	for (i = 0; i < used; i++) {
		if (atomic_load(&table[i].fd) != fd)
			continue;
		if (!entry_stale(i, fd)) {
			lid = (int)table[i].lid;
			atomic_store(&table[i].fd, -1);
			recompute_max();
		}
		break;
	}
	if (lid >= 0) {
		*last = 1;
		for (i = 0; i < used; i++)
			if (atomic_load(&table[i].fd) >= 0 && (int)table[i].lid == lid)
				*last = 0;
	}
	pthread_mutex_unlock(&lock);
	return lid;
}

int fdtable_fds_of(uint32_t lid, int *out, int max)
{
	int i, n = 0, used = atomic_load(&table_used);

	for (i = 0; i < used && n < max; i++) {
		int fd = atomic_load(&table[i].fd);
		if (fd >= 0 && table[i].lid == lid)
			out[n++] = fd;
	}
	return n;
}

void fdtable_retarget(int fd)
{
	struct stat st;
	int i, used;

	if (fstat(fd, &st) < 0)
		return;
	pthread_mutex_lock(&lock);
	used = atomic_load(&table_used);
	for (i = 0; i < used; i++)
		if (atomic_load(&table[i].fd) == fd) {
			table[i].dev = st.st_dev;
			table[i].ino = st.st_ino;
		}
	pthread_mutex_unlock(&lock);
}

/* Which epoll sets a listener fd is in, and with what, so that drain.c can
 * move the registration to the fd's new file (epoll keys on the file: a
 * registration does not follow a dup3 onto the fd number).  More than
 * EPOLL_REGS sets per fd are not noted (the drained listener then stays
 * readable in the extra ones, and accept answers EAGAIN). */
void fdtable_note_epoll(int fd, int epfd, int op, const struct epoll_reg *reg)
{
	int i, k, used;

	pthread_mutex_lock(&lock);
	used = atomic_load(&table_used);
	for (i = 0; i < used; i++) {
		struct fd_entry *e = &table[i];

		if (atomic_load(&e->fd) != fd)
			continue;
		for (k = 0; k < e->nregs && e->regs[k].epfd != epfd; k++)
			;
		if (op == EPOLL_CTL_DEL) {
			if (k < e->nregs)
				e->regs[k] = e->regs[--e->nregs];
		} else if (k < e->nregs) {
			e->regs[k] = *reg;
		} else if (e->nregs < EPOLL_REGS) {
			e->regs[e->nregs++] = *reg;
		}
		break;
	}
	pthread_mutex_unlock(&lock);
}

int fdtable_epolls(int fd, struct epoll_reg *out, int max)
{
	int i, k, n = 0, used;

	pthread_mutex_lock(&lock);
	used = atomic_load(&table_used);
	for (i = 0; i < used; i++)
		if (atomic_load(&table[i].fd) == fd) {
			for (k = 0; k < table[i].nregs && n < max; k++)
				out[n++] = table[i].regs[k];
			break;
		}
	pthread_mutex_unlock(&lock);
	return n;
}

void conn_track(int fd, uint32_t lid)
{
	if (fd < 0 || fd >= CONN_TRACK_MAX)
		return;         /* not tracked: the master's count errs high */
	int cur = atomic_load(&conn_hwm);

	atomic_store(&conn_epfd[fd], 0);
	atomic_store(&conn_lid[fd], (uint8_t)(lid + 1));
	/* two threads accepting at once: the higher fd must win */
	while (fd > cur && !atomic_compare_exchange_weak(&conn_hwm, &cur, fd))
		;
}

/* Why: the master still holds a connection for a moment after sending it.
 * If the app closes it in that moment, its close() is not the last
 * reference, so the kernel keeps the fd in the app's epoll set, and a later
 * event comes back with the app's freed pointer (found with a real crash in
 * the benchmark).  Remembering the set lets close() remove it first, as
 * libuv does by hand. */
void conn_note_epoll(int fd, int epfd)
{
	if (fd < 0 || fd > atomic_load(&conn_hwm) || !atomic_load(&conn_lid[fd]))
		return;
	atomic_store(&conn_epfd[fd], epfd + 1);
}

int conn_epoll_of(int fd)
{
	if (fd < 0 || fd > atomic_load(&conn_hwm))
		return -1;
	return atomic_load(&conn_epfd[fd]) - 1;
}

int conn_untrack(int fd)
{
	uint8_t v;

	if (fd < 0 || fd > atomic_load(&conn_hwm))
		return -1;
	v = atomic_exchange(&conn_lid[fd], 0);
	atomic_store(&conn_epfd[fd], 0);
	return v ? (int)v - 1 : -1;
}

int conn_tracked_max(void)
{
	return atomic_load(&conn_hwm);
}

/* In a forked child: connections belong to the parent's count, and the lock
 * may have been held by a thread that does not exist here. */
void fdtable_after_fork(void)
{
	int hwm = atomic_load(&conn_hwm);

	pthread_mutex_init(&lock, NULL);
	atomic_store(&owner, getpid());
	if (hwm >= 0) {
		memset((void *)conn_lid, 0, (size_t)hwm + 1);
		memset((void *)conn_epfd, 0, ((size_t)hwm + 1) * sizeof(conn_epfd[0]));
	}
	atomic_store(&conn_hwm, -1);
}
