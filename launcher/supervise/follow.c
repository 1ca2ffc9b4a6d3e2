/*
 * follow.c - workers that daemonize, followed as systemd's Type=forking
 * follows a service's main process; and whatever a worker leaves behind,
 * killed.
 *
 * Many servers fork a daemon and exit 0: nginx without `daemon off`,
 * memcached -d, redis-server --daemonize yes, lighttpd without -D, an
 * `sh -c 'server &'`.  The master is a child subreaper (supervisor.c), so
 * the orphaned daemon becomes our child, not init's.  The kernel does not
 * say whose descendant it was, but its fd table does: a worker's processes
 * inherit its doorbell (one socketpair per worker, whose inode worker.c
 * records), and once it bound, its channel ends (channel policies: one per
 * worker and listener) or the cluster's sockets (shared; reuseport: its
 * slot's).  So:
 *
 *   - each adopted process is attributed, when first seen, to the worker
 *     whose doorbell or listener it holds (failing that, whose process
 *     group it is in; through seccomp, where there is no doorbell, whose
 *     process made its session: the filter traps setsid), by the worker's
 *     serial, never by a pointer.  One that holds no more than a socket
 *     every worker holds (shared, through seccomp) stays nobody's until a
 *     worker whose process exited takes it as the holder of its listener;
 *   - when a worker's process exits with status 0 (what the parent of a
 *     daemon does), or while it is being retired or stopped, and a process
 *     attributed to it holds its listener, that process becomes the
 *     worker's (worker_follow): slot, doorbell, board, channels and peers
 *     stay, signals go to the daemon's process group, and drains, reloads
 *     and stops go on as for any worker.  Before the worker ever listened,
 *     holding its doorbell is enough (memcached, redis and a double-forked
 *     Python server bind after they forked), but the daemon must then
 *     listen within --ready-timeout;
 *   - when nothing can be followed, what the worker left is killed (the
 *     processes attributed to it, the groups they lead, its own group); if
 *     it exited 0 leaving processes (it daemonized), one line says how to
 *     run the program in the foreground and the exit is a failed start
 *     (w->daemon_failed: slots.c counts it against --max-restarts);
 *   - a process attributed to a worker that has gone is killed when seen.
 *
 * The walk costs a /proc/PID/fd read per adopted process, once, when it is
 * first seen, and again for the candidates at a worker's exit: only
 * programs that daemonize pay it.
 *
 * Not here: reaping (supervisor.c), what an exit does to its slot
 * (slots.c).  Not followed: a daemon that closed every fd the worker was
 * given, its doorbell included, and left the worker's group (nothing says
 * whose it is: it is killed when cluster-run exits).
 */
#include "supervise/follow.h"
#include "cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/procstat.h"
#include "base/state.h"
#include "mechanism/seccomp_reuseport.h"
#include "net/census.h"
#include "supervise/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FOREGROUND_HINT "run the program in the foreground (nginx: -g 'daemon off;'; " \
	"memcached: without -d; redis-server: --daemonize no; lighttpd: -D)"

#define MAX_HELD 1024           /* sockets of one process looked at */

/* What a process holds of a worker's (marks()). */
#define HOLDS_DOORBELL  1u      /* its doorbell: it descends from the worker */
#define HOLDS_LISTENER  2u      /* a channel end or socket the worker was given */
#define HOLDS_OWN       4u      /* ... one no other slot's worker has */

#define GONE UINT64_MAX         /* the owner of one whose worker has gone */

struct adoptee {
	pid_t pid;
	uint64_t owner;         /* the serial of the worker it came from; 0:
				 * unknown; GONE: a worker no longer here */
	int killed;
};

#define GRAVEYARD 64             /* doorbells of workers gone, remembered */

struct follow {
	struct adoptee *a;
	size_t n, cap;
	unsigned long gone[GRAVEYARD];  /* a ring: an orphan holding one is a leftover */
	unsigned ngone;
};

struct held {
	unsigned long ino[MAX_HELD];
	size_t n;
};

static int64_t secs_ms(double s)
{
	return (int64_t)(s * 1000.0 + 0.5);
}

