/*
 * test_open_counts.c - `cluster-ctl status` shows each worker's OPEN
 * connections, and once the load stops that goes back to 0, whatever way
 * the program closes its sockets (issue 8): python3 http.server (close),
 * node (libuv closes with syscall(SYS_close)), nginx (its own master and
 * workers), lighttpd (one event loop), busybox httpd and socat (a forked
 * child per connection) and memcached (threads), under rr and shared.  A
 * count that never drops makes leastconn blind and every retirement wait
 * the whole --grace.
 *
 * Each run: two workers, 300 short connections from 4 client threads, every
 * one answered, then `status --json` polled until every worker shows
 * "open":0 (at most 10 s).  So that the test is not looking at counters
 * that never move: under rr the master must have handed all 300, and 4 idle
 * connections held open must show as open (status says OPEN is what the
 * kernel says the worker's processes hold), then drop to 0 once closed.
 * The programs are started as in test_real_servers.c (fixed ports from
 * free_port() where they cannot bind 0); a program that is not installed is
 * skipped with a message.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(open_counts, .fini = tmpdir_fini, .timeout = 120);

#define REQUESTS 300
#define CLIENTS 4
#define HELD 4                  /* idle connections held open at the end */

static char dir[64];            /* this test's files and control socket */

/* Write dir/name (printf-style content) with the given mode; its path. */
static const char *write_file(const char *name, mode_t mode, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static const char *write_file(const char *name, mode_t mode, const char *fmt, ...)
{
	static char paths[4][256];
	static int next;
	char *path = paths[next++ % 4];
	va_list ap;
	FILE *f;

	snprintf(path, 256, "%s/%s", dir, name);
	f = fopen(path, "w");
	cr_assert(f, "%s: %s", path, strerror(errno));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	cr_assert(fclose(f) == 0);
	cr_assert(chmod(path, mode) == 0);
	return path;
}

static void make_subdir(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert(mkdir(path, 0755) == 0, "%s: %s", path, strerror(errno));
}

/* A fresh directory; 0755: nginx's workers run as nobody under root. */
static void make_dir(void)
{
	tmpdir_new(dir, "cr-open");
	cr_assert(chmod(dir, 0755) == 0);
}

/* ------------------------------------------------------------------ */

/* One request; its length, or -1. */
typedef int (*ask_fn)(int port, char *buf, size_t cap);

static int http_ask(int port, char *buf, size_t cap)
{
	int n = http_get("127.0.0.1", port, buf, cap, 5000);

	if (n >= 0 && !strstr(buf, " 200 ")) {
		errno = EPROTO;
		return -1;
	}
	return n;
}

static int memcached_ask(int port, char *buf, size_t cap)
{
	int n = tcp_request("127.0.0.1", port, "version\r\nstats\r\n", buf, cap,
			    "\r\nEND\r\n", 5000);

	if (n >= 0 && strncmp(buf, "VERSION ", 8)) {
		errno = EPROTO;
		return -1;
	}
	return n;
}

struct load_run {
	int port;
	ask_fn ask;
	atomic_int next;
	atomic_long failed;
	atomic_int first_errno;
};

static void *run_thread(void *arg)
{
	struct load_run *r = arg;
	char buf[8192];

	while (atomic_fetch_add(&r->next, 1) < REQUESTS) {
		int zero = 0;

		if (r->ask(r->port, buf, sizeof(buf)) < 0) {
			atomic_compare_exchange_strong(&r->first_errno, &zero,
						       errno ? errno : -1);
			atomic_fetch_add(&r->failed, 1);
		}
	}
	return NULL;
}

/* REQUESTS short connections from CLIENTS threads: every one answered. */
static void all_answered(struct cr *cr, int port, ask_fn ask)
{
	static struct load_run r;
	pthread_t th[CLIENTS];
	int i;

	memset(&r, 0, sizeof(r));
	r.port = port;
	r.ask = ask;
	for (i = 0; i < CLIENTS; i++)
		cr_assert(pthread_create(&th[i], NULL, run_thread, &r) == 0);
	for (i = 0; i < CLIENTS; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&r.failed), 0, "%ld of %d requests failed, the first with "
		     "%s\n%s", (long)atomic_load(&r.failed), REQUESTS,
		     strerror(atomic_load(&r.first_errno)), cr->log);
}

/* ------------------------------------------------------------------ */

struct status {
	char json[16384];
	int workers;            /* worker objects in it */
	long open, handed;      /* summed over them */
};

static void status_of(const char *sock, struct status *s)
{
	const char *argv[] = { cluster_ctl_path(), "-s", sock, "status", "--json", NULL };
	static struct run r;
	const char *p;

	run_capture(&r, argv, 10000, NULL, NULL);
	memset(s, 0, sizeof(*s));
	snprintf(s->json, sizeof(s->json), "%s", r.out);
	for (p = r.out; (p = strstr(p, "\"open\":")); p++) {
		s->open += strtol(p + 7, NULL, 10);
		s->workers++;
	}
	for (p = r.out; (p = strstr(p, "\"handed\":")); p++)
		s->handed += strtol(p + 9, NULL, 10);
}

