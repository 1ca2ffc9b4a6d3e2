/*
 * test_install.c - `meson install` into a temporary DESTDIR gives a
 * cluster-run that works from where it lands, without CLUSTER_RUN_SHIM:
 * it finds its shim relative to its own path (launcher/base/shim_path.c:
 * PREFIX/bin -> PREFIX/LIBDIR/cluster-run), so a relocated install works.
 * The manual pages and cluster-ctl are installed beside it.
 *
 * The build directory is the one CLUSTER_RUN lives in (BUILD/launcher/);
 * the install does not rebuild (meson test has just built everything).
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(install, .fini = tmpdir_fini, .timeout = 60);

static char found[4][512];
static const char *const wanted[4] = {
	"/bin/cluster-run", "/bin/cluster-ctl", "/man1/cluster-run.1", "/man1/cluster-ctl.1",
};
static char shim_found[512];

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

static int note(const char *path, const struct stat *st, int type, struct FTW *f)
{
	size_t i;

	(void)f;
	if (type != FTW_F || !S_ISREG(st->st_mode))
		return 0;
	for (i = 0; i < 4; i++)
		if (ends_with(path, wanted[i]))
			snprintf(found[i], sizeof(found[i]), "%s", path);
	if (ends_with(path, "/cluster-run/libcluster-shim.so"))
		snprintf(shim_found, sizeof(shim_found), "%s", path);
	return 0;
}

static void install_into(char *destdir, size_t cap)
{
	char exe[512], build[512], cmd[2048];
	int st;

	if (!have_program("meson"))
		cr_skip_test("meson is not on PATH");
	snprintf(exe, sizeof(exe), "%s", cluster_run_path());
	snprintf(build, sizeof(build), "%s", dirname(dirname(exe)));
	cr_assert(cap >= 64);
	tmpdir_new(destdir, "cr-install");
	snprintf(cmd, sizeof(cmd), "meson install -C '%s' --destdir '%s' --no-rebuild --quiet "
		 ">'%s/install.log' 2>&1", build, destdir, destdir);
	st = system(cmd);
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		char log[8192];
		char path[600];

		snprintf(path, sizeof(path), "%s/install.log", destdir);
		read_file(path, log, sizeof(log));
		cr_assert_fail("%s: status 0x%x\n%s", cmd, st, log);
	}
	memset(found, 0, sizeof(found));
	shim_found[0] = '\0';
	cr_assert(nftw(destdir, note, 16, FTW_PHYS) == 0);
}

Test(install, installed_cluster_run_finds_its_shim)
{
	char destdir[64], buf[4096], shim_line[600];
	struct cr *cr;
	size_t i;
	int port;

	install_into(destdir, sizeof(destdir));
	for (i = 0; i < 4; i++)
		cr_assert(found[i][0], "nothing installed ending in %s under %s", wanted[i],
			  destdir);
	cr_assert(shim_found[0], "no cluster-run/libcluster-shim.so installed under %s", destdir);

	/* The installed binary, with no hint where its shim is. */
	unsetenv("CLUSTER_RUN_SHIM");
	setenv("CLUSTER_RUN", found[0], 1);
	cr = cr_start(NULL, "-v", "-n", "1", "--control", "none", "--",
		      helper("blocking_server"), "--port", "0", NULL);
	port = cr_ready_port(cr, 0, 10000);
	cr_assert(port > 0, "the installed cluster-run did not announce a port:\n%s", cr->log);
	snprintf(shim_line, sizeof(shim_line), "shim %s", shim_found);
	cr_assert(strstr(cr->log, shim_line),
		  "the installed cluster-run should use the installed shim %s:\n%s", shim_found,
		  cr->log);
	cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0 && strstr(buf, " 200 "),
		  "%s", cr->log);
	cr_assert_eq(cr_stop(cr, SIGTERM, 15000), 0, "%s", cr->log);
}

Test(install, manual_pages_are_clean)
{
	char destdir[64], cmd[1200], out[4096];
	size_t i;
	FILE *p;

	if (!have_program("groff"))
		cr_skip_test("groff is not on PATH: cannot check the manual pages");
	install_into(destdir, sizeof(destdir));
	for (i = 2; i < 4; i++) {
		size_t n;
		int st;

		cr_assert(found[i][0], "no %s installed", wanted[i]);
		/* -ww: every warning; -z: no output, only the diagnostics */
		snprintf(cmd, sizeof(cmd), "groff -man -ww -z -Tutf8 '%s' 2>&1", found[i]);
		p = popen(cmd, "r");
		cr_assert(p);
		n = fread(out, 1, sizeof(out) - 1, p);
		out[n] = '\0';
		st = pclose(p);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0 && n == 0, "%s:\n%s", cmd, out);
	}
}
