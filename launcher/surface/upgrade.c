/*
 * upgrade.c - cluster-run upgraded in place (upgrade.h has the sequence
 * and every module's part in it).
 *
 * Three things make it safe to try:
 *   - the probe (upgrade_probe.c): before anything is saved, PATH is run
 *     once as `PATH --upgrade-probe ARGS`, which runs a start's checks
 *     with our arguments and must answer with its state format, version
 *     and shim protocol.  A binary that exits at once, an older
 *     cluster-run without upgrades, a script, a binary for another
 *     machine, a --config it would refuse: refused, with one line, and
 *     nothing happened.
 *   - the fallback: the old binary is opened (/proc/self/exe, which stays
 *     readable when the package manager replaced or removed the file) and
 *     travels with the state.  A new image that cannot take the state, or
 *     whose start checks fail, executes it back with the same state and
 *     the reason; the old image takes its own state back and answers the
 *     upgrade as failed.  The pid never changes, so the workers never see
 *     any of it.
 *   - the fd list: the state's last record names every fd it carries, so
 *     whoever gives the state on clears FD_CLOEXEC on all of them again
 *     (restoring sets it, so a later spawn does not leak them).
 */
#include "surface/upgrade.h"
#include "cluster.h"
#include "base/log.h"
#include "base/logring.h"
#include "base/loop.h"
#include "base/program.h"
#include "base/state.h"
#include "net/listener.h"
#include "policy/policy_state.h"
#include "mechanism/seccomp_reuseport.h"
#include "supervise/accept_rate.h"
#include "supervise/follow.h"
#include "supervise/guard.h"
#include "supervise/health.h"
#include "supervise/lifecycle.h"
#include "supervise/release.h"
#include "supervise/rollout.h"
#include "supervise/slots_state.h"
#include "supervise/supervisor.h"
#include "supervise/worker.h"
#include "surface/control.h"
#include "surface/reread.h"
#include "surface/upgrade_crash.h"
#include "surface/upgrade_probe.h"
#include "wire/protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef CLUSTER_RUN_VERSION
#define CLUSTER_RUN_VERSION "unknown"
#endif

#define TEXT_MAX (2 * PATH_MAX + 1024)

extern char **environ;

static struct {
	char **argv;                    /* as main got them: the exec's argv */
	char **old_argv;                /* the old image's (a give-back's) */
	char self[PATH_MAX];            /* the binary we were started from */
	struct upgrade_info info;
	char path[PATH_MAX];            /* the binary an upgrade goes to */
	int said_reloading;             /* systemd heard RELOADING=1 (before
					 * the exec, in the old image) */
	/* the new image, adopting */
	int adopting;
	int state_fd;
	int fallback_fd;
	char old_path[PATH_MAX];
	char new_version[64];
	int64_t begun_us;               /* save began (CLOCK_MONOTONIC) */
	struct state_in *in;            /* the state read at start (preload) */
	int fallback_mode;              /* the old binary taking its state back */
	char refused[1024];             /* ... and why the new one gave it back */
	char last_line[1024];           /* the new image's last message before
					 * it adopted (a failed start check) */
} up = { .state_fd = -1, .fallback_fd = -1,
	 .info = { .version = CLUSTER_RUN_VERSION } };

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void preload(void);

void upgrade_remember(int argc, char **argv)
{
	ssize_t n;

	(void)argc;
	up.argv = argv;
	n = readlink("/proc/self/exe", up.self, sizeof(up.self) - 1);
	if (n < 0)
		snprintf(up.self, sizeof(up.self), "%s", argv[0]);
	else
		up.self[n] = '\0';
	preload();
}

int upgrade_adopting(void)
{
	return up.adopting;
}

const struct upgrade_info *upgrade_info(void)
{
	return &up.info;
}

int upgrade_adopt_fallback(void)
{
	return up.fallback_mode;
}

/* --- the end of an upgrade, in whichever image runs then --- */

