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
 * No lock: close(), dup(), dup2() and fcntl() are async-signal-safe in libc,
 * and programs call them from signal handlers (a handler that closes a
 * listener on SIGTERM) and in vfork() children, so no operation here may
 * wait for another to finish; with a mutex, a handler that interrupted a
 * holder waited for itself for ever.  An entry is claimed by a
 * compare-and-swap of its fd from free to FD_BUSY, filled, and published by
 * storing the fd; it is dropped by a compare-and-swap of the fd back to free,
 * so of two threads (or a thread and a handler) removing one fd, one does.
 * Each listener counts its fds in the table, so that exactly one remover
 * sees its last fd go.  table_used and table_max only grow: they bound the
 * lock-free scans, and a remover lowering them could hide an entry an
 * adder is publishing at that moment (the cost: a few more entries to look
 * at after a high-numbered listener was closed).
 *
 * The epoll registrations noted per entry (for drain.c, and to take a
 * closed listener out of the program's epoll sets) are the one thing
 * guarded by a lock, taken only by trying: a caller that cannot get it at
 * once (another thread is noting, or the handler interrupted a holder)
 * gives up after a few tries, and that registration goes unnoted.
 *
 * Connection tracking is a byte per fd number (listener id + 1), and the
 * time of the accept, for connections the app accepted (any policy), so
 * that their closes and how long they lived are counted on the board
 * (protocol.h).  It is per process:
 * a forked child starts with none, so a connection is reported closed once,
 * by the process that accepted it.
 *
 * Owns the table, the listener records (struct shim_listener) and the
 * connection bytes.  Must not talk to the master, close or swap an fd,
 * block, or call any shim module but log.c: it only remembers, and its
 * callers decide.
 */
#include "shim.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TABLE_SIZE 128
#define CONN_TRACK_MAX 65536
#define EPOLL_REGS 4            /* epoll sets one listener fd is in, noted */
#define FD_BUSY (-2)            /* an entry being filled: matches no fd */
#define LISTENER_FILLING (-1)   /* a listener record being filled */

/* An entry's fd is kept plus one, so that the zeroed table is free. */
struct fd_entry {
	_Atomic int fd1;        /* fd + 1; 0 = free, FD_BUSY + 1 = being filled */
	_Atomic uint32_t lid;
	_Atomic uint64_t dev;
	_Atomic uint64_t ino;
	_Atomic unsigned gen;   /* bumped when the entry is filled again */
	/* regs_lock: */
	unsigned regs_gen;      /* the gen the regs below were noted for */
	int nregs;
	struct epoll_reg regs[EPOLL_REGS];      /* for drain.c and close */
};

static struct fd_entry table[TABLE_SIZE];

static int entry_fd(int i)      /* -1 free, FD_BUSY, or the fd */
{
	return atomic_load(&table[i].fd1) - 1;
}
static _Atomic int table_used;          /* entries below this index may be live */
static _Atomic int table_max = -1;      /* at least the highest fd in the table */
static _Atomic int lid_fds[CLUSTER_MAX_LISTENERS];     /* entries per listener */
static struct shim_listener listeners[CLUSTER_MAX_LISTENERS];
static pthread_mutex_t regs_lock = PTHREAD_MUTEX_INITIALIZER;

static _Atomic uint8_t conn_lid[CONN_TRACK_MAX];
/* When each tracked connection was accepted (CLOCK_MONOTONIC, µs): its
 * duration goes on the board at its close (drain.c).  Written before its
 * conn_lid byte is published, read after that byte is taken back. */
static _Atomic uint64_t conn_since_us[CONN_TRACK_MAX];
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

/* pthread_mutex_trylock a few times, yielding between: 0 with the lock,
 * -1 without (see the file comment). */
static int regs_try_lock(void)
{
	int i;

	for (i = 0; i < 64; i++) {
		if (pthread_mutex_trylock(&regs_lock) == 0)
			return 0;
		sched_yield();
	}
	return -1;
}

static void atomic_raise(_Atomic int *v, int to)
{
	int cur = atomic_load(v);

	while (to > cur && !atomic_compare_exchange_weak(v, &cur, to))
		;
}

/* The record is filled once (ids are never reused by the master, and a
 * second bind of the same listener in this process gets the same
 * address), then published by its mode; a later install of the same
 * listener only resets what the app may change. */
void fdtable_set_listener(uint32_t lid, const struct shim_listener *l)
{
	struct shim_listener *r;
	int expect = 0, i;

	if (lid >= CLUSTER_MAX_LISTENERS)
		return;
	r = &listeners[lid];
	if (atomic_compare_exchange_strong(&r->mode, &expect, LISTENER_FILLING)) {
		r->family = l->family;
		r->type = l->type;
		r->protocol = l->protocol;
		r->emulate_nonblock = l->emulate_nonblock;
		r->addrlen = l->addrlen;
		memcpy(&r->addr, &l->addr, sizeof(r->addr));
		r->reqlen = l->reqlen;
		memcpy(&r->req, &l->req, sizeof(r->req));
	}
	atomic_store(&r->listening, atomic_load(&l->listening));
	atomic_store(&r->shut, 0);
	atomic_store(&r->drained, 0);
	atomic_store(&r->app_nonblock, atomic_load(&l->app_nonblock));
	atomic_store(&r->opts, atomic_load(&l->opts));
	if (expect == 0) {
		atomic_store(&r->mode, atomic_load(&l->mode));
		return;
	}
	/* another thread is filling it: a few stores away */
	for (i = 0; i < 1000 && atomic_load(&r->mode) == LISTENER_FILLING; i++)
		sched_yield();
}

/* The record stays valid for the life of the process (ids are never
 * reused by the master), so callers may keep the pointer. */
struct shim_listener *fdtable_listener(uint32_t lid)
{
	if (lid >= CLUSTER_MAX_LISTENERS || atomic_load(&listeners[lid].mode) <= 0)
		return NULL;
	return &listeners[lid];
}

/* Claim entry i for fd when it is free or holds a stale fd of that number:
 * 1, with the entry FD_BUSY, or 0. */
static int claim_entry(int i, int fd)
{
	int cur = atomic_load(&table[i].fd1);

	if (cur != 0 && cur != fd + 1)
		return 0;
	if (!atomic_compare_exchange_strong(&table[i].fd1, &cur, FD_BUSY + 1))
		return 0;
	if (cur == fd + 1)      /* a stale entry of that number: its fd goes */
		atomic_fetch_sub(&lid_fds[atomic_load(&table[i].lid)], 1);
	return 1;
}

int fdtable_add(int fd, uint32_t lid)
{
	struct stat st;
	int i, used;

	if (lid >= CLUSTER_MAX_LISTENERS || fstat(fd, &st) < 0)
		return -1;
	if (!atomic_load(&owner))
		atomic_store(&owner, getpid());
	used = atomic_load(&table_used);
	/* an entry left for this number first, so that it is not there twice */
	for (i = 0; i < used; i++)
		if (entry_fd(i) == fd && claim_entry(i, fd))
			goto fill;
	for (i = 0; i < TABLE_SIZE; i++)
		if (claim_entry(i, fd))
			goto fill;
	shim_warn("too many clustered fds; fd %d is served unclustered", fd);
	return -1;
fill:
	atomic_store(&table[i].lid, lid);
	atomic_store(&table[i].dev, (uint64_t)st.st_dev);
	atomic_store(&table[i].ino, (uint64_t)st.st_ino);
	atomic_fetch_add(&table[i].gen, 1);     /* the regs noted before are void */
	atomic_fetch_add(&lid_fds[lid], 1);
	atomic_raise(&table_used, i + 1);
	atomic_raise(&table_max, fd);
	atomic_store(&table[i].fd1, fd + 1);    /* published */
	return 0;
}

int fdtable_max_fd(void)
{
	return atomic_load(&table_max);
}

/* The index of fd's entry, or -1. */
static int entry_of(int fd)
{
	int i, used;

	if (fd < 0 || fd > atomic_load(&table_max))
		return -1;
	used = atomic_load(&table_used);
	for (i = 0; i < used; i++)
		if (entry_fd(i) == fd)
			return i;
	return -1;
}

int fdtable_find(int fd)
{
	int i = entry_of(fd);

	return i < 0 ? -1 : (int)atomic_load(&table[i].lid);
}

/* Drop entry i if fd still names it: how many fds its listener has left
 * in the table, or -1 when another call dropped it first. */
static int drop_entry(int i, int fd)
{
	uint32_t lid = atomic_load(&table[i].lid);
	int cur = fd + 1;

	if (!atomic_compare_exchange_strong(&table[i].fd1, &cur, 0))
		return -1;
	return atomic_fetch_sub(&lid_fds[lid], 1) - 1;
}

/* Whether fd no longer refers to the file entry i was made for; then the
 * entry goes, except in a vfork() child, whose fds are not ours. */
static int entry_stale(int i, int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && (uint64_t)st.st_dev == atomic_load(&table[i].dev) &&
	    (uint64_t)st.st_ino == atomic_load(&table[i].ino))
		return 0;
	if (fdtable_owned())
		drop_entry(i, fd);
	return 1;
}

