/*
 * upgrade_cluster.c - the upgrade suites' cluster under test
 * (upgrade_cluster.h).
 */
#include "upgrade_cluster.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


/* Read cluster-run's stderr so far into cr->log (for a failure's message). */
void upc_read_log(struct upc *c)
{
	cr_wait_line(c->cr, "\001never printed\001", 200);
}

/* cluster-run -n N -p POLICY [--via seccomp] [OPTS...] with a control
 * socket and a metrics address, serving PROGRAM: event_server (through the
 * shim), the Go server (through seccomp; skipped when go was not there to
 * build it, or the kernel lacks seccomp), or an absolute path (a script of
 * the test's).  extra: event_server's own options (or the path's words);
 * opts: more of cluster-run's own, NULL-terminated, or NULL. */
void upc_start_opts(struct upc *c, int n, const char *policy, const char *prog,
		    const char *extra, const char *const *opts)
{
	const char *argv[40];
	char nbuf[8], addr[64];
	int k = 0;

	tmpdir_new(c->dir, "cr-upgrade");
	snprintf(c->sock, sizeof(c->sock), "%s/c.sock", c->dir);
	c->mport = free_port();
	snprintf(c->metrics, sizeof(c->metrics), "127.0.0.1:%d", c->mport);
	snprintf(nbuf, sizeof(nbuf), "%d", n);
	c->n = n;
	argv[k++] = "-n";
	argv[k++] = nbuf;
	argv[k++] = "-p";
	argv[k++] = policy;
	argv[k++] = "--control";
	argv[k++] = c->sock;
	argv[k++] = "--metrics";
	argv[k++] = c->metrics;
	argv[k++] = "--grace";
	argv[k++] = "5";
	while (opts && *opts && k < 24)
		argv[k++] = *opts++;
	if (!strcmp(prog, "go")) {
		const char *go = helper("go_server");

		if (access(go, X_OK) != 0)
			cr_skip_test("go is not installed (golang-go): the Go server was not built");
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port());
		argv[k++] = "--via";
		argv[k++] = "seccomp";
		argv[k++] = "--";
		argv[k++] = go;
		argv[k++] = addr;
	} else {
		static char words[256];
		char *save = NULL, *w;

		snprintf(words, sizeof(words), "%s", extra ? extra : "");

		argv[k++] = "--";
		if (prog[0] == '/') {
			argv[k++] = prog;
		} else {
			argv[k++] = helper("event_server");
			argv[k++] = "--graceful";
		}
		for (w = strtok_r(words, " ", &save); w && k < 38; w = strtok_r(NULL, " ", &save))
			argv[k++] = w;
	}
	argv[k] = NULL;
	c->cr = cr_startv(NULL, argv);
	c->port = cr_ready_port(c->cr, 0, 60000);
	if (c->port < 0 && strstr(c->cr->log, "which this kernel lacks"))
		cr_skip_test("seccomp is not available here: %s", c->cr->log);
	cr_assert(c->port > 0, "%s", c->cr->log);
	if (!strcmp(prog, "go"))
		cr_assert(strstr(c->cr->log, "via seccomp"), "%s", c->cr->log);
}

void upc_start(struct upc *c, int n, const char *policy, const char *prog, const char *extra)
{
	upc_start_opts(c, n, policy, prog, extra, NULL);
}

void upc_status(struct upc *c, struct run *r)
{
	ctl_run(r, c->sock, "status", "--json", NULL);
	cr_assert_eq(run_code(r), 0, "status: %s%s\n%s", r->out, r->err, c->cr->log);
}

/* The workers of a status --json answer; how many (at most max). */
int upc_workers_of(const char *json, struct upc_worker *w, int max)
{
	const char *p = strstr(json, "\"workers\":[");
	int n = 0;

	while (p && n < max && (p = strstr(p, "{\"slot\":"))) {
		const char *end = strchr(p, '}');
		const char *g = strstr(p, "\"generation\":"), *h = strstr(p, "\"handed\":");
		int pid;

		cr_assert(sscanf(p, "{\"slot\":%d,\"pid\":%d,\"state\":\"%15[a-z]\"", &w[n].slot,
				 &pid, w[n].state) == 3, "%s", p);
		cr_assert(g && h && end && g < end && h < end, "%.300s", p);
		w[n].generation = (unsigned)strtoul(g + strlen("\"generation\":"), NULL, 10);
		w[n].handed = strtoull(h + strlen("\"handed\":"), NULL, 10);
		w[n].pid = (pid_t)pid;
		n++;
		p = end;
	}
	return n;
}

