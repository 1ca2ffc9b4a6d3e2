/*
 * test_haproxy.c - past one machine, with real parts: two cluster-run
 * instances standing for two hosts (127.0.0.2 and 127.0.0.3, same port,
 * rr, each with --metrics for its /ready), real HAProxy in front on
 * 127.0.0.1 with health checks on /ready (the configuration is
 * deploy/haproxy.cfg's, with this test's addresses).  Under a bounded load
 * through HAProxy: a rolling reload of each instance in turn (cluster-ctl
 * reload --wait), then one instance stopped entirely.  No request fails,
 * and HAProxy's stats socket shows the stopped instance DOWN.  Run three
 * times in a row to catch flakiness.  Skipped when haproxy is absent.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t haproxy_pid = -1;

static void cleanup(void)
{
	if (haproxy_pid > 0) {
		kill(haproxy_pid, SIGKILL);
		waitpid(haproxy_pid, NULL, 0);
	}
	haproxy_pid = -1;
	tmpdir_fini();
}

TestSuite(haproxy, .fini = cleanup, .timeout = 120);

struct host {
	const char *addr;
	char metrics[32];
	char sock[128];
	struct cr *cr;
};

static void start_host(struct host *h, const char *dir, int port, int mport)
{
	char port_s[16];

	snprintf(port_s, sizeof(port_s), "%d", port);
	snprintf(h->metrics, sizeof(h->metrics), "%s:%d", h->addr, mport);
	snprintf(h->sock, sizeof(h->sock), "%s/%s.sock", dir, h->addr);
	h->cr = cr_start(NULL, "-n", "2", "-p", "rr", "--grace", "5", "--control", h->sock,
			 "--metrics", h->metrics, "--", helper("blocking_server"), "--graceful",
			 "--reuseaddr", "--addr", h->addr, "--port", port_s, NULL);
	cr_assert(cr_wait_line(h->cr, "2 workers listening", 10000), "%s", h->cr->log);
}

static void write_config(const char *path, const char *dir, int fport, int port, int mport)
{
	FILE *f = fopen(path, "w");

	cr_assert(f);
	fprintf(f,
		"global\n"
		"  stats socket %s/haproxy.sock mode 600 level admin\n"
		"defaults\n"
		"  mode http\n"
		"  timeout connect 2s\n"
		"  timeout client 10s\n"
		"  timeout server 10s\n"
		"  retries 3\n"
		"  option redispatch 1\n"
		"  retry-on all-retryable-errors\n"
		"frontend web\n"
		"  bind 127.0.0.1:%d\n"
		"  default_backend cluster\n"
		"backend cluster\n"
		"  balance roundrobin\n"
		"  option httpchk GET /ready\n"
		"  http-check expect status 200\n"
		"  default-server inter 200ms fall 2 rise 2 check port %d\n"
		"  server host2 127.0.0.2:%d\n"
		"  server host3 127.0.0.3:%d\n",
		dir, fport, mport, port, port);
	cr_assert_eq(fclose(f), 0);
}

static void start_haproxy(const char *cfg)
{
	haproxy_pid = fork();
	cr_assert(haproxy_pid >= 0);
	if (haproxy_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		execlp("haproxy", "haproxy", "-db", "-f", cfg, (char *)NULL);
		_exit(127);
	}
}

/* "UP", "DOWN", ... of a server, from the stats socket's CSV. */
static int server_status(const char *dir, const char *server, char *out, size_t cap)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char buf[16384], key[64];
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	const char *line;
	int col;

	snprintf(un.sun_path, sizeof(un.sun_path), "%s/haproxy.sock", dir);
	out[0] = '\0';
	if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
	    write(fd, "show stat\n", 10) != 10) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	snprintf(key, sizeof(key), "\ncluster,%s,", server);
	line = strstr(buf, key);
	if (!line)
		return -1;
	/* status is the 18th column */
	for (line++, col = 1; col < 18 && line; col++) {
		line = strchr(line, ',');
		if (line)
			line++;
	}
	if (!line)
		return -1;
	snprintf(out, cap, "%.*s", (int)strcspn(line, ","), line);
	return 0;
}

