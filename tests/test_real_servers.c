/*
 * test_real_servers.c - unmodified servers from Debian under cluster-run:
 * socat (fork per connection), busybox httpd (fork per connection, CGI),
 * nginx (its own master and worker processes), lighttpd (one event loop)
 * and memcached (threads, text protocol).  Each runs with 2-3 workers under
 * rr and shared: a few hundred short connections, every one answered, more
 * than one worker serving under rr (at least one under shared), then
 * SIGTERM: exit status 0, no process of any worker's group left, the port
 * closed.  A program that is not installed is skipped with a message.
 *
 * These programs take a fixed port, not port 0, so the test picks one that
 * is free now (bind 127.0.0.1:0, read it, close) and checks that
 * cluster-run announces that same port.  Config files and documents live
 * in a mkdtemp() directory removed by the suite's .fini.
 *
 * Which worker answered: an X-Worker header carrying CLUSTER_WORKER_ID
 * where the program can say it (socat's and busybox's CGI children inherit
 * the environment; lighttpd reads env.* in its config), else a pid the
 * server reports (nginx's $pid is an nginx worker, whose process group is
 * the cluster-run worker's pid; memcached's "STAT pid" is the worker).
 */
#include "harness.h"
#include "real_programs.h"
#include "tmpdir.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REQUESTS 300
#define CLIENTS 4
#define MAX_WORKERS 16

static char tmpdir[64];

TestSuite(real_servers, .fini = tmpdir_fini, .timeout = 120);

/* A directory for this test's files.  0755: nginx's workers run as nobody
 * when started as root. */
static const char *make_tmpdir(void)
{
	tmpdir_new(tmpdir, "cr-real");
	cr_assert(chmod(tmpdir, 0755) == 0);
	return tmpdir;
}

/* What a run talks to, and how it tells which worker answered. */
struct target {
	int port;
	pid_t workers[MAX_WORKERS];     /* cluster-run's children, before the load */
	int nworkers;
	/* One request: the answer into buf; its length, or -1. */
	int (*ask)(int port, char *buf, size_t cap, int timeout_ms);
	/* Which worker answered, 0..MAX_WORKERS-1, or -1. */
	int (*worker)(const struct target *t, const char *resp);
};

static int header_worker(const struct target *t, const char *resp)
{
	(void)t;
	return response_worker(resp);
}

/* The index in t->workers of the worker whose process group pid is in. */
static int worker_of_pid(const struct target *t, pid_t pid)
{
	pid_t group = getpgid(pid);
	int i;

	for (i = 0; i < t->nworkers; i++)
		if (t->workers[i] == pid || t->workers[i] == group)
			return i;
	return -1;
}

static int body_pid_worker(const struct target *t, const char *resp)
{
	char v[32];

	if (!body_value(resp, "pid", v, sizeof(v)))
		return -1;
	return worker_of_pid(t, (pid_t)atoi(v));
}

static int stat_pid_worker(const struct target *t, const char *resp)
{
	const char *p = strstr(resp, "STAT pid ");

	return p ? worker_of_pid(t, (pid_t)atoi(p + 9)) : -1;
}

struct load_run {
	const struct target *t;
	atomic_int next;                /* requests handed out */
	atomic_long ok, failed, unknown;
	atomic_long per_worker[MAX_WORKERS];
	atomic_int first_errno;
	char first_failure[512];        /* written once, by the first failure */
};

static void *run_thread(void *arg)
{
	struct load_run *r = arg;
	char buf[8192];

	while (atomic_fetch_add(&r->next, 1) < REQUESTS) {
		int w, zero = 0;

		memset(buf, 0, sizeof(buf));
		if (r->t->ask(r->t->port, buf, sizeof(buf), 5000) < 0) {
			if (atomic_compare_exchange_strong(&r->first_errno, &zero,
							   errno ? errno : -1))
				snprintf(r->first_failure, sizeof(r->first_failure),
					 "%.500s", buf);
			atomic_fetch_add(&r->failed, 1);
			continue;
		}
		atomic_fetch_add(&r->ok, 1);
		w = r->t->worker(r->t, buf);
		if (w >= 0 && w < MAX_WORKERS)
			atomic_fetch_add(&r->per_worker[w], 1);
		else
			atomic_fetch_add(&r->unknown, 1);
	}
	return NULL;
}

/* REQUESTS short connections from CLIENTS threads: every one answered.
 * Returns how many workers served. */
