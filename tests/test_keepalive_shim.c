/*
 * test_keepalive_shim.c - a reload under keep-alive load ends the old
 * workers' connections behind a response (issue 20, the shim's half:
 * shim/hooks_io.c), so that they leave as soon as their clients moved on
 * instead of at the end of --grace, and no request is lost.
 *
 * Real unmodified keep-alive servers (python3 http.server with
 * --protocol HTTP/1.1, node's http, nginx), 2 workers, --grace 120.
 * KEEPERS careful client threads (common/ka_client.c) each keep one
 * connection busy; before reusing it they look for a close (poll
 * POLLIN|POLLRDHUP, no wait) and reconnect on one: that is not a loss.  A
 * loss is a request sent that got no complete response.  Then RELOADS
 * times `cluster-ctl reload --wait`: it must complete, no worker may be
 * stopped by the grace timer ("still busy after" under -v), connections
 * must have been closed by the old workers (reconnects), and none lost.
 * Channel policy (rr) and socket policies (shared, reuseport); and a C
 * server that writes after the close must get EPIPE, not SIGPIPE.
 */
#include "harness.h"
#include "real_programs.h"
#include "tmpdir.h"

#include "ka_client.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define KEEPERS 8
#define RELOADS 3

TestSuite(keepalive_shim, .fini = tmpdir_fini, .timeout = 300);

/* Until the keepers have `more` answers beyond those so far: whether they
 * did within a minute (a long time: see ka_client.c). */
static int answered_more(struct ka_load *k, long more)
{
	long until = ka_load_ok_so_far(k) + more;

	ka_load_wait_more(k, more, 60000);
	return ka_load_ok_so_far(k) >= until;
}

/* The workers' output (--log-dir dir): how many times needle is in it. */
static int worker_logs_count(const char *dir, const char *needle)
{
	static char buf[1 << 20];
	char path[128];
	int slot, n = 0;

	for (slot = 0; slot < 2; slot++) {
		snprintf(path, sizeof(path), "%s/worker-%d.log", dir, slot);
		if (read_file(path, buf, sizeof(buf)) > 0)
			n += count_of(buf, needle);
	}
	return n;
}

/* Reloads under the keep-alive load; the temporary directory (the
 * workers' logs) into dir.  The bounds are generous (--grace 120, a
 * reload --wait of 100 s): the machine may stop for tens of seconds, and
 * what tells a reload that waited for its grace is the log. */
static void reloads_lose_nothing_in(char *dir, const char *name, const char *policy,
				    const char *const *program)
{
	const char *argv[40];
	char sock[96], page[96];
	struct ka_counts k;
	struct ka_load *load;
	struct run r;
	struct cr *cr;
	FILE *f;
	int i = 0, port, n;

	tmpdir_new(dir, "cr-ka");
	snprintf(sock, sizeof(sock), "%s/c.sock", dir);
	snprintf(page, sizeof(page), "%s/index.html", dir);
	f = fopen(page, "w");
	cr_assert(f);
	fputs("hello from a keep-alive worker\n", f);
	cr_assert_eq(fclose(f), 0);

	argv[i++] = "-v";
	argv[i++] = "--log-time";       /* to place the first loss (ka_counts) */
	argv[i++] = "-n";
	argv[i++] = "2";
	argv[i++] = "-p";
	argv[i++] = policy;
	argv[i++] = "--grace";
	argv[i++] = "120";
	argv[i++] = "--control";
	argv[i++] = sock;
	/* python logs each request on stderr: not into the log read here */
	argv[i++] = "--log-dir";
	argv[i++] = dir;
	argv[i++] = "--";
	for (; *program && i < 38; program++)
		argv[i++] = strcmp(*program, "DIR") ? *program : dir;
	argv[i] = NULL;
	cr = cr_startv(NULL, argv);
	port = cr_ready_port(cr, 0, 60000);
	cr_assert(port > 0, "%s %s: no port\n%s", name, policy, cr->log);

	load = ka_load_start_at(port, KEEPERS, "/index.html");
	cr_assert(answered_more(load, 200), "%s %s: no keep-alive answers\n%s", name,
		  policy, cr->log);
	for (n = 0; n < RELOADS; n++) {
		const char *ctl[] = { cluster_ctl_path(), "-s", sock, "-t", "100", "reload",
				      "--wait", NULL };
		long closed = ka_load_reconnects(load);

		run_capture(&r, ctl, 110000, NULL, NULL);
		if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 &&
		      strstr(r.out, "reload complete"))) {
			ka_load_stop(load, &k);
			cr_stop(cr, SIGTERM, 60000);
			cr_assert_fail("%s %s: reload %d did not complete (status %d, %ld ms): "
				       "%s%s\n%s", name, policy, n + 1, r.status, r.ms, r.out,
				       r.err, cr->log);
		}
		cr_log_info("%s %s: reload %d in %ld ms, %ld reconnects", name, policy, n + 1,
			    r.ms, ka_load_reconnects(load) - closed);
		/* the new generation answers the kept-alive load */
		cr_assert(answered_more(load, 200), "%s %s: no answers after reload %d\n%s",
			  name, policy, n + 1, cr->log);
	}
	ka_load_stop(load, &k);
	cr_log_info("%s %s: %ld answered, %ld lost, %ld reconnects, %ld failed connects",
		    name, policy, k.ok, k.lost, k.reconnects, k.connect_failed);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 60000)), 0, "%s", cr->log);
	cr_assert_eq(count_of(cr->log, "signal 13"), 0, "%s %s: SIGPIPE\n%s", name, policy,
		     cr->log);
	cr_assert_eq(count_of(cr->log, "still busy after"), 0,
		     "%s %s: a worker waited for the grace timer\n%s", name, policy, cr->log);
	cr_assert_eq(k.lost, 0, "%s %s: %ld request(s) lost, the first: %s\n%s", name, policy,
		     k.lost, k.first_loss, cr->log);
	/* each reload retires 2 workers holding the KEEPERS connections */
	cr_assert_geq(k.reconnects, RELOADS, "%s %s: only %ld closes seen", name, policy,
		      k.reconnects);
	cr_assert_eq(k.connect_failed, 0, "%s %s: %ld connects failed", name, policy,
		     k.connect_failed);
}

