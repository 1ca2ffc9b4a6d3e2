/*
 * test_log_drops.c - log lines that cannot be written are counted, not
 * lost in silence.  The full disk is /dev/full (every write fails with
 * ENOSPC): DIR/worker-0.log is a symlink to it, which --log-dir opens
 * like any file, while worker 1 writes the same lines to a real file; or
 * cluster-run's stdout is /dev/full.  The count (status --json, the
 * metrics) matches the lines written, exactly, and stderr carries one
 * warning naming the file and the error, not one per line: more lines
 * dropped within the minute after it (a reload's) make no second one.
 */
#include "tmpdir.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(log_drops, .fini = tmpdir_fini, .timeout = 90);

struct drops {
	struct cr *cr;
	char dir[64];
	char sock[96];
	int mport;
	long want;              /* lines dropped should be this */
};

/* log_lines_dropped from status --json, or -1. */
static long status_dropped(struct drops *d)
{
	const char *argv[] = { cluster_ctl_path(), "-s", d->sock, "status", "--json", NULL };
	struct run r;
	const char *at;

	run_capture(&r, argv, 20000, NULL, NULL);
	if (r.status != 0 || !(at = strstr(r.out, "\"log_lines_dropped\":")))
		return -1;
	return atol(at + strlen("\"log_lines_dropped\":"));
}

/* The same from the metrics, or -1. */
static long metrics_dropped(struct drops *d)
{
	char buf[65536];
	const char *at;

	if (http_get("127.0.0.1", d->mport, buf, sizeof(buf), 5000) < 0 ||
	    !(at = strstr(buf, "\ncluster_run_log_lines_dropped_total ")))
		return -1;
	return atol(at + strlen("\ncluster_run_log_lines_dropped_total "));
}

/* Lines in worker 1's file: worker 0 wrote as many into /dev/full. */
static long lines_of_worker1(struct drops *d)
{
	char path[128], text[65536];

	snprintf(path, sizeof(path), "%s/worker-1.log", d->dir);
	if (read_file(path, text, sizeof(text)) < 0)
		return -1;
	return count_of(text, "\n");
}

static int dropped_as_many(void *arg)
{
	struct drops *d = arg;
	long lines = lines_of_worker1(d);

	return lines >= d->want && status_dropped(d) == lines;
}

static const char wrapper[] =
	"for i in 1 2 3 4 5; do echo \"line $i of $CLUSTER_WORKER_ID\"; done; exec \"$0\" --port 0";

Test(log_drops, full_disk_under_log_dir)
{
	static struct drops d;
	char link[128], mport[32];

	tmpdir_new(d.dir, "cr-drops");
	snprintf(d.sock, sizeof(d.sock), "%s/c.sock", d.dir);
	snprintf(link, sizeof(link), "%s/worker-0.log", d.dir);
	cr_assert_eq(symlink("/dev/full", link), 0);
	d.mport = free_port();
	snprintf(mport, sizeof(mport), "127.0.0.1:%d", d.mport);
	d.cr = cr_start(NULL, "-n", "2", "--log-dir", d.dir, "--control", d.sock,
			"--metrics", mport, "--", "/bin/sh", "-c", wrapper,
			helper("blocking_server"), NULL);
	cr_assert(cr_ready_port(d.cr, 0, 15000) > 0, "%s", d.cr->log);
	d.want = 6;             /* five lines, then "listening" */
	cr_assert(wait_until(dropped_as_many, &d, 15000), "dropped %ld, worker 1 wrote %ld\n%s",
		  status_dropped(&d), lines_of_worker1(&d), d.cr->log);
	cr_assert(cr_wait_line(d.cr, "worker-0.log: No space left on device", 10000), "%s",
		  d.cr->log);

	/* a reload: worker 0's successor writes as many again */
	kill(d.cr->pid, SIGHUP);
	cr_assert(cr_wait_line(d.cr, "reload complete", 30000), "%s", d.cr->log);
	d.want = 12;
	cr_assert(wait_until(dropped_as_many, &d, 15000), "dropped %ld, worker 1 wrote %ld\n%s",
		  status_dropped(&d), lines_of_worker1(&d), d.cr->log);
	cr_assert_eq(metrics_dropped(&d), status_dropped(&d));
	cr_assert_eq(count_of(d.cr->log, "log line"), 1, "one warning a minute at most:\n%s",
		     d.cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(d.cr, SIGTERM, 15000)), 0, "%s", d.cr->log);
}

