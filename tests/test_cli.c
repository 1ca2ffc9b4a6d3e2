/*
 * test_cli.c - what a user sees when the command line or PROGRAM is wrong:
 * exactly one line on stderr, starting "cluster-run: ", the exit status the
 * README documents, and at once (well under 2 s).  Also the good cases
 * that end at once (--help, --version), a PROGRAM that exits at once (a
 * crash loop: status 3), one that never listens (a warning, and cluster-run
 * keeps running), a control socket already in use, and option words after
 * PROGRAM staying PROGRAM's.
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TestSuite(cli, .fini = tmpdir_fini, .timeout = 60);

#define FAST_MS 2000

/* Run cluster-run ARGV to completion (at most timeout_ms, then SIGKILL),
 * with env_name=env_value set when env_name is given, capturing both
 * outputs. */
struct env_setting {
	const char *name, *value;
};

static int set_env(void *arg)
{
	const struct env_setting *e = arg;

	return setenv(e->name, e->value, 1);
}

static void run_cr(struct run *r, int timeout_ms, const char *env_name, const char *env_value,
		   const char *const *argv)
{
	struct env_setting e = { env_name, env_value };
	const char *args[32];
	int n = 0;

	args[n++] = cluster_run_path();
	while (*argv && n < 31)
		args[n++] = *argv++;
	args[n] = NULL;
	run_capture(r, args, timeout_ms, env_name ? set_env : NULL, &e);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* The contract for bad input: one "cluster-run: " line, this status, fast. */
static void expect_one_line(const struct run *r, int status, const char *what)
{
	cr_assert(r->status >= 0, "%s: still running after the deadline", what);
	cr_assert(WIFEXITED(r->status), "%s: wait status 0x%x", what, r->status);
	cr_assert_eq(WEXITSTATUS(r->status), status, "%s: exit status %d, want %d; stderr:\n%s",
		     what, WEXITSTATUS(r->status), status, r->err);
	cr_assert_eq(count_lines(r->err), 1, "%s: want one line on stderr, got:\n%s", what, r->err);
	cr_assert(!strncmp(r->err, "cluster-run: ", 13), "%s: stderr: %s", what, r->err);
	cr_assert_lt(r->ms, FAST_MS, "%s: took %ld ms", what, r->ms);
}

static void bad(int status, const char *what, const char *const *argv)
{
	struct run r;

	run_cr(&r, 10000, NULL, NULL, argv);
	expect_one_line(&r, status, what);
}

/* A fresh directory for files the test makes (removed by tmpdir_fini). */
static char *make_tmpdir(void)
{
	static char dir[64];

	return tmpdir_new(dir, "cr-cli");
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	cr_assert(chmod(path, mode) == 0);
}

Test(cli, no_arguments)
{
	const char *argv[] = { NULL };
	bad(2, "no arguments", argv);
}

Test(cli, bad_worker_counts)
{
	static const char *const counts[] = { "0", "-3", "abc", "100000", "", "2x" };
	size_t i;

	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		const char *argv[] = { "-n", counts[i], "--", "true", NULL };
		char what[64];

		snprintf(what, sizeof(what), "-n '%s'", counts[i]);
		bad(2, what, argv);
	}
}

Test(cli, long_option_count)
{
	const char *argv[] = { "--workers=0", "true", NULL };
	bad(2, "--workers=0", argv);
}

Test(cli, unknown_policy)
{
	const char *argv[] = { "-p", "roulette", "true", NULL };
	struct run r;

	run_cr(&r, 10000, NULL, NULL, argv);
	expect_one_line(&r, 2, "-p roulette");
	cr_assert(strstr(r.err, "roulette"), "the message should name the bad value: %s", r.err);
}

Test(cli, unknown_options)
{
	const char *long_opt[] = { "--frobnicate", "true", NULL };
	const char *short_opt[] = { "-x", "true", NULL };
	struct run r;

	run_cr(&r, 10000, NULL, NULL, long_opt);
	expect_one_line(&r, 2, "--frobnicate");
	cr_assert(strstr(r.err, "--frobnicate"), "%s", r.err);
	bad(2, "-x", short_opt);
}

Test(cli, option_missing_its_value)
{
	const char *short_opt[] = { "-n", NULL };
	const char *long_opt[] = { "--policy", NULL };
	const char *g[] = { "-g", NULL };

	bad(2, "-n without a value", short_opt);
	bad(2, "--policy without a value", long_opt);
	bad(2, "-g without a value", g);
}

