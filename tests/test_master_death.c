/*
 * test_master_death.c - kill -9 of the master leaves nothing behind: within
 * a second no process of any worker is alive and nothing listens on the
 * port, under every policy, for the shapes that escape a plain
 * PR_SET_PDEATHSIG: a prefork server's children, a fork-per-connection
 * child behind an `sh -c` wrapper, a double-forked setsid() daemon, and
 * nginx with its own master process (skipped when nginx is absent).
 *
 * Before the kill the test lists the cluster's processes itself: every
 * process whose environment names this master (CLUSTER_RUN_MASTER=PID:...)
 * and every process in a worker's process group (nginx overwrites its
 * environment block with its process title).  It checks there are more of
 * them than workers, so the case really has processes the master did not
 * fork itself.
 */
#include "harness.h"
#include "real_programs.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PIDS 256
#define GONE_WITHIN_MS 1000

static char tmpdir[64];

static void suite_fini(void)
{
	char cmd[128];

	harness_cleanup();
	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	tmpdir[0] = '\0';
}

TestSuite(master_death, .fini = suite_fini, .timeout = 120);

struct cluster_procs {
	pid_t pids[MAX_PIDS];
	int n;
	int port;
};

static int environ_names(pid_t pid, const char *marker)
{
	static char buf[1 << 17];
	char path[64];
	ssize_t n, len = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while (len < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	for (ssize_t i = 0; i < len; i += (ssize_t)strlen(buf + i) + 1)
		if (!strncmp(buf + i, marker, strlen(marker)))
			return 1;
	return 0;
}

static pid_t pgid_of(pid_t pid)
{
	char path[64], buf[512], *r;
	int pgid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (r = strrchr(buf, ')')) &&
	    sscanf(r + 2, "%*c %*d %d", &pgid) != 1)
		pgid = -1;
	fclose(f);
	return pgid;
}

/* Every live process of the cluster started as cr. */
static void list_cluster(struct cr *cr, struct cluster_procs *cp)
{
	pid_t workers[64];
	int nworkers = cr_children(cr, workers, 64), i;
	char marker[64];
	struct dirent *e;
	DIR *d = opendir("/proc");

	snprintf(marker, sizeof(marker), "CLUSTER_RUN_MASTER=%d:", (int)cr->pid);
	cp->n = 0;
	cr_assert(d);
	while ((e = readdir(d)) && cp->n < MAX_PIDS) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		pid_t pg;
		int ours;

		if (*end || pid <= 1 || pid == cr->pid || pid == getpid() || !pid_alive((pid_t)pid))
			continue;
		pg = pgid_of((pid_t)pid);
		ours = environ_names((pid_t)pid, marker);
		for (i = 0; i < nworkers && !ours; i++)
			ours = pg == workers[i];
		if (ours)
			cp->pids[cp->n++] = (pid_t)pid;
	}
	closedir(d);
}

static int all_gone(void *arg)
{
	struct cluster_procs *cp = arg;
	int i;

	for (i = 0; i < cp->n; i++)
		if (pid_alive(cp->pids[i]))
			return 0;
	return !port_accepts(cp->port);
}

static int left_count(const struct cluster_procs *cp)
{
	int i, left = 0;

	for (i = 0; i < cp->n; i++)
		left += pid_alive(cp->pids[i]);
	return left;
}

/* Start PROGRAM under policy with 2 workers, make sure it serves, maybe
 * leave a connection open (a fork-per-connection child then exists),
 * kill -9 the master and wait for everything to go. */
static void kill_master(const char *policy, int port, int hold, const char *const *program)
{
	const char *argv[48] = { "-n", "2", "-p", policy, "--" };
	struct cluster_procs cp = { .port = 0 };
	int i = 5, got, held = -1, left;
	char buf[4096];
	struct cr *cr;
	long t0, took;

	while (*program && i < 47)
		argv[i++] = *program++;
	argv[i] = NULL;
	cr = cr_startv(NULL, argv);
	got = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(got, 0, "%s", cr->log);
	cr_assert(port == 0 || got == port, "%s", cr->log);
	cp.port = got;
	cr_assert_geq(http_get("127.0.0.1", got, buf, sizeof(buf), 5000), 0,
		      "no answer before the kill: %s\n%s", strerror(errno), cr->log);
	if (hold)
		held = tcp_connect("127.0.0.1", got, 5000);
	/* the fork-per-connection child exists once the worker took it */
	for (t0 = now_ms(); hold; ) {
		list_cluster(cr, &cp);
		if (cp.n > 2 || now_ms() - t0 > 5000)
			break;
		usleep(20000);
	}
	list_cluster(cr, &cp);
	cr_assert_gt(cp.n, 2, "only %d processes in the cluster: the case is not tested\n%s",
		     cp.n, cr->log);
	cr_assert_eq(kill(cr->pid, SIGKILL), 0);
	cr_assert_neq(cr_wait_exit(cr, 5000), -1);
	t0 = now_ms();
	wait_until(all_gone, &cp, 5000);
	took = now_ms() - t0;
	left = left_count(&cp);
	if (held >= 0)
		close(held);
	cr_assert_eq(left, 0, "%d of %d processes of the cluster still alive %ld ms after the "
		     "master died\n%s", left, cp.n, took, cr->log);
	cr_assert(!port_accepts(cp.port), "port %d still accepts %ld ms after the master died",
		  cp.port, took);
	cr_assert_leq(took, GONE_WITHIN_MS, "the cluster (%d processes) took %ld ms to go",
		      cp.n, took);
	cr_log_info("%s: %d processes gone %ld ms after the master", policy, cp.n, took);
}

