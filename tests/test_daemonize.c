/*
 * test_daemonize.c - programs that daemonize, run under cluster-run as
 * they come (issue 19, item 3): nginx without `daemon off`, a Python
 * server that double-forks and setsid()s before it binds, memcached -d,
 * and the daemon_server helper through seccomp (bind then daemonize, as
 * nginx; daemonize then bind, as memcached).  Each worker's process exits
 * 0 and leaves a daemon; cluster-run follows it.
 *
 * Each runs with 2 workers under rr, shared and reuseport (through seccomp
 * shared and reuseport, the policies there are): the log says each worker
 * daemonized and is followed, `cluster-ctl status` names both daemons, a
 * reload (HUP) under load replaces them without one failed request, and
 * after SIGTERM cluster-run exits 0, nothing of the program is left and
 * nothing listens on the port.  What is the program's is told by the test
 * directory: every process of it names that directory on its command line
 * or holds a file in it (nginx's error log, memcached's pid file), or it
 * is a daemon_server daemon that said "daemon PID".
 *
 * Where nothing can be followed, one line names the fix, the start counts
 * as failed and --max-restarts ends the run with status 3 (the program
 * exited 0): a daemon that never binds, and one that closed the listener
 * its parent bound.  And a daemon that binds while its parent is still
 * there is not killed by the parent's exit (the shim asked for
 * PR_SET_PDEATHSIG in whichever process bound first).
 *
 * nginx, memcached and python3 are skipped when absent.  Fixed ports come
 * from free_port() (these programs cannot be told port 0).
 */
#include "harness.h"
#include "real_programs.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];

static void kill_leftovers(void);

static void daemonize_fini(void)
{
	harness_cleanup();
	kill_leftovers();       /* a failed test must not leave daemons */
	tmpdir_fini();
}

TestSuite(daemonize, .fini = daemonize_fini, .timeout = 120);

static const char *make_dir(void)
{
	tmpdir_new(dir, "cr-daemon");
	cr_assert(chmod(dir, 0755) == 0);      /* nginx's workers may be nobody */
	return dir;
}

/* Whether pid's command line, or one of its open files, names path. */
static int names_path(pid_t pid, const char *path)
{
	char p[64], buf[4096], link[512];
	struct dirent *e;
	size_t i;
	long n;
	DIR *d;

	snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
	if ((n = read_file(p, buf, sizeof(buf))) > 0) {
		for (i = 0; i + 1 < (size_t)n; i++)
			if (!buf[i])
				buf[i] = ' ';
		if (strstr(buf, path))
			return 1;
	}
	snprintf(p, sizeof(p), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(p)))
		return 0;
	while ((e = readdir(d))) {
		ssize_t len = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);

		if (len > 0) {
			link[len] = '\0';
			if (strstr(link, path)) {
				closedir(d);
				return 1;
			}
		}
	}
	closedir(d);
	return 0;
}

/* The daemons daemon_server said it started ("daemon PID" on stdout). */
static char out_path[128];

static int said_daemon(pid_t pid)
{
	char buf[8192], word[32];
	const char *p;

	if (!out_path[0] || read_file(out_path, buf, sizeof(buf)) < 0)
		return 0;
	snprintf(word, sizeof(word), "daemon %d\n", (int)pid);
	for (p = buf; (p = strstr(p, word)); p++)
		if (p == buf || p[-1] == '\n')
			return 1;
	return 0;
}

/* Live processes of the program under test (see the file comment); with
 * kill, SIGKILLed.  How many. */
static int program_processes(int kill_them)
{
	struct dirent *e;
	int n = 0;
	DIR *d = opendir("/proc");

	cr_assert(d);
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 1 || pid == getpid() || !pid_alive((pid_t)pid))
			continue;
		if ((dir[0] && names_path((pid_t)pid, dir)) || said_daemon((pid_t)pid)) {
			n++;
			if (kill_them)
				kill((pid_t)pid, SIGKILL);
		}
	}
	closedir(d);
	return n;
}

static void kill_leftovers(void)
{
	program_processes(1);
}

static int nothing_left(void *arg)
{
	(void)arg;
	return program_processes(0) == 0;
}

