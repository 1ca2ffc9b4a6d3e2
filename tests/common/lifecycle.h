/*
 * lifecycle.h - the one lifecycle routine the suites run a cluster
 * through under load (test_seccomp, test_steer, test_seccomp_lossless):
 * two HUPs (each replacing every worker), a TTIN and a TTOU while
 * connection-per-request clients keep asking, and the counts that say
 * whether a request was lost.  It starts no cluster-run and stops none:
 * the suite does, with the options it tests.
 */
#ifndef TESTS_LIFECYCLE_H
#define TESTS_LIFECYCLE_H

#include "harness.h"

struct lifecycle {
	long ok, failed;
	long per[16];           /* answers per worker (X-Worker) */
	long added_got;         /* answers from the slot TTIN added, between its
				 * listen() and the TTOU: among at least 300,
				 * then until it has one (at most 3000) */
};

/* cr serves 127.0.0.1:port with n workers, every one listening.  Under
 * `clients` clients: HUP, HUP (each until every worker is a new one), TTIN
 * (until n + 1 workers, all listening: cluster-ctl status), TTOU (until n
 * again), with 200 (300 after TTIN) more answers between steps.  A request
 * fails when it is refused, reset or not answered, or after 30 s
 * (lifecycle.c says why not 5).  A step
 * that does not complete in its time fails the test, with cr's log; the
 * counts land in *r, and cr keeps running.  The log is read to its end, so
 * the caller can look for lines in cr->log. */
void cr_lifecycle_under_load(struct cr *cr, int port, int n, int clients,
			     struct lifecycle *r);
/* Whether every slot of cr has a listening worker (cluster-ctl status
 * --json says "ready":true); for wait_until. */
int cr_all_listening(void *cr);

#endif