static void reloads_lose_nothing(const char *name, const char *policy,
				 const char *const *program)
{
	char dir[64];

	reloads_lose_nothing_in(dir, name, policy, program);
}

static void python(const char *policy)
{
	if (!have_program("python3"))
		cr_skip_test("python3 is not installed");
	reloads_lose_nothing("python3 http.server", policy, (const char *const[]){
		"python3", "-m", "http.server", "--protocol", "HTTP/1.1",
		"--bind", "127.0.0.1", "--directory", "DIR", "0", NULL });
}

Test(keepalive_shim, python_rr) { python("rr"); }
Test(keepalive_shim, python_shared) { python("shared"); }
Test(keepalive_shim, python_reuseport) { python("reuseport"); }

/* Content-Length from end(body); chunked when written in pieces: both. */
static const char node_script[] =
	"require('http').createServer((q, s) => {"
	" s.setHeader('X-Worker', process.env.CLUSTER_WORKER_ID);"
	" if (process.env.CLUSTER_WORKER_ID === '0') { s.write('hello '); s.end('chunked\\n'); }"
	" else s.end('hello\\n');"
	"}).listen(0, '127.0.0.1')";

static void node(const char *policy)
{
	if (!have_program("node"))
		cr_skip_test("node is not installed");
	reloads_lose_nothing("node", policy,
			     (const char *const[]){ "node", "-e", node_script, NULL });
}

Test(keepalive_shim, node_rr) { node("rr"); }
Test(keepalive_shim, node_shared) { node("shared"); }
Test(keepalive_shim, node_reuseport) { node("reuseport"); }

/* nginx: its workers (forked by each cluster-run worker) accept and
 * track their own connections; the file goes out with sendfile (opaque
 * body bytes), the head with writev. */
static void nginx(const char *policy)
{
	struct real_command c;
	char dir[64], conf[256];
	int port;

	if (!have_program("nginx"))
		cr_skip_test("nginx is not installed");
	tmpdir_new(dir, "cr-ka-nginx");
	/* nginx's workers run as nobody when it starts as root: they must
	 * read the page (else every answer is a 403, which is no answer) */
	cr_assert_eq(chmod(dir, 0755), 0);
	port = free_port();
	snprintf(conf, sizeof(conf), "%s", real_write_file(dir, "nginx.conf", 0644,
		"daemon off;\n"
		"master_process on;\n"
		"worker_processes 2;\n"
		"error_log stderr warn;\n"
		"events { worker_connections 256; }\n"
		"http {\n"
		"  access_log off;\n"
		"  sendfile on;\n"
		"  keepalive_requests 1000000;\n"
		"  client_body_temp_path %1$s/body;\n"
		"  proxy_temp_path %1$s/proxy;\n"
		"  fastcgi_temp_path %1$s/fastcgi;\n"
		"  uwsgi_temp_path %1$s/uwsgi;\n"
		"  scgi_temp_path %1$s/scgi;\n"
		"  server {\n"
		"    listen 127.0.0.1:%2$d;\n"
		"    root %1$s;\n"
		"  }\n"
		"}\n", dir, port));
	/* the page the keepers ask for, from nginx's root */
	real_write_file(dir, "index.html", 0644, "hello from nginx\n");
	snprintf(c.arg[0], sizeof(c.arg[0]), "exec nginx -e stderr -p %1$s -c %2$s "
		 "-g \"pid %1$s/nginx.$CLUSTER_WORKER_ID.pid;\"", dir, conf);
	reloads_lose_nothing("nginx", policy,
			     (const char *const[]){ "sh", "-c", c.arg[0], NULL });
}

Test(keepalive_shim, nginx_rr) { nginx("rr"); }
Test(keepalive_shim, nginx_shared) { nginx("shared"); }

/* A plain C server whose SIGPIPE is not ignored writes once more after
 * each response (--write-after): after the shim closed the connection
 * behind a response, that write fails with EPIPE, and the server lives
 * on to be stopped by the reload's SIGTERM. */
static void write_after_close(const char *policy)
{
	char dir[64];
	int epipes;

	reloads_lose_nothing_in(dir, "keepalive_server --write-after", policy,
				(const char *const[]){ helper("keepalive_server"), "--addr",
						       "127.0.0.1", "--port", "0",
						       "--write-after", NULL });
	epipes = worker_logs_count(dir, "write after the response: EPIPE");
	cr_log_info("keepalive_server %s: %d writes after the close failed with EPIPE",
		    policy, epipes);
	cr_assert_geq(epipes, RELOADS, "%s: only %d EPIPE writes seen", policy, epipes);
	cr_assert_eq(worker_logs_count(dir, "write after the response: ") , epipes,
		     "%s: a write after the response failed otherwise", policy);
}

Test(keepalive_shim, write_after_close_rr) { write_after_close("rr"); }
Test(keepalive_shim, write_after_close_shared) { write_after_close("shared"); }