struct state_want {
	const char *dir, *server, *status;
};

static int server_is(void *arg)
{
	struct state_want *w = arg;
	char now[32];

	return server_status(w->dir, w->server, now, sizeof(now)) == 0 &&
	       !strcmp(now, w->status);
}

static void more_ok(struct load *l, long more)
{
	long base = load_ok_so_far(l), deadline = now_ms() + 10000;

	while (load_ok_so_far(l) < base + more && now_ms() < deadline)
		sleep_ms(10);
}

static int ctl_reload_wait(struct host *h, char *err, size_t cap)
{
	const char *argv[] = { cluster_ctl_path(), "-s", h->sock, "-t", "30", "reload", "--wait",
			       NULL };
	struct run r;

	run_capture(&r, argv, 40000, NULL, NULL);
	snprintf(err, cap, "%.1000s%.1000s", r.out, r.err);
	return r.status >= 0 && WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
}

static void one_round(int round)
{
	struct host a = { .addr = "127.0.0.2" }, b = { .addr = "127.0.0.3" };
	int port = free_port(), mport = free_port(), fport = free_port();
	struct state_want up_a, up_b, down_a;
	char dir[64], cfg[128], why[4096], status[32];
	long ok, failed, per[16], phase_failed[3];
	struct load *load;

	tmpdir_new(dir, "cr-haproxy");
	up_a = (struct state_want){ dir, "host2", "UP" };
	up_b = (struct state_want){ dir, "host3", "UP" };
	down_a = (struct state_want){ dir, "host2", "DOWN" };
	start_host(&a, dir, port, mport);
	start_host(&b, dir, port, mport);
	snprintf(cfg, sizeof(cfg), "%s/haproxy.cfg", dir);
	write_config(cfg, dir, fport, port, mport);
	start_haproxy(cfg);
	cr_assert(wait_until(server_is, &up_a, 10000) && wait_until(server_is, &up_b, 10000),
		  "haproxy never saw both hosts UP");

	load = load_start(fport, 4);
	more_ok(load, 200);
	phase_failed[0] = load_failed_so_far(load);
	cr_assert_eq(ctl_reload_wait(&a, why, sizeof(why)), 0, "reload of host 2: %s", why);
	more_ok(load, 200);
	phase_failed[1] = load_failed_so_far(load);
	cr_assert_eq(ctl_reload_wait(&b, why, sizeof(why)), 0, "reload of host 3: %s", why);
	more_ok(load, 200);
	phase_failed[2] = load_failed_so_far(load);
	kill(a.cr->pid, SIGTERM);
	cr_assert(wait_until(server_is, &down_a, 10000), "haproxy did not see host 2 DOWN (%s)",
		  server_status(dir, "host2", status, sizeof(status)) == 0 ? status : "?");
	cr_assert(cr_wait_exit(a.cr, 15000) == 0, "%s", a.cr->log);
	more_ok(load, 200);
	load_stop(load, &ok, &failed, per);
	cr_log_info("round %d: %ld requests through haproxy, %ld failed (before, during the "
		    "reloads of host 2, host 3, the stop of host 2: %ld %ld %ld %ld)", round, ok,
		    failed, phase_failed[0], phase_failed[1] - phase_failed[0],
		    phase_failed[2] - phase_failed[1], failed - phase_failed[2]);
	cr_assert_eq(failed, 0, "%ld of %ld requests through haproxy failed", failed,
		     ok + failed);
	cr_assert_gt(ok, 800);
	cr_assert(wait_until(server_is, &up_b, 1000), "host 3 not UP at the end");

	kill(haproxy_pid, SIGTERM);
	waitpid(haproxy_pid, NULL, 0);
	haproxy_pid = -1;
	cr_assert_eq(cr_stop(b.cr, SIGTERM, 15000), 0, "%s", b.cr->log);
}

Test(haproxy, two_hosts_rolling_reloads_and_one_stopped)
{
	int round;

	if (!have_program("haproxy"))
		cr_skip_test("haproxy is not installed (Debian: haproxy)");
	for (round = 1; round <= 3; round++)
		one_round(round);
}
