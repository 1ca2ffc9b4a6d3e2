/*
 * test_drain.c - every accepted connection is answered through a worker's
 * whole life cycle, under every policy (issue 8).  Two workers of a server
 * that exits at once on SIGTERM (no --graceful: the default action, like
 * most simple servers), connection-per-request load from 4 client threads,
 * then two rolling restarts (HUP, each waited for up to its "reload
 * complete" line), a scale up (TTIN) and a scale down (TTOU): not one
 * request may fail.  A retiring worker must stop taking connections, serve
 * the ones it took, and only then be signalled; a server that dies on TERM
 * shows at once whether that happened.  Each test repeats the cycle five
 * times with a fresh cluster-run, prints each trial's counts, and asserts
 * after the last so a failure shows the whole series.
 *
 * The same with node's http.createServer where node is installed: node
 * closes sockets with syscall(SYS_close), which the shim must count too, or
 * every retirement waits the whole --grace.  So for node, with -v, no
 * worker may be stopped by the grace timer (the "still busy after" line):
 * each retirement must end because its connections closed.  (This was a
 * 6 s bound on the reload; at load 25-30 here node's reloads took 2-5.5 s
 * and the bound failed for the machine's sake, not the drain's.)
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(drain, .fini = harness_cleanup, .timeout = 280);

#define TRIALS 5
#define NODE_TRIALS 3           /* node starts slowly: fewer, each as strict */
#define CLIENTS 4
#define PER_CLIENT_MAX 50000    /* each load thread stops here ... */
#define LOAD_DEADLINE_MS 120000 /* ... or here, whatever the test does */
#define NODE_BOUND_MS 30000     /* waits only; the grace check decides */

/* ------------------------------------------------------------------ */
/* A bounded connection-per-request load that remembers its first failure. */

struct drain_load {
	int port;
	long deadline;
	atomic_int stop;
	atomic_long ok, failed;
	atomic_int first_errno;
	char first_reply[256];          /* what the first failed request read */
	pthread_t threads[CLIENTS];
};

static void *drain_thread(void *arg)
{
	struct drain_load *l = arg;
	char buf[4096];
	long n;

	for (n = 0; n < PER_CLIENT_MAX && !atomic_load(&l->stop) && now_ms() < l->deadline;
	     n++) {
		int zero = 0, len;

		buf[0] = '\0';
		len = http_get("127.0.0.1", l->port, buf, sizeof(buf), 5000);
		if (len >= 0 && strstr(buf, " 200 ")) {
			atomic_fetch_add(&l->ok, 1);
			continue;
		}
		if (atomic_compare_exchange_strong(&l->first_errno, &zero,
						   len < 0 && errno ? errno : EPROTO))
			snprintf(l->first_reply, sizeof(l->first_reply), "%.200s", buf);
		atomic_fetch_add(&l->failed, 1);
	}
	return NULL;
}

static struct drain_load *drain_load_start(int port)
{
	struct drain_load *l = calloc(1, sizeof(*l));
	int i;

	cr_assert(l);
	l->port = port;
	l->deadline = now_ms() + LOAD_DEADLINE_MS;
	for (i = 0; i < CLIENTS; i++)
		cr_assert(pthread_create(&l->threads[i], NULL, drain_thread, l) == 0);
	return l;
}

static void drain_load_stop(struct drain_load *l)
{
	int i;

	atomic_store(&l->stop, 1);
	for (i = 0; i < CLIENTS; i++)
		pthread_join(l->threads[i], NULL);
}

/* Wait until `more` further requests succeeded (at most 10 s): the cluster
 * is serving between two steps. */
static void wait_more_ok(struct drain_load *l, long more)
{
	long base = atomic_load(&l->ok), deadline = now_ms() + 10000;

	while (atomic_load(&l->ok) < base + more && now_ms() < deadline)
		sleep_ms(10);
}

/* ------------------------------------------------------------------ */

/* Exactly `want` workers, every one "ready" (listening) in cluster-ctl
 * status: a worker added by TTIN takes connections from then on. */
static int all_ready(void *arg)
{
	struct cr_workers *w = arg;
	char pid[16];
	const char *argv[] = { cluster_ctl_path(), "-p", pid, "status", "--json", NULL };
	static struct run r;

	snprintf(pid, sizeof(pid), "%d", (int)w->cr->pid);
	run_capture(&r, argv, 5000, NULL, NULL);
	return count_of(r.out, "{\"slot\":") == w->want &&
	       count_of(r.out, "\"state\":\"ready\"") == w->want;
}

struct trial {
	long ok, failed;
	long reload_ms[2];              /* HUP to its "reload complete" */
	long scale_down_ms;             /* TTOU to two workers again */
	int first_errno;
	char first_reply[256];
};

/* One cycle: start, load, HUP, HUP, TTIN, TTOU, stop the load, TERM.
 * bound_ms > 0: each reload and the scale-down is waited for that long, and
 * no worker may be stopped by the grace timer (-v shows it). */
static void run_trial(const char *policy, const char *const *program, int bound_ms,
		      struct trial *t)
{
	const char *argv[32];
	int n = 0, port, wait_ms = bound_ms > 0 ? bound_ms : 25000;
	struct cr_workers w = { 0 };
	struct drain_load *l;
	struct cr *cr;
	long t0;

	argv[n++] = "-n";
	argv[n++] = "2";
	argv[n++] = "-p";
	argv[n++] = policy;
	argv[n++] = "--grace";
	argv[n++] = "10";
	if (bound_ms > 0)
		argv[n++] = "-v";       /* for the "still busy after" line */
	argv[n++] = "--";
	while (*program && n < 31)
		argv[n++] = *program++;
	argv[n] = NULL;
	cr = cr_startv(NULL, argv);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert(port > 0, "%s: cluster-run did not start:\n%s", policy, cr->log);
	w.cr = cr;
	l = drain_load_start(port);
	wait_more_ok(l, 100);