Test(cli, bad_values_of_other_options)
{
	static const char *const cases[][2] = {
		{ "--grace", "-1" }, { "--stop-signal", "NOPE" }, { "--backoff", "5:1" },
		{ "--backoff", "1" }, { "--max-restarts", "x" }, { "--ready-timeout", "nan" },
		{ "--listen-timeout", "inf" }, { "--metrics", "9100" }, { "--control", "" },
		/* bad addresses are found while parsing, before any socket
		 * is made (issue 11) */
		{ "--metrics", "999.1.1.1:80" }, { "--metrics", ":9100" },
		{ "--metrics", "[]:9100" }, { "--metrics", "127.0.0.1:99999" },
		{ "--backlog", "0" },
		{ "--control", "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *argv[] = { cases[i][0], cases[i][1], "true", NULL };
		char what[64];

		snprintf(what, sizeof(what), "%s '%s'", cases[i][0], cases[i][1]);
		bad(2, what, argv);
	}
}

Test(cli, program_not_found)
{
	const char *on_path[] = { "-n", "1", "--", "no-such-program-xyz", NULL };
	const char *by_path[] = { "-n", "1", "--", "/nonexistent/server", NULL };

	bad(127, "a name not on PATH", on_path);
	bad(127, "a path that does not exist", by_path);
}

Test(cli, program_not_executable)
{
	char *dir = make_tmpdir(), path[128];
	const char *argv[] = { "-n", "1", "--", path, NULL };
	struct run r;

	snprintf(path, sizeof(path), "%s/server", dir);
	write_file(path, "#!/bin/sh\nexit 0\n", 0644);
	run_cr(&r, 10000, NULL, NULL, argv);
	expect_one_line(&r, 126, "a 0644 file");
}

Test(cli, program_is_a_directory)
{
	char *dir = make_tmpdir();
	const char *argv[] = { "-n", "1", "--", dir, NULL };
	struct run r;

	run_cr(&r, 10000, NULL, NULL, argv);
	expect_one_line(&r, 126, "a directory");
	cr_assert(strstr(r.err, "directory"), "%s", r.err);
}

/* The shim cannot reach a static program: with --via shim it is refused
 * (by default it goes through seccomp: test_seccomp). */
Test(cli, static_program_refused_via_shim)
{
	char *dir = make_tmpdir(), src[128], bin[128], cmd[512];
	const char *argv[] = { "-n", "1", "--via", "shim", "--", bin, NULL };
	const char *forced[] = { "-n", "1", "--max-restarts", "1", "--control", "none",
				 "--via", "shim", "--force", "--", bin, NULL };
	struct run r;
	int built;

	snprintf(src, sizeof(src), "%s/s.c", dir);
	snprintf(bin, sizeof(bin), "%s/s", dir);
	write_file(src, "int main(void) { return 0; }\n", 0644);
	snprintf(cmd, sizeof(cmd), "cc -static -o %s %s >/dev/null 2>&1", bin, src);
	built = have_program("cc") && system(cmd) == 0;
	if (!built)
		cr_skip_test("cannot build a static program here (cc -static failed: "
			     "no compiler or no static libc)");
	run_cr(&r, 10000, NULL, NULL, argv);
	expect_one_line(&r, 126, "a static program");
	cr_assert(strstr(r.err, "--force"), "the message should point at --force: %s", r.err);
	cr_assert(strstr(r.err, "static"), "the message should say why: %s", r.err);

	/* --force runs it (it exits at once: a crash loop, status 3) */
	run_cr(&r, 15000, NULL, NULL, forced);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 3, "status 0x%x\n%s",
		  r.status, r.err);
	cr_assert(strstr(r.err, "--force"), "%s", r.err);
}

Test(cli, script_interpreter_missing)
{
	char *dir = make_tmpdir(), abs_[128], env_[128];
	const char *a1[] = { "-n", "1", "--", abs_, NULL };
	const char *a2[] = { "-n", "1", "--", env_, NULL };
	struct run r;

	snprintf(abs_, sizeof(abs_), "%s/abs", dir);
	snprintf(env_, sizeof(env_), "%s/env", dir);
	write_file(abs_, "#!/nonexistent/interp\necho hi\n", 0755);
	write_file(env_, "#!/usr/bin/env nonexistent-xyz\necho hi\n", 0755);
	run_cr(&r, 10000, NULL, NULL, a1);
	expect_one_line(&r, 127, "#!/nonexistent/interp");
	cr_assert(strstr(r.err, "/nonexistent/interp"), "%s", r.err);
	run_cr(&r, 10000, NULL, NULL, a2);
	expect_one_line(&r, 127, "#!/usr/bin/env nonexistent-xyz");
	cr_assert(strstr(r.err, "nonexistent-xyz"), "%s", r.err);
}