/* After cluster-run's exit: no process of the program, nothing on port. */
static void assert_nothing_left(struct cr *cr, int port)
{
	int ok = wait_until(nothing_left, NULL, 5000);

	cr_assert(ok, "%d process(es) of the program outlived cluster-run\n%s",
		  program_processes(0), cr->log);
	cr_assert(!port_accepts(port), "something still listens on %d\n%s", port, cr->log);
}

/* `cluster-ctl status` names n followed daemons. */
static void assert_status_follows(struct cr *cr, int n)
{
	char pid[16];
	struct run r;

	snprintf(pid, sizeof(pid), "%d", (int)cr->pid);
	run_capture(&r, (const char *const[]){ cluster_ctl_path(), "-p", pid, "status", NULL },
		    10000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "%s%s", r.out, r.err);
	cr_assert_eq(count_of(r.out, "followed daemon pid"), n, "%s\n%s", r.out, cr->log);
}

/* The run every program here goes through once cr is started: both
 * workers followed, requests answered through a reload (under_load: with
 * HTTP clients running all along, none failing), a stop with status 0,
 * nothing left. */
static void follow_reload_stop(struct cr *cr, int port, int (*ask)(int, char *, size_t, int),
			       int under_load)
{
	char buf[4096];
	long ok, failed;
	struct load *l = NULL;
	int i, st;

	cr_assert_eq(cr_ready_port(cr, 0, 20000), port, "%s", cr->log);
	cr_assert(cr_wait_count(cr, "daemonized: following pid", 2, 20000), "%s", cr->log);
	for (i = 0; i < 20; i++)
		cr_assert_geq(ask(port, buf, sizeof(buf), 5000), 0, "request %d: %s\n%s", i,
			      strerror(errno), cr->log);
	assert_status_follows(cr, 2);
	if (under_load) {
		l = load_start(port, 2);
		load_wait_more(l, 50, 15000);
	}
	cr_assert_eq(kill(cr->pid, SIGHUP), 0);
	cr_assert(cr_wait_line(cr, "reload complete", 30000), "%s", cr->log);
	cr_assert(cr_wait_count(cr, "daemonized: following pid", 4, 10000), "%s", cr->log);
	if (l) {
		load_wait_more(l, 50, 15000);
		load_stop(l, &ok, &failed, NULL);
		cr_log_info("through the reload: %ld answered, %ld failed", ok, failed);
		cr_assert_eq(failed, 0, "%ld of %ld requests failed\n%s", failed, ok + failed,
			     cr->log);
		cr_assert_gt(ok, 0);
	}
	for (i = 0; i < 20; i++)
		cr_assert_geq(ask(port, buf, sizeof(buf), 5000), 0, "after the reload, request %d: "
			      "%s\n%s", i, strerror(errno), cr->log);
	assert_status_follows(cr, 2);
	st = cr_stop(cr, SIGTERM, 30000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x\n%s", st, cr->log);
	cr_assert(!strstr(cr->log, "a failed start"), "%s", cr->log);
	assert_nothing_left(cr, port);
}

/* nginx as installed, with nothing that says `daemon off`. */
/* nginx without `daemon off`, under policy, on *port. */
static struct cr *start_nginx(const char *policy, int *port_out)
{
	char user[160] = "", conf[512], early[512];
	int port = free_port();

	if (!have_program("nginx"))
		cr_skip_test("nginx is not installed");
	make_dir();
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("nobody");
		struct group *gr = pw ? getgrgid(pw->pw_gid) : NULL;
		if (pw && gr)
			snprintf(user, sizeof(user), "user %s %s;\n", pw->pw_name, gr->gr_name);
	}
	snprintf(conf, sizeof(conf), "%s", real_write_file(dir, "nginx.conf", 0644,
		"%3$s"
		"worker_processes 2;\n"
		"pid %1$s/nginx.pid;\n"
		"error_log %1$s/error.log warn;\n"
		"events { worker_connections 256; }\n"
		"http {\n"
		"  access_log off;\n"
		"  client_body_temp_path %1$s/body;\n"
		"  proxy_temp_path %1$s/proxy;\n"
		"  fastcgi_temp_path %1$s/fastcgi;\n"
		"  uwsgi_temp_path %1$s/uwsgi;\n"
		"  scgi_temp_path %1$s/scgi;\n"
		"  server {\n"
		"    listen 127.0.0.1:%2$d;\n"
		"    location / { return 200 \"pid=$pid\\n\"; }\n"
		"  }\n"
		"}\n", dir, port, user));
	snprintf(early, sizeof(early), "%s/error.log", dir);
	*port_out = port;
	/* TERM, nginx's fast shutdown and what systemd and most users send:
	 * the unkind stop.  A reload under shared used to lose 2 requests
	 * with it in about 1 run of 6 (this load's 2 clients, each stuck
	 * past its 5 s), and the test stopped nginx with QUIT instead.  That
	 * is the signature of the wake-up a draining nginx swallowed with
	 * EPOLLEXCLUSIVE, which the shim now drops (shim/hooks_fd.c), though
	 * not proven the cause: none in 41 runs since, every policy, two
	 * busy loops beside (the old build passed 8 such runs too). */
	return cr_startv(NULL, (const char *const[]){ "-n", "2", "-p", policy,
		"--stop-signal", "TERM", "--", "nginx", "-p", dir, "-e", early, "-c", conf, NULL });
}

