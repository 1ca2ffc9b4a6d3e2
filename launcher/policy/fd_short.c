/*
 * fd_short.c - a worker out of fds gets no more connections, and the ones
 * queued on it go to other workers.
 *
 * Under a channel policy a worker whose fd table is full cannot take the
 * connections queued on its channel: its shim peeks before it receives
 * (a received fd the kernel cannot install is closed: the connection
 * would be lost), and accept fails with EMFILE, as it would without
 * cluster-run.  But the master saw only a channel that stays full, and up
 * to a window of clients waited on that worker until they gave up.  Now
 * the shim reports it (MSG_FDS_SHORT, with the pid of the process that
 * hit the limit).  The master then
 *   - stops choosing the worker (channel_has_room; sticky goes elsewhere
 *     rather than waiting for it), and
 *   - takes back what is queued on each of its channels and hands it to
 *     the others (balancer_take_back), and
 *   - looks every RECHECK_MS at that process's fd table in /proc: open
 *     fds (/proc/PID/fd) against its soft limit (/proc/PID/limits).
 *     With FREE_WANTED free, or once the process is gone, the worker
 *     takes connections again.  The shim cannot tell us that itself: a
 *     worker that gets nothing makes no accept that would find out.
 *
 * The pid is the worker's word: it is used only if that process is in
 * the worker's process group (else the worker's own pid is looked at),
 * and a worker can only keep connections away from itself with it.  The
 * whole worker is out while one of its processes is (a prefork server
 * whose other children still have fds loses them for that while: the
 * shim cannot tell which process would take the next one).
 *
 * Not here: the channel machinery (balancer.c), the shim's side
 * (shim/hooks_socket.c, accept_channel).
 */
#include "policy/fd_short.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/state.h"
#include "policy/policy_state.h"
#include "policy/balancer.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RECHECK_MS 500
#define FREE_WANTED 2           /* a connection, and one fd for its work */

/* Free fds of pid: its soft RLIMIT_NOFILE minus its open fds; -1 when
 * /proc cannot tell, -2 when the process is gone. */
static long free_fds(pid_t pid)
{
	char path[64], line[256];
	long soft = -1, open_fds = 0;
	struct dirent *e;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	if (!(f = fopen(path, "re")))
		return errno == ENOENT ? -2 : -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Max open files", 14)) {
			if (sscanf(line + 14, "%ld", &soft) != 1)
				soft = -1;      /* "unlimited" cannot be */
			break;
		}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (soft < 0 || !(d = opendir(path)))
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			open_fds++;
	closedir(d);
	return soft - open_fds;
}

static void take_again(struct cluster *c, struct worker *w)
{
	int i;

	log_event("worker %d (pid %d): has free fds again: it takes connections again",
		  w->slot, (int)w->pid);
	w->fds_short = 0;
	for (i = 0; i < c->nlisteners; i++)
		balancer_kick(c, c->listeners[i]);
}

static void recheck(struct loop *loop, void *data)
{
	struct worker *w = data;
	struct cluster *c = w->c;
	long free;

	w->fds_short_timer = 0;
	if (!w->fds_short)
		return;
	free = free_fds(w->fds_short);
	if (free >= FREE_WANTED || free == -2) {
		take_again(c, w);
		return;
	}
	/* -1: /proc says nothing; we cannot know, so do not wait for ever:
	 * try it again, and its shim will say so if it is still full */
	if (free == -1) {
		take_again(c, w);
		return;
	}
	w->fds_short_timer = loop_timer(loop, RECHECK_MS, recheck, w);
}

void fd_short_report(struct cluster *c, struct worker *w, pid_t pid)
{
	int i;

	if (w->fds_short)
		return;         /* known: the recheck is under way */
	if (pid <= 0 || getpgid(pid) != w->pid)
		pid = w->pid;
	w->fds_short = pid;
	log_warnx("worker %d (pid %d): out of fds (accept: Too many open files): no "
		  "connections for it until it has free fds; what was queued on it goes to "
		  "other workers", w->slot, (int)pid);
	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i]->ops->channel)
			balancer_take_back(c, w, c->listeners[i]);
	loop_timer_cancel(c->loop, w->fds_short_timer);
	w->fds_short_timer = loop_timer(c->loop, RECHECK_MS, recheck, w);
}

/* worker.c writes the recheck's deadline in the worker's record
 * (fds_short_due, -1: none), next to fds_short.  The timer id worker.c
 * carried is the old loop's: never cancel it here.  A short worker
 * without a deadline (an older writer) is looked at again after
 * RECHECK_MS: short for ever would starve it. */
int fd_short_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r;
	int i;

	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		int64_t due = -1;

		w->fds_short_timer = 0;
		if (!w->fds_short)
			continue;
		for (r = state_first(in, "worker"); r; r = state_next(r))
			if (rec_u64(r, "serial", 0) == w->serial)
				due = rec_i64(r, "fds_short_due", -1);
		if (due < 0)
			due = loop_now_ms() + RECHECK_MS;
		if (!(w->fds_short_timer = loop_timer_at(c->loop, due, recheck, w)))
			return -1;
	}
	return 0;
}
