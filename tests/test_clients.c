/*
 * test_clients.c - what a worker does besides listening keeps working:
 *   - a client that binds before it connects (curl --interface, nginx
 *     proxy_bind, Python's source_address) gets its own socket back;
 *   - a UDP socket bound to port 0 is a client and gets its own replies;
 *   - a classic fork-per-connection server whose SIGCHLD handler restarts
 *     system calls keeps accepting (a blocking accept is restarted after
 *     the handler, as it would be without cluster-run);
 *   - a worker out of fds gets EMFILE from accept, not lost connections.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(clients, .fini = harness_cleanup, .timeout = 60);

/* Each worker makes 50 bind-before-connect connections to target_port and
 * 20 UDP round trips from a port-0 socket, then reports and serves. */
static const char script[] =
"import socket, sys\n"
"target = int(sys.argv[1])\n"
"srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(16)\n"
"tcp = 0\n"
"for i in range(50):\n"
"    try:\n"
"        c = socket.create_connection(('127.0.0.1', target), 2, ('127.0.0.1', 0))\n"
"        c.close(); tcp += 1\n"
"    except OSError as e:\n"
"        print('tcp client:', e, file=sys.stderr)\n"
"echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); echo.bind(('127.0.0.1', 0))\n"
"udp = 0\n"
"for i in range(20):\n"
"    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0))\n"
"    u.settimeout(2)\n"
"    u.sendto(b'x', echo.getsockname())\n"
"    d, a = echo.recvfrom(10); echo.sendto(d, a)\n"
"    try:\n"
"        u.recv(10); udp += 1\n"
"    except OSError as e:\n"
"        print('udp client:', e, file=sys.stderr)\n"
"    u.close()\n"
"body = ('tcp=%d udp=%d\\n' % (tcp, udp)).encode()\n"
"while True:\n"
"    c, _ = srv.accept(); c.recv(4096)\n"
"    c.sendall(b'HTTP/1.0 200 OK\\r\\n\\r\\n' + body); c.close()\n";

static void clients_work(const char *policy)
{
	struct cr *target, *cr;
	char tport[16], buf[4096];
	int port, i;

	if (!have_program("python3"))
		cr_skip_test("python3 is not installed");
	target = cr_start(NULL, "-n", "1", "--", helper("event_server"), NULL);
	port = cr_ready_port(target, 0, 10000);
	cr_assert(port > 0, "%s", target->log);
	snprintf(tport, sizeof(tport), "%d", port);
	cr = cr_start(NULL, "-n", "2", "-p", policy, "--", "python3", "-c", script, tport, NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert(port > 0, "%s", cr->log);
	for (i = 0; i < 4; i++) {
		cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0);
		cr_assert(strstr(buf, "tcp=50 udp=20"), "%s\n%s", buf, cr->log);
	}
	/* the clients' binds were not announced as listeners */
	cr_assert(cr_port(cr, 1, 200) < 0, "%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(clients, bind_before_connect_rr) { clients_work("rr"); }
Test(clients, bind_before_connect_shared) { clients_work("shared"); }

static void forking_server(const char *policy)
{
	struct cr *cr = cr_start(NULL, "-n", "2", "-p", policy, "--", helper("forking_server"), NULL);
	int port = cr_ready_port(cr, 0, 10000), i;
	char buf[4096];

	cr_assert(port > 0, "%s", cr->log);
	for (i = 0; i < 40; i++)
		cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0,
			  "request %d:\n%s", i, cr->log);
	cr_assert(!strstr(cr->log, "accept:"), "%s", cr->log);
	cr_assert(!strstr(cr->log, "exited"), "a worker died:\n%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(clients, forking_server_sa_restart_shared) { forking_server("shared"); }
Test(clients, forking_server_sa_restart_rr) { forking_server("rr"); }
Test(clients, forking_server_sa_restart_reuseport) { forking_server("reuseport"); }

/* A worker at its fd limit: accept fails with EMFILE, as it would alone,
 * and the connections wait for it.  At most one is lost: the one that
 * arrives before the shim can tell the limit is reached. */
static const char full_script[] =
"import socket, os, resource, sys\n"
"resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
"s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)\n"
"held = []\n"
"try:\n"
"    while True: held.append(os.open('/dev/null', os.O_RDONLY))\n"
"except OSError: pass\n"
"for i in range(3):\n"
"    try: s.accept()\n"
"    except OSError as e: print('accept failed:', e.strerror, file=sys.stderr, flush=True)\n"
"for fd in held[:10]: os.close(fd)\n"
"print('fds freed', file=sys.stderr, flush=True)\n"
"while True:\n"
"    c, _ = s.accept(); c.recv(4096); c.sendall(b'HTTP/1.0 200 OK\\r\\n\\r\\nok'); c.close()\n";

Test(clients, worker_out_of_fds_rr)
{
	struct cr *cr;
	int port, i, answered = 0, fds[3];

	if (!have_program("python3"))
		cr_skip_test("python3 is not installed");
	cr = cr_start(NULL, "-n", "1", "-p", "rr", "--", "python3", "-c", full_script, NULL);
	port = cr_ready_port(cr, 0, 15000);
	cr_assert(port > 0, "%s", cr->log);
	for (i = 0; i < 3; i++) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)) == 0);
		cr_assert(write(fds[i], "GET / HTTP/1.0\r\n\r\n", 18) == 18);
	}
	cr_assert(cr_wait_line(cr, "fds freed", 10000), "%s", cr->log);
	cr_assert(strstr(cr->log, "accept failed: Too many open files"), "%s", cr->log);
	for (i = 0; i < 3; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		char buf[256];
		ssize_t n = 0;

		if (poll(&p, 1, 5000) == 1)
			n = read(fds[i], buf, sizeof(buf) - 1);
		answered += n > 0 && !strncmp(buf, "HTTP/1.0 200", 12);
		close(fds[i]);
	}
	cr_assert_geq(answered, 2, "%d of 3 queued connections answered:\n%s", answered, cr->log);
}
