/*
 * test_port_in_use.c - an address held outside the cluster stops the
 * start-up: one line on stderr (the address, and who holds it when the
 * kernel says), status 1, in under 2 seconds, instead of each worker's
 * error over and over while cluster-run restarts them.  Through the shim
 * and through seccomp, for TCP and a unix socket path.  Only the first
 * generation counts: a reload whose new workers find their address taken
 * fails as the program's own bind, and the old workers keep serving; and
 * an address the cluster itself holds is the program's own conflict (it
 * binds [::]:P, then 0.0.0.0:P, and goes on without the second).
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(port_in_use, .fini = tmpdir_fini, .timeout = 60);

/* A listening socket of this process on 127.0.0.1; its port. */
static int hold_port(int *fd)
{
	struct sockaddr_storage ss;
	int port = free_port();
	socklen_t len = sockaddr_of("127.0.0.1", port, &ss);

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(*fd >= 0 && bind(*fd, (struct sockaddr *)&ss, len) == 0 && listen(*fd, 1) == 0);
	return port;
}

/* Exactly one line, that one, status 1, fast. */
static void assert_stopped(const struct run *r, const char *want)
{
	cr_assert(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 1,
		  "status 0x%x after %ld ms:\n%s", r->status, r->ms, r->err);
	cr_assert(strstr(r->err, want), "want '%s' in:\n%s", want, r->err);
	cr_assert_eq(count_of(r->err, "\n"), 1, "want one line:\n%s", r->err);
	cr_assert_lt(r->ms, 2000, "took %ld ms:\n%s", r->ms, r->err);
}

static void held_by_us(const char *via, const char *prog)
{
	char portarg[16], want[160];
	struct run r;
	int fd, port = hold_port(&fd);
	const char *argv[] = { cluster_run_path(), "--control", "none", "-n", "4", "--via", via,
			       "--", helper(prog), "--port", portarg, NULL };

	snprintf(portarg, sizeof(portarg), "%d", port);
	run_capture(&r, argv, 10000, NULL, NULL);
	close(fd);
	snprintf(want, sizeof(want), "cluster-run: cannot bind 127.0.0.1:%d: Address already in "
		 "use, held by test_port_in_us (pid %d, uid %u); stopping\n", port, (int)getpid(),
		 (unsigned)geteuid());
	assert_stopped(&r, want);
}

Test(port_in_use, one_line_through_the_shim)
{
	held_by_us("shim", "blocking_server");
}

Test(port_in_use, one_line_through_seccomp)
{
	held_by_us("seccomp", "static_blocking_server");
}

/* The Go server, which natively prints its own error: not even that. */
Test(port_in_use, one_line_for_go)
{
	const char *go = helper("go_server");
	char addr[64], want[96];
	struct run r;
	int fd, port;

	if (access(go, X_OK) != 0)
		cr_skip_test("go is not installed (golang-go): the Go server was not built");
	port = hold_port(&fd);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	{
		const char *argv[] = { cluster_run_path(), "--control", "none", "-n", "4", "--",
				       go, addr, NULL };
		run_capture(&r, argv, 10000, NULL, NULL);
	}
	close(fd);
	snprintf(want, sizeof(want), "cannot bind 127.0.0.1:%d: Address already in use, held by",
		 port);
	assert_stopped(&r, want);
}

/* A unix socket path in use by a live listener, and one left behind. */
Test(port_in_use, unix_path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char dir[64], want[256];
	struct run r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	const char *argv[] = { cluster_run_path(), "--control", "none", "-n", "2", "--",
			       helper("unix_server"), "--path", un.sun_path, NULL };

	tmpdir_new(dir, "cr-inuse");
	snprintf(un.sun_path, sizeof(un.sun_path), "%s/s.sock", dir);
	cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&un, sizeof(un)) == 0 && listen(fd, 1) == 0);
	run_capture(&r, argv, 10000, NULL, NULL);
	snprintf(want, sizeof(want), "cannot bind %s: Address already in use, held by "
		 "test_port_in_us (pid %d", un.sun_path, (int)getpid());
	assert_stopped(&r, want);
	close(fd);      /* the file stays: nobody listens on it any more */
	run_capture(&r, argv, 10000, NULL, NULL);
	snprintf(want, sizeof(want), "cannot bind %s: Address already in use, a socket file no "
		 "process listens on", un.sun_path);
	assert_stopped(&r, want);
}