	for (int i = 0; i < 2; i++) {
		t0 = now_ms();
		cr_assert_eq(kill(cr->pid, SIGHUP), 0);
		cr_assert(cr_wait_count(cr, "reload complete", i + 1, wait_ms),
			  "%s: reload %d not complete %d ms after the HUP\n%s", policy, i + 1,
			  wait_ms, cr->log);
		t->reload_ms[i] = now_ms() - t0;
		w.want = 2;
		cr_assert(wait_until(cr_have_workers, &w, 5000), "%s", cr->log);
		wait_more_ok(l, 100);
	}

	cr_assert_eq(kill(cr->pid, SIGTTIN), 0);
	cr_assert(cr_wait_line(cr, "scaling up to 3 workers", 5000), "%s", cr->log);
	w.want = 3;
	cr_assert(wait_until(cr_have_workers, &w, 10000), "%s: no third worker\n%s", policy,
		  cr->log);
	cr_assert(wait_until(all_ready, &w, 10000), "%s: the third worker is not ready "
		  "10 s after the TTIN\n%s", policy, cr->log);
	wait_more_ok(l, 200);

	t0 = now_ms();
	cr_assert_eq(kill(cr->pid, SIGTTOU), 0);
	cr_assert(cr_wait_line(cr, "scaling down to 2 workers", 5000), "%s", cr->log);
	w.want = 2;
	cr_assert(wait_until(cr_have_workers, &w, wait_ms),
		  "%s: the removed worker still runs %d ms after the TTOU\n%s", policy,
		  wait_ms, cr->log);
	t->scale_down_ms = now_ms() - t0;
	wait_more_ok(l, 100);
	if (bound_ms > 0)
		cr_assert(!strstr(cr->log, "still busy after"),
			  "%s: a worker waited out --grace (its connections never closed)\n%s",
			  policy, cr->log);

	drain_load_stop(l);
	t->ok = atomic_load(&l->ok);
	t->failed = atomic_load(&l->failed);
	t->first_errno = atomic_load(&l->first_errno);
	snprintf(t->first_reply, sizeof(t->first_reply), "%s", l->first_reply);
	free(l);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 25000)), 0, "%s", cr->log);
}

/* `trials` cycles; every request answered in every one. */
static void drain_cycles(const char *policy, const char *const *program, int trials,
			 int bound_ms)
{
	struct trial t[TRIALS];
	const char *name = strrchr(program[0], '/') ? strrchr(program[0], '/') + 1 : program[0];
	char counts[512] = "";
	long failed = 0;
	int i, worst = -1;

	cr_assert_leq(trials, TRIALS);
	for (i = 0; i < trials; i++) {
		memset(&t[i], 0, sizeof(t[i]));
		run_trial(policy, program, bound_ms, &t[i]);
		cr_log_info("%s %s trial %d: %ld ok, %ld failed; reloads %ld ms, %ld ms; "
			    "scale-down %ld ms", policy, name, i + 1, t[i].ok,
			    t[i].failed, t[i].reload_ms[0], t[i].reload_ms[1],
			    t[i].scale_down_ms);
		snprintf(counts + strlen(counts), sizeof(counts) - strlen(counts),
			 " %ld/%ld", t[i].failed, t[i].ok + t[i].failed);
		failed += t[i].failed;
		if (t[i].failed && worst < 0)
			worst = i;
	}
	cr_log_info("%s: failed/requests per trial:%s", policy, counts);
	cr_assert_eq(failed, 0, "%s: failed/requests per trial:%s; the first failure "
		     "(trial %d): %s, having read \"%s\"", policy, counts, worst + 1,
		     worst >= 0 ? strerror(t[worst].first_errno) : "",
		     worst >= 0 ? t[worst].first_reply : "");
	for (i = 0; i < trials; i++)
		cr_assert_geq(t[i].ok, 500, "%s trial %d: only %ld requests answered: the "
			      "load hardly ran", policy, i + 1, t[i].ok);
}

static void helper_cycles(const char *policy)
{
	const char *program[] = { helper("blocking_server"), NULL };

	drain_cycles(policy, program, TRIALS, 0);
}

Test(drain, rr) { helper_cycles("rr"); }
Test(drain, leastconn) { helper_cycles("leastconn"); }
Test(drain, shared) { helper_cycles("shared"); }
Test(drain, reuseport) { helper_cycles("reuseport"); }
Test(drain, sticky) { helper_cycles("sticky"); }

/* ------------------------------------------------------------------ */

static const char node_script[] =
	"require('http').createServer((q, s) => {"
	" s.setHeader('X-Worker', process.env.CLUSTER_WORKER_ID); s.end('ok\\n');"
	"}).listen(0, '127.0.0.1')";

static void node_cycles(const char *policy)
{
	const char *program[] = { "node", "-e", node_script, NULL };

	if (!have_program("node"))
		cr_skip_test("node is not installed");
	drain_cycles(policy, program, NODE_TRIALS, NODE_BOUND_MS);
}

Test(drain, node_rr) { node_cycles("rr"); }
Test(drain, node_leastconn) { node_cycles("leastconn"); }
Test(drain, node_shared) { node_cycles("shared"); }
Test(drain, node_reuseport) { node_cycles("reuseport"); }
Test(drain, node_sticky) { node_cycles("sticky"); }