int fdtable_find_checked(int fd)
{
	int i = entry_of(fd), lid;

	if (i < 0)
		return -1;
	lid = (int)atomic_load(&table[i].lid);
	return entry_stale(i, fd) ? -1 : lid;
}

int fdtable_remove(int fd, int *last)
{
	int i = entry_of(fd), lid, left;

	*last = 0;
	if (i < 0 || entry_stale(i, fd))
		return -1;
	lid = (int)atomic_load(&table[i].lid);
	left = drop_entry(i, fd);
	if (left < 0)
		return -1;      /* another thread (or a handler) removed it */
	*last = left == 0;
	return lid;
}

int fdtable_fds_of(uint32_t lid, int *out, int max)
{
	int i, n = 0, used = atomic_load(&table_used);

	for (i = 0; i < used && n < max; i++) {
		int fd = entry_fd(i);
		if (fd >= 0 && atomic_load(&table[i].lid) == lid)
			out[n++] = fd;
	}
	return n;
}

/* Every socket is on the one sockfs device: only the inode changes, in
 * one store, so a concurrent check never sees half of it. */
void fdtable_retarget(int fd)
{
	struct stat st;
	int i, used;

	if (fstat(fd, &st) < 0)
		return;
	used = atomic_load(&table_used);
	for (i = 0; i < used; i++)
		if (entry_fd(i) == fd) {
			atomic_store(&table[i].dev, (uint64_t)st.st_dev);
			atomic_store(&table[i].ino, (uint64_t)st.st_ino);
		}
}

