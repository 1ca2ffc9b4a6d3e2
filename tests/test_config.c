/*
 * test_config.c - cluster-run --config FILE: every long option set in a
 * file parses to the same struct options as on the command line (the
 * test walks the launcher's own option table, so a new option without a
 * sample here fails, as one that reread.c does not sort into applied by
 * a reload or taking a restart); the command line wins over the file; a bad line is
 * one "FILE:LINE: ..." line and status 2; a reload reads the file again
 * (a new env reaches the new workers), and a reload of a broken file is
 * refused while the old workers keep serving.
 */
#include "tmpdir.h"
#include "surface/options.h"
#include "surface/reread.h"

#include <criterion/criterion.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(config, .fini = tmpdir_fini, .timeout = 120);

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

/* A value for each long option that is not its default, and what it
 * needs besides (max-requests-jitter needs max-requests).  NULL value:
 * a flag.  A new option must get a line here: round_trip says so. */
static char env_file[128];
static const struct sample {
	const char *name, *value, *needs, *needs_value;
} samples[] = {
	{ "workers", "3", NULL, NULL },
	{ "policy", "leastconn", NULL, NULL },
	{ "grace", "2.5", NULL, NULL },
	{ "stop-signal", "QUIT", NULL, NULL },
	{ "max-restarts", "7", NULL, NULL },
	{ "backoff", "0.5:3", NULL, NULL },
	{ "min-uptime", "4", NULL, NULL },
	{ "ready-timeout", "12", NULL, NULL },
	{ "reload-batch", "25%", NULL, NULL },
	{ "log-prefix", NULL, NULL, NULL },
	{ "force", NULL, NULL, NULL },
	{ "via", "seccomp", NULL, NULL },
	{ "control", "/tmp/x y.sock", NULL, NULL },
	{ "metrics", "127.0.0.1:9100", NULL, NULL },
	{ "user", "nobody", NULL, NULL },
	{ "allow-bind", NULL, NULL, NULL },
	{ "listen-timeout", "3", NULL, NULL },
	{ "log-time", NULL, NULL, NULL },
	{ "log-format", "json", NULL, NULL },
	{ "log-dir", "/tmp", NULL, NULL },
	{ "forward-usr1", NULL, NULL, NULL },
	{ "env", "GREETING=hello world", NULL, NULL },
	{ "env-file", env_file, NULL, NULL },
	{ "max-memory", "64M", NULL, NULL },
	{ "max-requests", "100", NULL, NULL },
	{ "max-requests-jitter", "5", "max-requests", "100" },
	{ "hang-timeout", "2", NULL, NULL },
	{ "backlog", "64", NULL, NULL },
	{ "weights", "2,1,1", NULL, NULL },
	{ "steer", "kernel", NULL, NULL },
	{ "log-lines", "7", NULL, NULL },
	{ "verbose", NULL, NULL, NULL },
};
/* Not in files: they do something else than setting an option. */
static const char *const not_in_files[] = { "help", "version", "config", NULL };

static const struct sample *sample_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		if (!strcmp(samples[i].name, name))
			return &samples[i];
	return NULL;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* a and b say the same: strings by content, then every other byte.
 * Else 0, and why names the first difference. */
static int options_same(struct options a, struct options b, char *why, size_t cap)
{
	size_t i;

#define SAME_STR(f) do { \
		if (!same_str(a.f, b.f)) { \
			snprintf(why, cap, #f " '%s' vs '%s'", a.f ? a.f : "(null)", \
				 b.f ? b.f : "(null)"); \
			return 0; \
		} \
		a.f = b.f = NULL; \
	} while (0)
	SAME_STR(control_path);
	SAME_STR(metrics);
	SAME_STR(user);
	SAME_STR(log_dir);
#undef SAME_STR
	if (a.env.n != b.env.n) {
		snprintf(why, cap, "%zu vs %zu variables", a.env.n, b.env.n);
		return 0;
	}
	for (i = 0; i < a.env.n; i++)
		if (strcmp(a.env.vars[i], b.env.vars[i])) {
			snprintf(why, cap, "env '%s' vs '%s'", a.env.vars[i], b.env.vars[i]);
			return 0;
		}
	a.env.vars = b.env.vars = NULL;
	for (i = 0; a.argv[i] || b.argv[i]; i++)
		if (!same_str(a.argv[i], b.argv[i])) {
			snprintf(why, cap, "argv[%zu]", i);
			return 0;
		}
	a.argv = b.argv = NULL;
	/* how it was given, not what */
	a.config = b.config = NULL;
	a.cmd_argc = b.cmd_argc = 0;
	a.cmd_argv = b.cmd_argv = NULL;
	snprintf(why, cap, "some field that is not a string");
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static int parse(struct options *o, const char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return options_parse(o, argc, (char **)argv);
}

