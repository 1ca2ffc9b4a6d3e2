/*
 * test_real_programs.c - unmodified real servers found on the machine, each
 * with 2-3 workers under both policies: many short connections, every one
 * answered, more than one worker serving.  A program that is not installed
 * is skipped with a message saying so.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(real_programs, .fini = harness_cleanup, .timeout = 90);

/* Distinct "[slot pid]" prefixes on log lines containing needle. */
static int slots_logging(const char *log, const char *needle)
{
	int seen[16] = { 0 }, n = 0;
	const char *p = log;

	while ((p = strstr(p, needle))) {
		const char *line = p;
		while (line > log && line[-1] != '\n')
			line--;
		if (line[0] == '[') {
			int slot = atoi(line + 1);
			if (slot >= 0 && slot < 16 && !seen[slot]++)
				n++;
		}
		p++;
	}
	return n;
}

static void load_all_answered(int port, long want, long *per)
{
	long ok, failed;
	struct load *l = load_start(port, 4);

	while (load_ok_so_far(l) < want)
		sleep_ms(10);
	load_stop(l, &ok, &failed, per);
	cr_assert_eq(failed, 0, "%ld of %ld requests failed", failed, ok + failed);
}

static void python_http_server(const char *policy)
{
	struct cr *cr;
	long per[16];
	int port;

	if (!have_program("python3"))
		cr_skip_test("python3 is not installed");
	cr = cr_start(NULL, "-n", "3", "-p", policy, "--log-prefix", "--",
		      "python3", "-m", "http.server", "--bind", "127.0.0.1", "0", NULL);
	port = cr_ready_port(cr, 0, 15000);
	cr_assert(port > 0, "%s", cr->log);
	load_all_answered(port, 300, per);
	cr_assert(cr_wait_line(cr, "\"GET / HTTP/1.0\" 200", 5000), "%s", cr->log);
	cr_assert_geq(slots_logging(cr->log, "\"GET / HTTP/1.0\" 200"), 2,
		      "only one worker served:\n%s", cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(real_programs, python_http_server_rr) { python_http_server("rr"); }
Test(real_programs, python_http_server_shared) { python_http_server("shared"); }

static const char node_script[] =
	"require('http').createServer((q, s) => {"
	" s.setHeader('X-Worker', process.env.CLUSTER_WORKER_ID); s.end('ok\\n');"
	"}).listen(0, '127.0.0.1')";

static void node_http(const char *policy)
{
	struct cr *cr;
	long per[16];
	int port, i, serving = 0;

	if (!have_program("node"))
		cr_skip_test("node is not installed");
	cr = cr_start(NULL, "-n", "2", "-p", policy, "--", "node", "-e", node_script, NULL);
	port = cr_ready_port(cr, 0, 20000);
	cr_assert(port > 0, "%s", cr->log);
	load_all_answered(port, 400, per);
	for (i = 0; i < 16; i++)
		serving += per[i] > 0;
	if (!strcmp(policy, "rr"))
		cr_assert_eq(serving, 2, "rr: both workers must serve");
	else
		cr_assert_geq(serving, 1);
	cr_assert_eq(WEXITSTATUS(cr_stop(cr, SIGTERM, 15000)), 0, "%s", cr->log);
}

Test(real_programs, node_http_rr) { node_http("rr"); }
Test(real_programs, node_http_shared) { node_http("shared"); }
