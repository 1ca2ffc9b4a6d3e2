/*
 * health.c - keeping workers healthy, not only alive: it decides when a
 * live worker must be replaced, and remembers why workers were restarted.
 *
 *   --max-memory SIZE  the RSS of the worker's whole process group (every
 *       process whose pgrp is the worker's pid), read from /proc/PID/stat
 *       once a second; above SIZE on two samples in a row (so a short
 *       spike is forgiven) it is replaced.
 *   --max-requests N [--max-requests-jitter J]  connections the master
 *       handed the worker (rr, leastconn: route->handed); at N plus a
 *       random 0..J drawn per worker (gunicorn's jitter, so workers
 *       started together do not all leave together) it is replaced.
 *   --hang-timeout S  a worker with connections queued on its channels
 *       that takes none of them for S seconds while its process is there
 *       is hung.  "Takes" is measured, not guessed: handed minus what is
 *       still queued (FIONREAD on the master's copy of the worker end, see
 *       balancer.c) only grows when the worker dequeues a connection.  A
 *       slow but live worker takes some now and then and is never flagged;
 *       an event-driven server that accepts everything at once has nothing
 *       queued and is never flagged either (its hung handlers are not the
 *       master's to see).  S must exceed the longest time a live worker
 *       may go between two accepts (a blocking server's slowest request).
 *       reuseport: see check_hang_slot (queue length and idle processes).
 *       shared: one queue for every worker, nothing to tell them apart.
 *
 * Replacements go through the replace callback that health_start was
 * handed (slots_recycle.c's supervisor_replace), one slot at a time and
 * never during a reload, so capacity stays at N-1 or more; recycling
 * waits for the new worker to listen before the old one drains, a hung
 * worker is drained and stopped at once.  A decision that cannot be
 * carried out now (another replacement under way) is simply taken again
 * on the next tick.
 *
 * Not here: how a worker is replaced (slots_recycle.c's supervisor_replace,
 * handed in as a callback: health sits below slots), how connections move
 * (policy/balancer.c).
 */
#include "supervise/health.h"
#include "cluster.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/state.h"
#include "policy/balancer.h"
#include "policy/policy_reuseport.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 100
#define MEMORY_EVERY_TICKS 10   /* one /proc scan a second */
#define MEMORY_SAMPLES 2        /* consecutive samples above the limit */
#define RECENT 8                /* restarts remembered for status */

struct watch {                  /* one slot's worker, as health sees it */
	pid_t pid;              /* the worker these figures are about */
	uint64_t limit;         /* --max-requests plus this worker's jitter */
	int over;               /* memory samples in a row above the limit */
	uint64_t rss;           /* last sample, bytes */
	uint64_t cpu;           /* last sample: the group's activity: CPU ticks
				 * and context switches of all its threads */
	unsigned slot_queued;   /* reuseport: last length of its slot's queue */
	int cpu_marked;         /* reuseport: cpu_mark taken in this window */
	uint64_t cpu_mark;
	uint64_t taken;         /* connections it took off its channels */
	int64_t stuck_since;    /* queued but none taken since then; 0: not */
	int asked;              /* its replacement is under way */
};

struct restart_note {
	int64_t wall_ms;        /* CLOCK_REALTIME */
	int slot;
	pid_t pid;
	enum health_reason reason;
	char detail[96];
};

struct health {
	struct cluster *c;
	health_replace_fn *replace;     /* handed in by health_start */
	uint64_t timer;
	uint64_t soon;          /* a check asked for by health_conn_handed */
	unsigned ticks;
	struct watch slots[MAX_WORKERS];
	struct restart_note recent[RECENT];
	uint64_t nnotes;
	uint64_t by_reason[HEALTH_NREASONS];
	/* each slot's last restart, short ("exit 1", "signal 9", "hang"): kept
	 * apart from recent[], which a busy cluster's other slots overwrite */
	char last_exit[MAX_WORKERS][16];
};

static const char *const reason_names[HEALTH_NREASONS] = {
	[HEALTH_CRASH] = "crash", [HEALTH_MEMORY] = "memory",
	[HEALTH_REQUESTS] = "requests", [HEALTH_HANG] = "hang",
};

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A crash's detail is slots.c's describe_status(): "exited with status 1",
 * "killed by signal 9 (Killed)"; anything else is the reason's name. */
