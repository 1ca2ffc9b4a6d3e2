/*
 * test_status_page.c - the status page on the --metrics address: "/" for
 * a browser (and "/status" for anyone) is one self-contained HTML page (no
 * external asset), "/" for other clients still the metrics, "/status.json" is
 * status --json (read back by python3) with every worker but without the
 * program's arguments (a secret may be among them), a browser's
 * long request is answered whole (not reset), and in a real headless
 * browser the page's script fills in one row per worker with its pid
 * (skipped when no Chromium is installed: Debian chromium-headless-shell).
 */
#include "harness.h"
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(status_page, .fini = tmpdir_fini, .timeout = 90);

static int exit_code(const struct run *r)
{
	return r->status >= 0 && WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

/* extra: a program argument (NULL: none), and its value */
static struct cr *start_with(int mport, const char *n, const char *extra, const char *value,
			     struct cr_workers *w)
{
	char where[32];
	struct cr *cr;

	snprintf(where, sizeof(where), "127.0.0.1:%d", mport);
	cr = cr_start(NULL, "-n", n, "--control", "none", "--metrics", where, "--",
		      helper("blocking_server"), extra, value, NULL);
	cr_assert(cr_ready_port(cr, 0, 10000) > 0, "%s", cr->log);
	cr_assert(cr_wait_line(cr, "metrics on", 5000), "%s", cr->log);
	w->cr = cr;
	w->want = atoi(n);
	cr_assert(wait_until(cr_have_workers, w, 5000), "%s", cr->log);
	return cr;
}

static struct cr *start(int mport, const char *n, struct cr_workers *w)
{
	return start_with(mport, n, NULL, NULL, w);
}

/* GET path with extra header lines; the whole answer into buf. */
static int get(int port, const char *path, const char *extra, char *buf, size_t cap)
{
	char req[4096];

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n",
		 path, extra ? extra : "");
	return tcp_request("127.0.0.1", port, req, buf, cap, NULL, 5000);
}

static const char *body(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	return p ? p + 4 : "";
}

Test(status_page, page_is_html_and_self_contained)
{
	int mport = free_port();
	struct cr_workers w = { 0 };
	static char buf[65536];
	char len[32] = "";
	const char *cl;

	start(mport, "2", &w);
	cr_assert_gt(get(mport, "/", "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n", buf,
			 sizeof(buf)), 0, "%s", strerror(errno));
	cr_assert(!strncmp(buf, "HTTP/1.0 200 ", 13), "%.200s", buf);
	cr_assert(strstr(buf, "Content-Type: text/html"), "%.300s", buf);
	cr_assert((cl = strstr(buf, "Content-Length: ")) && sscanf(cl + 16, "%31[0-9]", len) == 1);
	cr_assert_eq((size_t)atol(len), strlen(body(buf)), "Content-Length %s", len);
	cr_assert(strstr(body(buf), "<table id=\"workers\""), "%s", body(buf));
	cr_assert(strstr(body(buf), "status.json"), "the page reads no JSON");
	/* self-contained: nothing fetched from elsewhere */
	cr_assert(!strstr(body(buf), "src=") && !strstr(body(buf), "<link") &&
		  !strstr(body(buf), "http://") && !strstr(body(buf), "https://"),
		  "an external asset in the page");
	/* /status is the page whatever the client accepts */
	cr_assert_gt(get(mport, "/status", NULL, buf, sizeof(buf)), 0);
	cr_assert(strstr(buf, "<table id=\"workers\""), "%.300s", buf);
	/* the metrics are still at /metrics, and at / for a client that is no
	 * browser (a scraper configured with "/" before the page existed) */
	cr_assert_gt(get(mport, "/metrics", NULL, buf, sizeof(buf)), 0);
	cr_assert(strstr(buf, "\ncluster_run_workers 2\n"), "%s", buf);
	cr_assert_gt(get(mport, "/", "Accept: text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n", buf,
			 sizeof(buf)), 0);
	cr_assert(strstr(buf, "\ncluster_run_workers 2\n"), "%.300s", buf);
}

/* A browser's request longer than the request buffer, its Accept header
 * before the cut: still the page. */
Test(status_page, long_browser_request_gets_the_page)
{
	int mport = free_port();
	struct cr_workers w = { 0 };
	static char buf[65536];
	char extra[2000];

	start(mport, "1", &w);
	memset(extra, 'a', sizeof(extra));
	snprintf(extra, 100, "Accept: text/html\r\nX-Pad: ");
	extra[strlen(extra)] = 'a';
	memcpy(extra + sizeof(extra) - 3, "\r\n", 3);
	cr_assert_gt(get(mport, "/", extra, buf, sizeof(buf)), 0, "%s", strerror(errno));
	cr_assert(strstr(buf, "<table id=\"workers\""), "%.300s", buf);
}

