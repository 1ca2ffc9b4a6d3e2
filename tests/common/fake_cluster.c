/*
 * fake_cluster.c - see fake_cluster.h.  Owns the fake clock, the fake
 * process table (pids made up, signals recorded) and the construction
 * and teardown of a struct cluster the way main.c would build one, minus
 * signals, the guard, the control socket and real children.
 */
#include "fake_cluster.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/options.h"
#include "base/program.h"
#include "base/spawn.h"
#include "base/state.h"
#include "policy/policy.h"
#include "supervise/lifecycle.h"
#include "supervise/rollout.h"
#include "supervise/slots.h"
#include "supervise/worker.h"
#include "surface/options.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* What main.c allocates once; kept together so that one free undoes it. */
struct fake {
	struct cluster c;               /* first: a struct cluster * is a struct fake * */
	struct options opt;
	struct program prog;
	char *argv[32];                 /* opt.argv points into it */
};

int64_t fake_now_ms = FAKE_EPOCH_MS;
int fake_spawn_fails;
int fake_spawns;

/* Made-up pids and each one's signals.  A real process may have one of
 * these numbers: nothing reaches it, every kill goes to fake_kill. */
#define FAKE_PID0 4000000
#define FAKE_PIDS 4096
#define SIGS_KEPT 15
static int signals[FAKE_PIDS][SIGS_KEPT + 1];

static int64_t fake_clock(void)
{
	return fake_now_ms;
}

static pid_t fake_spawn(const struct spawn_args *a)
{
	(void)a;
	if (fake_spawn_fails) {
		errno = ENOENT;
		return -1;
	}
	if (fake_spawns >= FAKE_PIDS) {
		errno = EAGAIN;
		return -1;
	}
	return FAKE_PID0 + fake_spawns++;
}

/* kill(2) on a made-up pid: a group (-pid) or a process, both recorded as
 * the pid's; ESRCH for one that was never made, as the kernel says. */
static int fake_kill(pid_t pid, int sig)
{
	int k = (pid < 0 ? -pid : pid) - FAKE_PID0, i;

	if (k < 0 || k >= fake_spawns) {
		errno = ESRCH;
		return -1;
	}
	for (i = 0; i < SIGS_KEPT && signals[k][i]; i++)
		;
	if (i < SIGS_KEPT)
		signals[k][i] = sig;
	return 0;
}

static const struct proc_ops fake_procs = { .spawn = fake_spawn, .kill = fake_kill };

const int *fake_signalled(pid_t pid)
{
	static const int none[1];
	int k = pid - FAKE_PID0;

	return k >= 0 && k < fake_spawns ? signals[k] : none;
}

/* stderr while a fake cluster runs: a file the paths are read from. */
static int saved_stderr = -1, captured = -1;

static void capture_log(void)
{
	char name[] = "/tmp/fake-cluster-log-XXXXXX";

	captured = mkstemp(name);
	cr_assert_geq(captured, 0);
	unlink(name);
	saved_stderr = dup(STDERR_FILENO);
	cr_assert_geq(saved_stderr, 0);
	cr_assert_geq(dup2(captured, STDERR_FILENO), 0);
	log_set_debug(1);
}

static void release_log(void)
{
	char buf[4096];
	ssize_t n;
	off_t off = 0;

	if (captured < 0)
		return;
	dup2(saved_stderr, STDERR_FILENO);
	while (getenv("FAKE_CLUSTER_LOG") && (n = pread(captured, buf, sizeof(buf), off)) > 0) {
		if (write(STDERR_FILENO, buf, (size_t)n) != n)
			break;
		off += n;
	}
	close(saved_stderr);
	close(captured);
	saved_stderr = captured = -1;
	log_set_debug(0);
}

/* The "KEY: FROM -> TO" lines of the captured log, as "FROM TO TO...". */
static const char *path_of(const char *key)
{
	static char path[2048];
	static char text[1 << 20];
	ssize_t n, len = 0;
	char *line, *next;
	size_t klen = strlen(key);

	path[0] = '\0';
	cr_assert_geq(captured, 0, "no fake cluster");
	while (len < (ssize_t)sizeof(text) - 1 &&
	       (n = pread(captured, text + len, sizeof(text) - 1 - (size_t)len, len)) > 0)
		len += n;
	text[len] = '\0';
	for (line = text; line && *line; line = next) {
		char from[32], to[32], *at;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		at = strstr(line, key);
		if (!at || sscanf(at + klen, "%31s -> %31s", from, to) != 2)
			continue;
		if (!path[0])
			snprintf(path, sizeof(path), "%s", from);
		snprintf(path + strlen(path), sizeof(path) - strlen(path), " %s", to);
	}
	return path;
}

const char *fake_slot_path(int slot)
{
	char key[32];

	snprintf(key, sizeof(key), "slot %d: ", slot);
	return path_of(key);
}

const char *fake_worker_path(pid_t pid)
{
	char key[32];

	snprintf(key, sizeof(key), "(pid %d): ", (int)pid);
	return path_of(key);
}

struct cluster *fake_cluster_new(const char *const *words)
{
	struct fake *f = calloc(1, sizeof(*f));
	int argc = 0;