struct settled {
	const char *sock;
	int workers;
	struct status s;
};

static int all_closed(void *arg)
{
	struct settled *st = arg;

	status_of(st->sock, &st->s);
	return st->s.workers == st->workers && st->s.open == 0;
}

static int shows_held(void *arg)
{
	struct settled *st = arg;

	status_of(st->sock, &st->s);
	return st->s.open >= HELD;
}

/* Stop cluster-run with TERM, then fail with the message.  A SIGKILL from
 * the suite's cleanup would orphan the processes a worker forked (nginx's
 * workers, socat's children), and they would keep cluster-run's stderr
 * pipe open. */
static void stop_and_fail(struct cr *cr, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void stop_and_fail(struct cr *cr, const char *fmt, ...)
{
	static char msg[LOG_CAP + 20000];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cr_stop(cr, SIGTERM, 20000);
	cr_assert_fail("%s", msg);
}

/* Every worker at OPEN 0 within 10 s, or fail saying after what. */
static void wait_all_closed(struct settled *st, struct cr *cr, const char *policy,
			    const char *name, const char *after)
{
	if (!wait_until(all_closed, st, 10000))
		stop_and_fail(cr, "%s %s: 10 s after %s, status shows %ld connection(s) "
			      "still open over %d worker(s):\n%s\n%s", policy, name, after,
			      st->s.open, st->s.workers, st->s.json, cr->log);
}

/* Start program (called name in messages; port: the port it will
 * announce, 0 for any) under policy with 2 workers and load it: OPEN must
 * come back to 0.  Then HELD idle connections (no request sent: every
 * server here waits for one) must show as open, and their close bring
 * OPEN back to 0 again: the counters move, and follow the kernel. */
static void open_back_to_zero(const char *name, const char *policy, int port, ask_fn ask,
			      const char *const *program)
{
	const char *argv[48];
	char sock[128];
	struct settled st = { .workers = 2 };
	struct cr *cr;
	int i = 0, got, held[HELD], shown;

	if (!dir[0])
		make_dir();
	snprintf(sock, sizeof(sock), "%s/c.sock", dir);
	st.sock = sock;
	argv[i++] = "-n";
	argv[i++] = "2";
	argv[i++] = "-p";
	argv[i++] = policy;
	argv[i++] = "--control";
	argv[i++] = sock;
	argv[i++] = "--";
	while (*program && i < 47)
		argv[i++] = *program++;
	argv[i] = NULL;
	cr = cr_startv(NULL, argv);
	got = cr_ready_port(cr, 0, 20000);
	cr_assert(got > 0 && (port == 0 || got == port), "expected port %d announced, got "
		  "%d:\n%s", port, got, cr->log);

	all_answered(cr, got, ask);
	wait_all_closed(&st, cr, policy, name, "the load");
	cr_log_info("%s %s: every worker at OPEN 0 (handed %ld)", policy, name,
		    st.s.handed);
	if (!strcmp(policy, "rr"))
		cr_assert_geq(st.s.handed, REQUESTS, "rr: the master handed only %ld of %d "
			      "connections:\n%s", st.s.handed, REQUESTS, st.s.json);

	for (i = 0; i < HELD; i++) {
		held[i] = tcp_connect("127.0.0.1", got, 5000);
		if (held[i] < 0)
			stop_and_fail(cr, "connect: %s", strerror(errno));
	}
	shown = wait_until(shows_held, &st, 10000);
	for (i = 0; i < HELD; i++)
		close(held[i]);
	if (!shown)
		stop_and_fail(cr, "%s %s: %d idle connections held for 10 s, status shows "
			      "%ld open:\n%s\n%s", policy, name, HELD, st.s.open, st.s.json,
			      cr->log);
	wait_all_closed(&st, cr, policy, name, "closing the idle connections");
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 20000)), 0, "%s", cr->log);
}

/* ------------------------------------------------------------------ */

static void python(const char *policy)
{
	if (!have_program("python3"))
		cr_skip_test("python3 is not installed");
	open_back_to_zero("python3 http.server", policy, 0, http_ask, (const char *const[]){
		"python3", "-m", "http.server", "--bind", "127.0.0.1", "0", NULL });
}

Test(open_counts, python_http_server_rr) { python("rr"); }
Test(open_counts, python_http_server_shared) { python("shared"); }

static const char node_script[] =
	"require('http').createServer((q, s) => {"
	" s.setHeader('X-Worker', process.env.CLUSTER_WORKER_ID); s.end('ok\\n');"
	"}).listen(0, '127.0.0.1')";