static void finished(struct cluster *c, int ok, const char *text)
{
	if (ok) {
		up.info.upgrades++;
		up.info.last = time(NULL);
		/* rare and worth a line without -v, like a reload's end */
		log_warnx("%s", text);
	} else {
		up.info.failed++;
		log_warnx("%s", text);
	}
	up.info.running = 0;
	/* READY=1 answers a RELOADING=1: a probe's refusal said neither */
	if (c->life && up.said_reloading)
		lifecycle_upgrade_done(c, ok);
	up.said_reloading = 0;
	if (c->hooks.upgrade_finished)
		c->hooks.upgrade_finished(c, ok, text);
}

static void probe_refused(struct cluster *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void probe_refused(struct cluster *c, const char *fmt, ...)
{
	char why[TEXT_MAX], text[2 * TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(text, sizeof(text), "upgrade to %s refused: %s; still running %s", up.path, why,
		 CLUSTER_RUN_VERSION);
	finished(c, 0, text);
}

/* --- the old image: save and exec --- */

static void cluster_save(struct cluster *c, struct state_out *o)
{
	state_rec(o, "cluster");
	state_i64(o, "target", c->target);
	state_u64(o, "spawned", c->spawned);
	state_u64(o, "generation", c->generation);
	state_u64(o, "rolled", c->rolled);
	state_i64(o, "roll_failed", c->roll_failed);
	state_i64(o, "roll_paused", c->roll_paused);
	state_i64(o, "started_up", c->started_up);
	state_i64(o, "start_failed", c->start_failed);
	state_i64(o, "exit_status", c->exit_status);
	state_i64(o, "started_ms", c->started_ms);
	state_u64(o, "idle_closed", c->idle_closed);
	/* the limit workers get back (main.c raised ours; the new image
	 * finds the raised one) */
	state_u64(o, "nofile_cur", c->nofile.rlim_cur);
	state_u64(o, "nofile_max", c->nofile.rlim_max);
	/* what the workers run was checked when they started: the new image
	 * takes it from here, not from a PROGRAM a deploy may have removed */
	state_rec(o, "program");
	state_str(o, "path", c->prog->path);
	state_i64(o, "via", c->prog->via);
	state_i64(o, "setuid", c->prog->setuid);
	state_str(o, "shim_blind", c->prog->shim_blind);
}

static void cluster_restore(struct cluster *c, const struct state_in *in)
{
	const struct state_rec *r = state_first(in, "cluster");

	if (!r)
		return;
	c->target = (int)rec_i64(r, "target", c->target);
	c->spawned = rec_u64(r, "spawned", c->spawned);
	c->generation = (unsigned)rec_u64(r, "generation", c->generation);
	c->rolled = (unsigned)rec_u64(r, "rolled", c->rolled);
	c->roll_failed = (int)rec_i64(r, "roll_failed", 0);
	c->roll_paused = (int)rec_i64(r, "roll_paused", 0);
	c->started_up = (int)rec_i64(r, "started_up", 0);
	c->start_failed = (int)rec_i64(r, "start_failed", 0);
	c->exit_status = (int)rec_i64(r, "exit_status", 0);
	c->started_ms = rec_i64(r, "started_ms", c->started_ms);
	c->idle_closed = rec_u64(r, "idle_closed", 0);
	c->nofile.rlim_cur = rec_u64(r, "nofile_cur", c->nofile.rlim_cur);
	c->nofile.rlim_max = rec_u64(r, "nofile_max", c->nofile.rlim_max);
}

typedef int save_fn(struct cluster *c, struct state_out *o);
typedef int restore_fn(struct cluster *c, const struct state_in *in);

/* The order of upgrade.h.  Each module writes its own kinds of record and
 * reads them back; a restore sees every module before it restored. */
static const struct {
	const char *name;
	save_fn *save;
	restore_fn *restore;
} modules[] = {
	{ "options", reread_save, reread_restore },
	{ "releases", release_save, release_restore },
	{ "listeners", listener_save, listener_restore },
	{ "workers", worker_save, worker_restore },
	{ "channels and policies", policy_state_save, policy_state_restore },
	{ "seccomp sockets", seccomp_reuseport_save, seccomp_reuseport_restore },
	{ "slots", slots_save, slots_restore },
	{ "rollout", rollout_save, rollout_restore },
	{ "lifecycle", lifecycle_save, lifecycle_restore },
	{ "health", health_save, health_restore },
	{ "accept rates", accept_rate_save, accept_rate_restore },
	{ "followed processes", follow_save, follow_restore },
	{ "guard", guard_save, guard_restore },
	{ "supervisor", supervisor_save, supervisor_restore },
	{ "log rings", logring_save, logring_restore },
	{ "control", control_save, control_restore },
};

/* The shim protocol the workers speak: this build's, or the test's
 * stand-in (UPGRADE_TEST_PROTOCOL_ENV).  An image that adopted older
 * shims rolls them at once; an upgrade during that roll writes this
 * build's protocol for the workers not yet replaced too (not told apart:
 * their messages must be understood anyway, see upgrade_adopt). */
static unsigned workers_protocol(void)
{
	const char *t = getenv(UPGRADE_TEST_PROTOCOL_ENV);

	return t && *t ? (unsigned)strtoul(t, NULL, 10) : CLUSTER_PROTO_VERSION;
}

/* The state, in a memfd; -1 logged (nothing changed).  *kept: the
 * writer, whose fd list gives the fds their close-on-exec back when the
 * exec fails (not a re-read of the state, which could fail itself). */
static int save_all(struct cluster *c, int fallback_fd, struct state_out **kept)
{
	struct state_out *o = state_out_new(CLUSTER_RUN_VERSION, workers_protocol());
	const int *fds;
	size_t i, n;
	int fd;

	if (!o) {
		log_warnx("upgrade: out of memory");
		return -1;
	}
	state_rec(o, "upgrade");
	state_str(o, "old_path", up.self);
	state_str(o, "new_path", up.path);
	state_fd(o, "fallback", fallback_fd);
	state_i64(o, "begun_us", up.begun_us);
	state_u64(o, "upgrades", up.info.upgrades);
	state_u64(o, "failed", up.info.failed);
	state_i64(o, "last", (int64_t)up.info.last);
	state_str(o, "from", up.info.from);
	state_i64(o, "last_us", (int64_t)(up.info.last_ms * 1000.0));
	{
		char key[32];
		size_t k;

		/* what the state goes back with, whatever argv the new
		 * binary got (a wrapper may add some) */
		for (k = 0; up.argv[k]; k++) {
			snprintf(key, sizeof(key), "arg%zu", k);
			state_str(o, key, up.argv[k]);
		}
		state_u64(o, "argc", k);
	}
	cluster_save(c, o);
	for (i = 0; i < sizeof(modules) / sizeof(modules[0]); i++)
		if (modules[i].save(c, o) < 0) {
			log_warnx("upgrade: saving the %s failed", modules[i].name);
			state_out_free(o);
			return -1;
		}
	/* the list that lets the fallback give every fd on (file comment) */
	fds = state_out_fds(o, &n);
	state_rec(o, "fds");
	state_u64(o, "n", n);
	{
		char key[32];

		for (i = 0; i < n; i++) {
			snprintf(key, sizeof(key), "f%zu", i);
			state_i64(o, key, fds[i]);
		}
	}
	fd = state_out_finish(o);
	if (fd < 0) {
		log_warn("upgrade: writing the state");
		state_out_free(o);
		return -1;
	}
	fds = state_out_fds(o, &n);
	for (i = 0; i < n; i++)
		state_cloexec(fds[i], 0);
	*kept = o;
	return fd;
}

/* Give every fd the state names back its close-on-exec (the exec failed). */
static void keep_fds(const struct state_in *in, int keep)
{
	const struct state_rec *r = state_first(in, "fds");
	uint64_t i, n;
	char key[32];
	int64_t fd;

	if (!r)
		return;
	n = rec_u64(r, "n", 0);
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "f%llu", (unsigned long long)i);
		fd = rec_i64(r, key, -1);
		if (fd >= 0)
			state_cloexec((int)fd, !keep);
	}
}

