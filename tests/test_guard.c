/*
 * test_guard.c - the guard (the process that kills a cluster whose master
 * was killed outright, see test_master_death.c) is itself watched: killed
 * with SIGKILL, its death is logged and a new guard started, which knows
 * every live worker.  Shown end to end: a prefork server's children (which
 * PR_SET_PDEATHSIG does not cover, only the guard kills them) are gone
 * after a kill -9 of the master that came after the guard's own death.
 * The new guard is not one of the master's children.
 *
 * The guard is found as the cluster-guard process whose fd 3 is the read
 * end of a pipe the master holds the write end of.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(guard, .fini = harness_cleanup, .timeout = 60);

#define MAX_PIPES 64

/* The pipes pid holds ("pipe:[INODE]"), up to MAX_PIPES. */
static int pipes_of(pid_t pid, char names[][64])
{
	char dir[64], path[320], link[64];
	struct dirent *e;
	int n = 0;
	DIR *d;
	ssize_t len;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(dir)))
		return 0;
	while ((e = readdir(d)) && n < MAX_PIPES) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (!strncmp(link, "pipe:", 5))
			snprintf(names[n++], 64, "%s", link);
	}
	closedir(d);
	return n;
}

static int comm_is(pid_t pid, const char *name)
{
	char path[64], buf[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	return read_file(path, buf, sizeof(buf)) > 0 && !strncmp(buf, name, strlen(name)) &&
	       buf[strlen(name)] == '\n';
}

/* The live guard of master, or 0. */
static pid_t find_guard(pid_t master)
{
	static char pipes[MAX_PIPES][64];
	char path[64], link[64];
	int n = pipes_of(master, pipes), i;
	pid_t found = 0;
	struct dirent *e;
	DIR *d = opendir("/proc");
	ssize_t len;

	cr_assert(d);
	while (!found && (e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 1 || !comm_is((pid_t)pid, "cluster-guard") ||
		    proc_state((pid_t)pid) == 'Z')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/fd/3", pid);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		for (i = 0; i < n; i++)
			if (!strcmp(pipes[i], link))
				found = (pid_t)pid;
	}
	closedir(d);
	return found;
}

struct guard_of {
	pid_t master, guard;
};

static int guard_is(void *arg)
{
	struct guard_of *g = arg;

	return find_guard(g->master) == g->guard;
}

/* Children of pid (from /proc/PID/task/PID/children), up to max. */
static int children_of(pid_t pid, pid_t *out, int max)
{
	char path[96], buf[4096], *p, *end;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	for (p = buf; n < max; p = end) {
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		out[n++] = (pid_t)v;
	}
	return n;
}

struct procs {
	pid_t pid[32];
	int n;
};

static int all_dead(void *arg)
{
	struct procs *p = arg;
	int i;

	for (i = 0; i < p->n; i++) {
		char st = proc_state(p->pid[i]);
		if (st && st != 'Z' && st != 'X')
			return 0;
	}
	return 1;
}

Test(guard, killed_guard_is_logged_and_replaced)
{
	struct procs kids = { .n = 0 };
	struct guard_of wanted;
	pid_t workers[8], guard, again;
	char want[64];
	const char *line;
	struct cr *cr;
	int nworkers, i;

	cr = cr_start(NULL, "-n", "2", "--", helper("prefork_server"), "--port", "0",
		      "--children", "2", NULL);
	cr_assert(cr_ready_port(cr, 0, 15000) > 0, "%s", cr->log);
	guard = find_guard(cr->pid);
	cr_assert(guard > 0, "no guard found");

	cr_assert_eq(kill(guard, SIGKILL), 0);
	snprintf(want, sizeof(want), "guard (pid %d) died; a new one (pid ", (int)guard);
	line = cr_wait_line(cr, want, 10000);
	cr_assert(line, "%s", cr->log);
	again = (pid_t)atol(line + strlen(want));
	cr_assert(again > 0 && again != guard, "%s", line);
	/* it may not have moved its pipe to fd 3 yet */
	wanted.master = cr->pid;
	wanted.guard = again;
	cr_assert(wait_until(guard_is, &wanted, 5000), "the new guard is not the one named");
	nworkers = cr_children(cr, workers, 8);
	cr_assert_eq(nworkers, 2, "the new guard is one of the master's children");

	/* the prefork children die only by the guard's hand */
	for (i = 0; i < nworkers; i++) {
		kids.pid[kids.n++] = workers[i];
		kids.n += children_of(workers[i], kids.pid + kids.n, 8);
	}
	cr_assert_geq(kids.n, 6, "expected 2 workers with 2 children each");
	cr_assert_eq(kill(cr->pid, SIGKILL), 0);
	cr_assert(wait_until(all_dead, &kids, 10000), "processes of the cluster outlived it");
	cr_wait_exit(cr, 10000);
}