static int all_answered(struct cr *cr, const struct target *t)
{
	static struct load_run r;
	pthread_t th[CLIENTS];
	long failed, unknown;
	char split[128] = "";
	int i, serving = 0;

	memset(&r, 0, sizeof(r));
	r.t = t;
	for (i = 0; i < CLIENTS; i++)
		cr_assert(pthread_create(&th[i], NULL, run_thread, &r) == 0);
	for (i = 0; i < CLIENTS; i++)
		pthread_join(th[i], NULL);
	failed = atomic_load(&r.failed);
	unknown = atomic_load(&r.unknown);
	cr_assert_eq(failed, 0, "%ld of %d requests failed, the first with %s; "
		     "it read:\n%s\ncluster-run's log:\n%s", failed, REQUESTS,
		     strerror(atomic_load(&r.first_errno)), r.first_failure, cr->log);
	cr_assert_eq(unknown, 0, "%ld answers did not say which worker served", unknown);
	for (i = 0; i < MAX_WORKERS; i++)
		serving += atomic_load(&r.per_worker[i]) > 0;
	for (i = 0; i < t->nworkers && i < 8; i++)
		snprintf(split + strlen(split), sizeof(split) - strlen(split), " %ld",
			 (long)atomic_load(&r.per_worker[i]));
	cr_log_info("port %d: answers per worker:%s", t->port, split);
	return serving;
}

/* Start PROGRAM under nworkers workers with policy; wait until every worker
 * listens on port; fill t->workers. */
static struct cr *start_on(struct target *t, int port, int nworkers, const char *policy,
			   const char *const *program)
{
	const char *argv[48];
	char n[8];
	struct cr *cr;
	int i = 0, got;

	snprintf(n, sizeof(n), "%d", nworkers);
	argv[i++] = "-n";
	argv[i++] = n;
	argv[i++] = "-p";
	argv[i++] = policy;
	argv[i++] = "--log-prefix";
	argv[i++] = "--";
	while (*program && i < 47)
		argv[i++] = *program++;
	argv[i] = NULL;
	cr = cr_startv(NULL, argv);
	got = cr_ready_port(cr, 0, 20000);
	cr_assert_eq(got, port, "expected port %d announced, got %d:\n%s", port, got, cr->log);
	t->port = port;
	t->nworkers = cr_children(cr, t->workers, MAX_WORKERS);
	cr_assert_eq(t->nworkers, nworkers, "%d workers running, expected %d:\n%s",
		     t->nworkers, nworkers, cr->log);
	return cr;
}

static int group_alive(pid_t pgid)
{
	char path[64];
	FILE *f;
	DIR *d;
	struct dirent *e;
	int alive = 0;

	d = opendir("/proc");
	if (!d)
		return 0;
	while (!alive && (e = readdir(d))) {
		int pid, group;
		char state;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/stat", e->d_name);
		if (!(f = fopen(path, "r")))
			continue;
		/* pid (comm) state ppid pgrp: comm may hold spaces, not ')' here */
		if (fscanf(f, "%d (%*[^)]) %c %*d %d", &pid, &state, &group) == 3 &&
		    group == (int)pgid && state != 'Z' && state != 'X')
			alive = 1;
		fclose(f);
	}
	closedir(d);
	return alive;
}

struct groups {
	const pid_t *pids;
	int n;
};

static int groups_gone(void *arg)
{
	const struct groups *g = arg;
	int i;

	for (i = 0; i < g->n; i++)
		if (pid_alive(g->pids[i]) || group_alive(g->pids[i]))
			return 0;
	return 1;
}

/* SIGTERM: status 0, every process of every worker's group gone (each
 * worker leads its own group: prefork children, CGI scripts, nginx's
 * workers are in it), and nothing answers on the port any more. */
static void stops_cleanly(struct cr *cr, const struct target *t)
{
	struct groups g = { t->workers, t->nworkers };
	int st = cr_stop(cr, SIGTERM, 20000);

	cr_assert(st >= 0, "cluster-run did not exit after SIGTERM:\n%s", cr->log);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "wait status 0x%x:\n%s", st, cr->log);
	cr_assert(wait_until(groups_gone, &g, 3000),
		  "a process of a worker's group outlived cluster-run:\n%s", cr->log);
	cr_assert(!port_accepts(t->port), "port %d still accepts connections", t->port);
	cr_assert(port_free(t->port, 0), "port %d still bound", t->port);
	cr_assert(!strstr(cr->log, "cluster-run shim["),
		  "the shim warned (a fallback to plain libc?):\n%s", cr->log);
}