/* Each slot's pid, from status; and, when asked, the sum of what the
 * workers took (handed: by the master, or accepted by themselves as the
 * shim counts it).  The number of workers. */
int upc_slot_pids(struct upc *c, pid_t *pid, unsigned long long *taken)
{
	struct run r;
	struct upc_worker w[32];
	int n, i;

	upc_status(c, &r);
	n = upc_workers_of(r.out, w, 32);
	if (taken)
		*taken = 0;
	for (i = 0; i < 16; i++)
		pid[i] = 0;
	for (i = 0; i < n; i++) {
		cr_assert(w[i].slot >= 0 && w[i].slot < 16);
		pid[w[i].slot] = w[i].pid;
		if (taken)
			*taken += w[i].handed;
	}
	return n;
}

void upc_same_pids(struct upc *c, const pid_t *before, const char *when)
{
	pid_t now[16];
	int i, n = upc_slot_pids(c, now, NULL);

	cr_assert_eq(n, c->n, "%s: %d workers\n%s", when, n, c->cr->log);
	for (i = 0; i < c->n; i++)
		cr_assert_eq(now[i], before[i], "%s: slot %d was pid %d, is %d\n%s", when, i,
			     (int)before[i], (int)now[i], c->cr->log);
}

/* For wait_until: status answers and counts want upgrades. */
int upc_upgrades_are(void *arg)
{
	struct upc_upgrades *u = arg;
	const char *argv[] = { cluster_ctl_path(), "-s", u->c->sock, "status", "--json", NULL };
	struct run r;

	run_capture(&r, argv, 30000, NULL, NULL);
	return run_code(&r) == 0 && json_num(r.out, "upgrades") == u->want;
}

/* cluster-ctl upgrade [path]: it worked, and said so in one line. */
void upc_upgrade_ok(struct upc *c, const char *path)
{
	struct run r;

	if (path)
		ctl_run(&r, c->sock, "upgrade", path, NULL);
	else
		ctl_run(&r, c->sock, "upgrade", NULL);
	if (run_code(&r) != 0)
		upc_read_log(c);
	cr_assert_eq(run_code(&r), 0, "upgrade: exit %d: %s%s\n%s", run_code(&r), r.out, r.err,
		     c->cr->log);
	/* "upgraded in place: OLD -> NEW (PATH) in T ms, N workers kept (pid P)" */
	cr_assert(!strncmp(r.out, "upgraded in place: ", 19), "%s", r.out);
	cr_assert_eq(count_of(r.out, "\n"), 1, "not one line: %s", r.out);
	cr_assert_eq(r.err[0], 0, "%s", r.err);
}

/* What cluster-ctl upgrade answered is a failure: exit 1, one line on
 * stderr. */
void upc_refused_line(struct upc *c, struct run *r)
{
	if (run_code(r) != 1 || strncmp(r->err, "cluster-ctl: upgrade failed: ", 29))
		upc_read_log(c);
	cr_assert_eq(run_code(r), 1, "upgrade: exit %d: %s%s\n%s", run_code(r), r->out, r->err,
		     c->cr->log);
	cr_assert(!strncmp(r->err, "cluster-ctl: upgrade failed: ", 29), "%s\n%s", r->err,
		  c->cr->log);
	cr_assert_eq(count_of(r->err, "\n"), 1, "not one line: %s", r->err);
	cr_assert_eq(r->out[0], 0, "%s", r->out);
}

/* cluster-ctl upgrade [path] failed: exit 1, one line on stderr. */
void upc_upgrade_refused(struct upc *c, const char *path, struct run *r)
{
	if (path)
		ctl_run(r, c->sock, "upgrade", path, NULL);
	else
		ctl_run(r, c->sock, "upgrade", NULL);
	upc_refused_line(c, r);
}

void upc_metrics_have(struct upc *c, const char *needle)
{
	char buf[262144];

	cr_assert(http_get("127.0.0.1", c->mport, buf, sizeof(buf), 60000) > 0,
		  "metrics did not answer\n%s", c->cr->log);
	cr_assert(strstr(buf, needle), "metrics lack '%s':\n%.4000s", needle, buf);
}

void upc_stop(struct upc *c)
{
	int st = cr_stop(c->cr, SIGTERM, 60000);

	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "stop: status 0x%x\n%s",
		  st, c->cr->log);
}