/* Which epoll sets a listener fd is in, and with what, so that drain.c can
 * move the registration to the fd's new file (epoll keys on the file: a
 * registration does not follow a dup3 onto the fd number), and close can
 * take it out.  More than EPOLL_REGS sets per fd, or a note that finds the
 * lock taken, are not noted (a drained listener then stays readable in that
 * set, and accept answers EAGAIN; a closed one's registration stays). */
void fdtable_note_epoll(int fd, int epfd, int op, const struct epoll_reg *reg)
{
	struct fd_entry *e;
	int i = entry_of(fd), k;

	if (i < 0 || regs_try_lock() < 0)
		return;
	e = &table[i];
	if (e->regs_gen != atomic_load(&e->gen)) {
		e->regs_gen = atomic_load(&e->gen);
		e->nregs = 0;
	}
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
	pthread_mutex_unlock(&regs_lock);
}

int fdtable_epolls(int fd, struct epoll_reg *out, int max)
{
	struct fd_entry *e;
	int i = entry_of(fd), k, n = 0;

	if (i < 0 || regs_try_lock() < 0)
		return 0;
	e = &table[i];
	if (e->regs_gen == atomic_load(&e->gen))
		for (k = 0; k < e->nregs && n < max; k++)
			out[n++] = e->regs[k];
	pthread_mutex_unlock(&regs_lock);
	return n;
}

/* clock_gettime is async-signal-safe, and a vDSO call: no system call. */
uint64_t conn_now_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void conn_track(int fd, uint32_t lid)
{
	if (fd < 0 || fd >= CONN_TRACK_MAX)
		return;         /* not tracked: the master's count errs high */
	int cur = atomic_load(&conn_hwm);

	atomic_store(&conn_epfd[fd], 0);
	atomic_store(&conn_since_us[fd], conn_now_us());
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

int conn_untrack_since(int fd, uint64_t *since_us)
{
	uint8_t v;

	*since_us = 0;
	if (fd < 0 || fd > atomic_load(&conn_hwm))
		return -1;
	v = atomic_exchange(&conn_lid[fd], 0);
	atomic_store(&conn_epfd[fd], 0);
	if (v)
		*since_us = atomic_load(&conn_since_us[fd]);
	return v ? (int)v - 1 : -1;
}

int conn_untrack(int fd)
{
	uint64_t since;

	return conn_untrack_since(fd, &since);
}

int conn_tracked_max(void)
{
	return atomic_load(&conn_hwm);
}

/* In a forked child (or a process that is now the shim's: activation):
 * connections belong to the parent's count, and the regs lock may have
 * been held by a thread that does not exist here. */
void fdtable_after_fork(void)
{
	int hwm = atomic_load(&conn_hwm);

	pthread_mutex_init(&regs_lock, NULL);
	atomic_store(&owner, getpid());
	if (hwm >= 0) {
		memset((void *)conn_lid, 0, (size_t)hwm + 1);
		memset((void *)conn_epfd, 0, ((size_t)hwm + 1) * sizeof(conn_epfd[0]));
	}
	atomic_store(&conn_hwm, -1);
}