static void exec_new(struct cluster *c, const char *version)
{
	char text[TEXT_MAX], num[32];
	struct state_out *o = NULL;
	const int *fds;
	int fd, fallback, err;
	size_t i, n;

	lifecycle_upgrade_started(c);
	up.said_reloading = 1;
	log_warnx("upgrading in place: executing %s (version %s)", up.path, version);
	up.begun_us = now_us();
	fallback = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fallback < 0) {
		snprintf(text, sizeof(text),
			 "upgrade to %s failed: cannot open the running binary to fall back to: %s; "
			 "still running %s", up.path, strerror(errno), CLUSTER_RUN_VERSION);
		finished(c, 0, text);
		return;
	}
	fd = save_all(c, fallback, &o);
	if (fd < 0) {
		close(fallback);
		snprintf(text, sizeof(text), "upgrade to %s failed: the state could not be saved "
			 "(see the line above); still running %s", up.path, CLUSTER_RUN_VERSION);
		finished(c, 0, text);
		return;
	}
	snprintf(num, sizeof(num), "%d", fd);
	setenv(UPGRADE_STATE_ENV, num, 1);
	snprintf(num, sizeof(num), "%d", fallback);
	setenv(UPGRADE_OLD_ENV, num, 1);
	execve(up.path, up.argv, environ);
	err = errno;
	/* still us: give back what the exec would have taken */
	unsetenv(UPGRADE_STATE_ENV);
	unsetenv(UPGRADE_OLD_ENV);
	fds = state_out_fds(o, &n);
	for (i = 0; i < n; i++)
		state_cloexec(fds[i], 1);
	state_out_free(o);
	close(fd);
	close(fallback);
	snprintf(text, sizeof(text), "upgrade to %s failed: exec: %s; still running %s", up.path,
		 strerror(err), CLUSTER_RUN_VERSION);
	finished(c, 0, text);
}

