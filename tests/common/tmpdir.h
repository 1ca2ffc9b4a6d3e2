/*
 * tmpdir.h - temporary directories a test makes (control sockets, scripts,
 * install trees), removed by the suite's .fini even when an assertion
 * ended the test early.  Header-only: a suite that wants it uses
 *
 *     TestSuite(name, .fini = tmpdir_fini, ...);
 *
 * and tmpdir_fini runs harness_cleanup first, so every cluster-run is gone
 * (and has removed its own sockets) before the directories go.
 */
#ifndef TESTS_TMPDIR_H
#define TESTS_TMPDIR_H

#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMPDIR_MAX 8

static char tmpdir_made[TMPDIR_MAX][64];
static int tmpdir_count;

/* mkdtemp("/tmp/PREFIX-XXXXXX") into buf (at least 64 bytes). */
static inline char *tmpdir_new(char *buf, const char *prefix)
{
	cr_assert(tmpdir_count < TMPDIR_MAX, "too many temporary directories");
	snprintf(buf, 64, "/tmp/%s-XXXXXX", prefix);
	cr_assert(mkdtemp(buf), "mkdtemp: %s", strerror(errno));
	snprintf(tmpdir_made[tmpdir_count++], 64, "%s", buf);
	return buf;
}

static inline int tmpdir_rm_entry(const char *path, const struct stat *st, int type,
				  struct FTW *f)
{
	(void)st;
	(void)f;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static inline void tmpdir_remove_all(void)
{
	while (tmpdir_count > 0)
		nftw(tmpdir_made[--tmpdir_count], tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void tmpdir_fini(void)
{
	harness_cleanup();
	tmpdir_remove_all();
}

#endif