/* status.json, read by python3: "slot pid" per worker. */
Test(status_page, json_endpoint_has_every_worker)
{
	static const char script[] =
		"import json, sys\n"
		"d = json.loads(sys.argv[1])\n"
		"assert 'args' not in d, 'the command line is on the metrics port'\n"
		"assert d['program'].endswith('blocking_server'), d['program']\n"
		"for w in sorted(d['workers'], key=lambda w: w['slot']):\n"
		"    print(w['slot'], w['pid'], w['last_exit'])\n";
	int mport = free_port(), i;
	struct cr_workers w = { 0 };
	static char buf[65536];
	struct run py;

	/* an argument stands in for a secret: it must not show */
	start_with(mport, "3", "--late-bind", "0", &w);
	cr_assert_gt(get(mport, "/status.json", NULL, buf, sizeof(buf)), 0, "%s", strerror(errno));
	cr_assert(strstr(buf, "Content-Type: application/json"), "%.300s", buf);
	cr_assert(!strstr(buf, "late-bind"), "the arguments are on the metrics port: %s", buf);
	{
		const char *argv[] = { "/usr/bin/env", "python3", "-c", script, body(buf), NULL };

		run_capture(&py, argv, 10000, NULL, NULL);
	}
	cr_assert_eq(exit_code(&py), 0, "%s\n%s", py.err, buf);
	for (i = 0; i < 3; i++) {
		char line[64];

		snprintf(line, sizeof(line), "%d %d None\n", i, (int)w.slot_pid[i]);
		cr_assert(strstr(py.out, line), "no '%s' in\n%s", line, py.out);
	}
}

/* A request longer than the master's request buffer (a browser's user
 * agent and client hints): answered whole, not reset on close. */
Test(status_page, long_request_is_answered_whole)
{
	int mport = free_port(), i;
	struct cr_workers w = { 0 };
	static char buf[65536];
	char pad[1600];

	start(mport, "1", &w);
	memset(pad, 'a', sizeof(pad));
	memcpy(pad, "X-Pad: ", 7);
	memcpy(pad + sizeof(pad) - 3, "\r\n", 3);
	for (i = 0; i < 5; i++) {
		int n = get(mport, "/status.json", pad, buf, sizeof(buf));

		cr_assert_gt(n, 0, "try %d: %s", i, strerror(errno));
		cr_assert(strstr(buf, "\"workers\":["), "try %d: %s", i, buf);
		cr_assert_eq(buf[n - 1], '\n', "cut short: %s", buf);
	}
}

static const char *browser(void)
{
	static const char *const names[] = {
		"/usr/bin/chromium-headless-shell", "/usr/lib/chromium/chrome-headless-shell",
		"/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium",
		"/usr/bin/google-chrome",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (access(names[i], X_OK) == 0)
			return names[i];
	return NULL;
}

/* Chromium renders the page, runs its script for 3 s of virtual time and
 * prints the DOM: the rows the script made, one per worker. */
Test(status_page, browser_shows_a_row_per_worker)
{
	const char *chrome = browser();
	int mport, i;
	struct cr_workers w = { 0 };
	char url[64], dir[64], prof[128];
	struct run r;

	if (!chrome)
		cr_skip_test("no headless Chromium (Debian: chromium-headless-shell)");
	mport = free_port();
	start(mport, "3", &w);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", mport);
	snprintf(prof, sizeof(prof), "--user-data-dir=%s", tmpdir_new(dir, "chrome"));
	{
		/* --no-sandbox: tests run as root; --headless for a full chromium */
		const char *argv[] = { chrome, "--headless", "--no-sandbox", "--disable-gpu",
				       prof, "--dump-dom", "--virtual-time-budget=3000", url, NULL };

		run_capture(&r, argv, 60000, NULL, NULL);
	}
	cr_assert_eq(exit_code(&r), 0, "%s", r.err);
	cr_assert(strstr(r.out, "<table id=\"workers\">"), "%s", r.out);
	cr_assert_eq(count_of(r.out, "<tr class=\"ready\" data-pid="), 3, "%s", r.out);
	for (i = 0; i < 3; i++) {
		char cell[80];

		snprintf(cell, sizeof(cell), "data-pid=\"%d\"><td data-label=\"Slot\">%d</td>",
			 (int)w.slot_pid[i], i);
		cr_assert(strstr(r.out, cell), "no row for slot %d pid %d:\n%s", i,
			  (int)w.slot_pid[i], r.out);
	}
	cr_assert(strstr(r.out, "id=\"error\" style=\"display: none;\""), "the page saw an error:\n%s",
		  r.out);
}