static void prefork(const char *policy)
{
	kill_master(policy, 0, 0, (const char *const[]){ helper("prefork_server"),
		    "--port", "0", "--children", "3", NULL });
}

static void daemon_left(const char *policy)
{
	kill_master(policy, 0, 0, (const char *const[]){ helper("daemon_server"),
		    "--port", "0", NULL });
}

/* sh stays (the command is not its last), the server forks per
 * connection, and one connection is kept open so a child exists. */
static void wrapped_forking(const char *policy)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "%s --port 0; exit 0", helper("forking_server"));
	kill_master(policy, 0, 1, (const char *const[]){ "sh", "-c", cmd, NULL });
}

static int have_nginx(void)
{
	return access("/usr/sbin/nginx", X_OK) == 0 || access("/usr/bin/nginx", X_OK) == 0;
}

static void nginx(const char *policy)
{
	struct real_command c;
	int port;

	if (!have_nginx())
		cr_skip_test("nginx is not installed");
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cr-death-XXXXXX");
	cr_assert(mkdtemp(tmpdir));
	cr_assert(chmod(tmpdir, 0755) == 0);
	port = free_port();
	kill_master(policy, port, 0, real_nginx_command(&c, tmpdir, port));
}

Test(master_death, prefork_rr) { prefork("rr"); }
Test(master_death, prefork_shared) { prefork("shared"); }
Test(master_death, prefork_reuseport) { prefork("reuseport"); }
Test(master_death, prefork_leastconn) { prefork("leastconn"); }
Test(master_death, daemon_rr) { daemon_left("rr"); }
Test(master_death, daemon_shared) { daemon_left("shared"); }
Test(master_death, daemon_reuseport) { daemon_left("reuseport"); }
Test(master_death, daemon_leastconn) { daemon_left("leastconn"); }
Test(master_death, forking_rr) { wrapped_forking("rr"); }
Test(master_death, forking_shared) { wrapped_forking("shared"); }
Test(master_death, forking_reuseport) { wrapped_forking("reuseport"); }
Test(master_death, forking_leastconn) { wrapped_forking("leastconn"); }
Test(master_death, nginx_rr) { nginx("rr"); }
Test(master_death, nginx_shared) { nginx("shared"); }
Test(master_death, nginx_reuseport) { nginx("reuseport"); }
Test(master_death, nginx_leastconn) { nginx("leastconn"); }

/* The guard cannot be turned against someone else: a process of another
 * user (root runs the test; the decoy runs as a uid nobody uses) in a
 * session of its own, whose environment carries this master's marker,
 * survives the master's death; the cluster itself is gone as usual. */
Test(master_death, decoy_of_another_user_survives)
{
	char marker[128], path[64], env[4096];
	struct cluster_procs cp = { .port = 0 };
	uid_t uid = (uid_t)(40000 + getpid() % 20000);
	ssize_t n = 0;
	struct cr *cr;
	pid_t decoy;
	int fd, st;

	if (geteuid() != 0)
		cr_skip_test("needs root (a decoy of another user)");
	cr = cr_start(NULL, "-n", "1", "--", helper("prefork_server"), "--port", "0", NULL);
	cp.port = cr_ready_port(cr, 0, 20000);
	cr_assert_gt(cp.port, 0, "%s", cr->log);
	/* a worker's: the master set it after it started */
	cr_assert_eq(cr_children(cr, &decoy, 1), 1);
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)decoy);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0);
	n = read(fd, env, sizeof(env) - 1);
	close(fd);
	cr_assert_gt(n, 0);
	marker[0] = '\0';
	env[n] = '\0';
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(env + i) + 1) {
		size_t len = strlen(env + i);

		if (!strncmp(env + i, "CLUSTER_RUN_MASTER=", 19) && len < sizeof(marker))
			memcpy(marker, env + i, len + 1);
	}
	cr_assert(marker[0], "no CLUSTER_RUN_MASTER in a worker's environment");
	list_cluster(cr, &cp);  /* before the decoy, which would match */
	decoy = fork();
	cr_assert(decoy >= 0);
	if (decoy == 0) {
		char *argv[] = { "sleep", "30", NULL }, *envp[] = { marker, NULL };

		setsid();
		if (setgid(uid) < 0 || setuid(uid) < 0)
			_exit(1);
		execve("/bin/sleep", argv, envp);
		_exit(127);
	}
	/* the decoy runs its own program before the master goes */
	for (st = 0; st < 250 && !environ_names(decoy, "CLUSTER_RUN_MASTER="); st++)
		sleep_ms(20);
	cr_assert(environ_names(decoy, "CLUSTER_RUN_MASTER="), "the decoy did not start");
	cr_assert_eq(kill(cr->pid, SIGKILL), 0);
	cr_assert_neq(cr_wait_exit(cr, 5000), -1);
	wait_until(all_gone, &cp, 5000);
	cr_assert_eq(left_count(&cp), 0, "the cluster outlived its master");
	cr_assert(pid_alive(decoy), "the guard killed another user's process");
	kill(decoy, SIGKILL);
	waitpid(decoy, &st, 0);
}