Test(cli, shim_not_found)
{
	const char *argv[] = { "-n", "1", "--control", "none", "--", "true", NULL };
	struct run r;

	run_cr(&r, 10000, "CLUSTER_RUN_SHIM", "/nonexistent/libcluster-shim.so", argv);
	expect_one_line(&r, 1, "CLUSTER_RUN_SHIM=/nonexistent");
	cr_assert(strstr(r.err, "CLUSTER_RUN_SHIM"), "%s", r.err);
}

Test(cli, help_and_version)
{
	const char *help[] = { "--help", NULL };
	const char *h[] = { "-h", NULL };
	const char *version[] = { "--version", NULL };
	const char *v[] = { "-V", NULL };
	struct run r;

	run_cr(&r, 10000, NULL, NULL, help);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status 0x%x", r.status);
	cr_assert(strstr(r.out, "usage: cluster-run"), "stdout: %s", r.out);
	cr_assert(strstr(r.out, "--workers") && strstr(r.out, "--policy"), "stdout: %s", r.out);
	cr_assert_str_empty(r.err);
	run_cr(&r, 10000, NULL, NULL, h);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	cr_assert(strstr(r.out, "usage: cluster-run"), "stdout: %s", r.out);

	run_cr(&r, 10000, NULL, NULL, version);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "status 0x%x", r.status);
	cr_assert(!strncmp(r.out, "cluster-run ", 12) && count_lines(r.out) == 1,
		  "stdout: %s", r.out);
	cr_assert_str_empty(r.err);
	run_cr(&r, 10000, NULL, NULL, v);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0);
	cr_assert(!strncmp(r.out, "cluster-run ", 12), "stdout: %s", r.out);
}

Test(cli, program_exits_at_once)
{
	const char *argv[] = { "-n", "2", "--control", "none", "--", "true", NULL };
	struct run r;

	run_cr(&r, 20000, NULL, NULL, argv);
	cr_assert(r.status >= 0, "still running after 20 s:\n%s", r.err);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 3,
		  "want status 3 (gave up, last exit 0), got 0x%x\n%s", r.status, r.err);
	cr_assert(strstr(r.err, "giving up"), "no clear message:\n%s", r.err);
}

Test(cli, program_that_never_listens)
{
	struct cr *cr = cr_start(NULL, "-n", "1", "--control", "none", "--listen-timeout", "1",
				 "--", "sleep", "30", NULL);
	long t0 = now_ms();
	const char *w = cr_wait_line(cr, "server", 10000);
	long took = now_ms() - t0;

	cr_assert(w, "no warning mentioning 'server' within 10 s:\n%s", cr->log);
	cr_assert_geq(took, 800, "warned after %ld ms, before --listen-timeout 1", took);
	/* generous: CLUSTER_RUN_WRAPPER (valgrind) makes the start slow */
	cr_assert_lt(took, 8000, "warned only after %ld ms", took);
	cr_assert(cr_wait_exit(cr, 500) < 0, "cluster-run ended after the warning:\n%s", cr->log);
	cr_assert_eq(cr_stop(cr, SIGTERM, 10000) >> 8, 0, "%s", cr->log);
}

Test(cli, control_socket_in_use)
{
	char *dir = make_tmpdir(), sock[128];
	const char *second[] = { "-n", "1", "--control", sock, "--", "true", NULL };
	struct cr *first;
	struct run r;

	snprintf(sock, sizeof(sock), "%s/c.sock", dir);
	first = cr_start(NULL, "-n", "1", "--control", sock, "--listen-timeout", "60",
			 "--", "sleep", "30", NULL);
	cr_assert(cr_wait_line(first, "control socket", 5000), "%s", first->log);
	run_cr(&r, 10000, NULL, NULL, second);
	cr_stop(first, SIGTERM, 10000);
	expect_one_line(&r, 1, "a second cluster-run on the same --control");
	cr_assert(strstr(r.err, "in use"), "%s", r.err);
}