/* PATH --upgrade-probe, then our own arguments: the probe runs every
 * check of a start with them (the --config file as it is now, the env
 * files, --log-dir, the shim beside it, --user...), so what would make
 * the new image fail its start refuses the upgrade before anything
 * happened.  Built once; argv lives as long as we do. */
static char **probe_argv(void)
{
	static char **pargv;
	size_t n = 0, i;

	if (pargv)
		return pargv;
	while (up.argv[n])
		n++;
	pargv = calloc(n + 2, sizeof(*pargv));
	if (!pargv)
		return NULL;
	pargv[0] = up.path;
	pargv[1] = (char *)UPGRADE_PROBE_ARG;
	for (i = 1; i < n; i++)
		pargv[i + 1] = up.argv[i];
	return pargv;
}

/* upgrade_probe.c's verdict. */
static void probe_done(void *data, int ok, const char *version, const char *why)
{
	struct cluster *c = data;

	if (!ok)
		probe_refused(c, "%s", why);
	else if (c->stopping)
		/* a stop came while the probe ran: the stop wins (the state
		 * does not carry a stop under way) */
		probe_refused(c, "cluster-run began to stop meanwhile");
	else
		exec_new(c, version);
}

/* Why an upgrade cannot start now (0 when it can), into why. */
static int refuse_now(struct cluster *c, const char *path, char *why, size_t len)
{
	if (c->stopping) {
		snprintf(why, len, "cluster-run is stopping");
		return -1;
	}
	if (up.info.running) {
		snprintf(why, len, "an upgrade to %s is under way", up.path);
		return -1;
	}
	if (path[0] != '/') {
		/* the exec happens in the master's directory, not the caller's */
		snprintf(why, len, "%s: give the new binary's absolute path", path);
		return -1;
	}
	if (access(path, X_OK) < 0) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int upgrade_start(struct cluster *c, const char *path, char *why, size_t len)
{
	if (!path || !*path)
		path = up.self;
	if (refuse_now(c, path, why, len) < 0) {
		/* said in the log and counted, whoever asked */
		log_warnx("upgrade refused: %s", why);
		up.info.failed++;
		return -1;
	}
	snprintf(up.path, sizeof(up.path), "%s", path);
	if (upgrade_probe_run(c->loop, up.path, probe_argv(), probe_done, c) < 0) {
		snprintf(why, len, "running %s %s: %s", up.path, UPGRADE_PROBE_ARG, strerror(errno));
		log_warnx("upgrade refused: %s", why);
		up.info.failed++;
		return -1;
	}
	up.info.running = 1;
	log_event("upgrade: asking %s whether it can take over", up.path);
	return 0;
}

static void on_signal(struct cluster *c)
{
	char why[TEXT_MAX];

	log_warnx("USR2: upgrading in place to %s", up.self);
	upgrade_start(c, NULL, why, sizeof(why));      /* a refusal is logged */
}

void upgrade_hooks(struct cluster *c)
{
	c->hooks.upgrade_requested = on_signal;
}

/* --- the new image --- */

/* The old image's argv from the upgrade record (kept for the process's
 * life), for a give-back; NULL when it has none. */
static void old_argv(const struct state_rec *r)
{
	uint64_t n = rec_u64(r, "argc", 0), i;
	char key[32], **v;
	const char *a;

	if (n == 0 || n > 1u << 16 || !(v = calloc(n + 1, sizeof(*v))))
		return;
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "arg%llu", (unsigned long long)i);
		a = rec_str(r, key, NULL);
		if (!a || !(v[i] = strdup(a))) {
			while (i > 0)
				free(v[--i]);
			free(v);
			return;
		}
	}
	up.old_argv = v;
}