static struct follow *state(struct cluster *c)
{
	if (!c->follow)
		c->follow = calloc(1, sizeof(*c->follow));
	return c->follow;
}

static struct adoptee *find(struct follow *f, pid_t pid)
{
	size_t i;

	for (i = 0; f && i < f->n; i++)
		if (f->a[i].pid == pid)
			return &f->a[i];
	return NULL;
}

static struct worker *by_serial(struct cluster *c, uint64_t serial)
{
	int i;

	for (i = 0; serial && i < c->nworkers; i++)
		if (c->workers[i]->serial == serial)
			return c->workers[i];
	return NULL;
}

/* Our children now, adopted or spawned, zombies included: a malloc'd
 * array (*n of them), or NULL. */
static pid_t *children(size_t *n)
{
	char path[64];
	size_t cap = 0;
	pid_t *out = NULL;
	FILE *f;
	int pid;

	*n = 0;
	/* one thread: its children are the process's (kill_adopted did so) */
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)getpid());
	if (!(f = fopen(path, "re")))
		return NULL;
	while (fscanf(f, "%d", &pid) == 1) {
		if (*n == cap) {
			pid_t *grown = realloc(out, (cap = cap ? cap * 2 : 32) * sizeof(*out));
			if (!grown)
				break;
			out = grown;
		}
		out[(*n)++] = (pid_t)pid;
	}
	fclose(f);
	return out;
}

static unsigned long fd_inode(int fd)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

static int holds(const struct held *h, unsigned long ino)
{
	size_t i;

	for (i = 0; ino && i < h->n; i++)
		if (h->ino[i] == ino)
			return 1;
	return 0;
}

/* The sockets pid holds; -1 when they cannot be read. */
static int read_held(pid_t pid, struct held *h)
{
	long n = census_proc_sockets(pid, h->ino, MAX_HELD);

	h->n = 0;
	if (n < 0)
		return -1;
	h->n = (size_t)n < MAX_HELD ? (size_t)n : MAX_HELD;
	return 0;
}

/* HOLDS_* bits: what a process holding h holds of w's. */
static unsigned marks(const struct worker *w, const struct held *h)
{
	const struct cluster *c = w->c;
	unsigned m = 0;
	int i;

	if (holds(h, w->doorbell_ino))
		m |= HOLDS_DOORBELL;
	for (i = 0; i < c->nlisteners; i++) {
		const struct route *r = &w->routes[i];
		const struct listener *l = c->listeners[i];

		if (!r->given && !r->bound)
			continue;
		if (r->chan_peer >= 0) {        /* a channel: this worker's alone */
			if (holds(h, fd_inode(r->chan_peer)))
				m |= HOLDS_LISTENER | HOLDS_OWN;
			continue;
		}
		if ((l->slot_fds && w->slot < l->nslot_fds &&
		     holds(h, fd_inode(l->slot_fds[w->slot]))) ||
		    holds(h, fd_inode(seccomp_reuseport_socket(w, l))))
			m |= HOLDS_LISTENER | HOLDS_OWN;
		else if (holds(h, fd_inode(l->fd)))
			m |= HOLDS_LISTENER;
	}
	return m;
}

/* How strongly marks tie a process to a worker: its doorbell is proof, a
 * channel end nearly (a worker may have passed it on), a shared socket
 * only a hint (every worker holds it). */
static int rank(unsigned m)
{
	return (m & HOLDS_DOORBELL ? 4 : 0) + (m & HOLDS_OWN ? 2 : 0) + (m & HOLDS_LISTENER ? 1 : 0);
}

/* Whether h holds the doorbell of a worker that has gone. */
static int held_by_gone(const struct follow *f, const struct held *h)
{
	unsigned i;

	for (i = 0; i < GRAVEYARD && i < f->ngone; i++)
		if (holds(h, f->gone[i]))
			return 1;
	return 0;
}

/* Whether a process of that group and session is w's: in its group (the
 * spawned one, or a followed daemon's), or through seccomp in a session
 * one of its processes made (seccomp_notify.c notes each setsid). */