static void short_reason(enum health_reason why, const char *detail, char *out, size_t cap)
{
	int n;

	if (why == HEALTH_CRASH && sscanf(detail, "exited with status %d", &n) == 1)
		snprintf(out, cap, "exit %d", n);
	else if (why == HEALTH_CRASH && sscanf(detail, "killed by signal %d", &n) == 1)
		snprintf(out, cap, "signal %d", n);
	else
		snprintf(out, cap, "%s", reason_names[why]);
}

static void note(struct health *h, const struct worker *w, enum health_reason why,
		 const char *detail)
{
	struct restart_note *n = &h->recent[h->nnotes++ % RECENT];

	n->wall_ms = wall_ms();
	n->slot = w->slot;
	n->pid = w->pid;
	n->reason = why;
	snprintf(n->detail, sizeof(n->detail), "%s", detail);
	h->by_reason[why]++;
	short_reason(why, detail, h->last_exit[w->slot], sizeof(h->last_exit[w->slot]));
}

const char *health_last_exit(const struct cluster *c, int slot)
{
	if (!c->health || slot < 0 || slot >= MAX_WORKERS || !c->health->last_exit[slot][0])
		return NULL;
	return c->health->last_exit[slot];
}

void health_note_exit(struct cluster *c, const struct worker *w, const char *how)
{
	const struct watch *s;

	if (!c->health)
		return;
	s = &c->health->slots[w->slot];
	if (s->pid == w->pid && s->asked)
		return;         /* stopped as hung: noted as such */
	note(c->health, w, HEALTH_CRASH, how);
}

/* The watch of w's slot, reset when a new worker fills it. */
static struct watch *watch_of(struct health *h, const struct worker *w)
{
	struct watch *s = &h->slots[w->slot];
	const struct options *o = h->c->opt;

	if (s->pid != w->pid) {
		memset(s, 0, sizeof(*s));
		s->pid = w->pid;
		s->limit = (uint64_t)o->max_requests;
		if (o->max_requests_jitter)
			s->limit += (uint64_t)(random() % (o->max_requests_jitter + 1));
	}
	return s;
}

/* Context switches of every thread of process pid: a thread that sleeps
 * (a slow handler's nanosleep, a poll) switches, one blocked for good or
 * stopped does not. */
static uint64_t switches(const char *pid)
{
	char path[600], buf[2048];
	struct dirent *e;
	uint64_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/task", pid);
	if (!(d = opendir(path)))
		return 0;
	while ((e = readdir(d))) {
		unsigned long long v;
		const char *p;
		ssize_t len;
		int fd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task/%s/status", pid, e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		for (p = buf; (p = strstr(p, "ctxt_switches:\t")); p++)
			if (sscanf(p, "ctxt_switches:\t%llu", &v) == 1)
				n += v;
	}
	closedir(d);
	return n;
}

/* One scan of /proc: the RSS and CPU time of each live worker's process
 * group; with memory, count the samples above --max-memory; with
 * activity, add its threads' context switches to the CPU time. */
static void scan_groups(struct health *h, int memory, int activity)
{
	struct cluster *c = h->c;
	long page = sysconf(_SC_PAGESIZE);
	DIR *d = opendir("/proc");
	struct dirent *e;
	int i;

	if (!d)
		return;
	for (i = 0; i < c->nworkers; i++)
		if (c->slots[c->workers[i]->slot].active == c->workers[i])
			watch_of(h, c->workers[i])->rss = watch_of(h, c->workers[i])->cpu = 0;
	while ((e = readdir(d))) {
		char path[300], buf[1024], *p;
		unsigned long long utime = 0, stime = 0;
		long pgrp = 0, rss = 0;
		ssize_t n;
		int fd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* after "pid (comm) ": state ppid pgrp ...; utime, stime are the
		 * 12th and 13th, rss the 22nd */
		if (!(p = strrchr(buf, ')')) ||
		    sscanf(p + 1, " %*c %*s %ld %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu"
			   " %*s %*s %*s %*s %*s %*s %*s %*s %ld", &pgrp, &utime, &stime, &rss) != 4)
			continue;
		for (i = 0; i < c->nworkers; i++) {
			struct worker *w = c->workers[i];
			if (w->pgid == (pid_t)pgrp && c->slots[w->slot].active == w) {
				struct watch *s = watch_of(h, w);
				s->rss += (uint64_t)rss * (uint64_t)page;
				s->cpu += utime + stime;
				if (activity)
					s->cpu += switches(e->d_name);
				break;
			}
		}
	}
	closedir(d);
	for (i = 0; memory && i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		struct watch *s;

		if (c->slots[w->slot].active != w)
			continue;
		s = watch_of(h, w);
		s->over = s->rss > c->opt->max_memory ? s->over + 1 : 0;
	}
}

