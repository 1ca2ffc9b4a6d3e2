/*
 * retire.h - see retire.c.
 */
#ifndef LAUNCHER_SUPERVISE_RETIRE_H
#define LAUNCHER_SUPERVISE_RETIRE_H

#include <stdint.h>
#include <sys/types.h>

struct cluster;
struct worker;

/* retire.c: take a worker out of service (drain, then sig; see there). */
void worker_retire(struct cluster *c, struct worker *w, int give_back, int sig);
void worker_stop(struct cluster *c, struct worker *w, int sig);
/* Every process of w closed its doorbell (shim_peer.c, through
 * c->hooks): a stopping w
 * still alive then exec'd itself instead of stopping, and is killed. */
void worker_doorbell_closed(struct cluster *c, struct worker *w);
/* An in-place upgrade (worker.c's restore): w's drain check and kill
 * timer again at their deadlines (loop ms; -1: none). */
void retire_rearm(struct cluster *c, struct worker *w, int64_t drain_due, int64_t kill_due);

#endif