/* From here until the last module is restored, a crash gives the state
 * back too (upgrade_crash.c): the fds the state names, its own and the
 * old binary's stay open across that exec. */
static void arm_crash_way_back(const struct state_in *in)
{
	const struct state_rec *r = state_first(in, "fds");
	uint64_t i, n = r ? rec_u64(r, "n", 0) : 0;
	int *fds = n && n < 1u << 16 ? calloc(n, sizeof(*fds)) : NULL;
	char key[32];
	size_t k = 0;

	for (i = 0; fds && i < n; i++) {
		snprintf(key, sizeof(key), "f%llu", (unsigned long long)i);
		if (rec_i64(r, key, -1) >= 0)
			fds[k++] = (int)rec_i64(r, key, -1);
	}
	upgrade_crash_arm(up.state_fd, up.fallback_fd, up.old_argv ? up.old_argv : up.argv,
			  fds, k);
	free(fds);
}

/* The new image, before any start check: take the state and the way
 * back out of the environment (a worker spawned later must not inherit
 * them), so that a failing check can give the state back. */
static void preload(void)
{
	const char *env = getenv(UPGRADE_STATE_ENV), *old = getenv(UPGRADE_OLD_ENV);
	const struct state_rec *r;
	char why[512];

	if (!env)
		return;
	up.adopting = 1;
	log_capture(up.last_line, sizeof(up.last_line));
	up.state_fd = atoi(env);
	up.fallback_fd = old ? atoi(old) : -1;
	up.fallback_mode = getenv(UPGRADE_FALLBACK_ENV) != NULL;
	if (getenv(UPGRADE_REFUSED_ENV))
		snprintf(up.refused, sizeof(up.refused), "%s", getenv(UPGRADE_REFUSED_ENV));
	unsetenv(UPGRADE_STATE_ENV);
	unsetenv(UPGRADE_OLD_ENV);
	unsetenv(UPGRADE_FALLBACK_ENV);
	unsetenv(UPGRADE_REFUSED_ENV);
	up.in = state_in_read(up.state_fd, why, sizeof(why));
	if (!up.in)
		upgrade_give_back("%s", why);
	r = state_first(up.in, "upgrade");
	if (!r)
		upgrade_give_back("the state has no upgrade record");
	snprintf(up.old_path, sizeof(up.old_path), "%s", rec_str(r, "old_path", ""));
	up.begun_us = rec_i64(r, "begun_us", 0);
	up.info.upgrades = (unsigned)rec_u64(r, "upgrades", 0);
	up.info.failed = (unsigned)rec_u64(r, "failed", 0);
	up.info.last = (time_t)rec_i64(r, "last", 0);
	up.info.last_ms = (double)rec_i64(r, "last_us", 0) / 1000.0;
	snprintf(up.info.from, sizeof(up.info.from), "%s", rec_str(r, "from", ""));
	snprintf(up.path, sizeof(up.path), "%s", rec_str(r, "new_path", up.self));
	old_argv(r);
	if (!up.fallback_mode)
		arm_crash_way_back(up.in);
	if (up.fallback_mode && up.old_path[0])
		/* the old binary's file may be gone or replaced: the next
		 * upgrade's default is the path it was started from */
		snprintf(up.self, sizeof(up.self), "%s", up.old_path);
}