static int replace(struct health *h, struct worker *w, struct watch *s,
		   enum health_reason why, const char *detail)
{
	if (h->replace(h->c, w, reason_names[why], detail, why == HEALTH_HANG) < 0)
		return -1;
	s->asked = 1;
	note(h, w, why, detail);
	return 0;
}

/* See the file comment: queued on its channels, none taken for S s. */
static void check_hang(struct health *h, struct worker *w, struct watch *s)
{
	struct cluster *c = h->c;
	uint64_t handed = 0, queued = 0, taken;
	int64_t now = loop_now_ms();
	char detail[96];
	int i;

	for (i = 0; i < c->nlisteners; i++) {
		const struct route *r = &w->routes[i];
		int bytes = 0;

		if (r->chan_peer < 0)
			continue;
		handed += r->handed;
		if (ioctl(r->chan_peer, FIONREAD, &bytes) == 0 && bytes > 0)
			queued += (uint64_t)bytes / sizeof(struct msg_conn);
	}
	taken = handed > queued ? handed - queued : 0;
	if (queued == 0 || taken != s->taken) {
		s->taken = taken;
		s->stuck_since = queued ? now : 0;
		return;
	}
	if (!s->stuck_since)
		s->stuck_since = now;
	if (now - s->stuck_since < (int64_t)(c->opt->hang_timeout * 1000.0 + 0.5))
		return;
	snprintf(detail, sizeof(detail), "%llu connection%s queued, none taken for %.1fs",
		 (unsigned long long)queued, queued == 1 ? "" : "s",
		 (double)(now - s->stuck_since) / 1000.0);
	replace(h, w, s, HEALTH_HANG, detail);
}

/* reuseport: the worker accepts on its slot's own socket, and the master
 * sees only the length of that socket's queue (TCP_INFO).  A queue that
 * never shrinks can be a busy worker whose accepts match its arrivals, so
 * a second sign is wanted: its process group did nothing over the second
 * half of the window, no CPU tick and no context switch in any thread
 * (a slow handler that sleeps switches; a stopped process, or one blocked
 * for good, does not).  Hung: the queue was never empty and never shrank
 * for S seconds, and the group was idle for the last S/2.  A worker
 * spinning in a loop is busy and is not found this way.  Returns 1 when
 * a scan of /proc is needed for this tick. */
static int check_hang_slot(struct health *h, struct worker *w, struct watch *s, int scanned)
{
	struct cluster *c = h->c;
	unsigned q = reuseport_slot_queued(c, w->slot);
	int64_t now = loop_now_ms(), hang_ms = (int64_t)(c->opt->hang_timeout * 1000.0 + 0.5);
	char detail[96];

	if (!scanned) {
		if (q == 0 || q < s->slot_queued) {
			s->stuck_since = q ? now : 0;
			s->cpu_marked = 0;
		} else if (!s->stuck_since) {
			s->stuck_since = now;
		}
		s->slot_queued = q;
		return s->stuck_since && ((now - s->stuck_since >= hang_ms / 2 && !s->cpu_marked) ||
					  now - s->stuck_since >= hang_ms);
	}
	if (!s->stuck_since || now - s->stuck_since < hang_ms / 2)
		return 0;
	if (!s->cpu_marked) {
		s->cpu_marked = 1;
		s->cpu_mark = s->cpu;
		return 0;
	}
	if (s->cpu != s->cpu_mark) {            /* busy: start again */
		s->stuck_since = now;
		s->cpu_marked = 0;
		return 0;
	}
	if (now - s->stuck_since < hang_ms)
		return 0;
	snprintf(detail, sizeof(detail), "%u connection%s queued on its socket, none accepted "
		 "for %.1fs, its processes idle", q, q == 1 ? "" : "s", (double)(now - s->stuck_since) / 1000.0);
	replace(h, w, s, HEALTH_HANG, detail);
	return 0;
}