static void nginx(const char *policy)
{
	int port;
	struct cr *cr = start_nginx(policy, &port);

	follow_reload_stop(cr, port, http_ask, 1);
}

/* cluster-run killed with SIGKILL: the guard finds the followed nginx
 * masters (their own session and group, their environment block written
 * over by the process title) and their workers. */
Test(daemonize, nginx_master_killed)
{
	int port, st;
	struct cr *cr = start_nginx("rr", &port);

	cr_assert_eq(cr_ready_port(cr, 0, 20000), port, "%s", cr->log);
	cr_assert(cr_wait_count(cr, "daemonized: following pid", 2, 20000), "%s", cr->log);
	cr_assert_eq(kill(cr->pid, SIGKILL), 0);
	st = cr_wait_exit(cr, 10000);
	cr_assert(WIFSIGNALED(st), "status 0x%x", st);
	assert_nothing_left(cr, port);
}

Test(daemonize, nginx_rr) { nginx("rr"); }
Test(daemonize, nginx_shared) { nginx("shared"); }
Test(daemonize, nginx_reuseport) { nginx("reuseport"); }

/* The textbook daemon: fork, setsid, fork, stdio to /dev/null, then bind:
 * the process cluster-run started has exited before anything is bound. */
static const char *python_daemon(void)
{
	return real_write_file(dir, "daemon.py", 0644,
		"import os, socket, sys\n"
		"port = int(sys.argv[1])\n"
		"if os.fork():\n"
		"    os._exit(0)\n"
		"os.setsid()\n"
		"if os.fork():\n"
		"    os._exit(0)\n"
		"null = os.open(os.devnull, os.O_RDWR)\n"
		"for fd in (0, 1, 2):\n"
		"    os.dup2(null, fd)\n"
		"s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
		"s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
		"s.bind(('127.0.0.1', port))\n"
		"s.listen(128)\n"
		"while True:\n"
		"    c, _ = s.accept()\n"
		"    try:\n"
		"        c.recv(4096)\n"
		"        c.sendall(b'HTTP/1.0 200 OK\\r\\n\\r\\npid=%%d\\n' %% os.getpid())\n"
		"    finally:\n"
		"        c.close()\n");
}

static void python(const char *policy)
{
	char script[256], pbuf[16];
	int port = free_port();
	struct cr *cr;

	if (!have_program("python3"))
		cr_skip_test("python3 is not installed");
	make_dir();
	snprintf(script, sizeof(script), "%s", python_daemon());
	snprintf(pbuf, sizeof(pbuf), "%d", port);
	cr = cr_startv(NULL, (const char *const[]){ "-n", "2", "-p", policy,
		"--", "python3", script, pbuf, NULL });
	follow_reload_stop(cr, port, http_ask, 1);
}

Test(daemonize, python_rr) { python("rr"); }
Test(daemonize, python_shared) { python("shared"); }
Test(daemonize, python_reuseport) { python("reuseport"); }

/* memcached -d: one fork, setsid, then it binds. */
Test(daemonize, memcached_rr)
{
	char pbuf[16], pidfile[128];
	int port = free_port();
	struct cr *cr;

	if (!have_program("memcached"))
		cr_skip_test("memcached is not installed");
	make_dir();
	snprintf(pbuf, sizeof(pbuf), "%d", port);
	snprintf(pidfile, sizeof(pidfile), "%s/memcached.pid", dir);
	cr = cr_startv(NULL, (const char *const[]){ "-n", "2", "--",
		"memcached", "-d", "-P", pidfile, "-l", "127.0.0.1", "-p", pbuf, "-U", "0",
		"-t", "2", geteuid() == 0 ? "-u" : NULL, "root", NULL });
	follow_reload_stop(cr, port, memcached_ask, 0);
}