/* Every long option of the table, set in a file, gives what the command
 * line gives, and not the defaults. */
Test(config, round_trip_every_option)
{
	static struct options defaults, by_line, by_file;
	const struct option *o;
	char dir[64], path[128], text[512], why[256];
	int checked = 0;

	tmpdir_new(dir, "cr-config");
	snprintf(env_file, sizeof(env_file), "%s/env", dir);
	write_file(env_file, "FROM_FILE='a b'\n");
	snprintf(path, sizeof(path), "%s/c.conf", dir);
	static const char *plain[] = { "cluster-run", "prog", "arg 1", NULL };

	cr_assert_eq(parse(&defaults, plain), -1);
	for (o = options_table(); o->name; o++) {
		const struct sample *s = sample_of(o->name);
		const char *line[8] = { "cluster-run" }, *file[] = { "cluster-run", "--config", path, NULL };
		int n = 1, i, skip = 0;

		for (i = 0; not_in_files[i]; i++)
			skip |= !strcmp(o->name, not_in_files[i]);
		if (skip)
			continue;
		cr_assert(s, "--%s has no sample in test_config.c: add one", o->name);
		cr_assert(reread_knows(o->name), "--%s: surface/reread.c does not say whether a "
			  "reload applies it or it takes a restart", o->name);
		cr_assert_eq(!s->value, o->has_arg == no_argument, "--%s: flag or not", o->name);
		text[0] = '\0';
		if (s->needs) {
			line[n++] = "--max-requests";
			line[n++] = s->needs_value;
			snprintf(text, sizeof(text), "%s = %s\n", s->needs, s->needs_value);
		}
		if (s->value) {
			char opt[64];

			snprintf(opt, sizeof(opt), "--%s", o->name);
			line[n++] = strdup(opt);
			line[n++] = s->value;
			/* quoted as a shell user would: blanks in a value */
			snprintf(text + strlen(text), sizeof(text) - strlen(text),
				 "# %s\n  %s = \"%s\"  \n", o->name, o->name, s->value);
		} else {
			char opt[64];

			snprintf(opt, sizeof(opt), "--%s", o->name);
			line[n++] = strdup(opt);
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s = yes\n",
				 o->name);
		}
		line[n++] = "prog";
		line[n++] = "arg 1";
		line[n] = NULL;
		strcat(text, "command = prog 'arg 1'\n");
		write_file(path, text);
		cr_assert_eq(parse(&by_line, line), -1, "--%s on the command line", o->name);
		cr_assert_eq(parse(&by_file, file), -1, "--%s in a file:\n%s", o->name, text);
		cr_assert(options_same(by_line, by_file, why, sizeof(why)),
			  "--%s: the file gives another %s", o->name, why);
		cr_assert(!options_same(by_line, defaults, why, sizeof(why)),
			  "--%s: the same as without it", o->name);
		checked++;
	}
	cr_assert_geq(checked, 30);
}

/* The command line wins: its options over the file's, its PROGRAM over
 * `command`; env adds up, the command line's last. */
Test(config, command_line_wins)
{
	static struct options o;
	char dir[64], path[128];

	tmpdir_new(dir, "cr-config");
	snprintf(path, sizeof(path), "%s/c.conf", dir);
	write_file(path, "workers = 3\ngrace = 4\nenv = A=file\ncommand = from-file x\n"
			 "max_restarts = 9\n");
	{
		const char *argv[] = { "cluster-run", "--config", path, "-n", "5", "-e", "A=line",
				       NULL };
		cr_assert_eq(parse(&o, argv), -1);
	}
	cr_assert_eq(o.workers, 5);
	cr_assert_eq(o.grace, 4);
	cr_assert_eq(o.max_restarts, 9, "'_' for '-'");
	cr_assert_eq(o.env.n, 2);
	cr_assert_str_eq(o.env.vars[1], "A=line");
	cr_assert_str_eq(o.argv[0], "from-file");
	cr_assert_str_eq(o.argv[1], "x");
	cr_assert_null(o.argv[2]);
	{
		const char *argv[] = { "cluster-run", "--config", path, "--", "-dash", NULL };
		cr_assert_eq(parse(&o, argv), -1);
	}
	cr_assert_str_eq(o.argv[0], "-dash");
	cr_assert_null(o.argv[1]);
}