Test(cli, stale_control_socket_is_replaced)
{
	char *dir = make_tmpdir(), sock[128];
	struct cr *first, *second;

	snprintf(sock, sizeof(sock), "%s/c.sock", dir);
	first = cr_start(NULL, "-n", "1", "--control", sock, "--listen-timeout", "60",
			 "--", "sleep", "30", NULL);
	cr_assert(cr_wait_line(first, "control socket", 5000), "%s", first->log);
	kill(first->pid, SIGKILL);      /* leaves its socket file behind */
	cr_wait_exit(first, 5000);
	second = cr_start(NULL, "-n", "1", "--control", sock, "--listen-timeout", "60",
			  "--", "sleep", "30", NULL);
	cr_assert(cr_wait_line(second, "control socket", 5000), "%s", second->log);
	cr_assert(cr_wait_exit(second, 300) < 0, "%s", second->log);
	cr_stop(second, SIGTERM, 10000);
}

/* Options stop at PROGRAM: "-n" after it is PROGRAM's argument. */
static void program_gets(const char *const *argv)
{
	struct run r;

	run_cr(&r, 15000, NULL, NULL, argv);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 3, "status 0x%x\n%s",
		  r.status, r.err);
	cr_assert(!strncmp(r.out, "-n\n", 3), "PROGRAM printed '%s', want '-n'\n%s", r.out, r.err);
}

Test(cli, words_after_program_belong_to_it)
{
	const char *with_dashes[] = { "-n", "1", "--max-restarts", "1", "--control", "none",
				      "--", "sh", "-c", "printf '%s\\n' \"$1\"", "sh", "-n", NULL };
	const char *without[] = { "-n", "1", "--max-restarts", "1", "--control", "none",
				  "sh", "-c", "printf '%s\\n' \"$1\"", "sh", "-n", NULL };

	program_gets(with_dashes);
	program_gets(without);
}

/* A port someone else holds: the program says "bind: Address already in
 * use", and cluster-run names the address too before giving up. */
Test(cli, busy_port_is_named)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;
	struct sockaddr_storage ss;
	socklen_t len;
	char portarg[16], want[64];
	struct run r;

	cr_assert(fd >= 0);
	port = free_port();
	len = sockaddr_of("127.0.0.1", port, &ss);
	cr_assert(bind(fd, (struct sockaddr *)&ss, len) == 0 && listen(fd, 1) == 0);
	snprintf(portarg, sizeof(portarg), "%d", port);
	{
		const char *argv[] = { "-n", "1", "--max-restarts", "1", "--backoff", "0.01:0.01",
				       "--control", "none", "--", helper("blocking_server"),
				       "--port", portarg, NULL };
		run_cr(&r, 20000, NULL, NULL, argv);
	}
	close(fd);
	snprintf(want, sizeof(want), "cannot bind 127.0.0.1:%d: Address already in use", port);
	cr_assert(strstr(r.err, want), "want '%s' in:\n%s", want, r.err);
}

/* -v: a worker stopped by the stop signal we sent is not reported as if it
 * had crashed. */
Test(cli, normal_stop_is_not_a_kill)
{
	struct cr *cr = cr_start(NULL, "-v", "-n", "1", "--control", "none", "--",
				 helper("blocking_server"), "--port", "0", NULL);

	cr_assert_gt(cr_ready_port(cr, 0, 20000), 0, "%s", cr->log);
	cr_assert_eq(cr_stop(cr, SIGTERM, 10000), 0, "%s", cr->log);
	cr_assert(!strstr(cr->log, "killed by signal 15"), "%s", cr->log);
	cr_assert(strstr(cr->log, "stopped by signal 15"), "%s", cr->log);
}

/* --user: a PROGRAM the user cannot execute is refused at start (126),
 * not found out by a crash loop. */
Test(cli, user_cannot_execute_program)
{
	char *dir = make_tmpdir(), path[128];
	const char *argv[] = { "--user", "nobody", "-n", "1", "--control", "none", "--", path, NULL };

	if (geteuid() != 0)
		cr_skip_test("needs root (--user)");
	snprintf(path, sizeof(path), "%s/root-only.sh", dir);
	write_file(path, "#!/bin/sh\nexit 0\n", 0700);
	bad(126, "--user nobody with a 0700 root program", argv);
}