	cr_assert_not_null(f);
	f->argv[argc++] = "cluster-run";
	while (*words && argc < 30)
		f->argv[argc++] = (char *)*words++;
	f->argv[argc++] = "true";
	f->argv[argc] = NULL;
	optind = 0;     /* glibc: start over */
	cr_assert_eq(options_parse(&f->opt, argc, f->argv), -1, "bad fake command line");
	snprintf(f->prog.path, sizeof(f->prog.path), "/bin/true");
	f->prog.via = VIA_SHIM;
	f->c.opt = &f->opt;
	f->c.prog = &f->prog;
	f->c.procs = &fake_procs;
	f->c.sigfd = -1;
	snprintf(f->c.shim_path, sizeof(f->c.shim_path), "/nonexistent/libcluster-shim.so");
	capture_log();
	fake_now_ms = FAKE_EPOCH_MS;
	loop_set_clock(fake_clock);
	f->c.loop = loop_new();
	cr_assert_not_null(f->c.loop);
	f->c.started_ms = loop_now_ms();
	cr_assert_eq(lifecycle_open(&f->c), 0);
	return &f->c;
}

void fake_cluster_free(struct cluster *c)
{
	struct fake *f = (struct fake *)c;
	int i;

	while (c->nworkers) {
		struct worker *w = c->workers[c->nworkers - 1];

		if (w->pid > 0) {
			worker_free(c, w);      /* spawned: the supervisor's to free */
			continue;
		}
		for (i = 0; i < c->nlisteners; i++)
			if (w->routes[i].chan >= 0) {
				close(w->routes[i].chan);
				close(w->routes[i].chan_peer);
			}
		free(w);
		c->nworkers--;
	}
	free(c->workers);
	for (i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i]->policy_data);
		free(c->listeners[i]->pending);
		free(c->listeners[i]);
	}
	lifecycle_close(c);
	rollout_free(c);
	loop_free(c->loop);
	loop_set_clock(NULL);
	release_log();
	free(f);
}

void fake_turn(struct cluster *c)
{
	int dirty;

	loop_run_due(c->loop);
	/* supervisor.c's before_sleep, the part about slots */
	slots_heard_listens(c);
	dirty = c->slots_dirty;
	slots_step(c);
	if (dirty)
		rollout_step(c);
	/* what the pass set off at once (retire.c asks a drained worker from a
	 * timer due now, so that one census serves a whole pass) runs in the
	 * next turn's timers, before the loop could sleep */
	loop_run_due(c->loop);
}

void fake_advance(struct cluster *c, int64_t ms)
{
	fake_now_ms += ms;
	fake_turn(c);
}

void fake_listens(struct cluster *c, struct worker *w)
{
	int i;

	for (i = 0; i < c->nlisteners; i++) {
		w->routes[i].w = w;
		w->routes[i].lid = (uint32_t)i;
		w->routes[i].bound = w->routes[i].listening = 1;
	}
	w->heard_listen = 1;
	fake_turn(c);
}

void fake_exits(struct cluster *c, struct worker *w, int status)
{
	slots_worker_exited(c, w, status);
	fake_turn(c);
}

struct listener *fake_listener_add(struct cluster *c, const struct policy_ops *ops,
				   int family, int type)
{
	struct listener *l = calloc(1, sizeof(*l));

	cr_assert_not_null(l);
	cr_assert_lt(c->nlisteners, CLUSTER_MAX_LISTENERS);
	l->c = c;
	l->id = (uint32_t)c->nlisteners;
	l->fd = -1;
	l->family = family;
	l->type = type;
	l->ops = ops;
	snprintf(l->name, sizeof(l->name), "fake-%u", l->id);
	c->listeners[c->nlisteners++] = l;
	return l;
}

struct worker *fake_worker_add(struct cluster *c, int slot)
{
	struct worker *w = calloc(1, sizeof(*w)), **grown;
	int i, sv[2];

	grown = realloc(c->workers, (size_t)(c->nworkers + 1) * sizeof(*grown));
	cr_assert(w && grown);
	c->workers = grown;
	w->c = c;
	w->slot = slot;
	w->pid = -1;            /* hand-made: fake_cluster_free frees it */
	w->doorbell = w->board_fd = w->notify_fd = -1;
	w->state = W_READY;
	w->ever_ready = 1;
	for (i = 0; i < CLUSTER_MAX_LISTENERS; i++)
		w->routes[i].chan = w->routes[i].chan_peer = -1;
	for (i = 0; i < c->nlisteners; i++) {
		struct route *r = &w->routes[i];

		cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
		r->w = w;
		r->lid = (uint32_t)i;
		r->bound = r->listening = 1;
		r->chan = sv[0];
		r->chan_peer = sv[1];
	}
	c->workers[c->nworkers++] = w;
	c->slots[slot].c = c;
	c->slots[slot].index = slot;
	c->slots[slot].active = w;
	c->slots[slot].state = SLOT_ACTIVE;
	if (c->target < slot + 1)
		c->target = slot + 1;
	return w;
}

struct cluster *fake_cluster_listening(const char *const *words)
{
	struct cluster *c = fake_cluster_new(words);
	int i;

	fake_listener_add(c, policy_by_name("shared"), AF_INET, SOCK_DGRAM);
	slots_start(c);
	fake_turn(c);
	for (i = 0; i < c->target; i++)
		fake_listens(c, c->slots[i].active);
	return c;
}

struct state_in *fake_state_trip(struct cluster *c, fake_state_saver *const *savers)
{
	struct state_out *o = state_out_new("test", 5);
	struct state_in *in;
	char why[256];
	int fd;

	cr_assert_not_null(o);
	for (; *savers; savers++)
		cr_assert_eq((*savers)(c, o), 0);
	fd = state_out_finish(o);
	cr_assert_geq(fd, 0);
	state_out_free(o);
	in = state_in_read(fd, why, sizeof(why));
	cr_assert_not_null(in, "%s", why);
	close(fd);
	return in;
}
