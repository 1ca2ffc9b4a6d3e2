/*
 * test_seccomp_lossless.c - programs clustered through seccomp lose no
 * request on reload, scale and stop, under shared as under reuseport
 * (issue 20): a Go net/http server (it dies at once on SIGTERM) and a
 * statically linked busybox httpd (a child per connection), five trials
 * each of two HUPs, a TTIN and a TTOU under connection-per-request load,
 * then a TERM.  Every trial must fail 0 requests, counted.
 *
 * Through seccomp the master cannot stop a program accepting from a
 * socket every worker shares, so `-p shared` is served on per-slot
 * sockets steered in the kernel, and the start-up line says so.
 */
#include "harness.h"
#include "lifecycle.h"
#include "real_programs.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TRIALS 5

TestSuite(seccomp_lossless, .fini = tmpdir_fini, .timeout = 280);

static char dir[64];

/* cluster-run -n 3 -p policy PROGRAM on a free port; ready, or skipped
 * (no go, no busybox, a busybox that is not static, no seccomp). */
static struct cr *start(const char *prog, const char *policy, int *port)
{
	struct real_command c;
	const char *const *cmd;
	const char *argv[32] = { "-n", "3", "-p", policy, "--grace", "5", "--" };
	char addr[64];
	struct cr *cr;
	int i, n = 7;

	*port = free_port();
	if (!strcmp(prog, "go")) {
		argv[n++] = helper("go_server");
		if (access(argv[n - 1], X_OK) != 0)
			cr_skip_test("go is not installed (golang-go): the Go server was not built");
		snprintf(addr, sizeof(addr), "127.0.0.1:%d", *port);
		argv[n++] = addr;
	} else {
		const char *bb = real_busybox(1);

		if (!bb)
			cr_skip_test("no statically linked busybox (Debian's busybox-static, "
				     "or $STATIC_BUSYBOX)");
		real_busybox_set(bb);
		if (!dir[0])
			tmpdir_new(dir, "test_seccomp_lossless");
		cmd = real_busybox_httpd_command(&c, dir, *port, REAL_X_WORKER);
		for (i = 0; cmd[i]; i++)
			argv[n++] = cmd[i];
	}
	argv[n] = NULL;
	cr = cr_startv(NULL, argv);
	n = cr_ready_port(cr, 0, 30000);
	if (n < 0 && strstr(cr->log, "which this kernel lacks"))
		cr_skip_test("seccomp is not available here: %s", cr->log);
	cr_assert_eq(n, *port, "%s", cr->log);
	if (strstr(cr->log, "via shim"))
		cr_skip_test("this busybox is dynamic (install busybox-static): %s", cr->log);
	cr_assert(strstr(cr->log, "via seccomp"), "%s", cr->log);
	return cr;
}

/* What the start-up line must say for policy: shared is served as
 * reuseport through seccomp, and says so. */
static void check_startup_line(const struct cr *cr, const char *policy)
{
	char want[128];

	snprintf(want, sizeof(want), "shared by 3 workers, policy %s, via seccomp", policy);
	cr_assert(strstr(cr->log, want), "want '%s' in:\n%s", want, cr->log);
	if (!strcmp(policy, "shared"))
		cr_assert(strstr(cr->log, "served as reuseport"), "%s", cr->log);
}

static long one_trial(const char *prog, const char *policy, int trial)
{
	struct lifecycle r;
	struct cr *cr;
	int port, st;

	cr = start(prog, policy, &port);
	check_startup_line(cr, policy);
	cr_lifecycle_under_load(cr, port, 3, 4, &r);
	cr_log_info("%s %s trial %d: ok %ld failed %ld, per slot %ld %ld %ld %ld, slot 3 got "
		    "%ld of 300", prog, policy, trial, r.ok, r.failed, r.per[0], r.per[1],
		    r.per[2], r.per[3], r.added_got);
	cr_assert_gt(r.ok, 900, "%s", cr->log);
	cr_assert_gt(r.added_got, 0, "the slot TTIN added got none of 300 requests\n%s",
		     cr->log);
	cr_assert_eq(count_of(cr->log, "reload complete"), 2, "%s", cr->log);
	cr_assert(!strstr(cr->log, "were refused"), "%s", cr->log);
	st = cr_stop(cr, SIGTERM, 15000);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x\n%s", st, cr->log);
	if (r.failed)
		cr_log_warn("%s %s trial %d: %ld failed\n%s", prog, policy, trial, r.failed,
			    cr->log);
	return r.failed;
}

/* Every trial runs before the count is asserted, so a failure reports
 * the losses of all five. */
static void trials(const char *prog, const char *policy)
{
	long failed[TRIALS], total = 0;
	int t;

	for (t = 0; t < TRIALS; t++)
		total += failed[t] = one_trial(prog, policy, t + 1);
	cr_log_info("%s %s: failed per trial %ld %ld %ld %ld %ld", prog, policy, failed[0],
		    failed[1], failed[2], failed[3], failed[4]);
	cr_assert_eq(total, 0, "%s %s: failed per trial %ld %ld %ld %ld %ld", prog, policy,
		     failed[0], failed[1], failed[2], failed[3], failed[4]);
}

Test(seccomp_lossless, go_shared) { trials("go", "shared"); }
Test(seccomp_lossless, go_reuseport) { trials("go", "reuseport"); }
Test(seccomp_lossless, busybox_shared) { trials("busybox", "shared"); }
Test(seccomp_lossless, busybox_reuseport) { trials("busybox", "reuseport"); }