/* Recycling: memory first, then requests; one worker per tick at most. */
static int check_recycle(struct health *h, struct worker *w, struct watch *s)
{
	const struct options *o = h->c->opt;
	char detail[96];

	if (o->max_memory && s->over >= MEMORY_SAMPLES) {
		snprintf(detail, sizeof(detail), "RSS %.1f MiB above %.1f MiB",
			 (double)s->rss / 1048576.0, (double)o->max_memory / 1048576.0);
		return replace(h, w, s, HEALTH_MEMORY, detail) == 0;
	}
	if (o->max_requests) {
		uint64_t handed = worker_taken(w);

		if (handed < s->limit)
			return 0;
		snprintf(detail, sizeof(detail), "%llu connections handed, limit %llu",
			 (unsigned long long)handed, (unsigned long long)s->limit);
		return replace(h, w, s, HEALTH_REQUESTS, detail) == 0;
	}
	return 0;
}

static int watched(struct cluster *c, struct worker *w)
{
	return c->slots[w->slot].active == w && w->state == W_READY;
}

/* Which hang check fits, by the listeners' policies after fallbacks: a
 * socket per slot is seen by its queue (check_hang_slot), a channel by
 * what the worker takes from it (check_hang).  A cluster has one asked-for
 * policy, so its listeners have that one or shared: never both kinds. */
static int queues_per_slot(const struct cluster *c)
{
	int i;

	for (i = 0; i < c->nlisteners; i++)
		if (c->listeners[i]->ops->per_slot_sockets)
			return 1;
	return 0;
}

static void check_all(struct health *h, int scanned)
{
	struct cluster *c = h->c;
	int i, per_slot = c->opt->hang_timeout > 0 && queues_per_slot(c);

	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];
		struct watch *s;

		if (!watched(c, w))
			continue;
		s = watch_of(h, w);
		if (s->asked)
			continue;
		if (per_slot)
			check_hang_slot(h, w, s, scanned);
		else if (c->opt->hang_timeout > 0)
			check_hang(h, w, s);
		if (!s->asked && check_recycle(h, w, s))
			break;
	}
}

/* reuseport --hang-timeout: update each slot's window; whether any of
 * them needs CPU figures now. */
static int slots_need_scan(struct health *h)
{
	struct cluster *c = h->c;
	int i, need = 0;

	if (!(c->opt->hang_timeout > 0) || !queues_per_slot(c))
		return 0;
	for (i = 0; i < c->nworkers; i++) {
		struct worker *w = c->workers[i];

		if (watched(c, w) && !watch_of(h, w)->asked)
			need |= check_hang_slot(h, w, watch_of(h, w), 0);
	}
	return need;
}

static void tick(struct loop *loop, void *data)
{
	struct health *h = data;
	int memory, need;

	h->timer = loop_timer(loop, TICK_MS, tick, h);
	if (h->c->stopping)
		return;
	memory = h->c->opt->max_memory && h->ticks++ % MEMORY_EVERY_TICKS == 0;
	need = slots_need_scan(h);
	if (memory || need)
		scan_groups(h, memory, need);
	check_all(h, memory || need);
}

static void check_soon(struct loop *loop, void *data)
{
	struct health *h = data;

	(void)loop;
	h->soon = 0;
	if (!h->c->stopping)
		check_all(h, 0);
}

/* balancer.c handed w a connection.  At --max-requests the check runs
 * from the loop at once rather than at the next tick (a busy worker takes
 * hundreds of connections in a tick), but not from inside the balancer. */
void health_conn_handed(struct cluster *c, struct worker *w)
{
	struct health *h = c->health;
	struct watch *s;
	uint64_t handed = 0;
	int i;

	if (!h || !c->opt->max_requests || h->soon)
		return;
	s = watch_of(h, w);
	if (s->asked)
		return;
	for (i = 0; i < c->nlisteners; i++)
		handed += w->routes[i].handed;
	if (handed >= s->limit)
		h->soon = loop_timer(c->loop, 0, check_soon, h);
}

int health_start(struct cluster *c, health_replace_fn *replace)
{
	const struct options *o = c->opt;

	if (c->health) {                /* restored after an upgrade */
		srandom((unsigned)(getpid() ^ wall_ms()));
		c->health->replace = replace;
		c->hooks.conn_handed = health_conn_handed;
		return 0;
	}
	c->health = calloc(1, sizeof(*c->health));
	if (!c->health)
		return -1;
	c->health->c = c;
	c->health->replace = replace;
	c->hooks.conn_handed = health_conn_handed;
	srandom((unsigned)(getpid() ^ wall_ms()));
	if (o->max_memory || o->max_requests || o->hang_timeout > 0)
		c->health->timer = loop_timer(c->loop, TICK_MS, tick, c->health);
	return 0;
}