void upgrade_start_failed(int status)
{
	char line[sizeof(up.last_line)];

	snprintf(line, sizeof(line), "%s", up.last_line);
	log_capture(NULL, 0);
	upgrade_give_back("the new binary's start checks failed (it would exit with status %d%s%s)",
			  status, line[0] ? ": " : "", line);
}

int upgrade_program(struct program *prog)
{
	static char blind[256];
	const struct state_rec *r = up.in ? state_first(up.in, "program") : NULL;

	if (!r)
		return -1;
	snprintf(prog->path, sizeof(prog->path), "%s", rec_str(r, "path", prog->path));
	prog->via = (enum via)rec_i64(r, "via", prog->via);
	prog->setuid = (int)rec_i64(r, "setuid", prog->setuid);
	if (rec_has(r, "shim_blind")) {
		snprintf(blind, sizeof(blind), "%s", rec_str(r, "shim_blind", ""));
		prog->shim_blind = blind;
	} else {
		prog->shim_blind = NULL;
	}
	return 0;
}


/* Hand the state back to the old binary (it takes it, and answers the
 * upgrade as failed with why).  Does not return. */
void upgrade_give_back(const char *fmt, ...)
{
	char why[TEXT_MAX], num[32];
	struct state_in *in;
	va_list ap;
	char tmp[128];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (upgrade_adopt_fallback()) {
		log_warnx("upgrade: %s, and the old binary cannot take its own state back "
			  "either: cluster-run exits (its guard stops the workers)", why);
		_exit(EXIT_FAILURE_);
	}
	log_warnx("upgrade: %s: giving the state back to %s", why,
		  up.old_path[0] ? up.old_path : "the old binary");
	if (up.state_fd < 0 || up.fallback_fd < 0) {
		log_warnx("upgrade: no state or no old binary to go back to: cluster-run exits "
			  "(its guard stops the workers)");
		_exit(EXIT_FAILURE_);
	}
	in = up.in ? up.in : state_in_read(up.state_fd, tmp, sizeof(tmp));
	if (in)
		keep_fds(in, 1);
	state_cloexec(up.state_fd, 0);
	state_cloexec(up.fallback_fd, 0);
	snprintf(num, sizeof(num), "%d", up.state_fd);
	setenv(UPGRADE_STATE_ENV, num, 1);
	snprintf(num, sizeof(num), "%d", up.fallback_fd);
	setenv(UPGRADE_OLD_ENV, num, 1);
	setenv(UPGRADE_REFUSED_ENV, why, 1);
	setenv(UPGRADE_FALLBACK_ENV, "1", 1);
	syscall(SYS_execveat, up.fallback_fd, "", up.old_argv ? up.old_argv : up.argv, environ,
		AT_EMPTY_PATH);
	log_warn("upgrade: executing the old binary back");
	_exit(EXIT_FAILURE_);
}