static void node(const char *policy)
{
	if (!have_program("node"))
		cr_skip_test("node is not installed");
	open_back_to_zero("node", policy, 0, http_ask,
			  (const char *const[]){ "node", "-e", node_script, NULL });
}

Test(open_counts, node_rr) { node("rr"); }
Test(open_counts, node_shared) { node("shared"); }

/* nginx: each worker an nginx master with two nginx workers; every path it
 * writes in the temp dir, a pid file per worker (see test_real_servers.c). */
static void nginx(const char *policy)
{
	char cmd[512];
	const char *conf;
	int port;

	if (!have_program("nginx"))
		cr_skip_test("nginx is not installed");
	make_dir();
	port = free_port();
	conf = write_file("nginx.conf", 0644,
		"daemon off;\n"
		"master_process on;\n"
		"worker_processes 2;\n"
		"error_log stderr warn;\n"
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
		"}\n", dir, port);
	snprintf(cmd, sizeof(cmd), "exec nginx -e stderr -p %1$s -c %2$s "
		 "-g \"pid %1$s/nginx.$CLUSTER_WORKER_ID.pid;\"", dir, conf);
	open_back_to_zero("nginx", policy, port, http_ask,
			  (const char *const[]){ "sh", "-c", cmd, NULL });
}

Test(open_counts, nginx_rr) { nginx("rr"); }
Test(open_counts, nginx_shared) { nginx("shared"); }

static void lighttpd(const char *policy)
{
	const char *conf;
	int port;

	if (!have_program("lighttpd"))
		cr_skip_test("lighttpd is not installed");
	make_dir();
	make_subdir("www");
	write_file("www/index.html", 0644, "ok\n");
	port = free_port();
	conf = write_file("lighttpd.conf", 0644,
		"server.document-root = \"%1$s/www\"\n"
		"server.bind = \"127.0.0.1\"\n"
		"server.port = %2$d\n"
		"server.errorlog = \"/dev/stderr\"\n"
		"index-file.names = ( \"index.html\" )\n", dir, port);
	open_back_to_zero("lighttpd", policy, port, http_ask,
			  (const char *const[]){ "lighttpd", "-D", "-f", conf, NULL });
}

Test(open_counts, lighttpd_rr) { lighttpd("rr"); }
Test(open_counts, lighttpd_shared) { lighttpd("shared"); }

/* busybox httpd: a child per connection, which runs the CGI. */
static void busybox_httpd(const char *policy)
{
	char listen[64];
	int port;

	if (!have_program("busybox"))
		cr_skip_test("busybox is not installed");
	make_dir();
	make_subdir("cgi-bin");
	write_file("cgi-bin/index.cgi", 0755,
		"#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\n");
	port = free_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	open_back_to_zero("busybox httpd", policy, port, http_ask, (const char *const[]){
		"busybox", "httpd", "-f", "-p", listen, "-h", dir, NULL });
}

Test(open_counts, busybox_httpd_rr) { busybox_httpd("rr"); }
Test(open_counts, busybox_httpd_shared) { busybox_httpd("shared"); }

/* socat fork: the listening process forks a child per connection, which
 * reads the request head and answers (see test_real_servers.c). */
static void socat_fork(const char *policy)
{
	char listen[128], exec[300];
	const char *script;
	int port;

	if (!have_program("socat"))
		cr_skip_test("socat is not installed");
	make_dir();
	script = write_file("reply.sh", 0755,
		"#!/bin/sh\n"
		"while IFS= read -r line; do\n"
		"  case \"$line\" in ''|\"$(printf '\\r')\") break;; esac\n"
		"done\n"
		"printf 'HTTP/1.0 200 OK\\r\\n\\r\\nok\\n'\n");
	port = free_port();
	snprintf(listen, sizeof(listen), "TCP-LISTEN:%d,bind=127.0.0.1,fork,reuseaddr", port);
	snprintf(exec, sizeof(exec), "EXEC:%s", script);
	open_back_to_zero("socat", policy, port, http_ask,
			  (const char *const[]){ "socat", listen, exec, NULL });
}

Test(open_counts, socat_fork_rr) { socat_fork("rr"); }
Test(open_counts, socat_fork_shared) { socat_fork("shared"); }

/* memcached: threads behind one listener; the client closes first. */
static void memcached(const char *policy)
{
	char port_s[16];
	int port;

	if (!have_program("memcached"))
		cr_skip_test("memcached is not installed");
	port = free_port();
	snprintf(port_s, sizeof(port_s), "%d", port);
	open_back_to_zero("memcached", policy, port, memcached_ask, (const char *const[]){
		"memcached", "-l", "127.0.0.1", "-p", port_s, "-U", "0", "-t", "2",
		geteuid() == 0 ? "-u" : NULL, "root", NULL });
}

Test(open_counts, memcached_rr) { memcached("rr"); }
Test(open_counts, memcached_shared) { memcached("shared"); }
