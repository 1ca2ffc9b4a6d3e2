/*
 * test_logformat.c - --log-time puts an ISO-8601 UTC time with
 * milliseconds on every line, cluster-run's and its workers'; --log-format
 * json makes every line one JSON object (time, slot, pid, stream, message)
 * that parses (checked with python3's json module), with the slot and pid
 * of the worker that wrote it, the master's lines with slot null, and
 * bytes that need escaping escaped.
 */
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(logformat, .fini = tmpdir_fini, .timeout = 60);

struct out {
	const char *path;
	const char *needle;
	int want;
	char text[65536];
};

static int has(void *arg)
{
	struct out *o = arg;

	return read_file(o->path, o->text, sizeof(o->text)) >= 0 && count_of(o->text, o->needle) >= o->want;
}

/* Every line of text matches re. */
static void assert_each_line(const char *text, const char *re_text)
{
	char line[4096];
	regex_t re;
	const char *p = text;

	cr_assert_eq(regcomp(&re, re_text, REG_EXTENDED | REG_NOSUB), 0);
	while (*p) {
		const char *end = strchr(p, '\n');
		size_t len;

		cr_assert(end, "unterminated line: %s", p);
		len = (size_t)(end - p) < sizeof(line) - 1 ? (size_t)(end - p) : sizeof(line) - 1;
		memcpy(line, p, len);
		line[len] = '\0';
		cr_assert_eq(regexec(&re, line, 0, NULL, 0), 0, "line '%s' is not /%s/", line, re_text);
		p = end + 1;
	}
	regfree(&re);
}

#define TIME_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "

Test(logformat, log_time_on_every_line)
{
	char dir[64], out_path[128];
	struct out o = { .path = out_path, .needle = "listening 127.0.0.1", .want = 2 };
	struct cr *cr;

	tmpdir_new(dir, "cr-logformat");
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	cr = cr_start(out_path, "-n", "2", "--log-time", "--log-prefix", "--",
		      helper("blocking_server"), "--port", "0", NULL);
	cr_assert(cr_ready_port(cr, 0, 15000) > 0, "%s", cr->log);
	cr_assert(wait_until(has, &o, 10000), "%s", o.text);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	has(&o);
	assert_each_line(o.text, TIME_RE "\\[[01] [0-9]+\\] listening 127\\.0\\.0\\.1 [0-9]+$");
	assert_each_line(cr->log, TIME_RE "cluster-run: ");
}

/* python3 reads every line as JSON and prints "slot pid stream|message". */
static const char checker[] =
"import json, sys\n"
"for line in open(sys.argv[1], encoding='utf-8'):\n"
"    o = json.loads(line)\n"
"    assert set(o) == {'time', 'slot', 'pid', 'stream', 'message'}, o\n"
"    assert o['time'].endswith('Z') and len(o['time']) == 24, o\n"
"    print(o['slot'], o['pid'], o['stream'] + '|' + repr(o['message']))\n";

/* A worker writes a line that needs escaping, on stderr, then serves. */
static const char writer[] =
	"printf 'q\"uote\\tback\\\\slash \\001 bad\\377 caf\\303\\251 w%s\\n' \"$CLUSTER_WORKER_ID\" >&2; "
	"exec \"$0\" --port 0";

Test(logformat, json_lines_parse_and_name_the_worker)
{
	char dir[64], out_path[128], all_path[128], line[256];
	struct out o = { .path = out_path, .needle = "listening 127.0.0.1", .want = 2 };
	const char *argv[] = { "/usr/bin/env", "python3", "-c", checker, all_path, NULL };
	pid_t pids[4], by_slot[2] = { 0, 0 };
	struct run r;
	struct cr *cr;
	FILE *f;
	int i, n;

	if (!have_program("python3"))
		cr_skip_test("python3 is not installed: cannot check the JSON");
	tmpdir_new(dir, "cr-logformat");
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	snprintf(all_path, sizeof(all_path), "%s/all", dir);
	cr = cr_start(out_path, "-n", "2", "--log-format", "json", "--", "/bin/sh", "-c",
		      writer, helper("blocking_server"), NULL);
	cr_assert(cr_port(cr, 0, 15000) > 0, "%s", cr->log);
	cr_assert(cr_wait_line(cr, "2 workers listening", 15000), "%s", cr->log);
	cr_assert(cr_wait_line(cr, "w1\"}", 5000) && cr_wait_line(cr, "w0\"}", 5000), "%s", cr->log);
	cr_assert(wait_until(has, &o, 10000), "%s", o.text);
	n = cr_children(cr, pids, 4);
	cr_assert_eq(n, 2);
	for (i = 0; i < n; i++)
		by_slot[proc_worker_id(pids[i])] = pids[i];
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
	has(&o);
	f = fopen(all_path, "w");
	cr_assert(f);
	fputs(o.text, f);
	fputs(cr->log, f);
	fclose(f);
	run_capture(&r, argv, 20000, NULL, NULL);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "%s\n%s", r.err, o.text);
	for (i = 0; i < 2; i++) {
		snprintf(line, sizeof(line), "%d %d stdout|'listening 127.0.0.1", i, (int)by_slot[i]);
		cr_assert(strstr(r.out, line), "want %s in:\n%s", line, r.out);
		/* \001 escaped, the byte 0xff replaced, é kept */
		snprintf(line, sizeof(line), "%d %d stderr|'q\"uote\\tback\\\\slash \\x01 "
			 "bad\xef\xbf\xbd caf\xc3\xa9 w%d'", i, (int)by_slot[i], i);
		cr_assert(strstr(r.out, line), "want %s in:\n%s", line, r.out);
	}
	snprintf(line, sizeof(line), "None %d master|'2 workers listening'", (int)cr->pid);
	cr_assert(strstr(r.out, line), "want %s in:\n%s", line, r.out);
	/* the stop is in the JSON log: its start and its end */
	snprintf(line, sizeof(line), "None %d master|'stopping: 2 workers", (int)cr->pid);
	cr_assert(strstr(r.out, line), "want %s in:\n%s", line, r.out);
	snprintf(line, sizeof(line), "None %d master|'stopped, exit status 0'", (int)cr->pid);
	cr_assert(strstr(r.out, line), "want %s in:\n%s", line, r.out);
}