static int in_family(const struct worker *w, const struct procids *id)
{
	unsigned i;

	if (id->pgrp == w->pgid || id->pgrp == w->spawned_pid)
		return 1;
	for (i = 0; i < WORKER_SESSIONS && i < w->nsessions; i++)
		if (id->sid == w->sessions[i] || id->pgrp == w->sessions[i])
			return 1;
	return 0;
}

/* Whose is pid, first seen adopted: the one worker it holds most of.
 * Several holding as much (a shared socket through seccomp, where there
 * is no doorbell) say nothing.  Failing fd evidence, the worker whose
 * family its group or session is (in_family).  Else nobody's, unless it
 * holds the doorbell of a worker that has gone; a worker whose process
 * exits may take one that is nobody's (candidate()). */
static uint64_t attribute(struct cluster *c, pid_t pid, const struct procids *id)
{
	static struct held h;
	struct worker *best = NULL;
	int i, best_rank = 0, ties = 0;

	if (read_held(pid, &h) == 0)
		for (i = 0; i < c->nworkers; i++) {
			struct worker *w = c->workers[i];
			int r = rank(marks(w, &h));

			if (r > best_rank) {
				best = w;
				best_rank = r;
				ties = 1;
			} else if (r && r == best_rank) {
				ties++;
			}
		}
	if (best && ties == 1)
		return best->serial;
	for (i = 0; i < c->nworkers; i++)
		if (in_family(c->workers[i], id))
			return c->workers[i]->serial;
	return held_by_gone(c->follow, &h) ? GONE : 0;
}

/* SIGKILL pid, and the process group it leads (a daemon's own children:
 * nginx's workers).  Whether it was there to kill. */
static int kill_leftover(pid_t pid)
{
	struct procids id;
	int alive = procstat_ids(pid, &id) == 0 && id.state != 'Z';

	if (alive && id.pgrp == pid && id.pgrp != getpgrp())
		kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	return alive;
}

/* Everything w left behind: the processes attributed to it and the groups
 * they lead, and what is left of its own groups.  How many processes
 * attributed to it were alive. */
static int kill_owned(struct cluster *c, struct worker *w)
{
	struct follow *f = c->follow;
	int n = 0;
	size_t i;

	for (i = 0; f && i < f->n; i++)
		if (f->a[i].owner == w->serial && !f->a[i].killed) {
			n += kill_leftover(f->a[i].pid);
			f->a[i].killed = 1;
		}
	if (w->spawned_pid > 1 && w->spawned_pid != getpgrp())
		kill(-w->spawned_pid, SIGKILL);
	if (w->pgid > 1 && w->pgid != w->spawned_pid && w->pgid != getpgrp())
		kill(-w->pgid, SIGKILL);
	return n;
}

void follow_reaped(struct cluster *c, pid_t pid)
{
	struct follow *f = c->follow;
	struct adoptee *a = find(f, pid);

	if (a)
		*a = f->a[--f->n];
}

static void note(struct follow *f, pid_t pid, uint64_t owner)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct adoptee *grown = realloc(f->a, cap * sizeof(*grown));

		if (!grown)
			return;         /* not remembered: attributed again next time */
		f->a = grown;
		f->cap = cap;
	}
	f->a[f->n++] = (struct adoptee){ .pid = pid, .owner = owner };
}

void follow_scan(struct cluster *c)
{
	struct follow *f = state(c);
	size_t n, i;
	pid_t *kids;

	if (!f || !(kids = children(&n)))
		return;
	for (i = 0; i < n; i++) {
		struct procids id;

		if (worker_by_pid(c, kids[i]) || find(f, kids[i]))
			continue;
		/* a zombie is reaped with the next batch; its orphans are
		 * already ours, and looked at here */
		if (procstat_ids(kids[i], &id) < 0 || id.state == 'Z')
			continue;
		note(f, kids[i], attribute(c, kids[i], &id));
	}
	free(kids);
	/* adopted from a worker that has gone since: nothing to follow */
	for (i = 0; i < f->n; i++)
		if (f->a[i].owner && !f->a[i].killed && !by_serial(c, f->a[i].owner)) {
			log_debug("pid %d, left by a worker that has gone: killing it",
				  (int)f->a[i].pid);
			kill_leftover(f->a[i].pid);
			f->a[i].killed = 1;
		}
}