/* The helper through seccomp: how = --exit-after-fork (bind, listen, then
 * daemonize) or --fork-first (daemonize, then bind).  Under load with
 * either policy: through seccomp shared is served as reuseport (a socket
 * per slot, which a retiring worker empties before its stop), since one
 * shared socket could not be drained (policy_shared_k.c). */
static void seccomp(const char *policy, const char *how)
{
	int port = free_port();
	char pbuf[16];
	struct cr *cr;

	make_dir();
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	snprintf(pbuf, sizeof(pbuf), "%d", port);
	cr = cr_startv(out_path, (const char *const[]){ "-n", "2", "-p",
		policy, "--via", "seccomp", "--", helper("static_daemon_server"), "--reuseaddr",
		"--port", pbuf, how, NULL });
	if (!cr_wait_line(cr, "listening", 10000) && strstr(cr->log, "which this kernel lacks"))
		cr_skip_test("seccomp is not available here: %s", cr->log);
	follow_reload_stop(cr, port, http_ask, 1);
}

Test(daemonize, seccomp_bound_then_daemon_shared) { seccomp("shared", "--exit-after-fork"); }
Test(daemonize, seccomp_bound_then_daemon_reuseport) { seccomp("reuseport", "--exit-after-fork"); }
Test(daemonize, seccomp_daemon_then_bound_shared) { seccomp("shared", "--fork-first"); }
Test(daemonize, seccomp_daemon_then_bound_reuseport) { seccomp("reuseport", "--fork-first"); }

/* A daemon (memcached's single fork) that binds before its parent exits:
 * it is not killed by that exit, and is followed. */
Test(daemonize, parent_exits_after_the_daemon_bound)
{
	struct cr *cr;
	char buf[4096];
	int port, i;

	make_dir();
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	cr = cr_start(out_path, "-n", "2", "--", helper("daemon_server"), "--port", "0",
		      "--fork-first", "--linger-ms", "300", NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert_gt(port, 0, "%s", cr->log);
	cr_assert(cr_wait_count(cr, "daemonized: following pid", 2, 10000), "%s", cr->log);
	for (i = 0; i < 20; i++)
		cr_assert_geq(http_ask(port, buf, sizeof(buf), 5000), 0, "request %d\n%s", i,
			      cr->log);
	assert_status_follows(cr, 2);
	cr_assert(!strstr(cr->log, "exited") && !strstr(cr->log, "killed"), "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	assert_nothing_left(cr, port);
}

/* Nothing to follow: one line naming the fix per start, each a failed
 * start, given up after --max-restarts with status 3 (the program's own
 * exits were 0), and what it left killed. */
static void nothing_to_follow(const char *const *how, const char *says)
{
	const char *argv[16] = { "-n", "1", "--max-restarts", "2", "--ready-timeout", "1",
				 "--backoff", "0.1:0.1", "--", helper("daemon_server"), "--port",
				 "0" };
	int i, st;
	struct cr *cr;

	make_dir();
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	for (i = 0; how[i]; i++)
		argv[12 + i] = how[i];
	cr = cr_startv(out_path, argv);
	st = cr_wait_exit(cr, 30000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3, "status 0x%x\n%s", st, cr->log);
	cr_assert_eq(count_of(cr->log, says), 2, "%s", cr->log);
	cr_assert_eq(count_of(cr->log, "run the program in the foreground (nginx: "
			      "-g 'daemon off;'"), 2, "%s", cr->log);
	cr_assert(strstr(cr->log, "giving up after 2 attempts"), "%s", cr->log);
	cr_assert(wait_until(nothing_left, NULL, 5000), "%d daemon(s) left\n%s",
		  program_processes(0), cr->log);
}

Test(daemonize, daemon_that_never_binds_is_a_failed_start)
{
	nothing_to_follow((const char *const[]){ "--fork-first", "--idle", NULL },
			  "has not listened after 1s");
}

Test(daemonize, daemon_without_the_listener_is_a_failed_start)
{
	nothing_to_follow((const char *const[]){ "--exit-after-fork", "--idle", NULL },
			  "holds its listener: run the program");
}