void health_free(struct cluster *c)
{
	if (!c->health)
		return;
	loop_timer_cancel(c->loop, c->health->timer);
	loop_timer_cancel(c->loop, c->health->soon);
	free(c->health);
	c->health = NULL;
}

/* Report helpers: the last restarts, oldest first. */
static const struct restart_note *note_at(const struct health *h, uint64_t k)
{
	return &h->recent[k % RECENT];
}

static uint64_t first_note(const struct health *h)
{
	return h->nnotes > RECENT ? h->nnotes - RECENT : 0;
}

static void time_string(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	size_t k;

	gmtime_r(&t, &tm);
	k = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + k, len - k, ".%03dZ", (int)(ms % 1000));
}

void health_report_text(struct cluster *c, struct buf *b)
{
	const struct health *h = c->health;
	uint64_t k;

	if (!h || !h->nnotes)
		return;
	buf_printf(b, "last restarts (crash %llu, memory %llu, requests %llu, hang %llu):\n",
		   (unsigned long long)h->by_reason[HEALTH_CRASH],
		   (unsigned long long)h->by_reason[HEALTH_MEMORY],
		   (unsigned long long)h->by_reason[HEALTH_REQUESTS],
		   (unsigned long long)h->by_reason[HEALTH_HANG]);
	for (k = first_note(h); k < h->nnotes; k++) {
		const struct restart_note *n = note_at(h, k);
		char t[40];

		time_string(n->wall_ms, t, sizeof(t));
		buf_printf(b, "  %s worker %d (pid %d): %s: %s\n", t, n->slot, (int)n->pid,
			   reason_names[n->reason], n->detail);
	}
}

void health_report_json(struct cluster *c, struct buf *b)
{
	const struct health *h = c->health;
	uint64_t k;
	int i;

	buf_printf(b, "\"restart_reasons\":{");
	for (i = 0; i < HEALTH_NREASONS; i++)
		buf_printf(b, "%s\"%s\":%llu", i ? "," : "", reason_names[i],
			   h ? (unsigned long long)h->by_reason[i] : 0ULL);
	buf_printf(b, "},\"last_restarts\":[");
	for (k = h ? first_note(h) : 0; h && k < h->nnotes; k++) {
		const struct restart_note *n = note_at(h, k);
		char t[40];

		time_string(n->wall_ms, t, sizeof(t));
		/* detail is ours: digits, letters, spaces and punctuation, no quotes */
		buf_printf(b, "%s{\"time\":\"%s\",\"slot\":%d,\"pid\":%d,\"reason\":\"%s\","
			   "\"detail\":\"%s\"}", k == first_note(h) ? "" : ",", t, n->slot,
			   (int)n->pid, reason_names[n->reason], n->detail);
	}
	buf_printf(b, "]");
}

void health_report_metrics(struct cluster *c, struct buf *b)
{
	const struct health *h = c->health;
	int i;

	buf_printf(b, "# HELP cluster_run_worker_replacements_total Workers restarted or "
		      "replaced, by reason.\n"
		      "# TYPE cluster_run_worker_replacements_total counter\n");
	for (i = 0; i < HEALTH_NREASONS; i++)
		buf_printf(b, "cluster_run_worker_replacements_total{reason=\"%s\"} %llu\n",
			   reason_names[i], h ? (unsigned long long)h->by_reason[i] : 0ULL);
}

/* --- an in-place upgrade (health.h) --- */