/* The adopted process that can be w's process now, or 0; *how gets its
 * marks.  One attributed to w that holds w's listener, or before w ever
 * listened one that holds its doorbell (it may bind yet; through seccomp,
 * where there is none, any); or one attributed to nobody that holds w's
 * listener, unless w is leaving (it would take another worker's).  *died
 * says that one that could have been was found gone. */
static pid_t candidate(struct cluster *c, struct worker *w, int leaving, unsigned *how,
		       int *died)
{
	static struct held h;
	struct follow *f = c->follow;
	pid_t best = 0;
	int best_rank = -1;
	size_t i;

	*died = 0;
	for (i = 0; f && i < f->n; i++) {
		const struct adoptee *a = &f->a[i];
		struct procids id;
		unsigned m;
		int ok;

		/* nobody's (attribute()): only as the holder of w's listener */
		if ((a->owner != w->serial && (a->owner || leaving)) || a->killed)
			continue;
		if (procstat_ids(a->pid, &id) < 0 || id.state == 'Z' || read_held(a->pid, &h) < 0) {
			*died = 1;
			continue;
		}
		m = marks(w, &h);
		ok = (m & HOLDS_LISTENER) ||
		     (a->owner && !leaving && w->state == W_STARTING &&
		      ((m & HOLDS_DOORBELL) || !w->doorbell_ino));
		if (ok && rank(m) > best_rank) {
			best = a->pid;
			best_rank = rank(m);
			*how = m;
		}
	}
	return best;
}

/* A followed daemon that never listened: given up on (see the file
 * comment).  Its exit, which this brings, is a failed start. */
static void deadline(struct loop *loop, void *data)
{
	struct worker *w = data;

	(void)loop;
	w->follow_timer = 0;
	if (w->state != W_STARTING || w->daemon_failed)
		return;
	w->daemon_failed = 1;
	log_warnx("worker %d: pid %d, left by pid %d when it daemonized, has not listened "
		  "after %gs: %s; killed, a failed start", w->slot, (int)w->pid,
		  (int)w->spawned_pid, w->c->opt->ready_timeout, FOREGROUND_HINT);
	kill_owned(w->c, w);
	worker_signal(w, SIGKILL);
}

static void follow(struct cluster *c, struct worker *w, pid_t pid, unsigned how, int st)
{
	pid_t was = w->pid, group = w->pgid;

	follow_reaped(c, pid);          /* it is a worker's process now */
	worker_follow(w, pid);
	if (w->state == W_DRAINING || w->state == W_STOPPING)
		log_event("worker %d (pid %d) is leaving and left pid %d, which holds its "
			  "listener: following it", w->slot, (int)was, (int)pid);
	else if (w->state != W_STARTING)
		log_warnx("worker %d (pid %d) daemonized: following pid %d, which holds its "
			  "listener", w->slot, (int)was, (int)pid);
	else    /* slots.c says so once it listens */
		log_event("worker %d (pid %d) exited with status %d before it listened: "
			  "following pid %d, which it left (%s), until it listens", w->slot,
			  (int)was, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), (int)pid,
			  how & HOLDS_LISTENER ? "it holds its listener" : "it may bind yet");
	/* the stop signal went to the old group; a daemon of its own
	 * session never had it */
	if (w->state == W_STOPPING && w->pgid != group)
		worker_signal(w, w->stop_sig);
	if (w->state == W_STARTING && !w->follow_timer)
		w->follow_timer = loop_timer(c->loop, secs_ms(c->opt->ready_timeout), deadline, w);
}