static int dropped_at_least(void *arg)
{
	struct drops *d = arg;

	return status_dropped(d) >= d->want;
}

/* Workers' output through the master (--log-prefix) to a full stdout. */
Test(log_drops, full_stdout)
{
	static struct drops d;
	int port, i;
	char buf[4096];

	tmpdir_new(d.dir, "cr-drops");
	snprintf(d.sock, sizeof(d.sock), "%s/c.sock", d.dir);
	d.cr = cr_start("/dev/full", "-n", "1", "--log-prefix", "--control", d.sock, "--",
			helper("blocking_server"), "--port", "0", "--print-accepted", NULL);
	port = cr_ready_port(d.cr, 0, 15000);
	cr_assert(port > 0, "%s", d.cr->log);
	for (i = 0; i < 5; i++)         /* one "accepted" line each */
		cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0);
	d.want = 6;                     /* and "listening" */
	cr_assert(wait_until(dropped_at_least, &d, 15000), "dropped %ld\n%s", status_dropped(&d),
		  d.cr->log);
	cr_assert(cr_wait_line(d.cr, "(stdout: No space left on device)", 10000), "%s",
		  d.cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(d.cr, SIGTERM, 15000)), 0, "%s", d.cr->log);
}

/*
 * A reader that stopped reading: cluster-run's stdout is a FIFO the test
 * holds open and never reads.  A worker prints 2,000 lines of 100 bytes
 * through the master (--log-prefix), three times what the pipe holds.
 * Before, the master blocked in write() once the pipe was full and froze
 * with it: no "listening", no status, no reload.  Now the lines that do
 * not fit are dropped and counted, and the cluster goes on: it listens,
 * answers status and a request, reloads and stops.
 */
static const char flood[] =
	"i=0; while [ $i -lt 2000 ]; do "
	"echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
	"i=$((i+1)); done; exec \"$0\" --port 0";

Test(log_drops, stalled_stdout_reader)
{
	static struct drops d;
	char fifo[128], buf[4096];
	int rd, port;

	tmpdir_new(d.dir, "cr-drops");
	snprintf(d.sock, sizeof(d.sock), "%s/c.sock", d.dir);
	snprintf(fifo, sizeof(fifo), "%s/out.fifo", d.dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	rd = open(fifo, O_RDONLY | O_NONBLOCK);         /* held, never read */
	cr_assert(rd >= 0);
	d.cr = cr_start(fifo, "-n", "1", "--log-prefix", "--control", d.sock, "--",
			"/bin/sh", "-c", flood, helper("blocking_server"), NULL);
	port = cr_ready_port(d.cr, 0, 30000);
	cr_assert(port > 0, "%s", d.cr->log);
	d.want = 1000;          /* 2,000 lines, at most ~650 fit in 64 KiB */
	cr_assert(wait_until(dropped_at_least, &d, 30000), "dropped %ld\n%s", status_dropped(&d),
		  d.cr->log);
	cr_assert(http_get("127.0.0.1", port, buf, sizeof(buf), 5000) > 0);
	kill(d.cr->pid, SIGHUP);
	cr_assert(cr_wait_line(d.cr, "reload complete", 30000), "%s", d.cr->log);
	cr_assert_eq(WEXITSTATUS(cr_stop(d.cr, SIGTERM, 15000)), 0, "%s", d.cr->log);
	close(rd);
}