int health_save(struct cluster *c, struct state_out *o)
{
	const struct health *h = c->health;
	uint64_t k;
	int i;

	if (!h)
		return 0;
	state_rec(o, "health");
	state_i64(o, "timer_due", loop_timer_due(c->loop, h->timer));
	state_i64(o, "soon_due", loop_timer_due(c->loop, h->soon));
	state_u64(o, "ticks", h->ticks);
	state_u64(o, "nnotes", h->nnotes);
	for (i = 0; i < HEALTH_NREASONS; i++)
		state_u64(o, reason_names[i], h->by_reason[i]);
	for (i = 0; i < MAX_WORKERS; i++) {
		const struct watch *s = &h->slots[i];

		if (!s->pid && !h->last_exit[i][0])
			continue;
		state_rec(o, "health_watch");
		state_i64(o, "slot", i);
		state_i64(o, "pid", s->pid);
		state_u64(o, "limit", s->limit);
		state_i64(o, "over", s->over);
		state_u64(o, "rss", s->rss);
		state_u64(o, "cpu", s->cpu);
		state_u64(o, "slot_queued", s->slot_queued);
		state_i64(o, "cpu_marked", s->cpu_marked);
		state_u64(o, "cpu_mark", s->cpu_mark);
		state_u64(o, "taken", s->taken);
		state_i64(o, "stuck_since", s->stuck_since);
		state_i64(o, "asked", s->asked);
		state_str(o, "last_exit", h->last_exit[i]);
	}
	for (k = first_note(h); k < h->nnotes; k++) {
		const struct restart_note *n = note_at(h, k);

		state_rec(o, "health_note");
		state_u64(o, "k", k);
		state_i64(o, "wall_ms", n->wall_ms);
		state_i64(o, "slot", n->slot);
		state_i64(o, "pid", n->pid);
		state_str(o, "reason", reason_names[n->reason]);
		state_str(o, "detail", n->detail);
	}
	return 0;
}

static enum health_reason reason_by_name(const char *name)
{
	int i;

	for (i = 0; i < HEALTH_NREASONS; i++)
		if (!strcmp(name, reason_names[i]))
			return (enum health_reason)i;
	return HEALTH_CRASH;
}

static void restore_watch(struct health *h, const struct state_rec *r)
{
	int64_t i = rec_i64(r, "slot", -1);
	struct watch *s;

	if (i < 0 || i >= MAX_WORKERS)
		return;
	s = &h->slots[i];
	s->pid = (pid_t)rec_i64(r, "pid", 0);
	s->limit = rec_u64(r, "limit", 0);
	s->over = (int)rec_i64(r, "over", 0);
	s->rss = rec_u64(r, "rss", 0);
	s->cpu = rec_u64(r, "cpu", 0);
	s->slot_queued = (unsigned)rec_u64(r, "slot_queued", 0);
	s->cpu_marked = (int)rec_i64(r, "cpu_marked", 0);
	s->cpu_mark = rec_u64(r, "cpu_mark", 0);
	s->taken = rec_u64(r, "taken", 0);
	s->stuck_since = rec_i64(r, "stuck_since", 0);
	s->asked = (int)rec_i64(r, "asked", 0);
	snprintf(h->last_exit[i], sizeof(h->last_exit[i]), "%s", rec_str(r, "last_exit", ""));
}

int health_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r = state_first(in, "health");
	struct health *h;
	int64_t due;
	int i;

	if (!r)
		return 0;               /* health_start makes it afresh */
	if (!(h = calloc(1, sizeof(*h)))) {
		log_warnx("upgrade: health: out of memory");
		return -1;
	}
	h->c = c;
	h->ticks = (unsigned)rec_u64(r, "ticks", 0);
	h->nnotes = rec_u64(r, "nnotes", 0);
	for (i = 0; i < HEALTH_NREASONS; i++)
		h->by_reason[i] = rec_u64(r, reason_names[i], 0);
	if ((due = rec_i64(r, "timer_due", -1)) >= 0)
		h->timer = loop_timer_at(c->loop, due, tick, h);
	if ((due = rec_i64(r, "soon_due", -1)) >= 0)
		h->soon = loop_timer_at(c->loop, due, check_soon, h);
	for (r = state_first(in, "health_watch"); r; r = state_next(r))
		restore_watch(h, r);
	for (r = state_first(in, "health_note"); r; r = state_next(r)) {
		struct restart_note *n = &h->recent[rec_u64(r, "k", 0) % RECENT];

		n->wall_ms = rec_i64(r, "wall_ms", 0);
		n->slot = (int)rec_i64(r, "slot", 0);
		n->pid = (pid_t)rec_i64(r, "pid", 0);
		n->reason = reason_by_name(rec_str(r, "reason", ""));
		snprintf(n->detail, sizeof(n->detail), "%s", rec_str(r, "detail", ""));
	}
	c->health = h;
	return 0;
}