static int exit_code(const struct run *r)
{
	return r->status >= 0 && WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* cluster-run --config FILE with FILE's text: status 2 and one line
 * naming where. */
static void refused(const char *dir, const char *text, const char *where, const char *what)
{
	char path[128], want[192];
	struct run r;
	const char *argv[] = { cluster_run_path(), "--config", path, NULL };

	snprintf(path, sizeof(path), "%s/bad.conf", dir);
	write_file(path, text);
	run_capture(&r, argv, 10000, NULL, NULL);
	cr_assert_eq(exit_code(&r), 2, "%s: status 0x%x\n%s", text, r.status, r.err);
	snprintf(want, sizeof(want), "cluster-run: %s%s: ", path, where);
	cr_assert(strstr(r.err, want), "%s: want '%s' in\n%s", text, want, r.err);
	cr_assert(strstr(r.err, what), "%s: want '%s' in\n%s", text, what, r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "%s: one line:\n%s", text, r.err);
}

Test(config, bad_files_are_one_line_and_status_2)
{
	char dir[64];

	tmpdir_new(dir, "cr-config");
	refused(dir, "# ok\nworkers = 2\ngrace = soon\ncommand = /bin/true\n", ":3",
		"invalid grace period: 'soon'");
	refused(dir, "workers = 2\nbogus = 1\n", ":2", "unknown option 'bogus'");
	refused(dir, "\n\nworkers 2\n", ":3", "expected NAME = VALUE");
	refused(dir, "env = \"A=b\n", ":1", "without its closing");
	refused(dir, "user = a b\n", ":1", "takes one value");
	refused(dir, "log-prefix = maybe\n", ":1", "yes or no");
	refused(dir, "config = other.conf\n", ":1", "cannot be set in a config file");
	refused(dir, "env-file = /nonexistent/env\ncommand = /bin/true\n", ":1",
		"/nonexistent/env");
	{
		char path[128];
		struct run r;
		const char *argv[] = { cluster_run_path(), "--config", path, NULL };

		snprintf(path, sizeof(path), "%s/missing.conf", dir);
		run_capture(&r, argv, 10000, NULL, NULL);
		cr_assert_eq(exit_code(&r), 2, "%s", r.err);
		cr_assert(strstr(r.err, path) && count_of(r.err, "\n") == 1, "%s", r.err);
	}
}

struct cluster {
	struct cr *cr;
	int port;
	char dir[64], conf[128], sock[128];
};

/* extra: more lines; args: more words after the command's --port 0 */
static void write_conf(struct cluster *c, const char *greeting, const char *extra,
		       const char *args)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "# test_config\n"
		 "workers = 2\n"
		 "env = GREETING=\"%s\"\n"
		 "grace = 5\n"
		 "%s"
		 "command = %s --port 0%s\n", greeting, extra, helper("blocking_server"), args);
	write_file(c->conf, text);
}

static void start(struct cluster *c)
{
	tmpdir_new(c->dir, "cr-config");
	snprintf(c->conf, sizeof(c->conf), "%s/app.conf", c->dir);
	snprintf(c->sock, sizeof(c->sock), "%s/c.sock", c->dir);
	write_conf(c, "one", "", "");
	c->cr = cr_start(NULL, "--config", c->conf, "--control", c->sock, NULL);
	c->port = cr_ready_port(c->cr, 0, 10000);
	cr_assert(c->port > 0, "%s", c->cr->log);
}

static void greetings(const pid_t *pids, int n, const char *want)
{
	char env[65536];
	const char *v;
	int i;

	for (i = 0; i < n; i++) {
		cr_assert_eq(proc_env(pids[i], "GREETING", env, sizeof(env), &v), 1,
			     "worker %d", i);
		cr_assert_str_eq(v, want, "worker %d (pid %d)", i, (int)pids[i]);
	}
}

static void reload(struct cluster *c, struct run *r)
{
	const char *argv[] = { cluster_ctl_path(), "-s", c->sock, "reload", "--wait", NULL };

	run_capture(r, argv, 30000, NULL, NULL);
}

/* A changed env in the file reaches the workers the reload starts. */
Test(config, reload_rereads_the_file)
{
	struct cluster c;
	struct run r;

	start(&c);
	struct cr_workers w = { .cr = c.cr, .want = 2 };
	cr_assert(wait_until(cr_have_workers, &w, 10000));
	greetings(w.slot_pid, 2, "one");
	pid_t old[2] = { w.slot_pid[0], w.slot_pid[1] };
	write_conf(&c, "two words", "policy = leastconn\n", " --slow-ms 1");
	reload(&c, &r);
	cr_assert_eq(exit_code(&r), 0, "%s%s", r.out, r.err);
	struct cr_workers fresh = { .cr = c.cr, .want = 2, .old = old, .nold = 2 };
	cr_assert(wait_until(cr_have_workers, &fresh, 10000), "%s", c.cr->log);
	greetings(fresh.slot_pid, 2, "two words");
	/* and the new command line */
	for (int i = 0; i < 2; i++) {
		char path[64], cmdline[4096];
		long n;

		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)fresh.slot_pid[i]);
		n = read_file(path, cmdline, sizeof(cmdline));
		cr_assert(n > 0);
		for (long k = 0; k < n; k++)
			if (!cmdline[k])
				cmdline[k] = ' ';
		cr_assert(strstr(cmdline, "--port 0 --slow-ms 1"), "worker %d runs %s", i, cmdline);
	}
	/* policy is kept, and said to be */
	cr_assert(cr_wait_line(c.cr, "reload: policy changed in", 5000), "%s", c.cr->log);
	cr_assert(strstr(c.cr->log, "takes a restart"), "%s", c.cr->log);
	cr_assert(!strstr(c.cr->log, "reload: workers changed"), "%s", c.cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0);
}