/* After start-up, a new address that is taken is the program's own error:
 * the new workers of a reload cannot start, the reload is aborted, and the
 * old workers keep serving. */
Test(port_in_use, reload_keeps_todays_behaviour)
{
	char dir[64], portfile[96], script[256];
	int fd, held = hold_port(&fd), port = free_port(), slot;
	struct cr *cr;
	FILE *f;
	pid_t pid;

	tmpdir_new(dir, "cr-inuse");
	snprintf(portfile, sizeof(portfile), "%s/port", dir);
	f = fopen(portfile, "w");
	cr_assert(f);
	fprintf(f, "%d\n", port);
	fclose(f);
	snprintf(script, sizeof(script), "exec %s --port $(cat %s)", helper("blocking_server"),
		 portfile);
	cr = cr_start(NULL, "--control", "none", "-n", "2", "--max-restarts", "2",
		      "--backoff", "0.05:0.05", "--", "/bin/sh", "-c", script, NULL);
	cr_assert_eq(cr_ready_port(cr, 0, 10000), port, "%s", cr->log);
	f = fopen(portfile, "w");
	cr_assert(f);
	fprintf(f, "%d\n", held);
	fclose(f);
	kill(cr->pid, SIGHUP);
	cr_assert(cr_wait_line(cr, "reload aborted", 20000), "%s", cr->log);
	cr_assert(strstr(cr->log, "Address already in use"), "the program's own error:\n%s",
		  cr->log);
	cr_assert(!strstr(cr->log, "stopping"), "%s", cr->log);
	cr_assert_eq(request_worker(port, &slot, &pid, 5000), 0, "the old workers stopped:\n%s",
		     cr->log);
	cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
	close(fd);
}

/* A server that binds [::]:P (dual-stack), then tries 0.0.0.0:P and goes
 * on without it on EADDRINUSE, as some do on hosts with and without IPv6. */
static const char dual_bind_py[] =
"import socket, sys\n"
"port = int(sys.argv[1])\n"
"six = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\n"
"six.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n"
"six.bind(('::', port))\n"
"four = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
"try:\n"
"    four.bind(('0.0.0.0', port))\n"
"    print('second bind: ok', flush=True)\n"
"except OSError as e:\n"
"    print('second bind: ' + e.strerror, flush=True)\n"
"six.listen(16)\n"
"while True:\n"
"    c, _ = six.accept()\n"
"    c.recv(4096)\n"
"    c.sendall(b'HTTP/1.0 200 OK\\r\\n\\r\\nhello\\n')\n"
"    c.close()\n";

Test(port_in_use, conflict_with_the_cluster_itself_is_the_programs)
{
	char dir[64], script[96], portarg[16], out[128], buf[1024];
	int port = free_port();
	struct cr *cr;
	FILE *f;

	if (!port_free(port, 1))
		cr_skip_test("no IPv6 here");
	tmpdir_new(dir, "cr-inuse");
	snprintf(script, sizeof(script), "%s/dual.py", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	f = fopen(script, "w");
	cr_assert(f);
	fputs(dual_bind_py, f);
	fclose(f);
	snprintf(portarg, sizeof(portarg), "%d", port);
	cr = cr_start(out, "--control", "none", "-n", "2", "--", "python3", script, portarg, NULL);
	cr_assert_eq(cr_ready_port(cr, 0, 10000), port, "%s", cr->log);
	cr_assert(!strstr(cr->log, "stopping"), "%s", cr->log);
	cr_assert_gt(http_get("127.0.0.1", port, buf, sizeof(buf), 5000), 0, "%s", cr->log);
	cr_assert(strstr(buf, "hello"), "%s", buf);
	read_file(out, buf, sizeof(buf));
	cr_assert_eq(count_of(buf, "second bind: Address already in use"), 2, "%s", buf);
	cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
}
