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
 * The programs are started as in test_real_servers.c, by common/
 * real_programs.c (fixed ports from free_port() where they cannot bind 0);
 * a program that is not installed is skipped with a message.
 */
#include "harness.h"
#include "real_programs.h"
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

/* A fresh directory; 0755: nginx's workers run as nobody under root. */
static void make_dir(void)
{
	tmpdir_new(dir, "cr-open");
	cr_assert(chmod(dir, 0755) == 0);
}

/* ------------------------------------------------------------------ */

/* One request; its length, or -1. */
typedef int (*ask_fn)(int port, char *buf, size_t cap, int timeout_ms);

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

		if (r->ask(r->port, buf, sizeof(buf), 5000) < 0) {
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

/* nginx: each worker an nginx master with two nginx workers. */
static void nginx(const char *policy)
{
	struct real_command c;
	int port;

	if (!have_program("nginx"))
		cr_skip_test("nginx is not installed");
	make_dir();
	port = free_port();
	open_back_to_zero("nginx", policy, port, http_ask, real_nginx_command(&c, dir, port));
}

Test(open_counts, nginx_rr) { nginx("rr"); }
Test(open_counts, nginx_shared) { nginx("shared"); }

static void lighttpd(const char *policy)
{
	struct real_command c;
	int port;

	if (!have_program("lighttpd"))
		cr_skip_test("lighttpd is not installed");
	make_dir();
	port = free_port();
	open_back_to_zero("lighttpd", policy, port, http_ask,
			  real_lighttpd_command(&c, dir, port, REAL_PLAIN));
}

Test(open_counts, lighttpd_rr) { lighttpd("rr"); }
Test(open_counts, lighttpd_shared) { lighttpd("shared"); }

/* busybox httpd: a child per connection, which runs the CGI. */
static void busybox_httpd(const char *policy)
{
	struct real_command c;
	int port;

	const char *bb = real_busybox(0);

	/* a static busybox goes through seccomp, where nothing is handed */
	if (!bb)
		cr_skip_test("no dynamically linked busybox installed (Debian's busybox)");
	real_busybox_set(bb);
	make_dir();
	port = free_port();
	open_back_to_zero("busybox httpd", policy, port, http_ask,
			  real_busybox_httpd_command(&c, dir, port, REAL_PLAIN));
}

Test(open_counts, busybox_httpd_rr) { busybox_httpd("rr"); }
Test(open_counts, busybox_httpd_shared) { busybox_httpd("shared"); }

/* socat fork: the listening process forks a child per connection, which
 * reads the request head and answers. */
static void socat_fork(const char *policy)
{
	struct real_command c;
	int port;

	if (!have_program("socat"))
		cr_skip_test("socat is not installed");
	make_dir();
	port = free_port();
	open_back_to_zero("socat", policy, port, http_ask,
			  real_socat_fork_command(&c, dir, port, REAL_PLAIN));
}

Test(open_counts, socat_fork_rr) { socat_fork("rr"); }
Test(open_counts, socat_fork_shared) { socat_fork("shared"); }

/* memcached: threads behind one listener; the client closes first. */
static void memcached(const char *policy)
{
	struct real_command c;
	int port;

	if (!have_program("memcached"))
		cr_skip_test("memcached is not installed");
	port = free_port();
	open_back_to_zero("memcached", policy, port, memcached_ask,
			  real_memcached_command(&c, port));
}

Test(open_counts, memcached_rr) { memcached("rr"); }
Test(open_counts, memcached_shared) { memcached("shared"); }
