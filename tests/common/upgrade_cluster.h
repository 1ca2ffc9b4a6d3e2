/*
 * upgrade_cluster.h - a cluster under test for the upgrade suites
 * (test_upgrade.c, test_upgrade_protocol.c): cluster-run with a control
 * socket and metrics, read back through cluster-ctl status --json, and
 * the checks an upgrade's answer must pass.
 */
#ifndef TESTS_UPGRADE_CLUSTER_H
#define TESTS_UPGRADE_CLUSTER_H

#include "harness.h"

#include <sys/types.h>

/* A request fails when refused, reset or unanswered; 60 s only bounds
 * one stuck on a socket nobody accepts on (the machine has been seen to
 * stop for over 30 s: ka_client.c). */
#define REQUEST_MS 60000
#define CLIENTS 4

struct upc {
	struct cr *cr;
	char dir[64];
	char sock[96];
	char metrics[32];
	int port, mport, n;
};

struct upc_worker {
	int slot;
	pid_t pid;
	char state[16];
	unsigned generation;
	unsigned long long handed;
};

struct upc_upgrades {
	struct upc *c;
	long want;
};

/* Read cluster-run's stderr so far into cr->log (for a failure's message). */
void upc_read_log(struct upc *c);
/* cluster-run -n N -p POLICY [--via seccomp] [OPTS...] with a control
 * socket and a metrics address, serving PROGRAM: event_server (through the
 * shim), the Go server (through seccomp; skipped when go was not there to
 * build it, or the kernel lacks seccomp), or an absolute path (a script of
 * the test's).  extra: event_server's own options (or the path's words);
 * opts: more of cluster-run's own, NULL-terminated, or NULL. */
void upc_start_opts(struct upc *c, int n, const char *policy, const char *prog,
		    const char *extra, const char *const *opts);
void upc_start(struct upc *c, int n, const char *policy, const char *prog, const char *extra);
/* cluster-ctl status --json into r; it must answer. */
void upc_status(struct upc *c, struct run *r);
/* The workers of a status --json answer; how many (at most max). */
int upc_workers_of(const char *json, struct upc_worker *w, int max);
/* Each slot's pid, from status; and, when asked, the sum of what the
 * workers took (handed: by the master, or accepted by themselves as the
 * shim counts it).  The number of workers. */
int upc_slot_pids(struct upc *c, pid_t *pid, unsigned long long *taken);
/* Each slot still has the pid it had in before. */
void upc_same_pids(struct upc *c, const pid_t *before, const char *when);
/* For wait_until: status answers and counts want upgrades. */
int upc_upgrades_are(void *arg);
/* cluster-ctl upgrade [path]: it worked, and said so in one line. */
void upc_upgrade_ok(struct upc *c, const char *path);
/* What cluster-ctl upgrade answered is a failure: exit 1, one line on
 * stderr. */
void upc_refused_line(struct upc *c, struct run *r);
/* cluster-ctl upgrade [path] failed: exit 1, one line on stderr. */
void upc_upgrade_refused(struct upc *c, const char *path, struct run *r);
/* The metrics page has needle. */
void upc_metrics_have(struct upc *c, const char *needle);
/* SIGTERM; cluster-run must exit 0. */
void upc_stop(struct upc *c);

#endif
