/*
 * test_limits.c - the kernel's limits are checked at start, in one line
 * with exit status 2, instead of failing every worker later with errors
 * that do not name the cause:
 *   - open files: `(ulimit -n 64; cluster-run -n 16 -- SERVER)` used to
 *     print a cascade of the workers' bind errors and exit 126; now the
 *     line says how many fds are needed, under every policy and through
 *     seccomp.  A cluster that fits still starts and serves.
 *   - exec(): an --env-file value of 200 KiB (over MAX_ARG_STRLEN) used to
 *     pass, then fail every start with E2BIG every 10 s; so did
 *     variables that together exceed a quarter of the stack limit.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

TestSuite(limits, .fini = tmpdir_fini, .timeout = 120);

static int nofile_64(void *arg)
{
	struct rlimit rl = { 64, 64 };

	(void)arg;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static int stack_512k(void *arg)
{
	struct rlimit rl = { 512 << 10, 512 << 10 };

	(void)arg;
	return setrlimit(RLIMIT_STACK, &rl);
}

static void one_line_status_2(const struct run *r, const char *needle)
{
	cr_assert(r->status >= 0, "still running after the deadline:\n%s", r->err);
	cr_assert(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 2,
		  "wait status 0x%x, want exit 2; stderr:\n%s", r->status, r->err);
	cr_assert_eq(count_of(r->err, "\n"), 1, "want one line, got:\n%s", r->err);
	cr_assert(strstr(r->err, needle), "no '%s' in:\n%s", needle, r->err);
}

static void too_few_fds(const char *policy, const char *via, const char *server)
{
	const char *argv[] = { cluster_run_path(), "-n", "16", "-p", policy, "--via", via, "--",
			       helper(server), "--port", "0", NULL };
	struct run r;

	run_capture(&r, argv, 30000, nofile_64, NULL);
	one_line_status_2(&r, "16 workers under ");
	cr_assert(strstr(r.err, "its limit is 64"), "%s", r.err);
}

Test(limits, fds_rr) { too_few_fds("rr", "shim", "blocking_server"); }
Test(limits, fds_shared) { too_few_fds("shared", "shim", "blocking_server"); }
Test(limits, fds_reuseport) { too_few_fds("reuseport", "shim", "blocking_server"); }
Test(limits, fds_leastconn) { too_few_fds("leastconn", "shim", "blocking_server"); }
Test(limits, fds_sticky) { too_few_fds("sticky", "shim", "blocking_server"); }
Test(limits, fds_random) { too_few_fds("random", "shim", "blocking_server"); }
Test(limits, fds_p2c) { too_few_fds("p2c", "shim", "blocking_server"); }
Test(limits, fds_jiq) { too_few_fds("jiq", "shim", "blocking_server"); }
Test(limits, fds_seccomp) { too_few_fds("reuseport", "seccomp", "static_blocking_server"); }

/* Under the same limit, a cluster that fits starts and serves. */
Test(limits, fds_enough_for_two)
{
	const char *before[] = { "prlimit", "--nofile=64:64", NULL };
	const char *argv[] = { "-n", "2", "--", helper("blocking_server"), "--port", "0", NULL };
	char buf[4096];
	struct cr *cr;
	int port, i;

	if (!have_program("prlimit"))
		cr_skip_test("prlimit is not installed");
	cr = cr_start_under(before, NULL, argv);
	port = cr_ready_port(cr, 0, 15000);
	cr_assert(port > 0, "%s", cr->log);
	for (i = 0; i < 20; i++)
		cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* An env file of count variables, each value `size` bytes of 'x'. */
static const char *env_file(char *dir, int count, long size)
{
	static char path[128];
	FILE *f;
	int i;

	tmpdir_new(dir, "cr-limits");
	snprintf(path, sizeof(path), "%s/big.env", dir);
	f = fopen(path, "w");
	cr_assert(f);
	for (i = 0; i < count; i++) {
		fprintf(f, "BIG%d=", i);
		for (long k = 0; k < size; k++)
			fputc('x', f);
		fputc('\n', f);
	}
	cr_assert_eq(fclose(f), 0);
	return path;
}

static void env_value_too_long(const char *via, const char *server)
{
	char dir[64];
	const char *path = env_file(dir, 1, 200 << 10);
	const char *argv[] = { cluster_run_path(), "-n", "2", "--via", via, "--env-file", path,
			       "--", helper(server), "--port", "0", NULL };
	struct run r;

	run_capture(&r, argv, 30000, NULL, NULL);
	one_line_status_2(&r, "variable BIG0=... is 204805 bytes");
}

Test(limits, env_value_over_128k) { env_value_too_long("shim", "blocking_server"); }
Test(limits, env_value_over_128k_seccomp) { env_value_too_long("seccomp", "static_blocking_server"); }

Test(limits, env_over_a_quarter_of_the_stack)
{
	char dir[64];
	const char *path = env_file(dir, 2, 100 << 10);   /* 200 KiB, the limit 128 KiB */
	const char *argv[] = { cluster_run_path(), "-n", "2", "--env-file", path, "--",
			       helper("blocking_server"), "--port", "0", NULL };
	struct run r;

	run_capture(&r, argv, 30000, stack_512k, NULL);
	one_line_status_2(&r, "arguments and environment take ");
}