/* A broken file refuses the reload: FILE:LINE to the caller (status 1),
 * and the same workers keep serving. */
Test(config, reload_of_a_broken_file_is_refused)
{
	struct cluster c;
	struct run r;
	char want[192];
	pid_t now[4];
	int slot, i;
	pid_t pid;

	start(&c);
	struct cr_workers w = { .cr = c.cr, .want = 2 };
	cr_assert(wait_until(cr_have_workers, &w, 10000));
	write_conf(&c, "two", "workers = many\n", "");
	reload(&c, &r);
	cr_assert_eq(exit_code(&r), 1, "status 0x%x: %s%s", r.status, r.out, r.err);
	snprintf(want, sizeof(want), "reload refused: %s:5: invalid worker count", c.conf);
	cr_assert(strstr(r.err, want), "want '%s' in\n%s", want, r.err);
	cr_assert(cr_wait_line(c.cr, want, 5000), "%s", c.cr->log);
	cr_assert(!strstr(c.cr->log, "reloading:"), "%s", c.cr->log);
	/* HUP too */
	kill(c.cr->pid, SIGHUP);
	cr_assert(cr_wait_count(c.cr, "reload refused", 2, 5000), "%s", c.cr->log);
	cr_assert_eq(cr_children(c.cr, now, 4), 2);
	cr_assert(pid_in(now, 2, w.slot_pid[0]) && pid_in(now, 2, w.slot_pid[1]));
	greetings(w.slot_pid, 2, "one");
	for (i = 0; i < 4; i++)
		cr_assert_eq(request_worker(c.port, &slot, &pid, 5000), 0, "request %d", i);
	/* fixed, it reloads */
	write_conf(&c, "two", "", "");
	reload(&c, &r);
	cr_assert_eq(exit_code(&r), 0, "%s%s", r.out, r.err);
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0);
}

/* The files and a reload's own command line together: `cluster-ctl reload
 * --env GREETING=ctl` sets the workers' release; a later plain reload
 * with the file untouched keeps that release (the file did not change, so
 * it does not undo what the operator asked for); once the file changes,
 * the next reload starts from the file again. */
Test(config, an_untouched_file_keeps_a_reload_s_release)
{
	struct cluster c;
	struct run r;
	const char *with_env[] = { cluster_ctl_path(), "-s", NULL, "reload", "--wait",
				   "--env", "GREETING=ctl", NULL };

	start(&c);
	with_env[2] = c.sock;
	struct cr_workers w = { .cr = c.cr, .want = 2 };
	cr_assert(wait_until(cr_have_workers, &w, 10000));
	greetings(w.slot_pid, 2, "one");

	run_capture(&r, with_env, 30000, NULL, NULL);
	cr_assert_eq(exit_code(&r), 0, "%s%s", r.out, r.err);
	pid_t gen1[2] = { w.slot_pid[0], w.slot_pid[1] };
	struct cr_workers ctl = { .cr = c.cr, .want = 2, .old = gen1, .nold = 2 };
	cr_assert(wait_until(cr_have_workers, &ctl, 10000), "%s", c.cr->log);
	greetings(ctl.slot_pid, 2, "ctl");

	reload(&c, &r);                 /* the file as it was */
	cr_assert_eq(exit_code(&r), 0, "%s%s", r.out, r.err);
	pid_t gen2[2] = { ctl.slot_pid[0], ctl.slot_pid[1] };
	struct cr_workers same = { .cr = c.cr, .want = 2, .old = gen2, .nold = 2 };
	cr_assert(wait_until(cr_have_workers, &same, 10000), "%s", c.cr->log);
	greetings(same.slot_pid, 2, "ctl");

	write_conf(&c, "three", "", "");
	reload(&c, &r);
	cr_assert_eq(exit_code(&r), 0, "%s%s", r.out, r.err);
	pid_t gen3[2] = { same.slot_pid[0], same.slot_pid[1] };
	struct cr_workers file = { .cr = c.cr, .want = 2, .old = gen3, .nold = 2 };
	cr_assert(wait_until(cr_have_workers, &file, 10000), "%s", c.cr->log);
	greetings(file.slot_pid, 2, "three");
	cr_assert_eq(WEXITSTATUS(cr_stop(c.cr, SIGTERM, 15000)), 0);
}
