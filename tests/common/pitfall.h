/*
 * pitfall.h - what the shim pitfall suites (test_shim_*.c) share: running
 * tests/helpers/shim_pitfalls.c under cluster-run with a result file in a
 * fresh temporary directory, and waiting for its verdict lines.  The
 * helper writes "NAME: ok ..." or "NAME: bad: <why>" there (a watchdog
 * child writes the bad line when a step deadlocks), so a test waits on the
 * file, never on a stuck worker.  Header-only, static inline; suites use
 * TestSuite(..., .fini = tmpdir_fini).
 */
#ifndef TESTS_PITFALL_H
#define TESTS_PITFALL_H

#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

struct pitfall_wait {
	const char *path;
	const char *needle;
	int count;
	char text[8192];
};

static inline int pitfall_seen(void *arg)
{
	struct pitfall_wait *w = arg;

	read_file(w->path, w->text, sizeof(w->text));
	return strstr(w->text, ": bad") || count_of(w->text, w->needle) >= w->count;
}

/* Wait until the result file holds `count` lines with needle, or a bad
 * one; fail the test with the file and cluster-run's log otherwise.  The
 * file's text goes to out (8 KiB) when given. */
static inline void pitfall_expect(struct cr *cr, const char *path, const char *needle,
				  int count, int timeout_ms, char *out)
{
	struct pitfall_wait w = { .path = path, .needle = needle, .count = count };

	wait_until(pitfall_seen, &w, timeout_ms);
	cr_assert(!strstr(w.text, ": bad"), "%s\ncluster-run:\n%s", w.text, cr->log);
	cr_assert_geq(count_of(w.text, needle), count, "%d of %d \"%s\" in %d ms:\n%s\n"
		      "cluster-run:\n%s", count_of(w.text, needle), count, needle, timeout_ms,
		      w.text, cr->log);
	if (out)
		memcpy(out, w.text, sizeof(w.text));
}

/* A result file in a new temporary directory (path: 128 bytes). */
static inline void pitfall_result_path(char *path, const char *name)
{
	char dir[64];

	tmpdir_new(dir, name);
	snprintf(path, 128, "%s/result", dir);
}

/* n GETs, each answered; under a channel policy (rr) every one of the
 * nw slots must answer.  For checking a worker still serves. */
static inline void pitfall_all_serve(struct cr *cr, int port, int n, int nw, int each)
{
	char buf[8192];
	int seen[16] = { 0 }, i, w;

	for (i = 0; i < n; i++) {
		cr_assert_gt(http_get("127.0.0.1", port, buf, sizeof(buf), 10000), 0,
			     "request %d of %d failed\n%s", i + 1, n, cr->log);
		w = response_worker(buf);
		if (w >= 0 && w < 16)
			seen[w] = 1;
	}
	for (w = 0; each && w < nw; w++)
		cr_assert(seen[w], "worker %d served none of %d requests\n%s", w, n, cr->log);
}

#endif