void upgrade_adopt(struct cluster *c)
{
	const char *refused = up.refused[0] ? up.refused : NULL;
	struct state_in *in = up.in;
	char text[TEXT_MAX];
	int fallback = upgrade_adopt_fallback();
	size_t i;
	int workers;

	log_capture(NULL, 0);
	up.said_reloading = 1;          /* by the old image, before its exec */
	if (!in)
		upgrade_give_back("no state");
	if (!fallback && getenv(UPGRADE_TEST_FAIL_ENV) &&
	    strcmp(getenv(UPGRADE_TEST_FAIL_ENV), "1") == 0)
		upgrade_give_back("refused by %s=1 (a test)", UPGRADE_TEST_FAIL_ENV);
	/* the old binary taking its state back wrote it, for the shims it
	 * already served: only a new image checks */
	if (!fallback && state_in_protocol(in) > CLUSTER_PROTO_VERSION)
		upgrade_give_back("the workers' shims speak protocol %u, newer than this build's %d",
				  state_in_protocol(in), CLUSTER_PROTO_VERSION);
	cluster_restore(c, in);
	for (i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
		if (modules[i].restore(c, in) < 0)
			upgrade_give_back("restoring the %s failed", modules[i].name);
		if (!fallback && !strcmp(modules[i].name, "workers") &&
		    getenv(UPGRADE_TEST_CRASH_ENV) && !strcmp(getenv(UPGRADE_TEST_CRASH_ENV), "1"))
			raise(SIGSEGV);
	}
	upgrade_crash_disarm();
	upgrade_hooks(c);
	/* from here on this image runs the cluster: every fd the state named
	 * and no module took (it should not happen) leaks into no worker */
	keep_fds(in, 0);
	up.in = NULL;
	if (up.fallback_fd >= 0)
		close(up.fallback_fd);
	up.fallback_fd = -1;
	close(up.state_fd);
	up.state_fd = -1;
	workers = c->nworkers;
	if (fallback) {
		snprintf(text, sizeof(text), "upgrade to %s failed: %s; still running %s (pid %d, "
			 "%d worker%s kept)", up.path, refused ? refused : "the new binary gave "
			 "the state back", CLUSTER_RUN_VERSION, (int)getpid(), workers,
			 workers == 1 ? "" : "s");
		state_in_free(in);
		finished(c, 0, text);
		return;
	}
	up.info.last_ms = (double)(now_us() - up.begun_us) / 1000.0;
	snprintf(up.info.from, sizeof(up.info.from), "%s", state_in_version(in));
	snprintf(text, sizeof(text), "upgraded in place: %s -> %s (%s) in %.1f ms, %d worker%s "
		 "kept (pid %d)", up.info.from, CLUSTER_RUN_VERSION, up.self, up.info.last_ms,
		 workers, workers == 1 ? "" : "s", (int)getpid());
	if (state_in_protocol(in) < CLUSTER_PROTO_VERSION) {
		/* The workers get the new shim only by starting again: roll
		 * them.  Meanwhile the old shims' messages must be understood:
		 * a build that changes the protocol must make shim_peer.c take
		 * the old version too (today it takes its own only, and there
		 * has been one version since upgrades exist). */
		log_warnx("upgrade: the workers' shims speak protocol %u, this build %d: "
			  "rolling the workers onto the new shim", state_in_protocol(in),
			  CLUSTER_PROTO_VERSION);
		supervisor_reload(c);
	}
	state_in_free(in);
	finished(c, 1, text);
}
