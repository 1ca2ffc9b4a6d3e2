/*
 * test_envfile.c - --env-file reads systemd's EnvironmentFile= syntax
 * (comments with # and ;, blanks around the key, single and double quotes,
 * backslash escapes, line continuation, quoted parts joined) and -e sets
 * one variable; later ones win, in command-line order.  A bad line is one
 * error line naming FILE:LINE and exit status 2, before any worker runs.
 */
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(envfile, .fini = tmpdir_fini, .timeout = 60);

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static const char good_file[] =
	"# a comment\n"
	"   ; another, indented\n"
	"\n"
	"PLAIN=hello world   \n"
	"  SPACED = spaced\n"
	"SQ='single $HOME \"x\" \\n'\n"
	"DQ=\"double \\\"q\\\" \\\\ \\$ \\a\"\n"
	"CONT=one\\\n"
	"two\n"
	"MULTI='line1\n"
	"line2'\n"
	"MIXED=\"a\"'b'c\n"
	"ESC=back\\ slash\\#\n"
	"EMPTY=\n"
	"OVER=from the file\n";

/* The worker prints each variable between < > and then serves. */
static const char printer[] =
	"for v in PLAIN SPACED SQ DQ CONT MULTI MIXED ESC EMPTY OVER LATER; do "
	"eval \"printf '%s=<%s>\\n' $v \\\"\\$$v\\\"\"; done; exec \"$0\" --port 0";

struct out {
	const char *path;
	char text[8192];
};

static int printed(void *arg)
{
	struct out *o = arg;

	return read_file(o->path, o->text, sizeof(o->text)) >= 0 && strstr(o->text, "LATER=<") != NULL;
}

Test(envfile, systemd_syntax_and_e)
{
	char dir[64], env_path[128], out_path[128];
	struct out o = { .path = out_path };
	struct cr *cr;
	static const char *const want[] = {
		"PLAIN=<hello world>\n", "SPACED=<spaced>\n",
		"SQ=<single $HOME \"x\" \\n>\n", "DQ=<double \"q\" \\ $ \\a>\n",
		"CONT=<onetwo>\n", "MULTI=<line1\nline2>\n", "MIXED=<abc>\n",
		"ESC=<back slash#>\n", "EMPTY=<>\n", "OVER=<from -e>\n", "LATER=<yes>\n",
	};
	size_t i;

	tmpdir_new(dir, "cr-envfile");
	snprintf(env_path, sizeof(env_path), "%s/app.env", dir);
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	write_file(env_path, good_file);
	cr = cr_start(out_path, "-n", "1", "--env-file", env_path, "-e", "OVER=from -e",
		      "-e", "LATER=yes", "--", "/bin/sh", "-c", printer,
		      helper("blocking_server"), NULL);
	cr_assert(wait_until(printed, &o, 10000), "no output:\n%s\n%s", o.text, cr->log);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_assert(strstr(o.text, want[i]), "missing %s in:\n%s", want[i], o.text);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

/* Each bad file: exit status 2, one line on stderr, naming FILE:LINE. */
static void check_bad(const char *text, int line, const char *why)
{
	char dir[64], path[128], where[160];
	const char *argv[] = { cluster_run_path(), "--env-file", path, "--", "/bin/true", NULL };
	struct run r;

	tmpdir_new(dir, "cr-envfile");
	snprintf(path, sizeof(path), "%s/bad.env", dir);
	write_file(path, text);
	run_capture(&r, argv, 10000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2,
		  "status 0x%x, stderr: %s", r.status, r.err);
	snprintf(where, sizeof(where), "cluster-run: %s:%d: ", path, line);
	cr_assert(strstr(r.err, where), "want '%s' in: %s", where, r.err);
	cr_assert(strstr(r.err, why), "want '%s' in: %s", why, r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "one line only: %s", r.err);
}

Test(envfile, line_without_equals) { check_bad("A=1\n# fine\nJUST_A_WORD\nB=2\n", 3, "no '='"); }
Test(envfile, invalid_name) { check_bad("A=1\nB=2\n\n1ST=x\n", 4, "invalid variable name"); }
Test(envfile, name_with_dash) { check_bad("MY-VAR=x\n", 1, "invalid variable name"); }
/* The line where the value starts, however many lines the quote spans. */
Test(envfile, unterminated_quote) { check_bad("A=1\nB=\"open\nstill\nopen\n", 2, "unterminated"); }

Test(envfile, bad_e_value)
{
	const char *argv[] = { cluster_run_path(), "-e", "NOEQUALS", "--", "/bin/true", NULL };
	struct run r;

	run_capture(&r, argv, 10000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2, "status 0x%x", r.status);
	cr_assert(strstr(r.err, "NOEQUALS"), "%s", r.err);
	cr_assert_eq(count_of(r.err, "\n"), 1, "%s", r.err);
}

Test(envfile, missing_file)
{
	const char *argv[] = { cluster_run_path(), "--env-file", "/nonexistent/x.env", "--",
			       "/bin/true", NULL };
	struct run r;

	run_capture(&r, argv, 10000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2, "status 0x%x", r.status);
	cr_assert(strstr(r.err, "/nonexistent/x.env: No such file"), "%s", r.err);
}