static void assert_serving(const char *policy, int serving, int nworkers, struct cr *cr)
{
	if (!strcmp(policy, "rr"))
		cr_assert_eq(serving, nworkers, "rr: %d of %d workers served:\n%s",
			     serving, nworkers, cr->log);
	else
		cr_assert_geq(serving, 1);
}

/* The common run: start program, every request answered, enough workers
 * serving for the policy, clean stop. */
static void serve_and_stop(const char *policy, int nworkers, int port,
			   const char *const *program, struct target *t)
{
	struct cr *cr = start_on(t, port, nworkers, policy, program);
	int serving = all_answered(cr, t);

	assert_serving(policy, serving, nworkers, cr);
	stops_cleanly(cr, t);
}

/* socat: TCP-LISTEN with fork.  The worker (socat's listening process)
 * accepts, forks, and its child runs the reply script. */
static void socat_fork(const char *policy)
{
	struct target t = { .ask = http_ask, .worker = header_worker };
	struct real_command c;
	int port;

	if (!have_program("socat"))
		cr_skip_test("socat is not installed");
	make_tmpdir();
	port = free_port();
	serve_and_stop(policy, 3, port, real_socat_fork_command(&c, tmpdir, port, REAL_X_WORKER),
		       &t);
}

Test(real_servers, socat_fork_rr) { socat_fork("rr"); }
Test(real_servers, socat_fork_shared) { socat_fork("shared"); }

/* busybox httpd: forks a child per connection, which runs the CGI that
 * names the worker. */
static void busybox_httpd(const char *policy)
{
	struct target t = { .ask = http_ask, .worker = header_worker };
	struct real_command c;
	int port;

	if (!have_program("busybox"))
		cr_skip_test("busybox is not installed");
	make_tmpdir();
	port = free_port();
	serve_and_stop(policy, 3, port,
		       real_busybox_httpd_command(&c, tmpdir, port, REAL_X_WORKER), &t);
}

Test(real_servers, busybox_httpd_rr) { busybox_httpd("rr"); }
Test(real_servers, busybox_httpd_shared) { busybox_httpd("shared"); }

/* nginx: each cluster-run worker is an nginx master with two nginx
 * workers of its own, all sharing the listener the master bound.  nginx
 * cannot read the environment in its config, so the body names the nginx
 * worker's pid, whose process group is the cluster-run worker.  The `sh -c
 * ... exec` wrapper that names the pid file must pass the cluster on to
 * the nginx it execs. */
static void nginx(const char *policy)
{
	struct target t = { .ask = http_ask, .worker = body_pid_worker };
	struct real_command c;
	int port;

	if (!have_program("nginx"))
		cr_skip_test("nginx is not installed");
	make_tmpdir();
	port = free_port();
	serve_and_stop(policy, 2, port, real_nginx_command(&c, tmpdir, port), &t);
}

Test(real_servers, nginx_rr) { nginx("rr"); }
Test(real_servers, nginx_shared) { nginx("shared"); }

/* lighttpd: one process, one event loop; each worker names itself in a
 * response header. */
static void lighttpd(const char *policy)
{
	struct target t = { .ask = http_ask, .worker = header_worker };
	struct real_command c;
	int port;

	if (!have_program("lighttpd"))
		cr_skip_test("lighttpd is not installed");
	make_tmpdir();
	port = free_port();
	serve_and_stop(policy, 3, port, real_lighttpd_command(&c, tmpdir, port, REAL_X_WORKER),
		       &t);
}

Test(real_servers, lighttpd_rr) { lighttpd("rr"); }
Test(real_servers, lighttpd_shared) { lighttpd("shared"); }

/* memcached: threads behind one listener; "STAT pid" is the worker
 * itself. */
static void memcached(const char *policy)
{
	struct target t = { .ask = memcached_ask, .worker = stat_pid_worker };
	struct real_command c;
	int port;

	if (!have_program("memcached"))
		cr_skip_test("memcached is not installed");
	port = free_port();
	serve_and_stop(policy, 2, port, real_memcached_command(&c, port), &t);
}

Test(real_servers, memcached_rr) { memcached("rr"); }
Test(real_servers, memcached_shared) { memcached("shared"); }