int follow_exit(struct cluster *c, struct worker *w, int st)
{
	int leaving = w->state == W_DRAINING || w->state == W_STOPPING;
	int exited0 = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	unsigned how = 0;
	pid_t pid = 0;
	int left;

	int died, tries;

	/* One of its processes died while we looked (the middle process of
	 * a double fork exits at once): its orphans are ours by now, so
	 * look at what was adopted again. */
	for (tries = 0; tries < 8; tries++) {
		if (w->daemon_failed || w->misbehaved || c->killed || !(exited0 || leaving))
			break;
		if ((pid = candidate(c, w, leaving, &how, &died)) || !died)
			break;
		follow_scan(c);
	}
	if (pid) {
		follow(c, w, pid, how, st);
		return 1;
	}
	left = kill_owned(c, w);
	if (w->doorbell_ino && c->follow)
		c->follow->gone[c->follow->ngone++ % GRAVEYARD] = w->doorbell_ino;
	if (left && exited0 && !leaving && !w->daemon_failed) {
		w->daemon_failed = 1;
		log_warnx("worker %d (pid %d) daemonized, and none of the %d process%s it left "
			  "holds its listener: %s; killed them, a failed start", w->slot,
			  (int)w->pid, left, left == 1 ? "" : "es", FOREGROUND_HINT);
	} else if (left) {
		log_event("worker %d (pid %d): killed %d process%s it left", w->slot,
			  (int)w->pid, left, left == 1 ? "" : "es");
	}
	return 0;
}

static void forget_all(struct cluster *c)
{
	if (!c->follow)
		return;
	free(c->follow->a);
	free(c->follow);
	c->follow = NULL;
}

void follow_kill_all(struct cluster *c)
{
	int pass;

	/* A killed process's own orphans come to us in turn: again until
	 * none is left (bounded: something may fork as fast as we kill). */
	for (pass = 0; pass < 100; pass++) {
		size_t n, i;
		pid_t *kids = children(&n);

		if (!kids || n == 0) {
			free(kids);
			break;
		}
		for (i = 0; i < n; i++)
			kill_leftover(kids[i]);
		for (i = 0; i < n; i++)
			while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
				;
		free(kids);
	}
	forget_all(c);
}

/* --- an in-place upgrade (follow.h) --- */

int follow_save(struct cluster *c, struct state_out *o)
{
	const struct follow *f = c->follow;
	size_t i;
	int k;

	for (k = 0; k < c->nworkers; k++) {
		const struct worker *w = c->workers[k];
		int64_t due = loop_timer_due(c->loop, w->follow_timer);

		if (due < 0)
			continue;
		state_rec(o, "follow_deadline");
		state_u64(o, "worker", w->serial);
		state_i64(o, "due", due);
	}
	if (!f)
		return 0;
	state_rec(o, "follow");
	state_u64(o, "ngone", f->ngone);
	state_bytes(o, "gone", f->gone, sizeof(f->gone));
	for (i = 0; i < f->n; i++) {
		state_rec(o, "adoptee");
		state_i64(o, "pid", f->a[i].pid);
		state_u64(o, "owner", f->a[i].owner);
		state_i64(o, "killed", f->a[i].killed);
	}
	return 0;
}

int follow_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r;
	struct follow *f;

	for (r = state_first(in, "follow_deadline"); r; r = state_next(r)) {
		struct worker *w = worker_by_serial(c, rec_u64(r, "worker", 0));

		if (w)
			w->follow_timer = loop_timer_at(c->loop, rec_i64(r, "due", 0), deadline, w);
	}
	if (!(r = state_first(in, "follow")))
		return 0;
	if (!(f = state(c))) {
		log_warnx("upgrade: follow: out of memory");
		return -1;
	}
	f->ngone = (unsigned)rec_u64(r, "ngone", 0);
	if (rec_bytes(r, "gone", f->gone, sizeof(f->gone)) != (long)sizeof(f->gone)) {
		memset(f->gone, 0, sizeof(f->gone));
		f->ngone = 0;
	}
	for (r = state_first(in, "adoptee"); r; r = state_next(r)) {
		note(f, (pid_t)rec_i64(r, "pid", 0), rec_u64(r, "owner", 0));
		if (f->n && f->a[f->n - 1].pid == (pid_t)rec_i64(r, "pid", 0))
			f->a[f->n - 1].killed = (int)rec_i64(r, "killed", 0);
	}
	return 0;
}
