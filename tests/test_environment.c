/*
 * test_environment.c - what a worker finds in its environment: its slot
 * (CLUSTER_WORKER_ID) and the cluster size (CLUSTER_WORKERS); and that the
 * process which binds removes the variables that make a process clustered,
 * so a program it execs later runs unclustered, while an `sh -c` wrapper
 * that never binds passes them on.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(environment, .fini = harness_cleanup, .timeout = 60);

/* Python: bind, then run `env` and try to bind the same port from a fresh
 * python process; report both in every response. */
static const char script[] =
"import socket, subprocess, sys\n"
"s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)\n"
"port = s.getsockname()[1]\n"
"env = subprocess.run(['env'], capture_output=True, text=True).stdout\n"
"c = subprocess.run([sys.executable, '-c', 'import socket; socket.socket().bind((\"127.0.0.1\", %d))' % port],\n"
"                   capture_output=True, text=True)\n"
"child = 'EADDRINUSE' if 'Address already in use' in c.stderr else 'bound:' + c.stderr[-60:]\n"
"body = ('child_bind=' + child + '\\n' + env).encode()\n"
"while True:\n"
"    conn, _ = s.accept(); conn.recv(4096)\n"
"    conn.sendall(b'HTTP/1.0 200 OK\\r\\n\\r\\n' + body); conn.close()\n";

static void check_env(const char *wrapper)
{
	struct cr *cr;
	char buf[16384], val[256];
	int port, i, seen[2] = { 0, 0 };

	if (!have_program("python3"))
		cr_skip_test("python3 is not installed");
	if (wrapper)
		cr = cr_start(NULL, "-n", "2", "--", "/bin/sh", "-c", wrapper, "sh", script, NULL);
	else
		cr = cr_start(NULL, "-n", "2", "--", "python3", "-c", script, NULL);
	port = cr_ready_port(cr, 0, 15000);
	cr_assert(port > 0, "%s", cr->log);
	for (i = 0; i < 4; i++) {
		cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 10000) > 0);
		cr_assert(!strstr(buf, "CLUSTER_RUN_FD="), "exec'd program inherited the channel:\n%s", buf);
		cr_assert(!strstr(buf, "libcluster-shim"), "exec'd program inherited the shim:\n%s", buf);
		cr_assert(strstr(buf, "CLUSTER_WORKERS=2\n"), "%s", buf);
		cr_assert(body_value(buf, "CLUSTER_WORKER_ID", val, sizeof(val)), "%s", buf);
		cr_assert(!strcmp(val, "0") || !strcmp(val, "1"), "id %s", val);
		seen[atoi(val)] = 1;
		cr_assert(body_value(buf, "child_bind", val, sizeof(val)));
		cr_assert_str_eq(val, "EADDRINUSE", "a program exec'd by the worker was clustered");
	}
	cr_assert(seen[0] && seen[1], "both slots must serve under rr");
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(environment, worker_removes_cluster_variables) { check_env(NULL); }

/* sh forks python (no exec): the shell never binds and passes the
 * variables on; python becomes the worker; TERM reaches it. */
Test(environment, sh_wrapper_passes_them_on) { check_env("python3 -c \"$1\"; exit 0"); }

/* A wrapper that marks every fd close-on-exec before it execs the server
 * (close_range(3, ~0, CLOSE_RANGE_CLOEXEC)) still passes the cluster on:
 * the doorbell stays inheritable until a process claims it. */
Test(environment, cloexec_everything_wrapper)
{
	char script[1024];
	struct cr *cr;

	if (!have_program("python3"))
		cr_skip_test("python3 is not installed");
	snprintf(script, sizeof(script),
		 "import ctypes, os\n"
		 "ctypes.CDLL(None).close_range(3, 0xffffffff, 4)\n"
		 "os.execv('%s', ['blocking_server'])\n", helper("blocking_server"));
	cr = cr_start(NULL, "-n", "2", "--", "python3", "-c", script, NULL);
	cr_assert(cr_ready_port(cr, 0, 15000) > 0, "the exec'd server was not clustered:\n%s",
		  cr->log);
	cr_assert(strstr(cr->log, "2 workers listening"), "%s", cr->log);
}
